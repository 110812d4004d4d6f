"""Rendering: rich tables and JSON. Never computes anything."""

from __future__ import annotations

import re
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from vram.breakdown import Estimate
from vram.units import MIB, Unit, format_bytes, to_unit, unit_label

LABELS = {
    "weights_bytes": "Weights",
    "kv_cache_bytes": "KV cache",
    "activations_bytes": "Activations",
    "gradients_bytes": "Gradients",
    "optimizer_bytes": "Optimizer states",
    "overhead_bytes": "Runtime overhead",
}


SHORT = {"activations_bytes": "Activ.", "optimizer_bytes": "Optim.", "overhead_bytes": "Overhead",
         "gradients_bytes": "Grads"}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


# Numbers are never cut. Right-justified columns hold numbers: they keep the width of their widest
# cell and never wrap; text columns fold onto more lines. When even that does not fit the console,
# optional columns are dropped, and what still does not fit overflows the line rather than being cropped.
TEXT_MIN_WIDTH = 8


def _width(cell: Any) -> int:
    if isinstance(cell, Text):
        return max((cell_len(line.plain) for line in cell.split()), default=0)
    return max((cell_len(line) for line in str(cell).splitlines()), default=0)


_NUMBER = re.compile(r"\d[\d,.]*\d|\d")


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def _settle(table: Table) -> None:
    for col in table.columns:
        widest = max((_width(c) for c in (*col.cells, col.footer)), default=0)
        if col.justify == "right" or col.no_wrap:
            col.no_wrap = True
            col.min_width = max(widest, col.min_width or 0)
        else:
            # a text column is at least as wide as the longest number in it, so that folding never splits one
            number = max((len(n) for c in col.cells for n in _NUMBER.findall(_plain(c))), default=0)
            col.overflow = "fold"
            col.min_width = max(number, min(TEXT_MIN_WIDTH, max(widest, _width(col.header))))


def _min_width(table: Table) -> int:
    """The narrowest the table can be drawn: its columns' minimum widths, padding and rules."""
    return sum((c.min_width or 0) + 3 for c in table.columns) + 1


def print_table(con: Console, table: Table, optional: tuple[str, ...] = ()) -> None:
    """Print a table without cutting any number (optional: headers of columns that may be dropped)."""
    _settle(table)
    for header in optional:
        if _min_width(table) <= con.width:
            break
        table.columns = [c for c in table.columns if not _header(c).startswith(header)]
    con.print(table, crop=False)


def _header(col: Column) -> str:
    return col.header.plain if isinstance(col.header, Text) else str(col.header)


NOT_ESTIMATED = "n/a: no architecture"


def _count(n: int) -> str:
    return f"{n:,} ({n / 1e9:.2f}B)" if n >= 10**8 else f"{n:,}"


def _caption(doc: dict[str, Any], workload_label: str | None) -> str:
    w = doc["workload"]
    stored = w.get("stored_format")
    weights = (stored if stored.startswith("as stored") else f"stored {stored}") if stored else w["dtype"]
    shape = workload_label or f"batch {w['batch_size']} x {w['tokens_per_sequence']:,} tokens"
    return (f"{w['mode']}, {weights} weights ({doc['weights']['bits_per_parameter']:.2f} bits/param), "
            f"kv {w['kv_dtype']}, {shape}")


