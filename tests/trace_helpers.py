"""Shared helpers for the fund-tracing tests: small ledgers into workspaces or bare connections."""

from __future__ import annotations

import datetime as dt

import duckdb

from moneytrail.workspace import TX_ID_STRIDE, Workspace, now_utc

PSEUDO = ("cash",)


def tx_id(row: int, source: int = 1) -> int:
    return source * TX_ID_STRIDE + row


def load_ledger(ws: Workspace, rows, source_id: int = 1) -> list[int]:
    """rows: (ts, from, to, amount[, balance_after, statement_account]); row n -> tx 10^10*source + n.

    Into a case's workspace (``ws.for_case(CASE)``) the source belongs to that case, and, where the
    workspace has an audit log, it is recorded there as an ingest is (the authority state)."""
    from contextlib import nullcontext

    from moneytrail.audit import AuditLog
    from moneytrail.authority import state

    logged = AuditLog.of(ws).started()
    with (state.changing(ws, officer=None, case=ws.case, change="test ledger") if logged else nullcontext()):
        ids = _load(ws, rows, source_id)
    return ids


def _load(ws: Workspace, rows, source_id: int) -> list[int]:
    ws.con.execute(
        "INSERT INTO main.sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, format, "
        "role, legal_basis, received_at) VALUES (?, 'golden', '-', '-', 0, '-', 'test', 'transactions', [], ?)",
        [source_id, now_utc()])
    if ws.case is not None:
        ws.con.execute("INSERT INTO main.source_cases VALUES (?, ?, 'ingest', ?, NULL)", [source_id, ws.case, now_utc()])
    ids = []
    for i, r in enumerate(rows, 1):
        ts, f, t, a = r[:4]
        bal = r[4] if len(r) > 4 else None
        stmt = r[5] if len(r) > 5 else None
        if isinstance(ts, dt.date) and not isinstance(ts, dt.datetime):
            ts = dt.datetime.combine(ts, dt.time())
        ws.con.execute(
            "INSERT INTO main.transactions (tx_id, source_id, source_row, ts, orig_account, bene_account, amount, "
            "currency, balance_after, statement_account) VALUES (?, ?, ?, ?, ?, ?, ?, 'USD', ?, ?)",
            [tx_id(i, source_id), source_id, i, ts, f, t, str(a), None if bal is None else str(bal), stmt])
        ids.append(tx_id(i, source_id))
    return ids


_SHARED: list = []


def edges_con(rows, *, ids=None, order=None, shared: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding only an ``edges`` table (what the engine reads).

    rows: (ts datetime, from, to, amount units int); ids: tx ids (default 1..n);
    order: the physical insertion order (a permutation of range(n)). By default one shared
    in-memory connection is reused (opening one costs ~0.1 s; the table is replaced)."""
    if shared:
        if not _SHARED:
            c = duckdb.connect()
            c.execute("SET TimeZone = 'UTC'")
            _SHARED.append(c)
        con = _SHARED[0]
    else:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE OR REPLACE TABLE edges (tx_id BIGINT, src VARCHAR, dst VARCHAR, ts TIMESTAMP, "
                "amount DECIMAL(18, 4), src_pseudo BOOLEAN, dst_pseudo BOOLEAN)")
    ids = ids or list(range(1, len(rows) + 1))
    idx = order if order is not None else range(len(rows))
    values = []
    for i in idx:
        ts, f, t, units = rows[i]
        values.append(f"({int(ids[i])}, '{f}', '{t}', TIMESTAMP '{ts.isoformat(sep=' ')}', "
                      f"{units // 10000}.{units % 10000:04d}, {str(f in PSEUDO).lower()}, {str(t in PSEUDO).lower()})")
    if values:
        con.execute("INSERT INTO edges VALUES " + ", ".join(values))
    return con


def close(con) -> None:
    """Close a connection from edges_con unless it is the shared one."""
    if not (_SHARED and con is _SHARED[0]):
        con.close()
