"""SSA EFW2 W-2 submission files (``--format efw2``): ``sniff``, ``read``, ``write`` and the reader.

EFW2 is the Social Security Administration's layout for filing Forms W-2 electronically ("Specifications
for Filing Forms W-2 Electronically", SSA Publication 42-007, formerly MMREF-1). A file is a sequence
of fixed-width records of 512 bytes, each starting with a two-letter identifier::

    RA  submitter         (first record)
    RE  employer          tax year, EIN, name, address, kind of employer, ...
    RW  employee wages    SSN, name, address, the W-2's money boxes in cents
    RO  employee optional (follows its RW)
    RS  state             (follows its RW and RO; layout partly state-specific)
    RT  totals            of the RW records since the last RE
    RU  optional totals   of the RO records since the last RE
    RV  state totals      (optional, state-specific)
    RF  final             number of RW records in the whole file

Money fields are whole cents, right-justified and zero-filled (11 digits in an RW, 15 in an RT).

**Positions read, and where each was checked.** Every position this module reads or writes was
checked against at least one published layout or implementation, and all that it reads against
two (1-based, inclusive, as the specification numbers them):

=====  ===========  ========================================  ==================================
rec.   positions    field                                     checked against
=====  ===========  ========================================  ==================================
all    1-2          record identifier                         [N] [T] [O]
RA     3-11         submitter's EIN (written only)            [N] RA page, [T] ``_compileRA``
RA     12-19        user identification (written only)        [N] RA page, [T]
RE     3-6          tax year (YYYY)                           [N] RE page, [T], [O]
RE     8-16         employer / agent EIN                      [N] RE page, [T], [O]
RE     26           terminating business, 0 (written only)    [N] RE page, [T]
RE     40-96        employer name                             [N] RE page, [T], [O]
RW     3-11         employee SSN                              [N] RW page, [T], [O]
RW     12-26/42-61  first / last name (written only)          [N] RW page, [T], [O]
RW     188-198      wages, tips, other compensation (box 1)   [T] (commented), [O] (lengths sum)
RW     199-209      federal income tax withheld (box 2)       [T], [O]
RW     210-220      social security wages (box 3)             [T], [O]
RW     221-231      social security tax (box 4; written only) [T], [O]
RW     232-242      medicare wages and tips (box 5)           [T], [O]
RW     243-253      medicare tax (box 6; written only)        [T], [O]
RS     3-4          state, as a numeric code                  [N] RS page, [T] (every state case)
RS     10-18        employee SSN (masked in the quarantine)   [N] RS page, [T] (Alabama case)
RT     3-9          number of RW records since the last RE    [N] RT page, [T], [O]
RT     10-24        total wages (box 1)                       [N] RT page, [T], [O]
RT     25-39        total federal income tax withheld         [N] RT page, [T], [O]
RT     40-54        total social security wages               [N] RT page, [T], [O]
RT     55-69        total social security tax (written only)  [N] RT page, [T], [O]
RT     70-84        total medicare wages and tips             [N] RT page, [T], [O]
RT     85-99        total medicare tax (written only)         [N] RT page, [T], [O]
RF     8-16         number of RW records in the file          [T] ``_compileRF``, [O] (5 blanks, 9 digits)
=====  ===========  ========================================  ==================================

[N] NEOGOV's year-end reporting wiki, which restates SSA's layout record by record
(ccare.neogov.com/Wiki/Wiki.jsp?page=W2_EFW2_RECORD_RA, ..._RE, ..._RW, ..._RS, ..._RT).
[T] TimeTrex Community Edition, ``classes/GovernmentForms/country/us/w2.class.php``
(``_compileRA`` ... ``_compileRF``: the record writers, with positions in comments; github.com/
aydancoskun/timetrex-community-edition, commit a532843d). [O] Oracle E-Business Suite Payroll,
package ``PAY_US_MMRF_W2_FORMAT_RECORD`` (``pyusw2fr.pkb`` 120.47; ``format_W2_RE_record``,
``format_W2_RW_record``, ``format_W2_RT_record``, ``format_W2_RF_record``: field lengths
concatenated in order, 11 for RW money fields and 15 for RT ones; github.com/ginnisingh98/
Views-Tables, ``PACKAGE_BODIES/PAY_US_MMRF_W2_FORMAT_RECORD.sql``, commit a6acc67d). SSA's own PDF was not
reachable from here; nothing below was taken from memory alone.

**State codes.** An RS record names the state by a two-digit "postal numeric code" [N]. The codes
read are those on which TimeTrex's table (``_getStateNumericCode``) and the Census Bureau's FIPS
state codes agree (ResDAC's copy of the Census ANSI list): 49 of them. The two sources disagree
on 34 and 35 (TimeTrex: NM and NJ; FIPS: NJ and NM), so those codes, like any other code not in
the table (territories), are **not read**: the row is stored without a state. Two letters in
3-4 (not the specification's form) are taken as written, a postal abbreviation. Only the first
RS after an RW gives its state.

**Left out** (not read, or not checked, and why): the employee's name and address (nothing
stores them: the W2 kind keeps a worker only as a keyed hash); social security and medicare tax
withheld (RW 221-231, 243-253) and the other boxes, and the RT totals beyond the four above (not
stored, so not summed); the RO, RU and RV records (read as structure only); RE 174, kind of
employer, and RE 219, employment code (their value lists could not be checked, so the writer
leaves them blank); EFW2C correction files (``RCA``..., 1024 bytes) are not this format.

**Rows and counting.** ``read`` yields, in file order, one :class:`Row` per *data row*: every RW
record (joined with the EIN, name and tax year of the RE before it), and every record that is
quarantined for what it is rather than for a value: a record not 512 bytes long, an unknown
identifier, an RW before any RE or after the RT that closed its employer, a money field that is
not all digits, an RT whose count or totals do not match the RW records it closes (or are not
digits), an RE that no RT ever closes (its totals could not be checked), an RF whose count does
not match the file's RW records, an RO or RS that follows no RW, an RA that is not the first
record, a record after the RF. Well-formed RA, RE, RO, RS, RT,
RU, RV and RF records that pass their checks are the file's structure, not data rows: they are
counted in the source's ``note`` (``moneytrail sources``, the report). So ``rows read = rows
stored + rows quarantined`` holds for data rows, and ``source_row`` is the record's **line
number** in the file (its ordinal for a file without line breaks): provenance names the exact
512-byte record. A failed RT check leaves the RW records stored (each is the employer's own
statement of one worker's wages) and quarantines the RT with the differences: the mismatch is in
the result's quarantine count, never dropped.

**Lenience.** Records ended by CR LF or LF, or a file without line breaks (cut every 512
bytes); a final Ctrl-Z; blank lines (skipped, counted in the note); a line of 512 characters of
UTF-8 (an accented name makes it longer than 512 bytes) is read by characters; a file that starts
with an RE (some state files have no RA).

**SSNs.** The SSN goes to :func:`moneytrail.ingest.records.load_records` (the W2 kind), which
keeps only a keyed hash and the last four digits (:mod:`moneytrail.ingest.workerid`). The raw
text kept for a quarantined record has the SSN masked by position (RW 3-7, RS 10-14 become
``*****``, the last four kept); a record whose layout cannot be trusted (wrong length, unknown
identifier) has every run of nine or more digits masked that way, and every nine-digit
identifier written with dashes or blanks masked by :func:`workerid.mask_text`.

**Federal tax information.** W-2 data obtained *from the IRS* (the SSA passes it to the IRS; the
IRS discloses it under 26 U.S.C. 6103(i)) is federal tax information: ingest it with an
``fti:NAME`` tag per taxpayer (docs/authority.md). The same file obtained from the *employer*
(its own submission, or its payroll provider's, under a subpoena or consent) is the employer's
record and not FTI. The reader does not decide which: the legal-basis tag is the user's to give.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping

from moneytrail.errors import InputError
from moneytrail.ingest.textfile import Batch

KIND = "efw2"
RECORD_LEN = 512
IDS = ("RA", "RE", "RW", "RO", "RS", "RT", "RU", "RV", "RF")
_IDS_B = tuple(i.encode() for i in IDS)

#: the columns of the rows ``read`` yields: the W2 kind's fields (moneytrail.ingest.records.W2)
HEADER = ["employer_ein", "employer_name", "tax_year", "worker_ssn", "wages", "withholding", "ss_wages",
          "medicare_wages", "state"]

# positions, 1-based and inclusive as the specification numbers them (see the table above)
RA_EIN = (3, 11)
RE_YEAR, RE_EIN, RE_NAME = (3, 6), (8, 16), (40, 96)
RW_SSN, RW_FIRST, RW_LAST = (3, 11), (12, 26), (42, 61)
RW_MONEY = (("wages", (188, 198), "wages, tips, other compensation"),
            ("withholding", (199, 209), "federal income tax withheld"),
            ("ss_wages", (210, 220), "social security wages"),
            ("medicare_wages", (232, 242), "medicare wages and tips"))
RS_STATE, RS_SSN = (3, 4), (10, 18)
RT_COUNT = (3, 9)
RT_MONEY = ((10, 24), (25, 39), (40, 54), (70, 84))      # in RW_MONEY's order
RF_COUNT = (8, 16)

# Writer only: the RW and RT numeric fields that are zero-filled when empty, as TimeTrex writes
# them (RW 188-264 boxes 1-7, 276-341, 353-396, 408-473; indicators 486, 488, 489; RT 10-114,
# 130-219, 235-414); everything else not written is blank.
_RW_ZERO = ((188, 264), (276, 341), (353, 396), (408, 473), (486, 486), (488, 489))
_RT_ZERO = ((10, 114), (130, 219), (235, 414))
_RW_SS_TAX, _RW_MED_TAX = (221, 231), (243, 253)
_RT_SS_TAX, _RT_MED_TAX = (55, 69), (85, 99)

#: RS 3-4 numeric state codes read: where TimeTrex's table and the Census FIPS codes agree
#: (34 and 35 are not: see the module docstring)
STATE_CODES = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT", "10": "DE", "11": "DC",
    "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL", "18": "IN", "19": "IA", "20": "KS", "21": "KY",
    "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT",
    "31": "NE", "32": "NV", "33": "NH", "36": "NY", "37": "NC", "38": "ND", "39": "OH", "40": "OK", "41": "OR",
    "42": "PA", "44": "RI", "45": "SC", "46": "SD", "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA",
    "53": "WA", "54": "WV", "55": "WI", "56": "WY"}
_STATE_NUMBER = {v: k for k, v in STATE_CODES.items()}

LINE_LIMIT = 4096            # bytes of one line kept (a record is 512; the rest of a longer line is counted)
BATCH_ROWS = 100_000         # data rows per batch handed to the loader
_DIGIT_RUN = re.compile(r"[0-9]{9,}")


# -- what the reader yields ----------------------------------------------------------------------

@dataclass
class Row:
    """One data row: an RW record's fields (``HEADER``'s order; the SSN in clear, for the loader
    to hash), or a record quarantined as a whole (``problem``: column, reason; fields all None).
    ``raw`` is the record's text with the SSN masked; ``employer_line`` the line of the RE that
    the RW's employer fields come from."""

    line: int
    fields: list[str | None]
    raw: str
    problem: tuple[str | None, str] | None = None
    employer_line: int | None = None


