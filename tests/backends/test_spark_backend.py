"""The Spark backend's own behaviour: what it hands over, what it says when it cannot start,
errors that quote no data, and the dialect's rewrites and fallbacks (checked on DuckDB too)."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from moneytrail.backends import DuckDBBackend, get_backend
from moneytrail.backends.base import parse
from moneytrail.backends.dialect import CAPABILITIES, DUCKDB, SPARK, Dialect
from moneytrail.backends.spark import SparkUnavailable, check_master, java_version
from moneytrail.detect import BY_ID
from moneytrail.errors import ConfigError, EngineError
from moneytrail.ingest import ingest_file
from moneytrail.pipeline import run_pipeline
from moneytrail.score.features import FEATURE_NAMES, compute_features, feature_matrix
from moneytrail.workspace import Workspace

SECRET = "ACCT-SECRET-0042"
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "detect"


@pytest.fixture
def small(tmp_path):
    ws = Workspace.open(tmp_path / "w.duckdb")
    ws.con.execute("CREATE TABLE edges AS SELECT * FROM (VALUES "
                   "(1::BIGINT, 'A', 'B', TIMESTAMP '2025-01-01 23:20:00', 100.0000::DECIMAL(18,4)), "
                   "(2::BIGINT, 'B', 'A', TIMESTAMP '2025-01-02 12:00:00', 60.0000::DECIMAL(18,4)), "
                   f"(3::BIGINT, 'B', '{SECRET}', TIMESTAMP '2025-01-05 08:00:00', 25.5000::DECIMAL(18,4))"
                   ") t(tx_id, src, dst, ts, amount)")
    yield ws
    ws.close()


# -- starting Spark, and saying why not ----------------------------------------------------------

def _fake_java(tmp_path: Path, version: str) -> Path:
    home = tmp_path / f"jdk{version}"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return home


def test_no_java_is_one_line_naming_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(SparkUnavailable) as e:
        java_version()
    msg = str(e.value)
    assert "\n" not in msg and "Java 17" in msg and "JAVA_HOME" in msg and "has no bin/java" in msg
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkUnavailable, match="no java on PATH and JAVA_HOME is not set"):
        java_version()


def test_an_old_java_is_refused_by_version(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, "11.0.22")))
    with pytest.raises(SparkUnavailable, match="is Java 11"):
        java_version()
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, "1.8.0_392")))
    with pytest.raises(SparkUnavailable, match="is Java 8"):
        java_version()
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path, "17.0.10")))
    assert java_version()[1] == 17


@pytest.mark.parametrize("master", ["local[2]", "local[*]", "local", "spark://10.0.0.5:7077", "yarn",
                                    "sc://spark.taskforce.internal:15002", "k8s://https://10.0.0.1:6443"])
def test_master_urls_taken(master):
    assert check_master(master) == master


@pytest.mark.parametrize("master", ["", "local[2]; rm -rf /", "http://x", "local[0]", "spark://a b", "x" * 300,
                                    "sc://host\n", 7])
def test_master_urls_refused(master):
    with pytest.raises(SparkUnavailable, match="not a Spark master URL"):
        check_master(master)


def test_get_backend_checks_names_and_options(small):
    assert isinstance(get_backend(small), DuckDBBackend)
    with pytest.raises(ConfigError, match="unknown backend 'postgres'"):
        get_backend(small, "postgres")
    with pytest.raises(ConfigError, match="takes no options"):
        get_backend(small, "duckdb", master="local[2]")
    with pytest.raises(ConfigError, match="takes master, staging and conf"):
        get_backend(small, "spark", executors=9)


# -- running queries ------------------------------------------------------------------------------

def test_tables_are_handed_over_and_results_come_back_typed(small, spark_master):
    be = get_backend(small, "spark", master=spark_master)
    try:
        t = be.execute("SELECT src, dst, ts, amount, date_diff('day', min(ts) OVER (), ts) AS d "
                       "FROM edges ORDER BY tx_id")
        assert t.column("src").to_pylist() == ["A", "B", "B"]
        assert str(t.schema.field("ts").type) == "timestamp[us]"           # no time zone, as stored
        assert str(t.schema.field("amount").type) == "decimal128(18, 4)"
        # boundaries crossed, as DuckDB counts: 23:20 to 12:00 the next day is one day
        assert t.column("d").to_pylist() == [0, 1, 4]
        assert be.scalar("SELECT count(*) FROM edges WHERE amount > ?", [50]) == 2
        assert be.materialize("_big", "SELECT * FROM edges WHERE amount > 50", temp=True) == 2
        assert be.scalar("SELECT sum(amount) FROM _big") == be.scalar("SELECT 160.0000::DECIMAL(18,4)")
        be.run("DROP TABLE IF EXISTS _big")
        with pytest.raises(EngineError):
            be.scalar("SELECT count(*) FROM _big")
    finally:
        be.close()


def test_an_engine_error_names_its_class_and_quotes_no_data(small, spark_master):
    be = get_backend(small, "spark", master=spark_master)
    try:
        with pytest.raises(EngineError) as e:
            # fails on the secret's row with the row's value in Spark's message
            be.execute("SELECT assert_true(amount > 50 OR src = 'A', dst) FROM edges")
    finally:
        be.close()
    assert SECRET not in str(e.value) and "failed in the query engine" in str(e.value)
    assert "ASSERT_TRUE" in e.value.sql.upper()          # the Spark SQL that failed travels with the error
    assert e.value.kind.split(":")[0] in ("AnalysisException", "PythonException", "Py4JJavaError",
                                          "SparkRuntimeException", "IllegalArgumentException")


def test_two_backends_on_one_spark_keep_their_tables_apart(tmp_path, small, spark_master):
    other = Workspace.open(tmp_path / "other.duckdb")
    other.con.execute("CREATE TABLE edges AS SELECT 9::BIGINT AS tx_id")
    a = get_backend(small, "spark", master=spark_master)
    b = get_backend(other, "spark", master=spark_master)
    try:
        assert a.scalar("SELECT count(*) FROM edges") == 3
        assert b.scalar("SELECT count(*) FROM edges") == 1
        assert a.scalar("SELECT count(*) FROM edges") == 3
    finally:
        a.close(), b.close(), other.close()


def test_a_staging_folder_is_removed_on_close(small, spark_master, tmp_path):
    be = get_backend(small, "spark", master=spark_master, staging=tmp_path / "stage")
    be.scalar("SELECT count(*) FROM edges")
    assert list((tmp_path / "stage").rglob("*.parquet"))
    be.close()
    assert not list((tmp_path / "stage").rglob("*.parquet"))


# -- the dialect ----------------------------------------------------------------------------------

def test_rewrites_are_spark_only_and_idempotent():
    q = parse("SELECT date_diff('day', a, b), dayofweek(t), x / 3 FROM z")
    assert DUCKDB.rewrite(q).sql("duckdb") == q.sql("duckdb")
    once = SPARK.rewrite(q)
    assert SPARK.rewrite(once).sql("spark") == once.sql("spark")
    assert once.sql("spark") == ("SELECT DATEDIFF(DAY, DATE_TRUNC('DAY', a), DATE_TRUNC('DAY', b)), "
                                 "(DAYOFWEEK(t) - 1), CAST(x AS DOUBLE) / 3 FROM z")
    assert q.sql("duckdb") == "SELECT DATE_DIFF('DAY', a, b), DAYOFWEEK(t), x / 3 FROM z"  # not changed in place


def test_the_dialect_methods_agree_with_duckdb_on_spark(small, spark_master):
    """Each construct the dialect builds, run on both engines over the same rows."""
    def build(d: Dialect) -> str:
        return f"""
        SELECT {d.ordered_list("tx_id", ["amount DESC", "tx_id"])} AS by_amount_desc,
               {d.sorted_distinct_list("src")} AS srcs,
               {d.median("amount")} AS med,
               {d.list_length(d.ordered_list("tx_id", ["tx_id"]))} AS n,
               {d.list_position(d.ordered_list("src", ["tx_id"]), "'B'")} AS pos,
               {d.list_slice(d.ordered_list("tx_id", ["tx_id"]), "2", "3")} AS tail,
               {d.list_last(d.ordered_list("tx_id", ["tx_id"]))} AS last
        FROM edges"""
    duck = get_backend(small).rows(build(DUCKDB))
    be = get_backend(small, "spark", master=spark_master)
    try:
        spark = be.rows(build(SPARK))
        win = be.rows(f"SELECT tx_id, {SPARK.count_distinct_over('src', 'ORDER BY ts ROWS UNBOUNDED PRECEDING')} AS k "
                      "FROM edges ORDER BY tx_id")
    finally:
        be.close()
    assert duck == spark == [{"by_amount_desc": [1, 2, 3], "srcs": ["A", "B"], "med": pytest.approx(60),
                              "n": 3, "pos": 2, "tail": [2, 3], "last": 3}]
    assert str(spark[0]["med"]) == "60.00000" or float(spark[0]["med"]) == 60.0
    assert [r["k"] for r in win] == [1, 2, 2]


class _NoAsof(Dialect):
    capabilities = frozenset(CAPABILITIES) - {"asof_join"}


class _Poor(Dialect):
    name = "poor"
    capabilities = frozenset({"regex"})


def test_the_asof_fallbacks_give_the_same_features_on_duckdb(tmp_path):
    """The fallbacks Spark runs are plain SQL: DuckDB runs them too, and they equal its ASOF joins."""
    with Workspace.open(tmp_path / "f.duckdb") as ws:
        ws.con.execute("""CREATE TABLE edges AS
            SELECT i::BIGINT AS tx_id, 'A' || (i % 7)::VARCHAR AS src, 'A' || ((i * 3 + 1) % 7)::VARCHAR AS dst,
                   TIMESTAMP '2025-01-01' + INTERVAL (i * 7 % 40) DAY + INTERVAL (i % 3) HOUR AS ts,
                   (i * 37 % 1000 + 1)::DECIMAL(18,4) AS amount
            FROM range(400) r(i)""")
        plain, poor = DuckDBBackend(ws.con), DuckDBBackend(ws.con)
        poor.sql_dialect = _NoAsof()
        compute_features(plain, table="f_asof")
        compute_features(poor, table="f_fallback")
        a, _ = feature_matrix(plain, "f_asof")
        b, _ = feature_matrix(poor, "f_fallback")
    assert a.num_rows > 300
    for f in FEATURE_NAMES:
        assert a.column(f).to_pylist() == pytest.approx(b.column(f).to_pylist(), nan_ok=True), f


def test_a_backend_lacking_a_capability_skips_the_typology_with_a_reason(small):
    poor = DuckDBBackend(small.con)
    poor.sql_dialect = _Poor()
    why = BY_ID["fan_in"].unsupported(poor)
    assert why == "the duckdb backend lacks what this typology's query needs: distinct_window_count, ordered_list"
    assert BY_ID["rapid_pass_through"].unsupported(DuckDBBackend(small.con)) is None
    # rapid pass-through has a documented fallback for a missing ASOF join, so it does not need one
    no_asof = DuckDBBackend(small.con)
    no_asof.sql_dialect = _NoAsof()
    assert all(t.unsupported(no_asof) is None for t in BY_ID.values())


def test_quoted_list_parameters_reach_spark_as_literals(tmp_path, spark_master):
    """A list value with a quote (issue 11: "card,o'brien"; the CLI refuses it as no channel, so
    it is put in directly here) is one literal on either engine, and excludes nothing else."""
    typ = BY_ID["fan_in"]
    p = dataclasses.replace(typ.Params(), exclude_channels=("card", "o'brien"))
    for d in (DUCKDB, SPARK):
        assert "'o''brien'" in typ.sql(p, d)
        typ.query(p, d).sql(dialect="spark")   # parses and generates
    with Workspace.open(tmp_path / "w.duckdb") as ws:
        ingest_file(ws, GOLDEN / "fan_in_basic.csv", "csv", mapping=GOLDEN / "mapping.yaml")
        run_pipeline(ws, stages=["resolve", "graph"])
        be = get_backend(ws, "spark", master=spark_master)
        try:
            got = typ.run(be, p)
        finally:
            be.close()
        assert [r["key"] for r in got] == [r["key"] for r in typ.run(get_backend(ws), p)]
        assert len(got) == 1


def test_the_staging_folder_is_private(small, spark_master):
    be = get_backend(small, "spark", master=spark_master)
    try:
        be.scalar("SELECT count(*) FROM edges")
        mode = os.stat(be._staging).st_mode
        assert not mode & (stat.S_IRWXG | stat.S_IRWXO)
    finally:
        be.close()
