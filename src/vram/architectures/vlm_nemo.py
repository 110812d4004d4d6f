"""Nemotron 3.5 Transcribe (model_type ``nemo_speechlm``), as transformers 5.23 builds it.

Follows ``models/nemotron3_5_transcribe/modeling_nemotron3_5_transcribe.py``
(Nemotron3_5TranscribeForConditionalGeneration) and, for its speaker diarization model,
``models/nemotron3_diarization/modeling_nemotron3_diarization.py`` (Nemotron3DiarizationForAudioFrameClassification):

- the ASR encoder: ``subsampling_factor`` mel frames stacked into a bias-free projection, a LayerNorm,
  pre-LN layers (q, k, v bias-free, o with bias, LayerNorms with bias over each head's q and k, a GeLU
  MLP with biases), a final LayerNorm; v_proj is as wide as q_proj whatever the KV heads;
- the diarization model: the same encoder without the q/k norms, a projection to the head width, a
  sub-pixel Conv1d upsampler (kernel 3) to ``subsampling_factor`` x that width, a classifier (dense and
  out_proj to ``num_speakers``) and a silence embedding;
- LayerNorms over the ASR features and the speaker activities, one linear with bias to the text width,
  a word-timestamp encoder (a ConvTranspose1d upsampler by ``upsampling_factor``, then the ASR layer
  layout) and its head (a kernel-1 Conv1d to its vocabulary), and a nemotron_h language model whose
  lm_head is never tied.

Sub-configs as transformers fills them: each dict over its class's defaults, nested three deep
(``audio_config`` -> ``asr_config`` / ``diarization_config`` -> ``audio_config`` / ``head_config``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose
from vram.architectures.vlm_audio import text_model
from vram.model import Attention, Block, Component, Linear, ModelSpec

_ASR = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 10,
        "num_mel_bins": 128, "subsampling_factor": 8}
_DIAR_AUDIO = {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 31, "num_attention_heads": 8,
               "num_mel_bins": 128, "subsampling_factor": 8}
_DIAR_HEAD = {"hidden_size": 192, "num_speakers": 8, "audio_hidden_size": 512, "subsampling_factor": 8}
_WORDS = {"hidden_size": 1280, "intermediate_size": 640, "num_hidden_layers": 2, "num_attention_heads": 16,
          "vocab_size": 23863, "upsampling_factor": 2}
# The composite's text defaults over NemotronHConfig's own (vocab_size, heads, head_dim).
_TEXT = {"model_type": "nemotron_h", "vocab_size": 131072, "num_attention_heads": 32, "head_dim": 128,
         "ssm_state_size": 128, "mamba_head_dim": 64, "n_groups": 8, "conv_kernel": 4, "expand": 2,
         "n_shared_experts": 1, "hidden_size": 2688, "intermediate_size": 1856,
         "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME", "mamba_num_heads": 64,
         "max_position_embeddings": 262144, "moe_intermediate_size": 1856,
         "moe_shared_expert_intermediate_size": 3712, "n_routed_experts": 128, "num_experts_per_tok": 6,
         "num_key_value_heads": 2}


def _sub(parent: Cfg, key: str, defaults: Mapping[str, Any]) -> Cfg:
    given: Mapping[str, Any] = parent.sub(key)._data if parent.has(key) else {}
    return Cfg({**defaults, **{k: v for k, v in given.items() if v is not None}}, where=key, used=parent.used)


def _layers(c: Cfg, name: str, *, qk_norm: bool) -> Block:
    h, inter, heads = c.int("hidden_size"), c.int("intermediate_size"), c.int("num_attention_heads")
    kv = c.int("num_key_value_heads", heads)
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    return Block(name=name, count=c.int("num_hidden_layers"), linears=(
        Linear(name="self_attn.q_proj", in_features=h, out_features=heads * hd),
        Linear(name="self_attn.k_proj", in_features=h, out_features=kv * hd),
        Linear(name="self_attn.v_proj", in_features=h, out_features=heads * hd),
        Linear(name="self_attn.o_proj", in_features=heads * hd, out_features=h, bias=True),
        Linear(name="mlp.fc1", in_features=h, out_features=inter, bias=True),
        Linear(name="mlp.fc2", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h + (4 * hd if qk_norm else 0),
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd),
        mlp_width=inter, gated_mlp=False)


def _stacked_encoder(c: Cfg, prefix: str, *, qk_norm: bool) -> list[Block]:
    h = c.int("hidden_size")
    return [Block(name=f"{prefix}.embedder", linears=(Linear(
                name=f"{prefix}.embedder.projection", in_features=c.int("subsampling_factor") * c.int("num_mel_bins"),
                out_features=h),), other_params=2 * h),  # and input_layer_norm
            _layers(c, f"{prefix}.layers", qk_norm=qk_norm),
            Block(name=f"{prefix}.layer_norm", other_params=2 * h)]


def build_nemo_speechlm(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = text_model(cfg, "nemotron_h", _TEXT, merge=False, ties=False, tie_default=False, model_id=model_id)
    assert text.text is not None
    audio = _sub(cfg, "audio_config", {})
    asr = _sub(audio, "asr_config", _ASR)
    diar = _sub(audio, "diarization_config", {})
    d_audio, head = _sub(diar, "audio_config", _DIAR_AUDIO), _sub(diar, "head_config", _DIAR_HEAD)
    hh, speakers, up = head.int("hidden_size"), head.int("num_speakers"), head.int("subsampling_factor")
    h = asr.int("hidden_size")
    tower = Component(name="audio_tower", kind="other", blocks=tuple(
        _stacked_encoder(asr, "asr_encoder", qk_norm=True) + _stacked_encoder(d_audio, "diarization", qk_norm=False)
        + [Block(name="diarization.head", linears=(
            Linear(name="proj", in_features=head.int("audio_hidden_size"), out_features=hh, bias=True),
            Linear(name="classifier.dense", in_features=hh, out_features=hh, bias=True),
            Linear(name="classifier.out_proj", in_features=hh, out_features=speakers, bias=True)),
            # the upsampler's kernel-3 conv with bias, the silence embedding
            other_params=3 * hh * hh * up + hh * up + d_audio.int("hidden_size")),
           Block(name="asr_norm_speaker_norm", other_params=2 * h + 2 * speakers)]))
    proj = Component(name="projector", kind="projector", blocks=(Block(name="multi_modal_projector", linears=(
        Linear(name="multi_modal_projector", in_features=h, out_features=text.text.hidden_size, bias=True),)),))
    w = _sub(cfg, "word_timestamp_config", _WORDS)
    wh, factor = w.int("hidden_size"), w.int("upsampling_factor")
    words = Component(name="word_timestamps", kind="other", blocks=(
        Block(name="upsampler", other_params=wh * wh * factor + wh + 2 * wh),  # ConvTranspose1d, input_layer_norm
        _layers(w, "word_timestamp_encoder.layers", qk_norm=True),
        Block(name="layer_norm_and_head", linears=(Linear(name="word_timestamp_head", in_features=wh,
                                                          out_features=w.int("vocab_size"), bias=True),),
              other_params=2 * wh)))
    notes = ["ASR encoder, speaker diarization model and word-timestamp encoder counted; audio tokens are not "
             "counted in the sequence or activations"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj, words], vision=None,
                    notes=notes)


BUILDERS: dict[str, Callable[..., ModelSpec]] = {"nemo_speechlm": build_nemo_speechlm}
