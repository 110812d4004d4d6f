"""Capacity checks: the GPU catalog, fit, the fewest GPUs, and the largest batch or context."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import spec_of, workload
from vram import presets
from vram.capacity import fit, solve_max
from vram.cli import app
from vram.errors import UsageError
from vram.estimate import estimate, tensor_parallel_degrees
from vram.options import gguf_types
from vram.schema import CheckDocument, EstimateDocument, MaxDocument

runner = CliRunner()
GIB = 2**30


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "160", "NO_COLOR": "1"})


def test_catalog_has_the_common_cards_with_aliases() -> None:
    catalog = presets.gpus()
    for name in ("h100", "h100-pcie", "h100-nvl", "h200", "b200", "gh200", "a100-40gb", "a100-80gb", "a10g", "a10",
                 "l4", "l40s", "t4", "v100-16gb", "v100-32gb", "rtx3060", "rtx3090", "rtx4060ti", "rtx4070",
                 "rtx4080", "rtx4090", "rtx5090", "rtx6000-ada", "a6000", "mi250x", "mi300x", "m3-max"):
        gpu = catalog.find(name)
        assert 0 < gpu.usable_bytes and gpu.source


def test_h100_usable_is_the_measured_capacity() -> None:
    assert presets.gpus().find("H100").usable_bytes == 85_017_493_504  # 79.18 GiB, measured


def test_unknown_gpu_suggests_close_names() -> None:
    with pytest.raises(UsageError, match="did you mean"):
        presets.gpus().find("h10")


def test_fit_and_headroom() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    w = workload()
    est = estimate(spec, w, gguf_types=gguf_types())
    f = fit(spec, w, est, label="x", usable_bytes=24 * GIB)
    assert f.fits and f.headroom_bytes == 24 * GIB - est.total_bytes and f.min_gpus == 1


def test_fewest_gpus_for_a_72b_model() -> None:
    spec = spec_of("Qwen__Qwen2.5-72B-Instruct")
    w = workload()
    est = estimate(spec, w, gguf_types=gguf_types())
    f = fit(spec, w, est, label="h100", usable_bytes=presets.gpus().find("h100").usable_bytes)
    assert not f.fits and f.min_gpus == 2


def test_tensor_parallel_degrees_follow_the_heads() -> None:
    # 64 attention heads, 8 KV heads: 1, 2, 4, 8 divide both; 16, 32, 64 replicate KV heads.
    assert tensor_parallel_degrees(spec_of("Qwen__Qwen2.5-72B-Instruct")) == [1, 2, 4, 8, 16, 32, 64]
    assert tensor_parallel_degrees(spec_of("tiiuae__falcon-7b"), 8) == [1]  # 71 heads


def test_bad_tensor_parallel_degree_is_a_usage_error() -> None:
    res = cli("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--gpus", "3")
    assert res.exit_code == 2 and "degree of 3" in res.stderr


@pytest.mark.parametrize("solve", ["seq-len", "batch-size"])
def test_max_is_consistent_with_check(solve: str) -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    w = replace(workload(), seq_len=2048) if solve == "batch-size" else workload()
    usable = 20 * GIB
    value, cap = solve_max(spec, w, usable, solve, gguf_types=gguf_types(), upper=1 << 22)  # type: ignore[arg-type]
    assert value > 0
    field = "seq_len" if solve == "seq-len" else "batch_size"
    at = estimate(spec, replace(w, **{field: value}), gguf_types=gguf_types()).total_bytes
    past = estimate(spec, replace(w, **{field: value + 1}), gguf_types=gguf_types()).total_bytes
    assert at <= usable < past


def test_cli_check_exit_codes_and_quiet() -> None:
    ok = cli("check", "meta-llama/Meta-Llama-3-8B-Instruct", "--gpu", "h100")
    assert ok.exit_code == 0 and ok.stdout == ""
    no = cli("check", "Qwen/Qwen2.5-72B-Instruct", "--gpu", "h100")
    assert no.exit_code == 1 and no.stdout == ""
    two = cli("check", "Qwen/Qwen2.5-72B-Instruct", "--gpu", "h100", "--gpus", "2")
    assert two.exit_code == 0


def test_cli_check_json() -> None:
    res = cli("check", "Qwen/Qwen2.5-72B-Instruct", "--gpu", "h100", "--format", "json")
    assert res.exit_code == 1
    doc = CheckDocument.model_validate(json.loads(res.stdout))
    assert not doc.fits and doc.min_gpus == 2 and doc.headroom_bytes < 0


@pytest.mark.parametrize(("args", "status"),
                         [(["--gpu", "h1000"], 2), ([], 2), (["--gpu", "h100", "--memory", "8GiB"], 2)])
def test_cli_check_usage_errors(args: list[str], status: int) -> None:
    res = cli("check", "7B", *args)
    assert res.exit_code == status and len(res.stderr.strip().splitlines()) == 1


def test_unknown_gpu_lists_close_names() -> None:
    res = cli("check", "7B", "--gpu", "rtx409")
    assert res.exit_code == 2 and "rtx4090" in res.stderr


def test_cli_check_model_unresolved() -> None:
    assert cli("check", "no-such-model", "--gpu", "h100").exit_code == 3


def test_cli_memory_budget() -> None:
    assert cli("check", "7B", "--dtype", "fp16", "--memory", "16GB").exit_code == 0   # 14 GB + 0.72 GiB
    assert cli("check", "7B", "--dtype", "fp16", "--memory", "14GB").exit_code == 1


def test_cli_max_json_and_check_agree() -> None:
    res = cli("max", "meta-llama/Meta-Llama-3-8B-Instruct", "--gpu", "rtx4090", "--solve", "batch-size",
              "--seq-len", "4096", "--format", "json")
    doc = MaxDocument.model_validate(json.loads(res.stdout))
    assert doc.value > 0
    at = cli("check", "meta-llama/Meta-Llama-3-8B-Instruct", "--gpu", "rtx4090", "--batch-size", str(doc.value))
    past = cli("check", "meta-llama/Meta-Llama-3-8B-Instruct", "--gpu", "rtx4090", "--batch-size",
               str(doc.value + 1))
    assert (at.exit_code, past.exit_code) == (0, 1)


def test_estimate_with_gpu_json_has_capacity() -> None:
    res = cli("estimate", "Qwen/Qwen2.5-72B-Instruct", "--gpu", "h100", "--format", "json")
    doc = EstimateDocument.model_validate(json.loads(res.stdout))
    assert doc.capacity is not None and doc.capacity.min_gpus == 2 and not doc.capacity.fits


def test_estimate_table_shows_bars_and_the_fewest_gpus() -> None:
    res = cli("estimate", "Qwen/Qwen2.5-72B-Instruct", "--gpu", "h100")
    assert "█" in res.stdout and "--gpus 2" in res.stdout


def test_compare_markdown_and_csv() -> None:
    md = cli("compare", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "rtx4090", "--format", "markdown")
    assert md.stdout.startswith("| Precision |") and "| no |" in md.stdout
    csv = cli("compare", "Qwen/Qwen2.5-7B-Instruct", "--format", "csv")
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("Precision,Bits/param,Weights (GiB)") and len(lines) == 6


def test_gpus_command() -> None:
    res = cli("gpus", "--format", "json")
    names = {g["name"] for g in json.loads(res.stdout)["gpus"]}
    assert {"h100-sxm", "a100-40gb", "rtx4090", "l4"} <= names
