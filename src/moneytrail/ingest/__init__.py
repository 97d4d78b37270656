"""Stage 1, ingest: parse evidence files, validate every row, quarantine what can't be used.

Public entry point: :func:`ingest_file`. Readers are registered in :data:`FORMATS`
(``csv`` with a YAML mapping, ``amlsim`` for IBM AMLSim output, the banks' statement formats,
``xlsx``, ``accounts``, ``labels``, ``rates`` for the case's exchange rates). Invariant, for every source:
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

from pathlib import Path
from typing import Callable, Iterable, Protocol

import duckdb

from moneytrail.errors import InputError, UnknownFormatError, WorkspaceError
from moneytrail.ingest.mapping import Mapping, load_mapping, parse_mapping
from moneytrail.ingest.sources import (IngestResult, add_legal_basis, canonical_tags, finish_source, register_source,
                                       require_file, skipped)
from moneytrail.workspace import Workspace, disk_full_error, filesystem_of, is_disk_full


Progress = Callable[[int], None]  # called with bytes read since the last call


class Reader(Protocol):
    name: str

    def ingest(self, ws: Workspace, path: Path, *, mapping: Mapping | None, legal_basis: list[str],
               force: bool, on_read: Progress | None, actor: str | None) -> IngestResult:
        """Register the file (:func:`moneytrail.ingest.sources.register_source`, with ``actor``)
        and load its rows; a file already present returns :func:`~moneytrail.ingest.sources.skipped`."""


class CsvReader:
    """Any bank-statement or transfer CSV, described by a YAML mapping."""

    name = "csv"
    reads_folders = False
    needs_mapping = True

    def ingest(self, ws, path, *, mapping, legal_basis, force, on_read, actor=None):
        from moneytrail.ingest.csvfile import load_csv

        require_file(path)
        if mapping is None:
            raise InputError("format csv needs --mapping MAP.yaml describing the columns "
                             "(see docs/mapping.md)", path=str(path))
        if mapping.sheet is not None:
            raise InputError("the mapping names a sheet: that is for --format xlsx", path=str(path))
        reg = register_source(ws, path, "csv", "transactions", mapping.model_dump(exclude_none=True),
                              legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, "csv")
        counts = load_csv(ws, reg.source_id, path, mapping, on_read=on_read)
        return finish_source(ws, reg, path, "csv", counts)


def _amlsim_reader():
    from moneytrail.ingest.amlsim import AmlsimReader
    return AmlsimReader()


def _accounts_reader():
    from moneytrail.ingest.accounts import AccountsReader
    return AccountsReader()


def _labels_reader():
    from moneytrail.ingest.labels import LabelsReader
    return LabelsReader()


class StatementReader:
    """A bank's own statement format (issue 13): ISO 20022 camt.053/052 (``camt``), SWIFT
    MT940/942 (``mt940``), BAI2 (``bai2``), OFX/QFX 1.x and 2.x (``ofx``). The format's module
    in :mod:`moneytrail.ingest.formats` reads the file into records
    (:mod:`moneytrail.ingest.statement`); :mod:`moneytrail.ingest.statements` checks and stores
    them. No mapping: the format says what each field is."""

    reads_folders = False
    needs_mapping = False

    def __init__(self, name: str):
        self.name = name

    def module(self):
        import importlib

        return importlib.import_module(f"moneytrail.ingest.formats.{self.name}")

    def ingest(self, ws, path, *, mapping, legal_basis, force, on_read, actor=None):
        from moneytrail.ingest.statements import load_statements

        require_file(path)
        if mapping is not None:
            raise InputError(f"format {self.name} needs no --mapping: the format names every field", path=str(path))
        mod = self.module()
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if not mod.sniff(head):
            guess = sniff_format(path)
            hint = f" (it looks like {guess}: --format {guess})" if guess and guess != self.name else ""
            raise InputError(f"this is not a {STATEMENT_FORMATS[self.name]} file{hint}", path=str(path))
        reg = register_source(ws, path, self.name, "transactions", None, legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, self.name)
        counts = load_statements(ws, reg.source_id, self.name, mod.read(path))
        if on_read:
            on_read(path.stat().st_size)
        res = finish_source(ws, reg, path, self.name, counts)
        return res


# the statement formats, with the names a user knows them by
STATEMENT_FORMATS = {"camt": "ISO 20022 camt.053/camt.052", "mt940": "SWIFT MT940/MT942",
                     "bai2": "BAI2", "ofx": "OFX/QFX"}
SNIFF_BYTES = 8192


def sniff_format(path: Path) -> str | None:
    """The format a file's content says it is (``camt``, ``mt940``, ``bai2``, ``ofx``, ``xlsx``,
    ``efw2``), or None. A folder holding AMLSim's files is ``amlsim``."""
    import importlib

    if path.is_dir():
        return "amlsim" if (path / "transactions.csv").exists() or (path / "tx.csv").exists() else None
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if b"xl/" in head or b"[Content_Types].xml" in head else None
    for name in STATEMENT_FORMATS:
        try:
            mod = importlib.import_module(f"moneytrail.ingest.formats.{name}")
        except ImportError:       # pragma: no cover - every format ships with the package
            continue
        if mod.sniff(head):
            return name
    from moneytrail.ingest import efw2

    if efw2.sniff(head):
        return "efw2"
    return None


