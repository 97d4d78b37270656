"""The matcher of one transfer seen at two banks (moneytrail.resolve.transfers): small hand-made
ledgers, one-to-one as a property, hostile text as data, determinism."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moneytrail.resolve.transfers import TransferParams, match_transfers, unmatched

D = dt.date


def legs(con, name, rows, extra=()):
    """A table of legs: (leg_id, amount, date, memo, *extra columns)."""
    cols = ["leg_id", "amount", "date", "memo", *extra]
    data = {c: [r[i] if i < len(r) else None for r in rows] for i, c in enumerate(cols)}
    types = {"leg_id": pa.string(), "amount": pa.decimal128(18, 4), "date": pa.date32(), "memo": pa.string()}
    t = pa.table({c: pa.array([Decimal(str(v)) if c == "amount" and v is not None else v for v in data[c]],
                              types.get(c, pa.string())) for c in cols})
    con.register(f"{name}_arrow", t)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def pairs(res):
    return sorted(zip(res.column("debit_leg_id").to_pylist(), res.column("credit_leg_id").to_pylist()))


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_weekend_split_transfer(con):
    # sent on Friday, credited on Monday: one business day
    legs(con, "deb", [("d1", 500, D(2024, 3, 1), "ACME LTD invoice 123")])
    legs(con, "cre", [("c1", 500, D(2024, 3, 4), "ACME LTD invoice 123"),
                      ("c2", 500, D(2024, 2, 29), "ACME LTD invoice 123")])   # before the debit: never
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c1")]
    r = res.to_pylist()[0]
    assert r["business_days"] == 1
    assert "amount equal" in r["reasons"] and "credited 1 business day later" in r["reasons"]
    assert "memo equal" in r["reasons"]
    assert 0 < r["match_probability"] <= 1


def test_window_in_business_days(con):
    legs(con, "deb", [("d1", 70, D(2024, 3, 1), "rent march")])
    legs(con, "cre", [("c1", 70, D(2024, 3, 11), "rent march")])      # Friday -> Monday week: 6 bdays
    assert match_transfers(con, "deb", "cre", params={"window_business_days": 5}).num_rows == 0
    assert pairs(match_transfers(con, "deb", "cre", params={"window_business_days": 6})) == [("d1", "c1")]
    # a holiday on the Monday pushes it to 7 business days... no: a holiday is not a business day
    res = match_transfers(con, "deb", "cre", params={"window_business_days": 5, "holidays": [D(2024, 3, 4)]})
    assert pairs(res) == [("d1", "c1")] and res.column("business_days")[0].as_py() == 5


def test_equal_amounts_same_day_told_apart_by_memo(con):
    legs(con, "deb", [("d1", 1000, D(2024, 5, 6), "J SMITH rent May"),
                      ("d2", 1000, D(2024, 5, 6), "BLUE OCEAN TRADING inv 77")])
    legs(con, "cre", [("c1", 1000, D(2024, 5, 7), "BLUE OCEAN TRADING inv"),     # truncated
                      ("c2", 1000, D(2024, 5, 7), "rent May J SMITH")])          # reordered
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c2"), ("d2", "c1")]
    by = {r["debit_leg_id"]: r["reasons"] for r in res.to_pylist()}
    assert "truncated" in by["d2"]


def test_end_to_end_id_decides(con):
    ex = ("end_to_end_id",)
    legs(con, "deb", [("d1", 250, D(2024, 5, 6), "payment", "E2E-AAA"),
                      ("d2", 250, D(2024, 5, 6), "payment", "E2E-BBB")], ex)
    # same memo, same amount, same day: only the end-to-end ids tell them apart; c2 even lost a fee
    legs(con, "cre", [("c1", 250, D(2024, 5, 7), "payment", "E2E-BBB"),
                      ("c2", 241.5, D(2024, 5, 8), "other text", "E2E-AAA")], ex)
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c2"), ("d2", "c1")]
    assert all("end-to-end id equal (decisive)" in r for r in res.column("reasons").to_pylist())
    assert all(res.column("end_to_end_equal").to_pylist())


def test_notprovided_end_to_end_id_is_absent(con):
    ex = ("end_to_end_id",)
    legs(con, "deb", [("d1", 80, D(2024, 5, 6), "gym", "NOTPROVIDED")], ex)
    legs(con, "cre", [("c1", 80, D(2024, 5, 6), "gym", "NOTPROVIDED")], ex)
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c1")] and not res.column("end_to_end_equal")[0].as_py()


def test_different_end_to_end_ids_never_match(con):
    ex = ("end_to_end_id",)
    legs(con, "deb", [("d1", 80, D(2024, 5, 6), "gym", "X1")], ex)
    legs(con, "cre", [("c1", 80, D(2024, 5, 6), "gym", "X2")], ex)
    assert match_transfers(con, "deb", "cre").num_rows == 0


def test_leg_without_partner_stays_unmatched(con):
    legs(con, "deb", [("d1", 120, D(2024, 5, 6), "K WEST utilities"),
                      ("d2", 999, D(2024, 5, 6), "nobody received this")])
    legs(con, "cre", [("c1", 120, D(2024, 5, 7), "K WEST utilities"),
                      ("c3", 40, D(2024, 5, 8), "a credit from elsewhere")])
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c1")]
    u = unmatched(con, "deb", "cre", res).to_pylist()
    assert [(r["side"], r["leg_id"]) for r in u] == [("debit", "d2"), ("credit", "c3")]
    assert all(r["candidates"] == 0 and "no leg on the other side" in r["reason"] for r in u)


def test_amount_tolerance_and_currency(con):
    legs(con, "deb", [("d1", 1000, D(2024, 5, 6), "FX payment 9", "EUR"),
                      ("d2", 300, D(2024, 5, 6), "ticket", "USD")], ("currency",))
    legs(con, "cre", [("c1", 985, D(2024, 5, 8), "FX payment 9", "EUR"),
                      ("c2", 300, D(2024, 5, 6), "ticket", "GBP")], ("currency",))
    assert match_transfers(con, "deb", "cre").num_rows == 0           # default: equal amounts only
    res = match_transfers(con, "deb", "cre", params=TransferParams(amount_tolerance=0.02))
    assert pairs(res) == [("d1", "c1")]                               # never across currencies
    assert "amounts differ by 1.50 %" in res.column("reasons")[0].as_py()


def test_same_source_is_not_two_banks(con):
    legs(con, "deb", [("d1", 60, D(2024, 5, 6), "x", "1")], ("source_id",))
    legs(con, "cre", [("c1", 60, D(2024, 5, 6), "x", "1"), ("c2", 60, D(2024, 5, 6), "x", "2")], ("source_id",))
    assert pairs(match_transfers(con, "deb", "cre")) == [("d1", "c2")]


def test_accounts_count(con):
    ex = ("payer_account", "payee_account")
    legs(con, "deb", [("d1", 45, D(2024, 5, 6), "", "DE01 1234", "FR76 999")], ex)
    legs(con, "cre", [("c1", 45, D(2024, 5, 6), "", "DE011234", "FR76-999"),      # the same, written otherwise
                      ("c2", 45, D(2024, 5, 6), "", "GB00 7777", "FR76 999")], ex)
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == [("d1", "c1")]
    assert "payer account equal" in res.column("reasons")[0].as_py()


HOSTILE = ["O'Brien \"quoted\"; DROP TABLE deb; --", "nul\x00inside", "' OR 1=1 --", "{tag}_p", "ünï ₀ 🙂",
           "x'); SELECT 1; --"]


def test_hostile_memos_and_ids_are_data(con):
    rows = [(h, 10 + i, D(2024, 5, 6), h) for i, h in enumerate(HOSTILE)]
    legs(con, "deb", rows)
    legs(con, "cre", [(h + "'", 10 + i, D(2024, 5, 7), h) for i, h in enumerate(HOSTILE)])
    res = match_transfers(con, "deb", "cre")
    assert pairs(res) == sorted((h, h + "'") for h in HOSTILE)
    assert con.execute("SELECT count(*) FROM deb").fetchall()[0][0] == len(HOSTILE)
    assert unmatched(con, "deb", "cre", res).num_rows == 0


def test_hostile_table_names(con):
    name = 'le"gs; DROP TABLE x'
    legs(con, "deb", [("d1", 5, D(2024, 5, 6), "a")])
    con.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" AS SELECT \'c1\' AS leg_id, '
                f"5::DECIMAL(18,4) AS amount, DATE '2024-05-06' AS date, 'a' AS memo")
    assert pairs(match_transfers(con, "deb", name)) == [("d1", "c1")]
    with pytest.raises(ValueError):
        match_transfers(con, "deb", "")


def test_missing_column_is_one_clear_error(con):
    con.execute("CREATE TABLE deb AS SELECT 'd1' AS leg_id, 5 AS amount")
    legs(con, "cre", [("c1", 5, D(2024, 5, 6), "a")])
    with pytest.raises(ValueError, match="date"):
        match_transfers(con, "deb", "cre")


def test_timestamps_and_integer_ids(con):
    con.execute("CREATE TABLE deb AS SELECT 1 AS leg_id, 12.5::DECIMAL(18,4) AS amount, "
                "TIMESTAMP '2024-05-06 23:59:00' AS date, 'x' AS memo")
    con.execute("CREATE TABLE cre AS SELECT 7 AS leg_id, 12.5::DECIMAL(18,4) AS amount, "
                "TIMESTAMP '2024-05-06 08:00:00' AS date, 'x' AS memo")
    assert pairs(match_transfers(con, "deb", "cre")) == [("1", "7")]      # the same day counts


def test_params_are_checked():
    for bad in ({"window_business_days": -1}, {"amount_tolerance": 1.5}, {"threshold": float("nan")},
                {"holidays": ["2024-01-01"]}):
        with pytest.raises(ValueError):
            TransferParams(**{k: tuple(v) if k == "holidays" else v for k, v in bad.items()})


def test_temp_tables_are_dropped(con):
    legs(con, "deb", [("d1", 5, D(2024, 5, 6), "a")])
    legs(con, "cre", [("c1", 5, D(2024, 5, 6), "a")])
    match_transfers(con, "deb", "cre")
    left = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_mt\\_%' ESCAPE '\\'").fetchall()
    assert left == []


# -- properties --------------------------------------------------------------------------------------

MEMOS = ["ACME", "ACME LTD", "rent", "rent May", "J SMITH", "payment BGC", "", None]
leg = st.tuples(st.sampled_from([10, 10, 20, 35.5, 99]), st.integers(0, 12), st.sampled_from(MEMOS))


@settings(max_examples=40, deadline=None)
@given(st.lists(leg, max_size=12), st.lists(leg, max_size=12), st.sampled_from([0.0, 0.1]), st.integers(0, 6))
def test_one_to_one_and_deterministic(debs, cres, tol, window):
    con = duckdb.connect()
    try:
        base = D(2024, 4, 1)
        legs(con, "deb", [(f"d{i}", a, base + dt.timedelta(days=k), m) for i, (a, k, m) in enumerate(debs)])
        legs(con, "cre", [(f"c{i}", a, base + dt.timedelta(days=k), m) for i, (a, k, m) in enumerate(cres)])
        p = TransferParams(amount_tolerance=tol, window_business_days=window)
        res = match_transfers(con, "deb", "cre", params=p)
        d_ids, c_ids = res.column("debit_leg_id").to_pylist(), res.column("credit_leg_id").to_pylist()
        assert len(set(d_ids)) == len(d_ids) and len(set(c_ids)) == len(c_ids)      # one to one
        assert all(s >= p.threshold for s in res.column("score").to_pylist())
        for r in res.to_pylist():                                                    # the candidate rules
            assert r["credit_date"] >= r["debit_date"] and r["business_days"] <= window
            assert abs(r["credit_amount"] - r["debit_amount"]) <= Decimal(str(tol)) * r["debit_amount"] + Decimal("1e-9")
        assert match_transfers(con, "deb", "cre", params=p).equals(res)              # deterministic
        # every leg is matched or listed as unmatched, never both
        u = unmatched(con, "deb", "cre", res, params=p)
        assert sorted(u.filter(pa.compute.equal(u["side"], "debit"))["leg_id"].to_pylist() + d_ids) == \
            sorted(f"d{i}" for i in range(len(debs)))
        assert sorted(u.filter(pa.compute.equal(u["side"], "credit"))["leg_id"].to_pylist() + c_ids) == \
            sorted(f"c{i}" for i in range(len(cres)))
    finally:
        con.close()


def test_row_order_does_not_change_the_result(con):
    rows_d = [(f"d{i}", 10 + (i % 3), D(2024, 4, 1 + i % 5), f"memo {i % 4}") for i in range(30)]
    rows_c = [(f"c{i}", 10 + (i % 3), D(2024, 4, 2 + i % 5), f"memo {i % 4}") for i in range(30)]
    legs(con, "deb", rows_d)
    legs(con, "cre", rows_c)
    a = match_transfers(con, "deb", "cre")
    legs(con, "deb", rows_d[::-1])
    legs(con, "cre", rows_c[::-1])
    assert match_transfers(con, "deb", "cre").equals(a)
