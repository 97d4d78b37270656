"""Deciding: the Cedar policy set (parsed once per process), the entities a decision sees, and
:func:`guard`, which decides, records the decision in the audit log and raises when denied.

A case-scoped command is decided once per grant the officer holds: for grant *g*, Cedar is
asked about the action on the case and, for every protected source the command will read
(federal tax information, grand-jury material), about ``read`` on that source, all with
``context.grant = g`` and ``context.now`` = the server's clock. The command is allowed under
the first grant for which every answer is Allow; the decision names the permit policy and
that grant. Otherwise it is denied, naming for each grant the forbid policies that applied
(or "no policy permits" when none did: deny by default).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Sequence

from moneytrail.authority.legal import classify_tags, norm_key
from moneytrail.errors import MoneytrailError

# case-scoped actions done under a deputization grant (the Cedar action group "case_work")
CASE_ACTIONS = ("ingest", "detect", "score", "trace", "report", "findings", "export", "run", "sources",
                "quarantine", "case_open", "case_update", "case_read", "source_tag", "source_withdraw",
                "source_share", "explore", "triage", "resolve", "review")
# case-scoped actions that read the case's evidence (every source of the case, unless told which)
DATA_ACTIONS = ("detect", "score", "trace", "report", "findings", "export", "run", "sources", "quarantine",
                "source_share", "explore", "triage", "resolve", "review")
# recording a case's legal process (6103(i) authorities, the 6(e) disclosure list): no grant, not a member
LEGAL_ACTIONS = ("case_legal",)
ADMIN_ACTIONS = ("registry_change", "registry_read", "grant_approve")
AUDIT_ACTIONS = ("audit_read", "audit_verify", "audit_repair")
ACTIONS = CASE_ACTIONS + LEGAL_ACTIONS + ADMIN_ACTIONS + AUDIT_ACTIONS


class AccessDenied(MoneytrailError):
    """The Cedar policies denied the command. The message names the policies and grants, and the
    audit entry that recorded the denial. ``decision`` holds the :class:`Decision`."""

    def __init__(self, decision: "Decision"):
        self.decision = decision
        super().__init__(decision.message())


class PolicyError(MoneytrailError):
    """The packaged Cedar policies or schema do not load or validate (a broken installation)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    action: str
    officer: str
    case: str | None
    grant: str | None                 # the grant the decision rests on (allowed case actions)
    policies: tuple[str, ...]         # determining policies (@id of each)
    reasons: tuple[str, ...]          # one line per grant considered, or why none was
    audit_seq: int | None = None      # the audit-log entry that records this decision
    resource: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        who = f"officer {self.officer!r}"
        where = f" in case {self.case!r}" if self.case else ""
        if self.allowed:
            on = f" under grant {self.grant!r}" if self.grant else ""
            return f"{who} may {self.action}{where}{on} (policy {', '.join(self.policies)})"
        why = "; ".join(self.reasons) or "no policy permits it (deny by default)"
        seq = (f" [audit entry {self.audit_seq}]" if self.audit_seq is not None
               else " [not recorded: this workspace has no audit log yet]")
        return f"access denied: {who} may not {self.action}{where}: {why}{seq}"

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "action": self.action, "officer": self.officer, "case": self.case,
                "grant": self.grant, "policies": list(self.policies), "reasons": list(self.reasons),
                "audit_seq": self.audit_seq}


# -- the policy set ------------------------------------------------------------------------------

