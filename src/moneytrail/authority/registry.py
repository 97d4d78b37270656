"""The registry: agencies, officers, deputization grants and cases, with their validation.

Every function here takes the acting officer (``actor``), asks :func:`guard` first (so the
change is decided by the Cedar policies and recorded in the audit log, with ``command``, the
command line it was asked through, before anything is written) and raises :class:`RegistryError` for a request that cannot be carried out. Inputs
that can be checked without the workspace (placeholders, dates, the enumerated functions) are
checked before the decision; checks against the registry after it, so an officer without
access learns nothing about the registry's contents from the error.
"""

from __future__ import annotations

import datetime as _dt
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Sequence

from moneytrail.authority import state
from moneytrail.authority.decide import Decision, epoch, guard
from moneytrail.authority.legal import (AGENCY_KINDS, FINANCIAL_FUNCTIONS, FTI_KINDS, FUNCTIONS, ID_RE,
                                        MAX_FTI_SUBJECTS, ROLES, function_id, is_placeholder, norm_key, parse_date)
from moneytrail.errors import MoneytrailError



class RegistryError(MoneytrailError):
    """A registry or case change cannot be made (names the record and the field)."""


@contextmanager
def _changing(ws, actor: str, change: str, case: str | None = None):
    """One transaction per change, recorded in the audit log (the rows removed and added, the
    state hashes before and after) before it commits: :func:`moneytrail.authority.state.changing`."""
    with state.changing(ws, officer=actor, case=case, change=change):
        yield


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _today() -> _dt.date:
    return _now().date()


def _check_id(value: str, what: str) -> str:
    v = (value or "").strip()
    if not ID_RE.fullmatch(v) or is_placeholder(v):
        raise RegistryError(f"{what} {value!r}: ids are 1-64 letters, digits and . _ : / - "
                            f"(starting with a letter or digit), and not a placeholder")
    return v


def _text(value, what: str, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RegistryError(f"{what} is required")
        return None
    v = " ".join(str(value).split())
    if is_placeholder(v):
        raise RegistryError(f"{what}: {value!r} is a placeholder, not a value")
    return v


def _date(value, what: str, *, required: bool = True, not_future: bool = False) -> _dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RegistryError(f"{what} is required")
        return None
    try:
        d = parse_date(value, what)
    except ValueError as e:
        raise RegistryError(str(e)) from None
    if not_future and d > _today():
        raise RegistryError(f"{what}: {d} is in the future")
    return d


def _functions(values: Iterable[str]) -> list[str]:
    out = []
    for v in values or ():
        f = function_id(v)
        if f not in FUNCTIONS:
            raise RegistryError(f"function {v!r} is not one a grant can record: {', '.join(FUNCTIONS)}")
        if f not in out:
            out.append(f)
    return out


def _exists(ws, table: str, col: str, value: str) -> bool:
    return bool(ws.scalar(f"SELECT count(*) FROM {table} WHERE {col} = ?", [value]))


# -- registry -----------------------------------------------------------------------------------

def init_registry(ws, actor: str, *, agency: str, agency_name: str, officer_name: str,
                  agency_kind: str | None = None, roles: Iterable[str] = (),
                  command: Sequence[str] = ()) -> Decision:
    """Bootstrap an empty registry: the agency and the acting officer, as its registrar."""
    actor = _check_id(actor, "officer")
    agency = _check_id(agency, "agency")
    agency_name = _text(agency_name, "agency name")
    officer_name = _text(officer_name, "officer name")
    kind = _kind(agency_kind)
    roles = _roles(["registrar", *roles])
    _start_log(ws, actor)
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "init", "agency": agency, "officer": actor, "roles": roles,
                        "becomes_registrar": True})
    if ws.scalar("SELECT count(*) FROM officers"):
        raise RegistryError("the registry is not empty: add agencies and officers with moneytrail authority "
                            "agency add / officer add")
    now = _now()
    with _changing(ws, actor, "init"):
        ws.con.execute("INSERT INTO agencies VALUES (?, ?, ?, ?, ?)", [agency, agency_name, kind, now, actor])
        ws.con.execute("INSERT INTO officers VALUES (?, ?, ?, ?, ?, ?)", [actor, officer_name, agency, roles, now, actor])
    return d


