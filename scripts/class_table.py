"""Dev-only: write presets/architectures.json, the class name -> model_type table of transformers' auto mappings.

Needs transformers (never a runtime dependency of vram):
    /work/gvenv/bin/python scripts/class_table.py

A config.json names its class in ``architectures``; when its ``model_type`` is one vram does not know (a
remote-code name such as Kimi-K2's ``kimi_k2``), the reader looks the class up in this table and counts
the config as that class's model_type (src/vram/architectures/classes.py). The table is read from
transformers' ``models/auto/modeling_auto.py`` name mappings: causal-LM, image-text-to-text, seq2seq-LM,
masked-LM, the base models and every ``...ForConditionalGeneration`` class of any mapping. A class that
two model types share takes the model_type of its own ``config_class``, else the first in the order of
MAPPINGS below. Remote-code classes, which transformers does not know, are kept by hand in the same
file under "remote_code", each with the repository modeling file it follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import transformers
from transformers import __version__
from transformers.models.auto import modeling_auto

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "presets" / "architectures.json"

# Earlier mappings win when a class name appears under two model types.
MAPPINGS = (
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES",
    "MODEL_FOR_PRETRAINING_MAPPING_NAMES",
    "MODEL_MAPPING_NAMES",
)


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def table() -> dict[str, str]:
    classes: dict[str, str] = {}

    def add(mapping: dict[str, object], keep: object = None) -> None:
        for model_type, value in mapping.items():
            for name in _names(value):
                if keep is None or (isinstance(keep, str) and name.endswith(keep)):
                    classes.setdefault(name, model_type)

    for attr in MAPPINGS:
        add(getattr(modeling_auto, attr))
    # ...ForConditionalGeneration classes of any other mapping (audio-text, any-to-any, ...).
    for attr in sorted(dir(modeling_auto)):
        if attr.endswith("_MAPPING_NAMES") and attr not in MAPPINGS:
            mapping = getattr(modeling_auto, attr)
            if isinstance(mapping, dict):
                add(mapping, "ForConditionalGeneration")
    # A class two model types share is the class of one config: its own config_class says which
    # (LlamaForCausalLM: llama, not internlm3; Qwen3_5ForCausalLM: qwen3_5_text, the text config it takes).
    shared: dict[str, set[str]] = {}
    for attr in dir(modeling_auto):
        mapping = getattr(modeling_auto, attr)
        if attr.endswith("_MAPPING_NAMES") and isinstance(mapping, dict):
            for model_type, value in mapping.items():
                for name in _names(value):
                    if name in classes:
                        shared.setdefault(name, set()).add(model_type)
    for name, types in shared.items():
        if len(types) > 1:
            own = getattr(getattr(transformers, name).config_class, "model_type", None)
            if own in types:
                classes[name] = own
    return dict(sorted(classes.items()))


def main() -> int:
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    data = {
        "schema_version": 1,
        "source": f"transformers {__version__} models/auto/modeling_auto.py (scripts/class_table.py)",
        "classes": table(),
        "remote_code": old.get("remote_code", {}),
    }
    OUT.write_text(json.dumps(data, indent=0, sort_keys=False) + "\n")
    print(f"{len(data['classes'])} classes -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
