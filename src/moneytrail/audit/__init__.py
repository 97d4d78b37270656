"""The audit log: every access decision and every read of data, in a tamper-evident log.

An RFC 9162 Merkle tree (:mod:`.merkle`) over the entries, with a signed tree head (Ed25519)
after every append; the key and a copy of the latest head live outside the workspace
(:mod:`.keys`), the entries in a folder beside it (:mod:`.log`). The public surface:

- :func:`record_read` ``(ws, officer, case, what)``: append a read of data; call it before the
  data leaves the command (printed, written to a file, returned). Raises :class:`AuditError` if
  the entry cannot be appended, and the command must then fail.
- :func:`append` ``(ws, entry)``: append any entry (a dict with a ``kind``); returns its number.
- :class:`AuditLog` ``.of(ws)``: ``verify()``, ``inclusion(n)``, ``consistency(old, new)``,
  ``entries()``, ``last_head()``.

Access decisions are appended by :func:`moneytrail.authority.guard`, not here.
"""

from __future__ import annotations

from typing import Any

from moneytrail.audit.log import AuditError, AuditLog, Head, VerifyReport, audit_dir

__all__ = ["AuditError", "AuditLog", "Head", "VerifyReport", "append", "audit_dir", "record_read"]


def append(ws, entry: dict[str, Any]) -> int:
    """Append one entry to the workspace's audit log; returns its sequence number."""
    return AuditLog.of(ws).append([entry])[0]


def record_read(ws, officer: str, case: str | None, what: dict[str, Any] | str, *,
                action: str | None = None) -> int:
    """Record that ``officer``, in ``case``, is about to receive ``what`` (a short description:
    table, row count, ids, file written). Returns the entry's number."""
    entry: dict[str, Any] = {"kind": "read", "officer": officer, "case": case,
                             "what": what if isinstance(what, dict) else {"description": str(what)}}
    if action:
        entry["action"] = action
    return append(ws, entry)
