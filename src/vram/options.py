"""Turn the CLI's option values into a Workload: validation with one clear message per mistake."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from typing import Any

from vram import presets
from vram.errors import UsageError, clip
from vram.precision import Format
from vram.workload import (
    ATTENTION,
    FRAMEWORKS,
    FUSED_KERNELS,
    LOSSES,
    MAMBA_KERNELS,
    MAX_BATCH_SIZE,
    MAX_SEQ_LEN,
    MODES,
    OPTIMIZERS,
    REGIMES,
    Workload,
)

OBJECTIVES = ("dpo", "grpo")
TUNINGS = ("full", "lora", "qlora")

DEFAULT_SEQ_LEN = 4096
DEFAULT_DTYPE = "bf16"

# Upper bounds of the integer options (docs/cli.md "Limits"): far past any real run, so that a typo
# (an extra zero, a pasted byte count) is refused instead of answered.
LIMITS: dict[str, int] = {
    "--batch-size": MAX_BATCH_SIZE, "--micro-batch-size": MAX_BATCH_SIZE, "--seq-len": MAX_SEQ_LEN, "--images": 2**16,
    "--frames": 2**16, "--gpus": 2**20, "--tp": 2**20, "--pp": 2**20, "--shard-size": 2**20,
    "--max-seq-len": MAX_SEQ_LEN, "--lora-rank": 2**16, "--grad-accum": 2**20, "--calibration-samples": 2**24,
    "--calibration-seq-len": 2**24, "--calibration-batch-size": 2**20,
    # serving engines' settings, by what they count: tokens, sequences, GPUs
    "--max-model-len": MAX_SEQ_LEN, "--context-length": MAX_SEQ_LEN, "--ctx-size": MAX_SEQ_LEN,
    "--max-num-batched-tokens": MAX_SEQ_LEN, "--chunked-prefill-size": MAX_SEQ_LEN, "--n-batch": MAX_SEQ_LEN,
    "--ubatch-size": MAX_SEQ_LEN, "--block-size": 2**16, "--max-num-seqs": MAX_BATCH_SIZE,
    "--max-running-requests": MAX_BATCH_SIZE, "--parallel": MAX_BATCH_SIZE, "--tensor-parallel-size": 2**20,
    "--pipeline-parallel-size": 2**20, "--main-gpu": 2**20, "--fit-target": 2**30, "--fit-ctx": MAX_SEQ_LEN,
}


def check_limits(values: Mapping[str, Any]) -> None:
    """Every integer option of ``values`` (keyed by parameter name) within its limit (LIMITS)."""
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            bounded(value, "--" + name.replace("_", "-"))


def check_environment() -> None:
    """The environment variables vram reads itself, validated like options (one line, exit 2)."""
    hub_timeout(None)


def hub_timeout(default: float | None) -> float | None:
    """VRAM_HUB_TIMEOUT in seconds (``default`` when unset); a value that is not a number of seconds
    above 0 and up to 3600 is a UsageError, for the CLI and library callers alike."""
    raw = os.environ.get("VRAM_HUB_TIMEOUT")
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value <= 3600):
        raise UsageError(f"VRAM_HUB_TIMEOUT must be a number of seconds above 0 and up to 3600, "
                         f"got {clip(raw)!r}")
    return value

TRAINING_MODES = ("training", "lora", "qlora")
# Options that mean something in some modes only: given in another mode, they are refused rather
# than ignored. Keys are the option names as the CLI passes them.
MODE_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "optimizer": ("--optimizer", TRAINING_MODES),
    "precision": ("--precision", ("training",)),
    "gradient_checkpointing": ("--gradient-checkpointing", TRAINING_MODES),
    "micro_batch_size": ("--micro-batch-size", TRAINING_MODES),
    "grad_accum": ("--grad-accum", TRAINING_MODES),
    "zero": ("--zero", TRAINING_MODES),
    "fsdp": ("--fsdp", TRAINING_MODES),
    "shard_size": ("--shard-size", TRAINING_MODES),
    "lora_rank": ("--lora-rank", ("lora", "qlora")),
    "lora_targets": ("--lora-targets", ("lora", "qlora")),
    "lora_dtype": ("--lora-dtype", ("lora", "qlora")),
    "double_quant": ("--double-quant", ("qlora",)),
    "kv_dtype": ("--kv-dtype", ("inference",)),
}


def effective_mode(mode: str, tuning: str | None = None) -> str:
    """The mode the weights are trained in: dpo and grpo train as their --tuning says (full: training)."""
    m = mode.strip().lower()
    if m in OBJECTIVES:
        t = (tuning or "full").strip().lower()
        return "training" if t == "full" else t
    return m


def check_given_options(mode: str, given: Collection[str], tuning: str | None = None) -> None:
    """Refuse options given explicitly that mean nothing in ``mode`` (one line, exit 2)."""
    m = effective_mode(mode, tuning)
    if m not in MODES:
        return  # build_workload names the bad --mode or --tuning
    for name in given:
        if name in MODE_OPTIONS:
            option, modes = MODE_OPTIONS[name]
            if m not in modes:
                what = ("training keeps no KV cache" if name == "kv_dtype"
                        else "it applies to training modes only (training, lora, qlora)" if modes == TRAINING_MODES
                        else f"it applies to --mode {' or '.join(modes)} only")
                typed = mode.strip().lower()
                shown = m if typed == m else f"{typed} --tuning {(tuning or 'full').strip().lower()}"
                raise UsageError(f"{option} means nothing with --mode {shown}: {what}")


def find_format(name: str, *, option: str = "--dtype", kv: bool = False) -> Format:
    table = presets.formats()
    fmt = table.find(name)
    if fmt is None or (kv and not fmt.kv_cache) or (not kv and fmt.kv_only):
        allowed = [f.name for f in table.formats if (f.kv_cache if kv else not f.kv_only)]
        raise UsageError(f"unknown {option} {clip(name)!r}; choose one of: {', '.join(allowed)}")
    return fmt


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise UsageError(f"unknown {option} {clip(value)!r}; choose one of: {', '.join(allowed)}")
    return v


def _positive(value: int, option: str) -> int:
    if value <= 0:
        raise UsageError(f"{option} must be a positive integer, got {clip(str(value))}")
    return bounded(value, option)


def bounded(value: int, option: str) -> int:
    """``value`` if it is within the documented limit of ``option`` (LIMITS), else exit 2."""
    limit = LIMITS.get(option)
    if limit is not None and value > limit:
        raise UsageError(f"{option} {clip(str(value))} is past the limit of {limit:,} (docs/cli.md, Limits)")
    return value


def check_qlora_dtype(mode: str, dtype: str) -> None:
    """--mode qlora quantizes the base to NF4: a --dtype other than auto, nf4 or nf4-dq contradicts it."""
    if mode.strip().lower() != "qlora" or dtype.strip().lower() == "auto":
        return
    name = find_format(dtype).name
    if name not in ("nf4", "nf4-dq"):
        raise UsageError(f"--mode qlora loads the base in nf4, which contradicts --dtype {name}: leave --dtype out "
                         "(--double-quant for nf4-dq)")


def build_workload(*, dtype: str, mode: str = "inference", batch_size: int = 1, seq_len: int = DEFAULT_SEQ_LEN,
                   kv_dtype: str | None = None, optimizer: str | None = None, precision: str | None = None,
                   gradient_checkpointing: bool | None = None, attention: str = "sdpa", mamba_kernels: str = "fused",
                   images: int = 0,
                   frames: int = 0, lora_rank: int = 16, lora_targets: str = "all-linear",
                   lora_dtype: str | None = None, double_quant: bool = False, gpus: int = 1,
                   overhead_percent: float | None = None, tp: int | None = None, pp: int | None = None,
                   zero: int | None = None, fsdp: str | None = None, shard_size: int | None = None,
                   offload: str | None = None, micro_batch_size: int | None = None,
                   grad_accum: int = 1, image_size: str | None = None, colocated_vllm: Any = None,
                   card_bytes: int | None = None, **training: Any) -> Workload:
    mode, run = training_options(mode, grad_accum=grad_accum, batch_size=micro_batch_size or batch_size,
                                 gpus=gpus, given={"optimizer": optimizer, "precision": precision,
                                                   "gradient_checkpointing": gradient_checkpointing,
                                                   "lora_dtype": lora_dtype}, **training)
    optimizer = run.pop("optimizer")
    precision = run.pop("precision")
    gradient_checkpointing = run.pop("gradient_checkpointing")
    lora_dtype = run.pop("lora_dtype")
    optimizer = _choice(optimizer, OPTIMIZERS, "--optimizer")
    attention = _choice(attention, ATTENTION, "--attention")
    kernels = _choice(mamba_kernels, MAMBA_KERNELS, "--mamba-kernels")
    regime = _choice(precision, REGIMES, "--precision") if precision is not None else None
    _positive(batch_size, "--batch-size")
    _positive(seq_len, "--seq-len")
    _positive(gpus, "--gpus")
    _positive(lora_rank, "--lora-rank")
    if images < 0 or frames < 0:
        raise UsageError("--images and --frames must be zero or more")
    bounded(images, "--images")
    bounded(frames, "--frames")
    size = _image_size(image_size) if image_size else None
    if size and not images:
        raise UsageError("--image-size needs --images")
    if overhead_percent is not None and not 0 <= overhead_percent <= 1000:
        raise UsageError(f"--overhead-percent must be between 0 and 1000, got {overhead_percent:g}")
    stored = dtype.strip().lower() == "auto"
    if stored:
        dtype = DEFAULT_DTYPE
    if mode == "qlora":
        # The base of QLoRA is NF4 by definition; `dtype` is not consulted (the CLI refuses a --dtype
        # that contradicts it: check_qlora_dtype).
        double_quant = double_quant or (not stored and find_format(dtype).name == "nf4-dq")
        weight = find_format("nf4-dq" if double_quant else "nf4")
        stored = False
    else:
        weight = find_format(dtype)
        if double_quant:
            raise UsageError("--double-quant applies to --mode qlora only")
    if mode not in ("lora", "qlora") and (lora_rank != 16 or lora_targets != "all-linear"):
        raise UsageError("--lora-rank and --lora-targets need --mode lora or qlora")
    if mode == "inference" and (precision is not None or gradient_checkpointing):
        raise UsageError("--precision and --gradient-checkpointing apply to training modes only")
    if mode in ("lora", "qlora") and precision is not None:
        raise UsageError("--precision sets the full-training regime; LoRA trains adapters in --lora-dtype")
    if mode != "inference" and kv_dtype is not None:
        raise UsageError("--kv-dtype means nothing in training: a training step keeps no KV cache")
    lora_format = find_format(lora_dtype, option="--lora-dtype")
    if lora_format.kind != "float":
        raise UsageError(f"--lora-dtype {clip(lora_dtype)}: adapters are trained in a float format; choose fp32, "
                         "bf16 or fp16")
    if mode == "training" and weight.kind != "float":
        raise UsageError(f"full training needs float weights, not {weight.name}; use --mode qlora for a 4-bit base")
    if mode == "lora" and weight.kind != "float":
        raise UsageError(f"--mode lora trains on float weights; for a {weight.name} base use --mode qlora")
    if regime == "fp32" and weight.name != "fp32":
        raise UsageError("--precision fp32 needs --dtype fp32")
    if regime in ("amp",) and weight.name != "fp32":
        raise UsageError("--precision amp keeps fp32 weights: use --dtype fp32")
    if regime in ("mixed", "pure-bf16") and weight.name == "fp32":
        raise UsageError(f"--precision {regime} keeps 16-bit weights: use --dtype bf16 or fp16")
    layout = parallel_layout(mode=mode, gpus=gpus, tp=tp, pp=pp, zero=zero, fsdp=fsdp, shard_size=shard_size,
                             offload=offload)
    if micro_batch_size is not None:
        if mode == "inference":
            raise UsageError("--micro-batch-size and --grad-accum apply to training modes; use --batch-size")
        batch_size = _positive(micro_batch_size, "--micro-batch-size")
    _positive(grad_accum, "--grad-accum")
    if grad_accum != 1 and mode == "inference":
        raise UsageError("--micro-batch-size and --grad-accum apply to training modes; use --batch-size")
    compute_name = weight.compute or (weight.name if weight.kind == "float" else "bf16")
    if regime == "amp":
        compute_name = "bf16"
    compute = find_format(compute_name)
    unquantized = find_format(weight.unquantized or compute_name)
    kv = find_format(kv_dtype, option="--kv-dtype", kv=True) if kv_dtype else compute
    targets = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    if not targets:
        raise UsageError("--lora-targets is empty")
    if colocated_vllm is not None and run["objective"] != "grpo":
        raise UsageError("a colocated vLLM generates the completions of --mode grpo only")
    return Workload(mode=mode, weight_format=weight, kv_format=kv, compute_format=compute,  # type: ignore[arg-type]
                    unquantized_format=unquantized, batch_size=batch_size, seq_len=seq_len, images=images,
                    frames=frames, optimizer=optimizer, regime=regime,  # type: ignore[arg-type]
                    gradient_checkpointing=gradient_checkpointing, attention=attention,  # type: ignore[arg-type]
                    mamba_kernels=kernels,  # type: ignore[arg-type]
                    lora_rank=lora_rank, lora_targets=targets, lora_format=lora_format,
                    runtime=presets.runtime(), overhead_percent=overhead_percent, stored_weights=stored,
                    grad_accum=grad_accum, image_size=size, colocated_vllm=colocated_vllm, card_bytes=card_bytes,
                    **layout, **run)


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 6 and 0 < int(p) <= 100_000 for p in parts):
        raise UsageError(f"--image-size must be WIDTHxHEIGHT in pixels up to 100000, e.g. 1280x720, "
                         f"got {clip(text)!r}")
    return int(parts[0]), int(parts[1])


def parallel_layout(*, mode: str, gpus: int, tp: int | None, pp: int | None, zero: int | None, fsdp: str | None,
                    shard_size: int | None, offload: str | None) -> dict[str, Any]:
    """How --gpus N splits into tensor, pipeline and data parallelism, and how states are sharded.

    With none of --tp/--pp/--zero/--fsdp, the N GPUs are one tensor-parallel group. Otherwise
    N = tp x pp x dp and the data-parallel GPUs shard states with ZeRO or FSDP.
    """
    for value, name in ((tp, "--tp"), (pp, "--pp"), (shard_size, "--shard-size")):
        if value is not None:
            _positive(value, name)
    training = mode != "inference"
    if zero is not None and fsdp is not None:
        raise UsageError("--zero and --fsdp are two ways to shard the same states: give one")
    if zero is not None and zero not in (0, 1, 2, 3):
        raise UsageError(f"--zero must be 0, 1, 2 or 3, got {zero}")
    if fsdp is not None and fsdp not in ("full", "hybrid"):
        raise UsageError(f"unknown --fsdp {clip(fsdp)!r}; choose full or hybrid")
    if (zero or fsdp) and not training:
        raise UsageError("--zero and --fsdp shard training states; they apply to training modes only")
    if shard_size is not None and fsdp != "hybrid":
        raise UsageError("--shard-size applies to --fsdp hybrid only")
    if offload not in (None, "none", "optimizer", "params", "cpu"):
        raise UsageError(f"unknown --offload {clip(offload)!r}; choose optimizer or params (training) or "
                         "cpu (inference)")
    if offload in ("optimizer", "params") and not training:
        raise UsageError("--offload optimizer|params applies to training; for inference use --offload cpu")
    if offload == "cpu" and training:
        raise UsageError("--offload cpu places inference layers on the CPU; for training use optimizer or params")
    if offload == "params" and not (zero == 3 or fsdp):
        raise UsageError("--offload params needs parameter sharding: --zero 3 or --fsdp")
    if offload == "optimizer" and not (zero or fsdp):
        raise UsageError("--offload optimizer needs ZeRO or FSDP (DeepSpeed ZeRO-Offload): add --zero 1, 2 or 3")
    explicit = tp is not None or pp is not None or zero is not None or fsdp is not None
    if not explicit:
        return {"tensor_parallel": gpus, "pipeline_parallel": 1, "data_parallel": 1, "zero_stage": 0,
                "shard_size": None, "offload": offload or "none"}
    t, p = tp or 1, pp or 1
    if gpus % (t * p):
        raise UsageError(f"--gpus {gpus} is not a multiple of --tp {t} x --pp {p}")
    dp = gpus // (t * p)
    stage = 3 if fsdp else (zero or 0)
    if stage and dp == 1:
        raise UsageError("ZeRO and FSDP shard over data-parallel GPUs, and there is only one data-parallel GPU "
                         f"(--gpus {gpus} = --tp {t} x --pp {p}): nothing to shard; add GPUs")
    shards = None
    if fsdp == "hybrid":
        if shard_size is None:
            raise UsageError("--fsdp hybrid needs --shard-size (GPUs per shard group, e.g. the GPUs of a node)")
        if dp % shard_size:
            raise UsageError(f"--shard-size {shard_size} must divide the {dp} data-parallel GPUs")
        shards = shard_size
    return {"tensor_parallel": t, "pipeline_parallel": p, "data_parallel": dp, "zero_stage": stage,
            "shard_size": shards, "offload": offload or "none"}


def _or_default(value: Any, default: Any) -> Any:
    """The option's value, or its default when it was not given (an explicit 0 stays 0, to be refused)."""
    return default if value is None else value


