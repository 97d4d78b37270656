"""``moneytrail demo``: a whole investigation end to end, offline, from a seeded scenario.

Generates the synthetic case (:mod:`moneytrail.synth`) as the three banks' files, each bank in
its own format (XLSX workbooks and a CSV statement with their mappings, camt.053 statements),
ingests each through the same path a user's files take, runs resolve -> graph -> detect ->
trace -> report, and returns the report's path with a summary.

It runs under authority like any case: the demo writes its own (synthetic) task force to
``taskforce.yaml`` (two agencies, a registrar, a deputizing official, counsel, an analyst),
imports it as the registrar, has the deputizing official approve the analyst's grant and the
registrar activate it, opens case ``OP-DEMO`` as the analyst, and works it through
:class:`moneytrail.Session`: every ingest and the pipeline run are decided by the Cedar policies
and recorded in the audit log (``case.audit/``). ``--as`` is ignored: the demo acts as its own
officers, on a workspace it creates. It writes only into a new or empty folder.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import datetime as _dt

from moneytrail.errors import WorkspaceError
from moneytrail.identity import Identity
from moneytrail.session import Session
from moneytrail.workspace import Workspace

DEMO_REGISTRAR = "tf-registrar"
DEMO_OFFICER = "tf-analyst-1"
DEMO_SAC = "tf-sac"            # the deputizing official: approves the analyst's grant
DEMO_COUNSEL = "tf-counsel"    # records the cases' legal process (6103(i), 6(e))
DEMO_CASE = "OP-DEMO"
DEMO_AUDITOR = "oig-agent-1"   # an inspector general's special agent: works the contracts case
DEMO_CONTRACTS_CASE = "OP-DEMO-CONTRACTS"
DEMO_JURISDICTION = "Demo District"


def demo_taskforce(today: _dt.date | None = None) -> dict[str, Any]:
    """The demo's synthetic task force, as a task-force file (moneytrail authority import)."""
    today = today or _dt.datetime.now(_dt.timezone.utc).date()
    day = _dt.timedelta(days=1)
    return {
        "agencies": [
            {"id": "TF-LEAD", "name": "Financial Crimes Task Force (synthetic)", "kind": "federal"},
            {"id": "STATE-FCU", "name": "State Financial Crimes Unit (synthetic)", "kind": "state"},
            {"id": "AGENCY-OIG", "name": "Office of Inspector General of a contracting agency (synthetic)",
             "kind": "federal"},
        ],
        "officers": [
            {"id": DEMO_REGISTRAR, "name": "Task force registrar (synthetic)", "agency": "TF-LEAD",
             "roles": ["registrar", "auditor"]},
            {"id": DEMO_SAC, "name": "Special Agent in Charge (synthetic)", "agency": "TF-LEAD"},
            {"id": DEMO_COUNSEL, "name": "Task force counsel (synthetic)", "agency": "TF-LEAD", "roles": ["counsel"]},
            {"id": DEMO_OFFICER, "name": "Financial analyst (synthetic)", "agency": "STATE-FCU"},
            {"id": DEMO_AUDITOR, "name": "Special agent, Office of Inspector General (synthetic)",
             "agency": "AGENCY-OIG"},
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
        }, {
            # the inspector general's agent: the agency's contracts and its vendors' payrolls
            "id": "G-DEMO-2", "officer": DEMO_AUDITOR,
            "deputizing_official": DEMO_SAC, "deputizing_agency": "TF-LEAD",
            "home_agency_consent": {"official": "Assistant Inspector General for Investigations (synthetic)",
                                    "date": str(today - day)},
            "statute": "8 U.S.C. 1103(a)(6)",
            "functions": ["task-force-support", "contract-oversight", "illegal-hiring-finance"],
            "jurisdictions": [DEMO_JURISDICTION],
            "valid_from": str(today - day), "valid_until": str(today + 365 * day),
            "training": {"course": "Financial investigations under deputization (synthetic)",
                         "date": str(today - 7 * day), "expires": str(today + 365 * day)},
        }],
    }


