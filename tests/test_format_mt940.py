"""The MT940/MT942 reader and writer (issue 13): published fixtures, hostile files, round trip.

Fixtures are verbatim copies of other parser projects' test files (see
``tests/fixtures/mt940/SOURCES.md``); every expected value below was read off the file by hand.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import mt940 as mt940_lib
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from moneytrail.errors import InputError
from moneytrail.ingest.formats import mt940
from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement

FIX = Path(__file__).parent / "fixtures" / "mt940"
SAMPLES = sorted(p for p in FIX.iterdir() if p.suffix in (".sta", ".txt"))


def records(path: Path) -> list:
    return list(mt940.read(path))


def split(recs: list) -> tuple[list[Statement], list[Entry], list[Bad]]:
    return ([r for r in recs if isinstance(r, Statement)], [r for r in recs if isinstance(r, Entry)],
            [r for r in recs if isinstance(r, Bad)])


def write_bytes(tmp_path: Path, data: bytes, name: str = "x.sta") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------------------------------------
# every fixture: each :61: becomes exactly one Entry or Bad, after a Statement; sniff agrees
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_statement_line_is_one_record(path):
    recs = records(path)
    assert isinstance(recs[0], Statement)
    n61 = sum(1 for line in path.read_bytes().splitlines() if line.lstrip(b"\x01").startswith(b":61:"))
    assert sum(isinstance(r, (Entry, Bad)) for r in recs) == n61
    assert mt940.sniff(path.read_bytes()[:8192])
    for r in recs:
        assert r.position.startswith("line")
        if isinstance(r, Entry):
            assert r.raw.startswith(":61:") and r.date_format == "%y%m%d"
            assert r.direction in (CREDIT, DEBIT)


@pytest.mark.parametrize("path", [p for p in SAMPLES if not p.name.startswith("ASNB")], ids=lambda p: p.name)
def test_amounts_agree_with_the_mt940_package(path):
    """An independent reading (the mt-940 package's own parser) gives the same signed amounts."""
    theirs = [Decimal(str(t.data["amount"].amount)) for t in mt940_lib.parse(str(path)).transactions]
    ours = [Decimal(e.amount) * (1 if e.direction == CREDIT else -1)
            for e in records(path) if isinstance(e, Entry)]
    assert ours == theirs


def test_look_ahead_reading_gives_the_same_records(monkeypatch):
    """Messages bigger than the hold buffer are read by a second cursor: same result."""
    before = {p.name: records(p) for p in SAMPLES}
    monkeypatch.setattr(mt940, "_HOLD_BYTES", 0)
    after = {p.name: records(p) for p in SAMPLES}
    assert before == after


# ---------------------------------------------------------------------------------------------
# published fixtures, value by value
# ---------------------------------------------------------------------------------------------

def test_abn_amro_headers_intermediate_balances_and_entry_dates():
    sts, ents, bads = split(records(FIX / "jejik__abnamro.sta"))
    assert not bads and len(sts) == 2 and len(ents) == 10
    s1, s2 = sts
    assert (s1.kind, s1.account, s1.currency, s1.statement_id, s1.sequence) == \
        ("mt940", "517852257", "EUR", "ABN AMRO BANK NV", "19321/1")
    assert s1.opening_booked == Balance("3236.28", "110522", False, "%y%m%d")
    assert s1.closing_booked == Balance("876.84", "110523", False, "%y%m%d")
    assert (s1.period_from, s1.period_to, s1.position) == ("110522", "110523", "line 4")
    assert s1.extra["encoding"] == "utf-8"
    assert s2.extra["opening_intermediate"] == "true" and s2.extra["closing_intermediate"] == "true"
    assert s2.opening_booked.amount == "2876.84" and s2.closing_booked.amount == "1849.75"
    e = ents[0]
    assert (e.amount, e.direction, e.value_date, e.booking_date, e.tx_code, e.position) == \
        ("9", DEBIT, "110524", "110524", "N192", "lines 8-11")
    assert e.remittance.startswith("GIRO   428428 KPN - DIGITENNE")
    assert e.remittance.endswith("BETREFT FACTUUR D.D. 20-05-2011 INCL. 1,44 BTW")
    assert e.customer_reference is None        # NONREF
    # value date 21 May, booked 23 May
    assert (ents[1].amount, ents[1].value_date, ents[1].booking_date) == ("11.59", "110521", "110523")
    assert ents[6].amount == "107" and ents[6].position == "lines 23-24"
    assert [e.amount for e in ents[8:]] == ["9.49", "15"]


def test_ing_bank_header_and_statement_level_narrative():
    sts, ents, _ = split(records(FIX / "jejik__ing.sta"))
    (s,) = sts
    assert (s.account, s.statement_id, s.sequence) == ("0001234567", "MPBZ", "000")
    assert s.extra["information"] == "D000004C000002D25,24C28,71"
    assert s.closing_booked.amount == "3.47"
    assert [(e.amount, e.direction) for e in ents] == [
        ("25.03", DEBIT), ("3.03", DEBIT), ("1.11", DEBIT), ("20.00", DEBIT), ("1.10", DEBIT),
        ("3.68", CREDIT), ("1.00", CREDIT)]
    assert ents[2].customer_reference == "TMG TANGO"
    assert all(e.tx_code == "NTRF" and e.channel == "transfer" for e in ents)
    assert ents[6].remittance.endswith("Betaling transactiedatum: 22-07-2010")


def test_rabobank_keyword_narrative_and_back_to_back_messages():
    sts, ents, _ = split(records(FIX / "jejik__rabobank-iban.sta"))
    assert len(sts) == 2 and len(ents) == 4
    assert sts[0].account == "NL71RABO0123456789" and sts[0].closing_booked.amount == "965.00"
    assert sts[1].opening_booked.amount == "965.00" and sts[1].position == "line 14"
    e = ents[0]
    assert e.counterparty_name == "CONTRA ACCOUNT HOLDER"        # wrapped inside a word
    assert e.end_to_end_id == "01-01-2013 12:00 0030000987654321"
    assert e.customer_reference == e.end_to_end_id               # :61: says "see EREF"
    assert e.counterparty_account == "NL70ABNA0987654321"        # the :61: supplementary line
    assert e.remittance is None
    assert (ents[1].counterparty_name, ents[1].remittance) == ("JOHN DOE", "Reference 201301234")


def test_triodos_uses_gt_as_subfield_separator():
    (s, e1, e2) = records(FIX / "jejik__triodos.sta")
    assert (s.bank_id, s.account, s.statement_id) == ("TRIODOSBANK", "0390123456", "1308728725026/1")
    assert e1.remittance == "ALGEMENE TUSSENREKENING KOSTEN VAN 01-10-2010 TOT EN MET 31-12-2010"
    assert e1.tx_code == "N000/000" and e1.amount == "15.70"
    assert e2.remittance.startswith("HUUR") and e2.remittance.endswith("KANTOOR - FEB 2010")


def test_knab_amount_without_decimal_comma_and_references():
    sts, ents, _ = split(records(FIX / "jejik__knab.sta"))
    assert sts[0].opening_booked.amount == "0" and sts[0].closing_booked.amount == "500"
    assert (ents[0].amount, ents[0].bank_reference) == ("500", "B4E07XM00J000023")
    assert ents[2].amount == "500" and ents[2].customer_reference == "29-07-2014 10:05"
    assert ents[1].amount == "7260" and ents[1].remittance.endswith("NAAM: PICQER")


def test_cmxl_german_structured_details_and_blz_account():
    sts, ents, _ = split(records(FIX / "cmxl__mt940.sta"))
    assert len(sts) == 3 and len(ents) == 16
    assert (sts[0].bank_id, sts[0].account, sts[0].currency) == ("45050050", "76198810", "DEM")
    assert ents[0].tx_code == "NCHK" and ents[0].channel == "check" and ents[0].amount == "6800"
    standing = ents[11]
    assert standing.amount == "800" and standing.direction == DEBIT
    assert (standing.tx_code, standing.channel) == ("NSTO/008", "transfer")
    assert (standing.counterparty_name, standing.counterparty_account, standing.counterparty_bank) == \
        ("MUELLER", "234567", "10020030")
    assert standing.remittance == "Miete November" and standing.bank_reference == "55555"
    assert (standing.value_date, standing.booking_date) == ("021101", "021102")
    salary = ents[12]
    assert salary.tx_code == "NTRF/051" and salary.remittance.startswith("Gehalt Oktober")
    assert salary.counterparty_account == "0847564700"          # ?31 wrapped over two lines
    assert sts[1].extra["related_reference"] == "9876543210"
    polish = ents[13]
    assert (sts[2].bank_id, sts[2].account, sts[2].currency) == ("BPHKPLPK", "320000546101", "PLN")
    assert polish.counterparty_account == "PL08106000760000777777777777"   # ?38 IBAN
    assert polish.counterparty_name == "HUTA SZKLA TOPIC UL PRZEMY SLOWA 67 32-669 WROCLAW"
    assert polish.amount == "20000.00" and polish.tx_code == "FMSC/020"
    assert ents[15].remittance == "Odsetki od lokaty nr 101000022086"


def test_betterplace_sepa_keywords_in_german_purpose():
    sts, ents, _ = split(records(FIX / "betterplace__sepa_snippet.sta"))
    e = ents[0]
    assert (e.amount, e.direction, e.value_date, e.booking_date) == ("50990.05", CREDIT, "070907", "070904")
    assert e.end_to_end_id == "EndToEndId TFNR 22 004 00001"
    assert e.remittance == "Verw CTSc-01 BC-PPP TFNr 22 004"
    assert (e.counterparty_account, e.counterparty_bank) == ("DE14508800500194785000", "DRESDEFF508")
    assert e.tx_code == "NTRF/166" and e.channel == "transfer"
    assert e.bank_reference == "0724710333343453"
    assert ents[1].counterparty_name == "Quentin Quast"
    assert ents[1].remittance == "Strukturierter Verwendungszweck 30030004 DE"
    assert sts[0].closing_available.amount == "559614.51"
    assert sts[1].opening_booked == Balance("1970431.87", "070903", True, "%y%m%d")
    assert sts[1].closing_booked.negative and sts[1].closing_booked.amount == "4472049.09"
    assert ents[3].customer_reference.startswith("TFNr 01022 MSGID")       # KREF+


def test_utf8_umlauts_and_mbank_framing():
    sts, ents, _ = split(records(FIX / "betterplace__with_binary_character.sta"))
    assert sts[0].statement_id == "STAR1ÜTßUMS" and sts[0].extra["encoding"] == "utf-8"
    assert "Überweisung:19.03.2010" in ents[3].remittance
    assert ents[0].counterparty_name == "PAYPAL" and ents[0].counterparty_bank == "50070010"

    sts, ents, _ = split(records(FIX / "mBank__mt940.sta"))
    (s,) = sts
    assert (s.account, s.currency, s.statement_id) == ("PL29114010810000267002001002", "PLN", "ST170119CYC/1")
    assert s.closing_available == Balance("0.43", "170119", False, "%y%m%d")
    assert [e.bank_reference for e in ents] == ["MB170119012058", "MB170119012085", "MB170119012121"]
    assert ents[0].amount == "0.01" and ents[0].direction == CREDIT      # "CN": credit, funds code N
    assert ents[0].remittance.startswith("911 TRANSAKCJA COLLECT; ID IPH: XX000000000001")


def test_mt942_interim_reports():
    (s, *ents) = records(FIX / "mBank__mt942.sta")
    assert s.kind == "mt942" and s.created == "2017-01-19T18:15:00+01:00"
    assert s.extra["creation_time"] == "1701191815+0100"
    assert (s.extra["credit_count"], s.extra["credit_sum"], s.extra["debit_count"]) == ("3", "0.03", "0")
    assert s.opening_booked is None and len(ents) == 3
    (s, e) = records(FIX / "self-provided__mt942.sta")
    assert s.kind == "mt942" and s.created == "2016-10-30T17:30:00+00:00"
    assert (s.extra["floor_limit_debit"], s.extra["floor_limit_credit"]) == ("0.00", "0.00")
    assert (e.amount, e.direction, e.value_date, e.booking_date) == ("0.42", DEBIT, "161030", "161031")
    assert e.remittance == "REMIT:Costs to MT940 Parsing. This is Somuchfun."


def test_swift_blocks_and_long_customer_reference():
    sts, ents, bads = split(records(FIX / "ASNB__0708271685_09022020_164516.940.txt"))
    assert not bads and len(ents) == 8 and len(sts) == 31
    assert [s.sequence for s in sts[:3]] == ["1/1", "2/1", "3/1"]
    e = ents[0]
    assert (e.amount, e.direction, e.tx_code) == ("65.00", DEBIT, "NOVB")
    assert e.customer_reference == "NL47INGB9999999999" == e.counterparty_account
    assert e.remittance.endswith("Betaling sieraden")


def test_dos_code_page_is_detected_and_lossless():
    path = FIX / "self-provided__raiffeisen-cmi.sta"
    (s, *ents) = records(path)
    assert s.extra["encoding"] == "cp850"
    assert (s.bank_id, s.account, s.currency) == ("UBRTHUHB", "123456789150ABCDEF002", "HUF")
    assert s.extra["forward_available"] == "C180418HUF25281687,60; C180419HUF25281687,60; C180420HUF25281687,60"
    assert "összevont utánvét" in ents[0].remittance
    assert ents[0].amount == "2066637.00" and ents[0].direction == CREDIT
    # the decoded text gives back the file's bytes
    assert path.read_bytes().decode("cp850").encode("cp850") == path.read_bytes()


def test_crlf_odd_dates_and_tag_lookalikes():
    (s, e) = records(FIX / "self-provided__february_30.sta")
    assert (e.value_date, e.booking_date) == ("160230", "160301")     # the file's text, for the loader
    with pytest.raises(ValueError):
        datetime.strptime(e.value_date, e.date_format)
    assert e.tx_code == "N024/805" and e.remittance == "Pauschalen"
    (s, e) = records(FIX / "self-provided__wrapped_timestamp.sta")       # ":26:" inside :86:
    assert e.position == "lines 5-8" and s.closing_booked.amount == "1194.00"
    (s, e) = records(FIX / "self-provided__whitespace.sta")
    assert e.remittance == "ERSTATTUNG AUSLANDSEINSATZENTGELT FUER VISA 4998 XXXX XXXX 1234"
    assert (e.counterparty_name, e.counterparty_account, e.counterparty_bank) == \
        ("DEUTSCHE KREDITBANK AG", "9003932309", "12030000")


def test_non_swift_fields():
    (s, *ents) = records(FIX / "sberbank__171011_01234945.sta")
    assert s.extra["non_swift"].startswith("22JOHN DOE 23John Doe")
    assert [e.amount for e in ents] == ["2402.00", "3460.00", "3575.00"]
    assert ents[0].position == "lines 12-23" and ":NS:01526715" in ents[0].raw
    assert ents[0].tx_code == "S"


def test_ing_blocks_on_one_line_and_counterparty_subfields():
    sts, ents, _ = split(records(FIX / "libmt94x__ming-ing-provided-example-multiple-messages.txt"))
    assert [s.sequence for s in sts] == ["3", "4"] and len(ents) == 2
    s = sts[0]
    assert (s.account, s.currency) == ("NL20INGB0001234567", "EUR")      # IBAN + currency in :25:
    assert s.closing_available.amount == "4882.15"
    e = ents[1]
    assert e.position == "lines 18-21"
    assert (e.counterparty_name, e.counterparty_account, e.counterparty_bank) == \
        ("ING Testrekening", "NL08INGB0000001234", "INGBNL2A")
    assert (e.end_to_end_id, e.remittance, e.customer_reference) == \
        ("E2E2014030100899040", "5200150700013379", "5200150700013379")
    assert e.bank_reference == "00000000000001"

    sts, ents, _ = split(records(FIX / "libmt94x__ibp-structured-ing-provided-example.txt"))
    assert ents[0].customer_reference == "EV45451"                       # :61: "MARF" -> /MARF/
    assert (ents[0].counterparty_name, ents[0].counterparty_account) == \
        ("ING Bank N.V. inzake WeB", "NL50INGB0001234567")
    assert ents[0].remittance == "EV45451REP170112T1106"
    assert (ents[2].customer_reference, ents[2].remittance) == ("M000000002222222", "TOTAAL 1 POSTEN")


# ---------------------------------------------------------------------------------------------
# built inputs: layouts, encodings, dates, hostile files
# ---------------------------------------------------------------------------------------------

HEAD = b":20:REF1\n:25:DE89370400440532013000\n:28C:7/1\n:60F:C240101EUR100,00\n"
TAIL = b":62F:C240131EUR90,00\n-\n"


def one(tmp_path: Path, lines: bytes) -> list:
    return records(write_bytes(tmp_path, HEAD + lines + TAIL))


def test_crlf_bom_blank_lines_and_lf_read_the_same(tmp_path):
    body = HEAD + b":61:2401150115D10,00NTRFABC//XYZ\n:86:/NAME/Jane Doe/REMI/Rent\n" + TAIL
    lf = records(write_bytes(tmp_path, body, "lf.sta"))
    crlf = records(write_bytes(tmp_path, b"\xef\xbb\xbf\r\n\r\n" + body.replace(b"\n", b"\r\n"), "crlf.sta"))
    assert [vars(r) | {"position": None} for r in lf] == [vars(r) | {"position": None} for r in crlf]
    e = lf[1]
    assert (e.counterparty_name, e.remittance, e.customer_reference, e.bank_reference) == \
        ("Jane Doe", "Rent", "ABC", "XYZ")
    assert crlf[1].position == "lines 7-8"


def test_reversals_and_year_end(tmp_path):
    _, rc, rd, dec, jan = one(tmp_path, b":61:240120RC10,00NTRF\n:61:240120RD5,00NCHG\n"
                                        b":61:2312310102D7,00NTRF\n:61:2401021231C3,00NINT\n")
    assert (rc.direction, rc.tx_code, rc.channel) == (DEBIT, "NTRF reversal", "transfer")
    assert (rd.direction, rd.tx_code, rd.channel) == (CREDIT, "NCHG reversal", "fee")
    assert (dec.value_date, dec.booking_date) == ("231231", "240102")
    assert (jan.value_date, jan.booking_date, jan.channel) == ("240102", "231231", "interest")


def test_bad_statement_lines_are_kept_with_reasons(tmp_path):
    recs = one(tmp_path, b":61:240131CNTRFNONREF\n:86:missing amount\n"
                         b":61:24X131C10,00NTRF\n"
                         b":61:240131C1234567890123456,00NTRF\n"
                         b":61:240131C\xd9\xa3,00NTRF\n"
                         b":61:240131C10,00\n"
                         b":61:241340C12,50NTRFNONREF\n")
    s, *rest = recs
    bads = [r for r in rest if isinstance(r, Bad)]
    assert [b.reason.split(" :61: ", 1)[1] for b in bads] == [
        "has no amount after its debit/credit mark",
        "does not start with a value date (YYMMDD)",
        "amount is longer than 15 characters",
        "has no amount after its debit/credit mark",
        "has no transaction type code (1!a3!c) after its amount",
    ]
    assert bads[0].position == "lines 5-6" and bads[0].raw == ":61:240131CNTRFNONREF\n:86:missing amount"
    assert all(b.column == ":61:" and b.counts_entries == 1 for b in bads)
    (bad_date,) = [r for r in rest if isinstance(r, Entry)]      # month 13: the loader rejects it
    assert (bad_date.value_date, bad_date.amount) == ("241340", "12.50")


def test_truncated_file(tmp_path):
    full = (FIX / "jejik__abnamro.sta").read_bytes()
    cut = full[:full.index(b":61:1105220523D141,48") + 20]          # mid statement line
    sts, ents, bads = split(records(write_bytes(tmp_path, cut)))
    assert len(sts) == 1 and len(ents) == 7 and len(bads) == 1
    assert sts[0].closing_booked is None and "no closing balance" in sts[0].extra["incomplete"]
    assert "transaction type code" in bads[0].reason
    with pytest.raises(InputError, match="no statement tag"):
        records(write_bytes(tmp_path, b"{1:F01ABNANL2AXXXX0000000000}{2:O94", "head.sta"))


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"date,amount,payee\n2024-01-01,10.00,ACME\n", "no statement tag"),
    (b"\x00\x01\x02" * 1000, "no statement tag"),
    (b"{1:F01BANKBEBBAXXX0000000000}{2:O1031200240101BANKBEBBAXXX00000000002401011200N}{4:\n"
     b":20:PAY1\n:23B:CRED\n:32A:240101EUR100,00\n-}", "MT103 message is not a statement"),
])
def test_files_that_are_not_statements(tmp_path, data, message):
    p = write_bytes(tmp_path, data)
    assert not mt940.sniff(data[:8192])
    with pytest.raises(InputError, match=message) as err:
        records(p)
    assert str(p) in str(err.value)


