"""GIT (GitForCausalLM): a CLIP image encoder and a visual projection in front of a BERT-style decoder
that attends causally over the image tokens followed by the text.

File followed: transformers 5.23 ``models/git/modeling_git.py``.

- ``image_encoder``: a CLIP vision model (class embedding, bias-free patch conv, grid + 1 positions,
  pre / post LayerNorms; GitVisionConfig defaults 768 wide, 12 layers, patch 16 over 224 px).
- ``visual_projection``: a linear layer with bias into the text width and a LayerNorm; with
  ``num_image_with_embedding`` (video), that many temporal embeddings of the vision width.
- The decoder: word and position tables and a LayerNorm; BERT layers (q/k/v with biases, an output
  dense and LayerNorm, an intermediate and output dense with biases and a LayerNorm).
- ``output``: a linear layer with bias into the vocabulary; when ``tie_word_embeddings`` (default false)
  its weight is the word table and only its bias is its own.
- Every image is its grid + 1 tokens before the text.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.decoders import _dtype
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _compose, _sub
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, TextDims

_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "image_size": 224, "patch_size": 16}
_TEXT = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 6, "num_attention_heads": 12,
         "intermediate_size": 3072, "max_position_embeddings": 1024}


def build_git(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    c = Cfg({**_TEXT, **{k: v for k, v in cfg._data.items() if v is not None}}, used=cfg.used)
    h, layers, heads = c.int("hidden_size"), c.int("num_hidden_layers"), c.int("num_attention_heads")
    inter, vocab, positions = c.int("intermediate_size"), c.int("vocab_size"), c.int("max_position_embeddings")
    if h % heads:
        raise ConfigError(f"config field 'hidden_size' ({h}) is not divisible by 'num_attention_heads' ({heads})")
    hd = h // heads
    v = _sub(cfg, "vision_config", {})
    merged = {**_VISION, **{k: val for k, val in v._data.items() if val is not None}}
    tower, dims = siglip_or_clip_tower(Cfg(merged, where="vision_config", used=cfg.used), "clip")
    temporal = c.opt_int("num_image_with_embedding") or 0
    proj = Component(name="projector", kind="projector", blocks=(Block(name="visual_projection", linears=(
        Linear(name="visual_projection.0", in_features=dims.hidden_size, out_features=h, bias=True),),
        other_params=2 * h + temporal * dims.hidden_size),))
    layer = Block(name="decoder_layer", count=layers, linears=tuple(
        Linear(name=n, in_features=h, out_features=h, bias=True) for n in ("query", "key", "value", "output.dense"))
        + (Linear(name="intermediate.dense", in_features=h, out_features=inter, bias=True),
           Linear(name="output.dense", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inter, gated_mlp=False)
    tied = c.bool("tie_word_embeddings", False)
    head_linears = () if tied else (Linear(name="output", in_features=h, out_features=vocab),)
    comps = (Component(name="embeddings", kind="embedding", blocks=(
                 Block(name="embeddings", embedding_params=(vocab + positions) * h, other_params=2 * h),)),
             Component(name="decoder", kind="decoder", blocks=(layer,)),
             Component(name="lm_head", kind="head", blocks=(Block(name="output", linears=head_linears,
                                                                  other_params=vocab),)))
    text = ModelSpec(id=model_id, model_type=model_type, components=comps, tied_embeddings=tied,
                     text=TextDims(hidden_size=h, num_layers=layers, num_heads=heads, vocab_size=vocab,
                                   max_position_embeddings=positions),
                     checkpoint_dtype=_dtype(cfg),
                     notes=("output is tied to the word embeddings (its bias is its own)",) if tied else ())
    dims = replace(dims, llm_tokens_per_image=dims.patches_per_image, llm_tokens_per_frame=dims.patches_per_image)
    notes = [f"images: {dims.patches_per_image} tokens per {dims.image_size}x{dims.image_size} image (the CLIP grid "
             "and its class token)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {"git": build_git}
