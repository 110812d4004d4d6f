"""Encoder-decoder models: an encoder run once per input, a decoder that caches two kinds of K/V.

- ``whisper``: transformers ``models/whisper/modeling_whisper.py`` (WhisperForConditionalGeneration):
  two Conv1d layers over the log-mel frames, learned positions, pre-norm layers with biases (k_proj
  has none), the decoder's ``proj_out`` tied to its token embedding by default.
- ``t5`` / ``umt5`` / ``mt5`` / ``longt5``: ``models/t5/modeling_t5.py``, ``models/umt5/modeling_umt5.py``,
  ``models/mt5/modeling_mt5.py``, ``models/longt5/modeling_longt5.py`` (their
  ...ForConditionalGeneration; LongT5's local or transient-global encoder attention has the same
  projections): no biases, RMS-style norms with a weight
  only, ``num_heads x d_kv`` attention width, a ReLU or gated-GeLU MLP, a relative-position bias table
  (``relative_attention_num_buckets x num_heads``) in the first layer of each stack (T5) or in every
  self-attention layer (UMT5). transformers 5.x ties lm_head to the shared embedding for all four, whatever
  ``tie_word_embeddings`` says.

The decoder's self-attention caches K/V per generated token; its cross-attention caches K/V of the
encoder output, computed once per sequence: 1,500 frames for Whisper's 30-second window
(``max_source_positions``), the input length for T5 (``Attention.cross_tokens`` None).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims


def _attn(prefix: str, h: int, inner: int, *, bias: bool, k_bias: bool) -> tuple[Linear, ...]:
    return (Linear(name=f"{prefix}q", in_features=h, out_features=inner, bias=bias),
            Linear(name=f"{prefix}k", in_features=h, out_features=inner, bias=k_bias),
            Linear(name=f"{prefix}v", in_features=h, out_features=inner, bias=bias),
            Linear(name=f"{prefix}o", in_features=inner, out_features=h, bias=bias))


def build_whisper(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, {"vocab_size": 51865, "num_mel_bins": 80, "encoder_layers": 4, "encoder_attention_heads": 6,
                        "decoder_layers": 4, "decoder_attention_heads": 6, "decoder_ffn_dim": 1536,
                        "encoder_ffn_dim": 1536, "d_model": 384, "max_source_positions": 1500,
                        "max_target_positions": 448})
    d, vocab, mels = c.int("d_model"), c.int("vocab_size"), c.int("num_mel_bins")
    src, tgt = c.int("max_source_positions"), c.int("max_target_positions")
    e_heads, d_heads = c.int("encoder_attention_heads"), c.int("decoder_attention_heads")
    e_ffn, d_ffn = c.int("encoder_ffn_dim"), c.int("decoder_ffn_dim")
    e_layers, d_layers = c.int("encoder_layers"), c.int("decoder_layers")
    e_hd = c.divides("d_model", d, "encoder_attention_heads", e_heads)
    d_hd = c.divides("d_model", d, "decoder_attention_heads", d_heads)

    def mlp(width: int) -> tuple[Linear, ...]:
        return (Linear(name="fc1", in_features=d, out_features=width, bias=True),
                Linear(name="fc2", in_features=width, out_features=d, bias=True))

    encoder = Component(name="encoder", kind="encoder", blocks=(
        Block(name="conv", other_params=mels * d * 3 + d + d * d * 3 + d, embedding_params=src * d),
        Block(name="encoder_layer", count=e_layers, linears=_attn("self_attn.", d, d, bias=True, k_bias=False)
              + mlp(e_ffn), other_params=4 * d, attention=Attention(kind="full", num_heads=e_heads,
                                                                    num_kv_heads=e_heads, head_dim=e_hd,
                                                                    v_head_dim=e_hd),
              mlp_width=e_ffn, gated_mlp=False),
        Block(name="encoder_norm", other_params=2 * d)))
    self_layer = Block(name="decoder_layer", count=d_layers,
                       linears=_attn("self_attn.", d, d, bias=True, k_bias=False) + mlp(d_ffn), other_params=4 * d,
                       attention=Attention(kind="full", num_heads=d_heads, num_kv_heads=d_heads, head_dim=d_hd,
                                           v_head_dim=d_hd), mlp_width=d_ffn, gated_mlp=False)
    cross_layer = Block(name="cross_attention", within_layers=True, count=d_layers,
                        linears=_attn("encoder_attn.", d, d, bias=True, k_bias=False), other_params=2 * d,
                        attention=Attention(kind="cross", num_heads=d_heads, num_kv_heads=d_heads, head_dim=d_hd,
                                            v_head_dim=d_hd, cross_tokens=src, cross_source="encoder"))
    tied = c.bool("tie_word_embeddings", True)
    components = [encoder,
                  Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="embed_tokens", embedding_params=vocab * d + tgt * d),)),
                  Component(name="decoder", kind="decoder", blocks=(self_layer, cross_layer,
                                                                    Block(name="final_norm", other_params=2 * d)))]
    if not tied:
        components.append(Component(name="lm_head", kind="head", blocks=(Block(name="proj_out", linears=(
            Linear(name="proj_out", in_features=d, out_features=vocab),)),)))
    text = TextDims(hidden_size=d, num_layers=d_layers, num_heads=d_heads, vocab_size=vocab,
                    max_position_embeddings=tgt, attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "dropout"))
    notes = [f"encoder-decoder: {e_layers} encoder layers over {src} audio frames; the decoder's "
             f"{d_layers} cross-attention layers cache the encoder's {src} frames once per sequence"]
    if tied:
        notes.append("proj_out is tied to the decoder's token embedding: counted once")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


_T5 = {"vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6, "num_heads": 8,
       "relative_attention_num_buckets": 32, "feed_forward_proj": "relu"}
_MT5 = {**_T5, "vocab_size": 250112, "d_ff": 1024, "num_layers": 8, "num_heads": 6, "feed_forward_proj": "gated-gelu"}
_T5_DEFAULTS: dict[str, dict[str, object]] = {"t5": _T5, "umt5": _MT5, "mt5": _MT5,
                                              "longt5": {**_T5, "encoder_attention_type": "local"}}


def build_t5(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    umt5 = model_type == "umt5"
    c = _Defaults(cfg, _T5_DEFAULTS[model_type])
    d, kv, ff, vocab = c.int("d_model"), c.int("d_kv"), c.int("d_ff"), c.int("vocab_size")
    e_layers = c.int("num_layers")
    d_layers = c.int("num_decoder_layers", e_layers)
    heads = c.int("num_heads")
    buckets = c.int("relative_attention_num_buckets") * heads
    inner = heads * kv
    gated = c.str("feed_forward_proj").startswith("gated-")
    ups = ("wi_0", "wi_1") if gated else ("wi",)
    ff_lins = tuple(Linear(name=n, in_features=d, out_features=ff) for n in ups) + (
        Linear(name="wo", in_features=ff, out_features=d),)
    att = Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=kv, v_head_dim=kv)

    def layer(name: str, count: int, bias_table: int) -> Block:
        return Block(name=name, count=count, linears=_attn("SelfAttention.", d, inner, bias=False, k_bias=False)
                     + ff_lins, other_params=2 * d + bias_table, attention=att, mlp_width=ff, gated_mlp=gated)

    def stack(name: str, count: int, extra: int = 0, first_extra: int = 0) -> tuple[Block, ...]:
        if umt5:
            return (layer(name, count, buckets),)
        first = layer(f"{name}_0", 1, buckets + extra + first_extra)
        return (first, layer(name, count - 1, extra)) if count > 1 else (first,)

    # LongT5's transient-global encoder attention: a global relative-bias table beside the local one
    # (first layer) and a LayerNorm of the global inputs in every layer.
    tglobal = model_type == "longt5" and c.str("encoder_attention_type") == "transient-global"
    encoder = Component(name="encoder", kind="encoder",
                        blocks=stack("encoder_layer", e_layers, d if tglobal else 0, buckets if tglobal else 0)
                        + (Block(name="encoder_final_norm", other_params=d),))
    cross = Block(name="cross_attention", within_layers=True, count=d_layers,
                  linears=_attn("EncDecAttention.", d, inner, bias=False, k_bias=False), other_params=d,
                  attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=kv, v_head_dim=kv,
                                      cross_source="encoder"))
    components = (encoder,
                  Component(name="embeddings", kind="embedding",
                            blocks=(Block(name="shared", embedding_params=vocab * d),)),
                  Component(name="decoder", kind="decoder", blocks=stack("decoder_layer", d_layers)
                            + (cross, Block(name="decoder_final_norm", other_params=d))))
    text = TextDims(hidden_size=d, num_layers=d_layers, num_heads=heads, vocab_size=vocab,
                    attention_dropout=_positive_float(c, "dropout_rate"),
                    hidden_dropout=_positive_float(c, "dropout_rate"))
    notes = [f"encoder-decoder: {e_layers} encoder layers over the input; the decoder's {d_layers} cross-attention "
             "layers cache the encoded input once per sequence",
             "lm_head is tied to the shared embedding (transformers 5.x ties it for the T5 family): counted once"]
    return ModelSpec(id=model_id, model_type=model_type, components=components, text=text, tied_embeddings=True,
                     checkpoint_dtype=_dtype(cfg), notes=tuple(notes), config_keys=tuple(sorted(c.used)))


BUILDERS = {"whisper": build_whisper, "t5": build_t5, "umt5": build_t5, "mt5": build_t5, "longt5": build_t5}
