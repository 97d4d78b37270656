"""Write the world's transactions as the three banks' subpoena returns, each bank in its own format.

Each transaction goes to exactly one file, chosen from where its parties bank:

* cash in or out -> the statement of the bank holding the account (bank A: its cash journal);
* else, if the payee banks at B or C -> the payee's statement (a credit);
* else, if the payer banks at B or C -> the payer's statement (a debit);
* else (A to A, A to/from an outside bank) -> bank A's transfers ledger.

The three banks answer in three formats (``--format`` of ``moneytrail ingest``):

1. bank A (First National Bank), **XLSX**, two workbooks with their YAML mappings:
   ``fnb_transfers.xlsx`` the transfers ledger (sheet ``Transfers``: payer/payee columns, a date
   cell and a time, bank transaction codes (``channel_map``), reference ids, branch/merchant
   location, memo) and ``fnb_cash_journal.xlsx`` the teller/ATM cash journal (sheet ``Cash
   journal``: date cells, ``%H%M%S`` times, signed amounts, no counterparty: cash).
2. bank B (Harbor Community Bank), **CSV**: ``hcb_statement.csv``, a multi-account statement with
   its mapping: holder column, ``%m/%d/%Y`` dates, 12-hour times, separate Debit/Credit columns
   with thousands separators (``1,234.56``), location.
3. bank C (Alpine Continental Bank), **ISO 20022 camt.053** (``camt.053.001.08``, no mapping:
   ``--format camt`` or ``auto``): ``acb_camt053.xml``, one ``Stmt`` per account and calendar
   month with its opening and closing booked balances (``OPBD``/``CLBD``, consecutive months
   joining), each entry with its booking date and time (``BookgDt/DtTm``), the counterparty's
   name, account and bank, the bank's reference (``AcctSvcrRef``), an ISO bank transaction code
   (:data:`C_ISO_CODES`, which tells the channel), the remittance text and, for card and cash,
   where it happened (``CardTx/POI/SysNm``). Amounts stay in USD (the accounts are USD accounts).

Why these: the planted schemes need, for every bank, the counterparty's account on both debits
and credits (fan-in, fan-out, cycles), the time of day (odd-hours deposits, rapid pass-through,
same-day ordering) and the place of cash (fan-in counts cash by place, funnel accounts, the
structuring places). BAI2 and OFX carry no counterparty account of a credit and MT940 no time of
day, so the banks holding scheme accounts write camt.053, CSV and XLSX.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Iterator

from moneytrail.ingest.formats import camt
from moneytrail.ingest.statement import CREDIT, DEBIT, Balance, Entry, Statement
from moneytrail.synth.generator import BANKS, CASH, DAY, World
from moneytrail.synth.workbook import write_workbook

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
# An Excel workbook (sheet "Transfers"): posted_date is a date cell, amount a number cell.
name: fnb-transfers-ledger
sheet: Transfers
date:
  column: posted_date
  format: "%Y-%m-%d"
time:
  column: posted_time
  format: "%H:%M:%S"
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
# An Excel workbook (sheet "Cash journal"): TRAN_DT is a date cell, AMT a number cell.
name: fnb-cash-journal
sheet: Cash journal
date:
  column: TRAN_DT
  format: "%Y-%m-%d"
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

def _us(c: int) -> str:
    d, m = divmod(c, 100)
    return f"{d:,}.{m:02d}"


def _plain(c: int) -> str:
    d, m = divmod(c, 100)
    return f"{d}.{m:02d}"


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


def write_exports(w: World, out_dir: Path) -> tuple[list[tuple[Path, Path | None]], dict[str, str], dict[str, int],
                                                  int]:
    """Write the three banks' files into ``out_dir``; returns the (file, mapping or None) pairs,
    each file's ingest format (by name), its number of rows (by name) and how many transfers two
    banks both report (a row in each)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = w.accounts
    bank_of = {aid: a.bank for aid, a in acc.items()}
    bank_of[CASH] = "cash"
    rows: dict[str, list] = {"A": [], "AJ": [], "B": [], "C": []}
    n_twice = 0
    for tx in w.txs:
        t, seq, payer, payee, c, kind, desc, _l = tx
        pb, bb = bank_of[payer], bank_of[payee]
        if payer == CASH:
            f = "AJ" if bb == "A" else bb
            rows[f].append((payee, tx, False, payer, payee))
            continue
        if payee == CASH:
            f = "AJ" if pb == "A" else pb
            rows[f].append((payer, tx, True, payer, payee))
            continue
        if pb in BANKS and bb in BANKS and pb != bb:
            # one transfer, two banks: each reports its side, the receiving bank a little later,
            # with the payer's account in its own writing and the memo as it keeps it
            n_twice += 1
            rows[pb].append((payer if pb != "A" else "", tx, True, payer, written(payee, kind, False)))
            rt = received_at(w, t, seq, kind)
            rx = (rt, seq, payer, payee, c, kind, (desc or "")[:MEMO_KEPT[bb]], _l)
            rows[bb].append((payee if bb != "A" else "", rx, False, written(payer, kind, True), payee))
        elif pb == bb and bb in ("B", "C"):
            # a transfer between two accounts of one bank is on both accounts' statements (a
            # statement lists every movement of its account): the same bank reports it twice
            n_twice += 1
            rows[bb].append((payer, tx, True, payer, payee))
            rows[bb].append((payee, tx, False, payer, payee))
        elif bb in ("B", "C"):
            rows[bb].append((payee, tx, False, payer, payee))
        elif pb in ("B", "C"):
            rows[pb].append((payer, tx, True, payer, payee))
        elif pb == "A" or bb == "A":
            rows["A"].append(("", tx, None, payer, payee))
        else:  # pragma: no cover - the generator never makes outside-to-outside transfers
            raise AssertionError(f"transaction between two outside accounts: {tx}")

    # date/time strings per day, computed once
    days = [w.start + timedelta(days=i) for i in range(w.ndays)]
    iso_d = [d.isoformat() for d in days]
    us_d = [d.strftime("%m/%d/%Y") for d in days]
    cj_d = [d.strftime("%Y%m%d") for d in days]

    def split(t: int) -> tuple[int, int, int, int]:
        day, s = divmod(t, DAY)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return day, h, m, s

    files: list[tuple[Path, Path | None]] = []
    formats: dict[str, str] = {}
    counts: dict[str, int] = {}

    # 1. bank A transfers ledger (a workbook)
    p = out_dir / "fnb_transfers.xlsx"
    rows["A"].sort(key=lambda x: (x[1][0], x[1][1]))

    def ledger():
        for _h, (t, seq, payer, payee, c, kind, desc, loc), _d, wpayer, wpayee in rows["A"]:
            day, h, m, s = split(t)
            pa, pe = acc[payer], acc[payee]
            yield (f"FT{cj_d[day][2:]}{seq:07d}", days[day], f"{h:02d}:{m:02d}:{s:02d}", A_CODES[kind],
                   wpayer, pa.name, bank_written(pa, wpayer), wpayee, pe.name, bank_written(pe, wpayee),
                   c / 100, "USD", loc, desc or None)
    write_workbook(p, "Transfers", ["txn_ref", "posted_date", "posted_time", "txn_code", "payer_acct",
                                    "payer_name", "payer_bank", "payee_acct", "payee_name", "payee_bank",
                                    "amount", "currency", "location", "memo"], ledger())
    y = out_dir / "fnb_transfers.yaml"
    y.write_text(MAPPING_A.format(cmap=_yaml_map(_channel_map(A_CODES))), encoding="utf-8")
    files.append((p, y))
    formats[p.name] = "xlsx"
    counts[p.name] = len(rows["A"])

    # 2. bank A cash journal (a workbook)
    p = out_dir / "fnb_cash_journal.xlsx"
    rows["AJ"].sort(key=lambda x: (x[1][0], x[1][1]))

    def journal():
        for holder, (t, seq, payer, payee, c, kind, desc, loc), debit, _wp, _we in rows["AJ"]:
            day, h, m, s = split(t)
            term = ("ATM" if kind.startswith("atm") else "TLR") + f"{(seq * 7919) % 9000 + 1000}"
            yield (holder, acc[holder].name, days[day], f"{h:02d}{m:02d}{s:02d}", AJ_CODES[kind],
                   (-c if debit else c) / 100, None, loc, term, f"{seq:09d}", desc or None)
    write_workbook(p, "Cash journal", ["ACCT_NO", "CUST_NAME", "TRAN_DT", "TRAN_TM", "TRAN_CD", "AMT", "CP_ACCT",
                                       "BRANCH_LOC", "TERMINAL", "SEQ_NO", "MEMO"], journal())
    y = out_dir / "fnb_cash_journal.yaml"
    y.write_text(MAPPING_AJ.format(cmap=_yaml_map(_channel_map(AJ_CODES))), encoding="utf-8")
    files.append((p, y))
    formats[p.name] = "xlsx"
    counts[p.name] = len(rows["AJ"])

    # 3. bank B statement (debit/credit columns)
    p = out_dir / "hcb_statement.csv"
    rows["B"].sort(key=lambda x: (x[0], x[1][0], x[1][1]))
    wr = _Lines(",", ["Account Number", "Account Name", "Post Date", "Time", "Reference", "Type",
                      "Description", "Counterparty Account", "Counterparty Name", "Counterparty Bank",
                      "Location", "Debit", "Credit"])
    for holder, (t, seq, payer, payee, c, kind, desc, loc), debit, wpayer, wpayee in rows["B"]:
        day, h, m, s = split(t)
        cp = payee if debit else payer
        wcp = wpayee if debit else wpayer
        ca = acc.get(cp)
        amt = _us(c)
        h12 = h % 12 or 12
        wr.row([holder, acc[holder].name, us_d[day], f"{h12:02d}:{m:02d}:{s:02d} {'AM' if h < 12 else 'PM'}",
                f"HCB{seq:010d}", B_CODES[kind][0 if debit else 1], desc,
                "" if cp == CASH else wcp, ca.name if ca else "", bank_written(ca, wcp) if ca else "",
                loc or "", amt if debit else "", "" if debit else amt])
    wr.write(p, "utf-8", "\r\n")
    y = out_dir / "hcb_statement.yaml"
    y.write_text(MAPPING_B.format(cmap=_yaml_map(_channel_map(B_CODES))), encoding="utf-8")
    files.append((p, y))
    formats[p.name] = "csv"
    counts[p.name] = len(rows["B"])

    # 4. bank C ISO 20022 camt.053 statements, one per account and month
    p = out_dir / "acb_camt053.xml"
    rows["C"].sort(key=lambda x: (x[0], x[1][0], x[1][1]))
    with open(p, "w", encoding="utf-8", newline="\n") as fh:
        camt.write(_camt_records(w, rows["C"], days, split), fh)
    files.append((p, None))
    formats[p.name] = "camt"
    counts[p.name] = len(rows["C"])
    return files, formats, counts, n_twice


