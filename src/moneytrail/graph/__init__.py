"""Stage 3, graph: accounts as nodes, transfers as timestamped edges.

Writes two tables every detector shares:

``edges(tx_id, src, dst, ts, amount, currency, amount_usd, fx_rate, fx_source_id, fx_source_row,
channel, location, src_pseudo, dst_pseudo, established, pair_tx, pair_span_days)``
    one row per movement of money: every stored transaction, except the receiving bank's record
    of a transfer already recorded by the paying bank (the credit leg of a ``transfer_matches``
    row: the two legs are one movement, the debit stands for it), accounts resolved through
    ``account_map``. ``amount`` is in
    the transaction's own ``currency``; ``amount_usd`` is the same in US dollars: the amount itself
    for USD, converted with the case's rate in force on the transfer's date (``fx_rate`` units
    per dollar, from ``fx_rates`` row ``fx_source_row`` of source ``fx_source_id``: see
    :mod:`moneytrail.ingest.rates`) for another currency, NULL where the case has no rate (a
    currency is never assumed; detection leaves such transfers out of any comparison with a
    threshold in dollars and says so). ``*_pseudo`` is
    true for accounts that stand for no real account (``cash``, ``name:...``,
    ``unidentified:...``): they never anchor a pattern. ``established`` is true when the pair
    (src, dst) transacts in at least ``established_min_months`` distinct calendar months over
    the whole ledger — a standing relationship (rent, bills, payroll), which fan detectors
    do not count as a new counterparty. ``pair_tx`` is the number of transfers between the
    pair over the whole ledger and ``pair_span_days`` the days from their first to their last:
    ``pair_tx = 1`` is a one-off relationship, a small span a short burst. ``src_account`` /
    ``dst_account`` are the resolved accounts; ``own_funds`` is true when both are held by one
    entity (:mod:`moneytrail.resolve`): money moved between a party's own accounts.

    ``level`` (stage parameter, ``--level`` on detect): ``account`` (default), the nodes are
    accounts; ``entity``, an account held by a resolved entity is that entity's node (``E...``),
    so transfers between one party's accounts become loops on one node (excluded from patterns
    as ``src = dst``) and a cycle through one entity's accounts closes at the entity.

``nodes(account_id, kind, pseudo, in_degree, out_degree, in_tx, out_tx, in_amount,
out_amount, first_ts, last_ts)``.
"""

from __future__ import annotations

from moneytrail.sqlkit import lit

NAME = "graph"
DEFAULT_ESTABLISHED_MIN_MONTHS = 3
NEEDS = ("transactions", "accounts", "account_map", "fx_rates", "transfer_matches", "account_entities")
MAKES = ("edges", "nodes")
PARAMS = {"established_min_months": DEFAULT_ESTABLISHED_MIN_MONTHS,   # what changes what it makes, defaults
          "level": "account"}
LEVELS = ("account", "entity")
MAX_MONTHS = 1200

PSEUDO = "({col} = 'cash' OR {col} LIKE 'name:%' OR {col} LIKE 'unidentified:%')"

