"""`vram check --plan`: the examples of docs/ci.md run as written, and a plan's errors name the entry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vram import api
from vram.cli import app
from vram.schema import PlanDocument

ROOT = Path(__file__).resolve().parent.parent
CI_MD = (ROOT / "docs" / "ci.md").read_text()
EXAMPLE = ROOT / "docs" / "examples" / "capacity.toml"
runner = CliRunner()

_COMMAND = re.compile(r"^\s*(?:-\s+)?(?:(?:run|entry):\s+)?(vram\s.*)$")


def plan_commands() -> list[str]:
    """The vram commands of the YAML examples (GitHub, GitLab, pre-commit) that check a plan."""
    blocks = re.findall(r"^```yaml\n(.*?)^```", CI_MD, flags=re.MULTILINE | re.DOTALL)
    return [m.group(1) for b in blocks for line in b.splitlines()
            if (m := _COMMAND.match(line)) and "--plan" in line]


def test_the_examples_have_commands() -> None:
    assert len(plan_commands()) >= 4


@pytest.mark.parametrize("command", plan_commands())
def test_ci_example_runs(command: str, tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "capacity.toml")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
           "GITHUB_STEP_SUMMARY": str(summary)}
    res = subprocess.run(["bash", "-ec", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    if "GITHUB_STEP_SUMMARY" in command:
        assert "| chat-8b-l4 |" in summary.read_text()
    if "capacity.json" in command:
        doc = json.loads((tmp_path / "capacity.json").read_text())
        assert PlanDocument.model_validate(doc).fits


def test_plan_json_is_one_document_per_plan() -> None:
    res = runner.invoke(app, ["check", "--plan", str(EXAMPLE), "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = PlanDocument.model_validate(json.loads(res.stdout))
    names = [d.name for d in doc.deployments]
    assert names == ["chat-8b-l4", "chat-8b-a100", "chat-8b-vllm", "qlora-7b"]
    # each deployment is exactly what `vram check` says of it alone
    alone = api.check("meta-llama/Meta-Llama-3-8B-Instruct", gpu="a100-80gb", dtype="bf16", batch_size=16,
                      seq_len=8192)
    assert doc.deployments[1].needed_bytes == alone.needed_bytes
    assert doc.deployments[2].engine is not None and doc.deployments[2].engine.name == "vllm"


def _plan(tmp_path: Path, body: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(body)
    return str(path)


def test_a_plan_that_does_not_fit_exits_1_with_a_line_each(tmp_path: Path) -> None:
    path = _plan(tmp_path, '[defaults]\ngpu = "l4"\n[[deployment]]\nname = "small"\nmodel = "7B"\ndtype = "int4"\n'
                           '[[deployment]]\nname = "big"\nmodel = "70B"\n')
    for fmt in ("text", "json", "markdown", "quiet"):
        res = runner.invoke(app, ["check", "--plan", path, "--format", fmt])
        assert res.exit_code == 1
        assert (res.stdout == "") == (fmt == "quiet"), fmt  # quiet prints nothing, as docs/cli.md says
    res = runner.invoke(app, ["check", "--plan", path])
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["deployment", "needed", "capacity", "headroom", "verdict"]
    assert lines[1].startswith("small ") and lines[1].endswith("fits")
    assert lines[2].startswith("big ") and lines[2].endswith("DOES NOT FIT")
    assert lines[3] == "1 of 2 deployments fit"


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ('[[deployment]]\nname = "a"\nmodel = "7B"\ngpu = "l4"\nseq_lne = 4\n', 2,
     "deployment 'a': unknown key 'seq_lne'; did you mean 'seq_len'?"),
    ('[[deployment]]\nname = "a"\nmodel = "7B"\ngpu = "l4"\nseq-len = "8k"\n', 2, "key 'seq-len' must be an integer"),
    ('[[deployment]]\nname = "a"\nmodel = "7B"\ngpu = "l4"\nmode = "qlora"\ndtype = "fp16"\n', 2,
     "deployment 'a': --mode qlora loads the base in nf4"),
    ('[[deployment]]\nname = "a"\nmodel = "7B"\ngpu = "l44"\n', 2, "deployment 'a': unknown GPU 'l44'"),
    ('[[deployment]]\nname = "b"\nmodel = "no-such-org/no-such-model"\ngpu = "l4"\n', 3,
     "deployment 'b': model 'no-such-org/no-such-model': "),
])
def test_plan_errors_name_the_entry(tmp_path: Path, body: str, status: int, fragment: str) -> None:
    path = _plan(tmp_path, body)
    res = runner.invoke(app, ["check", "--plan", path])
    assert res.exit_code == status
    assert res.stdout == ""
    assert res.stderr.startswith(f"vram: error: {path}: ") and fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_plan_refuses_a_model_or_options_beside_it(tmp_path: Path) -> None:
    path = _plan(tmp_path, '[[deployment]]\nname = "a"\nmodel = "7B"\ngpu = "l4"\n')
    for extra in (["7B"], ["--gpu", "l4"], ["--dtype", "int4"]):
        res = runner.invoke(app, ["check", *extra, "--plan", path])
        assert res.exit_code == 2 and "give no MODEL or workload options" in res.stderr
    res = runner.invoke(app, ["check", "--plan", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "cannot read the plan" in res.stderr
    res = runner.invoke(app, ["check"])
    assert res.exit_code == 2 and "needs a MODEL, or --plan FILE" in res.stderr


def test_plan_keys_are_the_api_keywords() -> None:
    keys = api.plan_keys()
    assert set(keys) == set(api.DEFAULTS) | {"dtype"}
    assert keys["seq_len"] == (int,) and keys["gpu_memory_utilization"] == (float, int)
