"""config.json -> ModelSpec for any decoder: the generic reading plus a family's delta.

A :class:`Family` says only what differs from the generic reading (which biases, norms and
gates a model's transformers class builds, its class defaults, its odd layers); the builder here
reads everything else through :mod:`vram.architectures.reader` and assembles the layers from
:mod:`vram.architectures.layers`. With no family (a model_type nobody has described) the same
reading answers, with a note that the family is unverified and the fields it used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vram.architectures import layers as L
from vram.architectures._config import Cfg
from vram.architectures.layers import lm_head
from vram.architectures.reader import (
    EXPERTS,
    EXPERTS_PER_TOKEN,
    MLP_WIDTH,
    SHARED_EXPERTS,
    SHARED_WIDTH,
    Basics,
    Reading,
    indexer_layers,
    layer_kinds,
    moe_layers,
    positive_float,
    read_basics,
    require_basics,
    sliding_window,
)
from vram.errors import ConfigError
from vram.model import Block, Component, Linear, ModelSpec, TextDims

Mixer = Callable[[Reading, Basics, str, int], L.Part]
"""A family's builder of a non-attention token mixer (kind 'linear', 'mamba' or 'conv') for layer i."""
Kinds = Callable[[Reading, int], tuple[list[str], list[str] | None]]
"""A family's own reading of each layer's token mixer (and MLP: moe, dense or none)."""


@dataclass(frozen=True)
class Family:
    """What one model_type's transformers class does differently from the generic reading."""

    modeling: str
    """The transformers file (or remote-code file) this family follows."""
    defaults: Mapping[str, object] = field(default_factory=dict)
    """The config class's defaults for fields other than the basics."""
    pattern: str = "none"
    qkv_bias: bool | str = "attention_bias"
    o_bias: bool | str = "attention_bias"
    mlp_bias: bool | str = "mlp_bias"
    fused_qkv: bool = False
    fused_gate_up: bool = False
    gated: bool = True
    qk_norm: str = "none"
    qk_norm_key: str | None = None
    norm_size: int = 1
    norms_per_layer: int = 2
    final_norm: bool = True
    tied_default: bool = False
    sinks: bool = False
    q_gate: bool = False
    dsa: bool = False
    shared_gate: bool = False
    router_bias: bool = False
    expert_bias: bool = False
    expert_width_key: str = "moe_intermediate_size"
    expert_latent_key: str | None = None
    """The config key of a latent width the routed experts run in, when set: a projection from the
    hidden size into it before the experts and one back after them (NemotronH's moe_latent_size)."""
    dense_width_key: str | None = None
    nope_rope: bool = False
    mtp: bool = False
    mixer: Mixer | None = None
    layer_other: Callable[[Reading, Basics, str, bool], int] | None = None
    """Extra parameters of a layer (kind, is_moe) outside its parts (more norms, scales)."""
    head_bias: bool | str = False
    shared_width_key: str | None = None
    """The config key of the (single) shared expert's width, when it is not one of the usual names."""
    always_moe: bool = False
    """Every layer has experts, even one (Hunyuan's class builds its MoE block for num_experts 1)."""
    router_score_bias: bool = False
    """A learned per-expert score correction counted as a parameter (ERNIE 4.5's moe_statics)."""
    mlp: bool = True
    """False for pure state-space models (Mamba): a layer is its mixer alone."""
    attention_free: bool = False
    kinds: Kinds | None = None
    """The family's own rule for the kind of each layer, when the generic one does not apply."""
    attention: Mixer | None = None
    """The family's own attention of layer i (kind full / sliding / chunked), replacing the generic one."""
    parallel: Mixer | None = None
    """A second token mixer beside every attention layer's (Falcon-H1's Mamba-2 in parallel)."""
    dense_width: Callable[[Reading, int], int] | None = None
    """The dense MLP width of layer i, when the class derives it (LFM2) or it varies by layer."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Other names the class accepts for a field (its attribute_map and renamed kwargs)."""
    head_dim_floor: bool = False
    """Without head_dim, the class takes hidden_size // num_attention_heads even when it does not divide."""
    layer_parts: Mixer | None = None
    """More parts of layer i beside its token mixer and MLP (Gemma 3n's AltUp, Laurel, per-layer input)."""
    extra: Callable[[Reading, Basics], tuple[Component, ...]] | None = None
    """Model-level parts outside the layers, placed after the embeddings (Gemma 3n's per-layer embeddings)."""
    encoder: bool = False
    """A bidirectional encoder built from decoder layers (EuroBERT): no causal mask, no KV cache."""
    never_tied: bool = False
    """The class keeps lm_head apart whatever tie_word_embeddings says (CPM-Ant: its input table is longer)."""
    sublayers: int = 1
    """Attention + MLP sublayers in one transformers decoder layer, each with its own cache (LongCat-Flash: 2):
    vram counts the sublayers as the layers. The config's ``num_layers`` counts decoder layers (its
    ``num_hidden_layers``, when only that is given, counts the sublayers)."""
    final_other: Callable[[Reading, Basics], int] | None = None
    """Parameters beside the final norm (DeepSeek-V4's hc_head, which collapses the residual streams)."""
    own_router: bool = False
    """The family's layer_parts build the router (ZAYA's MLP router) instead of one h x experts matrix."""
    rewrite: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    """The config class's __post_init__ where it moves one field into another (Inkling's
    dense_intermediate_size), applied to config.json before the reading."""
    unrouted_default: bool = False
    """The config class's experts per token defaults to None (DeepseekV2Config): transformers builds
    every expert but cannot route a token; without the field every expert is taken as active."""