@dataclass
class _Employer:
    line: int
    ein: str
    name: str
    year: str
    rw: int = 0
    sums: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    unreadable: int = 0           # RW records whose amounts could not be read (not in the sums)
    bad: int = 0                  # records of its block quarantined as unreadable (length, identifier)
    first_rw: int | None = None
    last_rw: int | None = None
    closed_by: int | None = None  # the RT's line


def _f(text: str, pos: tuple[int, int]) -> str:
    return text[pos[0] - 1:pos[1]]


def _int(text: str, pos: tuple[int, int]) -> int | None:
    s = _f(text, pos)
    return int(s) if s.isdigit() and s.isascii() else None


def _cents(c: int) -> str:
    return f"{c // 100}.{c % 100:02d}"


def _text(s: str) -> str:
    """A text field, trimmed; bytes read one-to-one (Latin-1) that are UTF-8 read as UTF-8."""
    s = s.strip()
    if s and not s.isascii():
        try:
            s = s.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return s


def _shown(s: str) -> str:
    return repr(s if len(s) <= 20 else s[:20] + "…")


def _mask_at(text: str, pos: tuple[int, int]) -> str:
    """``text`` with positions ``pos`` (a nine-character SSN field) masked but its last four."""
    a, b = pos
    return text[:a - 1] + "*" * (b - a - 3) + text[b - 4:]


