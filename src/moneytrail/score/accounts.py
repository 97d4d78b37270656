"""Account-level risk: one row per account and period, what an investigator opens.

The temporal protocol of :mod:`.model` cuts the transactions, in their documented order
(timestamp, then tx_id), into train (first 60 %), validation (next 20 %) and test (last 20 %).
The account model cuts the same order into five periods of 20 % of the rows each, so train is
periods 0-2, validation period 3 and test period 4 — the same cut points as the transaction
split, and every period of the same size in transactions, so an account's figures over a
period mean the same thing in train, validation and test.

* row: an account active (sender or receiver) in a period;
* label: the account takes part (either end) in a laundering transfer of that period;
* features (``ACCOUNT_SQL``), all from that period's transfers and the causal transaction
  features of :mod:`.features` (which look only at or before each transfer): the account's
  activity in the period (transfers out and in, amounts, distinct counterparties, new
  relationships, active days, shares of those), relationships opened in the period that had no
  second transfer in it ("one-shot" — known at the period's end), the same counts of its new
  counterparties (2 hops, within the period), and, for every transaction feature, its mean and
  maximum over the account's transfers as sender and as receiver. Everything is known at the
  end of the period, when the account is scored.

The model is LightGBM with the transaction model's settings (:data:`.model.LGB_PARAMS`), early
stopping and threshold on the validation period, metrics on the test period only.
``evaluate_accounts`` also reports two reference scores on the same rows: the transaction
model's highest score over the account's transfers of the period (the "maximum over
transactions" the stored ``account_scores`` use), and a busy-account score (the account's number
of transfers in the period, nothing else).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moneytrail.score.features import FEATURE_NAMES, VOLUME_FEATURES
from moneytrail.score.metrics import average_precision, best_f1_threshold, prf

PERIODS = 5               # five periods of 20 % of the rows: 0-2 train, 3 validation, 4 test
TRAIN, VAL, TEST = (0, 1, 2), 3, 4

#: account activity in a period (names -> words)
ACTIVITY: dict[str, str] = {
    "n_out": "transfers the account paid in the period",
    "n_in": "transfers the account received in the period",
    "amt_out": "total the account paid in the period",
    "amt_in": "total the account received in the period",
    "payees": "distinct payees in the period",
    "payers": "distinct payers in the period",
    "new_out": "new relationships the account opened as payer in the period",
    "new_in": "new relationships opened towards the account as payee in the period",
    "days": "days with activity in the period",
    "new_out_share": "share of the account's payments in the period that opened a new relationship",
    "new_in_share": "share of the account's receipts in the period that opened a new relationship",
    "payee_share": "distinct payees per payment in the period",
    "payer_share": "distinct payers per receipt in the period",
    "pass_ratio": "what the account paid out against what it received in the period",
    "oneshot_out": "payees first paid in the period and paid only once in it",
    "oneshot_in": "payers that first paid the account in the period and only once in it",
    "oneshot_out_share": "share of the period's payees first paid in it and paid only once",
    "oneshot_in_share": "share of the period's payers that first paid in it and only once",
    "nb_new_mean": ("the account's new counterparties of the period: how many new relationships each of them "
                    "opened in the period (mean)"),
    "nb_oneshot_mean": ("the account's new counterparties of the period: how many one-shot relationships each of "
                        "them had in the period (mean)"),
}
#: activity features that only measure how busy the account is (left out in the ablation)
ACTIVITY_VOLUME = ("n_out", "n_in", "amt_out", "amt_in", "payees", "payers", "new_out", "new_in", "days",
                   "oneshot_out", "oneshot_in")


def account_feature_names(tx_names: list[str] | None = None) -> list[str]:
    tx_names = tx_names or FEATURE_NAMES
    return list(ACTIVITY) + [f"{side}_{agg}_{f}" for side in ("out", "in") for agg in ("avg", "max") for f in tx_names]


def account_volume_names(tx_names: list[str] | None = None) -> list[str]:
    """The account features that measure volume: activity counts and totals, and the mean and
    maximum of the transaction volume features."""
    vol = set(VOLUME_FEATURES)
    return list(ACTIVITY_VOLUME) + [n for n in account_feature_names(tx_names)
                                    if n.split("_", 2)[-1] in vol and n.split("_", 2)[0] in ("out", "in")]


def account_sql(cuts: list[int], features: str = "features", edges: str = "edges",
                labels: str | None = "labels") -> str:
    """One row per (account, period): period, label y, then ``account_feature_names()``.
    ``cuts``: the last row number (1-based, in time order) of periods 0..3."""
    case = " ".join(f"WHEN rn <= {int(c)} THEN {i}" for i, c in enumerate(cuts))
    aggs = []
    for side in ("out", "in"):
        for agg in ("avg", "max"):
            for f in FEATURE_NAMES:
                aggs.append(f"{agg}(CASE WHEN side = '{side}' THEN {f} END) AS {side}_{agg}_{f}")
    lab = (f"LEFT JOIN {labels} l ON l.tx_id = f.tx_id" if labels else "")
    y = "coalesce(l.is_laundering, FALSE)" if labels else "FALSE"
    cols = ", ".join(f"f.{c}" for c in FEATURE_NAMES)
    rest = ", ".join(["tx_id", "ts", "y", "rn", "period"] + FEATURE_NAMES)      # no engine-specific EXCLUDE
    agg_names = ", ".join(a.rsplit(" AS ", 1)[1] for a in aggs)
    return f"""
