"""Bipartite and stack: layers of accounts paying layers of accounts.

A *block* is a set of senders S and a set of receivers R where every sender pays every
receiver, over relationships that exist only for the scheme. Blocks are found two ways, so
that a block is found whether each of its relationships carries one transfer or ten:

* **a complete biclique** of *transient* relationships (a pair of real accounts whose
  transfers all fall within ``transient_days``; one transfer is enough): at least two senders
  and two receivers, at least ``min_pairs`` sender-receiver relationships, every one of them
  starting within ``window_days`` of the others. Found through pairs of senders: two senders
  paying the same receivers (within the window) share those receivers; sender pairs sharing
  exactly the same set make one block. Receivers and senders with more than
  ``max_layer_size`` transient relationships are hubs, not layers, and are left out.
* **a burst block**: senders with exactly the same *burst* receivers (a pair with at least
  ``min_repeats`` transfers, all within ``burst_days``), |S| >= ``min_senders``, |R| >=
  ``min_receivers``, the whole block within ``window_days``. This is the only way a single
  sender paying several receivers is a block (repetition in one episode is what coordinates
  them; one transfer to each is a fan-out).

**bipartite** — each block. Score = |S| x |R| / (``min_senders`` x ``min_receivers``).

**stack** — multi-layer pass-through: a block L0 -> L1 followed, where the ledger shows it, by
transient transfers from L1 onward to L2 and from L2 to L3 at or after L1/L2 were paid. The
finding reports the depth it could see: depth 1 means the onward layers are not in the ledger
(another bank's records, or cash), which is why a depth-1 stack and a bipartite block over the
same accounts are both reported — from one ledger they are indistinguishable.
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
    transient_days: int = days(31, lo=0)
    window_days: int = days(45)
    min_pairs: int = count(6)

    def check(self, typology):
        order_check(typology, self, "min_senders", "max_layer_size")
        order_check(typology, self, "min_receivers", "max_layer_size")


def _kw(p: LayerParams, d: Dialect) -> dict[str, str]:
    return dict(min_repeats=lit(p.min_repeats), burst_days=lit(p.burst_days), min_senders=lit(p.min_senders),
                min_receivers=lit(p.min_receivers), max_layer=lit(p.max_layer_size),
                transient=lit(p.transient_days), window=lit(p.window_days), min_pairs=lit(p.min_pairs),
                recv=d.ordered_list("dst", ["dst"]), senders=d.ordered_list("src", ["src"]),
                common=d.ordered_list("r", ["r"]), bic_senders=d.ordered_list("s", ["s"]),
                n_recv=d.list_length("rs"))


_BLOCKS = """
tp AS (SELECT tx_id, src, dst, ts, amount FROM edges
       WHERE """ + TRANSFERS + """ AND pair_span_days <= {transient}),
b AS (SELECT tx_id, src, dst, ts, amount FROM edges
      WHERE """ + TRANSFERS + """
        AND pair_tx >= {min_repeats} AND pair_span_days <= {burst_days}),
pairs AS (SELECT src, dst, count(*) AS n, min(ts) AS f, max(ts) AS l FROM b GROUP BY src, dst),
rs AS (SELECT src, {recv} AS recv, min(f) AS f, max(l) AS l FROM pairs
       GROUP BY src HAVING count(*) BETWEEN {min_receivers} AND {max_layer}),
burst_blocks AS (SELECT recv, {senders} AS senders FROM rs
                 GROUP BY recv HAVING count(*) BETWEEN {min_senders} AND {max_layer}
                                  AND date_diff('day', min(f), max(l)) <= {window}),
tpairs AS (SELECT src, dst, min(ts) AS f, max(ts) AS l FROM tp GROUP BY src, dst),
t_in AS (SELECT dst, count(*) AS n FROM tpairs GROUP BY dst),
t_out AS (SELECT src, count(*) AS n FROM tpairs GROUP BY src),
tlayer AS (SELECT p.src, p.dst, p.f, p.l FROM tpairs p JOIN t_in i ON i.dst = p.dst JOIN t_out o ON o.src = p.src
           WHERE i.n <= {max_layer} AND o.n <= {max_layer}),
shared AS (SELECT x.src AS s1, y.src AS s2, x.dst AS r, least(x.f, y.f) AS f, greatest(x.l, y.l) AS l
           FROM tlayer x JOIN tlayer y ON x.dst = y.dst AND x.src < y.src
           WHERE abs(date_diff('day', x.f, y.f)) <= {window}),
common AS (SELECT s1, s2, {common} AS rs FROM shared GROUP BY s1, s2
           HAVING count(*) >= 2 AND date_diff('day', min(f), max(l)) <= {window}),
members AS (SELECT DISTINCT rs, s FROM (SELECT rs, s1 AS s FROM common UNION ALL SELECT rs, s2 AS s FROM common)),
bicliques AS (SELECT rs AS recv, {bic_senders} AS senders FROM members
              GROUP BY rs HAVING count(*) >= 2 AND count(*) * {n_recv} >= {min_pairs}
                                 AND {n_recv} <= {max_layer} AND count(*) <= {max_layer}),
blocks AS (SELECT array_to_string(senders, ',') || ' => ' || array_to_string(recv, ',') AS bid, recv, senders
           FROM (SELECT recv, senders FROM burst_blocks UNION SELECT recv, senders FROM bicliques)),
l1 AS (SELECT blk.bid AS block, e.* FROM blocks blk
       JOIN tp e ON list_contains(blk.senders, e.src) AND list_contains(blk.recv, e.dst))
