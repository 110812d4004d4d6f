"""Dev-only: the parameter count transformers builds for every model_type of its auto mappings.

Needs torch (CPU) and transformers, which are never runtime dependencies of vram:
    pip install torch transformers
    python scripts/golden_sweep.py                 # rewrites tests/data/golden_sweep.json
    python scripts/golden_sweep.py qwen3_next ...  # only these model types (merged into the file)
    python scripts/golden_sweep.py --misses        # rewrite tests/data/golden_sweep_misses.json (no torch)

For every model_type in transformers' causal-LM, image-text-to-text, seq2seq-LM and masked-LM
mappings, the config class is built with its own defaults (``AutoConfig.for_model``) and the
mapped model class is built on the meta device (no memory, no download). The count is
``sum(p.numel() for p in model.parameters())``: a tied weight is one tensor, so it counts once.
(accelerate's ``init_empty_weights`` is not used: under transformers 5.x it leaves lm_head untied.)

Where the class has MoE / MLA / hybrid switches that its defaults do not exercise, a small variant
(VARIANTS below: shrunk widths and depths, the switch set) is counted under "<model_type>@<name>".
The stored config is ``to_diff_dict()``, i.e. what ``save_pretrained`` writes to config.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "golden_sweep.json"

# A model_type in several mappings is built by the first: image-text-to-text before causal-LM, so that a
# composite config (qwen3_5, llama4: text_config + vision_config) gets the class that takes all of it;
# seq2seq before causal-LM, so that an encoder-decoder (bart, marian, pegasus) is built whole, not as its
# decoder alone; masked-LM before causal-LM, so that an encoder (bert, electra) gets its masked-LM head.
MAPPINGS = (
    ("image-text-to-text", "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES"),
    ("seq2seq-lm", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"),
    ("masked-lm", "MODEL_FOR_MASKED_LM_MAPPING_NAMES"),
    ("causal-lm", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
)
# Mappings that only choose the class of a model_type the mappings above already name (they add no
# model types): Whisper is in the causal-LM mapping as its decoder alone (WhisperForCausalLM), and in
# the speech-seq2seq one as the whole model that its checkpoints are.
PREFERRED = (("speech-seq2seq", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES"),)

# A small shape shared by the variants: it keeps the stored configs short and the builds fast.
SMALL: dict[str, Any] = {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 6,
                         "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 1024}
_MOE = {"moe_intermediate_size": 128, "num_experts_per_tok": 2}
# Inkling / Inkling 2 text models, small, with both kinds of layers (and dense layers for Inkling).
_INKLING: dict[str, Any] = {
    "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 6, "num_attention_heads": 8,
    "num_key_value_heads": 2, "head_dim": 32, "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4,
    "swa_head_dim": 16, "sliding_window_size": 64, "d_rel": 8, "rel_extent": 128, "vocab_size": 1000,
    "moe_intermediate_size": 96, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1,
    "local_layer_ids": [0, 2, 3], "mlp_layer_types": ["dense", "sparse", "dense", "sparse", "sparse", "sparse"],
    "conv_kernel_size": 3, "bos_token_id": None, "eos_token_id": None}
_INKLING2: dict[str, Any] = {
    "hidden_size": 256, "num_hidden_layers": 7, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
    "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4, "swa_head_dim": 16, "sliding_window_size": 64,
    "d_rel": 8, "rel_extent": 128, "vocab_size": 1000, "unpadded_vocab_size": 1000, "moe_intermediate_size": 96,
    "n_routed_experts": 8, "num_experts_per_tok": 2, "conv_kernel_size": 3, "eos_token_id": None,
    "n_layers_per_attn_res_block": 2,
    "layer_types": ["hybrid", "hybrid_sliding", "hybrid", "hybrid_sliding", "hybrid_sliding", "hybrid",
                    "hybrid_sliding"]}
# model_type -> {variant name: config overrides on top of the class defaults}
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "qwen2_moe": {"dense_layers": {**SMALL, **_MOE, "num_experts": 8, "shared_expert_intermediate_size": 384,
                                   "decoder_sparse_step": 2, "mlp_only_layers": [0], "layer_types": None}},
    "qwen3_moe": {"dense_layers": {**SMALL, **_MOE, "num_experts": 8, "decoder_sparse_step": 2,
                                   "mlp_only_layers": [1], "layer_types": None}},
    "qwen3_next": {"small": {**SMALL, **_MOE, "num_experts": 8, "shared_expert_intermediate_size": 384,
                             "mlp_only_layers": [0], "full_attention_interval": 3, "layer_types": None,
                             "linear_num_key_heads": 4, "linear_num_value_heads": 8, "linear_key_head_dim": 32,
                             "linear_value_head_dim": 32}},
    "deepseek_v2": {"no_q_lora": {**SMALL, **_MOE, "n_routed_experts": 8, "n_shared_experts": 1,
                                  "first_k_dense_replace": 2, "q_lora_rank": None, "kv_lora_rank": 64,
                                  "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32,
                                  "topk_group": 1, "n_group": 1}},
    "deepseek_v3": {"small": {**SMALL, **_MOE, "n_routed_experts": 8, "n_shared_experts": 2,
                              "first_k_dense_replace": 1, "q_lora_rank": 96, "kv_lora_rank": 64,
                              "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32,
                              "topk_group": 1, "n_group": 1}},
    "glm4_moe": {"small": {**SMALL, **_MOE, "n_routed_experts": 8, "n_shared_experts": 1,
                           "first_k_dense_replace": 2, "use_qk_norm": True, "topk_group": 1, "n_group": 1}},
    "llama4_text": {"interleaved": {**SMALL, "intermediate_size_mlp": 768, "num_local_experts": 4,
                                    "interleave_moe_layer_step": 2, "no_rope_layers": None, "layer_types": None,
                                    "moe_layers": None, "attention_chunk_size": 64}},
    "mixtral": {"small": {**SMALL, "num_local_experts": 4, "num_experts_per_tok": 2}},
    "jamba": {"small": {**SMALL, "num_experts": 4, "expert_layer_period": 2, "expert_layer_offset": 1,
                        "attn_layer_period": 3, "attn_layer_offset": 1, "mamba_d_state": 8,
                        "mamba_dt_rank": 16}},
    "granitemoehybrid": {"small": {**SMALL, "num_local_experts": 4, "num_experts_per_tok": 2,
                                   "shared_intermediate_size": 384, "mamba_n_heads": 8, "mamba_d_head": 64,
                                   "mamba_d_state": 16, "mamba_n_groups": 1,
                                   "layer_types": ["mamba", "attention", "mamba", "mamba", "attention", "mamba"]}},
    "nemotron_h": {"small": {**SMALL, "hybrid_override_pattern": "M-M*-E", "layers_block_type": None,
                             "num_hidden_layers": 6, "mamba_num_heads": 8, "mamba_head_dim": 32,
                             "ssm_state_size": 16, "n_groups": 2, "n_routed_experts": 4, "num_experts_per_tok": 2,
                             "moe_intermediate_size": 128, "moe_shared_expert_intermediate_size": 256}},
    "falcon_h1": {"small": {**SMALL, "mamba_d_ssm": 512, "mamba_n_heads": 8, "mamba_d_head": 64,
                            "mamba_d_state": 16, "mamba_n_groups": 1},
                  "norm_bias": {**SMALL, "mamba_d_ssm": None, "mamba_expand": 2, "mamba_n_heads": 8,
                                "mamba_d_head": "auto", "mamba_d_state": 16, "mamba_n_groups": 2,
                                "mamba_rms_norm": True,
                                "projectors_bias": True, "mamba_proj_bias": True, "attention_bias": True}},
    "mimo_v2_flash": {"small": {**SMALL, **_MOE, "n_routed_experts": 8, "num_hidden_layers": 7, "v_head_dim": 16,
                                "attention_bias": True, "sliding_window_size": 31, "layer_types": None,
                                "mlp_layer_types": None}},
    "gemma3n_text": {"small": {**SMALL, "num_hidden_layers": 7,
                               "intermediate_size": [512, 384, 512, 256, 512, 384, 512], "layer_types": None,
                               "num_kv_shared_layers": 2, "altup_num_inputs": 3,
                               "laurel_rank": 16, "hidden_size_per_layer_input": 24,
                               "vocab_size_per_layer_input": 512, "sliding_window": 64, "pad_token_id": None,
                               "eos_token_id": None, "bos_token_id": None}},
    "gemma4_text": {"moe_shared": {**SMALL, "num_hidden_layers": 8, "layer_types": None, "num_kv_shared_layers": 2,
                                   "use_double_wide_mlp": True, "attention_k_eq_v": True, "global_head_dim": 64,
                                   "num_global_key_value_heads": 1, "enable_moe_block": True, "num_experts": 4,
                                   "top_k_experts": 2, "moe_intermediate_size": 128, "hidden_size_per_layer_input": 0,
                                   "sliding_window": 64, "pad_token_id": None, "eos_token_id": None,
                                   "bos_token_id": None}},
    "lfm2": {"idxs": {**SMALL, "layer_types": None, "full_attn_idxs": [1, 4], "block_ff_dim": 768,
                      "block_ffn_dim_multiplier": 1.5, "block_multiple_of": 64, "conv_bias": True,
                      "tie_embedding": False}},
    "kimi_linear": {"nested": {**SMALL, **_MOE, "num_experts": 8, "num_shared_experts": 2, "layer_types": None,
                               "mlp_layer_types": None, "first_k_dense_replace": 2, "q_lora_rank": 96,
                               "kv_lora_rank": 64, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32,
                               "v_head_dim": 32, "attention_bias": True, "pad_token_id": None, "bos_token_id": None,
                               "eos_token_id": None,
                               "linear_attn_config": {"full_attn_layers": [3, 6], "kda_layers": [1, 2, 4, 5],
                                                      "head_dim": 32, "num_heads": 4,
                                                      "short_conv_kernel_size": 3}}},
    "glm_moe_dsa": {"small": {**SMALL, **_MOE, "n_routed_experts": 8, "n_shared_experts": 1,
                              "first_k_dense_replace": 1, "q_lora_rank": 96, "kv_lora_rank": 64,
                              "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 32,
                              "index_n_heads": 4, "index_head_dim": 32, "topk_group": 1, "n_group": 1}},
    # DeepSeek-V4: sliding, HCA and CSA layers, other compression rates, a hash-routed layer, 3 streams.
    "deepseek_v4": {"small": {**SMALL, "num_key_value_heads": 1, "head_dim": 64, "moe_intermediate_size": 96,
                              "num_experts_per_tok": 2, "n_routed_experts": 8, "n_shared_experts": 2,
                              "q_lora_rank": 48, "sliding_window": 32,
                              "layer_types": ["sliding_attention", "heavily_compressed_attention",
                                              "compressed_sparse_attention", "sliding_attention",
                                              "compressed_sparse_attention", "heavily_compressed_attention"],
                              "mlp_layer_types": ["hash_moe"] + ["moe"] * 5,
                              "compress_rates": {"compressed_sparse_attention": 8, "heavily_compressed_attention": 64},
                              "hc_mult": 3, "o_groups": 4, "o_lora_rank": 40, "index_n_heads": 4,
                              "index_head_dim": 24}},
    # Mistral Large 4: NoPE layers, layers reading an earlier layer's latent (with and without their own
    # indexer), layers without an indexer, attention biases, two shared experts; a small Pixtral.
    "mistral_large4": {"shared_kv": {
        "vision_config": {"model_type": "pixtral", "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "patch_size": 14, "image_size": 224},
        "text_config": {"model_type": "mistral_large4_text", **SMALL, "num_key_value_heads": 8,
                        "moe_intermediate_size": 96, "n_shared_experts": 2, "n_routed_experts": 8,
                        "num_experts_per_tok": 2, "kv_lora_rank": 64, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32,
                        "v_head_dim": 40, "index_head_dim": 24, "index_n_heads": 4, "first_k_dense_replace": 2,
                        "attention_bias": True, "no_rope_layers": [1, 0, 1, 1, 0, 1],
                        "kv_source_layers": [0, 0, 2, 2, 2, 5],
                        "indexer_types": ["full", "full", "full", "shared", "full", "shared"]}}},
    # dots3 note text without sliding layers or DSA: full_attention layers, experts every 2nd layer.
    "dots3_note_text": {"no_dsa": {
        **SMALL, "num_hidden_layers": 5, "num_key_value_heads": 8, "head_dim": 48, "moe_intermediate_size": 96,
        "n_shared_experts": 2, "n_routed_experts": 8, "num_experts_per_tok": 2, "kv_lora_rank": 64, "q_lora_rank": 48,
        "qk_rope_head_dim": 16, "qk_nope_head_dim": 32, "v_head_dim": 40, "index_head_dim": 24, "index_n_heads": 4,
        "attention_bias": True, "layer_types": None, "mlp_layer_types": None, "use_sliding_window": False,
        "use_dsa": False, "moe_layer_freq": 2, "first_k_dense_replace": 0, "shared_experts_intermediate_size": 80,
        "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}},
    # Hunyuan V4: its own indexer_types and mlp_layer_types, three streams, attention biases, two shared experts.
    "hy_v4": {"small": {**SMALL, "moe_intermediate_size": 96, "n_routed_experts": 8, "n_shared_experts": 2,
                        "num_experts_per_tok": 2, "q_lora_rank": 48, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                        "qk_rope_head_dim": 16, "v_head_dim": 40, "index_head_dim": 24, "index_n_heads": 4,
                        "hc_mult": 3, "attention_bias": True, "layer_types": None,
                        "indexer_types": ["full", "shared", "full", "full", "shared", "shared"],
                        "mlp_layer_types": ["dense", "dense", "sparse", "dense", "sparse", "sparse"],
                        "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}},
    # AXK2: experts on every 2nd layer from layer 2 (plain post-attention norms elsewhere), another gated-norm rank.
    "axk2": {"small": {**SMALL, "num_key_value_heads": 8, "moe_intermediate_size": 96, "n_routed_experts": 8,
                       "n_shared_experts": 2, "num_experts_per_tok": 2, "q_lora_rank": 48, "kv_lora_rank": 64,
                       "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 40, "index_head_dim": 24,
                       "index_n_heads": 4, "gated_norm_rank": 8, "attention_bias": True, "mlp_layer_types": None,
                       "first_k_dense_replace": 2, "moe_layer_freq": 2, "pad_token_id": 0, "bos_token_id": 1,
                       "eos_token_id": 2}},
    # LongCat-Flash: 3 decoder layers (6 sublayers), zero-compute experts, attention and router biases.
    "longcat_flash": {"small": {"vocab_size": 1024, "hidden_size": 256, "num_layers": 3, "num_attention_heads": 8,
                                "ffn_hidden_size": 384, "q_lora_rank": 48, "kv_lora_rank": 64, "qk_nope_head_dim": 32,
                                "qk_rope_head_dim": 16, "v_head_dim": 40, "moe_topk": 2, "n_routed_experts": 8,
                                "zero_expert_num": 4, "expert_ffn_hidden_size": 96, "attention_bias": True,
                                "router_bias": True}},
    # dots3 note with small towers: a pyramid of routed-expert vision blocks, attention biases, a tied table.
    "dots3_note": {"small": {
        "tie_word_embeddings": True,
        "text_config": {"model_type": "dots3_note_text", **SMALL, "num_hidden_layers": 5, "num_key_value_heads": 8,
                        "head_dim": 48, "moe_intermediate_size": 96, "n_routed_experts": 8, "num_experts_per_tok": 2,
                        "kv_lora_rank": 64, "q_lora_rank": 48, "qk_rope_head_dim": 16, "qk_nope_head_dim": 32,
                        "v_head_dim": 40, "index_head_dim": 24, "index_n_heads": 4, "use_sliding_window": False,
                        "layer_types": None, "mlp_layer_types": None, "pad_token_id": 0, "bos_token_id": 1,
                        "eos_token_id": 2},
        "vision_config": {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "num_attention_heads": 4,
                          "moe_intermediate_size": 48, "num_local_experts": 8, "num_experts_per_tok": 2,
                          "pyramid_num_routed": [-1, 4, -1, 8], "mlp_layer_types": None, "attention_bias": True,
                          "adapter_in_dim": 64, "adapter_out_dim": 256, "adapter_merge_size": 2},
        "audio_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                         "downsample_hidden_size": 16, "feature_size": 32, "adapter_input_size": 64,
                         "adapter_out_dim": 256, "attention_bias": False}}},
    # Encoder-decoders: untied tables, Marian's separate vocabularies, MVP's prompts, BigBird-Pegasus's biases.
    "bart": {"untied": {"tie_word_embeddings": False}},
    "marian": {"unshared": {"share_encoder_decoder_embeddings": False, "decoder_vocab_size": 60000,
                            "tie_word_embeddings": False}},
    "mvp": {"prompt": {"use_prompt": True}},
    "bigbird_pegasus": {"bias": {"use_bias": True}},
    "longt5": {"tglobal": {"encoder_attention_type": "transient-global"}},
    "fsmt": {"tied": {"tie_word_embeddings": True, "src_vocab_size": 1000}},
    # DeBERTa's disentangled attention as its checkpoints set it (DeBERTa-v3: buckets, shared keys, rel LayerNorm).
    "deberta": {"relative": {"relative_attention": True, "pos_att_type": "c2p|p2c", "position_biased_input": False,
                             "num_hidden_layers": 2, "talking_head": True}},
    "deberta-v2": {"v3": {"relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_buckets": 256,
                          "norm_rel_ebd": "layer_norm", "share_att_key": True, "position_biased_input": False,
                          "num_hidden_layers": 2},
                   "conv": {"relative_attention": True, "pos_att_type": "p2c|c2p", "conv_kernel_size": 3,
                            "num_hidden_layers": 2, "tie_word_embeddings": False}},
    # ProphetNet untied; TrOCR's decoder fed by a narrower encoder, sinusoidal positions, no embedding norm.
    "t5gemma": {"unbalanced": {"tie_word_embeddings": False, "vocab_size": 1024,
                               "encoder": {**SMALL, "hidden_size": 384, "head_dim": 48, "layer_types": None,
                                           "sliding_window": 64},
                               "decoder": {**SMALL, "num_hidden_layers": 3, "layer_types": None, "sliding_window": 64,
                                           "attention_bias": True}}},
    "pegasus_x": {"untied": {"tie_word_embeddings": False, "encoder_layers": 2, "decoder_layers": 2,
                             "num_global_tokens": 16}},
    "prophetnet": {"untied": {"tie_word_embeddings": False, "num_encoder_layers": 2, "num_decoder_layers": 2}},
    "trocr": {"narrow_encoder": {"cross_attention_hidden_size": 768, "use_learned_position_embeddings": False,
                                 "layernorm_embedding": False, "tie_word_embeddings": False, "decoder_layers": 2}},
    # MoE encoder-decoders: untied tables, router biases, another sparse step (Switch: no sparse decoder layers).
    "switch_transformers": {"untied": {"tie_word_embeddings": False, "router_bias": True, "num_layers": 6,
                                       "num_decoder_layers": 4, "num_sparse_encoder_layers": 2,
                                       "num_sparse_decoder_layers": 0}},
    "nllb-moe": {"untied": {"tie_word_embeddings": False, "router_bias": True, "num_experts": 4,
                            "decoder_sparse_step": 3}},
    # Vision-language switches: SigLIP / SigLIP2 heads, projector norm, LFM2's tie flag, a CLIP dict.
    "lfm2_vl": {"no_head": {"vision_config": {"vision_use_head": False, "num_patches": 1024, "num_hidden_layers": 2},
                            "tie_embedding": False, "projector_use_layernorm": False}},
    "deepseek_vl": {"untied_no_head": {"vision_config": {"vision_use_head": False, "num_hidden_layers": 2},
                                       "tie_word_embeddings": False}},
    "cohere2_vision": {"no_head": {"vision_config": {"vision_use_head": False}}},
    "lighton_ocr": {"untied": {"vision_config": {"num_hidden_layers": 2}, "tie_word_embeddings": False}},
    "video_llava": {"clip_dict": {"vision_config": {"num_hidden_layers": 2}}},
    # SAM towers: another grid, windows and global layers, no qkv bias / absolute positions, untied.
    "got_ocr2": {"small": {"tie_word_embeddings": False,
                           "vision_config": {"hidden_size": 512, "num_hidden_layers": 5, "num_attention_heads": 8,
                                             "output_channels": 128, "mlp_dim": 1536, "image_size": 768,
                                             "window_size": 8, "global_attn_indexes": [1, 4], "qkv_bias": False},
                           "text_config": {**SMALL, "model_type": "qwen2", "num_hidden_layers": 3}}},
    "deepseek_vl_hybrid": {"small": {
        "tie_word_embeddings": False,
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 384, "intermediate_size": 1024,
                          "num_hidden_layers": 2, "num_attention_heads": 6, "image_size": 384,
                          "vision_use_head": False},
        "high_res_vision_config": {"model_type": "sam_vision_model", "hidden_size": 256, "num_hidden_layers": 3,
                                   "num_attention_heads": 4, "output_channels": 64, "mlp_ratio": 2.0,
                                   "global_attn_indexes": [2], "use_abs_pos": False, "window_size": 7},
        "text_config": {**SMALL, "model_type": "llama", "num_hidden_layers": 3}}},
    # Q-Formers: a T5 language model, the text feed-forward, other cross-attention steps, no qkv bias, untied llama.
    "blip-2": {"t5_text_input": {"num_query_tokens": 16,
                                 "vision_config": {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                                                   "num_attention_heads": 4, "image_size": 112, "patch_size": 16,
                                                   "qkv_bias": False},
                                 "qformer_config": {"hidden_size": 128, "intermediate_size": 256,
                                                    "num_hidden_layers": 5, "num_attention_heads": 4,
                                                    "cross_attention_frequency": 3,
                                                    "use_qformer_text_input": True},
                                 "text_config": {"model_type": "t5", "vocab_size": 1000, "d_model": 128, "d_ff": 256,
                                                 "num_layers": 2, "num_heads": 4, "d_kv": 32}}},
    "instructblip": {"llama": {"num_query_tokens": 8,
                               "vision_config": {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                                                 "num_attention_heads": 4, "image_size": 112, "patch_size": 16},
                               "qformer_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 3,
                                                  "num_attention_heads": 4, "cross_attention_frequency": 1,
                                                  "vocab_size": 500, "max_position_embeddings": 64},
                               "text_config": {**SMALL, "model_type": "llama", "num_hidden_layers": 2,
                                               "tie_word_embeddings": False}}},
    # Janus: q/k norms, no attention bias, a deeper aligner; a three-level VQ-VAE with a double latent; untied.
    "janus": {"small": {"tie_word_embeddings": False,
                        "vision_config": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                                          "image_size": 128, "patch_size": 16, "mlp_ratio": 3.0,
                                          "attention_bias": False, "use_qk_norm": True, "projection_dim": 384,
                                          "depth": 3},
                        "vq_config": {"embed_dim": 16, "num_embeddings": 1024, "double_latent": True,
                                      "latent_channels": 64, "base_channels": 64, "channel_multiplier": [1, 2, 2],
                                      "num_res_blocks": 1, "projection_dim": 384, "num_hidden_layers": 3,
                                      "image_token_embed_dim": 256},
                        "text_config": {**SMALL, "model_type": "llama", "num_hidden_layers": 2}}},
    # Ovis2: untied (its own lm_head at the composite's sizes), biases, a hidden stride, fewer indicator tokens.
    "ovis2": {"untied": {"tie_word_embeddings": False, "hidden_size": 256, "vocab_size": 1000,
                         "vision_config": {"hidden_size": 128, "intermediate_size": 320, "num_hidden_layers": 2,
                                           "num_attention_heads": 4, "image_size": 112, "qkv_bias": True,
                                           "mlp_bias": True, "vocab_size": 512, "hidden_stride": 2,
                                           "num_visual_indicator_tokens": 3},
                         "text_config": {**SMALL, "model_type": "qwen2", "num_hidden_layers": 2}}},
    # Molmo2: olmo-style q/k norms, attention biases, tie asked for (the class never ties), three feature layers.
    "molmo2": {"olmo_norms": {
        "tie_word_embeddings": True,
        "vision_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 3,
                          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
                          "image_size": [224, 224], "attention_bias": False},
        "adapter_config": {"vision_feature_layer": [-1, -2, -3], "hidden_size": 128, "num_attention_heads": 4,
                           "num_key_value_heads": 4, "head_dim": 32, "intermediate_size": 384, "text_hidden_size": 256,
                           "mlp_bias": True},
        "text_config": {**SMALL, "num_hidden_layers": 2, "additional_vocab_size": 64, "attention_bias": True,
                        "qk_norm_type": "olmo"}}},
    # Aria: its own patch-to-query table, tied, a small MoE text model with one shared expert.
    "aria": {"small": {"tie_word_embeddings": True, "projector_patch_to_query_dict": {"16": 8, "64": 32},
                       "vision_config": {"model_type": "idefics3_vision", "hidden_size": 128, "intermediate_size": 256,
                                         "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 112,
                                         "patch_size": 14},
                       "text_config": {**SMALL, "model_type": "aria_text", "intermediate_size": 128,
                                       "num_hidden_layers": 2, "moe_num_experts": 4, "moe_topk": 2,
                                       "moe_num_shared_experts": 1}}},
    # Kosmos-2 tied by the composite over an untied text config, with cross-attention; Kosmos-2.5 untied by its
    # text config; Pix2Struct tied, other head sizes and buckets.
    "kosmos-2": {"cross": {"latent_query_num": 16,
                           "vision_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                                             "num_attention_heads": 4, "image_size": 112, "patch_size": 14},
                           "text_config": {"vocab_size": 1000, "embed_dim": 256, "layers": 2, "ffn_dim": 512,
                                           "attention_heads": 8, "tie_word_embeddings": False,
                                           "add_cross_attention": True}}},
    "kosmos-2.5": {"untied_text": {"latent_query_num": 32,
                                   "vision_config": {"hidden_size": 128, "patch_embed_hidden_size": 192,
                                                     "intermediate_size": 320, "head_dim": 16, "num_hidden_layers": 2,
                                                     "num_attention_heads": 4, "max_num_patches": 256},
                                   "text_config": {"vocab_size": 1000, "embed_dim": 256, "layers": 2, "ffn_dim": 512,
                                                   "attention_heads": 8, "tie_word_embeddings": False}}},
    "pix2struct": {"tied": {"tie_word_embeddings": True,
                            "vision_config": {"hidden_size": 128, "patch_embed_hidden_size": 192, "d_ff": 320,
                                              "d_kv": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
                                              "seq_len": 256},
                            "text_config": {"vocab_size": 1000, "hidden_size": 256, "d_kv": 32, "d_ff": 512,
                                            "num_layers": 3, "num_heads": 8, "relative_attention_num_buckets": 16}}},
    # Fuyu: tied, another patch and image size, persimmon without q/k LayerNorms.
    "fuyu": {"tied": {"tie_word_embeddings": True, "patch_size": 16, "image_size": 224,
                      "text_config": {"model_type": "persimmon", "vocab_size": 1000, "hidden_size": 256,
                                      "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 8,
                                      "qk_layernorm": False}}},
    # GIT: tied output (its bias stays), temporal embeddings for video, other sizes.
    "git": {"tied_video": {"tie_word_embeddings": True, "num_image_with_embedding": 6, "vocab_size": 1000,
                           "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8,
                           "intermediate_size": 512, "max_position_embeddings": 128,
                           "vision_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                                             "num_attention_heads": 4, "image_size": 112, "patch_size": 14}}},
    # PP-FormulaNet: another SAM grid and windows, other projector channels and decoder sizes.
    "pp_formulanet": {"small": {
        "vision_config": {"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4, "output_channels": 64,
                          "mlp_dim": 512, "image_size": 256, "window_size": 4, "global_attn_indexes": [1],
                          "post_conv_in_channels": 64, "post_conv_mid_channels": 96, "post_conv_out_channels": 128,
                          "decoder_hidden_size": 192},
        "text_config": {"vocab_size": 1000, "max_position_embeddings": 300, "decoder_layers": 2,
                        "decoder_ffn_dim": 384, "decoder_attention_heads": 4, "d_model": 192}}},
    # T5Gemma 2: untied, attention biases in the encoder, a deeper decoder with other head sizes, no SigLIP head.
    "t5gemma2": {"untied": {
        "tie_word_embeddings": False,
        "encoder": {"mm_tokens_per_image": 16,
                    "text_config": {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
                                    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
                                    "head_dim": 32, "attention_bias": True, "sliding_window": 64},
                    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 128,
                                      "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                                      "image_size": 64, "patch_size": 16, "vision_use_head": False}},
        "decoder": {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 384, "num_hidden_layers": 7,
                    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 48, "sliding_window": 64}}},
    # IDEFICS: the perceiver resampler with q/k norms, cross layers every 2nd, vector gates, extra tokens, tied.
    "idefics": {"resampler": {
        "vocab_size": 1000, "additional_vocab_size": 2, "hidden_size": 256, "intermediate_size": 512,
        "num_hidden_layers": 4, "num_attention_heads": 8, "cross_layer_interval": 2, "qk_layer_norms": True,
        "alpha_type": "vector", "tie_word_embeddings": True, "use_resampler": True,
        "perceiver_config": {"use_resampler": True, "resampler_n_latents": 16, "resampler_depth": 2,
                             "resampler_n_heads": 4, "resampler_head_dim": 32, "qk_layer_norms_perceiver": True},
        "vision_config": {"embed_dim": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                          "image_size": 112, "patch_size": 14}}},
    # PI0: an untied PaliGemma (the base model keeps no lm_head), a narrower expert, other action / state sizes.
    "pi0": {"small": {
        "max_action_dim": 16, "max_state_dim": 8,
        "vlm_config": {"model_type": "paligemma", "projection_dim": 256, "tie_word_embeddings": False,
                       "text_config": {"model_type": "gemma", "hidden_size": 256, "num_hidden_layers": 2,
                                       "intermediate_size": 512, "num_attention_heads": 4, "num_key_value_heads": 1,
                                       "head_dim": 64, "vocab_size": 1000},
                       "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 128,
                                         "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                                         "image_size": 112, "patch_size": 14, "vision_use_head": False}},
        "dit_config": {"model_type": "gemma", "hidden_size": 192, "num_hidden_layers": 2, "intermediate_size": 384,
                       "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 48, "vocab_size": 1000}}},
    # Evolla: absolute positions and an embedding LayerNorm in the protein encoder, aligners every 2nd of 7
    # layers without output bias, tie asked for (the class never ties).
    "evolla": {"small": {
        "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 7,
        "num_attention_heads": 8, "num_key_value_heads": 2, "aligner_num_add_layers": 3, "aligner_enable_bias": False,
        "aligner_ffn_mult": 2, "resampler_depth": 2, "resampler_dim_head": 16, "resampler_heads": 4,
        "resampler_num_latents": 8, "resampler_ff_mult": 2, "tie_word_embeddings": True,
        "protein_encoder_config": {"vocab_size": 100, "hidden_size": 128, "num_hidden_layers": 2,
                                   "num_attention_heads": 4, "intermediate_size": 256, "max_position_embeddings": 130,
                                   "position_embedding_type": "absolute", "emb_layer_norm_before": True}}},
    # Florence-2: three DaViT stages, no qkv bias, another MLP ratio and prenorm; lm_head untied by the
    # composite, the BART tables tied (or not) by the text config.
    "florence2": {
        name: {"tie_word_embeddings": False,
               "vision_config": {"embed_dim": [64, 128, 192], "depths": [1, 2, 1], "num_heads": [2, 4, 6],
                                 "num_groups": [2, 4, 6], "patch_size": [7, 3, 3], "patch_stride": [4, 2, 2],
                                 "patch_padding": [3, 1, 1], "patch_prenorm": [False, False, True], "mlp_ratio": 2.0,
                                 "qkv_bias": False, "projection_dim": 256, "max_position_embeddings": 20},
               "text_config": {"model_type": "bart", "vocab_size": 1000, "d_model": 256, "encoder_layers": 2,
                               "decoder_layers": 2, "encoder_attention_heads": 4, "decoder_attention_heads": 4,
                               "encoder_ffn_dim": 512, "decoder_ffn_dim": 512, "max_position_embeddings": 128,
                               "tie_word_embeddings": text_tie}}
        for name, text_tie in (("untied_head", True), ("untied", False))},
    # ERNIE 4.5 VL MoE: untied, biases, no shared experts, its own dense / sparse pattern (head_dim 128: 3D RoPE).
    "ernie4_5_vl_moe": {"small": {
        "tie_word_embeddings": False,
        "text_config": {"vocab_size": 1000, "hidden_size": 512, "intermediate_size": 512, "num_hidden_layers": 4,
                        "num_attention_heads": 4, "num_key_value_heads": 2, "use_bias": True,
                        "moe_intermediate_size": [128, 64], "moe_k": 2, "moe_num_experts": 4,
                        "moe_num_shared_experts": 0, "mlp_layer_types": ["dense", "sparse", "dense", "sparse"]},
        "vision_config": {"depth": 2, "hidden_size": 128, "num_heads": 4, "patch_size": 14, "spatial_merge_size": 2,
                          "intermediate_size": 256, "temporal_merge_size": 2}}},
    "exaone4_5": {"tied_gqa": {"tie_word_embeddings": True,
                               "text_config": {"model_type": "exaone4", "num_hidden_layers": 4, "hidden_size": 512,
                                               "intermediate_size": 1024, "num_attention_heads": 8,
                                               "num_key_value_heads": 2, "vocab_size": 1000},
                               "vision_config": {"depth": 2, "hidden_size": 256, "num_heads": 8,
                                                 "num_key_value_heads": 2, "intermediate_size": 384,
                                                 "out_hidden_size": 512}}},
    "minicpmv4_7": {"small_tied": {"tie_word_embeddings": True, "merger_times": 3, "insert_layer_id": 1,
                                   "text_config": {"model_type": "qwen3", "num_hidden_layers": 2, "hidden_size": 512,
                                                   "intermediate_size": 1024, "num_attention_heads": 8,
                                                   "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000},
                                   "vision_config": {"num_hidden_layers": 2, "hidden_size": 384,
                                                     "num_attention_heads": 6, "intermediate_size": 768,
                                                     "window_kernel_size": [3, 3], "image_size": 336}}},
    "minicpm_ocr": {"untied": {"tie_word_embeddings": False, "merger_times": 2,
                               "text_config": {"num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 512,
                                               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
                                               "vocab_size": 1000, "layer_types": None},
                               "vision_config": {"num_hidden_layers": 2}}},
    "qianfan_ocr": {"tied_rms": {"tie_word_embeddings": True, "downsample_ratio": 0.25,
                                 "text_config": {"num_hidden_layers": 2, "hidden_size": 512, "intermediate_size": 1024,
                                                 "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
                                                 "vocab_size": 1000},
                                 "vision_config": {"num_hidden_layers": 2, "use_qk_norm": True, "norm_type": "rms_norm",
                                                   "use_mean_pooling": False}}},
    "hyperclovax_vision_v2": {"untied_no_post_norm": {
        "tie_word_embeddings": False,
        "text_config": {"model_type": "hyperclovax", "num_hidden_layers": 2, "hidden_size": 512,
                        "intermediate_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 2,
                        "head_dim": 64, "vocab_size": 1000, "use_post_norm": False},
        "vision_config": {"model_type": "qwen2_5_vl_vision", "depth": 2, "hidden_size": 256, "num_heads": 4,
                          "intermediate_size": 384, "out_hidden_size": 320}}},
    "cosmos3_omni": {"tied_small": {"tie_word_embeddings": True,
                                    "text_config": {"num_hidden_layers": 2, "hidden_size": 512,
                                                    "intermediate_size": 1024, "num_attention_heads": 8,
                                                    "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000,
                                                    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                                                        "mrope_section": [16, 8, 8]}},
                                    "vision_config": {"depth": 3, "hidden_size": 256, "num_heads": 4,
                                                      "intermediate_size": 512, "out_hidden_size": 512,
                                                      "deepstack_visual_indexes": [1]}}},
    "muse_glimmer": {"small_text_tie": {
        "out_hidden_size": 1536, "projector_hidden_size": 256,
        "text_config": {"num_hidden_layers": 4, "hidden_size": 512, "intermediate_size": 1024, "num_attention_heads": 8,
                        "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000, "tie_word_embeddings": True,
                        "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
                        "layer_rope_theta": [10000.0, 0, 10000.0, 0]},
        "vision_config": {"num_hidden_layers": 2, "hidden_size": 384, "num_attention_heads": 6,
                          "intermediate_size": 768, "pos_emb_height": 16, "pos_emb_width": 16,
                          "layer_types": ["window_attention", "full_attention"], "patch_temporal": 1}}},
    "cosmos3_edge": {"tied_flag_bias": {
        "tie_word_embeddings": True, "projector_hidden_size": 640,
        "text_config": {"num_hidden_layers": 2, "hidden_size": 512, "intermediate_size": 1024, "num_attention_heads": 8,
                        "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000, "mlp_bias": True,
                        "attention_bias": True, "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                                                    "mrope_section": [16, 8, 8]}},
        "vision_config": {"num_hidden_layers": 2, "hidden_size": 384, "num_attention_heads": 6,
                          "intermediate_size": 768, "num_patches": 64, "spatial_merge_size": 3}}},
    "nemotron_h_omni": {"small_swiglu": {
        "downsample_ratio": 0.25, "video_temporal_patch_size": 3, "projector_hidden_size": 256,
        "vision_hidden_size": 192,
        "text_config": {**SMALL, "model_type": "nemotron_h", "hybrid_override_pattern": "M-M*-E",
                        "layers_block_type": None, "mamba_num_heads": 8, "mamba_head_dim": 32, "ssm_state_size": 16,
                        "n_groups": 2,
                        "n_routed_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
                        "moe_shared_expert_intermediate_size": 256, "tie_word_embeddings": True},
        "vision_config": {"model_type": "radio", "hidden_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
                          "use_swiglu_ffn": True, "qkv_bias": False, "max_img_size": 512, "num_registers": 3,
                          "video_temporal_patch_size": 3}}},
    "paddleocr_vl": {"untied_bias": {"tie_word_embeddings": False,
                                     "text_config": {"num_hidden_layers": 2, "use_bias": True, "vocab_size": 1000,
                                                     "tie_word_embeddings": False},
                                     "vision_config": {"num_hidden_layers": 2, "spatial_merge_size": 3,
                                                       "image_size": 224, "patch_size": 16}}},
    "video_llama_3": {"qwen3_tied": {"tie_word_embeddings": True,
                                     "text_config": {"model_type": "qwen3", "num_hidden_layers": 2, "hidden_size": 512,
                                                     "intermediate_size": 1024, "num_attention_heads": 8,
                                                     "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000},
                                     "vision_config": {"num_hidden_layers": 2, "hidden_size": 384,
                                                       "num_attention_heads": 6, "intermediate_size": 768,
                                                       "patch_size": 14}}},
    "glm_ocr": {"tied_small": {"tie_word_embeddings": True, "text_config": {"num_hidden_layers": 2,
                                                                           "num_key_value_heads": 4,
                                                                           "vocab_size": 1000},
                               "vision_config": {"depth": 2, "attention_bias": False, "in_channels": 2,
                                                 "hidden_size": 256, "num_heads": 4, "out_hidden_size": 384,
                                                 "intermediate_size": 640}}},
    "glmga": {"tied_bias": {"tie_word_embeddings": True, "text_config": {"num_hidden_layers": 2},
                            "vision_config": {"depth": 2, "attention_bias": True}}},
    "granite_docling": {"router_untied": {"tie_word_embeddings": False, "density_router_hidden_size": 64,
                                          "text_config": {"num_hidden_layers": 2, "hidden_size": 512,
                                                          "intermediate_size": 1024, "num_key_value_heads": 2},
                                          "vision_config": {"num_hidden_layers": 4, "scale_factor": 2,
                                                            "deepstack_visual_indexes": [1, 2], "image_size": 256,
                                                            "out_hidden_size": 512}}},
    # Composites whose towers are optional: the defaults build the text model alone.
    "gemma4": {"vision_audio": {"vision_config": {}, "audio_config": {}}},
    # Audio-language composites (vlm_audio.py): a smaller Whisper-style encoder of another mel count,
    # a partial text dict (Voxtral and GLM-ASR lay their text defaults under it), the tie and bias switches.
    "qwen2_audio": {"small": {"audio_config": {"d_model": 256, "encoder_layers": 2, "encoder_attention_heads": 4,
                                               "encoder_ffn_dim": 512, "num_mel_bins": 80, "max_source_positions": 200},
                              "text_config": {**SMALL, "model_type": "qwen2", "layer_types": None},
                              "tie_word_embeddings": True}},
    "voxtral": {"small": {"audio_config": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                                           "intermediate_size": 1024, "num_mel_bins": 80, "max_source_positions": 200},
                          "text_config": {"hidden_size": 512, "num_hidden_layers": 2, "intermediate_size": 1024}}},
    "audioflamingo3": {"no_bias": {"audio_config": {"hidden_size": 256, "num_hidden_layers": 2,
                                                    "num_attention_heads": 4, "intermediate_size": 512},
                                   "text_config": {**SMALL, "model_type": "qwen2", "layer_types": None},
                                   "projector_bias": False}},
    "glmasr": {"untied_gqa": {"audio_config": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 8,
                                               "num_key_value_heads": 2, "intermediate_size": 1024,
                                               "num_mel_bins": 80},
                              "text_config": {"hidden_size": 512, "num_hidden_layers": 2},
                              "tie_word_embeddings": False}},
    "qwen3_asr": {"small_untied": {"audio_config": {"d_model": 256, "encoder_layers": 2, "encoder_attention_heads": 4,
                                                    "encoder_ffn_dim": 512, "num_mel_bins": 80,
                                                    "downsample_hidden_size": 64, "output_dim": 384},
                                   "text_config": {**SMALL, "model_type": "qwen3", "layer_types": None},
                                   "tie_word_embeddings": False}},
    "voxtral_realtime": {"small_untied": {
        "audio_config": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 32,
                         "intermediate_size": 512, "num_mel_bins": 80},
        "text_config": {"hidden_size": 512, "num_hidden_layers": 2, "head_dim": 64}, "downsample_factor": 2,
        "tie_word_embeddings": False}},
    "moss_transcribe_diarize": {"merge2_untied": {
        "audio_config": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                         "intermediate_size": 512, "num_mel_bins": 128},
        "text_config": {"hidden_size": 512, "num_hidden_layers": 2}, "audio_merge_size": 2, "projector_bias": False,
        "tie_word_embeddings": False}},
    "granite_speech": {"small_untied": {
        "encoder_config": {"input_dim": 80, "num_layers": 2, "hidden_dim": 256, "num_heads": 4, "dim_head": 32,
                           "output_dim": 20, "context_size": 50, "max_pos_emb": 64, "conv_kernel_size": 7,
                           "conv_expansion_factor": 3},
        "projector_config": {"hidden_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
                             "intermediate_size": 256, "cross_attention_frequency": 1, "encoder_hidden_size": 256},
        "text_config": {**SMALL, "model_type": "granite"}, "window_size": 20, "downsample_rate": 4,
        "tie_word_embeddings": False}},
    "granite_speech_plus": {"tied": {
        "projector_config": {"hidden_size": 128, "num_hidden_layers": 5, "num_attention_heads": 4,
                             "intermediate_size": 256, "cross_attention_frequency": 3, "encoder_hidden_size": 1024},
        "text_config": {**SMALL, "model_type": "granite"}, "tie_word_embeddings": True}},
    "vibevoice_asr": {"small": {
        "acoustic_tokenizer_encoder_config": {"num_filters": 8, "hidden_size": 16, "kernel_size": 5,
                                              "downsampling_ratios": [2, 3, 4], "depths": [1, 2, 0, 2],
                                              "ffn_expansion": 2},
        "semantic_tokenizer_encoder_config": {"num_filters": 4, "hidden_size": 24, "channels": 2,
                                              "downsampling_ratios": [5], "depths": [2, 1]},
        "text_config": {**SMALL, "model_type": "qwen2", "layer_types": None}, "tie_word_embeddings": True}},
    "phi4_multimodal": {"small_tied": {
        **{k: x for k, x in SMALL.items() if k != "head_dim"}, "tie_word_embeddings": True, "pad_token_id": None,
        "bos_token_id": None, "eos_token_id": None,
        "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "image_size": 224, "patch_size": 16, "crop_size": 224},
        "audio_config": {"hidden_size": 128, "intermediate_size": 192, "num_blocks": 2, "num_attention_heads": 4,
                         "ext_pw_out_channel": 96, "depthwise_separable_out_channel": 128,
                         "depthwise_multiplier": 2, "kernel_size": 5, "input_size": 40, "time_reduction": 4,
                         "nemo_conv_channels": 32, "bias_symmetric": True, "bias_max_distance": 50,
                         "downsample_rate": 2}}},
    "nemo_speechlm": {"small": {
        "audio_config": {
            "asr_config": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                           "num_attention_heads": 4, "num_key_value_heads": 2, "num_mel_bins": 40,
                           "subsampling_factor": 4},
            "diarization_config": {"audio_config": {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
                                                    "num_attention_heads": 2, "num_mel_bins": 40,
                                                    "subsampling_factor": 4},
                                   "head_config": {"hidden_size": 32, "num_speakers": 4, "audio_hidden_size": 64,
                                                   "subsampling_factor": 4},
                                   "streaming_config": {"num_speakers": 4, "subsampling_factor": 4,
                                                        "speaker_cache_length": 188}}},
        "word_timestamp_config": {"hidden_size": 96, "intermediate_size": 64, "num_hidden_layers": 1,
                                  "num_attention_heads": 4, "vocab_size": 300, "blank_token_id": 299,
                                  "upsampling_factor": 3},
        "text_config": {**SMALL, "model_type": "nemotron_h", "hybrid_override_pattern": "M-M*-E",
                        "layers_block_type": None, "num_hidden_layers": 6, "mamba_num_heads": 8,
                        "mamba_head_dim": 32, "ssm_state_size": 16, "n_groups": 2, "n_routed_experts": 4,
                        "num_experts_per_tok": 2, "moe_intermediate_size": 128,
                        "moe_shared_expert_intermediate_size": 256}}},
    "qwen2_5_omni_thinker": {"small_tied": {
        "audio_config": {"d_model": 256, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 512,
                         "num_mel_bins": 80, "output_dim": 384},
        "vision_config": {"depth": 2, "hidden_size": 128, "intermediate_size": 256, "num_heads": 4,
                          "out_hidden_size": 384, "fullatt_block_indexes": [1]},
        "text_config": {**SMALL, "model_type": "qwen2_5_omni_text", "hidden_size": 384, "layer_types": None},
        "tie_word_embeddings": True}},
    "qwen3_omni_moe_thinker": {"small_tied": {
        "audio_config": {"d_model": 256, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 512,
                         "num_mel_bins": 80, "output_dim": 384, "downsample_hidden_size": 64},
        "vision_config": {"depth": 2, "hidden_size": 128, "intermediate_size": 256, "num_heads": 4,
                          "out_hidden_size": 384, "deepstack_visual_indexes": [0], "num_position_embeddings": 256},
        "text_config": {**{k: x for k, x in SMALL.items() if k != "head_dim"}, **_MOE,
                        "model_type": "qwen3_omni_moe_text", "hidden_size": 384,
                        "num_attention_heads": 10, "num_experts": 4, "decoder_sparse_step": 2,
                        "mlp_only_layers": [1]},
        "tie_word_embeddings": True}},
    # Classes whose own defaults leave head_dim / KV heads unset (transformers cannot build them as is).
    "hunyuan_v1_dense": {"head_dim": {"head_dim": 128}},
    "hunyuan_v1_moe": {"head_dim": {"head_dim": 128}, "small": {**SMALL, **_MOE, "num_experts": 4, "moe_topk": 2,
                                                               "num_shared_expert": 1}},
    "ministral": {"head_dim": {"head_dim": 128}},
    "nemotron": {"kv_heads": {"num_key_value_heads": 8}},
    # Classes whose defaults leave a field unset that every checkpoint's config sets (rope_theta, MoE sizes,
    # layer_types): the variant sets it as the checkpoints do, on a small shape.
    "dbrx": {"small": {"d_model": 256, "n_heads": 8, "n_layers": 4, "vocab_size": 1024,
                       "attn_config": {"kv_n_heads": 2, "clip_qkv": 8, "rope_theta": 500000},
                       "ffn_config": {"ffn_hidden_size": 128, "moe_num_experts": 8, "moe_top_k": 2}}},
    "dots1": {"small": {**SMALL, **_MOE, "n_routed_experts": 8, "n_shared_experts": 2, "first_k_dense_replace": 1,
                        "layer_types": None}},
    "lfm2_moe": {"small": {**{k: x for k, x in SMALL.items() if k != "head_dim"}, **_MOE, "num_experts": 8,
                           "num_dense_layers": 2,
                           "layer_types": ["conv", "conv", "full_attention", "conv", "full_attention", "conv"]}},
    "aya_vision": {"heads16": {"vision_config": {"num_attention_heads": 16, "num_hidden_layers": 2},
                               "text_config": {"num_hidden_layers": 2}},
                   "head_align": {"vision_config": {"num_attention_heads": 16, "num_hidden_layers": 2,
                                                    "vision_use_head": True},
                                  "alignment_intermediate_size": 4096, "text_config": {"num_hidden_layers": 2}}},
    "cohere_compass_text": {"rope": {"rope_parameters": {"full_attention": {"rope_type": "default",
                                                                            "rope_theta": 50000.0}},
                                     "num_hidden_layers": 2}},
    "cohere_compass": {"rope": {"text_config": {"rope_parameters": {"full_attention": {"rope_type": "default",
                                                                                       "rope_theta": 50000.0}},
                                                "num_hidden_layers": 2},
                                "vision_config": {"depth": 2}}},
    "hunyuan_vl": {"head_dim": {"text_config": {"head_dim": 128, "num_hidden_layers": 2},
                                "vision_config": {"num_hidden_layers": 2}}},
    "chameleon": {"vocab_map": {"vocabulary_map": {"<image>": 8711}, "num_hidden_layers": 2}},
    "emu3": {"vocab_map": {"vocabulary_map": {"<|extra_200|>": 151574, "<image>": 151846},
                           "text_config": {"num_hidden_layers": 2}}},
    "qwen4_exp_text": {"qsa": {"num_hidden_layers": 4, "indexer_n_heads": 4, "indexer_kv_heads": 1,
                               "indexer_head_dim": 256, "indexer_budget": 512, "indexer_compress_ratio": 4}},
    "qwen4_exp": {"qsa": {"text_config": {"num_hidden_layers": 4, "indexer_n_heads": 4, "indexer_kv_heads": 1,
                                          "indexer_head_dim": 256, "indexer_budget": 512,
                                          "indexer_compress_ratio": 4},
                          "vision_config": {"depth": 2}}},
    "granite4_vision": {"deepstack": {"deepstack_layer_map": [[-2, 0], [-1, 1]], "downsample_rate": "1/4",
                                      "text_config": {"num_hidden_layers": 2},
                                      "vision_config": {"num_hidden_layers": 2}}},
    "deepseek_ocr2": {"moe": {"text_config": {"num_hidden_layers": 2, "mlp_layer_types": ["dense", "sparse"],
                                              "n_routed_experts": 8, "num_experts_per_tok": 2,
                                              "moe_intermediate_size": 128, "n_shared_experts": 2}}},
    "esm": {"esm2": {"vocab_size": 33, "num_hidden_layers": 2, "position_embedding_type": "rotary",
                     "emb_layer_norm_before": False, "token_dropout": True, "mask_token_id": 32, "pad_token_id": 1},
            "absolute_untied": {"vocab_size": 33, "num_hidden_layers": 2, "emb_layer_norm_before": True,
                                "tie_word_embeddings": False}},
    "minimax_m2": {"small": {**SMALL, "num_local_experts": 4, "num_experts_per_tok": 2}},
    "ernie4_5_moe": {"small": {**SMALL, **_MOE, "moe_num_experts": 4, "moe_k": 2, "moe_num_shared_experts": 1,
                               "moe_layer_start_index": 1, "moe_layer_interval": 2}},
    "phimoe": {"small": {**SMALL, "num_local_experts": 4, "num_experts_per_tok": 2}},
    "olmoe": {"small": {**SMALL, "num_experts": 4, "num_experts_per_tok": 2}},
    "granitemoe": {"small": {**SMALL, "num_local_experts": 4, "num_experts_per_tok": 2}},
    # LFM3, MiniMax-M3, Gemma 4 Unified: their switches off the defaults, and their composites' towers.
    "lfm3": {"biases": {**SMALL, "num_hidden_layers": 7, "layer_types": None, "tie_word_embeddings": False,
                        "conv_bias": True, "use_sandwich_norm": False, "use_attention_gate": False,
                        "attention_bias": True, "pad_token_id": None, "bos_token_id": None, "eos_token_id": None}},
    "lfm3_vl": {"untied": {"tie_word_embeddings": False, "projector_bias": False, "projector_hidden_size": 512,
                           "vision_config": {"num_hidden_layers": 5, "conv_kernel_size": 5, "hidden_size": 256,
                                             "intermediate_size": 384, "num_attention_heads": 4,
                                             "num_key_value_heads": 2, "spatial_merge_size": 3}}},
    "minimax_m3_vl_text": {"sparse_dense": {**SMALL, **_MOE, "num_hidden_layers": 4, "num_local_experts": 8,
                                            "dense_intermediate_size": 512, "shared_intermediate_size": 192,
                                            "mlp_layer_types": ["dense", "sparse", "sparse", "dense"],
                                            "layer_types": ["full_attention", "minimax_m3_sparse",
                                                            "full_attention", "minimax_m3_sparse"],
                                            "index_n_heads": 2, "index_head_dim": 64, "tie_word_embeddings": True,
                                            "bos_token_id": None, "eos_token_id": None}},
    "minimax_m3_vl": {"tied_text": {"text_config": {"tie_word_embeddings": True}, "projector_hidden_size": 1024,
                                    "vision_config": {"num_hidden_layers": 2, "spatial_merge_size": 3}}},
    "gemma4_unified": {"vision_audio": {"vision_config": {}, "audio_config": {}},
                       "untied_small": {"tie_word_embeddings": False,
                                        "vision_config": {"patch_size": 8, "pooling_kernel_size": 2,
                                                          "mm_embed_dim": 128, "mm_posemb_size": 64,
                                                          "output_proj_dims": 128},
                                        "audio_config": {"audio_embed_dim": 96}}},
    "inkling_text": {"small": {**SMALL, "swa_num_attention_heads": 4, "swa_num_key_value_heads": 4, "swa_head_dim": 16,
                               "sliding_window_size": 64, "d_rel": 8, "rel_extent": 128, "moe_intermediate_size": 96,
                               "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1,
                               "local_layer_ids": [0, 2, 3], "layer_types": None, "conv_kernel_size": 3,
                               "mlp_layer_types": ["dense", "sparse", "dense", "sparse", "sparse", "sparse"],
                               "bos_token_id": None, "eos_token_id": None}},
    "zaya": {"sliding_biases": {**SMALL, "num_hidden_layers": 4, "moe_intermediate_size": 128, "num_experts": 4,
                                "router_hidden_size": 64, "cca_time0": 3, "cca_time1": 4, "attention_bias": True,
                                "lm_head_bias": True, "tie_word_embeddings": False, "sliding_window": 32,
                                "layer_types": ["hybrid_sliding", "hybrid", "hybrid_sliding", "hybrid"],
                                "eos_token_id": None, "bos_token_id": None}},
    # BERT-descended language models: decoders with cross-attention, factorized and extra embeddings, untied heads.
    "bert-generation": {"decoder_cross": {"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 4,
                                          "intermediate_size": 512, "vocab_size": 1000, "is_decoder": True,
                                          "add_cross_attention": True, "tie_word_embeddings": False}},
    "rembert": {"small": {"hidden_size": 192, "num_hidden_layers": 3, "num_attention_heads": 4,
                          "intermediate_size": 512, "vocab_size": 1000, "input_embedding_size": 64,
                          "output_embedding_size": 96, "tie_word_embeddings": True}},
    "roc_bert": {"no_concat": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                               "intermediate_size": 512, "vocab_size": 1000, "enable_shape": False,
                               "pronunciation_embed_dim": 32, "concat_input": False, "tie_word_embeddings": False},
                 "shape_only": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                                "intermediate_size": 512, "vocab_size": 1000, "enable_pronunciation": False}},
    "xlm": {"causal_langs": {"emb_dim": 256, "n_layers": 3, "n_heads": 4, "vocab_size": 1000, "n_langs": 3,
                             "causal": True, "tie_word_embeddings": False}},
    "xlm-roberta": {"untied": {"tie_word_embeddings": False, "num_hidden_layers": 2}},
    "xmod": {"adapters": {"hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
                          "intermediate_size": 512, "vocab_size": 1000, "languages": ["en_XX", "de_DE", "fr_XX"],
                          "adapter_reduction_factor": 4, "adapter_layer_norm": True, "pre_norm": True,
                          "tie_word_embeddings": False}},
    "hrm_text": {"cycles": {"hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                            "num_attention_heads": 4, "head_dim": 48, "vocab_size": 1000, "H_cycles": 3,
                            "L_cycles": 2, "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True}},
    "xlnet": {"untied": {"d_model": 256, "n_layer": 2, "n_head": 4, "d_inner": 512, "vocab_size": 1000,
                         "tie_word_embeddings": False}},
    "moshi": {"gqa_tied": {"hidden_size": 256, "num_hidden_layers": 3, "num_attention_heads": 8,
                           "num_key_value_heads": 2, "head_dim": 48, "ffn_dim": 768, "vocab_size": 1000,
                           "sliding_window": 64, "tie_word_embeddings": True}},
    "inkling2_text": {"small": _INKLING2},
    "inkling2": {"small": {"text_config": _INKLING2,
                           "vision_config": {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                                             "patch_size": 10, "mlp_ratio": 3.0, "posemb_grid_size": 8,
                                             "projection_hidden_dim": 192, "projector_bias": True,
                                             "text_hidden_size": 256, "spatial_merge_size": 3}}},
    "inkling_mm_model": {"small": {"text_config": _INKLING,
                                   "vision_config": {"patch_size": 14, "temporal_patch_size": 3, "n_layers": 6,
                                                     "text_hidden_size": 256},
                                   "audio_config": {"n_mel_bins": 8, "mel_vocab_size": 16,
                                                    "text_hidden_size": 256}}},
    "gemma4_unified_text": {"shared_kv": {**SMALL, "num_hidden_layers": 8, "layer_types": None,
                                          "num_kv_shared_layers": 2, "use_double_wide_mlp": True,
                                          "attention_k_eq_v": True, "attention_bias": True, "global_head_dim": 64,
                                          "num_global_key_value_heads": 1, "tie_word_embeddings": False,
                                          "pad_token_id": None, "eos_token_id": None, "bos_token_id": None}},
}


def model_types() -> dict[str, tuple[str, str]]:
    """model_type -> (mapping, class name); the first mapping that names a type wins."""
    from transformers.models.auto import modeling_auto

    out: dict[str, tuple[str, str]] = {}
    for label, attr in MAPPINGS:
        for model_type, cls in getattr(modeling_auto, attr).items():
            if isinstance(cls, tuple | list):
                cls = cls[0]
            out.setdefault(model_type, (label, cls))
    for label, attr in PREFERRED:
        for model_type, cls in getattr(modeling_auto, attr).items():
            if model_type in out and out[model_type][0] == "causal-lm":
                out[model_type] = (label, cls[0] if isinstance(cls, tuple | list) else cls)
    return out


def count(model_type: str, cls_name: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], int]:
    import torch
    import transformers

    conf = transformers.AutoConfig.for_model(model_type, **overrides)
    cls = getattr(transformers, cls_name)
    with torch.device("meta"):
        model = cls._from_config(conf)
    n = sum(p.numel() for p in model.parameters())
    stored = conf.to_diff_dict()
    stored.pop("transformers_version", None)
    # The test builds from the config as stored: it must still give the same class and count.
    return stored, int(n)


MISSES = ROOT / "tests" / "data" / "golden_sweep_misses.json"


def vram_count(config: dict[str, Any]) -> int | str:
    """vram's count of a stored config, or the one-line reason it refused."""
    sys.path.insert(0, str(ROOT / "src"))
    from vram.architectures import spec_from_config
    from vram.errors import VramError

    try:
        return spec_from_config(config, model_id="sweep").parameters
    except VramError as exc:
        return f"refused: {exc.message}"


