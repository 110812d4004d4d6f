"""MLA decoders whose DSA indexer, RoPE and K/V differ by layer.

Files followed (transformers 5.23):
- ``mistral_large4_text``: models/mistral_large4/modeling_mistral_large4.py (configuration_mistral_large4
  for the per-layer rules). MLA without a q LoRA (q_proj), a per-head softmax scaling (scale and bias)
  on every layer; NoPE layers (no_rope_layers 0) have no rope slice in kv_a_proj_with_mqa and fold it
  into kv_b_proj's nope part; a layer whose kv_source_layers entry points at an earlier layer has no
  kv_a_proj_with_mqa / kv_a_layernorm and reads that layer's latent; the indexer (wq_b from the normed
  hidden state, wk, k_norm, weights_proj, q_input_norm, its own softmax scaling) exists on layers whose
  indexer_types entry is "full" and caches its key even on a layer that reads another's latent.
- ``dots3_note_text``: models/dots3_note/modeling_dots3_note.py (configuration_dots3_note). DeepSeek-V3's
  MLA plus a per-head sigmoid output gate (g_proj) and a norm of the rope key (k_rope_only_layernorm);
  the DSA indexer only on indexed_attention layers; sliding_attention layers keep a window of their
  latent and take other sizes (per_layer_config, or the legacy swa_* fields and their defaults).
- ``hy_v4``: models/hy_v4/modeling_hy_v4.py (configuration_hy_v4). DeepSeek-V3.2's MLA with an output
  gate as wide as the values (gate_proj), a sink per head, the indexer only on indexer_types "full"
  layers (by default layer 0 and every fourth from layer 1), and hyper-connections (attn_hc, ffn_hc:
  fn of 2 hc_mult rows over hc_mult streams, base, two scales; hc_head before the final norm).
- ``axk2``: models/axk2/modeling_axk2.py (configuration_axk2). DeepSeek-V3.2's MLA with the indexer on
  every layer, whose query and a per-channel output gate come from one q_gate_proj fed by twice the q
  latent (no q_b_proj); the input norm of every layer and the post-attention norm of the MoE layers are
  gated RMSNorms (a low-rank MLP beside the norm: mlp.fc1 to gated_norm_rank, mlp.fc2 back).
"""

from __future__ import annotations

from vram.architectures import layers as L
from vram.architectures.generic import Family
from vram.architectures.reader import Basics, Reading, layer_override, moe_layers
from vram.errors import ConfigError
from vram.model import Attention, Linear


def _m(name: str) -> str:
    return f"transformers models/{name}/modeling_{name}.py"


def _per_layer(r: Reading, key: str, i: int, n: int) -> int:
    values = r.int_list(key, minimum=0) or []
    if len(values) < n:
        raise ConfigError(f"config field '{key}' has {len(values)} entries for {n} layers")
    return values[i]


def _ml4_rope(r: Reading, b: Basics, i: int) -> bool:
    """no_rope_layers (1 = RoPE), else every no_rope_layer_interval-th layer NoPE (MistralLarge4TextConfig)."""
    if r.has("no_rope_layers"):
        return _per_layer(r, "no_rope_layers", i, b.layers) != 0
    return (i + 1) % r.int("no_rope_layer_interval", 4) != 0


def _ml4_indexer(r: Reading, b: Basics, i: int) -> bool:
    """indexer_types ("full" runs an indexer), else index_topk_pattern (F / S), else the freq / offset rule."""
    n = b.layers
    if r.has("indexer_types"):
        types = r.str_list("indexer_types") or []
        if len(types) < n:
            raise ConfigError(f"config field 'indexer_types' has {len(types)} entries for {n} layers")
        return types[i] != "shared"
    pattern = r.raw("index_topk_pattern")
    if isinstance(pattern, str | list) and pattern:
        if len(pattern) < n:
            raise ConfigError(f"config field 'index_topk_pattern' has {len(pattern)} entries for {n} layers")
        return pattern[i] not in ("S", "shared")
    freq = max(r.int("index_topk_freq", 1, minimum=0), 1)
    offset = r.int("index_skip_topk_offset", 2, minimum=0)
    return max(i - offset + 1, 0) % freq == 0