def _start_log(ws, actor: str) -> None:
    """Start the audit log of a workspace whose registry is being set up, if it has none (the
    genesis entry; refused for a workspace that ever had a log or holds anything)."""
    from moneytrail.audit import start_log

    if not ws.scalar("SELECT count(*) FROM main.officers"):
        start_log(ws, actor)


def _kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    k = kind.strip().lower()
    if k not in AGENCY_KINDS:
        raise RegistryError(f"agency kind {kind!r}: one of {', '.join(AGENCY_KINDS)}")
    return k


def _roles(roles: Iterable[str]) -> list[str]:
    out = []
    for r in roles or ():
        r = r.strip().lower()
        if r not in ROLES:
            raise RegistryError(f"role {r!r}: one of {', '.join(ROLES)}")
        if r not in out:
            out.append(r)
    return out


def add_agency(ws, actor: str, agency: str, name: str, kind: str | None = None, *,
               command: Sequence[str] = ()) -> Decision:
    agency = _check_id(agency, "agency")
    name = _text(name, f"agency {agency}: name")
    kind = _kind(kind)
    d = guard(ws, "registry_change", officer=actor, command=command, resource={"change": "agency.add", "agency": agency})
    if _exists(ws, "agencies", "agency_id", agency):
        raise RegistryError(f"agency {agency} is already registered")
    with _changing(ws, actor, "agency.add"):
        ws.con.execute("INSERT INTO agencies VALUES (?, ?, ?, ?, ?)", [agency, name, kind, _now(), actor])
    return d


def add_officer(ws, actor: str, officer: str, name: str, agency: str, roles: Iterable[str] = (), *,
                command: Sequence[str] = ()) -> Decision:
    officer = _check_id(officer, "officer")
    name = _text(name, f"officer {officer}: name")
    agency = _check_id(agency, "agency")
    roles = _roles(roles)
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "officer.add", "officer": officer, "agency": agency, "roles": roles})
    if _exists(ws, "officers", "officer_id", officer):
        raise RegistryError(f"officer {officer} is already registered (officer ids are unique)")
    if not _exists(ws, "agencies", "agency_id", agency):
        raise RegistryError(f"officer {officer}: home agency {agency} is not registered (authority agency add)")
    with _changing(ws, actor, "officer.add"):
        ws.con.execute("INSERT INTO officers VALUES (?, ?, ?, ?, ?, ?)", [officer, name, agency, roles, _now(), actor])
    return d


GRANT_FIELDS = ("deputizing_official", "deputizing_agency", "consent_official", "consent_agency", "consent_date",
                "statute", "functions", "jurisdictions", "valid_from", "valid_until", "training_course",
                "training_date", "training_expires")


def _grant_row(grant: str, fields: dict) -> dict:
    unknown = set(fields) - set(GRANT_FIELDS)
    if unknown:
        raise RegistryError(f"grant {grant}: unknown field(s) {', '.join(sorted(unknown))}")
    return {
        "deputizing_official": (None if fields.get("deputizing_official") in (None, "") else
                                _check_id(str(fields["deputizing_official"]),
                                          f"grant {grant}: deputizing official (the officer id of a registered "
                                          f"official of the deputizing agency)")),
        "deputizing_agency": _text(fields.get("deputizing_agency"), f"grant {grant}: deputizing agency", required=False),
        "consent_official": _text(fields.get("consent_official"), f"grant {grant}: home-agency consent official", required=False),
        "consent_agency": _text(fields.get("consent_agency"), f"grant {grant}: consenting agency", required=False),
        "consent_date": _date(fields.get("consent_date"), f"grant {grant}: consent date", required=False, not_future=True),
        "statute": _text(fields.get("statute"), f"grant {grant}: statute", required=False),
        "functions": _functions(fields.get("functions") or []),
        "jurisdictions": [_text(j, f"grant {grant}: jurisdiction") for j in fields.get("jurisdictions") or []],
        "valid_from": _date(fields.get("valid_from"), f"grant {grant}: valid from", required=False),
        "valid_until": _date(fields.get("valid_until"), f"grant {grant}: valid until", required=False),
        "training_course": _text(fields.get("training_course"), f"grant {grant}: training course", required=False),
        "training_date": _date(fields.get("training_date"), f"grant {grant}: training date", required=False, not_future=True),
        "training_expires": _date(fields.get("training_expires"), f"grant {grant}: training expiry", required=False),
    }


