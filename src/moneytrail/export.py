"""``moneytrail export``: findings with the exact transactions behind them and where each came
from, as files for a case file, a prosecutor or another tool.

A folder holds:

- ``findings.csv|parquet``: one row per finding (typology and version, score, period, amount,
  explanation, red-flag source, parameters as JSON, accounts as ``account:role;...``);
- ``finding_transactions.csv|parquet``: one row per (finding, transaction) with the transaction's
  fields and its provenance: source id, file name, SHA-256 of the evidence file, 1-based row;
- ``sources.csv|parquet``: the evidence sources those transactions come from (hash, evidence
  path, legal-basis tags, row accounting);
- ``manifest.json``: who exported what, when, under which decision (audit entry), the filters,
  the row counts and the SHA-256 of every file written.

The caller decides first, and records the read in :func:`write`'s ``before_writing`` (it gets the
row counts before any file is written).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from moneytrail import __version__
from moneytrail.errors import ConfigError

FORMATS = ("csv", "parquet")


def _where(typologies: Sequence[str], min_score: float | None) -> tuple[str, list]:
    conds, args = [], []
    if typologies:
        conds.append("f.typology IN (" + ", ".join("?" * len(typologies)) + ")")
        args += list(typologies)
    if min_score is not None:
        conds.append("f.score >= ?")
        args.append(float(min_score))
    return ("WHERE " + " AND ".join(conds)) if conds else "", args


def _queries(typologies: Sequence[str], min_score: float | None) -> tuple[dict[str, str], list]:
    where, args = _where(typologies, min_score)
    chosen = f"SELECT f.finding_id FROM findings f {where}"
    findings = f"""
        SELECT f.finding_id, f.typology, f.typology_version, f.score, f.first_ts, f.last_ts, f.total_amount,
               f.explanation, f.red_flag_source, f.parameters,
               (SELECT string_agg(a.account_id || ':' || a.role, ';' ORDER BY a.role, a.account_id)
                  FROM finding_accounts a WHERE a.finding_id = f.finding_id) AS accounts
        FROM findings f {where} ORDER BY f.score DESC, f.finding_id"""
    txs = f"""
        SELECT ft.finding_id, t.tx_id, t.ts, t.orig_account, t.bene_account, t.amount, t.currency, t.channel,
               t.tx_type, t.description, t.external_id, t.source_id, s.file_name AS source_file,
               s.sha256 AS source_sha256, t.source_row
        FROM finding_transactions ft
        JOIN transactions t USING (tx_id)
        JOIN sources s ON s.source_id = t.source_id
        WHERE ft.finding_id IN ({chosen})
        ORDER BY ft.finding_id, t.ts, t.tx_id"""
    sources = f"""
        SELECT s.source_id, s.file_name, s.format, s.role, s.sha256, s.size_bytes, s.evidence_path,
               array_to_string(s.legal_basis, ';') AS legal_basis, s.received_at, s.rows_read, s.rows_stored,
               s.rows_quarantined
        FROM sources s
        WHERE s.source_id IN (SELECT t.source_id FROM finding_transactions ft JOIN transactions t USING (tx_id)
                              WHERE ft.finding_id IN ({chosen}))
        ORDER BY s.source_id"""
    # each query holds the filter once, so each takes the filter's parameters once
    return {"findings": findings, "finding_transactions": txs, "sources": sources}, args


def write(ws, out: str | Path, *, fmt: str = "csv", typologies: Sequence[str] = (),
          min_score: float | None = None, who: dict[str, Any] | None = None,
          before_writing: Callable[[dict[str, int]], None] | None = None) -> dict[str, Any]:
    """Write the export folder; returns the manifest. The rows are selected once, into temporary
    tables; ``before_writing`` gets the row count of each file before anything is written (the
    caller records the read there)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose csv or parquet")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    qs, args = _queries(typologies, min_score)
    opts = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    try:
        # COPY takes no prepared parameters: the filtered rows go to temporary tables first
        counts = {}
        for name, q in qs.items():
            ws.con.execute(f"CREATE OR REPLACE TEMP TABLE _export_{name} AS {q}", args)
            counts[name] = int(ws.scalar(f"SELECT count(*) FROM _export_{name}"))
        if before_writing is not None:
            before_writing(counts)
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, Any] = {}
        for name in qs:
            path = out / f"{name}.{fmt}"
            ws.con.execute(f"COPY _export_{name} TO '{_sql_path(path)}' ({opts})")
            files[path.name] = {"rows": counts[name], "sha256": _sha256(path), "bytes": path.stat().st_size}
    finally:
        for name in qs:
            ws.con.execute(f"DROP TABLE IF EXISTS _export_{name}")
    manifest = {"moneytrail_version": __version__, "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                "workspace": str(ws.path), "format": fmt,
                "filters": {"typologies": list(typologies), "min_score": min_score}, "files": files, **(who or {})}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n", encoding="utf-8")
    return manifest


def _sql_path(p: Path) -> str:
    return str(p.resolve()).replace("'", "''")


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
