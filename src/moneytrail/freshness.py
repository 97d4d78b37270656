"""Freshness in one place: whether a derived table must be rebuilt, decided by one rule.

Every stage module declares, as data next to its ``NAME``, what it reads (``NEEDS``) and what it
produces (``MAKES``). Two kinds of table are named there:

* **the evidence** (:data:`EVIDENCE`: ``sources``, ``transactions``, ``accounts``, ``labels``,
  ...): what ingest stored. All of it comes from the sources of the schema a stage runs in (a
  case's own sources in a case schema, every source in ``main``), so it has one version, computed
  by one query over the ``sources`` view (:func:`evidence_version`): each source's id, SHA-256,
  ingest count (a ``--force`` re-read), rows stored, ingest time and withdrawal. A new ingest, a
  re-read, a withdrawal or a source shared into the case changes it; a legal-basis tag does not
  (it changes who may read, not what is read).
* **products** (``account_map``, ``edges``, ``nodes``, ``balances``, ...): the whole tables the
  stages of :data:`PRODUCERS` make from what they need. A product's version is a hash of its
  stage's name, the moneytrail version, the stage's parameters that change its content (the
  stage's ``PARAMS``, with their defaults) and the versions of everything the stage needs.

**The rule**: a product is rebuilt when it is missing (its table or its record), or when its
recorded version differs from the one computed now. :func:`ensure` brings any set of products up
to date, rebuilding what is stale in dependency order (what a product needs first), and records
each build in ``product_versions`` of the schema it runs in (created there when first needed, so
each case schema has its own). Stages never decide this themselves, and never call the pipeline.

Products are tables of the workspace: :func:`ensure` builds them there, with the workspace's
DuckDB backend unless it is given another that writes into the workspace, since that is where
their versions are recorded and where every backend reads them from (a Spark backend loads
``edges`` from the workspace; it runs the analysis, not the products).

Parameters: a stage named with parameters (``ensure(..., params={"graph": {...}})``, or a stage
named in :func:`moneytrail.pipeline.run_pipeline`) builds with those, defaults filled in; a
product needed only as an input is kept with the parameters it was last built with (an
investigator's ``established_min_months`` stays until they run the graph with another).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import duckdb

from moneytrail import __version__
from moneytrail.errors import EngineError
from moneytrail.workspace import Workspace, now_utc
from moneytrail.workspace.cases import DERIVED_TABLES, RECORD_TABLES

#: the evidence: stored by ingest, read by stages, never built by them; one version for all
EVIDENCE = ("sources", "transactions", "accounts", "account_records", "quarantine", "labels", "parties",
            "statements", "fx_rates", *RECORD_TABLES)

#: records of what was done (the run log, findings, traces, models, scores): written by a stage
#: or command each time it runs, never rebuilt on their own; a stage may need them
RECORDS = DERIVED_TABLES + ("features",)

#: records a stage's products are made from, with the query giving their version: an officer's
#: match decision (``moneytrail review``) or a retrained entity-resolution model changes what the
#: resolve stage makes, so its products are rebuilt
VERSIONED_RECORDS = {
    "match_decisions": "SELECT count(*) || ':' || coalesce(CAST(max(decided_at) AS VARCHAR), '') FROM match_decisions",
    "er_models": "SELECT CAST(coalesce(max(model_id), 0) AS VARCHAR) FROM er_models",
}


_RECORD_WORDS = {"match_decisions": "the match decisions", "er_models": "the resolution model"}


def record_version(ws: Workspace, name: str) -> str:
    """The version of a record table a stage needs (:data:`VERSIONED_RECORDS`)."""
    return str(ws.con.execute(VERSIONED_RECORDS[name]).fetchall()[0][0])


#: the stages whose ``MAKES`` are products kept fresh by :func:`ensure`, in pipeline order
#: (module names, imported when a product of theirs is needed; checked against the pipeline's
#: registry by tests/test_freshness.py)
PRODUCERS = ("moneytrail.resolve", "moneytrail.graph", "moneytrail.trace")

TABLE = "product_versions"
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    product VARCHAR PRIMARY KEY,   -- the table built
    stage VARCHAR NOT NULL,        -- the stage that built it
    version VARCHAR NOT NULL,      -- hash of the stage, moneytrail version, params and input versions
    inputs JSON NOT NULL,          -- {{input: version}} it was built from
    params JSON NOT NULL,          -- the stage's content parameters it was built with
    code_version VARCHAR NOT NULL, -- moneytrail's version
    builds INTEGER NOT NULL,       -- how many times it was built in this schema
    run_id INTEGER,                -- the run (runs) that built it
    built_at TIMESTAMPTZ NOT NULL,
    summary JSON                   -- the stage's summary of that build
)"""

#: one query over the schema's sources view: the evidence's version
EVIDENCE_SQL = """
SELECT count(*), md5(coalesce(string_agg(concat_ws('|', source_id, sha256, ingest_count, coalesce(rows_stored, -1),
                                                   coalesce(CAST(ingested_at AS VARCHAR), ''),
                                                   coalesce(CAST(withdrawn_at AS VARCHAR), '')),
                                         ',' ORDER BY source_id), ''))
FROM sources
"""


