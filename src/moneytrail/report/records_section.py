"""The employer and contract records in the case report (issue 17).

* **Employers**: per employer (those the case's findings name first, then the largest payrolls),
  per quarter: the gross pay its payroll register shows, the wages it reported on Form 941 and
  to the state UI program, the net it paid by each method, and a chart of the three figures;
  each employer links to the findings that name it.
* **Contracts**: per vendor (findings first, then the largest paid): awards (count, obligated,
  single-offer share), payments (count, total, first and last), its registration date, and a
  Benford first-digit chart of its payment amounts with Nigrini's mean-absolute-deviation band;
  each vendor links to the findings that name it.

Everything is computed here in SQL over the case's tables and drawn as inline SVG; every value
reaches the template as data (autoescaped) or as SVG built with :func:`markupsafe.escape`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from moneytrail.detect.contracts import benford_p, conformity

MAX_EMPLOYERS = 12
MAX_VENDORS = 15
BENFORD_MIN = 50                   # payments needed before a vendor's digits are charted
#: Benford's first-digit proportions; the bands are Nigrini's, as the benford typology has them
BENFORD = [benford_p(d) for d in range(1, 10)]


def _links(ws, prefix: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The findings naming each party ``prefix + id`` (most important first)."""
    if not ids:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for r in ws.records("""
        SELECT substr(a.account_id, length(?) + 1) AS pid, f.finding_id, f.typology, f.score
        FROM finding_accounts a JOIN findings f USING (finding_id)
        WHERE list_contains(?, a.account_id)
        ORDER BY f.score DESC, f.finding_id""", [prefix, [prefix + i for i in ids]]):
        lst = out.setdefault(r["pid"], [])
        if all(x["finding_id"] != r["finding_id"] for x in lst):
            lst.append(r)
    return out


def _bars_svg(quarters: list[dict[str, Any]], series: list[tuple[str, str, str]], title: str) -> Markup:
    """Grouped bars: one group per quarter, one bar per series (key, label, colour)."""
    W, H, L, B, T = 560, 190, 64, 28, 14
    top = max([float(q.get(k) or 0) for q in quarters for k, _, _ in series] + [1.0])
    n, m = len(quarters), len(series)
    gw = (W - L - 10) / max(n, 1)
    bw = max(2.0, gw * 0.8 / m)
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H + 18}" width="100%" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):
        y = T + (H - T - B) * i / 4
        v = top * (1 - i / 4)
        parts.append(f'<line x1="{L}" x2="{W - 6}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7ec"/>'
                     f'<text x="{L - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{escape(f"{v:,.0f}")}</text>')
    for gi, q in enumerate(quarters):
        x0 = L + gi * gw + gw * 0.1
        for si, (k, label, col) in enumerate(series):
            v = float(q.get(k) or 0)
            h = (H - T - B) * v / top
            parts.append(f'<rect x="{x0 + si * bw:.1f}" y="{H - B - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" '
                         f'fill="{col}"><title>{escape(q["label"])} {escape(label)}: {escape(f"{v:,.2f}")}</title></rect>')
        parts.append(f'<text x="{x0 + gw * 0.4:.1f}" y="{H - B + 14}" text-anchor="middle" font-size="10">'
                     f'{escape(q["label"])}</text>')
    lx = L
    for k, label, col in series:
        parts.append(f'<rect x="{lx}" y="{H + 4}" width="10" height="10" fill="{col}"/>'
                     f'<text x="{lx + 14}" y="{H + 13}" font-size="10">{escape(label)}</text>')
        lx += 14 + 7 * len(label) + 16
    parts.append("</svg>")
    return Markup("".join(parts))