def test_sniff():
    assert mt940.sniff(b"\xef\xbb\xbf" + HEAD)
    assert mt940.sniff(b"{1:F01INGBNL2ABXXX0000000000}{2:I940INGBNL2AXXXN}{4:\r\n:20:X\r\n")
    assert mt940.sniff(b"\r\n0000 01INGBNL2AXXXX00001\r\n940 00\r\n:20:ING\r\n:25:0654321789\r\n")
    for other in (b"OFXHEADER:100\nDATA:OFXSGML\n<OFX>", b'<?xml version="1.0"?><Document>',
                  b"01,BANK,CUST,240101,1200,1,,,2/\n", b"a,b,c\n:20:,x,y\n"):
        assert not mt940.sniff(other)


def test_huge_field_is_rejected_quickly_in_flat_memory(tmp_path):
    p = tmp_path / "huge.sta"
    with p.open("wb") as fh:
        fh.write(HEAD + b":61:240102C1,00NTRF\n:86:")
        fh.write(b"A" * (50 * 1024 * 1024))                      # one 50 MB line
        fh.write(b"\n:61:240103D2,00NTRF\n:86:")
        fh.write(b"B" * 60 + b"\n" + (b"C" * 60 + b"\n") * 400_000)   # a 24 MB field over many lines
        fh.write(b":61:240104C3,00NTRF\n" + TAIL)
    tracemalloc.start()
    t0 = time.perf_counter()
    recs = records(p)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    s, b1, b2, e = recs
    assert isinstance(b1, Bad) and isinstance(b2, Bad) and isinstance(e, Entry)
    assert b1.reason == f"field :86: is longer than {mt940.MAX_FIELD} bytes" and b1.column == ":86:"
    assert b1.raw.startswith(":61:240102C1,00NTRF\n:86:AAAA") and len(b1.raw) < 2100
    assert b2.position == "lines 7-400008" and b2.raw.startswith(":61:240103D2,00NTRF\n:86:BBBB")
    assert e.amount == "3.00" and e.position == "line 400009"
    assert s.closing_booked.amount == "90.00"
    assert peak < 24 * 1024 * 1024, peak
    assert elapsed < 10


