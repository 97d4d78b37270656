"""Engine errors say where they happened (issue 11, item 5): the stage, the typology and the SQL
that failed travel with :class:`~moneytrail.errors.EngineError`; the one line a user sees names
the stage, the typology and the engine's error class, and the engine's message and the SQL go
to the run log only (the message can quote data)."""

from __future__ import annotations

import json
import sys

import pytest

from moneytrail import Session
from moneytrail.backends import get_backend
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.detect.fan import FanIn
from moneytrail.errors import EngineError
from moneytrail.ingest import parse_mapping
from moneytrail.score.features import FEATURE_NAMES
from moneytrail.workspace import Workspace

MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})
SECRET = "SECRET-ACCT-51c0de"
LEAKY = "SELECT CAST(dst AS INTEGER) AS key FROM edges"
RAN = "SELECT CAST(dst AS INT) AS key FROM edges"        # as the backend ran it (sqlglot's DuckDB SQL)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to"] + [f"2024-03-0{1 + i % 9},{900 + i},S{i},{SECRET}" for i in range(12)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(tmp_path / "bank.csv", "csv", mapping=MAPPING, legal_basis=["subpoena"])
    return p


def _run(path, run_id: int) -> tuple[str, str, str]:
    with Workspace.open(path) as ws:
        cw = ws.for_case(CASE)
        return cw.query("SELECT command, status, error FROM runs WHERE run_id = ?", [run_id])[0]


# -- the error itself ----------------------------------------------------------------------------------

def test_wrap_keeps_what_each_layer_knows_and_the_line_shows_none_of_the_data():
    import duckdb

    con = duckdb.connect()
    sql = f"SELECT CAST('{SECRET}' AS INTEGER)"
    with pytest.raises(duckdb.Error) as raw:
        con.execute(sql)
    inner = EngineError.wrap(raw.value, sql=sql)                       # the backend knows the SQL
    mid = EngineError.wrap(inner, stage="detect", typology="fan_in")    # detect knows the typology
    outer = EngineError.wrap(mid, stage="pipeline?", typology="other", run_id=7)   # the innermost wins
    assert (outer.stage, outer.typology, outer.sql, outer.run_id) == ("detect", "fan_in", sql, 7)
    assert outer.kind == "ConversionException" and SECRET in outer.detail
    assert str(outer) == ("detect: typology fan_in failed in the query engine (ConversionException); "
                          "the full message is in the run log (run 7)")
    assert SECRET not in str(outer) and "CAST" not in str(outer) and SECRET not in repr(outer.args)
    log = outer.log_text()
    assert log.startswith("detect: typology fan_in: ConversionException: ") and SECRET in log
    assert log.endswith(f"\nSQL: {sql}")
    # a stage without a typology, a place no stage names, nothing known
    assert str(EngineError("IOException", "x", stage="graph")).startswith("graph failed in the query engine")
    assert EngineError("E", "x", where="handing edges to Spark").where == "handing edges to Spark"
    assert str(EngineError("E", "x")) == "a query failed in the query engine (E)"
    long = EngineError("E", "x", sql="SELECT " + "1, " * 60_000 + "1")
    assert len(long.log_text()) < EngineError.MAX_SQL + 200 and long.log_text().endswith(" ...")


def test_the_duckdb_backend_attaches_the_sql_it_ran(ws):
    be = get_backend(ws)
    for call, fragment in ((lambda: be.execute(f"SELECT CAST('{SECRET}' AS INTEGER) AS x"), "SELECT CAST("),
                           (lambda: be.materialize("_t", f"SELECT CAST('{SECRET}' AS INTEGER) AS x", temp=True),
                            "CREATE OR REPLACE TEMP TABLE _t AS SELECT CAST("),
                           (lambda: be.run(f"SELECT CAST('{SECRET}' AS INTEGER)"), "SELECT CAST(")):
        with pytest.raises(EngineError) as e:
            call()
        assert e.value.sql.startswith(fragment) and SECRET in e.value.sql
        assert e.value.stage is None and e.value.typology is None
        assert SECRET not in str(e.value)


# -- through the pipeline, a Session and the CLI --------------------------------------------------------

def test_a_failing_typology_names_stage_and_typology_and_logs_message_and_sql(path, monkeypatch):
    monkeypatch.setattr(FanIn, "sql", lambda self, p, d: LEAKY)
    with Session.open(path, officer=AN, case=CASE) as s:
        with pytest.raises(EngineError) as ei:
            s.detect(["fan_in"])
    e = ei.value
    assert (e.stage, e.typology, e.kind) == ("detect", "fan_in", "ConversionException")
    assert e.sql == RAN and e.run_id is not None
    assert SECRET not in str(e) and "CAST" not in str(e)
    command, status, error = _run(path, e.run_id)
    assert (command, status) == ("detect", "failed")
    assert error.startswith("detect: typology fan_in: ConversionException: ") and SECRET in error
    assert error.endswith(f"\nSQL: {RAN}")


def test_the_cli_line_names_stage_typology_and_class_only(path, monkeypatch, capsys):
    monkeypatch.setattr(FanIn, "sql", lambda self, p, d: LEAKY)
    from moneytrail.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["moneytrail", "--as", AN, "--case", CASE, "detect", "-t", "fan_in",
                                      "-w", str(path)])
    with pytest.raises(SystemExit) as ex:
        cli_main.main()
    out, err = capsys.readouterr()
    assert ex.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: detect: typology fan_in failed in the query engine (ConversionException); "
                          "the full message is in the run log (run ")
    for leaked in (SECRET, "CAST", "SQL"):
        assert leaked not in err and leaked not in out


def test_a_scoring_failure_outside_the_pipeline_is_a_logged_run(path, monkeypatch):
    """Session.score runs outside the pipeline: its run is logged, and an engine failure in the
    features names the stage and that run, with the message and SQL in its log."""
    import moneytrail.score as score_mod

    monkeypatch.setattr(score_mod, "load_model",
                        lambda ws, model_id=None: ({"model_id": 1, "features": json.dumps(FEATURE_NAMES),
                                                    "threshold": 0.5}, None))
    monkeypatch.setattr(score_mod, "compute_features", lambda be: be.execute(LEAKY))
    with Session.open(path, officer=AN, case=CASE) as s:
        with pytest.raises(EngineError) as ei:
            s.score()
    e = ei.value
    assert (e.stage, e.typology, e.kind) == ("score", None, "ConversionException") and e.run_id is not None
    assert str(e) == (f"score failed in the query engine (ConversionException); the full message is in the "
                      f"run log (run {e.run_id})")
    command, status, error = _run(path, e.run_id)
    assert (command, status) == ("score", "failed") and SECRET in error and error.endswith(f"SQL: {RAN}")
