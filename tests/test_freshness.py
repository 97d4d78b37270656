"""Freshness in one place (issue 11, item 4): the pipeline alone decides whether a derived table is
stale, by one rule (moneytrail.freshness): a product is rebuilt when it is missing or its recorded
version (its stage, parameters and the versions of its inputs; the evidence's version is one
query over the schema's sources) differs from the current one.

Every test works in a case of the demo task force, as the commands do: new evidence reaches the
graph every entry point reads (detect, trace, score), nothing changed rebuilds nothing, a
withdrawal or a share changes the case's evidence and a tag does not.
"""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail import Session
from moneytrail.authority.registry import open_case
from moneytrail.backends import DuckDBBackend
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_JURISDICTION
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.freshness import EVIDENCE, PRODUCERS, RECORDS, ensure, evidence_version, records
from moneytrail.ingest import ingest_file, parse_mapping
from moneytrail.pipeline import STAGES, run_pipeline
from moneytrail.workspace import Workspace

MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})
FAN = {"detect": {"typologies": ["fan_in"]}}
SRC = Path(__file__).resolve().parents[1] / "src" / "moneytrail"
# what resolve and graph make (the products detect needs)
RESOLVE_AND_GRAPH = ("account_map", "party_records", "transfer_matches", "match_pairs", "entity_members", "entities",
                     "account_entities", "edges", "nodes")
_names = itertools.count(1)


@pytest.fixture
def ws(tmp_path):
    with Workspace.open(tmp_path / "case.duckdb") as w:
        setup_demo_authority(w)
        yield w


def _ingest(ws, folder: Path, rows, case: str = CASE) -> int:
    """A CSV of (day in March 2024, amount, payer, payee) into the case; returns its source id."""
    return ingest_file(ws.for_case(case), _write(folder, rows), "csv", mapping=MAPPING, legal_basis=["subpoena"]).source_id


ORDINARY = [(1 + i % 20, 100 + i, "A", "B") for i in range(6)]
FUNNEL = [(2 + i % 10, 900, f"W{i}", "FUNNEL") for i in range(12)]   # 12 payers into one account in 10 days


def _edges(cw) -> list[int]:
    return [r[0] for r in cw.query("SELECT tx_id FROM edges ORDER BY tx_id")]


def _live(cw) -> list[int]:
    return [r[0] for r in cw.query("SELECT tx_id FROM transactions ORDER BY tx_id")]


def _builds(cw) -> dict[str, int]:
    return {p: r["builds"] for p, r in records(cw).items()}


# -- new evidence reaches every entry point ------------------------------------------------------

def test_detect_sees_a_second_file_ingested_into_the_case(ws, tmp_path):
    cw = ws.for_case(CASE)
    _ingest(ws, tmp_path, ORDINARY)
    first = run_pipeline(cw, stages=["detect"], params=FAN)
    assert first["stages"]["detect"]["findings"]["fan_in"] == 0
    assert set(first["rebuilt"]) == {"resolve", "graph"}             # missing: built before detect ran
    assert first["rebuilt"]["graph"]["rebuilt_because"] == "edges is missing"
    _ingest(ws, tmp_path, FUNNEL)
    again = run_pipeline(cw, stages=["detect"], params=FAN)
    assert again["rebuilt"]["graph"]["rebuilt_because"] == "the evidence and what resolve makes changed"
    assert again["rebuilt"]["resolve"]["rebuilt_because"] == "the evidence changed"
    assert _edges(cw) == _live(cw) and len(_edges(cw)) == len(ORDINARY) + len(FUNNEL)
    assert again["stages"]["detect"]["findings"]["fan_in"] == 1
    f = cw.records("SELECT a.account_id FROM findings f JOIN finding_accounts a USING (finding_id) "
                   "WHERE f.typology = 'fan_in' AND a.role = 'receiver'")
    assert f == [{"account_id": "FUNNEL"}]
    # the run log says what was rebuilt and why
    why = cw.query("SELECT json_extract_string(parameters, '$.freshness.rebuilt_because') FROM runs "
                   "WHERE command = 'graph' ORDER BY run_id")
    assert [r[0] for r in why] == ["edges is missing", "the evidence and what resolve makes changed"]