def add_grant(ws, actor: str, grant: str, officer: str, *, command: Sequence[str] = (), **fields) -> Decision:
    """Record a deputization grant, as a draft: it is activated (:func:`activate_grant`) once every
    required field is there and its deputizing official has approved it (:func:`approve_grant`).
    Nobody records their own grant."""
    grant = _check_id(grant, "grant")
    officer = _check_id(officer, "officer")
    row = _grant_row(grant, fields)
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "grant.add", "grant": grant, "officer": officer,
                        "deputizing_official": row["deputizing_official"], "functions": row["functions"],
                        "jurisdictions": row["jurisdictions"], "self_grant": officer == actor})
    with _changing(ws, actor, "grant.add"):
        _insert_grant(ws, actor, grant, officer, row)
    return d


def _insert_grant(ws, actor: str, grant: str, officer: str, row: dict) -> None:
    if _exists(ws, "grants", "grant_id", grant):
        raise RegistryError(f"grant {grant} already exists (a grant is never edited: revoke it and issue a new one)")
    home = ws.scalar("SELECT home_agency FROM officers WHERE officer_id = ?", [officer])
    if home is None:
        raise RegistryError(f"grant {grant}: officer {officer} is not registered")
    if officer == actor:
        raise RegistryError(f"grant {grant}: nobody records their own grant (separation of duties)")
    if row["consent_agency"] is None and row["consent_official"] is not None:
        row["consent_agency"] = home
    ws.con.execute(
        "INSERT INTO grants (grant_id, officer_id, " + ", ".join(row) + ", status, created_at, created_by) "
        "VALUES (?, ?, " + ", ".join("?" * len(row)) + ", 'draft', ?, ?)",
        [grant, officer, *row.values(), _now(), actor])


def _grant_people(ws, grant: str) -> tuple[str | None, str | None]:
    """(grantee, deputizing official) of a grant; (None, None) if there is no such grant."""
    rows = ws.query("SELECT officer_id, deputizing_official FROM grants WHERE grant_id = ?", [grant])
    return rows[0] if rows else (None, None)


def grant_problems(ws, grant: str) -> list[str]:
    """Why a grant cannot be activated (empty: it can)."""
    rows = ws.records("SELECT g.*, o.home_agency FROM grants g LEFT JOIN officers o USING (officer_id) "
                      "WHERE grant_id = ?", [grant])
    if not rows:
        return [f"no grant {grant}"]
    g = rows[0]
    out = []
    labels = {"deputizing_official": "deputizing official", "deputizing_agency": "deputizing agency",
              "consent_official": "home-agency consent (official)", "consent_date": "home-agency consent date",
              "statute": "statute", "valid_from": "valid from", "valid_until": "valid until",
              "training_course": "training course", "training_date": "training date",
              "training_expires": "training expiry"}
    missing = [labels[k] for k in labels if g[k] is None or (isinstance(g[k], str) and is_placeholder(g[k]))]
    if not g["functions"]:
        missing.append("functions")
    if not g["jurisdictions"]:
        missing.append("jurisdictions")
    if missing:
        out.append("missing " + ", ".join(missing))
    if g["home_agency"] is None:
        out.append(f"officer {g['officer_id']} is not registered")
    elif g["consent_agency"] is not None and g["consent_agency"] != g["home_agency"]:
        out.append(f"consent must come from the officer's home agency {g['home_agency']}, "
                   f"not {g['consent_agency']}")
    if g["deputizing_agency"] and not _exists(ws, "agencies", "agency_id", g["deputizing_agency"]):
        out.append(f"deputizing agency {g['deputizing_agency']} is not registered")
    dep = g["deputizing_official"]
    if dep:
        dep_agency = ws.scalar("SELECT home_agency FROM officers WHERE officer_id = ?", [dep])
        if dep == g["officer_id"]:
            out.append("the grantee cannot be their own deputizing official")
        elif dep_agency is None:
            out.append(f"deputizing official {dep} is not a registered officer (authority officer add)")
        elif g["deputizing_agency"] and dep_agency != g["deputizing_agency"]:
            out.append(f"deputizing official {dep} belongs to {dep_agency}, not to the deputizing agency "
                       f"{g['deputizing_agency']}")
        elif not ws.scalar("SELECT count(*) FROM grant_approvals WHERE grant_id = ? AND officer_id = ?", [grant, dep]):
            out.append(f"not yet approved by its deputizing official {dep} "
                       f"(moneytrail authority grant approve {grant} --as {dep})")
    if g["valid_from"] and g["valid_until"] and g["valid_until"] < g["valid_from"]:
        out.append("valid until is before valid from")
    if g["valid_until"] and g["valid_until"] < _today():
        out.append(f"valid until {g['valid_until']} has passed")
    if g["training_date"] and g["training_expires"] and g["training_expires"] < g["training_date"]:
        out.append("training expiry is before the training date")
    if g["training_expires"] and g["training_expires"] < _today():
        out.append(f"training certification expired {g['training_expires']}")
    if g["status"] == "revoked":
        out.append("the grant was revoked (revocation is final: issue a new grant)")
    elif g["status"] == "active":
        out.append("the grant is already active")
    return out