# how a bank writes an account held at another subpoenaed bank: the receiving bank writes the
# payer's account in its own layout, and a wire carries the account as the customer keyed it with
# the Fedwire short name of its bank (every form is the same number once blanks, dashes and case
# are set aside)
SHORT_NAMES = {"A": "FIRST NATL BK HOUSTON", "B": "HARBOR CMNTY BK", "C": "ALPINE CONTL BK"}
MEMO_KEPT = {"A": 30, "B": 32, "C": 35}     # characters of the payer's memo the receiving bank keeps


def written(aid: str, kind: str, receiving: bool) -> str:
    """``aid`` as the other bank writes it: a wire as ``FNB115833`` (no separator), another
    receiving leg as ``FNB 115833``; a paying bank's ACH, card or P2P payee as the id itself."""
    pfx, _, num = aid.partition("-")
    if kind == "wire":
        return f"{pfx}{num}"
    return f"{pfx} {num}" if receiving else aid


def bank_written(a, wid: str) -> str:
    """The bank name written beside ``wid`` (account ``a``): a wire's Fedwire short name (the id
    written without a separator), else the bank's name."""
    if wid != a.id and "-" not in wid and " " not in wid and a.bank in SHORT_NAMES:
        return SHORT_NAMES[a.bank]
    return a.bank_name


