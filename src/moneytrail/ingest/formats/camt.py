"""ISO 20022 camt.053 bank-to-customer statements and camt.052 account reports (issue 13).

Every schema version seen in the wild is read, from ``camt.05x.001.01`` (``BkToCstmrStmtV01``,
``PrtryAcct``, ``Btch`` under ``Ntry``) through ``.001.02`` (the common SEPA one) to ``.001.08``
and later (``Sts/Cd``, parties wrapped in ``Pty``, ``BICFI``). Elements are matched by local name,
so any namespace, a prefixed one or none reads the same; the message may sit under ``Document``,
be the root itself, or sit under an envelope (``BizMsgEnvlp/Document``). Several documents
written one after the other into one file are read one after the other (``/Document[2]/...``).

Safety. The XML is parsed by an expat parser that :mod:`defusedxml` set up (its
``DefusedXMLParser``, ``forbid_dtd=True``): a document type declaration (DTD), an entity
declaration or an external reference stops the parse, so there is no entity expansion (billion
laughs) and no network or file access, and the file is refused with one
:class:`~moneytrail.errors.InputError` line. The reader takes expat's events itself rather than
through defusedxml's ``iterparse``: its TreeBuilder would join a 50 MB value into one string and
build an element per tag (35 an entry), where the reader keeps only the text of the statement
header, of the entry and of the transaction detail being read, as flat ``path -> [texts]``
records, each text capped at :data:`MAX_TEXT` characters and each record at :data:`MAX_VALUES`
values, and knows each record's byte offsets (``raw`` is the record's own text, read back).
Elements nested deeper than :data:`MAX_DEPTH`, or :data:`MAX_SILENT` bytes (16 MiB) in which no
record ends (one huge tag, attribute or value: expat would hold it whole and rescan it at every
chunk), stop the file. Memory is flat in the file's size: a 1M-entry file is read in the memory
of one entry; a value over :data:`MAX_TEXT` quarantines its entry (naming the field) and the
reading goes on.

Records. The file gives, in order: one :class:`Statement` per ``Stmt`` (``Rpt``), yielded when
its first ``Ntry`` starts (the header, balances included, precedes the entries in every
version), then one :class:`Entry` per entry *detail*:

* an ``Ntry`` with no or one ``TxDtls`` is one Entry with the ``Ntry`` amount (its single
  detail gives the counterparty and references);
* an ``Ntry`` with several ``TxDtls`` (a batch, a lump-sum booking) is split: one Entry per
  ``TxDtls`` with that detail's amount (``TxDtls/Amt``, or ``AmtDtls/TxAmt/Amt`` in .02) and
  ``batch`` = the entry's ``AcctSvcrRef`` (else ``NtryRef``, else the entry's position). A
  detail without an amount is a :class:`Bad` (the total cannot be divided among the details).
  Details are emitted as they are read, so a batch of 100,000 payments is as flat as one.

Field choices (each the first one present):

* counterparty: the debtor side (``Dbtr``/``DbtrAcct``/``DbtrAgt``) of a credit, the creditor
  side (``Cdtr``/``CdtrAcct``/``CdtrAgt``) of a debit, the other way round for a reversal
  (``RvslInd``: its parties are the original payment's), and the other side whenever the chosen
  one holds the statement's own account; the name falls back to the ultimate party
  (``UltmtDbtr``/``UltmtCdtr``); account = ``IBAN`` or ``Othr/Id``; bank = ``BIC``/``BICFI``,
  ``ClrSysMmbId/MmbId``, ``Othr/Id`` or ``Nm``;
* ``bank_reference``: ``TxDtls/Refs/AcctSvcrRef``, then (an unsplit entry) ``Ntry/AcctSvcrRef``,
  ``NtryRef``; ``customer_reference``: ``InstrId``, ``PmtInfId``, ``MsgId``, then the batch's
  ``Btch/PmtInfId``/``MsgId``; ``end_to_end_id``: ``EndToEndId`` (``NOTPROVIDED``, SEPA's
  placeholder, is no id: None);
* remittance: ``RmtInf/Ustrd`` lines joined by a space, and the structured creditor references
  and ``AddtlRmtInf`` (joined by ``"; "``), else ``AddtlTxInf``, else (unsplit) ``AddtlNtryInf``;
* ``tx_code``: ``BkTxCd/Domn`` as ``DOMAIN/FAMILY/SUBFAMILY`` (``PMNT/RCDT/ESCT``), else
  ``BkTxCd/Prtry/Cd``; ``channel`` from the ISO code where it tells (:func:`channel_of`);
* ``location`` (where a card or cash transaction took place: the ATM, the branch, the
  merchant's terminal): the card transaction's point of interaction, ``CardTx/POI/SysNm`` ("common
  name assigned by the acquirer to the POI system") of the detail, else of the entry
  (``Ntry/CardTx``); no free text is parsed for it;
* dates: ``BookgDt``/``ValDt`` ``Dt``, or the date part of ``DtTm`` (its time goes to ``time``);
* ``status``: ``Sts`` (``Sts/Cd`` from .08 on); direction from ``CdtDbtInd``.

Balances: ``OPBD`` (else ``PRCD``) opening booked, ``CLBD`` closing booked, ``OPAV``/``CLAV``
available; a report (camt.052) that states interim balances instead gives its last ``ITBD``
(``ITAV``) as the closing and, when it states two or more, its first as the opening
(``extra`` says which codes were used). ``DBIT`` balances are negative.

A file truncated or malformed after its first statement keeps what was read: the entry being
read becomes a Bad (and, outside an entry, a Bad that stands for no entry, ``counts_entries``
0, says where the file stopped); before the first statement it is an InputError. So is a DTD or
an entity declaration wherever it is (a second document of the file included).

:func:`write` writes camt.053.001.08, streaming (see its docstring for what it encodes how).
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, TextIO
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from moneytrail.errors import InputError
from moneytrail.ingest.statement import CREDIT, DEBIT, RAW_CHARS, Bad, Balance, Entry, Statement, clip

Record = Statement | Entry | Bad
Rec = dict[str, list[str]]   # a flat record: element path (relative to the record) -> its texts

#: the most characters kept of one element's text (real fields: 140 Ustrd, 500 AddtlNtryInf)
MAX_TEXT = 10_000
#: the most texts kept for one record (an entry, a detail, a statement header)
MAX_VALUES = 2_000
#: the deepest element nesting read (real files: about 15)
MAX_DEPTH = 100
#: the most balances read for one statement
MAX_BALANCES = 64
#: bytes handed to expat at a time, and the most when a token is huge
CHUNK = 1 << 16
MAX_CHUNK = 1 << 22
#: the most bytes read without a record ending (a statement, an entry or a detail) before the
#: file is given up: bounds what one huge tag or value can cost
MAX_SILENT = 1 << 24
#: bytes of a record read back for ``raw`` (a record longer than this is cut)
RAW_BYTES = 4 * RAW_CHARS + 64
#: elements read before a message element must have been found
MAX_PROLOGUE_ELEMENTS = 1_000
#: element paths remembered (real files use a few hundred)
MAX_CACHED_PATHS = 20_000

KINDS = {"BkToCstmrStmt": "camt.053", "BkToCstmrStmtV01": "camt.053",
         "BkToCstmrAcctRpt": "camt.052", "BkToCstmrAcctRptV01": "camt.052"}
OTHER_MESSAGES = {"BkToCstmrDbtCdtNtfctn": "a camt.054 debit/credit notification",
                  "BkToCstmrDbtCdtNtfctnV01": "a camt.054 debit/credit notification",
                  "CstmrCdtTrfInitn": "a pain.001 credit transfer initiation",
                  "CstmrDrctDbtInitn": "a pain.008 direct debit initiation",
                  "CstmrPmtStsRpt": "a pain.002 payment status report",
                  "FIToFICstmrCdtTrf": "a pacs.008 credit transfer"}
STATEMENT_ELEMENTS = ("Stmt", "Rpt")
NOT_PROVIDED = "NOTPROVIDED"

_SNIFF_RE = re.compile(r"<(?:[A-Za-z_][\w.-]{0,40}:)?BkToCstmr(?:Stmt|AcctRpt)(?:V0\d)?[\s>/]")
_SCHEMA_RE = re.compile(r"camt\.05[23]\.\d{3}\.\d{2}")
_ENCODING_RE = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._-]{1,40})[\"']")
_DTTM_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)")
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_IBAN_RE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{9,30}\Z")
_BIC_RE = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9](?:[A-Z0-9]{3})?\Z")
_CODE4_RE = re.compile(r"[A-Z0-9]{4}\Z")
_DOMAIN_CODE_RE = re.compile(r"([A-Z]{4})/([A-Z]{4})/([A-Z]{4})\Z")
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------------------------
# sniff


def sniff(head: bytes) -> bool:
    """True when a file starting with ``head`` is a camt.053 statement or camt.052 report: XML
    (after an optional byte-order mark and blanks) that names a ``BkToCstmrStmt`` or
    ``BkToCstmrAcctRpt`` element in its first bytes. camt.054 notifications, other ISO 20022
    messages, OFX 2.x XML and CSV are not."""
    text = _head_text(head)
    if not text.lstrip().startswith("<"):
        return False
    return _SNIFF_RE.search(text) is not None


def _head_text(head: bytes) -> str:
    """The first bytes as text, enough to look for element names: UTF-16 (with a byte-order
    mark, or the ``<\\0?\\0`` pattern) decoded as such, anything else read byte for byte."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[2:len(head) - len(head) % 2].decode(enc, "replace")
    if head.startswith(b"<\x00"):
        return head[:len(head) - len(head) % 2].decode("utf-16-le", "replace")
    if head.startswith(b"\x00<"):
        return head[:len(head) - len(head) % 2].decode("utf-16-be", "replace")
    return head.decode("latin-1")


