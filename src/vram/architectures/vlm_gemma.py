"""Google's vision-language models, each as transformers 5.23 builds it.

- ``gemma3`` / ``shieldgemma2``: ``models/gemma3/modeling_gemma3.py`` (Gemma3ForConditionalGeneration;
  ShieldGemma 2 builds the same class): gemma3_text + a SigLIP tower (its attention-pooling head kept
  when ``vision_use_head`` says so, the SiglipVisionConfig default) + an average pool to
  ``mm_tokens_per_image``, an RMSNorm and a bias-free projection.
- ``paligemma``: ``models/paligemma/modeling_paligemma.py``: a SigLIP tower, one linear projection
  with bias to ``projection_dim``, and a Gemma (PaliGemma 2: Gemma 2) language model.
- ``gemma4``: ``models/gemma4/modeling_gemma4.py``: gemma4_text, and, when the config has them, the
  Gemma 4 ViT (a linear patch embedding, a 2 x position_embedding_size x width position table,
  q/k RMSNorms, a gated MLP and four RMSNorms per layer, a k x k pooler without parameters) and the
  conformer audio encoder (two strided Conv2d + LayerNorm subsampling layers, a macaron pair of
  feed-forwards, chunked attention with a relative-key projection and per-dim scale, a light
  depthwise convolution, an output projection with bias); each modality enters the text model
  through a bias-free projection after a scale-free RMSNorm.

Sub-configs as transformers fills them: a dict takes its own class's defaults; an absent one takes
the composite's defaults (PaliGemma's ``sub_configs_defaults`` init kwargs), or no tower at all where
the composite marks it optional (Gemma 4's vision and audio).
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vision import _attention
from vram.architectures.vlm import _compose, _projector, _sub, _text
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_SIGLIP_DEFAULT_HEAD = True
_PALIGEMMA_VISION = {"intermediate_size": 4096, "hidden_size": 1152, "patch_size": 14, "image_size": 224,
                     "num_hidden_layers": 27, "num_attention_heads": 16, "vision_use_head": False}
_PALIGEMMA_TEXT = {"model_type": "gemma", "hidden_size": 2048, "num_hidden_layers": 18, "intermediate_size": 16384,
                   "num_attention_heads": 8, "num_key_value_heads": 1, "vocab_size": 257152}


def _siglip(v: Cfg) -> tuple[Component, VisionDims]:
    """A SiglipVisionModel as AutoModel builds it: the pooling head when ``vision_use_head`` (default true)."""
    return siglip_or_clip_tower(v, "siglip", keep_head=v.bool("vision_use_head", _SIGLIP_DEFAULT_HEAD))


def build_gemma3(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Gemma 3 (and ShieldGemma 2): gemma3_text + SigLIP + RMSNorm and a bias-free projection."""
    t = _sub(cfg, "text_config", {})
    # ShieldGemma 2 ties when its text config does (its __post_init__); Gemma 3 by its own flag.
    tie_default = Cfg(t._data).bool("tie_word_embeddings", True) if model_type == "shieldgemma2" else True
    text = _text(cfg, t, default_type="gemma3_text", fixed_type="gemma3_text", tie_default=tie_default,
                 model_id=model_id)
    assert text.text is not None
    tower, dims = _siglip(_sub(cfg, "vision_config", {}))
    mm_tokens = cfg.int("mm_tokens_per_image", 256)
    proj = _projector("multi_modal_projector", (
        Linear(name="mm_input_projection", in_features=dims.hidden_size, out_features=text.text.hidden_size),),
        other=dims.hidden_size)
    dims = replace(dims, llm_tokens_per_image=mm_tokens, llm_tokens_per_frame=mm_tokens)
    notes = [f"images: {mm_tokens} tokens per {dims.image_size}x{dims.image_size} image (average-pooled patches; "
             "pan-and-scan crops add as many each)"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def build_paligemma(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """PaliGemma 1 and 2: SigLIP (no head by default) + linear projection with bias + Gemma / Gemma 2."""
    t = _sub(cfg, "text_config", _PALIGEMMA_TEXT)
    if cfg.has("text_config") and not t.has("model_type"):
        t = Cfg({**_PALIGEMMA_TEXT, **t._data}, where=t._where, used=cfg.used)
    text = _text(cfg, t, default_type="gemma", fixed_type=None, tie_default=True, model_id=model_id)
    v = _sub(cfg, "vision_config", _PALIGEMMA_VISION)
    tower, dims = _siglip(v)
    proj = _projector("multi_modal_projector", (
        Linear(name="linear", in_features=dims.hidden_size, out_features=cfg.int("projection_dim", 2048),
               bias=True),))
    grid = dims.llm_tokens_per_image
    notes = [f"images: {grid} tokens per {dims.image_size}x{dims.image_size} image"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, proj], vision=dims,
                    notes=notes)


def _gemma4_vision(v: Cfg, text_hidden: int) -> tuple[list[Component], VisionDims]:
    h = v.int("hidden_size", 768)
    inter = v.int("intermediate_size", 3072)
    layers = v.int("num_hidden_layers", 16)
    heads = v.int("num_attention_heads", 12)
    kv = v.int("num_key_value_heads", 12)
    hd = v.int("head_dim", 64)
    patch = v.int("patch_size", 16)
    positions = v.int("position_embedding_size", 10 * 1024)
    pool = v.int("pooling_kernel_size", 3)
    bias = v.bool("attention_bias", False)
    att = replace(_attention(heads * hd, heads), num_kv_heads=kv)
    layer = Block(name="vision_layer", count=layers, linears=(
        Linear(name="q_proj", in_features=h, out_features=heads * hd, bias=bias),
        Linear(name="k_proj", in_features=h, out_features=kv * hd, bias=bias),
        Linear(name="v_proj", in_features=h, out_features=kv * hd, bias=bias),
        Linear(name="o_proj", in_features=heads * hd, out_features=h, bias=bias),
        Linear(name="gate_proj", in_features=h, out_features=inter),
        Linear(name="up_proj", in_features=h, out_features=inter),
        Linear(name="down_proj", in_features=inter, out_features=h)),
        other_params=2 * hd + 4 * h, attention=att, mlp_width=inter)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="patch_embedder", linears=(Linear(name="input_proj", in_features=3 * patch * patch,
                                                     out_features=h),), other_params=2 * positions * h),
        layer))
    proj = _projector("embed_vision", (Linear(name="embedding_projection", in_features=h, out_features=text_hidden),))
    # The image processor's default budget (image_processing_gemma4.py): at most 280 soft tokens,
    # each a pooling_kernel_size x pooling_kernel_size group of patches.
    tokens = 280
    side = int((tokens * pool * pool) ** 0.5) // pool * pool
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter,
                      image_size=side * patch, patch_size=patch, patches_per_image=tokens * pool * pool,
                      llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    return [tower, proj], dims


