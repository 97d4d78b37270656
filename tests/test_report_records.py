"""The case report's employer and contracts sections (issue 17): payroll against reported wages
per quarter, vendors with their awards, payments and Benford chart; hostile names escaped."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moneytrail.ingest import ingest_file
from moneytrail.report import render_report
from moneytrail.report.records_section import (BENFORD, contracts_context, employers_context, first_digits,
                                               mad_band)
from moneytrail.synth.records import generate_records
from moneytrail.workspace import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    d = tmp_path_factory.mktemp("rr")
    sc = generate_records(d / "data", seed=4, start=date(2026, 1, 1), months=6, n_vendors=25, n_employers=4)
    w = Workspace.open(d / "w.duckdb")
    for p, fmt, m in sc.files:
        ingest_file(w, p, fmt, mapping=m)
    yield w, sc, d
    w.close()


def test_employers_quarters_add_up_to_the_records(ws):
    w, sc, _ = ws
    ctx = employers_context(w, limit=100)
    assert ctx["total"] == w.scalar("SELECT count(DISTINCT employer) FROM payroll_lines")
    gap = sc.truth["employers"]["wage_gap"][0]["employer"]
    (e,) = [r for r in ctx["rows"] if r["employer"] == gap]
    for q in e["quarters"]:
        gross = w.scalar("SELECT sum(gross) FROM payroll_lines WHERE employer = ? AND year(pay_date) = ? "
                         "AND quarter(pay_date) = ?", [gap, q["y"], q["q"]])
        assert q["gross"] == gross
        assert q["share"] is not None and q["share"] < 0.5            # reported under half its payroll
    assert "<svg" in e["chart"] and "payroll register gross" in e["chart"]


def test_a_made_up_vendor_is_out_of_band_and_a_log_uniform_one_is_not(ws):
    w, sc, _ = ws
    ctx = contracts_context(w, limit=1000)
    by = {r["uei"]: r for r in ctx["rows"]}
    made_up = by[sc.truth["contracts"]["benford"][0]["vendor"]]
    real = by[sc.truth["contracts"]["look_alikes"]["benford"][0]["vendor"]]
    assert made_up["band"] == "nonconformity" and made_up["mad"] > 0.015
    assert real["benford_n"] >= 1200 and real["mad"] < made_up["mad"] and real["band"] != "nonconformity"


def test_the_report_has_both_sections_and_escapes_names(ws, tmp_path):
    w, sc, _ = ws
    evil = '<script>alert("x")</script> & Co'
    w.con.execute("UPDATE main.vendors SET name = ? WHERE uei = ?", [evil, sc.truth["contracts"]["benford"][0]["vendor"]])
    w.con.execute("UPDATE main.payroll_lines SET employer_name = ? WHERE record_id = (SELECT min(record_id) "
                  "FROM main.payroll_lines)", [evil])
    html = render_report(w, tmp_path / "r.html").read_text()
    assert 'id="employers"' in html and 'id="contracts"' in html and "benford-chart" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_exact_benford_proportions_have_no_deviation():
    mad, band = mad_band(BENFORD)
    assert mad == pytest.approx(0, abs=1e-15) and band == "close conformity"


@given(st.lists(st.decimals(min_value=10, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
                min_size=1, max_size=50))
def test_first_digit_shares_sum_to_one_and_count_every_amount_of_ten_or_more(amounts):
    props, n = first_digits(amounts)
    assert n == len(amounts) and math.isclose(sum(props), 1.0)
    for a in amounts:
        assert props[int(str(a).lstrip("0")[0]) - 1] > 0


def test_amounts_under_ten_are_not_counted():
    assert first_digits([5, 9.99, -3])[1] == 0 and first_digits([-45, 10])[1] == 2


def test_a_party_a_finding_names_shows_its_records(ws):
    from moneytrail import _reads
    from moneytrail.errors import WorkspaceError

    w, sc, _ = ws
    uei = sc.truth["contracts"]["shell_vendor"][0]["vendor"]
    p = _reads.account(w, f"vendor:{uei}")["party"]
    assert p["counts"] == {"vendors": 2, "awards": w.scalar("SELECT count(*) FROM awards WHERE recipient_uei = ?", [uei]),
                           "payments": w.scalar("SELECT count(*) FROM payments WHERE vendor_uei = ?", [uei])}
    assert {r["kind"] for r in p["records"]} == {"vendors", "awards", "payments"}
    ein = sc.truth["employers"]["wage_gap"][0]["employer"]
    p = _reads.account(w, f"employer:{ein}")["party"]
    assert p["counts"]["payroll_lines"] == w.scalar("SELECT count(*) FROM payroll_lines WHERE employer = ?", [ein])
    assert all("***-**-" in r["detail"] for r in p["records"] if r["kind"] == "payroll_lines")
    with pytest.raises(WorkspaceError, match="no account"):
        _reads.account(w, "vendor:NOSUCHVENDOR")
    with pytest.raises(WorkspaceError, match="no account"):
        _reads.account(w, "vendor:' OR 1=1 --")
