"""The flows-over-time chart: aggregated in DuckDB, drawn as inline SVG in Python.

No JavaScript and no chart library: the SVG is plain markup, every text in it is escaped,
and each bucket carries a ``<title>`` so a browser shows its figures on hover.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from moneytrail.sqlkit import lit
from moneytrail.workspace import Workspace

# Bucket width: daily below 60 days of span, weekly up to ~8 years, then monthly, then yearly;
# the chart never has more than a few hundred bars however many transactions there are.
DAILY_BELOW_DAYS = 60
MAX_BUCKETS = 420

UNIT_WORD = {"day": "Daily", "week": "Weekly", "month": "Monthly", "year": "Yearly"}
UNIT_NOUN = {"day": "day", "week": "week", "month": "month", "year": "year"}

COL_TOTAL = "#3e6fa8"
COL_COUNT = "#8197b3"
COL_FLAG = "#d4461b"
COL_BAND = "#fbe9e3"
COL_GRID = "#e4e7ec"
COL_AXIS = "#5b6470"


@dataclass
class Bucket:
    start: _dt.date
    n: int = 0
    amount: Decimal = Decimal(0)
    flag_n: int = 0
    flag_amount: Decimal = Decimal(0)


@dataclass
class Flows:
    unit: str
    currency: str
    other_currencies: list[str]
    excluded_n: int  # transactions in other currencies: in the counts, not in the amounts
    buckets: list[Bucket]
    svg: Markup

    @property
    def caption_unit(self) -> str:
        return UNIT_WORD[self.unit]

    @property
    def noun(self) -> str:
        return UNIT_NOUN[self.unit]

    @property
    def flagged_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.flag_n)


def _choose_unit(first: _dt.datetime, last: _dt.datetime) -> str:
    days = (last - first).days
    if days < DAILY_BELOW_DAYS:
        return "day"
    if days / 7 <= MAX_BUCKETS:
        return "week"
    if days / 30.4 <= MAX_BUCKETS:
        return "month"
    return "year"


def _step(d: _dt.date, unit: str) -> _dt.date:
    if unit == "day":
        return d + _dt.timedelta(days=1)
    if unit == "week":
        return d + _dt.timedelta(days=7)
    if unit == "month":
        return _dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return _dt.date(d.year + 1, 1, 1)


def _as_date(v: Any) -> _dt.date:
    return v.date() if isinstance(v, _dt.datetime) else v


def compute_flows(ws: Workspace) -> Flows | None:
    """Aggregate transactions per bucket (all in SQL); None when there are no transactions."""
    first, last, n = ws.con.execute("SELECT min(ts), max(ts), count(*) FROM transactions").fetchall()[0]
    if not n:
        return None
    unit = _choose_unit(first, last)
    cur_rows = ws.query("SELECT currency, count(*) AS n FROM transactions GROUP BY 1 "
                        "ORDER BY n DESC, currency")
    currency = cur_rows[0][0]
    others = [r[0] for r in cur_rows[1:]]
    excluded = sum(int(r[1]) for r in cur_rows[1:])

    trunc = f"CAST(date_trunc({lit(unit)}, t.ts) AS DATE)"  # unit is one of four words above
    totals = ws.query(
        f"SELECT {trunc} AS b, count(*), coalesce(sum(t.amount) FILTER (WHERE t.currency = ?), 0) "
        f"FROM transactions t GROUP BY 1 ORDER BY 1", [currency])
    flagged = ws.query(
        f"SELECT {trunc} AS b, count(*), coalesce(sum(t.amount) FILTER (WHERE t.currency = ?), 0) "
        f"FROM transactions t SEMI JOIN (SELECT DISTINCT tx_id FROM finding_transactions) f "
        f"ON t.tx_id = f.tx_id GROUP BY 1 ORDER BY 1", [currency])

    by_start: dict[_dt.date, Bucket] = {}
    d, end = _as_date(totals[0][0]), _as_date(totals[-1][0])
    while d <= end:  # fill the gaps: an empty week is a zero, not a missing bar
        by_start[d] = Bucket(d)
        d = _step(d, unit)
    for b, cnt, amt in totals:
        bk = by_start.setdefault(_as_date(b), Bucket(_as_date(b)))
        bk.n, bk.amount = int(cnt), Decimal(amt)
    for b, cnt, amt in flagged:
        bk = by_start.setdefault(_as_date(b), Bucket(_as_date(b)))
        bk.flag_n, bk.flag_amount = int(cnt), Decimal(amt)
    buckets = [by_start[k] for k in sorted(by_start)]
    flows = Flows(unit, currency, others, excluded, buckets, Markup(""))
    flows.svg = render_svg(flows)
    return flows


# -- drawing ------------------------------------------------------------------------------------

def nice_ticks(vmax: float, n: int = 4) -> list[float]:
    """0 .. a round number >= vmax in about n round steps (1, 2, 2.5, 5 x 10^k)."""
    if vmax <= 0 or not math.isfinite(vmax):
        return [0.0, 1.0]
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    top = math.ceil(vmax / step - 1e-9) * step
    k = int(round(top / step))
    return [i * step for i in range(k + 1)]


def compact(v: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M."""
    a = abs(v)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            s = f"{v / div:.2f}".rstrip("0").rstrip(".")
            return s + suf
    if a == int(a):
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _fmt_amt(v: Decimal) -> str:
    return f"{v:,.2f}"