def received_at(w: World, t: int, seq: int, kind: str) -> int:
    """When the receiving bank books a transfer the paying bank booked at ``t``: P2P within
    minutes, a wire the same day (the next business day after 14:00), payroll on the payday,
    ACH, bill pay and card settlements the next business day, a deposited check one or two
    business days later (early-morning posting); never after the period's last day."""
    day, sec = divmod(t, DAY)
    last = w.ndays - 1
    if kind == "p2p":
        return min(t + 30 + seq * 37 % 600, last * DAY + DAY - 1)
    if kind == "wire" and sec < 14 * 3600:
        return min(t + 1200 + seq * 53 % 4800, day * DAY + DAY - 1)
    if kind == "payroll":
        return day * DAY + max(sec, 5 * 3600 + seq * 13 % 3600)
    lag = 1 if kind != "check" else 1 + seq % 2
    d = w.business_day(min(day + lag, last))
    if d <= day:
        return min(t + 600, day * DAY + DAY - 1)
    return d * DAY + 6 * 3600 + seq * 7919 % (3 * 3600)


# ISO 20022 bank transaction codes (DOMAIN/FAMILY/SUBFAMILY) bank C books each kind under:
# (when the holder pays, when the holder is paid); each tells the channel (camt.channel_of)
C_ISO_CODES = {"payroll": ("PMNT/ICDT/SALA", "PMNT/RCDT/SALA"), "ach": ("PMNT/IDDT/ESDD", "PMNT/RCDT/ACDT"),
               "billpay": ("PMNT/IDDT/ESDD", "PMNT/RCDT/ACDT"), "check": ("PMNT/ICHQ/CCHQ", "PMNT/RCHQ/CCHQ"),
               "card": ("PMNT/CCRD/POSD", "PMNT/MCRD/POSP"), "p2p": ("PMNT/ICDT/ESCT", "PMNT/RCDT/ESCT"),
               "wire": ("PMNT/ICDT/XBCT", "PMNT/RCDT/XBCT"), "atm_wd": ("PMNT/CCRD/CWDL", None),
               "teller_wd": ("PMNT/CNTR/CWDL", None), "cash_dep": (None, "PMNT/CNTR/CDPT"),
               "atm_dep": (None, "PMNT/CCRD/CDPT")}