def test_huge_statement_field(tmp_path):
    p = write_bytes(tmp_path, b":20:X\n:25:" + b"9" * (3 * 1024 * 1024) + b"\n:60F:C240101EUR1,00\n"
                    b":61:240102C1,00NTRF\n:62F:C240102EUR2,00\n")
    s, e = records(p)
    assert s.account is None and s.extra["oversized"] == ":25:"
    assert e.amount == "1.00" and s.closing_booked.amount == "2.00"


@pytest.mark.parametrize("encoding, text, expected", [
    ("cp1252", "Müller € Straße", "cp1252"),
    ("latin-1", "Müller\x81 Straße", "latin-1"),             # 0x81: undefined in cp1252
    ("cp850", "Müller Gößl Ärger", "cp850"),
    ("utf-8", "Müller € Straße", "utf-8"),
])
def test_encodings(tmp_path, encoding, text, expected):
    body = (":20:ENC\n:25:12345678/0001234567\n:28C:1\n:60F:C240101EUR0,00\n"
            ":61:240102C1,00NTRFNONREF\n:86:166?00GUTSCHRIFT?20Miete?32" + text + "\n"
            ":62F:C240102EUR1,00\n-\n")
    raw = body.encode(encoding)
    s, e = records(write_bytes(tmp_path, raw))
    assert s.extra["encoding"] == expected
    assert e.counterparty_name == text
    assert (s.bank_id, s.account) == ("12345678", "0001234567")
    assert e.raw.encode(expected) in raw


