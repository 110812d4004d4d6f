"""Dev-only: write the parameter count transformers builds for each config under tests/data/configs.

Needs torch (CPU) and transformers, which are not runtime dependencies of vram:
    pip install torch transformers
    python scripts/golden_counts.py            # rewrites tests/data/golden_params.json

Models are built on the meta device (no memory, no download); tied weights are counted once
because ``model.parameters()`` yields a shared tensor once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "tests" / "data" / "configs"
OUT = ROOT / "tests" / "data" / "golden_params.json"

# model_type -> transformers class (None: AutoModelForCausalLM). Repos whose code is not in
# transformers (llava_qwen) are counted by their documented mapping instead (see docs/presets.md).
CLASSES = {
    "llava": "LlavaForConditionalGeneration",
    "llava_next": "LlavaNextForConditionalGeneration",
    "llava_onevision": "LlavaOnevisionForConditionalGeneration",
    "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "mllama": "MllamaForConditionalGeneration",
    "gemma3": "Gemma3ForConditionalGeneration",
    "qwen3_vl": "Qwen3VLForConditionalGeneration",
    "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
    "qwen3_5": "Qwen3_5ForConditionalGeneration",
    "qwen3_5_moe": "Qwen3_5MoeForConditionalGeneration",
    "llama4": "Llama4ForConditionalGeneration",
    "kimi_k25": "Kimi_K25ForConditionalGeneration",
    "mistral3": "Mistral3ForConditionalGeneration",
    "gemma4": "Gemma4ForConditionalGeneration",
    "whisper": "WhisperForConditionalGeneration",
}
# Remote code with no transformers model_type: nemotron-nas is counted in tests/test_nemotron_nas.py;
# hunyuan (Hunyuan-A13B's first config) by HunYuanMoEV1ForCausalLM, see GOLDEN_EXTRA in tests/test_architectures.py.
SKIP = {"llava_qwen", "nemotron-nas", "hunyuan"}
# Encoders are built as the class their config's ``architectures`` names (the head differs by class).
BY_ARCHITECTURES = {"bert"}


def count(config: dict[str, object]) -> int:
    import torch
    import transformers

    cfg = dict(config)
    cfg.pop("quantization_config", None)
    cfg.pop("auto_map", None)
    model_type = str(cfg["model_type"])
    name = CLASSES.get(model_type)
    if model_type in transformers.CONFIG_MAPPING:
        conf = transformers.AutoConfig.for_model(**cfg)
    else:
        # A model_type transformers does not know whose `architectures` names a class it has
        # (Kimi-K2: kimi_k2, DeepseekV3ForCausalLM) is built as that class, with its config class.
        name = list(cfg.get("architectures") or [])[0]
        cfg.pop("model_type")
        conf = getattr(transformers, name).config_class(**cfg)
    with torch.device("meta"):
        if model_type in BY_ARCHITECTURES:
            name = list(cfg.get("architectures") or [])[0]
        if name:
            model = getattr(transformers, name)._from_config(conf)
        else:
            model = transformers.AutoModelForCausalLM.from_config(conf)
    return sum(p.numel() for p in model.parameters())


def main() -> int:
    import transformers

    golden: dict[str, object] = {"transformers_version": transformers.__version__, "counts": {}}
    counts: dict[str, int] = {}
    for path in sorted(CONFIGS.glob("*.json")):
        config = json.loads(path.read_text())
        if config.get("model_type") in SKIP:
            continue
        counts[path.stem] = count(config)
        print(f"{path.stem:45s} {counts[path.stem]:>16,}")
    golden["counts"] = counts
    OUT.write_text(json.dumps(golden, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
