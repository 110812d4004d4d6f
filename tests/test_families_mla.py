"""MLA families with per-layer switches, on configs the golden sweep does not store: legacy field names
(DeepSeek-V4's compress_ratios, dots3's swa_* sizes) and the class's own per-layer rules.

Each count is what transformers 5.23 builds from the config (meta device, ``parameters()``), measured
with the class named in the test; the sweep's stored configs (tests/data/golden_sweep.json) hold the
rest.
"""

from __future__ import annotations

from typing import Any

import pytest

from vram.architectures import spec_from_config
from vram.errors import ConfigError
from vram.estimate import estimate
from vram.options import build_workload

_V4_LEGACY: dict[str, Any] = {
    "model_type": "deepseek_v4", "vocab_size": 1000, "hidden_size": 128, "moe_intermediate_size": 64,
    "num_hidden_layers": 5, "num_attention_heads": 4, "head_dim": 32, "q_lora_rank": 32, "num_experts_per_tok": 2,
    "n_routed_experts": 4, "sliding_window": 16, "compress_ratios": [0, 4, 128, 4, 0], "compress_rate_hca": 32,
    "num_hash_layers": 1, "hc_mult": 2, "o_groups": 2, "o_lora_rank": 16, "index_n_heads": 2, "index_head_dim": 16}
_ML4_RULES: dict[str, Any] = {
    "model_type": "mistral_large4", "multimodal_projector_bias": True, "vision_feature_layer": [-1, -2],
    "vision_config": {"model_type": "pixtral", "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                      "num_attention_heads": 4, "patch_size": 14, "image_size": 224},
    "text_config": {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 96,
                    "num_hidden_layers": 7, "num_attention_heads": 8, "num_key_value_heads": 8, "n_routed_experts": 4,
                    "num_experts_per_tok": 2, "kv_lora_rank": 64, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32,
                    "v_head_dim": 32, "index_head_dim": 24, "index_n_heads": 4, "no_rope_layer_interval": 3,
                    "index_topk_freq": 2, "index_skip_topk_offset": 1}}
_DOTS3_LEGACY: dict[str, Any] = {
    "model_type": "dots3_note_text", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
    "moe_intermediate_size": 96, "num_hidden_layers": 7, "num_attention_heads": 8, "num_key_value_heads": 8,
    "n_shared_experts": 2, "n_routed_experts": 8, "num_experts_per_tok": 2, "kv_lora_rank": 64, "q_lora_rank": 48,
    "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 40, "index_head_dim": 24, "index_n_heads": 4,
    "head_dim": 48, "sliding_window": 64, "attention_bias": True, "first_k_dense_replace": 2,
    "moe_shared_expert_intermediate_size": 80, "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4,
    "swa_q_lora_rank": 32, "swa_kv_lora_rank": 48, "swa_head_dim": 64, "swa_qk_nope_head_dim": 40,
    "swa_v_head_dim": 24, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}


_LONGCAT_SUBLAYERS: dict[str, Any] = {
    "model_type": "longcat_flash", "vocab_size": 1000, "hidden_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 4, "ffn_hidden_size": 256, "q_lora_rank": 32, "kv_lora_rank": 32, "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8, "v_head_dim": 16, "moe_topk": 2, "n_routed_experts": 4, "zero_expert_num": 0,
    "expert_ffn_hidden_size": 64, "tie_word_embeddings": True}


# MLA with the switches the classes' defaults leave off: attention_bias (q_a_proj and kv_a_proj_with_mqa
# take it too), explicit mlp_layer_types, two shared experts, no q LoRA, a tied table, Kimi-K2.5's composite.
_V32_BIAS: dict[str, Any] = {"model_type": "deepseek_v32", "vocab_size": 1000, "hidden_size": 256,
    "intermediate_size": 512, "moe_intermediate_size": 96, "num_hidden_layers": 5, "num_attention_heads": 8,
    "num_key_value_heads": 8, "n_routed_experts": 8, "n_shared_experts": 2, "num_experts_per_tok": 2,
    "q_lora_rank": 48, "kv_lora_rank": 64, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 40,
    "index_head_dim": 24, "index_n_heads": 4, "attention_bias": True, "n_group": 1, "topk_group": 1,
    "mlp_layer_types": ["dense", "sparse", "dense", "sparse", "sparse"]}
_GLM_DSA_TIED: dict[str, Any] = {"model_type": "glm_moe_dsa", "vocab_size": 1000, "hidden_size": 256,
    "intermediate_size": 512, "moe_intermediate_size": 96, "num_hidden_layers": 5, "num_attention_heads": 8,
    "num_key_value_heads": 8, "n_routed_experts": 8, "n_shared_experts": 2, "num_experts_per_tok": 2,
    "q_lora_rank": 48, "kv_lora_rank": 64, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 40,
    "index_head_dim": 24, "index_n_heads": 4, "attention_bias": True, "n_group": 1, "topk_group": 1,
    "first_k_dense_replace": 2, "tie_word_embeddings": True}
_V3_NO_Q_LORA: dict[str, Any] = {"model_type": "deepseek_v3", "vocab_size": 1000, "hidden_size": 256,
    "intermediate_size": 512, "moe_intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 8,
    "num_key_value_heads": 8, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2,
    "q_lora_rank": None, "kv_lora_rank": 64, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 40,
    "attention_bias": True, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1}
_KIMI_K25: dict[str, Any] = {"model_type": "kimi_k25", "tie_word_embeddings": False,
                             "text_config": {**_V3_NO_Q_LORA, "q_lora_rank": 48, "n_shared_experts": 2,
                                             "first_k_dense_replace": 2},
                             "vision_config": {"num_hidden_layers": 2}}


# dots3 note as published checkpoints write it: the text fields at the top level, no text_config.
_DOTS3_NOTE_TOP: dict[str, Any] = {"model_type": "dots3_note", "tie_word_embeddings": False, "vocab_size": 1000,
    "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 96, "num_hidden_layers": 5,
    "num_attention_heads": 8, "num_key_value_heads": 8, "n_routed_experts": 8, "num_experts_per_tok": 2,
    "kv_lora_rank": 64, "q_lora_rank": 48, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 40,
    "index_head_dim": 24, "index_n_heads": 4, "head_dim": 48, "use_sliding_window": False, "use_dsa": False,
    "moe_layer_freq": 2, "first_k_dense_replace": 0, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
    "vision_config": {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4,
        "moe_intermediate_size": 48, "num_local_experts": 8, "num_experts_per_tok": 2,
        "pyramid_num_routed": [-1, 4, -1, 8], "attention_bias": True, "mlp_bias": False, "adapter_in_dim": 64,
        "adapter_out_dim": 256, "adapter_merge_size": 2},
    "audio_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "downsample_hidden_size": 16, "feature_size": 32, "adapter_input_size": 64, "adapter_out_dim": 256,
        "attention_bias": False}}


