"""The bulk CSV reader: DuckDB's ``read_csv`` tokenises, Python numbers and checks.

:func:`load` is what :func:`moneytrail.ingest.csvfile.load_csv` runs first. It gives the same
rows, numbers, quarantine reasons and raw texts as the record-by-record reader
(:func:`moneytrail.ingest.textfile.read_records`), or it raises :class:`Fallback` before
anything is written, and the record reader reads the file instead. How:

1. **The file's lines, indexed** (:func:`index_lines`, NumPy over 16 MiB chunks): the number
   of physical lines, the blank ones, the ones longer than :data:`MAX_FIELD_BYTES` bytes, the
   ones holding bytes invalid in the encoding (Python's own strict decoder is the judge), the
   byte offset of every :data:`STEP`-th line, and how lines end (``\\n`` or ``\\r\\n``).
2. **DuckDB reads the file** in a private in-memory connection that may read that one file
   and nothing else (``allowed_paths``, ``enable_external_access = false``): ``read_csv`` with
   the mapping's delimiter, quote and encoding, every column text, the header's columns by
   position, ``strict_mode`` and ``store_rejects``. Only the columns the mapping reads are
   kept, in file order (``preserve_insertion_order``; the order is checked on the way out).
3. **Every record must be one line.** The rows DuckDB gave, plus the lines it rejected, plus
   the blank, over-long and undecodable lines, must be exactly the file's data lines, the
   lines DuckDB rejected must be where the index says they start, and no reject may be a
   line the index already set aside. Then the k-th row DuckDB gave is the k-th data line that
   is none of those, and its record number is that line's number.
4. **The lines set aside are read by Python**, one by one, with the same ``csv`` reader and
   the same rules as the record reader (blank line, wrong field count, field over
   MAX_FIELD_BYTES, bytes invalid in the encoding, in that order); a line that does not parse
   as one whole record there (a quote left open) means records span lines: fallback.
5. The rows (DuckDB's and Python's, in record order) are checked by the same SQL as before,
   in batches. A quarantined row's raw text is its line, read again from the file by its
   number and re-serialised as the record reader does (``textfile._join``).

Fallback (the record reader, with the reason in the ingest's counts as ``reader``) for: an
encoding other than UTF-8, ASCII and Latin-1 (or a Latin-1 file DuckDB refuses), gzip, a
one-column header, a header over several lines, a carriage return that does not end a line or
mixed line endings, a record over several lines (a quoted line break), a quote after blanks at
the start of a field or blanks after a closing quote (DuckDB drops those blanks, Python keeps
them), and any error of DuckDB's reader.

Every value from the file reaches SQL as data (the path is a bound parameter, the rows are
Arrow); the mapping's delimiter, quote and encoding go in through :func:`moneytrail.sqlkit.lit`.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from moneytrail.errors import InputError
from moneytrail.ingest import textfile
from moneytrail.ingest.textfile import _SURROGATE, _encoded_size, _is_gzip, _join, _show_bad_bytes
from moneytrail.limits import MAX_FIELD_BYTES, QUARANTINE_RAW_CHARS, READER_FIELD_CHARS
from moneytrail.sqlkit import harden, lit

#: the byte offset of every STEP-th line is kept (to read a line again by its number)
STEP = 1024
#: bytes read at a time while indexing the lines
CHUNK = 1 << 24
#: rows parsed and stored at a time: one parse and one insert per batch (a few large inserts
#: cost the workspace much less than many small ones); also capped by cells and by bytes
BULK_ROWS = 1_000_000
BULK_CELLS = 8_000_000
BULK_BYTES = 256 << 20
#: encodings the bulk reader takes (Python's codec name -> DuckDB's)
ENCODINGS = {"utf-8": "utf-8", "ascii": "utf-8", "iso8859-1": "latin-1"}


class Fallback(Exception):
    """The bulk reader cannot give the record reader's guarantees for this file (the reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unsupported(path: Path, encoding: str, delimiter: str, quote: str) -> str | None:
    """Why the bulk reader will not be tried on this file at all (None: it will be)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return f"unknown encoding {encoding}"     # check_text refuses it in one line
    if name not in ENCODINGS:
        return f"encoding {encoding} (DuckDB reads UTF-8 and Latin-1)"
    if len(delimiter) != 1 or len(quote) != 1 or delimiter == quote or delimiter in "\r\n" or quote in "\r\n":
        return "delimiter or quote not a single character"
    try:
        if _is_gzip(path):
            return "gzip-compressed"
    except OSError:
        return "cannot be read"                  # check_text says why in one line
    return None


@dataclass
class Lines:
    """The physical lines of a file (numbered from 1, the header's and skipped ones included)."""

    size: int
    n: int                                   # lines (a last line without a line break counts)
    crlf: bool                               # lines end with \r\n (else \n)
    every: np.ndarray                        # byte offset of line 1 + k * STEP
    blank: np.ndarray                        # empty lines (nothing before the line break)
    long: np.ndarray                         # lines of more than MAX_FIELD_BYTES bytes (or the csv limit)
    bad: np.ndarray                          # lines holding bytes invalid in the encoding


def index_lines(path: Path, codec: str, on_read: Callable[[int], None] | None = None) -> Lines:
    """Index ``path``'s lines (see :class:`Lines`); ``codec`` is Python's codec name."""
    blank: list[np.ndarray] = []
    long: list[np.ndarray] = []
    bad: list[int] = []
    every: list[np.ndarray] = []
    pos = 0             # offset of the chunk
    done = 0            # lines ended so far
    start = 0           # where the current line starts
    n_cr = n_crlf = 0
    prev_last = -1      # the previous chunk's last byte
    pending = b""       # an incomplete UTF-8 sequence at the end of the previous chunk
    utf8 = codec == "utf-8"
    cap = min(MAX_FIELD_BYTES, textfile.READER_FIELD_CHARS)   # (the csv reader's limit: tests lower it)
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            arr = np.frombuffer(chunk, np.uint8)
            nl = np.flatnonzero(arr == 10).astype(np.int64) + pos
            n_cr += chunk.count(b"\r")
            n_crlf += chunk.count(b"\r\n") + (1 if prev_last == 13 and chunk[0] == 10 else 0)
            if utf8 or codec == "ascii":
                if not chunk.isascii():
                    if codec == "ascii":
                        raise Fallback("bytes outside ASCII in an ASCII file")
                    for p in _bad_utf8(pending + chunk, pos - len(pending), pending_out := []):
                        bad.append(done + 1 + int(np.searchsorted(nl, p, "left")))
                    pending = pending_out[0]
                else:
                    if pending:   # an incomplete sequence followed by ASCII: invalid
                        bad.append(done + 1)
                    pending = b""
            if len(nl):
                starts = np.empty(len(nl), np.int64)
                starts[0] = start
                starts[1:] = nl[:-1] + 1
                lengths = nl - starts
                nums = np.arange(done + 1, done + 1 + len(nl), dtype=np.int64)
                empty = lengths == 0
                one = np.flatnonzero(lengths == 1)
                if len(one):
                    first = starts[one]
                    byte = np.where(first >= pos, arr[np.clip(first - pos, 0, len(arr) - 1)], prev_last)
                    empty[one[byte == 13]] = True
                blank.append(nums[empty])
                long.append(nums[lengths > cap])
                every.append(starts[(nums - 1) % STEP == 0])
                start = int(nl[-1]) + 1
                done += len(nl)
            pos += len(chunk)
            prev_last = chunk[-1]
            if on_read:
                on_read(len(chunk))
    if pending:
        bad.append(done + 1)
    n = done
    if start < pos:   # a last line without a line break
        n += 1
        if pos - start > cap:
            long.append(np.array([n], np.int64))
        if (n - 1) % STEP == 0:
            every.append(np.array([start], np.int64))
    if n_cr != n_crlf:
        raise Fallback("a carriage return that does not end a line")
    if n_crlf and n_crlf != done:
        raise Fallback("mixed line endings (\\n and \\r\\n)")
    cat = (lambda parts: np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64))
    return Lines(size=pos, n=n, crlf=n_crlf > 0, every=np.concatenate(every) if every else np.zeros(0, np.int64),
                 blank=cat(blank), long=cat(long), bad=np.unique(np.array(bad, np.int64)))


