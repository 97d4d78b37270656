"""Values from outside never become SQL, the engine cannot reach the file system, and engine
errors never echo data (issue 10).

The attack that worked before: a typology parameter quoted by hand into the fan-in query, so
``fan_in.exclude_channels=x') AND CAST((SELECT content FROM read_text('<key>')) AS INTEGER)=1 AND
('a'='a`` made DuckDB read the audit log's signing key and print its seed in the conversion error.
Each defence is tested on its own: parameters are checked against what they take; every value
goes into SQL through ``moneytrail.sqlkit``; the workspace's engine refuses file access; and an
engine error shows the stage, typology and error class while its message goes to the run log only.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moneytrail import Session
from moneytrail.backends import get_backend
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.detect import BY_ID, TYPOLOGIES, resolve_params
from moneytrail.detect.base import MAX_TEXT, SHOWN
from moneytrail.detect.fan import FanIn, FanParams
from moneytrail.errors import ConfigError, EngineError
from moneytrail.ingest import parse_mapping
from moneytrail.pipeline import run_pipeline
from moneytrail.workspace import Workspace

MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})
SECRET_ACCOUNT = "SECRET-ACCT-7f3a9c"


def attack(key: Path) -> str:
    return f"x') AND CAST((SELECT content FROM read_text('{key}')) AS INTEGER)=1 AND ('a'='a"


@pytest.fixture
def case(tmp_path, monkeypatch):
    """A workspace with a task force, an analyst holding an active grant, a case and one source;
    its audit key in a folder of this test's own."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(keys))
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to"] + [f"2024-03-0{1 + i % 9},{900 + i},S{i},{SECRET_ACCOUNT}" for i in range(12)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    with Session.open(p, officer=AN, case=CASE) as s:
        s.ingest(tmp_path / "bank.csv", "csv", mapping=MAPPING, legal_basis=["subpoena"])
    (key,) = keys.glob("*.ed25519")
    return p, key, key.read_text().strip()


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_") or k == "MONEYTRAIL_KEY_DIR"}
    return subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "--as", AN, "--case", CASE, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


# -- the attack, as it was run ------------------------------------------------------------------

def test_read_text_attack_through_the_cli_shows_no_key(case, tmp_path):
    ws_path, key, seed = case
    assert len(seed) == 64
    p = cli("detect", "-w", str(ws_path), "-p", f"fan_in.exclude_channels={attack(key)}", cwd=tmp_path)
    line = one_error_line(p)
    assert seed not in p.stdout + p.stderr
    assert "fan_in" in line and "exclude_channels" in line and "is not a channel" in line
    assert "card" in line and "transfer" in line            # the channels that are allowed
    with Workspace.open(ws_path) as ws:                       # nor did it reach the run log
        assert not ws.scalar("SELECT count(*) FROM runs WHERE contains(coalesce(error, '') || "
                             "coalesce(summary, '') || coalesce(parameters, ''), ?)", [seed])


def test_the_attack_through_a_config_file_and_a_quote_in_a_name(case, tmp_path):
    ws_path, key, seed = case
    cfg = tmp_path / "params.yaml"
    cfg.write_text('fan_in:\n  exclude_channels: ["card", "' + attack(key).replace('"', '\\"') + '"]\n')
    p = cli("detect", "-w", str(ws_path), "--config", str(cfg), cwd=tmp_path)
    assert seed not in p.stdout + p.stderr and "exclude_channels" in one_error_line(p)
    p = cli("detect", "-w", str(ws_path), "-p", "fan_in.exclude_channels=card,o'brien", cwd=tmp_path)
    line = one_error_line(p)
    assert "fan_in: parameter exclude_channels: \"o'brien\" is not a channel" in line
    assert "cash, ach, wire, card, check, transfer, payroll, fee, interest, other" in line


def test_oversized_parameters_are_one_line(case, tmp_path):
    ws_path, _, _ = case
    p = cli("detect", "-w", str(ws_path), "-p", f"fan_in.window_days={10**30}", cwd=tmp_path)
    assert "window_days" in one_error_line(p) and "from 1 to 3660" in p.stderr
    cfg = tmp_path / "huge.yaml"
    cfg.write_text("fan_in:\n  exclude_channels: '" + "x" * 10_000_000 + "'\n")
    p = cli("detect", "-w", str(ws_path), "--config", str(cfg), cwd=tmp_path)
    line = one_error_line(p)
    assert "10,000,000 characters is too long" in line and len(line) < 400


# -- each defence on its own -----------------------------------------------------------------------

def test_a_hostile_value_that_got_past_the_checks_is_still_only_a_literal(case):
    """Defence in depth: the query builder writes even an unchecked value as one literal."""
    ws_path, key, seed = case
    p = dataclasses.replace(FanParams(), exclude_channels=("card", attack(key), "o'brien"))
    with Workspace.open(ws_path) as ws:
        run_pipeline(ws, stages=["resolve", "graph"])
        rows = get_backend(ws).execute(FanIn().query(p)).to_pylist()
    assert rows and seed not in repr(rows)          # the fan-in is found; nothing else happened


