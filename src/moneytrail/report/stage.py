"""Pipeline adapter for stage 6 (report): renders the HTML case report."""

from __future__ import annotations

NAME = "report"


def run(ctx) -> dict:
    from moneytrail.report import render_report

    path = render_report(ctx.ws, ctx.params.get("out"), title=ctx.params.get("title"))
    return {"report": str(path)}
