"""Engine constants as stored in presets/engines.json (loaded and validated by vram.presets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, eq=False)
class VllmConstants:
    version: str
    source: str
    gpu_memory_utilization: float
    block_size: int
    large_gpu_bytes: int
    """vLLM raises its scheduler defaults on GPUs with at least this much memory (other than A100)."""
    large_gpu_max_num_seqs: int
    large_gpu_max_num_batched_tokens: int
    max_num_seqs: int
    max_num_batched_tokens: int
    vocab_padding: int
    sampler_bytes_per_logit: int
    """Bytes per logit the dummy sampler run holds besides the logits themselves."""
    sampler_basis: str
    non_torch_bytes: int
    non_torch_bytes_multi_gpu: int
    non_torch_basis: str
    max_cudagraph_capture_size: int
    mm_limit_per_prompt: int
    """limit_mm_per_prompt's default items of each modality (vllm/config/multimodal.py)."""
    hybrid_block_alignment: int
    """Attention block sizes of models with state layers are multiples of this (FlashAttention's 16)."""
    hybrid_block_alignment_mla: int
    """The same for MLA attention (FlashMLA's 64)."""
    ssm_dtype_from_config: tuple[str, ...]
    """Model types whose SSM state dtype "auto" is the config's mamba_ssm_cache_dtype (else float16)."""
    hybrid_source: str
    state_model_types: tuple[str, ...]
    """The model types with state layers (Mamba, linear attention, short convolution) that vLLM's model
    registry serves; a model with state layers of another type is refused (the Transformers backend
    serves attention layers only)."""
    state_model_types_source: str
    removed_model_types: dict[str, str]
    """Model types vLLM served once and no longer does at this version, each with why (and the source)."""


@dataclass(frozen=True, eq=False)
class SglangBucket:
    below_mib: int
    """The bucket applies to GPUs with less than this many MiB (0: every larger GPU)."""
    chunked_prefill_size: int
    cuda_graph_max_bs: int
    cuda_graph_max_bs_tp4: int


@dataclass(frozen=True, eq=False)
class SglangConstants:
    version: str
    source: str
    buckets: tuple[SglangBucket, ...]
    reserved_base_mib: int
    reserved_mib_per_prefill_token: float
    reserved_min_prefill_tokens: int
    reserved_mib_per_graph_bs: int
    reserved_mib_per_eighth_gpu: int
    reserved_floor_mib_large_gpu: int
    large_gpu_mib: int
    min_running_requests: int
    max_running_requests: int
    requests_per_context: int
    swa_full_tokens_ratio: float
    """Tokens of a sliding-window layer's pool per token of a full layer's (server_args default)."""
    hybrid_swa_model_types: tuple[str, ...]
    """Model types SGLang gives a separate sliding-window pool (SWAKVPool); others page every layer as full."""
    hybrid_swa_source: str
    mamba_model_types: tuple[str, ...]
    """Model types SGLang 0.5.8 serves with a separate state pool (HybridReqToTokenPool / MambaPool)."""
    mamba_ssm_dtype: str
    """--mamba-ssm-dtype default: the recurrent state's dtype (the conv state is always bfloat16)."""
    mamba_full_memory_ratio: float
    """--mamba-full-memory-ratio default: state pool bytes per byte of the full-attention token pool."""
    mamba_cache_per_running_request: int
    """With the radix cache: max_running_requests <= max_mamba_cache_size // this."""
    mamba_cache_size_without_radix: int
    """max_mamba_cache_size when the radix cache is off and --max-running-requests is not given."""
    no_radix_cache_model_types: tuple[str, ...]
    """Model types SGLang serves with the radix cache off (server_args model-specific adjustments)."""
    mamba_source: str


@dataclass(frozen=True, eq=False)
class EnginesFile:
    schema_version: Literal[1]
    vllm: VllmConstants
    sglang: SglangConstants
