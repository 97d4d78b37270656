r"""SWIFT MT940 customer statements and MT942 interim transaction reports (issue 13).

What a bank sends as "MT940" is a family of dialects: the SWIFT message blocks
(``{1:...}{2:O940...}{4:`` ... ``-}``), bare tag lists with one message after another, bank
headers (``ABNANL2A`` / ``940``, ``0000 01INGBNL2AXXXX00001``, ``:940:``), SOH/ETX framing,
``-XXX`` trailers, CRLF or LF, and narratives (``:86:``) written three ways: free text, the
German/Polish DFÜ/ZKA structure (``166?00GUTSCHRIFT?20EREF+...?30BIC?31IBAN?32NAME``) and the
Dutch/SEPA keyword structure (``/EREF/.../CNTP/IBAN/BIC/NAME/CITY//REMI/USTD//...``). This reader
accepts all of them and yields, per message, one :class:`Statement` (``kind`` ``mt940`` or
``mt942``; an MT950 reads as ``mt940`` with ``extra["message_type"]``) and then one
:class:`Entry` (or :class:`Bad`) per ``:61:`` statement line, with the ``:86:`` and ``:NS:``
after it; ``position`` spans those lines (``lines 12-14``). A SWIFT message of another type
(MT103...) is refused with :class:`InputError`. The ``:61:`` line is matched with the mt-940
package's own patterns.

Streaming. A message's closing balances (``:62F:``, ``:64:``) come after its entries, but the
Statement must be yielded first. A message up to 1 MiB is held until its end; a bigger one is
read twice: a second cursor, started at the message's first line with the same splitter, runs
through it keeping only the statement-level tags. Memory holds one message (or its header) and
one entry, never the file: lines are split from 1 MiB chunks, a line keeps at most
:data:`MAX_LINE` bytes and a field at most :data:`MAX_FIELD` (a longer one makes its entry a
:class:`Bad`; on the statement it is named in ``extra["oversized"]``). A first, byte-level pass
picks the encoding.

Encoding. UTF-8 when the whole file decodes as UTF-8 (the SWIFT character set is a subset of
ASCII); otherwise the single-byte code page among cp1252, latin-1 and cp850 (the DOS page some
German and central European banks still write) under which the file's non-ASCII bytes are most
often letters; cp1252 only when the file has none of the five bytes cp1252 leaves undefined. Each
of these decodes every byte to exactly one character, so no byte is lost, and the choice is
recorded in ``Statement.extra["encoding"]``.

Values are the file's text, trimmed:

- Amounts keep their digits with the SWIFT decimal comma turned into a point (``1234,56`` ->
  ``1234.56``, ``100,`` -> ``100``, ``,5`` -> ``0.5``, leading zeros dropped), unsigned, with
  ``direction`` from the mark: ``C``/``D``; ``RC`` (reversal of a credit) is a debit and ``RD`` a
  credit, and a reversal's ``tx_code`` ends in `` reversal``.
- Dates are ``YYMMDD`` with ``date_format = "%y%m%d"``: ``value_date`` is the ``:61:`` value date,
  ``booking_date`` its entry date (``MMDD``) with the year that puts it nearest the value date (a
  31 December value date booked on 2 January is booked in the next year), or the value date when
  there is none. Impossible dates (``160230``) are passed on as text: the loader rejects them.
  ``:13D:`` (MT942 creation time) is the exception: ``created`` is ISO 8601
  (``2017-01-19T18:15:00+01:00``), the text in ``extra["creation_time"]``, because one
  ``date_format`` cannot describe both it and the balance dates.
- ``:20:`` is ``statement_id``, ``:28C:`` ``sequence`` (``19321/1`` as written). ``:25:`` gives
  the account, split into ``bank_id``/``account`` when it is ``BLZ/ACCOUNT`` (8 digits) or
  ``BIC/ACCOUNT``, with a trailing currency (``/HUF``, ``...EUR``) taken off. ``:60F:``/``:60M:``
  are the opening booked balance, ``:62F:``/``:62M:`` the closing one (``M``, intermediate, noted
  in ``extra``), ``:64:`` the closing available one; ``period_from``/``period_to`` are their dates.
  ``:65:`` forward balances, ``:34F:`` floor limits, ``:90D:``/``:90C:`` counts and sums, a
  statement-level ``:86:`` and ``:NS:`` go to ``extra``, as does a balance that cannot be read.
- ``tx_code`` is the ``:61:`` transaction type (``NTRF``, ``FMSC``, ``S103``), plus ``/GVC`` when
  the narrative carries a German business code (``NTRF/166``). ``channel`` comes from the type
  (CHK/ECK/TCK check, CSH cash, TRF/STO transfer, DDT ach, CHG/COM/BRF fee, INT interest,
  SAL/PAY payroll, S1xx/S2xx wire), else from the GVC where its meaning is unambiguous.
- References: the ``:61:`` customer reference (``NONREF`` is none; ``EREF``/``PREF``/``MARF``/
  ``KREF`` point at that keyword's value in the narrative, which is then the reference; a DFÜ
  ``KREF+`` wins) and bank reference (after ``//``). An IBAN as customer reference (ASN) or as
  supplementary details (Rabobank) is the counterparty account when the narrative names none;
  other supplementary details are the remittance when the narrative gives none.
- Narratives: structured ones map ``EREF`` to ``end_to_end_id``, ``?32``/``?33``/``NAME``/
  ``CNTP``/``BENM``/``ORDP`` to the counterparty's name, ``?31``/``?38``/``IBAN`` to its account,
  ``?30``/``BIC`` to its bank, and ``SVWZ``/``REMI`` (else the purpose ``?20``-``?29``,
  ``?60``-``?63``, else the booking text ``?00``) to ``remittance``; their lines are joined as
  written (they wrap inside words). A free-text narrative is ``remittance``, its lines joined by
  single spaces.

``write`` emits plain MT940/MT942 messages (no SWIFT blocks; ``-`` after each message):
``:20:``, ``:25:``, ``:28C:``, ``:60F:``, ``:61:`` + ``:86:``, ``:62F:`` (computed from the
opening balance and the entries when the Statement has none), ``:64:``; for ``kind == "mt942"``
``:34F:``, ``:13D:``, ``:61:`` + ``:86:``, ``:90D:``, ``:90C:``. Lines are ``\n``-terminated
(open the file with ``newline="\r\n"`` for CRLF) and ``:86:`` is wrapped at 65 characters. The
``:86:`` is written in ING's keyword layout (``/EREF/.../NAME/.../IBAN/.../BIC/.../REMI/.../``),
or in the DFÜ layout when a German business code must be carried: the entry's ``tx_code`` has
one (``NTRF/166``) or its channel is ``card`` (no SWIFT type says card; GVC 106 does). What MT940
has no place for is not written: holder and bank names, entry currency, time, batch, status.
Limits: references are cut to 16 characters (a longer customer reference goes to ``KREF``); in
the DFÜ layout the name keeps 54 characters, the purpose 14 x 27, and ``?`` becomes ``.``; a value
that contains a keyword of the layout it is written in (``/NAME/``, ``SVWZ+``) does not read back
the same.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, TextIO

from mt940.tags import TAG_BY_ID, StatementASNB, StatementGLS

from moneytrail.errors import InputError
from moneytrail.ingest.statement import (
    CREDIT, DEBIT, Bad, Balance, Entry, Statement, clip,
)

KINDS = ("mt940", "mt942")

#: The most bytes of one physical line kept; the rest of a longer line is skipped (and its
#: record rejected), so a 50 MB line never becomes a 50 MB string.
MAX_LINE = 64 * 1024
#: The most bytes one tag's value (all its lines) keeps; a longer field makes its entry Bad.
MAX_FIELD = 64 * 1024
#: The most characters a value stored in ``Statement.extra`` keeps.
MAX_EXTRA = 500
#: The most statement-level tags kept per message (a message of a million ``:65:`` lines
#: must not grow memory).
MAX_STATEMENT_TAGS = 64

DATE_FORMAT = "%y%m%d"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20

# ---------------------------------------------------------------------------------------------
# splitting the file into messages and tags (bytes; every candidate encoding is ASCII-compatible)
# ---------------------------------------------------------------------------------------------

#: The tags of MT940/MT942/MT950. A line that looks like a tag but is not one of these (``:26:``
#: inside a wrapped narrative) continues the field above it.
_KNOWN_TAGS = frozenset({
    "13", "13D", "20", "21", "25", "25P", "28", "28C", "34F", "60", "60F", "60M", "61",
    "62", "62F", "62M", "64", "65", "86", "90C", "90D", "NS",
})
_TAG_LINE = re.compile(rb":([0-9]{2}[A-Z]?|NS):")
_END_LINE = re.compile(rb"-(?:\}|XXX\s*$|\x03|\s*$)")
_BLOCK_START = re.compile(rb"\{[1-5]:")
_BLOCK2 = re.compile(rb"\{2:[IO](\d{3})")
_HEADER_TYPE = re.compile(rb":?(9[45][0-2]):?(?: \d\d)?")


@dataclass(slots=True)
class _Start:
    """A message begins (its first tag follows)."""

    line: int
    offset: int                # byte offset of that line, where a look-ahead cursor starts
    mtype: str | None          # 940 / 942 / 950 from a SWIFT block 2 or a bank header line


@dataclass(slots=True)
class _Tag:
    """One tag and its value lines, as bytes, with the lines it spans."""

    tag: str
    lines: list[bytes]
    first: int
    last: int
    size: int = 0
    oversized: bool = False
    blanks: int = 0            # blank lines seen after the last text (kept only if text follows)

    def add(self, line: bytes, lineno: int, oversized: bool) -> None:
        """Append a continuation line, within :data:`MAX_FIELD` (a cut line keeps its start,
        for the rejected record's ``raw``)."""
        if not line.strip():
            self.blanks += 1
            return
        self.last = lineno
        if self.oversized:
            return
        if oversized:
            self.oversized = True
            line = line[:4096]
        if self.blanks:
            if len(self.lines) + self.blanks > MAX_FIELD // 2:
                self.oversized = True
                return
            self.lines.extend([b""] * self.blanks)
            self.size += self.blanks
            self.blanks = 0
        self.size += len(line) + 1
        if self.size > MAX_FIELD:
            self.oversized = True
            return
        self.lines.append(line)


def _line_batches(fh: BinaryIO) -> Iterator[tuple[list[bytes], set[int]]]:
    """The file's lines (a CRLF line keeps its CR), a chunk at a time, and which were cut.

    Splitting 1 MiB chunks in C keeps the per-line cost low; a line longer than
    :data:`MAX_LINE` is cut there (its index is in the set) and the rest of it is skipped
    as it streams past, so memory never holds more than a chunk.
    """
    carry = b""
    carry_over = False
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            if carry or carry_over:
                yield [carry], ({0} if carry_over else set())
            return
        parts = chunk.split(b"\n")
        if len(parts) == 1:                  # no line end in this chunk: the line goes on
            if not carry_over:
                carry += chunk
                if len(carry) > MAX_LINE:
                    carry, carry_over = carry[:MAX_LINE], True
            continue
        cut: set[int] = set()
        parts[0] = carry if carry_over else carry + parts[0]
        if carry_over:
            cut.add(0)
        carry, carry_over = parts.pop(), False
        if len(carry) > MAX_LINE:
            carry, carry_over = carry[:MAX_LINE], True
        if max(map(len, parts)) > MAX_LINE:
            for i, part in enumerate(parts):
                if len(part) > MAX_LINE:
                    parts[i] = part[:MAX_LINE]
                    cut.add(i)
        yield parts, cut


#: First bytes after which a line can be more than a continuation of the field above it.
_SPECIAL_FIRST = frozenset(b":-{\x01\x02 \t\r\x0b\x0c")


class _Splitter:
    """Turns physical lines into :class:`_Start` and :class:`_Tag` tokens.

    A message starts at ``:20:`` (or at any tag when none is open), at a SWIFT ``{4:`` block, and
    ends at ``-``, ``-}``, ``-XXX``, a new ``{1:`` block or the next ``:20:``. Lines outside a
    message (bank headers, blank lines, SOH/ETX) are skipped; a ``940``/``942`` header line or a
    block 2 sets the type of the next message.
    """

    def __init__(self, statement_level_only: bool = False) -> None:
        self.cur: _Tag | None = None     # the open tag; None when no message is open
        self.mtype: str | None = None
        self.out: list[_Start | _Tag] = []
        # the look-ahead cursor wants only statement-level tags: the entries' tags are read
        # into ``sink`` (never emitted, keeps nothing) so that they cost next to nothing
        self.only_statement = statement_level_only
        self.sink = _Tag("", [], 0, 0, oversized=True)
        self.in_entry = False

    def _end(self) -> None:
        if self.cur is not None:
            if self.cur is not self.sink:
                self.out.append(self.cur)
            self.cur = None

    def _blocks(self, text: bytes, n: int, offset: int, over: bool) -> None:
        """A line of SWIFT blocks: note the type; whatever follows ``{4:`` is a line of its own."""
        self._end()
        m = _BLOCK2.search(text)
        if m:
            self.mtype = m.group(1).decode("ascii")
        i = text.find(b"{4:")
        if i >= 0 and text[i + 3:].strip():
            self.feed(n, offset, text[i + 3:], over)

    def _tag(self, m: re.Match[bytes], s: bytes, n: int, offset: int, over: bool) -> bool:
        """Open the tag ``m`` matched, if it is one of MT940's (else the line is text)."""
        tag = m.group(1).decode("ascii")
        if tag not in _KNOWN_TAGS:
            return False
        cur = self.cur
        if cur is not None and cur is not self.sink:
            self.out.append(cur)
        if tag == "20" or cur is None:
            self.out.append(_Start(n, offset, self.mtype))
            self.mtype = None
            self.in_entry = False
        if self.only_statement:
            if tag == "61" or (self.in_entry and tag in ("86", "NS")):
                self.in_entry = True
                self.cur = self.sink
                return True
            self.in_entry = False
        self.cur = t = _Tag(tag, [], n, n)
        t.add(s[m.end():], n, over)
        t.last = n
        return True

    def feed(self, n: int, offset: int, line: bytes, over: bool) -> None:
        """Take one physical line (without its line end)."""
        cur = self.cur
        first = line[:1]
        if cur is not None and first and line[0] not in _SPECIAL_FIRST:
            cur.add(line, n, over)           # the common case: a continuation line
            return
        s = line.lstrip(b"\x01\x02") if first in (b"\x01", b"\x02") else line
        if first == b":":                    # the next common case: a tag
            m = _TAG_LINE.match(s)
            if m and self._tag(m, s, n, offset, over):
                return
        st = s.strip()
        if st.startswith(b"-}"):
            self._end()
            if _BLOCK_START.search(st):
                self._blocks(st[2:], n, offset, over)
            return
        if cur is not None and _END_LINE.match(st):
            self._end()
            return
        if _BLOCK_START.match(st):
            self._blocks(st, n, offset, over)
            return
        m = _TAG_LINE.match(s)
        if m and self._tag(m, s, n, offset, over):
            return
        if cur is not None:
            cur.add(line, n, over)
            return
        h = _HEADER_TYPE.fullmatch(st)
        if h:
            self.mtype = h.group(1).decode("ascii")


def _tokens(fh: BinaryIO, first_line: int = 1, statement_level_only: bool = False
            ) -> Iterator[_Start | _Tag]:
    """The file (from ``fh``'s position, whose line number is ``first_line``) as a stream of
    message starts and tags, in order (only statement-level tags if so asked)."""
    sp = _Splitter(statement_level_only)
    out = sp.out
    feed = sp.feed
    sink = sp.sink
    special = _SPECIAL_FIRST
    n = first_line - 1
    offset = fh.tell()
    if offset == 0:                 # a UTF-8 byte order mark is not part of the first line
        if fh.read(len(_BOM)) == _BOM:
            offset = len(_BOM)
        else:
            fh.seek(0)
    for lines, cut in _line_batches(fh):
        for i, raw in enumerate(lines):
            n += 1
            if sp.cur is sink and raw[:1] and raw[0] not in special:
                offset += len(raw) + 1        # a continuation of an entry the caller skips
                continue
            line = raw[:-1] if raw[-1:] == b"\r" else raw
            feed(n, offset, line, i in cut if cut else False)
            offset += len(raw) + 1
            if out:
                yield from out
                out.clear()
    sp._end()
    yield from out


# ---------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------

_ASCII = bytes(range(128))
_CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_FALLBACKS = ("cp1252", "latin-1", "cp850")


def _detect_encoding(path: Path) -> str:
    """The file's encoding: utf-8 if it all decodes, else the code page that reads most letters."""
    dec = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    high: Counter[int] = Counter()
    size = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                if size == 0 and chunk.startswith(_BOM):
                    chunk = chunk[len(_BOM):]
                size += len(chunk)
                if utf8:
                    try:
                        dec.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
                hi = chunk.translate(None, _ASCII)
                if not hi:
                    continue
                if len(hi) < 4096:
                    high.update(hi)
                else:
                    for b in range(128, 256):
                        c = hi.count(b)
                        if c:
                            high[b] += c
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror or e})", path=str(path)) from None
    if size == 0:
        raise InputError("the file is empty: no MT940/MT942 message", path=str(path))
    if utf8:
        try:
            dec.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    best, best_score = "latin-1", -1
    for enc in _FALLBACKS:
        if enc == "cp1252" and _CP1252_UNDEFINED & high.keys():
            continue
        score = sum(n for b, n in high.items() if bytes([b]).decode(enc).isalpha())
        if score > best_score:
            best, best_score = enc, score
    return best