def setup_demo_authority(ws: Workspace, taskforce_file: Path | None = None, *, case: str = DEMO_CASE,
                         command: Sequence[str] = ()) -> str:
    """Import the demo task force into ``ws``, have its deputizing official approve the analyst's
    grant and the registrar activate it, and open ``case`` as the analyst; returns the case.
    Each step is a :class:`~moneytrail.Session` method of the officer who takes it, on ``ws``
    (which stays open), decided and recorded with ``command``."""
    return _setup(lambda officer: contextlib.nullcontext(Session(ws, officer, command=command)),
                  taskforce_file, case)


def _setup(session_for: Callable[[str], Any], taskforce_file: Path | None, case: str) -> str:
    """The demo's set-up, each step a Session of the officer who takes it (``session_for(officer)``,
    a context manager)."""
    import yaml

    tf = demo_taskforce()
    if taskforce_file is not None:
        taskforce_file.write_text(yaml.safe_dump(tf, sort_keys=False), encoding="utf-8")
    with session_for(DEMO_REGISTRAR) as s:
        s.import_taskforce(tf)             # into the empty registry: starts the audit log
    for g in tf["grants"]:
        with session_for(g["deputizing_official"]) as s:
            s.approve_grant(g["id"])
        with session_for(DEMO_REGISTRAR) as s:
            s.activate_grant(g["id"])
    with session_for(DEMO_OFFICER) as s:
        s.open_case(case, function="human-trafficking-finance", jurisdiction=DEMO_JURISDICTION,
                    title="Synthetic funnel, front company and laundering cycle",
                    predicate="Synthetic bank exports show a funnel account receiving structured cash deposits "
                              "and a front company paying workers through a labor broker")
    return case


DEMO_LOGIN_OFFICERS = (DEMO_OFFICER, DEMO_REGISTRAR, DEMO_COUNSEL, DEMO_SAC, DEMO_AUDITOR)


def write_demo_logins(ws_path: Path, dest: Path, *, command: Sequence[str] = ()) -> Path:
    """Issue web sign-ins (one-time enrolment codes) for the demo's synthetic officers, as its
    registrar, and write them to ``dest`` (owner-only), marked synthetic."""
    import os

    with Session.open(ws_path, identity=Identity(DEMO_REGISTRAR, None, tuple(command))) as s:
        issued = [s.issue_login(o, hours=24 * 14) for o in DEMO_LOGIN_OFFICERS]
    lines = ["# moneytrail demo: web sign-ins for the demo's SYNTHETIC officers (not real people, not real data).",
             "# Start the web app:   moneytrail serve --workspace " + str(ws_path),
             "# then open http://127.0.0.1:8000/enrol, enter an officer id and its one-time code below,",
             "# choose a password and add the second factor to an authenticator app (TOTP).",
             "# Codes are valid once, for 14 days; a registrar re-issues one with",
             "#   moneytrail authority officer login OFFICER --as " + DEMO_REGISTRAR, ""]
    lines += [f"{r['officer']:<16} {r['code']}   (until {r['expires_at']:%Y-%m-%d %H:%M} UTC)" for r in issued]
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return dest


def demo_folder(base: str | Path = "moneytrail-demo") -> Path:
    """Where a demo goes when no folder is named: ``base`` if it is absent or empty, else the first
    of ``base-2``, ``base-3``, ... that is (a demo never writes over an earlier one)."""
    base = Path(base)
    for n in range(1, 10_000):
        p = base if n == 1 else base.with_name(f"{base.name}-{n}")
        if not p.exists() or (p.is_dir() and not any(p.iterdir())):
            return p
    raise WorkspaceError(f"{base}: no free demo folder name left")


