"""The one-call Python API: the same documents as `--format json`, the same refusals as the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

import vram
from vram import api
from vram.cli import app
from vram.cliopts import ENGINE_OPTIONS, WORKLOAD_OPTIONS
from vram.errors import ModelResolutionError, UsageError

runner = CliRunner()
LLAMA = "meta-llama/Llama-2-7b-hf"


def cli_json(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_estimate_is_the_json_document() -> None:
    r = vram.estimate(LLAMA, dtype="bf16", seq_len=32768, gpu="l4")
    assert r.model_dump() == cli_json("estimate", LLAMA, "--dtype", "bf16", "--seq-len", "32768", "--gpu", "l4")
    assert r.total_bytes == sum(r.breakdown.model_dump().values())
    assert r.fits is False  # 7B in bf16 with a 32k cache (16 GiB) is more than an L4's 22 GiB
    assert r.workload.seq_len == 32768
    assert "capacity" in r.model_dump() and "explain" not in r.model_dump()
    assert json.loads(r.model_dump_json()) == r.model_dump()


def test_fits_is_none_without_a_budget() -> None:
    assert vram.estimate("7B").fits is None


@pytest.mark.parametrize(("function", "command", "kwargs", "args"), [
    ("compare", "compare", {"gpu": "a100-80gb", "dtypes": "bf16,int4"},
     ["--gpu", "a100-80gb", "--dtypes", "bf16,int4"]),
    ("check", "check", {"gpu": "l4", "dtype": "int4"}, ["--gpu", "l4", "--dtype", "int4"]),
    ("max", "max", {"gpu": "l4", "solve": "batch-size"}, ["--gpu", "l4", "--solve", "batch-size"]),
    ("estimate", "estimate", {"mode": "qlora", "gpu": "rtx4090", "explain": True},
     ["--mode", "qlora", "--gpu", "rtx4090", "--explain"]),
    ("estimate", "estimate", {"engine": "vllm", "gpu": "h100", "max_model_len": 2048},
     ["--engine", "vllm", "--gpu", "h100", "--max-model-len", "2048"]),
    ("compare", "compare", {"engine": "vllm", "gpu": "h100", "dtypes": ["bf16", "fp8"]},
     ["--engine", "vllm", "--gpu", "h100", "--dtypes", "bf16,fp8"]),
])
def test_every_function_returns_its_commands_document(function: str, command: str, kwargs: dict[str, Any],
                                                       args: list[str]) -> None:
    result = getattr(vram, function)(LLAMA, **kwargs)
    assert result.model_dump() == cli_json(command, LLAMA, *args)


def test_check_and_max_convenience() -> None:
    r = vram.check(LLAMA, gpu="l4", dtype="int4")
    assert r.fits and r.total_bytes == r.needed_bytes and r.headroom_bytes > 0
    assert not vram.check(LLAMA, gpu="l4", dtype="fp32").fits  # 27 GB of fp32 weights: a result, not an error
    m = vram.max(LLAMA, memory="24GiB", solve="batch-size")
    assert m.fits and m.value > 1 and m.total_bytes is not None and m.total_bytes <= m.usable_bytes


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"mode": "qlora", "dtype": "fp16"}, "contradicts --dtype fp16"),
    ({"mode": "training", "kv_dtype": "fp8"}, "--kv-dtype means nothing"),
    ({"lora_rank": 16}, "--lora-rank means nothing with --mode inference"),  # given, even at its default
    ({"max_model_len": 4096}, "--max-model-len means nothing for --engine transformers"),
    ({"gpu": "l4", "memory": "24GiB"}, "not both"),
    ({"runtime": "layered", "compression": "4bit", "dtype": "fp32"}, "leave --dtype out"),
    ({"seq_len": "8k"}, "seq_len (--seq-len) must be an integer"),
    ({"batch_size": True}, "must be an integer"),
    ({"seq_len": 10**12}, "past the limit"),
    ({"gpu": "h1000"}, "unknown GPU"),
])
def test_the_cli_refusals_apply_to_the_api(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        vram.estimate(LLAMA, **kwargs)
    assert info.value.exit_status == 2


def test_natural_python_types_mean_what_the_cli_text_means() -> None:
    # memory in bytes, a layer count as an int, LoRA targets as a list: the same documents as their CLI text
    as_int = vram.estimate(LLAMA, memory=24 * 2**30)
    assert as_int.capacity is not None and as_int.capacity.usable_bytes == 24 * 2**30
    as_text = vram.estimate(LLAMA, memory="24GiB")
    assert as_text.capacity is not None and as_int.capacity.model_dump(exclude={"label"}) == \
        as_text.capacity.model_dump(exclude={"label"})
    listed = vram.estimate(LLAMA, mode="lora", lora_targets=["q_proj", "v_proj"])
    assert listed.model_dump() == vram.estimate(LLAMA, mode="lora", lora_targets="q_proj,v_proj").model_dump()
    assert vram.estimate(LLAMA, mode="lora", lora_targets=("q_proj",)).model.trainable_parameters == 32 * 16 * 8192
    ngl = vram.estimate(LLAMA, engine="llama.cpp", n_gpu_layers=10, gpu="l4")
    assert ngl.model_dump() == vram.estimate(LLAMA, engine="llama.cpp", n_gpu_layers="10", gpu="l4").model_dump()
    with pytest.raises(UsageError, match="positive number of bytes"):
        vram.estimate(LLAMA, memory=0)
    with pytest.raises(UsageError, match="must hold strings"):
        vram.estimate(LLAMA, mode="lora", lora_targets=["q_proj", 3])


def test_compare_qlora_and_check_without_budget() -> None:
    with pytest.raises(UsageError, match="fixes the base at nf4"):
        vram.compare(LLAMA, mode="qlora", dtypes="bf16,nf4")
    with pytest.raises(UsageError, match="needs --gpu NAME or --memory"):
        vram.check(LLAMA)


def test_model_errors_are_exit_3() -> None:
    with pytest.raises(ModelResolutionError) as info:
        vram.estimate("no-such-org/no-such-model-xyz")
    assert info.value.exit_status == 3


def test_unknown_keyword_is_a_type_error_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean 'seq_len'"):
        vram.estimate(LLAMA, seqlen=8192)  # type: ignore[call-arg]


def test_environment_is_checked_for_library_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRAM_HUB_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="VRAM_HUB_TIMEOUT"):
        vram.estimate("7B")
    from vram.sources import HubOptions, resolve

    with pytest.raises(UsageError, match="VRAM_HUB_TIMEOUT"):  # the Hub adapter checks it too
        resolve("some-org/some-model", HubOptions())


def test_the_api_options_are_the_cli_options() -> None:
    declared = {name: default for name, _, default in WORKLOAD_OPTIONS + ENGINE_OPTIONS}
    assert declared == api.DEFAULTS


def test_the_core_module_does_not_hide_the_function() -> None:
    import importlib

    core = importlib.import_module("vram.estimate")
    assert callable(core.estimate) and vram.estimate is api.estimate
    assert {"estimate", "compare", "max", "check"} <= set(vram.__all__)


def test_import_vram_loads_neither_the_api_nor_pydantic() -> None:
    out = subprocess.run([sys.executable, "-c", "import sys, vram; print(sorted(sys.modules))"], capture_output=True,
                         text=True, check=True).stdout
    assert "vram.api" not in out and "pydantic" not in out


def test_estimate_and_check_print_markdown() -> None:
    res = runner.invoke(app, ["estimate", LLAMA, "--gpu", "l4", "--format", "markdown"])
    doc = vram.estimate(LLAMA, gpu="l4")
    from vram.units import format_bytes

    assert res.exit_code == 0
    assert "| Component | Memory | Share |" in res.stdout
    assert f"| **Total** | **{format_bytes(doc.total_bytes, 'gib')}** | 100% |" in res.stdout
    res = runner.invoke(app, ["check", "7B", "--gpu", "l4", "--dtype", "fp32", "--format", "markdown"])
    assert res.exit_code == 1  # the status is the verdict's, whatever the format
    assert res.stdout.splitlines()[2].endswith("| **does not fit** |")
