"""Cache kinds other than per-token K/V, each checked by hand against its shapes.

Configs are the small variants of tests/data/golden_sweep.json (their parameter counts are held to
transformers there), so the layers priced here are the layers transformers builds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vram.architectures import spec_from_config
from vram.estimate import estimate, kv_cache_bytes_per_token
from vram.model import ModelSpec
from vram.options import build_workload
from vram.terms.kv import state_bytes_per_sequence

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())


def spec(key: str) -> ModelSpec:
    return spec_from_config(SWEEP["entries"][key]["config"], model_id=key)


def test_gated_deltanet_keeps_a_fixed_state_per_sequence() -> None:
    # qwen3_next@small: 6 layers, full attention every 3rd -> 2 full, 4 Gated DeltaNet layers.
    # DeltaNet: 4 key heads x 32, 8 value heads x 32, kernel 4. Conv channels 2*128 + 256 = 512,
    # conv state 512 x 4 = 2048 bf16 values; recurrent state 8 x 32 x 32 = 8192 fp32 values.
    s = spec("qwen3_next@small")
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=3)
    assert state_bytes_per_sequence(s, w) == 4 * (2048 * 2 + 8192 * 4)
    # Full layers: 2 KV heads x (32 + 32) x 2 bytes each, 2 layers.
    assert kv_cache_bytes_per_token(s, w) == 2 * 2 * 64 * 2
    e = estimate(s, w)
    assert e.breakdown.kv_cache_bytes == 3 * (1000 * 512 + 4 * (2048 * 2 + 8192 * 4))
    assert e.kv_state_bytes_per_sequence == 147_456


def test_mamba2_state_is_heads_by_head_dim_by_state() -> None:
    # nemotron_h@small "M-M*-E": 2 Mamba-2 layers (8 heads x 32, 2 groups, state 16, kernel 4), 1 attention.
    s = spec("nemotron_h@small")
    w = build_workload(dtype="bf16", seq_len=4096)
    conv = (8 * 32 + 2 * 2 * 16) * 4
    assert state_bytes_per_sequence(s, w) == 2 * (conv * 2 + 8 * 32 * 16 * 4)
    assert kv_cache_bytes_per_token(s, w) == 1 * 2 * (32 + 32) * 2


def test_mamba1_state_is_inner_by_state() -> None:
    # mamba defaults: hidden 768, inner 1536, state 16, kernel 4, 32 layers; no attention at all.
    s = spec("mamba")
    w = build_workload(dtype="bf16", seq_len=8192)
    assert state_bytes_per_sequence(s, w) == 32 * (1536 * 4 * 2 + 1536 * 16 * 4)
    assert kv_cache_bytes_per_token(s, w) == 0


def test_chunked_attention_holds_at_most_the_chunk() -> None:
    # llama4_text@interleaved: chunk 64; every 4th layer (no_rope_layer_interval 4) is a global NoPE layer.
    s = spec("llama4_text@interleaved")
    kinds = [(b.attention.kind, b.count) for b in s.decoder_blocks() if b.attention]
    chunked = sum(n for k, n in kinds if k == "chunked")
    full = sum(n for k, n in kinds if k == "full")
    assert (chunked, full) == (5, 1)
    w = build_workload(dtype="bf16", seq_len=1000)
    per_layer_token = 2 * (32 + 32) * 2
    assert estimate(s, w).breakdown.kv_cache_bytes == per_layer_token * (chunked * 64 + full * 1000)


def test_dsa_caches_the_indexer_key_beside_the_latent() -> None:
    # glm_moe_dsa@small: latent 64 + rope 16, indexer head_dim 32, 6 layers, bf16.
    s = spec("glm_moe_dsa@small")
    w = build_workload(dtype="bf16")
    assert kv_cache_bytes_per_token(s, w) == 6 * (64 + 16 + 32) * 2


def test_llama4_config_without_layer_types_reads_no_rope_layers() -> None:
    # Published Llama 4 configs predate layer_types: no_rope_layers (1 = RoPE, chunked) says the kinds.
    cfg = dict(SWEEP["entries"]["llama4_text@interleaved"]["config"])
    cfg.pop("layer_types")
    cfg["no_rope_layers"] = [1, 0, 1, 1, 0, 1]
    kinds = sorted((b.attention.kind, b.count) for b in spec_from_config(cfg, model_id="x").decoder_blocks()
                   if b.attention)
    assert sum(n for k, n in kinds if k == "full") == 2 and sum(n for k, n in kinds if k == "chunked") == 4


def test_deepseek_v4_compressed_layers_keep_a_window_compressed_entries_and_a_pending_window() -> None:
    # deepseek_v4@small: one K=V head of 64 (cached once, not K and V), window 32; layers: 2 sliding,
    # 2 HCA (rate 64: one 64-wide compressor key per 64 tokens), 2 CSA (rate 8: the compressor's
    # 64-wide key and the indexer's 24-wide key per 8 tokens). Pending per sequence: HCA 63 tokens of
    # kv and gate (2 x 63 x 64 = 8064); CSA 7 tokens of its two series, kv and gate (2 x 7 x 128), the
    # overlap slice (2 x 64), and the same for the indexer (2 x 7 x 48 + 2 x 24): 2640.
    s = spec("deepseek_v4@small")
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=2)
    sliding = 64 * 32
    hca = sliding + (1000 // 64) * 64 + 8064
    csa = sliding + (1000 // 8) * (64 + 24) + 2640
    e = estimate(s, w)
    assert e.breakdown.kv_cache_bytes == 2 * 2 * 2 * (sliding + hca + csa) == 230_464
    assert state_bytes_per_sequence(s, w) == 2 * 2 * (8064 + 2640)
    # Per token: the window part of all 6 layers, plus the compressed entries spread over their tokens.
    assert kv_cache_bytes_per_token(s, w) == 6 * 64 * 2 + (2 * 64 * 2) // 64 + (2 * 88 * 2) // 8
    by_kind = {(k.kind, k.compress_rate): k for k in e.kv_layers}
    assert by_kind[("sliding", None)].layers == 2 and by_kind[("sliding", None)].bytes_per_token == 128
    assert by_kind[("compressed", 8)].compressed_bytes == 88 * 2
    assert by_kind[("compressed", 64)].state_bytes_per_sequence == 8064 * 2


def test_mistral_large4_layers_reading_an_earlier_latent_keep_only_their_indexer_keys() -> None:
    # mistral_large4@shared_kv text: latent 64 + rope 16 (NoPE layers: 64 alone), indexer key 24.
    # kv_source_layers [0, 0, 2, 2, 2, 5], no_rope_layers [1, 0, 1, 1, 0, 1], indexer_types
    # [full, full, full, shared, full, shared]: layer 0 latent + key, 1 its key only, 2 latent + key,
    # 3 nothing, 4 its key only, 5 the latent alone.
    s = spec("mistral_large4@shared_kv")
    w = build_workload(dtype="bf16", seq_len=1000)
    per_token = (80 + 24) + 24 + (80 + 24) + 0 + 24 + 80
    assert kv_cache_bytes_per_token(s, w) == per_token * 2
    e = estimate(s, w)
    assert e.breakdown.kv_cache_bytes == per_token * 2 * 1000
    shared = sorted((k.bytes_per_token, k.layers) for k in e.kv_layers if k.kind == "shared")
    assert shared == [(0, 1), (48, 2)]