class Engine:
    """The packaged policies and schema, validated and parsed once."""

    def __init__(self) -> None:
        import cedarpy

        base = resources.files("moneytrail.authority")
        files = sorted((p for p in base.joinpath("policies").iterdir() if p.name.endswith(".cedar")),
                       key=lambda p: p.name)
        self.policy_text = "\n".join(p.read_text(encoding="utf-8") for p in files)
        self.schema_text = base.joinpath("schema.cedarschema").read_text(encoding="utf-8")
        res = cedarpy.validate_policies(self.policy_text, self.schema_text)
        if not res.validation_passed:
            raise PolicyError("the packaged Cedar policies do not validate against the schema: "
                              + "; ".join(str(e) for e in res.errors))
        self._cedar = cedarpy
        self.policies = cedarpy.PolicySet.from_str(self.policy_text)
        self.schema = cedarpy.Schema.from_str(self.schema_text)
        self.policy_ids = _policy_ids(self.policy_text)
        self._entities: dict[str, Any] = {}
        order = {p: i for i, p in enumerate(self.policy_ids)}
        self._rank = lambda p: (order.get(p, len(order)), p)

    # Requests and entities are checked against the schema only when ``strict`` (the tests
    # run strict): moneytrail builds them itself, and a policy that fails to evaluate (a
    # missing attribute, a wrong type) denies the request anyway (fail closed, below).
    strict = False

    def authorize(self, requests: list[dict], entities: list[dict]) -> list[tuple[bool, tuple[str, ...], list[str]]]:
        """(allowed, determining policy @ids, errors) per request. A request whose evaluation
        raised an error in any policy is denied (fail closed)."""
        # the action hierarchy (the "case_work" group) travels with the entities
        text = json.dumps(entities + _ACTION_ENTITIES)
        if self.strict:
            res = self._cedar.is_authorized_batch(requests, self.policies, text, schema=self.schema)
        else:
            # the same entity document parses to the same entity set: keep the parsed handle
            # (half the cost of a decision is Cedar parsing the entities otherwise)
            handle = self._entities.get(text)
            if handle is None:
                if len(self._entities) >= 256:
                    self._entities.clear()
                handle = self._entities[text] = self._cedar.Entities.from_json_str(text)
            res = self._cedar.is_authorized_batch(requests, self.policies, handle)
        out = []
        for r in res:
            d = r.diagnostics
            ann = d.id_annotations_by_reason
            # Cedar reports the determining policies as a set: put them in policy-file order so
            # that the same decision always reads the same
            ids = tuple(sorted((ann.get(p, p) for p in d.reasons), key=self._rank))
            errs = list(d.errors)
            out.append((r.allowed and not errs, ids, errs))
        return out


_ACTION_ENTITIES = [{"uid": {"type": "Action", "id": "case_work"}, "attrs": {}, "parents": []}] + [
    {"uid": {"type": "Action", "id": a}, "attrs": {}, "parents": [{"type": "Action", "id": "case_work"}]}
    for a in CASE_ACTIONS]


def _policy_ids(text: str) -> list[str]:
    import re
    return re.findall(r'@id\("([^"]+)"\)', text)


_ENGINE: Engine | None = None


def engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE


# -- what decisions read, cached per open workspace ---------------------------------------------------
#
# A decision reads the authority state (:mod:`moneytrail.authority.state`: the registry and the
# sources' legal-basis tags, cases and withdrawals), checked against the state signed in the
# audit log. Reading and checking it costs a few DuckDB statements, more than a command's whole
# budget, so it is done once per open workspace and kept until something may have changed it:
#
# - moneytrail's own writers say so (``ws.authority_changed()``: every change made through
#   ``state.changing``), inside or outside a transaction;
# - any committed write by any path changes the DuckDB file or its write-ahead log (size,
#   mtime, inode), which two ``stat`` calls (a few microseconds) notice.
#
# No other process can change the workspace meanwhile: DuckDB locks a database file for one
# writing process, and a read-only opening excludes writers. So a decision never rests on state
# older than the last committed change, and never on state the signed log does not vouch for.

def _file_key(p) -> tuple:
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return ()
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def decision_state(ws) -> dict:
    """The registry document (:func:`moneytrail.authority.state.decision_doc`: officers, grants,
    cases, the sources' tags and cases) as of the last committed change (see above); raises
    :class:`~moneytrail.authority.state.StateError` for a state the signed log does not vouch for."""
    key = (ws.authority_epoch, _file_key(ws.path), _file_key(f"{ws.path}.wal"))
    cached = ws.__dict__.get("_decision_state")
    if cached is not None and cached[0] == key:
        return cached[1]
    from moneytrail.audit import AuditLog
    from moneytrail.authority import state

    log = AuditLog.of(ws)
    st = state.read(ws.con, state.secret_for(log))
    state.check(ws, st)
    doc = state.decision_doc(st.rows)
    ws.__dict__["_decision_state"] = (key, doc)
    return doc


