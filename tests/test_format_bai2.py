"""BAI2 reader and writer (issue 13): real files published by BAI2 parser projects, hostile
files built here, and the round trip read(write(x)) == x."""

from __future__ import annotations

import io
import string
import tempfile
import time
import tracemalloc
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moneytrail.errors import InputError
from moneytrail.ingest.formats import bai2
from moneytrail.ingest.statement import CREDIT, DEBIT, Bad, Balance, Entry, Statement

FIX = Path(__file__).parent / "fixtures" / "bai2"


def _read(path: Path) -> list:
    return list(bai2.read(path))


def _kinds(records: list) -> tuple[list[Statement], list[Entry], list[Bad]]:
    return ([r for r in records if isinstance(r, Statement)], [r for r in records if isinstance(r, Entry)],
            [r for r in records if isinstance(r, Bad)])


def _file(tmp_path: Path, text: str, name: str = "f.bai2", newline: str = "\n") -> Path:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return p


def _signed(b: Balance | None) -> Decimal | None:
    return None if b is None else (-Decimal(b.amount) if b.negative else Decimal(b.amount))


# A small valid file: two groups; group 1 has two accounts (USD), group 2 one (JPY).
VALID = """01,021000021,CUST01,240305,0800,F42,,,2/
02,CUST01,021000021,1,240304,2359,USD,2/
03,111 222 333,USD,010,150000,,,015,170000,,,040,150000,,,045,169000,,/
16,195,50000,0,WIRE123,INV-9,Incoming wire ACME CORP
88,DBNM: ACME CORP
88,DACT: 987654321
88,DABA: 026009593
88,EREF: E2E-1
16,475,30000,0,000123,,CHECK 123/
49,719000,8/
03,444555,USD,010,0,,,015,-2500,,/
16,698,2500,Z,FEE1,,MONTHLY FEE/
49,0,3/
98,719000,2,13/
02,CUST01,021000021,1,240305,,JPY,2/
03,777,,010,1000,,/
16,142,500,,ACH1,,/
88,PAYROLL BATCH 7
49,1500,4/
98,1500,1,6/
99,720500,2,21/
"""


# ----------------------------------------------------------------------------------------------
# sniff

def test_sniff_accepts_every_fixture_and_a_bom():
    for p in FIX.glob("*.bai2"):
        assert bai2.sniff(p.read_bytes()[:8192]), p.name
    assert bai2.sniff(b"\xef\xbb\xbf" + VALID.encode())
    assert bai2.sniff(VALID.replace("\n", "\r\n").encode())


@pytest.mark.parametrize("head", [
    b"date,amount,description\n2024-01-01,10.00,coffee\n",
    b"01,2024,5,100\n02,2024,6,200\n03,2024,7,300\n",               # a CSV of numbers
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">',
    b"{1:F01BANKBEBBAXXX0000000000}{2:I940BANKBEBBXXXXN}{4:\r\n:20:STMT\r\n:25:12345\r\n",
    b":20:STMT\r\n:25:12345\r\n:28C:1/1\r\n",
    b"OFXHEADER:100\r\nDATA:OFXSGML\r\n\r\n<OFX><SIGNONMSGSRSV1>",
    b"01,SENDER,RECEIVER,240101,0000,1,,,2/\nhello world\nmore text\n",  # header, then not BAI2
    b"",
])
def test_sniff_rejects_other_formats(head):
    assert not bai2.sniff(head)


# ----------------------------------------------------------------------------------------------
# real files (tests/fixtures/bai2/SOURCES.md)

def test_citi_example_value_dated_detail_with_seven_continuations():
    sts, ens, bads = _kinds(_read(FIX / "moj_citi_example.bai2"))
    assert not bads
    (s,) = sts
    assert (s.account, s.currency, s.bank_id, s.statement_id) == ("77777777", "GBP", "CITIGB00", "00131100")
    assert (s.created, s.period_from, s.period_to, s.date_format) == ("150716", "150715", "150715", "%y%m%d")
    assert s.opening_booked == Balance("100.00", "150715", False, "%y%m%d")
    assert s.closing_booked == Balance("100.00", "150715", False, "%y%m%d")
    assert s.extra["ultimate_receiver"] == "8888888" and s.extra["as_of_time"] == "2340"
    (e,) = ens
    assert (e.amount, e.direction, e.tx_code, e.channel) == ("0.01", CREDIT, "191", "transfer")
    assert (e.booking_date, e.value_date) == ("150715", "150715")
    assert (e.bank_reference, e.customer_reference) == ("1234567890", "RP12312312312312")
    assert e.position == "lines 4-11"
    assert e.remittance.startswith("FR:FP SIP INCOMING ENDT:20150715 TRID:RP12312312312312")
    assert e.remittance.endswith("OB:111111 BUCKINGHAM PALACE OB3:BARCLAYS BANK PLC BO:11111111 BO1:DOE JO")
    assert e.raw.startswith("16,191,001,V,150715,,1234567890,RP12312312312312/\n88,FR:FP SIP INCOMING")


