"""Inkling (transformers models/inkling/modeling_inkling.py, the text model InklingForCausalLM).

Every layer attends, over all tokens (``hybrid``) or a window of ``sliding_window_size`` with its own
heads and head size (``hybrid_sliding``: the ``swa_*`` fields). Beside the usual q/k/v/o and per-head
q/k RMSNorms, its attention has ``r_proj`` (heads x ``d_rel``) and a bank of relative-position bias
profiles (``d_rel`` x ``rel_extent``, the window on sliding layers), and depthwise short convolutions
over its keys and values; the layer adds two more over the attention and MLP outputs. The MLP is a
SwiGLU with a learned global scale, or an MoE whose router scores the shared experts too (one row
per shared expert, and a global scale) and whose ``n_shared_experts`` shared experts are each
``moe_intermediate_size`` wide. The embedding is RMS-normed; lm_head is never tied.

Cache: K and V per token (the sliding layers hold at most the window), and per sequence the four
convolutions' windows (``conv_kernel_size`` positions of every convolved channel, as transformers'
cache keeps ``number_of_conv_states`` = 4 per layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading
from vram.errors import ConfigError
from vram.model import Attention, Block, Component, Linear, StateCache

_KINDS = {"hybrid": "full", "hybrid_sliding": "sliding"}


def _kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layer_types, else InklingTextConfig.__post_init__: sliding at local_layer_ids, or at every layer
    but each sixth; the MLP of each layer comes from mlp_layer_types (reader.moe_layers)."""
    if isinstance(r.raw("layer_types"), list):
        types = r.str_list("layer_types") or []
        bad = sorted({t for t in types if t not in _KINDS})
        if bad or len(types) < n:
            raise ConfigError(f"config field 'layer_types' must name hybrid or hybrid_sliding for each of {n} "
                              f"layers, got {bad[0] if bad else len(types)!r}")
        return [_KINDS[t] for t in types[:n]], None
    local = set(r.int_list("local_layer_ids")) if isinstance(r.raw("local_layer_ids"), list) else \
        {i for i in range(n) if (i + 1) % 6}
    return ["sliding" if i in local else "full" for i in range(n)], None