@dataclass
class StageContext:
    ws: Workspace
    backend: Any                                            # moneytrail.backends.Backend
    run_id: int
    params: dict[str, Any] = field(default_factory=dict)   # options for this stage
    log: Callable[[str], None] = lambda msg: None


def run_stage(ws: Workspace, mod, backend, params: dict[str, Any], log: Callable[[str], None],
              note: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """Run one stage under a run-log entry (``runs``): ``(run_id, summary)``, or the failure logged. ``note`` goes
    into the logged parameters (why a product was rebuilt).

    A failure in the query engine raises :class:`EngineError` naming the stage, the error class and
    the run; the engine's message, which can quote data, goes to ``runs.error`` only."""
    logged = {**params, **({"freshness": note} if note else {}),
              **({"engine": backend.describe()} if backend is not None and backend.name != "duckdb" else {})}
    run_id = ws.start_run(mod.NAME, logged)
    t0 = time.perf_counter()
    ctx = StageContext(ws, backend, run_id, params, log)
    try:
        summary = mod.run(ctx) or {}
    except (EngineError, duckdb.Error) as e:
        err = EngineError.wrap(e, stage=mod.NAME, run_id=run_id)
        _log_failure(ws, run_id, err.log_text())
        raise err from None
    except BaseException as e:
        _log_failure(ws, run_id, str(e) or type(e).__name__)
        raise
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    ws.finish_run(run_id, summary)
    return run_id, summary


def _log_failure(ws: Workspace, run_id: int, error: str) -> None:
    """Mark the run failed; a connection the engine has invalidated can't take even that, and
    the error being raised matters more than its log line."""
    try:
        ws.finish_run(run_id, error=error)
    except duckdb.Error:
        pass


# -- versions ------------------------------------------------------------------------------------

def evidence_version(ws: Workspace) -> str:
    """The version of the evidence this schema reads: one query over its ``sources`` view."""
    # fetchall, not fetchone: a result read only in part stays open on the connection, and the
    # next relation on it (con.sql) is refused until it is finished
    n, digest = ws.con.execute(EVIDENCE_SQL).fetchall()[0]
    return f"{n}:{digest}"


def producers() -> dict[str, Any]:
    """``{product: stage module}`` for every product (imports the producing stages)."""
    out = {}
    for name in PRODUCERS:
        mod = importlib.import_module(name)
        for p in mod.MAKES:
            out[p] = mod
    return out


def recipe(mod, given: dict[str, Any] | None) -> dict[str, Any]:
    """The stage's content parameters: ``given`` where it names them, else the stage's defaults."""
    given = given or {}
    return {k: given.get(k, default) for k, default in getattr(mod, "PARAMS", {}).items()}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _state(ws: Workspace) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """The schema's tables and its product records (one query each)."""
    tables = {r[0] for r in ws.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema() "
        "AND database_name = current_database()").fetchall()}
    records: dict[str, dict[str, Any]] = {}
    if TABLE in tables:
        for product, stage, version, inputs, params, code, builds, run_id, summary in ws.con.execute(
                f"SELECT product, stage, version, inputs, params, code_version, builds, run_id, summary "
                f"FROM {TABLE}").fetchall():
            records[product] = {"stage": stage, "version": version, "inputs": json.loads(inputs),
                                "params": json.loads(params), "code_version": code, "builds": builds,
                                "run_id": run_id, "summary": json.loads(summary) if summary else {}}
    return tables, records


def records(ws: Workspace) -> dict[str, dict[str, Any]]:
    """What ``product_versions`` says of each product built in this schema."""
    return _state(ws)[1]


def _why(mod, version: str, inputs: dict[str, str], recs: dict[str, dict[str, Any]],
         tables: set[str]) -> str | None:
    """Why the stage's products are stale (None: they are up to date)."""
    for p in mod.MAKES:
        if p not in tables:
            return f"{p} is missing"
        if p not in recs:
            return f"{p} has no recorded version"
    if all(recs[p]["version"] == version for p in mod.MAKES):
        return None
    rec = recs[mod.MAKES[0]]
    if rec["code_version"] != __version__:
        return f"built by moneytrail {rec['code_version']}"
    made_by = {p: recs[p]["stage"] for p in inputs if p in recs}

    def what(k: str) -> str:
        if k in EVIDENCE:
            return "the evidence"
        if k in _RECORD_WORDS:
            return _RECORD_WORDS[k]
        return f"what {made_by[k]} makes" if k in made_by else k

    changed = sorted({what(k) for k in inputs if rec["inputs"].get(k) != inputs[k]})
    if changed:
        listed = changed[0] if len(changed) == 1 else ", ".join(changed[:-1]) + " and " + changed[-1]
        return f"{listed} changed"
    return "its parameters changed"


# -- the one function ------------------------------------------------------------------------------

