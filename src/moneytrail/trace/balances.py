"""Balance reconstruction and statement reconciliation (the trace stage's tables).

Order. An account's events are ordered by ``(ts, tx_id)``: timestamp, then transaction id,
which is ``source_id * 10^10 + source_row`` — the source file in ingest order, then the row
in the file. The order is total and stable across re-ingest (``--force`` keeps ids). Two
events at one timestamp from one statement therefore keep the statement's row order; from
two sources, the earlier-ingested source's events come first. Where a statement lists its
rows newest first, its own reconciliation (below) follows the statement's order, but the
ledger order stays ``(ts, tx_id)``.

Opening balances, in order of precedence (``balance_openings.basis``):

``given``        an explicit value (``--opening ACCT=AMOUNT``, stage parameter ``openings``)
``statement``    a statement gives ``balance_after`` for a row of the account: the opening is
                 that balance minus the account's net movements up to and including that row
                 (the first such row in ledger order)
                 — or, for statements in a bank's own format (``statements`` table: camt, MT940,
                 BAI2, OFX), the opening booked balance of the account's earliest statement with
                 entries, less the movements before its first entry
``account``      the account record carries one (``accounts.attributes``: ``opening_balance``,
                 ``initial_balance``, ``initial_deposit`` (AMLSim) or ``opening``)
``assumed-zero`` none of these: 0, stated as an assumption in every output

Tables written (derived; rebuilt by the stage):

``balances(account_id, tx_id, ts, seq, direction, amount, net_after, statement_balance,
opening, balance_after)``
    every real (non-pseudo) account's events in order, the running net flow and the balance
    (``opening + net_after``); ``statement_balance`` where the account's own statement gave one.
``balance_openings(account_id, opening, basis, detail)``
``balance_breaks(account_id, kind, source_id, tx_id, ts, expected, stated, difference, detail)``
    (for statements in a bank's own format, ``break``, ``seam`` and ``gap`` are also checked on the
    balances the statement itself states: opening + its stored entries = closing; one statement's
    closing = the next one's opening; the days between one's closing and the next one's opening)
    ``kind`` is one of
    ``break``     inside one statement: the stated balance differs from the previous stated
                  balance plus the movements between them (opening + movements != closing)
    ``seam``      between two consecutive statements of one account: the later one opens at a
                  different balance than the earlier one closed at (movements missing between)
    ``gap``       more than ``max_gap_days`` (default 31) between the last row of one
                  statement and the first row of the next: a period no statement covers
    ``overlap``   two statements of one account cover overlapping dates
    ``ledger``    the balance reconstructed from every source differs from the statement's
                  stated balance (first row of each run of equal differences): transactions
                  missing from, or counted twice in, the ledger
    ``negative``  the reconstructed balance of an account with a known opening balance goes
                  below zero (first row of each episode): an overdraft, or money the ledger
                  does not show. (With an assumed-zero opening a negative balance only says the
                  opening is unknown; the stage counts those accounts, ``negative_unknown_opening``,
                  and the tracer treats the shortfall as unrecorded clean money.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from moneytrail.limits import MAX_AMOUNT, MONEY_ATTRIBUTES
from moneytrail.sqlkit import lit

DEFAULT_MAX_GAP_DAYS = 31
MAX_GAP_DAYS = 3660
# the account attributes read as an opening balance: the ones ingest checks as money (limits)
ATTRIBUTE_KEYS = MONEY_ATTRIBUTES

EVENTS_SQL = """
    SELECT e.src AS account_id, e.tx_id, e.ts, 'out' AS direction, -e.amount AS delta
    FROM edges e WHERE NOT e.src_pseudo
    UNION ALL
    SELECT e.dst, e.tx_id, e.ts, 'in', e.amount FROM edges e WHERE NOT e.dst_pseudo
