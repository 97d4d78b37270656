"""Run typologies and score features on two backends over one workspace and say how they differ.

Findings are compared as an investigator would read them: the same keys, and for each the same
evidence transactions and records, accounts and roles, time span, total, explanation and (within
float tolerance) score. Lists whose order the query does not define (accounts) are compared as sets.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from moneytrail.detect import TYPOLOGIES, resolve_params
from moneytrail.score.features import FEATURE_NAMES, compute_features, feature_matrix

PARAMS = resolve_params({})


def _finding(typ, row: dict, p) -> dict:
    return {
        "tx_ids": sorted(row["tx_ids"]),
        "accounts": sorted((a["account_id"], a["role"]) for a in row["accounts"]),
        # the employer and contract records it cites (docs/records.md), by kind and id
        "records": sorted((r["kind"], int(r["record_id"])) for r in row.get("records") or ()),
        "first_ts": row["first_ts"], "last_ts": row["last_ts"],
        "total_amount": Decimal(row["total_amount"]),
        "score": float(row["score"]),
        "explanation": typ.explain(row, p),
    }


def findings(typ, backend, p=None) -> dict[str, dict]:
    p = p or PARAMS[typ.id]
    return {r["key"]: _finding(typ, r, p) for r in typ.run(backend, p)}


def differences(a: dict[str, dict], b: dict[str, dict]) -> list[str]:
    """What differs between two typology results (empty: identical)."""
    out = []
    for k in sorted(set(a) ^ set(b)):
        out.append(f"{k}: only on {'the first' if k in a else 'the second'} backend")
    for k in sorted(set(a) & set(b)):
        for field in a[k]:
            x, y = a[k][field], b[k][field]
            same = math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) if field == "score" else x == y
            if not same:
                out.append(f"{k}: {field} {x!r} != {y!r}")
    return out


def detection_parity(ws, first, second, typologies=TYPOLOGIES) -> dict[str, list[str]]:
    """Every typology that is not skipped for ``ws`` on both backends: typology -> differences.
    A typology a backend cannot run must say so (``unsupported``), and the test decides."""
    out = {}
    for typ in typologies:
        if typ.skip_reason(ws):
            continue
        out[typ.id] = differences(findings(typ, first), findings(typ, second))
    return out


def feature_differences(first, second, source: str | None = None) -> tuple[int, list[str]]:
    """Compute the score features on both backends (from ``source``, default the graph's edges);
    the row count and the features whose values differ beyond float tolerance."""
    kw = {"source": source} if source else {}
    compute_features(first, table="_parity_f1", **kw)
    compute_features(second, table="_parity_f2", **kw)
    a, _ = feature_matrix(first, "_parity_f1")
    b, _ = feature_matrix(second, "_parity_f2")
    diffs = []
    if a.column("tx_id").to_pylist() != b.column("tx_id").to_pylist():
        return a.num_rows, ["the transactions differ"]
    for f in FEATURE_NAMES:
        x = np.array(a.column(f).to_pylist(), dtype=float)
        y = np.array(b.column(f).to_pylist(), dtype=float)
        bad = ~np.isclose(x, y, rtol=1e-9, atol=1e-9, equal_nan=True)
        if bad.any():
            i = int(np.argmax(bad))
            diffs.append(f"{f}: {int(bad.sum())} rows differ (e.g. tx {a.column('tx_id')[i].as_py()}: {x[i]} vs {y[i]})")
    return a.num_rows, diffs
