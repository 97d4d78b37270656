"""Every stage holds what ingest allows: amounts just under the cap (``limits.MAX_AMOUNT``, 10**12).

One ledger whose every transaction is 999,999,999,999.9999 — many of them into one account (their
sum passes 10**14, past what ``DECIMAL(18, 4)`` holds), a cycle, a round trip, scatter-gather,
layers, a pass-through, cash kept "just under" a threshold set at the cap, a funnel, odd-hour
deposits, senders sharing an address, rent/motel/bus/food spending and a business without
payroll — goes through every typology, the score feature pass, every tracing rule forward and
backward, the balances stage, the report and the export. Nothing may fail, and every total the
test can compute by hand must come out exactly (Decimal arithmetic, no float anywhere).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal

import pytest

from moneytrail.backends import get_backend
from moneytrail.detect import RECORD_TYPOLOGIES, TRANSACTION_TYPOLOGIES, TYPOLOGIES
from moneytrail.export import write as export_write
from moneytrail.limits import MAX_AMOUNT
from moneytrail.pipeline import run_pipeline
from moneytrail.report import render_report
from moneytrail.score.features import compute_features
from moneytrail.trace import rules as trace_rules
from moneytrail.trace import trace
from moneytrail.trace.backward import Target
from moneytrail.trace.store import save
from moneytrail.workspace import TX_ID_STRIDE, Workspace, now_utc

A = Decimal("999999999999.9999")          # the largest amount ingest stores
N_FAN = 120                               # N_FAN * A > 10**14: no DECIMAL(18, 4) sum holds it
T0 = dt.datetime(2024, 1, 1)

# the "just under the threshold" cash rule, with the threshold at the cap itself
PARAMS = {"structuring": {"cash_threshold": MAX_AMOUNT, "near_low": MAX_AMOUNT - 1, "min_each": MAX_AMOUNT - 1}}


def at(day: int, hour: int = 12) -> dt.datetime:
    return T0 + dt.timedelta(days=day, hours=hour)


def _ledger() -> list[tuple]:
    """(ts, from, to, channel, description, location); every amount is A."""
    r: list[tuple] = []
    add = lambda ts, f, t, ch="transfer", desc=None, loc=None: r.append((ts, f, t, ch, desc, loc))  # noqa: E731
    for i in range(N_FAN):                              # fan-in, then fan-out / gather-scatter
        add(at(1 + i % 5), f"S{i:03d}", "HUB")
    for i in range(N_FAN):
        add(at(8 + i % 5), "HUB", f"R{i:03d}")
    add(at(20), "C1", "C2"), add(at(21), "C2", "C3"), add(at(22), "C3", "C1")          # cycle
    add(at(25), "T1", "T2"), add(at(27), "T2", "T1")                                  # round trip
    for m in ("M1", "M2", "M3"):                                                      # scatter-gather
        add(at(30), "SG", m)
        add(at(31), m, "SD")
    for k in range(3):                                                                # bipartite
        for b in ("B1", "B2"):
            for q in ("Q1", "Q2"):
                add(at(40 + k), b, q)
    add(at(50), "PX", "P"), add(at(51), "P", "PY")                                    # pass-through
    for d in (60, 61, 62):                                                            # structuring
        add(at(d), "cash", "D", "cash", None, "Branch 1, Dallas TX")
    add(at(70, 9), "cash", "F", "cash", None, "Branch 1, Dallas TX")                  # funnel
    add(at(70, 10), "cash", "F", "cash", None, "Branch 2, Houston TX")
    add(at(70, 11), "cash", "F", "cash", None, "ATM 3, Austin TX")
    add(at(70, 15), "F", "cash", "cash", None, "ATM 9, Chicago IL")
    add(at(70, 16), "F", "cash", "cash", None, "ATM 10, Miami FL")
    for d in range(80, 88):                                                           # odd hours, cash only
        add(at(d, 23), "cash", "IND1", "cash", None, f"ATM {d}, Dallas TX")
    for s in ("SH1", "SH2", "SH3"):                                                   # shared address
        add(at(90), s, "SHR")
    for i, ll in enumerate(("L1", "L2", "L3")):                                       # trafficking expenses
        add(at(100 + i), "HT", ll, "ach", "APT RENT")
    add(at(103), "HT", "MOTEL1", "card", "MOTEL 6"), add(at(104), "HT", "MOTEL2", "card", "MOTEL 6")
    add(at(105), "HT", "BUS", "card", "GREYHOUND"), add(at(106), "HT", "BUS", "card", "GREYHOUND")
    add(at(107), "HT", "FOOD", "card", "TAQUERIA")
    for i, k in enumerate(("K1", "K2", "K3")):                                        # business, no payroll
        add(at(110 + 20 * i), k, "BIZ", "ach")
    for i in range(10):
        add(at(115 + 5 * i), "BIZ", f"V{i}", "ach")
    add(at(120), "EMPLOYER", "W1", "payroll")          # someone in the case pays payroll
    return r


ACCOUNTS = [("SH1", "MARIA LOPEZ", "individual", {"address_norm": "123 MAIN ST 4"}),
            ("SH2", "JUAN PEREZ", "individual", {"address_norm": "123 MAIN ST 4"}),
            ("SH3", "ANA GOMEZ", "individual", {"address_norm": "123 MAIN ST 4"}),
            ("BIZ", "ACME HOLDINGS LLC", "business", {}),
            ("EMPLOYER", "EMPLOYER INC", "business", {})]


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """The workspace, with the pipeline run (resolve, graph, detect with PARAMS, trace stage)."""
    ws = Workspace.open(tmp_path_factory.mktemp("big") / "big.duckdb")
    ws.con.execute("INSERT INTO sources (source_id, file_name, original_path, evidence_path, size_bytes, sha256, "
                   "format, role, legal_basis, received_at) VALUES (1, 'big.csv', '-', '-', 0, '-', 'test', "
                   "'transactions', [], ?)", [now_utc()])
    rows = _ledger()
    for i, (ts, f, t, ch, desc, loc) in enumerate(rows, 1):
        ws.con.execute("INSERT INTO transactions (tx_id, source_id, source_row, ts, orig_account, bene_account, "
                       "amount, currency, channel, description, location) VALUES (?, 1, ?, ?, ?, ?, ?, 'USD', ?, ?, ?)",
                       [TX_ID_STRIDE + i, i, ts, f, t, A, ch, desc, loc])
    for acct, owner, kind, attrs in ACCOUNTS:
        ws.con.execute("INSERT INTO account_records (account_id, source_id, source_row, register, owner_name, kind, "
                       "attributes) VALUES (?, 1, 0, true, ?, ?, ?)", [acct, owner, kind, json.dumps(attrs)])
    out = run_pipeline(ws, stages=["resolve", "graph", "detect", "trace"],
                       params={"detect": {"parameters": PARAMS}})
    ws.rows = rows
    yield ws, out["stages"]
    ws.close()


def tx(ws, f: str, t: str, nth: int = 0) -> int:
    """The tx id of the nth transfer f -> t."""
    ids = [TX_ID_STRIDE + i for i, r in enumerate(ws.rows, 1) if r[1] == f and r[2] == t]
    return ids[nth]


def findings(ws, typology: str) -> list[dict]:
    return ws.records("SELECT f.finding_id, f.total_amount, f.explanation, "
                      "(SELECT count(*) FROM finding_transactions t WHERE t.finding_id = f.finding_id) AS n "
                      "FROM findings f WHERE typology = ? ORDER BY finding_id", [typology])


def test_every_typology_runs_and_totals_are_exact(big):
    ws, stages = big
    det = stages["detect"]
    assert set(det["findings"]) | set(det["skipped"]) == {t.id for t in TYPOLOGIES}
    # the ledger has data for every typology over transactions; those needing employer or contract
    # records (none here) say so (test_records.py and the typologies' own tests hold large amounts)
    assert set(det["skipped"]) == {t.id for t in RECORD_TYPOLOGIES}, det["skipped"]
    for t in TRANSACTION_TYPOLOGIES:
        got = findings(ws, t.id)
        assert got, f"{t.id} found nothing in a ledger built to show it"
        for f in got:   # every finding's amount is a whole number of transactions of exactly A
            assert f["total_amount"] == f["n"] * A or t.id in ("rapid_pass_through", "funnel_account"), (t.id, f)
            assert "Red flag:" in f["explanation"]
    fan_in = [f for f in findings(ws, "fan_in") if "HUB" in f["explanation"]]
    assert [f["total_amount"] for f in fan_in] == [N_FAN * A] and N_FAN * A > Decimal(10) ** 14
    assert f"${(N_FAN * A).quantize(Decimal('0.01')):,}" in fan_in[0]["explanation"]
    (gs,) = [f for f in findings(ws, "gather_scatter") if "HUB" in f["explanation"]]
    assert gs["total_amount"] == 2 * N_FAN * A
    (cyc,) = [f for f in findings(ws, "cycle") if "C1" in f["explanation"]]
    assert cyc["total_amount"] == 3 * A
    (rt,) = findings(ws, "round_trip")
    assert rt["total_amount"] == 2 * A
    (st,) = [f for f in findings(ws, "structuring") if "Account D " in f["explanation"]]
    assert st["total_amount"] == 3 * A and "totalling $3,000,000,000,000.00" in st["explanation"]
    (pt,) = [f for f in findings(ws, "rapid_pass_through") if "Account P " in f["explanation"]]
    assert pt["total_amount"] == 2 * A             # in and out
    (fn,) = findings(ws, "funnel_account")
    assert fn["total_amount"] == 5 * A
    (sg,) = findings(ws, "scatter_gather")
    assert sg["total_amount"] == 6 * A


def test_score_feature_pass(big):
    ws, _ = big
    res = compute_features(get_backend(ws))
    assert res["rows"] == len(ws.rows)
    assert ws.scalar("SELECT max(amount) FROM features") == pytest.approx(float(A))


def test_balances_stage(big):
    ws, stages = big
    assert stages["trace"]["balance_events"] > 0
    # the hub holds N_FAN * A after its last receipt and nothing after its last payment
    assert ws.scalar("SELECT max(balance_after) FROM balances WHERE account_id = 'HUB'") == N_FAN * A
    assert ws.scalar("SELECT arg_max(balance_after, seq) FROM balances WHERE account_id = 'HUB'") == 0


@pytest.mark.parametrize("rule", [r.NAME for r in trace_rules.RULES])
def test_every_rule_forward_exact(big, rule):
    ws, _ = big
    fan = [tx(ws, f"S{i:03d}", "HUB") for i in range(N_FAN)]
    res = trace(ws, fan, rule=rule)["rules"][rule]
    t = res["totals"]
    assert t["sources"] == N_FAN * A
    assert t["held"] + t["left_ledger"] == N_FAN * A          # every rule: the hub paid it all onward
    assert t["held"] == N_FAN * A and t["created"] == 0
    assert res["accounts"]["R000"]["tainted_held"] == A
    assert res["accounts"]["HUB"]["tainted_received"] == N_FAN * A
    loop = trace(ws, [tx(ws, "C1", "C2")], rule=rule)["rules"][rule]
    assert loop["accounts"]["C1"]["tainted_held"] == A and loop["totals"]["held"] == A


@pytest.mark.parametrize("rule", [r.NAME for r in trace_rules.RULES])
def test_every_rule_backward_exact(big, rule):
    ws, _ = big
    fan = [tx(ws, f"S{i:03d}", "HUB") for i in range(N_FAN)]
    res = trace(ws, fan, rule=rule, direction="backward", target=Target(tx_id=tx(ws, "HUB", "R119")))
    r = res["rules"][rule]
    assert r["target_amount"] == A and r["tainted"] == A and r["tainted_share"] == 1.0
    assert sum(f["amount"] for f in r["funding"]) == A
    bal = trace(ws, [], rule=rule, direction="backward", target=Target(account="HUB", at=at(7)))["rules"][rule]
    assert bal["target_amount"] == N_FAN * A and bal["funding_omitted"] == 0
    assert sum(f["amount"] for f in bal["funding"]) == N_FAN * A


def test_report_and_export_show_exact_amounts(big, tmp_path):
    ws, _ = big
    fan = [tx(ws, f"S{i:03d}", "HUB") for i in range(N_FAN)]
    result = trace(ws, fan, rule="all")
    save(ws, result, {"rules": ["all"]})
    html = render_report(ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"{N_FAN * A:,.4f}" in html          # 119,999,999,999,999.9880: the fan-in's total, exact
    man = export_write(ws, tmp_path / "out")
    assert man["files"]["findings.csv"]["rows"] == ws.scalar("SELECT count(*) FROM findings")
    with open(tmp_path / "out" / "findings.csv", newline="") as fh:
        totals = [Decimal(r["total_amount"]) for r in csv.DictReader(fh)]
    assert N_FAN * A in totals and 2 * N_FAN * A in totals