GENERIC = Family(modeling="(none: the generic reading)")


def _flag(r: Reading, value: bool | str) -> bool:
    return value if isinstance(value, bool) else r.bool(value, False)


def _top_k(r: Reading, f: Family) -> int | None:
    """Experts per token; None where the class leaves it unset (every expert then counts as active)."""
    if f.unrouted_default and r.first_key(EXPERTS_PER_TOKEN) is None:
        return None
    return r.first_int(EXPERTS_PER_TOKEN)


def _experts(r: Reading, f: Family, b: Basics, dense_width: int | None) -> L.Part:
    """Routed experts, the router, and shared experts (however the config names them)."""
    h = b.hidden
    e = r.first_int(EXPERTS)
    k = _top_k(r, f)
    width = r.int(f.expert_width_key) if r.has(f.expert_width_key) else r.first_int(MLP_WIDTH)
    eb = f.expert_bias
    latent = r.opt_int(f.expert_latent_key) if f.expert_latent_key else None
    lins = L.mlp(latent or h, width, gated=f.gated, fused=True, bias=eb, prefix="experts.", copies=e, active=k)
    if latent:
        mb = _flag(r, f.mlp_bias)
        lins += (Linear(name="fc1_latent_proj", in_features=h, out_features=latent, bias=mb),
                 Linear(name="fc2_latent_proj", in_features=latent, out_features=h, bias=mb))
    if not f.own_router:
        lins += (Linear(name="router", in_features=h, out_features=e, bias=f.router_bias),)
    shared = 0
    key = f.shared_width_key if f.shared_width_key and r.has(f.shared_width_key) else r.first_key(SHARED_WIDTH)
    n_shared = r.first_int(SHARED_EXPERTS, 0, minimum=0)
    if key is not None and key == f.shared_width_key:
        shared = r.int(key, minimum=0)  # one shared MLP of that width, whatever else the config says
    elif key is not None and (n_shared or r.first_key(SHARED_EXPERTS) is None):
        shared = r.int(key, minimum=0) * max(n_shared, 1)
    elif n_shared:
        shared = width * n_shared
    if shared:
        lins += L.mlp(h, shared, gated=f.gated, bias=eb, prefix="shared_expert.")
        if f.shared_gate:
            lins += (Linear(name="shared_expert_gate", in_features=h, out_features=1),)
    return L.Part(linears=lins, other=e if f.router_score_bias else 0)


