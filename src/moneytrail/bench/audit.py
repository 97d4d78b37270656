"""``moneytrail bench audit``: what authorization and the audit log cost.

- per command: one :func:`guard` (Cedar decision + audit append with a signed tree head) and one
  :func:`record_read` (another append), as a reading command does, in a workspace with the demo
  task force and two evidence sources, one of them federal tax information under a 6103(i)(1)
  order (so the decision also asks Cedar about reading that source); median and p90 over
  ``guards`` calls, in three states:

  - ``warm``: the workspace is open and nothing changed since the last decision (a Python API
    session, a server): the decision state comes from the per-workspace cache;
  - ``after_change``: something decisions read changed before every call, so each decision
    reads the registry and the sources' tags from DuckDB again (two statements);
  - ``new_process``: a fresh interpreter opens the workspace and runs two commands' guards and
    reads, as a CLI process does one: the one-time costs (importing cedarpy, validating and
    parsing the policies, loading the key), the first command and the second, ``runs`` times.

- peer: the plain design the log file replaces: the same entry inserted into a DuckDB table, one
  autocommitted statement per entry, timed in the same run.
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


_NEW_PROCESS = r"""
import json, sys, time
pc = time.perf_counter
t0 = pc()
from moneytrail.workspace import Workspace
t1 = pc()
import cedarpy, cryptography.hazmat.primitives.asymmetric.ed25519
t2 = pc()
from moneytrail.authority import engine, guard
from moneytrail.audit import record_read
engine()
t3 = pc()
ws = Workspace.open(sys.argv[1])
t4 = pc()
d = guard(ws, "findings", officer=sys.argv[2], case=sys.argv[3])
record_read(ws, d.officer, d.case, {"table": "findings"}, action="findings")
t5 = pc()
d = guard(ws, "findings", officer=sys.argv[2], case=sys.argv[3])
record_read(ws, d.officer, d.case, {"table": "findings"}, action="findings")
t6 = pc()
ws.close()
print(json.dumps({"import_workspace": t1 - t0, "import_cedarpy_cryptography": t2 - t1,
                  "policies_validate_parse": t3 - t2, "open_workspace": t4 - t3,
                  "first_command": t5 - t4, "second_command": t6 - t5}))
"""


def _new_process(path: Path, runs: int) -> dict[str, Any]:
    """Fresh interpreters, each opening the workspace and running two commands' guards."""
    import json
    import subprocess
    import sys

    from moneytrail.demo import DEMO_CASE, DEMO_OFFICER

    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        r = subprocess.run([sys.executable, "-c", _NEW_PROCESS, str(path), DEMO_OFFICER, DEMO_CASE],
                           capture_output=True, text=True, env=dict(os.environ), check=True)
        for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(k, []).append(v)
    return {"runs": runs, **{k: _ms(v) for k, v in samples.items()}}


def bench_audit(entries: int = 1_000_000, guards: int = 1000, batch: int = 1,
                workdir: str | Path | None = None, runs: int = 7) -> dict[str, Any]:
    from moneytrail.audit import AuditLog, record_read, start_log
    from moneytrail.audit import keys as _keys
    from moneytrail.authority import engine, guard
    from moneytrail.authority.decide import decide
    from moneytrail.authority.registry import record_fti_order
    from moneytrail.demo import DEMO_CASE, DEMO_COUNSEL, DEMO_OFFICER, setup_demo_authority
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
        m = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                           "payee": {"account": "to"}})
        for name, tags in (("bank.csv", ["subpoena"]), ("w2.csv", ["fti:Acme Staffing LLC"])):
            (tmp / name).write_text("d,amt,from,to\n" + "".join(f"2024-01-{1 + i % 28:02d},{100 + i},A{i},B\n"
                                                                 for i in range(200)) + f"2024-02-01,1,{name},Z\n")
            ingest_file(ws.for_case(DEMO_CASE), tmp / name, "csv", mapping=m, legal_basis=tags)
        import datetime as dt
        record_fti_order(ws, DEMO_COUNSEL, DEMO_CASE, judge="Hon. A. Judge", court="U.S. District Court",
                         order_date=dt.date.today() - dt.timedelta(days=1), scope="tax years 2022-2024",
                         subjects=["Acme Staffing LLC"])
        for _ in range(20):  # warm up
            guard(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)

        pc = time.perf_counter

        def commands(changed: bool) -> dict[str, Any]:
            per_cmd, dec, grd, rd = [], [], [], []
            for i in range(guards):
                if changed:
                    ws.authority_changed()
                t0 = pc()
                d = guard(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)
                t1 = pc()
                record_read(ws, d.officer, d.case, {"table": "findings", "rows": i}, action="findings")
                t2 = pc()
                per_cmd.append(t2 - t0)
                grd.append(t1 - t0)
                rd.append(t2 - t1)
            for _ in range(guards):
                if changed:
                    ws.authority_changed()
                t0 = pc()
                decide(ws, "findings", officer=DEMO_OFFICER, case=DEMO_CASE)
                dec.append(pc() - t0)
            return {"guard_plus_read": _ms(per_cmd), "guard": _ms(grd), "record_read": _ms(rd),
                    "decision_only": _ms(dec)}

        out["per_command"] = {"warm": commands(False), "after_change": commands(True),
                              "cedar_requests_per_decision": 2, "note": "one FTI source under a 6103(i)(1) order"}
        # the peer: one autocommitted DuckDB INSERT per entry
        import json as _json
        ws.con.execute("CREATE TABLE IF NOT EXISTS bench_peer_log (seq BIGINT, ts VARCHAR, entry VARCHAR)")
        peer = []
        for i in range(min(guards, 500)):
            e = _json.dumps(_entry(i), sort_keys=True)
            t0 = pc()
            ws.con.execute("INSERT INTO main.bench_peer_log VALUES (?, ?, ?)", [i, "now", e])
            peer.append(pc() - t0)
        ws.con.execute("DROP TABLE main.bench_peer_log")
        out["peer_duckdb_insert_per_entry"] = _ms(peer)
        warm = out["per_command"]["warm"]
        out["per_command"]["peer_insert_over_record_read"] = round(
            out["peer_duckdb_insert_per_entry"]["median_ms"] / warm["record_read"]["median_ms"], 2)
        ws.close()
        out["per_command"]["new_process"] = _new_process(tmp / "bench.duckdb", runs)
        ws = Workspace.open(tmp / "bench.duckdb")

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
        start_log(big, "bench")                      # entry 0, as every log begins
        for b in range(1, entries, batch):
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
