"""XLSX statements and ledgers, read with python-calamine under the same YAML mapping as CSV.

A workbook's sheet (``sheet:`` in the mapping, a name or a 0-based index; the first sheet by
default) is turned, row for row, into CSV text that the CSV loader (:mod:`moneytrail.ingest.csvfile`)
reads under the mapping, so every check, quarantine reason and row count is the CSV one. What a
spreadsheet adds:

* cells keep their type: a number is written with the mapping's ``decimal`` separator and no
  thousands separator (so ``decimal: ','`` reads numeric cells and ``1.234,56`` text cells alike);
  a date or date-time cell is written in the mapping's date format (its first one), so a column
  mixing real date cells and date text reads as one (a format without a time keeps the date
  only); booleans as ``true``/``false``;
* rows keep their numbers: the rows above the sheet's used area and blank rows are kept as blank
  lines, so ``skip_rows`` counts the sheet's rows and each record's ``source_position`` is its
  place in the sheet (``sheet Ledger row 17``);
* the original workbook is the evidence (its SHA-256); the CSV text is a temporary file beside
  the workspace, removed when the ingest ends.

Password-protected, corrupt or non-XLSX files are one InputError line.
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from moneytrail.errors import InputError
from moneytrail.ingest.mapping import Mapping
from moneytrail.ingest.sources import finish_source, register_source, require_file, skipped

MAX_CELL = 100_000      # characters kept of one cell (the whole cell stays in the evidence file)


def _date_format(m: Mapping) -> str:
    fmt = m.date.format[0] if isinstance(m.date.format, list) else m.date.format
    return "%Y-%m-%d" if fmt == "iso" else fmt


def _number(v: float | int, decimal: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        text = str(v)
    else:
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        text = format(Decimal(repr(v)), "f")          # the shortest text that is this float, no exponent
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text.replace(".", decimal) if decimal != "." else text


def cell_text(v: Any, m: Mapping, date_fmt: str) -> str:
    """A cell as CSV text under the mapping (see the module's docstring)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _number(v, m.decimal)
    if isinstance(v, _dt.datetime):
        # written in the mapping's date format: a format with a time (%H:%M) keeps the cell's time,
        # a date-only one its date (the time then comes from the mapping's time column, if any)
        return v.strftime(date_fmt)
    if isinstance(v, _dt.date):
        return v.strftime(date_fmt)
    if isinstance(v, _dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, _dt.timedelta):
        return str(v)
    s = str(v)
    return s if len(s) <= MAX_CELL else s[:MAX_CELL]


def _converter(m: Mapping, date_fmt: str):
    """``cell_text`` for a whole sheet, faster: strings as they are, a float's shortest text
    without ``Decimal`` when it has no exponent (the same text), each distinct date written once."""
    dec = m.decimal
    dates: dict = {}

    def conv(v: Any) -> str:
        t = type(v)
        if t is str:
            return v if len(v) <= MAX_CELL else v[:MAX_CELL]
        if v is None:
            return ""
        if t is float:
            r = repr(v)
            if "e" in r or "n" in r:          # an exponent, nan, inf: the general path
                return cell_text(v, m, date_fmt)
            if "." in r:
                r = r.rstrip("0").rstrip(".")
            return r.replace(".", dec) if dec != "." else r
        if t is int:
            return str(v)
        if t is _dt.date or t is _dt.datetime:
            text = dates.get(v)
            if text is None:
                if len(dates) > 100_000:
                    dates.clear()
                text = dates[v] = v.strftime(date_fmt)
            return text
        return cell_text(v, m, date_fmt)

    return conv


def _sheet(path: Path, want: str | int | None):
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
    except Exception as e:   # calamine raises its own errors for zip, XML, password problems
        kind = type(e).__name__
        why = "is password-protected" if "Password" in kind else f"cannot be read as a workbook ({kind}: {str(e)[:120]})"
        raise InputError(why, path=str(path)) from None
    names = list(wb.sheet_names)
    if not names:
        raise InputError("the workbook has no sheets", path=str(path))
    try:
        if want is None:
            return wb.get_sheet_by_index(0)
        if isinstance(want, int):
            return wb.get_sheet_by_index(want)
        return wb.get_sheet_by_name(want)
    except Exception:
        raise InputError(f"no sheet {str(want)[:60]!r} in the workbook (its sheets: {', '.join(names[:20])})",
                         path=str(path)) from None


def to_csv(path: Path, m: Mapping, out: Path) -> tuple[str, int]:
    """Write the mapping's sheet of ``path`` as CSV text to ``out``; returns the sheet's name and
    how many rows were written."""
    sheet = _sheet(path, m.sheet)
    date_fmt = _date_format(m)
    start = sheet.start or (0, 0)
    n = 0
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=",", quotechar='"', lineterminator="\n")
        for _ in range(start[0]):
            fh.write("\n")
            n += 1
        pad = [""] * start[1]
        conv = _converter(m, date_fmt)
        for row in sheet.iter_rows():
            cells = [conv(v) for v in row]
            while cells and cells[-1] == "":
                cells.pop()
            if not cells:
                fh.write("\n")
            else:
                w.writerow(pad + cells)
            n += 1
    return sheet.name, n


class XlsxReader:
    """An XLSX workbook's sheet, described by a CSV mapping (plus ``sheet``)."""

    name = "xlsx"
    reads_folders = False
    needs_mapping = True

    def ingest(self, ws, path, *, mapping, legal_basis, force, on_read, actor=None):
        from moneytrail.ingest.csvfile import load_csv

        require_file(path)
        if mapping is None:
            raise InputError("format xlsx needs --mapping MAP.yaml describing the columns (see docs/mapping.md; "
                             "moneytrail mapping suggest FILE proposes one)", path=str(path))
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise InputError("this is not an XLSX workbook (an .xlsx file is a zip archive)", path=str(path))
        reg = register_source(ws, path, "xlsx", "transactions", mapping.model_dump(exclude_none=True),
                              legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, "xlsx")
        fd, tmp = tempfile.mkstemp(prefix=".xlsx-", suffix=".csv", dir=str(Path(ws.path).parent))
        os.close(fd)
        try:
            sheet_name, _ = to_csv(path, mapping, Path(tmp))
            text_mapping = mapping.model_copy(update={"delimiter": ",", "quote": '"', "encoding": "utf-8",
                                                      "sheet": None})
            counts = load_csv(ws, reg.source_id, Path(tmp), text_mapping)
        finally:
            Path(tmp).unlink(missing_ok=True)
        # each record's place in the sheet: data row r is sheet row skip_rows + 1 (header) + r
        offset = mapping.skip_rows + 1
        for table in ("transactions", "quarantine"):
            ws.con.execute(f"UPDATE main.{table} SET source_position = 'sheet ' || ? || ' row ' || "
                           f"CAST(source_row + ? AS VARCHAR) WHERE source_id = ?",
                           [sheet_name, offset, reg.source_id])
        if on_read:
            on_read(path.stat().st_size)
        return finish_source(ws, reg, path, "xlsx", counts)


__all__ = ["XlsxReader", "cell_text", "to_csv"]
