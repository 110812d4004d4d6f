"""Which layers hold what cache: the estimate's kv_layers, the JSON kv_cache.layers and the table line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from vram.architectures import spec_from_config
from vram.breakdown import KvLayers
from vram.cli import app
from vram.estimate import estimate
from vram.options import build_workload
from vram.render import kv_layers_line

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]


def test_hybrid_layers_split_into_state_and_per_token() -> None:
    # qwen3_next@small: 4 Gated DeltaNet layers (conv 512 x 4 bf16 + recurrent 8 x 32 x 32 fp32 each)
    # and 2 full-attention layers (2 KV heads x (32 + 32) x 2 bytes each).
    s = spec_from_config(SWEEP["qwen3_next@small"]["config"], model_id="x")
    e = estimate(s, build_workload(dtype="bf16", seq_len=1000))
    assert e.kv_layers == (KvLayers(kind="linear", layers=4, state_bytes_per_sequence=2048 * 2 + 8192 * 4),
                           KvLayers(kind="full", layers=2, bytes_per_token=2 * 64 * 2))
    # The per-layer figures add up to the totals.
    assert sum(k.layers * k.bytes_per_token for k in e.kv_layers) == e.kv_cache_bytes_per_token
    assert sum(k.layers * k.state_bytes_per_sequence for k in e.kv_layers) == e.kv_state_bytes_per_sequence


def test_chunked_and_tensor_parallel_and_encoders() -> None:
    # llama4_text@interleaved: chunked RoPE layers hold at most the 64-token chunk, NoPE layers all.
    s = spec_from_config(SWEEP["llama4_text@interleaved"]["config"], model_id="x")
    kinds = {k.kind: k for k in estimate(s, build_workload(dtype="bf16")).kv_layers}
    assert set(kinds) == {"chunked", "full"} and kinds["chunked"].window == 64
    # Tensor parallelism splits the KV heads: 8 heads x 128 x 2 x 2 bytes -> 2 heads per GPU at tp 4.
    q = spec_from_config({"model_type": "qwen3", "hidden_size": 1024, "num_hidden_layers": 2, "vocab_size": 1000,
                          "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                          "intermediate_size": 2048}, model_id="q")
    (full,) = estimate(q, build_workload(dtype="bf16", tp=4, gpus=4)).kv_layers
    assert full == KvLayers(kind="full", layers=2, bytes_per_token=2 * 256 * 2)
    # Encoders hold no cache at all.
    enc = spec_from_config({"model_type": "modernbert"}, model_id="e")
    assert estimate(enc, build_workload(dtype="bf16")).kv_layers == ()


def test_line_names_each_kind() -> None:
    line = kv_layers_line([
        {"kind": "full", "layers": 36, "bytes_per_token": 24576, "state_bytes_per_sequence": 0, "window": None},
        {"kind": "sliding", "layers": 1, "bytes_per_token": 512, "state_bytes_per_sequence": 0, "window": 4096},
        {"kind": "linear", "layers": 12, "bytes_per_token": 0, "state_bytes_per_sequence": 6_815_744, "window": None},
    ])
    assert line == ("KV cache: 36 full-attention layers x 24,576 B/token; 1 sliding-window layer (at most 4,096 "
                    "tokens) x 512 B/token; 12 linear-attention layers x 6.50 MiB state per sequence")
    assert kv_layers_line([]) == ""


def test_cli_table_and_json_say_which_layers_hold_what(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["qwen3_next@small"]["config"]))
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--dtype", "bf16"], env=env)
    assert res.exit_code == 0, res.output
    assert "KV cache: 4 linear-attention layers x 0.04 MiB state per sequence; 2 full-attention layers x " \
           "256 B/token" in res.stdout
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--dtype", "bf16", "--format", "json"], env=env)
    kv = json.loads(res.stdout)["kv_cache"]
    assert kv["layers"][0] == {"kind": "linear", "layers": 4, "bytes_per_token": 0,
                               "state_bytes_per_sequence": 36864, "window": None}
    assert kv["state_bytes_per_sequence"] == 4 * 36864 and kv["bytes_per_token"] == 2 * 256


def test_line_names_compressed_layers_and_shared_layers_with_indexer_keys() -> None:
    line = kv_layers_line([
        {"kind": "compressed", "layers": 20, "bytes_per_token": 1024, "state_bytes_per_sequence": 17920,
         "window": 128, "compress_rate": 4, "compressed_bytes": 1280},
        {"kind": "shared", "layers": 2, "bytes_per_token": 256, "state_bytes_per_sequence": 0, "window": None},
    ])
    assert line == ("KV cache: 20 compressed-attention layers x (1,024 B/token for at most 128 tokens + 1,280 B "
                    "per 4 tokens + 0.02 MiB pending per sequence); 2 KV-sharing layers reading earlier layers' "
                    "latent x 256 B/token of indexer keys")


def test_deepseek_v4_json_and_table_and_engines_without_a_cache_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["deepseek_v4@small"]["config"]))
    env = {"COLUMNS": "200", "NO_COLOR": "1"}
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--dtype", "bf16", "--seq-len", "1000",
                                   "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    layers = json.loads(res.stdout)["kv_cache"]["layers"]
    # 2 sliding layers (window 32, one K=V head of 64), 2 HCA (rate 64), 2 CSA (rate 8, key 64 + indexer 24)
    assert layers[0] == {"kind": "sliding", "layers": 2, "bytes_per_token": 128, "state_bytes_per_sequence": 0,
                         "window": 32}
    assert {(k["compress_rate"], k["compressed_bytes"], k["layers"]) for k in layers[1:]} == {(64, 128, 2), (8, 176, 2)}
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--dtype", "bf16"], env=env)
    assert "2 compressed-attention layers x (128 B/token for at most 32 tokens + 128 B per 64 tokens" in res.stdout
    for engine in (["--engine", "vllm", "--gpu", "H100"], ["--engine", "llama.cpp"]):
        res = CliRunner().invoke(app, ["estimate", str(tmp_path), *engine], env=env)
        assert res.exit_code == 2 and res.stdout == ""
        assert "compressed attention" in res.stderr and "--engine transformers" in res.stderr
