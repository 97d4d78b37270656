"""XLSX ingest (python-calamine) under the CSV mapping: typed cells, rows numbered as in the
sheet, the same checks and quarantine as CSV, the workbook itself as the evidence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from moneytrail.errors import InputError
from moneytrail.ingest import ingest_file, sniff_format
from moneytrail.workspace import Workspace

from xlsx_helpers import write_xlsx

STATEMENT = {"date": {"column": "Booked", "format": "%d.%m.%Y"}, "amount": {"column": "Betrag"},
             "decimal": ",", "thousands": ".", "currency": {"value": "EUR"},
             "holder": {"account": {"value": "DE89370400440532013000"}},
             "counterparty": {"account": "IBAN", "name": "Name"}, "description": "Zweck", "sheet": "Umsaetze"}


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "case.duckdb")
    yield w
    w.close()


def test_an_xlsx_statement_is_read_under_a_csv_mapping_with_rows_as_in_the_sheet(ws, tmp_path):
    rows = [["Kontoauszug Muster GmbH"], [],
            ["Booked", "Betrag", "IBAN", "Name", "Zweck"],
            [dt.date(2024, 3, 1), 1234.5, "FR1420041010050500013M02606", "Anna Beispiel", "Rechnung 7"],
            ["02.03.2024", "-1.234,56", "GB29NWBK60161331926819", "Bob <script>", "Miete"],
            [dt.date(2024, 3, 3), "zwölf", "GB29NWBK60161331926819", "Bob", "kaputt"],
            [],
            [dt.date(2024, 3, 5), -20, None, "Kiosk", "bar"]]
    p = write_xlsx(tmp_path / "umsaetze.xlsx", rows, sheet="Umsaetze", first_row=1, extra_sheets=("Notes",))
    assert sniff_format(p) == "xlsx"
    m = dict(STATEMENT, skip_rows=2)
    res = ingest_file(ws, p, "xlsx", mapping=m)
    assert (res.read, res.stored, res.quarantined) == (5, 3, 2)
    tx = ws.records("SELECT source_row, source_position, ts, amount, orig_account, bene_account, counterparty_name, "
                    "description FROM transactions ORDER BY source_row")
    assert [t["source_position"] for t in tx] == ["sheet Umsaetze row 4", "sheet Umsaetze row 5",
                                                 "sheet Umsaetze row 8"]
    assert tx[0]["ts"] == dt.datetime(2024, 3, 1) and tx[0]["amount"] == Decimal("1234.5")
    assert tx[0]["bene_account"] == "DE89370400440532013000"     # a credit: into the holder's account
    assert tx[1]["amount"] == Decimal("1234.56") and tx[1]["orig_account"] == "DE89370400440532013000"
    assert tx[2]["amount"] == Decimal("20") and tx[2]["bene_account"] == "name:KIOSK"
    q = ws.records("SELECT source_position, column_name, reason FROM quarantine ORDER BY source_row")
    assert q[0]["source_position"] == "sheet Umsaetze row 6" and "zwölf" in q[0]["reason"]
    assert q[1]["source_position"] == "sheet Umsaetze row 7"      # the blank row, kept as such
    src = ws.records("SELECT format, file_name FROM sources")[0]
    assert (src["format"], src["file_name"]) == ("xlsx", "umsaetze.xlsx")


def test_a_workbook_that_cannot_be_read_is_one_clear_line(ws, tmp_path):
    p = tmp_path / "broken.xlsx"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(InputError, match="cannot be read as a workbook"):
        ingest_file(ws, p, "xlsx", mapping=STATEMENT)
    ok = write_xlsx(tmp_path / "ok.xlsx", [["Booked"]], sheet="Other")
    with pytest.raises(InputError, match="no sheet 'Umsaetze' in the workbook .its sheets: Other"):
        ingest_file(ws, ok, "xlsx", mapping=STATEMENT)
    assert ws.scalar("SELECT count(*) FROM sources") == 0          # a failed ingest uses no source id
    res = ingest_file(ws, write_xlsx(tmp_path / "good.xlsx", [["Booked", "Betrag", "IBAN", "Name", "Zweck"],
                                                              ["01.03.2024", "5", "X1", "N", "Z"]], sheet="Umsaetze"),
                      "xlsx", mapping=STATEMENT)
    assert res.source_id == 1 and res.stored == 1


def test_the_sheet_converter_writes_every_cell_as_cell_text_does():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from moneytrail.ingest.mapping import parse_mapping
    from moneytrail.ingest.xlsx import _converter, cell_text

    cells = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                      st.text(max_size=20), st.dates(), st.datetimes(), st.times())
    for decimal, thousands in ((".", ","), (",", ".")):
        m = parse_mapping(dict(STATEMENT, decimal=decimal, thousands=thousands))
        for fmt in ("%d.%m.%Y", "%Y-%m-%d %H:%M"):
            conv = _converter(m, fmt)

            @settings(max_examples=300, deadline=None)
            @given(cells)
            def same(v):
                assert conv(v) == cell_text(v, m, fmt)
                assert conv(v) == cell_text(v, m, fmt)      # twice: a date from the cache too
            same()
