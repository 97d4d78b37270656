"""Cases partition a workspace: a case reads its own sources and what was derived from them.

A workspace holds one or more cases' evidence. Each source belongs to the case it was ingested in
(``main.source_cases``, part of the authority state signed in the audit log) and to any case it
was shared with by a decision (``moneytrail source share``). Everything a case's commands do,
they do in the case's own schema, ``case_<hash of the case id>``:

- **views over the evidence** of the case's sources: ``sources`` (every source of the case, with
  its withdrawal), ``transactions``, ``quarantine``, ``labels``, ``parties``, ``statements`` and
  ``fx_rates`` and the employer and contract records (``payroll_lines``, ``wage_reports``, ``awards``,
  ``vendors``, ``payments``, ``officials``: rows of the case's sources not withdrawn), ``accounts`` (what those sources say about each account: the
  table macro ``main.accounts_of``, migration 0007);
- **tables of what the case derived**: the run log, findings, traces, models and scores (created
  like main's, :data:`DERIVED_TABLES`), and whatever a stage materializes (edges, balances, ...).

A connection for a case (:func:`case_workspace`) has its search path set to that schema alone,
so an unqualified name can only ever reach the case's own data: another case's findings, or the
whole workspace's transactions, are not on the path. The authority tables are read by the
authority code with ``main.``-qualified names.

Without a case (a :class:`~moneytrail.workspace.Workspace` as the engine's building blocks and
the benchmarks use it) the ``main`` schema is the whole workspace: ``main.accounts`` is the same
view over every source.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moneytrail.sqlkit import ident, lit
from moneytrail.workspace import SCHEMA_VERSION, Workspace

# the case's derived data: created in the case schema as main's tables are defined
DERIVED_TABLES = ("runs", "findings", "finding_accounts", "finding_transactions", "traces", "trace_accounts",
                  "trace_flows", "trace_schedule", "trace_funding", "models", "scores", "account_scores",
                  "finding_triage", "finding_events", "findings_superseded", "match_decisions", "er_models",
                  "finding_records")
#: the records other than transfers (issue 17): each a view of the case's live sources' rows
RECORD_TABLES = ("payroll_lines", "wage_reports", "awards", "vendors", "payments", "officials")
SEQUENCES = ("seq_run", "seq_finding", "seq_trace", "seq_model")
# main's migrations that rewrite rows of the derived tables: a case schema holds its own copies
# of those tables, so one recorded below such a version gets the same statements, run there
DATA_MIGRATIONS = (13,)   # 0013_replenish.sql: saved traces' rule "haircut" is now "replenish"

def schema_name(case_id: str) -> str:
    """The case's schema: ``case_`` and 16 hex digits of the case id's SHA-256 (any id, one name)."""
    return "case_" + hashlib.sha256(case_id.encode()).hexdigest()[:16]


def _views(schema: str, case_id: str) -> dict[str, str]:
    s = ident(schema)
    live = f"SELECT source_id FROM {s}.sources WHERE withdrawn_at IS NULL"
    return {
        "sources": (f"SELECT src.* FROM main.sources src WHERE src.source_id IN "
                    f"(SELECT source_id FROM main.source_cases WHERE case_id = {lit(case_id)})"),
        "transactions": f"SELECT * FROM main.transactions WHERE source_id IN ({live})",
        "quarantine": f"SELECT * FROM main.quarantine WHERE source_id IN ({live})",
        "statements": f"SELECT * FROM main.statements WHERE source_id IN ({live})",
        "fx_rates": f"SELECT * FROM main.fx_rates WHERE source_id IN ({live})",
        "labels": f"SELECT * FROM main.labels WHERE source_id IN ({live})",
        "parties": f"SELECT * FROM main.parties WHERE source_id IN ({live})",
        "accounts": f"SELECT * FROM main.accounts_of((SELECT coalesce(list(source_id), []) FROM ({live})))",
        **{t: f"SELECT * FROM main.{t} WHERE source_id IN ({live})" for t in RECORD_TABLES},
    }


def ensure_schema(con, case_id: str, schema_version: int) -> str:
    """Create (or bring up to date) the case's schema on ``con`` (a connection to the workspace's
    main schema, in no transaction); returns its name. Cheap when it is current: one query."""
    schema = schema_name(case_id)
    s = ident(schema)
    have = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'case_meta'",
                       [schema]).fetchall()[0][0]
    old_version = None      # the version the case schema was last brought up to (None: a new schema)
    if have:
        rows = con.execute(f"SELECT case_id, schema_version FROM {s}.case_meta").fetchall()
        row = rows[0] if rows else None
        if row and row[0] == case_id and row[1] == schema_version:
            return schema
        old_version = row[1] if row else 0
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        ddl = dict(con.execute("SELECT table_name, sql FROM duckdb_tables() WHERE schema_name = 'main' "
                               "AND table_name IN (SELECT unnest(?))", [list(DERIVED_TABLES)]).fetchall())
        existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?",
                                              [schema]).fetchall()}
        for t in DERIVED_TABLES:
            if t not in existing:
                con.execute(_in_schema(ddl[t], t, schema))
            else:
                _add_missing_columns(con, schema, t)
        if old_version is not None:
            _data_migrations(con, schema, old_version, schema_version)
        seqs = {r[0] for r in con.execute("SELECT sequence_name FROM duckdb_sequences() WHERE schema_name = ?",
                                          [schema]).fetchall()}
        for q in SEQUENCES:
            if q not in seqs:
                con.execute(f"CREATE SEQUENCE {s}.{ident(q)} START 1")
        for name, sql in _views(schema, case_id).items():
            con.execute(f"CREATE OR REPLACE VIEW {s}.{ident(name)} AS {sql}")
        con.execute(f"CREATE OR REPLACE TABLE {s}.case_meta AS SELECT {lit(case_id)} AS case_id, "
                    f"{int(schema_version)} AS schema_version")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return schema


def _data_migrations(con, schema: str, old_version: int, schema_version: int) -> None:
    """Run on ``schema`` main's data migrations above ``old_version`` (:data:`DATA_MIGRATIONS`):
    their statements name tables unqualified, so they run with the search path set to the case
    schema alone, and the connection's path is put back after."""
    from moneytrail.workspace import _migrations

    todo = [sql for v, _, sql in _migrations() if v in DATA_MIGRATIONS and old_version < v <= schema_version]
    if not todo:
        return
    prev = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    con.execute(f"SET search_path = {lit(schema)}")
    try:
        for sql in todo:
            con.execute(sql)
    finally:
        if prev:
            con.execute(f"SET search_path = {lit(prev)}")
        else:
            con.execute("RESET search_path")


