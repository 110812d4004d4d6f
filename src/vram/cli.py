"""The `vram` command: parse options, call the core, hand the result to the renderer.

Errors are turned into one line on stderr and an exit status in one place (:class:`_Group`).
Set VRAM_DEBUG=1 to see a traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from vram import __version__
from vram.errors import EXIT_MODEL, EXIT_USAGE, UsageError, VramError

DTYPE_HELP = ("Weight format: auto (as stored for pre-quantized checkpoints, else bf16), fp32, fp16, bf16, fp8, "
              "int8, int4 (GPTQ), awq, nf4, nf4-dq, or GGUF q8_0, q6_k, q5_k_m, q4_k_m, q4_0, q3_k_m, q2_k "
              "(case-insensitive).")


def _wants_json(args: list[str]) -> bool:
    for i, a in enumerate(args):
        if a == "--format" and i + 1 < len(args) and args[i + 1].lower() == "json":
            return True
        if a.lower() == "--format=json":
            return True
    return False


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def _fail(message: str, code: str, status: int, as_json: bool) -> NoReturn:
    if as_json:
        from vram.report import error_doc

        print_json(error_doc(code, message, status))
    print(f"vram: error: {message}", file=sys.stderr)
    sys.exit(status)


class _Group(TyperGroup):
    """Runs commands and maps every failure to one line and a documented exit status."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = _wants_json(argv)
        try:
            rv = super().main(args=argv, prog_name=prog_name or "vram", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            _fail("aborted", "aborted", EXIT_USAGE, as_json)
        except typer.TyperException as exc:  # usage errors raised while parsing
            if os.environ.get("VRAM_DEBUG"):
                traceback.print_exc()
            fmt = getattr(exc, "format_message", None)
            message = fmt() if callable(fmt) else str(exc)
            _fail(" ".join(str(message).split()), "usage", EXIT_USAGE, as_json)
        except VramError as exc:
            if os.environ.get("VRAM_DEBUG"):
                traceback.print_exc()
            _fail(exc.message, exc.code, exc.exit_status, as_json)
        except KeyboardInterrupt:
            _fail("interrupted", "interrupted", 130, as_json)
        except Exception as exc:  # a bug: still one line, traceback on request
            if os.environ.get("VRAM_DEBUG"):
                traceback.print_exc()
            _fail(f"internal error: {type(exc).__name__}: {exc} (set VRAM_DEBUG=1 for a traceback)",
                  "internal", EXIT_MODEL if isinstance(exc, OSError) else 70, as_json)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        sys.exit(0)


app = typer.Typer(cls=_Group, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="How much GPU memory a model needs: to load it, serve it, fine-tune or train it.")

Model = Annotated[str, typer.Argument(help="A bundled preset (Hugging Face id), a local folder or config.json, "
                                           "a Hub id (org/name), or a size such as 7B.", show_default=False)]
Dtype = Annotated[str, typer.Option("--dtype", "-d", help=DTYPE_HELP)]
ModeOpt = Annotated[str, typer.Option("--mode", help="inference | training | lora | qlora.")]
Batch = Annotated[int, typer.Option("--batch-size", "-b", help="Sequences processed at once.")]
SeqLen = Annotated[int, typer.Option("--seq-len", "-s", help="Tokens per sequence held in the KV cache "
                                                             "(prompt + generated).")]
KvDtype = Annotated[str | None, typer.Option("--kv-dtype", help="KV cache dtype (default: the compute dtype): "
                                                                 "fp16, bf16, fp8, int8-kv, q8_0, q4_0, fp32.")]
OptimizerOpt = Annotated[str, typer.Option("--optimizer", help="adamw | adamw-8bit | paged-adamw-8bit | sgd | "
                                                               "sgd-momentum | adafactor | lion | none.")]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="Training regime: fp32 | amp | mixed | "
                                                                      "pure-bf16 (default: fp32 for fp32 weights, "
                                                                      "mixed otherwise).")]
Checkpointing = Annotated[bool, typer.Option("--gradient-checkpointing", help="Recompute activations "
                                                                              "layer by layer in backward.")]