def _bad_utf8(data: bytes, offset: int, pending_out: list) -> Iterator[int]:
    """Offsets (``offset`` + position in ``data``) of bytes invalid in UTF-8, by Python's strict
    decoder; an incomplete sequence at the end is left for the next chunk (``pending_out[0]``)."""
    view = memoryview(data)
    i = 0
    while True:
        try:
            _, used = codecs.utf_8_decode(view[i:], "strict", False)
        except UnicodeDecodeError as e:
            yield offset + i + e.start
            i += max(e.end, e.start + 1)
            continue
        i += used
        pending_out.append(bytes(view[i:]))
        return


class LineFile:
    """Reads lines of a file again by their numbers (in increasing order), from the index."""

    def __init__(self, path: Path, lines: Lines):
        self.f = open(path, "rb")
        self.path = path
        self.lines = lines
        self.at = 0          # number of the next line readline() gives (0: unknown)

    def get(self, nums) -> Iterator[tuple[int, bytes]]:
        """(number, bytes without the line break) for each of ``nums`` (increasing): the lines
        between two indexed offsets are read at once (a long line alone)."""
        block_k, block = -1, None
        for num in nums:
            num = int(num)
            k = (num - 1) // STEP
            if k != block_k:
                block_k, block = k, None
                self.f.seek(int(self.lines.every[k]))
                if k + 1 < len(self.lines.every):
                    end = int(self.lines.every[k + 1])
                    if end - int(self.lines.every[k]) <= CHUNK:
                        block = self.f.read(end - int(self.lines.every[k])).split(b"\n")
                if block is None:
                    self.at = k * STEP + 1
            if block is not None:
                line = block[num - 1 - k * STEP]
                if self.lines.crlf and line.endswith(b"\r"):
                    line = line[:-1]
                yield num, line
                continue
            if not (self.at and self.at <= num):
                self.f.seek(int(self.lines.every[k]))
                self.at = k * STEP + 1
            while self.at < num:
                self.f.readline()
                self.at += 1
            line = self.f.readline()
            self.at += 1
            if line.endswith(b"\n"):
                line = line[:-2] if self.lines.crlf else line[:-1]
            yield num, line

    def close(self) -> None:
        self.f.close()


