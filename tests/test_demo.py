"""The demo end to end, as a new user runs it: one command, a report, the planted schemes found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from moneytrail.workspace.cases import RECORD_TABLES
from moneytrail.demo import DEMO_CASE, DEMO_LOGIN_OFFICERS, DEMO_REGISTRAR
from moneytrail.workspace.cases import schema_name


@pytest.fixture(scope="module")
def demo(demo_case) -> tuple[Path, subprocess.CompletedProcess]:
    """This module's copy of the demo folder, and the ``moneytrail demo --out OUT`` run that built
    it once for the session (conftest's demo_build)."""
    return demo_case.out, demo_case.proc


def test_demo_prints_the_report_path(demo, demo_build):
    out, proc = demo
    assert proc.returncode == 0, proc.stderr
    report = Path(proc.stdout.strip().splitlines()[-1])
    assert report == demo_build.out / "report.html" and report.is_file()   # the folder it was built in
    html = (out / report.name).read_text(encoding="utf-8")
    assert "<svg" in html and "fan_in" in html and "Red flag" in html
    # one readable line per stage: no dicts, and a figure the user cannot act on comes with the action
    lines = proc.stderr.splitlines()
    stages = {ln.split(":")[0].split(" (")[0]: ln for ln in lines}
    assert {"resolve", "graph", "detect", "score", "trace", "report"} <= set(stages), lines
    assert all(len(ln) < 400 and "{" not in ln for ln in lines), [ln for ln in lines if len(ln) >= 400 or "{" in ln]
    assert "findings from" in stages["detect"] and "moneytrail findings" in stages["detect"]
    assert "go negative with no opening balance: pass --opening" in stages["trace"]


def test_demo_loses_no_row_and_keeps_provenance(demo):
    out, _ = demo
    con = duckdb.connect(str(out / "case.duckdb"), read_only=True)
    rows = con.execute("SELECT source_id, rows_read, rows_stored, rows_quarantined, evidence_path, role "
                       "FROM sources").fetchall()
    assert len(rows) >= 3
    try:
        for sid, read, stored, quarantined, evidence, role in rows:
            assert read == stored + quarantined and read > 0
            if role == "accounts":  # account registers: each stored row is an account record
                n = con.execute("SELECT count(*) FROM accounts WHERE "
                                "json_extract(attributes, '$.kyc_source_id')::INTEGER = ?", [sid]).fetchall()[0][0]
            elif role in RECORD_TABLES:  # employer and contract records: a row of their table each
                n = con.execute(f"SELECT count(*) FROM {role} WHERE source_id = ?", [sid]).fetchall()[0][0]
            else:
                n = con.execute("SELECT count(*) FROM transactions WHERE source_id = ?", [sid]).fetchall()[0][0]
            assert n == stored, (sid, role)
            assert (out / "case.evidence" / evidence).is_file()
    except BaseException:
        con.close()
        raise
    # the three banks' rows (bank D's, in inputs/records, are the contracts case's)
    n = con.execute("SELECT count(*) FROM transactions t JOIN sources s USING (source_id) "
                    "WHERE s.original_path NOT LIKE '%/records/%'").fetchall()[0][0]
    truth = json.loads((out / "inputs" / "planted_schemes.json").read_text())
    assert n == truth["n_rows"] == truth["n_transactions"] + truth["n_seen_twice"]
    records = json.loads((out / "inputs" / "records" / "records_truth.json").read_text())["files"]
    for name, f in records.items():
        got = con.execute("SELECT rows_read, rows_stored FROM sources WHERE file_name = ?", [name]).fetchall()
        assert got == [(f["rows"], f["rows"])], name
    # a transfer two banks report is one movement: the graph counts it once (a leg left unmatched
    # would count twice: a handful at most)
    con.execute(f"SET search_path = '{schema_name(DEMO_CASE)}'")
    matched = con.execute("SELECT count(*) FROM transfer_matches").fetchall()[0][0]
    edges = con.execute("SELECT count(*) FROM edges").fetchall()[0][0]
    assert matched >= 0.999 * truth["n_seen_twice"]
    assert truth["n_transactions"] <= edges <= truth["n_transactions"] + 0.001 * truth["n_seen_twice"]
    con.close()


def test_demo_banks_answer_in_three_formats_and_bank_c_balances_reach_tracing(demo):
    out, _ = demo
    manifest = json.loads((out / "inputs" / "planted_schemes.json").read_text())["files"]
    assert {f["file"][:3]: f["format"] for f in manifest} == {"fnb": "xlsx", "hcb": "csv", "acb": "camt"}
    con = duckdb.connect(str(out / "case.duckdb"), read_only=True)
    try:
        # the three banks' files (bank D's records side is in inputs/records: records_truth.json)
        fmts = dict(con.execute("SELECT file_name, format FROM sources WHERE role <> 'accounts' "
                                "AND original_path NOT LIKE '%/records/%'").fetchall())
        assert {f["file"]: f["format"] for f in manifest} == fmts
        con.execute(f"SET search_path = '{schema_name(DEMO_CASE)}'")
        n_acb = con.execute("SELECT count(DISTINCT account_id) FROM main.statements").fetchone()[0]
        openings = dict(con.execute("SELECT basis, count(*) FROM balance_openings GROUP BY 1").fetchall())
        assert openings.get("statement") == n_acb > 0       # bank C's accounts open at their stated balance
        # no statement disagrees with the reconstruction, and no account with a stated opening goes
        # below zero: a transfer both banks report is one movement, and the receiving account's
        # opening counts it at its own booking (trace/balances.py, OPENINGS_SQL)
        assert con.execute("SELECT count(*) FROM balance_breaks").fetchone()[0] == 0
    finally:
        con.close()


def _finding_roles(con, typology: str) -> list[dict[str, str]]:
    out = []
    for (fid,) in con.execute("SELECT finding_id FROM findings WHERE typology = ?", [typology]).fetchall():
        out.append(dict(con.execute("SELECT account_id, role FROM finding_accounts WHERE finding_id = ?",
                                    [fid]).fetchall()))
    return out


def test_demo_finds_the_planted_schemes(demo):
    out, _ = demo
    truth = {s["name"]: s["accounts"] for s in
             json.loads((out / "inputs" / "planted_schemes.json").read_text())["schemes"]}
    con = duckdb.connect(str(out / "case.duckdb"), read_only=True)
    # what the case derived lives in its own schema (moneytrail.workspace.cases)
    con.execute(f"SET search_path = '{schema_name(DEMO_CASE)}'")
    funnel = truth["trafficking_funnel"]["funnel"]
    assert any(f.get(funnel) == "receiver" for f in _finding_roles(con, "fan_in"))
    broker = truth["front_company"]["broker"]
    assert any(f.get(broker) == "sender" for f in _finding_roles(con, "fan_out"))
    ring = {truth["laundering_cycle"][k] for k in ("shell_a", "shell_b", "shell_c")}
    assert any(ring <= set(f) for f in _finding_roles(con, "cycle"))
    pair = {truth["laundering_cycle"][k] for k in ("shell_a", "shell_d")}
    assert any(pair == set(f) for f in _finding_roles(con, "round_trip"))
    # every finding carries its evidence and an explanation citing a source
    bad = con.execute("""SELECT count(*) FROM findings f WHERE explanation NOT LIKE '%Red flag:%'
                         OR NOT (EXISTS (SELECT 1 FROM finding_transactions t WHERE t.finding_id = f.finding_id)
                                 OR EXISTS (SELECT 1 FROM finding_records r WHERE r.finding_id = f.finding_id))
                      """).fetchall()[0][0]
    assert bad == 0
    con.close()


def test_demo_runs_under_its_own_task_force_and_logs_every_decision(demo):
    from moneytrail.audit import AuditLog
    from moneytrail.demo import DEMO_CASE, DEMO_OFFICER
    from moneytrail.workspace import Workspace

    out, _ = demo
    assert (out / "taskforce.yaml").is_file()
    with Workspace.open(out / "case.duckdb") as ws:
        log = AuditLog.of(ws)
        assert log.verify().ok
        entries = list(log.entries())
    decisions = [e for e in entries if e["kind"] == "decision"]
    assert all(e["allowed"] for e in decisions)
    acts = [e["action"] for e in decisions if e["officer"] == DEMO_OFFICER]
    assert acts[0] == "case_open" and acts.count("ingest") >= 3 and acts[-1] == "run"
    assert all(e["case"] == DEMO_CASE and e["grant"] == "G-DEMO-1" for e in decisions if e["officer"] == DEMO_OFFICER)
    # then the registrar issues the demo officers' web sign-ins (demo-logins.txt), each decided
    issued = [e for e in entries if e.get("resource", {}).get("change") == "login.issue"]
    assert [e["resource"]["login"] for e in issued] == list(DEMO_LOGIN_OFFICERS)
    assert all(e["officer"] == DEMO_REGISTRAR and e["allowed"] for e in issued)
    run_reads = [e for e in entries if e["kind"] == "read" and e["officer"] == DEMO_OFFICER]
    assert run_reads[-1]["what"].get("run_summary")      # the run's summary, the last read of the analyst


def test_report_command_renders_any_workspace(demo, tmp_path):
    from moneytrail.demo import DEMO_OFFICER

    out, _ = demo
    target = tmp_path / "again.html"
    proc = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "report", "--out", str(target),
                           "--workspace", str(out / "case.duckdb"), "--as", DEMO_OFFICER],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(target) and "finding" in target.read_text(encoding="utf-8")


