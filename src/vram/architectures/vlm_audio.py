"""Audio-language models: an audio encoder (audio.py) and a projector in front of a language model.

Each row of ``_FAMILIES`` follows one transformers 5.23 modeling file:
- ``qwen2_audio``: ``models/qwen2_audio/modeling_qwen2_audio.py``: one linear with bias; qwen2 text.
- ``voxtral``: ``models/voxtral/modeling_voxtral.py``: four encoder frames stacked (the encoder's MLP
  width) into two bias-free linears; llama text.
- ``audioflamingo3`` / ``musicflamingo``: ``models/audioflamingo3/modeling_audioflamingo3.py``,
  ``models/musicflamingo/modeling_musicflamingo.py``: two linears (bias by ``projector_bias``);
  qwen2 text (Music Flamingo's rotary time embedding has buffers only).
- ``glmasr``: ``models/glmasr/modeling_glmasr.py``: four frames stacked into two linears with bias
  through twice the text width; llama text.
- ``qwen3_asr``: ``models/qwen3_asr/modeling_qwen3_asr.py``: two linears with bias (width, then
  ``output_dim``); qwen3 text.
- ``voxtral_realtime``: ``models/voxtral_realtime/modeling_voxtral_realtime.py``: ``downsample_factor``
  frames packed into two bias-free linears; its own text model (Mistral layers with an ada_rms_norm).
- ``moss_transcribe_diarize``: ``models/moss_transcribe_diarize/modeling_moss_transcribe_diarize.py``:
  ``audio_merge_size`` frames packed into two linears (bias by ``projector_bias``) and a LayerNorm;
  qwen3 text.
- ``qwen2_5_omni_thinker`` / ``qwen3_omni_moe_thinker``: see :func:`build_omni_thinker`.

The lm_head is tied only where the class declares tied weights and the
composite's ``tie_word_embeddings`` (its class default when absent) says so. Sub-configs as
transformers fills them: a dict takes its own class's defaults (and, for Voxtral and GLM-ASR, the
composite's text defaults under it, as their ``__post_init__`` merges them); an absent one takes the
composite's ``sub_configs_defaults``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.audio import KINDS, AudioDims, whisper_tower
from vram.architectures.vlm import _compose, _projector
from vram.model import Attention, Block, Component, Linear, ModelSpec

_WHISPER_ENCODER = {"num_mel_bins": 128, "encoder_layers": 32, "encoder_attention_heads": 20,
                    "encoder_ffn_dim": 5120, "d_model": 1280, "max_source_positions": 1500}
# The same under the transformers-style names (Voxtral's and Audio Flamingo 3's encoder configs).
_WHISPER_ENCODER_HF = {"num_mel_bins": 128, "num_hidden_layers": 32, "num_attention_heads": 20,
                       "intermediate_size": 5120, "hidden_size": 1280, "max_source_positions": 1500}
# The audio encoder config classes' defaults, by their model_type (configuration_<type>.py).
AUDIO_DEFAULTS: dict[str, dict[str, Any]] = {
    "qwen2_audio_encoder": _WHISPER_ENCODER,
    "voxtral_encoder": _WHISPER_ENCODER_HF,
    "audioflamingo3_encoder": _WHISPER_ENCODER_HF,
    "voxtral_realtime_encoder": {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                                 "num_attention_heads": 32, "num_mel_bins": 128, "head_dim": 64},
    "moss_transcribe_diarize_audio": {**_WHISPER_ENCODER_HF, "num_mel_bins": 80, "num_hidden_layers": 24,
                                      "num_attention_heads": 16, "intermediate_size": 4096, "hidden_size": 1024},
    "glmasr_encoder": {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
                       "num_attention_heads": 20, "num_mel_bins": 128, "max_position_embeddings": 1500},
    "qwen3_asr_encoder": {"num_mel_bins": 128, "encoder_layers": 24, "encoder_attention_heads": 16,
                          "encoder_ffn_dim": 4096, "d_model": 1024, "output_dim": 3584,
                          "downsample_hidden_size": 480},
    "qwen2_5_omni_audio_encoder": {**_WHISPER_ENCODER, "output_dim": 3584},
    "qwen3_omni_moe_audio_encoder": {**_WHISPER_ENCODER, "output_dim": 3584, "downsample_hidden_size": 480},
}

# The encoder configs' attribute_map: Whisper's names and the transformers-style ones are one field.
_ALIASES = (("d_model", "hidden_size"), ("encoder_layers", "num_hidden_layers"),
            ("encoder_attention_heads", "num_attention_heads"), ("encoder_ffn_dim", "intermediate_size"))

Projector = Callable[[Cfg, AudioDims, int], tuple[Linear, ...]]


def _two(first_in: Callable[[Cfg, AudioDims, int], int], mid: Callable[[AudioDims, int], int],
         out: Callable[[AudioDims, int], int], bias: Callable[[Cfg], bool]) -> Projector:
    def build(cfg: Cfg, a: AudioDims, th: int) -> tuple[Linear, ...]:
        b = bias(cfg)
        return (Linear(name="linear_1", in_features=first_in(cfg, a, th), out_features=mid(a, th), bias=b),
                Linear(name="linear_2", in_features=mid(a, th), out_features=out(a, th), bias=b))
    return build


def _one(cfg: Cfg, a: AudioDims, th: int) -> tuple[Linear, ...]:
    return (Linear(name="linear", in_features=a.output_size, out_features=th, bias=True),)


@dataclass(frozen=True)
class AudioLm:
    """One audio-language composite: its text and audio defaults, encoder kind, projector and tying."""

    text_type: str
    audio_type: str
    kind: str
    projector: Projector
    frames_per_token: int
    """Encoder frames per language-model token (an average pool or stacked frames)."""
    text_defaults: Mapping[str, Any] = field(default_factory=dict)
    merge_text_defaults: bool = False
    """The composite's __post_init__ lays its text defaults under a text_config dict too."""
    ties: bool = False
    """The class declares tied weights: the composite's tie_word_embeddings decides."""
    projector_norm: bool = False
    """A LayerNorm with bias of the text width after the projector (MOSS)."""


