"""CLI for learned risk scoring: ``model train``, ``model show``, ``score``, ``bench score``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import BackendOpt, SparkMasterOpt, WorkspaceOpt, app, bench_app, engine_options, open_session
from moneytrail.errors import ConfigError

MAX_TOP = 1_000_000

model_app = typer.Typer(no_args_is_help=True, help="Train and inspect the risk model.")
app.add_typer(model_app, name="model")


@model_app.command("train")
def model_train(
    ctx: typer.Context,
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json"),
    backend: str = BackendOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Train a LightGBM model on a labeled workspace (temporal split 60/20/20) and store it."""
    if not 0 <= seed < 2**31:
        raise ConfigError(f"--seed {seed}: a whole number from 0 to {2**31 - 1}")
    engine = engine_options(backend, spark_master)
    with open_session(ctx, workspace) as sess:
        res = sess.train(seed=seed, **engine)
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    v, t = res["validation"], res["test"]
    typer.echo(f"model {res['model_id']}: {res['features']} features, {res['best_iteration']} trees, "
               f"threshold {res['threshold']:.4f}")
    typer.echo(f"  validation F1 {v['f1']:.3f}, PR-AUC {v['pr_auc']:.3f}")
    if t:
        typer.echo(f"  held-out test F1 {t['f1']:.3f} (precision {t['precision']:.3f}, recall {t['recall']:.3f}), "
                   f"PR-AUC {t['pr_auc']:.3f}")


@model_app.command("show")
def model_show(ctx: typer.Context, workspace: Optional[Path] = WorkspaceOpt):
    """Show the stored models: features, training-data hash, parameters, validation metrics."""
    with open_session(ctx, workspace) as sess:
        rows = sess.models()
    typer.echo(json.dumps(rows, default=str, indent=1))


@app.command("score")
def score_cmd(
    ctx: typer.Context,
    model: Optional[int] = typer.Option(None, "--model", help="model id (default: the latest)"),
    top: int = typer.Option(20, "--top", help="list this many highest-scoring accounts"),
    as_json: bool = typer.Option(False, "--json"),
    backend: str = BackendOpt,
    spark_master: Optional[str] = SparkMasterOpt,
    workspace: Optional[Path] = WorkspaceOpt,
):
    """Score every transaction and account with the stored model; reasons in words for flagged ones."""
    from moneytrail.score.model import reason_text

    if model is not None and not 0 <= model < 2**31:     # models.model_id is an INTEGER
        raise ConfigError(f"--model {model}: no such model id (a whole number from 0 to {2**31 - 1})")
    if not 0 <= top <= MAX_TOP:
        raise ConfigError(f"--top {top}: a whole number from 0 to {MAX_TOP:,}")
    engine = engine_options(backend, spark_master)
    with open_session(ctx, workspace) as sess:
        res = sess.score(model_id=model, top=top, **engine)
    accts = res["top_accounts"]
    if as_json:
        for a in accts:
            a["reasons"] = json.loads(a["reasons"] or "[]")
        typer.echo(json.dumps(res, default=str))
        return
    typer.echo(f"model {res['model_id']}: {res['transactions']} transactions scored, {res['flagged']} flagged "
               f"(threshold {res['threshold']:.4f}), {res['flagged_accounts']} accounts; "
               f"{res['findings']} model_risk findings")
    for a in accts:
        typer.echo(f"  {a['account_id']}: {a['score']:.3f}, {a['flagged_transactions']} flagged — "
                   f"{reason_text(json.loads(a['reasons'] or '[]'))}")


@bench_app.command("score")
def bench_score_cmd(
    data: Path = typer.Option(..., "--data", help="AMLSim output folder (labeled)"),
    format: str = typer.Option("json", "--format", "-f", help="json"),
    seeds: str = typer.Option("0,1,2", "--seeds", help="the protocol is 0,1,2; fewer for development"),
    ablation: bool = typer.Option(False, "--ablation",
                                  help="also run without the busy-account (degree/volume) features"),
    gfp_settings: str = typer.Option("7,14,28", "--gfp-settings",
                                     help="GFP window settings in days, chosen among on validation (protocol: 7,14,28)"),
    gfp_float32: bool = typer.Option(False, "--gfp-float32",
                                     help="cast the GFP matrix to float32 as the reference script does "
                                          "(overflowing values become inf); default float64"),
    baseline: Optional[bool] = typer.Option(None, "--baseline/--no-baseline",
                                            help="run GFP+LightGBM too (default: when snapml is installed)"),
    weight_positives: bool = typer.Option(False, "--weight-positives",
                                          help="both sides weight positives by negatives/positives of train "
                                               "(the reference baseline's scale_pos_weight; default: unweighted)"),
    reference_protocol: bool = typer.Option(False, "--reference-protocol",
                                            help="both sides exactly as the reference baseline: positives "
                                                 "weighted and its LightGBM settings (31 leaves)"),
    backend: str = BackendOpt,
    spark_master: Optional[str] = SparkMasterOpt,
):
    """Learned scoring vs GFP+LightGBM on the same split, seeds, threshold rule and metrics."""
    from moneytrail.bench.score import bench_score

    if format != "json":
        raise ConfigError(f"--format {format!r}: only json is supported")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip()) if len(seeds) <= 200 else None
    except ValueError:
        seed_list = None
    if seed_list is None or not all(0 <= s < 2**31 for s in seed_list):
        raise ConfigError(f"--seeds {seeds[:80]!r}: expected whole numbers from 0 to {2**31 - 1} separated by commas")
    try:
        settings = tuple(int(x) for x in gfp_settings.split(",") if x.strip()) if len(gfp_settings) <= 40 else ()
    except ValueError:
        settings = ()
    if not settings or not all(1 <= x <= 365 for x in settings):
        raise ConfigError(f"--gfp-settings {gfp_settings[:40]!r}: window lengths in days (1 to 365) separated by commas")
    engine = engine_options(backend, spark_master)
    res = bench_score(data, seeds=seed_list or (0,), baseline=baseline, ablation=ablation, gfp_float32=gfp_float32,
                      progress=lambda line: typer.echo(line, err=True), settings=settings, backend=engine["backend"],
                      backend_options=engine["backend_options"], weight_positives=weight_positives or None,
                      reference_protocol=reference_protocol)
    typer.echo(json.dumps(res))
