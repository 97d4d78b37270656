"""Saving traces in the workspace (tables of migration 0003) and reading them back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from moneytrail.workspace import Workspace, now_utc

MAX_SAVED_SCHEDULE_ROWS = 100_000   # per rule; the CLI's own output is not limited by this


def _d(v) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def _insert(con, table: str, cols: list[str], rows: list[tuple]) -> None:
    """Bulk insert through Arrow (executemany costs about a millisecond a row)."""
    if not rows:
        return
    import pyarrow as pa

    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    arrow = pa.table({c: (pa.array([None if v is None else str(v) for v in vals], pa.string())
                          if any(isinstance(v, Decimal) for v in vals) else pa.array(vals))
                      for c, vals in data.items()})
    con.register("_trace_insert", arrow)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _trace_insert")
    finally:
        con.unregister("_trace_insert")


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in result["rules"].items():
        s = {k: r.get(k) for k in ("title", "definition", "legal_sources", "presumption", "conserving",
                                     "totals", "schedule_truncated")}
        if result["direction"] == "backward":
            s.update({k: r.get(k) for k in ("tainted", "tainted_share", "target_amount", "funding_tainted",
                                              "funding_note")})
        out[name] = s
    head = {k: result.get(k) for k in ("direction", "sources", "target", "as_of", "window_984", "events",
                                       "assumptions", "cone", "taint_sources", "max_hops", "level", "pools")
            if k in result}
    return {"trace": head, "rules": out}


def save(ws: Workspace, result: dict[str, Any], parameters: dict[str, Any], run_id: int | None = None) -> int:
    """Write one trace; return its id."""
    con = ws.con
    tid = con.execute("SELECT nextval('seq_trace')").fetchall()[0][0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [tid, run_id, now_utc(), result["direction"], list(result["rules"]),
                     json.dumps(parameters, default=str), json.dumps(_summary(result), default=str)])
        for rule, r in result["rules"].items():
            rows = [(tid, rule, acct, _d(a["tainted_received"]), _d(a["tainted_sent"]), _d(a["tainted_held"]),
                     _d(a["balance_end"]), a["first_tainted"], _d(a["tainted_received_984_window"]),
                     _d(a["s984_forfeitable"]), _d(a["unrecorded_funds"]))
                    for acct, a in r.get("accounts", {}).items()]
            _insert(con, "trace_accounts", ["trace_id", "rule", "account_id", "tainted_received", "tainted_sent",
                                            "tainted_held", "balance_end", "first_tainted",
                                            "tainted_received_984", "s984_forfeitable", "unrecorded_funds"], rows)
            flows = [(tid, rule, "exit" if f.get("to_pseudo") else "transfer", f["from"], f["to"],
                      _d(f["tainted"]), f["transactions"]) for f in r.get("flows", [])]
            for f in r.get("funding", []) if result["direction"] == "backward" else []:
                label = _origin_label(f)
                flows.append((tid, rule, "funding", label, f["entry"] or "", _d(f["amount"]), f["deposits"]))
            if result["direction"] == "backward":
                tacc = result["target"]["account"]
                by_entry: dict[str, Decimal] = {}
                for f in r.get("funding", []):
                    if f["entry"] and f["entry"] != tacc:
                        by_entry[f["entry"]] = by_entry.get(f["entry"], Decimal(0)) + _d(f["amount"])
                flows += [(tid, rule, "funding", e, tacc, v, None) for e, v in by_entry.items()]
            _insert(con, "trace_flows", ["trace_id", "rule", "kind", "from_account", "to_account", "amount",
                                         "transactions"], flows)
            sched = [(tid, rule, s["account"], s["seq"], s["ts"], s["tx_id"], s["event"], s["counterparty"],
                      _d(s["amount"]), _d(s["tainted"]), _d(s["balance_after"]), _d(s["tainted_after"]),
                      _d(s["clean_after"]), _d(s["unrecorded"]), s["in_984_window"], s["note"])
                     for s in r.get("schedule", [])[:MAX_SAVED_SCHEDULE_ROWS]]
            _insert(con, "trace_schedule", ["trace_id", "rule", "account_id", "seq", "ts", "tx_id", "event",
                                            "counterparty", "amount", "tainted", "balance_after", "tainted_after",
                                            "clean_after", "unrecorded", "in_984_window", "note"], sched)
            fund = [(tid, rule, f["origin"], f["tx_id"], f["from"], f["entry"], f["hops"], _d(f["amount"]),
                     f["share"], f["tainted"], f["deposits"], f["first_ts"], f["last_ts"])
                    for f in r.get("funding", [])]
            _insert(con, "trace_funding", ["trace_id", "rule", "origin", "tx_id", "from_account", "entry_account",
                                           "hops", "amount", "share", "tainted", "deposits", "first_ts", "last_ts"],
                    fund)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return tid


def _origin_label(f: dict[str, Any]) -> str:
    o = f["origin"]
    if o == "taint source":
        return f"source tx {f['tx_id']}"
    if o in ("opening balance", "unrecorded money"):
        return f"{o} of {f['from']}"
    return f"{f['from']} ({o})"
