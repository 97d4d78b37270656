"""Fund traces in the case report: a Sankey chart of where the money went, the rules side by
side, the tracing schedule, and (backward traces) the funding of the target.

``trace_context(ws)`` reads the traces saved by ``moneytrail trace`` (tables of migration
0003) for the report; ``render_trace_page(result)`` renders one in-memory trace as a
standalone page (``moneytrail trace --format html``). Both go through ``trace_view``, so the
report and the command show the same thing. The Sankey is inline SVG built here from escaped
text (the only Markup in the section).
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any, Iterable

from markupsafe import Markup, escape

MAX_TRACES = 5                  # saved traces shown in the report, newest first
MAX_ACCOUNTS = 60               # accounts per trace in the side-by-side table
MAX_SCHEDULE_ROWS = 300         # schedule rows per trace (first rule), the rest counted
MAX_FUNDING_ROWS = 60
MAX_LINKS = 40                  # Sankey links drawn (largest first)

_TAINT = "#b3261e"
_EXIT = "#6b6b6b"
_FUND = "#1f5fa8"


def _f(v: Any) -> float:
    return float(v) if v is not None else 0.0


def _d(v: Any) -> Decimal:
    """An amount as an exact Decimal (a saved trace gives Decimals, an in-memory one too; a float
    is taken as written)."""
    if v is None:
        return Decimal(0)
    return v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


# -- the Sankey ------------------------------------------------------------------------------

def sankey_svg(links: Iterable[tuple[str, str, Any]], *, sources: Iterable[str] = (),
               exits: Iterable[str] = (), width: int = 920, max_links: int = MAX_LINKS,
               color: str = _TAINT, label: str = "tainted money") -> Markup:
    """A left-to-right Sankey of ``(from, to, amount)`` links (the ``max_links`` largest). A link
    that closes a cycle is left out of the drawing and counted in its title; every other node
    sits one column right of its furthest predecessor."""
    # amounts add up exactly (Decimal: sums of amounts near 10**12 do not fit a float); only the
    # drawing's geometry is in floats
    agg: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for a, b, v in links:
        if v and v > 0 and a != b:
            agg[(a, b)] += _d(v)
    if not agg:
        return Markup("")
    ranked = sorted(agg.items(), key=lambda kv: (-kv[1], kv[0]))
    shown, hidden = ranked[:max_links], ranked[max_links:]
    out_adj: dict[str, list[str]] = defaultdict(list)
    has_in: set[str] = set()
    nodes: list[str] = []
    seen: set[str] = set()
    for (a, b), _ in shown:
        for n in (a, b):
            if n not in seen:
                seen.add(n)
                nodes.append(n)
        out_adj[a].append(b)
        has_in.add(b)
    # columns: drop the edges that close a cycle (found by a depth-first walk from the sources,
    # or from nodes nothing flows into), then place each node one column right of its furthest
    # predecessor (longest path), so every drawn band runs left to right
    starts = [n for n in nodes if n in set(sources)] or [n for n in nodes if n not in has_in] or [nodes[0]]
    starts += [n for n in nodes if n not in starts]
    state: dict[str, int] = {}
    back_edges: set[tuple[str, str]] = set()
    order_post: list[str] = []
    for root in starts:
        if root in state:
            continue
        stack = [(root, iter(out_adj[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                order_post.append(node)
            elif state.get(nxt) == 1:
                back_edges.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out_adj[nxt])))
    depth = {n: 0 for n in nodes}
    for n in reversed(order_post):          # a topological order of the acyclic part
        for m in out_adj[n]:
            if (n, m) not in back_edges and depth[m] < depth[n] + 1:
                depth[m] = depth[n] + 1
    drawn = [((a, b), v) for (a, b), v in shown if (a, b) not in back_edges]
    back = len(shown) - len(drawn)
    if not drawn:
        return Markup("")
    vin: dict[str, Decimal] = defaultdict(Decimal)
    vout: dict[str, Decimal] = defaultdict(Decimal)
    for (a, b), v in drawn:
        vout[a] += v
        vin[b] += v
    used = [n for n in nodes if vin[n] or vout[n]]
    val = {n: max(vin[n], vout[n]) for n in used}
    ncols = max(depth[n] for n in used) + 1
    cols: list[list[str]] = [[] for _ in range(ncols)]
    for n in used:
        cols[depth[n]].append(n)
    for c in cols:
        c.sort(key=lambda n: (-val[n], n))
    pad = 14
    biggest = max(len(c) for c in cols)
    height = max(260, min(1400, 34 * biggest + 40))
    top, bottom = 26, 14
    avail = height - top - bottom
    k = min((avail - pad * (len(c) - 1)) / float(sum(val[n] for n in c)) for c in cols if c)
    k = max(k, 0.0)
    nodew = 12
    left, right = 10, 220
    span = width - left - right - nodew
    xs = [left + (span * i / (ncols - 1) if ncols > 1 else 0) for i in range(ncols)]
    y: dict[str, float] = {}
    h: dict[str, float] = {}
    for ci, c in enumerate(cols):
        yy = top
        for n in c:
            y[n] = yy
            h[n] = max(float(val[n]) * k, 1.5)
            yy += h[n] + pad
    src_set, exit_set = set(sources), set(exits)
    out = [f'<svg class="sankey" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="100%" role="img" aria-label="{escape(label)}: where the money went">']
    title = f"{len(drawn)} flows of {label}, largest first"
    if hidden:
        title += f"; {len(hidden)} smaller flows not drawn"
    if back:
        title += f"; {back} flows back to an earlier column (cycles) not drawn"
    out.append(f"<title>{escape(title)}</title>")
    ooff: dict[str, float] = defaultdict(float)
    ioff: dict[str, float] = defaultdict(float)
    order = sorted(drawn, key=lambda kv: (y[kv[0][0]], y[kv[0][1]]))
    paths = []
    for (a, b), v in order:
        w = max(float(v) * k, 1.0)
        x0 = xs[depth[a]] + nodew
        x1 = xs[depth[b]]
        y0 = y[a] + ooff[a]
        y1 = y[b] + ioff[b]
        ooff[a] += float(v) * k
        ioff[b] += float(v) * k
        xm = (x0 + x1) / 2
        fill = _EXIT if b in exit_set else color
        paths.append(
            f'<path d="M{x0:.1f},{y0:.1f} C{xm:.1f},{y0:.1f} {xm:.1f},{y1:.1f} {x1:.1f},{y1:.1f} '
            f'L{x1:.1f},{y1 + w:.1f} C{xm:.1f},{y1 + w:.1f} {xm:.1f},{y0 + w:.1f} {x0:.1f},{y0 + w:.1f} Z" '
            f'fill="{fill}" fill-opacity="0.32" stroke="none"><title>{escape(a)} → {escape(b)}: '
            f'{v:,.2f}</title></path>')
    out += paths
    for n in used:
        x = xs[depth[n]]
        fill = _EXIT if n in exit_set else ("#5a0f0a" if n in src_set else "#333")
        out.append(f'<rect x="{x:.1f}" y="{y[n]:.1f}" width="{nodew}" height="{h[n]:.1f}" fill="{fill}">'
                   f'<title>{escape(n)}: {val[n]:,.2f}</title></rect>')
        lx, anchor = x + nodew + 4, "start"
        name = n if len(n) <= 28 else n[:27] + "…"
        out.append(f'<text x="{lx:.1f}" y="{y[n] + h[n] / 2 + 4:.1f}" text-anchor="{anchor}" '
                   f'font-size="11" paint-order="stroke" stroke="#fff" stroke-width="3" stroke-linejoin="round">'
                   f'{escape(name)} <tspan fill="#666">{val[n]:,.2f}</tspan></text>')
    out.append("</svg>")
    return Markup("".join(out))


# -- the view both the report and `trace --format html` render --------------------------------

def trace_view(result: dict[str, Any], trace_id: int | None = None, created_at: Any = None,
               max_accounts: int = MAX_ACCOUNTS, max_schedule: int = MAX_SCHEDULE_ROWS) -> dict[str, Any]:
    rules = list(result["rules"])
    first = result["rules"][rules[0]] if rules else {}
    direction = result.get("direction", "forward")
    view: dict[str, Any] = {"id": trace_id, "created_at": created_at, "direction": direction,
                            "rules": rules, "assumptions": result.get("assumptions") or [],
                            "as_of": result.get("as_of"), "window_984": result.get("window_984"),
                            "sources": result.get("sources") or [], "target": result.get("target"),
                            "cone": result.get("cone"), "taint_sources": result.get("taint_sources") or [],
                            "level": result.get("level") or "account", "pools": result.get("pools") or {}}
    from moneytrail.trace.reading import adds_up

    view["rule_info"] = [{"name": n, "title": r.get("title"), "definition": r.get("definition"),
                          "legal_sources": r.get("legal_sources"), "presumption": r.get("presumption"),
                          "conserving": r.get("conserving"), "totals": r.get("totals") or {},
                          "tainted": r.get("tainted"), "tainted_share": r.get("tainted_share"),
                          "funding_tainted": r.get("funding_tainted"), "funding_note": r.get("funding_note"),
                          "target_amount": r.get("target_amount"),
                          "adds_up": adds_up(r["totals"]) if result.get("direction") == "forward" and r.get("totals")
                          else None}
                         for n, r in result["rules"].items()]
    # accounts side by side: the union, ordered by the first rule's held amount
    accts: dict[str, dict[str, Any]] = {}
    for n, r in result["rules"].items():
        for a, v in (r.get("accounts") or {}).items():
            accts.setdefault(a, {})[n] = v
    order = sorted(accts, key=lambda a: (-max(_f(v.get("tainted_held")) for v in accts[a].values()), a))
    view["accounts"] = [{"account": a, "by_rule": accts[a]} for a in order[:max_accounts]]
    view["accounts_more"] = max(0, len(order) - max_accounts)
    view["exits"] = [{"account": a, **v} for a, v in (first.get("exits") or {}).items()]
    sched = first.get("schedule") or []
    view["schedule_rule"] = rules[0] if rules else None
    view["schedule"] = sched[:max_schedule]
    view["schedule_more"] = max(0, len(sched) - max_schedule)
    view["schedule_truncated"] = bool(first.get("schedule_truncated"))
    view["funding"] = (first.get("funding") or [])[:MAX_FUNDING_ROWS]
    view["funding_more"] = max(0, len(first.get("funding") or []) - MAX_FUNDING_ROWS) + int(first.get("funding_omitted") or 0)
    # the Sankey
    if direction == "backward":
        tacc = (result.get("target") or {}).get("account", "target")
        links = []
        for fr in first.get("funding") or []:
            lab = _origin_label(fr)
            entry = fr.get("entry") or tacc
            if entry == tacc:
                links.append((lab, tacc, _d(fr["amount"])))
            else:
                links.append((lab, entry, _d(fr["amount"])))
                links.append((entry, tacc, _d(fr["amount"])))
        view["sankey"] = sankey_svg(links, color=_FUND, label=f"money funding the target ({rules[0]})")
    else:
        links = [(fl["from"], fl["to"], _d(fl["tainted"])) for fl in first.get("flows") or []]
        srcs = {s.get("from") or s.get("account") for s in result.get("sources") or []}
        exits = {fl["to"] for fl in first.get("flows") or [] if fl.get("to_pseudo")}
        view["sankey"] = sankey_svg(links, sources=srcs, exits=exits,
                                    label=f"tainted money ({rules[0]})")
    return view


def _origin_label(f: dict[str, Any]) -> str:
    o = f.get("origin")
    if o == "taint source":
        return f"source tx {f.get('tx_id')}"
    if o in ("opening balance", "unrecorded money"):
        return f"{o} of {f.get('from')}"
    return f"{f.get('from')} ({o})"


# -- reading saved traces ------------------------------------------------------------------------

def trace_context(ws, max_traces: int = MAX_TRACES) -> dict[str, Any] | None:
    """The saved traces for the report (newest first), or None when there are none."""
    try:
        if not ws.table_exists("traces"):
            return None
        total = ws.scalar("SELECT count(*) FROM traces")
        if not total:
            return None
        heads = ws.records("SELECT trace_id, created_at, direction, rules, parameters, summary FROM traces "
                           "ORDER BY trace_id DESC LIMIT ?", [max_traces])
    except Exception:   # a report never fails on this section
        return None
    items = []
    for hd in heads:
        tid = hd["trace_id"]
        summary = json.loads(hd["summary"]) if isinstance(hd["summary"], str) else hd["summary"]
        result: dict[str, Any] = dict(summary.get("trace") or {})
        result["direction"] = hd["direction"]
        result["rules"] = {}
        for n in hd["rules"]:
            r = dict((summary.get("rules") or {}).get(n) or {})
            r["accounts"] = {a["account_id"]: {
                "tainted_received": a["tainted_received"], "tainted_sent": a["tainted_sent"],
                "tainted_held": a["tainted_held"], "balance_end": a["balance_end"],
                "first_tainted": a["first_tainted"], "s984_forfeitable": a["s984_forfeitable"],
                "s984": (a["s984_forfeitable"] or 0) > 0, "unrecorded_funds": a["unrecorded_funds"]}
                for a in ws.records("SELECT * FROM trace_accounts WHERE trace_id = ? AND rule = ? "
                                    "ORDER BY tainted_held DESC, account_id LIMIT ?", [tid, n, MAX_ACCOUNTS * 2])}
            fl = ws.records("SELECT kind, from_account, to_account, amount, transactions FROM trace_flows "
                            "WHERE trace_id = ? AND rule = ? AND kind <> 'funding' ORDER BY amount DESC LIMIT 500",
                            [tid, n])
            r["flows"] = [{"from": f["from_account"], "to": f["to_account"], "tainted": f["amount"],
                           "transactions": f["transactions"], "to_pseudo": f["kind"] == "exit"} for f in fl]
            r["exits"] = {f["to_account"]: {"tainted": f["amount"], "transactions": f["transactions"]}
                          for f in fl if f["kind"] == "exit"}
            if n == hd["rules"][0]:
                r["schedule"] = ws.records(
                    "SELECT account_id AS account, seq, ts, tx_id, event, counterparty, amount, tainted, "
                    "amount - tainted AS clean, balance_after, tainted_after, clean_after, unrecorded, "
                    "in_984_window, note FROM trace_schedule WHERE trace_id = ? AND rule = ? "
                    "ORDER BY account_id, seq LIMIT ?", [tid, n, MAX_SCHEDULE_ROWS + 1])
                r["funding"] = ws.records(
                    "SELECT origin, tx_id, from_account AS \"from\", entry_account AS entry, hops, amount, share, "
                    "tainted, deposits, first_ts, last_ts FROM trace_funding WHERE trace_id = ? AND rule = ? "
                    "ORDER BY amount DESC LIMIT ?", [tid, n, MAX_FUNDING_ROWS + 1])
            result["rules"][n] = r
        items.append(trace_view(result, tid, hd["created_at"]))
    from moneytrail.trace.reading import reading
    return {"total": total, "items": items, "reading": reading()}


def render_trace_page(result: dict[str, Any], title: str | None = None) -> str:
    """A standalone HTML page for one trace (``moneytrail trace --format html``)."""
    import datetime as _dt

    from moneytrail import __version__
    from moneytrail.report import template_env
    from moneytrail.trace.reading import reading

    tpl = template_env().get_template("trace_page.html.j2")
    return tpl.render(t=trace_view(result), title=title or f"moneytrail fund trace ({result['direction']})",
                      reading=reading() if result.get("direction") == "forward" else [],
                      version=__version__,
                      generated_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0))


__all__ = ["sankey_svg", "trace_view", "trace_context", "render_trace_page"]
