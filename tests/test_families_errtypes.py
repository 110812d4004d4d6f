"""DBRX, dots.llm1, LFM2-MoE and ESM-2 at their checkpoints' shapes, counted by hand from the modeling files."""

from __future__ import annotations

from vram.architectures import spec_from_config


def test_dbrx_reads_its_sub_configs() -> None:
    # databricks/dbrx-instruct: sizes in attn_config / ffn_config (modeling_dbrx: fused Wqkv, bias-free
    # LayerNorms, 16 gated experts w1/v1/w2 in every layer, a bias-free router).
    cfg = {"model_type": "dbrx", "d_model": 6144, "n_heads": 48, "n_layers": 40, "vocab_size": 100352,
           "max_seq_len": 32768, "attn_config": {"kv_n_heads": 8, "clip_qkv": 8, "rope_theta": 500000},
           "ffn_config": {"ffn_hidden_size": 10752, "moe_num_experts": 16, "moe_top_k": 4}}
    layer = 6144 * (6144 + 2 * 8 * 128) + 6144 * 6144 + 2 * 6144 + 16 * 6144 + 16 * 3 * 10752 * 6144
    total = 2 * 100352 * 6144 + 40 * layer + 6144
    assert total == 131_596_523_520
    assert spec_from_config(cfg, model_id="dbrx").parameters == total


def test_dots1_dense_first_with_qk_norms() -> None:
    # rednote-hilab/dots.llm1.inst: one dense layer, then 128 experts (top 6) and 2 shared experts.
    cfg = {"model_type": "dots1", "hidden_size": 4096, "num_hidden_layers": 62, "num_attention_heads": 32,
           "num_key_value_heads": 32, "head_dim": 128, "intermediate_size": 10944, "moe_intermediate_size": 1408,
           "n_routed_experts": 128, "n_shared_experts": 2, "num_experts_per_tok": 6, "first_k_dense_replace": 1,
           "vocab_size": 152064, "tie_word_embeddings": False}
    attn = 4 * 4096 * 4096 + 2 * 128 + 2 * 4096
    moe = 128 * 3 * 4096 * 1408 + 3 * 4096 * 2 * 1408 + 128 * 4096
    total = 2 * 152064 * 4096 + 62 * attn + 3 * 4096 * 10944 + 61 * moe + 4096
    assert total == 142_774_373_888
    assert spec_from_config(cfg, model_id="dots1").parameters == total


def test_lfm2_moe_dense_first_layers() -> None:
    # LFM2's conv / attention layers; num_dense_layers dense MLPs (intermediate_size as given), then experts.
    kinds = ["conv", "full_attention", "conv", "conv"]
    cfg = {"model_type": "lfm2_moe", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
           "num_key_value_heads": 2, "intermediate_size": 96, "moe_intermediate_size": 32, "num_experts": 4,
           "num_experts_per_tok": 2, "num_dense_layers": 1, "vocab_size": 100, "layer_types": kinds}
    conv = 64 * 3 * 64 + 64 * 3 + 64 * 64
    attn = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 2 * 16
    mixers = 3 * conv + attn
    mlps = 3 * 64 * 96 + 3 * (4 * 3 * 64 * 32 + 4 * 64)
    total = 100 * 64 + mixers + mlps + 4 * 2 * 64 + 64
    assert spec_from_config(cfg, model_id="lfm2_moe").parameters == total


def test_esm2_rotary_masked_lm() -> None:
    # facebook/esm2_t6_8M_UR50D: rotary (no position table), no embedding LayerNorm, a final one, a
    # contact head of layers x heads weights and a bias, the tied LM head's dense, LayerNorm and bias.
    cfg = {"model_type": "esm", "architectures": ["EsmForMaskedLM"], "vocab_size": 33, "hidden_size": 320,
           "num_hidden_layers": 6, "num_attention_heads": 20, "intermediate_size": 1280,
           "position_embedding_type": "rotary", "emb_layer_norm_before": False, "max_position_embeddings": 1026}
    layer = 4 * (320 * 320 + 320) + (320 * 1280 + 1280) + (1280 * 320 + 320) + 4 * 320
    total = 33 * 320 + 6 * layer + 2 * 320 + (6 * 20 + 1) + (320 * 320 + 320 + 2 * 320 + 33)
    assert total == 7_512_474
    assert spec_from_config(cfg, model_id="esm2").parameters == total