def _attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    sliding = kind == "sliding"
    heads = r.int("swa_num_attention_heads") if sliding else b.heads
    kv = r.int("swa_num_key_value_heads") if sliding else b.kv_heads
    hd = r.int("swa_head_dim") if sliding else b.head_dim
    d_rel = r.int("d_rel")
    window = r.int("sliding_window_size")
    kernel = r.int("conv_kernel_size")
    lins = (Linear(name="q_proj", in_features=h, out_features=heads * hd),
            Linear(name="k_proj", in_features=h, out_features=kv * hd),
            Linear(name="v_proj", in_features=h, out_features=kv * hd),
            Linear(name="r_proj", in_features=h, out_features=heads * d_rel),
            Linear(name="o_proj", in_features=heads * hd, out_features=h))
    channels = 2 * kv * hd + 2 * h  # k_sconv, v_sconv, attn_sconv, mlp_sconv
    other = channels * kernel + 2 * hd + d_rel * (window if sliding else r.int("rel_extent"))
    att = Attention(kind="sliding" if sliding else "full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                    v_head_dim=hd, window=window if sliding else None)
    state = StateCache(kind="conv", conv_elements=channels * kernel, recurrent_elements=0, channels=channels,
                       mixer="short_conv")
    return L.Part(linears=lins, other=other, attention=att, state=state)


def _other(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """The MLP's or router's global scale; the router's rows for the shared experts."""
    return 1 + (r.int("n_shared_experts", minimum=0) * b.hidden if moe else 0)


def _rewrite(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """InklingTextConfig.__post_init__: the first dense_mlp_idx layers dense (when mlp_layer_types is
    absent); with dense_intermediate_size, intermediate_size is the experts' width."""
    data = dict(cfg)
    first = data.pop("dense_mlp_idx", None)
    if data.get("mlp_layer_types") is None and isinstance(first, int) and isinstance(data.get("num_hidden_layers"),
                                                                                     int):
        data["mlp_layer_types"] = ["dense" if i < first else "sparse" for i in range(data["num_hidden_layers"])]
    if data.get("dense_intermediate_size") is not None:
        data["moe_intermediate_size"] = data.get("intermediate_size")
        data["intermediate_size"] = data.pop("dense_intermediate_size")
    return data


def _embed_norm(r: Reading, b: Basics) -> tuple[Component, ...]:
    return (Component(name="embed_norm", kind="other", blocks=(Block(name="embed_norm", other_params=b.hidden),)),)


FAMILIES: dict[str, Family] = {"inkling_text": Family(
    modeling="transformers models/inkling/modeling_inkling.py", kinds=_kinds, attention=_attention,
    layer_other=_other, never_tied=True, rewrite=_rewrite, extra=_embed_norm,
    aliases={"sliding_window_size": "sliding_window", "n_routed_experts": "num_local_experts",
             "conv_kernel_size": "sconv_kernel_size", "max_position_embeddings": "model_max_length"},
    defaults={"head_dim": 128, "swa_num_attention_heads": 64, "swa_num_key_value_heads": 16, "swa_head_dim": 128,
              "sliding_window_size": 512, "d_rel": 16, "rel_extent": 1024, "conv_kernel_size": 4,
              "moe_intermediate_size": 3072, "num_experts_per_tok": 6, "n_shared_experts": 2},
)}


# ---- Inkling 2 (transformers models/inkling2/modeling_inkling2.py, Inkling2ForCausalLM) ------------------

def _kinds2(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layer_types, else Inkling2TextConfig.__post_init__: hybrid at every sixth layer; every layer is an MoE."""
    if isinstance(r.raw("layer_types"), list):
        return _kinds(r, n)[0], ["moe"] * n
    return ["full" if (i + 1) % 6 == 0 else "sliding" for i in range(n)], ["moe"] * n


def _attention2(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """Inkling2SlidingAttention / Inkling2FullAttention and the rest of the layer around them.

    Both: q/k/v/r/o, an output gate (gate_proj) and per-head sink logits (sink_proj), learned scales
    before the q and relative-state L2 clips, the relative-position profiles. Keys and values pass short
    convolutions: static ones on sliding layers, on full layers static taps plus per-token taps projected
    from the input (weight_proj, one set per KV head). The layer mixes earlier blocks' outputs with learned
    queries before attention (one, three on full layers, none on layer 0) and before the MLP (one); sliding
    layers have input and post-attention RMSNorms, full ones q, k and v input norms and a post-attention one;
    two short convolutions follow attention and MLP."""
    h = b.hidden
    sliding = kind == "sliding"
    heads = r.int("swa_num_attention_heads") if sliding else b.heads
    kv = r.int("swa_num_key_value_heads") if sliding else b.kv_heads
    hd = r.int("swa_head_dim") if sliding else b.head_dim
    d_rel, window, kernel = r.int("d_rel"), r.int("sliding_window_size"), r.int("conv_kernel_size")
    lins: tuple[Linear, ...] = (
        Linear(name="q_proj", in_features=h, out_features=heads * hd),
        Linear(name="k_proj", in_features=h, out_features=kv * hd),
        Linear(name="v_proj", in_features=h, out_features=kv * hd),
        Linear(name="r_proj", in_features=h, out_features=heads * d_rel),
        Linear(name="o_proj", in_features=heads * hd, out_features=h),
        Linear(name="gate_proj", in_features=h, out_features=heads * hd),
        Linear(name="sink_proj", in_features=h, out_features=heads))
    if not sliding:
        lins += tuple(Linear(name=f"{p}_sconv.weight_proj", in_features=h, out_features=kv * kernel) for p in "kv")
    channels = 2 * kv * hd + 2 * h
    queries = 0 if i == 0 else (1 if sliding else 3)
    other = (channels * kernel + heads * hd + heads * d_rel + d_rel * (window if sliding else r.int("rel_extent"))
             + (queries + 1) * h + (2 if sliding else 4) * h)
    att = Attention(kind="sliding" if sliding else "full", num_heads=heads, num_kv_heads=kv, head_dim=hd,
                    v_head_dim=hd, window=window if sliding else None)
    state = StateCache(kind="conv", conv_elements=channels * kernel, recurrent_elements=0, channels=channels,
                       mixer="short_conv")
    return L.Part(linears=lins, other=other, attention=att, state=state)


def _model_vectors2(r: Reading, b: Basics) -> tuple[Component, ...]:
    """The embedding's RMSNorm and the final block-mixing query (final_input)."""
    return (Component(name="embed_norm", kind="other", blocks=(
        Block(name="embed_norm_and_final_input", other_params=2 * b.hidden),)),)


FAMILIES["inkling2_text"] = Family(
    modeling="transformers models/inkling2/modeling_inkling2.py", kinds=_kinds2, attention=_attention2,
    norms_per_layer=0, never_tied=True, extra=_model_vectors2, always_moe=True,
    aliases={"sliding_window_size": "sliding_window", "n_routed_experts": "num_local_experts",
             "conv_kernel_size": "sconv_kernel_size", "max_position_embeddings": "model_max_length",
             "moe_intermediate_size": "intermediate_size"},
    defaults={"head_dim": 128, "swa_num_attention_heads": 48, "swa_num_key_value_heads": 8, "swa_head_dim": 128,
              "sliding_window_size": 1024, "d_rel": 16, "rel_extent": 1024, "conv_kernel_size": 4,
              "moe_intermediate_size": 2304, "n_routed_experts": 384, "num_experts_per_tok": 8})
