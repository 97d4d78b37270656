"""Scatter-gather and gather-scatter: money split across intermediaries and brought together.

Both work on *transient* relationships: pairs whose transfers all fall within
``transient_days`` (a relationship that exists only for the scheme), between real accounts.

**scatter_gather** — a source S pays at least ``min_intermediaries`` distinct accounts M, and
each such M then pays the same destination D (at or after receiving, within ``window_days``).
Intermediaries with more than ``max_intermediary_degree`` transient counterparties are not
considered: a cost bound on hubs, set as gather_scatter's ``max_hub_degree`` (it was 50, "mules
have few"; in AMLGentex the scheme's intermediaries are busy accounts, and the bound of 50 lost
a quarter of its scatter-gather transfers). One finding per (S, D); score =
intermediaries / ``min_intermediaries``.

**gather_scatter** — a hub H receives from at least ``min_sources`` distinct accounts and
then pays at least ``min_destinations`` distinct accounts, in one episode: the hub's transient
transfers grouped into bursts separated by more than ``max_gap_days``, the burst lasting at
most ``window_days``, outflows counted from the first inflow on, and the hub paying out no
more than ``max_out_ratio`` times what it collected (it passes the collected money on; an
account paying many people from its own balance is not a gather-scatter hub). One finding
per episode; score = (sources + destinations) / (both minimums).
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import TRANSFERS, Params, Typology, count, day, days, money, num, ratio
from moneytrail.sqlkit import lit

_T = """t AS (SELECT tx_id, src, dst, ts, amount FROM edges
        WHERE """ + TRANSFERS + """ AND pair_span_days <= {transient})"""

_DEG = """deg AS (SELECT a, count(DISTINCT b) AS d
        FROM (SELECT src AS a, dst AS b FROM t UNION ALL SELECT dst, src FROM t) GROUP BY a)"""


@dataclass(frozen=True)
class ScatterGatherParams(Params):
    window_days: int = days(30)
    transient_days: int = days(31, lo=0)
    min_intermediaries: int = count(3)
    max_intermediary_degree: int = count(2000)


@dataclass(frozen=True)
class GatherScatterParams(Params):
    window_days: int = days(30)
    transient_days: int = days(31, lo=0)
    min_sources: int = count(3)
    min_destinations: int = count(3)
    max_gap_days: int = days(10, lo=0)
    max_out_ratio: float = ratio(1.1, hi=100.0)
    max_hub_degree: int = count(2000)


class ScatterGather(Typology):
    id = "scatter_gather"
    version = "1"
    title = "Scatter-gather: one source split across intermediaries, regathered at one destination"
    red_flag = ("funds split from one account across several intermediary accounts that each pass "
                "them on to the same destination shortly after (layering through mules)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FATF, Money Laundering Using Trust and Company Service Providers / mule networks"
    Params = ScatterGatherParams

    def sql(self, p: ScatterGatherParams, d: Dialect) -> str:
        return f"""
        WITH {_T.format(transient=lit(p.transient_days))}, {_DEG},
        legs AS (
            -- the intermediary's degree bound before the second leg is joined: engines that join
            -- in the order written (Spark without statistics) never pair a hub's ins and outs
            SELECT a.src AS s, a.dst AS m, b.dst AS d, a.tx_id AS tx1, b.tx_id AS tx2,
                   a.ts AS t1, b.ts AS t2, a.amount AS a1, b.amount AS a2
            FROM t a JOIN deg ON deg.a = a.dst AND deg.d <= {lit(p.max_intermediary_degree)}
            JOIN t b ON b.src = a.dst
            WHERE b.dst <> a.src
              AND b.ts >= a.ts AND b.ts <= a.ts + INTERVAL {lit(p.window_days)} DAY
        ), g AS (
            SELECT s, d, count(DISTINCT m) AS k,
                   list(DISTINCT m) AS mids,
                   list_distinct(list_concat(list(tx1), list(tx2))) AS txs,
                   min(t1) AS first_ts, max(t2) AS last_ts
            FROM legs GROUP BY s, d HAVING count(DISTINCT m) >= {lit(p.min_intermediaries)}
        ), tot AS (
            SELECT s, d, sum(e.amount) FILTER (WHERE e.src = g.s) AS out_amt,
                   sum(e.amount) FILTER (WHERE e.dst = g.d) AS in_amt, sum(e.amount) AS total
            FROM (SELECT s, d, unnest(txs) AS tx_id FROM g) g JOIN t e USING (tx_id) GROUP BY s, d
        )
        SELECT g.s || ' => ' || g.d AS key, g.k / {lit(p.min_intermediaries)}::DOUBLE AS score,
               g.first_ts, g.last_ts, tot.total AS total_amount, list_sort(g.txs) AS tx_ids,
               list_concat([{{'account_id': g.s, 'role': 'source'}}, {{'account_id': g.d, 'role': 'destination'}}],
                           list_transform(g.mids, x -> {{'account_id': x, 'role': 'intermediary'}})) AS accounts,
               {{'source': g.s, 'destination': g.d, 'intermediaries': g.k, 'scattered': tot.out_amt,
                 'gathered': tot.in_amt, 'days': date_diff('day', g.first_ts, g.last_ts) + 1}} AS stats
        FROM g JOIN tot USING (s, d)
        """

    def explain(self, row, p):
        s = row["stats"]
        return (f"{s['source']} split {money(s['scattered'])} across {s['intermediaries']} intermediary "
                f"accounts, which passed {money(s['gathered'])} on to {s['destination']} between "
                f"{day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days); each intermediary "
                f"dealt with these accounts only briefly. Red flag: {self.red_flag} — {self.source}.")


class GatherScatter(Typology):
    id = "gather_scatter"
    version = "1"
    title = "Gather-scatter: many sources collected by one hub and dispersed to many destinations"
    red_flag = ("an account collecting funds from several unrelated sources and promptly dispersing "
                "them to several other accounts (a collection-and-distribution hub)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FinCEN FIN-2014-A005 (funnel accounts)"
    Params = GatherScatterParams

    needs = frozenset({"ordered_list"})

    def sql(self, p: GatherScatterParams, d: Dialect) -> str:
        return f"""
        WITH {_T.format(transient=lit(p.transient_days))}, {_DEG},
        ev AS (
            SELECT t.dst AS h, t.src AS cp, 'in' AS dir, t.tx_id, t.ts, t.amount FROM t
            UNION ALL
            SELECT t.src, t.dst, 'out', t.tx_id, t.ts, t.amount FROM t
        ), cand AS (
            SELECT ev.* FROM ev JOIN deg ON deg.a = ev.h WHERE deg.d <= {lit(p.max_hub_degree)}
              AND ev.h IN (SELECT h FROM ev GROUP BY h
                           HAVING count(DISTINCT cp) FILTER (WHERE dir = 'in') >= {lit(p.min_sources)}
                              AND count(DISTINCT cp) FILTER (WHERE dir = 'out') >= {lit(p.min_destinations)})
        ), gaps AS (
            SELECT *, CASE WHEN lag(ts) OVER (PARTITION BY h ORDER BY ts, tx_id) IS NULL
                            OR ts > lag(ts) OVER (PARTITION BY h ORDER BY ts, tx_id) + INTERVAL {lit(p.max_gap_days)} DAY
                           THEN 1 ELSE 0 END AS brk
            FROM cand
        ), isl AS (
            SELECT *, sum(brk) OVER (PARTITION BY h ORDER BY ts, tx_id ROWS UNBOUNDED PRECEDING) AS island FROM gaps
        ), firsts AS (
            SELECT h, island, min(ts) FILTER (WHERE dir = 'in') AS first_in FROM isl GROUP BY h, island
        ), kept AS (  -- inflows, and outflows at or after the episode's first inflow
            SELECT i.* FROM isl i JOIN firsts f USING (h, island)
            WHERE i.dir = 'in' OR i.ts >= f.first_in
        ), g AS (
            SELECT h, island,
                   count(DISTINCT cp) FILTER (WHERE dir = 'in') AS ns,
                   count(DISTINCT cp) FILTER (WHERE dir = 'out') AS nd,
                   list(DISTINCT cp) FILTER (WHERE dir = 'in') AS srcs,
                   list(DISTINCT cp) FILTER (WHERE dir = 'out') AS dsts,
                   {d.ordered_list("tx_id", ["ts", "tx_id"])} AS txs,
                   sum(amount) FILTER (WHERE dir = 'in') AS gathered,
                   sum(amount) FILTER (WHERE dir = 'out') AS scattered,
                   sum(amount) AS total, min(ts) AS first_ts, max(ts) AS last_ts
            FROM kept GROUP BY h, island
            HAVING count(DISTINCT cp) FILTER (WHERE dir = 'in') >= {lit(p.min_sources)}
               AND count(DISTINCT cp) FILTER (WHERE dir = 'out') >= {lit(p.min_destinations)}
               AND max(ts) <= min(ts) + INTERVAL {lit(p.window_days)} DAY
               AND sum(amount) FILTER (WHERE dir = 'out') <= {num(p.max_out_ratio)} * sum(amount) FILTER (WHERE dir = 'in')
        )
        SELECT h || '@' || strftime(first_ts, '%Y-%m-%d') AS key,
               (ns + nd) / ({lit(p.min_sources)} + {lit(p.min_destinations)})::DOUBLE AS score,
               first_ts, last_ts, total AS total_amount, txs AS tx_ids,
               list_concat(list_concat([{{'account_id': h, 'role': 'hub'}}],
                           list_transform(srcs, x -> {{'account_id': x, 'role': 'source'}})),
                           list_transform(dsts, x -> {{'account_id': x, 'role': 'destination'}})) AS accounts,
               {{'hub': h, 'sources': ns, 'destinations': nd, 'gathered': gathered,
                 'scattered': scattered, 'days': date_diff('day', first_ts, last_ts) + 1}} AS stats
        FROM g
        """

    def explain(self, row, p):
        s = row["stats"]
        return (f"{s['hub']} collected {money(s['gathered'])} from {s['sources']} accounts and paid "
                f"{money(s['scattered'])} out to {s['destinations']} others within {p.window_days} days "
                f"of receiving, between {day(row['first_ts'])} and {day(row['last_ts'])}; all of these "
                f"relationships were brief. Red flag: {self.red_flag} — {self.source}.")
