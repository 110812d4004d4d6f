"""The core imports neither the CLI libraries nor huggingface_hub; the CLI imports the Hub lazily."""

import subprocess
import sys

CORE = ["vram.units", "vram.errors", "vram.precision", "vram.model", "vram.workload", "vram.architectures",
        "vram.estimate"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_imports_no_cli_or_hub() -> None:
    mods = _modules_after("; ".join(f"import {m}" for m in CORE))
    assert not {"typer", "rich", "click", "huggingface_hub"} & mods


def test_cli_on_a_preset_does_not_import_the_hub() -> None:
    code = ("from typer.testing import CliRunner; from vram.cli import app; "
            "r = CliRunner().invoke(app, ['estimate', 'meta-llama/Llama-2-7b-hf', '--format', 'json']); "
            "assert r.exit_code == 0, r.output")
    assert "huggingface_hub" not in _modules_after(code)
