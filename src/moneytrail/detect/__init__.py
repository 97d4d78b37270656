"""Stage 4, detect: typologies over the transaction graph, each finding with its evidence.

``TYPOLOGIES`` is the registry (one module per typology; adding one is adding a file and a
line). ``run(ctx)`` runs the selected typologies with their parameters, replacing earlier
findings of those typologies, and stores for every finding: typology id and version, the
parameters used, the accounts with their roles, the exact transaction ids, a score and a
plain-English explanation citing the red flag and its source.

Parameters: defaults are each typology's ``Params`` dataclass; a run overrides them with
``ctx.params["parameters"] = {"fan_in": {"window_days": 7}, ...}`` (CLI:
``--param fan_in.window_days=7`` or ``--config FILE.yaml``).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import duckdb

from moneytrail.detect import currency as fx
from moneytrail.detect.base import AMOUNTS_CURRENCY, Params, Typology, shown
from moneytrail.detect.contracts import CONTRACTS
from moneytrail.detect.cycles import Cycles, RoundTrip
from moneytrail.detect.employer import EMPLOYER
from moneytrail.detect.fan import FanIn, FanOut
from moneytrail.detect.flow import FLOW
from moneytrail.detect.layers import Bipartite, Stack
from moneytrail.detect.scatter import GatherScatter, ScatterGather
from moneytrail.detect.levels import AtEntities, Pools, at_entity_level, multi_account_entities
from moneytrail.detect.store import write_findings
from moneytrail.detect.trafficking import TRAFFICKING
from moneytrail.errors import ConfigError, EngineError

NAME = "detect"
NEEDS = ("edges", "nodes", "transactions", "accounts")
MAKES = ("findings", "finding_accounts", "finding_transactions", "finding_records")   # replaced per typology run: not products

GRAPH: tuple[Typology, ...] = (FanIn(), FanOut(), ScatterGather(), GatherScatter(), Bipartite(),
                               Stack(), RoundTrip(), Cycles())
#: the typologies over the transactions alone, and those that need employer or contract records
#: (payroll, wage reports, awards, payments, vendors, officials: docs/records.md)
TRANSACTION_TYPOLOGIES: tuple[Typology, ...] = GRAPH + FLOW + TRAFFICKING
RECORD_TYPOLOGIES: tuple[Typology, ...] = EMPLOYER + CONTRACTS
TYPOLOGIES: tuple[Typology, ...] = TRANSACTION_TYPOLOGIES + RECORD_TYPOLOGIES
#: the employer and contract typologies' ids
RECORD_IDS = frozenset(t.id for t in RECORD_TYPOLOGIES)
#: more employer and contract typologies skipped than this are counted, not listed, in the log
#: and in detect's line (moneytrail.summaries): a case of bank records only skips them all
RECORD_SKIPS_LISTED = 3
BY_ID = {t.id: t for t in TYPOLOGIES}


def _unknown(bad: list, also: Sequence[str] = ()) -> ConfigError:
    names = ", ".join(b if isinstance(b, str) and b.isidentifier() and len(b) <= 40 else shown(b) for b in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return ConfigError(f"unknown typology {names}{more}: known are {', '.join([*BY_ID, *also])}")


def resolve_params(overrides: dict[str, dict[str, Any]] | None) -> dict[str, Params]:
    """Every typology's parameters: defaults, with ``overrides`` checked against what each
    parameter takes (see :class:`moneytrail.detect.base.Params`)."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"parameters must be a mapping of typology: {{parameter: value}}, got {shown(overrides)}")
    unknown = sorted((k for k in overrides if k not in BY_ID), key=str)
    if unknown:
        raise _unknown(unknown)
    return {t.id: t.Params.from_overrides(t.id, overrides.get(t.id, {})) for t in TYPOLOGIES}


def select(names: list[str] | None) -> list[Typology]:
    if not names:
        return list(TYPOLOGIES)
    bad = [n for n in names if n not in BY_ID]
    if bad:
        raise _unknown(bad)
    return [BY_ID[n] for n in names]