AttentionOpt = Annotated[str, typer.Option("--attention", help="sdpa | flash | eager (eager materialises the "
                                                               "attention scores).")]
Images = Annotated[int, typer.Option("--images", help="Images per sequence (multimodal models).")]
Frames = Annotated[int, typer.Option("--frames", help="Video frames per sequence (video models).")]
LoraRank = Annotated[int, typer.Option("--lora-rank", help="LoRA rank r.")]
LoraTargets = Annotated[str, typer.Option("--lora-targets", help="attention | all-linear | comma-separated "
                                                                 "module names (q_proj,v_proj).")]
LoraDtype = Annotated[str, typer.Option("--lora-dtype", help="Dtype of LoRA adapters (PEFT keeps them fp32).")]
DoubleQuant = Annotated[bool, typer.Option("--double-quant", help="QLoRA: quantize the absmax constants too.")]
Gpus = Annotated[int, typer.Option("--gpus", help="Tensor-parallel GPUs; figures are per GPU.")]
OverheadPct = Annotated[float | None, typer.Option("--overhead-percent", help="Replace the modelled runtime "
                                                                              "overhead with this percent of the "
                                                                              "weights (the seed notes' rule of "
                                                                              "thumb). Off by default.")]
Units = Annotated[str, typer.Option("--units", help="gib (2^30 bytes, default) or gb (10^9 bytes).")]
Fmt = Annotated[str, typer.Option("--format", "-f", help="table | json.")]
Explain = Annotated[bool, typer.Option("--explain", help="Show every term with its formula, values and source.")]
Revision = Annotated[str | None, typer.Option("--revision", help="Hub branch, tag or commit.")]
Token = Annotated[str | None, typer.Option("--token", help="Hugging Face token (default: HF_TOKEN).",
                                           show_default=False)]
Refresh = Annotated[bool, typer.Option("--refresh", help="Ask the Hub even when a bundled preset matches.")]


def _unit(units: str) -> Any:
    u = units.strip().lower()
    if u not in ("gib", "gb"):
        raise UsageError(f"unknown --units {units!r}; choose gib or gb")
    return u


def _format(fmt: str, allowed: tuple[str, ...] = ("table", "json")) -> str:
    f = fmt.strip().lower()
    if f not in allowed:
        raise UsageError(f"unknown --format {fmt!r}; choose one of: {', '.join(allowed)}")
    return f


