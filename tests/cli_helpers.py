"""Running ``moneytrail`` as a user does (a subprocess), and checking its two kinds of outcome:
output with exit 0, or exactly one ``error:`` line with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def mt(*args: str, cwd: Path, officer: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_") or k == "MONEYTRAIL_KEY_DIR"}
    e["COLUMNS"] = "160"
    if officer:
        e["MONEYTRAIL_OFFICER"] = officer
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "moneytrail.cli.main", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=120)


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, p.stderr
    return p.stdout


def one_line_error(p: subprocess.CompletedProcess, *fragments: str) -> str:
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), p.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]