"""

# the opening balance of every real account that has a basis other than "assumed zero". A
# transfer seen at two banks is one movement in the graph, kept under the paying bank's record
# (resolve: transfer_matches); the receiving account's own statement booked it later, as its
# credit row: for this account, "what moved before the statement's first entry" places the money
# at that credit row (its time and row), not at the payer's booking
OPENINGS_SQL = """
WITH ev0 AS ({events}),
ev AS (
    SELECT ev0.account_id, coalesce(c.tx_id, ev0.tx_id) AS tx_id, coalesce(c.ts, ev0.ts) AS ts, ev0.delta
    FROM ev0 LEFT JOIN transfer_matches m ON ev0.direction = 'in' AND m.debit_tx = ev0.tx_id
             LEFT JOIN transactions c ON c.tx_id = m.credit_tx
),
st AS (
    SELECT coalesce(m.account_id, t.statement_account) AS account_id, t.tx_id, t.ts,
           t.balance_after
    FROM transactions t LEFT JOIN account_map m ON m.raw_account = t.statement_account
    WHERE t.balance_after IS NOT NULL AND t.statement_account IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY coalesce(m.account_id, t.statement_account)
                               ORDER BY t.ts, t.tx_id) = 1
),
stmt AS (
    SELECT st.account_id, st.balance_after - sum(ev.delta) AS opening,
           'balance ' || CAST(st.balance_after AS VARCHAR) || ' after tx ' || CAST(st.tx_id AS VARCHAR)
               || ' less ' || CAST(sum(ev.delta) AS VARCHAR) || ' of movements up to it' AS detail
    FROM st JOIN ev ON ev.account_id = st.account_id
                   AND (ev.ts < st.ts OR (ev.ts = st.ts AND ev.tx_id <= st.tx_id))
    GROUP BY st.account_id, st.balance_after, st.tx_id
),
attr AS (
    SELECT a.account_id,
           TRY_CAST(coalesce({attr_values}) AS DECIMAL(18, 4)) AS opening,
           'accounts.attributes.' || coalesce({attr_names}) AS detail
    FROM accounts a
    WHERE a.attributes IS NOT NULL
),
-- a bank statement's opening booked balance (camt OPBD, MT940 :60F:, BAI2 010, ...): the
-- account's earliest statement with stored entries opens at it, less what moved before its first entry
sf AS (
    SELECT coalesce(m.account_id, s.account_id) AS account_id, s.source_id, s.statement_no,
           s.opening_booked, s.opening_booked_date,
           (SELECT min(t.tx_id) FROM transactions t
            WHERE t.source_id = s.source_id AND t.source_row BETWEEN s.first_row AND s.last_row) AS first_tx
    FROM statements s LEFT JOIN account_map m ON m.raw_account = s.account_id
    WHERE s.opening_booked IS NOT NULL AND s.account_id IS NOT NULL AND s.entries_stored > 0
),
sfirst AS (
    SELECT sf.*, t.ts AS first_ts FROM sf JOIN transactions t ON t.tx_id = sf.first_tx
    QUALIFY row_number() OVER (PARTITION BY sf.account_id ORDER BY t.ts, sf.first_tx) = 1
),
stmt_open AS (
    SELECT f.account_id, f.opening_booked - coalesce(sum(ev.delta), 0) AS opening,
           'opening booked balance ' || CAST(f.opening_booked AS VARCHAR) || ' of statement '
               || CAST(f.statement_no AS VARCHAR) || ' of source ' || CAST(f.source_id AS VARCHAR)
               || coalesce(' (' || CAST(f.opening_booked_date AS VARCHAR) || ')', '')
               || ' less ' || CAST(coalesce(sum(ev.delta), 0) AS VARCHAR) || ' of movements before its first entry'
               AS detail
    FROM sfirst f LEFT JOIN ev ON ev.account_id = f.account_id
                              AND (ev.ts < f.first_ts OR (ev.ts = f.first_ts AND ev.tx_id < f.first_tx))
    GROUP BY f.account_id, f.opening_booked, f.statement_no, f.source_id, f.opening_booked_date
)
SELECT account_id, opening, 'statement' AS basis, detail FROM stmt
UNION ALL
SELECT account_id, opening, 'statement', detail FROM stmt_open
WHERE account_id NOT IN (SELECT account_id FROM stmt)
UNION ALL
SELECT account_id, opening, 'account', detail FROM attr
WHERE opening IS NOT NULL AND account_id NOT IN (SELECT account_id FROM stmt)
  AND account_id NOT IN (SELECT account_id FROM stmt_open)
