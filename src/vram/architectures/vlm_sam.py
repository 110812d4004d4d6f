"""Vision-language models on the SAM image encoder (``vision_sam.py``).

Files followed (transformers 5.23):

- ``got_ocr2`` (and ``pp_chart2table``, which builds GotOcr2ForConditionalGeneration):
  ``models/got_ocr2/modeling_got_ocr2.py``. The SAM tower with its neck, then
  GotOcr2MultiModalProjector: two bias-free stride-2 3x3 convolutions (``output_channels`` into twice
  as many, then into the text width) and a linear layer with bias; a qwen2 text model (the config
  class's ``sub_configs_defaults``: 1,024 wide, 24 layers, 151,860 tokens) tied by the composite's
  ``tie_word_embeddings``. An image of ``image_size`` pixels becomes (grid / 4)^2 tokens.
- ``deepseek_vl_hybrid``: ``models/deepseek_vl_hybrid/modeling_deepseek_vl_hybrid.py``. DeepSeek-VL's
  SigLIP tower and llama text model, plus a SAM high-resolution tower (``high_res_vision_config``,
  a SamVisionModel with its own neck), a second neck, DeepseekVLSamVisionProj (two bias-free
  stride-2 convolutions to four times ``output_channels``), a scalar ``high_res_vision_alpha`` and an
  aligner of three linear layers with biases (each tower into half the text width, then text width to
  text width). An image becomes the SigLIP grid's tokens.
- ``pp_formulanet``: ``models/pp_formulanet/modeling_pp_formulanet.py``. An encoder-decoder: the SAM
  tower (class defaults: 512 px) with its neck, then PPFormulaNetMultiModalProjector (two bias-free
  stride-2 3x3 convolutions ``post_conv_in`` -> ``post_conv_mid`` -> ``post_conv_out_channels``, two linear
  layers with biases into ``decoder_hidden_size``) as the encoder; an mBART-style decoder
  (PPFormulaNetTextModel: a token table, ``max_position_embeddings`` + 2 learned positions, an embedding
  LayerNorm, layers of self-attention and cross-attention with biases and LayerNorms, an fc1 / fc2 MLP
  with biases and a LayerNorm, a final LayerNorm) and an lm_head the class never ties. The decoder's
  cross-attention caches the encoder's (grid / 4)^2 tokens once per sequence.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.decoders import _dtype
from vram.architectures.layers import lm_head
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vision_sam import neck_params, sam_tower
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

# GotOcr2Config / PPChart2TableConfig's sub_configs_defaults for an absent text_config.
_GOT_TEXT = {"model_type": "qwen2", "vocab_size": 151860, "hidden_size": 1024, "intermediate_size": 2816,
             "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 16,
             "tie_word_embeddings": True}
# LlamaConfig's defaults (DeepseekVLHybridConfig's text model when text_config is absent).
_LLAMA = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
          "num_hidden_layers": 32, "num_attention_heads": 32}


def build_got_ocr2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", _GOT_TEXT), default_type="qwen2", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    tower, dims = sam_tower(_sub(cfg, "vision_config", {}))
    out = _sub(cfg, "vision_config", {}).int("output_channels", 256)
    th = text.text.hidden_size
    proj = Component(name="projector", kind="projector", blocks=(
        Block(name="conv_upsamplers", other_params=9 * out * 2 * out + 9 * 2 * out * th),
        Block(name="multi_modal_projector", linears=(
            Linear(name="multimodal_projector", in_features=th, out_features=th, bias=True),))))
    side = ((dims.image_size // dims.patch_size + 1) // 2 + 1) // 2  # two stride-2 3x3 convolutions, padding 1
    dims = replace(dims, llm_tokens_per_image=side * side, llm_tokens_per_frame=side * side)
    notes = [f"images: {side * side} tokens per {dims.image_size}x{dims.image_size} image (the SAM grid after two "
             "stride-2 convolutions; multi-page and cropped inputs add images)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def build_deepseek_vl_hybrid(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", _LLAMA), default_type="llama", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    tower, dims = siglip_or_clip_tower(_sub(cfg, "vision_config", {}), "siglip")
    hv = _sub(cfg, "high_res_vision_config", {})
    high, _ = sam_tower(hv, name="high_res_vision_tower")
    hh, out = hv.int("hidden_size", 768), hv.int("output_channels", 256)
    th = text.text.hidden_size
    high = replace(high, blocks=high.blocks + (
        Block(name="high_res_vision_neck", other_params=neck_params(hh, out)),
        Block(name="high_res_vision_proj", other_params=9 * out * 2 * out + 9 * 2 * out * 4 * out + 1)))
    aligner = Component(name="projector", kind="projector", blocks=(Block(name="aligner", linears=(
        Linear(name="vision_proj", in_features=dims.hidden_size, out_features=th // 2, bias=True),
        Linear(name="high_res_vision_proj", in_features=4 * out, out_features=th // 2, bias=True),
        Linear(name="proj", in_features=th, out_features=th, bias=True))),))
    notes = [f"images: {dims.llm_tokens_per_image} tokens per image ({dims.image_size}x{dims.image_size} SigLIP "
             "view beside a SAM high-resolution view)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, high, aligner], vision=dims,
                    notes=notes)


_FORMULANET_TEXT = {"vocab_size": 50000, "max_position_embeddings": 2560, "decoder_layers": 8,
                    "decoder_ffn_dim": 2048, "decoder_attention_heads": 16, "d_model": 512}


def build_pp_formulanet(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    v = _sub(cfg, "vision_config", {})
    merged = {"image_size": 512, **{k: val for k, val in v._data.items() if val is not None}}
    v = Cfg(merged, where="vision_config", used=cfg.used)
    tower, dims = sam_tower(v)
    c_in, c_mid = v.int("post_conv_in_channels", 256), v.int("post_conv_mid_channels", 512)
    c_out, d_out = v.int("post_conv_out_channels", 1024), v.int("decoder_hidden_size", 512)
    encoder = Component(name="encoder", kind="other", blocks=tower.blocks + (
        Block(name="multi_modal_projector", linears=(
            Linear(name="linear_1", in_features=c_out, out_features=c_out, bias=True),
            Linear(name="linear_2", in_features=c_out, out_features=d_out, bias=True)),
            other_params=9 * c_in * c_mid + 9 * c_mid * c_out),))
    t = _sub(cfg, "text_config", {})
    t = Cfg({**_FORMULANET_TEXT, **{k: val for k, val in t._data.items() if val is not None}}, where="text_config",
            used=cfg.used)
    d, vocab, layers = t.int("d_model"), t.int("vocab_size"), t.int("decoder_layers")
    heads, ffn, positions = t.int("decoder_attention_heads"), t.int("decoder_ffn_dim"), t.int("max_position_embeddings")
    if d % heads:
        raise ConfigError(f"config field 'text_config:d_model' ({d}) is not divisible by the heads ({heads})")
    hd = d // heads
    tokens = (((dims.image_size // dims.patch_size + 1) // 2 + 1) // 2) ** 2

    def attn(prefix: str) -> tuple[Linear, ...]:
        return tuple(Linear(name=f"{prefix}.{n}", in_features=d, out_features=d, bias=True)
                     for n in ("q_proj", "k_proj", "v_proj", "out_proj"))

    layer = Block(name="decoder_layer", count=layers, linears=attn("self_attn") + (
        Linear(name="fc1", in_features=d, out_features=ffn, bias=True),
        Linear(name="fc2", in_features=ffn, out_features=d, bias=True)), other_params=4 * d,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd),
        mlp_width=ffn, gated_mlp=False)
    cross = Block(name="cross_attention", within_layers=True, count=layers, linears=attn("encoder_attn"),
                  other_params=2 * d,
                  attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd,
                                      cross_tokens=tokens, cross_source="encoder"))
    comps = (encoder,
             Component(name="embeddings", kind="embedding", blocks=(
                 Block(name="embed_tokens", embedding_params=vocab * d + (positions + 2) * d, other_params=2 * d),)),
             Component(name="decoder", kind="decoder", blocks=(layer, cross, Block(name="layer_norm",
                                                                                   other_params=2 * d))),
             lm_head(d, vocab))
    text = TextDims(hidden_size=d, num_layers=layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions)
    notes = (f"encoder-decoder: the SAM encoder turns a {dims.image_size}x{dims.image_size} image into {tokens} "
             f"tokens, which the decoder's {layers} cross-attention layers cache once per sequence",)
    return ModelSpec(id=model_id, model_type=model_type, components=comps, text=text, checkpoint_dtype=_dtype(cfg),
                     notes=notes, config_keys=tuple(sorted(cfg.used)))


BUILDERS = {"pp_formulanet": build_pp_formulanet, "got_ocr2": build_got_ocr2, "pp_chart2table": build_got_ocr2,
            "deepseek_vl_hybrid": build_deepseek_vl_hybrid}
