"""PI0: a PaliGemma vision-language model and a Gemma action expert with the action projections of a
flow-matching policy (vision-language-action).

File followed: transformers 5.23 ``models/pi0/modeling_pi0.py`` (PI0ForConditionalGeneration), defaults
from ``configuration_pi0.py`` (``sub_configs_defaults``: PaliGemma with a 2,048-wide, 18-layer Gemma and
a 27-layer SigLIP without head; a 1,024-wide, 18-layer Gemma expert).

- ``vlm``: the PaliGemma model without its lm_head (AutoModel builds the base model), as
  ``vlm_gemma.build_paligemma`` counts it.
- ``dit``: a GemmaModel (its token table, layers and final norm, no lm_head), ``dit_config``.
- The action and state projections (PI0ActionTimeEmbedding: ``max_action_dim`` and ``max_state_dim``
  into the expert width, a two-layer MLP over the action and time features, all with biases) and
  ``action_out_proj`` back to ``max_action_dim``; the sinusoidal time embedding is a buffer.
- Only the PaliGemma layers cache K/V (the prefix the action expert attends to); the expert runs over
  ``chunk_size`` action tokens per denoising step and caches nothing here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.vlm import _sub
from vram.architectures.vlm_gemma import build_paligemma
from vram.model import Block, Component, Linear, ModelSpec

_VLM: dict[str, Any] = {
    "model_type": "paligemma", "projection_dim": 2048,
    "text_config": {"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18, "intermediate_size": 16384,
                    "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 257152},
    "vision_config": {"model_type": "siglip_vision_model", "intermediate_size": 4304, "hidden_size": 1152,
                      "patch_size": 14, "image_size": 224, "num_hidden_layers": 27, "num_attention_heads": 16,
                      "vision_use_head": False}}
_DIT: dict[str, Any] = {"model_type": "gemma", "hidden_size": 1024, "num_hidden_layers": 18, "intermediate_size": 4096,
                        "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000}


def build_pi0(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    from vram.architectures import build_text_model

    vlm = build_paligemma(_sub(cfg, "vlm_config", _VLM), "paligemma", model_id=model_id)
    d = _sub(cfg, "dit_config", _DIT)
    dit = build_text_model(Cfg({**d._data, "tie_word_embeddings": True}, where=d._where, used=cfg.used),
                           d.str("model_type", "gemma"), model_id=model_id)
    assert dit.text is not None
    eh = dit.text.hidden_size
    action, state = cfg.int("max_action_dim", 32), cfg.int("max_state_dim", 32)
    expert = Component(name="action_expert", kind="other", blocks=tuple(
        replace(b, name=f"dit.{b.name}", attention=None) for c in dit.components if c.kind != "head"
        for b in c.blocks) + (Block(name="action_projections", linears=(
            Linear(name="action_in_proj", in_features=action, out_features=eh, bias=True),
            Linear(name="state_proj", in_features=state, out_features=eh, bias=True),
            Linear(name="action_time_mlp_in", in_features=2 * eh, out_features=eh, bias=True),
            Linear(name="action_time_mlp_out", in_features=eh, out_features=eh, bias=True),
            Linear(name="action_out_proj", in_features=eh, out_features=action, bias=True))),))
    components = tuple(c for c in vlm.components if c.kind != "head") + (expert,)
    notes = vlm.notes + (f"vision-language-action policy: a {eh}-wide Gemma action expert runs over "
                         f"{cfg.int('chunk_size', 50)} action tokens per denoising step; no lm_head",)
    return replace(vlm, model_type=model_type, components=components, notes=notes, tied_embeddings=True,
                   config_keys=tuple(sorted(set(vlm.config_keys) | cfg.used)))


BUILDERS = {"pi0": build_pi0}
