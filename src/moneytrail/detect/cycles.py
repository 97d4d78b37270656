"""Time-ordered cycles: funds that come back to where they started.

``cycle`` finds loops of 3 accounts; ``round_trip`` finds 2-cycles (A pays B, B pays most of
it back), with a materiality floor (``min_amount``, default 1,000) because small paybacks
between friends are everyday activity.

Definition. A cycle instance is a chain of transfers e1, ..., ek (k = 2 or 3) with
e1.src = ek.dst, all accounts distinct, each transfer strictly later than the previous in the
documented order (timestamp, then tx_id), the whole chain within ``window_days`` of e1, and
each hop passing on between ``min_ratio`` and ``max_ratio`` of the previous hop's amount
(value moving on, less a fee — not unrelated payments that happen to close a loop).
The first transfer must be at least ``min_amount``. Pseudo accounts (cash, name-only) never
take part. Each instance is found once, from its
earliest transfer. Instances over the same accounts in the same cyclic order are one finding
(a cycle run several times). Score = number of instances x cycle length / 2.

Hubs are bounded by construction: the join for each hop is limited by the time window and
the amount ratio, so a hub's pairs that don't pass value on are never materialised.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.detect.base import Params, Typology, day, money


@dataclass(frozen=True)
class CycleParams(Params):
    window_days: int = 21
    min_ratio: float = 0.5
    max_ratio: float = 1.05
    min_amount: float = 0.0
    min_length: int = 3
    max_length: int = 3


@dataclass(frozen=True)
class RoundTripParams(CycleParams):
    window_days: int = 14
    min_ratio: float = 0.8
    max_ratio: float = 1.0
    min_amount: float = 1000.0
    min_length: int = 2
    max_length: int = 2


_E = """e AS (SELECT tx_id, src, dst, ts, amount FROM edges
        WHERE NOT src_pseudo AND NOT dst_pseudo AND src <> dst)"""

_HOP = """JOIN e {b} ON {b}.src = {a}.dst AND ({b}.ts > {a}.ts OR ({b}.ts = {a}.ts AND {b}.tx_id > {a}.tx_id))
        AND {b}.ts <= e1.ts + INTERVAL {window} DAY
        AND {b}.amount >= {a}.amount * {min_ratio} AND {b}.amount <= {a}.amount * {max_ratio}"""


class Cycles(Typology):
    id = "cycle"
    version = "1"
    title = "Time-ordered cycle: funds returning to their origin"
    red_flag = ("funds moved through a closed loop of accounts and returned to the originator "
                "shortly after (round-tripping with no apparent business purpose)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FATF, Professional Money Laundering (2018)"
    Params = CycleParams

    def sql(self, p: CycleParams) -> str:
        kw = dict(window=int(p.window_days), min_ratio=float(p.min_ratio), max_ratio=float(p.max_ratio))
        parts = []
        if p.min_length <= 2 <= p.max_length:
            parts.append(f"""
            SELECT 2 AS len, [e1.src, e1.dst] AS seq, [e1.tx_id, e2.tx_id] AS txs,
                   e1.amount + e2.amount AS moved,
                   e1.ts AS t0, e2.ts AS t1, e1.amount AS a0, e2.amount AS a1
            FROM e e1 {_HOP.format(a='e1', b='e2', **kw)}
            WHERE e2.dst = e1.src AND e1.amount >= {float(p.min_amount)}""")
        if p.min_length <= 3 <= p.max_length:
            parts.append(f"""
            SELECT 3 AS len, [e1.src, e1.dst, e2.dst] AS seq, [e1.tx_id, e2.tx_id, e3.tx_id] AS txs,
                   e1.amount + e2.amount + e3.amount AS moved,
                   e1.ts AS t0, e3.ts AS t1, e1.amount AS a0, e3.amount AS a1
            FROM e e1 {_HOP.format(a='e1', b='e2', **kw)}
                 {_HOP.format(a='e2', b='e3', **kw)}
            WHERE e2.dst <> e1.src AND e3.dst = e1.src AND e1.amount >= {float(p.min_amount)}""")
        if not parts:
            from moneytrail.errors import ConfigError
            raise ConfigError(f"{self.id}: no cycle length between min_length {p.min_length} "
                              f"and max_length {p.max_length} is supported (2 or 3)")
        inst = " UNION ALL ".join(parts)
        return f"""
        WITH {_E},
        inst AS ({inst}),
        canon AS (
            SELECT *, list_position(seq, list_min(seq)) AS pos FROM inst
        ), keyed AS (
            SELECT *, list_concat(list_slice(seq, pos, len(seq)), list_slice(seq, 1, pos - 1)) AS ring FROM canon
        )
        SELECT array_to_string(ring, ' -> ') || ' -> ' || ring[1] AS key,
               count(*) * any_value(len) / 2.0 AS score,
               min(t0) AS first_ts, max(t1) AS last_ts,
               sum(moved) AS total_amount,
               flatten(list(txs ORDER BY t0)) AS tx_ids,
               list_transform(list_distinct(flatten(list(seq))), x -> {{'account_id': x, 'role': 'cycle member'}}) AS accounts,
               {{'ring': ring, 'instances': count(*), 'length': any_value(len),
                 'min_return_ratio': min(a1 / a0), 'max_return_ratio': max(a1 / a0),
                 'max_days': max(date_diff('day', t0, t1)), 'started': sum(a0), 'returned': sum(a1)}} AS stats
        FROM keyed
        GROUP BY ring
        """

    def explain(self, row, p):
        s = row["stats"]
        ring = " → ".join(list(s["ring"]) + [s["ring"][0]])
        times = "once" if s["instances"] == 1 else f"{s['instances']} times"
        return (f"Funds went around the closed loop {ring} {times} between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])}: {money(s['started'])} left the first account and "
                f"{money(s['returned'])} came back to it, each loop closing within {s['max_days']} days "
                f"and returning {float(s['min_return_ratio']):.0%}–{float(s['max_return_ratio']):.0%} "
                f"of what was sent. Red flag: {self.red_flag} — {self.source}.")


class RoundTrip(Cycles):
    id = "round_trip"
    version = "1"
    title = "Round trip: funds sent out and returned"
    red_flag = ("funds sent to another account and most of them returned within days "
                "(round-tripping), for amounts that matter")
    source = "FFIEC BSA/AML Examination Manual, Appendix F"
    Params = RoundTripParams