def approve_grant(ws, actor: str, grant: str, *, command: Sequence[str] = ()) -> Decision:
    """The deputizing official a draft grant names approves it (not the grantee: nobody approves
    their own grant); a registrar may then activate it."""
    grant = _check_id(grant, "grant")
    grantee, official = _grant_people(ws, grant)
    d = guard(ws, "grant_approve", officer=actor, command=command,
              resource={"change": "grant.approve", "grant": grant, "grantee": grantee,
                        "deputizing_official": official})
    status = ws.scalar("SELECT status FROM grants WHERE grant_id = ?", [grant])
    if status != "draft":
        raise RegistryError(f"grant {grant} is {status}: only a draft is approved")
    if ws.scalar("SELECT count(*) FROM grant_approvals WHERE grant_id = ? AND officer_id = ?", [grant, actor]):
        raise RegistryError(f"grant {grant} is already approved by {actor}")
    with _changing(ws, actor, "grant.approve"):
        ws.con.execute("INSERT INTO grant_approvals VALUES (?, ?, ?)", [grant, actor, _now()])
    return d


def activate_grant(ws, actor: str, grant: str, *, command: Sequence[str] = ()) -> Decision:
    """Activate a complete grant its deputizing official approved (a registrar; not the grantee)."""
    grant = _check_id(grant, "grant")
    grantee, _ = _grant_people(ws, grant)
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "grant.activate", "grant": grant, "self_grant": grantee == actor})
    problems = grant_problems(ws, grant)
    if problems:
        raise RegistryError(f"grant {grant} cannot be activated: " + "; ".join(problems))
    with _changing(ws, actor, "grant.activate"):
        ws.con.execute("UPDATE grants SET status = 'active', activated_at = ?, activated_by = ? WHERE grant_id = ?",
                       [_now(), actor, grant])
    return d


def revoke_grant(ws, actor: str, grant: str, reason: str, *, command: Sequence[str] = ()) -> Decision:
    grant = _check_id(grant, "grant")
    reason = _text(reason, f"grant {grant}: revocation reason")
    d = guard(ws, "registry_change", officer=actor, command=command,
              resource={"change": "grant.revoke", "grant": grant, "reason": reason})
    status = ws.scalar("SELECT status FROM grants WHERE grant_id = ?", [grant])
    if status is None:
        raise RegistryError(f"no grant {grant}")
    if status == "revoked":
        raise RegistryError(f"grant {grant} is already revoked")
    with _changing(ws, actor, "grant.revoke"):
        ws.con.execute("UPDATE grants SET status = 'revoked', revoked_at = ?, revoked_by = ?, revocation_reason = ? "
                       "WHERE grant_id = ?", [_now(), actor, reason, grant])
    return d


def grant_state(g: dict, now: _dt.datetime | None = None) -> str:
    """draft | active | revoked | expired | training-expired | not-yet-valid."""
    now = now or _now()
    if g["status"] != "active":
        return g["status"]
    t = epoch(now)
    if g["valid_from"] and t < epoch(g["valid_from"]):
        return "not-yet-valid"
    if g["valid_until"] and t >= epoch(g["valid_until"]) + 86400:
        return "expired"
    if g["training_expires"] and t >= epoch(g["training_expires"]) + 86400:
        return "training-expired"
    return "active"


