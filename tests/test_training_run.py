"""Training as frameworks run it: losses, optimizer in backward, activation offload, framework
profiles, dpo and grpo (issue 13). Known answers are worked by hand in each docstring."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import spec_of
from vram.cli import app
from vram.errors import UsageError
from vram.estimate import estimate
from vram.options import build_workload, gguf_types
from vram.terms.loss import liger_chunk_rows, loss_bytes, unsloth_chunks

runner = CliRunner()
LLAMA = "meta-llama__Meta-Llama-3-8B-Instruct"
TOKENS, VOCAB, HIDDEN = 2 * 4096, 128_256, 4096  # Llama-3-8B at batch 2 x 4,096


def _est(**kw: Any) -> Any:
    return estimate(spec_of(LLAMA), build_workload(dtype="bf16", **kw), gguf_types=gguf_types())


def _term(e: Any, name: str) -> Any:
    return next(t for t in e.terms if t.name.startswith(name))


def _loss(**kw: Any) -> int:
    w = build_workload(dtype="bf16", mode="lora", **kw)
    return loss_bytes(w, TOKENS, VOCAB, HIDDEN, 2, head_trainable=False)[0]


def test_standard_loss_llama3_8b() -> None:
    """N = 8,192 tokens, V = 128,256: N x V = 1,050,673,152 logits. transformers keeps the bf16
    logits (2), the fp32 log-softmax (4), its gradient (4) and the logits' gradient (2): 12 bytes
    each = 12,608,077,824; the final norm's fp32 input and bf16 output 2 x N x h x 2 = 134,217,728.
    Total 12,742,295,552 bytes (11.87 GiB)."""
    assert _loss(loss="standard") == 12_742_295_552


def test_chunked_loss_eager_keeps_fp32_log_softmax() -> None:
    """torchtune LinearCrossEntropyLoss, 8 chunks, eager: autograd saves each chunk's fp32
    log-softmax, 4 x N x V = 4,202,692,608; at the start of backward the last chunk's (1,024 rows)
    NLL and log-softmax gradients, 8 x 1,024 x 128,256 = 1,050,673,152; the index_select copy of the
    hidden states N x h x 2 = 67,108,864; the final norm 134,217,728. Total 5,454,692,352."""
    assert _loss(loss="chunked") == 5_454_692_352


def test_chunked_loss_compiled_keeps_bf16_logits() -> None:
    """Compiled chunks save their bf16 logits, 2 x N x V = 2,101,346,304, and the fp32 log-sum-exp
    4 x N = 32,768; the last chunk's bf16 gradient from one fused kernel: 1,024 x V x 2 = 262,668,288;
    plus the hidden copy 67,108,864 and the final norm 134,217,728. Total 2,565,373,952."""
    assert _loss(loss="chunked", compile_loss=True) == 2_565_373_952


def test_more_chunks_shrink_only_the_transient() -> None:
    """16 chunks: the last chunk is 512 rows, 8 x 512 x V = 525,336,576 instead of 1,050,673,152."""
    assert _loss(loss="chunked") - _loss(loss="chunked", loss_chunks=16) == 525_336_576


def test_fused_liger() -> None:
    """Liger: ceil(128,256 / 4,096) = 32, chunk = next_pow2(ceil(8,192 / 32)) = 256 rows; the chunk's
    bf16 logits 256 x V x 2 = 65,667,072; the input gradient computed in forward N x h x 2 =
    67,108,864; loss_1d 4 x N = 32,768; final norm 134,217,728. Total 267,026,432 (0.25 GiB against
    11.87 GiB for the standard loss)."""
    assert liger_chunk_rows(TOKENS, VOCAB, HIDDEN) == 256
    assert _loss(loss="fused") == 267_026_432


def test_fused_unsloth_and_cce() -> None:
    """Unsloth: fp32 logits 4 x N x V = 4,202,692,608 bytes = 0.98 GiB... of a 4 GiB target: one
    chunk, so the whole bf16 + fp32 logits, 6 x N x V = 6,304,038,912, + input gradient 67,108,864 +
    final norm 134,217,728 = 6,505,365,504. At 4 x 8,192 tokens the fp32 logits are 7.8 GiB: 2 exact
    chunks, rounded up to 4. Cut Cross-Entropy: log-sum-exp 4 x N = 32,768 + the input gradient
    67,108,864 + final norm = 201,359,360."""
    assert unsloth_chunks(TOKENS, VOCAB) == 1
    assert unsloth_chunks(4 * 8192, VOCAB) == 4
    assert _loss(loss="fused", fused_kernel="unsloth") == 6_505_365_504
    assert _loss(loss="fused", fused_kernel="cce") == 201_359_360


def test_loss_changes_only_the_loss_term_of_the_estimate() -> None:
    standard = _est(mode="lora", batch_size=2, seq_len=4096, loss="standard")
    fused = _est(mode="lora", batch_size=2, seq_len=4096, loss="fused")
    diff = standard.breakdown.activations_bytes - fused.breakdown.activations_bytes
    assert diff == 12_742_295_552 - 267_026_432
    assert _term(fused, "fused linear cross-entropy").bytes == 267_026_432


def test_optimizer_in_backward_keeps_the_largest_gradient() -> None:
    """Full pure-bf16 training of Llama-3-8B: the largest tensor is the embedding or lm_head,
    128,256 x 4,096 = 525,336,576 parameters, 2 bytes each: 1,050,673,152 gradient bytes at the peak,
    instead of 16,060,522,496 for all of them."""
    on = _est(mode="training", precision="pure-bf16", batch_size=1, seq_len=1024, optimizer_in_backward=True)
    assert on.breakdown.gradients_bytes == 1_050_673_152
    assert any("optimizer in backward" in n for n in on.notes)


def test_optimizer_in_backward_refused_with_grad_accum() -> None:
    with pytest.raises(UsageError, match="accumulate"):
        build_workload(dtype="bf16", mode="training", grad_accum=4, optimizer_in_backward=True)


def test_activation_offload_with_checkpointing() -> None:
    """Checkpointed layer inputs are 8,192 x 4,096 x 2 = 67,108,864 bytes each; torchtune keeps 5 in
    flight, so 27 of the 32 go to the CPU: 1,811,939,328 bytes; the GPU loses exactly those."""
    kw: dict[str, Any] = {"mode": "lora", "batch_size": 2, "seq_len": 4096, "gradient_checkpointing": True}
    off = _est(**kw, activation_offload=True)
    on = _est(**kw)
    assert off.cpu_bytes == 27 * 67_108_864
    assert on.breakdown.activations_bytes - off.breakdown.activations_bytes == 27 * 67_108_864


def test_unsloth_profile_offloads_checkpoints_one_in_flight() -> None:
    e = _est(mode="lora", batch_size=2, seq_len=4096, framework="unsloth")
    assert e.cpu_bytes == 31 * 67_108_864
    assert any(n.startswith("unsloth default: loss = fused") for n in e.notes)
    assert _term(e, "fused cross-entropy (Unsloth)").bytes == 6_505_365_504


def test_framework_defaults_and_explicit_override() -> None:
    tt = build_workload(dtype="bf16", mode="lora", framework="torchtune")
    assert (tt.loss, tt.loss_chunks, tt.gradient_checkpointing) == ("chunked", 8, True)
    assert tt.lora_format is not None and tt.lora_format.name == "bf16"
    assert any("loss = chunked" in n for n in tt.framework_defaults)
    full = build_workload(dtype="bf16", mode="training", framework="torchtune")
    assert full.optimizer_in_backward and full.optimizer == "paged-adamw-8bit" and full.regime == "pure-bf16"
    mine = build_workload(dtype="bf16", mode="lora", framework="torchtune", loss="standard",
                          gradient_checkpointing=False)
    assert mine.loss == "standard" and not mine.gradient_checkpointing
    assert not any("loss =" in n or "gradient-checkpointing" in n for n in mine.framework_defaults)
    trl = build_workload(dtype="bf16", mode="lora", framework="trl")
    assert trl.gradient_checkpointing and trl.loss == "standard"


def test_dpo_doubles_the_sequences_and_adds_a_reference() -> None:
    """Full DPO: the policy sees chosen + rejected (2 x batch), and a frozen copy of the weights
    (16,060,522,496 bytes in bf16) is loaded."""
    sft = _est(mode="training", precision="pure-bf16", batch_size=2, seq_len=1024)
    dpo = _est(mode="dpo", precision="pure-bf16", batch_size=1, seq_len=1024)
    assert _term(dpo, "reference model").bytes == 16_060_522_496
    layers = _term(sft, "decoder layers").bytes
    assert _term(dpo, "decoder layers").bytes == layers
    lora = build_workload(dtype="bf16", mode="dpo", tuning="lora")
    assert lora.mode == "lora" and not lora.reference_model


def test_grpo_sequences_are_prompt_plus_completion() -> None:
    e = _est(mode="grpo", tuning="lora", batch_size=8, seq_len=256, max_completion_length=768,
             num_generations=8)
    assert _term(e, "decoder layers").values["seq_len"] == 1024
    assert _term(e, "logits and loss").values["tokens"] == 8 * 768


@pytest.mark.parametrize(("args", "needle"), [
    (["--mode", "training", "--optimizer-in-backward", "--grad-accum", "2"], "torchtune refuses"),
    (["--mode", "lora", "--reference", "model"], "--reference"),
    (["--loss", "fused"], "training modes only"),
    (["--mode", "lora", "--loss-chunks", "4"], "--loss chunked"),
    (["--mode", "lora", "--loss", "chunked", "--fused-kernel", "cce"], "--loss fused"),
    (["--mode", "lora", "--loss", "fused", "--compile"], "--loss chunked only"),
    (["--mode", "dpo", "--num-generations", "4"], "--mode grpo"),
    (["--mode", "lora", "--tuning", "lora"], "--mode dpo or grpo"),
    (["--mode", "grpo", "--batch-size", "3", "--num-generations", "8"], "multiple of --num-generations"),
    # the smallest --batch-size (or --grad-accum) that makes batch x accumulation x GPUs a multiple of 8
    (["--mode", "grpo", "--batch-size", "3", "--num-generations", "8"], "use --batch-size 8 (or a multiple of it), "
                                                                        "or --grad-accum 8"),
    (["--mode", "grpo", "--batch-size", "2", "--grad-accum", "2", "--num-generations", "12"], "--batch-size 6 "),
    (["--mode", "grpo", "--batch-size", "2", "--grad-accum", "2", "--num-generations", "12"], "--grad-accum 6"),
    (["--mode", "grpo", "--num-generations", "1"], "at least 2 completions per prompt"),
    (["--mode", "lora", "--framework", "deepspeed"], "--framework"),
    (["--mode", "lora", "--loss", "sparse"], "--loss"),
])
def test_refusals_are_exit_2_with_one_line(args: list[str], needle: str) -> None:
    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", *args])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


@pytest.mark.parametrize("args", [
    ["--mode", "lora", "--loss", "chunked", "--loss-chunks", "16", "--compile"],
    ["--mode", "qlora", "--loss", "fused", "--fused-kernel", "cce"],
    ["--mode", "training", "--optimizer-in-backward"],
    ["--mode", "lora", "--gradient-checkpointing", "--activation-offload"],
    ["--mode", "lora", "--framework", "axolotl"],
    ["--mode", "lora", "--framework", "hf"],
    ["--mode", "dpo", "--tuning", "lora", "--reference", "none"],
    ["--mode", "grpo", "--tuning", "qlora", "--batch-size", "8", "--reference", "model"],
])
def test_each_flag_from_the_cli(args: list[str]) -> None:
    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--format", "json", *args])
    assert r.exit_code == 0, r.stderr
    assert '"total_bytes"' in r.stdout


def test_no_flag_turns_a_framework_default_off() -> None:
    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "lora", "--framework",
                            "unsloth", "--no-activation-offload", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    assert '"cpu_bytes": 0' in r.stdout


def test_checkpointing_carries_the_loss_or_one_layer_not_both() -> None:
    """With checkpointing, backward finishes the loss (and frees the logits) before it recomputes the
    last layer: 32 inputs x 67,108,864 = 2,147,483,648 plus the larger of the standard loss
    (12,742,295,552) and one recomputed layer: 14,889,779,200 bytes."""
    e = _est(mode="lora", batch_size=2, seq_len=4096, gradient_checkpointing=True, loss="standard")
    assert e.breakdown.activations_bytes == 14_889_779_200


def test_json_reports_the_training_run_and_validates() -> None:
    from vram.schema import DOCUMENTS

    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "grpo", "--tuning", "lora",
                            "-b", "8", "--framework", "trl", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    import json

    doc = json.loads(r.stdout)
    DOCUMENTS["estimate"].model_validate(doc)
    run = doc["workload"]["training_run"]
    assert run["objective"] == "grpo" and run["framework"] == "trl" and run["reference_model"] is False


def test_training_run_flags_are_refused_by_serving_engines() -> None:
    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "lora", "--loss", "fused",
                            "--engine", "sglang", "--gpu", "h100"])
    assert r.exit_code == 2 and "--loss" in r.stderr
    # vLLM runs in training only as grpo's generator (tests/test_grpo_colocate.py)
    r = runner.invoke(app, ["estimate", "meta-llama/Meta-Llama-3-8B-Instruct", "--mode", "lora", "--loss", "fused",
                            "--engine", "vllm", "--gpu", "h100"])
    assert r.exit_code == 2 and "--mode lora needs --engine transformers" in r.stderr


def test_lora_gradients_are_freed_between_steps() -> None:
    """torchtune's LoRA recipe and the transformers Trainer end each step with
    zero_grad(set_to_none=True): at the peak (the loss's gradients at the start of backward) no
    adapter gradient exists. With accumulation all 41,943,040 fp32 adapter gradients stay:
    41,943,040 x 4 = 167,772,160 bytes."""
    assert _est(mode="lora", batch_size=2).breakdown.gradients_bytes == 0
    assert _est(mode="lora", batch_size=2, grad_accum=2).breakdown.gradients_bytes == 167_772_160


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "lora", "--loss", "chunked", "--loss-chunks", "0"], "--loss-chunks must be a positive integer, got 0"),
    (["--mode", "grpo", "--num-generations", "0"], "--num-generations must be a positive integer, got 0"),
    (["--mode", "grpo", "--batch-size", "8", "--max-completion-length", "0"],
     "--max-completion-length must be a positive integer, got 0"),
    (["--loss", "fused"], "--loss describes a training step and applies to training modes only"),
])
def test_an_explicit_zero_is_refused_not_the_default(args: list[str], message: str) -> None:
    # `value or default` once ran --loss-chunks 0 as 8 and blamed "--num-generations 8" for a 0
    res = runner.invoke(app, ["estimate", "meta-llama/Llama-3.1-8B-Instruct", *args])
    assert res.exit_code == 2 and res.stderr.strip() == f"vram: error: {message}" and res.stdout == ""
