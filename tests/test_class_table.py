"""`architectures` as a second key: presets/architectures.json (scripts/class_table.py).

A config whose model_type vram does not know but whose class is in transformers' auto mappings is
counted as that class's model_type. The expected counts are tests/data/golden_sweep.json's, which
transformers 5.23 built on the meta device under the real model_type (scripts/golden_sweep.py; the
mixtral and falcon_h1 entries re-checked with /work/wt/_prompts/gcount.py: 46,702,792,704 and
8,514,961,408).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vram import presets
from vram.architectures import spec_from_config, supported_model_types
from vram.errors import UnsupportedModelError

SWEEP = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]

# One model_type per kind of builder: dense, MoE, MLA, hybrid Mamba, linear attention, Mamba-2, RWKV,
# vision-language (two routes), encoder-decoder, speech, encoders.
KINDS = ["qwen3", "mixtral", "deepseek_v3", "falcon_h1", "qwen3_next", "mamba2", "rwkv", "gemma3",
         "qwen2_vl", "mistral3", "llama4", "t5", "whisper", "bert", "modernbert", "glm4_moe", "minimax_m2"]


@pytest.mark.parametrize("model_type", KINDS)
def test_made_up_model_type_counts_as_its_class(model_type: str) -> None:
    entry = SWEEP[model_type]
    config = {**entry["config"], "model_type": "made_up_type", "architectures": [entry["class"]]}
    spec = spec_from_config(config, model_id="x")
    assert spec.parameters == entry["count"]
    assert spec.model_type == "made_up_type"
    assert (f"model_type 'made_up_type' counted as '{model_type}', the model_type of its architectures "
            f"class {entry['class']}") in spec.notes


def test_kimi_k2_is_read_as_deepseek_v3_by_its_class() -> None:
    entry = SWEEP["deepseek_v3"]
    spec = spec_from_config({**entry["config"], "model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"]},
                            model_id="moonshotai/Kimi-K2-Instruct")
    assert spec.parameters == entry["count"] == 671_026_404_352


def test_an_unknown_class_is_skipped_for_a_known_one_later_in_the_list() -> None:
    entry = SWEEP["qwen3"]
    config = {**entry["config"], "model_type": "made_up_type",
              "architectures": ["NoSuchForCausalLM", "Qwen3ForCausalLM"]}
    assert spec_from_config(config, model_id="x").parameters == entry["count"]


def test_a_known_model_type_wins_over_its_class() -> None:
    # qwen2 with a Llama class name: the model_type decides, no note.
    entry = SWEEP["qwen2"]
    spec = spec_from_config({**entry["config"], "architectures": ["LlamaForCausalLM"]}, model_id="x")
    assert spec.parameters == entry["count"]
    assert not any("architectures class" in n for n in spec.notes)


def test_unknown_class_and_type_is_read_generically_or_refused() -> None:
    entry = SWEEP["llama"]
    config = {**entry["config"], "model_type": "made_up_type", "architectures": ["NoSuchForCausalLM"]}
    spec = spec_from_config(config, model_id="x")
    assert spec.parameters == entry["count"]
    assert any("family unverified" in n for n in spec.notes)
    assert not any("architectures class" in n for n in spec.notes)
    with pytest.raises(UnsupportedModelError, match="'made_up_type' lacks .hidden_size."):
        spec_from_config({"model_type": "made_up_type", "architectures": ["NoSuchForCausalLM"]}, model_id="x")


def test_shared_classes_take_their_own_config_class() -> None:
    table = presets.class_table()
    # LlamaForCausalLM is also internlm3's and iquestcoder's class; its config_class is LlamaConfig.
    assert table["LlamaForCausalLM"] == "llama"
    # The causal-LM class of a composite model takes the text config.
    assert table["Qwen3_5ForCausalLM"] == "qwen3_5_text"
    assert table["Llama4ForCausalLM"] == "llama4_text"


def test_remote_code_classes_name_their_source_and_a_supported_model_type() -> None:
    data = json.loads((presets.presets_dir() / "architectures.json").read_text())
    supported = set(supported_model_types())
    assert data["remote_code"]
    for name, entry in data["remote_code"].items():
        assert name not in data["classes"], name
        assert entry["model_type"] in supported and entry["source"], name
    assert presets.find_class("DeciLMForCausalLM") == "nemotron-nas"


def test_the_table_is_not_read_at_start_up_for_a_known_model_type() -> None:
    code = ("import sys; from vram.architectures import spec_from_config; from vram import presets; "
            "spec_from_config({'model_type': 'gpt2'}, model_id='x'); print(presets.class_table.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"
