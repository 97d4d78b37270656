"""``moneytrail trace`` and ``moneytrail bench trace`` (issue 5: fund tracing).

Registered on the main app by ``moneytrail.cli.main._load_command_modules``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, List, Optional

import typer

from moneytrail.cli.tables import money as _m   # exact amounts, as tx and account print them
from moneytrail.cli.main import WorkspaceOpt, app, bench_app, open_session
from moneytrail.errors import ConfigError

FORMATS = ("table", "json", "csv", "html")


def _when(value: Optional[str], opt: str) -> Optional[_dt.datetime]:
    if value is None:
        return None
    try:
        ts = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{opt} {value!r}: expected a date or date-time, e.g. 2024-03-01 or "
                          f"2024-03-01T14:30") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return ts


def _amount(value: Optional[str]) -> Optional[Decimal]:
    if value is None:
        return None
    try:
        d = Decimal(value.replace(",", "").strip())
    except InvalidOperation:
        raise ConfigError(f"--amount {value!r}: not a number") from None
    if not d.is_finite() or d <= 0:
        raise ConfigError(f"--amount {value!r}: must be a number above zero")
    if d != d.quantize(Decimal("0.0001")):
        raise ConfigError(f"--amount {value!r}: at most 4 decimals")
    return d


@app.command("trace")
def trace_cmd(
    ctx: typer.Context,
    source: List[str] = typer.Option([], "--source", "-s", help="tainted transaction (repeatable): the bank's "
                                     "reference, SOURCE:ROW or the internal id; backward: known taint sources "
                                     "for the tainted share"),
    account: Optional[str] = typer.Option(None, "--account", help="forward: account holding the tainted "
                                          "amount; backward: account whose balance is the target"),
    amount: Optional[str] = typer.Option(None, "--amount", help="forward: the tainted amount held in --account"),
    at: Optional[str] = typer.Option(None, "--at", help="time of the holding / target balance: an ISO date or "
                                     "date-time; it follows every transaction at or before it (date-only rows sit "
                                     "at 00:00, so a date includes that day's rows)"),
    target: Optional[str] = typer.Option(None, "--target", help="backward: the outgoing payment to trace back "
                                         "(the bank's reference, SOURCE:ROW or the internal id)"),
    rule: str = typer.Option("libr", "--rule", "-r", help="libr | fifo | lifo | prorata | poison | replenish | "
                             "haircut (the proportional rule: prorata's figures) | a comma list | all (every "
                             "rule but haircut)"),
    direction: str = typer.Option("forward", "--direction", "-d", help="forward | backward"),
    presumption: Optional[str] = typer.Option(None, "--presumption", help="withdrawal presumption for libr and "
                                              "replenish: clean-first (default) | tainted-first"),
    opening: List[str] = typer.Option([], "--opening", help="opening balance ACCT=AMOUNT (repeatable); "
                                      "overrides statements and account records"),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="trace up to this time; the 18 U.S.C. 984 "
                                        "window is the year before it (default: the last transaction)"),
    max_hops: int = typer.Option(6, "--max-hops", help="backward: rounds of senders to follow back"),
    level: str = typer.Option("account", "--level", help="account: each account its own balance; entity: the "
                              "accounts of each resolved entity are one pool (moneytrail resolve)"),
    format: str = typer.Option("table", "--format", "-f", help="table | json | csv | html"),
    schedule: bool = typer.Option(False, "--schedule", help="table: print the tracing schedules; csv: write "
                                  "the schedule rows instead of the account summary (json and html always have them)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write the output to this file"),
    save: bool = typer.Option(True, "--save/--no-save", help="keep the trace in the workspace for the report"),
    limit: int = typer.Option(40, "--limit", help="table: rows per table"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Trace tainted funds under a legal tracing rule (forward from sources, or backward from a target)."""
    from moneytrail.trace.backward import Target
    from moneytrail.trace.balances import parse_openings
    from moneytrail.trace.engine import Source

    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}: choose table, json, csv or html")
    if direction not in ("forward", "backward"):
        raise ConfigError(f"--direction {direction!r}: choose forward or backward")
    if level not in ("account", "entity"):
        raise ConfigError(f"--level {level[:40]!r}: choose account or entity")
    from moneytrail.trace import rules as trace_rules

    rules = ["all"] if rule == "all" else [r.strip() for r in rule.split(",") if r.strip()]
    for r in rules:   # checked before the workspace is opened
        if r != "all":
            trace_rules.presumption_for(trace_rules.get(r), presumption)
    if presumption is not None and presumption not in trace_rules.PRESUMPTIONS:
        raise ConfigError(f"--presumption {presumption!r}: choose clean-first or tainted-first")
    openings = parse_openings(opening)
    at_ts = _when(at, "--at")
    as_of_ts = _when(as_of, "--as-of")
    amt = _amount(amount)
    srcs: list[Any] = list(dict.fromkeys(source))
    tgt = None
    if direction == "forward":
        if target is not None:
            raise ConfigError("--target is for --direction backward; forward tracing starts from --source "
                              "or --account/--amount/--at")
        if account is not None or amt is not None or at_ts is not None:
            if account is None or amt is None or at_ts is None:
                raise ConfigError("a tainted holding needs --account, --amount and --at together")
            srcs.append(Source(account=account, amount=amt, at=at_ts))
        if not srcs:
            raise ConfigError("forward tracing needs --source TX (repeatable: the bank's reference, SOURCE:ROW "
                              "or the internal id) or --account ACCT --amount X --at TIME")
    else:
        if amt is not None:
            raise ConfigError("--amount is not used backward: the target is a payment (--target) or an "
                              "account's whole balance (--account, --at)")
        if target is not None:
            if account is not None or at_ts is not None:
                raise ConfigError("give either --target TX or --account ACCT --at TIME, not both")
            tgt = Target(tx_id=target)
        elif account is not None and at_ts is not None:
            tgt = Target(account=account, at=at_ts)
        else:
            raise ConfigError("backward tracing needs a target: --target TX, or --account ACCT --at TIME")
        if as_of_ts is not None:
            raise ConfigError("--as-of is for forward tracing; backward, the target's time is the horizon")

    with open_session(ctx, workspace) as sess:      # decided and audited first; the read recorded before output
        result = sess.trace(srcs, rule=rules, direction=direction, target=tgt, presumption=presumption,
                            openings=openings, as_of=as_of_ts, max_hops=max_hops, level=level, save=save,
                            destination=str(out) if out else "stdout")
    text = _render(result, format, schedule=schedule, limit=limit, plain=True if out is not None else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(str(out))
    else:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")


# -- output ---------------------------------------------------------------------------------------

def _json_default(v):
    if isinstance(v, (_dt.datetime, _dt.date)):
        return v.isoformat(sep=" ") if isinstance(v, _dt.datetime) else v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def _render(result: dict[str, Any], fmt: str, *, schedule: bool, limit: int, plain: bool | None = None) -> str:
    if fmt == "json":
        return json.dumps(result, default=_json_default, indent=1)
    if fmt == "html":
        from moneytrail.report.trace_section import render_trace_page
        return render_trace_page(result)
    if fmt == "csv":
        return _csv(result, schedule)
    return _table(result, schedule, limit, plain=plain)


SCHEDULE_COLS = ["account", "seq", "ts", "tx_id", "event", "counterparty", "amount", "tainted", "clean",
                 "balance_after", "tainted_after", "clean_after", "unrecorded", "in_984_window", "note"]
ACCOUNT_COLS = ["tainted_received", "tainted_sent", "tainted_held", "balance_end", "first_tainted",
                "tainted_received_984_window", "s984_forfeitable", "s984", "unrecorded_funds"]
FUNDING_COLS = ["origin", "tx_id", "from", "entry", "hops", "amount", "share", "tainted", "deposits",
                "first_ts", "last_ts"]


def _cell(v) -> str:
    """A CSV cell: numbers as numbers; text (account names, notes) neutralised against formula
    injection (:func:`moneytrail.export.csv_safe`)."""
    from moneytrail.export import csv_safe

    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (float, Decimal)):
        return f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.2f}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    return csv_safe(str(v))


