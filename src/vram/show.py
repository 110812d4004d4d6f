"""Shell: how each command shows an outcome of the API (runs.Outcome) as text, tables or Markdown.

Prints only; the figures come from the documents. Tables go through render.py (the only importer of
rich), which is imported only when a table is printed.
"""

from __future__ import annotations

import json
from typing import Any

from vram.units import Unit, format_bytes, to_unit


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def estimate(out: Any, unit: Unit, fmt: str, explain: bool) -> None:
    doc = out.doc
    if fmt == "json":
        print_json(doc)
        return
    if fmt == "markdown":
        print(estimate_markdown(doc, unit), end="")
        return
    from vram import render

    con = render.console()
    pool = out.engine is not None and "in_budget" in doc["engine"]
    if pool:  # vLLM, SGLang: what the budget holds and what lies outside it
        render.print_table(con, render.pool_table(doc, unit, out.workload_label, out.gpu_label), optional=("Of ",))
        for line in (render.pool_verdict(doc), *out.advice):
            con.print(line, markup=False)
    else:
        render.print_table(con, render.estimate_table(doc, out.estimate, unit, engine=out.engine,
                                                      workload_label=out.workload_label), optional=("Of ",))
    if out.engine is not None:
        for line in render.engine_lines(doc["engine"], unit):
            con.print(line, markup=False)
    if "capacity" in doc and out.fit_line:
        con.print(render.fit_line(doc["capacity"], unit), markup=False)
    if not pool:
        for line in out.advice:
            con.print(line, markup=False)
    con.print(render.model_summary(doc), markup=False)
    for note in doc["notes"]:
        if note not in out.advice:
            con.print(f"note: {note}", markup=False)
    if explain:
        render.print_table(con, render.explain_table(out.estimate, unit))
        if out.engine is None and doc.get("config_keys"):
            con.print("config keys read: " + ", ".join(doc["config_keys"]), markup=False)


LABELS = {"weights_bytes": "Weights", "kv_cache_bytes": "KV cache", "activations_bytes": "Activations",
          "gradients_bytes": "Gradients", "optimizer_bytes": "Optimizer states", "overhead_bytes": "Runtime overhead"}


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def estimate_markdown(doc: dict[str, Any], unit: Unit) -> str:
    """The estimate as a Markdown table (a CI job summary): a row per component, the total, the verdict."""
    m, w = doc["model"], doc["workload"]
    lines = [f"**{_md(m['id'])}**: {w['mode']}, {_md(w['dtype'])} weights, batch {w['batch_size']} x "
             f"{w['tokens_per_sequence']:,} tokens" + (f", per GPU of {w['gpus']}" if w["gpus"] > 1 else ""), "",
             "| Component | Memory | Share |", "|---|---:|---:|"]
    total = doc["total_bytes"] or 1
    for key, label in LABELS.items():
        value = doc["breakdown"][key]
        if key in doc["not_estimated"]:
            lines.append(f"| {label} | n/a: no architecture | |")
        elif value or key in ("weights_bytes", "overhead_bytes"):
            lines.append(f"| {label} | {format_bytes(value, unit)} | {100 * value / total:.1f}% |")
    lines.append(f"| **Total** | **{format_bytes(doc['total_bytes'], unit)}** | 100% |")
    cap = doc.get("capacity")
    if cap:
        lines += ["", verdict_sentence(m["id"], cap, unit)]
    return "\n".join(lines) + "\n"


def verdict_sentence(model: str, cap: dict[str, Any], unit: Unit) -> str:
    verdict = "fits" if cap["fits"] else "does not fit"
    return (f"{model} {verdict} on {cap['label']}: needs {format_bytes(cap['needed_bytes'], unit)} of "
            f"{format_bytes(cap['usable_bytes'], unit)} per GPU")


def check(out: Any, fmt: str) -> None:
    doc = out.doc
    if fmt == "json":
        print_json(doc)
    elif fmt == "markdown":
        print("| Model | Needed | Capacity | Headroom | Verdict |\n|---|---:|---:|---:|---|")
        print(f"| {_md(doc['model'])} | {format_bytes(doc['needed_bytes'], 'gib')} | "
              f"{format_bytes(doc['usable_bytes'], 'gib')} | {format_bytes(doc['headroom_bytes'], 'gib')} | "
              f"{_verdict(doc['fits'], out.engine)} |")
    elif fmt == "text":
        if out.engine is None:
            print(verdict_sentence(doc["model"], doc, "gib"))
        else:
            verdict = "starts" if doc["fits"] else "does not start"
            print(f"{doc['model']} {verdict} with {out.engine} on {doc['label']}: needs "
                  f"{format_bytes(doc['needed_bytes'], 'gib')} of {format_bytes(doc['usable_bytes'], 'gib')} per GPU")
            for line in out.advice:
                print(line)


def _verdict(fits: bool, engine: str | None) -> str:
    if engine is not None:
        return "starts" if fits else "**does not start**"
    return "fits" if fits else "**does not fit**"