# --------------------------------------------------------------------------------------------
# channel from the ISO bank transaction code

_CASH_SUBFAMILIES = {"CWDL", "CDPT", "XBCW", "BCDP", "BCWD", "FCDP", "FCWD", "MIXD", "MSCD"}
_CHECK_SUBFAMILIES = {"CCHQ", "CCCH", "BCHQ", "CRCQ", "URCQ", "UPCQ", "ORCQ", "OPCQ", "CQRV", "NPCC",
                      "CHKD", "XBCQ"}
_ACH_SUBFAMILIES = {"ATXN", "ACOR", "ACDT", "ADBT", "APAC", "ARET", "AREV", "ASET", "ACON"}
_WIRE_SUBFAMILIES = {"DMCT", "XBCT", "PRCT", "SDVA", "FICT"}
_TRANSFER_FAMILIES = {"RCDT", "ICDT", "RRCT", "IRCT"}
_DEBIT_FAMILIES = {"RDDT", "IDDT"}
_CARD_FAMILIES = {"CCRD", "MCRD"}
_CHECK_FAMILIES = {"RCHQ", "ICHQ", "LBOX"}


def channel_of(code: str | None, purpose: str | None = None) -> str | None:
    """The channel (:data:`moneytrail.ingest.mapping.CHANNELS`) an ISO bank transaction code
    ``DOMAIN/FAMILY/SUBFAMILY`` tells, or None when it does not (a proprietary code, ``XTND``).

    The sub-family decides first where it names the kind of money movement whatever the family:
    charges and commission (``CHRG``, ``COMM``, ``FEES``) are fees, ``INTR`` interest, ``SALA``
    payroll, cash withdrawals and deposits (``CWDL``, ``CDPT``, ..., also by card at an ATM) cash,
    cheques check, the ACH sub-families (``ATXN``, ``ACDT``, ...) ach, domestic, cross-border,
    priority and same-day credit transfers (``DMCT``, ``XBCT``, ``PRCT``, ``SDVA``, ``FICT``) wire.
    Then the family: counter transactions (``CNTR``) cash, card families card, cheque families and
    lockboxes check, direct debits (``RDDT``, ``IDDT``) ach, any other credit transfer (``ESCT``
    SEPA, ``BOOK`` internal, standing orders) transfer, family ``OTHR`` other. A ``SALA``
    purpose code makes a transfer payroll."""
    channel = _channel_of_code(code)
    if purpose == "SALA" and channel in (None, "transfer", "wire", "ach"):
        return "payroll"
    return channel


def _channel_of_code(code: str | None) -> str | None:
    m = _DOMAIN_CODE_RE.match(code or "")
    if not m:
        return None
    _domain, family, sub = m.groups()
    if sub in ("CHRG", "COMM", "FEES"):
        return "fee"
    if sub == "INTR" or family == "INTR":
        return "interest"
    if sub == "SALA":
        return "payroll"
    if sub in _CASH_SUBFAMILIES:
        return "cash"
    if sub in _CHECK_SUBFAMILIES:
        return "check"
    if sub in _ACH_SUBFAMILIES:
        return "ach"
    if family == "CNTR":
        return "cash"
    if family in _CARD_FAMILIES:
        return "card"
    if family in _CHECK_FAMILIES:
        return "check"
    if family in _DEBIT_FAMILIES:
        return "ach"
    if family in _TRANSFER_FAMILIES:
        return "wire" if sub in _WIRE_SUBFAMILIES else "transfer"
    if family == "OTHR":
        return "other"
    return None


# --------------------------------------------------------------------------------------------
# reading: flat records


def _v(rec: Rec, *keys: str) -> str | None:
    """The first text of the first of ``keys`` the record has."""
    for k in keys:
        vals = rec.get(k)
        if vals:
            return vals[0]
    return None


def _vs(rec: Rec, key: str) -> list[str]:
    return rec.get(key) or []


class _Stop(Exception):
    """The file cannot be read on from here (not well-formed, truncated, nested too deep)."""


class _RawText:
    """Reads a record's text back from the file by byte offsets, for ``raw``."""

    def __init__(self, fh: BinaryIO, encoding: str):
        self.fh, self.encoding = fh, encoding
        self.gt = ">".encode(encoding)

    def text(self, start: int, end_tag_at: int) -> str:
        """The text from ``start`` to the end of the end tag that begins at ``end_tag_at``."""
        size = max(end_tag_at - start, 0)
        self.fh.seek(start)
        if size <= RAW_BYTES:
            data = self.fh.read(size + 200)
            gt = data.find(self.gt, size)
            data = data[:gt + len(self.gt)] if gt >= 0 else data[:size]
            return clip(data.decode(self.encoding, "replace"))
        data = self.fh.read(RAW_BYTES)
        return data.decode(self.encoding, "ignore")[:RAW_CHARS] + f"… [about {size - RAW_BYTES} more bytes]"

    def head(self, start: int) -> str:
        """The first characters from ``start`` (a record whose end was never read)."""
        self.fh.seek(start)
        return self.fh.read(RAW_BYTES).decode(self.encoding, "ignore")[:RAW_CHARS]