def snapshot(ws, officer: str, case: str | None, *, sources: bool = True,
             signed: bool = False) -> dict[str, Any]:
    """Everything a decision for ``officer`` in ``case`` needs: the registry document and, for
    commands that read evidence, the sources' legal-basis tags (:func:`decision_state`).
    ``signed``: the registry the audit log builds (the audit commands, when the workspace's own
    state was changed outside moneytrail and cannot be relied on)."""
    if signed:
        from moneytrail.authority import state
        doc = state.replayed_doc(ws)
    else:
        doc = decision_state(ws)
    cases = doc["cases"]
    mine = sorted(c for c, v in cases.items() if v["status"] == "open" and officer in v["members"])
    case_id = case if case is not None else (mine[0] if len(mine) == 1 else None)
    c = cases.get(case_id) if case_id is not None else None
    # the case's own sources (not withdrawn) with their tags: what a reading command reads
    tagged = [{"id": sid, "tags": doc["source_tags"][sid]} for sid in doc["source_cases"].get(case_id, [])
              if doc["source_tags"].get(sid)] if sources else []
    return {"n_officers": len(doc["officers"]), "officer": doc["officers"].get(officer),
            "grants": doc["grants"].get(officer, []), "my_cases": mine, "case_id": case_id,
            "case": c, "members": (c or {}).get("members", []), "disclosures": (c or {}).get("disclosures", []),
            "fti_subjects": (c or {}).get("fti_subjects", []), "tagged_sources": tagged}


def _uid(t: str, i: str) -> dict:
    return {"type": t, "id": str(i)}


def _ref(t: str, i: str) -> dict:
    return {"__entity": {"type": t, "id": str(i)}}


def epoch(d: _dt.date | _dt.datetime) -> int:
    if isinstance(d, _dt.datetime):
        return int(d.timestamp())
    return calendar.timegm(d.timetuple())


# -- guard ------------------------------------------------------------------------------------------------

