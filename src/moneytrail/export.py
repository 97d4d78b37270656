"""``moneytrail export``: findings with the exact transactions behind them and where each came
from, as files for a case file, a prosecutor or another tool.

A folder holds:

- ``findings.csv|parquet``: one row per finding (typology and version, score, period, amount,
  explanation, red-flag source, parameters as JSON, accounts as ``account:role;...``);
- ``finding_transactions.csv|parquet``: one row per (finding, transaction) with the transaction's
  fields and its provenance: source id, file name, SHA-256 of the evidence file, 1-based row;
- ``finding_records.csv|parquet``: one row per (finding, employer or contract record: a payroll
  line, a wage report, an award, a payment, a vendor or official record; docs/records.md) with
  its date, amount, party, detail and provenance (source id, file, SHA-256, row);
- ``sources.csv|parquet``: the evidence sources those transactions and records come from (hash,
  evidence path, legal-basis tags, row accounting);
- ``manifest.json``: who exported what, when, under which decision (audit entry), the filters,
  the row counts and the SHA-256 of every file written.

The caller decides first, and records the read in :func:`write`'s ``before_writing`` (it gets the
row counts before any file is written).

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``, ``-``,
``@``, tab, carriage return: a file name, an account id or an explanation can) are written with
a leading ``'`` (:func:`csv_safe`); Parquet keeps every value as it is.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import math
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

from moneytrail import __version__
from moneytrail.errors import ConfigError
from moneytrail.priority import ORDER as QUEUE_ORDER

FORMATS = ("csv", "parquet", "ftm")
BATCH_ROWS = 65_536


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
        SELECT f.finding_id, f.finding_key, f.typology, f.typology_version, f.score, f.first_ts, f.last_ts,
               f.total_amount, f.currency, f.explanation, f.red_flag_source, f.parameters,
               (SELECT string_agg(a.account_id || ':' || a.role, ';' ORDER BY a.role, a.account_id)
                  FROM finding_accounts a WHERE a.finding_id = f.finding_id) AS accounts,
               f.priority, f.priority_basis
        FROM findings f {where} ORDER BY {QUEUE_ORDER}"""
    txs = f"""
        SELECT ft.finding_id, t.tx_id, t.ts, t.orig_account, t.bene_account, t.amount, t.currency, t.channel,
               t.tx_type, t.description, t.external_id, t.source_id, s.file_name AS source_file,
               s.sha256 AS source_sha256, t.source_row, t.source_position, t.counterparty_name, t.end_to_end_id
        FROM finding_transactions ft
        JOIN transactions t USING (tx_id)
        JOIN sources s ON s.source_id = t.source_id
        WHERE ft.finding_id IN ({chosen})
        ORDER BY ft.finding_id, t.ts, t.tx_id"""
    from moneytrail._reads import RECORDS_SQL

    recs = f"""
        SELECT fr.finding_id, r.kind, r.record_id, r.on_date, r.amount, r.party, r.detail, r.source_id,
               s.file_name AS source_file, s.sha256 AS source_sha256, r.source_row
        FROM finding_records fr
        JOIN ({RECORDS_SQL}) r ON r.record_id = fr.record_id AND r.kind = fr.kind
        JOIN sources s ON s.source_id = r.source_id
        WHERE fr.finding_id IN ({chosen})
        ORDER BY fr.finding_id, r.kind, r.on_date, r.record_id"""
    sources = f"""
        SELECT s.source_id, s.file_name, s.format, s.role, s.sha256, s.size_bytes, s.evidence_path,
               array_to_string(s.legal_basis, ';') AS legal_basis, s.received_at, s.rows_read, s.rows_stored,
               s.rows_quarantined
        FROM sources s
        WHERE s.source_id IN (SELECT src FROM (SELECT ft.finding_id, t.source_id AS src
                                               FROM finding_transactions ft JOIN transactions t USING (tx_id)
                                               UNION ALL
                                               SELECT fr.finding_id, fr.record_id // 10000000000
                                               FROM finding_records fr)
                              WHERE finding_id IN ({chosen}))
        ORDER BY s.source_id"""
    # each query holds the filter once, so each takes the filter's parameters once
    return {"findings": findings, "finding_transactions": txs, "finding_records": recs, "sources": sources}, args


