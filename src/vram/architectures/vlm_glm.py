"""GLM-4.1V / GLM-4.5V / GLM-4.6V: the GLM-4V ViT on a GLM-4 or GLM-4.5-MoE language model.

Files followed (transformers 5.23): ``models/glm4v/modeling_glm4v.py`` (``glm4v``),
``models/glm46v/modeling_glm46v.py`` (``glm46v``: the same model classes) and
``models/glm4v_moe/modeling_glm4v_moe.py`` (``glm4v_moe``); ``glmga`` is built as
Glm46VForConditionalGeneration (``models/glmga/modular_glmga.py``: only its config and processors differ);
``models/glm_ocr/modeling_glm_ocr.py`` (``glm_ocr``: the tower variant below, a bias-free text attention).
The ViT (``Glm4vVisionModel``):

- a Conv3d patch embedding (temporal_patch_size x patch_size^2, with bias) and a learned table of
  (image_size / patch_size)^2 positions, interpolated to the image's grid; an RMSNorm after the patch
  embedding (``post_conv_layernorm``);
- ``depth`` blocks of two RMSNorms, attention (fused qkv, biased by ``attention_bias``; a bias-free
  output projection) and a bias-free SwiGLU MLP whose hidden width is ``out_hidden_size``;
- a final RMSNorm, a Conv2d of kernel and stride ``spatial_merge_size`` into ``out_hidden_size`` (with
  bias; the 2x2 patches become one token), then the patch merger: a bias-free linear layer, a LayerNorm
  and a bias-free SwiGLU of ``intermediate_size``.

The language models are the ``glm4v_text`` / ``glm4v_moe_text`` families (families/glm4v.py).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.vision import _attention
from vram.architectures.vlm import _compose, _sub, _text
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_TEXT = {"glm4v": "glm4v_text", "glm46v": "glm4v_text", "glm4v_moe": "glm4v_moe_text", "glmga": "glm4v_text",
         "glm_ocr": "glm_ocr_text"}
# GlmOcrVisionConfig's defaults where they differ from Glm4vVisionConfig's.
_OCR_VISION = {"hidden_size": 1024, "attention_bias": True, "num_heads": 16, "out_hidden_size": 1536,
               "intermediate_size": 4096}


def _lin(name: str, n_in: int, n_out: int, bias: bool = False) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def glm4v_tower(v: Cfg, *, ocr: bool = False) -> tuple[Component, VisionDims]:
    """``ocr``: GLM-OCR's variant (``models/glm_ocr/modeling_glm_ocr.py``, GlmOcrVisionModel): no position
    table and no post-conv norm, q/k RMSNorms of head size, ``attention_bias`` on the output projection
    and the MLP too, an MLP of ``intermediate_size`` (not ``out_hidden_size``), and a merger whose
    hidden width is ``out_hidden_size x in_channels``."""
    h, depth, heads = v.int("hidden_size", 1536), v.int("depth", 24), v.int("num_heads", 12)
    out, inter = v.int("out_hidden_size", 4096), v.int("intermediate_size", 13696)
    patch, tps, chans = v.int("patch_size", 14), v.int("temporal_patch_size", 2), v.int("in_channels", 3)
    merge, table = v.int("spatial_merge_size", 2), v.int("image_size", 336)
    bias = v.bool("attention_bias", False)
    attn = _attention(h, heads)
    more = ocr and bias
    mlp = inter if ocr else out
    block = Block(name="vision_block", count=depth, linears=(
        _lin("attn.qkv", h, 3 * h, bias), _lin("attn.proj", h, h, more),
        _lin("mlp.gate_proj", h, mlp, more), _lin("mlp.up_proj", h, mlp, more), _lin("mlp.down_proj", mlp, h, more)),
        other_params=2 * h + (2 * attn.head_dim if ocr else 0), attention=attn, mlp_width=mlp)
    merger_width = out * chans if ocr else inter
    blocks = (Block(name="patch_embed", other_params=chans * tps * patch * patch * h + h),
              *(() if ocr else (Block(name="position_embedding", embedding_params=(table // patch) ** 2 * h),)),
              block,
              # post_conv_layernorm (not in GLM-OCR), post_layernorm
              Block(name="post_norms", other_params=h if ocr else 2 * h),
              Block(name="downsample", other_params=h * out * merge * merge + out),
              Block(name="merger", linears=(_lin("merger.proj", out, out),
                                            _lin("merger.gate_proj", out, merger_width),
                                            _lin("merger.up_proj", out, merger_width),
                                            _lin("merger.down_proj", merger_width, out)),
                    other_params=2 * out))
    image = 448
    grid = (image // patch) ** 2
    tokens = grid // (merge * merge)
    dims = VisionDims(hidden_size=h, num_layers=depth, num_heads=heads, intermediate_size=out, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens // tps, resize="native", merge=merge * merge)
    return Component(name="vision_tower", kind="vision", blocks=blocks), dims


def build_glm4v(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text_type = _TEXT[model_type]
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type=text_type, fixed_type=text_type, tie_default=False, model_id=model_id,
                 text_tie=False)
    v = _sub(cfg, "vision_config", {})
    if model_type == "glm_ocr":
        v = Cfg({**_OCR_VISION, **{k: val for k, val in v._data.items() if val is not None}}, where="vision_config",
                used=cfg.used)
    tower, dims = glm4v_tower(v, ocr=model_type == "glm_ocr")
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the 2x2 downsample "
             "(native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower], vision=dims, notes=notes)


BUILDERS = {t: build_glm4v for t in _TEXT}
