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
   (the order before any model scored the case).

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
    today = sorted(rows, key=lambda r: (-r[2], r[0]))
    prio = sorted(rows, key=lambda r: (-(r[3] or 0), -r[2], r[0]))
    money = sorted(rows, key=lambda r: (-(by_money.get(r[0]) or 0), -r[2], r[0]))
    return {"dataset": str(data), "model": {k: model[k] for k in ("model_id", "threshold", "test")},
            "test_period_from": cut, "findings_in_test_period": len(rows),
            "laundering_findings": sum(1 for r in rows if r[-1]),
            "today_score_order": _precision_at(today), "priority_order": _precision_at(prio),
            "money_at_stake_order": _precision_at(money), "seconds": round(time.perf_counter() - t0, 1)}


__all__ = ["bench_priority"]