def employers_context(ws, limit: int = MAX_EMPLOYERS) -> dict[str, Any] | None:
    """Payroll against reported wages per employer and quarter (None without payroll or wage records)."""
    if not (ws.scalar("SELECT count(*) FROM payroll_lines") or ws.scalar("SELECT count(*) FROM wage_reports")):
        return None
    rows = ws.records("""
        WITH p AS (SELECT employer, any_value(employer_name) AS name, any_value(employer_ein) AS ein,
                          sum(gross) AS gross FROM payroll_lines GROUP BY employer),
             w AS (SELECT coalesce(employer_ein, upper(employer_name)) AS employer, any_value(employer_name) AS name,
                          any_value(employer_ein) AS ein, sum(wages) FILTER (WHERE form = '941') AS w941
                   FROM wage_reports GROUP BY 1),
             e AS (SELECT coalesce(p.employer, w.employer) AS employer, coalesce(p.name, w.name) AS name,
                          coalesce(p.ein, w.ein) AS ein, p.gross, w.w941
                   FROM p FULL JOIN w ON w.employer = p.employer),
             named AS (SELECT substr(account_id, 10) AS employer, count(DISTINCT finding_id) AS n
                       FROM finding_accounts WHERE account_id LIKE 'employer:%' GROUP BY 1)
        SELECT e.*, coalesce(named.n, 0) AS n_findings, count(*) OVER () AS total
        FROM e LEFT JOIN named USING (employer)
        ORDER BY n_findings DESC, coalesce(gross, w941, 0) DESC, employer LIMIT ?""", [int(limit)])
    if not rows:
        return None
    ids = [r["employer"] for r in rows]
    quarters = ws.records("""
        WITH pq AS (SELECT employer, year(pay_date) AS y, quarter(pay_date) AS q, sum(gross) AS gross,
                           sum(net) FILTER (WHERE pay_method = 'cash') AS cash,
                           count(DISTINCT worker_key) AS workers
                    FROM payroll_lines WHERE list_contains(?, employer) GROUP BY ALL),
             wq AS (SELECT coalesce(employer_ein, upper(employer_name)) AS employer, tax_year AS y, quarter AS q,
                           sum(wages) FILTER (WHERE form = '941') AS w941,
                           max(employees) FILTER (WHERE form = '941') AS employees,
                           sum(wages) FILTER (WHERE form = 'ui') AS ui
                    FROM wage_reports WHERE quarter IS NOT NULL
                      AND list_contains(?, coalesce(employer_ein, upper(employer_name))) GROUP BY ALL)
        SELECT coalesce(pq.employer, wq.employer) AS employer, coalesce(pq.y, wq.y) AS y, coalesce(pq.q, wq.q) AS q,
               pq.gross, pq.cash, pq.workers, wq.w941, wq.employees, wq.ui
        FROM pq FULL JOIN wq ON wq.employer = pq.employer AND wq.y = pq.y AND wq.q = pq.q
        ORDER BY 1, 2, 3""", [ids, ids])
    by: dict[str, list[dict[str, Any]]] = {}
    for q in quarters:
        q["label"] = f"{q['y']} Q{q['q']}"
        q["share"] = (float(q["w941"]) / float(q["gross"])) if q.get("gross") and q.get("w941") is not None else None
        by.setdefault(q["employer"], []).append(q)
    links = _links(ws, "employer:", ids)
    for r in rows:
        r["quarters"] = by.get(r["employer"], [])
        r["findings"] = links.get(r["employer"], [])
        r["chart"] = _bars_svg(r["quarters"], [("gross", "payroll register gross", "#3e6fa8"),
                                                ("w941", "941 wages", "#d4461b"), ("ui", "UI wages", "#8197b3")],
                               f"{r['name'] or r['employer']}: payroll and reported wages by quarter")
    return {"rows": rows, "total": rows[0]["total"], "more": max(rows[0]["total"] - len(rows), 0)}


def first_digits(amounts: list[Decimal | float]) -> tuple[list[float], int]:
    """The share of each first digit 1-9 among ``amounts`` of 10 or more (absolute values), and
    how many counted."""
    counts = [0] * 9
    for a in amounts:
        x = abs(Decimal(a))
        if x >= 10:
            counts[int(str(x.normalize()).lstrip("0.")[0]) - 1] += 1
    n = sum(counts)
    return ([c / n for c in counts] if n else [0.0] * 9), n


def mad_band(props: list[float]) -> tuple[float, str]:
    """Mean absolute deviation from Benford's first-digit proportions, and Nigrini's band for it."""
    mad = sum(abs(p - e) for p, e in zip(props, BENFORD)) / 9
    return mad, conformity(mad)