def write(ws, out: str | Path, *, fmt: str = "csv", typologies: Sequence[str] = (),
          min_score: float | None = None, who: dict[str, Any] | None = None,
          before_writing: Callable[[dict[str, int]], None] | None = None) -> dict[str, Any]:
    """Write the export folder; returns the manifest. The rows are selected once, into temporary
    tables; ``before_writing`` gets the row count of each file before anything is written (the
    caller records the read there). The files are written here, in Python, from Arrow batches:
    the workspace's engine has no access to the file system (see ``Workspace.open``)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose csv, parquet or ftm")
    if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float))
                                  or not math.isfinite(min_score)):
        raise ConfigError(f"--min-score {str(min_score)[:40]!r}: must be a finite number")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    qs, args = _queries(typologies, min_score)
    try:
        counts = {}
        for name, q in qs.items():
            ws.con.execute(f"CREATE OR REPLACE TEMP TABLE _export_{name} AS {q}", args)
            counts[name] = int(ws.scalar(f"SELECT count(*) FROM _export_{name}"))
        if before_writing is not None:
            before_writing(counts)
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, Any] = {}
        if fmt == "ftm":
            from moneytrail import ftm

            done = ftm.write(ws, out, tx_query="SELECT * FROM _export_finding_transactions QUALIFY "
                                                       "row_number() OVER (PARTITION BY tx_id ORDER BY finding_id) = 1 "
                                                       "ORDER BY ts, tx_id")
            path = out / done["file"]
            files[path.name] = {"entities": done["entities"], "sha256": _sha256(path), "bytes": done["bytes"]}
        for name in ([] if fmt == "ftm" else qs):
            path = out / f"{name}.{fmt}"
            reader = ws.con.sql(f"SELECT * FROM _export_{name}").to_arrow_reader(BATCH_ROWS)
            (_write_csv if fmt == "csv" else _write_parquet)(path, reader)
            files[path.name] = {"rows": counts[name], "sha256": _sha256(path), "bytes": path.stat().st_size}
    finally:
        for name in qs:
            ws.con.execute(f"DROP TABLE IF EXISTS _export_{name}")
    manifest = {"moneytrail_version": __version__, "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                "workspace": str(ws.path), "format": fmt,
                "filters": {"typologies": list(typologies), "min_score": min_score}, "files": files, **(who or {})}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n", encoding="utf-8")
    return manifest


# -- CSV cells a spreadsheet could run -------------------------------------------------------------

#: a text cell starting with one of these is read as a formula (or, for tab and carriage return,
#: can become one) by spreadsheet programs: OWASP, "CSV Injection"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: a text value starting with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return gets a leading single quote (OWASP's recommendation), so
    ``=HYPERLINK(...)`` is written as ``'=HYPERLINK(...)``; numbers (int, float, Decimal) stay as
    they are, so a negative amount written as a number stays a number. Every CSV writer of
    moneytrail (``export``, ``findings --format csv``, ``trace --format csv``) passes its text
    cells through this one function."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _write_csv(path: Path, reader) -> None:
    """Header, then every row; text cells through :func:`csv_safe`, timestamps as ISO text,
    NULL as an empty cell."""
    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow([csv_safe(n) for n in reader.schema.names])
            for batch in reader:
                cols = [c.to_pylist() for c in batch.columns]
                for row in zip(*cols):
                    w.writerow([_cell(v) for v in row])
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (bool, int, float, Decimal, _dt.date)):
        return v
    return csv_safe(v if isinstance(v, str) else str(v))


def _write_parquet(path: Path, reader) -> None:
    """Parquet keeps types: values are written as they are (no text is read as a formula)."""
    import pyarrow.parquet as pq

    tmp = path.with_name(path.name + ".partial")
    try:
        with pq.ParquetWriter(tmp, reader.schema) as pw:
            for batch in reader:
                pw.write_batch(batch)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
