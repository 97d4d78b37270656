"""``moneytrail demo``: a whole investigation end to end, offline, from a seeded scenario.

Generates the synthetic case (:mod:`moneytrail.synth`) as CSV exports with their mappings,
ingests each through the same path a user's files take, runs resolve -> graph -> detect ->
trace -> report, and returns the report's path with a summary.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.workspace import Workspace


def run_demo(out: str | Path = "moneytrail-demo", *, seed: int = 7, n_accounts: int = 3000,
             months: int = 6, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    from moneytrail.synth import generate

    out = Path(out)
    t0 = time.perf_counter()
    ws_path = out / "case.duckdb"
    for p in (ws_path, out / "case.duckdb.wal", out / "case.evidence", out / "inputs"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    scenario = generate(out / "inputs", seed=seed, n_accounts=n_accounts, months=months)
    log(f"generated {scenario.n_transactions} transactions for {scenario.n_accounts} accounts "
        f"in {len(scenario.files)} files")
    ingested = []
    with Workspace.open(ws_path) as ws:
        for csv_path, mapping in scenario.files:
            r = ingest_file(ws, csv_path, "csv", mapping=mapping, legal_basis=["synthetic-demo"])
            ingested.append(r.to_dict())
            log(f"ingested {csv_path.name}: read {r.read}, stored {r.stored}, quarantined {r.quarantined}")
        res = run_pipeline(ws, params={"report": {"out": out / "report.html",
                                                  "title": "moneytrail demo case (synthetic data)"}},
                           log=log)
    return {"report": Path(res["stages"]["report"]["report"]), "workspace": ws_path,
            "ingested": ingested, "pipeline": res, "schemes": scenario.schemes,
            "seconds": round(time.perf_counter() - t0, 2)}
