"""``moneytrail resolve``, ``moneytrail review`` and ``moneytrail entity show``: entity resolution
of the case's parties and accounts, the review queue of uncertain pairs, and one entity
(issue 14; docs/resolve.md).

Registered on the main app by ``moneytrail.cli.main._load_command_modules``; thin commands over
:meth:`moneytrail.Session.resolve`, :meth:`~moneytrail.Session.review_queue`,
:meth:`~moneytrail.Session.review` and :meth:`~moneytrail.Session.entity`. Text from the evidence
(names, addresses) is printed as text, never as terminal markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import WorkspaceOpt, app, open_session


@app.command()
def resolve(
    ctx: typer.Context,
    retrain: bool = typer.Option(False, "--retrain", help="train the entity-resolution model again on the case's "
                                                          "records (else the stored one is used)"),
    upper: Optional[float] = typer.Option(None, "--upper", help="merge pairs at or above this match probability"),
    lower: Optional[float] = typer.Option(None, "--lower", help="pairs from this probability up to --upper go "
                                                                "to the review queue"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Resolve the case's parties and accounts: party records from the evidence, entities (pairs
    above --upper merged, uncertain ones queued for review, officers' decisions winning), accounts
    to entities, and one transfer seen at two banks matched into one movement."""
    with open_session(ctx, workspace) as sess:
        s = sess.resolve(retrain=retrain, upper=upper, lower=lower)
    if as_json:
        typer.echo(json.dumps(s, default=str))
        return
    for line in s.get("lines", []):
        typer.echo(line)


review_app = typer.Typer(help="The review queue of uncertain matches: list it, decide a pair.",
                         invoke_without_command=True)
app.add_typer(review_app, name="review")


@review_app.callback()
def review_list(
    ctx: typer.Context,
    status: str = typer.Option("review", "--status", help="review | merged | accepted | rejected"),
    limit: int = typer.Option(20, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """List pairs of party records (default: those waiting for an officer), most probable first."""
    if ctx.invoked_subcommand is not None:
        return
    with open_session(ctx, workspace) as sess:
        out = sess.review_queue(status=status, limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    from moneytrail.cli.tables import Col, Doc

    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(out["counts"].items())) or "none"

    def rec(r):
        if not r:
            return "?"
        bits = [r["full_name"], r.get("account_id") or "", r.get("address") or "",
                f"source {r['source_id']} row {r['source_row']}"]
        return "\n".join(b for b in bits if b)

    rows = []
    for p in out["pairs"]:
        prob = "" if p["match_probability"] is None else f"{p['match_probability']:.3f}"
        why = p["explanation"] or ""
        if p.get("decided_by"):
            why += f"\ndecided by {p['decided_by']}: {p['decision_reason']}"
        rows.append([f"{p['left_key']}\n{p['right_key']}", prob, rec(p["left"]), rec(p["right"]), why])
    doc = Doc()
    doc.table(f"{out['total']:,} pair(s) {status} (all pairs: {counts})",
              [Col("pair"), Col("probability", right=True, whole=True), Col("left record"), Col("right record"),
               Col("why", drop=1)], rows)
    doc.print()
    if out["total"] > out["offset"] + len(out["pairs"]):
        typer.echo(f"({out['total'] - out['offset'] - len(out['pairs']):,} more: --offset "
                   f"{out['offset'] + len(out['pairs'])})")
    if status == "review" and out["pairs"]:
        typer.echo("decide a pair: moneytrail review same LEFT RIGHT --reason '...' "
                   "(or: review different LEFT RIGHT --reason '...')")


def _decide(ctx: typer.Context, left: str, right: str, decision: str, reason: str, as_json: bool,
            workspace: Optional[Path]) -> None:
    with open_session(ctx, workspace) as sess:
        res = sess.review(left, right, decision, reason)
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    word = "the same party" if decision == "same" else "different parties"
    typer.echo(f"{res['left_key']} and {res['right_key']}: {word} (decided by {res['decided_by']}, audit entry "
               f"{res['audit_entry']}); moneytrail resolve (or any stage needing the entities) applies it")


@review_app.command("same")
def review_same(
    ctx: typer.Context,
    left: str = typer.Argument(..., help="a party record key (P...)"),
    right: str = typer.Argument(..., help="the other record's key"),
    reason: str = typer.Option(..., "--reason", help="why they are the same party (recorded)"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Decide that two party records are the same party: they are merged from now on."""
    _decide(ctx, left, right, "same", reason, as_json, workspace)


@review_app.command("different")
def review_different(
    ctx: typer.Context,
    left: str = typer.Argument(..., help="a party record key (P...)"),
    right: str = typer.Argument(..., help="the other record's key"),
    reason: str = typer.Option(..., "--reason", help="why they are different parties (recorded)"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Decide that two party records are different parties: the model never merges this pair."""
    _decide(ctx, left, right, "different", reason, as_json, workspace)


entity_app = typer.Typer(no_args_is_help=True, help="Entities: the parties the evidence names, resolved.")
app.add_typer(entity_app, name="entity")


@entity_app.command("list")
def entity_list(
    ctx: typer.Context,
    name: Optional[str] = typer.Option(None, "--name", help="entities with a record whose name contains this"),
    account: Optional[str] = typer.Option(None, "--account", help="the entity holding this account"),
    min_records: int = typer.Option(1, "--min-records", help="only entities of at least this many records"),
    limit: int = typer.Option(20, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Entities, those of most records first, with their record keys (to decide a pair with
    moneytrail review) and accounts."""
    with open_session(ctx, workspace) as sess:
        out = sess.entities(name=name, account=account, min_records=min_records, limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps(out, default=str))
        return
    from moneytrail.cli.tables import Col, Doc

    doc = Doc()
    doc.table(f"{out['total']:,} entit{'y' if out['total'] == 1 else 'ies'}",
              [Col("entity", whole=True), Col("name"), Col("kind", drop=1), Col("records"), Col("accounts")],
              [[e["entity_id"], e["name"], e.get("kind") or "", "\n".join(e["record_keys"] or []),
                ", ".join(e["account_ids"] or [])] for e in out["entities"]])
    doc.print()


@entity_app.command("show")
def entity_show(
    ctx: typer.Context,
    entity_id: str = typer.Argument(..., help="an entity id (E...)"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """An entity: its party records (source, row, how each joined), its accounts and the pairs
    that link or nearly link its records."""
    with open_session(ctx, workspace) as sess:
        e = sess.entity(entity_id)
    if as_json:
        typer.echo(json.dumps(e, default=str))
        return
    from moneytrail.cli.tables import Col, Doc, escape

    doc = Doc()
    doc.line(escape(f"{e['entity_id']}: {e['name']} ({e.get('kind') or 'kind not said'}), "
                  f"{len(e['records'])} record(s), {len(e['accounts'])} account(s)"))
    doc.table("records", [Col("record", whole=True), Col("name"), Col("account", whole=True),
                          Col("address / phone", drop=2), Col("source"), Col("how it joined", drop=1)],
              [[r["record_key"], r["full_name"], r["account_id"] or "",
                "\n".join(x for x in (r.get("address"), r.get("phone")) if x),
                f"{r['source_id']} ({r.get('source_file') or ''}) row {r['source_row']}", r["how"]]
               for r in e["records"]])
    doc.print()
    if e["accounts"]:
        typer.echo("accounts: " + ", ".join(a["account_id"] for a in e["accounts"]))
