"""The server owns the workspace: one DuckDB connection for the whole process (DuckDB has one
writer), every read and write through :class:`moneytrail.Session`.

Page requests share the server's workspace under one lock (a page is short); a background job
gets its own connection to the same database (a DuckDB cursor) and its own audit-log handle, so
a long detection or ingest runs beside the pages: DuckDB's transactions keep the two apart, and
the audit log's file lock orders their entries exactly as it orders two processes'.

While it serves, the server leaves ``<workspace>.serving`` beside the workspace with its address
and process id: a CLI command on the workspace is refused with one line naming the address
(:func:`moneytrail.workspace.served_by`).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Iterator, Sequence

from moneytrail.session import Session
from moneytrail.workspace import Workspace, serving_marker


class Owner:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.ws = Workspace.open(self.path, create=False)
        self.lock = threading.RLock()
        self._marker: Path | None = None

    @contextlib.contextmanager
    def session(self, officer: str, case: str | None, command: Sequence[str]) -> Iterator[Session]:
        """A Session for one request, on the server's workspace, under the page lock."""
        with self.lock:
            yield Session(self.ws, officer, case, command=command)

    @contextlib.contextmanager
    def job_session(self, officer: str, case: str | None, command: Sequence[str]) -> Iterator[Session]:
        """A Session for a background job: its own connection to the database."""
        cur = self.ws.con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        ws = Workspace(self.path, cur)
        s = Session(ws, officer, case, command=command)
        try:
            yield s
        finally:
            from moneytrail.audit import AuditLog

            AuditLog.of(ws).close()
            cur.close()

    def mark_serving(self, address: str) -> None:
        m = serving_marker(self.path)
        m.write_text(json.dumps({"address": address, "pid": os.getpid()}) + "\n")
        self._marker = m

    def close(self) -> None:
        if self._marker is not None:
            with contextlib.suppress(FileNotFoundError):
                self._marker.unlink()
            self._marker = None
        with self.lock:
            self.ws.close()
