"""The JSON documents `vram` prints, as pydantic models: the contract of ``--format json``.

Not imported by the CLI's hot path. ``vram schema`` prints the JSON Schema; the tests validate
every document the CLI prints against these models (unknown keys are errors). The Python API
(api.py) returns them: ``model_dump()`` gives back exactly the document ``--format json`` prints
(keys that a document leaves out stay out), and a few properties name what callers reach for.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The document as ``--format json`` prints it: keys it leaves out are not filled in with None."""
        kwargs.setdefault("exclude_unset", True)
        return super().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("exclude_unset", True)
        return super().model_dump_json(**kwargs)


class ModelInfo(_Strict):
    id: str
    source: Literal["preset", "size", "local", "hub"]
    location: str
    model_type: str
    parameters: int
    stored_parameters: int
    active_parameters: int
    trainable_parameters: int
    parameters_by_component: dict[str, int]


class ColocatedVllmInfo(_Strict):
    """grpo with --engine vllm: the vLLM engine in the training process (TRL vllm_mode="colocate")."""

    gpu_memory_utilization: float
    max_model_len: int | None
    tensor_parallel_size: int
    enable_sleep_mode: bool


class TrainingRunInfo(_Strict):
    """How the training step runs (docs/cli.md "Training as frameworks run it")."""

    objective: Literal["sft", "dpo", "grpo"]
    loss: Literal["standard", "chunked", "fused"]
    loss_chunks: int | None
    fused_kernel: Literal["liger", "unsloth", "cce"] | None
    optimizer_in_backward: bool
    activation_offload: bool
    framework: Literal["hf", "torchtune", "unsloth", "axolotl", "trl"] | None
    reference_model: bool
    colocated_vllm: ColocatedVllmInfo | None


class WorkloadInfo(_Strict):
    mode: Literal["inference", "training", "lora", "qlora"]
    dtype: str
    stored_format: str | None
    """The checkpoint's storage when dtype is "stored" (e.g. "FP8 (128x128 block scales) (fp8)")."""
    kv_dtype: str
    compute_dtype: str
    batch_size: int
    seq_len: int
    tokens_per_sequence: int
    images: int
    frames: int
    attention: str
    optimizer: str | None
    precision: str | None
    gradient_checkpointing: bool
    lora_rank: int | None
    lora_targets: list[str] | None
    gpus: int
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    zero_stage: int
    offload: Literal["none", "optimizer", "params", "cpu"]
    grad_accum: int
    global_batch_size: int
    overhead_percent: float | None
    training_run: TrainingRunInfo | None = None


class BreakdownInfo(_Strict):
    weights_bytes: int
    kv_cache_bytes: int
    activations_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    overhead_bytes: int


class WeightsInfo(_Strict):
    bits_per_parameter: float
    by_component: dict[str, int]


class KvLayersInfo(_Strict):
    kind: Literal["full", "sliding", "chunked", "mla", "cross", "encoder", "linear", "mamba", "conv", "shared",
                  "compressed"]
    layers: int
    bytes_per_token: int
    state_bytes_per_sequence: int
    window: int | None
    compress_rate: int | None = None
    compressed_bytes: int = 0


class KvInfo(_Strict):
    bytes_per_token: int
    state_bytes_per_sequence: int = 0
    layers: list[KvLayersInfo] = []


class TermInfo(_Strict):
    component: str
    name: str
    bytes: int
    formula: str
    values: dict[str, int | float | str]
    source: str
    approximate: bool


class CapacityInfo(_Strict):
    gpu: str | None
    label: str
    gpus: int
    usable_bytes: int
    usable_basis: str
    needed_bytes: int
    headroom_bytes: int
    fits: bool
    min_gpus: int | None


Setting = int | float | str | bool


class TransformersEngine(_Strict):
    name: Literal["transformers"]


class PoolEngine(_Strict):
    """vLLM and SGLang: a fraction of the GPU's total memory, the rest of it after weights and the
    profiled peak given to a KV pool of pages (docs/engines.md)."""

    name: Literal["vllm", "sglang"]
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
    margin_bytes: int
    in_budget: dict[str, int]
    outside_budget: dict[str, int]
    settings: dict[str, Setting]
    state_bytes_per_sequence: int
    """Linear-attention / Mamba / short-convolution state of one sequence on one rank (0: none)."""
    state_slots: int | None
    """SGLang: sequences its separate state pool holds (max_mamba_cache_size); null for vLLM."""


class GgufDevice(_Strict):
    device: str
    model_buffer_bytes: int
    kv_buffer_bytes: int
    compute_buffer_bytes: int
    rs_buffer_bytes: int = 0


class GgufEngine(_Strict):
    """llama.cpp and Ollama: per-device model, KV and compute buffers (docs/engines.md)."""

    name: Literal["llama.cpp", "ollama"]
    model_buffer_bytes: int
    kv_buffer_bytes: int
    compute_buffer_bytes: int
    cpu_buffer_bytes: int
    gpu_layers: int
    devices: list[GgufDevice]
    settings: dict[str, Setting]
    rs_buffer_bytes: int = 0
    kv_bytes_per_cell: int = 0


EngineInfo = Annotated[TransformersEngine | PoolEngine | GgufEngine, Field(discriminator="name")]


