"""T5Gemma: an encoder-decoder of Gemma 2 layers.

File followed: transformers 5.23 ``models/t5gemma/modeling_t5gemma.py`` (T5GemmaForConditionalGeneration),
with ``configuration_t5gemma.py``'s defaults for an absent ``encoder`` / ``decoder`` sub-config
(T5GemmaModuleConfig: Gemma 2 2B's shape).

- Each stack has its own token table and a final RMSNorm; lm_head (``lm_head.out_proj``) is the
  decoder's table when the composite's ``tie_word_embeddings`` (default true) says so.
- Encoder layers: Gemma 2's attention (``num_attention_heads x head_dim`` queries, ``num_key_value_heads``
  K/V heads, biases by ``attention_bias``), a gated MLP and four RMSNorms (pre/post attention, pre/post MLP).
- Decoder layers: the same plus cross-attention (its keys and values project from the encoder's width,
  ``cross_attention_hidden_size``) with two more RMSNorms.
- ``layer_types`` (default: sliding, full, alternating) make a decoder layer's self-attention cache a
  ``sliding_window`` of tokens or all of them; the cross-attention caches the encoded input once per
  sequence; the encoder caches nothing.
"""

from __future__ import annotations

from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.decoders import _Defaults, _dtype, _positive_float
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_MODULE: dict[str, Any] = {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
                           "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                           "attention_bias": False, "sliding_window": 4096}


def _stack(c: Cfg, name: str, *, cross_from: int | None) -> tuple[int, tuple[Block, ...], int, int, int]:
    """(width, layer blocks, layers, heads, vocab) of one stack."""
    h, inter, n = c.int("hidden_size"), c.int("intermediate_size"), c.int("num_hidden_layers")
    heads, kv, hd = c.int("num_attention_heads"), c.int("num_key_value_heads"), c.int("head_dim")
    bias = c.bool("attention_bias", False)
    types = c.str_list("layer_types") or ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n)]
    if len(types) != n:
        raise ConfigError(f"config field '{name}:layer_types' has {len(types)} entries for {n} layers")
    window = c.opt_int("sliding_window")

    def attn(prefix: str, k_in: int) -> tuple[Linear, ...]:
        return (Linear(name=f"{prefix}q_proj", in_features=h, out_features=heads * hd, bias=bias),
                Linear(name=f"{prefix}k_proj", in_features=k_in, out_features=kv * hd, bias=bias),
                Linear(name=f"{prefix}v_proj", in_features=k_in, out_features=kv * hd, bias=bias),
                Linear(name=f"{prefix}o_proj", in_features=heads * hd, out_features=h, bias=bias))

    mlp = tuple(Linear(name=f"mlp.{p}", in_features=h, out_features=inter) for p in ("gate_proj", "up_proj")) + (
        Linear(name="mlp.down_proj", in_features=inter, out_features=h),)
    blocks: list[Block] = []
    for kind in ("full_attention", "sliding_attention"):
        count = sum(1 for t in types if t == kind)
        if not count:
            continue
        sliding = kind == "sliding_attention" and window is not None
        blocks.append(Block(name=f"{name}_{'sliding' if sliding else 'full'}_layer", count=count,
                            linears=attn("self_attn.", h) + mlp, other_params=4 * h, mlp_width=inter,
                            attention=Attention(kind="sliding" if sliding else "full", num_heads=heads,
                                                num_kv_heads=kv, head_dim=hd, v_head_dim=hd,
                                                window=window if sliding else None)))
    if cross_from is not None:
        blocks.append(Block(name="cross_attention", within_layers=True,
                            count=n, linears=attn("cross_attn.", cross_from),
                            other_params=2 * h,
                            attention=Attention(kind="cross", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                                                v_head_dim=hd, cross_source="encoder")))
    return h, tuple(blocks), n, heads, c.int("vocab_size")


def build_t5gemma(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    enc_cfg = _Defaults(cfg.sub("encoder") if cfg.has("encoder") else Cfg({}, where="encoder", used=cfg.used),
                        _MODULE)
    dec_cfg = _Defaults(cfg.sub("decoder") if cfg.has("decoder") else Cfg({}, where="decoder", used=cfg.used),
                        _MODULE)
    eh, e_blocks, n_enc, _, e_vocab = _stack(enc_cfg, "encoder", cross_from=None)
    dh, d_blocks, n_dec, d_heads, d_vocab = _stack(dec_cfg, "decoder", cross_from=eh)
    tied = cfg.bool("tie_word_embeddings", True)
    components = [Component(name="encoder", kind="encoder", blocks=(
                      Block(name="encoder.embed_tokens", embedding_params=e_vocab * eh),) + e_blocks + (
                      Block(name="encoder.norm", other_params=eh),)),
                  Component(name="embeddings", kind="embedding", blocks=(
                      Block(name="decoder.embed_tokens", embedding_params=d_vocab * dh),)),
                  Component(name="decoder", kind="decoder", blocks=d_blocks + (
                      Block(name="decoder.norm", other_params=dh),))]
    if not tied:
        components.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            Linear(name="lm_head.out_proj", in_features=dh, out_features=d_vocab),)),)))
    text = TextDims(hidden_size=dh, num_layers=n_dec, num_heads=d_heads, vocab_size=d_vocab,
                    max_position_embeddings=dec_cfg.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(cfg, "attention_dropout"),
                    hidden_dropout=_positive_float(cfg, "dropout_rate"))
    notes = [f"encoder-decoder of Gemma 2 layers: {n_enc} encoder layers over the input; the decoder's {n_dec} "
             "cross-attention layers cache the encoded input once per sequence"]
    if tied:
        notes.append("lm_head is the decoder's token table: counted once (the encoder keeps its own)")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(cfg.used)))


BUILDERS = {"t5gemma": build_t5gemma}
