"""Stage 5, report: one self-contained HTML file describing the case workspace.

Public entry point: :func:`render_report`. The report is written from read-only queries on
the workspace (nothing is inserted, not even a run-log row) and holds everything inline:
CSS, SVG charts and a little optional JavaScript (filtering findings, folding tables). It
reads completely without JavaScript and offline.

Sections (their HTML ids are stable and tested): ``summary``, ``sources``, ``quarantine``,
``flows``, ``findings`` (with ``findings-index``, ``findings-detail``, ``findings-more``)
and ``runs``; each finding's section is ``finding-<finding_id>``.

Large workspaces: every count and the chart are aggregated in DuckDB; only the transactions
shown (at most ``max_tx_per_finding`` per finding, for the top ``max_findings_full``
findings by score) travel into Python.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from moneytrail import __version__
from moneytrail.report.chart import compute_flows
from moneytrail.report.trace_section import trace_context  # issue 5: fund traces
from moneytrail.report.records_section import contracts_context, employers_context  # issue 17
from moneytrail.report.resolved import MAX_ENTITIES, MAX_TRANSFERS, entities_context, transfers_context
from moneytrail.sqlkit import lit
from moneytrail.workspace import SCHEMA_VERSION, TX_ID_STRIDE, Workspace
from moneytrail.priority import ORDER as QUEUE_ORDER

MAX_FINDINGS_FULL = 300        # findings with a full section; the rest go in a compact table
MAX_FINDINGS_LISTED = 5000     # rows in that compact table (the rest counted, not listed)
MAX_ACCOUNTS_PER_FINDING = 200
PRINT_ACCOUNTS_PER_FINDING = 8
MAX_QUARANTINE_EXAMPLES = 50
MAX_QUARANTINE_REASONS = 20
MAX_RUNS = 20
MAX_RAW_CHARS = 400


# -- formatting (Jinja filters) ----------------------------------------------------------------

def fmt_amount(v: Any) -> str:
    """Thousands separators; two decimals unless the value really has more (up to four)."""
    if v is None:
        return "—"
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    if not d.is_finite():
        return str(d)
    return f"{d:,.2f}" if d == d.quantize(Decimal("0.01")) else f"{d:,.4f}"


def fmt_int(v: Any) -> str:
    return "—" if v is None else f"{int(v):,}"


def fmt_ts(v: Any) -> str:
    """Timestamps as ISO text; a midnight time is left off (most statements carry dates only)."""
    if v is None:
        return "—"
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc)
            return v.strftime("%Y-%m-%d %H:%M:%S UTC")
        if v.time() == _dt.time(0):
            return v.strftime("%Y-%m-%d")
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)


def fmt_bytes(v: Any) -> str:
    if v is None:
        return "—"
    n = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(v)


def fmt_score(v: Any) -> str:
    if v is None:
        return "—"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 100:
        return f"{x:,.1f}"
    return f"{x:.4f}".rstrip("0").rstrip(".")  # 0.99963 stays 0.9996, not a rounded-up 1


def fmt_duration(start: Any, end: Any) -> str:
    if not isinstance(start, _dt.datetime) or not isinstance(end, _dt.datetime):
        return "—"
    s = (end - start).total_seconds()
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def pretty_json(v: Any) -> str:
    """JSON text (as DuckDB returns a JSON column) pretty-printed; anything unparsable as is."""
    if v is None:
        return ""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    return json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def compact_json(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return v
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)


def truncate(s: Any, n: int = MAX_RAW_CHARS) -> str:
    s = "" if s is None else str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


_BREAK_AFTER = re.compile(r"([/\\\-_.:|@])")


def breakable(v: Any) -> markupsafe.Markup:
    """An id or a file name that may wrap only after a separator (``/ - _ . : | @``), never
    inside a run of letters or digits: the text escaped, a ``<wbr>`` after each separator."""
    text = "" if v is None else str(v)
    return markupsafe.Markup("".join(
        str(markupsafe.escape(part)) + ("<wbr>" if _BREAK_AFTER.fullmatch(part) else "")
        for part in _BREAK_AFTER.split(text)))


def _is_url(s: Any) -> bool:
    return isinstance(s, str) and re.match(r"https?://\S+$", s.strip()) is not None


def template_env() -> jinja2.Environment:
    """The report templates (autoescaped, strict): the case report and the trace pages use it."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("moneytrail.report", "templates"),
        autoescape=True,  # every value is escaped; the only Markup is the SVG built in chart.py and records_section.py
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(amount=fmt_amount, int=fmt_int, ts=fmt_ts, bytes=fmt_bytes, score=fmt_score,
                       pretty_json=pretty_json, compact_json=compact_json, trunc=truncate,
                       params=parameter_rows, wbr=breakable)
    env.globals.update(duration=fmt_duration, is_url=_is_url)
    return env