def test_the_session_detect_after_a_new_ingest(ws, tmp_path):
    s = Session(ws, AN, CASE)
    s.ingest(_write(tmp_path, ORDINARY), "csv", mapping=MAPPING, legal_basis=["subpoena"])
    assert s.detect(typologies=["fan_in"])["findings"]["fan_in"] == 0
    s.ingest(_write(tmp_path, FUNNEL), "csv", mapping=MAPPING, legal_basis=["subpoena"])
    assert s.detect(typologies=["fan_in"])["findings"]["fan_in"] == 1
    cw = ws.for_case(CASE)
    assert _edges(cw) == _live(cw)
    assert _builds(cw)["edges"] == 2


def _write(folder: Path, rows) -> Path:
    p = folder / f"bank-{next(_names)}.csv"
    p.write_text("d,amt,from,to\n" + "".join(f"2024-03-{d:02d},{a},{f},{t}\n" for d, a, f, t in rows))
    return p


def test_trace_sees_a_second_file(ws, tmp_path):
    from moneytrail.trace.api import trace

    cw = ws.for_case(CASE)
    _ingest(ws, tmp_path, ORDINARY)
    run_pipeline(cw, stages=["resolve", "graph"])
    sid = _ingest(ws, tmp_path, FUNNEL)
    tx = cw.scalar("SELECT min(tx_id) FROM transactions WHERE source_id = ?", [sid])
    out = trace(cw, [tx], rule="fifo")
    assert out["sources"][0]["to"] == "FUNNEL"
    assert out["rules"]["fifo"]["accounts"]["FUNNEL"]["tainted_held"] == Decimal("900")
    assert _edges(cw) == _live(cw)
    assert records(cw)["edges"]["summary"]["rebuilt_because"] == "the evidence and what resolve makes changed"
    # the trace stage: its balances are products too, built from the current graph
    out = run_pipeline(cw, stages=["trace"])
    assert out["stages"]["trace"]["balance_events"] == cw.scalar("SELECT count(*) FROM balances") > 0
    assert run_pipeline(cw, stages=["trace"])["stages"]["trace"]["up_to_date"] is True


def test_score_sees_a_second_file(ws, tmp_path):
    from moneytrail.score import score, train
    from test_score import _amlsim_like

    cw = ws.for_case(CASE)
    ingest_file(cw, _amlsim_like(tmp_path / "aml"), "amlsim", legal_basis=["synthetic-demo"])
    n0 = cw.scalar("SELECT count(*) FROM transactions")
    train(cw, seed=0, threads=1)
    assert _builds(cw)["edges"] == 1
    _ingest(ws, tmp_path, [(5, 250, "0", "NEW-ACCOUNT")])
    made: list[str] = []

    class Counting(DuckDBBackend):          # another backend: it computes the features
        def materialize(self, name, query, *, temp=False):
            made.append(name)
            return super().materialize(name, query, temp=temp)

    res = score(cw, backend=Counting(cw.con))
    assert "features" in made and "edges" not in made              # the graph is built in the workspace
    assert res["transactions"] == n0 + 1 == cw.scalar("SELECT count(*) FROM scores WHERE model_id = ?",
                                                        [res["model_id"]])
    assert cw.scalar("SELECT count(*) FROM account_scores WHERE account_id = 'NEW-ACCOUNT'") == 1
    assert _builds(cw)["edges"] == 2
    score(cw)                                                      # nothing changed: the graph is kept
    assert _builds(cw)["edges"] == 2


# -- nothing changed, nothing rebuilt ----------------------------------------------------------------