def estimate_table(doc: dict[str, Any], est: Estimate, unit: Unit, engine: str | None = None,
                   workload_label: str | None = None) -> Table:
    """The breakdown against the GPU's usable memory; ``workload_label`` says the workload in an
    engine's own terms instead of "batch B x S tokens"."""
    m, w = doc["model"], doc["workload"]
    title = escape(f"{m['id']} ({m['source']})" + (f" with {engine}" if engine else ""))
    caption = _caption(doc, workload_label)
    if w["gpus"] > 1:
        caption += f", per GPU of {w['gpus']}"
    cap = doc.get("capacity")
    table = Table(title=title, caption=caption, show_footer=True)
    table.add_column("Component", footer="Total")
    table.add_column(f"Memory ({unit_label(unit)})", justify="right", footer=format_bytes(doc["total_bytes"], unit))
    table.add_column("Share", justify="right", footer="100%")
    if cap:
        used = doc["total_bytes"] / cap["usable_bytes"]
        table.add_column(f"Of {cap['label']}", no_wrap=True, footer=_bar(doc["total_bytes"], cap["usable_bytes"],
                                                            style="green" if cap["fits"] else "red"))
    total = doc["total_bytes"] or 1
    for key, label in LABELS.items():
        value = doc["breakdown"][key]
        if value == 0 and key in ("gradients_bytes", "optimizer_bytes") and w["mode"] == "inference":
            continue
        if value == 0 and key == "kv_cache_bytes" and w["mode"] != "inference":
            continue  # a training step keeps no KV cache
        if key in doc["not_estimated"]:
            table.add_row(label, NOT_ESTIMATED, "", *([""] if cap else []))
            continue
        cells: list[str | Text] = [label, format_bytes(value, unit), f"{100 * value / total:.1f}%"]
        if cap:
            cells.append(_bar(value, cap["usable_bytes"]))
        table.add_row(*cells)
    if cap:
        table.caption = f"{caption}; {100 * used:.0f}% of {cap['label']}"
    return table


BAR_WIDTH = 24


def _bar(value: int, capacity: int, style: str = "cyan", width: int = BAR_WIDTH) -> Text:
    """A bar of value against capacity, in eighths of a cell; past capacity it is full and marked."""
    frac = value / capacity if capacity else 1.0
    eighths = min(width * 8, round(frac * width * 8))
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    text = Text(bar.ljust(width), style=style)
    text.append(f" {100 * frac:5.1f}%" + (" !" if frac > 1 else ""))
    return text


def fit_line(cap: dict[str, Any], unit: Unit) -> str:
    head = (f"fits on {cap['label']}" if cap["fits"] else f"does NOT fit on {cap['label']}")
    per = " per GPU" if cap["gpus"] > 1 else ""
    line = (f"{head}{per}: needs {format_bytes(cap['needed_bytes'], unit)} of {format_bytes(cap['usable_bytes'], unit)}"
            f" usable, headroom {format_bytes(cap['headroom_bytes'], unit)}")
    if not cap["fits"]:
        if cap["min_gpus"]:
            line += f"; {cap['min_gpus']} of them with tensor parallelism would (--gpus {cap['min_gpus']})"
        else:
            line += "; no tensor-parallel split up to 64 GPUs fits"
    return line


def _verdict_label(rows: list[dict[str, Any]]) -> str:
    """The compare column of the verdict `vram check` gives: "Starts" for an engine with a budget of its own
    (vLLM, SGLang: the engine refuses to start), "Fits" for the others."""
    pool = any(isinstance(r.get("engine"), dict) and r["engine"].get("starts") is not None for r in rows)
    return "Starts" if pool else "Fits"


def compare_text(rows: list[dict[str, Any]], unit: Unit, out: str) -> str:
    """compare as Markdown or CSV (numbers in the unit, labelled in the header)."""
    keys = [k for k in LABELS if any(r["breakdown"][k] for r in rows)]
    label = unit_label(unit)
    header = ["Precision", "Bits/param"] + [f"{LABELS[k]} ({label})" for k in keys] + [f"Total ({label})"]
    if any("fits" in r for r in rows):
        header.append(_verdict_label(rows))
    lines = []
    for r in rows:
        cells = [r["label"], f"{r['bits_per_parameter']:.2f}"] + [f"{to_unit(r['breakdown'][k], unit):.2f}"
                                                                    for k in keys]
        cells.append(f"{to_unit(r['total_bytes'], unit):.2f}")
        if "fits" in r:
            cells.append("yes" if r["fits"] else "no")
        lines.append(cells)
    if out == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(lines)
        return buf.getvalue()
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"
    md = ["| " + " | ".join(header) + " |", rule]
    md += ["| " + " | ".join(c) + " |" for c in lines]
    return "\n".join(md) + "\n"


def gpus_table(gpus: Any) -> Table:
    table = Table(title="GPU catalog (usable = what one process can allocate)")
    table.add_column("Name")
    table.add_column("GPU")
    table.add_column("Nominal", justify="right")
    table.add_column("Usable (GiB)", justify="right")
    table.add_column("Basis")
    for g in gpus:
        table.add_row(g.name, g.label, f"{g.nominal} {g.nominal_unit}", f"{to_unit(g.usable_bytes, 'gib'):.2f}",
                      "measured" if g.usable_basis.startswith("measured") else "estimated")
    return table