def test_demo_trace_follows_the_money_from_bank_a_into_bank_c_through_matched_transfers(demo):
    out, _ = demo
    truth = {s["name"]: s for s in json.loads((out / "inputs" / "planted_schemes.json").read_text())["schemes"]}
    acc = truth["cross_bank_layering"]["accounts"]
    con = duckdb.connect(str(out / "case.duckdb"), read_only=True)
    try:
        con.execute(f"SET search_path = '{schema_name(DEMO_CASE)}'")
        got = dict(con.execute("SELECT account_id, tainted_received FROM trace_accounts WHERE rule = 'libr'").fetchall())
        assert got.get(acc["layer_b"], 0) > 0 and got.get(acc["layer_c"], 0) > 0 and got.get(acc["offshore"], 0) > 0
        # each bank wrote the other's account its own way: bank A's wires reach bank B, and bank B's
        # reach bank C, only through the matched transfers
        rules = dict(con.execute("SELECT raw_account, rule FROM account_map WHERE account_id IN (?, ?) "
                                 "AND raw_account <> account_id", [acc["layer_b"], acc["layer_c"]]).fetchall())
        assert "matched-transfer" in rules.values()
        # the company's two accounts and the owner's are one entity each (the analyst confirmed the pairs)
        ents = dict(con.execute("SELECT account_id, entity_id FROM account_entities").fetchall())
        assert ents[acc["layer_b"]] == ents[acc["layer_c"]] and ents[acc["owner_a"]] == ents[acc["owner_c"]]
    finally:
        con.close()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="entities"' in html and 'id="matched-transfers"' in html and 'id="traces"' in html


