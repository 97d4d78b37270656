"""Ingest stores only what every later stage can hold (moneytrail.limits), and reads wide files.

Each test performs an attack found against ingest — timestamps of ``infinity``, amounts that
overflow tracing or detection, a header of thousands of columns, a field of megabytes — and
checks that the bad rows are quarantined naming the column, the value and the limit, the good
rows are stored, and ``rows_read = rows_stored + rows_quarantined`` (``check_conservation``).
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import check_conservation
from moneytrail.errors import InputError
from moneytrail.ingest import ingest_file
from moneytrail.limits import (MAX_AMOUNT, MAX_COLUMNS, MAX_FIELD_BYTES, MONEY_ATTRIBUTES,
                               QUARANTINE_RAW_CHARS)
from moneytrail.workspace import Workspace

TRANSFERS = {"currency": "USD", "date": "date", "amount": {"column": "amount"},
             "payer": {"account": "payer"}, "payee": {"account": "payee"}}
STATEMENT = {"currency": "USD", "date": "date", "amount": {"column": "amount"}, "balance": "balance",
             "holder": {"account": {"value": "HOLDER"}}, "counterparty": {"account": "cp"}}
LIMIT_TEXT = "must be below 1,000,000,000,000 (MAX_AMOUNT"


def put(folder: Path, name: str, content: str | bytes) -> Path:
    p = folder / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


def load(ws, folder: Path, content: str | bytes, mapping, name: str = "in.csv", fmt: str = "csv"):
    res = ingest_file(ws, put(folder, name, content), fmt, mapping=mapping)
    return res, (check_conservation if fmt == "csv" else check_counts)(ws, res.source_id)


def check_counts(ws, sid: int) -> dict:
    """``check_conservation`` for a source that stores no transactions (an account register,
    labels, AMLSim accounts): read = stored + quarantined, each row number quarantined at most
    once, every quarantined row with its reason and raw text."""
    read, stored, quarantined = ws.query(
        "SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?", [sid])[0]
    assert read == stored + quarantined
    rows = ws.query("SELECT source_row, column_name, reason, raw FROM quarantine WHERE source_id = ?", [sid])
    assert len(rows) == quarantined == len({r for r, *_ in rows})
    assert all(1 <= r <= read and why and raw is not None for r, _, why, raw in rows)
    return {"read": read, "stored": stored, "quarantined": quarantined,
            "q": {r: (c, why, raw) for r, c, why, raw in rows}}


def amounts(ws, sid: int) -> dict[int, Decimal]:
    return dict(ws.query("SELECT source_row, amount FROM transactions WHERE source_id = ?", [sid]))


# -- 1. the limits every stage holds ----------------------------------------------------------------

def test_infinite_and_out_of_range_dates_are_quarantined(ws, tmp_path):
    dates = ["infinity", "-infinity", "+infinity", "Infinity", "9999-12-31", "0001-01-01", "epoch",
             "1899-12-31T23:59:59", "2101-01-01", "2100-12-31T23:59:59", "1900-01-01", "2024-06-30"]
    text = "date,amount,payer,payee\n" + "".join(f"{d},10,A,B\n" for d in dates)
    res, c = load(ws, tmp_path, text, TRANSFERS)
    good = {10, 11, 12}   # 2100-12-31T23:59:59, 1900-01-01, 2024-06-30
    assert set(c["q"]) == set(range(1, len(dates) + 1)) - good
    for row, (col, why, raw) in c["q"].items():
        assert col == "date" and dates[row - 1] in why, (row, why)
        assert raw == f"{dates[row - 1]},10,A,B"
    for row in (5, 6, 8, 9):   # real dates, outside the years every stage holds
        assert "outside 1900-2100" in c["q"][row][1]
    for row in (1, 2, 3, 4, 7):   # words DuckDB reads as timestamps: not dates
        assert c["q"][row][1] == f"date {dates[row - 1]} is not a date: dates must be finite, " \
                                 f"within 1900-2100 (the years moneytrail holds)"
    ts = dict(ws.query("SELECT source_row, CAST(ts AS VARCHAR) FROM transactions"))
    assert ts == {10: "2100-12-31 23:59:59", 11: "1900-01-01 00:00:00", 12: "2024-06-30 00:00:00"}
    # no stored timestamp is infinite, whatever the format
    assert ws.scalar("SELECT count(*) FROM transactions WHERE NOT isfinite(ts)") == 0


def test_strptime_format_dates_outside_the_years_are_quarantined(ws, tmp_path):
    m = dict(TRANSFERS, date={"column": "date", "format": "%d/%m/%Y"})
    text = ("date,amount,payer,payee\n31/12/9999,1,A,B\n01/01/1899,1,A,B\n31/12/2100,1,A,B\ninfinity,1,A,B\n"
            "epoch,1,A,B\n-infinity,1,A,B\n")
    res, c = load(ws, tmp_path, text, m)
    assert set(c["q"]) == {1, 2, 4, 5, 6}
    assert "outside 1900-2100" in c["q"][1][1] and "31/12/9999" in c["q"][1][1]
    for row in (4, 5, 6):   # strptime reads these words as timestamps whatever the format
        assert "is not a date: dates must be finite, within 1900-2100" in c["q"][row][1]


def test_infinite_time_of_day_quarantines_its_row_not_the_file(ws, tmp_path):
    m = dict(TRANSFERS, time={"column": "time", "format": "%H:%M"})
    text = "date,time,amount,payer,payee\n2024-01-05,infinity,1,A,B\n2024-01-05,09:30,2,A,B\n2024-01-05,allballs,3,A,B\n"
    res, c = load(ws, tmp_path, text, m)
    assert set(c["q"]) == {1, 3} and all(col == "time" for col, _, _ in c["q"].values())
    assert str(ws.scalar("SELECT ts FROM transactions")) == "2024-01-05 09:30:00"


def test_amounts_at_and_over_the_cap(ws, tmp_path):
    values = [
        ("10000000000000", False),            # $10tn: overflowed detection
        ("10000000000", True),                # $10bn: overflowed tracing's DECIMAL(18) sums; below the cap
        ("1000000000000", False),             # exactly MAX_AMOUNT
        ("1000000000000.0000", False),
        ('"1,000,000,000,000.00"', False),
        ("999999999999.9999", True),          # the largest amount stored
        ("99999999999999.9999", False),       # the largest DECIMAL(18,4)
        ("1" + "0" * 30, False),              # more digits than DECIMAL(18,4) holds
        ("1" + "0" * 45, False),              # more digits than DECIMAL(38,4) holds
        ("12.50", True),
    ]
    text = "date,amount,payer,payee\n" + "".join(f"2024-01-05,{v},A,B\n" for v, _ in values)
    res, c = load(ws, tmp_path, text, TRANSFERS)
    bad = {i for i, (_, ok) in enumerate(values, 1) if not ok}
    assert set(c["q"]) == bad
    for row in bad:
        col, why, _ = c["q"][row]
        assert col == "amount" and "out of range" in why and LIMIT_TEXT in why, why
        assert values[row - 1][0].strip('"') in why
    assert amounts(ws, res.source_id) == {2: Decimal("10000000000"), 6: Decimal("999999999999.9999"),
                                          10: Decimal("12.5")}
    assert ws.scalar("SELECT max(amount) FROM transactions") < MAX_AMOUNT


def test_signed_and_debit_credit_amounts_over_the_cap(ws, tmp_path):
    text = ("date,amount,balance,cp\n"
            "2024-01-05,-999999999999.9999,,A\n"     # 1 a debit at the cap's edge: stored
            "2024-01-05,-1000000000000,,A\n"         # 2 a debit of 1e12: quarantined
            "2024-01-05,(5000000000000.00),,A\n")    # 3 accounting negative: quarantined
    res, c = load(ws, tmp_path, text, STATEMENT)
    assert set(c["q"]) == {2, 3}
    assert "-1000000000000" in c["q"][2][1] and LIMIT_TEXT in c["q"][2][1]
    assert amounts(ws, res.source_id) == {1: Decimal("999999999999.9999")}
    dc = {"currency": "USD", "date": "date", "amount": {"debit": "debit", "credit": "credit"},
          "holder": {"account": {"value": "HOLDER"}}, "counterparty": {"account": "cp"}}
    text2 = ("date,debit,credit,cp\n2024-01-05,20000000000000,,A\n2024-01-05,,3000000000000,B\n"
             "2024-01-05,5,,A\n")
    res2, c2 = load(ws, tmp_path, text2, dc, name="dc.csv")
    assert set(c2["q"]) == {1, 2}
    assert c2["q"][1][0] == "debit" and c2["q"][2][0] == "credit"
    assert all(LIMIT_TEXT in why for _, why, _ in c2["q"].values())
    assert amounts(ws, res2.source_id) == {3: Decimal("5")}


def test_european_amount_over_the_cap(ws, tmp_path):
    m = {"currency": "USD", "date": {"column": "Datum", "format": "%d.%m.%Y"}, "delimiter": ";", "decimal": ",",
         "thousands": ".", "amount": {"column": "Betrag"},
         "holder": {"account": {"value": "DE-HOLDER"}}, "counterparty": {"account": "Konto"}}
    text = "Datum;Betrag;Konto\n01.02.2024;1.000.000.000.000,00;A\n01.02.2024;999.999.999.999,99;A\n"
    res, c = load(ws, tmp_path, text, m)
    assert set(c["q"]) == {1} and c["q"][1][0] == "Betrag" and LIMIT_TEXT in c["q"][1][1]
    assert amounts(ws, res.source_id) == {2: Decimal("999999999999.99")}


def test_running_balances_must_be_numbers_below_the_cap(ws, tmp_path):
    text = ("date,amount,balance,cp\n"
            "2024-01-05,-10,990.00,A\n"             # 1 stored with its balance
            "2024-01-06,-10,,A\n"                   # 2 no balance given: stored without one
            "2024-01-07,-10,5000000000000,A\n"      # 3 over the cap
            "2024-01-08,-10,inf,A\n"                # 4 not finite
            "2024-01-09,-10,-infinity,A\n"          # 5 not finite
            "2024-01-10,-10,n/a,A\n"                # 6 not a number: was stored as no balance
            "2024-01-11,-10,-999999999999.99,A\n")  # 7 stored (an overdraft at the edge)
    res, c = load(ws, tmp_path, text, STATEMENT)
    assert set(c["q"]) == {3, 4, 5, 6}
    assert all(col == "balance" for col, _, _ in c["q"].values())
    assert LIMIT_TEXT in c["q"][3][1] and "5000000000000" in c["q"][3][1]
    assert "not a number" in c["q"][4][1] and "not a number" in c["q"][6][1]
    assert dict(ws.query("SELECT source_row, balance_after FROM transactions")) == {
        1: Decimal("990"), 2: None, 7: Decimal("-999999999999.99")}


def test_account_register_dates_and_opening_balances(ws, tmp_path):
    m = {"account": "acct", "opened": "opened", "closed": {"column": "closed", "format": ["%Y-%m-%d", "%d/%m/%Y"]},
         "keep": ["opening_balance", "note"]}
    text = ("acct,opened,closed,opening_balance,note\n"
            "A1,2020-01-01,,1500.00,x\n"                 # 1 stored
            "A2,infinity,,,x\n"                          # 2 not a date
            "A3,2020-01-01,9999-12-31,,x\n"              # 3 outside the years
            "A4,1850-06-01,,,x\n"                        # 4 outside the years
            "A5,2020-01-01,,20000000000000,x\n"          # 5 opening balance over the cap
            "A6,2020-01-01,,NaN,x\n"                     # 6 not finite
            "A7,2020-01-01,,,20000000000000\n"           # 7 a note is not money: stored as given
            "A8,2020-01-01,,999999999999.99,x\n"        # 8 stored
            "A9,2020-01-01,epoch,,x\n")                 # 9 not a date
    res, c = load(ws, tmp_path, text, m, fmt="accounts")
    assert set(c["q"]) == {2, 3, 4, 5, 6, 9}
    assert c["q"][9] == ("closed", "closed date epoch is not a date: dates must be finite, within 1900-2100 "
                                   "(the years moneytrail holds)", "A9,2020-01-01,epoch,,x")
    assert c["q"][2][0] == "opened" and "infinity is not a date" in c["q"][2][1]
    assert c["q"][3][0] == "closed" and "9999-12-31" in c["q"][3][1] and "outside 1900-2100" in c["q"][3][1]
    assert c["q"][4][0] == "opened" and "1850-06-01" in c["q"][4][1]
    assert c["q"][5][0] == "opening_balance" and LIMIT_TEXT in c["q"][5][1]
    assert c["q"][6][0] == "opening_balance" and "NaN" in c["q"][6][1]
    assert sorted(a for (a,) in ws.query("SELECT account_id FROM accounts")) == ["A1", "A7", "A8"]
    assert c["q"][3][2] == "A3,2020-01-01,9999-12-31,,x"


def test_amlsim_rows_over_the_limits(ws, tmp_path):
    folder = tmp_path / "sim"
    folder.mkdir()
    put(folder, "transactions.csv",
        "tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id\n"
        "1,10,11,TRANSFER,100.50,2017-01-01T00:00:00Z,False,-1\n"
        "2,10,11,TRANSFER,12500000000000,2017-01-02T00:00:00Z,True,7\n"
        "3,10,11,TRANSFER,5.00,infinity,False,-1\n"
        "4,10,11,TRANSFER,5.00,-infinity,False,-1\n")
    put(folder, "accounts.csv",
        "acct_id,dsply_nm,type,acct_stat,acct_rptng_crncy,branch_id,open_dt,close_dt,"
        "initial_deposit,tx_behavior_id,bank_id,country\n"
        "10,C_10,I,A,USD,1,0,1000000,1000.0,,bank_a,US\n"
        "11,C_11,I,A,USD,1,0,1000000,1e13,,bank_a,US\n"
        "12,C_12,I,A,USD,1,0,1000000,inf,,bank_a,US\n")
    res = ingest_file(ws, folder, "amlsim")
    c = check_conservation(ws, res.source_id)
    assert set(c["q"]) == {2, 3, 4}
    assert c["q"][2][0] == "base_amt" and LIMIT_TEXT in c["q"][2][1]
    assert c["q"][3][0] == c["q"][4][0] == "tran_timestamp"
    acc = {r["file"].rsplit("/", 1)[-1]: r for r in res.related}["accounts.csv"]
    ca = check_counts(ws, acc["source_id"])
    assert set(ca["q"]) == {2, 3}
    assert all(col == "initial_deposit" and LIMIT_TEXT in why for col, why, _ in ca["q"].values())
    assert ws.scalar("SELECT count(*) FROM labels") == 1   # labels only for stored transfers


def test_the_stages_hold_what_ingest_stores_at_the_cap(ws, tmp_path):
    """The other half of the limit: 300 transfers of the largest amount ingest stores, all into one
    account and out again (sums of 3 * 10**14, past DECIMAL(18, 4)), go through detect and every
    tracing rule. (Before the stages held sums in DECIMAL(38, 4), tracing overflowed here.)"""
    from moneytrail.pipeline import run_pipeline
    from moneytrail.trace import trace

    top = "999999999999.9999"
    text = "date,amount,payer,payee\n" + "".join(
        f"2024-01-{1 + i % 20:02d},{top},S{i % 30},Z\n2024-01-{2 + i % 20:02d},{top},Z,T{i % 30}\n"
        for i in range(300))
    res, c = load(ws, tmp_path, text, TRANSFERS)
    assert c["stored"] == 600
    out = run_pipeline(ws, stages=["resolve", "graph", "detect", "trace"])
    assert out["stages"]["detect"]["findings"]["fan_in"] >= 1
    t = trace(ws, sources=[res.source_id * 10_000_000_000 + r for r in range(1, 601, 2)], rule="all")
    assert t["events"] == 600


def test_money_attributes_are_the_ones_tracing_reads():
    from moneytrail.trace.balances import ATTRIBUTE_KEYS

    assert set(MONEY_ATTRIBUTES) == set(ATTRIBUTE_KEYS)


# -- 2. wide files, large fields ----------------------------------------------------------------------

def _wide(path: Path, columns: int, rows: list[dict[str, str]]) -> list[str]:
    """A transfers file with ``columns`` columns (the mapped four spread among fillers); returns
    its data lines as written."""
    names = [f"x{i}" for i in range(columns)]
    at = {"date": 0, "amount": columns // 2, "payer": columns - 2, "payee": columns - 1}
    for k, j in at.items():
        names[j] = k
    lines = [",".join(names)]
    for i, r in enumerate(rows, 1):
        vals = [f"f{i}.{j}" for j in range(columns)]
        for k, j in at.items():
            vals[j] = r.get(k, {"date": "2024-03-01", "amount": "1", "payer": "A", "payee": "B"}[k])
        lines.append(",".join(vals))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines[1:]


def test_a_header_wider_than_max_columns_is_refused_whole(ws, tmp_path):
    p = tmp_path / "wide.csv"
    _wide(p, 5_000, [{}] * 3)
    with pytest.raises(InputError) as e:
        ingest_file(ws, p, "csv", mapping=TRANSFERS)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    assert "5,000 columns" in msg and f"{MAX_COLUMNS:,}" in msg and "MAX_COLUMNS" in msg
    assert ws.counts()["sources"] == ws.counts()["transactions"] == ws.counts()["quarantine"] == 0
    assert not [f for f in ws.evidence_dir.rglob("*") if f.is_file()]
    # every format reads its header the same way
    with pytest.raises(InputError, match="5,000 columns"):
        ingest_file(ws, p, "accounts", mapping={"account": "payer"})
    with pytest.raises(InputError, match="5,000 columns"):
        ingest_file(ws, p, "labels", mapping={"account": "payer"})


def test_a_two_thousand_column_file_ingests(ws, tmp_path):
    p = tmp_path / "wide.csv"
    rows = [{"amount": str(i)} for i in range(1, 301)]
    rows[6] = {"amount": "lots"}
    rows[199] = {"date": "infinity"}
    lines = _wide(p, 2_000, rows)
    res = ingest_file(ws, p, "csv", mapping=TRANSFERS)
    c = check_conservation(ws, res.source_id)
    assert (c["read"], c["stored"], c["quarantined"]) == (300, 298, 2)
    assert c["q"][7][:2] == ("amount", "amount lots is not a number in this mapping "
                                        "(decimal '.', thousands ',', at most 4 decimals)")
    assert c["q"][200][0] == "date"
    for row in (7, 200):   # the raw row as read, all 2,000 columns of it
        assert c["q"][row][2] == lines[row - 1]
    assert amounts(ws, res.source_id)[300] == Decimal("300")


def test_exactly_max_columns_ingests(ws, tmp_path):
    p = tmp_path / "wide.csv"
    _wide(p, MAX_COLUMNS, [{}, {"amount": "x"}])
    res = ingest_file(ws, p, "csv", mapping=TRANSFERS)
    c = check_conservation(ws, res.source_id)
    assert (c["stored"], c["quarantined"]) == (1, 1)


def test_a_field_over_max_field_bytes_quarantines_its_row(ws, tmp_path):
    big = "m" * (MAX_FIELD_BYTES + 1)
    euro_ok = "€" * (MAX_FIELD_BYTES // 3)          # 3 bytes each in UTF-8: at the cap
    euro_big = "€" * (MAX_FIELD_BYTES // 3 + 1)     # one character more: over it, in bytes
    rows = [["2024-01-05", "1", "A", "B", "short"],
            ["2024-01-05", "2", "A", "B", big],
            ["2024-01-05", "3", "A", "B", "x" * MAX_FIELD_BYTES],
            ["2024-01-05", "4", "A", "B", euro_ok],
            ["2024-01-05", "5", "A", "B", euro_big],
            ["2024-01-05", "6", "A", "B", "two\n" + big],     # quoted, over several lines
            ["2024-01-05", "7", "A", "B", "after"]]
    p = tmp_path / "big.csv"
    with open(p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date", "amount", "payer", "payee", "memo"])
        w.writerows(rows)
    res = ingest_file(ws, p, "csv", mapping=dict(TRANSFERS, description="memo"))
    c = check_conservation(ws, res.source_id)
    assert set(c["q"]) == {2, 5, 6}
    for row, size in ((2, MAX_FIELD_BYTES + 1), (5, 3 * (MAX_FIELD_BYTES // 3 + 1)), (6, MAX_FIELD_BYTES + 5)):
        col, why, raw = c["q"][row]
        assert col == "memo"
        assert f"column 'memo' holds {size:,} bytes, more than the {MAX_FIELD_BYTES:,}" in why, why
        assert "evidence copy" in why and f"cut to {QUARANTINE_RAW_CHARS:,} characters" in why
        assert raw.startswith(f"2024-01-05,{row},A,B,")
        assert raw.endswith("[cut at 65,536 characters: the whole row is in the evidence copy of the file]")
        assert len(raw) < QUARANTINE_RAW_CHARS + 200
    memos = dict(ws.query("SELECT source_row, length(description) FROM transactions"))
    assert memos == {1: 5, 3: MAX_FIELD_BYTES, 4: MAX_FIELD_BYTES // 3, 7: 5}
    # the evidence copy holds the whole file
    rel = ws.scalar("SELECT evidence_path FROM sources WHERE source_id = ?", [res.source_id])
    assert ws.evidence_file(rel).read_bytes() == p.read_bytes()


def test_an_unclosed_quote_over_megabytes_is_one_quarantined_row(ws, tmp_path):
    tail = "".join(f"2024-01-05,{i},A,B,memo {i}\n" for i in range(60_000))   # ~1.6 MB swallowed
    text = 'date,amount,payer,payee,memo\n2024-01-05,1,A,B,ok\n2024-01-05,2,A,B,"never closed\n' + tail
    res, c = load(ws, tmp_path, text, dict(TRANSFERS, description="memo"))
    assert (c["read"], c["stored"], c["quarantined"]) == (2, 1, 1)
    col, why, raw = c["q"][2]
    assert col == "memo" and "never closed" in why and "60000 more line(s)" in why
    assert "evidence copy" in why and raw.endswith("whole row is in the evidence copy of the file]")


def test_a_field_beyond_the_csv_readers_own_limit_refuses_the_file(ws, tmp_path, monkeypatch):
    """The csv module's field_size_limit stays far above MAX_FIELD_BYTES (see moneytrail.limits);
    a field beyond it cannot be read as a row at all, so the file is refused, naming the row.
    Lowered here so the test need not write 256 MiB."""
    old = csv.field_size_limit()
    monkeypatch.setattr("moneytrail.ingest.textfile.READER_FIELD_CHARS", 1000)
    csv.field_size_limit(1000)
    try:
        text = "date,amount,payer,payee,memo\n2024-01-05,1,A,B,ok\n2024-01-05,2,A,B," + "z" * 2000 + "\n"
        with pytest.raises(InputError) as e:
            ingest_file(ws, put(tmp_path, "f.csv", text), "csv", mapping=dict(TRANSFERS, description="memo"))
    finally:
        csv.field_size_limit(old)
    msg = str(e.value)
    assert "row 2" in msg and "longer than 1,000 characters" in msg and "\n" not in msg
    assert ws.counts()["sources"] == 0
    from moneytrail.limits import READER_FIELD_CHARS
    assert old == READER_FIELD_CHARS > MAX_FIELD_BYTES


def test_oversize_field_in_a_labels_file_and_a_gzip_file(ws, tmp_path):
    ingest_file(ws, put(tmp_path, "t.csv", "date,amount,payer,payee\n2024-01-05,1,A,B\n"), "csv",
                mapping=TRANSFERS)
    text = "account,note\nA,x\nB," + "n" * (MAX_FIELD_BYTES + 10) + "\n"
    res, c = load(ws, tmp_path, gzip.compress(text.encode()), {"account": "account"}, name="labels.csv",
                  fmt="labels")
    assert set(c["q"]) == {2} and c["q"][2][0] == "note" and "MAX_FIELD_BYTES" in c["q"][2][1]


def test_cli_refuses_a_too_wide_file_in_one_line(tmp_path):
    from moneytrail.demo import DEMO_OFFICER, setup_demo_authority

    ws_path = tmp_path / "case.duckdb"
    with Workspace.open(ws_path) as ws:
        setup_demo_authority(ws)
    _wide(tmp_path / "wide.csv", 5_000, [{}])
    (tmp_path / "map.yaml").write_text("currency: USD\ndate: date\namount: {column: amount}\npayer: {account: payer}\n"
                                       "payee: {account: payee}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_")}
    env.update(MONEYTRAIL_KEY_DIR=os.environ["MONEYTRAIL_KEY_DIR"])
    p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "ingest", "wide.csv", "-f", "csv", "-m",
                        "map.yaml", "--legal-basis", "subpoena", "--as", DEMO_OFFICER, "-w", str(ws_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: wide.csv: the header has 5,000 columns"), p.stderr
    assert "4,096" in lines[0]


def test_bench_ingest_command(tmp_path):
    """``moneytrail bench ingest``: the file it generates, the counts of each side, the figures."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_")}
    p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "bench", "ingest", "--rows", "300",
                        "--columns", "40", "--runs", "1", "--workdir", str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import json
    res = json.loads(p.stdout)
    assert res["file"] == {"rows": 300, "columns": 40, "bytes": res["file"]["bytes"], "bad_rows": 3}
    ours = res["moneytrail"]
    assert (ours["read"], ours["stored"], ours["quarantined"]) == (300, 297, 3)
    assert res["duckdb_read_csv"]["read"] == res["duckdb_read_csv_mapped_columns"]["read"] == 300
    for side in ("moneytrail", "duckdb_read_csv", "duckdb_read_csv_mapped_columns"):
        s = res[side]
        assert s["median_s"] > 0 and s["min_s"] <= s["median_s"] <= s["max_s"] and s["peak_rss_mb"] > 0
    assert res["ratio_moneytrail_to_duckdb"] > 0
    o = ours["open_workspace"]
    assert o["workspace_open_ms"] > 0 and o["duckdb_connect_ms"] > 0 and o["opens_per_run"] == 50
    assert 0 < o["recover_interrupted_ms"] < o["workspace_open_ms"]
    assert list(tmp_path.iterdir()) == []   # the temporary folder is gone


def test_bench_ingest_reports_a_refused_file(tmp_path):
    from moneytrail.bench.ingest import bench_ingest

    res = bench_ingest(rows=3, columns=MAX_COLUMNS + 1, runs=1, peer=False, workdir=tmp_path)
    assert "the header has 4,097 columns" in res["moneytrail"]["refused"]
    assert res["moneytrail"]["rows_per_s"] is None and "duckdb_read_csv" not in res
