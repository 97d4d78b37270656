"""One priority for the whole findings queue, comparable across typologies.

A typology's ``score`` says how far past its own threshold a finding is: a cycle's score and a
fan-in's are not on one scale, and neither weighs the money. The **priority** is the money a
finding is expected to hold in laundering:

    priority = sum over the finding's transactions of  p(tx) x amount(tx)

where ``p(tx)`` is the learned model's probability for the transaction (the newest model that
scored the case: ``scores``), calibrated: the booster's raw score is mapped through the isotonic
map fit on the model's validation part (:func:`moneytrail.score.model.calibrate`), so that p is
the laundering rate the model observed at that score, and ``amount(tx)`` its amount. Before any model has
scored the case, ``p`` is unknown and the priority is the money at stake alone (``p = 1``); the
basis says so. The amounts are the transfers' own when the case holds one currency; with several,
they are in US dollars at the case's rates, and a transfer without a rate counts 0 (said). Each finding's ``priority_basis`` explains its number in words: the model's
expected share, the money at stake, and how many of its transactions the model rated high.

Findings are ordered by priority (then score) in the findings list, exports, the web app and the
report. :func:`prioritize` is run by the pipeline after ``detect`` and after ``score``, and by
``moneytrail score``; it rewrites every finding's priority from the current scores.
"""

from __future__ import annotations

from typing import Any

#: a transaction the model rates at or above this is counted as "rated high" in the basis text
HIGH = 0.5


def _model(ws) -> int | None:
    if not ws.table_exists("scores"):
        return None
    return ws.scalar("SELECT max(model_id) FROM scores")


def calibration(ws, model_id: int) -> dict[str, Any] | None:
    """The model's calibration map (fit on its validation part when it was trained), or None for
    a model trained before calibration was kept."""
    import json

    raw = ws.scalar("SELECT validation FROM models WHERE model_id = ?", [model_id]) \
        if ws.table_exists("models") else None
    cal = json.loads(raw).get("calibration") if raw else None
    return cal if cal and cal.get("x") else None


def probabilities(ws, model_id: int, table: str = "_probabilities") -> bool:
    """Temp table ``table`` (tx_id, p): each transaction the model scored, with the model's
    calibrated probability (its raw score when it has no calibration map). True when calibrated.
    ``table`` is the caller's own name, never a value from outside."""
    import pyarrow as pa

    from moneytrail.sqlkit import ident

    cal = calibration(ws, model_id)
    if cal is None:
        ws.con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(table)} AS "
                       "SELECT tx_id, score AS p FROM scores WHERE model_id = ?", [model_id])
        return False
    ws.con.register("_calibration", pa.table({"x": pa.array(cal["x"], pa.float64()),
                                              "y": pa.array(cal["y"], pa.float64())}))
    try:
        ws.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {ident(table)} AS
            SELECT s.tx_id, coalesce(c.y, 0.0) AS p
            FROM (SELECT tx_id, score FROM scores WHERE model_id = ?) s
            ASOF LEFT JOIN _calibration c ON s.score >= c.x""", [model_id])
    finally:
        ws.con.unregister("_calibration")
    return True


def prioritize(ws) -> dict[str, Any]:
    """Write ``priority`` and ``priority_basis`` for every finding of ``ws``; returns a summary."""
    if not ws.scalar("SELECT count(*) FROM findings"):
        return {"findings": 0}
    mid = _model(ws)
    scored = mid is not None
    currencies = [r[0] for r in ws.query("SELECT DISTINCT currency FROM edges ORDER BY 1")] \
        if ws.table_exists("edges") else []
    # one currency: amounts as they are; several: in US dollars at the case's rates (a transfer
    # without a rate counts 0 and the basis says how many)
    usd = len(currencies) > 1
    amount = "coalesce(e.amount_usd, 0)" if usd else "coalesce(e.amount, t.amount)"
    calibrated = probabilities(ws, mid, "_priority_p") if scored else False
    p = "coalesce(s.p, 0)" if scored else "1.0"
    join_scores = ("LEFT JOIN _priority_p s ON s.tx_id = ft.tx_id" if scored else
                   "LEFT JOIN (SELECT CAST(NULL AS BIGINT) AS tx_id, CAST(NULL AS DOUBLE) AS p) s ON FALSE")
    args: list = []
    ws.con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _priority AS
        SELECT ft.finding_id,
               sum({p} * {amount}) AS expected,
               sum({amount}) AS at_stake,
               count(*) AS n,
               count(*) FILTER (WHERE {p} >= {HIGH}) AS high,
               count(s.tx_id) AS with_score,
               count(*) FILTER (WHERE e.amount_usd IS NULL) AS no_rate
        FROM (SELECT DISTINCT finding_id, tx_id FROM finding_transactions) ft
        LEFT JOIN edges e ON e.tx_id = ft.tx_id
        LEFT JOIN transactions t ON t.tx_id = ft.tx_id
        {join_scores}
        GROUP BY ft.finding_id""", args)
    cur = "USD" if usd else (currencies[0] if currencies else None)
    rows = ws.query("SELECT finding_id, expected, at_stake, n, high, with_score, no_rate FROM _priority")
    basis = []
    for fid, expected, at_stake, n, high, with_score, no_rate in rows:
        expected = float(expected or 0)
        at_stake = float(at_stake or 0)
        money = f"{at_stake:,.2f}" + (f" {cur}" if cur else "")
        if scored:
            share = expected / at_stake if at_stake else 0.0
            how = "calibrated on its validation period" if calibrated else "raw score, not calibrated"
            text = (f"expected laundering {expected:,.2f}{' ' + cur if cur else ''}: the risk model (model {mid}, "
                    f"{how}) "
                    f"puts {share:.0%} of the {money} at stake in this finding's {n:,} transaction(s) on "
                    f"laundering; {high:,} of them it rates {HIGH:.0%} or more")
            if with_score < n:
                text += f"; {n - with_score:,} were not scored (counted at 0)"
        else:
            text = (f"money at stake {money} in {n:,} transaction(s); no risk model has scored this case yet "
                    f"(moneytrail model train, then moneytrail score), so the money is not weighed by how "
                    f"likely it is laundering")
        if usd and no_rate:
            text += f"; {no_rate:,} transaction(s) without a USD rate counted at 0"
        basis.append((fid, expected, text))
    import pyarrow as pa

    tbl = pa.table({"finding_id": pa.array([b[0] for b in basis], pa.int32()),
                    "priority": pa.array([b[1] for b in basis], pa.float64()),
                    "basis": pa.array([b[2] for b in basis], pa.string())})
    ws.con.register("_priority_new", tbl)
    try:
        ws.con.execute("UPDATE findings SET priority = n.priority, priority_basis = n.basis "
                       "FROM _priority_new n WHERE findings.finding_id = n.finding_id")
    finally:
        ws.con.unregister("_priority_new")
        ws.con.execute("DROP TABLE IF EXISTS _priority")
        ws.con.execute("DROP TABLE IF EXISTS _priority_p")
    return {"findings": len(basis), "basis": f"model {mid}" if scored else "money at stake (no model)"}


#: the order of the findings queue everywhere: priority, then the typology's own score
ORDER = "f.priority DESC NULLS LAST, f.score DESC, f.finding_id"

__all__ = ["HIGH", "ORDER", "calibration", "prioritize", "probabilities"]