def version_callback(value: bool) -> None:
    if value:
        print(f"vram {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """How much GPU memory a model needs."""


@app.command()
def estimate(model: Model, dtype: Dtype = "auto", mode: ModeOpt = "inference", batch_size: Batch = 1,
             seq_len: SeqLen = 4096, kv_dtype: KvDtype = None, optimizer: OptimizerOpt = "adamw",
             precision: PrecisionOpt = None, gradient_checkpointing: Checkpointing = False,
             attention: AttentionOpt = "sdpa", images: Images = 0, frames: Frames = 0,
             lora_rank: LoraRank = 16, lora_targets: LoraTargets = "all-linear", lora_dtype: LoraDtype = "fp32",
             double_quant: DoubleQuant = False, gpus: Gpus = 1, overhead_percent: OverheadPct = None,
             units: Units = "gib", format: Fmt = "table", explain: Explain = False, revision: Revision = None,
             token: Token = None, refresh: Refresh = False) -> None:
    """Memory breakdown of one model and workload."""
    from vram.estimate import estimate as run_estimate
    from vram.options import build_workload, gguf_types
    from vram.report import estimate_doc
    from vram.sources import HubOptions, resolve

    unit = _unit(units)
    out = _format(format)
    w = build_workload(dtype=dtype, mode=mode, batch_size=batch_size, seq_len=seq_len, kv_dtype=kv_dtype,
                       optimizer=optimizer, precision=precision, gradient_checkpointing=gradient_checkpointing,
                       attention=attention, images=images, frames=frames, lora_rank=lora_rank,
                       lora_targets=lora_targets, lora_dtype=lora_dtype, double_quant=double_quant, gpus=gpus,
                       overhead_percent=overhead_percent)
    resolved = resolve(model, HubOptions(revision=revision, token=token, refresh=refresh))
    est = run_estimate(resolved.spec, w, gguf_types=gguf_types())
    doc = estimate_doc(resolved, w, est, explain=explain)
    if out == "json":
        print_json(doc)
        return
    from vram import render

    con = render.console()
    con.print(render.estimate_table(doc, est, unit))
    con.print(render.model_summary(doc), markup=False)
    for note in doc["notes"]:
        con.print(f"note: {note}", markup=False)
    if explain:
        con.print(render.explain_table(est, unit))


@app.command()
def compare(model: Model,
            dtypes: Annotated[str, typer.Option("--dtypes", help="Comma-separated formats to compare.")]
            = "fp32,fp16,bf16,int8,int4",
            mode: ModeOpt = "inference", batch_size: Batch = 1, seq_len: SeqLen = 4096, kv_dtype: KvDtype = None,
            optimizer: OptimizerOpt = "adamw", precision: PrecisionOpt = None,
            gradient_checkpointing: Checkpointing = False, attention: AttentionOpt = "sdpa", images: Images = 0,
            frames: Frames = 0, lora_rank: LoraRank = 16, lora_targets: LoraTargets = "all-linear",
            lora_dtype: LoraDtype = "fp32", gpus: Gpus = 1, overhead_percent: OverheadPct = None,
            units: Units = "gib", format: Fmt = "table", revision: Revision = None, token: Token = None,
            refresh: Refresh = False) -> None:
    """One table, a row per precision, a column per memory component."""
    from vram.estimate import estimate as run_estimate
    from vram.options import build_workload, find_format, gguf_types
    from vram.report import SCHEMA_VERSION, breakdown_doc
    from vram.sources import HubOptions, resolve

    unit = _unit(units)
    out = _format(format)
    names = [d.strip() for d in dtypes.split(",") if d.strip()]
    if not names:
        raise UsageError("--dtypes is empty")
    formats = [find_format(n) for n in names]
    resolved = resolve(model, HubOptions(revision=revision, token=token, refresh=refresh))
    rows: list[dict[str, Any]] = []
    for fmt in formats:
        w = build_workload(dtype=fmt.name, mode=mode, batch_size=batch_size, seq_len=seq_len, kv_dtype=kv_dtype,
                           optimizer=optimizer, precision=precision, gradient_checkpointing=gradient_checkpointing,
                           attention=attention, images=images, frames=frames, lora_rank=lora_rank,
                           lora_targets=lora_targets, lora_dtype=lora_dtype, gpus=gpus,
                           overhead_percent=overhead_percent)
        est = run_estimate(resolved.spec, w, gguf_types=gguf_types())
        rows.append({"dtype": fmt.name, "label": fmt.label, "bits_per_parameter": est.bits_per_parameter,
                     "breakdown": breakdown_doc(est), "total_bytes": est.total_bytes})
    if out == "json":
        print_json({"schema_version": SCHEMA_VERSION,
                           "model": {"id": resolved.spec.id, "source": resolved.source,
                                     "parameters": resolved.spec.parameters},
                           "workload": {"mode": mode, "batch_size": batch_size, "seq_len": seq_len, "gpus": gpus},
                           "rows": [{k: r[k] for k in ("dtype", "bits_per_parameter", "breakdown", "total_bytes")}
                                    for r in rows]})
        return
    from vram import render

    title = f"{resolved.spec.id}: {mode}, batch {batch_size} x {seq_len:,} tokens"
    render.console().print(render.compare_table(rows, unit, title))


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

    render.console().print(render.presets_table(rows))


@app.command()
def schema(document: Annotated[str, typer.Argument(help="estimate | compare | error")] = "estimate") -> None:
    """Print the JSON Schema of a --format json document."""
    from vram.schema import DOCUMENTS

    key = document.strip().lower()
    if key not in DOCUMENTS:
        raise UsageError(f"unknown document {document!r}; choose one of: {', '.join(DOCUMENTS)}")
    print_json(DOCUMENTS[key].model_json_schema())


def main() -> None:
    app()
