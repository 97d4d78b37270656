"""Local sign-in accounts bound to registry officers: argon2id passwords and a TOTP second factor.

The life of a login:

1. **Issued** by a registrar (``moneytrail authority officer login OFFICER``, or the registry
   page): a one-time enrolment code for a registered officer, valid for a few days. Issuing
   again resets the login (a forgotten password, a lost phone): the old password and second
   factor stop working at once. Only the code's SHA-256 is kept.
2. **Enrolled** by the officer at the first sign-in (``/enrol``): the code, a new password
   (argon2id, :mod:`argon2`) and a TOTP secret (:mod:`pyotp`), confirmed by a first code from the
   officer's authenticator. The secret is kept sealed (AES-256-GCM with a key derived from the
   secret beside the audit log's signing key), so the database file alone does not give it away.
3. **Used**: a sign-in needs the password and a current TOTP code never used before. Five
   failures in a row lock the login for 15 minutes, doubling with each further lockout (up to a
   day); the server also slows each failure down.
4. **Removed** by a registrar (with a reason): takes effect on the officer's next request.

Issuing and removing are registry changes, decided by the Cedar policies (registrars only) and
recorded in the audit log; every enrolment, sign-in, failure, lockout and sign-out is an
``auth`` entry in the same log. Nothing here decides what an officer may do once signed in:
that is the policies' job, on every request (:class:`moneytrail.Session`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from moneytrail.errors import MoneytrailError

ENROL_HOURS = 72
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_FAILURES = 5                 # consecutive failures before a lockout
LOCKOUT = _dt.timedelta(minutes=15)
MAX_LOCKOUT = _dt.timedelta(hours=24)
TOTP_ISSUER = "moneytrail"
clock = time.time                # the TOTP check's clock (tests move it a step at a time)


class LoginError(MoneytrailError):
    """A login cannot be issued, enrolled or removed (the message says why)."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()          # argon2id, RFC 9106's recommended parameters (argon2-cffi's default)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash to verify against when there is no login, so that failing takes as long either way."""
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_hex(16)))
    return _DUMMY[0]


def _code_sha(code: str) -> str:
    return hashlib.sha256(" ".join(str(code).upper().replace("-", " ").split()).encode()).hexdigest()