# ---------------------------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------------------------

#: The mt-940 package's patterns for the ``:61:`` statement line, compiled ASCII-only so that
#: ``\d`` is 0-9 (a hostile file's Arabic-Indic digits are not an amount): the SWIFT one first,
#: then its variants for banks that write a customer reference longer than 16 characters (ASN
#: puts the counterparty IBAN there; GLS/Atruvia a long id before ``//``).
_STATEMENT_LINES = tuple(
    re.compile(p, re.ASCII | re.IGNORECASE | re.VERBOSE)
    for p in (TAG_BY_ID[61].pattern, StatementASNB.pattern, StatementGLS.pattern))
#: A balance: mark, date, currency, amount (SWIFT's 15 characters, or up to 25 for the banks
#: that pad it with leading zeros).
_BALANCE = re.compile(r"([CD])(\d{6})([A-Z]{3})(\d[\d,]{0,24}|,\d{0,15})", re.ASCII)
_FLOOR = re.compile(r"([A-Z]{3})([CD]?)(\d[\d,]{0,16}|,\d{0,15})", re.ASCII)
_SUMS = re.compile(r"(\d{1,5})([A-Z]{3})(\d[\d,]{0,16}|,\d{0,15})", re.ASCII)
_DATETIME = re.compile(r"(\d{10})([+-]\d{4})?", re.ASCII)
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?", re.ASCII)
_BLZ = re.compile(r"\d{8}", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", re.ASCII)
_CCY = re.compile(r"[A-Z]{3}", re.ASCII)
_ACCT_CCY = re.compile(r"([0-9][0-9.\-]*)([A-Z]{3})", re.ASCII)
#: Currencies a bank may append to an IBAN in ``:25:`` (``NL20INGB0001234567EUR``).
_ACCOUNT_CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "PLN", "CZK", "HUF", "SEK", "NOK",
                                 "DKK", "RON", "BGN", "JPY", "CAD", "AUD"})

