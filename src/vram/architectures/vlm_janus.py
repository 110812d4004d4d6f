"""Janus: image understanding (a SigLIP-style ViT and an aligner) and image generation (a VQ-VAE,
generation embeddings, an aligner and a head over the codebook) around a llama language model.

File followed: transformers 5.23 ``models/janus/modeling_janus.py`` (JanusForConditionalGeneration).

- ``vision_model`` (JanusVisionModel): a patch Conv2d with bias, a position table of the patch grid,
  layers of LayerNorm, q/k/v (biases by ``attention_bias``; LayerNorm q/k norms by ``use_qk_norm``),
  an output projection with bias, LayerNorm and an fc1 / fc2 MLP of width x ``mlp_ratio``; a post
  LayerNorm. ``aligner``: ``depth`` linear layers with bias (vision width into ``projection_dim``, then
  ``projection_dim`` to itself).
- ``vqmodel``: the convolutional VQ-VAE of ``vision_vq.py``. ``generation_embeddings``: the codebook
  size x ``embed_dim``; ``generation_aligner``: ``num_hidden_layers`` linear layers from ``embed_dim``
  into the VQ config's ``projection_dim``; ``generation_head``: ``image_token_embed_dim`` into
  ``projection_dim``, then into the codebook, both with bias.
- ``language_model`` from ``text_config`` (LlamaConfig's defaults when absent); lm_head tied by the
  composite's ``tie_word_embeddings`` (default true).
- An understood image becomes ``num_image_tokens`` tokens (its patch grid); a generated image is as
  many codebook tokens.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.vision_vq import vq_vae
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

_LLAMA = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
          "num_hidden_layers": 32, "num_attention_heads": 32}


def _lin(name: str, n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _stack(prefix: str, n_in: int, width: int, depth: int) -> tuple[Linear, ...]:
    """fc1 into ``width`` then ``depth`` - 1 square layers, all with bias (Janus's aligner MLPs)."""
    return (_lin(f"{prefix}.fc1", n_in, width),) + tuple(
        _lin(f"{prefix}.hidden_layers.{i}", width, width) for i in range(depth - 1))


def janus_vision_tower(v: Cfg) -> tuple[Component, VisionDims]:
    h, layers, heads = v.int("hidden_size", 1024), v.int("num_hidden_layers", 24), v.int("num_attention_heads", 16)
    image, patch, chans = v.int("image_size", 384), v.int("patch_size", 16), v.int("num_channels", 3)
    ratio = v.raw("mlp_ratio", 4.0)
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio <= 0:
        raise ConfigError(f"config field 'vision_config:mlp_ratio' must be a positive number, got {ratio!r}")
    inter = int(h * ratio)
    if h % heads:
        raise ConfigError(f"config field 'vision_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    bias = v.bool("attention_bias", True)
    grid = (image // patch) ** 2
    layer = Block(name="vision_layer", count=layers, linears=(
        _lin("q_proj", h, h, bias), _lin("k_proj", h, h, bias), _lin("v_proj", h, h, bias),
        _lin("projection_layer", h, h), _lin("fc1", h, inter), _lin("fc2", inter, h)),
        other_params=4 * h + (4 * h if v.bool("use_qk_norm", False) else 0),
        attention=Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads,
                            v_head_dim=h // heads), mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", other_params=chans * patch * patch * h + h + grid * h), layer,
        Block(name="post_layernorm", other_params=2 * h)))
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid, llm_tokens_per_image=grid, llm_tokens_per_frame=grid)
    return tower, dims


def build_janus(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", _LLAMA), default_type="llama", fixed_type=None, tie_default=True,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    tower, dims = janus_vision_tower(v)
    aligner = Component(name="projector", kind="projector", blocks=(Block(name="aligner", linears=_stack(
        "aligner", dims.hidden_size, v.int("projection_dim", 2048), v.int("depth", 2))),))
    q = _sub(cfg, "vq_config", {})
    codes, embed, qpd = q.int("num_embeddings", 16384), q.int("embed_dim", 8), q.int("projection_dim", 2048)
    generation = Component(name="generation", kind="other", blocks=(
        Block(name="generation_embeddings", embedding_params=codes * embed),
        Block(name="generation_aligner", linears=_stack("generation_aligner", embed, qpd,
                                                         q.int("num_hidden_layers", 2))),
        Block(name="generation_head", linears=(_lin("proj_out", q.int("image_token_embed_dim", 2048), qpd),
                                               _lin("vision_head", qpd, codes)))))
    tokens = v.int("num_image_tokens", dims.llm_tokens_per_image)
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens each (understanding); the VQ-VAE and generation head are counted "
             "as weights for image generation"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type,
                    extra=[tower, aligner, vq_vae(q), generation], vision=dims, notes=notes)


BUILDERS = {"janus": build_janus}