def test_natwest_example_summary_continued_and_text_wrapped_at_80_columns():
    sts, ens, bads = _kinds(_read(FIX / "moj_nwb_example.bai2"))
    assert not bads
    (s,) = sts
    assert s.account == "88888888600004"          # "88888888 600004": spaces removed
    assert s.position == "lines 3-4"
    assert (s.opening_booked.amount, s.closing_booked.amount) == ("365.21", "338.45")
    assert (s.opening_available.amount, s.closing_available.amount) == ("338.45", "338.45")
    assert s.extra["type 400"] == "27.65 (4 items)" and s.extra["type 100"] == "0.89 (1 items)"
    assert s.extra["created_time"] == "14:59:35"
    assert [(e.amount, e.direction, e.tx_code) for e in ens] == [
        ("9.71", DEBIT, "699"), ("1.00", DEBIT, "699"), ("1.23", DEBIT, "699"), ("15.71", DEBIT, "699"),
        ("0.89", CREDIT, "399")]
    assert ens[0].remittance == "LVP XBANKGO24007664SJ LVP INT 2 USAXBANKGO24007664SJ LVP INT 2 USARELAY TFR"
    assert ens[4].position == "lines 13-15"
    assert ens[4].remittance.endswith("INTERNATIONAL-5373 CLIE NT SECCY AC TFR")
    assert all(e.bank_reference is None and e.customer_reference is None and e.channel is None for e in ens)


def test_svb_example_two_days_of_one_account_and_trailer_without_slash():
    sts, ens, bads = _kinds(_read(FIX / "moj_svb_us_example.bai2"))
    assert not bads
    assert [s.account for s in sts] == ["1234567890", "1234567890"]
    assert [s.period_to for s in sts] == ["220201", "220202"]
    assert [(s.opening_booked.amount, s.closing_booked.amount) for s in sts] == [
        ("347269.79", "352171.75"), ("352171.75", "361229.75")]
    assert sts[0].opening_available.amount == "327425.37"
    assert [(e.amount, e.tx_code, e.channel, e.bank_reference, e.remittance) for e in ens] == [
        ("4901.96", "142", "ach", "172629", "SOME PAYMENT ACH OFFSET"),
        ("9058.00", "142", "ach", "150675", "SOME PAYMENT ACH OFFSET")]
    assert [e.booking_date for e in ens] == ["220201", "220202"]


def test_blank_account_control_total_counts_as_zero():
    sts, ens, bads = _kinds(_read(FIX / "moj_account_trailer_amount_blank_example.bai2"))
    assert [s.account for s in sts] == ["12345", "54321"] and not ens and not bads
    assert sts[0].currency == "USD"                # neither 02 nor 03 says: BAI2's default


def test_moov_sample1_canadian_value_dated_details():
    sts, ens, bads = _kinds(_read(FIX / "moov_sample1.bai2"))
    assert not bads and len(sts) == 2 and len(ens) == 17
    assert all(s.currency == "CAD" and s.bank_id == "0004" for s in sts)
    assert sts[0].extra["type 100"] == "2085.00 (00003 items)"
    e = ens[0]
    assert (e.amount, e.direction, e.value_date, e.remittance, e.position) == (
        "25.00", DEBIT, "060316", "RETURNED CHEQUE", "line 5")
    credits = sum(Decimal(e.amount) for e in ens if e.direction == CREDIT)
    debits = sum(Decimal(e.amount) for e in ens if e.direction == DEBIT)
    assert (credits, debits) == (Decimal("3200.00"), Decimal("3200.00"))


def test_moov_sample2_spec_examples_availability_and_correction_group():
    sts, ens, bads = _kinds(_read(FIX / "moov_sample2.bai2"))
    assert not bads
    assert [s.account for s in sts] == ["0123456789", "9876543210", "4589761203", "0975312468", "7890654321"]
    assert sts[1].opening_booked == Balance("5000.00", "040620", True, "%y%m%d")   # "-500000"
    assert sts[1].opening_available.negative and sts[1].opening_available.amount == "15000.00"
    assert sts[4].extra["group_status"] == "3"     # correction: kept
    lockbox, letter, wire = ens[1], ens[2], ens[3]
    assert (ens[0].amount, ens[0].tx_code, ens[0].channel, ens[0].bank_reference) == ("4500.00", "115", "check", None)
    assert (lockbox.amount, lockbox.remittance) == ("5000.00", "LOCK BOX NO.68751")   # funds type S
    assert (letter.amount, letter.value_date, letter.bank_reference, letter.customer_reference) == (
        "200000.00", "040622", "SP4738", "YRC065321")
    assert letter.remittance == "PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO"
    assert letter.position == "lines 16-17"
    assert (wire.amount, wire.channel, wire.remittance) == ("100000.00", "wire", None)


def test_moov_sample3_several_records_on_one_line_and_text_broken_without_88():
    sts, ens, bads = _kinds(_read(FIX / "moov_sample3.bai2"))
    assert not bads
    assert len(sts) == 15 and len(ens) == 26
    assert sts[0].position == "line 2" and ens[0].position == ens[1].position == "line 3"
    assert [e.remittance for e in ens[:2]] == ["TRANSFER   PAYPAL             PPD",
                                               "TRANSFER   MSPBNA BANK        PPD"]
    broken = next(e for e in ens if e.position == "lines 18-20")
    assert broken.amount == "25.00" and broken.remittance == (
        "111111     ACH_SETL           1111111111 111111111111111 1111111111")
    assert sts[0].opening_booked == Balance("35.00", "220919", True, "%y%m%d")


