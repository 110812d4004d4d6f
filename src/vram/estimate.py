"""estimate(spec, workload) -> Estimate: the memory model. Pure: no I/O, integers of bytes.

Every term records its formula, the numbers it used and its source, so that ``--explain`` can
show them and docs/math.md can cite them. Sources, by term:
  weights      shapes from the config x the storage layout of the format (docs/math.md "Weights")
  kv cache     2 x layers x kv_heads x head_dim x tokens x bytes; MLA caches its latent once
               (DeepSeek-V2, arXiv:2405.04434); sliding layers keep at most the window
  activations  inference: the largest transient set of one layer's forward, or the logits;
               training: the tensors each layer saves for backward (Korthikanti et al. 2022,
               arXiv:2205.05198, adapted to SwiGLU, RMSNorm and fused attention)
  gradients / optimizer  ZeRO (arXiv:1910.02054) for mixed precision, torch.optim and
               bitsandbytes code for the state tensors
  overhead     CUDA context and allocator slack from measurements (docs/validation.md)
"""

from __future__ import annotations

from dataclasses import replace

from vram.breakdown import Breakdown, Estimate, Term, Value
from vram.errors import UsageError
from vram.model import ModelSpec
from vram.precision import Format
from vram.terms.activations import activations
from vram.terms.kv import kv_cache, kv_cache_bytes_per_token, kv_layers, state_bytes_per_sequence, visual_tokens
from vram.terms.lora import check_lora_targets, lora_linears, lora_parameters
from vram.terms.parallel import MAX_TENSOR_PARALLEL, check_tensor_parallel, distribute, tensor_parallel_degrees
from vram.terms.training import gradients_at_peak, optimizer_state_bytes, reference_weights, training_states
from vram.terms.weights import (
    ModuleBytes,
    module_bytes,
    shard,
    stored_format_label,
    stored_scheme_of,
    use_more_bits,
    weights_by_component,
)
from vram.units import scale
from vram.workload import Workload

__all__ = ["MAX_TENSOR_PARALLEL", "Breakdown", "Estimate", "ModuleBytes", "Term", "Value", "activations",
           "check_tensor_parallel", "estimate", "kv_cache", "kv_cache_bytes_per_token", "lora_linears",
           "lora_parameters", "module_bytes", "optimizer_state_bytes", "tensor_parallel_degrees", "use_more_bits",
           "visual_tokens", "weights_by_component"]


