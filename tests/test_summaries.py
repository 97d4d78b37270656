"""The one line per stage that ``run``, ``detect`` and ``demo`` print (issue 16, item 5)."""

from __future__ import annotations

from moneytrail.summaries import stage_line

DETECT = {"findings": {"fan_in": 58, "fan_out": 70, "scatter_gather": 0, "cycle": 42, "structuring": 7,
                       "odd_hours_deposits": 6, "stack": 1, "bipartite": 1},
          "skipped": {"ht_expenses": "no merchant categories in this case's data"},
          "timings": {"fan_in": 0.08}, "parameters": {"fan_in": {"window_days": 14}}, "seconds": 3.14,
          "priority": {"findings": 185, "basis": "money at stake (no model)"}}
TRACE = {"balance_events": 305292, "accounts": 3459, "openings": {"statement": 683, "assumed-zero": 2776},
         "breaks": {}, "negative_unknown_opening": 2280, "max_gap_days": 31, "seconds": 1.953,
         "rebuilt_because": "balances is missing"}


def test_each_stage_is_one_readable_line():
    for name, s in (("detect", DETECT), ("trace", TRACE), ("score", {"skipped": "no model", "seconds": 0.0}),
                    ("graph", {"edges": 160388, "nodes": 3460, "level": "account", "currencies": {"USD": 1}}),
                    ("resolve", {"records": 17580, "entities": 3392, "transfers_matched": 87578, "review": 145,
                                 "lines": ["..."]}),
                    ("report", {"report": "demo/report.html", "seconds": 0.9}),
                    ("someday", {"rows": 5, "nested": {"a": 1}})):
        line = stage_line(name, s)
        assert "\n" not in line and "{" not in line and len(line) < 400, line
        assert line.startswith(name)
    d = stage_line("detect", DETECT)
    assert d.startswith("detect (3.1 s): 185 findings from 7 of 8 typologies (fan_out 70, fan_in 58, cycle 42")
    assert "skipped: ht_expenses" in d and "moneytrail findings" in d
    t = stage_line("trace", TRACE)
    assert "2,280 accounts go negative with no opening balance: pass --opening ACCT=AMOUNT" in t
    assert "(rebuilt: balances is missing)" in t
    assert "moneytrail review" in stage_line("resolve", {"records": 2, "entities": 1, "review": 3})
    assert stage_line("graph", {"up_to_date": True, "built_in_run": 10}) == "graph: up to date (built in run 10)"


def test_a_summary_of_another_shape_is_still_one_line():
    assert stage_line("detect", {"findings": "many"}).startswith("detect: ")
    assert stage_line("trace", "done") == "trace: done"


def test_typologies_skipped_for_want_of_records_are_counted_not_listed():
    from moneytrail.detect import RECORD_TYPOLOGIES

    skipped = {t.id: "no records" for t in RECORD_TYPOLOGIES} | {"ht_expenses": "no categories"}
    line = stage_line("detect", {"findings": {"fan_in": 3}, "skipped": skipped})
    assert f"skipped: ht_expenses, {len(RECORD_TYPOLOGIES)} employer or contract typologies" in line
    assert "wage_gap" not in line and len(line) < 300
    assert "skipped: wage_gap (" in stage_line("detect", {"findings": {}, "skipped": {"wage_gap": "x"}})


def test_detect_logs_no_line_per_record_typology_on_a_bank_only_case(tmp_path):
    """On a case of bank records only, the employer and contract typologies' skips are the detect
    line's count, not fourteen lines before it; on a case lacking what a few of them need, each
    of those few says why."""
    from moneytrail.detect import RECORD_TYPOLOGIES, _log_record_skips

    class Ctx:
        def __init__(self):
            self.lines = []

        def log(self, m):
            self.lines.append(m)

    many, few = Ctx(), Ctx()
    _log_record_skips(many, {t.id: "no records" for t in RECORD_TYPOLOGIES} | {"ht_expenses": "no categories"})
    assert many.lines == []
    _log_record_skips(few, {"benford": "fewer than 1,000 amounts", "ht_expenses": "no categories"})
    assert few.lines == ["benford: skipped: fewer than 1,000 amounts"]