def test_moov_sample5_whose_trailers_do_not_add_up_is_quarantined_per_account():
    path = FIX / "moov_sample5-issue113.bai2"
    records = _read(path)
    sts, ens, bads = _kinds(records)
    assert len(sts) == 5 and not ens
    n16 = sum(1 for ln in path.read_text().splitlines() if ln.startswith("16,"))
    assert sum(b.counts_entries for b in bads) == n16 == 20
    second = bads[1]
    assert second.position == "lines 5-22" and second.counts_entries == 3
    assert second.reason.startswith("account trailer control total -1260161341762 differs from the sum 7999960 "
                                    "of its records; account trailer record count 26 differs from the 18")
    assert "group trailer control total 13060195162 differs" in second.reason
    # each Bad follows its own Statement
    assert [type(r).__name__ for r in records[:4]] == ["Statement", "Bad", "Statement", "Bad"]
    assert bads[-1].counts_entries == 0 and bads[-1].reason.startswith("file trailer record count 18 differs")


def _retotal(text: str) -> str:
    """The file with its 49/98/99 trailers recomputed (one record per line, amounts summed)."""
    out, acct, grp, fil, a_sum, g_sum, f_sum, g_n, f_n = [], 0, 0, 0, 0, 0, 0, 0, 0
    for ln in text.splitlines():
        code = ln[:2]
        fil += 1
        grp += 1
        if code == "03":
            acct, a_sum = 1, 0
            f = ln.rstrip("/").split(",")[3:]
            a_sum = sum(int(f[i + 1] or 0) for i in range(0, len(f) - 1, 4) if f[i])
        elif code in ("16", "88"):
            acct += 1
            if code == "16":
                a_sum += int(ln.split(",")[2])
        elif code == "49":
            acct += 1
            ln = f"49,{a_sum},{acct}/"
            g_sum, g_n = g_sum + a_sum, g_n + 1
        elif code == "02":
            grp, g_sum, g_n = 1, 0, 0
        elif code == "98":
            ln = f"98,{g_sum},{g_n},{grp}/"
            f_sum, f_n = f_sum + g_sum, f_n + 1
        elif code == "99":
            ln = f"99,{f_sum},{f_n},{fil}/"
        out.append(ln)
    return "\n".join(out) + "\n"


def test_moov_sample5_with_its_trailers_recomputed_reads_the_counterparty_tags(tmp_path):
    p = _file(tmp_path, _retotal((FIX / "moov_sample5-issue113.bai2").read_text()))
    sts, ens, bads = _kinds(_read(p))
    assert not bads and len(ens) == 20
    first = ens[0]                                 # 447 "ACH Credit Payment": a debit of the holder
    assert (first.amount, first.direction, first.channel) == ("600.00", DEBIT, "ach")
    assert (first.bank_reference, first.customer_reference) == ("SPB2322984714570", "1111")
    assert (first.end_to_end_id, first.counterparty_account, first.counterparty_name) == (
        "1111", "ACHCONTROLOUTUSD01", None)
    assert first.remittance == ("ACH Credit Payment,Entry Description: EXP; -, SEC: CCD, Client Ref ID: 1111, "
                                "GS ID: SPB2322984714570 DBNM: TEST INC")    # the holder's own tag stays
    wire_in = next(e for e in ens if e.tx_code == "195" and e.bank_reference == "GI2229300000187")
    assert (wire_in.direction, wire_in.channel, wire_in.amount) == (CREDIT, "wire", "11.25")
    assert (wire_in.counterparty_account, wire_in.counterparty_bank, wire_in.end_to_end_id) == (
        "8348572423", "CITIUS30XXX", "GS0D9VGMP1IWPLW")
    wire_out = next(e for e in ens if e.tx_code == "495" and e.amount == "505.00")
    assert (wire_out.counterparty_name, wire_out.counterparty_bank) == ("TEST COMPANY", "COBADEFF")
    check_return = next(e for e in ens if e.tx_code == "255")        # "88:EREF: ..." (a colon)
    assert check_return.end_to_end_id == "07370568132" and check_return.channel == "check"
    slashes = next(e for e in ens if e.tx_code == "165")
    assert slashes.customer_reference == "AB/GS/DDFILEAB0001/DDBAB0001"
    assert slashes.end_to_end_id == "AB/GS/DDFILEAB0001/DDBAB0001"
    invoice = next(e for e in ens if e.amount == "300000.00")
    assert "08/18/23 Invoice - Sample" in invoice.remittance
    fee = next(e for e in ens if e.tx_code == "698")
    interest = next(e for e in ens if e.tx_code == "354")
    assert (fee.channel, fee.amount, fee.direction) == ("fee", "4634.62", DEBIT)
    assert (interest.channel, interest.amount, interest.direction) == ("interest", "17.64", CREDIT)
    assert interest.remittance == ("Interest,Interest For Account: XXXXXXXX-3074, Period: Jul 1, 2023 to "
                                   "Jul 31, 2023")
    assert sts[1].extra["type 060"] == "68658.98"


# ----------------------------------------------------------------------------------------------
# the file built here

def test_valid_file_values(tmp_path):
    records = _read(_file(tmp_path, VALID))
    sts, ens, bads = _kinds(records)
    assert not bads
    assert [(s.account, s.currency, s.period_to) for s in sts] == [
        ("111222333", "USD", "240304"), ("444555", "USD", "240304"), ("777", "JPY", "240305")]
    assert sts[1].closing_booked == Balance("25.00", "240304", True, "%y%m%d")
    assert sts[2].opening_booked.amount == "1000"                  # JPY: no decimals
    wire, check, fee, ach = ens
    assert (wire.amount, wire.channel, wire.counterparty_name, wire.counterparty_account,
            wire.counterparty_bank, wire.end_to_end_id, wire.remittance) == (
        "500.00", "wire", "ACME CORP", "987654321", "026009593", "E2E-1", "Incoming wire ACME CORP")
    assert (check.amount, check.direction, check.channel, check.bank_reference, check.remittance) == (
        "300.00", DEBIT, "check", "000123", "CHECK 123")
    assert (fee.amount, fee.channel, fee.position) == ("25.00", "fee", "line 12")
    assert (ach.amount, ach.channel, ach.remittance, ach.position) == ("500", "ach", "PAYROLL BATCH 7", "lines 17-18")
    assert [type(r).__name__[0] for r in records] == list("SEESESE")


