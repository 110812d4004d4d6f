"""Vision-language models with native-resolution towers of their own, as transformers 5.23 builds them.

- ``lfm3_vl``: ``models/lfm3_vl/modeling_lfm3_vl.py``: a hybrid ViT (Lfm3VlVisionModel) over a
  bias-free linear patch embedding of ``in_channels x temporal_patch_size x patch_size^2`` pixels and an
  RMSNorm; its layers, by ``layer_types``, hold either grouped-query attention with q/k RMSNorms or a
  gated depthwise 2D convolution (``in_proj`` to three widths, a ``conv_kernel_size``^2 kernel per
  channel, ``out_proj``), each with a SwiGLU MLP and two RMSNorms, nothing with a bias. The projector
  LayerNorms each patch, concatenates ``spatial_merge_size``^2 of them and applies a two-layer GELU MLP
  of ``projector_hidden_size``. The language model is LFM3 (``families/recurrent.py``).
- ``minimax_m3_vl``: ``models/minimax_m3_vl/modeling_minimax_m3_vl.py``: a CLIP-like tower (a
  bias-free Conv3d patch embedding, ``pre_layrnorm``, LayerNorm layers with q/k/v/out and fc1/fc2 all
  with biases, 3D RoPE) and a projector that maps each patch to the text width with a GELU MLP, then
  merges ``spatial_merge_size``^2 of them with a second one (``merge_linear_1/2``); the language model
  is ``minimax_m3_vl_text`` (``families/moe.py``). The composite ties lm_head when either its own or the
  text config's ``tie_word_embeddings`` is set (``MiniMaxM3VLConfig.__post_init__``).

- ``inkling2``: ``models/inkling2/modeling_inkling2.py``: a ViT with layer-scale vectors and a merger of
  ``spatial_merge_size``^2 patches into the text width (:func:`inkling2_tower`); the language model is
  ``inkling2_text`` (``families/inkling.py``), its lm_head never tied.

All three run over the image at its own size in steps of ``patch x merge`` pixels, as Qwen2-VL does; the
image tokens are counted at 448 x 448 px with the Qwen2-VL processor's pixel range, and the note says so.
"""

from __future__ import annotations

import math

from vram.architectures._config import Cfg
from vram.architectures.vision import _attention
from vram.architectures.vlm import _compose, _projector, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

_IMAGE = 448
"""The side of the image whose tokens the estimate counts (larger images cost more)."""


def _native_dims(h: int, layers: int, heads: int, inter: int, patch: int, merge: int) -> VisionDims:
    grid = (_IMAGE // patch) ** 2
    tokens = grid // (merge * merge)
    return VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=_IMAGE,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens, resize="native", merge=merge * merge,
                      min_pixels=56 * 56, max_pixels=12_845_056, default_size=(_IMAGE, _IMAGE))


def _note(dims: VisionDims) -> str:
    return (f"images: {dims.llm_tokens_per_image} tokens per {_IMAGE}x{_IMAGE} image (native resolution, "
            f"{dims.patch_size}-px patches merged {dims.merge} to a token; larger images cost more)")


def lfm3_vl_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """Lfm3VlVisionModel: attention and short-convolution layers by ``layer_types``."""
    h = v.int("hidden_size", 1024)
    inter = v.int("intermediate_size", 2560)
    n = v.int("num_hidden_layers", 14)
    heads = v.int("num_attention_heads", 16)
    kv = v.int("num_key_value_heads", 8)
    patch = v.int("patch_size", 16)
    tps = v.int("temporal_patch_size", 2)
    chans = v.int("in_channels", 3)
    merge = v.int("spatial_merge_size", 2)
    kernel = v.int("conv_kernel_size", 3)
    # Lfm3VlVisionConfig.__post_init__: convolutions at layers 0, 1 and every odd layer, attention elsewhere.
    kinds = v.str_list("layer_types") or ["conv" if i < 2 or i % 2 else "full_attention" for i in range(n)]
    if len(kinds) != n:
        raise ConfigError(f"config field 'vision_config:layer_types' has {len(kinds)} entries for {n} layers")
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    hd = h // heads
    mlp = (Linear(name="w1", in_features=h, out_features=inter), Linear(name="w3", in_features=h, out_features=inter),
           Linear(name="w2", in_features=inter, out_features=h))
    n_att = sum(k != "conv" for k in kinds)
    att = Block(name="vision_attention_layer", count=max(n_att, 1), linears=(
        Linear(name="q_proj", in_features=h, out_features=heads * hd),
        Linear(name="k_proj", in_features=h, out_features=kv * hd),
        Linear(name="v_proj", in_features=h, out_features=kv * hd),
        Linear(name="out_proj", in_features=heads * hd, out_features=h)) + mlp,
        other_params=2 * hd + 2 * h, attention=Attention(kind="full", num_heads=heads, num_kv_heads=kv,
                                                         head_dim=hd, v_head_dim=hd), mlp_width=inter)
    conv = Block(name="vision_conv_layer", count=max(n - n_att, 1), linears=(
        Linear(name="in_proj", in_features=h, out_features=3 * h),
        Linear(name="out_proj", in_features=h, out_features=h)) + mlp,
        other_params=h * kernel * kernel + 2 * h, mlp_width=inter)
    blocks = [Block(name="patch_embed", linears=(Linear(name="patch_embed", in_features=chans * tps * patch * patch,
                                                        out_features=h),), other_params=h)]
    blocks += [b for b, count in ((att, n_att), (conv, n - n_att)) if count]
    tower = Component(name="vision_tower", kind="vision", blocks=tuple(blocks))
    return tower, _native_dims(h, n, heads, inter, patch, merge)


