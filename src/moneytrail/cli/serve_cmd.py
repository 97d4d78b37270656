"""``moneytrail serve``: the task force's web app over one workspace (docs/deploy.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from moneytrail.cli.main import WorkspaceOpt, app, bench_app


@app.command()
def serve(
    workspace: Optional[Path] = WorkspaceOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate (chain) for HTTPS"),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key for HTTPS"),
    behind_proxy: bool = typer.Option(False, "--behind-proxy",
                                      help="a reverse proxy on this machine terminates TLS (X-Forwarded-* trusted "
                                           "from 127.0.0.1 only)"),
    public_url: Optional[str] = typer.Option(None, "--public-url",
                                             help="the address officers use (behind a proxy; for single sign-on)"),
    idle_minutes: float = typer.Option(15.0, "--idle-minutes", min=1, max=24 * 60,
                                       help="a session ends after this long without a request"),
    lifetime_hours: float = typer.Option(12.0, "--lifetime-hours", min=0.1, max=7 * 24,
                                         help="a session ends this long after sign-in, whatever its use"),
    oidc_issuer: Optional[str] = typer.Option(None, "--oidc-issuer", help="agency single sign-on: the OpenID "
                                                                         "Connect issuer URL"),
    oidc_client_id: Optional[str] = typer.Option(None, "--oidc-client-id"),
    oidc_claim: str = typer.Option("moneytrail_officer", "--oidc-claim",
                                   help="the ID-token claim holding the registry's officer id"),
    max_upload_mb: int = typer.Option(2048, "--max-upload-mb", min=1, max=1 << 20),
):
    """Serve the web app: officers sign in (password + TOTP, or agency single sign-on) and work
    their case in the browser, under the same policies and audit log as the CLI. The server owns
    the workspace while it runs: CLI commands on it are refused. The OIDC client secret is read
    from $MONEYTRAIL_OIDC_CLIENT_SECRET (never from the command line)."""
    from moneytrail.errors import ConfigError
    from moneytrail.web.app import WebConfig
    from moneytrail.web.server import serve as run_server
    from moneytrail.workspace import resolve_path

    oidc = None
    if oidc_issuer or oidc_client_id:
        from moneytrail.web.oidc import OIDCConfig

        secret = os.environ.get("MONEYTRAIL_OIDC_CLIENT_SECRET", "")
        if not (oidc_issuer and oidc_client_id and secret):
            raise ConfigError("single sign-on needs --oidc-issuer, --oidc-client-id and $MONEYTRAIL_OIDC_CLIENT_SECRET")
        oidc = OIDCConfig(issuer=oidc_issuer, client_id=oidc_client_id, client_secret=secret, claim=oidc_claim)
    path = resolve_path(workspace)
    if not path.exists():
        raise ConfigError(f"no workspace at {path}: pass --workspace CASE.duckdb (moneytrail demo makes one)")
    cfg = WebConfig(path, idle_minutes=idle_minutes, lifetime_hours=lifetime_hours, oidc=oidc,
                    max_upload_mb=max_upload_mb, extra={"public_url": public_url} if public_url else {})
    run_server(cfg, host, port, tls_cert=tls_cert, tls_key=tls_key, behind_proxy=behind_proxy,
               on_ready=lambda addr: typer.echo(f"serving {path} at {addr} (Ctrl-C stops)", err=True))


@bench_app.command("web")
def bench_web_cmd(
    data: Optional[Path] = typer.Option(None, "--data", help="an AMLSim-layout folder (default: the demo case)"),
    users: int = typer.Option(20, "--users", min=1, max=500, help="signed-in officers browsing at once"),
    seconds: float = typer.Option(60.0, "--seconds", min=1, max=3600),
    seed: int = typer.Option(0, "--seed"),
    think: float = typer.Option(1.0, "--think", min=0, max=60,
                                help="mean seconds an officer reads a page before the next (0: saturate)"),
    format: str = typer.Option("json", "--format", "-f", help="json | table"),
):
    """The web app under load on loopback: latency p50/p99 per page, errors, the share of server
    time spent on authorization and audit, and whether the audit log holds every entry."""
    import json

    from moneytrail.bench.web import bench_web

    res = bench_web(data=data, users=users, seconds=seconds, seed=seed, think=think,
                    log=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(res, indent=None if format == "json" else 2))
