"""Reading a delimited text file into numbered records, losing nothing.

``read_records`` yields batches of records. Each record is ``(row, fields, problem)`` where
``row`` is the 1-based data-row number (header excluded; a blank line is a row too), ``fields``
the parsed strings and ``problem`` ``None`` or ``(column, reason)`` for a record that can't be
used as it is (wrong field count, bytes that are not valid in the file's encoding, blank).

Files may be gzip-compressed (detected by magic bytes, not by name). Binary files are refused
as a whole with an :class:`InputError`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from moneytrail.errors import InputError

csv.field_size_limit(1 << 28)

_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?): export the sheet as CSV",
    b"%PDF": "a PDF document: moneytrail reads CSV exports, not PDFs",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office file: export the sheet as CSV",
    b"SQLite format 3": "a SQLite database",
    b"DUCK": "a DuckDB file",
}
_SURROGATE = re.compile("[\udc80-\udcff]")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")  # type: ignore[return-value]


def _show_bad_bytes(s: str) -> str:
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", s)


@dataclass
class TextCheck:
    valid: bool          # whole file decodes strictly in the encoding
    size: int            # uncompressed bytes


def check_text(path: Path, encoding: str) -> TextCheck:
    """Refuse binary files; tell whether the whole file decodes strictly (fast path)."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"unknown text encoding {encoding!r} in the mapping", path=str(path)) from None
    try:
        f = open_binary(path)
        head = f.read(65536)
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read file: {e}", path=str(path)) from None
    with f:
        if not head:
            raise InputError("file is empty (0 bytes): nothing to ingest", path=str(path))
        for magic, what in _MAGIC.items():
            if head.startswith(magic):
                raise InputError(f"not a CSV file: it is {what}", path=str(path))
        enc_is_16 = encoding.lower().replace("-", "").startswith(("utf16", "utf32"))
        nul = head.find(b"\x00")
        if nul >= 0 and not enc_is_16:
            raise InputError(f"not a CSV text file: binary content (NUL byte at offset {nul})",
                             path=str(path))
        bad = sum(1 for b in head[:4096] if b < 9 or 13 < b < 32)
        if bad > 16:
            raise InputError("not a CSV text file: mostly binary control bytes", path=str(path))
        dec = codecs.getincrementaldecoder(encoding)("strict")
        valid, size, chunk = True, 0, head
        try:
            while chunk:
                size += len(chunk)
                if valid:
                    try:
                        dec.decode(chunk)
                    except UnicodeDecodeError:
                        valid = False
                chunk = f.read(1 << 22)
            if valid:
                try:
                    dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    valid = False
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise InputError(f"cannot read file (corrupt compression?): {e}", path=str(path)) from None
    return TextCheck(valid=valid, size=size)


class _Counting(io.RawIOBase):
    """Wraps a binary stream, reporting bytes read to a callback (for progress bars)."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None] | None):
        self.raw, self.on_read = raw, on_read

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        if self.on_read and n:
            self.on_read(n)
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _join(fields: list[str], delimiter: str, quote: str) -> str:
    """Re-serialise parsed fields as one CSV record, quoting where needed."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, quotechar=quote, lineterminator="").writerow(fields)
    return buf.getvalue()


@dataclass
class Batch:
    """Consecutive records: ``rows[i]`` is data row ``first_row + i`` (1-based, header excluded).

    ``problems`` maps a position in ``rows`` to ``(column or None, reason)`` for records that
    can't be used as they are; their ``raws`` entry keeps the record as read.
    """

    first_row: int
    rows: list[list[str]]
    problems: dict[int, tuple[str | None, str]]
    raws: dict[int, str]

    def __len__(self) -> int:
        return len(self.rows)


