"""Granite-Docling: a SigLIP-style tower, a two-path pixel-shuffle connector with DeepStack mergers and
a Granite text model.

File followed (transformers 5.23): ``models/granite_docling/modeling_granite_docling.py``
(``GraniteDoclingForConditionalGeneration``; configs in ``configuration_granite_docling.py``):

- the vision model is Idefics3's SigLIP layout (a Conv2d patch embedding with bias, a learned table of
  (image_size / patch_size)^2 positions, ViT layers with biases, a post LayerNorm) with no pooling head;
- its connector (``GraniteDoclingConnector``): an input LayerNorm, a coarse path (pixel shuffle by
  ``scale_factor``) and, with ``use_fine_route``, a fine path (by half of it), each a bias-free projection
  of ``hidden_size x factor^2`` into ``out_hidden_size`` plus one DeepStack merger per
  ``deepstack_visual_indexes`` entry (LayerNorm, two linear layers with biases); then a shared LayerNorm,
  a bias-free ``out_hidden_size`` square matrix and an output LayerNorm (the 2D positions are a buffer);
- a density router when ``density_router_hidden_size`` is set (an attention-pooling linear, a LayerNorm
  and a two-layer MLP with biases);
- the text model is Granite's decoder (``granite_docling_text``, a family delta in families/llama.py);
  the lm_head is tied by the composite's ``tie_word_embeddings`` (true by default).
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _compose, _sub, _text
from vram.model import Block, Component, Linear, ModelSpec

_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "image_size": 512, "patch_size": 16}


def _lin(name: str, n_in: int, n_out: int, bias: bool = False) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _path(name: str, vh: int, out: int, factor: int, deepstack: int) -> list[Block]:
    """One connector path: the shuffled projection and its DeepStack mergers."""
    merged = vh * factor * factor
    blocks = [Block(name=f"{name}.projection", linears=(_lin(f"{name}.projection", merged, out),))]
    if deepstack:
        blocks.append(Block(name=f"{name}.deepstack_mergers", count=deepstack, linears=(
            _lin("linear_1", merged, out, True), _lin("linear_2", out, out, True)), other_params=2 * merged))
    return blocks


def build_granite_docling(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="granite_docling_text", fixed_type="granite_docling_text", tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    merged = dict(_VISION)
    merged.update({k: val for k, val in v._data.items() if val is not None})
    vc = Cfg(merged, where="vision_config", used=cfg.used)
    tower, dims = siglip_or_clip_tower(vc, "siglip", keep_head=False)
    vh = dims.hidden_size
    out = vc.int("out_hidden_size", 1024)
    scale = vc.int("scale_factor", 4)
    deepstack = len(vc.int_list("deepstack_visual_indexes", [3, 7, 10]))
    blocks = [Block(name="connector.ln_in", other_params=2 * vh), *_path("coarse", vh, out, scale, deepstack)]
    if vc.bool("use_fine_route", True):
        blocks += _path("fine", vh, out, scale // 2, deepstack)
    blocks.append(Block(name="connector.out", linears=(_lin("mlp_fc2", out, out),), other_params=4 * out))
    router = cfg.opt_int("density_router_hidden_size")
    if router is not None:
        blocks.append(Block(name="density_router", linears=(
            _lin("att", vh, 1, True), _lin("fc1", vh, router, True), _lin("fc2", router, 1, True)),
            other_params=2 * vh))
    proj = Component(name="projector", kind="projector", blocks=tuple(blocks))
    tokens = max(1, dims.llm_tokens_per_image // (scale * scale))
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} tile on the coarse path (the fine "
             "path gives four times as many; large pages are split into tiles)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {"granite_docling": build_granite_docling}