def test_big_message_read_with_look_ahead(tmp_path):
    """A 30,000-entry message (over the hold buffer) still gets its closing balance first."""
    st0 = Statement(position="", kind="mt940", account="NL91ABNA0417164300", currency="EUR",
                    statement_id="BIG", sequence="1/1",
                    opening_booked=Balance("0.00", "240101", False, "%y%m%d"),
                    closing_booked=Balance("30000.00", "240131", False, "%y%m%d"))
    ents = [Entry(position="", amount="1.00", direction=CREDIT, booking_date="240115",
                  date_format="%y%m%d", remittance=f"item {i}", counterparty_name="Payer")
            for i in range(30_000)]
    p = tmp_path / "big.sta"
    with p.open("w") as fh:
        mt940.write([st0, *ents], fh)
    assert p.stat().st_size > mt940._HOLD_BYTES
    s, *out = records(p)
    assert s.closing_booked == Balance("30000.00", "240131", False, "%y%m%d")
    assert len(out) == 30_000 and out[-1].remittance == "item 29999"


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------

def demo_records() -> list:
    return [
        Statement(position="", kind="mt940", account="DE89370400440532013000", currency="EUR",
                  bank_id="COBADEFFXXX", statement_id="STMT-2024-01", sequence="1/1",
                  opening_booked=Balance("1500.00", "2024-01-01"),
                  closing_booked=Balance("1290.25", "2024-01-31"),
                  closing_available=Balance("1290.25", "2024-01-31")),
        Entry(position="", amount="250.00", direction=DEBIT, booking_date="2024-01-05",
              counterparty_name="Acme Supplies GmbH", counterparty_account="DE02120300000000202051",
              counterparty_bank="BYLADEM1001", end_to_end_id="INV-2024-001",
              customer_reference="PO 7781", bank_reference="BK000001",
              remittance="Invoice 2024-001 office chairs and desks for the new branch in Mainz",
              channel="transfer"),
        Entry(position="", amount="40.25", direction=CREDIT, booking_date="2024-01-09",
              value_date="2024-01-10", counterparty_name="Card refund", channel="card"),
        Entry(position="", amount="0.00", direction=DEBIT, booking_date="2024-01-31",
              tx_code="NCHG", remittance="Monthly fee waived"),
        Statement(position="", kind="mt942", account="NL91ABNA0417164300", currency="EUR",
                  statement_id="INTRADAY", sequence="2", created="2024-02-01T10:15:00+01:00"),
        Entry(position="", amount="12.00", direction=DEBIT, booking_date="2024-02-01",
              tx_code="NDDT/105 reversal", remittance="Direct debit returned"),
    ]


