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
from typing import Any

import duckdb

from moneytrail.detect.base import Params, Typology, shown
from moneytrail.detect.cycles import Cycles, RoundTrip
from moneytrail.detect.fan import FanIn, FanOut
from moneytrail.detect.flow import FLOW
from moneytrail.detect.layers import Bipartite, Stack
from moneytrail.detect.scatter import GatherScatter, ScatterGather
from moneytrail.detect.store import write_findings
from moneytrail.detect.trafficking import TRAFFICKING
from moneytrail.errors import ConfigError, EngineError

NAME = "detect"
NEEDS = ("edges", "nodes", "transactions", "accounts")
MAKES = ("findings", "finding_accounts", "finding_transactions")   # replaced per typology run: not products

GRAPH: tuple[Typology, ...] = (FanIn(), FanOut(), ScatterGather(), GatherScatter(), Bipartite(),
                               Stack(), RoundTrip(), Cycles())
TYPOLOGIES: tuple[Typology, ...] = GRAPH + FLOW + TRAFFICKING
BY_ID = {t.id: t for t in TYPOLOGIES}


def _unknown(bad: list) -> ConfigError:
    names = ", ".join(b if isinstance(b, str) and b.isidentifier() and len(b) <= 40 else shown(b) for b in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return ConfigError(f"unknown typology {names}{more}: known are {', '.join(BY_ID)}")


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


def run(ctx) -> dict:
    # what it NEEDS is brought up to date by the pipeline before it runs (moneytrail.freshness)
    params = resolve_params(ctx.params.get("parameters"))
    chosen = select(ctx.params.get("typologies"))
    ws, be = ctx.ws, ctx.backend
    summary: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    timings: dict[str, float] = {}
    notes: dict[str, list[str]] = {}
    for typ in chosen:
        t0 = time.perf_counter()
        p = params[typ.id]
        try:
            why = typ.unsupported(be) or typ.skip_reason(ws)
            if why:
                skipped[typ.id] = why
                ctx.log(f"{typ.id}: skipped: {why}")
                continue
            typ.notes = []
            with be.phase(typ.id):
                rows = typ.run(be, p)
            if typ.notes:
                notes[typ.id] = list(typ.notes)
                for n in typ.notes:
                    ctx.log(f"{typ.id}: {n}")
            rows.sort(key=lambda r: (-r["score"], r["key"]))
            write_findings(ws, ctx.run_id, typ, p, rows)
        except (EngineError, duckdb.Error) as e:
            # which typology failed travels with the error; the engine's message (it can quote
            # data) only to the run log (see moneytrail.pipeline)
            raise EngineError.wrap(e, stage=NAME, typology=typ.id) from None
        summary[typ.id] = len(rows)
        timings[typ.id] = round(time.perf_counter() - t0, 3)
        ctx.log(f"{typ.id}: {len(rows)} findings")
    out = {"findings": summary, "skipped": skipped, "timings": timings, "notes": notes,
           "parameters": {k: v.to_dict() for k, v in params.items() if k in summary}}
    stats = be.stats()
    if stats:
        out["engine_stats"] = stats
    return out
