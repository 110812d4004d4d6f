"""Speech-language models whose audio encoders are not Whisper's.

VibeVoice-ASR (``models/vibevoice_asr/modeling_vibevoice_asr.py``): two convolutional tokenizer
encoders (acoustic and semantic; ``models/vibevoice_acoustic_tokenizer/modeling_vibevoice_acoustic_tokenizer.py``
VibeVoiceAcousticTokenizerEncoderModel: a causal conv stem of ``num_filters`` channels, one strided conv
per ``downsampling_ratios`` entry doubling the channels, ConvNeXt-1d blocks (``depths``) after the stem
and each strided conv: a depthwise mixer conv, two RMSNorms, two layer-scale vectors and a feed-forward
of ``ffn_expansion`` x channels; a head conv to ``hidden_size``), each with its own projector (linear,
RMSNorm, linear, to the text width), in front of a qwen2 language model; never tied.

Granite Speech follows transformers 5.23 ``models/granite_speech/modeling_granite_speech.py`` (Granite Speech Plus,
``models/granite_speech_plus/modeling_granite_speech_plus.py``, builds the same modules):

- GraniteSpeechCTCEncoder: ``input_linear`` (input_dim -> hidden_dim), ``num_layers`` Conformer blocks
  (two half-step feed-forwards of ``feedforward_mult`` x width, attention with bias-free q and fused
  kv, a relative-position table of ``2 x max_pos_emb + 1`` rows of ``dim_head``, a convolution module:
  LayerNorm, 1x1 up-conv to twice ``conv_expansion_factor`` x width, a depthwise conv without bias,
  BatchNorm, 1x1 down-conv; a final LayerNorm), and the CTC head ``out`` / ``out_mid``.
- The projector: ``window_size / downsample_rate`` learned queries, a BLIP-2 Q-Former without text
  input (``models/blip_2/modeling_blip_2.py`` Blip2QFormerModel: a LayerNorm; per layer self-attention,
  cross-attention to ``encoder_hidden_size`` features every ``cross_attention_frequency``-th layer, the
  query feed-forward), and a linear with bias to the text width.

The lm_head ties by the composite's ``tie_word_embeddings`` (the class declares tied weights). The
LoRA adapter that ``has_lora_adapter`` names is loaded by peft beside the model: not counted here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose
from vram.architectures.vlm_audio import text_model
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec

_ENCODER = {"input_dim": 160, "num_layers": 10, "hidden_dim": 1024, "feedforward_mult": 4, "num_heads": 8,
            "output_dim": 42, "max_pos_emb": 512, "conv_kernel_size": 15, "conv_expansion_factor": 2}
# GraniteConfig's defaults, for a composite without text_config (transformers builds the granite class's).
_GRANITE_TEXT = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                 "num_attention_heads": 32, "max_position_embeddings": 2048}
_QFORMER = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
            "cross_attention_frequency": 2, "encoder_hidden_size": 1408}


def _with_defaults(cfg: Cfg, key: str, defaults: Mapping[str, Any]) -> Cfg:
    given: Mapping[str, Any] = cfg.sub(key)._data if cfg.has(key) else {}
    return Cfg({**defaults, **{k: v for k, v in given.items() if v is not None}}, where=key, used=cfg.used)


def conformer_encoder(e: Cfg) -> Component:
    h = e.int("hidden_dim")
    heads = e.int("num_heads")
    dh = e.int("dim_head") if e.has("dim_head") else e.divides("hidden_dim", h, "num_heads", heads)
    inner = heads * dh
    ff = e.int("feedforward_mult") * h
    conv = e.int("conv_expansion_factor") * h
    out = e.int("output_dim")

    def feed_forward(n: str) -> tuple[Linear, ...]:
        return (Linear(name=f"{n}.up_proj", in_features=h, out_features=ff, bias=True),
                Linear(name=f"{n}.down_proj", in_features=ff, out_features=h, bias=True))

    layers = e.int("num_layers")
    layer = Block(name="conformer_block", count=layers, linears=feed_forward("ff1") + feed_forward("ff2") + (
        Linear(name="attn.to_q", in_features=h, out_features=inner),
        Linear(name="attn.to_kv", in_features=h, out_features=2 * inner),
        Linear(name="attn.to_out", in_features=inner, out_features=h, bias=True),
        Linear(name="conv.up_conv", in_features=h, out_features=2 * conv, bias=True),
        Linear(name="conv.down_conv", in_features=conv, out_features=h, bias=True)),
        # five LayerNorms (two feed-forwards, attention, conv, post), the relative-position table,
        # the depthwise kernel and the BatchNorm's weight and bias
        other_params=5 * 2 * h + (2 * e.int("max_pos_emb") + 1) * dh + conv * e.int("conv_kernel_size") + 2 * conv,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=dh, v_head_dim=dh),
        mlp_width=ff, gated_mlp=False)
    return Component(name="audio_tower", kind="other", blocks=(
        Block(name="input_linear", linears=(Linear(name="input_linear", in_features=e.int("input_dim"),
                                                   out_features=h, bias=True),)),
        layer,
        Block(name="ctc_head", linears=(Linear(name="out", in_features=h, out_features=out, bias=True),
                                        Linear(name="out_mid", in_features=out, out_features=h, bias=True)))))


def qformer(q: Cfg, queries: int, text_hidden: int) -> Component:
    h = q.int("hidden_size")
    layers = q.int("num_hidden_layers")
    inter = q.int("intermediate_size")
    enc = q.int("encoder_hidden_size")
    every = q.int("cross_attention_frequency")
    heads = q.int("num_attention_heads")
    att = Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads, v_head_dim=h // heads)

    def attention(n: str, kv_in: int) -> tuple[Linear, ...]:
        return (Linear(name=f"{n}.query", in_features=h, out_features=h, bias=True),
                Linear(name=f"{n}.key", in_features=kv_in, out_features=h, bias=True),
                Linear(name=f"{n}.value", in_features=kv_in, out_features=h, bias=True),
                Linear(name=f"{n}.output", in_features=h, out_features=h, bias=True))

    ffn = (Linear(name="intermediate_query", in_features=h, out_features=inter, bias=True),
           Linear(name="output_query", in_features=inter, out_features=h, bias=True))
    cross = len(range(0, layers, every))
    blocks = [Block(name="query_and_layernorm", other_params=queries * h + 2 * h)]
    if cross:
        blocks.append(Block(name="qformer_cross_layer", count=cross, linears=attention("attention", h)
                            + attention("crossattention", enc) + ffn, other_params=3 * 2 * h, attention=att,
                            mlp_width=inter, gated_mlp=False))
    if layers - cross:
        blocks.append(Block(name="qformer_layer", count=layers - cross, linears=attention("attention", h) + ffn,
                            other_params=2 * 2 * h, attention=att, mlp_width=inter, gated_mlp=False))
    blocks.append(Block(name="linear", linears=(Linear(name="linear", in_features=h, out_features=text_hidden,
                                                       bias=True),)))
    return Component(name="projector", kind="projector", blocks=tuple(blocks))


_TOKENIZER = {"channels": 1, "hidden_size": 64, "kernel_size": 7, "num_filters": 32,
              "downsampling_ratios": [2, 2, 4, 5, 5, 8], "depths": [3, 3, 3, 3, 3, 3, 8], "ffn_expansion": 4}


def conv_tokenizer_encoder(e: Cfg, name: str) -> Component:
    """VibeVoice's acoustic / semantic tokenizer encoder (weights only)."""
    f, k, x = e.int("num_filters"), e.int("kernel_size"), e.int("ffn_expansion")
    ratios = e.int_list("downsampling_ratios", minimum=1)
    depths = e.int_list("depths", minimum=0)
    if len(depths) != len(ratios) + 1:
        raise ConfigError(f"config field '{e._where}:depths' needs one entry more than 'downsampling_ratios'")

    def convnext(c: int, count: int, at: str) -> list[Block]:
        return [] if count == 0 else [Block(name=f"{at}.convnext", count=count, linears=(
            Linear(name="ffn.linear1", in_features=c, out_features=x * c, bias=True),
            Linear(name="ffn.linear2", in_features=x * c, out_features=c, bias=True)),
            other_params=4 * c + c * k + c)]  # norms, layer scales, depthwise mixer with bias

    blocks = [Block(name="stem.conv", other_params=e.int("channels") * f * k + f), *convnext(f, depths[0], "stem")]
    for i, r in enumerate(ratios):
        c_in, c_out = f * 2 ** i, f * 2 ** (i + 1)
        blocks += [Block(name=f"conv_layers.{i}.conv", other_params=c_in * c_out * 2 * r + c_out),
                   *convnext(c_out, depths[i + 1], f"conv_layers.{i}")]
    h = e.int("hidden_size")
    blocks.append(Block(name="head.conv", other_params=f * 2 ** len(ratios) * h * k + h))
    return Component(name=name, kind="other", blocks=tuple(blocks))