def _mask_all(text: str) -> str:
    """Every run of nine or more digits masked but its last four; every nine-digit identifier
    written with dashes or blanks masked (a record whose layout cannot be trusted)."""
    from moneytrail.ingest.workerid import mask_text

    text = _DIGIT_RUN.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)
    return mask_text(text)


# -- sniffing ------------------------------------------------------------------------------------

def sniff(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) is an EFW2 file: it starts with an RA (or, as some
    state files do, an RE) record of 512 bytes, ended by a line break or followed by another
    record identifier."""
    if head[:2] not in (b"RA", b"RE"):
        return False
    nl = head.find(b"\n")
    if nl != -1:
        return len(head[:nl].rstrip(b"\r")) == RECORD_LEN
    return len(head) == RECORD_LEN or (len(head) >= RECORD_LEN + 2 and head[RECORD_LEN:RECORD_LEN + 2] in _IDS_B)


# -- reading -------------------------------------------------------------------------------------

def _physical(fh: BinaryIO) -> Iterator[tuple[int, bytes, int]]:
    """(line number, bytes, length) of each record: each line of a file with line breaks (CR LF,
    LF), or each 512 bytes of a file without any. A final lone Ctrl-Z (DOS end of file) is not a
    record."""
    head = fh.read(RECORD_LEN * 2 + 2)
    lines = b"\n" in head
    fh.seek(0)
    n = 0
    if not lines:
        while True:
            block = fh.read(RECORD_LEN)
            if not block or block == b"\x1a":
                return
            n += 1
            yield n, block, len(block)
    while True:
        line = fh.readline(LINE_LIMIT)
        if not line:
            return
        size, tail = len(line), line[-2:]
        if not line.endswith(b"\n") and size == LINE_LIMIT:      # longer: count the rest, keep the start
            while True:
                more = fh.readline(1 << 16)
                size += len(more)
                tail = (tail + more)[-2:]
                if not more or more.endswith(b"\n"):
                    break
        n += 1
        end = 2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0     # the line break's bytes
        size -= end
        body = line[:size] if size < len(line) else line
        if body == b"\x1a":
            at = fh.tell()
            if not fh.read(1):
                return
            fh.seek(at)
        yield n, body, size


class Scan:
    """One pass over an EFW2 file: :meth:`rows` yields its data rows; afterwards ``counts`` (records
    by identifier), ``checks`` (RT and RF checks made and failed) and ``notes`` (what is wrong with
    the file as a whole) say what the structure held."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.counts: dict[str, int] = {}
        self.checks = {"rt_ok": 0, "rt_failed": 0, "rf_ok": 0, "rf_failed": 0}
        self.blank = 0
        self.notes: list[str] = []

    # the checks that close an employer's block
    def _unclosed(self, emp: _Employer | None, what: str, text: str) -> Row | None:
        if emp is None or emp.closed_by is not None:
            return None
        rws = f"its {emp.rw} RW record(s)" + (f" (lines {emp.first_rw}-{emp.last_rw})" if emp.rw else "")
        return Row(emp.line, [None] * len(HEADER), text,
                   ("record", f"RE (employer) record at line {emp.line} (EIN {emp.ein.strip() or 'blank'}): no RT "
                              f"(totals) record closes {rws} before {what}, so their totals could not be checked; "
                              f"the RW records are kept"))

    def rows(self) -> Iterator[Row]:
        emp: _Employer | None = None
        re_text = ""                  # the open RE's text, for its quarantine row
        pending: Row | None = None    # the last RW, waiting for an RS to give its state
        rw_total = 0
        after_rw = False              # the last record read (RO and RS aside) was an RW
        rf_line: int | None = None
        first = True
        none = [None] * len(HEADER)

        def flush() -> list[Row]:
            """The RW waiting for its RS, if one is: it is given before anything read after it."""
            nonlocal pending
            out, pending = ([pending] if pending else []), None
            return out

        def unreadable() -> list[Row]:
            """For a record that cannot be read at all: the waiting RW first; the open employer
            counts the record (its RT check allows for it), and no RO or RS may follow it."""
            nonlocal after_rw
            if emp is not None and emp.closed_by is None:
                emp.bad += 1
            after_rw = False
            return flush()

        with open(self.path, "rb") as fh:
            for n, body, size in _physical(fh):
                if size == 0 or (size < RECORD_LEN and not body.strip()):
                    self.blank += 1
                    continue
                text = body.decode("latin-1")
                if size != RECORD_LEN:
                    try:   # 512 characters of UTF-8 (a name with accents) are read as written
                        u = body.decode("utf-8")
                        text = u if len(u) == RECORD_LEN and size <= LINE_LIMIT else text
                    except UnicodeDecodeError:
                        pass
                rid = text[:2]
                is_first, first = first, False
                if len(text) != RECORD_LEN or size > LINE_LIMIT:
                    yield from unreadable()
                    what = f"an {rid} record" if rid in IDS else "a record"
                    yield Row(n, list(none), _mask_all(text), (
                        "record", f"line {n} is {size:,} bytes long, not {RECORD_LEN} as every EFW2 record is "
                                  f"({'it begins like ' + what if rid.strip() else 'unreadable'}); not read"))
                    continue
                if rid in IDS:
                    self.counts[rid] = self.counts.get(rid, 0) + 1
                else:
                    yield from unreadable()
                    self.counts["unknown"] = self.counts.get("unknown", 0) + 1
                    yield Row(n, list(none), _mask_all(text), (
                        "positions 1-2", f"{rid!r} at positions 1-2 of line {n} is not an EFW2 record identifier "
                                         f"({', '.join(IDS)}); not read"))
                    continue
                if rid in ("RO", "RS"):
                    masked = _mask_at(text, RS_SSN) if rid == "RS" else text
                    if rf_line is not None or not after_rw:
                        yield from flush()
                        why = (f"comes after the RF (final) record at line {rf_line}" if rf_line is not None
                               else "follows no RW (employee) record")
                        yield Row(n, list(none), masked, ("record", f"{rid} record at line {n} {why}; not read"))
                        continue
                    if rid == "RS" and pending is not None and pending.problem is None and pending.fields[8] is None:
                        code = _f(text, RS_STATE)
                        state = STATE_CODES.get(code)
                        if state is None and code.isalpha() and code.isascii():
                            state = code.upper()
                        pending.fields[8] = state
                    continue
                yield from flush()
                after_rw = False
                if rf_line is not None:
                    raw = _mask_at(text, RW_SSN) if rid == "RW" else text
                    yield Row(n, list(none), raw, ("record", f"{rid} record at line {n} comes after the RF (final) "
                                                             f"record at line {rf_line}; not read"))
                    continue
                if rid == "RA":
                    if not is_first:
                        yield Row(n, list(none), text, ("record", f"RA (submitter) record at line {n}: the "
                                                                  f"submitter record is the file's first record"))
                    continue
                if rid == "RE":
                    bad = self._unclosed(emp, f"the next RE at line {n}", re_text)
                    if bad is not None:
                        yield bad
                    emp = _Employer(n, _f(text, RE_EIN), _text(_f(text, RE_NAME)), _f(text, RE_YEAR))
                    re_text = text
                    continue
                if rid == "RW":
                    rw_total += 1
                    after_rw = True
                    raw = _mask_at(text, RW_SSN)
                    if emp is None or emp.closed_by is not None:
                        why = ("comes before any RE (employer) record" if emp is None else
                               f"comes after the RT (totals) record at line {emp.closed_by} that closed the "
                               f"employer of line {emp.line}")
                        pending = Row(n, list(none), raw, ("record", f"RW record at line {n} {why}: no employer to "
                                                                     f"join it to; not read"))
                        continue
                    emp.rw += 1
                    emp.first_rw = emp.first_rw or n
                    emp.last_rw = n
                    amounts = [_int(text, pos) for _, pos, _ in RW_MONEY]
                    bad_at = next((k for k, a in enumerate(amounts) if a is None), None)
                    if bad_at is not None:
                        emp.unreadable += 1
                        name, pos, label = RW_MONEY[bad_at]
                        pending = Row(n, list(none), raw, (
                            f"positions {pos[0]}-{pos[1]}",
                            f"RW record at line {n}: positions {pos[0]}-{pos[1]} ({label}) hold "
                            f"{_shown(_f(text, pos))}, not 11 digits (an amount in cents)"), emp.line)
                        continue
                    cents = [a for a in amounts if a is not None]
                    for k, a in enumerate(cents):
                        emp.sums[k] += a
                    pending = Row(n, [emp.ein.strip(), emp.name, emp.year.strip(), _f(text, RW_SSN),
                                      *(_cents(a) for a in cents), None], raw, None, emp.line)
                    continue
                if rid == "RT":
                    if emp is None or emp.closed_by is not None:
                        why = ("follows no RE (employer) record" if emp is None else
                               f"follows the RT at line {emp.closed_by}, which already closed the employer of "
                               f"line {emp.line}")
                        yield Row(n, list(none), text, ("record", f"RT (totals) record at line {n} {why}; not read"))
                        continue
                    emp.closed_by = n
                    bad = self._rt_check(emp, text, n)
                    if bad is None:
                        self.checks["rt_ok"] += 1
                    else:
                        self.checks["rt_failed"] += 1
                        yield bad
                    continue
                if rid == "RF":
                    bad = self._unclosed(emp, f"the RF (final) record at line {n}", re_text)
                    if bad is not None:
                        yield bad
                    emp = None
                    rf_line = n
                    count = _int(text, RF_COUNT)
                    if count is None or count != rw_total:
                        self.checks["rf_failed"] += 1
                        said = (f"holds {_shown(_f(text, RF_COUNT))}, not 9 digits" if count is None else
                                f"says {count:,} RW records")
                        yield Row(n, list(none), text, (
                            f"positions {RF_COUNT[0]}-{RF_COUNT[1]}",
                            f"RF (final) record at line {n}: positions {RF_COUNT[0]}-{RF_COUNT[1]} (number of RW "
                            f"records) {said}; the file holds {rw_total:,}"))
                    else:
                        self.checks["rf_ok"] += 1
                    continue
                # RU, RV: structure only
            yield from flush()
            bad = self._unclosed(emp, "the end of the file", re_text)
            if bad is not None:
                yield bad
        if not self.counts.get("RA"):
            self.notes.append("no RA (submitter) record")
        if rf_line is None:
            self.notes.append("no RF (final) record: the file may be cut short; the RW count was not checked")
        if self.blank:
            self.notes.append(f"{self.blank} blank line(s) skipped")

    def _rt_check(self, emp: _Employer, text: str, n: int) -> Row | None:
        """The RT at line ``n`` against the RW records of ``emp``: None when they agree, else the
        RT as a quarantined row saying what differs."""
        labels = [label for _, _, label in RW_MONEY]
        count = _int(text, RT_COUNT)
        totals = [_int(text, pos) for pos in RT_MONEY]
        unreadable = [(RT_COUNT, "number of RW records")] if count is None else []
        unreadable += [(pos, labels[k]) for k, (pos, t) in enumerate(zip(RT_MONEY, totals)) if t is None]
        where = (f"the {emp.rw} RW record(s) of the RE (employer) record at line {emp.line} "
                 f"(EIN {emp.ein.strip() or 'blank'})")
        if unreadable:
            pos, label = unreadable[0]
            width = pos[1] - pos[0] + 1
            return Row(n, [None] * len(HEADER), text, (
                f"positions {pos[0]}-{pos[1]}",
                f"RT (totals) record at line {n}: positions {pos[0]}-{pos[1]} ({label}) hold "
                f"{_shown(_f(text, pos))}, not {width} digits; its totals of {where} could not be checked"))
        diffs = []
        assert count is not None and None not in totals
        if count != emp.rw:
            diffs.append(f"number of RW records (positions {RT_COUNT[0]}-{RT_COUNT[1]}): {count:,} in the RT, "
                         f"{emp.rw:,} in the file")
        for k, pos in enumerate(RT_MONEY):
            t = totals[k]
            if t is not None and t != emp.sums[k]:
                diffs.append(f"{labels[k]} (positions {pos[0]}-{pos[1]}): {_cents(t)} in the RT, "
                             f"{_cents(emp.sums[k])} summed")
        if not diffs:
            return None
        notes = []
        if emp.unreadable:
            notes.append(f"{emp.unreadable} RW record(s) with unreadable amounts are not in the sums")
        if emp.bad:
            notes.append(f"{emp.bad} unreadable record(s) in the block are not counted")
        return Row(n, [None] * len(HEADER), text, (
            "record", f"RT (totals) record at line {n} does not match {where}: " + "; ".join(diffs)
            + (f" ({'; '.join(notes)})" if notes else "") + "; the RW records are kept"))

    def note(self) -> str:
        """What the file's structure held, for the source's note."""
        parts = [f"{self.counts[i]:,} {i}" for i in IDS if self.counts.get(i)]
        rt = self.checks["rt_ok"] + self.checks["rt_failed"]
        checks = f"RT totals checked: {self.checks['rt_ok']} of {rt} match" if rt else "no RT totals to check"
        if self.checks["rf_ok"] + self.checks["rf_failed"]:
            checks += "; RF count " + ("matches" if self.checks["rf_ok"] else "does not match")
        text = f"EFW2: {', '.join(parts) or 'no records'}; {checks}"
        if self.counts.get("unknown"):
            text += f"; {self.counts['unknown']} record(s) of unknown type"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text


