"""One priority for the findings queue (issue 15, item 4): money expected to be laundering, on one
scale across typologies, explained in words, and the order of every list of findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from moneytrail import _reads
from moneytrail.priority import prioritize

from test_detect import GOLDEN, _detect


@pytest.fixture
def ws(tmp_path: Path):
    # two typologies' findings in one ledger: a 4x3 one-off block (bipartite, stack, fan-ins)
    w = _detect(tmp_path, csv_path=GOLDEN / "bipartite_one_off.csv")
    yield w
    w.close()


def test_before_a_model_the_priority_is_the_money_at_stake(ws):
    rows = ws.records("SELECT typology, total_amount, priority, priority_basis FROM findings")
    assert rows and all(r["priority"] is not None for r in rows)
    for r in rows:    # each finding's transactions once: its total
        assert r["priority"] == pytest.approx(float(r["total_amount"]))
        assert "no risk model has scored this case" in r["priority_basis"]
    # the queue is in priority order, the typology's own score breaking ties
    got = [f.priority for f in _reads.findings(ws)]
    assert got == sorted(got, reverse=True)


def test_the_models_probabilities_weigh_the_money(ws):
    tx = [r[0] for r in ws.query("SELECT tx_id FROM transactions ORDER BY tx_id")]
    # the model thinks the first sender's three payments are laundering, nothing else
    for t in tx:
        p = 0.9 if t in tx[:3] else 0.1
        ws.con.execute("INSERT INTO scores VALUES (?, 7, ?, ?, NULL)", [t, p, p >= 0.5])
    out = prioritize(ws)
    assert out["basis"] == "model 7"
    amounts = dict(ws.query("SELECT tx_id, amount FROM transactions"))
    for f in _reads.findings(ws):
        want = sum(float(amounts[t]) * (0.9 if t in tx[:3] else 0.1) for t in f.tx_ids)
        assert f.priority == pytest.approx(want)
        assert "risk model (model 7, raw score, not calibrated)" in f.priority_basis and "at stake" in f.priority_basis
    # a fan-in into R0 holds one of the three; the block holds all three: the block comes first
    first = _reads.findings(ws, limit=1)[0]
    assert first.typology in ("bipartite", "stack")
    page, total = _reads.findings_page(ws)
    assert total == len(_reads.findings(ws)) and page[0]["priority"] == first.priority


def test_the_benchmark_reads_each_typology_at_the_models_cuts(ws):
    """bench priority's per-typology figures against their definitions, counted here in Python:
    recall over the labeled transactions, precision over the kept findings' transactions, a finding
    kept at a cut when the model puts at least that share of its money on laundering."""
    from moneytrail.bench.priority import _typology_curves

    tx = [r[0] for r in ws.query("SELECT tx_id FROM transactions ORDER BY tx_id")]
    amounts = {t: abs(float(a)) for t, a in ws.query("SELECT tx_id, amount FROM transactions")}
    p = {t: (0.9 if t in tx[:3] else 0.1) for t in tx}
    for t in tx:
        ws.con.execute("INSERT INTO scores VALUES (?, 7, ?, ?, NULL)", [t, p[t], p[t] >= 0.5])
        ws.con.execute("INSERT INTO labels VALUES (?, ?, ?, ?, 1)",
                       [t, t in tx[:3], 1 if t in tx[:3] else None, "bipartite" if t in tx[:3] else None])
    cut = str(ws.scalar("SELECT min(ts) FROM transactions"))
    got = _typology_curves(ws, 7, cut)
    assert set(got) == {"bipartite"}     # the only alert type labeled
    f = {fid: txs for fid, txs in ws.query(
        "SELECT finding_id, list(DISTINCT tx_id) FROM finding_transactions JOIN findings USING (finding_id) "
        "WHERE typology = 'bipartite' GROUP BY finding_id")}
    share = {fid: sum(p[t] * amounts[t] for t in txs) / sum(amounts[t] for t in txs) for fid, txs in f.items()}
    for cut_share, point in [(-1.0, got["bipartite"]["all"]), (0.5, got["bipartite"]["confirmed"]),
                             *[(float(c), v) for c, v in got["bipartite"]["curve"].items()]]:
        kept = {t for fid, txs in f.items() if share[fid] >= cut_share for t in txs}
        assert point["findings"] == sum(1 for fid in f if share[fid] >= cut_share)
        assert point["recall"] == pytest.approx(len(kept & set(tx[:3])) / 3, abs=1e-4)
        assert point["precision"] == (pytest.approx(len(kept & set(tx[:3])) / len(kept), abs=1e-4)
                                      if kept else None)
    assert got["bipartite"]["all"]["recall"] == 1.0 and got["bipartite"]["labeled_in_test_period"] == 3


def test_a_calibrated_model_weighs_the_money_by_its_calibrated_probability(ws):
    """A model stored with its validation calibration map: p is the map's value at the raw score."""
    import json

    tx = [r[0] for r in ws.query("SELECT tx_id FROM transactions ORDER BY tx_id")]
    cal = {"method": "isotonic regression on the validation part", "rows": 10, "x": [0.2, 0.8], "y": [0.05, 0.6]}
    ws.con.execute("INSERT INTO models VALUES (8, now(), 'lightgbm', '[]', 'h', '{}', 0.9, ?, '{}', '')",
                   [json.dumps({"validation": {}, "test": {}, "calibration": cal})])
    raw = {t: (0.95 if t in tx[:3] else 0.5 if t in tx[3:5] else 0.1) for t in tx}
    for t in tx:
        ws.con.execute("INSERT INTO scores VALUES (?, 8, ?, ?, NULL)", [t, raw[t], raw[t] >= 0.9])
    prioritize(ws)
    cal_p = {t: (0.6 if r >= 0.8 else 0.05 if r >= 0.2 else 0.0) for t, r in raw.items()}
    amounts = dict(ws.query("SELECT tx_id, amount FROM transactions"))
    for f in _reads.findings(ws):
        assert f.priority == pytest.approx(sum(float(amounts[t]) * cal_p[t] for t in f.tx_ids))
        assert "model 8, calibrated on its validation period" in f.priority_basis