class EngineName(_Strict):
    """`vram max` when nothing fits: no allocation to describe, only the engine's name."""

    name: Literal["transformers", "vllm", "sglang", "llama.cpp", "ollama"]


class CheckDocument(CapacityInfo):
    """`vram check --format json`."""

    schema_version: Literal[1]
    model: str
    engine: EngineInfo | None = None

    @property
    def total_bytes(self) -> int:
        """What the run needs per GPU (``needed_bytes``)."""
        return self.needed_bytes


class MaxDocument(_Strict):
    """`vram max --format json`."""

    schema_version: Literal[1]
    solve: Literal["seq-len", "batch-size", "max-model-len", "context-length", "concurrency", "ctx-size",
                   "n-gpu-layers"]
    value: int
    capped_at: int | None
    cap_reason: Literal["context_window", "max_seq_len", "limit", "all_layers"] | None
    fits: bool
    model: str
    label: str
    gpu: str | None
    gpus: int
    usable_bytes: int
    needed_bytes: int | None
    workload: dict[str, int | str]
    engine: EngineInfo | EngineName | None = None

    @property
    def total_bytes(self) -> int | None:
        """What the run needs per GPU at the value found (``needed_bytes``)."""
        return self.needed_bytes


class EstimateDocument(_Strict):
    """`vram estimate --format json`."""

    schema_version: Literal[1]
    model: ModelInfo
    workload: WorkloadInfo
    breakdown: BreakdownInfo
    total_bytes: int
    cpu_bytes: int
    weights: WeightsInfo
    kv_cache: KvInfo
    not_estimated: list[Literal["kv_cache_bytes", "activations_bytes"]]
    notes: list[str]
    explain: list[TermInfo] | None = None
    config_keys: list[str] | None = None
    capacity: CapacityInfo | None = None
    runtime: dict[str, int | str | bool] | None = None
    engine: EngineInfo | None = None

    @property
    def fits(self) -> bool | None:
        """Whether it fits the budget (``capacity.fits``); None without ``gpu`` or ``memory``."""
        return self.capacity.fits if self.capacity is not None else None


class CompareRow(_Strict):
    dtype: str
    bits_per_parameter: float
    breakdown: BreakdownInfo
    total_bytes: int
    fits: bool | None = None
    headroom_bytes: int | None = None
    engine: EngineInfo | None = None


class CompareCapacity(_Strict):
    label: str
    usable_bytes: int
    gpu: str | None


class CompareModel(_Strict):
    id: str
    source: str
    parameters: int


class CompareDocument(_Strict):
    """`vram compare --format json`."""

    schema_version: Literal[1]
    model: CompareModel
    workload: dict[str, int | str]
    rows: list[CompareRow]
    not_estimated: list[Literal["kv_cache_bytes", "activations_bytes"]]
    capacity: CompareCapacity | None = None

    def row(self, dtype: str) -> CompareRow:
        """The row of one weight format (KeyError if it was not compared)."""
        for r in self.rows:
            if r.dtype == dtype:
                return r
        raise KeyError(dtype)


class CompressGpu(_Strict):
    onloaded: str
    layer_bytes: int
    vision_bytes: int
    hessian_bytes: int
    workspace_bytes: int
    calibration_bytes: int
    overhead_bytes: int


class CompressDocument(_Strict):
    """`vram compress --format json`."""

    schema_version: Literal[1]
    model: str
    algorithm: Literal["rtn", "gptq", "sparsegpt", "awq"]
    scheme: str
    checkpoint_dtype: str
    calibration_samples: int
    calibration_seq_len: int
    calibration_batch_size: int
    cpu_bytes: int
    gpu_bytes: int
    output_bytes: int
    gpu: CompressGpu
    rule_of_thumb_gpu_bytes: int


class SweepPoint(_Strict):
    value: int
    breakdown: BreakdownInfo
    total_bytes: int
    fits: bool | None = None


class SweepDocument(_Strict):
    """`vram sweep --format json`."""

    schema_version: Literal[1]
    parameter: Literal["seq-len", "batch-size"]
    model: CompareModel
    workload: dict[str, int | str]
    points: list[SweepPoint]
    first_not_fitting: int | None
    not_estimated: list[Literal["kv_cache_bytes", "activations_bytes"]]
    capacity: CompareCapacity | None = None


class PlanDeployment(CapacityInfo):
    """One deployment of a capacity plan: its name, the model it resolved to, and its check."""

    name: str
    model: str
    engine: EngineInfo | None = None


class PlanDocument(_Strict):
    """`vram check --plan PLAN --format json`."""

    schema_version: Literal[1]
    plan: str
    fits: bool
    """Whether every deployment fits (the exit status is 1 otherwise)."""
    deployments: list[PlanDeployment]


class ErrorInfo(_Strict):
    code: str
    message: str
    exit_status: int


class ErrorDocument(_Strict):
    """Any command's error in ``--format json`` mode."""

    schema_version: Literal[1]
    error: ErrorInfo


DOCUMENTS: dict[str, type[BaseModel]] = {"estimate": EstimateDocument, "compare": CompareDocument,
                                         "check": CheckDocument, "max": MaxDocument, "compress": CompressDocument,
                                         "plan": PlanDocument, "sweep": SweepDocument,
                                         "error": ErrorDocument}
