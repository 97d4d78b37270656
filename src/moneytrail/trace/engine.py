"""The tracing engine: one ordered pass over the ledger per rule.

Input. The resolved transfer graph (``edges``: one row per transaction, accounts resolved,
pseudo-accounts flagged) is numbered and sorted once in DuckDB into a temp table of integer
columns ``(ts µs, tx_id, src, dst, amount in 0.0001 units, kind)`` in the documented order
``(ts, tx_id)``. Each rule's pass streams that table back in Arrow batches and walks it in
one Python loop: O(N) in the number of transactions after the one sort, memory bounded by
the number of accounts (their balances and, for accounts holding taint, a small rule state;
FIFO/LIFO keep one piece per change of kind still in the account).

Per event (a transfer of a from src to dst):

1. src is a real account: the rule splits the payment into tainted and clean parts (only if
   src holds taint; otherwise nothing is tainted and no rule code runs). If a exceeds src's
   reconstructed balance b, the difference is money the ledger does not show (an overdraft,
   an unrecorded deposit, an unknown opening balance): it is treated as clean money deposited
   just before the payment, reported as ``unrecorded_funds``, and the balance floors at 0.
   (Tracing through an overdrawn account is impossible in law as well: Bishopsgate Investment
   Management Ltd v Homan [1995] Ch 211.) src a pseudo-account (cash, a name, unidentified):
   the money comes from outside the ledger, clean.
2. the transaction is a taint source: the whole amount is tainted, whatever src held.
3. dst is a real account: the rule adds the receipt; dst a pseudo-account: the tainted part
   leaves the ledger there (``exits``).

Declared holdings (``Source(account=, amount=, at=)``) are applied after every transaction
with ``ts <= at``: that much of the account's clean balance becomes tainted (at most the
clean balance; the rule decides which money it is).

18 U.S.C. 984 (civil forfeiture of fungible property): for an action commenced within one
year of the offense, identical funds in the same account may be forfeited in place of the
offense funds without tracing. The engine counts, per account, the tainted money that
entered it within the year before ``as_of`` (default: the last transaction traced), and
``s984_forfeitable = min(balance at as_of, that amount)``; ``s984`` flags accounts where it
is above zero. The offense date taken is the date the tainted money entered that account.
The figure is each account's own exposure: money that passes through several accounts counts
in each, so the accounts' figures overlap and their total is not money traced
(:mod:`moneytrail.trace.reading`). This is a flag for counsel (the 984(c) interbank-account exception, and whether each hop is
itself an offense, are not assessed), not a conclusion.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from moneytrail.errors import ConfigError, WorkspaceError
from moneytrail.limits import MAX_AMOUNT
from moneytrail.sqlkit import in_list, lit
from moneytrail.trace import rules as _rules
from moneytrail.trace.rules import SCALE

EVENTS = "_trace_events"
ACCOUNTS = "_trace_accounts"
BATCH_ROWS = 262_144
DECLARE_BASE = 1 << 62            # tx ids of declared holdings: after every real tx at that ts
K_TX, K_SOURCE, K_DECLARE = 0, 1, 2
EPOCH = _dt.datetime(1970, 1, 1)
MAX_TX_ID = 2**63 - 1             # transaction ids are BIGINT
#: an amount in units, widened before the product: amount * 10**4 overflows DECIMAL(18, 4) at
#: 10**10 (the cap on stored amounts is 10**12, i.e. 10**16 units: a BIGINT holds it)
UNITS_SQL = f"CAST(CAST({{col}} AS DECIMAL(38, 4)) * {SCALE} AS BIGINT)"

ORDERING = ("events are ordered by (timestamp, tx_id); tx_id = source_id * 10^10 + source_row, "
            "so one statement keeps its row order and sources follow ingest order; a declared "
            "holding (--account/--amount/--at) applies after every transaction at or before its time")


@dataclass
class Source:
    """A taint source: a transaction (its whole amount is tainted on arrival), or an amount
    held in an account at a time."""
    tx_id: int | None = None
    account: str | None = None
    amount: Decimal | None = None
    at: _dt.datetime | None = None

    def label(self) -> str:
        if self.tx_id is not None:
            return f"tx {self.tx_id}"
        return f"{self.amount} in {self.account} at {self.at}"


def to_units(v) -> int:
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    u = d * SCALE
    if u != u.to_integral_value():
        raise ConfigError(f"amount {v}: at most 4 decimals")
    return int(u)


def money(units: int | None) -> Decimal | None:
    """Units of 0.0001 as an exact Decimal with 4 decimals (a float would round sums above about
    9 * 10**11, and amounts may come near 10**12 each)."""
    return None if units is None else Decimal(units).scaleb(-4)


def check_tx_id(t: Any, opt: str = "--source") -> int:
    """A transaction id from outside: a whole number a BIGINT column can hold."""
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t <= MAX_TX_ID:
        raise ConfigError(f"{opt} {str(t)[:40]!r}: not a transaction id (a whole number from 0 to {MAX_TX_ID})")
    return t


def naive_utc(ts: _dt.datetime) -> _dt.datetime:
    return ts.astimezone(_dt.timezone.utc).replace(tzinfo=None) if ts.tzinfo is not None else ts


def to_us(ts: _dt.datetime) -> int:
    if ts.tzinfo is not None:
        ts = ts.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    d = ts - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int | None) -> _dt.datetime | None:
    return None if us is None else EPOCH + _dt.timedelta(microseconds=us)


def one_year_before(ts: _dt.datetime) -> _dt.datetime:
    try:
        return ts.replace(year=ts.year - 1)
    except ValueError:                      # 29 February
        return ts.replace(year=ts.year - 1, day=28)


# -- the prepared ledger ---------------------------------------------------------------------------

class Ledger:
    """The ordered event table for one trace, built once and read by every rule's pass.

    ``relation`` is a table or view with the columns of ``edges`` the engine needs:
    ``tx_id, src, dst, ts, amount, src_pseudo, dst_pseudo``. ``restrict`` (optional) is a
    SQL condition on those columns (alias ``e``) that limits the events traced.
    """

    def __init__(self, con, *, relation: str = "edges", sources: Iterable[Source] = (),
                 openings: dict[str, int] | None = None, as_of: _dt.datetime | None = None,
                 restrict: str | None = None, table_suffix: str = ""):
        t0 = time.perf_counter()
        self.con = con
        self.relation = relation
        self.events_table = EVENTS + table_suffix
        self.accounts_table = ACCOUNTS + table_suffix
        sources = list(sources)
        self.sources = sources
        where = f"WHERE {restrict}" if restrict else ""
        last = con.execute(f"SELECT max(ts) FROM {relation} e {where}").fetchall()[0][0]
        if last is None:
            raise WorkspaceError("no transactions to trace: ingest evidence and run `moneytrail run` first")
        self.last_ts = last
        self.as_of = naive_utc(as_of) if as_of is not None else last
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.accounts_table} AS
            WITH a AS (SELECT src AS account_id, src_pseudo AS pseudo FROM {relation} e {where}
                       UNION ALL SELECT dst, dst_pseudo FROM {relation} e {where})
            SELECT account_id, bool_or(pseudo) AS pseudo,
                   CAST(row_number() OVER (ORDER BY bool_or(pseudo), account_id) - 1 AS INTEGER) AS idx
            FROM a GROUP BY account_id""")
        self.n_accounts, self.n_real = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT pseudo) FROM {self.accounts_table}").fetchall()[0]

        # sources: transactions must exist; holdings name a real account
        tx_ids = sorted({check_tx_id(s.tx_id) for s in sources if s.tx_id is not None})
        self.source_tx: dict[int, dict[str, Any]] = {}
        if tx_ids:
            rows = con.execute(
                f"SELECT tx_id, src, dst, ts, amount FROM {relation} e "
                f"WHERE {in_list('tx_id', tx_ids)}").fetchall()
            for tx, src, dst, ts, amount in rows:
                self.source_tx[tx] = {"tx_id": tx, "from": src, "to": dst, "ts": ts, "amount": amount}
            missing = [t for t in tx_ids if t not in self.source_tx]
            if missing:
                raise ConfigError(f"--source {missing[0]}: no such transaction in the workspace"
                                  + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            late = [t for t, r in self.source_tx.items() if r["ts"] > self.as_of]
            if late:
                raise ConfigError(f"--source {late[0]}: the transaction is after --as-of {self.as_of}")
        declared = []
        for i, s in enumerate(sources):
            if s.tx_id is not None:
                continue
            if s.account is None or s.amount is None or s.at is None:
                raise ConfigError("a declared holding needs --account, --amount and --at together")
            idx = (con.execute(f"SELECT idx, pseudo FROM {self.accounts_table} WHERE account_id = ?",
                               [s.account]).fetchall() or [None])[0]
            if idx is None:
                raise ConfigError(f"--account {s.account}: no transactions of this account in the workspace")
            if idx[1]:
                raise ConfigError(f"--account {s.account}: a pseudo-account (cash, a name only, or "
                                  f"unidentified) holds no balance to trace")
            if naive_utc(s.at) > self.as_of:
                raise ConfigError(f"--at {s.at}: after the end of the trace ({self.as_of})")
            units = to_units(s.amount)
            if units <= 0 or units >= MAX_AMOUNT * SCALE:
                raise ConfigError(f"--amount {s.amount}: must be above zero and below {MAX_AMOUNT:,}")
            declared.append((to_us(s.at), DECLARE_BASE + i, idx[0], -1, units, K_DECLARE))
        self.declared = declared

        cond = f"e.ts <= {lit(self.as_of)}"
        if restrict:
            cond += f" AND ({restrict})"
        kind = f"CAST({K_TX} AS TINYINT)"
        if tx_ids:   # a handful of ids: a literal list
            kind = (f"CAST(CASE WHEN {in_list('e.tx_id', tx_ids)} "
                    f"THEN {K_SOURCE} ELSE {K_TX} END AS TINYINT)")
        decl = ""
        if declared:
            decl = "UNION ALL SELECT * FROM (VALUES " + ", ".join(
                "(" + ", ".join(lit(int(v)) for v in row) + ")" for row in declared) + ")"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.events_table} AS
            SELECT ts, tx_id, s, d, a, CAST(k AS TINYINT) AS k FROM (
                SELECT epoch_us(e.ts) AS ts, e.tx_id, sa.idx AS s, da.idx AS d,
                       {UNITS_SQL.format(col="e.amount")} AS a, {kind} AS k
                FROM {relation} e
                JOIN {self.accounts_table} sa ON sa.account_id = e.src
                JOIN {self.accounts_table} da ON da.account_id = e.dst
                WHERE {cond}
                {decl})
            ORDER BY ts, tx_id""")
        self.n_events = con.execute(f"SELECT count(*) FROM {self.events_table}").fetchall()[0][0]
        self.opening = [0] * self.n_accounts
        if openings:
            import pyarrow as pa
            tbl = pa.table({"account_id": list(openings), "a": [int(v) for v in openings.values()]})
            con.register("_trace_open_in", tbl)
            try:
                for idx, a in con.execute(
                        f"SELECT idx, o.a FROM {self.accounts_table} JOIN _trace_open_in o USING (account_id) "
                        f"WHERE NOT pseudo").fetchall():
                    self.opening[idx] = a
            finally:
                con.unregister("_trace_open_in")
        self._names: list[str] | None = None
        self.prepare_seconds = time.perf_counter() - t0

    def names(self) -> list[str]:
        if self._names is None:
            names = [""] * self.n_accounts
            for idx, acct in self.con.execute(f"SELECT idx, account_id FROM {self.accounts_table}").fetchall():
                names[idx] = acct
            self._names = names
        return self._names

    def batches(self):
        """The ordered events as lists per column, batch by batch."""
        reader = self.con.sql(f"SELECT ts, tx_id, s, d, a, k FROM {self.events_table}").to_arrow_reader(BATCH_ROWS)
        prev = None
        for b in reader:
            cols = [b.column(i).to_pylist() for i in range(6)]
            if cols[0]:
                first = (cols[0][0], cols[1][0])
                if prev is not None and first < prev:   # the scan must keep the sorted order
                    raise RuntimeError("trace events came back out of order")
                prev = (cols[0][-1], cols[1][-1])
            yield cols

    def drop(self) -> None:
        for t in (self.events_table, self.accounts_table):
            self.con.execute(f"DROP TABLE IF EXISTS {t}")


# -- one rule's pass -------------------------------------------------------------------------------

@dataclass
class PassResult:
    rule: str
    presumption: str | None
    bal: list[int]
    act: list
    recv: dict[int, int]
    sent: dict[int, int]
    first: dict[int, int]
    last: dict[int, int]
    recv984: dict[int, int]
    unrecorded: dict[int, int]
    exits: dict[int, list[int]]
    flows: dict[tuple[int, int], list[int]]
    declared: list[dict[str, Any]]
    schedule: list[tuple]
    schedule_truncated: bool
    events: int
    shortfalls: int
    shortfall_units: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def run_pass(ledger: Ledger, rule: str, presumption: str | None = None, *, schedule: bool = True,
             flows: bool = True, schedule_limit: int = 200_000,
             window: tuple[int, int] | None = None) -> PassResult:
    """Walk the ledger once under ``rule``. ``window`` = (lo, hi) in µs for the 984 count."""
    mod = _rules.get(rule)
    presumption = _rules.presumption_for(mod, presumption)
    new, withdraw, deposit, inject, inert = mod.ops(presumption)
    drops = mod.DROPS_AT_ZERO          # state can go once the account holds no taint
    t0 = time.perf_counter()
    nreal = ledger.n_real
    n_acc = ledger.n_accounts
    bal = list(ledger.opening)
    act: list = [None] * n_acc
    recv = [0] * n_acc                 # per account, by index: cheaper than dicts in the loop
    sent = [0] * n_acc
    first = [-1] * n_acc
    last = [-1] * n_acc
    recv984 = [0] * n_acc
    unrec = [0] * n_acc
    exits: dict[int, list[int]] = {}
    flo: dict[tuple[int, int], list[int]] = {}
    sched: list[tuple] = []
    declared: list[dict[str, Any]] = []
    record = schedule
    truncated = False
    wlo, whi = window if window else (1, 0)
    n_short = 0
    short_units = 0
    n = 0
    for TS, TX, S, D, A, K in ledger.batches():
        n += len(TS)
        for ts, tx, s, d, a, k in zip(TS, TX, S, D, A, K):
            if k == K_DECLARE:
                b = bal[s]
                st = act[s]
                created = st is None
                if created:
                    st = new(b)
                t_before = st[0]
                applied = inject(st, b, a)
                declared.append({"account": s, "ts": ts, "requested": a, "applied": applied,
                                 "balance": b})
                if applied:
                    if created:
                        act[s] = st
                        if record:
                            sched.append((s, ts, tx, "b/f", -1, 0, 0, b, 0, b, 0, 0))
                    recv[s] += applied
                    if first[s] < 0:
                        first[s] = ts
                    last[s] = ts
                    if wlo <= ts <= whi:
                        recv984[s] += applied
                    if record:
                        sched.append((s, ts, tx, "declared", -1, a, applied, b, t_before, b, st[0], 0))
                elif not created and inert(st):
                    act[s] = None
                continue
            # -- the payment side
            carry = None
            wt = 0
            if s < nreal:
                b = bal[s]
                if a > b:
                    short = a - b
                    n_short += 1
                    short_units += short
                    bal[s] = 0
                else:
                    short = 0
                    bal[s] = b - a
                st = act[s]
                if st is not None:
                    t_before = st[0]
                    wt, carry = withdraw(st, b, a, short)
                    if wt:
                        sent[s] += wt
                    if short:
                        unrec[s] += short
                    if record:
                        sched.append((s, ts, tx, "out", d, a, wt, b, t_before, bal[s], st[0], short))
                        if len(sched) >= schedule_limit:
                            record = False
                            truncated = True
                    if drops and not st[0]:
                        act[s] = None
            if k:   # K_SOURCE: the whole amount is tainted
                wt = a
                carry = None
            # -- the receiving side
            if d < nreal:
                b = bal[d]
                bal[d] = b + a
                st = act[d]
                if st is None:
                    if wt:
                        st = act[d] = new(b)
                        if record:
                            sched.append((d, ts, tx, "b/f", -1, 0, 0, b, 0, b, 0, 0))
                        deposit(st, b, a, wt, carry)
                        if record:
                            sched.append((d, ts, tx, "source" if k else "in", s, a, wt, b, 0,
                                          b + a, st[0], 0))
                else:
                    t_before = st[0]
                    deposit(st, b, a, wt, carry)
                    if record:
                        sched.append((d, ts, tx, "source" if k else "in", s, a, wt, b, t_before,
                                      b + a, st[0], 0))
                        if len(sched) >= schedule_limit:
                            record = False
                            truncated = True
                if wt:
                    recv[d] += wt
                    if first[d] < 0:
                        first[d] = ts
                    last[d] = ts
                    if wlo <= ts <= whi:
                        recv984[d] += wt
            elif wt:
                e = exits.get(d)
                if e is None:
                    exits[d] = [wt, 1]
                else:
                    e[0] += wt
                    e[1] += 1
            if wt and flows:
                f = flo.get((s, d))
                if f is None:
                    flo[(s, d)] = [wt, 1]
                else:
                    f[0] += wt
                    f[1] += 1
    touched = [i for i in range(n_acc) if recv[i] or sent[i]]
    return PassResult(rule=mod.NAME, presumption=presumption, bal=bal, act=act,
                      recv={i: recv[i] for i in touched}, sent={i: sent[i] for i in touched if sent[i]},
                      first={i: first[i] for i in touched if first[i] >= 0},
                      last={i: last[i] for i in touched if last[i] >= 0},
                      recv984={i: recv984[i] for i in touched if recv984[i]},
                      unrecorded={i: unrec[i] for i in range(n_acc) if unrec[i]}, exits=exits, flows=flo,
                      declared=declared, schedule=sched, schedule_truncated=truncated, events=n,
                      shortfalls=n_short, shortfall_units=short_units,
                      seconds=time.perf_counter() - t0, extra={"window": (wlo, whi)})


# -- turning a pass into the report -----------------------------------------------------------------

def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.2f}%" if den else "—"


def _fmt(units: int) -> str:
    return f"{units / SCALE:,.2f}" if units % 100 == 0 else f"{units / SCALE:,.4f}"


def note(rule: str, presumption: str | None, row: tuple, name) -> str:
    """A plain sentence: what the rule did at this event."""
    acct, ts, tx, kind, cp, a, wt, b0, t0, b1, t1, short = row
    if rule == "haircut":   # the proportional rule's crypto name: at account level the rolling charge
        rule = "prorata"
    clean = a - wt
    extra = (f"; {_fmt(short)} more than the recorded balance: treated as unrecorded clean money"
             if short else "")
    if kind == "b/f":
        return f"balance brought forward {_fmt(b0)}, all clean, before the first tainted money"
    if kind == "declared":
        if wt < a:
            return (f"declared tainted: {_fmt(a)} asked, {_fmt(wt)} applied (the clean balance available)")
        return f"declared tainted: {_fmt(wt)} of the balance"
    if kind == "source":
        return "source: the whole receipt is tainted"
    if kind == "in":
        if wt == a:
            base = f"tainted receipt from {name(cp)}"
        elif wt:
            base = f"receipt from {name(cp)}: {_fmt(wt)} tainted, {_fmt(clean)} clean"
        else:
            base = f"clean receipt from {name(cp)}"
        if rule == "libr" and not wt:
            return base + ": does not restore taint (lowest intermediate balance)"
        if rule == "prorata":
            return base + f"; tainted share now {_pct(t1, b1)}"
        if rule == "poison":
            return base + ": the account is poisoned, its whole balance is tainted"
        if rule == "replenish":
            return base + "; tainted = min(balance, all tainted money received)"
        if rule == "fifo":
            return base + ", queued behind older money"
        if rule == "lifo":
            return base + ", on top of older money"
        return base
    # out
    to = name(cp)
    if rule == "libr":
        order = "tainted money first" if presumption == "tainted-first" else "clean money first"
        s = f"to {to}: {order}: {_fmt(clean)} clean, {_fmt(wt)} tainted"
        if t1 < t0 and presumption != "tainted-first":
            s += f"; tainted reduced to the lowest balance {_fmt(t1)}"
    elif rule == "fifo":
        s = f"to {to}: oldest money first: {_fmt(wt)} tainted, {_fmt(clean)} clean"
    elif rule == "lifo":
        s = f"to {to}: newest money first: {_fmt(wt)} tainted, {_fmt(clean)} clean"
    elif rule == "prorata":
        s = f"to {to}: tainted share {_pct(t0, b0 + short)} of the payment: {_fmt(wt)} tainted"
    elif rule == "poison":
        s = f"to {to}: from a poisoned account: wholly tainted"
    elif rule == "replenish":
        order = "tainted first" if presumption == "tainted-first" else "clean first"
        s = f"to {to}: {order}: {_fmt(wt)} tainted; tainted = min(balance, all tainted money received)"
    else:
        s = f"to {to}: {_fmt(wt)} tainted"
    return s + extra


def summarize(ledger: Ledger, res: PassResult, *, detail: bool = True, flows_limit: int = 500,
              as_of: _dt.datetime | None = None) -> dict[str, Any]:
    """The JSON-ready result of one rule's pass."""
    mod = _rules.get(res.rule)
    held_units = 0
    holding = 0
    for st in res.act:
        if st is not None and st[0]:
            held_units += st[0]
            holding += 1
    exit_units = sum(v[0] for v in res.exits.values())
    src_units = sum(to_units(r["amount"]) for r in ledger.source_tx.values())
    src_units += sum(d["applied"] for d in res.declared)
    s984_units = 0
    out: dict[str, Any] = {
        "rule": mod.NAME, "title": mod.TITLE, "definition": mod.DEFINITION, "legal_sources": mod.SOURCES,
        "presumption": res.presumption, "conserving": mod.CONSERVING,
    }
    accounts: dict[str, Any] = {}
    names = ledger.names() if (detail or res.exits) else None
    touched = set(res.recv) | set(res.sent)
    for idx in touched:
        st = res.act[idx]
        held = st[0] if st is not None else 0
        b = res.bal[idx]
        r984 = res.recv984.get(idx, 0)
        f984 = min(b, r984) if r984 else 0
        if f984 > 0:
            s984_units += f984
        if not detail:
            continue
        accounts[names[idx]] = {
            "tainted_received": money(res.recv.get(idx, 0)),
            "tainted_sent": money(res.sent.get(idx, 0)),
            "tainted_held": money(held),
            "balance_end": money(b),
            "tainted_share_end": round(held / b, 6) if b else 0.0,
            "first_tainted": from_us(res.first.get(idx)),
            "last_tainted": from_us(res.last.get(idx)),
            "tainted_received_984_window": money(r984),
            "s984_forfeitable": money(max(f984, 0)),
            "s984": f984 > 0,
            "unrecorded_funds": money(res.unrecorded.get(idx, 0)),
        }
    if detail:
        accounts = dict(sorted(accounts.items(), key=lambda kv: (-kv[1]["tainted_held"], kv[0])))
    out["totals"] = {
        "sources": money(src_units),
        "held": money(held_units),
        "left_ledger": money(exit_units),
        "created": money(max(0, held_units + exit_units - src_units)),
        "accounts_reached": len(touched),
        "accounts_holding": holding,
        "s984_forfeitable": money(s984_units),
        "unrecorded_funds": money(sum(res.unrecorded.values())),
        "payments_over_balance": res.shortfalls,
    }
    out["accounts"] = accounts
    out["exits"] = ({names[i]: {"tainted": money(v[0]), "transactions": v[1]}
                     for i, v in sorted(res.exits.items(), key=lambda kv: -kv[1][0])} if detail else {})
    out["declared"] = [{"account": names[d["account"]] if names else d["account"], "at": from_us(d["ts"]),
                        "requested": money(d["requested"]), "applied": money(d["applied"]),
                        "balance": money(d["balance"])} for d in res.declared]
    if detail and res.flows:
        top = sorted(res.flows.items(), key=lambda kv: (-kv[1][0], kv[0]))[:flows_limit]
        out["flows"] = [{"from": names[s], "to": names[d], "tainted": money(v[0]), "transactions": v[1],
                         "to_pseudo": d >= ledger.n_real} for (s, d), v in top]
        out["flows_omitted"] = max(0, len(res.flows) - len(top))
    else:
        out["flows"], out["flows_omitted"] = [], 0
    if detail:
        name = (lambda i: names[i] if i >= 0 else "")
        rows = sorted(res.schedule, key=lambda r: (names[r[0]], r[1], r[2]))
        sched = []
        seq: dict[int, int] = {}
        for r in rows:
            acct, ts, tx, kind, cp, a, wt, b0, t0, b1, t1, short = r
            seq[acct] = seq.get(acct, 0) + 1
            in984 = kind in ("in", "source", "declared") and wt > 0 and res.recv984.get(acct) is not None \
                and _in_window(ts, res)
            sched.append({
                "account": names[acct], "seq": seq[acct], "ts": from_us(ts),
                "tx_id": tx if tx < DECLARE_BASE else None, "event": kind, "counterparty": name(cp) or None,
                "amount": money(a), "tainted": money(wt), "clean": money(a - wt) if kind in ("in", "out", "source") else None,
                "balance_after": money(b1), "tainted_after": money(t1), "clean_after": money(b1 - t1),
                "unrecorded": money(short) if short else None, "in_984_window": in984,
                "note": note(res.rule, res.presumption, r, name),
            })
        out["schedule"] = sched
    else:
        out["schedule"] = []
    out["schedule_truncated"] = res.schedule_truncated
    out["events"] = res.events
    out["seconds"] = round(res.seconds, 3)
    out["transactions_per_second"] = round(res.events / res.seconds) if res.seconds > 0 else None
    return out


def _in_window(ts: int, res: PassResult) -> bool:
    lo, hi = res.extra.get("window", (1, 0))
    return lo <= ts <= hi


def window_for(as_of: _dt.datetime) -> tuple[int, int]:
    return to_us(one_year_before(as_of)), to_us(as_of)