def _file_encoding(head: bytes) -> str:
    """The encoding to read records back in: the byte-order mark, else the XML declaration's
    (when Python knows it), else UTF-8."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(b"<\x00"):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE) or head.startswith(b"\x00<"):
        return "utf-16-be"
    m = _ENCODING_RE.match(head)
    if m:
        try:
            name = codecs.lookup(m.group(1).decode("ascii")).name
            if not isinstance(">".encode(name), bytes):
                return "utf-8"
        except LookupError:            # unknown, or not a text encoding (rot13)
            return "utf-8"
        return "utf-8" if name.startswith("utf-16") else name
    return "utf-8"


class _Reader:
    """The state of one read: expat's handlers, the records being collected and the queue of
    records ready to be yielded (filled while expat parses a chunk, emptied after it)."""

    def __init__(self, path: Path, raw: _RawText):
        self.path, self.raw = path, raw
        self.out: list[Record] = []
        self.statements = 0          # Statements yielded
        self.documents = 0
        self._locals: dict[str, str] = {}
        self._kids: dict[str, dict[str, str]] = {}   # parent path -> tag -> path
        self._cached = 0
        self._special: set[str] = set()      # tags whose local name is a record boundary

    # ---- one document ------------------------------------------------------------------

    def new_document(self, base: int) -> expat.XMLParserType:
        """A defused expat parser for the document starting at byte ``base`` of the file, with
        this reader's handlers."""
        self.documents += 1
        self.base = base
        self.paths: list[str | None] = []     # open elements' paths in their record; None: not kept
        self.names: list[str] = []            # local names down to the message element
        self.text: str | None = None          # the text of the innermost element so far
        self.rec: Rec | None = None           # the record being collected
        self.nvals = 0                        # texts in it
        self.recs: list[tuple[int, Rec | None, int, str]] = []   # open records: depth, outer, its count, kind
        self.msg_depth = -1                   # depth of the message element (-1: not found yet)
        self.top = MAX_DEPTH                  # elements this deep or less go through structure_start
        self.kind = ""
        self.schema = ""
        self.prefix = ""
        self.seen = 0
        self.grphdr: Rec = {}
        self.stmt_index = 0
        self.in_stmt = False
        self.stmt_emitted = False
        self.stmt_pos = ""
        self.balances: list[Rec] = []
        self.in_ntry = False
        self.ntry_depth = -10
        self.holder: str | None = None
        defused = DefusedXMLParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
        # defusedxml configured this expat parser (a DTD, an entity declaration or an external
        # reference raises); the reader takes its element events directly
        ex = defused.parser
        ex.buffer_text = True
        ex.buffer_size = CHUNK
        ex.ordered_attributes = True
        ex.StartElementHandler = self.start
        ex.EndElementHandler = self.end
        ex.CharacterDataHandler = self.data
        self.ex = ex
        return ex

    def local(self, tag: str) -> str:
        """The local name of an expat tag (``uri}Name`` or ``Name``)."""
        name = self._locals.get(tag)
        if name is None:
            name = tag[tag.rfind("}") + 1:]
            if len(self._locals) < 10_000:
                self._locals[tag] = name
        return name

    def child_path(self, parent: str, tag: str) -> str:
        """The path of element ``tag`` under ``parent`` (cached: the same string object each
        time, so record lookups hash it once)."""
        local = self.local(tag)
        path = f"{parent}/{local}" if parent else local
        if self._cached < MAX_CACHED_PATHS:        # a file of ever new names is not cached
            self._cached += 1
            self._kids.setdefault(parent, {})[tag] = path
        return path

    @property
    def doc_done(self) -> bool:
        """Whether the document's message element was found and its root element closed."""
        return self.msg_depth >= 0 and not self.paths

    # ---- expat handlers (the hot path: kept lean) --------------------------------------

    def start(self, tag: str, attrs: list[str]) -> None:
        paths = self.paths
        depth = len(paths)
        self.text = None
        if depth <= self.top or tag in self._special:
            if depth >= MAX_DEPTH:
                raise _Stop(f"elements nested deeper than {MAX_DEPTH} levels")
            path = self.structure_start(self.local(tag), depth, tag)
        else:
            parent = paths[-1]
            if parent is None:
                if depth >= MAX_DEPTH:
                    raise _Stop(f"elements nested deeper than {MAX_DEPTH} levels")
                path = None
            else:
                kids = self._kids.get(parent)
                path = kids.get(tag) if kids is not None else None
                if path is None:
                    if depth >= MAX_DEPTH:
                        raise _Stop(f"elements nested deeper than {MAX_DEPTH} levels")
                    local = self.local(tag)
                    if local in _BOUNDARIES:
                        self._special.add(tag)
                        path = self.structure_start(local, depth, tag)
                    else:
                        path = self.child_path(parent, tag)
        paths.append(path)
        if attrs and path is not None:
            for i in range(0, len(attrs) - 1, 2):
                if attrs[i] == "Ccy":
                    self.put(f"{path}@Ccy", attrs[i + 1][:MAX_TEXT])

    def data(self, text: str) -> None:
        current = self.text
        if current is None:
            self.text = text
        elif len(current) <= MAX_TEXT:
            self.text = current + text

    def end(self, tag: str) -> None:
        path = self.paths.pop()
        if path:
            text = self.text
            if text is not None:
                text = text.strip()
                if text:
                    if len(text) > MAX_TEXT:
                        self.overflow(f"{path.rpartition('/')[2]} is longer than {MAX_TEXT} characters",
                                      path.rpartition("/")[2])
                    elif self.nvals < MAX_VALUES:
                        self.nvals += 1
                        vals = self.rec.get(path)       # type: ignore[union-attr]
                        if vals is None:
                            self.rec[path] = [text]     # type: ignore[index]
                        else:
                            vals.append(text)
                    else:
                        self.overflow(f"more than {MAX_VALUES} elements with text", None)
        elif path is not None:
            self.record_end()
        self.text = None

    # ---- collecting --------------------------------------------------------------------

    def put(self, key: str, text: str) -> None:
        rec = self.rec
        if rec is None:
            return
        if self.nvals >= MAX_VALUES:
            self.overflow(f"more than {MAX_VALUES} elements with text", None)
            return
        self.nvals += 1
        vals = rec.get(key)
        if vals is None:
            rec[key] = [text]
        else:
            vals.append(text)

    def overflow(self, reason: str, column: str | None) -> None:
        """Marks the record being collected as not readable (its text is cut)."""
        rec = self.rec
        if rec is not None and "!" not in rec:
            rec["!"] = [reason]
            if column:
                rec["!col"] = [column]

    def open_record(self, depth: int, kind: str, rec: Rec) -> None:
        """Starts collecting ``rec`` (its root element has the path ``""``)."""
        self.recs.append((depth, self.rec, self.nvals, kind))
        self.rec = rec
        self.nvals = 0

    def record_end(self) -> None:
        _depth, outer, nvals, kind = self.recs.pop()
        rec = self.rec if self.rec is not None else {}
        self.rec, self.nvals = outer, nvals
        end_at = self.base + self.ex.CurrentByteIndex
        if kind == "tx":
            self.detail_end(rec, end_at)
        elif kind == "ntry":
            self.entry_end(rec, end_at)
        elif kind == "stmt":
            if not self.stmt_emitted:
                self.emit_statement(rec)
            self.in_stmt = False

    # ---- structure ---------------------------------------------------------------------

    def structure_start(self, local: str, depth: int, tag: str) -> str | None:
        """Where an element near the top, or on a record boundary, goes: the message element, a
        statement, the group header, a balance, an entry, a transaction detail."""
        if local in _BOUNDARIES:
            self._special.add(tag)
        if self.msg_depth < 0:
            del self.names[depth:]
            self.names.append(local)
            return self.prologue(local, depth, tag)
        rel = depth - self.msg_depth
        if rel == 1:
            return self.message_child(local, depth)
        if rel == 2 and self.in_stmt:
            return self.statement_child(local, depth)
        if self.in_ntry:
            if local == "NtryDtls" and depth == self.ntry_depth + 1:
                self.dtls_index += 1
                self.tx_index = 0
            elif local == "TxDtls" and self.is_detail(depth):
                return self.begin_detail(depth)
        parent = self.paths[-1] if self.paths else None
        return None if parent is None else self.child_path(parent, tag)

    def prologue(self, local: str, depth: int, tag: str) -> str | None:
        """Before the message element: find it (the root, under ``Document``, under an envelope)."""
        self.seen += 1
        if local in KINDS:
            self.msg_depth = depth
            self.top = depth + 2
            self.kind = KINDS[local]
            m = _SCHEMA_RE.search(tag[:300])
            self.schema = m.group(0) if m else ""
            names = self.names[:]
            if self.documents > 1:
                names[0] = f"{names[0]}[{self.documents}]"
            self.prefix = "/" + "/".join(names)
            return None
        if local in OTHER_MESSAGES:
            self.refuse(f"this is {OTHER_MESSAGES[local]} ({local}), not a camt.053 statement or camt.052 report")
        if depth == 1 and self.names[0] == "Document":
            self.refuse(f"the Document holds {local[:60]}, not a camt.053 statement (BkToCstmrStmt) or "
                        "camt.052 report (BkToCstmrAcctRpt)")
        if self.seen > MAX_PROLOGUE_ELEMENTS:
            self.refuse("no camt.053 statement (BkToCstmrStmt) or camt.052 report (BkToCstmrAcctRpt) "
                        "at the top of the XML")
        return None

    def refuse(self, message: str) -> None:
        if self.statements:
            raise _Stop(message)
        raise InputError(message, path=str(self.path))

    def message_child(self, local: str, depth: int) -> str | None:
        if local in STATEMENT_ELEMENTS:
            self.stmt_index += 1
            self.stmt_pos = f"{self.prefix}/{local}[{self.stmt_index}]"
            self.in_stmt = True
            self.stmt_emitted = False
            self.balances = []
            self.ntry_index = 0
            self.in_ntry = False
            self.open_record(depth, "stmt", {})
            return ""
        if local == "GrpHdr":
            self.grphdr = {}
            self.open_record(depth, "grphdr", self.grphdr)
            return ""
        return None

    def statement_child(self, local: str, depth: int) -> str | None:
        if local == "Ntry":
            if not self.stmt_emitted:
                self.emit_statement(self.rec if self.rec is not None else {})
            self.begin_entry(depth)
            return ""
        if self.stmt_emitted:
            return None                  # after the entries (AddtlStmtInf): not needed
        if local == "Bal":
            if len(self.balances) >= MAX_BALANCES:
                return None
            bal: Rec = {}
            self.balances.append(bal)
            self.open_record(depth, "bal", bal)
            return ""
        return local

    def is_detail(self, depth: int) -> bool:
        """Whether a ``TxDtls`` is an entry's detail: under ``Ntry/NtryDtls`` (.02 on) or
        directly under ``Ntry`` (.01)."""
        if depth == self.ntry_depth + 2 and self.paths[-1] == "NtryDtls":
            return True
        if depth == self.ntry_depth + 1:
            self.dtls_index = 0
            return True
        return False

    def begin_entry(self, depth: int) -> None:
        self.ntry_index += 1
        self.in_ntry = True
        self.ntry_depth = depth
        self.ntry_pos = f"{self.stmt_pos}/Ntry[{self.ntry_index}]"
        self.ntry_start = self.base + self.ex.CurrentByteIndex
        self.dtls_index = 0
        self.tx_index = 0
        self.details = 0
        self.held: tuple[Rec, str, int, int] | None = None
        self.open_record(depth, "ntry", {})

    def begin_detail(self, depth: int) -> str:
        self.tx_index += 1
        if self.dtls_index:
            self.tx_pos = f"{self.ntry_pos}/NtryDtls[{self.dtls_index}]/TxDtls[{self.tx_index}]"
        else:
            self.tx_pos = f"{self.ntry_pos}/TxDtls[{self.tx_index}]"
        self.tx_start = self.base + self.ex.CurrentByteIndex
        self.open_record(depth, "tx", {})
        return ""

    # ---- emitting ----------------------------------------------------------------------

    def emit_statement(self, header: Rec) -> None:
        statement = _statement(self.stmt_pos, self.kind, self.schema, header, self.balances, self.grphdr)
        self.holder = statement.account
        self.out.append(statement)
        self.statements += 1
        self.stmt_emitted = True
        header.clear()              # not needed any more: memory stays flat
        self.balances = []

    def detail_end(self, tx: Rec, end_at: int) -> None:
        """A detail read: held while it may be its entry's only one, else emitted."""
        self.details += 1
        if self.details == 1:
            self.held = (tx, self.tx_pos, self.tx_start, end_at)
            return
        ntry = self.rec if self.rec is not None else {}
        batch = _batch_id(ntry, self.ntry_pos)
        if self.held is not None:
            first, pos, start, first_end = self.held
            self.out.append(_split_entry(ntry, first, pos, self.raw.text(start, first_end), batch, self.holder))
            self.held = None
        self.out.append(_split_entry(ntry, tx, self.tx_pos, self.raw.text(self.tx_start, end_at), batch,
                                     self.holder))

    def entry_end(self, ntry: Rec, end_at: int) -> None:
        self.in_ntry = False
        if self.details > 1:
            return
        tx = self.held[0] if self.held is not None else {}
        self.held = None
        self.out.append(_whole_entry(ntry, tx, self.ntry_pos, self.raw.text(self.ntry_start, end_at), self.holder))

    def stopped(self, reason: str) -> None:
        """The file cannot be read on: the entry being read becomes a Bad; outside an entry, a
        Bad that stands for no entry says where the reading stopped."""
        if self.in_ntry and self.in_stmt:
            after = f" after {self.details} of its transaction details" if self.details > 1 else ""
            self.out.append(Bad(self.ntry_pos, self.raw.head(self.ntry_start),
                                f"{reason}: this entry is incomplete{after}, and nothing after it could be read"))
        else:
            place = self.stmt_pos if self.in_stmt else (self.prefix or "/")
            self.out.append(Bad(place, "", f"{reason}: nothing after this point could be read", counts_entries=0))


