"""Audio encoders of the speech- and audio-language models, as transformers 5.23 builds them.

Most are Whisper's encoder (``models/whisper/modeling_whisper.py``, WhisperEncoder: two Conv1d over the
log-mel frames, the second with stride 2, a learned table of ``max_source_positions`` positions, pre-LN
layers of q/k/v/out projections (k_proj without bias) and a GeLU MLP, a final LayerNorm) with small
departures, each named by an :class:`AudioKind`:

- ``qwen2_audio``: ``models/qwen2_audio/modeling_qwen2_audio.py`` (Qwen2AudioEncoder; its 2x average
  pool has no parameters). Voxtral (``models/voxtral/modeling_voxtral.py``) and Audio Flamingo 3 /
  Music Flamingo (``models/audioflamingo3/modeling_audioflamingo3.py``) build the same encoder.
- ``glmasr``: ``models/glmasr/modeling_glmasr.py`` (GlmAsrEncoder): rotary positions instead of the
  table, grouped KV heads, q/v/o with bias and k without.
- ``qwen3_asr``: ``models/qwen3_asr/modeling_qwen3_asr.py`` (Qwen3ASREncoder): three stride-2 Conv2d
  over the mel image and a bias-free linear to the width instead of the Conv1d pair, sinusoidal
  positions (a buffer), every projection with bias.
- ``qwen2_5_omni``: ``models/qwen2_5_omni/modeling_qwen2_5_omni.py`` (Qwen2_5OmniAudioEncoder): the
  Conv1d pair, sinusoidal positions, two learned bos/eos rows of the output width, and a projection
  with bias to ``output_dim`` after the final LayerNorm.
- ``voxtral_realtime``: ``models/voxtral_realtime/modeling_voxtral_realtime.py`` (VoxtralRealtimeEncoder):
  the Conv1d pair, rotary positions and sliding-window attention over ``head_dim``-wide heads,
  RMSNorms, a SiLU-gated MLP with a bias on down_proj only.
- ``qwen3_omni``: ``models/qwen3_omni_moe/modeling_qwen3_omni_moe.py`` (Qwen3OmniMoeAudioEncoder):
  the Conv2d stem of Qwen3-ASR, a LayerNorm, then ``proj1`` (GeLU) and ``proj2`` to ``output_dim``.

Each encoder is a Component of kind "other": its weights count, its activations and the audio
tokens it hands the language model are described in notes only.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram.architectures._config import Cfg
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear


@dataclass(frozen=True)
class AudioKind:
    """How one Whisper-style encoder departs from Whisper's."""

    positions: bool = True
    """A learned table of max_source_positions x width (False: rotary or sinusoidal, no parameters)."""
    k_bias: bool = False
    """k_proj has a bias (Whisper's has none)."""
    conv2d_stem: bool = False
    """Three 3x3 stride-2 Conv2d over the mel image and a bias-free linear (Qwen3-ASR, Qwen3-Omni)."""
    rms_norm: bool = False
    """RMSNorms (a weight only) instead of LayerNorms (Voxtral Realtime)."""
    gated_mlp: bool = False
    """A SiLU-gated MLP: gate_proj and up_proj without bias, down_proj with (Voxtral Realtime)."""
    output: str = ""
    """What follows the final LayerNorm: "" nothing, "proj" a projection with bias to output_dim and two
    bos/eos rows (Qwen2.5-Omni), "proj2" proj1 (width -> width) and proj2 (width -> output_dim), both
    with bias (Qwen3-Omni)."""


KINDS = {
    "whisper": AudioKind(),
    "glmasr": AudioKind(positions=False),
    "qwen3_asr": AudioKind(positions=False, k_bias=True, conv2d_stem=True),
    "qwen2_5_omni": AudioKind(positions=False, output="proj"),
    "voxtral_realtime": AudioKind(positions=False, rms_norm=True, gated_mlp=True),
    "qwen3_omni": AudioKind(positions=False, k_bias=True, conv2d_stem=True, output="proj2"),
}


@dataclass(frozen=True)
class AudioDims:
    """The sizes of an audio encoder that the composite needs."""

    hidden_size: int
    intermediate_size: int
    output_size: int
    """The width the encoder hands on."""
    output_dim: int
    """The config's ``output_dim`` (Qwen3-ASR's projector ends there), else the width."""
    frames: int
    """Encoder positions of one 30-second window (Whisper: 1,500 after the stride-2 convolution)."""


