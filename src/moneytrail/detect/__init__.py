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

import json
import time
from typing import Any

import duckdb
import pyarrow as pa

from moneytrail.detect.base import Params, Typology, shown
from moneytrail.detect.cycles import Cycles, RoundTrip
from moneytrail.detect.fan import FanIn, FanOut
from moneytrail.detect.flow import FLOW
from moneytrail.detect.layers import Bipartite, Stack
from moneytrail.detect.scatter import GatherScatter, ScatterGather
from moneytrail.detect.trafficking import TRAFFICKING
from moneytrail.errors import ConfigError, EngineError
from moneytrail.workspace import now_utc

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
            ws.con.execute("DELETE FROM finding_transactions WHERE finding_id IN "
                           "(SELECT finding_id FROM findings WHERE typology = ?)", [typ.id])
            ws.con.execute("DELETE FROM finding_accounts WHERE finding_id IN "
                           "(SELECT finding_id FROM findings WHERE typology = ?)", [typ.id])
            ws.con.execute("DELETE FROM findings WHERE typology = ?", [typ.id])
            _write(ws, ctx.run_id, typ, p, rows)
        except (EngineError, duckdb.Error) as e:
            # which typology failed travels with the error; the engine's message (it can quote
            # data) only to the run log (see moneytrail.pipeline)
            raise EngineError.wrap(e, where=f"{NAME}: typology {typ.id}") from None
        summary[typ.id] = len(rows)
        timings[typ.id] = round(time.perf_counter() - t0, 3)
        ctx.log(f"{typ.id}: {len(rows)} findings")
    out = {"findings": summary, "skipped": skipped, "timings": timings, "notes": notes,
           "parameters": {k: v.to_dict() for k, v in params.items() if k in summary}}
    if be.stats():
        out["engine_stats"] = be.stats()
    return out


def _write(ws, run_id: int, typ: Typology, p: Params, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    start = ws.scalar("SELECT nextval('seq_finding')")
    n = len(rows)
    ws.con.execute("SELECT setval('seq_finding', ?)", [start + n - 1]).fetchall()
    ids = list(range(start, start + n))
    now = now_utc()
    pjson = json.dumps(p.to_dict(), sort_keys=True)
    findings = pa.table({
        "finding_id": pa.array(ids, pa.int32()),
        "run_id": pa.array([run_id] * n, pa.int32()),
        "typology": [typ.id] * n,
        "typology_version": [typ.version] * n,
        "parameters": [pjson] * n,
        "score": pa.array([float(r["score"]) for r in rows], pa.float64()),
        "first_ts": [r["first_ts"] for r in rows],
        "last_ts": [r["last_ts"] for r in rows],
        "total_amount": pa.array([r["total_amount"] for r in rows], pa.decimal128(38, 4)),
        "explanation": [typ.explain(r, p) for r in rows],
        "red_flag_source": [typ.source] * n,
        "created_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
    })
    acc_f, acc_a, acc_r, tx_f, tx_t = [], [], [], [], []
    for fid, r in zip(ids, rows):
        seen = set()
        for a in r["accounts"]:
            k = (a["account_id"], a["role"])
            if k not in seen:
                seen.add(k)
                acc_f.append(fid)
                acc_a.append(a["account_id"])
                acc_r.append(a["role"])
        for t in dict.fromkeys(r["tx_ids"]):
            tx_f.append(fid)
            tx_t.append(t)
    accounts = pa.table({"finding_id": pa.array(acc_f, pa.int32()), "account_id": acc_a, "role": acc_r})
    txs = pa.table({"finding_id": pa.array(tx_f, pa.int32()), "tx_id": pa.array(tx_t, pa.int64())})
    con = ws.con
    for name, tbl in (("findings", findings), ("finding_accounts", accounts),
                      ("finding_transactions", txs)):
        con.register("_new", tbl)
        try:
            cols = ", ".join(tbl.column_names)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _new")
        finally:
            con.unregister("_new")
