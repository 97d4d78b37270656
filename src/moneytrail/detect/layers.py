"""Bipartite and stack: layers of accounts paying layers of accounts in short repeated bursts.

Both work on *burst* relationships: a pair of real accounts with at least ``min_repeats``
transfers, all within ``burst_days`` (a relationship that exists only as a burst of payments).

**bipartite** — a layer of senders S paying a layer of receivers R where every sender pays
every receiver (a complete bipartite block: senders with exactly the same burst receivers
are one layer), |S| >= ``min_senders``, |R| >= ``min_receivers``. Score = |S| x |R| /
(``min_senders`` x ``min_receivers``).

**stack** — multi-layer pass-through: a bipartite block L0 -> L1 followed, where the ledger
shows it, by burst transfers from L1 onward to L2 and from L2 to L3 at or after L1/L2 were
paid. The finding reports the depth it could see: depth 1 means the onward layers are not in
the ledger (another bank's records, or cash), which is why a depth-1 stack and a bipartite
block over the same accounts are both reported — from one ledger they are indistinguishable.
Score = transfers per layer pair x depth / ``min_receivers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import TRANSFERS, Params, Typology, count, day, days, money, order_check
from moneytrail.sqlkit import lit


@dataclass(frozen=True)
class LayerParams(Params):
    min_repeats: int = count(3)
    burst_days: int = days(31, lo=0)
    min_senders: int = count(1)
    min_receivers: int = count(2)
    max_layer_size: int = count(100)

    def check(self, typology):
        order_check(typology, self, "min_senders", "max_layer_size")
        order_check(typology, self, "min_receivers", "max_layer_size")


def _kw(p: LayerParams, d: Dialect) -> dict[str, str]:
    return dict(min_repeats=lit(p.min_repeats), burst_days=lit(p.burst_days), min_senders=lit(p.min_senders),
                min_receivers=lit(p.min_receivers), max_layer=lit(p.max_layer_size),
                recv=d.ordered_list("dst", ["dst"]), senders=d.ordered_list("src", ["src"]))


_BLOCKS = """
b AS (SELECT tx_id, src, dst, ts, amount FROM edges
      WHERE """ + TRANSFERS + """
        AND pair_tx >= {min_repeats} AND pair_span_days <= {burst_days}),
pairs AS (SELECT src, dst, count(*) AS n, min(ts) AS f, max(ts) AS l FROM b GROUP BY src, dst),
rs AS (SELECT src, {recv} AS recv, min(f) AS f, max(l) AS l FROM pairs
       GROUP BY src HAVING count(*) BETWEEN {min_receivers} AND {max_layer}),
blocks AS (SELECT recv, {senders} AS senders, min(f) AS f, max(l) AS l FROM rs
           GROUP BY recv HAVING count(*) BETWEEN {min_senders} AND {max_layer}),
l1 AS (SELECT blk.recv AS block, e.* FROM blocks blk
       JOIN b e ON list_contains(blk.senders, e.src) AND list_contains(blk.recv, e.dst))
