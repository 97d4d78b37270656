"""The bulk CSV reader (moneytrail.ingest.csvfast) gives what the record reader gives.

Every test writes a file and loads it twice under the same mapping, once with the bulk reader
(DuckDB's read_csv, the default) and once with the record reader (``bulk=False``), each into
its own workspace, and compares everything stored: every transaction column, every quarantine
row (row number, column, reason, raw text) and the counts; and checks which reader ran (the bulk
one where it can give the guarantees, the record reader with its reason where it cannot).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.ingest import csvfast
from moneytrail.ingest.csvfile import load_csv
from moneytrail.ingest.mapping import parse_mapping
from moneytrail.limits import MAX_FIELD_BYTES
from moneytrail.workspace import Workspace

TRANSFERS = {"currency": "USD", "date": "date", "amount": {"column": "amount"},
             "payer": {"account": "payer"}, "payee": {"account": "payee"}, "description": "memo"}
HEADER = "date,amount,payer,payee,memo\n"

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("bulk")
    a, b = Workspace.open(d / "bulk.duckdb"), Workspace.open(d / "records.duckdb")
    yield a, b
    a.close()
    b.close()


def _tables(ws, sid):
    tx = ws.query("SELECT * EXCLUDE (source_id) FROM transactions WHERE source_id = ? ORDER BY source_row", [sid])
    q = ws.query("SELECT source_row, column_name, reason, raw FROM quarantine WHERE source_id = ? "
                 "ORDER BY source_row", [sid])
    acc = ws.query("SELECT * EXCLUDE (source_id) FROM account_records WHERE source_id = ? ORDER BY account_id", [sid])
    return tx, q, acc


def both(pair, path: Path, mapping=TRANSFERS, reader: str | None = "duckdb", batch_size: int | None = None):
    """Load ``path`` with each reader (the bulk one ``batch_size`` records at a time, if given);
    assert they stored the same; return (bulk counts, quarantine)."""
    m = parse_mapping(mapping)
    sid = next(_ids)
    out = []
    for ws, bulk in zip(pair, (True, False)):
        c = load_csv(ws, sid, path, m, bulk=bulk, batch_size=batch_size if bulk else None)
        out.append((c, _tables(ws, sid)))
    (cb, tb), (cr, tr) = out
    assert {k: cb[k] for k in ("read", "stored", "quarantined")} == {k: cr[k] for k in ("read", "stored", "quarantined")}
    assert cb["read"] == cb["stored"] + cb["quarantined"]
    assert tb[1] == tr[1], "quarantine differs"
    assert tb[0] == tr[0], "transactions differ"
    assert tb[2] == tr[2], "account records differ"
    rows = sorted([t[1] for t in tb[0]] + [r[0] for r in tb[1]])
    assert rows == list(range(1, cb["read"] + 1))      # every record once, numbered 1..read
    if reader is not None:
        assert cb["reader"].startswith(reader), cb["reader"]
    return cb, {r[0]: r[1:] for r in tb[1]}


def put(tmp_path: Path, data: str | bytes, name: str = "in.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def rows(n: int, start: int = 1) -> list[str]:
    return [f"2024-01-{1 + i % 28:02d},{i}.{i % 100:02d},A{i % 7},B{i % 5},memo {i}" for i in range(start, start + n)]


# -- the bulk reader, with the record reader's reasons -----------------------------------------

def test_bad_values_and_record_problems(pair, tmp_path):
    lines = rows(5)
    lines[1] = "2024-02-30,5,A,B,x"            # no such day
    lines[2] = "2024-01-05,5"                  # too few fields
    lines[3] = "2024-01-05,5,A,B,x,extra"      # too many
    text = HEADER + "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n\n"   # a blank line; one at the end
    c, q = both(pair, put(tmp_path, text))
    assert (c["read"], c["quarantined"]) == (7, 5)
    assert q[3] == (None, "blank line", "") and q[7] == (None, "blank line", "")
    assert q[4][0] == "payer" and q[4][2] == "2024-01-05,5"
    assert "6 fields" in q[5][1] and q[5][2] == "2024-01-05,5,A,B,x,extra"


def test_quotes_delimiters_nul_and_doubled_quotes_in_fields(pair, tmp_path):
    # (a NUL byte in the first 64 KiB refuses the file as binary: these rows come after 3,000 others)
    text = (HEADER + "\n".join(rows(3000)) + "\n"
            '2024-01-05,"1,000.00",A,B,"rent, March"\n2024-01-05,2,A,B,"say ""hi"""\n'
            '2024-01-05,3,A,B,a\x00b\n"2024-01-05","x","A","B","quoted, bad amount"\n'
            '2024-01-05,4,A,B,"a ""quote"", and a comma",extra\n2024-01-05,5,A,B,ab"c\n'
            '2024-01-05,6,A,B,"ab"c\n')    # text after a closing quote: DuckDB rejects it, Python reads it
    c, q = both(pair, put(tmp_path, text), dict(TRANSFERS, thousands=","))
    assert c["read"] == 3007 and set(q) == {3004, 3005}
    assert q[3004][2] == '2024-01-05,x,A,B,"quoted, bad amount"'   # the raw row, as the record reader gives it
    assert "a\x00b" in [d for (d,) in pair[0].query("SELECT description FROM transactions WHERE source_row = 3003 "
                                                     "AND source_id = (SELECT max(source_id) FROM transactions)")]


