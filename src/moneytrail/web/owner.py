"""The server owns the workspace: one DuckDB connection for the whole process (DuckDB has one
writer), every read and write through :class:`moneytrail.Session`.

Page requests are served by a small pool of workspace handles (``pages``, 4 by default), each a
connection to the same database (a DuckDB cursor) with its own audit-log handle and decision
cache, one request at a time each: pages run side by side (DuckDB runs queries outside Python's
lock), their audit appends ordered by the log's file lock exactly as two processes' would be. A
background job gets a handle of its own the same way, so a long detection or ingest runs beside
the pages: DuckDB's transactions keep them apart.

While it serves, the server leaves ``<workspace>.serving`` beside the workspace with its address
and process id: a CLI command on the workspace is refused with one line naming the address
(:func:`moneytrail.workspace.served_by`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Iterator, Sequence

from moneytrail.session import Session
from moneytrail.workspace import Workspace, serving_marker


class Owner:
    def __init__(self, path: str | os.PathLike, *, pages: int = 4):
        self.path = Path(path)
        self.ws = Workspace.open(self.path, create=False)
        self.lock = threading.RLock()          # the main handle: sign-in and registry bookkeeping
        self._marker: Path | None = None
        self._pool: queue.Queue = queue.Queue()
        self._handles: list[Workspace] = []
        for _ in range(max(1, pages)):
            h = self._handle()
            self._handles.append(h)
            self._pool.put(h)

    def _handle(self) -> Workspace:
        cur = self.ws.con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return Workspace(self.path, cur)

    @contextlib.contextmanager
    def session(self, officer: str, case: str | None, command: Sequence[str]) -> Iterator[Session]:
        """A Session for one request, on a page handle of the pool (waiting for a free one)."""
        from moneytrail import _timing

        t0 = time.perf_counter()
        ws = self._pool.get()
        _timing.add("wait", time.perf_counter() - t0)
        try:
            yield Session(ws, officer, case, command=command)
        finally:
            self._pool.put(ws)

    @contextlib.contextmanager
    def handle(self) -> Iterator[Workspace]:
        """A page handle of the pool for the server's own bookkeeping (is a login still there?)."""
        ws = self._pool.get()
        try:
            yield ws
        finally:
            self._pool.put(ws)

    @contextlib.contextmanager
    def job_session(self, officer: str, case: str | None, command: Sequence[str]) -> Iterator[Session]:
        """A Session for a background job: its own connection to the database."""
        ws = self._handle()
        try:
            yield Session(ws, officer, case, command=command)
        finally:
            _close_handle(ws)

    def mark_serving(self, address: str) -> None:
        m = serving_marker(self.path)
        m.write_text(json.dumps({"address": address, "pid": os.getpid()}) + "\n")
        self._marker = m

    def close(self) -> None:
        if self._marker is not None:
            with contextlib.suppress(FileNotFoundError):
                self._marker.unlink()
            self._marker = None
        for h in self._handles:
            _close_handle(h)
        with self.lock:
            self.ws.close()


def _close_handle(ws: Workspace) -> None:
    from moneytrail.audit import AuditLog

    AuditLog.of(ws).close()
    ws.con.close()
