"""A source's record, shared by every reader: registering the file (its evidence copy, its
legal-basis tags, its case), finishing its row accounting, and the result an ingest returns.

Every reader (``csv``, ``accounts``, ``labels``, ``amlsim``) calls :func:`register_source` first;
what it returns says whether the file is already a source (then nothing is re-read: the reader
returns :func:`skipped`), which legal-basis tags that added, and the source id to load rows
under. Nothing is kept on the workspace object: what a call learns, it returns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from moneytrail.errors import InputError, WorkspaceError
from moneytrail.workspace import Workspace, now_utc, sha256_file


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


class Registered(NamedTuple):
    """What :func:`register_source` did: the source id, whether the file was already a source
    (nothing to read), its SHA-256, and the legal-basis tags it added to that present source."""

    source_id: int
    present: bool
    sha256: str
    tags_added: list[str]


def canonical_tags(tags: Iterable[str]) -> list[str]:
    """Legal-basis tags in canonical form; outside the vocabulary: an InputError naming it."""
    from moneytrail.authority.legal import canonical_tags as canon

    try:
        return canon(tags)
    except ValueError as e:
        raise InputError(str(e)) from None


def register_source(ws: Workspace, path: Path, fmt: str, role: str, mapping: dict | None,
                    legal_basis: Iterable[str], force: bool, *, actor: str | None = None) -> Registered:
    """Record ``path`` as a source of ``ws`` (its case's, for a case workspace; ``actor`` is who
    added it to the case) and copy it into the evidence folder; or, when the same file (SHA-256,
    format, role) is already a source and not ``force``, add the tags given now and say it is
    present. ``force`` re-reads a present source under its id (its rows are deleted here)."""
    sha = sha256_file(path)
    rows = ws.con.execute("SELECT source_id, legal_basis FROM sources WHERE sha256 = ? AND format = ? "
                          "AND role = ? AND withdrawn_at IS NULL", [sha, fmt, role]).fetchall()
    row = rows[0] if rows else None
    if row and not force:
        # the same file again: nothing is re-read, but tags given now are added (a source found
        # to hold protected data after it was ingested must be able to say so)
        return Registered(row[0], True, sha, add_legal_basis(ws, row[0], legal_basis))
    # a new copy is settled by ingest_file (kept or removed); federal tax information is sealed
    from moneytrail.authority.legal import classify_tags

    fti = classify_tags(canonical_tags(legal_basis))["fti"] or (row is not None and classify_tags(row[1] or [])["fti"])
    rel = ws.store_evidence(path, sha, seal_key=ws.evidence_key() if fti else None)
    if row:
        sid = row[0]
        from moneytrail.workspace.cases import RECORD_TABLES

        for t in ("transactions", "quarantine", "labels", "account_records", "statements",
                  "fx_rates", *RECORD_TABLES):
            ws.con.execute(f"DELETE FROM main.{t} WHERE source_id = ?", [sid])
        ws.con.execute(
            "UPDATE main.sources SET ingest_count = ingest_count + 1, received_at = ?, mapping = ?, "
            "original_path = ? WHERE source_id = ?",
            [now_utc(), json.dumps(mapping) if mapping else None, str(path.resolve()), sid])
        add_legal_basis(ws, sid, legal_basis)   # tags given earlier are kept
        return Registered(sid, False, sha, [])
    # the next id inside the ingest's transaction (a sequence would be used up by a failed ingest,
    # leaving a hole in the numbering an investigator cites): one writer at a time, so no race
    sid = ws.con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM main.sources").fetchall()[0][0]
    now = now_utc()
    ws.con.execute(
        "INSERT INTO main.sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, "
        "format, role, mapping, legal_basis, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [sid, path.name, str(path.resolve()), rel, path.stat().st_size, sha, fmt, role,
         json.dumps(mapping) if mapping else None, canonical_tags(legal_basis), now])
    if ws.case is not None:
        ws.con.execute("INSERT INTO main.source_cases VALUES (?, ?, 'ingest', ?, ?)", [sid, ws.case, now, actor])
    ws.authority_changed()
    return Registered(sid, False, sha, [])


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


def finish_source(ws: Workspace, reg: Registered, path: Path, fmt: str, counts: dict[str, int]) -> IngestResult:
    """Record a loaded source's row accounting (read = stored + quarantined) and when it ended;
    the ingest's result."""
    ws.con.execute(
        "UPDATE main.sources SET rows_read = ?, rows_stored = ?, rows_quarantined = ?, ingested_at = ? "
        "WHERE source_id = ?",
        [counts["read"], counts["stored"], counts["quarantined"], now_utc(), reg.source_id])
    return IngestResult(reg.source_id, str(path), fmt, reg.sha256, counts["read"], counts["stored"],
                        counts["quarantined"])


def skipped(ws: Workspace, reg: Registered, path: Path, fmt: str) -> IngestResult:
    """The result for a file that was already a source: its earlier counts, and the tags added."""
    r = ws.records("SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?",
                   [reg.source_id])[0]
    return IngestResult(reg.source_id, str(path), fmt, reg.sha256, r["rows_read"] or 0, r["rows_stored"] or 0,
                        r["rows_quarantined"] or 0, skipped=True, tags_added=list(reg.tags_added))


def require_file(path: Path) -> None:
    """A readable file (not a folder) must be there."""
    if not path.exists():
        raise InputError("file not found", path=str(path))
    if path.is_dir():
        raise InputError("is a directory; give a file (or use a format that reads folders)", path=str(path))
