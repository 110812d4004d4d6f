"""2025-26 flagship presets: caches and per-layer counts checked by hand from their published configs.

The configs are tests/data/configs/*.json (their totals are held to transformers by
tests/test_architectures.py); here each figure is worked out from the config's fields.
"""

from __future__ import annotations

from tests.conftest import spec_of
from vram.estimate import kv_cache_bytes_per_token
from vram.options import build_workload
from vram.sources import resolve
from vram.terms.kv import state_bytes_per_sequence


def test_nemotron_3_nano_mamba_state_and_kv() -> None:
    # hybrid_override_pattern: 23 Mamba-2 (M), 23 MoE (E), 6 attention (*) layers. Attention: 2 KV heads
    # x head_dim 128, K and V in bf16. Mamba-2: 64 heads x 64 (inner 4096), 8 groups, state 128, kernel 4:
    # conv channels 4096 + 2 x 8 x 128 = 6144, x 4 = 24,576 bf16 values; SSM 64 x 64 x 128 = 524,288
    # values in float32 (mamba_ssm_cache_dtype).
    s = resolve("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16").spec
    w = build_workload(dtype="bf16", seq_len=1000)
    assert kv_cache_bytes_per_token(s, w) == 6 * 2 * 2 * 128 * 2
    assert state_bytes_per_sequence(s, w) == 23 * (24_576 * 2 + 524_288 * 4)


def test_nemotron_3_latent_experts_run_in_moe_latent_size() -> None:
    # Nemotron 3 Super: 512 experts, each up 1024 -> 2688 and down 2688 -> 1024 (moe_latent_size 1024, not
    # hidden 4096), the projections 4096 -> 1024 -> 4096 around them, a router 4096 x 512, one shared
    # relu2 MLP 4096 -> 5376 -> 4096 and the layer's norm.
    s = spec_of("nvidia__NVIDIA-Nemotron-3-Super-120B-A12B-FP8")
    per_layer = 512 * 2 * 1024 * 2688 + 2 * 4096 * 1024 + 4096 * 512 + 2 * 4096 * 5376 + 4096
    moe = [b for b in s.decoder_blocks() if b.params_per_layer == per_layer]
    assert [b.count for b in moe] == [40]


def test_qwen3_small_ties_its_embeddings_and_caches_all_layers() -> None:
    # Qwen3-0.6B: 28 layers x 8 KV heads x 128, K and V in bf16; lm_head is the embedding table.
    s = resolve("Qwen/Qwen3-0.6B").spec
    assert kv_cache_bytes_per_token(s, build_workload(dtype="bf16")) == 28 * 2 * 8 * 128 * 2
    assert "lm_head" not in s.params_by_component()


def test_llama_3_2_3b_and_phi_4_mini_kv_per_token() -> None:
    # Llama-3.2-3B: 28 layers x 8 KV heads x head_dim 128. Phi-4-mini: 32 layers x 8 KV heads x
    # 3072 / 24 = 128 (partial_rotary_factor changes the rotation, not the cached width).
    w = build_workload(dtype="bf16")
    assert kv_cache_bytes_per_token(resolve("meta-llama/Llama-3.2-3B-Instruct").spec, w) == 28 * 2 * 8 * 128 * 2
    assert kv_cache_bytes_per_token(resolve("microsoft/Phi-4-mini-instruct").spec, w) == 32 * 2 * 8 * 128 * 2


def test_olmoe_layer_has_full_width_qk_norms_and_64_experts() -> None:
    # OLMoE-1B-7B: q, k, v, o 2048 x 2048; q_norm and k_norm over the whole 2048 (not per head);
    # 64 gated experts 2048 -> 1024 -> 2048; a 2048 x 64 router; two RMSNorms.
    per_layer = 4 * 2048 * 2048 + 2 * 2048 + 64 * 3 * 2048 * 1024 + 2048 * 64 + 2 * 2048
    layers = [b for b in spec_of("allenai__OLMoE-1B-7B-0924").decoder_blocks() if b.name == "decoder_layer"]
    assert [(b.count, b.params_per_layer) for b in layers] == [(16, per_layer)]


