"""Background jobs: long work (an uploaded file's ingest, detection, scoring, a trace, the report)
runs on a worker thread with its own connection to the workspace while pages keep answering.

A job belongs to the officer and case that started it (nobody else sees it); it reports progress
as lines and, where it can tell, a fraction done; its outcome is a short summary or a one-line
error. The work itself is a :class:`moneytrail.Session` command, decided and recorded exactly as
the CLI's: the job adds nothing but the thread.
"""

from __future__ import annotations

import itertools
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from moneytrail.errors import MoneytrailError

log = logging.getLogger("moneytrail.web")


@dataclass
class Job:
    id: str
    kind: str
    officer: str
    case: str | None
    title: str
    state: str = "queued"               # queued | running | done | failed
    fraction: float | None = None
    lines: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    seq: int = 0

    def progress(self, line: str | None = None, fraction: float | None = None) -> None:
        if line:
            self.lines.append(str(line)[:500])
            del self.lines[:-50]
        if fraction is not None:
            self.fraction = max(0.0, min(1.0, float(fraction)))

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


class JobRunner:
    """One worker thread; jobs run in the order started."""

    def __init__(self, owner):
        self.owner = owner
        self._jobs: dict[str, Job] = {}
        self._q: queue.Queue = queue.Queue()
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="moneytrail-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, officer: str, case: str | None, title: str,
               fn: Callable[[Any, Job], dict[str, Any] | None], command: tuple[str, ...]) -> Job:
        job = Job(secrets.token_urlsafe(9), kind, officer, case, title, seq=next(self._count))
        with self._lock:
            self._jobs[job.id] = job
        self._q.put((job, fn, command))
        return job

    def get(self, job_id: str, officer: str) -> Job | None:
        j = self._jobs.get(job_id)
        return j if j is not None and j.officer == officer else None

    def of(self, officer: str, case: str | None) -> list[Job]:
        with self._lock:
            js = [j for j in self._jobs.values() if j.officer == officer and j.case == case]
        return sorted(js, key=lambda j: -j.seq)

    def wait_idle(self, timeout: float = 60) -> bool:
        """Wait until no job is queued or running (tests, shutdown)."""
        end = time.time() + timeout
        while time.time() < end:
            if all(not j.active for j in list(self._jobs.values())) and self._q.empty():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        self._q.put(None)

    def _work(self) -> None:
        from moneytrail.authority import AccessDenied

        while True:
            item = self._q.get()
            if item is None:
                return
            job, fn, command = item
            job.state, job.started = "running", time.time()
            try:
                with self.owner.job_session(job.officer, job.case, command) as s:
                    job.result = fn(s, job) or {}
                job.state = "done"
                job.fraction = 1.0
            except AccessDenied as e:
                job.state, job.error = "failed", f"refused: {e}"
            except MoneytrailError as e:
                job.state, job.error = "failed", str(e).splitlines()[0] if str(e) else type(e).__name__
            except Exception as e:          # logged in full on the server, one line to the page
                log.exception("job %s (%s) failed", job.id, job.kind)
                job.state, job.error = "failed", f"internal error ({type(e).__name__}): see the server's log"
            finally:
                job.finished = time.time()
