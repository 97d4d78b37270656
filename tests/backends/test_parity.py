"""One catalogue, two engines: every typology and every score feature gives the same answer on
DuckDB and on Spark, on every golden ledger (with generated employer and contract records beside
them, for the typologies that read those) and on ../shared/data/amlsim_small (issue 11).

Findings are the same keys with the same evidence transactions, accounts and roles, time span,
total and explanation, and scores within float tolerance; features agree within float tolerance.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from moneytrail.backends import DuckDBBackend, get_backend
from moneytrail.backends.dialect import CAPABILITIES, DUCKDB, SPARK
from moneytrail.detect import GRAPH, TYPOLOGIES
from moneytrail.errors import EngineError
from moneytrail.ingest import ingest_file
from moneytrail.ingest.accounts import load_accounts_mapping
from moneytrail.pipeline import run_pipeline
from moneytrail.synth.records import generate_records
from moneytrail.workspace import Workspace

from parity import detection_parity, feature_differences, findings

TESTS = Path(__file__).resolve().parent.parent
GOLDEN = TESTS / "golden"
LEDGERS = sorted((d.name, p.name[: -len(".csv")]) for d in (GOLDEN / "detect", GOLDEN / "flow")
                 for p in d.glob("*.csv") if not p.name.endswith(".accounts.csv"))
AMLSIM = TESTS.parent.parent / "shared" / "data" / "amlsim_small"


def _tagged(src: Path, dst: Path, tag: str, columns: tuple[str, ...]) -> Path:
    """A copy of a golden CSV whose account ids carry ``tag`` (``cash`` and blanks stay as they
    are), so that ledgers side by side in one workspace keep their own accounts."""
    with src.open(newline="") as fi, dst.open("w", newline="") as fo:
        r = csv.DictReader(fi)
        w = csv.DictWriter(fo, fieldnames=r.fieldnames)
        w.writeheader()
        for row in r:
            for c in columns:
                if row.get(c) and row[c] != "cash":
                    row[c] = tag + row[c]
            w.writerow(row)
    return dst


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """Every golden ledger in one workspace, each with its own accounts (ids tagged by ledger):
    the engines run every typology once over all of them, not once per ledger (a Spark query's
    fixed cost times 25 ledgers was most of this module's time)."""
    root = tmp_path_factory.mktemp("golden-parity")
    ws = Workspace.open(root / "golden.duckdb")
    for i, (family, name) in enumerate(LEDGERS):
        d, tag = GOLDEN / family, f"L{i:02d}-"
        acc = d / f"{name}.accounts.csv"
        if acc.exists():
            ingest_file(ws, _tagged(acc, root / f"{family}-{name}.accounts.csv", tag, ("account",)),
                        "accounts", mapping=load_accounts_mapping(d / "accounts.yaml"))
        ingest_file(ws, _tagged(d / f"{name}.csv", root / f"{family}-{name}.csv", tag, ("payer", "payee")),
                    "csv", mapping=d / "mapping.yaml")
    # the employer and contract typologies' records, one of each planted scheme and its look-alike
    # (moneytrail.synth.records; the months cross the 2025-10-01 micro-purchase threshold change),
    # with bank D's ledger and register: their own account ids, apart from the ledgers'
    records = generate_records(root / "records", seed=5, start=date(2025, 8, 1), months=5, n_offices=2,
                               n_vendors=20, n_employers=4, n_plants=1)
    for p, fmt, m in records.files:
        ingest_file(ws, p, fmt, mapping=m)
    run_pipeline(ws, stages=["resolve", "graph"])
    yield ws
    ws.close()


def _against_spark(compare, ws, master):
    """``compare(ws, duckdb, spark)``; an engine failure fails the test with the engine's own
    message (a Py4JJavaError says nothing without it: one CI run lost its cause that way)."""
    spark = get_backend(ws, "spark", master=master)
    try:
        return compare(ws, get_backend(ws), spark)
    except EngineError as e:
        pytest.fail(f"{e}: {e.detail[:3000]}")
    finally:
        spark.close()


def _typologies_against_spark(ws, master) -> dict[str, list[str]]:
    return _against_spark(detection_parity, ws, master)


def _features_against_spark(ws, master) -> tuple[int, list[str]]:
    return _against_spark(lambda _ws, first, second: feature_differences(first, second), ws, master)


def test_the_dialects_know_every_capability():
    assert DUCKDB.capabilities == frozenset(CAPABILITIES)
    assert SPARK.capabilities == frozenset(CAPABILITIES) - {"asof_join"}
    for typ in TYPOLOGIES:
        assert typ.needs <= frozenset(CAPABILITIES), typ.id
        assert typ.unsupported(DuckDBBackend(None)) is None


def test_every_typology_on_the_golden_ledgers(golden, spark_master):
    diffs = _typologies_against_spark(golden, spark_master)
    assert set(diffs) == {t.id for t in TYPOLOGIES}, "a typology did not run on the golden ledgers"
    assert {k: v for k, v in diffs.items() if v} == {}
    found = {typ.id: len(findings(typ, get_backend(golden))) for typ in TYPOLOGIES}
    assert all(found.values()), f"a typology found nothing to compare: {found}"


def test_every_feature_on_every_golden_ledger(golden, spark_master):
    """Both engines compute every feature of every golden transaction in one run."""
    n, diffs = _features_against_spark(golden, spark_master)
    assert n > 300
    assert diffs == []


@pytest.fixture(scope="module")
def amlsim(tmp_path_factory):
    if not AMLSIM.exists():
        pytest.fail(f"{AMLSIM} is missing: the parity tests need ../shared/data/amlsim_small")
    ws = Workspace.open(tmp_path_factory.mktemp("amlsim-parity") / "aml.duckdb")
    ingest_file(ws, AMLSIM, "amlsim")
    run_pipeline(ws, stages=["resolve", "graph"])
    yield ws
    ws.close()


def test_every_typology_on_amlsim_small(amlsim, spark_master):
    diffs = _typologies_against_spark(amlsim, spark_master)
    assert set(diffs) >= {t.id for t in GRAPH} | {"rapid_pass_through"}   # the rest: no cash or registers
    assert {k: v for k, v in diffs.items() if v} == {}


def test_every_feature_on_amlsim_small(amlsim, spark_master):
    n, diffs = _features_against_spark(amlsim, spark_master)
    assert n > 400_000
    assert diffs == []
