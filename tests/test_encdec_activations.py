"""Encoder-decoder training activations: both stacks save for backward, each over its own length, and a
cross-attention's keys and values span the encoder output (hand-checked on a tiny T5)."""

from __future__ import annotations

from vram.architectures import spec_from_config
from vram.estimate import estimate
from vram.options import build_workload

TINY_T5 = {"model_type": "t5", "d_model": 64, "d_kv": 16, "num_heads": 4, "d_ff": 128, "num_layers": 2,
           "num_decoder_layers": 1, "vocab_size": 100, "feed_forward_proj": "relu", "dropout_rate": 0.0}


def _saved(config: dict[str, object], **kw: object) -> tuple[int, dict[str, object]]:
    spec = spec_from_config(config, model_id="tiny")
    w = build_workload(dtype="bf16", mode="training", batch_size=1, **kw)  # type: ignore[arg-type]
    term = next(t for t in estimate(spec, w).terms if t.name == "decoder layers (saved for backward)")
    return term.bytes, dict(term.values)


def test_tiny_t5_saves_both_stacks() -> None:
    saved, values = _saved(TINY_T5, seq_len=10)
    # Per token of a self-attention layer (bf16, h = 64, 4 heads of 16, ReLU MLP of 128):
    #   two norms x (fp32 input 4 + normed 2) x 64 = 768; q and out 2 x (64 + 64) = 256; MLP 2 x 2 x 128 = 512
    #   -> 1,536 x 10 tokens = 15,360; k and v 2 x 128 x 10 = 2,560; softmax statistics 4 x 4 heads x 10 = 160
    layer = 15_360 + 2_560 + 160
    # The decoder layer's cross-attention: one norm 384 + q and out 256 per decoder token; k and v over
    # the 10 encoder positions; its softmax statistics over the decoder's queries.
    cross = 10 * 640 + 2 * 128 * 10 + 160
    encoder_out = 10 * 6 * 64  # the encoder's final norm: fp32 input + bf16 output
    assert saved == layer + cross + 2 * layer + encoder_out == 67_200
    assert values["layers"] == 1 and values["encoder_layers"] == 2 and values["encoder_seq_len"] == 10


def test_checkpointing_keeps_each_stacks_layer_inputs() -> None:
    saved, _ = _saved(TINY_T5, seq_len=10, gradient_checkpointing=True)
    inputs = 3 * 10 * 64 * 2  # two encoder layers and one decoder layer, bf16 inputs
    largest = 18_080 + 9_120  # the decoder layer with its cross-attention, recomputed
    assert saved == inputs + 10 * 6 * 64 + largest


def test_whisper_encoder_runs_over_its_frames_whatever_the_decoder_length() -> None:
    whisper = {"model_type": "whisper", "d_model": 64, "encoder_layers": 1, "decoder_layers": 1,
               "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 128,
               "decoder_ffn_dim": 128, "max_source_positions": 1500, "vocab_size": 100, "num_mel_bins": 8}
    short, values = _saved(whisper, seq_len=10)
    longer, _ = _saved(whisper, seq_len=20)
    assert values["encoder_seq_len"] == 1500
    # The encoder layer over 1,500 frames (same per-token figures as the T5 above: 1,536 bytes, k and v
    # 2 x 128, statistics 4 x 4 heads) plus its final norm, whatever the decoder's length.
    assert values["encoder_bytes"] == 1500 * 1536 + 2 * 128 * 1500 + 4 * 4 * 1500 + 1500 * 6 * 64 == 3_288_000
    # Ten more decoder tokens add the decoder layer's share and the cross-attention's queries only.
    assert longer - short == 10 * (1536 + 2 * 128 + 16) + 10 * (640 + 16)
