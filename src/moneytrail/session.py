"""The Python API under authority: one :class:`Session` per officer and workspace.

Each method is one command, exactly as the CLI runs it: the Cedar policies decide the action
for the session's officer and case on the server's clock (the decision is appended to the audit
log, and a denial raises :class:`~moneytrail.authority.AccessDenied`); the work is done; and what
the method returns is recorded as a read in the audit log before it is returned::

    from moneytrail import Session

    with Session.open("case.duckdb", officer="tf-analyst-1", case="OP-DEMO") as s:
        s.ingest("statement.csv", "csv", mapping="bank-b.yaml", legal_basis=["subpoena"])
        s.detect()
        for f in s.findings(limit=10):          # moneytrail.model.Finding records
            print(f.typology, f.score, f.explanation, f.tx_ids)
        s.report("report.html")

The officer comes from ``officer=``, else ``$MONEYTRAIL_OFFICER`` or the configuration file (as
``--as`` for the CLI; :mod:`moneytrail.identity` resolves it, and the session keeps it: nothing
is kept in the process, so sessions of different officers can live side by side); a session
without one is refused. Each method works in the case its decision names, on that case's own
sources and what was derived from them (:mod:`moneytrail.workspace.cases`): another case's
evidence is not on its path.

Besides the commands on a case's data, a session holds the registry's operations
(:meth:`init_registry` and :meth:`import_taskforce`, which set up a new workspace and start its
audit log; :meth:`add_grant`, :meth:`activate_grant`, ...), the cases' (:meth:`open_case`,
:meth:`case_info`, ...) and the audit log's (:meth:`audit_verify`, :meth:`audit_log`, ...), each
decided like the command it stands for: the CLI and the demo decide nothing themselves.

The trust boundary. ``Session`` is the public API and the only one: it hands out no connection
and no workspace, and every method is a decided, recorded operation. The functions it calls
(``moneytrail.ingest.ingest_file``, ``moneytrail.pipeline.run_pipeline``, ...) are the engine's
inside: they check nothing and record nothing, exactly like opening the DuckDB file directly,
which anyone who can read the workspace's files can do. What protects the data from such a
person is the file system (and encryption at rest); what protects it from a person who may only
use moneytrail is a server that owns the files (the web app) and the Session it runs for them.
See docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from moneytrail.errors import ConfigError, EngineError, WorkspaceError
from moneytrail.identity import Identity
from moneytrail.model import Finding
from moneytrail.workspace import Workspace


def _log_text(e: BaseException) -> str:
    """What a failed run's log says: an engine error's full text, with its SQL (it stays in the
    workspace)."""
    return e.log_text() if isinstance(e, EngineError) else (str(e) or type(e).__name__)


@contextlib.contextmanager
def _logged_run(ws: Workspace, command: str, params: dict[str, Any], run_id: int | None = None):
    """A command run outside the pipeline, under a run-log entry (``runs``): yields a dict whose
    ``"summary"`` is logged when it ends; a failure is logged with its full text, and an engine
    error raised from it names this run (where its message and SQL are)."""
    import duckdb

    run_id = ws.start_run(command, params) if run_id is None else run_id
    box: dict[str, Any] = {"run_id": run_id}
    try:
        yield box
    except BaseException as e:
        engine = isinstance(e, (EngineError, duckdb.Error))
        err = EngineError.wrap(e, stage=command, run_id=run_id) if engine else e
        try:
            ws.finish_run(run_id, error=_log_text(err))
        except duckdb.Error:
            pass        # a connection the engine invalidated: the error matters more than its log line
        if engine:
            raise err from None
        raise
    ws.finish_run(run_id, box.get("summary"))


def _engine(backend: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The engine, for a decision's resource (nothing for the default: decisions read as before);
    a Spark Connect URL's parameters (";token=...") are left out."""
    if backend == "duckdb" and not options:
        return {}
    out: dict[str, Any] = {"backend": backend}
    if options and options.get("master"):
        out["master"] = str(options["master"]).split(";", 1)[0]
    return out


@contextlib.contextmanager
def _backend(ws: Workspace, backend: str, options: dict[str, Any] | None):
    from moneytrail.backends import get_backend

    be = get_backend(ws, backend, **(options or {}))
    try:
        yield be
    finally:
        be.close()


def legal_tags(tags: Iterable[str]) -> list[str]:
    """Legal-basis tags in canonical form; a tag outside the closed vocabulary is a ConfigError
    naming the vocabulary (:func:`moneytrail.authority.legal.canonical_tag`)."""
    from moneytrail.authority.legal import canonical_tags

    try:
        return canonical_tags(tags)
    except ValueError as e:
        raise ConfigError(f"--legal-basis: {e}") from None


