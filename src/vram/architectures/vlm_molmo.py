"""Molmo2: a SigLIP-style ViT, an attention-pooling adapter over several ViT layers, and a SwiGLU
projector on Molmo2's own text model (``molmo2_text`` in families/vlm_text.py).

File followed: transformers 5.23 ``models/molmo2/modeling_molmo2.py`` (Molmo2ForConditionalGeneration).

- The ViT (Molmo2VisionModel): a linear patch embedding with bias (patch^2 x channels into the width),
  a position table of ``num_position_embeddings`` rows (the patch grid of ``image_size`` when absent),
  layers of LayerNorm, q/k/v/o (``num_attention_heads`` / ``num_key_value_heads`` x ``head_dim``,
  biases by ``attention_bias``), LayerNorm and an fc1 / fc2 MLP with biases; no final norm.
- The adapter (Molmo2Adapter, ``adapter_config``): ``image_pooling_2d``, an attention whose q/k/v read the
  concatenation of the ``vision_feature_layer`` outputs and whose output is the adapter width, then a
  SwiGLU (gate / up biases by ``mlp_bias``) whose bias-free down projection writes ``text_hidden_size``.
- The language model from ``text_config``; lm_head (``vocab_size`` rows) is never tied (the class
  declares no tied weights).
- Each crop's patch grid is pooled 2 x 2 (the processor's ``pooling_size``) into tokens; images are
  split into up to ``max_crops`` crops plus a low-resolution view.
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims


def _lin(name: str, n_in: int, n_out: int, bias: bool) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _heads(c: Cfg, defaults: tuple[int, int, int]) -> tuple[int, int, int]:
    heads, kv, hd = (c.int("num_attention_heads", defaults[0]), c.int("num_key_value_heads", defaults[1]),
                     c.int("head_dim", defaults[2]))
    if heads % kv:
        raise ConfigError(f"config field '{c._path('num_attention_heads')}' ({heads}) is not a multiple of "
                          f"'num_key_value_heads' ({kv})")
    return heads, kv, hd


def _side(v: Cfg) -> int:
    image = v.raw("image_size", [378, 378])
    if isinstance(image, list) and len(image) == 2 and all(isinstance(x, int) and x > 0 for x in image):
        return int(image[0])
    if isinstance(image, int) and not isinstance(image, bool) and image > 0:
        return image
    raise ConfigError(f"config field 'vision_config:image_size' must be a size or [height, width], got {image!r}")


def molmo2_tower(v: Cfg) -> tuple[Component, VisionDims]:
    h, inter, layers = v.int("hidden_size", 1152), v.int("intermediate_size", 4304), v.int("num_hidden_layers", 25)
    heads, kv, hd = _heads(v, (16, 16, 72))
    patch, chans, image = v.int("patch_size", 14), v.int("num_channels", 3), _side(v)
    grid = (image // patch) ** 2
    positions = v.int("num_position_embeddings", grid)
    bias = v.bool("attention_bias", True)
    layer = Block(name="vision_layer", count=layers, linears=(
        _lin("q_proj", h, heads * hd, bias), _lin("k_proj", h, kv * hd, bias), _lin("v_proj", h, kv * hd, bias),
        _lin("o_proj", heads * hd, h, bias), _lin("fc1", h, inter, True), _lin("fc2", inter, h, True)),
        other_params=4 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                                                v_head_dim=hd), mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", other_params=positions * h + patch * patch * chans * h + h), layer))
    pooled = ((image // patch + 1) // 2) ** 2
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=pooled,
                      llm_tokens_per_frame=pooled)
    return tower, dims


def build_molmo2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="molmo2_text", fixed_type="molmo2_text",
                 tie_default=False, model_id=model_id)
    tower, dims = molmo2_tower(_sub(cfg, "vision_config", {}))
    a = _sub(cfg, "adapter_config", {})
    ah, heads, kv, hd = a.int("hidden_size", 1152), *_heads(a, (16, 16, 72))
    n_in = ah * len(a.int_list("vision_feature_layer", [24, 18], minimum=-(1 << 30)))
    ai, out = a.int("intermediate_size", 18944), a.int("text_hidden_size", 3584)
    bias, mlp_bias = a.bool("attention_bias", True), a.bool("mlp_bias", False)
    adapter = Component(name="projector", kind="projector", blocks=(
        Block(name="image_pooling_2d", linears=(
            _lin("q_proj", n_in, heads * hd, bias), _lin("k_proj", n_in, kv * hd, bias),
            _lin("v_proj", n_in, kv * hd, bias), _lin("o_proj", heads * hd, ah, bias)),
            attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv, head_dim=hd, v_head_dim=hd)),
        Block(name="image_projector", linears=(
            _lin("gate_proj", ah, ai, mlp_bias), _lin("up_proj", ah, ai, mlp_bias), _lin("down_proj", ai, out, False)),
            mlp_width=ai)))
    notes = [f"images: {dims.llm_tokens_per_image} tokens per {dims.image_size}x{dims.image_size} crop (2x2 pooling "
             "of the patch grid); an image is several crops plus a low-resolution view"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, adapter], vision=dims,
                    notes=notes)


BUILDERS = {"molmo2": build_molmo2}