_BOUNDARIES = frozenset(("TxDtls", "NtryDtls"))


def _statement(pos: str, kind: str, schema: str, h: Rec, balances: list[Rec], grphdr: Rec) -> Statement:
    """A Statement from its header record and balances."""
    extra: dict[str, str] = {}
    for key, value in (("msg_id", _v(grphdr, "MsgId")), ("msg_created", _v(grphdr, "CreDtTm")),
                       ("schema", schema), ("legal_sequence", _v(h, "LglSeqNb")),
                       ("page", _v(h, "StmtPgntn/PgNb", "RptPgntn/PgNb")),
                       ("copy_duplicate", _v(h, "CpyDplctInd")),
                       ("account_name", _v(h, "Acct/Nm")),
                       ("entries_stated", _v(h, "TxsSummry/TtlNtries/NbOfNtries")),
                       ("credits_stated", _v(h, "TxsSummry/TtlCdtNtries/NbOfNtries")),
                       ("credits_sum_stated", _v(h, "TxsSummry/TtlCdtNtries/Sum")),
                       ("debits_stated", _v(h, "TxsSummry/TtlDbtNtries/NbOfNtries")),
                       ("debits_sum_stated", _v(h, "TxsSummry/TtlDbtNtries/Sum"))):
        if value:
            extra[key] = value[:200]
    if "!" in h:
        extra["note"] = f"statement header cut: {h['!'][0]}"
    picked = _pick_balances(balances, extra)
    account = _v(h, "Acct/Id/IBAN", "Acct/Id/Othr/Id", "Acct/Id/PrtryAcct/Id", "Acct/Id/BBAN", "Acct/Id/UPIC")
    currency = _v(h, "Acct/Ccy") or _balance_currency(balances)
    return Statement(
        position=pos, kind=kind,
        account=account.replace(" ", "") if account else None,
        currency=currency,
        holder_name=_v(h, "Acct/Ownr/Nm", "Acct/Ownr/Pty/Nm"),
        holder_address=_address(h, "Acct/Ownr/PstlAdr") or _address(h, "Acct/Ownr/Pty/PstlAdr"),
        bank_id=_agent_id(h, "Acct/Svcr/FinInstnId"),
        bank_name=_v(h, "Acct/Svcr/FinInstnId/Nm", "Acct/Svcr/FinInstnId/NmAndAdr/Nm"),
        statement_id=_v(h, "Id"),
        sequence=_v(h, "ElctrncSeqNb", "LglSeqNb", "StmtPgntn/PgNb", "RptPgntn/PgNb"),
        created=_v(h, "CreDtTm"),
        period_from=_v(h, "FrToDt/FrDtTm", "FrToDt/FrDt"),
        period_to=_v(h, "FrToDt/ToDtTm", "FrToDt/ToDt"),
        opening_booked=picked.get("opening_booked"),
        closing_booked=picked.get("closing_booked"),
        opening_available=picked.get("opening_available"),
        closing_available=picked.get("closing_available"),
        extra=extra,
    )


def _balance_code(b: Rec) -> str | None:
    return _v(b, "Tp/CdOrPrtry/Cd", "Tp/Cd", "Tp/CdOrPrtry/Prtry")


def _balance(b: Rec) -> Balance | None:
    amount = _v(b, "Amt")
    if amount is None:
        return None
    date = _v(b, "Dt/Dt", "Dt/DtTm", "Dt")
    if date:
        date = _split_dttm(date)[0]
    return Balance(amount=amount, date=date, negative=_v(b, "CdtDbtInd") == "DBIT")


