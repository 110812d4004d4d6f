"""Encoder-decoders list each decoder layer's cross-attention as its own block (what it caches differs),
but it sits inside the decoder layer (transformers' T5Block, WhisperDecoderLayer, BartDecoderLayer): the
layer count of activations and pipeline stages is the decoder's layers, not twice that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vram.architectures import spec_from_config
from vram.estimate import estimate
from vram.options import build_workload
from vram.terms.parallel import _largest_layer

SWEEP: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())


@pytest.mark.parametrize(("model_type", "layers"), [("t5", 6), ("whisper", 4), ("bart", 12)])
def test_cross_attention_is_inside_the_decoder_layers(model_type: str, layers: int) -> None:
    spec = spec_from_config(SWEEP["entries"][model_type]["config"], model_id=model_type)
    assert sum(b.count for b in spec.decoder_blocks() if b.is_layer) == layers
    w = build_workload(dtype="bf16", mode="training", gradient_checkpointing=True)
    saved = next(t for t in estimate(spec, w).terms if t.name == "decoder layers (saved for backward)")
    assert saved.values["layers"] == layers
    # the largest layer holds its self-attention and MLP and its cross-attention
    blocks = spec.decoder_blocks()
    cross = next(b for b in blocks if b.within_layers)
    assert _largest_layer(spec) == max(b.params_per_layer for b in blocks if b.is_layer) + cross.params_per_layer
    # 1F1B over 2 stages: each stage holds half the decoder layers
    w2 = build_workload(dtype="bf16", mode="training", gradient_checkpointing=True, gpus=2, pp=2)
    stage = next(t for t in estimate(spec, w2).terms if t.name.startswith("pipeline stage"))
    assert stage.values["layers_per_stage"] == -(-layers // 2)