def test_the_workspace_engine_has_no_file_access(case, tmp_path):
    ws_path, key, seed = case
    with Workspace.open(ws_path) as ws:
        for sql in (f"SELECT content FROM read_text('{key}')", f"SELECT * FROM read_csv('{key}')",
                    f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'", f"ATTACH '{tmp_path / 'other.duckdb'}'",
                    "SET enable_external_access = true"):
            with pytest.raises(duckdb.Error) as e:
                ws.con.execute(sql).fetchall()
            assert seed not in str(e.value)
        with pytest.raises(duckdb.Error):             # nor through another cursor
            ws.con.cursor().execute(f"SELECT * FROM read_text('{key}')").fetchall()
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "other.duckdb").exists()


def _leaky_fan_in(self, p, d):
    """A fan-in query that fails on a data value: DuckDB quotes the value in its message."""
    return "SELECT CAST(dst AS INTEGER) AS key FROM edges"


def test_a_conversion_error_inside_a_typology_shows_no_data(case, monkeypatch):
    ws_path, _, _ = case
    monkeypatch.setattr(FanIn, "sql", _leaky_fan_in)
    with Workspace.open(ws_path) as ws:
        with pytest.raises(EngineError) as ei:
            run_pipeline(ws, stages=["resolve", "graph", "detect"], params={"detect": {"typologies": ["fan_in"]}})
        e = ei.value
        run_id = ws.scalar("SELECT max(run_id) FROM runs WHERE command = 'detect'")
        assert str(e) == (f"detect: typology fan_in failed in the query engine (ConversionException); "
                          f"the full message is in the run log (run {run_id})")
        assert SECRET_ACCOUNT not in str(e) and SECRET_ACCOUNT not in repr(e.args)
        assert e.__cause__ is None and e.__suppress_context__            # the original is not chained
        status, error = ws.query("SELECT status, error FROM runs WHERE run_id = ?", [run_id])[0]
        assert status == "failed" and SECRET_ACCOUNT in error and "ConversionException" in error


def test_the_cli_prints_the_stage_and_class_only(case, monkeypatch, capsys):
    ws_path, _, _ = case
    monkeypatch.setattr(FanIn, "sql", _leaky_fan_in)
    from moneytrail.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["moneytrail", "--as", AN, "--case", CASE, "detect", "-t", "fan_in",
                                      "-w", str(ws_path)])
    with pytest.raises(SystemExit) as ex:
        cli_main.main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and SECRET_ACCOUNT not in err
    assert err.count("\n") == 1 and err.startswith("error: detect: typology fan_in failed in the query engine "
                                                   "(ConversionException); the full message is in the run log (run ")


def test_engine_errors_outside_a_stage_give_the_class_only(case, monkeypatch, capsys):
    ws_path, _, _ = case
    from moneytrail.cli import main as cli_main

    def leaky(self, *a, **k):
        self._ws.con.execute(f"SELECT CAST('{SECRET_ACCOUNT}' AS INTEGER)").fetchall()

    monkeypatch.setattr(Session, "findings", leaky)
    monkeypatch.setattr(sys, "argv", ["moneytrail", "--as", AN, "--case", CASE, "findings", "-w", str(ws_path)])
    with pytest.raises(SystemExit) as ex:
        cli_main.main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and SECRET_ACCOUNT not in err and err.count("\n") == 1
    assert err.startswith("error: the query engine failed (ConversionException)")


def test_backend_errors_keep_the_message_out_of_the_error_text(ws):
    be = get_backend(ws)
    for call in (lambda: be.execute(f"SELECT CAST('{SECRET_ACCOUNT}' AS INTEGER)"),
                 lambda: be.materialize("_t", f"SELECT CAST('{SECRET_ACCOUNT}' AS INTEGER) AS x", temp=True),
                 lambda: be.run(f"SELECT CAST('{SECRET_ACCOUNT}' AS INTEGER)")):
        with pytest.raises(EngineError) as e:
            call()
        assert SECRET_ACCOUNT not in str(e.value) and SECRET_ACCOUNT in e.value.detail
        assert e.value.kind == "ConversionException" and e.value.__cause__ is None
    with pytest.raises(ValueError):           # a table name is the code's own, never a value
        be.materialize("t; DROP TABLE runs", "SELECT 1")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line(case, tmp_path):
    ws_path, _, _ = case
    p = cli("trace", "--source", "10000000001", "--format", "json", "--no-save", "--out", "/dev/full",
            "-w", str(ws_path), cwd=tmp_path)
    line = one_error_line(p)
    assert line.startswith("error: disk full: ") and "No space left on device" in line


# -- what each parameter takes -------------------------------------------------------------------

