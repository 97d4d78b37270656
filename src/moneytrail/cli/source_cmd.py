"""``moneytrail source withdraw`` and ``moneytrail source share``: a source's way out of a case,
and its way into another, each decided and recorded (docs/authority.md, "Cases").

Registered on the main app by ``moneytrail.cli.main._load_command_modules``; thin commands over
:meth:`moneytrail.Session.withdraw` and :meth:`moneytrail.Session.share`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import WorkspaceOpt, app, open_session

source_app = typer.Typer(no_args_is_help=True, help="A source's place in cases: withdraw it, share it.")
app.add_typer(source_app, name="source")


@source_app.command("withdraw")
def source_withdraw(
    ctx: typer.Context,
    source: int = typer.Argument(..., help="source id (moneytrail sources lists them)"),
    reason: str = typer.Option(..., "--reason", help="why it is withdrawn (recorded)"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Withdraw a source ingested in your case: no case reads it any more; its evidence copy, its
    record and its rows stay. Results computed from it earlier stay until the stage runs again."""
    with open_session(ctx, workspace) as sess:
        res = sess.withdraw(source, reason)
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    typer.echo(f"source {source} withdrawn from case {res['case']} and every case it was shared with "
               f"[audit entry {res['audit_entry']}]; run detect, score, trace or report again: results computed "
               f"before still used it")


@source_app.command("share")
def source_share(
    ctx: typer.Context,
    source: int = typer.Argument(..., help="source id of your case"),
    to: str = typer.Option(..., "--to", help="the case to share it with (you must be able to ingest there)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Share a source of your case with another case: decided as reading it here and as ingesting it
    there (its legal-basis tags apply in that case too)."""
    with open_session(ctx, workspace) as sess:
        res = sess.share(source, to)
    typer.echo(f"source {source} of case {res['from_case']} shared with case {res['to_case']} "
               f"[audit entries {', '.join(str(x) for x in res['audit_entries'])}]")