# -- data ------------------------------------------------------------------------------------

def _sources(ws: Workspace) -> list[dict[str, Any]]:
    rows = ws.records("""
        WITH tx AS (SELECT source_id, count(*) AS n FROM transactions GROUP BY 1),
             qu AS (SELECT source_id, count(*) AS n FROM quarantine GROUP BY 1)
        SELECT s.source_id, s.file_name, s.original_path, s.evidence_path, s.size_bytes, s.sha256,
               s.format, s.role, s.legal_basis, s.received_at, s.ingested_at, s.ingest_count,
               s.rows_read, s.rows_stored, s.rows_quarantined, s.note,
               coalesce(tx.n, 0) AS tx_in_ws, coalesce(qu.n, 0) AS q_in_ws
        FROM sources s LEFT JOIN tx USING (source_id) LEFT JOIN qu USING (source_id)
        ORDER BY s.source_id""")
    for r in rows:
        read, stored, quar = r["rows_read"], r["rows_stored"], r["rows_quarantined"]
        r["balanced"] = None if None in (read, stored, quar) else read == stored + quar
        # the rows the workspace holds now should be the rows the ingest reported
        r["q_mismatch"] = quar is not None and r["q_in_ws"] != quar
        r["tx_mismatch"] = (r["role"] == "transactions" and stored is not None
                            and r["tx_in_ws"] != stored)
    return rows


def _overview(ws: Workspace) -> dict[str, Any]:
    c: dict[str, Any] = {}
    c["sources"] = ws.scalar("SELECT count(*) FROM sources")
    c["accounts"] = ws.scalar("SELECT count(*) FROM accounts")
    c["parties"] = ws.scalar("SELECT count(*) FROM parties")
    tx = ws.records("SELECT count(*) AS n, min(ts) AS first, max(ts) AS last FROM transactions")[0]
    c.update(transactions=tx["n"], first_ts=tx["first"], last_ts=tx["last"])
    c["days"] = (tx["last"] - tx["first"]).days + 1 if tx["n"] else 0
    c["accounts_in_tx"] = ws.scalar("""
        SELECT count(DISTINCT a) FROM (SELECT orig_account AS a FROM transactions
                                       UNION ALL SELECT bene_account FROM transactions)""")
    c["by_currency"] = ws.records("""
        SELECT currency, count(*) AS n, sum(amount) AS total FROM transactions
        GROUP BY 1 ORDER BY n DESC, currency""")
    c["by_channel"] = ws.records("""
        SELECT coalesce(channel, '(none)') AS channel, count(*) AS n, sum(amount) AS total
        FROM transactions GROUP BY 1 ORDER BY n DESC, channel""")
    c["quarantined"] = ws.scalar("SELECT count(*) FROM quarantine")
    c["rows_read"] = ws.scalar("SELECT coalesce(sum(rows_read), 0) FROM sources")
    c["findings"] = ws.scalar("SELECT count(*) FROM findings")
    c["flagged_tx"] = ws.scalar("SELECT count(DISTINCT tx_id) FROM finding_transactions")
    c["flagged_accounts"] = ws.scalar("SELECT count(DISTINCT account_id) FROM finding_accounts")
    c["labels"] = ws.records("""
        SELECT count(*) AS n, count(*) FILTER (WHERE is_laundering) AS positive FROM labels""")[0]
    c["by_typology"] = ws.records("""
        WITH ft AS (SELECT DISTINCT f.typology, t.tx_id FROM findings f
                    JOIN finding_transactions t USING (finding_id))
        SELECT f.typology, string_agg(DISTINCT f.typology_version, ', ' ORDER BY f.typology_version)
                   AS versions,
               count(*) AS n, sum(f.total_amount) AS total, max(f.score) AS max_score,
               avg(f.score) AS avg_score,
               (SELECT count(*) FROM ft WHERE ft.typology = f.typology) AS n_tx
        FROM findings f GROUP BY f.typology ORDER BY n DESC, f.typology""")
    return c