def gguf_types() -> dict[str, Format]:
    return {f.name: f for f in presets.formats().formats if f.kind == "gguf"}


def training_options(mode: str, *, grad_accum: int, batch_size: int, gpus: int, given: dict[str, Any],
                     loss: str | None = None, loss_chunks: int | None = None, compile_loss: bool = False,
                     fused_kernel: str | None = None, optimizer_in_backward: bool | None = None,
                     activation_offload: bool | None = None, framework: str | None = None,
                     tuning: str | None = None, reference: str | None = None, num_generations: int | None = None,
                     max_completion_length: int | None = None) -> tuple[str, dict[str, Any]]:
    """The tuning mode and the Workload fields of how training is run (loss, optimizer in backward,
    activation offload, framework defaults, dpo/grpo), with one message per contradiction.

    ``given`` holds options that existed before frameworks (None when the user did not set them).
    Returns the mode for the weights (training, lora, qlora or inference) and the fields."""
    mode = mode.strip().lower()
    objective = "sft"
    if mode in OBJECTIVES:
        objective = mode
        mode = {"full": "training", "lora": "lora", "qlora": "qlora"}[_choice(tuning or "full", TUNINGS, "--tuning")]
    elif tuning is not None:
        raise UsageError("--tuning applies to --mode dpo or grpo; for supervised fine-tuning use --mode "
                         "training, lora or qlora")
    mode = _choice(mode, MODES, "--mode")
    if objective != "grpo" and (num_generations is not None or max_completion_length is not None):
        raise UsageError("--num-generations and --max-completion-length apply to --mode grpo")
    if objective == "sft" and reference is not None:
        raise UsageError("--reference is the reference model of --mode dpo or grpo; it means nothing for "
                         f"--mode {mode}")
    explicit = {"loss": loss, "loss_chunks": loss_chunks, "fused_kernel": fused_kernel,
                "optimizer_in_backward": optimizer_in_backward, "activation_offload": activation_offload,
                "reference": reference, "num_generations": num_generations,
                "max_completion_length": max_completion_length, **given}
    if mode == "inference":
        used = [f for f, v in (("--loss", loss), ("--loss-chunks", loss_chunks), ("--fused-kernel", fused_kernel),
                               ("--optimizer-in-backward", optimizer_in_backward),
                               ("--activation-offload", activation_offload), ("--framework", framework))
                if v not in (None, False)]
        if compile_loss:
            used.append("--compile")
        if used:
            verb = "describes" if len(used) == 1 else "describe"
            raise UsageError(f"{', '.join(used)} {verb} a training step and applies to training modes only"
                             if len(used) == 1 else
                             f"{', '.join(used)} {verb} a training step; they apply to training modes only")
    values: dict[str, Any] = dict(explicit)
    notes: list[str] = []
    if framework is not None:
        from vram.frameworks import defaults

        framework = _choice(framework, FRAMEWORKS, "--framework")
        if mode != "inference":
            for d in defaults(presets.frameworks(), framework, mode, objective):
                if values.get(d.option) is None:
                    values[d.option] = d.value
                    shown = d.option.replace("_", "-")
                    notes.append(f"{framework} default: {shown} = {str(d.value).lower()} ({d.source})")
    loss_v = _choice(values["loss"] or "standard", LOSSES, "--loss")
    # A framework's settings of a loss, or of offloading, that the run does not use are dropped.
    unused = {"loss_chunks": loss_v != "chunked", "fused_kernel": loss_v != "fused",
              "offload_in_flight": not values["activation_offload"]}
    for option, drop in unused.items():
        if drop and explicit.get(option) is None:
            values[option] = None
            notes = [n for n in notes if not n.startswith(f"{framework} default: {option.replace('_', '-')} ")]
    if values["loss_chunks"] is not None and loss_v != "chunked":
        raise UsageError("--loss-chunks sets the chunks of --loss chunked")
    if values["fused_kernel"] is not None and loss_v != "fused":
        raise UsageError("--fused-kernel chooses the kernel of --loss fused")
    if compile_loss and loss_v != "chunked":
        raise UsageError("--compile changes the memory of --loss chunked only; the other losses are modelled "
                         "as they run")
    chunks = _positive(_or_default(values["loss_chunks"], 8), "--loss-chunks")
    opt_bwd = bool(values["optimizer_in_backward"])
    if opt_bwd and grad_accum > 1:
        raise UsageError("--optimizer-in-backward steps and frees each gradient as backward makes it, so "
                         "gradients cannot accumulate: torchtune refuses it with --grad-accum > 1")
    if opt_bwd and (values["optimizer"] or "adamw") == "none":
        raise UsageError("--optimizer-in-backward needs an optimizer; --optimizer none has none to step")
    ref = values["reference"]
    if ref is not None:
        ref = _choice(ref, ("model", "none"), "--reference")
    elif objective != "sft":
        ref = "none" if mode in ("lora", "qlora") else "model"
    generations = _positive(_or_default(values["num_generations"], 8), "--num-generations")
    completion = _positive(_or_default(values["max_completion_length"], 512), "--max-completion-length")
    if objective == "grpo":
        _check_generation_batch(batch_size, grad_accum, gpus, generations)
    fields = {"loss": loss_v, "loss_chunks": chunks, "loss_compiled": compile_loss,
              "fused_kernel": _choice(values["fused_kernel"] or "liger", FUSED_KERNELS, "--fused-kernel"),
              "optimizer_in_backward": opt_bwd, "activation_offload": bool(values["activation_offload"]),
              "offload_in_flight": values.get("offload_in_flight") or 5,
              "lora_input_copy": values.get("lora_input_copy", True) is not False,
              "framework": framework, "framework_defaults": tuple(notes), "objective": objective,
              "reference_model": ref == "model", "num_generations": generations,
              "max_completion_length": completion,
              "optimizer": values["optimizer"] or "adamw", "precision": values["precision"],
              "gradient_checkpointing": bool(values["gradient_checkpointing"]),
              "lora_dtype": values["lora_dtype"] or "fp32"}
    return mode, fields


def _check_generation_batch(batch_size: int, grad_accum: int, gpus: int, generations: int) -> None:
    """TRL's GRPOConfig (trl/trainer/grpo_config.py, __post_init__): with steps_per_generation left at its
    default (the accumulation steps), generation_batch_size = per-device batch x processes x accumulation
    steps must be divisible by num_generations, which must be at least 2."""
    if generations < 2:
        raise UsageError(f"--num-generations {generations}: GRPO needs at least 2 completions per prompt to "
                         "compute advantages (TRL GRPOConfig refuses fewer)")
    if (batch_size * grad_accum * gpus) % generations:
        batch = generations // math.gcd(generations, grad_accum * gpus)
        accum = generations // math.gcd(generations, batch_size * gpus)
        raise UsageError(f"the generation batch ({batch_size} x {grad_accum} accumulation x {gpus} GPUs) must be "
                         f"a multiple of --num-generations {generations} (TRL GRPOConfig refuses it): use "
                         f"--batch-size {batch} (or a multiple of it), or --grad-accum {accum}")
