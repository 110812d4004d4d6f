"""ERNIE 4.5 VL MoE: a Qwen2-VL-style ViT, a spatial / temporal resampler, and an ERNIE 4.5 MoE text model
whose sparse layers hold two expert sets, one for text tokens and one for vision tokens.

File followed: transformers 5.23 ``models/ernie4_5_vl_moe/modeling_ernie4_5_vl_moe.py``
(Ernie4_5_VLMoeForConditionalGeneration), defaults from ``configuration_ernie4_5_vl_moe.py``.

- The text model: the ``ernie4_5_moe`` family's reading of ``text_config`` with the text experts'
  width (``moe_intermediate_size[0]``), ``mlp_layer_types`` (default: the first layer dense, the rest
  sparse), shared experts of ``moe_num_shared_experts`` x that width; each sparse layer adds the vision
  experts (``moe_num_experts`` experts of width ``moe_intermediate_size[1]``, their own router and score
  correction). The vision experts run only on image and video tokens: the active parameters count the
  text experts.
- The ViT (Ernie4_5_VLMoeVisionTransformerPretrainedModel): a bias-free linear patch embedding
  (channels x patch^2), ``depth`` blocks of LayerNorms, fused qkv and proj with biases and an fc1 / fc2
  MLP of ``intermediate_size`` with biases; a final LayerNorm.
- The resampler: spatial and temporal two-layer MLPs with biases and a LayerNorm each (over the
  ``spatial_merge_size``^2 merged width, the temporal one from twice that), a linear into the text width
  and an RMSNorm.
- lm_head tied by the composite's ``tie_word_embeddings`` (default true).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

_TEXT: dict[str, Any] = {"model_type": "ernie4_5_moe", "vocab_size": 103424, "hidden_size": 2560,
                         "intermediate_size": 12288, "num_hidden_layers": 28, "num_attention_heads": 20,
                         "num_key_value_heads": 4, "moe_k": 6, "moe_num_experts": 64, "moe_num_shared_experts": 2}


def _vit(v: Cfg) -> tuple[Component, VisionDims]:
    h, depth, heads = v.int("hidden_size", 1280), v.int("depth", 32), v.int("num_heads", 16)
    inter, patch, chans = v.int("intermediate_size", 4 * h), v.int("patch_size", 14), v.int("in_channels", 3)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    layer = Block(name="vision_block", count=depth, linears=(
        Linear(name="attn.qkv", in_features=h, out_features=3 * h, bias=True),
        Linear(name="attn.proj", in_features=h, out_features=h, bias=True),
        Linear(name="mlp.fc1", in_features=h, out_features=inter, bias=True),
        Linear(name="mlp.fc2", in_features=inter, out_features=h, bias=True)), other_params=4 * h,
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads), mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embed", linears=(Linear(name="patch_embed.proj", in_features=chans * patch * patch,
                                                  out_features=h),)),
        layer, Block(name="ln", other_params=2 * h)))
    image, merge = 448, v.int("spatial_merge_size", 2)
    grid = (image // patch) ** 2
    dims = VisionDims(hidden_size=h, num_layers=depth, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=grid // (merge * merge),
                      llm_tokens_per_frame=grid // (merge * merge), resize="native", merge=merge * merge,
                      min_pixels=56 * 56, max_pixels=28 * 28 * 1280, default_size=(image, image))
    return tower, dims


def build_ernie4_5_vl_moe(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = _sub(cfg, "text_config", {})
    data = {**_TEXT, **{k: v for k, v in t._data.items() if v is not None}, "model_type": "ernie4_5_moe"}
    widths = data.get("moe_intermediate_size") or [1536, 512]
    if not (isinstance(widths, list) and len(widths) == 2 and all(isinstance(x, int) and x > 0 for x in widths)):
        raise ConfigError("config field 'text_config:moe_intermediate_size' must be [text width, vision width]")
    n = int(data["num_hidden_layers"])
    kinds = data.get("mlp_layer_types") or ["dense"] + ["sparse"] * (n - 1)
    data.update({"moe_intermediate_size": widths[0], "mlp_layer_types": kinds, "moe_layer_start_index": 0,
                 "moe_layer_interval": 1})
    text = _text(cfg, Cfg(data, where="text_config", used=cfg.used), default_type="ernie4_5_moe",
                 fixed_type="ernie4_5_moe", tie_default=True, model_id=model_id)
    assert text.text is not None
    h, experts, k = text.text.hidden_size, int(data["moe_num_experts"]), int(data["moe_k"])
    vw = widths[1]
    vision_experts = (Linear(name="vision_moe.gate", in_features=h, out_features=experts, active_copies=0),
                      Linear(name="vision_moe.experts.gate_up_proj", in_features=h, out_features=2 * vw,
                             copies=experts, active_copies=0),
                      Linear(name="vision_moe.experts.down_proj", in_features=vw, out_features=h, copies=experts,
                             active_copies=0))
    comps = []
    for comp in text.components:
        if comp.kind == "decoder":
            comp = replace(comp, blocks=tuple(
                replace(b, linears=b.linears + vision_experts, other_params=b.other_params + experts)
                if b.experts_per_token else b for b in comp.blocks))
        comps.append(comp)
    text = replace(text, components=tuple(comps))
    v = _sub(cfg, "vision_config", {})
    tower, dims = _vit(v)
    merge, tmerge = v.int("spatial_merge_size", 2), v.int("temporal_merge_size", 2)
    sd, td, th = dims.hidden_size * merge * merge, dims.hidden_size * merge * merge * tmerge, h
    resampler = Component(name="projector", kind="projector", blocks=(Block(name="resampler_model", linears=(
        Linear(name="spatial_linear.fc1", in_features=sd, out_features=sd, bias=True),
        Linear(name="spatial_linear.fc2", in_features=sd, out_features=sd, bias=True),
        Linear(name="temporal_linear.fc1", in_features=td, out_features=sd, bias=True),
        Linear(name="temporal_linear.fc2", in_features=sd, out_features=sd, bias=True),
        Linear(name="mlp", in_features=sd, out_features=th, bias=True)), other_params=4 * sd + th),))
    notes = [f"vision tokens use their own {experts} experts of width {vw} in each sparse layer (not in the "
             f"active parameters, which count the text experts: {k} of {experts} of width {widths[0]})",
             f"images: native resolution, one token per {merge}x{merge} patches; without --image-size an image is "
             f"{dims.image_size}x{dims.image_size}"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, resampler], vision=dims,
                    notes=notes)


BUILDERS = {"ernie4_5_vl_moe": build_ernie4_5_vl_moe}