def test_nothing_changed_nothing_rebuilt(ws, tmp_path):
    cw = ws.for_case(CASE)
    sid = _ingest(ws, tmp_path, ORDINARY + FUNNEL)
    run_pipeline(cw, stages=["detect"], params=FAN)
    before = records(cw)
    assert {p: r["builds"] for p, r in before.items()} == {p: 1 for p in RESOLVE_AND_GRAPH}
    again = run_pipeline(cw, stages=["detect"], params=FAN)
    assert again["rebuilt"] == {}
    assert ensure(cw, ["edges", "nodes", "account_map"]) == {}
    # named stages that find their products current say so, and rebuild nothing
    named = run_pipeline(cw, stages=["resolve", "graph", "detect"], params=FAN)
    assert named["stages"]["graph"]["up_to_date"] is True
    assert named["stages"]["graph"]["edges"] == len(ORDINARY + FUNNEL)
    assert named["stages"]["graph"]["built_in_run"] == before["edges"]["run_id"]
    # a legal-basis tag changes who may read the source, not what is read
    v = evidence_version(cw)
    assert Session(ws, AN, CASE).tag(sid, ["court-order:CO-7"]) == ["court-order:CO-7"]
    assert evidence_version(cw) == v
    run_pipeline(cw, stages=["detect"], params=FAN)
    assert records(cw) == before


def test_each_schema_keeps_its_own_versions(ws, tmp_path):
    _ingest(ws, tmp_path, ORDINARY)
    cw = ws.for_case(CASE)
    run_pipeline(cw, stages=["graph"])
    assert records(cw)["edges"]["builds"] == 1
    assert not ws.table_exists("product_versions")                # main's: not touched by the case
    assert set(ensure(ws, ["edges"])) == {"resolve", "graph"}     # main: the whole workspace
    assert ws.scalar("SELECT count(*) FROM main.product_versions") == len(RESOLVE_AND_GRAPH)
    _ingest(ws, tmp_path, FUNNEL)
    run_pipeline(cw, stages=["graph"])
    assert records(cw)["edges"]["builds"] == 2 and records(ws)["edges"]["builds"] == 1
    assert ensure(ws, ["nodes"])["graph"]["rebuilt_because"] == "the evidence and what resolve makes changed"
    assert ws.scalar("SELECT count(*) FROM main.edges") == len(ORDINARY) + len(FUNNEL)


# -- what changes the evidence's version -------------------------------------------------------------

def test_a_withdrawn_source_changes_the_version_and_leaves_the_graph(ws, tmp_path):
    cw = ws.for_case(CASE)
    keep = _ingest(ws, tmp_path, ORDINARY)
    wrong = _ingest(ws, tmp_path, FUNNEL)
    run_pipeline(cw, stages=["detect"], params=FAN)
    v = evidence_version(cw)
    Session(ws, AN, CASE).withdraw(wrong, "the wrong account's statement")
    assert evidence_version(cw) != v
    out = run_pipeline(cw, stages=["detect"], params=FAN)
    assert out["rebuilt"]["graph"]["rebuilt_because"] == "the evidence and what resolve makes changed"
    assert _edges(cw) == _live(cw)
    assert cw.scalar("SELECT count(DISTINCT tx_id // 10000000000) FROM edges") == 1
    assert cw.scalar("SELECT min(tx_id // 10000000000) FROM edges") == keep
    assert out["stages"]["detect"]["findings"]["fan_in"] == 0


def test_a_shared_source_changes_the_other_cases_version(ws, tmp_path):
    open_case(ws, AN, "OP-2", function="asset-seizure", jurisdiction=DEMO_JURISDICTION,
              predicate="Structured deposits into one account from many payers")
    other = ws.for_case("OP-2")
    _ingest(ws, tmp_path, ORDINARY, case="OP-2")
    run_pipeline(other, stages=["detect"], params=FAN)
    v, mine = evidence_version(other), evidence_version(ws.for_case(CASE))
    sid = _ingest(ws, tmp_path, FUNNEL)
    assert evidence_version(other) == v                            # another case's ingest: not OP-2's evidence
    Session(ws, AN, CASE).share(sid, "OP-2")
    assert evidence_version(other) != v
    assert evidence_version(ws.for_case(CASE)) != mine             # (its own ingest changed CASE's)
    out = run_pipeline(other, stages=["detect"], params=FAN)
    assert out["stages"]["detect"]["findings"]["fan_in"] == 1
    assert _edges(other) == _live(other) and len(_edges(other)) == len(ORDINARY) + len(FUNNEL)