def _csv(result: dict[str, Any], schedule: bool) -> str:
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if schedule:
        w.writerow(["rule"] + SCHEDULE_COLS)
        for n, r in result["rules"].items():
            for s in r.get("schedule") or []:
                w.writerow([_cell(n)] + [_cell(s.get(c)) for c in SCHEDULE_COLS])
    elif result["direction"] == "backward":
        w.writerow(["rule", "target_amount", "tainted"] + FUNDING_COLS)
        for n, r in result["rules"].items():
            for f in r.get("funding") or []:
                w.writerow([_cell(n), _cell(r.get("target_amount")), _cell(r.get("tainted"))]
                           + [_cell(f.get(c)) for c in FUNDING_COLS])
    else:
        w.writerow(["rule", "account"] + ACCOUNT_COLS)
        for n, r in result["rules"].items():
            for acct, a in (r.get("accounts") or {}).items():
                w.writerow([_cell(n), _cell(acct)] + [_cell(a.get(c)) for c in ACCOUNT_COLS])
            for acct, e in (r.get("exits") or {}).items():
                w.writerow([_cell(n), _cell(acct), _cell(e["tainted"]), "", "", "", "", "", "", "", ""])
    return buf.getvalue()




def _table(result: dict[str, Any], schedule: bool, limit: int, plain: bool | None = None) -> str:
    """The trace as lines and tables (:mod:`moneytrail.cli.tables`: amounts and ids never cut;
    plain text when ``plain`` or when not printed to a terminal)."""
    from moneytrail.cli.tables import Col, Doc, escape as _esc
    from moneytrail.trace.reading import adds_up, reading

    doc = Doc()
    rules = list(result["rules"])
    if result["direction"] == "forward":
        srcs = "; ".join(f"tx {s['tx_id']} ({s['from']} → {s['to']}, {_m(s['amount'])}, {s['ts']})"
                         if s["kind"] == "transaction" else f"{_m(s['amount'])} in {s['account']} at {s['at']}"
                         for s in result["sources"])
        doc.line(f"[b]forward trace[/b] from {_esc(srcs)}; as of {result['as_of']}; {result['events']:,} transactions")
        doc.table("totals per rule", [
            Col("rule", whole=True), Col("presumption"), Col("sources", right=True, whole=True),
            Col("still held", right=True, whole=True), Col("left the ledger", right=True, whole=True),
            Col("created", right=True, whole=True), Col("adds up", drop=1),
            Col("accounts reached", right=True, whole=True),
            Col("984 forfeitable", right=True, whole=True), Col("unrecorded funds", right=True, whole=True)],
            [[n, r["presumption"] or "—", _m(r["totals"]["sources"]), _m(r["totals"]["held"]),
              _m(r["totals"]["left_ledger"]), _m(r["totals"]["created"]), adds_up(r["totals"]),
              f"{r['totals']['accounts_reached']:,}",
              _m(r["totals"]["s984_forfeitable"]), _m(r["totals"]["unrecorded_funds"])]
             for n, r in result["rules"].items()])
        doc.line("[b]how to read the totals[/b]")
        for text in reading():
            doc.line(f"  · {_esc(text)}")
        accts: dict[str, dict[str, Any]] = {}
        for n, r in result["rules"].items():
            for a, v in r["accounts"].items():
                accts.setdefault(a, {})[n] = v
        order = sorted(accts, key=lambda a: (-max(v["tainted_held"] for v in accts[a].values()), a))
        rows = []
        for a in order[:limit]:
            row = [a]
            for n in rules:
                v = accts[a].get(n)
                row.append(f"{_m(v['tainted_received'])} / {_m(v['tainted_held'])}" if v else "—")
            v0 = accts[a].get(rules[0])
            row.append(_m(v0["s984_forfeitable"]) if v0 and v0["s984"] else "")
            rows.append(row)
        doc.table(f"accounts: tainted received / still held ({min(limit, len(order))} of {len(order)})",
                  [Col("account", whole=True)] + [Col(n, right=True, whole=True) for n in rules]
                  + [Col("984 (" + rules[0] + ")", right=True, whole=True)], rows)
        exits = result["rules"][rules[0]]["exits"]
        if exits:
            doc.table(f"left the ledger ({rules[0]})",
                      [Col("to", whole=True), Col("tainted", right=True, whole=True),
                       Col("transactions", right=True, whole=True)],
                      [[a, _m(e["tainted"]), str(e["transactions"])] for a, e in list(exits.items())[:limit]])
    else:
        tg = result["target"]
        what = (f"payment tx {tg['tx_id']} from {tg['account']} to {tg['to']}, {_m(tg['amount'])}, {tg['ts']}"
                if tg["kind"] == "payment" else f"balance of {tg['account']} at {tg['ts']}")
        cone = result["cone"]
        doc.line(f"[b]backward trace[/b] of {_esc(what)}; cone: {cone['accounts']:,} accounts, "
                 f"{cone['events']:,} transactions, {cone['rounds']} rounds back")
        doc.table("per rule", [Col("rule", whole=True), Col("presumption"),
                               Col("target amount", right=True, whole=True), Col("tainted", right=True, whole=True),
                               Col("share", right=True, whole=True)],
                  [[n, r["presumption"] or "—", _m(r["target_amount"]),
                    _m(r["tainted"]) if r["tainted"] is not None else "no sources given",
                    f"{100 * r['tainted_share']:.2f}%" if r["tainted_share"] is not None else "—"]
                   for n, r in result["rules"].items()])
        for n, r in result["rules"].items():
            doc.table(f"funding under {n}" + (f" ({r['funding_note']})" if r.get("funding_note") else ""),
                      [Col("origin", whole=True), Col("tainted"), Col("from", whole=True), Col("entered at"),
                       Col("hops", right=True, whole=True), Col("amount", right=True, whole=True),
                       Col("share", right=True, whole=True), Col("deposits", right=True, whole=True)],
                      [[f["origin"] + (f" tx {f['tx_id']}" if f["tx_id"] else ""), "tainted" if f["tainted"] else "",
                        f["from"] or "", f["entry"] or "", "" if f["hops"] is None else str(f["hops"]),
                        _m(f["amount"]), f"{100 * f['share']:.2f}%", str(f["deposits"])]
                       for f in r["funding"][:limit]])
    if schedule:
        for n, r in result["rules"].items():
            rows = r.get("schedule") or []
            doc.table(f"tracing schedule under {n} ({min(len(rows), limit)} of {len(rows)} rows)",
                      [Col("account", whole=True), Col("#", right=True, whole=True), Col("time", whole=True),
                       Col("tx_id", whole=True), Col("event"), Col("amount", right=True, whole=True),
                       Col("tainted", right=True, whole=True), Col("balance", right=True, whole=True),
                       Col("tainted after", right=True, whole=True), Col("clean after", right=True, whole=True),
                       Col("rule applied", drop=1)],
                      [[s["account"], str(s["seq"]), str(s["ts"]), str(s["tx_id"] or ""), s["event"],
                        _m(s["amount"]), _m(s["tainted"]), _m(s["balance_after"]), _m(s["tainted_after"]),
                        _m(s["clean_after"]), s["note"]] for s in rows[:limit]])
    pools = result.get("pools") or {}
    if pools:
        doc.table(f"entities (level entity: each one pool; {min(limit, len(pools))} of {len(pools)})",
                  [Col("entity", whole=True), Col("name"), Col("accounts")],
                  [[e, p["name"] or "", ", ".join(p["accounts"])] for e, p in list(pools.items())[:limit]])
    for a in result.get("assumptions") or []:
        doc.line(f"[dim]assumption: {_esc(a)}[/dim]")
    if result.get("trace_id"):
        doc.line(f"saved as trace {result['trace_id']} (shown in `moneytrail report`)")
    return doc.render(plain=plain)


