"""Golden fund traces: small worked examples with hand-computed results (tests/golden/trace/)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from moneytrail.trace import rules as trace_rules
from moneytrail.trace import trace
from moneytrail.trace.engine import Source

from trace_helpers import load_ledger, tx_id

GOLDEN = Path(__file__).parent / "golden" / "trace"
CASES = sorted(GOLDEN.glob("*.yaml"))


def _d(v) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.0001"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(ws, path):
    case = yaml.safe_load(path.read_text())
    assert case["source"] and case["arithmetic"], "every golden says where it comes from and shows its arithmetic"
    load_ledger(ws, case["ledger"])
    sources = [tx_id(r) for r in case.get("sources") or []]
    for h in case.get("holdings") or []:
        at = h["at"] if isinstance(h["at"], dt.datetime) else dt.datetime.combine(h["at"], dt.time())
        sources.append(Source(account=h["account"], amount=Decimal(str(h["amount"])), at=at))
    openings = {k: Decimal(str(v)) for k, v in (case.get("openings") or {}).items()}
    res = trace(ws, sources, rule=list(case["expected"]), presumption=case.get("presumption"), openings=openings)
    for rule, accounts in case["expected"].items():
        got = res["rules"][rule]
        for acct, (received, held) in accounts.items():
            a = got["accounts"].get(acct)
            assert a is not None, (rule, acct, "not reached")
            assert (_d(a["tainted_received"]), _d(a["tainted_held"])) == (_d(received), _d(held)), (rule, acct, a)
        for acct, a in got["accounts"].items():   # nothing tainted anywhere else
            if acct not in accounts:
                assert _d(a["tainted_held"]) == 0, (rule, acct, a)
        exits = (case.get("exits") or {}).get(rule)
        if exits is not None:
            assert {k: _d(v["tainted"]) for k, v in got["exits"].items()} == {k: _d(v) for k, v in exits.items()}
        t = got["totals"]
        if trace_rules.get(rule).CONSERVING:   # nothing created, nothing lost
            assert _d(t["held"]) + _d(t["left_ledger"]) == _d(t["sources"]), (rule, t)
            assert _d(t["created"]) == 0
        else:
            assert _d(t["held"]) + _d(t["left_ledger"]) >= _d(t["sources"]), (rule, t)


def test_every_rule_has_a_golden_example():
    covered = set()
    for p in CASES:
        covered |= set(yaml.safe_load(p.read_text())["expected"])
    assert covered == set(trace_rules.BY_NAME)      # haircut too, though --rule all leaves it out


def test_every_golden_listing_prorata_has_haircut_with_the_same_figures():
    for p in CASES:
        case = yaml.safe_load(p.read_text())
        for key in ("expected", "exits"):
            got = case.get(key) or {}
            if "prorata" in got:
                assert got.get("haircut") == got["prorata"], (p.name, key)


def test_every_rule_module_documents_definition_and_legal_source():
    for r in trace_rules.BY_NAME.values():
        doc = r.__doc__ or ""
        assert "Definition implemented" in doc and "Sources" in doc, r.NAME
        assert r.DEFINITION and r.SOURCES and r.TITLE
        assert isinstance(r.CONSERVING, bool)
