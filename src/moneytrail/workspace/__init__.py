"""The case workspace: one DuckDB file per investigation, a versioned schema, an evidence folder.

``Workspace.open(path)`` creates the file if needed and applies any pending migrations from
``workspace/migrations/NNNN_name.sql`` in order, recording each in ``schema_migrations``.
A workspace written by a newer moneytrail (a schema version this code does not know) is
refused rather than silently misread.

Original evidence files are copied into ``<workspace stem>.evidence/sha256/ab/<sha256>``
beside the workspace file, made read-only, and never changed afterwards.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import duckdb

from moneytrail import __version__
from moneytrail.errors import WorkspaceError
from moneytrail.sqlkit import harden, ident, lit

DEFAULT_WORKSPACE = "moneytrail.duckdb"
PENDING_MARKER = ".pending"   # in the evidence folder while new copies are not yet settled
INTERRUPTED = "interrupted: the process ended before the run finished"
ENV_WORKSPACE = "MONEYTRAIL_WORKSPACE"
TX_ID_STRIDE = 10_000_000_000  # tx_id = source_id * TX_ID_STRIDE + source_row


def resolve_path(path: str | os.PathLike | None) -> Path:
    """The workspace path: explicit argument, else $MONEYTRAIL_WORKSPACE, else ./moneytrail.duckdb."""
    if path:
        return Path(path)
    env = os.environ.get(ENV_WORKSPACE)
    return Path(env) if env else Path(DEFAULT_WORKSPACE)


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files("moneytrail.workspace").joinpath("migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out)


SCHEMA_VERSION = max(v for v, _, _ in _migrations())


def memory_limit() -> str:
    """DuckDB's memory cap: $MONEYTRAIL_MEMORY_LIMIT, else 40 % of this machine's RAM (max 16 GB).

    Past it DuckDB spills to disk beside the workspace instead of growing, so a run's memory
    stays bounded whatever the data."""
    env = os.environ.get("MONEYTRAIL_MEMORY_LIMIT")
    if env:
        return env
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, min(16, int(total * 0.4 / 2**30)))}GB"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass
class Run:
    run_id: int
    command: str
    summary: dict[str, Any]


def serving_marker(path: str | os.PathLike) -> Path:
    """The file a server leaves beside a workspace it serves (moneytrail serve)."""
    p = Path(path)
    return p.with_name(p.name + ".serving")


def served_by(path: str | os.PathLike) -> str | None:
    """The address of the server (another process, still running) that owns this workspace, if any."""
    m = serving_marker(path)
    try:
        info = json.loads(m.read_text())
        pid, address = int(info["pid"]), str(info["address"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None                     # a server that ended without tidying up
    except PermissionError:
        pass
    return address


class Workspace:
    """An open case workspace. Use as a context manager or call ``close()``."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection):
        self.path = path
        self.con = con
        self.authority_epoch = 0  # bumped by every change access decisions depend on

    def authority_changed(self) -> None:
        """Say that something access decisions read changed (the registry, a source's legal-basis
        tags), so the next decision reads it afresh (see moneytrail.authority.decide)."""
        self.authority_epoch += 1

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike | None = None, *, create: bool = True,
             read_only: bool = False) -> "Workspace":
        p = resolve_path(path)
        server = served_by(p)
        if server:
            raise WorkspaceError(f"{p} is served by moneytrail serve at {server}: work in the web app there, "
                                 f"or stop the server first")
        if not p.exists():
            if not create:
                raise WorkspaceError(
                    f"no workspace at {p}: start one with moneytrail authority init (or authority import "
                    f"TASKFORCE.yaml), open a case, then ingest; or pass --workspace PATH")
            if p.parent and not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
        elif p.is_dir():
            raise WorkspaceError(f"{p} is a directory, not a workspace file")
        elif p.stat().st_size:
            # DuckDB would open an existing CSV/Parquet/JSON file as a throw-away in-memory
            # database, and a command would "succeed" and keep nothing. DuckDB files say DUCK
            # at byte 8.
            with open(p, "rb") as f:
                if f.read(12)[8:12] != b"DUCK":
                    raise WorkspaceError(f"{p} is not a moneytrail workspace (not a DuckDB database "
                                         f"file); pass --workspace CASE.duckdb")
        try:
            con = duckdb.connect(str(p), read_only=read_only and p.exists())
        except duckdb.Error as e:  # corrupt file, not a DuckDB file, locked by another process
            raise WorkspaceError(f"cannot open workspace {p}: {str(e).splitlines()[0]}") from None
        con.execute("SET TimeZone = 'UTC'")
        harden(con)                                       # no optimizer known to give wrong answers
        con.execute("SET enable_progress_bar = false")  # never mixed into CLI or JSON output
        con.execute(f"SET memory_limit = {lit(memory_limit())}")
        con.execute("SET enable_external_access = false")
        ws = cls(p, con)
        if not (read_only and p.exists()):
            ws.migrate()
        else:
            ws._check_version()
        if not (read_only and p.exists()):
            recover_interrupted(ws)
        return ws

    def close(self) -> None:
        for cw in self.__dict__.pop("_case_views", {}).values():
            cw.close()
        try:
            self.con.close()
        except duckdb.Error:
            pass

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------
    def schema_version(self) -> int:
        has = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchall()[0][0]
        if not has:
            return 0
        return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]

    def _check_version(self) -> int:
        v = self.schema_version()
        if v > SCHEMA_VERSION:
            raise WorkspaceError(
                f"workspace {self.path} has schema version {v}, newer than this moneytrail "
                f"({__version__}, schema {SCHEMA_VERSION}): upgrade moneytrail")
        return v

    def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in its own transaction. Returns versions applied."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
            "applied_at TIMESTAMPTZ, moneytrail_version VARCHAR)")
        self._check_version()
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, sql in _migrations():
            if version in done:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                                 [version, name, now_utc(), __version__])
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise
            applied.append(version)
        return applied

    # -- evidence folder ---------------------------------------------------------------------
    @property
    def evidence_dir(self) -> Path:
        stem = self.path.name
        if stem.endswith(".duckdb"):
            stem = stem[: -len(".duckdb")]
        return self.path.parent / f"{stem}.evidence"

    def store_evidence(self, src: Path, sha256: str, *, seal_key: bytes | None = None) -> str:
        """Copy ``src`` into the content-addressed evidence folder (once); return its relative path.

        A new copy is *pending* until the transaction that records its source ends: before the
        copy starts, the marker file ``.pending`` is written in the evidence folder, and
        :meth:`settle_evidence` (called by ingest once the transaction committed or rolled back)
        removes the new copies no source references, then the marker. A process killed in
        between leaves the marker, and the next writable open (:func:`recover_interrupted`)
        removes what no source references. The copy is written as ``<sha256>.partial`` and
        renamed when complete and verified. A full disk is a :class:`WorkspaceError` saying so
        (:func:`disk_full_error`), with nothing of the copy left.

        With ``seal_key`` (a source holding federal tax information) the copy is sealed at rest,
        ``<sha256>.enc`` (:mod:`moneytrail.workspace.sealed`), and checked by decrypting it.
        """
        rel = Path("sha256") / sha256[:2] / (sha256 + (".enc" if seal_key else ""))
        dest = self.evidence_dir / rel
        if dest.exists():
            return rel.as_posix()
        tmp = dest.with_name(dest.name + ".partial")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            marker = self.evidence_dir / PENDING_MARKER
            if not marker.exists():
                marker.write_text(f"{os.getpid()}\n", encoding="utf-8")
            _IN_FLIGHT.add(_key(self.evidence_dir))
            self.__dict__.setdefault("_new_evidence", []).append(rel.as_posix())
            try:
                if seal_key:
                    from moneytrail.workspace.sealed import open_sealed, seal

                    seal(src, tmp, seal_key, sha256)
                    try:
                        for _ in open_sealed(tmp, seal_key, sha256):
                            pass
                    except ValueError:
                        raise WorkspaceError(f"{src} changed while it was being sealed into the evidence "
                                             f"folder") from None
                else:
                    shutil.copyfile(src, tmp)
                    if sha256_file(tmp) != sha256:
                        raise WorkspaceError(f"{src} changed while it was being copied into the evidence folder")
                os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(self.path, f"copying {Path(src).name} into the evidence folder") from None
            raise WorkspaceError(f"cannot copy {src} into the evidence folder {self.evidence_dir}: "
                                 f"{e.strerror or e}") from None
        return rel.as_posix()

    def settle_evidence(self) -> list[str]:
        """After the transaction that recorded the sources of new evidence copies committed or
        rolled back: remove the new copies no source references (a rolled-back ingest's), then
        the pending marker. Returns the removed paths. If the workspace cannot be read now (the
        engine failed), nothing is removed and the marker stays: the next open recovers."""
        new = self.__dict__.pop("_new_evidence", [])
        removed = []
        try:
            for rel in dict.fromkeys(new):
                if not self.con.execute("SELECT count(*) FROM main.sources WHERE evidence_path = ?",
                                        [rel]).fetchall()[0][0]:
                    self.evidence_file(rel).unlink(missing_ok=True)
                    removed.append(rel)
        except duckdb.Error:
            return removed
        finally:
            _IN_FLIGHT.discard(_key(self.evidence_dir))
        (self.evidence_dir / PENDING_MARKER).unlink(missing_ok=True)
        return removed

    def evidence_file(self, rel: str) -> Path:
        return self.evidence_dir / rel

    # -- staging ---------------------------------------------------------------------------------
    @property
    def staging_dir(self) -> Path:
        """``<workspace stem>.staging`` beside the workspace: where an ingest keeps the rows it has
        read on disk until it publishes them in its transaction (:meth:`staging`)."""
        stem = self.path.name
        if stem.endswith(".duckdb"):
            stem = stem[: -len(".duckdb")]
        return self.path.parent / f"{stem}.staging"

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A private folder (mode 0700) under :attr:`staging_dir`, named after this process
        (``ingest-<pid>-...``), removed with what it holds when the block ends, however it ends.
        Beside the workspace rather than in the system's temporary folder: what is staged is the
        evidence's content, kept where the workspace is. A process killed meanwhile leaves it; the
        next open for writing removes it (:func:`recover_interrupted`)."""
        import tempfile

        base = self.staging_dir
        base.mkdir(mode=0o700, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"ingest-{os.getpid()}-", dir=base))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            try:
                base.rmdir()      # only if no other ingest of this process stages there now
            except OSError:
                pass

    def evidence_key(self) -> bytes:
        """The key sealing this workspace's FTI evidence copies (from the secret beside its
        signing key: :mod:`moneytrail.workspace.sealed`)."""
        from moneytrail.audit import AuditLog, keys
        from moneytrail.workspace.sealed import evidence_key

        return evidence_key(keys.secret(AuditLog.of(self).log_id, create=True))

    def seal_evidence(self, source_id: int) -> str | None:
        """Seal a source's plaintext evidence copy (it was found to hold FTI after it was ingested):
        the sealed copy is written and recorded; the plaintext one is removed once the transaction
        ends, unless another source still points to it (:meth:`settle_evidence`). Returns the new
        path, or None if the copy was sealed already."""
        row = self.con.execute("SELECT evidence_path, sha256 FROM main.sources WHERE source_id = ?",
                               [source_id]).fetchall()
        row = row[0] if row else None
        if row is None or row[0].endswith(".enc"):
            return None
        rel, sha = row
        plain = self.evidence_file(rel)
        if not plain.is_file():
            raise WorkspaceError(f"the evidence copy of source {source_id} is missing ({plain})")
        new = self.store_evidence(plain, sha, seal_key=self.evidence_key())
        self.con.execute("UPDATE main.sources SET evidence_path = ? WHERE source_id = ?", [new, source_id])
        self.__dict__.setdefault("_new_evidence", []).append(rel)   # checked, and removed if unused, at settle
        return new

    # -- run log -----------------------------------------------------------------------------
    def start_run(self, command: str, parameters: dict[str, Any] | None = None) -> int:
        run_id = self.con.execute("SELECT nextval('seq_run')").fetchall()[0][0]
        self.con.execute(
            "INSERT INTO runs (run_id, command, started_at, status, parameters, version) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            [run_id, command, now_utc(), json.dumps(parameters or {}, default=str), __version__])
        return run_id

    def finish_run(self, run_id: int, summary: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE run_id = ?",
            [now_utc(), "failed" if error else "ok", json.dumps(summary or {}, default=str), error,
             run_id])

    # -- convenience -------------------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: list | None = None) -> Any:
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def records(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def table_exists(self, name: str) -> bool:
        """Whether ``name`` is a table or view of this workspace's schema (``main``, or the case's:
        another schema's table of that name does not count)."""
        return bool(self.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
            [name]))

    # -- cases -----------------------------------------------------------------------------
    case: str | None = None      # the case a case workspace is confined to (None: the whole workspace)

    def for_case(self, case_id: str) -> "Workspace":
        """This workspace as one case sees it (:mod:`moneytrail.workspace.cases`): a connection
        whose unqualified names reach only the case's own sources and what was derived from
        them. Kept per case for as long as this workspace is open."""
        from moneytrail.workspace.cases import CaseWorkspace

        views = self.__dict__.setdefault("_case_views", {})
        cw = views.get(case_id)
        if cw is None:
            cw = views[case_id] = CaseWorkspace(self, case_id)
        return cw

    def counts(self) -> dict[str, int]:
        out = {}
        for t in ("sources", "accounts", "transactions", "quarantine", "findings", "labels", "runs"):
            out[t] = int(self.scalar(f"SELECT count(*) FROM {t}"))
        return out

    def iter_sources(self) -> Iterator[dict[str, Any]]:
        yield from self.records("SELECT * FROM sources ORDER BY source_id")