def test_crlf_bom_blank_lines_and_missing_slashes_read_the_same(tmp_path):
    plain = _read(_file(tmp_path, VALID))
    sloppy = "\ufeff" + "\n\n".join(ln.rstrip("/") for ln in VALID.splitlines()) + "\n\n"
    other = _read(_file(tmp_path, sloppy, "sloppy.bai2", newline="\r\n"))
    strip = [(type(r).__name__, {k: v for k, v in vars(r).items() if k not in ("position", "raw")}) for r in plain]
    assert strip == [(type(r).__name__, {k: v for k, v in vars(r).items() if k not in ("position", "raw")})
                     for r in other]
    assert other[1].position == "lines 7-15"


def test_cr_only_line_ends(tmp_path):
    records = _read(_file(tmp_path, VALID, newline="\r"))
    assert [r.position for r in records][:3] == ["line 3", "lines 4-8", "line 9"]
    assert len(_kinds(records)[1]) == 4 and not _kinds(records)[2]


def test_two_files_concatenated(tmp_path):
    sts, ens, bads = _kinds(_read(_file(tmp_path, VALID + VALID)))
    assert (len(sts), len(ens), bads) == (6, 8, [])
    assert sts[3].position == "line 24"


def test_group_header_before_the_previous_group_trailer(tmp_path):
    text = VALID.replace("98,719000,2,13/\n", "")
    sts, ens, bads = _kinds(_read(_file(tmp_path, text)))
    assert [(b.counts_entries, b.position) for b in bads[:2]] == [(2, "lines 3-10"), (1, "lines 11-13")]
    assert bads[0].reason == ("group (from line 2): the group has no group trailer (98): the next group header "
                              "(02) at line 14 begins before its group trailer (98)")
    assert [e.amount for e in ens] == ["500"]
    assert bads[2].counts_entries == 0 and bads[2].reason.startswith("file trailer")


def test_too_many_failures_refuse_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bai2, "MAX_FAILED", 1)
    text = VALID.replace("49,0,3/", "49,1,3/").replace("49,1500,4/", "49,1,4/")
    with pytest.raises(InputError, match="more than 1 accounts or groups whose trailers do not add up"):
        _read(_file(tmp_path, text))


def test_leading_zeros_do_not_count_as_digits(tmp_path):
    text = VALID.replace("16,698,2500,", "16,698,0000000000000000000002500,")
    ens = _kinds(_read(_file(tmp_path, text)))[1]
    assert ens[2].amount == "25.00"


def test_records_packed_on_one_line_in_80_column_blocks(tmp_path):
    """A file with no line ends: every record padded to 80 columns, one after the other."""
    blocks = []
    for ln in VALID.splitlines():
        if not ln.endswith("/"):
            ln += "/"      # a packed file needs its slashes: only they end records
        blocks.append(ln.ljust(80))
    assert bai2.sniff("".join(blocks).encode()[:8192])
    packed = _read(_file(tmp_path, "".join(blocks)))
    assert all(r.position == "line 1" for r in packed)
    sts, ens, bads = _kinds(packed)
    assert not bads and len(sts) == 3
    assert [(e.amount, e.remittance) for e in ens] == [
        ("500.00", "Incoming wire ACME CORP"), ("300.00", "CHECK 123"), ("25.00", "MONTHLY FEE"),
        ("500", "PAYROLL BATCH 7")]


def test_slash_inside_text_does_not_split_the_record(tmp_path):
    text = VALID.replace("CHECK 123/", "PAID 08/16/23 REF AB/16/CD/ 49,X/")
    ens = _kinds(_read(_file(tmp_path, text)))[1]
    assert ens[1].remittance == "PAID 08/16/23 REF AB/16/CD/ 49,X"


# ----------------------------------------------------------------------------------------------
# control totals, structure

def test_account_whose_control_total_is_wrong_is_one_bad_the_rest_is_kept(tmp_path):
    records = _read(_file(tmp_path, VALID.replace("49,719000,8/", "49,719100,8/")
                          .replace("98,719000,2,13/", "98,719100,2,13/").replace("99,720500", "99,720600")))
    sts, ens, bads = _kinds(records)
    assert len(sts) == 3
    (bad,) = bads
    assert bad.reason == "account trailer control total 719100 differs from the sum 719000 of its records"
    assert (bad.counts_entries, bad.position) == (2, "lines 3-10")
    assert bad.raw.startswith("03,111 222 333,USD,") and bad.raw.endswith("\n…\n49,719100,8/")
    assert records.index(bad) == 1                  # after its Statement (its entries are not yielded)
    assert [e.amount for e in ens] == ["25.00", "500"]              # the other accounts kept


def test_account_whose_record_count_is_wrong(tmp_path):
    bads = _kinds(_read(_file(tmp_path, VALID.replace("49,0,3/", "49,0,4/"))))[2]
    assert [(b.reason, b.counts_entries) for b in bads] == [
        ("account trailer record count 4 differs from the 3 records it closes", 1)]