def run_demo(out: str | Path = "moneytrail-demo", *, seed: int = 7, n_accounts: int = 3000,
             months: int = 6, log: Callable[[str], None] = lambda m: None,
             command: Sequence[str] = ()) -> dict[str, Any]:
    """Generate the synthetic case into ``out`` (which must be absent or empty: the demo never
    overwrites or deletes anything, a workspace or an audit log least of all), set up its task
    force, and work the case through :class:`moneytrail.Session` as the demo's analyst. Every
    decision records ``command`` (the CLI's command line; none from Python)."""
    from moneytrail.synth import generate
    from moneytrail.synth.records import generate_records

    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise WorkspaceError(f"{out} is not an empty folder: the demo writes only into a new or empty folder "
                             f"(it never overwrites a workspace, its evidence or its audit log); pass --out NEW_FOLDER")
    t0 = time.perf_counter()
    ws_path = out / "case.duckdb"
    out.mkdir(parents=True, exist_ok=True)
    scenario = generate(out / "inputs", seed=seed, n_accounts=n_accounts, months=months)
    log(f"generated {scenario.n_transactions} transactions for {scenario.n_accounts} accounts "
        f"in {len(scenario.files)} files")
    # the employer and contracting side (issue 17): bank D's records of the employers', brokers',
    # workers' and vendors' accounts, the employers' payroll registers and their own copies of
    # their 941s and UI reports (produced under subpoena: not federal tax information, which is
    # what the IRS holds), an agency's contract, vendor, payment and staff records: a case of their
    # own, OP-DEMO-CONTRACTS, worked by the inspector general's agent (_contracts_case)
    records = generate_records(out / "inputs" / "records", seed=seed, start=scenario.start,
                               months=max(4, months)) if months >= 4 else None
    if records is not None:
        log(f"generated {sum(records.counts.values())} employer and contract records in {len(records.files)} files "
            f"in {out / 'inputs' / 'records'}")
    ingested = []

    def session_for(officer: str) -> Session:
        # the demo acts as its own officers (whatever --as said), on the workspace it creates
        return Session.open(ws_path, identity=Identity(officer, None, tuple(command)), create=True)

    case = _setup(session_for, out / "taskforce.yaml", DEMO_CASE)
    log(f"task force imported from {out / 'taskforce.yaml'}; grant G-DEMO-1 approved by {DEMO_SAC} and "
        f"activated by {DEMO_REGISTRAR}; case {case} opened by {DEMO_OFFICER}")
    with Session.open(ws_path, identity=Identity(DEMO_OFFICER, case, tuple(command))) as s:
        inputs = [(p, m, "accounts") for p, m in getattr(scenario, "account_files", [])]
        inputs += [(p, m, fmt) for p, fmt, m in scenario.transaction_files()]
        for path, mapping, fmt in inputs:
            r = s.ingest(path, fmt, mapping=mapping, legal_basis=["synthetic-demo"])
            ingested.append(r.to_dict())
            log(f"ingested {path.name} ({fmt}): read {r.read}, stored {r.stored}, quarantined {r.quarantined}")
        trace_info = _trace_cross_bank(s, scenario, log)
        res = s.run(report=out / "report.html", title="moneytrail demo case (synthetic data)", log=log)
    contracts = _contracts_case(ws_path, out, records, command, log) if records is not None else None
    logins = write_demo_logins(ws_path, out / "demo-logins.txt", command=command)
    log(f"web sign-ins for the demo's officers: {logins} (synthetic; start the web app with "
        f"moneytrail serve --workspace {ws_path})")
    return {"report": Path(res["stages"]["report"]["report"]), "workspace": ws_path, "case": case,
            "officer": DEMO_OFFICER, "taskforce": out / "taskforce.yaml",
            "ingested": ingested, "pipeline": res, "schemes": scenario.schemes, "trace": trace_info,
            "records_truth": records.truth if records is not None else None,
            "contracts": contracts,
            "seconds": round(time.perf_counter() - t0, 2)}


