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

- :func:`start_log` ``(ws, officer)``: start the log of a new workspace (its genesis entry), as
  setting up its registry does; refused for a workspace that ever had a log or holds anything.

Access decisions are appended by :func:`moneytrail.authority.guard`, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moneytrail.audit import keys
from moneytrail.audit.log import AuditError, AuditLog, Head, VerifyReport, audit_dir

__all__ = ["AuditError", "AuditLog", "Head", "VerifyReport", "append", "audit_dir", "record_read", "start_log"]

# what a workspace must not hold for its log to be started (besides the authority state)
_DATA_TABLES = ("sources", "transactions", "quarantine", "labels", "accounts", "findings", "runs", "traces", "models")


def start_log(ws, officer: str) -> int | None:
    """Start the workspace's audit log: its first entry (``genesis``: the workspace id, where it
    is, who started it). Returns the entry's number, or None if the log was started already.

    A log is started once, for a workspace that never had one. Refused (AuditError) when:

    - the key folder holds a signed head of this workspace's log (the log was there: deleted?);
    - the key folder kept a log for a workspace at this same path under another id (the
      workspace's id was reset, or the workspace replaced: the old log must not silently give
      way to a new one);
    - the workspace records that its log was started (``authority_state.audit_started_at``);
    - the workspace holds anything: registry rows, sources, data, runs.
    """
    from moneytrail import __version__
    from moneytrail.authority import state

    log = AuditLog.of(ws)
    if log.started():
        return None
    where = Path(ws.path).resolve()
    problems = []
    ext = keys.external_head(log.log_id)
    if ext is not None:
        problems.append(f"the key folder holds a signed head of this workspace's log ({ext.get('size')} entries) "
                        f"but {log.dir} is gone: restore it")
    for other, n in keys.logs_kept_for(where):
        if other != log.log_id and n:
            problems.append(f"a log of {n} entries was kept for a workspace at {where} under id {other}: this "
                            f"workspace's id was changed or the workspace replaced; restore it, or, if that "
                            f"workspace was deliberately discarded, move {keys.key_dir()}/{other}.* aside first")
    started = ws.scalar("SELECT audit_started_at FROM main.authority_state")
    if started is not None:
        problems.append(f"this workspace's log was started {started} and {log.dir} no longer holds it: restore it")
    st = state.read(ws.con, keys.secret(log.log_id, create=True))
    held = [f"{len(v)} {t}" for t, v in st.tokens.items() if v]
    for t in _DATA_TABLES:
        n = ws.scalar(f"SELECT count(*) FROM main.{t}") if ws.table_exists(t) else 0
        if n:
            held.append(f"{n} {t}")
    if held:
        problems.append(f"the workspace already holds {', '.join(held)} with no audit log to account for them")
    if problems:
        raise AuditError("cannot start an audit log for " + str(ws.path) + ": " + "; ".join(problems))
    keys.record_workspace(log.log_id, where)
    return log.append([{"kind": "genesis", "officer": officer, "workspace": log.log_id, "path": str(where),
                        "moneytrail": __version__}])[0]


def append(ws, entry: dict[str, Any]) -> int:
    """Append one entry to the workspace's audit log; returns its sequence number."""
    return AuditLog.of(ws).append([entry])[0]


def record_read(ws, officer: str, case: str | None, what: dict[str, Any] | str, *,
                action: str | None = None) -> int:
    """Record that ``officer``, in ``case``, is about to receive ``what`` (a short description:
    table, row count, ids, file written). Returns the entry's number."""
    import time

    from moneytrail import _timing

    t0 = time.perf_counter()
    try:
        return _record_read(ws, officer, case, what, action)
    finally:
        _timing.add("audit", time.perf_counter() - t0)


def _record_read(ws, officer: str, case: str | None, what: dict[str, Any] | str, action: str | None) -> int:
    entry: dict[str, Any] = {"kind": "read", "officer": officer, "case": case,
                             "what": what if isinstance(what, dict) else {"description": str(what)}}
    if action:
        entry["action"] = action
    return append(ws, entry)
