"""llama.cpp and Ollama buffers against published startup logs, and the GGUF adapters (files, splits, Hub)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.fakehub import FakeHub
from tests.gguf_writer import gguf_bytes, llama_gguf
from vram import presets
from vram.cli import app
from vram.engines.llamacpp_alloc import LlamaModel, LlamaSettings, allocate
from vram.gguf import parse_header
from vram.gguf_model import hparams_from_gguf

runner = CliRunner()
MIB = 2**20
TYPES = presets.ggml_types()


def engine(*args: str) -> dict[str, Any]:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_llama3_8b_q4_k_m_matches_its_startup_log() -> None:
    # developer0hye/llama-3-korean-bllossom-8b-q4-docker README: Llama-3-8B shapes, Q4_K_M, n_ctx 512,
    # n_ubatch 512, flash_attn 0: CUDA0 model 4403.49 MiB, CPU 281.81 MiB, KV 64.00 MiB, compute 258.50 MiB,
    # CUDA_Host compute 9.01 MiB, output 0.49 MiB.
    doc = engine("estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--engine", "llama.cpp", "--dtype", "q4_k_m",
                 "-c", "512", "-fa", "off")
    e = doc["engine"]
    assert round(e["model_buffer_bytes"] / MIB, 2) == 4403.49
    assert round(e["kv_buffer_bytes"] / MIB, 2) == 64.00
    assert round(e["compute_buffer_bytes"] / MIB, 2) == 258.50
    assert e["gpu_layers"] == 33
    assert any("CPU model buffer 295,501,824" in n for n in doc["notes"])  # 281.81 MiB


def _buffers(n_layer: int, e: int, h: int, kv: int, f: int, v: int, ctx: int, fa: bool) -> Any:
    hp = hparams_from_gguf(parse_header(llama_gguf(n_layer=n_layer, n_embd=e, n_head=h, n_head_kv=kv, n_ff=f,
                                                   vocab=v, ctx=32768, wtype="f16"), TYPES))
    s = LlamaSettings(n_ctx=ctx, n_batch=2048, n_ubatch=512, n_seq=1, n_gpu_layers=n_layer + 1, flash_attn=fa,
                      type_k=TYPES[1], type_v=TYPES[1])
    return allocate(LlamaModel(hp=hp, pieces=()), s, alignment=128)


def test_qwen25_3b_shapes_match_a_published_log() -> None:
    # SciSharp/LLamaSharp#1099 (build 4701): 36 layers, n_embd_k_gqa 256, 4096 cells: KV 144.00 MiB,
    # CUDA0 compute 300.75 MiB, CUDA_Host compute 12.01 MiB, output 0.58 MiB.
    b = _buffers(36, 2048, 16, 2, 11008, 151936, 4096, fa=False)
    assert b.devices[0].kv_buffer_bytes == 144 * MIB
    assert b.devices[0].compute_buffer_bytes == round(300.75 * MIB)
    assert abs(b.host_compute_bytes / MIB - 12.01) < 0.02
    assert round(b.output_buffer_bytes / MIB, 2) == 0.58


def test_context_padding_streams_and_sliding_window() -> None:
    b = _buffers(2, 256, 4, 2, 512, 1000, 1000, fa=True)
    assert b.n_ctx == 1024  # padded to 256
    hp = hparams_from_gguf(parse_header(llama_gguf(n_layer=4, arch="gemma2"), TYPES), presets.llamacpp().swa)
    s = LlamaSettings(n_ctx=32768, n_batch=2048, n_ubatch=512, n_seq=4, n_gpu_layers=5, flash_attn=True,
                      type_k=TYPES[8], type_v=TYPES[8])
    out = allocate(LlamaModel(hp=hp, pieces=()), s, alignment=128)
    assert out.n_ctx_seq == 8192 and out.n_swa_cells == 4608  # pad(4096 + 512, 256)
    row = 128 // 32 * 34  # q8_0 row of 2 heads x 64
    full = 2 * 2 * row * 8192 * 4  # 2 full layers, K and V, 4 streams
    swa = 2 * 2 * row * 4608 * 4
    assert out.devices[0].kv_buffer_bytes == full + swa
    swa_full = allocate(LlamaModel(hp=hp, pieces=()), LlamaSettings(**{**s.__dict__, "swa_full": True}),
                        alignment=128)
    assert swa_full.devices[0].kv_buffer_bytes == 2 * full


def test_partial_offload_keeps_output_and_early_layers_on_the_cpu(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=4, data=True))
    all_gpu = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "-c", "1024")["engine"]
    part = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "-c", "1024", "-ngl", "2")["engine"]
    assert all_gpu["gpu_layers"] == 5 and part["gpu_layers"] == 2
    assert part["model_buffer_bytes"] < all_gpu["model_buffer_bytes"] / 2
    assert part["kv_buffer_bytes"] == all_gpu["kv_buffer_bytes"] // 2
    assert part["cpu_buffer_bytes"] > all_gpu["cpu_buffer_bytes"]


def test_two_gpus_split_layers(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=4, data=True))
    e = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "llama.cpp", "--gpus", "2")["engine"]
    a, b = e["devices"]
    # llama.cpp places layer il on the first device whose split point exceeds il / (n_layer + 1): with two
    # equal devices layers 0-2 go to the first, layer 3 and the output layer to the second
    assert a["kv_buffer_bytes"] == 3 * b["kv_buffer_bytes"] > 0
    assert e["gpu_layers"] == 5


def test_split_files_and_projector_are_summed(tmp_path: Path) -> None:
    whole = parse_header(llama_gguf(n_layer=2), TYPES)
    meta = {"general.architecture": "llama", "llama.block_count": 2, "llama.embedding_length": 256,
            "llama.feed_forward_length": 512, "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
            "llama.context_length": 2048, "llama.vocab_size": 1000}
    tensors = [(t.name, t.shape, t.type.name) for t in whole.tensors]
    for i, part in enumerate((tensors[:8], tensors[8:])):
        extra = {"split.no": (2, i), "split.count": (2, 2)}
        (tmp_path / f"m-{i + 1:05d}-of-00002.gguf").write_bytes(gguf_bytes({**meta, **extra} if i == 0 else extra, part,
                                                                           data=True))
    (tmp_path / "mmproj-m-f16.gguf").write_bytes(gguf_bytes({"general.architecture": "clip"},
                                                            [("v.w", (64, 64), "f16")], data=True))
    doc = engine("estimate", str(tmp_path), "--engine", "llama.cpp")
    assert doc["model"]["parameters"] == sum(t.values for t in whole.tensors)
    single = tmp_path / "single"
    single.mkdir()
    (single / "m.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    one = engine("estimate", str(single / "m.gguf"), "--engine", "llama.cpp")["engine"]
    assert doc["engine"]["model_buffer_bytes"] == one["model_buffer_bytes"] + 64 * 64 * 2


def test_folder_with_several_models_asks_for_gguf_file(tmp_path: Path) -> None:
    for q in ("Q4_K_M", "Q8_0"):
        (tmp_path / f"m-{q}.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    res = runner.invoke(app, ["estimate", str(tmp_path), "--engine", "llama.cpp"])
    assert res.exit_code == 2 and "--gguf-file" in res.stderr and res.stdout == ""
    ok = engine("estimate", str(tmp_path), "--engine", "llama.cpp", "--gguf-file", "m-Q8_0.gguf")
    assert ok["model"]["id"] == "m-Q8_0.gguf"


def test_bad_files_fail_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.gguf").write_bytes(llama_gguf()[:200])
    res = runner.invoke(app, ["estimate", str(tmp_path / "bad.gguf"), "--engine", "llama.cpp"])
    assert res.exit_code == 3 and "GGUF header" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    (tmp_path / "ok.gguf").write_bytes(llama_gguf(data=True))
    res = runner.invoke(app, ["estimate", str(tmp_path / "ok.gguf"), "--engine", "llama.cpp", "-ctv", "q8_0",
                              "-fa", "off"])
    assert res.exit_code == 2 and "flash attention" in res.stderr


def test_hub_repo_of_gguf_files_is_read_by_range(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    raw = llama_gguf(n_layer=2, data=True) + b"\0" * (1 << 20)
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        hub.add("acme/tiny-GGUF", files={"tiny-Q8_0.gguf": raw, "README.md": b"hi"})
        doc = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
        assert doc["model"]["source"] == "hub" and doc["engine"]["kv_buffer_bytes"] > 0
        ranges = [p for m, p in hub.requests if "resolve" in p]
        assert ranges and len(hub.requests) <= 4


def test_ollama_applies_its_defaults_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=2, ctx=131072, data=True))
    doc = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "ollama", "--gpu", "rtx4090")
    assert doc["engine"]["settings"]["ctx_size"] == 32768  # the 24 GiB tier
    assert doc["engine"]["settings"]["ubatch_size"] == 1024
    assert any("num_ctx 32,768" in n for n in doc["notes"])
    monkeypatch.setenv("OLLAMA_KV_CACHE_TYPE", "q8_0")
    monkeypatch.setenv("OLLAMA_NUM_PARALLEL", "2")
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "4096")
    doc = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "ollama", "--gpu", "h100")
    s = doc["engine"]["settings"]
    assert (s["ctx_size"], s["parallel"], s["cache_type_k"], s["ubatch_size"]) == (8192, 2, "q8_0", 1024)
    # Ollama (llm/server.go) keeps an f16 cache when flash attention is off, whatever OLLAMA_KV_CACHE_TYPE says.
    monkeypatch.setenv("OLLAMA_FLASH_ATTENTION", "0")
    doc = engine("estimate", str(tmp_path / "m.gguf"), "--engine", "ollama", "--gpu", "h100")
    s = doc["engine"]["settings"]
    assert (s["flash_attn"], s["cache_type_k"], s["cache_type_v"]) == ("off", "f16", "f16")
    assert doc["workload"]["kv_dtype"] == "f16"
    assert any("OLLAMA_KV_CACHE_TYPE=q8_0 ignored" in n for n in doc["notes"])


def test_hub_gguf_headers_are_cached_and_answer_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    raw = llama_gguf(n_layer=2, data=True) + b"\0" * (1 << 20)
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        hub.add("acme/tiny-GGUF", files={"tiny-Q8_0.gguf": raw})
        first = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
        hub.requests.clear()
        second = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
        assert second["engine"] == first["engine"]
        assert not [p for _, p in hub.requests if "resolve" in p and "gguf" in p]  # no header read again
        cached = next((tmp_path / "hf" / "vram").glob("*gguf-header*"))
        cached.write_bytes(cached.read_bytes()[:100])  # a truncated cache file is read again
        third = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
        assert third["engine"] == first["engine"]
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: connection refused
    unreachable = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
    assert unreachable["engine"] == first["engine"]
    assert any("could not be reached" in n for n in unreachable["notes"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = engine("estimate", "acme/tiny-GGUF", "--engine", "llama.cpp", "-c", "2048")
    assert offline["engine"] == first["engine"]


def test_transformers_dequantizes_a_gguf_file(tmp_path: Path) -> None:
    # transformers' GGUF loader dequantizes every tensor: once counted at the file's 8.5 bits per value
    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    res = runner.invoke(app, ["estimate", str(tmp_path / "m.gguf"), "-f", "json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["workload"]["dtype"] == "bf16" and doc["workload"]["stored_format"] is None
    assert doc["weights"]["bits_per_parameter"] == 16.0
    assert doc["breakdown"]["weights_bytes"] == 2 * doc["model"]["parameters"]
    assert any("transformers dequantizes a GGUF file" in n for n in doc["notes"])
    fp32 = json.loads(runner.invoke(app, ["estimate", str(tmp_path / "m.gguf"), "--dtype", "fp32", "-f",
                                          "json"]).stdout)
    assert fp32["breakdown"]["weights_bytes"] == 4 * doc["model"]["parameters"]
    served = runner.invoke(app, ["estimate", str(tmp_path / "m.gguf"), "--engine", "vllm", "--memory", "24GiB"],
                           env={"COLUMNS": "200"})
    assert served.exit_code == 0 and "as stored (gguf) weights" in served.stdout
    assert "stored as stored" not in served.stdout


def test_ollama_refuses_zero_for_its_sizes(tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(llama_gguf(n_layer=2, data=True))
    for flag in ("-np", "-c", "-ub", "--n-batch"):
        res = runner.invoke(app, ["estimate", str(tmp_path / "m.gguf"), "--engine", "ollama", flag, "0"])
        assert res.exit_code == 2 and "must be a positive integer for --engine ollama" in res.stderr, flag
