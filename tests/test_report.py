"""The HTML case report: renders on empty, ingested-only and full workspaces; escapes; reads only."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from moneytrail import __version__
from moneytrail.workspace import Workspace
from moneytrail.ingest import ingest_file
from moneytrail.report import render_report
from moneytrail.report.chart import compact, nice_ticks
from moneytrail.workspace import now_utc

SECTION_IDS = ["top", "summary", "sources", "quarantine", "flows", "findings", "runs"]
XSS = "<script>alert(1)</script>"

MAPPING = {
    "currency": "USD",
    "date": {"column": "Date", "format": "%Y-%m-%d"},
    "amount": {"column": "Amount"},
    "payer": {"account": "From"},
    "payee": {"account": "To"},
    "description": "Desc",
    "location": "Where",
}

CSV = (
    "Date,Amount,From,To,Desc,Where\n"
    "2024-01-02,9500.00,ACC-A,ACC-B,cash deposit,Branch 12\n"
    "2024-01-03,9400.00,ACC-A,ACC-B,cash deposit,Branch 12\n"
    "2024-01-04,not-a-number,ACC-A,ACC-B,broken,Branch 12\n"
    f"2024-01-20,9900.00,ACC-B,ACC-C,{XSS},Branch 7\n"
    "2024-02-15,120.55,ACC-C,ACC-D,groceries,\n"
    "2024/03/01,50.00,ACC-C,ACC-D,bad date,\n"
    "2024-04-30,15000.00,ACC-D,ACC-A,wire out,\n"
)


def _ws_with_csv(tmp_path):
    src = tmp_path / "statement.csv"
    src.write_text(CSV, encoding="utf-8")
    ws = Workspace.open(tmp_path / "case.duckdb")
    res = ingest_file(ws, src, "csv", mapping=MAPPING, legal_basis=["subpoena"])
    assert (res.read, res.stored, res.quarantined) == (7, 5, 2)
    return ws


def _add_finding(ws, fid, typology, score, explanation, tx_rows, accounts, params=None):
    """Insert a finding citing rows (source_row numbers of source 1) and accounts."""
    run = ws.start_run("detect", {"typology": typology})
    tx_ids = [r[0] for r in ws.query(
        f"SELECT tx_id FROM transactions WHERE source_row IN ({','.join('?' * len(tx_rows))})",
        list(tx_rows))]
    amt = ws.scalar(f"SELECT sum(amount) FROM transactions WHERE tx_id IN "
                    f"({','.join('?' * len(tx_ids))})", tx_ids)
    ws.con.execute(
        "INSERT INTO findings VALUES (?, ?, ?, '1.0', ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'USD', NULL, NULL)",
        [fid, run, typology, json.dumps(params or {"threshold": 10000}), score,
         dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 20), amt, explanation,
         "FinCEN advisory FIN-2014-A008", now_utc()])
    for t in tx_ids:
        ws.con.execute("INSERT INTO finding_transactions VALUES (?, ?)", [fid, t])
    for acc, role in accounts:
        ws.con.execute("INSERT INTO finding_accounts VALUES (?, ?, ?)", [fid, acc, role])
    ws.finish_run(run, {"findings": 1})
    return tx_ids


def _section_ids(text):
    return set(re.findall(r'<section id="([^"]+)"', text)) | set(re.findall(r'<header class="report" id="([^"]+)"', text))


def _snapshot(ws):
    return {t: ws.query(f"SELECT * FROM {t} ORDER BY ALL") for t in
            ("sources", "accounts", "transactions", "quarantine", "runs", "findings",
             "finding_accounts", "finding_transactions")}


def test_empty_workspace(tmp_path):
    ws = Workspace.open(tmp_path / "empty.duckdb")
    before = _snapshot(ws)
    out = render_report(ws)
    assert out == tmp_path / "empty-report.html"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "moneytrail case report — empty.duckdb" in text
    assert __version__ in text
    assert set(SECTION_IDS) <= _section_ids(text)
    assert "No sources" in text and "No findings" in text and "No transactions to chart" in text
    assert "<svg" not in text
    assert _snapshot(ws) == before
    ws.close()


def test_sources_without_findings(tmp_path):
    ws = _ws_with_csv(tmp_path)
    out = render_report(ws, tmp_path / "out" / "r.html", title="Case 42 <draft>")
    text = out.read_text(encoding="utf-8")
    assert "<title>Case 42 &lt;draft&gt;</title>" in text
    assert "statement.csv" in text and "subpoena" in text
    assert "<svg" in text
    assert "No findings recorded" in text
    assert XSS not in text
    assert "43,920.55" in text  # total amount
    ws.close()


@pytest.fixture
def full(tmp_path):
    ws = _ws_with_csv(tmp_path)
    f1 = _add_finding(ws, 1, "structuring", 0.91,
                      "Two cash deposits of 9,500.00 and 9,400.00 just under the 10,000 threshold.",
                      [1, 2], [("ACC-A", "subject"), ("ACC-B", "beneficiary")])
    f2 = _add_finding(ws, 2, "rapid-movement", 0.47,
                      "Funds received by ACC-B moved on to ACC-C within 18 days.",
                      [2, 4], [("ACC-B", "pass-through")],
                      params={"window_days": 30, "note": XSS})
    return ws, f1, f2


def test_full_report(full, tmp_path):
    ws, f1, f2 = full
    before = _snapshot(ws)
    out = render_report(ws, tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")

    # structure
    ids = _section_ids(text)
    assert set(SECTION_IDS) <= ids
    for anchor in ("findings-index", "findings-detail", "findings-by-typology",
                   "finding-1", "finding-2", "source-1"):
        assert f'id="{anchor}"' in text
    assert text.count("<article class=\"finding\"") == 2
    for sid in SECTION_IDS:  # the table of contents links to every section
        assert f'href="#{sid}"' in text

    # findings: explanation, transactions, order by score
    assert "Two cash deposits of 9,500.00 and 9,400.00 just under the 10,000 threshold." in text
    assert "Funds received by ACC-B moved on to ACC-C within 18 days." in text
    for t in f1 + f2:
        assert str(t) in text
    assert text.index('id="finding-1"') < text.index('id="finding-2"')
    assert "structuring" in text and "rapid-movement" in text
    assert "pass-through" in text and "beneficiary" in text
    assert "FinCEN advisory FIN-2014-A008" in text
    assert "statement.csv row 4" in re.sub(r"<[^>]+>", "", text)  # provenance: file and row
    assert "Branch 7" in text

    # counts
    assert ">5<" in text.replace(" ", "")            # transactions
    assert "rows read = stored + quarantined" in text
    assert "✓" in text
    assert "not-a-number" in text and "does not match format" in text  # quarantine examples
    assert "43,920.55" in text   # total amount: 9500 + 9400 + 9900 + 120.55 + 15000

    # chart
    assert "<svg" in text and "Amount in findings" in text

    # escaping: the description and the JSON parameter holding a script tag
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<script>") == 1  # only the report's own filter script

    # read-only
    assert _snapshot(ws) == before
    ws.close()


def test_total_amount_value(full, tmp_path):
    ws, _, _ = full
    total = ws.scalar("SELECT sum(amount) FROM transactions")
    text = render_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"{total:,.2f}" in text


def test_tx_limit_and_compact_rest(full, tmp_path):
    ws, f1, _ = full
    for fid in range(3, 9):
        _add_finding(ws, fid, "fan-in", 0.1 / fid, f"low finding {fid}", [5, 7], [("ACC-D", "hub")])
    out = render_report(ws, tmp_path / "r.html", max_tx_per_finding=1, max_findings_full=3)
    text = out.read_text(encoding="utf-8")
    assert "1 more not shown" in text
    assert 'id="findings-more"' in text
    assert text.count('<article class="finding"') == 3
    for fid in range(4, 9):
        assert f"low finding {fid}" in text  # in the compact table
    assert text.index('id="finding-1"') < text.index('id="finding-2"') < text.index('id="finding-3"')


def test_missing_transaction_is_reported(full, tmp_path):
    ws, _, _ = full
    ws.con.execute("INSERT INTO finding_transactions VALUES (1, 990000000007)")
    text = render_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "990000000007" in text
    assert "not in the workspace" in text


def test_read_only_workspace(full, tmp_path):
    ws, _, _ = full
    path = ws.path
    ws.close()
    with Workspace.open(path, read_only=True) as ro:
        out = render_report(ro)
    assert out == path.with_name("case-report.html")
    assert "structuring" in out.read_text(encoding="utf-8")


def test_daily_and_long_spans(tmp_path):
    ws = Workspace.open(tmp_path / "span.duckdb")
    # hand-written rows (as an ingest would leave them) over a decade: the chart goes monthly
    ws.con.execute("INSERT INTO sources (source_id, file_name, original_path, evidence_path, size_bytes, "
                   "sha256, format, role, legal_basis, received_at) VALUES "
                   "(1, 'x.csv', '/x.csv', 'sha256/00/00', 1, '00', 'csv', 'transactions', [], now())")
    ws.con.execute("""INSERT INTO transactions (tx_id, source_id, source_row, ts, orig_account, bene_account,
                      amount, currency) SELECT 10000000000 + i, 1, i, TIMESTAMP '2010-01-01' + i * INTERVAL 30 DAY,
                      'A', 'B', 100, 'USD' FROM range(1, 130) t(i)""")
    text = render_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Monthly totals" in text and "<svg" in text
    ws.close()


def test_chart_helpers():
    assert nice_ticks(0) == [0.0, 1.0]
    t = nice_ticks(437_000)
    assert t[0] == 0 and t[-1] >= 437_000 and len(t) <= 6
    assert compact(1_500_000) == "1.5M" and compact(2_000) == "2k" and compact(12) == "12"


# -- the print-ready report and the case header (issue 12 item 3) ---------------------------------

def test_print_ready_groups_findings_by_typology_with_a_cap_and_an_appendix(full, tmp_path):
    ws, _, _ = full
    for fid in range(3, 9):  # six more structuring findings: two get a section, the rest the appendix
        _add_finding(ws, fid, "structuring", 0.5 - fid / 100, f"structuring finding {fid}", [1, 4],
                     [("ACC-A", "subject")])
    before = _snapshot(ws)
    text = render_report(ws, tmp_path / "p.html", print_ready=True).read_text(encoding="utf-8")
    assert 'class="print-ready"' in text and 'id="contents"' in text
    assert 'nav class="toc"' not in text and "<script>" not in text   # nothing to run on paper
    assert 'id="typology-structuring"' in text and 'id="typology-rapid-movement"' in text
    # structuring: 7 findings, the 2 highest-scoring in full (1, 3), 5 in the appendix
    sections = re.findall(r'<article class="finding" id="finding-(\d+)" data-typology="structuring"', text)
    assert sections == ["1", "3"]
    assert "5 more structuring findings in" in re.sub(r"<[^>]+>", "", text)
    appendix = text[text.index('id="appendix-findings"'):text.index('id="runs"')]
    assert sorted(re.findall(r'<tr id="finding-(\d+)"', appendix), key=int) == ["4", "5", "6", "7", "8"]
    assert "Appendix A. Further findings (5)" in appendix and "Appendix B. Run log" in text
    # parameters are a readable line, not JSON; the hostile values stay text
    assert "window_days <b>30</b>" in text and "{&#34;" not in text
    assert XSS not in text and "&lt;script&gt;" in text
    assert _snapshot(ws) == before
    ws.close()


def test_breakable_ids_wrap_only_after_separators_and_stay_escaped():
    from moneytrail.report import breakable

    assert str(breakable("ACB/20260206/00158051")) == "ACB/<wbr>20260206/<wbr>00158051"
    assert str(breakable("DE89370400440532013000")) == "DE89370400440532013000"   # no separator: whole
    assert str(breakable('a<b>"c')) == "a&lt;b&gt;&#34;c"
    assert str(breakable(None)) == ""


def test_the_case_report_opens_with_the_case_its_officers_and_authorities(tmp_path):
    from moneytrail import Session
    from moneytrail.audit import AuditLog
    from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority
    from moneytrail.ingest import parse_mapping

    path = tmp_path / "case.duckdb"
    with Workspace.open(path) as ws:
        setup_demo_authority(ws)
    src = tmp_path / "statement.csv"
    src.write_text(CSV, encoding="utf-8")
    with Session.open(path, officer=DEMO_OFFICER, case=DEMO_CASE) as s:
        s.ingest(src, "csv", mapping=parse_mapping(MAPPING), legal_basis=["subpoena"])
        out = s.report(tmp_path / "print.html", print_ready=True)
        screen = s.report(tmp_path / "screen.html")
        log = list(AuditLog.of(s._ws).entries())
    for p in (out, screen):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", p.read_text(encoding="utf-8")))
        assert f"Case {DEMO_CASE}: Synthetic funnel, front company and laundering cycle" in text
        assert "Predicate Synthetic bank exports show a funnel account" in text
        assert "Function human-trafficking-finance" in text
        assert "grant G-DEMO-1 under 8 U.S.C. 1103(a)(6)" in text      # the analyst's authority
        assert "none recorded: federal tax information was not readable in this case" in text
        assert f"by {DEMO_OFFICER}" in text                             # who generated it
    reads = [e for e in log if e["kind"] == "read" and e["action"] == "report"]
    assert [r["what"]["print_ready"] for r in reads] == [True, False]
