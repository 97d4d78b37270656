"""Stage 5, trace: balance reconstruction and fund tracing under the legal tracing rules.

The stage (``NAME``, ``run(ctx)``) rebuilds the balance tables every tracing rule builds on
(see :mod:`moneytrail.trace.balances`):

``balances(account_id, tx_id, ts, seq, direction, amount, net_after, statement_balance,
opening, balance_after)``
    for every real (non-pseudo) account, each of its transactions in the documented order —
    timestamp, then tx_id (source, then row in the source) — with the running net flow after
    it (inflows minus outflows since the first transaction seen), the opening balance used and
    the balance after it. Where a statement gives ``balance_after``, ``statement_balance``
    carries it.
``balance_openings``, ``balance_breaks``
    where each opening balance came from, and reconciliation breaks and statement gaps.

Fund tracing (``moneytrail trace``; Python: :func:`trace`) follows tainted funds forward from
sources or backward from a target, under one module per rule in ``trace/rules/`` (LIBR,
FIFO, LIFO, pro rata, poison, replenish; and haircut, the proportional rule under its
cryptocurrency name, which gives pro rata's figures). The engine is
:mod:`moneytrail.trace.engine`; the rules, conventions and legal sources are in
docs/tracing.md.
"""

from __future__ import annotations

from moneytrail.trace.balances import DEFAULT_MAX_GAP_DAYS

NAME = "trace"
NEEDS = ("edges", "transactions", "accounts", "account_map", "statements", "transfer_matches")
MAKES = ("balances", "balance_openings", "balance_breaks")
PARAMS = {"openings": None, "max_gap_days": DEFAULT_MAX_GAP_DAYS}   # what changes what it makes, defaults


def run(ctx) -> dict:
    from moneytrail.trace import balances
    return balances.build(ctx)


def trace(*args, **kwargs):
    """Run a trace; see :func:`moneytrail.trace.api.trace`."""
    from moneytrail.trace.api import trace as _trace
    return _trace(*args, **kwargs)


__all__ = ["NAME", "NEEDS", "MAKES", "PARAMS", "run", "trace"]
