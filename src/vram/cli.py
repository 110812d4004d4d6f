"""The `vram` command: parse options, call the API (api.py), hand the result to show.py.

Errors are turned into one line on stderr and an exit status in one place (clishell.Group).
"""


import os
import sys
from typing import Annotated, Any

import typer

from vram import __version__, complete
from vram.cliopts import (
    Dtype,
    Explain,
    Fmt,
    Model,
    Refresh,
    Revision,
    Token,
    Units,
    workload_options,
    workload_options_except,
)
from vram.clishell import Group
from vram.errors import EXIT_DOES_NOT_FIT, UsageError, clip
from vram.show import print_json

app = typer.Typer(cls=Group, add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="How much GPU memory a model needs: to load it, serve it, fine-tune or train it.")


def _unit(units: str) -> Any:
    u = units.strip().lower()
    if u not in ("gib", "gb"):
        raise UsageError(f"unknown --units {clip(units)!r}; choose gib or gb")
    return u


def _format(fmt: str, allowed: tuple[str, ...] = ("table", "json")) -> str:
    f = fmt.strip().lower()
    if f not in allowed:
        raise UsageError(f"unknown --format {clip(fmt)!r}; choose one of: {', '.join(allowed)}")
    return f


def _is_terminal() -> bool:
    """Whether stdout is a terminal (sweep draws its chart only there)."""
    return sys.stdout.isatty()