def test_every_default_is_allowed_and_every_parameter_declares_what_it_takes():
    for t in TYPOLOGIES:
        p = t.Params()
        p.validate(t.id)
        assert set(t.Params.specs()) == {f.name for f in dataclasses.fields(p)}


@pytest.mark.parametrize("tid", sorted(BY_ID))
def test_values_outside_what_a_parameter_takes_are_refused(tid):
    specs = BY_ID[tid].Params.specs()
    for name, spec in specs.items():
        if spec.kind == "int":
            bad = [spec.hi + 1, spec.lo - 1, "1.5", "ten", 10**30, True, None]
        elif spec.kind == "number":
            bad = [spec.hi * 2 + 1, spec.lo if spec.lo_open else spec.lo - 1, "nan", "inf", "1e999",
                   "0.1234567", "x", True, None]
        elif spec.kind == "bool":
            bad = ["maybe", 2, "", None, 0.5]
        else:
            bad = ["card,o'brien", ["ok", 7], 12, "x" * (MAX_TEXT + 1)]
        for v in bad:
            with pytest.raises(ConfigError) as e:
                resolve_params({tid: {name: v}})
            msg = str(e.value)
            assert msg.startswith(f"{tid}: parameter {name}: ") and "allowed: " in msg, msg
            assert len(msg.split("allowed: ")[0]) < SHOWN + 120 and "\n" not in msg


@pytest.mark.parametrize("tid", sorted(BY_ID))
def test_bounds_and_text_forms_are_accepted(tid):
    specs = BY_ID[tid].Params.specs()
    for name, spec in specs.items():
        if spec.kind == "int":
            good = [spec.hi, str(spec.hi), spec.lo + int(spec.lo_open)]
        elif spec.kind == "number":
            good = [spec.hi, str(spec.hi), "0.5" if spec.hi >= 0.5 and spec.lo < 0.5 else spec.hi]
        elif spec.kind == "bool":
            good = ["yes", "No", "1", "0", True, "TRUE", 0]
        else:
            good = [",".join(spec.vocab()[:2]), list(spec.vocab()[:1]), ""]
        for v in good:
            try:
                resolve_params({tid: {name: v}})
            except ConfigError as e:      # a cross-field check may refuse a bound: it says so
                assert "must be" in str(e) and "parameter" in str(e), (name, v, e)


@settings(max_examples=150, deadline=None)   # the first parse of a query is slow
@given(tid=st.sampled_from(sorted(BY_ID)), data=st.data(),
       value=st.one_of(st.text(max_size=60), st.integers(), st.floats(allow_nan=True), st.booleans(),
                       st.lists(st.text(max_size=12), max_size=4), st.none()))
def test_any_value_is_a_checked_parameter_or_a_config_error(tid, data, value):
    name = data.draw(st.sampled_from(sorted(BY_ID[tid].Params.specs())))
    try:
        p = resolve_params({tid: {name: value}})[tid]
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith(tid)
        return
    p.validate(tid)                                  # what was accepted is within the declaration
    if tid not in ("cycle", "round_trip"):           # (those two search step by step: see run())
        assert BY_ID[tid].query(p) is not None       # and its query is one parsable statement


def test_unknown_typologies_and_parameter_names_are_shown_cut(case):
    with pytest.raises(ConfigError, match="unknown typology 'xxx"):
        resolve_params({"x" * 10_000: {}})
    with pytest.raises(ConfigError) as e:
        resolve_params({"fan_in": {"y" * 10_000: 1}})
    assert len(str(e.value)) < 400


def test_trace_and_read_options_are_checked(case):
    ws_path, _, _ = case
    with Session.open(ws_path, officer=AN, case=CASE) as s:
        for srcs, opts, msg in (([10**30], {}, "not a transaction id"),
                                ([-1], {}, "not a transaction id"),
                                ([10000000001], {"openings": {"S1": "1e20"}}, "opening balance"),
                                ([10000000001], {"rule": "nope"}, "unknown tracing rule")):
            with pytest.raises(ConfigError, match=msg):
                s.trace(srcs, **opts)
        with pytest.raises(ConfigError, match="--limit"):
            s.findings(limit=-1)
        with pytest.raises(ConfigError, match="--min-score"):
            s.export(ws_path.parent / "out", min_score=float("nan"))
    from moneytrail.trace.backward import Target
    with Session.open(ws_path, officer=AN, case=CASE) as s:
        with pytest.raises(ConfigError, match="--max-hops"):
            s.trace([], direction="backward", target=Target(tx_id=10000000001), max_hops=10**9)


def test_docs_say_what_every_parameter_takes():
    text = (Path(__file__).parent.parent / "docs" / "typologies.md").read_text(encoding="utf-8")
    table = text.split("## What each parameter takes")[1].split("\n## ")[0]
    for t in TYPOLOGIES:
        for name in t.Params.specs():
            assert f"`{name}`" in table, (t.id, name)
