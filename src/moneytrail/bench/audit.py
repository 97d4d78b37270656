"""``moneytrail bench audit``: what authorization and the audit log cost.

- per command: one :func:`guard` (Cedar decision + audit append with a signed tree head) and one
  :func:`record_read` (another append), as a reading command does, in a workspace with the demo
  task force and two evidence sources, one of them federal tax information under a 6103(i)(1)
  order (so the decision also asks Cedar about reading that source); median and p90 over
  ``guards`` calls. Every call reads the registry and sources afresh, as a new command would.
- append rate: entries per second appended in batches of 1,000 (one signed head per batch), and
  single-entry appends (one signed head each).
- verify: a log of ``entries`` entries built through the same append path with ``batch`` entries
  per signed head (1 = a head per entry, the densest a log gets), then ``AuditLog.verify()``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _entry(i: int) -> dict[str, Any]:
    return {"kind": "decision", "action": "findings", "officer": "tf-analyst-1", "case": "OP-DEMO",
            "allowed": True, "policies": ["financial-investigation"], "grant": "G-DEMO-1", "reasons": [],
            "resource": {"typologies": [], "limit": i % 50},
            "command": ["moneytrail", "findings", "--format", "json"]}


def _ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs) * 1e3, 4), "p90_ms": round(xs[int(len(xs) * 0.9)] * 1e3, 4),
            "min_ms": round(xs[0] * 1e3, 4)}


def bench_audit(entries: int = 1_000_000, guards: int = 1000, batch: int = 1,
                workdir: str | Path | None = None) -> dict[str, Any]:
    from moneytrail.audit import AuditLog, record_read
    from moneytrail.audit import keys as _keys
    from moneytrail.authority import engine, guard
    from moneytrail.authority.decide import decide
    from moneytrail.authority.registry import record_fti_order
    from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority
    from moneytrail.ingest import ingest_file, parse_mapping
    from moneytrail.workspace import Workspace

    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="moneytrail-bench-audit-"))
    tmp.mkdir(parents=True, exist_ok=True)
    old_keys = os.environ.get(_keys.ENV_KEY_DIR)
    os.environ[_keys.ENV_KEY_DIR] = str(tmp / "keys")
    out: dict[str, Any] = {"guards": guards, "entries": entries, "batch": batch}
    try:
        engine()
        ws = Workspace.open(tmp / "bench.duckdb")
        setup_demo_authority(ws)
        m = parse_mapping({"date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                           "payee": {"account": "to"}})
        for name, tags in (("bank.csv", ["subpoena"]), ("w2.csv", ["fti:Acme Staffing LLC"])):
            (tmp / name).write_text("d,amt,from,to\n" + "".join(f"2024-01-{1 + i % 28:02d},{100 + i},A{i},B\n"
                                                                 for i in range(200)) + f"2024-02-01,1,{name},Z\n")
            ingest_file(ws, tmp / name, "csv", mapping=m, legal_basis=tags)
        import datetime as dt
        record_fti_order(ws, DEMO_OFFICER, DEMO_CASE, judge="Hon. A. Judge", court="U.S. District Court",
                         order_date=dt.date.today() - dt.timedelta(days=1), scope="tax years 2022-2024",
                         subjects=["Acme Staffing LLC"])
        for _ in range(20):  # warm up
            guard(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)

        per_cmd, dec, grd, rd = [], [], [], []
        pc = time.perf_counter
        for i in range(guards):
            t0 = pc()
            d = guard(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)
            t1 = pc()
            record_read(ws, d.officer, d.case, {"table": "findings", "rows": i}, action="findings")
            t2 = pc()
            per_cmd.append(t2 - t0)
            grd.append(t1 - t0)
            rd.append(t2 - t1)
        for _ in range(guards):
            t0 = pc()
            decide(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)
            dec.append(pc() - t0)
        out["per_command"] = {"guard_plus_read": _ms(per_cmd), "guard": _ms(grd), "record_read": _ms(rd),
                              "decision_only": _ms(dec),
                              "cedar_requests_per_decision": 2, "note": "one FTI source under a 6103(i)(1) order"}

        log = AuditLog.of(ws)
        n_bulk = 100_000
        t0 = pc()
        for b in range(0, n_bulk, 1000):
            log.append([_entry(b + j) for j in range(1000)])
        bulk = pc() - t0
        t0 = pc()
        for i in range(5000):
            log.append([_entry(i)])
        single = pc() - t0
        out["append"] = {"batched_1000_entries_per_s": round(n_bulk / bulk), "single_entries_per_s": round(5000 / single)}
        ws.close()

        big = Workspace.open(tmp / "big.duckdb")
        blog = AuditLog.of(big)
        t0 = pc()
        for b in range(0, entries, batch):
            blog.append([_entry(b + j) for j in range(min(batch, entries - b))])
        out["build_seconds"] = round(pc() - t0, 1)
        blog = AuditLog(big.path, blog.log_id)
        t0 = pc()
        rep = blog.verify()
        out["verify"] = {"seconds": round(pc() - t0, 2), "ok": rep.ok, "entries": rep.entries, "heads": rep.heads,
                         "log_bytes": blog.log_path.stat().st_size, "heads_bytes": blog.heads_path.stat().st_size}
        big.close()
    finally:
        if old_keys is None:
            os.environ.pop(_keys.ENV_KEY_DIR, None)
        else:
            os.environ[_keys.ENV_KEY_DIR] = old_keys
        if workdir is None:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return out