def write_misses() -> int:
    """Rewrite tests/data/golden_sweep_misses.json: every entry vram does not count exactly, with a reason
    (a reason written by hand is kept while the entry is still a miss). Needs no torch."""
    doc = json.loads(OUT.read_text())
    old = json.loads(MISSES.read_text()) if MISSES.exists() else {}
    misses: dict[str, str] = {}
    for key, entry in doc["entries"].items():
        got = vram_count(entry["config"])
        if got == entry["count"]:
            continue
        auto = got if isinstance(got, str) else f"vram counts {got:,}, transformers {entry['count']:,}"
        kept = old.get(key, "")
        misses[key] = kept if kept and not kept.startswith(("refused:", "vram counts")) else auto
    MISSES.write_text(json.dumps(dict(sorted(misses.items())), indent=1) + "\n")
    exact = len(doc["entries"]) - len(misses)
    print(f"{exact} of {len(doc['entries'])} entries exact -> {MISSES}")
    write_doc(doc, misses)
    return 0


def write_doc(doc: dict[str, Any], misses: dict[str, str]) -> None:
    """The figure and the misses, between the sweep markers of docs/architectures.md."""
    types: dict[str, bool] = {}
    for key in doc["entries"]:
        types[key.split("@")[0]] = types.get(key.split("@")[0], True) and key not in misses
    variant_only = [k for k in doc["errors"] if k in types]
    unbuilt = [k for k in doc["errors"] if k not in types]
    lines = [f"**{sum(types.values())} of {len(types)} model types exact** (transformers "
             f"{doc['transformers_version']}; {len(doc['entries']) - len(misses)} of {len(doc['entries'])} "
             "entries with the variants). A model type is exact when all its entries are. A model type counts "
             "in the total once transformers builds at least one of its entries (its defaults or a variant).", "",
             f"Built only from a variant that sets what the checkpoints' configs set ({len(variant_only)}): "
             + ", ".join(f"`{k}`" for k in variant_only) + ".", "",
             f"Not built by transformers at all, so not in the total ({len(unbuilt)}): "
             + ", ".join(f"`{k}`" for k in unbuilt) + ".", "", "| entry | why vram misses it |", "|---|---|"]
    lines += [f"| `{k}` | {v.replace('|', '/')} |" for k, v in misses.items()]
    path = ROOT / "docs" / "architectures.md"
    text = path.read_text()
    head, rest = text.split("<!-- sweep:begin -->")
    _, tail = rest.split("<!-- sweep:end -->")
    path.write_text(head + "<!-- sweep:begin -->\n" + "\n".join(lines) + "\n<!-- sweep:end -->" + tail)