"""


class Bipartite(Typology):
    id = "bipartite"
    version = "1"
    title = "Bipartite: a layer of senders paying a layer of receivers"
    red_flag = ("a group of accounts each repeatedly paying the same group of accounts in a short "
                "burst (coordinated layering through a set of accounts)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FATF, Professional Money Laundering (2018)"
    Params = LayerParams

    needs = frozenset({"ordered_list", "list_functions"})

    def sql(self, p: LayerParams, d: Dialect) -> str:
        kw = _kw(p, d)
        n_senders, n_block = d.list_length("any_value(blk.senders)"), d.list_length("l1.block")
        return f"""
        WITH {_BLOCKS.format(**kw)}
        SELECT array_to_string(any_value(blk.senders), ',') || ' => ' || array_to_string(l1.block, ',') AS key,
               {n_senders} * {n_block} / ({kw['min_senders']} * {kw['min_receivers']})::DOUBLE AS score,
               min(l1.ts) AS first_ts, max(l1.ts) AS last_ts, sum(l1.amount) AS total_amount,
               {d.ordered_list("l1.tx_id", ["l1.ts", "l1.tx_id"])} AS tx_ids,
               list_concat(list_transform(any_value(blk.senders), x -> {{'account_id': x, 'role': 'sender'}}),
                           list_transform(l1.block, x -> {{'account_id': x, 'role': 'receiver'}})) AS accounts,
               {{'senders': {n_senders}, 'receivers': {n_block}, 'transfers': count(*),
                 'days': date_diff('day', min(l1.ts), max(l1.ts)) + 1}} AS stats
        FROM l1 JOIN blocks blk ON blk.recv = l1.block
        GROUP BY l1.block
        """

    def explain(self, row, p):
        s = row["stats"]
        who = "1 account" if s["senders"] == 1 else f"{s['senders']} accounts"
        return (f"{who} paid each of the same {s['receivers']} accounts repeatedly — {s['transfers']} "
                f"transfers totalling {money(row['total_amount'])} between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])} ({s['days']} days) — relationships that exist only as this "
                f"burst. Red flag: {self.red_flag} — {self.source}.")


class Stack(Typology):
    id = "stack"
    version = "1"
    title = "Stack: funds pushed through successive layers of accounts"
    red_flag = ("funds pushed in repeated bursts from one layer of accounts to the next "
                "(multi-layer pass-through to distance the money from its source)")
    source = "FATF, Professional Money Laundering (2018); FFIEC BSA/AML Examination Manual, Appendix F"
    Params = LayerParams

    needs = frozenset({"ordered_list", "list_functions"})

    def sql(self, p: LayerParams, d: Dialect) -> str:
        kw = _kw(p, d)
        n_senders, n_block = d.list_length("any_value(blk.senders)"), d.list_length("a.block")
        return f"""
        WITH {_BLOCKS.format(**kw)},
        first_in AS (SELECT block, dst AS acct, min(ts) AS t FROM l1 GROUP BY block, dst),
        l2 AS (SELECT fi.block, e.* FROM first_in fi JOIN b e ON e.src = fi.acct AND e.ts >= fi.t
               JOIN blocks blk ON blk.recv = fi.block
               WHERE NOT list_contains(blk.senders, e.dst) AND NOT list_contains(fi.block, e.dst)),
        first_in2 AS (SELECT block, dst AS acct, min(ts) AS t FROM l2 GROUP BY block, dst),
        l3 AS (SELECT fi.block, e.* FROM first_in2 fi JOIN b e ON e.src = fi.acct AND e.ts >= fi.t
               JOIN blocks blk ON blk.recv = fi.block
               WHERE NOT list_contains(blk.senders, e.dst) AND NOT list_contains(fi.block, e.dst)
                 AND e.dst NOT IN (SELECT acct FROM first_in2 x WHERE x.block = fi.block)),
        allx AS (SELECT block, 1 AS layer, tx_id, src, dst, ts, amount FROM l1
                 UNION ALL SELECT block, 2, tx_id, src, dst, ts, amount FROM l2
                 UNION ALL SELECT block, 3, tx_id, src, dst, ts, amount FROM l3)
        SELECT array_to_string(any_value(blk.senders), ',') || ' => ' || array_to_string(a.block, ',') AS key,
               count(*) / {n_block}::DOUBLE * max(a.layer) / {kw['min_receivers']} AS score,
               min(a.ts) AS first_ts, max(a.ts) AS last_ts, sum(a.amount) AS total_amount,
               list(DISTINCT a.tx_id) AS tx_ids,
               list_concat(list_transform(any_value(blk.senders), x -> {{'account_id': x, 'role': 'layer 0'}}),
                           list(DISTINCT {{'account_id': a.dst, 'role': 'layer ' || a.layer::VARCHAR}})) AS accounts,
               {{'depth': max(a.layer), 'sources': {n_senders}, 'first_layer': {n_block},
                 'transfers': count(*), 'days': date_diff('day', min(a.ts), max(a.ts)) + 1}} AS stats
        FROM allx a JOIN blocks blk ON blk.recv = a.block
        GROUP BY a.block
        """

    def explain(self, row, p):
        s = row["stats"]
        seen = ("only the first layer is in this ledger (the onward layers are elsewhere)"
                if s["depth"] == 1 else f"the ledger shows {s['depth']} layers")
        return (f"{s['sources']} source account(s) pushed funds to a first layer of {s['first_layer']} "
                f"accounts in {s['transfers']} transfers totalling {money(row['total_amount'])} between "
                f"{day(row['first_ts'])} and {day(row['last_ts'])}; {seen}. "
                f"Red flag: {self.red_flag} — {self.source}.")
