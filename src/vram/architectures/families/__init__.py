"""Family deltas over the generic reading, one module per lineage.

Each :class:`~vram.architectures.generic.Family` names the transformers modeling file it follows and
says only what differs from the generic reading. Each lineage's ``FAMILIES`` maps a model_type (as
transformers spells it) to its family; :func:`family` finds it through the index (``_index.py``),
importing only that lineage. ``ARCHITECTURES`` maps a class name of the config's ``architectures``
list to a model_type, for configs whose model_type is new but whose class is known (Kimi-K2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vram.architectures import _index

if TYPE_CHECKING:
    from vram.architectures.generic import Family


def family(model_type: str) -> Family | None:
    """The family delta of ``model_type`` (its lineage's module is imported now), or None."""
    module = _index.MODULE_OF.get(model_type, "")
    if not module.startswith("families."):
        return None
    found: Family = _index.module_of(model_type).FAMILIES[model_type]
    return found


ARCHITECTURES: dict[str, str] = {
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "DeepseekV2ForCausalLM": "deepseek_v2",
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "MixtralForCausalLM": "mixtral",
    # Hunyuan's first remote-code configs say model_type "hunyuan" with these classes.
    "HunYuanMoEV1ForCausalLM": "hunyuan_v1_moe",
    "HunYuanDenseV1ForCausalLM": "hunyuan_v1_dense",
}
