"""What vLLM and SGLang share: weights per rank, KV pages per layer, and the JSON shape of a pool.

Sources: vllm/model_executor/layers/vocab_parallel_embedding.py (vocabulary padded to a multiple of
64), vllm/model_executor/layers/rotary_embedding (one cos/sin cache of max_position x rotary_dim in
the model dtype), vllm/model_executor/layers/linear.py QKVParallelLinear (KV heads replicated when
tp > kv heads), vllm/v1/kv_cache_interface.py (page_size_bytes of full, sliding-window and MLA
layers). SGLang's layers follow the same rules (python/sglang/srt/layers/).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from vram.breakdown import Term
from vram.errors import UsageError
from vram.model import Attention, Linear, ModelSpec, StateCache
from vram.precision import Format
from vram.terms.weights import linear_bytes, shard, weights_by_component
from vram.workload import Workload


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def refuse_state_flags(spec: ModelSpec, settings: Mapping[str, object], flags: tuple[str, ...], engine: str) -> None:
    """A flag that sizes or types the per-sequence state of Mamba / linear-attention layers means nothing for
    a model without such layers: refused (exit 2), as --swa-full-tokens-ratio is for a model without a
    separate sliding-window pool."""
    if any(b.state is not None for comp in spec.components for b in comp.blocks):
        return
    given = [f for f in flags if settings.get(f) is not None]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} means nothing for {spec.id}: it has no Mamba, "
                         f"linear-attention or other state layers, whose per-sequence state that flag sets in {engine}")


def kv_element_bytes(w: Workload, engine: str) -> int:
    """Bytes of one cached element: the model dtype, or one byte for fp8 (--kv-cache-dtype fp8)."""
    fmt = w.kv_format
    if fmt.name not in ("fp32", "fp16", "bf16", "fp8"):
        raise UsageError(f"--engine {engine} caches KV in the model dtype or fp8, not {fmt.name}; "
                         "use --kv-cache-dtype auto|fp8")
    return fmt.weight_bits // 8


@dataclass(frozen=True)
class LayerKv:
    """One layer's cache on one rank, as the engine pages it."""

    kind: str
    """full | sliding | mla (the kinds of vram.model.Attention this engine pages), or state: a
    linear-attention / Mamba / short-convolution layer's fixed state per sequence."""
    bytes_per_token: int
    window: int | None = None
    state_bytes: int = 0
    """kind state: bytes of one sequence's state in this layer, as the engine lays it out."""


