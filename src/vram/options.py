"""Turn the CLI's option values into a Workload: validation with one clear message per mistake."""

from __future__ import annotations

from vram import presets
from vram.errors import UsageError
from vram.precision import Format
from vram.workload import ATTENTION, MODES, OPTIMIZERS, REGIMES, Workload

DEFAULT_SEQ_LEN = 4096
DEFAULT_DTYPE = "bf16"


def find_format(name: str, *, option: str = "--dtype", kv: bool = False) -> Format:
    table = presets.formats()
    fmt = table.find(name)
    if fmt is None or (kv and not fmt.kv_cache):
        allowed = [f.name for f in table.formats if f.kv_cache] if kv else table.names()
        raise UsageError(f"unknown {option} {name!r}; choose one of: {', '.join(allowed)}")
    return fmt


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    v = value.strip().lower()
    if v not in allowed:
        raise UsageError(f"unknown {option} {value!r}; choose one of: {', '.join(allowed)}")
    return v


def _positive(value: int, option: str) -> int:
    if value <= 0:
        raise UsageError(f"{option} must be a positive integer, got {value}")
    return value


def build_workload(*, dtype: str, mode: str = "inference", batch_size: int = 1, seq_len: int = DEFAULT_SEQ_LEN,
                   kv_dtype: str | None = None, optimizer: str = "adamw", precision: str | None = None,
                   gradient_checkpointing: bool = False, attention: str = "sdpa", images: int = 0,
                   frames: int = 0, lora_rank: int = 16, lora_targets: str = "all-linear",
                   lora_dtype: str = "fp32", double_quant: bool = False, gpus: int = 1,
                   overhead_percent: float | None = None) -> Workload:
    mode = _choice(mode, MODES, "--mode")
    optimizer = _choice(optimizer, OPTIMIZERS, "--optimizer")
    attention = _choice(attention, ATTENTION, "--attention")
    regime = _choice(precision, REGIMES, "--precision") if precision is not None else None
    _positive(batch_size, "--batch-size")
    _positive(seq_len, "--seq-len")
    _positive(gpus, "--gpus")
    _positive(lora_rank, "--lora-rank")
    if images < 0 or frames < 0:
        raise UsageError("--images and --frames must be zero or more")
    if overhead_percent is not None and not 0 <= overhead_percent <= 1000:
        raise UsageError(f"--overhead-percent must be between 0 and 1000, got {overhead_percent:g}")
    stored = dtype.strip().lower() == "auto"
    if stored:
        dtype = DEFAULT_DTYPE
    if mode == "qlora":
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
    compute_name = weight.compute or (weight.name if weight.kind == "float" else "bf16")
    if regime == "amp":
        compute_name = "bf16"
    compute = find_format(compute_name)
    unquantized = find_format(weight.unquantized or compute_name)
    kv = find_format(kv_dtype, option="--kv-dtype", kv=True) if kv_dtype else compute
    targets = tuple(t.strip() for t in lora_targets.split(",") if t.strip())
    if not targets:
        raise UsageError("--lora-targets is empty")
    return Workload(mode=mode, weight_format=weight, kv_format=kv, compute_format=compute,  # type: ignore[arg-type]
                    unquantized_format=unquantized, batch_size=batch_size, seq_len=seq_len, images=images,
                    frames=frames, optimizer=optimizer, regime=regime,  # type: ignore[arg-type]
                    gradient_checkpointing=gradient_checkpointing, attention=attention,  # type: ignore[arg-type]
                    lora_rank=lora_rank, lora_targets=targets, lora_format=find_format(lora_dtype),
                    tensor_parallel=gpus, runtime=presets.runtime(), overhead_percent=overhead_percent,
                    stored_weights=stored)


def gguf_types() -> dict[str, Format]:
    return {f.name: f for f in presets.formats().formats if f.kind == "gguf"}
