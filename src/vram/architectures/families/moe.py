"""Mixture-of-experts decoders: where the experts are, their router and shared experts.

Files followed (transformers 5.23): models/<model_type>/modeling_<model_type>.py for each family
below; DeepSeek's multi-head latent attention and DSA indexer from modeling_deepseek_v3 / _v32.
"""

from __future__ import annotations

from dataclasses import replace

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading, kinds_or, layer_kinds, sliding_window
from vram.errors import ConfigError
from vram.model import Linear


def _m(name: str) -> str:
    return f"transformers models/{name}/modeling_{name}.py"


_DEEPSEEK = {"first_k_dense_replace": 0, "moe_layer_freq": 1, "n_shared_experts": 1}
FAMILIES: dict[str, Family] = {
    "mixtral": Family(modeling=_m("mixtral"), pattern="window", expert_width_key="intermediate_size",
                      defaults={"num_key_value_heads": 8}),
    "qwen2_moe": Family(modeling=_m("qwen2_moe"), qkv_bias=True, o_bias=False, shared_gate=True,
                        pattern="qwen2", defaults={"decoder_sparse_step": 1}),
    "qwen3_moe": Family(modeling=_m("qwen3_moe"), qk_norm="head", pattern="qwen2",
                        defaults={"decoder_sparse_step": 1}),
    "deepseek_v2": Family(modeling=_m("deepseek_v2"), mtp=True, defaults=_DEEPSEEK, unrouted_default=True),
    "deepseek_v3": Family(modeling=_m("deepseek_v3"), mtp=True, defaults={**_DEEPSEEK, "first_k_dense_replace": 3,
                                                                          "num_nextn_predict_layers": 1}),
    "deepseek_v32": Family(modeling=_m("deepseek_v32"), mtp=True, dsa=True,
                           defaults={**_DEEPSEEK, "first_k_dense_replace": 3}),
    "glm_moe_dsa": Family(modeling=_m("glm_moe_dsa"), mtp=True, dsa=True,
                          defaults={**_DEEPSEEK, "first_k_dense_replace": 3}),
    "gpt_oss": Family(modeling=_m("gpt_oss"), sinks=True, expert_bias=True, router_bias=True,
                      pattern="alternate", expert_width_key="intermediate_size",
                      defaults={"attention_bias": True, "sliding_window": 128, "head_dim": 64}),
    "glm4_moe": Family(modeling=_m("glm4_moe"), qkv_bias="attention_bias", o_bias=False, qk_norm="head",
                       qk_norm_key="use_qk_norm", mtp=True, head_dim_floor=True,
                       defaults={"first_k_dense_replace": 1}),
    # Dots1: DeepSeek-V3's routing (sigmoid scores, a score-correction buffer, not a parameter) and dense-first
    # layers, with plain GQA attention and per-head q/k norms.
    "dots1": Family(modeling=_m("dots1"), qk_norm="head", defaults={"first_k_dense_replace": 0}),
    # DBRX: fused Wqkv (no biases), LayerNorms without bias, every layer MoE with gated experts (w1, v1, w2);
    # the sizes of attention and experts live in the attn_config and ffn_config sub-configs.
    "dbrx": Family(modeling=_m("dbrx"), fused_qkv=True, qkv_bias=False, o_bias=False, always_moe=True,
                   expert_width_key="moe_intermediate_size",
                   aliases={"hidden_size": "d_model", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                            "max_position_embeddings": "max_seq_len", "num_key_value_heads": "attn_config.kv_n_heads",
                            "moe_intermediate_size": "ffn_config.ffn_hidden_size",
                            "intermediate_size": "ffn_config.ffn_hidden_size",
                            "num_local_experts": "ffn_config.moe_num_experts",
                            "num_experts_per_tok": "ffn_config.moe_top_k"},
                   defaults={"hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16,
                             "vocab_size": 32000, "num_key_value_heads": 1, "moe_intermediate_size": 3584,
                             "intermediate_size": 3584, "num_local_experts": 4, "num_experts_per_tok": 1}),
    "minimax_m2": Family(modeling=_m("minimax_m2"), qk_norm="full", expert_width_key="intermediate_size"),
    "olmoe": Family(modeling=_m("olmoe"), qk_norm="full", expert_width_key="intermediate_size"),
    "phimoe": Family(modeling=_m("phimoe"), norm_size=2, qkv_bias="attention_bias",
                     expert_width_key="intermediate_size", head_bias="lm_head_bias"),
    "granitemoe": Family(modeling=_m("granitemoe"), expert_width_key="intermediate_size"),
    "ernie4_5_moe": Family(modeling=_m("ernie4_5_moe"), qkv_bias="use_bias", o_bias="use_bias",
                           mlp_bias="use_bias", tied_default=True, router_score_bias=True),
    "hunyuan_v1_moe": Family(modeling=_m("hunyuan_v1_moe"), qk_norm="head", expert_width_key="intermediate_size",
                             shared_width_key="intermediate_size", always_moe=True),
    "llama4_text": Family(modeling=_m("llama4"), expert_width_key="intermediate_size",
                          dense_width_key="intermediate_size_mlp", shared_width_key="intermediate_size",
                          pattern="llama4", defaults={
                              "vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192,
                              "intermediate_size_mlp": 16384, "num_hidden_layers": 48, "num_attention_heads": 40,
                              "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
                              "num_experts_per_tok": 1, "num_local_experts": 16, "interleave_moe_layer_step": 1,
                              "no_rope_layer_interval": 4, "attention_chunk_size": 8192}),
    # The text model of Qwen3-VL-MoE (vram.architectures.vlm).
    "qwen3_vl_moe_text": Family(modeling=_m("qwen3_vl_moe"), qk_norm="head", defaults={
        "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
        "num_attention_heads": 16, "moe_intermediate_size": 1408, "num_experts": 60, "num_experts_per_tok": 4,
        "decoder_sparse_step": 1, "max_position_embeddings": 128000}),
}
# The thinker's text model of Qwen3-Omni (vram.architectures.vlm_audio): qwen3_moe's layers; its class
# takes head_dim as hidden_size // heads, floored (2,048 / 28 at its defaults).
FAMILIES["qwen3_omni_moe_text"] = Family(modeling=_m("qwen3_omni_moe"), qk_norm="head", head_dim_floor=True, defaults={
    "vocab_size": 3584, "hidden_size": 2048, "intermediate_size": 18944, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "moe_intermediate_size": 768, "num_experts": 128,
    "num_experts_per_tok": 8, "decoder_sparse_step": 1, "max_position_embeddings": 32768})


