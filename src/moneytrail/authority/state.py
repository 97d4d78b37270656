"""The authority state: everything access decisions rest on, verifiable from the signed audit log.

The state is a set of rows per table: the registry (agencies, officers, grants and their
approvals, cases, members, the grand-jury disclosure list, 6103(i) authorities) and, for each
evidence source, what decides who may read it (its legal-basis tags, the case it belongs to,
whether it was withdrawn). A row is written as a *token*: canonical JSON of its columns
(``TABLES`` names them, in a fixed form that does not depend on the DuckDB version), with
protected values replaced by a keyed hash (:func:`protect`): the taxpayer a ``fti:NAME`` tag
names, and an order's subjects, scope, addresses, periods and reason. The state's hash is the
SHA-256 of every table's sorted tokens (:func:`state_hash`).

Every change to the state goes through :func:`changing`: it reads the state and checks it against
the hash under the latest signed tree head (anything else means a change was made outside
moneytrail: refused), lets the caller change the tables in one transaction, appends a ``state``
entry to the audit log carrying the change (the tokens removed and added per table, with the
hashes before and after) and commits. The log's signed heads carry the state hash, so:

- a decision compares the workspace's state with the signed one before it relies on it
  (:mod:`moneytrail.authority.decide` keeps the result per workspace until a file changes);
- ``moneytrail audit verify`` replays the changes from the first entry (:func:`replay`), checks
  each against its recorded hashes and the heads, and compares the result with the workspace.

An edit made outside moneytrail (an UPDATE on ``grants``, a source re-tagged by hand) is refused
at the next command and named by verify. The protected values are hashed with a per-workspace
secret kept beside the signing key (:func:`moneytrail.audit.keys.secret`), so the log names no
taxpayer to whoever can read it; the details stay in the workspace tables, behind the case's
decisions.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

from moneytrail.errors import MoneytrailError

# table -> columns (in the canonical order they are read; the token sorts keys anyway)
TABLES: dict[str, tuple[str, ...]] = {
    "agencies": ("agency_id", "name", "kind", "created_at", "created_by"),
    "officers": ("officer_id", "name", "home_agency", "roles", "created_at", "created_by"),
    "grants": ("grant_id", "officer_id", "deputizing_official", "deputizing_agency", "consent_official",
               "consent_agency", "consent_date", "statute", "functions", "jurisdictions", "valid_from",
               "valid_until", "training_course", "training_date", "training_expires", "status", "activated_at",
               "activated_by", "revoked_at", "revoked_by", "revocation_reason", "created_at", "created_by"),
    "grant_approvals": ("grant_id", "officer_id", "approved_at"),
    "cases": ("case_id", "title", "function", "jurisdiction", "predicate", "status", "opened_by", "opened_at",
              "closed_by", "closed_at", "close_reason"),
    "case_members": ("case_id", "officer_id", "role", "added_at", "added_by", "removed_at", "removed_by"),
    "case_disclosures": ("case_id", "officer_id", "attorney", "noted_at", "noted_by", "withdrawn_at",
                         "withdrawn_by"),
    "case_authorities": ("authority_id", "case_id", "kind", "subjects", "judge", "court", "order_date", "scope",
                         "requesting_official", "official_title", "request_date", "subject_addresses",
                         "taxable_periods", "statutory_authority", "reason", "recorded_at", "recorded_by",
                         "withdrawn_at", "withdrawn_by"),
    # the sources' part: what decides who may read each one (its legal-basis tags, the cases it
    # belongs to, its withdrawal); ingest records its changes through changing()
    "sources": ("source_id", "sha256", "format", "role", "legal_basis", "withdrawn_at", "withdrawn_by",
                "withdrawal_reason"),
    "source_cases": ("source_id", "case_id", "how", "added_at", "added_by"),
}
# the columns of a 6103(i) authority that name a taxpayer or the order's scope: one keyed hash
PROTECTED_COLUMNS = {"case_authorities": ("subjects", "scope", "subject_addresses", "taxable_periods", "reason")}


class StateError(MoneytrailError):
    """The workspace's authority state is not the one the signed audit log vouches for: it was
    changed outside moneytrail (or its log is missing). Every command is refused until it is put
    right; ``moneytrail audit verify`` names the difference."""


def _norm(v: Any) -> Any:
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return v.isoformat(timespec="microseconds") + "Z"
        return v.isoformat(timespec="microseconds")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, Decimal):
        return str(v)
    return v


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def keyed_hash(secret: bytes, value: Any) -> str:
    """``#`` + HMAC-SHA256 (hex, 32 chars) of a value's canonical JSON: the form a protected value
    takes in the state and in audit entries."""
    return "#" + hmac.new(secret, canonical(value).encode(), hashlib.sha256).hexdigest()[:32]


def protect_tag(secret: bytes, tag: str) -> str:
    """A legal-basis tag as the audit log may show it: ``fti:NAME`` -> ``fti:#<keyed hash of NAME>``."""
    from moneytrail.authority.legal import norm_key

    t = str(tag)
    if t.lower().startswith("fti:"):
        return "fti:" + keyed_hash(secret, norm_key(t[4:]))
    return t


