"""OFX / QFX statements (issue 13): Open Financial Exchange 1.x (SGML) and 2.x (XML).

What banks send as "OFX", "QFX" (Quicken) or "QBO" is one of two syntaxes around the same
elements:

* **1.x**: a plain-text header (``OFXHEADER:100``, ``DATA:OFXSGML``, ``VERSION:102``,
  ``ENCODING:USASCII``, ``CHARSET:1252``, ...) and an SGML body in which leaf elements are *not*
  closed: ``<TRNAMT>-12.50`` runs until the next tag;
* **2.x**: ``<?xml ...?><?OFX OFXHEADER="200" VERSION="211" ...?>`` and an XML body where every
  element is closed.

Real files mix the two freely (a 2.x header over unclosed leaves, a 1.x header over closed ones,
no header at all, lower-case tags, CR-only line ends, a BOM, ``CHARSET:1252`` over UTF-8 bytes),
so one small tokenizer reads both: it streams the file in chunks, produces start/end/text tokens,
and closes SGML leaves implicitly (an element holding text closes at the next start tag or at an
ancestor's end tag). No third-party OFX library is used: ofxtools is GPL and ofxparse is
unmaintained and needs BeautifulSoup; neither streams.

Records (see :mod:`moneytrail.ingest.statement`):

* one :class:`Statement` per ``STMTRS`` (bank account: ``BANKACCTFROM`` gives the routing number
  ``BANKID``, ``ACCTID``, ``ACCTTYPE``) or ``CCSTMTRS`` (credit card: ``CCACCTFROM/ACCTID``);
  ``CURDEF`` is the currency, ``LEDGERBAL`` the closing booked and ``AVAILBAL`` the closing
  available balance, ``BANKTRANLIST/DTSTART``-``DTEND`` the period, ``SONRS/DTSERVER`` the creation
  date, ``FI/ORG`` the bank's name and ``TRNUID`` the statement id;
* one :class:`Entry` per ``STMTTRN``: the ``TRNAMT`` sign gives the direction (the amount is
  kept unsigned, as written but for a decimal comma, which becomes a point), ``DTPOSTED`` the booking date and time (``%Y%m%d``; the time zone
  is dropped: dates are the bank's local dates), ``DTAVAIL`` (else ``DTUSER``) the value date,
  ``FITID`` the bank reference, ``CHECKNUM`` (else ``REFNUM``) the customer reference, ``NAME``
  (else ``PAYEE/NAME``) the counterparty, ``BANKACCTTO``/``CCACCTTO`` its account and bank,
  ``MEMO`` the remittance, ``TRNTYPE`` the code and, where it tells, the channel, and
  ``CURRENCY/CURSYM`` the currency (``ORIGCURRENCY`` is not: it names the currency the amount
  was converted *from*, the amount itself being in ``CURDEF``). Text that is not an OFX date is
  kept whole, for the loader to reject;
* one :class:`Bad` for a ``STMTTRN`` the reader cannot use (no ``TRNAMT`` or ``DTPOSTED``, an
  oversized field, cut off by the end of the file, outside any statement);
* investment statements (``INVSTMTRS``) are not read: their account is yielded as a Statement and
  each of their transactions as a Bad saying so, so that nothing is lost silently.

OFX puts the balances *after* the transaction list while a Statement must come before its
entries; the reader keeps up to :data:`BUFFER_RECORDS` records of a statement in memory and, for
a longer statement, reads its balances with a second, look-ahead pass over the file, so memory
stays flat whatever the file's size.

``write`` produces OFX 1.x SGML (``version=2``: OFX 2.x XML) from records, streaming.
"""

from __future__ import annotations

import codecs
import re
from datetime import date, datetime
from pathlib import Path
from typing import IO, Iterable, Iterator, TextIO

from moneytrail.errors import InputError
from moneytrail.ingest.statement import CREDIT, DEBIT, RAW_CHARS, Bad, Balance, Entry, Statement, clip

__all__ = ["read", "sniff", "write"]

#: bytes read from the file at a time
CHUNK_BYTES = 1 << 20
#: the most characters kept of one element's text; a longer value makes its record a Bad
MAX_VALUE = 10_000
#: the deepest element nesting accepted (real OFX nests about 10 deep)
MAX_DEPTH = 64
#: the most elements one STMTTRN may hold
MAX_FIELDS = 256
#: records of one statement held back (waiting for its balances) before the look-ahead pass
BUFFER_RECORDS = 2_000
#: how much of a file ``sniff`` is given
HEAD_BYTES = 8192

OFX_DATE = "%Y%m%d"

# ---------------------------------------------------------------------------------------------
# element vocabulary

#: elements that always hold other elements: opened as soon as their start tag is seen (so an
#: empty ``<BANKTRANLIST></BANKTRANLIST>`` is still an aggregate)
AGGREGATES = frozenset("""
OFX SIGNONMSGSRSV1 SONRS STATUS FI BANKMSGSRSV1 STMTTRNRS STMTRS BANKACCTFROM BANKACCTTO
BANKTRANLIST STMTTRN PAYEE LEDGERBAL AVAILBAL BALLIST BAL CURRENCY ORIGCURRENCY
CREDITCARDMSGSRSV1 CCSTMTTRNRS CCSTMTRS CCACCTFROM CCACCTTO STMTENDRS CCSTMTENDRS
INVSTMTMSGSRSV1 INVSTMTTRNRS INVSTMTRS INVACCTFROM INVTRANLIST INVPOSLIST INVBAL INV401K
INV401KBAL SECLISTMSGSRSV1 SECLIST BUYDEBT BUYMF BUYOPT BUYOTHER BUYSTOCK CLOSUREOPT INCOME
INVEXPENSE JRNLFUND JRNLSEC MARGININTEREST REINVEST RETOFCAP SELLDEBT SELLMF SELLOPT SELLOTHER
SELLSTOCK SPLIT TRANSFER INVBANKTRAN INVBUY INVSELL INVTRAN SECID
""".split())

#: leaves that may be written empty (``<BALAMT>`` followed by ``<DTASOF>``): an empty one is
#: closed at the next start tag instead of being taken for an aggregate
LEAVES = frozenset("""
CODE SEVERITY MESSAGE DTSERVER LANGUAGE DTPROFUP DTACCTUP ORG FID TRNUID CLTCOOKIE CURDEF
BANKID BRANCHID ACCTID ACCTTYPE ACCTKEY DTSTART DTEND TRNTYPE DTPOSTED DTUSER DTAVAIL TRNAMT
FITID CORRECTFITID CORRECTACTION SRVRTID CHECKNUM REFNUM SIC PAYEEID NAME EXTDNAME MEMO CURRATE
CURSYM BALAMT DTASOF MKTGINFO BROKERID INV401KSOURCE SUBACCTFUND ADDR1 ADDR2 ADDR3 CITY STATE
POSTALCODE COUNTRY PHONE
""".split())

