"""Write the world's transactions as the three banks' subpoena returns, each with its mapping.

Each transaction goes to exactly one file, chosen from where its parties bank:

* cash in or out -> the statement of the bank holding the account (bank A: its cash journal);
* else, if the payee banks at B or C -> the payee's statement (a credit);
* else, if the payer banks at B or C -> the payer's statement (a debit);
* else (A to A, A to/from an outside bank) -> bank A's transfers ledger.

Layouts:

1. ``fnb_transfers.csv`` bank A transfers ledger: payer/payee columns, ISO timestamps, bank
   transaction codes (``channel_map``), reference ids, branch/merchant location, memo.
2. ``fnb_cash_journal.txt`` bank A teller/ATM cash journal: pipe-delimited, ``%Y%m%d`` dates,
   ``%H%M%S`` times, signed amounts, empty counterparty (cash).
3. ``hcb_statement.csv`` bank B multi-account statement: holder column, ``%m/%d/%Y`` dates,
   12-hour times, separate Debit/Credit columns with thousands separators (``1,234.56``).
4. ``acb_umsaetze.csv`` bank C export in a European locale: ``;`` delimiter, ``1.234,56``
   signed amounts, ``%d.%m.%Y`` dates, Windows-1252 text, German headers and codes.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from moneytrail.synth.generator import CASH, DAY, World

# kind -> (code when the file's holder pays, code when the holder is paid) per layout
A_CODES = {"payroll": "PRL", "ach": "ACH", "billpay": "BPY", "check": "CHK", "card": "POS",
           "p2p": "P2P", "wire": "WIR"}
AJ_CODES = {"atm_wd": "ATW", "teller_wd": "TLW", "cash_dep": "CDP", "atm_dep": "ATD"}
B_CODES = {"payroll": ("PAYROLL ACH", "DIRECT DEPOSIT"), "ach": ("ACH DEBIT", "ACH CREDIT"),
           "billpay": ("BILL PAY", "ACH CREDIT"), "check": ("CHECK PAID", "CHECK DEPOSIT"),
           "card": ("DEBIT CARD", "MERCHANT SETTLEMENT"), "p2p": ("ZELLE SENT", "ZELLE RECEIVED"),
           "wire": ("WIRE OUT", "WIRE IN"), "atm_wd": ("ATM WITHDRAWAL", None),
           "teller_wd": ("TELLER WITHDRAWAL", None), "cash_dep": (None, "CASH DEPOSIT"),
           "atm_dep": (None, "ATM DEPOSIT")}
C_CODES = {"payroll": ("LOHNZAHLUNG", "LOHN/GEHALT"), "ach": ("LASTSCHRIFT", "GUTSCHRIFT"),
           "billpay": ("DAUERAUFTRAG", "GUTSCHRIFT"), "check": ("SCHECKBELASTUNG", "SCHECKEINREICHUNG"),
           "card": ("KARTENZAHLUNG", "KARTENUMSATZ"), "p2p": ("ÜBERWEISUNG", "ÜBERWEISUNG EINGANG"),
           "wire": ("AUSLANDSÜBERWEISUNG", "SWIFT-GUTSCHRIFT"), "atm_wd": ("GELDAUTOMAT", None),
           "teller_wd": ("BARAUSZAHLUNG", None), "cash_dep": (None, "BAREINZAHLUNG"),
           "atm_dep": (None, "BAREINZAHLUNG GA")}

CHANNEL = {"payroll": "payroll", "ach": "ach", "billpay": "ach", "check": "check", "card": "card",
           "p2p": "transfer", "wire": "wire", "atm_wd": "cash", "teller_wd": "cash", "cash_dep": "cash",
           "atm_dep": "cash"}


def _channel_map(codes: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, v in codes.items():
        for code in (v if isinstance(v, tuple) else (v,)):
            if code is not None:
                out[code] = CHANNEL[kind]
    return out


def _yaml_map(d: dict[str, str], indent: str = "  ") -> str:
    return "\n".join(f"{indent}{_yq(k)}: {v}" for k, v in d.items())


def _yq(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


MAPPING_A = """\
# Bank A (First National Bank) - transfers ledger, one row per transfer, both sides named.
name: fnb-transfers-ledger
date:
  column: posted_at
  format: iso
