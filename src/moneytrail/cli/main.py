"""The ``moneytrail`` command: thin commands over the Python API.

Every command takes ``--workspace PATH`` (env ``MONEYTRAIL_WORKSPACE``, default
``./moneytrail.duckdb``). Errors a user can act on print one line, ``error: ...``, and exit 2;
anything unexpected prints one line too (set ``MONEYTRAIL_DEBUG=1`` for the traceback).

Authority (docs/authority.md): ``--as OFFICER`` and ``--case CASE`` are global options that may
stand anywhere on the command line (else ``$MONEYTRAIL_OFFICER`` / ``$MONEYTRAIL_CASE`` / the
configuration file, see :mod:`moneytrail.identity`). :func:`main` takes them out of argv and
hands them, with the command line, to the app as its context object
(:class:`moneytrail.cli.identity.GlobalOptions`); nothing is kept in the process. Every command
that reads or changes a workspace works through :func:`open_session`: a
:class:`moneytrail.Session` for that identity (no officer: refused before the workspace is
opened), whose methods have the Cedar policies decide the action before anything is read, record
the decision (with the command line) in the audit log, and record what they return as a read
before it is printed. The CLI decides nothing itself.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from moneytrail.errors import ConfigError, MoneytrailError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="moneytrail: follow the money. Ingest evidence, detect typologies, report.")

WorkspaceOpt = typer.Option(None, "--workspace", "-w", envvar="MONEYTRAIL_WORKSPACE",
                            help="workspace file (default ./moneytrail.duckdb)")
BackendOpt = typer.Option("duckdb", "--backend", envvar="MONEYTRAIL_BACKEND", metavar="ENGINE",
                          help="engine for detection and score features: duckdb (embedded, default) or spark")
SparkMasterOpt = typer.Option(None, "--spark-master", metavar="URL",
                              help="with --backend spark: local[N] (default local[*]), spark://host:port, yarn, "
                                   "k8s://..., or a Spark Connect URL sc://host:port (else $MONEYTRAIL_SPARK_MASTER)")


def engine_options(backend: str, spark_master: Optional[str]) -> dict:
    """--backend and --spark-master as Session keywords; one line when they do not fit."""
    from moneytrail.backends import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if spark_master is not None and backend != "spark":
        raise ConfigError("--spark-master is for --backend spark")
    if backend == "spark" and spark_master is not None:
        from moneytrail.backends.spark import check_master

        check_master(spark_master)
    return {"backend": backend, "backend_options": {"master": spark_master} if spark_master else None}


@app.callback()
def _global_options(
    ctx: typer.Context,
    as_officer: Optional[str] = typer.Option(None, "--as", metavar="OFFICER",
                                             help="the acting officer (anywhere on the command line; else "
                                                  "$MONEYTRAIL_OFFICER or the config file)"),
    case: Optional[str] = typer.Option(None, "--case", metavar="CASE",
                                       help="the case you act in (else $MONEYTRAIL_CASE, the config file, "
                                            "or your one open case)"),
):
    """moneytrail: follow the money. Ingest evidence, detect typologies, report."""
    from dataclasses import replace

    from moneytrail.cli.identity import options

    # main() took --as and --case out of argv wherever they stood; given here, they are typer's
    opts = options(ctx)
    if as_officer or case:
        opts = replace(opts, as_officer=as_officer or opts.as_officer, case=case or opts.case)
    ctx.obj = opts


def open_session(ctx: typer.Context, workspace: Optional[Path], *, create: bool = False):
    """The workspace opened as a :class:`moneytrail.Session` for the command's identity (``--as``,
    ``--case`` and the command line, from ``ctx``): no officer, refused before the workspace is
    touched; a missing workspace is an error unless ``create``. Each method has the Cedar policies
    decide its action, logs the decision, and records what it returns as a read before returning
    it (one code path for the CLI and the Python API). Use as a context manager."""
    from moneytrail.cli.identity import identity
    from moneytrail.session import Session

    return Session.open(workspace, identity=identity(ctx), create=create)


def check_choice(opt: str, value: str, choices: tuple[str, ...]) -> None:
    """One clear line when an option's value is not one of ``choices`` (``--format``, ...)."""
    if value not in choices:
        raise ConfigError(f"{opt} {value!r}: choose {', '.join(choices[:-1])} or {choices[-1]}")


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _progress_bar(total: int, label: str):
    """A rich progress bar on a terminal; None when stderr is not one."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TextColumn
    prog = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                    transient=True, console=None)
    task = prog.add_task(label, total=total)
    return prog, (lambda n: prog.advance(task, n))


@app.command()
def ingest(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="evidence file (or, for amlsim, the folder holding it)"),
    format: str = typer.Option("auto", "--format", "-f", help="auto (from the content) | camt | mt940 | bai2 | ofx "
                               "| xlsx | csv | amlsim | accounts | labels | rates (exchange rates to USD)"),
    mapping: Optional[Path] = typer.Option(None, "--mapping", "-m", help="column mapping YAML (csv, xlsx)"),
    legal_basis: List[str] = typer.Option([], "--legal-basis", help="legal-basis tag for the source (repeatable): "
                                          "subpoena, summons, grand-jury-6e, search-warrant, court-order, consent, mlat, "
                                          "public-record, synthetic-demo (each :REFERENCE optional), or fti:NAME"),
    force: bool = typer.Option(False, "--force", help="re-ingest even if this file was ingested before"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the first rows as they would be stored and what "
                                 "would be quarantined; change nothing (no workspace is opened)"),
    rows: int = typer.Option(10, "--rows", min=1, max=1000, help="with --dry-run: how many stored rows to show"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Ingest a file: every row is stored or quarantined with a reason (read = stored + quarantined)."""
    from moneytrail.errors import InputError, UnknownFormatError
    from moneytrail.ingest import FORMATS, load_mapping, resolve_format

    # what can be checked without the workspace is checked before one is created for nothing
    from moneytrail.session import legal_tags

    legal_basis = legal_tags(legal_basis)
    format = resolve_format(file, format, mapping is not None)
    if format not in FORMATS:
        raise UnknownFormatError(f"unknown format {format!r}: choose one of {', '.join(sorted(FORMATS))}")
    if not file.exists():
        raise InputError("file not found", path=str(file))
    reader = FORMATS[format]()
    if file.is_dir() and not getattr(reader, "reads_folders", False):
        raise InputError("is a directory; give a file (or use a format that reads folders)", path=str(file))
    if mapping is not None:
        mapping = getattr(reader, "load_mapping", load_mapping)(mapping)
    elif getattr(reader, "needs_mapping", False):
        raise InputError(f"format {format} needs --mapping MAP.yaml describing the columns "
                         f"(see docs/mapping.md)", path=str(file))
    if dry_run:
        from moneytrail.ingest.dryrun import dry_run as run_dry, render

        out = run_dry(file, format, mapping=mapping, rows=rows)
        typer.echo(json.dumps(out, default=str) if as_json else render(out))
        return
    size = file.stat().st_size if file.is_file() else 0
    prog, on_read = _progress_bar(size, f"ingesting {file.name}")
    with open_session(ctx, workspace) as sess:
        if prog:
            with prog:
                res = sess.ingest(file, format, mapping=mapping, legal_basis=legal_basis, force=force,
                                  on_read=on_read)
        else:
            res = sess.ingest(file, format, mapping=mapping, legal_basis=legal_basis, force=force)
    d = res.to_dict()
    if as_json:
        typer.echo(json.dumps(d, default=str))
        return
    if res.skipped:
        typer.echo(f"{file}: already ingested as source {res.source_id} (same sha256); not re-read "
                   f"(use --force to re-read it)"
                   + (f"; legal-basis tags added: {', '.join(res.tags_added)}" if res.tags_added else ""))
    else:
        typer.echo(f"{file}: source {res.source_id}: read {res.read}, stored {res.stored}, "
                   f"quarantined {res.quarantined} ({res.seconds:.1f} s)")
    for r in res.related:
        typer.echo(f"  {r['file']}: source {r['source_id']}: read {r['read']}, stored {r['stored']}, "
                   f"quarantined {r['quarantined']}{' (already ingested)' if r['skipped'] else ''}")
    if res.quarantined:
        typer.echo(f"  see why: moneytrail quarantine --source {res.source_id}")
    note = fti_note(res.format, legal_basis)
    if note:
        typer.echo(f"  {note}")


