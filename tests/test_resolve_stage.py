"""The resolve stage in the workspace (issue 14): party records from the evidence, accounts that
are one number written two ways, pairs to entities with officers' decisions winning, transfers
seen at two banks, and the commands (resolve, review, entity show) under the control layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.resolve.accounts import valid_iban
from moneytrail.resolve.review import entity_id, pair_key, settle
from moneytrail.workspace import Workspace


# -- pairs to entities ----------------------------------------------------------------------------

def _p(a, b, prob, why="names agree"):
    return {"left_key": a, "right_key": b, "match_probability": prob, "match_weight": None, "explanation": why}


def test_thresholds_and_decisions_make_the_entities():
    keys = ["A", "B", "C", "D", "E", "F"]
    scored = [_p("B", "A", 0.995), _p("C", "B", 0.90), _p("D", "E", 0.999), _p("E", "F", 0.5)]
    out = settle(keys, scored, {}, upper=0.99, lower=0.8)
    status = {p["pair_key"]: p["status"] for p in out.pairs}
    assert status == {"A ~ B": "merged", "B ~ C": "review", "D ~ E": "merged"}    # E~F below lower: dropped
    ent = {k: v[0] for k, v in out.members.items()}
    assert ent["A"] == ent["B"] == entity_id("A") and ent["C"] == entity_id("C")
    assert ent["D"] == ent["E"] == entity_id("D") and ent["F"] == entity_id("F")
    assert "by the model (probability 0.995" in out.members["B"][1]
    assert "an entity of its own" in out.members["C"][1]


def test_an_officers_decision_always_wins_and_counts_for_unscored_pairs():
    keys = ["A", "B", "C", "D"]
    scored = [_p("A", "B", 0.999), _p("B", "C", 0.85)]
    k_ab, k_bc, k_cd = pair_key("B", "A")[0], pair_key("B", "C")[0], pair_key("C", "D")[0]
    decisions = {k_ab: {"pair_key": k_ab, "left_key": "A", "right_key": "B", "decision": "different",
                        "reason": "different dates of birth on the passports", "decided_by": "tf-analyst-1"},
                 k_bc: {"pair_key": k_bc, "left_key": "B", "right_key": "C", "decision": "same",
                        "reason": "same SSN last four and address", "decided_by": "tf-analyst-1"},
                 k_cd: {"pair_key": k_cd, "left_key": "C", "right_key": "D", "decision": "same",
                        "reason": "registry extract", "decided_by": "tf-analyst-2"}}
    out = settle(keys, scored, decisions, upper=0.99, lower=0.8)
    status = {p["pair_key"]: p["status"] for p in out.pairs}
    assert status == {k_ab: "rejected", k_bc: "accepted", k_cd: "accepted"}
    ent = {k: v[0] for k, v in out.members.items()}
    assert ent["B"] == ent["C"] == ent["D"] != ent["A"]
    assert "tf-analyst-2 (registry extract)" in out.members["D"][1]


def test_entity_ids_are_stable_and_independent_of_order():
    keys = ["K3", "K1", "K2"]
    a = settle(keys, [_p("K3", "K2", 0.999)], {}, 0.99, 0.8).members
    b = settle(list(reversed(keys)), [_p("K2", "K3", 0.999)], {}, 0.99, 0.8).members
    assert a == b and a["K3"][0] == entity_id("K2")


def test_iban_check_digits():
    assert valid_iban("DE89370400440532013000") and valid_iban("GB82WEST12345698765432")
    assert not valid_iban("DE89370400440532013001") and not valid_iban("FNB115833")


# -- the stage on a two-bank case ------------------------------------------------------------------

STATEMENT_MAP = {
    "currency": "USD", "date": {"column": "date", "format": "%Y-%m-%d"},
    "amount": {"debit": "debit", "credit": "credit"}, "thousands": "",
    "holder": {"account": "account", "name": "holder", "bank": {"column": "bank"}},
    "counterparty": {"account": "cp_account", "name": "cp_name"},
    "id": "ref", "description": "memo",
}
HEADER = "account,holder,bank,date,ref,memo,cp_account,cp_name,debit,credit\n"
# bank A: John Q. Smith pays Acme Trading at bank B; the receiving bank writes his account
# number without its dash and rewrites the memo; Acme passes most of it on to bank C
BANK_A = HEADER + (
    "A-100,John Q. Smith,First Bank,2025-03-03,FA1,WIRE INV 4471 ACME TRADING,B-200,ACME TRADING LLC,5000.00,\n"
    "A-100,John Q. Smith,First Bank,2025-03-10,FA2,GROCERIES,M-1,CORNER MARKET,80.00,\n"
    "A-100,John Q. Smith,First Bank,2025-03-12,FA3,RENT MARCH,L-9,HOMES LLC,1500.00,\n")
BANK_B = HEADER + (
    "B-200,\"Acme Trading, LLC\",Harbor Bank,2025-03-05,HB7,WIRE INV 4471,A100,JOHN SMITH,,5000.00\n"
    "B-200,\"Acme Trading, LLC\",Harbor Bank,2025-03-06,HB8,CONSULTING FEE,C-300,OFFSHORE CONSULTING LTD,4900.00,\n")


def _two_banks(tmp: Path):
    ws = Workspace.open(tmp / "w.duckdb")
    for name, text in (("a.csv", BANK_A), ("b.csv", BANK_B)):
        p = tmp / name
        p.write_text(text)
        r = ingest_file(ws, p, "csv", mapping=STATEMENT_MAP)
        assert r.quarantined == 0, ws.records("SELECT * FROM quarantine")
    return ws


def test_one_transfer_at_two_banks_is_one_movement_and_links_the_accounts(tmp_path):
    ws = _two_banks(tmp_path)
    out = run_pipeline(ws, stages=["resolve", "graph"])["stages"]["resolve"]
    assert out["transfers_matched"] == 1
    (m,) = ws.records("SELECT * FROM transfer_matches")
    assert (m["debit_payee"], m["credit_payee"], m["credit_payer"], m["debit_payer"]) == ("B-200", "B-200", "A100", "A-100")
    assert "memo" in m["reasons"]
    amap = {r["raw_account"]: (r["account_id"], r["rule"]) for r in ws.records("SELECT * FROM account_map")}
    assert amap["A100"][0] == "A-100" and amap["A100"][1] in ("same-number", "matched-transfer")
    # the graph counts the movement once, between the resolved accounts, and the money goes on to bank C
    edges = ws.records("SELECT src, dst, amount FROM edges WHERE src <> 'cash' ORDER BY ts")
    assert [(e["src"], e["dst"]) for e in edges if e["amount"] >= 4900] == [("A-100", "B-200"), ("B-200", "C-300")]
    ws.close()


def test_the_same_party_named_at_two_banks_is_linked_and_an_officers_decision_rebuilds(tmp_path):
    from moneytrail.workspace import now_utc

    ws = _two_banks(tmp_path)
    run_pipeline(ws, stages=["resolve"])
    recs = {(r["full_name"]): r["record_key"] for r in ws.records("SELECT * FROM party_records")}
    key, left, right = pair_key(recs["ACME TRADING LLC"], recs["Acme Trading, LLC"])
    (p,) = ws.records("SELECT * FROM match_pairs WHERE pair_key = ?", [key])
    assert p["status"] in ("merged", "review") and "identifier agreed" in p["explanation"]
    # nothing else is linked: John Smith, the market, the landlord and the offshore company
    assert ws.scalar("SELECT count(*) FROM match_pairs WHERE pair_key <> ?", [key]) == 0 or all(
        r["status"] == "review" for r in ws.records("SELECT status FROM match_pairs WHERE pair_key <> ?", [key]))
    # an officer decides: the resolve products are rebuilt with it, and it wins
    ws.con.execute("INSERT INTO match_decisions VALUES (?, ?, ?, 'same', 'one account, one company', NULL, "
                   "'tf-analyst-1', ?, NULL)", [key, left, right, now_utc()])
    out = run_pipeline(ws, stages=["resolve"])["stages"]["resolve"]
    assert "match decisions" in out["rebuilt_because"]
    (p,) = ws.records("SELECT * FROM match_pairs WHERE pair_key = ?", [key])
    assert p["status"] == "accepted" and p["decided_by"] == "tf-analyst-1"
    ent = {r["record_key"]: r["entity_id"] for r in ws.records("SELECT * FROM entity_members")}
    assert ent[left] == ent[right]
    assert len(set(ent.values())) == len(ent) - 1
    (e,) = ws.records("SELECT * FROM entities WHERE entity_id = ?", [ent[left]])
    assert e["records"] == 2 and e["accounts"] == 1 and e["sources"] == 2
    ws.close()


# -- the commands, under the control layer -----------------------------------------------------------

def test_resolve_review_and_entity_commands_are_decided_audited_and_print_names_as_text(tmp_path):
    import json

    from cli_helpers import mt, ok, one_line_error

    from moneytrail.demo import DEMO_OFFICER as AN
    from moneytrail.demo import setup_demo_authority

    with Workspace.open(tmp_path / "case.duckdb") as ws:
        setup_demo_authority(ws)
    w = ["-w", str(tmp_path / "case.duckdb")]
    evil_b = BANK_B.replace('"Acme Trading, LLC"', '"[bold red]Acme Trading, LLC"')
    for name, text in (("a.csv", BANK_A), ("b.csv", evil_b)):
        (tmp_path / name).write_text(text)
    (tmp_path / "m.yaml").write_text(json.dumps(STATEMENT_MAP))
    for name in ("a.csv", "b.csv"):
        ok(mt("ingest", name, "-f", "csv", "-m", "m.yaml", "--legal-basis", "subpoena", *w, cwd=tmp_path, officer=AN))
    # nothing resolved yet: the queue says what to do
    one_line_error(mt("review", *w, cwd=tmp_path, officer=AN), "moneytrail resolve")
    out = ok(mt("resolve", *w, cwd=tmp_path, officer=AN))
    assert "party records: 7" in out and "transfers seen at two banks, matched into one movement: 1" in out
    # the officer finds the records by name (whatever the model made of them: a case this small
    # teaches it little) and decides
    found = json.loads(ok(mt("entity", "list", "--name", "acme", "--json", *w, cwd=tmp_path, officer=AN)))
    keys = sorted({k for e in found["entities"] for k in e["record_keys"]})
    assert len(keys) == 2
    listed = ok(mt("entity", "list", "--name", "acme", *w, cwd=tmp_path, officer=AN, env={"COLUMNS": "200"}))
    assert "[bold red]Acme" in listed                     # the name is printed as text, not as markup
    p = {"left_key": keys[0], "right_key": keys[1], "pair_key": pair_key(*keys)[0]}
    # a decision needs a reason; a record that is not in the case is refused
    one_line_error(mt("review", "same", p["left_key"], p["right_key"], "--reason", "", *w, cwd=tmp_path,
                      officer=AN), "needs a reason")
    one_line_error(mt("review", "same", p["left_key"], "Pnope", "--reason", "x y", *w, cwd=tmp_path, officer=AN),
                   "no party record")
    d = json.loads(ok(mt("review", "same", p["left_key"], p["right_key"], "--reason", "one account, one company",
                         "--json", *w, cwd=tmp_path, officer=AN)))
    assert d["decision"] == "same" and d["audit_entry"]
    ok(mt("resolve", *w, cwd=tmp_path, officer=AN))
    q = json.loads(ok(mt("review", "--status", "accepted", "--json", *w, cwd=tmp_path, officer=AN)))
    assert [x["pair_key"] for x in q["pairs"]] == [p["pair_key"]]
    with Workspace.open(tmp_path / "case.duckdb") as ws:
        cw = ws.for_case("OP-DEMO")
        eid = cw.scalar("SELECT entity_id FROM entity_members WHERE record_key = ?", [p["left_key"]])
    e = json.loads(ok(mt("entity", "show", eid, "--json", *w, cwd=tmp_path, officer=AN)))
    assert {r["record_key"] for r in e["records"]} == {p["left_key"], p["right_key"]}
    assert [a["account_id"] for a in e["accounts"]] == ["B-200"]
    shown = ok(mt("entity", "show", eid, *w, cwd=tmp_path, officer=AN, env={"COLUMNS": "200"}))
    assert "one account, one company" in shown
    # every command was decided and recorded
    log = ok(mt("audit", "log", "--limit", "200", *w, cwd=tmp_path, officer="tf-registrar"))
    for action in ("resolve", "review", "explore"):
        assert f"ALLOW {action}" in log, action


def test_names_that_cannot_be_one_party_hold_a_pair_for_review():
    from moneytrail.resolve.scoring import names_agree

    assert names_agree("John Q. Smith", "JOHN SMITH") and names_agree("Acme Trading, LLC", "ACME TRADING LLC")
    assert names_agree("Bill Jones", "William R. Jones") and names_agree("Müller GmbH", "MULLER")
    assert not names_agree("Lisa P. Allen", "Ashley N. Allen") and not names_agree("Jon Smith", "Joan Smith")
    assert names_agree(None, "x") and names_agree("'; DROP TABLE x; --", "drop table x")
    keys = ["A", "B"]
    held = _p("A", "B", 0.9999)
    held["hold"] = "held for review: the names differ"
    out = settle(keys, [held], {}, upper=0.99, lower=0.8)
    assert out.pairs[0]["status"] == "review" and "names differ" in out.pairs[0]["explanation"]


def test_legs_whose_accounts_disagree_are_never_one_transfer():
    import duckdb

    from moneytrail.resolve.transfers import match_transfers

    con = duckdb.connect()
    # two customers pay one utility the same amount with the same kind of memo, at two banks
    con.execute("""CREATE TABLE d AS SELECT * FROM (VALUES
        (1, 1, 79.59, DATE '2026-02-05', 'CITY WATER UTILITY AUTOPAY ACCT ****1202', 'ACB588239', 'FNB782554'))
        t(leg_id, source_id, amount, date, memo, payer_account, payee_account)""")
    con.execute("""CREATE TABLE c AS SELECT * FROM (VALUES
        (2, 2, 79.59, DATE '2026-02-09', 'CITY WATER UTILITY AUTOPAY ACCT ****4486', 'FNB553627', 'FNB782554'))
        t(leg_id, source_id, amount, date, memo, payer_account, payee_account)""")
    assert match_transfers(con, "d", "c").num_rows == 0
    assert match_transfers(con, "d", "c", params={"accounts_must_agree": False}).num_rows == 1
    con.execute("UPDATE c SET payer_account = 'ACB588239'")          # the same payer: one transfer
    assert match_transfers(con, "d", "c").num_rows == 1


def test_detect_at_entity_level_makes_one_party_one_node_and_marks_own_funds(tmp_path):
    from moneytrail.graph import params_at
    from moneytrail.workspace import now_utc

    ws = _two_banks(tmp_path)
    # the case holds one more account of Acme's, at bank C, that bank B's Acme pays
    extra = tmp_path / "c.csv"
    extra.write_text(HEADER + "C-900,ACME TRADING L.L.C.,Bank C,2025-03-07,CC1,OWN TRANSFER,B-200,ACME TRADING LLC,,900.00\n")
    ingest_file(ws, extra, "csv", mapping=STATEMENT_MAP)
    run_pipeline(ws, stages=["resolve"])
    recs = ws.records("SELECT record_key, account_id FROM party_records WHERE full_name ILIKE 'acme%'")
    keys = sorted(r["record_key"] for r in recs)
    for a, b in zip(keys, keys[1:]):       # an officer links Acme's records
        k, lo, hi = pair_key(a, b)
        ws.con.execute("INSERT INTO match_decisions VALUES (?, ?, ?, 'same', 'Acme''s registry extract', NULL, "
                       "'tf-analyst-1', ?, NULL)", [k, lo, hi, now_utc()])
    out = run_pipeline(ws, stages=["resolve", "graph"])
    acme = ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'B-200'")
    assert ws.scalar("SELECT entity_id FROM account_entities WHERE account_id = 'C-900'") == acme
    assert out["stages"]["graph"]["own_funds_edges"] >= 1
    own = ws.records("SELECT src, dst FROM edges WHERE own_funds")
    assert {(e["src"], e["dst"]) for e in own} == {("B-200", "C-900")}
    out = run_pipeline(ws, stages=["graph"], params=params_at(ws, "entity"))["stages"]["graph"]
    assert out["level"] == "entity"
    nodes = {r[0] for r in ws.query("SELECT src FROM edges UNION SELECT dst FROM edges")}
    assert acme in nodes and "B-200" not in nodes and "C-900" not in nodes
    assert ws.scalar("SELECT count(*) FROM edges WHERE own_funds AND src = dst") >= 1
    # tracing stays at account level (balances are accounts')
    run_pipeline(ws, stages=["graph"], params=params_at(ws, "account"))
    assert ws.scalar("SELECT count(*) FROM edges WHERE src = ?", [acme]) == 0
    ws.close()
