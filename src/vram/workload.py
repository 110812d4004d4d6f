"""What the user wants to do with the model: the workload the estimate is for."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vram.precision import Format

Mode = Literal["inference", "training", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "sgd-momentum", "adafactor", "lion", "none"]
Regime = Literal["fp32", "amp", "mixed", "pure-bf16"]
AttentionImpl = Literal["sdpa", "flash", "eager"]

OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "sgd-momentum", "adafactor", "lion",
                               "none")
REGIMES: tuple[str, ...] = ("fp32", "amp", "mixed", "pure-bf16")
MODES: tuple[str, ...] = ("inference", "training", "lora", "qlora")
ATTENTION: tuple[str, ...] = ("sdpa", "flash", "eager")


class Runtime(BaseModel):
    """Constants of the runtime that are not properties of the model (presets/runtime.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cuda_context_bytes: int = Field(ge=0)
    """Memory the CUDA context, kernels and library workspaces take before any tensor."""
    allocator_reserve_fraction_inference: float = Field(ge=0, le=2)
    """Caching-allocator slack in inference, as a fraction of the activation memory."""
    allocator_reserve_fraction_training: float = Field(ge=0, le=2)
    """Caching-allocator slack in training, as a fraction of the activation memory."""
    multi_gpu_comm_bytes: int = Field(ge=0)
    """Extra per-GPU memory once NCCL is initialised (tensor parallel > 1)."""
    source: str


class Workload(BaseModel):
    """A complete description of the run being sized. All sizes are per run, not per GPU."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Mode = "inference"
    weight_format: Format
    kv_format: Format
    compute_format: Format
    """Dtype of activations (the 16-bit compute dtype, or fp32)."""
    unquantized_format: Format
    """Dtype of tensors a quantized format leaves alone (norms, embeddings, lm_head, vision)."""
    batch_size: int = Field(default=1, gt=0)
    seq_len: int = Field(default=4096, gt=0)
    images: int = Field(default=0, ge=0)
    frames: int = Field(default=0, ge=0)
    optimizer: Optimizer = "adamw"
    regime: Regime | None = None
    gradient_checkpointing: bool = False
    attention: AttentionImpl = "sdpa"
    lora_rank: int = Field(default=16, gt=0)
    lora_targets: tuple[str, ...] = ("all-linear",)
    lora_format: Format | None = None
    """Dtype of LoRA adapters (fp32 by default, as PEFT autocasts adapters to fp32)."""
    tensor_parallel: int = Field(default=1, gt=0)
    runtime: Runtime
    overhead_percent: float | None = Field(default=None, ge=0)