@pytest.mark.parametrize(("config", "count"), [
    (_V4_LEGACY, 1_049_797),  # DeepseekV4ForCausalLM: legacy compress_ratios / compress_rate_hca, 2 streams
    (_ML4_RULES, 5_385_488),  # MistralLarge4ForConditionalGeneration: NoPE and indexer rules, two feature layers
    (_DOTS3_LEGACY, 5_721_808),  # Dots3NoteForCausalLM: swa_* sizes of the sliding layers, no per_layer_config
    (_LONGCAT_SUBLAYERS, 818_560),  # LongcatFlashForCausalLM: num_hidden_layers counts sublayers, tied
    (_V32_BIAS, 4_430_752),  # DeepseekV32ForCausalLM
    (_GLM_DSA_TIED, 4_174_752),  # GlmMoeDsaForCausalLM
    (_V3_NO_Q_LORA, 3_856_192),  # DeepseekV3ForCausalLM
    (_KIMI_K25, 61_760_224),  # Kimi_K25ForConditionalGeneration
    (_DOTS3_NOTE_TOP, 8_035_904),  # Dots3NoteForConditionalGeneration: text fields at the top level
])
def test_count_equals_transformers(config: dict[str, Any], count: int) -> None:
    assert spec_from_config(config, model_id="x").parameters == count


def test_dots3_sliding_layers_keep_a_window_of_their_latent() -> None:
    # Layers 0, 1 and 5 are indexed (latent 64 + 16 and the indexer key 24); 2, 3, 4 and 6 slide over
    # 64 tokens with the swa latent (48 + rope 64 - 40 = 24).
    s = spec_from_config(_DOTS3_LEGACY, model_id="x")
    w = build_workload(dtype="bf16", seq_len=1000)
    assert estimate(s, w).breakdown.kv_cache_bytes == 3 * (80 + 24) * 1000 * 2 + 4 * (48 + 24) * 64 * 2


def test_deepseek_v4_legacy_ratios_say_which_layers_compress() -> None:
    s = spec_from_config(_V4_LEGACY, model_id="x")
    rates = [(b.attention.compress_rate, b.count) for b in s.decoder_blocks() if b.attention]
    assert sorted(rates, key=str) == sorted([(None, 2), (4, 2), (32, 1)], key=str)


def test_longcat_caches_one_latent_per_sublayer() -> None:
    # 4 sublayers (2 decoder layers), latent 32 + rope 8 each, bf16.
    s = spec_from_config(_LONGCAT_SUBLAYERS, model_id="x")
    w = build_workload(dtype="bf16", seq_len=100)
    assert estimate(s, w).breakdown.kv_cache_bytes == 4 * (32 + 8) * 100 * 2


def test_mistral_large4_kv_source_must_be_an_earlier_owner() -> None:
    text = {**_ML4_RULES["text_config"], "model_type": "mistral_large4_text", "num_hidden_layers": 3}
    for sources in ([0, 2, 2], [0, 0, 1]):
        with pytest.raises(ConfigError, match="kv_source_layers"):
            spec_from_config({**text, "kv_source_layers": sources}, model_id="x")


def test_deepseek_v4_pro_sizes_from_the_flash_config() -> None:
    # DeepSeek-V4-Pro's config.json (as NVIDIA's NVFP4 copy in ai-dynamo/aiconfigurator keeps it) differs
    # from V4-Flash's in these fields; transformers 5.23 builds 1,572,997,179,491 parameters from it.
    from tests.conftest import load_config

    cfg = load_config("deepseek-ai__DeepSeek-V4-Flash")
    cfg.pop("quantization_config")
    cfg.update({"hidden_size": 7168, "num_attention_heads": 128, "q_lora_rank": 1536, "o_groups": 16,
                "moe_intermediate_size": 3072, "n_routed_experts": 384, "num_hidden_layers": 61, "index_topk": 1024,
                "routed_scaling_factor": 2.5, "compress_ratios": [128, 128] + [4, 128] * 29 + [4, 0]})
    s = spec_from_config(cfg, model_id="x")
    assert s.parameters == 1_572_997_179_491
    rates = sorted((b.attention.compress_rate, b.count) for b in s.decoder_blocks() if b.attention)
    assert rates == [(4, 30), (128, 31)]
