"""Where findings are written: one function for every producer of findings (the typology
catalogue, the risk model's ``model_risk`` findings).

:func:`write_findings` replaces a typology's findings with new ones (the documented rule: findings
are replaced per typology each time it runs), giving each its accounts with their roles and its
exact evidence transaction ids, all under the run that produced them. What is read back is a
:class:`moneytrail.model.Finding`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Protocol

import pyarrow as pa

from moneytrail.workspace import now_utc


class FindingSource(Protocol):
    """What :func:`write_findings` needs of whatever produced the rows (a
    :class:`~moneytrail.detect.base.Typology`, or the risk model)."""

    id: str
    version: str
    source: str

    def explain(self, row: dict[str, Any], p: Any) -> str: ...


def finding_key(typology: str, version: str, tx_ids: Iterable[int], accounts: Iterable[dict[str, Any]],
                records: Iterable[dict[str, Any]] = ()) -> str:
    """A finding's stable key, derived from its content: the typology, its version, the evidence
    transactions, the evidence records (payroll lines, awards, payments, ...: only when there are
    some, so the keys of findings citing transactions alone are what they were) and the accounts
    with their roles (not the score, the run or the order found). A re-run that finds the same
    pattern gives the same key: triage recorded against it stays."""
    doc = [typology, version, sorted({int(t) for t in tx_ids}),
           sorted({(str(a["account_id"]), str(a["role"])) for a in accounts})]
    recs = sorted({(str(r["kind"]), int(r["record_id"])) for r in records})
    if recs:
        doc.append(recs)
    return "F" + hashlib.sha256(json.dumps(doc, separators=(",", ":")).encode()).hexdigest()[:16]


def _supersede(ws, run_id: int, typology: str, keep: set[str]) -> None:
    """Keep the typology's findings that this run no longer finds in ``findings_superseded``
    (with their accounts and evidence) before they are replaced: never deleted."""
    con = ws.con
    con.execute("""
        INSERT INTO findings_superseded (finding_key, finding_id, run_id, typology, typology_version, score,
                                         first_ts, last_ts, total_amount, explanation, accounts, tx_ids,
                                         superseded_at, superseded_by_run, records)
        SELECT f.finding_key, f.finding_id, f.run_id, f.typology, f.typology_version, f.score, f.first_ts,
               f.last_ts, f.total_amount, f.explanation,
               to_json((SELECT list({'account_id': a.account_id, 'role': a.role} ORDER BY a.role, a.account_id)
                          FROM finding_accounts a WHERE a.finding_id = f.finding_id)),
               (SELECT list(t.tx_id ORDER BY t.tx_id) FROM finding_transactions t WHERE t.finding_id = f.finding_id),
               ?, ?,
               to_json((SELECT list({'kind': r.kind, 'record_id': r.record_id} ORDER BY r.kind, r.record_id)
                          FROM finding_records r WHERE r.finding_id = f.finding_id))
        FROM findings f
        WHERE f.typology = ? AND f.finding_key IS NOT NULL AND NOT list_contains(?, f.finding_key)""",
                [now_utc(), run_id, typology, sorted(keep)])


def write_findings(ws, run_id: int, typ: FindingSource, params: Any, rows: list[dict[str, Any]], *,
                   currency: str | None = None) -> int:
    """Replace the findings of ``typ.id`` in ``ws`` with ``rows`` (each: ``score``, ``first_ts``,
    ``last_ts``, ``total_amount``, ``accounts`` [{account_id, role}], ``tx_ids``, optionally ``records``
    [{kind, record_id}] (payroll lines, awards, payments, ... cited as evidence), and what
    ``typ.explain`` reads), written under run ``run_id`` in the order given; ``params`` (with
    ``to_dict()``) is recorded with each, and ``currency``, the currency of their amounts (see
    :mod:`moneytrail.detect.currency`). Each gets its stable :func:`finding_key`; a finding of
    the previous run that is not found again is kept as superseded. Returns how many were written."""
    con = ws.con
    keys = [finding_key(typ.id, typ.version, r["tx_ids"], r["accounts"], r.get("records") or ())
            for r in rows]
    _supersede(ws, run_id, typ.id, set(keys))
    for t in ("finding_transactions", "finding_records"):
        con.execute(f"DELETE FROM {t} WHERE finding_id IN "
                    "(SELECT finding_id FROM findings WHERE typology = ?)", [typ.id])
    con.execute("DELETE FROM finding_accounts WHERE finding_id IN "
                "(SELECT finding_id FROM findings WHERE typology = ?)", [typ.id])
    con.execute("DELETE FROM findings WHERE typology = ?", [typ.id])
    if not rows:
        return 0
    start = ws.scalar("SELECT nextval('seq_finding')")
    n = len(rows)
    con.execute("SELECT setval('seq_finding', ?)", [start + n - 1]).fetchall()
    ids = list(range(start, start + n))
    now = now_utc()
    pjson = json.dumps(params.to_dict(), sort_keys=True)
    findings = pa.table({
        "finding_id": pa.array(ids, pa.int32()),
        "finding_key": keys,
        "run_id": pa.array([run_id] * n, pa.int32()),
        "typology": [typ.id] * n,
        "typology_version": [typ.version] * n,
        "parameters": [pjson] * n,
        "score": pa.array([float(r["score"]) for r in rows], pa.float64()),
        "first_ts": [r["first_ts"] for r in rows],
        "last_ts": [r["last_ts"] for r in rows],
        "total_amount": pa.array([r["total_amount"] for r in rows], pa.decimal128(38, 4)),
        "currency": pa.array([currency] * n, pa.string()),
        "explanation": [typ.explain(r, params) for r in rows],
        "red_flag_source": [typ.source] * n,
        "created_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
    })
    acc_f, acc_a, acc_r, tx_f, tx_t, rec_f, rec_i, rec_k = [], [], [], [], [], [], [], []
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
        for k, rid in dict.fromkeys((x["kind"], int(x["record_id"])) for x in (r.get("records") or ())):
            rec_f.append(fid)
            rec_i.append(rid)
            rec_k.append(k)
    accounts = pa.table({"finding_id": pa.array(acc_f, pa.int32()), "account_id": acc_a, "role": acc_r})
    txs = pa.table({"finding_id": pa.array(tx_f, pa.int32()), "tx_id": pa.array(tx_t, pa.int64())})
    recs = pa.table({"finding_id": pa.array(rec_f, pa.int32()), "record_id": pa.array(rec_i, pa.int64()),
                     "kind": pa.array(rec_k, pa.string())})
    for name, tbl in (("findings", findings), ("finding_accounts", accounts),
                      ("finding_transactions", txs), ("finding_records", recs)):
        con.register("_new", tbl)
        try:
            cols = ", ".join(tbl.column_names)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _new")
        finally:
            con.unregister("_new")
    return n
