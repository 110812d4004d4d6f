"""Zamba (transformers 5.23 modeling_zamba): Mamba layers and hybrid layers that call one shared
transformer block; the block's weights count once when tied, each hybrid layer caches its own K/V."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vram.architectures import spec_from_config
from vram.cli import app
from vram.estimate import estimate, kv_cache_bytes_per_token
from vram.options import build_workload
from vram.terms.kv import state_bytes_per_sequence

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())
SMALL = {"model_type": "zamba", "hidden_size": 64, "num_hidden_layers": 8, "vocab_size": 100,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "mamba_d_state": 8,
         "n_mamba_heads": 2, "attention_head_dim": 16}


def test_zamba_default_caches() -> None:
    # 76 layers: 0, 1 Mamba, 2 hybrid, then hybrid where (i - 3) % 6 == 4: 13 hybrid layers in all.
    # Each hybrid layer: K and V of 16 heads x 464 (2 x 3712 / 16) in bf16 per token. Every layer keeps a
    # Mamba state: a conv window of 7424 channels x 4 in bf16 and 7424 x 16 float32 values.
    s = spec_from_config(SWEEP["entries"]["zamba"]["config"], model_id="zamba")
    assert s.parameters == SWEEP["entries"]["zamba"]["count"]
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=1)
    assert kv_cache_bytes_per_token(s, w) == 13 * 2 * 16 * 464 * 2
    per_seq = 76 * (7424 * 4 * 2 + 7424 * 16 * 4)
    assert state_bytes_per_sequence(s, w) == per_seq
    assert estimate(s, w).breakdown.kv_cache_bytes == 1000 * 13 * 2 * 16 * 464 * 2 + per_seq


def test_shared_block_counts_once_only_when_tied() -> None:
    # Counts: transformers' ZambaForCausalLM on the meta device. Two hybrid layers (2 and 7); the shared
    # block holds q (128 -> 64), k and v (128 -> 32 each), o (64 -> 64), a 96-wide gated MLP and norms
    # of 128 and 64: 39,104 weights, repeated once more when the weights are not tied.
    tied = spec_from_config(SMALL, model_id="x").parameters
    untied = spec_from_config({**SMALL, "tie_word_embeddings": False}, model_id="x").parameters
    shared = 64 * 128 + 2 * 32 * 128 + 64 * 64 + 3 * 96 * 64 + 128 + 64
    assert shared == 39_104
    assert untied == 336_320
    assert untied - tied == 100 * 64 + shared  # the lm_head and a second copy of the shared block


ZAMBA2 = {"model_type": "zamba2", "hidden_size": 64, "num_hidden_layers": 7, "vocab_size": 100,
          "layers_block_type": ["mamba", "hybrid", "mamba", "hybrid", "mamba", "hybrid", "mamba"],
          "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "mamba_d_state": 8,
          "n_mamba_heads": 4, "adapter_rank": 8}


def test_zamba2_shared_blocks_and_adapters() -> None:
    # transformers' counts (Zamba2ForCausalLM on the meta device) for the same configs.
    def count(**over: object) -> int:
        return spec_from_config({**ZAMBA2, **over}, model_id="x").parameters

    assert count() == 271_940
    assert count(tie_word_embeddings=False) == 409_796
    assert count(num_mem_blocks=2, use_shared_attention_adapter=True) == 349_956
    assert count(num_mem_blocks=2, use_shared_attention_adapter=True, tie_word_embeddings=False,
                 add_bias_linear=True) == 435_472
    # by hand: one shared block (q 128 -> 4 x 32, k and v 128 -> 2 x 32, o 128 -> 64; a fused 96-wide
    # MLP; norms of 128 and 64) and a gate_up adapter (64 -> 8 -> 192) per hybrid call. Untied, each of
    # the 3 hybrid layers holds the block with all 3 adapters, and lm_head is apart.
    block = 128 * 128 + 2 * 128 * 64 + 128 * 64 + 64 * 192 + 96 * 64 + 128 + 64
    adapter = 64 * 8 + 8 * 192
    assert count(tie_word_embeddings=False) - count() == 100 * 64 + 2 * block + 6 * adapter


def test_zamba2_caches() -> None:
    # Default: 54 layers, 9 hybrid; K/V of 32 heads x 160 (2 x 2560 / 32) per hybrid layer; every layer a
    # Mamba-2 state: conv channels 5120 + 2 x 64 = 5248 x 4 in bf16, 8 heads x 640 x 64 float32 values.
    s = spec_from_config(SWEEP["entries"]["zamba2"]["config"], model_id="zamba2")
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=1)
    assert kv_cache_bytes_per_token(s, w) == 9 * 2 * 32 * 160 * 2
    assert state_bytes_per_sequence(s, w) == 54 * (5248 * 4 * 2 + 8 * 640 * 64 * 4)


def test_vllm_does_not_serve_zamba_v1_by_its_registry(tmp_path: Path) -> None:
    # vLLM's registry has Zamba2ForCausalLM but no ZambaForCausalLM (presets/engines.json state_model_types)
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["zamba"]["config"]))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "vllm", "--gpu", "h100"])
    assert res.exit_code == 3 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not serve model_type 'zamba'" in lines[0] and "zamba2" in lines[0]
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["zamba2"]["config"]))
    assert CliRunner().invoke(app, ["estimate", str(tmp_path), "--engine", "vllm", "--gpu", "h100"]).exit_code == 0


@pytest.mark.parametrize("model", ["Qwen/Qwen3.5-27B", "Qwen/Qwen3.5-35B-A3B"])
def test_vllm_serves_qwen3_5(model: str) -> None:
    # The 2026 vLLM registry lists Qwen3_5ForConditionalGeneration / Qwen3_5MoeForConditionalGeneration.
    res = CliRunner().invoke(app, ["estimate", model, "--engine", "vllm", "--gpu", "h100", "-f", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["engine"]["name"] == "vllm"