def _quarantine(ws: Workspace) -> dict[str, Any]:
    total = ws.scalar("SELECT count(*) FROM quarantine")
    if not total:
        return {"total": 0, "reasons": [], "by_column": [], "examples": [], "reasons_more": 0}
    # Reasons quote the offending value ("amount abc is not a number ..."): group by the
    # reason with digit runs folded, per column, and show one example of each group.
    key = "regexp_replace(reason, '[0-9]+', '#', 'g')"
    reasons = ws.records(f"""
        SELECT coalesce(column_name, '') AS column_name, {key} AS pattern, count(*) AS n,
               count(DISTINCT reason) AS variants, min(reason) AS example,
               string_agg(DISTINCT CAST(source_id AS VARCHAR), ', ') AS sources
        FROM quarantine GROUP BY 1, 2 ORDER BY n DESC, column_name, pattern""")
    by_column = ws.records("""
        SELECT coalesce(column_name, '(whole row)') AS column_name, count(*) AS n
        FROM quarantine GROUP BY 1 ORDER BY n DESC, 1""")
    # Examples round-robin over the reason groups, so every kind of problem is illustrated.
    examples = ws.records(f"""
        WITH q AS (SELECT *, row_number() OVER (PARTITION BY coalesce(column_name, ''), {key}
                                                ORDER BY source_id, source_row) AS rn
                   FROM quarantine),
             pick AS (SELECT * FROM q ORDER BY rn, source_id, source_row LIMIT ?)
        SELECT p.source_id, s.file_name, p.source_row, p.column_name, p.reason, p.raw
        FROM pick p LEFT JOIN sources s USING (source_id)
        ORDER BY p.source_id, p.source_row""", [MAX_QUARANTINE_EXAMPLES])
    shown = reasons[:MAX_QUARANTINE_REASONS]
    return {"total": total, "reasons": shown, "by_column": by_column, "examples": examples,
            "reasons_more": len(reasons) - len(shown),
            "reasons_more_rows": sum(r["n"] for r in reasons[len(shown):])}


_FINDING_COLS = """
    f.finding_id, f.run_id, f.typology, f.typology_version, f.parameters, f.score, f.priority,
    f.priority_basis, f.first_ts,
    f.last_ts, f.total_amount, f.currency, f.explanation, f.red_flag_source, f.created_at,
    coalesce(ft.n, 0) AS n_tx, coalesce(fa.n, 0) AS n_accounts, f.finding_key,
    coalesce(tr.status, 'open') AS disposition, tr.reason AS disposition_reason, tr.updated_by AS disposition_by,
    tr.assignee AS assignee"""

_FINDING_FROM = """
    findings f
    LEFT JOIN (SELECT finding_id, count(DISTINCT tx_id) AS n FROM finding_transactions GROUP BY 1) ft
        USING (finding_id)
    LEFT JOIN (SELECT finding_id, count(*) AS n FROM finding_accounts GROUP BY 1) fa
        USING (finding_id)
    LEFT JOIN finding_triage tr ON tr.finding_key = f.finding_key"""

_ORDER = QUEUE_ORDER   # priority.py