def _pick_balances(balances: list[Rec], extra: dict[str, str]) -> dict[str, Balance]:
    """The four balances of the model from the stated ones (see the module docstring); the
    other stated balances and the codes used go to ``extra``."""
    by_code: dict[str, list[Balance]] = {}
    for b in balances:
        code, bal = _balance_code(b), _balance(b)
        if code and bal is not None:
            by_code.setdefault(code[:8], []).append(bal)
    picked: dict[str, Balance] = {}

    def take(field: str, code: str, which: int = 0) -> bool:
        if field not in picked and by_code.get(code):
            picked[field] = by_code[code][which]
            extra[f"{field}_from"] = code
            return True
        return False

    take("opening_booked", "OPBD") or take("opening_booked", "PRCD")
    # a report stating interim balances only: the last closes it, the first (of two or more) opens it
    if take("closing_booked", "CLBD") is False and take("closing_booked", "ITBD", -1) \
            and len(by_code["ITBD"]) >= 2:
        take("opening_booked", "ITBD", 0)
    take("opening_available", "OPAV")
    if take("closing_available", "CLAV") is False and take("closing_available", "ITAV", -1) \
            and len(by_code["ITAV"]) >= 2:
        take("opening_available", "ITAV", 0)
    for code, bals in list(by_code.items())[:16]:
        if code not in ("OPBD", "CLBD", "OPAV", "CLAV"):
            last = bals[-1]
            extra[f"balance_{code}"] = f"{'-' if last.negative else ''}{last.amount[:40]} {last.date or ''}".strip()
    for field in ("opening_booked", "closing_booked", "opening_available", "closing_available"):
        if extra.get(f"{field}_from") in ("OPBD", "CLBD", "OPAV", "CLAV"):
            del extra[f"{field}_from"]       # the usual code: nothing to say
    return picked


def _balance_currency(balances: list[Rec]) -> str | None:
    for b in balances:
        if _balance_code(b) in ("OPBD", "CLBD", "PRCD", "ITBD"):
            ccy = _v(b, "Amt@Ccy")
            if ccy:
                return ccy
    return None


def _address(rec: Rec, base: str) -> str | None:
    """A postal address as one line: street and number, post code and town, the free address
    lines, region, country, joined by ``", "``."""
    def v(name: str) -> str:
        return _v(rec, f"{base}/{name}") or ""

    parts = [f"{v('StrtNm')} {v('BldgNb')}".strip(), f"{v('PstCd')} {v('TwnNm')}".strip(),
             *_vs(rec, f"{base}/AdrLine"), v("CtrySubDvsn"), v("Ctry")]
    return ", ".join(p for p in parts if p) or None


def _agent_id(rec: Rec, base: str) -> str | None:
    return _v(rec, f"{base}/BICFI", f"{base}/BIC", f"{base}/ClrSysMmbId/MmbId", f"{base}/Othr/Id",
              f"{base}/CmbndId/BIC")


def _split_dttm(text: str) -> tuple[str, str | None]:
    """``2014-12-31T13:15:00+01:00`` -> (``2014-12-31``, ``13:15:00``); other text unchanged."""
    m = _DTTM_RE.match(text)
    return (m.group(1), m.group(2)) if m else (text, None)


def _dates(ntry: Rec) -> tuple[str | None, str | None, str | None]:
    """(booking date, value date, booking time) of an entry."""
    booking, time = None, None
    if (b := _v(ntry, "BookgDt/Dt")) is not None:
        booking = b
    elif (b := _v(ntry, "BookgDt/DtTm")) is not None:
        booking, time = _split_dttm(b)
    value = _v(ntry, "ValDt/Dt")
    if value is None and (vt := _v(ntry, "ValDt/DtTm")) is not None:
        value = _split_dttm(vt)[0]
    return booking, value, time


def _tx_code(rec: Rec) -> str | None:
    domain = _v(rec, "BkTxCd/Domn/Cd")
    family = _v(rec, "BkTxCd/Domn/Fmly/Cd")
    sub = _v(rec, "BkTxCd/Domn/Fmly/SubFmlyCd")
    if domain and family and sub:
        return f"{domain}/{family}/{sub}"
    if domain and family:
        return f"{domain}/{family}"
    return _v(rec, "BkTxCd/Prtry/Cd")


def _direction(text: str | None) -> str | None:
    return CREDIT if text == "CRDT" else DEBIT if text == "DBIT" else None


def _status(ntry: Rec) -> str | None:
    return _v(ntry, "Sts", "Sts/Cd", "Sts/Prtry")


def _party(tx: Rec, role: str) -> tuple[str | None, str | None, str | None]:
    """(name, account, bank) of the debtor (``role`` Dbtr) or creditor (Cdtr) side."""
    p = f"RltdPties/{role}"
    name = _v(tx, f"{p}/Nm", f"{p}/Pty/Nm", f"{p}/Agt/FinInstnId/Nm",
              f"RltdPties/Ultmt{role}/Nm", f"RltdPties/Ultmt{role}/Pty/Nm")
    a = f"RltdPties/{role}Acct/Id"
    account = _v(tx, f"{a}/IBAN")
    if account:
        account = account.replace(" ", "")
    else:
        account = _v(tx, f"{a}/Othr/Id", f"{a}/PrtryAcct/Id", f"{a}/BBAN", f"{a}/UPIC")
    g = f"RltdAgts/{role}Agt/FinInstnId"
    bank = (_agent_id(tx, g) or _v(tx, f"{g}/Nm", f"{g}/NmAndAdr/Nm")
            or _agent_id(tx, f"{p}/Agt/FinInstnId"))
    return name, account, bank


def _remittance(tx: Rec) -> str | None:
    unstructured = " ".join(_vs(tx, "RmtInf/Ustrd"))
    structured = "; ".join(_vs(tx, "RmtInf/Strd/CdtrRefInf/Ref") + _vs(tx, "RmtInf/Strd/CdtrRefInf/CdtrRef")
                           + _vs(tx, "RmtInf/Strd/AddtlRmtInf"))
    text = "; ".join(p for p in (unstructured, structured) if p)
    return text or _v(tx, "AddtlTxInf")


def _refs(tx: Rec) -> tuple[str | None, str | None]:
    """(end-to-end id, customer reference) of a detail."""
    e2e = _v(tx, "Refs/EndToEndId")
    if e2e == NOT_PROVIDED:
        e2e = None
    return e2e, _v(tx, "Refs/InstrId", "Refs/PmtInfId", "Refs/MsgId")


def _batch_ref(ntry: Rec) -> str | None:
    return _v(ntry, "NtryDtls/Btch/PmtInfId", "NtryDtls/Btch/MsgId", "Btch/PmtInfId", "Btch/MsgId")


def _batch_id(ntry: Rec, pos: str) -> str:
    return _v(ntry, "AcctSvcrRef", "NtryRef") or pos


def _cut(rec: Rec) -> tuple[str, str | None] | None:
    if "!" in rec:
        return rec["!"][0], _v(rec, "!col")
    return None


def _side(tx: Rec, direction: str | None, reversal: bool, holder: str | None) -> tuple[str | None, ...]:
    """(name, account, bank) of the counterparty: the debtor side of a credit, the creditor side
    of a debit; the other way round for a reversal (its parties are the original payment's); and
    the other side whenever the chosen one is the statement's own account."""
    if direction is None:
        return None, None, None
    first, other = ("Dbtr", "Cdtr") if direction == CREDIT else ("Cdtr", "Dbtr")
    if reversal:
        first, other = other, first
    chosen = _party(tx, first)
    if holder and chosen[1] and chosen[1].replace(" ", "") == holder:
        alternative = _party(tx, other)
        if any(alternative) and alternative[1] != chosen[1]:
            return alternative
    return chosen


def _fill(entry: Entry, ntry: Rec, tx: Rec, code: str | None, holder: str | None) -> Entry:
    """The counterparty, references, remittance and codes of ``entry`` from its detail."""
    reversal = (_v(tx, "RvslInd") or _v(ntry, "RvslInd") or "").lower() in ("true", "1")
    name, account, bank = _side(tx, entry.direction, reversal, holder)
    entry.counterparty_name, entry.counterparty_account, entry.counterparty_bank = name, account, bank
    e2e, customer = _refs(tx)
    entry.end_to_end_id = e2e
    entry.customer_reference = customer or entry.customer_reference
    entry.remittance = _remittance(tx) or entry.remittance
    entry.tx_code = code
    entry.channel = channel_of(code, _v(tx, "Purp/Cd"))
    entry.location = _v(tx, "CardTx/POI/SysNm") or _v(ntry, "CardTx/POI/SysNm")
    return entry


