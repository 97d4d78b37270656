"""``moneytrail bench detect``: the typology catalogue measured on an AMLSim dataset.

Protocol: ingest the AMLSim folder (transactions + accounts + alert typologies) into a
temporary workspace through the normal ``amlsim`` reader, run resolve -> graph -> detect with
every typology at its default parameters, and score each AMLSim alert type against the
moneytrail typology of the same name:

* recall = share of the transactions labeled with that alert type (via
  ``alert_transactions``) that lie in at least one finding of the matching typology;
* precision = share of the transactions in that typology's findings that are laundering
  (of any alert type);
* for ``cycle`` also ``closable_share``: the share of cycle-labeled transactions that lie on a
  loop that closes in the data (:func:`closable_cycle_transfers`), and ``recall_of_closable``,
  the recall against those (what the data allows a cycle detector to find);
* for ``scatter_gather`` and ``gather_scatter`` also ``shape_share`` and ``recall_of_shape``:
  the share of the labeled transactions that form the typology's smallest shape inside their
  own alert (:func:`shape_transfers`), and the recall of those. A simulator's label names the
  scheme it planted, not the shape its transfers ended up in.

``random`` (AMLSim's random walk) has no typology of its own; it is scored against the
findings of every typology (``matched_by: "any"``). Nothing here knows the dataset: no ids,
dates or sizes are used but those read from it.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from moneytrail.errors import InputError

ALERT_TYPES = ("fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter", "bipartite", "stack",
               "random")


def closable_cycle_transfers(ws) -> set[int]:
    """The cycle-labeled transfers that lie on a loop that closes in the data: within each cycle
    alert's own transfers, a transfer u -> v is on a loop when v reaches u again through the
    alert's transfers (in any time order). A loop whose closing hop the simulator never made
    is no loop, and no cycle detector can find it."""
    by_alert: dict[Any, list[tuple[int, str, str]]] = {}
    for alert, tx, src, dst in ws.query(
            "SELECT l.alert_id, l.tx_id, t.orig_account, t.bene_account FROM labels l "
            "JOIN transactions t USING (tx_id) WHERE l.alert_type = 'cycle'"):
        by_alert.setdefault(alert, []).append((tx, src, dst))
    out: set[int] = set()
    for txs in by_alert.values():
        nxt: dict[str, set[str]] = {}
        for _, u, v in txs:
            nxt.setdefault(u, set()).add(v)
        for tx, u, v in txs:
            seen, todo = {v}, [v]
            while todo:
                x = todo.pop()
                if x == u:
                    out.add(tx)
                    break
                for y in nxt.get(x, ()):
                    if y not in seen:
                        seen.add(y)
                        todo.append(y)
    return out


def shape_transfers(ws, alert_type: str) -> set[int]:
    """The labeled transfers of ``alert_type`` that form that typology's smallest shape inside
    their own alert, in time order (no parameter of ours enters: the shape at its minimum):

    * ``scatter_gather``: two parallel paths s -> m1 -> d and s -> m2 -> d (m1 != m2, d != s),
      each second hop at or after its first;
    * ``gather_scatter``: a hub that receives from at least two accounts and pays at least two,
      its payments at or after its first receipt.
    """
    if alert_type not in ("scatter_gather", "gather_scatter"):
        raise ValueError(f"no smallest shape defined for {alert_type!r}")
    rows = ws.query("SELECT l.alert_id, l.tx_id, t.orig_account, t.bene_account, t.ts FROM labels l "
                    "JOIN transactions t USING (tx_id) WHERE l.alert_type = ?", [alert_type])
    by_alert: dict[Any, list[tuple[int, str, str, Any]]] = {}
    for alert, tx, src, dst, ts in rows:
        by_alert.setdefault(alert, []).append((tx, src, dst, ts))
    out: set[int] = set()
    for txs in by_alert.values():
        if alert_type == "scatter_gather":
            paths: dict[tuple[str, str], dict[str, set[int]]] = {}
            for tx1, s, m, t1 in txs:
                for tx2, m2, d, t2 in txs:
                    if m2 == m and d != s and t2 >= t1:
                        paths.setdefault((s, d), {}).setdefault(m, set()).update((tx1, tx2))
            for mids in paths.values():
                if len(mids) >= 2:
                    out.update(*mids.values())
        else:
            first_in: dict[str, Any] = {}
            for _, s, d, ts in txs:
                first_in[d] = min(first_in.get(d, ts), ts)
            for h in first_in:
                ins = [(tx, s) for tx, s, d, _ in txs if d == h]
                outs = [(tx, d) for tx, s, d, ts in txs if s == h and ts >= first_in[h]]
                if len({s for _, s in ins}) >= 2 and len({d for _, d in outs}) >= 2:
                    out.update(tx for tx, _ in ins + outs)
    return out


def score_workspace(ws, typology_ids: list[str], timings: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for at in ALERT_TYPES:
        matched = [at] if at in typology_ids else list(typology_ids)
        if not matched:
            continue
        qs = ", ".join("?" * len(matched))
        r = ws.records(f"""
            WITH ft AS (SELECT DISTINCT t.tx_id FROM findings f JOIN finding_transactions t USING (finding_id)
                        WHERE f.typology IN ({qs}))
            SELECT (SELECT count(*) FROM labels WHERE alert_type = ?) AS n,
                   (SELECT count(*) FROM labels WHERE alert_type = ? AND tx_id IN (SELECT tx_id FROM ft)) AS hit,
                   (SELECT count(*) FROM ft) AS in_findings,
                   (SELECT count(*) FROM ft JOIN labels l USING (tx_id) WHERE l.is_laundering) AS laundering,
                   (SELECT count(*) FROM findings WHERE typology IN ({qs})) AS findings
        """, matched + [at, at] + matched)[0]
        out[at] = {
            "recall": round(r["hit"] / r["n"], 4) if r["n"] else None,
            "precision": round(r["laundering"] / r["in_findings"], 4) if r["in_findings"] else None,
            "findings": r["findings"],
            "seconds": round(sum(timings.get(m, 0.0) for m in matched), 3),
            "labeled_transactions": r["n"],
            "matched_by": at if at in typology_ids else "any",
        }
        # what the data allows: the labeled transfers a detector of this typology can find
        allowed = ("closable", closable_cycle_transfers(ws)) if at == "cycle" and r["n"] else \
            ("shape", shape_transfers(ws, at)) if at in ("scatter_gather", "gather_scatter") and r["n"] else None
        if allowed:
            name, ids = allowed
            hit = ws.scalar(f"""
                SELECT count(DISTINCT t.tx_id) FROM findings f JOIN finding_transactions t USING (finding_id)
                WHERE f.typology IN ({qs}) AND t.tx_id IN (SELECT unnest(?))""", matched + [sorted(ids)])
            out[at][f"{name}_share"] = round(len(ids) / r["n"], 4)
            out[at][f"{name}_transactions"] = len(ids)
            out[at][f"recall_of_{name}"] = round(hit / len(ids), 4) if ids else None
    return out


def evidence_set(ws) -> set[tuple[str, tuple[int, ...]]]:
    return {(t, tuple(sorted(txs))) for t, txs in ws.query(
        "SELECT f.typology, list(ft.tx_id) FROM findings f JOIN finding_transactions ft USING (finding_id) "
        "GROUP BY f.finding_id, f.typology")}


def bench_detect(data: str | Path, *, workdir: str | Path | None = None,
                 parameters: dict | None = None, backends: tuple[str, ...] = ("duckdb",),
                 backend_options: dict[str, dict] | None = None) -> dict[str, Any]:
    """The catalogue on one dataset, on each of ``backends`` in turn over the same workspace
    (ingest, resolve and graph once). One backend: its figures at the top level, as before.
    Several: the first backend's figures at the top level, every backend's under ``backends``,
    their ratios and whether they found the same evidence."""
    from moneytrail.detect import TYPOLOGIES
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.workspace import Workspace

    data = Path(data)
    if not data.exists():
        raise InputError("AMLSim dataset folder not found", path=str(data))
    runs: dict[str, dict[str, Any]] = {}
    evidence: dict[str, set] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        with Workspace.open(Path(tmp) / "bench.duckdb") as ws:
            t0 = time.perf_counter()
            ing = ingest_file(ws, data, "amlsim")
            t_ingest = time.perf_counter() - t0
            if not ws.scalar("SELECT count(*) FROM labels WHERE alert_type IS NOT NULL"):
                raise InputError("no alert typologies found (alert_transactions.csv[.gz] missing?)",
                                 path=str(data))
            t1 = time.perf_counter()
            prep = run_pipeline(ws, stages=["resolve", "graph"])
            prep_s = time.perf_counter() - t1
            n = ing.stored
            for b in backends:
                t2 = time.perf_counter()
                res = run_pipeline(ws, stages=["detect"], params={"detect": {"parameters": parameters or {}}},
                                   backend=b, backend_options=(backend_options or {}).get(b))
                detect_s = time.perf_counter() - t2
                det = res["stages"]["detect"]
                seconds = prep_s + detect_s
                runs[b] = {
                    "typologies": score_workspace(ws, [t.id for t in TYPOLOGIES], det["timings"]),
                    "transactions": n,
                    "seconds": round(seconds, 3),
                    "detect_seconds": round(detect_s, 3),
                    "transactions_per_second": round(n / seconds, 1) if seconds else None,
                    "ingest_seconds": round(t_ingest, 3),
                    "stage_seconds": {**{k: v.get("seconds") for k, v in prep["stages"].items()},
                                      "detect": det.get("seconds")},
                    "typology_seconds": det["timings"],
                    "findings": det["findings"],
                    "skipped": det.get("skipped", {}),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                    "dataset": os.path.abspath(data),
                    "backend": b,
                    **engine_figures(det),
                }
                evidence[b] = evidence_set(ws)
    return combine_engines(runs, evidence)


def engine_figures(det: dict[str, Any]) -> dict[str, Any]:
    """For Spark: the driver JVM's peak memory and, per typology, its plans' shuffles."""
    out: dict[str, Any] = {}
    if "engine_stats" in det:
        out["engine_stats"] = det["engine_stats"]
        from moneytrail.backends.spark import jvm_peak_rss_mb

        out["jvm_peak_rss_mb"] = jvm_peak_rss_mb()
    return out


def combine_engines(runs: dict[str, dict[str, Any]], evidence: dict[str, set]) -> dict[str, Any]:
    first = next(iter(runs))
    out = dict(runs[first])
    if len(runs) > 1:
        base = runs[first]
        out["backends"] = runs
        out["ratio"] = {b: {"detect_seconds": round(r["detect_seconds"] / base["detect_seconds"], 2)
                            if base["detect_seconds"] else None,
                            "typologies": {t: round(s / base["typology_seconds"][t], 1)
                                           for t, s in r["typology_seconds"].items()
                                           if base["typology_seconds"].get(t)}}
                        for b, r in runs.items() if b != first}
        out["identical_findings"] = all(evidence[b] == evidence[first] for b in evidence)
        out["findings_by_backend"] = {b: len(e) for b, e in evidence.items()}
    return out
