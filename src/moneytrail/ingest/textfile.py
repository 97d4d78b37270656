"""Reading a delimited text file into numbered records, losing nothing.

``read_records`` yields batches of records. Each record is ``(row, fields, problem)`` where
``row`` is the 1-based data-row number (header excluded; a blank line is a row too), ``fields``
the parsed strings and ``problem`` ``None`` or ``(column, reason)`` for a record that can't be
used as it is (wrong field count, bytes that are not valid in the file's encoding, blank).

Files may be gzip-compressed (detected by magic bytes, not by name). Binary files are refused
as a whole with an :class:`InputError`, and so is a header wider than
:data:`moneytrail.limits.MAX_COLUMNS`. A record holding a field larger than
:data:`moneytrail.limits.MAX_FIELD_BYTES` (in the file's encoding) is a record with a problem;
the raw text kept for a record with a problem is cut to
:data:`moneytrail.limits.QUARANTINE_RAW_CHARS` characters, with a note saying so.

Cost: linear in the size of the file. Reading keeps every field of a record in Python; only
the columns a mapping reads are staged for DuckDB (``Batch.column``), and the raw text of a
record is written back (``Batch.raw``) only for the records that end in quarantine.
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
from moneytrail.limits import MAX_COLUMNS, MAX_FIELD_BYTES, QUARANTINE_RAW_CHARS, READER_FIELD_CHARS

# far above MAX_FIELD_BYTES: a field over the cap reaches read_records and is quarantined with
# its row; only one beyond this refuses the file (see moneytrail.limits)
csv.field_size_limit(READER_FIELD_CHARS)
# a record of at most this many characters cannot hold a field of MAX_FIELD_BYTES bytes in any
# encoding (a character is at most 4 bytes), so only longer records have their fields measured
_MEASURE_ABOVE = MAX_FIELD_BYTES // 4
# a batch holds at most this many fields (rows x columns), so a wide file is read in batches of
# fewer rows and the memory a batch takes does not grow with the number of columns
CELLS_PER_BATCH = 2_000_000

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


def check_text(path: Path, encoding: str, *, full: bool = True) -> TextCheck:
    """Refuse binary files; tell whether the whole file decodes strictly (fast path). With
    ``full=False`` only the head is read (the refusals); ``valid`` and ``size`` then say nothing
    of the rest (the bulk reader, ``csvfast``, finds undecodable bytes itself)."""
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
        if not full:
            return TextCheck(valid=False, size=len(head))
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


TRUNCATED_NOTE = ("… [cut at {n:,} characters: the whole row is in the evidence copy of the file]")


def _join(fields: list[str | None], delimiter: str, quote: str, limit: int = QUARANTINE_RAW_CHARS) -> str:
    """Re-serialise parsed fields as one CSV record: a field holding the delimiter, the quote or a
    line break is quoted (quotes doubled). Past ``limit`` characters the text is cut and
    :data:`TRUNCATED_NOTE` appended."""
    if sum(len(f) for f in fields if f is not None) + len(fields) <= limit:
        # fast path: no field needs quoting when the joined text holds no quote or line break
        # and no delimiter beyond the ones put between the fields
        text = delimiter.join("" if f is None else f for f in fields)
        if (quote not in text and "\n" not in text and "\r" not in text
                and text.count(delimiter) == max(len(fields) - 1, 0)):
            return text
    out: list[str] = []
    size = 0
    specials = (delimiter, quote, "\n", "\r")
    for k, f in enumerate(fields):
        if f is None:
            f = ""
        elif len(f) > limit:
            f = f[: limit + 1]  # enough to know it is cut; quoting can only make it longer
        if any(c in f for c in specials):
            f = quote + f.replace(quote, quote + quote) + quote
        out.append(f)
        size += len(f) + (1 if k else 0)
        if size > limit:
            break
    text = delimiter.join(out)
    if size > limit:
        return text[:limit] + TRUNCATED_NOTE.format(n=limit)
    return text


def _encoded_size(value: str, encoding: str) -> int:
    """Bytes ``value`` takes in ``encoding`` (undecodable bytes, kept as surrogates, count 1)."""
    try:
        return len(value.encode(encoding, "surrogateescape")) - len("".encode(encoding))
    except (UnicodeError, LookupError):
        return len(value.encode("utf-8", "surrogatepass"))


@dataclass
class Batch:
    """Consecutive records: ``rows[i]`` is data row ``first_row + i`` (1-based, header excluded).

    ``problems`` maps a position in ``rows`` to ``(column or None, reason)`` for records that
    can't be used as they are; their ``raws`` entry keeps the record as read (cut to
    QUARANTINE_RAW_CHARS). ``raw(i)`` gives any record's raw text.
    """

    first_row: int
    rows: list[list[str | None]]
    problems: dict[int, tuple[str | None, str]]
    raws: dict[int, str]
    delimiter: str = ","
    quote: str = '"'

    def __len__(self) -> int:
        return len(self.rows)

    def raw(self, i: int) -> str:
        """Record ``i`` as read: re-serialised from its fields (cut past QUARANTINE_RAW_CHARS)."""
        r = self.raws.get(i)
        return r if r is not None else _join(self.rows[i], self.delimiter, self.quote)

    def column(self, j: int) -> list[str | None]:
        """The values of column ``j`` (0-based) in every record (None where a record is short)."""
        return [r[j] for r in self.rows]


def _too_wide(path: Path, width: int) -> InputError:
    return InputError(f"the header has {width:,} columns, more than the {MAX_COLUMNS:,} moneytrail reads "
                      f"(MAX_COLUMNS, docs/mapping.md): nothing was stored", path=str(path))


def read_records(path: Path, *, encoding: str, delimiter: str, quote: str, skip_rows: int,
                 batch_size: int = 200_000, strict_text: bool = True,
                 on_read: Callable[[int], None] | None = None,
                 ) -> tuple[list[str], Iterator[Batch]]:
    """Open ``path``; return its header and an iterator of record batches (of at most
    ``batch_size`` records and CELLS_PER_BATCH fields)."""
    raw = _Counting(open_binary(path), on_read)
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding,
                            errors="strict" if strict_text else "surrogateescape", newline="")
    for _ in range(skip_rows):
        text.readline()
    at_end = [False]  # set once the text is exhausted
    chars = [0]       # characters read since the last record ended

    def lines() -> Iterator[str]:
        for line in text:
            chars[0] += len(line)
            yield line
        at_end[0] = True

    # the limit is process-wide and a library may have changed it since import (followthemoney
    # sets its own when imported): set ours for every file
    csv.field_size_limit(READER_FIELD_CHARS)
    reader = csv.reader(lines(), delimiter=delimiter, quotechar=quote, strict=False)
    unclosed = [False]
    measure: list[int] = []   # rows long enough that a field may be over MAX_FIELD_BYTES
    count = [0]               # records read

    def records() -> Iterator[list[str]]:
        # csv.reader (non-strict) completes a record at the end of the file only when a quoted
        # value is still open: every later line went into that value. Flag it; never store it.
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                row = count[0] + 1
                if "field larger than field limit" in str(e):
                    raise InputError(
                        f"a field is longer than {READER_FIELD_CHARS:,} characters, the most the CSV reader "
                        f"takes (a quote ({quote}) that is never closed?); nothing was stored",
                        path=str(path), row=row) from None
                raise InputError(f"cannot parse as CSV: {e}; nothing was stored", path=str(path),
                                 row=row) from None
            count[0] += 1
            if at_end[0]:
                unclosed[0] = True
            if chars[0] > _MEASURE_ABOVE:
                measure.append(count[0])
            chars[0] = 0
            yield rec

    try:
        header = next(reader)
    except StopIteration:
        text.close()
        raise InputError("file has no header row after the skipped lines", path=str(path)) from None
    except csv.Error as e:
        text.close()
        if "field larger than field limit" in str(e):
            raise InputError(f"the header holds a field longer than {READER_FIELD_CHARS:,} characters "
                             f"(a quote ({quote}) that is never closed?)", path=str(path)) from None
        raise InputError(f"cannot parse the header as CSV: {e}", path=str(path)) from None
    if at_end[0]:  # only an open quote makes the reader run to the end of the file
        text.close()
        raise InputError(f"the header opens a quote ({quote}) that is never closed", path=str(path))
    chars[0] = 0
    if len(header) > MAX_COLUMNS:
        text.close()
        raise _too_wide(path, len(header))
    for j, h in enumerate(header):
        if len(h) > _MEASURE_ABOVE and _encoded_size(h, encoding) > MAX_FIELD_BYTES:
            text.close()
            raise InputError(f"the name of column {j + 1} is {_encoded_size(h, encoding):,} bytes, more than "
                             f"the {MAX_FIELD_BYTES:,} a field may hold (MAX_FIELD_BYTES)", path=str(path))
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    header = [_show_bad_bytes(h.strip()) for h in header]  # undecodable bytes shown as \xNN
    width = len(header)
    per_batch = max(1, min(batch_size, CELLS_PER_BATCH // max(width, 1)))
    recs = records()

    def oversize(fields: list[str]) -> tuple[int, int] | None:
        """(index, bytes) of the first field over MAX_FIELD_BYTES, if one is."""
        for j, v in enumerate(fields):
            if len(v) > _MEASURE_ABOVE:
                size = _encoded_size(v, encoding)
                if size > MAX_FIELD_BYTES:
                    return j, size
        return None

    def batches() -> Iterator[Batch]:
        first = 1
        try:
            while True:
                rows = list(itertools.islice(recs, per_batch))
                if not rows:
                    break
                problems: dict[int, tuple[str | None, str]] = {}
                raws: dict[int, str] = {}
                # the file's last record, if only the end of the file completed it
                last = rows[-1] if unclosed[0] else None
                # records holding a field over MAX_FIELD_BYTES: the first reason, whatever else
                big = [r - first for r in measure if r < first + len(rows)]
                del measure[: len(big)]
                for i in big:
                    hit = oversize(rows[i])
                    if hit is None:
                        continue
                    j, size = hit
                    fields = rows[i]
                    col = header[j] if j < width else None
                    raws[i] = _show_bad_bytes(_join(fields, delimiter, quote))
                    where = f"column {col!r}" if col else f"field {j + 1} (beyond the header's {width})"
                    problems[i] = (col, f"{where} holds {size:,} bytes, more than the {MAX_FIELD_BYTES:,} a "
                                        f"field may hold (MAX_FIELD_BYTES): the row is kept here cut to "
                                        f"{QUARANTINE_RAW_CHARS:,} characters; the whole row is in the "
                                        f"evidence copy of the file")
                    rows[i] = [None] * width   # nothing of it is staged
                for i in [i for i, r in enumerate(rows) if len(r) != width and i not in problems]:
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
                    if i not in raws:
                        raws[i] = _join(last, delimiter, quote)
                    where = f"in column {col!r}" if col else "in a field beyond the header's"
                    cut = (f"; the row is kept here cut to {QUARANTINE_RAW_CHARS:,} characters, the whole "
                           f"of it is in the evidence copy of the file"
                           if raws[i].endswith(TRUNCATED_NOTE.format(n=QUARANTINE_RAW_CHARS)) else "")
                    problems[i] = (col, f"a quote ({quote}) opened {where} is never closed: the rest "
                                        f"of the file ({n} more line(s)) was read as that one value{cut}")
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
                yield Batch(first, rows, problems, raws, delimiter, quote)
                first += len(rows)
        finally:
            text.close()

    return header, batches()
