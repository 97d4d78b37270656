"""Web sign-ins as the registry manages them: issuing a one-time enrolment code, removing a
login, listing logins' states. Registry changes and reads, decided by the Cedar policies
(registrars) and recorded; called through :class:`moneytrail.Session` (``issue_login``,
``remove_login``, ``logins``). Enrolment and sign-in themselves are the web app's
(:mod:`moneytrail.web.logins`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

from moneytrail.web.logins import ENROL_HOURS, LoginError, _code_sha, _now, new_enrol_code


def issue(ws, actor: str, officer: str, *, hours: int = ENROL_HOURS, command: Sequence[str] = ()) -> dict[str, Any]:
    """Issue (or re-issue) a login for a registered officer: returns the one-time enrolment code
    (shown once, kept only as its hash) and when it expires."""
    from moneytrail.authority.decide import guard
    from moneytrail.identity import check_id

    officer = check_id(officer, "officer", "the officer given")
    if not isinstance(hours, int) or not 1 <= hours <= 24 * 14:
        raise LoginError("--valid-hours: from 1 to 336 (two weeks)")
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "login.issue", "login": officer, "valid_hours": hours})
    if not ws.scalar("SELECT count(*) FROM main.officers WHERE officer_id = ?", [officer]):
        raise LoginError(f"no officer {officer} in the registry (moneytrail authority officer add)")
    code = new_enrol_code()
    now = _now()
    expires = now + _dt.timedelta(hours=hours)
    ws.con.execute("DELETE FROM main.web_logins WHERE officer_id = ?", [officer])
    ws.con.execute("INSERT INTO main.web_logins (officer_id, issued_at, issued_by, enrol_code_sha256, "
                   "enrol_expires_at) VALUES (?, ?, ?, ?, ?)", [officer, now, actor, _code_sha(code), expires])
    return {"officer": officer, "code": code, "expires_at": expires, "audit_entry": d.audit_seq}


def remove(ws, actor: str, officer: str, reason: str, *, command: Sequence[str] = ()) -> dict[str, Any]:
    """Remove an officer's login (with a reason): refused on the officer's next request."""
    from moneytrail.authority.decide import guard
    from moneytrail.authority.legal import is_placeholder
    from moneytrail.identity import check_id

    officer = check_id(officer, "officer", "the officer given")
    why = " ".join(str(reason or "").split())
    if is_placeholder(why) or len(why) > 1000:
        raise LoginError("--reason: say why the login is removed (up to 1,000 characters)")
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "login.remove", "login": officer, "reason": why})
    if not ws.scalar("SELECT count(*) FROM main.web_logins WHERE officer_id = ? AND removed_at IS NULL", [officer]):
        raise LoginError(f"{officer} has no login to remove")
    ws.con.execute("UPDATE main.web_logins SET removed_at = ?, removed_by = ?, removal_reason = ?, "
                   "enrol_code_sha256 = NULL, password_hash = NULL, totp_sealed = NULL WHERE officer_id = ?",
                   [_now(), actor, why, officer])
    return {"officer": officer, "removed": True, "audit_entry": d.audit_seq}


def listing(ws, actor: str, *, command: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every login's state (never a secret): issued, enrolled, locked, removed."""
    from moneytrail.authority.decide import guard

    guard(ws, "registry_read", officer=actor, command=command, resource={"what": "logins", "sign_ins": True})
    rows = ws.records("SELECT officer_id, issued_at, issued_by, enrol_expires_at, enrolled_at, failed_signins, "
                      "lockouts, locked_until, last_signin_at, removed_at, removed_by, removal_reason "
                      "FROM main.web_logins ORDER BY officer_id")
    now = _now()
    for r in rows:
        r["state"] = ("removed" if r["removed_at"] else "locked" if r["locked_until"] and r["locked_until"] > now
                      else "enrolled" if r["enrolled_at"] else
                      "expired" if r["enrol_expires_at"] and r["enrol_expires_at"] <= now else "issued")
    return rows