def read_records(path: Path, *, encoding: str, delimiter: str, quote: str, skip_rows: int,
                 batch_size: int = 200_000, strict_text: bool = True,
                 on_read: Callable[[int], None] | None = None,
                 ) -> tuple[list[str], Iterator[Batch]]:
    """Open ``path``; return its header and an iterator of record batches."""
    raw = _Counting(open_binary(path), on_read)
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding,
                            errors="strict" if strict_text else "surrogateescape", newline="")
    for _ in range(skip_rows):
        text.readline()
    at_end = [False]  # set once the text is exhausted

    def lines() -> Iterator[str]:
        yield from text
        at_end[0] = True

    reader = csv.reader(lines(), delimiter=delimiter, quotechar=quote, strict=False)
    unclosed = [False]

    def records() -> Iterator[list[str]]:
        # csv.reader (non-strict) completes a record at the end of the file only when a quoted
        # value is still open: every later line went into that value. Flag it; never store it.
        for rec in reader:
            if at_end[0]:
                unclosed[0] = True
            yield rec

    try:
        header = next(reader)
    except StopIteration:
        text.close()
        raise InputError("file has no header row after the skipped lines", path=str(path)) from None
    except csv.Error as e:
        text.close()
        raise InputError(f"cannot parse the header as CSV: {e}", path=str(path)) from None
    if at_end[0]:  # only an open quote makes the reader run to the end of the file
        text.close()
        raise InputError(f"the header opens a quote ({quote}) that is never closed", path=str(path))
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    header = [_show_bad_bytes(h.strip()) for h in header]  # undecodable bytes shown as \xNN
    width = len(header)
    recs = records()

    def batches() -> Iterator[Batch]:
        first = 1
        try:
            while True:
                try:
                    rows = list(itertools.islice(recs, batch_size))
                except csv.Error as e:  # pragma: no cover - non-strict csv rarely raises
                    raise InputError(f"cannot parse as CSV near row {first}: {e}", path=str(path)) from None
                if not rows:
                    break
                problems: dict[int, tuple[str | None, str]] = {}
                raws: dict[int, str] = {}
                # the file's last record, if only the end of the file completed it
                last = rows[-1] if unclosed[0] else None
                for i in [i for i, r in enumerate(rows) if len(r) != width]:
                    fields = rows[i]
                    raws[i] = _join(fields, delimiter, quote)
                    if not fields:
                        problems[i] = (None, "blank line")
                    elif len(fields) < width:
                        problems[i] = (header[len(fields)],
                                       f"row has {len(fields)} fields, the header has {width}: "
                                       f"column {header[len(fields)]!r} is missing")
                    else:
                        problems[i] = (None, f"row has {len(fields)} fields, the header has {width} "
                                             f"(an unquoted delimiter inside a value?)")
                    rows[i] = (fields + [None] * width)[:width]
                if last is not None:
                    i = len(rows) - 1
                    col = header[len(last) - 1] if 0 < len(last) <= width else None
                    n = last[-1].rstrip("\r\n").count("\n") if last else 0
                    raws[i] = _join(last, delimiter, quote)
                    where = f"in column {col!r}" if col else "in a field beyond the header's"
                    problems[i] = (col, f"a quote ({quote}) opened {where} is never closed: the rest "
                                        f"of the file ({n} more line(s)) was read as that one value")
                    unclosed[0] = False
                if not strict_text:
                    for i, fields in enumerate(rows):
                        for j, v in enumerate(fields):
                            if v is not None and _SURROGATE.search(v):
                                col = header[j]
                                byte = ord(v[_SURROGATE.search(v).start()]) - 0xDC00
                                raws[i] = _show_bad_bytes(raws.get(i, _join(
                                    [x for x in fields if x is not None], delimiter, quote)))
                                problems[i] = (col, f"byte 0x{byte:02x} is not valid {encoding} text "
                                                    f"(in column {col!r})")
                                rows[i] = [None if x is None else _show_bad_bytes(x) for x in fields]
                                break
                yield Batch(first, rows, problems, raws)
                first += len(rows)
        finally:
            text.close()

    return header, batches()
