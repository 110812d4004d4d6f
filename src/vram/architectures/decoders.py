"""Decoders with their own small builders: gpt2, gpt_bigcode, falcon, and the BERT classifier.

The llama-like families (llama, mistral, qwen, gemma, phi3, the MoE and hybrid models) are read by
the generic reader with a family delta (vram.architectures.generic, vram.architectures.families).
Shapes follow the module definitions of the Hugging Face transformers implementations, which is
what "exact" is measured against (tests/data/golden_params.json, scripts/golden_counts.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from vram.architectures._config import Cfg
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

MAX_LAYERS = 10_000


class _Defaults(Cfg):
    """A Cfg that falls back on the family's class defaults for absent keys."""

    def __init__(self, cfg: Cfg, defaults: Mapping[str, object]) -> None:
        merged = dict(defaults)
        merged.update(cfg._data)  # an explicit null in the config wins over the class default
        super().__init__(merged, where=cfg._where, used=cfg.used)


def layers_and_heads(c: Cfg, h: int, layer_keys: tuple[str, ...], head_keys: tuple[str, ...]
                     ) -> tuple[int, int, int, int]:
    """Layer count, attention heads, KV heads and head size, checked against each other."""
    n_layers = c.first_int(layer_keys)
    if n_layers > MAX_LAYERS:
        raise ConfigError(f"config field '{layer_keys[0]}' ({n_layers}) is implausibly large")
    heads = c.first_int(head_keys)
    kv = c.int("num_key_value_heads", heads)
    if heads % kv:
        raise ConfigError(f"config field '{head_keys[0]}' ({heads}) is not divisible by "
                          f"'num_key_value_heads' ({kv})")
    hd = c.int("head_dim") if c.has("head_dim") else c.divides("hidden_size", h, head_keys[0], heads)
    return n_layers, heads, kv, hd


def build_llama_like(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """The language model of a multimodal config, by its family (vram.architectures.families)."""
    from vram.architectures.families import family
    from vram.architectures.generic import build

    delta = family(model_type)
    if delta is None:
        raise ConfigError(f"no family builds the text model_type {model_type!r}")
    return build(cfg, model_type, delta, model_id=model_id)


def _positive_float(c: Cfg, *keys: str) -> bool:
    """Whether any of the (dropout) fields is a number above zero."""
    for key in keys:
        value = c.raw(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return True
    return False


def _dtype(cfg: Cfg) -> str | None:
    value = cfg.raw("torch_dtype") or cfg.raw("dtype")
    return value if isinstance(value, str) else None


def build_gpt2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """GPT-2 and GPT-BigCode: learned positions, LayerNorm with bias, fused c_attn, 4h GeLU MLP."""
    c = _Defaults(cfg, {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024})
    h = c.first_int(("n_embd", "hidden_size"))
    n_layers = c.first_int(("n_layer", "num_hidden_layers"))
    heads = c.first_int(("n_head", "num_attention_heads"))
    hd = c.divides("n_embd", h, "n_head", heads)
    vocab = c.int("vocab_size")
    positions = c.first_int(("n_positions", "max_position_embeddings"))
    inner = c.opt_int("n_inner") or 4 * h
    mqa = model_type == "gpt_bigcode" and c.bool("multi_query", True)
    kv = 1 if mqa else heads
    qkv_out = h + 2 * kv * hd
    layer = Block(name="decoder_layer", count=n_layers, linears=(
        Linear(name="c_attn", in_features=h, out_features=qkv_out, bias=True),
        Linear(name="attn.c_proj", in_features=h, out_features=h, bias=True),
        Linear(name="c_fc", in_features=h, out_features=inner, bias=True),
        Linear(name="mlp.c_proj", in_features=inner, out_features=h, bias=True)),
        other_params=4 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inner, gated_mlp=False)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=positions, attention_dropout=_positive_float(c, "attn_pdrop"),
                    hidden_dropout=_positive_float(c, "resid_pdrop"))
    return _layer_norm_lm(cfg, c, model_type, model_id=model_id, text=text, layer=layer,
                          embedding=Block(name="wte_wpe", embedding_params=vocab * h + positions * h))


def _layer_norm_lm(cfg: Cfg, c: Cfg, model_type: str, *, model_id: str, text: TextDims, layer: Block,
                   embedding: Block) -> ModelSpec:
    """Embeddings, the layers and a final LayerNorm, and an lm_head unless tied (the default)."""
    h, vocab = text.hidden_size, text.vocab_size
    tied = c.bool("tie_word_embeddings", True)
    components = [
        Component(name="embeddings", kind="embedding", blocks=(embedding,)),
        Component(name="decoder", kind="decoder", blocks=(layer, Block(name="ln_f", other_params=2 * h))),
    ]
    if not tied:
        components.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            Linear(name="lm_head", in_features=h, out_features=vocab),)),)))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg),
                     notes=("lm_head is tied to the input embeddings: counted once",) if tied else (),
                     config_keys=tuple(sorted(c.used)))


def build_falcon(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Falcon: fused query_key_value, MQA or grouped KV (new_decoder_architecture), parallel attention."""
    c = _Defaults(cfg, {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32,
                        "num_attention_heads": 71, "max_position_embeddings": 2048})
    h = c.first_int(("hidden_size", "n_embed"))
    n_layers = c.first_int(("num_hidden_layers", "n_layer"))
    heads = c.first_int(("num_attention_heads", "n_head"))
    hd = c.divides("hidden_size", h, "num_attention_heads", heads)
    vocab = c.int("vocab_size")
    new_arch = c.bool("new_decoder_architecture", False)
    multi_query = c.bool("multi_query", True)
    bias = c.bool("bias", False)
    parallel = c.bool("parallel_attn", True)
    if new_arch:
        kv = c.int("num_kv_heads", heads)
        qkv_out = (heads + 2 * kv) * hd
    else:
        kv = 1 if multi_query else heads
        qkv_out = h + 2 * kv * hd
    ffn = c.opt_int("ffn_hidden_size") or 4 * h
    if new_arch:
        n_ln = c.int("num_ln_in_parallel_attn", 2)
    else:
        n_ln = 1 if parallel else 2
    layer = Block(name="decoder_layer", count=n_layers, linears=(
        Linear(name="query_key_value", in_features=h, out_features=qkv_out, bias=bias),
        Linear(name="dense", in_features=h, out_features=h, bias=bias),
        Linear(name="dense_h_to_4h", in_features=h, out_features=ffn, bias=bias),
        Linear(name="dense_4h_to_h", in_features=ffn, out_features=h, bias=bias)),
        other_params=n_ln * 2 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv,
                                                       head_dim=hd, v_head_dim=hd),
        mlp_width=ffn, gated_mlp=False)
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=c.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(c, "attention_dropout"),
                    hidden_dropout=_positive_float(c, "hidden_dropout"))
    return _layer_norm_lm(cfg, c, model_type, model_id=model_id, text=text, layer=layer,
                          embedding=Block(name="word_embeddings", embedding_params=vocab * h))


BUILDERS = {"gpt2": build_gpt2, "gpt_bigcode": build_gpt2, "falcon": build_falcon}
