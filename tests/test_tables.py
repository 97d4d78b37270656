"""Terminal tables never cut an amount or an id (issue 16, item 4): at any width the whole
columns keep every character, lower-priority columns are left out (and the table says so), and
piped output is plain and complete."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from moneytrail.cli.tables import Col, Doc

ANSI = re.compile(r"\x1b\[[0-9;]*m")

COLS = [Col("key", whole=True), Col("typology"), Col("amount", right=True, whole=True), Col("accounts"),
        Col("evidence", drop=2), Col("explanation", drop=1)]


def _rows(n: int = 3):
    return [[f"fan_in:ACCT-{i:012d}", "scatter_gather", f"{1234567890.12 * (i + 1):,.2f}",
             f"ACCT-{i:012d} BANK-DE89370400440532013000 Z", " ".join(str(10_000_000_000 + j) for j in range(12)),
             "Ten accounts paid ACCT-000000000001 within nine days; the red flag is " * 3] for i in range(n)]


def _text(doc: Doc, **kw) -> str:
    return ANSI.sub("", doc.render(**kw))


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 240])
def test_amounts_and_ids_are_never_cut_at_any_width(width):
    doc = Doc()
    doc.table("findings", COLS, _rows())
    out = _text(doc, plain=False, width=width)
    for r in _rows():
        assert r[0] in out and r[2] in out            # whole columns: every character, on one line
        for ident in r[3].split():                    # ids in a wrapping column: never split
            assert ident in out
    assert "…" not in out


def test_narrow_terminal_leaves_out_the_lowest_priority_columns_and_says_so():
    doc = Doc()
    doc.table("findings", COLS, _rows())
    out = _text(doc, plain=False, width=100)
    assert "explanation" not in out.splitlines()[2] and "left out for this terminal's width: explanation" in out
    wide = _text(doc, plain=False, width=400)
    assert "left out" not in wide and "explanation" in wide


def test_piped_tables_are_plain_one_line_per_row_and_complete():
    doc = Doc()
    doc.line("[b]forward trace[/b] from tx 7")
    rows = _rows(4)
    rows[0][5] = "a line\nbroken in two"
    doc.table("findings", COLS, rows)
    out = doc.render(plain=True)
    lines = out.splitlines()
    assert lines[0] == "forward trace from tx 7"            # markup dropped
    assert not ANSI.search(out) and "│" not in out and "…" not in out
    body = lines[3:7]
    assert len(body) == 4 and all(r[0] in line and r[2] in line and r[4] in line for r, line in zip(rows, body))
    assert "a line; broken in two" in body[0]


def test_plain_output_is_chosen_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("MONEYTRAIL_TABLES", raising=False)
    doc = Doc()
    doc.table("t", [Col("amount", right=True, whole=True)], [["1,000.00"]])
    doc.print()
    out = capsys.readouterr().out
    assert out.splitlines()[1:3] == ["  amount", "1,000.00"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ABCXYZ0123-:", min_size=1, max_size=30),
                          st.decimals(min_value=-10**12, max_value=10**12, places=2, allow_nan=False)),
                min_size=1, max_size=6),
       st.integers(min_value=40, max_value=200))
def test_property_every_whole_value_survives_rendering(rows, width):
    doc = Doc()
    doc.table("t", [Col("account", whole=True), Col("amount", right=True, whole=True), Col("note", drop=1)],
              [[a, f"{m:,.2f}", "some words " * 5] for a, m in rows])
    out = _text(doc, plain=False, width=width)
    for a, m in rows:
        assert a in out and f"{m:,.2f}" in out
