"""Decoders whose other token mixers keep a convolution or recurrent state: Falcon-H1, LFM2, Kimi Linear.

Files followed (transformers 5.23): models/falcon_h1/modeling_falcon_h1.py (every layer runs
attention and a Mamba-2 mixer side by side, then the MLP), models/lfm2/modeling_lfm2.py (gated
short convolutions between attention layers; the MLP width derived from intermediate_size),
models/lfm2_moe/modeling_lfm2_moe.py (LFM2's layers with experts after the first num_dense_layers),
models/kimi_linear/modeling_kimi_linear.py (Kimi Delta Attention layers between MLA layers; the
checkpoint's layer plan nested in linear_attn_config). Class defaults and renamed fields from each
configuration_<model_type>.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading, kinds_or, layer_kinds
from vram.errors import ConfigError
from vram.model import Linear


def _m(name: str) -> str:
    return f"transformers models/{name}/modeling_{name}.py"


# ---- Falcon-H1 --------------------------------------------------------------------------------

def _falcon_h1_mamba(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """FalconH1Mixer: Mamba-2 of width mamba_d_ssm (or mamba_expand x hidden), its gated norm optional."""
    inner = r.opt_int("mamba_d_ssm") or r.int("mamba_expand") * b.hidden
    heads = r.int("mamba_n_heads")
    head_dim = inner // heads if r.raw("mamba_d_head") == "auto" else r.int("mamba_d_head")
    return L.mamba2(b.hidden, inner=inner, heads=heads, head_dim=head_dim, groups=r.int("mamba_n_groups"),
                    state=r.int("mamba_d_state"), kernel=r.int("mamba_d_conv"),
                    conv_bias=r.bool("mamba_conv_bias", True), bias=r.bool("mamba_proj_bias", False),
                    norm=r.bool("mamba_rms_norm", False), out_bias=r.bool("projectors_bias", False))


# ---- LFM2 -------------------------------------------------------------------------------------

def _lfm2_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """layer_types, else full_attn_idxs (attention layers; the rest are convolutions), else all attention."""
    if r.has("layer_types"):
        return layer_kinds(r, n)
    if r.has("full_attn_idxs"):
        full = set(r.int_list("full_attn_idxs"))
        return ["full" if i in full else "conv" for i in range(n)], None
    return ["full"] * n, None


def _lfm2_conv(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    return L.short_conv(b.hidden, kernel=r.int("conv_L_cache"), bias=r.bool("conv_bias", False))


def _lfm2_width(r: Reading, i: int) -> int:
    """Lfm2MLP: with block_auto_adjust_ff_dim, 2/3 of intermediate_size times the multiplier, rounded up
    to block_multiple_of."""
    width = r.int("intermediate_size")
    if r.bool("block_auto_adjust_ff_dim", True):
        width = int(2 * width / 3)
        multiplier = r.raw("block_ffn_dim_multiplier")
        if isinstance(multiplier, int | float) and not isinstance(multiplier, bool):
            multiple = r.int("block_multiple_of")
            width = multiple * ((int(multiplier * width) + multiple - 1) // multiple)
    return width


def _lfm2_moe_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """Lfm2MoeDecoderLayer: LFM2's mixers; a dense MLP (intermediate_size as given) in the first
    num_dense_layers layers, a sparse MoE block in the rest."""
    kinds, _ = _lfm2_kinds(r, n)
    dense = r.int("num_dense_layers", 2, minimum=0)
    return kinds, ["dense" if i < dense else "moe" for i in range(n)]


# ---- Kimi Linear ------------------------------------------------------------------------------

def _linear_attn(r: Reading) -> Mapping[str, object]:
    value = r.raw("linear_attn_config")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("config field 'linear_attn_config' must be an object")
    return value


def _nested_int(r: Reading, nested: Mapping[str, object], key: str, flat: str) -> int:
    value = nested.get(key)
    if value is None:
        return r.int(flat)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"config field 'linear_attn_config.{key}' must be a positive integer, got {value!r}")
    return value


def _kimi_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """KimiLinearConfig: layer_types; else linear_attn_config's full_attn_layers and kda_layers (counted
    from 1); else every fourth layer from the fourth is MLA. MLPs: mlp_layer_types, else the first
    first_k_dense_replace (1) layers dense and the rest MoE."""
    nested = _linear_attn(r)
    if r.has("layer_types"):
        kinds, _ = layer_kinds(r, n)
    elif "full_attn_layers" in nested and "kda_layers" in nested:
        kinds = [""] * n
        for key, kind in (("full_attn_layers", "full"), ("kda_layers", "linear")):
            listed = nested[key]
            if not isinstance(listed, list) or not all(isinstance(x, int) and 1 <= x <= n for x in listed):
                raise ConfigError(f"config field 'linear_attn_config.{key}' must list layers from 1 to {n}")
            for x in listed:
                kinds[x - 1] = kind
        if "" in kinds:
            raise ConfigError(f"config field 'linear_attn_config' leaves layer {kinds.index('') + 1} without a kind")
    else:
        kinds = ["full" if i and i % 4 == 0 else "linear" for i in range(n)]
    if r.has("mlp_layer_types"):
        mlp = r.str_list("mlp_layer_types") or []
        if len(mlp) < n:
            raise ConfigError(f"config field 'mlp_layer_types' has {len(mlp)} entries for {n} layers")
        return kinds, ["moe" if t == "sparse" else "dense" for t in mlp[:n]]
    first = r.int("first_k_dense_replace", 1, minimum=0)
    return kinds, ["dense" if i < first else "moe" for i in range(n)]


def _kimi_delta(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    nested = _linear_attn(r)
    return L.kimi_delta(b.hidden, heads=_nested_int(r, nested, "num_heads", "linear_num_heads"),
                        head_dim=_nested_int(r, nested, "head_dim", "linear_head_dim"),
                        kernel=_nested_int(r, nested, "short_conv_kernel_size", "linear_conv_kernel_dim"))


def _kimi_mla(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """KimiLinearAttention: MLA whose q_a, kv_a and o projections take attention_bias."""
    bias = r.bool("attention_bias", False)
    return L.mla(b.hidden, b.heads, kv_rank=r.int("kv_lora_rank"), q_rank=r.opt_int("q_lora_rank"),
                 rope=r.int("qk_rope_head_dim"), nope=r.int("qk_nope_head_dim"), v_dim=r.int("v_head_dim"),
                 o_bias=bias, a_bias=bias)


FAMILIES: dict[str, Family] = {
    "falcon_h1": Family(modeling=_m("falcon_h1"), parallel=_falcon_h1_mamba, defaults={
        "mamba_d_ssm": 1024, "mamba_n_heads": 128, "mamba_d_head": "auto", "mamba_n_groups": 1,
        "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_expand": 2, "num_key_value_heads": 8}),
    "lfm2": Family(modeling=_m("lfm2"), kinds=_lfm2_kinds, mixer=_lfm2_conv, dense_width=_lfm2_width,
                   qkv_bias=False, o_bias=False, qk_norm="head", tied_default=True,
                   aliases={"tie_word_embeddings": "tie_embedding", "intermediate_size": "block_ff_dim"},
                   defaults={"conv_L_cache": 3, "block_multiple_of": 256, "block_ffn_dim_multiplier": 1.0,
                             "num_key_value_heads": 8}),
    "lfm2_moe": Family(modeling=_m("lfm2_moe"), kinds=_lfm2_moe_kinds, mixer=_lfm2_conv, qkv_bias=False,
                       o_bias=False, qk_norm="head", tied_default=True,
                       aliases={"tie_word_embeddings": "tie_embedding"},
                       defaults={"conv_L_cache": 3, "num_key_value_heads": 8, "num_experts": 32,
                                 "num_experts_per_tok": 4, "moe_intermediate_size": 1792, "num_dense_layers": 2}),
    "kimi_linear": Family(modeling=_m("kimi_linear"), kinds=_kimi_kinds, mixer=_kimi_delta, attention=_kimi_mla,
                          aliases={"num_experts_per_tok": "num_experts_per_token", "n_shared_experts":
                                   "num_shared_experts", "num_local_experts": "num_experts",
                                   "max_position_embeddings": "model_max_length"},
                          defaults={"num_local_experts": 256, "linear_head_dim": 128, "linear_num_heads": 32,
                                    "linear_conv_kernel_dim": 4,
                                    "n_shared_experts": 1, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
                                    "qk_nope_head_dim": 128, "v_head_dim": 128, "num_experts_per_tok": 8,
                                    "moe_intermediate_size": 1024}),
}


# ---- Ling 2.5 / Ring (BailingHybrid) ----------------------------------------------------------

def _bailing_delta(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """BailingHybrid's linear layers: Kimi Delta Attention with full-rank forget and output gates."""
    return L.kimi_delta(b.hidden, heads=r.int("linear_num_heads"), head_dim=r.int("linear_head_dim"),
                        kernel=r.int("linear_conv_kernel_dim"), low_rank=False)


