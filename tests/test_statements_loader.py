"""The one loader behind every bank statement format (moneytrail.ingest.statements): what a reader
yields is checked the same way for every format, and every record is stored or quarantined with
its place in the file (read = stored + quarantined)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from moneytrail.ingest.sources import register_source
from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement
from moneytrail.ingest.statements import load_statements
from moneytrail.workspace import TX_ID_STRIDE, Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "case.duckdb")
    yield w
    w.close()


def _source(ws, tmp_path, name="stmt.xml"):
    p = tmp_path / name
    p.write_bytes(b"<Document/>")
    return register_source(ws, p, "camt", "transactions", None, [], False).source_id


def _stmt(**kw):
    base = dict(position="/Document/BkToCstmrStmt/Stmt[1]", kind="camt.053", account="DE89370400440532013000",
                currency="EUR", holder_name="Muster GmbH", bank_id="COBADEFFXXX",
                opening_booked=Balance("1000.00", "2024-01-01"), closing_booked=Balance("1450.50", "2024-01-31"))
    base.update(kw)
    return Statement(**base)


def _entry(i, amount="100.00", direction=CREDIT, **kw):
    base = dict(position=f"/Document/BkToCstmrStmt/Stmt[1]/Ntry[{i}]", amount=amount, direction=direction,
                booking_date=f"2024-01-{i + 1:02d}", raw=f"<Ntry>{i}</Ntry>")
    base.update(kw)
    return Entry(**base)


def test_entries_become_transactions_with_their_place_in_the_file(ws, tmp_path):
    sid = _source(ws, tmp_path)
    recs = [_stmt(),
            _entry(1, "500.50", CREDIT, counterparty_name="Anna Beispiel", counterparty_account="FR14 2004 1010 0505 0001 3M02 606",
                   counterparty_bank="PSSTFRPPXXX", end_to_end_id="E2E-1", bank_reference="REF-1", remittance="Invoice 7",
                   tx_code="PMNT/RCDT/ESCT", channel="transfer", value_date="2024-01-03", time="10:15:00"),
            _entry(2, "50", DEBIT, channel="cash", location="ATM  4711 Main St, Houston TX"),
            _entry(3, "7.25", DEBIT, counterparty_name="Coffee Shop")]
    counts = load_statements(ws, sid, "camt", recs)
    assert (counts["read"], counts["stored"], counts["quarantined"], counts["statements"]) == (3, 3, 0, 1)
    rows = ws.records("SELECT * FROM transactions ORDER BY source_row")
    r1, r2, r3 = rows
    assert r1["tx_id"] == sid * TX_ID_STRIDE + 1 and r1["source_position"].endswith("/Ntry[1]")
    assert (r1["orig_account"], r1["bene_account"]) == ("FR1420041010050500013M02606", "DE89370400440532013000")
    assert r1["amount"] == Decimal("500.50") and r1["currency"] == "EUR"
    assert r1["ts"] == dt.datetime(2024, 1, 2, 10, 15) and r1["value_date"] == dt.date(2024, 1, 3)
    assert (r1["end_to_end_id"], r1["external_id"], r1["description"], r1["tx_type"]) == \
        ("E2E-1", "REF-1", "Invoice 7", "PMNT/RCDT/ESCT")
    assert (r1["counterparty_name"], r1["counterparty_bank"]) == ("Anna Beispiel", "PSSTFRPPXXX")
    assert (r2["orig_account"], r2["bene_account"]) == ("DE89370400440532013000", "cash")
    assert (r1["location"], r2["location"]) == (None, "ATM 4711 Main St, Houston TX")   # where the cash moved
    assert r3["bene_account"] == "name:COFFEE SHOP"
    st = ws.records("SELECT * FROM statements")[0]
    assert (st["opening_booked"], st["closing_booked"]) == (Decimal("1000.00"), Decimal("1450.50"))
    assert st["closing_booked_date"] == dt.date(2024, 1, 31) and st["holder_name"] == "Muster GmbH"
    assert (st["entries_read"], st["entries_stored"], st["first_row"], st["last_row"]) == (3, 3, 1, 3)
    acc = {r["account_id"]: r for r in ws.records("SELECT * FROM account_records")}
    assert acc["DE89370400440532013000"]["owner_name"] == "Muster GmbH"
    assert acc["cash"]["kind"] == "cash" and acc["name:COFFEE SHOP"]["kind"] == "external"


def test_what_cannot_be_used_is_quarantined_with_the_reason_and_currency_is_never_assumed(ws, tmp_path):
    sid = _source(ws, tmp_path)
    recs = [_stmt(currency=None),
            _entry(1, "10.00", CREDIT, currency="usd"),         # the entry says its currency: stored
            _entry(2, "10.00", CREDIT),                         # nobody says: quarantined
            _entry(3, "12,50", CREDIT, currency="EUR"),
            _entry(4, "1.00", None, currency="EUR"),
            _entry(5, "1.00", CREDIT, currency="EUR", booking_date="2024-13-01"),
            _entry(6, "1.00", CREDIT, currency="EUR", status="PDNG"),
            _entry(7, "1000000000000", DEBIT, currency="EUR"),
            Bad("lines 40-52", "16,195,...", "account trailer control total 10 differs from 9", column="49", counts_entries=3),
            _entry(8, "2.00", DEBIT, currency="EUR")]
    counts = load_statements(ws, sid, "camt", recs)
    assert (counts["read"], counts["stored"], counts["quarantined"]) == (11, 2, 9)
    q = ws.records("SELECT source_row, column_name, reason, source_position FROM quarantine ORDER BY source_row")
    reasons = {r["source_row"]: (r["column_name"], r["reason"]) for r in q}
    assert reasons[2] == ("currency", "no currency: neither the entry nor its statement states one (never assumed)")
    assert reasons[3][0] == "amount" and "12,50" in reasons[3][1]
    assert reasons[4][0] == "direction"
    assert reasons[5][0] == "booking date" and "2024-13-01" in reasons[5][1]
    assert reasons[6][0] == "status" and "PDNG" in reasons[6][1]
    assert reasons[7][0] == "amount" and "not below" in reasons[7][1]
    assert "3 entries, rows 8-10, quarantined together" in reasons[8][1]
    # the group's rows keep their numbers: the next entry is row 11
    assert ws.scalar("SELECT max(source_row) FROM transactions") == 11
    assert [r["source_position"] for r in q][-1] == "lines 40-52"
    st = ws.records("SELECT entries_read, entries_stored FROM statements")[0]
    assert (st["entries_read"], st["entries_stored"]) == (11, 2)


def test_entries_of_a_statement_without_an_account_are_quarantined(ws, tmp_path):
    sid = _source(ws, tmp_path)
    counts = load_statements(ws, sid, "camt", [_stmt(account=None), _entry(1), _entry(2)])
    assert (counts["stored"], counts["quarantined"]) == (0, 2)
    assert ws.scalar("SELECT DISTINCT column_name FROM quarantine") == "account"


def test_bad_balances_are_problems_of_the_statement_not_lost_entries(ws, tmp_path):
    sid = _source(ws, tmp_path)
    counts = load_statements(ws, sid, "mt940", [
        _stmt(kind="mt940", opening_booked=Balance("12x", "240101", date_format="%y%m%d"),
              closing_booked=Balance("5.00", "240131", negative=True, date_format="%y%m%d")),
        Bad(":28C: line 3", ":28C:abc", "statement number is not a number", counts_entries=0),
        _entry(1)])
    assert counts["stored"] == 1
    st = ws.records("SELECT * FROM statements")[0]
    assert st["opening_booked"] is None and st["closing_booked"] == Decimal("-5.00")
    assert st["closing_booked_date"] == dt.date(2024, 1, 31)
    assert any("opening booked" in p for p in st["problems"]) and any("statement number" in p for p in st["problems"])


# -- staged on disk, published at the end ------------------------------------------------------------

def _many(n_statements, per_statement, cp=lambda s, i: f"CP{s}-{i}"):
    for s in range(n_statements):
        yield _stmt(position=f"/Document/BkToCstmrStmt/Stmt[{s + 1}]", account=f"DE{s:020d}", statement_id=f"S{s}")
        for i in range(per_statement):
            if i == 3:
                yield _entry(i + 1, "12,50")               # quarantined
            else:
                yield _entry(i + 1, f"{i + 1}.00", CREDIT if i % 2 else DEBIT, counterparty_account=cp(s, i),
                             counterparty_name=f"Name {s}-{i}")


def test_many_batches_lose_nothing_and_each_account_keeps_its_first_naming(ws, tmp_path, monkeypatch):
    import moneytrail.ingest.statements as S
    from conftest import check_conservation

    monkeypatch.setattr(S, "BATCH", 7)      # 50 statements of 9 entries: dozens of staged batches
    sid = _source(ws, tmp_path)
    # every statement pays the same three counterparties, and its holder is paid by the next statement's
    cp = lambda s, i: ("SHARED-A", "SHARED-B", "SHARED-C")[i % 3] if i < 6 else f"DE{s + 1:020d}"
    counts = load_statements(ws, sid, "camt", _many(50, 9, cp))
    assert (counts["read"], counts["stored"], counts["quarantined"], counts["statements"]) == (450, 400, 50, 50)
    ws.con.execute("UPDATE sources SET rows_read = 450, rows_stored = 400, rows_quarantined = 50 WHERE source_id = ?",
                   [sid])
    check_conservation(ws, sid)
    assert ws.query("SELECT statement_no, first_row, last_row, entries_read, entries_stored FROM statements "
                    "ORDER BY statement_no")[:2] == [(1, 1, 9, 9, 8), (2, 10, 18, 9, 8)]
    assert ws.scalar("SELECT count(*) FROM statements") == 50
    # one record per account, the first that named it (row, name), whichever batch it was in
    rec = {r["account_id"]: r for r in ws.records("SELECT * FROM account_records WHERE source_id = ?", [sid])}
    assert ws.scalar("SELECT count(*) - count(DISTINCT account_id) FROM account_records") == 0
    assert (rec["SHARED-A"]["source_row"], rec["SHARED-A"]["owner_name"]) == (1, "Name 0-0")
    assert (rec["SHARED-C"]["source_row"], rec["SHARED-C"]["owner_name"]) == (3, "Name 0-2")
    # DE..01 is first named as statement 0's counterparty (row 7), then as statement 1's holder
    assert (rec[f"DE{1:020d}"]["source_row"], rec[f"DE{1:020d}"]["owner_name"]) == (7, "Name 0-6")
    assert rec[f"DE{0:020d}"]["owner_name"] == "Muster GmbH"
    assert len(rec) == 3 + 51
    assert not ws.staging_dir.exists()      # the staged files went with the load


def test_a_load_that_fails_midway_stores_nothing_and_leaves_no_staged_file(ws, tmp_path, monkeypatch):
    import moneytrail.ingest.statements as S

    monkeypatch.setattr(S, "BATCH", 5)
    sid = _source(ws, tmp_path)
    seen = []

    def records():
        for r in _many(10, 9):
            yield r
            seen.append(r)
            if len(seen) == 60:
                folder = ws.staging_dir
                assert [p.name for p in folder.iterdir()][0].startswith("ingest-")   # staged so far
                raise RuntimeError("the reader failed")

    with pytest.raises(RuntimeError, match="the reader failed"):
        load_statements(ws, sid, "camt", records())
    for table in ("transactions", "quarantine", "account_records", "statements"):
        assert ws.scalar(f"SELECT count(*) FROM {table}") == 0, table
    assert not ws.staging_dir.exists()