class Session:
    """An officer working on a workspace (and a case). Get one with :meth:`open`."""

    def __init__(self, ws: Workspace, officer: str, case: str | None = None, *, command: Sequence[str] = ()):
        # (the demo's setup wraps a workspace it holds; otherwise use Session.open)
        self._ws = ws
        self.officer = officer
        self.case = case
        #: the command line this session acts through (the CLI's argv; empty from Python),
        #: recorded with every decision it takes
        self.command: tuple[str, ...] = tuple(command)

    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, officer: str | None = None,
             case: str | None = None, create: bool = False, command: Sequence[str] = (),
             identity: Identity | None = None) -> "Session":
        """Open the workspace at ``path`` (default: ``$MONEYTRAIL_WORKSPACE`` or
        ``./moneytrail.duckdb``) as ``officer`` in ``case`` (default: ``$MONEYTRAIL_CASE``, the
        configuration, else the officer's one open case, decided per command); or as an
        :class:`~moneytrail.identity.Identity` resolved already (``identity``: what the CLI
        passes, with its command line). No officer: :class:`~moneytrail.identity.IdentityError`,
        before the file is touched. A missing workspace is an error unless ``create``: a new one
        has an empty registry, which only :meth:`init_registry` or :meth:`import_taskforce` (as
        the officer who becomes its registrar) can set up; that also starts its audit log."""
        from moneytrail.identity import resolve
        from moneytrail.workspace import resolve_path

        if identity is not None and (officer or case or command):
            raise ValueError("give identity= or officer=/case=/command=, not both")
        if identity is None:
            identity = resolve(officer, case, command=command)
        p = resolve_path(path)
        if not create and not p.exists():
            raise WorkspaceError(f"no workspace at {p}: start one with moneytrail authority init (or authority "
                                 f"import TASKFORCE.yaml), open a case, then ingest; or pass --workspace PATH")
        return cls(Workspace.open(p, create=create), identity.officer, identity.case, command=identity.command)

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the decision and the read record ---------------------------------------------------------
    def _decide(self, action: str, resource: dict[str, Any] | None = None, *, case: str | None = None):
        from moneytrail.authority import guard

        return guard(self._ws, action, officer=self.officer, case=case or self.case, resource=resource,
                     command=self.command)

    def _in(self, decision) -> Workspace:
        """The workspace as the decision's case sees it: its sources and its derived data only."""
        return self._ws.for_case(decision.case)

    def _read(self, decision, what: dict[str, Any]) -> None:
        from moneytrail.audit import record_read

        record_read(self._ws, decision.officer, decision.case, what, action=decision.action)

    # -- commands -----------------------------------------------------------------------------------
    def ingest(self, file: str | os.PathLike, format: str, *, mapping: Any = None,
               legal_basis: Iterable[str] = (), force: bool = False, on_read: Any = None):
        """Ingest an evidence file (``moneytrail ingest``); returns the IngestResult. ``on_read``
        is called with the bytes read since its last call (a progress bar)."""
        from moneytrail.ingest import ingest_file, resolve_format

        format = resolve_format(Path(file), format, mapping is not None)
        tags = legal_tags(legal_basis)
        protected = list(tags)
        if force:
            # re-reading a source needs what reading it needs: the tags it already carries count
            protected += [t for t in self._tags_of_file(file) if t not in protected]
        d = self._decide("ingest", {"file": Path(file).name, "format": format, "legal_basis": protected,
                                    "force": force})
        return ingest_file(self._in(d), file, format, mapping=mapping, legal_basis=tags, force=force,
                           on_read=on_read, actor=self.officer)

    def _tags_of_file(self, file) -> list[str]:
        """The legal-basis tags of the sources already holding this file (same SHA-256)."""
        from moneytrail.workspace import sha256_file

        p = Path(file)
        if not p.is_file():
            return []
        rows = self._ws.query("SELECT legal_basis FROM main.sources WHERE sha256 = ?", [sha256_file(p)])
        return [t for (tags,) in rows for t in tags or []]

    def detect(self, typologies: Sequence[str] | None = None,
               parameters: dict[str, dict[str, Any]] | None = None, *, backend: str = "duckdb",
               backend_options: dict[str, Any] | None = None, level: str = "account") -> dict[str, Any]:
        """Resolve, build the graph and run the typology catalogue (``moneytrail detect``);
        returns the detect stage's summary (findings per typology, skipped ones with why).
        ``backend="spark"`` (``backend_options={"master": ...}``) runs the catalogue on Spark.
        ``level="entity"``: the graph's nodes are the resolved entities (a party's accounts one
        node), so the findings name entities (``E...``; ``moneytrail entity show``)."""
        from moneytrail.graph import params_at
        from moneytrail.pipeline import run_pipeline

        d = self._decide("detect", {"typologies": list(typologies or []), "level": str(level)[:20],
                                    **_engine(backend, backend_options)})
        cw = self._in(d)
        out = run_pipeline(cw, stages=["resolve", "graph", "detect"],
                           params={**params_at(cw, level),
                                   "detect": {"typologies": list(typologies) if typologies else None,
                                              "parameters": parameters or {}}},
                           backend=backend, backend_options=backend_options)
        s = out["stages"]["detect"]
        self._read(d, {"detect_summary": {"findings": s.get("findings", {}), "skipped": sorted(s.get("skipped", {}))}})
        return s

    def run(self, stages: Sequence[str] | None = None, *, report: str | os.PathLike | None = None,
            title: str | None = None, log=None, backend: str = "duckdb",
            backend_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the pipeline (``moneytrail run``); the report, if it is among the stages, is a read.
        ``log`` is called with a line per stage; ``backend`` runs the analysing stages."""
        from moneytrail.pipeline import run_pipeline

        d = self._decide("run", {"stages": list(stages or []), **_engine(backend, backend_options)})
        if not stages or "report" in stages:
            self._read(d, {"report": str(report) if report else "default path beside the workspace"})
        res = run_pipeline(self._in(d), stages=list(stages) if stages else None,
                           params={"report": {"out": Path(report) if report else None, "title": title}},
                           backend=backend, backend_options=backend_options,
                           **({"log": log} if log else {}))
        self._read(d, {"run_summary": sorted(res["stages"])})
        return res

    def findings(self, typologies: Sequence[str] = (), limit: int = 0, *, account: str | None = None,
                 min_score: Any = None, status: str | None = None, tx: Any = None) -> list[Finding]:
        """Findings in queue order (priority first), with their accounts and evidence transactions
        (``moneytrail findings``): :class:`~moneytrail.model.Finding` records; only those naming
        ``account``, scoring at least ``min_score``, in triage ``status`` or citing the transaction
        ``tx`` (the bank's reference, ``SOURCE:ROW`` or the id) when given. An unknown typology
        name is an error (as in :meth:`detect`)."""
        from moneytrail import _reads
        from moneytrail.detect import BY_ID, _unknown
        from moneytrail.score import TYPOLOGY as MODEL_RISK

        bad = [t for t in typologies if t not in BY_ID and t != MODEL_RISK]
        if bad:
            raise _unknown(bad, also=[MODEL_RISK])
        d = self._decide("findings", {"typologies": list(typologies), "limit": limit,
                                      **({"account": str(account)[:200]} if account else {}),
                                      **({"tx": str(tx)[:200]} if tx not in (None, "") else {})})
        rows = _reads.findings(self._in(d), typologies, limit, account=account, min_score=min_score, status=status,
                               tx=tx)
        ids = [r.finding_id for r in rows]
        self._read(d, {"table": "findings", "rows": len(rows),
                       "finding_ids": ids if len(ids) <= 1000 else f"{min(ids)}..{max(ids)}"})
        return rows

    def viewed(self, action: str, name: str) -> None:
        """Decide and record that the officer is shown a document the case already wrote (the
        case report, a trace page) again: ``action`` is ``report`` or ``trace``."""
        if action not in ("report", "trace"):
            raise ValueError("viewed: report or trace")
        d = self._decide(action, {"view": str(name)[:200]})
        self._read(d, {"viewed": str(name)[:200], "action": action})

    def findings_page(self, *, typologies: Sequence[str] = (), account: str | None = None,
                      min_score: Any = None, min_amount: Any = None, max_amount: Any = None,
                      status: str | None = None, sort: str = "priority", descending: bool = True,
                      limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """One page of the findings queue, filtered (typology, account, score, amount, triage
        status) and sorted, each with its stable key, triage status and accounts; ``total`` is how
        many the filters match (the web app's findings queue)."""
        from moneytrail import _reads

        d = self._decide("findings", {"typologies": list(typologies), "limit": limit, "offset": offset,
                                      **({"account": account} if account else {})})
        rows, total = _reads.findings_page(self._in(d), typologies=typologies, account=account,
                                           min_score=min_score, min_amount=min_amount, max_amount=max_amount,
                                           status=status, sort=sort, descending=descending, limit=limit,
                                           offset=offset)
        self._read(d, {"table": "findings", "rows": len(rows), "offset": offset,
                       "finding_keys": [r["finding_key"] for r in rows]})
        return {"rows": rows, "total": total, "limit": limit, "offset": offset}

    def finding(self, key: str) -> dict[str, Any]:
        """A finding by its stable key (``finding``: the :class:`~moneytrail.model.Finding`), its
        triage, every triage event, its evidence transactions, and ``superseded`` (when and by
        which run) if a re-run no longer finds it."""
        from moneytrail import _reads

        d = self._decide("findings", {"finding": str(key)[:64]})
        out = _reads.finding(self._in(d), key)
        self._read(d, {"table": "findings", "finding_keys": [key], "transactions": len(out["transactions"])})
        return out

    def finding_trace_sources(self, key: str) -> list[int]:
        """The transactions a trace of finding ``key`` starts from: those that bring money into
        its pattern, not the later legs that carry the same money on
        (:func:`moneytrail._reads.entry_transactions`); the web's "Trace from this finding"."""
        from moneytrail import _reads

        d = self._decide("findings", {"finding": str(key)[:64]})
        out = _reads.finding_entry_transactions(self._in(d), key)
        self._read(d, {"table": "findings", "finding_keys": [key], "transactions": len(out)})
        return out

    def triage(self, key: str, *, status: str | None = None, reason: str | None = None,
               assignee: str | None = None, note: str | None = None) -> dict[str, Any]:
        """Triage a finding (by its stable key): move it open -> under_review -> confirmed or
        dismissed (confirming or dismissing needs a reason), assign it to a case member, add a
        note. Each change is decided (``triage``) and kept as an event; the report shows the
        disposition. Returns the finding's triage after the change."""
        from moneytrail import _reads
        from moneytrail.authority.legal import is_placeholder
        from moneytrail.workspace import now_utc

        def clean(v, what, n=2000):
            v = " ".join(str(v).split()) if v is not None else None
            if v is not None and len(v) > n:
                raise ConfigError(f"{what}: at most {n:,} characters")
            return v or None

        reason, note, assignee = clean(reason, "reason"), clean(note, "note"), clean(assignee, "assignee", 200)
        if status is not None and status not in _reads.TRIAGE_STATUSES:
            raise ConfigError(f"status {str(status)[:40]!r}: one of {', '.join(_reads.TRIAGE_STATUSES)}")
        if status in ("confirmed", "dismissed") and (reason is None or is_placeholder(reason)):
            raise ConfigError(f"a finding {status} needs a reason: say why")
        if status is None and note is None and assignee is None:
            raise ConfigError("nothing to record: a status, an assignee or a note")
        d = self._decide("triage", {"finding": str(key)[:64], "status": status, "assignee": assignee})
        cw = self._in(d)
        if assignee is not None:
            members = cw.query("SELECT officer_id FROM main.case_members WHERE case_id = ? AND removed_at IS NULL",
                               [d.case])
            if assignee not in {r[0] for r in members}:
                raise ConfigError(f"assignee {assignee[:60]!r} is not a member of case {d.case}")
        row = cw.records("SELECT typology FROM findings WHERE finding_key = ? LIMIT 1", [str(key)]) or \
            cw.records("SELECT typology FROM findings_superseded WHERE finding_key = ? LIMIT 1", [str(key)])
        if not row:
            raise WorkspaceError(f"no finding {str(key)[:40]!r} in this case")
        cur = cw.records("SELECT status, assignee, reason FROM finding_triage WHERE finding_key = ?", [str(key)])
        now = now_utc()
        new = {"status": status or (cur[0]["status"] if cur else "open"),
               "assignee": assignee if assignee is not None else (cur[0]["assignee"] if cur else None),
               "reason": reason if status is not None else (cur[0]["reason"] if cur else None)}
        cw.con.execute("BEGIN TRANSACTION")
        try:
            cw.con.execute("DELETE FROM finding_triage WHERE finding_key = ?", [str(key)])
            cw.con.execute("INSERT INTO finding_triage VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [str(key), row[0]["typology"], new["status"], new["assignee"], new["reason"], now,
                            self.officer])
            cw.con.execute("INSERT INTO finding_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [str(key), now, self.officer, status, assignee, reason, note, d.audit_seq])
            cw.con.execute("COMMIT")
        except BaseException:
            cw.con.execute("ROLLBACK")
            raise
        return {**new, "finding_key": key, "updated_at": now, "updated_by": self.officer, "audit_entry": d.audit_seq}

    # -- entity resolution (issue 14) ------------------------------------------------------------
    def resolve(self, *, retrain: bool = False, upper: float | None = None,
                lower: float | None = None) -> dict[str, Any]:
        """Resolve the case's parties and accounts (``moneytrail resolve``): party records from the
        evidence, the entity-resolution model (trained on the case's own records the first time,
        or again with ``retrain``), entities, the review queue, accounts to entities, and the
        matching of one transfer seen at two banks. ``upper``/``lower``: the match-probability
        thresholds (merge at or above ``upper``; review between). Returns the stage's summary."""
        from moneytrail import freshness, resolve
        from moneytrail.pipeline import run_pipeline

        params = resolve.check_params({"upper": upper, "lower": lower})
        d = self._decide("resolve", {"retrain": bool(retrain), **params})
        cw = self._in(d)
        if retrain:
            freshness.forget(cw, resolve.MAKES)        # rebuilt, whatever their versions say
        out = run_pipeline(cw, stages=["resolve"], params={"resolve": {**params, "retrain": bool(retrain)}})
        s = out["stages"]["resolve"]
        self._read(d, {"resolve_summary": {k: s.get(k) for k in ("records", "entities", "merged", "review",
                                                                  "transfers_matched") if k in s}})
        return s

    def review_queue(self, *, status: str = "review", limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Pairs of party records by status (``review``: waiting for an officer; ``merged``,
        ``accepted``, ``rejected``), most probable first, with both records and the reasons in
        words (``moneytrail review``)."""
        from moneytrail import _reads

        d = self._decide("review", {"status": str(status)[:20]})
        out = _reads.match_pairs(self._in(d), status=status, limit=limit, offset=offset)
        self._read(d, {"table": "match_pairs", "status": status, "rows": len(out["pairs"])})
        return out

    def review(self, left: str, right: str, decision: str, reason: str) -> dict[str, Any]:
        """Decide whether two party records are the same party (``decision``: same | different),
        with a reason. The decision is kept across re-runs and wins over the model; the next
        resolve (or any command needing the entities) rebuilds with it."""
        from moneytrail import _reads
        from moneytrail.authority.legal import is_placeholder
        from moneytrail.resolve.review import pair_key
        from moneytrail.workspace import now_utc

        if decision not in ("same", "different"):
            raise ConfigError(f"decision {str(decision)[:40]!r}: same or different")
        reason = " ".join(str(reason or "").split())
        if not reason or is_placeholder(reason):
            raise ConfigError("a match decision needs a reason: say why")
        if len(reason) > 2000:
            raise ConfigError("reason: at most 2,000 characters")
        left, right = str(left)[:64], str(right)[:64]
        d = self._decide("review", {"left": left, "right": right, "decision": decision})
        cw = self._in(d)
        recs = _reads.party_records_by_key(cw, [left, right])
        for k in (left, right):
            if k not in recs:
                raise WorkspaceError(f"no party record {k[:40]!r} in this case (moneytrail review lists them; "
                                     f"run moneytrail resolve first)")
        if left == right:
            raise ConfigError("a record is always the same party as itself: name two records")
        key, lo, hi = pair_key(left, right)
        prob = _reads.pair_probability(cw, key)
        now = now_utc()
        cw.con.execute("INSERT INTO match_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [key, lo, hi, decision, reason, prob, self.officer, now, d.audit_seq])
        return {"pair_key": key, "left_key": lo, "right_key": hi, "decision": decision, "reason": reason,
                "probability": prob, "decided_by": self.officer, "decided_at": now, "audit_entry": d.audit_seq}

    def entities(self, *, name: str | None = None, account: str | None = None, min_records: int = 1,
                 limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Entities, most records first, found by a name their records carry or an account they
        hold (``moneytrail entity list``), each with its record keys and accounts."""
        from moneytrail import _reads

        d = self._decide("explore", {"entities": {"name": str(name)[:60] if name else None,
                                                  "account": str(account)[:60] if account else None}})
        out = _reads.entities(self._in(d), name=name, account=account, min_records=min_records, limit=limit,
                              offset=offset)
        self._read(d, {"table": "entities", "rows": len(out["entities"])})
        return out

    def entity(self, entity_id: str) -> dict[str, Any]:
        """An entity: its party records (each with its source and why it joined), its accounts and
        the pairs that link or nearly link its records (``moneytrail entity show``)."""
        from moneytrail import _reads

        d = self._decide("explore", {"entity": str(entity_id)[:40]})
        out = _reads.entity(self._in(d), str(entity_id))
        self._read(d, {"entity": out["entity_id"], "records": len(out["records"]), "accounts": len(out["accounts"])})
        return out

    def account(self, account_id: str) -> dict[str, Any]:
        """An account's profile in this case: what the sources say about it, flows in and out,
        balance over time, counterparties, and the findings naming it."""
        from moneytrail import _reads

        d = self._decide("explore", {"account": str(account_id)[:200]})
        out = _reads.account(self._in(d), account_id)
        self._read(d, {"account": out["account_id"], "counterparties": len(out["counterparties"]),
                       "findings": len(out["findings"])})
        return out

    def transactions(self, *, account: str | None = None, ref: str | None = None, min_amount: Any = None,
                     max_amount: Any = None, date_from: Any = None, date_to: Any = None, limit: int = 50,
                     offset: int = 0) -> dict[str, Any]:
        """A page of the case's transactions, newest first, filtered by account, the bank's own
        reference (or ``SOURCE:ROW``), amount and date range; ``total`` is how many match."""
        from moneytrail import _reads

        d = self._decide("explore", {"transactions": {"account": account, "ref": ref}})
        rows, total = _reads.transactions(self._in(d), account=account, ref=ref, min_amount=min_amount,
                                          max_amount=max_amount, date_from=date_from, date_to=date_to,
                                          limit=limit, offset=offset)
        self._read(d, {"table": "transactions", "rows": len(rows), "account": account, "ref": ref,
                       "tx_ids": [r["tx_id"] for r in rows]})
        return {"rows": rows, "total": total, "limit": limit, "offset": offset}

    def transaction(self, ref: Any) -> list[dict[str, Any]]:
        """Every transaction ``ref`` names (the internal id, the bank's own reference or
        ``SOURCE:ROW``; ``moneytrail tx``), with its provenance, the findings citing it and the
        other leg of a transfer seen at two banks."""
        from moneytrail import _reads

        d = self._decide("explore", {"transaction": str(ref)[:200]})
        rows = _reads.transaction(self._in(d), ref)
        self._read(d, {"table": "transactions", "ref": str(ref)[:200], "tx_ids": [r["tx_id"] for r in rows]})
        return rows

    def graph(self, *, finding: str | None = None, account: str | None = None, hub_degree: int = 25,
              max_edges: int = 400) -> dict[str, Any]:
        """The network of a finding (its accounts and evidence) or of an account (its
        counterparties), edges aggregated with amounts and counts, hubs marked."""
        from moneytrail import _reads

        d = self._decide("findings" if finding else "explore",
                         {"graph": {"finding": finding, "account": account}})
        g = _reads.graph(self._in(d), finding_key=finding, account=account, hub_degree=hub_degree,
                         max_edges=max_edges)
        self._read(d, {"graph": {"finding": finding, "account": account}, "nodes": len(g["nodes"]),
                       "edges": len(g["edges"])})
        return g

    def sources(self) -> list[dict[str, Any]]:
        """The case's evidence sources with hashes, legal-basis tags, row accounting and, for a
        withdrawn one, when, by whom and why."""
        from moneytrail import _reads

        d = self._decide("sources")
        rows = _reads.sources(self._in(d))
        self._read(d, {"table": "sources", "rows": len(rows)})
        return rows

    def tag(self, source: int, legal_basis: Iterable[str]) -> list[str]:
        """Add legal-basis tags to an ingested source (``moneytrail tag``); returns those added."""
        from moneytrail.ingest import add_legal_basis

        from moneytrail.authority import state

        tags = legal_tags(legal_basis)
        d = self._decide("source_tag", {"source": source, "legal_basis": tags})
        cw = self._in(d)
        try:
            with state.changing(cw, officer=self.officer, case=d.case, change="source.tag"):
                return add_legal_basis(cw, source, tags)
        finally:
            cw.settle_evidence()        # a copy sealed or left plaintext by this change

    def withdraw(self, source: int, reason: str) -> dict[str, Any]:
        """Withdraw a source of this case (``moneytrail source withdraw``): a file that cannot be used
        (rows no stage can hold, the wrong file) stops being read by any case, while its evidence
        copy, its record and its rows stay. Only the case that ingested it withdraws it."""
        from moneytrail.authority import state
        from moneytrail.authority.legal import is_placeholder
        from moneytrail.workspace import now_utc

        why = " ".join(str(reason or "").split())
        if is_placeholder(why) or len(why) > 1000:
            raise ConfigError("--reason: say why the source is withdrawn (up to 1,000 characters)")
        d = self._decide("source_withdraw", {"source": source, "reason": why})
        cw = self._in(d)
        with state.changing(cw, officer=self.officer, case=d.case, change="source.withdraw"):
            row = cw.query("SELECT s.withdrawn_at, c.how FROM sources s JOIN main.source_cases c "
                           "ON c.source_id = s.source_id AND c.case_id = ? WHERE s.source_id = ?", [d.case, source])
            if not row:
                raise WorkspaceError(f"no source {source} in case {d.case} (moneytrail sources lists them)")
            if row[0][1] != "ingest":
                raise WorkspaceError(f"source {source} was shared with case {d.case}: only the case that ingested "
                                     f"it can withdraw it")
            if row[0][0] is not None:
                raise WorkspaceError(f"source {source} was already withdrawn {row[0][0]:%Y-%m-%d}")
            now = now_utc()
            cw.con.execute("UPDATE main.sources SET withdrawn_at = ?, withdrawn_by = ?, withdrawal_reason = ? "
                           "WHERE source_id = ?", [now, self.officer, why, source])
        return {"source": source, "case": d.case, "withdrawn_at": now, "withdrawn_by": self.officer,
                "reason": why, "audit_entry": d.audit_seq}

    def share(self, source: int, to_case: str) -> dict[str, Any]:
        """Share a source of this case with another case (``moneytrail source share``): decided as
        reading it here (``source_share``) and as ingesting it there (with its legal-basis tags: a
        protected source enters the other case only under the authority that case holds)."""
        from moneytrail.authority import state
        from moneytrail.workspace import now_utc

        d = self._decide("source_share", {"sources": [int(source)], "to_case": to_case})
        cw = self._in(d)
        rows = cw.query("SELECT legal_basis, withdrawn_at FROM sources WHERE source_id = ?", [source])
        if not rows:
            raise WorkspaceError(f"no source {source} in case {d.case} (moneytrail sources lists them)")
        if rows[0][1] is not None:
            raise WorkspaceError(f"source {source} is withdrawn: nothing to share")
        there = self._decide("ingest", {"shared_source": int(source), "from_case": d.case,
                                        "legal_basis": list(rows[0][0] or [])}, case=to_case)
        with state.changing(cw, officer=self.officer, case=there.case, change="source.share"):
            if cw.scalar("SELECT count(*) FROM main.source_cases WHERE source_id = ? AND case_id = ?",
                         [source, there.case]):
                raise WorkspaceError(f"source {source} is already a source of case {there.case}")
            cw.con.execute("INSERT INTO main.source_cases VALUES (?, ?, 'share', ?, ?)",
                           [source, there.case, now_utc(), self.officer])
        return {"source": source, "from_case": d.case, "to_case": there.case,
                "audit_entries": [d.audit_seq, there.audit_seq]}

    def quarantine(self, source: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Quarantined rows with file, row, column and reason."""
        from moneytrail import _reads

        d = self._decide("quarantine", {"sources": [source]} if source is not None else None)
        rows = _reads.quarantine(self._in(d), source, limit)
        self._read(d, {"table": "quarantine", "rows": len(rows), "source": source})
        return rows

    def report(self, out: str | os.PathLike | None = None, *, title: str | None = None,
               print_ready: bool = False) -> Path:
        """Write the HTML case report (``moneytrail report``); returns its path. The report opens
        with the case, its officers and the authorities they act under, and who generated it;
        ``print_ready`` writes the version for paper and PDF (contents, page breaks and numbers,
        findings grouped by typology and capped, appendices)."""
        from moneytrail.report import case_header, render_report

        d = self._decide("report", {"print_ready": bool(print_ready)})
        self._read(d, {"report": str(out) if out else "default path beside the workspace",
                       "print_ready": bool(print_ready)})
        header = case_header(self._ws, d.case, d.officer) if d.case else None
        return render_report(self._in(d), Path(out) if out else None, title=title, case=header,
                             print_ready=print_ready)

    def export(self, out: str | os.PathLike, *, format: str = "csv", typologies: Sequence[str] = (),
               min_score: float | None = None) -> dict[str, Any]:
        """Export findings, their transactions with provenance and their sources to a folder
        (``moneytrail export``); returns the manifest."""
        from moneytrail import export as ex

        d = self._decide("export", {"out": str(out), "format": format, "typologies": list(typologies),
                                    "min_score": min_score})
        return ex.write(self._in(d), out, fmt=format, typologies=typologies, min_score=min_score,
                        who={"officer": d.officer, "case": d.case, "decision_audit_entry": d.audit_seq},
                        before_writing=lambda counts: self._read(d, {"export": str(out), "format": format,
                                                                     "rows": counts}))

    def trace(self, sources: Iterable[Any] = (), *, save: bool = False, destination: str | None = None,
              **options: Any) -> dict[str, Any]:
        """Trace tainted funds (``moneytrail trace``): the options of
        :func:`moneytrail.trace.api.trace` (``rule``, ``direction``, ``target``, ``presumption``,
        ``openings``, ``as_of``, ``max_hops``, ``level``). ``save`` keeps the trace in the workspace for the
        report (``trace_id`` in the result; the CLI saves by default), under a run-log entry;
        ``destination`` (a file, "stdout") is noted in the read record."""
        import json

        from moneytrail.trace.api import trace

        srcs = list(sources)
        tgt0 = options.get("target")
        refs = [s for s in srcs if isinstance(s, str)]
        if tgt0 is not None and isinstance(getattr(tgt0, "tx_id", None), str):
            refs.append(tgt0.tx_id)
        if refs:    # transactions named by the bank's reference or SOURCE:ROW: looked up first
            srcs, options = self._named_transactions(srcs, options)
        rule = options.get("rule", "libr")
        rules = [rule] if isinstance(rule, str) else list(rule)
        direction = options.get("direction", "forward")
        tgt = options.get("target")
        params = json.loads(json.dumps(
            {"direction": direction, "rules": rules,
             "sources": [s if isinstance(s, int) else s.label() for s in srcs],
             "target": tgt.label() if tgt is not None else None, "presumption": options.get("presumption"),
             "openings": {k: str(v) for k, v in (options.get("openings") or {}).items()},
             "as_of": options.get("as_of"), "max_hops": options.get("max_hops"),
             "level": options.get("level", "account")}, default=str))
        # the trace reads the case's whole ledger (every source of the case): no "sources" restriction
        d = self._decide("trace", {"direction": direction, "rules": rules, "taint_sources": params["sources"],
                                   "target": params["target"], "level": params["level"]})
        cw = self._in(d)
        with _logged_run(cw, "trace", params) if save else contextlib.nullcontext({}) as run:
            result = trace(cw, srcs, **options)
            what = {"trace": direction, "rules": list(result["rules"]),
                    "accounts": sum(len(r.get("accounts") or {}) for r in result["rules"].values()),
                    "schedule_rows": sum(len(r.get("schedule") or []) for r in result["rules"].values())}
            self._read(d, {**what, "out": destination} if destination else what)
            if save:
                from moneytrail.trace.store import save as save_trace

                result["trace_id"] = save_trace(cw, result, params, run["run_id"])
                run["summary"] = {
                    "trace_id": result["trace_id"], "direction": direction,
                    "rules": {n: (r.get("totals") or {}) if direction == "forward" else {"tainted": r.get("tainted")}
                              for n, r in result["rules"].items()}}
        return result

    def _named_transactions(self, srcs: list[Any], options: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Trace sources and target given as names (the bank's reference, ``SOURCE:ROW``, ``id:N``):
        each must name exactly one transaction of the case. The lookup is a read of the case's
        transactions, decided and recorded as one."""
        import dataclasses

        from moneytrail import _reads
        from moneytrail.trace.engine import Source

        names = [s for s in srcs if isinstance(s, str)]
        tgt = options.get("target")
        if tgt is not None and isinstance(getattr(tgt, "tx_id", None), str):
            names.append(tgt.tx_id)
        d = self._decide("explore", {"transactions": {"names": [str(n)[:200] for n in names[:50]]}})
        cw = self._in(d)
        found: dict[str, int] = {}
        out = []
        for s in srcs:
            if isinstance(s, str):
                found[s] = _reads.resolve_tx(cw, s, "--source")
                out.append(Source(tx_id=found[s]))
            else:
                out.append(s)
        if tgt is not None and isinstance(getattr(tgt, "tx_id", None), str):
            found[tgt.tx_id] = _reads.resolve_tx(cw, tgt.tx_id, "--target")
            options = dict(options, target=dataclasses.replace(tgt, tx_id=found[tgt.tx_id]))
        self._read(d, {"table": "transactions", "names": {k[:200]: v for k, v in found.items()}})
        return out, options

    def train(self, *, seed: int = 0, backend: str = "duckdb",
              backend_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train and store a risk model on the workspace's labels (``moneytrail model train``);
        ``backend`` computes the features."""
        from moneytrail.score import train

        d = self._decide("score", _engine(backend, backend_options) or None)
        cw = self._in(d)
        with _logged_run(cw, "model train", {"seed": seed, **_engine(backend, backend_options)}) as run, \
                _backend(cw, backend, backend_options) as be:
            res = run["summary"] = train(cw, seed=seed, backend=be)
        self._read(d, {"model": res["model_id"], "metrics": ["validation", "test"]})
        return res

    def models(self) -> list[dict[str, Any]]:
        """The stored risk models with features, parameters and metrics (``moneytrail model show``)."""
        from moneytrail import _reads

        d = self._decide("score")
        rows = _reads.models(self._in(d))
        self._read(d, {"table": "models", "rows": len(rows)})
        return rows

    def score(self, *, model_id: int | None = None, top: int = 20, backend: str = "duckdb",
              backend_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Score transactions and accounts (``moneytrail score``); the summary with the ``top``
        highest-scoring accounts and their reasons. ``backend`` computes the features."""
        from moneytrail import _reads
        from moneytrail.score import score

        d = self._decide("score", _engine(backend, backend_options) or None)
        cw = self._in(d)
        with _logged_run(cw, "score", {"model_id": model_id, **_engine(backend, backend_options)}) as run, \
                _backend(cw, backend, backend_options) as be:
            res = run["summary"] = score(cw, model_id=model_id, backend=be)
            from moneytrail.priority import prioritize

            res["priority"] = prioritize(cw)     # the findings queue weighed by the new scores
        accts = _reads.top_accounts(cw, res["model_id"], top)
        self._read(d, {"table": "account_scores", "model": res["model_id"], "rows": len(accts),
                       "accounts": [a["account_id"] for a in accts]})
        return {**res, "top_accounts": accts}

    # -- the registry (moneytrail authority ...) --------------------------------------------------
    #
    # Each decided with its action (registry_change, registry_read, grant_approve) and recorded,
    # as the registry functions (moneytrail.authority.registry) do for the session's officer; a
    # change is itself an audit entry carrying it. They return the Decision (its audit_seq says
    # which entry recorded it).

    def init_registry(self, *, agency: str, agency_name: str, officer_name: str,
                      agency_kind: str | None = None, roles: Iterable[str] = ()):
        """Set up the registry of a new, empty workspace (``moneytrail authority init``; open it
        with ``Session.open(path, officer=..., create=True)``): ``agency`` and the session's
        officer, who becomes its registrar. The one way, with :meth:`import_taskforce`, that a
        workspace's audit log is started (its genesis entry); refused for a workspace that holds
        anything or ever had a log."""
        from moneytrail.authority.registry import init_registry

        return init_registry(self._ws, self.officer, agency=agency, agency_name=agency_name,
                             officer_name=officer_name, agency_kind=agency_kind, roles=roles, command=self.command)

    def import_taskforce(self, taskforce: dict | str | os.PathLike) -> dict[str, Any]:
        """Import a task-force file (a path, or its content as a mapping: agencies, officers,
        grants; ``moneytrail authority import``): into an empty registry only as an officer it
        names as registrar (this starts the audit log, as :meth:`init_registry` does), into a
        registry as a registrar. Returns the ids ``added`` and ``skipped`` (already present)."""
        from moneytrail.authority.registry import RegistryError, import_taskforce

        if not isinstance(taskforce, dict) and not Path(taskforce).is_file():
            raise RegistryError(f"{taskforce}: task-force file not found")
        return import_taskforce(self._ws, self.officer, taskforce if isinstance(taskforce, dict) else Path(taskforce),
                                command=self.command)

    def registry(self) -> dict[str, Any]:
        """Agencies, officers and grants, each grant with its ``state`` (and, for a draft, why it
        cannot be activated yet): ``moneytrail authority list``."""
        from moneytrail.authority.registry import registry_view

        return registry_view(self._ws, self.officer, command=self.command)

    def whoami(self) -> dict[str, Any]:
        """The session's officer and case, the officer's grants (with their ``state``) and open
        cases (``moneytrail authority whoami``)."""
        from moneytrail.authority.registry import grant_state

        self._decide("registry_read", {"what": "whoami"})
        grants = self._ws.records("SELECT * FROM grants WHERE officer_id = ? ORDER BY grant_id", [self.officer])
        for g in grants:
            g["state"] = grant_state(g)
        cases = [r[0] for r in self._ws.query(
            "SELECT c.case_id FROM cases c JOIN case_members m ON m.case_id = c.case_id AND m.removed_at IS NULL "
            "WHERE m.officer_id = ? AND c.status = 'open' ORDER BY 1", [self.officer])]
        return {"officer": self.officer, "case": self.case, "grants": grants, "open_cases": cases}

    def add_agency(self, agency: str, name: str, kind: str | None = None):
        """Register an agency (a registrar)."""
        from moneytrail.authority.registry import add_agency

        return add_agency(self._ws, self.officer, agency, name, kind, command=self.command)

    def add_officer(self, officer: str, name: str, agency: str, roles: Iterable[str] = ()):
        """Register an officer with a home agency and roles (registrar, auditor, counsel)."""
        from moneytrail.authority.registry import add_officer

        return add_officer(self._ws, self.officer, officer, name, agency, roles, command=self.command)

    def add_grant(self, grant: str, officer: str, **fields: Any):
        """Record a deputization grant for ``officer``, as a draft (the fields of
        :func:`moneytrail.authority.registry.add_grant`); never the session officer's own."""
        from moneytrail.authority.registry import add_grant

        return add_grant(self._ws, self.officer, grant, officer, command=self.command, **fields)

    def approve_grant(self, grant: str):
        """Approve a draft grant, as the deputizing official it names."""
        from moneytrail.authority.registry import approve_grant

        return approve_grant(self._ws, self.officer, grant, command=self.command)

    def activate_grant(self, grant: str):
        """Activate an approved grant (a registrar); refused, naming every problem, unless complete."""
        from moneytrail.authority.registry import activate_grant

        return activate_grant(self._ws, self.officer, grant, command=self.command)

    def revoke_grant(self, grant: str, reason: str):
        """Revoke a grant (final; it takes effect on the next decision)."""
        from moneytrail.authority.registry import revoke_grant

        return revoke_grant(self._ws, self.officer, grant, reason, command=self.command)

    def issue_login(self, officer: str, *, hours: int = 72) -> dict[str, Any]:
        """Issue (or re-issue) a web sign-in for a registered officer (a registrar; ``moneytrail
        authority officer login``): the one-time enrolment code, shown once, and when it expires.
        Re-issuing resets the officer's password and second factor."""
        from moneytrail.authority.logins import issue

        return issue(self._ws, self.officer, officer, hours=hours, command=self.command)

    def remove_login(self, officer: str, reason: str) -> dict[str, Any]:
        """Remove an officer's web sign-in (a registrar): refused from the officer's next request."""
        from moneytrail.authority.logins import remove

        return remove(self._ws, self.officer, officer, reason, command=self.command)

    def logins(self) -> list[dict[str, Any]]:
        """Every web sign-in's state (issued, enrolled, locked, removed); never a secret."""
        from moneytrail.authority.logins import listing

        return listing(self._ws, self.officer, command=self.command)

    # -- cases (moneytrail case ...) ----------------------------------------------------------------

    def open_case(self, case: str, *, function: str, jurisdiction: str, predicate: str,
                  title: str | None = None, members: Iterable[str] = ()):
        """Open a case under one of the officer's grants; the officer becomes its lead."""
        from moneytrail.authority.registry import open_case

        return open_case(self._ws, self.officer, case, function=function, jurisdiction=jurisdiction,
                         predicate=predicate, title=title, members=members, command=self.command)

    def case_info(self, case: str | None = None) -> dict[str, Any]:
        """A case (default: the session's, else the officer's one open case): function,
        jurisdiction, predicate, members, disclosure list, 6103(i) authorities; recorded as a read."""
        from moneytrail.authority.registry import case_view
        from moneytrail.identity import check_id

        case = check_id(case, "case", "the case given") if case and case.strip() else self.case
        return case_view(self._ws, self.officer, case, command=self.command)

    def cases(self) -> list[dict[str, Any]]:
        """Every case in the workspace: ids, functions, jurisdictions, status, member counts."""
        from moneytrail.authority.registry import list_cases

        return list_cases(self._ws, self.officer, command=self.command)

    def add_member(self, case: str, officer: str):
        """Add an officer to a case."""
        from moneytrail.authority.registry import add_member

        return add_member(self._ws, self.officer, case, officer, command=self.command)

    def remove_member(self, case: str, officer: str):
        """Remove an officer from a case (and from its disclosure list)."""
        from moneytrail.authority.registry import remove_member

        return remove_member(self._ws, self.officer, case, officer, command=self.command)

    def disclose(self, case: str, officer: str, *, attorney: str):
        """Put a case member on the grand-jury disclosure list (counsel or a registrar, not a member)."""
        from moneytrail.authority.registry import add_disclosure

        return add_disclosure(self._ws, self.officer, case, officer, attorney=attorney, command=self.command)

    def record_fti_order(self, case: str, *, judge: str, court: str, order_date, scope: str,
                         subjects: Iterable[str]):
        """Record a 26 U.S.C. 6103(i)(1) ex parte court order on a case (counsel or a registrar,
        not a member)."""
        from moneytrail.authority.registry import record_fti_order

        return record_fti_order(self._ws, self.officer, case, judge=judge, court=court, order_date=order_date,
                                scope=scope, subjects=subjects, command=self.command)

    def record_fti_request(self, case: str, *, official: str, title: str, request_date, subjects: Iterable[str],
                           addresses: Iterable[str], taxable_periods: str, statutory_authority: str, reason: str):
        """Record a complete 26 U.S.C. 6103(i)(2) written request on a case (counsel or a
        registrar, not a member)."""
        from moneytrail.authority.registry import record_fti_request

        return record_fti_request(self._ws, self.officer, case, official=official, title=title,
                                  request_date=request_date, subjects=subjects, addresses=addresses,
                                  taxable_periods=taxable_periods, statutory_authority=statutory_authority,
                                  reason=reason, command=self.command)

    def close_case(self, case: str, reason: str):
        """Close a case: nothing more can be done in it."""
        from moneytrail.authority.registry import close_case

        return close_case(self._ws, self.officer, case, reason, command=self.command)

    # -- the audit log (moneytrail audit ...) ----------------------------------------------------------

    def _audit_decide(self, action: str, resource: dict[str, Any] | None = None):
        """Decide an audit action: ``(decision, why it could not be logged or None)``. If the
        workspace's authority state was changed outside moneytrail, decide on the registry the
        signed log builds; if the log cannot take the entry (it is damaged), still decide, unlogged,
        so that verifying can say what is wrong (an allowed, unlogged decision says why)."""
        from moneytrail.audit import AuditError, AuditLog
        from moneytrail.authority.decide import AccessDenied, decide, guard
        from moneytrail.authority.state import StateError

        ws, who = self._ws, self.officer
        signed = False
        try:
            decide(ws, action, officer=who, resource=resource)
        except StateError:
            if not AuditLog.of(ws).started():
                raise                   # no log to build a registry from: say that, not "unregistered"
            signed = True
        except AuditError:
            pass
        try:
            return guard(ws, action, officer=who, resource=resource, signed=signed, command=self.command), None
        except AuditError as e:
            try:
                d = decide(ws, action, officer=who, resource=resource, signed=signed)
            except (AuditError, StateError):
                d = decide(ws, action, officer=who, resource=resource, signed=True)
            if not d.allowed:
                raise AccessDenied(d) from None
            return d, str(e)

    def audit_verify(self, public_key: str | os.PathLike | None = None):
        """Verify the whole audit log (``moneytrail audit verify``; any registered officer): its
        entries, the signed tree heads, the authority state they vouch for, and the head kept
        beside the key. Returns the :class:`~moneytrail.audit.log.VerifyReport` (``ok``,
        ``problems``, ``first_bad``, ``warnings``: one says so if this check could not be logged)."""
        from moneytrail.audit import AuditLog

        _, unlogged = self._audit_decide("audit_verify")
        rep = AuditLog.of(self._ws).verify(public_key)
        if unlogged:
            rep.warnings.append(f"this verification could not be logged: {unlogged}")
        return rep

    def audit_repair(self) -> dict[str, Any]:
        """After a crash in the middle of an append: move what no signed tree head covers into the
        log's ``repaired/`` folder, check the rest, and log the repair (auditor or registrar).
        Returns what was done, with ``audit_seq``, the entry that records the repair."""
        from moneytrail.audit import AuditLog
        from moneytrail.authority.decide import guard

        d, unlogged = self._audit_decide("audit_repair")
        res = AuditLog.of(self._ws).repair()
        if unlogged:     # the decision could not be logged before the repair: log it now, with the repair
            d = guard(self._ws, "audit_repair", officer=self.officer,
                      resource={"repair": res, "decided_unlogged": unlogged}, command=self.command)
        elif res["repaired"]:
            guard(self._ws, "audit_repair", officer=self.officer, resource={"repair": res}, command=self.command)
        return {**res, "audit_seq": d.audit_seq}

    def audit_prove(self, index: int, size: int | None = None) -> dict[str, Any]:
        """An RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` (default: the
        latest signed head), checked before it is returned (auditor or registrar)."""
        from moneytrail.audit import AuditLog

        self._audit_decide("audit_read", {"prove": index, "size": size})
        return AuditLog.of(self._ws).inclusion(index, size)

    def audit_consistency(self, old: int, new: int) -> dict[str, Any]:
        """An RFC 9162 consistency proof between two tree sizes, checked (auditor or registrar)."""
        from moneytrail.audit import AuditLog

        self._audit_decide("audit_read", {"consistency": [old, new]})
        return AuditLog.of(self._ws).consistency(old, new)

    def audit_log(self, start: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """Audit entries from ``start`` (at most ``limit``; 0: all): who decided or read what, when,
        under which policy and grant (auditor or registrar)."""
        from moneytrail.audit import AuditLog

        self._audit_decide("audit_read", {"from": start, "limit": limit})
        return list(AuditLog.of(self._ws).entries(start, start + limit if limit else None))

    def audit_head(self) -> dict[str, Any] | None:
        """The latest signed tree head, to publish or compare elsewhere (auditor or registrar)."""
        from moneytrail.audit import AuditLog

        self._audit_decide("audit_read", {"head": True})
        h = AuditLog.of(self._ws).last_head()
        return h.to_dict() if h else None
