"""Training states: gradients, optimizer states and master weights, and where in the step they peak.

ZeRO (arXiv:1910.02054) for mixed precision; torch.optim and bitsandbytes code for the state tensors.
"""

from __future__ import annotations

from collections.abc import Iterator

from vram.breakdown import Term
from vram.model import ModelSpec
from vram.terms.lora import lora_linears, lora_parameters
from vram.terms.weights import shard
from vram.workload import Workload


def _tensors(spec: ModelSpec) -> Iterator[tuple[int, int, int]]:
    """(rows, cols, copies) of every trainable tensor; vectors have cols == 0."""
    for comp in spec.components:
        if not comp.loaded:
            continue
        for b in comp.blocks:
            for lin in b.linears:
                yield lin.out_features, lin.in_features, lin.copies * b.count
                if lin.bias:
                    yield lin.out_features, 0, lin.copies * b.count
            if b.embedding_params:
                width = spec.text.hidden_size if spec.text else 1
                yield b.embedding_params // width, width, b.count
            if b.other_params:
                yield b.other_params, 0, b.count


def optimizer_state_bytes(optimizer: str, tensors: list[tuple[int, int, int]], state_bytes: int) -> int:
    """Bytes of optimizer state for the given tensors.

    adamw: two moments (torch.optim.AdamW creates them like the parameter); sgd-momentum and lion:
    one; adafactor: factored row and column statistics for matrices (Shazeer & Stern 2018), a full
    second moment for vectors; 8-bit AdamW: two uint8 states plus an fp32 absmax per 256 values,
    tensors under 4096 values kept in 32-bit (bitsandbytes Optimizer2State, min_8bit_size).
    """
    total = 0
    for rows, cols, copies in tensors:
        n = rows * max(cols, 1)
        if optimizer == "adamw":
            per = 2 * n * state_bytes
        elif optimizer in ("adamw-8bit", "paged-adamw-8bit"):
            per = 2 * (n + 4 * -(-n // 256)) if n >= 4096 else 8 * n
        elif optimizer in ("sgd-momentum", "lion"):
            per = n * state_bytes
        elif optimizer == "adafactor":
            per = 4 * (rows + cols) if cols else 4 * n
        else:
            per = 0
        total += copies * per
    return total


def training_states(spec: ModelSpec, w: Workload) -> tuple[int, int, int, int, list[Term], list[str]]:
    """(extra weight bytes, gradient bytes, optimizer bytes, trainable params, terms, notes)."""
    notes: list[str] = []
    terms: list[Term] = []
    tp = w.tensor_parallel
    if w.mode == "qlora":
        linear = sum(b.count * lin.params for comp in spec.components if comp.kind in ("decoder", "mtp")
                     and comp.loaded for b in comp.blocks for lin in b.linears)
        rest = spec.parameters - linear
        notes.append(f"peft's prepare_model_for_kbit_training upcasts the {rest:,} parameters that stay 16-bit "
                     f"(embeddings, lm_head, norms) to fp32: add {2 * rest:,} bytes if you call it "
                     "(TRL with bf16=True casts them back)")
    if w.mode in ("lora", "qlora"):
        trainable = lora_parameters(spec, w.lora_rank, w.lora_targets)
        adapter = w.lora_format or w.compute_format
        ab = adapter.flat_bytes(1)
        adapters = shard(trainable * ab, tp)
        grads = shard(trainable * ab, tp)
        shapes = [(w.lora_rank, lin.in_features + lin.out_features, b.count * lin.copies)
                  for b, lin in lora_linears(spec, w.lora_targets)]
        opt = shard(optimizer_state_bytes(w.optimizer, shapes, ab), tp)
        terms.append(Term(component="weights", name="LoRA adapters", bytes=adapters,
                          formula="sum over adapted matrices of r x (in + out) x bytes",
                          values={"rank": w.lora_rank, "targets": ",".join(w.lora_targets),
                                  "trainable": trainable, "adapter_dtype": adapter.name},
                          source="LoRA, arXiv:2106.09685"))
        terms.append(Term(component="gradients", name="adapter gradients", bytes=grads,
                          formula="trainable x bytes", values={"trainable": trainable}))
        terms.append(Term(component="optimizer", name=f"{w.optimizer} states of adapters", bytes=opt,
                          formula="per optimizer (docs/math.md)", values={"trainable": trainable}))
        return adapters, grads, opt, trainable, terms, notes
    trainable = spec.parameters
    regime = w.regime or ("fp32" if w.weight_format.name == "fp32" else "mixed")
    grad_b = {"fp32": 4, "amp": 4, "mixed": 2, "pure-bf16": 2}[regime]
    state_b = 2 if regime == "pure-bf16" else 4
    master = 4 * trainable if regime == "mixed" else 0
    extra = 2 * sum(lin.params * b.count for comp in spec.components if comp.kind != "embedding"
                    for b in comp.blocks for lin in b.linears) if regime == "amp" else 0
    tensors = list(_tensors(spec))
    grads = shard(trainable * grad_b, tp)
    opt = shard(optimizer_state_bytes(w.optimizer, tensors, state_b) + master, tp)
    if regime == "amp":
        terms.append(Term(component="weights", name="autocast 16-bit copies of Linear weights",
                          bytes=shard(extra, tp), formula="2 x Linear parameters",
                          values={"regime": regime},
                          source="transformers docs, model_memory_anatomy (18 bytes/param for AMP + AdamW)"))
    terms.append(Term(component="gradients", name="gradients", bytes=grads, formula="trainable x grad bytes",
                      values={"trainable": trainable, "grad_bytes": grad_b, "regime": regime},
                      source="ZeRO, arXiv:1910.02054 (2 bytes in mixed precision); 4 in fp32 and AMP"))
    opt_name = f"{w.optimizer} states" + (" + fp32 master weights" if master else "")
    terms.append(Term(component="optimizer", name=opt_name,
                      bytes=opt, formula="moments per optimizer (docs/math.md) + 4 x trainable master copy"
                      if master else "moments per optimizer (docs/math.md)",
                      values={"trainable": trainable, "state_bytes": state_b, "master_bytes": master},
                      source="ZeRO K=12 for mixed-precision Adam; torch.optim; bitsandbytes"))
    if regime == "mixed":
        notes.append("mixed precision: 16-bit weights and gradients, fp32 master copy and Adam moments "
                     "(16 bytes per parameter with AdamW, ZeRO paper)")
    return shard(extra, tp), grads, opt, trainable, terms, notes



def gradients_at_peak(spec: ModelSpec, w: Workload, grads: int, act: int, terms: list[Term],
                       notes: list[str]) -> tuple[int, int]:
    """Gradient bytes alive at the peak of a training step.

    Single-process PyTorch frees gradients between steps (``zero_grad(set_to_none=True)``, the default
    since 2.0); backward then allocates them as it frees activations, so the peak comes at the start
    of backward, with only the output layer's gradient allocated, or at its end, with all gradients
    and no activations, whichever is larger. Gradient accumulation, DDP buckets, ZeRO/FSDP and
    Megatron (and so the ``mixed`` regime with fp32 master weights) keep gradient buffers for the
    whole step: then gradients and activations add up.
    Returns (gradient bytes, activation bytes) at the peak.
    """
    if w.optimizer_in_backward and spec.has_architecture:
        return _optimizer_in_backward(spec, w, grads, act, terms, notes)
    regime = w.regime or ("fp32" if w.weight_format.name == "fp32" else "mixed")
    adapters = w.mode in ("lora", "qlora")
    # Mixed precision with fp32 master weights is what DeepSpeed, Megatron and apex implement, and they
    # keep gradient buffers allocated; plain PyTorch (fp32, AMP, pure bf16) frees them. Adapters are
    # trained by plain torch.optim, which frees them too (torchtune lora_finetune_single_device.py and
    # the transformers Trainer call zero_grad(set_to_none=True) after each step).
    persistent = w.grad_accum > 1 or w.gpus > 1 or (not adapters and (w.mode != "training" or regime == "mixed"))
    if persistent or not spec.has_architecture:
        return grads, act
    if adapters:
        # The loss and the output layer have no adapters: backward reaches the first adapter after the
        # step's peak (the loss's gradients at the start of backward).
        head_params = 0
    else:
        head = next((c for c in spec.components if c.kind == "head" and c.loaded), None)
        if head is None:
            head = next((c for c in spec.components if c.kind == "embedding" and c.loaded), None)
        head_params = head.params if head is not None else 0
    head_grads = -(-grads * head_params // spec.parameters) if spec.parameters else 0
    if act + head_grads < grads:
        notes.append("the step peaks at the end of backward: all gradients allocated, activations freed "
                     "(gradients are freed between steps; with --grad-accum > 1 or several GPUs both add up)")
        return grads, 0
    notes.append(f"gradients are freed between steps and allocated during backward as activations are freed: "
                 f"at the peak (start of backward) {head_grads:,} of their {grads:,} bytes exist; with "
                 "--grad-accum > 1 or several GPUs all of them stay")
    terms.append(Term(component="gradients", name="gradients alive at the peak (start of backward)",
                      bytes=head_grads, formula="output layer's gradient only; the rest replace freed activations",
                      values={"all_gradients_bytes": grads}, approximate=True,
                      source="torch.optim zero_grad(set_to_none=True) default (PyTorch 2.0)"))
    return head_grads, act


def _largest_trainable(spec: ModelSpec, w: Workload) -> tuple[int, int]:
    """(parameters of the largest trainable tensor, all trainable parameters)."""
    if w.mode in ("lora", "qlora"):
        sizes = [w.lora_rank * max(lin.in_features, lin.out_features) for _, lin in lora_linears(spec, w.lora_targets)]
        return max(sizes, default=0), lora_parameters(spec, w.lora_rank, w.lora_targets)
    return max((rows * max(cols, 1) for rows, cols, _ in _tensors(spec)), default=0), spec.parameters


def _optimizer_in_backward(spec: ModelSpec, w: Workload, grads: int, act: int, terms: list[Term],
                           notes: list[str]) -> tuple[int, int]:
    """torchtune's optimizer_in_bwd (training/memory.py register_optim_in_bwd_hooks): one optimizer per
    parameter, stepped and zeroed by a register_post_accumulate_grad_hook as soon as that gradient
    is accumulated, so gradients never all exist at once. At the peak (the start of backward, the
    output layer's gradient first) the largest single gradient is counted."""
    largest, trainable = _largest_trainable(spec, w)
    alive = -(-grads * largest // trainable) if trainable else 0
    notes.append(f"optimizer in backward: each parameter is stepped as soon as its gradient exists and the "
                 f"gradient freed; {alive:,} of the {grads:,} gradient bytes (the largest tensor) are counted")
    terms.append(Term(component="gradients", name="largest gradient (optimizer in backward)", bytes=alive,
                      formula="grad bytes x largest trainable tensor / trainable parameters",
                      values={"largest_tensor_params": largest, "all_gradients_bytes": grads},
                      source="torchtune training/memory.py register_optim_in_bwd_hooks "
                             "(torch register_post_accumulate_grad_hook)"))
    return alive, act


def reference_weights(w: Workload, by_comp: dict[str, int], terms: list[Term]) -> int:
    """A frozen reference model for dpo/grpo: a second copy of the weights in the same format (TRL
    create_model_from_path with the policy's init kwargs), without gradients or optimizer states."""
    if not w.reference_model:
        return 0
    ref = sum(by_comp.values())  # already per GPU
    terms.append(Term(component="weights", name="reference model (frozen copy)", bytes=ref,
                      formula="the policy's weights once more, same format", values={"objective": w.objective},
                      source="TRL dpo_trainer.py / grpo_trainer.py: ref_model = create_model_from_path(...)"))
    return ref


def grpo_buffers(w: Workload, c: int) -> tuple[int, Term | None]:
    """What TRL's GRPOTrainer keeps on the GPU for the loss of one generation batch.

    ``_generate_and_score_completions`` (grpo_trainer.py) returns, for the per_device_train_batch_size x
    steps_per_generation (default: gradient_accumulation_steps) completions of this process, and the
    trainer keeps them until the batch is used up: prompt and completion ids and masks (int64, from
    ``torch.tensor`` of token lists and ``ones_like(dtype=torch.long)``), the advantages (fp32, one per
    completion), the reference per-token log-probabilities when there is a reference model (beta != 0;
    the logits' dtype, as ``selective_log_softmax`` returns it); with vLLM the old per-token
    log-probabilities (computed whenever ``vllm_importance_sampling_correction`` is on, its default),
    vLLM's sampling log-probabilities (fp32, from Python floats) and the importance-sampling ratio (fp32,
    one per completion in the default ``sequence_mask`` mode). Without vLLM TRL computes no old
    log-probabilities while steps_per_generation x num_iterations divides the accumulation steps (the
    defaults)."""
    if w.objective != "grpo":
        return 0, None
    rows = w.batch_size * w.grad_accum
    completion = w.max_completion_length
    ids = 16 * rows * (w.seq_len + completion)
    per_token = c if w.reference_model else 0
    per_row = 4
    parts = ["16 x R x (prompt + completion) (ids and masks, int64)", "4 x R (advantages)"]
    if w.reference_model:
        parts.append("R x L x bytes (reference log-probs)")
    if w.colocated_vllm is not None:
        per_token += c + 4
        per_row += 4
        parts.append("R x L x (bytes + 4) (old and vLLM sampling log-probs) + 4 x R (importance-sampling ratio)")
    total = ids + rows * per_row + rows * completion * per_token
    return total, Term(component="activations", name="GRPO generation batch held for the loss", bytes=total,
                       formula=" + ".join(parts) + "; R = batch x grad-accum completions, L = completion length",
                       values={"completions": rows, "prompt_tokens": w.seq_len, "completion_tokens": completion,
                               "bytes": c, "vllm": str(w.colocated_vllm is not None)},
                       source="TRL grpo_trainer.py _generate_and_score_completions (trl at f2cd577)")
