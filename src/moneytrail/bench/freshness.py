"""``python -m moneytrail.bench.freshness DATA``: what deciding freshness costs when nothing is stale.

Protocol: ingest the AMLSim folder (``--format amlsim``) into a case of the demo task force in a
temporary workspace (the case's schema reads its sources through views, as every command does),
build the graph once (``run_pipeline(stages=["resolve", "graph"])``), then, with nothing changed:

* ``ensure``: ``moneytrail.freshness.ensure(case, ["edges", "nodes"])``, called ``calls`` times
  (each finds everything current: one query over the case's sources, one over its tables and one
  over its ``product_versions``); per call, median and min-max over the calls;
* ``evidence_version``: the query over the sources view alone, the same way;
* ``pipeline_again``: ``run_pipeline(case, stages=["resolve", "graph"])`` again, ``runs`` times
  (before issue 11 this rebuilt both tables every time; now both say they are up to date);

the same three in ``main`` (the whole workspace, as the benchmarks and the engine's tests use it).
The figures go in BENCHMARKS.md ("Freshness (issue 11)").
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from moneytrail.errors import InputError


def _times(fn: Callable[[], Any], n: int) -> dict[str, float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return {"median_ms": round(statistics.median(out) * 1000, 3), "min_ms": round(min(out) * 1000, 3),
            "max_ms": round(max(out) * 1000, 3), "n": n}


def bench_freshness(data: str | Path, *, calls: int = 50, runs: int = 5,
                    workdir: str | Path | None = None) -> dict[str, Any]:
    from moneytrail.demo import DEMO_CASE, setup_demo_authority
    from moneytrail.freshness import ensure, evidence_version
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.workspace import Workspace

    data = Path(data)
    if not data.exists():
        raise InputError("AMLSim dataset folder not found", path=str(data))
    out: dict[str, Any] = {"dataset": str(data.resolve())}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "bench.duckdb") as ws:
            setup_demo_authority(ws)
            cw = ws.for_case(DEMO_CASE)
            out["transactions"] = ingest_file(cw, data, "amlsim", legal_basis=["synthetic-demo"]).stored
            for where, w in (("case", cw), ("main", ws)):
                t0 = time.perf_counter()
                run_pipeline(w, stages=["resolve", "graph"])
                res = {"first_build_s": round(time.perf_counter() - t0, 3)}
                if ensure(w, ["edges", "nodes"]):
                    raise RuntimeError("the graph was stale right after it was built")
                res["ensure"] = _times(lambda: ensure(w, ["edges", "nodes"]), calls)
                res["evidence_version"] = _times(lambda: evidence_version(w), calls)
                res["pipeline_again"] = _times(lambda: run_pipeline(w, stages=["resolve", "graph"]), runs)
                out[where] = res
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m moneytrail.bench.freshness AMLSIM_FOLDER", file=sys.stderr)
        return 2
    try:
        res = bench_freshness(args[0])
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
