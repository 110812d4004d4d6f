"""dots3 note: the dots3_note_text model with a vision tower and an audio tower.

File followed (transformers 5.23): models/dots3_note/modeling_dots3_note.py (configuration_dots3_note
for the defaults and the per-layer rules).

- Vision (Dots3NoteVisionModel): a Conv2d patch embedding with bias and an RMSNorm, blocks of RMSNorms,
  a fused qkv and proj (attention_bias), q/k norms per head and an MLP that is dense (gate, up, down;
  mlp_bias) or, on mlp_layer_types "sparse" blocks, routed experts without shared ones (a router and
  per_layer_config's num_local_experts experts of moe_intermediate_size); a final RMSNorm and the
  merger (LayerNorm over adapter_in_dim, two Linears with bias over adapter_merge_size^2 patches).
  Without mlp_layer_types the class's pyramid schedule applies (pyramid_num_routed).
- Audio (Dots3NoteAudioModel): a stem of three 3x3 Conv2d with bias and a Linear to the width, layers
  of q / k (no bias) / v / o projections (attention_bias), two RMSNorms and a fused gate_up MLP with
  biases, a final RMSNorm and the adapter (LayerNorm, fc1, fc2 with biases).
- The text model is a dots3_note_text; published checkpoints may write its fields at the top level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from vram.architectures._config import Cfg
from vram.architectures.vision import _attention
from vram.architectures.vlm import _compose, _sub, _text
from vram.errors import ConfigError
from vram.model import Block, Component, Linear, ModelSpec, VisionDims

_PYRAMID = [-1] * 25 + list(range(4, 65, 4)) + [64]
"""Dots3NoteVisionConfig's routed experts per block when neither mlp_layer_types nor pyramid_num_routed is given."""


def _vision_experts(v: Cfg) -> list[int]:
    """Routed experts of each vision block (0: a dense MLP)."""
    n = v.int("num_hidden_layers", 42)
    if v.has("mlp_layer_types"):
        types = v.str_list("mlp_layer_types") or []
        if len(types) < n:
            raise ConfigError(f"config field 'vision_config:mlp_layer_types' has {len(types)} entries for {n} layers")
        out = []
        for i, t in enumerate(types[:n]):
            own = _override(v, i)
            experts = own.get("num_local_experts", v.int("num_local_experts", 64))
            if not isinstance(experts, int) or isinstance(experts, bool) or experts < 1:
                raise ConfigError(f"config field 'vision_config:per_layer_config.{i}.num_local_experts' is not a count")
            out.append(experts if t == "sparse" else 0)
        return out
    counts = v.int_list("pyramid_num_routed", _PYRAMID, minimum=-1) if v.has("pyramid_num_routed") else _PYRAMID
    if len(counts) < n:
        raise ConfigError(f"config field 'vision_config:pyramid_num_routed' has {len(counts)} entries for {n} layers")
    return [max(c, 0) for c in counts[:n]]


def _override(v: Cfg, i: int) -> dict[str, Any]:
    table = v.raw("per_layer_config")
    if isinstance(table, dict):
        for key, value in table.items():
            if str(key).isdigit() and int(str(key)) == i and isinstance(value, dict):
                return value
    return {}