_STATEMENTS = {"STMTRS": "bank", "CCSTMTRS": "creditcard", "INVSTMTRS": "investment"}

#: TRNTYPE -> channel (only where the code says; CREDIT, DEBIT, PAYMENT, ... say nothing)
CHANNELS = {
    "ATM": "cash", "CASH": "cash", "CHECK": "check", "DIRECTDEP": "ach", "DIRECTDEBIT": "ach",
    "POS": "card", "XFER": "transfer", "INT": "interest", "DIV": "interest", "FEE": "fee",
    "SRVCHG": "fee",
}
TRNTYPES = frozenset("""CREDIT DEBIT INT DIV FEE SRVCHG DEP ATM POS XFER CHECK PAYMENT CASH
DIRECTDEP DIRECTDEBIT REPEATPMT HOLD OTHER""".split())

# (nearest known aggregate, leaf) -> statement field
_STMT_KEYS = {
    ("STMTRS", "CURDEF"): "currency", ("CCSTMTRS", "CURDEF"): "currency",
    ("INVSTMTRS", "CURDEF"): "currency",
    ("BANKACCTFROM", "BANKID"): "bank_id", ("BANKACCTFROM", "BRANCHID"): "branch id",
    ("BANKACCTFROM", "ACCTID"): "account", ("BANKACCTFROM", "ACCTTYPE"): "account type",
    ("BANKACCTFROM", "ACCTKEY"): "account key",
    ("CCACCTFROM", "ACCTID"): "account", ("CCACCTFROM", "ACCTKEY"): "account key",
    ("INVACCTFROM", "BROKERID"): "bank_id", ("INVACCTFROM", "ACCTID"): "account",
    ("BANKTRANLIST", "DTSTART"): "period_from", ("BANKTRANLIST", "DTEND"): "period_to",
    ("INVTRANLIST", "DTSTART"): "period_from", ("INVTRANLIST", "DTEND"): "period_to",
    ("LEDGERBAL", "BALAMT"): "ledger", ("LEDGERBAL", "DTASOF"): "ledger date",
    ("AVAILBAL", "BALAMT"): "avail", ("AVAILBAL", "DTASOF"): "avail date",
}
# (nearest known aggregate, leaf) -> file-level field, kept for the statements that follow
_FILE_KEYS = {
    ("SONRS", "DTSERVER"): "created", ("FI", "ORG"): "bank_name", ("FI", "FID"): "fi id",
    ("STMTTRNRS", "TRNUID"): "trnuid", ("CCSTMTTRNRS", "TRNUID"): "trnuid",
    ("INVSTMTTRNRS", "TRNUID"): "trnuid",
    ("STATUS", "CODE"): "status code", ("STATUS", "SEVERITY"): "status severity",
    ("STATUS", "MESSAGE"): "status message",
}
# (nearest known aggregate, leaf) of a STMTTRN that the entry uses
_TRN_KEYS = frozenset([
    ("STMTTRN", n) for n in ("TRNTYPE", "DTPOSTED", "DTUSER", "DTAVAIL", "TRNAMT", "FITID", "SRVRTID",
                             "CHECKNUM", "REFNUM", "NAME", "EXTDNAME", "MEMO")
] + [("PAYEE", "NAME"), ("BANKACCTTO", "BANKID"), ("BANKACCTTO", "ACCTID"), ("CCACCTTO", "ACCTID"),
     ("CURRENCY", "CURSYM")])

# ---------------------------------------------------------------------------------------------
# sniff and header

_UTF8_BOM = b"\xef\xbb\xbf"
_HEADER_LINE = re.compile(rb"[ \t]*+(?:[a-z][a-z0-9_.\-]{0,30}+[ \t]*+:[^\r\n]{0,200}+)?[ \t]*+")
_OFX_PI = re.compile(rb"<\?ofx\s")
_LEADING_PI = re.compile(rb"\s*+<[?!][^<>]{0,4096}+>")
_HEADER_FIELD = re.compile(r"\b(CHARSET|ENCODING|VERSION)[ \t]*+:[ \t]*+([A-Za-z0-9_.\-]{1,40})", re.I)
_XML_ENCODING = re.compile(r"""<\?xml[^<>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9_.\-]{1,40})["']""", re.I)


def _bom(head: bytes) -> tuple[int, str | None]:
    """(length of the byte-order mark, the codec it names) for a file starting with ``head``."""
    if head.startswith(_UTF8_BOM):
        return 3, None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return 2, "utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be"
    return 0, None


def sniff(head: bytes) -> bool:
    """True when a file starting with ``head`` is OFX/QFX: an ``OFXHEADER`` header, an
    ``<?OFX ...?>`` processing instruction, or an ``<OFX>`` first element after nothing but
    header-like ``KEY:VALUE`` lines (a missing or broken 1.x header)."""
    head = head[:HEAD_BYTES]
    n, codec = _bom(head)
    if codec:       # UTF-16: look at its ASCII projection
        head = head[n:].decode(codec, "replace").encode("ascii", "replace")
    else:
        head = head[n:]
    low = head.lstrip().lower()
    if low.startswith(b"ofxheader") or _OFX_PI.search(low):
        return True
    lt = low.find(b"<")
    if lt < 0:
        return False
    lines = low[:lt].splitlines()
    if len(lines) > 100 or not all(_HEADER_LINE.fullmatch(line) for line in lines):
        return False
    rest, pos = low[lt:], 0
    while m := _LEADING_PI.match(rest, pos):   # <?xml ...?>, <!-- -->, <!DOCTYPE>
        pos = m.end()
    rest = rest[pos:].lstrip()
    return rest.startswith(b"<ofx>") or rest.startswith(b"<ofx ")


def _fallback_codec(head: bytes) -> str:
    """The single-byte codec the file's header declares (``CHARSET:1252``, ``encoding=``), used
    where the bytes are not UTF-8; windows-1252 when it declares none, ASCII, UTF-8 or one this
    Python does not know. ISO-8859-1 is read as windows-1252, as browsers do: banks that say
    8859-1 write 1252's curly quotes and euro sign."""
    text = head[:HEAD_BYTES].decode("latin-1")
    lt = text.find("<")
    names: list[str] = []
    if m := _XML_ENCODING.search(text):
        names.append(m.group(1))
    for key, value in _HEADER_FIELD.findall(text[:lt] if lt >= 0 else text):
        if key.upper() == "CHARSET":
            names.append(value)
    for name in names:
        up = name.upper().replace("_", "-")
        if up in ("NONE", "USASCII", "US-ASCII", "ASCII", "UTF-8", "UTF8", "UNICODE"):
            continue
        if up in ("ISO-8859-1", "8859-1", "ISO8859-1", "LATIN1", "LATIN-1", "ISO-LATIN-1", "CP819"):
            return "cp1252"
        codec = "cp" + up if up.isdigit() else name
        if _single_byte(codec):
            return codecs.lookup(codec).name
    return "cp1252"


