"""``moneytrail trace``: formats, saving into the workspace, the report section, errors, bench."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from moneytrail.workspace import Workspace
from moneytrail.cli.main import app
from moneytrail.demo import DEMO_CASE, DEMO_OFFICER, setup_demo_authority
from moneytrail.report import render_report

from trace_helpers import load_ledger, tx_id

LEDGER = [
    ("2024-01-01", "X", "A", 100),      # 1: tainted
    ("2024-01-02", "cash", "A", 50),
    ("2024-01-03", "A", "Z", 120),      # 3: the payment traced back
    ("2024-01-04", "cash", "A", 200),
    ("2024-01-05", "Z", "cash", 60),    # leaves the ledger
]


@pytest.fixture
def case(tmp_path):
    """A task-force workspace (the demo registry and its open case) holding the ledger."""
    path = tmp_path / "case.duckdb"
    with Workspace.open(path) as ws:
        case = setup_demo_authority(ws)
        load_ledger(ws.for_case(case), LEDGER)
    return path


def run(*args):
    r = CliRunner().invoke(app, [*args], catch_exceptions=False, env={"MONEYTRAIL_OFFICER": DEMO_OFFICER})
    assert r.exit_code == 0, r.output
    return r.output


def test_forward_json_has_every_rule_and_the_per_account_figures(case):
    out = json.loads(run("trace", "--source", str(tx_id(1)), "--rule", "all", "-f", "json", "-w", str(case)))
    assert list(out["rules"]) == ["libr", "fifo", "lifo", "prorata", "poison", "replenish"]   # all: not haircut
    libr = out["rules"]["libr"]
    assert libr["accounts"]["A"]["tainted_received"] == 100 and libr["accounts"]["A"]["tainted_held"] == 30
    # Z received 70 tainted + 50 clean; its 60 to cash takes the 50 clean first: 10 tainted leave
    assert libr["accounts"]["Z"]["tainted_held"] == 60 and libr["exits"]["cash"]["tainted"] == 10
    assert out["rules"]["fifo"]["accounts"]["Z"]["tainted_held"] == 40
    assert libr["schedule"][0]["account"] == "A" and libr["schedule"][0]["event"] == "b/f"
    assert all(s["tainted_after"] <= s["balance_after"] for s in libr["schedule"])
    assert out["trace_id"] == 1 and out["assumptions"]
    assert libr["accounts"]["A"]["s984"] is True          # tainted money entered within the year
    with Workspace.open(case) as main:
        ws = main.for_case(DEMO_CASE)                       # what the case derived lives in its own schema
        assert ws.scalar("SELECT count(*) FROM traces") == 1
        assert ws.scalar("SELECT count(DISTINCT rule) FROM trace_accounts") == 6
        assert ws.scalar("SELECT count(*) FROM runs WHERE command = 'trace' AND status = 'ok'") == 1


def test_table_csv_html_and_no_save(case):
    t = run("trace", "--source", str(tx_id(1)), "--rule", "all", "--schedule", "--no-save", "-w", str(case))
    assert "totals per rule" in t and "tracing schedule under libr" in t and "clean money first" in t
    # which totals add up, in the table: a column per rule and the note under it
    rows: dict[str, str] = {}
    for ln in t.splitlines():          # the first line starting with a rule's name is its totals row
        if ln.split()[:1] and ln.split()[0] in ("libr", "fifo", "lifo", "prorata", "poison", "replenish"):
            rows.setdefault(ln.split()[0], ln)
    assert "adds up" in t and "held + left = sources" in rows["libr"] and "held + left = sources" in rows["prorata"]
    assert "creates taint: +250.00" in rows["poison"]          # A 230 + Z 60 held, 60 left: 350 from 100
    assert "creates taint: +70.00" in rows["replenish"]       # A 100 + Z 60 held, 10 left: 170 from 100
    assert "how to read the totals" in t
    assert "conserving rules (libr, fifo, lifo, prorata, haircut): still held + left the ledger = sources" in t
    assert "poison and replenish create taint" in t
    assert "984 forfeitable is per account" in t and "its total is not money traced" in t
    assert "unrecorded funds is money the ledger does not show" in t and "it is not traced money" in t
    c = list(csv.DictReader(io.StringIO(run("trace", "-s", str(tx_id(1)), "-r", "all", "-f", "csv", "--no-save",
                                            "-w", str(case)))))
    assert {r["rule"] for r in c} == {"libr", "fifo", "lifo", "prorata", "poison", "replenish"}
    assert next(r for r in c if r["rule"] == "libr" and r["account"] == "A")["tainted_held"] == "30.00"
    sc = list(csv.DictReader(io.StringIO(run("trace", "-s", str(tx_id(1)), "-r", "prorata", "-f", "csv",
                                             "--schedule", "--no-save", "-w", str(case)))))
    assert sc and set(sc[0]) >= {"rule", "account", "tx_id", "tainted", "tainted_after", "note"}
    html = run("trace", "-s", str(tx_id(1)), "-r", "libr,fifo", "-f", "html", "--no-save", "-w", str(case))
    assert '<svg class="sankey"' in html and "Tracing schedule under libr" in html and "<script" not in html
    # the page says which totals add up, per rule and in a note
    assert "How to read the totals" in html and "<span>held + left = sources</span>" in html
    poison = run("trace", "-s", str(tx_id(1)), "-r", "poison", "-f", "html", "--no-save", "-w", str(case))
    assert "creates taint: +" in poison
    with Workspace.open(case) as main:
        assert main.for_case(DEMO_CASE).scalar("SELECT count(*) FROM traces") == 0


def test_declared_holding_and_backward(case):
    out = json.loads(run("trace", "--account", "A", "--amount", "40", "--at", "2024-01-04", "-r", "lifo",
                         "-f", "json", "-w", str(case)))
    assert out["sources"][0]["kind"] == "holding" and out["rules"]["lifo"]["declared"][0]["applied"] == 40
    back = json.loads(run("trace", "-d", "backward", "--target", str(tx_id(3)), "-s", str(tx_id(1)),
                          "-r", "all", "-f", "json", "-w", str(case)))
    assert back["target"]["amount"] == 120
    assert {n: r["tainted"] for n, r in back["rules"].items()} == {
        "libr": 70, "fifo": 100, "lifo": 70, "prorata": 80, "poison": 120, "replenish": 70}
    for n in ("libr", "fifo", "lifo", "prorata"):
        assert back["rules"][n]["funding_tainted"] == back["rules"][n]["tainted"]
    bal = json.loads(run("trace", "-d", "backward", "--account", "A", "--at", "2024-01-04", "-r", "fifo",
                         "-f", "json", "--no-save", "-w", str(case)))
    assert bal["target"]["kind"] == "balance" and bal["rules"]["fifo"]["target_amount"] == 230
    assert bal["rules"]["fifo"]["tainted"] is None               # no taint sources given


def test_report_shows_saved_traces_with_a_sankey(case, tmp_path):
    with Workspace.open(case) as ws:
        plain = render_report(ws.for_case(DEMO_CASE), tmp_path / "before.html").read_text()
    assert 'id="traces"' not in plain
    run("trace", "-s", str(tx_id(1)), "-r", "all", "-w", str(case))
    run("trace", "-d", "backward", "--target", str(tx_id(3)), "-s", str(tx_id(1)), "-w", str(case))
    with Workspace.open(case) as ws:
        text = render_report(ws.for_case(DEMO_CASE), tmp_path / "after.html").read_text()
    assert '<section id="traces">' in text and 'href="#traces"' in text
    assert text.count('<svg class="sankey"') == 2 and 'id="trace-1"' in text and 'id="trace-2"' in text
    assert "Funding of the target" in text and "Tracing schedule under libr" in text
    assert "How to read the totals of a forward trace" in text
    assert "poison and replenish create taint" in text and "984 forfeitable is per account" in text
    assert "conserving rules (libr, fifo, lifo, prorata, haircut)" in text


def test_haircut_is_prorata_by_name_and_not_in_all(case):
    """haircut is the proportional rule under its crypto name: prorata's figures, forward and
    backward; --rule all leaves it out, all,haircut adds it."""
    def same(a, b):
        skip = {"rule", "title", "definition", "legal_sources", "seconds", "transactions_per_second"}
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}

    fwd = json.loads(run("trace", "-s", str(tx_id(1)), "-r", "all,haircut", "-f", "json", "--no-save",
                         "-w", str(case)))
    assert list(fwd["rules"]) == ["libr", "fifo", "lifo", "prorata", "poison", "replenish", "haircut"]
    same(fwd["rules"]["prorata"], fwd["rules"]["haircut"])      # schedule notes included
    assert fwd["rules"]["haircut"]["conserving"] is True and fwd["rules"]["haircut"]["title"].startswith("Haircut")
    back = json.loads(run("trace", "-d", "backward", "--target", str(tx_id(3)), "-s", str(tx_id(1)),
                          "-r", "prorata,haircut", "-f", "json", "--no-save", "-w", str(case)))
    same(back["rules"]["prorata"], back["rules"]["haircut"])
    assert back["rules"]["haircut"]["funding_note"] is None and back["rules"]["haircut"]["tainted"] == 80


ERRORS = {
    "unknown-rule": (["--source", "1", "--rule", "best"], "unknown tracing rule"),
    "unknown-rule-in-list": (["--source", "1", "--rule", "all,hair-cut"], "unknown tracing rule 'hair-cut'"),
    "no-sources": ([], "forward tracing needs"),
    "bad-time": (["--account", "A", "--amount", "5", "--at", "yesterday"], "--at"),
    "no-such-tx": (["--source", "99"], "no such transaction"),
    "target-forward": (["--target", "1", "--source", "1"], "--target is for --direction backward"),
    "amount-backward": (["-d", "backward", "--account", "A", "--amount", "5", "--at", "2024-01-02"],
                        "--amount is not used backward"),
}


def test_errors_are_one_line(case):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYTRAIL_") or k == "MONEYTRAIL_KEY_DIR"}
    env["MONEYTRAIL_OFFICER"] = DEMO_OFFICER

    def one(item):
        name, (args, frag) = item
        p = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "trace", *args, "-w", str(case)],
                           capture_output=True, text=True, env=env, timeout=120)
        return name, p, frag

    # all but one fail before the workspace is opened, so they can run side by side
    early = {k: v for k, v in ERRORS.items() if k != "no-such-tx"}
    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, early.items()))
    results.append(one(("no-such-tx", ERRORS["no-such-tx"])))
    for name, p, frag in results:
        lines = p.stderr.splitlines()
        assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), (name, p.stderr)
        assert frag in lines[0], (name, lines[0])
        assert "Traceback" not in p.stderr


def test_bench_trace_small(tmp_path):
    from moneytrail.bench.trace import bench_trace

    res = bench_trace(transactions=20_000, n_sources=20, accounts=2_000, hubs=5, rules=["libr", "poison"],
                      workdir=tmp_path)
    assert res["transactions"] > 19_000 and res["sources"] == 20
    for r in ("libr", "poison"):
        assert res["rules"][r]["transactions_per_second"] > 0 and res["rules"][r]["accounts_reached"] > 0
    assert res["rules"]["poison"]["held"] >= res["rules"]["libr"]["held"]
    assert res["peak_rss_mb"] > 0
    cc = res["components"]
    assert cc["components"] >= 1 and 0 < cc["largest_transfer_share"] <= 1
    assert cc["components_with_sources"] >= 1


def test_bench_trace_components_of_a_known_ledger():
    """Two islands (a-b-c and d-e), money out to cash joins nothing, a lone account f paid from
    cash: three components; the source in the first island reaches it alone."""
    import duckdb

    from moneytrail.bench.trace import components

    con = duckdb.connect()
    con.execute("CREATE TABLE edges (tx_id BIGINT, src VARCHAR, dst VARCHAR, src_pseudo BOOLEAN, dst_pseudo BOOLEAN)")
    con.execute("""INSERT INTO edges VALUES (1, 'a', 'b', false, false), (2, 'b', 'c', false, false),
        (3, 'c', 'a', false, false), (4, 'd', 'e', false, false), (5, 'e', 'cash', false, true),
        (6, 'cash', 'f', true, false), (7, 'f', 'cash', false, true)""")
    cc = components(con, [2])
    assert cc["components"] == 3 and cc["accounts"] == 6 and cc["transfers_between_accounts"] == 4
    assert cc["largest_accounts"] == 3 and cc["largest_transfer_share"] == 0.75
    assert cc["components_with_sources"] == 1 and cc["transfer_share_in_source_components"] == 0.75
