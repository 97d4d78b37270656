"""Pipeline adapter for stage 6 (report): renders the HTML case report."""

from __future__ import annotations

NAME = "report"
NEEDS = ("sources", "transactions", "quarantine", "accounts", "parties", "labels", "runs", "findings",
         "finding_accounts", "finding_transactions", "traces", "trace_accounts", "trace_flows", "trace_schedule",
         "trace_funding")
MAKES = ()                  # an HTML file, outside the workspace


def run(ctx) -> dict:
    from moneytrail.report import render_report

    path = render_report(ctx.ws, ctx.params.get("out"), title=ctx.params.get("title"))
    return {"report": str(path)}
