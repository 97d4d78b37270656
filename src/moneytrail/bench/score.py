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
  temporal split — the reference protocol of ``shared/bench/gfp_baseline.py``. The GFP matrix
  is kept in float64: some vertex statistics (moments of timestamps) exceed float32's range, and
  a float32 cast turns them into infinities ("overflow encountered in cast"), which loses their
  order; LightGBM bins float64 values as they are.

Account level (:mod:`moneytrail.score.accounts`): one row per account and period (five periods
of 20 % of the rows: train 0-2, validation 3, test 4), positive when the account takes part in a
laundering transfer of the period. Reported for the account model, for the highest score of each
side's transaction model over the account's transfers of the period, and for a busy-account
score (its number of transfers in the period).

Feature speed: our pass is timed with DuckDB limited to the threads GFP runs with (one), and
again with ``threads`` DuckDB threads; the account pass is timed on its own.

``ablation=True`` adds the same protocol without the features that measure how busy an account
is (``features.VOLUME_FEATURES``, ``accounts.account_volume_names``).
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from moneytrail.errors import InputError

DAY = 86400
BINS = list(range(2, 13))


def _load(data: Path, workdir, backend: str = "duckdb", backend_options: dict | None = None, *,
          threads: int = 2, gfp_threads: int = 1) -> dict[str, Any]:
    from moneytrail.backends import get_backend
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.score.accounts import account_table
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
                timings = {}
                for th in (gfp_threads, threads) if backend == "duckdb" else (None,):
                    if th is not None:
                        ws.con.execute(f"SET threads = {int(th)}")
                    t0 = time.perf_counter()
                    compute_features(be)
                    timings[th] = time.perf_counter() - t0
                if backend == "duckdb":
                    ws.con.execute("RESET threads")
                tbl, names = feature_matrix(be)
                lab = be.execute("""
                    SELECT f.tx_id, coalesce(l.is_laundering, FALSE) AS y, t.orig_account, t.bene_account,
                           epoch(t.ts)::BIGINT AS ts, t.amount::DOUBLE AS amount, t.external_id,
                           e.src AS acct_src, e.dst AS acct_dst
                    FROM features f JOIN transactions t USING (tx_id) LEFT JOIN labels l USING (tx_id)
                    JOIN edges e USING (tx_id)
                    ORDER BY f.ts, f.tx_id""")
                t0 = time.perf_counter()
                acc = account_table(be, tbl.num_rows)
                acc_s = time.perf_counter() - t0
            finally:
                be.close()
    X = np.column_stack([tbl.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names])
    return {"X": X, "names": names, "y": lab.column("y").to_numpy(zero_copy_only=False).astype(np.int8),
            "src": lab.column("orig_account").to_pylist(), "dst": lab.column("bene_account").to_pylist(),
            "ts": lab.column("ts").to_numpy(), "amount": lab.column("amount").to_numpy(),
            "ext": lab.column("external_id").to_pylist(),
            "acct_src": lab.column("acct_src").to_pylist(), "acct_dst": lab.column("acct_dst").to_pylist(),
            "feature_seconds": next(iter(timings.values())), "feature_timings": timings,
            "accounts": acc, "account_seconds": acc_s}


def flushes_subnormals() -> bool:
    """Whether this thread's floating point flushes subnormal numbers to zero (FTZ/DAZ)."""
    tiny = 2.2250738585072014e-308   # the smallest normal double
    return tiny / 2 == 0.0