_VOXTRAL_TEXT = {"vocab_size": 131072, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 30,
                 "num_key_value_heads": 8, "max_position_embeddings": 131072, "head_dim": 128}
_GLMASR_TEXT = {"vocab_size": 59264, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
                "num_attention_heads": 16, "num_key_value_heads": 4, "max_position_embeddings": 8192}
_QWEN3_ASR_TEXT = {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                   "max_position_embeddings": 65536, "tie_word_embeddings": True}

_VOXTRAL_REALTIME_TEXT = {"vocab_size": 131072, "hidden_size": 3072, "intermediate_size": 9216,
                          "num_hidden_layers": 26, "num_attention_heads": 32, "num_key_value_heads": 8,
                          "max_position_embeddings": 131072, "head_dim": 128, "tie_word_embeddings": True,
                          "sliding_window": 8192}
_MOSS_TEXT = {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
              "num_key_value_heads": 8, "max_position_embeddings": 131072}


def _flamingo_bias(cfg: Cfg) -> bool:
    return cfg.bool("projector_bias", True)


_FLAMINGO = AudioLm(text_type="qwen2", audio_type="audioflamingo3_encoder", kind="whisper", frames_per_token=2,
                    projector=_two(lambda cfg, a, th: a.hidden_size, lambda a, th: th, lambda a, th: th,
                                   _flamingo_bias))
