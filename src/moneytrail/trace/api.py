"""``trace()``: the one call behind ``moneytrail trace`` (forward or backward, one rule or all)."""

from __future__ import annotations

import dataclasses
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
NEEDS = ("edges", "account_map", "accounts", "transactions", "account_entities")   # what a trace reads
LEVELS = ("account", "entity")
#: the ledger at entity level: ``edges`` with each resolved entity's accounts as one node
ENTITY_EDGES = "trace_entity_edges"


def _rule_names(rule: str | Iterable[str]) -> list[str]:
    """The rules asked for, in order, once each; ``all`` stands for the rules ``--rule all`` runs
    (:data:`moneytrail.trace.rules.RULES`: every rule but ``haircut``, which repeats ``prorata``)
    and can be combined with one named (``all,haircut``)."""
    names = [rule] if isinstance(rule, str) else list(rule)
    out: list[str] = []
    for n in names:
        for m in ([r.NAME for r in _rules.RULES] if n == "all" else [_rules.get(n).NAME]):
            if m not in out:
                out.append(m)
    return out


def _ensure_graph(ws) -> None:
    """The resolved transfer graph, brought up to date with the evidence by the one freshness rule
    (:func:`moneytrail.freshness.ensure`: rebuilt after an ingest, a withdrawal or a share)."""
    if not ws.scalar("SELECT count(*) FROM transactions"):
        raise WorkspaceError("no transactions in the workspace: ingest evidence first")
    from moneytrail.graph import params_at

    ensure(ws, NEEDS, params=params_at(ws, "account"))   # balances are accounts' (detect --level entity aside)


