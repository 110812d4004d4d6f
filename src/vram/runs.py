"""The transformers path of estimate, compare, check, max and sweep: a resolved model, a workload and a
budget, turned into the JSON documents (report.py). Computes only; the shell renders.

Every check of how options combine lives here or in options.py, so that the CLI and the Python API
(api.py) refuse the same things. ``opts`` is api.prepare's dict: every option with its default,
``_given`` (the options the caller set), ``_engine`` and ``_gpu`` (``--gpu auto``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from vram.breakdown import Estimate
from vram.errors import UsageError, clip


@dataclass(eq=False)
class Outcome:
    """A command's document and what its renderer needs besides."""

    doc: dict[str, Any]
    estimate: Estimate | None = None
    engine: str | None = None
    """The serving engine's name (None: transformers)."""
    advice: tuple[str, ...] = ()
    fit_line: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    unit: str = ""
    """max: what the value counts (tokens per sequence, sequences)."""
    workload_label: str | None = None
    """An engine's own description of the workload (estimate's caption)."""
    gpu_label: str | None = None


def budget_of(opts: dict[str, Any]) -> tuple[Any, tuple[str, int] | None]:
    """The GPU (or None) and the (label, usable bytes) budget of --gpu / --memory."""
    from vram import presets

    if opts["gpu"] and opts["memory"]:
        raise UsageError("give --gpu or --memory, not both")
    if opts.get("_gpu") is not None:
        gpu = opts["_gpu"]
        return gpu, (gpu.label, gpu.usable_bytes)
    if opts["gpu"]:
        gpu = presets.gpus().find(opts["gpu"])
        return gpu, (gpu.label, gpu.usable_bytes)
    if opts["memory"]:
        from vram.units import parse_memory

        return None, (f"{opts['memory']} budget", parse_memory(opts["memory"]))
    return None, None


WORKLOAD_KEYS = ("mode", "batch_size", "seq_len", "kv_dtype", "optimizer", "precision", "gradient_checkpointing",
                 "attention", "mamba_kernels", "images", "frames", "image_size", "lora_rank", "lora_targets",
                 "lora_dtype",
                 "double_quant", "gpus", "overhead_percent", "tp", "pp", "zero", "fsdp", "shard_size", "offload",
                 "micro_batch_size", "grad_accum", "loss", "loss_chunks", "compile_loss", "fused_kernel",
                 "optimizer_in_backward", "activation_offload", "framework", "tuning", "reference",
                 "num_generations", "max_completion_length")


