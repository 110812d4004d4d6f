"""SGLang: a static region (mem_fraction_static of the memory free at start) holds the weights and a
token-granular KV pool; the rest of the GPU is left for prefill activations and CUDA graphs.

Follows SGLang's 0.5 line (presets/engines.json names the files):
  defaults    server_args._handle_gpu_memory_settings: chunked_prefill_size and cuda_graph_max_bs by GPU
              memory; mem_fraction_static = (gpu_mem - reserved) / gpu_mem with reserved (MiB) =
              512 + 1.5 x max(chunked_prefill_size, 2048) + 2 x cuda_graph_max_bs + tp x pp / 8 x 1024,
              at least 10 GiB on GPUs above 60 GiB
  pool        model_runner.profile_max_num_token: rest = free after loading - free at start x
              (1 - mem_fraction_static) = mem_fraction_static x free at start - weights;
              max_total_num_tokens = rest // cell, cell = KV bytes of one token over the layers
  requests    init_memory_pool: max_running_requests = clamp(tokens / context x 512, 2048, 4096), and a
              req_to_token table of requests x (context + 4) int32
  state pool  hybrid linear-attention / Mamba models (model_runner_kv_cache_mixin.handle_max_mamba_cache):
              the cell counts the attention layers only; with the radix cache the rest is split
              state : tokens = mamba_full_memory_ratio : 1, max_mamba_cache_size = state bytes //
              one request's state, and max_running_requests <= max_mamba_cache_size // 3; without
              it the state pool holds max_running_requests (or 512) sequences
  refusal     "Not enough memory" when max_total_num_tokens <= 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vram.breakdown import Breakdown, Estimate, Term
from vram.engines import EngineAllocation, EngineInput, Solved
from vram.engines._pool import (
    LayerKv,
    PoolDetails,
    cdiv,
    kv_element_bytes,
    refuse_state_flags,
    stage_layers,
    weights_per_rank,
    whole_model_bits,
)
from vram.engines._state import sglang_layout, ssm_dtype_bytes
from vram.engines.constants import SglangConstants
from vram.errors import UsageError
from vram.model import ModelSpec
from vram.terms.activations import layer_forward_peak
from vram.terms.kv import kv_cache_bytes_per_token
from vram.terms.parallel import check_tensor_parallel
from vram.terms.weights import stored_format_label

OPTIONS = frozenset({"gpus", "kv_dtype", "kv_cache_dtype", "tensor_parallel_size", "mem_fraction_static",
                     "context_length", "max_running_requests", "chunked_prefill_size", "disable_cuda_graph",
                     "swa_full_tokens_ratio", "max_mamba_cache_size", "mamba_ssm_dtype",
                     "mamba_full_memory_ratio", "disable_radix_cache"})
MIB = 1 << 20


def defaults(c: SglangConstants, total: int, tp: int, pp: int, chunked: int | None) -> tuple[int, int, float]:
    """(chunked_prefill_size, cuda_graph_max_bs, mem_fraction_static) as SGLang derives them."""
    gpu_mib = total / MIB
    bucket = next((b for b in c.buckets if b.below_mib and gpu_mib < b.below_mib), c.buckets[-1])
    chunk = bucket.chunked_prefill_size if chunked is None else chunked  # <= 0: chunked prefill off
    graph_bs = bucket.cuda_graph_max_bs if tp < 4 else bucket.cuda_graph_max_bs_tp4
    reserved = (c.reserved_base_mib + c.reserved_mib_per_prefill_token * max(chunk, c.reserved_min_prefill_tokens)
                + c.reserved_mib_per_graph_bs * graph_bs + tp * pp / 8 * c.reserved_mib_per_eighth_gpu)
    if gpu_mib > c.large_gpu_mib:
        reserved = max(reserved, c.reserved_floor_mib_large_gpu)
    return chunk, graph_bs, round((gpu_mib - reserved) / gpu_mib, 3)


@dataclass(frozen=True)
class SwaPool:
    """SGLang's KV pool split: one pool for every layer, or (hybrid SWA models) a full-layer pool and a
    sliding-window pool of swa_full_tokens_ratio times its tokens, from the same memory."""

    full: tuple[LayerKv, ...]
    sliding: tuple[LayerKv, ...]
    ratio: float
    hybrid: bool
    note: str | None = None

    def split(self, uniform_tokens: int) -> tuple[int, int]:
        """(full-layer tokens, sliding-layer tokens) from the tokens a uniform pool would hold."""
        if not self.hybrid:
            return uniform_tokens, 0
        layers = len(self.full) + len(self.sliding)
        full = int(uniform_tokens * layers / (self.ratio * len(self.sliding) + len(self.full)))
        return full, int(full * self.ratio)

    def bytes(self, tokens: int, swa_tokens: int) -> int:
        if not self.hybrid:
            return tokens * sum(x.bytes_per_token for x in self.full + self.sliding)
        return (tokens * sum(x.bytes_per_token for x in self.full)
                + swa_tokens * sum(x.bytes_per_token for x in self.sliding))


def swa_pool(spec: ModelSpec, layers: list[LayerKv], c: SglangConstants, ratio: float | None) -> SwaPool:
    full = tuple(x for x in layers if x.kind != "sliding")
    sliding = tuple(x for x in layers if x.kind == "sliding")
    hybrid = bool(sliding) and spec.model_type in c.hybrid_swa_model_types
    if ratio is not None and not 0 < ratio <= 1:
        raise UsageError(f"--swa-full-tokens-ratio must be in (0, 1], got {ratio:g}")
    if ratio is not None and not hybrid:
        raise UsageError(f"--swa-full-tokens-ratio means nothing for {spec.id}: SGLang gives a separate "
                         "sliding-window pool only to " + ", ".join(c.hybrid_swa_model_types))
    note = None
    if sliding and not hybrid:
        note = (f"SGLang pages {spec.model_type}'s {len(sliding)} sliding-window layers as full ones (its separate "
                "SWA pool is for " + ", ".join(c.hybrid_swa_model_types) + " only)")
    elif hybrid:
        note = (f"SGLang's hybrid SWA pool: {len(full)} full layers hold max_total_num_tokens, {len(sliding)} "
                f"sliding-window layers {ratio or c.swa_full_tokens_ratio:g} x as many tokens "
                "(--swa-full-tokens-ratio)")
    return SwaPool(full, sliding, ratio or c.swa_full_tokens_ratio, hybrid, note)


@dataclass(frozen=True)
class StatePool:
    """SGLang's separate pool of per-request states (MambaPool) beside the full-attention token pool."""

    per_request: int
    """Bytes of one request's state over the stage's state layers (mamba_cache_per_req)."""
    slots: int
    """max_mamba_cache_size (the pool allocates one slot more)."""
    radix: bool
    ratio: float

    @property
    def bytes(self) -> int:
        return self.slots * self.per_request