def version_callback(value: bool) -> None:
    if value:
        print(f"vram {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """How much GPU memory a model needs."""


@app.command()
@workload_options
def estimate(model: Model, dtype: Dtype = "auto", units: Units = "gib",
             format: Annotated[str, typer.Option("--format", "-f", help="table | json | markdown.")] = "table",
             explain: Explain = False, opts: Any = None) -> None:
    """Memory breakdown of one model and workload (per GPU with --gpus)."""
    from vram import api, show

    unit = _unit(units)
    out = _format(format, ("table", "json", "markdown"))
    show.estimate(api.estimate_run(model, opts, dtype=dtype, explain=explain), unit, out, explain)


@app.command()
@workload_options
def compare(model: Model,
            dtypes: Annotated[str, typer.Option("--dtypes", help="Comma-separated formats to compare.",
                                                autocompletion=complete.dtype_list)]
            = "fp32,fp16,bf16,int8,int4",
            units: Units = "gib",
            format: Annotated[str, typer.Option("--format", "-f", help="table | json | markdown | csv.")] = "table",
            chart: Annotated[bool, typer.Option("--chart", help="Also draw a bar per precision, with the GPU's "
                                                                "capacity as a line (--format table).")] = False,
            opts: Any = None) -> None:
    """One table, a row per precision, a column per memory component."""
    from vram import api, show

    unit = _unit(units)
    out = _format(format, ("table", "json", "markdown", "csv"))
    if chart and out != "table":
        raise UsageError(f"--chart draws under the table: leave out --format {out}")
    show.compare(api.compare_run(model, opts, dtypes=dtypes), unit, out, chart=chart)


@app.command()
@workload_options
def check(model: Annotated[str | None, typer.Argument(help="As for estimate; left out with --plan.",
                                                      show_default=False)] = None,
          dtype: Dtype = "auto",
          format: Annotated[str | None, typer.Option("--format", "-f", help="quiet (default; text with --plan) | "
                                                                            "text | json | markdown.",
                                                     show_default=False)] = None,
          plan: Annotated[str | None, typer.Option("--plan", help="A capacity plan (TOML, docs/ci.md): check "
                                                                  "every deployment in it.")] = None,
          opts: Any = None) -> None:
    """Exit 0 if the model fits the GPU (or --memory), 1 if it does not. Quiet by default."""
    from vram import api, show

    out = _format(format or ("quiet" if plan is None else "text"), ("quiet", "text", "json", "markdown"))
    if plan is not None:
        if model is not None or opts["_given"] or dtype != "auto":
            raise UsageError("--plan takes the models and their options from the plan file ([defaults] and each "
                             "[[deployment]]); give no MODEL or workload options with it")
        doc = api.plan_run(api.read_plan(plan), plan=plan)
        show.plan(doc, out)
        if not doc["fits"]:
            raise typer.Exit(EXIT_DOES_NOT_FIT)
        return
    if model is None:
        raise UsageError("vram check needs a MODEL, or --plan FILE")
    result = api.check_run(model, opts, dtype=dtype)
    show.check(result, out)
    if not result.doc["fits"]:
        raise typer.Exit(EXIT_DOES_NOT_FIT)


@app.command("max")
@workload_options
def max_value(model: Model,
              solve: Annotated[str | None, typer.Option("--solve", help="seq-len | batch-size: the value to "
                                                                        "maximise (default seq-len); vllm: "
                                                                        "max-model-len | concurrency; sglang: "
                                                                        "context-length | concurrency.")]
              = None,
              max_seq_len: Annotated[int | None, typer.Option(
                  "--max-seq-len", help="--solve seq-len: search up to this many tokens instead of the model's "
                                        "context window (training past it, with RoPE scaling).")] = None,
              dtype: Dtype = "auto", units: Units = "gib", format: Fmt = "table", opts: Any = None) -> None:
    """The largest sequence length or batch size that fits the GPU (or --memory)."""
    from vram import api, show

    unit = _unit(units)
    out = _format(format)
    result = api.max_run(model, opts, solve=solve, max_seq_len=max_seq_len, dtype=dtype)
    show.max_value(result, unit, out)
    if result.doc["value"] == 0:  # the exit status never depends on --format
        raise typer.Exit(EXIT_DOES_NOT_FIT)


@app.command()
@workload_options_except("seq_len", "batch_size", prepare=False)
def sweep(model: Model,
          seq_len: Annotated[str | None, typer.Option("--seq-len", "-s", help="Tokens per sequence: a range 1k:128k "
                                                                            "(log-spaced), 1k:128k:12 (12 points), a "
                                                                            "list 1024,8192, or one value held "
                                                                            "fixed.")] = None,
          batch_size: Annotated[str | None, typer.Option("--batch-size", "-b", help="Sequences at once: a range "
                                                                                 "1:256, a list, or one value held "
                                                                                 "fixed.")] = None,
          dtype: Dtype = "auto", units: Units = "gib",
          format: Annotated[str, typer.Option("--format", "-f", help="table | json | csv | markdown.")] = "table",
          output: Annotated[str | None, typer.Option("--output", "-o", help="Also write the chart to a file: "
                                                                            ".svg or .png (needs the plot extra: "
                                                                            "pip install 'vram[plot]').")] = None,
          opts: Any = None) -> None:
    """Every memory component at each point of a range of sequence lengths or batch sizes, with a chart."""
    from vram import api, show
    from vram.sweep import parse_points

    unit = _unit(units)
    out = _format(format, ("table", "json", "csv", "markdown"))
    if output is not None:
        from vram.chart import check_output

        check_output(output)
    given = {"seq-len": seq_len, "batch-size": batch_size}
    for k, v in given.items():  # a bad value is named before the question of which one is the range
        if v is not None:
            parse_points(v, f"--{k}")
    ranges = {k: v for k, v in given.items() if v is not None and ("," in v or ":" in v)}
    if len(ranges) != 1:
        raise UsageError("give one range to sweep: --seq-len 1k:128k or --batch-size 1:256 (the other, if given, "
                         "one value)" if not ranges else "sweep one of --seq-len and --batch-size; give the other "
                         "one value")
    (parameter, text), = ranges.items()
    values = parse_points(text, f"--{parameter}")
    fixed = {k.replace("-", "_"): parse_points(v, f"--{k}")[0] for k, v in given.items()
             if v is not None and k != parameter}
    key = api.sweep_key(parameter, opts.get("engine"))
    if key in opts:
        raise UsageError(f"--{parameter} sweeps --{key.replace('_', '-')} for --engine {opts.get('engine')}: "
                         f"leave --{key.replace('_', '-')} out")
    options = {**opts, **fixed, key: values[0]}
    result = api.sweep_run(model, api.prepare(options, function="sweep"), parameter=parameter, values=values,
                           dtype=dtype)
    show.sweep(result, unit, out, chart=out == "table" and _is_terminal())
    if output is not None:
        from vram.chart import save_sweep

        save_sweep(result.doc, unit, output)


@app.command()
def compress(model: Model,
             algorithm: Annotated[str, typer.Option("--algorithm", help="rtn | gptq | sparsegpt | awq.")] = "gptq",
             scheme: Annotated[str | None, typer.Option("--scheme", help="Output format: w4a16 (default), w8a8, "
                                                                         "fp8, or 2of4 (sparsegpt's default).")]
             = None,
             dtype: Annotated[str, typer.Option("--dtype", "-d", help="Dtype the checkpoint is loaded in.")] = "bf16",
             calibration_samples: Annotated[int, typer.Option("--calibration-samples", help="Calibration samples.")]
             = 512,
             calibration_seq_len: Annotated[int, typer.Option("--calibration-seq-len", help="Tokens per sample.")]
             = 2048,
             calibration_batch_size: Annotated[int, typer.Option("--calibration-batch-size",
                                                                 help="Samples on the GPU at once.")] = 1,
             units: Units = "gib", format: Fmt = "table", revision: Revision = None, token: Token = None,
             refresh: Refresh = False) -> None:
    """CPU, GPU and output size of an LLM Compressor run (one decoder layer onloaded at a time)."""
    from vram.options import bounded, build_workload, check_environment, gguf_types
    from vram.runtimes import ALGORITHMS
    from vram.runtimes import compress as plan_compress
    from vram.sources import HubOptions, resolve
    from vram.units import format_bytes

    unit = _unit(units)
    out = _format(format)
    alg = algorithm.strip().lower()
    if alg not in ALGORITHMS:
        raise UsageError(f"unknown --algorithm {clip(algorithm)!r}; choose one of: {', '.join(ALGORITHMS)}")
    for value, name in ((calibration_samples, "--calibration-samples"), (calibration_seq_len, "--calibration-seq-len"),
                        (calibration_batch_size, "--calibration-batch-size")):
        if value <= 0:
            raise UsageError(f"{name} must be a positive integer, got {clip(str(value))}")
        bounded(value, name)
    target = (scheme or ("2of4" if alg == "sparsegpt" else "w4a16")).strip().lower()
    if target not in ("w4a16", "w8a8", "fp8", "2of4"):
        raise UsageError(f"unknown --scheme {clip(str(scheme))!r}; choose w4a16, w8a8, fp8 or 2of4")
    checkpoint = build_workload(dtype=dtype)
    if checkpoint.weight_format.kind != "float":
        raise UsageError("--dtype is the dtype the checkpoint is loaded in: fp32, fp16 or bf16")
    output = build_workload(dtype={"2of4": "sparse-2of4"}.get(target, target))
    check_environment()
    resolved = resolve(model, HubOptions(revision=revision, token=token, refresh=refresh))
    plan = plan_compress(resolved.spec, checkpoint, gguf_types(), algorithm=alg, output=output,
                         samples=calibration_samples, seq_len=calibration_seq_len, batch_size=calibration_batch_size)
    doc = {"schema_version": 1, "model": resolved.spec.id, "algorithm": alg, "scheme": target,
           "checkpoint_dtype": checkpoint.weight_format.name, "calibration_samples": calibration_samples,
           "calibration_seq_len": calibration_seq_len, "calibration_batch_size": calibration_batch_size,
           "cpu_bytes": plan.cpu_bytes, "gpu_bytes": plan.gpu_bytes, "output_bytes": plan.output_bytes,
           "gpu": {"onloaded": plan.onloaded, "layer_bytes": plan.layer_bytes, "vision_bytes": plan.vision_bytes,
                   "hessian_bytes": plan.hessian_bytes, "workspace_bytes": plan.workspace_bytes,
                   "calibration_bytes": plan.calibration_bytes, "overhead_bytes": plan.overhead_bytes},
           "rule_of_thumb_gpu_bytes": plan.rule_of_thumb_bytes}
    if out == "json":
        print_json(doc)
        return
    from vram import render

    render.print_table(render.console(), render.compress_table(doc, unit))
    print(f"seed-note rule (Hessian about the layer's size): {format_bytes(plan.rule_of_thumb_bytes, unit)} "
          f"for the onloaded layer and its Hessians")


@app.command("gpus")
def list_gpus(format: Fmt = "table") -> None:
    """The GPU catalog: nominal and usable memory, with sources."""
    from vram import presets

    out = _format(format)
    catalog = presets.gpus()
    if out == "json":
        print_json({"schema_version": 1, "gpus": [
            {"name": g.name, "label": g.label, "aliases": list(g.aliases), "vendor": g.vendor,
             "nominal": g.nominal, "nominal_unit": g.nominal_unit, "usable_bytes": g.usable_bytes,
             "usable_basis": g.usable_basis, "cuda_total_bytes": g.cuda_total_bytes,
             "cuda_total_source": g.cuda_total_source, "source": g.source} for g in catalog.gpus]})
        return
    from vram import render

    render.print_table(render.console(), render.gpus_table(catalog.gpus))


@app.command("presets")
def list_presets(format: Fmt = "table") -> None:
    """List the bundled models with their parameter counts."""
    from vram import presets
    from vram.architectures import spec_from_config

    out = _format(format)
    rows = []
    for p in presets.all_models():
        spec = spec_from_config(p.config, model_id=p.id, towers=presets.find_tower)
        rows.append((p.id, spec.model_type, spec.parameters, spec.active_parameters))
    if out == "json":
        print_json({"schema_version": 1, "presets": [
            {"id": r[0], "model_type": r[1], "parameters": r[2], "active_parameters": r[3]} for r in rows]})
        return
    from vram import render

    render.print_table(render.console(), render.presets_table(rows))


@app.command()
def schema(document: Annotated[str, typer.Argument(help="estimate | compare | check | plan | sweep | max | "
                                                        "compress | error")] = "estimate") -> None:
    """Print the JSON Schema of a --format json document."""
    from vram.schema import DOCUMENTS

    key = document.strip().lower()
    if key not in DOCUMENTS:
        raise UsageError(f"unknown document {clip(document)!r}; choose one of: {', '.join(DOCUMENTS)}")
    print_json(DOCUMENTS[key].model_json_schema())


def _command_app(name: str) -> typer.Typer | None:
    """An app holding only the command ``name`` (same callback, same options), or None.

    typer builds the click parameters of every command at start, several hundred of them; `vram
    COMMAND ...` needs one command's, so main() builds only that one (scripts/bench_startup.py)."""
    for info in app.registered_commands:
        cmd_name = info.name or (info.callback.__name__.lower().replace("_", "-") if info.callback else "")
        if cmd_name == name:
            slim = typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                               help=app.info.help)
            slim.registered_callback = app.registered_callback
            slim.registered_commands = [info]
            return slim
    return None


def main() -> None:
    argv = sys.argv[1:]
    slim = None if os.environ.get("_VRAM_COMPLETE") or not argv else _command_app(argv[0])
    (slim or app)()
