"""Currency is never assumed (issue 13, item 5): the case's exchange rates as evidence
(``--format rates``), transfers in US dollars on the graph (``edges.amount_usd``), and detection
that applies dollar thresholds only to USD amounts or to amounts converted with the case's rates,
saying which rates, or skips with the reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from moneytrail.backends.duckdb import DuckDBBackend
from moneytrail.errors import InputError
from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.workspace import Workspace

GOLDEN = Path(__file__).parent / "golden" / "flow"


def _mapping(currency: str) -> dict:
    return {"currency": currency, "date": {"column": "date", "format": "%Y-%m-%d %H:%M:%S"},
            "amount": {"column": "amount"}, "payer": {"account": "payer", "name": "payer_name"},
            "payee": {"account": "payee", "name": "payee_name"}, "channel": "channel",
            "location": "location", "description": "description"}


def _rates(tmp: Path, text: str, name: str = "rates.csv") -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def _detect(ws, typologies):
    return run_pipeline(ws, stages=["resolve", "graph", "detect"],
                        params={"detect": {"typologies": typologies}})["stages"]


def _rows(ws, typology):
    return ws.records("""
        SELECT f.explanation, f.currency, f.total_amount,
               (SELECT list(t.source_row ORDER BY t.source_row) FROM finding_transactions ft
                  JOIN transactions t USING (tx_id) WHERE ft.finding_id = f.finding_id) AS rows
        FROM findings f WHERE f.typology = ? ORDER BY rows""", [typology])


# -- the rates file --------------------------------------------------------------------------------

def test_rates_every_row_stored_or_quarantined_with_its_line_and_reason(tmp_path):
    p = _rates(tmp_path, "currency,units_per_usd,effective_date,end_date\n"
                         "EUR,0.92,2025-01-01,\n"            # 1 ok
                         "eur,0.95,2025-04-01,2025-06-30\n"  # 2 ok (code upper-cased)
                         "USD,1,2025-01-01,\n"               # 3 USD needs none
                         "EURO,0.9,2025-01-01,\n"            # 4 not a code
                         "GBP,-0.8,2025-01-01,\n"            # 5 not positive
                         "GBP,0.8,01/02/2025,\n"             # 6 not ISO
                         "GBP,0.8,2025-03-01,2025-02-01\n"   # 7 end before start
                         "EUR,0.93,2025-01-01,\n"            # 8 same currency and date twice
                         "\n"                                # 9 blank
                         "SEK,10.5,2025-01-01\n"             # 10 a field short
                         "SEK,10.5123,2025-01-01,\n")        # 11 ok
    ws = Workspace.open(tmp_path / "w.duckdb")
    r = ingest_file(ws, p, "rates")
    assert (r.read, r.stored, r.quarantined) == (11, 3, 8)
    got = ws.records("SELECT currency, units_per_usd, valid_from, valid_to, source_row, source_position "
                     "FROM fx_rates ORDER BY source_row")
    assert [(g["currency"], g["units_per_usd"], g["source_row"], g["source_position"]) for g in got] == [
        ("EUR", Decimal("0.92"), 1, "line 2"), ("EUR", Decimal("0.95"), 2, "line 3"),
        ("SEK", Decimal("10.5123"), 11, "line 12")]
    q = {x["source_row"]: (x["column_name"], x["reason"], x["source_position"])
         for x in ws.records("SELECT * FROM quarantine")}
    assert set(q) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "USD needs no rate" in q[3][1]
    assert "ISO 4217" in q[4][1] and q[4][0] == "currency"
    assert "positive number" in q[5][1] and q[5][0] == "units_per_usd"
    assert "YYYY-MM-DD" in q[6][1] and q[6][0] == "effective_date"
    assert "before the effective date" in q[7][1]
    assert "already has a rate from 2025-01-01 (row 1)" in q[8][1]
    assert q[9][1] == "blank line" and "3 fields" in q[10][1]
    assert q[4][2] == "line 5"
    ws.close()


def test_usd_per_unit_is_inverted_and_a_bad_header_is_one_line(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    ingest_file(ws, _rates(tmp_path, "Currency,USD per unit,Effective Date\nEUR,1.25,2025-01-01\n"), "rates")
    assert ws.scalar("SELECT units_per_usd FROM fx_rates") == Decimal("0.8")
    for text, why in (("currency,rate,effective_date\nEUR,1,2025-01-01\n", "units_per_usd or usd_per_unit"),
                      ("currency,units_per_usd,usd_per_unit,effective_date\n", "exactly one"),
                      ("", "empty")):
        with pytest.raises(InputError, match=why) as e:
            ingest_file(ws, _rates(tmp_path, text, "bad.csv"), "rates")
        assert "\n" not in str(e.value) and "bad.csv" in str(e.value)
    assert ws.scalar("SELECT count(*) FROM sources") == 1      # a refused file uses up no source id
    ws.close()


def test_hostile_rates_values_are_data(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    evil = "EUR'); DROP TABLE transactions; --"
    r = ingest_file(ws, _rates(tmp_path, f"currency,units_per_usd,effective_date\n\"{evil}\",1,2025-01-01\n"
                                         "EUR,1e3,2025-01-01\nEUR,NaN,2025-01-01\nEUR,1.123456789,2025-01-01\n"),
                    "rates")
    assert (r.stored, r.quarantined) == (0, 4)
    assert ws.scalar("SELECT count(*) FROM transactions") == 0       # the table is still there
    assert evil in ws.scalar("SELECT raw FROM quarantine WHERE source_row = 1")
    ws.close()


# -- the graph: amounts in US dollars ----------------------------------------------------------------

LEDGER = ("date,payer,payer_name,payee,payee_name,amount,channel,location,description\n"
          "2025-01-15 10:00:00,A,,B,,100,transfer,,\n"
          "2025-03-31 10:00:00,A,,B,,100,transfer,,\n"
          "2025-04-01 10:00:00,A,,B,,100,transfer,,\n"
          "2025-07-01 10:00:00,A,,B,,100,transfer,,\n"
          "2024-12-31 10:00:00,A,,B,,100,transfer,,\n")


def test_each_transfer_is_converted_with_the_rate_in_force_on_its_date(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    led = tmp_path / "eur.csv"
    led.write_text(LEDGER)
    ingest_file(ws, led, "csv", mapping=_mapping("EUR"))
    ingest_file(ws, _rates(tmp_path, "currency,units_per_usd,effective_date,end_date\n"
                                     "EUR,0.8,2025-01-01,\nEUR,0.5,2025-04-01,2025-06-30\n"), "rates")
    run_pipeline(ws, stages=["resolve", "graph"])
    got = [(r["ts"].date().isoformat(), r["amount_usd"], r["fx_rate"], r["fx_source_row"])
           for r in ws.records("SELECT ts, amount_usd, fx_rate, fx_source_row FROM edges ORDER BY ts")]
    assert got == [("2024-12-31", None, None, None),                    # before any rate: none assumed
                   ("2025-01-15", Decimal("125"), Decimal("0.8"), 1),
                   ("2025-03-31", Decimal("125"), Decimal("0.8"), 1),  # the last day of the first rate
                   ("2025-04-01", Decimal("200"), Decimal("0.5"), 2),
                   ("2025-07-01", None, None, None)]                    # after the second rate's end date
    # a newer rates file with the same first day takes over; the graph is rebuilt (rates are evidence)
    ingest_file(ws, _rates(tmp_path, "currency,units_per_usd,effective_date\nEUR,0.4,2025-04-01\n", "r2.csv"),
                "rates")
    run_pipeline(ws, stages=["graph"])
    assert ws.scalar("SELECT amount_usd FROM edges WHERE ts = TIMESTAMP '2025-07-01 10:00:00'") == Decimal("250")
    ws.close()


# -- detection -------------------------------------------------------------------------------------

def _structuring(tmp_path, currency, rates: str | None):
    ws = Workspace.open(tmp_path / "w.duckdb")
    ingest_file(ws, GOLDEN / "structuring_cash.csv", "csv", mapping=_mapping(currency))
    if rates:
        ingest_file(ws, _rates(tmp_path, rates), "rates")
    return ws, _detect(ws, ["structuring"])["detect"]


def test_dollar_thresholds_never_apply_to_another_currency_without_a_rate(tmp_path):
    ws, det = _structuring(tmp_path, "EUR", None)
    why = det["skipped"]["structuring"]
    assert "US dollars" in why and "cash_threshold $10,000.00" in why and "EUR" in why
    assert "--format rates" in why
    assert ws.scalar("SELECT count(*) FROM findings") == 0
    assert det["currencies"]["without_usd_rate"] == {"EUR": 12}
    ws.close()


def test_converted_amounts_meet_the_dollar_thresholds_and_the_finding_names_the_rate(tmp_path):
    usd_ws, _ = _structuring(tmp_path / "usd", "USD", None)
    expected = [r["rows"] for r in _rows(usd_ws, "structuring")]
    usd_ws.close()
    assert expected
    # at one EUR per dollar the same transfers are found, now through the case's rate
    ws, det = _structuring(tmp_path / "par", "EUR", "currency,units_per_usd,effective_date\nEUR,1,2025-01-01\n")
    got = _rows(ws, "structuring")
    assert [r["rows"] for r in got] == expected
    for r in got:
        assert r["currency"] == "USD"
        assert "EUR at 1 per US dollar (rates source 2, row 1)" in r["explanation"]
        assert "Thresholds in US dollars: cash_threshold $10,000.00" in r["explanation"]
    ws.close()
    # at 0.5 EUR per dollar each amount is worth twice as many dollars: F's deposits ($19,000 and
    # more each) are far above the reporting threshold, so not structured under it; W's three
    # withdrawals of $8,000 on one day still are
    ws, det = _structuring(tmp_path / "half", "EUR", "currency,units_per_usd,effective_date\nEUR,0.5,2025-01-01\n")
    assert [r["rows"] for r in _rows(ws, "structuring")] == [[5, 6, 7]]
    ws.close()


CYCLE = ("date,payer,payer_name,payee,payee_name,amount,channel,location,description\n"
         "2025-02-01 10:00:00,A,,B,,10000,transfer,,\n"
         "2025-02-02 10:00:00,B,,C,,9800,transfer,,\n"
         "2025-02-03 10:00:00,C,,A,,9600,transfer,,\n")


def test_a_typology_without_dollar_thresholds_runs_in_the_transfers_own_currency(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    led = tmp_path / "sek.csv"
    led.write_text(CYCLE)
    ingest_file(ws, led, "csv", mapping=_mapping("SEK"))
    det = _detect(ws, ["cycle", "round_trip"])["detect"]
    assert det["findings"]["cycle"] == 1
    assert "round_trip" in det["skipped"] and "min_amount $1,000.00" in det["skipped"]["round_trip"]
    (f,) = _rows(ws, "cycle")
    assert f["currency"] == "SEK" and f["total_amount"] == Decimal("29400")
    assert "SEK" in f["explanation"] and "$" not in f["explanation"]
    ws.close()


def test_several_currencies_are_added_up_in_dollars_and_what_has_no_rate_is_left_out_with_a_note(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(CYCLE)
    b.write_text(CYCLE.replace("A,,B", "X,,Y").replace("B,,C", "Y,,Z").replace("C,,A", "Z,,X"))
    ingest_file(ws, a, "csv", mapping=_mapping("USD"))
    ingest_file(ws, b, "csv", mapping=_mapping("GBP"))
    det = _detect(ws, ["cycle"])["detect"]
    assert det["findings"]["cycle"] == 1              # the USD loop; the GBP one has no rate
    assert any("3 in GBP" in n and "--format rates" in n for n in det["notes"]["cycle"])
    (f,) = _rows(ws, "cycle")
    assert f["currency"] == "USD" and f["rows"] == [1, 2, 3]
    ingest_file(ws, _rates(tmp_path, "currency,usd_per_unit,effective_date\nGBP,1.25,2025-01-01\n"), "rates")
    det = _detect(ws, ["cycle"])["detect"]
    assert det["findings"]["cycle"] == 2 and not det["notes"].get("cycle")
    gbp = [r for r in _rows(ws, "cycle") if "GBP" in r["explanation"]]
    assert len(gbp) == 1 and gbp[0]["total_amount"] == Decimal("36750")     # 29,400 GBP at 0.8 per dollar
    assert "GBP at 0.8 per US dollar (rates source 3, row 1)" in gbp[0]["explanation"]
    ws.close()


# -- the backend's renaming of tables ----------------------------------------------------------------

def test_tables_as_renames_only_unqualified_tables_that_are_not_ctes(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    be = DuckDBBackend(ws.con)
    with be.tables_as({"edges": "edges_usd"}):
        sql = be.sql("WITH edges AS (SELECT 1 AS x) SELECT * FROM edges, main.edges m, nodes")
        assert "edges_usd" not in sql
        sql = be.sql("SELECT * FROM edges e JOIN nodes n ON e.src = n.account_id")
        assert "edges_usd" in sql and "nodes" in sql
    assert "edges_usd" not in be.sql("SELECT * FROM edges")
    ws.close()
