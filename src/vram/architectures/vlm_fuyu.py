"""Fuyu: no vision tower; image patches enter a Persimmon language model through one linear layer.

File followed: transformers 5.23 ``models/fuyu/modeling_fuyu.py`` (FuyuForCausalLM, the class of the
image-text-to-text mapping): ``vision_embed_tokens`` is a linear layer with bias from a flattened
``patch_size`` x ``patch_size`` x ``num_channels`` patch into the text width; the language model is the
``text_config`` (FuyuConfig's ``sub_configs_defaults``: a 4,096-wide, 36-layer persimmon with q/k
LayerNorms, relu2 and 262,144 tokens), its lm_head tied by the composite's ``tie_word_embeddings``
(default false).

Image tokens (processing_fuyu.py): one token per patch and a newline token after each row of patches,
(image_size / patch)^2 + image_size / patch for an image of ``image_size`` pixels. The vision activation
term counts the projection as one layer of the text width (an upper bound for one linear layer).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose, _sub, _text
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_PERSIMMON = {"model_type": "persimmon", "vocab_size": 262144, "max_position_embeddings": 16384,
              "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 36, "num_attention_heads": 64,
              "hidden_act": "relu2", "qk_layernorm": True}


def build_fuyu(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", _PERSIMMON), default_type="persimmon", fixed_type=None,
                 tie_default=False, model_id=model_id)
    assert text.text is not None
    th = text.text.hidden_size
    patch, chans, image = cfg.int("patch_size", 30), cfg.int("num_channels", 3), cfg.int("image_size", 300)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="vision_embed_tokens", linears=(
        Linear(name="vision_embed_tokens", in_features=patch * patch * chans, out_features=th, bias=True),)),))
    side = -(-image // patch)
    tokens = side * side + side
    dims = VisionDims(hidden_size=th, num_layers=1, num_heads=1, intermediate_size=th, image_size=image,
                      patch_size=patch, patches_per_image=side * side, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {image}x{image} image ({side}x{side} patches and a newline per row; "
             "larger images cost more), linearly projected: no vision tower"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[proj], vision=dims, notes=notes)


BUILDERS = {"fuyu": build_fuyu}
