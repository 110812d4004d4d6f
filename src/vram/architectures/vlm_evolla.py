"""Evolla: a protein-text model: a SaProt (ESM-style) protein encoder, a perceiver-style sequence
compressor and cross-attention aligners inserted into a llama decoder.

File followed: transformers 5.23 ``models/evolla/modeling_evolla.py`` (EvollaForProteinText2Text), defaults
from ``configuration_evolla.py`` (EvollaConfig: a Llama-3-8B-shaped decoder; SaProtConfig: 1,280 wide, 33
layers, a 446-token vocabulary, rotary positions).

- The protein encoder (``protein_encoder_config``): a token table (a LayerNorm when
  ``emb_layer_norm_before``, a position table when ``position_embedding_type`` is "absolute"); BERT-style
  layers of query/key/value and an output dense with biases, a LayerNorm before attention, an
  intermediate / output dense with biases and a LayerNorm; a final LayerNorm.
- The sequence compressor: ``resampler_num_latents`` latents of the protein width and
  ``resampler_depth`` blocks (LayerNorms of the sequence and latents, bias-free q, fused k/v and output of
  ``resampler_heads`` x ``resampler_dim_head``; a LayerNorm and a bias-free MLP of ``resampler_ff_mult`` x
  width), a LayerNorm of the text width and a projector with bias into it.
- The decoder: llama layers; every layer i with (i + 1) divisible by
  max(num_hidden_layers // ``aligner_num_add_layers``, 1) adds an aligner: a query and protein key / value
  with biases (from the text width), an RMSNorm, an output projection (bias by ``aligner_enable_bias``),
  a LayerNorm and a bias-free MLP of ``aligner_ffn_mult`` x width, and two scalar gates.
- lm_head is its own (the class declares no tied weights).
- The aligners' cross-attention caches the compressed protein (``resampler_num_latents`` tokens) once per
  sequence.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.vlm import _sub
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec

_TEXT = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
         "num_attention_heads": 32, "num_key_value_heads": 8}
_PROTEIN = {"vocab_size": 446, "hidden_size": 1280, "num_hidden_layers": 33, "num_attention_heads": 20,
            "intermediate_size": 5120, "max_position_embeddings": 1026}


def _lin(name: str, n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _protein_encoder(p: Cfg) -> Component:
    h, n, heads = p.int("hidden_size"), p.int("num_hidden_layers"), p.int("num_attention_heads")
    inter, vocab = p.int("intermediate_size"), p.int("vocab_size")
    if h % heads:
        raise ConfigError(f"config field 'protein_encoder_config:hidden_size' ({h}) is not divisible by the heads")
    kind = p.str("position_embedding_type", "rotary")
    if kind not in ("rotary", "absolute"):
        raise ConfigError(f"config field 'protein_encoder_config:position_embedding_type' value {kind!r} is not "
                          "supported (rotary or absolute)")
    embed = vocab * h + (p.int("max_position_embeddings") * h if kind == "absolute" else 0)
    layer = Block(name="protein_layer", count=n, linears=(
        _lin("query", h, h), _lin("key", h, h), _lin("value", h, h), _lin("attention.output.dense", h, h),
        _lin("intermediate.dense", h, inter), _lin("output.dense", inter, h)), other_params=4 * h,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads), mlp_width=inter, gated_mlp=False)
    return Component(name="protein_encoder", kind="other", blocks=(
        Block(name="protein_embeddings", embedding_params=embed,
              other_params=2 * h if p.bool("emb_layer_norm_before", False) else 0),
        layer, Block(name="emb_layer_norm_after", other_params=2 * h)))


def build_evolla(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    from vram.architectures import build_text_model

    c = Cfg({**_TEXT, **{k: v for k, v in cfg._data.items() if v is not None}}, used=cfg.used)
    text_data = {k: v for k, v in c._data.items() if k not in ("protein_encoder_config", "model_type")}
    text = build_text_model(Cfg({**text_data, "tie_word_embeddings": False}, used=cfg.used), "llama",
                            model_id=model_id)
    assert text.text is not None
    th, n = text.text.hidden_size, text.text.num_layers
    p = _sub(cfg, "protein_encoder_config", {})
    p = Cfg({**_PROTEIN, **{k: v for k, v in p._data.items() if v is not None}}, where="protein_encoder_config",
            used=cfg.used)
    ph = p.int("hidden_size")
    latents, depth = c.int("resampler_num_latents", 64), c.int("resampler_depth", 6)
    inner = c.int("resampler_dim_head", 64) * c.int("resampler_heads", 8)
    r_ff = c.int("resampler_ff_mult", 4) * ph
    compressor = Component(name="sequence_compressor", kind="projector", blocks=(
        Block(name="latents", other_params=latents * ph),
        Block(name="resampler_block", count=depth, linears=(
            _lin("to_q", ph, inner, False), _lin("to_kv", ph, 2 * inner, False), _lin("to_out", inner, ph, False),
            _lin("ff.fc1", ph, r_ff, False), _lin("ff.fc2", r_ff, ph, False)), other_params=6 * ph,
            mlp_width=r_ff, gated_mlp=False),
        Block(name="protein_projector", linears=(_lin("protein_projector", ph, th),), other_params=2 * th)))
    step = max(n // c.int("aligner_num_add_layers", 8), 1)
    n_align = sum(1 for i in range(n) if (i + 1) % step == 0)
    heads = c.int("num_attention_heads")
    a_ff = c.int("aligner_ffn_mult", 4) * th
    aligner = Block(name="aligner", within_layers=True, count=n_align, linears=(
        _lin("query", th, th), _lin("key_protein", th, th), _lin("value_protein", th, th),
        _lin("out_proj", th, th, c.bool("aligner_enable_bias", True)), _lin("ff.fc1", th, a_ff, False),
        _lin("ff.fc2", a_ff, th, False)), other_params=th + 2 * th + 2,
        attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=th // heads,
                            v_head_dim=th // heads, cross_tokens=latents, cross_source="encoder"),
        mlp_width=a_ff, gated_mlp=False)
    comps = []
    for comp in text.components:
        if comp.kind == "decoder":
            comp = replace(comp, blocks=comp.blocks[:-1] + (aligner,) + comp.blocks[-1:])
        comps.append(comp)
    notes = text.notes + (f"protein-text model: {n_align} aligner layers cross-attend to {latents} compressed "
                          "protein tokens, cached once per sequence",)
    return replace(text, model_type=model_type, components=(_protein_encoder(p), compressor) + tuple(comps),
                   notes=notes, config_keys=tuple(sorted(set(text.config_keys) | cfg.used)))


BUILDERS = {"evolla": build_evolla}