# -- bench -----------------------------------------------------------------------------------------

@bench_app.command("trace")
def bench_trace_cmd(
    transactions: int = typer.Option(10_000_000, "--transactions", "-n", min=1, max=10**9),
    sources: int = typer.Option(1_000, "--sources", min=1, max=10**7),
    accounts: int = typer.Option(200_000, "--accounts", min=2, max=10**8),
    hubs: int = typer.Option(50, "--hubs", min=0, max=10**6),
    rule: str = typer.Option("all", "--rule", "-r", help="one rule, a comma list, or all"),
    seed: int = typer.Option(1, "--seed", min=0, max=2**31 - 1),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """Forward-trace from random source transactions through a seeded synthetic ledger; tx/s, peak RSS."""
    from moneytrail.bench.trace import bench_trace

    rules = None if rule == "all" else [r.strip() for r in rule.split(",")]
    res = bench_trace(transactions=transactions, n_sources=sources, accounts=accounts, hubs=hubs,
                      rules=rules, seed=seed)
    if format == "json":
        typer.echo(json.dumps(res, default=_json_default))
        return
    typer.echo(f"{res['transactions']:,} transactions, {res['sources']} sources; prepare {res['prepare_seconds']} s")
    for n, r in res["rules"].items():
        typer.echo(f"  {n:8s} {r['seconds']:8.1f} s  {r['transactions_per_second']:>12,} tx/s  "
                   f"held {r['held']:,.2f}  accounts reached {r['accounts_reached']:,}")
    typer.echo(f"peak RSS {res['peak_rss_mb']} MB")
