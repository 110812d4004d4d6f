"""The CLI contract of docs/exit-codes.md and docs/cli.md, as a user meets it: exit codes that do not
depend on --format, one line on stderr, refused contradictions, bounded options, numbers never cut."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vram.cli import app
from vram.options import LIMITS
from vram.presets import presets_dir

runner = CliRunner()
LLAMA3 = "meta-llama/Meta-Llama-3-8B-Instruct"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "120", "NO_COLOR": "1", **(env or {})})


def run_json(*args: str) -> dict[str, Any]:
    res = run(*args, "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def one_error_line(res: Any) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vram: error: "), res.stderr
    assert "Traceback" not in res.output
    line: str = lines[0]
    return line


def shell(args: list[str], *, env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE,
          columns: int = 80) -> subprocess.CompletedProcess[str]:
    """The installed command in a subprocess: stdout is a pipe or a file, never a terminal."""
    full = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "vram", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=full, timeout=60, check=False)


# ---- item 3: bits per parameter describe the format, not one GPU's shard -------------------------

def test_bits_per_parameter_do_not_depend_on_the_gpu_count() -> None:
    one = run_json("estimate", "meta-llama/Llama-3.3-70B-Instruct")
    four = run_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--gpus", "4")
    assert one["weights"]["bits_per_parameter"] == four["weights"]["bits_per_parameter"] == 16.0
    assert four["breakdown"]["weights_bytes"] < one["breakdown"]["weights_bytes"] / 3.9
    assert "(16.00 bits/param)" in run("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--gpus", "4").stdout
    csv = run("compare", "meta-llama/Llama-3.3-70B-Instruct", "--gpus", "4", "--dtypes", "fp32,bf16",
              "--format", "csv").stdout.splitlines()
    assert [row.split(",")[:2] for row in csv[1:]] == [["FP32", "32.00"], ["BF16", "16.00"]]


# ---- item 5: LoRA target names are checked against the model's modules ---------------------------

@pytest.mark.parametrize("targets", ["foo_proj", "Q_PROJ", "q_proj,foo_proj"])
def test_unknown_lora_targets_are_exit_2_naming_the_modules(targets: str) -> None:
    res = run("estimate", LLAMA3, "--mode", "lora", "--lora-targets", targets)
    assert res.exit_code == 2
    line = one_error_line(res)
    bad = [t for t in targets.split(",") if t != "q_proj"]
    assert all(repr(t) in line for t in bad)
    assert all(name in line for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                         "down_proj"))


def test_lora_targets_count_peft_s_trainable_parameters() -> None:
    # PEFT prints "trainable params: 6,815,744" for Llama-3-8B, r=16, q_proj and v_proj:
    # 32 layers x 16 x ((4096 + 4096) + (4096 + 1024))
    doc = run_json("estimate", LLAMA3, "--mode", "lora", "--lora-targets", "q_proj,v_proj")
    assert doc["model"]["trainable_parameters"] == 6_815_744


@pytest.mark.parametrize("targets", ["self_attn.q_proj,self_attn.v_proj", "q_proj,self_attn.v_proj",
                                     "model.layers.0.self_attn.q_proj,v_proj", r".*\.self_attn\.(q_proj|v_proj)"])
def test_lora_targets_take_peft_s_dotted_suffixes_and_a_regular_expression(targets: str) -> None:
    # PEFT matches a full module name equal to a target or ending with ".target"; a target_modules string is a
    # regular expression over the full name (peft/tuners/tuners_utils.py check_target_module_exists).
    doc = run_json("estimate", LLAMA3, "--mode", "lora", "--lora-targets", targets)
    per_layer = 16 * ((4096 + 4096) + (4096 + 1024))
    layers = (1, 32) if targets.startswith("model.layers.0") else (32, 32)
    assert doc["model"]["trainable_parameters"] == (layers[0] * 16 * (4096 + 4096) + layers[1] * 16 * (4096 + 1024)
                                                    if layers[0] == 1 else 32 * per_layer)


def test_a_regular_expression_may_select_some_layers_and_must_stand_alone() -> None:
    doc = run_json("estimate", LLAMA3, "--mode", "lora", "--lora-targets", r"model\.layers\.[0-3]\.self_attn\.q_proj")
    assert doc["model"]["trainable_parameters"] == 4 * 16 * (4096 + 4096)
    res = run("estimate", LLAMA3, "--mode", "lora", "--lora-targets", "q_proj,.*v_proj")
    assert res.exit_code == 2 and "regular expression" in one_error_line(res)
    res = run("estimate", LLAMA3, "--mode", "lora", "--lora-targets", "mlp.q_proj")
    assert res.exit_code == 2 and "'mlp.q_proj'" in one_error_line(res)


def test_a_size_literal_has_no_module_names() -> None:
    res = run("estimate", "7B", "--mode", "lora", "--lora-targets", "attention")
    assert res.exit_code == 2 and "all-linear" in one_error_line(res)


# ---- item 9: max -----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--memory", "1GiB"], ["--memory", "80GiB"],
                                  ["--memory", "1GiB", "--solve", "batch-size"],
                                  ["--memory", "1GiB", "--engine", "vllm"], ["--gpu", "h100", "--engine", "vllm"],
                                  ["--memory", "1GiB", "--engine", "llama.cpp"]])
def test_max_exit_code_does_not_depend_on_the_format(args: list[str]) -> None:
    table = run("max", "meta-llama/Llama-3.3-70B-Instruct", *args)
    as_json = run("max", "meta-llama/Llama-3.3-70B-Instruct", *args, "--format", "json")
    assert table.exit_code == as_json.exit_code
    doc = json.loads(as_json.stdout)
    assert table.exit_code == (0 if doc["value"] else 1) and doc["fits"] is bool(doc["value"])


def test_max_json_reports_the_solved_workload() -> None:
    doc = run_json("max", LLAMA3, "--memory", "24GiB", "--solve", "batch-size")
    assert doc["workload"]["batch_size"] == doc["value"] > 1
    check = run_json("estimate", LLAMA3, "--batch-size", str(doc["value"]))
    assert doc["needed_bytes"] == check["total_bytes"] <= doc["usable_bytes"]
    over = run_json("estimate", LLAMA3, "--batch-size", str(doc["value"] + 1))
    assert over["total_bytes"] > doc["usable_bytes"]


def test_max_with_a_huge_budget_names_the_real_bound() -> None:
    args = ("max", "Qwen/Qwen2.5-0.5B", "--memory", "100000TiB", "--solve", "batch-size", "--seq-len", "16")
    res = run(*args)
    assert res.exit_code == 0
    assert f"{LIMITS['--batch-size']:,}" in res.stdout and "context window" not in res.stdout
    doc = run_json(*args)
    assert doc["value"] == doc["capped_at"] == LIMITS["--batch-size"] and doc["cap_reason"] == "limit"
    window = run_json("max", "Qwen/Qwen2.5-0.5B", "--memory", "100000TiB")
    assert window["cap_reason"] == "context_window" and window["value"] == 32_768


# ---- item 10: every spelling of JSON output gives JSON errors ----------------------------------

@pytest.mark.parametrize("spelling", [["--format", "json"], ["-f", "json"], ["--format=json"], ["-fjson"],
                                      ["-f", "JSON"], ["--format=Json"], ["-fJSON"]])
def test_every_spelling_of_json_makes_errors_json(spelling: list[str]) -> None:
    res = run("estimate", "no-such-model", *spelling)
    assert res.exit_code == 3
    assert json.loads(res.stdout)["error"]["exit_status"] == 3
    one_error_line(res)


# ---- item 11: exit codes of the environment, not of the user's input ----------------------------

def test_a_full_disk_is_an_output_error_not_an_internal_one() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        res = shell(["estimate", "7B"], stdout=full)
    assert res.returncode == 74
    assert res.stderr.strip() == "vram: error: cannot write the output: No space left on device"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_broken_pipe_is_quiet_and_not_the_does_not_fit_code(fmt: str) -> None:
    # as `vram ... | head -1` once head has gone: the reader's end of the pipe is closed before vram writes
    read, write = os.pipe()
    os.close(read)
    try:
        res = shell(["estimate", "lmms-lab/LLaVA-Video-72B-Qwen2", "--explain", "--format", fmt], stdout=write)
    finally:
        os.close(write)
    assert res.returncode == 141  # 128 + SIGPIPE, as a shell reports a POSIX tool killed by it
    assert res.stderr == ""


@pytest.mark.parametrize("engine", [[], ["--engine", "vllm"]])
@pytest.mark.parametrize(("env", "fragment"), [({"VRAM_HUB_TIMEOUT": "abc"}, "'abc'"),
                                               ({"VRAM_HUB_TIMEOUT": "-1"}, "'-1'"),
                                               ({"VRAM_HUB_TIMEOUT": "nan"}, "'nan'"),
                                               ({"VRAM_HUB_TIMEOUT": "inf"}, "'inf'")])
def test_bad_environment_variables_are_usage_errors(env: dict[str, str], fragment: str, engine: list[str]) -> None:
    res = run("estimate", "org/model", *engine, env=env)
    assert res.exit_code == 2
    line = one_error_line(res)
    assert "VRAM_HUB_TIMEOUT" in line and fragment in line


@pytest.mark.parametrize("literal", ["1e400", "2e15", "1000000000000000001"])
def test_huge_size_literals_are_refused(literal: str) -> None:
    res = run("estimate", literal)
    assert res.exit_code == 2 and "10^15" in one_error_line(res)


def test_a_huge_argument_is_refused_and_not_echoed_whole() -> None:
    res = run("estimate", "a" * 100_000)
    assert res.exit_code == 2
    line = one_error_line(res)
    assert len(line) < 300 and "100,000 characters" in line


def test_echoes_of_user_input_are_clipped() -> None:
    res = run("estimate", "7B", "--dtype", "x" * 3000)
    assert res.exit_code == 2 and len(one_error_line(res)) < 600


def test_bare_vram_prints_help_and_no_empty_error() -> None:
    res = run()
    assert res.exit_code == 2
    assert "Usage" in res.stdout and "estimate" in res.stdout
    assert "error" not in res.stderr


@pytest.mark.parametrize("exc", [ZeroDivisionError("boom"), OSError(5, "Input/output error"), KeyError("k")])
def test_every_bug_is_one_internal_error_code(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    import importlib

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(importlib.import_module("vram.estimate"), "estimate", broken)
    for fmt in ("table", "json"):
        res = run("estimate", "7B", "--format", fmt)
        assert res.exit_code == 70
        assert one_error_line(res).startswith("vram: error: internal error: ")
        if fmt == "json":
            assert json.loads(res.stdout)["error"] == {"code": "internal", "message": res.stderr.strip()[13:],
                                                       "exit_status": 70}


# ---- item 13: bounded options, exact integers of bytes ------------------------------------------

ENGINE_OF = {"--max-model-len": "vllm", "--max-num-batched-tokens": "vllm", "--block-size": "vllm",
             "--max-num-seqs": "vllm", "--tensor-parallel-size": "vllm", "--pipeline-parallel-size": "vllm",
             "--context-length": "sglang", "--chunked-prefill-size": "sglang", "--max-running-requests": "sglang",
             "--ctx-size": "llama.cpp", "--n-batch": "llama.cpp", "--ubatch-size": "llama.cpp",
             "--parallel": "llama.cpp", "--main-gpu": "llama.cpp", "--fit-target": "llama.cpp",
             "--fit-ctx": "llama.cpp"}


@pytest.mark.parametrize("option", sorted(o for o in LIMITS if not o.startswith("--calibration")
                                           and o != "--max-seq-len"))  # vram max's (test_grpo_colocate.py)
def test_every_bounded_option_refuses_values_past_its_limit(option: str) -> None:
    mode = ["--engine", ENGINE_OF[option]] if option in ENGINE_OF else \
        [] if option in ("--batch-size", "--seq-len", "--gpus", "--images", "--frames") else \
        ["--mode", "lora"] if option == "--lora-rank" else ["--mode", "training"]
    value = str(LIMITS[option] + 1)
    res = run("estimate", "Qwen/Qwen2-VL-2B-Instruct", *mode, option, value)
    assert res.exit_code == 2, res.output
    line = one_error_line(res)
    assert option in line and f"{LIMITS[option]:,}" in line


@pytest.mark.parametrize("option", ["--calibration-samples", "--calibration-seq-len", "--calibration-batch-size"])
def test_compress_options_are_bounded(option: str) -> None:
    res = run("compress", "Qwen/Qwen2.5-0.5B", option, str(LIMITS[option] + 1))
    assert res.exit_code == 2 and option in one_error_line(res)


def _overhead_is_exact(doc: dict[str, Any]) -> None:
    term = next(t for t in doc["explain"] if t["component"] == "overhead")
    v = term["values"]
    reserve = round(doc["breakdown"]["activations_bytes"] * Fraction(repr(v["reserve_fraction"])))
    assert doc["breakdown"]["overhead_bytes"] == v["context_bytes"] + reserve + v["comm_bytes"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, LIMITS["--batch-size"]), seq=st.integers(1, LIMITS["--seq-len"]),
       gpus=st.sampled_from([1, 2, 4]), attention=st.sampled_from(["sdpa", "eager"]))
def test_bytes_are_exact_integers_up_to_the_limits(batch: int, seq: int, gpus: int, attention: str) -> None:
    doc = run_json("estimate", "Qwen/Qwen2.5-7B-Instruct", "--batch-size", str(batch), "--seq-len", str(seq),
                   "--gpus", str(gpus), "--attention", attention, "--explain")
    b = doc["breakdown"]
    assert all(type(x) is int for x in b.values()) and doc["total_bytes"] == sum(b.values())
    _overhead_is_exact(doc)
    # the KV cache is exact: 28 layers x 4 KV heads / gpus x 128 x 2 (K and V) x 2 bytes x tokens
    assert b["kv_cache_bytes"] == 28 * max(1, 4 // gpus) * 128 * 2 * 2 * seq * batch


@settings(max_examples=10, deadline=None)
@given(rank=st.integers(1, LIMITS["--lora-rank"]), batch=st.integers(1, LIMITS["--batch-size"]))
def test_training_bytes_are_exact_integers_up_to_the_limits(rank: int, batch: int) -> None:
    doc = run_json("estimate", "Qwen/Qwen2.5-0.5B", "--mode", "lora", "--lora-rank", str(rank),
                   "--batch-size", str(batch), "--explain")
    assert all(type(x) is int for x in doc["breakdown"].values())
    _overhead_is_exact(doc)


# ---- item 14: contradictions are refused, "explicitly given" is what the user typed ---------------

@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mode", "qlora", "--dtype", "fp16"], "contradicts --dtype fp16"),
        (["--mode", "lora", "--lora-dtype", "int4"], "float format"),
        (["--optimizer", "sgd"], "--optimizer"),
        (["--optimizer", "adamw"], "--optimizer"),  # the default value, given explicitly
        (["--precision", "mixed"], "--precision"),
        (["--mode", "lora", "--precision", "mixed"], "--precision"),
        (["--mode", "training", "--kv-dtype", "fp8"], "no KV cache"),
        (["--lora-rank", "16"], "--lora-rank"),
        (["--lora-targets", "all-linear"], "--lora-targets"),
        (["--mode", "lora", "--double-quant"], "--double-quant"),
        (["--grad-accum", "1"], "--grad-accum"),
        (["--gradient-checkpointing"], "--gradient-checkpointing"),
    ],
)
def test_options_that_mean_nothing_for_the_mode_are_refused(args: list[str], fragment: str) -> None:
    res = run("estimate", LLAMA3, *args)
    assert res.exit_code == 2, res.output
    assert fragment in one_error_line(res)


def test_qlora_takes_nf4_spellings_of_its_own_base() -> None:
    plain = run_json("estimate", LLAMA3, "--mode", "qlora")
    assert run_json("estimate", LLAMA3, "--mode", "qlora", "--dtype", "nf4") == plain
    dq = run_json("estimate", LLAMA3, "--mode", "qlora", "--double-quant")
    assert run_json("estimate", LLAMA3, "--mode", "qlora", "--dtype", "nf4-dq") == dq
    assert dq["workload"]["dtype"] == "nf4-dq" and plain["workload"]["dtype"] == "nf4"


def test_compare_refuses_to_vary_the_base_of_qlora() -> None:
    res = run("compare", LLAMA3, "--mode", "qlora")
    assert res.exit_code == 2 and "--dtypes" in one_error_line(res)
    doc = run_json("compare", LLAMA3, "--mode", "qlora", "--dtypes", "nf4,nf4-dq")
    assert [r["dtype"] for r in doc["rows"]] == ["nf4", "nf4-dq"]
    assert doc["rows"][1]["total_bytes"] < doc["rows"][0]["total_bytes"]


# ---- item 16: compare's table says whether each row fits ----------------------------------------

def test_compare_table_has_a_fit_column() -> None:
    res = run("compare", "meta-llama/Llama-3.3-70B-Instruct", "--gpu", "h100", "--dtypes", "bf16,int4")
    assert res.exit_code == 0
    header = next(line for line in res.stdout.splitlines() if "Precision" in line)
    assert "Fits" in header
    rows = {line.split()[1]: line.split()[-2] for line in res.stdout.splitlines() if re.match(r"^│ (BF16|INT4)", line)}
    assert rows == {"BF16": "no", "INT4": "yes"}  # 131 GiB of bf16 weights; 37 GiB in GPTQ int4


# ---- item 17: numbers are never cut, whatever the width -----------------------------------------

@pytest.mark.parametrize("columns", [80, 60, 40])
def test_presets_table_never_cuts_a_number(columns: int) -> None:
    res = shell(["presets"], columns=columns)
    assert res.returncode == 0 and "…" not in res.stdout
    doc = json.loads(shell(["presets", "--format", "json"]).stdout)
    for p in doc["presets"]:
        assert f"{p['parameters']:,}" in res.stdout


@pytest.mark.parametrize("columns", [80, 60])
@pytest.mark.parametrize("model", ["lmms-lab/LLaVA-Video-72B-Qwen2", "Qwen/Qwen2.5-7B-Instruct --mode lora"])
def test_explain_never_cuts_a_number(columns: int, model: str) -> None:
    args = ["estimate", *model.split(), "--explain", "--gpu", "h100"]
    res = shell(args, columns=columns)
    assert res.returncode == 0 and "…" not in res.stdout
    doc = json.loads(shell([*args, "--format", "json"]).stdout)
    for t in doc["explain"]:
        for v in t["values"].values():
            if isinstance(v, int) and not isinstance(v, bool):
                assert f"{v:,}" in res.stdout, (t["name"], v)
    for value in doc["breakdown"].values():
        assert value == 0 or f"{value / 2**30:,.2f} GiB" in res.stdout
    assert f"{doc['total_bytes'] / 2**30:,.2f} GiB" in res.stdout


# ---- item 18: say what was not estimated, and why ------------------------------------------------

def test_a_size_literal_says_its_kv_cache_cannot_be_estimated() -> None:
    res = run("estimate", "7B")
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in res.stdout.splitlines()
            if line.startswith("│")}
    assert rows["KV cache"] == rows["Activations"] == "n/a: no architecture"
    doc = run_json("estimate", "7B")
    assert doc["not_estimated"] == ["kv_cache_bytes", "activations_bytes"]
    assert doc["breakdown"]["kv_cache_bytes"] == doc["breakdown"]["activations_bytes"] == 0
    assert run_json("estimate", LLAMA3)["not_estimated"] == []


def test_a_sliding_window_cap_is_noted() -> None:
    # Mistral-7B-v0.1: every one of its 32 layers attends to a 4,096-token window
    doc = run_json("estimate", "mistralai/Mistral-7B-v0.1", "--seq-len", "8192")
    notes = [n for n in doc["notes"] if n.startswith("sliding-window attention")]
    assert notes == ["sliding-window attention: 32 layer(s) cache at most 4,096 of the 8,192 tokens per sequence"]
    assert doc["breakdown"]["kv_cache_bytes"] == 32 * 8 * 128 * 2 * 2 * 4096  # the window, not 8,192 tokens
    short = run_json("estimate", "mistralai/Mistral-7B-v0.1", "--seq-len", "4096")
    assert not [n for n in short["notes"] if n.startswith("sliding-window attention")]


def test_lora_explain_shows_the_values_it_used() -> None:
    terms = {}
    for dtype in ("fp32", "bf16"):
        doc = run_json("estimate", "Qwen/Qwen2.5-7B-Instruct", "--mode", "lora", "--lora-dtype", dtype, "--explain")
        terms[dtype] = next(t for t in doc["explain"] if t["name"].startswith("decoder layers"))
    assert terms["fp32"]["bytes"] > terms["bf16"]["bytes"]
    assert terms["fp32"]["values"] != terms["bf16"]["values"]
    for t in terms.values():
        v = t["values"]
        assert t["bytes"] == v["layers"] * v["per_layer_bytes"]  # no checkpointing: every layer saved
        assert "adapter" in t["formula"]


def test_a_preset_location_is_its_bundled_file() -> None:
    doc = run_json("estimate", LLAMA3)
    path = presets_dir().parent / doc["model"]["location"]
    assert path.is_file() and json.loads(path.read_text())["id"] == LLAMA3


def test_an_unknown_model_type_suggests_what_works(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-family", "hidden_size": 8}))
    res = run("estimate", str(tmp_path))
    assert res.exit_code == 3
    line = one_error_line(res)
    assert "no-such-family" in line and "safetensors" in line and "7B" in line
