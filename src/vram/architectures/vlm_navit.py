"""Vision-language models whose tower is a native-resolution ViT of the Qwen2.5-VL lineage.

- ``exaone4_5``: transformers 5.23 ``models/exaone4_5/modeling_exaone4_5.py``
  (``Exaone4_5_ForConditionalGeneration``): Qwen2.5-VL's vision transformer (a bias-free Conv3d patch
  embedding, blocks of two RMSNorms, fused qkv and output projection with biases, a gated MLP with
  biases, and the RMSNorm + two-layer patch merger) whose attention has ``num_key_value_heads`` K/V
  heads (grouped-query attention in the tower), on an EXAONE 4 text model; the lm_head is tied by the
  composite's ``tie_word_embeddings`` (false by default).
- ``hyperclovax_vision_v2``: ``models/hyperclovax_vision_v2/modeling_hyperclovax_vision_v2.py``
  (HyperCLOVAXVisionV2ForConditionalGeneration): the Qwen2.5-VL tower itself (``qwen2_5_vl_vision``)
  and one linear layer with bias from its ``out_hidden_size`` into a HyperCLOVA X text model; tied by
  default.
- ``cosmos3_edge``: ``models/cosmos3_edge/modeling_cosmos3_edge.py`` (Cosmos3EdgeForConditionalGeneration):
  SigLIP2's NaViT (a linear patch embedding with bias, a table of ``num_patches`` positions, SigLIP
  layers, a post LayerNorm, no head) and a patch merger (a LayerNorm of the vision width, a linear layer
  from ``spatial_merge_size^2`` merged patches into ``projector_hidden_size`` and one into the text
  width, biases) on ``cosmos3_edge_text``, llama's layer with a non-gated MLP (families/llama.py);
  the lm_head is never tied.
- ``video_llama_3``: ``models/video_llama_3/modeling_video_llama_3.py`` (VideoLlama3ForConditionalGeneration):
  SigLIP's encoder layers behind a Conv2d patch embedding with bias and no position table (2D rotary
  positions), a post LayerNorm, and a two-layer projector with biases (vision width -> text width ->
  text width) on a qwen2 text model (untied by default).
- ``paddleocr_vl``: ``models/paddleocr_vl/modeling_paddleocr_vl.py`` (PaddleOCRVLForConditionalGeneration):
  the same SigLIP NaViT with a learned table of (image_size / patch_size)^2 positions, and a projector
  of a LayerNorm, a square linear layer over ``spatial_merge_size^2`` merged patches and a linear layer
  into the text width (biases), on an ERNIE 4.5 text model (tied by default). Both configs also tie
  when the text config says so (the pre-v5 place of the flag).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.multimodal import _vit_layer
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims


def _lin(name: str, n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def nested(cfg: Cfg, key: str, defaults: Mapping[str, Any]) -> Cfg:
    """A sub-config with its class's defaults under the values it gives (save_pretrained writes a
    nested config as a diff against its class)."""
    given = _sub(cfg, key, {})
    return Cfg({**defaults, **{k: v for k, v in given._data.items() if v is not None}}, where=key, used=cfg.used)


def qwen25_vl_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """Qwen2.5-VL's vision transformer (``models/qwen2_5_vl/modeling_qwen2_5_vl.py``) with
    ``num_key_value_heads`` K/V heads (all heads when absent); class defaults of Qwen2_5_VLVisionConfig."""
    h, depth, heads = v.int("hidden_size", 3584), v.int("depth", 32), v.int("num_heads", 16)
    inter, out = v.int("intermediate_size", 3420), v.int("out_hidden_size", 3584)
    patch, tps, chans = v.int("patch_size", 14), v.int("temporal_patch_size", 2), v.int("in_channels", 3)
    merge = v.int("spatial_merge_size", 2)
    kv = v.int("num_key_value_heads", heads)
    if h % heads or heads % kv:
        raise ConfigError(f"config field 'vision_config:num_heads' ({heads}) must divide hidden_size ({h}) and be a "
                          f"multiple of num_key_value_heads ({kv})")
    hd = h // heads
    block = Block(name="vision_block", count=depth, linears=(
        _lin("attn.qkv", h, (heads + 2 * kv) * hd), _lin("attn.proj", heads * hd, h),
        _lin("mlp.gate_proj", h, inter), _lin("mlp.up_proj", h, inter), _lin("mlp.down_proj", inter, h)),
        other_params=2 * h, mlp_width=inter,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd))
    merged = h * merge * merge
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embed", other_params=h * chans * tps * patch * patch), block,
        Block(name="merger", linears=(_lin("merger.mlp.0", merged, merged), _lin("merger.mlp.2", merged, out)),
              other_params=h)))
    image = 448
    grid = (image // patch) ** 2
    tokens = grid // (merge * merge)
    dims = VisionDims(hidden_size=h, num_layers=depth, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens // tps, resize="native", merge=merge * merge)
    return tower, dims


_EXAONE4_TEXT = {"model_type": "exaone4", "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 16384,
                 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32}


_HCX_TEXT = {"model_type": "hyperclovax", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 128}


def build_hyperclovax_vision_v2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = nested(cfg, "text_config", _HCX_TEXT)
    text = _text(cfg, t, default_type="hyperclovax", fixed_type=None, tie_default=True, model_id=model_id)
    assert text.text is not None
    v = nested(cfg, "vision_config", {})
    tower, dims = qwen25_vl_tower(v)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="projector", linears=(
        _lin("projector", v.int("out_hidden_size", 3584), text.text.hidden_size),)),))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the merger "
             "(native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


_COSMOS_VISION = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                  "num_patches": 256, "patch_size": 16, "spatial_merge_size": 2}


def build_cosmos3_edge(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = nested(cfg, "text_config", {})
    # The class ties nothing (its _tied_weights_keys is empty), whatever tie_word_embeddings says.
    untied = Cfg({**cfg._data, "tie_word_embeddings": False}, used=cfg.used)
    text = _text(untied, t, default_type="cosmos3_edge_text", fixed_type="cosmos3_edge_text", tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    v = nested(cfg, "vision_config", _COSMOS_VISION)
    h, patch, positions = v.int("hidden_size"), v.int("patch_size"), v.int("num_patches")
    side = round(positions ** 0.5) * patch  # the table's grid, interpolated to each image's grid
    tower, dims = siglip_navit_tower(Cfg({**v._data, "image_size": side}, where="vision_config", used=cfg.used),
                                     positions=True)
    merged, wide = h * dims.merge, cfg.int("projector_hidden_size", 11520)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="projector", linears=(
        _lin("linear_fc1", merged, wide), _lin("linear_fc2", wide, text.text.hidden_size)), other_params=2 * h),))
    # The patch embedding is a linear layer over flattened patches: the same count as siglip's conv.
    tower = Component(name=tower.name, kind=tower.kind, blocks=(
        Block(name="patch_embedding", other_params=v.int("num_channels", 3) * patch * patch * h + h + positions * h),
        *tower.blocks[1:]))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the merger "
             "(native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def build_exaone4_5(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = nested(cfg, "text_config", _EXAONE4_TEXT)
    text = _text(cfg, t, default_type="exaone4", fixed_type="exaone4", tie_default=False, model_id=model_id)
    tower, dims = qwen25_vl_tower(nested(cfg, "vision_config", {"num_key_value_heads": 8}))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the merger "
             "(native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower], vision=dims, notes=notes)


_SIGLIP = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "image_size": 224, "patch_size": 16}
_PADDLE_VISION = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
                  "image_size": 384, "patch_size": 14}
_ERNIE_TEXT = {"vocab_size": 103424, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 18,
               "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 128}
_QWEN2_TEXT = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
               "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32}


def siglip_navit_tower(v: Cfg, *, positions: bool) -> tuple[Component, VisionDims]:
    """SigLIP encoder layers at native resolution: a Conv2d patch embedding with bias, a learned
    position table only when ``positions``, a post LayerNorm, no pooling head."""
    h, inter = v.int("hidden_size"), v.int("intermediate_size")
    layers, heads = v.int("num_hidden_layers"), v.int("num_attention_heads")
    patch, chans, image = v.int("patch_size"), v.int("num_channels", 3), v.int("image_size")
    merge = v.int("spatial_merge_size", 2)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by "
                          f"'num_attention_heads' ({heads})")
    grid = (image // patch) ** 2
    embed = chans * patch * patch * h + h + (grid * h if positions else 0)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embedding", other_params=embed), _vit_layer(h, inter, heads, count=layers),
        Block(name="post_layernorm", other_params=2 * h)))
    tokens = grid // (merge * merge)
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens, resize="native", merge=merge * merge)
    return tower, dims


def build_siglip_navit(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    paddle = model_type == "paddleocr_vl"
    if paddle:
        t = nested(cfg, "text_config", _ERNIE_TEXT)
        text = _text(cfg, t, default_type="ernie4_5", fixed_type="ernie4_5", tie_default=True, model_id=model_id,
                     text_tie=True)
    else:
        t = nested(cfg, "text_config", _QWEN2_TEXT)
        text = _text(cfg, t, default_type="qwen2", fixed_type=None, tie_default=False, model_id=model_id,
                     text_tie=False)
    assert text.text is not None
    v = nested(cfg, "vision_config", _PADDLE_VISION if paddle else _SIGLIP)
    tower, dims = siglip_navit_tower(v, positions=paddle)
    vh, th = dims.hidden_size, text.text.hidden_size
    if paddle:
        merged = vh * dims.merge
        proj = Block(name="projector", linears=(_lin("linear_1", merged, merged), _lin("linear_2", merged, th)),
                     other_params=2 * vh)
    else:
        proj = Block(name="projector", linears=(_lin("readout.0", vh, th), _lin("readout.2", th, th)))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the "
             f"{dims.merge}-patch merge (native resolution: larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type,
                    extra=[tower, Component(name="projector", kind="projector", blocks=(proj,))], vision=dims,
                    notes=notes)


BUILDERS = {"exaone4_5": build_exaone4_5, "hyperclovax_vision_v2": build_hyperclovax_vision_v2,
            "video_llama_3": build_siglip_navit, "cosmos3_edge": build_cosmos3_edge, "paddleocr_vl": build_siglip_navit}
