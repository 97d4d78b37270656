"""``moneytrail ingest FILE --dry-run``: what an ingest would store and quarantine, changing
nothing. The file is read by the same reader and the same checks as a real ingest, into a
scratch workspace in a private temporary folder that is removed afterwards; the case's workspace
is not opened, no source is registered, nothing is logged."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from moneytrail.ingest.mapping import Mapping

SHOWN = ("source_row", "source_position", "ts", "orig_account", "bene_account", "amount", "currency", "channel",
         "external_id", "description")


def dry_run(path: Path, fmt: str, *, mapping: Mapping | None = None, rows: int = 10) -> dict[str, Any]:
    """Ingest ``path`` into a scratch workspace; return the counts, the first ``rows`` stored
    transactions, the quarantine by reason (with one example each) and, for bank formats, the
    statements read."""
    from moneytrail.ingest import ingest_file
    from moneytrail.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="moneytrail-dry-run-"))
    try:
        with Workspace.open(tmp / "dry.duckdb") as ws:
            res = ingest_file(ws, path, fmt, mapping=mapping)
            cols = ", ".join(SHOWN)
            first = ws.records(f"SELECT {cols} FROM transactions ORDER BY source_row LIMIT ?", [int(rows)])
            reasons = ws.records("""
                SELECT coalesce(column_name, '') AS column_name, regexp_replace(reason, '[0-9]+', '#', 'g') AS kind,
                       count(*) AS n, min(source_row) AS first_row, arg_min(reason, source_row) AS example,
                       arg_min(source_position, source_row) AS position
                FROM quarantine GROUP BY 1, 2 ORDER BY n DESC, first_row LIMIT 20""")
            statements = ws.records("""
                SELECT statement_no, kind, account_id, currency, holder_name, opening_booked, closing_booked,
                       entries_read, entries_stored FROM statements ORDER BY statement_no LIMIT 20""")
        return {"file": str(path), "format": fmt, "read": res.read, "stored": res.stored,
                "quarantined": res.quarantined, "first_rows": first, "quarantine": reasons,
                "statements": statements, "changed": "nothing: a dry run"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def render(out: dict[str, Any]) -> str:
    """The dry run as plain text for the terminal."""
    lines = [f"{out['file']} ({out['format']}), dry run: read {out['read']:,}, would store {out['stored']:,}, "
             f"would quarantine {out['quarantined']:,}; nothing was changed"]
    if out["statements"]:
        lines.append("statements:")
        for s in out["statements"]:
            lines.append(f"  {s['statement_no']}. {s['kind']} account {s['account_id']} {s['currency'] or ''} "
                         f"{s['holder_name'] or ''}: opening {s['opening_booked']}, closing {s['closing_booked']}, "
                         f"entries {s['entries_stored']}/{s['entries_read']} stored")
    if out["first_rows"]:
        lines.append(f"first {len(out['first_rows'])} rows as they would be stored:")
        for r in out["first_rows"]:
            where = f" [{r['source_position']}]" if r["source_position"] else ""
            lines.append(f"  row {r['source_row']}{where}: {r['ts']}  {r['orig_account']} -> {r['bene_account']}  "
                         f"{r['amount']} {r['currency']}  {r['channel'] or ''}  {r['external_id'] or ''}  "
                         f"{(r['description'] or '')[:60]}")
    if out["quarantine"]:
        lines.append("would be quarantined:")
        for q in out["quarantine"]:
            col = f" column {q['column_name']}" if q["column_name"] else ""
            where = f" [{q['position']}]" if q["position"] else ""
            lines.append(f"  {q['n']:,} x{col}: {q['example']} (first: row {q['first_row']}{where})")
    elif out["read"]:
        lines.append("nothing would be quarantined")
    return "\n".join(lines)


__all__ = ["dry_run", "render"]
