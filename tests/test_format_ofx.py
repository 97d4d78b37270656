"""The OFX/QFX statement reader and writer (issue 13): moneytrail.ingest.formats.ofx.

(a) real files that public OFX parsers publish as their fixtures (tests/fixtures/ofx, see its
SOURCES.md), (b) hostile and broken files built here, (c) write/read round trips, including a
property test. Values asserted are the files' own (amounts, names, references, balances).
"""

from __future__ import annotations

import io
import tempfile
import time
import tracemalloc
from dataclasses import fields, replace
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.errors import InputError
from moneytrail.ingest.formats import ofx
from moneytrail.ingest.statement import CREDIT, DEBIT, RAW_CHARS, Bad, Balance, Entry, Statement

FIX = Path(__file__).parent / "fixtures" / "ofx"

HEADER1 = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
           "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")


def recs(path: Path) -> list:
    return list(ofx.read(path))


def kinds(records: list) -> tuple[list[Statement], list[Entry], list[Bad]]:
    return ([r for r in records if isinstance(r, Statement)], [r for r in records if isinstance(r, Entry)],
            [r for r in records if isinstance(r, Bad)])


def body(stmttrns: str, *, head: str = HEADER1, extra_stmt: str = "") -> str:
    """A one-statement OFX 1.x file around the given STMTTRN text."""
    return (head + "<OFX>\n<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>"
            "<DTSERVER>20240105120000<LANGUAGE>ENG<FI><ORG>Test Bank<FID>99</FI></SONRS></SIGNONMSGSRSV1>\n"
            "<BANKMSGSRSV1><STMTTRNRS><TRNUID>7<STATUS><CODE>0<SEVERITY>INFO</STATUS>\n"
            "<STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>12345678<ACCTID>DE89 3704 0044 0532 0130 00"
            "<ACCTTYPE>CHECKING</BANKACCTFROM>\n<BANKTRANLIST><DTSTART>20240101<DTEND>20240131\n"
            + stmttrns +
            "\n</BANKTRANLIST>\n<LEDGERBAL><BALAMT>-10.50<DTASOF>20240131</LEDGERBAL>\n" + extra_stmt +
            "</STMTRS></STMTTRNRS></BANKMSGSRSV1>\n</OFX>\n")


TRN = "<STMTTRN>\n<TRNTYPE>DEBIT\n<DTPOSTED>20240110\n<TRNAMT>-5.00\n<FITID>F1\n<NAME>Shop\n</STMTTRN>"


def make(tmp_path: Path, content: str | bytes, name: str = "t.ofx") -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return p


# ------------------------------------------------------------------------------------------------
# (a) real fixtures

def test_checking_tab_indented_sgml():
    (s,), entries, bad = kinds(recs(FIX / "ofxparse_checking.ofx"))
    assert not bad
    assert (s.kind, s.account, s.bank_id, s.currency, s.bank_name) == ("ofx", "1452687~7", "5472369148", "USD", "FAKE")
    assert (s.statement_id, s.created, s.period_from, s.period_to) == ("0", "20130525", "20000101", "20130525")
    assert s.date_format == "%Y%m%d"
    assert s.closing_booked == Balance("100.99", "20130525", False, "%Y%m%d")
    assert s.closing_available == Balance("75.99", "20130525", False, "%Y%m%d")
    assert s.extra == {"account type": "CHECKING", "fi id": "1101"}
    assert s.position == "line 36"
    e1, e2, e3 = entries
    assert (e1.amount, e1.direction, e1.booking_date, e1.time, e1.date_format) == ("0.01", CREDIT, "20110331", "12:00:00", "%Y%m%d")
    assert e1.counterparty_name == "DIVIDEND EARNED FOR PERIOD OF 03"
    assert e1.remittance.startswith("DIVIDEND EARNED FOR PERIOD OF 03/01/2011") and e1.remittance.endswith("0.05%")
    assert (e1.bank_reference, e1.tx_code, e1.channel) == ("0000486", "CREDIT", None)
    assert (e2.amount, e2.direction, e2.counterparty_name) == ("34.51", DEBIT, "AUTOMATIC WITHDRAWAL, ELECTRIC BILL")
    assert (e3.amount, e3.direction, e3.tx_code, e3.channel, e3.customer_reference) == ("25.00", DEBIT, "CHECK", "check", "319")
    assert e3.remittance == "RETURNED CHECK FEE, CHECK # 319 FOR $45.33 ON 04/07/11"
    assert [e.position for e in entries] == ["lines 46-53", "lines 54-61", "lines 62-70"]
    assert e1.raw.startswith("<STMTTRN>") and e1.raw.endswith("</STMTTRN>") and "<FITID>0000486" in e1.raw