def test_a_wrong_byte_in_the_middle_of_a_large_file(pair, tmp_path):
    lines = [s.encode() for s in rows(300_000)]
    lines[149_999] = b"2024-01-05,7,Caf\xe9 Rouge,B,x"
    lines[200_000] = b"2024-01-05,7,\xf0\x28\x8c\x28,B,x"   # an invalid 4-byte sequence
    p = put(tmp_path, HEADER.encode() + b"\n".join(lines) + b"\n")
    c, q = both(pair, p)
    assert (c["read"], c["quarantined"]) == (300_000, 2)
    assert q[150_000] == ("payer", "byte 0xe9 is not valid utf-8 text (in column 'payer')",
                          "2024-01-05,7,Caf\\xe9 Rouge,B,x")
    assert q[200_001][0] == "payer" and "0xf0" in q[200_001][1]


@pytest.mark.parametrize("batch_size", [2_000, 5_000])
def test_batches_of_any_size_store_the_same(pair, tmp_path, batch_size):
    # DuckDB's record batches (about a row group each) are gathered into batches of up to
    # batch_size records: lines Python reads (blank, too few fields) fall on and across the edges
    lines = rows(12_000)
    for i in (0, 6, 1_999, 2_000, 4_095, 4_096, 5_000, 9_999, 11_999):
        lines[i] = "" if i % 2 else "2024-01-05,5"
    p = put(tmp_path, HEADER + "\n".join(lines) + "\n")
    c, q = both(pair, p, batch_size=batch_size)
    assert (c["read"], c["quarantined"]) == (12_000, 9)


def test_a_50_mb_field_is_quarantined_with_its_row(pair, tmp_path):
    big = "m" * (50 << 20)
    p = put(tmp_path, HEADER + "\n".join(rows(3)) + f"\n2024-01-05,4,A,B,{big}\n" + "\n".join(rows(3, 5)) + "\n")
    c, q = both(pair, p)
    assert (c["read"], c["quarantined"]) == (7, 1)
    assert q[4][0] == "memo" and f"{50 << 20:,} bytes, more than the {MAX_FIELD_BYTES:,}" in q[4][1]
    assert q[4][2].endswith("[cut at 65,536 characters: the whole row is in the evidence copy of the file]")