# -- parameters ---------------------------------------------------------------------------------------

def test_a_parameter_that_changes_the_content_rebuilds(ws, tmp_path):
    cw = ws.for_case(CASE)
    # A pays B in 2 distinct months: established with 2, not with the default 3
    _ingest(ws, tmp_path, ORDINARY)
    p = tmp_path / "april.csv"
    p.write_text("d,amt,from,to\n2024-04-02,50,A,B\n")
    ingest_file(cw, p, "csv", mapping=MAPPING, legal_basis=["subpoena"])
    run_pipeline(cw, stages=["graph"])
    assert cw.scalar("SELECT count(*) FILTER (WHERE established) FROM edges") == 0
    out = run_pipeline(cw, stages=["graph"], params={"graph": {"established_min_months": 2}})
    assert out["stages"]["graph"]["rebuilt_because"] == "its parameters changed"
    assert records(cw)["edges"]["params"] == {"established_min_months": 2, "level": "account"}
    assert records(cw)["account_map"]["builds"] == 1               # resolve has no such parameter
    assert cw.scalar("SELECT bool_and(established) FROM edges") is True
    # needed by another stage, the graph keeps the parameters it was built with
    assert run_pipeline(cw, stages=["detect"], params=FAN)["rebuilt"] == {}
    _ingest(ws, tmp_path, [(9, 5, "C", "D")])
    run_pipeline(cw, stages=["detect"], params=FAN)
    assert records(cw)["edges"]["params"] == {"established_min_months": 2, "level": "account"}
    assert cw.scalar("SELECT count(*) FILTER (WHERE established) FROM edges") == len(ORDINARY) + 1
    # named again without it: the default, rebuilt
    out = run_pipeline(cw, stages=["graph"])
    assert out["stages"]["graph"]["rebuilt_because"] == "its parameters changed"
    assert cw.scalar("SELECT count(*) FILTER (WHERE established) FROM edges") == 0
    # the same parameter given as it stands is no change
    assert run_pipeline(cw, stages=["graph"], params={"graph": {"established_min_months": 3}}
                        )["stages"]["graph"]["up_to_date"] is True


def test_backend_options_reach_get_backend(ws, tmp_path, monkeypatch):
    import moneytrail.pipeline as pipeline

    seen = []

    def fake(w, name="duckdb", **options):
        seen.append((name, options))
        return DuckDBBackend(w.con)

    monkeypatch.setattr(pipeline, "get_backend", fake)
    _ingest(ws, tmp_path, ORDINARY)
    cw = ws.for_case(CASE)
    run_pipeline(cw, stages=["detect"], params=FAN, backend="duckdb", backend_options={"master": "local[1]"})
    run_pipeline(cw, stages=["detect"], params=FAN)
    assert seen == [("duckdb", {"master": "local[1]"}), ("duckdb", {})]


def test_a_failed_build_is_rebuilt_next_time(ws, tmp_path):
    from moneytrail.errors import ConfigError

    cw = ws.for_case(CASE)
    _ingest(ws, tmp_path, ORDINARY)
    run_pipeline(cw, stages=["graph"])
    with pytest.raises(ConfigError, match="established_min_months"):
        run_pipeline(cw, stages=["graph"], params={"graph": {"established_min_months": 0}})
    assert "edges" not in records(cw)                              # unrecorded: not trusted
    assert cw.scalar("SELECT status FROM runs WHERE command = 'graph' ORDER BY run_id DESC LIMIT 1") == "failed"
    out = run_pipeline(cw, stages=["detect"], params=FAN)
    assert out["rebuilt"]["graph"]["rebuilt_because"] == "edges has no recorded version"
    assert records(cw)["edges"]["params"] == {"established_min_months": 3, "level": "account"}


