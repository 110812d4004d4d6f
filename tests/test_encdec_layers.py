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
    # 1F1B over 2 stages: each stage holds half the layers of both stacks
    w2 = build_workload(dtype="bf16", mode="training", gradient_checkpointing=True, gpus=2, pp=2)
    stage = next(t for t in estimate(spec, w2).terms if t.name.startswith("pipeline stage"))
    encoder = sum(b.count for b in spec.encoder_blocks())
    assert encoder == layers  # these configs' encoders are as deep as their decoders
    assert stage.values["layers_per_stage"] == -(-(encoder + layers) // 2)


def test_every_layer_consumer_folds_the_cross_attention_into_its_layer() -> None:
    from vram.engines import EngineInput
    from vram.engines._pool import stage_layers, weights_per_rank
    from vram.engines.llamacpp import hparams_from_spec, model_from_spec
    from vram.runtimes import layered
    from vram.terms.weights import module_bytes

    spec = spec_from_config(SWEEP["entries"]["t5"]["config"], model_id="t5")  # 6 decoder layers
    w = build_workload(dtype="bf16")
    mods = {m.block.name: m for m in module_bytes(spec, w, {})}
    layer, cross = mods["decoder_layer"].per_layer_bytes, mods["cross_attention"].per_layer_bytes
    # the layer-by-layer runtime loads a decoder layer with its cross-attention
    _, plan = layered(spec, w, estimate(spec, w), {})
    assert plan.largest_module_bytes == max(layer + cross, max(m.per_layer_bytes for m in mods.values()))
    # vLLM / SGLang pipeline stages: 6 layers over 2 stages, 3 each (the cross-attention goes with them)
    w2 = build_workload(dtype="bf16", gpus=2, pp=2)
    _, terms = weights_per_rank(spec, w2, {}, 64)
    _, one = weights_per_rank(spec, build_workload(dtype="bf16", gpus=3, pp=3), {}, 64)
    decoder = sum(m.total_bytes for m in mods.values() if m.component.kind == "decoder")
    heaviest = [next(t.bytes for t in ts if t.name.startswith("heaviest")) for ts in (terms, one)]
    assert heaviest[0] - heaviest[1] == -(-decoder // 6)  # 3 layers per stage against 2
    layers, notes = stage_layers(spec, w2, 2)
    assert len(layers) == 4  # decoder_layer_0 and 5 x decoder_layer, each rounded up: 1 + 3
    assert any("cross-attention" in n for n in notes)
    # llama.cpp: 6 layers, the cross-attention pieces on layers 0..5 beside the self-attention ones
    hp = hparams_from_spec(spec)
    assert hp.n_layer == 6
    pieces = model_from_spec(EngineInput(spec=spec, workload=w), hp).pieces
    assert sorted(p.layer for p in pieces if p.name == "cross_attention") == list(range(6))
    assert max(p.layer for p in pieces if p.name.startswith("decoder_layer")) == 5
