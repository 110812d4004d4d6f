"""The one-call Python API: ``vram.estimate``, ``vram.compare``, ``vram.max`` and ``vram.check``.

Each takes the model and every option of the command as a keyword (the CLI's flag with ``_`` for
``-``: ``--seq-len`` is ``seq_len``) and returns the typed document that ``--format json`` prints
(the pydantic models of :mod:`vram.schema`). Errors are the classes of :mod:`vram.errors`, whose
``exit_status`` is the CLI's exit code (docs/api.md).

An option counts as *given* when the caller passes its keyword, as a flag counts when it is typed
on the command line: options that mean nothing for the mode or engine are refused only then.

The CLI calls the ``*_run`` functions, which return the same documents as plain dicts plus what
the renderer needs, so that a command does not pay for building the pydantic models (a third of a
second at start-up); the public functions validate those dicts into the models.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from vram.errors import UsageError, clip

if TYPE_CHECKING:
    from typing import Unpack

    from vram.schema import CheckDocument, CompareDocument, EstimateDocument, MaxDocument


class Options(TypedDict, total=False):
    """The options every sizing command takes (docs/cli.md, `vram estimate`). Defaults: :data:`DEFAULTS`."""

    mode: str
    batch_size: int
    seq_len: int
    kv_dtype: str | None
    optimizer: str | None
    precision: str | None
    gradient_checkpointing: bool | None
    attention: str
    mamba_kernels: str
    images: int
    frames: int
    image_size: str | None
    lora_rank: int
    lora_targets: str | list[str] | tuple[str, ...]
    lora_dtype: str | None
    double_quant: bool
    gpus: int
    overhead_percent: float | None
    gpu: str | None
    memory: str | int | None
    revision: str | None
    token: str | None
    refresh: bool
    tp: int | None
    pp: int | None
    zero: int | None
    fsdp: str | None
    shard_size: int | None
    offload: str | None
    micro_batch_size: int | None
    grad_accum: int
    runtime: str
    compression: str | None
    cpu_memory: str | int | None
    loss: str | None
    loss_chunks: int | None
    compile_loss: bool
    fused_kernel: str | None
    optimizer_in_backward: bool | None
    activation_offload: bool | None
    framework: str | None
    tuning: str | None
    reference: str | None
    num_generations: int | None
    max_completion_length: int | None
    engine: str
    gpu_memory_utilization: float | None
    max_model_len: int | None
    max_num_seqs: int | None
    max_num_batched_tokens: int | None
    kv_cache_dtype: str | None
    block_size: int | None
    enforce_eager: bool
    mamba_ssm_cache_dtype: str | None
    tensor_parallel_size: int | None
    pipeline_parallel_size: int | None
    enable_expert_parallel: bool
    enable_sleep_mode: bool
    mem_fraction_static: float | None
    context_length: int | None
    max_running_requests: int | None
    chunked_prefill_size: int | None
    disable_cuda_graph: bool
    swa_full_tokens_ratio: float | None
    max_mamba_cache_size: int | None
    mamba_ssm_dtype: str | None
    mamba_full_memory_ratio: float | None
    disable_radix_cache: bool
    ctx_size: int | None
    n_gpu_layers: str | int | None
    flash_attn: str | None
    cache_type_k: str | None
    cache_type_v: str | None
    ubatch_size: int | None
    parallel: int | None
    swa_full: bool
    n_batch: int | None
    gguf_file: str | None
    tensor_split: str | None
    main_gpu: int | None
    split_mode: str | None
    fit: str | None
    fit_target: int | None
    fit_ctx: int | None


_NON_NONE = {"mode": "inference", "batch_size": 1, "seq_len": 4096, "attention": "sdpa", "mamba_kernels": "fused",
             "images": 0, "frames": 0,
             "lora_rank": 16, "lora_targets": "all-linear", "double_quant": False, "gpus": 1, "refresh": False,
             "grad_accum": 1, "runtime": "standard", "compile_loss": False, "engine": "transformers",
             "enforce_eager": False, "enable_expert_parallel": False, "enable_sleep_mode": False,
             "disable_cuda_graph": False, "swa_full": False, "disable_radix_cache": False}
DEFAULTS: dict[str, Any] = {name: _NON_NONE.get(name) for name in Options.__annotations__}
"""Every option's default (None: unset, the mode's or the engine's own default applies)."""

