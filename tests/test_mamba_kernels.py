"""--mamba-kernels: Mamba-1 activations with mamba_ssm's fused selective scan (the default) or with
transformers' torch scan (modeling_mamba slow_forward)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vram.architectures import spec_from_config
from vram.cli import app
from vram.estimate import estimate
from vram.options import build_workload

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())
SMALL = {"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 3, "vocab_size": 100, "state_size": 16,
         "intermediate_size": 128, "conv_kernel": 4, "time_step_rank": 8}


def _saved(kernels: str, seq: int) -> int:
    spec = spec_from_config(SMALL, model_id="m")
    w = build_workload(dtype="bf16", mode="training", seq_len=seq, mamba_kernels=kernels, gradient_checkpointing=False)
    return next(t.bytes for t in estimate(spec, w).terms if t.name == "decoder layers (saved for backward)")


@pytest.mark.parametrize("seq", [1000, 2048, 5000])
def test_fused_scan_keeps_one_state_per_chunk_instead_of_three_per_token(seq: int) -> None:
    inner, state, layers = 128, 16, 3
    torch_work = 4 * 3 * inner * state * seq  # discrete_A, discrete_B, deltaB_u: float32 per token
    chunks = -(-seq // 2048)
    fused_work = -(-(4 * 2 * inner * state * chunks) // seq) * seq  # x: (inner, chunks, 2 x state) float32
    assert _saved("torch", seq) - _saved("fused", seq) == layers * (torch_work - fused_work)


def test_zamba_7b_training_is_far_smaller_with_the_fused_kernels(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(SWEEP["entries"]["zamba"]["config"]))
    runner = CliRunner()

    def act(*extra: str) -> int:
        res = runner.invoke(app, ["estimate", str(tmp_path), "--mode", "training", "--seq-len", "2048", "-f", "json",
                                  *extra])
        assert res.exit_code == 0, res.stderr
        doc = json.loads(res.stdout)
        assert any("mamba_ssm's fused selective scan" in n or "torch scan" in n for n in doc["notes"])
        return int(doc["breakdown"]["activations_bytes"])

    fused, torch = act(), act("--mamba-kernels", "torch")
    assert act("--mamba-kernels", "fused") == fused
    assert torch > 200 * 2**30 > 10 * fused
    res = runner.invoke(app, ["estimate", str(tmp_path), "--mamba-kernels", "cuda"])
    assert res.exit_code == 2 and "--mamba-kernels" in res.stderr


def test_mamba2_fused_training_saves_the_projection_and_the_scan_output() -> None:
    # mamba2 sweep config: hidden 4,096, 64 pure Mamba-2 layers, in_proj out 18,560, inner 8,192, bf16.
    spec = spec_from_config(SWEEP["entries"]["mamba2"]["config"], model_id="mamba2")

    def per_layer(kernels: str) -> int:
        w = build_workload(dtype="bf16", mode="training", seq_len=2048, batch_size=1, mamba_kernels=kernels)
        term = next(t for t in estimate(spec, w).terms if t.name == "decoder layers (saved for backward)")
        return int(term.values["per_layer_bytes"])

    # MambaSplitConv1dScanCombinedFn saves zxbcdt (18,560) and out_x (8,192) in bf16; the layer's one
    # norm saves its fp32 input and bf16 output (6 x 4,096): 78,080 bytes per token x 2,048 tokens.
    assert per_layer("fused") == 2048 * (2 * (18_560 + 8_192) + 6 * 4_096) == 159_907_840
    # the torch path also keeps the convolution's input and output and its float32 chunked-scan tensors
    assert per_layer("torch") == 2048 * (2 * (18_560 + 2 * 10_240 + 8_192) + 4 * 180_224 + 6 * 4_096)
