"""Rewrite tests/data/golden/*.json: the default `vram estimate <preset> --format json` of each preset.

Run after an intended change to the memory model, and say in the commit why the numbers moved.
"""

from __future__ import annotations

import json
from pathlib import Path

from vram import presets
from vram.estimate import estimate
from vram.options import build_workload, gguf_types
from vram.report import estimate_doc
from vram.sources import resolve

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "golden"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for model_id in presets.model_ids():
        resolved = resolve(model_id)
        w = build_workload(dtype="bf16")
        doc = estimate_doc(resolved, w, estimate(resolved.spec, w, gguf_types=gguf_types()))
        (OUT / f"{model_id.replace('/', '__')}.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