amount:
  column: amount
thousands: ""
currency:
  column: currency
payer:
  account: payer_acct
  name: payer_name
  bank: payer_bank
payee:
  account: payee_acct
  name: payee_name
  bank: payee_bank
id: txn_ref
channel: txn_code
tx_type: txn_code
channel_map:
{cmap}
location: location
description: memo
"""

MAPPING_AJ = """\
# Bank A (First National Bank) - teller and ATM cash journal. Withdrawals are negative.
name: fnb-cash-journal
delimiter: "|"
date:
  column: TRAN_DT
  format: "%Y%m%d"
time:
  column: TRAN_TM
  format: "%H%M%S"
amount:
  column: AMT
  sign: negative_is_debit
thousands: ""
currency: USD
holder:
  account: ACCT_NO
  name: CUST_NAME
  bank:
    value: First National Bank
counterparty:
  account: CP_ACCT
id: SEQ_NO
channel: TRAN_CD
tx_type: TRAN_CD
channel_map:
{cmap}
location: BRANCH_LOC
description: MEMO
"""

MAPPING_B = """\
# Bank B (Harbor Community Bank) - statement export covering many accounts (holder column).
name: hcb-statement
date:
  column: Post Date
  format: "%m/%d/%Y"
time:
  column: Time
  format: "%I:%M:%S %p"
amount:
  debit: Debit
  credit: Credit
decimal: "."
thousands: ","
currency: USD
holder:
  account: Account Number
  name: Account Name
  bank:
    value: Harbor Community Bank
counterparty:
  account: Counterparty Account
  name: Counterparty Name
  bank: Counterparty Bank
id: Reference
channel: Type
tx_type: Type
channel_map:
{cmap}
location: Location
description: Description
"""

MAPPING_C = """\
# Bank C (Alpine Continental Bank) - account statement export, European locale, Windows-1252.
# Betrag is signed: negative = money leaving the account holder.
name: acb-umsaetze
encoding: cp1252
delimiter: ";"
decimal: ","
thousands: "."
date:
  column: Buchungstag
  format: "%d.%m.%Y"
time:
  column: Uhrzeit
  format: "%H:%M"
amount:
  column: Betrag
  sign: negative_is_debit
currency:
  column: Währung
holder:
  account: Kontonummer
  name: Kontoinhaber
  bank:
    value: Alpine Continental Bank
counterparty:
  account: Gegenkonto
  name: Auftraggeber/Empfänger
  bank: Bank Gegenkonto