def _gemma4_audio(a: Cfg, text_hidden: int) -> list[Component]:
    h = a.int("hidden_size", 1024)
    layers = a.int("num_hidden_layers", 12)
    heads = a.int("num_attention_heads", 8)
    chans = a.int_list("subsampling_conv_channels", [128, 32])
    kernel = a.int("conv_kernel_size", 5)
    out = a.int("output_proj_dims", 1536)
    hd = h // heads
    c0, c1 = chans[0], chans[1]
    sub = Block(name="subsample_conv_projection", linears=(
        Linear(name="input_proj_linear", in_features=(c0 // 4) * c1, out_features=h),),
        other_params=c0 * 9 + c0 + c1 * c0 * 9 + c1)  # two 3x3 convs without bias, LayerNorms without bias

    def ff(n: str) -> tuple[Linear, ...]:
        return (Linear(name=f"{n}.ffw_layer_1", in_features=h, out_features=4 * h),
                Linear(name=f"{n}.ffw_layer_2", in_features=4 * h, out_features=h))

    layer = Block(name="audio_layer", count=layers, linears=ff("feed_forward1") + ff("feed_forward2") + tuple(
        Linear(name=f"self_attn.{n}", in_features=h, out_features=h) for n in ("q_proj", "k_proj", "v_proj", "post"))
        + (Linear(name="self_attn.relative_k_proj", in_features=h, out_features=heads * hd),
           Linear(name="lconv1d.linear_start", in_features=h, out_features=2 * h),
           Linear(name="lconv1d.linear_end", in_features=h, out_features=h)),
        # four feed-forward norms, two conv norms, three layer norms, the depthwise kernel, per-dim scale
        other_params=9 * h + h * kernel + hd,
        attention=_attention(h, heads), mlp_width=4 * h, gated_mlp=False)
    tower = Component(name="audio_tower", kind="other", blocks=(
        sub, layer, Block(name="output_proj", linears=(Linear(name="output_proj", in_features=h, out_features=out,
                                                              bias=True),))))
    return [tower, _projector("embed_audio", (Linear(name="embedding_projection", in_features=out,
                                                     out_features=text_hidden),))]


def build_gemma4(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Gemma 4: gemma4_text, plus the vision and audio encoders the config names."""
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="gemma4_text", fixed_type="gemma4_text", tie_default=True, model_id=model_id)
    assert text.text is not None
    extra: list[Component] = []
    dims = None
    notes: list[str] = []
    if cfg.has("vision_config"):
        comps, dims = _gemma4_vision(cfg.sub("vision_config"), text.text.hidden_size)
        extra += comps
        notes.append(f"images: up to {dims.llm_tokens_per_image} tokens each (the image processor's default "
                     "max_soft_tokens)")
    if cfg.has("audio_config"):
        extra += _gemma4_audio(cfg.sub("audio_config"), text.text.hidden_size)
        notes.append("audio encoder counted; audio tokens are not modelled in activations")
    if not extra:
        notes.append("no vision_config or audio_config: the text model alone")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=extra, vision=dims, notes=notes)


def build_gemma4_unified(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """Gemma 4 Unified (models/gemma4_unified/modeling_gemma4_unified.py): encoder-free. Images go through
    Gemma4UnifiedVisionEmbedder (a LayerNorm over each pooled patch of patch_size x pooling_kernel_size
    pixels, a dense layer to mm_embed_dim with bias, two LayerNorms, a factorized position table of
    mm_posemb_size x 2 rows), then an unscaled RMSNorm and a bias-free projection of output_proj_dims into
    the text width; audio frames only through that last norm and projection (audio_embed_dim wide). Both
    sub-configs are optional: without them the model is its text model."""
    t = _sub(cfg, "text_config", {})
    text = _text(cfg, t, default_type="gemma4_unified_text", fixed_type="gemma4_unified_text", tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    th = text.text.hidden_size
    extra: list[Component] = []
    dims = None
    notes: list[str] = []
    if cfg.has("vision_config"):
        v = cfg.sub("vision_config")
        patch, pool = v.int("patch_size", 16), v.int("pooling_kernel_size", 3)
        mm, out = v.int("mm_embed_dim", 3840), v.int("output_proj_dims", 3840)
        pixels = 3 * (patch * pool) ** 2
        extra.append(_projector("embed_vision", (
            Linear(name="patch_dense", in_features=pixels, out_features=mm, bias=True),
            Linear(name="embedding_projection", in_features=out, out_features=th)),
            other=2 * pixels + 4 * mm + v.int("mm_posemb_size", 1120) * 2 * mm))
        # The image processor's default budget (image_processing_gemma4_unified.py): at most 280 soft
        # tokens, each one pooled patch; no encoder layers run over them.
        tokens = 280
        side = int(tokens ** 0.5) * patch * pool
        dims = VisionDims(hidden_size=mm, num_layers=1, num_heads=1, intermediate_size=mm, image_size=side,
                          patch_size=patch * pool, patches_per_image=tokens, llm_tokens_per_image=tokens,
                          llm_tokens_per_frame=tokens)
        notes.append(f"images: up to {tokens} tokens each (the image processor's default max_soft_tokens), "
                     "embedded without a vision encoder")
    if cfg.has("audio_config"):
        a = cfg.sub("audio_config")
        width = a.int("audio_embed_dim", 640)
        extra.append(_projector("embed_audio", (Linear(name="embedding_projection", in_features=width,
                                                       out_features=th),)))
        notes.append("audio frames are projected into the text width without an audio encoder")
    if not extra:
        notes.append("no vision_config or audio_config: the text model alone")
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=extra, vision=dims, notes=notes)


BUILDERS = {"gemma3": build_gemma3, "shieldgemma2": build_gemma3, "paligemma": build_paligemma,
            "gemma4": build_gemma4, "gemma4_unified": build_gemma4_unified}
