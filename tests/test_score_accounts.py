"""Issue 15: the causal features added to the transaction model, and the account-level model."""

from __future__ import annotations

import numpy as np
import pytest

from moneytrail.backends import DuckDBBackend
from moneytrail.score.accounts import (ACTIVITY, account_feature_names, account_table, account_volume_names,
                                       evaluate_accounts, period_cuts, period_of_rows, tx_max_scores)
from moneytrail.score.features import FEATURE_NAMES, FEATURES, VOLUME_FEATURES, compute_features, feature_matrix
from moneytrail.score.model import temporal_split
from moneytrail.workspace import Workspace

EDGES = """CREATE TABLE edges AS
    SELECT i::BIGINT AS tx_id, 'A' || (i % 11)::VARCHAR AS src, 'A' || ((i * 3 + 1 + i // 50) % 11)::VARCHAR AS dst,
           TIMESTAMP '2025-01-01' + INTERVAL (i // 4) DAY AS ts,
           (i * 37 % 1000 + 1)::DECIMAL(18,4) AS amount
    FROM range(600) r(i) WHERE (i % 11) <> ((i * 3 + 1 + i // 50) % 11)"""


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    ws = Workspace.open(tmp_path_factory.mktemp("acc") / "a.duckdb")
    ws.con.execute(EDGES)
    # laundering: every 13th transfer
    ws.con.execute("CREATE TABLE lab AS SELECT tx_id, (tx_id % 13 = 0) AS is_laundering FROM edges")
    be = DuckDBBackend(ws.con)
    compute_features(be, "SELECT tx_id, src, dst, ts, amount FROM edges")
    yield ws, be
    ws.close()


def test_every_feature_is_described_and_the_volume_set_is_a_subset():
    assert list(FEATURES) == FEATURE_NAMES and len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert set(VOLUME_FEATURES) < set(FEATURE_NAMES)
    assert not {"pair_n", "pair_age_days", "s_newfrac28", "s_oneshot28_frac", "s_payees_fanin7"} & set(VOLUME_FEATURES)
    names = account_feature_names()
    assert set(account_volume_names()) < set(names) and len(names) == len(ACTIVITY) + 4 * len(FEATURE_NAMES)


def test_new_features_are_causal(ledger):
    """A transfer's features do not change when everything after its day is removed."""
    ws, be = ledger
    full, _ = feature_matrix(be)
    cut = ws.scalar("SELECT TIMESTAMP '2025-01-01' + INTERVAL 90 DAY")
    compute_features(be, f"SELECT tx_id, src, dst, ts, amount FROM edges WHERE ts <= TIMESTAMP '{cut}'", table="f_cut")
    part, _ = feature_matrix(be, "f_cut")
    k = part.num_rows
    assert 0 < k < full.num_rows
    assert full.column("tx_id").to_pylist()[:k] == part.column("tx_id").to_pylist()
    for f in FEATURE_NAMES:
        assert full.column(f).to_pylist()[:k] == pytest.approx(part.column(f).to_pylist(), nan_ok=True), f
    compute_features(be, "SELECT tx_id, src, dst, ts, amount FROM edges")   # back to the full table


def test_one_shot_and_two_hop_features_by_hand(tmp_path):
    """A pays B once on day 0 and C twice (days 0 and 3); E pays D on day 19; on day 30 A pays D.
    By then A's two relationships have matured for 7 and 28 days and one of them (A->B) was
    one-shot; D's one relationship has matured for 7 days only."""
    with Workspace.open(tmp_path / "h.duckdb") as ws:
        ws.con.execute("""CREATE TABLE edges AS SELECT * FROM (VALUES
            (1, 'A', 'B', TIMESTAMP '2025-01-01', 10.0), (2, 'A', 'C', TIMESTAMP '2025-01-01', 10.0),
            (3, 'A', 'C', TIMESTAMP '2025-01-04', 10.0), (4, 'E', 'D', TIMESTAMP '2025-01-20', 10.0),
            (5, 'A', 'D', TIMESTAMP '2025-01-31', 10.0)) t(tx_id, src, dst, ts, amount)""")
        be = DuckDBBackend(ws.con)
        compute_features(be, "SELECT * FROM edges")
        r = dict(zip(*[[c for c in ws.con.execute("SELECT * FROM features WHERE tx_id = 5").description],
                       ws.con.execute("SELECT * FROM features WHERE tx_id = 5").fetchone()]))
        r = {k[0]: v for k, v in r.items()}
        first = {k[0]: v for k, v in zip(ws.con.execute("SELECT * FROM features WHERE tx_id = 3").description,
                                         ws.con.execute("SELECT * FROM features WHERE tx_id = 3").fetchone())}
    # A's pairs A->B (one-shot) and A->C (second transfer on day 3): matured by day 30
    assert r["s_matured7"] == 2 and r["s_oneshot7_frac"] == pytest.approx(0.5)
    assert r["s_matured28"] == 2 and r["s_oneshot28_frac"] == pytest.approx(0.5)
    # D's pair E->D began on day 19: matured for 7 days (one-shot so far), not for 28
    assert r["d_matured7"] == 1 and r["d_oneshot7_frac"] == pytest.approx(1.0) and r["d_matured28"] == 0
    # on day 3 nothing had matured yet
    assert first["s_matured7"] == 0 and first["s_oneshot7_frac"] is None
    # the receiver D's new payers of the last 7 days: A only (E paid 11 days before)
    assert r["d_payers_fanout7"] == pytest.approx(1.0)   # A opened one new relationship in 7 days
    assert r["s_newfrac_all"] == pytest.approx(3 / 4)    # A: 4 transfers, 3 opened a pair