@dataclass
class Special:
    """A line Python reads itself: its fields (padded to the header's width), the problem, the raw text."""

    fields: list
    problem: tuple[str | None, str] | None
    raw: str | None


def parse_line(line: bytes, *, encoding: str, delimiter: str, quote: str) -> list[str]:
    """One line, as the record reader parses it; Fallback if it is not one whole record."""
    text = line.decode(encoding, "surrogateescape")
    recs = list(csv.reader([text + "\n"], delimiter=delimiter, quotechar=quote, strict=False))
    if len(recs) != 1 or any("\n" in v or "\r" in v for v in recs[0]):
        raise Fallback("a record over several lines (a quoted line break, or a quote never closed)")
    return recs[0]


def classify(fields: list[str], header: list[str], *, delimiter: str, quote: str, encoding: str) -> Special:
    """The record reader's verdict on one record (``textfile.read_records``, same order of
    reasons: field over MAX_FIELD_BYTES, then field count, then bytes invalid in the encoding)."""
    width = len(header)
    problem: tuple[str | None, str] | None = None
    raw: str | None = None
    row: list = fields
    for j, v in enumerate(fields):
        if len(v) > MAX_FIELD_BYTES // 4:
            size = _encoded_size(v, encoding)
            if size > MAX_FIELD_BYTES:
                col = header[j] if j < width else None
                raw = _show_bad_bytes(_join(fields, delimiter, quote))
                where = f"column {col!r}" if col else f"field {j + 1} (beyond the header's {width})"
                problem = (col, f"{where} holds {size:,} bytes, more than the {MAX_FIELD_BYTES:,} a "
                                f"field may hold (MAX_FIELD_BYTES): the row is kept here cut to "
                                f"{QUARANTINE_RAW_CHARS:,} characters; the whole row is in the "
                                f"evidence copy of the file")
                row = [None] * width
                break
    if problem is None and len(fields) != width:
        raw = _join(fields, delimiter, quote)
        if not fields:
            problem = (None, "blank line")
        elif len(fields) < width:
            problem = (header[len(fields)], f"row has {len(fields)} fields, the header has {width}: "
                                            f"column {header[len(fields)]!r} is missing")
        else:
            problem = (None, f"row has {len(fields)} fields, the header has {width} "
                             f"(an unquoted delimiter inside a value?)")
        row = (fields + [None] * width)[:width]
    for j, v in enumerate(row):
        if v is not None:
            hit = _SURROGATE.search(v)
            if hit:
                col = header[j]
                byte = ord(v[hit.start()]) - 0xDC00
                raw = _show_bad_bytes(raw if raw is not None else _join([x for x in row if x is not None],
                                                                           delimiter, quote))
                problem = (col, f"byte 0x{byte:02x} is not valid {encoding} text (in column {col!r})")
                row = [None if x is None else _show_bad_bytes(x) for x in row]
                break
    return Special(row, problem, raw)


