"""config.json -> ModelSpec, one builder per architecture family.

:func:`spec_from_config` is the single entry point. It is pure: a vision tower that lives in
another repository is looked up through the ``towers`` callback that the adapters provide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vram.architectures import _index
from vram.architectures._config import Cfg
from vram.architectures.families import family
from vram.errors import ConfigError, UnsupportedModelError
from vram.model import ModelSpec

if TYPE_CHECKING:
    from vram.architectures.multimodal import TowerLookup

# The original LLaVA-NeXT checkpoints, whose vision tower is another repository (multimodal.py).
_LLAVA_NEXT_ORIGINAL = ("llava_qwen", "llava_llama", "llava_mistral")


def supported_model_types() -> list[str]:
    return sorted(set(_index.MODULE_OF) | set(_LLAVA_NEXT_ORIGINAL))


def _text_module(model_type: str) -> str | None:
    """The module that builds ``model_type`` as a text model (decoder, encoder, encoder-decoder)."""
    module = _index.MODULE_OF.get(model_type)
    return None if module is None or module in _index.MULTIMODAL else module


def _known(model_type: str) -> bool:
    return model_type in _index.MODULE_OF or model_type in _LLAVA_NEXT_ORIGINAL


def class_model_type(cfg: Cfg, model_type: str) -> str | None:
    """The model_type vram reads this config as: its own when known, else the known model_type of the
    first class in ``architectures`` that presets/architectures.json names (transformers' auto mappings
    and remote-code classes with their modeling file), else None."""
    if _known(model_type):
        return model_type
    names = cfg.str_list("architectures") or []
    if not names:
        return None
    # The table is bundled static data (scripts/class_table.py), read once and only for a model_type
    # vram does not know; imported here so that start-up does not pay for it.
    from vram.presets import find_class

    for name in names:
        known = find_class(name)
        if known is not None and _known(known):
            return known
    return None


def _as_class(spec: ModelSpec, model_type: str, known: str, cfg: Cfg) -> ModelSpec:
    """A spec built as ``known`` for a config whose own model_type is ``model_type``: keeps the config's
    name and says which class it was read as."""
    if known == model_type:
        return spec
    from vram.presets import find_class

    name = next((n for n in cfg.str_list("architectures") or [] if find_class(n) == known), known)
    note = f"model_type {model_type!r} counted as {known!r}, the model_type of its architectures class {name}"
    return replace(spec, model_type=model_type, notes=spec.notes + (note,))


def family_of(cfg: Cfg, model_type: str) -> str | None:
    """The model_type whose text builder builds this config: its own, or the one its ``architectures`` names."""
    known = class_model_type(cfg, model_type)
    return known if known is not None and _text_module(known) is not None else None


def build_text_model(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """A decoder: by its family, by the family its ``architectures`` class names, or read generically."""
    known = family_of(cfg, model_type)
    delta = None if known is None else family(known)
    if known is not None and delta is not None:
        from vram.architectures.generic import build

        return _as_class(build(cfg, known, delta, model_id=model_id), model_type, known, cfg)
    if known is not None:
        return _as_class(_index.build(cfg, known, model_id=model_id), model_type, known, cfg)
    from vram.architectures.encoders import encoder_refusal
    from vram.architectures.generic import build

    refusal = encoder_refusal(cfg, model_type)
    if refusal is not None:
        raise UnsupportedModelError(refusal)
    try:
        return build(cfg, model_type, None, model_id=model_id)
    except ConfigError as exc:
        raise UnsupportedModelError(
            f"text model_type {model_type!r} has no family and its config cannot be read generically "
            f"({exc.message}); give a local folder with safetensors files, or a size such as 7B") from exc


def _no_towers(name: str) -> Mapping[str, Any] | None:
    return None


# Where transformers 5.23 puts the language model's layers in its vision-language classes (read off each
# ...ForConditionalGeneration built on the meta device from tests/data/golden_sweep.json's configs):
# model.language_model.layers unless listed here. Remote-code and other composites keep model.layers.
_TEXT_LAYERS = "model.language_model.layers"
_TEXT_LAYERS_ELSEWHERE = {"idefics2": "model.text_model.layers", "idefics3": "model.text_model.layers",
                          "smolvlm": "model.text_model.layers", "llama4": "language_model.model.layers"}
_COMPOSITES = frozenset({
    "cohere2_vision", "deepseek_vl", "gemma3", "gemma4", "glm46v", "glm4v", "glm4v_moe", "idefics2", "idefics3",
    "internvl", "kimi_k25", "lfm2_vl", "lighton_ocr", "llama4", "llava", "llava_next", "llava_next_video",
    "llava_onevision", "mistral3", "mllama", "paligemma", "qwen2_5_vl", "qwen2_vl", "qwen3_5", "qwen3_5_moe",
    "qwen3_vl", "qwen3_vl_moe", "shieldgemma2", "smolvlm", "video_llava", "vipllava"})


def _with_layer_path(spec: ModelSpec, model_type: str) -> ModelSpec:
    """A transformers vision-language model's decoder layers under their real module path."""
    if model_type not in _COMPOSITES or not any(c.kind == "vision" for c in spec.components):
        return spec
    path = _TEXT_LAYERS_ELSEWHERE.get(model_type, _TEXT_LAYERS)
    return replace(spec, components=tuple(replace(c, layer_path=path) if c.kind == "decoder" else c
                                          for c in spec.components))


def spec_from_config(config: Mapping[str, Any], *, model_id: str, towers: TowerLookup = _no_towers) -> ModelSpec:
    """Build the ModelSpec of a config.json mapping.

    Raises ConfigError (a field missing, of the wrong type or impossible) or UnsupportedModelError.
    """
    cfg = Cfg(config)
    model_type = cfg.str("model_type", None)
    if model_type is None:
        raise ConfigError("config field 'model_type' is missing: cannot tell the architecture")
    try:
        known = class_model_type(cfg, model_type) or model_type
        if known in _LLAVA_NEXT_ORIGINAL:
            from vram.architectures.multimodal import build_llava_next_original

            spec = build_llava_next_original(cfg, known, model_id=model_id, towers=towers)
            return _as_class(spec, model_type, known, cfg)
        if _index.MODULE_OF.get(known) in _index.MULTIMODAL:
            return _as_class(_with_layer_path(_index.build(cfg, known, model_id=model_id), known), model_type, known,
                             cfg)
        return build_text_model(cfg, model_type, model_id=model_id)
    except UnsupportedModelError:
        raise
    except (ValueError, TypeError, ArithmeticError, KeyError, AttributeError, RecursionError) as exc:
        # The model classes raise ValueError on impossible values (a negative size): those end here.
        raise ConfigError(f"config of model_type {model_type!r} is not valid: {_one_line(exc)}") from exc


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


SIZE_LITERAL_WIDTH = 4096


def spec_from_size(parameters: int, *, model_id: str) -> ModelSpec:
    """A model known only by its parameter count.

    The parameters are treated as decoder weight matrices 4096 values wide, so that quantized
    formats can count their per-group scales; there are no layers, so no KV cache or activations.
    """
    from vram.model import Block, Component, Linear

    rows, rest = divmod(parameters, SIZE_LITERAL_WIDTH)
    linears = (Linear(name="weights", in_features=SIZE_LITERAL_WIDTH, out_features=rows),) if rows else ()
    block = Block(name="weights", linears=linears, other_params=rest)
    return ModelSpec(id=model_id, model_type="size", components=(Component(name="weights", kind="decoder",
                                                                           blocks=(block,)),),
                     notes=("size literal: all parameters counted as quantizable weight matrices",))