"""


class Bipartite(Typology):
    id = "bipartite"
    version = "2"
    title = "Bipartite: a layer of senders paying a layer of receivers"
    red_flag = ("a group of accounts each paying every account of another group, over relationships "
                "that exist only for this (coordinated layering through a set of accounts)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FATF, Professional Money Laundering (2018)"
    Params = LayerParams

    needs = frozenset({"ordered_list", "list_functions"})

    def sql(self, p: LayerParams, d: Dialect) -> str:
        kw = _kw(p, d)
        n_senders, n_recv = d.list_length("any_value(blk.senders)"), d.list_length("any_value(blk.recv)")
        return f"""
        WITH {_BLOCKS.format(**kw)},
        per_pair AS (SELECT block, src, dst, count(*) AS n FROM l1 GROUP BY block, src, dst),
        reps AS (SELECT block, min(n) AS min_n, max(n) AS max_n FROM per_pair GROUP BY block)
        SELECT l1.block AS key,
               {n_senders} * {n_recv} / ({kw['min_senders']} * {kw['min_receivers']})::DOUBLE AS score,
               min(l1.ts) AS first_ts, max(l1.ts) AS last_ts, sum(l1.amount) AS total_amount,
               {d.ordered_list("l1.tx_id", ["l1.ts", "l1.tx_id"])} AS tx_ids,
               list_concat(list_transform(any_value(blk.senders), x -> {{'account_id': x, 'role': 'sender'}}),
                           list_transform(any_value(blk.recv), x -> {{'account_id': x, 'role': 'receiver'}})) AS accounts,
               {{'senders': {n_senders}, 'receivers': {n_recv}, 'transfers': count(*),
                 'days': date_diff('day', min(l1.ts), max(l1.ts)) + 1,
                 'min_per_pair': any_value(r.min_n), 'max_per_pair': any_value(r.max_n)}} AS stats
        FROM l1 JOIN blocks blk ON blk.bid = l1.block JOIN reps r ON r.block = l1.block
        GROUP BY l1.block
        """

    def explain(self, row, p):
        s = row["stats"]
        who = "1 account" if s["senders"] == 1 else f"each of {s['senders']} accounts"
        if s["max_per_pair"] == 1:
            how = "once"
        elif s["min_per_pair"] == s["max_per_pair"]:
            how = f"{s['max_per_pair']} times"
        else:
            how = f"{s['min_per_pair']} to {s['max_per_pair']} times"
        return (f"{who} paid every one of the same {s['receivers']} accounts, {how} each — {s['transfers']} "
                f"transfers totalling {money(row['total_amount'])} between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])} ({s['days']} days) — over relationships that exist only for this "
                f"(each within {p.transient_days} days). Red flag: {self.red_flag} — {self.source}.")


class Stack(Typology):
    id = "stack"
    version = "2"
    title = "Stack: funds pushed through successive layers of accounts"
    red_flag = ("funds pushed from one layer of accounts to the next over relationships that exist only "
                "for this (multi-layer pass-through to distance the money from its source)")
    source = "FATF, Professional Money Laundering (2018); FFIEC BSA/AML Examination Manual, Appendix F"
    Params = LayerParams

    needs = frozenset({"ordered_list", "list_functions"})

    def sql(self, p: LayerParams, d: Dialect) -> str:
        kw = _kw(p, d)
        n_senders, n_block = d.list_length("any_value(blk.senders)"), d.list_length("any_value(blk.recv)")
        return f"""
        WITH {_BLOCKS.format(**kw)},
        first_in AS (SELECT block, dst AS acct, min(ts) AS t FROM l1 GROUP BY block, dst),
        l2 AS (SELECT fi.block, e.* FROM first_in fi JOIN tp e ON e.src = fi.acct AND e.ts >= fi.t
               JOIN blocks blk ON blk.bid = fi.block
               WHERE date_diff('day', fi.t, e.ts) <= {kw['window']}
                 AND NOT list_contains(blk.senders, e.dst) AND NOT list_contains(blk.recv, e.dst)),
        first_in2 AS (SELECT block, dst AS acct, min(ts) AS t FROM l2 GROUP BY block, dst),
        l3 AS (SELECT fi.block, e.* FROM first_in2 fi JOIN tp e ON e.src = fi.acct AND e.ts >= fi.t
               JOIN blocks blk ON blk.bid = fi.block
               WHERE date_diff('day', fi.t, e.ts) <= {kw['window']}
                 AND NOT list_contains(blk.senders, e.dst) AND NOT list_contains(blk.recv, e.dst)
                 AND e.dst NOT IN (SELECT acct FROM first_in2 x WHERE x.block = fi.block)),
        allx AS (SELECT block, 1 AS layer, tx_id, src, dst, ts, amount FROM l1
                 UNION ALL SELECT block, 2, tx_id, src, dst, ts, amount FROM l2
                 UNION ALL SELECT block, 3, tx_id, src, dst, ts, amount FROM l3)
        SELECT a.block AS key,
               count(*) / {n_block}::DOUBLE * max(a.layer) / {kw['min_receivers']} AS score,
               min(a.ts) AS first_ts, max(a.ts) AS last_ts, sum(a.amount) AS total_amount,
               list(DISTINCT a.tx_id) AS tx_ids,
               list_concat(list_transform(any_value(blk.senders), x -> {{'account_id': x, 'role': 'layer 0'}}),
                           list(DISTINCT {{'account_id': a.dst, 'role': 'layer ' || a.layer::VARCHAR}})) AS accounts,
               {{'depth': max(a.layer), 'sources': {n_senders}, 'first_layer': {n_block},
                 'transfers': count(*), 'days': date_diff('day', min(a.ts), max(a.ts)) + 1}} AS stats
        FROM allx a JOIN blocks blk ON blk.bid = a.block
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