def main(argv: list[str]) -> int:
    if argv == ["--misses"]:
        return write_misses()
    import transformers

    only = set(argv)
    doc: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() and only else {"entries": {}}
    doc["transformers_version"] = transformers.__version__
    doc["mappings"] = {label: attr for label, attr in MAPPINGS + PREFERRED}
    entries: dict[str, Any] = doc["entries"]
    errors: dict[str, str] = doc.get("errors", {}) if only else {}
    for model_type, (label, cls_name) in sorted(model_types().items()):
        if only and model_type not in only:
            continue
        runs = {model_type: {}}
        runs.update({f"{model_type}@{name}": over for name, over in VARIANTS.get(model_type, {}).items()})
        for key, overrides in runs.items():
            start = time.perf_counter()
            try:
                config, n = count(model_type, cls_name, overrides)
            except Exception as exc:  # noqa: BLE001 - a class that cannot build is recorded, not fatal
                errors[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
                print(f"{key:40s} ERROR {errors[key]}", flush=True)
                continue
            errors.pop(key, None)
            entries[key] = {"mapping": label, "class": cls_name, "count": n, "config": config}
            print(f"{key:40s} {n:>18,}  {time.perf_counter() - start:5.1f}s", flush=True)
    doc["entries"] = dict(sorted(entries.items()))
    doc["errors"] = dict(sorted(errors.items()))
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"{len(entries)} entries, {len(errors)} errors -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
