"""Activations of linear-attention and Mamba layers (no attention), checked by hand.

Shapes from the golden sweep's configs (their counts are held to transformers there); the float32
intermediates are those transformers' torch paths materialise (vram.architectures.layers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vram.architectures import spec_from_config
from vram.estimate import estimate
from vram.model import ModelSpec
from vram.options import build_workload

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]


def spec(key: str) -> ModelSpec:
    return spec_from_config(SWEEP[key]["config"], model_id=key)


def _term(key: str, mode: str, name: str, kernels: str = "fused") -> int:
    e = estimate(spec(key), build_workload(dtype="bf16", seq_len=4096, mode=mode, mamba_kernels=kernels))
    (t,) = [t for t in e.terms if t.name == name]
    return t.bytes


# mamba defaults: hidden 768, inner 1536, state 16, dt_rank 48, 32 layers, no MLP.
MAMBA_PROJECTED = 2 * 1536 + (48 + 2 * 16) + 1536  # in_proj (x, z), x_proj (dt, B, C), dt_proj
MAMBA_WORK = 3 * 1536 * 16  # discrete_A, discrete_B, deltaB_u of slow_forward, fp32
# mamba_ssm's fused scan: the state at each 2,048-token chunk's end, 2 x state per channel in fp32, per sequence
MAMBA_FUSED_PER_TOKEN = 4 * 2 * 1536 * 16 * 2 // 4096  # 2 chunks of 4,096 tokens: 96 bytes per token


def test_mamba_layer_forward_peak() -> None:
    per_token = 2 * (3 * 768 + MAMBA_PROJECTED + 2 * 1536 + 1536) + 4 * MAMBA_WORK
    assert _term("mamba", "inference", "largest layer forward", "torch") == 4096 * per_token == 1_302_986_752
    fused = 2 * (3 * 768 + MAMBA_PROJECTED + 2 * 1536 + 1536) + MAMBA_FUSED_PER_TOKEN
    assert _term("mamba", "inference", "largest layer forward") == 4096 * fused


def test_mamba_layers_saved_for_backward() -> None:
    norm = (4 + 2) * 768  # one RMSNorm per Mamba layer: fp32 input + normed output
    per_token = norm + 2 * (MAMBA_PROJECTED + 2 * 1536 + 1536) + 4 * MAMBA_WORK
    assert _term("mamba", "training", "decoder layers (saved for backward)", "torch") == 32 * 4096 * per_token
    fused = norm + 2 * (MAMBA_PROJECTED + 2 * 1536 + 1536) + MAMBA_FUSED_PER_TOKEN
    assert _term("mamba", "training", "decoder layers (saved for backward)") == 32 * 4096 * fused


def test_gated_deltanet_forward_peak_counts_its_chunked_rule() -> None:
    # qwen3_next@small: 4 key heads x 32, 8 value heads x 32 (key 128, value 256); conv over q, k, v.
    s = spec("qwen3_next@small")
    st = next(b.state for b in s.decoder_blocks() if b.state is not None)
    assert st is not None
    assert (st.projected, st.channels, st.inner) == (2 * 128 + 2 * 256 + 2 * 8, 2 * 128 + 256, 256)
    # fp32: q, k, k_beta, decayed_k_beta at 8 heads x 32; v, v_beta, output; 3 chunk rows of 64 per head.
    assert st.work_fp32 == 4 * 8 * 32 + 3 * 256 + 3 * 64 * 8
    (layer,) = [t for t in estimate(s, build_workload(dtype="bf16", seq_len=4096)).terms
                if t.name == "largest layer forward"]
    mixer = 4096 * (2 * (3 * 256 + 784 + 2 * 512 + 256) + 4 * 3328)
    assert layer.bytes == mixer == 77_725_696  # larger than any layer's MLP or attention here


def test_state_layers_are_no_longer_free() -> None:
    # nemotron_h@small "M-M*-E": every layer counts: two Mamba-2, one attention, two MLP-only, one MoE.
    e = estimate(spec("nemotron_h@small"), build_workload(dtype="bf16", seq_len=4096, mode="training"))
    (saved,) = [t for t in e.terms if t.name == "decoder layers (saved for backward)"]
    assert saved.values["layers"] == 6 == sum(b.count for b in spec("nemotron_h@small").decoder_blocks() if b.is_layer)
