"""Learned risk scoring: train, store, reload, score, explain; errors a user can act on."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from moneytrail.workspace import Workspace
from moneytrail.ingest import ingest_file
from moneytrail.errors import WorkspaceError
from moneytrail.score import FEATURES, load_model, score, train
from moneytrail.score.metrics import average_precision, best_f1_threshold, prf


def _amlsim_like(folder: Path, seed: int = 5, n_accounts: int = 300, days: int = 240) -> Path:
    """A small labeled ledger in AMLSim's format: periodic ordinary pairs, plus laundering
    bursts (a source scattering to one-time intermediaries that gather to one destination)
    spread over the whole period so every part of the temporal split has some."""
    r = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    pairs = [(r.randrange(n_accounts), r.randrange(n_accounts)) for _ in range(700)]
    for a, b in pairs:
        if a == b:
            continue
        period, start = r.randint(5, 30), r.randint(0, 10)
        for d in range(start, days, period):
            rows.append((d, a, b, round(r.uniform(100, 1000), 2), False, -1))
    alert = 0
    for d0 in range(3, days - 10, 9):
        s, t = r.randrange(n_accounts), r.randrange(n_accounts)
        mids = r.sample(range(n_accounts), 5)
        for m in mids:
            if m in (s, t):
                continue
            rows.append((d0, s, m, round(r.uniform(100, 1000), 2), True, alert))
            rows.append((d0 + r.randint(1, 4), m, t, round(r.uniform(100, 1000), 2), True, alert))
        alert += 1
    rows.sort(key=lambda x: x[0])
    import datetime as dt
    with open(folder / "transactions.csv", "w") as f:
        f.write("tran_id,orig_acct,bene_acct,tx_type,base_amt,tran_timestamp,is_sar,alert_id\n")
        for i, (d, a, b, amt, sar, al) in enumerate(rows, 1):
            ts = (dt.date(2020, 1, 1) + dt.timedelta(days=d)).isoformat() + "T00:00:00Z"
            f.write(f"{i},{a},{b},TRANSFER,{amt},{ts},{sar},{al}\n")
    write_amlsim_accounts(folder, n_accounts)
    return folder


def write_amlsim_accounts(folder, n_accounts: int, currency: str = "USD"):
    """AMLSim's accounts file: its reporting currency is the currency of the transfers (AMLSim's
    transactions file names none, and moneytrail assumes none)."""
    with open(folder / "accounts.csv", "w") as f:
        f.write("acct_id,dsply_nm,type,acct_stat,acct_rptng_crncy,branch_id,open_dt,close_dt,initial_deposit,"
                "tx_behavior_id,bank_id,country\n")
        for a in range(n_accounts):
            f.write(f"{a},C_{a},I,A,{currency},1,0,1000000,1000.0,,bank_a,US\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("score")
    data = _amlsim_like(d / "data")
    ws = Workspace.open(d / "w.duckdb")
    ingest_file(ws, data, "amlsim")
    res = train(ws, seed=0, threads=1)
    yield ws, res, d
    ws.close()


def test_train_stores_model_with_provenance(trained):
    ws, res, _ = trained
    m = ws.records("SELECT * FROM models WHERE model_id = ?", [res["model_id"]])[0]
    assert json.loads(m["features"]) == list(FEATURES)
    assert len(m["training_data_hash"]) == 64
    params = json.loads(m["parameters"])
    assert params["learning_rate"] == 0.05 and params["best_iteration"] >= 1
    val = json.loads(m["validation"])["validation"]
    assert 0 <= val["f1"] <= 1 and 0 <= val["pr_auc"] <= 1
    split = json.loads(m["split"])
    assert split["train"]["rows"] > split["validation"]["rows"] > 0 and split["train"]["to"] <= split["test"]["from"]
    # the model learned something real on this structure
    assert res["test"]["pr_auc"] > 0.5


def test_score_explains_with_real_features_and_writes_findings(trained):
    ws, res, _ = trained
    out = score(ws)
    assert out["flagged"] > 0 and out["findings"] > 0
    rows = ws.records("SELECT reasons FROM scores WHERE flagged AND model_id = ?", [out["model_id"]])
    for r in rows:
        rs = json.loads(r["reasons"])
        assert rs and all(x["feature"] in FEATURES and x["contribution"] > 0 for x in rs)
    f = ws.records("SELECT explanation FROM findings WHERE typology = 'model_risk' LIMIT 5")
    assert f and all("Top reasons" in x["explanation"] and " was " in x["explanation"] for x in f)
    acc = ws.records("SELECT * FROM account_scores WHERE model_id = ? ORDER BY score DESC LIMIT 3", [out["model_id"]])
    assert acc and acc[0]["reasons"]


def test_saved_model_reloads_and_gives_identical_scores(trained):
    ws, res, _ = trained
    score(ws)
    first = dict(ws.query("SELECT tx_id, score FROM scores WHERE model_id = ?", [res["model_id"]]))
    ws.close()
    ws2 = Workspace.open(ws.path)
    m, booster = load_model(ws2, res["model_id"])
    score(ws2, model_id=res["model_id"])
    second = dict(ws2.query("SELECT tx_id, score FROM scores WHERE model_id = ?", [res["model_id"]]))
    assert first == second
    trained_ws = ws2  # keep the fixture's handle valid for later tests
    ws.con = trained_ws.con


def test_scoring_an_unlabeled_workspace(trained, tmp_path):
    ws, res, d = trained
    # the same ledger without labels, in a new workspace, scored with the trained model copied over
    src = d / "data" / "transactions.csv"
    lines = src.read_text().splitlines()
    unl = tmp_path / "unlabeled.csv"
    unl.write_text("\n".join(",".join(x.split(",")[:6]) for x in lines) + "\n")
    (tmp_path / "accounts.csv").write_bytes((d / "data" / "accounts.csv").read_bytes())
    ws2 = Workspace.open(tmp_path / "u.duckdb")
    ingest_file(ws2, unl, "amlsim")
    assert ws2.scalar("SELECT count(*) FROM labels") == 0
    m = ws.records("SELECT * FROM models WHERE model_id = ?", [res["model_id"]])[0]
    ws2.con.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [1, m["created_at"], m["kind"], m["features"], m["training_data_hash"], m["parameters"],
                     m["threshold"], m["validation"], m["split"], m["model_text"]])
    out = score(ws2)
    assert out["transactions"] == ws2.scalar("SELECT count(*) FROM transactions")
    ws2.close()


def test_clear_errors_without_model_or_labels(tmp_path):
    data = _amlsim_like(tmp_path / "d", n_accounts=50, days=60)
    ws = Workspace.open(tmp_path / "w.duckdb")
    ingest_file(ws, data, "amlsim")
    with pytest.raises(WorkspaceError, match="no model"):
        score(ws)
    ws.con.execute("DELETE FROM labels")
    with pytest.raises(WorkspaceError, match="no labels"):
        train(ws)
    ws.close()


def test_cli_score_without_model_is_one_line(tmp_path):
    import subprocess
    import sys
    from moneytrail.demo import DEMO_OFFICER, setup_demo_authority

    data = _amlsim_like(tmp_path / "d", n_accounts=50, days=60)
    ws = Workspace.open(tmp_path / "w.duckdb")
    setup_demo_authority(ws)  # commands act under a grant in a case (docs/authority.md)
    ingest_file(ws, data, "amlsim")
    ws.close()
    p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "score", "-w", str(tmp_path / "w.duckdb"),
                        "--as", DEMO_OFFICER], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip().startswith("error:") and "model train" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(np.int8)
    p = np.clip(y * 0.3 + rng.random(500) * 0.8, 0, 1).round(2)  # ties on purpose
    # average precision by its definition, ties grouped
    order = sorted(set(p.tolist()), reverse=True)
    ap, prev_r, pos = 0.0, 0.0, y.sum()
    for t in order:
        sel = p >= t
        tp = int((y[sel] == 1).sum())
        prec, rec = tp / sel.sum(), tp / pos
        ap += (rec - prev_r) * prec
        prev_r = rec
    assert average_precision(y, p) == pytest.approx(ap)
    thr, f1 = best_f1_threshold(y, p)
    assert prf(y, (p >= thr).astype(np.int8))["f1"] == pytest.approx(f1)
    best = max(prf(y, (p >= t).astype(np.int8))["f1"] for t in order)
    assert f1 == pytest.approx(best)


def test_train_and_score_on_the_demo_data(tmp_path):
    """The demo case with its SAR subjects as labels: the model flags the planted schemes."""
    from moneytrail.synth import generate

    sc = generate(tmp_path / "in", seed=11, n_accounts=600, months=6)
    ws = Workspace.open(tmp_path / "demo.duckdb")
    for c, fmt, m in sc.transaction_files():
        ingest_file(ws, c, fmt, mapping=m)
    for c, m in sc.label_files:
        r = ingest_file(ws, c, "labels", mapping=m)
        assert r.read == r.stored > 0
    res = train(ws, seed=0, threads=1)
    assert res["validation"]["pr_auc"] > 0
    out = score(ws)
    top = [a for (a,) in ws.query("SELECT account_id FROM account_scores WHERE model_id = ? "
                                  "ORDER BY score DESC LIMIT 15", [out["model_id"]])]
    planted = {sc.scheme("trafficking_funnel").accounts["funnel"], sc.scheme("front_company").accounts["broker"],
               sc.scheme("laundering_cycle").accounts["shell_a"]}
    assert planted & set(top), (planted, top)
    ws.close()


def test_labels_format_conserves_rows(tmp_path):
    from moneytrail.synth import generate

    sc = generate(tmp_path / "in", seed=2, n_accounts=300, months=2)
    ws = Workspace.open(tmp_path / "w.duckdb")
    for c, fmt, m in sc.transaction_files():
        ingest_file(ws, c, fmt, mapping=m)
    lab = tmp_path / "labels.csv"
    lab.write_text("account,sar\n" + f"{sc.scheme('front_company').accounts['front']},yes\n" + "NOPE-1,yes\n,yes\n"
                   + f"{sc.scheme('front_company').accounts['broker']},maybe\n")
    r = ingest_file(ws, lab, "labels", mapping={"account": "account", "label": "sar"})
    assert (r.read, r.stored, r.quarantined) == (4, 1, 3)
    reasons = [x for (x,) in ws.query("SELECT reason FROM quarantine WHERE source_id = ? ORDER BY source_row",
                                      [r.source_id])]
    assert "in no transaction" in reasons[0] and "empty" in reasons[1] and "yes/no" in reasons[2]
    assert ws.scalar("SELECT count(*) FROM labels WHERE is_laundering") > 0
    again = ingest_file(ws, lab, "labels", mapping={"account": "account", "label": "sar"})
    assert again.skipped
    ws.close()


def test_the_calibration_map_is_the_observed_rate_and_monotone():
    """Isotonic calibration on validation rows: a step function of the raw score, non-decreasing,
    equal to the laundering rate of each pooled block of scores."""
    import numpy as np

    from moneytrail.score.model import CALIBRATION_STEPS, apply_calibration, calibrate

    p = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.95])
    y = np.array([0, 0, 1, 0, 1, 1])
    cal = calibrate(y, p)
    assert cal["x"] == [0.1, 0.3, 0.9] and cal["y"] == pytest.approx([0.0, 0.5, 1.0])
    got = apply_calibration(cal, np.array([0.0, 0.1, 0.35, 0.5, 0.99]))
    assert got.tolist() == pytest.approx([0.0, 0.0, 0.5, 0.5, 1.0])
    r = np.random.default_rng(0)
    p = r.random(5000)
    y = (r.random(5000) < p ** 2).astype(int)
    cal = calibrate(y, p)
    assert len(cal["x"]) <= CALIBRATION_STEPS and np.all(np.diff(cal["y"]) >= 0) and np.all(np.diff(cal["x"]) > 0)
    # the map's mean over the rows is the rows' laundering rate (isotonic regression keeps the mean
    # when no step is merged; with merged steps it stays close)
    assert abs(apply_calibration(cal, p).mean() - y.mean()) < 0.02
    # equal scores are one point: one value each, the edges strictly increasing
    p = np.repeat([0.2, 0.5, 0.7], 4)
    y = np.array([0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0])
    cal = calibrate(y, p)
    assert cal["x"] == [0.2, 0.7] and cal["y"] == pytest.approx([0.25, 0.75])


def test_the_reference_settings_reach_the_booster():
    """``bench score --reference-protocol`` runs both sides with the reference baseline's LightGBM
    settings: they must reach the booster, and ours must be what the docs say."""
    import numpy as np

    from moneytrail.score.model import LGB_PARAMS, REFERENCE_SETTINGS, fit_one, temporal_split

    r = np.random.default_rng(0)
    X = r.random((600, 4))
    y = (X[:, 0] + 0.3 * r.random(600) > 0.9).astype(np.int8)
    idx = temporal_split(len(y))
    ours = fit_one(X, y, idx, seed=0, threads=1)
    ref = fit_one(X, y, idx, seed=0, threads=1, weight_positives=True, settings=REFERENCE_SETTINGS)
    assert LGB_PARAMS["num_leaves"] == 15 and REFERENCE_SETTINGS == {"num_leaves": 31}
    assert ours.booster.params["num_leaves"] == 15 and ours.booster.params["scale_pos_weight"] == 1.0
    assert ref.booster.params["num_leaves"] == 31 and ref.booster.params["scale_pos_weight"] > 1.0