"""


def _openings_sql() -> str:
    vals = ", ".join(f"json_extract_string(a.attributes, {lit('$.' + k)})" for k in ATTRIBUTE_KEYS)
    names = ", ".join(f"CASE WHEN json_extract_string(a.attributes, {lit('$.' + k)}) IS NOT NULL THEN {lit(k)} END"
                      for k in ATTRIBUTE_KEYS)
    return OPENINGS_SQL.format(events=EVENTS_SQL, attr_values=vals, attr_names=names)


def _shown(v) -> str:
    r = repr(str(v))
    return r if len(r) <= 80 else r[:79] + "…"


def parse_openings(items: list[str] | dict | None) -> dict[str, Decimal]:
    """``["ACCT=1000.50", ...]`` (CLI) or ``{acct: amount}`` -> ``{acct: Decimal}``."""
    from decimal import InvalidOperation

    from moneytrail.errors import ConfigError
    if not items:
        return {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for it in items:
            if "=" not in it:
                raise ConfigError(f"--opening {_shown(it)}: expected ACCOUNT=AMOUNT, e.g. CHK-1=2500.00")
            k, v = it.rsplit("=", 1)
            pairs.append((k.strip(), v.strip()))
    out = {}
    for k, v in pairs:
        what = f"--opening {_shown(f'{k}={v}')}"
        try:
            d = Decimal(str(v)) if len(str(v)) <= 64 else Decimal("NaN")
        except InvalidOperation:
            raise ConfigError(f"{what}: {_shown(v)} is not a number") from None
        if not d.is_finite() or d < 0 or d >= MAX_AMOUNT:
            raise ConfigError(f"{what}: an opening balance must be a number from 0 to below {MAX_AMOUNT:,}")
        if d != d.quantize(Decimal("0.0001")):
            raise ConfigError(f"{what}: at most 4 decimals")
        out[k] = d
    return out


def opening_balances(ws, given: dict[str, Decimal] | None = None) -> dict[str, tuple[Decimal, str, str]]:
    """``{account_id: (opening, basis, detail)}`` for every account with a known opening balance
    (accounts missing from the result open at zero, basis ``assumed-zero``). Needs ``edges``."""
    out: dict[str, tuple[Decimal, str, str]] = {}
    if ws.table_exists("account_map"):
        for acct, opening, basis, detail in ws.query(_openings_sql()):
            out[acct] = (Decimal(opening), basis, detail)
    for acct, v in (given or {}).items():
        out[acct] = (Decimal(v), "given", "given on the command line")
    return out


def _write_openings(ctx, given: dict[str, Decimal]) -> None:
    be = ctx.backend
    be.materialize("balance_openings", _openings_sql())
    # explicit values win: replace or add them
    for acct, v in given.items():
        be.run("DELETE FROM balance_openings WHERE account_id = ?", [acct])
        be.run("INSERT INTO balance_openings VALUES (?, ?, 'given', 'given as a parameter')", [acct, v])


BALANCES_SQL = """
WITH ev AS ({events})
SELECT ev.account_id, ev.tx_id, ev.ts,
       row_number() OVER (PARTITION BY ev.account_id ORDER BY ev.ts, ev.tx_id) AS seq,
       ev.direction, abs(ev.delta) AS amount,
       sum(ev.delta) OVER (PARTITION BY ev.account_id ORDER BY ev.ts, ev.tx_id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS net_after,
       CASE WHEN coalesce(m.account_id, t.statement_account) = ev.account_id
            THEN t.balance_after END AS statement_balance,
       coalesce(o.opening, 0) AS opening,
       coalesce(o.opening, 0) + sum(ev.delta) OVER (PARTITION BY ev.account_id ORDER BY ev.ts, ev.tx_id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS balance_after
FROM ev JOIN transactions t USING (tx_id)
LEFT JOIN account_map m ON m.raw_account = t.statement_account
LEFT JOIN balance_openings o ON o.account_id = ev.account_id
"""

# statement rows of one account in one source, in the statement's own order (newest-first
# statements are read backwards), with the running movement cd since the statement's start
_STATEMENT_ROWS = """
WITH s AS (
    SELECT t.source_id, coalesce(m.account_id, t.statement_account) AS account_id, t.tx_id,
           t.source_row, t.ts, t.balance_after AS stated,
           CASE WHEN t.bene_account = t.statement_account THEN t.amount ELSE -t.amount END AS delta
    FROM transactions t
    JOIN (SELECT DISTINCT source_id, statement_account FROM transactions
          WHERE balance_after IS NOT NULL AND statement_account IS NOT NULL) w
         ON w.source_id = t.source_id AND w.statement_account = t.statement_account
    LEFT JOIN account_map m ON m.raw_account = t.statement_account
), dir AS (
    SELECT source_id, account_id,
           CASE WHEN arg_min(ts, source_row) > arg_max(ts, source_row) THEN -1 ELSE 1 END AS d
    FROM s GROUP BY source_id, account_id
)
SELECT s.*, sum(s.delta) OVER (PARTITION BY s.source_id, s.account_id
                               ORDER BY s.ts, s.source_row * dir.d
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cd,
       row_number() OVER (PARTITION BY s.source_id, s.account_id
                          ORDER BY s.ts, s.source_row * dir.d) AS k
FROM s JOIN dir USING (source_id, account_id)
"""

BREAKS_SQL = """
WITH r AS ({rows}),
st AS (   -- stated rows: the statement's implied opening (stated - cd) must stay constant
    SELECT r.*, r.stated - r.cd AS implied,
           lag(r.stated - r.cd) OVER (PARTITION BY source_id, account_id ORDER BY k) AS prev_implied
    FROM r WHERE r.stated IS NOT NULL
),
periods AS (
    SELECT source_id, account_id, min(ts) AS first_ts, max(ts) AS last_ts,
           arg_min(implied, k) AS opening, arg_max(stated, k) AS closing
    FROM st GROUP BY source_id, account_id
),
seq AS (
    SELECT p.*, lag(source_id) OVER w AS prev_source, lag(last_ts) OVER w AS prev_last,
           lag(closing) OVER w AS prev_closing
    FROM periods p WINDOW w AS (PARTITION BY account_id ORDER BY first_ts, source_id)
),
bal AS (
    SELECT account_id, tx_id, ts, balance_after, statement_balance,
           balance_after - statement_balance AS diff,
           lag(balance_after - statement_balance) OVER (PARTITION BY account_id ORDER BY ts, tx_id) AS prev_diff
    FROM balances WHERE statement_balance IS NOT NULL
),
neg AS (   -- only where the opening balance is known: with an assumed zero it says nothing
    SELECT account_id, tx_id, ts, balance_after,
           lag(balance_after) OVER (PARTITION BY account_id ORDER BY ts, tx_id) AS prev_bal
    FROM balances WHERE account_id IN (SELECT account_id FROM balance_openings)
)
SELECT account_id, 'break' AS kind, source_id, tx_id, ts,
       prev_implied + cd AS expected, stated, implied - prev_implied AS difference,
       'statement balance differs from the previous balance plus the movements since it' AS detail
FROM st WHERE prev_implied IS NOT NULL AND implied <> prev_implied
UNION ALL
SELECT account_id, 'seam', source_id, NULL, first_ts, prev_closing, opening, opening - prev_closing,
       'statement of source ' || CAST(source_id AS VARCHAR) || ' opens at ' || CAST(opening AS VARCHAR)
       || ' but the previous statement (source ' || CAST(prev_source AS VARCHAR) || ') closed at '
       || CAST(prev_closing AS VARCHAR) || ': movements missing between them'
FROM seq WHERE prev_source IS NOT NULL AND opening <> prev_closing AND first_ts >= prev_last
UNION ALL
SELECT account_id, 'gap', source_id, NULL, first_ts, NULL, NULL, NULL,
       CAST(date_diff('day', prev_last, first_ts) AS VARCHAR) || ' days between the last row of source '
       || CAST(prev_source AS VARCHAR) || ' and the first row of source ' || CAST(source_id AS VARCHAR)
       || ' (no statement covers them)'
FROM seq WHERE prev_source IS NOT NULL AND date_diff('day', prev_last, first_ts) > {max_gap_days}
UNION ALL
SELECT account_id, 'overlap', source_id, NULL, first_ts, NULL, NULL, NULL,
       'statement of source ' || CAST(source_id AS VARCHAR) || ' starts before the statement of source '
       || CAST(prev_source AS VARCHAR) || ' ends'
FROM seq WHERE prev_source IS NOT NULL AND first_ts < prev_last
UNION ALL
SELECT account_id, 'ledger', NULL, tx_id, ts, balance_after, statement_balance, -diff,
       'reconstructed balance differs from the statement: transactions missing from, or counted twice in, the ledger'
FROM bal WHERE diff <> 0 AND (prev_diff IS NULL OR prev_diff <> diff)
UNION ALL
SELECT account_id, 'negative', NULL, tx_id, ts, NULL, NULL, balance_after,
       'reconstructed balance below zero: an overdraft, or money the ledger does not show'
FROM neg WHERE balance_after < 0 AND (prev_bal IS NULL OR prev_bal >= 0)
UNION ALL
SELECT account_id, 'break', source_id, NULL, ts, expected, closing_booked, closing_booked - expected,
       'statement ' || CAST(statement_no AS VARCHAR) || ' (' || kind || coalesce(' ' || statement_ref, '')
       || ') opens at ' || CAST(opening_booked AS VARCHAR) || ' and closes at ' || CAST(closing_booked AS VARCHAR)
       || ', but its entries move ' || CAST(moved AS VARCHAR)
       || CASE WHEN entries_read > entries_stored
               THEN ' (' || CAST(entries_read - entries_stored AS VARCHAR) || ' of its entries are quarantined)'
               ELSE '' END
FROM ({statement_checks}) sc WHERE expected <> closing_booked
UNION ALL
SELECT account_id, 'seam', source_id, NULL, ts, prev_closing, opening_booked, opening_booked - prev_closing,
       'statement ' || CAST(statement_no AS VARCHAR) || ' of source ' || CAST(source_id AS VARCHAR) || ' opens at '
       || CAST(opening_booked AS VARCHAR) || ' but the previous statement (' || CAST(prev_no AS VARCHAR)
       || ' of source ' || CAST(prev_source AS VARCHAR) || ') closed at ' || CAST(prev_closing AS VARCHAR)
       || ': movements missing between them'
FROM ({statement_checks}) sc WHERE prev_closing IS NOT NULL AND opening_booked <> prev_closing
UNION ALL
SELECT account_id, 'gap', source_id, NULL, ts, NULL, NULL, NULL,
       CAST(date_diff('day', prev_closing_date, opening_booked_date) AS VARCHAR)
       || ' days between the previous statement''s closing (' || CAST(prev_closing_date AS VARCHAR)
       || ') and statement ' || CAST(statement_no AS VARCHAR) || ' of source ' || CAST(source_id AS VARCHAR)
       || ' opening (' || CAST(opening_booked_date AS VARCHAR) || '): no statement covers them'
FROM ({statement_checks}) sc
WHERE date_diff('day', prev_closing_date, opening_booked_date) > {max_gap_days}
"""

# a bank statement's own balances (statements table): opening + its stored entries must reach
# its closing; consecutive statements of one account must meet (closing = next opening) without
# a gap in dates. Money moved is counted from the holder's side (credits in, debits out).
STATEMENT_CHECKS = """
WITH st AS (
    SELECT coalesce(m.account_id, s.account_id) AS account_id, s.*
    FROM statements s LEFT JOIN account_map m ON m.raw_account = s.account_id
    WHERE s.account_id IS NOT NULL
),
mv AS (
    SELECT st.source_id, st.statement_no,
           coalesce(sum(CASE WHEN t.bene_account = t.statement_account THEN t.amount ELSE -t.amount END), 0) AS moved
    FROM st LEFT JOIN transactions t ON t.source_id = st.source_id AND t.source_row BETWEEN st.first_row AND st.last_row
    GROUP BY st.source_id, st.statement_no
)
SELECT st.account_id, st.source_id, st.statement_no, st.kind, st.statement_ref, st.entries_read, st.entries_stored,
       st.opening_booked, st.closing_booked, st.opening_booked_date,
       coalesce(st.closing_booked_date, st.period_to, st.opening_booked_date)::TIMESTAMP AS ts,
       mv.moved, st.opening_booked + mv.moved AS expected,
       lag(st.closing_booked) OVER w AS prev_closing, lag(st.closing_booked_date) OVER w AS prev_closing_date,
       lag(st.statement_no) OVER w AS prev_no, lag(st.source_id) OVER w AS prev_source
FROM st JOIN mv USING (source_id, statement_no)
WHERE st.opening_booked IS NOT NULL AND st.closing_booked IS NOT NULL
WINDOW w AS (PARTITION BY st.account_id
             ORDER BY coalesce(st.opening_booked_date, st.period_from, st.closing_booked_date), st.source_id, st.statement_no)
"""


def build(ctx) -> dict[str, Any]:
    """Write balance_openings, balances and balance_breaks; return counts for the run log."""
    given = parse_openings(ctx.params.get("openings"))
    gap = ctx.params.get("max_gap_days", DEFAULT_MAX_GAP_DAYS)
    if isinstance(gap, bool) or not isinstance(gap, int) or not 0 <= gap <= MAX_GAP_DAYS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"trace: max_gap_days {str(gap)[:40]!r}: a whole number of days from 0 to {MAX_GAP_DAYS}")
    _write_openings(ctx, given)
    be = ctx.backend
    n = be.materialize("balances", BALANCES_SQL.format(events=EVENTS_SQL))
    be.materialize("balance_breaks", BREAKS_SQL.format(rows=_STATEMENT_ROWS, max_gap_days=lit(gap),
                                                       statement_checks=STATEMENT_CHECKS))
    kinds = {r["kind"]: r["n"] for r in be.rows(
        "SELECT kind, count(*) AS n FROM balance_breaks GROUP BY kind ORDER BY kind")}
    openings = {r["basis"]: r["n"] for r in be.rows(
        "SELECT basis, count(*) AS n FROM balance_openings GROUP BY basis ORDER BY basis")}
    accounts = be.scalar("SELECT count(DISTINCT account_id) FROM balances")
    neg_unknown = be.scalar(
        "SELECT count(DISTINCT account_id) FROM balances WHERE balance_after < 0 "
        "AND account_id NOT IN (SELECT account_id FROM balance_openings)")
    openings["assumed-zero"] = max(0, int(accounts or 0) - sum(openings.values()))
    return {"balance_events": n, "accounts": accounts, "openings": openings, "breaks": kinds,
            "negative_unknown_opening": neg_unknown, "max_gap_days": gap}
