"""MiniCPM-V 4.6 / 4.7 and MiniCPM-OCR: a SigLIP tower with a window-attention merger inside it, an MLP
merger, and a Qwen3.5 text model (or any text model the text config names).

Files followed (transformers 5.23): ``models/minicpmv4_6/modeling_minicpmv4_6.py``,
``models/minicpmv4_7/modeling_minicpmv4_7.py`` and ``models/minicpm_ocr/modeling_minicpm_ocr.py`` (the
three build the same modules; only their config classes' defaults differ: MiniCPM-OCR ties the lm_head):

- the vision model: SigLIP's layers behind a Conv2d patch embedding with bias and a learned table of
  (image_size / patch_size)^2 positions, a post LayerNorm, and the ``vit_merger`` applied after layer
  ``insert_layer_id``: a SigLIP attention with its LayerNorm, then a LayerNorm over a window of
  ``window_kernel_size`` patches (``hidden_size x window``), a linear layer into
  ``intermediate_size x window`` and one back to ``hidden_size`` (biases);
- the merger: ``merger_times`` downsample MLPs, each a LayerNorm over four merged patches (two 2x2
  merges: the code fixes the factor at 4), a square linear layer and a linear layer into the vision
  width (the last one into the text width), with biases.
"""

from __future__ import annotations

from vram.architectures._config import Cfg
from vram.architectures.multimodal import _vit_layer
from vram.architectures.vlm import _compose, _text
from vram.architectures.vlm_navit import nested, siglip_navit_tower
from vram.model import Block, Component, Linear, ModelSpec

_TIED = {"minicpm_ocr": True, "minicpmv4_6": False, "minicpmv4_7": False}
_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
           "image_size": 224, "patch_size": 16}
_QWEN3_5_TEXT = {"model_type": "qwen3_5_text", "vocab_size": 248320, "hidden_size": 4096, "intermediate_size": 12288,
                 "num_hidden_layers": 32, "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 256,
                 "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_key_head_dim": 128,
                 "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4}


def _lin(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=True)


def build_minicpm(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = nested(cfg, "text_config", _QWEN3_5_TEXT)
    text = _text(cfg, t, default_type="qwen3_5_text", fixed_type=None, tie_default=_TIED[model_type],
                 model_id=model_id)
    assert text.text is not None
    # downsample_mode "4x" skips the vit_merger at inference (one 2x2 merge), "16x" merges twice.
    mode = cfg.str("downsample_mode", "4x" if model_type == "minicpm_ocr" else "16x")
    v = nested(cfg, "vision_config", {**_VISION, "spatial_merge_size": 2 if mode == "4x" else 4})
    tower, dims = siglip_navit_tower(v, positions=True)
    vh, inter, th = dims.hidden_size, dims.intermediate_size, text.text.hidden_size
    window = v.int_list("window_kernel_size", [2, 2], minimum=1)
    area = window[0] * window[-1]
    attn = _vit_layer(vh, inter, dims.num_heads, count=1, name="vit_merger")
    vit_merger = Block(name="vit_merger", linears=attn.linears[:4] + (
        _lin("vit_merger.linear_1", vh * area, inter * area), _lin("vit_merger.linear_2", inter * area, vh)),
        other_params=2 * vh + 2 * vh * area, attention=attn.attention, mlp_width=inter * area, gated_mlp=False)
    tower = Component(name=tower.name, kind=tower.kind, blocks=tower.blocks + (vit_merger,))
    times = cfg.int("merger_times", 1)
    merged = 4 * vh

    def mlp(name: str, out: int, count: int) -> Block:
        return Block(name=name, count=count, linears=(_lin("linear_1", merged, merged), _lin("linear_2", merged, out)),
                     other_params=2 * merged)

    blocks = ((mlp("merger.downsample", vh, times - 1),) if times > 1 else ()) + (mlp("merger.mlp", th, 1),)
    proj = Component(name="projector", kind="projector", blocks=blocks)
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens (downsample_mode {mode}) "
             "(slices of large images cost more)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


BUILDERS = {t: build_minicpm for t in _TIED}
