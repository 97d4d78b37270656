"""``moneytrail tx REF`` and ``moneytrail account ACCT``: one transaction with its provenance, one
account with its profile, balance, counterparties, transactions (paged) and findings.

A transaction is named as the investigator has it: the bank's own reference, ``SOURCE:ROW``
(the source's id and its data row, as ``moneytrail sources`` and the quarantine name them), or
the internal id (``id:N`` to be explicit); see :func:`moneytrail._reads.find_tx`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from moneytrail.cli.main import WorkspaceOpt, app, open_session
from moneytrail.cli.tables import money as _m


def _when(v: Any) -> str:
    return "" if v is None else str(v)


@app.command("tx")
def tx_cmd(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="the bank's reference, SOURCE:ROW, or the internal id (id:N)"),
    as_json: bool = typer.Option(False, "--json", help="print as JSON"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Show a transaction with its provenance: the source file (sha256, legal basis, received),
    its row there, the findings that cite it and the other bank's record of the same transfer."""
    from moneytrail.cli.tables import Col, Doc, escape

    with open_session(ctx, workspace) as sess:
        rows = sess.transaction(ref)
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    doc = Doc()
    if len(rows) > 1:
        doc.line(escape(f"{ref!r} names {len(rows)} transactions"
                        + (" (the first 101 shown)" if len(rows) > 100 else "")))
    for r in rows:
        doc.line(escape(f"transaction {r['tx_id']}: {r['ts']}  {r['orig_account']} → {r['bene_account']}  "
                        f"{_m(r['amount'])} {r['currency']}"))
        fields = [
            ("bank's reference", r.get("external_id")), ("end-to-end id", r.get("end_to_end_id")),
            ("customer reference", r.get("customer_reference")), ("channel", r.get("channel")),
            ("type", r.get("tx_type")), ("description", r.get("description")), ("location", r.get("location")),
            ("counterparty", " ".join(x for x in (r.get("counterparty_name"), r.get("counterparty_bank")) if x)),
            ("value date", r.get("value_date")),
            ("statement of", r.get("statement_account")), ("balance after", None if r.get("balance_after") is None
                                                           else _m(r["balance_after"])),
            ("source", f"{r['source_id']}:{r['source_row']} (source {r['source_id']}, data row {r['source_row']}"
                       + (f", {r['source_position']}" if r.get("source_position") else "") + ")"),
            ("file", f"{r['file_name']} ({r['format']})"), ("sha256", r["sha256"]),
            ("legal basis", ", ".join(r.get("legal_basis") or []) or "none recorded"),
            ("received", _when(r["received_at"])),
            ("withdrawn", _when(r.get("withdrawn_at")) or None),
            ("same transfer at the other bank", ", ".join(str(x) for x in r["same_transfer"]) or None),
        ]
        doc.table("", [Col("field", whole=True), Col("value")],
                  [[k, v] for k, v in fields if v not in (None, "")])
        if r["findings"]:
            doc.table(f"cited by {len(r['findings'])} finding(s)",
                      [Col("finding", whole=True), Col("typology"), Col("priority", right=True, whole=True),
                       Col("score", right=True, whole=True), Col("status")],
                      [[f["finding_key"], f["typology"], "—" if f["priority"] is None else f"{f['priority']:,.0f}",
                        f"{f['score']:.2f}", f["status"]] for f in r["findings"]])
        else:
            doc.line("cited by no finding")
    doc.print()


