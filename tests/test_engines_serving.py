"""vLLM and SGLang engines: pools checked by hand and against published vLLM startup logs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vram import presets
from vram.cli import app
from vram.engines import EngineInput, get
from vram.engines._pool import LayerKv
from vram.engines.sglang import defaults
from vram.engines.vllm import Pool
from vram.options import build_workload, gguf_types
from vram.schema import CheckDocument, EstimateDocument, MaxDocument
from vram.sources import HubOptions, resolve

runner = CliRunner()
GIB = 2**30
H100 = 85_017_493_504  # cudaMemGetInfo total, 79.18 GiB in vLLM's logs


def engine_json(*args: str) -> dict:  # type: ignore[type-arg]
    res = runner.invoke(app, [*args, "-f", "json"])
    assert res.exit_code in (0, 1), res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def vllm(model: str, dtype: str, tp: int, **settings: object) -> dict:  # type: ignore[type-arg]
    spec = resolve(model, HubOptions()).spec
    w = build_workload(dtype=dtype, gpus=tp)
    inp = EngineInput(spec=spec, workload=w, settings=settings, gguf_types=gguf_types(), total_bytes=H100,
                      usable_bytes=H100, gpu_name="h100-sxm", engine_constants=presets.engines())
    return get("vllm").allocate(inp).details_dict()


# vLLM's own log lines on an H100, --max-model-len 16000 --block-size 128, gpu_memory_utilization 0.9
# (llm-d/llm-d-benchmark config_explorer/empirical-vllm-memory-results.md).
@pytest.mark.parametrize(("model", "dtype", "tp", "weights_gib", "peak_gib", "available_gib"), [
    ("meta-llama/Llama-3.1-8B-Instruct", "bf16", 1, 14.99, 4.76, 51.38),
    ("meta-llama/Llama-3.3-70B-Instruct", "fp8", 2, 33.88, 4.84, 32.0),
])
def test_vllm_matches_published_startup_logs(model: str, dtype: str, tp: int, weights_gib: float, peak_gib: float,
                                             available_gib: float) -> None:
    d = vllm(model, dtype, tp, max_model_len=16000, block_size=128)
    assert d["weights_bytes"] / GIB == pytest.approx(weights_gib, rel=0.005)
    assert d["activation_peak_bytes"] / GIB == pytest.approx(peak_gib, rel=0.03)
    assert d["kv_pool_bytes"] / GIB == pytest.approx(available_gib, rel=0.01)
    logged_tokens = int(available_gib * GIB) // (128 * d["kv_bytes_per_token"]) * 128
    assert d["kv_tokens"] == pytest.approx(logged_tokens, rel=0.05)
    assert d["starts"] is True


def test_vllm_refuses_llama_70b_fp8_on_one_h100_as_logged() -> None:
    d = vllm("meta-llama/Llama-3.3-70B-Instruct", "fp8", 1, max_model_len=16000, block_size=128)
    assert d["starts"] is False and d["kv_tokens"] == 0 and d["largest_max_model_len"] == 0
    # logged: available KV cache memory -1.44 GiB
    available = d["budget_bytes"] - d["weights_bytes"] - d["activation_peak_bytes"] - d["non_torch_bytes"]
    assert available / GIB == pytest.approx(-1.44, abs=0.15)


def test_pool_by_hand_uniform_and_hybrid() -> None:
    full = LayerKv("full", 1000)
    pool = Pool((full,) * 4, 16, 2048)
    assert pool.block_bytes == 16 * 4000
    assert pool.num_blocks(640_001) == 10 and pool.tokens(10) == 160
    assert pool.needed(17) == 2 * 16 * 4000  # two blocks per layer
    assert pool.concurrency(10, 32) == 5.0
    # 2 full + 4 sliding (window 100): groups of 2 layers, 1 full group + 2 sliding groups
    sw = LayerKv("sliding", 1000, 100)
    hybrid = Pool((full, full, sw, sw, sw, sw), 16, 50)
    assert hybrid.group_size == 2 and sum(n for _, n in hybrid.groups) == 3
    assert hybrid.block_bytes == 16 * 1000 * 2
    assert hybrid.tokens(30) == 10 * 16
    # one 1000-token request: full group 63 blocks, each sliding group cdiv(min(149, 1000), 16) + 1 = 11
    assert hybrid.needed(1000) == hybrid.block_bytes * (63 + 2 * 11)


def test_check_exit_status_and_advice() -> None:
    res = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "l4",
                              "-f", "text"])
    assert res.exit_code == 1
    assert "largest --max-model-len that starts: 28,880" in res.stdout
    assert "no --gpu-memory-utilization starts it at --max-model-len 131,072" in res.stdout
    ok = runner.invoke(app, ["check", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "l4",
                             "--max-model-len", "8192"])
    assert ok.exit_code == 0 and ok.stdout == ""
    CheckDocument.model_validate(engine_json("check", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm",
                                             "--gpu", "l4"))


def test_max_model_len_solve_is_the_refusal_boundary() -> None:
    doc = engine_json("max", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "l4")
    MaxDocument.model_validate(doc)
    n = doc["value"]
    assert 0 < n < 131072
    at = engine_json("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "l4",
                     "--max-model-len", str(n))
    over = engine_json("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "l4",
                       "--max-model-len", str(n + 16))
    assert at["engine"]["starts"] and not over["engine"]["starts"]


def test_engine_json_validates_and_flags_are_checked() -> None:
    doc = engine_json("estimate", "Qwen/Qwen2.5-7B-Instruct", "--engine", "sglang", "--gpu", "h100")
    EstimateDocument.model_validate(doc)
    assert doc["engine"]["name"] == "sglang" and doc["engine"]["kv_tokens"] > 0
    res = runner.invoke(app, ["estimate", "Qwen/Qwen2.5-7B-Instruct", "--engine", "sglang", "--gpu", "h100",
                              "--max-model-len", "4096"])
    assert res.exit_code == 2 and res.stderr.strip() == ("vram: error: --max-model-len means nothing for "
                                                         "--engine sglang")
    res = runner.invoke(app, ["estimate", "Qwen/Qwen2.5-7B-Instruct", "--engine", "vllm", "--seq-len", "4096"])
    assert res.exit_code == 2 and "--seq-len means nothing for --engine vllm" in res.stderr


def test_sglang_defaults_follow_server_args() -> None:
    c = presets.engines().sglang
    chunk, bs, mfs = defaults(c, H100, 1, 1, None)
    assert (chunk, bs) == (8192, 256)
    gpu_mib = H100 / 2**20
    assert mfs == round((gpu_mib - 13440) / gpu_mib, 3)  # 512 + 1.5 x 8192 + 2 x 256 + 1/8 x 1024 MiB
    # tokens = (mfs x free - weights) // cell, by hand
    doc = engine_json("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "sglang", "--gpu", "h100")
    e = doc["engine"]
    free = H100 - presets.runtime().cuda_context_bytes
    assert e["kv_tokens"] == (int(free * mfs) - e["weights_bytes"]) // 131072


def test_vllm_refuses_a_model_type_it_removed() -> None:
    # presets/engines.json removed_model_types: Llama 3.2 Vision (mllama) left vLLM with the V0 engine.
    res = CliRunner().invoke(app, ["estimate", "meta-llama/Llama-3.2-11B-Vision", "--engine", "vllm", "--gpu", "h100"])
    assert res.exit_code == 3 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not serve model_type 'mllama'" in lines[0]
    ok = CliRunner().invoke(app, ["estimate", "meta-llama/Llama-3.2-11B-Vision", "--engine", "transformers"])
    assert ok.exit_code == 0
