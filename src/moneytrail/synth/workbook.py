"""Write a one-sheet XLSX workbook, fast, by hand: the parts of the Office Open XML format a
workbook needs (content types, relationships, workbook, styles, one worksheet), as a bank's
core system exports a subpoena return to Excel.

Cells: ``str`` an inline string (characters XML 1.0 cannot hold are dropped, markup escaped),
``int``/``float`` a number, :class:`datetime.date` a date cell (Excel's day serial with the
built-in date format 14, as Excel stores dates), ``None`` no cell. The first row is the header.
The same rows give the same bytes (the zip entries carry a fixed time stamp).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

_EPOCH = dt.date(1899, 12, 30)
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    if _SPECIAL.search(text) is None:       # most cells: nothing to escape
        return text
    text = _BAD_XML.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _cell(ref: str, v) -> str:
    if v is None:
        return ""
    if type(v) is str:
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_x(v)}</t></is></c>'
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, (int, float)):
        return f'<c r="{ref}"><v>{v!r}</v></c>'
    if isinstance(v, dt.datetime):
        raise TypeError("date-time cells are not written (a float serial loses seconds); write the time as text")
    if isinstance(v, dt.date):
        return f'<c r="{ref}" s="1"><v>{(v - _EPOCH).days}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_x(str(v))}</t></is></c>'


def _part(z: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, text.encode("utf-8"), compresslevel=1)


def write_workbook(path: Path, sheet: str, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write ``header`` and ``rows`` to the sheet ``sheet`` of a new workbook at ``path``;
    returns the number of data rows."""
    cols = [_col(j) for j in range(len(header))]
    body = [f'<row r="1">{"".join(_cell(f"{c}1", h) for c, h in zip(cols, header))}</row>']
    n = 0
    for n, row in enumerate(rows, start=1):
        r = n + 1
        body.append(f'<row r="{r}">{"".join(_cell(f"{c}{r}", v) for c, v in zip(cols, row))}</row>')
    last = f"{cols[-1]}{n + 1}"
    sheet_xml = (f'{_HEAD}<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/><sheetData>'
                 + "\n".join(body) + "</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w") as z:
        _part(z, "[Content_Types].xml",
              f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
              f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
              '<Default Extension="xml" ContentType="application/xml"/>'
              '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
              'spreadsheetml.sheet.main+xml"/>'
              '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
              'spreadsheetml.styles+xml"/>'
              '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
              'officedocument.spreadsheetml.worksheet+xml"/></Types>')
        _part(z, "_rels/.rels",
              f'{_HEAD}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
              f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        _part(z, "xl/workbook.xml",
              f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
              f'<sheet name="{_x(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>')
        _part(z, "xl/_rels/workbook.xml.rels",
              f'{_HEAD}<Relationships xmlns="{_PKG_REL}">'
              f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
              f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>')
        _part(z, "xl/styles.xml",
              f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
              '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>'
              '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
              '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
              '</styleSheet>')
        _part(z, "xl/worksheets/sheet1.xml", sheet_xml)
    return n


__all__ = ["write_workbook"]