def read(path: Path | str) -> Iterator[Row]:
    """The data rows of the EFW2 file at ``path`` (see :class:`Scan` for what the structure held)."""
    return Scan(path).rows()


# -- writing -------------------------------------------------------------------------------------

def _amount_cents(value: Any, what: str, digits: int) -> int:
    try:
        d = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not an amount") from None
    c = d * 100
    if c != c.to_integral_value() or c < 0 or c >= 10 ** digits:
        raise ValueError(f"{what} {value!r} is not an amount of 0 to {10 ** (digits - 2) - 1:,}.99 in whole cents")
    return int(c)


class _Record:
    def __init__(self, rid: str, zero: tuple[tuple[int, int], ...] = ()):
        self.buf = [" "] * RECORD_LEN
        self.put((1, 2), rid)
        for a, b in zero:
            self.put((a, b), "0" * (b - a + 1))

    def put(self, pos: tuple[int, int], value: str, *, number: bool = False) -> None:
        a, b = pos
        width = b - a + 1
        value = str(value)
        if number:
            if not value.isdigit() or len(value) > width:
                raise ValueError(f"{value!r} does not fit positions {a}-{b} as digits")
            value = value.rjust(width, "0")
        else:
            value = value[:width].ljust(width)
        self.buf[a - 1:b] = list(value)

    def text(self) -> str:
        return "".join(self.buf)