def _ml4_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads = b.hidden, b.heads
    rank, rope_dim, nope, v = (r.int("kv_lora_rank"), r.int("qk_rope_head_dim"), r.int("qk_nope_head_dim"),
                               r.int("v_head_dim"))
    rope = rope_dim if _ml4_rope(r, b, i) else 0
    source = _per_layer(r, "kv_source_layers", i, b.layers) if r.has("kv_source_layers") else i
    if source > i or (source != i and _per_layer(r, "kv_source_layers", source, b.layers) != source):
        raise ConfigError(f"config field 'kv_source_layers': layer {i} must read an earlier layer that keeps its "
                          f"own cache, not layer {source}")
    shared = source != i
    bias = r.bool("attention_bias", False)
    lins: tuple[Linear, ...] = (Linear(name="q_proj", in_features=h, out_features=heads * (nope + rope_dim)),)
    other = 2 * heads  # softmax_scaling: scale and bias per head
    if not shared:
        lins += (Linear(name="kv_a_proj_with_mqa", in_features=h, out_features=rank + rope, bias=bias),)
        other += rank  # kv_a_layernorm
    lins += (Linear(name="kv_b_proj", in_features=rank, out_features=heads * (nope + rope_dim - rope + v)),
             Linear(name="o_proj", in_features=heads * v, out_features=h, bias=bias))
    index = 0
    if _ml4_indexer(r, b, i):
        ih, index = r.int("index_n_heads"), r.int("index_head_dim")
        lins += (Linear(name="indexer.wq_b", in_features=h, out_features=ih * index),
                 Linear(name="indexer.wk", in_features=h, out_features=index),
                 Linear(name="indexer.weights_proj", in_features=h, out_features=ih))
        other += 2 * index + 2 * h + 2 * ih  # k_norm, q_input_norm (LayerNorms with bias), softmax_scaling
    att = Attention(kind="mla", num_heads=heads, num_kv_heads=1, head_dim=nope + rope_dim, v_head_dim=v,
                    latent_dim=rank + rope, index_dim=index or None, kv_shared=shared)
    return L.Part(linears=lins, other=other, attention=att)


_DOTS3_KINDS = {"indexed_attention": "indexed", "full_attention": "full", "sliding_attention": "sliding"}
_DOTS3_SWA = {"num_attention_heads": 64, "num_key_value_heads": 64, "q_lora_rank": 1024, "kv_lora_rank": 1024,
              "head_dim": 256, "qk_nope_head_dim": 192, "v_head_dim": 128}


def _dots3_kinds(r: Reading, n: int) -> tuple[list[str], None]:
    """Dots3NoteTextConfig: layer_types, else full (indexed) on the first two layers and every fourth from
    layer 1, sliding elsewhere (all full without use_sliding_window); use_dsa, when given or when the
    config has no per_layer_config, turns full_attention into indexed_attention (False: the reverse)."""
    if r.has("layer_types"):
        types = r.str_list("layer_types") or []
        bad = sorted({t for t in types if t not in _DOTS3_KINDS})
        if bad:
            raise ConfigError(f"config field 'layer_types' holds an unknown layer type {bad[0]!r}")
        if len(types) < n:
            raise ConfigError(f"config field 'layer_types' has {len(types)} entries for {n} layers")
        kinds = [_DOTS3_KINDS[t] for t in types[:n]]
    else:
        sliding = r.bool("use_sliding_window", True)
        kinds = ["full" if not sliding or i < 2 or i % 4 == 1 else "sliding" for i in range(n)]
    dsa = r.bool("use_dsa", True) if r.given("use_dsa") or not r.given("per_layer_config") else None
    if dsa is not None:
        old, new = ("full", "indexed") if dsa else ("indexed", "full")
        kinds = [new if k == old else k for k in kinds]
    return kinds, None