id: Referenz
channel: Buchungsart
tx_type: Buchungsart
channel_map:
{cmap}
location: Ort
description: Verwendungszweck
"""


def _us(c: int) -> str:
    d, m = divmod(c, 100)
    return f"{d:,}.{m:02d}"


def _plain(c: int) -> str:
    d, m = divmod(c, 100)
    return f"{d}.{m:02d}"


def _eu(c: int) -> str:
    d, m = divmod(c, 100)
    return f"{d:,}".replace(",", ".") + f",{m:02d}"


class _Lines:
    """A minimal CSV writer (quotes only fields holding the delimiter, a quote or a newline), fast
    enough for a few hundred thousand rows; output is what ``csv.writer`` (QUOTE_MINIMAL) writes."""

    def __init__(self, delimiter: str, header: list[str]):
        self.d = delimiter
        self.n = len(header) - 1
        self.lines: list[str] = []
        self.row(header)

    def _quote(self, v: str) -> str:
        if self.d in v or '"' in v or "\n" in v or "\r" in v:
            return '"' + v.replace('"', '""') + '"'
        return v

    def row(self, fields: list[str]) -> None:
        line = self.d.join(fields)
        if line.count(self.d) != self.n or '"' in line or "\n" in line or "\r" in line:
            line = self.d.join(self._quote(v) for v in fields)
        self.lines.append(line)

    def write(self, path: Path, encoding: str, newline: str) -> None:
        with open(path, "w", newline="", encoding=encoding) as fh:
            fh.write(newline.join(self.lines))
            fh.write(newline)


def write_exports(w: World, out_dir: Path) -> tuple[list[tuple[Path, Path]], dict[str, int]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = w.accounts
    bank_of = {aid: a.bank for aid, a in acc.items()}
    bank_of[CASH] = "cash"
    rows: dict[str, list] = {"A": [], "AJ": [], "B": [], "C": []}
    for tx in w.txs:
        _t, _s, payer, payee, _c, _k, _d, _l = tx
        pb, bb = bank_of[payer], bank_of[payee]
        if payer == CASH:
            f, holder, debit = ("AJ" if bb == "A" else bb), payee, False
        elif payee == CASH:
            f, holder, debit = ("AJ" if pb == "A" else pb), payer, True
        elif bb in ("B", "C"):
            f, holder, debit = bb, payee, False
        elif pb in ("B", "C"):
            f, holder, debit = pb, payer, True
        elif pb == "A" or bb == "A":
            f, holder, debit = "A", None, None
        else:  # pragma: no cover - the generator never makes outside-to-outside transfers
            raise AssertionError(f"transaction between two outside accounts: {tx}")
        if f not in rows:  # pragma: no cover
            raise AssertionError(f"cash at an outside bank: {tx}")
        rows[f].append((holder or "", tx, debit))

    # date/time strings per day, computed once
    days = [w.start + timedelta(days=i) for i in range(w.ndays)]
    iso_d = [d.isoformat() for d in days]
    us_d = [d.strftime("%m/%d/%Y") for d in days]
    eu_d = [d.strftime("%d.%m.%Y") for d in days]
    cj_d = [d.strftime("%Y%m%d") for d in days]

    def split(t: int) -> tuple[int, int, int, int]:
        day, s = divmod(t, DAY)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return day, h, m, s

    files: list[tuple[Path, Path]] = []
    counts: dict[str, int] = {}

    # 1. bank A transfers ledger
    p = out_dir / "fnb_transfers.csv"
    rows["A"].sort(key=lambda x: (x[1][0], x[1][1]))
    wr = _Lines(",", ["txn_ref", "posted_at", "txn_code", "payer_acct", "payer_name", "payer_bank",
                      "payee_acct", "payee_name", "payee_bank", "amount", "currency", "location", "memo"])
    for _h, (t, seq, payer, payee, c, kind, desc, loc), _d in rows["A"]:
        day, h, m, s = split(t)
        pa, pe = acc[payer], acc[payee]
        wr.row([f"FT{cj_d[day][2:]}{seq:07d}", f"{iso_d[day]}T{h:02d}:{m:02d}:{s:02d}",
                A_CODES[kind], payer, pa.name, pa.bank_name, payee, pe.name, pe.bank_name,
                _plain(c), "USD", loc or "", desc])
    wr.write(p, "utf-8", "\n")
    y = out_dir / "fnb_transfers.yaml"
    y.write_text(MAPPING_A.format(cmap=_yaml_map(_channel_map(A_CODES))), encoding="utf-8")
    files.append((p, y))
    counts[p.name] = len(rows["A"])

    # 2. bank A cash journal
    p = out_dir / "fnb_cash_journal.txt"
    rows["AJ"].sort(key=lambda x: (x[1][0], x[1][1]))
    wr = _Lines("|", ["ACCT_NO", "CUST_NAME", "TRAN_DT", "TRAN_TM", "TRAN_CD", "AMT", "CP_ACCT",
                      "BRANCH_LOC", "TERMINAL", "SEQ_NO", "MEMO"])
    for holder, (t, seq, payer, payee, c, kind, desc, loc), debit in rows["AJ"]:
        day, h, m, s = split(t)
        term = ("ATM" if kind.startswith("atm") else "TLR") + f"{(seq * 7919) % 9000 + 1000}"
        wr.row([holder, acc[holder].name, cj_d[day], f"{h:02d}{m:02d}{s:02d}", AJ_CODES[kind],
                ("-" if debit else "") + _plain(c), "", loc or "", term, f"{seq:09d}", desc])
    wr.write(p, "utf-8", "\n")
    y = out_dir / "fnb_cash_journal.yaml"
    y.write_text(MAPPING_AJ.format(cmap=_yaml_map(_channel_map(AJ_CODES))), encoding="utf-8")
    files.append((p, y))
    counts[p.name] = len(rows["AJ"])

    # 3. bank B statement (debit/credit columns)
    p = out_dir / "hcb_statement.csv"
    rows["B"].sort(key=lambda x: (x[0], x[1][0], x[1][1]))
    wr = _Lines(",", ["Account Number", "Account Name", "Post Date", "Time", "Reference", "Type",
                      "Description", "Counterparty Account", "Counterparty Name", "Counterparty Bank",
                      "Location", "Debit", "Credit"])
    for holder, (t, seq, payer, payee, c, kind, desc, loc), debit in rows["B"]:
        day, h, m, s = split(t)
        cp = payee if debit else payer
        ca = acc.get(cp)
        amt = _us(c)
        h12 = h % 12 or 12
        wr.row([holder, acc[holder].name, us_d[day], f"{h12:02d}:{m:02d}:{s:02d} {'AM' if h < 12 else 'PM'}",
                f"HCB{seq:010d}", B_CODES[kind][0 if debit else 1], desc,
                "" if cp == CASH else cp, ca.name if ca else "", ca.bank_name if ca else "",
                loc or "", amt if debit else "", "" if debit else amt])
    wr.write(p, "utf-8", "\r\n")
    y = out_dir / "hcb_statement.yaml"
    y.write_text(MAPPING_B.format(cmap=_yaml_map(_channel_map(B_CODES))), encoding="utf-8")
    files.append((p, y))
    counts[p.name] = len(rows["B"])

    # 4. bank C European-locale statement (signed amounts)
    p = out_dir / "acb_umsaetze.csv"
    rows["C"].sort(key=lambda x: (x[0], x[1][0], x[1][1]))
    wr = _Lines(";", ["Kontonummer", "Kontoinhaber", "Buchungstag", "Uhrzeit", "Buchungsart", "Betrag",
                      "Währung", "Gegenkonto", "Auftraggeber/Empfänger", "Bank Gegenkonto",
                      "Verwendungszweck", "Ort", "Referenz"])
    for holder, (t, seq, payer, payee, c, kind, desc, loc), debit in rows["C"]:
        day, h, m, s = split(t)
        cp = payee if debit else payer
        ca = acc.get(cp)
        wr.row([holder, acc[holder].name, eu_d[day], f"{h:02d}:{m:02d}",
                C_CODES[kind][0 if debit else 1], ("-" if debit else "") + _eu(c), "USD",
                "" if cp == CASH else cp, ca.name if ca else "", ca.bank_name if ca else "",
                desc, loc or "", f"ACB/{cj_d[day]}/{seq:08d}"])
    wr.write(p, "cp1252", "\r\n")
    y = out_dir / "acb_umsaetze.yaml"
    y.write_text(MAPPING_C.format(cmap=_yaml_map(_channel_map(C_CODES))), encoding="utf-8")
    files.append((p, y))
    counts[p.name] = len(rows["C"])
    return files, counts


__all__ = ["write_exports"]
