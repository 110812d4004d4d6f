"""Aria: an Idefics3-style SigLIP tower, a projector of learned queries that cross-attend to the
patches, and the ``aria_text`` MoE language model (a family delta of families/moe.py).

File followed: transformers 5.23 ``models/aria/modeling_aria.py`` (AriaForConditionalGeneration).

- The tower: ``vision_config`` as Idefics3VisionConfig builds it (SigLIP's layout, no pooling head).
- AriaProjector: ``max(projector_patch_to_query_dict.values())`` learned queries of the vision width;
  AriaCrossAttention (bias-free q/k/v of the vision width, a torch MultiheadAttention with its packed
  in-projection and out-projection, both with biases, a linear with bias, LayerNorms of the queries and
  of the patches); a LayerNorm; a bias-free GeLU MLP from the vision width through the text width into
  the text width.
- lm_head tied by the composite's ``tie_word_embeddings`` (default false).
- An image becomes the query count its patch count maps to in ``projector_patch_to_query_dict``
  (1,225 patches: 128 queries; 4,900: 256).
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures._config import Cfg
from vram.architectures.multimodal import siglip_or_clip_tower
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Block, Component, Linear, ModelSpec

_IDEFICS3_VISION = {"hidden_size": 1152, "intermediate_size": 3072, "num_hidden_layers": 12,
                    "num_attention_heads": 16, "image_size": 224, "patch_size": 32}
_PATCH_TO_QUERY = {1225: 128, 4900: 256}  # AriaConfig.__post_init__'s default


def _patch_to_query(cfg: Cfg) -> dict[int, int]:
    raw = cfg.raw("projector_patch_to_query_dict")
    if raw is None:
        return dict(_PATCH_TO_QUERY)
    try:
        out = {int(k): int(v) for k, v in dict(raw).items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError("config field 'projector_patch_to_query_dict' must map patch counts to query counts") from exc
    if not out or min(out.values()) < 1:
        raise ConfigError("config field 'projector_patch_to_query_dict' must map patch counts to query counts")
    return out


def build_aria(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    text = _text(cfg, _sub(cfg, "text_config", {}), default_type="aria_text", fixed_type=None, tie_default=False,
                 model_id=model_id)
    assert text.text is not None
    v = _sub(cfg, "vision_config", {})
    merged = dict(_IDEFICS3_VISION)
    merged.update({k: val for k, val in v._data.items() if val is not None})
    tower, dims = siglip_or_clip_tower(Cfg(merged, where="vision_config", used=cfg.used), "siglip", keep_head=False)
    table = _patch_to_query(cfg)
    queries = max(table.values())
    h, th = dims.hidden_size, text.text.hidden_size
    projector = Component(name="projector", kind="projector", blocks=(
        Block(name="query", other_params=queries * h),
        Block(name="cross_attn", linears=(
            Linear(name="q_proj", in_features=h, out_features=h), Linear(name="k_proj", in_features=h, out_features=h),
            Linear(name="v_proj", in_features=h, out_features=h),
            Linear(name="multihead_attn.in_proj", in_features=h, out_features=3 * h, bias=True),
            Linear(name="multihead_attn.out_proj", in_features=h, out_features=h, bias=True),
            Linear(name="linear", in_features=h, out_features=h, bias=True)), other_params=4 * h),
        Block(name="feed_forward", linears=(Linear(name="linear_in", in_features=h, out_features=th),
                                            Linear(name="linear_out", in_features=th, out_features=th)),
              other_params=2 * h, mlp_width=th, gated_mlp=False)))
    tokens = table.get(dims.patches_per_image, queries)
    dims = replace(dims, llm_tokens_per_image=tokens, llm_tokens_per_frame=tokens)
    notes = [f"images: {tokens} tokens per {dims.image_size}x{dims.image_size} image (learned queries; "
             f"projector_patch_to_query_dict {table})"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, projector], vision=dims,
                    notes=notes)


BUILDERS = {"aria": build_aria}
