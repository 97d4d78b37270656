"""Stage 1, ingest: parse evidence files, validate every row, quarantine what can't be used.

Public entry point: :func:`ingest_file`. Readers are registered in :data:`FORMATS`
(``csv`` with a YAML mapping, ``amlsim`` for IBM AMLSim output). Invariant, for every source:
``rows_read == rows_stored + rows_quarantined``.

Re-ingesting a file whose sha256 is already a source of the same format re-reads nothing and
returns the earlier counts (``skipped: true``), adding any legal-basis tags given now
(``tags_added``; tags are never removed); ``force=True`` re-reads it under the same source id
(its rows are replaced, so transaction ids stay the same).

Cases: ingested through a case's workspace (``ws.for_case(CASE)``, as :class:`moneytrail.Session`
does), a source belongs to that case (``source_cases``), and "already ingested" means already a
source *of that case*: the same file ingested in another case is a new source there. Legal-basis
tags are checked against the closed vocabulary (:func:`moneytrail.authority.legal.canonical_tag`).
In a workspace whose audit log was started, what an ingest changes in the authority state (the
source, its tags, its case) is recorded in the log as it commits
(:func:`moneytrail.authority.state.changing`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import duckdb

from moneytrail.errors import InputError, UnknownFormatError, WorkspaceError
from moneytrail.ingest.mapping import Mapping, load_mapping, parse_mapping
from moneytrail.workspace import (Workspace, disk_full_error, filesystem_of, is_disk_full, now_utc,
                                  sha256_file)


@dataclass
class IngestResult:
    source_id: int
    file: str
    format: str
    sha256: str
    read: int
    stored: int
    quarantined: int
    skipped: bool = False
    seconds: float = 0.0
    related: list[dict[str, Any]] = field(default_factory=list)
    tags_added: list[str] = field(default_factory=list)   # re-ingest of a present file: new legal-basis tags

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[int], None]  # called with bytes read since the last call


class Reader(Protocol):
    name: str

    def ingest(self, ws: Workspace, path: Path, *, mapping: Mapping | None, legal_basis: list[str],
               force: bool, on_read: Progress | None) -> IngestResult: ...


def _register_source(ws: Workspace, path: Path, fmt: str, role: str, mapping: dict | None,
                     legal_basis: Iterable[str], force: bool) -> tuple[int, bool, str]:
    """Returns (source_id, already_present, sha256). Copies the file into the evidence folder.
    ``sources`` is the case's own (a case workspace) or every source (the whole workspace)."""
    sha = sha256_file(path)
    rows = ws.con.execute("SELECT source_id, legal_basis FROM sources WHERE sha256 = ? AND format = ? "
                          "AND role = ? AND withdrawn_at IS NULL", [sha, fmt, role]).fetchall()
    row = rows[0] if rows else None
    if row and not force:
        # the same file again: nothing is re-read, but tags given now are added (a source found
        # to hold protected data after it was ingested must be able to say so)
        added = add_legal_basis(ws, row[0], legal_basis)
        if getattr(ws, "_ingest_tags_added", None) is not None:
            ws._ingest_tags_added += added
        return row[0], True, sha
    # a new copy is settled by ingest_file (kept or removed); federal tax information is sealed
    from moneytrail.authority.legal import classify_tags

    fti = classify_tags(canonical_tags(legal_basis))["fti"] or (row is not None and classify_tags(row[1] or [])["fti"])
    rel = ws.store_evidence(path, sha, seal_key=ws.evidence_key() if fti else None)
    if row:
        sid = row[0]
        for t in ("transactions", "quarantine", "labels", "account_records"):
            ws.con.execute(f"DELETE FROM main.{t} WHERE source_id = ?", [sid])
        ws.con.execute(
            "UPDATE main.sources SET ingest_count = ingest_count + 1, received_at = ?, mapping = ?, "
            "original_path = ? WHERE source_id = ?",
            [now_utc(), json.dumps(mapping) if mapping else None, str(path.resolve()), sid])
        add_legal_basis(ws, sid, legal_basis)   # tags given earlier are kept
        return sid, False, sha
    sid = ws.con.execute("SELECT nextval('seq_source')").fetchall()[0][0]
    now = now_utc()
    ws.con.execute(
        "INSERT INTO main.sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, "
        "format, role, mapping, legal_basis, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [sid, path.name, str(path.resolve()), rel, path.stat().st_size, sha, fmt, role,
         json.dumps(mapping) if mapping else None, canonical_tags(legal_basis), now])
    if ws.case is not None:
        ws.con.execute("INSERT INTO main.source_cases VALUES (?, ?, 'ingest', ?, ?)",
                       [sid, ws.case, now, getattr(ws, "actor", None)])
    ws.authority_changed()
    return sid, False, sha


