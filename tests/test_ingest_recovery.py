"""A killed ingest leaves nothing behind once the workspace is opened again; a full disk is one line.

The processes here are really killed (SIGKILL, which no handler sees) at a known point: a
small script ingests with one step replaced by one that says "here" (a file) and then waits,
and the test kills it once it is there. The next ``Workspace.open`` for writing must mark the
run ``failed`` ("interrupted: ...") and remove the evidence copy no source references (and any
``*.partial``), and the same file must then ingest normally.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import check_conservation
from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority
from moneytrail.errors import WorkspaceError
from moneytrail.ingest import ingest_file
from moneytrail.workspace import INTERRUPTED, PENDING_MARKER, Workspace, recover_interrupted

TRANSFERS = {"currency": "USD", "date": "date", "amount": {"column": "amount"},
             "payer": {"account": "payer"}, "payee": {"account": "payee"}}
MAPPING_YAML = "currency: USD\ndate: date\namount: {column: amount}\npayer: {account: payer}\npayee: {account: payee}\n"

# Runs an ingest in its own process, with one step replaced by a stop: it writes READY and sleeps.
# argv: workspace, csv file, ready file, where to stop (after-copy | mid-copy)
KILLABLE = r'''
import json, sys, time
from pathlib import Path

ws_path, csv_path, ready, where = sys.argv[1:5]

def stop(what):
    Path(ready).write_text(what)
    time.sleep(600)

if where == "after-copy":        # the evidence copy is complete; the rows are being read
    import moneytrail.ingest.csvfile as csvfile
    csvfile.load_csv = lambda *a, **k: stop("copied")
elif where == "mid-copy":        # half of the file is in <sha256>.partial
    import shutil
    def half(src, dst, *a, **k):
        data = Path(src).read_bytes()
        with open(dst, "wb") as f:
            f.write(data[: len(data) // 2])
        stop("partial")
    shutil.copyfile = half

from moneytrail.ingest import ingest_file
from moneytrail.workspace import Workspace

ws = Workspace.open(ws_path)
ingest_file(ws, csv_path, "csv", mapping=json.loads(sys.argv[5]))
'''


def _csv(folder: Path, name: str = "ledger.csv", rows: int = 50) -> Path:
    p = folder / name
    p.write_text("date,amount,payer,payee\n" + "".join(
        f"2024-01-{1 + i % 28:02d},{i}.50,P{i},Q{i}\n" for i in range(1, rows + 1)), encoding="utf-8")
    return p


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the ingest ended (rc {proc.returncode}) before it got there: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("the ingest never got there")
        time.sleep(0.02)


def _kill_ingest(tmp_path: Path, ws_path: Path, csv_path: Path, where: str) -> None:
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE, encoding="utf-8")
    ready = tmp_path / f"ready-{where}"
    proc = subprocess.Popen([sys.executable, str(script), str(ws_path), str(csv_path), str(ready), where,
                             json.dumps(TRANSFERS)], stderr=subprocess.PIPE, text=True)
    _wait_for(ready, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _copies(ws_path: Path) -> list[str]:
    """Every file under the evidence folder, relative to it (the marker included)."""
    folder = ws_path.parent / (ws_path.stem + ".evidence")
    return sorted(f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file()) \
        if folder.is_dir() else []


def _runs(ws_path: Path, case: str | None = None) -> list[tuple]:
    """The run log (main's, or a case's: commands run in a case log there), without recovering."""
    from moneytrail.workspace.cases import schema_name

    con = duckdb.connect(str(ws_path), read_only=True)   # a look without recovering anything
    try:
        table = f"{schema_name(case)}.runs" if case else "runs"
        return con.execute(f"SELECT command, status, error FROM {table} ORDER BY run_id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("where", ["after-copy", "mid-copy"])
def test_killed_ingest_is_recovered_at_the_next_open(tmp_path, where):
    ws_path = tmp_path / "case.duckdb"
    Workspace.open(ws_path).close()
    csv_path = _csv(tmp_path)
    _kill_ingest(tmp_path, ws_path, csv_path, where)

    # what the killed process left: a run stuck at 'running', a copy no source points to
    assert _runs(ws_path) == [("ingest", "running", None)]
    left = _copies(ws_path)
    assert PENDING_MARKER in left
    assert any(f.endswith(".partial") for f in left) == (where == "mid-copy")
    assert any(f.startswith("sha256/") for f in left)

    with Workspace.open(ws_path) as ws:
        assert ws.query("SELECT command, status, error FROM runs ORDER BY run_id") == [
            ("ingest", "failed", INTERRUPTED), ("recover", "ok", None)]
        assert ws.scalar("SELECT finished_at IS NOT NULL FROM runs WHERE command = 'ingest'")
        summary = json.loads(ws.scalar("SELECT summary FROM runs WHERE command = 'recover'"))
        assert summary["runs_failed"] == [1] and len(summary["evidence_removed"]) == 1
        assert _copies(ws_path) == []
        assert ws.counts()["sources"] == 0 and ws.counts()["transactions"] == 0
        # the same file ingests normally now, and its copy stays
        res = ingest_file(ws, csv_path, "csv", mapping=TRANSFERS)
        c = check_conservation(ws, res.source_id)
        assert (c["read"], c["stored"]) == (50, 50) and not res.skipped
        assert _copies(ws_path) == [f"sha256/{res.sha256[:2]}/{res.sha256}"]
    # a further open finds nothing to do and records nothing
    with Workspace.open(ws_path) as ws:
        assert [r[0] for r in ws.query("SELECT command FROM runs ORDER BY run_id")] == [
            "ingest", "recover", "ingest"]
        assert recover_interrupted(ws) == {"runs_failed": [], "evidence_removed": []}


def test_recovery_keeps_the_evidence_of_sources(tmp_path):
    ws_path = tmp_path / "case.duckdb"
    first = _csv(tmp_path, "first.csv", rows=10)
    with Workspace.open(ws_path) as ws:
        kept = ingest_file(ws, first, "csv", mapping=TRANSFERS)
    # a file moneytrail did not make is never touched either
    stray = ws_path.parent / "case.evidence" / "sha256" / "notes.txt"
    stray.write_text("an analyst's note")
    _kill_ingest(tmp_path, ws_path, _csv(tmp_path, "second.csv", rows=20), "after-copy")
    assert len([f for f in _copies(ws_path) if f.startswith("sha256/") and f != "sha256/notes.txt"]) == 2
    with Workspace.open(ws_path) as ws:
        assert _copies(ws_path) == sorted(["sha256/notes.txt", f"sha256/{kept.sha256[:2]}/{kept.sha256}"])
        assert ws.query("SELECT status FROM runs WHERE command = 'ingest' ORDER BY run_id") == [
            ("ok",), ("failed",)]
        c = check_conservation(ws, kept.source_id)
        assert c["stored"] == 10
        rel = ws.scalar("SELECT evidence_path FROM sources WHERE source_id = ?", [kept.source_id])
        assert ws.evidence_file(rel).read_bytes() == first.read_bytes()


def test_read_only_open_recovers_nothing(tmp_path):
    ws_path = tmp_path / "case.duckdb"
    Workspace.open(ws_path).close()
    _kill_ingest(tmp_path, ws_path, _csv(tmp_path), "after-copy")
    with Workspace.open(ws_path, read_only=True) as ws:
        assert ws.query("SELECT status FROM runs") == [("running",)]
    assert PENDING_MARKER in _copies(ws_path)
    with Workspace.open(ws_path) as ws:
        assert ws.query("SELECT status FROM runs WHERE command = 'ingest'") == [("failed",)]
    assert _copies(ws_path) == []


def test_a_second_open_in_the_same_process_leaves_an_ingest_in_flight_alone(tmp_path, monkeypatch):
    """While this process is in the middle of an ingest, another connection it opens on the same
    workspace must not take the ingest's copy for an orphan."""
    import moneytrail.ingest.csvfile as csvfile

    ws_path = tmp_path / "case.duckdb"
    real = csvfile.load_csv
    seen = {}

    def load_and_open_again(ws, *a, **k):
        with Workspace.open(ws_path) as other:
            seen["runs"] = other.query("SELECT status FROM runs")
        seen["copies"] = _copies(ws_path)
        return real(ws, *a, **k)

    monkeypatch.setattr(csvfile, "load_csv", load_and_open_again)
    with Workspace.open(ws_path) as ws:
        res = ingest_file(ws, _csv(tmp_path), "csv", mapping=TRANSFERS)
        assert seen["runs"] == [("running",)]
        assert PENDING_MARKER in seen["copies"]
        assert ws.query("SELECT command, status FROM runs") == [("ingest", "ok")]
        assert _copies(ws_path) == [f"sha256/{res.sha256[:2]}/{res.sha256}"]   # marker gone, copy kept


