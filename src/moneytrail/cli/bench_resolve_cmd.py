"""``moneytrail bench resolve``: entity resolution of people on the linkage sets with ground truth.

Registered on ``bench_app`` by ``moneytrail.cli.main._load_command_modules``. The harness and its
protocol: :mod:`moneytrail.bench.resolve`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from moneytrail.cli.main import bench_app, check_choice
from moneytrail.errors import ConfigError


@bench_app.command("resolve")
def bench_resolve_cmd(
    data: Path = typer.Option(..., "--data", help="folder with the linkage sets (fake_1000.csv, historical_figures_with_errors_50k.parquet)"),
    dataset: Optional[List[str]] = typer.Option(None, "--dataset", help="fake_1000 and/or historical_50k (repeatable; default both)"),
    runs: int = typer.Option(1, "--runs", help="timed runs of each side (alternating)"),
    peer: bool = typer.Option(True, "--peer/--no-peer", help="also run Splink with its tutorials' settings"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """Resolve the people sets with moneytrail's engine and with the peer; precision, recall, F1, seconds."""
    from moneytrail.bench.resolve import DATASETS, bench_resolve

    check_choice("--format", format, ("json", "table"))
    if runs < 1:
        raise ConfigError("--runs must be at least 1")
    names = [n for d in (dataset or []) for n in d.split(",") if n] or None
    for n in names or []:
        if n not in DATASETS:
            raise ConfigError(f"--dataset {n!r}: choose from {', '.join(DATASETS)}")
    if not data.is_dir():
        raise ConfigError(f"--data {data}: not a folder")
    res = bench_resolve(data, datasets=names, runs=runs, peer=peer)
    if format == "json":
        typer.echo(json.dumps(res))
        return
    typer.echo(res["machine"])

    def line(name: str, s: dict) -> str:
        pw, b3 = s["pairwise"], s["bcubed"]
        t = s["seconds_total"]
        tr, pr = s.get("seconds_train", {}), s.get("seconds_predict", {})
        return (f"  {name:11s} pairwise P {pw['precision']:.4f} R {pw['recall']:.4f} F1 {pw['f1']:.4f} | "
                f"B3 F1 {b3['f1']:.4f} | ARI {s['adjusted_rand']:.4f} | clusters {s['clusters']:,} "
                f"(true {s['true_clusters']:,}) | total {t['median']:.2f} s ({t['min']:.2f}-{t['max']:.2f}), "
                f"train {tr.get('median', 0):.2f} s, predict {pr.get('median', 0):.2f} s")

    for name, row in res["datasets"].items():
        typer.echo(f"{name}: {row['records']:,} records, {row['moneytrail']['pairwise']['true_pairs']:,} true pairs, "
                   f"{row['moneytrail']['runs']} run(s)")
        typer.echo(line("moneytrail", row["moneytrail"]))
        if "peer" in row:
            typer.echo(line("peer", row["peer"]))
            typer.echo(f"  ratio of seconds moneytrail / peer {row['ratio_seconds_moneytrail_to_peer']}, "
                       f"F1 difference {row['f1_difference_moneytrail_minus_peer']:+.4f}")
        st = row["moneytrail"]["settings"]
        typer.echo(f"  settings: thresholds {st['thresholds']}, λ {st['probability_two_random_records_match']:.3g}, "
                   f"comparisons {[c['column'] for c in st['comparisons']]}, {len(st['blocking'])} blocking rules")
    if res.get("transfers") is not None:
        typer.echo("transfers: " + json.dumps(res["transfers"]))