def test_group_whose_trailer_is_wrong_quarantines_each_of_its_accounts(tmp_path):
    records = _read(_file(tmp_path, VALID.replace("98,719000,2,13/", "98,719000,2,14/")))
    sts, ens, bads = _kinds(records)
    assert [(b.counts_entries, b.position) for b in bads] == [(2, "lines 3-10"), (1, "lines 11-13")]
    assert bads[0].reason == ("group (lines 2-14): group trailer record count 14 differs from the 13 records "
                              "it closes")
    assert [e.amount for e in ens] == ["500"]                       # the second group is kept


def test_truncated_file_keeps_complete_groups_and_quarantines_the_cut_one(tmp_path):
    lines = VALID.splitlines()
    cut = "\n".join(lines[:17]) + "\n"                               # inside group 2's account
    records = _read(_file(tmp_path, cut))
    sts, ens, bads = _kinds(records)
    assert len(sts) == 3 and len(ens) == 3
    assert (bads[0].counts_entries, bads[0].position) == (1, "lines 16-17")
    assert bads[0].reason == ("the account has no account trailer (49); group (from line 15): the group has "
                              "no group trailer (98): the file ends at line 17 (truncated)")
    assert (bads[1].counts_entries, bads[1].reason) == (
        0, "the file ends at line 17 without its file trailer (99): it is truncated")


def test_truncated_before_any_account_is_an_input_error(tmp_path):
    p = _file(tmp_path, "\n".join(VALID.splitlines()[:2]))
    with pytest.raises(InputError, match=r"f\.bai2: BAI2 file has no account record \(03\).*truncated"):
        _read(p)


@pytest.mark.parametrize("text,message", [
    ("", "the file is empty"),
    ("\n\n   \n", "the file is empty"),
    ("date,amount\n2024-01-01,5\n", "not a BAI2 file"),
    (":20:STMT\n:25:12345\n:61:2401010101D10,00NTRFNONREF\n", "not a BAI2 file"),
    ("88,orphan\n01,A,B,240101,0000,1,,,2/\n", "not a BAI2 file"),
])
def test_unusable_files_raise_one_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message) as info:
        _read(_file(tmp_path, text))
    assert "\n" not in str(info.value) and str(info.value).startswith(str(tmp_path))


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the file"):
        _read(tmp_path / "absent.bai2")


def test_deletion_and_test_groups_are_quarantined(tmp_path):
    text = VALID.replace("02,CUST01,021000021,1,240305", "02,CUST01,021000021,4,240305")
    bads = _kinds(_read(_file(tmp_path, text)))[2]
    assert [(b.counts_entries, b.reason) for b in bads] == [
        (1, "group (lines 15-20): group status 4 (test only): not real data")]


PROBLEMS = ("16,195,,0,NOAMOUNT,,missing amount\n"
            "16,19,100,0,BADCODE,,two-digit code\n"
            "16,920,100,0,CUSTOM,,bank-defined code\n"
            "16,921,+100,0,CUSTOMPLUS,,signed\n"
            "16,960,-100,0,CUSTOMMINUS,,signed\n"
            "16,890,0,0,INFO,,non-monetary\n"
            "16,010,100,0,STATUS,,balance code\n"
            "16,195,-100,0,NEGATIVE,,negative credit\n"
            "16,165,100,D,x,0,1,,,bad distribution/\n"
            "XX,this is not a record\n"
            "16,195,100,0,GOOD,,fine\n")


def _one_account(body: str, total: int) -> str:
    n = sum(1 for ln in body.splitlines() if ln[:3] in ("16,", "88,"))
    return (f"01,S,R,240101,0000,1,,,2/\n02,R,S,1,240101,,USD,2/\n03,1,USD/\n{body}"
            f"49,{total},{n + 2}/\n98,{total},1,{n + 4}/\n99,{total},1,{n + 6}/\n")


def test_record_problems_are_one_bad_each_and_the_account_is_kept(tmp_path):
    records = _read(_file(tmp_path, _one_account(PROBLEMS, 800)))   # unsigned sum of the amounts
    sts, ens, bads = _kinds(records)
    why = {b.raw.split(",")[4] if b.raw.startswith("16,") else b.raw: (b.column, b.reason) for b in bads}
    assert why["NOAMOUNT"] == ("amount", "transaction detail (16) has no amount")
    assert why["BADCODE"] == ("type code", "type code '19' is not three digits")
    assert why["CUSTOM"][0] == "type code" and "bank defines for itself (900-999)" in why["CUSTOM"][1]
    assert why["INFO"][1] == "type code 890 carries non-monetary information, not a transaction"
    assert why["STATUS"][1] == "type code 010 is a balance or status code, not a transaction"
    assert why["NEGATIVE"][1] == "amount '-100' is negative but type code 195 is a credit: the direction is ambiguous"
    assert why["x"] == ("funds type", "funds type D has no usable distribution count")
    assert why["XX,this is not a record"] == (None, "not a BAI2 record: the line does not start with a record code")
    assert len(bads) == 8 and all(b.counts_entries == 1 for b in bads)
    assert [b.position for b in bads][:2] == ["line 4", "line 5"]
    assert [(e.bank_reference, e.direction, e.amount) for e in ens] == [
        ("CUSTOMPLUS", CREDIT, "1.00"), ("CUSTOMMINUS", DEBIT, "1.00"), ("GOOD", CREDIT, "1.00")]