def _single_byte(codec: str) -> bool:
    """Whether ``codec`` is an ASCII-compatible 8-bit text codec (cp1250, iso8859-15, koi8-r,
    ...): the only kind a declared charset may select. Escape codecs (``unicode_escape``,
    ``utf-7``) and multi-byte ones are refused."""
    try:
        if b"\\x41\\u0042+AGE-".decode(codec, "replace") != "\\x41\\u0042+AGE-":
            return False
        text = bytes(range(256)).decode(codec, "replace")
    except (LookupError, UnicodeError, TypeError):
        return False
    return len(text) == 256 and text[:128] == bytes(range(128)).decode("ascii")


class _Decoder:
    """Bytes to text: UTF-8 while the bytes are valid UTF-8, then the declared single-byte
    charset for the rest of the file (``CHARSET:1252`` files holding UTF-8 are common; the
    reverse, 1252 text that happens to be valid UTF-8, is vanishingly rare). Line ends become
    ``\\n`` (CRLF and lone CR alike)."""

    def __init__(self, fallback: str, utf16: str | None = None):
        self._fallback_name = fallback
        if utf16:
            self._dec = codecs.getincrementaldecoder(utf16)("replace")
            self._utf8 = False
        else:
            self._dec = codecs.getincrementaldecoder("utf-8")("strict")
            self._utf8 = True
        self._cr = False

    def decode(self, data: bytes, final: bool = False) -> str:
        """The text of the next chunk (a trailing CR is held back: it may start a CRLF)."""
        if self._utf8:
            try:
                text = self._dec.decode(data, final)
            except UnicodeDecodeError as e:
                good = e.object[:e.start].decode("utf-8")
                self._utf8 = False
                self._dec = codecs.getincrementaldecoder(self._fallback_name)("replace")
                text = good + self._dec.decode(e.object[e.start:], final)
        else:
            text = self._dec.decode(data, final)
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r") and not final
        if self._cr:
            text = text[:-1]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text


# ---------------------------------------------------------------------------------------------
# values

_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9A-Fa-f]{1,6})|([A-Za-z]{2,8}));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\u00a0"}


def _entity(m: re.Match[str]) -> str:
    """One character reference's character (NUL, surrogates and out-of-range ones stay as
    written)."""
    if m.group(3) is not None:
        return _NAMED.get(m.group(3).lower(), m.group(0))
    cp = int(m.group(1)) if m.group(1) is not None else int(m.group(2), 16)
    if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return m.group(0)
    return chr(cp)


def _unescape(text: str) -> str:
    """Character references decoded; a bare ``&`` (``AMAZON & CO``, common in SGML files) or an
    unknown name stays as written."""
    return _ENTITY.sub(_entity, text) if "&" in text else text


_OFX_DATETIME = re.compile(
    r"([0-9]{8})(?:([0-9]{2})([0-9]{2})([0-9]{2})?(?:\.[0-9]{1,6})?)?\s*(?:\[[^\[\]]{0,40}\])?", re.ASCII)


def _split_datetime(text: str | None) -> tuple[str | None, str | None]:
    """An OFX datetime ``YYYYMMDD[HHMMSS[.XXX]][[+-]TZ:NAME]`` as (``YYYYMMDD``, ``HH:MM[:SS]``).
    Text of another shape is returned whole, for the loader to reject with ``%Y%m%d``; the time
    zone is dropped (dates are the bank's local dates)."""
    if not text:
        return None, None
    m = _OFX_DATETIME.fullmatch(text)
    if m is None:
        return text, None
    if m.group(2) is None:
        return m.group(1), None
    hhmm = f"{m.group(2)}:{m.group(3)}"
    return m.group(1), hhmm + f":{m.group(4)}" if m.group(4) else hhmm


def _signed(text: str | None) -> tuple[str, bool]:
    """(amount without its sign, negative) for an OFX amount (``-34.51``, ``+115.83``). A
    decimal comma (``-12,50``: Belgian and French banks write them, OFX allows them) becomes a
    point; anything else is kept as written, for the loader to judge."""
    s = (text or "").strip()
    negative = False
    if s[:1] in "-+" and s:
        s, negative = s[1:].strip(), s[0] == "-"
    if "," in s and "." not in s and s.count(",") == 1:
        s = s.replace(",", ".")
    return s, negative


def _nospace(text: str | None) -> str | None:
    """An account number as written without its spaces (``12300 000012345678``)."""
    return "".join(text.split()) or None if text else None


# ---------------------------------------------------------------------------------------------
# tokenizer + tree builder

OPEN, CLOSE, LEAF = 0, 1, 2
_START, _END, _SELF, _COMMENT, _CDATA, _DECL = range(6)
_TOKEN = re.compile(
    r"<(?:(/?)\s*+([A-Za-z_][A-Za-z0-9_.:\-]{0,63}+)(?=[\s/>])([^<>]{0,256}+)>"
    r"|(!--)|(!\[CDATA\[)|([?!][^<>]{0,4096}+>))", re.ASCII)
_MAX_TOKEN = 4400      # longer than any token _TOKEN matches
_SKIM_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _skim_pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    """Where the main pass would end the transaction on top of ``names`` (the open elements):
    a start or end tag of it or of one of its ancestors; and comments/CDATA, which the skim
    skips whole since they may hold any text."""
    pattern = _SKIM_CACHE.get(names)
    if pattern is None:
        alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
        pattern = re.compile(rf"<(?:/?\s*+(?:{alts})(?=[\s/>])[^<>]{{0,256}}+>|(!--|!\[CDATA\[))",
                             re.ASCII | re.IGNORECASE)
        if len(_SKIM_CACHE) < 256:
            _SKIM_CACHE[names] = pattern
    return pattern


_CACHE_MAX = 4096


