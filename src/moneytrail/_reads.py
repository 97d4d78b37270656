"""What the reading commands return, as one query each. Private: :class:`moneytrail.Session` calls
these with the workspace of the case it decided on, after the decision, and records the read
before the rows leave; nothing else should."""

from __future__ import annotations

import json
from typing import Any, Sequence

from moneytrail.errors import ConfigError, WorkspaceError
from moneytrail.model import Finding

MAX_ROWS = 2**62      # a count or an id bound into a query: a BIGINT holds it


def _limit(v: Any, opt: str) -> int:
    """A count or id from outside, bound as a parameter: a whole number from 0 to MAX_ROWS."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_ROWS:
        raise ConfigError(f"{opt} {str(v)[:40]!r}: a whole number from 0 to {MAX_ROWS}")
    return v


def findings(ws, typologies: Sequence[str] = (), limit: int = 0) -> list[Finding]:
    """Findings, highest score first, each with its accounts (and roles) and evidence tx ids."""
    where, args = "", []
    if typologies:
        where = "WHERE f.typology IN (" + ", ".join("?" * len(typologies)) + ")"
        args = list(typologies)
    limit = _limit(limit, "--limit")
    if limit:
        args.append(limit)
    return [Finding.from_record(r) for r in ws.records(f"""
        SELECT f.finding_id, f.typology, f.typology_version, f.score, f.first_ts, f.last_ts,
               f.total_amount, f.explanation, f.red_flag_source, f.parameters,
               (SELECT list({{'account_id': a.account_id, 'role': a.role}} ORDER BY a.role, a.account_id)
                  FROM finding_accounts a WHERE a.finding_id = f.finding_id) AS accounts,
               (SELECT list(t.tx_id ORDER BY t.tx_id) FROM finding_transactions t
                  WHERE t.finding_id = f.finding_id) AS tx_ids
        FROM findings f {where} ORDER BY f.score DESC, f.finding_id
        {'LIMIT ?' if limit else ''}""", args)]


def sources(ws) -> list[dict[str, Any]]:
    return ws.records("SELECT source_id, file_name, format, role, sha256, size_bytes, legal_basis, "
                      "received_at, rows_read, rows_stored, rows_quarantined, evidence_path, withdrawn_at, "
                      "withdrawn_by, withdrawal_reason FROM sources ORDER BY source_id")


def quarantine(ws, source: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, args = ("WHERE q.source_id = ?", [_limit(source, "--source")]) if source is not None else ("", [])
    return ws.records(f"SELECT s.file_name, q.source_id, q.source_row, q.column_name, q.reason, q.raw "
                      f"FROM quarantine q JOIN sources s USING (source_id) {where} "
                      f"ORDER BY q.source_id, q.source_row LIMIT ?", [*args, _limit(limit, "--limit")])


def top_accounts(ws, model_id: int, top: int = 20) -> list[dict[str, Any]]:
    """The highest-scoring accounts of a scoring run, with their reasons (JSON text)."""
    return ws.records("SELECT account_id, score, flagged_transactions, reasons FROM account_scores "
                      "WHERE model_id = ? ORDER BY score DESC, account_id LIMIT ?",
                      [_limit(model_id, "--model"), _limit(top, "--top")])


def models(ws) -> list[dict[str, Any]]:
    """The stored models with their features, parameters, validation metrics and split."""
    if not ws.table_exists("models"):
        rows = []
    else:
        rows = ws.records("SELECT model_id, created_at, kind, features, training_data_hash, parameters, "
                          "threshold, validation, split FROM models ORDER BY model_id")
    if not rows:
        raise WorkspaceError("this workspace has no model: train one first (moneytrail model train)")
    for r in rows:
        for k in ("features", "parameters", "validation", "split"):
            r[k] = json.loads(r[k])
    return rows
