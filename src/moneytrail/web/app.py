"""The web app (``moneytrail serve``): a Starlette application over one served workspace.

Every page is a :class:`moneytrail.Session` command for the signed-in officer and the case the
officer works in: decided by the Cedar policies and recorded in the audit log exactly as the CLI
would (the decision's command line is ``web GET /findings`` and so on). The web layer reaches no
data any other way. Around that it adds:

- sign-in (:mod:`moneytrail.web.logins`: password + TOTP; :mod:`moneytrail.web.oidc`: agency
  single sign-on) and server-side sessions (:mod:`moneytrail.web.sessions`);
- a CSRF token on every state-changing request (a form field or the ``X-CSRF-Token`` header that
  htmx sends), checked before the handler runs;
- headers on every response: a Content-Security-Policy with no inline script, no framing, no
  sniffing, no referrer, no caching of pages;
- background jobs for long work (:mod:`moneytrail.web.jobs`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from moneytrail.errors import ConfigError, MoneytrailError
from moneytrail.web import logins
from moneytrail.web.jobs import JobRunner
from moneytrail.web.owner import Owner
from moneytrail.web.sessions import COOKIE, SessionStore, WebSession

log = logging.getLogger("moneytrail.web")
HERE = Path(__file__).parent
PAGE_SIZE = 50
STATIC_MAX_AGE = 3600

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _report_csp(template: str = "report.html.j2") -> str:
    """The case report as the app shows it: its own styles, and no script but the report
    template's own (allowed by its SHA-256, computed from the packaged template: nothing the data
    put in a report can run), in a sandbox with an opaque origin (no cookies, no app requests)."""
    import base64
    import hashlib
    from importlib import resources

    tpl = resources.files("moneytrail.report").joinpath("templates", template).read_text(encoding="utf-8")
    hashes = []
    for body in re.findall(r"<script>(.*?)</script>", tpl, re.S):
        if "{{" not in body and "{%" not in body:
            hashes.append("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'")
    scripts = f"script-src {' '.join(hashes)}; " if hashes else ""
    return (f"default-src 'none'; {scripts}style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
            f"sandbox{' allow-scripts' if hashes else ''}")


REPORT_CSP = _report_csp()
TRACE_CSP = _report_csp("trace_page.html.j2")


@dataclass
class WebConfig:
    workspace: Path
    idle_minutes: float = 15.0
    lifetime_hours: float = 12.0
    hsts: bool = False                 # TLS in front (--tls-cert, or a proxy that says so)
    oidc: Any = None                   # moneytrail.web.oidc.OIDCConfig
    max_upload_mb: int = 2048
    signin_backoff: bool = True        # slow each failed sign-in down (tests of lockout turn it off)
    extra: dict[str, Any] = field(default_factory=dict)


# -- rendering -----------------------------------------------------------------------------------

def _fmt_money(v: Any) -> str:
    if v is None:
        return ""
    try:
        return f"{Decimal(v):,.2f}"
    except Exception:
        return str(v)


def _fmt_ts(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        v = _dt.datetime.fromtimestamp(v, _dt.timezone.utc)
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def _templates():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = _fmt_money
    env.filters["ts"] = _fmt_ts
    env.filters["tojson_attr"] = lambda v: json.dumps(v, default=str)
    return env


def sparkline(points: list[tuple[Any, float]], width: int = 640, height: int = 120) -> dict[str, Any]:
    """Balance over time as an SVG polyline's points (drawn by the template; no script)."""
    pts = [(p[0], float(p[1])) for p in points if p[1] is not None]
    if len(pts) < 2:
        return {"points": "", "min": pts[0][1] if pts else 0, "max": pts[0][1] if pts else 0, "width": width,
                "height": height}
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = (hi - lo) or 1.0
    n = len(pts) - 1
    coords = " ".join(f"{i * width / n:.1f},{height - (v - lo) / span * (height - 8) - 4:.1f}"
                      for i, (_, v) in enumerate(pts))
    return {"points": coords, "min": lo, "max": hi, "first": pts[0][0], "last": pts[-1][0], "width": width,
            "height": height, "zero": height - (0 - lo) / span * (height - 8) - 4 if lo < 0 < hi else None}


# -- the request context ---------------------------------------------------------------------------