def build_lfm3_vl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="lfm3", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    tower, dims = lfm3_vl_tower(v)
    merge = v.int("spatial_merge_size", 2)
    hidden = cfg.int("projector_hidden_size", 4096)
    bias = cfg.bool("projector_bias", True)
    vh = dims.hidden_size
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=vh * merge * merge, out_features=hidden, bias=bias),
        Linear(name="linear_2", in_features=hidden, out_features=text.text.hidden_size, bias=bias)), other=2 * vh)
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=[_note(dims)])


def minimax_m3_vl_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """MiniMaxM3VLVisionModel: Conv3d patches, a pre-LayerNorm and CLIP-style layers with biases."""
    h = v.int("hidden_size", 1280)
    inter = v.int("intermediate_size", 5120)
    n = v.int("num_hidden_layers", 32)
    heads = v.int("num_attention_heads", 16)
    chans = v.int("num_channels", 3)
    patch = v.int("patch_size", 14)
    tps = v.int("temporal_patch_size", 2)
    merge = v.int("spatial_merge_size", 2)
    layer = Block(name="vision_layer", count=n, linears=tuple(
        Linear(name=name, in_features=h, out_features=h, bias=True) for name in ("q_proj", "k_proj", "v_proj",
                                                                                 "out_proj"))
        + (Linear(name="fc1", in_features=h, out_features=inter, bias=True),
           Linear(name="fc2", in_features=inter, out_features=h, bias=True)),
        other_params=4 * h, attention=_attention(h, heads), mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", other_params=chans * tps * patch * patch * h + 2 * h), layer))
    return tower, _native_dims(h, n, heads, inter, patch, merge)


def build_minimax_m3_vl(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = _sub(cfg, "text_config", {})
    tie = cfg.bool("tie_word_embeddings", False) or t.bool("tie_word_embeddings", False)
    cfg = Cfg({**cfg._data, "tie_word_embeddings": tie}, where=cfg._where, used=cfg.used)
    text = _text(cfg, t, default_type="minimax_m3_vl_text", fixed_type="minimax_m3_vl_text", tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    tower, dims = minimax_m3_vl_tower(v)
    merge = v.int("spatial_merge_size", 2)
    hidden = cfg.int("projector_hidden_size", 6144)
    th = text.text.hidden_size
    proj = _projector("multi_modal_projector", (
        Linear(name="linear_1", in_features=dims.hidden_size, out_features=hidden, bias=True),
        Linear(name="linear_2", in_features=hidden, out_features=th, bias=True),
        Linear(name="merge_linear_1", in_features=th * merge * merge, out_features=hidden, bias=True),
        Linear(name="merge_linear_2", in_features=hidden, out_features=th, bias=True)))
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=[_note(dims)])


def inkling2_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """Inkling2VisionModel: a bias-free linear patch embedding, a grid of learned positions plus a class token
    and its position, a pre-LayerNorm, ViT layers with biases and layer-scale vectors (lambda_1, lambda_2),
    and the merger: spatial_merge_size^2 patches concatenated, two layers into the text width."""
    h = v.int("hidden_size", 1024)
    ratio = v.raw("mlp_ratio", 4.0)
    inter = v.int("intermediate_size") if v.has("intermediate_size") else int(
        h * (ratio if isinstance(ratio, int | float) and not isinstance(ratio, bool) else 4.0))
    n = v.int("num_hidden_layers", 23)
    heads = v.int("num_attention_heads", 16)
    chans = v.int("num_channels", 3)
    patch = v.int("patch_size", 20)
    merge = v.int("spatial_merge_size", 2)
    grid = v.int("posemb_grid_size", 32)
    hidden = v.int("projection_hidden_dim", 4096)
    out = v.int("text_hidden_size", 4608)
    bias = v.bool("projector_bias", False)
    layer = Block(name="vision_layer", count=n, linears=tuple(
        Linear(name=name, in_features=h, out_features=h, bias=True) for name in ("q_proj", "k_proj", "v_proj",
                                                                                 "out_proj"))
        + (Linear(name="fc1", in_features=h, out_features=inter, bias=True),
           Linear(name="fc2", in_features=inter, out_features=h, bias=True)),
        other_params=6 * h, attention=_attention(h, heads), mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", linears=(Linear(name="patch_embedding", in_features=chans * patch * patch,
                                                 out_features=h),),
              embedding_params=grid * grid * h, other_params=2 * h + 2 * h), layer,
        Block(name="merger", linears=(
            Linear(name="merger.linear_1", in_features=merge * merge * h, out_features=hidden, bias=bias),
            Linear(name="merger.linear_2", in_features=hidden, out_features=out, bias=bias)))))
    return tower, _native_dims(h, n, heads, inter, patch, merge)


