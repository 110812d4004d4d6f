"""Rendering: rich tables and JSON. Never computes anything."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vram.estimate import Estimate
from vram.units import Unit, format_bytes, to_unit, unit_label

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


def _count(n: int) -> str:
    return f"{n:,} ({n / 1e9:.2f}B)" if n >= 10**8 else f"{n:,}"


def estimate_table(doc: dict[str, Any], est: Estimate, unit: Unit) -> Table:
    m, w = doc["model"], doc["workload"]
    title = escape(f"{m['id']} ({m['source']})")
    caption = (f"{w['mode']}, {w['dtype']} weights ({doc['weights']['bits_per_parameter']:.2f} bits/param), "
               f"kv {w['kv_dtype']}, batch {w['batch_size']} x {w['tokens_per_sequence']:,} tokens")
    if w["gpus"] > 1:
        caption += f", per GPU of {w['gpus']}"
    table = Table(title=title, caption=caption, show_footer=True)
    table.add_column("Component", footer="Total")
    table.add_column(f"Memory ({unit_label(unit)})", justify="right", footer=format_bytes(doc["total_bytes"], unit))
    table.add_column("Share", justify="right", footer="100%")
    total = doc["total_bytes"] or 1
    for key, label in LABELS.items():
        value = doc["breakdown"][key]
        if value == 0 and key in ("gradients_bytes", "optimizer_bytes") and w["mode"] == "inference":
            continue
        table.add_row(label, format_bytes(value, unit), f"{100 * value / total:.1f}%")
    return table


def model_summary(doc: dict[str, Any]) -> str:
    m = doc["model"]
    parts = [f"parameters {_count(m['parameters'])}"]
    if m["active_parameters"] != m["parameters"]:
        parts.append(f"active {_count(m['active_parameters'])}")
    if m["trainable_parameters"] and m["trainable_parameters"] != m["parameters"]:
        parts.append(f"trainable {_count(m['trainable_parameters'])}")
    comps = ", ".join(f"{k} {_count(v)}" for k, v in m["parameters_by_component"].items())
    return " | ".join(parts) + (f"\n  by component: {comps}" if len(m["parameters_by_component"]) > 1 else "")


def explain_table(est: Estimate, unit: Unit) -> Table:
    table = Table(title="How each term was computed", show_lines=True)
    table.add_column("Term")
    table.add_column(unit_label(unit), justify="right")
    table.add_column("Formula and values")
    table.add_column("Source")
    for t in est.terms:
        values = ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in t.values.items())
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
    for r in rows:
        cells = [f"{to_unit(r['breakdown'][k], unit):,.2f}" for k in LABELS if any(x["breakdown"][k] for x in rows)]
        table.add_row(r["label"], f"{r['bits_per_parameter']:.2f}", *cells, f"{to_unit(r['total_bytes'], unit):,.2f}")
    return table


def presets_table(rows: list[tuple[str, str, int, int]]) -> Table:
    table = Table(title="Bundled model presets")
    table.add_column("Model", no_wrap=True)
    table.add_column("Type")
    table.add_column("Parameters", justify="right")
    table.add_column("Active", justify="right")
    for mid, mtype, n, active in rows:
        table.add_row(mid, mtype, f"{n:,}", f"{active:,}" if active != n else "")
    return table
