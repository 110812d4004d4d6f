"""Hybrid and state-space decoders: layers of linear attention or Mamba beside attention layers.

Files followed (transformers 5.23): models/qwen3_next/modeling_qwen3_next.py (Gated DeltaNet; Qwen3.5
reuses it in modeling_qwen3_5), models/jamba/modeling_jamba.py (Mamba with dt/B/C norms),
models/nemotron_h/modeling_nemotron_h.py and models/granitemoehybrid/modeling_granitemoehybrid.py
(Mamba-2), models/mamba/modeling_mamba.py, models/mamba2/modeling_mamba2.py,
models/zamba/modeling_zamba.py and models/zamba2/modeling_zamba2.py (shared blocks between Mamba layers).
"""

from __future__ import annotations

import math
from dataclasses import replace

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading, layer_kinds
from vram.errors import ConfigError
from vram.model import Block, Component, Linear


def _m(name: str) -> str:
    return f"transformers models/{name}/modeling_{name}.py"


def _deltanet(r: Reading, b: Basics, kind: str, i: int, *, split: bool = False) -> L.Part:
    return L.gated_deltanet(b.hidden, k_heads=r.int("linear_num_key_heads"), v_heads=r.int("linear_num_value_heads"),
                            k_dim=r.int("linear_key_head_dim"), v_dim=r.int("linear_value_head_dim"),
                            kernel=r.int("linear_conv_kernel_dim"), split=split)