def _bailing_mla(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """BailingHybrid's attention layers: MLA (no q_lora_rank: a plain q_proj) with a per-head output gate."""
    part = L.mla(b.hidden, b.heads, kv_rank=r.int("kv_lora_rank"), q_rank=r.opt_int("q_lora_rank"),
                 rope=r.int("qk_rope_head_dim"), nope=r.int("qk_nope_head_dim"), v_dim=r.int("v_head_dim"))
    gate = Linear(name="g_proj", in_features=b.hidden, out_features=b.heads)
    return L.Part(linears=part.linears + (gate,), other=part.other, attention=part.attention)


FAMILIES["bailing_hybrid"] = Family(
    modeling=_m("bailing_hybrid"), mixer=_bailing_delta, attention=_bailing_mla, mtp=True,
    aliases={"max_position_embeddings": "model_max_length"},
    defaults={"linear_num_heads": 32, "linear_head_dim": 128, "linear_conv_kernel_dim": 4})


# ---- LFM3 -------------------------------------------------------------------------------------

def _lfm3_rule(r: Reading, i: int, n: int) -> str:
    """Lfm3Config: full attention at i % 4 == 2, sliding at i % 4 == 0 (after layer 0), convolutions elsewhere."""
    return "full" if i % 4 == 2 else "sliding" if i % 4 == 0 and i > 0 else "conv"


def _lfm3_parts(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """Sandwich norms after the operator and the MLP (use_sandwich_norm); a per-head sigmoid output gate
    g_proj on attention layers (use_attention_gate)."""
    gate = r.bool("use_attention_gate", True) and kind != "conv"
    lins = (Linear(name="g_proj", in_features=b.hidden, out_features=b.heads),) if gate else ()
    return L.Part(linears=lins, other=2 * b.hidden if r.bool("use_sandwich_norm", True) else 0)


# LFM2's gated short convolutions (kernel conv_L_cache) between sliding and full attention layers with q/k
# norms (q/k/v/o biases per attention_bias); the MLP is intermediate_size wide as given; embedding_norm
# stands where the final norm would be.
FAMILIES["lfm3"] = Family(modeling=_m("lfm3"), kinds=kinds_or(_lfm3_rule), mixer=_lfm2_conv, layer_parts=_lfm3_parts,
                          qk_norm="head", tied_default=True,
                          defaults={"conv_L_cache": 7, "head_dim": 128, "sliding_window": 256})
