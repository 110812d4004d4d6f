"""Many GPUs: tensor-parallel degrees, pipeline stages, ZeRO/FSDP sharding and CPU offload of states."""

from __future__ import annotations

from vram.breakdown import Term
from vram.errors import UsageError
from vram.model import ModelSpec
from vram.workload import Workload

MAX_TENSOR_PARALLEL = 64


def tensor_parallel_degrees(spec: ModelSpec, limit: int = MAX_TENSOR_PARALLEL) -> list[int]:
    """Degrees a model can be split over: attention heads divide evenly, and KV heads divide evenly
    or are replicated (Megatron-LM and vLLM both need one of these)."""
    heads = {(b.attention.num_heads, b.attention.num_kv_heads) for b in spec.decoder_blocks() if b.attention}
    if not heads:
        return list(range(1, limit + 1))
    return [n for n in range(1, limit + 1)
            if all(a % n == 0 and (kv % n == 0 or n % kv == 0) for a, kv in heads)]


def check_tensor_parallel(spec: ModelSpec, n: int) -> None:
    if n > 1 and n not in tensor_parallel_degrees(spec, n):
        a = next((b.attention for b in spec.decoder_blocks() if b.attention), None)
        what = f"{a.num_heads} attention heads and {a.num_kv_heads} KV heads" if a else "its layers"
        raise UsageError(f"a tensor-parallel degree of {n} cannot split {spec.id}: it has {what}; use a degree "
                         "that divides them")



def _stage_fraction(spec: ModelSpec, by_comp: dict[str, int], stages: int) -> float:
    """Share of the weights on the heaviest pipeline stage: its layers, plus the embeddings and vision
    tower on the first stage, or the final norm and lm_head on the last (a tied embedding is copied
    there)."""
    total = sum(by_comp.values())
    layers = sum(b.count for b in spec.decoder_blocks() if b.is_layer) if spec.has_architecture else 0
    if not total or not layers:
        return 1.0
    decoder = by_comp.get("decoder", 0)
    per_layer = decoder / layers
    first = sum(v for k, v in by_comp.items() if k in ("embeddings", "vision_tower", "projector"))
    last = by_comp.get("lm_head", by_comp.get("embeddings", 0) if spec.tied_embeddings else 0)
    stage = -(-layers // stages) * per_layer + max(first, last)
    return min(1.0, stage / total)


def _largest_layer(spec: ModelSpec) -> int:
    """Parameters of the largest decoder layer (0 for a size literal, which has no layers)."""
    if not spec.has_architecture:  # a size literal: no layers
        return 0
    return spec.largest_layer(lambda b: b.params_per_layer)


def distribute(spec: ModelSpec, w: Workload, by_comp: dict[str, int], weights: int, kv: int, grads: int,
                opt: int, terms: list[Term], notes: list[str]) -> tuple[int, int, int, int, int]:
    """Pipeline stages, ZeRO/FSDP sharding and CPU offload, applied to the per-GPU states.

    ZeRO (Rajbhandari et al. 2020): stage 1 divides optimizer states by the data-parallel degree,
    stage 2 also gradients, stage 3 also parameters, which are gathered a layer at a time (the
    current and the prefetched one in 16-bit: 4 bytes x the largest layer, as DeepSpeed's own
    estimator counts). Offload (ZeRO-Offload, Ren et al. 2021) moves optimizer states and master
    weights, or also the parameter shards, to CPU memory.
    """
    cpu = 0
    p = w.pipeline_parallel
    if p > 1:
        frac = _stage_fraction(spec, by_comp, p)
        layers = spec.text.num_layers if spec.text else 1
        weights, grads, opt = (-(-int(x * frac * 1_000_000) // 1_000_000) for x in (weights, grads, opt))
        kv = -(-kv * (-(-layers // p)) // layers)
        terms.append(Term(component="weights", name=f"heaviest of {p} pipeline stages", bytes=weights,
                          formula="layers/p x per-layer bytes + max(embeddings and vision, lm_head)",
                          values={"stages": p, "share": round(frac, 4)}, approximate=True,
                          source="embeddings on the first stage, lm_head on the last (Megatron-LM)"))
    if w.zero_stage:
        s = w.state_shards
        if w.zero_stage >= 1:
            opt = -(-opt // s)
        if w.zero_stage >= 2:
            grads = -(-grads // s)
        if w.zero_stage >= 3:
            c = w.compute_format.flat_bytes(1)
            largest = _largest_layer(spec)
            gathered = 2 * largest * c // w.tensor_parallel
            weights = -(-weights // s) + gathered
            terms.append(Term(component="weights", name="ZeRO-3 gathered layer buffers", bytes=gathered,
                              formula="2 layers (current + prefetched) x largest layer x bytes",
                              values={"largest_layer_params": largest}, approximate=True,
                              source="DeepSpeed estimate_zero3_model_states_mem_needs (4 x largest layer)"))
        notes.append(f"ZeRO stage {w.zero_stage} over {s} GPUs: "
                     + ("optimizer states" if w.zero_stage == 1 else "optimizer states and gradients"
                        if w.zero_stage == 2 else "optimizer states, gradients and parameters") + " sharded")
    if w.offload == "optimizer":
        cpu += opt
        notes.append("optimizer states and fp32 master weights offloaded to CPU memory (cpu_bytes)")
        opt = 0
    elif w.offload == "params":
        c = w.compute_format.flat_bytes(1)
        largest = _largest_layer(spec)
        gathered = 2 * largest * c // w.tensor_parallel
        cpu += opt + max(0, weights - gathered)
        notes.append("parameter shards and optimizer states offloaded to CPU memory (cpu_bytes); the GPU "
                     "holds the gathered layers")
        weights, opt = gathered, 0
    return weights, kv, grads, opt, cpu