def new_enrol_code() -> str:
    """20 base-32 characters in groups of four (100 bits): typed, not remembered."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(20))
    return "-".join(raw[i:i + 4] for i in range(0, 20, 4))


# -- sealing the TOTP secret ----------------------------------------------------------------------

def _seal_key(ws) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from moneytrail.audit import AuditLog
    from moneytrail.audit import keys

    secret = keys.secret(AuditLog.of(ws).log_id, create=True)
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"moneytrail web totp v1").derive(secret)


def _seal(ws, officer: str, totp_secret: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return (nonce + AESGCM(_seal_key(ws)).encrypt(nonce, totp_secret.encode(), officer.encode())).hex()


def _unseal(ws, officer: str, sealed: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = bytes.fromhex(sealed)
    try:
        return AESGCM(_seal_key(ws)).decrypt(raw[:12], raw[12:], officer.encode()).decode()
    except InvalidTag:
        raise LoginError(f"the second factor of {officer} cannot be unsealed (the key folder is not this "
                         f"workspace's): a registrar must issue a new login") from None


# Issuing, removing and listing logins are registry changes and reads, decided like any other:
# moneytrail.authority.logins (called by Session.issue_login, remove_login, logins).


# -- enrolment and sign-in (the server's, for a person not yet signed in) --------------------------

def _audit(ws, event: str, officer: str | None, **fields: Any) -> int:
    from moneytrail.audit import append

    return append(ws, {"kind": "auth", "event": event, "officer": (officer or "")[:64], **fields})


def _row(ws, officer: str) -> dict[str, Any] | None:
    rows = ws.records("SELECT * FROM main.web_logins WHERE officer_id = ?", [officer])
    return rows[0] if rows else None


def check_password_rules(officer: str, password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise LoginError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise LoginError(f"the password must have at most {MAX_PASSWORD} characters")
    if password.strip().lower() in {officer.lower(), "password1234", "123456789012"} or len(set(password)) < 4:
        raise LoginError("that password is too easy to guess: choose another")


def start_enrolment(ws, officer: str, code: str, password: str, *, client: str = "") -> dict[str, Any]:
    """Check an enrolment code and the new password: returns the password's argon2id hash, a new
    TOTP secret and its ``otpauth://`` URI for the officer's authenticator (nothing is stored
    until :func:`finish_enrolment`)."""
    import pyotp

    _check_code(ws, officer, code, client=client)
    check_password_rules(officer, password)
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=officer, issuer_name=TOTP_ISSUER)
    return {"officer": officer, "password_hash": _hasher().hash(password), "totp_secret": secret,
            "otpauth_uri": uri}


def _check_code(ws, officer: str, code: str, *, client: str = "") -> None:
    row = _row(ws, officer) if officer else None
    now = _now()
    ok = (row is not None and row["removed_at"] is None and row["enrol_code_sha256"] is not None
          and row["enrol_expires_at"] > now and hmac.compare_digest(row["enrol_code_sha256"], _code_sha(code)))
    if not ok:
        _audit(ws, "enrol_failed", officer, client=client,
               reason="no login" if row is None else "removed" if row["removed_at"] else
               "already enrolled or no code" if row["enrol_code_sha256"] is None else
               "code expired" if row["enrol_expires_at"] <= now else "wrong code")
        raise LoginError("that enrolment code is not valid (wrong, used or expired): ask a registrar for a new one")


def _totp_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step a TOTP code belongs to (this one, or one either side), else None."""
    import pyotp

    code = "".join(str(code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    t = pyotp.TOTP(secret)
    now = clock() if at is None else at
    for off in (0, -1, 1):
        step = t.timecode(_dt.datetime.fromtimestamp(now + off * t.interval, _dt.timezone.utc))
        if hmac.compare_digest(t.generate_otp(step), code):
            return step
    return None


def finish_enrolment(ws, officer: str, code: str, password_hash: str, totp_secret: str, totp_code: str, *,
                     client: str = "") -> None:
    """Complete enrolment with the code again (it is single-use), what :func:`start_enrolment`
    returned and a first TOTP code from the authenticator: stores the argon2id hash and the sealed
    secret; the code is spent."""
    _check_code(ws, officer, code, client=client)
    step = _totp_step(totp_secret, totp_code)
    if step is None:
        raise LoginError("that code from the authenticator is not right: check the device's clock and try again")
    ws.con.execute("UPDATE main.web_logins SET password_hash = ?, totp_sealed = ?, totp_last_step = ?, "
                   "enrolled_at = ?, enrol_code_sha256 = NULL, enrol_expires_at = NULL, failed_signins = 0, "
                   "locked_until = NULL WHERE officer_id = ?",
                   [password_hash, _seal(ws, officer, totp_secret), step, _now(), officer])
    _audit(ws, "enrolled", officer, client=client, method="password+totp")


@dataclass
class SignIn:
    ok: bool
    officer: str
    message: str = ""
    backoff_s: float = 0.0


def sign_in(ws, officer: str, password: str, totp_code: str, *, client: str = "") -> SignIn:
    """Check a password and a TOTP code. Every outcome is an audit entry (``signin``,
    ``signin_failed`` with the reason, ``lockout``); what the person is told never says which
    part was wrong."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    generic = "sign-in failed: check the officer id, the password and the code"
    officer = str(officer or "").strip()[:64]
    row = _row(ws, officer) if officer else None
    now = _now()
    usable = row is not None and row["removed_at"] is None and row["password_hash"] is not None
    if not usable:
        try:
            _hasher().verify(_dummy_hash(), str(password or "")[:MAX_PASSWORD])
        except VerificationError:
            pass
        _audit(ws, "signin_failed", officer, client=client, method="password+totp",
               reason="no such login" if row is None else "login removed" if row["removed_at"] else "not enrolled")
        return SignIn(False, officer, generic, 1.0)
    if row["locked_until"] is not None and row["locked_until"] > now:
        _audit(ws, "signin_failed", officer, client=client, method="password+totp", reason="locked")
        return SignIn(False, officer, f"this login is locked after repeated failures until "
                                      f"{row['locked_until']:%H:%M} UTC", 1.0)
    reason = None
    try:
        _hasher().verify(row["password_hash"], str(password or "")[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        reason = "wrong password"
    step = None
    if reason is None:
        step = _totp_step(_unseal(ws, officer, row["totp_sealed"]), totp_code)
        if step is None:
            reason = "wrong second-factor code"
        elif row["totp_last_step"] is not None and step <= row["totp_last_step"]:
            reason = "second-factor code used before"
    if reason is None:
        ws.con.execute("UPDATE main.web_logins SET failed_signins = 0, locked_until = NULL, totp_last_step = ?, "
                       "last_signin_at = ? WHERE officer_id = ?", [step, now, officer])
        if _hasher().check_needs_rehash(row["password_hash"]):
            ws.con.execute("UPDATE main.web_logins SET password_hash = ? WHERE officer_id = ?",
                           [_hasher().hash(password), officer])
        _audit(ws, "signin", officer, client=client, method="password+totp")
        return SignIn(True, officer)
    failed = int(row["failed_signins"]) + 1
    _audit(ws, "signin_failed", officer, client=client, method="password+totp", reason=reason, failures=failed)
    if failed >= MAX_FAILURES:
        lockouts = int(row["lockouts"]) + 1
        until = now + min(LOCKOUT * (2 ** (lockouts - 1)), MAX_LOCKOUT)
        ws.con.execute("UPDATE main.web_logins SET failed_signins = 0, lockouts = ?, locked_until = ? "
                       "WHERE officer_id = ?", [lockouts, until, officer])
        _audit(ws, "lockout", officer, client=client, until=until.isoformat(), lockouts=lockouts)
        return SignIn(False, officer, f"too many failed sign-ins: this login is locked until {until:%H:%M} UTC",
                      2.0)
    ws.con.execute("UPDATE main.web_logins SET failed_signins = ? WHERE officer_id = ?", [failed, officer])
    return SignIn(False, officer, generic, min(0.25 * 2 ** (failed - 1), 4.0))


def active(ws, officer: str) -> bool:
    """Whether the officer still has a login that is not removed (checked on every request of a
    password session: a removed login ends the session)."""
    return bool(ws.scalar("SELECT count(*) FROM main.web_logins WHERE officer_id = ? AND removed_at IS NULL "
                          "AND enrolled_at IS NOT NULL", [officer]))


def record(ws, event: str, officer: str | None, **fields: Any) -> int:
    """Record an ``auth`` event the server sees (sign-out, a session that expired, an OIDC
    sign-in or failure)."""
    return _audit(ws, event, officer, **fields)