C_BIC = "ALCBATWWXXX"


def _opening_cents(by_holder: dict[str, list]) -> dict[str, int]:
    """Each bank C account's balance on the first day: enough that the account, with every entry
    of its statements (in booking order), never goes below a cushion (between $500 and $5,100,
    fixed by the account number)."""
    out = {}
    for a, txs in by_holder.items():
        run = low = 0
        for tx, debit in txs:
            run += -tx[4] if debit else tx[4]
            low = min(low, run)
        out[a] = -low + (500 + int(a.rsplit("-", 1)[-1]) % 47 * 100) * 100
    return out


def _camt_records(w: World, rows: list, days: list, split) -> Iterator[Statement | Entry]:
    """Bank C's statements as :mod:`moneytrail.ingest.formats.camt` records: for each account that
    has an entry in the file, one statement per calendar month of the period (a month without
    entries too), each opening at the previous one's closing; closing = opening + its entries."""
    acc = w.accounts
    by_holder: dict[str, list] = {}
    for holder, tx, debit, wpayer, wpayee in rows:
        by_holder.setdefault(holder, []).append((tx, debit, wpayer, wpayee))
    opening = _opening_cents({h: [(x[0], x[1]) for x in v] for h, v in by_holder.items()})
    for holder, txs in by_holder.items():
        a = acc[holder]
        bal = opening[holder]
        k = 0
        for mi, (d0, n) in enumerate(w.months):
            first, last = days[d0], days[d0 + n - 1]
            month: list[Entry] = []
            net = 0
            while k < len(txs) and txs[k][0][0] // DAY < d0 + n:
                (t, seq, payer, payee, c, kind, desc, loc), debit, wpayer, wpayee = txs[k]
                k += 1
                day, h, m, s = split(t)
                cp = payee if debit else payer
                wcp = wpayee if debit else wpayer
                ca = acc.get(cp)
                net += -c if debit else c
                month.append(Entry(
                    position="", amount=_plain(c), direction=DEBIT if debit else CREDIT,
                    booking_date=days[day].isoformat(), time=f"{h:02d}:{m:02d}:{s:02d}", currency="USD",
                    counterparty_name=ca.name if ca else None, counterparty_account=wcp if ca else None,
                    counterparty_bank=bank_written(ca, wcp) if ca else None,
                    bank_reference=f"ACB/{days[day]:%Y%m%d}/{seq:08d}", remittance=desc or None,
                    tx_code=C_ISO_CODES[kind][0 if debit else 1], channel=CHANNEL[kind], location=loc,
                    status="BOOK"))
            yield Statement(
                position="", kind="camt.053", account=holder, currency="USD", holder_name=a.name,
                bank_id=C_BIC, bank_name=BANKS["C"][1], statement_id=f"{holder}-{first:%Y-%m}",
                sequence=str(mi + 1), created=f"{last + timedelta(days=1)}T06:00:00",
                period_from=f"{first}T00:00:00", period_to=f"{last}T23:59:59",
                opening_booked=_balance(bal, first), closing_booked=_balance(bal + net, last))
            yield from month
            bal += net


def _balance(cents: int, day) -> Balance:
    return Balance(_plain(abs(cents)), day.isoformat(), cents < 0)


__all__ = ["write_exports"]
