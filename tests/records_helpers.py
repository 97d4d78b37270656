"""Rows of the employer and contract record tables (migration 0014) for tests of the typologies
that read them: inserted as an ingest would store them (record id = source id * 10^10 + row),
under a source registered for them, so provenance reads work. The readers of these files are
tested in their own modules; this is for building small, exact situations."""

from __future__ import annotations

from typing import Any

from moneytrail.workspace import TX_ID_STRIDE, Workspace, now_utc


def add_records(ws: Workspace, table: str, rows: list[dict[str, Any]], *, source_id: int | None = None,
                file_name: str | None = None) -> list[int]:
    """Insert ``rows`` (column: value) into ``main.<table>`` as rows 1..n of a new source (or of
    ``source_id``); returns their record ids."""
    from moneytrail.workspace.cases import RECORD_TABLES

    assert table in RECORD_TABLES, table
    con = ws.con
    if source_id is None:
        source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM main.sources").fetchall()[0][0]
        con.execute(
            "INSERT INTO main.sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, "
            "format, role, legal_basis, received_at, rows_read, rows_stored, rows_quarantined) "
            "VALUES (?, ?, ?, ?, 0, ?, 'test', ?, [], ?, ?, ?, 0)",
            [source_id, file_name or f"{table}.csv", f"/test/{table}.csv", "", f"{source_id:064x}", table,
             now_utc(), len(rows), len(rows)])
        if getattr(ws, "case", None) is not None:
            con.execute("INSERT INTO main.source_cases VALUES (?, ?, 'ingest', ?, 'test')",
                        [source_id, ws.case, now_utc()])
    start = con.execute(f"SELECT coalesce(max(source_row), 0) FROM main.{table} WHERE source_id = ?",
                        [source_id]).fetchall()[0][0]
    ids = []
    for i, r in enumerate(rows, start + 1):
        rid = source_id * TX_ID_STRIDE + i
        cols = ["record_id", "source_id", "source_row", *r]
        con.execute(f"INSERT INTO main.{table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [rid, source_id, i, *r.values()])
        ids.append(rid)
    return ids
