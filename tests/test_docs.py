"""Docs that cannot drift from the CLI: every option of every command is documented."""

from pathlib import Path

import pytest
import typer.main

from vram.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMMAND = typer.main.get_command(app)


@pytest.mark.parametrize("name", sorted(COMMAND.commands))  # type: ignore[attr-defined]
def test_every_option_is_in_cli_md(name: str) -> None:
    text = (DOCS / "cli.md").read_text()
    assert f"## vram {name}" in text
    for param in COMMAND.commands[name].params:  # type: ignore[attr-defined]
        for opt in param.opts:
            if opt.startswith("--"):
                assert f"`{opt}`" in text, f"{name} {opt} is not documented in docs/cli.md"


def test_exit_codes_documented() -> None:
    text = (DOCS / "exit-codes.md").read_text()
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert status in text


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    assert "vram estimate lmms-lab/LLaVA-Video-72B-Qwen2 --dtype fp16" in block[0]
    assert "pytest" in block[1]
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert block[1] in ci