def build_vibevoice_asr(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = text_model(cfg, "qwen2", {}, merge=False, ties=False, tie_default=False, model_id=model_id)
    assert text.text is not None
    th = text.text.hidden_size
    extra: list[Component] = []
    lins: list[Linear] = []
    for part, default_h in (("acoustic", 64), ("semantic", 128)):
        e = _with_defaults(cfg, f"{part}_tokenizer_encoder_config", {**_TOKENIZER, "hidden_size": default_h})
        extra.append(conv_tokenizer_encoder(e, f"{part}_tokenizer_encoder"))
        lins += [Linear(name=f"{part}_linear_1", in_features=e.int("hidden_size"), out_features=th, bias=True),
                 Linear(name=f"{part}_linear_2", in_features=th, out_features=th, bias=True)]
    extra.append(Component(name="projector", kind="projector", blocks=(
        Block(name="multi_modal_projector", linears=tuple(lins), other_params=2 * th),)))
    notes = ["acoustic and semantic tokenizer encoders counted; audio tokens are not counted in the sequence or "
             "activations"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=extra, vision=None, notes=notes)


def build_granite_speech(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = text_model(cfg, "granite", _GRANITE_TEXT, merge=False, ties=True, tie_default=True, model_id=model_id)
    assert text.text is not None
    queries = cfg.int("window_size", 15) // cfg.int("downsample_rate", 5)
    encoder = conformer_encoder(_with_defaults(cfg, "encoder_config", _ENCODER))
    proj = qformer(_with_defaults(cfg, "projector_config", _QFORMER), queries, text.text.hidden_size)
    notes = [f"audio encoder (Conformer) and Q-Former projector counted: {queries} tokens per "
             f"{cfg.int('window_size', 15)}-frame window; audio tokens are not counted in the sequence or activations"]
    if cfg.bool("has_lora_adapter", True):
        notes.append("has_lora_adapter: the checkpoint's LoRA adapter (loaded by peft) is not counted")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[encoder, proj], vision=None,
                    notes=notes)


_PHI4_AUDIO = {"hidden_size": 1024, "intermediate_size": 1536, "num_blocks": 24, "num_attention_heads": 16,
               "ext_pw_out_channel": 1024, "depthwise_separable_out_channel": 1024, "depthwise_multiplier": 1,
               "kernel_size": 3, "input_size": 80, "time_reduction": 8, "bias_max_distance": 1000,
               "bias_symmetric": False, "nemo_conv_channels": 1024, "downsample_rate": 1}
_PHI4_VISION = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                "image_size": 448, "patch_size": 14}