def _findings(ws: Workspace, max_tx: int, max_full: int, max_listed: int,
              per_typology: int | None = None) -> dict[str, Any]:
    """The findings the report shows. By default the top ``max_full`` by score get a full
    section; with ``per_typology`` (the print-ready report) the top ``per_typology`` of each
    typology do, grouped by typology. Every other finding is one row of a compact table (at most
    ``max_listed`` rows; the rest counted). ``rank`` is the finding's place by score in the case."""
    total = ws.scalar("SELECT count(*) FROM findings")
    if not total:
        return {"total": 0, "full": [], "rest": [], "rest_total": 0, "groups": []}
    ranked = (f"SELECT f.finding_id, f.typology, row_number() OVER (ORDER BY {_ORDER}) AS rank, "
              f"row_number() OVER (PARTITION BY f.typology ORDER BY {_ORDER}) AS in_typology FROM findings f")
    if per_typology is None:
        top = f"SELECT finding_id FROM ({ranked}) WHERE rank <= {lit(int(max_full))}"
    else:
        top = f"SELECT finding_id FROM ({ranked}) WHERE in_typology <= {lit(int(per_typology))}"
    cols = f"{_FINDING_COLS}, r.rank, r.in_typology"
    src = f"{_FINDING_FROM} JOIN ({ranked}) r ON r.finding_id = f.finding_id"
    full = ws.records(f"SELECT {cols} FROM {src} WHERE f.finding_id IN ({top}) ORDER BY r.rank")
    rest = ws.records(f"SELECT {cols} FROM {src} WHERE f.finding_id NOT IN ({top}) ORDER BY r.rank LIMIT ?",
                      [max_listed]) if total > len(full) else []

    txs: dict[int, list[dict[str, Any]]] = {f["finding_id"]: [] for f in full}
    missing: dict[int, int] = {}
    if max_tx > 0:
        for r in ws.records(f"""
            WITH sel AS ({top}),
                 ft AS (SELECT DISTINCT finding_id, tx_id FROM finding_transactions
                        WHERE finding_id IN (SELECT finding_id FROM sel))
            SELECT ft.finding_id, ft.tx_id, t.tx_id IS NULL AS missing, t.external_id, t.ts,
                   t.orig_account, t.bene_account, t.amount, t.currency, t.channel, t.tx_type,
                   t.location, t.description, t.source_id, t.source_row, t.source_position, s.file_name,
                   count(*) FILTER (WHERE t.tx_id IS NULL) OVER (PARTITION BY ft.finding_id)
                       AS n_missing
            FROM ft LEFT JOIN transactions t ON t.tx_id = ft.tx_id
                    LEFT JOIN sources s ON s.source_id = t.source_id
            QUALIFY row_number() OVER (PARTITION BY ft.finding_id
                                       ORDER BY t.ts NULLS LAST, ft.tx_id) <= ?
            ORDER BY ft.finding_id, t.ts NULLS LAST, ft.tx_id""", [max_tx]):
            if r["missing"]:  # the id still says where it came from
                r["source_id"], r["source_row"] = divmod(r["tx_id"], TX_ID_STRIDE)
            txs[r["finding_id"]].append(r)
            missing[r["finding_id"]] = r["n_missing"]

    accs: dict[int, list[dict[str, Any]]] = {f["finding_id"]: [] for f in full}
    for r in ws.records(f"""
        WITH sel AS ({top}),
             fa AS (SELECT finding_id, account_id, role,
                           -- the rarer a role in the finding (the hub of a fan-out), the earlier it is listed
                           count(*) OVER (PARTITION BY finding_id, role) AS rarity
                    FROM finding_accounts WHERE finding_id IN (SELECT finding_id FROM sel))
        SELECT fa.finding_id, fa.account_id, fa.role, a.owner_name, a.bank, a.kind,
               a.account_id IS NULL AS unknown
        FROM fa LEFT JOIN accounts a ON a.account_id = fa.account_id
        QUALIFY row_number() OVER (PARTITION BY fa.finding_id ORDER BY fa.rarity, fa.role, fa.account_id) <= ?
        ORDER BY fa.finding_id, fa.rarity, fa.role, fa.account_id""",
            [MAX_ACCOUNTS_PER_FINDING if per_typology is None else PRINT_ACCOUNTS_PER_FINDING]):
        accs[r["finding_id"]].append(r)

    # every account of each finding, for the index's filter (the sections list a capped few)
    all_accts = dict(ws.query(f"""
        WITH sel AS ({top})
        SELECT finding_id, string_agg(DISTINCT account_id, ' ' ORDER BY account_id)
        FROM finding_accounts WHERE finding_id IN (SELECT finding_id FROM sel) GROUP BY 1"""))

    # the employer and contract records each shown finding cites (docs/records.md)
    recs: dict[int, list[dict[str, Any]]] = {f["finding_id"]: [] for f in full}
    n_recs: dict[int, int] = {}
    if full and max_tx > 0 and ws.table_exists("finding_records"):
        from moneytrail._reads import RECORDS_SQL

        for r in ws.records(f"""
            WITH sel AS ({top})
            SELECT fr.finding_id, r.*, s.file_name, count(*) OVER (PARTITION BY fr.finding_id) AS n
            FROM finding_records fr JOIN ({RECORDS_SQL}) r ON r.record_id = fr.record_id AND r.kind = fr.kind
                 JOIN sources s ON s.source_id = r.source_id
            WHERE fr.finding_id IN (SELECT finding_id FROM sel)
            QUALIFY row_number() OVER (PARTITION BY fr.finding_id ORDER BY r.kind, r.on_date, r.record_id) <= ?
            ORDER BY fr.finding_id, r.kind, r.on_date, r.record_id""", [max_tx]):
            recs[r["finding_id"]].append(r)
            n_recs[r["finding_id"]] = r["n"]

    for f in full:
        f["records"] = recs[f["finding_id"]]
        f["records_more"] = max(n_recs.get(f["finding_id"], 0) - len(f["records"]), 0)
        f["transactions"] = txs[f["finding_id"]]
        f["accounts"] = accs[f["finding_id"]]
        f["account_ids"] = all_accts.get(f["finding_id"]) or ""
        f["n_missing"] = missing.get(f["finding_id"], 0)
        # columns no shown transaction fills are left out of that finding's table
        f["cols"] = {c: any(t.get(c) for t in f["transactions"])
                     for c in ("external_id", "location", "description")}
        f["tx_more"] = max(f["n_tx"] - len(f["transactions"]), 0)
        f["accounts_more"] = max(f["n_accounts"] - len(f["accounts"]), 0)
        f["currencies"] = sorted({t["currency"] for t in f["transactions"] if t["currency"]})
        f["parameter_rows"] = parameter_rows(f["parameters"])
    groups: list[dict[str, Any]] = []
    if per_typology is not None:
        counts = {r["typology"]: r for r in ws.records(
            "SELECT typology, count(*) AS n, sum(total_amount) AS total, max(score) AS max_score "
            "FROM findings GROUP BY 1")}
        by_typ: dict[str, list[dict[str, Any]]] = {}
        for f in full:
            by_typ.setdefault(f["typology"], []).append(f)
        for typ, shown in sorted(by_typ.items(), key=lambda kv: (-counts[kv[0]]["n"], kv[0])):
            c = counts[typ]
            groups.append({"typology": typ, "n": c["n"], "total": c["total"], "max_score": c["max_score"],
                           "shown": shown, "more": c["n"] - len(shown)})
    return {"total": total, "full": full, "rest": rest, "groups": groups,
            "rest_total": max(total - len(full), 0),
            "rest_unlisted": max(total - len(full) - len(rest), 0)}