#: the formats of wage reports: federal tax information when the IRS provided them
WAGE_REPORT_FORMATS = ("w2", "efw2", "form941", "uiwage")


def fti_note(fmt: str, legal_basis: list[str]) -> str | None:
    """What to say after ingesting wage reports not tagged as federal tax information: whether
    they are depends on where they came from, which only the investigator knows."""
    from moneytrail.authority.legal import classify_tags

    if fmt not in WAGE_REPORT_FORMATS or classify_tags(legal_basis)["fti"]:
        return None
    return ("note: wage reports obtained from the IRS are federal tax information (26 U.S.C. 6103): if these "
            "came from the IRS, tag the source fti:NAME (moneytrail tag SOURCE --legal-basis fti:NAME); "
            "copies the employer or the state produced are not")


def _parse_params(param: list[str], config: Optional[Path]) -> dict:
    out: dict = {}
    if config:
        import yaml
        if not config.is_file():
            raise ConfigError(f"{config}: config file not found")
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(f"{config}: not UTF-8 text") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{config}: not valid YAML: {' '.join(str(e).split())[:200]}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f"{config}: expected 'typology: {{parameter: value}}' mappings")
        out = {k: dict(v) for k, v in data.items()}
    for p in param:
        if "=" not in p or "." not in p.split("=", 1)[0]:
            raise ConfigError(f"--param {p!r}: expected TYPOLOGY.PARAMETER=VALUE, e.g. fan_in.window_days=7")
        k, v = p.split("=", 1)
        typ, name = k.split(".", 1)
        out.setdefault(typ, {})[name] = v
    return out


