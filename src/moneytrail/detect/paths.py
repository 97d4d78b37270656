"""Bounded path expansion, one SQL step per hop, for cycle search on any backend.

``find_loops`` grows paths hop by hop from every eligible edge and keeps those that close
back on their start. Each step is one ``materialize`` of a query over the previous step's
table, so the work is the same on DuckDB or Spark and memory stays bounded by the frontier:

* a path never revisits an account and stays inside ``window_days``; an unordered loop is
  grown only from its smallest account (found once per rotation), an ordered one from its
  earliest transfer;
* ``ordered`` mode (value flowing round): each hop is at or after the previous one in the
  documented order (timestamp, then tx_id) and passes on ``min_ratio``..``max_ratio`` of the
  previous hop's amount;
* unordered mode (a loop of transient relationships): all hops within ``window_days`` of each
  other, in any order;
* accounts whose candidate degree exceeds ``max_degree`` are not expanded through (hubs are
  bounded), and before each step its size is counted (the same join, without building the paths):
  when it exceeds ``max_paths`` the search stops at the length
  reached and reports it (``truncated``, ``stopped_before_length``), never silently. Memory is
  bounded by ``max_paths`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.detect.base import num
from moneytrail.sqlkit import lit

MAX_LOOP_LENGTH = 20      # accounts in a loop: one SQL step per hop


@dataclass
class LoopSearch:
    """One search. ``edges_sql`` and ``prefix`` are the caller's own SQL and table-name prefix;
    the numbers are checked typology parameters (formatted with :mod:`moneytrail.sqlkit`)."""

    edges_sql: str            # SELECT tx_id, src, dst, ts, amount FROM ... (the candidate edges)
    min_length: int
    max_length: int
    window_days: int
    ordered: bool
    min_ratio: float = 0.0
    max_ratio: float | None = None     # None: no upper bound on a hop's share of the previous one
    min_first_amount: float = 0.0
    max_degree: int = 200
    max_paths: int = 2_000_000
    prefix: str = "_loop"


def find_loops(backend, s: LoopSearch) -> tuple[str, dict]:
    """Materialize ``{prefix}_found(len, seq, txs, amounts, t0, t1)``; return its name and stats."""
    e = f"{s.prefix}_e"
    backend.materialize(e, f"""
        WITH c AS ({s.edges_sql}),
        deg AS (SELECT a, count(DISTINCT b) AS d FROM (SELECT src AS a, dst AS b FROM c
                                                      UNION ALL SELECT dst, src FROM c) GROUP BY a)
        SELECT c.* FROM c JOIN deg ds ON ds.a = c.src JOIN deg dd ON dd.a = c.dst
        WHERE c.src <> c.dst AND ds.d <= {lit(s.max_degree)} AND dd.d <= {lit(s.max_degree)}
    """, temp=True)
    if not 2 <= s.max_length <= MAX_LOOP_LENGTH:
        raise ValueError(f"loop length {s.max_length} outside 2..{MAX_LOOP_LENGTH}")
    w = lit(s.window_days)
    # Length-1 paths. Unordered loops start at their smallest account (found once per rotation);
    # ordered loops start at their earliest transfer (only that rotation is in time order).
    canon = "dst > src AND " if not s.ordered else ""
    backend.materialize(f"{s.prefix}_p1", f"""
        SELECT src AS start, dst AS last, [src, dst] AS seq, [tx_id] AS txs, [amount] AS amounts,
               ts AS t0, ts AS tmin, ts AS tmax, ts AS tlast, tx_id AS idlast, amount AS alast
        FROM {e} WHERE {canon}amount >= {num(s.min_first_amount)}
    """, temp=True)
    grow = "n.dst > p.start AND " if not s.ordered else ""
    found_parts, stats, truncated = [], {}, False
    for k in range(2, s.max_length + 1):
        prev, cur = f"{s.prefix}_p{k - 1}", f"{s.prefix}_p{k}"
        if s.ordered:
            # the previous hop's amount widened before the product: an amount near the cap
            # (10**12) times a ratio does not fit DECIMAL(18, 4)
            prev_amt = "CAST(p.alast AS DECIMAL(38, 4))"
            order = (f"(n.ts > p.tlast OR (n.ts = p.tlast AND n.tx_id > p.idlast)) "
                     f"AND n.ts <= p.t0 + INTERVAL {w} DAY "
                     f"AND n.amount >= {prev_amt} * {num(s.min_ratio)}")
            if s.max_ratio is not None:
                order += f" AND n.amount <= {prev_amt} * {num(s.max_ratio)}"
        else:
            order = (f"greatest(p.tmax, n.ts) <= least(p.tmin, n.ts) + INTERVAL {w} DAY "
                     f"AND NOT list_contains(p.txs, n.tx_id)")
        step = f"""
            SELECT p.start, n.dst AS last, list_append(p.seq, n.dst) AS seq,
                   list_append(p.txs, n.tx_id) AS txs, list_append(p.amounts, n.amount) AS amounts,
                   p.t0, least(p.tmin, n.ts) AS tmin, greatest(p.tmax, n.ts) AS tmax,
                   n.ts AS tlast, n.tx_id AS idlast, n.amount AS alast
            FROM {prev} p JOIN {e} n ON n.src = p.last
            WHERE {order} AND (n.dst = p.start OR ({grow}NOT list_contains(p.seq, n.dst)))
        """
        # Count the step before building it: if it would exceed the cap, stop at the length
        # reached and say so (memory stays bounded by max_paths rows).
        size = backend.scalar(f"SELECT count(*) FROM {prev} p JOIN {e} n ON n.src = p.last "
                              f"WHERE {order} AND (n.dst = p.start OR ({grow}NOT list_contains(p.seq, n.dst)))")
        if size > s.max_paths:
            truncated = True
            stats["stopped_before_length"] = k
            stats["bound"] = int(size)
            break
        n = backend.materialize(f"{cur}_all", step, temp=True)
        backend.materialize(f"{s.prefix}_f{k}", f"""
            SELECT {lit(k)} AS len, {backend.sql_dialect.list_slice("seq", "1", lit(k))} AS seq, txs, amounts,
                   tmin AS t0, tmax AS t1
            FROM {cur}_all WHERE last = start""", temp=True)
        if k >= s.min_length:
            found_parts.append(f"SELECT * FROM {s.prefix}_f{k}")
        open_n = backend.materialize(cur, f"SELECT * FROM {cur}_all WHERE last <> start", temp=True)
        stats[f"paths_{k}"] = n
        if open_n == 0:
            break
    found = f"{s.prefix}_found"
    if found_parts:
        backend.materialize(found, " UNION ALL ".join(found_parts), temp=True)
    else:
        backend.materialize(found, "SELECT 0 AS len, ['x'] AS seq, [0::BIGINT] AS txs, [0::DECIMAL(18,4)] AS amounts, "
                                   "NULL::TIMESTAMP AS t0, NULL::TIMESTAMP AS t1 WHERE false", temp=True)
    stats["truncated"] = truncated
    return found, stats
