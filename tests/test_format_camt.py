"""The ISO 20022 camt.053/camt.052 reader and writer (moneytrail.ingest.formats.camt).

(a) real sample files that public camt parsers publish as their own fixtures
(tests/fixtures/camt, see SOURCES.md), every schema version from .001.01 to .001.08;
(b) hostile files built here: truncated, DTD and entity bombs, wrong layouts, 50 MB values,
deep nesting, missing amounts, bad dates;
(c) the round trip read(write(records)) == records, on the fixtures and with Hypothesis.
"""

from __future__ import annotations

import dataclasses
import io
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.errors import InputError
from moneytrail.ingest.formats import camt
from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement

FIXTURES = Path(__file__).parent / "fixtures" / "camt"
CH053 = "camt.053_P_CH2909000000250094239_1110092698_0_2020112503071366.xml"
CH052 = "200519_camt.052_P_CH2909000000250094239_1110092686_0_2019042416072347.xml"
NS8 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def read(name: str) -> list:
    return list(camt.read(FIXTURES / name))


def entries(records: list) -> list[Entry]:
    return [r for r in records if isinstance(r, Entry)]


def statements(records: list) -> list[Statement]:
    return [r for r in records if isinstance(r, Statement)]


def write_file(tmp_path: Path, data: bytes | str, name: str = "t.xml") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def doc(body: str, header: str = "", ns: str = NS8) -> str:
    """A camt.053 document with one statement holding ``body`` (entries)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-01-31T10:00:00</CreDtTm></GrpHdr>"
            "<Stmt><Id>S1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>"
            f"{header}{body}</Stmt></BkToCstmrStmt></Document>\n")


def ntry(amount: str = "10.00", ind: str = "CRDT", inner: str = "", date: str = "<Dt>2024-01-15</Dt>") -> str:
    amt = f'<Amt Ccy="EUR">{amount}</Amt>' if amount is not None else ""
    return (f"<Ntry>{amt}<CdtDbtInd>{ind}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt>{date}</BookgDt>{inner}</Ntry>")


# ---------------------------------------------------------------------------------------------
# sniff


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_sniff_knows_every_statement_and_report_fixture(name):
    head = (FIXTURES / name).read_bytes()[:8192]
    assert camt.sniff(head) is (not name.startswith("camt054"))


@pytest.mark.parametrize("head", [
    b"date,amount,description\n2024-01-01,10.00,<BkToCstmrStmt>\n",
    b":20:STARTUMS\n:25:10020030/1234567\n:28C:1/1\n",
    b"01,ABC,XYZ,240101,1200,1,80,1,2/\n",
    b"OFXHEADER:100\nDATA:OFXSGML\n<OFX><BANKMSGSRSV1>",
    b'<?xml version="1.0"?><?OFX OFXHEADER="200"?><OFX><BANKMSGSRSV1></BANKMSGSRSV1></OFX>',
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">'
    b"<BkToCstmrDbtCdtNtfctn>",
    b"", b"\xef\xbb\xbf", b"PK\x03\x04",
])
def test_sniff_refuses_other_formats(head):
    assert camt.sniff(head) is False


def test_sniff_reads_bom_utf16_and_prefixed_names():
    text = doc(ntry())
    assert camt.sniff(b"\xef\xbb\xbf" + text.encode())
    assert camt.sniff(text.encode("utf-16"))
    assert camt.sniff(text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"))
    assert camt.sniff(b'<c:Document xmlns:c="urn:x"><c:BkToCstmrAcctRpt>')
    assert camt.sniff(b"<Document><BkToCstmrStmtV01>")


# ---------------------------------------------------------------------------------------------
# (a) real fixtures


def test_camt053_v2_minimal_statement_balances_and_entry():
    recs = read("camt053.v2.minimal.xml")
    assert [type(r) for r in recs] == [Statement, Entry]
    s, e = recs
    assert s.position == "/Document/BkToCstmrStmt/Stmt[1]"
    assert (s.kind, s.account, s.currency, s.statement_id, s.sequence) == \
        ("camt.053", "NL26VAYB8060476890", "EUR", "253EURNL26VAYB8060476890", "12312")
    assert (s.created, s.period_from, s.period_to) == \
        ("2015-03-10T18:43:50+00:00", "2007-10-18T08:00:00+01:00", "2007-10-18T12:30:00+01:00")
    assert s.opening_booked == Balance("18.15", "2014-12-30", False)
    assert s.closing_booked == Balance("27.00", "2014-12-31", True)          # DBIT: negative
    assert s.opening_available == Balance("35.00", "2014-12-30", False)
    assert s.closing_available == Balance("2700", "2014-12-31", True)
    assert s.extra["msg_id"] == "CAMT053RIB000000000001" and s.extra["schema"] == "camt.053.001.02"
    assert s.extra["copy_duplicate"] == "CODU"
    assert e.position == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"
    assert (e.amount, e.direction, e.currency, e.booking_date, e.value_date, e.status) == \
        ("8.85", CREDIT, "EUR", "2014-12-31", "2015-01-02", "BOOK")
    # a credit: the counterparty is the debtor, with its IBAN
    assert (e.counterparty_name, e.counterparty_account) == ("NAME NAME", "NL56AGDH9619008421")
    assert e.remittance == "4654654654654654"           # Strd/CdtrRefInf/Ref
    assert (e.tx_code, e.channel, e.batch) == ("544", None, None)   # proprietary code: no channel
    assert e.raw.startswith("<Ntry>") and "NAME NAME" in e.raw and len(e.raw) <= 2000 + 40


def test_camt053_multi_statement_entries_follow_their_statement():
    recs = read("camt053.v2.multi.statement.xml")
    assert [type(r).__name__ for r in recs] == ["Statement", "Entry", "Statement", "Entry"]
    s1, e1, s2, e2 = recs
    assert (s1.statement_id, s2.statement_id) == ("253EURNL26VAYB8060476890", "254EURNL26VAYB8060476890")
    assert s2.opening_booked == Balance("27.00", "2014-12-30") and s2.closing_booked == Balance("20.00", "2014-12-31")
    assert e2.position == "/Document/BkToCstmrStmt/Stmt[2]/Ntry[1]"
    assert (e2.amount, e2.direction, e2.end_to_end_id, e2.remittance) == \
        ("7.00", DEBIT, "000000002", "Transaction Description 2")
    # a debit: the counterparty is the creditor
    assert (e2.counterparty_name, e2.counterparty_account) == ("Company Name 2", "NL56AGDH9619008421")
    # a credit that names only a creditor (the sample's own inconsistency): no counterparty invented
    assert (e1.direction, e1.counterparty_name, e1.remittance) == (CREDIT, None, "Transaction Description 1")


def test_camt053_v8_status_code_datetime_and_wrapped_parties():
    s, e = read("camt053.v8.xml")
    assert (s.account, s.holder_name, s.bank_name) == ("NL26VAYB8060476890", "FINPETROL", "AAAA BANKEN")
    assert s.extra["schema"] == "camt.053.001.08" and s.extra["page"] == "2"
    assert (e.status, e.booking_date, e.time, e.value_date) == ("BOOK", "2014-12-31", "13:15:00", "2015-01-02")
    assert (e.counterparty_name, e.counterparty_account) == ("NAME NAME", "NL56AGDH9619008421")   # Dbtr/Pty/Nm
    assert (e.end_to_end_id, e.bank_reference) == ("MUELL/FINP/RA12345", "AAAASESS-FP-CN_98765/01")
    assert (e.tx_code, e.channel) == ("PMNT/RCDT/BOOK", "transfer")
    assert e.amount == "8.85"        # the Ntry's amount, not the single detail's "0"


@pytest.mark.parametrize("name,schema", [("camt053.v3.xml", "camt.053.001.03"),
                                         ("camt053.v4.xml", "camt.053.001.04")])
def test_camt053_v3_v4(name, schema):
    s, e = read(name)
    assert s.extra["schema"] == schema and s.account == "NL26VAYB8060476890"
    assert (e.amount, e.direction, e.counterparty_name, e.remittance) == \
        ("8.85", CREDIT, "NAME NAME", "4654654654654654")
    if name == "camt053.v3.xml":
        assert (s.holder_name, s.bank_id, e.counterparty_bank) == ("COMPANY BVBA", "KREDBEBB", "KREDBEBB")
        assert (e.tx_code, e.channel, e.bank_reference) == ("PMNT/RCDT/DMCT", "wire", "XXXXXXXXXXXXXXXXXXXXXXEUR")
    else:
        assert (e.tx_code, e.channel) == ("PAYM/0001/0005", None)


def test_finnish_statement_splits_batches_into_their_details():
    recs = read("FI_camt_053_sample.xml.xml")
    s = recs[0]
    es = entries(recs)
    assert len(recs) == 14 and len(es) == 13 and not [r for r in recs if isinstance(r, Bad)]
    assert (s.account, s.currency, s.holder_name, s.bank_id) == \
        ("FI7433010001222090", "EUR", "BANK ACCOUNT OWNER", "ESSEFIHX")
    assert s.holder_address == "HELSINGINKATU 31, 00100 HELSINKI, FI"
    assert (s.statement_id, s.sequence, s.extra["legal_sequence"]) == ("BANKSTMTID0972009", "120", "97")
    assert s.opening_booked == Balance("10000.00", "2009-10-29")
    assert s.closing_booked == Balance("23644.83", "2009-10-29")
    assert s.closing_available == Balance("33644.83", "2009-10-29")
    assert s.extra["balance_PRCD"] == "10000.00 2009-10-28"
    assert (s.extra["entries_stated"], s.extra["credits_sum_stated"], s.extra["debits_sum_stated"]) == \
        ("10", "23075.00", "9430.17")

    # a salary batch booked as one sum, its one detail carrying no amount: one entry
    e1 = es[0]
    assert (e1.amount, e1.direction, e1.tx_code, e1.channel) == ("1000.12", DEBIT, "PMNT/ICDT/SALA", "payroll")
    assert (e1.bank_reference, e1.customer_reference, e1.batch) == \
        ("091029ACCTSTMTARCH01", "CustRefForSalaBatch", None)

    # Ntry[3]: 4230.05 split into three payments, each with its own amount and creditor
    batch = [e for e in es if e.batch == "091029ACCTSTMTARCH03"]
    assert [e.position for e in batch] == [
        f"/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/NtryDtls[1]/TxDtls[{i}]" for i in (1, 2, 3)]
    assert [e.amount for e in batch] == ["2000.02", "1000.01", "1230.02"]
    assert sum(Decimal(e.amount) for e in batch) == Decimal("4230.05")
    assert [e.bank_reference for e in batch] == ["091029ARCH03001", "091029ARCH03002", "091029ARCH03003"]
    assert [e.customer_reference for e in batch] == ["TITOT1106ID01", "TITOT1106ID02", "TITOT1106ID03"]
    assert [e.counterparty_account for e in batch] == ["29501800020582", "29501800020582", "29501800020574"]
    assert {e.counterparty_name for e in batch} == {"Creditor Company"}
    assert [e.remittance for e in batch] == ["3900", "Invoices 123 and 321", None]
    assert all(e.direction == DEBIT and e.booking_date == "2009-10-29" and e.channel == "wire" for e in batch)
    assert batch[0].raw.startswith("<TxDtls>") and batch[0].raw.endswith("</TxDtls>")

    by_ref = {e.bank_reference: e for e in es if e.batch is None}
    xbct = by_ref["091029ACCTSTMTARCH06"]
    assert (xbct.amount, xbct.direction, xbct.value_date) == ("2120.00", CREDIT, "2009-10-30")
    assert (xbct.counterparty_name, xbct.counterparty_bank) == ("DEBTOR NAME", "BOFAUS6H")
    assert (xbct.remittance, xbct.customer_reference, xbct.channel) == \
        ("INVOICE US20291092", "ISSRBKREF12345678", "wire")
    sct = by_ref["091029ACCTSTMTARCH08"]
    assert (sct.end_to_end_id, sct.counterparty_name, sct.counterparty_bank, sct.channel) == \
        ("EndToEndIdSCT01", "DEBTOR", "NDEAFIHH", "transfer")
    assert by_ref["091029ACCTSTMTARCH21"].channel == "ach"      # RDDT/PMDD: a direct debit

    # Ntry[10]: a charges entry split in two details, each with its own transaction code
    fees = [e for e in es if e.batch == "091029ACCTSTMTARCH09"]
    assert [(e.amount, e.tx_code, e.channel) for e in fees] == [
        ("100.00", "PMNT/RCDT/DMCT", "wire"), ("100.00", "PMNT/RCDT/ESCT", "transfer")]
    assert fees[0].counterparty_name is None   # a debit that names only a debtor
    # every Ntry is accounted for: the 10 the statement states, two of them as their details
    assert len({e.batch or e.position for e in es}) == int(s.extra["entries_stated"]) == 10


def test_finnish_reports_pending_and_interim_balances():
    recs = read("FI_camt_052_sample.xml.xml")
    r1, e1, r2, e2 = recs
    assert (r1.kind, r1.statement_id, r1.extra["account_name"]) == \
        ("camt.052", "BANKFILEID00001NTR00001", "Account name")
    assert r1.opening_booked is None and r1.closing_booked is None
    assert (e1.status, e1.amount, e1.bank_reference, e1.value_date) == ("PDNG", "2120.00", "21892819", "2009-11-03")
    # interim booked balances at 10:00 and 12:00: the first opens, the last closes the report
    assert r2.opening_booked == Balance("1000.00", "2009-10-30")
    assert r2.closing_booked == Balance("1100.00", "2009-10-30")
    assert r2.extra["opening_booked_from"] == r2.extra["closing_booked_from"] == "ITBD"
    assert (e2.amount, e2.booking_date, e2.time, e2.position) == \
        ("100.00", "2009-10-30", "11:00:00", "/Document/BkToCstmrAcctRpt/Rpt[2]/Ntry[1]")
    assert "\r" in e2.raw and e2.raw.startswith("<Ntry>") and e2.raw.endswith("</Ntry>")


def test_swiss_statement_entry_refs_and_additional_info():
    recs = read(CH053)
    s, es = recs[0], entries(recs)
    assert (s.account, s.currency, s.holder_name) == \
        ("CH2909000000250094239", "CHF", "Robert Schneider SA Grands magasins Biel/Bienne")   # currency from balances
    assert s.closing_available == Balance("215112.21", "2020-11-24")
    assert s.extra["balance_FWAV"] == "216649.21 2020-11-25"
    e = es[0]
    assert (e.amount, e.direction, e.bank_reference, e.tx_code, e.channel) == \
        ("4.50", CREDIT, "0758103031480900", "PMNT/IDDT/PMDD", "ach")
    assert e.remittance.startswith("GUTSCHRIFT CH-DD-BASISLASTSCHRIFT ID-NR. DES ZAHLUNGSEMPFÄNGERS")
    assert [x.amount for x in es] == ["4.50", "77.70", "1500.00", "1537.00", "1692.22"]
    assert [x.direction for x in es] == [CREDIT, DEBIT, CREDIT, CREDIT, CREDIT]


def test_swiss_report_interim_closing_and_references():
    s, e1, e2 = read(CH052)
    assert s.opening_booked == Balance("208509.19", "2019-04-24")
    assert s.closing_booked == Balance("207596.19", "2019-04-24") and s.extra["closing_booked_from"] == "ITBD"
    assert (e1.amount, e1.direction, e1.end_to_end_id, e1.bank_reference, e1.customer_reference) == \
        ("103.00", DEBIT, "20190423001255000100005", "25-1120172999-1", "30003101")
    assert e2.bank_reference == "25-1120172999-2"      # TxDtls/Refs/AcctSvcrRef before the Ntry's


def test_camt052_v1_proprietary_account_and_entry_level_batch():
    s, e = read("camt052.v1.xml")
    assert s.position == "/Document/BkToCstmrAcctRptV01/Rpt[1]" and s.kind == "camt.052"
    assert (s.account, s.holder_name, s.bank_name, s.extra["schema"]) == \
        ("CH2801234000123456789", "FINPETROL", "AAAA BANKEN", "camt.052.001.01")
    assert (e.amount, e.currency, e.direction, e.time) == ("200000", "SEK", DEBIT, "10:15:00")
    assert (e.customer_reference, e.remittance, e.tx_code, e.channel) == \
        ("FINP-0055-001", "Credit", "PAYM/0001/0003", None)


@pytest.mark.parametrize("version", ["4", "6"])
def test_camt052_counterparty_is_never_the_holder(version):
    s, e = read(f"camt052.v{version}.xml")
    assert (s.bank_id, s.bank_name) == ("UBSWCHZH80A", "UBS SWITZERLAND AG")
    assert s.closing_booked.amount == "10022.15" and s.extra["closing_booked_from"] == "ITBD"
    # a debit whose creditor is the holder's own account: the other side is the counterparty
    assert (e.direction, e.counterparty_name, e.counterparty_account, e.counterparty_bank) == \
        (DEBIT, f"Example Creditor {version} - V1", "CH2401234004141414141", "BANKCHBE")
    assert e.counterparty_account != s.account and e.status == "PDNG"
    assert (e.end_to_end_id, e.customer_reference) == ("UXC06140000015PI00001EE00001", "UXC06140000015PI00001II00001")


def test_camt052_v8_and_all_balance_types():
    s, e = read("camt052.v8.xml")
    assert (e.status, e.tx_code, e.channel, e.customer_reference) == ("BOOK", "PMNT/ICDT/XBCT", "wire", "FINP-0055-001")
    s = read("camt053.v2.all-balance-types.xml")[0]
    assert [s.opening_booked.amount, s.closing_booked.amount, s.opening_available.amount,
            s.closing_available.amount] == ["1.01", "4.04", "3.03", "5.05"]
    assert {k: v for k, v in s.extra.items() if k.startswith("balance_")} == {
        "balance_PRCD": "2.02 2015-01-21", "balance_FWAV": "6.06 2015-01-26", "balance_INFO": "7.07 2015-01-27",
        "balance_ITAV": "8.08 2015-01-28", "balance_ITBD": "9.09 2015-01-21", "balance_XPCD": "10.10 2015-01-21"}


def test_balance_date_given_as_datetime():
    (s,) = read("camt53.only-Dt-with-DtTm.xml")
    assert s.opening_booked == Balance("5442.09000", "2025-07-23") and s.currency == "RON"
    assert s.created == "2025-07-24T06:10:29.000000000"


def test_fixture_without_statement_and_camt054_are_refused_in_one_line():
    with pytest.raises(InputError, match="no statement") as e:
        read("camt053.v2.wrong.xml")
    assert "\n" not in str(e.value) and str(e.value).startswith(str(FIXTURES / "camt053.v2.wrong.xml"))
    with pytest.raises(InputError, match="camt.054 debit/credit notification"):
        read("camt054.v2.xml")


# ---------------------------------------------------------------------------------------------
# (b) hostile and unusual files


def test_truncated_inside_an_entry_keeps_what_was_read(tmp_path):
    text = doc(ntry("1.00") + ntry("2.00") + ntry("3.00"))
    cut = text.index("<Ntry>", text.index("2.00")) + 30
    recs = list(camt.read(write_file(tmp_path, text[:cut])))
    assert [type(r) for r in recs] == [Statement, Entry, Entry, Bad]
    bad = recs[-1]
    assert bad.position == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[3]" and bad.counts_entries == 1
    assert "truncated" in bad.reason and bad.raw.startswith("<Ntry><Amt")


def test_truncated_between_entries_says_where_it_stopped(tmp_path):
    text = doc(ntry("1.00") + ntry("2.00"))
    recs = list(camt.read(write_file(tmp_path, text[:text.index("</Ntry>") + 7])))
    assert [type(r) for r in recs] == [Statement, Entry, Bad]
    assert recs[-1].counts_entries == 0 and "nothing after this point" in recs[-1].reason


def test_truncated_before_the_first_statement_is_an_input_error(tmp_path):
    text = doc(ntry())
    with pytest.raises(InputError, match="truncated"):
        list(camt.read(write_file(tmp_path, text[:text.index("<Ntry>") - 20])))


@pytest.mark.parametrize("prolog", [
    '<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">',
    '<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    "<!DOCTYPE Document>",
])
def test_dtd_entities_and_external_references_are_refused(tmp_path, prolog):
    text = doc(ntry(inner="<AddtlNtryInf>&b;</AddtlNtryInf>" if "ENTITY b" in prolog else ""))
    text = text.replace("?>\n", "?>\n" + prolog, 1)
    t = time.monotonic()
    with pytest.raises(InputError, match="refused for safety") as e:
        list(camt.read(write_file(tmp_path, text)))
    assert time.monotonic() - t < 2 and "\n" not in str(e.value)


def test_a_dtd_in_a_later_document_still_refuses_the_file(tmp_path):
    second = doc(ntry()).replace("?>\n", '?>\n<!DOCTYPE Document [<!ENTITY a "x">]>', 1)
    with pytest.raises(InputError, match="refused for safety"):
        list(camt.read(write_file(tmp_path, doc(ntry()) + second)))


def test_undefined_entity_is_a_bad_record_not_an_expansion(tmp_path):
    recs = list(camt.read(write_file(tmp_path, doc(ntry() + ntry(inner="<AddtlNtryInf>&xxe;</AddtlNtryInf>")))))
    assert [type(r) for r in recs] == [Statement, Entry, Bad]
    assert "undefined entity" in recs[-1].reason and recs[-1].position.endswith("Ntry[2]")


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"date,amount\n2024-01-01,1.00\n", "not well-formed XML"),
    (b"<html><body>statement</body></html>", "no camt.053 statement|no statement"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/></Document>',
     "pain.001"),
    (b"<Document><Foo><Stmt/></Foo></Document>", "the Document holds Foo"),
    (b'<?xml version="1.0"?><Document><BkToCstmrStmt><GrpHdr><MsgId>x</MsgId></GrpHdr></BkToCstmrStmt></Document>',
     "no statement"),
    (b"<a>" * 5000, "nested deeper"),
    (b"<r>" + b"<a/>" * 5000 + b"</r>", "no camt.053 statement"),
    (b"\xff\xfe\x00garbage", "not well-formed"),
])
def test_files_that_are_not_camt_statements_are_input_errors(tmp_path, data, message):
    with pytest.raises(InputError, match=message) as e:
        list(camt.read(write_file(tmp_path, data)))
    assert "\n" not in str(e.value)


def test_a_50_mb_field_is_quarantined_quickly_in_flat_memory(tmp_path):
    p = tmp_path / "huge.xml"
    text = doc(ntry("1.00") + ntry("2.00", inner="<AddtlNtryInf>@@</AddtlNtryInf>") + ntry("3.00"))
    before, after = text.split("@@")
    with open(p, "wb") as fh:
        fh.write(before.encode())
        block = b"x" * (1 << 20)
        for _ in range(50):
            fh.write(block)
        fh.write(after.encode())
    tracemalloc.start()
    t = time.monotonic()
    recs = list(camt.read(p))
    elapsed = time.monotonic() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 64 << 20
    assert [type(r) for r in recs][:3] == [Statement, Entry, Bad]
    assert recs[2].position.endswith("Ntry[2]") and recs[2].counts_entries == 1
    assert len(recs[2].raw) < 2100


def test_a_field_over_the_text_cap_spoils_only_its_entry(tmp_path):
    long = "y" * (camt.MAX_TEXT + 1)
    recs = list(camt.read(write_file(tmp_path, doc(
        ntry("1.00") + ntry("2.00", inner=f"<AddtlNtryInf>{long}</AddtlNtryInf>") + ntry("3.00")))))
    assert [type(r) for r in recs] == [Statement, Entry, Bad, Entry]
    assert recs[2].column == "AddtlNtryInf" and "longer than" in recs[2].reason
    assert recs[3].amount == "3.00"


def test_a_50_mb_attribute_costs_bounded_time_and_memory(tmp_path):
    p = tmp_path / "attr.xml"
    text = doc(ntry("1.00") + ntry("2.00").replace('Ccy="EUR"', 'Ccy="EUR" X="@@"'))
    before, after = text.split("@@")
    with open(p, "wb") as fh:
        fh.write(before.encode())
        block = b"a>" * (1 << 19)
        for _ in range(50):
            fh.write(block)
        fh.write(after.encode())
    tracemalloc.start()
    t = time.monotonic()
    recs = list(camt.read(p))
    elapsed, peak = time.monotonic() - t, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 5 and peak < 100 << 20
    assert [type(r) for r in recs] == [Statement, Entry, Bad] and "MiB" in recs[-1].reason


def test_deep_nesting_stops_the_file_with_a_bad_record(tmp_path):
    deep = "<a>" * 500 + "</a>" * 500
    recs = list(camt.read(write_file(tmp_path, doc(ntry("1.00") + ntry("2.00", inner=deep)))))
    assert [type(r) for r in recs] == [Statement, Entry, Bad]
    assert "nested deeper" in recs[-1].reason


def test_entry_missing_its_amount_or_direction(tmp_path):
    recs = list(camt.read(write_file(tmp_path, doc(
        ntry(None) + ntry("5.00", ind="XXXX") + ntry(" 7.50 ", ind="DBIT")))))
    s, bad, no_dir, ok = recs
    assert isinstance(bad, Bad) and bad.column == "Amt" and bad.position.endswith("Ntry[1]")
    assert "<CdtDbtInd>CRDT</CdtDbtInd>" in bad.raw
    assert isinstance(no_dir, Entry) and no_dir.direction is None    # the loader quarantines it
    assert (ok.amount, ok.direction) == ("7.50", DEBIT)               # trimmed text


def test_bad_dates_are_passed_on_as_written(tmp_path):
    recs = list(camt.read(write_file(tmp_path, doc(
        ntry(date="<Dt>2024-13-45</Dt>") + ntry(date="<DtTm>31.12.2024 10:00</DtTm>")
        + ntry(date="<DtTm>2024-02-30T25:61:00Z</DtTm>") + ntry(date="")))))
    es = entries(recs)
    assert [(e.booking_date, e.time) for e in es] == [
        ("2024-13-45", None), ("31.12.2024 10:00", None), ("2024-02-30", "25:61:00"), (None, None)]
    assert all(e.date_format is None for e in es)


def test_details_without_amounts_in_a_split_entry_are_bad(tmp_path):
    details = ("<NtryDtls><TxDtls><Amt Ccy='EUR'>4.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></TxDtls>"
               "<TxDtls><Refs><EndToEndId>E2</EndToEndId></Refs></TxDtls>"
               "<TxDtls><AmtDtls><TxAmt><Amt Ccy='EUR'>6.00</Amt></TxAmt></AmtDtls></TxDtls></NtryDtls>")
    text = doc(ntry("10.00", ind="DBIT", inner="<NtryRef>NR1</NtryRef>" + details))
    recs = list(camt.read(write_file(tmp_path, text)))
    s, a, bad, c = recs
    assert (a.amount, a.batch, c.amount, c.batch) == ("4.00", "NR1", "6.00", "NR1")
    assert isinstance(bad, Bad) and bad.column == "Amt" and "cannot be divided" in bad.reason
    assert bad.position == "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/NtryDtls[1]/TxDtls[2]"
    assert sum(r.counts_entries for r in recs if isinstance(r, Bad)) + len(entries(recs)) == 3


def test_a_split_entry_without_references_gets_a_position_batch_id(tmp_path):
    details = "<NtryDtls>" + "<TxDtls><Amt Ccy='EUR'>1.00</Amt></TxDtls>" * 2 + "</NtryDtls>"
    es = entries(list(camt.read(write_file(tmp_path, doc(ntry("2.00", inner=details))))))
    assert {e.batch for e in es} == {"/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"}


def test_a_batch_of_5000_details_streams(tmp_path):
    detail = ("<TxDtls><Refs><AcctSvcrRef>R{i}</AcctSvcrRef></Refs><Amt Ccy='EUR'>1.00</Amt>"
              "<RltdPties><Cdtr><Nm>C{i}</Nm></Cdtr></RltdPties></TxDtls>")
    body = "<NtryDtls>" + "".join(detail.format(i=i) for i in range(5000)) + "</NtryDtls>"
    p = write_file(tmp_path, doc(ntry("5000.00", ind="DBIT", inner="<AcctSvcrRef>BATCH</AcctSvcrRef>" + body)))
    es = entries(list(camt.read(p)))
    assert len(es) == 5000 and es[-1].position.endswith("Ntry[1]/NtryDtls[1]/TxDtls[5000]")
    assert (es[-1].counterparty_name, es[-1].bank_reference, es[-1].batch) == ("C4999", "R4999", "BATCH")


def test_too_many_values_in_one_entry_spoil_only_it(tmp_path):
    many = "<RmtInf>" + "<Ustrd>x</Ustrd>" * (camt.MAX_VALUES + 10) + "</RmtInf>"
    inner = f"<NtryDtls><TxDtls>{many}</TxDtls></NtryDtls>"
    recs = list(camt.read(write_file(tmp_path, doc(ntry("1.00", inner=inner) + ntry("2.00")))))
    assert [type(r) for r in recs] == [Statement, Bad, Entry] and "more than" in recs[1].reason


def test_reversal_takes_the_counterparty_from_the_original_payment(tmp_path):
    inner = ("<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Payer AG</Nm></Dbtr><DbtrAcct><Id><IBAN>CH9300762011623852957"
             "</IBAN></Id></DbtrAcct><Cdtr><Nm>Us</Nm></Cdtr></RltdPties></TxDtls></NtryDtls>")
    text = doc(ntry("5.00", ind="DBIT", inner="<RvslInd>true</RvslInd>" + inner))
    e = entries(list(camt.read(write_file(tmp_path, text))))[0]
    assert (e.direction, e.counterparty_name, e.counterparty_account) == (DEBIT, "Payer AG", "CH9300762011623852957")


def test_concatenated_documents_are_read_in_turn(tmp_path):
    one = doc(ntry("1.00"))
    two = doc(ntry("2.00")).replace("<Id>S1</Id>", "<Id>S2</Id>")
    recs = list(camt.read(write_file(tmp_path, one + "\n" + two + "\n\x00\x00\n")))
    assert [(type(r).__name__, r.position) for r in recs] == [
        ("Statement", "/Document/BkToCstmrStmt/Stmt[1]"), ("Entry", "/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"),
        ("Statement", "/Document[2]/BkToCstmrStmt/Stmt[1]"), ("Entry", "/Document[2]/BkToCstmrStmt/Stmt[1]/Ntry[1]")]
    assert recs[2].statement_id == "S2" and recs[3].amount == "2.00"
    assert "2.00" in recs[3].raw
    junk = list(camt.read(write_file(tmp_path, one + "trailing garbage", "j.xml")))
    assert [type(r) for r in junk] == [Statement, Entry, Bad] and junk[-1].counts_entries == 0


def test_namespace_prefix_none_and_envelope_read_the_same(tmp_path):
    plain = doc(ntry("1.00", inner="<AcctSvcrRef>R1</AcctSvcrRef>"))
    body = plain.split("?>\n", 1)[1]
    prefixed = body.replace("</", "</c:").replace("<", "<c:").replace("<c:/c:", "</c:").replace("xmlns=", "xmlns:c=")
    nons = body.replace(f' xmlns="{NS8}"', "")
    envelope = ("<BizMsgEnvlp><AppHdr><Fr><FIId><FinInstnId><BICFI>X</BICFI></FinInstnId></FIId></Fr></AppHdr>"
                f"{body}</BizMsgEnvlp>")
    for i, text in enumerate((prefixed, nons, envelope)):
        s, e = camt.read(write_file(tmp_path, text, f"{i}.xml"))
        assert (s.account, e.amount, e.bank_reference) == ("DE89370400440532013000", "1.00", "R1")
    assert e.position == "/BizMsgEnvlp/Document/BkToCstmrStmt/Stmt[1]/Ntry[1]"


def test_encodings_bom_utf16_and_latin1(tmp_path):
    text = doc(ntry("1.00", inner="<AddtlNtryInf>Zahlung Müller €</AddtlNtryInf>"))
    e = entries(list(camt.read(write_file(tmp_path, b"\xef\xbb\xbf" + text.encode(), "bom.xml"))))[0]
    assert e.remittance == "Zahlung Müller €"
    e16 = entries(list(camt.read(write_file(
        tmp_path, text.replace("UTF-8", "UTF-16").encode("utf-16"), "u16.xml"))))[0]
    assert e16.remittance == "Zahlung Müller €" and e16.raw.startswith("<Ntry>") and "Müller" in e16.raw
    latin = text.replace("UTF-8", "ISO-8859-1").replace(" €", "").encode("latin-1")
    el = entries(list(camt.read(write_file(tmp_path, latin, "l1.xml"))))[0]
    assert el.remittance == "Zahlung Müller" and "Müller" in el.raw


def test_memory_stays_flat_over_many_entries(tmp_path):
    p = tmp_path / "many.xml"
    with open(p, "w", encoding="utf-8") as fh:
        camt.write(_statement_records(3000), fh)
    tracemalloc.start()
    n = 0
    for _ in camt.read(p):
        n += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == 3001 and peak < 4 << 20 and p.stat().st_size > 3000 * 500


# ---------------------------------------------------------------------------------------------
# channel from the ISO bank transaction code


@pytest.mark.parametrize("code,purpose,channel", [
    ("PMNT/RCDT/ESCT", None, "transfer"), ("PMNT/ICDT/BOOK", None, "transfer"), ("PMNT/RCDT/STDO", None, "transfer"),
    ("PMNT/RCDT/DMCT", None, "wire"), ("PMNT/ICDT/XBCT", None, "wire"), ("PMNT/IRCT/PRCT", None, "wire"),
    ("PMNT/RCDT/ATXN", None, "ach"), ("PMNT/IDDT/ESDD", None, "ach"), ("PMNT/RDDT/BBDD", None, "ach"),
    ("PMNT/CCRD/POSD", None, "card"), ("PMNT/MCRD/POSP", None, "card"), ("PMNT/CCRD/CWDL", None, "cash"),
    ("PMNT/CNTR/CDPT", None, "cash"), ("PMNT/CNTR/BCWD", None, "cash"), ("PMNT/CNTR/CHKD", None, "check"),
    ("PMNT/RCHQ/CCHQ", None, "check"), ("PMNT/ICHQ/BCHQ", None, "check"), ("PMNT/LBOX/OTHR", None, "check"),
    ("PMNT/ICDT/SALA", None, "payroll"), ("PMNT/RCDT/ESCT", "SALA", "payroll"),
    ("ACMT/MDOP/CHRG", None, "fee"), ("PMNT/CCRD/CHRG", None, "fee"), ("ACMT/MCOP/COMM", None, "fee"),
    ("ACMT/MCOP/INTR", None, "interest"), ("LDAS/FTDP/INTR", None, "interest"), ("PMNT/OTHR/OTHR", None, "other"),
    ("XTND/NTAV/NTAV", None, None), ("SECU/SETT/TRAD", None, None), ("544", None, None),
    ("NTRF+166", None, None), ("PAYM/0001/0003", None, None), (None, None, None),
])
def test_channel_of(code, purpose, channel):
    assert camt.channel_of(code, purpose) == channel


# ---------------------------------------------------------------------------------------------
# (c) write and the round trip


def _comparable(r) -> dict:
    d = dataclasses.asdict(r)
    for k in ("position", "raw", "extra", "kind"):
        d.pop(k, None)
    return d


def _round_trip(records: list, tmp_path: Path, name: str = "rt.xml") -> list:
    p = tmp_path / name
    with open(p, "w", encoding="utf-8") as fh:
        camt.write(records, fh)
    return list(camt.read(p))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.xml")
                                        if p.name not in ("camt053.v2.wrong.xml", "camt054.v2.xml")))
def test_fixtures_round_trip(tmp_path, name):
    recs = [r for r in read(name) if not isinstance(r, Bad)]
    back = _round_trip(recs, tmp_path)
    assert [_comparable(r) for r in back] == [_comparable(r) for r in recs]
    assert {s.kind for s in statements(back)} == {"camt.053"}


def test_written_file_is_camt053_v8_and_well_formed():
    buf = io.StringIO()
    camt.write(_statement_records(3), buf)
    root = fromstring(buf.getvalue().encode())
    assert root.tag == f"{{{NS8}}}Document"
    stmt = root.find(f"{{{NS8}}}BkToCstmrStmt/{{{NS8}}}Stmt")
    assert [c.tag.split("}")[1] for c in stmt][:5] == ["Id", "ElctrncSeqNb", "CreDtTm", "FrToDt", "Acct"]
    assert len(stmt.findall(f"{{{NS8}}}Ntry")) == 3 and len(stmt.findall(f"{{{NS8}}}Bal")) == 2
    assert camt.sniff(buf.getvalue().encode()[:8192])


def test_write_encodes_a_channel_its_code_does_not_tell(tmp_path):
    stmt = Statement(position="", kind="camt.053", account="GB33BUKB20201555555555", currency="GBP")
    es = [Entry("", "5.00", DEBIT, "2024-01-02", channel="cash"),
          Entry("", "6.00", CREDIT, "2024-01-02", channel="wire", tx_code="NTRF"),
          Entry("", "7.00", CREDIT, "2024-01-02", channel="transfer", tx_code="PMNT/RCDT/ESCT"),
          Entry("", "8.00", DEBIT, "2024-01-02", channel=None, tx_code="FMSC")]
    back = entries(_round_trip([stmt, *es], tmp_path))
    assert [(e.tx_code, e.channel) for e in back] == [
        ("PMNT/CNTR/CWDL", "cash"), ("PMNT/RCDT/DMCT", "wire"), ("PMNT/RCDT/ESCT", "transfer"), ("FMSC", None)]
    assert [e.status for e in back] == ["BOOK"] * 4         # None (booked) is written BOOK
    assert [e.currency for e in back] == ["GBP"] * 4        # the statement's currency


def test_write_converts_non_iso_dates_and_keeps_long_remittance(tmp_path):
    long = " ".join(f"word{i}" for i in range(150))          # > 500 characters: Ustrd lines
    mid = "m" * 300                                           # 141-500: AddtlTxInf
    stmt = Statement("", "mt940", "DE89370400440532013000", "EUR",
                     opening_booked=Balance("1,00", "240101", True, "%y%m%d"))
    es = [Entry("", "1.00", CREDIT, "240115", value_date="240116", date_format="%y%m%d", remittance=long),
          Entry("", "2.00", DEBIT, "2024-01-15", time="09:30", remittance=mid)]
    s, a, b = _round_trip([stmt, *es], tmp_path)
    assert s.opening_booked == Balance("1,00", "2024-01-01", True)
    assert (a.booking_date, a.value_date, a.date_format, a.remittance) == ("2024-01-15", "2024-01-16", None, long)
    assert (b.time, b.remittance) == ("09:30:00", mid)


def test_location_is_the_card_transactions_point_of_interaction(tmp_path):
    """``CardTx/POI/SysNm`` of the detail (else of the entry) is where the card or cash
    transaction took place; nothing else (remittance, additional information) is read for it."""
    poi = "<CardTx><POI><Id><Id>T-0042</Id></Id><SysNm>ATM 1234 Main St, Houston TX</SysNm></POI></CardTx>"
    body = (ntry("200.00", "DBIT", f"<NtryDtls><TxDtls><RmtInf><Ustrd>ATM WITHDRAWAL</Ustrd></RmtInf>{poi}"
                                   "<AddtlTxInf>Dallas TX</AddtlTxInf></TxDtls></NtryDtls>")
            + ntry("30.00", "DBIT", "<CardTx><POI><Id><Id>T-7</Id></Id><SysNm>Katy, TX</SysNm></POI></CardTx>"
                                    "<NtryDtls><TxDtls><RmtInf><Ustrd>POS</Ustrd></RmtInf></TxDtls></NtryDtls>")
            + ntry("5.00", "DBIT", "<NtryDtls><TxDtls><AddtlTxInf>Dallas TX</AddtlTxInf></TxDtls></NtryDtls>"))
    got = entries(list(camt.read(write_file(tmp_path, doc(body)))))
    assert [e.location for e in got] == ["ATM 1234 Main St, Houston TX", "Katy, TX", None]
    assert got[0].remittance == "ATM WITHDRAWAL"
    stmt = Statement(position="", kind="camt.053", account="ACB-100200", currency="USD")
    es = [Entry("", "9.00", DEBIT, "2024-01-02", time="23:10:05", channel="cash", location="HCB BRANCH 7 Waco TX"),
          Entry("", "8.00", CREDIT, "2024-01-02", channel="card", location="Houston, TX", batch="B1"),
          Entry("", "7.00", CREDIT, "2024-01-02", channel="card", location="Austin, TX", batch="B1")]
    back = entries(_round_trip([stmt, *es], tmp_path))
    assert [(e.location, e.time) for e in back] == [("HCB BRANCH 7 Waco TX", "23:10:05"), ("Houston, TX", None),
                                                    ("Austin, TX", None)]


def test_write_refuses_entries_without_a_statement():
    with pytest.raises(ValueError, match="before any Statement"):
        camt.write([Entry("", "1.00", CREDIT, "2024-01-01")], io.StringIO())
    with pytest.raises(ValueError, match="no Statement"):
        camt.write([], io.StringIO())


def _statement_records(n: int) -> list:
    s = Statement(position="", kind="camt.053", account="DE89370400440532013000", currency="EUR",
                  holder_name="Holder GmbH", holder_address="Hauptstr. 1, 10115 Berlin, DE", bank_id="COBADEFFXXX",
                  bank_name="Commerzbank", statement_id="S-1", sequence="7", created="2024-01-31T23:00:00",
                  period_from="2024-01-01T00:00:00", period_to="2024-01-31T23:59:59",
                  opening_booked=Balance("100.00", "2024-01-01"), closing_booked=Balance("50.00", "2024-01-31", True))
    es = [Entry("", f"{i}.25", CREDIT if i % 2 else DEBIT, "2024-01-15", value_date="2024-01-16", currency="EUR",
                counterparty_name=f"Party {i}", counterparty_account=f"DE{i % 90 + 10}370400440532013000",
                counterparty_bank="DEUTDEFF", end_to_end_id=f"E{i}", bank_reference=f"B{i}",
                customer_reference=f"C{i}", remittance=f"Invoice {i} <&>", tx_code="PMNT/RCDT/ESCT",
                channel="transfer", status="BOOK") for i in range(n)]
    return [s, *es]


# ---- Hypothesis: any statements and entries survive write then read ------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=40) \
    .map(str.strip).filter(bool)
_MAYBE = st.none() | _TEXT
_DATE = st.dates().map(lambda d: d.isoformat())
_AMOUNT = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False).map(str)
_CODES = st.sampled_from([None, "PMNT/RCDT/ESCT", "PMNT/ICDT/DMCT", "PMNT/CNTR/CWDL", "PMNT/CCRD/POSD",
                          "ACMT/MDOP/CHRG", "PMNT/RDDT/ESDD", "544", "NTRF+166"])
_ACCOUNT = st.none() | st.from_regex(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{12,20}", fullmatch=True) | _TEXT
_BANK = st.none() | st.sampled_from(["DEUTDEFF", "COBADEFFXXX", "021000021"]) | _TEXT
_LONG_TEXT = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_categories=("Cc", "Zs")),
                     min_size=141, max_size=500)
_ADDRESS = st.none() | st.lists(_TEXT, min_size=1, max_size=3).map(", ".join)


@st.composite
def _entry(draw, currency: str, batch: str | None = None, base: Entry | None = None) -> Entry:
    code = draw(_CODES)
    e2e = draw(_MAYBE)
    e = Entry(position="", amount=draw(_AMOUNT), direction=draw(st.sampled_from([CREDIT, DEBIT])),
              booking_date=base.booking_date if base else draw(_DATE),
              value_date=base.value_date if base else draw(st.none() | _DATE),
              time=base.time if base else draw(st.none() | st.times().map(lambda t: t.strftime("%H:%M:%S"))),
              currency=currency,
              counterparty_name=draw(_MAYBE), counterparty_account=draw(_ACCOUNT), counterparty_bank=draw(_BANK),
              end_to_end_id=None if e2e == "NOTPROVIDED" else e2e,
              bank_reference=draw(_MAYBE), customer_reference=draw(_MAYBE),
              remittance=draw(st.none() | _TEXT | _LONG_TEXT),
              tx_code=code, channel=camt.channel_of(code), location=draw(_MAYBE), batch=batch,
              status=base.status if base else draw(st.sampled_from(["BOOK", "PDNG", "INFO"])))
    return e


@st.composite
def _statement_and_entries(draw) -> list:
    currency = draw(st.sampled_from(["EUR", "CHF", "USD"]))
    bal = st.none() | st.builds(Balance, _AMOUNT, st.none() | _DATE, st.booleans())
    s = Statement(position="", kind="camt.053", account=draw(_ACCOUNT.filter(lambda a: a is None or " " not in a)),
                  currency=currency, holder_name=draw(_MAYBE), holder_address=draw(_ADDRESS),
                  bank_id=draw(_BANK), bank_name=draw(_MAYBE), statement_id=draw(_MAYBE),
                  sequence=draw(st.none() | st.integers(0, 10**6).map(str)), created=draw(st.none() | _DATE),
                  period_from=draw(st.none() | _DATE), period_to=draw(st.none() | _DATE),
                  opening_booked=draw(bal), closing_booked=draw(bal), opening_available=draw(bal),
                  closing_available=draw(bal))
    records: list = [s]
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            records.append(draw(_entry(currency)))
        else:                                # a batch: two or more entries of one booking
            first = draw(_entry(currency, batch=f"BATCH-{i}"))
            records.append(first)
            for _ in range(draw(st.integers(1, 3))):
                records.append(draw(_entry(currency, batch=f"BATCH-{i}", base=first)))
    return records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(_statement_and_entries(), min_size=1, max_size=3).map(lambda ls: [r for rs in ls for r in rs]))
def test_round_trip_property(tmp_path, records):
    back = _round_trip(records, tmp_path)
    assert [_comparable(r) for r in back] == [_comparable(r) for r in records]
    positions = [r.position for r in back]
    assert len(set(positions)) == len(positions)