def _layer_kv(a: Attention, tp: int, elem: int) -> LayerKv:
    """Bytes per token of one layer. A new attention kind (linear attention, Mamba state) adds a case."""
    kv_heads = max(1, a.num_kv_heads // tp)
    if a.compress_rate is not None:
        raise UsageError("compressed attention (DeepSeek-V4's CSA / HCA layers) is not paged by this engine model "
                         "yet: use --engine transformers")
    if a.kind == "full":
        return LayerKv("full", kv_heads * a.kv_dims * elem)
    if a.kind == "sliding":
        return LayerKv("sliding", kv_heads * a.kv_dims * elem, a.window)
    if a.kind == "mla" and a.window:
        return LayerKv("sliding", (a.latent_dim or 0) * elem, a.window)  # a latent kept for a window (dots3)
    if a.kind == "mla":
        return LayerKv("mla", (a.latent_dim or 0) * elem)
    raise UsageError(f"attention of kind {a.kind!r} is not paged by this engine model yet")


def stage_layers(spec: ModelSpec, w: Workload, elem: int,
                 state_bytes: Callable[[StateCache], int] | None = None) -> tuple[list[LayerKv], list[str]]:
    """The cached layers of the heaviest pipeline stage on one rank, and notes.

    Pipeline stages split the decoder layers evenly (vLLM get_pp_indices), whatever each holds; a stage
    holds each kind of layer in proportion (rounded up). A layer may hold attention and a state both
    (Falcon-H1). Layers with a state are listed only when the engine says how it lays the state out
    (``state_bytes``)."""
    notes: list[str] = []
    # Parts inside the layers (an encoder-decoder's cross-attention) split with them; only layers count.
    blocks = [b for b in spec.decoder_blocks() if b.computes]
    n = sum(b.count for b in blocks if b.is_layer)
    per_stage = cdiv(n, w.pipeline_parallel) if n else 0
    layers: list[LayerKv] = []
    for b in blocks:
        count = b.count if w.pipeline_parallel == 1 else cdiv(b.count * per_stage, n)
        a = b.attention
        if a is not None and not a.kv_shared:  # a KV-sharing layer pages nothing of its own
            if a.kind == "cross":
                notes.append("cross-attention layers cache the encoder's tokens outside the paged pool; not counted")
            else:
                layers.extend([_layer_kv(a, w.tensor_parallel, elem)] * count)
        if b.state is not None and state_bytes is not None:
            layers.extend([LayerKv("state", 0, state_bytes=state_bytes(b.state))] * count)
    return layers, notes

_KV_ONLY = frozenset({"k_proj", "v_proj", "kv_proj", "key", "value"})


def kv_rows(a: Attention, lin: Linear) -> int:
    """Output rows of ``lin`` that hold K and V heads: all of a separate k/v projection, the K and V
    part of a fused QKV projection (qkv_proj, query_key_value, c_attn, W_pack, Wqkv: recognised by
    its shape, q + k + v rows), none otherwise."""
    if lin.name.split(".")[-1] in _KV_ONLY:
        return lin.out_features
    kv = a.num_kv_heads * (a.head_dim + a.v_head_dim)
    return kv if lin.out_features == a.num_heads * a.head_dim + kv else 0


def replicated_kv_bytes(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> int:
    """Bytes one rank holds beyond the even TP shard because KV heads are replicated: with tp > KV heads
    every rank keeps one whole KV head (QKVParallelLinear's num_kv_head_replicas) where the shared term
    counted kv_heads / tp of one. Bytes per row in the matrix's own format (fp8, GGUF mixes alike)."""
    tp = w.tensor_parallel
    extra = 0
    for comp, b, lin, nbytes in linear_bytes(spec, w, gguf_types):
        a = b.attention
        if comp.kind not in ("decoder", "mtp") or a is None or a.kind in ("mla", "cross") or tp <= a.num_kv_heads:
            continue
        rows = kv_rows(a, lin)
        if rows:
            # per rank: rows / kv_heads (one head) instead of rows / tp
            extra += nbytes * rows // (a.num_kv_heads * lin.out_features) - nbytes * rows // (tp * lin.out_features)
    return extra


def whole_model_bits(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format]) -> float:
    """Bits per parameter of the whole model as loaded (not of one rank's share)."""
    if not spec.parameters:
        return 0.0
    if w.stored_weights and spec.stored_weight_bytes is not None:
        whole = spec.stored_weight_bytes
    else:
        whole = sum(weights_by_component(spec, replace(w, tensor_parallel=1, pipeline_parallel=1),
                                         gguf_types).values())
    return round(whole * 8 / spec.parameters, 4)


def weights_per_rank(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format],
                     vocab_padding: int) -> tuple[int, list[Term]]:
    """Weights one rank loads: TP shards, replicated KV projections, padded vocabulary, RoPE cache,
    and the heaviest pipeline stage."""
    tp, pp = w.tensor_parallel, w.pipeline_parallel
    c = w.compute_format.flat_bytes(1)
    if w.stored_weights and spec.stored_weight_bytes is not None:
        by_comp = {"stored": shard(spec.stored_weight_bytes, tp)}
    else:
        by_comp = weights_by_component(spec, w, gguf_types)
    extra = replicated_kv_bytes(spec, w, gguf_types)
    text = spec.text
    pad = 0
    if text is not None and vocab_padding > 1:
        padded = cdiv(text.vocab_size, vocab_padding) * vocab_padding
        tables = 1 if spec.tied_embeddings else 2
        pad = tables * shard((padded - text.vocab_size) * text.hidden_size, tp) * c
    rope = 0
    first = next((b.attention for b in spec.decoder_blocks() if b.attention and b.attention.kind != "cross"), None)
    if text is not None and text.max_position_embeddings and first is not None and first.kind != "mla":
        rope = text.max_position_embeddings * first.head_dim * c
    total = sum(by_comp.values()) + extra + pad + rope
    terms = [Term(component="weights", name="weights per rank", bytes=total,
                  formula="TP shards + replicated KV heads + vocabulary padded to a multiple of 64 + RoPE cos/sin "
                          "cache (max_position x head_dim x bytes)",
                  values={**{f"{k}_bytes": v for k, v in by_comp.items()}, "kv_replication_bytes": extra,
                          "vocab_padding_bytes": pad, "rope_cache_bytes": rope, "tp": tp},
                  source="vLLM vocab_parallel_embedding.py, rotary_embedding, QKVParallelLinear")]
    if pp > 1 and text is not None:
        decoder = by_comp.get("decoder", 0) + extra
        n = sum(b.count for b in spec.decoder_blocks() if b.is_layer) or 1
        ends = max(sum(v for k, v in by_comp.items() if k in ("embeddings", "vision_tower", "projector")),
                   by_comp.get("lm_head", by_comp.get("embeddings", 0) if spec.tied_embeddings else 0))
        total = cdiv(n, pp) * cdiv(decoder, n) + ends + pad + rope
        terms.append(Term(component="weights", name=f"heaviest of {pp} pipeline stages", bytes=total,
                          formula="ceil(layers / pp) x per-layer bytes + max(first stage's embeddings, last "
                                  "stage's lm_head)", values={"pp": pp}, approximate=True,
                          source="vLLM get_pp_indices: layers split evenly over the stages"))
    return total, terms


@dataclass(frozen=True)
class PoolDetails:
    """The JSON ``engine`` object of vLLM and SGLang (schema.PoolEngine)."""

    version: str
    total_memory_bytes: int
    utilization: float
    budget_bytes: int
    weights_bytes: int
    activation_peak_bytes: int
    non_torch_bytes: int
    cuda_graph_bytes: int
    kv_pool_bytes: int
    kv_bytes_per_token: int
    block_size: int
    kv_tokens: int
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_concurrency: float
    starts: bool
    largest_max_model_len: int | None
    utilization_to_start: float | None
    startup_bytes: int
    """CUDA context (and NCCL's set-up at TP >= 2) in use before the engine measures its memory."""
    margin_bytes: int
    """The GPU's total less the budget: what holds everything outside the budget."""
    in_budget: dict[str, int]
    """What the budget holds, by name; the KV entry is the pool when the engine starts, else what one
    sequence needs (so that the sum exceeds the budget exactly when the engine refuses)."""
    outside_budget: dict[str, int]
    """What the engine needs on the GPU outside its budget (in the margin), by name."""
    settings: dict[str, int | float | str | bool] = field(default_factory=dict)
    state_bytes_per_sequence: int = 0
    """Linear-attention / Mamba / short-convolution state one sequence holds on one rank (0: none)."""
    state_slots: int | None = None
    """SGLang: sequences its separate state pool holds (max_mamba_cache_size); vLLM shares one pool."""
