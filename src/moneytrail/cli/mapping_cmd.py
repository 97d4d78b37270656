"""``moneytrail mapping suggest FILE``: propose a YAML mapping for a CSV or XLSX file
(:mod:`moneytrail.ingest.suggest`). It reads only the file: no workspace, no officer."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import app

mapping_app = typer.Typer(no_args_is_help=True, help="Column mappings for CSV and XLSX files (docs/mapping.md).")
app.add_typer(mapping_app, name="mapping")


@mapping_app.command("suggest")
def suggest_cmd(
    file: Path = typer.Argument(..., help="the CSV or XLSX file"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the mapping here (default: print it)"),
):
    """Propose a mapping (encoding, delimiter, header row, separators, date format, amount layout,
    currency, accounts), each guess explained in a comment; check it with ``ingest --dry-run``."""
    from moneytrail.errors import ConfigError
    from moneytrail.ingest.suggest import suggest

    s = suggest(file)
    text = s.yaml(file.name)
    if out is None:
        typer.echo(text, nl=False)
    else:
        if out.exists():
            raise ConfigError(f"{out}: exists; choose another --out (a mapping is never overwritten)")
        out.write_text(text, encoding="utf-8")
        typer.echo(f"{out}: mapping proposed for {file.name}" +
                   (f"; to decide: {len(s.warnings)} (see TO DECIDE in the file)" if s.warnings else ""))
    for w in s.warnings:
        typer.echo(f"to decide: {w}", err=True)