def _benford_svg(props: list[float], n: int, mad: float, band: str, title: str) -> Markup:
    W, H, L, B, T = 320, 160, 34, 24, 12
    top = max(props + BENFORD + [0.35])
    bw = (W - L - 8) / 9
    parts = [f'<svg class="chart benford" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i in range(4):
        y = T + (H - T - B) * i / 3
        parts.append(f'<line x1="{L}" x2="{W - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7ec"/>'
                     f'<text x="{L - 3}" y="{y + 4:.1f}" text-anchor="end" font-size="9">{top * (1 - i / 3):.0%}</text>')
    pts = []
    for d in range(9):
        x = L + d * bw
        h = (H - T - B) * props[d] / top
        parts.append(f'<rect x="{x + 2:.1f}" y="{H - B - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="#3e6fa8">'
                     f'<title>digit {d + 1}: {props[d]:.1%} of {n} (Benford {BENFORD[d]:.1%})</title></rect>'
                     f'<text x="{x + bw / 2:.1f}" y="{H - B + 13}" text-anchor="middle" font-size="10">{d + 1}</text>')
        pts.append(f"{x + bw / 2:.1f},{H - B - (H - T - B) * BENFORD[d] / top:.1f}")
    parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#d4461b" stroke-width="2"/>')
    parts.append(f'<text x="{W - 6}" y="{T + 10}" text-anchor="end" font-size="10">MAD {mad:.4f}: {escape(band)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def contracts_context(ws, limit: int = MAX_VENDORS) -> dict[str, Any] | None:
    """Awards and payments per vendor, with a Benford chart of its payments (None without records)."""
    if not (ws.scalar("SELECT count(*) FROM awards") or ws.scalar("SELECT count(*) FROM payments")):
        return None
    rows = ws.records("""
        WITH v AS (SELECT uei, any_value(name) AS name, min(registered) AS registered,
                          any_value(vendor_id) FILTER (WHERE vendor_id IS NOT NULL) AS vendor_id
                   FROM vendors WHERE uei IS NOT NULL GROUP BY uei),
             pay AS (SELECT coalesce(p.vendor_uei, v2.uei) AS uei, any_value(p.vendor_name) AS name,
                            count(*) AS n_pay, sum(p.amount) AS paid, min(p.paid_date) AS first_paid,
                            max(p.paid_date) AS last_paid
                     FROM payments p LEFT JOIN (SELECT DISTINCT vendor_id, uei FROM vendors
                                                WHERE vendor_id IS NOT NULL) v2 ON v2.vendor_id = p.vendor_id
                     GROUP BY 1),
             aw AS (SELECT recipient_uei AS uei, any_value(recipient_name) AS name, count(*) AS n_awards,
                           sum(obligation) AS obligated, min(action_date) AS first_award,
                           avg(CASE WHEN offers = 1 THEN 1.0 WHEN offers > 1 THEN 0.0 END) AS single_offer
                    FROM awards WHERE recipient_uei IS NOT NULL GROUP BY 1),
             named AS (SELECT substr(account_id, 8) AS uei, count(DISTINCT finding_id) AS n
                       FROM finding_accounts WHERE account_id LIKE 'vendor:%' GROUP BY 1),
             allv AS (SELECT uei FROM pay WHERE uei IS NOT NULL UNION SELECT uei FROM aw)
        SELECT allv.uei, coalesce(v.name, aw.name, pay.name) AS name, v.registered, v.vendor_id,
               aw.n_awards, aw.obligated, aw.first_award, aw.single_offer,
               pay.n_pay, pay.paid, pay.first_paid, pay.last_paid, coalesce(named.n, 0) AS n_findings,
               count(*) OVER () AS total
        FROM allv LEFT JOIN v USING (uei) LEFT JOIN pay USING (uei) LEFT JOIN aw USING (uei)
             LEFT JOIN named USING (uei)
        ORDER BY n_findings DESC, coalesce(pay.paid, 0) + coalesce(aw.obligated, 0) DESC, allv.uei
        LIMIT ?""", [int(limit)])
    if not rows:
        return None
    ids = [r["uei"] for r in rows]
    amounts: dict[str, list] = {}
    for uei, amt in ws.query("""
        SELECT coalesce(p.vendor_uei, v.uei), p.amount FROM payments p
        LEFT JOIN (SELECT DISTINCT vendor_id, uei FROM vendors WHERE vendor_id IS NOT NULL) v
               ON v.vendor_id = p.vendor_id
        WHERE list_contains(?, coalesce(p.vendor_uei, v.uei))""", [ids]):
        amounts.setdefault(uei, []).append(amt)
    links = _links(ws, "vendor:", ids)
    for r in rows:
        r["findings"] = links.get(r["uei"], [])
        props, n = first_digits(amounts.get(r["uei"], []))
        r["benford_n"] = n
        r["benford"] = r["mad"] = r["band"] = None
        if n >= BENFORD_MIN:
            r["mad"], r["band"] = mad_band(props)
            r["benford"] = _benford_svg(props, n, r["mad"], r["band"],
                                        f"{r['name'] or r['uei']}: first digits of {n} payments against Benford's law")
    return {"rows": rows, "total": rows[0]["total"], "more": max(rows[0]["total"] - len(rows), 0),
            "benford_min": BENFORD_MIN}


__all__ = ["contracts_context", "employers_context", "first_digits", "mad_band"]