def estimate(spec: ModelSpec, workload: Workload, *, gguf_types: dict[str, Format] | None = None) -> Estimate:
    """The memory needed to run ``workload`` on ``spec``, per GPU."""
    w = workload
    gguf_types = gguf_types or {}
    if w.weight_format.mix is not None:
        missing = {w.weight_format.mix.output, w.weight_format.mix.token_embedding,
                   w.weight_format.mix.more_bits_type or w.weight_format.mix.output} - set(gguf_types)
        if missing:
            raise UsageError(f"format {w.weight_format.name} needs the GGUF types {sorted(missing)}")
    training = w.mode != "inference"
    if w.mode in ("lora", "qlora"):
        check_lora_targets(spec, w.lora_targets)
    check_tensor_parallel(spec, w.tensor_parallel)
    if spec.text and w.pipeline_parallel > spec.text.num_layers:
        raise UsageError(f"--pp {w.pipeline_parallel} is more pipeline stages than {spec.id}'s "
                         f"{spec.text.num_layers} layers")
    if w.mode == "training" and w.weight_format.kind != "float":
        raise UsageError(f"full training needs float weights, not {w.weight_format.name}; "
                         "use --mode qlora for a quantized base")
    notes: list[str] = list(spec.notes)
    terms: list[Term] = []
    if (w.images or w.frames) and spec.vision is None:
        raise UsageError(f"--images and --frames need a multimodal model; {spec.id} has no vision encoder")
    window = spec.text.max_position_embeddings if spec.text else None
    tokens = w.seq_len + visual_tokens(spec, w)
    if spec.vision is not None and (w.images or w.frames):
        notes.append(spec.vision.describe(w.images, w.frames, w.image_size))
    if window and tokens > window:
        notes.append(f"{tokens:,} tokens per sequence exceed the model's context window ({window:,} positions)")
    stored_dtype = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(spec.checkpoint_dtype or "")
    if stored_dtype and w.weight_format.kind == "float" and stored_dtype != w.weight_format.name:
        notes.append(f"the checkpoint is stored in {stored_dtype}; this estimate loads it in {w.weight_format.name} "
                     f"(--dtype {stored_dtype} for the stored precision)")

    as_stored = w.stored_weights and w.mode != "training"
    if w.stored_weights and w.mode == "training" and spec.quantization:
        notes.append(f"the checkpoint is pre-quantized ({spec.quantization}); full training needs float weights, so "
                     f"they are counted in {w.weight_format.name} (--mode lora keeps the stored format)")
    scheme = stored_scheme_of(spec, w)
    stored_format = stored_format_label(spec, w)
    if as_stored and spec.stored_weight_bytes is not None:
        by_comp = {"stored": shard(spec.stored_weight_bytes, w.tensor_parallel)}
        weights = by_comp["stored"]
        terms.append(Term(component="weights", name="weights as stored in the checkpoint", bytes=weights,
                          formula="sum over safetensors tensors of their stored bytes (/ GPUs)",
                          values={"stored_bytes": spec.stored_weight_bytes,
                                  "quantization": spec.quantization or "none"},
                          source="safetensors headers"))
        # Bits per value of what is stored: quantized matrices per parameter of the config, plain
        # checkpoints per value they hold.
        per = spec.parameters if spec.quantization else (spec.stored_weight_values or spec.parameters)
        bits = spec.stored_weight_bytes * 8 / per if per else 0.0
    else:
        by_comp = weights_by_component(spec, w, gguf_types)
        weights = sum(by_comp.values())
        fmt = scheme.fmt if scheme else w.weight_format
        terms.append(Term(component="weights",
                          name=f"weights as stored: {scheme.label}" if scheme else f"weights in {fmt.name}",
                          bytes=weights,
                          formula="sum over tensors of the format's bytes for that shape" if spec.has_architecture
                          else "parameters x bits per parameter / 8",
                          values={**{f"{k}_bytes": v for k, v in by_comp.items()}, "format": fmt.name,
                                  "unquantized": (scheme.unquantized if scheme else w.unquantized_format).name},
                          source=fmt.source))
        unsharded = (weights_by_component(spec, replace(w, tensor_parallel=1), gguf_types)
                     if w.tensor_parallel > 1 else by_comp)
        bits = sum(unsharded.values()) * 8 / spec.parameters if spec.parameters else 0.0

    kv, kv_terms = (0, []) if training or not spec.has_architecture else kv_cache(spec, w)
    terms.extend(kv_terms)
    windows = sorted({int(t.values["window"]) for t in kv_terms
                      if t.values.get("window") and int(t.values["cached_tokens"]) < tokens})
    if windows:
        capped = sum(int(t.values["layers"]) for t in kv_terms if t.values.get("window") in windows)
        notes.append(f"sliding-window attention: {capped} layer(s) cache at most "
                     f"{', '.join(f'{x:,}' for x in windows)} of the {tokens:,} tokens per sequence")
        rates = sorted({int(t.values["rate"]) for t in kv_terms if t.values.get("rate")})
        if rates:
            notes[-1] += (" in their window, plus one compressed entry per "
                          f"{' or '.join(f'{x:,}' for x in rates)} tokens of the whole sequence")
    act, act_terms = activations(spec, w, training=training,
                                 loss_free_bytes=_free_at_loss(spec, w, weights, by_comp) if training else None)
    terms.extend(act_terms)
    if any(b.state is not None and (b.state.mixer == "mamba1" or (b.state.mixer == "mamba2" and training))
           for b in spec.decoder_blocks()):
        notes.append("Mamba layers run mamba_ssm's fused selective scan, as transformers does when mamba-ssm and "
                     "causal-conv1d are installed (--mamba-kernels torch: its torch scan, which keeps float32 "
                     "inner x state tensors for the whole sequence)" if w.mamba_kernels == "fused" else
                     "Mamba layers run transformers' torch scan (--mamba-kernels torch): float32 inner x state "
                     "tensors for the whole sequence")
    offloaded = next((int(t.values["cpu_bytes"]) for t in act_terms if "cpu_bytes" in t.values), 0)
    if not spec.has_architecture:
        notes.append("size literal: the architecture is unknown, so KV cache and activations are not "
                     "estimated; name a model or a config for those")

    grads = opt = 0
    trainable = 0
    if training:
        extra, grads, opt, trainable, t_terms, t_notes = training_states(spec, w)
        weights += extra + reference_weights(w, by_comp, terms)
        notes.extend(w.framework_defaults)
        terms.extend(t_terms)
        notes.extend(t_notes)
        grads, act = gradients_at_peak(spec, w, grads, act, terms, notes)

    weights, kv, grads, opt, cpu = distribute(spec, w, by_comp, weights, kv, grads, opt, terms, notes)
    if offloaded:
        cpu += offloaded
        notes.append(f"activation offload: {offloaded:,} bytes of saved activations in pinned CPU memory (cpu_bytes)")

    rt = w.runtime
    if w.overhead_percent is not None:
        overhead = scale(sum(by_comp.values()), w.overhead_percent / 100)
        terms.append(Term(component="overhead", name=f"{w.overhead_percent:g}% of the weights (rule of thumb)",
                          bytes=overhead, formula="weights x percent / 100",
                          values={"percent": w.overhead_percent}, approximate=True,
                          source="seed notes' rule of thumb; replaces the modelled runtime overhead"))
        notes.append(f"--overhead-percent {w.overhead_percent:g}: runtime overhead is a rule of thumb, "
                     "not the measured CUDA context and allocator reserve")
    else:
        fraction = rt.allocator_reserve_fraction_training if training else rt.allocator_reserve_fraction_inference
        reserve = scale(act, fraction)
        comm = rt.multi_gpu_comm_bytes if w.gpus > 1 else 0
        overhead = rt.cuda_context_bytes + reserve + comm
        terms.append(Term(component="overhead", name="CUDA context + allocator reserve", bytes=overhead,
                          formula="context + reserve_fraction x activations (+ NCCL buffers when sharded)",
                          values={"context_bytes": rt.cuda_context_bytes,
                                  "reserve_fraction": fraction, "comm_bytes": comm},
                          source=rt.source, approximate=True))
    breakdown = Breakdown(weights_bytes=weights, kv_cache_bytes=kv, activations_bytes=act,
                          gradients_bytes=grads, optimizer_bytes=opt, overhead_bytes=overhead)
    if w.colocated_vllm is not None and training and spec.has_architecture:
        from vram.colocate import colocate
        from vram.terms.training import grpo_buffers

        held = grpo_buffers(w, w.compute_format.flat_bytes(1) if w.compute_format.weight_bits >= 8 else 2)[0]
        breakdown, c_terms, c_notes = colocate(spec, w, breakdown, context=rt.cuda_context_bytes, held=held,
                                               gguf_types=gguf_types)
        terms.extend(c_terms)
        notes.extend(c_notes)
    return Estimate(model_id=spec.id, model_type=spec.model_type, parameters=spec.parameters,
                    active_parameters=spec.active_parameters, trainable_parameters=trainable,
                    parameters_by_component=spec.params_by_component(), weights_by_component=by_comp,
                    bits_per_parameter=round(bits, 4),
                    kv_cache_bytes_per_token=kv_cache_bytes_per_token(spec, w) if spec.has_architecture else 0,
                    tokens_per_sequence=tokens,
                    breakdown=breakdown, cpu_bytes=cpu, terms=tuple(terms), notes=tuple(dict.fromkeys(notes)),
                    stored_format=stored_format,
                    kv_state_bytes_per_sequence=state_bytes_per_sequence(spec, w) if spec.has_architecture else 0,
                    kv_layers=kv_layers(spec, w) if spec.has_architecture else ())