def _ascii(s: Any) -> str:
    """Text for a field: folded to printable ASCII (accents dropped), trimmed."""
    import unicodedata

    s = unicodedata.normalize("NFKD", str(s or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[^\x20-\x7e]", " ", s).strip()


def write(rows: Iterable[Mapping[str, Any]], out: Path | str | BinaryIO | None = None, *,
          submitter_ein: str = "000000000", user_id: str = "", newline: bytes = b"\r\n") -> bytes:
    """An EFW2 file of ``rows`` (each with ``HEADER``'s keys; optionally ``ss_tax``,
    ``medicare_tax``, ``first_name``, ``last_name``): an RA, then per employer (EIN, name, tax year,
    in order of first appearance) an RE, its RW records (each followed by an RS when the row names
    a ``state``), an RT with their count and totals, and an RF with the file's RW count. Returns
    the bytes, also written to ``out`` (a path or a binary file) when given.

    Amounts are decimal (text, ``Decimal`` or int) and written in cents; an SSN or EIN must be
    nine digits (dashes allowed); a state must have a verified numeric code (``STATE_CODES``).
    What is written is what this module's positions table lists, with numeric fields zero-filled
    as TimeTrex fills them; the fields whose values could not be verified (RE kind of employer,
    employment code; the RA's contact and software fields) are left blank, so SSA's own checks
    (AccuWage) would ask for them: this writer is for tests and synthetic data, not for filing."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (re.sub(r"[- ]", "", str(r.get("employer_ein") or "")), _ascii(r.get("employer_name")),
               str(r.get("tax_year") or ""))
        groups.setdefault(key, []).append(r)

    def nine(value: Any, what: str) -> str:
        d = re.sub(r"[- ]", "", str(value or ""))
        if not re.fullmatch("[0-9]{9}", d):
            raise ValueError(f"{what} {value!r} is not nine digits")
        return d

    lines: list[str] = []
    ra = _Record("RA")
    ra.put(RA_EIN, nine(submitter_ein, "submitter_ein"), number=True)
    ra.put((12, 19), _ascii(user_id))
    lines.append(ra.text())
    total = 0
    for (ein, name, year), members in groups.items():
        if not re.fullmatch("[0-9]{4}", year):
            raise ValueError(f"tax_year {year!r} is not a year (YYYY)")
        rec = _Record("RE")
        rec.put(RE_YEAR, year, number=True)
        rec.put(RE_EIN, nine(ein, "employer_ein"), number=True)
        rec.put((26, 26), "0")                     # terminating business indicator: not the last year
        rec.put(RE_NAME, name)
        lines.append(rec.text())
        sums = [0] * 6
        for r in members:
            rw = _Record("RW", _RW_ZERO)
            rw.put(RW_SSN, nine(r.get("worker_ssn"), "worker_ssn"), number=True)
            rw.put(RW_FIRST, _ascii(r.get("first_name")))
            rw.put(RW_LAST, _ascii(r.get("last_name")))
            values = [_amount_cents(r.get(k), k, 11) for k, _, _ in RW_MONEY]
            values += [_amount_cents(r.get(k), k, 11) for k in ("ss_tax", "medicare_tax")]
            for (_, pos, _), c in zip(RW_MONEY, values):
                rw.put(pos, str(c), number=True)
            rw.put(_RW_SS_TAX, str(values[4]), number=True)
            rw.put(_RW_MED_TAX, str(values[5]), number=True)
            sums = [s + v for s, v in zip(sums, values)]
            lines.append(rw.text())
            state = str(r.get("state") or "").strip().upper()
            if state:
                if state not in _STATE_NUMBER:
                    raise ValueError(f"state {state!r} has no verified EFW2 numeric code (STATE_CODES)")
                rs = _Record("RS")
                rs.put(RS_STATE, _STATE_NUMBER[state], number=True)
                rs.put(RS_SSN, nine(r.get("worker_ssn"), "worker_ssn"), number=True)
                lines.append(rs.text())
        rt = _Record("RT", _RT_ZERO)
        rt.put(RT_COUNT, str(len(members)), number=True)
        for pos, c in zip(RT_MONEY, sums):
            rt.put(pos, str(c), number=True)
        rt.put(_RT_SS_TAX, str(sums[4]), number=True)
        rt.put(_RT_MED_TAX, str(sums[5]), number=True)
        lines.append(rt.text())
        total += len(members)
    rf = _Record("RF")
    rf.put(RF_COUNT, str(total), number=True)
    lines.append(rf.text())
    data = b"".join(line.encode("ascii") + newline for line in lines)
    if isinstance(out, (str, Path)):
        Path(out).write_bytes(data)
    elif out is not None:
        out.write(data)
    return data


# -- the reader ----------------------------------------------------------------------------------

class _Batch(Batch):
    """A batch whose raw text is the 512-byte record (SSN masked), not the fields joined."""

    def __init__(self, first_row: int, rows, problems, raws, texts: list[str]):
        super().__init__(first_row, rows, problems, raws)
        self.texts = texts

    def raw(self, i: int) -> str:
        r = self.raws.get(i)
        return r if r is not None else self.texts[i]


class Efw2Reader:
    """``--format efw2``: an SSA EFW2 file's RW records as the W2 kind's rows (table
    ``wage_reports``, form ``w2``), through :func:`moneytrail.ingest.records.load_records`."""

    name = KIND
    reads_folders = False
    needs_mapping = False

    @staticmethod
    def parse_mapping(data: Any = None, origin: str = "<mapping>"):
        """A mapping is refused: the layout names every field (``ingest_file``, ``--mapping``)."""
        from moneytrail.errors import MappingError

        raise MappingError(f"{origin}: format efw2 needs no mapping: SSA's record layout names every field")

    @staticmethod
    def load_mapping(path: Any):
        return Efw2Reader.parse_mapping(None, str(path))

    def ingest(self, ws, path: Path, *, mapping, legal_basis, force, on_read, actor: str | None = None):
        from moneytrail.ingest import SNIFF_BYTES, sniff_format
        from moneytrail.ingest.records import KINDS, RecordsMapping, load_records
        from moneytrail.ingest.sources import finish_source, register_source, require_file, skipped

        require_file(path)
        if mapping is not None:
            raise InputError("format efw2 needs no --mapping: SSA's record layout names every field", path=str(path))
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if not head:
            raise InputError("file is empty (0 bytes): nothing to ingest", path=str(path))
        if not sniff(head):
            guess = sniff_format(path)
            hint = f" (it looks like {guess}: --format {guess})" if guess and guess != KIND else ""
            raise InputError("this is not an SSA EFW2 file: it does not start with an RA (or RE) record of "
                             f"{RECORD_LEN} bytes{hint}", path=str(path))
        reg = register_source(ws, path, KIND, "wage_reports", None, legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, KIND)
        scan = Scan(path)
        where = (array("q"), array("q"))             # per data row (ordinal - 1): its line, its RE's line (0: none)
        counts, _ = load_records(ws, reg.source_id, KINDS["w2"], list(HEADER), _batches(scan.rows(), where), path,
                                 RecordsMapping())
        _renumber(ws, reg.source_id, where)
        ws.con.execute("UPDATE main.sources SET note = ? WHERE source_id = ?", [scan.note(), reg.source_id])
        if on_read:
            on_read(path.stat().st_size)
        return finish_source(ws, reg, path, KIND, counts)


Reader = Efw2Reader


def _batches(rows: Iterator[Row], where: tuple[array, array]) -> Iterator[Batch]:
    """The rows as the loader's batches, numbered 1, 2, ... in the order read (``where`` records
    each number's line and employer line; :func:`_renumber` puts the lines in afterwards)."""
    first = 1
    buf: list[Row] = []

    def make() -> Batch:
        problems = {i: r.problem for i, r in enumerate(buf) if r.problem is not None}
        raws = {i: buf[i].raw for i in problems}
        return _Batch(first, [r.fields for r in buf], problems, raws, [r.raw for r in buf])

    for r in rows:
        where[0].append(r.line)
        where[1].append(r.employer_line or 0)
        buf.append(r)
        if len(buf) >= BATCH_ROWS:
            yield make()
            first += len(buf)
            buf = []
    if buf:
        yield make()


# where each stored field comes from, added to the loader's reasons for an RW's values
_ORIGIN = {"employer_ein": ("RE", RE_EIN), "employer_name": ("RE", RE_NAME), "tax_year": ("RE", RE_YEAR),
           "worker_ssn": ("RW", RW_SSN), **{k: ("RW", pos) for k, pos, _ in RW_MONEY},
           "state": ("RS", RS_STATE)}


def _renumber(ws, sid: int, where: tuple[array, array]) -> None:
    """Rows and quarantine of source ``sid`` renumbered from their order to their line in the file
    (``record_id`` = source id * 10^10 + line, as every record id); each quarantined row gets its
    place (``line N``) and, for a value the loader refused, the record and positions it came from."""
    import pyarrow as pa

    from moneytrail.workspace import TX_ID_STRIDE

    lines, re_lines = where
    if not lines:
        return
    tbl = pa.table({"ord": pa.array(range(1, len(lines) + 1), pa.int64()),
                    "line": pa.array(lines, pa.int64()), "re_line": pa.array(re_lines, pa.int64())})
    origin = " ".join(
        f"WHEN {_q(col)} THEN ' (' || {_q(rec)} || ' record at line ' || "
        f"{'nullif(m.re_line, 0)' if rec == 'RE' else 'm.line'} || ', positions {pos[0]}-{pos[1]})'"
        for col, (rec, pos) in _ORIGIN.items())
    con = ws.con
    con.register("_efw2_where", tbl)
    try:
        con.execute(f"UPDATE main.wage_reports AS w SET source_row = m.line, record_id = {int(sid)} * {TX_ID_STRIDE} "
                    f"+ m.line FROM _efw2_where m WHERE w.source_id = ? AND w.source_row = m.ord", [sid])
        con.execute(f"UPDATE main.quarantine AS q SET source_row = m.line, source_position = 'line ' || m.line, "
                    f"reason = q.reason || coalesce(CASE q.column_name {origin} END, '') "
                    f"FROM _efw2_where m WHERE q.source_id = ? AND q.source_row = m.ord", [sid])
    finally:
        con.unregister("_efw2_where")


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


__all__ = ["HEADER", "IDS", "KIND", "RECORD_LEN", "Efw2Reader", "Reader", "Row", "Scan", "STATE_CODES", "read",
           "sniff", "write"]