def add_legal_basis(ws: Workspace, source_id: int, tags: Iterable[str]) -> list[str]:
    """Add legal-basis tags to a source (tags are only ever added, never removed); returns the
    ones it did not have. Decisions see them on the next command."""
    rows = ws.con.execute("SELECT legal_basis FROM sources WHERE source_id = ?", [source_id]).fetchall()
    if not rows:
        where = f"case {ws.case}" if ws.case is not None else "this workspace"
        raise WorkspaceError(f"no source {source_id} in {where} (moneytrail sources lists them)")
    have = list(rows[0][0] or [])
    new = [t for t in canonical_tags(tags) if t not in have]
    if new:
        ws.con.execute("UPDATE main.sources SET legal_basis = ? WHERE source_id = ?", [have + new, source_id])
        ws.authority_changed()
        from moneytrail.authority.legal import classify_tags

        if classify_tags(new)["fti"]:
            ws.seal_evidence(source_id)      # found to hold FTI: its copy is sealed at rest from now on
    return new


def canonical_tags(tags: Iterable[str]) -> list[str]:
    """Legal-basis tags in canonical form; outside the vocabulary: an InputError naming it."""
    from moneytrail.authority.legal import canonical_tags as canon

    try:
        return canon(tags)
    except ValueError as e:
        raise InputError(str(e)) from None


def _finish_source(ws: Workspace, sid: int, counts: dict[str, int]) -> None:
    ws.con.execute(
        "UPDATE main.sources SET rows_read = ?, rows_stored = ?, rows_quarantined = ?, ingested_at = ? "
        "WHERE source_id = ?",
        [counts["read"], counts["stored"], counts["quarantined"], now_utc(), sid])


def _skipped(ws: Workspace, sid: int, path: Path, fmt: str, sha: str) -> IngestResult:
    r = ws.records("SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?",
                   [sid])[0]
    return IngestResult(sid, str(path), fmt, sha, r["rows_read"] or 0, r["rows_stored"] or 0,
                        r["rows_quarantined"] or 0, skipped=True)