# A bank statement ingest stopped while it publishes what it staged (argv: workspace, file, ready).
KILLABLE_STATEMENTS = r"""
import sys, time
from pathlib import Path
import moneytrail.ingest.statements as S

ws_path, path, ready = sys.argv[1:4]
S.BATCH = 100
def stop(self):
    Path(ready).write_text("staged")
    time.sleep(600)
S.StatementLoader.finish = stop

from moneytrail.ingest import ingest_file
from moneytrail.workspace import Workspace
ingest_file(Workspace.open(ws_path), path, "camt")
"""


def _camt(folder: Path, entries: int = 1000) -> Path:
    from moneytrail.bench.statements import write_file

    p = folder / "statement.xml"
    write_file("camt", p, entries, 250, 7)
    return p


def test_killed_statement_ingest_leaves_its_staged_rows_to_the_next_open(tmp_path):
    ws_path = tmp_path / "case.duckdb"
    Workspace.open(ws_path).close()
    camt = _camt(tmp_path)
    script, ready = tmp_path / "killable_statements.py", tmp_path / "ready-staged"
    script.write_text(KILLABLE_STATEMENTS, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(ws_path), str(camt), str(ready)],
                            stderr=subprocess.PIPE, text=True)
    _wait_for(ready, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    staging = tmp_path / "case.staging"
    (left,) = staging.iterdir()
    assert left.name.startswith(f"ingest-{proc.pid}-")
    assert {f.name for f in left.iterdir()} >= {"transactions.arrows", "statements.arrows"}
    assert _runs(ws_path) == [("ingest", "running", None)]

    with Workspace.open(ws_path) as ws:
        assert not staging.exists()
        summary = json.loads(ws.scalar("SELECT summary FROM runs WHERE command = 'recover'"))
        assert summary["runs_failed"] == [1] and summary["staging_removed"] == [left.name]
        for table in ("sources", "transactions", "quarantine", "account_records", "statements"):
            assert ws.scalar(f"SELECT count(*) FROM {table}") == 0, table
        res = ingest_file(ws, camt, "camt")
        c = check_conservation(ws, res.source_id)
        assert (c["read"], c["stored"]) == (1000, 1000)
        assert ws.scalar("SELECT count(*) FROM statements") == 4
    with Workspace.open(ws_path) as ws:
        assert recover_interrupted(ws) == {"runs_failed": [], "evidence_removed": []}


def test_a_second_open_in_the_same_process_leaves_a_statement_ingest_staging_alone(tmp_path, monkeypatch):
    import moneytrail.ingest.statements as S

    ws_path = tmp_path / "case.duckdb"
    real = S.StatementLoader.finish
    seen = {}

    def open_again_then_finish(self):
        seen["staged"] = sorted(p.name for d in (tmp_path / "case.staging").iterdir() for p in d.iterdir())
        with Workspace.open(ws_path) as other:
            seen["runs"] = other.query("SELECT status FROM runs")
        seen["after"] = sorted(p.name for d in (tmp_path / "case.staging").iterdir() for p in d.iterdir())
        return real(self)

    monkeypatch.setattr(S, "BATCH", 100)
    monkeypatch.setattr(S.StatementLoader, "finish", open_again_then_finish)
    with Workspace.open(ws_path) as ws:
        res = ingest_file(ws, _camt(tmp_path), "camt")
        assert seen["runs"] == [("running",)] and "transactions.arrows" in seen["staged"]
        assert seen["after"] == seen["staged"]
        assert check_conservation(ws, res.source_id)["stored"] == 1000
        assert not (tmp_path / "case.staging").exists()


def test_disk_full_while_staging_statements_stores_nothing(ws, tmp_path, monkeypatch):
    import pyarrow as pa

    import moneytrail.ingest.statements as S

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    real = pa.ipc.new_stream
    monkeypatch.setattr(S, "BATCH", 100)
    monkeypatch.setattr(S.pa.ipc, "new_stream", lambda path, *a, **k: real("/dev/full", *a, **k))
    with pytest.raises(WorkspaceError) as e:
        ingest_file(ws, _camt(tmp_path), "camt")
    assert str(e.value).startswith("disk full while ingesting statement.xml: free space on ")
    assert ws.counts()["sources"] == 0 and ws.counts()["transactions"] == 0
    assert not ws.staging_dir.exists() and _copies(ws.path) == []
    assert ws.query("SELECT status FROM runs") == [("failed",)]


@pytest.mark.slow
def test_killed_cli_ingest_of_a_large_file(tmp_path):
    """The real command on a 1M-row file, killed once its evidence copy is complete."""
    ws_path = tmp_path / "case.duckdb"
    with Workspace.open(ws_path) as ws:
        setup_demo_authority(ws)
    big = tmp_path / "big.csv"
    with open(big, "w", encoding="utf-8") as f:
        f.write("date,amount,payer,payee\n")
        for k in range(100):
            f.write("".join(f"2024-02-{1 + i % 28:02d},{i % 997}.25,A{i % 5003},B{i % 4999}\n"
                            for i in range(k * 10_000, (k + 1) * 10_000)))
    (tmp_path / "map.yaml").write_text(MAPPING_YAML, encoding="utf-8")
    import hashlib
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    copy = tmp_path / "case.evidence" / "sha256" / sha[:2] / sha
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_")}
    env.update(MONEYTRAIL_OFFICER=DEMO_OFFICER, MONEYTRAIL_KEY_DIR=os.environ["MONEYTRAIL_KEY_DIR"])
    proc = subprocess.Popen([sys.executable, "-m", "moneytrail.cli.main", "ingest", str(big), "-f", "csv",
                             "-m", str(tmp_path / "map.yaml"), "--legal-basis", "subpoena", "-w", str(ws_path)],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _wait_for(copy, proc, timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert ("ingest", "running", None) in _runs(ws_path, DEMO_CASE)
    assert copy.exists()
    with Workspace.open(ws_path) as main:
        ws = main.for_case(DEMO_CASE)
        assert ws.query("SELECT status, error FROM runs WHERE command = 'ingest'") == [("failed", INTERRUPTED)]
        assert not copy.exists() and _copies(ws_path) == []
        assert main.counts()["sources"] == 0 and main.counts()["transactions"] == 0


# -- a full disk --------------------------------------------------------------------------------

# The CLI, with the evidence copy failing as on a full disk after writing some bytes.
DISK_FULL_CLI = r'''
import errno, shutil, sys
from pathlib import Path

def full(src, dst, *a, **k):
    Path(dst).write_bytes(Path(src).read_bytes()[:10])
    raise OSError(errno.ENOSPC, "No space left on device", str(dst))

shutil.copyfile = full
sys.argv = ["moneytrail", *sys.argv[1:]]
import moneytrail.cli.main as cli
cli.main()
'''


def test_disk_full_while_copying_evidence_is_one_line_exit_2(tmp_path):
    ws_path = tmp_path / "case.duckdb"
    with Workspace.open(ws_path) as ws:
        setup_demo_authority(ws)
    _csv(tmp_path)
    (tmp_path / "map.yaml").write_text(MAPPING_YAML, encoding="utf-8")
    script = tmp_path / "full.py"
    script.write_text(DISK_FULL_CLI, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_")}
    env.update(MONEYTRAIL_KEY_DIR=os.environ["MONEYTRAIL_KEY_DIR"])
    p = subprocess.run([sys.executable, str(script), "ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml",
                        "--legal-basis", "subpoena", "--as", DEMO_OFFICER, "-w", str(ws_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert lines[0].startswith("error: disk full while copying ledger.csv into the evidence folder: free space on ")
    assert lines[0].endswith("and run the command again; nothing was stored")
    assert _copies(ws_path) == []   # no partial copy, no marker
    with Workspace.open(ws_path) as main:
        ws = main.for_case(DEMO_CASE)
        assert main.counts()["sources"] == 0 and main.counts()["transactions"] == 0
        assert ws.query("SELECT status FROM runs WHERE command = 'ingest'") == [("failed",)]
        assert ws.scalar("SELECT error FROM runs WHERE command = 'ingest'").startswith("disk full while copying")
        assert not main.scalar("SELECT count(*) FROM runs WHERE command = 'recover'")


def test_disk_full_while_writing_the_workspace_rolls_back(ws, tmp_path, monkeypatch):
    import moneytrail.ingest.csvfile as csvfile

    first = ingest_file(ws, _csv(tmp_path, "first.csv", rows=5), "csv", mapping=TRANSFERS)
    real = csvfile.load_csv

    def fills_the_disk(w, sid, *a, **k):
        real(w, sid, *a, **k)   # rows are written in the transaction, then the disk is full
        raise duckdb.IOException('IO Error: Could not write file "case.duckdb.wal": No space left on device')

    monkeypatch.setattr(csvfile, "load_csv", fills_the_disk)
    with pytest.raises(WorkspaceError) as e:
        ingest_file(ws, _csv(tmp_path, "second.csv", rows=7), "csv", mapping=TRANSFERS)
    msg = str(e.value)
    assert msg.startswith("disk full while writing the workspace: free space on ")
    assert msg.endswith("nothing was stored") and "\n" not in msg
    assert ws.counts()["sources"] == 1 and ws.counts()["transactions"] == 5
    check_conservation(ws, first.source_id)
    assert _copies(ws.path) == [f"sha256/{first.sha256[:2]}/{first.sha256}"]
    assert ws.query("SELECT status FROM runs ORDER BY run_id") == [("ok",), ("failed",)]


@pytest.mark.parametrize("e, full", [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (duckdb.IOException('IO Error: Could not write "x": No space left on device'), True),
    (duckdb.IOException('IO Error: Could not open "x": Permission denied'), False),
    (ValueError("No space left on device"), False),
])
def test_what_counts_as_a_full_disk(e, full):
    from moneytrail.workspace import is_disk_full

    assert is_disk_full(e) is full


def test_copy_error_other_than_a_full_disk_is_one_line_too(ws, tmp_path, monkeypatch):
    import shutil

    def denied(src, dst, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(shutil, "copyfile", denied)
    with pytest.raises(WorkspaceError, match="cannot copy .*ledger.csv into the evidence folder .*Permission denied"):
        ingest_file(ws, _csv(tmp_path), "csv", mapping=TRANSFERS)
    assert ws.counts()["sources"] == 0 and _copies(ws.path) == []
