"""Serving engines: each turns the same ModelSpec and Workload into the memory that engine allocates.

One module per engine (``transformers``, ``vllm``, ``sglang``, ``llamacpp``, ``ollama``); each exposes
``ENGINE``, an object with the :class:`Engine` shape. Engines call the shared terms (``vram.terms``)
and never copy them. Pure: no I/O; adapters hand an engine what it needs through :class:`EngineInput`.

The CLI reaches an engine only through :func:`get`, :func:`check_options` and the engine's own
``allocate`` / ``solve``. docs/design.md "How to add an engine" describes the steps.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import TYPE_CHECKING, Any, Protocol

from vram.breakdown import Estimate
from vram.errors import UsageError
from vram.model import ModelSpec
from vram.precision import Format
from vram.workload import Workload

if TYPE_CHECKING:  # the constants' dataclasses load with the engine that reads them (start-up time)
    from vram.engines.constants import EnginesFile

ENGINE_NAMES: tuple[str, ...] = ("transformers", "vllm", "sglang", "llama.cpp", "ollama")
DEFAULT_ENGINE = "transformers"

_MODULES = {"transformers": "vram.engines.transformers", "vllm": "vram.engines.vllm",
            "sglang": "vram.engines.sglang", "llama.cpp": "vram.engines.llamacpp",
            "ollama": "vram.engines.ollama"}

# Engine flags, by option name (the CLI spells each as --name-with-dashes), grouped by the engine that
# owns the name. An engine may read another engine's flag (SGLang reads --tensor-parallel-size and
# --kv-cache-dtype, which it spells the same way); ``Engine.options`` says which it reads.
VLLM_FLAGS: tuple[str, ...] = ("gpu_memory_utilization", "max_model_len", "max_num_seqs", "max_num_batched_tokens",
                               "kv_cache_dtype", "enforce_eager", "tensor_parallel_size", "pipeline_parallel_size",
                               "enable_expert_parallel", "block_size", "mamba_ssm_cache_dtype")
SGLANG_FLAGS: tuple[str, ...] = ("mem_fraction_static", "context_length", "max_running_requests",
                                 "chunked_prefill_size", "disable_cuda_graph", "swa_full_tokens_ratio",
                                 "max_mamba_cache_size", "mamba_ssm_dtype", "mamba_full_memory_ratio",
                                 "disable_radix_cache")
LLAMACPP_FLAGS: tuple[str, ...] = ("ctx_size", "n_gpu_layers", "flash_attn", "cache_type_k", "cache_type_v",
                                   "ubatch_size", "parallel", "swa_full", "n_batch", "gguf_file", "tensor_split",
                                   "main_gpu", "split_mode", "fit", "fit_target", "fit_ctx")
ENGINE_FLAGS: tuple[str, ...] = VLLM_FLAGS + SGLANG_FLAGS + LLAMACPP_FLAGS

# Options every engine understands: the model, the weight format, the budget and the Hub access.
COMMON_OPTIONS: frozenset[str] = frozenset({"gpu", "memory", "revision", "token", "refresh"})


@dataclass(frozen=True, eq=False)
class EngineInput:
    """Everything an engine needs: the model, the workload, the engine's flags and the GPU.

    ``settings`` holds every engine flag by option name, None where the user did not give it; an
    engine reads only the names in its ``options``. ``total_bytes`` is the GPU's memory as the CUDA
    runtime reports it (cudaMemGetInfo's total), or --memory; ``usable_bytes`` what one process can
    allocate (presets/gpus.json). Adapters that read engine files (a GGUF header) add a field here.
    """

    spec: ModelSpec
    workload: Workload
    settings: Mapping[str, Any] = field(default_factory=dict)
    gguf_types: dict[str, Format] = field(default_factory=dict)
    total_bytes: int | None = None
    usable_bytes: int | None = None
    gpu_name: str | None = None
    engine_constants: EnginesFile | None = None
    """presets/engines.json, read by the adapter that builds this input."""
    gguf: Any = None
    """llama.cpp / Ollama: the GGUF file's parsed headers (vram.gguf_model.GGUFModel), when MODEL is one."""
    ggml_types: Mapping[int, Any] = field(default_factory=dict)
    """ggml tensor types by id (presets/ggml_types.json), for llama.cpp's cache types."""
    llamacpp: Any = None
    """llama.cpp's and Ollama's defaults (presets/llamacpp.json, vram.engines.llamacpp_alloc.LlamaCppData)."""

    def setting(self, name: str) -> Any:
        return self.settings.get(name)


@dataclass(frozen=True, eq=False)
class EngineAllocation:
    """What one engine allocates on each GPU, and whether it can start.

    ``estimate.breakdown`` is the memory the engine holds per GPU while serving (for vLLM and SGLang the
    KV pool fills its budget). ``needed_bytes`` is the least it must have to start: it starts when
    needed_bytes <= budget (``budget_bytes``, or the GPU's usable memory when None). ``details`` is
    the engine's own dataclass, whose fields become the JSON ``engine`` object; ``advice`` lines say
    what would make a refused start work.
    """

    name: str
    estimate: Estimate
    needed_bytes: int
    budget_bytes: int | None = None
    budget_label: str | None = None
    details: Any = None
    advice: tuple[str, ...] = ()
    workload: Workload | None = None
    """The workload as the engine runs it (its context length and sequences), when it differs."""
    refused: bool = False
    """The engine refuses to start for a reason outside the budget comparison (vLLM: the CUDA context
    leaves less free memory than the budget asks for); it starts when not refused and needed <= budget."""
    workload_label: str | None = None
    """The workload in the engine's own terms ("--max-num-seqs 1024, --max-model-len 131,072")."""
    kv_label: str | None = None
    """The KV cache's type in the engine's own names when they are not vram's (llama.cpp: "f16", "q8_0/q4_0")."""

    @property
    def starts(self) -> bool | None:
        """Whether the engine starts (None for engines without a budget of their own)."""
        if self.budget_bytes is None:
            return None
        return not self.refused and self.needed_bytes <= self.budget_bytes

    def details_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.details is not None and is_dataclass(self.details) and not isinstance(self.details, type):
            out.update(asdict(self.details))
        return out


@dataclass(frozen=True, eq=False)
class Solved:
    """`vram max` for an engine: the largest value of ``target`` and the allocation at that value."""

    target: str
    value: int
    cap: int | None
    allocation: EngineAllocation | None
    unit: str
    """What the value counts: "tokens per sequence", "sequences", "layers"."""


class Engine(Protocol):
    """The shape of every engine module's ``ENGINE``."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> frozenset[str]:
        """Option names (beyond COMMON_OPTIONS) that mean something for this engine."""
        ...

    @property
    def solve_targets(self) -> tuple[str, ...]:
        """What `vram max --solve` can maximise for this engine; the first is the default."""
        ...

    def allocate(self, inp: EngineInput) -> EngineAllocation: ...

    def solve(self, inp: EngineInput, target: str) -> Solved: ...


def get(name: str) -> Engine:
    """The engine registered under ``name`` (case-insensitive; llamacpp and llama-cpp name llama.cpp)."""
    key = name.strip().lower()
    key = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "hf": "transformers"}.get(key, key)
    if key not in _MODULES:
        raise UsageError(f"unknown --engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
    try:
        module = importlib.import_module(_MODULES[key])
    except ModuleNotFoundError as exc:
        if exc.name != _MODULES[key]:
            raise
        raise UsageError(f"--engine {key} is not part of this build of vram") from exc
    engine: Engine = module.ENGINE
    return engine


def check_options(engine: Engine, given: set[str], flag_of: Mapping[str, str]) -> None:
    """Refuse an option the user gave that means nothing for ``engine``: one line, exit 2."""
    for name in sorted(given):
        if name in COMMON_OPTIONS or name in engine.options:
            continue
        flag = flag_of.get(name, "--" + name.replace("_", "-"))
        raise UsageError(f"{flag} means nothing for --engine {engine.name}")