def _order(products: Iterable[str], makers: dict[str, Any]) -> list:
    """The stages making ``products`` and what they need, upstream first."""
    out: list = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in EVIDENCE or name in RECORDS:
            return
        mod = makers.get(name)
        if mod is None:
            raise ValueError(f"{name!r} is neither evidence ({', '.join(EVIDENCE)}), a record "
                             f"({', '.join(RECORDS)}) nor a product ({', '.join(sorted(makers))})")
        if mod.NAME in path:
            raise ValueError(f"stage {mod.NAME} needs what it makes: {' -> '.join(path + (mod.NAME,))}")
        if mod.NAME in seen:
            return
        for need in mod.NEEDS:
            if need not in mod.MAKES:
                visit(need, path + (mod.NAME,))
        seen.add(mod.NAME)
        out.append(mod)

    for p in products:
        visit(p, ())
    return out


def backend_for(ws: Workspace, backend=None):
    """``backend`` if it is a backend; else the named one (None: DuckDB) on the workspace."""
    if backend is None or isinstance(backend, str):
        from moneytrail.backends import get_backend

        return get_backend(ws, backend or "duckdb")
    return backend


def ensure(ws: Workspace, products: Iterable[str], *, backend=None,
           params: dict[str, dict[str, Any]] | None = None,
           log: Callable[[str], None] = lambda msg: None) -> dict[str, dict[str, Any]]:
    """Bring ``products`` (and what they are built from) up to date in ``ws``'s schema.

    ``backend``: what builds stale products, which must write them into the workspace: a
    :class:`~moneytrail.backends.Backend`, a backend name, or None (the workspace's DuckDB). ``params``: ``{stage: parameters}`` for stages to build with these parameters
    (see the module docstring); other stages keep those they were last built with. Evidence names
    are accepted and need nothing. Returns ``{stage: summary}`` for each stage that was rebuilt
    (each also in the run log, with why), in the order they ran: ``{}`` when all was fresh.
    """
    products = list(products)
    makers = producers() if any(p not in EVIDENCE and p not in RECORDS for p in products) else {}
    order = _order(products, makers)
    if not order:
        return {}
    params = params or {}
    tables, recs = _state(ws)
    evidence = evidence_version(ws)
    be = None
    built: dict[str, dict[str, Any]] = {}
    for mod in order:
        first = recs.get(mod.MAKES[0], {})
        given = params[mod.NAME] if mod.NAME in params else first.get("params")
        content = recipe(mod, given)
        inputs = {n: evidence if n in EVIDENCE else record_version(ws, n) if n in VERSIONED_RECORDS
                  else recs.get(n, {}).get("version", "missing")
                  for n in mod.NEEDS if n not in mod.MAKES}
        version = _digest({"stage": mod.NAME, "code": __version__, "params": content, "inputs": inputs})
        why = _why(mod, version, inputs, recs, tables)
        if why is None:
            continue
        be = be or backend_for(ws, backend)
        run_params = dict(params[mod.NAME]) if mod.NAME in params else dict(content)
        _forget(ws, mod.MAKES)
        run_id, summary = run_stage(ws, mod, be, run_params, log, note={"rebuilt_because": why})
        summary["rebuilt_because"] = why
        recs.update(_record(ws, mod, version, inputs, content, summary, run_id, first.get("builds", 0) + 1))
        tables.update(mod.MAKES)
        built[mod.NAME] = summary
        from moneytrail.summaries import stage_line

        log(stage_line(mod.NAME, summary))
    return built


def forget(ws: Workspace, products: Iterable[str]) -> None:
    """Drop the records of ``products``: the next :func:`ensure` rebuilds them whatever their
    inputs' versions say (``moneytrail resolve --retrain``)."""
    _forget(ws, products)


def _forget(ws: Workspace, products: Iterable[str]) -> None:
    """Before a build: its products are unrecorded until it succeeds (a build that fails half-way
    leaves them missing, so the next call rebuilds)."""
    ws.con.execute(_DDL)
    ws.con.execute(f"DELETE FROM {TABLE} WHERE product IN (SELECT unnest(?))", [list(products)])


def _record(ws: Workspace, mod, version: str, inputs: dict[str, str], content: dict[str, Any],
            summary: dict[str, Any], run_id: int, builds: int) -> dict[str, dict[str, Any]]:
    out = {}
    for p in mod.MAKES:
        ws.con.execute(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [p, mod.NAME, version, json.dumps(inputs, sort_keys=True),
                        json.dumps(content, sort_keys=True, default=str), __version__, builds,
                        run_id, now_utc(), json.dumps(summary, default=str)])
        out[p] = {"stage": mod.NAME, "version": version, "inputs": inputs,
                  "params": json.loads(json.dumps(content, default=str)), "code_version": __version__,
                  "builds": builds, "run_id": run_id,
                  "summary": json.loads(json.dumps(summary, default=str))}
    return out


__all__ = ["EVIDENCE", "PRODUCERS", "RECORDS", "StageContext", "ensure", "evidence_version", "records", "run_stage"]
