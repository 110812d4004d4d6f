"""Family deltas over the generic reading, one module per lineage.

Each :class:`~vram.architectures.generic.Family` names the transformers modeling file it follows and
says only what differs from the generic reading. ``FAMILIES`` maps a model_type (as transformers
spells it) to its family; ``ARCHITECTURES`` maps a class name of the config's ``architectures`` list
to a model_type, for configs whose model_type is new but whose class is known (Kimi-K2).
"""

from __future__ import annotations

from vram.architectures.families import gemma, glm4v, gpt, hybrid, llama, mimo, moe, recurrent, rnn, vlm_text
from vram.architectures.generic import Family

FAMILIES: dict[str, Family] = {**llama.FAMILIES, **moe.FAMILIES, **hybrid.FAMILIES, **recurrent.FAMILIES,
                               **mimo.FAMILIES, **gemma.FAMILIES, **gpt.FAMILIES, **rnn.FAMILIES,
                               **glm4v.FAMILIES, **vlm_text.FAMILIES}

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
