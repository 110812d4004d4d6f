"""Kosmos-2, Kosmos-2.5 and Pix2Struct: Magneto-style text decoders fed by a latent-query resampler, and
the Pix2Struct variable-resolution ViT that Kosmos-2.5 and Pix2Struct share.

Files followed (transformers 5.23):

- ``kosmos-2``: ``models/kosmos2/modeling_kosmos2.py`` (Kosmos2ForConditionalGeneration). A CLIP vision
  model (class embedding, bias-free patch conv, grid + 1 positions, pre / post LayerNorms); the
  image-to-text projection (a dense layer with bias from the vision width into the text width,
  ``latent_query_num`` latent queries, a cross-attention of q/k/v/out with biases); the text decoder
  (Kosmos2TextTransformer): a token table, sinusoidal positions (a buffer, no parameters), layers of
  self-attention with biases and an inner LayerNorm before out_proj, LayerNorm, an fc1 / fc2 MLP with
  biases and a LayerNorm over ``ffn_dim`` inside it, LayerNorm (a cross-attention and its LayerNorm
  when ``add_cross_attention``); a final LayerNorm; lm_head tied by the composite's
  ``tie_word_embeddings`` (default true; the composite class declares the tie), whatever the text config says.
- ``kosmos-2.5``: ``models/kosmos2_5/modeling_kosmos2_5.py``: the Pix2Struct ViT (``max_num_patches``
  position rows), the same projection, and the same decoder without the inner attention LayerNorm,
  plus a two-row segment embedding; lm_head tied by the text config's ``tie_word_embeddings`` (the
  tie is declared by the inner Kosmos2_5TextForCausalLM, not by the composite).
- ``pix2struct``: ``models/pix2struct/modeling_pix2struct.py`` (Pix2StructForConditionalGeneration): the
  ViT (``seq_len`` position rows) as the encoder and a T5-style decoder: bias-free self- and
  cross-attention of the text width, RMS-style LayerNorms (a weight only) before each part, a
  relative-position bias table in the first layer, a gated bias-free MLP, a final norm and an
  lm_head tied by the composite's ``tie_word_embeddings`` (default false).

The Pix2Struct ViT: a linear patch projection with bias (``patch_embed_hidden_size`` -> width), row and
column tables, layers of two weight-only norms, bias-free query/key/value/output of
``num_attention_heads`` x ``d_kv`` (``head_dim`` in Kosmos-2.5) and a gated bias-free MLP; a final norm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.decoders import _dtype
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _compose, _sub
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims, VisionDims

_KOSMOS2_VISION = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                   "num_attention_heads": 16, "image_size": 224, "patch_size": 14}
_KOSMOS2_TEXT = {"vocab_size": 65037, "max_position_embeddings": 2048, "embed_dim": 2048, "layers": 24,
                 "ffn_dim": 8192, "attention_heads": 32}
_KOSMOS25_TEXT = {"vocab_size": 108481, "max_position_embeddings": 4096, "embed_dim": 1536, "layers": 24,
                  "ffn_dim": 6144, "attention_heads": 16}
# (width, patch_embed_hidden_size, MLP width, head size, layers, heads, position rows) per config class.
_KOSMOS25_VISION = (1536, 768, 3968, 64, 18, 24, 4096)
_PIX2STRUCT_VISION = (768, 768, 2048, 64, 12, 12, 4096)


def _lin(name: str, n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _heads(h: int, heads: int, where: str) -> int:
    if h % heads:
        raise ConfigError(f"config field '{where}' ({h}) is not divisible by the heads ({heads})")
    return h // heads


def pix2struct_tower(v: Cfg, defaults: tuple[int, int, int, int, int, int, int], *, mlp_key: str, head_key: str,
                     rows_key: str) -> tuple[Component, VisionDims]:
    h, pe, ff = v.int("hidden_size", defaults[0]), v.int("patch_embed_hidden_size", defaults[1]), v.int(
        mlp_key, defaults[2])
    hd, layers, heads, rows = (v.int(head_key, defaults[3]), v.int("num_hidden_layers", defaults[4]),
                               v.int("num_attention_heads", defaults[5]), v.int(rows_key, defaults[6]))
    inner = heads * hd
    layer = Block(name="vision_layer", count=layers, linears=(
        _lin("query", h, inner, False), _lin("key", h, inner, False), _lin("value", h, inner, False),
        _lin("output", inner, h, False), _lin("wi_0", h, ff, False), _lin("wi_1", h, ff, False),
        _lin("wo", ff, h, False)), other_params=2 * h,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd),
        mlp_width=ff)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", linears=(_lin("patch_projection", pe, h),), other_params=2 * rows * h), layer,
        Block(name="layernorm", other_params=h)))
    # Variable resolution: the processor rescales an image to at most max_patches patches (2,048 by default)
    # of patch_embed_hidden_size = 3 x patch^2 values; counted as a square grid of that many patches.
    patches = min(2048, rows * rows)
    patch = max(1, math.isqrt(pe // 3))
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=ff,
                      image_size=patch * math.isqrt(patches), patch_size=patch, patches_per_image=patches,
                      llm_tokens_per_image=patches, llm_tokens_per_frame=patches)
    return tower, dims


def _projection(vision_width: int, e: int, heads: int, queries: int) -> Component:
    hd = _heads(e, heads, "text_config:embed_dim")
    return Component(name="projector", kind="projector", blocks=(
        Block(name="image_to_text_projection", linears=(
            _lin("dense", vision_width, e), _lin("x_attn.q_proj", e, e), _lin("x_attn.k_proj", e, e),
            _lin("x_attn.v_proj", e, e), _lin("x_attn.out_proj", e, e)), other_params=queries * e,
            attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd)),))


def _kosmos_text(cfg: Cfg, t: Cfg, *, model_id: str, model_type: str, inner_ln: bool, segments: int,
                 tie_by: Cfg) -> ModelSpec:
    e, layers, heads = t.int("embed_dim"), t.int("layers"), t.int("attention_heads")
    ff, vocab = t.int("ffn_dim"), t.int("vocab_size")
    hd = _heads(e, heads, "text_config:embed_dim")
    attn = tuple(_lin(f"self_attn.{n}", e, e) for n in ("q_proj", "k_proj", "v_proj", "out_proj"))
    cross = t.bool("add_cross_attention", False)
    cross_lins = tuple(_lin(f"encoder_attn.{n}", e, e) for n in ("q_proj", "k_proj", "v_proj", "out_proj"))
    layer = Block(name="decoder_layer", count=layers,
                  linears=attn + (cross_lins if cross else ()) + (_lin("fc1", e, ff), _lin("fc2", ff, e)),
                  other_params=(2 * e if inner_ln else 0) + 4 * e + 2 * ff + (2 * e if cross else 0),
                  attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd),
                  mlp_width=ff, gated_mlp=False)
    tied = tie_by.bool("tie_word_embeddings", True)
    comps = [Component(name="embeddings", kind="embedding", blocks=(
                 Block(name="embed_tokens", embedding_params=vocab * e + segments * e),)),
             Component(name="decoder", kind="decoder", blocks=(layer, Block(name="final_norm", other_params=2 * e)))]
    if not tied:
        comps.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            _lin("lm_head", e, vocab, False),)),)))
    text = TextDims(hidden_size=e, num_layers=layers, num_heads=heads, vocab_size=vocab,
                    max_position_embeddings=t.int("max_position_embeddings"))
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(comps), text=text, tied_embeddings=tied,
                     checkpoint_dtype=_dtype(cfg), config_keys=tuple(sorted(t.used)),
                     notes=("lm_head is tied to the input embeddings: counted once",) if tied else ())


def _text_cfg(cfg: Cfg, defaults: Mapping[str, int]) -> Cfg:
    t = _sub(cfg, "text_config", {})
    return Cfg({**defaults, **{k: v for k, v in t._data.items() if v is not None}}, where="text_config",
               used=cfg.used)


def build_kosmos2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    v = _sub(cfg, "vision_config", {})
    merged = {**_KOSMOS2_VISION, **{k: val for k, val in v._data.items() if val is not None}}
    tower, dims = siglip_or_clip_tower(Cfg(merged, where="vision_config", used=cfg.used), "clip")
    t = _text_cfg(cfg, _KOSMOS2_TEXT)
    text = _kosmos_text(cfg, t, model_id=model_id, model_type=model_type, inner_ln=True, segments=0, tie_by=cfg)
    return _latent_composite(cfg, text, tower, dims, t, model_id=model_id, model_type=model_type, default_queries=64)


def build_kosmos2_5(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    tower, dims = pix2struct_tower(_sub(cfg, "vision_config", {}), _KOSMOS25_VISION, mlp_key="intermediate_size",
                                   head_key="head_dim", rows_key="max_num_patches")
    t = _text_cfg(cfg, _KOSMOS25_TEXT)
    text = _kosmos_text(cfg, t, model_id=model_id, model_type=model_type, inner_ln=False, segments=2, tie_by=t)
    return _latent_composite(cfg, text, tower, dims, t, model_id=model_id, model_type=model_type,
                             default_queries=2048)


def _latent_composite(cfg: Cfg, text: ModelSpec, tower: Component, dims: VisionDims, t: Cfg, *, model_id: str,
                      model_type: str, default_queries: int) -> ModelSpec:
    queries = cfg.int("latent_query_num", default_queries)
    proj = _projection(dims.hidden_size, t.int("embed_dim"), t.int("attention_heads"), queries)
    dims = replace(dims, llm_tokens_per_image=queries, llm_tokens_per_frame=queries)
    notes = [f"images: {queries} tokens each (the latent queries of the image-to-text projection)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


_PIX2STRUCT_TEXT = {"vocab_size": 50244, "hidden_size": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12,
                    "num_heads": 12, "relative_attention_num_buckets": 32}


def build_pix2struct(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    tower, dims = pix2struct_tower(_sub(cfg, "vision_config", {}), _PIX2STRUCT_VISION, mlp_key="d_ff",
                                   head_key="d_kv", rows_key="seq_len")
    encoder = Component(name="encoder", kind="other", blocks=tower.blocks)
    t = _text_cfg(cfg, _PIX2STRUCT_TEXT)
    d, ff, vocab, layers, heads = (t.int("hidden_size"), t.int("d_ff"), t.int("vocab_size"), t.int("num_layers"),
                                   t.int("num_heads"))
    hd = _heads(d, heads, "text_config:hidden_size")
    buckets = t.int("relative_attention_num_buckets") * heads
    mlp = (_lin("wi_0", d, ff, False), _lin("wi_1", d, ff, False), _lin("wo", ff, d, False))
    self_attn = tuple(_lin(f"self_attention.{n}", d, d, False) for n in ("query", "key", "value", "output"))
    att = Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd)

    def layer(name: str, count: int, extra: int) -> Block:
        return Block(name=name, count=count, linears=self_attn + mlp, other_params=2 * d + extra, attention=att,
                     mlp_width=ff)

    cross = Block(name="cross_attention", within_layers=True, count=layers, linears=tuple(
        _lin(f"encoder_decoder_attention.{n}", d, d, False) for n in ("query", "key", "value", "output")),
        other_params=d, attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=hd,
                                            v_head_dim=hd, cross_tokens=dims.patches_per_image,
                                            cross_source="encoder"))
    blocks = (layer("decoder_layer_0", 1, buckets),) + ((layer("decoder_layer", layers - 1, 0),) if layers > 1 else ())
    tied = cfg.bool("tie_word_embeddings", False)
    comps = [encoder, Component(name="embeddings", kind="embedding", blocks=(
                 Block(name="embed_tokens", embedding_params=vocab * d),)),
             Component(name="decoder", kind="decoder", blocks=blocks + (cross, Block(name="final_layer_norm",
                                                                                     other_params=d)))]
    if not tied:
        comps.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            _lin("lm_head", d, vocab, False),)),)))
    text = TextDims(hidden_size=d, num_layers=layers, num_heads=heads, vocab_size=vocab)
    notes = [f"encoder-decoder: the ViT encodes up to {dims.patches_per_image} patches of the image (the processor's "
             "max_patches); the decoder's cross-attention layers cache them once per sequence"]
    if tied:
        notes.append("lm_head is tied to the decoder's token embedding: counted once")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(comps), text=text, tied_embeddings=tied,
                     checkpoint_dtype=_dtype(cfg), notes=tuple(notes), config_keys=tuple(sorted(cfg.used)))


BUILDERS = {"kosmos-2": build_kosmos2, "kosmos-2.5": build_kosmos2_5, "pix2struct": build_pix2struct}
