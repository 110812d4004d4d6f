"""The JSON documents `vram` prints, as pydantic models: the contract of ``--format json``.

Not imported by the CLI's hot path. ``vram schema`` prints the JSON Schema; the tests validate
every document the CLI prints against these models (unknown keys are errors).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    id: str
    source: Literal["preset", "size", "local", "hub"]
    location: str
    model_type: str
    parameters: int
    active_parameters: int
    trainable_parameters: int
    parameters_by_component: dict[str, int]


class WorkloadInfo(_Strict):
    mode: Literal["inference", "training", "lora", "qlora"]
    dtype: str
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
    overhead_percent: float | None


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


class KvInfo(_Strict):
    bytes_per_token: int


class TermInfo(_Strict):
    component: str
    name: str
    bytes: int
    formula: str
    values: dict[str, int | float | str]
    source: str
    approximate: bool


class EstimateDocument(_Strict):
    """`vram estimate --format json`."""

    schema_version: Literal[1]
    model: ModelInfo
    workload: WorkloadInfo
    breakdown: BreakdownInfo
    total_bytes: int
    weights: WeightsInfo
    kv_cache: KvInfo
    notes: list[str]
    explain: list[TermInfo] | None = None


class CompareRow(_Strict):
    dtype: str
    bits_per_parameter: float
    breakdown: BreakdownInfo
    total_bytes: int


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


class ErrorInfo(_Strict):
    code: str
    message: str
    exit_status: int


class ErrorDocument(_Strict):
    """Any command's error in ``--format json`` mode."""

    schema_version: Literal[1]
    error: ErrorInfo


DOCUMENTS: dict[str, type[BaseModel]] = {"estimate": EstimateDocument, "compare": CompareDocument,
                                         "error": ErrorDocument}
