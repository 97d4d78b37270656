"""Docs that are tested: every command in the README's usage block runs and succeeds."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def _usage_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\nsource \.venv/bin/activate\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_readme_quickstart_names_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text[text.index("## Quickstart"):text.index("## Using it")]
    assert re.findall(r"^make (\w+)", quick, re.M) == ["demo", "test"]


def _demo_in(case, cwd: Path) -> Path:
    """The session's demo build (conftest ``fresh_demo_case``: ``moneytrail demo --out`` run once
    for every test that needs it) where the README's ``moneytrail demo --out moneytrail-demo``
    leaves it, under ``cwd``."""
    cwd.mkdir(exist_ok=True)
    return case.out.rename(cwd / "moneytrail-demo")


def test_readme_usage_block_runs(tmp_path, fresh_demo_case):
    if not (SHARED / "data" / "amlsim_small").is_dir():
        pytest.skip("../shared/data/amlsim_small is not beside the repository")
    cwd = tmp_path / "work"
    _demo_in(fresh_demo_case, cwd)
    (tmp_path / "shared").symlink_to(SHARED)
    env = dict(os.environ)
    mt = [sys.executable, "-m", "moneytrail.cli.main"]
    lines = _usage_block()
    assert lines[0].startswith("export MONEYTRAIL_WORKSPACE=")
    assert any(line.startswith("export MONEYTRAIL_OFFICER=") for line in lines)  # identity is set up
    for line in lines:
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            env[k] = v
            continue
        argv = shlex.split(line)
        assert argv[0] == "moneytrail", line
        proc = subprocess.run(mt + argv[1:], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    assert (cwd / "case.html").is_file() and (cwd / "amlsim.duckdb").is_file()


def test_readme_python_block_runs(tmp_path, fresh_demo_case):
    """The README's Python example, on the demo's workspace, as the demo's analyst."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert "Session.open" in code
    _demo_in(fresh_demo_case, tmp_path)
    env = dict(os.environ)
    env.pop("MONEYTRAIL_OFFICER", None)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "the example prints the funnel findings"
    assert (tmp_path / "case-from-python.html").is_file()
    # and it went through authority: its decisions and reads are in the workspace's audit log
    from moneytrail.audit import AuditLog
    from moneytrail.workspace import Workspace
    with Workspace.open(tmp_path / "moneytrail-demo" / "case.duckdb") as ws:
        tail = list(AuditLog.of(ws).entries())[-6:]
    assert [(e["kind"], e.get("action")) for e in tail] == [
        ("decision", "detect"), ("read", "detect"), ("decision", "findings"), ("read", "findings"),
        ("decision", "report"), ("read", "report")]
    assert all(e["officer"] == "tf-analyst-1" and e["case"] == "OP-DEMO" for e in tail)
