"""Tracing at entity level (issue 14, item 3): the accounts of one resolved entity are one pool,
so taint that reaches one of a party's accounts follows the money out of its other accounts."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moneytrail.errors import ConfigError
from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.resolve.review import pair_key
from moneytrail.trace.api import trace
from moneytrail.trace.backward import Target
from moneytrail.workspace import Workspace, now_utc

# the two-bank statement layout of the resolve stage's tests
from test_resolve_stage import HEADER, STATEMENT_MAP as MAP  # noqa: E402

# Acme banks at two banks. The proceeds land at bank A; Acme pays its supplier from bank B,
# where it held only 8,000 of a client's money; one own transfer later moves 500 from B to A.
BANK_A = HEADER + "A-1,Acme Trading LLC,First Bank,2025-03-03,R1,PROCEEDS,X-9,DIRTY SOURCE,,10000.00\n"
BANK_B = HEADER + (
    "B-2,ACME TRADING L.L.C.,Harbor Bank,2025-03-01,R0,RETAINER,Q-1,CLIENT INC,,8000.00\n"
    "B-2,ACME TRADING L.L.C.,Harbor Bank,2025-03-10,R2,CONSULTING,Z-5,OFFSHORE LTD,12000.00,\n"
    "B-2,ACME TRADING L.L.C.,Harbor Bank,2025-03-20,R3,OWN TRANSFER,A-1,Acme Trading LLC,500.00,\n")


def _build(w, tmp_path: Path) -> None:
    for name, text in (("a.csv", BANK_A), ("b.csv", BANK_B)):
        p = tmp_path / name
        p.write_text(text)
        assert ingest_file(w, p, "csv", mapping=MAP).quarantined == 0
    run_pipeline(w, stages=["resolve"])
    keys = sorted(r[0] for r in w.query("SELECT record_key FROM party_records WHERE full_name ILIKE 'acme%'"))
    assert len(keys) >= 2
    for a, b in zip(keys, keys[1:]):       # an officer links Acme's records
        k, lo, hi = pair_key(a, b)
        w.con.execute("INSERT INTO match_decisions VALUES (?, ?, ?, 'same', 'registry extract', NULL, "
                      "'tf-analyst-1', ?, NULL)", [k, lo, hi, now_utc()])
    run_pipeline(w, stages=["resolve", "graph"])


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.open(tmp_path / "w.duckdb")
    _build(w, tmp_path)
    yield w
    w.close()


def _tx(ws, ref: str) -> int:
    return ws.scalar("SELECT tx_id FROM transactions WHERE external_id = ?", [ref])


def test_taint_reaching_one_account_funds_payments_from_the_entitys_others(ws):
    acme = ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'A-1'")
    assert acme == ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'B-2'")
    src = _tx(ws, "R1")
    by_account = trace(ws, [src], rule="libr", schedule=False)
    assert by_account["level"] == "account" and "pools" not in by_account
    acc = by_account["rules"]["libr"]["accounts"]
    assert "Z-5" not in acc or acc["Z-5"]["tainted_received"] == 0     # B-2 never received taint
    by_entity = trace(ws, [src], rule="libr", schedule=True, level="entity")
    assert by_entity["level"] == "entity"
    assert by_entity["pools"][acme]["accounts"] == ["A-1", "B-2"]
    ent = by_entity["rules"]["libr"]["accounts"]
    # (every party the evidence names is an entity: the supplier's account is its entity's node)
    supplier = ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'Z-5'")
    assert by_entity["pools"][supplier]["accounts"] == ["Z-5"]
    # the pool held 8,000 clean and 10,000 tainted; 12,000 left it: clean first, then 4,000 tainted
    assert Decimal(str(ent[supplier]["tainted_received"])) == Decimal("4000")
    assert Decimal(str(ent[acme]["tainted_held"])) == Decimal("6000")
    # the own transfer B-2 -> A-1 stays inside the pool: not an event of the entity trace
    own = _tx(ws, "R3")
    assert own not in {s["tx_id"] for s in by_entity["rules"]["libr"]["schedule"]}
    assert any("level entity" in a for a in by_entity["assumptions"])
    # every account of the ledger is in exactly one node
    assert "A-1" not in ent and "B-2" not in ent


def test_backward_and_holdings_at_entity_level(ws):
    acme = ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'A-1'")
    pay, src = _tx(ws, "R2"), _tx(ws, "R1")
    acct = trace(ws, [src], direction="backward", target=Target(tx_id=pay), rule="libr")
    ent = trace(ws, [src], direction="backward", target=Target(tx_id=pay), rule="libr", level="entity")
    assert Decimal(str(acct["rules"]["libr"]["tainted"])) == 0
    assert Decimal(str(ent["rules"]["libr"]["tainted"])) == Decimal("4000")
    assert ent["target"]["account"] == acme and acme in ent["pools"]
    # a holding named by account is its entity's
    from moneytrail.trace.engine import Source
    import datetime as dt
    held = trace(ws, [Source(account="A-1", amount=Decimal("1000"), at=dt.datetime(2025, 3, 5))],
                 rule="libr", level="entity")
    assert held["sources"][0]["account"] == acme


def test_a_transfer_inside_one_entity_is_no_source_at_entity_level(ws):
    with pytest.raises(ConfigError, match="accounts of one entity"):
        trace(ws, [_tx(ws, "R3")], rule="libr", level="entity")
    with pytest.raises(ConfigError, match="--level"):
        trace(ws, [_tx(ws, "R1")], rule="libr", level="party")


def test_trace_command_at_entity_level_prints_the_pools(tmp_path):
    from moneytrail.cli.main import app
    from moneytrail.demo import DEMO_OFFICER, setup_demo_authority

    path = tmp_path / "case.duckdb"
    with Workspace.open(path) as w:
        case = setup_demo_authority(w)
        cw = w.for_case(case)
        _build(cw, tmp_path)
        src = _tx(cw, "R1")
    env = {"MONEYTRAIL_OFFICER": DEMO_OFFICER}
    r = CliRunner().invoke(app, ["trace", "-w", str(path), "--source", str(src), "--level", "entity", "-f", "json"],
                           env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["level"] == "entity" and any(p["accounts"] == ["A-1", "B-2"] for p in out["pools"].values())
    table = CliRunner().invoke(app, ["trace", "-w", str(path), "--source", str(src), "--level", "entity",
                                     "--no-save"], env=env)
    assert table.exit_code == 0 and "one pool" in table.output and "A-1, B-2" in table.output
    bad = CliRunner().invoke(app, ["trace", "-w", str(path), "--source", str(src), "--level", "x"], env=env)
    assert isinstance(bad.exception, ConfigError) and "--level" in str(bad.exception)
    # the saved trace is in the report, with its pools
    from moneytrail.report import render_report
    with Workspace.open(path) as w:
        html = render_report(w.for_case(case), tmp_path / "r.html").read_text()
    assert "traced as one pool" in html and "A-1, B-2" in html


# -- detection at entity level: a cycle that closes through another account of the same party -------

CYCLE_A = HEADER + "A-1,Acme Trading LLC,First Bank,2025-04-01,C1,INVOICE 88,P-1,PRIME SUPPLY CO,9000.00,\n"
CYCLE_C = HEADER + (
    "P-1,PRIME SUPPLY CO,Third Bank,2025-04-01,C2,INVOICE 88,A-1,ACME TRADING LLC,,9000.00\n"
    "P-1,PRIME SUPPLY CO,Third Bank,2025-04-02,C3,SERVICES,Q-2,QUARTZ HOLDINGS,8800.00,\n")
CYCLE_B = HEADER + "B-2,ACME TRADING L.L.C.,Harbor Bank,2025-04-03,C4,REFUND,Q-2,QUARTZ HOLDINGS,,8600.00\n"


def test_a_cycle_through_two_accounts_of_one_party_says_so_at_entity_level(ws, tmp_path):
    from moneytrail.graph import params_at

    for name, text in (("ca.csv", CYCLE_A), ("cc.csv", CYCLE_C), ("cb.csv", CYCLE_B)):
        p = tmp_path / name
        p.write_text(text)
        assert ingest_file(ws, p, "csv", mapping=MAP).quarantined == 0
    run_pipeline(ws, stages=["resolve"])
    keys = sorted(r[0] for r in ws.query("SELECT record_key FROM party_records WHERE full_name ILIKE 'acme%'"))
    for a, b in zip(keys, keys[1:]):
        k, lo, hi = pair_key(a, b)
        if not ws.scalar("SELECT count(*) FROM match_decisions WHERE pair_key = ?", [k]):
            ws.con.execute("INSERT INTO match_decisions VALUES (?, ?, ?, 'same', 'registry extract', NULL, "
                           "'tf-analyst-1', ?, NULL)", [k, lo, hi, now_utc()])
    run_pipeline(ws, stages=["resolve", "graph", "detect"], params={**params_at(ws, "account"),
                                                                    "detect": {"typologies": ["cycle"]}})
    assert not [f for f in ws.records("SELECT explanation FROM findings") if "At entity level" in f["explanation"]]
    run_pipeline(ws, stages=["graph", "detect"], params={**params_at(ws, "entity"),
                                                         "detect": {"typologies": ["cycle"]}})
    acme = ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'A-1'")
    found = [f["explanation"] for f in ws.records("SELECT explanation FROM findings WHERE typology = 'cycle'")
             if acme in f["explanation"]]
    assert found, ws.records("SELECT typology, explanation FROM findings")
    assert "came in through its account B-2 and went out through A-1" in found[0]
    assert "holding 2 accounts (A-1, B-2)" in found[0]
