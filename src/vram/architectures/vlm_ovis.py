"""Ovis2: a visual tokenizer (an AIMv2-style ViT and a head onto a visual vocabulary) whose soft tokens
index a visual embedding table, on a qwen2 language model.

File followed: transformers 5.23 ``models/ovis2/modeling_ovis2.py`` (Ovis2ForConditionalGeneration).

- The ViT (Ovis2VisionTransformer): a patch Conv2d with bias, a position table of the patch grid and an
  RMSNorm; layers of RMSNorm, q/k/v/o (biases by ``qkv_bias``), RMSNorm and a SwiGLU MLP (biases by
  ``mlp_bias``); a final RMSNorm.
- The head (Ovis2VisionModel): a bias-free linear from width x ``hidden_stride``^2 into the visual
  vocabulary less its ``num_visual_indicator_tokens``, and a LayerNorm over that.
- ``visual_embeddings_table``: the visual ``vocab_size`` x the composite's ``hidden_size``.
- ``lm_head``: the composite's ``hidden_size`` x ``vocab_size``; when ``tie_word_embeddings`` (default
  true) it is the language model's embedding, counted once.
- An image (or each crop) becomes the patch grid / ``hidden_stride``^2 tokens between its indicator
  tokens (256 for a 224-pixel crop of 14-pixel patches).
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.layers import lm_head
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

# Qwen2Config's defaults (the text model Ovis2Config builds when text_config is absent).
_QWEN2 = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32}


def ovis2_visual_tokenizer(v: Cfg) -> tuple[Component, VisionDims]:
    h, inter = v.int("hidden_size", 1024), v.int("intermediate_size", 2816)
    layers, heads = v.int("num_hidden_layers", 24), v.int("num_attention_heads", 8)
    image, patch, chans = v.int("image_size", 224), v.int("patch_size", 14), v.int("num_channels", 3)
    stride = v.int("hidden_stride", 1)
    words = v.int("vocab_size", 16384) - v.int("num_visual_indicator_tokens", 5, minimum=0)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    qkv, mlp = v.bool("qkv_bias", False), v.bool("mlp_bias", False)
    grid = (image // patch) ** 2
    layer = Block(name="vision_layer", count=layers, linears=tuple(
        Linear(name=n, in_features=h, out_features=h, bias=qkv) for n in ("q_proj", "k_proj", "v_proj", "out_proj"))
        + (Linear(name="gate_proj", in_features=h, out_features=inter, bias=mlp),
           Linear(name="up_proj", in_features=h, out_features=inter, bias=mlp),
           Linear(name="down_proj", in_features=inter, out_features=h, bias=mlp)),
        other_params=2 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                                                v_head_dim=h // heads), mlp_width=inter)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", other_params=chans * patch * patch * h + h + grid * h + h), layer,
        Block(name="head", linears=(Linear(name="head_linear", in_features=h * stride * stride, out_features=words),),
              other_params=h + 2 * words)))
    tokens = grid // (stride * stride)
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens)
    return tower, dims


def build_ovis2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    tie = cfg.bool("tie_word_embeddings", True)
    t = _sub(cfg, "text_config", _QWEN2)
    text = _text(cfg, t, default_type="qwen2", fixed_type=None, tie_default=True, model_id=model_id)
    assert text.text is not None
    width, vocab = cfg.int("hidden_size", 1536), cfg.int("vocab_size", 151643)
    if not tie:  # the class's own lm_head, at the composite's sizes
        head = lm_head(width, vocab)
        text = replace(text, components=tuple(head if c.kind == "head" else c for c in text.components))
    v = _sub(cfg, "vision_config", {})
    tower, dims = ovis2_visual_tokenizer(v)
    table = Component(name="visual_embeddings_table", kind="projector", blocks=(
        Block(name="visual_embeddings_table", embedding_params=v.int("vocab_size", 16384) * width),))
    tokens = dims.llm_tokens_per_image
    notes = [f"images: {tokens} visual tokens per {dims.image_size}x{dims.image_size} crop (large images add crops)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, table], vision=dims,
                    notes=notes)


BUILDERS = {"ovis2": build_ovis2}
