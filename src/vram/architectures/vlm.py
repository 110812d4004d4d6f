"""Vision-language models of 2025-26: a language model, a vision tower and a projector.

Each builder follows one transformers 5.x modeling file:
- ``llama4``: ``models/llama4/modeling_llama4.py`` (Llama4ForConditionalGeneration; the text part,
  ``llama4_text``, with MoE / dense interleaving, NoPE layers and chunked attention).
- ``mistral3``: ``models/mistral3/modeling_mistral3.py`` (Mistral-Small 3.x, Magistral, Devstral,
  Ministral 3): Pixtral tower, RMSNorm + patch merger + two-layer projector.
- ``qwen3_vl`` / ``qwen3_vl_moe``: ``models/qwen3_vl{,_moe}/modeling_qwen3_vl{,_moe}.py``.
- ``qwen3_5`` / ``qwen3_5_moe``: ``models/qwen3_5{,_moe}/modeling_qwen3_5{,_moe}.py``.
- ``internvl``: ``models/internvl/modeling_internvl.py`` (InternVL-hf checkpoints).
- ``idefics3`` / ``smolvlm``: ``models/idefics3/modeling_idefics3.py``, ``models/smolvlm/modeling_smolvlm.py``.

The text models of these families are family deltas like any decoder's (``ministral3``,
``qwen3_vl_text`` in families/llama.py, ``qwen3_vl_moe_text`` and ``llama4_text`` in families/moe.py).

How transformers 5.x fills a composite config: a sub-config given as a dict takes the defaults of
its own class (by its model_type, else the composite's default type); an absent sub-config takes
the composite's ``sub_configs_defaults``. The lm_head is tied when the composite's top-level
``tie_word_embeddings`` says so (its class default when absent), whatever the text config says,
except in Llama 4, whose language model is a whole Llama4ForCausalLM tied by its text config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vision import internvl_tower, llama4_tower, pixtral_tower, qwen3_vl_tower
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_MISTRAL3_TEXT = {"model_type": "mistral", "head_dim": 128, "hidden_size": 5120, "intermediate_size": 32768,
                  "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 40,
                  "num_key_value_heads": 8, "vocab_size": 131072}
_MISTRAL3_VISION = {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14, "image_size": 1540,
                    "num_hidden_layers": 24, "num_attention_heads": 16}
_IDEFICS3_VISION = {"hidden_size": 1152, "intermediate_size": 3072, "num_hidden_layers": 12,
                    "num_attention_heads": 16, "image_size": 224, "patch_size": 32}


def _sub(cfg: Cfg, key: str, absent: Mapping[str, Any]) -> Cfg:
    """The sub-config as transformers reads it: the dict given, or the composite's defaults when absent."""
    if cfg.has(key):
        return cfg.sub(key)
    return Cfg(dict(absent), where=key, used=cfg.used)


def _text(cfg: Cfg, t: Cfg, *, default_type: str, fixed_type: str | None, tie_default: bool | None,
          model_id: str, text_tie: bool | None = None) -> ModelSpec:
    """The language model, with the composite's own tie_word_embeddings (``tie_default`` None: the
    composite wraps a whole causal LM that ties by its own text config, as Llama 4 does).
    ``text_tie`` (the text config class's default) for composites whose config class also ties when
    the text config says so (the pre-v5 place of the flag, forwarded by Qwen2-VL-style configs)."""
    from vram.architectures import build_text_model

    text_type = fixed_type or t.str("model_type", default_type)
    if tie_default is None:
        return build_text_model(t, text_type, model_id=model_id)
    tie = cfg.bool("tie_word_embeddings", tie_default)
    if text_tie is not None and not tie:
        tie = t.bool("tie_word_embeddings", text_tie)
    tc = Cfg({**t._data, "tie_word_embeddings": tie}, where=t._where, used=cfg.used)
    return build_text_model(tc, text_type, model_id=model_id)


def _compose(text: ModelSpec, cfg: Cfg, *, model_id: str, model_type: str, extra: list[Component],
             vision: VisionDims | None, notes: list[str]) -> ModelSpec:
    return replace(text, id=model_id, model_type=model_type, components=tuple(extra) + text.components,
                   vision=vision, notes=text.notes + tuple(notes),
                   config_keys=tuple(sorted(set(text.config_keys) | cfg.used)))


