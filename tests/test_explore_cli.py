"""``moneytrail tx`` and ``moneytrail account``, and naming a transaction by the bank's own
reference or SOURCE:ROW wherever the CLI takes one (issue 16, item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from moneytrail.cli.main import app
from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority
from moneytrail.workspace import Workspace

from trace_helpers import load_ledger, tx_id

LEDGER = [
    ("2024-01-01", "X", "A", 100),      # 1: tainted, reference FT-1
    ("2024-01-02", "cash", "A", 50),    # 2
    ("2024-01-03", "A", "Z", 120),      # 3: reference FT-3
    ("2024-01-04", "cash", "A", 200),   # 4: reference DUP
    ("2024-01-05", "Z", "cash", 60),    # 5: reference DUP as well (a reference two rows share)
]


@pytest.fixture
def case(tmp_path):
    path = tmp_path / "case.duckdb"
    with Workspace.open(path) as ws:
        setup_demo_authority(ws)
        load_ledger(ws.for_case(DEMO_CASE), LEDGER)
        for row, ref in ((1, "FT-1"), (3, "FT-3"), (4, "DUP"), (5, "DUP")):
            ws.con.execute("UPDATE main.transactions SET external_id = ? WHERE tx_id = ?", [ref, tx_id(row)])
        # a reference that reads as another transaction's SOURCE:ROW
        ws.con.execute("UPDATE main.transactions SET customer_reference = '1:3' WHERE tx_id = ?", [tx_id(2)])
    return path


def run(*args):
    r = CliRunner().invoke(app, [*args], catch_exceptions=False, env={"MONEYTRAIL_OFFICER": DEMO_OFFICER,
                                                                       "MONEYTRAIL_TABLES": "plain"})
    assert r.exit_code == 0, r.output
    return r


def err(*args) -> str:
    """The command as a user runs it: it must fail with one line on stderr, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_") or k == "MONEYTRAIL_KEY_DIR"}
    env["MONEYTRAIL_OFFICER"] = DEMO_OFFICER
    p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    lines = p.stderr.splitlines()
    assert p.returncode != 0 and len(lines) == 1 and lines[0].startswith("error:"), p.stderr
    return lines[0]


def test_tx_by_reference_source_row_and_id_with_provenance(case):
    by_ref = json.loads(run("tx", "FT-3", "--json", "-w", str(case)).output)
    by_row = json.loads(run("tx", "1:3", "--json", "-w", str(case)).output)     # also tx 2's customer ref
    by_id = json.loads(run("tx", f"id:{tx_id(3)}", "--json", "-w", str(case)).output)
    assert [r["tx_id"] for r in by_ref] == [r["tx_id"] for r in by_id] == [tx_id(3)]
    assert sorted(r["tx_id"] for r in by_row) == [tx_id(2), tx_id(3)]
    r = by_ref[0]
    assert (r["source_id"], r["source_row"], r["file_name"], r["external_id"]) == (1, 3, "golden", "FT-3")
    text = run("tx", "FT-3", "-w", str(case)).output
    assert "source            1:3 (source 1, data row 3)" in text and "cited by no finding" in text
    assert "120.00 USD" in text and "A → Z" in text
    two = run("tx", "DUP", "-w", str(case)).output
    assert "'DUP' names 2 transactions" in two and str(tx_id(4)) in two and str(tx_id(5)) in two


def test_unknown_and_hostile_references_are_one_clear_error(case):
    for ref in ("NOPE", "1:99", "id:77", "x' OR 1=1 --"):
        assert "no transaction" in err("tx", ref, "-w", str(case)), ref
    assert "id: takes a whole number" in err("tx", "id:abc", "-w", str(case))


def test_trace_takes_the_banks_reference_and_source_row(case):
    by_id = json.loads(run("trace", "--source", str(tx_id(1)), "-f", "json", "--no-save", "-w", str(case)).output)
    by_ref = json.loads(run("trace", "--source", "FT-1", "-f", "json", "--no-save", "-w", str(case)).output)
    by_row = json.loads(run("trace", "--source", "1:1", "-f", "json", "--no-save", "-w", str(case)).output)
    for part in ("accounts", "totals", "exits", "schedule"):
        assert by_id["rules"]["libr"][part] == by_ref["rules"]["libr"][part] == by_row["rules"]["libr"][part]
    assert by_ref["sources"][0]["tx_id"] == tx_id(1)
    back = json.loads(run("trace", "-d", "backward", "--target", "FT-3", "-s", "FT-1", "-f", "json", "--no-save",
                          "-w", str(case)).output)
    assert back["target"]["tx_id"] == tx_id(3) and back["rules"]["libr"]["tainted"] == 70
    line = err("trace", "--source", "DUP", "--no-save", "-w", str(case))
    assert "'DUP' names 2 transactions" in line and "1:4" in line
    assert "--target 'NOPE': no such transaction" in err("trace", "-d", "backward", "--target", "NOPE", "--no-save",
                                                          "-w", str(case))


def test_account_shows_profile_flows_counterparties_paged_transactions_and_findings(case):
    out = json.loads(run("account", "A", "--json", "--limit", "2", "-w", str(case)).output)
    assert out["flows"]["n_in"] == 3 and out["flows"]["n_out"] == 1
    assert out["transactions"]["total"] == 4 and len(out["transactions"]["rows"]) == 2
    text = run("account", "A", "--limit", "2", "-w", str(case)).output
    assert "transactions 1-2 of 4 (newest first)" in text and "(2 more: --offset 2)" in text
    assert "FT-3" in text and "1:4" in text and "named by no finding" in text
    assert "no statement balance" in text and "--opening" in text
    page2 = run("account", "A", "--limit", "2", "--offset", "2", "-w", str(case)).output
    assert "transactions 3-4 of 4" in page2 and "FT-1" in page2
    assert "no account 'NOBODY'" in err("account", "NOBODY", "-w", str(case))


def test_web_transactions_filter_uses_the_same_names(case):
    from moneytrail import _reads

    with Workspace.open(case) as ws:
        cw = ws.for_case(DEMO_CASE)
        for ref, want in (("FT-3", [tx_id(3)]), ("1:3", [tx_id(2), tx_id(3)]), ("DUP", [tx_id(4), tx_id(5)]),
                          (f"id:{tx_id(1)}", [tx_id(1)])):
            rows, total = _reads.transactions(cw, ref=ref)
            assert sorted(r["tx_id"] for r in rows) == want and total == len(want), ref
