"""The staged pipeline: ingest -> resolve -> graph -> detect -> score -> trace -> report.

Every stage is a module exposing ``NAME`` and ``run(ctx: StageContext) -> dict`` (a summary
that goes into the run log). Stages read and write workspace tables through ``ctx.backend``;
they never open connections of their own. ``STAGES`` is the registry, in order; adding a
stage is adding a module and a line.

A stage that fails in the query engine raises :class:`~moneytrail.errors.EngineError` naming the
stage (and typology), the engine's error class and the run; the engine's message, which can
quote data, is written to that run's ``runs.error`` and nowhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb

from moneytrail.backends import Backend, get_backend
from moneytrail.errors import EngineError
from moneytrail.workspace import Workspace


@dataclass
class StageContext:
    ws: Workspace
    backend: Backend
    run_id: int
    params: dict[str, Any] = field(default_factory=dict)   # options for this stage
    log: Callable[[str], None] = lambda msg: None


def _stages():
    from moneytrail import detect, graph, ingest, resolve, score, trace
    from moneytrail.report import stage as report
    return (ingest, resolve, graph, detect, score, trace, report)


def stage_names() -> list[str]:
    return [s.NAME for s in _stages()]


def run_pipeline(ws: Workspace, *, stages: list[str] | None = None,
                 params: dict[str, dict[str, Any]] | None = None, backend: str = "duckdb",
                 log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Run the named stages (default: every stage after ingest) in pipeline order.

    ``params`` maps a stage name to its options, e.g. ``{"detect": {"typologies": ["fan_in"]}}``.
    Returns ``{"run_id": ..., "stages": {name: summary}}``; each stage is logged in ``runs``.
    """
    params = params or {}
    wanted = stages or [n for n in stage_names() if n != "ingest"]
    unknown = [s for s in wanted if s not in stage_names()]
    if unknown:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}: stages are {', '.join(stage_names())}")
    be = get_backend(ws, backend)
    out: dict[str, Any] = {"stages": {}}
    for mod in _stages():
        if mod.NAME not in wanted:
            continue
        run_id = ws.start_run(mod.NAME, params.get(mod.NAME, {}))
        t0 = time.perf_counter()
        ctx = StageContext(ws, be, run_id, params.get(mod.NAME, {}), log)
        try:
            summary = mod.run(ctx) or {}
        except (EngineError, duckdb.Error) as e:
            # the engine's message can quote data: it goes to the run log only; the error raised
            # says which stage (and typology) failed, the error class and where the message is
            err = EngineError.wrap(e, where=mod.NAME, run_id=run_id)
            _log_failure(ws, run_id, err.log_text())
            raise err from None
        except BaseException as e:
            _log_failure(ws, run_id, str(e) or type(e).__name__)
            raise
        summary["seconds"] = round(time.perf_counter() - t0, 3)
        ws.finish_run(run_id, summary)
        out["stages"][mod.NAME] = summary
        log(f"{mod.NAME}: {summary}")
    return out


def _log_failure(ws: Workspace, run_id: int, error: str) -> None:
    """Mark the run failed; a connection the engine has invalidated can't take even that, and
    the error being raised matters more than its log line."""
    try:
        ws.finish_run(run_id, error=error)
    except duckdb.Error:
        pass
