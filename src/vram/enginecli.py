"""The commands estimate, check, max, compare and sweep for a serving engine other than transformers.

Resolves the model, builds the EngineInput from the option values (api.prepare's dict), calls the
engine and returns the documents (runs.Outcome); api.py hands over here at one point per command.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vram import presets
from vram.capacity import Fit
from vram.engines import ENGINE_FLAGS, Engine, EngineAllocation, EngineInput
from vram.errors import UsageError, clip
from vram.runs import Outcome

# vLLM / SGLang --kv-cache-dtype values and the vram KV formats they store (vllm/config/cache.py
# CacheDType; fp8 is e4m3 on CUDA; both are one byte per element).
KV_CACHE_DTYPES = {"auto": None, "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "bfloat16": "bf16",
                   "float16": "fp16", "fp16": "fp16", "bf16": "bf16"}


# vLLM flags TRL's colocated engine takes from its user (GRPOConfig's vllm_* fields); the other vLLM flags
# TRL sets itself (trl/generation/vllm_generation.py): max_num_seqs, max_num_batched_tokens, ...
COLOCATE_FLAGS = {"gpu_memory_utilization": "vllm_gpu_memory_utilization", "max_model_len": "vllm_max_model_length",
                  "tensor_parallel_size": "vllm_tensor_parallel_size", "enable_sleep_mode": "vllm_enable_sleep_mode"}


def colocates(opts: dict[str, Any]) -> bool:
    """--mode grpo --engine vllm: TRL's GRPOTrainer with vLLM in the training process. vLLM with any
    other training mode is refused here (one line, exit 2)."""
    engine = str(opts.get("engine", "")).strip().lower()
    mode = str(opts.get("mode", "")).strip().lower()
    if engine == "vllm" and mode not in ("inference", "grpo"):
        raise UsageError(f"--engine vllm serves models, or generates the completions of --mode grpo inside the "
                         f"trainer; --mode {clip(mode)} needs --engine transformers")
    return engine == "vllm" and mode == "grpo"


def check_colocate_options(given: set[str], flag_of: dict[str, str]) -> None:
    """Refuse the engine flags TRL does not let its user set for a colocated vLLM (one line, exit 2)."""
    for name in sorted(given):
        if name in ENGINE_FLAGS and name not in COLOCATE_FLAGS:
            flag = flag_of.get(name, "--" + name.replace("_", "-"))
            raise UsageError(f"{flag} means nothing with --mode grpo --engine vllm: TRL's colocated vLLM takes "
                             f"only {', '.join('--' + k.replace('_', '-') for k in COLOCATE_FLAGS)} "
                             "(GRPOConfig vllm_*) and sets the rest itself")


def colocated_vllm(opts: dict[str, Any], gpu: Any, budget: tuple[str, int] | None) -> Any:
    """The ColocatedVllm of the workload from the CLI's option values (TRL's defaults where not given)."""
    from vram.workload import ColocatedVllm

    if budget is None:
        raise UsageError("--mode grpo --engine vllm sizes vLLM's share from the card: give --gpu NAME or "
                         "--memory AMOUNT")
    total = (gpu.cuda_total_bytes or gpu.usable_bytes) if gpu is not None else budget[1]
    defaults = presets.frameworks().colocated_vllm
    util = opts.get("gpu_memory_utilization")
    util = defaults.gpu_memory_utilization if util is None else util
    if not 0 < util <= 1:
        raise UsageError(f"--gpu-memory-utilization must be in (0, 1], got {util:g}")
    tps = opts.get("tensor_parallel_size")
    tps = 1 if tps is None else tps
    if tps <= 0 or opts["gpus"] % tps:
        raise UsageError(f"--tensor-parallel-size {tps} must divide --gpus {opts['gpus']} (TRL splits the training "
                         "processes into vLLM tensor-parallel groups)")
    max_len = opts.get("max_model_len")
    if max_len is not None and max_len <= 0:
        raise UsageError(f"--max-model-len must be a positive integer, got {max_len}")
    return ColocatedVllm(total_bytes=total, utilization=util, max_num_batched_tokens=defaults.max_num_batched_tokens,
                         constants=presets.engines(), max_model_len=max_len, tensor_parallel=tps,
                         sleep_mode=bool(opts.get("enable_sleep_mode")), gpu_name=gpu.name if gpu else None)


GGML_QUANTIZED = ("mxfp4",)
"""Formats of presets/precisions.json that ggml also has as a tensor type (GGML_TYPE_MXFP4), besides its own."""


def check_gguf_engine_format(engine: str, fmt: Any) -> None:
    """llama.cpp and Ollama run GGUF tensor types: refuse a weight format that has none (nf4, awq, fp8...)."""
    if engine in ("llama.cpp", "ollama") and fmt.kind not in ("float", "gguf") and fmt.name not in GGML_QUANTIZED:
        raise UsageError(f"--engine {engine} runs GGUF files, and --dtype {fmt.name} is not a GGUF type: choose fp32, "
                         "fp16, bf16, mxfp4 or one of q8_0 ... q2_k")


class EngineRun:
    """A resolved model, a workload and a budget, as one engine sees them."""

    def __init__(self, model: str, dtype: str, opts: dict[str, Any]) -> None:
        from vram.options import build_workload, gguf_types
        from vram.sources import HubOptions, resolve

        self.engine: Engine = opts["_engine"]
        given: set[str] = opts["_given"]
        if opts["mode"] != "inference":
            grpo = " (--mode grpo runs vLLM inside the trainer)" if self.engine.name == "vllm" else ""
            raise UsageError(f"--engine {self.engine.name} serves models: --mode {opts['mode']} needs --engine "
                             f"transformers{grpo}")
        gpus = opts["gpus"]
        tps = opts.get("tensor_parallel_size")
        if tps is not None:
            if tps <= 0:
                raise UsageError(f"--tensor-parallel-size must be a positive integer, got {tps}")
            if "gpus" in given and gpus != tps:
                raise UsageError(f"--gpus {gpus} and --tensor-parallel-size {tps} disagree; give one")
            gpus = tps
        kv_dtype = opts["kv_dtype"]
        kcd = opts.get("kv_cache_dtype")
        if kcd is not None:
            if kv_dtype is not None:
                raise UsageError("--kv-dtype and --kv-cache-dtype both set the KV cache dtype; give one")
            key = kcd.strip().lower()
            if key not in KV_CACHE_DTYPES:
                raise UsageError(f"unknown --kv-cache-dtype {kcd!r}; choose one of: {', '.join(KV_CACHE_DTYPES)}")
            kv_dtype = KV_CACHE_DTYPES[key]
        self.gguf = gguf_types()
        self.ggml_types = presets.ggml_types() if self.engine.name in ("llama.cpp", "ollama") else {}
        self.llamacpp = presets.llamacpp() if self.engine.name in ("llama.cpp", "ollama") else None
        workload = build_workload(dtype=dtype, mode="inference", gpus=gpus, kv_dtype=kv_dtype,
                                  images=opts["images"], frames=opts["frames"], image_size=opts["image_size"],
                                  batch_size=opts["batch_size"], seq_len=opts["seq_len"])
        pps = opts.get("pipeline_parallel_size")
        if pps is not None:
            if pps <= 0:
                raise UsageError(f"--pipeline-parallel-size must be a positive integer, got {pps}")
            workload = replace(workload, pipeline_parallel=pps)
        self.workload = workload
        self.gpu: Any = None
        self.total: int | None = None
        self.usable: int | None = None
        self.label: str | None = None
        from vram.runs import budget_of

        self.gpu, budget = budget_of(opts)
        if budget is not None:
            self.label, self.usable = budget
            self.total = self.gpu.cuda_total_bytes if self.gpu is not None else self.usable
        self.settings = {name: opts.get(name) for name in ENGINE_FLAGS}
        if self.engine.name == "ollama":  # Ollama's server settings live in its environment
            import os

            for var in ("OLLAMA_CONTEXT_LENGTH", "OLLAMA_NUM_PARALLEL", "OLLAMA_KV_CACHE_TYPE",
                        "OLLAMA_FLASH_ATTENTION"):
                self.settings[var.lower()] = os.environ.get(var)
        self.resolved = resolve(model, HubOptions(revision=opts["revision"], token=opts["token"],
                                                  refresh=opts["refresh"]), gguf_file=opts.get("gguf_file"))
        if self.resolved.gguf is not None and dtype.strip().lower() not in ("auto", "stored"):
            raise UsageError(f"--dtype {dtype} means nothing for a GGUF file: {self.engine.name} loads the file's own "
                             "tensor types (leave --dtype out, or pick another file with --gguf-file)")
        if self.resolved.gguf is None:
            check_gguf_engine_format(self.engine.name, self.workload.weight_format)
            self._dequantized_for_gguf()

    def _dequantized_for_gguf(self) -> None:
        """llama.cpp and Ollama run GGUF: a checkpoint stored in a format GGUF has no type for (FP8, NVFP4, GPTQ,
        AWQ...) reaches them through llama.cpp's convert_hf_to_gguf.py, which dequantizes it, so --dtype auto counts
        it in the unquantized dtype, as an unquantized checkpoint, with a note in place of the pre-quantized one."""
        spec, w = self.resolved.spec, self.workload
        if self.engine.name not in ("llama.cpp", "ollama") or not w.stored_weights:
            return
        scheme = spec.stored_scheme
        if spec.stored_weight_bytes is None:
            if scheme is None:
                return
            formats = [scheme.fmt, *(scheme.per_module or {}).values()]
            if all(f.kind in ("float", "gguf") or f.name in GGML_QUANTIZED for f in formats):
                return
        what = scheme.label if scheme is not None and spec.stored_weight_bytes is None else spec.quantization
        note = (f"--engine {self.engine.name} runs GGUF, which has no type for the checkpoint's "
                f"{what or 'quantized'} weights: llama.cpp's convert_hf_to_gguf.py dequantizes them, so they are "
                f"counted in {w.weight_format.name}; --dtype q8_0 ... q2_k for a quantized GGUF, or give the .gguf "
                "file")
        notes = tuple(n for n in spec.notes if not n.startswith("pre-quantized (")) + (note,)
        self.workload = replace(w, stored_weights=False)
        self.resolved = replace(self.resolved, spec=replace(spec, notes=notes))

    def input(self, workload: Any = None) -> EngineInput:
        return EngineInput(spec=self.resolved.spec, workload=workload or self.workload, settings=self.settings,
                           gguf_types=self.gguf, total_bytes=self.total, usable_bytes=self.usable,
                           gpu_name=self.gpu.name if self.gpu else None, engine_constants=presets.engines(),
                           gguf=self.resolved.gguf, ggml_types=self.ggml_types, llamacpp=self.llamacpp)

    def fit(self, alloc: EngineAllocation) -> Fit | None:
        budget = alloc.budget_bytes if alloc.budget_bytes is not None else self.usable
        if budget is None:
            return None
        label = alloc.budget_label or self.label or "budget"
        if alloc.budget_label and self.gpu is not None and self.label:  # "0.9 x 79.18 GiB of NVIDIA H100 ..."
            label = f"{alloc.budget_label} of {self.label}"
        fits = alloc.starts if alloc.starts is not None else alloc.needed_bytes <= budget
        return EngineFit(label=label, gpus=self.workload.gpus, usable_bytes=budget, needed_bytes=alloc.needed_bytes,
                         min_gpus=self.workload.gpus if fits else None, refused=alloc.refused)


@dataclass(frozen=True, eq=False)
class EngineFit(Fit):
    """A Fit whose verdict is the engine's own: it may refuse to start although its budget holds what it
    needs (vLLM, when the memory in use at start leaves less free than the budget asks for)."""

    refused: bool = False

    @property
    def fits(self) -> bool:
        return not self.refused and self.needed_bytes <= self.usable_bytes


def _capacity(run: EngineRun, fit: Fit) -> dict[str, Any]:
    from vram.report import fit_doc

    doc = fit_doc(fit, run.gpu)
    if doc["usable_bytes"] != (run.gpu.usable_bytes if run.gpu else run.usable):
        doc["usable_basis"] = f"--engine {run.engine.name}'s budget: {fit.label}"
    return doc


def estimate(model: str, dtype: str, opts: dict[str, Any], *, explain: bool) -> Outcome:
    from vram.report import estimate_doc

    run = EngineRun(model, dtype, opts)
    alloc = run.engine.allocate(run.input())
    doc = estimate_doc(run.resolved, alloc.workload or run.workload, alloc.estimate, explain=explain)
    doc["engine"] = alloc.details_dict()
    if alloc.kv_label:
        doc["workload"]["kv_dtype"] = alloc.kv_label
    fit = run.fit(alloc)
    if fit is not None:
        doc["capacity"] = _capacity(run, fit)
    return Outcome(doc=doc, estimate=alloc.estimate, engine=alloc.name, advice=tuple(alloc.advice),
                   fit_line=fit is not None and alloc.budget_bytes is None, workload_label=alloc.workload_label,
                   gpu_label=run.label)


def check(model: str, dtype: str, opts: dict[str, Any]) -> Outcome:
    from vram.report import fit_doc

    run = EngineRun(model, dtype, opts)
    if run.usable is None:
        raise UsageError("vram check needs --gpu NAME or --memory AMOUNT")
    alloc = run.engine.allocate(run.input())
    fit = run.fit(alloc)
    assert fit is not None
    doc = {"schema_version": 1, "model": run.resolved.spec.id, **fit_doc(fit, run.gpu),
           "engine": alloc.details_dict()}
    return Outcome(doc=doc, estimate=alloc.estimate, engine=run.engine.name, advice=tuple(alloc.advice))


def max_value(model: str, dtype: str, opts: dict[str, Any], *, solve: str | None) -> Outcome:
    run = EngineRun(model, dtype, opts)
    if run.usable is None:
        raise UsageError("vram max needs --gpu NAME or --memory AMOUNT")
    target = (solve or run.engine.solve_targets[0]).strip().lower()
    if target not in run.engine.solve_targets:
        raise UsageError(f"unknown --solve {solve!r} for --engine {run.engine.name}; choose "
                         f"{' or '.join(run.engine.solve_targets)}")
    solved = run.engine.solve(run.input(), target)
    alloc = solved.allocation
    fit = run.fit(alloc) if alloc else None
    label = fit.label if fit else (run.label or "")
    capped = solved.value == solved.cap
    ran = alloc.workload if alloc and alloc.workload else run.workload  # at the solved value, as the engine runs it
    # what stopped the search: the context window for context targets, all layers on the GPU for
    # n-gpu-layers, vram's limit (docs/cli.md) for batch sizes
    reason = ("all_layers" if target == "n-gpu-layers" else
              "context_window" if target in ("seq-len", "max-model-len", "context-length", "ctx-size") else "limit")
    doc = {"schema_version": 1, "solve": target, "value": solved.value,
           "capped_at": solved.cap if capped else None, "cap_reason": reason if capped else None,
           "fits": solved.value > 0, "model": run.resolved.spec.id,
           "label": label, "gpu": run.gpu.name if run.gpu else None, "gpus": run.workload.gpus,
           "usable_bytes": fit.usable_bytes if fit else run.usable,
           "needed_bytes": fit.needed_bytes if fit else None,
           "workload": {"mode": run.workload.mode, "batch_size": ran.batch_size, "seq_len": ran.seq_len,
                        "dtype": run.workload.weight_format.name},
           "engine": alloc.details_dict() if alloc else {"name": run.engine.name}}
    return Outcome(doc=doc, engine=run.engine.name, unit=solved.unit)


def compare(model: str, formats: list[Any], opts: dict[str, Any]) -> Outcome:
    from vram.report import SCHEMA_VERSION, breakdown_doc, not_estimated

    run = EngineRun(model, "auto", opts)
    if run.resolved.gguf is not None:
        raise UsageError(f"vram compare compares weight formats, and a GGUF file has its own: use vram estimate with "
                         f"--engine {run.engine.name}, or compare the model's config.json with --dtype names")
    rows: list[dict[str, Any]] = []
    for fmt in formats:
        w = replace(run.workload, weight_format=fmt, stored_weights=False)
        alloc = run.engine.allocate(run.input(w))
        est = alloc.estimate
        row: dict[str, Any] = {"dtype": fmt.name, "label": fmt.label, "bits_per_parameter": est.bits_per_parameter,
                               "breakdown": breakdown_doc(est), "total_bytes": est.total_bytes}
        fit = run.fit(alloc)
        if fit is not None:
            row["fits"] = fit.fits
            row["headroom_bytes"] = fit.headroom_bytes
        row["engine"] = alloc.details_dict()
        rows.append(row)
    keys = ("dtype", "bits_per_parameter", "breakdown", "total_bytes", "fits", "headroom_bytes", "engine")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {"id": run.resolved.spec.id, "source": run.resolved.source,
                  "parameters": run.resolved.spec.parameters},
        "workload": {"mode": run.workload.mode, "batch_size": run.workload.batch_size,
                     "seq_len": run.workload.seq_len, "gpus": run.workload.gpus, "engine": run.engine.name},
        "rows": [{k: r[k] for k in keys if k in r} for r in rows],
        "not_estimated": not_estimated(run.resolved)}
    if run.usable is not None:
        doc["capacity"] = {"label": run.label, "usable_bytes": run.usable,
                           "gpu": run.gpu.name if run.gpu else None}
    title = f"{run.resolved.spec.id} with {run.engine.name}"
    if run.label is not None:
        title += f", on {run.label}"
    return Outcome(doc=doc, rows=rows, title=title, engine=run.engine.name)


# What a sweep of --seq-len or --batch-size varies for each serving engine: its own context length or
# concurrency flag (the engines size their caches from these, not from the workload's batch and sequence).
SWEEP_FLAGS: dict[str, dict[str, str]] = {
    "seq-len": {"vllm": "max_model_len", "sglang": "context_length", "llama.cpp": "ctx_size", "ollama": "ctx_size"},
    "batch-size": {"vllm": "max_num_seqs", "sglang": "max_running_requests", "llama.cpp": "parallel",
                   "ollama": "parallel"},
}


def sweep(model: str, dtype: str, opts: dict[str, Any], *, parameter: str, values: list[int]) -> Outcome:
    """The engine's allocation at each value of its context or concurrency flag (SWEEP_FLAGS); a point
    fits when the engine starts within its budget."""
    from vram.runs import sweep_doc
    from vram.sweep import Sweep, SweepPoint

    run = EngineRun(model, dtype, opts)
    flag = SWEEP_FLAGS[parameter][run.engine.name]
    base = dict(run.settings)
    points = []
    for v in values:
        run.settings = {**base, flag: v}
        alloc = run.engine.allocate(run.input())
        fit = run.fit(alloc)
        points.append(SweepPoint(value=v, estimate=alloc.estimate, fits=None if fit is None else fit.fits))
    result = Sweep(parameter=parameter, points=tuple(points), usable_bytes=run.usable)
    budget = (run.label or "budget", run.usable) if run.usable is not None else None
    doc = sweep_doc(parameter, run.resolved, run.workload, result, budget, run.gpu, run.engine.name)
    doc["workload"]["swept_option"] = "--" + flag.replace("_", "-")
    return Outcome(doc=doc, engine=run.engine.name)