FLAGS: dict[str, str] = {name: "--" + name.replace("_", "-") for name in DEFAULTS} | {"compile_loss": "--compile"}
"""The CLI's spelling of each option, used in messages."""

DEFAULT_DTYPES = ("fp32", "fp16", "bf16", "int8", "int4")
GGUF_ENGINES = ("llama.cpp", "ollama")
GGUF_DEFAULT_DTYPES = ("fp32", "fp16", "bf16", "q8_0", "q4_k_m")


def option_types() -> dict[str, tuple[type, ...]]:
    """The Python types each option accepts (None aside), e.g. ``{"seq_len": (int,), ...}``."""
    hints = typing.get_type_hints(Options)
    out: dict[str, tuple[type, ...]] = {}
    for name, hint in hints.items():
        args = typing.get_args(hint) or (hint,)
        types = tuple(typing.get_origin(t) or t for t in args if t is not type(None))  # list[str] -> list
        out[name] = (*types, int) if float in types and int not in types else types
    return out


def _check_types(options: Mapping[str, Any]) -> None:
    types = option_types()
    names = {int: "an integer", float: "a number", str: "a string", bool: "True or False"}
    for name, value in options.items():
        if value is None and DEFAULTS[name] is None:
            continue
        allowed = types[name]
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            want = " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in allowed))
            raise UsageError(f"{name} ({FLAGS[name]}) must be {want}, got {clip(repr(value))}")


def _natural(options: Mapping[str, Any]) -> dict[str, Any]:
    """The Python forms of options the CLI spells as text, turned into that text: a memory amount in
    bytes (``memory=80 * 2**30``), a layer count (``n_gpu_layers=10``), a list of LoRA targets."""
    out = dict(options)
    for name in ("memory", "cpu_memory"):
        value = out.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            if value <= 0:
                raise UsageError(f"{name} ({FLAGS[name]}) must be a positive number of bytes, got {value}")
            out[name] = f"{value}B"
    value = out.get("n_gpu_layers")
    if isinstance(value, int) and not isinstance(value, bool):
        out["n_gpu_layers"] = str(value)
    value = out.get("lora_targets")
    if isinstance(value, list | tuple):
        bad = [t for t in value if not isinstance(t, str)]
        if bad:
            raise UsageError(f"lora_targets ({FLAGS['lora_targets']}) must hold strings, got {clip(repr(bad[0]))}")
        out["lora_targets"] = ",".join(value)
    return out


def _unknown(names: Sequence[str], known: Sequence[str], function: str) -> TypeError:
    name = names[0]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return TypeError(f"vram.{function}() got an unexpected keyword argument {name!r}{hint}")


def prepare(options: Mapping[str, Any], *, function: str = "estimate") -> dict[str, Any]:
    """The options with their defaults, the set of given ones (``_given``), the engine (``_engine``)
    and the GPU (``_gpu`` for ``gpu="auto"``), after every check that does not need the model."""
    from vram.options import check_environment, check_limits

    unknown = [n for n in options if n not in DEFAULTS]
    if unknown:
        raise _unknown(unknown, list(DEFAULTS), function)
    _check_types(options)
    options = _natural(options)
    check_environment()
    opts: dict[str, Any] = {**DEFAULTS, **options}
    opts["_given"] = set(options)
    opts["_gpu"] = None
    gpu = opts["gpu"]
    if gpu is not None and gpu.strip().lower() == "auto":
        if opts["memory"] is not None:
            raise UsageError("give --gpu or --memory, not both")
        from vram import presets
        from vram.localgpu import detect

        local = detect(presets.gpus())
        opts["_gpu"] = local.gpu
        if "gpus" not in options and "tensor_parallel_size" not in options:
            opts["gpus"] = local.count  # this machine's GPUs are the default --gpus / -tp
    opts["_engine"] = engine_of(opts)
    check_limits({k: opts[k] for k in options})
    return opts


def engine_of(opts: dict[str, Any]) -> Any:
    """The chosen engine, after refusing any given option that means nothing for it."""
    from vram import enginecli, engines

    engine = engines.get(opts["engine"])
    given = set(opts["_given"]) - {"engine"}
    if str(opts.get("mode") or "").strip().lower() == "inference":
        given.discard("mode")  # serving engines run inference: saying so is not a contradiction
    if enginecli.colocates(opts):  # grpo with vLLM in the trainer: the training path, vLLM's share added
        enginecli.check_colocate_options(given, FLAGS)
        engine = engines.get("transformers")
        given -= set(enginecli.COLOCATE_FLAGS)
    engines.check_options(engine, given, FLAGS)
    return engine