def test_bank_medium_one_transaction_per_line_with_time_zones():
    (s,), entries, _ = kinds(recs(FIX / "ofxparse_bank_medium.ofx"))
    assert s.account == "12300000012345678"          # "12300 000012345678": spaces removed
    assert (s.currency, s.bank_id, s.extra["branch id"]) == ("CAD", "160000100", "00")
    assert s.closing_booked.amount == "382.34" and s.closing_available.amount == "682.34"
    pos, chk, pos2 = entries
    assert (pos.amount, pos.direction, pos.booking_date, pos.time) == ("6.60", DEBIT, "20090401", "12:20:17")
    assert (pos.tx_code, pos.channel, pos.counterparty_name) == ("POS", "card", "MCDONALD'S #112")
    assert pos.remittance == "POS MERCHANDISE;MCDONALD'S #112"
    assert (chk.amount, chk.counterparty_name, chk.customer_reference) == ("316.67", "Joe's Bald Hairstyles", "0")
    assert [e.position for e in entries] == ["line 15", "line 16", "line 17"]


def test_whole_body_on_one_line_positions_stay_unique():
    records = recs(FIX / "asgrim_ofxdata-oneline.ofx")
    (s,), entries, _ = kinds(records)
    assert (s.account, s.currency, s.statement_id, s.position) == ("XXXXXXXXXXX", "EUR", "1469002698556", "line 10")
    assert len(entries) == 8
    assert [e.position for e in entries][:3] == ["line 10", "line 10, record 2 on the line", "line 10, record 3 on the line"]
    assert len({e.position for e in entries}) == 8
    virement = entries[4]     # DIRECTDEP with a negative amount: the sign says debit
    assert (virement.amount, virement.direction, virement.channel, virement.counterparty_name) == \
        ("80.00", DEBIT, "ach", "VIREMENT POUR")
    assert entries[0].raw == "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20160719<TRNAMT>-1.55<FITID>PU3YMMLLQ9<NAME>FRAIS TRIMESTRIELS</STMTTRN>"


def test_credit_card_with_2x_header_over_sgml_body():
    (s,), (e,), _ = kinds(recs(FIX / "ofxparse_anzcc.ofx"))
    assert (s.account, s.currency, s.extra) == ("1234123412341234", "AUD", {"account type": "CREDITCARD"})
    assert s.closing_booked == Balance("123.45", "20170510", True, "%Y%m%d")      # -123.45
    assert s.closing_available == Balance("123.45", "20170510", False, "%Y%m%d")
    assert (s.period_from, s.period_to) == ("20170311", "20170509")
    assert (e.amount, e.direction, e.booking_date, e.value_date, e.remittance) == ("5.50", DEBIT, "20170508", "20170508", "SOME MEMO")


def test_xml_with_cdata_and_crlf():
    (s,), (e,), _ = kinds(recs(FIX / "ofxparse_suncorp.ofx"))
    assert (s.account, s.bank_id, s.bank_name, s.extra["fi id"]) == ("123456789", "SUNCORP", "SUNCORP", "484-799")
    assert e.counterparty_name == "EFTPOS WDL HANDYWAY ALDI STORE"
    assert e.remittance == "EFTPOS WDL HANDYWAY ALDI STORE   GEELONG WEST VICAU"
    assert (e.amount, e.direction, e.bank_reference, e.customer_reference) == ("16.85", DEBIT, "1", "0")
    assert e.position == "lines 35-43"


def test_several_accounts_and_entries_follow_their_statement():
    records = recs(FIX / "asgrim_ofx-multiple-accounts-xml.ofx")
    assert [type(r).__name__ for r in records] == ["Statement", "Statement", "Entry", "Entry", "Statement", "Entry"]
    s1, s2, s3 = kinds(records)[0]
    assert [s.account for s in (s1, s2, s3)] == ["54658222458596", "546582659855", "21252344525548"]
    assert [s.closing_booked.amount for s in (s1, s2, s3)] == ["43.01", "3000.25", "11728.56"]
    assert s3.extra["account type"] == "SAVINGS"
    tesco, rent = records[2], records[3]
    assert (tesco.counterparty_name, tesco.amount, tesco.direction, tesco.bank_reference) == ("TESCO", "3.98", DEBIT, "+201407170000001")
    assert (rent.counterparty_name, rent.amount, rent.direction) == ("RENT MONEY", "500.00", CREDIT)
    (s_a, s_b), entries, _ = kinds(recs(FIX / "ofxparse_multiple_accounts.ofx"))
    assert not entries
    assert [(s.account, s.statement_id, s.closing_booked.amount, s.extra["account type"]) for s in (s_a, s_b)] == \
        [("9100", "1001", "111", "CHECKING"), ("9200", "1002", "222", "SAVINGS")]