class _Events:
    """The file as a stream of element events: ``(OPEN, name, None, line, False)``,
    ``(CLOSE, name, None, line, at_eof)`` and ``(LEAF, name, text, line, oversized)``, with tag
    names upper-cased, leaf text trimmed and unescaped, and SGML's unclosed leaves closed.

    Reads the file in chunks; an element's text is kept up to :data:`MAX_VALUE` characters (the
    rest is counted, not kept). ``begin_capture``/``end_capture`` collect the file's own text of
    a record (for ``raw``) between two events; ``skim`` skips the rest of the current STMTTRN
    (the look-ahead pass needs only the statement's own elements)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError as e:
            raise InputError(f"cannot read the file ({e.strerror or e})", path=str(path)) from None
        if not head.strip():
            raise InputError("the file is empty", path=str(path))
        self._bom, utf16 = _bom(head)
        self._decoder = _Decoder(_fallback_codec(head), utf16)
        self._cap: list[str] | None = None     # the record's text so far, while capturing
        self._cap_len = 0
        self._cap_from = 0                     # where in the buffer the capture continues
        self._at: tuple[str, int] = ("", 0)    # (buffer, offset) of the current event's tag
        self._skim = False
        self._collect: dict | None = None

    # -- raw text of a record --------------------------------------------------------------
    # The text is taken from the decoded buffer by position: where the record starts (``_at``
    # of its OPEN event) and where it ends (``_at`` of its CLOSE event); a buffer refilled in
    # between hands over what it held (``_refill``). Nothing is done per token.
    def begin_capture(self) -> None:
        """Start collecting the file's text, from the tag of the current OPEN event."""
        self._cap, self._cap_len = [], 0
        self._cap_from = self._at[1]

    def end_capture(self) -> str:
        """The text from ``begin_capture`` to the end of the current CLOSE event's tag
        (clipped as ``clip`` does)."""
        buf, stop = self._at
        self._keep(buf[self._cap_from:stop])
        parts, total = self._cap or [], self._cap_len
        self._cap = None
        text = "".join(parts)
        if total <= RAW_CHARS:
            return clip(text)
        return text[:RAW_CHARS] + f"… [{total - RAW_CHARS} more characters]"

    def _keep(self, text: str) -> None:
        if self._cap is not None:
            if self._cap_len <= RAW_CHARS:
                self._cap.append(text[:RAW_CHARS + 1])
            self._cap_len += len(text)

    def collect(self, fields: dict) -> None:
        """Until the STMTTRN just opened closes, put its leaves into ``fields`` (keyed by
        ``(nearest known aggregate, name)``, only the keys an entry uses; ``"#n"`` counts them
        all, ``"#over"`` names the first oversized one) instead of yielding them: a transaction's
        dozen elements then cost one event, not a dozen."""
        fields["#n"] = 0
        self._collect = fields

    def _close_to(self, name: str, stack: list[list], names: list[str], buf, pos: int, tag_line: int):
        """Close the open elements down to and including the innermost ``name`` (its end tag,
        or a second ``<STMTTRN>`` that ends the first): each aggregate's CLOSE event, each leaf's
        LEAF event (or, while a transaction is collected, its value stored)."""
        while True:
            el = stack.pop()
            names.pop()
            if el[2]:
                if self._collect is None or self._end_collect(el[0]):
                    self._at = (buf, pos)
                    yield CLOSE, el[0], None, tag_line, False
            elif self._collect is None:
                yield LEAF, el[0], el[1] or "", el[3], el[4]
            else:
                self._store(el, stack)
            if el[0] == name:
                return

    def _store(self, el: list, stack: list[list]) -> None:
        """Put the leaf ``el`` (just closed; ``stack`` holds its ancestors) into the fields
        being collected."""
        fields = self._collect
        assert fields is not None
        fields["#n"] += 1
        if el[4] and "#over" not in fields:
            fields["#over"] = el[0]
        key = (self._context(stack), el[0])
        if key in _TRN_KEYS and key not in fields:
            fields[key] = el[1] or ""

    @staticmethod
    def _context(stack: list[list]) -> str:
        """The name of the innermost known aggregate in ``stack`` (unknown elements are
        skipped: an unclosed, unknown empty element must not hide its siblings)."""
        for el in reversed(stack):
            if el[0] in AGGREGATES:
                return el[0]
        return ""

    def _end_collect(self, name: str) -> bool:
        """Whether the CLOSE of ``name`` is yielded while collecting: only the STMTTRN's own,
        which ends the collecting."""
        if name != "STMTTRN":
            return False
        self._collect = None
        return True

    def skim(self) -> None:
        """Skip the STMTTRN just opened: jump to the first tag that would end it (see
        ``_skim_pattern``) without reading what is inside; the look-ahead pass wants only the
        statement's own elements, and this is exactly where the main pass ends it too."""
        self._skim = True

    # -- the event stream -------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple]:
        try:
            fh = open(self.path, "rb")
        except OSError as e:
            raise InputError(f"cannot read the file ({e.strerror or e})", path=str(self.path)) from None
        with fh:
            fh.seek(self._bom)
            yield from self._events(fh)

    def _events(self, fh: IO[bytes]) -> Iterator[tuple]:
        """Tokenizer and tree builder in one loop. It is one long function on purpose: it runs
        a dozen times per transaction, and a call per token would cost a third of the time.
        Per token: find the next tag (``_TOKEN``; a ``<`` that starts none is text), give the
        text before it to the open element, then open, close or implicitly close elements."""
        search = _TOKEN.search
        cache: dict[str, tuple[int, str, int]] = {}
        buf, pos, eof = "", 0, False
        term = ""                     # inside a comment ("-->") or CDATA ("]]>"): its end
        keep_text = False             # whether that CDATA's text is kept
        line = 1
        tparts: list[str] = []        # the text since the last tag (capped)
        tlen, tover = 0, False
        stack: list[list] = []        # open elements: [name, text, opened, line, oversized]
        names: list[str] = []         # their names
        seen_ofx = False

        while True:
            # ---- inside a comment or CDATA section --------------------------------------------
            if term:
                end = buf.find(term, pos)
                stop = len(buf) if (end < 0 and eof) else (max(pos, len(buf) - 2) if end < 0 else end)
                piece = buf[pos:stop]
                line += piece.count("\n")
                if keep_text and piece and (tparts or not piece.isspace()):
                    piece = piece.replace("&", "&amp;")
                    if tlen + len(piece) > MAX_VALUE:
                        piece = piece[:max(MAX_VALUE - tlen, 0)]
                        tover = True
                    tparts.append(piece)
                    tlen += len(piece)
                if end >= 0 or eof:
                    pos, term = (end + 3 if end >= 0 else stop), ""
                    continue
                pos = stop
                buf, pos, eof = self._refill(fh, buf, pos)
                continue
            # ---- the look-ahead skipping a transaction -----------------------------------------
            if self._skim:
                m = _skim_pattern(tuple(names)).search(buf, pos)
                if m is None:
                    stop = len(buf) if eof else max(pos, len(buf) - _MAX_TOKEN)
                    line += buf.count("\n", pos, stop)
                    pos = stop
                    if eof:
                        self._skim = False
                        continue
                    buf, pos, eof = self._refill(fh, buf, pos)
                    continue
                line += buf.count("\n", pos, m.start())
                tparts, tlen, tover = [], 0, False
                if m.group(1):          # a comment or CDATA: skipped too
                    pos, term, keep_text = m.end(), ("-->" if m.group(1) == "!--" else "]]>"), False
                    continue
                pos = m.start()         # the tag that ends the transaction: read as usual
                self._skim = False
                continue
            # ---- the next token ---------------------------------------------------------------
            m = search(buf, pos)
            if m is None:
                stop = len(buf) if eof else max(pos, len(buf) - _MAX_TOKEN)
                if stop > pos:
                    piece = buf[pos:stop]
                    line += piece.count("\n")
                    if tparts or not piece.isspace():
                        if tlen + len(piece) > MAX_VALUE:
                            piece = piece[:max(MAX_VALUE - tlen, 0)]
                            tover = True
                        tparts.append(piece)
                        tlen += len(piece)
                    pos = stop
                if eof:
                    break
                buf, pos, eof = self._refill(fh, buf, pos)
                continue
            start, stop = m.span()
            if start > pos:
                piece = buf[pos:start]
                nl = piece.count("\n")
                if nl:
                    line += nl
                if tparts or not piece.isspace():
                    if tlen + len(piece) > MAX_VALUE:
                        piece = piece[:max(MAX_VALUE - tlen, 0)]
                        tover = True
                    tparts.append(piece)
                    tlen += len(piece)
            tag = m.group(0)
            pos = stop
            tag_line = line
            info = cache.get(tag)
            if info is None:
                info = self._classify(m)
                if len(cache) < _CACHE_MAX:
                    cache[tag] = info
            kind, name, nl = info
            if nl:
                line += nl
            if kind >= _COMMENT:
                if kind != _DECL:
                    term, keep_text = ("-->" if kind == _COMMENT else "]]>"), kind == _CDATA
                continue
            # ---- the text before the tag belongs to the element on top ------------------------
            if tparts:
                text = ("".join(tparts) if len(tparts) > 1 else tparts[0]).strip()
                if "&" in text:
                    text = _unescape(text)
                if text and stack:
                    top = stack[-1]
                    if not top[2]:
                        top[1] = text if top[1] is None else (top[1] + " " + text)[:MAX_VALUE]
                        top[4] = top[4] or tover
                tparts, tlen, tover = [], 0, False
            elif tover:
                tover = False
            # ---- tree building ----------------------------------------------------------------
            if kind == _END:
                if name not in names:
                    continue          # a stray end tag: nothing open to close
                yield from self._close_to(name, stack, names, buf, pos, tag_line)
                continue
            if not seen_ofx:
                if name != "OFX":
                    raise InputError(f"not an OFX file: the first element is <{name}>, not <OFX>",
                                     path=str(self.path))
                seen_ofx = True
            if stack:
                top = stack[-1]
                if not top[2]:        # an element with text, or a known leaf: it ends here
                    if top[1] is not None or top[0] in LEAVES:
                        stack.pop()
                        names.pop()
                        fields = self._collect
                        if fields is None:
                            yield LEAF, top[0], top[1] or "", top[3], top[4]
                        else:                 # (``_store``, inlined: the hot path of SGML)
                            fields["#n"] += 1
                            parent = stack[-1][0]
                            key = (parent if parent in AGGREGATES else self._context(stack), top[0])
                            if key in _TRN_KEYS and key not in fields:
                                fields[key] = top[1] or ""
                            if top[4] and "#over" not in fields:
                                fields["#over"] = top[0]
                    else:             # an unknown element holding this one: an aggregate
                        top[2] = True
                        if self._collect is None:
                            self._at = (buf, start)
                            yield OPEN, top[0], None, top[3], False
            if name in names:         # <STMTTRN>...<STMTTRN>: the first one ends here
                yield from self._close_to(name, stack, names, buf, pos, tag_line)
            if len(stack) >= MAX_DEPTH:
                raise InputError(f"elements nested deeper than {MAX_DEPTH} at line {tag_line}; "
                                 "not a well-formed OFX file", path=str(self.path))
            aggregate = name in AGGREGATES
            stack.append([name, None, aggregate, tag_line, False])
            names.append(name)
            if aggregate and self._collect is None:
                self._at = (buf, start)
                yield OPEN, name, None, tag_line, False
            if kind == _SELF and names and names[-1] == name:
                el = stack.pop()
                names.pop()
                if el[2]:
                    if self._collect is None or self._end_collect(name):
                        self._at = (buf, pos)
                        yield CLOSE, name, None, tag_line, False
                elif self._collect is None:
                    yield LEAF, name, "", tag_line, False
                else:
                    self._store(el, stack)
        # ---- end of file: whatever is open ends here ---------------------------------------------
        if not seen_ofx:
            raise InputError("not an OFX file: no <OFX> element", path=str(self.path))
        if tparts and stack and not stack[-1][2]:
            text = _unescape("".join(tparts).strip())
            if text:
                top = stack[-1]
                top[1] = text if top[1] is None else (top[1] + " " + text)[:MAX_VALUE]
                top[4] = top[4] or tover
        while stack:
            el = stack.pop()
            names.pop()
            if el[2]:
                if self._collect is None or self._end_collect(el[0]):
                    self._at = (buf, len(buf))
                    yield CLOSE, el[0], None, line, True
            elif self._collect is None:
                yield LEAF, el[0], el[1] or "", el[3], el[4]
            else:
                self._store(el, stack)

    @staticmethod
    def _classify(m: re.Match[str]) -> tuple[int, str, int]:
        """(token kind, upper-cased element name, newlines in the tag) of a ``_TOKEN`` match."""
        nl = m.group(0).count("\n")
        if m.group(4):
            return _COMMENT, "", nl
        if m.group(5):
            return _CDATA, "", nl
        if m.group(6):
            return _DECL, "", nl
        name = m.group(2).upper()
        if m.group(1):
            return _END, name, nl
        return (_SELF if m.group(3).rstrip().endswith("/") else _START), name, nl

    def _refill(self, fh: IO[bytes], buf: str, pos: int) -> tuple[str, int, bool]:
        """The buffer from ``pos`` on, with the next chunk of the file decoded after it."""
        if self._cap is not None:          # the part of the record this buffer held
            self._keep(buf[self._cap_from:pos])
            self._cap_from = 0
        data = fh.read(CHUNK_BYTES)
        if not data:
            return buf[pos:] + self._decoder.decode(b"", True), 0, True
        return buf[pos:] + self._decoder.decode(data), 0, False


