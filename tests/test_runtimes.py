"""Layer-by-layer inference, CPU offload, and compression runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import spec_of
from vram.cli import app
from vram.errors import UsageError
from vram.options import build_workload, gguf_types
from vram.runtimes import compress

runner = CliRunner()
GIB = 2**30


def cli_json(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_layered_70b_fits_a_4gb_class_gpu() -> None:
    # AirLLM's README: Llama 3.x 70B layer by layer on about 4 GB (M159, a vendor claim).
    doc = cli_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--runtime", "layered", "--dtype", "fp16",
                   "--seq-len", "128")
    # the largest module is the embedding or lm_head: 128256 x 8192 x 2 bytes
    assert doc["runtime"]["largest_module_bytes"] == 128256 * 8192 * 2
    assert doc["breakdown"]["weights_bytes"] == 128256 * 8192 * 2
    assert 2 * GIB < doc["total_bytes"] < 4 * GIB
    assert doc["runtime"]["disk_read_per_token_bytes"] == 70_553_706_496 * 2


def test_layered_kv_slice_is_one_layer() -> None:
    full = cli_json("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--seq-len", "8192")
    lay = cli_json("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--seq-len", "8192", "--runtime", "layered")
    assert lay["breakdown"]["kv_cache_bytes"] * 32 == full["breakdown"]["kv_cache_bytes"]
    assert lay["cpu_bytes"] >= full["breakdown"]["kv_cache_bytes"] * 31 // 32


def test_layered_compression_4bit() -> None:
    plain = cli_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--runtime", "layered")
    small = cli_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--runtime", "layered", "--compression", "4bit")
    assert small["runtime"]["disk_read_per_token_bytes"] < plain["runtime"]["disk_read_per_token_bytes"] / 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--runtime", "layered", "--mode", "training"], "cannot train"),
     (["--runtime", "fast"], "--runtime"), (["--compression", "4bit"], "--runtime layered"),
     (["--runtime", "layered", "--compression", "2bit"], "--compression"),
     (["--offload", "cpu"], "--gpu"), (["--cpu-memory", "8GiB"], "--offload cpu"),
     (["--offload", "cpu", "--mode", "training", "--gpu", "l4"], "optimizer")],
)
def test_runtime_contradictions(args: list[str], fragment: str) -> None:
    res = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", *args])
    assert res.exit_code == 2, res.output
    assert fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_offload_places_layers_in_order() -> None:
    doc = cli_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--offload", "cpu", "--gpu", "rtx4090",
                   "--cpu-memory", "64GiB")
    rt = doc["runtime"]
    assert rt["gpu_layers"] + rt["cpu_layers"] + rt["disk_layers"] == 80
    assert rt["gpu_layers"] > 0 and rt["cpu_bytes"] <= 64 * GIB and rt["disk_bytes"] > 0
    assert doc["capacity"]["fits"]
    assert doc["cpu_bytes"] == rt["cpu_bytes"]


def test_offload_without_cpu_limit_never_uses_disk() -> None:
    doc = cli_json("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--offload", "cpu", "--memory", "24GiB")
    assert doc["runtime"]["disk_layers"] == 0


def test_compress_hessians_are_in_features_squared() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    plan = compress(spec, build_workload(dtype="bf16"), gguf_types(), algorithm="gptq",
                    output=build_workload(dtype="w4a16"), samples=512, seq_len=2048)
    # q, k, v, o, gate, up read 4096 inputs; down 14336: fp32 in^2 each
    assert plan.hessian_bytes == 4 * (6 * 4096**2 + 14336**2)
    assert plan.layer_bytes == 218_112_000 * 2
    assert plan.hessian_bytes > 2.5 * plan.layer_bytes  # the seed note's "about the layer's size" is 2.8x low
    assert plan.cpu_bytes >= 8_030_261_248 * 2


def test_compress_rtn_needs_only_the_layer() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    w = build_workload(dtype="bf16")
    plan = compress(spec, w, gguf_types(), algorithm="rtn", output=build_workload(dtype="w4a16"), samples=512,
                    seq_len=2048)
    assert plan.gpu_bytes == plan.layer_bytes + w.runtime.cuda_context_bytes


def test_compress_onloads_a_vision_tower_whole() -> None:
    spec = spec_of("Qwen__Qwen2.5-VL-7B-Instruct")
    plan = compress(spec, build_workload(dtype="bf16"), gguf_types(), algorithm="rtn",
                    output=build_workload(dtype="w4a16"), samples=512, seq_len=2048)
    assert plan.onloaded == "vision tower" and plan.vision_bytes == 676_550_144 * 2


def test_compress_cli_json_keys() -> None:
    from vram.schema import CompressDocument

    doc = cli_json("compress", "deepseek-ai/DeepSeek-R1", "--algorithm", "gptq")
    CompressDocument.model_validate(doc)
    assert {"cpu_bytes", "gpu_bytes", "output_bytes"} <= set(doc)
    assert doc["output_bytes"] < doc["cpu_bytes"]


@pytest.mark.parametrize(("args", "status"), [(["--algorithm", "hqq"], 2), (["--scheme", "int3"], 2),
                                              (["--calibration-samples", "0"], 2), (["--dtype", "int4"], 2)])
def test_compress_bad_input(args: list[str], status: int) -> None:
    res = runner.invoke(app, ["compress", "meta-llama/Meta-Llama-3-8B-Instruct", *args])
    assert res.exit_code == status and len(res.stderr.strip().splitlines()) == 1


def test_compress_refuses_a_size_literal() -> None:
    with pytest.raises(UsageError):
        from vram.architectures import spec_from_size

        compress(spec_from_size(7 * 10**9, model_id="7B"), build_workload(dtype="bf16"), gguf_types(),
                 algorithm="gptq", output=build_workload(dtype="w4a16"), samples=1, seq_len=1)