def model_summary(doc: dict[str, Any]) -> str:
    m = doc["model"]
    parts = [f"parameters {_count(m['parameters'])}"]
    if m["active_parameters"] != m["parameters"]:
        parts.append(f"active {_count(m['active_parameters'])}")
    if m["trainable_parameters"] and m["trainable_parameters"] != m["parameters"]:
        parts.append(f"trainable {_count(m['trainable_parameters'])}")
    comps = ", ".join(f"{k} {_count(v)}" for k, v in m["parameters_by_component"].items())
    per_token = doc["kv_cache"]["bytes_per_token"]
    if per_token:
        per_gpu = " per GPU" if doc["workload"]["tensor_parallel"] > 1 else ""
        parts.append(f"KV cache {per_token:,} bytes per token{per_gpu}")
    text = " | ".join(parts) + (f"\n  by component: {comps}" if len(m["parameters_by_component"]) > 1 else "")
    layers = kv_layers_line(doc["kv_cache"].get("layers", []))
    return text + (f"\n  {layers}" if layers else "")


_KV_KINDS = {"full": "full-attention", "sliding": "sliding-window", "chunked": "chunked-attention",
             "mla": "MLA", "cross": "cross-attention", "encoder": "cross-attention", "linear": "linear-attention",
             "mamba": "Mamba", "conv": "short-convolution", "shared": "KV-sharing",
             "compressed": "compressed-attention"}


def kv_layers_line(layers: list[dict[str, Any]]) -> str:
    """Which layers hold what cache, e.g. '36 full-attention layers x 24,576 B/token; 12 linear-attention
    layers x 6.50 MiB state per sequence' (bytes of one layer, per GPU)."""
    parts = []
    for k in layers:
        name = f"{k['layers']} {_KV_KINDS.get(k['kind'], k['kind'])} layer{'s' if k['layers'] != 1 else ''}"
        if k["kind"] == "compressed":
            parts.append(f"{name} x ({k['bytes_per_token']:,} B/token for at most {k['window']:,} tokens + "
                         f"{k['compressed_bytes']:,} B per {k['compress_rate']:,} tokens + "
                         f"{k['state_bytes_per_sequence'] / MIB:,.2f} MiB pending per sequence)")
            continue
        if k["state_bytes_per_sequence"]:
            parts.append(f"{name} x {k['state_bytes_per_sequence'] / MIB:,.2f} MiB state per sequence")
            continue
        if k["kind"] == "shared" and k["bytes_per_token"]:
            parts.append(f"{name} reading earlier layers' latent x {k['bytes_per_token']:,} B/token of indexer keys")
            continue
        if k["kind"] == "shared":
            parts.append(f"{name} reading earlier layers' K/V (nothing of their own)")
            continue
        unit = {"cross": "image token", "encoder": "encoder token"}.get(k["kind"], "token")
        bound = ""
        if k["window"]:
            bound = (f" (at most {k['window']:,} tokens)" if k["kind"] in ("sliding", "mla")
                     else f" ({k['window']:,}-token chunks)")
        parts.append(f"{name}{bound} x {k['bytes_per_token']:,} B/{unit}")
    return "KV cache: " + "; ".join(parts) if parts else ""


def explain_table(est: Estimate, unit: Unit) -> Table:
    table = Table(title="How each term was computed", show_lines=True)
    table.add_column("Term")
    table.add_column(unit_label(unit), justify="right")
    table.add_column("Formula and values")
    table.add_column("Source")
    for t in est.terms:
        # "name = value" with spaces, so that a narrow column wraps between words, never inside a number
        values = ", ".join(f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v}" for k, v in t.values.items())
        approx = " (approximation)" if t.approximate else " (exact)"
        table.add_row(f"{t.component}: {t.name}", format_bytes(t.bytes, unit), f"{t.formula}\n{values}",
                      t.source + approx)
    return table


