"""One readable line per pipeline stage (``run``, ``detect``, ``demo``): what the stage did, in
words, and for a figure a user cannot act on as it stands, the action that changes it. The
whole summary stays in the run log (``runs.summary``) and behind ``--json``."""

from __future__ import annotations

from typing import Any, Callable


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _secs(s: dict[str, Any]) -> str:
    return f" ({s['seconds']:.1f} s)" if isinstance(s.get("seconds"), (int, float)) else ""


def _resolve(s: dict[str, Any]) -> str:
    out = (f"{_n(s.get('records', 0))} party records -> {_n(s.get('entities', 0))} entities; "
           f"{_n(s.get('transfers_matched', 0))} transfers matched across banks")
    if s.get("review"):
        out += f"; {_n(s['review'])} pairs wait for an officer: moneytrail review"
    return out


def _graph(s: dict[str, Any]) -> str:
    return (f"{_n(s.get('edges', 0))} transfers between {_n(s.get('nodes', 0))} "
            f"{'entities' if s.get('level') == 'entity' else 'accounts'}")


def _detect(s: dict[str, Any]) -> str:
    found = {k: v for k, v in (s.get("findings") or {}).items() if v}
    total = sum(found.values())
    top = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{k} {_n(v)}" for k, v in top[:6]) + (f", {len(top) - 6} more typologies" if len(top) > 6 else "")
    out = f"{_n(total)} findings from {len(found)} of {len(s.get('findings') or {})} typologies"
    if shown:
        out += f" ({shown})"
    if s.get("skipped"):
        from moneytrail.detect import RECORD_IDS, RECORD_SKIPS_LISTED

        skipped = sorted(s["skipped"])
        other = [k for k in skipped if k not in RECORD_IDS]
        need = [k for k in skipped if k in RECORD_IDS]
        parts = ([", ".join(other)] if other else []) + (
            [f"{len(need)} employer or contract typolog{'y' if len(need) == 1 else 'ies'} (no payroll, wage or "
             f"contract records: docs/records.md)"] if len(need) > RECORD_SKIPS_LISTED else need)
        out += f"; skipped: {', '.join(parts)} (moneytrail detect --json says why)"
    return out + ("; list them: moneytrail findings" if total else "")


def _score(s: dict[str, Any]) -> str:
    if s.get("skipped"):
        return f"skipped: {s['skipped']}"
    return (f"model {s.get('model_id')}: {_n(s.get('transactions', 0))} transactions scored, "
            f"{_n(s.get('flagged', 0))} flagged, {_n(s.get('findings', 0))} model_risk findings")


def _trace(s: dict[str, Any]) -> str:
    op = s.get("openings") or {}
    out = (f"running balances of {_n(s.get('accounts', 0))} accounts over {_n(s.get('balance_events', 0))} "
           f"events; opening balances: {_n(op.get('statement', 0))} from statements")
    others = {k: v for k, v in op.items() if k not in ("statement", "assumed-zero") and v}
    for k, v in sorted(others.items()):
        out += f", {_n(v)} {k}"
    if op.get("assumed-zero"):
        out += f", {_n(op['assumed-zero'])} assumed zero"
    neg = s.get("negative_unknown_opening")
    if neg:
        out += (f"; {_n(neg)} accounts go negative with no opening balance: pass --opening ACCT=AMOUNT to "
                f"moneytrail trace, or ingest statements with balances")
    if s.get("breaks"):
        out += f"; {_n(len(s['breaks']))} accounts' statements do not chain (moneytrail run --json lists them)"
    return out


def _report(s: dict[str, Any]) -> str:
    return f"written to {s.get('report')}"


LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "resolve": _resolve, "graph": _graph, "detect": _detect, "score": _score, "trace": _trace, "report": _report,
}


def stage_line(name: str, summary: Any) -> str:
    """``name: what it did`` on one line. Unknown stages and summaries: their scalar figures."""
    if not isinstance(summary, dict):
        return f"{name}: {summary}"
    if summary.get("up_to_date"):
        return f"{name}: up to date (built in run {summary.get('built_in_run')})"
    try:
        text = LINES[name](summary) if name in LINES else ", ".join(
            f"{k} {_n(v)}" for k, v in summary.items() if isinstance(v, (int, float, str)) and k != "seconds")
    except (KeyError, TypeError, ValueError, AttributeError):     # a summary of another shape: its figures, not a traceback
        text = ", ".join(f"{k} {_n(v)}" for k, v in summary.items() if isinstance(v, (int, float, str)))
    if summary.get("rebuilt_because"):
        text += f" (rebuilt: {summary['rebuilt_because']})"
    return f"{name}{_secs(summary)}: {text}"
