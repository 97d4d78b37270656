"""Reader for exchange rates: ``--format rates`` (issue 13, item 5: currency is never assumed).

Thresholds written in US dollars (the $10,000 currency-transaction-report threshold and the
like) apply to other currencies only through rates the case itself provides, as evidence with a
source and a place in the file. A rates file is a UTF-8 CSV with a header naming, in any order:

==================  ==========================================================================
``currency``        the ISO 4217 code (three letters), never ``USD``
``units_per_usd``   how many units of the currency one US dollar buys (the convention of the
                    Treasury Reporting Rates of Exchange, 31 U.S.C. 5151(e)) ... or, instead,
``usd_per_unit``    how many US dollars one unit buys (its inverse)
``effective_date``  ``YYYY-MM-DD``: the first day the rate applies (also ``valid_from``)
``end_date``        optional, ``YYYY-MM-DD``: the last day it applies (also ``valid_to``)
==================  ==========================================================================

A rate applies from its effective date until its end date or, without one, until the day before
the currency's next effective date (among every rate of the case, so a newer rates file takes
over from its first date). Every data row is stored in ``fx_rates`` or quarantined with its line
and the reason: an unknown-looking code, ``USD``, a rate that is not a positive number with at
most 8 decimals (or above 10**9), a date that is not ISO or outside 1900-2100, an end before the
start, the same currency and effective date twice in the file. A header without the columns above
is one line naming what is missing (exit 2).
"""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from moneytrail.errors import InputError
from moneytrail.ingest.sources import IngestResult, finish_source, register_source, require_file, skipped
from moneytrail.limits import MAX_FIELD_BYTES, MAX_YEAR, MIN_YEAR
from moneytrail.workspace import Workspace