EDGES_SQL = """
WITH fx AS ({periods}), r AS (
    SELECT t.*, coalesce(mo.account_id, t.orig_account) AS src_account,
           coalesce(mb.account_id, t.bene_account) AS dst_account
    FROM transactions t
    LEFT JOIN account_map mo ON mo.raw_account = t.orig_account
    LEFT JOIN account_map mb ON mb.raw_account = t.bene_account
    WHERE t.tx_id NOT IN (SELECT credit_tx FROM transfer_matches)
), e AS (
    SELECT t.tx_id, {src_node} AS src, {dst_node} AS dst, t.src_account, t.dst_account,
           ao.entity_id IS NOT NULL AND ao.entity_id = ab.entity_id AND t.src_account <> t.dst_account AS own_funds,
           t.ts, t.amount, t.currency,
           CASE WHEN t.currency = 'USD' THEN t.amount
                ELSE CAST(round(t.amount / fx.units_per_usd, 4) AS DECIMAL(18, 4)) END AS amount_usd,
           fx.units_per_usd AS fx_rate, fx.source_id AS fx_source_id, fx.source_row AS fx_source_row,
           t.channel, t.location
    FROM r t
    LEFT JOIN account_entities ao ON ao.account_id = t.src_account
    LEFT JOIN account_entities ab ON ab.account_id = t.dst_account
    LEFT JOIN fx ON t.currency <> 'USD' AND fx.currency = t.currency
                AND CAST(t.ts AS DATE) >= fx.valid_from
                AND (fx.valid_to IS NULL OR CAST(t.ts AS DATE) <= fx.valid_to)
), pairs AS (
    SELECT src, dst, count(DISTINCT date_trunc('month', ts)) AS months, count(*) AS n,
           date_diff('day', min(ts), max(ts)) AS span_days
    FROM e GROUP BY src, dst
)
SELECT e.tx_id, e.src, e.dst, e.ts, e.amount, e.currency, e.amount_usd, e.fx_rate, e.fx_source_id,
       e.fx_source_row, e.channel, e.location, e.src_account, e.dst_account, e.own_funds,
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


def params_at(ws, level: str) -> dict:
    """Pipeline parameters building the graph at ``level`` (account | entity), keeping the other
    parameters it was last built with (``{"graph": {...}}`` for :func:`moneytrail.freshness.ensure`)."""
    from moneytrail.errors import ConfigError
    from moneytrail.freshness import records

    if level not in LEVELS:
        raise ConfigError(f"--level {str(level)[:40]!r}: account or entity")
    last = records(ws).get("edges", {}).get("params") or {}
    return {"graph": {**PARAMS, **last, "level": level}}


def run(ctx) -> dict:
    be = ctx.backend
    est = ctx.params.get("established_min_months", DEFAULT_ESTABLISHED_MIN_MONTHS)
    if isinstance(est, bool) or not isinstance(est, int) or not 1 <= est <= MAX_MONTHS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"graph: established_min_months {str(est)[:40]!r}: a whole number of months from 1 "
                          f"to {MAX_MONTHS}")
    from moneytrail.ingest.rates import PERIODS_SQL

    level = ctx.params.get("level", "account")
    if level not in LEVELS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"graph: level {str(level)[:40]!r}: account or entity")
    # at entity level an account held by a resolved entity is that entity's node (a pseudo-account
    # or an account no entity holds stays itself)
    node = ("coalesce(a{x}.entity_id, t.{side}_account)" if level == "entity" else "t.{side}_account")
    n_edges = be.materialize("edges", EDGES_SQL.format(
        periods=PERIODS_SQL, src_node=node.format(x="o", side="src"), dst_node=node.format(x="b", side="dst"),
        src_pseudo=PSEUDO.format(col="e.src"), dst_pseudo=PSEUDO.format(col="e.dst"), established=lit(est)))
    n_nodes = be.materialize("nodes", NODES_SQL.format(pseudo=PSEUDO.format(col="io.account_id")))
    n_est = be.scalar("SELECT count(*) FROM edges WHERE established")
    cur = be.rows("SELECT currency, count(*) AS n, count(amount_usd) AS n_usd FROM edges "
                  "GROUP BY currency ORDER BY currency")
    out = {"edges": n_edges, "nodes": n_nodes, "established_edges": n_est, "established_min_months": est,
           "level": level, "own_funds_edges": be.scalar("SELECT count(*) FROM edges WHERE own_funds"),
           "currencies": {r["currency"]: r["n"] for r in cur}}
    no_rate = {r["currency"]: r["n"] - r["n_usd"] for r in cur if r["n"] > r["n_usd"]}
    if no_rate:
        out["without_usd_rate"] = no_rate
    return out
