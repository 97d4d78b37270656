"""``moneytrail bench ingest``: ingest time by rows and columns, against DuckDB's own CSV reader.

Registered on ``bench_app`` by ``moneytrail.cli.main._load_command_modules``. The harness and its
protocol: :mod:`moneytrail.bench.ingest`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import bench_app
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

    if format not in ("json", "table"):
        raise ConfigError(f"--format {format!r}: choose json or table")
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
        typer.echo(line("duckdb read_csv (mapped columns)", res["duckdb_read_csv_mapped_columns"]))
        typer.echo(f"  ratio moneytrail / duckdb: {res['ratio_moneytrail_to_duckdb']} (all columns), "
                   f"{res['ratio_moneytrail_to_duckdb_mapped_columns']} (mapped columns)")