def test_a_line_over_a_megabyte_without_a_field_over_the_cap_is_stored(pair, tmp_path):
    half = "h" * (MAX_FIELD_BYTES // 2 + 10)
    m = dict(TRANSFERS, id="ref", location="place")
    p = put(tmp_path, "date,amount,payer,payee,memo,ref,place\n"
            f"2024-01-05,1,A,B,{half},{half},{half}\n2024-01-05,2,A,B,x,y,z\n")
    c, q = both(pair, p, m)
    assert (c["read"], c["stored"]) == (2, 2)


def test_header_only_files_and_a_last_line_without_a_break(pair, tmp_path):
    for text in (HEADER, HEADER.rstrip("\n"), HEADER + "2024-01-05,1,A,B,last"):
        c, _ = both(pair, put(tmp_path, text))
        assert c["read"] == text.count("\n") + (0 if text.endswith("\n") else 1) - 1


def test_crlf_latin1_skip_rows_and_another_delimiter(pair, tmp_path):
    text = HEADER.replace(",", ";") + "\n".join(r.replace(",", ";") for r in rows(50))
    text = "Export of 2024\r\n" + text.replace("\n", "\r\n") + "\r\n2024-01-05;x;A;B;m\r\n\r\n2024-01-05;1;A\r\n"
    m = dict(TRANSFERS, delimiter=";", skip_rows=1, encoding="latin-1")
    c, q = both(pair, put(tmp_path, text.replace("memo 7", "caf\xe9").encode("latin-1")), m)
    assert (c["read"], c["quarantined"]) == (53, 3)
    assert q[53][2] == "2024-01-05;1;A"


# -- where the record reader reads the file, and says why ---------------------------------------

@pytest.mark.parametrize("data, mapping, why", [
    (HEADER + '2024-01-05,1,A,B,"two\nlines"\n2024-01-05,2,A,B,x\n', TRANSFERS, "a record over several lines"),
    (HEADER + '2024-01-05,1,A,B,ok\n2024-01-05,2,A,B,"never closed\n2024-01-05,3,A,B,x\n', TRANSFERS,
     "a record over several lines"),
    (HEADER + '2024-01-05,1,A,B, "spaced"\n', TRANSFERS, "a quote after blanks"),
    (HEADER + '2024-01-05,1,A,B,"spaced" \n', TRANSFERS, "a quote after blanks"),
    (HEADER + "2024-01-05,1,A,B,x\r2024-01-05,2,A,B,y\n", TRANSFERS, "a carriage return"),
    (HEADER + "2024-01-05,1,A,B,x\r\n2024-01-05,2,A,B,y\n", TRANSFERS, "mixed line endings"),
    ((HEADER + "2024-01-05,1,A,B,\x85\n").encode("latin-1"), dict(TRANSFERS, encoding="latin-1"), "DuckDB's reader"),
    (HEADER + "2024-01-05,1,A,B,x\n", dict(TRANSFERS, encoding="cp1252"), "encoding cp1252"),
    (gzip.compress((HEADER + "2024-01-05,1,A,B,x\n").encode()), TRANSFERS, "gzip"),
    ('date,amount,payer,payee,"me\nmo"\n2024-01-05,1,A,B,x\n', dict(TRANSFERS, description="me\nmo"),
     "a header over several lines"),
])
def test_fallback_to_the_record_reader_says_why(pair, tmp_path, data, mapping, why):
    c, _ = both(pair, put(tmp_path, data), mapping, reader=None)
    assert c["reader"].startswith("python: ") and why in c["reader"], c["reader"]


def test_the_reader_connection_reads_that_file_only(tmp_path):
    other = put(tmp_path, "secret\n", "other.csv")
    p = put(tmp_path, HEADER + "2024-01-05,1,A,B,x\n")
    rc = csvfast._reader_connection(p.resolve(), "256MB")
    try:
        assert rc.execute("SELECT count(*) FROM read_csv(?, header = true)", [str(p.resolve())]).fetchall()[0][0] == 1
        with pytest.raises(Exception, match="(?i)permission|access"):
            rc.execute("SELECT * FROM read_csv(?)", [str(other)]).fetchall()
        with pytest.raises(Exception):
            rc.execute("SET enable_external_access = true")
    finally:
        rc.close()


def test_row_numbers_skip_the_lines_python_reads():
    import numpy as np

    ex = np.array([2, 3, 7], np.int64)
    assert csvfast.row_numbers(ex, 0, 6).tolist() == [1, 4, 5, 6, 8, 9]
    assert csvfast.row_numbers(ex, 3, 2).tolist() == [6, 8]
    assert csvfast.row_numbers(np.zeros(0, np.int64), 5, 2).tolist() == [6, 7]


# -- any file: the two readers agree -------------------------------------------------------------

_cell = st.one_of(st.sampled_from(["2024-01-05", "5", "", "A", "B"]),
                  st.text(alphabet=list('ab1.,"; \n\r-\x00é'), max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_cell, min_size=0, max_size=7), min_size=0, max_size=8), st.booleans())
def test_any_file_reads_the_same_with_both_readers(pair, tmp_path, table, crlf):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    for r in table:
        w.writerow(r)
    # (past the first 64 KiB, where a NUL byte would refuse the whole file as binary)
    text = HEADER + "\n".join(rows(2500)) + "\n" + buf.getvalue()
    both(pair, put(tmp_path, text), reader=None)
