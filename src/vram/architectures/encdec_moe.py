"""Mixture-of-experts encoder-decoders: some MLPs of both stacks are routed experts.

- ``switch_transformers``: transformers 5.23 ``models/switch_transformers/modeling_switch_transformers.py``
  (SwitchTransformersForConditionalGeneration): T5's layers (no biases, weight-only norms, a relative
  position table in each stack's first layer, ``num_heads x d_kv`` attention width, a ReLU MLP
  ``wi``/``wo``); ``num_sparse_encoder_layers`` of the ``num_layers`` encoder layers (and likewise in the
  decoder) replace the MLP by a top-1 router (``router_bias``) and ``num_experts`` such MLPs: layer i is
  sparse when ``i % step == 1`` (or step is 1), step = layers // sparse layers (the config class's rule).
- ``nllb-moe``: ``models/nllb_moe/modeling_nllb_moe.py`` (NllbMoeForConditionalGeneration): the M2M-100
  layout (pre-norm layers with biases, a final LayerNorm per stack, sinusoidal positions kept as a
  buffer); every ``encoder_sparse_step``-th / ``decoder_sparse_step``-th layer (``(i + 1) % step == 0``)
  has a top-2 router and ``num_experts`` two-layer MLPs with biases.

Tying (transformers 5.x ``_tied_weights_keys``): with ``tie_word_embeddings`` (the default) the shared
table, both stacks' token tables and lm_head are one tensor; without it, four.

Caches: the decoder's self-attention per token, its cross-attention K/V of the encoder output once per
sequence; the encoder none.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.architectures.layers import lm_head
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_SWITCH = {"vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12,
           "num_sparse_encoder_layers": 3, "num_sparse_decoder_layers": 3, "num_heads": 12, "num_experts": 8,
           "relative_attention_num_buckets": 32, "tie_word_embeddings": True}
_NLLB = {"vocab_size": 128112, "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12, "encoder_ffn_dim": 4096,
         "decoder_ffn_dim": 4096, "encoder_attention_heads": 16, "decoder_attention_heads": 16, "num_experts": 128,
         "encoder_sparse_step": 4, "decoder_sparse_step": 4, "tie_word_embeddings": True}


def _attn(prefix: str, d: int, inner: int, bias: bool) -> tuple[Linear, ...]:
    return (Linear(name=f"{prefix}q", in_features=d, out_features=inner, bias=bias),
            Linear(name=f"{prefix}k", in_features=d, out_features=inner, bias=bias),
            Linear(name=f"{prefix}v", in_features=d, out_features=inner, bias=bias),
            Linear(name=f"{prefix}o", in_features=inner, out_features=d, bias=bias))


def _mlp(d: int, ff: int, bias: bool, experts: int = 1, top_k: int = 0) -> tuple[Linear, ...]:
    many = {"copies": experts, "active_copies": top_k} if top_k else {}
    return (Linear(name="fc1", in_features=d, out_features=ff, bias=bias, **many),
            Linear(name="fc2", in_features=ff, out_features=d, bias=bias, **many))


@dataclass(frozen=True)
class _Shape:
    d: int
    inner: int
    ff: int
    bias: bool
    norm: int
    experts: int
    top_k: int
    router_bias: bool
    att: Attention


def _layers(name: str, sparse: list[bool], s: _Shape) -> tuple[Block, ...]:
    """The dense layers and the sparse layers of one stack (self-attention, its norm, the MLP and its norm)."""
    d, inner, ff, bias, norm, experts, top_k, att = s.d, s.inner, s.ff, s.bias, s.norm, s.experts, s.top_k, s.att
    attn = _attn("self_attn.", d, inner, bias)
    n_sparse = sum(sparse)
    blocks = []
    if len(sparse) > n_sparse:
        blocks.append(Block(name=f"{name}_dense", count=len(sparse) - n_sparse, linears=attn + _mlp(d, ff, bias),
                            other_params=2 * norm, attention=att, mlp_width=ff, gated_mlp=False))
    if n_sparse:
        router = Linear(name="router", in_features=d, out_features=experts, bias=s.router_bias)
        blocks.append(Block(name=f"{name}_moe", count=n_sparse,
                            linears=attn + (router,) + _mlp(d, ff, bias, experts, top_k), other_params=2 * norm,
                            attention=att, gated_mlp=False, experts_per_token=top_k, expert_width=ff))
    return tuple(blocks)


def _spec(cfg: Cfg, c: Cfg, model_type: str, *, model_id: str, d: int, vocab: int, encoder: tuple[Block, ...],
          decoder: tuple[Block, ...], cross: Block, heads: int, n_enc: int, n_dec: int, dropout: str) -> ModelSpec:
    tied = c.bool("tie_word_embeddings", True)
    components = [Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="shared", embedding_params=(1 if tied else 3) * vocab * d),)),
                  Component(name="encoder", kind="encoder", blocks=encoder),
                  Component(name="decoder", kind="decoder", blocks=decoder[:-1] + (cross, decoder[-1]))]
    if not tied:
        components.append(lm_head(d, vocab))
    text = TextDims(hidden_size=d, num_layers=n_dec, num_heads=heads, vocab_size=vocab,
                    attention_dropout=_positive_float(c, dropout), hidden_dropout=_positive_float(c, dropout))
    notes = [f"encoder-decoder with routed experts: {n_enc} encoder layers over the input; the decoder's {n_dec} "
             "cross-attention layers cache the encoded input once per sequence"]
    if tied:
        notes.append("lm_head and the shared, encoder and decoder token tables are one tied tensor: counted once")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(c.used)))


def build_switch(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _SWITCH)
    d, kv, ff, vocab, heads = c.int("d_model"), c.int("d_kv"), c.int("d_ff"), c.int("vocab_size"), c.int("num_heads")
    n_enc = c.int("num_layers")
    n_dec = c.int("num_decoder_layers", n_enc)
    experts, inner = c.int("num_experts"), heads * kv
    att = Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=kv, v_head_dim=kv)

    def sparse(n: int, key: str) -> list[bool]:
        k = c.int(key, minimum=0)
        step = n // k if k else n  # the config class's rule (0 sparse layers: a step of n, one sparse layer)
        return [step > 0 and (i % step == 1 or step == 1) for i in range(n)]

    common = _Shape(d=d, inner=inner, ff=ff, bias=False, norm=d, experts=experts, top_k=1,
                    router_bias=c.bool("router_bias", False), att=att)
    table = Block(name="relative_attention_bias", other_params=c.int("relative_attention_num_buckets") * heads)
    encoder = (table,) + _layers("encoder_layer", sparse(n_enc, "num_sparse_encoder_layers"), common) + (
        Block(name="encoder_final_norm", other_params=d),)
    decoder = (table,) + _layers("decoder_layer", sparse(n_dec, "num_sparse_decoder_layers"), common) + (
        Block(name="decoder_final_norm", other_params=d),)
    cross = Block(name="cross_attention", within_layers=True,
                  count=n_dec, linears=_attn("EncDecAttention.", d, inner, False),
                  other_params=d, attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=kv,
                                                      v_head_dim=kv, cross_source="encoder"))
    return _spec(cfg, c, model_type, model_id=model_id, d=d, vocab=vocab, encoder=encoder, decoder=decoder,
                 cross=cross, heads=heads, n_enc=n_enc, n_dec=n_dec, dropout="dropout_rate")


def build_nllb_moe(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = _Defaults(cfg, _NLLB)
    d, vocab, experts = c.int("d_model"), c.int("vocab_size"), c.int("num_experts")
    n_enc, n_dec = c.int("encoder_layers"), c.int("decoder_layers")
    e_heads, d_heads = c.int("encoder_attention_heads"), c.int("decoder_attention_heads")
    e_hd = c.divides("d_model", d, "encoder_attention_heads", e_heads)
    d_hd = c.divides("d_model", d, "decoder_attention_heads", d_heads)

    def sparse(n: int, key: str) -> list[bool]:
        step = c.int(key, minimum=0)
        return [step > 0 and (i + 1) % step == 0 for i in range(n)]

    def common(heads: int, hd: int, ff_key: str) -> _Shape:
        return _Shape(d=d, inner=d, ff=c.int(ff_key), bias=True, norm=2 * d, experts=experts, top_k=2,
                      router_bias=c.bool("router_bias", False),
                      att=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd))

    encoder = _layers("encoder_layer", sparse(n_enc, "encoder_sparse_step"),
                      common(e_heads, e_hd, "encoder_ffn_dim")) + (Block(name="encoder_norm", other_params=2 * d),)
    decoder = _layers("decoder_layer", sparse(n_dec, "decoder_sparse_step"),
                      common(d_heads, d_hd, "decoder_ffn_dim")) + (Block(name="decoder_norm", other_params=2 * d),)
    cross = Block(name="cross_attention", within_layers=True, count=n_dec, linears=_attn("encoder_attn.", d, d, True),
                  other_params=2 * d, attention=Attention(kind="cross", num_heads=d_heads, num_kv_heads=d_heads,
                                                          head_dim=d_hd, v_head_dim=d_hd, cross_source="encoder"))
    return _spec(cfg, c, model_type, model_id=model_id, d=d, vocab=vocab, encoder=encoder, decoder=decoder,
                 cross=cross, heads=d_heads, n_enc=n_enc, n_dec=n_dec, dropout="dropout")


BUILDERS = {"switch_transformers": build_switch, "nllb-moe": build_nllb_moe}