def build(cfg: Cfg, model_type: str, family: Family | None, *, model_id: str) -> ModelSpec:
    """Build the ModelSpec of a decoder config; ``family`` None reads it generically."""
    f = family or GENERIC
    if f.rewrite is not None:
        cfg = Cfg(f.rewrite(cfg._data), where=cfg._where, used=cfg.used)
    r = Reading(cfg, f.defaults, f.aliases)
    has_experts = r.first_key(EXPERTS) is not None
    require_basics(r, model_type, needs_mlp=not has_experts and f.mlp and f.mixer is None and f.dense_width is None,
                   needs_heads=not f.attention_free)
    b = read_basics(r, needs_heads=not f.attention_free, floor=f.head_dim_floor)
    if f.sublayers > 1 and r.has("num_layers") and (r.given("num_layers") or not r.given("num_hidden_layers")):
        b = replace(b, layers=r.int("num_layers") * f.sublayers)
    h, n = b.hidden, b.layers
    kinds, mlp_kinds = f.kinds(r, n) if f.kinds else layer_kinds(r, n, pattern=f.pattern)
    if not f.mlp:
        mlp_kinds = ["none"] * n
    moe = [m == "moe" for m in mlp_kinds] if mlp_kinds else moe_layers(r, n)
    if f.always_moe and has_experts:
        moe = [True] * n
    dense_width = 0 if f.dense_width else r.int(f.dense_width_key) if f.dense_width_key and \
        r.has(f.dense_width_key) else r.first_int(MLP_WIDTH, 0, minimum=0)
    window = sliding_window(r)
    chunk = r.opt_int("attention_chunk_size")
    mla = r.has("kv_lora_rank")
    indexed = indexer_layers(r, n) if f.dsa else [False] * n
    qk_norm = f.qk_norm if f.qk_norm_key is None or r.bool(f.qk_norm_key, False) else "none"
    layers: list[Block] = []
    for i in range(n):
        kind = kinds[i]
        if kind in ("linear", "mamba", "conv"):
            if f.mixer is None:
                raise ConfigError(f"layer {i} is a {kind} layer, which model_type {model_type!r} does not describe")
            mixer = f.mixer(r, b, kind, i)
        elif kind == "none":
            mixer = L.Part()
        elif f.attention is not None:
            mixer = f.attention(r, b, kind, i)
        elif mla:
            mixer = L.mla(h, b.heads, kv_rank=r.int("kv_lora_rank"), q_rank=r.opt_int("q_lora_rank"),
                          rope=r.int("qk_rope_head_dim"), nope=r.int("qk_nope_head_dim"), v_dim=r.int("v_head_dim"),
                          index_heads=r.int("index_n_heads") if indexed[i] else 0,
                          index_dim=r.int("index_head_dim") if indexed[i] else 0,
                          # every transformers MLA class biases q_a_proj and kv_a_proj_with_mqa by attention_bias
                          o_bias=_flag(r, f.o_bias), a_bias=_flag(r, f.qkv_bias))
        else:
            if kind == "sliding" and window is None:
                raise ConfigError("config field 'sliding_window' is missing and is needed for sliding layers")
            if kind == "chunked" and chunk is None:
                raise ConfigError("config field 'attention_chunk_size' is missing and is needed for chunked layers")
            mixer = L.attention(h, b.heads, b.kv_heads, b.head_dim, kind=kind,
                                window=window if kind == "sliding" else chunk if kind == "chunked" else None,
                                qkv_bias=_flag(r, f.qkv_bias), o_bias=_flag(r, f.o_bias), fused=f.fused_qkv,
                                q_gate=f.q_gate, qk_norm=qk_norm, norm_size=f.norm_size, sinks=f.sinks,
                                v_dim=r.int("v_head_dim") if r.has("v_head_dim") else None)
        if f.parallel is not None and mixer.attention is not None:
            side = f.parallel(r, b, kind, i)
            mixer = L.Part(linears=mixer.linears + side.linears, other=mixer.other + side.other,
                           attention=mixer.attention, state=side.state)
        if mlp_kinds is not None and mlp_kinds[i] == "none":
            channel, width, k, ew = L.Part(), 0, 0, 0
        elif moe[i]:
            channel = _experts(r, f, b, dense_width)
            k = _top_k(r, f) or r.first_int(EXPERTS)
            ew = r.int(f.expert_width_key) if r.has(f.expert_width_key) else r.first_int(MLP_WIDTH)
            width = sum(lin.out_features for lin in channel.linears if lin.name == "shared_expert.up_proj")
        else:
            if f.dense_width is not None:
                dense_width = f.dense_width(r, i)
            if not dense_width:
                raise ConfigError("config field 'intermediate_size' is missing and is needed for the dense layers")
            channel = L.Part(linears=L.mlp(h, dense_width, gated=f.gated, fused=f.fused_gate_up,
                                           bias=_flag(r, f.mlp_bias)))
            width, k, ew = dense_width, 0, 0
        extra = f.layer_other(r, b, kind, moe[i]) if f.layer_other else 0
        more = f.layer_parts(r, b, kind, i) if f.layer_parts else L.Part()
        norms = f.norms_per_layer
        layers.append(Block(name="decoder_layer", linears=mixer.linears + channel.linears + more.linears,
                            other_params=mixer.other + channel.other + more.other + norms * f.norm_size * h + extra,
                            attention=mixer.attention, state=mixer.state, mlp_width=width,
                            gated_mlp=f.gated, experts_per_token=k or more.experts_per_token,
                            expert_width=ew or more.expert_width))
    return assemble(r, f, b, model_type, layers, model_id=model_id, cfg=cfg, generic=family is None)