def test_write_is_valid_mt940_for_us_and_for_the_mt940_package(tmp_path):
    buf = io.StringIO()
    mt940.write(demo_records(), buf)
    text = buf.getvalue()
    assert all(len(line) <= 65 for line in text.splitlines() if not line.startswith(":"))
    assert ":61:2401050105D250,00NTRFPO 7781//BK000001" in text
    assert ":25:COBADEFFXXX/DE89370400440532013000" in text
    assert ":13D:2402011015+0100" in text and ":90D:1EUR12,00" in text and ":90C:0EUR0," in text
    p = write_bytes(tmp_path, text.encode())
    assert mt940.sniff(p.read_bytes())
    s1, e1, e2, e3, s2, e4 = records(p)
    assert (s1.bank_id, s1.account, s1.statement_id, s1.sequence) == \
        ("COBADEFFXXX", "DE89370400440532013000", "STMT-2024-01", "1/1")
    assert s1.opening_booked == Balance("1500.00", "240101", False, "%y%m%d")
    assert s1.closing_available == Balance("1290.25", "240131", False, "%y%m%d")
    assert (e1.counterparty_name, e1.counterparty_account, e1.counterparty_bank, e1.end_to_end_id) == \
        ("Acme Supplies GmbH", "DE02120300000000202051", "BYLADEM1001", "INV-2024-001")
    assert e1.remittance == "Invoice 2024-001 office chairs and desks for the new branch in Mainz"
    assert (e1.customer_reference, e1.bank_reference, e1.channel) == ("PO 7781", "BK000001", "transfer")
    assert (e2.channel, e2.tx_code, e2.value_date, e2.booking_date) == ("card", "NMSC/106", "240110", "240109")
    assert (e3.amount, e3.tx_code, e3.channel) == ("0.00", "NCHG", "fee")
    assert (s2.kind, s2.created, s2.opening_booked) == ("mt942", "2024-02-01T10:15:00+01:00", None)
    assert (e4.direction, e4.tx_code, e4.channel) == (DEBIT, "NDDT/105 reversal", "ach")
    # and the mt-940 package reads the same amounts from it (it reads any mark but D as a
    # credit, so SWIFT's RC, "reversal of a credit", comes out positive there)
    theirs = [Decimal(str(t.data["amount"].amount)) for t in mt940_lib.parse(text).transactions]
    assert theirs == [Decimal("-250.00"), Decimal("40.25"), Decimal("-0.00"), Decimal("12.00")]