WITH f AS (
    SELECT f.tx_id, f.ts, e.src, e.dst, {y} AS y, {cols},
           row_number() OVER (ORDER BY f.ts, f.tx_id) AS rn
    FROM {features} f JOIN {edges} e ON e.tx_id = f.tx_id {lab}
), p AS (SELECT *, CASE {case} ELSE {len(cuts)} END AS period FROM f),
s AS (
    SELECT src AS acct, dst AS cp, 'out' AS side, {rest} FROM p
    UNION ALL
    SELECT dst, src, 'in', {rest} FROM p
), a AS (
    SELECT acct, period, max(CASE WHEN y THEN 1 ELSE 0 END) AS y,
           count(*) FILTER (WHERE side = 'out') AS n_out, count(*) FILTER (WHERE side = 'in') AS n_in,
           coalesce(sum(amount) FILTER (WHERE side = 'out'), 0) AS amt_out,
           coalesce(sum(amount) FILTER (WHERE side = 'in'), 0) AS amt_in,
           count(DISTINCT cp) FILTER (WHERE side = 'out') AS payees,
           count(DISTINCT cp) FILTER (WHERE side = 'in') AS payers,
           count(*) FILTER (WHERE side = 'out' AND pair_n = 1) AS new_out,
           count(*) FILTER (WHERE side = 'in' AND pair_n = 1) AS new_in,
           count(DISTINCT CAST(ts AS DATE)) AS days,
           {", ".join(aggs)}
    FROM s GROUP BY acct, period
), pr AS (      -- the period's pairs: opened in it (first transfer ever) and not repeated in it
    SELECT src, dst, period, CASE WHEN count(*) = 1 AND min(pair_n) = 1 THEN 1 ELSE 0 END AS one,
           CASE WHEN min(pair_n) = 1 THEN 1 ELSE 0 END AS opened
    FROM p GROUP BY src, dst, period
), pe AS (
    SELECT src AS acct, dst AS cp, period, 'out' AS side, one, opened FROM pr
    UNION ALL SELECT dst, src, period, 'in', one, opened FROM pr
), po AS (
    SELECT acct, period, sum(one) FILTER (WHERE side = 'out') AS oneshot_out,
           sum(one) FILTER (WHERE side = 'in') AS oneshot_in,
           sum(opened) AS opened_all, sum(one) AS one_all
    FROM pe GROUP BY acct, period
), nb AS (      -- 2 hops within the period: the account's new counterparties, and theirs
    SELECT pe.acct, pe.period, avg(c.opened_all) AS nb_new_mean, avg(c.one_all) AS nb_oneshot_mean
    FROM pe JOIN po c ON c.acct = pe.cp AND c.period = pe.period
    WHERE pe.opened = 1 GROUP BY pe.acct, pe.period
), a2 AS (
    SELECT a.*, coalesce(po.oneshot_out, 0) AS oneshot_out, coalesce(po.oneshot_in, 0) AS oneshot_in,
           nb.nb_new_mean, nb.nb_oneshot_mean
    FROM a LEFT JOIN po USING (acct, period) LEFT JOIN nb USING (acct, period)
)
SELECT acct, period, y, n_out, n_in, amt_out, amt_in, payees, payers, new_out, new_in, days,
       new_out / nullif(n_out, 0) AS new_out_share, new_in / nullif(n_in, 0) AS new_in_share,
       payees / nullif(n_out, 0) AS payee_share, payers / nullif(n_in, 0) AS payer_share,
       amt_out / nullif(amt_in, 0) AS pass_ratio,
       oneshot_out, oneshot_in, oneshot_out / nullif(payees, 0) AS oneshot_out_share,
       oneshot_in / nullif(payers, 0) AS oneshot_in_share, nb_new_mean, nb_oneshot_mean,
       {agg_names}
