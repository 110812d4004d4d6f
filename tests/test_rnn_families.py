"""Recurrent decoders (transformers 5.23): RWKV (v4) and xLSTM (no attention, a fixed state per
sequence) and RecurrentGemma (a state beside windowed attention)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from vram.architectures import spec_from_config
from vram.cli import app
from vram.estimate import estimate, kv_cache_bytes_per_token
from vram.options import build_workload
from vram.terms.kv import state_bytes_per_sequence

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())
CONFIG = SWEEP["entries"]["rwkv"]["config"]


def test_rwkv_count_by_hand() -> None:
    # hidden 4096 (attention_hidden_size the same), intermediate 16384, 32 blocks, vocab 50277, untied.
    h, a, ff, n, v = 4096, 4096, 16384, 32, 50277
    time_mix = 4 * h * a + 2 * a + 3 * h  # key, value, receptance, output; time_decay/first; 3 mixes
    channel_mix = 2 * h * ff + h * h + 2 * h  # key, value; receptance; 2 mixes
    block = time_mix + channel_mix + 2 * 2 * h  # ln1, ln2 (LayerNorm: weight and bias)
    total = n * block + 2 * h + 2 * v * h + 2 * h  # pre_ln on block 0; embeddings and head; ln_out
    assert spec_from_config(CONFIG, model_id="rwkv").parameters == total == SWEEP["entries"]["rwkv"]["count"]


def test_rwkv_keeps_five_vectors_per_layer_and_no_kv() -> None:
    # RwkvModel.forward: per layer the two token-shift vectors in the activations' dtype (bf16) and
    # the WKV numerator, denominator and maximum in float32, each hidden_size wide.
    s = spec_from_config(CONFIG, model_id="rwkv")
    w = build_workload(dtype="bf16", seq_len=4096, batch_size=3)
    per_seq = 32 * (2 * 4096 * 2 + 3 * 4096 * 4)
    assert state_bytes_per_sequence(s, w) == per_seq == 2 * 2**20
    assert kv_cache_bytes_per_token(s, w) == 0
    assert estimate(s, w).breakdown.kv_cache_bytes == 3 * per_seq


def test_defaults_fill_the_derived_widths() -> None:
    # attention_hidden_size and intermediate_size null: hidden_size and 4 x hidden_size (RwkvConfig).
    small = {"model_type": "rwkv", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100,
             "attention_hidden_size": None, "intermediate_size": None}
    h = 64
    block = 4 * h * h + 2 * h + 3 * h + 2 * h * 4 * h + h * h + 2 * h + 4 * h
    assert spec_from_config(small, model_id="x").parameters == 2 * block + 2 * h + 2 * 100 * h + 2 * h


def test_vllm_has_no_rwkv(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "vllm", "--gpu", "h100"])
    assert res.exit_code == 3  # vLLM's registry has no class for it (presets/engines.json state_model_types)
    assert res.stdout == ""
    assert "--engine vllm does not serve model_type 'rwkv'" in res.stderr


def test_recurrent_gemma_keeps_a_window_and_an_rg_lru_state() -> None:
    # 26 layers cycling recurrent, recurrent, attention: 18 RG-LRU layers and 8 local-attention layers.
    # RG-LRU (lru_width 2560, conv1d_width 4): 3 convolution inputs in bf16 and 2560 float32 values.
    # Attention: 10 KV heads x head_dim 256 (hidden 2560 / 10 heads), K and V in bf16, at most 2048 tokens.
    s = spec_from_config(SWEEP["entries"]["recurrent_gemma"]["config"], model_id="rg")
    assert s.parameters == SWEEP["entries"]["recurrent_gemma"]["count"]
    w = build_workload(dtype="bf16", seq_len=8192, batch_size=2)
    per_seq = 18 * (2560 * 3 * 2 + 2560 * 4)
    assert state_bytes_per_sequence(s, w) == per_seq
    assert kv_cache_bytes_per_token(s, w) == 8 * 10 * 256 * 2 * 2
    assert estimate(s, w).breakdown.kv_cache_bytes == 2 * (per_seq + 2048 * 8 * 10 * 256 * 2 * 2)


def test_sglang_has_no_recurrent_gemma(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["recurrent_gemma"]["config"]))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "sglang", "--gpu", "h100"])
    assert res.exit_code == 2
    assert "--engine sglang has no RecurrentGemma model" in res.stderr


def test_xlstm_keeps_a_matrix_memory_per_head() -> None:
    # hidden 4096, 8 heads: qk_dim 2048 -> 256 per head, v_dim 4096 -> 512 per head. Per layer and head
    # C is 256 x 512, n 256 and m 1 value; 32 blocks. Computed in float32 (inference_state_dtype) but
    # kept in xLSTMCache, allocated in the embeddings' dtype (bf16 here): 2 bytes a value.
    s = spec_from_config(SWEEP["entries"]["xlstm"]["config"], model_id="xlstm")
    assert s.parameters == SWEEP["entries"]["xlstm"]["count"]
    w = build_workload(dtype="bf16", seq_len=2048, batch_size=2)
    per_seq = 32 * 8 * (256 * 512 + 256 + 1) * 2
    assert state_bytes_per_sequence(s, w) == per_seq == 67_240_448
    assert kv_cache_bytes_per_token(s, w) == 0
    assert estimate(s, w).breakdown.kv_cache_bytes == 2 * per_seq


def test_xlstm_weight_modes_and_biases() -> None:
    # transformers 5.23 counts (xLSTMForCausalLM on the meta device): hidden 320, 3 blocks, 4 heads, vocab 100.
    base = {"model_type": "xlstm", "hidden_size": 320, "num_hidden_layers": 3, "vocab_size": 100, "num_heads": 4}
    assert spec_from_config({**base, "use_bias": True}, model_id="x").parameters == 3_897_240
    assert spec_from_config({**base, "weight_mode": "fused"}, model_id="x").parameters == 3_884_184
    odd = {**base, "qk_dim_factor": 0.3, "v_dim_factor": 0.7}
    assert spec_from_config(odd, model_id="x").parameters == 3_484_536


def test_llamacpp_refuses_rwkv_v4_and_shows_a_small_recurrent_state(tmp_path: Path) -> None:
    # convert_hf_to_gguf.py converts RWKV-6 and RWKV-7, not transformers' RWKV-4: no GGUF, exit 3
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "llama.cpp", "--format", "json"])
    assert res.exit_code == 3 and "RWKV-4" in res.stderr
    # llama-memory-recurrent: per Mamba layer r ((kernel - 1) x channels = 6,144 - 1,536) and s (inner x
    # state = 24,576) in f32, one cell per sequence: 32 layers x 29,184 x 4 bytes = 3,735,552 bytes
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["mamba"]["config"]))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "llama.cpp", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["engine"]["rs_buffer_bytes"] == 32 * (4608 + 24576) * 4 == 3_735_552
    text = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "llama.cpp"]).stdout
    assert "recurrent-state buffer" in text and "3,735,552 bytes" in " ".join(text.split())
