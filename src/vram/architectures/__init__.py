"""config.json -> ModelSpec, one builder per architecture family.

:func:`spec_from_config` is the single entry point. It is pure: a vision tower that lives in
another repository is looked up through the ``towers`` callback that the adapters provide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.classic import FAMILIES as CLASSIC
from vram.architectures.classic import build_classic
from vram.architectures.decoders import build_falcon, build_gpt2
from vram.architectures.encdec import BUILDERS as ENCDEC_BUILDERS
from vram.architectures.encdec_bart import BUILDERS as BART_BUILDERS
from vram.architectures.encdec_gemma import BUILDERS as GEMMA_ENCDEC_BUILDERS
from vram.architectures.encdec_gemma2 import BUILDERS as GEMMA2_ENCDEC_BUILDERS
from vram.architectures.encdec_moe import BUILDERS as MOE_ENCDEC_BUILDERS
from vram.architectures.encdec_more import BUILDERS as MORE_ENCDEC_BUILDERS
from vram.architectures.encoders import BUILDERS as ENCODER_BUILDERS
from vram.architectures.encoders import encoder_refusal
from vram.architectures.encoders_bert import BUILDERS as BERT_VARIANT_BUILDERS
from vram.architectures.encoders_deberta import BUILDERS as DEBERTA_BUILDERS
from vram.architectures.families import ARCHITECTURES, FAMILIES
from vram.architectures.generic import build
from vram.architectures.multimodal import (
    TowerLookup,
    build_llava_hf,
    build_llava_next_original,
    build_mllama,
    build_qwen_vl,
)
from vram.architectures.nemotron_nas import build_nemotron_nas
from vram.architectures.vlm import BUILDERS as VLM_BUILDERS
from vram.architectures.vlm_aria import BUILDERS as ARIA_VLM_BUILDERS
from vram.architectures.vlm_deepseek import BUILDERS as DEEPSEEK_VLM_BUILDERS
from vram.architectures.vlm_ernie import BUILDERS as ERNIE_VLM_BUILDERS
from vram.architectures.vlm_evolla import BUILDERS as EVOLLA_VLM_BUILDERS
from vram.architectures.vlm_florence import BUILDERS as FLORENCE_VLM_BUILDERS
from vram.architectures.vlm_fuyu import BUILDERS as FUYU_VLM_BUILDERS
from vram.architectures.vlm_gemma import BUILDERS as GEMMA_VLM_BUILDERS
from vram.architectures.vlm_git import BUILDERS as GIT_VLM_BUILDERS
from vram.architectures.vlm_glm import BUILDERS as GLM_VLM_BUILDERS
from vram.architectures.vlm_idefics import BUILDERS as IDEFICS_VLM_BUILDERS
from vram.architectures.vlm_janus import BUILDERS as JANUS_VLM_BUILDERS
from vram.architectures.vlm_kimi import BUILDERS as KIMI_VLM_BUILDERS
from vram.architectures.vlm_kosmos import BUILDERS as KOSMOS_VLM_BUILDERS
from vram.architectures.vlm_molmo import BUILDERS as MOLMO_VLM_BUILDERS
from vram.architectures.vlm_more import BUILDERS as MORE_VLM_BUILDERS
from vram.architectures.vlm_ovis import BUILDERS as OVIS_VLM_BUILDERS
from vram.architectures.vlm_perceiver import BUILDERS as PERCEIVER_VLM_BUILDERS
from vram.architectures.vlm_pi0 import BUILDERS as PI0_VLM_BUILDERS
from vram.architectures.vlm_qformer import BUILDERS as QFORMER_VLM_BUILDERS
from vram.architectures.vlm_sam import BUILDERS as SAM_VLM_BUILDERS
from vram.errors import ConfigError, UnsupportedModelError
from vram.model import ModelSpec

_TEXT_OTHER = {"gpt2": build_gpt2, "gpt_bigcode": build_gpt2, "falcon": build_falcon,
               "nemotron-nas": build_nemotron_nas}
# Classes of remote-code models (no transformers class) whose builder is one of _TEXT_OTHER's.
_TEXT_ARCHITECTURES = {"DeciLMForCausalLM": "nemotron-nas"}
_MULTIMODAL = {
    "llava": build_llava_hf,
    "llava_next": build_llava_hf,
    "llava_next_video": build_llava_hf,
    "llava_onevision": build_llava_hf,
    "qwen2_vl": build_qwen_vl,
    "qwen2_5_vl": build_qwen_vl,
    "mllama": build_mllama,
}
_LLAVA_NEXT_ORIGINAL = ("llava_qwen", "llava_llama", "llava_mistral")
# Vision-language, encoder-decoder and encoder families (vlm.py, encdec.py, encoders.py); the text
# models of the vision-language families are family deltas (families/llama.py, families/moe.py).
_MULTIMODAL.update(VLM_BUILDERS)
_MULTIMODAL.update(GEMMA_VLM_BUILDERS)
_MULTIMODAL.update(MORE_VLM_BUILDERS)
_MULTIMODAL.update(GLM_VLM_BUILDERS)
_MULTIMODAL.update(KIMI_VLM_BUILDERS)
_MULTIMODAL.update(PERCEIVER_VLM_BUILDERS)
_MULTIMODAL.update(DEEPSEEK_VLM_BUILDERS)
_MULTIMODAL.update(SAM_VLM_BUILDERS)
_MULTIMODAL.update(QFORMER_VLM_BUILDERS)
_MULTIMODAL.update(JANUS_VLM_BUILDERS)
_MULTIMODAL.update(OVIS_VLM_BUILDERS)
_MULTIMODAL.update(MOLMO_VLM_BUILDERS)
_MULTIMODAL.update(ARIA_VLM_BUILDERS)
_MULTIMODAL.update(KOSMOS_VLM_BUILDERS)
_MULTIMODAL.update(FUYU_VLM_BUILDERS)
_MULTIMODAL.update(GIT_VLM_BUILDERS)
_MULTIMODAL.update(IDEFICS_VLM_BUILDERS)
_MULTIMODAL.update(PI0_VLM_BUILDERS)
_MULTIMODAL.update(EVOLLA_VLM_BUILDERS)
_MULTIMODAL.update(FLORENCE_VLM_BUILDERS)
_MULTIMODAL.update(ERNIE_VLM_BUILDERS)
_TEXT_OTHER.update(ENCDEC_BUILDERS)
_TEXT_OTHER.update(BART_BUILDERS)
_TEXT_OTHER.update(MOE_ENCDEC_BUILDERS)
_TEXT_OTHER.update(MORE_ENCDEC_BUILDERS)
_TEXT_OTHER.update(GEMMA_ENCDEC_BUILDERS)
_TEXT_OTHER.update(GEMMA2_ENCDEC_BUILDERS)
_TEXT_OTHER.update(ENCODER_BUILDERS)
_TEXT_OTHER.update(BERT_VARIANT_BUILDERS)
_TEXT_OTHER.update(DEBERTA_BUILDERS)


def supported_model_types() -> list[str]:
    return sorted(set(FAMILIES) | set(CLASSIC) | set(_TEXT_OTHER) | set(_MULTIMODAL) | set(_LLAVA_NEXT_ORIGINAL))


def family_of(cfg: Cfg, model_type: str) -> str | None:
    """The model_type whose family builds this config: its own, or the one its ``architectures`` names."""
    if model_type in FAMILIES or model_type in _TEXT_OTHER or model_type in CLASSIC:
        return model_type
    for name in cfg.str_list("architectures") or []:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
        if name in _TEXT_ARCHITECTURES:
            return _TEXT_ARCHITECTURES[name]
    return None


def build_text_model(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """A decoder: by its family, by the family its ``architectures`` class names, or read generically."""
    known = family_of(cfg, model_type)
    if known in FAMILIES:
        spec = build(cfg, known, FAMILIES[known], model_id=model_id)
        if known != model_type:
            spec = replace(spec, model_type=model_type, notes=spec.notes + (
                f"model_type {model_type!r} counted as {known!r}, the family of its architectures class",))
        return spec
    if known in _TEXT_OTHER:
        return _TEXT_OTHER[known](cfg, known, model_id=model_id)
    if known in CLASSIC:
        return build_classic(cfg, known, model_id=model_id)
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


def spec_from_config(config: Mapping[str, Any], *, model_id: str, towers: TowerLookup = _no_towers) -> ModelSpec:
    """Build the ModelSpec of a config.json mapping.

    Raises ConfigError (a field missing, of the wrong type or impossible) or UnsupportedModelError.
    """
    cfg = Cfg(config)
    model_type = cfg.str("model_type", None)
    if model_type is None:
        raise ConfigError("config field 'model_type' is missing: cannot tell the architecture")
    try:
        if model_type in _LLAVA_NEXT_ORIGINAL:
            return build_llava_next_original(cfg, model_type, model_id=model_id, towers=towers)
        if model_type in _MULTIMODAL:
            return _MULTIMODAL[model_type](cfg, model_type, model_id=model_id)
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