def _whole_entry(ntry: Rec, tx: Rec, pos: str, raw: str, holder: str | None) -> Entry | Bad:
    """One Entry for an ``Ntry`` with no or one detail (``tx``, maybe empty)."""
    cut = _cut(ntry) or _cut(tx)
    if cut:
        return Bad(pos, raw, f"entry not read: {cut[0]}", column=cut[1])
    amount = _v(ntry, "Amt") or _v(tx, "Amt", "AmtDtls/TxAmt/Amt")
    if amount is None:
        return Bad(pos, raw, "entry has no amount (Amt)", column="Amt")
    currency = _v(ntry, "Amt@Ccy") if _v(ntry, "Amt") else _v(tx, "Amt@Ccy", "AmtDtls/TxAmt/Amt@Ccy")
    booking, value, time = _dates(ntry)
    entry = Entry(position=pos, amount=amount,
                  direction=_direction(_v(ntry, "CdtDbtInd") or _v(tx, "CdtDbtInd")),
                  booking_date=booking, value_date=value, time=time, currency=currency,
                  bank_reference=_v(tx, "Refs/AcctSvcrRef") or _v(ntry, "AcctSvcrRef", "NtryRef"),
                  customer_reference=_batch_ref(ntry), remittance=_v(ntry, "AddtlNtryInf"),
                  status=_status(ntry), raw=raw)
    return _fill(entry, ntry, tx, _tx_code(ntry) or _tx_code(tx), holder)


def _split_entry(ntry: Rec, tx: Rec, pos: str, raw: str, batch: str, holder: str | None) -> Entry | Bad:
    """One Entry for a detail of an ``Ntry`` split into several."""
    cut = _cut(ntry) or _cut(tx)
    if cut:
        return Bad(pos, raw, f"transaction detail not read: {cut[0]}", column=cut[1])
    amount = _v(tx, "Amt", "AmtDtls/TxAmt/Amt")
    if amount is None:
        return Bad(pos, raw, f"transaction detail has no amount (Amt or AmtDtls/TxAmt/Amt) and its entry "
                             f"(batch {batch[:80]}) has several details: the entry's total cannot be divided "
                             "among them", column="Amt")
    currency = _v(tx, "Amt@Ccy") if _v(tx, "Amt") else _v(tx, "AmtDtls/TxAmt/Amt@Ccy")
    booking, value, time = _dates(ntry)
    entry = Entry(position=pos, amount=amount,
                  direction=_direction(_v(tx, "CdtDbtInd") or _v(ntry, "CdtDbtInd")),
                  booking_date=booking, value_date=value, time=time, currency=currency,
                  bank_reference=_v(tx, "Refs/AcctSvcrRef"), customer_reference=_batch_ref(ntry),
                  batch=batch, status=_status(ntry), raw=raw)
    return _fill(entry, ntry, tx, _tx_code(tx) or _tx_code(ntry), holder)


# --------------------------------------------------------------------------------------------
# read


def read(path: Path) -> Iterator[Record]:
    """The statements (reports) and entries of a camt.053 (camt.052) file, in file order.

    Raises InputError when the file cannot be used at all: empty, not XML, a DTD or entity
    declaration, not a camt.052/053 message, no statement, or broken before its first statement.
    """
    path = Path(path)
    with open(path, "rb") as fh, open(path, "rb") as rawfh:
        head = fh.read(CHUNK)
        if len(head) < CHUNK and not head.strip(b" \t\r\n\x00"):
            raise InputError("the file is empty", path=str(path))
        reader = _Reader(path, _RawText(rawfh, _file_encoding(head)))
        yield from _parse(reader, fh, head)
        if reader.statements == 0:
            raise InputError("the camt message holds no statement (Stmt) or report (Rpt)", path=str(path))


def _parse(reader: _Reader, fh: BinaryIO, first: bytes) -> Iterator[Record]:
    """Feeds the file to expat chunk by chunk, yielding what each chunk completed; reads a
    further document after the first with a new parser; stops with a Bad where the file breaks."""
    ex = reader.new_document(0)
    chunk = first
    size, silent = CHUNK, 0
    while True:
        final = not chunk
        try:
            ex.Parse(chunk, final)
        except expat.ExpatError as e:
            yield from _drain(reader)
            at = reader.base + ex.ErrorByteIndex
            if reader.doc_done and (nxt := _next_document(fh, at)) is not None:
                if nxt < 0:
                    return                       # only blanks (or NUL padding) after the document
                ex = reader.new_document(nxt)
                fh.seek(nxt)
                chunk = fh.read(CHUNK)
                continue
            _broken(reader, _expat_reason(e))
            yield from _drain(reader)
            return
        except _Stop as e:
            yield from _drain(reader)
            _broken(reader, str(e))
            yield from _drain(reader)
            return
        except DefusedXmlException as e:
            # a DTD or entity is refused outright, even in a second document of the file
            raise InputError(_defused_reason(e), path=str(reader.path)) from None
        except (LookupError, UnicodeError) as e:   # an encoding expat does not know, or bytes not in it
            yield from _drain(reader)
            _broken(reader, f"the XML's encoding cannot be read ({type(e).__name__}: {str(e)[:80]})")
            yield from _drain(reader)
            return
        # expat 2.5 rescans an unfinished token from its start at every call: a huge tag or
        # attribute would cost quadratic time in 64 KiB steps, so the steps grow while the
        # chunks complete no record (at most to MAX_CHUNK: memory stays bounded)
        if reader.out:
            size, silent = CHUNK, 0
        else:
            size, silent = min(size * 2, MAX_CHUNK), silent + len(chunk)
        yield from _drain(reader)
        if final:
            return
        if silent > MAX_SILENT:
            _broken(reader, f"no entry ends within {MAX_SILENT >> 20} MiB of the file (a tag or value of "
                            "that size, which no camt file has)")
            yield from _drain(reader)
            return
        chunk = fh.read(size)


def _next_document(fh: BinaryIO, at: int) -> int | None:
    """What follows a finished document at byte ``at``: -1 when only blanks and NULs, the
    offset of the next ``<`` when another document starts, None for anything else."""
    fh.seek(at)
    while True:
        block = fh.read(CHUNK)
        if not block:
            return -1
        stripped = block.lstrip(b" \t\r\n\x00")
        if stripped.startswith(codecs.BOM_UTF8):
            stripped = stripped[3:]
        if stripped:
            return at + len(block) - len(stripped) if stripped.startswith(b"<") else None
        at += len(block)


def _drain(reader: _Reader) -> Iterator[Record]:
    if reader.out:
        out, reader.out = reader.out, []
        yield from out


def _broken(reader: _Reader, reason: str) -> None:
    """The parse stopped: an InputError before the first statement, else a Bad."""
    if reader.statements == 0:
        raise InputError(reason, path=str(reader.path))
    reader.stopped(reason)


def _expat_reason(e: expat.ExpatError) -> str:
    message = expat.errors.messages.get(e.code, "not well-formed")
    if e.code in (expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
                  expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN]):
        return f"the file ends before the XML does (truncated?) at line {e.lineno}"
    return f"not well-formed XML at line {e.lineno}, column {e.offset}: {message}"


def _defused_reason(e: DefusedXmlException) -> str:
    name = type(e).__name__
    if name == "DTDForbidden":
        return "the XML has a document type declaration (DTD); camt files have none, and it is refused for safety"
    if name == "EntitiesForbidden":
        return "the XML declares entities; camt files have none, and they are refused for safety"
    return "the XML refers to an external resource; it is refused for safety"


# --------------------------------------------------------------------------------------------
# write

_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