def test_two_stmtrs_in_one_response_iso_8859_1_bytes_under_charset_1252():
    records = recs(FIX / "asgrim_ofxdata-bb-two-stmtrs.ofx")
    (s1, s2), entries, bad = kinds(records)
    assert not bad and len(entries) == 36 and records.index(s2) == 1     # the first account has none
    assert (s1.account, s2.account, s1.bank_name) == ("455000-5", "655000-2", "Banco do Brasil S/A")
    assert s2.closing_booked.amount == "4555.28" and (s2.period_from, s2.period_to) == ("20170224", "20170329")
    first = entries[0]
    assert (first.amount, first.tx_code, first.remittance) == ("13318.36", "DEP", "TED-CRÉDITO EM CONTA")
    assert (first.bank_reference, first.customer_reference) == ("2017030101331836", "5322222")
    assert "TARIFA PACOTE DE SERVIÇOS" in [e.remittance for e in entries]
    assert entries[-1].position == "lines 340-347"


def test_utf8_bytes_under_charset_1252():
    (s,), (e,), _ = kinds(recs(FIX / "asgrim_ofxdata-bb.ofx"))
    assert e.remittance == "DOC CRÉDITO EM CONTA"
    assert (e.amount, e.booking_date, s.closing_booked.amount) == ("239.55", "20151103", "239.35")


def test_refnum_bare_ampersand_empty_balance_no_account():
    (s,), (e,), _ = kinds(recs(FIX / "asgrim_ofxdata-credit-card.ofx"))
    assert (e.customer_reference, e.counterparty_name, e.channel, s.currency) == ("VENDOR", "VENDOR", "card", "GBP")
    _, entries, _ = kinds(recs(FIX / "asgrim_ofxdata-memoWithAmpersand.ofx"))
    assert entries[0].remittance == "Amazon.Com.Br Amazon & Cloud 3/3"
    assert entries[4].remittance == 'IOF de "Leupay.Eu" & Whoelse'
    (s,), entries, _ = kinds(recs(FIX / "asgrim_ofxdata-selfclose.ofx"))
    assert s.closing_booked is None and s.period_from == "20190918"        # <BALAMT> empty
    assert (entries[0].time, entries[0].remittance) == ("10:00:00", "CXE     000026 SAQUE")
    (s,), entries, _ = kinds(recs(FIX / "asgrim_ofxdata-emptyDateTime.ofx"))
    assert s.account is None and s.period_from is None and [e.amount for e in entries] == ["337.50", "150.00"]
    (s,), _, _ = kinds(recs(FIX / "ofxparse_fail_nice_empty_balance.ofx"))
    assert s.closing_booked is None and s.closing_available is None


def test_payee_checknum_and_header_with_blank_lines():
    (s,), entries, _ = kinds(recs(FIX / "asgrim_ofxdata.ofx"))
    assert (s.account, s.bank_name, s.statement_id) == ("098-121", "MYBANK", "23382938")
    hancock = entries[2]
    assert (hancock.counterparty_name, hancock.customer_reference, hancock.tx_code) == ("John Hancock", "1025", "PAYMENT")
    xml = kinds(recs(FIX / "asgrim_ofxdata-xml.ofx"))
    assert xml[0][0].closing_booked == s.closing_booked
    assert [e.amount for e in xml[1]] == [e.amount for e in entries]


def test_empty_tags_currency_and_lower_case_trntype():
    (s,), (e,), _ = kinds(recs(FIX / "ofxparse_ofx-v102-empty-tags.ofx"))
    assert s.currency is None and s.account == "12345678" and "account type" not in s.extra
    assert (e.amount, e.currency, e.remittance, e.tx_code, e.bank_reference) == ("12.34", "AUD", "CBA:Transfer", "Credit", None)
    assert s.created == "20180804093914:014"     # not an OFX datetime: kept as written


def test_missing_amount_or_date_is_bad_and_bad_date_left_to_loader():
    (s,), entries, bad = kinds(recs(FIX / "asgrim_ofxdata-banking-xml200.ofx"))
    (b,) = bad
    assert not entries and b.column == "TRNAMT" and "no TRNAMT" in b.reason and "no DTPOSTED" in b.reason
    assert b.position == "lines 32-34" and "*snipped*" in b.raw
    records = recs(FIX / "ofxparse_fail_nice_date_missing.ofx")      # no header at all
    (s,), (e,), (b1, b2) = kinds(records)
    assert [r.position for r in records[1:]] == ["lines 33-38", "lines 40-46", "lines 48-54"]
    assert b1.column == b2.column == "DTPOSTED" and "TestFail1" in b1.raw
    assert (e.booking_date, e.date_format, e.amount) == ("20120231", "%Y%m%d", "200.00")   # 31 February
    with pytest.raises(ValueError):
        datetime.strptime(e.booking_date, e.date_format)
    (_,), (e,), _ = kinds(recs(FIX / "ofxparse_fail_nice_decimal_error.ofx"))
    assert (e.amount, e.booking_date, e.time) == ("$120", "20112000", "00:00")     # the loader rejects both


