"""``moneytrail bench ingest``: ingest time by rows and columns, against DuckDB's own CSV reader.

Registered on ``bench_app`` by ``moneytrail.cli.main._load_command_modules``. The harness and its
protocol: :mod:`moneytrail.bench.ingest`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from moneytrail.cli.main import bench_app, check_choice
from moneytrail.errors import ConfigError


@bench_app.command("ingest")
def bench_ingest_cmd(
    rows: int = typer.Option(100_000, "--rows", "-n", help="data rows in the generated CSV"),
    columns: int = typer.Option(5, "--columns", "-c", help="columns: the 5 mapped ones plus filler"),
    runs: int = typer.Option(3, "--runs", help="timed runs of each side (alternating)"),
    seed: int = typer.Option(1, "--seed"),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="time DuckDB's read_csv on the same file"),
    timeout_s: float = typer.Option(1800, "--timeout", help="seconds after which a run counts as not finished"),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="folder for the temporary files"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """Generate a CSV of ROWS x COLUMNS, time ingest_file on a fresh workspace and DuckDB's read_csv."""
    from moneytrail.bench.ingest import bench_ingest

    check_choice("--format", format, ("json", "table"))
    if rows < 1 or runs < 1 or columns < 5:
        raise ConfigError("--rows and --runs must be at least 1, --columns at least 5 (the mapped columns)")
    res = bench_ingest(rows=rows, columns=columns, runs=runs, seed=seed, peer=peer, timeout_s=timeout_s,
                       workdir=workdir)
    if format == "json":
        typer.echo(json.dumps(res))
        return
    f = res["file"]
    typer.echo(f"{f['rows']:,} rows x {f['columns']:,} columns, {f['bytes'] / 1e6:,.1f} MB "
               f"({f['bad_rows']:,} rows meant for quarantine); {res['machine']}")

    def line(name: str, s: dict) -> str:
        if s.get("refused"):
            return f"  {name:34s} refused in {s['median_s']:.3f} s (median): {s['refused']}"
        if s.get("median_s") is None:
            return f"  {name:34s} did not finish within {timeout_s:g} s"
        return (f"  {name:34s} median {s['median_s']:9.3f} s  ({s['min_s']:.3f}-{s['max_s']:.3f})  "
                f"{s['rows_per_s'] or 0:>12,.0f} rows/s  peak RSS {s['peak_rss_mb']:,.0f} MB")

    typer.echo(line("moneytrail ingest", res["moneytrail"]))
    o = res["moneytrail"].get("open_workspace")
    if o:
        typer.echo(f"  {'open the workspace afterwards':34s} {o['workspace_open_ms']:.2f} ms "
                   f"(duckdb.connect {o['duckdb_connect_ms']:.2f} ms, ratio {o['ratio']}; of which "
                   f"recover_interrupted {o.get('recover_interrupted_ms', 0):.3f} ms)")
    if "duckdb_read_csv" in res:
        typer.echo(line("duckdb read_csv (all columns)", res["duckdb_read_csv"]))
        if "duckdb_read_csv_mapped_columns" in res:
            typer.echo(line("duckdb read_csv (mapped columns)", res["duckdb_read_csv_mapped_columns"]))
        if "duckdb_typed_store" in res:
            typer.echo(line("duckdb typed store (the floor)", res["duckdb_typed_store"]))
        typer.echo(f"  ratio moneytrail / duckdb read_csv: {res['ratio_moneytrail_to_duckdb']} (all columns), "
                   f"{res.get('ratio_moneytrail_to_duckdb_mapped_columns')} (mapped columns); "
                   f"moneytrail / typed store {res.get('ratio_moneytrail_to_duckdb_typed_store')}; "
                   f"typed store / read_csv {res.get('ratio_duckdb_typed_store_to_read_csv')}")
    if "xlsx" in res:
        x = res["xlsx"]
        typer.echo(line("moneytrail ingest (xlsx)", x["moneytrail"]))
        typer.echo(line("python-calamine (cells only)", x["calamine_cells"]))
        typer.echo(f"  ratio moneytrail / calamine: {x['ratio_moneytrail_to_calamine']}")


@bench_app.command("statements")
def bench_statements_cmd(
    format: str = typer.Option(..., "--format", "-f", help="camt | mt940 | bai2 | ofx"),
    entries: List[int] = typer.Option([100_000, 1_000_000], "--entries", "-n",
                                      help="entries in a generated file (repeatable: one file per size)"),
    per_statement: int = typer.Option(1000, "--per-statement", help="entries per statement"),
    runs: int = typer.Option(3, "--runs", help="timed runs per size and side"),
    seed: int = typer.Option(1, "--seed"),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="also time the format's parse alone (no checks, no store)"),
    timeout_s: float = typer.Option(3600, "--timeout", help="seconds after which a run counts as not finished"),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="folder for the temporary files"),
    memory_limit: str = typer.Option("512MB", "--memory-limit", help="DuckDB's memory cap during the ingest runs"),
    output: str = typer.Option("json", "--output", "-o", help="json | table"),
):
    """Generate statement files in a bank format and time their ingest (entries/s, peak RSS) at each size."""
    from moneytrail.bench.statements import bench

    check_choice("--output", output, ("json", "table"))
    if runs < 1 or per_statement < 1 or any(n < 1 for n in entries):
        raise ConfigError("--entries, --per-statement and --runs must be at least 1")
    res = bench(format, list(entries), runs=runs, per_statement=per_statement, seed=seed, peer=peer,
                workdir=workdir, timeout_s=timeout_s, memory_limit=memory_limit)
    if output == "json":
        typer.echo(json.dumps(res))
        return
    for n, row in res["sizes"].items():
        typer.echo(f"{format}: {int(n):,} entries, {row['bytes'] / 1e6:,.1f} MB (written in {row['generate_s']} s)")
        for side in ("ingest", "parse_only"):
            s = row.get(side)
            if not s:
                continue
            if "error" in s:
                typer.echo(f"  {side:10s} {s['error']}")
                continue
            typer.echo(f"  {side:10s} median {s['median_s']:8.2f} s ({s['min_s']:.2f}-{s['max_s']:.2f})  "
                       f"{s['entries_per_s']:>9,} entries/s  peak RSS {s['peak_rss_mib']:,.0f} MiB")
        if row.get("ratio_ingest_to_parse"):
            typer.echo(f"  ratio ingest / parse: {row['ratio_ingest_to_parse']}")