#: the ISO code written for an entry whose channel its own code does not tell: (credit, debit)
CHANNEL_CODES = {
    "cash": ("PMNT/CNTR/CDPT", "PMNT/CNTR/CWDL"),
    "ach": ("PMNT/RCDT/ACDT", "PMNT/ICDT/ACDT"),
    "wire": ("PMNT/RCDT/DMCT", "PMNT/ICDT/DMCT"),
    "transfer": ("PMNT/RCDT/ESCT", "PMNT/ICDT/ESCT"),
    "card": ("PMNT/CCRD/POSC", "PMNT/CCRD/POSD"),
    "check": ("PMNT/RCHQ/CCHQ", "PMNT/ICHQ/CCHQ"),
    "payroll": ("PMNT/RCDT/SALA", "PMNT/ICDT/SALA"),
    "fee": ("ACMT/MCOP/CHRG", "ACMT/MDOP/CHRG"),
    "interest": ("ACMT/MCOP/INTR", "ACMT/MDOP/INTR"),
    "other": ("PMNT/OTHR/OTHR", "PMNT/OTHR/OTHR"),
}
#: the most entries written into one batch ``Ntry``
MAX_BATCH = 10_000
_BALANCE_CODES = (("opening_booked", "OPBD"), ("closing_booked", "CLBD"),
                  ("opening_available", "OPAV"), ("closing_available", "CLAV"))


_XML_SPECIAL = re.compile("[&<>\"\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    """``text`` as XML character data: markup escaped, carriage returns kept as references,
    characters XML 1.0 cannot hold dropped."""
    if _XML_SPECIAL.search(text) is None:      # most values: nothing to escape or drop
        return text
    text = _BAD_XML_CHARS.sub("", text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\r", "&#13;"))


def _el(name: str, text: str | None) -> str:
    return "" if text is None else f"<{name}>{_x(text)}</{name}>"


def _iso_date(text: str | None, fmt: str | None) -> str | None:
    """A date for the XML: the text itself when ISO (or unknown), else parsed with ``fmt``."""
    if text is None or fmt is None or _ISO_DATE_RE.match(text):
        return text
    try:
        return datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        return text


def _date_el(name: str, date: str | None, time: str | None, fmt: str | None) -> str:
    date = _iso_date(date, fmt)
    if date is None:
        return ""
    if time:
        if len(time) == 5:
            time += ":00"
        return f"<{name}><DtTm>{_x(date)}T{_x(time)}</DtTm></{name}>"
    return f"<{name}><Dt>{_x(date)}</Dt></{name}>"


def _amount_el(amount: str, currency: str | None) -> str:
    ccy = f' Ccy="{_x(currency)}"' if currency else ""
    return f"<Amt{ccy}>{_x(amount)}</Amt>"


def _account_el(name: str, account: str | None) -> str:
    if account is None:
        return ""
    ident = f"<IBAN>{_x(account)}</IBAN>" if _IBAN_RE.match(account) else f"<Othr><Id>{_x(account)}</Id></Othr>"
    return f"<{name}><Id>{ident}</Id></{name}>"


def _agent_el(bank: str | None, name: str | None = None, *, other: bool = False) -> str:
    """``FinInstnId`` content: ``bank`` as a BIC, a clearing member id (digits) or, not being
    either, a name (a counterparty's bank) or another id (``other``: the statement's bank, whose
    name is ``name``)."""
    ident, tail = "", ""
    if bank is not None:
        if _BIC_RE.match(bank):
            ident = f"<BICFI>{_x(bank)}</BICFI>"
        elif bank.isdigit() and bank.isascii():
            ident = f"<ClrSysMmbId><MmbId>{_x(bank)}</MmbId></ClrSysMmbId>"
        elif other:
            tail = f"<Othr><Id>{_x(bank)}</Id></Othr>"
        else:
            name = bank if name is None else name
    return ident + _el("Nm", name) + tail


def _code_for(entry: Entry) -> tuple[str | None, str | None]:
    """(ISO domain code, proprietary code) to write for an entry: its own code when that tells
    its channel, else the :data:`CHANNEL_CODES` code for the channel (the entry's own code then
    goes in ``Prtry``), so that the channel survives a round trip."""
    code, channel = entry.tx_code, entry.channel
    own = code if code and _DOMAIN_CODE_RE.match(code) else None
    if channel is None or channel_of(own) == channel:
        return (own, None) if own else (None, code)
    canonical = CHANNEL_CODES.get(channel)
    if canonical is None:
        return (own, None) if own else (None, code)
    return canonical[1 if entry.direction == DEBIT else 0], code


def _bktxcd_el(entry: Entry) -> str:
    domain, proprietary = _code_for(entry)
    if domain is None and proprietary is None:
        return ""
    out = ["<BkTxCd>"]
    if domain:
        d, f, s = domain.split("/")
        out.append(f"<Domn><Cd>{d}</Cd><Fmly><Cd>{f}</Cd><SubFmlyCd>{s}</SubFmlyCd></Fmly></Domn>")
    if proprietary:
        out.append(f"<Prtry><Cd>{_x(proprietary)}</Cd></Prtry>")
    out.append("</BkTxCd>")
    return "".join(out)


def _status_el(status: str | None) -> str:
    status = status or "BOOK"
    inner = f"<Cd>{_x(status)}</Cd>" if _CODE4_RE.match(status) else f"<Prtry>{_x(status)}</Prtry>"
    return f"<Sts>{inner}</Sts>"


def _indicator(direction: str | None) -> str:
    return {CREDIT: "<CdtDbtInd>CRDT</CdtDbtInd>", DEBIT: "<CdtDbtInd>DBIT</CdtDbtInd>"}.get(direction or "", "")


def _remittance_els(text: str | None) -> tuple[str, str]:
    """(``RmtInf``, ``AddtlTxInf``) for a remittance text: one ``Ustrd`` up to 140 characters,
    ``AddtlTxInf`` up to 500 (the reader falls back to it), longer text as ``Ustrd`` lines cut at
    spaces (read back joined by a space)."""
    if text is None:
        return "", ""
    if len(text) <= 140:
        return f"<RmtInf><Ustrd>{_x(text)}</Ustrd></RmtInf>", ""
    if len(text) <= 500:
        return "", f"<AddtlTxInf>{_x(text)}</AddtlTxInf>"
    lines = []
    rest = text
    while len(rest) > 140:
        cut = rest.rfind(" ", 1, 141)
        if cut <= 0:
            cut = 140
            lines.append(rest[:cut])
            rest = rest[cut:]
        else:
            lines.append(rest[:cut])
            rest = rest[cut + 1:]
    lines.append(rest)
    return "<RmtInf>" + "".join(f"<Ustrd>{_x(line)}</Ustrd>" for line in lines) + "</RmtInf>", ""


def _card_el(location: str | None) -> str:
    """A ``CardTx`` whose point of interaction is named ``location`` (``POI/SysNm``; its
    mandatory ``Id/Id``, which the record does not hold, is SEPA's ``NOTPROVIDED``)."""
    if location is None:
        return ""
    return (f"<CardTx><POI><Id><Id>{NOT_PROVIDED}</Id></Id><SysNm>{_x(location)}</SysNm></POI>"
            "</CardTx>")


def _details_el(entry: Entry, split: bool, currency: str | None) -> str:
    """One ``TxDtls`` for an entry (with its own amount, indicator, reference and code when it
    is one of a batch); empty when an unsplit entry has nothing for it."""
    refs = "".join((_el("AcctSvcrRef", entry.bank_reference) if split else "",
                    _el("InstrId", entry.customer_reference), _el("EndToEndId", entry.end_to_end_id)))
    out = []
    if refs:
        out.append(f"<Refs>{refs}</Refs>")
    if split:
        out.append(_amount_el(entry.amount, entry.currency or currency))
        out.append(_indicator(entry.direction))
        out.append(_bktxcd_el(entry))
    role = "Cdtr" if entry.direction == DEBIT else "Dbtr"
    party = ""
    if entry.counterparty_name is not None:
        party += f"<{role}><Pty><Nm>{_x(entry.counterparty_name)}</Nm></Pty></{role}>"
    party += _account_el(f"{role}Acct", entry.counterparty_account)
    if party:
        out.append(f"<RltdPties>{party}</RltdPties>")
    if entry.counterparty_bank is not None:
        out.append(f"<RltdAgts><{role}Agt><FinInstnId>{_agent_el(entry.counterparty_bank)}</FinInstnId>"
                   f"</{role}Agt></RltdAgts>")
    rmt, addtl = _remittance_els(entry.remittance)
    out.append(rmt)
    out.append(_card_el(entry.location))
    out.append(addtl)
    body = "".join(out)
    return f"<TxDtls>{body}</TxDtls>" if body or split else ""


def _entry_head(entry: Entry, amount: str, direction: str | None, currency: str | None,
                reference: str | None, code_entry: Entry | None) -> str:
    return "".join(("<Ntry>", _amount_el(amount, currency), _indicator(direction), _status_el(entry.status),
                    _date_el("BookgDt", entry.booking_date, entry.time, entry.date_format),
                    _date_el("ValDt", entry.value_date, None, entry.date_format),
                    _el("AcctSvcrRef", reference), _bktxcd_el(code_entry) if code_entry else ""))


def _entry_el(entry: Entry, currency: str | None) -> str:
    """An ``Ntry`` with one detail (none when there is nothing to put in it)."""
    details = _details_el(entry, False, currency)
    return (_entry_head(entry, entry.amount, entry.direction, entry.currency or currency,
                        entry.bank_reference, entry)
            + (f"<NtryDtls>{details}</NtryDtls>" if details else "") + "</Ntry>\n")


def _net(entries: list[Entry]) -> tuple[str, str] | None:
    """(amount, direction) of a batch's total, or None when an amount is not a number."""
    total = Decimal(0)
    for e in entries:
        try:
            value = Decimal(e.amount)
        except InvalidOperation:
            return None
        if not value.is_finite():
            return None
        total += value if e.direction == CREDIT else -value
    return (format(abs(total), "f"), CREDIT if total >= 0 else DEBIT)


def _batch_el(entries: list[Entry], currency: str | None) -> str:
    """An ``Ntry`` for entries split from one batch (the reader splits it back), or one ``Ntry``
    each when their total cannot be formed."""
    first = entries[0]
    net = _net(entries) if len(entries) > 1 else None
    if net is None:
        return "".join(_entry_el(e, currency) for e in entries)
    amount, direction = net
    # the entry's own code is what a detail without one reads back: write it only when every
    # detail has its own
    coded = all(_code_for(e) != (None, None) for e in entries)
    head = _entry_head(first, amount, direction, first.currency or currency, first.batch, first if coded else None)
    body = "".join(_details_el(e, True, currency) for e in entries)
    return f"{head}<NtryDtls><Btch><NbOfTxs>{len(entries)}</NbOfTxs></Btch>{body}</NtryDtls></Ntry>\n"


def _same_booking(a: Entry, b: Entry) -> bool:
    """Whether ``b`` can share ``a``'s batch ``Ntry`` (the reader gives every detail the
    entry's dates, status and currency)."""
    return (a.batch == b.batch and a.booking_date == b.booking_date and a.value_date == b.value_date
            and a.time == b.time and a.status == b.status and a.currency == b.currency
            and a.direction is not None and b.direction is not None and a.date_format == b.date_format)


def _balance_el(code: str, bal: Balance, currency: str | None) -> str:
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amount_el(bal.amount, currency)}"
            f"<CdtDbtInd>{'DBIT' if bal.negative else 'CRDT'}</CdtDbtInd>"
            f"{_date_el('Dt', bal.date, None, bal.date_format)}</Bal>\n")