CODE = re.compile(r"[A-Z]{3}")
NUMBER = re.compile(r"[0-9]{1,10}(\.[0-9]{1,8})?|\.[0-9]{1,8}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_RATE = Decimal(10) ** 9
RAW_CHARS = 2000

ALIASES = {"currency": ("currency", "currency_code"),
           "units_per_usd": ("units_per_usd",),
           "usd_per_unit": ("usd_per_unit",),
           "valid_from": ("effective_date", "valid_from"),
           "valid_to": ("end_date", "valid_to")}


def _norm(h: str) -> str:
    return h.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _columns(header: list[str], path: Path) -> dict[str, int]:
    names = [_norm(h) for h in header]
    found: dict[str, int] = {}
    for key, aliases in ALIASES.items():
        hits = [i for i, n in enumerate(names) if n in aliases]
        if len(hits) > 1:
            raise InputError(f"the header names {key} twice (columns {hits[0] + 1} and {hits[1] + 1})", path=str(path))
        if hits:
            found[key] = hits[0]
    missing = [k for k in ("currency", "valid_from") if k not in found]
    if ("units_per_usd" in found) == ("usd_per_unit" in found):
        missing.append("units_per_usd or usd_per_unit (exactly one)")
    if missing:
        raise InputError("a rates file needs the columns currency, units_per_usd (or usd_per_unit), "
                         f"effective_date and optionally end_date; missing: {', '.join(missing)}", path=str(path))
    return found


def _date(text: str) -> date | None:
    if not ISO_DATE.fullmatch(text):
        return None
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return None
    return d if MIN_YEAR <= d.year <= MAX_YEAR else None


def _rate(text: str) -> Decimal | None:
    if not NUMBER.fullmatch(text):
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:      # pragma: no cover - the pattern admits only plain decimals
        return None
    return d if 0 < d <= MAX_RATE else None


def parse_rows(path: Path):
    """Yield ``(row_no, line, raw, values | None, column, reason)`` for every data row:
    ``values`` is ``(currency, units_per_usd, valid_from, valid_to)`` for a usable row, else None
    with the column at fault and why."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    try:
        fh = open(path, encoding="utf-8", newline="")
        with fh:
            rd = csv.reader(fh)
            try:
                header = next(rd)
            except StopIteration:
                raise InputError("the file is empty: a rates file starts with a header", path=str(path)) from None
            cols = _columns(header, path)
            seen: dict[tuple[str, date], int] = {}
            row_no = 0
            start = rd.line_num + 1
            for rec in rd:
                row_no += 1
                line = f"line {start}" if rd.line_num == start else f"lines {start}-{rd.line_num}"
                start = rd.line_num + 1
                raw = ",".join(rec)
                raw = raw if len(raw) <= RAW_CHARS else raw[:RAW_CHARS] + f"… [{len(raw) - RAW_CHARS} more characters]"

                def bad(col: str, why: str):
                    return (row_no, line, raw, None, col, why)

                if not any(f.strip() for f in rec):
                    yield bad(None, "blank line")
                    continue
                if len(rec) != len(header):
                    yield bad(None, f"{len(rec)} fields where the header has {len(header)}")
                    continue
                cur = rec[cols["currency"]].strip().upper()
                if not CODE.fullmatch(cur):
                    yield bad(header[cols["currency"]], f"currency {cur[:20]!r} is not a three-letter ISO 4217 code")
                    continue
                if cur == "USD":
                    yield bad(header[cols["currency"]], "USD needs no rate: thresholds are in US dollars")
                    continue
                inverse = "usd_per_unit" in cols
                rcol = cols["usd_per_unit" if inverse else "units_per_usd"]
                r = _rate(rec[rcol].strip())
                if r is None:
                    yield bad(header[rcol], f"rate {rec[rcol].strip()[:30]!r} is not a positive number with at most "
                                            "8 decimals, up to 1,000,000,000")
                    continue
                units = (Decimal(1) / r).quantize(Decimal("1e-8")) if inverse else r
                if units <= 0:
                    yield bad(header[rcol], f"rate {rec[rcol].strip()[:30]!r} is too large to invert at 8 decimals")
                    continue
                f = _date(rec[cols["valid_from"]].strip())
                if f is None:
                    yield bad(header[cols["valid_from"]], f"effective date {rec[cols['valid_from']].strip()[:30]!r} "
                              f"is not a date YYYY-MM-DD in {MIN_YEAR}-{MAX_YEAR}")
                    continue
                t = None
                if "valid_to" in cols and rec[cols["valid_to"]].strip():
                    t = _date(rec[cols["valid_to"]].strip())
                    if t is None:
                        yield bad(header[cols["valid_to"]], f"end date {rec[cols['valid_to']].strip()[:30]!r} is "
                                  f"not a date YYYY-MM-DD in {MIN_YEAR}-{MAX_YEAR}")
                        continue
                    if t < f:
                        yield bad(header[cols["valid_to"]], f"end date {t} is before the effective date {f}")
                        continue
                if (cur, f) in seen:
                    yield bad(header[cols["valid_from"]], f"{cur} already has a rate from {f} (row {seen[cur, f]})")
                    continue
                seen[cur, f] = row_no
                yield (row_no, line, raw, (cur, units, f, t), None, None)
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start}): a rates file is UTF-8", path=str(path)) from None
    except csv.Error as e:
        raise InputError(f"not a readable CSV: {str(e)[:120]}", path=str(path)) from None


def _append(ws: Workspace, table: str, source_id: int, rows: pa.Table) -> None:
    """Insert ``rows`` (bound as an Arrow table) into ``main.<table>`` under ``source_id``; the
    table name is the code's own (fx_rates, quarantine), never a value from outside."""
    cols = ", ".join(rows.column_names)
    ws.con.register("_rows", rows)
    try:
        ws.con.execute(f"INSERT INTO main.{table} (source_id, {cols}) SELECT ?, {cols} FROM _rows", [source_id])
    finally:
        ws.con.unregister("_rows")


class RatesReader:
    name = "rates"
    reads_folders = False
    needs_mapping = False

    def ingest(self, ws: Workspace, path: Path, *, mapping, legal_basis, force, on_read,
               actor: str | None = None) -> IngestResult:
        require_file(path)
        if mapping is not None:
            raise InputError("format rates needs no --mapping: the header names the columns "
                             "(currency, units_per_usd or usd_per_unit, effective_date, end_date)", path=str(path))
        rows = list(parse_rows(path))          # a rates file is small; a bad header stores nothing
        reg = register_source(ws, path, "rates", "rates", None, legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, "rates")
        good = [r for r in rows if r[3] is not None]
        bad = [r for r in rows if r[3] is None]
        if good:
            _append(ws, "fx_rates", reg.source_id, pa.table({
                "source_row": pa.array([r[0] for r in good], pa.int64()),
                "source_position": [r[1] for r in good],
                "currency": [r[3][0] for r in good],
                "units_per_usd": pa.array([r[3][1] for r in good], pa.decimal128(18, 8)),
                "valid_from": pa.array([r[3][2] for r in good], pa.date32()),
                "valid_to": pa.array([r[3][3] for r in good], pa.date32()),
            }))
        if bad:
            _append(ws, "quarantine", reg.source_id, pa.table({
                "source_row": pa.array([r[0] for r in bad], pa.int64()), "raw": [r[2] for r in bad],
                "column_name": [r[4] for r in bad], "reason": [r[5] for r in bad],
                "source_position": [r[1] for r in bad]}))
        if on_read:
            on_read(path.stat().st_size)
        return finish_source(ws, reg, path, "rates",
                             {"read": len(rows), "stored": len(good), "quarantined": len(bad)})


# the rate in force for each currency and day: from its effective date to its end date or the day
# before the currency's next effective date (newest evidence first among equal dates). One query
# in the canonical dialect, run by any backend (the graph stage joins it to the transfers).
PERIODS_SQL = """
SELECT currency, units_per_usd, valid_from,
       CASE WHEN next_from IS NULL THEN valid_to
            WHEN valid_to IS NULL OR valid_to >= next_from THEN CAST(next_from - INTERVAL 1 DAY AS DATE)
            ELSE valid_to END AS valid_to,
       source_id, source_row
FROM (SELECT currency, units_per_usd, valid_from, valid_to, source_id, source_row,
             lead(valid_from) OVER (PARTITION BY currency ORDER BY valid_from, source_id, source_row) AS next_from
      FROM fx_rates) r
"""