def phi4_audio_encoder(a: Cfg) -> Component:
    """Phi4MultimodalAudioModel: NeMo-style Conv2d subsampling (a full 3x3 conv, then a depthwise 3x3 and a
    point-wise conv per further halving, and a linear over channels x remaining bins), a relative attention
    bias table, and Conformer blocks (two gated feed-forwards, attention with biases, a GLU point-wise conv
    with two bias vectors, a depthwise-separable conv, a point-wise conv, two LayerNorms)."""
    h, inter, heads = a.int("hidden_size"), a.int("intermediate_size"), a.int("num_attention_heads")
    c, reduction = a.int("nemo_conv_channels"), a.int("time_reduction")
    halvings = max(1, reduction.bit_length() - 1)  # int(log2(time_reduction))
    final = a.int("input_size")
    for _ in range(halvings):
        final = (final + 1) // 2
    final = a.int("nemo_final_size", final)
    ext, dm, dso, k = (a.int("ext_pw_out_channel"), a.int("depthwise_multiplier"),
                       a.int("depthwise_separable_out_channel"), a.int("kernel_size"))
    buckets = a.int("bias_max_distance") * (1 if a.bool("bias_symmetric", False) else 2)
    stem = (9 * c + c) + (halvings - 1) * ((9 * c + c) + (c * c + c))

    def ff(n: str) -> tuple[Linear, ...]:
        return (Linear(name=f"{n}.gate_up_proj", in_features=h, out_features=2 * inter, bias=True),
                Linear(name=f"{n}.down_proj", in_features=inter, out_features=h, bias=True))

    layer = Block(name="conformer_block", count=a.int("num_blocks"), linears=ff("feed_forward_in") + tuple(
        Linear(name=f"self_attn.{n}", in_features=h, out_features=h, bias=True) for n in ("q", "k", "v", "o"))
        + (Linear(name="conv.glu.ext_pw_conv_1d", in_features=h, out_features=2 * ext, bias=True),
           Linear(name="conv.pw_conv", in_features=h * dm, out_features=dso, bias=True),
           Linear(name="conv.ext_pw_conv_1d", in_features=h, out_features=ext, bias=True)) + ff("feed_forward_out"),
        # four LayerNorms (two feed-forwards, conv, attention input) and the output LayerNorm; the GLU's b1, b2;
        # the depthwise conv with bias
        other_params=5 * 2 * h + 2 * ext + h * dm * k + h * dm,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads), mlp_width=inter)
    return Component(name="audio_tower", kind="other", blocks=(
        Block(name="embed", linears=(Linear(name="embed.out", in_features=c * final, out_features=h, bias=True),),
              other_params=stem),
        Block(name="relative_attention_bias", embedding_params=buckets * heads), layer))


