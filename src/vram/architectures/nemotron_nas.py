"""Llama-Nemotron's ``nemotron-nas`` (DeciLMForCausalLM): a Llama whose every layer is shaped on its own.

transformers has no class for this model_type: the checkpoints ship their own modeling file
(``modeling_decilm.py`` with ``configuration_decilm.py``, loaded with trust_remote_code, in
nvidia/Llama-3_3-Nemotron-Super-49B-v1 and nvidia/Llama-3_1-Nemotron-Ultra-253B-v1). This builder
follows that repository modeling file, not a transformers one; vLLM's ``models/nemotron_nas.py`` and
TensorRT-LLM's ``_torch/models/modeling_nemotron_nas.py`` port the same layer and agree with it.

``block_configs[i]`` shapes layer i (DeciLMDecoderLayer):

* ``attention``: ``no_op`` -> no attention and no ``input_layernorm``; ``replace_with_linear`` -> the
  RMSNorm and one ``linear_attn`` Linear(h, h, bias=False), which caches nothing; otherwise the RMSNorm
  and Llama attention with ``num_attention_heads // n_heads_in_group`` KV heads (biases per
  ``attention_bias``); a ``window_length`` makes the layer attend over a sliding window.
* ``ffn``: ``no_op`` -> no MLP and no ``post_attention_layernorm``; ``replace_with_linear`` -> the
  RMSNorm and one ``linear_mlp`` Linear(h, h, bias=False); otherwise the RMSNorm and a gated (SiLU) MLP
  of width ``_find_multiple(int(2 * ffn_mult * h / 3), 256)`` (``_ffn_mult_to_intermediate_size``;
  biases per ``mlp_bias``), or the block's ``intermediate_size`` when it gives no ``ffn_mult``.

Embeddings, the final RMSNorm and lm_head (tied per ``tie_word_embeddings``) are Llama's. Layers
with equal settings are grouped into one Block, so each group caches with its own KV heads.
Later DeciLM variants (Mamba, MoE, Llama-4 or parallel blocks) are refused, not guessed.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures import layers as L
from vram.architectures._config import Cfg
from vram.architectures.decoders import MAX_LAYERS, _dtype, _positive_float
from vram.architectures.generic import merge
from vram.architectures.layers import lm_head
from vram.errors import ConfigError, UnsupportedModelError
from vram.model import Block, Component, Linear, ModelSpec, TextDims

ROUND_TO = 256
"""modeling_decilm.py _ffn_mult_to_intermediate_size rounds the MLP width up to a multiple of 256."""

_LATER_VARIANTS = {"attention": ("mamba", "llama4", "moe"), "ffn": ("moe",)}


def ffn_width(ffn_mult: float, hidden: int) -> int:
    """modeling_decilm.py ``_ffn_mult_to_intermediate_size``: 2/3 of ffn_mult x h, rounded up to 256."""
    width = int(2 * ffn_mult * hidden / 3)
    return width if width % ROUND_TO == 0 else width + ROUND_TO - width % ROUND_TO


def _float(c: Cfg, key: str) -> float:
    value = c.raw(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"config field '{c._path(key)}' must be a positive number, got {value!r}")
    return float(value)


def _refuse_later_variants(block: Cfg, i: int) -> None:
    if block.raw("parallel_blocks") is not None:
        raise UnsupportedModelError(f"block_configs[{i}] has parallel_blocks (a DeciLM hybrid): not modelled")
    for part, keys in _LATER_VARIANTS.items():
        sub = block.sub(part)
        for key in keys:
            if sub.raw(key) is not None:
                raise UnsupportedModelError(f"block_configs[{i}].{part}.{key} (a later DeciLM variant): not modelled")
    if block.sub("ffn").raw("gated") is False:
        raise UnsupportedModelError(f"block_configs[{i}].ffn.gated is false (a plain MLP): not modelled")


def _layer(c: Cfg, block: Cfg, *, h: int, heads: int, hd: int, i: int) -> Block:
    """Layer i as DeciLMDecoderLayer builds it from block_configs[i]."""
    _refuse_later_variants(block, i)
    attn, ffn = block.sub("attention", required=True), block.sub("ffn", required=True)
    linears: tuple[Linear, ...] = ()
    norms = 0
    attention = None
    if not attn.bool("no_op", False):
        norms += h  # input_layernorm
        if attn.bool("replace_with_linear", False):
            linears += (Linear(name="linear_attn", in_features=h, out_features=h),)
        else:
            group = attn.int("n_heads_in_group")
            kv = c.divides("num_attention_heads", heads, f"block_configs[{i}].attention.n_heads_in_group", group)
            window = attn.opt_int("window_length")
            bias = c.bool("attention_bias", False)
            part = L.attention(h, heads, kv, hd, kind="sliding" if window else "full", window=window,
                               qkv_bias=bias, o_bias=bias)
            linears += part.linears
            attention = part.attention
    width = 0
    if not ffn.bool("no_op", False):
        norms += h  # post_attention_layernorm
        if ffn.bool("replace_with_linear", False):
            linears += (Linear(name="linear_mlp", in_features=h, out_features=h),)
        else:
            width = ffn_width(_float(ffn, "ffn_mult"), h) if ffn.has("ffn_mult") else ffn.int("intermediate_size")
            linears += L.mlp(h, width, bias=c.bool("mlp_bias", False))
    return Block(name="decoder_layer", linears=linears, other_params=norms, attention=attention, mlp_width=width)


def build_nemotron_nas(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """The ModelSpec of a nemotron-nas config (DeciLMConfig: its sizes have no class defaults here)."""
    blocks = cfg.raw("block_configs")
    if not isinstance(blocks, list) or not blocks:
        raise ConfigError("config field 'block_configs' (one entry per layer) is missing or empty: "
                          f"cannot shape the layers of model_type {model_type!r}")
    h = cfg.int("hidden_size")
    heads = cfg.int("num_attention_heads")
    n_layers = cfg.int("num_hidden_layers")
    if n_layers > MAX_LAYERS:
        raise ConfigError(f"config field 'num_hidden_layers' ({n_layers}) is implausibly large")
    if len(blocks) != n_layers:
        raise ConfigError(f"config field 'block_configs' has {len(blocks)} entries for "
                          f"'num_hidden_layers' {n_layers}")
    hd = cfg.int("head_dim") if cfg.has("head_dim") else cfg.divides("hidden_size", h, "num_attention_heads", heads)
    vocab = cfg.int("vocab_size")
    layers = []
    for i, raw in enumerate(blocks):
        block = Cfg(raw, where=f"block_configs[{i}]", used=set())
        layers.append(_layer(cfg, block, h=h, heads=heads, hd=hd, i=i))
    tied = cfg.bool("tie_word_embeddings", False)
    grouped = tuple(replace(b, name=_name(b)) for b in merge(layers))
    components = [
        Component(name="embeddings", kind="embedding", blocks=(Block(name="embed_tokens",
                                                                     embedding_params=vocab * h),)),
        Component(name="decoder", kind="decoder", blocks=grouped + (Block(name="final_norm", other_params=h),)),
    ]
    notes = [f"model_type {model_type!r}: layers shaped per block_configs as the repository's modeling_decilm.py "
             f"builds them ({_summary(layers)})"]
    if tied:
        notes.append("lm_head is tied to the input embeddings: counted once")
    else:
        components.append(lm_head(h, vocab))
    text = TextDims(hidden_size=h, num_layers=n_layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=cfg.opt_int("max_position_embeddings"),
                    attention_dropout=_positive_float(cfg, "attention_dropout"))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(cfg.used | {"block_configs"})))


def _name(b: Block) -> str:
    """decoder_layer, or what the layer lacks: (no attention), (no MLP), or both (an identity layer)."""
    attends = b.attention is not None or any(lin.name == "linear_attn" for lin in b.linears)
    mixes = b.mlp_width > 0 or any(lin.name == "linear_mlp" for lin in b.linears)
    lacks = [part for part, has in (("no attention", attends), ("no MLP", mixes)) if not has]
    return f"decoder_layer ({', '.join(lacks)})" if lacks else "decoder_layer"


def _summary(layers: list[Block]) -> str:
    names = [_name(b) for b in layers]
    no_attn = sum(1 for n in names if "no attention" in n)
    no_mlp = sum(1 for n in names if "no MLP" in n)
    cached = sum(1 for b in layers if b.attention is not None)
    return (f"{len(layers)} layers; {no_attn} without attention, {no_mlp} without an MLP; "
            f"{cached} keep a KV cache")


BUILDERS = {"nemotron-nas": build_nemotron_nas}