_FAMILIES: dict[str, AudioLm] = {
    "qwen2_audio": AudioLm(text_type="qwen2", audio_type="qwen2_audio_encoder", kind="whisper", projector=_one,
                           frames_per_token=2),
    "voxtral": AudioLm(text_type="llama", audio_type="voxtral_encoder", kind="whisper", frames_per_token=4,
                       projector=_two(lambda cfg, a, th: a.intermediate_size, lambda a, th: th, lambda a, th: th,
                                      lambda cfg: False),
                       text_defaults=_VOXTRAL_TEXT, merge_text_defaults=True),
    "audioflamingo3": _FLAMINGO,
    "musicflamingo": _FLAMINGO,
    "glmasr": AudioLm(text_type="llama", audio_type="glmasr_encoder", kind="glmasr", frames_per_token=4,
                      projector=_two(lambda cfg, a, th: a.intermediate_size, lambda a, th: 2 * th, lambda a, th: th,
                                     lambda cfg: True),
                      text_defaults=_GLMASR_TEXT, merge_text_defaults=True, ties=True),
    "voxtral_realtime": AudioLm(
        text_type="voxtral_realtime_text", audio_type="voxtral_realtime_encoder", kind="voxtral_realtime",
        frames_per_token=4,
        projector=_two(lambda cfg, a, th: a.hidden_size * cfg.int("downsample_factor", 4), lambda a, th: th,
                       lambda a, th: th, lambda cfg: False),
        text_defaults=_VOXTRAL_REALTIME_TEXT, merge_text_defaults=True, ties=True),
    "moss_transcribe_diarize": AudioLm(
        text_type="qwen3", audio_type="moss_transcribe_diarize_audio", kind="whisper", frames_per_token=4,
        projector=_two(lambda cfg, a, th: a.hidden_size * cfg.int("audio_merge_size", 4), lambda a, th: th,
                       lambda a, th: th, _flamingo_bias),
        text_defaults=_MOSS_TEXT, ties=True, projector_norm=True),
    "qwen3_asr": AudioLm(text_type="qwen3", audio_type="qwen3_asr_encoder", kind="qwen3_asr", frames_per_token=1,
                         projector=_two(lambda cfg, a, th: a.hidden_size, lambda a, th: a.hidden_size,
                                        lambda a, th: a.output_dim, lambda cfg: True),
                         text_defaults=_QWEN3_ASR_TEXT, ties=True),
}


def audio_config(cfg: Cfg, key: str, default_type: str) -> Cfg:
    """The audio sub-config with its encoder class's defaults under it (by its model_type)."""
    given: Mapping[str, Any] = cfg.sub(key)._data if cfg.has(key) else {}
    a_type = given.get("model_type") or default_type
    defaults = AUDIO_DEFAULTS.get(a_type, AUDIO_DEFAULTS[default_type])
    merged = dict(defaults)
    for names in _ALIASES:  # a size given under either name replaces the default under both
        if any(given.get(n) is not None for n in names):
            for n in names:
                merged.pop(n, None)
    merged.update({k: v for k, v in given.items() if v is not None})
    return Cfg(merged, where=key, used=cfg.used)


def text_model(cfg: Cfg, fam_text_type: str, defaults: Mapping[str, Any], *, merge: bool, ties: bool,
               tie_default: bool, model_id: str) -> ModelSpec:
    """The language model with the composite's tying (never, where the class declares no tied weights)."""
    from vram.architectures import build_text_model

    given: Mapping[str, Any] = cfg.sub("text_config")._data if cfg.has("text_config") else {}
    data = {**defaults, **given} if (merge or not cfg.has("text_config")) else dict(given)
    data["tie_word_embeddings"] = ties and cfg.bool("tie_word_embeddings", tie_default)
    t = Cfg(data, where="text_config", used=cfg.used)
    return build_text_model(t, t.str("model_type", fam_text_type), model_id=model_id)


def audio_note(dims: AudioDims, frames_per_token: int) -> str:
    tokens = dims.frames // frames_per_token
    return (f"audio encoder counted: {tokens} language-model tokens per 30-second window "
            f"({dims.frames} encoder frames); audio tokens are not counted in the sequence or activations")


