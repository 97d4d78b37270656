"""Published USAspending and SAM.gov layouts read without a mapping (issue 17, item 5), on files
taken from public repositories (tests/fixtures/usaspending/README.md names each source, commit
and licence): a real legacy usaspending.gov data feed download, GSA's example of the SAM.gov
Entity Management API CSV export, and the header of a current contract transactions download as
the USAspending download code defines it.

Six tests were first written as strict expected failures, each naming what the verified names
and values called for (the legacy sub-agency and parent columns, legacy "CODE: DESCRIPTION"
values, code columns before description columns, the SAM API export's names and its "null",
the FOUO extract's contact names); the reader now does each."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from moneytrail.ingest import ingest_file
from moneytrail.ingest.records import KINDS

FIX = Path(__file__).parent / "fixtures" / "usaspending"
LEGACY = FIX / "legacy_datafeed_treasury_2016.csv"
CURRENT_HEADER = FIX / "current_prime_transactions_header_only.csv"
SAM_API = FIX / "sam_entity_api_v3_csv_response.xlsx"


def stored_or_quarantined(ws, sid: int, table: str, read: int) -> dict[int, tuple[str | None, str]]:
    """Rows 1..read of source ``sid`` each once in ``table`` or the quarantine; the quarantine."""
    r, s, q = ws.query("SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?", [sid])[0]
    assert (r, s + q) == (read, read)
    rows = sorted(x for (x,) in ws.query(f"SELECT source_row FROM {table} WHERE source_id = ? UNION ALL "
                                         "SELECT source_row FROM quarantine WHERE source_id = ?", [sid, sid]))
    assert rows == list(range(1, read + 1))
    return {row: (col, why) for row, col, why in ws.query(
        "SELECT source_row, column_name, reason FROM quarantine WHERE source_id = ?", [sid])}


def bound_of(ws, sid: int) -> dict[str, list[str]]:
    return json.loads(ws.scalar("SELECT mapping FROM sources WHERE source_id = ?", [sid]))["bound"]


def file_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- the legacy data feed (usaspending.gov before 2017) ------------------------------------------

#: field -> the legacy data feed column it is read from, checked against the file's header and the
#: API's own legacy loader (load_usaspending_contracts.py, fedspendingtransparency/usaspending-api)
LEGACY_BOUND = {
    "transaction_key": "unique_transaction_id", "piid": "piid", "parent_piid": "idvpiid",
    "modification": "modnumber", "solicitation": "solicitationid", "action_date": "signeddate",
    "obligation": "dollarsobligated", "current_value": "baseandexercisedoptionsvalue",
    "potential_value": "baseandalloptionsvalue", "agency": "maj_agency_cat", "office_code": "contractingofficeid",
    "recipient_duns": "dunsnumber", "recipient_name": "vendorname", "recipient_address": "streetaddress",
    "recipient_address_2": "streetaddress2", "recipient_city": "city", "recipient_state": "state",
    "recipient_zip": "zipcode", "recipient_phone": "phoneno", "naics": "principalnaicscode",
    "psc": "productorservicecode", "extent_competed": "extentcompeted", "offers": "numberofoffersreceived",
    "set_aside": "typeofsetaside", "award_type": "contractactiontype",
    "description": "descriptionofcontractrequirement",
}


@pytest.fixture
def legacy(ws):
    res = ingest_file(ws, LEGACY, "usaspending")
    return ws, res


def test_every_row_of_the_legacy_data_feed_is_stored_without_a_mapping(legacy):
    ws, res = legacy
    assert (res.read, res.stored, res.quarantined) == (20, 20, 0)
    assert stored_or_quarantined(ws, res.source_id, "awards", 20) == {}


def test_legacy_values_are_the_files(legacy):
    ws, res = legacy
    rows = {r["source_row"]: r for r in ws.records("SELECT * FROM awards WHERE source_id = ?", [res.source_id])}
    for i, f in enumerate(file_rows(LEGACY), 1):
        a = rows[i]
        assert a["transaction_key"] == f["unique_transaction_id"] and a["piid"] == f["piid"]
        assert a["modification"] == f["modnumber"]
        assert a["obligation"] == Decimal(f["dollarsobligated"])       # 4 decimals written, 2 kept: all cents
        assert a["action_date"] == datetime.strptime(f["signeddate"], "%m/%d/%Y").date()
        assert a["recipient_duns"] == f["dunsnumber"] and a["recipient_name"] == " ".join(f["vendorname"].split())
        assert a["offers"] == (int(f["numberofoffersreceived"]) if f["numberofoffersreceived"] else None)
        assert a["naics"] == (f["principalnaicscode"] or None)
        assert a["parent_piid"] == (f["idvpiid"] or None) and a["solicitation"] == (f["solicitationid"] or None)
    # spot checks, read off the file by eye
    r1, r4, r8, r10, r17 = rows[1], rows[4], rows[8], rows[10], rows[17]
    assert (r1["transaction_key"], str(r1["obligation"]), r1["action_date"], r1["recipient_duns"], r1["offers"]) == \
        ("596c844b-4bce-43c7-bc01-2e79e55582fb", "0.00", date(2016, 9, 8), "004496600", 5)
    assert r1["phone_norm"] == "3023761743" and r1["potential_value"] == Decimal("0") and r1["current_value"] is None
    assert r1["address_norm"] == "400 PENN CTR BLVD #100 PITTSBURGH PA 152213504"
    assert (str(r4["obligation"]), r4["parent_piid"]) == ("-6000.00", "GS06F0062S")
    assert (str(r8["obligation"]), r8["recipient_name"]) == ("-62512.00", "CAPRICE ELECTRONICS, INC.")
    assert (str(r10["obligation"]), r10["recipient_duns"], r10["offers"]) == ("17349.90", "146625272", 2)
    assert r17["recipient_name"].startswith("VETTORI, RUBINSTEIN") and r17["phone_norm"] is None


def test_legacy_columns_bound_are_the_verified_ones(legacy):
    ws, res = legacy
    bound = bound_of(ws, res.source_id)
    assert {k: bound.get(k) for k in LEGACY_BOUND} == {k: [v] for k, v in LEGACY_BOUND.items()}
    # the legacy feed has no award key, no office name column and no UEI (UEIs began in 2022)
    assert not {"award_key", "office", "recipient_uei", "parent_uei"} & set(bound)


def test_legacy_subagency_and_parent_come_from_the_columns_that_hold_them(legacy):
    ws, res = legacy
    bound = bound_of(ws, res.source_id)
    assert bound.get("subagency") == ["contractingofficeagencyid"]     # mod_agency is empty on every row
    assert bound.get("parent_name") == ["mod_parent"]
    r10 = ws.records("SELECT * FROM awards WHERE source_id = ? AND source_row = 10", [res.source_id])[0]
    assert r10["parent_name"] == "SICPA HOLDING SA"


def test_legacy_coded_fields_keep_the_code(legacy):
    ws, res = legacy
    rows = {r["source_row"]: r for r in ws.records("SELECT * FROM awards WHERE source_id = ?", [res.source_id])}
    r1 = rows[1]      # 2033K2: US MINT ARC | A: FULL AND OPEN ... | NONE: NO SET ASIDE USED. | B: IDC | 8135: ...
    assert (r1["office_code"], r1["extent_competed"], r1["set_aside"], r1["award_type"], r1["psc"]) == \
        ("2033K2", "A", "NONE", "B", "8135")
    assert rows[18]["extent_competed"] == "NDO"


# -- the current layout (Custom Award Data / Award Data Archive contract transactions) -----------

#: field -> current download column, from download_column_historical_lookups.py (transaction_search, d1)
CURRENT_BOUND = {
    "transaction_key": "contract_transaction_unique_key", "award_key": "contract_award_unique_key",
    "piid": "award_id_piid", "parent_piid": "parent_award_id_piid", "modification": "modification_number",
    "solicitation": "solicitation_identifier", "action_date": "action_date", "obligation": "federal_action_obligation",
    "current_value": "base_and_exercised_options_value", "potential_value": "base_and_all_options_value",
    "agency": "awarding_agency_name", "subagency": "awarding_sub_agency_name", "office_code": "awarding_office_code",
    "office": "awarding_office_name", "recipient_uei": "recipient_uei", "recipient_duns": "recipient_duns",
    "recipient_name": "recipient_name", "parent_uei": "recipient_parent_uei", "parent_name": "recipient_parent_name",
    "recipient_address": "recipient_address_line_1", "recipient_address_2": "recipient_address_line_2",
    "recipient_city": "recipient_city_name", "recipient_state": "recipient_state_code",
    "recipient_zip": "recipient_zip_4_code", "recipient_phone": "recipient_phone_number", "naics": "naics_code",
    "psc": "product_or_service_code", "offers": "number_of_offers_received", "set_aside": "type_of_set_aside_code",
    "description": "transaction_description",
}


def test_the_current_header_is_the_downloads():
    header = CURRENT_HEADER.read_text(encoding="utf-8").rstrip("\n").split(",")
    assert len(header) == len(set(header)) == 297
    assert set(CURRENT_BOUND.values()) | {"extent_competed_code", "extent_competed", "award_type_code",
                                          "award_type"} <= set(header)


def test_the_current_header_binds_the_verified_columns(ws):
    res = ingest_file(ws, CURRENT_HEADER, "usaspending")
    assert (res.read, res.stored, res.quarantined) == (0, 0, 0)
    bound = bound_of(ws, res.source_id)
    assert {k: bound.get(k) for k in CURRENT_BOUND} == {k: [v] for k, v in CURRENT_BOUND.items()}


def test_the_current_header_binds_codes_not_descriptions(ws):
    res = ingest_file(ws, CURRENT_HEADER, "usaspending")
    bound = bound_of(ws, res.source_id)
    assert bound.get("extent_competed") == ["extent_competed_code"]
    assert bound.get("award_type") == ["award_type_code"]


# -- SAM.gov Entity Management API CSV export ----------------------------------------------------

#: field -> column of the Entity Management API CSV export (GSA's v3 example)
SAM_API_COLUMNS = {
    "name": "legalBusinessName", "uei": "ueiSAM", "cage": "cageCode", "dba": "dbaName",
    "address": "physicalAddress.addressLine1", "address_2": "physicalAddress.addressLine2",
    "city": "physicalAddress.city", "state": "physicalAddress.stateOrProvinceCode", "zip": "physicalAddress.zipCode",
    "country": "physicalAddress.countryCode", "phone": "governmentBusinessPOC.usPhone",
    "email": "governmentBusinessPOC.email", "registered": "registrationDate", "activated": "activationDate",
    "expires": "registrationExpirationDate", "started": "entityStartDate", "naics": "assertions.primaryNaics",
}


def check_sam_record(ws, res):
    assert (res.read, res.stored, res.quarantined) == (1, 1, 0)
    assert stored_or_quarantined(ws, res.source_id, "vendors", 1) == {}
    v = ws.records("SELECT * FROM vendors WHERE source_id = ?", [res.source_id])[0]
    assert (v["origin"], v["name"], v["uei"], v["cage"]) == ("sam", "SEWING SUGI, K.K.", "J58ME6A75BU9", "JA459")
    assert (v["registered"], v["activated"], v["expires"], v["started"]) == \
        (date(2021, 7, 2), date(2021, 7, 2), date(2022, 7, 2), date(1979, 11, 1))
    assert (v["country"], v["state"], v["email"]) == ("XXX", "XX", "something@sam.gov")
    return v


def test_the_sam_api_export_is_read_with_a_mapping(ws):
    res = ingest_file(ws, SAM_API, "sam", mapping={"columns": SAM_API_COLUMNS})
    check_sam_record(ws, res)


def test_the_sam_api_export_is_read_without_a_mapping(ws):
    res = ingest_file(ws, SAM_API, "sam")
    check_sam_record(ws, res)
    assert bound_of(ws, res.source_id) == {k: [v] for k, v in SAM_API_COLUMNS.items()}


def test_the_sam_api_exports_null_is_no_value(ws):
    res = ingest_file(ws, SAM_API, "sam", mapping={"columns": SAM_API_COLUMNS})
    v = check_sam_record(ws, res)
    assert v["dba"] is None and v["naics"] is None


def test_the_sam_kind_knows_the_extract_names():
    """The SAM extract's own names (SAM Master Extract Mapping v6.0 Public File V2 Layout, GSA), as
    a file given a header would carry them, bind without a mapping."""
    from moneytrail.ingest.records import RecordsMapping, bind_columns

    header = ["UNIQUE ENTITY ID", "BLANK (DEPRECATED)", "CAGE CODE", "INITIAL REGISTRATION DATE",
              "REGISTRATION EXPIRATION DATE", "ACTIVATION DATE", "LEGAL BUSINESS NAME", "DBA NAME",
              "PHYSICAL ADDRESS LINE 1", "PHYSICAL ADDRESS LINE 2", "PHYSICAL ADDRESS CITY",
              "PHYSICAL ADDRESS PROVINCE OR STATE", "PHYSICAL ADDRESS ZIP/POSTAL CODE", "PHYSICAL ADDRESS COUNTRY CODE",
              "ENTITY START DATE", "PRIMARY NAICS"]
    bound = bind_columns(KINDS["sam"], header, RecordsMapping(), SAM_API)
    assert bound == {"name": ["LEGAL BUSINESS NAME"], "uei": ["UNIQUE ENTITY ID"], "cage": ["CAGE CODE"],
                     "dba": ["DBA NAME"], "address": ["PHYSICAL ADDRESS LINE 1"],
                     "address_2": ["PHYSICAL ADDRESS LINE 2"], "city": ["PHYSICAL ADDRESS CITY"],
                     "state": ["PHYSICAL ADDRESS PROVINCE OR STATE"], "zip": ["PHYSICAL ADDRESS ZIP/POSTAL CODE"],
                     "country": ["PHYSICAL ADDRESS COUNTRY CODE"], "registered": ["INITIAL REGISTRATION DATE"],
                     "activated": ["ACTIVATION DATE"], "expires": ["REGISTRATION EXPIRATION DATE"],
                     "started": ["ENTITY START DATE"], "naics": ["PRIMARY NAICS"]}


def test_the_sam_kind_knows_the_fouo_extract_contact_names():
    from moneytrail.ingest.records import RecordsMapping, bind_columns

    header = ["UNIQUE ENTITY ID", "LEGAL BUSINESS NAME", "GOVT BUS POC FIRST NAME", "GOVT BUS POC LAST NAME",
              "GOVT BUS POC U.S. PHONE", "GOVT BUS POC EMAIL "]
    bound = bind_columns(KINDS["sam"], header, RecordsMapping(), SAM_API)
    assert bound.get("phone") == ["GOVT BUS POC U.S. PHONE"] and bound.get("email") == ["GOVT BUS POC EMAIL "]
