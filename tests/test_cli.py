"""The CLI through Typer's runner: stdout carries the result, stderr one line, exit codes documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from vram.cli import app
from vram.presets import presets_dir

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "120", "NO_COLOR": "1"})


def run_json(*args: str) -> dict[str, Any]:
    res = run(*args, "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_estimate_table_for_the_mission_model() -> None:
    res = run("estimate", "lmms-lab/LLaVA-Video-72B-Qwen2", "--dtype", "fp16")
    assert res.exit_code == 0
    assert "136.31 GiB" in res.stdout  # 73,180,522,016 x 2 bytes
    assert "KV cache" in res.stdout and "Activations" in res.stdout
    assert res.stderr == ""


def test_preset_lookup_is_case_insensitive() -> None:
    doc = run_json("estimate", "LMMS-LAB/llava-video-72b-qwen2", "--dtype", "FP16")
    assert doc["model"]["parameters"] == 73_180_522_016


def test_json_contract() -> None:
    doc = run_json("estimate", "meta-llama/Meta-Llama-3-8B-Instruct")
    assert set(doc) == {"schema_version", "model", "workload", "breakdown", "total_bytes", "cpu_bytes", "weights",
                        "kv_cache", "not_estimated", "notes"}
    assert doc["schema_version"] == 1
    assert set(doc["breakdown"]) == {"weights_bytes", "kv_cache_bytes", "activations_bytes", "gradients_bytes",
                                     "optimizer_bytes", "overhead_bytes"}
    assert all(isinstance(v, int) for v in doc["breakdown"].values())
    assert doc["total_bytes"] == sum(doc["breakdown"].values())
    assert {"id", "source", "parameters"} <= set(doc["model"])
    assert doc["model"]["source"] == "preset"
    assert doc["workload"]["seq_len"] == 4096


def test_explain_lists_every_term_with_formula_and_source() -> None:
    doc = run_json("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--explain")
    components = {t["component"] for t in doc["explain"]}
    assert {"weights", "kv_cache", "activations", "overhead"} <= components
    assert all(t["formula"] and t["source"] for t in doc["explain"])
    res = run("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--explain")
    assert "approximation" in res.stdout and "exact" in res.stdout


def test_size_literal() -> None:
    doc = run_json("estimate", "13B", "--dtype", "fp16", "--overhead-percent", "20")
    assert doc["model"]["source"] == "size"
    assert doc["total_bytes"] == 31_200_000_000


def test_units_gb_are_labelled() -> None:
    res = run("estimate", "13B", "--dtype", "fp16", "--units", "gb")
    assert "26.00 GB" in res.stdout and "GiB" not in res.stdout


def test_training_json() -> None:
    doc = run_json("estimate", "7B", "--mode", "training", "--dtype", "bf16")
    b = doc["breakdown"]
    assert b["weights_bytes"] + b["gradients_bytes"] + b["optimizer_bytes"] == 16 * 7 * 10**9


def test_compare_json() -> None:
    doc = run_json("compare", "meta-llama/Meta-Llama-3-8B-Instruct")
    assert doc["schema_version"] == 1
    assert [r["dtype"] for r in doc["rows"]] == ["fp32", "fp16", "bf16", "int8", "int4"]
    for r in doc["rows"]:
        assert r["total_bytes"] == sum(r["breakdown"].values())


def test_compare_table_has_a_row_per_precision() -> None:
    res = run("compare", "Qwen/Qwen2.5-7B-Instruct", "--dtypes", "bf16,nf4,q4_k_m")
    assert res.exit_code == 0
    for label in ("BF16", "NF4", "Q4_K_M"):
        assert label in res.stdout


def test_presets_lists_every_bundled_model() -> None:
    doc = run_json("presets")
    ids = {p["id"]: p["parameters"] for p in doc["presets"]}
    assert ids["lmms-lab/LLaVA-Video-72B-Qwen2"] == 73_180_522_016
    bundled = {json.loads(p.read_text())["id"] for p in (presets_dir() / "models").glob("*.json")}
    assert set(ids) == bundled and len(ids) == len(doc["presets"])


@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        (["estimate", "7B", "--dtype", "int3"], 2, "unknown --dtype"),
        (["estimate", "7B", "--batch-size", "-1"], 2, "--batch-size"),
        (["estimate", "7B", "--batch-size", "0"], 2, "--batch-size"),
        (["estimate", "7B", "--seq-len", "abc"], 2, "seq-len"),
        (["estimate", "7B", "--mode", "serve"], 2, "--mode"),
        (["estimate", "7B", "--units", "tb"], 2, "--units"),
        (["estimate", "7.5XB"], 3, "unknown model"),
        (["estimate", "no-such-model"], 3, "unknown model"),
        (["check", "./missing-folder", "--gpu", "l4"], 3, "no such folder or file: './missing-folder'"),
        (["estimate", "../missing"], 3, "no such folder or file"),
        (["estimate", "/no/such/dir"], 3, "no such folder or file"),
        (["estimate", "~/no-such-dir-xyz"], 3, "no such folder or file"),
        (["estimate", "models/org/name"], 3, "no such folder or file"),
        (["estimate", "7B", "--kv-dtype", "q4_k_m"], 2, "--kv-dtype"),
        (["estimate", "7B", "--mode", "training", "--dtype", "int4"], 2, "qlora"),
        (["estimate", "7B", "--lora-rank", "8"], 2, "--lora-rank"),
        (["compare", "7B", "--dtypes", "fp16,int9"], 2, "int9"),
        (["estimate"], 2, "Missing argument"),
    ],
)
def test_bad_input_one_line_and_exit_code(args: list[str], status: int, fragment: str) -> None:
    res = run(*args)
    assert res.exit_code == status, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vram: error:")
    assert fragment in lines[0]
    assert "Traceback" not in res.output


def test_errors_in_json_mode_are_json() -> None:
    res = run("estimate", "no-such-model", "--format", "json")
    assert res.exit_code == 3
    doc = json.loads(res.stdout)
    assert doc["error"]["exit_status"] == 3 and doc["error"]["code"] == "model_unresolved"
    assert res.stderr.startswith("vram: error:")


def test_usage_error_in_json_mode_is_json() -> None:
    res = run("estimate", "7B", "--dtype", "int3", "--format", "json")
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["code"] == "usage"


@pytest.mark.parametrize("command", [[], ["estimate"], ["compare"], ["presets"]])
def test_help(command: list[str]) -> None:
    res = run(*command, "--help")
    assert res.exit_code == 0
    assert "Usage" in res.stdout


def test_version() -> None:
    res = run("--version")
    assert res.exit_code == 0 and res.stdout.startswith("vram ")


def test_json_documents_match_the_published_schema() -> None:
    from vram.schema import CompareDocument, ErrorDocument, EstimateDocument

    EstimateDocument.model_validate(run_json("estimate", "lmms-lab/LLaVA-Video-72B-Qwen2", "--explain"))
    EstimateDocument.model_validate(run_json("estimate", "7B", "--mode", "qlora"))
    CompareDocument.model_validate(run_json("compare", "Qwen/Qwen3-30B-A3B"))
    ErrorDocument.model_validate(json.loads(run("estimate", "nope", "--format", "json").stdout))


def test_schema_command() -> None:
    res = run("schema", "estimate")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["title"] == "EstimateDocument"