def build_audio_lm(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    fam = _FAMILIES[model_type]
    text = text_model(cfg, fam.text_type, fam.text_defaults, merge=fam.merge_text_defaults, ties=fam.ties,
                      tie_default=True, model_id=model_id)
    assert text.text is not None
    tower, dims = whisper_tower(audio_config(cfg, "audio_config", fam.audio_type), KINDS[fam.kind])
    th = text.text.hidden_size
    proj = _projector("multi_modal_projector", fam.projector(cfg, dims, th), other=2 * th if fam.projector_norm else 0)
    extra: list[Component] = [tower, proj]
    notes = [audio_note(dims, fam.frames_per_token)]
    cache: tuple[Block, ...] = ()
    if model_type == "voxtral_realtime":
        cache, note = streaming_cache(audio_config(cfg, "audio_config", fam.audio_type))
        notes.append(note)
    spec = _compose(text, cfg, model_id=model_id, model_type=model_type, extra=extra, vision=None, notes=notes)
    return replace(spec, encoder_cache=cache) if cache else spec


def streaming_cache(a: Cfg) -> tuple[tuple[Block, ...], str]:
    """Voxtral Realtime's streaming encoder keeps the K/V of its last ``sliding_window`` frames in every
    layer while the decoder generates (VoxtralRealtimeForConditionalGeneration._get_encoder_cache, a
    cache of max_cache_len = audio_config.sliding_window): fixed positions per sequence."""
    layers, heads = a.int("num_hidden_layers"), a.int("num_attention_heads")
    window, hd = a.int("sliding_window", 750), a.int("head_dim", 64)
    block = Block(name="audio_encoder_window", count=layers, attention=Attention(
        kind="cross", cross_source="encoder", cross_tokens=window, num_heads=heads, num_kv_heads=heads, head_dim=hd,
        v_head_dim=hd))
    return (block,), (f"streaming: the audio encoder caches the K/V of its last {window} frames in each of its "
                      f"{layers} layers, once per sequence (in the KV cache, kind 'encoder')")


_QWEN2_5_OMNI_VISION = {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16,
                        "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 3584}


def build_omni_thinker(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """The thinker of Qwen2.5-Omni and Qwen3-Omni (``models/qwen2_5_omni/modeling_qwen2_5_omni.py``,
    ``models/qwen3_omni_moe/modeling_qwen3_omni_moe.py``): the audio encoder ends in its own output
    projection (no projector), the vision tower is Qwen2.5-VL's (window attention) or Qwen3-VL's (with
    DeepStack mergers), the text model is qwen2's or qwen3_moe's layers; the lm_head ties by the
    thinker's tie_word_embeddings (false by default)."""
    from vram.architectures.multimodal import qwen_vl_tower
    from vram.architectures.vision import qwen3_vl_tower

    v2 = model_type == "qwen2_5_omni_thinker"
    text_type = "qwen2_5_omni_text" if v2 else "qwen3_omni_moe_text"
    given: Mapping[str, Any] = cfg.sub("text_config")._data if cfg.has("text_config") else {}
    t = Cfg({**given, "tie_word_embeddings": cfg.bool("tie_word_embeddings", False)}, where="text_config",
            used=cfg.used)
    from vram.architectures import build_text_model

    text = build_text_model(t, text_type, model_id=model_id)
    assert text.text is not None
    audio_type = "qwen2_5_omni_audio_encoder" if v2 else "qwen3_omni_moe_audio_encoder"
    tower, adims = whisper_tower(audio_config(cfg, "audio_config", audio_type),
                                 KINDS["qwen2_5_omni" if v2 else "qwen3_omni"])
    given_v: Mapping[str, Any] = cfg.sub("vision_config")._data if cfg.has("vision_config") else {}
    if v2:
        v = Cfg({**_QWEN2_5_OMNI_VISION, **{k: x for k, x in given_v.items() if x is not None}},
                where="vision_config", used=cfg.used)
        vtower, vdims, vnote = qwen_vl_tower(v, is25=True, out_default=text.text.hidden_size)
    else:
        vtower, vdims = qwen3_vl_tower(Cfg(given_v, where="vision_config", used=cfg.used))
        vnote = (f"images assumed {vdims.image_size}x{vdims.image_size} pixels: {vdims.llm_tokens_per_image} "
                 "tokens after the merger (native resolution: larger images cost more)")
    # Qwen2.5-Omni pools the encoder's frames 2x (its avg_pooler); Qwen3-Omni's Conv2d stem strides 8x.
    frames = adims.frames // 2 if v2 else adims.frames
    note = audio_note(AudioDims(hidden_size=adims.hidden_size, intermediate_size=adims.intermediate_size,
                                output_size=adims.output_size, output_dim=adims.output_dim, frames=frames), 1)
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, vtower], vision=vdims,
                    notes=[vnote, note])


BUILDERS: dict[str, Callable[..., ModelSpec]] = {t: build_audio_lm for t in _FAMILIES}
BUILDERS.update({"qwen2_5_omni_thinker": build_omni_thinker, "qwen3_omni_moe_thinker": build_omni_thinker})