def test_investment_statements_are_quarantined_not_dropped():
    (s,), entries, bad = kinds(recs(FIX / "asgrim_ofxdata-google.ofx"))
    assert (s.account, s.bank_id, s.extra["account type"], s.currency) == ("StockersTest", "google.com", "INVESTMENT", "USD")
    assert not entries and [b.column for b in bad] == ["BUYSTOCK", "BUYSTOCK", "SELLSTOCK"]
    assert all("INVSTMTRS" in b.reason and b.counts_entries == 1 for b in bad)
    assert bad[0].position == "lines 39-57" and "<FITID>1" in bad[0].raw
    (s,), entries, bad = kinds(recs(FIX / "ofxparse_fidelity-savings.ofx"))
    assert not entries and len(bad) == 4 and {b.column for b in bad} == {"INVBANKTRAN"}
    assert "Check Paid #0000001001" in bad[0].raw


@pytest.mark.parametrize("name, said", [
    ("ofxparse_error_message.ofx", "2000 ERROR: General Server Error"),
    ("ofxparse_signon_fail.ofx", "15500 ERROR: Your request could not be processed"),
    ("ofxparse_bank_small.ofx", "no statement"),
])
def test_responses_without_statement_raise(name, said):
    with pytest.raises(InputError) as e:
        recs(FIX / name)
    assert said in str(e.value) and str(e.value).startswith(str(FIX / name))


def test_every_fixture_is_sniffed_and_every_transaction_accounted_for():
    expected = {"asgrim_ofx-multiple-accounts-xml.ofx": 3, "asgrim_ofxdata-bb-two-stmtrs.ofx": 36,
                "asgrim_ofxdata-memoWithAmpersand.ofx": 16, "asgrim_ofxdata-google.ofx": 3,
                "ofxparse_fidelity-savings.ofx": 4, "ofxparse_fail_nice_date_missing.ofx": 3}
    for p in sorted(FIX.glob("*.ofx")):
        assert ofx.sniff(p.read_bytes()[:ofx.HEAD_BYTES]), p.name
        if p.name in ("ofxparse_error_message.ofx", "ofxparse_signon_fail.ofx", "ofxparse_bank_small.ofx"):
            continue
        records = recs(p)
        assert isinstance(records[0], Statement), p.name
        n = sum(r.counts_entries if isinstance(r, Bad) else 1 for r in records if not isinstance(r, Statement))
        text = p.read_bytes().upper()
        if p.name in expected:
            assert n == expected[p.name], p.name
        else:
            assert n == text.count(b"<STMTTRN>"), p.name


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_chunk_boundaries_change_nothing(monkeypatch, chunk):
    files = ["asgrim_ofxdata-bb-two-stmtrs.ofx", "asgrim_ofxdata-bb.ofx", "ofxparse_suncorp.ofx",
             "ofxparse_fail_nice_date_missing.ofx", "asgrim_ofxdata-oneline.ofx", "asgrim_ofxdata-google.ofx"]
    want = {f: recs(FIX / f) for f in files}
    monkeypatch.setattr(ofx, "CHUNK_BYTES", chunk)
    for f in files:
        assert recs(FIX / f) == want[f], f


def test_long_statements_use_the_look_ahead_pass_with_the_same_result(monkeypatch):
    files = sorted(p for p in FIX.glob("*.ofx") if "error" not in p.name and "signon" not in p.name
                   and "bank_small" not in p.name)
    want = {p: recs(p) for p in files}
    monkeypatch.setattr(ofx, "BUFFER_RECORDS", 0)
    for p in files:
        assert recs(p) == want[p], p.name


# ------------------------------------------------------------------------------------------------
# sniff

@pytest.mark.parametrize("head", [
    b"OFXHEADER:100\r\nDATA:OFXSGML\r\n", b"\xef\xbb\xbfOFXHEADER:100\n", b"\n\n  ofxheader:100\n",
    b'<?xml version="1.0"?>\n<?OFX OFXHEADER="200" VERSION="211"?>\n<OFX>',
    b"\r\n\r\n<OFX>\r\n<SIGNONMSGSRSV1>", b"VERSION:102\nDATA:OFXSGML\n<ofx>\n",
    "OFXHEADER:100\n".encode("utf-16"),
])
def test_sniff_yes(head):
    assert ofx.sniff(head)


