"""Stage 5, trace: balance reconstruction, the ordered pass every tracing rule builds on.

Writes ``balances(account_id, tx_id, ts, seq, direction, amount, net_after)``: for every real
(non-pseudo) account, each of its transactions in the documented order — timestamp, then
tx_id (source, then row in the source) — with the running net flow after it (inflows minus
outflows since the first transaction seen; add an opening balance to get the balance).
Where a statement gives ``balance_after``, ``statement_balance`` carries it so breaks can be
checked.

Tracing rules (LIBR, FIFO, pro rata, ...) follow funds through these ordered events.
"""

from __future__ import annotations

NAME = "trace"

BALANCES_SQL = """
WITH ev AS (
    SELECT e.src AS account_id, e.tx_id, e.ts, 'out' AS direction, -e.amount AS delta
    FROM edges e WHERE NOT e.src_pseudo
    UNION ALL
    SELECT e.dst, e.tx_id, e.ts, 'in', e.amount FROM edges e WHERE NOT e.dst_pseudo
)
SELECT ev.account_id, ev.tx_id, ev.ts,
       row_number() OVER (PARTITION BY ev.account_id ORDER BY ev.ts, ev.tx_id) AS seq,
       ev.direction, abs(ev.delta) AS amount,
       sum(ev.delta) OVER (PARTITION BY ev.account_id ORDER BY ev.ts, ev.tx_id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS net_after,
       CASE WHEN t.statement_account = ev.account_id THEN t.balance_after END AS statement_balance
FROM ev JOIN transactions t USING (tx_id)
"""


def run(ctx) -> dict:
    if not ctx.ws.table_exists("edges"):
        from moneytrail import graph
        graph.run(ctx)
    n = ctx.backend.materialize("balances", BALANCES_SQL)
    accounts = ctx.backend.scalar("SELECT count(DISTINCT account_id) FROM balances")
    return {"balance_events": n, "accounts": accounts}