# ---------------------------------------------------------------------------------------------
# events -> records

_S_OPEN, _S_CLOSE, _REC = 0, 1, 2


class _Places:
    """Positions of records: ``line N`` or ``lines A-B``; a record sharing its one line with
    earlier records (OFX written on a single line) gets its rank: ``line 10, record 3 on the
    line``, so that every position names one record."""

    def __init__(self) -> None:
        self._line, self._n = 0, 0

    def __call__(self, a: int, b: int) -> str:
        if a == self._line:
            self._n += 1
        else:
            self._line, self._n = a, 1
        if a < b:
            return f"lines {a}-{b}"
        return f"line {a}" if self._n == 1 else f"line {a}, record {self._n} on the line"


def _walk(path: Path, want_entries: bool, skim: bool = False) -> Iterator[tuple]:
    """The file's statements and records: ``(_S_OPEN, index, position)`` when a statement starts,
    ``(_REC, index, Entry | Bad)`` for each transaction (only when ``want_entries``) and
    ``(_S_CLOSE, index, Statement)`` when it ends. ``skim`` skips the transactions' text (for
    the look-ahead pass, which wants only statements). Raises InputError at the end of a file
    that holds no statement."""
    events = _Events(path)
    where = _Places()
    known: list[str] = []        # the open known aggregates, innermost last
    is_known: list[bool] = []    # per open aggregate: whether it is in ``known``
    filectx: dict[str, str] = {}
    st: dict[str, str] | None = None
    st_line = st_depth = 0
    st_kind_name = ""
    index = -1
    trn: dict | None = None      # the STMTTRN being read
    trn_line = trn_depth = 0
    trn_outside = False          # opened after its statement had ended
    inv_depth = inv_line = 0     # an investment transaction being skipped
    inv_name = ""
    oversized_stmt: tuple[str, int] | None = None
    statements = 0

    for kind, name, value, line, flag in events:
        if kind == LEAF:
            ctx = known[-1] if known else ""
            if trn is not None:       # (a transaction's leaves go to ``events.collect``)
                continue
            if inv_depth:
                continue
            key = (ctx, name)
            if st is not None:
                field = _STMT_KEYS.get(key)
                if field is not None:
                    if flag:
                        oversized_stmt = oversized_stmt or (name, line)
                    st.setdefault(field, value)
                    continue
            field = _FILE_KEYS.get(key)
            if field is not None:
                filectx[field] = value[:200]
            continue

        if kind == OPEN:
            depth = len(is_known) + 1
            parent = known[-1] if known else ""
            mine = name in AGGREGATES
            is_known.append(mine)
            if mine:
                known.append(name)
            if inv_depth or trn is not None:
                continue
            if name in _STATEMENTS and st is None:
                st, st_kind_name, st_line, st_depth = {}, _STATEMENTS[name], line, depth
                oversized_stmt = None
                index += 1
                statements += 1
                yield _S_OPEN, index, f"line {line}"
            elif name == "STMTTRN":
                if st is None and statements == 0:
                    raise InputError(f"a STMTTRN at line {line} is outside any statement "
                                     "(STMTRS, CCSTMTRS)", path=str(path))
                trn, trn_line, trn_depth, trn_outside = {}, line, depth, st is None
                if want_entries:
                    events.begin_capture()
                    events.collect(trn)
                elif skim:
                    events.skim()
            elif st_kind_name == "investment" and st is not None and parent == "INVTRANLIST":
                inv_depth, inv_line, inv_name = depth, line, name
                if want_entries:
                    events.begin_capture()
            elif name == "STATUS":
                for k in ("status code", "status severity", "status message"):
                    filectx.pop(k, None)
            elif name in ("STMTTRNRS", "CCSTMTTRNRS", "INVSTMTTRNRS"):
                filectx.pop("trnuid", None)      # each response has its own (or none)
            continue

        # CLOSE
        depth = len(is_known)
        if is_known.pop():
            known.pop()
        if trn is not None and depth == trn_depth:
            if want_entries:
                raw = events.end_capture()
                at = where(trn_line, line)
                yield _REC, index, (Bad(position=at, raw=raw, reason="STMTTRN outside any statement "
                                        "(STMTRS, CCSTMTRS): its account is unknown") if trn_outside
                                    else _entry(trn, at, raw, flag))
            trn = None
        elif inv_depth and depth == inv_depth:
            inv_depth = 0
            if not want_entries:
                continue
            raw = events.end_capture()
            yield _REC, index, Bad(position=where(inv_line, line), raw=raw, column=inv_name,
                                   reason=f"investment statements (INVSTMTRS) are not read: "
                                          f"{inv_name} transaction not imported")
        elif st is not None and depth == st_depth:
            if oversized_stmt is not None:
                raise InputError(f"{oversized_stmt[0]} at line {oversized_stmt[1]} is longer than "
                                 f"{MAX_VALUE:,} characters", path=str(path))
            yield _S_CLOSE, index, _statement(st, st_kind_name, st_line, filectx)
            st, st_kind_name = None, ""

    if statements == 0:
        said = ""
        if filectx.get("status code", "0") != "0":
            said = (f"; the bank's server answered {filectx.get('status code')} "
                    f"{filectx.get('status severity', '')}: {filectx.get('status message', '')}".rstrip(": "))
        said = "".join(c if c.isprintable() else " " for c in said)[:300]
        raise InputError("no statement in the OFX file (no STMTRS or CCSTMTRS; "
                         f"truncated, or a response without statements){said}", path=str(path))


