"""Cold-start benchmark (not a test): `vram estimate <preset> --format json` against the bare import
of typer, rich.table and pydantic. The goal is a ratio under 1.3.

    python scripts/bench_startup.py [--runs 15] [--model meta-llama/Llama-2-7b-hf]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--model", default="lmms-lab/LLaVA-Video-72B-Qwen2")
    args = ap.parse_args()
    vram = shutil.which("vram")
    cmd = [vram] if vram else [sys.executable, "-m", "vram"]
    base = timed([sys.executable, "-c", "import typer, rich.table, pydantic"], args.runs)
    ours = timed([*cmd, "estimate", args.model, "--format", "json"], args.runs)
    print(f"baseline import typer, rich.table, pydantic: {base * 1000:.0f} ms (median of {args.runs})")
    print(f"vram estimate {args.model} --format json: {ours * 1000:.0f} ms")
    print(f"ratio: {ours / base:.2f} (goal < 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
