"""Nemotron-H Omni: NVIDIA's RADIO vision model and a pixel-shuffle projector on a Nemotron-H text model.

Files followed (transformers 5.23): ``models/nemotron_h_omni/modeling_nemotron_h_omni.py``
(``NemotronH_Omni_Reasoning_V3``) and ``models/radio/modeling_radio.py`` (``RadioModel``):

- RADIO: a bias-free linear patch projection of ``num_channels x patch_size^2`` values (and, with
  ``video_temporal_patch_size``, a second one over that many frames), a learned table of
  (max_img_size / patch_size)^2 positions, ``num_cls_tokens + num_registers`` learned tokens, and ViT
  layers (LayerNorms with bias, q/k/v biased by ``qkv_bias``, a biased output projection, two
  layer-scale vectors, an MLP of ``hidden_size x mlp_ratio`` or, with ``use_swiglu_ffn``, a biased
  SwiGLU whose width is rounded as the class rounds it); no final norm;
- a LayerNorm after the tower only when the text model has MTP layers (``num_nextn_predict_layers``);
- the projector: an RMSNorm over ``vision_hidden_size x (1 / downsample_ratio)^2`` pixel-shuffled
  features and two bias-free linear layers through ``projector_hidden_size``;
- the language model is a whole NemotronHForCausalLM, tied by its own text config.

With an ``audio_config`` the class also builds a Parakeet (FastConformer) audio encoder and its
projector, which are not modelled here: such a config is refused (exit 3) with that reason.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose, _text
from vram.architectures.vlm_navit import nested
from vram.errors import ConfigError, UnsupportedModelError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

_RADIO = {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16, "patch_size": 16,
          "image_size": 224, "max_img_size": 2048, "num_cls_tokens": 3, "num_registers": 7,
          "video_temporal_patch_size": 2}


def _lin(name: str, n_in: int, n_out: int, bias: bool) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def radio_tower(v: Cfg) -> tuple[Component, VisionDims]:
    h, layers, heads = v.int("hidden_size"), v.int("num_hidden_layers"), v.int("num_attention_heads")
    patch, chans = v.int("patch_size"), v.int("num_channels", 3)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    ratio = v.raw("mlp_ratio", 4.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        raise ConfigError(f"config field 'vision_config:mlp_ratio' must be a positive number, got {ratio!r}")
    inter = int(h * ratio)
    qkv_bias = v.bool("qkv_bias", True)
    mlp: tuple[Linear, ...]
    if v.bool("use_swiglu_ffn", False):
        inter = (int(inter * 2 / 3) + 7) // 8 * 8
        mlp = (_lin("gate_proj", h, inter, True), _lin("up_proj", h, inter, True), _lin("down_proj", inter, h, True))
    else:
        mlp = (_lin("fc1", h, inter, True), _lin("fc2", inter, h, True))
    layer = Block(name="vision_layer", count=layers, linears=(
        _lin("q_proj", h, h, qkv_bias), _lin("k_proj", h, h, qkv_bias), _lin("v_proj", h, h, qkv_bias),
        _lin("o_proj", h, h, True)) + mlp,
        other_params=4 * h + 2 * h,  # two LayerNorms, two layer-scale vectors
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads),
        mlp_width=inter, gated_mlp=len(mlp) == 3)
    patch_dim = chans * patch * patch
    frames = v.opt_int("video_temporal_patch_size")
    table = (v.int("max_img_size") // patch) ** 2
    tokens = v.int("num_cls_tokens", minimum=0) + v.int("num_registers", minimum=0)
    embed = Block(name="embeddings", linears=(_lin("patch_projection", patch_dim, h, False),) + (
        (_lin("video_patch_projection", frames * patch_dim, h, False),) if frames else ()),
        other_params=table * h + tokens * h)
    image = v.int("image_size")
    grid = (image // patch) ** 2
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid + tokens, llm_tokens_per_image=grid,
                      llm_tokens_per_frame=grid)
    return Component(name="vision_tower", kind="vision", blocks=(embed, layer)), dims


def build_nemotron_h_omni(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    if cfg.raw("audio_config") is not None:
        raise UnsupportedModelError(
            f"model_type {model_type!r} with an audio_config builds a Parakeet audio encoder that vram does not "
            "model; give a local folder with safetensors files, or a size such as 30B")
    t = nested(cfg, "text_config", {"model_type": "nemotron_h"})
    text = _text(cfg, t, default_type="nemotron_h", fixed_type=None, tie_default=None, model_id=model_id)
    assert text.text is not None
    v = nested(cfg, "vision_config", _RADIO)
    tower, dims = radio_tower(v)
    vh = cfg.int("vision_hidden_size", 1280)
    if t.int("num_nextn_predict_layers", 0, minimum=0) > 0:
        tower = replace(tower, blocks=tower.blocks + (Block(name="vision_final_layernorm", other_params=2 * vh),))
    ratio = cfg.raw("downsample_ratio", 0.5)
    factor = int(1 / ratio) ** 2 if isinstance(ratio, int | float) and 0 < ratio <= 1 else 4
    width, wide = vh * factor, cfg.int("projector_hidden_size", 4096)
    proj = Component(name="projector", kind="projector", blocks=(Block(name="multi_modal_projector", linears=(
        _lin("linear_1", width, wide, False), _lin("linear_2", wide, text.text.hidden_size, False)),
        other_params=width),))
    tokens = max(1, dims.llm_tokens_per_image // factor)
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} tile after the pixel shuffle "
             "(larger images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {"nemotron_h_omni": build_nemotron_h_omni}