@pytest.mark.parametrize("head", [
    b"", b"date,amount,name\n2024-01-01,10.00,<OFX>\n", b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">',
    b":20:STARTUMS\r\n:25:12345678/0000000001\r\n:28C:00001/001\r\n", b"01,ORIGID,RCVRID,240101,1200,1,,,2/\n",
    b'{"ofx": "<OFX>"}', b"<html><body>OFX download</body></html>", bytes(range(256)),
])
def test_sniff_no(head):
    assert not ofx.sniff(head)


# ------------------------------------------------------------------------------------------------
# (b) hostile and broken files

def test_lenient_syntax_variants(tmp_path):
    trn = ("<stmttrn>\r<trntype>xfer\r<dtposted>20240110093000.000[-5:EST]\r<dtavail>20240111\r"
           "<trnamt>+1,234.50\r<fitid>X&amp;1\r<payee><name>Jane &lt;Doe&gt;</name><city>Springfield</payee>\r"
           "<bankacctto><bankid>021000021</bankid><acctid>99 88 77</acctid><accttype>SAVINGS</bankacctto>\r"
           "<memo>caf&#233; &#x20AC; &unknown; <!-- <TRNAMT>-999 --> ok\r<currency><currate>1.1<cursym>USD</currency>\r"
           "</stmttrn>")
    p = make(tmp_path, body(trn).replace("\n", "\r").lower().replace("ofxheader", "OFXHEADER"))
    (s,), (e,), _ = kinds(recs(p))
    assert (s.account, s.currency, s.bank_id, s.bank_name) == ("de89370400440532013000", "eur", "12345678", "test bank")
    assert (e.amount, e.direction, e.booking_date, e.time, e.value_date) == ("1,234.50", CREDIT, "20240110", "09:30:00", "20240111")
    assert (e.tx_code, e.channel, e.bank_reference) == ("xfer", "transfer", "x&1")
    assert (e.counterparty_name, e.counterparty_account, e.counterparty_bank) == ("jane <doe>", "998877", "021000021")
    assert e.remittance == "café € &unknown;  ok" and e.currency == "usd"
    assert e.position == "lines 16-26"      # CR-only line ends count as lines


def test_header_says_1x_but_everything_is_closed_and_header_is_broken(tmp_path):
    trn = ("<STMTTRN><TRNTYPE>ATM</TRNTYPE><DTPOSTED>20240110</DTPOSTED><TRNAMT>-40.00</TRNAMT>"
           "<FITID>A1</FITID><NAME/><MEMO>Cash</MEMO></STMTTRN>")
    p = make(tmp_path, "OFXHEADER:100 DATA:OFXSGML VERSION:102 garbage here\n\n\n" + body(trn, head=""))
    (_,), (e,), _ = kinds(recs(p))
    assert (e.amount, e.direction, e.channel, e.counterparty_name, e.remittance) == ("40.00", DEBIT, "cash", None, "Cash")


@pytest.mark.parametrize("charset, raw, text", [
    ("CHARSET:1252", b"Caf\xe9 \x80 5", "Café € 5"),
    ("CHARSET:ISO-8859-1", b"\x93quoted\x94", "\u201cquoted\u201d"),
    ("CHARSET:NONE\nENCODING:UTF-8", "Straße 日本".encode(), "Straße 日本"),
    ("CHARSET:NONE\nENCODING:UTF-8", b"M\xfcller", "Müller"),       # says UTF-8, is not: falls back
    ("CHARSET:1250", b"\x8ala", "Šla"),
    ("CHARSET:unicode_escape", b"\\x41\xe9", "\\x41é"),   # an escape codec is refused: 1252
])
def test_charsets(tmp_path, charset, raw, text):
    head = HEADER1.replace("CHARSET:1252", charset).encode()
    p = make(tmp_path, head + body(TRN.replace("Shop", "@@"), head="").encode().replace(b"@@", raw))
    (_,), (e,), _ = kinds(recs(p))
    assert e.counterparty_name == text


def test_bom_utf16_and_xml_declared_charset(tmp_path):
    p = make(tmp_path, "\ufeff".encode() + body(TRN.replace("Shop", "Zoë")).encode())
    assert kinds(recs(p))[1][0].counterparty_name == "Zoë"
    p = make(tmp_path, body(TRN.replace("Shop", "Zoë")).encode("utf-16"))
    assert ofx.sniff(p.read_bytes()[:8192]) and kinds(recs(p))[1][0].counterparty_name == "Zoë"
    xml = ('<?xml version="1.0" encoding="ISO-8859-15"?>\n<?OFX OFXHEADER="200" VERSION="211"?>\n'
           + body(TRN.replace("Shop", "@@"), head="")).encode().replace(b"@@", b"\xa4 10")
    p = make(tmp_path, xml)
    assert kinds(recs(p))[1][0].counterparty_name == "€ 10"