def test_account_rows_labels_and_periods(ledger):
    ws, be = ledger
    n = ws.scalar("SELECT count(*) FROM features")
    tbl = account_table(be, n, labels="lab")
    rows = ws.con.execute("""SELECT e.src, e.dst, l.is_laundering FROM features f JOIN edges e USING (tx_id)
                             JOIN lab l USING (tx_id) ORDER BY f.ts, f.tx_id""").fetchall()
    period = period_of_rows(n)
    tr, va, te = temporal_split(n)
    assert set(period[tr]) == {0, 1, 2} and set(period[va]) == {3} and set(period[te]) == {4}
    assert period_cuts(n)[2:] == [len(tr), len(tr) + len(va)]
    want_y, want_out = {}, {}
    for (s, d, y), p in zip(rows, period.tolist()):
        for a in (s, d):
            want_y[(a, p)] = max(want_y.get((a, p), 0), int(y))
        want_out[(s, p)] = want_out.get((s, p), 0) + 1
    got = {(a, p): (y, no) for a, p, y, no in zip(tbl.column("acct").to_pylist(), tbl.column("period").to_pylist(),
                                                   tbl.column("y").to_pylist(), tbl.column("n_out").to_pylist())}
    assert set(got) == set(want_y)
    assert all(got[k][0] == want_y[k] and got[k][1] == want_out.get(k, 0) for k in got)
    assert [c for c in tbl.column_names if c not in ("acct", "period", "y")] == account_feature_names()


def test_account_rows_of_a_period_use_nothing_later(ledger):
    """Rows of periods 0-2 are the same when the transfers after period 2 are left out."""
    ws, be = ledger
    n = ws.scalar("SELECT count(*) FROM features")
    full = account_table(be, n, labels="lab")
    cut = period_cuts(n)[2]
    ws.con.execute(f"""CREATE TABLE f_head AS SELECT * FROM features QUALIFY
                       row_number() OVER (ORDER BY ts, tx_id) <= {cut}""")
    # same cut points as the full table: the head's periods are 0-2 only
    from moneytrail.score.accounts import account_sql
    part = be.execute(account_sql(period_cuts(n), features="f_head", labels="lab"))
    key = lambda t: {(a, p): i for i, (a, p) in enumerate(zip(t.column("acct").to_pylist(), t.column("period").to_pylist()))}
    kf, kp = key(full), key(part)
    assert set(kp) == {k for k in kf if k[1] <= 2}
    for c in ("y", "n_out", "new_in_share", "out_max_s_payees_fanin7", "in_avg_d_oneshot28_frac"):
        a, b = full.column(c).to_pylist(), part.column(c).to_pylist()
        assert [a[kf[k]] for k in kp] == pytest.approx([b[kp[k]] for k in kp], nan_ok=True), c


def test_tx_max_scores_and_evaluation(ledger):
    ws, be = ledger
    n = ws.scalar("SELECT count(*) FROM features")
    tbl = account_table(be, n, labels="lab")
    src = ["x", "y", "x"]
    small = __import__("pyarrow").table({"acct": ["x", "y", "z"], "period": [3, 3, 4]})
    got = tx_max_scores(small, src, ["y", "z", "z"], np.array([3, 3, 4]), np.array([0.2, np.nan, 0.7]))
    assert got[0] == pytest.approx(0.2) and got[1] == pytest.approx(0.2) and got[2] == pytest.approx(0.7)
    res = evaluate_accounts(tbl, seeds=(0,), threads=1)
    assert res["rows"]["test"] > 0 and 0 <= res["model"]["f1"] <= 1 and 0 <= res["busy_only"]["pr_auc"] <= 1
    ab = evaluate_accounts(tbl, seeds=(0,), threads=1, drop=account_volume_names())
    assert ab["features"] == res["features"] - len(account_volume_names())


def test_bench_score_reports_both_levels_and_the_ablation(tmp_path):
    """One seed on a small synthetic AMLSim-like set: transaction and account metrics, the
    busy-only and max-over-transactions references, the ablation; with snapml, the GFP side in
    float64 without an overflow warning."""
    import importlib.util
    import warnings

    from moneytrail.bench.score import bench_score
    from test_score import _amlsim_like

    data = _amlsim_like(tmp_path / "d", n_accounts=400, days=60)
    has_gfp = importlib.util.find_spec("snapml") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = bench_score(data, seeds=(0,), threads=1, baseline=has_gfp, settings=(7,), workdir=tmp_path,
                          ablation=True)
    assert 0 <= res["f1"] <= 1 and res["feature_threads"] == 1 and res["feature_seconds"] > 0
    acc = res["accounts"]
    assert {"model", "busy_only", "ours_tx_max"} <= set(acc) and acc["rows"]["test"] > 0
    ab = res["ablation_no_volume"]
    assert ab["features"] == res["features"] - len(VOLUME_FEATURES) and "model" in ab["accounts"]
    if has_gfp:
        assert res["baseline"]["matrix"] == "float64" and "gfp_tx_max" in acc
