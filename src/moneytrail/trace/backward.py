"""Backward tracing: from a target to the money that funds it.

A target is an outgoing payment (``Target(tx_id=...)``, e.g. a property purchase) or an
account's whole balance at a time (``Target(account=..., at=...)``).

1. The cone. Money can only fund the target through transfers that arrive, in time, at an
   account whose money can still reach the target. In DuckDB, starting from the target
   account and the target's position in the ledger order, each round adds the senders of
   transfers into the cone before the cone account's horizon (a reverse, time-respecting
   reachability), up to ``max_hops`` rounds. Taint sources are not followed further back
   (they are where taint starts). Pseudo-accounts (cash, a name only) are where money enters
   the ledger.

2. Funding (which origins, how much). One ordered pass over the cone's transactions keeps,
   for every cone account, the composition of its balance by *origin*: money that entered
   the cone (a cash deposit or a payment from outside the ledger, a payment from an account
   beyond the hop limit, grouped by sender and receiving account), a taint source (one
   origin per source transaction), an opening balance, or unrecorded money (a payment larger
   than the reconstructed balance). Each payment takes its composition under the rule:
   FIFO/LIFO exactly by pieces of origin; pro rata by shares; LIBR by its clean/tainted
   order, and pro rata within the clean and within the tainted money; haircut, the
   proportional rule under its cryptocurrency name, exactly as pro rata. Poison and replenish
   do not say which money pays what (they say how much is tainted); their funding breakdown
   is the pro-rata one and is labelled so.

3. Tainted share. When taint sources are given, the forward engine runs the rule over the
   same cone from those sources: the tainted part of the target under the rule (exact, and
   the same figure the funding breakdown gives for LIBR, FIFO, LIFO and pro rata or haircut).

The pro-rata allocations are in whole units of 0.0001: the tainted/clean split of a payment
rounds as the pro-rata rule does (ties to even), and the split within each kind goes by
largest remainders (ties by origin number), so the parts always add up to the payment.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from moneytrail.errors import ConfigError
from moneytrail.sqlkit import lit
from moneytrail.trace import rules as _rules
from moneytrail.trace.engine import (UNITS_SQL, Ledger, check_tx_id, from_us, money, naive_utc, run_pass,
                                     summarize, to_units, to_us, window_for)

DEFAULT_MAX_HOPS = 6
MAX_HOPS = 100
MAX_CONE_EVENTS = 5_000_000


@dataclass
class Target:
    """An outgoing payment (``tx_id``) or an account's whole balance at a time (``account``, ``at``)."""
    tx_id: int | None = None
    account: str | None = None
    at: _dt.datetime | None = None

    def label(self) -> str:
        return f"payment tx {self.tx_id}" if self.tx_id is not None else f"balance of {self.account} at {self.at}"


def _alloc(dct: dict[int, int], total: int, x: int) -> list[tuple[int, int]]:
    """Take x out of dct (color -> amount, summing to total) pro rata, largest remainders."""
    if x <= 0 or not dct:
        return []
    if x >= total:
        items = list(dct.items())
        dct.clear()
        return items
    out = []
    rems = []
    given = 0
    for c, v in dct.items():
        q, r = divmod(v * x, total)
        out.append([c, q])
        rems.append((-r, c, len(out) - 1))
        given += q
    left = x - given
    if left:
        rems.sort()
        for _, _, i in rems[:left]:
            out[i][1] += 1
    pieces = []
    for c, q in out:
        if q:
            v = dct[c] - q
            if v:
                dct[c] = v
            else:
                del dct[c]
            pieces.append((c, q))
    return pieces


class _Comp:
    """One account's balance by origin under a rule."""

    __slots__ = ("lots", "taint", "clean", "t", "c")

    def __init__(self, lot_rule: bool):
        self.lots = deque() if lot_rule else None
        self.taint: dict[int, int] = {}
        self.clean: dict[int, int] = {}
        self.t = 0
        self.c = 0


