"""``moneytrail bench scale``: the catalogue on a large synthetic graph with hub accounts.

The generator (DuckDB SQL, seeded) writes N transfers among A accounts over one year:

* background traffic between accounts drawn with a heavy-tailed (Zipf-like) choice, so some
  accounts are busy;
* ``hubs`` accounts (payment processors, payroll providers) that take part in 20 % of all
  transfers — each has tens of thousands of counterparties, the case that blows up naive
  path enumeration;
* planted patterns at random places (3-account value cycles, scatter-gathers, fan-ins), so
  the run also reports whether they are still found at scale.

The transfers are inserted as one synthetic source (its parameters recorded in ``sources``),
then resolve -> graph -> detect run with default parameters. Reported: seconds per stage and
per typology, transfers/second, findings, planted patterns found, and the process's peak
resident memory.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from moneytrail.workspace import TX_ID_STRIDE, Workspace, now_utc

GEN_SQL = """
CREATE OR REPLACE TEMP TABLE _gen AS
WITH base AS (
    SELECT i,
           hash(i, {seed}, 1) % 1000000 / 1000000.0 AS u1,
           hash(i, {seed}, 2) % 1000000 / 1000000.0 AS u2,
           hash(i, {seed}, 3) % 1000000 / 1000000.0 AS u3,
           hash(i, {seed}, 4) % 1000000 / 1000000.0 AS u4,
           hash(i, {seed}, 5) % 1000000 / 1000000.0 AS u5
    FROM range({n}) t(i)
)
SELECT i + 1 AS row,
       -- 20 % of transfers touch a hub (either side); the rest are Zipf-like picks
       CASE WHEN u5 < 0.10 THEN 'H' || (hash(i, {seed}, 6) % {hubs})::VARCHAR
            ELSE 'A' || (floor({accounts} * pow(u1, 2.2)))::BIGINT::VARCHAR END AS src,
       CASE WHEN u5 >= 0.10 AND u5 < 0.20 THEN 'H' || (hash(i, {seed}, 7) % {hubs})::VARCHAR
            ELSE 'A' || (floor({accounts} * pow(u2, 2.2)))::BIGINT::VARCHAR END AS dst,
       TIMESTAMP '2025-01-01' + to_seconds(floor(u3 * 365 * 86400)::BIGINT) AS ts,
       round(exp(4 + 3 * u4), 2)::DECIMAL(18, 4) AS amount
