"""Stage: score — learned risk on graph features, with reasons an investigator can read.

``train(ws)`` fits a LightGBM model on a labeled workspace (labels from AMLSim ``is_sar``, or
ingested with ``--format labels``) under the temporal protocol of :mod:`.model` and stores it
in the workspace with its feature list, training-data hash, parameters and validation
metrics. ``score(ws)`` computes the features for every transaction, scores them with the
latest model (or a given one), writes ``scores`` and ``account_scores`` with the top
contributing features of each flagged row in words, and records one ``model_risk`` finding
per flagged account (its flagged transactions are the evidence) so scores show up in
``moneytrail findings`` and in the report.

As a pipeline stage, ``run(ctx)`` scores when the workspace holds a model and says it
skipped otherwise. ``train`` and ``score`` bring the graph they read up to date first
(:func:`moneytrail.freshness.ensure`); both take a ``backend`` that computes the features
(default: the workspace's DuckDB).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from moneytrail.errors import EngineError, WorkspaceError
from moneytrail.graph import params_at
from moneytrail.freshness import backend_for, ensure
from moneytrail.score.features import FEATURE_NAMES, FEATURES, compute_features, feature_matrix
from moneytrail.score.model import (EARLY_STOP, LGB_PARAMS, MAX_TREES, data_hash, fit_one, reason_text, reasons,
                                    temporal_split)
from moneytrail.workspace import Workspace, now_utc

NAME = "score"
NEEDS = ("edges", "nodes", "labels", "models")
MAKES = ("features", "scores", "account_scores")   # and model_risk findings; records, not products
TYPOLOGY = "model_risk"


def _matrix(ws: Workspace, be) -> tuple[np.ndarray, np.ndarray, list[str], list]:
    """Features of every transaction (in time order), from what the pipeline has brought up to
    date: the matrix, the transaction ids, the feature names and the timestamps. The features
    table lives in the backend that computed it (a Spark view on Spark), so everything needed
    is read from it here."""
    compute_features(be)
    tbl, names = feature_matrix(be)
    X = np.column_stack([tbl.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names])
    return X, tbl.column("tx_id").to_numpy(), names, tbl.column("ts").to_pylist()


def train(ws: Workspace, *, seed: int = 0, threads: int = 2, backend=None) -> dict[str, Any]:
    """Train and store a model; return its id and metrics. ``backend``: what computes the features
    (a :class:`~moneytrail.backends.Backend` or a name; default the workspace's DuckDB); the graph
    they are computed from is brought up to date in the workspace first. A failure in the query
    engine is an :class:`~moneytrail.errors.EngineError` of stage ``model train``."""
    with _engine_errors("model train"):
        return _train(ws, seed=seed, threads=threads, backend=backend)


@contextlib.contextmanager
def _engine_errors(stage: str):
    """Engine failures as EngineError naming ``stage`` (the SQL, where a backend ran it, kept)."""
    try:
        yield
    except (EngineError, duckdb.Error) as e:
        raise EngineError.wrap(e, stage=stage) from None


def _train(ws: Workspace, *, seed: int, threads: int, backend) -> dict[str, Any]:
    n_lab = ws.scalar("SELECT count(*) FROM labels")
    if not n_lab:
        raise WorkspaceError("this workspace has no labels to train on: ingest a labeled dataset "
                             "(--format amlsim) or labels (--format labels)")
    ensure(ws, NEEDS, params=params_at(ws, "account"))   # the account graph, up to date
    be = backend_for(ws, backend)
    X, tx, names, ts = _matrix(ws, be)
    lab = dict(ws.query("SELECT tx_id, is_laundering FROM labels"))
    y = np.array([1 if lab.get(int(t)) else 0 for t in tx], dtype=np.int8)
    if y.sum() < 3:
        raise WorkspaceError(f"only {int(y.sum())} positive labels: too few to train a model")
    idx = temporal_split(len(y))
    for part, ix in zip(("train", "validation"), idx[:2]):
        if y[ix].sum() == 0:
            raise WorkspaceError(f"no positive label in the {part} part of the temporal split (rows in time "
                                 f"order, 60/20/20): the labeled activity is too concentrated in time to train")
    fit = fit_one(X, y, idx, seed, threads, names)
    split = {}
    for part, ix in zip(("train", "validation", "test"), idx):
        split[part] = {"rows": int(len(ix)), "positives": int(y[ix].sum()),
                       "from": str(ts[ix[0]]) if len(ix) else None,
                       "to": str(ts[ix[-1]]) if len(ix) else None}
    model_id = ws.scalar("SELECT nextval('seq_model')")
    params = dict(LGB_PARAMS, seed=seed, num_threads=threads, max_trees=MAX_TREES, early_stopping_rounds=EARLY_STOP,
                  best_iteration=fit.best_iteration)
    metrics = {"validation": fit.val, "test": fit.test, "calibration": fit.calibration}
    ws.con.execute("INSERT INTO models VALUES (?, ?, 'lightgbm', ?, ?, ?, ?, ?, ?, ?)",
                   [model_id, now_utc(), json.dumps(names), data_hash(X, y, names), json.dumps(params),
                    fit.threshold, json.dumps(metrics), json.dumps(split),
                    fit.booster.model_to_string(num_iteration=fit.best_iteration)])
    return {"model_id": model_id, "threshold": fit.threshold, "best_iteration": fit.best_iteration,
            "validation": fit.val, "test": fit.test, "split": split, "features": len(names)}


def load_model(ws: Workspace, model_id: int | None = None):
    import lightgbm as lgb

    if not ws.table_exists("models"):
        raise WorkspaceError("this workspace has no model: train one first (moneytrail model train)")
    where = "WHERE model_id = ?" if model_id is not None else ""
    rows = ws.records(f"SELECT * FROM models {where} ORDER BY model_id DESC LIMIT 1",
                      [model_id] if model_id is not None else [])
    if not rows:
        raise WorkspaceError("this workspace has no model: train one first (moneytrail model train)"
                             if model_id is None else f"no model {model_id} in this workspace")
    m = rows[0]
    booster = lgb.Booster(model_str=m["model_text"])
    return m, booster


def score(ws: Workspace, *, model_id: int | None = None, top_k: int = 3, backend=None) -> dict[str, Any]:
    """Score every transaction and account with the latest model (or ``model_id``); ``backend``:
    where the features are computed (default the workspace's DuckDB). A failure in the query
    engine is an :class:`~moneytrail.errors.EngineError` of stage ``score``."""
    model = load_model(ws, model_id)          # no model: said before anything is built
    with _engine_errors(NAME):
        ensure(ws, NEEDS, params=params_at(ws, "account"))   # the account graph, up to date
        return _score(ws, backend_for(ws, backend), model, top_k=top_k)


def _score(ws: Workspace, be, model, *, top_k: int = 3) -> dict[str, Any]:
    m, booster = model
    names = json.loads(m["features"])
    if names != FEATURE_NAMES:
        missing = sorted(set(names) - set(FEATURE_NAMES))
        if missing:
            raise WorkspaceError(f"model {m['model_id']} needs features this version does not compute: {missing}")
    X, tx, cur, _ = _matrix(ws, be)
    X = X[:, [cur.index(n) for n in names]]
    p = booster.predict(X)
    thr = float(m["threshold"])
    flagged = p >= thr
    rs = [None] * len(p)
    fi = np.nonzero(flagged)[0]
    if len(fi):
        for i, r in zip(fi, reasons(booster, X[fi], names, top_k)):
            rs[i] = json.dumps(r)
    mid = int(m["model_id"])
    ws.con.execute("DELETE FROM scores WHERE model_id = ?", [mid])
    ws.con.execute("DELETE FROM account_scores WHERE model_id = ?", [mid])
    tbl = pa.table({"tx_id": pa.array(tx, pa.int64()), "model_id": pa.array([mid] * len(p), pa.int32()),
                    "score": pa.array(p, pa.float64()), "flagged": pa.array(flagged), "reasons": pa.array(rs, pa.string())})
    ws.con.register("_new_scores", tbl)
    try:
        ws.con.execute("INSERT INTO scores SELECT tx_id, model_id, score, flagged, reasons FROM _new_scores")
    finally:
        ws.con.unregister("_new_scores")
    # an account's score is its highest transaction score; its reasons are that transaction's
    ws.con.execute("""
        INSERT INTO account_scores
        WITH s AS (SELECT e.src AS account_id, s.* FROM scores s JOIN edges e USING (tx_id) WHERE s.model_id = ?
                   UNION ALL
                   SELECT e.dst, s.* FROM scores s JOIN edges e USING (tx_id) WHERE s.model_id = ?)
        SELECT s.account_id, ?, max(s.score), count(*) FILTER (WHERE s.flagged),
               arg_max(s.tx_id, s.score), arg_max(s.reasons, s.score)
        FROM s LEFT JOIN nodes n USING (account_id) WHERE NOT coalesce(n.pseudo, FALSE)
        GROUP BY s.account_id""", [mid, mid, mid])
    n_findings = _findings(ws, mid, thr)
    return {"model_id": mid, "transactions": int(len(p)), "flagged": int(flagged.sum()),
            "flagged_accounts": int(ws.scalar("SELECT count(*) FROM account_scores WHERE model_id = ? "
                                              "AND flagged_transactions > 0", [mid])),
            "findings": n_findings, "threshold": thr}


def _findings(ws: Workspace, model_id: int, thr: float) -> int:
    """One model_risk finding per flagged account, its flagged transactions as evidence."""
    from moneytrail.detect.store import write_findings
    from moneytrail.detect.base import Params

    rows = ws.records("""
        SELECT a.account_id, a.score, a.reasons, a.flagged_transactions,
               list(s.tx_id ORDER BY e.ts, s.tx_id) AS tx_ids, min(e.ts) AS first_ts, max(e.ts) AS last_ts,
               sum(e.amount) AS total_amount
        FROM account_scores a
        JOIN edges e ON e.src = a.account_id OR e.dst = a.account_id
        JOIN scores s ON s.tx_id = e.tx_id AND s.model_id = a.model_id AND s.flagged
        WHERE a.model_id = ? AND a.flagged_transactions > 0
        GROUP BY a.account_id, a.score, a.reasons, a.flagged_transactions""", [model_id])
    typ = _ModelRisk(model_id, thr)
    out = []
    for r in rows:
        out.append({"key": r["account_id"], "score": float(r["score"]), "first_ts": r["first_ts"],
                    "last_ts": r["last_ts"], "total_amount": r["total_amount"], "tx_ids": r["tx_ids"],
                    "accounts": [{"account_id": r["account_id"], "role": "scored account"}],
                    "stats": {"account": r["account_id"], "flagged": r["flagged_transactions"],
                              "reasons": json.loads(r["reasons"] or "[]")}})
    out.sort(key=lambda r: (-r["score"], r["key"]))
    run_id = ws.start_run("score-findings", {"model_id": model_id})
    write_findings(ws, run_id, typ, Params(), out)
    ws.finish_run(run_id, {"findings": len(out)})
    return len(out)


class _ModelRisk:
    id = TYPOLOGY
    source = "moneytrail learned risk model (LightGBM on causal graph features; reasons from TreeSHAP contributions)"

    def __init__(self, model_id: int, thr: float):
        self.version = f"model-{model_id}"
        self.thr = thr

    def explain(self, row, p) -> str:
        s = row["stats"]
        return (f"The risk model scored account {s['account']} at {row['score']:.3f} (flag threshold "
                f"{self.thr:.3f}, chosen on validation data); {s['flagged']} of its transactions were flagged. "
                f"Top reasons for its highest-scoring transaction: {reason_text(s['reasons'])}. "
                f"Red flag: activity that the model learned to associate with laundering — {self.source}.")


def run(ctx) -> dict:
    if not ctx.ws.table_exists("models") or not ctx.ws.scalar("SELECT count(*) FROM models"):
        return {"skipped": "no model in this workspace (moneytrail model train)"}
    # what it NEEDS is brought up to date by the pipeline before it runs (moneytrail.freshness)
    return _score(ctx.ws, ctx.backend, load_model(ctx.ws, ctx.params.get("model_id")))


__all__ = ["train", "score", "load_model", "FEATURES", "FEATURE_NAMES"]