def _dots3_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h = b.hidden
    if r.given("per_layer_config"):
        own: dict[str, object] = dict(layer_override(r, i))
    elif kind == "sliding":
        # Legacy checkpoints: the swa_* fields, else the class's own sliding sizes (rope = head_dim - nope).
        swa = {key: r.int(f"swa_{key}", value) for key, value in _DOTS3_SWA.items()}
        swa["qk_rope_head_dim"] = r.int("swa_qk_rope_head_dim", swa["head_dim"] - swa["qk_nope_head_dim"])
        own = dict(swa)
    else:
        own = {}

    def size(key: str) -> int:
        value = own.get(key)
        if value is None:
            return r.int(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"config field 'per_layer_config.{i}.{key}' must be a positive integer")
        return value

    heads, q_rank, rank = size("num_attention_heads"), size("q_lora_rank"), size("kv_lora_rank")
    rope, nope, v = size("qk_rope_head_dim"), size("qk_nope_head_dim"), size("v_head_dim")
    bias = r.bool("attention_bias", False)
    lins: tuple[Linear, ...] = (
        Linear(name="q_a_proj", in_features=h, out_features=q_rank, bias=bias),
        Linear(name="q_b_proj", in_features=q_rank, out_features=heads * (nope + rope)),
        Linear(name="kv_a_proj_with_mqa", in_features=h, out_features=rank + rope, bias=bias),
        Linear(name="kv_b_proj", in_features=rank, out_features=heads * (nope + v)),
        Linear(name="o_proj", in_features=heads * v, out_features=h, bias=bias),
        Linear(name="g_proj", in_features=h, out_features=heads))
    other = q_rank + rank + rope  # q_a_layernorm, kv_a_layernorm, k_rope_only_layernorm
    index = 0
    if kind == "indexed":
        ih, index = r.int("index_n_heads"), r.int("index_head_dim")
        lins += (Linear(name="indexer.wq_b", in_features=q_rank, out_features=ih * index),
                 Linear(name="indexer.wk", in_features=h, out_features=index),
                 Linear(name="indexer.weights_proj", in_features=h, out_features=ih))
        other += 2 * index  # k_norm: LayerNorm with bias
    att = Attention(kind="mla", num_heads=heads, num_kv_heads=1, head_dim=nope + rope, v_head_dim=v,
                    latent_dim=rank + rope, index_dim=index or None,
                    window=r.int("sliding_window") if kind == "sliding" else None)
    return L.Part(linears=lins, other=other, attention=att)


def _hy4_indexer(r: Reading, b: Basics, i: int) -> bool:
    if r.has("indexer_types"):
        types = r.str_list("indexer_types") or []
        if len(types) < b.layers:
            raise ConfigError(f"config field 'indexer_types' has {len(types)} entries for {b.layers} layers")
        return types[i] != "shared"
    return i == 0 or (i - 1) % 4 == 0


def _hy4_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads = b.hidden, b.heads
    rank, q_rank = r.int("kv_lora_rank"), r.int("q_lora_rank")
    rope, nope, v = r.int("qk_rope_head_dim"), r.int("qk_nope_head_dim"), r.int("v_head_dim")
    bias = r.bool("attention_bias", False)
    index = r.int("index_head_dim") if _hy4_indexer(r, b, i) else 0
    part = L.mla(h, heads, kv_rank=rank, q_rank=q_rank, rope=rope, nope=nope, v_dim=v,
                 index_heads=r.int("index_n_heads") if index else 0, index_dim=index, o_bias=bias, a_bias=bias)
    gate = Linear(name="gate_proj", in_features=h, out_features=heads * v)
    return L.Part(linears=part.linears + (gate,), other=part.other + heads, attention=part.attention)  # + sinks


def _hy4_hyper(r: Reading, b: Basics, kind: str, moe: bool) -> int:
    """attn_hc and ffn_hc (HYV4HyperConnection): fn (2n x n h), base (2n) and two scales each."""
    n = r.int("hc_mult")
    return 2 * (2 * n * n * b.hidden + 2 * n + 2)


def _hy4_head(r: Reading, b: Basics) -> int:
    """hc_head (HYV4HyperHead): hc_fn (n x n h), hc_base (n) and one scale."""
    n = r.int("hc_mult")
    return n * n * b.hidden + n + 1