def max_value(out: Any, unit: Unit, fmt: str) -> None:
    doc = out.doc
    if fmt == "json":
        print_json(doc)
        return
    target, label, value = doc["solve"], doc["label"], doc["value"]
    if out.engine is not None:
        if value == 0:
            print(f"{doc['model']} does not start with {out.engine} on {label} even at {target} 1")
            return
        why = {"all_layers": " (every layer is on the GPU; memory is left over)",
               "context_window": " (the model's context window; memory is left over)",
               "limit": " (vram's limit, docs/cli.md; more would fit)"}.get(doc["cap_reason"] or "", "")
        print(f"largest {target} with {out.engine} on {label}: {value:,} {out.unit}{why}")
        return
    needed, usable = format_bytes(doc["needed_bytes"], unit), format_bytes(doc["usable_bytes"], unit)
    if value == 0:
        print(f"{doc['model']} does not fit on {label} even at {target} 1: needs {needed} of {usable}")
        return
    why = {"context_window": " (the model's context window; memory is left over; --max-seq-len searches past it)",
           "max_seq_len": " (--max-seq-len; memory is left over)",
           "limit": f" (vram's limit for --{target}, docs/cli.md; more would fit)"}.get(doc["cap_reason"] or "", "")
    print(f"largest {target} on {label}: {value:,} {out.unit}{why}; needs {needed} of {usable}")


def compare(out: Any, unit: Unit, fmt: str, *, chart: bool = False) -> None:
    if fmt == "json":
        print_json(out.doc)
        return
    from vram import render

    if fmt in ("markdown", "csv"):
        print(render.compare_text(out.rows, unit, fmt), end="")
        return
    con = render.console()
    render.print_table(con, render.compare_table(out.rows, unit, out.title))
    if chart:
        from vram import chart as charts

        title = f"{out.doc['model']['id']}: total per GPU by precision"
        print(charts.terminal_compare(out.rows, out.doc.get("capacity"), unit, con.width, title,
                                     color=con.is_terminal))


def plan(doc: dict[str, Any], fmt: str) -> None:
    """A capacity plan: one line per deployment (name, needed, capacity, headroom, verdict), a JSON
    document, a Markdown table for a CI job summary, or nothing (quiet: the exit status answers)."""
    if fmt == "quiet":
        return
    if fmt == "json":
        print_json(doc)
        return
    entries = doc["deployments"]
    fitting = sum(e["fits"] for e in entries)
    summary = f"{fitting} of {len(entries)} deployments fit"
    if fmt == "markdown":
        lines = [f"### Capacity plan `{_md(doc['plan'])}`: {summary}", "",
                 "| Deployment | Model | GPU | Needed | Capacity | Headroom | Verdict |",
                 "|---|---|---|---:|---:|---:|---|"]
        for e in entries:
            gpus = f"{e['gpus']} x {e['label']}" if e["gpus"] > 1 else e["label"]
            lines.append(f"| {_md(e['name'])} | {_md(e['model'])} | {_md(gpus)} | "
                         f"{format_bytes(e['needed_bytes'], 'gib')} | {format_bytes(e['usable_bytes'], 'gib')} | "
                         f"{format_bytes(e['headroom_bytes'], 'gib')} | "
                         f"{_verdict(e['fits'], None)} |")
        print("\n".join(lines))
        return
    rows = [("deployment", "needed", "capacity", "headroom", "verdict")]
    for e in entries:
        where = f"{e['gpus']} x {e['label']}" if e["gpus"] > 1 else e["label"]
        rows.append((e["name"], format_bytes(e["needed_bytes"], "gib"),
                     f"{format_bytes(e['usable_bytes'], 'gib')} ({where})", format_bytes(e["headroom_bytes"], "gib"),
                     "fits" if e["fits"] else "DOES NOT FIT"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [c.rjust(w) if i in (1, 3) else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("  ".join(cells).rstrip())
    print(summary)


def sweep(out: Any, unit: Unit, fmt: str, *, chart: bool) -> None:
    """A sweep: a table (and on a terminal a chart), or the data as JSON, CSV or Markdown."""
    doc = out.doc
    if fmt == "json":
        print_json(doc)
        return
    keys = [k for k in LABELS if any(p["breakdown"][k] for p in doc["points"])]
    fits = "capacity" in doc
    if fmt == "csv":
        import csv
        import sys

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([doc["parameter"].replace("-", "_"), *keys, "total_bytes", *(["fits"] if fits else [])])
        for p in doc["points"]:
            writer.writerow([p["value"], *(p["breakdown"][k] for k in keys), p["total_bytes"],
                             *([str(p["fits"]).lower()] if fits else [])])
        return
    if fmt == "markdown":
        from vram.units import unit_label

        label = unit_label(unit)
        header = [doc["parameter"], *(f"{LABELS[k]} ({label})" for k in keys), f"Total ({label})"]
        header += ["Fits"] if fits else []
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header[:-1]) + "|"
                 + ("---|" if fits else "---:|")]
        for p in doc["points"]:
            cells = [f"{p['value']:,}", *(f"{to_unit(p['breakdown'][k], unit):.2f}" for k in keys),
                     f"{to_unit(p['total_bytes'], unit):.2f}", *([_verdict(p["fits"], None)] if fits else [])]
            lines.append("| " + " | ".join(cells) + " |")
        print("\n".join(lines))
        return
    from vram import render

    con = render.console()
    render.print_table(con, render.sweep_table(doc, unit))
    cap, first = doc.get("capacity"), doc["first_not_fitting"]
    if cap:
        if first is None:
            con.print(f"every point fits on {cap['label']}", markup=False)
        else:
            con.print(f"first --{doc['parameter']} that does not fit on {cap['label']}: {first:,}", markup=False)
    if chart:
        from vram import chart as charts

        print(charts.terminal_sweep(doc, unit, con.width, color=con.is_terminal))
