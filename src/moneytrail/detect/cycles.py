"""Cycles: funds that come back to where they started.

``cycle`` reports a closed loop of accounts A1 -> A2 -> ... -> Ak -> A1 (k from
``min_length`` to ``max_length``, all accounts distinct, pseudo accounts never included) found
by either of two searches (see :mod:`moneytrail.detect.paths`):

1. **value chains** (time-ordered): each transfer at or after the previous one in the
   documented order (timestamp, then tx_id), the whole chain within ``ordered_window_days``,
   each hop passing on ``min_ratio``..``max_ratio`` of what the previous hop carried — money
   visibly travelling round, less fees, however long-standing the relationships;
2. **transient loops**: every hop a *transient* relationship (the pair's transfers all fall
   within ``transient_days``: a relationship that exists only for this) and all hops within
   ``window_days`` of each other, in any recorded order. Simulators and real ledgers alike
   record value dates that need not follow the flow (AMLSim schedules each hop of a cycle at
   its own random step), so a loop of otherwise unrelated one-off transfers closing within days
   is the red flag even when its dates are not in sequence.

Instances over the same accounts in the same cyclic order are one finding. Score =
instances x length / 2, doubled when the loop is a time-ordered value chain.

``round_trip`` is the 2-account case (A pays B, B pays most of it back) with a materiality
floor (``min_amount``, default 1,000): small paybacks between friends are everyday activity.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import (TRANSFERS, Params, Typology, amount, count, day, days, money, order_check,
                                    ratio, whole)
from moneytrail.detect.paths import MAX_LOOP_LENGTH, LoopSearch, find_loops
from moneytrail.sqlkit import lit


@dataclass(frozen=True)
class CycleParams(Params):
    min_length: int = whole(3, 2, MAX_LOOP_LENGTH, "accounts")
    max_length: int = whole(10, 2, MAX_LOOP_LENGTH, "accounts")
    window_days: int = days(30)              # transient loops: all hops within this many days
    transient_days: int = days(31, lo=0)     # a transient relationship spans at most this many days
    ordered_window_days: int = days(21)      # value chains: the whole chain within this many days
    max_ordered_length: int = whole(6, 0, MAX_LOOP_LENGTH, "accounts")  # below min_length: no value chains
    min_ratio: float = ratio(0.8, lo_open=False)
    max_ratio: float = ratio(1.0, hi=100.0)
    min_amount: float = amount(0.0)          # first transfer of a loop at least this much
    max_degree: int = count(200)             # accounts with more candidate counterparties are not expanded

    def check(self, typology):
        order_check(typology, self, "min_length", "max_length")
        order_check(typology, self, "min_ratio", "max_ratio")


@dataclass(frozen=True)
class RoundTripParams(Params):
    window_days: int = days(14)
    min_ratio: float = ratio(0.8, lo_open=False)
    max_ratio: float = ratio(1.0, hi=100.0)
    min_amount: float = amount(1000.0)
    max_degree: int = count(500)

    def check(self, typology):
        order_check(typology, self, "min_ratio", "max_ratio")


_REAL = TRANSFERS

_GROUP = """
WITH f AS (SELECT *, ordered_flag AS ordered FROM {found}),
canon AS (SELECT *, {pos} AS pos FROM f),
keyed AS (SELECT *, list_concat({tail}, {head}) AS ring FROM canon)
SELECT array_to_string(ring, ' -> ') || ' -> ' || ring[1] AS key,
       count(*) * any_value(len) / 2.0 * CASE WHEN bool_or(ordered) THEN 2 ELSE 1 END AS score,
       min(t0) AS first_ts, max(t1) AS last_ts,
       list_sort(list_distinct(flatten(list(txs)))) AS tx_ids,
       list_transform(ring, x -> {{'account_id': x, 'role': 'cycle member'}}) AS accounts,
       {{'ring': ring, 'instances': count(*), 'length': any_value(len), 'ordered': bool_or(ordered),
         'max_days': max(date_diff('day', t0, t1)),
         'started': sum(amounts[1]), 'returned': sum({last_amount})}} AS stats
FROM keyed GROUP BY ring
"""


def _group(found: str, d: Dialect) -> str:
    """The loops found, grouped per ring (rotated to start at its smallest account)."""
    return _GROUP.format(found=found, pos=d.list_position("seq", "list_min(seq)"),
                         tail=d.list_slice("seq", "pos", d.list_length("seq")),
                         head=d.list_slice("seq", "1", "pos - 1"), last_amount=d.list_last("amounts"))

_WITH_TOTAL = """
SELECT g.*, t.total_amount FROM ({grouped}) g
JOIN (SELECT key, sum(e.amount) AS total_amount
      FROM (SELECT key, unnest(tx_ids) AS tx_id FROM ({grouped})) u JOIN edges e USING (tx_id)
      GROUP BY key) t USING (key)