def test_signed_amounts_summed_algebraically_by_the_bank_are_accepted(tmp_path):
    bads = _kinds(_read(_file(tmp_path, _one_account(PROBLEMS, 400))))[2]   # the two -100 subtracted
    assert len(bads) == 8


def test_an_amount_that_is_not_a_number_makes_the_account_uncheckable(tmp_path):
    body = PROBLEMS.replace("16,195,,0,NOAMOUNT", "16,195,12x4,0,BADAMT")
    records = _read(_file(tmp_path, _one_account(body, 800)))
    sts, ens, bads = _kinds(records)
    assert not ens
    assert [(b.counts_entries, b.reason) for b in bads] == [
        (1, "not a BAI2 record: the line does not start with a record code"),
        (10, "account trailer control total cannot be checked: an amount in it is not a number")]
    assert bads[1].position == "lines 3-15"


def test_detail_outside_an_account_and_orphan_continuation(tmp_path):
    text = VALID.replace("49,0,3/\n", "49,0,3/\n16,195,100,0,STRAY,,after the trailer\n")
    text = text.replace("98,719000,2,13/", "98,719000,2,14/").replace("99,720500,2,21/", "99,720500,2,22/")
    records = _read(_file(tmp_path, text))
    bads = _kinds(records)[2]
    assert [(b.reason, b.counts_entries) for b in bads] == [
        ("transaction detail (16) outside an account: it follows the account trailer at line 13", 1)]


def test_detail_before_any_account(tmp_path):
    text = VALID.replace("02,CUST01,021000021,1,240305,,JPY,2/\n", "02,CUST01,021000021,1,240305,,JPY,2/\n"
                         "16,195,100,0,EARLY,,before the account\n")
    text = text.replace("98,1500,1,6/", "98,1500,1,7/").replace("99,720500,2,21/", "99,720500,2,22/")
    bads = _kinds(_read(_file(tmp_path, text)))[2]
    assert [(b.position, b.reason) for b in bads] == [
        ("line 16", "transaction detail (16) outside an account: no account identifier record (03) is open")]


def test_endless_continuations_are_capped(tmp_path):
    text = VALID.replace("88,PAYROLL BATCH 7\n", "88,PAYROLL BATCH 7\n" + "88,more text\n" * 20_000)
    text = text.replace("49,1500,4/", "49,1500,20004/").replace("98,1500,1,6/", "98,1500,1,20006/")
    text = text.replace("99,720500,2,21/", "99,720500,2,20021/")
    ens, bads = _kinds(_read(_file(tmp_path, text)))[1:]
    (bad,) = bads
    assert bad.position == "lines 17-20018" and bad.reason.startswith("record is longer than 100000 characters")
    assert len(bad.raw) < 2100 and len(ens) == 3


def test_bad_dates_pass_through_as_text_for_the_loader_to_reject(tmp_path):
    text = VALID.replace("02,CUST01,021000021,1,240304", "02,CUST01,021000021,1,241399")
    sts, ens, bads = _kinds(_read(_file(tmp_path, text)))
    assert not bads and ens[0].booking_date == "241399" and ens[0].date_format == "%y%m%d"
    with pytest.raises(ValueError):
        datetime.strptime(ens[0].booking_date, ens[0].date_format)


def test_unknown_currency_quarantines_the_account(tmp_path):
    bads = _kinds(_read(_file(tmp_path, VALID.replace("03,777,,", "03,777,X1,"))))[2]
    assert [(b.counts_entries, b.reason) for b in bads] == [
        (1, "currency 'X1' is not an ISO 4217 code, so the amounts' decimals are unknown")]


def test_account_without_a_number_is_kept_as_a_statement_and_its_entries_quarantined(tmp_path):
    records = _read(_file(tmp_path, VALID.replace("03,777,,", "03,,,")))
    sts, ens, bads = _kinds(records)
    assert sts[2].account is None and sts[2].opening_booked.amount == "1000"   # the group's JPY
    assert [(b.counts_entries, b.reason) for b in bads] == [
        (1, "the account identifier record (03) has no account number")]


def _huge_field_file(tmp_path: Path, size: int, newline: bool) -> Path:
    p = tmp_path / "huge.bai2"
    with open(p, "wb") as fh:
        fh.write(b"01,S,R,240101,0000,1,,,2/\n02,R,S,1,240101,,USD,2/\n03,1,USD/\n16,195,100,0,BIG,,")
        block = b"A" * (1 << 20)
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(b"\n" if newline else b"/")
        fh.write(b"16,195,200,0,SMALL,,after\n49,300,4/\n98,300,1,6/\n99,300,1,8/\n")
    return p


