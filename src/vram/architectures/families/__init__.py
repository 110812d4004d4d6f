"""Family deltas over the generic reading, one module per lineage.

Each :class:`~vram.architectures.generic.Family` names the transformers modeling file it follows and
says only what differs from the generic reading. Each lineage's ``FAMILIES`` maps a model_type (as
transformers spells it) to its family; :func:`family` finds it through the index (``_index.py``),
importing only that lineage. A config whose model_type is new but whose class is known (Kimi-K2) is
read through presets/architectures.json (``vram.architectures.class_model_type``).
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