def test_presets_md_lists_every_copied_config_with_its_count_and_source() -> None:
    # docs/presets.md's table of configs copied from public repositories: one row per such preset,
    # its parameter count and its stored format as the preset holds them, and the file its source names.
    from tests.test_docs import DOCS, tables
    from vram import presets

    table = next(t for t in tables((DOCS / "presets.md").read_text()) if t[0][0] == "preset")
    rows = {r[0].strip("`"): r for r in table[1:]}
    copied = {p.id: p for p in presets.all_models() if "copied verbatim" in p.source}
    assert set(rows) == set(copied)
    for model_id, (_, params, stored, source) in rows.items():
        preset = copied[model_id]
        assert int(params.replace(",", "")) == preset.parameters
        assert (stored == "none") == ("quantization_config" not in preset.config)
        path = source.split("`")[1].rsplit("/", 1)[-1]
        assert path in preset.source


def test_whisper_large_v3_caches_its_encoder_frames_once() -> None:
    # whisper-large-v3: 32 decoder layers of 1280 (20 heads x 64); self-attention K and V per decoded
    # token; cross-attention K and V of the encoder's 1,500 frames once per sequence, in bf16.
    from vram.terms.kv import kv_cache

    s = spec_of("openai__whisper-large-v3")
    w = build_workload(dtype="bf16", seq_len=448)
    assert kv_cache_bytes_per_token(s, w) == 32 * 2 * 1280 * 2
    terms = {t.name: t.bytes for t in kv_cache(s, w)[1]}
    assert terms["cross_attention (cross)"] == 32 * 2 * 1500 * 1280 * 2


def test_smollm3_nope_layers_still_cache_and_exaone4_small_is_all_global() -> None:
    # SmolLM3-3B: every 4th layer skips RoPE (no_rope_layers) but all 36 cache K and V: 4 KV heads x 128.
    # EXAONE-4.0-1.2B: layer_types all full_attention (sliding_window null), 30 layers x 8 KV heads x 64.
    w = build_workload(dtype="bf16")
    assert kv_cache_bytes_per_token(resolve("HuggingFaceTB/SmolLM3-3B").spec, w) == 36 * 2 * 4 * 128 * 2
    assert kv_cache_bytes_per_token(spec_of("his0si__EXAONE-4.0-1.2B-W4A16"), w) == 30 * 2 * 8 * 64 * 2


def test_hunyuan_first_config_is_read_by_its_class_with_per_layer_lists() -> None:
    # Hunyuan-A13B as first published: model_type "hunyuan" (no transformers type), class
    # HunYuanMoEV1ForCausalLM; moe_topk and num_shared_expert are per-layer lists of one value.
    s = spec_of("tencent__Hunyuan-A13B-Instruct")
    assert any("counted as 'hunyuan_v1_moe'" in n for n in s.notes)
    # 64 experts 4096 -> 3072 (gated), 8 per token, one shared MLP of 3072, per layer.
    experts = 64 * 3 * 4096 * 3072
    moe = [b for b in s.decoder_blocks() if b.name == "decoder_layer"]
    assert [b.count for b in moe] == [32]
    assert moe[0].params_per_layer - moe[0].active_params_per_layer == experts - 8 * 3 * 4096 * 3072


def test_a_per_layer_list_with_different_values_is_refused_by_name() -> None:
    import json

    import pytest

    from tests.conftest import CONFIGS
    from vram.architectures import spec_from_config
    from vram.errors import VramError

    cfg = json.loads((CONFIGS / "tencent__Hunyuan-A13B-Instruct.json").read_text())
    cfg["moe_topk"] = [8] * 31 + [4]
    with pytest.raises(VramError, match="moe_topk"):
        spec_from_config(cfg, model_id="x")


def test_mamba_2_8b_keeps_a_fixed_state_and_no_kv() -> None:
    # mamba-2.8b-hf: 64 Mamba layers, inner 5120 (intermediate_size), kernel 4, state 16: conv 5120 x 4
    # values in bf16 and SSM 5120 x 16 values in fp32 per layer (docs/math.md); no attention, no KV per token.
    s = resolve("state-spaces/mamba-2.8b-hf").spec
    w = build_workload(dtype="bf16", seq_len=1000)
    assert kv_cache_bytes_per_token(s, w) == 0
    assert state_bytes_per_sequence(s, w) == 64 * (5120 * 4 * 2 + 5120 * 16 * 4)