def test_write_computes_a_missing_closing_balance_and_refuses_bad_records():
    buf = io.StringIO()
    mt940.write([Statement(position="", kind="mt940", account="1", currency="USD",
                           opening_booked=Balance("10.00", "240101", True, "%y%m%d")),
                 Entry(position="", amount="25.50", direction=CREDIT, booking_date="240102",
                       date_format="%y%m%d")], buf)
    assert ":62F:C240102USD15,50" in buf.getvalue()
    with pytest.raises(ValueError, match="before any Statement"):
        mt940.write([Entry(position="", amount="1", direction=CREDIT, booking_date="2024-01-01")], io.StringIO())
    st0 = Statement(position="", kind="mt940", account="1", currency="EUR")
    for bad, msg in [(dict(direction=None), "no direction"), (dict(amount="-5"), "negative"),
                     (dict(amount="1e20"), "15 characters"), (dict(booking_date="31/01/2024"), "not a date")]:
        e = Entry(position="line 9", amount="1", direction=CREDIT, booking_date="2024-01-31")
        for k, v in bad.items():
            setattr(e, k, v)
        with pytest.raises(ValueError, match=msg):
            mt940.write([st0, e], io.StringIO())


# ---------------------------------------------------------------------------------------------
# round trip: read(write(x)) == x for what MT940 carries
# ---------------------------------------------------------------------------------------------