def bucket_label(d: _dt.date, unit: str) -> str:
    if unit == "month":
        return d.strftime("%Y-%m")
    if unit == "year":
        return d.strftime("%Y")
    return d.isoformat()


def _f(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def render_svg(fl: Flows) -> Markup:
    W, ML, MR = 960, 78, 18
    A_TOP, A_H = 40, 210          # amount panel
    C_TOP, C_H = A_TOP + A_H + 28, 80  # count panel
    X_LAB = C_TOP + C_H + 18
    H = X_LAB + 14
    pw = W - ML - MR
    bs = fl.buckets
    n = len(bs)
    bw = pw / n
    gap = bw * 0.18 if bw >= 4 else 0.0
    barw = max(bw - gap, 0.6)

    amax = float(max((b.amount for b in bs), default=0))
    cmax = max((b.n for b in bs), default=0)
    aticks = nice_ticks(amax)
    cticks = nice_ticks(cmax, 2)
    atop, ctop = aticks[-1], cticks[-1]

    def ay(v: float) -> float:
        return A_TOP + A_H - (v / atop) * A_H

    def cy(v: float) -> float:
        return C_TOP + C_H - (v / ctop) * C_H

    cur = escape(fl.currency)
    out: list[str] = []
    a = out.append
    a(f'<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" '
      f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet" '
      f'aria-label="{escape(UNIT_WORD[fl.unit])} transaction amount ({cur}) and count, '
      f'with the amount in findings highlighted">')
    a('<style>text{font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:%s}'
      '.t{font-weight:600;fill:#1f2933}</style>' % COL_AXIS)

    # legend
    lx = ML
    for col, label in ((COL_TOTAL, f"Amount ({fl.currency}) per {UNIT_NOUN[fl.unit]}"),
                       (COL_FLAG, "Amount in findings"),
                       (COL_BAND, f"{UNIT_NOUN[fl.unit].capitalize()} with flagged transactions")):
        stroke = ' stroke="#e8b4a4"' if col == COL_BAND else ""
        a(f'<rect x="{lx}" y="9" width="12" height="12" fill="{col}"{stroke}/>')
        a(f'<text x="{lx + 17}" y="19">{escape(label)}</text>')
        lx += 17 + 7 * len(label) + 22

    # flagged bands behind both panels
    for i, b in enumerate(bs):
        if b.flag_n:
            a(f'<rect x="{_f(ML + i * bw)}" y="{A_TOP}" width="{_f(max(bw, 0.8))}" '
              f'height="{C_TOP + C_H - A_TOP}" fill="{COL_BAND}"/>')

    # grid + y axes
    for v in aticks:
        y = _f(ay(v))
        a(f'<line x1="{ML}" x2="{W - MR}" y1="{y}" y2="{y}" stroke="{COL_GRID}"/>')
        a(f'<text x="{ML - 6}" y="{y}" dy="3.5" text-anchor="end">{escape(compact(v))}</text>')
    for v in cticks:
        y = _f(cy(v))
        a(f'<line x1="{ML}" x2="{W - MR}" y1="{y}" y2="{y}" stroke="{COL_GRID}"/>')
        a(f'<text x="{ML - 6}" y="{y}" dy="3.5" text-anchor="end">{escape(compact(v))}</text>')
    a(f'<text class="t" x="14" y="{A_TOP + A_H / 2}" text-anchor="middle" '
      f'transform="rotate(-90 14 {A_TOP + A_H / 2})">Amount ({cur})</text>')
    a(f'<text class="t" x="14" y="{C_TOP + C_H / 2}" text-anchor="middle" '
      f'transform="rotate(-90 14 {C_TOP + C_H / 2})">Count</text>')

    # bars
    for i, b in enumerate(bs):
        x = _f(ML + i * bw + gap / 2)
        if b.amount > 0:
            y = ay(float(b.amount))
            a(f'<rect x="{x}" y="{_f(y)}" width="{_f(barw)}" height="{_f(A_TOP + A_H - y)}" '
              f'fill="{COL_TOTAL}"/>')
        if b.flag_amount > 0:
            y = ay(float(b.flag_amount))
            a(f'<rect x="{x}" y="{_f(y)}" width="{_f(barw)}" height="{_f(A_TOP + A_H - y)}" '
              f'fill="{COL_FLAG}"/>')
        if b.n:
            y = cy(b.n)
            a(f'<rect x="{x}" y="{_f(y)}" width="{_f(barw)}" height="{_f(C_TOP + C_H - y)}" '
              f'fill="{COL_COUNT}"/>')
        if b.flag_n:
            y = cy(b.flag_n)
            a(f'<rect x="{x}" y="{_f(y)}" width="{_f(barw)}" height="{_f(C_TOP + C_H - y)}" '
              f'fill="{COL_FLAG}"/>')

    # baselines
    for y in (A_TOP + A_H, C_TOP + C_H):
        a(f'<line x1="{ML}" x2="{W - MR}" y1="{y}" y2="{y}" stroke="{COL_AXIS}"/>')

    # x labels: about eight, evenly spaced
    every = max(1, math.ceil(n / 8))
    for i in range(0, n, every):
        cx = _f(ML + (i + 0.5) * bw)
        a(f'<line x1="{cx}" x2="{cx}" y1="{C_TOP + C_H}" y2="{C_TOP + C_H + 4}" stroke="{COL_AXIS}"/>')
        label = bucket_label(bs[i].start, fl.unit)
        half = 3.3 * len(label)  # about half the label's width at 11px
        if float(cx) + half > W - 2:
            tx, anchor = f"{W - 2}", "end"
        elif float(cx) - half < 2:
            tx, anchor = "2", "start"
        else:
            tx, anchor = cx, "middle"
        a(f'<text x="{tx}" y="{X_LAB}" text-anchor="{anchor}">{escape(label)}</text>')

    # hover titles (one transparent column per bucket)
    noun = UNIT_NOUN[fl.unit]
    for i, b in enumerate(bs):
        tip = (f"{noun} of {bucket_label(b.start, fl.unit)}: {b.n:,} transactions, "
               f"{_fmt_amt(b.amount)} {fl.currency}")
        if b.flag_n:
            tip += f"; in findings: {b.flag_n:,} transactions, {_fmt_amt(b.flag_amount)} {fl.currency}"
        a(f'<rect x="{_f(ML + i * bw)}" y="{A_TOP}" width="{_f(max(bw, 0.8))}" '
          f'height="{C_TOP + C_H - A_TOP}" fill="transparent"><title>{escape(tip)}</title></rect>')
    a("</svg>")
    return Markup("".join(out))