def test_demo_contracts_case_finds_every_planted_employer_and_contract_scheme(demo):
    """The second case: the inspector general's agent's, with the agency's contract records, the
    employers' payrolls and wage reports and bank D's ledger; every scheme planted in
    records_truth.json is found by its typologies (moneytrail.bench.records scores them), each
    finding citing its records or transactions, and none of it is in the trafficking case."""
    from moneytrail.bench.records import SCHEMES, score
    from moneytrail.demo import DEMO_AUDITOR, DEMO_CONTRACTS_CASE
    from moneytrail.workspace import Workspace

    out, proc = demo
    assert "second case: OP-DEMO-CONTRACTS" in proc.stderr
    assert (out / "report-contracts.html").is_file()
    truth = json.loads((out / "inputs" / "records" / "records_truth.json").read_text())
    with Workspace.open(out / "case.duckdb") as ws:
        case = ws.for_case(DEMO_CONTRACTS_CASE)
        missed = {}
        for scheme, (side, typs) in SCHEMES.items():
            for typ in typs:
                s = score(case, truth, typ, truth[side][scheme])
                if s["recall"] != 1.0:
                    missed[typ] = s
        assert missed == {}
        assert case.query("SELECT count(*) FROM findings WHERE explanation NOT LIKE '%Red flag:%'")[0][0] == 0
        # the trafficking case sees none of it
        demo_case = ws.for_case(DEMO_CASE)
        assert all(demo_case.query(f"SELECT count(*) FROM {t}")[0][0] == 0 for t in RECORD_TABLES)
        opened = ws.query("SELECT function, opened_by FROM cases WHERE case_id = ?", [DEMO_CONTRACTS_CASE])
    assert opened == [("contract-oversight", DEMO_AUDITOR)]
