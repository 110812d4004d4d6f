"""The engine seam: registry, flag refusal, and the default engine keeping today's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vram import engines
from vram.cli import app
from vram.engines import EngineInput
from vram.errors import UsageError
from vram.estimate import estimate
from vram.options import build_workload, gguf_types
from vram.sources import HubOptions, resolve

runner = CliRunner()


def run(*args: str) -> object:
    return runner.invoke(app, list(args), env={"COLUMNS": "120", "NO_COLOR": "1"})


def test_registry_names_and_unknown_engine() -> None:
    assert engines.ENGINE_NAMES == ("transformers", "vllm", "sglang", "llama.cpp", "ollama")
    assert engines.get("Transformers").name == "transformers"
    with pytest.raises(UsageError, match="unknown --engine 'tgi'"):
        engines.get("tgi")


def test_transformers_engine_is_todays_estimate() -> None:
    spec = resolve("meta-llama/Llama-2-7b-hf", HubOptions()).spec
    w = build_workload(dtype="fp16", batch_size=4, seq_len=2048)
    alloc = engines.get("transformers").allocate(EngineInput(spec=spec, workload=w, gguf_types=gguf_types()))
    est = estimate(spec, w, gguf_types=gguf_types())
    assert alloc.estimate.breakdown.as_dict() == est.breakdown.as_dict()
    assert alloc.needed_bytes == est.total_bytes and alloc.budget_bytes is None
    assert alloc.details_dict() == {"name": "transformers"}


@pytest.mark.parametrize(("args", "flag"), [
    (["--max-model-len", "4096"], "--max-model-len"),
    (["-ngl", "10"], "--n-gpu-layers"),
    (["--engine", "transformers", "--mem-fraction-static", "0.8"], "--mem-fraction-static"),
    (["--enforce-eager"], "--enforce-eager"),
])
def test_an_engine_flag_that_means_nothing_is_refused(args: list[str], flag: str) -> None:
    res = run("estimate", "meta-llama/Llama-2-7b-hf", *args)
    assert res.exit_code == 2  # type: ignore[attr-defined]
    assert res.stderr.strip() == f"vram: error: {flag} means nothing for --engine transformers"  # type: ignore[attr-defined]
    assert res.stdout == ""  # type: ignore[attr-defined]


def test_explicit_default_engine_keeps_the_json() -> None:
    a = run("estimate", "meta-llama/Llama-2-7b-hf", "-f", "json")
    b = run("estimate", "meta-llama/Llama-2-7b-hf", "-f", "json", "--engine", "transformers")
    assert a.exit_code == b.exit_code == 0  # type: ignore[attr-defined]
    assert a.stdout == b.stdout  # type: ignore[attr-defined]


def test_every_engine_document_validates(tmp_path: Path) -> None:
    """estimate, check, max and compare with each engine print documents the schema accepts."""
    from tests.gguf_writer import llama_gguf
    from vram import schema

    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    models = {"vllm": "meta-llama/Llama-3.2-1B", "sglang": "openai/gpt-oss-20b", "llama.cpp": str(tmp_path / "m.gguf"),
              "ollama": str(tmp_path / "m.gguf"), "transformers": "meta-llama/Llama-3.2-1B"}
    docs = {"estimate": schema.EstimateDocument, "check": schema.CheckDocument, "max": schema.MaxDocument,
            "compare": schema.CompareDocument}
    for name, model in models.items():
        for cmd, cls in docs.items():
            m = "meta-llama/Llama-3.2-1B" if cmd == "compare" else model
            res = run(cmd, m, "--engine", name, "--gpu", "l4", "-f", "json")
            assert res.exit_code in (0, 1), (name, cmd, res.stderr)  # type: ignore[attr-defined]
            cls.model_validate(json.loads(res.stdout))  # type: ignore[attr-defined]


def test_gguf_workload_is_the_files_types_and_the_cache_types(tmp_path: Path) -> None:
    from tests.gguf_writer import llama_gguf

    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    res = run("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "-ctk", "q8_0", "-ctv", "q4_0",
              "-fa", "on", "-f", "json")
    w = json.loads(res.stdout)["workload"]  # type: ignore[attr-defined]
    assert (w["dtype"], w["stored_format"], w["kv_dtype"], w["attention"]) == (
        "stored", "GGUF q8_0, f32", "q8_0/q4_0", "flash")
    res = run("estimate", str(tmp_path / "m.gguf"), "--engine", "ollama")
    text = " ".join(res.stdout.split())  # type: ignore[attr-defined]
    assert "num_parallel 1, num_ctx 2,048" in text  # capped at the file's training context
    assert "num_ctx 4,096: Ollama's vram-based default context (4k/32k/256k by total VRAM) at its lowest tier" in text
    # the file's types are what llama.cpp loads: a --dtype is refused, not silently ignored
    res = run("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "--dtype", "q4_k_m")
    assert res.exit_code == 2 and "--dtype q4_k_m means nothing for a GGUF file" in res.stderr  # type: ignore[attr-defined]


def test_explicit_inference_mode_is_accepted_by_serving_engines() -> None:
    from typer.testing import CliRunner

    from vram.cli import app

    base = ["estimate", "Qwen/Qwen2.5-0.5B", "--engine", "vllm", "--gpu", "h100"]
    ok = CliRunner().invoke(app, [*base, "--mode", "inference", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, [*base, "--mode", "lora"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_tensor_parallel_degree_that_does_not_divide_the_heads_is_refused(engine: str) -> None:
    # vLLM and SGLang refuse 32 attention heads over 3 GPUs at start-up, as --gpus 3 does for transformers
    res = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "--gpu", "h100", "-tp", "3")
    assert res.exit_code == 2  # type: ignore[attr-defined]
    assert "a tensor-parallel degree of 3 cannot split" in res.stderr  # type: ignore[attr-defined]
    assert res.stdout == ""  # type: ignore[attr-defined]
    ok = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "--gpu", "h100", "-tp", "4")
    assert ok.exit_code == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "vllm", "--gpu", "h100", "--max-model-len", "0"], "--max-model-len must be a positive integer"),
    (["--engine", "vllm", "--gpu", "h100", "--max-num-seqs", "0"], "--max-num-seqs and --max-num-batched-tokens"),
    (["--engine", "vllm", "--gpu", "h100", "--max-num-batched-tokens", "0"], "--max-num-batched-tokens must be"),
    (["--engine", "sglang", "--gpu", "h100", "--context-length", "0"], "--context-length must be a positive"),
    (["--engine", "sglang", "--gpu", "h100", "--max-running-requests", "0"], "--max-running-requests must be"),
    (["--engine", "vllm", "--gpu", "h100", "-tp", "0"], "--tensor-parallel-size must be a positive integer, got 0"),
    (["--engine", "llama.cpp", "-np", "0"], "--parallel must be a positive integer, got 0"),
    (["--engine", "llama.cpp", "-ub", "0"], "--ubatch-size must be a positive integer, got 0"),
    (["--engine", "llama.cpp", "--n-batch", "0"], "--n-batch must be a positive integer, got 0"),
    (["--engine", "llama.cpp", "--gpu", "t4", "--fit-target", "-1"], "--fit-target and --fit-ctx must be 0 or more"),
])
def test_an_explicit_zero_is_a_value_not_the_default(args: list[str], message: str) -> None:
    # `given or default` once turned an explicit 0 into the engine's default without a word
    res = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", *args)
    assert res.exit_code == 2, res.stdout  # type: ignore[attr-defined]
    assert message in res.stderr and res.stdout == ""  # type: ignore[attr-defined]


def test_fit_target_zero_leaves_no_margin() -> None:
    def doc(*extra: str) -> dict[str, object]:
        res = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "llama.cpp", "--gpu", "t4", "-f", "json",
                  *extra)
        assert res.exit_code == 0  # type: ignore[attr-defined]
        return json.loads(res.stdout)  # type: ignore[attr-defined,no-any-return]
    assert doc("--fit-target", "0")["total_bytes"] > doc()["total_bytes"]  # type: ignore[operator]


@pytest.mark.parametrize("size", ["-1", "0"])
def test_sglang_chunked_prefill_off_prefills_a_whole_context(size: str) -> None:
    # SGLang's server_args turn chunked prefill off for a size <= 0; once an internal error (seq_len -1)
    res = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "sglang", "--gpu", "h100",
              "--context-length", "16384", "--chunked-prefill-size", size, "-f", "json")
    assert res.exit_code == 0, res.stderr  # type: ignore[attr-defined]
    e = json.loads(res.stdout)["engine"]  # type: ignore[attr-defined]
    assert e["settings"]["chunked_prefill_size"] == int(size) and e["max_num_batched_tokens"] == 16384
    on = run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "sglang", "--gpu", "h100",
             "--context-length", "16384", "--chunked-prefill-size", "16384", "-f", "json")
    assert json.loads(on.stdout)["engine"]["activation_peak_bytes"] == e["activation_peak_bytes"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("engine", "gpu"), [("vllm", "h100"), ("sglang", "h100"), ("llama.cpp", "rtx-4090")])
def test_max_json_workload_is_the_solved_one_for_engines(engine: str, gpu: str) -> None:
    # it once said seq_len 4096 (the transformers default) next to a solved context of 131,072
    res = run("max", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "--gpu", gpu, "-f", "json")
    assert res.exit_code == 0, res.stderr  # type: ignore[attr-defined]
    doc = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert doc["value"] > 4096 and doc["workload"]["seq_len"] == doc["value"]


@pytest.mark.parametrize("engine", ["llama.cpp", "ollama"])
def test_gguf_engines_refuse_formats_gguf_does_not_have(engine: str) -> None:
    # llama.cpp once ran a config "in nf4" or "in awq", formats no GGUF file holds
    for args in (["estimate", "--dtype", "nf4"], ["estimate", "--dtype", "awq"], ["compare", "--dtypes", "bf16,int4"]):
        res = run(args[0], "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, *args[1:])
        assert res.exit_code == 2, args  # type: ignore[attr-defined]
        assert f"--engine {engine} runs GGUF files" in res.stderr and res.stdout == ""  # type: ignore[attr-defined]
    for dtype in ("mxfp4", "q4_k_m", "bf16"):
        assert run("estimate", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "--dtype",
                   dtype).exit_code == 0  # type: ignore[attr-defined]
    res = run("compare", "meta-llama/Llama-3.1-8B-Instruct", "--engine", engine, "-f", "json")
    rows = json.loads(res.stdout)["rows"]  # type: ignore[attr-defined]
    assert [r["dtype"] for r in rows] == ["fp32", "fp16", "bf16", "q8_0", "q4_k_m"]


def test_llamacpp_caption_names_a_stored_format_of_a_config() -> None:
    # a pre-quantized config counted as stored once read "bf16 weights (5.26 bits/param)"; MXFP4 is a ggml
    # type, so gpt-oss stays as stored (an FP8 checkpoint is dequantized: test_llamacpp_memory.py)
    res = run("estimate", "openai/gpt-oss-20b", "--engine", "llama.cpp", "-f", "json")
    doc = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert doc["workload"]["stored_format"] == "MXFP4 (E2M1, E8M0 scale per 32)"
    text = " ".join(run("estimate", "openai/gpt-oss-20b", "--engine", "llama.cpp").stdout.split())  # type: ignore[attr-defined]
    assert "stored MXFP4 (E2M1, E8M0 scale per 32) weights" in text


@pytest.mark.parametrize("engine", ["vllm", "sglang", "llama.cpp", "ollama"])
def test_max_that_finds_nothing_is_a_valid_document(engine: str) -> None:
    # vram.max raised pydantic's ValidationError where nothing starts: the CLI's document had
    # engine {"name": ...}, which `vram schema max` did not allow
    import vram
    from vram import schema

    m = vram.max("meta-llama/Llama-3.1-405B", engine=engine, gpu="t4")
    assert m.value == 0 and not m.fits and m.engine is not None and m.engine.name == engine
    res = run("max", "meta-llama/Llama-3.1-405B", "--engine", engine, "--gpu", "t4", "-f", "json")
    assert res.exit_code == 1  # type: ignore[attr-defined]
    schema.MaxDocument.model_validate_json(res.stdout)  # type: ignore[attr-defined]


def test_an_engine_budget_label_names_the_gpu() -> None:
    # check, max and plan lines once said "on 0.9 x 79.18 GiB" and lost which GPU was asked for
    res = run("check", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--gpu", "h100", "-f", "json")
    assert json.loads(res.stdout)["label"] == "0.9 x 79.18 GiB of NVIDIA H100 80GB SXM"  # type: ignore[attr-defined]
    res = run("check", "meta-llama/Llama-3.1-8B-Instruct", "--engine", "vllm", "--memory", "24GiB", "-f", "json")
    assert json.loads(res.stdout)["label"] == "0.9 x 24.00 GiB"  # type: ignore[attr-defined]