"""


class Cycles(Typology):
    id = "cycle"
    version = "2"
    title = "Cycle: funds returning to their origin through a loop of accounts"
    red_flag = ("funds moved through a closed loop of accounts and returned to the originator "
                "shortly after (round-tripping with no apparent business purpose)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FATF, Professional Money Laundering (2018)"
    Params = CycleParams

    def searches(self, p: CycleParams) -> list[LoopSearch]:
        out = []
        if p.max_ordered_length >= p.min_length:
            out.append(LoopSearch(
                edges_sql=f"SELECT tx_id, src, dst, ts, amount FROM edges WHERE {_REAL}",
                min_length=p.min_length, max_length=min(p.max_length, p.max_ordered_length),
                window_days=p.ordered_window_days, ordered=True, min_ratio=p.min_ratio,
                max_ratio=p.max_ratio, min_first_amount=p.min_amount, max_degree=p.max_degree,
                prefix=f"_{self.id}_o"))
        out.append(LoopSearch(
            edges_sql=f"SELECT tx_id, src, dst, ts, amount FROM edges WHERE {_REAL} "
                      f"AND pair_span_days <= {lit(p.transient_days)}",
            min_length=p.min_length, max_length=p.max_length, window_days=p.window_days,
            ordered=False, min_first_amount=0.0, max_degree=p.max_degree, prefix=f"_{self.id}_u"))
        return out

    def run(self, backend, p: CycleParams) -> list[dict]:
        parts, self.last_stats = [], {}
        for srch in self.searches(p):
            found, st = find_loops(backend, srch)
            self.last_stats[srch.prefix] = st
            parts.append(f"SELECT len, seq, txs, amounts, t0, t1, {lit(srch.ordered)} AS ordered_flag "
                         f"FROM {found}")
        backend.materialize(f"_{self.id}_all", " UNION ALL ".join(parts), temp=True)
        self.notes = [f"{k}: search stopped before length {v['stopped_before_length']} (about {v['bound']:,} "
                      f"paths would exceed the bound)" for k, v in self.last_stats.items() if v.get("truncated")]
        backend.materialize(f"_{self.id}_g", _group(f"_{self.id}_all", backend.sql_dialect), temp=True)
        return backend.execute(_WITH_TOTAL.format(grouped=f"SELECT * FROM _{self.id}_g")).to_pylist()

    needs = frozenset({"list_functions"})

    def sql(self, p, d):  # a cycle search is iterative; see run()
        raise NotImplementedError

    def explain(self, row, p):
        s = row["stats"]
        ring = " → ".join(list(s["ring"]) + [s["ring"][0]])
        times = "once" if s["instances"] == 1 else f"{s['instances']} times"
        how = ("in time order, each hop passing on most of what it received"
               if s["ordered"] else
               "through transient relationships (accounts that dealt with each other only for this)")
        return (f"Funds went around the closed loop {ring} {times} between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])}, {how}; each loop closed within {s['max_days']} days, "
                f"{money(s['started'])} leaving the first account and {money(s['returned'])} "
                f"returning to it. Red flag: {self.red_flag} — {self.source}.")


class RoundTrip(Typology):
    id = "round_trip"
    version = "2"
    title = "Round trip: funds sent out and returned"
    red_flag = ("funds sent to another account and most of them returned within days "
                "(round-tripping), for amounts that matter")
    source = "FFIEC BSA/AML Examination Manual, Appendix F"
    Params = RoundTripParams

    def run(self, backend, p: RoundTripParams) -> list[dict]:
        srch = LoopSearch(
            edges_sql=f"SELECT tx_id, src, dst, ts, amount FROM edges WHERE {_REAL}",
            min_length=2, max_length=2, window_days=p.window_days, ordered=True,
            min_ratio=p.min_ratio, max_ratio=p.max_ratio, min_first_amount=p.min_amount,
            max_degree=p.max_degree, prefix=f"_{self.id}")
        found, _ = find_loops(backend, srch)
        backend.materialize(f"_{self.id}_g", _group(f"(SELECT *, TRUE AS ordered_flag FROM {found})",
                                                     backend.sql_dialect), temp=True)
        return backend.execute(_WITH_TOTAL.format(grouped=f"SELECT * FROM _{self.id}_g")).to_pylist()

    needs = frozenset({"list_functions"})

    def sql(self, p, d):  # iterative; see run()
        raise NotImplementedError

    def explain(self, row, p):
        s = row["stats"]
        a, b = s["ring"][0], s["ring"][1]
        times = "once" if s["instances"] == 1 else f"{s['instances']} times"
        return (f"{a} sent money to {b} and got most of it back {times} between {day(row['first_ts'])} "
                f"and {day(row['last_ts'])}: {money(s['started'])} out and {money(s['returned'])} "
                f"back, each within {s['max_days']} days. Red flag: {self.red_flag} — {self.source}.")