def _in_schema(create_sql: str, table: str, schema: str) -> str:
    """``CREATE TABLE t(...)`` as DuckDB reports main's table, made to create ``schema.t``."""
    head = f"CREATE TABLE {table}("
    if not create_sql.startswith(head):
        raise RuntimeError(f"unexpected definition of main.{table}: {create_sql[:80]}")
    return f"CREATE TABLE {ident(schema)}.{ident(table)}(" + create_sql[len(head):]


def _add_missing_columns(con, schema: str, table: str) -> None:
    cols = {c: t for c, t in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?",
        [table]).fetchall()}
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?", [schema, table]).fetchall()}
    for c, t in cols.items():
        if c not in have:
            con.execute(f"ALTER TABLE {ident(schema)}.{ident(table)} ADD COLUMN {ident(c)} {t}")


def case_cursor(con, schema: str) -> Any:
    """A new connection to the workspace whose unqualified names resolve in ``schema`` only."""
    cur = con.cursor()
    cur.execute(f"SET search_path = {lit(schema)}")
    cur.execute("SET TimeZone = 'UTC'")
    return cur


class CaseWorkspace(Workspace):
    """A workspace as one case sees it (get one with :meth:`Workspace.for_case`): ``con`` is a
    connection whose search path is the case's schema; everything else (the file, the evidence
    folder, the audit log, the decision state) is the workspace's."""

    def __init__(self, main: Workspace, case_id: str):
        self.main = main
        self.case = case_id
        self.schema = ensure_schema(main.con, case_id, SCHEMA_VERSION)
        self.path = main.path
        self.con = case_cursor(main.con, self.schema)
        from moneytrail.audit import AuditLog
        self.__dict__["_audit_log"] = AuditLog.of(main)

    @property
    def authority_epoch(self) -> int:          # decisions are the workspace's, whichever case asks
        return self.main.authority_epoch

    def authority_changed(self) -> None:
        self.main.authority_changed()

    def for_case(self, case_id: str) -> Workspace:
        return self.main.for_case(case_id)

    def close(self) -> None:
        try:
            self.con.close()
        except Exception:
            pass
