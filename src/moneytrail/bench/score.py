"""``moneytrail bench score``: learned risk scoring against GFP+LightGBM, side by side.

Both sides run in the same process on the same rows, the same temporal split (60/20/20 by
row order after sorting by timestamp then transaction id), the same LightGBM settings and
seeds (0, 1, 2), the same validation-chosen threshold and the same metrics (mean test F1,
precision, recall and PR-AUC of the laundering class). Only the features differ:

* moneytrail: amount, day of week and the causal graph features of
  :mod:`moneytrail.score.features`, computed by DuckDB;
* baseline (when ``snapml`` is installed, the ``bench`` extra): amount, day of week and IBM
  Snap ML's GraphFeaturePreprocessor features, one single-thread pass over the stream with
  one ``transform`` call per calendar day, every window set to N days for N in 7, 14, 28; the
  setting is chosen by mean validation F1, and vertex "mean timestamp" statistics are turned
  into ages (the "sum of timestamps" ones dropped) because absolute time drifts across a
  temporal split — the reference protocol of ``shared/bench/gfp_baseline.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from moneytrail.errors import InputError

DAY = 86400
BINS = list(range(2, 13))


def _load(data: Path, workdir, backend: str = "duckdb", backend_options: dict | None = None) -> dict[str, Any]:
    from moneytrail.backends import get_backend
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.score.features import compute_features, feature_matrix
    from moneytrail.workspace import Workspace

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "bench.duckdb") as ws:
            ingest_file(ws, data, "amlsim")
            if not ws.scalar("SELECT count(*) FROM labels"):
                raise InputError("no labels (is_sar) in this dataset: scoring needs labeled data", path=str(data))
            run_pipeline(ws, stages=["resolve", "graph"])
            be = get_backend(ws, backend, **(backend_options or {}))
            try:
                t0 = time.perf_counter()
                compute_features(be)
                feat_s = time.perf_counter() - t0
                tbl, names = feature_matrix(be)
                lab = be.execute("""
                    SELECT f.tx_id, coalesce(l.is_laundering, FALSE) AS y, t.orig_account, t.bene_account,
                           epoch(t.ts)::BIGINT AS ts, t.amount::DOUBLE AS amount, t.external_id
                    FROM features f JOIN transactions t USING (tx_id) LEFT JOIN labels l USING (tx_id)
                    ORDER BY f.ts, f.tx_id""")
            finally:
                be.close()
    X = np.column_stack([tbl.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names])
    return {"X": X, "names": names, "y": lab.column("y").to_numpy(zero_copy_only=False).astype(np.int8),
            "src": lab.column("orig_account").to_pylist(), "dst": lab.column("bene_account").to_pylist(),
            "ts": lab.column("ts").to_numpy(), "amount": lab.column("amount").to_numpy(),
            "ext": lab.column("external_id").to_pylist(), "feature_seconds": feat_s}


def _gfp_params(days: int) -> dict:
    tw = days * DAY
    return {"num_threads": 1, "time_window": tw, "vertex_stats": True, "vertex_stats_tw": tw,
            "vertex_stats_cols": [3, 4], "vertex_stats_feats": [0, 1, 2, 3, 4, 8, 9, 10],
            "fan": True, "fan_tw": tw, "fan_bins": BINS, "degree": True, "degree_tw": tw, "degree_bins": BINS,
            "scatter-gather": True, "scatter-gather_tw": tw, "scatter-gather_bins": BINS,
            "temp-cycle": True, "temp-cycle_tw": tw, "temp-cycle_bins": BINS,
            "lc-cycle": True, "lc-cycle_tw": tw, "lc-cycle_len": 10, "lc-cycle_bins": BINS}


def _gfp_features(d: dict[str, Any], days: int) -> tuple[np.ndarray, float]:
    from snapml import GraphFeaturePreprocessor

    # numeric ids for GFP: accounts mapped to integers in order of first appearance
    ids: dict[str, int] = {}
    src = np.array([ids.setdefault(a, len(ids)) for a in d["src"]], dtype=np.float64)
    dst = np.array([ids.setdefault(a, len(ids)) for a in d["dst"]], dtype=np.float64)
    day = (d["ts"] - d["ts"].min()) // DAY
    ts = (day * DAY).astype(np.float64)
    n = len(ts)
    X = np.column_stack([np.arange(n, dtype=np.float64), src, dst, ts, d["amount"].astype(np.float64)])
    gp = GraphFeaturePreprocessor()
    gp.set_params(_gfp_params(days))
    starts = np.r_[0, np.nonzero(np.diff(day))[0] + 1]
    ends = np.r_[starts[1:], n]
    out = np.empty((n, 5 + 77 + 52), dtype=np.float64)
    t0 = time.perf_counter()
    for a, b in zip(starts, ends):
        out[a:b] = gp.transform(X[a:b])
    el = time.perf_counter() - t0
    F = out[:, 5:]
    # vertex statistics: 4 blocks (src_out, src_in, dst_out, dst_in) of fan, deg, ratio, then
    # 5 stats (avg, sum, var, skew, kurt) of ts and of amount; replace mean ts by age, drop sum ts
    cols, keep = [], list(range(77))
    base = 77
    for blk in range(4):
        b0 = base + blk * 13
        deg = F[:, b0 + 1]
        ts_avg = b0 + 3  # b0 + 4 (sum of timestamps) is dropped
        cols.append(np.where(deg > 0, ts - F[:, ts_avg], np.nan))
        keep += [b0, b0 + 1, b0 + 2] + [b0 + 5, b0 + 6, b0 + 7] + list(range(b0 + 8, b0 + 13))
    G = np.column_stack([F[:, keep]] + cols).astype(np.float32)
    return G, el


def bench_score(data: str | Path, *, seeds=(0, 1, 2), threads: int = 2, baseline: bool | None = None,
                settings=(7, 14, 28), workdir=None, backend: str = "duckdb",
                backend_options: dict | None = None) -> dict[str, Any]:
    """``backend`` computes the graph features (DuckDB, or Spark: the same values, so the same
    model and metrics; only ``feature_seconds`` differ)."""
    from moneytrail.score.model import evaluate

    data = Path(data)
    if not data.exists():
        raise InputError("AMLSim dataset folder not found", path=str(data))
    d = _load(data, workdir, backend, backend_options)
    n = len(d["y"])
    raw = np.column_stack([d["amount"].astype(np.float32),
                           ((d["ts"] // DAY + 3) % 7).astype(np.float32)])  # day of week, Monday = 0
    ours = evaluate(d["X"], d["y"], seeds, threads, d["names"])
    res: dict[str, Any] = {
        "f1": round(ours["f1"], 4), "precision": round(ours["precision"], 4), "recall": round(ours["recall"], 4),
        "pr_auc": round(ours["pr_auc"], 4), "f1_std": round(ours["f1_std"], 4),
        "feature_seconds": round(d["feature_seconds"], 3),
        "feature_transactions_per_second": round(n / d["feature_seconds"], 1),
        "transactions": n, "positives": int(d["y"].sum()), "features": len(d["names"]),
        "val_f1": round(ours["val_f1"], 4), "best_iterations": ours["best_iterations"],
        "backend": backend,
    }
    if baseline is None:
        try:
            import snapml  # noqa: F401
            baseline = True
        except ImportError:
            baseline = False
    if not baseline:
        res["baseline"] = None
        return res
    runs = {}
    for days in settings:
        G, el = _gfp_features(d, days)
        r = evaluate(np.column_stack([raw, G]), d["y"], seeds, threads)
        runs[days] = (r, el)
    chosen = max(runs, key=lambda k: (runs[k][0]["val_f1"], runs[k][0]["val_pr_auc"]))
    r, el = runs[chosen]
    res["baseline"] = {
        "f1": round(r["f1"], 4), "precision": round(r["precision"], 4), "recall": round(r["recall"], 4),
        "pr_auc": round(r["pr_auc"], 4), "f1_std": round(r["f1_std"], 4),
        "feature_seconds": round(el, 3), "feature_transactions_per_second": round(n / el, 1),
        "setting": f"w{chosen}", "val_f1": round(r["val_f1"], 4),
        "settings": {f"w{k}": {"val_f1": round(v[0]["val_f1"], 4), "f1": round(v[0]["f1"], 4),
                               "pr_auc": round(v[0]["pr_auc"], 4),
                               "feature_transactions_per_second": round(n / v[1], 1)} for k, v in runs.items()},
    }
    res["f1_gain"] = round(res["f1"] - res["baseline"]["f1"], 4)
    res["feature_speed_ratio"] = round(res["feature_transactions_per_second"]
                                       / res["baseline"]["feature_transactions_per_second"], 2)
    return res