def compare_table(rows: list[dict[str, Any]], unit: Unit, title: str) -> Table:
    table = Table(title=f"{title} ({unit_label(unit)})")
    table.add_column("Precision")
    table.add_column("Bits", justify="right")
    for key, label in LABELS.items():
        if any(r["breakdown"][key] for r in rows):
            table.add_column(SHORT.get(key, label), justify="right")
    table.add_column("Total", justify="right", style="bold")
    fits = any("fits" in r for r in rows)
    if fits:
        table.add_column(_verdict_label(rows))
    for r in rows:
        cells = [f"{to_unit(r['breakdown'][k], unit):,.2f}" for k in LABELS if any(x["breakdown"][k] for x in rows)]
        verdict = [("yes" if r["fits"] else "no")] if fits else []
        table.add_row(r["label"], f"{r['bits_per_parameter']:.2f}", *cells, f"{to_unit(r['total_bytes'], unit):,.2f}",
                      *verdict)
    return table


def presets_table(rows: list[tuple[str, str, int, int]]) -> Table:
    table = Table(title="Bundled model presets")
    table.add_column("Model")
    table.add_column("Type")
    table.add_column("Parameters", justify="right")
    table.add_column("Active", justify="right")
    for mid, mtype, n, active in rows:
        table.add_row(mid, mtype, f"{n:,}", f"{active:,}" if active != n else "")
    return table


def compress_table(doc: dict[str, Any], unit: Unit) -> Table:
    g = doc["gpu"]
    table = Table(title=f"{doc['model']}: {doc['algorithm']} -> {doc['scheme']} "
                        f"({doc['calibration_samples']} x {doc['calibration_seq_len']} tokens)")
    table.add_column("Memory")
    table.add_column(unit_label(unit), justify="right")
    rows = [("CPU: whole model in " + doc["checkpoint_dtype"] + " + calibration activations", doc["cpu_bytes"]),
            (f"GPU peak ({g['onloaded']} onloaded)", doc["gpu_bytes"]),
            ("  decoder layer", g["layer_bytes"]), ("  vision tower + projector", g["vision_bytes"]),
            ("  fp32 Hessians (in_features^2 per Linear)", g["hessian_bytes"]),
            ("  inversion workspace", g["workspace_bytes"]), ("  calibration batch", g["calibration_bytes"]),
            ("  CUDA context", g["overhead_bytes"]), ("Output checkpoint", doc["output_bytes"])]
    for label, value in rows:
        table.add_row(label, format_bytes(value, unit))
    return table


# Engine figures, in the order they are shown; byte figures are rendered in the unit, the rest as counts.
ENGINE_LABELS = {
    "budget_bytes": "budget", "kv_pool_bytes": "KV pool per GPU", "kv_tokens": "KV tokens",
    "max_concurrency": "max concurrency at the context length", "starts": "starts",
    "largest_max_model_len": "largest context that starts", "model_buffer_bytes": "model buffer",
    "kv_buffer_bytes": "KV buffer", "rs_buffer_bytes": "recurrent-state buffer",
    "compute_buffer_bytes": "compute buffer", "cpu_buffer_bytes": "CPU buffers",
    "gpu_layers": "GPU layers",
}


def engine_lines(engine: dict[str, Any], unit: Unit) -> list[str]:
    """The engine object as lines: 'vllm: budget 71.27 GiB, KV pool per GPU 52.1 GiB, ...'."""
    parts = []
    for key, label in ENGINE_LABELS.items():
        value = engine.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"{label}: {'yes' if value else 'NO'}")
        elif key == "rs_buffer_bytes" and not value:
            continue  # a model without recurrent layers
        elif key.endswith("_bytes"):
            shown = format_bytes(value, unit)
            # a small buffer (a recurrent state of a few MiB) would read 0.00: its bytes too
            small = value and to_unit(value, unit) < 0.005
            parts.append(f"{label} {shown}" + (f" ({value:,} bytes)" if small else ""))
        elif isinstance(value, float):
            parts.append(f"{label} {value:,.2f}")
        else:
            parts.append(f"{label} {value:,}")
    lines = [f"{engine['name']}: " + ", ".join(parts)] if parts else []
    settings = engine.get("settings")
    if settings:
        lines.append(f"{engine['name']} settings: " + " ".join(f"--{k.replace('_', '-')} {v}"
                                                               for k, v in settings.items()))
    return lines


