"""Audio-language composites: the audio towers' arithmetic by hand, tying, notes and refusals.

The golden sweep (test_golden_sweep.py) holds every audio model type to transformers' own count; these
tests check the parts on configs small enough to add up by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import workload
from vram.architectures import spec_from_config
from vram.errors import ConfigError, UnsupportedModelError
from vram.terms.kv import kv_cache, kv_cache_bytes_per_token, kv_layers

# A qwen2 text model of 1,000 tokens, width 8, one layer, 2 heads of 4, MLP 16 (qwen2: q/k/v biases).
_TEXT: dict[str, Any] = {"model_type": "qwen2", "vocab_size": 1000, "hidden_size": 8, "intermediate_size": 16,
                         "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
                         "layer_types": ["full_attention"]}
# embed 8,000; q/k/v 3 x (64 + 8); o 64; MLP 3 x 128; two norms 16; final norm 8; lm_head 8,000
_TEXT_PARAMS = 8000 + 3 * 72 + 64 + 3 * 128 + 16 + 8 + 8000


def _params(config: dict[str, Any], part: str) -> int:
    spec = spec_from_config(config, model_id="t")
    return sum(c.params for c in spec.components if c.name == part)


def test_whisper_tower_by_hand() -> None:
    # Width 4, 2 layers of 2 heads, MLP 8, 3 mel bins, 10 positions.
    audio = {"model_type": "qwen2_audio_encoder", "d_model": 4, "encoder_layers": 2, "encoder_attention_heads": 2,
             "encoder_ffn_dim": 8, "num_mel_bins": 3, "max_source_positions": 10}
    cfg = {"model_type": "qwen2_audio", "audio_config": audio, "text_config": _TEXT}
    convs = (3 * 3 * 4 + 4) + (3 * 4 * 4 + 4)  # conv1 (mels -> width, kernel 3), conv2 (width -> width)
    # q, v, out with bias, k without; fc1, fc2 with bias; two LayerNorms
    layer = 3 * (16 + 4) + 16 + (32 + 8) + (32 + 4) + 4 * 4
    assert _params(cfg, "audio_tower") == convs + 10 * 4 + 2 * layer + 2 * 4
    assert _params(cfg, "projector") == 4 * 8 + 8  # one linear with bias to the text width
    spec = spec_from_config(cfg, model_id="t")
    assert spec.parameters == _params(cfg, "audio_tower") + 4 * 8 + 8 + _TEXT_PARAMS


def test_qwen3_asr_conv2d_stem_by_hand() -> None:
    audio = {"model_type": "qwen3_asr_encoder", "d_model": 4, "encoder_layers": 1, "encoder_attention_heads": 2,
             "encoder_ffn_dim": 8, "num_mel_bins": 9, "downsample_hidden_size": 2, "output_dim": 6}
    cfg = {"model_type": "qwen3_asr", "audio_config": audio, "text_config": {**_TEXT, "model_type": "qwen3"},
           "tie_word_embeddings": False}
    # Three 3x3 stride-2 Conv2d (1 -> 2 -> 2 -> 2 channels, with bias); 9 mel bins -> 5 -> 3 -> 2;
    # conv_out: 2 channels x 2 bins -> width, no bias.
    stem = (9 * 2 + 2) + 2 * (9 * 2 * 2 + 2) + 2 * 2 * 4
    layer = 4 * (16 + 4) + (32 + 8) + (32 + 4) + 4 * 4  # every projection with bias
    assert _params(cfg, "audio_tower") == stem + layer + 2 * 4
    assert _params(cfg, "projector") == (4 * 4 + 4) + (4 * 6 + 6)  # width -> width -> output_dim


def test_stacked_frames_projector_and_tying() -> None:
    # GLM-ASR: four frames stacked (the encoder's MLP width) -> 2 x text width -> text width, with bias;
    # tied by the composite's flag (its class default true).
    audio = {"model_type": "glmasr_encoder", "hidden_size": 4, "intermediate_size": 16, "num_hidden_layers": 1,
             "num_attention_heads": 2, "num_mel_bins": 3}
    text = {**_TEXT, "model_type": "llama"}
    cfg = {"model_type": "glmasr", "audio_config": audio, "text_config": text}
    assert _params(cfg, "projector") == (16 * 16 + 16) + (16 * 8 + 8)
    tied = spec_from_config(cfg, model_id="t").parameters
    untied = spec_from_config({**cfg, "tie_word_embeddings": False}, model_id="t").parameters
    assert untied - tied == 1000 * 8
    # Qwen2-Audio declares no tied weights: its lm_head stays apart whatever the flags say.
    q = {"model_type": "qwen2_audio", "text_config": {**_TEXT, "tie_word_embeddings": True},
         "tie_word_embeddings": True}
    assert _params(q, "lm_head") == 1000 * 8


def test_alias_names_replace_the_defaults() -> None:
    # Qwen2-Audio's encoder config maps hidden_size to d_model: a size under either name wins over the default.
    base = {"model_type": "qwen2_audio", "text_config": _TEXT}
    by_alias = {**base, "audio_config": {"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
                                         "intermediate_size": 8}}
    by_name = {**base, "audio_config": {"d_model": 4, "encoder_layers": 1, "encoder_attention_heads": 2,
                                        "encoder_ffn_dim": 8}}
    assert _params(by_alias, "audio_tower") == _params(by_name, "audio_tower")


def test_notes_say_audio_tokens() -> None:
    spec = spec_from_config({"model_type": "voxtral", "text_config": {**_TEXT, "model_type": "llama"}}, model_id="t")
    assert any("375 language-model tokens per 30-second window" in n for n in spec.notes)


def test_voxtral_realtime_streaming_encoder_cache_by_hand() -> None:
    # Defaults: the text model's 26 sliding layers of 8 KV heads x 128 (window 8,192), and the encoder's
    # 32 layers of 32 heads x 64 keeping their last 750 frames; bf16, batch 2, 1,000 tokens.
    spec = spec_from_config({"model_type": "voxtral_realtime"}, model_id="t")
    total, terms = kv_cache(spec, workload(seq_len=1000, batch_size=2))
    by_name = {t.name: t.bytes for t in terms}
    text = 26 * 8 * (128 + 128) * 1000 * 2 * 2
    encoder = 32 * 32 * (64 + 64) * 750 * 2 * 2  # 393,216,000: 187.5 MiB per sequence
    assert by_name["decoder_layer (sliding)"] == text
    assert by_name["audio_encoder_window (cross)"] == encoder
    assert total == text + encoder
    # Fixed per sequence: it does not grow with the tokens, nor count in the bytes per token.
    longer, _ = kv_cache(spec, workload(seq_len=4000, batch_size=2))
    assert longer - total == 26 * 8 * 256 * 3000 * 2 * 2
    assert kv_cache_bytes_per_token(spec, workload()) == 26 * 8 * 256 * 2
    kinds = {k.kind: k for k in kv_layers(spec, workload())}
    assert kinds["encoder"].layers == 32 and kinds["encoder"].bytes_per_token == 32 * 128 * 2
    # The cache holds no weights and is no layer: the parameter count is the golden one.
    assert spec.parameters == 4_429_679_360


def test_bad_audio_config_is_a_config_error() -> None:
    cfg = {"model_type": "qwen2_audio", "text_config": _TEXT,
           "audio_config": {"d_model": 6, "encoder_attention_heads": 4}}
    with pytest.raises(ConfigError):
        spec_from_config(cfg, model_id="t")


_COMPOSITES = ("qwen2_audio", "voxtral", "voxtral_realtime", "audioflamingo3", "musicflamingo", "glmasr", "qwen3_asr",
               "moss_transcribe_diarize", "qwen2_5_omni_thinker", "qwen3_omni_moe_thinker", "granite_speech",
               "granite_speech_plus", "vibevoice_asr", "nemo_speechlm")


@pytest.mark.parametrize("model_type", _COMPOSITES)
def test_a_bare_composite_takes_its_sub_config_defaults(model_type: str) -> None:
    # Without sub-configs transformers builds each from the composite's sub_configs_defaults: the sweep's
    # default entry is that model, so the bare config must count the same.
    sweep = json.loads((Path(__file__).parent / "data" / "golden_sweep.json").read_text())["entries"]
    assert spec_from_config({"model_type": model_type}, model_id="t").parameters == sweep[model_type]["count"]


def test_phi4_multimodal_top_level_sizes_are_required() -> None:
    # Its text sizes live in the top-level config, which save_pretrained writes in full: never invented.
    with pytest.raises(UnsupportedModelError, match="lacks 'hidden_size'"):
        spec_from_config({"model_type": "phi4_multimodal"}, model_id="t")