def decide(ws, action: str, *, officer: str, case: str | None = None,
           resource: dict[str, Any] | None = None, now: float | None = None, signed: bool = False) -> Decision:
    """The decision :func:`guard` would take, without recording it (for previews and for
    diagnosing a damaged log; anything that goes on to read or change data uses ``guard``).
    ``signed`` decides on the registry the audit log builds (audit actions only)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if signed and action not in AUDIT_ACTIONS:
        raise ValueError("only audit actions are decided on the log's registry")
    t = int(time.time() if now is None else now)
    snap = snapshot(ws, officer, None if action == "case_open" else case, sources=action in DATA_ACTIONS,
                    signed=signed)
    d = _decide(action, officer, case, dict(resource or {}), snap, t)
    return Decision(d.allowed, action, officer, d.case, d.grant, d.policies, d.reasons, None, dict(resource or {}))


def guard(ws, action: str, *, officer: str, case: str | None = None,
          resource: dict[str, Any] | None = None, now: float | None = None,
          raise_on_deny: bool = True, signed: bool = False, command: Sequence[str] = ()) -> Decision:
    """Decide ``action`` for ``officer`` (in ``case``) with the Cedar policies, append the
    decision to the workspace's audit log, and return it; raise :class:`AccessDenied` when it is
    a denial (after it is logged). If the decision cannot be logged, :class:`AuditError` is raised
    and nothing may proceed.

    ``case`` None means: the one open case ``officer`` is a member of (the decision says which;
    none or several is a denial). ``resource`` describes the object: for ``ingest`` the new
    source's ``legal_basis`` tags; for reading commands optionally ``sources`` (ids read; default
    all); for ``case_open`` the prospective case's ``function`` and ``jurisdiction``; for registry
    changes ``becomes_registrar`` when bootstrapping an empty registry. Everything in it is
    recorded in the audit entry. ``command`` is the command line the officer acts through (the
    CLI's argv, from :class:`moneytrail.identity.Identity`), recorded with the decision (protected
    values as keyed hashes); none from Python. ``now`` (seconds since the epoch) is for tests of
    the Python API only; commands always decide on the server's clock.
    """
    import time as _time

    from moneytrail import _timing

    t0 = _time.perf_counter()
    try:
        return _guard(ws, action, officer=officer, case=case, resource=resource, now=now,
                      raise_on_deny=raise_on_deny, signed=signed, command=command)
    finally:
        _timing.add("authz", _time.perf_counter() - t0)


def _guard(ws, action: str, *, officer: str, case: str | None, resource: dict[str, Any] | None,
           now: float | None, raise_on_deny: bool, signed: bool, command: Sequence[str]) -> Decision:
    from moneytrail.audit import AuditError, AuditLog, append

    d = decide(ws, action, officer=officer, case=case, resource=resource, now=now, signed=signed)
    entry = {"kind": "decision", "action": action, "officer": officer, "case": d.case,
             "allowed": d.allowed, "policies": list(d.policies), "grant": d.grant,
             "reasons": list(d.reasons), "resource": _redacted(ws, d.resource)}
    if now is not None:
        entry["decided_at"] = int(now)
    if command:
        entry["command"] = _redacted_command(ws, list(command))
    try:
        seq = append(ws, entry)
    except AuditError:
        # a refusal in a workspace whose log was never started (nothing to record it in, and
        # nothing happens): say why it is refused rather than that it cannot be recorded
        if d.allowed or not raise_on_deny or AuditLog.of(ws).started():
            raise
        raise AccessDenied(d) from None
    d = Decision(d.allowed, action, officer, d.case, d.grant, d.policies, d.reasons, seq, d.resource)
    if not d.allowed and raise_on_deny:
        raise AccessDenied(d)
    return d


# what a decision's resource may hold that names a taxpayer or an order's scope: the audit log
# keeps a keyed hash of it (moneytrail.authority.state.keyed_hash), the detail stays in the
# workspace tables behind the case's decisions
_PROTECTED_KEYS = ("subjects", "scope", "addresses", "subject_addresses", "taxable_periods", "reason")


def _secret(ws) -> bytes:
    from moneytrail.audit import AuditLog, keys

    return keys.secret(AuditLog.of(ws).log_id, create=True)


def _redacted(ws, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as the audit log keeps it: protected values as keyed hashes (a ``reason`` only
    in a 6103(i)(2) request, where it describes the taxpayer's matter; a revocation's is plain)."""
    tags = resource.get("legal_basis")
    fti = bool(tags) and classify_tags(tags)["fti"]
    keys_ = [k for k in _PROTECTED_KEYS if k in resource and (k != "reason" or resource.get("change") == "fti.request")]
    if not fti and not keys_:
        return resource
    from moneytrail.authority.state import keyed_hash, protect_tag

    secret = _secret(ws)
    out = dict(resource)
    for k in keys_:
        out[k] = keyed_hash(secret, out[k])
    if fti:
        out["legal_basis"] = [protect_tag(secret, t) for t in tags]
        for k in ("file", "taxpayer"):
            if out.get(k):
                out[k] = keyed_hash(secret, out[k])
    return out


# command-line options whose value names a taxpayer or an order's scope (case fti-order / fti-request)
_PROTECTED_OPTIONS = ("--subject", "--scope", "--address", "--periods")


def _redacted_command(ws, argv: list[str]) -> list[str]:
    """The command line as the audit log keeps it: the values of the options above, ``--reason`` of
    a 6103(i)(2) request, ``fti:NAME`` tags and the file of an ``fti:`` ingest as keyed hashes."""
    fti = any("fti:" in a.lower() for a in argv)
    protected = _PROTECTED_OPTIONS + (("--reason",) if "fti-request" in argv else ())
    if not fti and not any(a.split("=", 1)[0] in protected for a in argv):
        return list(argv)
    from moneytrail.authority.state import keyed_hash, protect_tag

    secret = _secret(ws)
    out, hide_next = [], None
    for i, a in enumerate(argv):
        if hide_next is not None:
            out.append(protect_tag(secret, a) if hide_next == "--legal-basis" else keyed_hash(secret, a))
            hide_next = None
            continue
        opt, eq, val = a.partition("=")
        if opt in protected or (fti and opt == "--legal-basis"):
            if eq:
                out.append(f"{opt}=" + (protect_tag(secret, val) if opt == "--legal-basis" else keyed_hash(secret, val)))
            else:
                out.append(a)
                hide_next = opt
            continue
        # the file an FTI source is ingested from may name the taxpayer
        out.append(keyed_hash(secret, a) if fti and i > 0 and argv[i - 1] == "ingest" else a)
    return out


