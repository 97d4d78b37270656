"""``trace()``: the one call behind ``moneytrail trace`` (forward or backward, one rule or all)."""

from __future__ import annotations

import datetime as _dt
import time
from decimal import Decimal
from typing import Any, Iterable

import duckdb

from moneytrail.errors import ConfigError, EngineError, WorkspaceError
from moneytrail.freshness import ensure
from moneytrail.trace import rules as _rules
from moneytrail.trace.backward import DEFAULT_MAX_HOPS, Target, backward
from moneytrail.trace.balances import opening_balances, parse_openings
from moneytrail.trace.engine import (ORDERING, Ledger, Source, check_tx_id, money, run_pass, summarize, to_units,
                                     window_for)

DIRECTIONS = ("forward", "backward")
NEEDS = ("edges", "account_map", "accounts", "transactions")   # what a trace reads


def _rule_names(rule: str | Iterable[str]) -> list[str]:
    names = [rule] if isinstance(rule, str) else list(rule)
    if "all" in names:
        return [r.NAME for r in _rules.RULES]
    for n in names:
        _rules.get(n)
    return names


def _ensure_graph(ws) -> None:
    """The resolved transfer graph, brought up to date with the evidence by the one freshness rule
    (:func:`moneytrail.freshness.ensure`: rebuilt after an ingest, a withdrawal or a share)."""
    if not ws.scalar("SELECT count(*) FROM transactions"):
        raise WorkspaceError("no transactions in the workspace: ingest evidence first")
    from moneytrail.graph import params_at

    ensure(ws, NEEDS, params=params_at(ws, "account"))   # balances are accounts' (detect --level entity aside)


def trace(ws, sources: Iterable[Source | int] = (), *, rule: str | Iterable[str] = "libr",
          direction: str = "forward", target: Target | None = None, presumption: str | None = None,
          openings: dict[str, Decimal] | None = None, as_of: _dt.datetime | None = None,
          schedule: bool = True, schedule_limit: int = 200_000, max_hops: int = DEFAULT_MAX_HOPS,
          flows_limit: int = 500) -> dict[str, Any]:
    """Trace tainted funds; return a JSON-ready dict.

    Forward: ``sources`` are taint sources (transaction ids, or :class:`Source` holdings);
    the result has, per rule, per account, ``tainted_received`` and ``tainted_held``, the
    exits (where taint left the ledger), the flows and the tracing schedule.
    Backward: ``target`` is a payment or a balance; ``sources`` (transaction ids) are optional
    taint sources for the tainted share.

    A failure in the query engine raises :class:`EngineError` (``trace failed in the query
    engine (<class>)``); the engine's message, which can quote data, is only in its ``detail``.
    """
    try:
        return _trace(ws, sources, rule=rule, direction=direction, target=target, presumption=presumption,
                      openings=openings, as_of=as_of, schedule=schedule, schedule_limit=schedule_limit,
                      max_hops=max_hops, flows_limit=flows_limit)
    except (EngineError, duckdb.Error) as e:
        raise EngineError.wrap(e, stage="trace") from None


def _trace(ws, sources, *, rule, direction, target, presumption, openings, as_of, schedule, schedule_limit,
           max_hops, flows_limit) -> dict[str, Any]:
    if direction not in DIRECTIONS:
        raise ConfigError(f"--direction {direction!r}: choose forward or backward")
    names = _rule_names(rule)
    _ensure_graph(ws)
    srcs = [s if isinstance(s, Source) else Source(tx_id=check_tx_id(s)) for s in sources]
    given = parse_openings(openings)   # checked here too: the Python API takes them as given
    opening = opening_balances(ws, given)
    units = {acct: to_units(v) for acct, (v, basis, detail) in opening.items()}
    bases: dict[str, int] = {}
    for _, basis, _ in opening.values():
        bases[basis] = bases.get(basis, 0) + 1
    assumptions = [
        "ordering: " + ORDERING,
        "opening balances: " + (", ".join(f"{n} from {b}" for b, n in sorted(bases.items())) or "none known")
        + "; every other account opens at 0 (assumed)",
        "a payment larger than the reconstructed balance is funded first by the whole balance and then by "
        "unrecorded clean money (reported as unrecorded_funds)",
        "pseudo-accounts (cash, name-only or unidentified counterparties) are outside the ledger: money from "
        "them is clean, tainted money paid to them has left the ledger (exits)",
    ]
    if direction == "backward":
        if target is None:
            raise ConfigError("backward tracing needs a target: --target TX_ID, or --account ACCT --at TIME")
        if any(s.tx_id is None for s in srcs):
            raise ConfigError("backward tracing takes taint sources as transaction ids (--source TX_ID)")
        out = backward(ws, target, sources=[s.tx_id for s in srcs], rules=names, presumption=presumption,
                       openings=units, max_hops=max_hops, schedule=schedule)
        out["assumptions"] = assumptions
        out["generated_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        return out
    if not srcs:
        raise ConfigError("forward tracing needs taint sources: --source TX_ID (repeatable), or "
                          "--account ACCT --amount X --at TIME")
    t0 = time.perf_counter()
    ledger = Ledger(ws.con, sources=srcs, openings=units, as_of=as_of)
    try:
        window = window_for(ledger.as_of)
        out: dict[str, Any] = {
            "direction": "forward",
            "sources": [_source_info(ledger, s) for s in srcs],
            "as_of": ledger.as_of,
            "window_984": {"from": _dt.datetime(1970, 1, 1) + _dt.timedelta(microseconds=window[0]),
                           "to": ledger.as_of},
            "events": ledger.n_events,
            "accounts_in_ledger": ledger.n_real,
            "prepare_seconds": round(ledger.prepare_seconds, 3),
            "assumptions": assumptions,
            "rules": {},
        }
        for n in names:
            res = run_pass(ledger, n, presumption, schedule=schedule, schedule_limit=schedule_limit,
                           window=window)
            out["rules"][n] = summarize(ledger, res, detail=True, flows_limit=flows_limit)
    finally:
        ledger.drop()
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["generated_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return out


def _source_info(ledger: Ledger, s: Source) -> dict[str, Any]:
    if s.tx_id is not None:
        r = ledger.source_tx[s.tx_id]
        return {"kind": "transaction", "tx_id": s.tx_id, "from": r["from"], "to": r["to"], "ts": r["ts"],
                "amount": money(to_units(r["amount"]))}
    return {"kind": "holding", "account": s.account, "at": s.at, "amount": money(to_units(s.amount))}