#: ``:61:`` customer references that are no reference, or that point to a ``:86:`` keyword.
_NO_REF = frozenset({"NONREF", "NOTPROVIDED", "NONE"})
_POINTERS = frozenset({"EREF", "PREF", "MARF", "KREF"})


_AMOUNT_TEXT = re.compile(r"(\d*),?(\d*)", re.ASCII)


def _amount(text: str) -> str | None:
    """SWIFT amount text (``1234,56``) as the same digits with a point; None if not an amount."""
    m = _AMOUNT_TEXT.fullmatch(text.strip())
    if not m:
        return None
    whole, frac = m.groups()
    if not (whole + frac):
        return None
    whole = whole.lstrip("0") or "0"
    return f"{whole}.{frac}" if frac else whole


def _iban_valid(s: str) -> bool:
    """ISO 13616 check digits (mod 97) of an IBAN-shaped string."""
    if not _IBAN.fullmatch(s):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def _text(lines: list[bytes], enc: str) -> list[str]:
    return [b.decode(enc, errors="replace") for b in lines]


def _first(tag: _Tag, enc: str) -> str:
    return tag.lines[0].decode(enc, errors="replace").strip() if tag.lines else ""


def _cap(s: str) -> str:
    return s if len(s) <= MAX_EXTRA else s[:MAX_EXTRA] + "…"