# -- the declarations, and no cycle ------------------------------------------------------------------

def test_every_stage_declares_what_it_reads_and_makes():
    import importlib

    from moneytrail.freshness import producers

    makers = producers()
    assert set(PRODUCERS) <= set(STAGES)
    for name in STAGES:
        mod = importlib.import_module(name)
        if name == "moneytrail.ingest":          # writes the evidence itself
            continue
        assert isinstance(mod.NEEDS, tuple) and isinstance(mod.MAKES, tuple), name
        for need in mod.NEEDS:
            assert need in EVIDENCE or need in RECORDS or need in makers, (name, need)
        assert (name in PRODUCERS) == (bool(mod.MAKES) and all(m in makers for m in mod.MAKES)), name
    from moneytrail import graph, trace
    from moneytrail.trace import balances

    assert graph.PARAMS == {"established_min_months": graph.DEFAULT_ESTABLISHED_MIN_MONTHS, "level": "account"}
    assert trace.PARAMS["max_gap_days"] == balances.DEFAULT_MAX_GAP_DAYS
    with pytest.raises(ValueError, match="neither evidence"):
        ensure(None, ["edgez"])


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_stage_imports_the_pipeline():
    files = [SRC / "freshness.py", SRC / "report" / "stage.py"] + [
        p for d in ("resolve", "graph", "detect", "score", "trace") for p in (SRC / d).rglob("*.py")]
    for f in files:
        assert not any(n == "moneytrail.pipeline" or n.startswith("moneytrail.pipeline.") for n in _imports(f)), f


def test_trace_and_score_work_with_the_pipeline_blocked(tmp_path):
    """The graph is brought up to date through moneytrail.freshness alone: with moneytrail.pipeline
    made unimportable, a trace on a workspace without a graph builds it and runs."""
    code = f"""
import sys
sys.modules["moneytrail.pipeline"] = None
import moneytrail.score, moneytrail.trace.api
sys.path.insert(0, {str(Path(__file__).parent)!r})
import datetime as dt
from trace_helpers import load_ledger
from moneytrail.workspace import Workspace
from moneytrail.freshness import records
with Workspace.open({str(tmp_path / 'w.duckdb')!r}) as ws:
    ids = load_ledger(ws, [(dt.datetime(2024, 1, 1), "A", "B", 100), (dt.datetime(2024, 1, 2), "B", "C", 60)])
    out = moneytrail.trace.api.trace(ws, [ids[0]], rule="libr")
    assert out["rules"]["libr"]["accounts"]["C"]["tainted_held"] == 60, out["rules"]["libr"]["accounts"]
    assert records(ws)["edges"]["builds"] == 1
print("ok", "moneytrail.pipeline" in sys.modules and sys.modules["moneytrail.pipeline"] is None)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["ok", "True"]


# -- any sequence of ingests, withdrawals and detects --------------------------------------------------

OPS = st.lists(st.sampled_from(["ingest", "withdraw", "detect"]), min_size=1, max_size=6)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_leaves_edges_with_exactly_the_live_transactions(ops):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Workspace.open(folder / "case.duckdb") as ws:
            setup_demo_authority(ws)
            cw = ws.for_case(CASE)
            live: list[int] = []
            n = 0
            for op in ops + ["ingest", "detect"]:
                if op == "ingest":
                    n += 1
                    live.append(_ingest(ws, folder, [(1 + i, 10 * n + i, f"P{n}-{i}", f"Q{i % 2}")
                                                     for i in range(n)]))
                elif op == "withdraw" and live:
                    Session(ws, AN, CASE).withdraw(live.pop(0), "withdrawn in a property test")
                elif op == "detect":
                    run_pipeline(cw, stages=["detect"], params=FAN)
                    assert _edges(cw) == _live(cw)
                    assert cw.scalar("SELECT count(DISTINCT tx_id // 10000000000) FROM edges") == len(live)