@pytest.mark.parametrize("newline", [True, False])
def test_a_50_mb_field_is_one_bad_in_bounded_memory_and_time(tmp_path, newline):
    p = _huge_field_file(tmp_path, 50 << 20, newline)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        records = _read(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 10
    assert peak < 12 << 20, peak
    sts, ens, bads = _kinds(records)
    (bad,) = bads
    assert bad.reason.startswith(f"record is longer than {bai2.MAX_RECORD} characters")
    assert bad.position == "line 4" and len(bad.raw) < 2100
    assert [(e.bank_reference, e.amount) for e in ens] == [("SMALL", "2.00")]


def test_reading_memory_does_not_grow_with_the_file(tmp_path):
    def peak_for(n: int) -> int:
        p = tmp_path / f"n{n}.bai2"
        with open(p, "w", encoding="utf-8") as fh:
            bai2.write(_many(n), fh)
        tracemalloc.start()
        try:
            count = sum(1 for r in bai2.read(p) if isinstance(r, Entry))
            return count, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    (n1, small), (n2, large) = peak_for(300), peak_for(2_400)
    assert (n1, n2) == (300, 2_400)
    assert large < small * 1.5 + 200_000, (small, large)


def _many(n: int):
    yield Statement("x", "bai2", "ACC1", "USD", bank_id="021000021", opening_booked=Balance("10.00"))
    for i in range(n):
        yield Entry("x", f"{i % 500 + 1}.25", CREDIT if i % 2 else DEBIT, date(2024, 1, 1 + i % 28).isoformat(),
                    counterparty_name=f"Party {i}", remittance=f"payment {i}")


# ----------------------------------------------------------------------------------------------
# type codes

@pytest.mark.parametrize("code,direction,channel", [
    ("195", CREDIT, "wire"), ("495", DEBIT, "wire"), ("208", CREDIT, "wire"), ("508", DEBIT, "wire"),
    ("165", CREDIT, "ach"), ("166", CREDIT, "ach"), ("169", CREDIT, "ach"), ("451", DEBIT, "ach"),
    ("455", DEBIT, "ach"), ("469", DEBIT, "ach"), ("175", CREDIT, "check"), ("475", DEBIT, "check"),
    ("115", CREDIT, "check"), ("116", CREDIT, "check"), ("398", CREDIT, "fee"), ("698", DEBIT, "fee"),
    ("354", CREDIT, "interest"), ("654", DEBIT, "interest"), ("366", CREDIT, "cash"), ("595", DEBIT, "cash"),
    ("575", DEBIT, "transfer"), ("275", CREDIT, "transfer"), ("147", CREDIT, "card"), ("373", CREDIT, "payroll"),
    ("301", CREDIT, None), ("699", DEBIT, None), ("721", CREDIT, "interest"), ("760", DEBIT, None),
    ("010", None, None), ("890", None, None), ("920", None, None), ("999", None, None), ("701", None, None),
])
def test_type_code_table(code, direction, channel):
    assert bai2.direction_of(code) == direction
    assert bai2.CHANNEL_BY_CODE.get(code) == channel


# ----------------------------------------------------------------------------------------------
# write, and the round trip

def _write(records) -> str:
    buf = io.StringIO()
    bai2.write(records, buf)
    return buf.getvalue()


def test_write_makes_trailers_that_add_up():
    text = _write([
        Statement("x", "bai2", "ACC 1", "USD", bank_id="021000021", statement_id="S/1", created="2024-03-05",
                  opening_booked=Balance("100.00", "2024-03-01"), closing_booked=Balance("130.50", "2024-03-02")),
        Entry("x", "50.00", CREDIT, "2024-03-01", channel="wire", counterparty_name="ACME, INC.",
              counterparty_bank="026009593", end_to_end_id="E1", remittance="inv 1"),
        Entry("x", "19.50", DEBIT, "2024-03-02", tx_code="475", bank_reference="CHK 7"),
    ])
    assert text.splitlines() == [
        "01,021000021,CUSTOMER,240305,0000,S-1,,,2/",
        "02,,021000021,1,240301,,USD,/",
        "03,ACC 1,USD,010,10000,,,015,15000,,,100,5000,1,,400,0,0,/",
        "16,195,5000,0,,,inv 1",
        "88,EREF: E1",
        "88,DBNM: ACME, INC.",
        "88,DABA: 026009593",
        "49,35000,6/",
        "98,35000,1,8/",
        "02,,021000021,1,240302,,USD,/",
        "03,ACC 1,USD,010,15000,,,015,13050,,,100,0,0,,400,1950,1,/",
        "16,475,1950,0,CHK 7,,/",
        "49,31950,3/",
        "98,31950,1,5/",
        "99,66950,2,15/",
    ]


def test_write_refuses_what_bai2_cannot_say():
    st_ = Statement("x", "bai2", "A", "USD", period_to="2024-01-01")
    with pytest.raises(ValueError, match="before any Statement"):
        _write([Entry("x", "1.00", CREDIT, "2024-01-01")])
    with pytest.raises(ValueError, match="one currency per account"):
        _write([st_, Entry("x", "1.00", CREDIT, "2024-01-01", currency="EUR")])
    with pytest.raises(ValueError, match="more decimals"):
        _write([st_, Entry("x", "1.001", CREDIT, "2024-01-01")])
    with pytest.raises(ValueError, match="no direction"):
        _write([st_, Entry("x", "1.00", None, "2024-01-01")])
    with pytest.raises(ValueError, match="needs at least one statement"):
        _write([])
    with pytest.raises(ValueError, match="account number"):
        _write([Statement("x", "bai2", None, "USD", period_to="2024-01-01")])


def test_round_trip_of_text_ending_with_a_slash_and_a_statement_without_entries(tmp_path):
    p = tmp_path / "rt.bai2"
    p.write_text(_write([
        Statement("x", "bai2", "A", "EUR", period_to="2024-02-29", closing_booked=Balance("1.50", negative=True)),
        Statement("x", "bai2", "B", "USD", date_format="%d.%m.%Y"),
        Entry("x", "7", CREDIT, "01.02.2024", remittance="REF 12/", counterparty_name="X/", date_format="%d.%m.%Y"),
    ]))
    sts, ens, bads = _kinds(_read(p))
    assert not bads
    assert (sts[0].account, sts[0].period_to, _signed(sts[0].closing_booked)) == ("A", "240229", Decimal("-1.50"))
    (e,) = ens
    assert (e.amount, e.remittance, e.counterparty_name, e.booking_date) == ("7.00", "REF 12/", "X/", "240201")


SAFE = st.text(alphabet=string.ascii_letters + string.digits + "-._", min_size=1, max_size=12)
WORDS = st.text(alphabet=string.ascii_letters + string.digits + " .,-:;&#'()éü€", min_size=1, max_size=40) \
    .map(str.strip).filter(bool)
CURRENCIES = {"USD": 2, "JPY": 0, "BHD": 3}
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))


