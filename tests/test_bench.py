"""The benchmark commands: output shape, and the detection quality they measure as a regression guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

AMLSIM = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "amlsim_small"


@pytest.mark.slow
def test_bench_detect_on_amlsim_small():
    if not AMLSIM.is_dir():
        pytest.skip("../shared/data/amlsim_small is not beside the repository")
    proc = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "bench", "detect", "--data", str(AMLSIM),
                           "--format", "json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert set(res) >= {"typologies", "transactions", "seconds", "transactions_per_second"}
    assert res["transactions"] == 412_809
    typ = res["typologies"]
    assert set(typ) == {"fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter", "bipartite", "stack",
                        "random"}
    for name, r in typ.items():
        assert set(r) >= {"recall", "precision", "findings", "seconds"}
    # regression guard on the development set (the goal is >= 0.90; see BENCHMARKS.md for cycle)
    for name in ("fan_in", "fan_out", "scatter_gather", "gather_scatter", "bipartite", "stack"):
        assert typ[name]["recall"] >= 0.9, (name, typ[name])
    assert typ["cycle"]["recall"] >= 0.75 and typ["cycle"]["precision"] >= 0.8
    # what the data allows: the share of cycle transfers on a loop that closes, and recall of those
    assert 0.8 <= typ["cycle"]["closable_share"] <= 0.83 and typ["cycle"]["recall_of_closable"] >= 0.9
    for name in ("scatter_gather", "gather_scatter"):
        assert typ[name]["shape_share"] >= 0.95 and typ[name]["recall_of_shape"] >= 0.95, (name, typ[name])


@pytest.mark.slow
def test_bench_detect_on_amlgentex_small():
    """The second simulator: one transfer per edge, laundering among busy accounts (issue 15)."""
    data = AMLSIM.parent / "amlgentex_small"
    if not data.is_dir():
        pytest.skip("../shared/data/amlgentex_small is not beside the repository")
    from moneytrail.bench.detect import bench_detect

    typ = bench_detect(data, parameters=None)["typologies"]
    assert typ["bipartite"]["recall"] >= 0.9 and typ["bipartite"]["precision"] >= 0.5, typ["bipartite"]
    assert typ["cycle"]["recall_of_closable"] >= 0.9, typ["cycle"]
    # the scheme's intermediaries are busy accounts: the degree bound must not drop them
    assert typ["scatter_gather"]["recall"] >= 0.7 and typ["scatter_gather"]["precision"] >= 0.4, typ["scatter_gather"]
    for name in ("fan_in", "fan_out"):
        assert typ[name]["recall"] >= 0.9, (name, typ[name])


class _Labels:
    """A stand-in for a workspace's labels joined to its transactions (``shape_transfers`` reads
    nothing else)."""

    def __init__(self, rows):
        self.rows = rows   # (alert_id, alert_type, tx_id, orig, bene, day)

    def query(self, sql, params):
        return [(a, tx, s, d, ts) for a, t, tx, s, d, ts in self.rows if t == params[0]]


def test_smallest_shapes_of_scatter_gather_and_gather_scatter():
    from moneytrail.bench.detect import shape_transfers

    sg = [
        # alert 1: s -> m1 -> d and s -> m2 -> d in time order (the shape), plus a stray hop m1 -> x
        (1, "scatter_gather", 10, "s", "m1", 1), (1, "scatter_gather", 11, "s", "m2", 1),
        (1, "scatter_gather", 12, "m1", "d", 2), (1, "scatter_gather", 13, "m2", "d", 3),
        (1, "scatter_gather", 14, "m1", "x", 2),
        # alert 2: one path only, and a second path whose onward hop comes before the money arrives
        (2, "scatter_gather", 20, "a", "n1", 5), (2, "scatter_gather", 21, "n1", "b", 6),
        (2, "scatter_gather", 22, "a", "n2", 9), (2, "scatter_gather", 23, "n2", "b", 8),
        # alert 3: the same accounts as alert 1 but paths split across alerts do not count
        (3, "scatter_gather", 30, "s", "m3", 1),
    ]
    assert shape_transfers(_Labels(sg), "scatter_gather") == {10, 11, 12, 13}
    gs = [
        # alert 4: h receives from two and pays two after its first receipt
        (4, "gather_scatter", 40, "p", "h", 1), (4, "gather_scatter", 41, "q", "h", 2),
        (4, "gather_scatter", 42, "h", "u", 3), (4, "gather_scatter", 43, "h", "v", 4),
        # alert 5: two in, one out (a gather, not a gather-scatter); a payment before any receipt
        (5, "gather_scatter", 50, "p", "k", 5), (5, "gather_scatter", 51, "q", "k", 6),
        (5, "gather_scatter", 52, "k", "u", 7), (5, "gather_scatter", 53, "k", "w", 1),
    ]
    assert shape_transfers(_Labels(gs), "gather_scatter") == {40, 41, 42, 43}
    with pytest.raises(ValueError):
        shape_transfers(_Labels(gs), "stack")


def test_bench_scale_small_graph_finds_planted_patterns(tmp_path):
    from moneytrail.bench.scale import bench_scale

    res = bench_scale(transactions=20_000, accounts=2_000, hubs=5, seed=3, planted=5, workdir=tmp_path)
    assert res["transactions"] > 19_000 and res["max_degree"] > 500  # hubs are there
    assert res["planted_found"] == {"cycles": 5, "scatter_gathers": 5, "fan_ins": 5}
    assert res["peak_rss_mb"] > 0 and res["seconds"] > 0


def test_bench_audit_small(tmp_path, monkeypatch):
    """The audit benchmark on a small log: every figure present, the log it built verifies, and
    the fresh-process run really took its decisions (it exits non-zero otherwise)."""
    from moneytrail.bench.audit import bench_audit

    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(tmp_path / "outer-keys"))
    res = bench_audit(entries=300, guards=20, batch=1, workdir=tmp_path / "w", runs=1)
    pc = res["per_command"]
    for state in ("warm", "after_change"):
        assert set(pc[state]) == {"guard_plus_read", "guard", "record_read", "decision_only"}
        assert all(v["median_ms"] > 0 for v in pc[state].values())
    assert pc["new_process"]["runs"] == 1 and pc["new_process"]["first_command"]["median_ms"] > 0
    assert res["verify"]["ok"] and res["verify"]["entries"] == 300 and res["verify"]["heads"] == 300
    assert res["append"]["batched_1000_entries_per_s"] > 0 and res["peer_duckdb_insert_per_entry"]["median_ms"] > 0
    import os
    assert os.environ["MONEYTRAIL_KEY_DIR"] == str(tmp_path / "outer-keys")   # restored


def test_perturb_drops_jitters_and_adds_as_asked(tmp_path):
    from moneytrail.bench.noise import perturb
    from moneytrail.ingest import ingest_file
    from moneytrail.workspace import Workspace

    src = tmp_path / "src"
    src.mkdir()
    (src / "transactions.csv").write_text(
        "tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id\n"
        + "".join(f"{i},{i % 7},{(i + 1) % 7},TRANSFER,{100 + i}.5,2024-01-{1 + i % 28:02d}T00:00:00Z,"
                  f"{'True' if i % 10 == 0 else 'False'},{0 if i % 10 == 0 else -1}\n" for i in range(1, 1001)))
    (src / "accounts.csv").write_text("acct_id,dsply_nm,type,acct_stat,acct_rptng_crncy,branch_id,open_dt,close_dt,"
                                      "initial_deposit,tx_behavior_id,bank_id,country\n"
                                      + "".join(f"{a},C_{a},I,A,USD,1,0,1000000,100.0,,bank_a,US\n" for a in range(7)))
    (src / "alert_transactions.csv").write_text(
        "alert_id,alert_type,is_sar,tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp\n"
        + "".join(f"0,cycle,True,{i},{i % 7},{(i + 1) % 7},TRANSFER,{100 + i}.5,2024-01-{1 + i % 28:02d}T00:00:00Z\n"
                  for i in range(10, 1001, 10)))
    a = perturb(src, tmp_path / "a", seed=1, drop=0.1, jitter_days=1, add=0.2)
    b = perturb(src, tmp_path / "b", seed=1, drop=0.1, jitter_days=1, add=0.2)
    assert (tmp_path / "a" / "transactions.csv.gz").read_bytes() == (tmp_path / "b" / "transactions.csv.gz").read_bytes()
    assert a == b and a["added"] == 200 and 50 <= a["dropped"] <= 150 and 80 <= a["labeled_kept"] < 100
    with Workspace.open(tmp_path / "w.duckdb") as ws:
        r = ingest_file(ws, tmp_path / "a", "amlsim")
        assert r.quarantined == 0 and r.stored == 1000 - a["dropped"] + 200
        assert ws.scalar("SELECT count(*) FROM labels WHERE is_laundering") == a["labeled_kept"]
        # times moved by at most a day: within Dec 31 .. Jan 29
        lo, hi = ws.query("SELECT min(ts), max(ts) FROM transactions")[0]
        assert str(lo) >= "2023-12-31" and str(hi) < "2024-01-30"
        assert ws.scalar("SELECT count(*) FROM transactions WHERE orig_account = bene_account") == 0


@pytest.mark.slow
def test_detection_degrades_gracefully_on_noisier_data():
    """Issue 15: 5 % of transfers dropped, times moved by up to a day, 5 % unrelated traffic added.
    A pattern loses what the drop takes from it (a loop with a missing hop no longer closes), no
    more: each typology keeps at least 70 % of its recall, and its precision at least half."""
    data = AMLSIM.parent / "amlgentex_small"
    if not data.is_dir():
        pytest.skip("../shared/data/amlgentex_small is not beside the repository")
    from moneytrail.bench.noise import bench_noise

    res = bench_noise(data, seed=0)
    assert res["perturbation"]["dropped"] > 0 and res["perturbation"]["added"] > 0
    for name, r in res["typologies"].items():
        if name == "random" or not r["recall"]:
            continue
        assert r["recall_perturbed"] >= 0.7 * r["recall"], (name, r)
        assert r["precision_perturbed"] >= 0.5 * r["precision"], (name, r)


def test_bench_priority_end_to_end_on_a_small_labeled_ledger(tmp_path):
    """The whole protocol on a small AMLSim-layout ledger whose laundering is labeled
    scatter_gather: train, score, the test period's queue in three orders, per-typology curves."""
    import csv

    from moneytrail.bench.priority import CUTS, bench_priority

    from test_score import _amlsim_like

    data = _amlsim_like(tmp_path / "data")
    with (data / "transactions.csv").open() as fi, (data / "alert_transactions.csv").open("w", newline="") as fo:
        w = csv.writer(fo)
        w.writerow(["alert_id", "alert_type", "is_sar", "tran_id"])
        for r in csv.DictReader(fi):
            if r["is_sar"] == "True":
                w.writerow([r["alert_id"], "scatter_gather", "True", r["tran_id"]])
    out = bench_priority(data, workdir=tmp_path)
    assert out["findings_in_test_period"] > 0
    for order in ("today_score_order", "priority_order", "money_at_stake_order"):
        assert all(v is None or 0.0 <= v <= 1.0 for v in out[order].values())
    sg = out["typologies"]["scatter_gather"]
    assert sg["labeled_in_test_period"] > 0 and set(sg["curve"]) == {str(c) for c in CUTS}
    # a stricter cut keeps no more findings and finds no more of the labeled money
    points = [sg["all"]] + [sg["curve"][str(c)] for c in CUTS]
    assert all(a["findings"] >= b["findings"] and a["recall"] >= b["recall"] for a, b in zip(points, points[1:]))


def test_loading_the_gfp_baseline_leaves_floating_point_as_it_was():
    """snapml's libraries are built with fast math: loading them set flush-to-zero for the whole
    process (found when a later Hypothesis test could no longer draw subnormal floats)."""
    import importlib.util

    if importlib.util.find_spec("snapml") is None:
        pytest.skip("snapml (the bench extra) is not installed")
    from moneytrail.bench.score import flushes_subnormals, import_snapml

    assert not flushes_subnormals()
    import_snapml()
    assert not flushes_subnormals()
    assert 2.2250738585072014e-308 / 2 > 0.0
