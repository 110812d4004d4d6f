"""Lengths an encoder-decoder's two stacks run over, and what cross-attention attends to.

The encoder's layers run over the encoder input (Whisper: its fixed ``max_source_positions`` frames,
``Attention.cross_tokens``; T5, BART: the input, taken as ``--seq-len`` tokens); the decoder's layers
run over the decoder's tokens; a cross-attention projects its queries from the decoder's tokens and
its keys and values from the encoder output (or, for Mllama, from the image features).
"""

from __future__ import annotations

from vram.model import Attention, Block, ModelSpec
from vram.workload import Workload


def cross_length(a: Attention, w: Workload) -> int:
    """Positions a cross-attention's keys and values span per sequence."""
    if a.cross_source == "encoder":
        return a.cross_tokens if a.cross_tokens is not None else w.seq_len
    return a.cross_tokens * w.images if a.cross_tokens else 0


def encoder_length(spec: ModelSpec, w: Workload) -> int:
    """Positions the encoder stack runs over per sequence (0 without one)."""
    for b in spec.decoder_blocks():
        a = b.attention
        if a is not None and a.kind == "cross" and a.cross_source == "encoder":
            return cross_length(a, w)
    return w.seq_len if spec.encoder_blocks() else 0


def block_hidden(b: Block, default: int) -> int:
    """The residual width a layer block reads and writes: its last matrix's output (o_proj, fc2, wo);
    an encoder's width may differ from the decoder's (T5Gemma)."""
    return b.linears[-1].out_features if b.linears else default
