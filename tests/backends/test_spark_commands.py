"""``--backend spark`` through the Session and the CLI: the same findings and the same model as on
DuckDB, the engine in the run log and the audit log, and one clear line for what does not fit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from moneytrail import Session
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.detect.fan import FanIn
from moneytrail.errors import EngineError
from moneytrail.ingest import parse_mapping
from moneytrail.workspace import Workspace

from test_score import _amlsim_like

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "flow"
SECRET = "SECRET-ACCT-7f3a9c"


@pytest.fixture
def case(tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(keys))
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    with Session.open(p, officer=AN, case=CASE) as s:
        for name in ("structuring_cash", "odd_hours"):
            s.ingest(GOLDEN / f"{name}.csv", "csv", mapping=GOLDEN / "mapping.yaml", legal_basis=["subpoena"])
    return p


def _evidence(s: Session) -> list:
    return sorted((f.typology, sorted(a.account_id for a in f.accounts), sorted(f.tx_ids),
                   f.explanation) for f in s.findings())


def test_detect_on_spark_finds_what_duckdb_finds_and_says_where_it_ran(case, spark_master):
    with Session.open(case, officer=AN, case=CASE) as s:
        duck = s.detect()
        on_duck = _evidence(s)
        spark = s.detect(backend="spark", backend_options={"master": spark_master})
        on_spark = _evidence(s)
        assert spark["findings"] == duck["findings"] and on_spark == on_duck
        assert {"structuring", "odd_hours_deposits"} <= {f[0] for f in on_spark}
    with Workspace.open(case) as ws:
        engines = [json.loads(p).get("engine") for (p,) in ws.for_case(CASE).query(
            "SELECT parameters FROM runs WHERE command = 'detect' ORDER BY run_id")]
    assert engines == [None, {"backend": "spark", "master": spark_master}]
    # the audit log's decision names the engine it was taken for
    entries = [json.loads(line) for line in (case.parent / "case.audit" / "log.jsonl").read_text().splitlines()]
    detects = [e["resource"] for e in entries if e.get("action") == "detect" and e["kind"] == "decision"]
    assert detects[-1].get("backend") == "spark" and detects[-1].get("master") == spark_master
    assert "backend" not in detects[-2]


def test_a_model_trained_on_spark_features_is_the_model_trained_on_duckdb(tmp_path, spark_master, monkeypatch):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(keys))
    data = _amlsim_like(tmp_path / "data")
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(data, "amlsim", legal_basis=["subpoena"])
        a = s.train(seed=0)
        b = s.train(seed=0, backend="spark", backend_options={"master": spark_master})
        assert (b["threshold"], b["best_iteration"], b["validation"], b["test"], b["split"]) == \
            (a["threshold"], a["best_iteration"], a["validation"], a["test"], a["split"])
        sa = s.score(model_id=a["model_id"], top=5)
        sb = s.score(model_id=a["model_id"], top=5, backend="spark", backend_options={"master": spark_master})
    assert sa["flagged"] == sb["flagged"] > 0
    assert [(x["account_id"], x["score"]) for x in sa["top_accounts"]] == \
        [(x["account_id"], x["score"]) for x in sb["top_accounts"]]


def _cli(monkeypatch, capsys, *args):
    from moneytrail.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["moneytrail", "--as", AN, "--case", CASE, *args])
    code = 0
    try:
        cli_main.main()
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_cli_runs_detect_on_spark(case, spark_master, monkeypatch, capsys):
    code, out, err = _cli(monkeypatch, capsys, "detect", "--backend", "spark", "--spark-master", spark_master,
                          "-t", "structuring", "-w", str(case))
    assert code == 0, err
    assert "2 findings from 1 of 1 typologies (structuring 2)" in out


@pytest.mark.parametrize("args,line", [
    (["--backend", "postgres"], "error: --backend 'postgres': choose one of duckdb, spark"),
    (["--spark-master", "local[2]"], "error: --spark-master is for --backend spark"),
    (["--backend", "spark", "--spark-master", "local[2]; touch /tmp/x"],
     "error: --spark-master 'local[2]; touch /tmp/x' is not a Spark master URL"),
])
def test_engine_options_that_do_not_fit_are_one_line(case, monkeypatch, capsys, args, line):
    code, out, err = _cli(monkeypatch, capsys, "detect", *args, "-w", str(case))
    assert code == 2 and err.count("\n") == 1 and err.startswith(line), err


def test_no_java_is_one_line_before_anything_runs(case, monkeypatch, capsys, tmp_path):
    from moneytrail.backends import spark

    monkeypatch.setattr(spark, "_sessions", {})          # as in a process that has not started Spark
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    code, out, err = _cli(monkeypatch, capsys, "detect", "--backend", "spark", "-w", str(case))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: the spark backend needs Java 17 or later: JAVA_HOME=")


def _leaky(self, p, d):
    """A fan-in query that fails on a data value, with the value in Spark's message."""
    return "SELECT assert_true(dst <> 'SECRET-ACCT-7f3a9c', dst) AS key FROM edges"


