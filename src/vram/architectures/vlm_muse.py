"""Muse Glimmer: a windowed ViT, an MLP adapter and a linear projection on a gated-attention text model.

File followed (transformers 5.23): ``models/muse_glimmer/modeling_muse_glimmer.py``
(``MuseGlimmerForConditionalGeneration``; configs in ``configuration_muse_glimmer.py``):

- the vision tower: a bias-free linear patch embedding of ``patch_temporal x 3 x patch_size^2`` values,
  a table of ``pos_emb_height x pos_emb_width`` positions, a pre and a post LayerNorm, and ViT layers
  (LayerNorms, q/k/v and output projections with biases, an fc1 / fc2 MLP with biases; window and full
  attention layers have the same weights);
- ``vision_adapter``: two bias-free linear layers, ``out_hidden_size`` (the 2x2-merged vision width)
  into ``projector_hidden_size`` and a square one, then ``vision_projection`` (bias-free) into the
  text width; the perception norm has no weight;
- the text model is ``muse_glimmer_text`` (families/gemma.py: Gemma 2's four norms per layer, a
  sigmoid output gate as wide as the queries, q/k norms without weights); the lm_head is tied only by a
  top-level ``tie_word_embeddings`` (the composite config has none by default; the text config's flag
  does not tie it).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.multimodal import _vit_layer
from vram.architectures.vlm import _compose, _text
from vram.architectures.vlm_navit import nested
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_VISION = {"patch_size": 14, "pos_emb_height": 32, "pos_emb_width": 32, "num_attention_heads": 16,
           "num_hidden_layers": 50, "hidden_size": 1536, "intermediate_size": 8960, "patch_temporal": 2,
           "merge_size": 2}


def build_muse_glimmer(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = nested(cfg, "text_config", {})
    text = _text(cfg, t, default_type="muse_glimmer_text", fixed_type="muse_glimmer_text", tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    v = nested(cfg, "vision_config", _VISION)
    h, inter, heads = v.int("hidden_size"), v.int("intermediate_size"), v.int("num_attention_heads")
    layers, patch, frames = v.int("num_hidden_layers"), v.int("patch_size"), v.int("patch_temporal")
    table = v.int("pos_emb_height") * v.int("pos_emb_width")
    merge = v.int("merge_size")
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embedder", linears=(Linear(name="patch_embedding", in_features=frames * 3 * patch * patch,
                                                     out_features=h),), embedding_params=table * h),
        Block(name="ln_pre", other_params=2 * h), _vit_layer(h, inter, heads, count=layers),
        Block(name="ln_post", other_params=2 * h)))
    out, wide = cfg.int("out_hidden_size", 6144), cfg.int("projector_hidden_size", 4096)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="vision_adapter", linears=(
        Linear(name="fc1", in_features=out, out_features=wide), Linear(name="fc2", in_features=wide, out_features=wide),
        Linear(name="vision_projection", in_features=wide, out_features=text.text.hidden_size))),))
    image = 448
    grid = (image // patch) ** 2
    tokens = grid // (merge * merge)
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens // frames, resize="native", merge=merge * merge)
    notes = [f"images assumed {image}x{image} pixels unless --image-size says: {grid} patches, {tokens} tokens "
             f"after the {merge}x{merge} merge (native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {"muse_glimmer": build_muse_glimmer}