SAFE = st.characters(codec="latin-1", categories=("L", "N"), include_characters=" .,-()'&:{}/+")
NO_REF = {"NONREF", "NOTPROVIDED", "NONE", "EREF", "PREF", "MARF", "KREF"}


def writable(s: str) -> bool:
    """What the writer documents it cannot carry: a keyword of the narrative structure inside a
    value (``/NAME/``, ``SVWZ+``) and, for the references, the "no reference" words."""
    return bool(s) and s.upper() not in NO_REF and not mt940._SLASH_TOKEN.search(f"/{s}/") \
        and not mt940._SEPA_TOKEN.search(s)


def words(max_size: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.text(SAFE, min_size=1, max_size=max_size)
                     .map(str.strip).filter(writable))


def alnum(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"), min_size=min_size,
                   max_size=max_size)


# (tx_code written, channel given) -> (tx_code read, channel read)
CODES = [
    (None, "transfer", "NTRF", "transfer"), (None, "check", "NCHK", "check"),
    (None, "cash", "NCSH", "cash"), (None, "ach", "NDDT", "ach"), (None, "fee", "NCHG", "fee"),
    (None, "interest", "NINT", "interest"), (None, "payroll", "NSAL", "payroll"),
    (None, "wire", "S103", "wire"), (None, "card", "NMSC/106", "card"), (None, None, "NMSC", None),
    ("NTRF/166", None, "NTRF/166", "transfer"), ("NMSC/153", None, "NMSC/153", "payroll"),
    ("NTRF reversal", None, "NTRF reversal", "transfer"), ("FCHK", None, "FCHK", "check"),
]

