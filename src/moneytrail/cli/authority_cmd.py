"""``moneytrail authority``, ``moneytrail case``, ``moneytrail audit`` and ``moneytrail bench audit``.

Registered on the main app by ``moneytrail.cli.main._load_command_modules``. Thin commands over
the registry, case and audit methods of :class:`moneytrail.Session`; every one is decided by the
Cedar policies and recorded in the audit log (docs/authority.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from moneytrail.cli.main import WorkspaceOpt, app, bench_app, open_session

authority_app = typer.Typer(no_args_is_help=True, help="The registry: agencies, officers, deputization grants.")
agency_app = typer.Typer(no_args_is_help=True, help="Agencies of the task force.")
officer_app = typer.Typer(no_args_is_help=True, help="Officers (unique ids, home agency, roles).")
grant_app = typer.Typer(no_args_is_help=True, help="Deputization grants: add, activate, revoke.")
case_app = typer.Typer(no_args_is_help=True, help="Cases: open, members, 6103(i) authorities, 6(e) disclosure list.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log: verify, proofs, entries.")
app.add_typer(authority_app, name="authority")
app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
authority_app.add_typer(agency_app, name="agency")
authority_app.add_typer(officer_app, name="officer")
authority_app.add_typer(grant_app, name="grant")


def _printable(text: str) -> str:
    """Control characters (a newline in an officer id, an escape sequence) shown as \\xNN."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _json(obj) -> str:
    return json.dumps(obj, default=str, indent=1)


def _ok(d) -> None:
    typer.echo(f"{d.message()} [audit entry {d.audit_seq}]")


# -- authority --------------------------------------------------------------------------------------