POOL_BAR_WIDTH = 16

# The parts of a pool engine's memory (vLLM, SGLang), by their JSON names.
POOL_LABELS = {
    "weights": "Weights", "activation_peak": "Activation peak", "non_torch": "Non-torch memory",
    "kv_pool": "KV pool", "kv_one_sequence": "KV, one max-model-len seq.",
    "kv_one_token": "KV for one token", "cuda_context": "CUDA context", "nccl": "NCCL set-up",
    "cuda_graphs": "CUDA graphs", "request_table": "Request table",
}


def pool_table(doc: dict[str, Any], unit: Unit, workload_label: str | None, gpu_label: str | None) -> Table:
    """A pool engine's memory: what its budget holds against the budget, what it needs outside the budget
    against the rest of the GPU, and the whole against the GPU's total."""
    e, m = doc["engine"], doc["model"]
    title = escape(f"{m['id']} ({m['source']}) with {e['name']}" + (f" on {gpu_label}" if gpu_label else ""))
    budget, margin, total = e["budget_bytes"], e["margin_bytes"], e["total_memory_bytes"]
    inside, outside = sum(e["in_budget"].values()), sum(e["outside_budget"].values())
    used = inside + outside

    def bar(value: int, capacity: int, style: str = "cyan") -> Text:
        return _bar(value, capacity, style, width=POOL_BAR_WIDTH)

    table = Table(title=title, caption=_caption(doc, workload_label), show_footer=True)
    table.add_column("Component", footer=f"GPU total {format_bytes(total, unit)}")
    table.add_column(f"Memory ({unit_label(unit)})", justify="right", footer=format_bytes(used, unit))
    table.add_column("Of its part", footer=bar(used, total, "green" if used <= total else "red"))
    table.add_row(Text(f"budget {format_bytes(budget, unit)}", style="bold"), "", "")
    for key, value in e["in_budget"].items():
        table.add_row("  " + POOL_LABELS.get(key, key), format_bytes(value, unit), bar(value, budget))
    table.add_row("  in the budget", format_bytes(inside, unit), bar(inside, budget, "green" if inside <= budget
                                                                      else "red"))
    table.add_section()
    table.add_row(Text(f"rest of the GPU {format_bytes(margin, unit)}", style="bold"), "", "")
    for key, value in e["outside_budget"].items():
        table.add_row("  " + POOL_LABELS.get(key, key), format_bytes(value, unit), bar(value, margin))
    table.add_row("  outside the budget", format_bytes(outside, unit),
                  bar(outside, margin, "green" if outside <= margin else "red"))
    table.add_section()
    return table


def pool_verdict(doc: dict[str, Any]) -> str:
    e = doc["engine"]
    if e["starts"]:
        return (f"{e['name']} starts: {e['kv_tokens']:,} tokens of KV cache, {e['max_concurrency']:,.2f} sequences "
                f"of {e['max_model_len']:,} tokens at once")
    return f"{e['name']} does NOT start:"


def sweep_table(doc: dict[str, Any], unit: Unit) -> Table:
    """A row per swept value, a column per memory component (those that are not zero throughout)."""
    points, cap = doc["points"], doc.get("capacity")
    keys = [k for k in LABELS if any(p["breakdown"][k] for p in points)]
    title = escape(f"{doc['model']['id']}: sweep of --{doc['parameter']}" + (f", on {cap['label']}" if cap else ""))
    table = Table(title=title, caption=f"per GPU, {unit_label(unit)}")
    table.add_column(doc["parameter"], justify="right")
    for k in keys:
        table.add_column(SHORT.get(k, LABELS[k]), justify="right")
    table.add_column("Total", justify="right")
    if cap:
        table.add_column("Fits")
    for p in points:
        cells: list[str | Text] = [f"{p['value']:,}", *(format_bytes(p["breakdown"][k], unit) for k in keys),
                                   format_bytes(p["total_bytes"], unit)]
        if cap:
            cells.append(Text("yes", style="green") if p["fits"] else Text("no", style="red"))
        table.add_row(*cells)
    return table