def _axk2_attention(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    h, heads = b.hidden, b.heads
    rank, q_rank = r.int("kv_lora_rank"), r.int("q_lora_rank")
    rope, nope, v = r.int("qk_rope_head_dim"), r.int("qk_nope_head_dim"), r.int("v_head_dim")
    bias = r.bool("attention_bias", False)
    part = L.mla(h, heads, kv_rank=rank, q_rank=q_rank, rope=rope, nope=nope, v_dim=v,
                 index_heads=r.int("index_n_heads"), index_dim=r.int("index_head_dim"), o_bias=bias, a_bias=bias)
    lins = tuple(Linear(name="q_gate_proj", in_features=2 * q_rank, out_features=heads * (nope + rope + v))
                 if lin.name == "q_b_proj" else lin for lin in part.linears)
    return L.Part(linears=lins, other=part.other, attention=part.attention)


def _axk2_gated_norms(r: Reading, b: Basics, kind: str, i: int) -> L.Part:
    """AXK2GatedRMSNorm's low-rank MLP: in the input norm of every layer, the post-attention norm of MoE layers."""
    h, rank = b.hidden, r.int("gated_norm_rank")
    names = ["input_layernorm"] + (["post_attention_layernorm"] if moe_layers(r, b.layers)[i] else [])
    return L.Part(linears=tuple(lin for name in names for lin in (
        Linear(name=f"{name}.mlp.fc1", in_features=h, out_features=rank),
        Linear(name=f"{name}.mlp.fc2", in_features=rank, out_features=h))))


FAMILIES: dict[str, Family] = {
    "mistral_large4_text": Family(
        modeling=_m("mistral_large4"), attention=_ml4_attention, aliases={"n_routed_experts": "num_experts"},
        defaults={"vocab_size": 204800, "hidden_size": 6144, "intermediate_size": 24576, "moe_intermediate_size": 6144,
                  "num_hidden_layers": 72, "num_attention_heads": 64, "num_key_value_heads": 64, "n_shared_experts": 1,
                  "n_routed_experts": 128, "kv_lora_rank": 512, "qk_rope_head_dim": 64, "v_head_dim": 128,
                  "qk_nope_head_dim": 64, "num_experts_per_tok": 4, "max_position_embeddings": 1048576,
                  "index_head_dim": 128, "index_n_heads": 32, "head_dim": 64, "first_k_dense_replace": 1}),
    "dots3_note_text": Family(
        modeling=_m("dots3_note"), kinds=_dots3_kinds, attention=_dots3_attention,
        aliases={"moe_shared_expert_intermediate_size": "shared_experts_intermediate_size"},
        defaults={"vocab_size": 152064, "hidden_size": 5120, "intermediate_size": 13824, "moe_intermediate_size": 1536,
                  "num_hidden_layers": 46, "num_attention_heads": 128, "num_key_value_heads": 128,
                  "n_shared_experts": 1, "n_routed_experts": 256, "kv_lora_rank": 512, "q_lora_rank": 1024,
                  "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128, "num_experts_per_tok": 8,
                  "max_position_embeddings": 524288, "index_head_dim": 128, "index_n_heads": 64, "head_dim": 256,
                  "sliding_window": 512, "moe_shared_expert_intermediate_size": 1536, "first_k_dense_replace": 1}),
    "hy_v4": Family(
        modeling=_m("hy_v4"), attention=_hy4_attention, layer_other=_hy4_hyper, final_other=_hy4_head,
        defaults={"vocab_size": 120832, "hidden_size": 2816, "intermediate_size": 6912, "moe_intermediate_size": 768,
                  "num_hidden_layers": 34, "num_attention_heads": 32, "n_routed_experts": 256, "n_shared_experts": 1,
                  "num_experts_per_tok": 8, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 192,
                  "qk_rope_head_dim": 64, "v_head_dim": 256, "index_head_dim": 128, "index_n_heads": 16,
                  "hc_mult": 4, "max_position_embeddings": 262144, "first_k_dense_replace": 1}),
    "axk2": Family(
        modeling=_m("axk2"), attention=_axk2_attention, layer_parts=_axk2_gated_norms,
        defaults={"vocab_size": 163840, "hidden_size": 2048, "intermediate_size": 5120, "moe_intermediate_size": 512,
                  "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 32, "n_shared_experts": 1,
                  "n_routed_experts": 128, "kv_lora_rank": 128, "q_lora_rank": 384, "qk_rope_head_dim": 32,
                  "v_head_dim": 64, "qk_nope_head_dim": 64, "num_experts_per_tok": 8, "max_position_embeddings": 131072,
                  "index_head_dim": 128, "index_n_heads": 16, "head_dim": 64, "gated_norm_rank": 16,
                  "first_k_dense_replace": 1}),
}
