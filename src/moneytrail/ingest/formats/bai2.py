"""BAI2 cash-management balance reports (US banks): ``sniff``, ``read`` and ``write``.

A BAI2 file ("Cash Management Balance Reporting Specifications, Version 2", BAI 1987, now
ASC X9) is comma-separated records, each starting with a two-digit record code::

    01 file header      sender, receiver, creation date/time, file id
    02 group header     ultimate receiver, originator (the bank's routing id), group status,
                        as-of date (YYMMDD) and time, currency, as-of-date modifier
    03 account          account number, currency, then (type code, amount, item count,
                        funds type [+ availability]) for balances (010 opening ledger, 015
                        closing ledger, 040/045 opening/closing available, ...) and summaries
    16 detail           type code, amount, funds type [+ availability], bank reference,
                        customer reference, free text (the text runs to the end of the record)
    88 continuation     continues the previous record (any record, even another 88)
    49 account trailer  account control total, number of records
    98 group trailer    group control total, number of accounts, number of records
    99 file trailer     file control total, number of groups, number of records

A ``/`` ends a record (except a 16's text, which the next record ends). Amounts are whole
numbers in the currency's minor unit ("12345" USD = 123.45), signed only in balances.

What :func:`read` yields: one :class:`Statement` per 03 account (its balances dated with the
group's as-of date), then one :class:`Entry` per 16 record with its continuations, or a
:class:`Bad` saying why not. Amounts are given as decimal text ("123.45": the implied decimals
of the currency made explicit, sign dropped, ``direction`` from the type code).

Why not the ``bai2`` PyPI package (MIT): it reads the whole file into one string and builds the
whole tree before returning anything (``parse_from_file`` calls ``f.read()``), raises at the
first control total that does not add up (so one bad account loses the file), keeps no physical
line numbers, and knows neither several records on one line nor lines broken without an 88;
it is also not a declared dependency. So this module is a small streaming parser of its own.

Control totals need the trailer, which comes after the entries it vouches for, and memory must
not grow with the file; so :func:`read` makes two passes over the file: the first only sums and
counts (remembering the accounts and groups that fail: a line number and a reason each, and at
most :data:`MAX_FAILED`), the second yields. An account whose 49 trailer does not add up, every
account of a group whose 98 trailer does not add up or that never ends (a truncated file), and
the accounts of a deletion or test-only group are quarantined as ONE :class:`Bad` each
(``counts_entries`` = its 16 records; it follows the account's Statement, the entries are not
yielded); the rest is kept. A file trailer (99) that does not add up, or a missing one, is a
``Bad`` with ``counts_entries=0`` at the end (it stands for no entry: the groups were checked).

Lenience for real files: several records on one physical line (split at a ``/`` followed by a
plausible record start), a 16 whose text runs on to the next physical line without an 88, a
missing final ``/``, fixed 80-column padding, blank lines, CRLF or CR line ends, a UTF-8 BOM,
``88:`` for ``88,``, extra empty fields in an 03 summary, blank control totals (taken as 0).

Bank conventions read too: continuation lines of the form ``TAG: value`` with the tags that
Goldman Sachs Transaction Banking (and others) use (``EREF`` end-to-end id; ``DBNM``/``DACT``/
``DBIC``/``DABA`` the debtor's name, account, BIC, ABA; ``CRNM``/``CACT``/``CBIC``/``CABA`` the
creditor's) fill the counterparty fields: the debtor's for a credit, the creditor's for a debit.
The tags used so are left out of ``remittance``; every other part of the text stays in it.
:func:`write` writes counterparties the same way, so that they survive a round trip.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, TextIO

from moneytrail.errors import InputError
from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement, clip

KIND = "bai2"
DATE_FORMAT = "%y%m%d"          # BAI2 dates are YYMMDD

MAX_LINE = 1 << 20              # bytes read as one physical line before reading it in chunks
CHUNK = 1 << 20                 # bytes read at a time from an overlong line
MAX_RECORD = 100_000            # characters kept of one record with its continuations
MAX_DIGITS = 18                 # an amount longer than this is not an amount (leading zeros aside)
TOTAL_DIGITS = 30               # a control total may be longer (it sums a whole file)
MAX_DISTRIBUTIONS = 50          # funds type D: the most availability distributions believed
MAX_FAILED = 100_000            # accounts to quarantine before the file is refused as a whole
_WINDOW = 512                   # characters kept at a chunk's end to find a boundary across chunks

_CODES = frozenset({"01", "02", "03", "16", "49", "88", "98", "99"})

# where a record ends and the next begins on the same physical line: a '/' then (at most 80
# blanks of fixed-width padding) the start of a record that looks like one of its kind, so that
# a '/' inside a 16's text ("08/18/23", "AB/GS/01") does not split it
_NEXT = (
    r"01,[^,/\n]{0,64},[^,/\n]{0,64},[0-9]{6},"
    r"|02,[^,/\n]{0,64},[^,/\n]{0,64},[0-9]?,[0-9]{6}"
    r"|03,[^,/\n]{1,64},[A-Za-z]{0,3}[,/]"
    r"|16,[0-9]{3},[+-]?[0-9]*,"
    r"|49,[+-]?[0-9]*,[0-9]+"
    r"|88,"
    r"|98,[+-]?[0-9]*,[0-9]+,[0-9]+"
    r"|99,[+-]?[0-9]*,[0-9]+,[0-9]+"
)
_BOUNDARY = re.compile(r"/[ \t\r\n]{0,80}(?=" + _NEXT + ")")
_HEADER = re.compile(r"01,[^,\n]{0,64},[^,\n]{0,64},[0-9]{6},")
_RECORD_START = re.compile(r"(?:0[123]|16|49|88|98|99),")
_AMOUNT = re.compile(r"([+-]?)0*([0-9]{1,18})")
_TYPE_CODE = re.compile(r"[0-9]{3}")
_CURRENCY = re.compile(r"[A-Z]{3}")

# where a part of a record came from
_LINE, _CONT, _RAW = 0, 1, 2      # the record's own line, an 88 continuation, a line without a code

# ISO 4217 minor units that are not 2 (BAI2 amounts carry the currency's implied decimals)
_EXPONENT: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX",
                     "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

# Channel by type code, from the titles in the BAI2 type-code table (only where the title says
# how the money moved: "ACH Credit Received", "Incoming Money Transfer", "Check Paid", ...).
_CHANNEL_CODES: dict[str, tuple[int, ...]] = {
    "ach": (140, 142, 143, 145, 160, 162, 163, 164, 165, 166, 167, 168, 169, 256, 257, 258,
            445, 446, 447, 450, 451, 452, 455, 462, 463, 464, 465, 466, 467, 468, 469, 556, 557, 558),
    "wire": (190, 195, 196, 207, 208, 303, 304, 490, 493, 495, 496, 507, 508, 611, 612),
    "transfer": (158, 159, 191, 200, 201, 205, 206, 270, 271, 274, 275, 276, 277, 278,
                 458, 459, 491, 500, 501, 505, 506, 570, 574, 575, 577, 578),
    "check": (115, 116, 118, 170, 175, 176, 186, 187, 188, 189, 221, 222, 250, 255, 395,
              430, 435, 470, 471, 472, 474, 475, 486, 487, 489, 522, 581, 583, 584, 588),
    "card": (146, 147),
    "cash": (294, 295, 352, 353, 366, 594, 595, 628, 629, 666),
    "fee": (398, 564, 567, 661, 698),
    "interest": (346, 354, 359, 654, 659, 721),
    "payroll": (373, 673),
}
CHANNEL_BY_CODE: dict[str, str] = {f"{c:03d}": ch for ch, codes in _CHANNEL_CODES.items() for c in codes}

# the code write() uses for an entry whose tx_code is not a BAI2 type code of its direction
_DEFAULT_CODE = {
    CREDIT: {"wire": "195", "ach": "142", "check": "175", "card": "147", "cash": "366",
             "transfer": "206", "payroll": "373", "fee": "398", "interest": "354"},
    DEBIT: {"wire": "495", "ach": "451", "check": "475", "cash": "595", "transfer": "506",
            "payroll": "673", "fee": "698", "interest": "654"},
}
_MISC_CODE = {CREDIT: "399", DEBIT: "699"}      # "Miscellaneous Credit" / "Miscellaneous Debit"

# Goldman Sachs-style continuation tags: (name, account, BIC, ABA) of the counterparty
_PARTY_TAGS = {CREDIT: ("DBNM", "DACT", "DBIC", "DABA"), DEBIT: ("CRNM", "CACT", "CBIC", "CABA")}


_WANTED = {d: dict(zip((*tags, "EREF"), ("name", "account", "bic", "aba", "eref"))) for d, tags in _PARTY_TAGS.items()}


def direction_of(code: str) -> str | None:
    """CREDIT or DEBIT for a BAI2 detail type code, None when the table does not say.

    100-399 are credits and 400-699 debits; of the loan codes 706, 708 and 720-728 are credits
    and 760 a debit; 000-099 are balances, 890 non-monetary information, 900-999 codes each bank
    defines for itself (their direction is in the bank's guide, not in the specification)."""
    n = int(code)
    if 100 <= n <= 399 or n in (706, 708) or 720 <= n <= 728:
        return CREDIT
    if 400 <= n <= 699 or n == 760:
        return DEBIT
    return None


# ---------------------------------------------------------------------------------------------
# sniff

def sniff(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) is a BAI2 file: a file header record ``01,``
    with a YYMMDD creation date, the next lines starting with BAI2 record codes, and a group
    header (02) among them. CSV, XML, MT940 and OFX never start so."""
    text = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not _HEADER.match(lines[0]):
        return False
    complete = lines if len(head) < 8192 else lines[:-1]      # the last line may be cut
    if any(not _RECORD_START.match(ln) and not ln.startswith("88") for ln in complete[1:6]):
        return False
    return any(ln.startswith("02,") for ln in lines) or re.search(r"/\s{0,80}02,", text) is not None


# ---------------------------------------------------------------------------------------------
# physical lines -> record pieces

def _split_line(lineno: int, text: str) -> Iterator[tuple[int, str, int]]:
    """The records on one physical line (usually one): ``(line, text, dropped characters)``."""
    t = text.strip()
    if not t:
        return
    slash = t.find("/")
    if slash < 0 or slash == len(t) - 1:
        yield lineno, t, 0
        return
    start = 0
    for m in _BOUNDARY.finditer(t):
        yield lineno, t[start:m.start() + 1].strip(), 0
        start = m.end()
    rest = t[start:].strip()
    if rest:
        yield lineno, rest, 0


def _long_line(fh: BinaryIO, first: bytes, lineno: int) -> Iterator[tuple[int, str, int]]:
    """The records on a physical line longer than :data:`MAX_LINE` (a file without line ends, or
    a hostile one), read a chunk at a time: a record longer than :data:`MAX_RECORD` keeps its
    first characters and counts the rest, so memory stays bounded whatever the line."""
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    pending = dec.decode(first)
    head: str | None = None           # the kept start of an oversized record
    dropped = 0
    done = False
    while True:
        if not done:
            chunk = fh.readline(CHUNK)
            done = not chunk or chunk.endswith(b"\n")
            pending += dec.decode(chunk, final=done)
            if done:
                pending = pending.rstrip("\r\n")
        start = 0
        for m in _BOUNDARY.finditer(pending):
            piece = pending[start:m.start() + 1]
            if head is not None:
                yield lineno, head.strip(), dropped + len(piece)
                head, dropped = None, 0
            elif piece.strip():
                yield lineno, piece.strip(), 0
            start = m.end()
        pending = pending[start:]
        if done:
            if head is not None:
                yield lineno, head.strip(), dropped + len(pending)
            elif pending.strip():
                yield lineno, pending.strip(), 0
            return
        if len(pending) > MAX_RECORD + _WINDOW:
            cut = len(pending) - _WINDOW
            if head is None:
                head, dropped = pending[:MAX_RECORD], cut - MAX_RECORD
            else:
                dropped += cut
            pending = pending[cut:]


def _pieces(fh: BinaryIO) -> Iterator[tuple[int, str, int]]:
    """Every record piece of the file in order, with its physical line number (1-based).
    (The common case, one record per line, is inline: this runs once per line, twice a file.)"""
    lineno = 0
    readline = fh.readline
    raw = readline(MAX_LINE)
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    while raw:
        if raw[-1:] == b"\n" or len(raw) < MAX_LINE - 3 * bom:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")      # older bank systems; never fails
            text = text.strip()
            for sub in text.split("\r") if "\r" in text else (text,):
                lineno += 1
                if sub:
                    slash = sub.find("/")
                    if slash < 0 or slash == len(sub) - 1:
                        yield lineno, sub, 0
                    else:
                        yield from _split_line(lineno, sub)
        else:
            lineno += 1
            yield from _long_line(fh, raw, lineno)
        raw = readline(MAX_LINE)


# ---------------------------------------------------------------------------------------------
# pieces -> logical records (a record with its 88 continuations)

def _code_of(text: str) -> str | None:
    """The record code a piece starts with, or None (a line that is not a record)."""
    if len(text) >= 3:
        code = text[:2]
        if text[2] == "," and code in _CODES:
            return code
        if code == "88" and text[2] in ":;.":       # "88:EREF ..." seen in real files
            return "88"
    return None


class _Rec:
    """One logical record: its code (None: not a BAI2 record), its parts (the record's own
    line, its 88 continuations, lines continuing a 16's text without a code), where it lies,
    and how many physical records (the record and its 88s) it counts for in the trailers."""

    __slots__ = ("code", "parts", "first", "last", "nphys", "size", "dropped")

    def __init__(self, code: str | None, text: str, line: int, dropped: int) -> None:
        self.code = code
        self.parts: list[tuple[int, str]] = []
        self.first = self.last = line
        self.nphys = 1
        self.size = 0
        self.dropped = 0
        self.add(_LINE if code else _RAW, text, line, dropped)

    def add(self, origin: int, text: str, line: int, dropped: int) -> None:
        """Append a part, keeping at most :data:`MAX_RECORD` characters of the whole record."""
        self.last = line
        n = len(text)
        if not dropped and self.size + n <= MAX_RECORD:
            self.parts.append((origin, text))
            self.size += n + 1
            return
        self.dropped += dropped
        keep = MAX_RECORD - self.size
        if keep <= 0:               # full: the rest is only counted, however many lines it has
            self.dropped += n
            return
        if n > keep:
            self.dropped += n - keep
            text = text[:keep]
        self.parts.append((origin, text))
        self.size += len(text) + 1

    def content(self, i: int) -> str:
        """Part ``i`` without its record code."""
        origin, text = self.parts[i]
        return text if origin == _RAW else text[3:]

    def open_text(self) -> bool:
        """True when a 16's text may go on in the next line (its last part ends without '/')."""
        return self.code == "16" and not self.parts[-1][1].rstrip().endswith("/")

    @property
    def position(self) -> str:
        return _position(self.first, self.last)

    @property
    def raw(self) -> str:
        text = "\n".join(t for _, t in self.parts)
        if self.dropped:
            text += f"… [{self.dropped} more characters]"
        return clip(text)


def _position(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _records(pieces: Iterator[tuple[int, str, int]]) -> Iterator[_Rec]:
    """Group pieces into logical records: an 88 continues the record before it, a line without
    a code continues a 16 whose text is still open, consecutive junk lines make one record."""
    cur: _Rec | None = None
    codes = _CODES
    for line, text, dropped in pieces:
        if len(text) > 2 and text[2] == ",":
            code: str | None = text[:2]
            if code not in codes:
                code = None
        else:
            code = _code_of(text)
        if cur is not None:
            if code == "88":
                cur.add(_CONT, text, line, dropped)
                cur.nphys += 1
                continue
            if code is None and (cur.code is None or cur.open_text()):
                cur.add(_RAW, text, line, dropped)
                continue
            yield cur
        cur = _Rec(code, text, line, dropped)
    if cur is not None:
        yield cur


def _read_records(path: Path) -> Iterator[_Rec]:
    """The file's logical records, streamed; an unreadable file is an InputError."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise InputError(f"cannot read the file: {e.strerror or e}", path=str(path)) from None
    with fh:
        yield from _records(_pieces(fh))


# ---------------------------------------------------------------------------------------------
# fields

def _strip_slash(text: str) -> str:
    text = text.rstrip()
    return text[:-1] if text.endswith("/") else text


def _fields(rec: _Rec) -> list[str]:
    """A non-detail record's fields: its parts joined (each ended by '/' or by the line end,
    which starts a new field) and split at commas."""
    joined = ",".join(_strip_slash(rec.content(i)) for i in range(len(rec.parts)) if rec.parts[i][0] != _RAW)
    return [f.strip() for f in joined.split(",")]


def _int(text: str, digits: int = MAX_DIGITS) -> int | None:
    """A signed whole amount ("+123", "-5", "" = 0) of at most ``digits`` significant digits,
    None when it is not one."""
    if not text:
        return 0
    body = text[1:] if text[0] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    body = body.lstrip("0") or "0"
    if len(body) > digits:
        return None
    return -int(body) if text[0] == "-" else int(body)


def _count(text: str) -> int | None:
    """A record or item count; None when blank or not a number."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def _decimal(digits: str, exp: int) -> str:
    """Minor units as decimal text: ("12345", 2) -> "123.45", ("5", 2) -> "0.05"."""
    digits = digits.lstrip("0") or "0"
    if exp == 0:
        return digits
    digits = digits.rjust(exp + 1, "0")
    return f"{digits[:-exp]}.{digits[-exp:]}"


@dataclass
class _Summary:
    """An 03 record read: account, currency, (type code, amount, item count) items, problem."""

    account: str
    currency: str
    items: list[tuple[str, str, str]] = field(default_factory=list)
    problem: str | None = None

    def total(self) -> int | None:
        """The sum of its amounts (part of the account control total), None if one is not a number."""
        s = 0
        for _, amount, _ in self.items:
            v = _int(amount)
            if v is None:
                return None
            s += v
        return s


def _parse_03(rec: _Rec) -> _Summary:
    """The account number, currency and summary/status items of an 03 record with its 88s.
    Empty fields where a type code is due are skipped (some banks write an extra comma)."""
    f = _fields(rec)
    summary = _Summary(account=f[0].replace(" ", ""), currency=(f[1] if len(f) > 1 else "").upper())
    i, n = 2, len(f)
    while i < n:
        code = f[i]
        if not code:
            i += 1
            continue
        if not _TYPE_CODE.fullmatch(code):
            summary.problem = f"summary type code {code[:20]!r} is not three digits"
            break
        amount = f[i + 1] if i + 1 < n else ""
        items = f[i + 2] if i + 2 < n else ""
        funds = f[i + 3].upper() if i + 3 < n else ""
        i += 4
        extra = _availability_fields(funds, f[i] if i < n else "")
        if extra is None:
            summary.problem = f"funds type D of summary {code} has no usable distribution count"
            break
        i += extra
        summary.items.append((code, amount, items))
    return summary


def _availability_fields(funds: str, next_field: str) -> int | None:
    """How many availability fields follow a funds type (S: 3, V: 2, D: 1 + 2n)."""
    if funds == "S":
        return 3
    if funds == "V":
        return 2
    if funds == "D":
        n = _count(next_field)
        if n is None or n > MAX_DISTRIBUTIONS:
            return None
        return 1 + 2 * n
    return 0


@dataclass
class _Detail:
    """A 16 record's fields: the fixed ones and the text parts (origin, normalised text)."""

    fields: list[str]
    texts: list[tuple[int, str]]
    problem: str | None = None


def _detail_need(fields: list[str]) -> int | None:
    """How many fixed fields a 16 has before its text, once the funds type is known (-1: the
    distribution count of funds type D is not usable)."""
    if len(fields) < 3:
        return None
    funds = fields[2].strip().upper()
    if funds == "D":
        if len(fields) < 4:
            return None
        n = _count(fields[3].strip())
        return -1 if n is None or n > MAX_DISTRIBUTIONS else 6 + 2 * n
    return 5 + (3 if funds == "S" else 2 if funds == "V" else 0)


def _split_16(rec: _Rec) -> _Detail:
    """Split a 16 record (with its continuations) into fixed fields and text.

    The fixed fields are comma-separated; a '/' or an 88 ends the field it follows. The text is
    everything after the last fixed field, commas included, and goes on across 88s and
    code-less lines; each text part loses one final '/' (many banks end it so)."""
    first = rec.parts[0][1]
    fast = first[3:].split(",", 5)
    if len(fast) == 6 and fast[2].strip().upper() not in ("S", "V", "D"):
        # the usual record: all fixed fields on the 16's own line, then the text
        texts = [(_LINE, fast[5])]
        texts += [(o, t if o == _RAW else t[3:]) for o, t in rec.parts[1:]]
        return _Detail([x.strip() for x in fast[:5]], [(o, _strip_slash(t).strip()) for o, t in texts])
    fields: list[str] = []
    cur: str | None = None
    texts = []
    need: int | None = None
    in_text = False
    for i, (origin, _) in enumerate(rec.parts):
        s = rec.content(i)
        if in_text:
            texts.append((origin, s))
            continue
        if origin == _CONT and cur is not None:
            fields.append(cur)
            cur = None
        s = s.rstrip()
        pos = 0
        while True:
            if need is None:
                need = _detail_need(fields)
                if need == -1:
                    return _Detail(fields, [], "funds type D has no usable distribution count")
            if need is not None and len(fields) >= need:
                in_text = True
                texts.append((origin, s[pos:]))
                break
            comma = s.find(",", pos)
            if comma < 0:
                frag = s[pos:]
                if frag.endswith("/"):
                    fields.append((cur or "") + frag[:-1])
                    cur = None
                elif frag:
                    cur = (cur or "") + frag
                break
            fields.append((cur or "") + s[pos:comma])
            cur = None
            pos = comma + 1
    if cur is not None:
        fields.append(cur)
    return _Detail([x.strip() for x in fields], [(o, _strip_slash(t).strip()) for o, t in texts])


def _detail_amount(rec: _Rec) -> int | None:
    """A 16's amount for the control total (cheap path for the first pass)."""
    head = rec.content(0).split(",", 2)
    if len(head) >= 3 or (len(rec.parts) == 1 and len(head) == 2):
        return _int(_strip_slash(head[1]).strip())
    d = _split_16(rec)
    return _int(d.fields[1]) if len(d.fields) > 1 else 0


# ---------------------------------------------------------------------------------------------
# first pass: control totals

@dataclass
class _Account:
    """An open account in the first pass: what its 49 trailer must agree with."""

    ordinal: int
    first: int
    records: int
    total: int | None               # 03 amounts + 16 amounts (unsigned, as the specification has them)
    signed: int = 0                 # what signed 16 amounts (9xx codes) add up to, also accepted
    problem: str | None = None


@dataclass
class _Group:
    """An open group in the first pass: what its 98 trailer must agree with."""

    ordinal: int
    first: int
    records: int
    status: str
    currency: str
    accounts: int = 0
    stated: int = 0                 # the sum of its accounts' stated control totals


@dataclass
class _Verdict:
    """What the first pass found: the accounts and the groups to quarantine (ordinal -> (first
    line, reason)), and notes about the file as a whole (a missing or wrong file trailer). Only
    failures are kept, and at most :data:`MAX_FAILED` of them."""

    accounts: dict[int, tuple[int, str]] = field(default_factory=dict)
    groups: dict[int, tuple[int, str]] = field(default_factory=dict)
    notes: list[Bad] = field(default_factory=list)
    n_accounts: int = 0


def _check_trailer(kind: str, stated_total: str, computed: int | None, stated_records: str,
                   records: int, unit: str) -> list[str]:
    """Why a trailer does not add up (empty when it does). A blank total is 0 (seen in real
    files); a blank record count is not checked."""
    problems = []
    total = _int(stated_total, TOTAL_DIGITS)
    if total is None:
        problems.append(f"{kind} control total {stated_total[:30]!r} is not a number")
    elif computed is None:
        problems.append(f"{kind} control total cannot be checked: an amount in it is not a number")
    elif total != computed:
        problems.append(f"{kind} control total {total} differs from the sum {computed} of its {unit}")
    if stated_records:
        n = _count(stated_records)
        if n is None:
            problems.append(f"{kind} record count {stated_records[:30]!r} is not a number")
        elif n != records:
            problems.append(f"{kind} record count {n} differs from the {records} records it closes")
    return problems


class _Checker:
    """The first pass: follows files, groups and accounts, sums and counts what their trailers
    vouch for, and remembers the accounts and groups that fail and why."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.v = _Verdict()
        self.group: _Group | None = None
        self.acct: _Account | None = None
        self.n_groups = 0
        self.file_records = 0
        self.file_total = 0                    # the stated totals of the groups closed in this file
        self.file_groups = 0                   # and how many there are
        self.saw_header = False
        self.saw_trailer = False
        self.last_line = 0

    def run(self, records: Iterable[_Rec]) -> _Verdict:
        path = str(self.path)
        for rec in records:
            if not self.saw_header:
                if rec.code != "01":
                    raise InputError("not a BAI2 file: it does not begin with a file header record (01)", path=path)
                self.saw_header = True
            self.last_line = rec.last
            self.step(rec)
        if not self.saw_header:
            raise InputError("the file is empty", path=path)
        self.end()
        if self.v.n_accounts == 0:
            why = "" if self.saw_trailer else f" (it ends at line {self.last_line} without a file trailer: truncated)"
            raise InputError(f"BAI2 file has no account record (03): no statement to read{why}", path=path)
        return self.v

    def step(self, rec: _Rec) -> None:
        code = rec.code
        if code is None:
            return
        self.file_records += rec.nphys
        if self.group is not None:
            self.group.records += rec.nphys
        acct = self.acct
        if code == "16":
            if acct is not None:
                acct.records += rec.nphys
                amount = _detail_amount(rec)
                if amount is None or acct.total is None:
                    acct.total = None
                else:
                    acct.total += abs(amount)
                    acct.signed += amount - abs(amount)
        elif code == "49":
            if acct is not None:
                acct.records += rec.nphys
                self.close_account(rec)
        elif code == "03":
            self.open_account(rec)
        elif code == "02":
            self.open_group(rec)
        elif code == "98":
            self.close_group(rec)
        elif code == "01":
            self.open_file(rec)
        elif code == "99":
            self.close_file(rec)

    def fail(self, table: dict[int, tuple[int, str]], ordinal: int, first: int, why: str) -> None:
        """Remember an account or group to quarantine; too many and the file is refused."""
        table[ordinal] = (first, why)
        if len(self.v.accounts) + len(self.v.groups) > MAX_FAILED:
            raise InputError(f"more than {MAX_FAILED} accounts or groups whose trailers do not add up: "
                             "the file is damaged beyond use", path=str(self.path))

    def open_file(self, rec: _Rec) -> None:
        if self.group is not None:
            self.group.records -= rec.nphys
            self.abandon_group(f"a new file header (01) at line {rec.first} begins before its group trailer (98)")
        self.file_records = rec.nphys
        self.file_total = self.file_groups = 0
        self.saw_trailer = False

    def open_group(self, rec: _Rec) -> None:
        if self.group is not None:
            self.group.records -= rec.nphys
            self.abandon_group(f"the next group header (02) at line {rec.first} begins before its group trailer (98)")
        f = _fields(rec)
        self.n_groups += 1
        self.group = _Group(self.n_groups, rec.first, rec.nphys, status=f[2] if len(f) > 2 else "",
                            currency=f[5].upper() if len(f) > 5 else "")

    def open_account(self, rec: _Rec) -> None:
        if self.acct is not None:
            self.end_account(f"the account has no account trailer (49): the next account begins at line {rec.first}")
        self.v.n_accounts += 1
        s = _parse_03(rec)
        acct = _Account(self.v.n_accounts, rec.first, rec.nphys, s.total())
        group = self.group
        currency = s.currency or (group.currency if group is not None else "")
        if group is None:
            acct.problem = "the account is outside a group: no group header (02) before it"
        else:
            group.accounts += 1
            if not s.account:
                acct.problem = "the account identifier record (03) has no account number"
            elif currency and not _CURRENCY.fullmatch(currency):
                acct.problem = f"currency {currency[:20]!r} is not an ISO 4217 code, so the amounts' decimals are unknown"
            elif s.problem:
                acct.problem = s.problem
        self.acct = acct

    def close_account(self, rec: _Rec) -> None:
        acct = self.acct
        assert acct is not None
        f = _fields(rec)
        computed = acct.total
        if computed is not None and acct.signed and _int(f[0], TOTAL_DIGITS) == computed + acct.signed:
            computed += acct.signed     # the bank summed signed amounts algebraically
        problems = _check_trailer("account trailer", f[0], computed, f[1] if len(f) > 1 else "",
                                  acct.records, "records")
        if self.group is not None:
            self.group.stated += _int(f[0], TOTAL_DIGITS) or 0
        self.end_account("; ".join(problems) if problems else None)

    def end_account(self, why: str | None) -> None:
        acct = self.acct
        self.acct = None
        if acct is not None and (acct.problem or why):
            self.fail(self.v.accounts, acct.ordinal, acct.first, "; ".join(p for p in (acct.problem, why) if p))

    def close_group(self, rec: _Rec) -> None:
        if self.acct is not None:
            self.end_account(f"the account has no account trailer (49) before the group trailer at line {rec.first}")
        group = self.group
        self.group = None
        f = _fields(rec)
        self.file_total += _int(f[0], TOTAL_DIGITS) or 0
        self.file_groups += 1
        if group is None:
            return
        problems = _check_trailer("group trailer", f[0], group.stated, f[2] if len(f) > 2 else "",
                                  group.records, "account trailers")
        if len(f) > 1 and f[1] and _count(f[1]) != group.accounts:
            problems.append(f"group trailer number of accounts {f[1][:20]!r} differs from the "
                            f"{group.accounts} accounts of the group")
        if group.status == "2":
            problems.append("group status 2 (deletion): the bank withdraws this previously reported data")
        elif group.status == "4":
            problems.append("group status 4 (test only): not real data")
        if problems:
            self.fail(self.v.groups, group.ordinal, group.first,
                      f"group (lines {group.first}-{rec.last}): " + "; ".join(problems))

    def abandon_group(self, why: str) -> None:
        """A group that never reaches its trailer: every account of it is quarantined."""
        if self.acct is not None:
            self.end_account("the account has no account trailer (49)")
        group = self.group
        self.group = None
        if group is not None:
            self.fail(self.v.groups, group.ordinal, group.first,
                      f"group (from line {group.first}): the group has no group trailer (98): {why}")

    def close_file(self, rec: _Rec) -> None:
        if self.group is not None:
            self.group.records -= rec.nphys
            self.abandon_group(f"the file trailer (99) at line {rec.first} comes first")
        self.saw_trailer = True
        f = _fields(rec)
        problems = _check_trailer("file trailer", f[0], self.file_total,
                                  f[2] if len(f) > 2 else "", self.file_records, "group trailers")
        if len(f) > 1 and f[1] and _count(f[1]) != self.file_groups:
            problems.append(f"file trailer number of groups {f[1][:20]!r} differs from the "
                            f"{self.file_groups} groups of the file")
        if problems:
            self.v.notes.append(Bad(rec.position, rec.raw, "; ".join(problems), counts_entries=0))

    def end(self) -> None:
        if self.group is not None:
            self.abandon_group(f"the file ends at line {self.last_line} (truncated)")
        elif self.acct is not None:
            self.end_account("the account has no account trailer (49): the file ends first")
        if not self.saw_trailer:
            self.v.notes.append(Bad(f"line {self.last_line}", "",
                                    f"the file ends at line {self.last_line} without its file trailer (99): "
                                    "it is truncated", counts_entries=0))


# ---------------------------------------------------------------------------------------------
# second pass: records

@dataclass
class _Context:
    """What the headers above an account say: file (01) and group (02)."""

    file_id: str | None = None
    created: str | None = None
    created_time: str | None = None
    sender: str | None = None
    receiver: str | None = None
    originator: str | None = None
    ultimate_receiver: str | None = None
    status: str | None = None
    as_of: str | None = None
    as_of_time: str | None = None
    as_of_modifier: str | None = None
    currency: str | None = None


def _opt(f: list[str], i: int, n: int = 64) -> str | None:
    """Field ``i`` if present and not blank, capped at ``n`` characters."""
    return f[i][:n] if len(f) > i and f[i] else None


def _balance(amount: str, as_of: str | None, exp: int) -> Balance | None:
    m = _AMOUNT.fullmatch(amount)
    if m is None:
        return None
    return Balance(_decimal(m.group(2), exp), date=as_of, negative=m.group(1) == "-", date_format=DATE_FORMAT)


def _statement(rec: _Rec, s: _Summary, ctx: _Context) -> Statement:
    """The Statement of an 03 record: account, currency, bank, balances dated with the as-of date."""
    currency = s.currency or ctx.currency or "USD"
    exp = _EXPONENT.get(currency, 2)
    st = Statement(position=rec.position, kind=KIND, account=s.account[:200] or None, currency=currency[:3],
                   bank_id=ctx.originator, statement_id=ctx.file_id, created=ctx.created,
                   period_from=ctx.as_of, period_to=ctx.as_of, date_format=DATE_FORMAT)
    extra = {"sender": ctx.sender, "receiver": ctx.receiver, "created_time": ctx.created_time,
             "ultimate_receiver": ctx.ultimate_receiver, "group_status": ctx.status,
             "as_of_time": ctx.as_of_time, "as_of_modifier": ctx.as_of_modifier}
    st.extra = {k: v for k, v in extra.items() if v}
    slots = {"010": "opening_booked", "015": "closing_booked", "040": "opening_available", "045": "closing_available"}
    for code, amount, items in s.items:
        bal = _balance(amount, ctx.as_of, exp) if amount else None
        if code in slots and bal is not None and getattr(st, slots[code]) is None:
            setattr(st, slots[code], bal)
        elif bal is not None and len(st.extra) < 24:
            value = ("-" if bal.negative else "") + bal.amount + (f" ({items[:12]} items)" if items else "")
            st.extra.setdefault(f"type {code}", value)
    return st


def _entry(rec: _Rec, ctx: _Context, currency: str) -> Entry | Bad:
    """An Entry from a 16 record, or a Bad that says what is wrong with it."""
    if rec.dropped:
        return Bad(rec.position, rec.raw, f"record is longer than {MAX_RECORD} characters "
                   f"({rec.dropped} more dropped)")
    d = _split_16(rec)
    if d.problem:
        return Bad(rec.position, rec.raw, d.problem, column="funds type")
    f = d.fields
    code = f[0] if f else ""
    if not _TYPE_CODE.fullmatch(code):
        return Bad(rec.position, rec.raw, f"type code {code[:20]!r} is not three digits", column="type code")
    amount = f[1] if len(f) > 1 else ""
    if not amount:
        return Bad(rec.position, rec.raw, "transaction detail (16) has no amount", column="amount")
    m = _AMOUNT.fullmatch(amount)
    if m is None:
        return Bad(rec.position, rec.raw, f"amount {amount[:30]!r} is not a whole number of minor units",
                   column="amount")
    sign, digits = m.groups()
    direction = direction_of(code)
    if direction is None:
        n = int(code)
        if n >= 900 and sign:
            direction = CREDIT if sign == "+" else DEBIT
        else:
            return Bad(rec.position, rec.raw, _no_direction(n), column="type code")
    elif sign == "-":
        return Bad(rec.position, rec.raw, f"amount {amount[:30]!r} is negative but type code {code} is "
                   f"a {direction}: the direction is ambiguous", column="amount")
    funds = f[2].upper() if len(f) > 2 else ""
    need = _detail_need(f)
    extras = need - 5 if need is not None and need >= 5 else 0
    entry = Entry(position=rec.position, amount=_decimal(digits, _EXPONENT.get(currency, 2)), direction=direction,
                  booking_date=ctx.as_of, value_date=_opt(f, 3, 16) if funds == "V" else None,
                  bank_reference=_opt(f, 3 + extras, 200), customer_reference=_opt(f, 4 + extras, 200),
                  tx_code=code, channel=CHANNEL_BY_CODE.get(code), date_format=DATE_FORMAT, raw=rec.raw)
    _fill_text(entry, d.texts, direction)
    return entry


def _no_direction(n: int) -> str:
    if n >= 900:
        return (f"type code {n} is one the bank defines for itself (900-999): whether it is a credit or "
                "a debit is in the bank's guide, not the BAI2 table, and the amount has no sign")
    if n < 100:
        return f"type code {n:03d} is a balance or status code, not a transaction"
    if n == 890:
        return "type code 890 carries non-monetary information, not a transaction"
    return f"type code {n} is not a credit or debit code in the BAI2 table"


def _fill_text(entry: Entry, texts: list[tuple[int, str]], direction: str) -> None:
    """Remittance from the text parts; counterparty and end-to-end id from ``TAG: value`` 88s
    (the first of each tag; a BIC is preferred to an ABA number, which then stays in the text)."""
    wanted = _WANTED[direction]
    found: dict[str, str] = {}
    parts: list[str] = []
    for origin, text in texts:
        if origin == _CONT and len(text) > 4 and text[4] == ":":
            slot = wanted.get(text[:4])
            if slot is not None and slot not in found:
                found[slot] = text[5:].strip()
                continue
        if text:
            parts.append(text)
    if found:
        entry.end_to_end_id = found.get("eref") or None
        entry.counterparty_name = found.get("name") or None
        entry.counterparty_account = found.get("account") or None
        bic, aba = found.get("bic"), found.get("aba")
        entry.counterparty_bank = (bic if bic is not None else aba) or None
        if bic is not None and aba is not None:
            parts.append(f"{_PARTY_TAGS[direction][3]}: {aba}")
    entry.remittance = " ".join(parts) or None


def _group_context(rec: _Rec, file_ctx: _Context) -> _Context:
    f = _fields(rec)
    ctx = _Context(**{k: getattr(file_ctx, k) for k in ("file_id", "created", "created_time", "sender", "receiver")})
    ctx.ultimate_receiver, ctx.originator, ctx.status = _opt(f, 0), _opt(f, 1), _opt(f, 2, 8)
    ctx.as_of, ctx.as_of_time = _opt(f, 3, 16), _opt(f, 4, 16)
    ctx.currency = (_opt(f, 5, 16) or "").upper() or None
    ctx.as_of_modifier = _opt(f, 6, 8)
    return ctx


def read(path: Path) -> Iterator[Statement | Entry | Bad]:
    """Read a BAI2 file: one Statement per 03 account, one Entry or Bad per 16 record.

    Two streaming passes (see the module docstring): the first checks every trailer, the second
    yields. Raises InputError when the file cannot be used at all (unreadable, empty, not BAI2,
    no account in it)."""
    path = Path(path)
    verdict = _Checker(path).run(_read_records(path))
    yield from _Reader(path, verdict).run()
    yield from verdict.notes


@dataclass
class _Open:
    """The account being read in the second pass; ``why`` is set when it is condemned."""

    first: int
    last: int
    why: str | None
    raw: str
    n16: int = 0


class _Reader:
    """The second pass: yields a Statement at each 03 and an Entry or Bad for each 16; the 16s
    of an account or group that the first pass condemned are not read but counted, and one Bad
    for all of them follows the account's last record."""

    def __init__(self, path: Path, verdict: _Verdict) -> None:
        self.path, self.v = path, verdict
        self.file_ctx = _Context()
        self.ctx: _Context | None = None
        self.n_accounts = self.n_groups = 0
        self.group_failed: str | None = None
        self.acct: _Open | None = None
        self.currency = "USD"
        self.closed_at = 0

    def run(self) -> Iterator[Statement | Entry | Bad]:
        for rec in _read_records(self.path):
            code = rec.code
            if code == "16":
                acct = self.acct
                if acct is None:
                    why = (f"it follows the account trailer at line {self.closed_at}" if self.closed_at
                           else "no account identifier record (03) is open")
                    yield Bad(rec.position, rec.raw, f"transaction detail (16) outside an account: {why}")
                    continue
                acct.last = rec.last
                if acct.why is None:
                    yield _entry(rec, self.ctx or self.file_ctx, self.currency)
                else:
                    acct.n16 += 1
                continue
            if code is None:
                yield Bad(rec.position, rec.raw, "not a BAI2 record: the line does not start with a record code")
                continue
            if code == "88":
                yield Bad(rec.position, rec.raw, "continuation record (88) with no record before it to continue",
                          counts_entries=0)
                continue
            if self.acct is not None:
                if code == "49":
                    self.acct.last = self.closed_at = rec.last
                yield from self.end_account(rec.raw if code == "49" else "")
            if code != "49":
                self.closed_at = 0
            if code == "03":
                yield from self.open_account(rec)
            elif code == "02":
                self.n_groups += 1
                self.ctx = _group_context(rec, self.file_ctx)
                failed = self.v.groups.get(self.n_groups)
                self.group_failed = self.checked(failed, rec)
            elif code == "01":
                f = _fields(rec)
                self.file_ctx = _Context(sender=_opt(f, 0), receiver=_opt(f, 1), created=_opt(f, 2, 16),
                                         created_time=_opt(f, 3, 16), file_id=_opt(f, 4))
                self.ctx, self.group_failed = None, None
            elif code in ("98", "99"):
                self.ctx, self.group_failed = None, None
        if self.acct is not None:
            yield from self.end_account("")

    def checked(self, failed: tuple[int, str] | None, rec: _Rec) -> str | None:
        """The reason of a condemned account or group, after checking that the first pass saw it
        at the same line (else the file changed between the passes)."""
        if failed is None:
            return None
        if failed[0] != rec.first:
            raise InputError("the file changed while it was being read", path=str(self.path))
        return failed[1]

    def open_account(self, rec: _Rec) -> Iterator[Statement]:
        self.n_accounts += 1
        s = _parse_03(rec)
        group = self.ctx or self.file_ctx
        self.currency = (s.currency or group.currency or "USD")[:3]
        why = [w for w in (self.checked(self.v.accounts.get(self.n_accounts), rec), self.group_failed) if w]
        self.acct = _Open(rec.first, rec.last, "; ".join(why) if why else None, rec.raw)
        yield _statement(rec, s, group)

    def end_account(self, trailer_raw: str) -> Iterator[Bad]:
        """The one Bad of a condemned account, with its 03 and trailer text, once it ends."""
        acct, self.acct = self.acct, None
        if acct is not None and acct.why is not None:
            text = acct.raw if not trailer_raw else f"{acct.raw}\n…\n{trailer_raw}"
            yield Bad(_position(acct.first, acct.last), clip(text), acct.why, counts_entries=acct.n16)


# ---------------------------------------------------------------------------------------------
# write

_UNSAFE = re.compile(r"[,/\r\n]")


def _safe(value: str | None) -> str:
    """A delimited field's value: BAI2 has no escape, so ',' and '/' become '-', line ends ' '."""
    if not value:
        return ""
    return _UNSAFE.sub(lambda m: "-" if m.group() in ",/" else " ", value.strip())


def _text(value: str | None) -> str:
    """A text value (16 text, 88 tag): line ends become spaces; a final '/' is doubled, since the
    reader drops one final '/' of every text part."""
    if not value:
        return ""
    t = " ".join(value.split("\n")).replace("\r", " ").strip()
    return t + "/" if t.endswith("/") else t


def _minor(amount: str, exp: int, what: str) -> int:
    """Decimal text ("123.45", "123,45", "123") as a whole number of minor units."""
    whole, dot, frac = amount.partition(".")
    if whole.isascii() and whole.isdigit() and len(frac) == exp and (not frac or frac.isdigit()) \
            and bool(dot) == bool(exp) and len(whole) + exp <= MAX_DIGITS:
        return int(whole + frac)        # the usual "123.45": no Decimal needed
    text = amount.strip().replace(",", ".") if "." not in amount else amount.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {amount!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{what} {amount!r} is not a decimal number")
    minor = value.scaleb(exp)
    if minor != minor.to_integral_value():
        raise ValueError(f"{what} {amount!r} has more decimals than its currency's {exp}")
    if abs(minor) >= 10 ** MAX_DIGITS:
        raise ValueError(f"{what} {amount!r} has more than {MAX_DIGITS} digits")
    return int(minor)


def _yymmdd(text: str | None, fmt: str | None, what: str) -> str:
    """A date (ISO 8601, or ``fmt``) as BAI2's YYMMDD; the year must be 1969-2068 (two digits)."""
    if not text:
        raise ValueError(f"{what} is missing")
    d = datetime.strptime(text, fmt).date() if fmt else date.fromisoformat(text.strip()[:10])
    if not 1969 <= d.year <= 2068:
        raise ValueError(f"{what} {text!r} cannot be written as YYMMDD (year {d.year})")
    return d.strftime(DATE_FORMAT)


def _signed(balance: Balance | None, exp: int) -> int | None:
    if balance is None:
        return None
    v = _minor(balance.amount, exp, "balance")
    return -v if balance.negative else v


class _Writer:
    """Streams records out as BAI2. Each statement becomes one account (03 ... 49) per booking
    date, in a group (02 ... 98) whose as-of date is that date, since a BAI2 detail record has
    no date of its own; one day of one account is buffered (its 03 carries the day's balances,
    computed from the statement's opening balance, and credit/debit totals)."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.header = False
        self.file_total = 0
        self.n_groups = 0
        self.file_records = 0
        self.stmt: Statement | None = None
        self.day: str | None = None
        self.buf: list[tuple[str, int, str, list[str]]] = []   # (direction, minor units, 16 line, 88 lines)
        self.first = True
        self.running: int | None = None
        self.exp = 2
        self.last_date: tuple[str | None, str | None] = (None, None)    # the last date converted, and to what
        self.last_day = ""

    def statement(self, st: Statement) -> None:
        if self.stmt is not None:
            self.flush(last=True)
        if not st.account:
            raise ValueError("a BAI2 account needs an account number")
        currency = (st.currency or "USD").upper()
        if not _CURRENCY.fullmatch(currency):
            raise ValueError(f"currency {st.currency!r} is not an ISO 4217 code")
        self.stmt, self.exp, self.first, self.day, self.buf = st, _EXPONENT.get(currency, 2), True, None, []
        self.currency = currency
        self.running = _signed(st.opening_booked, self.exp)

    def entry(self, e: Entry) -> None:
        st = self.stmt
        if st is None:
            raise ValueError("an Entry comes before any Statement")
        if e.direction not in (CREDIT, DEBIT):
            raise ValueError(f"entry at {e.position} has no direction")
        if e.currency and e.currency.upper() != self.currency:
            raise ValueError(f"entry at {e.position} is in {e.currency}, its account in {self.currency}: "
                             "BAI2 has one currency per account")
        fmt = e.date_format or st.date_format
        if (e.booking_date, fmt) == self.last_date:
            day = self.last_day
        else:
            day = _yymmdd(e.booking_date, fmt, "booking date")
            self.last_date, self.last_day = (e.booking_date, fmt), day
        if self.day is not None and day != self.day:
            self.flush(last=False)
        self.day = day
        minor = _minor(e.amount, self.exp, "amount")
        if minor < 0:
            raise ValueError(f"entry at {e.position} has a negative amount {e.amount!r}")
        self.buf.append((e.direction, minor, *self.detail_lines(e, e.direction, minor)))

    def detail_lines(self, e: Entry, direction: str, minor: int) -> tuple[str, list[str]]:
        """The 16 line and the 88 lines (counterparty tags) of an entry: its own type code when
        it is a BAI2 code of its direction, else the usual code of its channel."""
        code = e.tx_code if e.tx_code and _TYPE_CODE.fullmatch(e.tx_code) and direction_of(e.tx_code) == direction \
            else _DEFAULT_CODE[direction].get(e.channel or "", _MISC_CODE[direction])
        funds = "0"
        if e.value_date:
            funds = f"V,{_yymmdd(e.value_date, e.date_format or (self.stmt.date_format if self.stmt else None), 'value date')},"
        text = _text(e.remittance)
        line = f"16,{code},{minor},{funds},{_safe(e.bank_reference)},{_safe(e.customer_reference)},{text}"
        name, account, bic, aba = _PARTY_TAGS[direction]
        bank = (e.counterparty_bank or "").strip()
        tags = [("EREF", e.end_to_end_id), (name, e.counterparty_name), (account, e.counterparty_account),
                (aba if bank.isascii() and bank.isdigit() and len(bank) == 9 else bic, bank)]
        conts = [f"88,{tag}: {_text(v)}" for tag, v in tags if v and v.strip()]
        if not text and not conts:
            line += "/"
        return line, conts

    def flush(self, last: bool) -> None:
        """Write the buffered day of the current statement as one group with one account."""
        st = self.stmt
        assert st is not None
        day = self.day or _statement_day(st)
        credits = sum(m for d, m, _, _ in self.buf if d == CREDIT)
        debits = sum(m for d, m, _, _ in self.buf if d == DEBIT)
        opening = self.running
        after = None if opening is None else opening + credits - debits
        closing = _signed(st.closing_booked, self.exp) if last and st.closing_booked else after
        items: list[tuple[str, int, str]] = []
        if opening is not None:
            items.append(("010", opening, ""))
        if closing is not None:
            items.append(("015", closing, ""))
        if self.first and st.opening_available is not None:
            items.append(("040", _signed(st.opening_available, self.exp) or 0, ""))
        if last and st.closing_available is not None:
            items.append(("045", _signed(st.closing_available, self.exp) or 0, ""))
        n_credit = sum(1 for d, _, _, _ in self.buf if d == CREDIT)
        items += [("100", credits, str(n_credit)), ("400", debits, str(len(self.buf) - n_credit))]
        self.write_group(st, day, items)
        self.running, self.first, self.day, self.buf = after, False, None, []

    def write_group(self, st: Statement, day: str, items: list[tuple[str, int, str]]) -> None:
        if not self.header:
            self.write_header(st, day)
        ex = st.extra or {}
        time = ex.get("as_of_time", "")
        time = time if time.isascii() and time.isdigit() and len(time) == 4 else ""
        modifier = ex.get("as_of_modifier", "")
        status = ex.get("group_status", "1")
        lines = [f"02,{_safe(ex.get('ultimate_receiver'))},{_safe(st.bank_id)},"
                 f"{status if status in ('1', '3') else '1'},{day},{time},{self.currency},"
                 f"{modifier if modifier in ('1', '2', '3', '4') else ''}/"]
        summary = "".join(f",{code},{'-' if v < 0 else ''}{abs(v)},{n}," for code, v, n in items)
        account_lines = [f"03,{_safe(st.account)},{self.currency}{summary}/"]
        total = sum(v for _, v, _ in items)
        for _, minor, line, conts in self.buf:
            account_lines.append(line)
            account_lines.extend(conts)
            total += minor
        account_lines.append(f"49,{total},{len(account_lines) + 1}/")
        lines += account_lines
        lines.append(f"98,{total},1,{len(lines) + 1}/")
        self.fh.write("\n".join(lines) + "\n")
        self.file_total += total
        self.n_groups += 1
        self.file_records += len(lines)

    def write_header(self, st: Statement, day: str) -> None:
        ex = st.extra or {}
        created = day
        if st.created:
            try:
                created = _yymmdd(st.created, st.date_format, "creation date")
            except ValueError:
                created = day
        ctime = ex.get("created_time", "")
        ctime = ctime if ctime.isascii() and ctime.isdigit() and len(ctime) == 4 else "0000"
        sender = _safe(ex.get("sender")) or _safe(st.bank_id) or "MONEYTRAIL"
        receiver = _safe(ex.get("receiver")) or _safe(ex.get("ultimate_receiver")) or "CUSTOMER"
        self.fh.write(f"01,{sender},{receiver},{created},{ctime},{_safe(st.statement_id) or '1'},,,2/\n")
        self.header = True
        self.file_records = 1

    def close(self) -> None:
        if self.stmt is not None:
            self.flush(last=True)
        if not self.header:
            raise ValueError("nothing to write: a BAI2 file needs at least one statement")
        self.file_records += 1
        self.fh.write(f"99,{self.file_total},{self.n_groups},{self.file_records}/\n")


def _statement_day(st: Statement) -> str:
    """The as-of date of a statement without entries: its period end, else its closing balance
    date, its period start, its creation date."""
    for text in (st.period_to, st.closing_booked.date if st.closing_booked else None, st.period_from, st.created):
        if text:
            return _yymmdd(text, st.date_format, "statement date")
    raise ValueError(f"statement at {st.position} has no date to report it as of")


def write(records: Iterable[Statement | Entry], fh: TextIO) -> None:
    """Write records as a valid BAI2 file (control totals and record counts right), streaming:
    at most one day of one account is held. See :class:`_Writer` for the layout; the reader
    gives back the same values (amounts, directions, dates, references, remittance, counterparty
    and end-to-end id, balances), one statement per account and booking date."""
    w = _Writer(fh)
    for r in records:
        if isinstance(r, Statement):
            w.statement(r)
        elif isinstance(r, Entry):
            w.entry(r)
        else:
            raise TypeError(f"cannot write {type(r).__name__} as BAI2")
    w.close()


__all__ = ["CHANNEL_BY_CODE", "direction_of", "read", "sniff", "write"]
