"""The SAM image encoder (a ViT with windowed attention and a convolutional neck), as several
vision-language models reuse it.

Files followed (transformers 5.23): ``models/sam/modeling_sam.py`` (SamVisionEncoder, SamVisionNeck;
DeepSeek-VL-Hybrid's ``high_res_vision_model`` is a SamVisionModel) and
``models/got_ocr2/modeling_got_ocr2.py`` (GotOcr2VisionEncoder, the same layout, also built by
PP-Chart2Table).

- Patch embedding: a Conv2d with bias, ``num_channels`` x ``patch_size``^2 into ``hidden_size``; with
  ``use_abs_pos`` a position table of (image_size / patch_size)^2 x hidden_size.
- ``num_hidden_layers`` layers: LayerNorm, fused qkv (bias by ``qkv_bias``), an output projection
  with bias, LayerNorm, an MLP lin1 / lin2 of ``mlp_dim`` with biases (SamVisionConfig derives it as
  hidden_size x ``mlp_ratio`` when absent). With ``use_rel_pos`` each layer holds two relative
  position tables (2 x side - 1) x head_dim, side being ``window_size`` for the windowed layers and
  the patch grid's side for the ``global_attn_indexes`` layers.
- The neck: a bias-free 1x1 Conv2d into ``output_channels``, a LayerNorm, a bias-free 3x3 Conv2d,
  a LayerNorm (both LayerNorms with bias).
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, VisionDims


def _side(v: Cfg, key: str, default: int) -> int:
    value = v.raw(key, default)
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"config field '{v._path(key)}' must be a positive integer, got {value!r}")
    return value


def neck_params(hidden: int, out: int) -> int:
    """SamVisionNeck: 1x1 conv, LayerNorm, 3x3 conv, LayerNorm (convolutions without bias)."""
    return hidden * out + 2 * out + 9 * out * out + 2 * out


def sam_tower(v: Cfg, *, name: str = "vision_tower") -> tuple[Component, VisionDims]:
    """The SAM ViT with its neck; the VisionDims count one image as its patch grid."""
    h = v.int("hidden_size", 768)
    layers = v.int("num_hidden_layers", 12)
    heads = v.int("num_attention_heads", 12)
    chans = v.int("num_channels", 3)
    image, patch = _side(v, "image_size", 1024), _side(v, "patch_size", 16)
    out = v.int("output_channels", 256)
    ratio = v.raw("mlp_ratio", 4.0)
    mlp = v.int("mlp_dim", int(h * ratio) if isinstance(ratio, int | float) else 4 * h)
    window = v.int("window_size", 14, minimum=0)
    global_idx = set(v.int_list("global_attn_indexes", [2, 5, 8, 11]))
    qkv_bias = v.bool("qkv_bias", True)
    rel = v.bool("use_rel_pos", True)
    if h % heads:
        raise ConfigError(f"config field '{v._path('hidden_size')}' ({h}) is not divisible by the heads ({heads})")
    hd, grid = h // heads, image // patch
    n_global = sum(1 for i in range(layers) if i in global_idx)
    if window <= 0:  # window_size 0: every layer attends globally
        n_global = layers
    linears = (Linear(name="attn.qkv", in_features=h, out_features=3 * h, bias=qkv_bias),
               Linear(name="attn.proj", in_features=h, out_features=h, bias=True),
               Linear(name="mlp.lin1", in_features=h, out_features=mlp, bias=True),
               Linear(name="mlp.lin2", in_features=mlp, out_features=h, bias=True))
    attn = Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=hd, v_head_dim=hd)

    def layer(block: str, count: int, side: int) -> Block:
        return Block(name=block, count=count, linears=linears, attention=attn, mlp_width=mlp, gated_mlp=False,
                     other_params=4 * h + (2 * (2 * side - 1) * hd if rel else 0))

    blocks = [Block(name="patch_embed", other_params=chans * patch * patch * h + h
                    + (grid * grid * h if v.bool("use_abs_pos", True) else 0))]
    if layers - n_global:
        blocks.append(layer("vision_layer_windowed", layers - n_global, window))
    if n_global:
        blocks.append(layer("vision_layer_global", n_global, grid))
    blocks.append(Block(name="neck", other_params=neck_params(h, out)))
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=mlp, image_size=image,
                      patch_size=patch, patches_per_image=grid * grid, llm_tokens_per_image=grid * grid,
                      llm_tokens_per_frame=grid * grid)
    return Component(name=name, kind="vision", blocks=tuple(blocks)), dims