def _free_at_loss(spec: ModelSpec, w: Workload, weights: int, by_comp: dict[str, int]) -> int | None:
    """The card's free memory when the loss runs, for Unsloth's loss, which sizes its chunks from it
    (unsloth_zoo fused_losses/cross_entropy_loss.py, torch.cuda.mem_get_info): the card's total less
    the CUDA context, the weights (adapters and a reference copy included), the optimizer states and
    the saved activations still on the GPU at the end of forward (not the layer backward recomputes).
    None when no card was named or another loss runs."""
    if w.card_bytes is None or w.loss != "fused" or w.fused_kernel != "unsloth" or not spec.has_architecture:
        return None
    extra, _, opt, _, _, _ = training_states(spec, w)
    ref = sum(by_comp.values()) if w.reference_model else 0
    _, terms = activations(spec, w, training=True)
    saved = next((t for t in terms if t.name.startswith("activation offload")), None) or next(
        (t for t in terms if t.name.startswith("decoder layers")), None)
    on_gpu = 0
    if saved is not None:
        layer = int(next((t.values.get("per_layer_bytes", 0) for t in terms if t.name.startswith("decoder layers")),
                         0))
        on_gpu = saved.bytes - (layer if w.gradient_checkpointing else 0)
    resident = w.runtime.cuda_context_bytes + weights + extra + ref + opt + on_gpu
    return max(0, w.card_bytes - resident)