class _Composer:
    def __init__(self, rule: str, presumption: str | None, tainted_colors: set[int]):
        self.rule = rule
        self.presumption = presumption
        self.lot = rule in ("fifo", "lifo")
        self.tainted = tainted_colors

    def add(self, st: _Comp, pieces) -> None:
        for c, a in pieces:
            if a <= 0:
                continue
            is_t = c in self.tainted
            if self.lot:
                if st.lots and st.lots[-1][0] == c:
                    st.lots[-1][1] += a
                else:
                    st.lots.append([c, a])
            else:
                d = st.taint if is_t else st.clean
                d[c] = d.get(c, 0) + a
            if is_t:
                st.t += a
            else:
                st.c += a

    def take(self, st: _Comp, a: int) -> list[tuple[int, int]]:
        """Take a (<= balance) out of st under the rule; return the pieces, oldest first."""
        if self.lot:
            taken = []
            need = a
            lots = st.lots
            back = self.rule == "lifo"
            while need and lots:
                lot = lots[-1] if back else lots[0]
                c, amt = lot
                if amt <= need:
                    lots.pop() if back else lots.popleft()
                else:
                    lot[1] = amt - need
                    amt = need
                need -= amt
                taken.append((c, amt))
                if c in self.tainted:
                    st.t -= amt
                else:
                    st.c -= amt
            if back:
                taken.reverse()
            return taken
        total = st.t + st.c
        if self.rule == "libr":
            if self.presumption == "tainted-first":
                wt = min(a, st.t)
            else:
                wt = a - min(a, st.c)
        else:   # prorata and haircut; poison and replenish use the pro-rata composition
            wt = st.t if a >= total else _rules.round_div(a * st.t, total) if total else 0
        wc = a - wt
        pieces = _alloc(st.taint, st.t, wt) + _alloc(st.clean, st.c, wc)
        st.t -= wt
        st.c -= wc
        return pieces


def _cone(con, relation: str, target_tx: int | None, taccount: str, source_ids: list[int], max_hops: int,
          as_of_us: int) -> dict[str, Any]:
    """Build _bk_ev (ranked events) and _bk_reach (account -> horizon, hops)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bk_ev AS
        SELECT row_number() OVER (ORDER BY e.ts, e.tx_id) AS r, e.tx_id, e.ts, e.src, e.dst, e.amount,
               e.src_pseudo, e.dst_pseudo
        FROM {relation} e WHERE epoch_us(e.ts) <= {lit(int(as_of_us))}""")
    con.execute("CREATE OR REPLACE TEMP TABLE _bk_src (tx_id BIGINT)")
    if source_ids:
        con.execute("INSERT INTO _bk_src SELECT unnest(?)", [source_ids])
    if target_tx is None:   # a balance target: horizon after every event at or before the time
        horizon = con.execute("SELECT coalesce(max(r), 0) + 1 FROM _bk_ev").fetchall()[0][0]
    else:
        horizon = con.execute("SELECT r FROM _bk_ev WHERE tx_id = ?", [target_tx]).fetchall()[0][0]
    con.execute("CREATE OR REPLACE TEMP TABLE _bk_reach (account_id VARCHAR, h BIGINT, hops INTEGER)")
    con.execute("INSERT INTO _bk_reach VALUES (?, ?, 0)", [taccount, horizon])
    rounds = 0
    for hop in range(1, max_hops + 1):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _bk_reach_next AS
            WITH cand AS (
                SELECT e.src AS account_id, max(e.r) + 1 AS h, min(rc.hops) + 1 AS hops
                FROM _bk_ev e JOIN _bk_reach rc ON rc.account_id = e.dst AND e.r < rc.h
                WHERE NOT e.src_pseudo AND e.tx_id NOT IN (SELECT tx_id FROM _bk_src)
                GROUP BY e.src
            )
            SELECT coalesce(o.account_id, c.account_id) AS account_id,
                   greatest(coalesce(o.h, 0), coalesce(c.h, 0)) AS h,
                   CAST(least(coalesce(o.hops, {lit(hop)}), coalesce(c.hops, {lit(hop)})) AS INTEGER) AS hops
            FROM _bk_reach o FULL JOIN cand c USING (account_id)""")
        changed = con.execute("""
            SELECT count(*) FROM _bk_reach_next n LEFT JOIN _bk_reach o USING (account_id)
            WHERE o.account_id IS NULL OR n.h <> o.h""").fetchall()[0][0]
        con.execute("DROP TABLE _bk_reach")
        con.execute("ALTER TABLE _bk_reach_next RENAME TO _bk_reach")
        if not changed:
            break
        rounds = hop
    # the cone's events: a cone account's events before its horizon, either side
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bk_cone AS
        SELECT e.r, e.tx_id, e.ts, e.src, e.dst, {UNITS_SQL.format(col="e.amount")} AS a,
               e.src_pseudo, e.dst_pseudo,
               (rs.account_id IS NOT NULL AND e.r < rs.h) AS s_in,
               (rd.account_id IS NOT NULL AND e.r < rd.h) AS d_in,
               e.tx_id IN (SELECT tx_id FROM _bk_src) AS is_source,
               rd.hops AS d_hops
        FROM _bk_ev e
        LEFT JOIN _bk_reach rs ON rs.account_id = e.src
        LEFT JOIN _bk_reach rd ON rd.account_id = e.dst
        WHERE (rs.account_id IS NOT NULL AND e.r < rs.h) OR (rd.account_id IS NOT NULL AND e.r < rd.h)
        ORDER BY e.r""")
    n_events = con.execute("SELECT count(*) FROM _bk_cone").fetchall()[0][0]
    n_accounts = con.execute("SELECT count(*) FROM _bk_reach").fetchall()[0][0]
    frontier = con.execute("SELECT count(*) FROM _bk_reach WHERE hops = ?", [max_hops]).fetchall()[0][0]
    return {"events": n_events, "accounts": n_accounts, "rounds": rounds, "horizon": horizon,
            "at_hop_limit": frontier if rounds == max_hops else 0}