def _contracts_case(ws_path: Path, out: Path, records: Any, command: Sequence[str],
                    log: Callable[[str], None]) -> dict[str, Any]:
    """The inspector general's agent opens ``OP-DEMO-CONTRACTS`` (contract oversight), ingests the
    employer and contract records with bank D's ledger and register, and runs the case to its own
    report, ``report-contracts.html``; returns its case, report, ingests and run summary."""
    with Session.open(ws_path, identity=Identity(DEMO_AUDITOR, None, tuple(command))) as s:
        s.open_case(DEMO_CONTRACTS_CASE, function="contract-oversight", jurisdiction=DEMO_JURISDICTION,
                    title="Synthetic contracting agency, its vendors and their payrolls",
                    predicate="An agency's payment ledger shows purchases split under the micro-purchase "
                              "threshold and vendors tied to agency officials; employers among its vendors "
                              "report a fraction of the payroll their bank shows and pay through a labor broker")
    log(f"case {DEMO_CONTRACTS_CASE} opened by {DEMO_AUDITOR} (grant G-DEMO-2, contract oversight)")
    ingested = []
    with Session.open(ws_path, identity=Identity(DEMO_AUDITOR, DEMO_CONTRACTS_CASE, tuple(command))) as s:
        for path, fmt, mapping in records.files:
            r = s.ingest(path, fmt, mapping=mapping, legal_basis=["synthetic-demo"])
            ingested.append(r.to_dict())
            log(f"ingested {path.name} ({fmt}) into {DEMO_CONTRACTS_CASE}: read {r.read}, stored {r.stored}, "
                f"quarantined {r.quarantined}")
        res = s.run(report=out / "report-contracts.html", title="moneytrail demo: contracts and payrolls (synthetic data)",
                    log=lambda m: log(f"{DEMO_CONTRACTS_CASE} {m}"))
    return {"case": DEMO_CONTRACTS_CASE, "officer": DEMO_AUDITOR, "report": Path(res["stages"]["report"]["report"]),
            "ingested": ingested, "pipeline": res}


def _trace_cross_bank(s: Session, scenario: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """The analyst's work on the planted cross-bank scheme: resolve the case, confirm the two pairs
    of bank records behind it that the model held for review (the company at banks B and C, its
    owner at banks A and C: the same phone or address on both banks' KYC extracts), then trace the
    fake-invoice wires forward from bank A under LIBR and save the trace for the report."""
    try:
        scheme = scenario.scheme("cross_bank_layering")
    except KeyError:
        return {}
    s.resolve()
    pairs = ({scheme.accounts["layer_b"], scheme.accounts["layer_c"]},
             {scheme.accounts["owner_a"], scheme.accounts["owner_c"]})
    confirmed = 0
    queue = s.review_queue(limit=5000)["pairs"]
    for p in queue:
        left, right = p.get("left") or {}, p.get("right") or {}
        accts = {left.get("account_id"), right.get("account_id")}
        if left.get("register") and right.get("register") and accts in pairs:
            s.review(p["left_key"], p["right_key"], "same",
                     "the two banks' KYC extracts give one party: the same name (spelled each bank's way) "
                     "with the same phone or address; reviewed for the cross-bank layering lead")
            confirmed += 1
    tx_ids = []
    for seq in scheme.transactions:
        ref = scenario.refs.get(seq)
        rows = s.transactions(ref=ref, limit=5)["rows"] if ref else []
        tx_ids += [r["tx_id"] for r in rows]
    if not tx_ids:
        return {"confirmed_pairs": confirmed}
    result = s.trace(tx_ids, save=True, rule="libr")
    log(f"traced {len(tx_ids)} fake-invoice wire(s) from bank A forward under LIBR (trace {result.get('trace_id')}); "
        f"{confirmed} pair(s) of bank records confirmed as one party")
    return {"confirmed_pairs": confirmed, "sources": tx_ids, "trace_id": result.get("trace_id")}