def _statement(st: dict[str, str], kind_name: str, line: int, filectx: dict[str, str]) -> Statement:
    """The Statement for one STMTRS/CCSTMTRS/INVSTMTRS from the fields read in it."""
    extra: dict[str, str] = {}
    acct_type = st.get("account type") or {"creditcard": "CREDITCARD", "investment": "INVESTMENT"}.get(kind_name)
    for key, value in (("account type", acct_type), ("branch id", st.get("branch id")),
                       ("account key", st.get("account key")), ("fi id", filectx.get("fi id"))):
        if value:
            extra[key] = value[:200]
    return Statement(
        position=f"line {line}", kind="ofx", account=_nospace(st.get("account")),
        currency=st.get("currency") or None, bank_id=st.get("bank_id") or None,
        bank_name=filectx.get("bank_name") or None, statement_id=filectx.get("trnuid") or None,
        created=_split_datetime(filectx.get("created"))[0],
        period_from=_split_datetime(st.get("period_from"))[0],
        period_to=_split_datetime(st.get("period_to"))[0],
        closing_booked=_balance(st.get("ledger"), st.get("ledger date")),
        closing_available=_balance(st.get("avail"), st.get("avail date")),
        date_format=OFX_DATE, extra=extra)


def _balance(amount: str | None, when: str | None) -> Balance | None:
    """A LEDGERBAL/AVAILBAL as a Balance; None when its BALAMT is missing or empty."""
    text, negative = _signed(amount)
    if not text:
        return None
    return Balance(amount=text, date=_split_datetime(when)[0], negative=negative, date_format=OFX_DATE)


