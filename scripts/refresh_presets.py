"""Refresh the bundled model presets from the Hugging Face Hub (needs a network; not run in CI).

For every presets/models/*.json it downloads the current config.json and the safetensors totals,
rewrites the preset when the config changed, and reports where the stored parameter count, the
count from the config and the Hub's safetensors total disagree. Gated repositories need HF_TOKEN.

    python scripts/refresh_presets.py            # report only
    python scripts/refresh_presets.py --write    # also rewrite changed presets
    python scripts/refresh_presets.py --only Qwen/Qwen3-8B

After --write, run scripts/golden_counts.py (with torch and transformers) if configs changed, and
scripts/update_golden.py, and review the diff: a reconstructed preset (LLaVA-Video-72B-Qwen2)
should only be replaced by its real config.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "presets" / "models"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true", help="rewrite presets whose config.json changed")
    ap.add_argument("--only", default=None, help="one model id")
    args = ap.parse_args()

    import huggingface_hub as hf

    from vram import presets
    from vram.architectures import spec_from_config
    from vram.errors import VramError

    api = hf.HfApi()
    failures = 0
    for path in sorted(MODELS.glob("*.json")):
        preset: dict[str, Any] = json.loads(path.read_text())
        model_id = preset["id"]
        if args.only and model_id.lower() != args.only.lower():
            continue
        try:
            config = json.loads(Path(hf.hf_hub_download(model_id, "config.json")).read_text())
            info = api.model_info(model_id, expand=["safetensors"])
        except Exception as exc:  # report and go on: one gated repo must not stop the rest
            print(f"{model_id}: cannot fetch ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            failures += 1
            continue
        total = info.safetensors.total if info.safetensors else None
        try:
            count = spec_from_config(config, model_id=model_id, towers=presets.find_tower).parameters
        except VramError as exc:
            print(f"{model_id}: the Hub's config no longer parses: {exc.message}")
            failures += 1
            continue
        changed = config != preset["config"]
        notes = []
        if changed:
            notes.append("config.json changed")
        if count != preset["parameters"]:
            notes.append(f"config count {count:,} != stored {preset['parameters']:,}")
        if total is not None and total != count:
            notes.append(f"safetensors total {total:,} != config count {count:,} (quantized, MTP or tied?)")
        print(f"{model_id}: {'; '.join(notes) if notes else 'up to date'}")
        if changed and args.write:
            preset["config"] = config
            preset["parameters"] = count
            path.write_text(json.dumps(preset, indent=1) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