def state_pool(inp: EngineInput, c: SglangConstants, layers: list[LayerKv], rest: int) -> StatePool | None:
    """handle_max_mamba_cache: how much of the rest after the weights goes to the state pool."""
    per_request = sum(x.state_bytes for x in layers if x.kind == "state")
    if not per_request:
        return None
    spec = inp.spec
    ratio = inp.setting("mamba_full_memory_ratio")
    ratio = c.mamba_full_memory_ratio if ratio is None else ratio
    if ratio <= 0:
        raise UsageError(f"--mamba-full-memory-ratio must be positive, got {ratio:g}")
    radix = not inp.setting("disable_radix_cache") and spec.model_type not in c.no_radix_cache_model_types
    given = inp.setting("max_mamba_cache_size")
    if given is not None and given <= 0:
        raise UsageError(f"--max-mamba-cache-size must be a positive integer, got {given}")
    if given is not None or not radix:
        slots = given or inp.setting("max_running_requests") or c.mamba_cache_size_without_radix
    else:
        slots = max(0, int(rest * ratio / (1 + ratio)) // per_request)
    return StatePool(per_request, slots, radix, ratio)


class _Sglang:
    name = "sglang"
    options = OPTIONS
    solve_targets = ("context-length", "concurrency")

    def _run(self, inp: EngineInput) -> EngineAllocation:
        if inp.total_bytes is None or inp.engine_constants is None:
            raise UsageError("--engine sglang sizes its pool from the GPU: give --gpu NAME or --memory AMOUNT")
        c = inp.engine_constants.sglang
        spec, w = inp.spec, inp.workload
        if spec.text is None:
            raise UsageError("--engine sglang needs a model with layers; a size literal has none")
        check_tensor_parallel(spec, w.tensor_parallel)  # both refuse heads that TP does not divide
        total = inp.total_bytes
        chunk, graph_bs, mfs = defaults(c, total, w.tensor_parallel, w.pipeline_parallel,
                                        inp.setting("chunked_prefill_size"))
        given = inp.setting("mem_fraction_static")
        if given is not None:
            if not 0 < given < 1:
                raise UsageError(f"--mem-fraction-static must be in (0, 1), got {given:g}")
            mfs = given
        context = inp.setting("context_length")
        context = (spec.text.max_position_embeddings or 2048) if context is None else context
        if context <= 0:
            raise UsageError(f"--context-length must be a positive integer, got {context}")
        if inp.setting("max_running_requests") is not None and inp.setting("max_running_requests") <= 0:
            raise UsageError(f"--max-running-requests must be a positive integer, got "
                             f"{inp.setting('max_running_requests')}")
        # SGLang turns chunked prefill off for a size <= 0: one prompt of up to context-length tokens per forward
        prefill = chunk if chunk > 0 else context
        elem = kv_element_bytes(w, self.name)
        refuse_state_flags(spec, inp.settings, ("max_mamba_cache_size", "mamba_ssm_dtype", "mamba_full_memory_ratio"),
                           "SGLang")
        ssm = inp.setting("mamba_ssm_dtype") or c.mamba_ssm_dtype
        ssm_bytes = ssm_dtype_bytes(ssm, "--mamba-ssm-dtype")
        everything, notes = stage_layers(spec, w, elem, lambda s: sglang_layout(s, w.tensor_parallel, ssm_bytes).bytes)
        layers = [x for x in everything if x.kind != "state"]
        if not layers:
            raise UsageError(f"--engine sglang: {spec.id} has no attention layers; SGLang ({c.version}) serves no "
                             "attention-free model")
        pool = swa_pool(spec, layers, c, inp.setting("swa_full_tokens_ratio"))
        if pool.note:
            notes.append(pool.note)
        if chunk <= 0:
            notes.append(f"--chunked-prefill-size {chunk}: chunked prefill off (SGLang), so one prompt of up to "
                         f"--context-length {context:,} tokens is prefilled in one forward")
        cell = sum(x.bytes_per_token for x in layers)
        weights, terms = weights_per_rank(spec, w, inp.gguf_types, 64)
        rt = w.runtime
        startup = rt.cuda_context_bytes + (rt.multi_gpu_comm_bytes if w.gpus > 1 else 0)
        free = total - startup
        static = int(free * mfs)
        rest = static - weights
        states = state_pool(inp, c, everything, rest)
        if states is not None:
            rest -= states.bytes
            notes.append(_state_note(spec.model_type, states, c, ssm))
        uniform_tokens = max(0, rest // cell) if cell else 0
        tokens, swa_tokens = pool.split(uniform_tokens)
        reqs = inp.setting("max_running_requests") or min(max(tokens * c.requests_per_context // context,
                                                              c.min_running_requests), c.max_running_requests)
        if states is not None:
            reqs = min(reqs, states.slots // (c.mamba_cache_per_running_request if states.radix else 1))
        starts = tokens > 0 and reqs > 0
        table = (reqs + 1) * (context + 4) * 4
        pool_bytes = pool.bytes(tokens, swa_tokens)
        cb = w.compute_format.flat_bytes(1)
        h = spec.text.hidden_size
        wf = replace(w, attention="flash", batch_size=1, seq_len=prefill, images=0, frames=0)
        # Layers without attention run SGLang's fused kernels: no float32 intermediates of the torch path.
        act = max((layer_forward_peak(b if b.state is None else replace(b, state=replace(b.state, work_fp32=0)),
                                      prefill, 1, prefill, cb, wf, h) for b in spec.decoder_blocks()
                   if b.attention is not None or b.state is not None), default=0)
        graphs = 0 if inp.setting("disable_cuda_graph") else c.reserved_mib_per_graph_bs * graph_bs * MIB
        margin = total - static
        warnings: list[str] = []
        if starts and startup + act + graphs + table > margin:
            warnings.append(f"the {margin / 2**30:.2f} GiB outside mem_fraction_static may be too small for the CUDA "
                         f"context, prefill activations, CUDA graphs and the request table "
                         f"({(startup + act + graphs + table) / 2**30:.2f} GiB estimated); lower "
                         "--mem-fraction-static if SGLang runs out of memory")
        state_bytes = states.bytes if states else 0
        need = weights + cell + (_least_state(states, c) if states else 0)
        frac = None if starts or need > free else cdiv(need * 1000, free) / 1000
        notes += warnings
        why = ("the static region leaves no room for the KV pool (Not enough memory)" if tokens <= 0 else
               f"its state pool of {states.slots if states else 0} sequences leaves no room for one running request")
        advice = tuple(warnings) if starts else (
            f"SGLang would refuse to start: {why}",
            *((f"--mem-fraction-static {frac:.3f} would start it",) if frac is not None else ()))
        terms += [
            Term(component="kv_cache", name="token KV pool", bytes=pool_bytes,
                 formula="(mem_fraction_static x free at start - weights) // cell tokens"
                         + (", split into full and sliding-window pools" if pool.hybrid else "") + " x bytes",
                 values={"mem_fraction_static": mfs, "free_at_start": free, "cell": cell, "tokens": tokens,
                         **({"swa_tokens": swa_tokens, "swa_full_tokens_ratio": pool.ratio} if pool.hybrid else {})},
                 source="SGLang model_runner.profile_max_num_token"
                        + (f"; {c.hybrid_swa_source}" if pool.hybrid else "")),
            *([Term(component="kv_cache", name="state pool (linear-attention / Mamba layers)", bytes=state_bytes,
                    formula="max_mamba_cache_size x one request's state" + (
                        " (max_mamba_cache_size = rest x ratio / (1 + ratio) // state)" if states.radix and
                        inp.setting("max_mamba_cache_size") is None else ""),
                    values={"max_mamba_cache_size": states.slots, "state_per_request": states.per_request,
                            "mamba_full_memory_ratio": states.ratio, "radix_cache": states.radix,
                            "mamba_ssm_dtype": ssm},
                    source=c.mamba_source)] if states else []),
            Term(component="activations", name="chunked prefill forward (outside the static region)", bytes=act,
                 formula="largest layer forward at chunked_prefill_size tokens (context_length with it off)",
                 values={"chunked_prefill_size": chunk, "prefill_tokens": prefill}, source="shared inference term",
                 approximate=True),
            Term(component="overhead", name="CUDA context, NCCL, CUDA graphs, request table", bytes=
                 startup + graphs + table, formula="context (+ NCCL) + 2 MiB x cuda_graph_max_bs + requests x "
                 "(context + 4) x 4", values={"cuda_graph_max_bs": graph_bs, "max_running_requests": reqs},
                 source="SGLang server_args reserve for CUDA graphs; init_memory_pool req_to_token", approximate=True)]
        details = PoolDetails(
            version=c.version, total_memory_bytes=total, utilization=mfs, budget_bytes=static,
            weights_bytes=weights, activation_peak_bytes=act, non_torch_bytes=0, cuda_graph_bytes=graphs,
            kv_pool_bytes=pool_bytes, kv_bytes_per_token=cell, block_size=1, kv_tokens=tokens,
            max_model_len=context, max_num_seqs=reqs, max_num_batched_tokens=prefill,
            max_concurrency=round(min(tokens / context, reqs), 2), starts=starts,
            largest_max_model_len=None if starts else 0, utilization_to_start=frac, startup_bytes=startup,
            margin_bytes=margin, in_budget={"weights": weights, "kv_pool" if starts else "kv_one_token":
                                            pool_bytes if starts else need - weights - state_bytes,
                                            **({"state_pool": state_bytes} if states else {})},
            outside_budget={"cuda_context": startup, "activation_peak": act, "cuda_graphs": graphs,
                            "request_table": table, **({"state_padding_slot": states.per_request} if states else {})},
            settings={"mem_fraction_static": mfs, "context_length": context, "max_running_requests": reqs,
                      "chunked_prefill_size": chunk, "tensor_parallel_size": w.tensor_parallel,
                      "kv_cache_dtype": w.kv_format.name, "cuda_graph_max_bs": graph_bs,
                      **({"swa_full_tokens_ratio": pool.ratio} if pool.hybrid else {}),
                      **({"max_mamba_cache_size": states.slots, "mamba_ssm_dtype": ssm,
                          "mamba_full_memory_ratio": states.ratio, "disable_radix_cache": not states.radix}
                         if states else {})},
            state_bytes_per_sequence=states.per_request if states else 0,
            state_slots=states.slots if states else None)
        est = Estimate(
            model_id=spec.id, model_type=spec.model_type, parameters=spec.parameters,
            active_parameters=spec.active_parameters, trainable_parameters=0,
            parameters_by_component=spec.params_by_component(), weights_by_component={"weights": weights},
            bits_per_parameter=whole_model_bits(spec, w, inp.gguf_types),
            kv_cache_bytes_per_token=kv_cache_bytes_per_token(spec, w), tokens_per_sequence=context,
            breakdown=Breakdown(weights_bytes=weights,
                                kv_cache_bytes=(pool_bytes if starts else need - weights - state_bytes) + state_bytes,
                                activations_bytes=act,
                                overhead_bytes=startup + graphs + table + (states.per_request if states else 0)),
            cpu_bytes=0, terms=tuple(terms), notes=tuple(dict.fromkeys(notes)),
            stored_format=stored_format_label(spec, w))
        return EngineAllocation(name=self.name, estimate=est, needed_bytes=need, budget_bytes=static,
                                budget_label=f"{mfs:g} x {free / 2**30:.2f} GiB free at start", details=details,
                                advice=advice, workload=replace(w, seq_len=context, batch_size=max(reqs, 1)),
                                workload_label=f"--max-running-requests {reqs:,}, --context-length {context:,}")

    def allocate(self, inp: EngineInput) -> EngineAllocation:
        return self._run(inp)

    def solve(self, inp: EngineInput, target: str) -> Solved:
        alloc = self._run(inp)
        d: PoolDetails = alloc.details
        if target == "context-length":
            cap = inp.spec.text.max_position_embeddings if inp.spec.text else None
            value = min(d.kv_tokens, cap) if cap else d.kv_tokens
            return Solved(target, value, cap, alloc, "tokens per sequence")
        if target == "concurrency":
            return Solved(target, min(d.kv_tokens // d.max_model_len, d.max_num_seqs), None, alloc,
                          f"sequences of {d.max_model_len:,} tokens")
        raise UsageError(f"unknown --solve {target!r}; choose context-length or concurrency")


ENGINE = _Sglang()


def _least_state(states: StatePool, c: SglangConstants) -> int:
    """State bytes the static region must hold for one running request: the slots it needs (3 with the
    radix cache), and with the ratio split enough rest that its share holds them."""
    slots = c.mamba_cache_per_running_request if states.radix else 1
    least = slots * states.per_request
    if not states.radix:
        return least
    return math.ceil(least * (1 + states.ratio) / states.ratio) - least


def _state_note(model_type: str, states: StatePool, c: SglangConstants, ssm: str) -> str:
    note = (f"SGLang keeps each request's linear-attention / Mamba state in a pool of its own: "
            f"{states.slots:,} slots of {states.per_request / 2**20:.2f} MiB (SSM state in {ssm})")
    if states.radix:
        note += (f"; with the radix cache at most {states.slots // c.mamba_cache_per_running_request:,} requests "
                 f"run at once (slots / {c.mamba_cache_per_running_request})")
    if model_type not in c.mamba_model_types:
        note += (f"; {c.version} builds this pool for " + ", ".join(c.mamba_model_types)
                 + f" only, {model_type} is sized as they are")
    return note