def _officer_entity(officer: str, snap: dict) -> dict:
    o = snap["officer"]
    return {"uid": _uid("Officer", officer),
            "attrs": {"registered": o is not None, "home_agency": (o or {}).get("home_agency") or "",
                      "roles": list((o or {}).get("roles") or [])}, "parents": []}


def _grant_entity(officer: str, g: dict | None) -> dict:
    if g is None:
        return {"uid": _uid("Grant", "(none)"),
                "attrs": {"held": False, "officer": _ref("Officer", officer), "activated": False, "revoked": False,
                          "functions": [], "jurisdictions": [], "valid_from": 0, "valid_until": 0,
                          "training_expires": 0}, "parents": []}
    return {"uid": _uid("Grant", g["grant_id"]),
            "attrs": {"held": True, "officer": _ref("Officer", officer),
                      "activated": g["status"] in ("active", "revoked"), "revoked": g["status"] == "revoked",
                      "functions": list(g["functions"] or []),
                      "jurisdictions": [norm_key(j) for j in g["jurisdictions"] or []],
                      "valid_from": int(g["valid_from"]), "valid_until": int(g["valid_until"]),
                      "training_expires": int(g["training_expires"])}, "parents": []}


def _decide(action: str, officer: str, case: str | None, resource: dict, snap: dict, now: int) -> Decision:
    eng = engine()
    principal = _uid("Officer", officer)
    entities = [_officer_entity(officer, snap)]

    if action in ADMIN_ACTIONS or action in AUDIT_ACTIONS:
        rtype, rid = ("Registry", "registry") if action in ADMIN_ACTIONS else ("AuditLog", "audit-log")
        attrs = {"empty": snap["n_officers"] == 0} if rtype == "Registry" else {}
        entities.append({"uid": _uid(rtype, rid), "attrs": attrs, "parents": []})
        if action == "grant_approve":
            ctx = {"now": now, "grantee": _ref("Officer", resource.get("grantee") or "(none)"),
                   "deputizing_official": _ref("Officer", resource.get("deputizing_official") or "(none)")}
        else:
            ctx = {"now": now, "becomes_registrar": bool(resource.get("becomes_registrar")),
                   "self_grant": bool(resource.get("self_grant")), "sign_ins": bool(resource.get("sign_ins"))}
        req = {"principal": principal, "action": _uid("Action", action), "resource": _uid(rtype, rid),
               "context": ctx}
        (ok, ids, errs), = eng.authorize([req], entities)
        reasons = () if ok else (_admin_reason(action, officer, snap, errs, ids),)
        return Decision(ok, action, officer, None, None, ids if ok else (ids or ("default-deny",)), reasons)

    # -- case-scoped ------------------------------------------------------------------------------
    note = ""
    if action == "case_open":
        case_id = case
        members = [officer]
        disclosures: list = []
        c = {"exists": True, "open": True, "function": str(resource.get("function", "")),
             "jurisdiction": norm_key(resource.get("jurisdiction", "")), "members": [_ref("Officer", officer)],
             "disclosure_list": [], "fti_subjects": []}
    else:
        case_id = snap["case_id"]
        row = snap["case"]
        if case is None and case_id is None:
            mine = snap["my_cases"] or []
            note = (f"{officer!r} is a member of no open case: open a case first (moneytrail case open CASE "
                    f"--function F --jurisdiction J --predicate '...') or name one with --case CASE" if not mine
                    else f"no case given and {officer!r} is a member of {len(mine)} open cases "
                         f"({', '.join(mine)}): name one with --case CASE")
        members = snap["members"] or []
        disclosures = snap["disclosures"] or []
        c = {"exists": row is not None, "open": bool(row and row["status"] == "open"),
             "function": (row or {}).get("function") or "",
             "jurisdiction": norm_key((row or {}).get("jurisdiction") or ""),
             "members": [_ref("Officer", m) for m in members],
             "disclosure_list": [_ref("Officer", m) for m in disclosures],
             "fti_subjects": sorted({norm_key(s) for s in snap["fti_subjects"] or []})}
    snap = {**snap, "case_attrs": c}
    case_uid = _uid("Case", case_id or "(none)")
    entities.append({"uid": case_uid, "attrs": c, "parents": []})

    # the protected sources this command reads
    protected: list[tuple[str, dict]] = []
    if action == "ingest" and resource.get("legal_basis"):
        cl = classify_tags(resource["legal_basis"])
        if cl["fti"] or cl["grand_jury"]:
            protected.append(("new", cl))
    if action in DATA_ACTIONS:
        only = resource.get("sources")
        only = None if only is None else {int(s) for s in only}
        for s in snap["tagged_sources"] or []:
            if only is not None and int(s["id"]) not in only:
                continue
            cl = classify_tags(s["tags"])
            if cl["fti"] or cl["grand_jury"]:
                protected.append((str(s["id"]), cl))
    for sid, cl in protected:
        entities.append({"uid": _uid("Source", sid), "attrs": cl, "parents": []})

    grants = snap["grants"] or []
    # recording legal process rests on the officer's role, not on a grant: one request
    candidates = [None] if action in LEGAL_ACTIONS else (grants or [None])
    for g in candidates:
        entities.append(_grant_entity(officer, g))
    requests = []
    for g in candidates:
        gref = _ref("Grant", g["grant_id"] if g else "(none)")
        requests.append({"principal": principal, "action": _uid("Action", action), "resource": case_uid,
                         "context": {"now": now, "grant": gref}})
        for sid, _ in protected:
            requests.append({"principal": principal, "action": _uid("Action", "read"),
                             "resource": _uid("Source", sid),
                             "context": {"now": now, "grant": gref, "case": _ref("Case", case_uid["id"])}})
    results = eng.authorize(requests, entities)
    per = 1 + len(protected)
    reasons = []
    for i, g in enumerate(candidates):
        chunk = results[i * per:(i + 1) * per]
        if all(ok for ok, _, _ in chunk):
            pol = list(chunk[0][1])
            for ok, ids, _ in chunk[1:]:
                pol += [p for p in ids if p not in pol]
            return Decision(True, action, officer, case_id, g["grant_id"] if g else None, tuple(pol), ())
        reasons.append(_case_reason(g, chunk, protected, snap, now, legal=action in LEGAL_ACTIONS))
    forbids = []
    for i in range(len(results)):
        for p in results[i][1]:
            if p not in forbids and not results[i][0]:
                forbids.append(p)
    if note:
        reasons.insert(0, note)
    return Decision(False, action, officer, case_id, None, tuple(forbids) or ("default-deny",), tuple(reasons))


