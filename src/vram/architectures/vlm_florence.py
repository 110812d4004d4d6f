"""Florence-2: a DaViT vision backbone and a projector in front of a BART encoder-decoder.

File followed: transformers 5.23 ``models/florence2/modeling_florence2.py`` (Florence2ForConditionalGeneration),
defaults from ``configuration_florence2.py`` (Florence2VisionConfig: four stages 128 / 256 / 512 / 1,024 wide,
depths 1 / 1 / 9 / 1; the text model is BartConfig's).

- DaViT (Florence2VisionBackbone): per stage a convolutional embedding (a Conv2d with bias of
  ``patch_size[s]`` from the previous width, and a LayerNorm of the input width when
  ``patch_prenorm[s]``, else of the stage width) and ``depths[s]`` blocks, each a spatial block (window
  attention) and a channel block (channel-group attention); each of those holds two depthwise 3x3 convs
  with bias, two LayerNorms, a fused qkv (bias by ``qkv_bias``), an output projection with bias and an
  fc1 / fc2 MLP of width x ``mlp_ratio`` with biases.
- The projector: a bias-free linear from the last stage width into ``projection_dim``, a LayerNorm, and
  row / column position tables (``max_position_embeddings`` rows splitting the last stage width); the
  temporal cosine table is a buffer.
- The language model: BART's encoder-decoder (``encdec_bart.py``) of ``text_config``, whose encoder and
  decoder tables are its shared table by the text config's ``tie_word_embeddings``; lm_head is tied to
  the shared table by the composite's ``tie_word_embeddings`` (default true).
- The image's tokens (the last stage's grid, e.g. 24 x 24 = 576 at 768 px) precede the text in the
  BART encoder's input, so they lengthen what the decoder's cross-attention caches.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.layers import lm_head
from vram.architectures.vlm import _sub
from vram.errors import ConfigError
from vram.model import Block, Component, Linear, ModelSpec


def _stage_lists(v: Cfg) -> tuple[list[int], list[int], list[int], list[bool]]:
    dims = v.int_list("embed_dim", [128, 256, 512, 1024], minimum=1)
    depths = v.int_list("depths", [1, 1, 9, 1], minimum=0)
    patch = v.int_list("patch_size", [7, 3, 3, 3], minimum=1)
    prenorm = v.raw("patch_prenorm", [False, True, True, True])
    if not isinstance(prenorm, list) or not all(isinstance(x, bool) for x in prenorm):
        raise ConfigError("config field 'vision_config:patch_prenorm' must be a list of booleans")
    if not len(dims) == len(depths) == len(patch) == len(prenorm):
        raise ConfigError("config fields 'vision_config:embed_dim', 'depths', 'patch_size' and 'patch_prenorm' "
                          "must have one entry per stage")
    return dims, depths, patch, prenorm


def davit_tower(v: Cfg) -> Component:
    dims, depths, patch, prenorm = _stage_lists(v)
    ratio = v.raw("mlp_ratio", 4.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        raise ConfigError(f"config field 'vision_config:mlp_ratio' must be a positive number, got {ratio!r}")
    qkv_bias = v.bool("qkv_bias", True)
    blocks: list[Block] = []
    prev = v.int("in_channels", 3)
    for s, (d, depth, k, pre) in enumerate(zip(dims, depths, patch, prenorm, strict=True)):
        blocks.append(Block(name=f"stage{s}.conv_embed", other_params=prev * d * k * k + d + 2 * (prev if pre else d)))
        inter = int(d * ratio)
        # a spatial block and a channel block: depthwise convs, norms, attention, MLP
        half = (Linear(name="qkv", in_features=d, out_features=3 * d, bias=qkv_bias),
                Linear(name="proj", in_features=d, out_features=d, bias=True),
                Linear(name="fc1", in_features=d, out_features=inter, bias=True),
                Linear(name="fc2", in_features=inter, out_features=d, bias=True))
        if depth:
            blocks.append(Block(name=f"stage{s}.block", count=depth, linears=half + half,
                                other_params=2 * (2 * (9 * d + d) + 4 * d), mlp_width=inter, gated_mlp=False))
        prev = d
    return Component(name="vision_tower", kind="vision", blocks=tuple(blocks))


def build_florence2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    from vram.architectures import build_text_model

    t = _sub(cfg, "text_config", {})
    # The inner BartModel ties its encoder's and decoder's tables to ``shared`` by the text config's flag;
    # lm_head is tied to ``shared`` by the composite's.
    text = build_text_model(t, t.str("model_type", "bart"), model_id=model_id)
    assert text.text is not None
    tied = cfg.bool("tie_word_embeddings", True)
    comps = tuple(c for c in text.components if c.kind != "head")
    if not tied:
        comps += (lm_head(text.text.hidden_size, text.text.vocab_size),)
    v = _sub(cfg, "vision_config", {})
    tower = davit_tower(v)
    last, pd = _stage_lists(v)[0][-1], v.int("projection_dim", 1024)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="multi_modal_projector", linears=(
        Linear(name="image_projection", in_features=last, out_features=pd),),
        other_params=2 * pd + v.int("max_position_embeddings", 50) * last),))
    notes = text.notes + ("the image's DaViT tokens (the last stage's grid: 576 at 768 px) are part of the "
                          "BART encoder's input; count them in --seq-len",)
    return replace(text, model_type=model_type, components=(tower, proj) + comps, notes=notes, tied_embeddings=tied,
                   config_keys=tuple(sorted(set(text.config_keys) | cfg.used)))


BUILDERS = {"florence2": build_florence2}
