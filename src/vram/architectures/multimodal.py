"""Vision encoders and the multimodal models that wrap a language model around them.

Shapes follow the transformers modules (SigLIP, CLIP, Qwen2-VL / Qwen2.5-VL vision, Mllama vision)
and the original LLaVA-NeXT code for ``llava_qwen`` style checkpoints, whose vision tower is a
separate repository (``mm_vision_tower``) with its last layer and head removed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vram.architectures._anyres import LLAVA_NEXT_PINPOINTS, ONEVISION_PINPOINTS, anyres, max_tiles, pinpoints
from vram.architectures._config import Cfg
from vram.architectures.decoders import build_llama_like
from vram.errors import ConfigError, ModelResolutionError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

TowerLookup = Callable[[str], Mapping[str, Any] | None]


def _vit_layer(h: int, inter: int, heads: int, *, count: int, qkv_bias: bool = True,
               extra: int = 0, name: str = "vision_layer") -> Block:
    """A pre-norm ViT layer: q/k/v/o, fc1/fc2 with GeLU, two LayerNorms with bias."""
    return Block(name=name, count=count, linears=(
        Linear(name="q_proj", in_features=h, out_features=h, bias=qkv_bias),
        Linear(name="k_proj", in_features=h, out_features=h, bias=qkv_bias),
        Linear(name="v_proj", in_features=h, out_features=h, bias=qkv_bias),
        Linear(name="out_proj", in_features=h, out_features=h, bias=qkv_bias),
        Linear(name="fc1", in_features=h, out_features=inter, bias=True),
        Linear(name="fc2", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h + extra,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads),
        mlp_width=inter, gated_mlp=False)


def siglip_or_clip_tower(v: Cfg, kind: str, *, drop_last_layer: bool = False, keep_head: bool = True
                         ) -> tuple[Component, VisionDims]:
    """SigLIP or CLIP vision transformer (``kind`` is 'siglip' or 'clip')."""
    defaults = {"siglip": (768, 3072, 12, 12, 224, 16), "clip": (768, 3072, 12, 12, 224, 32)}[kind]
    h = v.int("hidden_size", defaults[0])
    inter = v.int("intermediate_size", defaults[1])
    layers = v.int("num_hidden_layers", defaults[2])
    heads = v.int("num_attention_heads", defaults[3])
    image = v.int("image_size", defaults[4])
    patch = v.int("patch_size", defaults[5])
    channels = v.int("num_channels", 3)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by "
                          f"'num_attention_heads' ({heads})")
    grid = (image // patch) ** 2
    n_layers = layers - 1 if drop_last_layer else layers
    if kind == "siglip":
        embed = channels * patch * patch * h + h + grid * h  # conv with bias + position embedding
        post = 2 * h
        blocks = [Block(name="patch_embedding", other_params=embed),
                  _vit_layer(h, inter, heads, count=n_layers), Block(name="post_layernorm", other_params=post)]
        if keep_head and not drop_last_layer and v.bool("vision_use_head", True):
            # Multihead attention pooling head: probe, MHA in/out projections, LayerNorm, MLP.
            blocks.append(Block(name="head", linears=(
                Linear(name="head.in_proj", in_features=h, out_features=3 * h, bias=True),
                Linear(name="head.out_proj", in_features=h, out_features=h, bias=True),
                Linear(name="head.fc1", in_features=h, out_features=inter, bias=True),
                Linear(name="head.fc2", in_features=inter, out_features=h, bias=True)),
                other_params=h + 2 * h))
        patches = grid
    else:
        embed = channels * patch * patch * h + h + (grid + 1) * h  # conv without bias, class token, positions
        blocks = [Block(name="embeddings", other_params=embed), Block(name="pre_layrnorm", other_params=2 * h),
                  _vit_layer(h, inter, heads, count=n_layers), Block(name="post_layernorm", other_params=2 * h)]
        patches = grid + 1
    dims = VisionDims(hidden_size=h, num_layers=n_layers, num_heads=heads, intermediate_size=inter,
                      image_size=image, patch_size=patch, patches_per_image=patches,
                      llm_tokens_per_image=grid, llm_tokens_per_frame=grid)
    return Component(name="vision_tower", kind="vision", blocks=tuple(blocks)), dims


def _tower_kind(model_type: str | None, name: str = "") -> str:
    text = f"{model_type or ''} {name}".lower()
    if "siglip" in text:
        return "siglip"
    if "clip" in text:
        return "clip"
    raise ConfigError(f"vision tower of type {model_type or name!r} is not supported")


def _with(spec: ModelSpec, *, model_id: str, model_type: str, extra: list[Component], vision: VisionDims,
          notes: list[str], used: set[str]) -> ModelSpec:
    return replace(spec, id=model_id, model_type=model_type, components=tuple(extra) + spec.components,
                   vision=vision, notes=spec.notes + tuple(notes),
                   config_keys=tuple(sorted(set(spec.config_keys) | used)))


def _text_model_type(t: Cfg, default: str) -> str:
    mt = t.str("model_type", default)
    return mt


def build_llava_hf(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """llava, llava_next, llava_onevision (transformers' own classes)."""
    from vram.architectures import build_text_model

    t = cfg.sub("text_config")
    text_type = _text_model_type(t, "llama")
    text = build_text_model(t, text_type, model_id=model_id)
    v = cfg.sub("vision_config")
    vkind = _tower_kind(v.str("model_type", "clip_vision_model"))
    if model_type == "llava_onevision" and not v.has("model_type"):
        vkind = "siglip"
    tower, dims = siglip_or_clip_tower(v, vkind, keep_head=False)
    assert text.text is not None
    th = text.text.hidden_size
    layer_sel = cfg.raw("vision_feature_layer", -2)
    n_feat = len(layer_sel) if isinstance(layer_sel, list) else 1
    proj = Component(name="projector", kind="projector", blocks=(Block(name="multi_modal_projector", linears=(
        Linear(name="linear_1", in_features=dims.hidden_size * n_feat, out_features=th,
               bias=cfg.bool("multimodal_projector_bias", True)),
        Linear(name="linear_2", in_features=th, out_features=th,
               bias=cfg.bool("multimodal_projector_bias", True))),
        other_params=th if model_type in ("llava_next", "llava_onevision", "llava_next_video") else 0),))
    notes = [f"vision tower: {vkind} ({dims.num_layers} layers, {dims.patches_per_image} patches per image)"]
    # Processors (transformers processing_llava*.py): the view's patch grid, plus the CLS token that
    # the 'full' feature selection keeps (CLIP has one, SigLIP none).
    grid = dims.image_size // dims.patch_size
    view = grid * grid + (1 if vkind == "clip" and cfg.str("vision_feature_select_strategy", "default") == "full"
                          else 0)
    dims = replace(dims, llm_tokens_per_image=view)
    if model_type != "llava":
        onevision = model_type == "llava_onevision"
        points = pinpoints(cfg, dims.image_size, width_first=False) or (
            ONEVISION_PINPOINTS if onevision else LLAVA_NEXT_PINPOINTS)
        cap = max_tiles(cfg.str("vision_aspect_ratio", "anyres_max_9")) if onevision else None
        dims, how = anyres(dims, points, view=view, max_tiles=cap, unpad=True, rounded=True)
        if onevision:
            # Several images in one prompt: each is its base view plus one newline; a video's frames
            # are pooled 2x2 (rounding up) and the video ends with one newline.
            pooled = math.ceil(grid / 2)
            dims = replace(dims, multi_image_tokens=view + 1, llm_tokens_per_frame=pooled * pooled,
                           tokens_per_video=1)
            how += "; with several images per prompt, each is its base view + 1 newline"
        elif model_type == "llava_next_video":
            dims = replace(dims, llm_tokens_per_frame=grid * grid // 4)  # 2x2 average pooling of each frame
        notes.append(how)
    return _with(text, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                 notes=notes, used=cfg.used)


def build_llava_next_original(cfg: Cfg, model_type: str, *, model_id: str, towers: TowerLookup) -> ModelSpec:
    """LLaVA-NeXT's own checkpoints (llava_qwen, llava_llama, llava_mistral): flat text config,
    vision tower named by ``mm_vision_tower`` and resolved from its own config."""
    text_type = {"llava_qwen": "qwen2", "llava_llama": "llama", "llava_mistral": "mistral"}[model_type]
    text = build_llama_like(cfg, text_type, model_id=model_id)
    tower_name = cfg.str("mm_vision_tower")
    tower_cfg = towers(tower_name)
    if tower_cfg is None:
        raise ModelResolutionError(
            f"vision tower {tower_name!r} (mm_vision_tower) is not a bundled preset and could not be resolved")
    raw = tower_cfg.get("vision_config", tower_cfg)
    v = Cfg(raw, where="vision_tower")
    vkind = _tower_kind(str(raw.get("model_type", "")), tower_name)
    # LLaVA-NeXT's SigLIP wrapper deletes the last encoder layer and the pooling head;
    # its CLIP wrapper keeps the whole vision model and selects a hidden state.
    tower, dims = siglip_or_clip_tower(v, vkind, drop_last_layer=(vkind == "siglip"))
    assert text.text is not None
    th = text.text.hidden_size
    mm_hidden = cfg.int("mm_hidden_size", dims.hidden_size)
    ptype = cfg.str("mm_projector_type", "linear")
    lins: tuple[Linear, ...]
    if ptype == "linear":
        lins = (Linear(name="mm_projector.0", in_features=mm_hidden, out_features=th, bias=True),)
    elif ptype.startswith("mlp") and ptype.endswith("x_gelu"):
        depth = int(ptype[3:-6]) if ptype[3:-6].isdigit() else 0
        if depth < 1:
            raise ConfigError(f"config field 'mm_projector_type' has an unknown value {ptype!r}")
        lins = (Linear(name="mm_projector.0", in_features=mm_hidden, out_features=th, bias=True),) + tuple(
            Linear(name=f"mm_projector.{2 * k}", in_features=th, out_features=th, bias=True)
            for k in range(1, depth))
    else:
        raise ConfigError(f"config field 'mm_projector_type' has an unsupported value {ptype!r}")
    merge_type = cfg.str("mm_patch_merge_type", "flat")
    unpad = merge_type.startswith("spatial") and "unpad" in merge_type
    proj = Component(name="projector", kind="projector", blocks=(
        Block(name="mm_projector", linears=lins, other_params=th if "unpad" in merge_type else 0),))
    notes = [f"vision tower {tower_name}: {vkind}, {dims.num_layers} layers kept (last layer and head removed)"
             if vkind == "siglip" else f"vision tower {tower_name}: {vkind}, {dims.num_layers} layers"]
    # Token arithmetic of LLaVA-NeXT's llava/model/llava_arch.py (prepare_inputs_labels_for_multimodal).
    grid = dims.image_size // dims.patch_size
    view = grid * grid + (1 if vkind == "clip" and cfg.str("mm_vision_select_feature", "patch") == "cls_patch" else 0)
    # Video: get_2dPool pools each frame's grid; bilinear rounds up, average and max pooling round down.
    stride = cfg.int("mm_spatial_pool_stride", 2)
    mode = cfg.str("mm_spatial_pool_mode", "bilinear")
    if mode not in ("bilinear", "average", "max"):
        raise ConfigError(f"config field 'mm_spatial_pool_mode' has an unknown value {mode!r}")
    pooled = math.ceil(grid / stride) if mode == "bilinear" else grid // stride
    newline_pos = cfg.str("mm_newline_position", "one_token") if merge_type.startswith("spatial") else "no_token"
    extra = {"grid": (pooled, 0), "frame": (1, 0), "one_token": (0, 1 if unpad else 0), "no_token": (0, 0)}
    if newline_pos not in extra:
        raise ConfigError(f"config field 'mm_newline_position' has an unknown value {newline_pos!r}")
    per_frame, per_video = pooled * pooled + extra[newline_pos][0], extra[newline_pos][1]
    dims = replace(dims, llm_tokens_per_image=view + (1 if unpad else 0), llm_tokens_per_frame=per_frame,
                   tokens_per_video=per_video)
    notes.append(f"video: {grid}x{grid} patches per frame pooled (stride {stride}, {mode}) to {pooled}x{pooled}, "
                 f"newline tokens: {newline_pos}")
    aspect = cfg.str("image_aspect_ratio", "square")
    if aspect == "anyres" or "anyres_max" in aspect:
        points = pinpoints(cfg, dims.image_size, width_first=True)
        if not points:
            points = tuple((i * dims.image_size, j * dims.image_size) for i in range(1, 7) for j in range(1, 7))
            notes.append(f"image_grid_pinpoints is not in the config: assumed the LLaVA-NeXT training scripts' "
                         f"(1x1),...,(6x6) grid of {dims.image_size}-px tiles")
        m = re.match(r"anyres_max_(\d+)", aspect)
        dims, how = anyres(dims, points, view=view, max_tiles=int(m.group(1)) if m else None, unpad=unpad,
                            rounded=False)
        notes.append(how)
    else:
        notes.append(f"images: one {dims.image_size}x{dims.image_size} view ({aspect})"
                     + (" + a newline token" if unpad else ""))
    return _with(text, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                 notes=notes, used=cfg.used)


def build_qwen_vl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Qwen2-VL and Qwen2.5-VL: Qwen2 text model + native-resolution ViT with a patch merger."""
    t = cfg.sub("text_config") if cfg.has("text_config") else cfg
    text = build_llama_like(t, "qwen2", model_id=model_id)
    assert text.text is not None
    tower, dims, note = qwen_vl_tower(cfg.sub("vision_config"), is25=model_type == "qwen2_5_vl",
                                      out_default=text.text.hidden_size)
    return _with(text, model_id=model_id, model_type=model_type, extra=[tower], vision=dims, notes=[note],
                 used=cfg.used)


def qwen_vl_tower(v: Cfg, *, is25: bool, out_default: int) -> tuple[Component, VisionDims, str]:
    """The Qwen2-VL / Qwen2.5-VL vision tower (Qwen2.5-Omni builds Qwen2.5-VL's, with q, k and v apart)."""
    dim = v.int("hidden_size" if is25 else "embed_dim", 1280 if is25 else 1280)
    depth = v.int("depth", 32)
    heads = v.int("num_heads", 16)
    patch = v.int("patch_size", 14)
    tps = v.int("temporal_patch_size", 2)
    chans = v.int("in_chans" if v.has("in_chans") else "in_channels", 3)
    merge = v.int("spatial_merge_size", 2)
    out = v.int("out_hidden_size" if is25 else "hidden_size", out_default)
    if is25:
        inter = v.int("intermediate_size", 3420)
        layer = Block(name="vision_block", count=depth, linears=(
            Linear(name="attn.qkv", in_features=dim, out_features=3 * dim, bias=True),
            Linear(name="attn.proj", in_features=dim, out_features=dim, bias=True),
            Linear(name="mlp.gate_proj", in_features=dim, out_features=inter, bias=True),
            Linear(name="mlp.up_proj", in_features=dim, out_features=inter, bias=True),
            Linear(name="mlp.down_proj", in_features=inter, out_features=dim, bias=True)),
            other_params=2 * dim, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads,
                                                      head_dim=dim // heads, v_head_dim=dim // heads),
            mlp_width=inter)
        ln_q = dim
    else:
        inter = dim * v.int("mlp_ratio", 4)
        layer = Block(name="vision_block", count=depth, linears=(
            Linear(name="attn.qkv", in_features=dim, out_features=3 * dim, bias=True),
            Linear(name="attn.proj", in_features=dim, out_features=dim, bias=True),
            Linear(name="mlp.fc1", in_features=dim, out_features=inter, bias=True),
            Linear(name="mlp.fc2", in_features=inter, out_features=dim, bias=True)),
            other_params=4 * dim, attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads,
                                                      head_dim=dim // heads, v_head_dim=dim // heads),
            mlp_width=inter, gated_mlp=False)
        ln_q = 2 * dim
    merged = dim * merge * merge
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embed", other_params=dim * chans * tps * patch * patch),
        layer,
        Block(name="merger", linears=(
            Linear(name="merger.mlp.0", in_features=merged, out_features=merged, bias=True),
            Linear(name="merger.mlp.2", in_features=merged, out_features=out, bias=True)),
            other_params=ln_q)))
    # Native resolution: smart_resize (transformers image_processing_qwen2_vl.py) within the pixel range
    # of the published preprocessor_config.json (min_pixels 56x56, max_pixels 12,845,056); without
    # --image-size an image is counted at 448x448.
    image = 448
    grid = (image // patch) ** 2
    dims = VisionDims(hidden_size=dim, num_layers=depth, num_heads=heads, intermediate_size=inter,
                      image_size=image, patch_size=patch, patches_per_image=grid,
                      llm_tokens_per_image=grid // (merge * merge),
                      llm_tokens_per_frame=grid // (merge * merge) // tps, resize="native", merge=merge * merge,
                      min_pixels=56 * 56, max_pixels=12_845_056, default_size=(image, image))
    note = (f"images: native resolution, sides rounded to multiples of {patch * merge} px, one token per "
            f"{merge}x{merge} patches; without --image-size an image is {image}x{image}")
    return tower, dims, note


def build_mllama(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Llama 3.2 Vision: a llama text model with gated cross-attention layers, a tiled ViT with a
    global encoder, and a linear projector (transformers modeling_mllama)."""
    t = cfg.sub("text_config")
    v = cfg.sub("vision_config")
    th = t.int("hidden_size", 4096)
    heads = t.int("num_attention_heads", 32)
    kv = t.int("num_key_value_heads", 8)
    hd = th // heads
    vocab = t.int("vocab_size", 128256)
    inter = t.int("intermediate_size", 14336)
    n_layers = t.int("num_hidden_layers", 40)
    cross = set(t.int_list("cross_attention_layers", [3, 8, 13, 18, 23, 28, 33, 38]))
    if any(i >= n_layers for i in cross):
        raise ConfigError("config field 'text_config:cross_attention_layers' names a layer past num_hidden_layers")
    # Vision encoder.
    vh = v.int("hidden_size", 1280)
    vheads = v.int("attention_heads", 16)
    vinter = v.int("intermediate_size", 5120)
    vlayers = v.int("num_hidden_layers", 32)
    vglobal = v.int("num_global_layers", 8)
    image = v.int("image_size", 448)
    patch = v.int("patch_size", 14)
    tiles = v.int("max_num_tiles", 4)
    chans = v.int("num_channels", 3)
    ratios = v.raw("supported_aspect_ratios") or [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]
    n_ratio = len(ratios) + 1
    out_dim = v.int("vision_output_dim", 7680)
    patches = (image // patch) ** 2 + 1
    embed = (vh + chans * patch * patch * vh + 1 + patches * vh + n_ratio * tiles * patches * vh
             + 2 * (1 + n_ratio * tiles * vh) + 4 * vh)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="vision_embeddings", other_params=embed),
        _vit_layer(vh, vinter, vheads, count=vlayers, qkv_bias=False),
        _vit_layer(vh, vinter, vheads, count=vglobal, qkv_bias=False, extra=2, name="global_layer")))
    text = build_llama_like(t, "mllama_text_model", model_id=model_id)
    # Self-attention layers are built by the llama builder; replace the cross-attention ones.
    cross_tokens = tiles * patches
    cross_layer = Block(name="cross_attention_layer", count=len(cross), linears=(
        Linear(name="cross_attn.q_proj", in_features=th, out_features=heads * hd),
        Linear(name="cross_attn.k_proj", in_features=th, out_features=kv * hd),
        Linear(name="cross_attn.v_proj", in_features=th, out_features=kv * hd),
        Linear(name="cross_attn.o_proj", in_features=heads * hd, out_features=th),
        Linear(name="gate_proj", in_features=th, out_features=inter),
        Linear(name="up_proj", in_features=th, out_features=inter),
        Linear(name="down_proj", in_features=inter, out_features=th)),
        other_params=2 * hd + 2 + 2 * th,
        attention=Attention(kind="cross", num_heads=heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd,
                            cross_tokens=cross_tokens), mlp_width=inter)
    comps = []
    for comp in text.components:
        if comp.kind == "decoder":
            blocks = []
            for b in comp.blocks:
                if b.name == "decoder_layer":
                    blocks.append(replace(b, count=n_layers - len(cross)))
                    blocks.append(cross_layer)
                else:
                    blocks.append(b)
            comp = replace(comp, blocks=tuple(blocks))
        elif comp.kind == "embedding":
            comp = replace(comp, blocks=(Block(name="embed_tokens", embedding_params=(vocab + 8) * th),))
        comps.append(comp)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="multi_modal_projector", linears=(
        Linear(name="multi_modal_projector", in_features=out_dim, out_features=th, bias=True),)),))
    dims = VisionDims(hidden_size=vh, num_layers=vlayers + vglobal, num_heads=vheads, intermediate_size=vinter,
                      image_size=image, patch_size=patch, patches_per_image=patches, llm_tokens_per_image=1,
                      llm_tokens_per_frame=1, tiles_per_image=tiles)
    text = replace(text, components=tuple(comps))
    notes = [f"{len(cross)} cross-attention layers cache {cross_tokens} vision tokens per image "
             f"({tiles} tiles x {patches} patches)", "the text embedding has 8 extra rows beyond vocab_size"]
    return _with(text, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                 notes=notes, used=cfg.used)


# The LLaVA-HF, Qwen2-VL and Mllama layouts (the original LLaVA-NeXT checkpoints, whose tower lives in
# another repository, go through build_llava_next_original and its tower lookup).
BUILDERS = {
    "llava": build_llava_hf,
    "llava_next": build_llava_hf,
    "llava_next_video": build_llava_hf,
    "llava_onevision": build_llava_hf,
    "qwen2_vl": build_qwen_vl,
    "qwen2_5_vl": build_qwen_vl,
    "mllama": build_mllama,
}