def _address_el(address: str | None) -> str:
    if address is None:
        return ""
    parts = address.split(", ")
    if len(parts) > 7 or any(not p or p != p.strip() for p in parts):
        parts = [address]
    return "<PstlAdr>" + "".join(f"<AdrLine>{_x(p)}</AdrLine>" for p in parts) + "</PstlAdr>"


def _statement_el(s: Statement) -> str:
    """A ``Stmt`` start tag and header, up to its first entry."""
    out = ["<Stmt>", _el("Id", s.statement_id), _el("ElctrncSeqNb", s.sequence),
           _el("CreDtTm", s.created)]
    if s.period_from is not None or s.period_to is not None:
        out.append(f"<FrToDt>{_el('FrDtTm', s.period_from)}{_el('ToDtTm', s.period_to)}</FrToDt>")
    acct = _account_el("Acct", s.account)
    inner = acct[len("<Acct>"):-len("</Acct>")] if acct else ""
    inner += _el("Ccy", s.currency)
    if s.holder_name is not None or s.holder_address is not None:
        inner += f"<Ownr>{_el('Nm', s.holder_name)}{_address_el(s.holder_address)}</Ownr>"
    if s.bank_id is not None or s.bank_name is not None:
        inner += f"<Svcr><FinInstnId>{_agent_el(s.bank_id, s.bank_name, other=True)}</FinInstnId></Svcr>"
    if inner:
        out.append(f"<Acct>{inner}</Acct>")
    out.append("\n")
    for field, code in _BALANCE_CODES:
        bal = getattr(s, field)
        if bal is not None:
            out.append(_balance_el(code, bal, s.currency))
    return "".join(out)


class _Writer:
    """Writes records as they come: the document head at the first statement, a ``Stmt`` per
    statement, entries one ``Ntry`` each or, for consecutive entries of one batch, one ``Ntry``
    with a detail each."""

    def __init__(self, fh: TextIO):
        self.fh = fh
        self.started = False
        self.in_stmt = False
        self.currency: str | None = None
        self.group: list[Entry] = []

    def statement(self, s: Statement) -> None:
        self.flush()
        if not self.started:
            created = s.created or datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            msg_id = s.extra.get("msg_id") or f"MONEYTRAIL-{s.statement_id or 'STATEMENT'}"[:35]
            self.fh.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{_NS}">\n<BkToCstmrStmt>\n'
                          f"<GrpHdr>{_el('MsgId', msg_id)}{_el('CreDtTm', created)}</GrpHdr>\n")
            self.started = True
        if self.in_stmt:
            self.fh.write("</Stmt>\n")
        self.fh.write(_statement_el(s))
        self.in_stmt = True
        self.currency = s.currency

    def entry(self, e: Entry) -> None:
        if not self.in_stmt:
            raise ValueError("an Entry comes before any Statement: camt entries belong to a statement")
        if self.group and not (e.batch is not None and _same_booking(self.group[0], e)
                               and len(self.group) < MAX_BATCH):
            self.flush()
        if e.batch is not None and e.direction is not None:
            self.group.append(e)
        else:
            self.fh.write(_entry_el(e, self.currency))

    def flush(self) -> None:
        if self.group:
            self.fh.write(_batch_el(self.group, self.currency))
            self.group = []

    def close(self) -> None:
        self.flush()
        if not self.started:
            raise ValueError("no Statement to write: a camt.053 document holds at least one statement")
        if self.in_stmt:
            self.fh.write("</Stmt>\n")
        self.fh.write("</BkToCstmrStmt>\n</Document>\n")


def write(records: Iterable[Statement | Entry], fh: TextIO) -> None:
    """Writes ``records`` as one camt.053.001.08 document (UTF-8 text: open ``fh`` with
    ``encoding="utf-8"``), one ``Stmt`` per Statement, streaming (nothing is kept but the
    entries of the batch being written).

    Each Entry is an ``Ntry`` with one ``TxDtls``; consecutive entries with the same ``batch``
    (and the same dates, status and currency) become one ``Ntry`` (``AcctSvcrRef`` = the batch,
    amount = their net total) with a ``TxDtls`` each, which :func:`read` splits back. An entry's
    ``tx_code`` of the ``DOMAIN/FAMILY/SUBFAMILY`` shape is written as ``BkTxCd/Domn``, another
    code as ``BkTxCd/Prtry``; an entry whose channel its code does not tell gets the ISO code of
    :data:`CHANNEL_CODES` (its own code then in ``Prtry``), so the channel reads back and the
    code reads back as that ISO code. An entry's ``location`` is written as its detail's card
    transaction point of interaction (``CardTx/POI/SysNm``). A status of None (booked) is written ``BOOK``. Dates with a
    ``date_format`` are written as ISO dates. Values are written as given (a value longer than
    the schema allows is not cut); an absent mandatory value (account, amount currency) is left
    out rather than invented. Bad records are skipped (they are not entries)."""
    w = _Writer(fh)
    for r in records:
        if isinstance(r, Statement):
            w.statement(r)
        elif isinstance(r, Entry):
            w.entry(r)
    w.close()


__all__ = ["CHANNEL_CODES", "channel_of", "read", "sniff", "write"]