def assemble(r: Reading, f: Family, b: Basics, model_type: str, layers: list[Block], *, model_id: str,
             cfg: Cfg, generic: bool) -> ModelSpec:
    """Embeddings, layers, the final norm and lm_head (unless tied), MTP layers, notes."""
    h, vocab = b.hidden, b.vocab
    tied = not f.never_tied and r.bool("tie_word_embeddings", f.tied_default)
    components = [
        Component(name="embeddings", kind="embedding", blocks=(Block(name="embed_tokens",
                                                                     embedding_params=vocab * h),)),
        *(f.extra(r, b) if f.extra else ()),
        Component(name="decoder", kind="decoder",
                  blocks=merge(layers) + (Block(name="final_norm", other_params=(f.norm_size * h if f.final_norm else 0)
                                                + (f.final_other(r, b) if f.final_other else 0)),)),
    ]
    notes: list[str] = []
    if tied:
        notes.append("lm_head is tied to the input embeddings: counted once")
    else:
        components.append(lm_head(h, vocab, bias=_flag(r, f.head_bias)))
    n_mtp = r.int("num_nextn_predict_layers", 0, minimum=0) if f.mtp else 0
    if n_mtp:
        last = layers[-1]
        components.append(Component(name="mtp", kind="mtp", loaded=False, blocks=(
            replace(last, name="mtp_layer", count=n_mtp, indices=(), linears=last.linears + (
                Linear(name="eh_proj", in_features=2 * h, out_features=h),
                Linear(name="shared_head.head", in_features=h, out_features=vocab)),
                embedding_params=vocab * h, other_params=last.other_params + 3 * h),)))
        notes.append(f"{n_mtp} multi-token-prediction layer(s) stored in the checkpoint are not built by "
                     "transformers: not counted in parameters or weights")
    if f.unrouted_default and r.first_key(EXPERTS) and r.first_key(EXPERTS_PER_TOKEN) is None \
            and any(blk.experts_per_token for blk in layers):
        notes.append("num_experts_per_tok is unset (the class default is None): transformers builds the experts "
                     "but cannot route tokens; every expert is counted as active (an upper bound)")
    if r.defaults_used and not generic:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(r.defaults_used.items()) if not isinstance(v, dict))
        if shown:
            notes.append(f"not in config.json, {model_type}'s class default used: {shown}")
    if generic:
        fields = ", ".join(sorted(k for k in r.used if ":" not in k and k != "model_type"))
        notes.append(f"family unverified: {model_type!r} read as a generic decoder; fields used: {fields}")
    if f.encoder:
        notes.append("encoder (masked-LM head): bidirectional attention, no KV cache")
    text = TextDims(hidden_size=h, num_layers=b.layers, num_heads=b.heads, vocab_size=vocab,
                    max_position_embeddings=r.opt_int("max_position_embeddings"),
                    attention_dropout=positive_float(r, "attention_dropout"), causal=not f.encoder)
    dtype = cfg.raw("torch_dtype") or cfg.raw("dtype")
    return ModelSpec(id=model_id, model_type=model_type, components=tuple(components), text=text,
                     tied_embeddings=tied, checkpoint_dtype=dtype if isinstance(dtype, str) else None,
                     notes=tuple(notes), config_keys=tuple(sorted(r.used)))


def merge(layers: list[Block]) -> tuple[Block, ...]:
    """Group identical layers into one Block with a count, in order of first appearance; a group whose
    layers are not the ones following the previous group keeps their indices."""
    out: list[Block] = []
    where: list[list[int]] = []
    for i, layer in enumerate(layers):
        for j, seen in enumerate(out):
            if seen == layer:
                where[j].append(i)
                break
        else:
            out.append(layer)
            where.append([i])
    blocks: list[Block] = []
    first = 0
    for blk, idx in zip(out, where, strict=True):
        contiguous = idx == list(range(first, first + len(idx)))
        blocks.append(replace(blk, count=len(idx), indices=() if contiguous else tuple(idx)))
        first += len(idx)
    return tuple(blocks)
