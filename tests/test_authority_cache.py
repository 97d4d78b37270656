"""Decisions read the registry and the sources' legal-basis tags from a per-workspace cache
(moneytrail.authority.decide.decision_state). These tests hold the cache to one rule: a decision
taken with it is the decision taken after reading everything afresh, whatever changed before it,
by moneytrail's own writers or by a committed write of any other path (which the signed state
refuses: then both refuse)."""

from __future__ import annotations


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.authority import AccessDenied, guard
from moneytrail.authority.decide import decide
from moneytrail.authority.registry import (RegistryError, add_disclosure, add_member, add_officer, close_case,
                                           record_fti_order, remove_member, revoke_grant)
from moneytrail.authority.state import StateError
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_COUNSEL as COUNSEL
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import DEMO_REGISTRAR as REG
from moneytrail.demo import setup_demo_authority
from moneytrail.ingest import ingest_file, parse_mapping
from moneytrail.workspace import Workspace

from authority_helpers import DAY, TODAY, deputize
MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})
TAGS = [["subpoena"], ["fti:Acme Staffing LLC"], ["grand-jury-6e"], ["fti:Other Co", "subpoena"]]
OFFICERS = [AN, "an-2", "an-3"]
ACTIONS = ["findings", "detect", "ingest", "case_update", "registry_read"]


def _workspace(path) -> Workspace:
    ws = Workspace.open(path)
    setup_demo_authority(ws)
    for o in OFFICERS[1:]:
        add_officer(ws, REG, o, f"Officer {o}", "STATE-FCU")
        deputize(ws, f"G-{o}", o)
    return ws


def _decide(ws, action, who, case):
    """The decision's outcome, or the refusal of a state the signed log does not vouch for."""
    try:
        d = decide(ws, action, officer=who, case=case)
    except StateError:
        return "refused: state changed outside moneytrail"
    return (d.allowed, d.case, d.grant, d.policies, d.reasons)


def _fresh(ws, action, who, case):
    """The decision after forgetting everything cached."""
    ws.__dict__.pop("_decision_state", None)
    return _decide(ws, action, who, case)


def _apply(ws, tmp, op, n) -> None:
    kind, who, arg = op
    try:
        if kind == "add_member":
            add_member(ws, AN, CASE, who)
        elif kind == "remove_member":
            remove_member(ws, AN, CASE, who)
        elif kind == "disclose":
            add_disclosure(ws, COUNSEL, CASE, who, attorney="AUSA K. Lee")
        elif kind == "revoke":
            revoke_grant(ws, REG, "G-DEMO-1" if who == AN else f"G-{who}", "reassigned")
        elif kind == "order":
            record_fti_order(ws, COUNSEL, CASE, judge="Hon. A. Judge", court="U.S. District Court",
                             order_date=TODAY - DAY, scope="tax years 2022-2024", subjects=[arg[0][4:]]
                             if arg[0].startswith("fti:") else ["Acme Staffing LLC"])
        elif kind == "close":
            close_case(ws, AN, CASE, "referred for prosecution")
        elif kind == "ingest":
            p = tmp / f"s{n}.csv"
            p.write_text(f"d,amt,from,to\n2024-01-05,{n + 1},A{n},B\n")
            ingest_file(ws.for_case(CASE), p, "csv", mapping=MAPPING, legal_basis=arg)
        elif kind == "raw_retag":        # a committed write outside moneytrail's writers
            ws.con.execute("UPDATE sources SET legal_basis = ? WHERE source_id = "
                           "(SELECT max(source_id) FROM sources)", [arg])
        elif kind == "raw_revoke":       # the registry rewritten by another path
            ws.con.execute("UPDATE grants SET status = 'revoked' WHERE grant_id = 'G-an-2'")
    except (RegistryError, AccessDenied, StateError):
        pass


OPS = st.tuples(st.sampled_from(["add_member", "remove_member", "disclose", "revoke", "order", "close",
                                 "ingest", "raw_retag", "raw_revoke"]),
                st.sampled_from(OFFICERS), st.sampled_from(TAGS))
STEPS = st.lists(st.one_of(OPS.map(lambda o: ("op", o)),
                           st.tuples(st.sampled_from(ACTIONS), st.sampled_from(OFFICERS),
                                     st.sampled_from([CASE, None])).map(lambda d: ("decide", d))),
                 min_size=1, max_size=14)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_a_cached_decision_is_the_decision_on_fresh_state(tmp_path_factory, steps):
    tmp = tmp_path_factory.mktemp("cache")
    ws = _workspace(tmp / "case.duckdb")
    try:
        for n, (what, step) in enumerate(steps):
            if what == "op":
                _apply(ws, tmp, step, n)
                continue
            action, who, case = step
            cached = _decide(ws, action, who, case)
            assert cached == _fresh(ws, action, who, case), (steps[:n + 1], cached)
    finally:
        ws.close()


def test_the_cache_serves_repeated_decisions_without_reading_duckdb(tmp_path):
    ws = _workspace(tmp_path / "case.duckdb")
    guard(ws, "findings", officer=AN, case=CASE)
    state = ws.__dict__["_decision_state"]
    for _ in range(3):
        guard(ws, "findings", officer=AN, case=CASE)
    assert ws.__dict__["_decision_state"] is state          # appends to the audit log change no DuckDB file
    revoke_grant(ws, REG, "G-an-2", "reassigned")
    assert guard(ws, "findings", officer=AN, case=CASE).allowed
    assert ws.__dict__["_decision_state"] is not state
    ws.close()


def test_a_committed_write_by_another_path_is_seen_by_the_next_decision(tmp_path):
    ws = _workspace(tmp_path / "case.duckdb")
    p = tmp_path / "bank.csv"
    p.write_text("d,amt,from,to\n2024-01-05,5,A,B\n")
    ingest_file(ws.for_case(CASE), p, "csv", mapping=MAPPING, legal_basis=["subpoena"])
    assert guard(ws, "findings", officer=AN, case=CASE).allowed
    # re-tagged behind moneytrail's back (no authority_changed()): the DuckDB files changed, and
    # the next decision sees a state the signed log does not vouch for
    ws.con.execute("UPDATE sources SET legal_basis = ['subpoena', 'consent']")
    with pytest.raises(StateError, match="changed outside moneytrail"):
        guard(ws, "findings", officer=AN, case=CASE)
    ws.close()
