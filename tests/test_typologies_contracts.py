"""Government-contract typologies (issue 17, item 3): each planted scheme is found with its exact
evidence records, and a clean look-alike beside it is not; the FAR threshold schedule at its
2020-08-31 and 2025-10-01 boundaries; Benford's MAD as Nigrini defines it; the findings written
with their records; and one Spark run of the whole catalogue over the same workspace.

One module-scoped workspace holds every planted case (:func:`plant`), each under its own vendors
and offices, so one Spark session compares them all at once.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moneytrail.backends import get_backend
from moneytrail.detect import BY_ID, CONTRACTS, resolve_params
from moneytrail.detect.contracts import (FAR_THRESHOLDS, NIGRINI_FIRST, NIGRINI_FIRST_TWO, benford_p, conformity,
                                         far_thresholds_on, mad)
from moneytrail.errors import ConfigError, EngineError
from moneytrail.ingest import ingest_file, parse_mapping
from moneytrail.ingest.accounts import parse_accounts_mapping
from moneytrail.pipeline import run_pipeline
from moneytrail.workspace import Workspace

from records_helpers import add_records

D = Decimal
BANK_MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"},
                              "payer": {"account": "from"}, "payee": {"account": "to"}, "channel": "ch"})
ACCOUNTS_MAPPING = parse_accounts_mapping({"account": "account", "owner_name": "name", "kind": "kind",
                                           "keep": ["country"]})


# -- the planted cases ------------------------------------------------------------------------------

def _pay(vendor_uei, office, day, amount, **kw):
    return {"vendor_uei": vendor_uei, "office_code": office, "paid_date": day, "amount": D(amount),
            "currency": "USD", **kw}


def _award(uei, office, day, amount, **kw):
    return {"recipient_uei": uei, "office_code": office, "action_date": day, "obligation": D(amount), **kw}


def _benford_amounts(n: int, seed: int) -> list[Decimal]:
    """``n`` amounts whose first two digits follow Benford's law as closely as whole counts can
    (each two-digit lead 10-99 round(n * p) times), the other digits varied deterministically."""
    rng = random.Random(seed)
    out = []
    for dd in range(10, 100):
        for _ in range(round(n * benford_p(dd))):
            out.append(D(dd * 100 + rng.randrange(100)) + D(rng.randrange(100)) / 100)
    rng.shuffle(out)
    return out


def plant(ws: Workspace, tmp: Path) -> dict:
    """Every planted scheme and its look-alikes; returns their record ids by name."""
    ids: dict = {}

    # 1. split purchases ----------------------------------------------------------------------
    # after the 2020-08-31 increase ($10,000): three micro-purchase payments that together exceed it
    ids["split_2020"] = add_records(ws, "payments", [
        _pay("SPLITUEI0001", "OFC-SPLIT1", "2020-09-02", "5000.00", payment_id="SP-1"),
        _pay("SPLITUEI0001", "OFC-SPLIT1", "2020-09-03", "5000.00", payment_id="SP-2"),
        _pay("SPLITUEI0001", "OFC-SPLIT1", "2020-09-04", "4000.00", payment_id="SP-3")])
    # the same amounts before it: each above the $3,500 micro-purchase threshold then (not micro-purchases)
    ids["split_2020_before"] = add_records(ws, "payments", [
        _pay("SPLITUEI0002", "OFC-SPLIT2", "2020-08-20", "5000.00"),
        _pay("SPLITUEI0002", "OFC-SPLIT2", "2020-08-21", "5000.00"),
        _pay("SPLITUEI0002", "OFC-SPLIT2", "2020-08-22", "4000.00")])
    # across the boundary: $9,000 is above the $3,500 of the first day but not above the $10,000 in force after
    ids["split_across"] = add_records(ws, "payments", [
        _pay("SPLITUEI0003", "OFC-SPLIT3", "2020-08-28", "3000.00"),
        _pay("SPLITUEI0003", "OFC-SPLIT3", "2020-09-01", "3000.00"),
        _pay("SPLITUEI0003", "OFC-SPLIT3", "2020-09-02", "3000.00")])
    # before the 2025-10-01 increase ($10,000 -> $15,000): two awards of $6,000 exceed it ...
    ids["split_2025"] = add_records(ws, "awards", [
        _award("SPLITUEI0004", "OFC-SPLIT4", "2025-09-25", "6000.00", piid="PO-25-1"),
        _award("SPLITUEI0004", "OFC-SPLIT4", "2025-09-26", "6000.00", piid="PO-25-2")])
    # ... and after it they do not
    ids["split_2025_after"] = add_records(ws, "awards", [
        _award("SPLITUEI0005", "OFC-SPLIT5", "2025-10-06", "6000.00"),
        _award("SPLITUEI0005", "OFC-SPLIT5", "2025-10-07", "6000.00")])
    # simplified acquisition threshold ($150,000 in 2019): two awards under it, together above it
    ids["split_sat"] = add_records(ws, "awards", [
        _award("SPLITUEI0006", "OFC-SPLIT6", "2019-05-01", "120000.00"),
        _award("SPLITUEI0006", "OFC-SPLIT6", "2019-05-03", "140000.00")])

    # 2. duplicate payments ---------------------------------------------------------------------
    ids["dup_vendor"] = add_records(ws, "vendors", [{"origin": "vendor_master", "vendor_id": "V100",
                                                     "uei": "DUPUEI000001", "name": "Delta Supply LLC"}])
    ids["dup"] = add_records(ws, "payments", [
        _pay("DUPUEI000001", "OFC-DUP", "2024-03-01", "4500.00", invoice="INV-0012", payment_id="PAY-1"),
        # the same invoice written differently, the vendor named by its vendor number only
        {"vendor_id": "V100", "office_code": "OFC-DUP", "paid_date": "2024-03-19", "amount": D("4500.00"),
         "currency": "USD", "invoice": "inv 12", "payment_id": "PAY-2"}])
    # a legitimate recurring payment: the same amount every month, each month its own invoice
    ids["dup_rent"] = add_records(ws, "payments", [
        _pay("RENTUEI00001", "OFC-DUP", f"2024-{m:02d}-01", "2000.00", invoice=f"2024-{m:02d}")
        for m in range(1, 7)])
    # no invoice numbers: the same amount twice in two days is a duplicate ...
    ids["dup_noinv"] = add_records(ws, "payments", [
        _pay("NOINVUEI0001", "OFC-DUP", "2024-05-01", "777.00"),
        _pay("NOINVUEI0001", "OFC-DUP", "2024-05-02", "777.00")])
    # ... a month apart it is not
    ids["dup_noinv_monthly"] = add_records(ws, "payments", [
        _pay("NOINVUEI0002", "OFC-DUP", f"2024-{m:02d}-15", "500.00") for m in range(1, 5)])

    # 3. Benford -----------------------------------------------------------------------------------
    # a vendor whose invoices crowd under a $5,000 limit: 600 of $4,9xx among 600 that conform
    amounts = [D(4900 + i % 100) + D(i % 7) / 100 for i in range(600)] + _benford_amounts(600, 1)
    rows = [_pay("FAKEUEI00001", "OFC-BEN1", f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}", str(a), invoice=f"BF-{i}")
            for i, a in enumerate(amounts)]
    ids["benford"] = add_records(ws, "payments", rows)
    ids["benford_amounts"] = amounts
    # a vendor whose 1,500 amounts conform (its own office)
    good = _benford_amounts(1500, 2)
    ids["benford_good"] = add_records(ws, "payments", [
        _pay("GOODUEI00001", "OFC-BEN2", f"2023-{1 + i % 12:02d}-{1 + i % 28:02d}", str(a), invoice=f"BG-{i}")
        for i, a in enumerate(good)])

    # 4. vendor-employee links -------------------------------------------------------------------------
    ids["link_official"] = add_records(ws, "officials", [
        {"person_id": "E100", "name": "Jane Roe", "role": "contracting officer", "office_code": "OFC-LINK",
         "address_norm": "12 ELM ST SPRINGFIELD IL 62701", "phone_norm": "2175550100"}])
    ids["link_vendor"] = add_records(ws, "vendors", [
        {"origin": "sam", "uei": "ROEUEI000001", "name": "Roe Consulting LLC",
         "address_norm": "12 ELM ST SPRINGFIELD IL 62701", "phone_norm": "2175559999"}])
    ids["link_awards"] = add_records(ws, "awards", [
        _award("ROEUEI000001", "OFC-LINK", "2024-02-01", "40000.00", recipient_name="Roe Consulting LLC"),
        _award("ROEUEI000001", "OFC-LINK", "2024-06-01", "60000.00", recipient_name="Roe Consulting LLC")])
    ids["link_payments"] = add_records(ws, "payments", [
        _pay("ROEUEI000001", "OFC-PAY", "2024-07-01", "30000.00", approver="e100"),   # approved by her
        _pay("ROEUEI000001", "OFC-PAY", "2024-08-01", "20000.00", approver="E999")])  # by someone else
    # an official whose address no vendor has
    ids["link_alone"] = add_records(ws, "officials", [
        {"person_id": "E200", "name": "John Doe", "office_code": "OFC-LINK", "address_norm": "9 PINE RD DOVER DE 19901"}])
    # a mail drop shared by six vendors and an official: too common to mean anything
    ids["link_maildrop"] = add_records(ws, "vendors", [
        {"origin": "sam", "uei": f"DROPUEI0000{i}", "name": f"Drop Vendor {i}", "address_norm": "100 MAIN ST # 1 WILMINGTON DE 19801"}
        for i in range(6)])
    ids["link_maildrop_official"] = add_records(ws, "officials", [
        {"person_id": "E300", "name": "Sam Poe", "address_norm": "100 MAIN ST # 1 WILMINGTON DE 19801"}])
    # a payment to a vendor paid into an official's own bank account
    ids["link_bank_official"] = add_records(ws, "officials", [
        {"person_id": "E400", "name": "Ann Fox", "office_code": "OFC-GHOST", "bank_account": "ACCT-777"}])
    ids["link_bank_payment"] = add_records(ws, "payments", [
        {"vendor_name": "Ghost Services", "office_code": "OFC-GHOST2", "paid_date": "2024-04-04",
         "amount": D("9100.00"), "currency": "USD", "pay_account": "ACCT-777", "payment_id": "G-1"}])

    # 5. shell vendors -------------------------------------------------------------------------------
    ids["shell_vendor"] = add_records(ws, "vendors", [
        {"origin": "sam", "uei": "SHELLUEI0001", "name": "Apex Solutions Group LLC", "ein": "123456789",
         "started": "2024-01-10", "registered": "2024-01-15", "bank_account": "SHELL-ACCT",
         "address_norm": "500 OAK AVE # 9 DOVER DE 19901"}])
    ids["shell_other"] = add_records(ws, "vendors", [
        {"origin": "sam", "uei": "OTHERUEI0001", "name": "Apex Federal Partners LLC",
         "address_norm": "500 OAK AVE # 9 DOVER DE 19901"}])
    ids["shell_award"] = add_records(ws, "awards", [_award("SHELLUEI0001", "OFC-SHELL", "2024-02-01", "50000.00")])
    ids["shell_payment"] = add_records(ws, "payments", [
        _pay("SHELLUEI0001", "OFC-SHELL", "2024-03-01", "50000.00", pay_account="SHELL-ACCT", payment_id="SH-1")])
    # an established vendor with staff, paid the same way, paying its suppliers
    ids["old_vendor"] = add_records(ws, "vendors", [
        {"origin": "sam", "uei": "OLDUEI000001", "name": "Old Reliable Inc", "ein": "987654321",
         "started": "2001-05-01", "registered": "2003-01-01", "bank_account": "OLD-ACCT",
         "address_norm": "1 FACTORY RD DAYTON OH 45402"}])
    ids["old_award"] = add_records(ws, "awards", [_award("OLDUEI000001", "OFC-SHELL", "2024-02-01", "50000.00")])
    ids["old_payment"] = add_records(ws, "payments", [
        _pay("OLDUEI000001", "OFC-SHELL", "2024-03-01", "50000.00", pay_account="OLD-ACCT")])
    ids["payroll"] = add_records(ws, "payroll_lines", [
        {"employer": "987654321", "employer_name": "Old Reliable Inc", "employer_ein": "987654321",
         "pay_date": "2024-03-15", "worker_key": f"k{i}", "gross": D("2500.00"), "currency": "USD"} for i in range(3)])
    (tmp / "bank.csv").write_text("\n".join([
        "d,amt,from,to,ch",
        "2024-03-01,50000,TREASURY,SHELL-ACCT,ach",
        "2024-03-03,30000,SHELL-ACCT,PERSON-1,transfer",
        "2024-03-04,15000,SHELL-ACCT,GB29NWBK60161331926819,wire",
        "2024-03-20,1000,SHELL-ACCT,MX-ACCT-9,wire",            # after the window: not counted
        "2024-03-01,50000,TREASURY,OLD-ACCT,ach",
        "2024-03-03,30000,OLD-ACCT,STEEL-SUPPLY,ach",
        "2024-03-04,15000,OLD-ACCT,PARTS-CO,ach",
    ]) + "\n")
    (tmp / "kyc.csv").write_text("\n".join([
        "account,name,kind,country",
        "PERSON-1,Maria Lopez,individual,US",
        "MX-ACCT-9,Comercial Norte SA,business,MX",
        "STEEL-SUPPLY,Steel Supply Co,business,US",
        "PARTS-CO,Parts Co Inc,business,US",
        "SHELL-ACCT,Apex Solutions Group LLC,business,US",
        "OLD-ACCT,Old Reliable Inc,business,US",
    ]) + "\n")
    ingest_file(ws, tmp / "kyc.csv", "accounts", mapping=ACCOUNTS_MAPPING)
    ingest_file(ws, tmp / "bank.csv", "csv", mapping=BANK_MAPPING)
    ids["shell_tx"] = [r[0] for r in ws.query(
        "SELECT tx_id FROM transactions WHERE orig_account = 'SHELL-ACCT' AND ts < TIMESTAMP '2024-03-10' "
        "ORDER BY ts")]
    ids["shell_deposit"] = [r[0] for r in ws.query(          # the agency's payment as the bank credited it
        "SELECT tx_id FROM transactions WHERE orig_account = 'TREASURY' AND bene_account = 'SHELL-ACCT'")]

    # 6. single-offer competitions and bid rotation --------------------------------------------------
    vendors4 = ["SOLEUEI00001", "SOLEUEI00002", "SOLEUEI00003", "SOLEUEI00004"]
    rows = []
    for i in range(12):   # 8 of 12 competed awards with one offer
        rows.append(_award(vendors4[i % 4], "OFC-SOLE", f"2023-{1 + i:02d}-10", "90000.00", award_key=f"SO-{i}",
                           extent_competed="A", offers=1 if i < 8 else 3, naics=f"5416{i:02d}"))
    # a modification of a one-offer award repeats its offers: counted once
    rows.append(_award(vendors4[0], "OFC-SOLE", "2023-12-20", "5000.00", award_key="SO-0", modification="P00001",
                       extent_competed="A", offers=1, naics="541600"))
    ids["sole"] = add_records(ws, "awards", rows)
    ids["sole_fair"] = add_records(ws, "awards", [   # 3 of 12 with one offer
        _award(vendors4[i % 4], "OFC-FAIR", f"2023-{1 + i:02d}-11", "90000.00", award_key=f"FA-{i}",
               extent_competed="A", offers=1 if i < 3 else 4, naics=f"5417{i:02d}") for i in range(12)])
    ids["sole_source"] = add_records(ws, "awards", [   # one offer, but not competed at all
        _award(vendors4[i % 4], "OFC-SOLESRC", f"2023-{1 + i:02d}-12", "90000.00", award_key=f"SS-{i}",
               extent_competed="C", offers=1, naics="541612") for i in range(12)])
    rot = ["ROTUEI00000A", "ROTUEI00000B", "ROTUEI00000C"]
    ids["rotation"] = add_records(ws, "awards", [
        _award(rot[i % 3], "OFC-ROT", f"2022-{1 + i:02d}-05", "400000.00", award_key=f"RO-{i}",
               extent_competed="A", offers=3, naics="236220") for i in range(12)])
    mixed = "AABACCBBACAB"   # the same three vendors in no rotation: 6 of 10 in turn
    ids["rotation_mixed"] = add_records(ws, "awards", [
        _award(f"ROTUEI00000{v}", "OFC-NOROT", f"2022-{1 + i:02d}-06", "400000.00", award_key=f"NR-{i}",
               extent_competed="A", offers=3, naics="236220") for i, v in enumerate(mixed)])

    run_pipeline(ws, stages=["resolve", "graph"])
    return ids


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contracts")
    ws = Workspace.open(tmp / "c.duckdb")
    ids = plant(ws, tmp)
    yield ws, ids
    ws.close()


PARAMS = resolve_params({})


def found(ws, tid: str, **params) -> list[dict]:
    p = resolve_params({tid: params})[tid] if params else PARAMS[tid]
    typ = BY_ID[tid]
    typ.notes = []
    rows = typ.run(get_backend(ws), p)
    for r in rows:   # every row explains itself
        assert typ.explain(r, p) and typ.source in typ.explain(r, p)
    return rows


def parties(row) -> set[str]:
    return {a["account_id"] for a in row["accounts"]}


def recs(row) -> list[tuple[str, int]]:
    return sorted((r["kind"], r["record_id"]) for r in row["records"])


def involving(rows, party: str) -> list[dict]:
    return [r for r in rows if party in parties(r)]


def kinds(ids, kind) -> list[tuple[str, int]]:
    return [(kind, i) for i in ids]


# -- split purchases ---------------------------------------------------------------------------------

def test_far_schedule_boundaries():
    assert far_thresholds_on(dt.date(2020, 8, 30)).micro_purchase == 3500
    assert far_thresholds_on(dt.date(2020, 8, 31)).micro_purchase == 10000
    assert far_thresholds_on(dt.date(2020, 8, 31)).simplified_acquisition == 250000
    assert far_thresholds_on(dt.date(2025, 9, 30)).micro_purchase == 10000
    assert far_thresholds_on(dt.date(2025, 10, 1)).micro_purchase == 15000
    assert far_thresholds_on(dt.date(2025, 10, 1)).simplified_acquisition == 350000
    assert far_thresholds_on(dt.date(2015, 10, 1)).micro_purchase == 3500
    assert far_thresholds_on(dt.date(2006, 9, 27)) is None
    assert [r.effective for r in FAR_THRESHOLDS] == sorted(r.effective for r in FAR_THRESHOLDS)
    assert all(" FR " in r.source and "FAR case" in r.source for r in FAR_THRESHOLDS)


def test_split_purchase_after_2020_increase(planted):
    ws, ids = planted
    rows = found(ws, "split_purchase")
    (r,) = involving(rows, "vendor:SPLITUEI0001")
    assert recs(r) == kinds(ids["split_2020"], "payments")
    assert {(a["account_id"], a["role"]) for a in r["accounts"]} == {
        ("vendor:SPLITUEI0001", "vendor"), ("office:OFC-SPLIT1", "paying office")}
    assert r["tx_ids"] == [] and r["total_amount"] == D("14000") and r["score"] == pytest.approx(1.4)
    assert r["stats"]["tier"] == "micro-purchase" and r["stats"]["lim_high"] == D("10000")
    text = BY_ID["split_purchase"].explain(r, PARAMS["split_purchase"])
    assert "$10,000.00" in text and "85 FR 40064" in text and "13.003(c)(2)" in text and "2020-08-31" in text
    # the same three payments before 2020-08-31 were each above the $3,500 threshold then
    assert not involving(rows, "vendor:SPLITUEI0002")
    # $9,000 across the boundary: above the $3,500 of its first day, not above the $10,000 after
    assert not involving(rows, "vendor:SPLITUEI0003")


def test_split_purchase_before_2025_increase_and_not_after(planted):
    ws, ids = planted
    rows = found(ws, "split_purchase")
    (r,) = involving(rows, "vendor:SPLITUEI0004")
    assert recs(r) == kinds(ids["split_2025"], "awards")
    assert ("office:OFC-SPLIT4", "awarding office") in {(a["account_id"], a["role"]) for a in r["accounts"]}
    assert r["stats"]["lim_high"] == D("10000")
    assert "PO-25-1" in BY_ID["split_purchase"].explain(r, PARAMS["split_purchase"])
    assert not involving(rows, "vendor:SPLITUEI0005")      # $12,000 is under the $15,000 from 2025-10-01


def test_split_purchase_under_the_simplified_acquisition_threshold(planted):
    ws, ids = planted
    (r,) = involving(found(ws, "split_purchase"), "vendor:SPLITUEI0006")
    assert recs(r) == kinds(ids["split_sat"], "awards")
    assert r["stats"]["tier"] == "simplified acquisition" and r["stats"]["lim_high"] == D("150000")
    text = BY_ID["split_purchase"].explain(r, PARAMS["split_purchase"])
    assert "$150,000.00" in text and "80 FR 38293" in text


def test_split_purchase_thresholds_a_run_sets(planted):
    ws, ids = planted
    rows = found(ws, "split_purchase", micro_purchase_threshold=20000, simplified_acquisition_threshold=500000)
    assert not involving(rows, "vendor:SPLITUEI0004") and not involving(rows, "vendor:SPLITUEI0001")
    rows = found(ws, "split_purchase", micro_purchase_threshold=8000)   # the 2025-10 pair now exceeds it
    (r,) = involving(rows, "vendor:SPLITUEI0005")
    assert "set for this run, $8,000.00" in BY_ID["split_purchase"].explain(r, resolve_params(
        {"split_purchase": {"micro_purchase_threshold": 8000}})["split_purchase"])
    assert not found(ws, "split_purchase", record_kinds="")
    with pytest.raises(ConfigError, match="must be below"):
        resolve_params({"split_purchase": {"micro_purchase_threshold": 300000}})
    with pytest.raises(ConfigError, match="must be"):
        resolve_params({"split_purchase": {"micro_purchase_threshold": 9000, "simplified_acquisition_threshold": 8000}})


# -- duplicate payments -------------------------------------------------------------------------------

def test_duplicate_invoice_written_two_ways(planted):
    ws, ids = planted
    rows = found(ws, "duplicate_payment")
    (r,) = involving(rows, "vendor:DUPUEI000001")
    assert recs(r) == kinds(ids["dup"], "payments")
    assert r["stats"]["rule"] == "invoice" and r["stats"]["invoice"] == "12" and r["score"] == 1.0
    text = BY_ID["duplicate_payment"].explain(r, PARAMS["duplicate_payment"])
    assert "PAY-1" in text and "PAY-2" in text and "$4,500.00 beyond a single payment" in text
    assert not involving(rows, "vendor:RENTUEI00001")       # same amount monthly, each its own invoice


def test_duplicate_without_invoice_numbers(planted):
    ws, ids = planted
    rows = found(ws, "duplicate_payment")
    (r,) = involving(rows, "vendor:NOINVUEI0001")
    assert recs(r) == kinds(ids["dup_noinv"], "payments") and r["stats"]["rule"] == "amount"
    assert not involving(rows, "vendor:NOINVUEI0002")       # a month apart
    assert not involving(found(ws, "duplicate_payment", include_without_invoice=False), "vendor:NOINVUEI0001")
    # invoices are compared with their amounts only when asked: the planted pair has equal amounts
    assert involving(found(ws, "duplicate_payment", match_amount=True), "vendor:DUPUEI000001")


# -- Benford ---------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(scale=st.floats(min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_mad_of_exact_benford_proportions_is_zero(scale):
    assert mad({d: scale * benford_p(d) for d in range(1, 10)}) == pytest.approx(0, abs=1e-12)
    assert mad({d: scale * benford_p(d) for d in range(10, 100)}, two=True) == pytest.approx(0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=100, max_value=20_000), two=st.booleans())
def test_whole_counts_nearest_benford_are_within_one_record_of_it(n, two):
    ds = range(10, 100) if two else range(1, 10)
    counts = {d: round(n * benford_p(d)) for d in ds}
    total = sum(counts.values())
    # each count is half a record from n*p, the total a few records from n: MAD <= 1 / total
    assert mad(counts, two) <= 1 / total + 1e-12
    if not two and total >= 167:
        assert conformity(mad(counts)) == "close conformity"


def test_benford_proportions_and_bands():
    assert sum(benford_p(d) for d in range(1, 10)) == pytest.approx(1)
    assert sum(benford_p(d) for d in range(10, 100)) == pytest.approx(1)
    assert benford_p(1) == pytest.approx(0.30103, abs=1e-5)
    assert NIGRINI_FIRST == (0.006, 0.012, 0.015) and NIGRINI_FIRST_TWO == (0.0012, 0.0018, 0.0022)
    assert [conformity(x) for x in (0.005, 0.011, 0.014, 0.02)] == [
        "close conformity", "acceptable conformity", "marginally acceptable conformity", "nonconformity"]
    assert conformity(0.0019, two=True) == "marginally acceptable conformity"


def _first(a: Decimal) -> int:
    return int(str(int(a * 100))[0])


def test_benford_flags_the_vendor_crowding_under_a_limit(planted):
    ws, ids = planted
    rows = found(ws, "benford")
    (r,) = [x for x in involving(rows, "vendor:FAKEUEI00001")]
    amounts = ids["benford_amounts"]
    fours = [rid for rid, a in zip(ids["benford"], amounts) if _first(a) == 4]
    assert recs(r) == kinds(fours, "payments")
    s = r["stats"]
    assert s["failed_first"] and not s["failed_first_two"] and s["mad_first_two"] is None   # < 3,000 amounts
    assert s["counts_first_two"] is None and s["top_first_two"] is None
    assert [t["d"] for t in s["top_first"]] == [4]
    counts = {d: sum(1 for a in amounts if _first(a) == d) for d in range(1, 10)}
    assert s["counts_first"] == [counts[d] for d in range(1, 10)]
    assert float(s["mad_first"]) == pytest.approx(mad(counts), rel=1e-9)
    assert r["score"] == pytest.approx(mad(counts) / 0.015, rel=1e-9)
    text = BY_ID["benford"].explain(r, PARAMS["benford"])
    assert "nonconformity" in text and "Nigrini" in text and "4 leads" in text
    # its office (the same payments) is flagged as a paying office
    (o,) = involving(rows, "office:OFC-BEN1")
    assert recs(o) == recs(r) and ("office:OFC-BEN1", "paying office") in {
        (a["account_id"], a["role"]) for a in o["accounts"]}
    # the vendor whose amounts follow Benford's law, and its office, are not
    assert not involving(rows, "vendor:GOODUEI00001") and not involving(rows, "office:OFC-BEN2")


def test_benford_first_two_digits(planted):
    ws, ids = planted
    rows = found(ws, "benford", min_records_two=1000, scopes="vendor")
    (r,) = involving(rows, "vendor:FAKEUEI00001")
    s = r["stats"]
    assert s["failed_first_two"] and [t["d"] for t in s["top_first_two"]] == [49]
    assert len(s["counts_first_two"]) == 90
    # the first-two evidence (leads 49) lies within the first-digit evidence (leads 4)
    amounts = ids["benford_amounts"]
    assert recs(r) == kinds([rid for rid, a in zip(ids["benford"], amounts) if _first(a) == 4], "payments")
    good = involving(rows, "vendor:GOODUEI00001")
    assert not good, good[0]["stats"] if good else None     # 1,500 conforming amounts pass both tests
    assert not involving(rows, "office:OFC-BEN1")           # scopes=vendor


# -- vendor-employee links ----------------------------------------------------------------------------

def test_vendor_sharing_an_officials_address(planted):
    ws, ids = planted
    rows = found(ws, "vendor_employee_link")
    (r,) = involving(rows, "official:E100")
    assert recs(r) == sorted(kinds(ids["link_vendor"], "vendors") + kinds(ids["link_official"], "officials")
                             + kinds(ids["link_awards"], "awards") + kinds(ids["link_payments"][:1], "payments"))
    assert {(a["account_id"], a["role"]) for a in r["accounts"]} == {
        ("vendor:ROEUEI000001", "vendor"), ("official:E100", "official sharing an address"),
        ("office:OFC-LINK", "awarding office")}
    assert r["score"] == 2.0 and r["total_amount"] == D("30000")   # she approved a payment to it
    text = BY_ID["vendor_employee_link"].explain(r, PARAMS["vendor_employee_link"])
    assert "the address 12 ELM ST SPRINGFIELD IL 62701" in text and "approved 1 payment" in text and "FAR 3.601" in text
    assert not involving(rows, "official:E200")            # an address no vendor has
    assert not involving(rows, "official:E300")            # a mail drop of six vendors
    assert involving(found(ws, "vendor_employee_link", max_holders=10), "official:E300")


def test_vendor_paid_into_an_officials_bank_account(planted):
    ws, ids = planted
    rows = found(ws, "vendor_employee_link")
    (r,) = involving(rows, "official:E400")
    assert recs(r) == sorted(kinds(ids["link_bank_payment"], "payments") + kinds(ids["link_bank_official"], "officials"))
    assert ("ACCT-777", "shared bank account") in {(a["account_id"], a["role"]) for a in r["accounts"]}
    assert ("vendor:GHOST SERVICES", "vendor") in {(a["account_id"], a["role"]) for a in r["accounts"]}
    # no office link: dropped when one is required
    assert not involving(found(ws, "vendor_employee_link", require_office_link=True), "official:E400")
    assert involving(found(ws, "vendor_employee_link", require_office_link=True), "official:E100")
    assert not involving(found(ws, "vendor_employee_link", identifier_kinds="address,phone"), "official:E400")


# -- shell vendors ------------------------------------------------------------------------------------

def test_shell_vendor_signs(planted):
    ws, ids = planted
    rows = found(ws, "shell_vendor")
    (r,) = involving(rows, "vendor:SHELLUEI0001")
    s = r["stats"]
    assert (s["recent"], s["no_payroll"], s["pass_through"], s["shared_address"]) == (True, True, True, True)
    assert s["signs"] == 4 and r["score"] == 2.0 and s["age_days"] == 22
    assert recs(r) == sorted(kinds(ids["shell_vendor"], "vendors") + kinds(ids["shell_award"], "awards")
                             + kinds(ids["shell_payment"], "payments") + kinds(ids["shell_other"], "vendors"))
    assert len(ids["shell_deposit"]) == 1
    assert sorted(r["tx_ids"]) == sorted(ids["shell_tx"] + ids["shell_deposit"])
    # a trace of the finding starts from the contract money as it arrived, not from its onward legs
    from moneytrail import _reads
    assert _reads.entry_transactions(ws, r["tx_ids"]) == ids["shell_deposit"]
    roles = {(a["account_id"], a["role"]) for a in r["accounts"]}
    assert roles == {("vendor:SHELLUEI0001", "vendor"), ("SHELL-ACCT", "vendor bank account"),
                     ("TREASURY", "paying account"),
                     ("PERSON-1", "personal recipient"), ("GB29NWBK60161331926819", "offshore recipient"),
                     ("vendor:OTHERUEI0001", "vendor sharing an address")}
    assert s["onward"] == D("45000") and s["paid_in"] == D("50000")
    text = BY_ID["shell_vendor"].explain(r, PARAMS["shell_vendor"])
    assert "22 days before" in text and "no payroll" in text and "90%" in text and "GAO-20-106" in text
    assert "arriving in 1 deposit(s)" in text
    # the established vendor with staff, paying suppliers: no sign at all
    assert not involving(rows, "vendor:OLDUEI000001")
    # the vendor sharing the address received no money: it is evidence, never judged itself
    assert not [x for x in rows if x["key"].startswith("vendor:OTHERUEI0001")]


def test_shell_vendor_without_wage_records_says_the_payroll_sign_was_not_judged(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    add_records(ws, "vendors", [{"origin": "sam", "uei": "NEWUEI000001", "name": "New Co LLC",
                                 "started": "2024-01-01", "address_norm": "1 A ST"},
                                {"origin": "sam", "uei": "NEWUEI000002", "name": "Other Co LLC", "address_norm": "1 A ST"}])
    add_records(ws, "awards", [_award("NEWUEI000001", "OFC", "2024-02-01", "1000.00")])
    run_pipeline(ws, stages=["resolve", "graph"])
    typ = BY_ID["shell_vendor"]
    (r,) = found(ws, "shell_vendor")
    assert not r["stats"]["payroll_judged"] and r["stats"]["signs"] == 2
    assert "was not judged" in typ.explain(r, PARAMS["shell_vendor"])
    assert any("not judged" in n for n in typ.notes)
    ws.close()


# -- single offers and rotation --------------------------------------------------------------------------

def test_single_offer_office(planted):
    ws, ids = planted
    rows = found(ws, "single_offer")
    (r,) = involving(rows, "office:OFC-SOLE")
    assert recs(r) == kinds(ids["sole"][:8], "awards")       # the base awards only, not the modification
    assert r["stats"]["n"] == 12 and r["stats"]["n1"] == 8 and r["score"] == pytest.approx(8 / 12 / 0.5)
    assert "GAO-10-833" in BY_ID["single_offer"].explain(r, PARAMS["single_offer"])
    assert not involving(rows, "office:OFC-FAIR")            # 3 of 12
    assert not involving(rows, "office:OFC-SOLESRC")         # not competed: sole source, not single offer
    assert not [x for x in rows if x["key"].startswith("vendor:")]   # no vendor has 10 competed awards


def test_bid_rotation(planted):
    ws, ids = planted
    rows = found(ws, "bid_rotation")
    (r,) = involving(rows, "office:OFC-ROT")
    assert recs(r) == kinds(ids["rotation"], "awards")
    assert r["stats"]["k"] == 3 and r["stats"]["turns"] == 10 and r["score"] == pytest.approx(1 / 0.8)
    assert {a["account_id"] for a in r["accounts"]} == {"office:OFC-ROT", "vendor:ROTUEI00000A",
                                                        "vendor:ROTUEI00000B", "vendor:ROTUEI00000C"}
    assert "bid rotation" in BY_ID["bid_rotation"].explain(r, PARAMS["bid_rotation"]).lower()
    assert not involving(rows, "office:OFC-NOROT")           # the same vendors, 6 of 10 in turn


# -- the catalogue around them -------------------------------------------------------------------------

def test_skip_reasons_name_the_missing_records(ws):
    reasons = {t.id: t.skip_reason(ws) for t in CONTRACTS}
    assert all(reasons.values()), reasons
    assert "--format usaspending" in reasons["split_purchase"] and "--format payments" in reasons["split_purchase"]
    assert "--format payments" in reasons["duplicate_payment"]
    assert "--format officials" in reasons["vendor_employee_link"]
    assert "--format sam" in reasons["shell_vendor"]
    assert all(t.family == "contracts" for t in CONTRACTS)


def test_findings_are_written_with_their_records(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    ids = add_records(ws, "payments", [
        _pay("SPLITUEI0001", "OFC-SPLIT1", "2020-09-02", "5000.00"),
        _pay("SPLITUEI0001", "OFC-SPLIT1", "2020-09-03", "6000.00")])
    res = run_pipeline(ws, stages=["resolve", "graph", "detect"],
                       params={"detect": {"typologies": [t.id for t in CONTRACTS]}})
    det = res["stages"]["detect"]
    assert det["findings"]["split_purchase"] == 1
    assert set(det["skipped"]) >= {"vendor_employee_link", "shell_vendor", "single_offer", "bid_rotation"}
    got = ws.query("SELECT r.kind, r.record_id FROM finding_records r JOIN findings f USING (finding_id) "
                   "WHERE f.typology = 'split_purchase' ORDER BY r.record_id")
    assert got == [("payments", i) for i in ids]
    assert ws.query("SELECT account_id, role FROM finding_accounts ORDER BY account_id") == [
        ("office:OFC-SPLIT1", "paying office"), ("vendor:SPLITUEI0001", "vendor")]
    # the stages a run hands the engine as temporary tables are gone after it
    assert not ws.query("SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name LIKE '_ct_%'")
    key = ws.scalar("SELECT finding_key FROM findings WHERE typology = 'split_purchase'")
    run_pipeline(ws, stages=["detect"], params={"detect": {"typologies": ["split_purchase"]}})
    assert ws.scalar("SELECT finding_key FROM findings WHERE typology = 'split_purchase'") == key   # stable
    ws.close()


def test_split_purchase_notes_what_it_left_out(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    add_records(ws, "awards", [_award("OLDUEI", "OFC", "2005-03-01", "2000.00"),
                               _award("OLDUEI", "OFC", "2005-03-02", "2000.00")])
    add_records(ws, "payments", [_pay("EURUEI", "OFC", "2024-03-01", "6000.00", currency="EUR"),
                                 _pay("EURUEI", "OFC", "2024-03-02", "6000.00", currency="EUR")])
    assert found(ws, "split_purchase") == []
    notes = BY_ID["split_purchase"].notes
    assert any("2 award or payment record(s) dated before 2006-09-28" in n for n in notes), notes
    assert any("2 payment(s) in a currency other than US dollars" in n for n in notes), notes
    ws.close()


def test_hostile_text_in_records_stays_data(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    evil = "X') OR 1=1 --"
    add_records(ws, "payments", [
        {"vendor_name": evil, "office": evil, "paid_date": "2024-01-02", "amount": D("800.00"), "currency": "USD",
         "invoice": evil},
        {"vendor_name": evil, "office": evil, "paid_date": "2024-01-03", "amount": D("800.00"), "currency": "USD",
         "invoice": evil.lower()}])
    (r,) = found(ws, "duplicate_payment")
    assert "vendor:" + evil.upper() in parties(r)
    ws.close()


# -- one Spark run over every planted case ------------------------------------------------------------

def test_a_supplier_paid_every_few_days_is_routine_not_a_split(tmp_path):
    """split_purchase v2: two payments in a week that together pass the threshold are a split
    from a vendor the office rarely pays, routine from one it pays every few days."""
    ws = Workspace.open(tmp_path / "w.duckdb")
    # a supplier paid every third day all year, $6,000-$8,000 a time (the $10,000 threshold)
    add_records(ws, "payments", [_pay("ROUTINEUEI01", "OFC-R", str(dt.date(2021, 1, 1) + dt.timedelta(days=3 * k)),
                                      f"{6000 + (k * 137) % 2000}.00") for k in range(120)])
    # a vendor the office pays twice a year, and twice in one week just under the threshold
    rare = add_records(ws, "payments", [_pay("RAREUEI00001", "OFC-R", "2021-02-01", "1200.00"),
                                        _pay("RAREUEI00001", "OFC-R", "2021-06-01", "9500.00"),
                                        _pay("RAREUEI00001", "OFC-R", "2021-06-04", "9400.00"),
                                        _pay("RAREUEI00001", "OFC-R", "2021-11-01", "800.00")])
    rows = found(ws, "split_purchase")
    assert not involving(rows, "vendor:ROUTINEUEI01")
    (r,) = involving(rows, "vendor:RAREUEI00001")
    assert recs(r) == kinds(rare[1:3], "payments")
    assert "usual pace" in BY_ID["split_purchase"].explain(r, PARAMS["split_purchase"])
    # with the pace test off, the routine supplier's weeks are splits too
    assert involving(found(ws, "split_purchase", burst_ratio=1), "vendor:ROUTINEUEI01")
    ws.close()