def _entry(t: dict, position: str, raw: str, at_eof: bool) -> Entry | Bad:
    """The Entry for one STMTTRN's fields (see ``_Events.collect``), or the Bad saying why
    there is none."""
    oversized, count = t.get("#over"), t.get("#n", 0)
    if at_eof:
        return Bad(position=position, raw=raw, reason="the file ends inside this STMTTRN (truncated)")
    if oversized:
        return Bad(position=position, raw=raw, column=oversized,
                   reason=f"{oversized} is longer than {MAX_VALUE:,} characters")
    if count > MAX_FIELDS:
        return Bad(position=position, raw=raw, reason=f"STMTTRN holds more than {MAX_FIELDS} elements")
    g = t.get
    amount, negative = _signed(g(("STMTTRN", "TRNAMT")))
    posted = (g(("STMTTRN", "DTPOSTED")) or "").strip()
    missing = [n for n, v in (("TRNAMT", amount), ("DTPOSTED", posted)) if not v]
    if missing:
        what = {"TRNAMT": "TRNAMT (amount)", "DTPOSTED": "DTPOSTED (posting date)"}
        return Bad(position=position, raw=raw, column=missing[0],
                   reason="STMTTRN has no " + " and no ".join(what[n] for n in missing))
    booked, time = _split_datetime(posted)
    value_date = _split_datetime(g(("STMTTRN", "DTAVAIL")) or g(("STMTTRN", "DTUSER")))[0]
    trntype = g(("STMTTRN", "TRNTYPE")) or None
    return Entry(
        position=position, amount=amount, direction=DEBIT if negative else CREDIT,
        booking_date=booked, value_date=value_date, time=time,
        currency=g(("CURRENCY", "CURSYM")) or None,
        counterparty_name=g(("STMTTRN", "NAME")) or g(("PAYEE", "NAME")) or g(("STMTTRN", "EXTDNAME")) or None,
        counterparty_account=_nospace(g(("BANKACCTTO", "ACCTID")) or g(("CCACCTTO", "ACCTID"))),
        counterparty_bank=g(("BANKACCTTO", "BANKID")) or None,
        bank_reference=g(("STMTTRN", "FITID")) or g(("STMTTRN", "SRVRTID")) or None,
        customer_reference=g(("STMTTRN", "CHECKNUM")) or g(("STMTTRN", "REFNUM")) or None,
        remittance=g(("STMTTRN", "MEMO")) or None,
        tx_code=trntype, channel=CHANNELS.get(trntype.upper()) if trntype else None,
        date_format=OFX_DATE, raw=raw)


class _LookAhead:
    """The statements of a file read by a second pass, for a statement whose entries are too
    many to hold back until its balances (which OFX writes after the transactions) are read.
    The pass skims over the transactions (stopping exactly where the main pass ends each one);
    as a guard, should it ever disagree with the main pass about where a statement starts, a
    full second pass is used instead."""

    def __init__(self, path: Path):
        self._path = path
        self._it = self._statements(skim=True)
        self._skimmed = True

    def _statements(self, skim: bool) -> Iterator[tuple]:
        return (item for item in _walk(self._path, want_entries=False, skim=skim) if item[0] == _S_CLOSE)

    def statement(self, index: int, position: str) -> Statement:
        for _, i, st in self._it:
            if i == index:
                if st.position == position:
                    return st
                break
        if self._skimmed:        # disagreement: read the statements the slow, exact way
            self._it, self._skimmed = self._statements(skim=False), False
            return self.statement(index, position)
        raise InputError("the file changed while it was being read", path=str(self._path))


def read(path: Path) -> Iterator[Statement | Entry | Bad]:
    """The statements, entries and rejected records of an OFX/QFX file, in file order."""
    path = Path(path)
    held: list[Entry | Bad] | None = None
    index = -1
    position = ""
    ahead: _LookAhead | None = None
    for tag, i, item in _walk(path, want_entries=True):
        if tag == _REC:
            if held is None:
                yield item
                continue
            held.append(item)
            if len(held) > BUFFER_RECORDS:
                ahead = ahead or _LookAhead(path)
                yield ahead.statement(index, position)
                yield from held
                held = None
        elif tag == _S_OPEN:
            held, index, position = [], i, item
        elif held is not None:       # _S_CLOSE of a statement still held back
            yield item
            yield from held
            held = None


# ---------------------------------------------------------------------------------------------
# writer

_ESC1 = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
_ESC1.update({c: f"&#{c};" for c in range(32)})
_ESC2 = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", 9: "&#9;", 10: "&#10;", 13: "&#13;"}
_ESC2.update({c: "\ufffd" for c in range(32) if c not in (9, 10, 13)})
_DIGITS8 = re.compile(r"[0-9]{8}", re.ASCII)
_FROM_CHANNEL = {"cash": "CASH", "check": "CHECK", "card": "POS", "transfer": "XFER", "wire": "XFER",
                 "interest": "INT", "fee": "FEE"}


def _ofx_date(text: str | None, fmt: str | None) -> str | None:
    """A record's date text as OFX ``YYYYMMDD`` (records from other formats carry ISO 8601 or
    ``date_format`` dates, e.g. MT940's ``%y%m%d``)."""
    if text is None:
        return None
    t = text.strip()
    if fmt == OFX_DATE or (fmt is None and _DIGITS8.fullmatch(t)):
        return t
    try:
        d = datetime.strptime(t, fmt).date() if fmt else date.fromisoformat(t[:10])
    except ValueError:
        raise ValueError(f"date {t!r} does not match {fmt or 'ISO 8601'}") from None
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


