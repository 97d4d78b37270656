"""``moneytrail demo``: a whole investigation end to end, offline, from a seeded scenario.

Generates the synthetic case (:mod:`moneytrail.synth`) as CSV exports with their mappings,
ingests each through the same path a user's files take, runs resolve -> graph -> detect ->
trace -> report, and returns the report's path with a summary.

It runs under authority like any case: the demo writes its own (synthetic) task force to
``taskforce.yaml`` (two agencies, a registrar, an analyst deputized for financial
investigations), imports it as the registrar, opens case ``OP-DEMO`` as the analyst, and every
ingest and the pipeline run are decided by the Cedar policies and recorded in the audit log
(``case.audit/``). ``--as`` is ignored: the demo acts as its own officers.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import datetime as _dt

from moneytrail.audit import record_read
from moneytrail.authority import guard
from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.workspace import Workspace

DEMO_REGISTRAR = "tf-registrar"
DEMO_OFFICER = "tf-analyst-1"
DEMO_SAC = "tf-sac"            # the deputizing official: approves the analyst's grant
DEMO_COUNSEL = "tf-counsel"    # records the cases' legal process (6103(i), 6(e))
DEMO_CASE = "OP-DEMO"
DEMO_JURISDICTION = "Demo District"


def demo_taskforce(today: _dt.date | None = None) -> dict[str, Any]:
    """The demo's synthetic task force, as a task-force file (moneytrail authority import)."""
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    day = _dt.timedelta(days=1)
    return {
        "agencies": [
            {"id": "TF-LEAD", "name": "Financial Crimes Task Force (synthetic)", "kind": "federal"},
            {"id": "STATE-FCU", "name": "State Financial Crimes Unit (synthetic)", "kind": "state"},
        ],
        "officers": [
            {"id": DEMO_REGISTRAR, "name": "Task force registrar (synthetic)", "agency": "TF-LEAD",
             "roles": ["registrar", "auditor"]},
            {"id": DEMO_SAC, "name": "Special Agent in Charge (synthetic)", "agency": "TF-LEAD"},
            {"id": DEMO_COUNSEL, "name": "Task force counsel (synthetic)", "agency": "TF-LEAD", "roles": ["counsel"]},
            {"id": DEMO_OFFICER, "name": "Financial analyst (synthetic)", "agency": "STATE-FCU"},
        ],
        "grants": [{
            "id": "G-DEMO-1", "officer": DEMO_OFFICER,
            "deputizing_official": DEMO_SAC, "deputizing_agency": "TF-LEAD",
            "home_agency_consent": {"official": "Chief, State Financial Crimes Unit (synthetic)",
                                    "date": str(today - day)},
            "statute": "8 U.S.C. 1103(a)(6)",
            "functions": ["task-force-support", "illegal-hiring-finance", "human-trafficking-finance",
                          "asset-seizure"],
            "jurisdictions": [DEMO_JURISDICTION],
            "valid_from": str(today - day), "valid_until": str(today + 365 * day),
            "training": {"course": "Financial investigations under deputization (synthetic)",
                         "date": str(today - 7 * day), "expires": str(today + 365 * day)},
        }],
    }


def setup_demo_authority(ws: Workspace, taskforce_file: Path | None = None, *, case: str = DEMO_CASE) -> str:
    """Import the demo task force into ``ws``, have its deputizing official approve the analyst's
    grant and the registrar activate it, and open ``case`` as the analyst; returns the case."""
    import yaml

    from moneytrail.authority.registry import activate_grant, approve_grant, import_taskforce, open_case

    tf = demo_taskforce()
    if taskforce_file is not None:
        taskforce_file.write_text(yaml.safe_dump(tf, sort_keys=False), encoding="utf-8")
    import_taskforce(ws, DEMO_REGISTRAR, tf)
    for g in tf["grants"]:
        approve_grant(ws, g["deputizing_official"], g["id"])
        activate_grant(ws, DEMO_REGISTRAR, g["id"])
    open_case(ws, DEMO_OFFICER, case, function="human-trafficking-finance", jurisdiction=DEMO_JURISDICTION,
              title="Synthetic funnel, front company and laundering cycle",
              predicate="Synthetic bank exports show a funnel account receiving structured cash deposits "
                        "and a front company paying workers through a labor broker")
    return case


def run_demo(out: str | Path = "moneytrail-demo", *, seed: int = 7, n_accounts: int = 3000,
             months: int = 6, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    from moneytrail.synth import generate

    out = Path(out)
    t0 = time.perf_counter()
    ws_path = out / "case.duckdb"
    for p in (ws_path, out / "case.duckdb.wal", out / "case.evidence", out / "case.audit", out / "inputs"):
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
        case = setup_demo_authority(ws, out / "taskforce.yaml")
        log(f"task force imported from {out / 'taskforce.yaml'}; case {case} opened by {DEMO_OFFICER}")

        def allowed(action: str, **resource) -> None:
            guard(ws, action, officer=DEMO_OFFICER, case=case, resource=resource)

        for csv_path, mapping in getattr(scenario, "account_files", []):
            allowed("ingest", file=csv_path.name, format="accounts", legal_basis=["synthetic-demo"])
            r = ingest_file(ws, csv_path, "accounts", mapping=mapping, legal_basis=["synthetic-demo"])
            ingested.append(r.to_dict())
            log(f"ingested {csv_path.name}: read {r.read}, stored {r.stored}, quarantined {r.quarantined}")
        for csv_path, mapping in scenario.files:
            allowed("ingest", file=csv_path.name, format="csv", legal_basis=["synthetic-demo"])
            r = ingest_file(ws, csv_path, "csv", mapping=mapping, legal_basis=["synthetic-demo"])
            ingested.append(r.to_dict())
            log(f"ingested {csv_path.name}: read {r.read}, stored {r.stored}, quarantined {r.quarantined}")
        allowed("run", stages=[])
        record_read(ws, DEMO_OFFICER, case, {"report": str(out / "report.html")}, action="run")
        res = run_pipeline(ws, params={"report": {"out": out / "report.html",
                                                  "title": "moneytrail demo case (synthetic data)"}},
                           log=log)
    return {"report": Path(res["stages"]["report"]["report"]), "workspace": ws_path, "case": case,
            "officer": DEMO_OFFICER, "taskforce": out / "taskforce.yaml",
            "ingested": ingested, "pipeline": res, "schemes": scenario.schemes,
            "seconds": round(time.perf_counter() - t0, 2)}
