"""Training and fine-tuning: precision regimes, sharding (ZeRO/FSDP), TP, PP, offload, bad combinations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import spec_of
from vram.architectures import spec_from_size
from vram.cli import app
from vram.errors import UsageError
from vram.estimate import estimate
from vram.options import build_workload, gguf_types

runner = CliRunner()
GB = 10**9


def states(spec: Any, **kw: Any) -> tuple[int, Any]:
    e = estimate(spec, build_workload(**kw), gguf_types=gguf_types())
    b = e.breakdown
    return b.weights_bytes + b.gradients_bytes + b.optimizer_bytes, e


# The ZeRO paper's example (Rajbhandari et al. 2020, Figure 1): 7.5B parameters, 64 GPUs, mixed-precision Adam.
@pytest.mark.parametrize(("zero", "expected_gb"), [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_example(zero: int, expected_gb: float) -> None:
    spec = spec_from_size(7_500_000_000, model_id="7.5B")
    if zero:
        total, _ = states(spec, dtype="fp16", mode="training", gpus=64, zero=zero)
    else:
        total, _ = states(spec, dtype="fp16", mode="training")
    assert total / GB == pytest.approx(expected_gb, abs=0.05)


def test_fsdp_full_is_zero3_and_hybrid_shards_within_groups() -> None:
    spec = spec_from_size(7_500_000_000, model_id="7.5B")
    full, _ = states(spec, dtype="bf16", mode="training", gpus=64, fsdp="full")
    zero3, _ = states(spec, dtype="bf16", mode="training", gpus=64, zero=3)
    hybrid, _ = states(spec, dtype="bf16", mode="training", gpus=64, fsdp="hybrid", shard_size=8)
    assert full == zero3
    assert hybrid == pytest.approx(16 * 7.5e9 / 8, rel=1e-6)


def test_offload_moves_optimizer_to_cpu() -> None:
    spec = spec_from_size(7_000_000_000, model_id="7B")
    _, on_gpu = states(spec, dtype="bf16", mode="training", gpus=8, zero=2)
    _, offloaded = states(spec, dtype="bf16", mode="training", gpus=8, zero=2, offload="optimizer")
    assert offloaded.breakdown.optimizer_bytes == 0
    assert offloaded.cpu_bytes == on_gpu.breakdown.optimizer_bytes


def test_offload_params_keeps_only_gathered_layers() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, e = states(spec, dtype="bf16", mode="training", gpus=8, zero=3, offload="params")
    assert e.breakdown.weights_bytes == 2 * 218_112_000 * 2  # current + prefetched layer, bf16
    assert e.cpu_bytes > 8_030_261_248 * 2 // 8


def test_zero3_adds_gathered_layer_buffers() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, e = states(spec, dtype="bf16", mode="training", gpus=8, zero=3)
    assert e.breakdown.weights_bytes == -(-8_030_261_248 * 2 // 8) + 4 * 218_112_000


def test_tensor_parallel_training_divides_states() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    one, _ = states(spec, dtype="bf16", mode="training", grad_accum=2)  # gradients kept for the whole step
    four, _ = states(spec, dtype="bf16", mode="training", gpus=4, tp=4)
    assert four == pytest.approx(one / 4, rel=0.01)


def test_pipeline_puts_embeddings_on_the_end_stages() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, whole = states(spec, dtype="bf16", mode="training")
    _, e = states(spec, dtype="bf16", mode="training", gpus=4, pp=4)
    layer, embed = 218_112_000 * 2, 525_336_576 * 2  # one decoder layer; the embeddings (= lm_head) in bf16
    assert e.weights_by_component == whole.weights_by_component  # the map is the whole model's
    # the heaviest stage: 8 of the 32 layers plus the embeddings (first stage) or lm_head (last), not both
    assert e.breakdown.weights_bytes == pytest.approx(8 * layer + embed, rel=0.001)
    assert e.breakdown.weights_bytes < 8 * layer + 2 * embed


def test_pipeline_first_stage_holds_p_microbatches() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, single = states(spec, dtype="bf16", mode="training", batch_size=1, seq_len=2048)
    _, piped = states(spec, dtype="bf16", mode="training", batch_size=1, seq_len=2048, gpus=4, pp=4)
    # the first stage still holds all layers' worth of one micro-batch: no activation saving from PP
    assert piped.breakdown.activations_bytes >= 0.6 * single.breakdown.activations_bytes


def test_micro_batch_drives_memory_and_global_batch_is_reported() -> None:
    res = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "training",
                              "--micro-batch-size", "2", "--grad-accum", "8", "--gpus", "8", "--zero", "2",
                              "--format", "json"])
    doc = json.loads(res.stdout)
    assert doc["workload"]["batch_size"] == 2 and doc["workload"]["global_batch_size"] == 2 * 8 * 8
    res1 = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "training",
                               "--micro-batch-size", "2", "--grad-accum", "1", "--gpus", "8", "--zero", "2",
                               "--format", "json"])
    assert json.loads(res1.stdout)["breakdown"] == doc["breakdown"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--mode", "training", "--zero", "2"], "one data-parallel GPU"),
        (["--mode", "training", "--fsdp", "full"], "one data-parallel GPU"),
        (["--mode", "training", "--gpus", "8", "--zero", "2", "--fsdp", "full"], "give one"),
        (["--mode", "training", "--gpus", "6", "--tp", "4"], "not a multiple"),
        (["--mode", "training", "--gpus", "3", "--tp", "3"], "degree of 3"),
        (["--mode", "training", "--gpus", "64", "--pp", "64"], "more pipeline stages"),
        (["--mode", "training", "--gpus", "8", "--fsdp", "full", "--shard-size", "4"], "hybrid only"),
        (["--mode", "training", "--gpus", "8", "--fsdp", "hybrid"], "needs --shard-size"),
        (["--mode", "training", "--gpus", "8", "--fsdp", "hybrid", "--shard-size", "3"], "must divide"),
        (["--mode", "training", "--gpus", "8", "--zero", "2", "--offload", "params"], "parameter sharding"),
        (["--mode", "training", "--offload", "optimizer"], "needs ZeRO"),
        (["--gpus", "8", "--zero", "3"], "training modes only"),
        (["--lora-rank", "8"], "--mode lora or qlora"),
        (["--mode", "training", "--zero", "5", "--gpus", "4"], "0, 1, 2 or 3"),
        (["--micro-batch-size", "4"], "training modes"),
    ],
)
def test_contradictions_are_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    res = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


def test_lora_without_lora_mode_message() -> None:
    with pytest.raises(UsageError, match="lora"):
        build_workload(dtype="bf16", lora_targets="q_proj")


def test_qlora_double_quant_is_smaller() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, plain = states(spec, dtype="bf16", mode="qlora")
    _, dq = states(spec, dtype="bf16", mode="qlora", double_quant=True)
    assert dq.breakdown.weights_bytes < plain.breakdown.weights_bytes


def test_lora_targets_attention_only() -> None:
    spec = spec_of("meta-llama__Meta-Llama-3-8B-Instruct")
    _, e = states(spec, dtype="bf16", mode="lora", lora_rank=8, lora_targets="q_proj,v_proj")
    assert e.trainable_parameters == 32 * 8 * ((4096 + 4096) + (4096 + 1024))


def test_lora_on_a_model_without_decoder_linears_says_so(tmp_path: Any) -> None:
    # ALBERT: the refusal suggested all-linear (which was given) and listed no module names
    from pathlib import Path

    sweep = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]
    (tmp_path / "config.json").write_text(json.dumps(sweep["albert"]["config"]))
    res = CliRunner().invoke(app, ["estimate", str(tmp_path), "--mode", "qlora"])
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "no decoder Linear module that LoRA could adapt" in line and not line.endswith(":")
