"""``moneytrail bench trace``: forward tracing from many sources through a large synthetic ledger.

The ledger is generated directly in DuckDB with the seeded generator of ``bench scale``
(Zipf-like background traffic among ``accounts`` accounts plus ``hubs`` hub accounts that
take part in 20 % of all transfers, one year), written as an ``edges`` table with the
columns the tracing engine reads; 2 % of the transfers are turned into cash withdrawals (to
the pseudo-account ``cash``) so taint also leaves the ledger. Every account opens with
5,000.00 (payments beyond the balance are handled as unrecorded money, as in a real trace).
``sources`` transactions are drawn at random (seeded) as taint sources.

Measured: the one-off preparation (numbering accounts, sorting the events in DuckDB) and,
per rule, the ordered pass (Arrow batches -> Python loop) without schedules or flow lists
(as a totals-only run would be), in transactions per second; the process's peak resident
memory after each rule.

Also measured: the ledger's connected components (accounts joined by a transfer between two real
accounts; money leaving to a pseudo-account joins nothing). Taint moves only along transfers, so
an ordered pass over one component never reads another's state: a ledger splits into independent
passes, one per component (or per group of components), and that is how tracing scales out. The
figures say how far that goes for this ledger: how many components, the largest one's share of
the transfers, and the share of the transfers in components a source reaches.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from moneytrail.bench.scale import GEN_SQL
from moneytrail.trace import rules as _rules
from moneytrail.trace.engine import Ledger, Source, run_pass, summarize, window_for
from moneytrail.workspace import TX_ID_STRIDE, Workspace

OPENING_UNITS = 5_000 * 10_000


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_trace(*, transactions: int = 10_000_000, n_sources: int = 1_000, accounts: int = 200_000,
                hubs: int = 50, rules: list[str] | None = None, seed: int = 1,
                workdir: str | Path | None = None) -> dict[str, Any]:
    names = rules or [r.NAME for r in _rules.RULES]
    for n in names:
        _rules.get(n)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "trace-bench.duckdb") as ws:
            con = ws.con
            con.execute("SET enable_progress_bar = false")   # stdout carries the JSON result
            t0 = time.perf_counter()
            con.execute(GEN_SQL.format(n=int(transactions), accounts=int(accounts), hubs=int(hubs),
                                       seed=int(seed)))
            con.execute(f"""
                CREATE TABLE edges AS
                SELECT {TX_ID_STRIDE} + row AS tx_id, src,
                       CASE WHEN hash(row, {int(seed)}, 9) % 50 = 0 THEN 'cash' ELSE dst END AS dst,
                       ts, amount, false AS src_pseudo,
                       hash(row, {int(seed)}, 9) % 50 = 0 AS dst_pseudo
                FROM _gen WHERE src <> dst""")
            con.execute("DROP TABLE _gen")
            n = con.execute("SELECT count(*) FROM edges").fetchall()[0][0]
            src_ids = [r[0] for r in con.execute(
                f"SELECT tx_id FROM edges WHERE NOT dst_pseudo ORDER BY hash(tx_id, {int(seed)}, 11) "
                f"LIMIT {int(n_sources)}").fetchall()]
            acct_ids = [r[0] for r in con.execute(
                "SELECT DISTINCT src FROM edges UNION SELECT dst FROM edges WHERE NOT dst_pseudo").fetchall()]
            gen_s = time.perf_counter() - t0
            rss_gen = _rss_mb()
            t1 = time.perf_counter()
            ledger = Ledger(con, relation="edges", sources=[Source(tx_id=t) for t in src_ids],
                            openings={a: OPENING_UNITS for a in acct_ids})
            prep_s = time.perf_counter() - t1
            window = window_for(ledger.as_of)
            out_rules: dict[str, Any] = {}
            for name in names:
                res = run_pass(ledger, name, schedule=False, flows=False, window=window)
                s = summarize(ledger, res, detail=False)
                out_rules[name] = {
                    "seconds": round(res.seconds, 2),
                    "transactions_per_second": round(res.events / res.seconds),
                    "held": s["totals"]["held"], "left_ledger": s["totals"]["left_ledger"],
                    "sources_total": s["totals"]["sources"], "accounts_reached": s["totals"]["accounts_reached"],
                    "accounts_holding": s["totals"]["accounts_holding"],
                    "peak_rss_mb": _rss_mb(),
                }
                del res
            ledger.drop()
            t3 = time.perf_counter()
            comps = components(con, src_ids)
            comps["seconds"] = round(time.perf_counter() - t3, 2)
    return {
        "transactions": n, "accounts": accounts, "hubs": hubs, "sources": len(src_ids), "seed": seed,
        "generate_seconds": round(gen_s, 2), "prepare_seconds": round(prep_s, 2),
        "rss_after_generate_mb": rss_gen, "rules": out_rules, "peak_rss_mb": _rss_mb(),
        "components": comps,
    }


def components(con, source_tx_ids: list[int], relation: str = "edges") -> dict[str, Any]:
    """Connected components of ``relation``'s accounts (transfers between two real accounts),
    with scipy's union of the sparse adjacency: their count, the largest one's accounts and share
    of the transfers, and the share of the transfers in the components the sources lie in."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute(f"""CREATE OR REPLACE TEMP TABLE _cc_num AS
        SELECT a, (row_number() OVER (ORDER BY a)) - 1 AS i
        FROM (SELECT src AS a FROM {relation} WHERE NOT src_pseudo
              UNION SELECT dst FROM {relation} WHERE NOT dst_pseudo)""")
    e = con.execute(f"""SELECT s.i AS si, d.i AS di, x.tx_id FROM {relation} x
        JOIN _cc_num s ON s.a = x.src JOIN _cc_num d ON d.a = x.dst
        WHERE NOT x.src_pseudo AND NOT x.dst_pseudo""").fetchnumpy()
    n = con.execute("SELECT count(*) FROM _cc_num").fetchall()[0][0]
    g = coo_matrix((np.ones(len(e["si"]), dtype=np.int8), (e["si"], e["di"])), shape=(n, n))
    k, label = connected_components(g, directed=False)
    edge_comp = label[e["si"]]
    per_comp = np.bincount(edge_comp, minlength=k)
    sizes = np.bincount(label, minlength=k)
    big = int(np.argmax(per_comp)) if k else 0
    src = np.isin(e["tx_id"], np.asarray(source_tx_ids, dtype=e["tx_id"].dtype))
    reached = np.unique(edge_comp[src])
    total = int(len(edge_comp))
    con.execute("DROP TABLE _cc_num")
    return {
        "components": int(k), "accounts": int(n), "transfers_between_accounts": total,
        "largest_accounts": int(sizes[big]) if k else 0,
        "largest_transfer_share": round(int(per_comp[big]) / total, 4) if total else 0.0,
        "components_with_sources": int(len(reached)),
        "transfer_share_in_source_components": round(int(per_comp[reached].sum()) / total, 4) if total else 0.0,
    }