# -- recovery after a killed process, and a full disk ------------------------------------------

# evidence folders (absolute) with a copy in flight in this process: recovery leaves them alone
_IN_FLIGHT: set[str] = set()
_HEX64 = re.compile(r"[0-9a-f]{64}(\.enc)?(\.partial)?")


def _key(folder: Path) -> str:
    return os.path.abspath(folder)


def _stale_staging(base: Path) -> list[Path]:
    """The staging folders (:meth:`Workspace.staging`) under ``base`` whose process has ended.
    One ``stat`` when there is none."""
    if not base.is_dir():
        return []
    out = []
    for d in sorted(base.iterdir()):
        m = re.fullmatch(r"ingest-(\d+)-\w+", d.name)
        if not (m and d.is_dir()):
            continue          # not a folder moneytrail makes: never touched
        pid = int(m.group(1))
        if pid == os.getpid():
            continue          # this process's own ingest, in flight
        try:
            os.kill(pid, 0)
            continue          # its process still runs
        except ProcessLookupError:
            out.append(d)
        except PermissionError:
            continue          # a process of another user holds that id: not ours to judge
    return out


def recover_interrupted(ws: Workspace) -> dict[str, Any]:
    """Undo what a process killed in the middle of a command left behind; called by
    :meth:`Workspace.open` on every open for writing.

    DuckDB lets one process at a time open a workspace for writing, so when this one does, no
    other process can be in the middle of a run. What a killed one (SIGKILL, power cut, OOM
    killer) leaves:

    * ``runs`` rows still ``running``: marked ``failed``, with the error :data:`INTERRUPTED`
      and the time of the recovery as ``finished_at``;
    * evidence copies that no ``sources.evidence_path`` references (an ingest copied the file,
      then died before its transaction committed, so the copy never became evidence; the
      original stays with the user) and ``*.partial`` files (a copy cut short): removed.
      They can only exist while the ``.pending`` marker does (see
      :meth:`Workspace.store_evidence`), so the evidence folder is walked only then;
    * the folder in which a killed ingest staged the rows it had read (:meth:`Workspace.staging`,
      named after its process, which has ended): removed.

    When something was recovered, a ``recover`` run records what. Cost when nothing needs it:
    one query and two ``stat`` calls. Nothing is done while this process itself has another
    connection on the workspace in the middle of an ingest (its copy is in flight).

    Every run log is covered: main's and each case schema's (:mod:`moneytrail.workspace.cases`).
    """
    out: dict[str, Any] = {"runs_failed": [], "evidence_removed": []}
    folder = ws.evidence_dir
    if _key(folder) in _IN_FLIGHT:
        return out
    try:
        # the run logs: main's and each case's (moneytrail.workspace.cases)
        logs = [r[0] for r in ws.con.execute("SELECT schema_name FROM duckdb_tables() WHERE table_name = 'runs' "
                                             "AND NOT temporary ORDER BY schema_name = 'main' DESC, schema_name"
                                             ).fetchall()]
        running = {}
        for schema in logs:
            ids = [r[0] for r in ws.con.execute(f"SELECT run_id FROM {ident(schema)}.runs WHERE status = 'running' "
                                                f"ORDER BY run_id").fetchall()]
            if ids:
                running[schema] = ids
        pending = (folder / PENDING_MARKER).exists()
        stale = _stale_staging(ws.staging_dir)
        if not running and not pending and not stale:
            return out
        for d in stale:
            shutil.rmtree(d, ignore_errors=True)
        if stale:
            out["staging_removed"] = [d.name for d in stale]
            try:
                ws.staging_dir.rmdir()
            except OSError:
                pass
        for schema in running:
            ws.con.execute(f"UPDATE {ident(schema)}.runs SET status = 'failed', finished_at = ?, error = ? "
                           f"WHERE status = 'running'", [now_utc(), INTERRUPTED])
        out["runs_failed"] = running.get("main", []) + [i for s, ids in running.items() if s != "main" for i in ids]
        if pending:
            referenced = {r[0] for r in ws.con.execute("SELECT evidence_path FROM main.sources").fetchall()}
            base = folder / "sha256"
            for sub in sorted(base.iterdir()) if base.is_dir() else []:
                if not sub.is_dir():
                    continue
                for f in sorted(sub.iterdir()):
                    if not (f.is_file() and _HEX64.fullmatch(f.name)):
                        continue  # not a copy moneytrail makes: never touched
                    rel = f.relative_to(folder).as_posix()
                    if f.name.endswith(".partial") or rel not in referenced:
                        f.unlink()
                        out["evidence_removed"].append(rel)
                try:
                    sub.rmdir()   # only if it is empty now
                except OSError:
                    pass
            (folder / PENDING_MARKER).unlink(missing_ok=True)
        run_id = ws.start_run("recover", {"reason": INTERRUPTED})
        ws.finish_run(run_id, out)
    except (duckdb.Error, OSError) as e:
        if is_disk_full(e):
            raise disk_full_error(ws.path, "recovering from an interrupted command") from None
        raise
    return out


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` says the disk (or the user's quota) is full: an OSError with errno
    ENOSPC / EDQUOT, or an engine error whose message says so."""
    import errno

    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if isinstance(e, duckdb.Error):
        msg = str(e).lower()
        return "no space left on device" in msg or "disk quota exceeded" in msg
    return False


def filesystem_of(path: Path) -> str:
    """The mount point of the filesystem holding ``path``."""
    p = os.path.abspath(path)
    while not os.path.ismount(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def disk_full_error(workspace: Path, doing: str) -> WorkspaceError:
    """The one line a full disk gives: what was being done, where to free space, and that
    nothing was stored (the caller rolled back and removed what it had copied)."""
    return WorkspaceError(f"disk full while {doing}: free space on {filesystem_of(Path(workspace).parent)} "
                          f"(the filesystem of the workspace {workspace}) and run the command again; "
                          f"nothing was stored")