def protect(table: str, row: dict[str, Any], secret: bytes) -> dict[str, Any]:
    """The row as the state (and the log) holds it: protected values replaced by keyed hashes."""
    cols = PROTECTED_COLUMNS.get(table)
    if cols:
        row = dict(row)
        row["detail"] = keyed_hash(secret, {c: row.pop(c) for c in cols})
    if table == "sources" and row.get("legal_basis"):
        row = dict(row)
        row["legal_basis"] = [protect_tag(secret, t) for t in row["legal_basis"]]
    return row


@dataclass
class State:
    """The state as read from a workspace: rows (plain, for decisions) and tokens (for the hash)."""

    rows: dict[str, list[dict[str, Any]]]
    tokens: dict[str, list[str]]

    @property
    def hash(self) -> str:
        return state_hash(self.tokens)

    def empty(self) -> bool:
        return not any(self.tokens.values())


def state_hash(tokens: dict[str, Iterable[str]]) -> str:
    h = hashlib.sha256(b"moneytrail-state/v1\n")
    for t in TABLES:
        h.update(t.encode() + b"\n")
        for tok in sorted(tokens.get(t, ())):
            h.update(tok.encode() + b"\n")
    return h.hexdigest()


EMPTY_STATE = state_hash({})


def read(con, secret: bytes) -> State:
    """The workspace's authority state (``con``: a connection to the workspace's main schema)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    tokens: dict[str, list[str]] = {}
    for table, cols in TABLES.items():
        data = con.execute(f"SELECT {', '.join(cols)} FROM main.{table}").fetchall()
        rs = [{c: _norm(v) for c, v in zip(cols, r)} for r in data]
        rows[table] = rs
        tokens[table] = [canonical(protect(table, r, secret)) for r in rs]
    return State(rows, tokens)


def diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per changed table, the tokens removed and added (as JSON objects, sorted)."""
    ops = []
    for t in TABLES:
        b, a = Counter(before.get(t, ())), Counter(after.get(t, ()))
        gone, new = sorted((b - a).elements()), sorted((a - b).elements())
        if gone or new:
            op: dict[str, Any] = {"table": t}
            if gone:
                op["del"] = [json.loads(x) for x in gone]
            if new:
                op["add"] = [json.loads(x) for x in new]
            ops.append(op)
    return ops


def apply(tokens: dict[str, Counter], ops: list[dict[str, Any]]) -> str | None:
    """Apply a state entry's ops to replayed tokens; None, or why they do not apply."""
    for op in ops:
        t = op.get("table")
        if t not in TABLES:
            return f"names an unknown table {t!r}"
        have = tokens.setdefault(t, Counter())
        for row in op.get("del", ()):
            tok = canonical(row)
            if have[tok] <= 0:
                return f"removes a row of {t} the log never added: {tok[:160]}"
            have[tok] -= 1
            if not have[tok]:
                del have[tok]
        for row in op.get("add", ()):
            have[canonical(row)] += 1
    return None