class Ctx:
    """What a handler gets: the request, its form and query, the web session, the app's parts."""

    def __init__(self, app_state, request: Request, ws: WebSession | None, form: dict[str, Any]):
        self.st = app_state
        self.request = request
        self.web = ws
        self.form = form
        self.query = request.query_params
        self.client = request.client.host if request.client else ""

    @property
    def officer(self) -> str:
        assert self.web is not None and self.web.officer
        return self.web.officer

    def command(self) -> tuple[str, ...]:
        route = self.request.scope.get("route")
        path = getattr(route, "path", self.request.url.path)
        return (f"web {self.request.method} {path}",)

    def session(self):
        return self.st.owner.session(self.officer, self.web.case if self.web else None, self.command())

    def render(self, name: str, status: int = 200, **kw: Any) -> HTMLResponse:
        tpl = self.st.templates.get_template(name)
        html = tpl.render(officer=self.web.officer if self.web else None, case=self.web.case if self.web else None,
                          csrf=self.web.csrf if self.web else "", request=self.request, path=self.request.url.path,
                          oidc=self.st.config.oidc is not None, **kw)
        return HTMLResponse(html, status_code=status)

    def partial(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"


class AppState:
    def __init__(self, config: WebConfig, owner: Owner | None = None):
        self.config = config
        self.owner = owner or Owner(config.workspace)
        self.store = SessionStore(idle_s=config.idle_minutes * 60, absolute_s=config.lifetime_hours * 3600)
        self.jobs = JobRunner(self.owner)
        self.templates = _templates()
        self.ip_failures: dict[str, list[float]] = {}
        self.oidc = None
        if config.oidc is not None:
            from moneytrail.web.oidc import OIDCClient

            self.oidc = OIDCClient(config.oidc)


def _set_cookie(resp: Response, sid: str, state: AppState) -> None:
    resp.set_cookie(COOKIE, sid, max_age=int(state.config.lifetime_hours * 3600), path="/", secure=True,
                    httponly=True, samesite="lax")


def _headers(resp: Response, state: AppState, *, csp: str = CSP, cache: bool = False) -> Response:
    h = resp.headers
    h.setdefault("Content-Security-Policy", csp)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY" if csp == CSP else "SAMEORIGIN")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not cache:
        h.setdefault("Cache-Control", "no-store")
    if state.config.hsts:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    return resp


UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def endpoint(handler: Callable[[Ctx], Response], *, auth: bool = True, case: bool = True):
    """Wrap a (blocking) handler: session lookup, the sign-in gate, CSRF on unsafe methods, the
    handler in a worker thread, errors as pages, the session cookie and the security headers."""

    async def run(request: Request) -> Response:
        state: AppState = request.app.state.mt
        sid = request.cookies.get(COOKIE)
        web, ended = state.store.get(sid)
        new_sid = None
        if ended is not None:           # a signed-in session that timed out: say so in the log
            await run_in_threadpool(_record, state, "session_expired", ended[1], reason=ended[0],
                                    client=request.client.host if request.client else "")
        if web is None:
            new_sid, web = state.store.new(client=request.client.host if request.client else "")
        form: dict[str, Any] = {}
        if request.method in UNSAFE:
            ctype = request.headers.get("content-type", "")
            if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                limit = state.config.max_upload_mb * 2**20 if "multipart" in ctype else 2**20
                size = int(request.headers.get("content-length") or 0)
                if size > limit:
                    return _headers(PlainTextResponse("request too large", 413), state)
                fd = await request.form(max_files=2, max_fields=200, max_part_size=2**20)
                form = {k: fd.get(k) for k in fd.keys()}
            token = request.headers.get("X-CSRF-Token") or (form.get("csrf") if isinstance(form.get("csrf"), str)
                                                            else None)
            if new_sid is not None or not token or not hmac.compare_digest(str(token), web.csrf):
                resp = _headers(PlainTextResponse("refused: this form has expired or did not come from this "
                                                  "app (CSRF check); reload the page and try again", 403), state)
                if new_sid:
                    _set_cookie(resp, new_sid, state)
                return resp
        if auth and web.officer is None:
            if request.method == "GET" and not request.headers.get("HX-Request"):
                resp: Response = RedirectResponse("/signin" + ("?expired=1" if ended else ""), 303)
            else:
                resp = PlainTextResponse("refused: sign in first", 401)
                resp.headers["HX-Redirect"] = "/signin"
            if new_sid:
                _set_cookie(resp, new_sid, state)
            return _headers(resp, state)
        ctx = Ctx(state, request, web, form)
        if auth and web.method == "password+totp":
            still = await run_in_threadpool(_login_active, state, web.officer)
            if not still:
                state.store.end(sid)
                await run_in_threadpool(_record, state, "session_ended", web.officer, reason="login removed",
                                        client=ctx.client)
                return _headers(RedirectResponse("/signin?removed=1", 303), state)
        if auth and case and web.case is None and request.url.path not in ("/cases", "/signout"):
            if request.method == "GET" and not request.headers.get("HX-Request"):
                return _headers(RedirectResponse("/cases", 303), state)
        timing: dict[str, Any] | None = None
        try:
            resp, timing = await run_in_threadpool(_timed, handler, ctx)
            if asyncio.iscoroutine(resp):
                resp = await resp
        except Exception as e:          # noqa: BLE001 — every failure becomes a page, never a traceback
            resp = _error_page(ctx, e)
        if timing is not None and web.officer:
            resp.headers["Server-Timing"] = (
                f'app;dur={timing["total_s"] * 1000:.2f}, wait;dur={timing["wait_s"] * 1000:.2f}, '
                f'authz;dur={timing["authz_s"] * 1000:.2f};desc="{timing["decisions"]} decisions", '
                f'audit;dur={timing["audit_s"] * 1000:.2f};desc="{timing["reads"]} reads"')
        sid_out = getattr(ctx, "new_sid", None) or new_sid
        if sid_out:
            _set_cookie(resp, sid_out, state)
        if getattr(ctx, "clear_cookie", False):
            resp.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return _headers(resp, state, csp=getattr(resp, "mt_csp", CSP))

    run.__name__ = handler.__name__
    return run


def _timed(handler, ctx: Ctx):
    """Run a handler, measuring the time its decisions and read records took (Server-Timing)."""
    from moneytrail import _timing

    _timing.start()
    try:
        resp = handler(ctx)
    except Exception as e:              # noqa: BLE001
        resp = _error_page(ctx, e)
    return resp, _timing.take()


def _login_active(state: AppState, officer: str) -> bool:
    with state.owner.handle() as ws:
        return logins.active(ws, officer)


def _record(state: AppState, event: str, officer: str | None, **fields: Any) -> None:
    with state.owner.lock:
        logins.record(state.owner.ws, event, officer, **fields)


def _error_page(ctx: Ctx, e: Exception) -> Response:
    from moneytrail.authority import AccessDenied

    if isinstance(e, AccessDenied):
        status, title, msg = 403, "Refused", str(e)
    elif isinstance(e, MoneytrailError):
        status, title, msg = 400, "Cannot do that", str(e).splitlines()[0] if str(e) else type(e).__name__
    else:
        log.exception("%s %s failed", ctx.request.method, ctx.request.url.path)
        status, title, msg = 500, "Server error", f"{type(e).__name__}: the server's log has the details"
    if ctx.partial():
        return ctx.render("_error.html", status=status, title=title, message=msg)
    return ctx.render("error.html", status=status, title=title, message=msg)


# -- sign-in -----------------------------------------------------------------------------------------

def _client_throttled(state: AppState, client: str) -> bool:
    now = time.time()
    fails = [t for t in state.ip_failures.get(client, []) if now - t < 900]
    state.ip_failures[client] = fails
    return len(fails) >= 30


def signin_page(ctx: Ctx) -> Response:
    if ctx.web.officer:
        return RedirectResponse("/", 303)
    note = ("Your session ended: sign in again." if ctx.query.get("expired") else
            "Your login was removed." if ctx.query.get("removed") else
            "Enrolled: sign in with your password and a code from your authenticator." if ctx.query.get("enrolled")
            else "Signed out." if ctx.query.get("out") else None)
    return ctx.render("signin.html", message=None, note=note, given="")


async def _signin_post(ctx: Ctx) -> Response:
    state = ctx.st
    officer = str(ctx.form.get("officer") or "")[:64]
    if _client_throttled(state, ctx.client):
        await run_in_threadpool(_record, state, "signin_failed", officer, client=ctx.client,
                                reason="client throttled")
        return ctx.render("signin.html", status=429, message="too many failed sign-ins from this address: wait "
                                                             "a few minutes", note=None, given=officer)

    def check():
        with state.owner.lock:
            return logins.sign_in(state.owner.ws, officer, str(ctx.form.get("password") or ""),
                                  str(ctx.form.get("code") or ""), client=ctx.client)

    res = await run_in_threadpool(check)
    if not res.ok:
        state.ip_failures.setdefault(ctx.client, []).append(time.time())
        if state.config.signin_backoff and res.backoff_s:
            await asyncio.sleep(res.backoff_s)
        return ctx.render("signin.html", status=401, message=res.message, note=None, given=officer)
    return await run_in_threadpool(_signed_in, ctx, res.officer, "password+totp")


def _signed_in(ctx: Ctx, officer: str, method: str) -> Response:
    """Rotate the session at sign-in and choose the case: the officer's one open case, else ask."""
    state = ctx.st
    sid, web = state.store.rotate(ctx.request.cookies.get(COOKIE), client=ctx.client)
    web.data.clear()
    web.officer, web.method, web.signed_in_at = officer, method, time.time()
    ctx.web, ctx.new_sid = web, sid
    cases = _open_cases(ctx)
    if len(cases) == 1:
        web.case = cases[0]
        return RedirectResponse("/", 303)
    return RedirectResponse("/cases", 303)


def _open_cases(ctx: Ctx) -> list[str]:
    from moneytrail.authority import AccessDenied

    try:
        with ctx.st.owner.session(ctx.officer, None, ctx.command()) as s:
            return list(s.whoami()["open_cases"])
    except AccessDenied:
        return []


def signin(ctx: Ctx):
    if ctx.request.method == "GET":
        return signin_page(ctx)
    return _signin_post(ctx)


def signout(ctx: Ctx) -> Response:
    state = ctx.st
    sid = ctx.request.cookies.get(COOKIE)
    web = state.store.end(sid)
    if web is not None and web.officer:
        _record(state, "signout", web.officer, client=ctx.client, method=web.method)
    ctx.clear_cookie = True
    return RedirectResponse("/signin?out=1", 303)


def enrol(ctx: Ctx) -> Response:
    state = ctx.st
    if ctx.request.method == "GET":
        return ctx.render("enrol.html", message=None, given="")
    officer = str(ctx.form.get("officer") or "").strip()[:64]
    code = str(ctx.form.get("code") or "")
    pw, pw2 = str(ctx.form.get("password") or ""), str(ctx.form.get("password2") or "")
    if _client_throttled(state, ctx.client):  # enrolment codes are guessed no faster than passwords
        _record(state, "signin_failed", officer or None, client=ctx.client, method="enrolment",
                reason="client throttled")
        return ctx.render("enrol.html", status=429, message="too many failed attempts from this address: wait "
                                                            "a few minutes", given=officer)
    if pw != pw2:
        return ctx.render("enrol.html", status=400, message="the two passwords differ", given=officer)
    try:
        with state.owner.lock:
            pending = logins.start_enrolment(state.owner.ws, officer, code, pw, client=ctx.client)
    except logins.LoginError as e:
        state.ip_failures.setdefault(ctx.client, []).append(time.time())
        return ctx.render("enrol.html", status=400, message=str(e), given=officer)
    ctx.web.data["enrol"] = {**pending, "code": code, "at": time.time()}
    return RedirectResponse("/enrol/totp", 303)


def enrol_totp(ctx: Ctx) -> Response:
    import segno

    state = ctx.st
    pending = ctx.web.data.get("enrol")
    if not pending or time.time() - pending["at"] > 600:
        ctx.web.data.pop("enrol", None)
        return RedirectResponse("/enrol", 303)
    qr = segno.make(pending["otpauth_uri"], error="m").svg_data_uri(scale=4)
    if ctx.request.method == "POST":
        if _client_throttled(state, ctx.client):
            return ctx.render("enrol_totp.html", status=429, message="too many failed attempts from this address: "
                              "wait a few minutes", qr=qr, secret=pending["totp_secret"], enrolling=pending["officer"])
        try:
            with state.owner.lock:
                logins.finish_enrolment(state.owner.ws, pending["officer"], pending["code"], pending["password_hash"],
                                        pending["totp_secret"], str(ctx.form.get("totp") or ""), client=ctx.client)
        except logins.LoginError as e:
            state.ip_failures.setdefault(ctx.client, []).append(time.time())
            return ctx.render("enrol_totp.html", status=400, message=str(e), qr=qr, secret=pending["totp_secret"],
                              enrolling=pending["officer"])
        ctx.web.data.pop("enrol", None)
        return RedirectResponse("/signin?enrolled=1", 303)
    return ctx.render("enrol_totp.html", message=None, qr=qr, secret=pending["totp_secret"],
                      enrolling=pending["officer"])


def oidc_start(ctx: Ctx) -> Response:
    if ctx.st.oidc is None:
        return ctx.render("error.html", status=404, title="Not configured",
                          message="single sign-on is not configured on this server")
    url, pending = ctx.st.oidc.authorization_url(_base_url(ctx) + "/oidc/callback")
    ctx.web.data["oidc"] = {**pending, "at": time.time()}
    return RedirectResponse(url, 303)


def oidc_callback(ctx: Ctx) -> Response:
    state = ctx.st
    pending = ctx.web.data.pop("oidc", None)
    if state.oidc is None:
        return ctx.render("error.html", status=404, title="Not configured", message="single sign-on is not configured")
    try:
        if not pending or time.time() - pending["at"] > 600:
            raise logins.LoginError("the single sign-on attempt expired or did not start here: try again")
        officer = state.oidc.finish(dict(ctx.query), pending, _base_url(ctx) + "/oidc/callback")
        with state.owner.lock:
            registered = state.owner.ws.scalar("SELECT count(*) FROM main.officers WHERE officer_id = ?", [officer])
        if not registered:
            raise logins.LoginError(f"the identity provider names officer {officer[:64]!r}, who is not in this "
                                    f"workspace's registry")
    except logins.LoginError as e:
        _record(state, "signin_failed", None, client=ctx.client, method="oidc", reason=str(e)[:300])
        return ctx.render("signin.html", status=401, message=str(e), note=None, given="")
    _record(state, "signin", officer, client=ctx.client, method="oidc", issuer=state.oidc.config.issuer)
    return _signed_in(ctx, officer, "oidc")


def _base_url(ctx: Ctx) -> str:
    cfg = ctx.st.config.extra.get("public_url")
    if cfg:
        return str(cfg).rstrip("/")
    u = ctx.request.url
    return f"{u.scheme}://{u.netloc}"


# -- the case -----------------------------------------------------------------------------------------

def cases(ctx: Ctx) -> Response:
    open_cases = _open_cases(ctx)
    if ctx.request.method == "POST":
        chosen = str(ctx.form.get("case") or "")
        if chosen not in open_cases:
            return ctx.render("cases.html", status=400, cases=open_cases, message="not one of your open cases")
        ctx.web.case = chosen
        return RedirectResponse("/", 303)
    return ctx.render("cases.html", cases=open_cases, message=None if open_cases else
                      "You are not a member of any open case (or your grant does not allow you to work in one).")


def dashboard(ctx: Ctx) -> Response:
    with ctx.session() as s:
        info = s.case_info()
        sources = s.sources()
    jobs = ctx.st.jobs.of(ctx.officer, ctx.web.case)[:5]
    return ctx.render("dashboard.html", info=info, sources=sources, jobs=jobs)


def quarantine(ctx: Ctx) -> Response:
    src = ctx.query.get("source")
    source = int(src) if src and src.isdigit() else None
    with ctx.session() as s:
        rows = s.quarantine(source, limit=_int(ctx.query.get("limit"), 200, 1, 5000))
    return ctx.render("quarantine.html", rows=rows, source=source)


def _int(v: Any, default: int, lo: int, hi: int) -> int:
    try:
        x = int(str(v))
    except (TypeError, ValueError):
        return default
    return max(lo, min(hi, x))


def _filters(q) -> dict[str, Any]:
    return {"typology": q.get("typology") or "", "account": q.get("account") or "", "min_score": q.get("min_score") or "",
            "min_amount": q.get("min_amount") or "", "max_amount": q.get("max_amount") or "",
            "status": q.get("status") or "", "sort": q.get("sort") or "priority", "dir": q.get("dir") or "desc"}


def findings(ctx: Ctx) -> Response:
    from moneytrail import _reads

    f = _filters(ctx.query)
    page = _int(ctx.query.get("page"), 1, 1, 10**9)
    with ctx.session() as s:
        res = s.findings_page(typologies=[f["typology"]] if f["typology"] else (), account=f["account"] or None,
                              min_score=f["min_score"], min_amount=f["min_amount"], max_amount=f["max_amount"],
                              status=f["status"] or None, sort=f["sort"], descending=f["dir"] != "asc",
                              limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    from moneytrail.detect import BY_ID

    pages = max(1, -(-res["total"] // PAGE_SIZE))

    def fq(**kw: Any) -> str:
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in {**f, "page": page, **kw}.items() if v not in ("", None)})

    args = dict(res=res, f=f, page=page, pages=pages, fq=fq, statuses=_reads.TRIAGE_STATUSES,
                sorts=list(_reads.FINDING_SORTS), typologies=sorted(BY_ID) + ["model_risk"])
    if ctx.partial():
        return ctx.render("_findings_table.html", **args)
    return ctx.render("findings.html", **args)


def finding(ctx: Ctx) -> Response:
    key = ctx.request.path_params["key"]
    with ctx.session() as s:
        if ctx.request.method == "POST":
            s.triage(key, status=ctx.form.get("status") or None, reason=ctx.form.get("reason") or None,
                     assignee=ctx.form.get("assignee") or None, note=ctx.form.get("note") or None)
            return RedirectResponse(f"/findings/{key}", 303)
        out = s.finding(key)
        members = s.case_info().get("members", [])
    from moneytrail import _reads

    return ctx.render("finding.html", f=out["finding"], triage=out["triage"], events=out["events"],
                      superseded=out["superseded"], txs=out["transactions"], recs=out.get("records", []),
                      statuses=_reads.TRIAGE_STATUSES,
                      members=members)


def review(ctx: Ctx) -> Response:
    """The review queue of uncertain matches (issue 14): each pair with both records and why, an
    officer's decision (same party or not, with a reason) recorded like any other command."""
    from moneytrail import _reads
    from moneytrail.errors import WorkspaceError

    status = ctx.query.get("status") or "review"
    if status not in _reads.MATCH_STATUSES:
        status = "review"
    page = _int(ctx.query.get("page"), 1, 1, 10**9)
    with ctx.session() as s:
        if ctx.request.method == "POST":
            s.review(ctx.form.get("left") or "", ctx.form.get("right") or "", ctx.form.get("decision") or "",
                     ctx.form.get("reason") or "")
            return RedirectResponse(f"/review?status={status}&page={page}", 303)
        try:
            res = s.review_queue(status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        except WorkspaceError:
            return ctx.render("review.html", res=None, shown=status, page=1, pages=1,
                              statuses=_reads.MATCH_STATUSES)
    pages = max(1, -(-res["total"] // PAGE_SIZE))
    return ctx.render("review.html", res=res, shown=status, page=page, pages=pages, statuses=_reads.MATCH_STATUSES)


def entity_page(ctx: Ctx) -> Response:
    with ctx.session() as s:
        e = s.entity(ctx.request.path_params["entity"])
    return ctx.render("entity.html", e=e)


def account(ctx: Ctx) -> Response:
    acct = ctx.request.path_params["account"]
    with ctx.session() as s:
        a = s.account(acct)
    stated = [(r["day"], r["stated"]) for r in a["balance"] if r["stated"] is not None]
    chart = sparkline(stated if len(stated) >= 2 else [(r["day"], r["running_net"]) for r in a["balance"]])
    return ctx.render("account.html", a=a, chart=chart, chart_kind="statement balance" if len(stated) >= 2
                      else "running net flow (no statement balances)", q=_tx_query(ctx.query))


def _tx_query(q) -> dict[str, str]:
    return {k: q.get(k) or "" for k in ("ref", "min_amount", "max_amount", "date_from", "date_to")}


def transactions(ctx: Ctx) -> Response:
    q = _tx_query(ctx.query)
    acct = ctx.query.get("account") or None
    page = _int(ctx.query.get("page"), 1, 1, 10**9)
    with ctx.session() as s:
        res = s.transactions(account=acct, ref=q["ref"] or None, min_amount=q["min_amount"],
                             max_amount=q["max_amount"], date_from=q["date_from"], date_to=q["date_to"],
                             limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-res["total"] // PAGE_SIZE))

    def tq(**kw: Any) -> str:
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in {**q, "account": acct, "page": page, **kw}.items() if v not in ("", None)})

    args = dict(res=res, q=q, account=acct, page=page, pages=pages, tq=tq)
    if ctx.partial():
        return ctx.render("_transactions.html", **args)
    return ctx.render("transactions.html", **args)


def graph_page(ctx: Ctx) -> Response:
    fkey, acct = ctx.query.get("finding") or "", ctx.query.get("account") or ""
    if not fkey and not acct:
        return ctx.render("error.html", status=400, title="Graph", message="open a graph from a finding or an account")
    return ctx.render("graph.html", finding=fkey, account=acct)


def graph_json(ctx: Ctx) -> Response:
    fkey, acct = ctx.query.get("finding") or None, ctx.query.get("account") or None
    with ctx.session() as s:
        g = s.graph(finding=fkey, account=acct)
    return JSONResponse(json.loads(json.dumps(g, default=str)))


def trace_page(ctx: Ctx) -> Response:
    from moneytrail.trace.rules import RULES

    TRACE_RULES = [r.NAME for r in RULES]
    if ctx.request.method == "GET":
        return ctx.render("trace.html", rules=list(TRACE_RULES), given=dict(ctx.query), message=None)
    refs = [r for r in re.split(r"[\s,]+", str(ctx.form.get("sources") or "")) if r]
    fkey = str(ctx.form.get("finding") or "").strip()
    rules = [r for r in TRACE_RULES if ctx.form.get(f"rule_{r}")] or ["libr"]
    direction = "backward" if ctx.form.get("direction") == "backward" else "forward"
    level = "entity" if ctx.form.get("level") == "entity" else "account"
    title = (f"trace {direction} ({', '.join(rules)}{', entity level' if level == 'entity' else ''}) from "
             + (f"finding {fkey}" if fkey else f"{len(refs)} source(s)"))

    def work(s, job):
        from moneytrail.report.trace_section import render_trace_page

        srcs = _trace_sources(s, refs, fkey)
        job.progress(f"tracing {len(srcs)} source transaction(s) under {', '.join(rules)}")
        res = s.trace(srcs, rule=rules, direction=direction, level=level, save=True)
        job.progress("saved to the case: the next case report shows it", 0.9)
        page = _report_dir(ctx.st) / f"trace-{job.id}.html"
        page.write_text(render_trace_page(res, title=f"Case {s.case or ctx.web.case}: {title}"), encoding="utf-8")
        totals = {n: ", ".join(f"{k} {v}" for k, v in (r.get("totals") or {}).items())
                  for n, r in res["rules"].items()}
        return {"trace_id": res.get("trace_id"), **{f"rule {n}": t for n, t in totals.items()},
                "link": f"/trace/view/{job.id}"}

    job = ctx.st.jobs.submit("trace", ctx.officer, ctx.web.case, title, work, ctx.command())
    return RedirectResponse(f"/jobs/{job.id}", 303)


def _trace_sources(s, refs: list[str], fkey: str) -> list[Any]:
    from moneytrail.workspace import TX_ID_STRIDE

    if fkey:   # the transactions that bring money into the finding's pattern
        return s.finding_trace_sources(fkey)
    if not refs:
        raise ConfigError("name the tainted transactions: bank references, SOURCE:ROW, or a finding")
    out = []
    for r in refs[:500]:
        m = re.fullmatch(r"(\d{1,9}):(\d{1,10})", r)
        if m:
            out.append(int(m.group(1)) * TX_ID_STRIDE + int(m.group(2)))
            continue
        rows = s.transactions(ref=r, limit=2)["rows"]
        if not rows:
            raise ConfigError(f"no transaction with the bank reference {r[:60]!r} in this case (or give SOURCE:ROW)")
        out.append(int(rows[0]["tx_id"]))
    return out


def run_job(ctx: Ctx) -> Response:
    kind = ctx.request.path_params["kind"]
    if kind == "detect":
        def work(s, job):
            job.progress("resolve, graph and the typology catalogue", 0.1)
            out = s.detect()
            return {"findings": out.get("findings", {}), "link": "/findings"}
        title = "detect: the typology catalogue"
    elif kind == "score":
        def work(s, job):
            try:
                s.models()
            except MoneytrailError:
                job.progress("no model yet: training one on the case's labels", 0.1)
                s.train()
            job.progress("scoring transactions and accounts", 0.5)
            out = s.score(top=10)
            return {"model": out["model_id"], "top_accounts": [a["account_id"] for a in out["top_accounts"]],
                    "link": "/findings?typology=model_risk"}
        title = "score: the learned risk model"
    elif kind == "resolve":
        def work(s, job):
            job.progress("party records, entity resolution, accounts and transfers seen at two banks", 0.1)
            out = s.resolve()
            return {"entities": out.get("entities"), "review": out.get("review"),
                    "transfers_matched": out.get("transfers_matched"), "link": "/review"}
        title = "resolve: parties, accounts and transfers"
    elif kind in ("report", "report-print"):
        printed = kind == "report-print"

        def work(s, job):
            job.progress("writing the print-ready case report" if printed else "writing the case report", 0.2)
            case = s.case or ctx.web.case
            path = s.report(_report_path(ctx.st, case, printed), print_ready=printed)
            return {"report": str(path.name), "link": "/report/view" + ("?version=print" if printed else "")}
        title = "report: the print-ready case report" if printed else "report: the case report"
    else:
        return ctx.render("error.html", status=404, title="No such job", message=f"no job kind {kind[:30]!r}")
    job = ctx.st.jobs.submit(kind, ctx.officer, ctx.web.case, title, work, ctx.command())
    return RedirectResponse(f"/jobs/{job.id}", 303)


def _report_dir(state: AppState) -> Path:
    d = state.owner.path.with_name(state.owner.path.stem + ".reports")
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _report_path(state: AppState, case: str, printed: bool = False) -> Path:
    import hashlib

    kind = "print" if printed else "report"
    return _report_dir(state) / f"{kind}-{hashlib.sha256(case.encode()).hexdigest()[:12]}.html"


def _download_name(case: str, printed: bool) -> str:
    """A download's file name: the case id with anything but letters, digits, dot, dash and
    underscore replaced (a header value is never built from raw input)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", case)[:64].lstrip(".") or "case"
    return f"{safe}-report{'-print' if printed else ''}.html"


def trace_view(ctx: Ctx) -> Response:
    """A trace job's page (the per-rule table and the Sankey), to the officer who ran it; reading
    it again is a decided, recorded read."""
    j = ctx.st.jobs.get(ctx.request.path_params["job"], ctx.officer)
    p = _report_dir(ctx.st) / f"trace-{j.id}.html" if j is not None and j.kind == "trace" else None
    if p is None or not p.exists() or j.case != ctx.web.case:
        return ctx.render("error.html", status=404, title="No such trace", message="no such trace of yours")
    with ctx.session() as s:
        s.viewed("trace", p.name)
    resp = HTMLResponse(p.read_text(encoding="utf-8"))
    resp.mt_csp = TRACE_CSP
    return resp


def ingest(ctx: Ctx) -> Response:
    from moneytrail.ingest import FORMATS

    if ctx.request.method == "GET":
        return ctx.render("ingest.html", formats=sorted(FORMATS), message=None)
    up = ctx.form.get("file")
    fmt = str(ctx.form.get("format") or "")
    if not isinstance(up, UploadFile) or not up.filename:
        return ctx.render("ingest.html", status=400, formats=sorted(FORMATS), message="choose a file to upload")
    if fmt not in FORMATS:
        return ctx.render("ingest.html", status=400, formats=sorted(FORMATS), message="choose a format")
    mapping = ctx.form.get("mapping")
    tags = [t for t in re.split(r"[\s,]+", str(ctx.form.get("legal_basis") or "")) if t]
    folder = ctx.st.owner.path.with_name(ctx.st.owner.path.stem + ".uploads")
    folder.mkdir(mode=0o700, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(up.filename).name)[-120:].lstrip(".") or "upload"
    slot = folder / secrets.token_hex(8)         # a folder of its own: the file keeps its name
    slot.mkdir(mode=0o700)
    dest = slot / safe
    with open(dest, "wb") as out:
        up.file.seek(0)
        while chunk := up.file.read(1 << 20):
            out.write(chunk)
    map_path = None
    if isinstance(mapping, UploadFile) and mapping.filename:
        map_path = slot / ".mapping.yaml"       # (an uploaded name never starts with a dot)
        mapping.file.seek(0)
        map_path.write_bytes(mapping.file.read(2**20))
    size = dest.stat().st_size or 1

    def work(s, job):
        seen = [0]

        def on_read(n):
            seen[0] += n
            job.progress(None, min(0.99, seen[0] / size))
        try:
            r = s.ingest(dest, fmt, mapping=map_path, legal_basis=tags, on_read=on_read)
        finally:
            dest.unlink(missing_ok=True)
            if map_path:
                map_path.unlink(missing_ok=True)
            slot.rmdir()
        job.progress(f"read {r.read}, stored {r.stored}, quarantined {r.quarantined}")
        return {"source": r.source_id, "read": r.read, "stored": r.stored, "quarantined": r.quarantined,
                "link": "/"}

    job = ctx.st.jobs.submit("ingest", ctx.officer, ctx.web.case, f"ingest {safe} ({fmt})", work, ctx.command())
    return RedirectResponse(f"/jobs/{job.id}", 303)


def jobs(ctx: Ctx) -> Response:
    return ctx.render("jobs.html", jobs=ctx.st.jobs.of(ctx.officer, ctx.web.case))


def job(ctx: Ctx) -> Response:
    j = ctx.st.jobs.get(ctx.request.path_params["job"], ctx.officer)
    if j is None:
        return ctx.render("error.html", status=404, title="No such job", message="no such job of yours")
    if ctx.partial():
        return ctx.render("_job.html", j=j)
    return ctx.render("job.html", j=j)


def report(ctx: Ctx) -> Response:
    versions = []
    for printed in (False, True):
        p = _report_path(ctx.st, ctx.web.case, printed)
        versions.append({"printed": printed, "exists": p.exists(),
                         "written": _fmt_ts(p.stat().st_mtime) if p.exists() else None,
                         "query": "?version=print" if printed else ""})
    return ctx.render("report.html", versions=versions)


def report_view(ctx: Ctx) -> Response:
    """The case report as written by the last report job (``?version=print``: the print-ready
    one): reading it is a decided, recorded read."""
    printed = ctx.query.get("version") == "print"
    p = _report_path(ctx.st, ctx.web.case, printed)
    with ctx.session() as s:
        s.viewed("report", p.name)
    if not p.exists():
        return ctx.render("error.html", status=404, title="No report yet", message="write the report first")
    resp = HTMLResponse(p.read_text(encoding="utf-8"))
    resp.mt_csp = REPORT_CSP
    if ctx.query.get("download"):
        resp.headers["Content-Disposition"] = f'attachment; filename="{_download_name(ctx.web.case, printed)}"'
    return resp


# -- audit and registry --------------------------------------------------------------------------------

def audit(ctx: Ctx) -> Response:
    start = _int(ctx.query.get("start"), -1, -1, 2**40)
    with ctx.session() as s:
        head = s.audit_head()
        size = head["size"] if head else 0
        if start < 0:
            start = max(0, size - PAGE_SIZE)
        rep = s.audit_verify() if ctx.request.method == "POST" else None
        entries = s.audit_log(start, PAGE_SIZE)
        size = max(size, entries[-1]["seq"] + 1 if entries else 0)
    return ctx.render("audit.html", head=head, entries=entries, start=start, size=size, report=rep,
                      page=PAGE_SIZE)


def audit_prove(ctx: Ctx) -> Response:
    with ctx.session() as s:
        if ctx.query.get("old") is not None and ctx.query.get("new") is not None:
            proof = s.audit_consistency(_int(ctx.query.get("old"), 0, 0, 2**40), _int(ctx.query.get("new"), 0, 0, 2**40))
            name = "consistency"
        else:
            size = ctx.query.get("size")
            proof = s.audit_prove(_int(ctx.query.get("index"), 0, 0, 2**40),
                                  _int(size, 0, 0, 2**40) if size else None)
            name = "inclusion"
    resp = JSONResponse(json.loads(json.dumps(proof, default=str)))
    resp.headers["Content-Disposition"] = f'attachment; filename="audit-{name}-proof.json"'
    return resp


def registry(ctx: Ctx) -> Response:
    from moneytrail.authority import AccessDenied

    issued = None
    with ctx.session() as s:
        if ctx.request.method == "POST":
            op = ctx.form.get("op")
            if op == "revoke":
                s.revoke_grant(str(ctx.form.get("grant") or ""), str(ctx.form.get("reason") or ""))
            elif op == "activate":
                s.activate_grant(str(ctx.form.get("grant") or ""))
            elif op == "login_issue":
                issued = s.issue_login(str(ctx.form.get("officer") or ""))
            elif op == "login_remove":
                who = str(ctx.form.get("officer") or "")
                s.remove_login(who, str(ctx.form.get("reason") or ""))
                ctx.st.store.end_officer(who)
            else:
                raise ConfigError("unknown registry operation")
        view = s.registry()
        try:
            logs = s.logins()
        except AccessDenied:            # sign-ins are the registrars' (the denial is logged)
            logs = None
    return ctx.render("registry.html", v=view, logins=logs, issued=issued)


def healthz(ctx: Ctx) -> Response:
    return PlainTextResponse("ok")


def home(ctx: Ctx) -> Response:
    return dashboard(ctx)


def create_app(config: WebConfig, owner: Owner | None = None) -> Starlette:
    routes = [
        Route("/", endpoint(home)),
        Route("/healthz", endpoint(healthz, auth=False)),
        Route("/signin", endpoint(signin, auth=False), methods=["GET", "POST"]),
        Route("/signout", endpoint(signout, auth=False), methods=["POST"]),
        Route("/enrol", endpoint(enrol, auth=False), methods=["GET", "POST"]),
        Route("/enrol/totp", endpoint(enrol_totp, auth=False), methods=["GET", "POST"]),
        Route("/oidc/start", endpoint(oidc_start, auth=False)),
        Route("/oidc/callback", endpoint(oidc_callback, auth=False)),
        Route("/cases", endpoint(cases, case=False), methods=["GET", "POST"]),
        Route("/quarantine", endpoint(quarantine)),
        Route("/findings", endpoint(findings)),
        Route("/findings/{key}", endpoint(finding), methods=["GET", "POST"]),
        Route("/accounts/{account:path}", endpoint(account)),
        Route("/review", endpoint(review), methods=["GET", "POST"]),
        Route("/entities/{entity}", endpoint(entity_page)),
        Route("/transactions", endpoint(transactions)),
        Route("/graph", endpoint(graph_page)),
        Route("/api/graph", endpoint(graph_json)),
        Route("/trace", endpoint(trace_page), methods=["GET", "POST"]),
        Route("/trace/view/{job}", endpoint(trace_view)),
        Route("/ingest", endpoint(ingest), methods=["GET", "POST"]),
        Route("/run/{kind}", endpoint(run_job), methods=["POST"]),
        Route("/jobs", endpoint(jobs)),
        Route("/jobs/{job}", endpoint(job)),
        Route("/report", endpoint(report)),
        Route("/report/view", endpoint(report_view)),
        Route("/audit", endpoint(audit, case=False), methods=["GET", "POST"]),
        Route("/audit/proof", endpoint(audit_prove, case=False)),
        Route("/registry", endpoint(registry, case=False), methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware

    class Headers(BaseHTTPMiddleware):          # static files and 404s get the headers too
        async def dispatch(self, request: Request, call_next):
            resp = await call_next(request)
            return _headers(resp, request.app.state.mt, cache=request.url.path.startswith("/static/"))

    app = Starlette(routes=routes, middleware=[Middleware(Headers)])
    app.state.mt = AppState(config, owner)
    return app
