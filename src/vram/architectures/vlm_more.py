"""More vision-language models: a language model, a CLIP / SigLIP / SigLIP2 tower and a projector,
each as transformers 5.23 builds it.

- ``video_llava``: ``models/video_llava/modeling_video_llava.py``: two CLIP towers of one config (an
  image tower and a video tower, both whole) and LLaVA's two-layer projector.
- ``vipllava``: ``models/vipllava/modeling_vipllava.py``: a CLIP tower whose hidden states of several
  layers (``vision_feature_layer``) are concatenated, a LayerNorm over them and a two-layer projector.
- ``cohere2_vision``: ``models/cohere2_vision/modeling_cohere2_vision.py``: SigLIP (its pooling head
  built when ``vision_use_head``), a pixel shuffle by ``downsample_factor`` and a SwiGLU projector
  (``alignment_intermediate_size`` in, half of it into the text width), a Cohere 2 language model.
- ``aya_vision``: ``models/aya_vision/modeling_aya_vision.py``: the same SigLIP, pixel shuffle and SwiGLU
  projector as cohere2_vision with a LayerNorm in front of it, its inner width ``alignment_intermediate_size``
  (the text width when absent); a Cohere 2 language model.
- ``lfm2_vl``: ``models/lfm2_vl/modeling_lfm2_vl.py``: SigLIP2 (a linear patch embedding and a table
  of ``num_patches`` positions, its head when ``vision_use_head``), a pixel unshuffle, a LayerNorm and
  a two-layer projector of ``projector_hidden_size``, an LFM2 language model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _compose, _projector, _sub, _text
from vram.model import Component, Linear, ModelSpec, VisionDims

_CLIP_L = {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14, "num_hidden_layers": 24,
           "num_attention_heads": 16}


def _clip(cfg: Cfg, absent: dict[str, Any], name: str) -> tuple[Component, VisionDims]:
    tower, dims = siglip_or_clip_tower(_sub(cfg, "vision_config", absent), "clip")
    return replace(tower, name=name), dims


def build_video_llava(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="llama", fixed_type=None, tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    absent = {**_CLIP_L, "image_size": 224}
    image, dims = _clip(cfg, absent, "image_tower")
    video, _ = _clip(cfg, absent, "video_tower")
    th, bias = text.text.hidden_size, cfg.bool("multimodal_projector_bias", True)
    layers = cfg.raw("vision_feature_layer", -2)
    n_feat = len(layers) if isinstance(layers, list) else 1
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=dims.hidden_size * n_feat, out_features=th, bias=bias),
        Linear(name="linear_2", in_features=th, out_features=th, bias=bias)))
    grid = dims.llm_tokens_per_image
    full = cfg.str("vision_feature_select_strategy", "default") == "full"
    dims = replace(dims, llm_tokens_per_image=grid + (1 if full else 0), llm_tokens_per_frame=grid + (1 if full else 0))
    notes = [f"images: {dims.llm_tokens_per_image} tokens each; video frames as many each (8 frames per video "
             "in the processor); the image and video towers are two copies of one CLIP config"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[image, video, proj], vision=dims,
                    notes=notes)


def build_vipllava(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="llama", fixed_type=None, tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    tower, dims = _clip(cfg, {**_CLIP_L, "image_size": 336}, "vision_tower")
    layers = cfg.raw("vision_feature_layer", [-2, -5, -8, -11, 6])
    width = dims.hidden_size * (len(layers) if isinstance(layers, list) else 1)
    th = text.text.hidden_size
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=width, out_features=th, bias=True),
        Linear(name="linear_2", in_features=th, out_features=th, bias=True)), other=2 * width)
    notes = [f"images: {dims.llm_tokens_per_image} tokens per {dims.image_size}x{dims.image_size} image"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def _shuffled(dims: VisionDims, factor: int, what: str) -> tuple[VisionDims, list[str]]:
    side = dims.image_size // dims.patch_size // factor
    tokens = side * side
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    return dims, [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} tile ({what}; larger images "
                  "are split into tiles plus a thumbnail)"]


def build_cohere2_vision(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="cohere2", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {"hidden_size": 1152, "intermediate_size": 3072, "image_size": 512,
                                     "num_hidden_layers": 27, "num_attention_heads": 12})
    tower, dims = siglip_or_clip_tower(v, "siglip", keep_head=v.bool("vision_use_head", True))
    factor = cfg.int("downsample_factor", 2)
    inter = cfg.int("alignment_intermediate_size", 36864)
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=dims.hidden_size * factor * factor, out_features=inter, bias=True),
        Linear(name="linear_2", in_features=inter // 2, out_features=text.text.hidden_size, bias=True)))
    dims, notes = _shuffled(dims, factor, f"{factor}x{factor} pixel shuffle")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def build_aya_vision(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="cohere2", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {"hidden_size": 1152, "intermediate_size": 4304, "image_size": 384,
                                     "patch_size": 14, "num_hidden_layers": 26, "num_attention_heads": 14})
    tower, dims = siglip_or_clip_tower(v, "siglip", keep_head=v.bool("vision_use_head", False))
    factor = cfg.int("downsample_factor", 2)
    width = dims.hidden_size * factor * factor
    inter = cfg.int("alignment_intermediate_size", text.text.hidden_size)
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=width, out_features=inter, bias=True),
        Linear(name="linear_2", in_features=inter // 2, out_features=text.text.hidden_size, bias=True)),
        other=2 * width)
    dims, notes = _shuffled(dims, factor, f"{factor}x{factor} pixel shuffle")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def siglip2_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """SigLIP2 (``models/siglip2/modeling_siglip2.py``): the SigLIP layers over a linear patch
    embedding with bias and ``num_patches`` learned positions (resized to the image's grid)."""
    h = v.int("hidden_size", 768)
    patch = v.int("patch_size", 16)
    chans = v.int("num_channels", 3)
    positions = v.int("num_patches", 256)
    side = int(positions ** 0.5)
    base = Cfg({**v._data, "image_size": side * patch, "patch_size": patch, "num_channels": chans},
               where=v._where, used=v.used)
    tower, dims = siglip_or_clip_tower(base, "siglip", keep_head=v.bool("vision_use_head", True))
    # The SigLIP conv has the same weights and bias as SigLIP2's linear patch embedding; its position
    # table has side^2 rows, SigLIP2's num_patches.
    embed = tower.blocks[0]
    embed = replace(embed, other_params=embed.other_params + (positions - side * side) * h)
    return replace(tower, blocks=(embed,) + tower.blocks[1:]), dims


def build_lfm2_vl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    if cfg.has("tie_embedding"):  # Lfm2VlConfig takes LFM2's name for the flag over its own
        cfg = Cfg({**cfg._data, "tie_word_embeddings": cfg.bool("tie_embedding", True)}, where=cfg._where,
                  used=cfg.used)
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="lfm2", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    tower, dims = siglip2_tower(_sub(cfg, "vision_config", {}))
    factor = cfg.int("downsample_factor", 2)
    width = dims.hidden_size * factor * factor
    hidden = cfg.int("projector_hidden_size", 2560)
    bias = cfg.bool("projector_bias", True)
    norm = 2 * width if cfg.bool("projector_use_layernorm", True) else 0
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=width, out_features=hidden, bias=bias),
        Linear(name="linear_2", in_features=hidden, out_features=text.text.hidden_size, bias=bias)), other=norm)
    dims, notes = _shuffled(dims, factor, f"{factor}x{factor} pixel unshuffle of a {dims.image_size}-px grid")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {"aya_vision": build_aya_vision,
            "video_llava": build_video_llava, "vipllava": build_vipllava, "cohere2_vision": build_cohere2_vision,
            "lfm2_vl": build_lfm2_vl}