def build_phi4_multimodal(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Phi-4-multimodal (``models/phi4_multimodal/modeling_phi4_multimodal.py``, Phi4MultimodalForCausalLM):
    the phi3 decoder of the top-level config, with, inside its embedding module, a SigLIP image encoder
    (pooling head kept) with projections up and down and two feature-extensor vectors, and the Conformer
    audio encoder with speech and vision-speech projections (up and down, with bias). The LoRA adapters
    of the published checkpoint are peft's, not built by the class."""
    from vram.architectures import build_text_model
    from vram.architectures.multimodal import siglip_or_clip_tower

    text = build_text_model(cfg, "phi3", model_id=model_id)
    assert text.text is not None
    th = text.text.hidden_size
    v = _with_defaults(cfg, "vision_config", _PHI4_VISION)
    tower, dims = siglip_or_clip_tower(v, "siglip", keep_head=True)
    vh = dims.hidden_size
    image = Component(name="image_projection", kind="projector", blocks=(Block(name="img_projection", linears=(
        Linear(name="img_projection_up", in_features=vh, out_features=th, bias=True),
        Linear(name="img_projection_down", in_features=th, out_features=th, bias=True)), other_params=2 * vh),))
    a = _with_defaults(cfg, "audio_config", _PHI4_AUDIO)
    ain = a.int("hidden_size") * a.int("downsample_rate")
    audio = Component(name="audio_projection", kind="projector", blocks=(Block(name="audio_projection", linears=tuple(
        lin for n in ("speech", "vision_speech") for lin in (
            Linear(name=f"up_proj_for_{n}", in_features=ain, out_features=th, bias=True),
            Linear(name=f"down_proj_for_{n}", in_features=th, out_features=th, bias=True)))),))
    notes = ["image encoder (SigLIP) and audio encoder (Conformer) counted; image and audio tokens (its dynamic "
             "HD crops, its audio frames) are not counted in the sequence or activations; the checkpoint's LoRA "
             "adapters (peft) are not counted"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type,
                    extra=[tower, image, phi4_audio_encoder(a), audio], vision=None, notes=notes)


BUILDERS: dict[str, Callable[..., ModelSpec]] = {"granite_speech": build_granite_speech,
                                                 "granite_speech_plus": build_granite_speech,
                                                 "vibevoice_asr": build_vibevoice_asr,
                                                 "phi4_multimodal": build_phi4_multimodal}
