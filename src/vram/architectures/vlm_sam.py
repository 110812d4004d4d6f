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
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vision_sam import neck_params, sam_tower
from vram.architectures.vlm import _compose, _sub, _text
from vram.model import Block, Component, Linear, ModelSpec

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


BUILDERS = {"got_ocr2": build_got_ocr2, "pp_chart2table": build_got_ocr2,
            "deepseek_vl_hybrid": build_deepseek_vl_hybrid}