def _sizes(a: Cfg) -> tuple[int, int, int, int]:
    """Width, MLP width, layers and heads, under Whisper's names or the transformers-style ones."""
    h = a.first_int(("d_model", "hidden_size"))
    inter = a.first_int(("encoder_ffn_dim", "intermediate_size"))
    layers = a.first_int(("encoder_layers", "num_hidden_layers"))
    heads = a.first_int(("encoder_attention_heads", "num_attention_heads"))
    return h, inter, layers, heads


def whisper_tower(a: Cfg, kind: AudioKind) -> tuple[Component, AudioDims]:
    """A Whisper-style audio encoder (``a`` is the audio config with its class defaults filled in)."""
    h, inter, layers, heads = _sizes(a)
    mels = a.int("num_mel_bins")
    kv = a.int("num_key_value_heads", heads)
    hd = a.int("head_dim") if a.has("head_dim") else a.divides("hidden_size", h, "num_attention_heads", heads)
    if heads % kv:
        raise ConfigError(f"config field '{a._where}:num_attention_heads' ({heads}) is not divisible by "
                          f"'num_key_value_heads' ({kv})")
    blocks: list[Block] = []
    if kind.conv2d_stem:
        c = a.int("downsample_hidden_size")
        freq = mels
        for _ in range(3):
            freq = (freq + 1) // 2  # 3x3 kernel, stride 2, padding 1
        blocks.append(Block(name="conv_stem", linears=(Linear(name="conv_out", in_features=c * freq, out_features=h),),
                            other_params=(9 * c + c) + 2 * (9 * c * c + c)))
    else:
        blocks.append(Block(name="conv_stem", other_params=(3 * mels * h + h) + (3 * h * h + h)))
    # Whisper's processor gives 3,000 mel frames per 30-second window (10 ms hop); each stride-2
    # convolution halves them (rounding up).
    frames = a.int("max_source_positions", 1500)
    if kind.conv2d_stem:
        frames = 3000
        for _ in range(3):
            frames = (frames + 1) // 2
    if kind.positions:
        blocks.append(Block(name="embed_positions", embedding_params=frames * h))
    norm = h if kind.rms_norm else 2 * h
    mlp = ((Linear(name="mlp.gate_proj", in_features=h, out_features=inter),
            Linear(name="mlp.up_proj", in_features=h, out_features=inter),
            Linear(name="mlp.down_proj", in_features=inter, out_features=h, bias=True)) if kind.gated_mlp else
           (Linear(name="fc1", in_features=h, out_features=inter, bias=True),
            Linear(name="fc2", in_features=inter, out_features=h, bias=True)))
    blocks.append(Block(name="audio_layer", count=layers, linears=(
        Linear(name="self_attn.q_proj", in_features=h, out_features=heads * hd, bias=True),
        Linear(name="self_attn.k_proj", in_features=h, out_features=kv * hd, bias=kind.k_bias),
        Linear(name="self_attn.v_proj", in_features=h, out_features=kv * hd, bias=True),
        Linear(name="self_attn.out_proj", in_features=heads * hd, out_features=h, bias=True)) + mlp,
        other_params=2 * norm,  # two norms
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd),
        mlp_width=inter, gated_mlp=kind.gated_mlp))
    out = h
    tail: tuple[Linear, ...] = ()
    extra = norm  # the final norm
    if kind.output == "proj":
        out = a.int("output_dim")
        tail = (Linear(name="proj", in_features=h, out_features=out, bias=True),)
        extra += 2 * out  # audio_bos_eos_token
    elif kind.output == "proj2":
        out = a.int("output_dim")
        tail = (Linear(name="proj1", in_features=h, out_features=h, bias=True),
                Linear(name="proj2", in_features=h, out_features=out, bias=True))
    blocks.append(Block(name="ln_post", linears=tail, other_params=extra))
    return (Component(name="audio_tower", kind="other", blocks=tuple(blocks)),
            AudioDims(hidden_size=h, intermediate_size=inter, output_size=out, output_dim=a.int("output_dim", h),
                      frames=frames))