# ---- the functions the CLI calls: documents as dicts, plus what the renderer needs ------------

def estimate_run(model: str, opts: dict[str, Any], *, dtype: str = "auto", explain: bool = False) -> Any:
    """The estimate document and its objects (runs.EstimateRun)."""
    if opts["_engine"].name != "transformers":
        from vram import enginecli

        return enginecli.estimate(model, dtype, opts, explain=explain)
    from vram import runs

    return runs.estimate(model, dtype, opts, explain=explain)


def compare_run(model: str, opts: dict[str, Any], *, dtypes: str | Sequence[str] = DEFAULT_DTYPES) -> Any:
    from vram.options import effective_mode, find_format

    items = dtypes.split(",") if isinstance(dtypes, str) else list(dtypes)
    names = [d.strip() for d in items if isinstance(d, str) and d.strip()]
    if len(names) != len([d for d in items if not isinstance(d, str) or d.strip()]):
        raise UsageError("--dtypes must be format names")
    if not names:
        raise UsageError("--dtypes is empty")
    if opts["_engine"].name in GGUF_ENGINES and names == list(DEFAULT_DTYPES):
        names = list(GGUF_DEFAULT_DTYPES)  # the same ladder in the formats llama.cpp runs
    formats = [find_format(n) for n in names]
    if opts["_engine"].name in GGUF_ENGINES:
        from vram.enginecli import check_gguf_engine_format

        for f in formats:
            check_gguf_engine_format(opts["_engine"].name, f)
    if effective_mode(opts["mode"], opts.get("tuning")) == "qlora" and any(
            f.name not in ("nf4", "nf4-dq") for f in formats):
        raise UsageError("--mode qlora fixes the base at nf4, so --dtypes cannot vary it: give --dtypes nf4,nf4-dq, "
                         "or compare with --mode lora")
    if opts["_engine"].name != "transformers":
        from vram import enginecli

        return enginecli.compare(model, formats, opts)
    from vram import runs

    return runs.compare(model, formats, opts)


def check_run(model: str, opts: dict[str, Any], *, dtype: str = "auto") -> Any:
    if opts["_engine"].name != "transformers":
        from vram import enginecli

        return enginecli.check(model, dtype, opts)
    from vram import runs

    return runs.check(model, dtype, opts)


def max_run(model: str, opts: dict[str, Any], *, solve: str | None = None, max_seq_len: int | None = None,
            dtype: str = "auto") -> Any:
    if opts["_engine"].name != "transformers":
        if max_seq_len is not None:
            raise UsageError(f"--max-seq-len bounds --solve seq-len of the transformers engine; --engine "
                             f"{opts['_engine'].name} has its own context flag")
        from vram import enginecli

        return enginecli.max_value(model, dtype, opts, solve=solve)
    from vram import runs

    return runs.max_value(model, dtype, opts, solve=solve, max_seq_len=max_seq_len)


def sweep_key(parameter: str, engine: str | None) -> str:
    """The option a sweep of ``--seq-len``/``--batch-size`` varies: the workload's, or a serving engine's
    own context length or concurrency flag (enginecli.SWEEP_FLAGS)."""
    if parameter not in ("seq-len", "batch-size"):
        raise UsageError(f"a sweep runs over --seq-len or --batch-size, not {clip(parameter)!r}")
    name = (engine or "transformers").strip().lower()
    if name == "transformers":
        return parameter.replace("-", "_")
    from vram import engines
    from vram.enginecli import SWEEP_FLAGS

    return SWEEP_FLAGS[parameter][engines.get(name).name]


def sweep_run(model: str, opts: dict[str, Any], *, parameter: str, values: Sequence[int],
              dtype: str = "auto") -> Any:
    """The estimate at each value of ``--seq-len`` or ``--batch-size`` (``parameter``), with the rest of
    the options fixed: the sweep document (schema.SweepDocument)."""
    from vram.options import bounded

    if parameter not in ("seq-len", "batch-size"):
        raise UsageError(f"a sweep runs over --seq-len or --batch-size, not {clip(parameter)!r}")
    if not values:
        raise UsageError(f"--{parameter}: no values given")
    for v in values:
        bounded(v, f"--{parameter}")
    if opts["_engine"].name != "transformers":
        from vram import enginecli

        return enginecli.sweep(model, dtype, opts, parameter=parameter, values=list(values))
    from vram import runs

    return runs.sweep(model, dtype, opts, parameter=parameter, values=list(values))