def test_truncated_file(tmp_path):
    data = (FIX / "ofxparse_checking.ofx").read_bytes()
    cut = data.index(b"<TRNAMT>-34.51")
    records = recs(make(tmp_path, data[:cut + 10]))
    (s,), (e,), (b,) = kinds(records)
    assert s.closing_booked is None and e.amount == "0.01"
    assert "truncated" in b.reason and b.position.startswith("lines 54-")
    with pytest.raises(InputError, match="no statement"):
        recs(make(tmp_path, data[:data.index(b"<STMTRS>")]))
    with pytest.raises(InputError, match="no <OFX> element"):
        recs(make(tmp_path, data[:60]))


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("date,amount\n2024-01-01,5\n", "no <OFX> element"),
    ("<html><body>Session expired</body></html>", "first element is <HTML>"),
    ('<?xml version="1.0"?><Document><BkToCstmrStmt/></Document>', "first element is <DOCUMENT>"),
    (HEADER1 + "<OFX><BANKMSGSRSV1><STMTTRN><TRNAMT>1<DTPOSTED>20240101</STMTTRN></OFX>", "outside any statement"),
    (HEADER1 + "<OFX>" + "".join(f"<E{i}>" for i in range(100)), "nested deeper than 64"),
])
def test_unusable_files_raise_one_line(tmp_path, content, message):
    p = make(tmp_path, content)
    with pytest.raises(InputError, match=message) as e:
        recs(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)
    with pytest.raises(InputError, match="cannot read"):
        recs(tmp_path / "missing.ofx")


def test_record_errors_are_bad_and_reading_goes_on(tmp_path):
    trns = "\n".join([
        "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240110<FITID>no-amount<NAME>A</STMTTRN>",
        "<STMTTRN><TRNTYPE>DEBIT<TRNAMT>-1.00<FITID>no-date</STMTTRN>",
        "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>2024-13-45<TRNAMT>-<FITID>sign-only</STMTTRN>",
        "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>2024-13-45<TRNAMT>2.00<FITID>bad-date</STMTTRN>",
        "<STMTTRN>" + "<X>1" * (ofx.MAX_FIELDS + 1) + "<DTPOSTED>20240110<TRNAMT>1</STMTTRN>",
        "<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240111<TRNAMT>3.00<FITID>unclosed",      # healed by the next
        "<STMTTRN><TRNTYPE>FEE<DTPOSTED>20240112<TRNAMT>-12,50<FITID>comma</STMTTRN>",
        TRN,
    ])
    records = recs(make(tmp_path, body(trns)))
    (s,), entries, bad = kinds(records)
    assert [b.column for b in bad] == ["TRNAMT", "DTPOSTED", "TRNAMT", None]
    assert "more than" in bad[3].reason and "no-amount" in bad[0].raw
    assert [(e.bank_reference, e.amount, e.booking_date) for e in entries] == \
        [("bad-date", "2.00", "2024-13-45"), ("unclosed", "3.00", "20240111"), ("comma", "12.50", "20240112"),
         ("F1", "5.00", "20240110")]
    assert (entries[2].direction, entries[2].channel) == (DEBIT, "fee")
    assert s.closing_booked == Balance("10.50", "20240131", True, "%Y%m%d")
    after = body(TRN).replace("</STMTRS>", "</STMTRS>\n" + TRN.replace("F1", "F2"))
    (s,), (e,), (b,) = kinds(recs(make(tmp_path, after)))
    assert e.bank_reference == "F1" and "outside any statement" in b.reason and "F2" in b.raw