def _blank_quote_pattern(delimiter: str, quote: str) -> re.Pattern[bytes]:
    d, qq = re.escape(delimiter.encode()), re.escape(quote.encode())
    return re.compile(rb"(?:^|" + d + rb")[ ]+" + qq + rb"|" + qq + rb"[ ]+(?:" + d + rb"|\r?$)", re.M)


def _check_blank_quotes(path: Path, delimiter: str, quote: str) -> None:
    """Fallback where a field could start with blanks then a quote, or end with a quote then
    blanks: DuckDB drops those blanks, Python's csv keeps them (a cheap search first; the
    pattern only where a blank touches a quote)."""
    qb = quote.encode()
    pat = _blank_quote_pattern(delimiter, quote)
    tail = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            data = tail + chunk if tail else chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if chunk and cut == 0:      # no line break yet: a longer line
                tail = data
                continue
            if ((data.find(b" " + qb, 0, cut) >= 0 or data.find(qb + b" ", 0, cut) >= 0)
                    and pat.search(data, 0, cut)):
                raise Fallback("a quote after blanks at the start of a field, or blanks after a closing quote")
            if not chunk:
                return
            tail = data[cut:]


@dataclass
class Plan:
    """What the bulk reader found; :func:`read` makes it, :func:`batches` yields the rows."""

    lines: Lines
    first: int                              # physical number of data row 1
    rows: int                               # data rows (records)
    accepted: int                           # rows DuckDB gave
    excluded: np.ndarray                    # data-row numbers Python reads (sorted)
    specials: dict[int, Special] = field(default_factory=dict)


