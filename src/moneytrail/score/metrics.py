"""Metrics of the scoring protocol, written out so their definitions are in one place.

* ``average_precision`` — PR-AUC as average precision: sum over score thresholds (highest
  first) of (recall_n - recall_{n-1}) x precision_n, ties grouped — the same step-wise
  definition as scikit-learn's ``average_precision_score``.
* ``best_f1_threshold`` — the score threshold that maximises F1 on the data given (used on
  validation only); predictions are ``score >= threshold``.
* ``prf`` — precision, recall and F1 of the positive (minority) class.
"""

from __future__ import annotations

import numpy as np


def _curve(y: np.ndarray, p: np.ndarray):
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order].astype(np.float64), p[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1.0 - ys)
    last = np.r_[np.nonzero(np.diff(ps))[0], len(ps) - 1]  # last index of each distinct score
    return tp[last], fp[last], ps[last]


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y).astype(np.int8)
    pos = int(y.sum())
    if pos == 0:
        return 0.0
    tp, fp, _ = _curve(y, np.asarray(p, dtype=np.float64))
    precision = tp / (tp + fp)
    recall = tp / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    y = np.asarray(y).astype(np.int8)
    pos = int(y.sum())
    if pos == 0:
        return float("inf"), 0.0
    tp, fp, thr = _curve(y, np.asarray(p, dtype=np.float64))
    precision = tp / (tp + fp)
    recall = tp / pos
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    return float(thr[i]), float(f1[i])


def prf(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y = np.asarray(y).astype(np.int8)
    pred = np.asarray(pred).astype(np.int8)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"f1": f, "precision": p, "recall": r, "tp": tp, "fp": fp, "fn": fn}
