"""Migration 0013: traces saved under the old "haircut" (the replenishment reading) become
"replenish", in the main schema and in a case schema, so they are not read as the proportional rule."""

from __future__ import annotations

import json

from moneytrail.demo import DEMO_CASE, setup_demo_authority
from moneytrail.report import render_report
from moneytrail.trace import trace
from moneytrail.trace.store import save
from moneytrail.workspace import SCHEMA_VERSION, Workspace
from moneytrail.workspace.cases import schema_name

from trace_helpers import load_ledger, tx_id

LEDGER = [
    ("2024-01-01", "X", "A", 100),      # 1: tainted
    ("2024-01-02", "cash", "A", 50),
    ("2024-01-03", "A", "Z", 120),
    ("2024-01-04", "cash", "A", 200),
]
TABLES = ("trace_accounts", "trace_flows", "trace_schedule", "trace_funding")
OLD_TITLE = "Haircut (tainted up to tainted deposits)"


def _as_saved_before_13(con, schema: str) -> None:
    """Make the traces in ``schema`` look as version 12 saved them: the rule named haircut."""
    for t in TABLES:
        con.execute(f"UPDATE {schema}.{t} SET rule = 'haircut' WHERE rule = 'replenish'")
    for tid, params, summary in con.execute(f"SELECT trace_id, parameters, summary FROM {schema}.traces").fetchall():
        p, s = json.loads(params), json.loads(summary)
        p["rules"] = ["haircut" if r == "replenish" else r for r in p["rules"]]
        r = s["rules"].pop("replenish")
        r["title"] = OLD_TITLE
        if r.get("funding_note"):
            r["funding_note"] = r["funding_note"].replace("replenish says", "haircut says")
        s["rules"]["haircut"] = r
        con.execute(f"UPDATE {schema}.traces SET parameters = ?, summary = ?, "
                    f"rules = list_transform(rules, lambda x: CASE WHEN x = 'replenish' THEN 'haircut' ELSE x END) "
                    f"WHERE trace_id = ?", [json.dumps(p), json.dumps(s), tid])


def _check_renamed(con, schema: str, backward: bool) -> None:
    for t in TABLES:
        rules = {r[0] for r in con.execute(f"SELECT DISTINCT rule FROM {schema}.{t}").fetchall()}
        assert "haircut" not in rules, (schema, t)
    assert con.execute(f"SELECT count(*) FROM {schema}.trace_accounts WHERE rule = 'replenish'").fetchall()[0][0] > 0
    for rules, params, summary, direction in con.execute(
            f"SELECT rules, parameters, summary, direction FROM {schema}.traces").fetchall():
        p, s = json.loads(params), json.loads(summary)
        assert rules == ["libr", "replenish"] and p["rules"] == ["libr", "replenish"], (schema, rules, p)
        assert set(s["rules"]) == {"libr", "replenish"}, schema
        r = s["rules"]["replenish"]
        assert r["title"].startswith("Replenishment") and r["conserving"] is False
        assert r["totals"]["held"] is not None
        if direction == "backward":
            assert r["funding_note"].startswith("replenish says"), r["funding_note"]
    assert con.execute(f"SELECT count(*) FROM {schema}.traces").fetchall()[0][0] == (2 if backward else 1)


def test_a_version_12_workspace_opens_with_haircut_traces_renamed_replenish(tmp_path):
    from moneytrail.trace.backward import Target

    path = tmp_path / "old.duckdb"
    with Workspace.open(path) as ws:
        setup_demo_authority(ws)
        cw = ws.for_case(DEMO_CASE)
        load_ledger(cw, LEDGER)
        params = {"direction": "forward", "rules": ["libr", "replenish"], "openings": {"haircut": "5"}}
        fwd = trace(cw, [tx_id(1)], rule=["libr", "replenish"])
        back = trace(cw, [tx_id(1)], rule=["libr", "replenish"], direction="backward",
                     target=Target(tx_id=tx_id(3)))
        save(cw, fwd, params)                                    # in the case's schema
        save(cw, back, dict(params, direction="backward"))
        save(ws, fwd, params)                                    # and in main's
        case_schema = schema_name(DEMO_CASE)
        _as_saved_before_13(ws.con, "main")
        _as_saved_before_13(ws.con, case_schema)
        ws.con.execute("DELETE FROM schema_migrations WHERE version = 13")
        ws.con.execute(f"UPDATE {case_schema}.case_meta SET schema_version = 12")
        assert ws.con.execute("SELECT count(*) FROM main.trace_accounts WHERE rule = 'haircut'").fetchall()[0][0]
    assert SCHEMA_VERSION >= 13

    with Workspace.open(path) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        _check_renamed(ws.con, "main", backward=False)
        # an account named "haircut" in the parameters is an account, not a rule: left as it is
        assert json.loads(ws.scalar("SELECT parameters FROM main.traces"))["openings"] == {"haircut": "5"}
        # the case schema is brought up when the case is next opened
        assert ws.con.execute(f"SELECT count(*) FROM {case_schema}.trace_accounts WHERE rule = 'haircut'"
                              ).fetchall()[0][0] > 0
        cw = ws.for_case(DEMO_CASE)
        assert ws.con.execute(f"SELECT schema_version FROM {case_schema}.case_meta").fetchall()[0][0] == SCHEMA_VERSION
        _check_renamed(ws.con, case_schema, backward=True)
        assert ws.scalar("SELECT count(*) FROM traces") == 1      # main's path put back: main's one trace
        html = render_report(cw, tmp_path / "report.html").read_text()
    assert "replenish" in html and "Replenishment (tainted up to the tainted deposits" in html
    assert OLD_TITLE not in html


def test_a_current_case_schema_is_not_renamed_again(tmp_path):
    """The rename runs once: a trace saved at version 13 under haircut (the proportional rule)
    stays haircut when the workspace and the case are opened again."""
    path = tmp_path / "new.duckdb"
    with Workspace.open(path) as ws:
        setup_demo_authority(ws)
        cw = ws.for_case(DEMO_CASE)
        load_ledger(cw, LEDGER)
        save(cw, trace(cw, [tx_id(1)], rule="haircut"), {"direction": "forward", "rules": ["haircut"]})
    with Workspace.open(path) as ws:
        cw = ws.for_case(DEMO_CASE)
        assert cw.scalar("SELECT rules FROM traces") == ["haircut"]
        assert {r[0] for r in cw.query("SELECT DISTINCT rule FROM trace_accounts")} == {"haircut"}