def registry_view(ws, actor: str, *, command: Sequence[str] = ()) -> dict[str, Any]:
    guard(ws, "registry_read", officer=actor, command=command)
    grants = ws.records("SELECT * FROM grants ORDER BY grant_id")
    for g in grants:
        g["state"] = grant_state(g)
        if g["status"] == "draft":
            g["cannot_activate_because"] = grant_problems(ws, g["grant_id"])
    return {"agencies": ws.records("SELECT * FROM agencies ORDER BY agency_id"),
            "officers": ws.records("SELECT * FROM officers ORDER BY officer_id"),
            "grants": grants}


# -- import ------------------------------------------------------------------------------------------

def import_taskforce(ws, actor: str, data: dict | str | Path, *, command: Sequence[str] = ()) -> dict[str, Any]:
    """Import a task-force file (YAML: agencies, officers, grants; see docs/authority.md).

    Into an empty registry only an officer the file names as registrar may import it; into a
    non-empty one, a registrar. Records already present (same id) are skipped, not changed.
    """
    import yaml

    if not isinstance(data, dict):
        p = Path(data)
        if not p.is_file():
            raise RegistryError(f"{p}: task-force file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise RegistryError(f"{p}: not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise RegistryError(f"{p}: expected a mapping with agencies, officers and grants")
    unknown = set(data) - {"agencies", "officers", "grants"}
    if unknown:
        raise RegistryError(f"task-force file: unknown section(s) {', '.join(sorted(unknown))}")
    agencies = data.get("agencies") or []
    officers = data.get("officers") or []
    grants = data.get("grants") or []
    for what, items in (("agencies", agencies), ("officers", officers), ("grants", grants)):
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise RegistryError(f"task-force file: {what} must be a list of mappings")
    for g in grants:
        if "activate" in g:
            raise RegistryError(f"task-force file: grant {g.get('id')}: 'activate' is not part of a task-force file: "
                                f"a grant is activated by a registrar after its deputizing official approves it "
                                f"(moneytrail authority grant approve, then grant activate)")
    registrars = {str(o.get("id")) for o in officers if "registrar" in (o.get("roles") or [])}
    empty = not ws.scalar("SELECT count(*) FROM officers")
    becomes = empty and actor in registrars
    if becomes:
        _start_log(ws, actor)
    guard(ws, "registry_change", officer=actor, command=command,
          resource={"change": "import", "agencies": [a.get("id") for a in agencies],
                    "officers": [o.get("id") for o in officers], "grants": [g.get("id") for g in grants],
                    "becomes_registrar": becomes,
                    "self_grant": any(str(g.get("officer")) == actor for g in grants)})
    done: dict[str, list] = {"added": [], "skipped": []}
    now = _now()

    def new(table, col, i):
        if _exists(ws, table, col, i):
            done["skipped"].append(i)
            return False
        done["added"].append(i)
        return True

    with _changing(ws, actor, "import"):
        for a in agencies:
            i = _check_id(str(a.get("id", "")), "agency")
            if new("agencies", "agency_id", i):
                ws.con.execute("INSERT INTO agencies VALUES (?, ?, ?, ?, ?)",
                               [i, _text(a.get("name"), f"agency {i}: name"), _kind(a.get("kind")), now, actor])
        for o in officers:
            i = _check_id(str(o.get("id", "")), "officer")
            if new("officers", "officer_id", i):
                ag = _check_id(str(o.get("agency", "")), f"officer {i}: agency")
                if not _exists(ws, "agencies", "agency_id", ag):
                    raise RegistryError(f"officer {i}: home agency {ag} is not registered")
                ws.con.execute("INSERT INTO officers VALUES (?, ?, ?, ?, ?, ?)",
                               [i, _text(o.get("name"), f"officer {i}: name"), ag, _roles(o.get("roles") or []),
                                now, actor])
        for g in grants:
            g = dict(g)
            i = _check_id(str(g.pop("id", "")), "grant")
            if not new("grants", "grant_id", i):
                continue
            officer = _check_id(str(g.pop("officer", "")), f"grant {i}: officer")
            consent = g.pop("home_agency_consent", None) or {}
            training = g.pop("training", None) or {}
            fields = dict(g)
            if consent:
                fields.update(consent_official=consent.get("official"), consent_agency=consent.get("agency"),
                              consent_date=consent.get("date"))
            if training:
                fields.update(training_course=training.get("course"), training_date=training.get("date"),
                              training_expires=training.get("expires"))
            # the import as a whole was decided above; each grant is validated as add_grant does
            _insert_grant(ws, actor, i, officer, _grant_row(i, fields))
    return done


# -- cases ---------------------------------------------------------------------------------------------

def open_case(ws, actor: str, case: str, *, function: str, jurisdiction: str, predicate: str,
              title: str | None = None, members: Iterable[str] = (), command: Sequence[str] = ()) -> Decision:
    """Open a case under a financial-investigation function; the opener is its lead."""
    case = _check_id(case, "case")
    f = function_id(function or "")
    if f not in FUNCTIONS:
        raise RegistryError(f"case {case}: function {function!r} is not one of {', '.join(FINANCIAL_FUNCTIONS)}")
    jurisdiction = _text(jurisdiction, f"case {case}: jurisdiction")
    predicate = _text(predicate, f"case {case}: predicate")
    if len(predicate) < 10:
        raise RegistryError(f"case {case}: the predicate must state the facts the case is opened on")
    title = _text(title, f"case {case}: title", required=False)
    members = [_check_id(m, "member") for m in members or () if m != actor]
    d = guard(ws, "case_open", officer=actor, command=command, case=case,
              resource={"function": f, "jurisdiction": jurisdiction, "members": members})
    if _exists(ws, "cases", "case_id", case):
        raise RegistryError(f"case {case} already exists")
    for m in members:
        if not _exists(ws, "officers", "officer_id", m):
            raise RegistryError(f"case {case}: member {m} is not a registered officer")
    now = _now()
    with _changing(ws, actor, "case.open", case):
        ws.con.execute("INSERT INTO cases (case_id, title, function, jurisdiction, predicate, status, opened_by, "
                       "opened_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
                       [case, title, f, jurisdiction, predicate, actor, now])
        ws.con.execute("INSERT INTO case_members VALUES (?, ?, 'lead', ?, ?, NULL, NULL)", [case, actor, now, actor])
        for m in members:
            ws.con.execute("INSERT INTO case_members VALUES (?, ?, 'member', ?, ?, NULL, NULL)", [case, m, now, actor])
    return d


def _member(ws, case: str, officer: str) -> bool:
    return bool(ws.scalar("SELECT count(*) FROM case_members WHERE case_id = ? AND officer_id = ? "
                          "AND removed_at IS NULL", [case, officer]))


def add_member(ws, actor: str, case: str, officer: str, *, command: Sequence[str] = ()) -> Decision:
    case, officer = _check_id(case, "case"), _check_id(officer, "officer")
    d = guard(ws, "case_update", officer=actor, command=command, case=case, resource={"change": "member.add", "member": officer})
    if not _exists(ws, "officers", "officer_id", officer):
        raise RegistryError(f"officer {officer} is not registered")
    if _member(ws, case, officer):
        raise RegistryError(f"{officer} is already a member of case {case}")
    with _changing(ws, actor, "member.add", case):
        ws.con.execute("INSERT INTO case_members VALUES (?, ?, 'member', ?, ?, NULL, NULL)",
                       [case, officer, _now(), actor])
    return d


def remove_member(ws, actor: str, case: str, officer: str, *, command: Sequence[str] = ()) -> Decision:
    case, officer = _check_id(case, "case"), _check_id(officer, "officer")
    d = guard(ws, "case_update", officer=actor, command=command, case=case, resource={"change": "member.remove", "member": officer})
    if not _member(ws, case, officer):
        raise RegistryError(f"{officer} is not a member of case {case}")
    now = _now()
    with _changing(ws, actor, "member.remove", case):
        ws.con.execute("UPDATE case_members SET removed_at = ?, removed_by = ? WHERE case_id = ? AND officer_id = ? "
                       "AND removed_at IS NULL", [now, actor, case, officer])
        ws.con.execute("UPDATE case_disclosures SET withdrawn_at = ?, withdrawn_by = ? WHERE case_id = ? "
                       "AND officer_id = ? AND withdrawn_at IS NULL", [now, actor, case, officer])
    return d


def add_disclosure(ws, actor: str, case: str, officer: str, *, attorney: str,
                   command: Sequence[str] = ()) -> Decision:
    """Put a case member on the grand-jury disclosure list (Fed. R. Crim. P. 6(e)(3)(B)): recorded
    by counsel or a registrar who is not a member of the case (nobody lists themselves)."""
    case, officer = _check_id(case, "case"), _check_id(officer, "officer")
    attorney = _text(attorney, "the attorney for the government making the disclosure")
    d = guard(ws, "case_legal", officer=actor, command=command, case=case,
              resource={"change": "disclosure.add", "member": officer, "attorney": attorney})
    if not _member(ws, case, officer):
        raise RegistryError(f"{officer} is not a member of case {case}: add them to the case first")
    if ws.scalar("SELECT count(*) FROM case_disclosures WHERE case_id = ? AND officer_id = ? AND withdrawn_at IS NULL",
                 [case, officer]):
        raise RegistryError(f"{officer} is already on the disclosure list of case {case}")
    with _changing(ws, actor, "disclosure.add", case):
        ws.con.execute("INSERT INTO case_disclosures VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                       [case, officer, attorney, _now(), actor])
    return d


def _subjects(subjects: Iterable[str], where: str) -> list[str]:
    subs = []
    for s in subjects or ():
        v = _text(s, f"{where}: subject")
        if norm_key(v) in {norm_key(x) for x in subs}:
            continue
        subs.append(v)
    if not subs:
        raise RegistryError(f"{where}: name the taxpayer(s) it covers (--subject NAME); an authority covers "
                            f"named subjects, never a bulk list")
    if len(subs) > MAX_FTI_SUBJECTS:
        raise RegistryError(f"{where}: {len(subs)} subjects: an authority covers named subjects, never a bulk "
                            f"list (at most {MAX_FTI_SUBJECTS})")
    return subs


def record_fti_order(ws, actor: str, case: str, *, judge: str, court: str, order_date, scope: str,
                     subjects: Iterable[str], command: Sequence[str] = ()) -> Decision:
    """Record a 26 U.S.C. 6103(i)(1) ex parte court order on the case."""
    case = _check_id(case, "case")
    where = f"case {case}: 6103(i)(1) order"
    judge = _text(judge, f"{where}: judge")
    court = _text(court, f"{where}: court")
    od = _date(order_date, f"{where}: order date", not_future=True)
    scope = _text(scope, f"{where}: scope")
    subs = _subjects(subjects, where)
    d = guard(ws, "case_legal", officer=actor, command=command, case=case,
              resource={"change": "fti.order", "judge": judge, "court": court, "order_date": str(od),
                        "subjects": subs, "scope": scope})
    _insert_authority(ws, actor, case, "6103(i)(1)", subs, dict(judge=judge, court=court, order_date=od, scope=scope))
    return d


def record_fti_request(ws, actor: str, case: str, *, official: str, title: str, request_date,
                       subjects: Iterable[str], addresses: Iterable[str], taxable_periods: str,
                       statutory_authority: str, reason: str, command: Sequence[str] = ()) -> Decision:
    """Record a complete 26 U.S.C. 6103(i)(2) written request on the case: the requesting
    official and title, the date, and (i)(2)(B)'s four elements: each taxpayer's name and
    address, the taxable periods, the statutory authority, the specific reason."""
    case = _check_id(case, "case")
    where = f"case {case}: 6103(i)(2) request"
    official = _text(official, f"{where}: requesting official")
    title = _text(title, f"{where}: official's title")
    rd = _date(request_date, f"{where}: request date", not_future=True)
    subs = _subjects(subjects, where)
    addrs = [_text(a, f"{where}: taxpayer address") for a in addresses or ()]
    if len(addrs) != len(subs):
        raise RegistryError(f"{where}: give one address per taxpayer ({len(subs)} subject(s), {len(addrs)} "
                            f"address(es)), as 6103(i)(2)(B)(i) requires")
    periods = _text(taxable_periods, f"{where}: taxable periods")
    statute = _text(statutory_authority, f"{where}: statutory authority")
    reason = _text(reason, f"{where}: reason")
    d = guard(ws, "case_legal", officer=actor, command=command, case=case,
              resource={"change": "fti.request", "official": official, "request_date": str(rd),
                        "subjects": subs})
    _insert_authority(ws, actor, case, "6103(i)(2)", subs,
                      dict(requesting_official=official, official_title=title, request_date=rd,
                           subject_addresses=addrs, taxable_periods=periods, statutory_authority=statute,
                           reason=reason))
    return d


def _insert_authority(ws, actor, case, kind, subjects, fields):
    assert kind in FTI_KINDS
    n = ws.scalar("SELECT count(*) FROM case_authorities WHERE case_id = ?", [case]) + 1
    aid = f"{case}/6103-{n}"
    cols = ["authority_id", "case_id", "kind", "subjects", *fields, "recorded_at", "recorded_by"]
    with _changing(ws, actor, f"fti.{'order' if kind == '6103(i)(1)' else 'request'}", case):
        ws.con.execute(f"INSERT INTO case_authorities ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       [aid, case, kind, subjects, *fields.values(), _now(), actor])


def close_case(ws, actor: str, case: str, reason: str, *, command: Sequence[str] = ()) -> Decision:
    case = _check_id(case, "case")
    reason = _text(reason, f"case {case}: reason for closing")
    d = guard(ws, "case_update", officer=actor, command=command, case=case, resource={"change": "close", "reason": reason})
    with _changing(ws, actor, "case.close", case):
        ws.con.execute("UPDATE cases SET status = 'closed', closed_by = ?, closed_at = ?, close_reason = ? "
                       "WHERE case_id = ?", [actor, _now(), reason, case])
    return d


def acting_grants(ws, case: str, function: str, jurisdiction: str, day) -> list[dict[str, Any]]:
    """The grants the case's members act under on ``day``: active, valid that day (training too), granting the
    case's function in its jurisdiction (what the case report's header and ``case show`` list).
    Jurisdictions compare as the decisions compare them (``norm_key``: "D. Ariz." is "d. ariz.")."""
    from moneytrail.authority.legal import norm_key

    rows = ws.records("""
        SELECT g.grant_id, g.officer_id, g.statute, g.deputizing_agency, g.deputizing_official,
               g.functions, g.jurisdictions, g.valid_from, g.valid_until, g.status, g.activated_at
        FROM grants g JOIN case_members m ON m.officer_id = g.officer_id
        WHERE m.case_id = ? AND m.removed_at IS NULL AND g.status = 'active' AND list_contains(g.functions, ?)
          AND (g.valid_from IS NULL OR g.valid_from <= ?) AND (g.valid_until IS NULL OR g.valid_until >= ?)
          AND (g.training_expires IS NULL OR g.training_expires >= ?)
        ORDER BY g.officer_id, g.grant_id""", [case, function, day, day, day])
    want = norm_key(jurisdiction or "")
    return [g for g in rows if any(norm_key(j) == want for j in g["jurisdictions"] or [])]


def case_view(ws, actor: str, case: str | None = None, *, command: Sequence[str] = ()) -> dict[str, Any]:
    import datetime as _dt

    d = guard(ws, "case_read", officer=actor, command=command, case=case)
    c = d.case
    view = ws.records("SELECT * FROM cases WHERE case_id = ?", [c])[0]
    view["members"] = ws.records("SELECT officer_id, role, added_at, added_by FROM case_members "
                                 "WHERE case_id = ? AND removed_at IS NULL ORDER BY added_at", [c])
    view["grants"] = acting_grants(ws, c, view["function"], view["jurisdiction"],
                                   _dt.datetime.now(_dt.timezone.utc).date())
    view["disclosure_list"] = ws.records("SELECT officer_id, attorney, noted_at FROM case_disclosures "
                                         "WHERE case_id = ? AND withdrawn_at IS NULL ORDER BY noted_at", [c])
    view["fti_authorities"] = ws.records("SELECT * FROM case_authorities WHERE case_id = ? AND withdrawn_at IS NULL "
                                         "ORDER BY recorded_at", [c])
    from moneytrail.audit import record_read
    record_read(ws, actor, c, {"case": c, "members": len(view["members"]),
                               "authorities": len(view["fti_authorities"])}, action="case_read")
    return view


def list_cases(ws, actor: str, *, command: Sequence[str] = ()) -> list[dict[str, Any]]:
    guard(ws, "registry_read", officer=actor, command=command, resource={"what": "cases"})
    return ws.records("SELECT c.case_id, c.title, c.function, c.jurisdiction, c.status, c.opened_by, c.opened_at, "
                      "(SELECT count(*) FROM case_members m WHERE m.case_id = c.case_id AND m.removed_at IS NULL) "
                      "AS members FROM cases c ORDER BY c.case_id")
