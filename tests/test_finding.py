"""Findings are a typed record at the API's boundary (issue 11, item 5): ``Session.findings``
returns frozen :class:`moneytrail.model.Finding` records, and the CLI's JSON is their ``to_dict``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest

from cli_helpers import mt, ok
from moneytrail import Session
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.ingest import parse_mapping
from moneytrail.model import Finding, FindingAccount
from moneytrail.workspace import Workspace

MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to"] + [f"2024-03-0{1 + i % 9},{900 + i}.25,S{i},FUNNEL" for i in range(14)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(tmp_path / "bank.csv", "csv", mapping=MAPPING, legal_basis=["subpoena"])
        s.detect(["fan_in"], {"fan_in": {"min_counterparties": 8}})
    return p


def test_session_findings_are_typed_frozen_records(path):
    with Session.open(path, officer=AN, case=CASE) as s:
        (f,) = s.findings()
    assert isinstance(f, Finding) and f.typology == "fan_in" and isinstance(f.typology_version, str)
    assert isinstance(f.score, float) and isinstance(f.total_amount, Decimal)
    assert f.total_amount == sum(Decimal(f"{900 + i}.25") for i in range(14))
    assert isinstance(f.first_ts, dt.datetime) and f.first_ts <= f.last_ts
    assert f.accounts[0] == FindingAccount("FUNNEL", f.accounts[0].role) and len(f.accounts) == 15
    assert isinstance(f.tx_ids, tuple) and len(f.tx_ids) == 14 and all(isinstance(t, int) for t in f.tx_ids)
    assert list(f.tx_ids) == sorted(f.tx_ids)
    assert f.parameters["min_counterparties"] == 8 and f.red_flag_source and "FUNNEL" in f.explanation
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.score = 0.0  # type: ignore[misc]


def test_the_cli_json_is_the_records_to_dict(path):
    out = json.loads(ok(mt("findings", "--format", "json", "-w", str(path), "--case", CASE,
                           cwd=path.parent, officer=AN)))
    with Session.open(path, officer=AN, case=CASE) as s:
        found = s.findings()
    assert [o["finding_id"] for o in out] == [f.finding_id for f in found]
    (o,), (f,) = out, found
    # every field, in field order; the amount as a number; accounts as {account_id, role}
    assert list(o) == [x.name for x in dataclasses.fields(Finding)]
    assert o == json.loads(json.dumps({**f.to_dict(), "total_amount": float(f.total_amount)}, default=str))
    assert o["accounts"][0] == {"account_id": f.accounts[0].account_id, "role": f.accounts[0].role}


def test_from_record_and_to_dict_round_trip():
    rec = {"finding_id": 3, "typology": "cycle", "typology_version": "1", "score": 2, "first_ts": None,
           "last_ts": None, "total_amount": None, "explanation": "e", "red_flag_source": "s",
           "parameters": '{"a": 1}', "accounts": [{"account_id": "A", "role": "member"}], "tx_ids": [5, 4],
           "key": None, "currency": "USD", "priority": 1234.5, "priority_basis": "money at stake 1,234.50",
           "records": [{"kind": "payments", "record_id": 20000000007}]}
    f = Finding.from_record(rec)
    assert f.records[0].kind == "payments" and f.records[0].record_id == 20000000007
    assert f.score == 2.0 and f.parameters == {"a": 1} and f.tx_ids == (5, 4)
    assert f.to_dict() == {**rec, "score": 2.0, "parameters": {"a": 1}}
    assert Finding.from_record({**rec, "accounts": None, "tx_ids": None}).accounts == ()


def test_finding_key_is_stable_and_content_derived():
    from moneytrail.detect.store import finding_key

    accts = [{"account_id": "A", "role": "member"}, {"account_id": "B", "role": "member"}]
    k = finding_key("cycle", "1", [3, 1, 2], accts)
    # the order found and repeated ids do not change it; the evidence, the accounts and the version do
    assert k == finding_key("cycle", "1", [2, 3, 1, 1], list(reversed(accts)))
    assert k != finding_key("cycle", "1", [1, 2], accts)
    assert k != finding_key("cycle", "2", [1, 2, 3], accts)
    assert k != finding_key("fan_in", "1", [1, 2, 3], accts)
    assert k.startswith("F") and len(k) == 17


def test_a_trace_from_a_finding_starts_where_money_enters_its_pattern(tmp_path):
    """A finding's trace sources (web: "Trace from this finding") are its transactions whose
    payer had received none of the finding's others before them: a cycle's first leg, not its
    later ones, which carry the same money (a trace from every leg would count it three times)."""
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to", "2024-03-01,1000,A,B", "2024-03-02,980,B,C", "2024-03-03,960,C,A",
            "2024-03-04,950,D,B"]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(tmp_path / "bank.csv", "csv", mapping=MAPPING, legal_basis=["subpoena"])
        s.detect(["fan_in"])      # builds the graph
        ids = [r["tx_id"] for r in sorted(s.transactions(limit=10)["rows"], key=lambda r: r["tx_id"])]
        from moneytrail import _reads
        case = s._ws.for_case(CASE)
        ab, bc, ca, db = ids
        assert _reads.entry_transactions(case, [ab, bc, ca]) == [ab]          # the cycle: its first leg
        assert _reads.entry_transactions(case, [ab, bc, db]) == [ab, db]      # two payers into B; B's onward leg
        assert _reads.entry_transactions(case, [bc]) == [bc]
        assert _reads.entry_transactions(case, []) == []
    # the web's "Trace from this finding" asks the Session, under a findings decision
    with Session.open(p, officer=AN, case=CASE) as s:
        s.detect(["cycle"], {"cycle": {"min_amount": 100}})
        (f,) = s.findings(typologies=["cycle"])
        assert s.finding_trace_sources(f.key) == [ab]
        with pytest.raises(Exception, match="no finding"):
            s.finding_trace_sources("F0000000000000000")