# -- explanations --------------------------------------------------------------------------------------

def _day(v) -> str:
    return str(v)[:10] if v is not None else "?"


_EXPLAIN = {
    "unregistered-officer": lambda g, s: "not a registered officer of this workspace",
    "no-grant": lambda g, s: "holds no deputization grant",
    "grant-of-another-officer": lambda g, s: "the grant is another officer's",
    "grant-not-activated": lambda g, s: "not activated (a draft: moneytrail authority grant activate)",
    "grant-revoked": lambda g, s: f"revoked {_day(g.get('revoked_at'))}: {g.get('revocation_reason')}",
    "grant-not-yet-valid": lambda g, s: "not yet valid",
    "grant-expired": lambda g, s: f"expired after {_day(g.get('valid_until_date'))}",
    "training-expired": lambda g, s: f"training certification expired after {_day(g.get('training_expires_date'))}",
    "non-financial-function": lambda g, s: (f"case function {s['case_attrs']['function']!r} is not a "
                                            f"financial-investigation function and unlocks nothing"),
    "function-not-granted": lambda g, s: "does not grant the case's function",
    "jurisdiction-not-granted": lambda g, s: "does not cover the case's jurisdiction",
    "no-such-case": lambda g, s: "no such case",
    "case-closed": lambda g, s: "the case is closed",
    "not-a-case-member": lambda g, s: "not a member of the case",
    "legal-process-needs-counsel": lambda g, s: ("6103(i) authorities and the 6(e) disclosure list are recorded "
                                                 "by counsel or a registrar"),
    "legal-process-by-case-member": lambda g, s: ("a member of the case may not record the legal process for "
                                                  "its own access (separation of duties)"),
    "fti-needs-6103i-authority": lambda g, s: ("federal tax information (26 U.S.C. 6103) without a 6103(i) "
                                               "court order or request on the case naming its subject"),
    "fti-names-no-subject": lambda g, s: ("federal tax information that names no taxpayer (tag fti:NAME) "
                                          "cannot be read under any authority"),
    "grand-jury-disclosure-list": lambda g, s: ("grand-jury material (Fed. R. Crim. P. 6(e)): not on the "
                                                "case's disclosure list"),
}


