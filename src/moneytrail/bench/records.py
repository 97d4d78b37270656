"""``moneytrail bench detect --records``: the employer and contract typologies measured on
generated records (:mod:`moneytrail.synth.records`) with a seed other than the demo's.

Protocol: generate the records and bank D's files (``--seed``, default 11; the demo's is 7) for
12 months from 2020-03-01 (so the micro-purchase threshold changes inside the period: FAR
2.101, $3,500 -> $10,000 on 2020-08-31), ingest them through the normal readers into a temporary
workspace, run resolve -> graph -> detect with the employer and contract typologies at their
default parameters, and score each typology against what was planted for it:

* each planted instance is named by its evidence: the exact records (payments, awards) and
  the parties (vendor UEI, employer EIN, account; the office, for an office's single-offer
  awards) the truth file gives for it;
* a finding **matches** an instance when it cites one of the instance's records or names one
  of its parties (``vendor:UEI``, ``employer:EIN`` or the account itself);
* recall = instances matched by at least one finding of the typology / instances planted;
* precision = findings of the typology matching some planted instance / findings.

The look-alikes planted beside each scheme (docs/typologies.md) are ordinary data here: a
finding on one lowers precision. Nothing here knows the generated ids or sizes but what the
truth file says.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

#: which typologies each planted scheme is for (a scheme can be the ground truth of several)
SCHEMES = {
    "split_purchase": ("contracts", ("split_purchase",)),
    "duplicate_payment": ("contracts", ("duplicate_payment",)),
    "benford": ("contracts", ("benford",)),
    "vendor_employee_link": ("contracts", ("vendor_employee_link",)),
    "shell_vendor": ("contracts", ("shell_vendor",)),
    "sole_offer": ("contracts", ("single_offer", "bid_rotation")),
    "wage_gap": ("employers", ("wage_gap",)),
    "cash_payroll": ("employers", ("cash_payroll", "payday_cash")),
    "labor_broker": ("employers", ("labor_broker",)),
    "pooled_wages": ("employers", ("pooled_wages",)),
    "below_minimum_wage": ("employers", ("below_minimum_wage",)),
    "wage_deductions": ("employers", ("wage_deductions",)),
}
PREFIXES = ("vendor:", "employer:", "office:", "official:")


def _marks(ws, inst: dict[str, Any]) -> tuple[set[int], set[str]]:
    """An instance's records (ids) and parties, from the truth file's names for them."""
    recs: set[int] = set()
    if inst.get("payments"):
        recs |= {r for (r,) in ws.query("SELECT record_id FROM payments WHERE list_contains(?, payment_id)",
                                        [list(inst["payments"])])}
    awards = list(inst.get("awards") or []) + ([inst["award"]] if inst.get("award") else [])
    if awards:
        recs |= {r for (r,) in ws.query("SELECT record_id FROM awards WHERE list_contains(?, transaction_key)",
                                        [awards])}
    parties = {str(inst[k]).replace("-", "") for k in ("vendor", "employer", "account") if inst.get(k)}
    parties |= {str(x) for x in inst.get("vendors", [])} | {str(x) for x in inst.get("offices", [])}
    return recs, parties


def score(ws, truth: dict, typology: str, instances: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall and precision of ``typology``'s findings in ``ws`` against ``instances``."""
    marks = [_marks(ws, i) for i in instances]
    found = ws.query("""
        SELECT f.finding_id,
               (SELECT list(r.record_id) FROM finding_records r WHERE r.finding_id = f.finding_id),
               (SELECT list(a.account_id) FROM finding_accounts a WHERE a.finding_id = f.finding_id)
        FROM findings f WHERE f.typology = ?""", [typology])
    hit = [False] * len(instances)
    good = 0
    for _, recs, accts in found:
        recs = set(recs or ())
        parties = set()
        for a in accts or ():
            for p in PREFIXES:
                if a.startswith(p):
                    a = a[len(p):]
            parties.add(a.replace("-", ""))
        ok = False
        for k, (mrecs, mparties) in enumerate(marks):
            if recs & mrecs or parties & mparties:
                hit[k] = ok = True
        good += ok
    n = len(found)
    return {"planted": len(instances), "found": sum(hit), "recall": round(sum(hit) / len(instances), 3)
            if instances else None, "findings": n, "precision": round(good / n, 3) if n else None}


def bench_records(*, seed: int = 11, n_plants: int = 10, parameters: dict | None = None,
                  backend: str = "duckdb", backend_options: dict | None = None) -> dict[str, Any]:
    from moneytrail.detect import CONTRACTS, EMPLOYER
    from moneytrail.ingest import ingest_file
    from moneytrail.pipeline import run_pipeline
    from moneytrail.synth.records import generate_records
    from moneytrail.workspace import Workspace

    ids = [t.id for t in EMPLOYER + CONTRACTS]
    with tempfile.TemporaryDirectory(prefix="mt-bench-records-") as tmp:
        t0 = time.perf_counter()
        sc = generate_records(Path(tmp) / "data", seed=seed, start=date(2020, 3, 1), months=12, n_offices=8,
                              n_vendors=200, n_employers=40, n_plants=n_plants)
        with Workspace.open(Path(tmp) / "bench.duckdb") as ws:
            for p, fmt, m in sc.files:
                ingest_file(ws, p, fmt, mapping=m)
            t1 = time.perf_counter()
            res = run_pipeline(ws, stages=["resolve", "graph", "detect"],
                               params={"detect": {"typologies": ids, "parameters": parameters or {}}},
                               backend=backend, backend_options=backend_options)
            t2 = time.perf_counter()
            det = res["stages"]["detect"]
            out: dict[str, Any] = {}
            for scheme, (side, typs) in SCHEMES.items():
                inst = sc.truth[side][scheme]
                for typ in typs:
                    s = score(ws, sc.truth, typ, inst)
                    s["scheme"] = scheme
                    s["seconds"] = det.get("timings", {}).get(typ)
                    if typ in det.get("skipped", {}):
                        s["skipped"] = det["skipped"][typ]
                    out[typ] = s
            for typ in ids:        # a typology no scheme is planted for: its findings, for the record
                out.setdefault(typ, {"planted": 0, "findings": det.get("findings", {}).get(typ, 0)})
            return {"seed": seed, "plants_per_scheme": n_plants, "backend": backend,
                    "records": {p.name: n for p, n in ((p, sc.counts[p.name]) for p, _, _ in sc.files)},
                    "ingest_seconds": round(t1 - t0, 2), "detect_seconds": round(t2 - t1, 2),
                    "typologies": out}


__all__ = ["SCHEMES", "bench_records", "score"]


if __name__ == "__main__":     # pragma: no cover - python -m moneytrail.bench.records
    print(json.dumps(bench_records(), indent=1, default=str))