def resolve_format(path: Path, fmt: str, has_mapping: bool) -> str:
    """``fmt``, or for ``auto`` the format the file's content says (:func:`sniff_format`); text
    that is none of the recognised formats is ``csv`` when a mapping is given."""
    if fmt != "auto":
        return fmt
    if not path.exists():
        raise InputError("file not found", path=str(path))
    found = sniff_format(path)
    if found is None:
        if has_mapping:
            return "csv"        # text with a mapping: the mapping says how to read it
        raise InputError("could not tell the format from the content (camt, mt940, bai2, ofx, xlsx and efw2 are "
                         "recognised; a CSV needs --mapping): give --format", path=str(path))
    return found


def _rates_reader():
    from moneytrail.ingest.rates import RatesReader
    return RatesReader()


def _xlsx_reader():
    from moneytrail.ingest.xlsx import XlsxReader
    return XlsxReader()


def _records_reader(name: str) -> Callable[[], Reader]:
    def make():
        from moneytrail.ingest.records import KINDS, RecordsReader
        return RecordsReader(KINDS[name])
    return make


#: employer and contract records (issue 17; moneytrail.ingest.records, docs/records.md)
RECORD_FORMATS = {"payroll": "payroll register", "w2": "W-2 listing", "form941": "Form 941 quarters",
                  "uiwage": "state UI wage records", "usaspending": "USAspending contract transactions",
                  "sam": "SAM.gov entity registrations", "vendors": "vendor master",
                  "payments": "payment ledger", "officials": "agency staff list"}


def _statement_reader(name: str) -> Callable[[], Reader]:
    return lambda: StatementReader(name)


def _efw2_reader():
    from moneytrail.ingest.efw2 import Efw2Reader
    return Efw2Reader()


FORMATS: dict[str, Callable[[], Reader]] = {
    "csv": CsvReader,
    "amlsim": _amlsim_reader,
    "accounts": _accounts_reader,
    "labels": _labels_reader,
    "xlsx": _xlsx_reader,
    "rates": _rates_reader,
    **{name: _statement_reader(name) for name in STATEMENT_FORMATS},
    **{name: _records_reader(name) for name in RECORD_FORMATS},
    "efw2": _efw2_reader,     # SSA EFW2 W-2 files (moneytrail.ingest.efw2)
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

    p = Path(path)
    fmt = resolve_format(p, fmt, mapping is not None)
    if fmt not in FORMATS:
        raise UnknownFormatError(f"unknown format {fmt!r}: choose one of {', '.join(sorted([*FORMATS, 'auto']))}")
    reader = FORMATS[fmt]()
    # a format may have its own mapping model (account registers, labels); CSV's is the default
    if isinstance(mapping, (str, Path)):
        mapping = getattr(reader, "load_mapping", load_mapping)(mapping)
    elif isinstance(mapping, dict):
        mapping = getattr(reader, "parse_mapping", parse_mapping)(mapping)
    t0 = time.perf_counter()
    try:
        run_id = ws.start_run("ingest", {"file": str(p), "format": fmt, "force": force,
                                         "legal_basis": canonical_tags(legal_basis)})
    except duckdb.Error as e:
        if is_disk_full(e):
            raise disk_full_error(ws.path, "writing the workspace's run log") from None
        raise
    tags = canonical_tags(legal_basis)
    try:
        with _transaction(ws, actor, fmt, p):
            res = reader.ingest(ws, p, mapping=mapping, legal_basis=tags, force=force, on_read=on_read,
                                actor=actor)
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
    ws.settle_evidence()
    # tags added to sources already present: the file's, and those of the files read with it
    res.tags_added = list(dict.fromkeys([*res.tags_added, *(t for r in res.related for t in r.get("tags_added", ()))]))
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


__all__ = ["FORMATS", "IngestResult", "STATEMENT_FORMATS", "resolve_format", "sniff_format", "add_legal_basis", "canonical_tags", "ingest_file", "Mapping", "load_mapping",
           "parse_mapping"]