FROM base
"""


def _plant(con, n_base: int, seed: int, count: int) -> dict[str, int]:
    """Append planted cycles, scatter-gathers and fan-ins after the background rows."""
    import random

    r = random.Random(seed)
    rows = []
    t0 = 1735689600  # 2025-01-01 UTC
    for k in range(count):
        day = r.randrange(10, 340) * 86400 + t0
        amt = r.randrange(5000, 50000)
        a, b, c = f"C{k}a", f"C{k}b", f"C{k}c"
        rows += [(a, b, day, amt), (b, c, day + 86400, amt * 0.97), (c, a, day + 2 * 86400, amt * 0.94)]
        s, d = f"S{k}s", f"S{k}d"
        for j in range(4):
            m = f"S{k}m{j}"
            rows += [(s, m, day + j * 3600, 2000), (m, d, day + 3 * 86400 + j * 3600, 1980)]
        f = f"F{k}f"
        for j in range(10):
            rows += [(f"F{k}s{j}", f, day + j * 20000, 300 + j)]
    con.execute("CREATE OR REPLACE TEMP TABLE _plant (src VARCHAR, dst VARCHAR, t BIGINT, amount DOUBLE)")
    con.executemany("INSERT INTO _plant VALUES (?, ?, ?, ?)", rows)
    con.execute(f"""
        INSERT INTO _gen SELECT {n_base} + row_number() OVER (ORDER BY t, src, dst), src, dst,
               TIMESTAMP '1970-01-01' + to_seconds(t), amount::DECIMAL(18, 4) FROM _plant""")
    return {"cycles": count, "scatter_gathers": count, "fan_ins": count}


_FOUND = {
    "cycles": "SELECT count(DISTINCT fa.account_id) FROM findings f JOIN finding_accounts fa "
              "USING (finding_id) WHERE f.typology = 'cycle' AND fa.account_id LIKE 'C%a'",
    "scatter_gathers": "SELECT count(DISTINCT fa.account_id) FROM findings f JOIN finding_accounts fa USING (finding_id) "
                       "WHERE f.typology = 'scatter_gather' AND fa.role = 'source' AND fa.account_id LIKE 'S%s'",
    "fan_ins": "SELECT count(DISTINCT fa.account_id) FROM findings f JOIN finding_accounts fa "
               "USING (finding_id) WHERE f.typology = 'fan_in' AND fa.role = 'receiver' AND fa.account_id LIKE 'F%f'",
}


def bench_scale(*, transactions: int = 5_000_000, accounts: int = 200_000, hubs: int = 50,
                seed: int = 1, planted: int = 20, workdir: str | Path | None = None,
                backends: tuple[str, ...] = ("duckdb",),
                backend_options: dict[str, dict] | None = None) -> dict[str, Any]:
    """The graph generated and built once (resolve, graph: in the workspace); the catalogue then
    run by each of ``backends``. One backend: its figures at the top level as before; several:
    the first one's at the top level, each one's under ``backends``, ratios and whether the
    evidence found is the same."""
    from moneytrail.bench.detect import combine_engines, engine_figures, evidence_set
    from moneytrail.pipeline import run_pipeline

    runs: dict[str, dict[str, Any]] = {}
    evidence: dict[str, set] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "scale.duckdb") as ws:
            con = ws.con
            t0 = time.perf_counter()
            con.execute(GEN_SQL.format(n=int(transactions), accounts=int(accounts), hubs=int(hubs),
                                       seed=int(seed)))
            plants = _plant(con, int(transactions), seed, planted)
            params = {"transactions": transactions, "accounts": accounts, "hubs": hubs, "seed": seed,
                      "planted": plants}
            con.execute(
                "INSERT INTO sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, "
                "format, role, mapping, legal_basis, received_at) VALUES (1, 'synthetic-scale', '-', '-', 0, "
                "'-', 'synthetic', 'transactions', ?, ['synthetic-benchmark'], ?)",
                [json.dumps(params), now_utc()])
            con.execute(f"""
                INSERT INTO transactions (tx_id, source_id, source_row, ts, orig_account, bene_account,
                                          amount, currency, channel)
                SELECT {TX_ID_STRIDE} + row, 1, row, ts, src, dst, amount, 'USD', 'transfer'
                FROM _gen WHERE src <> dst""")
            con.execute("DROP TABLE _gen")
            n = ws.scalar("SELECT count(*) FROM transactions")
            gen_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            prep = run_pipeline(ws, stages=["resolve", "graph"])
            prep_s = time.perf_counter() - t1
            hub_degree = ws.scalar("SELECT max(in_degree + out_degree) FROM nodes")
            for b in backends:
                t2 = time.perf_counter()
                res = run_pipeline(ws, stages=["detect"], backend=b, backend_options=(backend_options or {}).get(b))
                detect_s = time.perf_counter() - t2
                seconds = prep_s + detect_s
                det = res["stages"]["detect"]
                runs[b] = {
                    "transactions": n,
                    "accounts": accounts,
                    "hubs": hubs,
                    "max_degree": hub_degree,
                    "generate_seconds": round(gen_s, 2),
                    "seconds": round(seconds, 2),
                    "detect_seconds": round(detect_s, 2),
                    "transactions_per_second": round(n / seconds, 1),
                    "stage_seconds": {**{k: v.get("seconds") for k, v in prep["stages"].items()},
                                      "detect": det.get("seconds")},
                    "typology_seconds": det["timings"],
                    "findings": det["findings"],
                    "planted": plants,
                    "planted_found": {k: ws.scalar(q) for k, q in _FOUND.items()},
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "backend": b,
                    **engine_figures(det),
                }
                evidence[b] = evidence_set(ws)
    return combine_engines(runs, evidence)