@app.command("account")
def account_cmd(
    ctx: typer.Context,
    account_id: str = typer.Argument(..., help="the account id as the evidence names it"),
    limit: int = typer.Option(20, "--limit", help="transactions per page"),
    offset: int = typer.Option(0, "--offset", help="skip this many transactions (newest first)"),
    as_json: bool = typer.Option(False, "--json", help="print as JSON"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """An account: what the sources say about it, money in and out, its balance, its main
    counterparties, its transactions (newest first, paged) and the findings that name it."""
    from moneytrail.cli.tables import Col, Doc, escape

    with open_session(ctx, workspace) as sess:
        a = sess.account(account_id)
        tx = sess.transactions(account=account_id, limit=limit, offset=offset)
    if as_json:
        typer.echo(json.dumps({**a, "transactions": tx}, default=str))
        return
    doc = Doc()
    fl = a["flows"]
    doc.line(escape(f"account {a['account_id']}"
                    + (f" (held by entity {a['entity']['entity_id']}: {a['entity']['name']})" if a.get("entity") else "")))
    if fl["n_in"] or fl["n_out"] or not a.get("party"):    # a vendor, employer, office: no transfers of its own
        doc.line(escape(f"in: {fl['n_in']:,} transaction(s), {_m(fl['in_total'])}; out: {fl['n_out']:,}, "
                        f"{_m(fl['out_total'])}; from {_when(fl['first_ts'])} to {_when(fl['last_ts'])}"))
    for rec in a["records"]:
        facts = {k: v for k, v in rec.items() if v not in (None, "", []) and k != "account_id"}
        attrs = facts.pop("attributes", None)
        try:
            attrs = json.loads(attrs) if isinstance(attrs, str) else attrs
        except ValueError:
            pass
        if isinstance(attrs, dict):     # what the source gave beyond the usual fields, one per row
            facts.update({k: v for k, v in attrs.items() if v not in (None, "") and not k.endswith("_norm")})
        elif attrs:
            facts["attributes"] = attrs
        if "source_id" in facts and "source_row" in facts:
            facts["source"] = f"{facts.pop('source_id')}:{facts.pop('source_row')}"
        if facts:
            doc.table("what the sources say", [Col("field", whole=True), Col("value")],
                      [[k, str(v)] for k, v in facts.items()])
    party = a.get("party")
    if party and party["records"]:
        n = sum(party["counts"].values())
        doc.table(f"records of {party['party']} ({', '.join(f'{k}: {v:,}' for k, v in party['counts'].items())}"
                  f"{'; newest ' + str(len(party['records'])) + ' shown' if n > len(party['records']) else ''})",
                  [Col("kind"), Col("date", whole=True), Col("amount", right=True, whole=True), Col("party"),
                   Col("source", whole=True), Col("detail", drop=1)],
                  [[r["kind"].replace("_", " "), str(r["on_date"] or ""), "" if r["amount"] is None else _m(r["amount"]),
                    r["party"] or "", f"{r['source_id']}:{r['source_row']}", r["detail"] or ""]
                   for r in party["records"]])
    bal = a["balance"]
    if bal:
        last = bal[-1]
        stated = next((b for b in reversed(bal) if b["stated"] is not None), None)
        doc.line(escape(f"balance: net flow {_m(last['running_net'])} by {last['day']}"
                        + (f"; last statement balance {_m(stated['stated'])} on {stated['day']}" if stated else
                           "; no statement balance (the net flow starts from zero: pass --opening to trace, "
                           "or ingest statements with balances)")))
    if a["counterparties"]:
        doc.table(f"main counterparties ({len(a['counterparties'])})",
                  [Col("account", whole=True), Col("received from", right=True, whole=True),
                   Col("paid to", right=True, whole=True), Col("transactions", right=True, whole=True)],
                  [[c["account_id"], _m(c["in_total"]), _m(c["out_total"]), f"{c['n']:,}"]
                   for c in a["counterparties"]])
    rows = tx["rows"]
    shown_to = tx["offset"] + len(rows)
    doc.table(f"transactions {tx['offset'] + 1 if rows else 0}-{shown_to} of {tx['total']:,} (newest first)",
              [Col("time", whole=True), Col("from", whole=True), Col("to", whole=True),
               Col("amount", right=True, whole=True), Col("reference", whole=True), Col("source", whole=True),
               Col("description", drop=1)],
              [[str(r["ts"]), r["orig_account"], r["bene_account"], f"{_m(r['amount'])} {r['currency']}",
                r.get("external_id") or "", f"{r['source_id']}:{r['source_row']}", r.get("description") or ""]
               for r in rows])
    if tx["total"] > shown_to:
        doc.line(f"({tx['total'] - shown_to:,} more: --offset {shown_to})")
    if a["findings"]:
        doc.table(f"findings naming it ({len(a['findings'])})",
                  [Col("finding", whole=True), Col("typology"), Col("role"),
                   Col("priority", right=True, whole=True), Col("amount", right=True, whole=True), Col("status")],
                  [[f["finding_key"], f["typology"], f["role"],
                    "—" if f["priority"] is None else f"{f['priority']:,.0f}", _m(f["total_amount"]), f["status"]]
                   for f in a["findings"]])
    else:
        doc.line("named by no finding")
    doc.print()