dates = st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2060, 12, 31).date())


@st.composite
def entries(draw):
    booking = draw(dates)
    value = draw(st.one_of(st.none(), st.integers(-20, 20).map(lambda d: booking.fromordinal(booking.toordinal() + d))))
    code, channel, code_read, channel_read = draw(st.sampled_from(CODES))
    amount = draw(st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2))
    e = Entry(position="", amount=str(amount), direction=draw(st.sampled_from([CREDIT, DEBIT])),
              booking_date=f"{booking:%y%m%d}", value_date=f"{value:%y%m%d}" if value else None,
              counterparty_name=draw(words(50)), counterparty_account=draw(st.one_of(st.none(), alnum(5, 34))),
              counterparty_bank=draw(st.one_of(st.none(), alnum(8, 11))),
              end_to_end_id=draw(words(35)), customer_reference=draw(words(30)),
              bank_reference=draw(st.one_of(st.none(), alnum(1, 16))),
              remittance=draw(words(120)), tx_code=code, channel=channel, date_format="%y%m%d")
    return e, code_read, channel_read


@st.composite
def statements(draw):
    kind = draw(st.sampled_from(["mt940", "mt940", "mt942"]))
    bal = st.builds(lambda a, d, n: Balance(str(a), f"{d:%y%m%d}", n, "%y%m%d"),
                    st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2), dates, st.booleans())
    bank = draw(st.one_of(st.none(), alnum(8, 8).filter(str.isdigit), st.just("INGBNL2A"), st.just("COBADEFFXXX")))
    return Statement(
        position="", kind=kind, account=draw(st.sampled_from(["NL91ABNA0417164300", "0001234567", "5029384"])),
        currency=draw(st.sampled_from(["EUR", "USD", "PLN"])), bank_id=bank,
        statement_id=draw(alnum(1, 16)), sequence=draw(st.sampled_from(["1", "00012/001", "7/2"])),
        opening_booked=draw(bal) if kind == "mt940" else None,
        closing_booked=draw(bal) if kind == "mt940" else None,
        closing_available=draw(st.one_of(st.none(), bal)) if kind == "mt940" else None,
        created=draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1))
                     .map(lambda d: d.replace(second=0, microsecond=0).isoformat() + "+02:00"))
        if kind == "mt942" else None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(statements(), st.lists(entries(), max_size=6)), min_size=1, max_size=3))
def test_round_trip(tmp_path_factory, groups):
    recs = []
    expected = []
    for stmt, ents in groups:
        recs.append(stmt)
        for e, code, channel in ents:
            assume(not (e.customer_reference and mt940._IBAN.fullmatch(e.customer_reference)))
            recs.append(e)
            expected.append((e, code, channel))
    p = tmp_path_factory.mktemp("rt") / "rt.sta"
    with p.open("w", encoding="utf-8") as fh:
        mt940.write(recs, fh)
    out = records(p)
    assert [type(r) for r in out] == [type(r) for r in recs]
    got_statements = [r for r in out if isinstance(r, Statement)]
    for want, got in zip([r for r in recs if isinstance(r, Statement)], got_statements):
        assert (got.kind, got.account, got.bank_id, got.currency, got.statement_id, got.sequence) == \
            (want.kind, want.account, want.bank_id, want.currency, want.statement_id, want.sequence)
        assert (got.opening_booked, got.closing_booked, got.closing_available, got.created) == \
            (want.opening_booked, want.closing_booked, want.closing_available, want.created)
    for (want, code, channel), got in zip(expected, [r for r in out if isinstance(r, Entry)]):
        assert Decimal(got.amount) == Decimal(want.amount) and got.direction == want.direction
        assert (got.booking_date, got.value_date) == (want.booking_date, want.value_date or want.booking_date)
        assert (got.counterparty_name, got.counterparty_account, got.counterparty_bank) == \
            (want.counterparty_name, want.counterparty_account, want.counterparty_bank)
        assert (got.end_to_end_id, got.customer_reference, got.bank_reference, got.remittance) == \
            (want.end_to_end_id, want.customer_reference, want.bank_reference, want.remittance)
        assert (got.tx_code, got.channel) == (code, channel)
