"""Load what a statement reader yields (:mod:`moneytrail.ingest.statement`) into the workspace.

One loader for every bank format (``camt``, ``mt940``, ``bai2``, ``ofx``): the readers keep the
file's text, this module checks every value the same way and stores each record in exactly one
place, so ``rows_read = rows_stored + rows_quarantined`` holds for every format:

* an :class:`~moneytrail.ingest.statement.Entry` whose values hold becomes a transaction; its
  ``source_row`` is the entry's ordinal in the file (1-based, over entries and bad records), its
  ``source_position`` the reader's position (line or XML path);
* an Entry that fails a check, or a :class:`~moneytrail.ingest.statement.Bad`, goes to the
  quarantine with its position, its text, the field at fault and why (a Bad standing for a group
  of ``n`` entries counts ``n`` rows read and ``n`` quarantined, in one quarantine row whose
  reason says so);
* each :class:`~moneytrail.ingest.statement.Statement` becomes a ``statements`` row (account,
  holder, bank, the balances the bank states) and tells the accounts view what the statement says
  about its account (``account_records``).

Checks, in order (the first failing one is the reason):

1. the statement names the account (entries of a statement without one are quarantined);
2. direction known (credit or debit);
3. amount: digits with an optional ``.`` and at most 4 decimals, above 0 and below
   :data:`moneytrail.limits.MAX_AMOUNT`;
4. booking date present and valid (ISO 8601 or the reader's ``date_format``), in years
   :data:`~moneytrail.limits.MIN_YEAR`..:data:`~moneytrail.limits.MAX_YEAR`;
5. currency: the entry's or the statement's, three letters (ISO 4217). **Never assumed**: an
   entry whose statement does not say its currency is quarantined;
6. status: only booked entries are movements; pending or information-only entries (camt.052
   ``PDNG``/``INFO``) are quarantined with that reason (kept, not counted twice when booked).

The other side of an entry is its counterparty account (IBAN or number) where the file gives one,
else ``cash`` for cash, ``name:<NAME>`` for a name only, or ``unidentified:<holder>``, as for CSV
statements. Values are bound through Arrow tables, never formatted into SQL.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterable

import pyarrow as pa

from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement, clip
from moneytrail.limits import MAX_AMOUNT, MAX_YEAR, MIN_YEAR
from moneytrail.workspace import TX_ID_STRIDE, Workspace

BATCH = 50_000
_AMOUNT = re.compile(r"[0-9]{1,13}(?:\.[0-9]{0,4})?|\.[0-9]{1,4}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?")
_TIME = re.compile(r"([0-9]{2}):?([0-9]{2})(?::?([0-9]{2}))?")
MAX_FIELD = 4000          # characters kept of any text field of an entry (the rest is in the evidence file)
BOOKED = (None, "", "BOOK", "BOOKED")

TX_COLUMNS = ("tx_id", "source_id", "source_row", "external_id", "ts", "orig_account", "bene_account", "amount",
              "currency", "channel", "tx_type", "description", "location", "balance_after", "statement_account",
              "source_position", "value_date", "counterparty_name", "counterparty_bank", "end_to_end_id",
              "customer_reference", "batch_ref")
TX_TYPES = (pa.int64(), pa.int32(), pa.int64(), pa.string(), pa.timestamp("us"), pa.string(), pa.string(),
            pa.decimal128(18, 4), pa.string(), pa.string(), pa.string(), pa.string(), pa.string(),
            pa.decimal128(18, 4), pa.string(), pa.string(), pa.date32(), pa.string(), pa.string(), pa.string(),
            pa.string(), pa.string())


class Invalid(ValueError):
    """A value that does not hold: the field and why."""

    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column = column


def _text(v: str | None, n: int = MAX_FIELD) -> str | None:
    if v is None:
        return None
    v = " ".join(str(v).split())
    return (v[:n] + "…") if len(v) > n else (v or None)


def parse_amount(text: str | None, column: str = "amount") -> Decimal:
    t = (text or "").strip()
    if not t:
        raise Invalid(column, "amount missing")
    if len(t) > 40 or not _AMOUNT.fullmatch(t):
        raise Invalid(column, f"amount {t[:40]!r} is not a number with at most 4 decimals below "
                              f"{MAX_AMOUNT:,}")
    try:
        d = Decimal(t)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise Invalid(column, f"amount {t[:40]!r} is not a number") from None
    if d >= MAX_AMOUNT:
        raise Invalid(column, f"amount {t[:40]} is not below {MAX_AMOUNT:,}")
    return d


def parse_date(text: str | None, fmt: str | None, column: str = "date") -> _dt.datetime:
    """The file's date text as a datetime: ISO 8601 (a date, or a date and time; an offset is
    converted to UTC), or ``fmt`` (strptime)."""
    t = (text or "").strip()
    if not t:
        raise Invalid(column, "date missing")
    if len(t) > 40:
        raise Invalid(column, f"date {t[:40]!r}… is too long to be a date")
    got = _parsed_date(t, fmt)      # a statement's entries share a few dates: parsed once each
    if isinstance(got, str):
        raise Invalid(column, got)
    return got


@functools.lru_cache(maxsize=8192)
def _parsed_date(t: str, fmt: str | None) -> _dt.datetime | str:
    """``t`` parsed (see :func:`parse_date`), or why not (a text, so that failures are cached
    too)."""
    try:
        return _parse_date(t, fmt)
    except Invalid as e:
        return str(e)


def _parse_date(t: str, fmt: str | None, column: str = "date") -> _dt.datetime:
    try:
        if fmt:
            d = _dt.datetime.strptime(t, fmt)
        else:
            m = _ISO_DATE.match(t)
            if not m:
                raise ValueError
            if m.group(4) is not None and len(t) > 16:
                d = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
                if d.tzinfo is not None:
                    d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            else:
                d = _dt.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                                 int(m.group(4) or 0), int(m.group(5) or 0))
    except (ValueError, OverflowError):
        raise Invalid(column, f"date {t!r} is not a date" + (f" in the form {fmt}" if fmt else " (YYYY-MM-DD)")) from None
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise Invalid(column, f"date {t!r} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return d


def _with_time(d: _dt.datetime, time_text: str | None) -> _dt.datetime:
    if not time_text or d.time() != _dt.time(0):
        return d
    m = _TIME.fullmatch(time_text.strip()[:8])
    if not m:
        return d
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h < 24 and mi < 60 and s < 60:
        return d.replace(hour=h, minute=mi, second=s)
    return d


def _balance(b: Balance | None, fallback_fmt: str | None) -> tuple[Decimal | None, _dt.date | None, str | None]:
    """A stated balance as (amount, date, problem)."""
    if b is None:
        return None, None, None
    try:
        amt = parse_amount(b.amount, "balance")
        day = parse_date(b.date, b.date_format or fallback_fmt, "balance date").date() if b.date else None
    except Invalid as e:
        return None, None, str(e)
    return (-amt if b.negative else amt), day, None


class _Batch:
    """Columns of the transactions, quarantine rows and account facts gathered for one insert."""

    def __init__(self) -> None:
        self.tx: dict[str, list[Any]] = {c: [] for c in TX_COLUMNS}
        self.q: dict[str, list[Any]] = {c: [] for c in ("source_row", "raw", "column_name", "reason", "source_position")}
        self.accounts: dict[str, tuple[int, str | None, str | None, str | None, str | None]] = {}

    def __len__(self) -> int:
        return len(self.tx["tx_id"]) + len(self.q["source_row"])


class StatementLoader:
    """Stores one source's records; see the module's docstring for the rules."""

    def __init__(self, ws: Workspace, source_id: int, fmt: str):
        self.ws, self.source_id, self.fmt = ws, source_id, fmt
        self.read = self.stored = self.quarantined = 0
        self.row = 0                     # the last source_row given
        self.statement: Statement | None = None
        self.statement_no = 0
        self.st_read = self.st_stored = 0
        self.st_first: int | None = None
        self.batch = _Batch()
        self.statements: list[dict[str, Any]] = []
        self.kinds: dict[str, int] = {}

    # -- records ---------------------------------------------------------------------------------
    def add(self, rec: Statement | Entry | Bad) -> None:
        if isinstance(rec, Statement):
            self._close_statement()
            self.statement = rec
            self.statement_no += 1
            self.kinds[rec.kind] = self.kinds.get(rec.kind, 0) + 1
            self._account_fact(rec.account, rec.holder_name, rec.bank_name or rec.bank_id, rec.currency,
                               "statement holder")
        elif isinstance(rec, Entry):
            self.row += 1
            self.read += 1
            self.st_read += 1
            self.st_first = self.st_first or self.row
            try:
                self._entry(rec)
            except Invalid as e:
                self._quarantine(self.row, rec.raw, e.column, str(e), rec.position)
        elif isinstance(rec, Bad):
            n = max(int(rec.counts_entries), 0)
            if n == 0:         # a problem of the statement itself, not an entry: noted on it
                self.statement_problems().append(f"{rec.position}: {rec.reason}"[:500])
                return
            self.row += 1
            first = self.row
            self.row += n - 1          # the group's entries keep their numbers: rows first..first+n-1
            self.read += n
            self.st_read += n
            self.st_first = self.st_first or first
            why = rec.reason if n == 1 else f"{rec.reason} ({n} entries, rows {first}-{self.row}, quarantined together)"
            self._quarantine(first, rec.raw, rec.column, why, rec.position, weight=n)
        if len(self.batch) >= BATCH:
            self.flush()

    def statement_problems(self) -> list[str]:
        if self.statement is None:
            self.statement = Statement(position="(before any statement)", kind=self.fmt, account=None)
            self.statement_no += 1
        return self.statement.extra.setdefault("_problems", [])  # type: ignore[return-value]

    def _entry(self, e: Entry) -> None:
        st = self.statement
        if st is None or not st.account:
            raise Invalid("account", "the statement names no account: its entries cannot be placed")
        if e.direction not in (CREDIT, DEBIT):
            raise Invalid("direction", "the entry does not say whether it is a credit or a debit")
        amount = parse_amount(e.amount)
        if amount == 0:
            raise Invalid("amount", "amount is zero: no money moved")
        fmt = e.date_format or st.date_format
        ts = _with_time(parse_date(e.booking_date or e.value_date, fmt, "booking date"), e.time)
        value_date = None
        if e.value_date and e.booking_date:
            try:
                value_date = parse_date(e.value_date, fmt, "value date").date()
            except Invalid:
                value_date = None   # the booking date carries the entry; a bad value date is not a reason to lose it
        currency = (e.currency or st.currency or "").strip().upper()
        if not currency:
            raise Invalid("currency", "no currency: neither the entry nor its statement states one (never assumed)")
        if not _CURRENCY.fullmatch(currency):
            raise Invalid("currency", f"currency {currency[:20]!r} is not a three-letter ISO 4217 code")
        status = (e.status or "").strip().upper() or None
        if status not in BOOKED:
            raise Invalid("status", f"status {status[:12]} (not booked): a pending or information-only entry is not "
                                    f"a movement yet")
        holder = st.account
        name = _text(e.counterparty_name, 200)
        cp = _text(e.counterparty_account, 100)
        if cp:
            cp = cp.replace(" ", "")
        if not cp:
            cp = "cash" if e.channel == "cash" else f"name:{name.upper()}" if name else f"unidentified:{holder}"
        if cp == holder:
            raise Invalid("counterparty", "the counterparty account is the statement's own account")
        orig, bene = (cp, holder) if e.direction == CREDIT else (holder, cp)
        b = self.batch
        t = b.tx
        t["tx_id"].append(self.source_id * TX_ID_STRIDE + self.row)
        t["source_id"].append(self.source_id)
        t["source_row"].append(self.row)
        t["external_id"].append(_text(e.bank_reference, 200))
        t["ts"].append(ts)
        t["orig_account"].append(orig)
        t["bene_account"].append(bene)
        t["amount"].append(amount)
        t["currency"].append(currency)
        t["channel"].append(e.channel)
        t["tx_type"].append(_text(e.tx_code, 100))
        t["description"].append(_text(e.remittance))
        t["location"].append(_text(e.location, 200))
        t["balance_after"].append(None)
        t["statement_account"].append(holder)
        t["source_position"].append(_text(e.position, 500))
        t["value_date"].append(value_date)
        t["counterparty_name"].append(name)
        t["counterparty_bank"].append(_text(e.counterparty_bank, 200))
        t["end_to_end_id"].append(_text(e.end_to_end_id, 200))
        t["customer_reference"].append(_text(e.customer_reference, 200))
        t["batch_ref"].append(_text(e.batch, 200))
        self.stored += 1
        self.st_stored += 1
        self._account_fact(cp, name, _text(e.counterparty_bank, 200), currency, "counterparty")

    def _account_fact(self, account: str | None, name: str | None, bank: str | None, currency: str | None,
                      role: str) -> None:
        # the first record naming an account in this batch; earlier batches' are kept by the insert
        # (memory stays one batch's worth, whatever the number of accounts in the file)
        if not account or account in self.batch.accounts:
            return
        kind = ("cash" if account == "cash" else
                "external" if account.startswith(("name:", "unidentified:")) else None)
        self.batch.accounts[account] = (max(self.row, 0), name, bank, kind, currency)

    def _quarantine(self, row: int, raw: str, column: str | None, reason: str, position: str,
                    weight: int = 1) -> None:
        q = self.batch.q
        q["source_row"].append(row)
        q["raw"].append(clip(raw) or "(empty)")
        q["column_name"].append(column)
        q["reason"].append(reason[:1000])
        q["source_position"].append(_text(position, 500))
        self.quarantined += weight

    # -- statements ------------------------------------------------------------------------------
    def _close_statement(self) -> None:
        st = self.statement
        if st is None:
            return
        problems = list(st.extra.pop("_problems", []))
        vals: dict[str, Any] = {}
        for name in ("opening_booked", "closing_booked", "opening_available", "closing_available"):
            amt, day, problem = _balance(getattr(st, name), st.date_format)
            vals[name], vals[name + "_date"] = amt, day
            if problem:
                problems.append(f"{name.replace('_', ' ')}: {problem}")
        period = []
        for p in (st.period_from, st.period_to):
            try:
                period.append(parse_date(p, st.date_format, "period").date() if p else None)
            except Invalid as e:
                problems.append(f"period: {e}")
                period.append(None)
        self.statements.append({
            "source_id": self.source_id, "statement_no": self.statement_no, "source_position": _text(st.position, 500),
            "kind": st.kind, "account_id": _text(st.account, 100), "currency": _text(st.currency, 3),
            "holder_name": _text(st.holder_name, 300), "holder_address": _text(st.holder_address, 500),
            "bank_id": _text(st.bank_id, 100), "bank_name": _text(st.bank_name, 300),
            "statement_ref": _text(st.statement_id, 200), "sequence": _text(st.sequence, 50),
            "created": _text(st.created, 50), "period_from": period[0], "period_to": period[1],
            **vals, "entries_read": self.st_read, "entries_stored": self.st_stored,
            "first_row": self.st_first, "last_row": self.row if self.st_first else None,
            "problems": problems or None,
            "extra": json.dumps({k: str(v)[:500] for k, v in list(st.extra.items())[:50]}) if st.extra else None,
        })
        self.st_read = self.st_stored = 0
        self.st_first = None
        self.statement = None

    # -- writing ---------------------------------------------------------------------------------
    def flush(self) -> None:
        b, con = self.batch, self.ws.con
        if b.tx["tx_id"]:
            tbl = pa.table({c: pa.array(b.tx[c], type=t) for c, t in zip(TX_COLUMNS, TX_TYPES)})
            con.register("_stmt_tx", tbl)
            try:
                cols = ", ".join(TX_COLUMNS)
                con.execute(f"INSERT INTO main.transactions ({cols}) SELECT {cols} FROM _stmt_tx")
            finally:
                con.unregister("_stmt_tx")
        if b.q["source_row"]:
            tbl = pa.table({"source_row": pa.array(b.q["source_row"], type=pa.int64()),
                            "raw": pa.array(b.q["raw"], type=pa.string()),
                            "column_name": pa.array(b.q["column_name"], type=pa.string()),
                            "reason": pa.array(b.q["reason"], type=pa.string()),
                            "source_position": pa.array(b.q["source_position"], type=pa.string())})
            con.register("_stmt_q", tbl)
            try:
                con.execute("INSERT INTO main.quarantine (source_id, source_row, raw, column_name, reason, "
                            "source_position) SELECT ?, source_row, raw, column_name, reason, source_position "
                            "FROM _stmt_q", [self.source_id])
            finally:
                con.unregister("_stmt_q")
        if b.accounts:
            accts = list(b.accounts.items())
            tbl = pa.table({"account_id": pa.array([a for a, _ in accts], type=pa.string()),
                            "source_row": pa.array([v[0] for _, v in accts], type=pa.int64()),
                            "owner_name": pa.array([v[1] for _, v in accts], type=pa.string()),
                            "bank": pa.array([v[2] for _, v in accts], type=pa.string()),
                            "kind": pa.array([v[3] for _, v in accts], type=pa.string()),
                            "currency": pa.array([v[4] for _, v in accts], type=pa.string())})
            con.register("_stmt_acc", tbl)
            try:
                con.execute("INSERT INTO main.account_records (account_id, source_id, source_row, register, "
                            "owner_name, bank, kind, currency) SELECT account_id, ?, source_row, false, owner_name, "
                            "bank, kind, currency FROM _stmt_acc WHERE account_id NOT IN "
                            "(SELECT account_id FROM main.account_records WHERE source_id = ?)",
                            [self.source_id, self.source_id])
            finally:
                con.unregister("_stmt_acc")
        self.batch = _Batch()

    def finish(self) -> dict[str, Any]:
        self._close_statement()
        self.flush()
        if self.statements:
            cols = list(self.statements[0])
            types = {"source_id": pa.int32(), "statement_no": pa.int32(), "period_from": pa.date32(),
                     "period_to": pa.date32(), "entries_read": pa.int64(), "entries_stored": pa.int64(),
                     "first_row": pa.int64(), "last_row": pa.int64(), "problems": pa.list_(pa.string())}
            for c in ("opening_booked", "closing_booked", "opening_available", "closing_available"):
                types[c] = pa.decimal128(18, 4)
                types[c + "_date"] = pa.date32()
            tbl = pa.table({c: pa.array([s[c] for s in self.statements], type=types.get(c, pa.string()))
                            for c in cols})
            con = self.ws.con
            con.register("_stmts", tbl)
            try:
                con.execute(f"INSERT INTO main.statements ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _stmts")
            finally:
                con.unregister("_stmts")
        return {"read": self.read, "stored": self.stored, "quarantined": self.quarantined,
                "statements": len(self.statements), "kinds": self.kinds}


def load_statements(ws: Workspace, source_id: int, fmt: str, records: Iterable[Statement | Entry | Bad], *,
                    on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Store ``records`` (a reader's stream) as source ``source_id``; returns the counts
    (``read``, ``stored``, ``quarantined``, ``statements``, ``kinds``)."""
    loader = StatementLoader(ws, source_id, fmt)
    for rec in records:
        loader.add(rec)
    return loader.finish()


__all__ = ["Invalid", "StatementLoader", "load_statements", "parse_amount", "parse_date"]