FROM a2
ORDER BY period, acct
"""


def period_cuts(n: int) -> list[int]:
    """Last row numbers of periods 0..3; 3 ends at int(0.6 n) and 4 at int(0.8 n), the
    transaction split's cut points."""
    i1, i2 = int(0.6 * n), int(0.8 * n)
    return [int(0.2 * n), int(0.4 * n), i1, i2]


def account_table(backend, n_rows: int, features: str = "features", edges: str = "edges",
                  labels: str | None = "labels"):
    """The account rows as an Arrow table (acct, period, y, features...)."""
    return backend.execute(account_sql(period_cuts(n_rows), features, edges, labels))


def _split(period: np.ndarray):
    return (np.nonzero(np.isin(period, TRAIN))[0], np.nonzero(period == VAL)[0], np.nonzero(period == TEST)[0])


def _threshold_metrics(y, score, va, te) -> dict[str, float]:
    thr, f1va = best_f1_threshold(y[va], score[va])
    m = prf(y[te], (score[te] >= thr).astype(np.int8))
    m["pr_auc"] = average_precision(y[te], score[te])
    m["val_f1"] = f1va
    return m


def _summary(runs: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ("f1", "precision", "recall", "pr_auc"):
        v = [r[k] for r in runs]
        out[k] = round(float(np.mean(v)), 4)
        out[f"{k}_std"] = round(float(np.std(v)), 4)
    out["val_f1"] = round(float(np.mean([r["val_f1"] for r in runs])), 4)
    return out


def evaluate_accounts(tbl, seeds=(0, 1, 2), threads: int = 2, drop: list[str] | None = None,
                      tx_max: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
                      weight_positives: bool | None = None, settings: dict | None = None) -> dict[str, Any]:
    """The account protocol over ``seeds``: the account model's test metrics (mean, std over the
    seeds), the busy-account reference, and any transaction-model references given in ``tx_max``
    as ``{name: [one score array per seed, aligned with tbl's rows]}`` (see ``tx_max_scores``).
    ``drop``: account features left out (the ablation)."""
    from moneytrail.score.model import WEIGHT_POSITIVES, fit_one

    weight = WEIGHT_POSITIVES if weight_positives is None else weight_positives

    names = [n for n in tbl.column_names if n not in ("acct", "period", "y") and n not in set(drop or ())]
    X = np.column_stack([tbl.column(n).to_numpy(zero_copy_only=False).astype(np.float32) for n in names])
    y = tbl.column("y").to_numpy(zero_copy_only=False).astype(np.int8)
    period = tbl.column("period").to_numpy(zero_copy_only=False)
    idx = _split(period)
    tr, va, te = idx
    res: dict[str, Any] = {"rows": {"train": int(len(tr)), "validation": int(len(va)), "test": int(len(te))},
                           "positives": {"train": int(y[tr].sum()), "validation": int(y[va].sum()),
                                         "test": int(y[te].sum())},
                           "features": len(names)}
    runs, iters = [], []
    for s in seeds:
        fit = fit_one(X, y, idx, s, threads, names, weight, settings)
        runs.append(dict(fit.test, val_f1=fit.val["f1"]))
        iters.append(fit.best_iteration)
    res["model"] = dict(_summary(runs), best_iterations=iters)
    busy = (tbl.column("n_out").to_numpy(zero_copy_only=False)
            + tbl.column("n_in").to_numpy(zero_copy_only=False)).astype(np.float64)
    res["busy_only"] = _summary([_threshold_metrics(y, busy, va, te)])
    for name, per_seed in (tx_max or {}).items():
        res[name] = _summary([_threshold_metrics(y, np.nan_to_num(sc, nan=-1.0), va, te) for sc in per_seed])
    return res


def tx_max_scores(tbl, src: list, dst: list, rn_period: np.ndarray, tx_scores: np.ndarray) -> np.ndarray:
    """Per account row of ``tbl`` (acct, period): the highest transaction score among the
    account's transfers of that period (either end). ``src``/``dst``/``rn_period``/``tx_scores``
    are per transaction; transactions without a score (NaN) are skipped."""
    best: dict[tuple, float] = {}
    for a, b, p, s in zip(src, dst, rn_period.tolist(), tx_scores.tolist()):
        if s != s:      # NaN
            continue
        for k in ((a, p), (b, p)):
            if best.get(k, -1.0) < s:
                best[k] = s
    acct = tbl.column("acct").to_pylist()
    per = tbl.column("period").to_pylist()
    return np.array([best.get((a, p), np.nan) for a, p in zip(acct, per)], dtype=np.float64)


def period_of_rows(n: int) -> np.ndarray:
    """The period of each transaction row (in time order)."""
    cuts = period_cuts(n)
    rn = np.arange(1, n + 1)
    return np.searchsorted(np.array(cuts), rn, side="left").astype(np.int64)