def _require_file(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", path=str(path))
    if path.is_dir():
        raise InputError("is a directory; give a file (or use a format that reads folders)", path=str(path))


class CsvReader:
    """Any bank-statement or transfer CSV, described by a YAML mapping."""

    name = "csv"
    reads_folders = False
    needs_mapping = True

    def ingest(self, ws, path, *, mapping, legal_basis, force, on_read):
        from moneytrail.ingest.csvfile import load_csv

        _require_file(path)
        if mapping is None:
            raise InputError("format csv needs --mapping MAP.yaml describing the columns "
                             "(see docs/mapping.md)", path=str(path))
        sid, present, sha = _register_source(ws, path, "csv", "transactions",
                                             mapping.model_dump(exclude_none=True), legal_basis, force)
        if present:
            return _skipped(ws, sid, path, "csv", sha)
        counts = load_csv(ws, sid, path, mapping, on_read=on_read)
        _finish_source(ws, sid, counts)
        return IngestResult(sid, str(path), "csv", sha, counts["read"], counts["stored"],
                            counts["quarantined"])


def _amlsim_reader():
    from moneytrail.ingest.amlsim import AmlsimReader
    return AmlsimReader()


def _accounts_reader():
    from moneytrail.ingest.accounts import AccountsReader
    return AccountsReader()


def _labels_reader():
    from moneytrail.ingest.labels import LabelsReader
    return LabelsReader()


FORMATS: dict[str, Callable[[], Reader]] = {
    "csv": CsvReader,
    "amlsim": _amlsim_reader,
    "accounts": _accounts_reader,
    "labels": _labels_reader,
}


def _rollback(ws: Workspace) -> None:
    try:
        ws.con.execute("ROLLBACK")
    except duckdb.Error:
        pass   # the failed statement (a COMMIT) already ended the transaction


def _transaction(ws: Workspace, actor: str | None, fmt: str, path: Path):
    """The ingest's one transaction: recorded in the audit log as an authority-state change when
    the workspace has a log (the sources, their tags and cases are part of the signed state)."""
    from contextlib import contextmanager

    from moneytrail.audit import AuditLog
    from moneytrail.authority import state

    if AuditLog.of(ws).started():
        return state.changing(ws, officer=actor, case=ws.case, change=f"ingest {fmt}")

    @contextmanager
    def plain():
        ws.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            _rollback(ws)
            raise
        try:
            ws.con.execute("COMMIT")
        except BaseException:
            _rollback(ws)
            raise
    return plain()


def ingest_file(ws: Workspace, path: str | Path, fmt: str, *, mapping: Mapping | str | Path | dict | None = None,
                legal_basis: Iterable[str] = (), force: bool = False,
                on_read: Progress | None = None, actor: str | None = None) -> IngestResult:
    """Ingest one evidence file (or an AMLSim folder) into ``ws``, atomically.

    Everything the ingest writes is one transaction: on any failure it is rolled back, and the
    evidence copies it made are removed (``Workspace.settle_evidence``); the run-log row says
    ``failed`` with the error. A full disk (while copying the file or writing the workspace)
    is one :class:`WorkspaceError` line saying where to free space; nothing is stored. A
    process killed in the middle leaves what the next open recovers
    (``moneytrail.workspace.recover_interrupted``).
    """
    import time

    if fmt not in FORMATS:
        raise UnknownFormatError(f"unknown format {fmt!r}: choose one of {', '.join(sorted(FORMATS))}")
    reader = FORMATS[fmt]()
    # a format may have its own mapping model (account registers, labels); CSV's is the default
    if isinstance(mapping, (str, Path)):
        mapping = getattr(reader, "load_mapping", load_mapping)(mapping)
    elif isinstance(mapping, dict):
        mapping = getattr(reader, "parse_mapping", parse_mapping)(mapping)
    p = Path(path)
    t0 = time.perf_counter()
    try:
        run_id = ws.start_run("ingest", {"file": str(p), "format": fmt, "force": force,
                                         "legal_basis": canonical_tags(legal_basis)})
    except duckdb.Error as e:
        if is_disk_full(e):
            raise disk_full_error(ws.path, "writing the workspace's run log") from None
        raise
    tags = canonical_tags(legal_basis)
    ws._ingest_tags_added = []  # tags added to sources already present (see _register_source)
    ws.actor = actor
    try:
        with _transaction(ws, actor, fmt, p):
            res = reader.ingest(ws, p, mapping=mapping, legal_basis=tags, force=force, on_read=on_read)
    except BaseException as e:
        ws.settle_evidence()   # the copies this ingest made are no one's evidence now: removed
        err: BaseException = e
        if is_disk_full(e):
            err = disk_full_error(ws.path, "writing the workspace" if isinstance(e, duckdb.Error)
                                  else f"ingesting {p.name}")
        try:
            ws.finish_run(run_id, error=str(err) or type(err).__name__)
        except duckdb.Error:
            pass   # (the disk is still full) the run stays 'running': the next open marks it failed
        if err is not e:
            raise err from None
        raise
    finally:
        added, ws._ingest_tags_added = ws._ingest_tags_added, None
        ws.actor = None
    ws.settle_evidence()
    res.tags_added = list(dict.fromkeys(added))
    res.seconds = round(time.perf_counter() - t0, 3)
    try:
        ws.finish_run(run_id, res.to_dict())
    except duckdb.Error as e:
        if is_disk_full(e):   # the ingest itself is committed; only its run-log line is not
            raise WorkspaceError(
                f"disk full while writing the run log, after source {res.source_id} was stored: free "
                f"space on {filesystem_of(ws.path.parent)}; the next command marks the run failed") from None
        raise
    return res


NAME = "ingest"


def run(ctx) -> dict:
    """Pipeline calling convention: ingest each of ``ctx.params['files']``.

    Each entry is ``{"path", "format", "mapping" (optional), "legal_basis" (optional), "force"}``.
    """
    results = []
    for f in ctx.params.get("files", []):
        r = ingest_file(ctx.ws, f["path"], f["format"], mapping=f.get("mapping"),
                        legal_basis=f.get("legal_basis", ()), force=f.get("force", False))
        results.append(r.to_dict())
    return {"files": len(results), "read": sum(r["read"] for r in results),
            "stored": sum(r["stored"] for r in results),
            "quarantined": sum(r["quarantined"] for r in results), "results": results}


__all__ = ["FORMATS", "IngestResult", "add_legal_basis", "ingest_file", "Mapping", "load_mapping", "parse_mapping"]
