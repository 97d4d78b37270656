"""Running the web app: uvicorn on one process (the server owns the workspace), with TLS from a
certificate and key, or plain HTTP on loopback, or behind a reverse proxy that terminates TLS
(docs/deploy.md). Cookies are ``Secure`` in every case: browsers keep them over plain HTTP only
for ``localhost``/``127.0.0.1``, so plain HTTP on any other address is refused unless
``--behind-proxy`` says a TLS proxy is in front.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from pathlib import Path
from typing import Any

from moneytrail.errors import ConfigError
from moneytrail.web.app import WebConfig, create_app
from moneytrail.web.owner import Owner


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(host: str, tls_cert: Path | None, tls_key: Path | None, behind_proxy: bool) -> str:
    """``https`` or ``http``; a ConfigError for a setting that would leak sessions."""
    if bool(tls_cert) != bool(tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    for p, opt in ((tls_cert, "--tls-cert"), (tls_key, "--tls-key")):
        if p is not None and not Path(p).is_file():
            raise ConfigError(f"{opt} {p}: no such file")
    if tls_cert:
        return "https"
    if not behind_proxy and not _loopback(host):
        raise ConfigError(f"--host {host} without TLS: session cookies are Secure and would not survive plain HTTP "
                          f"on a network address; give --tls-cert/--tls-key, or --behind-proxy for a TLS proxy "
                          f"in front (docs/deploy.md)")
    return "http"


def uvicorn_config(app, host: str, port: int, *, tls_cert=None, tls_key=None, behind_proxy: bool = False,
                   log_level: str = "info"):
    import uvicorn

    kw: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "access_log": False,
                          "server_header": False, "date_header": True, "lifespan": "off"}
    if tls_cert:
        kw.update(ssl_certfile=str(tls_cert), ssl_keyfile=str(tls_key))
    if behind_proxy:
        kw.update(proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    else:
        kw.update(proxy_headers=False)
    return uvicorn.Config(app, **kw)


def serve(config: WebConfig, host: str = "127.0.0.1", port: int = 8000, *, tls_cert=None, tls_key=None,
          behind_proxy: bool = False, on_ready=None) -> None:
    """Serve until interrupted (``moneytrail serve``)."""
    import uvicorn

    scheme = check_transport(host, tls_cert, tls_key, behind_proxy)
    config.hsts = scheme == "https" or behind_proxy
    owner = Owner(config.workspace)
    address = f"{scheme}://{host}:{port}"
    try:
        app = create_app(config, owner)
        server = uvicorn.Server(uvicorn_config(app, host, port, tls_cert=tls_cert, tls_key=tls_key,
                                               behind_proxy=behind_proxy))
        owner.mark_serving(address)
        if on_ready:
            on_ready(address)
        server.run()
    finally:
        with contextlib.suppress(Exception):
            app.state.mt.jobs.stop()
        owner.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Background:
    """The app served on loopback in a thread (tests, the load benchmark): ``url``, ``app``,
    ``stop()``."""

    def __init__(self, config: WebConfig, *, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.owner = Owner(config.workspace)
        self.app = create_app(config, self.owner)
        self.server = uvicorn.Server(uvicorn_config(self.app, "127.0.0.1", self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="moneytrail-serve", daemon=True)
        self.owner.mark_serving(self.url)
        self.thread.start()
        end = time.time() + 30
        while not self.server.started:
            if time.time() > end or not self.thread.is_alive():
                raise RuntimeError("the web app did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.mt.jobs.stop()
        self.owner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
