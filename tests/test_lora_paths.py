"""LoRA full-name targets on vision-language models: the decoder's layers sit where transformers puts them
(model.language_model.layers in most composites, model.text_model.layers in Idefics3 / SmolVLM,
language_model.model.layers in Llama 4), so PEFT-style full names and regular expressions match as on the
real model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vram.architectures import spec_from_config
from vram.errors import UsageError
from vram.terms.lora import check_lora_targets, lora_parameters

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())


def _spec(model_type: str) -> Any:
    return spec_from_config(SWEEP["entries"][model_type]["config"], model_id=model_type)


@pytest.mark.parametrize(("model_type", "prefix"), [("llava", "model.language_model.layers"),
                                                    ("qwen2_vl", "model.language_model.layers"),
                                                    ("idefics3", "model.text_model.layers"),
                                                    ("llama4", "language_model.model.layers")])
def test_full_names_follow_the_real_module_path(model_type: str, prefix: str) -> None:
    spec = _spec(model_type)
    r = 8
    every_q = lora_parameters(spec, r, ("q_proj",))
    assert every_q > 0
    # a regular expression over the real full name selects the same Linears as the short name
    pattern = prefix.replace(".", r"\.") + r"\.\d+\.self_attn\.q_proj"
    assert lora_parameters(spec, r, (pattern,)) == every_q
    # one layer by its full name: the real path is accepted, the text-only model's path is not
    one = lora_parameters(spec, r, (f"{prefix}.0.self_attn.q_proj",))
    assert 0 < one < every_q
    text_only = "model.layers.0.self_attn.q_proj"
    if prefix.endswith(".model.layers"):
        # PEFT also takes a dotted suffix of the full name (Llama 4's language_model.model.layers...)
        assert lora_parameters(spec, r, (text_only,)) == one
    else:
        with pytest.raises(UsageError, match="no such module"):
            check_lora_targets(spec, (text_only,))


def test_text_models_keep_model_layers() -> None:
    spec = _spec("llama")
    assert lora_parameters(spec, 8, ("model.layers.0.self_attn.q_proj",)) > 0