class _Converted:
    """A typology whose findings were compared in US dollars: its explanations end with the
    rates used and the dollar thresholds (:func:`moneytrail.detect.currency.conversion_text`)."""

    def __init__(self, typ: Typology, pl: "fx.Plan", used: dict[int, tuple]):
        self.typ, self.pl, self.used = typ, pl, used
        self.id, self.version, self.source = typ.id, typ.version, typ.source

    def explain(self, row: dict[str, Any], p: Params) -> str:
        return self.typ.explain(row, p) + fx.conversion_text(row, self.used, self.pl.thresholds)


def _log_record_skips(ctx, skipped: dict[str, str]) -> None:
    """The employer and contract typologies skipped, a line each when there are a few (a case with
    some records lacks what these need); when more are (a case of bank records only), the stage's
    summary line counts them (moneytrail.summaries) and ``--json`` says why for each."""
    mine = [(k, v) for k, v in skipped.items() if k in RECORD_IDS]
    if len(mine) <= RECORD_SKIPS_LISTED:
        for k, why in mine:
            ctx.log(f"{k}: skipped: {why}")


def run(ctx) -> dict:
    # what it NEEDS is brought up to date by the pipeline before it runs (moneytrail.freshness)
    params = resolve_params(ctx.params.get("parameters"))
    chosen = select(ctx.params.get("typologies"))
    ws, be = ctx.ws, ctx.backend
    summary: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    timings: dict[str, float] = {}
    notes: dict[str, list[str]] = {}
    profile = fx.Profile.of(be)         # the transfers' currencies (currency is never assumed)
    made_usd = False
    currencies: dict[str, str] = {}
    entity_level = at_entity_level(ws)   # findings name the accounts of each party they pass through
    multi = multi_account_entities(ws) if entity_level else {}
    try:
        for typ in chosen:
            t0 = time.perf_counter()
            p = params[typ.id]
            try:
                pl = fx.plan(p, profile)
                why = typ.unsupported(be) or typ.skip_reason(ws) or pl.skip
                if why:
                    skipped[typ.id] = why
                    if typ.id not in RECORD_IDS:   # those are said at the end (_log_record_skips)
                        ctx.log(f"{typ.id}: skipped: {why}")
                    continue
                typ.notes = []
                if pl.mode == "usd" and not made_usd:
                    fx.make_edges_usd(be)
                    made_usd = True
                renames = {"edges": fx.EDGES_USD} if pl.mode == "usd" else {}
                token = AMOUNTS_CURRENCY.set(pl.currency)
                try:
                    with be.phase(typ.id), be.tables_as(renames):
                        rows = typ.run(be, p)
                    n = fx.note(pl)
                    if n:
                        typ.notes.append(n)
                    if typ.notes:
                        notes[typ.id] = list(typ.notes)
                        for n in typ.notes:
                            ctx.log(f"{typ.id}: {n}")
                    rows.sort(key=lambda r: (-r["score"], r["key"]))
                    source = typ if pl.mode != "usd" or profile.all_usd else _Converted(typ, pl, fx.rates_used(ws, rows))
                    if entity_level:
                        source = AtEntities(source, Pools(ws, rows, multi))
                    write_findings(ws, ctx.run_id, source, p, rows, currency=pl.currency)
                finally:
                    AMOUNTS_CURRENCY.reset(token)
            except (EngineError, duckdb.Error) as e:
                # which typology failed travels with the error; the engine's message (it can quote
                # data) only to the run log (see moneytrail.pipeline)
                raise EngineError.wrap(e, stage=NAME, typology=typ.id) from None
            summary[typ.id] = len(rows)
            currencies[typ.id] = pl.currency
            timings[typ.id] = round(time.perf_counter() - t0, 3)
    finally:
        if made_usd:
            fx.drop_edges_usd(be)
    _log_record_skips(ctx, skipped)
    out = {"findings": summary, "skipped": skipped, "timings": timings, "notes": notes,
           "parameters": {k: v.to_dict() for k, v in params.items() if k in summary}}
    if not profile.all_usd:
        out["currencies"] = {"transfers": {c: n for c, (n, _) in profile.counts.items()},
                             "without_usd_rate": profile.without_rate(), "findings_in": currencies}
    stats = be.stats()
    if stats:
        out["engine_stats"] = stats
    return out
