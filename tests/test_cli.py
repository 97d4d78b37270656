"""The ``moneytrail`` command, run as a user runs it (a subprocess).

Every error path must print exactly one line on stderr, starting with ``error:``, exit
non-zero, and never show a traceback. Error cases are independent, so they run concurrently
once per session (each with its own workspace path) and each test checks one result.

Commands act as the demo task force's analyst (``MONEYTRAIL_OFFICER``) in workspaces set up with
its registry and case (``moneytrail.demo.setup_demo_authority``); each copy of a workspace gets
its own copy of the signing-key folder, since a copy of a workspace is a fork of its audit log.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from moneytrail.audit import audit_dir
from moneytrail.demo import DEMO_OFFICER, setup_demo_authority
from moneytrail.ingest import ingest_file
from moneytrail.workspace import Workspace

MAPPING = "currency: USD\ndate: d\namount: {column: amt}\npayer: {account: from}\npayee: {account: to}\n"


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_")}
    e.update({"COLUMNS": "160", "PYTHONWARNINGS": "ignore", "MONEYTRAIL_OFFICER": DEMO_OFFICER,
              "MONEYTRAIL_KEY_DIR": os.environ["MONEYTRAIL_KEY_DIR"]}, **(env or {}))
    e = {k: v for k, v in e.items() if v is not None}  # env={"X": None} removes X
    return subprocess.run([sys.executable, "-m", "moneytrail.cli.main", *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=120)


def taskforce_workspace(path: Path) -> Path:
    """A new workspace at ``path`` with the demo task force and its open case."""
    with Workspace.open(path) as ws:
        setup_demo_authority(ws)
    return path


def copy_workspace(src: Path, dest: Path, keys_dest: Path) -> dict:
    """Copy a workspace with its evidence and audit folders, and the key folder (a fork of the
    log needs its own signing state); returns the env that points at the copied keys."""
    shutil.copy(src, dest)
    for folder in (src.with_suffix(".evidence"), audit_dir(src)):
        if folder.is_dir():
            shutil.copytree(folder, dest.parent / folder.name.replace(src.stem, dest.stem, 1))
    shutil.copytree(os.environ["MONEYTRAIL_KEY_DIR"], keys_dest)
    return {"MONEYTRAIL_KEY_DIR": str(keys_dest)}


def assert_one_line_error(p: subprocess.CompletedProcess, *fragments: str) -> str:
    assert p.returncode != 0, p.stdout
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("error:"), p.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def _ledger(n_senders: int = 10) -> str:
    """Ten senders paying account Z within nine days (a fan-in), one payment out, one bad row."""
    rows = ["d,amt,from,to"]
    rows += [f"2024-03-0{1 + i % 9},{900 + i}.00,S{i},Z" for i in range(n_senders)]
    rows += ["2024-03-05,100,Z,Q", "2024-03-06,lots,Z,Q"]
    return "\n".join(rows) + "\n"


# -- error cases ---------------------------------------------------------------------------------

# id -> (argv, fragments the one error line must contain); "{ws}" is the case's own workspace,
# "{full}" a copy of a workspace holding a small ledger
ERRORS: dict[str, tuple[list[str], list[str]]] = {
    "missing-file": (["ingest", "nope.csv", "-f", "csv", "-m", "map.yaml", "-w", "{ws}"],
                     ["nope.csv", "file not found"]),
    "directory-as-file": (["ingest", "folder", "-f", "csv", "-m", "map.yaml", "-w", "{ws}"],
                          ["folder", "is a directory"]),
    "unknown-format": (["ingest", "ok.csv", "-f", "xls", "-m", "map.yaml", "-w", "{ws}"],
                       ["unknown format 'xls'", "csv"]),
    "csv-without-mapping": (["ingest", "ok.csv", "-f", "csv", "-w", "{ws}"], ["--mapping"]),
    "mapping-missing": (["ingest", "ok.csv", "-f", "csv", "-m", "nomap.yaml", "-w", "{ws}"],
                        ["nomap.yaml", "mapping file not found"]),
    "mapping-not-yaml": (["ingest", "ok.csv", "-f", "csv", "-m", "broken.yaml", "-w", "{ws}"],
                         ["broken.yaml", "not valid YAML"]),
    "mapping-a-list": (["ingest", "ok.csv", "-f", "csv", "-m", "list.yaml", "-w", "{ws}"],
                       ["list.yaml", "must be a YAML mapping"]),
    "mapping-unknown-field": (["ingest", "ok.csv", "-f", "csv", "-m", "extra.yaml", "-w", "{ws}"],
                              ["extra.yaml", "colour"]),
    "mapping-without-amount": (["ingest", "ok.csv", "-f", "csv", "-m", "noamount.yaml", "-w", "{ws}"],
                               ["noamount.yaml", "amount"]),
    "mapping-bad-encoding": (["ingest", "ok.csv", "-f", "csv", "-m", "klingon.yaml", "-w", "{tf}"],
                             ["unknown text encoding 'klingon'"]),
    "png-file": (["ingest", "picture.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                 ["picture.csv", "not a CSV file", "PNG"]),
    "random-binary": (["ingest", "random.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                      ["random.csv", "binary"]),
    "empty-file": (["ingest", "empty.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                   ["empty.csv", "empty"]),
    "column-missing": (["ingest", "short.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                       ["short.csv", "'to'", "not in the header"]),
    "header-bad-byte": (["ingest", "badheader.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                        ["'from'", "fr\\xf6m"]),
    "header-unclosed-quote": (["ingest", "openquote.csv", "-f", "csv", "-m", "map.yaml", "-w", "{tf}"],
                              ["never closed"]),
    "amlsim-empty-folder": (["ingest", "folder", "-f", "amlsim", "-w", "{tf}"],
                            ["no transactions.csv"]),
    "findings-no-workspace": (["findings", "-w", "{ws}"], ["no workspace at"]),
    "report-no-workspace": (["report", "-w", "{ws}"], ["no workspace at"]),
    "detect-no-workspace": (["detect", "-w", "{ws}"], ["no workspace at"]),
    "sources-no-workspace": (["sources", "-w", "{ws}"], ["no workspace at"]),
    "quarantine-no-workspace": (["quarantine", "-w", "{ws}"], ["no workspace at"]),
    "workspace-is-directory": (["sources", "-w", "folder"], ["is a directory"]),
    "workspace-not-duckdb": (["sources", "-w", "notes.txt"], ["notes.txt", "not a moneytrail workspace"]),
    # DuckDB would open a CSV as an in-memory database: the ingest would "succeed", keep nothing
    "workspace-is-a-csv": (["ingest", "ok.csv", "-f", "csv", "-m", "map.yaml", "-w", "ledger.csv"],
                           ["ledger.csv", "not a moneytrail workspace"]),
    "findings-format-xml": (["findings", "--format", "xml", "-w", "{full}"], ["'xml'"]),
    # checked before a benchmark starts (it once ran the whole 5M-transfer scale bench first)
    "bench-scale-format-xml": (["bench", "scale", "--format", "xml"], ["--format 'xml'", "json or table"]),
    "detect-unknown-typology": (["detect", "--typology", "nope", "-w", "{full}"],
                                ["unknown typology nope", "fan_in"]),
    "detect-param-no-equals": (["detect", "--param", "bad", "-w", "{full}"],
                               ["--param 'bad'", "TYPOLOGY.PARAMETER=VALUE"]),
    "detect-param-not-int": (["detect", "--param", "fan_in.window_days=abc", "-w", "{full}"],
                             ["window_days", "'abc'"]),
    "detect-param-unknown": (["detect", "--param", "fan_in.colour=7", "-w", "{full}"],
                             ["unknown parameter 'colour'"]),
    "detect-param-negative": (["detect", "--param", "fan_in.window_days=-3", "-w", "{full}"],
                              ["window_days", "'-3'", "out of range", "from 1 to 3660"]),
    "detect-config-missing": (["detect", "--config", "nope.yaml", "-w", "{full}"],
                              ["config file not found"]),
    "run-unknown-stage": (["run", "--stage", "nope", "-w", "{full}"], ["unknown stage"]),
    # usage errors: one line too, not click's boxed usage text
    # --format defaults to auto: a CSV without a mapping is not recognised, in one line
    "unrecognised-format": (["ingest", "ok.csv", "-w", "{ws}"], ["could not tell the format", "--format"]),
    "missing-file-argument": (["ingest", "-f", "csv"], ["Missing argument"]),
    "unknown-command": (["frobnicate"], ["No such command", "frobnicate"]),
    "unknown-option": (["sources", "--colour"], ["No such option", "--colour"]),
    "limit-not-a-number": (["findings", "--limit", "many", "-w", "{full}"], ["--limit", "integer"]),
    "findings-unknown-typology": (["findings", "--typology", "nope", "-w", "{full}"],
                                  ["unknown typology nope", "fan_in", "model_risk"]),
    "findings-unknown-status": (["findings", "--status", "closed", "-w", "{full}"],
                                ["--status 'closed'", "under_review"]),
    "findings-min-score-nan": (["findings", "--min-score", "nan", "-w", "{full}"], ["--min-score"]),
    # authority: identity, decisions
    "ingest-new-workspace": (["ingest", "ok.csv", "-f", "csv", "-m", "map.yaml", "-w", "{ws}"],
                             ["no workspace at", "authority init"]),
    "no-identity": (["findings", "-w", "{full}"], ["no acting officer", "--as OFFICER", "MONEYTRAIL_OFFICER"]),
    "no-identity-ingest": (["ingest", "ok.csv", "-f", "csv", "-m", "map.yaml", "-w", "{full}"],
                           ["no acting officer"]),
    "unregistered-officer": (["findings", "--as", "stranger", "-w", "{full}"],
                             ["access denied", "'stranger'", "unregistered-officer", "audit entry"]),
    "registrar-not-deputized": (["detect", "-w", "{full}", "--as", "tf-registrar"],
                                ["access denied", "no-grant", "member of no open case: open a case first"]),
    "unknown-case": (["findings", "--case", "NOPE", "-w", "{full}"],
                     ["access denied", "'NOPE'", "grant 'G-DEMO-1': no-such-case (no such case) [audit"]),
    "audit-log-denied-to-analyst": (["audit", "log", "-w", "{full}"], ["access denied", "audit_read"]),
    "analyst-not-registrar": (["authority", "grant", "activate", "G-DEMO-1", "-w", "{full}"],
                              ["access denied", "registry_change", "own-grant"]),
}

# cases run without an acting officer
NO_IDENTITY = {"no-identity", "no-identity-ingest"}

# cases that must not leave a workspace file behind
NO_WORKSPACE_CREATED = {"unknown-format", "missing-file", "directory-as-file", "csv-without-mapping",
                        "mapping-missing", "mapping-not-yaml", "mapping-a-list", "mapping-unknown-field",
                        "mapping-without-amount", "findings-no-workspace", "report-no-workspace",
                        "detect-no-workspace", "sources-no-workspace", "quarantine-no-workspace",
                        "unrecognised-format", "ingest-new-workspace"}


@pytest.fixture(scope="session")
def error_runs(tmp_path_factory):
    """Run every case in ERRORS once, concurrently; return {id: (CompletedProcess, ws path)}."""
    d = tmp_path_factory.mktemp("cli-errors")
    (d / "folder").mkdir()
    (d / "ok.csv").write_text("d,amt,from,to\n2024-01-05,5,A,B\n")
    (d / "map.yaml").write_text(MAPPING)
    (d / "broken.yaml").write_text("date: [d\n  amount: : :\n")
    (d / "list.yaml").write_text("- date\n- amount\n")
    (d / "extra.yaml").write_text(MAPPING + "colour: blue\n")
    (d / "noamount.yaml").write_text("currency: USD\ndate: d\npayer: {account: from}\npayee: {account: to}\n")
    (d / "klingon.yaml").write_text(MAPPING + "encoding: klingon\n")
    (d / "picture.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    (d / "random.csv").write_bytes(bytes((i * 37 + 11) % 256 for i in range(4096)))
    (d / "empty.csv").write_bytes(b"")
    (d / "short.csv").write_text("d,amt,from\n2024-01-05,5,A\n")
    (d / "badheader.csv").write_bytes(b"d,amt,fr\xf6m,to\n2024-01-05,5,A,B\n")
    (d / "openquote.csv").write_text('d,amt,from,"to\n2024-01-05,5,A,B\n')
    (d / "ledger.csv").write_text(_ledger())
    (d / "notes.txt").write_text("not a database\n" * 20)
    taskforce_workspace(d / "tf.duckdb")
    with Workspace.open(taskforce_workspace(d / "full.duckdb")) as ws:
        ingest_file(ws, d / "ledger.csv", "csv", mapping=d / "map.yaml")

    def one(case: str):
        argv, _ = ERRORS[case]
        ws = d / f"{case}.duckdb"
        env = {"MONEYTRAIL_OFFICER": None} if case in NO_IDENTITY else {}
        for mark, base in (("{full}", "full.duckdb"), ("{tf}", "tf.duckdb")):
            if any(mark in a for a in argv):
                env.update(copy_workspace(d / base, ws, d / f"{case}.keys"))
        argv = [a.replace("{ws}", str(ws)).replace("{full}", str(ws)).replace("{tf}", str(ws)) for a in argv]
        return case, (cli(*argv, cwd=d, env=env), ws)

    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        return dict(pool.map(one, ERRORS))


@pytest.mark.parametrize("case", list(ERRORS))
def test_error_is_one_line_and_nonzero(error_runs, case):
    proc, ws = error_runs[case]
    assert_one_line_error(proc, *ERRORS[case][1])
    assert proc.returncode == 2
    assert proc.stdout == ""
    if case in NO_WORKSPACE_CREATED:
        assert not ws.exists(), "a failing command created a workspace"
        assert not ws.with_suffix(".evidence").exists()


def test_failed_ingest_leaves_no_source_and_no_evidence(error_runs):
    for case in ("png-file", "random-binary", "empty-file", "column-missing", "header-bad-byte"):
        proc, ws = error_runs[case]
        assert proc.returncode == 2
        if ws.exists():
            with Workspace.open(ws) as w:
                assert w.counts()["sources"] == 0 and w.counts()["transactions"] == 0
                assert not [f for f in w.evidence_dir.rglob("*") if f.is_file()], case


# -- success paths -------------------------------------------------------------------------------

def test_ingest_json_reingest_force_quarantine_sources(tmp_path):
    (tmp_path / "ledger.csv").write_text(_ledger())
    (tmp_path / "map.yaml").write_text(MAPPING)
    ws = str(taskforce_workspace(tmp_path / "case.duckdb"))
    p = cli("ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml", "--json", "--legal-basis",
            "subpoena:1", "-w", ws, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "" and len(p.stdout.strip().splitlines()) == 1
    d = json.loads(p.stdout)
    assert {"source_id", "read", "stored", "quarantined"} <= set(d)
    assert (d["read"], d["stored"], d["quarantined"], d["skipped"]) == (12, 11, 1, False)

    p = cli("ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml", "-w", ws, cwd=tmp_path)
    assert p.returncode == 0 and "already ingested" in p.stdout and f"source {d['source_id']}" in p.stdout

    p = cli("ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml", "--force", "--json", "-w", ws,
            cwd=tmp_path)
    d2 = json.loads(p.stdout)
    assert p.returncode == 0 and not d2["skipped"] and d2["source_id"] == d["source_id"]
    assert (d2["read"], d2["stored"], d2["quarantined"]) == (12, 11, 1)

    p = cli("quarantine", "-w", ws, cwd=tmp_path)
    assert p.returncode == 0
    assert p.stdout.splitlines() == [
        "ledger.csv: row 12, column 'amt': amount lots is not a number in this mapping "
        "(decimal '.', thousands ',', at most 4 decimals)    | 2024-03-06,lots,Z,Q"]
    p = cli("quarantine", "--json", "--source", str(d["source_id"]), "-w", ws, cwd=tmp_path)
    q = json.loads(p.stdout)
    assert [(r["source_row"], r["column_name"]) for r in q] == [(12, "amt")]
    # an empty quarantine says so
    p = cli("quarantine", "--source", "99", "-w", ws, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == "no quarantined rows from source 99: every row read was stored"

    p = cli("sources", "--json", "-w", ws, cwd=tmp_path)
    s = json.loads(p.stdout)
    assert len(s) == 1 and s[0]["file_name"] == "ledger.csv" and s[0]["legal_basis"] == ["subpoena:1"]
    assert (s[0]["rows_read"], s[0]["rows_stored"], s[0]["rows_quarantined"]) == (12, 11, 1)
    p = cli("sources", "-w", ws, cwd=tmp_path)
    assert "read 12 = stored 11 + quarantined 1" in p.stdout


def test_workspace_env_var_then_detect_and_findings(tmp_path):
    (tmp_path / "ledger.csv").write_text(_ledger())
    (tmp_path / "map.yaml").write_text(MAPPING)
    env = {"MONEYTRAIL_WORKSPACE": str(taskforce_workspace(tmp_path / "env-case.duckdb"))}
    p = cli("ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "env-case.duckdb").exists()
    assert not (tmp_path / "moneytrail.duckdb").exists()

    p = cli("detect", "--json", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["findings"]["fan_in"] == 1

    p = cli("findings", "--format", "json", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)
    fan = [x for x in f if x["typology"] == "fan_in"]
    assert len(fan) == 1
    assert len(fan[0]["tx_ids"]) == 10 and fan[0]["total_amount"] == pytest.approx(9045.0)
    assert {a["account_id"] for a in fan[0]["accounts"] if a["role"] == "receiver"} == {"Z"}
    assert fan[0]["parameters"]["window_days"] == 14
    # the evidence transaction ids point at rows 1..10 of source 1
    assert sorted(t % 10_000_000_000 for t in fan[0]["tx_ids"]) == list(range(1, 11))

    p = cli("findings", "--format", "csv", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert len(rows) == len(f) and rows[0]["typology"] == "fan_in"
    assert len(rows[0]["tx_ids"].split(";")) == 10

    p = cli("findings", "--format", "table", cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert f"{len(f)} finding(s)" in p.stdout and "fan_in" in p.stdout and "9,045.00" in p.stdout
    # piped: plain, one line per finding, with its accounts and every evidence id, nothing cut
    fan_line = next(line for line in p.stdout.splitlines() if " fan_in " in line)
    assert "│" not in p.stdout and "…" not in fan_line.replace(" … ", " ")
    assert " Z " in fan_line and all(str(t) in fan_line for t in fan[0]["tx_ids"])

    # filters: an account, a score, a triage status
    def keys(*args):
        p = cli("findings", "--format", "json", *args, cwd=tmp_path, env=env)
        assert p.returncode == 0, p.stderr
        return [x["finding_id"] for x in json.loads(p.stdout)]

    assert keys("--account", "Z") == [x["finding_id"] for x in f if "Z" in {a["account_id"] for a in x["accounts"]}]
    assert keys("--account", "S3") and keys("--account", "nobody") == []
    top = max(x["score"] for x in f)
    assert keys("--min-score", str(top)) == [x["finding_id"] for x in f if x["score"] >= top]
    assert keys("--status", "open") == [x["finding_id"] for x in f]
    assert keys("--status", "confirmed") == []
    p = cli("findings", "--account", "nobody", cwd=tmp_path, env=env)
    assert p.returncode == 0 and "no findings match these filters" in p.stdout
    # a transaction by SOURCE:ROW (the ledger has no bank references) or by its id
    row = fan[0]["tx_ids"][0] % 10_000_000_000
    assert fan[0]["finding_id"] in keys("--tx", f"1:{row}") == keys("--tx", str(fan[0]["tx_ids"][0]))
    assert keys("--tx", "1:11") == []         # the payment out of Z is in no fan-in
    p = cli("findings", "--tx", "1:999", cwd=tmp_path, env=env)
    assert p.returncode != 0 and "--tx '1:999': no such transaction" in p.stderr

    # --workspace wins over the environment variable
    p = cli("sources", "-w", str(tmp_path / "other.duckdb"), cwd=tmp_path, env=env)
    assert_one_line_error(p, "no workspace")


def test_help_and_typologies_succeed(tmp_path):
    p = cli("--help", cwd=tmp_path)
    assert p.returncode == 0 and "ingest" in p.stdout
    p = cli("typologies", "--json", cwd=tmp_path)
    assert p.returncode == 0
    assert {"fan_in", "fan_out", "cycle"} <= {t["id"] for t in json.loads(p.stdout)}