def build_inkling2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="inkling2_text", fixed_type="inkling2_text",
                 tie_default=False, model_id=model_id)
    tower, dims = inkling2_tower(_sub(cfg, "vision_config", {}))
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower], vision=dims,
                    notes=[_note(dims)])


def _prime_factors(number: int) -> list[int]:
    factors: list[int] = []
    while number % 2 == 0:
        factors.append(2)
        number //= 2
    p = 3
    while p * p <= number:
        while number % p == 0:
            factors.append(p)
            number //= p
        p += 2
    return factors + ([number] if number > 1 else [])


def _cumprod(values: list[int]) -> list[int]:
    out, acc = [], 1
    for v in values:
        acc *= v
        out.append(acc)
    return out


def inkling_scales(tps: int, patch: int, n: int, chans: int) -> list[tuple[int, int, int, int]]:
    """modeling_inkling.plan_out_scales: the (t, h, w, channels) grid after each of the n fold-and-project
    layers, each layer taking the scale whose size reduction is nearest its step on a log scale from 1 to
    the whole patch. With fewer layers than scales transformers solves an assignment (scipy): refused."""
    hs = _cumprod(_prime_factors(patch)[::-1])
    ts = _cumprod(_prime_factors(tps)[::-1])
    scales = [(1, 1, 1, chans)] + [(1, x, x, -(-x * x * chans // 64) * 64) for x in hs]
    scales += [(t, hs[-1], hs[-1], hs[-1] ** 2 * chans * t * 64) for t in ts]  # as written: ceil(...) x 64
    if n < len(scales):
        raise ConfigError(f"config field 'vision_config:num_hidden_layers' ({n}) is below the {len(scales)} scales "
                          "of the patch: transformers plans the layers by an optimal assignment, not modelled")
    total = math.log(patch * patch * tps * chans)
    logs = [math.log(t * h * w) for t, h, w, _ in scales]
    idxs: list[int] = []
    for k in range(n + 1):
        ideal = total * k / n
        idxs.append(min(range(len(scales)), key=lambda j: abs(ideal - logs[j])))
    idxs[0], idxs[-1] = 0, len(scales) - 1
    return [scales[j] for j in idxs]


def inkling_tower(v: Cfg) -> tuple[Component, VisionDims]:
    """InklingVisionModel: n bias-free projections, each folding a block of the previous grid into channels,
    with an RMSNorm after each but the last (which projects into the text width), and a final RMSNorm."""
    n = v.int("n_layers") if v.has("n_layers") else v.int("num_hidden_layers", 24)
    patch, tps, chans = v.int("patch_size", 40), v.int("temporal_patch_size", 2), v.int("num_channels", 3)
    out = v.int("text_hidden_size", 6144)
    scales = inkling_scales(tps, patch, n, chans)
    lins: list[Linear] = []
    norms = out
    for i, (start, end) in enumerate(zip(scales[:-1], scales[1:], strict=True)):
        mult = (end[0] // start[0]) * (end[1] // start[1]) * (end[2] // start[2])
        width = out if i == n - 1 else end[3]
        lins.append(Linear(name=f"encoder_layers.{i}.projection", in_features=start[3] * mult, out_features=width))
        norms += width if i != n - 1 else 0
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="encoder_layers", linears=tuple(lins), other_params=norms),))
    tokens = (_IMAGE // patch) ** 2
    dims = VisionDims(hidden_size=out, num_layers=n, num_heads=1, intermediate_size=out, image_size=_IMAGE,
                      patch_size=patch, patches_per_image=tokens, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens)
    return tower, dims


def build_inkling_mm(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """InklingForConditionalGeneration (models/inkling/modeling_inkling.py): inkling_text, the vision encoder
    above, and an audio model that sums one embedding per mel codebook (n_mel_bins x mel_vocab_size rows of
    the text width) and RMS-normalizes it; lm_head never tied."""
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="inkling_text", fixed_type="inkling_text",
                 tie_default=False, model_id=model_id)
    tower, dims = inkling_tower(_sub(cfg, "vision_config", {}))
    a = _sub(cfg, "audio_config", {})
    width = a.int("text_hidden_size", 6144)
    audio = Component(name="audio_tower", kind="other", blocks=(Block(
        name="embed_audio_tokens", embedding_params=a.int("n_mel_bins", 80) * a.int("mel_vocab_size", 256) * width,
        other_params=width),))
    note = (f"images: {dims.llm_tokens_per_image} tokens per {_IMAGE}x{_IMAGE} image ({dims.patch_size}-px "
            "patches, one token each); the vision encoder is a stack of projections, no attention")
    notes = [note, "audio: mel codebook embeddings counted; audio tokens are not modelled in activations"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, audio], vision=dims,
                    notes=notes)


BUILDERS = {"lfm3_vl": build_lfm3_vl, "minimax_m3_vl": build_minimax_m3_vl, "inkling2": build_inkling2,
            "inkling_mm_model": build_inkling_mm}