def _position(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


# ---------------------------------------------------------------------------------------------
# statements
# ---------------------------------------------------------------------------------------------

@dataclass
class _Context:
    """What an entry needs from its statement."""

    kind: str
    currency: str | None
    enc: str


def _statement_level(tags: Iterable[_Tag]) -> list[_Tag]:
    """A message's statement-level tags: all but ``:61:`` and the ``:86:``/``:NS:`` after it."""
    kept: list[_Tag] = []
    in_entry = False
    for t in tags:
        if t.tag == "61":
            in_entry = True
            continue
        if in_entry and t.tag in ("86", "NS"):
            continue
        in_entry = False
        if len(kept) < MAX_STATEMENT_TAGS:
            kept.append(t)
    return kept


def _look_ahead(path: Path, start: _Start) -> list[_Tag]:
    """The statement-level tags of the message at ``start``, read by a second cursor.

    Used when a message is too big to hold until its closing balance: the second cursor starts
    at the message's first line and splits it exactly as the first does (same splitter), keeping
    only statement-level tags.
    """
    def tags() -> Iterator[_Tag]:
        with path.open("rb") as fh:
            fh.seek(start.offset)
            seen_start = False
            for tok in _tokens(fh, start.line, statement_level_only=True):
                if isinstance(tok, _Start):
                    if seen_start:
                        return
                    seen_start = True
                    continue
                yield tok
    return _statement_level(tags())


def _balance(value: str) -> tuple[Balance, str] | None:
    """``C240131EUR1234,56`` -> (Balance, currency)."""
    m = _BALANCE.fullmatch(value.strip().upper())
    if not m:
        return None
    amount = _amount(m.group(4))
    if amount is None:
        return None
    return (Balance(amount=amount, date=m.group(2), negative=m.group(1) == "D",
                    date_format=DATE_FORMAT), m.group(3))


def _account(value: str) -> tuple[str | None, str | None, str | None]:
    """``:25:`` -> (account, bank id, currency): ``BLZ/ACCOUNT``, ``BIC/ACCOUNT[/CCY]``, IBAN[CCY]."""
    v = "".join(value.split())
    if not v:
        return None, None, None
    bank = currency = None
    parts = v.split("/")
    if len(parts) >= 2 and _CCY.fullmatch(parts[-1]) and parts[-2]:
        currency = parts.pop()
    if len(parts) == 2 and parts[1] and (_BIC.fullmatch(parts[0]) or _BLZ.fullmatch(parts[0])):
        bank, v = parts
    else:
        v = "/".join(parts)
    if currency is None:
        if _IBAN.fullmatch(v[:-3]) and _CCY.fullmatch(v[-3:]) and not _iban_valid(v) and (
                _iban_valid(v[:-3]) or (v[-3:] in _ACCOUNT_CURRENCIES and v[-4].isdigit())):
            v, currency = v[:-3], v[-3:]
        else:
            m = _ACCT_CCY.fullmatch(v)
            if m:
                v, currency = m.group(1), m.group(2)
    return v or None, bank, currency


def _created(value: str) -> str | None:
    """``:13D:`` ``YYMMDDHHMM[+hhmm]`` as ISO 8601, or None when it is not a date-time."""
    m = _DATETIME.fullmatch(value.strip())
    if not m:
        return None
    try:
        dt = datetime.strptime(m.group(1), "%y%m%d%H%M")
    except ValueError:
        return None
    iso = dt.isoformat()
    if m.group(2):
        sign, hh, mm = m.group(2)[0], m.group(2)[1:3], m.group(2)[3:5]
        if int(hh) > 23 or int(mm) > 59:
            return None
        iso += f"{sign}{hh}:{mm}"
    return iso


def _build_statement(start: _Start, tags: list[_Tag], enc: str) -> tuple[Statement, _Context]:
    """One Statement from a message's statement-level tags."""
    st = Statement(position=f"line {start.line}", kind="mt940", account=None,
                   date_format=DATE_FORMAT, extra={"encoding": enc})
    extra = st.extra
    currencies: list[str] = []
    seen: set[str] = set()
    forward: list[str] = []
    info: list[str] = []
    for t in tags:
        if t.oversized:
            extra["oversized"] = _cap(" ".join(filter(None, [extra.get("oversized"), f":{t.tag}:"])))
            continue
        v = _first(t, enc)
        tag = t.tag
        if tag in seen and tag not in ("65", "86", "NS", "34F"):
            continue
        seen.add(tag)
        if tag == "20":
            st.statement_id = v or None
        elif tag == "21":
            extra["related_reference"] = _cap(v)
        elif tag in ("25", "25P"):
            st.account, st.bank_id, ccy = _account(v)
            if ccy:
                currencies.append(ccy)
        elif tag in ("28", "28C"):
            st.sequence = v or None
        elif tag in ("13", "13D"):
            st.created = _created(v)
            extra["creation_time"] = _cap(v)
        elif tag in ("60F", "60M", "60", "62F", "62M", "62", "64", "65"):
            bal = _balance(v)
            if bal is None:
                extra[f"unreadable_{tag}"] = _cap(v)
                continue
            balance, ccy = bal
            currencies.append(ccy)
            if tag.startswith("60"):
                st.opening_booked = balance
                if tag == "60M":
                    extra["opening_intermediate"] = "true"
            elif tag.startswith("62"):
                st.closing_booked = balance
                if tag == "62M":
                    extra["closing_intermediate"] = "true"
            elif tag == "64":
                st.closing_available = balance
            else:
                forward.append(v)
        elif tag == "34F":
            m = _FLOOR.fullmatch(v.upper())
            if m:
                currencies.append(m.group(1))
                key = {"D": "floor_limit_debit", "C": "floor_limit_credit"}.get(m.group(2), "floor_limit")
                extra[key] = _amount(m.group(3)) or m.group(3)
            else:
                extra["unreadable_34F"] = _cap(v)
        elif tag in ("90D", "90C"):
            m = _SUMS.fullmatch(v.upper())
            side = "debit" if tag == "90D" else "credit"
            if m:
                currencies.append(m.group(2))
                extra[f"{side}_count"] = m.group(1)
                extra[f"{side}_sum"] = _amount(m.group(3)) or m.group(3)
            else:
                extra[f"unreadable_{tag}"] = _cap(v)
        elif tag == "86":
            info.append(" ".join(x.strip() for x in _text(t.lines, enc) if x.strip()))
        elif tag == "NS":
            extra["non_swift"] = _cap(" ".join(filter(None, [extra.get("non_swift")] +
                                                      [x.strip() for x in _text(t.lines, enc)])))
    if forward:
        extra["forward_available"] = _cap("; ".join(forward))
    if info:
        extra["information"] = _cap(" ".join(filter(None, info)))
    st.currency = currencies[0] if currencies else None
    if st.opening_booked is not None:
        st.period_from = st.opening_booked.date
    if st.closing_booked is not None:
        st.period_to = st.closing_booked.date
    if start.mtype == "942" or (start.mtype is None and seen & {"34F", "13D", "90D", "90C"}
                                and not seen & {"60F", "60M", "60", "62F", "62M", "62"}):
        st.kind = "mt942"
    if start.mtype and start.mtype not in ("940", "942"):
        extra["message_type"] = start.mtype
    if st.kind == "mt940" and st.closing_booked is None:
        extra["incomplete"] = "no closing balance (:62F:/:62M:)"
    return st, _Context(kind=st.kind, currency=st.currency, enc=enc)


# ---------------------------------------------------------------------------------------------
# entries
# ---------------------------------------------------------------------------------------------

#: SWIFT transaction type codes (after N/F) whose meaning names a channel.
_CODE_CHANNEL = {
    "CHK": "check", "ECK": "check", "TCK": "check", "CSH": "cash",
    "TRF": "transfer", "STO": "transfer", "DDT": "ach",
    "CHG": "fee", "COM": "fee", "BRF": "fee", "INT": "interest",
    "SAL": "payroll", "PAY": "payroll",
}
#: German business transaction codes (GVC, DFÜ-Abkommen Anlage 3) whose meaning is unambiguous.
_GVC_CHANNEL = {
    "001": "check", "002": "check", "003": "check",
    "004": "ach", "005": "ach", "104": "ach", "105": "ach", "171": "ach", "174": "ach",
    "106": "card",
    "008": "transfer", "020": "transfer", "051": "transfer", "052": "transfer",
    "116": "transfer", "117": "transfer", "118": "transfer", "152": "transfer", "166": "transfer",
    "053": "payroll", "153": "payroll",
    "082": "cash", "083": "cash",
    "808": "fee",
}
#: What the writer puts in ``:61:`` for a channel when the entry has no transaction code.
_CHANNEL_CODE = {
    "check": "NCHK", "cash": "NCSH", "transfer": "NTRF", "ach": "NDDT", "fee": "NCHG",
    "interest": "NINT", "payroll": "NSAL", "wire": "S103", "card": "NMSC", "other": "NMSC",
}


def _code_channel(code: str) -> str | None:
    if code[0] in "NF":
        return _CODE_CHANNEL.get(code[1:])
    if code[0] == "S" and code[1:].isdigit() and code[1] in "12":
        return "wire"     # S1xx / S2xx: booked from a SWIFT payment message (MT103, MT202...)
    return None


@dataclass
class _Details:
    """What a ``:86:`` says, structured or not."""

    remittance: str | None = None
    name: str | None = None
    account: str | None = None
    bank: str | None = None
    e2e: str | None = None
    refs: dict[str, str] = field(default_factory=dict)    # KREF / PREF / MARF values
    gvc: str | None = None


_SLASH_KEYS = ("CDTRREFTP", "CDTRREF", "EREF", "KREF", "MREF", "CRED", "SVWZ", "ABWA", "ABWE",
               "IBAN", "BIC", "NAME", "REMI", "BENM", "ORDP", "CNTP", "ISDT", "CSID", "MARF",
               "RTRN", "PURP", "TRCD", "ADDR", "ULTD", "ULTC", "ULTB", "ULTE", "BUSP", "PREF",
               "EXCH", "CHGS", "OCMT", "ACCW", "CITY", "SUM", "ID")
_SLASH_TOKEN = re.compile(r"/(" + "|".join(_SLASH_KEYS) + r")/")
_SLASH_START = re.compile(r"\s*/(?:" + "|".join(_SLASH_KEYS) + r")/")
_SEPA_KEYS = ("EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE", "IBAN", "BIC",
              "COAM", "OAMT", "BREF")
_SEPA_TOKEN = re.compile(r"(" + "|".join(_SEPA_KEYS) + r")\+")
_GVC_HEAD = re.compile(r"\s*(\d{3})([?>])(?=\d\d)")
_REMI_PREFIX = re.compile(r"(?:USTD//?|STRD/(?:CUR|ISO)/|/+)")


def _not_provided(v: str | None) -> str | None:
    v = (v or "").strip()
    return None if not v or v.upper() in _NO_REF else v


def _join27(parts: list[str]) -> str:
    """ZKA subfields of 27 characters: a full one continues in the next, a shorter one ends."""
    out = ""
    for i, p in enumerate(parts):
        if i and len(parts[i - 1]) != 27:
            out += " "
        out += p
    return out.strip()


def _sepa_keywords(purpose: str, d: _Details) -> None:
    """``EREF+...SVWZ+...`` inside a DFÜ purpose: map the keywords, the rest is remittance."""
    matches = list(_SEPA_TOKEN.finditer(purpose))
    if not matches:
        d.remittance = purpose or None
        return
    prefix = purpose[:matches[0].start()].strip()
    vals: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(purpose)
        vals.setdefault(m.group(1), purpose[m.end():end].strip())
    d.e2e = _not_provided(vals.get("EREF"))
    if vals.get("KREF"):
        d.refs["KREF"] = vals["KREF"]
    d.remittance = vals.get("SVWZ") or prefix or None
    d.account = d.account or _not_provided(vals.get("IBAN"))
    d.bank = d.bank or _not_provided(vals.get("BIC"))


def _gvc_details(text: str, d: _Details) -> bool:
    """The DFÜ/ZKA structure ``GVC?00booking?20purpose...?30bank?31account?32name?33name``."""
    m = _GVC_HEAD.match(text)
    if not m:
        return False
    d.gvc, sep = m.group(1), m.group(2)
    sub: dict[str, list[str]] = {}
    for piece in text[m.end(2):].split(sep):
        if len(piece) >= 2 and piece[:2].isdigit():
            sub.setdefault(piece[:2], []).append(piece[2:])
    one = {k: "".join(v) for k, v in sub.items()}
    purpose_keys = [f"{i}" for i in range(20, 30)] + ["60", "61", "62", "63"]
    purpose = _join27([one[k] for k in purpose_keys if k in one])
    d.bank = _not_provided("".join(one.get("30", "").split()))
    d.account = _not_provided("".join((one.get("38") or one.get("31", "")).split()))
    d.name = _join27([one[k] for k in ("32", "33") if k in one]) or None
    _sepa_keywords(purpose, d)
    if d.remittance is None:
        d.remittance = one.get("00", "").strip() or None
    return True


def _slash_details(text: str, d: _Details) -> bool:
    """The keyword structure ``/EREF/.../BENM//NAME/.../REMI/...`` (Rabobank, ING, SEPA)."""
    if not _SLASH_START.match(text):
        return False
    text = text.strip()
    matches = list(_SLASH_TOKEN.finditer(text))
    party = None          # "cp" while inside BENM/ORDP/CNTP, "ult" inside an ultimate party
    remi: list[str] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        key, value = m.group(1), text[m.end():end].rstrip()
        if value.endswith("/"):       # ING ends each value with "/"; Rabobank does not
            value = value[:-1]
        if key in ("BENM", "ORDP", "CNTP"):
            party = "cp"
            fields = value.split("/")
            if any(f.strip() for f in fields):     # positional: account/BIC/name/city
                fields += [""] * 4
                d.account = d.account or _not_provided("".join(fields[0].split()))
                d.bank = d.bank or _not_provided(fields[1])
                d.name = d.name or _not_provided(fields[2])
            continue
        if key in ("ULTD", "ULTC", "ULTB", "ULTE"):
            party = "ult"
            continue
        value = value.strip()
        if key == "NAME" and party != "ult":
            d.name = d.name or value or None
        elif key in ("IBAN", "ACCW") and party != "ult":
            d.account = d.account or _not_provided("".join(value.split()))
        elif key == "BIC" and party != "ult":
            d.bank = d.bank or _not_provided(value)
        elif key == "EREF":
            d.e2e = d.e2e or _not_provided(value)
        elif key in ("KREF", "PREF", "MARF"):
            if value:
                d.refs.setdefault(key, value)
        elif key in ("REMI", "SVWZ"):
            value = _REMI_PREFIX.sub("", value, count=1) if _REMI_PREFIX.match(value) else value
            if value.strip():
                remi.append(value.strip())
    prefix = text[:matches[0].start()].strip() if matches else ""
    d.remittance = " ".join(remi) or prefix or None
    return True


def _details(lines: list[str]) -> _Details:
    """Interpret the ``:86:`` lines of one entry."""
    d = _Details()
    if not lines:
        return d
    joined = "".join(lines)          # structured narratives wrap anywhere, even inside a word
    if _gvc_details(joined.lstrip(), d) or _slash_details(joined, d):
        return d
    d.remittance = " ".join(x.strip() for x in lines if x.strip()) or None
    return d


def _booking_date(value_date: str, mmdd: str) -> str:
    """The entry date ``MMDD`` with the year that puts it nearest the value date (a December
    value date booked on 2 January is booked in the next year)."""
    if mmdd == value_date[2:]:
        return value_date
    yy = int(value_date[:2])
    year = yy + (2000 if yy < 69 else 1900)     # strptime's %y pivot, as the loader reads it
    try:
        vd = date(year, int(value_date[2:4]), int(value_date[4:]))
    except ValueError:
        return value_date[:2] + mmdd
    best: date | None = None
    for y in (year - 1, year, year + 1):
        try:
            cand = date(y, int(mmdd[:2]), int(mmdd[2:]))
        except ValueError:
            continue
        if best is None or abs(cand - vd) < abs(best - vd):
            best = cand
    if best is None:
        return value_date[:2] + mmdd
    return f"{best.year % 100:02d}{mmdd}"


def _diagnose(line: str) -> str:
    """Why a ``:61:`` line does not parse, in words."""
    if not re.match(r"\d{6}", line, re.ASCII):
        return "statement line :61: does not start with a value date (YYMMDD)"
    rest = line[6:]
    m = re.match(r"(\d{4}|\s{4})?(R?[DC])", rest, re.ASCII | re.IGNORECASE)
    if not m:
        return "statement line :61: has no debit/credit mark (D, C, RD, RC) after its dates"
    rest = rest[m.end():].lstrip()
    if rest[:1].isalpha():
        rest = rest[1:].lstrip()
    if not rest[:1] or rest[:1] not in "0123456789,":
        return "statement line :61: has no amount after its debit/credit mark"
    return "statement line :61: does not match 6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]"


_DIRECTION = {"C": CREDIT, "D": DEBIT, "RC": DEBIT, "RD": CREDIT}


def _entry(tags: list[_Tag], ctx: _Context) -> Entry | Bad:
    """One Entry (or Bad) from a ``:61:`` tag and the ``:86:``/``:NS:`` tags after it."""
    enc = ctx.enc
    head_tag = tags[0]
    last = max(t.last for t in tags) if len(tags) > 1 else head_tag.last
    position = _position(head_tag.first, last)
    texts = [b"\n".join(t.lines).decode(enc, errors="replace") for t in tags]
    raw = clip("\n".join(f":{t.tag}:{x}" for t, x in zip(tags, texts)))
    for t in tags:
        if t.oversized:
            return Bad(position, raw, f"field :{t.tag}: is longer than {MAX_FIELD} bytes",
                       column=f":{t.tag}:")
    lines = texts[0].split("\n")
    head = lines[0].strip()
    rest = [x.strip() for x in lines[1:] if x.strip()]
    value = head + ("\n" + " ".join(rest) if rest else "")
    m = None
    for pattern in _STATEMENT_LINES:
        m = pattern.match(value)
        if m and m.group("id"):
            break
    if m and m.end("amount") < len(value) and value[m.end("amount")] in "0123456789,":
        return Bad(position, raw, "statement line :61: amount is longer than 15 characters",
                   column=":61:")
    if not m or not m.group("id"):
        reason = _diagnose(head) if not m else \
            "statement line :61: has no transaction type code (1!a3!c) after its amount"
        return Bad(position, raw, reason, column=":61:")
    g = m.groupdict()
    amount = _amount(g["amount"])
    if amount is None:
        return Bad(position, raw, f"statement line :61: amount {g['amount']!r} is not an "
                   "amount (digits with one decimal comma)", column=":61:")
    value_date = g["year"] + g["month"] + g["day"]
    mmdd = (g["entry_month"] or "") + (g["entry_day"] or "")
    booking = _booking_date(value_date, mmdd) if len(mmdd) == 4 and mmdd.isdigit() else value_date
    mark = g["status"].upper()
    reversal = mark[0] == "R"
    # RC = reversal of a credit (a debit entry), RD = reversal of a debit (a credit entry)
    direction = _DIRECTION[mark]
    code = g["id"].upper().strip()
    custref = (g["customer_reference"] or "").strip()
    bankref = _not_provided(g["bank_reference"])
    supplementary = (g["extra_details"] or "").strip()

    narrative: list[str] = []
    for t, x in zip(tags[1:], texts[1:]):
        if t.tag == "86":
            narrative.extend(x.split("\n"))
    d = _details(narrative)
    pointer = custref.upper()
    if pointer in _POINTERS:
        customer_ref = d.refs.get(pointer) or (d.e2e if pointer == "EREF" else None)
    else:
        customer_ref = d.refs.get("KREF") or _not_provided(custref)
    if d.account is None and _IBAN.fullmatch(custref):      # ASN: the counterparty's IBAN
        d.account = custref
    if supplementary:
        compact = "".join(supplementary.split())
        if d.account is None and _IBAN.fullmatch(compact):   # Rabobank: the counterparty's IBAN
            d.account = compact
        elif d.remittance is None:
            d.remittance = supplementary
    tx_code = code + (f"/{d.gvc}" if d.gvc else "") + (" reversal" if reversal else "")
    channel = _code_channel(code) or (_GVC_CHANNEL.get(d.gvc) if d.gvc else None)
    return Entry(
        position=position, amount=amount, direction=direction,
        booking_date=booking, value_date=value_date,
        counterparty_name=d.name, counterparty_account=d.account, counterparty_bank=d.bank,
        end_to_end_id=d.e2e, bank_reference=bankref, customer_reference=customer_ref,
        remittance=d.remittance, tx_code=tx_code, channel=channel,
        date_format=DATE_FORMAT, raw=raw,
    )


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------

_SNIFF_TAG20 = re.compile(rb"(?m)^\x01?:20:")
_SNIFF_OTHER = re.compile(rb"(?m)^:(?:25|28C?|60[FM]|61|62[FM]|34F|13D):")


def sniff(head: bytes) -> bool:
    """True when a file starting with ``head`` is an MT940/MT942 (or MT950) statement file."""
    h = head[len(_BOM):] if head.startswith(_BOM) else head
    start = h.lstrip(b"\r\n\x01 ")
    if start.startswith(b"{1:") or start.startswith(b"{2:"):
        m = _BLOCK2.search(h)
        return bool(m and m.group(1) in (b"940", b"942", b"950"))
    return bool(_SNIFF_TAG20.search(h) and _SNIFF_OTHER.search(h))


#: How much of a message (bytes of its fields) is held while waiting for its closing balance;
#: a bigger message is read twice instead (see :func:`_look_ahead`).
_HOLD_BYTES = 1 << 20


def read(path: Path) -> Iterator[Statement | Entry | Bad]:
    """Statements, entries and rejected statement lines of an MT940/MT942 file, in file order."""
    path = Path(path)
    enc = _detect_encoding(path)
    found = False
    with path.open("rb") as fh:
        tokens = _tokens(fh)
        tok: _Start | _Tag | None = next(tokens, None)
        while tok is not None:
            start, tok = tok, None
            if not isinstance(start, _Start):      # cannot happen: a tag always opens a message
                continue
            found = True
            if start.mtype and start.mtype not in ("940", "942", "950"):
                raise InputError(f"line {start.line}: a SWIFT MT{start.mtype} message is not a "
                                 "statement (MT940, MT942 or MT950)", path=str(path))
            # hold the message until its end (closing balances come last) unless it is big
            held: list[_Tag] = []
            size = 0
            complete = True
            for t in tokens:
                if isinstance(t, _Start):
                    tok = t
                    break
                held.append(t)
                size += t.size + 100
                if size > _HOLD_BYTES:
                    complete = False
                    break
            stmt_tags = _statement_level(held) if complete else _look_ahead(path, start)
            stmt, ctx = _build_statement(start, stmt_tags, enc)
            yield stmt
            group: list[_Tag] = []
            for t in (held if complete else chain(held, tokens)):
                if isinstance(t, _Start):
                    tok = t
                    break
                if t.tag == "61":
                    if group:
                        yield _entry(group, ctx)
                    group = [t]
                elif group and t.tag in ("86", "NS"):
                    group.append(t)
                elif group:
                    yield _entry(group, ctx)
                    group = []
            held = []
            if group:
                yield _entry(group, ctx)
    if not found:
        raise InputError("not an MT940/MT942 file: no statement tag (:20:, :25:, :61:, ...) found",
                         path=str(path))


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------

_WIDTH = 65


def _clean(s: str | None) -> str:
    """One line of text: control characters and line breaks become spaces, ends trimmed."""
    if not s:
        return ""
    if s.isprintable():
        return s.strip()
    return "".join(c if c.isprintable() else " " for c in s).strip()


def _yymmdd(text: str | None, fmt: str | None) -> str | None:
    """A date text (ISO or ``fmt``) as YYMMDD."""
    if not text:
        return None
    text = text.strip()
    try:
        d = datetime.strptime(text, fmt).date() if fmt else date.fromisoformat(text[:10])
    except ValueError:
        if re.fullmatch(r"\d{6}", text, re.ASCII):
            return text
        raise ValueError(f"date {text!r} is not a date ({fmt or 'ISO 8601'})") from None
    return f"{d:%y%m%d}"


def _swift_amount(text: str, *, signed: bool = False) -> tuple[str, bool]:
    """An amount text as SWIFT ``15d`` (decimal comma) and whether it was negative."""
    try:
        d = Decimal(text.strip().replace(",", ".") if text.count(",") == 1 and "." not in text
                    else text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"amount {text!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"amount {text!r} is not a number")
    negative = d < 0
    if negative and not signed:
        raise ValueError(f"amount {text!r} is negative: entry amounts are unsigned (see direction)")
    s = format(abs(d), "f")
    s = s.replace(".", ",") if "." in s else s + ","
    if len(s) > 15:
        raise ValueError(f"amount {text!r} does not fit SWIFT's 15 characters")
    return s, negative


_AVOID_AT_LINE_START = frozenset(":-{ ")


def _wrap(text: str, width: int = _WIDTH) -> list[str]:
    """Cut ``text`` into lines of at most ``width``; no line after the first starts with ``:``,
    ``-``, ``{`` or a space (a tag, the end of the message or a block to a reader, or a line
    that a transport may trim)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = min(i + width, n)
        if j < n:
            k = j
            while k > i + 1 and text[k] in _AVOID_AT_LINE_START:
                k -= 1
            if text[k] not in _AVOID_AT_LINE_START:
                j = k
        out.append(text[i:j])
        i = j
    return out


def _parse_tx_code(tx_code: str | None) -> tuple[str | None, str | None, bool]:
    """``NTRF/166 reversal`` -> (``NTRF``, ``166``, True)."""
    m = re.fullmatch(r"([NFS][A-Z0-9]{3})(?:/(\d{3}))?( reversal)?", (tx_code or "").strip(), re.ASCII)
    if not m:
        return None, None, False
    return m.group(1), m.group(2), bool(m.group(3))


class _Writer:
    """Writes one message per Statement, streaming its entries."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh
        self.st: Statement | None = None
        self.header_done = False
        self.currency = "XXX"
        self.net = Decimal(0)
        self.debits: list = [0, Decimal(0)]
        self.credits: list = [0, Decimal(0)]
        self.last_date: str | None = None

    def _line(self, s: str) -> None:
        self.fh.write(s + "\n")

    def start(self, st: Statement) -> None:
        self.finish()
        if st.kind not in KINDS:
            raise ValueError(f"statement kind {st.kind!r} cannot be written as MT940/MT942")
        self.st = st
        self.header_done = False
        self.currency = (st.currency or "XXX").strip().upper()[:3]
        if not _CCY.fullmatch(self.currency):
            raise ValueError(f"currency {st.currency!r} is not an ISO 4217 code")
        self.net = Decimal(0)
        self.debits = [0, Decimal(0)]
        self.credits = [0, Decimal(0)]
        self.last_date = None

    def _balance(self, tag: str, b: Balance | None, fallback_date: str) -> str:
        if b is None:
            return f":{tag}:C{fallback_date}{self.currency}0,"
        amount, neg = _swift_amount(b.amount, signed=True)
        d = _yymmdd(b.date, b.date_format or (self.st.date_format if self.st else None)) \
            or fallback_date
        return f":{tag}:{'D' if neg != b.negative else 'C'}{d}{self.currency}{amount}"

    def _header(self, first_date: str | None) -> None:
        st = self.st
        assert st is not None
        self.header_done = True
        ref = _clean(st.statement_id)[:16] or "MT940"
        self._line(f":20:{ref}")
        account = "".join(_clean(st.account).split())
        bank = "".join(_clean(st.bank_id).split())
        if bank and (_BIC.fullmatch(bank) or _BLZ.fullmatch(bank)):
            account = f"{bank}/{account}"
        self._line(f":25:{account[:35]}")
        self._line(f":28C:{_clean(st.sequence)[:11] or '1'}")
        fmt = st.date_format
        when = (_yymmdd(st.opening_booked.date, st.opening_booked.date_format or fmt)
                if st.opening_booked and st.opening_booked.date else None) \
            or _yymmdd(st.period_from, fmt) or first_date \
            or _yymmdd(st.period_to, fmt) or "700101"
        self.last_date = when
        if st.kind == "mt942":
            floor = st.extra.get("floor_limit") or st.extra.get("floor_limit_debit") or "0"
            self._line(f":34F:{self.currency}{_swift_amount(floor)[0]}")
            if st.created:
                try:
                    dt = datetime.fromisoformat(st.created)
                except ValueError:
                    dt = None
                if dt is not None:
                    tz = ""
                    if dt.utcoffset() is not None:
                        minutes = int(dt.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
                        tz = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
                    self._line(f":13D:{dt:%y%m%d%H%M}{tz}")
            return
        tag = "60M" if st.extra.get("opening_intermediate") == "true" else "60F"
        self._line(self._balance(tag, st.opening_booked, when))
        if st.opening_booked is not None:
            amount, neg = _swift_amount(st.opening_booked.amount, signed=True)
            d = Decimal(amount.replace(",", ".").rstrip(".") or "0")
            self.net = -d if neg != st.opening_booked.negative else d

    def entry(self, e: Entry) -> None:
        if self.st is None:
            raise ValueError("an Entry came before any Statement")
        if e.direction not in (CREDIT, DEBIT):
            raise ValueError(f"entry at {e.position} has no direction (credit/debit)")
        fmt = e.date_format
        booking = _yymmdd(e.booking_date, fmt) or _yymmdd(e.value_date, fmt)
        value = _yymmdd(e.value_date, fmt) or booking
        if booking is None or value is None:
            raise ValueError(f"entry at {e.position} has no date")
        if not self.header_done:
            self._header(booking)
        amount, _ = _swift_amount(e.amount)
        dec = Decimal(amount.replace(",", ".").rstrip(".") or "0")
        code, gvc, reversal = _parse_tx_code(e.tx_code)
        if code is None:
            code = _CHANNEL_CODE.get(e.channel or "", "NMSC")
            if e.channel == "card":
                gvc = "106"
        if e.direction == CREDIT:
            mark = "RD" if reversal else "C"
            self.net += dec
            self.credits[0] += 1
            self.credits[1] += dec
        else:
            mark = "RC" if reversal else "D"
            self.net -= dec
            self.debits[0] += 1
            self.debits[1] += dec
        custref = _clean(e.customer_reference)
        kref = None
        if not custref:
            ref61 = "NONREF"
        elif len(custref) <= 16 and "//" not in custref and not custref.endswith("/") \
                and custref.upper() not in _POINTERS | _NO_REF:
            ref61 = custref
        else:
            ref61, kref = "NONREF", custref
        bankref = _clean(e.bank_reference)[:16]
        line = f":61:{value}{booking[2:]}{mark}{amount}{code}{ref61}"
        self._line(line + (f"//{bankref}" if bankref else ""))
        body = self._details(e, gvc, kref)
        if body:
            lines = _wrap(body)
            self._line(":86:" + lines[0])
            for ln in lines[1:]:
                self._line(ln)
        self.last_date = booking

    @staticmethod
    def _details(e: Entry, gvc: str | None, kref: str | None) -> str:
        name, acct, bank = _clean(e.counterparty_name), _clean(e.counterparty_account), \
            _clean(e.counterparty_bank)
        e2e, remi = _clean(e.end_to_end_id), _clean(e.remittance)
        if gvc is not None:
            def q(s: str) -> str:
                return s.replace("?", ".")
            purpose_parts = [p for p in (f"EREF+{q(e2e)}" if e2e else "",
                                         f"KREF+{q(kref)}" if kref else "",
                                         f"SVWZ+{q(remi)}" if remi else "") if p]
            chunks = [p[i:i + 27] for p in purpose_parts for i in range(0, len(p), 27)]
            codes = [str(i) for i in range(20, 30)] + ["60", "61", "62", "63"]
            out = f"{gvc}?00"
            out += "".join(f"?{c}{chunk}" for c, chunk in zip(codes, chunks))
            if bank:
                out += f"?30{q(bank)[:11]}"
            if acct:
                out += f"?31{q(acct)[:34]}"
            name_q = q(name)[:54]
            if name_q:
                out += f"?32{name_q[:27]}" + (f"?33{name_q[27:]}" if name_q[27:] else "")
            return out
        # ING's layout: every value ends with "/", so a value may itself end with one; a
        # remittance that starts like REMI's sub-structure (USTD//, STRD/CUR/, /) is marked
        # unstructured (USTD//) so that a reader does not take its start for the marker
        if _REMI_PREFIX.match(remi):
            remi = "USTD//" + remi
        parts = [(key, v) for key, v in (("EREF", e2e), ("KREF", kref or ""), ("NAME", name),
                                         ("IBAN", acct), ("BIC", bank), ("REMI", remi)) if v]
        return "".join(f"/{key}/{v}/" for key, v in parts)

    def finish(self) -> None:
        st = self.st
        if st is None:
            return
        if not self.header_done:
            self._header(None)
        when = self.last_date or "700101"
        if st.kind == "mt942":
            self._line(f":90D:{self.debits[0]}{self.currency}{_swift_amount(str(self.debits[1]))[0]}")
            self._line(f":90C:{self.credits[0]}{self.currency}{_swift_amount(str(self.credits[1]))[0]}")
        else:
            tag = "62M" if st.extra.get("closing_intermediate") == "true" else "62F"
            closing = st.closing_booked
            if closing is None:
                closing = Balance(amount=str(abs(self.net)), date=None, negative=self.net < 0)
            self._line(self._balance(tag, closing, when))
            if st.closing_available is not None:
                self._line(self._balance("64", st.closing_available, when))
        self._line("-")
        self.st = None


def write(records: Iterable[Statement | Entry], fh: TextIO) -> None:
    """Write ``records`` as MT940/MT942 messages (one per Statement, by ``Statement.kind``)."""
    w = _Writer(fh)
    for rec in records:
        if isinstance(rec, Statement):
            w.start(rec)
        elif isinstance(rec, Entry):
            w.entry(rec)
        else:
            raise TypeError(f"cannot write a {type(rec).__name__} as MT940")
    w.finish()


__all__ = ["KINDS", "MAX_FIELD", "MAX_LINE", "read", "sniff", "write"]
