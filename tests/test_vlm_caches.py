"""Caches of the image encoder-decoders and the composites' towers, checked by hand.

T5Gemma 2's decoder attention is merged: each layer caches its own tokens (sliding or full) and the
encoded input once per sequence; Pix2Struct's and PP-FormulaNet's decoders cache the image encoder's
tokens once per sequence (the processor's 2,048 patches; the SAM grid after two stride-2 convolutions).
The vision towers, Q-Formers and projectors of the composites cache nothing.
"""

from __future__ import annotations

from tests.conftest import workload
from vram.architectures import spec_from_config
from vram.terms.kv import kv_cache


def _kv(config: dict[str, object], **kw: object) -> tuple[int, dict[str, int]]:
    spec = spec_from_config(config, model_id="x")
    total, terms = kv_cache(spec, workload(**kw))
    return total, {t.name: t.bytes for t in terms}


def test_t5gemma2_merged_attention_caches_own_tokens_and_the_encoded_input() -> None:
    # 6 decoder layers (5 sliding of 64 tokens, 1 full), 1 KV head of 48; bf16, batch 1, 100 tokens.
    dec = {"vocab_size": 1000, "hidden_size": 256, "intermediate_size": 384, "num_hidden_layers": 6,
           "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 48, "sliding_window": 64}
    total, terms = _kv({"model_type": "t5gemma2", "decoder": dec}, seq_len=100, batch_size=1)
    assert terms["decoder_sliding_layer (sliding)"] == 5 * 1 * (48 + 48) * 64 * 2
    assert terms["decoder_full_layer (full)"] == 1 * 1 * (48 + 48) * 100 * 2
    assert terms["merged_attention.encoder_kv (cross)"] == 6 * 1 * (48 + 48) * 100 * 2
    assert total == 61_440 + 19_200 + 115_200


def test_pix2struct_decoder_caches_the_image_patches_once() -> None:
    # pix2struct defaults: 12 decoder layers, 12 heads x 64 (the text width 768); 2,048 encoder patches.
    _, short = _kv({"model_type": "pix2struct"}, seq_len=10, batch_size=1)
    _, long = _kv({"model_type": "pix2struct"}, seq_len=40, batch_size=1)
    assert short["cross_attention (cross)"] == long["cross_attention (cross)"] == 12 * 12 * 128 * 2048 * 2
    self_short = sum(v for k, v in short.items() if k.startswith("decoder_layer"))
    assert self_short == 12 * 12 * 128 * 10 * 2


def test_pp_formulanet_cross_cache_is_the_sam_grid_after_the_projector() -> None:
    # 512 px / 16 = 32 patches a side, two stride-2 convolutions: 8 x 8 = 64 tokens; 8 layers, 16 heads of 32.
    _, terms = _kv({"model_type": "pp_formulanet"}, seq_len=10, batch_size=1)
    assert terms["cross_attention (cross)"] == 8 * 16 * 64 * 64 * 2


def test_composite_towers_cache_nothing() -> None:
    # BLIP-2's cache is its OPT decoder's alone: 12 layers x 12 heads x 64, K and V, bf16, 100 tokens.
    total, terms = _kv({"model_type": "blip-2"}, seq_len=100, batch_size=1)
    assert total == 12 * 768 * 2 * 100 * 2
    assert all(name.startswith("decoder_layer") for name in terms)


def test_idefics_cross_layers_cache_the_resampled_image_per_image() -> None:
    # 4 self layers and 4 // 2 gated cross layers of 8 heads x 32; the resampler's 16 latents per image;
    # the text holds one image token. bf16, batch 1.
    config = {"model_type": "idefics", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
              "num_hidden_layers": 4, "num_attention_heads": 8, "cross_layer_interval": 2, "use_resampler": True,
              "perceiver_config": {"resampler_n_latents": 16, "resampler_depth": 1, "resampler_n_heads": 4,
                                   "resampler_head_dim": 32},
              "vision_config": {"embed_dim": 128, "intermediate_size": 256, "num_hidden_layers": 1,
                                "num_attention_heads": 4, "image_size": 112, "patch_size": 14}}
    none, _ = _kv(config, seq_len=100, images=0)
    one, _ = _kv(config, seq_len=100, images=1)
    assert one - none == 2 * 8 * 64 * 16 * 2 + 4 * 8 * 64 * 1 * 2


def test_evolla_aligners_cache_the_compressed_protein_once() -> None:
    # 7 llama layers, aligners on layers 2, 4 and 6 (step 7 // 3 = 2): 8 heads x 32 over 8 latents, K and V,
    # bf16, batch 1; the self-attention has 2 KV heads.
    config = {"model_type": "evolla", "vocab_size": 1000, "hidden_size": 256, "intermediate_size": 512,
              "num_hidden_layers": 7, "num_attention_heads": 8, "num_key_value_heads": 2,
              "aligner_num_add_layers": 3, "resampler_depth": 1, "resampler_num_latents": 8,
              "protein_encoder_config": {"vocab_size": 100, "hidden_size": 128, "num_hidden_layers": 1,
                                         "num_attention_heads": 4, "intermediate_size": 256}}
    total, terms = _kv(config, seq_len=100, batch_size=1)
    assert terms["aligner (cross)"] == 3 * 8 * 64 * 8 * 2
    assert total == terms["aligner (cross)"] + 7 * 2 * 64 * 100 * 2