def _deltanet_qwen3_5(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """modeling_qwen3_5 Qwen3_5GatedDeltaNet: Qwen3-Next's layer with its input projections split."""
    return _deltanet(r, b, kind, i, split=True)


def _dt_rank(r: Reading, key: str, h: int) -> int:
    value = r.raw(key, "auto")
    return math.ceil(h / 16) if value == "auto" else r.int(key)


def _mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    return L.mamba1(h, inner=r.int("intermediate_size"), state=r.int("state_size"),
                    dt_rank=_dt_rank(r, "time_step_rank", h), kernel=r.int("conv_kernel"),
                    conv_bias=r.bool("use_conv_bias", True), bias=r.bool("use_bias", False))


def _jamba_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    return L.mamba1(h, inner=r.int("mamba_expand") * h, state=r.int("mamba_d_state"),
                    dt_rank=_dt_rank(r, "mamba_dt_rank", h), kernel=r.int("mamba_d_conv"),
                    conv_bias=r.bool("mamba_conv_bias", True), bias=r.bool("mamba_proj_bias", False), dt_norms=True)


def _mamba2(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    heads, hd = r.int("num_heads"), r.int("head_dim")
    return L.mamba2(b.hidden, inner=r.int("expand") * b.hidden, heads=heads, head_dim=hd, groups=r.int("n_groups"),
                    state=r.int("state_size"), kernel=r.int("conv_kernel"), conv_bias=r.bool("use_conv_bias", True),
                    bias=r.bool("use_bias", False), chunk=r.int("chunk_size", 256))


def _nemotron_h_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    heads, hd = r.int("mamba_num_heads"), r.int("mamba_head_dim")
    return L.mamba2(b.hidden, inner=heads * hd, heads=heads, head_dim=hd, groups=r.int("n_groups"),
                    state=r.int("ssm_state_size"), kernel=r.int("conv_kernel"),
                    conv_bias=r.bool("use_conv_bias", True), bias=r.bool("mamba_proj_bias", False),
                    chunk=r.int("chunk_size", 256), ssm_cache_dtype=_opt_str(r.raw("mamba_ssm_cache_dtype")))


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _granite_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    heads, inner = r.int("mamba_n_heads"), r.int("mamba_expand") * b.hidden
    hd = inner // heads if r.raw("mamba_d_head") == "auto" else r.int("mamba_d_head")  # BambaConfig's "auto"
    return L.mamba2(b.hidden, inner=inner, heads=heads, head_dim=hd,
                    groups=r.int("mamba_n_groups"), state=r.int("mamba_d_state"), kernel=r.int("mamba_d_conv"),
                    conv_bias=r.bool("mamba_conv_bias", True), bias=r.bool("mamba_proj_bias", False),
                    chunk=r.int("mamba_chunk_size", 256))


_QWEN3_NEXT = Family(modeling=_m("qwen3_next"), qk_norm="head", q_gate=True, shared_gate=True, mixer=_deltanet,
                     defaults={"full_attention_interval": 4, "linear_conv_kernel_dim": 4})
FAMILIES: dict[str, Family] = {
    "qwen3_next": _QWEN3_NEXT,
    "qwen3_5_text": replace(_QWEN3_NEXT, modeling=_m("qwen3_5"), mixer=_deltanet_qwen3_5),
    "qwen3_5_moe_text": replace(_QWEN3_NEXT, modeling=_m("qwen3_5_moe"), mixer=_deltanet_qwen3_5),
    "jamba": Family(modeling=_m("jamba"), mixer=_jamba_mamba, expert_width_key="intermediate_size",
                    defaults={"attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
                              "expert_layer_offset": 1, "mamba_expand": 2, "mamba_d_conv": 4, "mamba_d_state": 16}),
    "mamba": Family(modeling=_m("mamba"), mixer=_mamba, mlp=False, attention_free=True, norms_per_layer=1,
                    tied_default=True, pattern="mamba", defaults={"state_size": 16, "conv_kernel": 4}),
    "mamba2": Family(modeling=_m("mamba2"), mixer=_mamba2, mlp=False, attention_free=True, norms_per_layer=1,
                     pattern="mamba", defaults={"state_size": 128, "conv_kernel": 4, "expand": 2, "n_groups": 8}),
    "nemotron_h": Family(modeling=_m("nemotron_h"), mixer=_nemotron_h_mamba, gated=False, norms_per_layer=1,
                         expert_width_key="moe_intermediate_size", expert_latent_key="moe_latent_size",
                         never_tied=True,  # NemotronHForCausalLM's _tied_weights_keys is empty
                         defaults={"mamba_num_heads": 128, "mamba_head_dim": 64, "n_groups": 8, "ssm_state_size": 128,
                                   "conv_kernel": 4, "chunk_size": 128}),
    "granitemoehybrid": Family(modeling=_m("granitemoehybrid"), mixer=_granite_mamba,
                               expert_width_key="intermediate_size", shared_width_key="shared_intermediate_size",
                               always_moe=True),
}


def _lightning(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    return L.lightning(b.hidden, heads=b.heads, head_dim=b.head_dim, block=r.int("block_size"))


def _minimax_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layer_types, else attention on even layers and lightning attention on odd ones (MiniMaxConfig)."""
    if r.has("layer_types"):
        return layer_kinds(r, n)
    return ["full" if (i + 1) % 2 else "linear" for i in range(n)], None


# MiniMax-Text-01: Mixtral's experts; lightning attention layers between softmax attention layers.
FAMILIES["minimax"] = Family(modeling=_m("minimax"), kinds=_minimax_kinds, mixer=_lightning,
                             expert_width_key="intermediate_size",
                             defaults={"block_size": 256, "num_key_value_heads": 8, "num_experts_per_tok": 2})
# Falcon-Mamba: Mamba's layers; its extra RMSNorms on B, C and dt have no weight.
FAMILIES["falcon_mamba"] = FAMILIES["mamba"]


def _bamba_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """Attention at attn_layer_indices, Mamba-2 elsewhere (BambaConfig.layers_block_type)."""
    if r.has("layers_block_type") or r.has("layer_types"):
        return layer_kinds(r, n)
    chosen = set(r.int_list("attn_layer_indices")) if r.has("attn_layer_indices") else set()
    return ["full" if i in chosen else "mamba" for i in range(n)], None


def _olmo_hybrid_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    if r.has("layer_types"):
        return layer_kinds(r, n)
    return ["full" if i % 4 == 3 else "linear" for i in range(n)], None


def _olmo_deltanet(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """OlmoHybridGatedDeltaNet: Qwen3-Next's Gated DeltaNet with separate q, k, v, g, a and b projections
    (the same parameters); its sizes default from the attention heads (OlmoHybridConfig)."""
    k_heads = r.int("linear_num_key_heads") if r.has("linear_num_key_heads") else b.heads
    v_heads = r.int("linear_num_value_heads") if r.has("linear_num_value_heads") else b.heads
    k_dim = r.int("linear_key_head_dim") if r.has("linear_key_head_dim") else int(0.75 * b.hidden / k_heads)
    v_dim = r.int("linear_value_head_dim") if r.has("linear_value_head_dim") else 2 * k_dim
    return L.gated_deltanet(b.hidden, k_heads=k_heads, v_heads=v_heads, k_dim=k_dim, v_dim=v_dim,
                            kernel=r.int("linear_conv_kernel_dim"))


FAMILIES.update({
    # Mamba-2 layers (Granite 4's mixer) with attention at attn_layer_indices; every layer has a dense MLP.
    "bamba": Family(modeling=_m("bamba"), kinds=_bamba_kinds, mixer=_granite_mamba, defaults={
        "mamba_n_heads": 128, "mamba_d_head": "auto", "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4,
        "mamba_expand": 2, "mamba_chunk_size": 256, "num_key_value_heads": 8}),
    # OLMo 3's attention layers (q/k norms over all heads, post-norms) between Gated DeltaNet layers.
    "olmo_hybrid": Family(modeling=_m("olmo_hybrid"), qk_norm="full", kinds=_olmo_hybrid_kinds, mixer=_olmo_deltanet,
                          defaults={"linear_conv_kernel_dim": 4}),
})


# ---- Zamba ------------------------------------------------------------------------------------
# models/zamba/modeling_zamba.py: Mamba layers (ZambaMambaMixer: n_mamba_heads heads whose stacked
# x_proj / dt_proj hold the same number of weights as one Mamba's), and hybrid layers that run one
# shared transformer block (attention over the concatenated hidden state and embeddings, 2 x hidden
# wide in, and a gated MLP) through a per-layer linear before their own Mamba layer. The shared block's
# weights are tied across the hybrid layers (ZambaModel._tied_weights_keys), which transformers 5.x
# applies only under tie_word_embeddings: counted once then, once per hybrid layer otherwise. Each
# hybrid layer caches its own K/V.

def _zamba_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layers_block_type, else ZambaConfig's rule: two Mamba layers, a hybrid one, then hybrid where
    i % attn_layer_period == attn_layer_offset over the remaining layers."""
    value = r.raw("layers_block_type")
    if isinstance(value, list):
        types = [str(t) for t in value]
    else:
        period, offset = r.int("attn_layer_period"), r.int("attn_layer_offset", minimum=0)
        types = ["mamba", "mamba", "hybrid"] + ["hybrid" if i % period == offset else "mamba" for i in range(n - 3)]
    if len(types) != n or any(t not in ("mamba", "linear_attention", "hybrid") for t in types):
        raise ConfigError(f"config field 'layers_block_type' must name {n} layers as mamba or hybrid")
    return ["full" if t == "hybrid" else "mamba" for t in types], ["none"] * n


def _zamba_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    return L.mamba1(h, inner=r.int("mamba_expand") * h, state=r.int("mamba_d_state"),
                    dt_rank=_dt_rank(r, "mamba_dt_rank", h), kernel=r.int("mamba_d_conv"),
                    conv_bias=r.bool("mamba_conv_bias", True), bias=r.bool("mamba_proj_bias", False))


def _zamba_dims(r: Reading, b: Basics) -> tuple[int, int]:
    """(attention input width, head dim): 2 x hidden and 2 x hidden // heads unless the config says."""
    width = r.int("attention_hidden_size") if r.has("attention_hidden_size") else 2 * b.hidden
    hd = r.int("attention_head_dim") if r.has("attention_head_dim") else 2 * b.hidden // b.heads
    return width, hd


def _zamba_hybrid(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """A hybrid layer's own weights (its linear and its Mamba layer) and the K/V its call of the shared
    block caches."""
    _, hd = _zamba_dims(r, b)
    mamba = _zamba_mamba(r, b, "mamba", i)
    att = L.attention(b.hidden, b.heads, b.kv_heads, hd).attention
    return L.Part(linears=(Linear(name="linear", in_features=b.hidden, out_features=b.hidden),) + mamba.linears,
                  other=mamba.other, attention=att, state=mamba.state)


def _zamba_shared(r: Reading, b: Basics) -> tuple[Component, ...]:
    h = b.hidden
    width, hd = _zamba_dims(r, b)
    att = L.attention(width, b.heads, b.kv_heads, hd)
    lins = tuple(replace(lin, out_features=h) if lin.name == "o_proj" else lin for lin in att.linears)
    lins += L.mlp(h, r.int("intermediate_size"))
    copies = 1 if r.bool("tie_word_embeddings", True) else _zamba_kinds(r, b.layers)[0].count("full")
    return (Component(name="shared_transformer", kind="decoder", blocks=(
        Block(name="shared_transformer", linears=lins, other_params=width + h, count=copies),)),)  # two RMSNorms


FAMILIES["zamba"] = Family(modeling=_m("zamba"), kinds=_zamba_kinds, mixer=_zamba_mamba, attention=_zamba_hybrid,
                           extra=_zamba_shared, norms_per_layer=1, tied_default=True,
                           defaults={"vocab_size": 32000, "hidden_size": 3712, "intermediate_size": 14848,
                                     "num_hidden_layers": 76, "num_attention_heads": 16, "num_key_value_heads": 16,
                                     "attn_layer_period": 6, "attn_layer_offset": 4, "mamba_d_state": 16,
                                     "mamba_d_conv": 4, "mamba_expand": 2})


# ---- Zamba2 -----------------------------------------------------------------------------------
# models/zamba2/modeling_zamba2.py: Mamba-2 layers and hybrid layers as in Zamba, with num_mem_blocks
# shared blocks used in turn (hybrid call i runs block i % num_mem_blocks) and, inside each block, a
# LoRA-style adapter per call it serves (on gate_up; on q, k and v too with use_shared_attention_adapter).
# Zamba2Config derives attention_hidden_size (2 x hidden), the head dim (2 x hidden / heads) and
# mamba_headdim (inner / n_mamba_heads) whatever the config says. Tying as for Zamba.

def _zamba2_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    value = r.raw("layers_block_type")
    types = [str(t) for t in value] if isinstance(value, list) else (
        ["mamba"] + (["mamba"] * 5 + ["hybrid"]) * 7 + ["mamba"] * 4 + ["hybrid"] + ["mamba"] * 3 + ["hybrid"]
        + ["mamba"] * 2)
    if len(types) != n or any(t not in ("mamba", "linear_attention", "hybrid") for t in types):
        raise ConfigError(f"config field 'layers_block_type' must name {n} layers as mamba or hybrid")
    return ["full" if t == "hybrid" else "mamba" for t in types], ["none"] * n


def _zamba2_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads = b.hidden, r.int("n_mamba_heads")
    inner = r.int("mamba_expand") * h
    return L.mamba2(h, inner=inner, heads=heads, head_dim=inner // heads, groups=r.int("mamba_ngroups"),
                    state=r.int("mamba_d_state"), kernel=r.int("mamba_d_conv"), conv_bias=True,
                    bias=r.bool("add_bias_linear", False), chunk=r.int("chunk_size", 256))


def _zamba2_hybrid(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    mamba = _zamba2_mamba(r, b, "mamba", i)
    att = L.attention(b.hidden, b.heads, b.kv_heads, 2 * b.hidden // b.heads).attention
    return L.Part(linears=(Linear(name="linear", in_features=b.hidden, out_features=b.hidden),) + mamba.linears,
                  other=mamba.other, attention=att, state=mamba.state)


def _zamba2_shared(r: Reading, b: Basics) -> tuple[Component, ...]:
    h, width, width_ff = b.hidden, 2 * b.hidden, r.int("intermediate_size")
    hd, rank, bias = 2 * b.hidden // b.heads, r.int("adapter_rank"), r.bool("add_bias_linear", False)
    att = L.attention(width, b.heads, b.kv_heads, hd)
    base = tuple(replace(lin, out_features=h) if lin.name == "o_proj" else lin for lin in att.linears)
    base += L.mlp(h, width_ff, fused=True, bias=bias)
    adapter: tuple[Linear, ...] = (Linear(name="gate_up_adapter.0", in_features=h, out_features=rank),
                                   Linear(name="gate_up_adapter.1", in_features=rank, out_features=2 * width_ff))
    if r.bool("use_shared_attention_adapter", False):
        adapter += tuple(Linear(name=f"{p}_adapter.{j}", in_features=width if j == 0 else rank,
                                out_features=rank if j == 0 else width) for p in "qkv" for j in (0, 1))
    calls = _zamba2_kinds(r, b.layers)[0].count("full")
    mem = r.int("num_mem_blocks")
    blocks = min(mem, calls)
    if not r.bool("tie_word_embeddings", True):
        # untied: every hybrid layer holds its block whole, with the adapters of every call that block serves
        blocks = calls
        adapters = sum(sum(1 for j in range(calls) if j % mem == c % mem) for c in range(calls))
    else:
        adapters = calls
    return (Component(name="shared_transformer", kind="decoder", blocks=(
        Block(name="shared_transformer", linears=base, other_params=width + h, count=blocks),
        Block(name="shared_adapters", linears=adapter, count=adapters))),)


FAMILIES["zamba2"] = Family(modeling=_m("zamba2"), kinds=_zamba2_kinds, mixer=_zamba2_mamba, attention=_zamba2_hybrid,
                            extra=_zamba2_shared, norms_per_layer=1, tied_default=True,
                            defaults={"vocab_size": 32000, "hidden_size": 2560, "intermediate_size": 10240,
                                      "num_hidden_layers": 54, "num_attention_heads": 32, "mamba_d_state": 64,
                                      "mamba_d_conv": 4, "mamba_expand": 2, "mamba_ngroups": 1, "n_mamba_heads": 8,
                                      "num_mem_blocks": 1, "adapter_rank": 128, "chunk_size": 256})
