"""BLIP-2 and InstructBLIP: a ViT, a Q-Former of learned queries and a linear projection into any
language model (decoder-only or encoder-decoder).

Files followed (transformers 5.23): ``models/blip_2/modeling_blip_2.py`` (Blip2ForConditionalGeneration),
``models/instructblip/modeling_instructblip.py`` and ``models/instructblipvideo/modeling_instructblipvideo.py``
(the same parts; the video class runs the tower over each frame).

- The vision model (Blip2VisionModel): a class embedding, a patch Conv2d with bias, a position table of
  grid + 1 rows; layers of LayerNorm, a fused qkv without bias whose bias parameter (q and v biases with a
  zero k part: 3 x width) exists when ``qkv_bias``, an output projection with bias, LayerNorm and an
  fc1 / fc2 MLP with biases; a post LayerNorm. Config class defaults: 1,408 wide, 39 layers, patch 14
  over 224 px.
- The Q-Former (``qformer_config``, a BERT-style stack at its own width): ``num_query_tokens`` learned
  queries; every layer a self-attention (q/k/v and an output dense with biases, LayerNorm), every
  ``cross_attention_frequency``-th layer (from layer 0) a cross-attention whose K/V read the vision width
  (``encoder_hidden_size``, which the composite config sets to the vision width), the query feed-forward
  (intermediate and output with biases, LayerNorm) and, where the Q-Former reads the instruction
  (InstructBLIP; BLIP-2 with ``use_qformer_text_input``), a second feed-forward for text tokens.
  BLIP-2's Q-Former has a LayerNorm and no embeddings; InstructBLIP's has word and position tables and
  a LayerNorm.
- ``language_projection``: Q-Former width into the text width, with bias. The language model is built
  from ``text_config`` (OPTConfig's defaults when absent) and tied by its own config.
- Every image (every frame for the video class) becomes ``num_query_tokens`` tokens.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, ModelSpec, VisionDims

# Blip2VisionConfig / InstructBlipVisionConfig defaults.
_VISION = {"hidden_size": 1408, "intermediate_size": 6144, "num_hidden_layers": 39, "num_attention_heads": 16,
           "image_size": 224, "patch_size": 14}
# Blip2QFormerConfig / InstructBlipQFormerConfig defaults.
_QFORMER = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "max_position_embeddings": 512, "cross_attention_frequency": 2}
# OPTConfig's defaults (the text model the composite builds when text_config is absent).
_OPT = {"model_type": "opt", "vocab_size": 50272, "hidden_size": 768, "num_hidden_layers": 12,
        "ffn_dim": 3072, "num_attention_heads": 12}


def _lin(name: str, n_in: int, n_out: int, bias: bool = True) -> Linear:
    return Linear(name=name, in_features=n_in, out_features=n_out, bias=bias)


def _attn(h: int, heads: int, where: str) -> Attention:
    if h % heads:
        raise ConfigError(f"config field '{where}:hidden_size' ({h}) is not divisible by the heads ({heads})")
    return Attention(kind="full", num_heads=heads, num_kv_heads=heads, head_dim=h // heads, v_head_dim=h // heads)


def blip_vision_tower(v: Cfg) -> tuple[Component, VisionDims]:
    h, inter = v.int("hidden_size", _VISION["hidden_size"]), v.int("intermediate_size", _VISION["intermediate_size"])
    layers, heads = v.int("num_hidden_layers", _VISION["num_hidden_layers"]), v.int("num_attention_heads", 16)
    image, patch = v.int("image_size", 224), v.int("patch_size", 14)
    grid = (image // patch) ** 2
    layer = Block(name="vision_layer", count=layers, linears=(
        _lin("qkv", h, 3 * h, bias=False), _lin("projection", h, h), _lin("fc1", h, inter), _lin("fc2", inter, h)),
        other_params=4 * h + (3 * h if v.bool("qkv_bias", True) else 0), attention=_attn(h, heads, "vision_config"),
        mlp_width=inter, gated_mlp=False)
    tower = Component(name="vision_tower", kind="vision", blocks=(
        Block(name="embeddings", other_params=h + 3 * patch * patch * h + h + (grid + 1) * h), layer,
        Block(name="post_layernorm", other_params=2 * h)))
    dims = VisionDims(hidden_size=h, num_layers=layers, num_heads=heads, intermediate_size=inter, image_size=image,
                      patch_size=patch, patches_per_image=grid + 1, llm_tokens_per_image=grid + 1,
                      llm_tokens_per_frame=grid + 1)
    return tower, dims


def qformer(q: Cfg, *, queries: int, encoder_width: int, text_input: bool, embeddings: bool) -> Component:
    """The Q-Former: learned queries, BERT layers with cross-attention every few layers."""
    h, inter = q.int("hidden_size", _QFORMER["hidden_size"]), q.int("intermediate_size", _QFORMER["intermediate_size"])
    layers, heads = q.int("num_hidden_layers", 12), q.int("num_attention_heads", 12)
    freq = q.int("cross_attention_frequency", 2)
    n_cross = len(range(0, layers, freq))
    ffn: tuple[Linear, ...] = (_lin("intermediate_query.dense", h, inter), _lin("output_query.dense", inter, h))
    if text_input:
        ffn += (_lin("intermediate.dense", h, inter), _lin("output.dense", inter, h))
    self_attn = (_lin("attention.query", h, h), _lin("attention.key", h, h), _lin("attention.value", h, h),
                 _lin("attention.output.dense", h, h))
    cross = (_lin("crossattention.query", h, h), _lin("crossattention.key", encoder_width, h),
             _lin("crossattention.value", encoder_width, h), _lin("crossattention.output.dense", h, h))
    norms = 2 * h * (2 if text_input else 1)

    def layer(name: str, count: int, with_cross: bool) -> Block:
        return Block(name=name, count=count, linears=self_attn + (cross if with_cross else ()) + ffn,
                     other_params=2 * h + (2 * h if with_cross else 0) + norms,
                     attention=_attn(h, heads, "qformer_config"), mlp_width=inter, gated_mlp=False)

    blocks = [Block(name="query_tokens", other_params=queries * h)]
    if embeddings:
        vocab, positions = q.int("vocab_size", 30522), q.int("max_position_embeddings", 512)
        blocks.append(Block(name="qformer_embeddings", embedding_params=(vocab + positions) * h, other_params=2 * h))
    else:
        blocks.append(Block(name="qformer_layernorm", other_params=2 * h))
    blocks.append(layer("qformer_layer_cross", n_cross, True))
    if layers - n_cross:
        blocks.append(layer("qformer_layer", layers - n_cross, False))
    return Component(name="qformer", kind="projector", blocks=tuple(blocks))


def build_blip2(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    t = _sub(cfg, "text_config", _OPT)
    text = _text(cfg, t, default_type="opt", fixed_type=None, tie_default=None, model_id=model_id)
    assert text.text is not None
    tower, dims = blip_vision_tower(_sub(cfg, "vision_config", {}))
    q = _sub(cfg, "qformer_config", {})
    queries = cfg.int("num_query_tokens", 32)
    instruct = model_type != "blip-2"
    former = qformer(q, queries=queries, encoder_width=dims.hidden_size,
                     text_input=instruct or q.bool("use_qformer_text_input", False), embeddings=instruct)
    qh = q.int("hidden_size", _QFORMER["hidden_size"])
    proj = Component(name="projector", kind="projector", blocks=(Block(name="language_projection", linears=(
        _lin("language_projection", qh, text.text.hidden_size),)),))
    dims = replace(dims, llm_tokens_per_image=queries, llm_tokens_per_frame=queries)
    notes = [f"images: {queries} tokens each (the Q-Former's queries)"
             + ("; a video: that many per frame" if model_type == "instructblipvideo" else "")]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, former, proj], vision=dims,
                    notes=notes)


BUILDERS = {"blip-2": build_blip2, "instructblip": build_blip2, "instructblipvideo": build_blip2}