def _projector(name: str, linears: tuple[Linear, ...], other: int = 0) -> Component:
    return Component(name="projector", kind="projector", blocks=(Block(name=name, linears=linears,
                                                                       other_params=other),))


def build_llama4(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Llama 4 Scout / Maverick: llama4_text + Llama 4 vision encoder + a bias-free linear projector."""
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="llama4_text", fixed_type="llama4_text", tie_default=None,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    tower, dims = llama4_tower(v)
    out_dim = v.int("vision_output_dim", 7680)
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=out_dim, out_features=text.text.hidden_size),))
    notes = [f"images: {dims.llm_tokens_per_image} tokens per {dims.image_size}x{dims.image_size} tile after the "
             "pixel shuffle (large images are split into several tiles plus a global view)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


_LIGHTON_TEXT = {"model_type": "qwen3", "head_dim": 128, "hidden_size": 1024, "intermediate_size": 3072,
                 "max_position_embeddings": 40960, "num_attention_heads": 16, "num_hidden_layers": 28,
                 "num_key_value_heads": 8, "vocab_size": 151936}
_LIGHTON_VISION = {"head_dim": 64, "hidden_size": 1024, "image_size": 1540, "intermediate_size": 4096,
                   "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14}


# MistralLarge4Config.sub_configs_defaults: its own text class, and a larger Pixtral (gated SiLU MLP).
_LARGE4_VISION = {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 30, "num_attention_heads": 16,
                  "patch_size": 14, "image_size": 1540, "hidden_act": "silu"}
# model_type -> (text sub-config when absent, text type, tied by default, vision sub-config when absent)
_MISTRAL3_LIKE: dict[str, tuple[Mapping[str, Any], str, bool, Mapping[str, Any]]] = {
    "mistral3": (_MISTRAL3_TEXT, "mistral", True, _MISTRAL3_VISION),
    "lighton_ocr": (_LIGHTON_TEXT, "qwen3", True, _LIGHTON_VISION),
    "mistral_large4": ({"model_type": "mistral_large4_text"}, "mistral_large4_text", False, _LARGE4_VISION),
}


def build_mistral3(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Mistral 3.x vision-language models: Pixtral tower, RMSNorm, patch merger, two-layer projector.
    LightOnOCR (``models/lighton_ocr/modeling_lighton_ocr.py``) builds the same parts (a bias-free
    projector of one feature layer) around a qwen3 text model; Mistral Large 4
    (``models/mistral_large4/modeling_mistral_large4.py``) around its MLA + DSA text model, untied."""
    text_absent, text_type, tied, vision_absent = _MISTRAL3_LIKE[model_type]
    t = _sub(cfg, "text_config", text_absent)
    text = _text(cfg, t, default_type=text_type, fixed_type=text_type if model_type == "mistral_large4" else None,
                 tie_default=tied, model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", vision_absent)
    tower, dims = pixtral_tower(v)
    th, vh = text.text.hidden_size, dims.hidden_size
    merge = cfg.int("spatial_merge_size", 2)
    layer_sel = cfg.raw("vision_feature_layer", -1)
    n_feat = len(layer_sel) if isinstance(layer_sel, list) else 1
    bias = cfg.bool("multimodal_projector_bias", False)
    proj = _projector("multi_modal_projector", (
        Linear(name="patch_merger.merging_layer", in_features=vh * merge * merge, out_features=vh),
        Linear(name="linear_1", in_features=vh * n_feat, out_features=th, bias=bias),
        Linear(name="linear_2", in_features=th, out_features=th, bias=bias)), other=vh)
    # Pixtral processor: an image fitted inside image_size, merge x merge patches per token, one
    # [IMG_BREAK] per row of tokens and [IMG_END] after the last row.
    side = dims.image_size // dims.patch_size // merge
    tokens = side * (side + 1)
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: up to {tokens} tokens for an image of {dims.image_size}x{dims.image_size} pixels "
             f"({side}x{side} merged patches plus a break token per row; smaller images use fewer)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


_QWEN_VL_TEXT = {"qwen3_vl": "qwen3_vl_text", "cosmos3_omni": "qwen3_vl_text", "qwen3_vl_moe": "qwen3_vl_moe_text",
                 "qwen3_5": "qwen3_5_text",
                 "qwen3_5_moe": "qwen3_5_moe_text", "cohere_compass": "cohere_compass_text"}


def build_qwen3_vl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Qwen3-VL and Qwen3-VL-MoE: qwen3 / qwen3_moe text + native-resolution ViT with DeepStack.
    Qwen3.5 and Qwen3.5-MoE: the Qwen3-Next-style hybrid text model (Gated DeltaNet + gated attention)
    and the same ViT without DeepStack mergers. Cosmos 3 Omni (``models/cosmos3_omni/modular_cosmos3_omni.py``)
    is Qwen3VLForConditionalGeneration under its own config (its checkpoints' audio parts are not built).
    Cohere Compass (``models/cohere_compass/modeling_cohere_compass.py``) is the same ViT with DeepStack
    on its own text model."""
    text_type = _QWEN_VL_TEXT[model_type]
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type=text_type, fixed_type=text_type, tie_default=False, model_id=model_id)
    v = _sub(cfg, "vision_config", {})
    tower, dims = qwen3_vl_tower(v, deepstack_default=() if model_type.startswith("qwen3_5") else (8, 16, 24))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the merger "
             "(native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower], vision=dims, notes=notes)


def build_internvl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """InternVL (transformers' own class): InternViT + pixel-shuffle LayerNorm/MLP projector + any LM.
    Qianfan-OCR (``models/qianfan_ocr/modeling_qianfan_ocr.py``) builds the same modules; its config
    classes default to a qwen3 text model, an untied lm_head and q/k/v biases in the tower."""
    qianfan = model_type == "qianfan_ocr"
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="qwen3" if qianfan else "qwen2", fixed_type=None, tie_default=not qianfan,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    if qianfan and not v.has("attention_bias"):
        v = Cfg({**v._data, "attention_bias": True}, where="vision_config", used=cfg.used)
    tower, dims = internvl_tower(v)
    ratio = cfg.raw("downsample_ratio", 0.5)
    factor = int(1 / ratio) ** 2 if isinstance(ratio, int | float) and 0 < ratio <= 1 else 4
    width, th = dims.hidden_size * factor, text.text.hidden_size
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=width, out_features=th, bias=True),
        Linear(name="linear_2", in_features=th, out_features=th, bias=True)), other=2 * width)
    tokens = cfg.int("image_seq_length", (dims.llm_tokens_per_image // factor) or 1)
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} tile (dynamic tiling adds tiles "
             "for large images)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def build_idefics3(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Idefics3 and SmolVLM: a SigLIP-style tower without head, pixel shuffle, one bias-free projection."""
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="llama", fixed_type=None, tie_default=False, model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    merged = dict(_IDEFICS3_VISION)
    merged.update({k: val for k, val in v._data.items() if val is not None})
    tower, dims = siglip_or_clip_tower(Cfg(merged, where="vision_config", used=cfg.used), "siglip",
                                       keep_head=False)
    scale = cfg.int("scale_factor", 2)
    proj = _projector("connector", (Linear(name="modality_projection.proj", in_features=dims.hidden_size * scale ** 2,
                                           out_features=text.text.hidden_size),))
    tokens = max(1, dims.llm_tokens_per_image // (scale * scale))
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} tile (large images are split "
             "into tiles plus a global view)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS: dict[str, Callable[..., ModelSpec]] = {
    "llama4": build_llama4,
    "mistral3": build_mistral3,
    "lighton_ocr": build_mistral3,
    "mistral_large4": build_mistral3,
    "qwen3_vl": build_qwen3_vl,
    "cohere_compass": build_qwen3_vl,
    "qwen3_vl_moe": build_qwen3_vl,
    "cosmos3_omni": build_qwen3_vl,
    "qwen3_5": build_qwen3_vl,
    "qwen3_5_moe": build_qwen3_vl,
    "internvl": build_internvl,
    "qianfan_ocr": build_internvl,
    "idefics3": build_idefics3,
    "smolvlm": build_idefics3,
}