def _reader_connection(path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    rc = duckdb.connect(":memory:")
    harden(rc)
    rc.execute("SET enable_progress_bar = false")
    rc.execute("SET preserve_insertion_order = true")
    rc.execute("SET memory_limit = ?", [memory_limit])
    rc.execute("SET allowed_paths = ?", [[str(path)]])
    rc.execute("SET enable_external_access = false")
    return rc


def read(path: Path, *, header: list[str], used: list[int], encoding: str, delimiter: str, quote: str,
         skip_rows: int, memory_limit: str, on_read: Callable[[int], None] | None = None,
         ) -> tuple[Plan, duckdb.DuckDBPyConnection]:
    """Index the lines, let DuckDB read the file into its table ``r`` (columns ``c{j}`` for ``j``
    in ``used``), check that every record is one line and read the set-aside lines in Python.
    Raises Fallback (nothing written anywhere) where that does not hold."""
    width = len(header)
    if width < 2:
        raise Fallback("a one-column file (an empty line would be a row)")
    codec = codecs.lookup(encoding).name
    path = path.resolve()
    lines = index_lines(path, codec, on_read)
    first = skip_rows + 2                    # skipped lines, then the header's one line
    if lines.n < first - 1:
        raise Fallback("fewer lines than the header needs")
    lf = LineFile(path, lines)
    try:
        # the header must be one line, the one the record reader read it from
        (_, hline), = lf.get([first - 1])
        try:
            got = parse_line(hline, encoding=encoding, delimiter=delimiter, quote=quote)
        except (Fallback, csv.Error):
            raise Fallback("a header over several lines") from None
        if got and got[0].startswith("\ufeff"):
            got[0] = got[0][1:]
        if [_show_bad_bytes(h.strip()) for h in got] != header:
            raise Fallback("a header over several lines")
        if lines.size and lines.n >= first:
            _check_blank_quotes(path, delimiter, quote)
        rc = _reader_connection(path, memory_limit)
        try:
            cols = "{" + ", ".join(f"'c{j}': 'VARCHAR'" for j in range(width)) + "}"
            sel = ", ".join(f"c{j}" for j in used)
            try:
                rc.execute(
                    f"CREATE TABLE r AS SELECT {sel} FROM read_csv(?, header = false, skip = {int(first - 1)}, "
                    f"auto_detect = false, columns = {cols}, all_varchar = true, delim = {lit(delimiter)}, "
                    f"quote = {lit(quote)}, escape = {lit(quote)}, encoding = {lit(ENCODINGS[codec])}, "
                    f"strict_mode = true, store_rejects = true, allow_quoted_nulls = false, null_padding = false, "
                    f"max_line_size = {MAX_FIELD_BYTES}, parallel = true)", [str(path)])
            except duckdb.Error as e:
                raise Fallback(f"DuckDB's reader: {str(e).splitlines()[0][:200]}") from None
            accepted = rc.execute("SELECT count(*) FROM r").fetchall()[0][0]
            rejects = rc.execute("SELECT line, min(line_byte_position), min(csv_line) FROM reject_errors "
                                 "GROUP BY line ORDER BY line").fetchall()
            plan = _plan(lines, lf, rejects, accepted, first, header, encoding=encoding, delimiter=delimiter,
                         quote=quote)
        except BaseException:
            rc.close()
            raise
    finally:
        lf.close()
    return plan, rc


def _plan(lines: Lines, lf: LineFile, rejects: list, accepted: int, first: int, header: list[str], *,
          encoding: str, delimiter: str, quote: str) -> Plan:
    rows = max(lines.n - first + 1, 0)
    rej = np.array([r[0] for r in rejects], np.int64)
    if len(rej) and (rej.min() < first or rej.max() > lines.n):
        raise Fallback("DuckDB rejected a line outside the data")
    aside = np.union1d(np.union1d(lines.blank[lines.blank >= first], lines.long[lines.long >= first]),
                       lines.bad[lines.bad >= first])
    if np.intersect1d(rej, lines.blank).size:
        raise Fallback("DuckDB rejected a blank line (it skips them)")
    excluded = np.union1d(aside, rej)
    # lines DuckDB gave no row for and did not reject: the long ones it may drop, the blank ones
    if accepted + len(excluded) != rows:
        raise Fallback(f"records and lines differ ({accepted:,} rows read, {len(excluded):,} lines set "
                       f"aside, {rows:,} data lines): a record over several lines")
    # each reject must be the line the index has under that number: where it starts (DuckDB
    # counts the line's first byte from 1, or gives its own offset of it after a blank line or a
    # \r\n: one byte of leeway), or else what it holds (invalid bytes shown as '?')
    if rejects:
        offsets = _offsets(lf, [int(r[0]) for r in rejects])
        texts = dict(lf.get([int(r[0]) for r in rejects]))
        for line, lbp, csv_line in rejects:
            if lbp is not None and lbp - offsets[int(line)] in (0, 1):
                continue
            mine = _SURROGATE.sub("?", texts[int(line)].decode(encoding, "surrogateescape"))
            if csv_line is None or csv_line.strip("\r\n") != mine.rstrip("\r"):
                raise Fallback("DuckDB's rejected lines are not where the file's lines are")
    plan = Plan(lines=lines, first=first, rows=rows, accepted=accepted, excluded=excluded - (first - 1))
    for num, line in lf.get(excluded):
        try:
            fields = parse_line(line, encoding=encoding, delimiter=delimiter, quote=quote)
        except csv.Error as e:   # as the record reader says it (textfile.read_records)
            limit = textfile.READER_FIELD_CHARS
            why = (f"a field is longer than {limit:,} characters, the most the CSV reader takes (a quote "
                   f"({quote}) that is never closed?)" if "field larger than field limit" in str(e)
                   else f"cannot parse as CSV: {e}")
            raise InputError(f"{why}; nothing was stored", path=str(lf.path), row=int(num) - first + 1) from None
        plan.specials[int(num) - first + 1] = classify(fields, header, delimiter=delimiter, quote=quote,
                                                       encoding=encoding)
    return plan


def _offsets(lf: LineFile, nums: list[int]) -> dict[int, int]:
    out = {}
    for num in nums:
        k = (num - 1) // STEP
        lf.f.seek(int(lf.lines.every[k]))
        at = k * STEP + 1
        while at < num:
            lf.f.readline()
            at += 1
        out[num] = lf.f.tell()
    lf.at = 0
    return out


def row_numbers(excluded: np.ndarray, g0: int, n: int) -> np.ndarray:
    """Data-row numbers of DuckDB's rows ``g0 .. g0 + n - 1`` (0-based): the data rows that are not
    ``excluded`` (sorted), in order."""
    g = np.arange(g0, g0 + n, dtype=np.int64)
    if not len(excluded):
        return g + 1
    shifted = excluded - np.arange(len(excluded), dtype=np.int64)
    return g + 1 + np.searchsorted(shifted, g + 1, side="right")


class RawLines:
    """The raw text of quarantined rows (``insert_quarantine``'s ``batch``): a set-aside line's
    from the plan, any other line read again from the file and re-serialised as the record
    reader does."""

    def __init__(self, path: Path, plan: Plan, *, encoding: str, delimiter: str, quote: str):
        self.path, self.plan = path, plan
        self.encoding, self.delimiter, self.quote = encoding, delimiter, quote
        self.first_row = 0
        self._cache: dict[int, str] = {}

    def load(self, rows: list[int]) -> None:
        want = sorted(r for r in rows if r not in self.plan.specials)
        self._cache = {}
        if not want:
            return
        lf = LineFile(self.path, self.plan.lines)
        try:
            for num, line in lf.get([r + self.plan.first - 1 for r in want]):
                fields = line.decode(self.encoding, "surrogateescape")
                fields = next(csv.reader([fields + "\n"], delimiter=self.delimiter, quotechar=self.quote,
                                         strict=False), [])
                self._cache[num - self.plan.first + 1] = _join(fields, self.delimiter, self.quote)
        finally:
            lf.close()

    def raw(self, row: int) -> str:
        s = self.plan.specials.get(row)
        if s is not None:
            return s.raw if s.raw is not None else _join(s.fields, self.delimiter, self.quote)
        return self._cache[row]


def _gathered(reader: pa.RecordBatchReader, rows: int, max_bytes: int = BULK_BYTES) -> Iterator[pa.Table]:
    """DuckDB's record batches (about a row group each, of uneven sizes) gathered into tables of
    up to ``rows`` rows or ``max_bytes`` bytes, whichever comes first (DuckDB's batches are never
    split, and kept as they are, not copied): each table is one parse and one insert, and fewer, larger inserts
    cost the workspace much less than many small ones."""
    held: list[pa.RecordBatch] = []
    n = size = 0
    for rb in reader:
        if held and (n + rb.num_rows > rows or size + rb.nbytes > max_bytes):
            yield pa.Table.from_batches(held)
            held, n, size = [], 0, 0
        held.append(rb)
        n += rb.num_rows
        size += rb.nbytes
    if held:
        yield pa.Table.from_batches(held)


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column as Arrow ``string`` (DuckDB gives that already for text: then as it is)."""
    return col if col.type == pa.string() else col.cast(pa.string())


def batches(rc: duckdb.DuckDBPyConnection, plan: Plan, used: list[int], per_batch: int,
            ) -> Iterator[tuple[pa.Table, list[int]]]:
    """The staged batches (``csvfile.stage_batch``'s shape: ``c{j}``, ``_row``, ``_pre_col``,
    ``_pre_reason``), in record order, each with the rows of it that Python read."""
    names = [f"c{j}" for j in used]
    specials = sorted(plan.specials)
    si = 0
    g0 = 0
    reader = rc.sql("SELECT rowid AS _rid, * FROM r").to_arrow_reader(per_batch)
    schema = pa.schema([(n, pa.string()) for n in names] + [("_row", pa.int64()), ("_pre_col", pa.string()),
                                                            ("_pre_reason", pa.string())])

    def special_table(rows: list[int]) -> pa.Table:
        cols = {n: pa.array([plan.specials[r].fields[j] for r in rows], pa.string()) for n, j in zip(names, used)}
        cols["_row"] = pa.array(rows, pa.int64())
        cols["_pre_col"] = pa.array([(plan.specials[r].problem or (None, None))[0] for r in rows], pa.string())
        cols["_pre_reason"] = pa.array([(plan.specials[r].problem or (None, None))[1] for r in rows], pa.string())
        return pa.table(cols, schema=schema)

    for rb in _gathered(reader, per_batch):
        n = rb.num_rows
        if n == 0:
            continue
        rid = rb.column(0).to_numpy()   # a chunked array: copied once into one NumPy array
        if rid[0] != g0 or (n > 1 and not np.array_equal(np.diff(rid), np.ones(n - 1, rid.dtype))):
            raise RuntimeError("DuckDB returned the file's rows out of order")
        nums = row_numbers(plan.excluded, g0, n)
        g0 += n
        last = int(nums[-1])
        take = []
        while si < len(specials) and specials[si] <= last:
            take.append(specials[si])
            si += 1
        cols = {nm: _text(rb.column(i + 1)) for i, nm in enumerate(names)}
        cols["_row"] = pa.array(nums, pa.int64())
        cols["_pre_col"] = pa.nulls(n, pa.string())
        cols["_pre_reason"] = pa.nulls(n, pa.string())
        tbl = pa.table(cols, schema=schema)
        if take:   # Python's rows in their places: the batch stays in record order
            tbl = pa.concat_tables([tbl, special_table(take)]).sort_by("_row")
        yield tbl, take
    if g0 != plan.accepted:
        raise RuntimeError(f"DuckDB gave {g0:,} rows, {plan.accepted:,} expected")
    while si < len(specials):
        take = specials[si: si + per_batch]
        si += len(take)
        yield special_table(take), take


__all__ = ["Fallback", "Lines", "Plan", "RawLines", "batches", "classify", "index_lines", "read", "row_numbers",
           "unsupported", "READER_FIELD_CHARS"]
