"""The trace stage: balances in the documented order, opening balances, statement reconciliation."""

from __future__ import annotations

import json
from decimal import Decimal

from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline

from trace_helpers import load_ledger, tx_id

STATEMENT_MAP = """currency: USD
date: {column: Date, format: "%Y-%m-%d"}
amount: {column: Amount}
holder: {account: {value: "HOLDER"}}
counterparty: {account: Other}
balance: Balance
"""

S1 = """Date,Amount,Other,Balance
2024-01-02,100.00,X,1100.00
2024-01-05,-30.00,Y,1070.00
2024-01-09,50.00,Z,1200.00
2024-01-20,-10.00,Y,1190.00
"""
S2 = """Date,Amount,Other,Balance
2024-03-01,20.00,X,1250.00
2024-03-02,-50.00,Y,1200.00
"""
S3 = """Date,Amount,Other,Balance
2024-02-03,-5.00,Q,495.00
2024-02-02,-100.00,Q,500.00
2024-02-01,100.00,R,600.00
"""


def _ingest_statement(ws, tmp_path, name, text, holder):
    (tmp_path / f"{name}.csv").write_text(text)
    (tmp_path / f"{name}.yaml").write_text(STATEMENT_MAP.replace("HOLDER", holder))
    r = ingest_file(ws, tmp_path / f"{name}.csv", "csv", mapping=tmp_path / f"{name}.yaml")
    assert r.quarantined == 0
    return r.source_id


def test_balances_keep_the_documented_order_and_columns(ws):
    # two transactions at one timestamp: tx_id order (row 2 before row 3), whatever the amounts
    load_ledger(ws, [("2024-01-01", "cash", "A", 100), ("2024-01-02", "A", "B", 70), ("2024-01-02", "cash", "A", 5)])
    s = run_pipeline(ws, stages=["resolve", "graph", "trace"])["stages"]["trace"]
    assert s["balance_events"] == 4 and s["accounts"] == 2
    rows = ws.records("SELECT * FROM balances WHERE account_id = 'A' ORDER BY seq")
    assert [r["tx_id"] for r in rows] == [tx_id(1), tx_id(2), tx_id(3)]
    assert [r["net_after"] for r in rows] == [100, 30, 35]
    assert {"account_id", "tx_id", "ts", "seq", "direction", "amount", "net_after", "statement_balance",
            "opening", "balance_after"} <= set(rows[0])
    assert s["openings"] == {"assumed-zero": 2}


def test_openings_precedence_and_reconciliation(ws, tmp_path):
    s1 = _ingest_statement(ws, tmp_path, "s1", S1, "CHK-1")
    s2 = _ingest_statement(ws, tmp_path, "s2", S2, "CHK-1")
    s3 = _ingest_statement(ws, tmp_path, "s3", S3, "SAV-9")   # newest first
    ws.con.execute("UPDATE account_records SET attributes = ? WHERE account_id = 'X'",
                   [json.dumps({"initial_deposit": "250"})])
    out = run_pipeline(ws, stages=["resolve", "graph", "trace"], params={"trace": {"openings": {"Y": "75"}}})
    s = out["stages"]["trace"]
    op = {r["account_id"]: (r["opening"], r["basis"]) for r in ws.records("SELECT * FROM balance_openings")}
    assert op["CHK-1"] == (Decimal("1000"), "statement")
    assert op["SAV-9"] == (Decimal("500"), "statement")      # read in the statement's own (reversed) order
    assert op["X"] == (Decimal("250"), "account")
    assert op["Y"] == (Decimal("75"), "given")
    brk = ws.records("SELECT * FROM balance_breaks ORDER BY account_id, kind, ts")
    got = {(b["account_id"], b["kind"], b["source_id"], None if b["difference"] is None else float(b["difference"]))
           for b in brk if b["kind"] != "negative"}
    assert got == {
        ("CHK-1", "break", s1, 80.0),        # 1070 + 50 = 1120, statement says 1200
        ("CHK-1", "seam", s2, 40.0),         # statement 2 opens at 1230, statement 1 closed at 1190
        ("CHK-1", "gap", s2, None),          # 20 Jan -> 1 Mar: 41 days no statement covers
        ("CHK-1", "ledger", None, 80.0),     # the reconstruction misses the 80 ...
        ("CHK-1", "ledger", None, 120.0),    # ... and then the 40 more at the seam
    }
    assert not [b for b in brk if b["account_id"] == "SAV-9"]    # a consistent newest-first statement
    assert s["breaks"] == {"break": 1, "gap": 1, "ledger": 2, "seam": 1}
    chk = ws.records("SELECT balance_after, statement_balance FROM balances WHERE account_id = 'CHK-1' ORDER BY seq")
    assert [r["balance_after"] for r in chk] == [1100, 1070, 1120, 1110, 1130, 1080]
    assert s3 and s["negative_unknown_opening"] >= 1       # counterparties seen on one side only


