"""LFM3 (and LFM3-VL), MiniMax-M3 (and its VL composite), Gemma 4 Unified, Inkling, ZAYA: caches and
config forms.

The configs are entries of tests/data/golden_sweep.json, whose parameter counts are held to transformers
5.23 by tests/test_golden_sweep.py; the bytes here are worked out by hand from their shapes.
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


def test_lfm3_convolutions_keep_a_window_and_attention_layers_cache_per_token() -> None:
    # lfm3@biases: 7 layers by Lfm3Config's rule: conv, conv, full, conv, sliding, conv, full.
    # Conv state: width 256 x conv_L_cache 7 per conv layer (4 layers), bf16.
    # Attention: 2 KV heads x (32 + 32) per token and layer, bf16; the sliding layer holds 256 tokens.
    s = spec("lfm3@biases")
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=2)
    assert state_bytes_per_sequence(s, w) == 4 * 256 * 7 * 2
    per_layer_token = 2 * (32 + 32) * 2
    assert kv_cache_bytes_per_token(s, w) == 3 * per_layer_token
    e = estimate(s, w)
    assert e.breakdown.kv_cache_bytes == 2 * (per_layer_token * (2 * 1000 + 256) + 4 * 256 * 7 * 2)


def test_minimax_m3_sparse_layers_cache_the_indexer_key() -> None:
    # minimax_m3_vl_text@sparse_dense: 4 layers of 2 KV heads x (32 + 32); layers 1 and 3 are
    # minimax_m3_sparse, whose lightning indexer caches one key of index_head_dim 64 per token.
    s = spec("minimax_m3_vl_text@sparse_dense")
    w = build_workload(dtype="bf16")
    assert kv_cache_bytes_per_token(s, w) == (4 * 2 * 64 + 2 * 64) * 2
    assert state_bytes_per_sequence(s, w) == 0


def test_minimax_m3_reads_its_legacy_sparse_and_moe_fields() -> None:
    # MiniMaxM3VLTextConfig.__post_init__ turns sparse_attention_config (sparse_attention_freq and the
    # sparse_* index sizes) and moe_layer_freq into layer_types, index_* and mlp_layer_types. Counted by
    # transformers 5.23 (meta device) from this very config: 4,180,608 parameters.
    cfg = {"model_type": "minimax_m3_vl_text", "hidden_size": 256, "intermediate_size": 128,
           "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
           "vocab_size": 1000, "num_local_experts": 8, "num_experts_per_tok": 2, "dense_intermediate_size": 512,
           "shared_intermediate_size": 192, "tie_word_embeddings": True, "moe_layer_freq": [0, 1, 1, 1],
           "sparse_attention_config": {"sparse_attention_freq": [0, 1, 1, 0], "sparse_num_index_heads": 3,
                                       "sparse_index_dim": 32}}
    s = spec_from_config(cfg, model_id="x")
    assert s.parameters == 4_180_608
    assert kv_cache_bytes_per_token(s, build_workload(dtype="bf16")) == (4 * 2 * 64 + 2 * 32) * 2


def test_lfm3_vl_image_tokens_at_native_resolution() -> None:
    # LFM3-VL's tower runs over 16-px patches of the image at its own size, 2 x 2 merged per token:
    # a 448 x 448 image is 28 x 28 = 784 patches, 196 tokens.
    s = spec("lfm3_vl")
    assert s.vision is not None
    assert s.vision.image_tokens(448, 448) == (196, 784)
    assert any("native resolution" in note for note in s.notes)


def test_gemma4_unified_without_sub_configs_is_its_text_model() -> None:
    s = spec("gemma4_unified")
    assert s.parameters == spec("gemma4_unified_text").parameters
    assert s.vision is None
    with_towers = spec("gemma4_unified@vision_audio")
    assert with_towers.vision is not None and with_towers.vision.llm_tokens_per_image == 280


def test_inkling_caches_kv_per_token_and_four_convolution_windows_per_sequence() -> None:
    # inkling_text@small: 6 layers, hidden 256, kernel 3. local_layer_ids [0, 2, 3] are hybrid_sliding
    # (4 KV heads x 16, window 64); layers 1, 4, 5 are hybrid (2 KV heads x 32).
    # Convolutions per layer: k_sconv and v_sconv over kv x head_dim each, attn_sconv and mlp_sconv over 256:
    # sliding layers (2 x 64 + 2 x 256) x 3, full layers (2 x 64 + 2 x 256) x 3 -> 1,920 values each, bf16.
    s = spec("inkling_text@small")
    w = build_workload(dtype="bf16", seq_len=1000, batch_size=1)
    assert state_bytes_per_sequence(s, w) == 6 * 1920 * 2
    sliding, full = 4 * (16 + 16) * 2, 2 * (32 + 32) * 2
    assert kv_cache_bytes_per_token(s, w) == 3 * sliding + 3 * full
    assert estimate(s, w).breakdown.kv_cache_bytes == 3 * sliding * 64 + 3 * full * 1000 + 6 * 1920 * 2
    assert s.tied_embeddings is False


def test_zaya_caches_kv_per_token_and_the_cca_states_per_sequence() -> None:
    # zaya@sliding_biases: 4 layers of 8 heads and 2 KV heads x 32; q/k channels (8 + 2) x 32 = 320.
    # Per sequence: the q/k convolution window, (3 - 1) + (4 - 1) = 5 positions x 320, and the last delayed
    # value projection, 2 x 32 / 2 = 32 values, both bf16. Per token: 2 x (32 + 32) bf16 values a layer;
    # the two hybrid_sliding layers hold at most 32 tokens.
    s = spec("zaya@sliding_biases")
    w = build_workload(dtype="bf16", seq_len=1000)
    assert state_bytes_per_sequence(s, w) == 4 * (5 * 320 + 32) * 2
    per_layer_token = 2 * 64 * 2
    assert kv_cache_bytes_per_token(s, w) == 4 * per_layer_token
    assert estimate(s, w).breakdown.kv_cache_bytes == per_layer_token * (2 * 32 + 2 * 1000) + 4 * (5 * 320 + 32) * 2


def test_bert_lms_cache_kv_only_when_the_config_makes_them_decoders() -> None:
    # bert-generation@decoder_cross: is_decoder, 3 layers of 4 heads x 64 (hidden 256): K and V per token.
    w = build_workload(dtype="bf16", seq_len=512)
    decoder = spec("bert-generation@decoder_cross")
    assert decoder.text is not None and decoder.text.causal
    assert kv_cache_bytes_per_token(decoder, w) == 3 * 4 * (64 + 64) * 2
    # xlm@causal_langs: causal XLM, 3 layers of emb_dim 256.
    assert kv_cache_bytes_per_token(spec("xlm@causal_langs"), w) == 3 * 256 * 2 * 2
    # The defaults are encoders (is_decoder / causal false): no cache.
    for key in ("bert-generation", "xlm", "rembert", "roc_bert", "xmod"):
        assert estimate(spec(key), w).breakdown.kv_cache_bytes == 0, key


def test_hrm_caches_kv_for_every_invocation_of_its_two_stacks() -> None:
    # hrm_text@cycles: two stacks of 2 layers run H_cycles 3 x (L_cycles 2 + 1) = 9 times: 18 invocations,
    # each caching K and V of 4 heads x 48 per token (transformers allocates a cache slot per invocation).
    s = spec("hrm_text@cycles")
    w = build_workload(dtype="bf16")
    assert s.text is not None and s.text.num_layers == 18
    assert kv_cache_bytes_per_token(s, w) == 18 * 4 * (48 + 48) * 2
    # A legacy config (no num_layers_per_stack: num_hidden_layers is the stack depth) reads the same.
    legacy = {k: v for k, v in SWEEP["entries"]["hrm_text@cycles"]["config"].items() if k != "num_layers_per_stack"}
    legacy["num_hidden_layers"] = 2
    assert spec_from_config(legacy, model_id="x").parameters == s.parameters


def test_moshi_cache_holds_its_window_and_xlnet_caches_nothing() -> None:
    # moshi@gqa_tied: 3 layers of 2 KV heads x 48; the DynamicCache keeps sliding_window 64 tokens.
    w = build_workload(dtype="bf16", seq_len=1000)
    assert estimate(spec("moshi@gqa_tied"), w).breakdown.kv_cache_bytes == 3 * 2 * (48 + 48) * 2 * 64
    assert estimate(spec("xlnet"), w).breakdown.kv_cache_bytes == 0


def test_inkling2_caches_like_inkling_with_its_own_layer_order() -> None:
    # inkling2_text@small: hybrid (full: 2 KV heads x 32) at layers 0, 2, 5; hybrid_sliding (4 KV heads x 16,
    # window 64) at 1, 3, 4, 6. Every layer keeps four convolution windows: k and v (2 x 64 channels) and the
    # two post convolutions (2 x 256), kernel 3 -> 1,920 values, bf16.
    s = spec("inkling2_text@small")
    w = build_workload(dtype="bf16", seq_len=1000)
    assert state_bytes_per_sequence(s, w) == 7 * 1920 * 2
    full, sliding = 2 * (32 + 32) * 2, 4 * (16 + 16) * 2
    assert estimate(s, w).breakdown.kv_cache_bytes == 3 * full * 1000 + 4 * sliding * 64 + 7 * 1920 * 2


def test_inkling_vision_scales_follow_plan_out_scales() -> None:
    # Patch 40 (5, 2, 2, 2 from the largest prime factor), 2 frames, RGB: base, four spatial scales of
    # 128, 320, 1216 and 4800 channels (rounded up to 64), then the temporal one as transformers writes it.
    from vram.architectures.vlm_native import inkling_scales

    scales = inkling_scales(2, 40, 24, 3)
    assert len(scales) == 25 and scales[0] == (1, 1, 1, 3) and scales[-1] == (2, 40, 40, 40 * 40 * 3 * 2 * 64)
    assert sorted({sc[3] for sc in scales}) == [3, 128, 320, 1216, 4800, 614400]
