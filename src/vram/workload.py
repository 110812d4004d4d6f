"""What the user wants to do with the model: the workload the estimate is for."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from vram._data import check_positive
from vram.precision import Format

if TYPE_CHECKING:
    from vram.engines.constants import EnginesFile

Mode = Literal["inference", "training", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "sgd-momentum", "adafactor", "lion", "none"]
Regime = Literal["fp32", "amp", "mixed", "pure-bf16"]
AttentionImpl = Literal["sdpa", "flash", "eager"]
MambaKernels = Literal["fused", "torch"]
Offload = Literal["none", "optimizer", "params", "cpu"]
Loss = Literal["standard", "chunked", "fused"]
FusedKernel = Literal["liger", "unsloth", "cce"]
Objective = Literal["sft", "dpo", "grpo"]
Framework = Literal["hf", "torchtune", "unsloth", "axolotl", "trl"]

OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw-8bit", "paged-adamw-8bit", "sgd", "sgd-momentum", "adafactor", "lion",
                               "none")
REGIMES: tuple[str, ...] = ("fp32", "amp", "mixed", "pure-bf16")
MODES: tuple[str, ...] = ("inference", "training", "lora", "qlora")
# The largest batch size and sequence length vram takes (docs/cli.md, Limits); `vram max` searches
# up to them.
MAX_BATCH_SIZE = 2**20
MAX_SEQ_LEN = 2**24
ATTENTION: tuple[str, ...] = ("sdpa", "flash", "eager")
MAMBA_KERNELS: tuple[str, ...] = ("fused", "torch")
LOSSES: tuple[str, ...] = ("standard", "chunked", "fused")
FUSED_KERNELS: tuple[str, ...] = ("liger", "unsloth", "cce")
FRAMEWORKS: tuple[str, ...] = ("hf", "torchtune", "unsloth", "axolotl", "trl")


@dataclass(frozen=True, eq=False)
class Runtime:
    """Constants of the runtime that are not properties of the model (presets/runtime.json)."""

    cuda_context_bytes: int
    """Memory the CUDA context, kernels and library workspaces take before any tensor."""
    allocator_reserve_fraction_inference: float
    """Caching-allocator slack in inference, as a fraction of the activation memory."""
    allocator_reserve_fraction_training: float
    """Caching-allocator slack in training, as a fraction of the activation memory."""
    multi_gpu_comm_bytes: int
    """Extra per-GPU memory once NCCL is initialised (tensor parallel > 1)."""
    source: str

    def __post_init__(self) -> None:
        check_positive(self, "cuda_context_bytes", "multi_gpu_comm_bytes", allow_zero=True)
        for name in ("allocator_reserve_fraction_inference", "allocator_reserve_fraction_training"):
            if not 0 <= getattr(self, name) <= 2:
                raise ValueError(f"{name} must be between 0 and 2")


@dataclass(frozen=True, eq=False)
class ColocatedVllm:
    """vLLM running inside the training process (TRL GRPOTrainer, use_vllm=True, vllm_mode="colocate").

    Its share of the card follows from the card's total memory, so the workload carries it."""

    total_bytes: int
    """The GPU's total memory as the CUDA runtime reports it (vLLM budgets from it), or --memory."""
    utilization: float
    """vllm_gpu_memory_utilization (TRL GRPOConfig default 0.3)."""
    max_num_batched_tokens: int
    """TRL passes 4,096 to LLM(...) (trl/generation/vllm_generation.py)."""
    constants: EnginesFile
    max_model_len: int | None = None
    """vllm_max_model_length; None: the model's max_position_embeddings."""
    tensor_parallel: int = 1
    """vllm_tensor_parallel_size."""
    sleep_mode: bool = False
    """vllm_enable_sleep_mode: vLLM sleeps (level 2) while the policy trains."""
    gpu_name: str | None = None