class Run:
    """A resolved model and a workload, with the budget it is checked against."""

    def __init__(self, model: str, dtype: str, opts: dict[str, Any]) -> None:
        from vram.options import build_workload, check_given_options, check_qlora_dtype, effective_mode, gguf_types
        from vram.sources import HubOptions, resolve

        check_given_options(opts["mode"], opts["_given"], opts.get("tuning"))
        check_qlora_dtype(effective_mode(opts["mode"], opts.get("tuning")), dtype)
        self.gguf = gguf_types()
        self.runtime = opts["runtime"].strip().lower()
        if self.runtime not in ("standard", "layered"):
            raise UsageError(f"unknown --runtime {clip(opts['runtime'])!r}; choose standard or layered")
        if opts["compression"] is not None:
            if self.runtime != "layered":
                raise UsageError("--compression is AirLLM's option: use it with --runtime layered")
            comp = opts["compression"].strip().lower()
            if comp not in ("4bit", "8bit"):
                raise UsageError(f"unknown --compression {clip(opts['compression'])!r}; choose 4bit or 8bit")
            if dtype.strip().lower() not in ("auto", "bf16", "fp16"):
                raise UsageError("--compression sets the weight format: leave --dtype out")
            dtype = "nf4" if comp == "4bit" else "int8-block"
        if self.runtime == "layered" and (opts["offload"] or opts["gpus"] != 1):
            raise UsageError("--runtime layered runs on one GPU without offload options")
        self.cpu_memory = opts["cpu_memory"]
        if self.cpu_memory is not None and opts["offload"] != "cpu":
            raise UsageError("--cpu-memory applies to --offload cpu")
        self.dtype = dtype
        self.workload_args = {k: opts[k] for k in WORKLOAD_KEYS}
        self.workload = build_workload(dtype=dtype, **self.workload_args)
        self.plan: Any = None
        self.gpu, self.budget = budget_of(opts)
        from vram import enginecli

        if self.budget is not None:  # the card's total: Unsloth's loss sizes its chunks from the free memory
            self.workload_args["card_bytes"] = (self.gpu.cuda_total_bytes or self.gpu.usable_bytes) if self.gpu \
                else self.budget[1]
        if enginecli.colocates(opts):
            self.workload_args["colocated_vllm"] = enginecli.colocated_vllm(opts, self.gpu, self.budget)
        self.workload = build_workload(dtype=dtype, **self.workload_args)
        self.resolved = resolve(model, HubOptions(revision=opts["revision"], token=opts["token"],
                                                  refresh=opts["refresh"]))
        if self.resolved.gguf is not None and self.workload.stored_weights:
            self._dequantized_gguf()

    def _dequantized_gguf(self) -> None:
        """transformers dequantizes a GGUF file as it loads it (its docs, "GGUF and interaction with
        Transformers"): the weights are counted in the default float format, not in the file's blocks."""
        from dataclasses import replace

        from vram.options import DEFAULT_DTYPE, build_workload

        self.dtype = DEFAULT_DTYPE
        self.workload = build_workload(dtype=DEFAULT_DTYPE, **self.workload_args)
        spec = self.resolved.spec
        note = (f"transformers dequantizes a GGUF file when it loads it (to fp32 unless from_pretrained is given a "
                f"dtype): weights counted in {DEFAULT_DTYPE} (--dtype fp32 for transformers' default); "
                "--engine llama.cpp runs the file as stored")
        self.resolved = replace(self.resolved, spec=replace(spec, notes=(*spec.notes, note)))

    def with_dtype(self, dtype: str) -> Any:
        from vram.options import build_workload, check_qlora_dtype

        check_qlora_dtype(self.workload.mode, dtype)
        return build_workload(dtype=dtype, **self.workload_args)

    def estimate(self, workload: Any = None) -> Estimate:
        from vram.estimate import estimate as run_estimate

        w = workload or self.workload
        est = run_estimate(self.resolved.spec, w, gguf_types=self.gguf)
        self.plan = None
        if self.runtime == "layered":
            from vram.runtimes import layered

            est, self.plan = layered(self.resolved.spec, w, est, self.gguf)
        elif w.offload == "cpu":
            from vram.runtimes import offload
            from vram.units import parse_memory

            label, usable = self.need_budget("estimate --offload cpu")
            cpu = parse_memory(self.cpu_memory) if self.cpu_memory else None
            est, self.plan = offload(self.resolved.spec, w, est, self.gguf, gpu_budget=usable, cpu_budget=cpu)
        return est

    def fit(self, est: Estimate, workload: Any = None, search_min: bool = True) -> Any:
        """The estimate against the budget; the fewest-GPUs search applies to the standard runtime only."""
        from vram.capacity import fit

        if self.budget is None:
            return None
        label, usable = self.budget
        return fit(self.resolved.spec, workload or self.workload, est, label=label, usable_bytes=usable,
                   gguf_types=self.gguf, search_min=search_min and self.plan is None)

    def need_budget(self, command: str) -> tuple[str, int]:
        if self.budget is None:
            raise UsageError(f"vram {command} needs --gpu NAME or --memory AMOUNT")
        return self.budget


def estimate(model: str, dtype: str, opts: dict[str, Any], *, explain: bool = False) -> Outcome:
    from vram.report import estimate_doc, fit_doc

    run = Run(model, dtype, opts)
    est = run.estimate()
    doc = estimate_doc(run.resolved, run.workload, est, explain=explain)
    if run.plan is not None:
        doc["runtime"] = {"kind": run.runtime if run.runtime == "layered" else "offload", **asdict(run.plan)}
    fit = run.fit(est)
    if fit is not None:
        doc["capacity"] = fit_doc(fit, run.gpu)
    return Outcome(doc=doc, estimate=est)


def compare(model: str, formats: list[Any], opts: dict[str, Any]) -> Outcome:
    from vram.report import SCHEMA_VERSION, breakdown_doc, not_estimated

    run = Run(model, "auto", opts)
    rows: list[dict[str, Any]] = []
    for fmt in formats:
        w = run.with_dtype(fmt.name)
        est = run.estimate(w)
        row = {"dtype": fmt.name, "label": fmt.label, "bits_per_parameter": est.bits_per_parameter,
               "breakdown": breakdown_doc(est), "total_bytes": est.total_bytes}
        fit = run.fit(est, w, search_min=False)
        if fit is not None:
            row["fits"] = fit.fits
            row["headroom_bytes"] = fit.headroom_bytes
        rows.append(row)
    keys = ("dtype", "bits_per_parameter", "breakdown", "total_bytes", "fits", "headroom_bytes")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {"id": run.resolved.spec.id, "source": run.resolved.source,
                  "parameters": run.resolved.spec.parameters},
        "workload": {"mode": run.workload.mode, "batch_size": run.workload.batch_size,
                     "seq_len": run.workload.seq_len, "gpus": run.workload.tensor_parallel},
        "rows": [{k: r[k] for k in keys if k in r} for r in rows],
        "not_estimated": not_estimated(run.resolved)}
    if run.budget is not None:
        doc["capacity"] = {"label": run.budget[0], "usable_bytes": run.budget[1],
                           "gpu": run.gpu.name if run.gpu else None}
    w0 = run.workload
    title = f"{run.resolved.spec.id}: {w0.mode}, batch {w0.batch_size} x {w0.seq_len:,} tokens"
    if run.budget is not None:
        title += f", on {run.budget[0]}"
    return Outcome(doc=doc, rows=rows, title=title)