@authority_app.command("init")
def authority_init(
    ctx: typer.Context,
    agency: str = typer.Option(..., "--agency", help="id of your agency"),
    agency_name: str = typer.Option(..., "--agency-name"),
    agency_kind: Optional[str] = typer.Option(None, "--agency-kind", help="federal | state | local | tribal | other"),
    name: str = typer.Option(..., "--name", help="your name (you become the registry's registrar)"),
    role: List[str] = typer.Option([], "--role", help="another role for you: auditor"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Start the registry of a new workspace, with you (--as) as its registrar."""
    from moneytrail.workspace import resolve_path

    with open_session(ctx, workspace, create=True) as s:
        d = s.init_registry(agency=agency, agency_name=agency_name, agency_kind=agency_kind, officer_name=name,
                            roles=role)
        typer.echo(f"{resolve_path(workspace)}: registry started; {s.officer} is its registrar "
                   f"[audit entry {d.audit_seq}]")


@authority_app.command("import")
def authority_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="task-force YAML: agencies, officers, grants (docs/authority.md)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Import a task force's agencies, officers and grants (creates the workspace if needed)."""
    from moneytrail.authority.registry import RegistryError
    from moneytrail.cli.identity import identity

    identity(ctx)                       # no officer: said first
    if not file.is_file():              # (before a workspace is created for nothing)
        raise RegistryError(f"{file}: task-force file not found")
    with open_session(ctx, workspace, create=True) as s:
        res = s.import_taskforce(file)
    typer.echo(f"{file}: added {len(res['added'])} record(s)"
               + (f", skipped {len(res['skipped'])} already present ({', '.join(res['skipped'])})"
                  if res["skipped"] else ""))


@authority_app.command("list")
def authority_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Agencies, officers and grants, with each grant's state (active, expired, revoked, draft)."""
    with open_session(ctx, workspace) as s:
        v = s.registry()
    if as_json:
        typer.echo(_json(v))
        return
    for a in v["agencies"]:
        typer.echo(f"agency  {a['agency_id']}: {a['name']}" + (f" ({a['kind']})" if a["kind"] else ""))
    for o in v["officers"]:
        typer.echo(f"officer {o['officer_id']}: {o['name']}, {o['home_agency']}"
                   + (f" [{', '.join(o['roles'])}]" if o["roles"] else ""))
    for g in v["grants"]:
        extra = ""
        if g["state"] == "revoked":
            extra = f": {g['revocation_reason']}"
        elif g.get("cannot_activate_because"):
            extra = f": cannot activate: {'; '.join(g['cannot_activate_because'])}"
        typer.echo(f"grant   {g['grant_id']}: {g['officer_id']}, {g['state']}, "
                   f"{', '.join(g['functions']) or '-'} in {', '.join(g['jurisdictions']) or '-'}, "
                   f"{g['valid_from'] or '?'} to {g['valid_until'] or '?'}{extra}")


@authority_app.command("whoami")
def authority_whoami(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """The acting officer (and where that came from), their grants and open cases."""
    with open_session(ctx, workspace) as s:
        me = s.whoami()
    if as_json:
        typer.echo(_json(me))
        return
    typer.echo(f"officer {me['officer']}" + (f", case {me['case']}" if me["case"] else ""))
    for g in me["grants"]:
        typer.echo(f"  grant {g['grant_id']}: {g['state']}: {', '.join(g['functions'])} in "
                   f"{', '.join(g['jurisdictions'])}")
    typer.echo(f"  open cases: {', '.join(me['open_cases']) or 'none'}")


@agency_app.command("add")
def agency_add(
    ctx: typer.Context,
    agency: str = typer.Argument(...),
    name: str = typer.Option(..., "--name"),
    kind: Optional[str] = typer.Option(None, "--kind"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Register an agency."""
    with open_session(ctx, workspace) as s:
        _ok(s.add_agency(agency, name, kind))


@officer_app.command("add")
def officer_add(
    ctx: typer.Context,
    officer_id: str = typer.Argument(...),
    name: str = typer.Option(..., "--name"),
    agency: str = typer.Option(..., "--agency", help="home agency"),
    role: List[str] = typer.Option([], "--role", help="registrar | auditor | counsel (repeatable)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Register an officer (unique id, home agency)."""
    with open_session(ctx, workspace) as s:
        _ok(s.add_officer(officer_id, name, agency, role))


@officer_app.command("login")
def officer_login(
    ctx: typer.Context,
    officer_id: str = typer.Argument(..., help="the registered officer who will sign in to the web app"),
    remove: bool = typer.Option(False, "--remove", help="remove the officer's sign-in instead (needs --reason)"),
    reason: Optional[str] = typer.Option(None, "--reason", help="why the sign-in is removed"),
    valid_hours: int = typer.Option(72, "--valid-hours", help="how long the enrolment code stays valid"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Issue a one-time enrolment code for the web app (a registrar): the officer enrols at
    /enrol with it, chooses a password and adds a TOTP second factor. Issuing again resets the
    officer's password and second factor; --remove ends the sign-in."""
    with open_session(ctx, workspace) as s:
        if remove:
            r = s.remove_login(officer_id, reason or "")
            typer.echo(f"sign-in of {r['officer']} removed [audit entry {r['audit_entry']}]")
            return
        r = s.issue_login(officer_id, hours=valid_hours)
    typer.echo(f"enrolment code for {r['officer']}: {r['code']}")
    typer.echo(f"valid until {r['expires_at']:%Y-%m-%d %H:%M} UTC, once; shown only now: give it to the officer "
               f"over a channel you trust [audit entry {r['audit_entry']}]")


@grant_app.command("add")
def grant_add(
    ctx: typer.Context,
    grant: str = typer.Argument(..., help="grant id"),
    officer_id: str = typer.Option(..., "--officer", help="the deputized officer"),
    deputizing_official: Optional[str] = typer.Option(None, "--deputizing-official",
                                                      help="officer id of the deputizing official (a registered "
                                                           "officer of the deputizing agency, who approves the grant)"),
    deputizing_agency: Optional[str] = typer.Option(None, "--deputizing-agency"),
    consent_official: Optional[str] = typer.Option(None, "--consent-official",
                                                   help="who consented for the officer's home agency"),
    consent_date: Optional[str] = typer.Option(None, "--consent-date"),
    statute: Optional[str] = typer.Option(None, "--statute", help="e.g. '8 U.S.C. 1103(a)(6)'"),
    function: List[str] = typer.Option([], "--function", help="granted function (repeatable)"),
    jurisdiction: List[str] = typer.Option([], "--jurisdiction", help="(repeatable)"),
    valid_from: Optional[str] = typer.Option(None, "--valid-from", help="YYYY-MM-DD"),
    valid_until: Optional[str] = typer.Option(None, "--valid-until", help="YYYY-MM-DD, inclusive"),
    training_course: Optional[str] = typer.Option(None, "--training-course"),
    training_date: Optional[str] = typer.Option(None, "--training-date"),
    training_expires: Optional[str] = typer.Option(None, "--training-expires"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Record a deputization grant: a draft until its deputizing official approves it (grant
    approve) and a registrar activates it (grant activate). Nobody records their own grant."""
    with open_session(ctx, workspace) as s:
        _ok(s.add_grant(grant, officer_id,
                        deputizing_official=deputizing_official, deputizing_agency=deputizing_agency,
                        consent_official=consent_official, consent_date=consent_date, statute=statute,
                        functions=function, jurisdictions=jurisdiction, valid_from=valid_from,
                        valid_until=valid_until, training_course=training_course, training_date=training_date,
                        training_expires=training_expires))


@grant_app.command("approve")
def grant_approve(
    ctx: typer.Context,
    grant: str = typer.Argument(...),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Approve a draft grant, as the deputizing official it names (never your own grant)."""
    with open_session(ctx, workspace) as s:
        _ok(s.approve_grant(grant))


@grant_app.command("activate")
def grant_activate(
    ctx: typer.Context,
    grant: str = typer.Argument(...),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Activate a grant its deputizing official approved; refused, with every missing or invalid
    field named, unless complete (a registrar; never your own grant)."""
    with open_session(ctx, workspace) as s:
        _ok(s.activate_grant(grant))


@grant_app.command("revoke")
def grant_revoke(
    ctx: typer.Context,
    grant: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Revoke a grant (final; takes effect on the next command)."""
    with open_session(ctx, workspace) as s:
        _ok(s.revoke_grant(grant, reason))


# -- case -------------------------------------------------------------------------------------------

@case_app.command("open")
def case_open(
    ctx: typer.Context,
    case: str = typer.Argument(..., help="case id"),
    function: str = typer.Option(..., "--function", help="the financial-investigation function"),
    jurisdiction: str = typer.Option(..., "--jurisdiction"),
    predicate: str = typer.Option(..., "--predicate", help="the facts the case is opened on"),
    title: Optional[str] = typer.Option(None, "--title"),
    member: List[str] = typer.Option([], "--member", help="another member (repeatable)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Open a case under one of your grants; you become its lead."""
    with open_session(ctx, workspace) as s:
        _ok(s.open_case(case, function=function, jurisdiction=jurisdiction, predicate=predicate,
                        title=title, members=member))


@case_app.command("show")
def case_show(
    ctx: typer.Context,
    case: Optional[str] = typer.Argument(None, help="default: --case, or your one open case"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """A case: function, jurisdiction, predicate, members, disclosure list, 6103(i) authorities."""
    with open_session(ctx, workspace) as s:
        v = s.case_info(case)
    if as_json:
        typer.echo(_json(v))
        return
    typer.echo(f"case {v['case_id']} ({v['status']}): {v['title'] or ''}\n  function: {v['function']}, "
               f"jurisdiction: {v['jurisdiction']}\n  predicate: {v['predicate']}\n"
               f"  opened by {v['opened_by']} {str(v['opened_at'])[:19]}")
    typer.echo("  members: " + ", ".join(f"{m['officer_id']} ({m['role']})" for m in v["members"]))
    typer.echo("  authorities:")
    acting = {g["officer_id"] for g in v.get("grants", [])}
    for g in v.get("grants", []):
        by = ", ".join(x for x in (g.get("deputizing_official"), g.get("deputizing_agency")) if x) or "not recorded"
        typer.echo(f"    grant {g['grant_id']} ({g['officer_id']}): {g.get('statute') or 'statute not recorded'}; "
                   f"deputized by {by}; functions {', '.join(g['functions'])}; in {', '.join(g['jurisdictions'])}; "
                   f"valid {g.get('valid_from') or 'from activation'} to {g.get('valid_until') or 'open-ended'}")
    for m in v["members"]:
        if m["officer_id"] not in acting:
            typer.echo(f"    {m['officer_id']}: no active grant for this case's function and jurisdiction today "
                       f"(every action of theirs in it is denied)")
    if v["disclosure_list"]:
        typer.echo("    6(e) disclosure list: " + ", ".join(f"{m['officer_id']} (by {m['attorney']})"
                                                          for m in v["disclosure_list"]))
    else:
        typer.echo("    6(e) disclosure list: nobody (grand-jury material is readable by no one in this case)")
    for a in v["fti_authorities"]:
        src = (f"order of {a['judge']}, {a['court']}, {a['order_date']}" if a["kind"] == "6103(i)(1)"
               else f"request of {a['requesting_official']}, {a['official_title']}, {a['request_date']}")
        typer.echo(f"    {a['kind']} {a['authority_id']}: {src}; subjects: {', '.join(a['subjects'])}")
    if not v["fti_authorities"]:
        typer.echo("    26 U.S.C. 6103(i): none (federal tax information is readable by no one in this case)")


@case_app.command("list")
def case_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Every case in the workspace (ids, functions, status)."""
    with open_session(ctx, workspace) as s:
        rows = s.cases()
    if as_json:
        typer.echo(_json(rows))
        return
    for r in rows:
        typer.echo(f"{r['case_id']}: {r['status']}, {r['function']} in {r['jurisdiction']}, "
                   f"{r['members']} member(s){', ' + r['title'] if r['title'] else ''}")


@case_app.command("add-member")
def case_add_member(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    officer_id: str = typer.Argument(...),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Add an officer to a case."""
    with open_session(ctx, workspace) as s:
        _ok(s.add_member(case, officer_id))


@case_app.command("remove-member")
def case_remove_member(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    officer_id: str = typer.Argument(...),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Remove an officer from a case (and from its disclosure list)."""
    with open_session(ctx, workspace) as s:
        _ok(s.remove_member(case, officer_id))


@case_app.command("disclose")
def case_disclose(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    officer_id: str = typer.Argument(...),
    attorney: str = typer.Option(..., "--attorney", help="the attorney for the government making the disclosure"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Put a case member on the grand-jury disclosure list (Fed. R. Crim. P. 6(e)(3)(B))."""
    with open_session(ctx, workspace) as s:
        _ok(s.disclose(case, officer_id, attorney=attorney))


@case_app.command("fti-order")
def case_fti_order(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    judge: str = typer.Option(..., "--judge"),
    court: str = typer.Option(..., "--court"),
    date: str = typer.Option(..., "--date", help="date of the order, YYYY-MM-DD"),
    scope: str = typer.Option(..., "--scope", help="what the order covers"),
    subject: List[str] = typer.Option([], "--subject", help="a taxpayer the order names (repeatable)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Record a 26 U.S.C. 6103(i)(1) ex parte court order on the case."""
    with open_session(ctx, workspace) as s:
        _ok(s.record_fti_order(case, judge=judge, court=court, order_date=date, scope=scope, subjects=subject))


@case_app.command("fti-request")
def case_fti_request(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    official: str = typer.Option(..., "--official", help="the requesting official"),
    title: str = typer.Option(..., "--title", help="the official's title"),
    date: str = typer.Option(..., "--date", help="date of the request, YYYY-MM-DD"),
    subject: List[str] = typer.Option([], "--subject", help="taxpayer name (repeatable)"),
    address: List[str] = typer.Option([], "--address", help="that taxpayer's address (one per --subject)"),
    periods: str = typer.Option(..., "--periods", help="the taxable periods"),
    statute: str = typer.Option(..., "--statute", help="the statutory authority of the investigation"),
    reason: str = typer.Option(..., "--reason", help="why the information is relevant"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Record a complete 26 U.S.C. 6103(i)(2) written request on the case."""
    with open_session(ctx, workspace) as s:
        _ok(s.record_fti_request(case, official=official, title=title, request_date=date,
                                 subjects=subject, addresses=address, taxable_periods=periods,
                                 statutory_authority=statute, reason=reason))


@case_app.command("close")
def case_close(
    ctx: typer.Context,
    case: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Close a case: nothing more can be done in it."""
    with open_session(ctx, workspace) as s:
        _ok(s.close_case(case, reason))


# -- audit --------------------------------------------------------------------------------------------

@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    public_key: Optional[str] = typer.Option(None, "--public-key", help="hex or a file (default: the key folder's)"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Check the whole log: entries, signed tree heads, and the head kept beside the key."""
    from moneytrail.audit import AuditError

    with open_session(ctx, workspace) as s:
        rep = s.audit_verify(public_key)
    if as_json:
        typer.echo(_json(rep.to_dict()))
        if not rep.ok:
            raise typer.Exit(2)
        return
    if not rep.ok:
        first = f"first bad entry {rep.first_bad}: " if rep.first_bad is not None else ""
        raise AuditError(f"audit log does not verify: {first}{rep.problems[0]}"
                         + (f" (and {len(rep.problems) - 1} more problem(s); --json lists them)"
                            if len(rep.problems) > 1 else ""))
    typer.echo(f"audit log verified: {rep.entries} entries, {rep.heads} signed tree heads, root {rep.root}, "
               f"public key {rep.public_key}"
               + (f"; the head beside the key (size {rep.external_head}) is in the log"
                  if rep.external_head is not None else "") + f" ({rep.seconds} s)")
    for w in rep.warnings:
        typer.echo(f"warning: {w}")


@audit_app.command("repair")
def audit_repair(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """After a crash mid-append: move the entries past the last signed tree head (and a torn head
    line) into the log's repaired/ folder, check the rest verifies, and log the repair."""
    with open_session(ctx, workspace) as s:
        res = s.audit_repair()
    if as_json:
        typer.echo(_json(res))
        return
    if not res["repaired"]:
        typer.echo(res["why"])
        return
    typer.echo(f"audit log repaired: removed {res['entries_removed']} entries never covered by a signed tree head"
               + (f" and a torn head line ({res['heads_bytes_removed']} bytes)" if res.get("heads_bytes_removed") else "")
               + f"; kept in {', '.join(res['saved'])}; the repair is audit entry {res['audit_seq']}")


@audit_app.command("prove")
def audit_prove(
    ctx: typer.Context,
    index: int = typer.Argument(..., help="entry number (from 0)"),
    size: Optional[int] = typer.Option(None, "--size", help="tree size (default: the latest head)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Print an RFC 9162 inclusion proof of entry N (JSON)."""
    with open_session(ctx, workspace) as s:
        typer.echo(_json(s.audit_prove(index, size)))


@audit_app.command("consistency")
def audit_consistency(
    ctx: typer.Context,
    old: int = typer.Argument(..., help="older tree size"),
    new: int = typer.Argument(..., help="newer tree size"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Print an RFC 9162 consistency proof between two tree sizes (JSON)."""
    with open_session(ctx, workspace) as s:
        typer.echo(_json(s.audit_consistency(old, new)))


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    start: int = typer.Option(0, "--from", help="first entry"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """List audit entries: who decided or read what, when, under which policy and grant."""
    with open_session(ctx, workspace) as s:
        rows = s.audit_log(start, limit)
    if as_json:
        typer.echo(_json(rows))
        return
    for e in rows:
        if e.get("kind") == "decision":
            what = (f"{'ALLOW' if e['allowed'] else 'DENY '} {e['action']}"
                    + (f" case {e['case']}" if e.get("case") else "")
                    + (f" grant {e['grant']}" if e.get("grant") else "")
                    + f" [{', '.join(e.get('policies') or [])}]")
        elif e.get("kind") == "state":
            what = (f"STATE {e.get('change')}" + (f" case {e['case']}" if e.get("case") else "") + " "
                    + ", ".join(f"{o['table']} +{len(o.get('add', []))}/-{len(o.get('del', []))}"
                                for o in e.get("ops") or []))
        elif e.get("kind") == "genesis":
            what = f"LOG STARTED for workspace {e.get('workspace')} at {e.get('path')}"
        else:
            what = f"{e.get('kind')} " + json.dumps(e.get("what", {}), default=str)[:120]
        # every value is the log's, not ours: nothing in it may start a line of its own
        typer.echo(_printable(f"{e['seq']:>6} {e['ts'][:19]} {e.get('officer')}: {what}"))


@audit_app.command("head")
def audit_head(
    ctx: typer.Context,
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Print the latest signed tree head (JSON), to publish or compare elsewhere."""
    with open_session(ctx, workspace) as s:
        h = s.audit_head()
    typer.echo(_json(h))


@bench_app.command("audit")
def bench_audit_cmd(
    entries: int = typer.Option(1_000_000, "--entries", "-n", help="size of the log to verify"),
    guards: int = typer.Option(1000, "--guards", help="guard calls timed (per-command overhead)"),
    batch: int = typer.Option(1, "--batch", help="entries per append (signed head) when building the log"),
    runs: int = typer.Option(7, "--runs", help="fresh processes timed (a CLI command's one-time costs)"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """Authorization + audit overhead per command, append rate, and verifying a large log."""
    from moneytrail.bench.audit import bench_audit

    res = bench_audit(entries=entries, guards=guards, batch=batch, runs=runs)
    typer.echo(json.dumps(res) if format == "json" else _json(res))