@st.composite
def _entry(draw, currency: str, days: list[date]):
    direction = draw(st.sampled_from([CREDIT, DEBIT]))
    valid_codes = sorted(c for c in bai2.CHANNEL_BY_CODE if bai2.direction_of(c) == direction)
    exp = CURRENCIES[currency]
    minor = draw(st.integers(min_value=0, max_value=10 ** 13))
    amount = str(Decimal(minor).scaleb(-exp))
    return Entry(
        "x", amount, direction, draw(st.sampled_from(days)).isoformat(),
        value_date=draw(st.none() | DAYS.map(date.isoformat)),
        counterparty_name=draw(st.none() | WORDS), counterparty_account=draw(st.none() | SAFE),
        counterparty_bank=draw(st.none() | SAFE | st.from_regex(r"[0-9]{9}", fullmatch=True)),
        end_to_end_id=draw(st.none() | SAFE), bank_reference=draw(st.none() | SAFE),
        customer_reference=draw(st.none() | SAFE), remittance=draw(st.none() | WORDS),
        tx_code=draw(st.none() | st.sampled_from(valid_codes) | st.just("PMNT-RCDT-ESCT")),
        channel=draw(st.none() | st.sampled_from(["cash", "ach", "wire", "card", "check", "transfer", "payroll",
                                                   "fee", "interest", "other"])))


@st.composite
def _statements(draw):
    out = []
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        currency = draw(st.sampled_from(sorted(CURRENCIES)))
        exp = CURRENCIES[currency]
        days = sorted(draw(st.lists(DAYS, min_size=1, max_size=3, unique=True)))

        def balance(day: date):
            v = draw(st.none() | st.integers(min_value=-10 ** 12, max_value=10 ** 12))
            return None if v is None else Balance(str(Decimal(abs(v)).scaleb(-exp)), day.isoformat(), v < 0)

        s = Statement("x", "bai2", f"ACC{i}", currency, bank_id=draw(st.none() | SAFE), period_to=days[-1].isoformat(),
                      opening_booked=balance(days[0]), closing_booked=balance(days[-1]),
                      opening_available=balance(days[0]), closing_available=balance(days[-1]))
        entries = draw(st.lists(_entry(currency, days), max_size=8))
        out.append((s, entries))
    return out


@settings(max_examples=60, deadline=None)
@given(_statements())
def test_round_trip(statements):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rt.bai2"
        with open(p, "w", encoding="utf-8") as fh:
            bai2.write((r for s, es in statements for r in (s, *es)), fh)
        records = _read(p)
    assert not [r for r in records if isinstance(r, Bad)]
    got_entries = [r for r in records if isinstance(r, Entry)]
    want_entries = [e for _, es in statements for e in es]
    assert len(got_entries) == len(want_entries)
    for got, want in zip(got_entries, want_entries):
        code = want.tx_code if want.tx_code in bai2.CHANNEL_BY_CODE else None
        if code is None:
            code = bai2._DEFAULT_CODE[want.direction].get(want.channel or "", bai2._MISC_CODE[want.direction])
        assert Decimal(got.amount) == Decimal(want.amount)
        assert (got.direction, got.tx_code, got.channel) == (want.direction, code, bai2.CHANNEL_BY_CODE.get(code))
        assert datetime.strptime(got.booking_date, got.date_format).date() == date.fromisoformat(want.booking_date)
        if want.value_date:
            assert datetime.strptime(got.value_date, got.date_format).date() == date.fromisoformat(want.value_date)
        else:
            assert got.value_date is None
        for name in ("counterparty_name", "counterparty_account", "counterparty_bank", "end_to_end_id",
                     "bank_reference", "customer_reference", "remittance"):
            assert getattr(got, name) == getattr(want, name), name
    got_statements = [r for r in records if isinstance(r, Statement)]
    for s, es in statements:
        mine = [g for g in got_statements if g.account == s.account]
        assert mine and all(g.currency == s.currency and g.bank_id == s.bank_id for g in mine)
        assert _signed(mine[0].opening_booked) == _signed(s.opening_booked)
        assert _signed(mine[0].opening_available) == _signed(s.opening_available)
        assert _signed(mine[-1].closing_available) == _signed(s.closing_available)
        if s.closing_booked is not None:
            assert _signed(mine[-1].closing_booked) == _signed(s.closing_booked)
        elif s.opening_booked is not None:
            net = sum((Decimal(e.amount) if e.direction == CREDIT else -Decimal(e.amount)) for e in es)
            assert _signed(mine[-1].closing_booked) == _signed(s.opening_booked) + net
        runs = sum(1 for i, e in enumerate(es) if i == 0 or e.booking_date != es[i - 1].booking_date)
        assert len(mine) == max(1, runs)
