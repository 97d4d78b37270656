"""Property tests of the tracing engine (hypothesis): the invariants every rule must keep.

* tainted never exceeds the balance (every schedule row, every account at the end);
* tainted money is never created by a conserving rule: what is held plus what left the ledger
  never exceeds the sources (equal when the sources come from outside the ledger), and on an
  acyclic ledger no account receives more tainted money than the sources;
* clean deposits never raise LIBR's tainted balance;
* poison >= replenish (and every other rule) in taint share;
* haircut (the proportional rule under its crypto name) gives exactly prorata's figures;
* results do not depend on account names, nor on the physical order of rows with the same
  (ts, tx_id) order; with distinct timestamps not even on the tx ids;
* backward tracing finds the same tainted amount as forward tracing (LIBR, FIFO, LIFO, pro rata).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.trace import rules as trace_rules
from moneytrail.trace.backward import Target, backward
from moneytrail.trace.engine import Ledger, Source, run_pass

from trace_helpers import close, edges_con

REAL = ["A", "B", "C", "D", "E"]
ACCTS = REAL + ["cash"]
RULES = [r.NAME for r in trace_rules.RULES]
CONSERVING = [r.NAME for r in trace_rules.RULES if r.CONSERVING]
BASE = dt.datetime(2024, 1, 1)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def ledgers(draw, acyclic: bool = False, distinct_ts: bool = False):
    n = draw(st.integers(1, 22))
    rows = []
    days = draw(st.permutations(range(60)))[:n] if distinct_ts else None
    for i in range(n):
        day = days[i] if distinct_ts else draw(st.integers(0, 5))
        if acyclic:
            a, b = sorted(draw(st.lists(st.sampled_from(range(len(ACCTS))), min_size=2, max_size=2, unique=True)))
            f, t = REAL[a], REAL[b] if b < len(REAL) else "cash"
            if draw(st.booleans()) and i % 3 == 0:
                f = "cash"
        else:
            f = draw(st.sampled_from(ACCTS))
            t = draw(st.sampled_from([x for x in ACCTS if x != f]))
        units = draw(st.integers(1, 400)) * draw(st.sampled_from([1, 7, 100, 10_000]))
        rows.append((BASE + dt.timedelta(days=day), f, t, units))
    srcs = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    openings = draw(st.dictionaries(st.sampled_from(REAL), st.integers(0, 300).map(lambda x: x * 10_000)))
    pres = draw(st.sampled_from([None, "clean-first", "tainted-first"]))
    # sometimes also a declared holding: an amount in an account (that has transactions) at a time
    used = sorted({x for r in rows for x in r[1:3] if x in REAL})
    last = max(r[0] for r in rows)
    if used and draw(st.booleans()):
        acct = draw(st.sampled_from(used))
        at = BASE + dt.timedelta(days=draw(st.integers(0, (last - BASE).days)))
        srcs = srcs + [("holding", acct, draw(st.integers(1, 50_000)) * 100, at)]
    return rows, srcs, openings, pres


def run_all(rows, srcs, openings, pres, *, ids=None, order=None, rules=RULES):
    con = edges_con(rows, ids=ids, order=order)
    ids = ids or list(range(1, len(rows) + 1))
    sources = [Source(tx_id=ids[i]) if isinstance(i, int) else
               Source(account=i[1], amount=Decimal(i[2]) / 10_000, at=i[3])
               for i in srcs]
    ledger = Ledger(con, sources=sources, openings=openings)
    out = {}
    try:
        for r in rules:
            res = run_pass(ledger, r, pres, schedule=True, flows=True)
            nm = ledger.names()
            out[r] = {
                "res": res,
                "held": {nm[i]: (st[0] if st is not None else 0) for i, st in enumerate(res.act) if i < ledger.n_real},
                "bal": {nm[i]: res.bal[i] for i in range(ledger.n_real)},
                "recv": {nm[i]: v for i, v in res.recv.items()},
                "exits": {nm[i]: v[0] for i, v in res.exits.items()},
                "declared": sum(d["applied"] for d in res.declared),
                "nreal": ledger.n_real,
            }
    finally:
        close(con)
    return out


def _src_total(rows, srcs):
    return sum(rows[i][3] for i in srcs if isinstance(i, int))


def _tx_sources(srcs):
    return [i for i in srcs if isinstance(i, int)]


@SETTINGS
@given(ledgers())
def test_tainted_never_exceeds_balance(case):
    rows, srcs, openings, pres = case
    for r, o in run_all(rows, srcs, openings, pres).items():
        for acct, held in o["held"].items():
            assert 0 <= held <= o["bal"][acct], (r, acct)
        for row in o["res"].schedule:
            acct, ts, tx, kind, cp, a, wt, b0, t0, b1, t1, short = row
            assert 0 <= t1 <= b1, (r, row)
            # a payment or receipt carries at most its amount; a declaration at most the balance
            assert 0 <= wt <= (b0 if kind == "declared" else a), (r, row)


@SETTINGS
@given(ledgers())
def test_tainted_money_is_never_created(case):
    rows, srcs, openings, pres = case
    outside = all(rows[i][1] == "cash" for i in _tx_sources(srcs))
    for r, o in run_all(rows, srcs, openings, pres, rules=CONSERVING).items():
        total = _src_total(rows, srcs) + o["declared"]
        present = sum(o["held"].values()) + sum(o["exits"].values())
        assert present <= total, (r, present, total)
        if outside:   # no source re-taints money that was already tainted: exact conservation
            assert present == total, (r, present, total)


@SETTINGS
@given(ledgers(acyclic=True))
def test_received_downstream_never_exceeds_the_sources(case):
    rows, srcs, openings, pres = case
    for r, o in run_all(rows, srcs, openings, pres, rules=CONSERVING).items():
        total = _src_total(rows, srcs) + o["declared"]
        for acct, v in o["recv"].items():
            assert v <= total, (r, acct, v, total)
        assert sum(o["exits"].values()) <= total


@SETTINGS
@given(ledgers())
def test_clean_deposits_never_raise_libr_taint(case):
    rows, srcs, openings, pres = case
    o = run_all(rows, srcs, openings, pres, rules=["libr"])["libr"]
    for row in o["res"].schedule:
        acct, ts, tx, kind, cp, a, wt, b0, t0, b1, t1, short = row
        if kind == "in" and wt == 0:
            assert t1 == t0, row
        if kind == "out":
            assert t1 <= t0, row


@SETTINGS
@given(ledgers())
def test_poison_is_at_least_replenish_and_every_rule(case):
    rows, srcs, openings, pres = case
    res = run_all(rows, srcs, openings, pres)
    poison = res["poison"]["held"]
    for r, o in res.items():
        for acct, held in o["held"].items():
            assert poison[acct] >= held, (r, acct, held, poison[acct])


@SETTINGS
@given(ledgers())
def test_haircut_is_prorata(case):
    rows, srcs, openings, pres = case
    res = run_all(rows, srcs, openings, pres, rules=["prorata", "haircut"])
    p, h = res["prorata"], res["haircut"]
    for k in ("held", "bal", "recv", "exits", "declared"):
        assert p[k] == h[k], k
    pr, hr = p["res"], h["res"]
    assert (pr.schedule, pr.sent, pr.flows, pr.unrecorded, pr.recv984) == \
        (hr.schedule, hr.sent, hr.flows, hr.unrecorded, hr.recv984)


@SETTINGS
@given(ledgers(), st.randoms(use_true_random=False))
def test_independent_of_account_names(case, rnd):
    rows, srcs, openings, pres = case
    shuffled = REAL[:]
    rnd.shuffle(shuffled)
    rename = {a: f"zz-{b.lower()}-{i}" for i, (a, b) in enumerate(zip(REAL, shuffled))}
    rename["cash"] = "cash"
    rows2 = [(ts, rename[f], rename[t], u) for ts, f, t, u in rows]
    open2 = {rename[k]: v for k, v in openings.items()}
    srcs2 = [i if isinstance(i, int) else (i[0], rename[i[1]], i[2], i[3]) for i in srcs]
    a = run_all(rows, srcs, openings, pres)
    b = run_all(rows2, srcs2, open2, pres)
    for r in RULES:
        assert {rename[k]: v for k, v in a[r]["held"].items()} == b[r]["held"], r
        assert {rename[k]: v for k, v in a[r]["recv"].items()} == b[r]["recv"], r
        assert a[r]["exits"] == b[r]["exits"], r


@SETTINGS
@given(ledgers(), st.randoms(use_true_random=False))
def test_independent_of_physical_row_order(case, rnd):
    rows, srcs, openings, pres = case
    order = list(range(len(rows)))
    rnd.shuffle(order)
    a = run_all(rows, srcs, openings, pres)
    b = run_all(rows, srcs, openings, pres, order=order)
    for r in RULES:
        assert a[r]["held"] == b[r]["held"] and a[r]["recv"] == b[r]["recv"] and a[r]["exits"] == b[r]["exits"], r


@SETTINGS
@given(ledgers(distinct_ts=True), st.randoms(use_true_random=False))
def test_distinct_timestamps_make_tx_ids_irrelevant(case, rnd):
    rows, srcs, openings, pres = case
    ids = list(range(1, len(rows) + 1))
    rnd.shuffle(ids)
    a = run_all(rows, srcs, openings, pres)
    b = run_all(rows, srcs, openings, pres, ids=[i * 7 + 1000 for i in ids])
    for r in RULES:
        assert a[r]["held"] == b[r]["held"] and a[r]["recv"] == b[r]["recv"], r


@SETTINGS
@given(ledgers(), st.integers(0, 10_000))
def test_backward_agrees_with_forward(case, pick):
    rows, srcs, openings, pres = case
    srcs = _tx_sources(srcs)          # backward takes transaction sources only
    payments = [i for i, r in enumerate(rows) if r[1] != "cash" and i not in srcs]
    if not payments or not srcs:
        return
    target = payments[pick % len(payments)]
    tid = target + 1
    fwd = run_all(rows, srcs, openings, pres, rules=CONSERVING)
    con = edges_con(rows)
    try:
        ws = SimpleNamespace(con=con)
        back = backward(ws, Target(tx_id=tid), sources=[i + 1 for i in srcs], rules=CONSERVING, presumption=pres,
                        openings=openings, max_hops=30, schedule=False)
    finally:
        close(con)
    for r in CONSERVING:
        wt = next((row[6] for row in fwd[r]["res"].schedule if row[2] == tid and row[3] == "out"), 0)
        b = back["rules"][r]
        assert round(b["tainted"] * 10_000) == wt, (r, b["tainted"], wt)
        assert round(b["funding_tainted"] * 10_000) == wt, (r, b["funding_tainted"], wt)
        assert round(sum(f["amount"] for f in b["funding"]) * 10_000) == rows[target][3], r
