"""``moneytrail mapping suggest FILE``: a proposed YAML mapping for a CSV or XLSX file, with the
evidence for each guess, for a person to check before ingesting (``ingest --dry-run`` shows what
it would do).

What is guessed, from the bytes and up to :data:`SAMPLE_ROWS` rows:

* **encoding**: UTF-8 (with or without BOM) when the sample decodes as UTF-8; else Windows-1252
  when it uses that code page's printable characters in 0x80-0x9F; else Latin-1;
* **delimiter**: the one of ``, ; TAB |`` that splits the most lines into the same number of
  fields (more than one);
* **header row** (``skip_rows``): the first row whose width is the file's usual width and whose
  cells are mostly text, not numbers or dates;
* **date** column and format: the column whose values all parse under one of the common formats;
  day-first or month-first is decided by a value above 12, and said to be ambiguous otherwise;
* **amount**: one signed column, or a debit and a credit column (names such as
  debit/credit, withdrawal/deposit, Soll/Haben, Belastung/Gutschrift, or two number columns that
  are never both filled); **decimal and thousands** separators from the values (``1.234,56``);
* **currency**: a column of three-letter codes; if there is none, the mapping says so and leaves
  the currency for the person to state (moneytrail never assumes one);
* **accounts**: payer and payee columns (a transfers ledger), or one counterparty column (a
  statement: the holder's own account is left for the person to state), by header names;
* description, reference (``id``), balance, time and channel by header names.

Nothing guessed is hidden: every choice is written as a YAML comment with the numbers behind it.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moneytrail.errors import InputError

SAMPLE_BYTES = 1 << 20
SAMPLE_ROWS = 2000
DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y", "%d.%m.%y", "%m/%d/%Y",
                "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%Y%m%d", "%d-%m-%Y", "%m-%d-%Y", "%Y/%m/%d", "%d %b %Y",
                "%b %d, %Y", "%d.%m.%Y %H:%M", "%m/%d/%Y %H:%M")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?( ?[AaPp][Mm])?$")
CCY_RE = re.compile(r"^[A-Z]{3}$")
# ISO 4217 codes in use: a column of three capital letters is a currency only if its values are these
ISO_4217 = frozenset("""AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA
MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES
VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG""".split())
NUM_RE = re.compile(r"^[-+(]?\s*[$€£]?\s*[0-9][0-9., '’]*[)]?\s*(CR|DR|-)?$")

NAMES = {
    "debit": r"debit|withdrawal|withdrawals|soll|belastung|lastschrift|ausgang|paid out|money out|charge",
    "credit": r"credit|deposit|deposits|haben|gutschrift|eingang|paid in|money in",
    "amount": r"amount|betrag|montant|importe|bedrag|value|sum|amt",
    "currency": r"currency|ccy|cur|w[äa]hrung|devise|moneda|valuta",
    "payer": r"payer|from|sender|originator|orig|debtor|auftraggeber|ordering",
    "payee": r"payee|to|beneficiary|bene|receiver|recipient|creditor|empf[äa]nger",
    "counterparty": r"counterparty|counter party|other party|other account|gegenkonto|partner|beneficiary account|cp[ _]?acc?t?",
    "holder": r"account number|account no|account|kontonummer|konto|iban|acct",
    "description": r"description|memo|purpose|details|narrative|verwendungszweck|text|reference text|libell[ée]",
    "id": r"reference|ref|transaction id|txn|id|belegnummer|referenz",
    "balance": r"balance|saldo|solde",
    "time": r"time|uhrzeit|heure|tran[ _]?tm|tm",
    "channel": r"type|channel|code|buchungstext|art",
    "booking": r"buchungstag|buchungsdatum|booking date|booking|posting date|post date|posted|transaction date|date|datum|fecha",
    "date": r"date|datum|value date|valuta|fecha",
}


@dataclass
class Suggestion:
    mapping: dict[str, Any]
    notes: list[str] = field(default_factory=list)      # one line per guess, with its evidence
    warnings: list[str] = field(default_factory=list)   # what the person must decide

    def yaml(self, file_name: str) -> str:
        import yaml

        head = [f"# moneytrail mapping proposed for {file_name} by `moneytrail mapping suggest`.",
                "# Check every line; `moneytrail ingest FILE --mapping THIS --dry-run` shows the result.", "#"]
        head += [f"# {n}" for n in self.notes]
        if self.warnings:
            head += ["#", "# TO DECIDE:"] + [f"#   {w}" for w in self.warnings]
        body = yaml.safe_dump(self.mapping, sort_keys=False, allow_unicode=True, width=120)
        return "\n".join(head) + "\n" + body


def _decode(raw: bytes) -> tuple[str, str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig", "a UTF-8 byte-order mark"
    try:
        cut = raw
        for _ in range(4):   # the sample may end inside a multi-byte character
            try:
                return cut.decode("utf-8"), "utf-8", "the sample is valid UTF-8"
            except UnicodeDecodeError as e:
                if e.start < len(cut) - 4:
                    raise
                cut = cut[:-1]
        raise UnicodeDecodeError("utf-8", cut, 0, 1, "undecodable")
    except UnicodeDecodeError:
        pass
    if any(0x80 <= b <= 0x9F for b in raw):
        return raw.decode("cp1252", errors="replace"), "cp1252", "bytes 0x80-0x9F (Windows-1252 letters)"
    return raw.decode("latin-1"), "latin-1", "not UTF-8 and no Windows-1252 letters"


def _rows(text: str, delimiter: str) -> list[list[str]]:
    rows = []
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        rows.append([c.strip() for c in row])
        if len(rows) >= SAMPLE_ROWS:
            break
    if rows and not text.endswith(("\n", "\r")) and len(text) >= SAMPLE_BYTES - 8:
        rows.pop()           # the sample cut the last line
    return rows


def _delimiter(text: str) -> tuple[str, int, str]:
    best = (",", 1, 0.0)
    for d in DELIMITERS:
        rows = [r for r in _rows(text, d) if any(r)]
        if not rows:
            continue
        widths: dict[int, int] = {}
        for r in rows:
            widths[len(r)] = widths.get(len(r), 0) + 1
        width, n = max(widths.items(), key=lambda kv: (kv[1], kv[0]))
        share = n / len(rows)
        if width > 1 and (share, width) > (best[2], best[1]):
            best = (d, width, share)
    name = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[best[0]]
    return best[0], best[1], f"{name}: {best[2]:.0%} of the lines split into {best[1]} fields"


def _is_number(v: str) -> bool:
    return bool(v) and NUM_RE.match(v) is not None and any(ch.isdigit() for ch in v)


def _date_format(values: list[str]) -> tuple[str | None, int, str]:
    vals = [v for v in values if v][:500]
    if not vals:
        return None, 0, ""
    for fmt in DATE_FORMATS:
        ok = 0
        for v in vals:
            try:
                _dt.datetime.strptime(v, fmt)
                ok += 1
            except ValueError:
                break
        if ok == len(vals):
            note = ""
            if fmt in ("%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d-%m-%Y", "%m-%d-%Y"):
                other = {"%m/%d/%Y": "%d/%m/%Y", "%d/%m/%Y": "%m/%d/%Y", "%m/%d/%y": "%d/%m/%y",
                         "%d/%m/%y": "%m/%d/%y", "%d-%m-%Y": "%m-%d-%Y", "%m-%d-%Y": "%d-%m-%Y"}[fmt]
                try:
                    for v in vals:
                        _dt.datetime.strptime(v, other)
                    note = f" (AMBIGUOUS: every value also reads as {other}; no day above 12 tells them apart)"
                except ValueError:
                    pass
            return fmt, ok, note
    return None, 0, ""


def _separators(values: list[str]) -> tuple[str, str, str]:
    comma_dec = dot_dec = 0
    for v in values:
        s = re.sub(r"[^0-9.,]", "", v)
        if re.search(r",\d{1,2}$", s) and ("." in s[:-3] or "," not in s[:-3]):
            comma_dec += 1
        elif re.search(r"\.\d{1,4}$", s):
            dot_dec += 1
    if comma_dec > dot_dec:
        return ",", ".", f"{comma_dec} amounts end in ',dd' (decimal comma)"
    return ".", ",", f"{dot_dec} amounts end in '.dd' (decimal point)" if dot_dec else "no decimals seen: decimal point assumed"


def _named(header: list[str], kind: str, taken: set[int]) -> int | None:
    pat = re.compile(rf"^(?:{NAMES[kind]})(?:\b|_|$)", re.IGNORECASE)
    exact = [i for i, h in enumerate(header) if i not in taken and pat.search(h.strip())]
    if exact:
        return exact[0]
    loose = re.compile(rf"\b(?:{NAMES[kind]})\b", re.IGNORECASE)
    for i, h in enumerate(header):
        if i not in taken and loose.search(h.replace("_", " ")):
            return i
    return None


def suggest(path: Path) -> Suggestion:
    """Propose a mapping for a CSV (or XLSX) file; see the module's docstring."""
    if not path.is_file():
        raise InputError("file not found", path=str(path))
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    m: dict[str, Any] = {"name": path.stem}
    notes: list[str] = []
    warnings: list[str] = []
    if head.startswith(b"PK\x03\x04"):
        rows, sheet = _xlsx_rows(path)
        notes.append(f"format: xlsx workbook, sheet {sheet!r} (ingest with --format xlsx)")
        m["sheet"] = sheet
        width = max((len(r) for r in rows), default=0)
    else:
        text, enc, why = _decode(head)
        m["encoding"] = enc
        notes.append(f"encoding {enc}: {why}")
        delim, width, why = _delimiter(text)
        m["delimiter"] = delim
        notes.append(f"delimiter {delim!r}: {why}")
        rows = _rows(text, delim)
    # the header: the first row of the usual width that is mostly text
    skip = 0
    for i, r in enumerate(rows[:50]):
        cells = [c for c in r if c]
        if len(r) >= max(2, width - 1) and len(cells) >= max(2, 0.6 * width) \
                and sum(not _is_number(c) for c in cells) >= 0.8 * len(cells) \
                and _date_format(cells)[0] is None:
            skip = i
            break
    header = rows[skip] if rows else []
    data = [r for r in rows[skip + 1:] if any(r)]
    if not header or not data:
        raise InputError("no header and data rows found to suggest a mapping from", path=str(path))
    m["skip_rows"] = skip
    notes.append(f"header on line {skip + 1}: {', '.join(header[:12])}{' …' if len(header) > 12 else ''}")
    cols = {i: [r[i] if i < len(r) else "" for r in data] for i in range(len(header))}
    taken: set[int] = set()

    # date
    date_col, fmt, note = None, None, ""
    order = [i for i in [_named(header, "booking", set()), _named(header, "date", set())] if i is not None] \
        + list(range(len(header)))
    for i in order:
        f, n, note = _date_format(cols[i])
        if f:
            date_col, fmt = i, f
            break
    if date_col is None:
        raise InputError("no column holds dates in a format moneytrail knows: write the mapping by hand "
                         "(docs/mapping.md)", path=str(path))
    taken.add(date_col)
    m["date"] = {"column": header[date_col], "format": fmt}
    notes.append(f"date: column {header[date_col]!r}, every sampled value reads as {fmt}{note}")
    if note:
        warnings.append(f"date format: {note.strip(' ()')}")
    t = _named(header, "time", taken)
    if t is not None and all(TIME_RE.match(v) for v in cols[t] if v):
        taken.add(t)
        sample = next((v for v in cols[t] if v), "")
        tf = "%I:%M:%S %p" if re.search(r"[AaPp][Mm]$", sample) else "%H:%M:%S" if sample.count(":") == 2 else "%H:%M"
        m["time"] = {"column": header[t], "format": tf}
        notes.append(f"time: column {header[t]!r} ({tf})")

    # amounts
    def share(i: int) -> float:
        filled = [v for v in cols[i] if v]
        return sum(_is_number(v) for v in filled) / len(filled) if filled else 0.0

    # a column of numbers (a named amount column may hold some bad values: they are quarantined)
    numeric = [i for i in cols if i not in taken and (share(i) >= 0.9 or (share(i) >= 0.5 and any(
        _named([header[i]], k, set()) is not None for k in ("amount", "debit", "credit"))))]
    deb, cre = _named(header, "debit", taken), _named(header, "credit", taken)
    amount_values: list[str] = []
    if deb is not None and cre is not None and deb in numeric and cre in numeric:
        m["amount"] = {"debit": header[deb], "credit": header[cre]}
        taken |= {deb, cre}
        amount_values = [v for v in cols[deb] + cols[cre] if v]
        both = sum(1 for a, b in zip(cols[deb], cols[cre]) if a and b)
        notes.append(f"amount: debit column {header[deb]!r} and credit column {header[cre]!r} "
                     f"({both} rows fill both)")
    else:
        a = _named(header, "amount", taken)
        if a is None or a not in numeric:
            a = next((i for i in numeric if _named([header[i]], "balance", set()) is None), None)
        if a is None:
            raise InputError("no column holds amounts: write the mapping by hand (docs/mapping.md)", path=str(path))
        taken.add(a)
        amount_values = [v for v in cols[a] if v]
        neg = sum(1 for v in amount_values if v.lstrip().startswith(("-", "(")) or v.rstrip().endswith(("-", "DR")))
        m["amount"] = {"column": header[a]}
        notes.append(f"amount: column {header[a]!r}, signed ({neg} of {len(amount_values)} sampled values negative)")
    dec, thou, why = _separators(amount_values)
    m["decimal"], m["thousands"] = dec, thou
    notes.append(f"decimal {dec!r}, thousands {thou!r}: {why}")

    # currency: a column, or for the person to state
    c = _named(header, "currency", taken)
    ccy_col = c if c is not None and all(CCY_RE.match(v) for v in cols[c] if v) else next(
        (i for i in cols if i not in taken and cols[i] and all(v in ISO_4217 for v in cols[i] if v)
         and any(cols[i])), None)
    if ccy_col is not None:
        taken.add(ccy_col)
        m["currency"] = {"column": header[ccy_col]}
        seen = sorted({v for v in cols[ccy_col] if v})
        notes.append(f"currency: column {header[ccy_col]!r} ({', '.join(seen[:8])})")
    else:
        warnings.append("currency: the file names none; add `currency: USD` (or the right code): moneytrail never "
                        "assumes one")

    # accounts
    payer, payee = _named(header, "payer", taken), _named(header, "payee", taken)
    if payer is not None and payee is not None and payer != payee:
        m["payer"] = {"account": header[payer]}
        m["payee"] = {"account": header[payee]}
        taken |= {payer, payee}
        notes.append(f"transfers ledger: payer {header[payer]!r}, payee {header[payee]!r}")
        if "column" in m["amount"]:
            m["amount"]["sign"] = "negative_is_debit"
    else:
        cp = _named(header, "counterparty", taken)
        hold = _named(header, "holder", taken | ({cp} if cp is not None else set()))
        if cp is None and hold is not None:      # one account column: the other side's
            cp, hold = hold, None
        if hold is not None:
            taken.add(hold)
            m["holder"] = {"account": header[hold]}
            notes.append(f"statement of several accounts: the holder's account in column {header[hold]!r}")
        else:
            m["holder"] = {"account": {"value": "THE-STATEMENT-ACCOUNT"}}
            warnings.append("holder: a statement: replace THE-STATEMENT-ACCOUNT with the account the statement is "
                            "of (its IBAN or number)")
        if cp is not None:
            taken.add(cp)
            m["counterparty"] = {"account": header[cp]}
            notes.append(f"statement: counterparty account column {header[cp]!r}")
        else:
            name_col = next((i for i in cols if i not in taken and re.search(r"name|payee|empf|auftrag", header[i], re.I)), None)
            m["counterparty"] = {"account": header[name_col] if name_col is not None else header[date_col]}
            warnings.append("counterparty: no account column found; set counterparty.account (and name) by hand")
    for kind in ("description", "id", "balance", "channel"):
        i = _named(header, kind, taken)
        if i is not None:
            taken.add(i)
            m[kind] = header[i] if kind != "channel" else {"column": header[i]}
            notes.append(f"{kind}: column {header[i]!r}")
    return Suggestion(m, notes, warnings)


def _xlsx_rows(path: Path) -> tuple[list[list[str]], str]:
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
        sheet = wb.get_sheet_by_index(0)
    except Exception as e:
        raise InputError(f"cannot be read as a workbook ({type(e).__name__})", path=str(path)) from None
    rows: list[list[str]] = []
    for _ in range((sheet.start or (0, 0))[0]):
        rows.append([])
    for row in sheet.iter_rows():
        rows.append(["" if v is None else v.strftime("%Y-%m-%d") if isinstance(v, (_dt.date, _dt.datetime))
                     else repr(v) if isinstance(v, float) else str(v) for v in row])
        if len(rows) >= SAMPLE_ROWS:
            break
    return rows, sheet.name


__all__ = ["Suggestion", "suggest"]