def test_a_spark_failure_names_stage_typology_and_class_only(tmp_path, spark_master, monkeypatch, capsys):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(keys))
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to"] + [f"2024-03-0{1 + i % 9},{900 + i},S{i},{SECRET}" for i in range(12)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    mapping = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                             "payee": {"account": "to"}})
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(tmp_path / "bank.csv", "csv", mapping=mapping, legal_basis=["subpoena"])
    monkeypatch.setattr(FanIn, "sql", _leaky)
    with Session.open(p, officer=AN, case=CASE) as s:
        with pytest.raises(EngineError) as e:
            s.detect(["fan_in"], backend="spark", backend_options={"master": spark_master})
    assert SECRET not in str(e.value) and str(e.value).startswith("detect: typology fan_in failed in the query engine (")
    # the Spark SQL that failed and Spark's message are in the run log, not in the line
    assert (e.value.stage, e.value.typology) == ("detect", "fan_in") and "ASSERT_TRUE" in e.value.sql.upper()
    with Workspace.open(p) as ws:
        error = ws.for_case(CASE).scalar("SELECT error FROM runs WHERE run_id = ?", [e.value.run_id])
    assert SECRET in error and "\nSQL: " in error and "SQL" not in str(e.value)
    code, out, err = _cli(monkeypatch, capsys, "detect", "-t", "fan_in", "--backend", "spark",
                          "--spark-master", spark_master, "-w", str(p))
    assert code == 2 and SECRET not in err and err.count("\n") == 1
    assert err.startswith("error: detect: typology fan_in failed in the query engine (")


def test_bench_scale_on_both_engines(tmp_path, spark_master):
    """The scale benchmark runs the catalogue on each engine over the same graph: both find every
    planted pattern, the evidence found is the same, and each engine's figures are reported."""
    from moneytrail.bench.scale import bench_scale

    res = bench_scale(transactions=6_000, accounts=800, hubs=3, seed=5, planted=3, workdir=tmp_path,
                      backends=("duckdb", "spark"), backend_options={"spark": {"master": spark_master}})
    assert set(res["backends"]) == {"duckdb", "spark"}
    assert res["identical_findings"] is True
    for b in ("duckdb", "spark"):
        r = res["backends"][b]
        assert r["backend"] == b and r["detect_seconds"] > 0
        assert r["planted_found"] == {"cycles": 3, "scatter_gathers": 3, "fan_ins": 3}
    assert res["ratio"]["spark"]["detect_seconds"] > 0
    stats = res["backends"]["spark"]["engine_stats"]
    assert stats["fan_in"]["queries"] >= 1 and res["backends"]["spark"]["jvm_peak_rss_mb"] > 0
    assert "engine_stats" not in res["backends"]["duckdb"]


@pytest.mark.parametrize("args,line", [
    (["--backend", "postgres"], "error: --backend 'postgres': choose one of duckdb, spark"),
    (["--spark-master", "local[2]"], "error: --spark-master is for --backend spark"),
])
def test_bench_score_engine_options_are_one_line(tmp_path, monkeypatch, capsys, args, line):
    """bench score takes the engine like score does: a wrong one is one line, before any data is read."""
    code, out, err = _cli(monkeypatch, capsys, "bench", "score", "--data", str(tmp_path), "--no-baseline", *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith(line), err