def test_huge_field_is_bad_fast_and_flat(tmp_path):
    huge = "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240110<TRNAMT>-1.00<FITID>H<MEMO>" + "A" * 50_000_000 + "\n</STMTTRN>\n"
    p = make(tmp_path, body(huge + TRN))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        records = recs(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 10
    assert peak < 40_000_000          # chunks and one capped value, not the 50 MB field
    (_,), (e,), (b,) = kinds(records)
    assert (b.column, e.bank_reference) == ("MEMO", "F1") and "longer than 10,000" in b.reason
    assert len(b.raw) < RAW_CHARS + 50 and b.raw.endswith("more characters]")


def test_huge_statement_field_or_cdata(tmp_path):
    p = make(tmp_path, body(TRN).replace("<ACCTID>DE89", "<ACCTID>" + "9" * 5_000_000))
    with pytest.raises(InputError, match="ACCTID at line 14 is longer than 10,000 characters"):
        recs(p)
    cdata = TRN.replace("<NAME>Shop", "<NAME><![CDATA[" + "x<y>&" * 1_000_000 + "]]>")
    (_,), _, (b,) = kinds(recs(make(tmp_path, body(cdata))))
    assert b.column == "NAME" and "longer than" in b.reason
    ignored = body(TRN, extra_stmt="<MKTGINFO>" + "ad " * 2_000_000 + "\n")     # not used: no harm
    (s,), (e,), _ = kinds(recs(make(tmp_path, ignored)))
    assert e.bank_reference == "F1" and s.closing_booked.amount == "10.50"


def test_garbage_angle_brackets_do_not_hang(tmp_path):
    memo = "<" * 3_000_000 + "<a" * 1_000_000 + "<a " + " " * 1000
    p = make(tmp_path, body(TRN.replace("<NAME>Shop", "<NAME>x" + memo)))
    t0 = time.perf_counter()
    (_,), entries, bad = kinds(recs(p))
    assert time.perf_counter() - t0 < 10
    assert len(entries) + len(bad) == 1 and bad and bad[0].column == "NAME"


def test_entities_are_never_expanded_beyond_character_references(tmp_path):
    doc = ('<?xml version="1.0"?><!DOCTYPE OFX [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
           '<?OFX OFXHEADER="200" VERSION="211"?>' + body(TRN.replace("Shop", "&b;&#0;&#x110000;"), head=""))
    (_,), (e,), _ = kinds(recs(make(tmp_path, doc)))
    assert e.counterparty_name == "&b;&#0;&#x110000;"


def test_comments_and_cdata_hide_tags(tmp_path):
    trn = ("<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240110<TRNAMT>-7.00<FITID>C1"
           "<MEMO><![CDATA[<b>a & b</b> ]]></MEMO><!-- <STMTTRN><TRNAMT>-999</STMTTRN> --></STMTTRN>")
    (_,), (e,), bad = kinds(recs(make(tmp_path, body(trn))))
    assert not bad and (e.amount, e.remittance) == ("7.00", "<b>a & b</b>")


# ------------------------------------------------------------------------------------------------
# (c) round trips

ENTRY_FIELDS = [f.name for f in fields(Entry) if f.name not in ("position", "raw")]
STATEMENT_FIELDS = [f.name for f in fields(Statement) if f.name != "position"]


def values(records: list) -> list:
    out = []
    for r in records:
        names = STATEMENT_FIELDS if isinstance(r, Statement) else ENTRY_FIELDS
        out.append((type(r).__name__, {n: getattr(r, n) for n in names}))
    return out


def roundtrip(records: list, version: int = 1) -> list:
    buf = io.StringIO()
    ofx.write(records, buf, version=version)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rt.ofx"
        p.write_text(buf.getvalue(), encoding="utf-8")
        return list(ofx.read(p))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name", ["ofxparse_checking.ofx", "ofxparse_bank_medium.ofx", "ofxparse_anzcc.ofx",
                                  "asgrim_ofxdata-bb-two-stmtrs.ofx", "asgrim_ofx-multiple-accounts-xml.ofx",
                                  "asgrim_ofxdata-memoWithAmpersand.ofx", "ofxparse_suncorp.ofx"])
def test_fixture_round_trip(name, version):
    records = [r for r in recs(FIX / name) if not isinstance(r, Bad)]
    assert values(roundtrip(records, version)) == values(records)


def test_written_file_is_sniffed_and_has_the_ofx_shape():
    s = Statement(position="", kind="camt.053", account="DE89370400440532013000", currency="EUR",
                  holder_name="Ignored GmbH", bank_id="COBADEFFXXX", created="240201", period_from="240101",
                  period_to="240131", date_format="%y%m%d", opening_booked=Balance("1.00"),
                  closing_booked=Balance("99.50", "2024-01-31", True))
    e = Entry(position="", amount="12.00", direction=DEBIT, booking_date="2024-01-15", value_date="2024-01-16",
              time="08:05", tx_code="PMNT-ICDT-ESCT", channel="wire", end_to_end_id="E2E")
    buf = io.StringIO()
    ofx.write([s, e, Bad(position="x", raw="", reason="skipped")], buf)
    text = buf.getvalue()
    assert ofx.sniff(text.encode()[:8192])
    assert text.startswith("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n")
    assert "<DTPOSTED>20240115080500\n<DTAVAIL>20240116\n<TRNAMT>-12.00\n" in text
    assert "<TRNTYPE>XFER\n" in text and "<DTSTART>20240101\n" in text and "<BALAMT>-99.50\n<DTASOF>20240131\n" in text
    (rs,), (re_,), _ = kinds(roundtrip([s, e]))
    assert (rs.account, rs.bank_id, rs.period_from, rs.closing_booked.amount, rs.closing_booked.negative) == \
        ("DE89370400440532013000", "COBADEFFXXX", "20240101", "99.50", True)
    assert (re_.booking_date, re_.time, re_.value_date, re_.channel) == ("20240115", "08:05:00", "20240116", "transfer")
    with pytest.raises(ValueError):
        ofx.write([e], io.StringIO())
    with pytest.raises(ValueError):
        ofx.write([replace(s, period_from="31/01/2024", date_format=None)], io.StringIO())