def replayed_hash(tokens: dict[str, Counter]) -> str:
    return state_hash({t: list(c.elements()) for t, c in tokens.items()})


def first_difference(log_tokens: dict[str, Counter], ws_tokens: dict[str, list[str]]) -> str | None:
    """Where the workspace's state departs from the log's, in words (None if it does not)."""
    for t in TABLES:
        a, b = log_tokens.get(t, Counter()), Counter(ws_tokens.get(t, ()))
        extra, missing = sorted((b - a).elements()), sorted((a - b).elements())
        if extra:
            return (f"the workspace's {t} table holds a row the audit log never recorded (changed or added "
                    f"outside moneytrail): {extra[0][:200]}")
        if missing:
            return (f"the workspace's {t} table lacks a row the audit log recorded (changed or deleted outside "
                    f"moneytrail): {missing[0][:200]}")
    return None


# -- the registry as decisions read it --------------------------------------------------------------

def _epoch_day(d: str | None, plus_days: int = 0) -> int:
    if not d:
        return 0
    day = _dt.date.fromisoformat(d[:10]) + _dt.timedelta(days=plus_days)
    return int(_dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp())


def decision_doc(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The registry as decisions read it (officers, grants per officer, cases with members,
    disclosure list and 6103(i) subjects), from the state's rows."""
    officers = {o["officer_id"]: {"home_agency": o["home_agency"], "roles": list(o["roles"] or [])}
                for o in rows.get("officers", [])}
    grants: dict[str, list] = {}
    for g in sorted(rows.get("grants", []), key=lambda g: g["grant_id"]):
        grants.setdefault(g["officer_id"], []).append({
            "grant_id": g["grant_id"], "status": g["status"], "functions": list(g["functions"] or []),
            "jurisdictions": list(g["jurisdictions"] or []), "valid_from": _epoch_day(g["valid_from"]),
            "valid_until": _epoch_day(g["valid_until"], 1), "training_expires": _epoch_day(g["training_expires"], 1),
            "revoked_at": g["revoked_at"], "revocation_reason": g["revocation_reason"],
            "valid_until_date": g["valid_until"], "training_expires_date": g["training_expires"]})
    cases = {c["case_id"]: {"function": c["function"], "jurisdiction": c["jurisdiction"], "status": c["status"],
                            "members": [], "disclosures": [], "fti_subjects": []}
             for c in rows.get("cases", [])}
    for m in sorted(rows.get("case_members", []), key=lambda m: (m["added_at"] or "", m["officer_id"])):
        if m["removed_at"] is None and m["case_id"] in cases:
            cases[m["case_id"]]["members"].append(m["officer_id"])
    for d in sorted(rows.get("case_disclosures", []), key=lambda d: (d["noted_at"] or "", d["officer_id"])):
        if d["withdrawn_at"] is None and d["case_id"] in cases:
            cases[d["case_id"]]["disclosures"].append(d["officer_id"])
    for a in sorted(rows.get("case_authorities", []), key=lambda a: a["recorded_at"] or ""):
        c = cases.get(a["case_id"])
        if a["withdrawn_at"] is None and c is not None:
            c["fti_subjects"] += [s for s in a.get("subjects") or [] if s not in c["fti_subjects"]]
    withdrawn = {s["source_id"] for s in rows.get("sources", []) if s["withdrawn_at"] is not None}
    tags = {s["source_id"]: list(s["legal_basis"] or []) for s in rows.get("sources", [])}
    source_cases: dict[str, list[int]] = {}
    for sc in sorted(rows.get("source_cases", []), key=lambda r: r["source_id"]):
        if sc["source_id"] not in withdrawn:
            source_cases.setdefault(sc["case_id"], []).append(sc["source_id"])
    return {"officers": officers, "grants": grants, "cases": cases, "source_tags": tags,
            "source_cases": source_cases, "withdrawn": sorted(withdrawn)}


def rows_from_tokens(tokens: dict[str, Counter]) -> dict[str, list[dict[str, Any]]]:
    """Replayed tokens back into rows (protected values stay hashed: enough for every decision
    that reads no protected source, such as the audit commands')."""
    out = {t: [json.loads(tok) for tok in c.elements()] for t, c in tokens.items()}
    for r in out.get("case_authorities", []):
        r.setdefault("subjects", [])
    return out


def replayed_doc(ws) -> dict[str, Any]:
    """The registry as the signed audit log builds it, replaying its state entries (for deciding
    the audit commands when the workspace's own state cannot be relied on)."""
    from moneytrail.audit import AuditLog

    tokens: dict[str, Counter] = {}
    for line in AuditLog.of(ws).lines():
        if b'"kind":"state"' in line:
            e = json.loads(line)
            if e.get("kind") == "state" and apply(tokens, e.get("ops") or []) is not None:
                break
    return decision_doc(rows_from_tokens(tokens))


# -- changing it -------------------------------------------------------------------------------------

def secret_for(log) -> bytes:
    """The keyed-hash secret of a workspace's log, for reading its state: never created here (a
    workspace whose log was never started has an empty state, whatever the key); an AuditError if
    a started log's secret is missing from the key folder."""
    from moneytrail.audit import AuditError, keys

    got = keys.secret(log.log_id, create=False)
    if not got and log.started():
        raise AuditError(f"the audit log's keyed-hash secret is not at {keys.key_dir()}/{log.log_id}.secret: "
                         f"restore the key folder ({keys.ENV_KEY_DIR}) that belongs to this workspace")
    return got


def check(ws, st: State) -> None:
    """Refuse a state the signed audit log does not vouch for."""
    from moneytrail.audit import AuditLog

    signed = AuditLog.of(ws).signed_state()
    if signed is None:
        if st.empty():
            return
        n = {t: len(v) for t, v in st.tokens.items() if v}
        raise StateError(f"workspace {ws.path} holds a registry or sources ({', '.join(f'{v} {k}' for k, v in n.items())}) "
                         f"but no audit log vouches for them (its log is missing or was never started): refused; "
                         f"restore {AuditLog.of(ws).dir}")
    if st.hash != signed:
        raise StateError(f"the registry or the sources' authority data in {ws.path} were changed outside moneytrail "
                         f"(they no longer match the state signed in the audit log): every command is refused; "
                         f"moneytrail audit verify names the change")


@contextmanager
def changing(ws, *, officer: str | None, case: str | None, change: str, detail: dict[str, Any] | None = None,
             begin: bool = True):
    """Change the authority state in one transaction, recorded in the audit log before it commits.

    Yields; on a normal exit, appends a ``state`` entry (who, which change, the rows removed and
    added per table, the hashes before and after) and commits. On an exception, rolls back and
    records nothing. If the commit itself fails after the entry was appended, a second entry
    puts the logged state back. ``begin=False``: the caller already opened the transaction (and
    still commits through this block)."""
    from moneytrail.audit import AuditLog, keys

    log = AuditLog.of(ws)
    secret = keys.secret(log.log_id, create=True)
    if begin:
        ws.con.execute("BEGIN TRANSACTION")
    try:
        before = read(ws.con, secret)
        check(ws, before)
        yield
        after = read(ws.con, secret)
        ops = diff(before.tokens, after.tokens)
        entry = {"kind": "state", "officer": officer, "case": case, "change": change, "ops": ops,
                 "prev_state": before.hash, "state": after.hash}
        if detail:
            entry["detail"] = detail
        if ops:
            log.append([entry])
    except BaseException:
        _rollback(ws)
        ws.authority_changed()
        raise
    try:
        ws.con.execute("COMMIT")
    except BaseException:
        if ops:
            undo = [{"table": o["table"], **({"del": o["add"]} if "add" in o else {}),
                     **({"add": o["del"]} if "del" in o else {})} for o in ops]
            log.append([{"kind": "state", "officer": officer, "case": case, "change": f"{change} (not committed)",
                         "ops": undo, "prev_state": after.hash, "state": before.hash}])
        raise
    finally:
        ws.authority_changed()


def _rollback(ws) -> None:
    import duckdb

    try:
        ws.con.execute("ROLLBACK")
    except duckdb.Error:
        pass            # a failed COMMIT already ended the transaction