def _restore_float_env() -> None:
    """Reset this thread's floating-point environment to the C default (glibc: ``fesetenv(FE_DFL_ENV)``).

    snapml's shared libraries are built with fast math: loading them sets flush-to-zero and
    denormals-are-zero for the loading thread, so everything computed after (our own model,
    numpy, Hypothesis in a test run) would silently differ from a process that never loaded them."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    name = ctypes.util.find_library("m")
    if name:
        ctypes.CDLL(name).fesetenv(ctypes.c_void_p(-1))   # FE_DFL_ENV is ((const fenv_t *) -1)


def import_snapml():
    """snapml (the GFP baseline), imported without leaving the process in fast-math mode."""
    before = flushes_subnormals()
    import snapml

    if flushes_subnormals() and not before:
        _restore_float_env()
    return snapml


def _gfp_params(days: int) -> dict:
    tw = days * DAY
    return {"num_threads": 1, "time_window": tw, "vertex_stats": True, "vertex_stats_tw": tw,
            "vertex_stats_cols": [3, 4], "vertex_stats_feats": [0, 1, 2, 3, 4, 8, 9, 10],
            "fan": True, "fan_tw": tw, "fan_bins": BINS, "degree": True, "degree_tw": tw, "degree_bins": BINS,
            "scatter-gather": True, "scatter-gather_tw": tw, "scatter-gather_bins": BINS,
            "temp-cycle": True, "temp-cycle_tw": tw, "temp-cycle_bins": BINS,
            "lc-cycle": True, "lc-cycle_tw": tw, "lc-cycle_len": 10, "lc-cycle_bins": BINS}


def _gfp_features(d: dict[str, Any], days: int) -> tuple[np.ndarray, float]:
    GraphFeaturePreprocessor = import_snapml().GraphFeaturePreprocessor

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
    G = np.column_stack([F[:, keep]] + cols)     # float64: see the module's docstring
    return G, el


def _scores_after_train(fits, X: np.ndarray) -> list[np.ndarray]:
    """Per seed: each fit's score for the validation and test rows (NaN for train rows, which the
    account references never read: their periods are 3 and 4)."""
    from moneytrail.score.model import temporal_split

    _, va, te = temporal_split(X.shape[0])
    out = []
    for f in fits:
        sc = np.full(X.shape[0], np.nan)
        rows = np.r_[va, te]
        sc[rows] = f.booster.predict(X[rows], num_iteration=f.best_iteration)
        out.append(sc)
    return out


def _tx_summary(r: dict) -> dict[str, Any]:
    return {"f1": round(r["f1"], 4), "precision": round(r["precision"], 4), "recall": round(r["recall"], 4),
            "pr_auc": round(r["pr_auc"], 4), "f1_std": round(r["f1_std"], 4), "pr_auc_std": round(r["pr_auc_std"], 4),
            "f1_per_seed": [round(f.test["f1"], 4) for f in r["_fits"]],
            "pr_auc_per_seed": [round(f.test["pr_auc"], 4) for f in r["_fits"]],
            "val_f1": round(r["val_f1"], 4), "best_iterations": r["best_iterations"]}


def bench_score(data: str | Path, *, seeds=(0, 1, 2), threads: int = 2, baseline: bool | None = None,
                settings=(7, 14, 28), workdir=None, backend: str = "duckdb",
                backend_options: dict | None = None, ablation: bool = False,
                gfp_float32: bool = False, progress=None, weight_positives: bool | None = None,
                reference_protocol: bool = False) -> dict[str, Any]:
    """``backend`` computes the graph features (DuckDB, or Spark: the same values, so the same
    model and metrics; only ``feature_seconds`` differ). ``seeds``: fewer for development; the
    protocol is 0, 1, 2. ``progress``: called with a line of text as each part finishes (the CLI
    writes them to stderr, so a long run shows what it has measured). ``gfp_float32``: cast the GFP matrix to float32 as the reference script
    does (values beyond float32's range become infinities) — to check what the cast changes.
    ``weight_positives``: both sides' LightGBM with positives weighted by negatives/positives of
    train (the reference's ``scale_pos_weight``); default :data:`moneytrail.score.model.WEIGHT_POSITIVES`.
    ``reference_protocol``: both sides exactly as the reference baseline (positives weighted,
    :data:`moneytrail.score.model.REFERENCE_SETTINGS`)."""
    from moneytrail.score.accounts import (account_volume_names, evaluate_accounts, period_of_rows,
                                           tx_max_scores)
    from moneytrail.score.features import VOLUME_FEATURES
    from moneytrail.score import model

    weight = model.WEIGHT_POSITIVES if weight_positives is None else weight_positives
    settings_lgb = dict(model.REFERENCE_SETTINGS) if reference_protocol else None
    if reference_protocol:
        weight = True
    evaluate = functools.partial(model.evaluate, weight_positives=weight, settings=settings_lgb)   # both sides alike

    data = Path(data)
    if not data.exists():
        raise InputError("AMLSim dataset folder not found", path=str(data))
    d = _load(data, workdir, backend, backend_options, threads=threads, gfp_threads=1)
    n = len(d["y"])
    raw = np.column_stack([d["amount"].astype(np.float32),
                           ((d["ts"] // DAY + 3) % 7).astype(np.float32)])  # day of week, Monday = 0
    ours = evaluate(d["X"], d["y"], seeds, threads, d["names"])
    tm = d["feature_timings"]
    res: dict[str, Any] = dict(_tx_summary(ours), **{
        "feature_seconds": round(d["feature_seconds"], 3),
        "feature_transactions_per_second": round(n / d["feature_seconds"], 1),
        "feature_threads": 1 if backend == "duckdb" else None,
        "feature_seconds_by_threads": {str(k): round(v, 3) for k, v in tm.items()},
        "account_pass_seconds": round(d["account_seconds"], 3),
        "transactions": n, "positives": int(d["y"].sum()), "features": len(d["names"]),
        "backend": backend, "seeds": list(seeds), "weight_positives": weight,
        "num_leaves": (settings_lgb or model.LGB_PARAMS)["num_leaves"],
        "protocol": "reference" if reference_protocol else "moneytrail",
    })
    period = period_of_rows(n)
    acc = d["accounts"]

    def tx_max(fits, X):
        return [tx_max_scores(acc, d["acct_src"], d["acct_dst"], period, sc) for sc in _scores_after_train(fits, X)]

    refs = {"ours_tx_max": tx_max(ours["_fits"], d["X"])}
    say = progress or (lambda line: None)
    say(f"moneytrail: features {res['feature_seconds_by_threads']} s by threads; test {_tx_summary(ours)}")
    if baseline is None:
        try:
            import_snapml()
            baseline = True
        except ImportError:
            baseline = False
    runs = {}
    if baseline:
        for days in settings:
            G, el = _gfp_features(d, days)
            if gfp_float32:
                with np.errstate(over="ignore"):
                    G = G.astype(np.float32)
            Xb = np.column_stack([raw.astype(np.float64), G])
            r = evaluate(Xb, d["y"], seeds, threads)
            runs[days] = (r, el, tx_max(r["_fits"], Xb))
            say(f"GFP w{days}: {el:.2f} s; test {_tx_summary(r)}")
            del G, Xb
        chosen = max(runs, key=lambda k: (runs[k][0]["val_f1"], runs[k][0]["val_pr_auc"]))
        refs["gfp_tx_max"] = runs[chosen][2]
    res["accounts"] = evaluate_accounts(acc, seeds, threads, tx_max=refs, weight_positives=weight,
                                        settings=settings_lgb)
    say(f"accounts: {res['accounts']}")
    if ablation:
        keep = [i for i, nm in enumerate(d["names"]) if nm not in set(VOLUME_FEATURES)]
        ab = evaluate(d["X"][:, keep], d["y"], seeds, threads, [d["names"][i] for i in keep])
        res["ablation_no_volume"] = dict(_tx_summary(ab), features=len(keep), left_out=list(VOLUME_FEATURES))
        res["ablation_no_volume"]["accounts"] = evaluate_accounts(
            acc, seeds, threads, drop=account_volume_names(d["names"]),
            tx_max={"ours_tx_max": tx_max(ab["_fits"], d["X"][:, keep])}, weight_positives=weight,
            settings=settings_lgb)
    if not baseline:
        res["baseline"] = None
        return res
    r, el, _ = runs[chosen]
    res["baseline"] = dict(_tx_summary(r), **{
        "feature_seconds": round(el, 3), "feature_transactions_per_second": round(n / el, 1),
        "setting": f"w{chosen}", "matrix": "float32 (reference cast)" if gfp_float32 else "float64",
        "settings": {f"w{k}": {"val_f1": round(v[0]["val_f1"], 4), "f1": round(v[0]["f1"], 4),
                               "pr_auc": round(v[0]["pr_auc"], 4),
                               "feature_transactions_per_second": round(n / v[1], 1)} for k, v in runs.items()},
    })
    res["f1_gain"] = round(res["f1"] - res["baseline"]["f1"], 4)
    res["feature_speed_ratio"] = round(res["feature_transactions_per_second"]
                                       / res["baseline"]["feature_transactions_per_second"], 2)
    return res
