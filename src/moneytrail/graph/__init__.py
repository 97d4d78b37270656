"""Stage 3, graph: accounts as nodes, transfers as timestamped edges.

Writes two tables every detector shares:

``edges(tx_id, src, dst, ts, amount, channel, location, src_pseudo, dst_pseudo, established,
pair_tx, pair_span_days)``
    one row per stored transaction, accounts resolved through ``account_map``. ``*_pseudo`` is
    true for accounts that stand for no real account (``cash``, ``name:...``,
    ``unidentified:...``): they never anchor a pattern. ``established`` is true when the pair
    (src, dst) transacts in at least ``established_min_months`` distinct calendar months over
    the whole ledger — a standing relationship (rent, bills, payroll), which fan detectors
    do not count as a new counterparty. ``pair_tx`` is the number of transfers between the
    pair over the whole ledger and ``pair_span_days`` the days from their first to their last:
    ``pair_tx = 1`` is a one-off relationship, a small span a short burst.

``nodes(account_id, kind, pseudo, in_degree, out_degree, in_tx, out_tx, in_amount,
out_amount, first_ts, last_ts)``.
"""

from __future__ import annotations

from moneytrail.sqlkit import lit

NAME = "graph"
DEFAULT_ESTABLISHED_MIN_MONTHS = 3
NEEDS = ("transactions", "accounts", "account_map")
MAKES = ("edges", "nodes")
PARAMS = {"established_min_months": DEFAULT_ESTABLISHED_MIN_MONTHS}   # what changes what it makes, defaults
MAX_MONTHS = 1200

PSEUDO = "({col} = 'cash' OR {col} LIKE 'name:%' OR {col} LIKE 'unidentified:%')"

EDGES_SQL = """
WITH e AS (
    SELECT t.tx_id, coalesce(mo.account_id, t.orig_account) AS src,
           coalesce(mb.account_id, t.bene_account) AS dst, t.ts, t.amount, t.channel, t.location
    FROM transactions t
    LEFT JOIN account_map mo ON mo.raw_account = t.orig_account
    LEFT JOIN account_map mb ON mb.raw_account = t.bene_account
), pairs AS (
    SELECT src, dst, count(DISTINCT date_trunc('month', ts)) AS months, count(*) AS n,
           date_diff('day', min(ts), max(ts)) AS span_days
    FROM e GROUP BY src, dst
)
SELECT e.tx_id, e.src, e.dst, e.ts, e.amount, e.channel, e.location,
       {src_pseudo} AS src_pseudo, {dst_pseudo} AS dst_pseudo,
       p.months >= {established} AS established,
       p.n AS pair_tx, p.span_days AS pair_span_days
FROM e JOIN pairs p USING (src, dst)
ORDER BY e.ts, e.tx_id
"""

NODES_SQL = """
WITH io AS (
    SELECT src AS account_id, 0 AS in_tx, 1 AS out_tx, NULL AS cp_in, dst AS cp_out,
           0 AS in_amount, amount AS out_amount, ts FROM edges
    UNION ALL
    SELECT dst, 1, 0, src, NULL, amount, 0, ts FROM edges
)
SELECT io.account_id, a.kind, {pseudo} AS pseudo,
       count(DISTINCT cp_in) AS in_degree, count(DISTINCT cp_out) AS out_degree,
       sum(in_tx) AS in_tx, sum(out_tx) AS out_tx,
       sum(in_amount) AS in_amount, sum(out_amount) AS out_amount,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM io LEFT JOIN accounts a USING (account_id)
GROUP BY io.account_id, a.kind
"""


def run(ctx) -> dict:
    be = ctx.backend
    est = ctx.params.get("established_min_months", DEFAULT_ESTABLISHED_MIN_MONTHS)
    if isinstance(est, bool) or not isinstance(est, int) or not 1 <= est <= MAX_MONTHS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"graph: established_min_months {str(est)[:40]!r}: a whole number of months from 1 "
                          f"to {MAX_MONTHS}")
    n_edges = be.materialize("edges", EDGES_SQL.format(
        src_pseudo=PSEUDO.format(col="e.src"), dst_pseudo=PSEUDO.format(col="e.dst"), established=lit(est)))
    n_nodes = be.materialize("nodes", NODES_SQL.format(pseudo=PSEUDO.format(col="io.account_id")))
    n_est = be.scalar("SELECT count(*) FROM edges WHERE established")
    return {"edges": n_edges, "nodes": n_nodes, "established_edges": n_est,
            "established_min_months": est}