def _laguna_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """LagunaAttention: its own head count per layer (num_attention_heads_per_layer), q/k norms, and a
    softplus output gate g_proj of one value per head (gating true / "per-head") or per channel."""
    per_layer = r.int_list("num_attention_heads_per_layer", [], minimum=1) if r.has(
        "num_attention_heads_per_layer") else []
    heads = per_layer[i] if i < len(per_layer) else b.heads
    window = sliding_window(r) if kind == "sliding" else None
    part = L.attention(b.hidden, heads, b.kv_heads, b.head_dim, kind=kind, window=window,
                       qkv_bias=r.bool("attention_bias", False), o_bias=r.bool("attention_bias", False),
                       qk_norm="head")
    gating = r.raw("gating", True)
    gate = heads if gating is True or gating == "per-head" else heads * b.head_dim
    return L.Part(linears=part.linears + (Linear(name="g_proj", in_features=b.hidden, out_features=gate),),
                  other=part.other, attention=part.attention)


def _post_mlp_norm(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """A post_mlp_layernorm inside every MoE block (modeling_axk1)."""
    return b.hidden if moe else 0


def _cohere2_moe_kinds(r: Reading, n: int) -> tuple[list[str], None]:
    """layer_types, else the dense-first layers and the rest each with their own sliding pattern."""
    if r.has("layer_types"):
        return layer_kinds(r, n)[0], None
    first = r.int("first_k_dense_replace", 0, minimum=0)
    pre, rest = r.int("prefix_dense_sliding_window_pattern", 4), r.int("sliding_window_pattern", 4)
    return ["sliding" if (i + 1) % pre else "full" for i in range(first)] + \
        ["sliding" if (i + 1) % rest else "full" for i in range(n - first)], None


FAMILIES.update({
    # OLMo 2's layout (no input norm; q/k norms over all heads) with routed experts.
    "flex_olmo": Family(modeling=_m("flex_olmo"), qk_norm="full", expert_width_key="intermediate_size",
                        defaults={"num_experts_per_tok": 5}),
    "granitemoe_swa": Family(modeling=_m("granitemoe_swa"), sinks=True, expert_width_key="intermediate_size",
                             kinds=kinds_or(lambda r, i, n: "full" if i % 4 == 0 else "sliding"),
                             defaults={"sliding_window": 128, "num_experts_per_tok": 2}),
    "exaone_moe": Family(modeling=_m("exaone_moe"), qk_norm="head", pattern="every",
                         defaults={"sliding_window": 4096, "sliding_window_pattern": 4, "first_k_dense_replace": 1,
                                   "num_experts_per_tok": 8}),
    "laguna": Family(modeling=_m("laguna"), attention=_laguna_attention, router_score_bias=True,
                     defaults={"first_k_dense_replace": 1, "head_dim": 128, "sliding_window": 512,
                               "num_experts_per_tok": 8, "shared_expert_intermediate_size": 512}),
    "axk1": Family(modeling=_m("axk1"), layer_other=_post_mlp_norm, mtp=True,
                   defaults={"first_k_dense_replace": 1, "moe_layer_freq": 1, "n_shared_experts": 1,
                             "num_experts_per_tok": 8}),
    "flint": Family(modeling=_m("flint"), sinks=True, qk_norm="head", kinds=kinds_or(
        lambda r, i, n: "full" if i < 2 or i % 4 == 1 or i == n - 1 else "sliding"),
        defaults={"mlp_only_layers": [0, 1], "sliding_window": 513, "head_dim": 128, "num_experts_per_tok": 6}),
    "kolibri1": Family(modeling=_m("kolibri1"), qk_norm="head", norms_per_layer=4,
                       kinds=kinds_or(lambda r, i, n: "full" if (i + 1) % 5 == 0 else "sliding"),
                       defaults={"sliding_window": 513, "head_dim": 128, "num_experts_per_tok": 6}),
    "cohere2_moe": Family(modeling=_m("cohere2_moe"), norms_per_layer=1, tied_default=True, kinds=_cohere2_moe_kinds,
                          expert_width_key="intermediate_size",
                          defaults={"sliding_window": 4096, "head_dim": 128, "num_experts_per_tok": 2}),
    "mellum": Family(modeling=_m("mellum"), qk_norm="head",
                     defaults={"head_dim": 128, "sliding_window": 1024, "num_experts_per_tok": 8}),
    "hy_v3": Family(modeling=_m("hy_v3"), qk_norm="head",
                    defaults={"first_k_dense_replace": 1, "head_dim": 128, "num_experts_per_tok": 8,
                              "num_shared_experts": 1}),
})
FAMILIES["afmoe"] = Family(
    # Four norms per layer, q/k norms, a sigmoid output gate (gate_proj, as wide as q_proj) on attention,
    # an expert_bias per expert beside the router; num_dense_layers dense layers first.
    modeling=_m("afmoe"), qk_norm="head", q_gate=True, norms_per_layer=4, router_score_bias=True, pattern="every",
    aliases={"first_k_dense_replace": "num_dense_layers", "sliding_window_pattern": "global_attn_every_n_layers"},
    defaults={"first_k_dense_replace": 1, "sliding_window_pattern": 4, "sliding_window": 1024, "head_dim": 128,
              "num_experts_per_tok": 6, "num_shared_experts": 2})
# DeepSeek-V3's MLA and experts (GLM-4.7-Flash); hidden_size need not divide by the heads.
FAMILIES["glm4_moe_lite"] = Family(modeling=_m("glm4_moe_lite"), mtp=True, head_dim_floor=True,
                                   defaults={**_DEEPSEEK, "first_k_dense_replace": 1, "num_experts_per_tok": 4})


def _jetmoe_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """JetMoeAttention: a mixture of attention heads (MoA). Each of num_local_experts experts maps the
    hidden state to one query set (num_key_value_heads x kv_channels) and back; a token uses top-k of
    them, all reading one shared K/V (kv_proj). One output bias of hidden_size and a router."""
    h, e, k = b.hidden, r.int("num_local_experts"), r.int("num_experts_per_tok")
    kv, hd = r.int("num_key_value_heads"), r.int("kv_channels")
    lins = (Linear(name="experts.input_linear", in_features=h, out_features=kv * hd, copies=e, active_copies=k),
            Linear(name="experts.output_linear", in_features=kv * hd, out_features=h, copies=e, active_copies=k),
            Linear(name="experts.router", in_features=h, out_features=e),
            Linear(name="kv_proj", in_features=h, out_features=2 * kv * hd))
    att = L.attention(h, k * kv, kv, hd).attention
    return L.Part(linears=lins, other=h, attention=att)


FAMILIES["jetmoe"] = Family(
    modeling=_m("jetmoe"), attention=_jetmoe_attention, expert_width_key="intermediate_size", tied_default=True,
    layer_other=lambda r, b, kind, moe: b.hidden,  # the MoE block's output bias
    defaults={"num_key_value_heads": 16, "kv_channels": 128, "num_local_experts": 8, "num_experts_per_tok": 2})


def _beam_gate_bias(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """gate_bias: one value per head beside the attention output gate (modeling_beam)."""
    return b.heads


# Four norms per layer, q/k norms, a sigmoid output gate as wide as q_proj with a bias per head; routed
# experts without shared ones after the dense layers. Without layer_types, BeamConfig makes every sixth
# layer and the last one full attention, the rest sliding.
FAMILIES["beam"] = Family(modeling=_m("beam"), qk_norm="head", q_gate=True, norms_per_layer=4,
                          layer_other=_beam_gate_bias,
                          kinds=kinds_or(lambda r, i, n: "full" if (i + 1) % 6 == 0 or i == n - 1 else "sliding"),
                          defaults={"head_dim": 128, "sliding_window": 512, "first_k_dense_replace": 3})


def _longcat_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """LongcatFlashMLA: DeepSeek-V3's MLA with q_a_proj, kv_a_proj_with_mqa and o_proj biased by attention_bias."""
    bias = r.bool("attention_bias", False)
    return L.mla(b.hidden, b.heads, kv_rank=r.int("kv_lora_rank"), q_rank=r.int("q_lora_rank"),
                 rope=r.int("qk_rope_head_dim"), nope=r.int("qk_nope_head_dim"), v_dim=r.int("v_head_dim"),
                 o_bias=bias, a_bias=bias)


def _longcat_moe(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """The shortcut MoE of each decoder layer, counted with its first sublayer (LongcatFlashMoE): the router
    scores n_routed_experts + zero_expert_num experts, gate_up_proj holds a row block for every one of them
    (zero-compute experts too), down_proj for the routed ones only; a token visits moe_topk of them."""
    if i % 2:
        return L.Part()
    h, e, k = b.hidden, r.int("n_routed_experts"), r.int("moe_topk")
    zero = r.int("zero_expert_num", 0, minimum=0) if r.has("zero_expert_num") else 0
    width = r.int("expert_ffn_hidden_size")
    lins = (Linear(name="mlp.router.classifier", in_features=h, out_features=e + zero,
                   bias=r.bool("router_bias", False)),
            Linear(name="mlp.experts.gate_up_proj", in_features=h, out_features=2 * width, copies=e + zero,
                   active_copies=k),
            Linear(name="mlp.experts.down_proj", in_features=width, out_features=h, copies=e, active_copies=k))
    return L.Part(linears=lins, experts_per_token=k, expert_width=width)


# modeling_longcat_flash LongcatFlashDecoderLayer: two sublayers (MLA + dense MLP, each with its own cache and
# norms, cached as layers 2i and 2i + 1) and one shortcut MoE per decoder layer; vram counts the sublayers.
FAMILIES["longcat_flash"] = Family(
    modeling=_m("longcat_flash"), sublayers=2, attention=_longcat_attention, layer_parts=_longcat_moe,
    kinds=lambda r, n: (["full"] * n, ["dense"] * n),
    defaults={"vocab_size": 131072, "hidden_size": 6144, "num_layers": 28, "num_attention_heads": 64,
              "ffn_hidden_size": 12288, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
              "qk_rope_head_dim": 64, "v_head_dim": 128, "moe_topk": 12, "n_routed_experts": 512,
              "zero_expert_num": 256, "expert_ffn_hidden_size": 2048, "max_position_embeddings": 131072})


# ---- MiniMax-M3 (models/minimax_m3_vl/modeling_minimax_m3_vl.py, the text model) ----------------

_M3_LEGACY = {"index_n_heads": "sparse_num_index_heads", "index_head_dim": "sparse_index_dim"}


def _minimax_m3_sparse(r: Reading, n: int) -> list[bool]:
    """Which layers are minimax_m3_sparse: layer_types, or else (MiniMaxM3VLTextConfig.__post_init__) the
    legacy sparse_attention_config's sparse_attention_freq flags; without either every layer is full."""
    types = r.str_list("layer_types") if isinstance(r.raw("layer_types"), list) else None
    if types is None:
        legacy = r.raw("sparse_attention_config")
        flags = legacy.get("sparse_attention_freq") if isinstance(legacy, dict) else None
        types = ["minimax_m3_sparse" if f else "full_attention" for f in flags] if isinstance(flags, list) else None
    types = types or ["full_attention"] * n
    unknown = sorted({t for t in types if t not in ("full_attention", "minimax_m3_sparse")})
    if unknown or len(types) < n:
        raise ConfigError(f"config field 'layer_types' must name full_attention or minimax_m3_sparse for each of "
                          f"{n} layers, got {unknown[0] if unknown else len(types)!r}")
    return [t == "minimax_m3_sparse" for t in types[:n]]


def _minimax_m3_kinds(r: Reading, n: int) -> tuple[list[str], list[str] | None]:
    """Every layer attends (full); mlp_layer_types (or the legacy moe_layer_freq flags, read by
    reader.moe_layers) says sparse (routed and shared experts) or dense."""
    _minimax_m3_sparse(r, n)
    return ["full"] * n, None


def _m3_index(r: Reading, key: str) -> int:
    legacy = r.raw("sparse_attention_config")
    if not r.given(key) and isinstance(legacy, dict) and isinstance(legacy.get(_M3_LEGACY[key]), int):
        return int(legacy[_M3_LEGACY[key]])
    return r.int(key)


def _minimax_m3_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """GQA with per-head q/k norms; a minimax_m3_sparse layer adds MiniMaxM3VLIndexer (q_proj to
    index_n_heads x index_head_dim, a one-head k_proj, q/k RMSNorms, no biases), whose keys the cache
    keeps per token beside K and V (MiniMaxM3VLSparseCacheLayer.idx_keys)."""
    part = L.attention(b.hidden, b.heads, b.kv_heads, b.head_dim, kind="full", qk_norm="head")
    if not _minimax_m3_sparse(r, b.layers)[i]:
        return part
    heads, dim = _m3_index(r, "index_n_heads"), _m3_index(r, "index_head_dim")
    assert part.attention is not None
    return L.Part(linears=part.linears + (
        Linear(name="indexer.q_proj", in_features=b.hidden, out_features=heads * dim),
        Linear(name="indexer.k_proj", in_features=b.hidden, out_features=dim)),
        other=part.other + 2 * dim, attention=replace(part.attention, index_dim=dim))


# Routed experts of intermediate_size, one shared expert of shared_intermediate_size, dense layers of
# dense_intermediate_size where mlp_layer_types says dense.
FAMILIES["minimax_m3_vl_text"] = Family(
    modeling=_m("minimax_m3_vl"), kinds=_minimax_m3_kinds, attention=_minimax_m3_attention,
    expert_width_key="intermediate_size", dense_width_key="dense_intermediate_size",
    shared_width_key="shared_intermediate_size",
    defaults={"head_dim": 128, "num_experts_per_tok": 4, "index_n_heads": 4, "index_head_dim": 128,
              "dense_intermediate_size": 12288, "shared_intermediate_size": 3072})