# strategies: values the reader gives back exactly (dates YYYYMMDD, texts without NUL/surrogates)
_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=30)
_xml_text = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"), min_size=1, max_size=30)
_ident = st.text(st.characters(categories=("Lu", "Ll", "Nd"), max_codepoint=0x24F) | st.sampled_from("-/.~"),
                 min_size=1, max_size=20)
_date = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(lambda d: d.strftime("%Y%m%d"))
_amount = st.decimals(min_value=0, max_value=10**9, places=2).map(str)


@st.composite
def _entries(draw, text):
    code = draw(st.sampled_from(sorted(ofx.TRNTYPES)))
    return Entry(
        position="", amount=draw(_amount), direction=draw(st.sampled_from([CREDIT, DEBIT])),
        booking_date=draw(_date), value_date=draw(st.none() | _date),
        time=draw(st.none() | st.times().map(lambda t: t.strftime("%H:%M:%S"))),
        currency=draw(st.none() | st.sampled_from(["USD", "EUR", "JPY"])),
        counterparty_name=draw(st.none() | text), counterparty_account=draw(st.none() | _ident),
        counterparty_bank=draw(st.none() | text), bank_reference=draw(st.none() | text),
        customer_reference=draw(st.none() | text), remittance=draw(st.none() | text),
        tx_code=code, channel=ofx.CHANNELS.get(code), date_format="%Y%m%d")


def _balance():
    return st.none() | st.builds(Balance, amount=_amount, date=_date, negative=st.booleans(), date_format=st.just("%Y%m%d"))


@st.composite
def _statements(draw, text):
    cc = draw(st.booleans())
    extra = {"account type": "CREDITCARD" if cc else draw(st.sampled_from(["CHECKING", "SAVINGS", "MONEYMRKT"]))}
    if not cc and draw(st.booleans()):
        extra["branch id"] = draw(_ident)
    return Statement(
        position="", kind="ofx", account=draw(st.none() | _ident), currency=draw(st.none() | st.sampled_from(["USD", "GBP"])),
        bank_id=None if cc else draw(st.none() | text), bank_name="Bank & Co", statement_id=draw(st.none() | text),
        created="20240201", period_from=draw(st.none() | _date), period_to=draw(st.none() | _date),
        closing_booked=draw(_balance()), closing_available=draw(_balance()), date_format="%Y%m%d", extra=extra)


@st.composite
def _files(draw, text):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        out.append(draw(_statements(text)))
        out.extend(draw(st.lists(_entries(text), max_size=5)))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files(_text))
def test_property_round_trip_sgml(records):
    assert values(roundtrip(records, 1)) == values(records)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files(_xml_text))
def test_property_round_trip_xml(records):
    assert values(roundtrip(records, 2)) == values(records)


def test_write_and_read_stream_a_long_statement(tmp_path, monkeypatch):
    monkeypatch.setattr(ofx, "BUFFER_RECORDS", 50)        # the look-ahead pass, on 3,000 entries
    s = Statement(position="", kind="ofx", account="1", currency="USD", date_format="%Y%m%d",
                  closing_booked=Balance("5.00", "20240131", False, "%Y%m%d"))

    def gen():
        yield s
        for i in range(3000):
            yield Entry(position="", amount=f"{i}.00", direction=CREDIT, booking_date="20240115",
                        bank_reference=f"R{i}", tx_code="CREDIT", date_format="%Y%m%d")
    p = tmp_path / "long.ofx"
    with open(p, "w", encoding="utf-8") as fh:
        ofx.write(gen(), fh)
    it = ofx.read(p)
    first = next(it)
    assert first.closing_booked.amount == "5.00"         # balances come first, though written last
    rest = list(it)
    assert len(rest) == 3000 and rest[-1].bank_reference == "R2999" and rest[-1].amount == "2999.00"