def _vision(v: Cfg) -> tuple[Component, VisionDims]:
    h, inter, heads = v.int("hidden_size", 1536), v.int("intermediate_size", 4224), v.int("num_attention_heads", 24)
    patch, chans = v.int("patch_size", 14), v.int("num_channels", 3)
    moe_width = v.int("moe_intermediate_size", 2112)
    ab, mb = v.bool("attention_bias", False), v.bool("mlp_bias", False)
    ain, aout, merge = v.int("adapter_in_dim", 1536), v.int("adapter_out_dim", 5120), v.int("adapter_merge_size", 2)
    experts = _vision_experts(v)
    attn = (Linear(name="attn.qkv", in_features=h, out_features=3 * h, bias=ab),
            Linear(name="attn.proj", in_features=h, out_features=h, bias=ab))
    norms = 2 * h + 2 * (h // heads)  # norm1, norm2, q_norm, k_norm

    def block(e: int) -> Block:
        if not e:
            mlp = tuple(Linear(name=f"mlp.{n}", in_features=h, out_features=inter, bias=mb)
                        for n in ("gate_proj", "up_proj"))
            mlp += (Linear(name="mlp.down_proj", in_features=inter, out_features=h, bias=mb),)
            return Block(name="vision_block", linears=attn + mlp, other_params=norms, attention=_attention(h, heads),
                         mlp_width=inter)
        k = min(v.int("num_experts_per_tok", 2), e)
        mlp = (Linear(name="mlp.experts.gate_up_proj", in_features=h, out_features=2 * moe_width, copies=e,
                      active_copies=k),
               Linear(name="mlp.experts.down_proj", in_features=moe_width, out_features=h, copies=e, active_copies=k),
               Linear(name="mlp.gate", in_features=h, out_features=e))
        return Block(name="vision_block", linears=attn + mlp, other_params=norms, attention=_attention(h, heads),
                     experts_per_token=k, expert_width=moe_width)

    layers: list[Block] = []
    for e in experts:
        b = block(e)
        if layers and layers[-1].linears == b.linears and layers[-1].experts_per_token == b.experts_per_token:
            layers[-1] = replace(layers[-1], count=layers[-1].count + 1)
        else:
            layers.append(b)
    merged = ain * merge * merge
    merger = (Linear(name="merger.mlp.0", in_features=merged, out_features=merged, bias=True),
              Linear(name="merger.mlp.2", in_features=merged, out_features=aout, bias=True))
    blocks = [Block(name="patch_embed", other_params=chans * patch * patch * h + h + h), *layers,
              Block(name="norm", other_params=h), Block(name="merger", linears=merger, other_params=2 * ain)]
    image = 448
    grid = (image // patch) ** 2
    tokens = grid // (merge * merge)
    dims = VisionDims(hidden_size=h, num_layers=len(experts), num_heads=heads, intermediate_size=inter,
                      image_size=image, patch_size=patch, patches_per_image=grid, llm_tokens_per_image=tokens,
                      llm_tokens_per_frame=tokens, resize="native", merge=merge * merge)
    return Component(name="vision_tower", kind="vision", blocks=tuple(blocks)), dims


def _audio(a: Cfg) -> Component:
    h, inter = a.int("hidden_size", 1280), a.int("intermediate_size", 5120)
    heads, layers = a.int("num_attention_heads", 20), a.int("num_hidden_layers", 32)
    if h % heads:
        raise ConfigError(f"config field 'audio_config:hidden_size' ({h}) is not divisible by the heads ({heads})")
    down, features = a.int("downsample_hidden_size", 480), a.int("feature_size", 128)
    ain, aout = a.int("adapter_input_size", h), a.int("adapter_out_dim", 5120)
    ab = a.bool("attention_bias", True)
    stem = (9 + 1) * down + 2 * (down * down * 9 + down)  # Conv2d 1 -> down, then down -> down twice
    conv_out = down * ((features + 7) // 8)
    layer = Block(name="audio_layer", count=layers, linears=(
        Linear(name="self_attn.q_proj", in_features=h, out_features=h, bias=ab),
        Linear(name="self_attn.k_proj", in_features=h, out_features=h),
        Linear(name="self_attn.v_proj", in_features=h, out_features=h, bias=ab),
        Linear(name="self_attn.o_proj", in_features=h, out_features=h, bias=ab),
        Linear(name="mlp.gate_up_proj", in_features=h, out_features=2 * inter, bias=True),
        Linear(name="mlp.down_proj", in_features=inter, out_features=h, bias=True)),
        other_params=2 * h, attention=_attention(h, heads), mlp_width=inter)
    return Component(name="audio_tower", kind="other", blocks=(
        Block(name="conv_stem", other_params=stem,
              linears=(Linear(name="conv_out", in_features=conv_out, out_features=h),)),
        layer, Block(name="layer_norm", other_params=h),
        Block(name="adapter", other_params=2 * ain, linears=(
            Linear(name="adapter.fc1", in_features=ain, out_features=aout, bias=True),
            Linear(name="adapter.fc2", in_features=aout, out_features=aout, bias=True)))))


def build_dots3_note(cfg: Cfg, model_type: str, *, model_id: str) -> ModelSpec:
    """dots3 note: dots3_note_text + the vision tower and merger + the audio tower and adapter."""
    if cfg.has("text_config"):
        t = cfg.sub("text_config")
    else:  # published checkpoints write the text fields at the top level
        t = Cfg({k: v for k, v in cfg._data.items() if k not in ("vision_config", "audio_config", "model_type")},
                where="config.json", used=cfg.used)
    text = _text(cfg, t, default_type="dots3_note_text", fixed_type="dots3_note_text", tie_default=False,
                 model_id=model_id)
    tower, dims = _vision(_sub(cfg, "vision_config", {}))
    audio = _audio(_sub(cfg, "audio_config", {}))
    notes = [f"images assumed {dims.image_size}x{dims.image_size} pixels unless --image-size says: "
             f"{dims.patches_per_image} patches, {dims.llm_tokens_per_image} tokens after the merger "
             "(native resolution: larger images cost more)",
             "audio encoder counted; audio tokens are not modelled in activations"]
    return _compose(text, cfg, model_id=model_id, model_type=model_type, extra=[tower, audio], vision=dims,
                    notes=notes)


BUILDERS: dict[str, Callable[..., ModelSpec]] = {"dots3_note": build_dots3_note}