#: the causes a denial names first, in this order: what makes the others moot (an unknown case has
#: no function or jurisdiction to grant, and no members)
_FIRST_CAUSES = ("unregistered-officer", "no-such-case", "case-closed", "no-grant", "grant-of-another-officer",
                 "grant-not-activated", "grant-revoked", "grant-not-yet-valid", "grant-expired", "training-expired")
_MOOT = {"no-such-case": {"function-not-granted", "jurisdiction-not-granted", "non-financial-function",
                          "not-a-case-member"}}


def _causes(ids) -> list[str]:
    """The forbidding policies of one request, the first real cause first, the moot ones dropped."""
    ids = sorted(ids, key=lambda p: (_FIRST_CAUSES.index(p) if p in _FIRST_CAUSES else len(_FIRST_CAUSES), p))
    moot = set().union(*(_MOOT.get(p, set()) for p in ids))
    return [p for p in ids if p not in moot]


def _case_reason(g: dict | None, chunk, protected, snap, now, legal: bool = False) -> str:
    parts = []
    for j, (ok, ids, errs) in enumerate(chunk):
        if ok:
            continue
        src = "" if j == 0 else f"source {protected[j - 1][0]}: "
        if errs:
            parts.append(f"{src}policy evaluation error ({errs[0]})")
        elif ids:
            parts += [f"{src}{p} ({_EXPLAIN.get(p, lambda g, s: p)(g or {}, snap)})" for p in _causes(ids)]
        else:
            parts.append(f"{src}no policy permits it (deny by default)")
    if legal:
        return ", ".join(parts)
    name = f"grant {g['grant_id']!r}" if g else "no grant"
    return f"{name}: " + ", ".join(parts)


_ADMIN_EXPLAIN = {
    "own-grant": "nobody records or activates their own deputization grant (separation of duties)",
    "self-approval": "nobody approves their own grant (separation of duties)",
    "not-the-deputizing-official": "only the deputizing official the grant names may approve it",
    "sign-ins-are-the-registrars": "officers' sign-ins (enrolment, lockouts, last sign-in) are for registrars only",
}


def _admin_reason(action: str, officer: str, snap: dict, errs, ids=()) -> str:
    if errs:
        return f"policy evaluation error ({errs[0]})"
    if snap["officer"] is None:
        if snap["n_officers"] == 0 and action == "registry_change":
            return ("the registry is empty: the first change must make you its registrar "
                    "(moneytrail authority init, or authority import of a file that lists you as registrar)")
        return "unregistered-officer (not a registered officer of this workspace)"
    if ids:
        return ", ".join(f"{p} ({_ADMIN_EXPLAIN.get(p, p)})" for p in ids)
    need = {"registry_change": "the registrar role", "audit_read": "the auditor or registrar role",
            "audit_repair": "the auditor or registrar role"}.get(action)
    return f"no policy permits it (deny by default){': needs ' + need if need else ''}"
