"""Running models larger than the GPU: layer-by-layer inference, CPU offload, and compression runs.

Pure functions over a ModelSpec, a Workload and the per-block weight bytes of
:func:`vram.estimate.module_bytes`. Sources:
  layered   AirLLM (lyogavin/airllm): one decoder layer resident at a time, every layer read from
            disk once per forward pass
  offload   accelerate's ``device_map="auto"``: modules placed in order on the GPU until the budget
            is used, the rest on CPU (then disk); offloaded layers run on the GPU one at a time, so
            room for the largest one is kept free
  compress  LLM Compressor's sequential onloading (docs/guides/memory.md): one decoder layer on the
            GPU at a time, vision towers whole; GPTQ and SparseGPT keep one fp32 Hessian of
            in_features^2 per Linear of the onloaded layer (gptq_quantize.make_empty_hessian)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from vram.breakdown import Breakdown, Estimate, Term
from vram.errors import UsageError
from vram.model import ModelSpec
from vram.precision import Format
from vram.terms.activations import layer_forward_peak
from vram.terms.kv import kv_cache, visual_tokens
from vram.terms.weights import ModuleBytes, module_bytes
from vram.workload import Workload

Algorithm = Literal["rtn", "gptq", "sparsegpt", "awq"]
ALGORITHMS: tuple[str, ...] = ("rtn", "gptq", "sparsegpt", "awq")


def _layers(mods: list[ModuleBytes]) -> list[ModuleBytes]:
    return [m for m in mods if m.component.kind == "decoder" and m.block.is_layer]


def _inside(mods: list[ModuleBytes]) -> int:
    """Bytes of the parts inside each decoder layer (Block.within_layers: an encoder-decoder's
    cross-attention), which load and run with the layer they sit in."""
    return sum(m.per_layer_bytes for m in mods if m.component.kind == "decoder" and m.block.within_layers)


def _units(order: list[ModuleBytes]) -> list[tuple[ModuleBytes, int]]:
    """(module, bytes) of each unit that is placed or loaded whole: one per layer, the parts inside
    the layers folded into it."""
    inside = _inside(order)
    return [(m, m.per_layer_bytes + (inside if m.component.kind == "decoder" and m.block.is_layer else 0))
            for m in order if not m.block.within_layers for _ in range(m.block.count)]


def _with(est: Estimate, *, weights: int, kv: int, act: int, cpu: int, terms: list[Term], notes: list[str]) -> Estimate:
    b = est.breakdown
    breakdown = Breakdown(weights_bytes=weights, kv_cache_bytes=kv, activations_bytes=act,
                          gradients_bytes=b.gradients_bytes, optimizer_bytes=b.optimizer_bytes,
                          overhead_bytes=b.overhead_bytes)
    return replace(est, breakdown=breakdown, cpu_bytes=cpu, terms=est.terms + tuple(terms),
                   notes=est.notes + tuple(notes))


@dataclass(frozen=True, eq=False)
class LayeredPlan:
    largest_module: str
    largest_module_bytes: int
    disk_read_per_token_bytes: int


def layered(spec: ModelSpec, w: Workload, est: Estimate, gguf_types: dict[str, Format]) -> tuple[Estimate, LayeredPlan]:
    """Layer-by-layer inference: the GPU holds the largest module, its activations and KV slice."""
    if w.mode != "inference":
        raise UsageError("--runtime layered runs inference one layer at a time; it cannot train")
    if not spec.has_architecture or spec.text is None:
        raise UsageError("--runtime layered needs the model's layers: name a model or a config, not a size")
    mods = module_bytes(spec, w, gguf_types)
    largest, largest_bytes = max(_units(mods), key=lambda u: u[1])
    n_layers = sum(m.block.count for m in _layers(mods)) or 1
    kv_total, _ = kv_cache(spec, w)
    kv_slice = -(-kv_total // n_layers)
    c = w.compute_format.flat_bytes(1)
    seq = w.seq_len + visual_tokens(spec, w)
    act = max((layer_forward_peak(m.block, w.batch_size * seq, w.batch_size, seq, c, w, spec.text.hidden_size)
               for m in _layers(mods)), default=0)
    act = max(act, w.batch_size * (spec.text.logits_width or spec.text.vocab_size) * (c + 4))
    disk = sum(m.total_bytes for m in mods)
    name = f"{largest.component.name}.{largest.block.name}"
    plan = LayeredPlan(largest_module=name, largest_module_bytes=largest_bytes,
                       disk_read_per_token_bytes=disk)
    terms = [Term(component="weights", name=f"largest module on the GPU: {name}", bytes=largest_bytes,
                  formula="max over modules (a decoder layer, the embeddings, lm_head, vision tower) of its bytes",
                  values={"disk_read_per_token_bytes": disk}, source="AirLLM layered inference")]
    notes = [f"layered: one module at a time on the GPU; every forward pass (each generated token) reads "
             f"{disk:,} bytes of weights from disk", "the KV cache of the other layers waits in CPU memory"]
    return _with(est, weights=largest_bytes, kv=kv_slice, act=act,
                 cpu=kv_total - kv_slice + largest_bytes, terms=terms, notes=notes), plan


@dataclass(frozen=True, eq=False)
class OffloadPlan:
    gpu_layers: int
    cpu_layers: int
    disk_layers: int
    gpu_weights_bytes: int
    cpu_bytes: int
    disk_bytes: int
    fits: bool


def offload(spec: ModelSpec, w: Workload, est: Estimate, gguf_types: dict[str, Format], *, gpu_budget: int,
            cpu_budget: int | None) -> tuple[Estimate, OffloadPlan]:
    """accelerate's device_map="auto": modules in order onto the GPU while they fit, then CPU, then disk."""
    if w.mode != "inference":
        raise UsageError("--offload cpu places inference layers; for training use --offload optimizer|params")
    mods = module_bytes(spec, w, gguf_types)
    b = est.breakdown
    fixed = b.kv_cache_bytes + b.activations_bytes + b.overhead_bytes
    order = ([m for m in mods if m.component.kind in ("vision", "projector", "embedding")]
             + [m for m in mods if m.component.kind == "decoder"]
             + [m for m in mods if m.component.kind not in ("vision", "projector", "embedding", "decoder")])
    units = _units(order)
    largest_layer = max((m.per_layer_bytes for m in _layers(mods)), default=0) + _inside(mods)
    gpu = cpu = disk = 0
    gpu_layers = cpu_layers = disk_layers = 0
    offloading = False
    for m, size in units:
        is_layer = m.component.kind == "decoder" and m.block.is_layer
        reserve = 0 if offloading else largest_layer  # room to run an offloaded layer, once one exists
        if not offloading and fixed + gpu + size + reserve <= gpu_budget:
            gpu += size
            gpu_layers += is_layer
            continue
        offloading = True
        if cpu_budget is None or cpu + size <= cpu_budget:
            cpu += size
            cpu_layers += is_layer
        else:
            disk += size
            disk_layers += is_layer
    buffer = largest_layer if (cpu or disk) else 0
    weights = gpu + buffer
    fits = fixed + weights <= gpu_budget
    plan = OffloadPlan(gpu_layers=gpu_layers, cpu_layers=cpu_layers, disk_layers=disk_layers,
                       gpu_weights_bytes=gpu, cpu_bytes=cpu, disk_bytes=disk, fits=fits)
    terms = [Term(component="weights", name="GPU-resident modules + one offloaded layer in flight", bytes=weights,
                  formula="modules in order while KV + activations + overhead + them + largest layer <= budget",
                  values={"gpu_layers": gpu_layers, "cpu_layers": cpu_layers, "disk_layers": disk_layers,
                          "cpu_bytes": cpu, "disk_bytes": disk},
                  source="accelerate infer_auto_device_map (device_map='auto')", approximate=True)]
    notes = [f"offload: {gpu_layers} decoder layers on the GPU, {cpu_layers} in CPU memory"
             + (f", {disk_layers} on disk" if disk_layers else "")
             + "; offloaded layers are copied to the GPU for every forward pass"]
    return _with(est, weights=weights, kv=b.kv_cache_bytes, act=b.activations_bytes, cpu=cpu, terms=terms,
                 notes=notes), plan


