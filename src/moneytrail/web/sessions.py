"""Server-side sessions: the browser holds only a random id; the server knows who it is.

A session id is 256 random bits, sent in a ``Secure; HttpOnly; SameSite=Lax`` cookie and kept
on the server only as its SHA-256 (a memory dump gives no usable cookie). Every session has its
own CSRF token. Signing in replaces the session by a new one (no fixation); a session ends after
``idle`` without a request (15 minutes by default) and ``absolute`` after it was signed in
(12 hours), whatever its use. Sessions live in the server's memory: restarting the server signs
everyone out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

COOKIE = "mt_session"


@dataclass
class WebSession:
    csrf: str
    created: float
    last_seen: float
    officer: str | None = None          # None: not signed in (a visitor at the sign-in page)
    case: str | None = None
    method: str | None = None           # password+totp | oidc
    signed_in_at: float | None = None
    client: str = ""
    data: dict[str, Any] = field(default_factory=dict)   # a pending enrolment, an OIDC state


def _h(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    def __init__(self, *, idle_s: float = 15 * 60, absolute_s: float = 12 * 3600, clock=time.time):
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self.clock = clock
        self._by_hash: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def new(self, *, client: str = "") -> tuple[str, WebSession]:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        s = WebSession(csrf=secrets.token_urlsafe(32), created=now, last_seen=now, client=client)
        with self._lock:
            self._by_hash[_h(sid)] = s
        return sid, s

    def get(self, sid: str | None) -> tuple[WebSession | None, tuple[str, str] | None]:
        """The live session for a cookie value (touched), or ``(None, (why, officer))`` for a
        signed-in session that has just timed out (None for no session at all)."""
        if not sid or len(sid) > 100:
            return None, None
        now = self.clock()
        with self._lock:
            s = self._by_hash.get(_h(sid))
            if s is None:
                return None, None
            why = None
            if now - s.last_seen > self.idle_s:
                why = "idle"
            elif s.signed_in_at is not None and now - s.signed_in_at > self.absolute_s:
                why = "lifetime"
            elif s.signed_in_at is None and now - s.created > self.absolute_s:
                why = "lifetime"
            if why:
                del self._by_hash[_h(sid)]
                return None, (why, s.officer) if s.officer else None
            s.last_seen = now
            return s, None

    def peek(self, sid: str | None) -> WebSession | None:
        with self._lock:
            return self._by_hash.get(_h(sid)) if sid else None

    def rotate(self, sid: str | None, *, client: str = "") -> tuple[str, WebSession]:
        """A new session id (and CSRF token) for the same visitor, the old one ended: at sign-in."""
        with self._lock:
            old = self._by_hash.pop(_h(sid), None) if sid else None
        new_sid, s = self.new(client=client)
        if old is not None:
            s.data = dict(old.data)
        return new_sid, s

    def end(self, sid: str | None) -> WebSession | None:
        with self._lock:
            return self._by_hash.pop(_h(sid), None) if sid else None

    def end_officer(self, officer: str) -> int:
        """End every session of an officer (a removed login); how many."""
        with self._lock:
            gone = [k for k, s in self._by_hash.items() if s.officer == officer]
            for k in gone:
                del self._by_hash[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._by_hash)
