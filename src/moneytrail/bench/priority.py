"""``moneytrail bench priority``: does the priority put more laundering at the top of the queue?

Protocol, on an AMLSim-layout folder with labels:

1. ingest into a temporary workspace, resolve -> graph -> detect (every typology, defaults);
2. train the risk model (``moneytrail model train``: the temporal 60/20/20 split, seed 0) and
   score the ledger with it; the pipeline's priority (:mod:`moneytrail.priority`) follows;
3. keep the findings of the **test period** only (first transaction at or after the start of the
   model's test part): the model never saw their labels;
4. a finding counts as laundering when at least half of its transactions are labeled laundering;
   report precision at 20, 50 and 100 for the queue in today's order (each typology's own score,
   highest first) and in priority order, and the same with the money-at-stake priority alone
   (the order before any model scored the case);
5. per graph typology, on the test period's transactions only (a finding that began before the
   cut keeps its part after it, which the model did not learn from): recall (share of the
   transactions labeled with that alert type that lie in one of the typology's findings) and
   precision (share of the transactions in those findings that are laundering), for every
   finding and for the findings the model **confirms**: the share of that money the model puts
   on laundering (sum of p x amount / sum of amount, p the priority's calibrated probability) at
   or above a cut. The cuts 0.1 ... 0.9
   give each typology's precision-recall curve; ``confirmed`` is the operating point at the
   priority's own ``HIGH`` (0.5).

Nothing here knows the dataset: the split and the cut are the model's own.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from moneytrail.errors import InputError

KS = (20, 50, 100)
#: model shares at which the per-typology precision-recall curve is read
CUTS = tuple(round(0.1 * i, 1) for i in range(1, 10))


def _typology_curves(ws, model_id: int, cut: str) -> dict[str, Any]:
    """Per graph typology: precision and recall on the test period for every finding, and for the
    findings whose money the model puts at or above each share in ``CUTS`` on laundering."""
    from moneytrail.bench.detect import ALERT_TYPES
    from moneytrail.priority import HIGH, probabilities

    probabilities(ws, model_id, "_bench_p")   # the priority's own p: calibrated on validation
    ws.con.execute("""
        CREATE OR REPLACE TEMP TABLE _bench_share AS
        SELECT f.finding_id, f.typology,
               sum(coalesce(s.p, 0) * abs(t.amount)) / nullif(sum(abs(t.amount)), 0) AS share
        FROM findings f
        JOIN (SELECT DISTINCT finding_id, tx_id FROM finding_transactions) ft USING (finding_id)
        JOIN transactions t ON t.tx_id = ft.tx_id
        LEFT JOIN _bench_p s ON s.tx_id = ft.tx_id
        WHERE t.ts >= CAST(? AS TIMESTAMP)
        GROUP BY f.finding_id, f.typology""", [cut])
    out: dict[str, Any] = {}
    try:
        for typ in ALERT_TYPES:
            n = ws.scalar("SELECT count(*) FROM labels l JOIN transactions t USING (tx_id) "
                          "WHERE l.alert_type = ? AND t.ts >= CAST(? AS TIMESTAMP)", [typ, cut])
            if not n or not ws.scalar("SELECT count(*) FROM _bench_share WHERE typology = ?", [typ]):
                continue

            def point(min_share: float) -> dict[str, Any]:
                r = ws.records("""
                    WITH kept AS (SELECT DISTINCT ft.tx_id FROM _bench_share b
                                  JOIN finding_transactions ft USING (finding_id)
                                  JOIN transactions t ON t.tx_id = ft.tx_id
                                  WHERE b.typology = ? AND coalesce(b.share, 0) >= ?
                                    AND t.ts >= CAST(? AS TIMESTAMP))
                    SELECT (SELECT count(*) FROM kept) AS kept,
                           (SELECT count(*) FROM kept JOIN labels l USING (tx_id) WHERE l.is_laundering) AS laundering,
                           (SELECT count(*) FROM labels l JOIN transactions t USING (tx_id)
                            WHERE l.alert_type = ? AND t.ts >= CAST(? AS TIMESTAMP)
                              AND l.tx_id IN (SELECT tx_id FROM kept)) AS hit,
                           (SELECT count(*) FROM _bench_share WHERE typology = ? AND coalesce(share, 0) >= ?) AS findings
                """, [typ, min_share, cut, typ, cut, typ, min_share])[0]
                return {"recall": round(r["hit"] / n, 4),
                        "precision": round(r["laundering"] / r["kept"], 4) if r["kept"] else None,
                        "findings": r["findings"]}

            out[typ] = {"labeled_in_test_period": n, "all": point(-1.0), "confirmed": point(HIGH),
                        "curve": {str(c): point(c) for c in CUTS}}
    finally:
        ws.con.execute("DROP TABLE IF EXISTS _bench_share")
        ws.con.execute("DROP TABLE IF EXISTS _bench_p")
    return out


def _precision_at(rows: list[tuple], ks=KS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in ks:
        top = rows[:k]
        out[f"p@{k}"] = round(sum(1 for r in top if r[-1]) / len(top), 3) if top else None
    return out


def bench_priority(data: str | Path, *, seed: int = 0, workdir: str | Path | None = None) -> dict[str, Any]:
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.priority import prioritize
    from moneytrail.score import score, train
    from moneytrail.workspace import Workspace

    data = Path(data)
    if not data.is_dir():
        raise InputError("dataset folder not found", path=str(data))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="moneytrail-priority-", dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "bench.duckdb") as ws:
            ingest_file(ws, data, "amlsim")
            run_pipeline(ws, stages=["resolve", "graph", "detect"])
            by_money = dict(ws.query("SELECT finding_id, priority FROM findings"))
            model = train(ws, seed=seed)
            score(ws, model_id=model["model_id"])
            prioritize(ws)
            cut = json.loads(ws.scalar("SELECT split FROM models WHERE model_id = ?", [model["model_id"]]))["test"]["from"]
            rows = ws.query("""
                SELECT f.finding_id, f.typology, f.score, f.priority,
                       avg(CASE WHEN l.is_laundering THEN 1.0 ELSE 0.0 END) >= 0.5 AS laundering
                FROM findings f JOIN finding_transactions ft USING (finding_id)
                LEFT JOIN labels l ON l.tx_id = ft.tx_id
                WHERE f.first_ts >= CAST(? AS TIMESTAMP) AND f.typology <> 'model_risk'
                GROUP BY f.finding_id, f.typology, f.score, f.priority""", [cut])
            curves = _typology_curves(ws, model["model_id"], cut)
    today = sorted(rows, key=lambda r: (-r[2], r[0]))
    prio = sorted(rows, key=lambda r: (-(r[3] or 0), -r[2], r[0]))
    money = sorted(rows, key=lambda r: (-(by_money.get(r[0]) or 0), -r[2], r[0]))
    return {"dataset": str(data), "model": {k: model[k] for k in ("model_id", "threshold", "test")},
            "test_period_from": cut, "findings_in_test_period": len(rows),
            "laundering_findings": sum(1 for r in rows if r[-1]),
            "today_score_order": _precision_at(today), "priority_order": _precision_at(prio),
            "money_at_stake_order": _precision_at(money),
            "typologies": curves, "seconds": round(time.perf_counter() - t0, 1)}


__all__ = ["bench_priority"]