@dataclass(frozen=True, eq=False)
class CompressPlan:
    cpu_bytes: int
    gpu_bytes: int
    output_bytes: int
    onloaded: str
    layer_bytes: int
    vision_bytes: int
    hessian_bytes: int
    workspace_bytes: int
    calibration_bytes: int
    overhead_bytes: int
    rule_of_thumb_bytes: int
    """The seed note's rule: the Hessian is about as large as the layer (GPTQ/SparseGPT: 2 x layer)."""


def compress(spec: ModelSpec, w: Workload, gguf_types: dict[str, Format], *, algorithm: str, output: Workload,
             samples: int, seq_len: int, batch_size: int = 1) -> CompressPlan:
    """CPU and GPU memory of an LLM Compressor run, and the size of what it writes.

    ``w`` carries the checkpoint dtype (weights as loaded); ``output`` the target scheme.
    """
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown --algorithm {algorithm!r}; choose one of: {', '.join(ALGORITHMS)}")
    if not spec.has_architecture or spec.text is None:
        raise UsageError("vram compress needs the model's layers: name a model or a config, not a size")
    mods = module_bytes(spec, w, gguf_types)
    c = w.compute_format.flat_bytes(1)
    h = spec.text.hidden_size
    layers = _layers(mods)
    inside = [m for m in mods if m.component.kind == "decoder" and m.block.within_layers]
    inside_hessians = sum(4 * lin.in_features ** 2 * lin.copies for m in inside for lin in m.block.linears)
    hessians = max((sum(4 * lin.in_features ** 2 * lin.copies for lin in m.block.linears) + inside_hessians
                    for m in layers), default=0) if algorithm in ("gptq", "sparsegpt") else 0
    workspace = max((4 * lin.in_features ** 2 for m in layers for lin in m.block.linears),
                    default=0) if algorithm in ("gptq", "sparsegpt") else 0
    tokens = min(batch_size, samples) * seq_len  # one calibration batch on the GPU; the rest waits on the CPU
    if algorithm == "rtn":
        calib = 0
    elif algorithm == "awq":
        widest = max((m.block.mlp_width or m.block.expert_width for m in layers), default=0)
        calib = tokens * c * (2 * h + h + widest)  # layer input and output, plus the inputs of each Linear group
    else:
        calib = 2 * tokens * h * c  # the layer's inputs and outputs for the calibration batch
    layer = max((m.per_layer_bytes for m in layers), default=0) + _inside(mods)
    vision = sum(m.total_bytes for m in mods if m.component.kind in ("vision", "projector"))
    overhead = w.runtime.cuda_context_bytes
    text_unit = layer + hessians + workspace + calib
    vision_unit = vision + (2 * min(batch_size, samples) * (spec.vision.patches_per_image if spec.vision else 0)
                            * (spec.vision.hidden_size if spec.vision else 0) * c if algorithm != "rtn" else 0)
    gpu = max(text_unit, vision_unit) + overhead
    onloaded = "vision tower" if vision_unit > text_unit else "one decoder layer"
    whole = sum(m.total_bytes for m in mods)
    cpu = whole + (samples * seq_len * h * c if algorithm != "rtn" else 0)  # intermediate activations, all samples
    out_bytes = sum(m.total_bytes for m in module_bytes(spec, output, gguf_types))
    rule = 2 * layer if algorithm in ("gptq", "sparsegpt") else layer
    return CompressPlan(cpu_bytes=cpu, gpu_bytes=gpu, output_bytes=out_bytes, onloaded=onloaded, layer_bytes=layer,
                        vision_bytes=vision, hessian_bytes=hessians, workspace_bytes=workspace,
                        calibration_bytes=calib, overhead_bytes=overhead, rule_of_thumb_bytes=rule)
