"""Employer and contract records (issue 17): every row stored or quarantined with its reason,
published layouts read without a mapping, worker identifiers never stored in clear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest import ingest_file
from moneytrail.ingest import workerid
from moneytrail.ingest.records import KINDS
from moneytrail.workspace import Workspace

from cli_helpers import mt, ok, one_line_error
from xlsx_helpers import write_xlsx


def conserved(ws, sid: int, table: str) -> dict[int, tuple[str | None, str, str]]:
    """Rows 1..read of source ``sid`` each in ``table`` or the quarantine, once; the quarantine."""
    read, stored, bad = ws.query("SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?",
                                 [sid])[0]
    assert read == stored + bad
    assert ws.scalar(f"SELECT count(*) FROM {table} WHERE source_id = ?", [sid]) == stored
    rows = sorted(r for (r,) in ws.query(f"SELECT source_row FROM {table} WHERE source_id = ? UNION ALL "
                                         "SELECT source_row FROM quarantine WHERE source_id = ?", [sid, sid]))
    assert rows == list(range(1, read + 1))
    assert ws.scalar(f"SELECT count(*) FROM {table} WHERE source_id = ? AND record_id <> source_id * 10000000000 "
                     "+ source_row", [sid]) == 0
    return {r: (c, why, raw) for r, c, why, raw in ws.query(
        "SELECT source_row, column_name, reason, raw FROM quarantine WHERE source_id = ?", [sid])}


PAYROLL = """Company,EIN,Check Date,SSN,Hours,Gross Pay,Net Pay,Housing,Payment Method,Deposit Account,State
Acme Farms,12-3456789,2024-03-15,123-45-6789,80,580.00,400.00,100,DD,ACC1,TX
Acme Farms,12-3456789,2024-03-15,987-65-4321,80,"$1,200.00",900,,cash,,TX
Acme Farms,12-3456789,03/29/2024,000-12-3456,40,290,250,,cash,,TX
Acme Farms,12-3456789,2024-03-29,12345,40,290,250,,cash,,TX
Acme Farms,12-3456789,2024-03-29,123-45-6789,forty,290,250,,cash,,TX
Acme Farms,12-3456789,2024-13-29,123-45-6789,40,290,250,,cash,,TX
Acme Farms,12-3456789,2024-03-29,123-45-6789,40,290,250,,bitcoin,,TX
Acme Farms,12-3456789,2024-03-29,923-70-1234,40,(290.00),250,,cash,,T
Acme Farms,12-3456789,2024-03-29,923-70-1234,40,,250,,cash,,TX
Acme Farms,12-3456789,2024-03-29,923-70-1234,40,290,250,,cash,,TX,extra
"""


def test_a_payroll_register_is_stored_or_quarantined_row_by_row(ws, tmp_path):
    p = tmp_path / "payroll.csv"
    p.write_text(PAYROLL)
    r = ingest_file(ws, p, "payroll", mapping={"values": {"pay_method": {"DD": "direct_deposit"}}})
    q = conserved(ws, r.source_id, "payroll_lines")
    assert (r.read, r.stored) == (10, 3)
    assert q[4][:2] == ("SSN", "worker_ssn is not nine digits (an SSN, ITIN or TIN)")
    assert q[5][:2] == ("Hours", "hours forty is not a number")
    assert q[6][0] == "Check Date" and q[6][1].startswith("pay_date 2024-13-29 is not a date")
    assert q[7][:2] == ("Payment Method", "pay_method bitcoin is not one of card, cash, check, direct_deposit, "
                                          "money_order, other (map it under values:)")
    assert q[8][:2] == ("State", "work_state T is not a two-letter state code")
    assert q[9][:2] == ("Gross Pay", "gross is empty")
    assert "fields" in q[10][1]
    rows = ws.records("SELECT * FROM payroll_lines ORDER BY source_row")
    assert [(x["source_row"], str(x["gross"]), x["pay_method"], x["worker_id_kind"], x["worker_last4"])
            for x in rows] == [(1, "580.00", "direct_deposit", "ssn", "6789"), (2, "1200.00", "cash", "itin", "4321"),
                               (3, "290.00", "cash", "ssn_invalid", "3456")]
    assert {x["employer"] for x in rows} == {"123456789"} and rows[0]["deduction_housing"] == 100
    assert rows[0]["pay_account"] == "ACC1" and rows[0]["work_state"] == "TX" and rows[0]["currency"] == "USD"


def test_worker_identifiers_are_never_stored_in_clear(tmp_path):
    path = tmp_path / "w.duckdb"
    p = tmp_path / "payroll.csv"
    p.write_text(PAYROLL)
    with Workspace.open(path) as ws:
        ingest_file(ws, p, "payroll", mapping={"values": {"pay_method": {"DD": "direct_deposit"}}})
        raws = " ".join(r for (r,) in ws.query("SELECT raw FROM quarantine"))
        keys = {k for (k,) in ws.query("SELECT DISTINCT worker_key FROM payroll_lines")}
        # one number, one key; another number, another
        same = ws.query("SELECT worker_last4, count(DISTINCT worker_key) FROM payroll_lines GROUP BY 1")
        assert all(n == 1 for _, n in same) and len(keys) == 3
        ws.con.execute("CHECKPOINT")
    for ssn in ("123456789", "123-45-6789", "987654321", "987-65-4321", "923701234", "923-70-1234", "12345"):
        assert ssn not in raws
    data = path.read_bytes()
    for ssn in (b"123-45-6789", b"987-65-4321", b"923-70-1234", b"123456789"[::1] + b"x"):
        assert ssn not in data
    assert "***-**-6789" in raws


def test_the_key_is_the_workspaces_own(tmp_path):
    p = tmp_path / "payroll.csv"
    p.write_text("Company,Check Date,SSN,Gross Pay\nA,2024-01-05,123-45-6789,100\n")
    keys = []
    for name in ("a", "b"):
        with Workspace.open(tmp_path / f"{name}.duckdb") as ws:
            ingest_file(ws, p, "payroll")
            keys.append(ws.scalar("SELECT worker_key FROM payroll_lines"))
    assert keys[0] != keys[1] and all(re.fullmatch("[0-9a-f]{32}", k) for k in keys)


def test_an_employers_own_worker_number_is_hashed_per_employer(ws, tmp_path):
    p = tmp_path / "payroll.csv"
    p.write_text("Company,Check Date,Employee ID,Gross Pay\nA,2024-01-05,E001,100\nB,2024-01-05,E001,100\n"
                 "a ,2024-01-12,E001,100\n")
    ingest_file(ws, p, "payroll")
    rows = ws.query("SELECT employer, worker_key, worker_id_kind FROM payroll_lines ORDER BY source_row")
    assert rows[0][1] != rows[1][1] and rows[0][1] == rows[2][1] and rows[0][2] == "employee"


USASPENDING_CURRENT = (
    "contract_transaction_unique_key,contract_award_unique_key,award_id_piid,modification_number,"
    "federal_action_obligation,action_date,awarding_agency_name,awarding_office_code,awarding_office_name,"
    "recipient_uei,recipient_name,recipient_address_line_1,recipient_city_name,recipient_state_code,"
    "recipient_zip_4_code,recipient_phone_number,naics_code,product_or_service_code,extent_competed_code,"
    "number_of_offers_received,type_of_set_aside_code\n"
    "K1,A1,PIID1,0,9500.00,2024-01-05,Dept of X,off1,Office One,ABCDEF123456,Shell LLC,12 Main Street,Austin,TX,"
    "78701-1234,(512) 555-0100,541511,D307,A,1,NONE\n"
    "K2,A2,PIID2,P00001,-100.00,2024-01-06,Dept of X,OFF1,Office One,abcdef123456,Shell LLC,12 Main St.,Austin,TX,"
    "78701,5125550100,541511,D307,A,,NONE\n"
    "K3,A3,PIID3,0,lots,2024-01-06,Dept of X,OFF1,Office One,XYZ,Shell LLC,12 Main St.,Austin,TX,78701,"
    "5125550100,541511,D307,A,,NONE\n")
USASPENDING_LEGACY = (
    "unique_transaction_id,transaction_status,dollarsobligated,signeddate,vendorname,dunsnumber,piid,modnumber,"
    "contractingofficeid,streetaddress,city,state,zipcode,phoneno,extentcompeted,numberofoffersreceived,"
    "principalnaicscode\n"
    "0d42d,active,77431.000000,07/03/2010,SUPREME FOODSERVICE AG,4813475520000,SPM30008D3153,0,SPM300,"
    "ZIEGELBRUECKSTRASSE 66,ZIEGELBRUECKE,,8866,,C,1,424490\n"
    "0d42e,active,10.005,07/03/2010,X,123,P,0,SPM300,,,,,,C,one,424490\n")


def test_usaspending_downloads_are_read_without_a_mapping_current_and_legacy(ws, tmp_path):
    cur, old = tmp_path / "Contracts_PrimeTransactions_1.csv", tmp_path / "legacy.csv"
    cur.write_text(USASPENDING_CURRENT)
    old.write_text(USASPENDING_LEGACY)
    a, b = ingest_file(ws, cur, "usaspending"), ingest_file(ws, old, "usaspending")
    qa, qb = conserved(ws, a.source_id, "awards"), conserved(ws, b.source_id, "awards")
    assert qa[3][:2] == ("federal_action_obligation", "obligation lots is not an amount")
    assert qb[2][:2] == ("dollarsobligated", "obligation 10.005 has more than 2 decimals")
    rows = ws.records("SELECT * FROM awards ORDER BY record_id")
    assert [(r["transaction_key"], str(r["obligation"]), r["office_code"], r["recipient_uei"]) for r in rows] == [
        ("K1", "9500.00", "OFF1", "ABCDEF123456"), ("K2", "-100.00", "OFF1", "ABCDEF123456"),
        ("0d42d", "77431.00", "SPM300", None)]
    assert rows[0]["address_norm"] == rows[1]["address_norm"] == "12 MAIN ST AUSTIN TX 78701"
    assert rows[0]["phone_norm"] == "5125550100" and rows[0]["offers"] == 1 and rows[0]["extent_competed"] == "A"
    assert rows[2]["recipient_duns"] == "481347552" and str(rows[2]["action_date"]) == "2010-07-03"
    # which column fed which field is kept with the source
    import json
    bound = json.loads(ws.scalar("SELECT mapping FROM sources WHERE source_id = ?", [b.source_id]))["bound"]
    assert bound["obligation"] == ["dollarsobligated"] and bound["action_date"] == ["signeddate"]


def test_a_file_without_a_required_column_is_one_clear_error(ws, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("recipient_name,naics_code\nA,1\n")
    with pytest.raises(InputError, match=r"x.csv: USAspending contract transactions: no column for action_date, "
                                         r"obligation \(header: recipient_name, naics_code\)"):
        ingest_file(ws, p, "usaspending")
    assert ws.scalar("SELECT count(*) FROM sources") == 0


def test_a_mapping_names_only_the_kinds_fields(ws, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(MappingError, match="columns: 'salary' is not a field of payroll register"):
        ingest_file(ws, p, "payroll", mapping={"columns": {"salary": "a"}})
    with pytest.raises(MappingError, match="defaults: worker_ssn identifies a person"):
        ingest_file(ws, p, "payroll", mapping={"defaults": {"worker_ssn": "123456789"}})
    with pytest.raises(MappingError, match="values: pay_method: 'barter' is not one of"):
        ingest_file(ws, p, "payroll", mapping={"values": {"pay_method": {"x": "barter"}}})


def test_mapping_columns_defaults_and_date_formats(ws, tmp_path):
    p = tmp_path / "ledger.csv"
    p.write_text("Voucher;Payee;Inv;Paid;Amt\nV1;ACME;INV-001;05.01.2024;1.500,00\nV2;ACME;INV-002;06.01.2024;12\n")
    r = ingest_file(ws, p, "payments", mapping={
        "delimiter": ";", "date_format": "%d.%m.%Y", "defaults": {"office": "Region 4", "currency": "usd"},
        "columns": {"payment_id": "Voucher", "vendor_name": "Payee", "invoice": "Inv", "paid_date": "Paid",
                    "amount": "Amt"}})
    q = conserved(ws, r.source_id, "payments")
    assert q[1][1] == "amount 1.500,00 is not an amount"      # never read as 1.5
    assert ws.query("SELECT payment_id, paid_date::VARCHAR, amount::VARCHAR, office, currency FROM payments") == [
        ("V2", "2024-01-06", "12.00", "Region 4", "USD")]


def test_a_decimal_comma_is_read_only_when_the_mapping_says_so(ws, tmp_path):
    p = tmp_path / "ledger.csv"
    p.write_text("paid_date;amount;vendor_name\n2024-01-05;1.500,00;A\n2024-01-05;(12,50);A\n2024-01-05;.5;A\n"
                 "2024-01-05;1,500.00;A\n")
    r = ingest_file(ws, p, "payments", mapping={"delimiter": ";", "decimal": ","})
    q = conserved(ws, r.source_id, "payments")
    assert [str(a) for (a,) in ws.query("SELECT amount FROM payments ORDER BY source_row")] == ["1500.00", "-12.50"]
    assert set(q) == {3, 4}


def test_hostile_values_are_data(ws, tmp_path):
    p = tmp_path / "staff.csv"
    evil = "x'); DROP TABLE officials; --"
    p.write_text(f'person_id,name,office,address\nP1,"{evil}","{evil}",1 Elm Street Apt 4\n')
    r = ingest_file(ws, p, "officials", mapping={"defaults": {"title": evil}})
    conserved(ws, r.source_id, "officials")
    assert ws.query("SELECT name, office, title, address_norm FROM officials") == [(evil, evil, evil, "1 ELM ST #4")]


def test_an_xlsx_payroll_register(ws, tmp_path):
    import datetime as dt

    p = tmp_path / "payroll.xlsx"
    write_xlsx(p, [["Company", "Check Date", "SSN", "Hours", "Gross Pay"],
                   ["Acme", dt.date(2024, 3, 15), "123-45-6789", 40, 290.5],
                   ["Acme", "03/22/2024", "123-45-6789", 40, 300],
                   ["Acme", "soon", "123-45-6789", 40, 300]])
    r = ingest_file(ws, p, "payroll")
    q = conserved(ws, r.source_id, "payroll_lines")
    assert [str(d) for (d,) in ws.query("SELECT pay_date FROM payroll_lines ORDER BY 1")] == ["2024-03-15", "2024-03-22"]
    assert q[3][1].startswith("pay_date soon is not a date")
    assert ws.scalar("SELECT source_position FROM quarantine") == "sheet Sheet1 row 4"


def test_wage_reports_941_quarters_and_ui_records(ws, tmp_path):
    f941, ui = tmp_path / "941.csv", tmp_path / "ui.csv"
    f941.write_text("EIN,Name,Year,Quarter,Line 1,Line 2,Line 3\n12-3456789,Acme,2024,Q2,3,15000.00,1200\n"
                    "12-3456789,Acme,2024,5,3,1,1\n")
    ui.write_text("ein,ssn,year,qtr,gross_wages,hours\n123456789,123-45-6789,2024,2,3000,480\n")
    a, b = ingest_file(ws, f941, "form941"), ingest_file(ws, ui, "uiwage")
    qa = conserved(ws, a.source_id, "wage_reports")
    conserved(ws, b.source_id, "wage_reports")
    assert qa[2][:2] == ("Quarter", "quarter 5 is not a quarter (1-4)")
    rows = ws.query("SELECT form, employer_ein, quarter, period_start::VARCHAR, period_end::VARCHAR, employees, "
                    "wages::VARCHAR, worker_last4 FROM wage_reports ORDER BY form")
    assert rows == [("941", "123456789", 2, "2024-04-01", "2024-06-30", 3, "15000.00", None),
                    ("ui", "123456789", 2, "2024-04-01", "2024-06-30", None, "3000.00", "6789")]


def test_records_belong_to_their_case(tmp_path):
    p = tmp_path / "vendors.csv"
    p.write_text("vendor_number,vendor_name,tin,bank_account\nV1,ACME,123-45-6789,ACC9\n")
    with Workspace.open(tmp_path / "w.duckdb") as ws:
        a, b = ws.for_case("A"), ws.for_case("B")
        ingest_file(a, p, "vendors")
        assert a.query("SELECT vendor_id, origin, tin_last4, bank_account FROM vendors") == [
            ("V1", "vendor_master", "6789", "ACC9")]
        assert b.scalar("SELECT count(*) FROM vendors") == 0


def test_the_cli_reads_a_download_and_refuses_a_bad_one_in_one_line(tmp_path):
    from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority

    (tmp_path / "d.csv").write_text(USASPENDING_CURRENT)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    w = tmp_path / "w.duckdb"
    with Workspace.open(w) as ws:
        setup_demo_authority(ws)
    args = ("-w", str(w), "--case", DEMO_CASE, "--legal-basis", "subpoena:GJ-1")
    out = ok(mt("ingest", "d.csv", "-f", "usaspending", *args, cwd=tmp_path, officer=DEMO_OFFICER))
    assert "2 stored" in out.replace(",", "") or "stored" in out, out
    one_line_error(mt("ingest", "bad.csv", "-f", "usaspending", *args, cwd=tmp_path, officer=DEMO_OFFICER),
                   "no column for action_date")
    with Workspace.open(w) as ws:
        assert ws.for_case(DEMO_CASE).scalar("SELECT count(*) FROM awards") == 2


def test_every_kind_documents_its_fields():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "records.md").read_text()
    for name, kind in KINDS.items():
        assert f"`--format {name}`" in doc, name
        for f in kind.fields:
            assert f"`{f.name}`" in doc, (name, f.name)


# -- identifiers -------------------------------------------------------------------------------------

@given(st.integers(0, 999_999_999))
def test_nine_digits_read_in_any_written_form_and_mask_to_the_last_four(n):
    d = f"{n:09d}"
    for text in (d, f"{d[:3]}-{d[3:5]}-{d[5:]}", f" {d[:3]} {d[3:5]} {d[5:]} "):
        assert workerid.digits(text) == d
    assert workerid.mask(d) == "***-**-" + d[5:]
    assert workerid.classify(d) in ("ssn", "itin", "ssn_invalid")


@given(st.lists(st.one_of(st.integers(0, 999_999_999).map(lambda n: f"{n:09d}"),
                          st.text(alphabet="abc ,;-", max_size=5)), max_size=8))
def test_masked_text_keeps_no_nine_digit_number(parts):
    text = ",".join(parts)
    masked = workerid.mask_text(text)
    assert not re.search(r"(?<![0-9])[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}(?![0-9])", masked)


def test_ssn_and_itin_ranges():
    assert workerid.classify("123456789") == "ssn"
    assert [workerid.classify(x) for x in ("000123456", "666123456", "123004567", "123450000")] == ["ssn_invalid"] * 4
    assert workerid.classify("912701234") == "itin" and workerid.classify("912931234") == "ssn_invalid"


# -- findings that cite records ------------------------------------------------------------------

class _Src:
    id, version, source = "split_test", "1", "test source"

    def explain(self, row, p):
        return "two payments just under the threshold"


class _P:
    def to_dict(self):
        return {}


def test_a_finding_cites_records_which_reads_and_exports_carry_with_provenance(ws, tmp_path):
    import csv
    import datetime as dt

    from moneytrail import _reads, export
    from moneytrail.detect.store import finding_key, write_findings

    p = tmp_path / "ledger.csv"
    p.write_text("payment_id,vendor_name,invoice,paid_date,amount,office\nP1,ACME,I-1,2024-01-05,9900,R4\n"
                 "P2,ACME,I-2,2024-01-06,9800,R4\n")
    sid = ingest_file(ws, p, "payments").source_id
    ids = [r for (r,) in ws.query("SELECT record_id FROM payments ORDER BY source_row")]
    ts = dt.datetime(2024, 1, 5)
    row = {"key": "k", "score": 1.5, "first_ts": ts, "last_ts": ts, "total_amount": 19700, "tx_ids": [],
           "accounts": [{"account_id": "vendor:ACME", "role": "vendor"}],
           "records": [{"kind": "payments", "record_id": i} for i in ids]}
    run = ws.start_run("detect", {})
    write_findings(ws, run, _Src(), _P(), [row])
    (f,) = _reads.findings(ws)
    assert [(x.kind, x.record_id) for x in f.records] == [("payments", ids[0]), ("payments", ids[1])]
    assert f.key == finding_key("split_test", "1", [], row["accounts"], row["records"])
    assert f.key != finding_key("split_test", "1", [], row["accounts"])      # the records are in the key
    one = _reads.finding(ws, f.key)
    assert [(r["party"], str(r["amount"]), r["file_name"], r["source_row"]) for r in one["records"]] == [
        ("ACME", "9900.00", "ledger.csv", 1), ("ACME", "9800.00", "ledger.csv", 2)]
    m = export.write(ws, tmp_path / "out")
    assert m["files"]["finding_records.csv"]["rows"] == 2 and m["files"]["sources.csv"]["rows"] == 1
    with open(tmp_path / "out" / "finding_records.csv", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [(g["kind"], g["record_id"], g["source_id"], g["source_row"]) for g in got] == [
        ("payments", str(ids[0]), str(sid), "1"), ("payments", str(ids[1]), str(sid), "2")]
    # a re-run that no longer finds it keeps it, records and all
    write_findings(ws, ws.start_run("detect", {}), _Src(), _P(), [])
    old = _reads.finding(ws, f.key)
    assert old["superseded"] and [x.record_id for x in old["finding"].records] == ids


def test_wage_reports_not_tagged_fti_get_a_note_saying_when_they_are():
    from moneytrail.cli.main import fti_note

    assert "26 U.S.C. 6103" in fti_note("form941", ["subpoena:GJ-1"])
    assert "fti:NAME" in fti_note("efw2", [])
    assert fti_note("form941", ["fti:Acme Farms LLC"]) is None
    assert fti_note("payroll", []) is None and fti_note("usaspending", []) is None
