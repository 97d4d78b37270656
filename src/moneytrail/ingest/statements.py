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

Memory does not grow with the file (BENCHMARKS.md, "Statement formats"). The checked rows are gathered a batch at a time
(:data:`BATCH`) and staged on disk, each table in its own Arrow IPC stream (LZ4) in a private
folder beside the workspace (:meth:`moneytrail.workspace.Workspace.staging`); :meth:`StatementLoader.finish`
publishes each table with one ``INSERT ... SELECT`` reading its stream back a batch at a time, in
the caller's transaction (the ingest's one: a failed or killed ingest stores nothing; the staging
folder goes with the ingest, or with the next open for writing). Staged rather than inserted
batch by batch because DuckDB keeps the rows of many INSERTs into one uncommitted transaction in
memory until the commit (peak RSS grew ~70 MiB per 100,000 camt entries), where one INSERT
streaming its input writes full row groups to the database file as it goes; and not committed
batch by batch, which would break "a failed ingest stores nothing". Each publishing query runs
with a small ``operator_memory_limit`` (:data:`PUBLISH_OPERATOR_MEMORY`). An account's record is
its first naming in the file: each batch keeps the first per account, staged in one of
:data:`ACC_PARTS` parts by account, and each part, read back alone, keeps the first over the
batches (memory holds a part: a sixteenth of the file's account facts).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import re
from contextlib import ExitStack, contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pyarrow as pa

from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement, clip
from moneytrail.limits import MAX_AMOUNT, MAX_YEAR, MIN_YEAR
from moneytrail.sqlkit import lit
from moneytrail.workspace import TX_ID_STRIDE, Workspace

BATCH = 10_000            # rows (transactions + quarantined) gathered in Python before they are staged
# DuckDB's memory for one publishing query's intermediates (this connection only, while the ingest
# publishes): past it the query spills to DuckDB's temporary folder. Left at DuckDB's default (up
# to the whole memory cap), one INSERT of 1,000,000 staged rows peaked ~130 MiB higher.
PUBLISH_OPERATOR_MEMORY = "64MB"
ACC_PARTS = 16            # account facts are staged in parts by account, to find first namings a part at a time
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

Q_COLUMNS = ("source_row", "raw", "column_name", "reason", "source_position")
Q_TYPES = (pa.int64(), pa.string(), pa.string(), pa.string(), pa.string())
ACC_COLUMNS = ("seq", "account_id", "source_row", "owner_name", "bank", "kind", "currency")
ACC_TYPES = (pa.int64(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.string(), pa.string())
_BALANCES = ("opening_booked", "closing_booked", "opening_available", "closing_available")
ST_COLUMNS = ("source_id", "statement_no", "source_position", "kind", "account_id", "currency", "holder_name",
              "holder_address", "bank_id", "bank_name", "statement_ref", "sequence", "created", "period_from",
              "period_to", *(c for b in _BALANCES for c in (b, b + "_date")), "entries_read", "entries_stored",
              "first_row", "last_row", "problems", "extra")
_ST_TYPE = {"source_id": pa.int32(), "statement_no": pa.int32(), "period_from": pa.date32(), "period_to": pa.date32(),
            "entries_read": pa.int64(), "entries_stored": pa.int64(), "first_row": pa.int64(), "last_row": pa.int64(),
            "problems": pa.list_(pa.string()),
            **{c: t for b in _BALANCES for c, t in ((b, pa.decimal128(18, 4)), (b + "_date", pa.date32()))}}
ST_TYPES = tuple(_ST_TYPE.get(c, pa.string()) for c in ST_COLUMNS)


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
    """Columns of the transactions, quarantine rows, account facts and statements gathered
    before they are staged."""

    def __init__(self) -> None:
        self.tx: dict[str, list[Any]] = {c: [] for c in TX_COLUMNS}
        self.q: dict[str, list[Any]] = {c: [] for c in Q_COLUMNS}
        self.accounts: dict[str, tuple[int, str | None, str | None, str | None, str | None]] = {}
        self.statements: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.tx["tx_id"]) + len(self.q["source_row"]) + len(self.statements)


@contextmanager
def _operator_memory(con: Any, limit: str) -> Iterator[None]:
    """DuckDB's ``operator_memory_limit`` of this connection set to ``limit`` for the block, then
    put back as it was."""
    before = con.execute("SELECT current_setting('operator_memory_limit')").fetchall()[0][0]
    con.execute(f"SET operator_memory_limit = {lit(limit)}")
    try:
        yield
    finally:
        con.execute("RESET operator_memory_limit" if before is None else f"SET operator_memory_limit = {lit(before)}")


class _Staged:
    """One table's rows staged on disk: an Arrow IPC stream (LZ4) written a batch at a time and
    read back a batch at a time."""

    def __init__(self, path: Path, columns: tuple[str, ...], types: tuple[pa.DataType, ...]):
        self.path, self.columns = path, columns
        self.schema = pa.schema(list(zip(columns, types)))
        self.rows = 0
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def write(self, cols: dict[str, list[Any]]) -> None:
        self._write(pa.record_batch([pa.array(cols[c], type=f.type) for c, f in zip(self.columns, self.schema)],
                                    schema=self.schema))

    def _write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self._writer is None:     # (a full disk is Arrow's OSError with its errno: the ingest says so)
            self._writer = pa.ipc.new_stream(str(self.path), self.schema,
                                             options=pa.ipc.IpcWriteOptions(compression="lz4"))
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def write_table(self, table: pa.Table) -> None:
        for batch in table.combine_chunks().to_batches(max_chunksize=BATCH):
            self._write(batch)

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()

    def reader(self, stack: ExitStack) -> pa.RecordBatchReader:
        """The staged rows, a batch at a time (the file is closed when ``stack`` is)."""
        self.close()
        return stack.enter_context(pa.ipc.open_stream(stack.enter_context(pa.OSFile(str(self.path), "rb"))))


class StatementLoader:
    """Stores one source's records; see the module's docstring for the rules."""

    def __init__(self, ws: Workspace, source_id: int, fmt: str, staging: Path):
        """``staging``: an empty private folder that outlives the loader until :meth:`finish`
        (:meth:`moneytrail.workspace.Workspace.staging`)."""
        self.ws, self.source_id, self.fmt = ws, source_id, fmt
        self.read = self.stored = self.quarantined = 0
        self.row = 0                     # the last source_row given
        self.statement: Statement | None = None
        self.statement_no = 0
        self.st_read = self.st_stored = 0
        self.st_first: int | None = None
        self.batch = _Batch()
        self.n_statements = 0
        self.seq = 0                     # account facts staged so far (the first naming wins)
        self.kinds: dict[str, int] = {}
        self.staged = {"tx": _Staged(staging / "transactions.arrows", TX_COLUMNS, TX_TYPES),
                       "q": _Staged(staging / "quarantine.arrows", Q_COLUMNS, Q_TYPES),
                       "acc": _Staged(staging / "account_records.arrows", ACC_COLUMNS, ACC_TYPES),
                       "st": _Staged(staging / "statements.arrows", ST_COLUMNS, ST_TYPES),
                       **{f"acc{k}": _Staged(staging / f"account_records-{k}.arrows", ACC_COLUMNS, ACC_TYPES)
                          for k in range(ACC_PARTS)}}

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
        # the first record naming an account in this batch; the first over the batches is chosen
        # when they are published (memory stays one batch's worth, whatever the number of accounts)
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
        self.n_statements += 1
        self.batch.statements.append({
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
        """Stage the batch gathered so far (nothing reaches the workspace before :meth:`finish`)."""
        b = self.batch
        self.staged["tx"].write(b.tx)
        self.staged["q"].write(b.q)
        if b.accounts:
            # each account's facts go to one part (by its name's hash), numbered in file order
            parts: list[list[tuple[int, str, tuple]]] = [[] for _ in range(ACC_PARTS)]
            for i, (a, v) in enumerate(b.accounts.items(), start=self.seq):
                parts[hash(a) % ACC_PARTS].append((i, a, v))
            self.seq += len(b.accounts)
            for k, rows in enumerate(parts):
                if rows:
                    self.staged[f"acc{k}"].write({
                        "seq": [r[0] for r in rows], "account_id": [r[1] for r in rows],
                        **{c: [r[2][j] for r in rows] for j, c in enumerate(ACC_COLUMNS[2:])}})
        if b.statements:
            self.staged["st"].write({c: [r[c] for r in b.statements] for c in ST_COLUMNS})
        self.batch = _Batch()

    def finish(self) -> dict[str, Any]:
        """Stage what is left, then publish every staged table into the workspace, one
        ``INSERT ... SELECT`` each, in the caller's transaction."""
        self._close_statement()
        self.flush()
        self._first_namings()
        con, sid = self.ws.con, self.source_id
        cols = ", ".join(TX_COLUMNS)
        q_cols = ", ".join(Q_COLUMNS)
        acc = ", ".join(ACC_COLUMNS[1:])
        st_cols = ", ".join(ST_COLUMNS)
        publish = [
            ("tx", f"INSERT INTO main.transactions ({cols}) SELECT {cols} FROM _stmt_tx", []),
            ("q", f"INSERT INTO main.quarantine (source_id, {q_cols}) SELECT ?, {q_cols} FROM _stmt_q", [sid]),
            ("acc", f"INSERT INTO main.account_records (source_id, register, {acc}) SELECT ?, false, {acc} "
                    f"FROM _stmt_acc", [sid]),
            ("st", f"INSERT INTO main.statements ({st_cols}) SELECT {st_cols} FROM _stmt_st", []),
        ]
        with _operator_memory(con, PUBLISH_OPERATOR_MEMORY):
            for key, sql, params in publish:
                staged = self.staged[key]
                if not staged.rows:
                    continue
                with ExitStack() as stack:
                    view = f"_stmt_{key}"
                    con.register(view, staged.reader(stack))
                    try:
                        con.execute(sql, params)
                    finally:
                        con.unregister(view)
                staged.path.unlink(missing_ok=True)     # published: the disk space is the workspace's again
        return {"read": self.read, "stored": self.stored, "quarantined": self.quarantined,
                "statements": self.n_statements, "kinds": self.kinds}

    def _first_namings(self) -> None:
        """Stage, for the ``account_records`` table, each account's first naming in the file: the
        batches kept their first, each part (all the facts of 1/:data:`ACC_PARTS` of the accounts,
        so memory holds one part at a time) is read back and keeps the first over the batches."""
        import pyarrow.compute as pc

        out = self.staged["acc"]
        for k in range(ACC_PARTS):
            part = self.staged[f"acc{k}"]
            if not part.rows:
                continue
            with ExitStack() as stack:
                t = part.reader(stack).read_all()
            first = t.group_by("account_id", use_threads=False).aggregate([("seq", "min")])
            out.write_table(t.filter(pc.is_in(t["seq"], value_set=first["seq_min"])))
            del t, first
            part.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the staged streams (on success :meth:`finish` has; after a failure, before the
        staging folder is removed)."""
        for staged in self.staged.values():
            try:
                staged.close()
            except OSError:
                pass


def load_statements(ws: Workspace, source_id: int, fmt: str, records: Iterable[Statement | Entry | Bad], *,
                    on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Store ``records`` (a reader's stream) as source ``source_id``; returns the counts
    (``read``, ``stored``, ``quarantined``, ``statements``, ``kinds``)."""
    with ws.staging() as folder:
        loader = StatementLoader(ws, source_id, fmt, folder)
        try:
            for rec in records:
                loader.add(rec)
            return loader.finish()
        finally:
            loader.close()


__all__ = ["Invalid", "StatementLoader", "load_statements", "parse_amount", "parse_date"]