def backward(ws, target: Target, *, sources: list[int] = (), rules: list[str] = ("libr",),
             presumption: str | None = None, openings: dict[str, int] | None = None,
             max_hops: int = DEFAULT_MAX_HOPS, schedule: bool = True, funding_limit: int = 200,
             relation: str = "edges") -> dict[str, Any]:
    con = ws.con
    t0 = time.perf_counter()
    if isinstance(max_hops, bool) or not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_HOPS:
        raise ConfigError(f"--max-hops {str(max_hops)[:40]!r}: a whole number from 1 to {MAX_HOPS}")
    openings = openings or {}
    source_ids = sorted({check_tx_id(s) for s in sources})
    if target.tx_id is not None:
        check_tx_id(target.tx_id, "--target")
        row = (con.execute(f"SELECT tx_id, src, dst, ts, amount, src_pseudo FROM {relation} WHERE tx_id = ?",
                           [target.tx_id]).fetchall() or [None])[0]
        if row is None:
            raise ConfigError(f"--target {target.tx_id}: no such transaction in the workspace")
        _, taccount, tdst, tts, tamount, tpseudo = row
        if tpseudo:
            raise ConfigError(f"--target {target.tx_id}: paid by {taccount}, a pseudo-account "
                              f"(cash or unidentified): nothing in the ledger funds it")
        if target.tx_id in source_ids:
            raise ConfigError(f"--target {target.tx_id} is also a --source")
        as_of = tts
        tinfo = {"kind": "payment", "tx_id": target.tx_id, "account": taccount, "to": tdst, "ts": tts,
                 "amount": money(to_units(tamount))}
    else:
        if target.account is None or target.at is None:
            raise ConfigError("backward tracing needs a target: --target TX_ID, or --account ACCT --at TIME")
        ok = con.execute(f"SELECT count(*) FROM {relation} WHERE (src = ? AND NOT src_pseudo) "
                         f"OR (dst = ? AND NOT dst_pseudo)", [target.account, target.account]).fetchall()[0][0]
        if not ok:
            raise ConfigError(f"--account {target.account}: no transactions of this (real) account in the workspace")
        taccount = target.account
        as_of = naive_utc(target.at)
        tinfo = {"kind": "balance", "account": taccount, "ts": as_of}
    cone = _cone(con, relation, target.tx_id, taccount, source_ids, max_hops, to_us(as_of))
    if cone["events"] > MAX_CONE_EVENTS:
        raise ConfigError(f"the backward cone holds {cone['events']:,} transactions (limit "
                          f"{MAX_CONE_EVENTS:,}): lower --max-hops (now {max_hops})")
    hops = dict(con.execute("SELECT account_id, hops FROM _bk_reach").fetchall())

    # the events once, as Python rows (the cone is the part of the ledger that matters)
    ev = con.execute("SELECT r, tx_id, epoch_us(ts), src, dst, a, src_pseudo, s_in, d_in, is_source "
                     "FROM _bk_cone ORDER BY r").fetchall()
    tx_target = None
    if target.tx_id is not None:   # the target itself is at the horizon, outside the cone's events
        tx_target = con.execute(f"SELECT r, tx_id, epoch_us(ts), src, dst, {UNITS_SQL.format(col='amount')}, "
                                "src_pseudo, true, false, false FROM _bk_ev WHERE tx_id = ?",
                                [target.tx_id]).fetchall()[0]

    out: dict[str, Any] = {"direction": "backward", "target": tinfo, "max_hops": max_hops,
                           "cone": cone, "taint_sources": source_ids, "rules": {}}
    # tainted amounts: the forward engine over the same cone, from the sources
    ledger = None
    cone_sources = [s for s in source_ids if s in {e[1] for e in ev}]
    if cone_sources:
        con.execute("CREATE OR REPLACE TEMP TABLE _bk_cone_tx AS SELECT tx_id FROM _bk_cone")
        restrict = "e.tx_id IN (SELECT tx_id FROM _bk_cone_tx)"
        if target.tx_id is not None:
            restrict += f" AND e.tx_id <> {lit(target.tx_id)}"
        from moneytrail.trace.engine import Source
        ledger = Ledger(con, relation=relation, sources=[Source(tx_id=s) for s in cone_sources],
                        openings=openings, as_of=as_of, restrict=restrict, table_suffix="_bk")
    for rule in rules:
        mod = _rules.get(rule)
        pres = _rules.presumption_for(mod, presumption)
        res = _funding(ev, tx_target, taccount, mod.NAME, pres, source_ids, openings, hops, tinfo)
        r: dict[str, Any] = {"rule": mod.NAME, "title": mod.TITLE, "definition": mod.DEFINITION,
                             "legal_sources": mod.SOURCES, "presumption": pres, "conserving": mod.CONSERVING}
        r.update(res)
        r["funding"] = res["funding"][:funding_limit]
        r["funding_omitted"] = max(0, len(res["funding"]) - funding_limit)
        if ledger is not None:
            p = run_pass(ledger, mod.NAME, pres, schedule=schedule, flows=True,
                         window=window_for(as_of))
            fwd = summarize(ledger, p, detail=True)
            idx = ledger.names().index(taccount) if taccount in ledger.names() else None
            st = p.act[idx] if idx is not None else None
            if target.tx_id is not None:
                a = to_units(Decimal(str(tinfo["amount"])))
                b = p.bal[idx] if idx is not None else 0
                short = max(0, a - b)
                if st is not None:
                    wt, _ = mod.ops(pres).withdraw(st, b, a, short)
                else:
                    wt = 0
                r["tainted"] = money(wt)
                r["tainted_share"] = round(wt / a, 6) if a else 0.0
            else:
                held = st[0] if st is not None else 0
                b = p.bal[idx] if idx is not None else 0
                r["tainted"] = money(held)
                r["tainted_share"] = round(held / b, 6) if b else 0.0
            r["accounts"] = fwd["accounts"]
            r["exits"] = fwd["exits"]
            r["schedule"] = fwd["schedule"]
            r["schedule_truncated"] = fwd["schedule_truncated"]
            r["flows"] = fwd["flows"]
            r["totals"] = fwd["totals"]
        else:   # no sources given (None), or none of them can reach the target (0)
            r["tainted"] = 0.0 if source_ids else None
            r["tainted_share"] = 0.0 if source_ids else None
            r["accounts"], r["exits"], r["schedule"], r["flows"] = {}, {}, [], []
            r["schedule_truncated"] = False
            r["totals"] = {}
        out["rules"][mod.NAME] = r
    if ledger is not None:
        ledger.drop()
    for t in ("_bk_ev", "_bk_src", "_bk_reach", "_bk_cone", "_bk_cone_tx"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _funding(ev, tx_target, taccount, rule, presumption, source_ids, openings, hops, tinfo) -> dict[str, Any]:
    """The multi-origin pass over the cone; returns the target's composition by origin."""
    origins: list[dict[str, Any]] = []
    key_to_color: dict[tuple, int] = {}
    tainted: set[int] = set()
    srcset = set(source_ids)

    def color(key, **info) -> int:
        c = key_to_color.get(key)
        if c is None:
            c = len(origins)
            key_to_color[key] = c
            origins.append(dict(info, deposits=0, entered=0, first_ts=None, last_ts=None))
            if info.get("tainted"):
                tainted.add(c)
        return c

    comp = _Composer(rule, presumption, tainted)
    bal: dict[str, int] = {}
    state: dict[str, _Comp] = {}

    def get(acct: str) -> _Comp:
        st = state.get(acct)
        if st is None:
            st = state[acct] = _Comp(comp.lot)
            o = openings.get(acct, 0)
            bal[acct] = o
            if o > 0:
                c = color(("opening", acct), origin="opening balance", account=acct, entry=acct,
                          tainted=False, hops=hops.get(acct))
                origins[c]["entered"] += o
                comp.add(st, [(c, o)])
        return st

    def note(c, a, ts):
        o = origins[c]
        o["deposits"] += 1
        o["entered"] += a
        if o["first_ts"] is None:
            o["first_ts"] = ts
        o["last_ts"] = ts

    def pay(acct: str, a: int, tx: int, ts: int):
        st = get(acct)
        b = bal[acct]
        if a > b:
            c = color(("unrecorded", acct), origin="unrecorded money", account=acct, entry=acct,
                      tainted=False, hops=hops.get(acct))
            note(c, a - b, ts)
            comp.add(st, [(c, a - b)])   # the newest money, as in the forward engine
            b = a
        bal[acct] = b - a
        return comp.take(st, a)

    for r, tx, ts, src, dst, a, src_pseudo, s_in, d_in, is_source in ev:
        pieces = None
        if s_in:
            pieces = pay(src, a, tx, ts)
        if d_in:
            st = get(dst)
            if is_source and tx in srcset:
                c = color(("source", tx), origin="taint source", tx_id=tx, account=src, entry=dst,
                          tainted=True, hops=hops.get(dst))
                note(c, a, ts)
                pieces = [(c, a)]
            elif pieces is None:
                kind = "outside the ledger" if src_pseudo else "beyond the hop limit"
                c = color(("in", src, dst), origin=kind, account=src, entry=dst, tainted=False,
                          hops=hops.get(dst))
                note(c, a, ts)
                pieces = [(c, a)]
            comp.add(st, pieces)
            bal[dst] = bal[dst] + a

    if tx_target is not None:
        _, tx, ts, src, dst, a, *_ = tx_target
        pieces = pay(taccount, a, tx, ts)
        total = a
    else:
        st = get(taccount)
        total = bal[taccount]
        if comp.lot:
            pieces = [(c, x) for c, x in st.lots]
        else:
            pieces = list(st.taint.items()) + list(st.clean.items())
    by: dict[int, int] = {}
    for c, x in pieces:
        by[c] = by.get(c, 0) + x
    funding = []
    tainted_units = 0
    for c, x in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])):
        o = origins[c]
        if o["tainted"]:
            tainted_units += x
        funding.append({
            "origin": o["origin"], "tx_id": o.get("tx_id"), "from": o.get("account"), "entry": o.get("entry"),
            "hops": o.get("hops"), "amount": money(x), "share": round(x / total, 6) if total else 0.0,
            "tainted": bool(o["tainted"]), "deposits": o["deposits"], "entered": money(o["entered"]),
            "first_ts": from_us(o["first_ts"]), "last_ts": from_us(o["last_ts"]),
        })
    note_txt = None
    if rule in ("poison", "replenish"):
        note_txt = (f"{rule} says how much is tainted, not which money pays for what: the funding "
                    f"breakdown is the pro-rata one")
    return {"target_amount": money(total), "funding": funding, "funding_tainted": money(tainted_units),
            "funding_note": note_txt, "origins": len(origins)}
