"""SSA EFW2 W-2 files (``--format efw2``, moneytrail/ingest/efw2.py): the RW records stored as W-2
rows under their employer, every data row stored or quarantined at its line, RT totals checked,
SSNs never in clear."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest import efw2, ingest_file, sniff_format
from moneytrail.workspace import TX_ID_STRIDE, Workspace

FIXTURES = Path(__file__).parent / "fixtures"

ROWS = [
    dict(employer_ein="12-3456789", employer_name="Acme Farms LLC", tax_year=2023, worker_ssn="401-23-7788",
         wages="35000.12", withholding="2100.00", ss_wages="35000.12", medicare_wages="35500.12", state="TX",
         first_name="Ana", last_name="Lopez"),
    dict(employer_ein="12-3456789", employer_name="Acme Farms LLC", tax_year=2023, worker_ssn="402-34-8899",
         wages="100", withholding="0", ss_wages="100", medicare_wages="100"),
    dict(employer_ein="98-7654321", employer_name="Harvest Labor Services", tax_year=2023,
         worker_ssn="403-45-9900", wages="5.07", withholding="0.50", ss_wages="5.07", medicare_wages="5.07",
         state="CA"),
]
SSNS = ("401237788", "402348899", "403459900")


def record(fields: dict[tuple[int, int], str]) -> str:
    """A 512-character record with ``fields`` at their 1-based inclusive positions, blanks elsewhere."""
    buf = [" "] * 512
    for (a, b), v in fields.items():
        assert len(v) == b - a + 1, (a, b, v)
        buf[a - 1:b] = v
    return "".join(buf)


def lines_of(data: bytes) -> list[str]:
    return data.decode("ascii").split("\r\n")[:-1]


def write_lines(path: Path, lines: list[str], end: str = "\r\n") -> Path:
    path.write_bytes("".join(x + end for x in lines).encode("latin-1"))
    return path


def conserved(ws, sid: int) -> dict[int, tuple[str | None, str, str, str]]:
    """read = stored + quarantined; every data row once, at its line; record id = sid * 10^10 + line.
    Returns the quarantine by line: (column, reason, raw, position)."""
    read, stored, bad = ws.query("SELECT rows_read, rows_stored, rows_quarantined FROM sources WHERE source_id = ?",
                                 [sid])[0]
    assert read == stored + bad
    assert ws.scalar("SELECT count(*) FROM wage_reports WHERE source_id = ?", [sid]) == stored
    assert ws.scalar("SELECT count(*) FROM quarantine WHERE source_id = ?", [sid]) == bad
    rows = [r for (r,) in ws.query("SELECT source_row FROM wage_reports WHERE source_id = ? UNION ALL "
                                   "SELECT source_row FROM quarantine WHERE source_id = ?", [sid, sid])]
    assert len(rows) == len(set(rows)) == read
    assert ws.scalar("SELECT count(*) FROM wage_reports WHERE source_id = ? AND record_id <> source_id * ? "
                     "+ source_row", [sid, TX_ID_STRIDE]) == 0
    q = {r: (c, why, raw, pos) for r, c, why, raw, pos in ws.query(
        "SELECT source_row, column_name, reason, raw, source_position FROM quarantine WHERE source_id = ?", [sid])}
    assert all(pos == f"line {r}" for r, (_, _, _, pos) in q.items())
    return q


# -- the layout ----------------------------------------------------------------------------------

HAND = [
    record({(1, 2): "RA", (3, 11): "111111111"}),
    record({(1, 2): "RE", (3, 6): "2023", (8, 16): "123456789", (40, 96): "Acme Farms LLC".ljust(57)}),
    record({(1, 2): "RW", (3, 11): "401237788", (188, 198): "00003500012", (199, 209): "00000210000",
            (210, 220): "00003500012", (232, 242): "00003550012"}),
    record({(1, 2): "RS", (3, 4): "48", (10, 18): "401237788"}),
    record({(1, 2): "RT", (3, 9): "0000001", (10, 24): "000000003500012", (25, 39): "000000000210000",
            (40, 54): "000000003500012", (70, 84): "000000003550012"}),
    record({(1, 2): "RF", (8, 16): "000000001"}),
]
VERIFIED = {"RA": [(1, 2), (3, 11)], "RE": [(1, 2), (3, 6), (8, 16), (40, 96)],
            "RW": [(1, 2), (3, 11), (188, 198), (199, 209), (210, 220), (232, 242)],
            "RS": [(1, 2), (3, 4), (10, 18)],
            "RT": [(1, 2), (3, 9), (10, 24), (25, 39), (40, 54), (70, 84)], "RF": [(1, 2), (8, 16)]}


def test_a_hand_written_record_is_read_at_the_verified_positions(tmp_path):
    rows = list(efw2.read(write_lines(tmp_path / "hand.txt", HAND)))
    assert [(r.line, r.fields, r.problem, r.employer_line) for r in rows] == [
        (3, ["123456789", "Acme Farms LLC", "2023", "401237788", "35000.12", "2100.00", "35000.12", "35500.12",
             "TX"], None, 2)]


def test_the_writer_puts_each_field_where_the_hand_written_record_has_it():
    written = lines_of(efw2.write([ROWS[0]], submitter_ein="111111111"))
    assert [len(x) for x in written] == [512] * 6 and [x[:2] for x in written] == ["RA", "RE", "RW", "RS", "RT", "RF"]
    for mine, hand in zip(written, HAND):
        for a, b in VERIFIED[hand[:2]]:
            assert mine[a - 1:b] == hand[a - 1:b], (hand[:2], a, b)
    rw, rt = written[2], written[4]
    # the numeric fields it fills without data are zero-filled, the indicators 0, names where SSA has them
    assert rw[220:231] == "0" * 11 and rw[242:253] == "0" * 11 and rw[275:341] == "0" * 66
    assert (rw[485], rw[487], rw[488]) == ("0", "0", "0")
    assert rw[11:26].rstrip() == "Ana" and rw[41:61].rstrip() == "Lopez"
    assert rt[54:69] == "0" * 15 and rt[84:99] == "0" * 15


def test_sniffing_tells_efw2_from_other_files(tmp_path):
    data = efw2.write(ROWS)
    assert efw2.sniff(data[:8192]) and efw2.sniff(data.replace(b"\r\n", b"")[:8192])
    assert not efw2.sniff(b"RA,1,2,3\n") and not efw2.sniff(b"employer_ein,worker_ssn\n1,2\n")
    assert not efw2.sniff(b"RCA" + b" " * 1021 + b"\r\n")          # EFW2C corrections are 1024 bytes
    p = tmp_path / "w2.txt"
    p.write_bytes(data)
    assert sniff_format(p) == "efw2"
    bai2 = next((FIXTURES / "bai2").glob("*.bai2"))
    assert sniff_format(bai2) != "efw2"
    assert sniff_format(FIXTURES / "efw2" / "sample.txt") == "efw2"


# -- reading back --------------------------------------------------------------------------------

def test_a_generated_file_is_stored_exactly_under_its_employers(ws, tmp_path):
    p = tmp_path / "w2.txt"
    efw2.write(ROWS, p, submitter_ein="111111111")
    r = ingest_file(ws, p, "auto")
    assert (r.format, r.read, r.stored, r.quarantined) == ("efw2", 3, 3, 0)
    assert conserved(ws, r.source_id) == {}
    got = ws.query("SELECT source_row, form, employer_ein, employer_name, tax_year, quarter, period_start, "
                   "period_end, worker_last4, wages, withholding, ss_wages, medicare_wages, state "
                   "FROM wage_reports ORDER BY source_row")
    assert [(x[0], x[1], x[2], x[3], x[4], x[5], str(x[6]), str(x[7]), x[8]) for x in got] == [
        (3, "w2", "123456789", "Acme Farms LLC", 2023, None, "2023-01-01", "2023-12-31", "7788"),
        (5, "w2", "123456789", "Acme Farms LLC", 2023, None, "2023-01-01", "2023-12-31", "8899"),
        (8, "w2", "987654321", "Harvest Labor Services", 2023, None, "2023-01-01", "2023-12-31", "9900")]
    assert [tuple(x[9:]) for x in got] == [
        (Decimal("35000.12"), Decimal("2100.00"), Decimal("35000.12"), Decimal("35500.12"), "TX"),
        (Decimal("100.00"), Decimal("0.00"), Decimal("100.00"), Decimal("100.00"), None),
        (Decimal("5.07"), Decimal("0.50"), Decimal("5.07"), Decimal("5.07"), "CA")]
    lines = lines_of(p.read_bytes())
    assert [lines[n - 1][:2] for n, *_ in got] == ["RW"] * 3           # provenance: the line is the record
    assert ws.scalar("SELECT note FROM sources") == ("EFW2: 1 RA, 2 RE, 3 RW, 2 RS, 2 RT, 1 RF; RT totals "
                                                     "checked: 2 of 2 match; RF count matches")
    again = ingest_file(ws, p, "efw2")
    assert again.skipped and again.source_id == r.source_id
    forced = ingest_file(ws, p, "efw2", force=True)
    assert (forced.source_id, forced.stored) == (r.source_id, 3)
    assert ws.scalar("SELECT count(*) FROM wage_reports") == 3


@pytest.mark.parametrize("layout", ["lf", "no line breaks", "ctrl-z"])
def test_line_ends_and_the_dos_end_of_file_mark(tmp_path, layout):
    data = efw2.write(ROWS)
    data = {"lf": data.replace(b"\r\n", b"\n"), "no line breaks": data.replace(b"\r\n", b""),
            "ctrl-z": data + b"\x1a"}[layout]
    p = tmp_path / "w2.txt"
    p.write_bytes(data)
    scan = efw2.Scan(p)
    rows = list(scan.rows())
    assert [(r.line, r.problem) for r in rows] == [(3, None), (5, None), (8, None)]
    assert scan.checks == {"rt_ok": 2, "rt_failed": 0, "rf_ok": 1, "rf_failed": 0}


def test_an_accented_name_in_utf8_and_an_overlong_line(tmp_path):
    ra, re_, rw, rs, rt, rf = lines_of(efw2.write([ROWS[0]]))
    re_utf8 = re_[:39] + "Peña Farms".ljust(57) + re_[96:]           # 512 characters, 513 bytes
    p = tmp_path / "w2.txt"
    p.write_bytes(b"".join(x + b"\r\n" for x in (ra.encode(), re_utf8.encode("utf-8"), rw.encode(), rs.encode(),
                                                  rt.encode(), b"RW" + b"9" * 5000, rf.encode())))
    rows = list(efw2.read(p))
    assert [(r.line, r.fields[1], r.problem) for r in rows[:1]] == [(3, "Peña Farms", None)]
    assert rows[1].line == 6 and rows[1].problem[1].startswith("line 6 is 5,002 bytes long, not 512")
    assert "9999999999" not in rows[1].raw and len(rows[1].raw) == efw2.LINE_LIMIT


# -- the checks ----------------------------------------------------------------------------------

def test_an_rt_that_does_not_add_up_is_quarantined_with_the_differences(ws, tmp_path):
    lines = lines_of(efw2.write(ROWS))
    rt = lines[5]
    assert rt[:2] == "RT"
    lines[5] = rt[:2] + "0000003" + "000000003510100" + rt[24:]      # 3 workers and 35,101.00 claimed
    p = write_lines(tmp_path / "w2.txt", lines)
    r = ingest_file(ws, p, "efw2")
    q = conserved(ws, r.source_id)
    assert (r.read, r.stored, r.quarantined) == (4, 3, 1)              # the RW records are kept
    col, why, raw, _ = q[6]
    assert col == "record" and raw == lines[5]
    assert why == ("RT (totals) record at line 6 does not match the 2 RW record(s) of the RE (employer) record at "
                   "line 2 (EIN 123456789): number of RW records (positions 3-9): 3 in the RT, 2 in the file; "
                   "wages, tips, other compensation (positions 10-24): 35101.00 in the RT, 35100.12 summed; "
                   "the RW records are kept")
    assert "RT totals checked: 1 of 2 match" in ws.scalar("SELECT note FROM sources")


def test_bad_records_are_quarantined_with_the_record_and_positions(ws, tmp_path):
    good = lines_of(efw2.write(ROWS[:2]))         # RA RE RW RS RW RT RF
    ra, re_, rw1, rs, rw2, rt, rf = good
    bad_money = rw2[:187] + "0000001O000" + rw2[198:]                  # a letter O in box 1
    bad_ssn = "RW" + "12345    " + rw1[11:]
    lines = [
        ra,
        rw1,                                        # 2: before any RE
        re_,                                        # 3
        rw1,                                        # 4: stored
        rs,                                         # 5: its state
        rw1[:300],                                  # 6: too short (masked in the quarantine)
        "XX" + rw1[2:],                             # 7: unknown identifier
        bad_money,                                  # 8: not digits
        bad_ssn,                                    # 9: the loader refuses the SSN
        rt,                                         # 10: 2 RW claimed, 3 counted (4, 8, 9)
        rw1,                                        # 11: after the RT
        rs,                                         # 12: follows an RW (one not read): structure
        re_,                                        # 13: an RE that no RT closes
        rw2,                                        # 14: stored
        rf,                                         # 15: says 2, the file holds 6 RW records
        rw1,                                        # 16: after the RF
    ]
    p = write_lines(tmp_path / "w2.txt", lines)
    r = ingest_file(ws, p, "efw2")
    q = conserved(ws, r.source_id)
    assert sorted(ws.query("SELECT source_row FROM wage_reports")) == [(4,), (14,)]
    assert ws.query("SELECT state FROM wage_reports ORDER BY source_row") == [("TX",), (None,)]
    assert sorted(q) == [2, 6, 7, 8, 9, 10, 11, 13, 15, 16]
    assert (r.read, r.stored, r.quarantined) == (12, 2, 10)
    why = {n: q[n][1] for n in q}
    assert why[2] == "RW record at line 2 comes before any RE (employer) record: no employer to join it to; not read"
    assert why[6] == ("line 6 is 300 bytes long, not 512 as every EFW2 record is (it begins like an RW record); "
                      "not read")
    assert why[7].startswith("'XX' at positions 1-2 of line 7 is not an EFW2 record identifier (RA, RE, RW")
    assert q[8][0] == "positions 188-198" and why[8] == (
        "RW record at line 8: positions 188-198 (wages, tips, other compensation) hold '0000001O000', not 11 "
        "digits (an amount in cents)")
    assert q[9][0] == "worker_ssn" and why[9] == ("worker_ssn is not nine digits (an SSN, ITIN or TIN) (RW record "
                                                  "at line 9, positions 3-11)")
    assert why[10].startswith("RT (totals) record at line 10 does not match the 3 RW record(s) of the RE (employer) "
                              "record at line 3 (EIN 123456789): number of RW records (positions 3-9): 2 in the RT, "
                              "3 in the file; wages, tips, other compensation (positions 10-24): 35100.12 in the RT, "
                              "70000.24 summed; federal income tax withheld (positions 25-39): 2100.00 in the RT, "
                              "4200.00 summed; ")
    assert why[10].endswith("(1 RW record(s) with unreadable amounts are not in the sums; 2 unreadable record(s) in "
                            "the block are not counted); the RW records are kept")
    assert why[11] == ("RW record at line 11 comes after the RT (totals) record at line 10 that closed the employer "
                       "of line 3: no employer to join it to; not read")
    assert why[13] == ("RE (employer) record at line 13 (EIN 123456789): no RT (totals) record closes its 1 RW "
                       "record(s) (lines 14-14) before the RF (final) record at line 15, so their totals could not "
                       "be checked; the RW records are kept")
    assert q[15][0] == "positions 8-16" and why[15] == ("RF (final) record at line 15: positions 8-16 (number of RW "
                                                        "records) says 2 RW records; the file holds 6")
    assert why[16] == "RW record at line 16 comes after the RF (final) record at line 15; not read"
    # the raw text is the record, SSN masked at its positions; an unreadable record has every long digit run masked
    assert q[2][2] == "RW*****7788" + rw1[11:] and q[9][2] == "RW*****    " + rw1[11:]
    assert q[6][2].startswith("RW*****7788") and q[7][2].startswith("XX*****7788")
    note = ws.scalar("SELECT note FROM sources")
    assert note.startswith("EFW2: 1 RA, 2 RE, 7 RW, 2 RS, 1 RT, 1 RF; RT totals checked: 0 of 1 match; RF count does "
                           "not match; 1 record(s) of unknown type")


def test_orphan_rs_and_misplaced_ra_and_an_unclosed_employer_at_the_end(ws, tmp_path):
    ra, re_, rw, rs, rt, rf = lines_of(efw2.write([ROWS[0]]))
    p = write_lines(tmp_path / "w2.txt", [ra, re_, rs, ra, rw, "", "   "])
    r = ingest_file(ws, p, "efw2")
    q = conserved(ws, r.source_id)
    assert (r.read, r.stored) == (4, 1) and sorted(q) == [2, 3, 4]
    assert q[3][1] == "RS record at line 3 follows no RW (employee) record; not read"
    assert q[3][2] == rs[:9] + "*****7788" + rs[18:]                   # the RS's SSN (10-18) masked
    assert q[4][1] == "RA (submitter) record at line 4: the submitter record is the file's first record"
    assert q[2][1].endswith("before the end of the file, so their totals could not be checked; the RW records are kept")
    note = ws.scalar("SELECT note FROM sources")
    assert note.endswith("no RF (final) record: the file may be cut short; the RW count was not checked; "
                         "2 blank line(s) skipped")


def test_files_that_are_not_efw2_or_come_with_a_mapping_are_refused(ws, tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("employer_ein,worker_ssn\n1,2\n")
    with pytest.raises(InputError, match="not an SSA EFW2 file"):
        ingest_file(ws, p, "efw2")
    q = tmp_path / "w2.txt"
    efw2.write(ROWS, q)
    with pytest.raises(MappingError, match="format efw2 needs no mapping"):
        ingest_file(ws, q, "efw2", mapping={"columns": {}})
    with pytest.raises(InputError, match="needs no --mapping"):
        efw2.Efw2Reader().ingest(ws, q, mapping=object(), legal_basis=[], force=False, on_read=None)
    assert ws.scalar("SELECT count(*) FROM sources") == 0


# -- SSNs ----------------------------------------------------------------------------------------

def test_ssns_are_never_stored_in_clear(tmp_path):
    path = tmp_path / "w.duckdb"
    ra, re_, rw1, rs1, rw2, rt, rf = lines_of(efw2.write(ROWS[:2]))
    lines = [ra, rw1, re_, rw1, rs1, rw2[:400], rw2[:187] + "x" * 11 + rw2[198:], "ZZ" + rw1[2:], rw2, rt, rf, rs1]
    p = write_lines(tmp_path / "w2.txt", lines)
    with Workspace.open(path) as ws:
        r = ingest_file(ws, p, "efw2")
        assert r.quarantined >= 5 and r.stored == 2
        raws = " ".join(x for (x,) in ws.query("SELECT raw FROM quarantine"))
        reasons = " ".join(x for (x,) in ws.query("SELECT reason FROM quarantine"))
        ws.con.execute("CHECKPOINT")
    for ssn in SSNS[:2]:
        for form in (ssn, f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"):
            assert form not in raws and form not in reasons
    data = b"".join(f.read_bytes() for f in tmp_path.glob("w.duckdb*") if f.is_file())
    for ssn in SSNS[:2]:
        assert ssn.encode() not in data and ssn[:5].encode() + b"-" not in data
    assert "*****7788" in raws


# -- round trip ----------------------------------------------------------------------------------

_NAME = st.from_regex(r"[A-Z][A-Za-z0-9&.,' -]{0,60}", fullmatch=True)
_CENTS = st.integers(0, 99_999_999_999)
_ROW = st.fixed_dictionaries({
    "worker_ssn": st.integers(1, 999_999_999).map(lambda n: f"{n:09d}"),
    "wages": _CENTS, "withholding": _CENTS, "ss_wages": _CENTS, "medicare_wages": _CENTS,
    "state": st.one_of(st.none(), st.sampled_from(sorted(efw2.STATE_CODES.values()))),
})
_EMPLOYER = st.tuples(st.integers(0, 999_999_999).map(lambda n: f"{n:09d}"), _NAME, st.integers(1990, 2099),
                      st.lists(_ROW, min_size=0, max_size=6))


@settings(max_examples=80, deadline=None)
@given(st.lists(_EMPLOYER, min_size=1, max_size=4, unique_by=lambda e: (e[0], e[1].strip(), e[2])),
       st.sampled_from([b"\r\n", b"\n", b""]))
def test_write_then_read_is_the_identity(tmp_path_factory, employers, newline):
    rows = [{**r, "employer_ein": ein, "employer_name": name, "tax_year": year,
             **{k: Decimal(r[k]) / 100 for k in ("wages", "withholding", "ss_wages", "medicare_wages")}}
            for ein, name, year, members in employers for r in members]
    p = tmp_path_factory.mktemp("rt") / "w2.txt"
    efw2.write(rows, p, newline=newline)
    scan = efw2.Scan(p)
    got = list(scan.rows())
    assert all(r.problem is None for r in got)
    assert [r.fields for r in got] == [
        [r["employer_ein"], r["employer_name"][:57].strip(), str(r["tax_year"]), r["worker_ssn"],
         *(f"{r[k]:.2f}" for k in ("wages", "withholding", "ss_wages", "medicare_wages")), r["state"]]
        for r in rows]
    groups = {(e, n.strip(), y) for e, n, y, members in employers if members}
    assert scan.checks == {"rt_ok": len(groups), "rt_failed": 0, "rf_ok": 1, "rf_failed": 0}
    assert scan.counts.get("RW", 0) == len(rows) and scan.counts.get("RE", 0) == len(groups)


def test_the_writer_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="worker_ssn"):
        efw2.write([{**ROWS[0], "worker_ssn": "12345"}])
    with pytest.raises(ValueError, match="whole cents"):
        efw2.write([{**ROWS[0], "wages": "1.005"}])
    with pytest.raises(ValueError, match="no verified EFW2 numeric code"):
        efw2.write([{**ROWS[0], "state": "NJ"}])


# -- the sample kept with the tests --------------------------------------------------------------

def test_the_kept_sample_reads_as_its_readme_says(ws):
    p = FIXTURES / "efw2" / "sample.txt"
    r = ingest_file(ws, p, "auto")
    assert (r.format, r.read, r.stored, r.quarantined) == ("efw2", 5, 5, 0)
    conserved(ws, r.source_id)
    assert ws.query("SELECT employer_name, count(*), sum(wages) FROM wage_reports GROUP BY 1 ORDER BY 1") == [
        ("Harvest Labor Services LLC", 3, Decimal("38950.00")), ("Valley Packing Co", 2, Decimal("79000.50"))]
    assert ws.scalar("SELECT note FROM sources").endswith("RT totals checked: 2 of 2 match; RF count matches")