class _Writer:
    """Writes records as one OFX document, a statement at a time: the signon from the first
    Statement, then per statement its account, the entries, and (after them, where OFX wants
    them) the balances that Statement carried."""

    def __init__(self, fh: TextIO, version: int):
        if version not in (1, 2):
            raise ValueError("OFX version must be 1 (SGML) or 2 (XML)")
        self.fh, self.v2 = fh, version == 2
        self.esc = _ESC2 if self.v2 else _ESC1
        self.started = False
        self.msgset: str | None = None
        self.st: Statement | None = None

    # -- small pieces ------------------------------------------------------------------------
    def _text(self, value: str) -> str:
        out = value.translate(self.esc)
        if out != out.strip():        # keep edge whitespace the reader would trim
            body = out.strip()
            if not body:
                return "".join(f"&#{ord(c)};" for c in out)
            lead = out[:len(out) - len(out.lstrip())]
            trail = out[len(out.rstrip()):]
            out = "".join(f"&#{ord(c)};" for c in lead) + body + "".join(f"&#{ord(c)};" for c in trail)
        return out

    def _leaf(self, parts: list[str], name: str, value: str | None) -> None:
        if value is None:
            return
        text = self._text(value)
        parts.append(f"<{name}>{text}</{name}>\n" if self.v2 else f"<{name}>{text}\n")

    # -- document ----------------------------------------------------------------------------
    def _start(self, first: Statement | None) -> None:
        self.started = True
        if self.v2:
            head = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
                    '<?OFX OFXHEADER="200" VERSION="211" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n')
        else:
            enc = (getattr(self.fh, "encoding", None) or "utf-8").lower().replace("_", "-")
            charset = ("ENCODING:USASCII\nCHARSET:1252\n" if enc in ("cp1252", "windows-1252", "latin-1", "iso-8859-1")
                       else "ENCODING:UTF-8\nCHARSET:NONE\n")
            head = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\n" + charset +
                    "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")
        parts = [head, "<OFX>\n<SIGNONMSGSRSV1>\n<SONRS>\n<STATUS>\n"]
        self._leaf(parts, "CODE", "0")
        self._leaf(parts, "SEVERITY", "INFO")
        parts.append("</STATUS>\n")
        if first is not None:
            self._leaf(parts, "DTSERVER", _ofx_date(first.created, first.date_format))
        self._leaf(parts, "LANGUAGE", "ENG")
        if first is not None and (first.bank_name or first.extra.get("fi id")):
            parts.append("<FI>\n")
            self._leaf(parts, "ORG", first.bank_name)
            self._leaf(parts, "FID", first.extra.get("fi id"))
            parts.append("</FI>\n")
        parts.append("</SONRS>\n</SIGNONMSGSRSV1>\n")
        self.fh.write("".join(parts))

    def statement(self, s: Statement) -> None:
        if not self.started:
            self._start(s)
        self._end_statement()
        cc = (s.extra.get("account type") or "").upper() == "CREDITCARD"
        msgset = "CREDITCARDMSGSRSV1" if cc else "BANKMSGSRSV1"
        parts: list[str] = []
        if msgset != self.msgset:
            if self.msgset:
                parts.append(f"</{self.msgset}>\n")
            parts.append(f"<{msgset}>\n")
            self.msgset = msgset
        parts.append("<CCSTMTTRNRS>\n" if cc else "<STMTTRNRS>\n")
        self._leaf(parts, "TRNUID", s.statement_id)
        parts.append("<STATUS>\n")
        self._leaf(parts, "CODE", "0")
        self._leaf(parts, "SEVERITY", "INFO")
        parts.append("</STATUS>\n")
        parts.append("<CCSTMTRS>\n" if cc else "<STMTRS>\n")
        self._leaf(parts, "CURDEF", s.currency)
        parts.append("<CCACCTFROM>\n" if cc else "<BANKACCTFROM>\n")
        if not cc:
            self._leaf(parts, "BANKID", s.bank_id)
            self._leaf(parts, "BRANCHID", s.extra.get("branch id"))
        self._leaf(parts, "ACCTID", s.account)
        if not cc:
            self._leaf(parts, "ACCTTYPE", s.extra.get("account type"))
        self._leaf(parts, "ACCTKEY", s.extra.get("account key"))
        parts.append("</CCACCTFROM>\n" if cc else "</BANKACCTFROM>\n")
        parts.append("<BANKTRANLIST>\n")
        self._leaf(parts, "DTSTART", _ofx_date(s.period_from, s.date_format))
        self._leaf(parts, "DTEND", _ofx_date(s.period_to, s.date_format))
        self.fh.write("".join(parts))
        self.st = s

    def entry(self, e: Entry) -> None:
        if self.st is None:
            raise ValueError("an Entry came before any Statement")
        parts: list[str] = ["<STMTTRN>\n"]
        credit = e.direction != DEBIT
        code = e.tx_code if e.tx_code and e.tx_code.strip().upper() in TRNTYPES else None
        if code is None:
            code = _FROM_CHANNEL.get(e.channel or "")
            if e.channel in ("ach", "payroll"):
                code = "DIRECTDEP" if credit else "DIRECTDEBIT"
            code = code or ("CREDIT" if credit else "DEBIT")
        self._leaf(parts, "TRNTYPE", code)
        posted = _ofx_date(e.booking_date, e.date_format)
        if posted is not None and e.time:
            hms = (e.time.replace(":", "") + "0000")[:6]
            posted += hms
        self._leaf(parts, "DTPOSTED", posted)
        self._leaf(parts, "DTAVAIL", _ofx_date(e.value_date, e.date_format))
        amount = e.amount.strip()
        self._leaf(parts, "TRNAMT", amount if credit else "-" + amount)
        self._leaf(parts, "FITID", e.bank_reference)
        self._leaf(parts, "CHECKNUM" if code.upper() == "CHECK" else "REFNUM", e.customer_reference)
        self._leaf(parts, "NAME", e.counterparty_name)
        if e.counterparty_account or e.counterparty_bank:
            parts.append("<BANKACCTTO>\n")
            self._leaf(parts, "BANKID", e.counterparty_bank)
            self._leaf(parts, "ACCTID", e.counterparty_account)
            parts.append("</BANKACCTTO>\n")
        self._leaf(parts, "MEMO", e.remittance)
        if e.currency:
            parts.append("<CURRENCY>\n")
            self._leaf(parts, "CURSYM", e.currency)
            parts.append("</CURRENCY>\n")
        parts.append("</STMTTRN>\n")
        self.fh.write("".join(parts))

    def _balance(self, parts: list[str], name: str, b: Balance | None) -> None:
        if b is None:
            return
        parts.append(f"<{name}>\n")
        amount = b.amount.strip()
        self._leaf(parts, "BALAMT", "-" + amount if b.negative else amount)
        self._leaf(parts, "DTASOF", _ofx_date(b.date, b.date_format))
        parts.append(f"</{name}>\n")

    def _end_statement(self) -> None:
        s = self.st
        if s is None:
            return
        cc = self.msgset == "CREDITCARDMSGSRSV1"
        parts = ["</BANKTRANLIST>\n"]
        self._balance(parts, "LEDGERBAL", s.closing_booked)
        self._balance(parts, "AVAILBAL", s.closing_available)
        parts.append("</CCSTMTRS>\n</CCSTMTTRNRS>\n" if cc else "</STMTRS>\n</STMTTRNRS>\n")
        self.fh.write("".join(parts))
        self.st = None

    def finish(self) -> None:
        if not self.started:
            self._start(None)
        self._end_statement()
        self.fh.write((f"</{self.msgset}>\n" if self.msgset else "") + "</OFX>\n")


def write(records: Iterable[Statement | Entry], fh: TextIO, *, version: int = 1) -> None:
    """Write records as an OFX file: 1.x SGML (default) or, with ``version=2``, 2.x XML.

    Streams: one statement's account and balances are held while its entries are written.
    OFX has no place for opening balances, holder name/address, sequence, end-to-end id, batch
    or status: those are not written. The bank's name, FI id and creation date belong to the
    whole file in OFX (the signon): the first Statement's are written. Nothing is invented for
    elements the records do not fill (no ``CURRATE``, ``ACCTTYPE`` or ``TRNUID`` made up): such an
    element is left out. An account type ``CREDITCARD`` (``extra["account
    type"]``) makes a credit-card statement. Bad records are skipped (they hold no values to
    write). Dates from other formats (ISO, ``date_format``) are converted to ``YYYYMMDD``."""
    w = _Writer(fh, version)
    for r in records:
        if isinstance(r, Statement):
            w.statement(r)
        elif isinstance(r, Entry):
            w.entry(r)
        elif not isinstance(r, Bad):
            raise TypeError(f"cannot write a {type(r).__name__} as OFX")
    w.finish()
