"""The staged pipeline: ingest -> resolve -> graph -> detect -> score -> trace -> report.

Every stage is a module exposing ``NAME``, ``NEEDS`` (the tables it reads), ``MAKES`` (the
tables it produces) and ``run(ctx: StageContext) -> dict`` (a summary that goes into the run
log). Stages read and write workspace tables through ``ctx.backend``; they never open
connections of their own, never decide whether what they read is stale and never call the
pipeline. ``STAGES`` is the registry, in order; adding a stage is adding a module and a line.

Freshness is decided here, by one rule (:mod:`moneytrail.freshness`): before a stage runs, the
products it needs are brought up to date (:func:`ensure`); a stage that makes products (resolve,
graph, trace) is itself rebuilt only when its products are stale, missing, or asked for with
other parameters, and otherwise reports the build that is current.

A stage that fails in the query engine raises :class:`~moneytrail.errors.EngineError` naming the
stage (and typology), the engine's error class and the run; the engine's message, which can
quote data, is written to that run's ``runs.error`` and nowhere else.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from moneytrail.backends import Backend, get_backend
from moneytrail.freshness import PRODUCERS, StageContext, ensure, records, run_stage
from moneytrail.workspace import Workspace

#: the stages, in pipeline order (module names)
STAGES = ("moneytrail.ingest", "moneytrail.resolve", "moneytrail.graph", "moneytrail.detect", "moneytrail.score",
          "moneytrail.trace", "moneytrail.report.stage")


def _stages():
    import importlib

    return tuple(importlib.import_module(n) for n in STAGES)


def stage_names() -> list[str]:
    return [s.NAME for s in _stages()]


def _backend(ws: Workspace, backend: str, options: dict[str, Any] | None) -> Backend:
    # options (a Spark master, ...) only when given: get_backend takes them where a backend has any
    return get_backend(ws, backend, **options) if options else get_backend(ws, backend)


def run_pipeline(ws: Workspace, *, stages: list[str] | None = None,
                 params: dict[str, dict[str, Any]] | None = None, backend: str = "duckdb",
                 backend_options: dict[str, Any] | None = None,
                 log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Run the named stages (default: every stage after ingest) in pipeline order.

    ``params`` maps a stage name to its options, e.g. ``{"detect": {"typologies": ["fan_in"]}}``.
    ``backend`` (with ``backend_options``, given to :func:`moneytrail.backends.get_backend`) runs
    the stages that analyse (detect, score); the products (account_map, edges, nodes, balances) are
    tables of the workspace, built there by its DuckDB (see :mod:`moneytrail.freshness`).
    Returns ``{"run_id": ..., "stages": {name: summary}, "rebuilt": {name: summary}}``; each stage
    is logged in ``runs``. A named stage that makes products and finds them up to date does not
    rebuild them: its summary is that of the build that is current, with ``"up_to_date": True``
    and ``"built_in_run"``. ``rebuilt`` holds the stages not named that were rebuilt because a
    named stage needed their products and they were stale.
    """
    params = params or {}
    wanted = stages or [n for n in stage_names() if n != "ingest"]
    unknown = [s for s in wanted if s not in stage_names()]
    if unknown:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}: stages are {', '.join(stage_names())}")
    be = _backend(ws, backend, backend_options)
    named = {n: params.get(n, {}) for n in wanted}   # named stages build with these (defaults filled in)
    out: dict[str, Any] = {"stages": {}, "rebuilt": {}}
    try:
        for mod in _stages():
            if mod.NAME not in wanted:
                continue
            producer = mod.__name__ in PRODUCERS
            # a producer's products (and what they need), or what another stage needs: up to date, built
            # in the workspace (where every backend reads them from and their versions are recorded)
            built = ensure(ws, mod.MAKES if producer else getattr(mod, "NEEDS", ()), params=named, log=log)
            for name, summary in built.items():
                (out["stages"] if name in wanted else out["rebuilt"])[name] = summary
            if producer:
                if mod.NAME not in built:
                    out["stages"][mod.NAME] = _up_to_date(ws, mod, named[mod.NAME], log)
                continue
            _, summary = run_stage(ws, mod, be, named[mod.NAME], log)
            if mod.NAME in ("detect", "score") and isinstance(summary, dict):
                from moneytrail.priority import prioritize

                summary["priority"] = prioritize(ws)   # one order for the queue (priority.py)
            out["stages"][mod.NAME] = summary
            from moneytrail.summaries import stage_line

            log(stage_line(mod.NAME, summary))
    finally:
        be.close()
    return out


def _up_to_date(ws: Workspace, mod, params: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """A named stage whose products are current: logged as a run that rebuilt nothing."""
    t0 = time.perf_counter()
    rec = records(ws)[mod.MAKES[0]]
    summary = {**rec["summary"], "up_to_date": True, "built_in_run": rec["run_id"]}
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    run_id = ws.start_run(mod.NAME, params)
    ws.finish_run(run_id, summary)
    log(f"{mod.NAME}: up to date (built in run {rec['run_id']})")
    return summary


__all__ = ["STAGES", "StageContext", "ensure", "run_pipeline", "stage_names"]
