"""The generated employer and contract records (moneytrail.synth.records): deterministic, read
without a quarantined row by the normal readers, their truth naming records that exist."""

from __future__ import annotations

import json
from datetime import date

import pytest

from moneytrail.ingest import ingest_file
from moneytrail.synth.records import generate_records, micro_threshold
from moneytrail.workspace import Workspace


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    a = generate_records(tmp_path / "a", seed=5, months=4, n_vendors=20, n_employers=4)
    b = generate_records(tmp_path / "b", seed=5, months=4, n_vendors=20, n_employers=4)
    c = generate_records(tmp_path / "c", seed=6, months=4, n_vendors=20, n_employers=4)
    for (p, _, _), (q, _, _), (x, _, _) in zip(a.files, b.files, c.files):
        assert p.read_bytes() == q.read_bytes(), p.name
    assert any(p.read_bytes() != x.read_bytes() for (p, _, _), (x, _, _) in zip(a.files, c.files))


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    d = tmp_path_factory.mktemp("records")
    sc = generate_records(d / "data", seed=3, start=date(2020, 6, 1), months=6, n_vendors=30, n_employers=6,
                          n_plants=2)
    ws = Workspace.open(d / "w.duckdb")
    for p, fmt, m in sc.files:
        r = ingest_file(ws, p, fmt, mapping=m)
        assert r.quarantined == 0 and r.stored == sc.counts[p.name], p.name
    yield ws, sc
    ws.close()


def test_every_file_is_read_whole_by_the_normal_readers(loaded):
    ws, sc = loaded
    assert ws.scalar("SELECT count(*) FROM quarantine") == 0
    assert ws.scalar("SELECT count(*) FROM payroll_lines WHERE worker_id_kind <> 'ssn'") == 0
    assert json.loads((sc.out_dir / "records_truth.json").read_text())["contracts"] == sc.truth["contracts"]


def test_the_truth_names_records_and_parties_that_exist(loaded):
    ws, sc = loaded
    c, e = sc.truth["contracts"], sc.truth["employers"]
    for scheme in ("split_purchase", "duplicate_payment", "vendor_employee_link", "shell_vendor", "benford"):
        for inst in c[scheme]:
            ids = inst["payments"]
            assert ws.scalar("SELECT count(*) FROM payments WHERE list_contains(?, payment_id)", [ids]) == len(ids)
            assert ws.scalar("SELECT count(*) FROM vendors WHERE uei = ?", [inst["vendor"]]) == 2   # SAM and master
    for scheme in ("wage_gap", "cash_payroll", "pooled_wages", "below_minimum_wage", "wage_deductions"):
        for inst in e[scheme]:
            assert ws.scalar("SELECT count(*) FROM payroll_lines WHERE employer_ein = ?", [inst["employer"]]) > 0
    for inst in e["labor_broker"]:
        assert ws.scalar("SELECT count(*) FROM transactions WHERE bene_account = ?", [inst["account"]]) > 0


def test_split_purchases_stay_under_the_threshold_in_force_on_their_dates(loaded):
    ws, sc = loaded
    for inst in sc.truth["contracts"]["split_purchase"]:
        rows = ws.query("SELECT paid_date, amount FROM payments WHERE list_contains(?, payment_id)", [inst["payments"]])
        assert all(a < micro_threshold(d) for d, a in rows)
        assert sum(a for _, a in rows) > micro_threshold(rows[0][0])


def test_bench_records_needs_one_engine_and_no_data_folder(tmp_path):
    from cli_helpers import mt, one_line_error

    one_line_error(mt("bench", "detect", "--records", "--data", str(tmp_path), cwd=tmp_path), "not both")
    one_line_error(mt("bench", "detect", cwd=tmp_path), "--data")