def parameter_rows(v: Any) -> list[tuple[str, str]]:
    """A finding's parameters as (name, value) rows for a table: lists joined, nested objects
    as compact JSON, in name order."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return [("parameters", v)]
    if not isinstance(v, dict):
        return [] if v is None else [("parameters", compact_json(v))]
    out = []
    for k in sorted(v):
        x = v[k]
        if isinstance(x, (list, tuple)):
            text = ", ".join(str(i) for i in x) or "(none)"
        elif isinstance(x, dict):
            text = compact_json(x)
        elif isinstance(x, bool):
            text = "yes" if x else "no"
        else:
            text = "—" if x is None else str(x)
        out.append((str(k), text))
    return out


def _runs(ws: Workspace, limit: int = MAX_RUNS) -> list[dict[str, Any]]:
    return ws.records("""
        SELECT run_id, command, started_at, finished_at, status, parameters, summary, error, version
        FROM runs ORDER BY run_id DESC LIMIT ?""", [limit])


def _last_detection(ws: Workspace) -> dict[str, Any] | None:
    """Skipped indicators and search notes of the latest successful detect run."""
    rows = ws.records("SELECT run_id, finished_at, summary FROM runs WHERE command = 'detect' AND status = 'ok' "
                      "ORDER BY run_id DESC LIMIT 1")
    if not rows:
        return None
    try:
        summary = json.loads(rows[0]["summary"] or "{}")
    except ValueError:
        return None
    return {"run_id": rows[0]["run_id"], "finished_at": rows[0]["finished_at"],
            "skipped": summary.get("skipped") or {}, "notes": summary.get("notes") or {}}


def _schema_version(ws: Workspace) -> int | None:
    try:
        return ws.schema_version()
    except Exception:  # pragma: no cover - a report should not fail on this line
        return None


def case_header(ws: Workspace, case: str, officer: str | None = None,
                at: _dt.datetime | None = None) -> dict[str, Any] | None:
    """What the report's exhibit header says about the case: its function, jurisdiction and
    predicate, the officers on it with the grants they act under (active on ``at``, for the case's
    function and jurisdiction), the 6103(i) authorities recorded on it, the 6(e) disclosure list,
    and who generated the report. ``ws`` is the whole workspace (the registry is not per case);
    the caller has decided the report. ``None`` when the workspace has no such case."""
    rows = ws.records("SELECT * FROM cases WHERE case_id = ?", [case])
    if not rows:
        return None
    c = rows[0]
    day = (at or _dt.datetime.now(_dt.timezone.utc)).date()
    c["members"] = ws.records("""
        SELECT m.officer_id, m.role, m.added_at, o.name, o.home_agency, ag.name AS agency_name
        FROM case_members m LEFT JOIN officers o USING (officer_id)
             LEFT JOIN agencies ag ON ag.agency_id = o.home_agency
        WHERE m.case_id = ? AND m.removed_at IS NULL ORDER BY m.added_at, m.officer_id""", [case])
    from moneytrail.authority.registry import acting_grants

    grants = acting_grants(ws, case, c["function"], c["jurisdiction"], day)
    by_officer: dict[str, list[dict[str, Any]]] = {}
    for g in grants:
        by_officer.setdefault(g["officer_id"], []).append(g)
    for m in c["members"]:
        m["grants"] = by_officer.get(m["officer_id"], [])
    c["disclosure_list"] = ws.records("""
        SELECT officer_id, attorney, noted_at FROM case_disclosures
        WHERE case_id = ? AND withdrawn_at IS NULL ORDER BY noted_at, officer_id""", [case])
    c["fti_authorities"] = ws.records("""
        SELECT * FROM case_authorities WHERE case_id = ? AND withdrawn_at IS NULL
        ORDER BY recorded_at, authority_id""", [case])
    c["generated_by"] = None
    if officer:
        who = ws.records("SELECT o.officer_id, o.name, ag.name AS agency_name FROM officers o "
                         "LEFT JOIN agencies ag ON ag.agency_id = o.home_agency WHERE o.officer_id = ?", [officer])
        c["generated_by"] = who[0] if who else {"officer_id": officer, "name": None, "agency_name": None}
    return c


def default_output(ws: Workspace) -> Path:
    return ws.path.with_name(f"{ws.path.stem}-report.html")


PRINT_PER_TYPOLOGY = 2      # print-ready: full sections per typology (the rest in the appendix)
PRINT_TX_PER_FINDING = 8
PRINT_RESOLVED = 5          # print-ready: entities and matched transfers shown (the rest counted)
PRINT_RUNS = 8              # print-ready: the newest runs in the run log (the workspace keeps them all)


def render_report(ws: Workspace, out: Path | str | None = None, *, title: str | None = None,
                  max_tx_per_finding: int | None = None, max_findings_full: int = MAX_FINDINGS_FULL,
                  max_findings_listed: int = MAX_FINDINGS_LISTED, case: dict[str, Any] | None = None,
                  print_ready: bool = False, per_typology: int | None = None) -> Path:
    """Write the HTML case report for ``ws``; return the path written.

    ``out`` defaults to ``<workspace stem>-report.html`` beside the workspace file. The
    workspace is only read. Findings are ordered by score (highest first); the top
    ``max_findings_full`` get a full section listing up to ``max_tx_per_finding`` (default 200)
    of their transactions with provenance; the next ``max_findings_listed`` are one row each.

    ``case`` (from :func:`case_header`) puts the case, its officers and the legal authorities
    at the top. ``print_ready`` writes the version for paper and PDF: a contents page, each part
    on a new page with page numbers, findings grouped by typology (``per_typology`` full sections
    each, default 3, with up to 15 transactions) and every other finding, the run log and the
    quarantine examples in appendices.
    """
    out_path = Path(out) if out is not None else default_output(ws)
    generated = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    if print_ready:
        per_typology = PRINT_PER_TYPOLOGY if per_typology is None else per_typology
        max_tx_per_finding = PRINT_TX_PER_FINDING if max_tx_per_finding is None else max_tx_per_finding
    elif max_tx_per_finding is None:
        max_tx_per_finding = 200
    if title is None:
        title = (f"Case {case['case_id']}" + (f": {case['title']}" if case.get("title") else "")
                 if case else f"moneytrail case report — {ws.path.name}")
    ctx = {
        "title": title,
        "case": case,
        "print_ready": print_ready,
        "per_typology": per_typology,
        "generated_at": generated,
        "version": __version__,
        "workspace_path": str(ws.path.resolve()),
        "schema_version": _schema_version(ws),
        "code_schema_version": SCHEMA_VERSION,
        "overview": _overview(ws),
        "sources": _sources(ws),
        "quarantine": _quarantine(ws),
        "flows": compute_flows(ws),
        "findings": _findings(ws, max(int(max_tx_per_finding), 0), max(int(max_findings_full), 0),
                              max(int(max_findings_listed), 0),
                              None if per_typology is None else max(int(per_typology), 0)),
        "runs": _runs(ws, PRINT_RUNS if print_ready else MAX_RUNS),
        "detection": _last_detection(ws),
        "traces": trace_context(ws),  # issue 5: saved fund traces (None when there are none)
        # issue 14: the resolve stage's entities and transfers seen at two banks (None before resolve)
        "entities": entities_context(ws, PRINT_RESOLVED if print_ready else MAX_ENTITIES),
        "transfers": transfers_context(ws, PRINT_RESOLVED if print_ready else MAX_TRANSFERS),
        # issue 17: employers' payroll against reported wages; vendors' awards, payments, Benford charts
        "employers": employers_context(ws),
        "contracts": contracts_context(ws),
        "max_tx_per_finding": max_tx_per_finding,
        "max_runs": PRINT_RUNS if print_ready else MAX_RUNS,
        "max_quarantine_examples": MAX_QUARANTINE_EXAMPLES,
    }
    template = template_env().get_template("report.html.j2")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for chunk in template.generate(**ctx):  # streamed: big reports never sit in memory twice
                fh.write(chunk)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


__all__ = ["render_report", "default_output", "case_header"]
