"""llama.cpp's memory beyond the plain KV cache: MLA's V-less latent cache, the recurrent state of
Mamba/RWKV layers and hybrids, and the KV bytes per cell (hand-checked against llama.cpp's sources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.gguf_writer import gguf_bytes, llama_gguf
from vram import presets
from vram.cli import app
from vram.engines.llamacpp_alloc import LlamaModel, LlamaSettings, allocate
from vram.gguf import parse_header
from vram.gguf_model import hparams_from_gguf

runner = CliRunner()
TYPES = presets.ggml_types()
F16, Q8 = TYPES[1], TYPES[8]


def engine(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def _hp(raw: bytes) -> Any:
    data = presets.llamacpp()
    return hparams_from_gguf(parse_header(raw, TYPES), data.swa, recurrent_rules=data.recurrent)


def _alloc(hp: Any, *, ctx: int = 4096, n_seq: int = 1, fa: bool = True, tk: Any = F16, tv: Any = F16) -> Any:
    s = LlamaSettings(n_ctx=ctx, n_batch=2048, n_ubatch=512, n_seq=n_seq, n_gpu_layers=hp.n_layer + 1,
                      flash_attn=fa, type_k=tk, type_v=tv)
    return allocate(LlamaModel(hp=hp, pieces=()), s, alignment=128)


def test_kv_bytes_per_token_is_filled() -> None:
    # Llama-3-8B shapes: 32 layers x (K 8 heads x 128 + V 8 x 128) x 2 bytes = 131,072 bytes per cell
    doc = engine("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--engine", "llama.cpp", "--dtype", "q4_k_m",
                 "-c", "512", "-fa", "off")
    assert doc["kv_cache"]["bytes_per_token"] == 131072
    assert doc["engine"]["kv_bytes_per_cell"] == 131072
    # q8_0 K and f16 V: 32 x (8 x 128 / 32 x 34 + 8 x 128 x 2) = 32 x (1088 + 2048)
    q8 = engine("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--engine", "llama.cpp", "--dtype", "q4_k_m",
                "-c", "512", "-ctk", "q8_0")
    assert q8["kv_cache"]["bytes_per_token"] == 32 * (1088 + 2048)


def _deepseek_meta(mla: bool) -> dict[str, Any]:
    meta = {"general.architecture": "deepseek2", "deepseek2.block_count": 2, "deepseek2.embedding_length": 256,
            "deepseek2.feed_forward_length": 512, "deepseek2.attention.head_count": 4,
            "deepseek2.context_length": 8192, "deepseek2.vocab_size": 1000}
    if mla:  # convert_hf_to_gguf.py DeepseekV2: one KV head of kv_lora_rank + rope, V kv_lora_rank
        meta |= {"deepseek2.attention.head_count_kv": 1, "deepseek2.attention.key_length": 512 + 64,
                 "deepseek2.attention.value_length": 512, "deepseek2.attention.key_length_mla": 192,
                 "deepseek2.attention.value_length_mla": 128}
    else:  # GGUFs written before MLA-in-cache: full heads of 192 / 128
        meta |= {"deepseek2.attention.head_count_kv": 4, "deepseek2.attention.key_length": 192,
                 "deepseek2.attention.value_length": 128}
    return meta


def test_mla_gguf_caches_the_latent_as_k_only() -> None:
    tensors = [("token_embd.weight", (256, 1000), "f16")]
    mla = _alloc(_hp(gguf_bytes(_deepseek_meta(True), tensors)), ctx=4096)
    # 2 layers x 576 values x 2 bytes x 4096 cells, no V cache
    assert mla.kv_bytes_per_cell == 2 * 576 * 2
    assert mla.devices[0].kv_buffer_bytes == 2 * 576 * 2 * 4096
    old = _alloc(_hp(gguf_bytes(_deepseek_meta(False), tensors)), ctx=4096)
    # the older layout caches every head: 2 x (4 x 192 + 4 x 128) x 2 bytes per cell
    assert old.kv_bytes_per_cell == 2 * (4 * 192 + 4 * 128) * 2


def test_v_rows_are_padded_to_the_widest_without_flash_attention() -> None:
    # per-layer KV heads 2 and 4: without -fa V is stored transposed at the widest layer's width
    hp = _hp(llama_gguf(n_layer=2, n_head=4, n_head_kv=2, extra={"llama.attention.head_count_kv": [2, 4]}))
    on, off = _alloc(hp, fa=True), _alloc(hp, fa=False)
    assert on.kv_bytes_per_cell == (2 * 64 + 2 * 64 + 4 * 64 + 4 * 64) * 2
    assert off.kv_bytes_per_cell == (2 * 64 + 4 * 64 + 4 * 64 + 4 * 64) * 2


def _mamba2(n_layer: int = 4, arch: str = "mamba2", extra: dict[str, Any] | None = None, data: bool = False
            ) -> bytes:
    meta = {"general.architecture": arch, f"{arch}.block_count": n_layer, f"{arch}.embedding_length": 768,
            f"{arch}.context_length": 1048576, f"{arch}.feed_forward_length": 0,
            f"{arch}.attention.head_count": 0, f"{arch}.ssm.conv_kernel": 4, f"{arch}.ssm.inner_size": 1536,
            f"{arch}.ssm.state_size": 128, f"{arch}.ssm.group_count": 1, f"{arch}.ssm.time_step_rank": 24,
            f"{arch}.vocab_size": 1000, **(extra or {})}
    return gguf_bytes(meta, [("token_embd.weight", (768, 1000), "f16")], data=data)


def test_mamba2_state_per_sequence() -> None:
    hp = _hp(_mamba2())
    assert hp.state is not None and not hp.state.hybrid
    # n_embd_r = (4 - 1) x (1536 + 2 x 1 x 128) = 5,376; n_embd_s = 128 x 1536 = 196,608
    assert (hp.state.n_embd_r, hp.state.n_embd_s) == (5376, 196608)
    one = _alloc(hp, n_seq=1)
    assert one.devices[0].kv_buffer_bytes == 0  # no attention layers, no KV cache
    assert one.devices[0].rs_buffer_bytes == 4 * (5376 * 4 + 196608 * 4)  # 4 layers, f32, one cell
    four = _alloc(hp, n_seq=4, ctx=16384)
    assert four.devices[0].rs_buffer_bytes == 4 * (5376 * 4 * 4 + 196608 * 4 * 4)


def test_rwkv_state_from_head_size_and_token_shift() -> None:
    meta = {"general.architecture": "rwkv6", "rwkv6.block_count": 2, "rwkv6.embedding_length": 2048,
            "rwkv6.context_length": 1048576, "rwkv6.feed_forward_length": 7168, "rwkv6.attention.head_count": 0,
            "rwkv6.wkv.head_size": 64, "rwkv6.vocab_size": 1000}
    hp = _hp(gguf_bytes(meta, [("token_embd.weight", (2048, 1000), "f16")]))
    assert hp.state is not None
    # token_shift_count defaults to 2: r = 2 x 2048; s = 2048 x 64
    assert (hp.state.n_embd_r, hp.state.n_embd_s) == (4096, 131072)
    assert _alloc(hp).devices[0].rs_buffer_bytes == 2 * (4096 * 4 + 131072 * 4)


def test_hybrid_attention_layers_from_head_count_kv() -> None:
    # a Granite-4-style hybrid: layers 1 and 3 attend (8 KV heads of 64), 0 and 2 are Mamba-2
    meta = {"general.architecture": "granitehybrid", "granitehybrid.block_count": 4,
            "granitehybrid.embedding_length": 512, "granitehybrid.context_length": 131072,
            "granitehybrid.feed_forward_length": 1024, "granitehybrid.attention.head_count": 8,
            "granitehybrid.attention.head_count_kv": [0, 8, 0, 8], "granitehybrid.ssm.conv_kernel": 4,
            "granitehybrid.ssm.inner_size": 1024, "granitehybrid.ssm.state_size": 128,
            "granitehybrid.ssm.group_count": 1, "granitehybrid.ssm.time_step_rank": 16,
            "granitehybrid.vocab_size": 1000}
    hp = _hp(gguf_bytes(meta, [("token_embd.weight", (512, 1000), "f16")]))
    assert hp.state is not None and hp.state.recurrent == (True, False, True, False)
    b = _alloc(hp, ctx=4096)
    assert b.kv_bytes_per_cell == 2 * (8 * 64 * 2 * 2)
    assert b.devices[0].kv_buffer_bytes == 2 * 2 * 8 * 64 * 2 * 4096
    r, s = 3 * (1024 + 2 * 128), 128 * 1024
    assert b.devices[0].rs_buffer_bytes == 2 * (r * 4 + s * 4)
    # -np 2 without a unified cache: the hybrid's attention cache keeps n_ctx cells per stream
    # (llama.cpp ec98e2002 create_memory passes cparams.n_ctx), the state two cells
    two = _alloc(hp, ctx=4096, n_seq=2)
    assert two.devices[0].kv_buffer_bytes == 2 * 2 * 8 * 64 * 2 * 4096 * 2
    assert two.devices[0].rs_buffer_bytes == 2 * (r * 4 * 2 + s * 4 * 2)


def test_nemotron_h_and_qwen3next_layer_rules() -> None:
    meta = {"general.architecture": "nemotron_h", "nemotron_h.block_count": 4, "nemotron_h.embedding_length": 512,
            "nemotron_h.context_length": 8192, "nemotron_h.feed_forward_length": [0, 0, 1024, 0],
            "nemotron_h.attention.head_count": 8, "nemotron_h.attention.head_count_kv": [0, 4, 0, 0],
            "nemotron_h.ssm.conv_kernel": 4, "nemotron_h.ssm.inner_size": 1024, "nemotron_h.ssm.state_size": 128,
            "nemotron_h.ssm.group_count": 8, "nemotron_h.ssm.time_step_rank": 16, "nemotron_h.vocab_size": 1000}
    hp = _hp(gguf_bytes(meta, [("token_embd.weight", (512, 1000), "f16")]))
    assert hp.state is not None
    # Mamba layers: no KV heads and no FFN (0, 3); attention: not recurrent and no FFN (1); layer 2 is an MLP
    assert hp.state.recurrent == (True, False, False, True)
    assert hp.state.kv_layers == (False, True, False, False)
    q = _hp(_mamba2(n_layer=8, arch="qwen3next", extra={"qwen3next.attention.head_count": 16,
                                                        "qwen3next.attention.head_count_kv": 2,
                                                        "qwen3next.attention.key_length": 256,
                                                        "qwen3next.attention.value_length": 256}))
    assert q.state is not None and q.state.recurrent == (True, True, True, False) * 2
    b = _alloc(q, ctx=4096)
    assert b.kv_bytes_per_cell == 2 * (2 * 256 * 2 * 2)  # layers 3 and 7


def test_mamba_gguf_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(_mamba2(data=True))
    doc = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "-c", "4096")
    e = doc["engine"]
    assert e["rs_buffer_bytes"] == 4 * (5376 * 4 + 196608 * 4) and e["kv_buffer_bytes"] == 0
    assert e["devices"][0]["rs_buffer_bytes"] == e["rs_buffer_bytes"]
    assert doc["breakdown"]["kv_cache_bytes"] == e["rs_buffer_bytes"]


def test_hybrid_config_without_gguf_uses_the_state_cache(tmp_path: Path) -> None:
    # qwen3_next@small (golden sweep): 4 Gated DeltaNet layers, conv 512 channels x kernel 4, recurrent
    # 8 x 32 x 32; 2 attention layers of 2 KV heads x 32. llama.cpp keeps kernel - 1 inputs per channel:
    # n_embd_r = 512 x 3 = 1,536, n_embd_s = 8,192, f32, one sequence: 4 x (6,144 + 32,768) bytes.
    sweep = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]
    (tmp_path / "config.json").write_text(json.dumps(sweep["qwen3_next@small"]["config"]))
    e = engine("estimate", str(tmp_path), "--engine", "llama.cpp", "--dtype", "q8_0", "-c", "1024")["engine"]
    assert e["rs_buffer_bytes"] == 4 * (1536 * 4 + 8192 * 4)
    assert e["kv_bytes_per_cell"] == 2 * (2 * 32 * 2 * 2)
    assert e["kv_buffer_bytes"] == 2 * 2 * (2 * 32 * 2 * 1024)  # the hybrid's cache: n_ctx cells


def _json(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


@pytest.mark.parametrize("engine_name", ["llama.cpp", "ollama"])
def test_a_checkpoint_stored_in_a_format_gguf_lacks_is_counted_dequantized(engine_name: str) -> None:
    # --dtype fp8 is refused for llama.cpp (GGUF has no FP8 type), so --dtype auto on an FP8 checkpoint must not
    # price FP8 either: convert_hf_to_gguf.py dequantizes it; the unquantized twin gives the same weights.
    fp8 = _json("estimate", "Qwen/Qwen3-32B-FP8", "--engine", engine_name)
    plain = _json("estimate", "Qwen/Qwen3-32B", "--engine", engine_name)
    assert fp8["workload"]["dtype"] == "bf16" and fp8["workload"]["stored_format"] is None
    assert fp8["breakdown"]["weights_bytes"] == plain["breakdown"]["weights_bytes"]
    assert any("convert_hf_to_gguf.py dequantizes" in n for n in fp8["notes"])
    assert not any(n.startswith("pre-quantized (") for n in fp8["notes"])
    # MXFP4 is a ggml type: gpt-oss keeps its experts as stored
    oss = _json("estimate", "openai/gpt-oss-20b", "--engine", engine_name)
    assert oss["workload"]["dtype"] == "stored" and oss["weights"]["bits_per_parameter"] < 6