def _pools(ws) -> dict[str, dict[str, Any]]:
    """At entity level: make the temp table :data:`ENTITY_EDGES` (``edges`` with every account a
    resolved entity holds replaced by the entity; transfers between one entity's own accounts
    left out: money that stays in the pool is not an event) and return, per entity whose accounts
    are in the ledger, its name and accounts.

    A table, not a view: DuckDB 2.0.1 answers ``SELECT src FROM v UNION ALL SELECT dst FROM v``
    wrongly for a view of this shape (two LEFT JOINs, a filter on the joined columns: the second
    half repeats values of the first), and the ledger reads its relation just so."""
    ws.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {ENTITY_EDGES} AS
        SELECT e.tx_id, coalesce(ao.entity_id, e.src) AS src, coalesce(ab.entity_id, e.dst) AS dst,
               e.ts, e.amount, e.src_pseudo, e.dst_pseudo
        FROM edges e
        LEFT JOIN account_entities ao ON ao.account_id = e.src AND NOT e.src_pseudo
        LEFT JOIN account_entities ab ON ab.account_id = e.dst AND NOT e.dst_pseudo
        WHERE coalesce(ao.entity_id, e.src) <> coalesce(ab.entity_id, e.dst)""")
    pools: dict[str, dict[str, Any]] = {}
    for ent, name, acct in ws.query("""
            SELECT a.entity_id, n.name, a.account_id FROM account_entities a
            LEFT JOIN entities n ON n.entity_id = a.entity_id
            WHERE a.account_id IN (SELECT src FROM edges WHERE NOT src_pseudo
                                   UNION SELECT dst FROM edges WHERE NOT dst_pseudo)
            ORDER BY a.entity_id, a.account_id"""):
        pools.setdefault(ent, {"name": name, "accounts": []})["accounts"].append(acct)
    return pools


def _pooled_openings(opening: dict[str, tuple[Decimal, str, str]], owner: dict[str, str]
                     ) -> dict[str, tuple[Decimal, str, str]]:
    """Openings per node at entity level: an entity opens at the sum of its accounts' openings
    (an account without a known one adds nothing, as at account level it opens at 0)."""
    out: dict[str, tuple[Decimal, str, str]] = {}
    parts: dict[str, list[str]] = {}
    for acct, (v, basis, detail) in sorted(opening.items()):
        node = owner.get(acct, acct)
        if node == acct:
            out[acct] = (v, basis, detail)
            continue
        prev = out.get(node, (Decimal(0), "", ""))[0]
        parts.setdefault(node, []).append(f"{acct} {v} ({basis})")
        out[node] = (prev + v, "pooled", "the sum of its accounts' openings: " + "; ".join(parts[node]))
    return out


def trace(ws, sources: Iterable[Source | int] = (), *, rule: str | Iterable[str] = "libr",
          direction: str = "forward", target: Target | None = None, presumption: str | None = None,
          openings: dict[str, Decimal] | None = None, as_of: _dt.datetime | None = None,
          schedule: bool = True, schedule_limit: int = 200_000, max_hops: int = DEFAULT_MAX_HOPS,
          flows_limit: int = 500, level: str = "account") -> dict[str, Any]:
    """Trace tainted funds; return a JSON-ready dict.

    Forward: ``sources`` are taint sources (transaction ids, or :class:`Source` holdings);
    the result has, per rule, per account, ``tainted_received`` and ``tainted_held``, the
    exits (where taint left the ledger), the flows and the tracing schedule.
    Backward: ``target`` is a payment or a balance; ``sources`` (transaction ids) are optional
    taint sources for the tainted share.

    ``level``: ``account`` (default), each account its own balance; ``entity``, the accounts of
    each resolved entity (``moneytrail resolve``) are one pool with one balance, so taint that
    reaches one of a party's accounts funds a payment from any of them, and transfers between
    them are not events. Accounts, holdings (``--account``), targets and openings given by
    account are read as their entity's; the result's ``pools`` names each entity's accounts.

    A failure in the query engine raises :class:`EngineError` (``trace failed in the query
    engine (<class>)``); the engine's message, which can quote data, is only in its ``detail``.
    """
    try:
        return _trace(ws, sources, rule=rule, direction=direction, target=target, presumption=presumption,
                      openings=openings, as_of=as_of, schedule=schedule, schedule_limit=schedule_limit,
                      max_hops=max_hops, flows_limit=flows_limit, level=level)
    except (EngineError, duckdb.Error) as e:
        raise EngineError.wrap(e, stage="trace") from None
    finally:
        if level == "entity":
            try:
                ws.con.execute(f"DROP TABLE IF EXISTS {ENTITY_EDGES}")
            except duckdb.Error:   # a failed transaction: the temp table goes with the connection
                pass


def _trace(ws, sources, *, rule, direction, target, presumption, openings, as_of, schedule, schedule_limit,
           max_hops, flows_limit, level) -> dict[str, Any]:
    if direction not in DIRECTIONS:
        raise ConfigError(f"--direction {direction!r}: choose forward or backward")
    if level not in LEVELS:
        raise ConfigError(f"--level {str(level)[:40]!r}: choose account or entity")
    names = _rule_names(rule)
    _ensure_graph(ws)
    srcs = [s if isinstance(s, Source) else Source(tx_id=check_tx_id(s)) for s in sources]
    given = parse_openings(openings)   # checked here too: the Python API takes them as given
    opening = opening_balances(ws, given)
    relation, pools, level_note = "edges", None, None
    if level == "entity":
        relation, pools = ENTITY_EDGES, _pools(ws)
        owner = {a: e for e, p in pools.items() for a in p["accounts"]}
        opening = _pooled_openings(opening, owner)
        srcs = [dataclasses.replace(s, account=owner.get(s.account, s.account)) if s.account else s for s in srcs]
        if target is not None and target.account is not None:
            target = dataclasses.replace(target, account=owner.get(target.account, target.account))
        inside = [t for t in [s.tx_id for s in srcs if s.tx_id is not None] + [getattr(target, "tx_id", None)]
                  if t is not None and not ws.scalar(f"SELECT count(*) FROM {ENTITY_EDGES} WHERE tx_id = ?", [t])
                  and ws.scalar("SELECT count(*) FROM edges WHERE tx_id = ?", [t])]
        if inside:
            src, dst = ws.query("SELECT src, dst FROM edges WHERE tx_id = ?", [inside[0]])[0]
            raise ConfigError(f"transaction {inside[0]} moves money from {src} to {dst}, accounts of one entity "
                              f"({owner.get(src, src)}): at entity level it stays in the pool and is not a "
                              f"movement; name the payment into the entity, or trace at account level")
        multi = sum(1 for p in pools.values() if len(p["accounts"]) > 1)
        level_note = (f"level entity: the accounts of each resolved entity are one pool with one balance "
                      f"({multi:,} entities hold more than one account in the ledger); transfers between "
                      f"one entity's accounts are not events; taint reaching any of its accounts funds "
                      f"payments from all of them")
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
    ] + ([level_note] if level_note else [])
    if direction == "backward":
        if target is None:
            raise ConfigError("backward tracing needs a target: --target TX_ID, or --account ACCT --at TIME")
        if any(s.tx_id is None for s in srcs):
            raise ConfigError("backward tracing takes taint sources as transaction ids (--source TX_ID)")
        out = backward(ws, target, sources=[s.tx_id for s in srcs], rules=names, presumption=presumption,
                       openings=units, max_hops=max_hops, schedule=schedule, relation=relation)
        out["assumptions"] = assumptions
        _levelled(out, level, pools)
        out["generated_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        return out
    if not srcs:
        raise ConfigError("forward tracing needs taint sources: --source TX_ID (repeatable), or "
                          "--account ACCT --amount X --at TIME")
    t0 = time.perf_counter()
    ledger = Ledger(ws.con, relation=relation, sources=srcs, openings=units, as_of=as_of)
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
    _levelled(out, level, pools)
    return out


def _levelled(out: dict[str, Any], level: str, pools: dict[str, dict[str, Any]] | None) -> None:
    """The level in the result; at entity level, ``pools``: the name and accounts of each entity
    the result names (in its accounts, exits, flows or funding)."""
    out["level"] = level
    if pools is None:
        return
    named: set[str] = set()
    for r in out["rules"].values():
        named.update(r.get("accounts") or {})
        named.update(r.get("exits") or {})
        for f in r.get("flows") or []:
            named.update((f.get("from"), f.get("to")))
        for f in r.get("funding") or []:
            named.update((f.get("from"), f.get("origin")))
    for k in ("target",):
        if isinstance(out.get(k), dict):
            named.update((out[k].get("account"), out[k].get("to")))
    for s in out.get("sources") or []:
        named.update((s.get("from"), s.get("to"), s.get("account")))
    out["pools"] = {e: pools[e] for e in sorted(n for n in named if n in pools)}


def _source_info(ledger: Ledger, s: Source) -> dict[str, Any]:
    if s.tx_id is not None:
        r = ledger.source_tx[s.tx_id]
        return {"kind": "transaction", "tx_id": s.tx_id, "from": r["from"], "to": r["to"], "ts": r["ts"],
                "amount": money(to_units(r["amount"]))}
    return {"kind": "holding", "account": s.account, "at": s.at, "amount": money(to_units(s.amount))}
