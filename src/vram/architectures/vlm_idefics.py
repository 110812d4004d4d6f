"""IDEFICS (1): a CLIP-style tower, an optional perceiver resampler and gated cross-attention layers
beside a llama decoder.

File followed: transformers 5.23 ``models/idefics/modeling_idefics.py`` (IdeficsForVisionText2Text), with
``vision.py`` and ``perceiver.py`` of the same folder.

- Token table of ``vocab_size`` rows plus ``additional_vocab_size`` rows; lm_head the same two parts
  (IdeficsDecoupledLinear), tied to the table when ``tie_word_embeddings`` (default false).
- The vision model (IdeficsVisionTransformer, ``embed_dim`` wide): class embedding, bias-free patch conv,
  grid + 1 positions, pre / post LayerNorms, layers of q/k/v/out and fc1 / fc2 with biases.
- With ``use_resampler``: ``resampler_n_latents`` latents of the vision width and ``resampler_depth``
  blocks of LayerNorms of context and latents (q/k LayerNorms by ``qk_layer_norms_perceiver``), bias-free
  q/k/v/output of ``resampler_n_heads`` x ``resampler_head_dim`` and an MLP (LayerNorm, bias-free fc into
  four times the vision width and back); a final LayerNorm.
- ``num_hidden_layers`` llama layers (bias-free q/k/v/o, gated MLP, two RMSNorms) and
  num_hidden_layers // ``cross_layer_interval`` gated cross-attention layers: q/o of the text width,
  k/v from the vision width, q/k RMSNorms by ``qk_layer_norms``, a gated MLP, two RMSNorms and two gates
  (a vector of the width each with ``alpha_type`` "vector", one value each with "float").
- The cross-attention layers cache the image tokens (the latents, or the grid + 1 patches) per image.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.decoders import _dtype
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _sub
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_TEXT = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
         "num_attention_heads": 32, "max_position_embeddings": 2048}
_VISION = {"hidden_size": 768, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
           "image_size": 224, "patch_size": 14}


def _lin(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out)


def _resampler(cfg: Cfg, ve: int) -> tuple[Component, int]:
    p = _sub(cfg, "perceiver_config", {})
    latents, depth = p.int("resampler_n_latents", 64), p.int("resampler_depth", 6)
    heads, hd = p.int("resampler_n_heads", 16), p.int("resampler_head_dim", 96)
    qk = 4 * hd if p.bool("qk_layer_norms_perceiver", False) else 0
    block = Block(name="perceiver_block", count=depth, linears=(
        _lin("q_proj", ve, heads * hd), _lin("k_proj", ve, heads * hd), _lin("v_proj", ve, heads * hd),
        _lin("output_proj", heads * hd, ve), _lin("mlp.fc", ve, 4 * ve), _lin("mlp.c_proj", 4 * ve, ve)),
        other_params=6 * ve + qk, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd,
                                                      v_head_dim=hd), mlp_width=4 * ve, gated_mlp=False)
    resampler = Component(name="perceiver_resampler", kind="projector", blocks=(
        Block(name="latents", other_params=latents * ve), block, Block(name="layer_norm", other_params=2 * ve)))
    return resampler, latents


def build_idefics(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = Cfg({**_TEXT, **{k: v for k, v in cfg._data.items() if v is not None}}, used=cfg.used)
    h, inter, n = c.int("hidden_size"), c.int("intermediate_size"), c.int("num_hidden_layers")
    heads, vocab = c.int("num_attention_heads"), c.int("vocab_size")
    extra = c.int("additional_vocab_size", 0, minimum=0)
    if h % heads:
        raise ConfigError(f"config field 'hidden_size' ({h}) is not divisible by 'num_attention_heads' ({heads})")
    hd = h // heads
    v = _sub(cfg, "vision_config", {})
    vdata = {**_VISION, **{k: val for k, val in v._data.items() if val is not None}}
    if "embed_dim" in vdata:  # IdeficsVisionConfig names its width embed_dim
        vdata["hidden_size"] = vdata["embed_dim"]
    tower, dims = siglip_or_clip_tower(Cfg(vdata, where="vision_config", used=cfg.used), "clip")
    ve = dims.hidden_size
    extras: list[Component] = [tower]
    image_tokens = dims.patches_per_image
    if c.bool("use_resampler", False):
        resampler, image_tokens = _resampler(cfg, ve)
        extras.append(resampler)
    alpha = c.str("alpha_type", "float")
    if alpha not in ("float", "vector"):
        raise ConfigError(f"config field 'alpha_type' has an unknown value {alpha!r}")
    mlp = (_lin("mlp.gate_proj", h, inter), _lin("mlp.up_proj", h, inter), _lin("mlp.down_proj", inter, h))
    self_layer = Block(name="decoder_layer", count=n, linears=(
        _lin("q_proj", h, h), _lin("k_proj", h, h), _lin("v_proj", h, h), _lin("o_proj", h, h)) + mlp,
        other_params=2 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inter)
    n_cross = n // c.int("cross_layer_interval", 1)
    cross_layer = Block(name="gated_cross_attn_layer", count=n_cross, linears=(
        _lin("cross_attn.q_proj", h, h), _lin("cross_attn.k_proj", ve, h), _lin("cross_attn.v_proj", ve, h),
        _lin("cross_attn.o_proj", h, h)) + mlp,
        other_params=2 * h + (2 * hd if c.bool("qk_layer_norms", False) else 0) + (2 * h if alpha == "vector" else 2),
        attention=Attention(kind="cross", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd,
                            cross_tokens=image_tokens), mlp_width=inter)
    tied = c.bool("tie_word_embeddings", False)
    comps = [Component(name="embeddings", kind="embedding", blocks=(
                 Block(name="embed_tokens", embedding_params=(vocab + extra) * h),)),
             Component(name="decoder", kind="decoder", blocks=(self_layer, cross_layer,
                                                               Block(name="norm", other_params=h)))]
    if not tied:
        comps.append(Component(name="lm_head", kind="head", blocks=(Block(name="lm_head", linears=(
            _lin("lm_head", h, vocab + extra),)),)))
    dims = replace(dims, llm_tokens_per_image=1, llm_tokens_per_frame=1)
    notes = [f"images: {n_cross} gated cross-attention layers cache {image_tokens} vision tokens per image "
             "(the text sequence holds one image token each)"]
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(extras) + tuple(comps),
                     text=TextDims(hidden_size=h, num_layers=n + n_cross, num_heads=heads, vocab_size=vocab + extra,
                                   max_position_embeddings=c.int("max_position_embeddings")),
                     vision=dims, tied_embeddings=tied, checkpoint_dtype=_dtype(cfg), notes=tuple(notes),
                     config_keys=tuple(sorted(cfg.used)))


BUILDERS = {"idefics": build_idefics}
