"""Family deltas over the generic reading, one module per lineage.

Each :class:`~vram.architectures.generic.Family` names the transformers modeling file it follows and
says only what differs from the generic reading. ``FAMILIES`` maps a model_type (as transformers
spells it) to its family. A config whose model_type is new but whose class is known (Kimi-K2) is read
through presets/architectures.json (``vram.architectures.class_model_type``).
"""

from __future__ import annotations

from vram.architectures.families import gemma, glm4v, gpt, hybrid, llama, mimo, moe, recurrent, rnn
from vram.architectures.generic import Family

FAMILIES: dict[str, Family] = {**llama.FAMILIES, **moe.FAMILIES, **hybrid.FAMILIES, **recurrent.FAMILIES,
                               **mimo.FAMILIES, **gemma.FAMILIES, **gpt.FAMILIES, **rnn.FAMILIES,
                               **glm4v.FAMILIES}