# ---- the public, typed functions ----------------------------------------------------------------

def estimate(model: str, *, dtype: str = "auto", explain: bool = False,
             **options: Unpack[Options]) -> EstimateDocument:
    """The memory breakdown of ``model`` under the options: ``vram estimate MODEL --format json``.

    ``r.total_bytes``, ``r.breakdown``, ``r.fits`` (None without ``gpu`` or ``memory``),
    ``r.model_dump()`` the JSON document."""
    from vram.schema import EstimateDocument

    _strings(model=model, dtype=dtype)
    opts = prepare(options, function="estimate")
    return EstimateDocument.model_validate(estimate_run(model, opts, dtype=dtype, explain=bool(explain)).doc)


def compare(model: str, *, dtypes: str | Sequence[str] = DEFAULT_DTYPES,
            **options: Unpack[Options]) -> CompareDocument:
    """A row per weight format: ``vram compare MODEL --format json``."""
    from vram.schema import CompareDocument

    _strings(model=model)
    opts = prepare(options, function="compare")
    return CompareDocument.model_validate(compare_run(model, opts, dtypes=dtypes).doc)


def check(model: str, *, dtype: str = "auto", **options: Unpack[Options]) -> CheckDocument:
    """Whether the model fits ``gpu`` (or ``memory``): ``vram check MODEL --format json``. A model that
    does not fit is a result (``r.fits`` False), not an error."""
    from vram.schema import CheckDocument

    _strings(model=model, dtype=dtype)
    opts = prepare(options, function="check")
    return CheckDocument.model_validate(check_run(model, opts, dtype=dtype).doc)


def max(model: str, *, solve: str | None = None, max_seq_len: int | None = None, dtype: str = "auto",
        **options: Unpack[Options]) -> MaxDocument:
    """The largest sequence length or batch size that fits: ``vram max MODEL --format json``."""
    from vram.schema import MaxDocument

    _strings(model=model, dtype=dtype)
    if solve is not None:
        _strings(solve=solve)
    if max_seq_len is not None and (isinstance(max_seq_len, bool) or not isinstance(max_seq_len, int)):
        raise UsageError(f"max_seq_len (--max-seq-len) must be an integer, got {clip(repr(max_seq_len))}")
    opts = prepare(options, function="max")
    return MaxDocument.model_validate(max_run(model, opts, solve=solve, max_seq_len=max_seq_len, dtype=dtype).doc)


def _strings(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise UsageError(f"{name} must be a string, got {clip(repr(value))}")


def plan_keys() -> dict[str, tuple[type, ...]]:
    """The keys of a capacity plan's deployment: ``vram.check``'s keyword options, with their types."""
    import inspect

    extra = {name: (str,) for name, p in inspect.signature(check).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return {**option_types(), **extra}


# ---- capacity plans (vram check --plan) -------------------------------------------------------

def plan_run(text: str, *, plan: str) -> dict[str, Any]:
    """Check every deployment of a plan file's text (plan.py): the plan document (schema.PlanDocument).

    A bad entry or model is the error of its class, its message starting with the plan and the entry."""
    from vram.errors import VramError
    from vram.plan import parse_plan

    deployments = parse_plan(text, plan=plan, allowed=plan_keys())
    entries: list[dict[str, Any]] = []
    for d in deployments:
        options = dict(d.options)
        dtype = options.pop("dtype", "auto")
        try:
            opts = prepare(options, function="check")
            doc = check_run(d.model, opts, dtype=dtype).doc
        except VramError as exc:
            where = f"{plan}: deployment {d.name!r}: "
            if exc.exit_status == 3:
                where += f"model {clip(d.model)!r}: "
            raise type(exc)(where + exc.message) from None
        entry = {"name": d.name, "model": doc["model"], **{k: v for k, v in doc.items()
                                                           if k not in ("schema_version", "model")}}
        entries.append(entry)
    return {"schema_version": 1, "plan": plan, "fits": all(e["fits"] for e in entries), "deployments": entries}


def check_plan(path: str) -> Any:
    """``vram check --plan PATH --format json`` as a schema.PlanDocument."""
    from vram.schema import PlanDocument

    return PlanDocument.model_validate(plan_run(read_plan(path), plan=path))


def read_plan(path: str) -> str:
    """The text of a plan file; a missing or unreadable file is a UsageError (exit 2)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(1 << 20)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the plan {clip(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None