@app.command()
def detect(
    ctx: typer.Context,
    typology: List[str] = typer.Option([], "--typology", "-t", help="run only these (repeatable)"),
    param: List[str] = typer.Option([], "--param", "-p", help="override: TYPOLOGY.PARAM=VALUE"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of parameter overrides"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    level: str = typer.Option("account", "--level", help="account | entity: the graph's nodes are accounts, or "
                                                         "the resolved parties holding them (moneytrail resolve)"),
    backend: str = BackendOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Resolve accounts, build the graph and run the typology catalogue; findings go to the workspace."""
    parameters = _parse_params(param, config)
    engine = engine_options(backend, spark_master)
    with open_session(ctx, workspace) as sess:
        s = sess.detect(typology or None, parameters, level=level, **engine)
    if as_json:
        typer.echo(json.dumps(s, default=str))
        return
    from moneytrail.summaries import stage_line

    if level == "entity":
        typer.echo("level: entity (findings name the parties, E...: moneytrail entity show ID)")
    typer.echo(stage_line("detect", s))
    for k, why in s.get("skipped", {}).items():
        typer.echo(f"  {k}: skipped: {why}")


@app.command()
def run(
    ctx: typer.Context,
    stage: List[str] = typer.Option([], "--stage", "-s", help="run only these stages"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="report file"),
    as_json: bool = typer.Option(False, "--json", help="print every stage's whole summary as JSON"),
    backend: str = BackendOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Run the pipeline on a workspace: resolve -> graph -> detect -> trace -> report."""
    from moneytrail.summaries import stage_line

    engine = engine_options(backend, spark_master)
    with open_session(ctx, workspace) as sess:
        res = sess.run(stage or None, report=out, **engine)
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    for name, s in {**res.get("rebuilt", {}), **res["stages"]}.items():
        typer.echo(stage_line(name, s))


@app.command()
def findings(
    ctx: typer.Context,
    format: str = typer.Option("table", "--format", "-f", help="table | json | csv"),
    typology: List[str] = typer.Option([], "--typology", "-t", help="only these typologies (repeatable)"),
    account: Optional[str] = typer.Option(None, "--account", "-a", help="only findings naming this account"),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="only findings scoring at least this"),
    status: Optional[str] = typer.Option(None, "--status",
                                         help="only findings in this triage status: open, under_review, "
                                              "confirmed or dismissed"),
    tx: Optional[str] = typer.Option(None, "--tx", help="only findings citing this transaction: the bank's "
                                     "reference, SOURCE:ROW or the internal id"),
    limit: int = typer.Option(0, "--limit", help="at most this many (0: all)"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """List findings in queue order (priority first) with their accounts and evidence transaction ids."""
    check_choice("--format", format, ("table", "json", "csv"))
    with open_session(ctx, workspace) as sess:
        rows = sess.findings(typology, limit, account=account, min_score=min_score, status=status, tx=tx)
    if format == "json":
        out = []
        for f in rows:
            d = f.to_dict()
            d["total_amount"] = float(f.total_amount) if f.total_amount is not None else None
            out.append(d)
        typer.echo(json.dumps(out, default=str, indent=1))
    elif format == "csv":
        from decimal import Decimal

        from moneytrail.export import csv_safe

        # numbers stay numbers; every text cell (account ids, explanations quote them) goes
        # through the one formula-injection neutraliser
        w = csv.writer(sys.stdout)
        w.writerow(["finding_id", "typology", "version", "score", "first_ts", "last_ts", "total_amount",
                    "accounts", "tx_ids", "explanation", "source", "finding_key", "priority", "records"])
        for f in rows:
            w.writerow([f.finding_id, csv_safe(f.typology), csv_safe(f.typology_version),
                        Decimal(f"{f.score:.3f}"), f.first_ts, f.last_ts, f.total_amount,
                        csv_safe(";".join(f"{a.account_id}:{a.role}" for a in f.accounts)),
                        ";".join(str(t) for t in f.tx_ids), csv_safe(f.explanation),
                        csv_safe(f.red_flag_source), f.key or "",
                        "" if f.priority is None else Decimal(f"{f.priority:.2f}"),
                        ";".join(f"{x.kind}:{x.record_id}" for x in f.records)])
    else:
        from moneytrail.cli.tables import Col, Doc

        doc = Doc()
        if not rows:
            doc.line("no findings" + (" match these filters" if (typology or account or min_score is not None
                                                                 or status or tx) else
                                      " in this case: run moneytrail detect"))
        else:
            doc.table(f"{len(rows)} finding(s)", [
                Col("key", whole=True), Col("typology"), Col("priority", right=True, whole=True),
                Col("score", right=True, whole=True), Col("period"), Col("amount", right=True, whole=True),
                Col("accounts"), Col("evidence (tx ids, records)", drop=2), Col("explanation", drop=1)],
                [[f.key or str(f.finding_id), f.typology, "—" if f.priority is None else f"{f.priority:,.0f}",
                  f"{f.score:.2f}", f"{f.first_ts:%Y-%m-%d} … {f.last_ts:%Y-%m-%d}",
                  "—" if f.total_amount is None else f"{f.total_amount:,.2f}",
                  " ".join(sorted({a.account_id for a in f.accounts})),
                  " ".join([*(str(t) for t in f.tx_ids), *(f"{x.kind}:{x.record_id}" for x in f.records)]),
                  f.explanation] for f in rows])
        doc.print()


@app.command()
def report(
    ctx: typer.Context,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write"),
    title: Optional[str] = typer.Option(None, "--title"),
    print_ready: bool = typer.Option(False, "--print", help="the version for paper and PDF: contents, page "
                                     "numbers, findings grouped by typology and capped, appendices"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Render the HTML case report for a workspace; prints its path."""
    with open_session(ctx, workspace) as sess:
        path = sess.report(out, title=title, print_ready=print_ready)
    typer.echo(str(path))


@app.command()
def export(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", "-o", help="folder to write (created if missing)"),
    format: str = typer.Option("csv", "--format", "-f", help="csv | parquet | ftm (FollowTheMoney entities for OpenAleph)"),
    typology: List[str] = typer.Option([], "--typology", "-t", help="only these typologies (repeatable)"),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="only findings scoring at least this"),
    as_json: bool = typer.Option(False, "--json", help="print the manifest (files, rows, sha256) as JSON"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Export findings with their transactions and each transaction's source file, hash and row."""
    from moneytrail import export as ex

    if format not in ex.FORMATS:
        raise ConfigError(f"--format {format!r}: choose csv, parquet or ftm")
    with open_session(ctx, workspace) as sess:
        man = sess.export(out, format=format, typologies=typology, min_score=min_score)
    if as_json:
        typer.echo(json.dumps(man, default=str))
        return
    typer.echo(f"{out}: " + ", ".join(f"{name} ({f['rows']} rows)" if "rows" in f else
                                      f"{name} ({sum(f['entities'].values())} entities)"
                                      for name, f in man["files"].items())
               + ", manifest.json")


@app.command()
def sources(ctx: typer.Context, as_json: bool = typer.Option(False, "--json"),
            workspace: Optional[Path] = WorkspaceOpt):
    """List the evidence sources with their hashes and row accounting."""
    with open_session(ctx, workspace) as sess:
        rows = sess.sources()
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=1))
        return
    for r in rows:
        gone = (f"  WITHDRAWN {r['withdrawn_at']:%Y-%m-%d} by {r['withdrawn_by']}: {r['withdrawal_reason']}"
                if r.get("withdrawn_at") else "")
        typer.echo(f"{r['source_id']:>4}  {r['file_name']}  [{r['format']}/{r['role']}]  sha256 {r['sha256'][:16]}…  "
                   f"read {r['rows_read']} = stored {r['rows_stored']} + quarantined {r['rows_quarantined']}"
                   f"{'  legal basis: ' + ', '.join(r['legal_basis']) if r['legal_basis'] else ''}{gone}")


@app.command()
def tag(
    ctx: typer.Context,
    source: int = typer.Argument(..., help="source id (moneytrail sources lists them)"),
    legal_basis: List[str] = typer.Option(..., "--legal-basis", help="legal-basis tag to add (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="print the tags added as JSON"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Add legal-basis tags to an ingested source, e.g. when it turns out to hold federal tax
    information (fti:NAME) or grand-jury material; tags are never removed. Reading the source then
    needs the authority the tags call for, from the next command on."""
    with open_session(ctx, workspace) as sess:
        added = sess.tag(source, legal_basis)
    if as_json:
        typer.echo(json.dumps({"source_id": source, "tags_added": list(added)}))
        return
    typer.echo(f"source {source}: " + (f"tags added: {', '.join(added)}" if added else "already carries those tags"))


@app.command()
def quarantine(
    ctx: typer.Context,
    source: Optional[int] = typer.Option(None, "--source", help="only this source id"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Show quarantined rows: source, row, column, reason and the raw row."""
    with open_session(ctx, workspace) as sess:
        rows = sess.quarantine(source, limit)
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=1))
        return
    if not rows:
        typer.echo("no quarantined rows" + (f" from source {source}" if source is not None else "")
                   + ": every row read was stored")
    for r in rows:
        col = f", column {r['column_name']!r}" if r["column_name"] else ""
        at = f" ({r['source_position']})" if r.get("source_position") else ""
        typer.echo(f"{r['file_name']}: row {r['source_row']}{at}{col}: {r['reason']}    | {r['raw']}")


@app.command()
def typologies(as_json: bool = typer.Option(False, "--json")):
    """List the typology catalogue with default parameters and red-flag sources."""
    from moneytrail.detect import TYPOLOGIES
    rows = [{"id": t.id, "version": t.version, "title": t.title, "red_flag": t.red_flag,
             "source": t.source, "parameters": t.Params().to_dict()} for t in TYPOLOGIES]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        typer.echo(f"{r['id']} (v{r['version']}): {r['title']}\n  red flag: {r['red_flag']}\n"
                   f"  source: {r['source']}\n  parameters: {json.dumps(r['parameters'])}")


@app.command()
def demo(
    ctx: typer.Context,
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="a new or empty folder for the demo case (default: moneytrail-demo, "
                                            "or moneytrail-demo-2, -3, ... if that one is taken)"),
    seed: int = typer.Option(7, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print the run's summary (every stage's) as one JSON object"),
):
    """Generate a seeded synthetic investigation, ingest it, run the pipeline, write the report.
    Never writes over anything: the folder must be new or empty."""
    from moneytrail.demo import demo_folder, run_demo

    if out is None:
        out = demo_folder()
        _err(f"writing the demo case into {out}")
    from moneytrail.cli.identity import options

    res = run_demo(out, seed=seed, log=(lambda m: None) if as_json else (lambda m: _err(m)),
                   command=options(ctx).command)
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    if res.get("contracts"):
        c = res["contracts"]
        _err(f"second case: {c['case']} (contracts and payrolls, worked by {c['officer']}): {c['report']}")
    _err(f"web app: moneytrail serve --workspace {res['workspace']}  (sign-ins in {out / 'demo-logins.txt'})")
    typer.echo(str(res["report"]))


# click's exception root (typer may vendor click, so reach it through a public typer class)
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (results go in BENCHMARKS.md).")
app.add_typer(bench_app, name="bench")


@bench_app.command("priority")
def bench_priority_cmd(
    data: Path = typer.Option(..., "--data", help="AMLSim-layout folder with labels"),
    seed: int = typer.Option(0, "--seed", help="the risk model's seed"),
):
    """Precision at 20, 50 and 100 findings of the test period: today's order against the priority (JSON)."""
    from moneytrail.bench.priority import bench_priority

    typer.echo(json.dumps(bench_priority(data, seed=seed), default=str))


@bench_app.command("noise")
def bench_noise_cmd(
    data: Path = typer.Option(..., "--data", help="AMLSim-layout folder (transactions, accounts, alert_transactions)"),
    drop: float = typer.Option(0.05, "--drop", min=0.0, max=0.99, help="share of transfers dropped at random"),
    jitter_days: float = typer.Option(1.0, "--jitter-days", min=0.0, max=365.0,
                                      help="each transfer's time moved by up to this many days either way"),
    add: float = typer.Option(0.05, "--add", min=0.0, max=10.0,
                              help="unrelated transfers added, as a share of the set's transfers"),
    seed: int = typer.Option(0, "--seed"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """Detection on a dataset and on a noisier copy of it: recall and precision per alert type."""
    from moneytrail.bench.noise import bench_noise

    check_choice("--format", format, ("json", "table"))
    res = bench_noise(data, seed=seed, drop=drop, jitter_days=jitter_days, add=add)
    if format == "json":
        typer.echo(json.dumps(res))
        return
    p = res["perturbation"]
    typer.echo(f"{p['transfers']:,} transfers: {p['dropped']:,} dropped, {p['added']:,} added, times moved by up "
               f"to {p['jitter_days']:g} day(s); seed {p['seed']}")
    for k, v in res["typologies"].items():
        typer.echo(f"  {k:15s} recall {v['recall']} -> {v['recall_perturbed']} (ratio {v['recall_ratio']})  "
                   f"precision {v['precision']} -> {v['precision_perturbed']}")


@bench_app.command("detect")
def bench_detect_cmd(
    data: Optional[Path] = typer.Option(None, "--data", help="AMLSim output folder (transactions, accounts, "
                                                               "alert_transactions)"),
    records: bool = typer.Option(False, "--records", help="instead: the employer and contract typologies on "
                                                          "generated records (moneytrail.synth.records)"),
    seed: int = typer.Option(11, "--seed", min=0, max=2**31 - 1, help="--records: the generator's seed (the "
                                                                       "demo's is 7)"),
    plants: int = typer.Option(10, "--plants", min=1, max=1000, help="--records: instances of each scheme"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
    param: List[str] = typer.Option([], "--param", "-p", help="override: TYPOLOGY.PARAM=VALUE"),
    backend: List[str] = typer.Option(["duckdb"], "--backend", metavar="ENGINE",
                                      help="duckdb and/or spark (repeatable, or duckdb,spark): each runs the "
                                           "catalogue on the same workspace, compared in one result"),
    spark_master: Optional[str] = SparkMasterOpt,
):
    """Run the typology catalogue on an AMLSim dataset; recall and precision per alert type."""
    from moneytrail.bench.detect import bench_detect

    check_choice("--format", format, ("json", "table"))
    backends, options = _bench_engines(backend, spark_master)
    if records:
        if data is not None:
            raise ConfigError("--records generates its data: give --data or --records, not both")
        if len(backends) != 1:
            raise ConfigError("--records runs on one engine: give one --backend")
        from moneytrail.bench.records import bench_records

        res = bench_records(seed=seed, n_plants=plants, parameters=_parse_params(param, None),
                            backend=backends[0], backend_options=options.get(backends[0]))
        if format == "json":
            typer.echo(json.dumps(res))
            return
        typer.echo(f"seed {res['seed']}, {res['plants_per_scheme']} instances of each scheme; ingest "
                   f"{res['ingest_seconds']} s, resolve + graph + detect {res['detect_seconds']} s")
        for k, v in res["typologies"].items():
            if not v.get("planted"):
                typer.echo(f"  {k:22s} nothing planted; findings {v['findings']}")
                continue
            typer.echo(f"  {k:22s} recall {v['recall']}  precision {v['precision']}  findings {v['findings']}  "
                       f"({v['scheme']}){'  skipped: ' + v['skipped'] if v.get('skipped') else ''}")
        return
    if data is None:
        raise ConfigError("--data: give an AMLSim output folder (or --records)")
    res = bench_detect(data, parameters=_parse_params(param, None), backends=backends, backend_options=options)
    if format == "json":
        typer.echo(json.dumps(res))
        return
    for b, r in res.get("backends", {res.get("backend", "duckdb"): res}).items():
        typer.echo(f"{b}: {r['transactions']} transactions, catalogue {r['detect_seconds']} s "
                   f"(with resolve and graph {r['seconds']} s, {r['transactions_per_second']:,.0f} tx/s)")
        for k, v in r["typologies"].items():
            typer.echo(f"  {k:15s} recall {v['recall']}  precision {v['precision']}  findings {v['findings']}  "
                       f"{v['seconds']} s")
            if "closable_share" in v:
                typer.echo(f"  {'':15s} {v['closable_share']:.1%} of its transfers lie on a loop that closes in "
                           f"the data; recall of those {v['recall_of_closable']}")
            if "shape_share" in v:
                typer.echo(f"  {'':15s} {v['shape_share']:.1%} of its transfers form the typology's smallest "
                           f"shape in their alert; recall of those {v['recall_of_shape']}")
    if "identical_findings" in res:
        typer.echo(f"same evidence on every engine: {res['identical_findings']}; "
                   f"ratios: {json.dumps({b: r['detect_seconds'] for b, r in res['ratio'].items()})}")


def _bench_engines(backend: List[str], spark_master: Optional[str]) -> tuple[tuple[str, ...], dict]:
    """--backend duckdb --backend spark (or duckdb,spark) for a bench: the engines, in order, and
    their options."""
    names = tuple(dict.fromkeys(n.strip() for b in backend for n in b.split(",") if n.strip()))
    if not names:
        raise ConfigError("--backend: name duckdb and/or spark")
    for n in names:
        engine_options(n, spark_master if n == "spark" else None)
    if spark_master is not None and "spark" not in names:
        raise ConfigError("--spark-master is for --backend spark")
    return names, ({"spark": {"master": spark_master}} if spark_master else {})


@bench_app.command("scale")
def bench_scale_cmd(
    transactions: int = typer.Option(5_000_000, "--transactions", "-n", min=1, max=10**9),
    accounts: int = typer.Option(200_000, "--accounts", min=2, max=10**8),
    hubs: int = typer.Option(50, "--hubs", min=0, max=10**6, help="accounts that take part in a large share of transfers"),
    seed: int = typer.Option(1, "--seed", min=0, max=2**31 - 1),
    format: str = typer.Option("json", "--format", "-f"),
    backend: List[str] = typer.Option(["duckdb"], "--backend", metavar="ENGINE",
                                      help="duckdb and/or spark (repeatable, or duckdb,spark)"),
    spark_master: Optional[str] = SparkMasterOpt,
):
    """Run the catalogue on a synthetic graph with hub accounts; time and peak memory."""
    from moneytrail.bench.scale import bench_scale

    check_choice("--format", format, ("json", "table"))
    backends, options = _bench_engines(backend, spark_master)
    res = bench_scale(transactions=transactions, accounts=accounts, hubs=hubs, seed=seed,
                      backends=backends, backend_options=options)
    typer.echo(json.dumps(res) if format == "json" else json.dumps(res, indent=1))


def _load_command_modules() -> None:
    """Commands of later stages live in their own modules under ``moneytrail.cli`` (one per
    capability: ``trace_cmd``, ``score_cmd``, ``authority_cmd``); each registers on ``app``."""
    import importlib
    import importlib.util

    for name in ("score_cmd", "trace_cmd", "authority_cmd", "bench_ingest_cmd", "source_cmd", "serve_cmd",
                 "mapping_cmd", "resolve_cmd", "bench_resolve_cmd", "explore_cmd"):
        if importlib.util.find_spec(f"moneytrail.cli.{name}") is not None:
            importlib.import_module(f"moneytrail.cli.{name}")


_load_command_modules()


def main() -> None:
    import errno

    from moneytrail.errors import EngineError

    disk_full, disk_full_text = (errno.ENOSPC, errno.EDQUOT), ("No space left on device", "Disk quota exceeded")
    again = "free space and run the command again"

    def engine_line(e: BaseException) -> str:
        # A stage's EngineError names the stage, typology, error class and run; any other engine
        # error gives its class only. Never the engine's message: it quotes data ("Could not
        # convert string '<value>' to INT32"). A full disk is said as such (recognised by a fixed
        # text in the message, nothing of which is shown).
        kind = e.kind if isinstance(e, EngineError) else type(e).__name__
        detail = e.detail if isinstance(e, EngineError) else str(e)
        if any(t in detail for t in disk_full_text):
            return f"error: disk full: the query engine could not write ({kind}); {again}"
        if isinstance(e, EngineError):
            return "error: " + " ".join(str(e).splitlines())
        return f"error: the query engine failed ({kind}); set MONEYTRAIL_DEBUG=1 to see its message"

    try:
        from moneytrail.cli.identity import extract_global_options

        # --as and --case, wherever they stand, and the command line: the command's context object
        argv, opts = extract_global_options(sys.argv[1:])
        rc = app(args=argv, standalone_mode=False, obj=opts)
    except EngineError as e:
        _err(engine_line(e))
        sys.exit(e.exit_code)
    except MoneytrailError as e:
        _err("error: " + " ".join(str(e).splitlines()))  # one line, even if a value held a newline
        sys.exit(e.exit_code)
    except _ClickException as e:  # usage errors: one line, not click's boxed usage text
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
            typer.echo(ctx.get_help())
            sys.exit(e.exit_code)
        msg = " ".join(e.format_message().split())
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        _err(f"error: {msg}{hint}")
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _err("interrupted")
        sys.exit(130)
    except Exception as e:  # one line, never a traceback (unless asked for)
        duckdb = sys.modules.get("duckdb")   # (not imported: the error can't be the engine's)
        if duckdb is not None and isinstance(e, duckdb.Error) and not os.environ.get("MONEYTRAIL_DEBUG"):
            _err(engine_line(e))         # outside a stage: the class only (its message can quote data)
            sys.exit(2)
        if isinstance(e, OSError) and e.errno in disk_full:
            where = f"{e.filename}: " if e.filename else ""
            _err(" ".join(f"error: disk full: {where}{os.strerror(e.errno)}; {again}".splitlines()))
            sys.exit(2)
        if os.environ.get("MONEYTRAIL_DEBUG"):
            raise
        # the error's own text can quote data (a library's conversion message): only its class
        _err(f"internal error: {type(e).__name__} (a bug in moneytrail: set MONEYTRAIL_DEBUG=1 for the traceback, "
             f"which may show data)")
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    # run the importable module's app: command modules register on moneytrail.cli.main.app,
    # which is a different object from this __main__ module's
    import moneytrail.cli.main as _cli

    _cli.main()