def test_negative_balance_flagged_where_the_opening_is_known(ws):
    load_ledger(ws, [("2024-01-01", "A", "B", 100), ("2024-01-02", "cash", "A", 300)])
    run_pipeline(ws, stages=["resolve", "graph", "trace"], params={"trace": {"openings": {"A": "40"}}})
    neg = ws.records("SELECT account_id, tx_id, difference FROM balance_breaks WHERE kind = 'negative'")
    assert neg == [{"account_id": "A", "tx_id": tx_id(1), "difference": Decimal("-60")}]


def test_a_bank_statements_own_balances_open_the_account_and_are_reconciled(ws, tmp_path):
    """Statements in a bank's format state opening and closing balances (camt OPBD/CLBD, MT940
    :60F:/:62F:): the first opens the account; each must close at its opening plus its entries;
    consecutive statements must meet, without a gap in dates."""
    from moneytrail.ingest.sources import register_source
    from moneytrail.ingest.statement import CREDIT, DEBIT, Balance, Entry, Statement
    from moneytrail.ingest.statements import load_statements

    def stmt(no, opening, closing, od, cd):
        return Statement(position=f"Stmt[{no}]", kind="camt.053", account="DE02", currency="EUR", statement_id=f"S{no}",
                         opening_booked=Balance(opening, od), closing_booked=Balance(closing, cd))

    def entry(i, amount, direction, day):
        return Entry(position=f"Ntry[{i}]", amount=amount, direction=direction, booking_date=day,
                     counterparty_account=f"CP{i}")

    p = tmp_path / "stmt.xml"
    p.write_bytes(b"<Document/>")
    sid = register_source(ws, p, "camt", "transactions", None, [], False).source_id
    load_statements(ws, sid, "camt", [
        stmt(1, "1000.00", "1450.50", "2024-01-01", "2024-01-31"),
        entry(1, "500.50", CREDIT, "2024-01-05"), entry(2, "50.00", DEBIT, "2024-01-20"),
        stmt(2, "1450.50", "1400.00", "2024-02-01", "2024-02-29"),     # closes 20 short: a break
        entry(3, "30.50", DEBIT, "2024-02-10"),
        stmt(3, "1500.00", "1500.00", "2024-05-01", "2024-05-31"),     # opens 100 above: a seam, after a gap
        entry(4, "10.00", CREDIT, "2024-05-02"), entry(5, "10.00", DEBIT, "2024-05-03")])
    s = run_pipeline(ws, stages=["resolve", "graph", "trace"])["stages"]["trace"]
    op = {r["account_id"]: (r["opening"], r["basis"], r["detail"]) for r in ws.records("SELECT * FROM balance_openings")}
    assert op["DE02"][:2] == (Decimal("1000.00"), "statement") and "opening booked balance 1000.0000" in op["DE02"][2]
    brk = {(b["kind"], None if b["difference"] is None else float(b["difference"])): b["detail"]
           for b in ws.records("SELECT * FROM balance_breaks WHERE account_id = 'DE02'")}
    assert set(brk) == {("break", -20.0), ("seam", 100.0), ("gap", None)}
    assert "statement 2 (camt.053 S2) opens at 1450.5000 and closes at 1400.0000" in brk[("break", -20.0)]
    assert "previous statement (2 of source" in brk[("seam", 100.0)]
    assert brk[("gap", None)].startswith("62 days between")
    assert s["openings"]["statement"] == 1