def check(model: str, dtype: str, opts: dict[str, Any]) -> Outcome:
    from vram.report import fit_doc

    run = Run(model, dtype, opts)
    run.need_budget("check")
    est = run.estimate()
    fit = run.fit(est)
    return Outcome(doc={"schema_version": 1, "model": run.resolved.spec.id, **fit_doc(fit, run.gpu)}, estimate=est)


def max_value(model: str, dtype: str, opts: dict[str, Any], *, solve: str | None,
              max_seq_len: int | None = None) -> Outcome:
    from vram.capacity import solve_max
    from vram.workload import with_solved

    solve = solve or "seq-len"
    target = solve.strip().lower()
    if target not in ("seq-len", "batch-size"):
        raise UsageError(f"unknown --solve {clip(solve)!r}; choose seq-len or batch-size")
    if max_seq_len is not None:
        from vram.options import bounded

        if target != "seq-len":
            raise UsageError("--max-seq-len bounds --solve seq-len; it means nothing with --solve batch-size")
        if max_seq_len <= 0:
            raise UsageError(f"--max-seq-len must be a positive integer, got {max_seq_len}")
        bounded(max_seq_len, "--max-seq-len")
    run = Run(model, dtype, opts)
    label, usable = run.need_budget("max")
    if run.runtime == "layered" or run.workload.offload == "cpu":
        raise UsageError("vram max solves the standard runtime; drop --runtime layered / --offload cpu")
    spec = run.resolved.spec
    window = spec.text.max_position_embeddings if spec.text else None
    bound = ("max_seq_len" if max_seq_len is not None else
             "context_window" if target == "seq-len" and window else "limit")
    value, cap = solve_max(spec, run.workload, usable, target,  # type: ignore[arg-type]
                           gguf_types=run.gguf, upper=max_seq_len)
    solved = with_solved(run.workload, target, value or 1)  # type: ignore[arg-type]
    needed = run.estimate(solved).total_bytes
    capped = value == cap
    doc = {"schema_version": 1, "solve": target, "value": value, "capped_at": cap if capped else None,
           "cap_reason": bound if capped else None, "fits": value > 0,
           "model": spec.id, "label": label, "gpu": run.gpu.name if run.gpu else None,
           "gpus": run.workload.tensor_parallel, "usable_bytes": usable, "needed_bytes": needed,
           "workload": {"mode": solved.mode, "batch_size": solved.batch_size,
                        "seq_len": solved.seq_len, "dtype": solved.weight_format.name}}
    return Outcome(doc=doc, unit="tokens per sequence" if target == "seq-len" else "sequences")


def sweep_doc(parameter: str, resolved: Any, workload: Any, sweep: Any, budget: tuple[str, int] | None, gpu: Any,
              engine: str | None = None) -> dict[str, Any]:
    """The sweep document (schema.SweepDocument): every component at each point, and the first point
    that stops fitting the budget."""
    from vram.report import SCHEMA_VERSION, breakdown_doc, not_estimated

    points = []
    for p in sweep.points:
        point: dict[str, Any] = {"value": p.value, "breakdown": breakdown_doc(p.estimate),
                                 "total_bytes": p.estimate.total_bytes}
        if p.fits is not None:
            point["fits"] = p.fits
        points.append(point)
    w = {"mode": workload.mode, "dtype": workload.weight_format.name, "batch_size": workload.batch_size,
         "seq_len": workload.seq_len, "gpus": workload.gpus}
    w.pop(parameter.replace("-", "_"))
    if engine is not None:
        w["engine"] = engine
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "parameter": parameter,
        "model": {"id": resolved.spec.id, "source": resolved.source, "parameters": resolved.spec.parameters},
        "workload": w, "points": points, "first_not_fitting": sweep.first_not_fitting,
        "not_estimated": not_estimated(resolved)}
    if budget is not None:
        doc["capacity"] = {"label": budget[0], "usable_bytes": budget[1], "gpu": gpu.name if gpu else None}
    return doc


def sweep(model: str, dtype: str, opts: dict[str, Any], *, parameter: str, values: list[int]) -> Outcome:
    from vram.options import build_workload
    from vram.sweep import Sweep, SweepPoint

    key = parameter.replace("-", "_")
    run = Run(model, dtype, opts)
    points = []
    for v in values:
        w = build_workload(dtype=run.dtype, **{**run.workload_args, key: v})
        est = run.estimate(w)
        fit = run.fit(est, w, search_min=False)
        points.append(SweepPoint(value=v, estimate=est, fits=None if fit is None else fit.fits))
    result = Sweep(parameter=parameter, points=tuple(points), usable_bytes=run.budget[1] if run.budget else None)
    return Outcome(doc=sweep_doc(parameter, run.resolved, run.workload, result, run.budget, run.gpu))