@dataclass(frozen=True, eq=False)
class Workload:
    """A complete description of the run being sized. All sizes are per run, not per GPU."""

    weight_format: Format
    kv_format: Format
    compute_format: Format
    """Dtype of activations (the 16-bit compute dtype, or fp32)."""
    unquantized_format: Format
    """Dtype of tensors a quantized format leaves alone (norms, embeddings, lm_head, vision)."""
    runtime: Runtime
    mode: Mode = "inference"
    batch_size: int = 1
    seq_len: int = 4096
    images: int = 0
    frames: int = 0
    image_size: tuple[int, int] | None = None
    """Width and height of the images in pixels (None: the model's own default size)."""
    optimizer: Optimizer = "adamw"
    regime: Regime | None = None
    gradient_checkpointing: bool = False
    attention: AttentionImpl = "sdpa"
    mamba_kernels: MambaKernels = "fused"
    """Mamba-1 layers: mamba_ssm's fused selective scan (transformers uses it when mamba-ssm and
    causal-conv1d, or their Hub kernels, are installed) or transformers' torch scan."""
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("all-linear",)
    lora_format: Format | None = None
    """Dtype of LoRA adapters (fp32 by default, as PEFT autocasts adapters to fp32)."""
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    data_parallel: int = 1
    zero_stage: int = 0
    """0 none; 1 shards optimizer states, 2 also gradients, 3 also parameters (ZeRO; FSDP FULL_SHARD = 3)."""
    shard_size: int | None = None
    """GPUs the states are sharded over (hybrid FSDP); None: all data-parallel GPUs."""
    offload: Offload = "none"
    grad_accum: int = 1
    overhead_percent: float | None = None
    stored_weights: bool = False
    """--dtype auto: weights as the checkpoint stores them, when its tensors were counted."""
    # ---- how the training step is run (docs/math.md "Training as frameworks run it") ----
    loss: Loss = "standard"
    """standard: whole logits upcast to fp32 (transformers); chunked: torchtune's chunked
    cross-entropy; fused: the logits never exist whole (Liger, Unsloth, Cut Cross-Entropy)."""
    loss_chunks: int = 8
    """Chunks of the chunked loss (torchtune LinearCrossEntropyLoss num_output_chunks)."""
    loss_compiled: bool = False
    """torch.compile of the loss (torchtune compile=True): the chunked loss then saves 16-bit logits."""
    fused_kernel: FusedKernel = "liger"
    optimizer_in_backward: bool = False
    """The optimizer steps each parameter as its gradient is ready (torchtune optimizer_in_bwd)."""
    activation_offload: bool = False
    """Saved activations go to CPU memory (torchtune OffloadActivations, Unsloth offloaded checkpoints)."""
    offload_in_flight: int = 5
    """Offloaded saved tensors still on the GPU during forward (torchtune max_fwd_stash_size)."""
    lora_input_copy: bool = True
    """PEFT casts each adapter's input to the adapter dtype (an extra copy when they differ);
    Unsloth's LoRA kernels cast the adapter to the compute dtype instead."""
    framework: Framework | None = None
    framework_defaults: tuple[str, ...] = ()
    """The defaults the framework set, one line each (--explain lists them)."""
    objective: Objective = "sft"
    """sft: plain next-token loss; dpo and grpo: preference and RL fine-tuning (TRL)."""
    reference_model: bool = False
    """A frozen copy of the model computes reference log-probabilities (dpo, grpo)."""
    num_generations: int = 8
    max_completion_length: int = 512
    card_bytes: int | None = None
    """The GPU's total memory as CUDA reports it (or --memory), when a card was named: Unsloth's
    loss sizes its chunks from the free memory."""
    colocated_vllm: ColocatedVllm | None = None
    """grpo: completions generated by a vLLM engine in the same process (--engine vllm)."""

    @property
    def gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

    @property
    def state_shards(self) -> int:
        """GPUs the ZeRO/FSDP-sharded states are divided over."""
        return (self.shard_size or self.data_parallel) if self.zero_stage else 1

    def __post_init__(self) -> None:
        check_positive(self, "batch_size", "seq_len", "lora_rank", "tensor_parallel", "pipeline_parallel",
                       "data_parallel", "grad_accum", "shard_size", "loss_chunks", "offload_in_flight",
                       "num_generations", "max_completion_length")
        check_positive(self, "zero_stage", allow_zero=True)
        check_positive(self, "images", "frames", allow_zero=True)
        if self.overhead_percent is not None and self.overhead_percent < 0:
            raise ValueError("overhead_percent must be >= 0")


def with_solved(w: Workload, solve: Literal["seq-len", "batch-size"], value: int) -> Workload:
    """The workload with its sequence length or batch size set to value."""
    return replace(w, seq_len=value) if solve == "seq-len" else replace(w, batch_size=value)
