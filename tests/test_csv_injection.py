"""CSV cells a spreadsheet would run (issue 10): every CSV moneytrail writes neutralises them.

The attack: an evidence file named ``=HYPERLINK("http://x")+.csv`` (with backslashes: a file name
cannot hold a slash) and accounts named
``=cmd|' /C calc'!A0``, ``@SUM(1)``, ``+1`` and ``-1+1``. Their names reach the export (file name,
account columns, the accounts list) and the explanations (a round trip's explanation begins with
its first account), and ``findings --format csv`` and ``trace --format csv`` print them. Each such
cell must be written with a leading ``'`` (OWASP) and read back, with the csv module, as exactly
that; numbers stay numbers; Parquet keeps the values as they are.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from moneytrail import Session
from moneytrail.cli.trace_cmd import _render
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.export import csv_safe
from moneytrail.ingest import parse_mapping
from moneytrail.workspace import Workspace

FILE = '=HYPERLINK("http:\\\\x")+.csv'     # the attack's name; a file name can't hold '/', so '\\'
HOSTILE = ["=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1+1"]
MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """Each hostile account sends 5,000 to a plain account and gets 4,500 back (a round trip whose
    explanation starts with the hostile name), in a file with a hostile name."""
    d = tmp_path_factory.mktemp("csvinj")
    p = d / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    w = io.StringIO()
    cw = csv.writer(w, lineterminator="\n")
    cw.writerow(["d", "amt", "from", "to"])
    for i, h in enumerate(HOSTILE):
        cw.writerow([f"2024-03-{1 + 3 * i:02d}", "5000.00", h, f"ZZ{i}"])
        cw.writerow([f"2024-03-{2 + 3 * i:02d}", "4500.00", f"ZZ{i}", h])
    (d / FILE).write_text(w.getvalue())
    with Session.open(p, officer=AN, case=CASE) as s:
        res = s.ingest(d / FILE, "csv", mapping=MAPPING, legal_basis=["subpoena"])
        assert res.stored == 2 * len(HOSTILE) and res.quarantined == 0
        s.detect(["round_trip"])
    return d


@pytest.fixture
def s(case):
    with Session.open(case / "case.duckdb", officer=AN, case=CASE) as sess:
        yield sess


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_neutraliser():
    for v in HOSTILE + ["\tx", "\rx", "=", "-12.50"]:
        assert csv_safe(v) == "'" + v
    for v in ("plain", "", "1+1", " =x", "'=already", None, Decimal("-12.50"), -3, -1.5, 0):
        assert csv_safe(v) == v        # text that no spreadsheet runs, and numbers, as they are


def test_export_csv_cells_are_neutralised_and_read_back_exactly(s, tmp_path):
    found = {f.finding_id: f.to_dict() for f in s.findings()}
    starts = {f["explanation"].split(" sent money")[0] for f in found.values()}
    assert starts == set(HOSTILE), "every hostile name starts an explanation"
    s.export(tmp_path / "out")
    fx = read_csv(tmp_path / "out" / "findings.csv")
    assert len(fx) == len(HOSTILE)
    for r in fx:
        f = found[int(r["finding_id"])]
        assert r["explanation"] == "'" + f["explanation"]            # exactly the prefixed value
        assert r["accounts"].startswith("'") and r["accounts"][1:] in (
            ";".join(f"{a['account_id']}:{a['role']}" for a in f["accounts"]),)
        assert Decimal(r["total_amount"]) == f["total_amount"] and not r["total_amount"].startswith("'")
    tx = read_csv(tmp_path / "out" / "finding_transactions.csv")
    assert {r["source_file"] for r in tx} == {"'" + FILE}
    for r in tx:
        for col in ("orig_account", "bene_account"):
            v = r[col]
            assert v.startswith("ZZ") or v[1:] in HOSTILE and v.startswith("'"), (col, v)
        assert Decimal(r["amount"]) in (Decimal("5000"), Decimal("4500"))   # a number, not text
    (src,) = read_csv(tmp_path / "out" / "sources.csv")
    assert src["file_name"] == "'" + FILE


def test_parquet_keeps_values_as_they_are(s, tmp_path):
    s.export(tmp_path / "pq", format="parquet")
    tx = pq.read_table(tmp_path / "pq" / "finding_transactions.parquet").to_pylist()
    assert {r["source_file"] for r in tx} == {FILE}
    assert set(HOSTILE) <= {r["orig_account"] for r in tx}


def test_findings_csv_command(case):
    d = case
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_") or k == "MONEYTRAIL_KEY_DIR"}
    p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "--as", AN, "--case", CASE, "findings",
                        "--format", "csv", "-w", str(d / "case.duckdb")], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    with Session.open(d / "case.duckdb", officer=AN, case=CASE) as s:
        found = {f.finding_id: f.to_dict() for f in s.findings()}
    assert len(rows) == len(HOSTILE)
    for r in rows:
        f = found[int(r["finding_id"])]
        assert r["explanation"] == "'" + f["explanation"]
        assert r["accounts"][0] == "'"
        assert float(r["score"]) == pytest.approx(f["score"], abs=5e-4) and r["score"][0].isdigit()


def test_trace_csv(s):
    first = s._ws.scalar("SELECT min(tx_id) FROM transactions")      # =cmd... -> ZZ0
    res = s.trace([first], rule="libr")
    out = list(csv.reader(io.StringIO(_render(res, "csv", schedule=True, limit=10))))
    cells = [c for row in out[1:] for c in row]
    assert "'" + HOSTILE[0] in cells                     # the counterparty column
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
