"""The web app (moneytrail serve) through its HTTP interface: sign-in, sessions, CSRF, headers,
decisions and audit per request, triage that survives a re-run. The browser scenarios are in
test_web_browser.py; the OIDC provider these tests sign in with is tests/oidc_provider.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
import pytest
from starlette.testclient import TestClient

from moneytrail import Session
from moneytrail.web.app import WebConfig, create_app

PW = "correct horse battery staple"


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def audit_tail(ws, n=20):
    with Session.open(ws, officer="tf-registrar") as s:
        head = s.audit_head()
        return s.audit_log(max(0, head["size"] - n), n)


def enrol(c: TestClient, officer: str, code: str) -> str:
    r = c.get("/enrol")
    r = c.post("/enrol", data={"csrf": csrf(r.text), "officer": officer, "code": code, "password": PW,
                               "password2": PW})
    assert r.status_code == 200 and "totp-secret" in r.text, r.text[:400]
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', r.text).group(1)
    from moneytrail.web import logins
    r = c.post("/enrol/totp", data={"csrf": csrf(r.text), "totp": pyotp.TOTP(secret).at(logins.clock())})
    assert "Enrolled" in r.text
    return secret


_step = [0]


def next_code(secret: str) -> str:
    """A TOTP code of a time step no sign-in used yet (a code signs in once), with the server's
    TOTP clock moved to that step: the tests need not wait 30 s between sign-ins."""
    from moneytrail.web import logins

    t = pyotp.TOTP(secret)
    _step[0] = max(_step[0] + 1, int(time.time() // t.interval) + 1)
    at = _step[0] * t.interval + 1
    logins.clock = lambda: at
    return t.generate_otp(_step[0])


def sign_in(c: TestClient, officer: str, secret: str, password: str = PW):
    r = c.get("/signin")
    return c.post("/signin", data={"csrf": csrf(r.text), "officer": officer, "password": password,
                                   "code": next_code(secret)})


@pytest.fixture(scope="module", autouse=True)
def _real_totp_clock_after():
    from moneytrail.web import logins

    yield
    logins.clock = time.time


@pytest.fixture(scope="module")
def demo(demo_case):
    ws = demo_case.workspace          # this module's copy of the session's demo (conftest)
    with Session.open(ws, officer="tf-registrar") as s:
        s.add_officer("tf-auditor", "Auditor (synthetic)", "TF-LEAD", ["auditor"])
        codes = {o: s.issue_login(o)["code"] for o in ("tf-analyst-1", "tf-registrar", "tf-auditor")}
    app = create_app(WebConfig(Path(ws), signin_backoff=False))
    secrets_ = {}
    with TestClient(app, base_url="https://testserver") as c:
        for o, code in codes.items():
            secrets_[o] = enrol(c, o, code)
            c.cookies.clear()
    yield {"ws": ws, "app": app, "secrets": secrets_}
    app.state.mt.jobs.stop()
    app.state.mt.owner.close()


@pytest.fixture()
def client(demo):
    with TestClient(demo["app"], base_url="https://testserver") as c:
        yield c


def test_password_and_totp_sign_in_rotates_the_session_and_is_audited(demo, client):
    client.get("/signin")
    before = client.cookies.get("mt_session")
    r = sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    assert r.status_code == 200 and 'id="case-header"' in r.text and "OP-DEMO" in r.text
    assert client.cookies.get("mt_session") != before           # a new session id at sign-in
    kinds = [(e["kind"], e.get("event")) for e in audit_tail(demo["ws"], 30)]
    assert ("auth", "signin") in kinds
    r = client.post("/signout", data={"csrf": csrf(client.get("/").text)})
    assert "Signed out" in r.text
    assert ("auth", "signout") in [(e["kind"], e.get("event")) for e in audit_tail(demo["ws"], 10)]
    assert client.get("/findings", follow_redirects=False).status_code == 303


def test_cookie_flags_csp_and_headers(demo, client):
    r = client.get("/signin")
    cookie = r.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "frame-ancestors 'none'" in csp and r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text and " on" not in re.sub(r"<script src=[^>]+>", "", r.text).split("<body")[0]
    assert not re.search(r"<script>(?!</script>)", r.text)          # no inline script anywhere
    assert not re.search(r"\son[a-z]+=", r.text)                      # no inline event handlers


def test_wrong_password_locks_out_and_each_step_is_audited(demo, client):
    with Session.open(demo["ws"], officer="tf-registrar") as s:
        s.add_officer("tf-victim", "Victim (synthetic)", "TF-LEAD")
        code = s.issue_login("tf-victim")["code"]
    secret = enrol(client, "tf-victim", code)
    for i in range(5):
        r = sign_in(client, "tf-victim", secret, password="wrong password " + str(i))
        assert r.status_code == 401
    assert "locked" in r.text
    r = sign_in(client, "tf-victim", secret)                    # the right password, too late
    assert r.status_code == 401 and "locked" in r.text
    events = [e.get("event") for e in audit_tail(demo["ws"], 12) if e["kind"] == "auth"]
    assert events.count("signin_failed") >= 6 and "lockout" in events


def test_enrolment_code_is_single_use_and_secrets_are_not_stored_in_clear(demo, client):
    with Session.open(demo["ws"], officer="tf-registrar") as s:
        s.add_officer("tf-once", "Once (synthetic)", "TF-LEAD")
        code = s.issue_login("tf-once")["code"]
    secret = enrol(client, "tf-once", code)
    r = client.get("/enrol")
    r = client.post("/enrol", data={"csrf": csrf(r.text), "officer": "tf-once", "code": code, "password": PW,
                                    "password2": PW})
    assert r.status_code == 400 and "not valid" in r.text
    import duckdb
    raw = Path(demo["ws"]).read_bytes()
    assert secret.encode() not in raw and code.encode() not in raw and PW.encode() not in raw


def test_every_route_without_a_session_is_refused(demo, client):
    for route in demo["app"].routes:
        path = getattr(route, "path", "")
        if path.startswith("/static") or path in ("/signin", "/enrol", "/enrol/totp", "/healthz", "/oidc/start",
                                                   "/oidc/callback", "/signout"):
            continue
        url = path.replace("{key}", "F0000000000000000").replace("{account:path}", "X").replace(
            "{job}", "j").replace("{kind}", "detect")
        r = client.get(url, follow_redirects=False)
        if "GET" in route.methods:
            assert r.status_code == 303 and r.headers["location"].startswith("/signin"), url
        if "POST" in (route.methods or ()):
            t = csrf(client.get("/signin").text)
            r = client.post(url, data={"csrf": t}, follow_redirects=False)
            assert r.status_code in (401, 303) and "OP-DEMO" not in r.text, url


def test_every_post_without_a_csrf_token_is_refused(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    posts = [getattr(r, "path", "") for r in demo["app"].routes if "POST" in (getattr(r, "methods", None) or ())]
    assert len(posts) >= 8
    def analyst_entries():
        return [e for e in audit_tail(demo["ws"], 1000) if e.get("officer") == "tf-analyst-1"]

    n = len(analyst_entries())
    for path in posts:
        url = path.replace("{key}", "F0000000000000000").replace("{kind}", "detect")
        r = client.post(url, data={"status": "dismissed", "reason": "x"}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, url
        r = client.post(url, data={"csrf": "forged", "status": "dismissed"}, follow_redirects=False)
        assert r.status_code == 403, url
    assert len(analyst_entries()) == n                           # nothing was decided or done


def test_each_page_is_a_decision_and_a_read_in_the_audit_log(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    r = client.get("/findings?sort=amount")
    assert r.status_code == 200 and 'id="findings"' in r.text
    tail = audit_tail(demo["ws"], 4)
    dec = [e for e in tail if e["kind"] == "decision" and e["action"] == "findings"][-1]
    assert dec["officer"] == "tf-analyst-1" and dec["case"] == "OP-DEMO" and dec["allowed"]
    assert any(e["kind"] == "read" and e.get("action") == "findings" for e in tail)


def test_triage_survives_a_rerun_and_the_report_shows_it(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    key = re.search(r"/findings/(F[0-9a-f]{16})", client.get("/findings?sort=amount").text).group(1)
    page = client.get(f"/findings/{key}")
    r = client.post(f"/findings/{key}", data={"csrf": csrf(page.text), "status": "confirmed"})
    assert r.status_code == 400 and "needs a reason" in r.text
    r = client.post(f"/findings/{key}", data={"csrf": csrf(page.text), "status": "confirmed",
                                             "reason": "funds leave within two days", "note": "seen"})
    assert 'id="triage-status">confirmed' in r.text
    r = client.post("/run/detect", data={"csrf": csrf(page.text)})
    assert demo["app"].state.mt.jobs.wait_idle(180)
    assert 'id="job-state">done' in client.get(str(r.url)).text
    r = client.get(f"/findings/{key}")                           # the same key after the re-run
    assert r.status_code == 200 and 'id="triage-status">confirmed' in r.text
    assert "funds leave within two days" in r.text
    r = client.get("/findings?status=confirmed")
    assert key in r.text and "1 finding;" in r.text


def test_a_revoked_grant_refuses_the_next_request(fresh_demo_case):
    ws = fresh_demo_case.workspace
    with Session.open(ws, officer="tf-registrar") as s:
        code = s.issue_login("tf-analyst-1")["code"]
    app = create_app(WebConfig(Path(ws), signin_backoff=False))
    try:
        with TestClient(app, base_url="https://testserver") as c, \
                TestClient(app, base_url="https://testserver") as reg:
            secret = enrol(c, "tf-analyst-1", code)
            assert sign_in(c, "tf-analyst-1", secret).status_code == 200
            assert c.get("/findings").status_code == 200
            with app.state.mt.owner.session("tf-registrar", None, ("test",)) as s:
                s.revoke_grant("G-DEMO-1", "left the task force")
            r = c.get("/findings")
            assert r.status_code == 403 and "revoked" in r.text
            with app.state.mt.owner.session("tf-registrar", None, ("test",)) as s:
                s.remove_login("tf-analyst-1", "left the task force")
            r = c.get("/findings", follow_redirects=False)
            assert r.status_code == 303 and "removed" in r.headers["location"]
    finally:
        app.state.mt.jobs.stop()
        app.state.mt.owner.close()


def test_idle_timeout_ends_the_session(demo):
    app = create_app(WebConfig(Path(demo["ws"]), signin_backoff=False), owner=demo["app"].state.mt.owner)
    clock = [time.time()]
    app.state.mt.store.clock = lambda: clock[0]
    try:
        with TestClient(app, base_url="https://testserver") as c:
            assert sign_in(c, "tf-analyst-1", demo["secrets"]["tf-analyst-1"]).status_code == 200
            clock[0] += 14 * 60
            assert c.get("/findings").status_code == 200
            clock[0] += 16 * 60
            r = c.get("/findings", follow_redirects=False)
            assert r.status_code == 303 and "expired" in r.headers["location"]
    finally:
        app.state.mt.jobs.stop()
    assert any(e.get("event") == "session_expired" for e in audit_tail(demo["ws"], 10))


def test_script_in_data_renders_as_text(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    r = client.get("/transactions?ref=%3Cscript%3Ealert(1)%3C/script%3E")
    assert r.status_code == 200 and "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)" in r.text
    r = client.get("/accounts/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert "<img src=x" not in r.text


def test_a_served_workspace_refuses_the_cli_naming_the_address(demo):
    from moneytrail.workspace import serving_marker

    m = serving_marker(demo["ws"])
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        m.write_text(json.dumps({"address": "https://127.0.0.1:8443", "pid": helper.pid}))
        r = subprocess.run([sys.executable, "-m", "moneytrail.cli.main", "findings", "--as", "tf-analyst-1",
                            "--workspace", str(demo["ws"])], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert r.stderr.strip().count("\n") == 0 and "served by moneytrail serve at https://127.0.0.1:8443" in r.stderr
    finally:
        helper.kill()
        helper.wait()
        m.unlink()


def test_oidc_sign_in_against_a_real_provider(demo):
    from oidc_provider import start_provider

    from moneytrail.web.oidc import OIDCConfig

    prov = start_provider()
    try:
        prov.add_client("moneytrail", "client-secret-1", ["https://testserver/oidc/callback"])
        prov.add_user("ana", "idp-password", {"sub": "u-ana", "moneytrail_officer": "tf-analyst-1"})
        prov.add_user("mallory", "idp-password", {"sub": "u-mal", "moneytrail_officer": "not-an-officer"})
        cfg = WebConfig(Path(demo["ws"]), oidc=OIDCConfig(prov.issuer, "moneytrail", "client-secret-1"))
        app = create_app(cfg, owner=demo["app"].state.mt.owner)

        def via_provider(c, user):
            r = c.get("/oidc/start", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith(prov.issuer)
            with httpx.Client() as idp:
                form = idp.get(r.headers["location"])
                assert 'name="password"' in form.text
                back = idp.post(r.headers["location"], data={"username": user, "password": "idp-password"})
            assert back.status_code == 302
            cb = back.headers["location"]
            assert cb.startswith("https://testserver/oidc/callback?")
            return c.get(cb[len("https://testserver"):])

        try:
            with TestClient(app, base_url="https://testserver") as c:
                assert 'id="oidc-signin"' in c.get("/signin").text
                r = via_provider(c, "ana")
                assert r.status_code == 200 and 'id="who-officer">tf-analyst-1' in r.text
                r = c.get(f"/oidc/callback?code=x&state=forged")           # a replayed or forged callback
                assert r.status_code in (200, 401)
            with TestClient(app, base_url="https://testserver") as c:
                r = via_provider(c, "mallory")
                assert r.status_code == 401 and "not in this workspace" in r.text
        finally:
            app.state.mt.jobs.stop()
        events = [(e.get("event"), e.get("method")) for e in audit_tail(demo["ws"], 40) if e["kind"] == "auth"]
        assert ("signin", "oidc") in events and ("signin_failed", "oidc") in events
    finally:
        prov.stop()


def test_a_trace_from_a_finding_runs_as_a_job_with_its_rules_and_sankey(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    key = re.search(r"/findings/(F[0-9a-f]{16})", client.get("/findings?typology=cycle").text).group(1)
    page = client.get(f"/trace?finding={key}")
    assert f'value="{key}"' in page.text
    r = client.post("/trace", data={"csrf": csrf(page.text), "finding": key, "rule_libr": "1", "rule_fifo": "1",
                                    "direction": "forward"})
    assert demo["app"].state.mt.jobs.wait_idle(180)
    job = client.get(str(r.url)).text
    assert 'id="job-state">done' in job and "rule libr" in job and "rule fifo" in job
    link = re.search(r'href="(/trace/view/[^"]+)" id="job-next"', job).group(1)
    view = client.get(link)
    assert view.status_code == 200 and "<svg" in view.text and "sandbox" in view.headers["content-security-policy"]
    other = TestClient(demo["app"], base_url="https://testserver")
    assert other.get(link, follow_redirects=False).status_code == 303     # not signed in: nothing
    # the same at entity level: each resolved party's accounts one pool
    page = client.get(f"/trace?finding={key}")
    assert 'name="level"' in page.text
    r = client.post("/trace", data={"csrf": csrf(page.text), "finding": key, "rule_libr": "1",
                                    "direction": "forward", "level": "entity"})
    assert demo["app"].state.mt.jobs.wait_idle(180)
    job = client.get(str(r.url)).text
    assert 'id="job-state">done' in job and "entity level" in job
    view = client.get(re.search(r'href="(/trace/view/[^"]+)" id="job-next"', job).group(1))
    assert view.status_code == 200 and "Level <b>entity</b>" in view.text


def test_pages_answer_while_a_long_job_runs(demo, client):
    import threading

    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    started, release = threading.Event(), threading.Event()

    def long_work(s, job):
        s.findings_page(limit=1)              # the job's own connection, decided and recorded
        started.set()
        assert release.wait(60)
        return {}

    jobs = demo["app"].state.mt.jobs
    j = jobs.submit("test", "tf-analyst-1", "OP-DEMO", "a long job", long_work, ("test",))
    try:
        assert started.wait(60)
        t0 = time.perf_counter()
        r = client.get("/findings")
        assert r.status_code == 200 and j.state == "running"
        assert time.perf_counter() - t0 < 30
    finally:
        release.set()
    assert jobs.wait_idle(60) and j.state == "done"


def test_absolute_lifetime_ends_a_busy_session(demo):
    app = create_app(WebConfig(Path(demo["ws"]), signin_backoff=False, lifetime_hours=1),
                     owner=demo["app"].state.mt.owner)
    clock = [time.time()]
    app.state.mt.store.clock = lambda: clock[0]
    try:
        with TestClient(app, base_url="https://testserver") as c:
            assert sign_in(c, "tf-analyst-1", demo["secrets"]["tf-analyst-1"]).status_code == 200
            for _ in range(6):                     # busy: a request every 10 minutes
                clock[0] += 10 * 60
                assert c.get("/findings", follow_redirects=False).status_code == 200
            clock[0] += 10 * 60                    # 70 minutes after sign-in
            assert c.get("/findings", follow_redirects=False).status_code == 303
    finally:
        app.state.mt.jobs.stop()


def test_https_with_a_certificate_and_plain_http_only_on_loopback(demo, tmp_path):
    import datetime as dt
    import threading

    import uvicorn
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from moneytrail.errors import ConfigError
    from moneytrail.web.server import check_transport, free_port, uvicorn_config

    with pytest.raises(ConfigError, match="TLS"):
        check_transport("0.0.0.0", None, None, False)
    assert check_transport("127.0.0.1", None, None, False) == "http"
    assert check_transport("0.0.0.0", None, None, True) == "http"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cp, kp = tmp_path / "cert.pem", tmp_path / "key.pem"
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    assert check_transport("0.0.0.0", cp, kp, False) == "https"
    app = create_app(WebConfig(Path(demo["ws"]), hsts=True), owner=demo["app"].state.mt.owner)
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, tls_cert=cp, tls_key=kp, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        end = time.time() + 20
        while not server.started and time.time() < end:
            time.sleep(0.02)
        import ssl
        r = httpx.get(f"https://127.0.0.1:{port}/signin", verify=ssl.create_default_context(cafile=str(cp)))
        assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
        assert r.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/signin", timeout=5)       # no plain HTTP on the TLS port
    finally:
        server.should_exit = True
        t.join(10)
        app.state.mt.jobs.stop()


def test_a_finding_a_rerun_no_longer_finds_is_superseded_with_its_triage(fresh_demo_case):
    ws = fresh_demo_case.workspace
    with Session.open(ws, officer="tf-analyst-1", case="OP-DEMO") as s:
        before = s.findings_page(typologies=["fan_in"], limit=1000)["rows"]
        assert len(before) >= 3
        keys = [r["finding_key"] for r in before]
        s.triage(keys[-1], status="dismissed", reason="ordinary payroll account")
        s.detect(["fan_in"])                                     # the same run again: the same keys
        assert [r["finding_key"] for r in s.findings_page(typologies=["fan_in"], limit=1000)["rows"]] == keys
        s.detect(["fan_in"], {"fan_in": {"min_counterparties": 1000, "long_min_counterparties": 0}})  # nothing qualifies
        assert s.findings_page(typologies=["fan_in"], limit=1000)["total"] == 0
        gone = s.finding(keys[-1])
        assert gone["superseded"] is not None and gone["triage"]["status"] == "dismissed"
        assert gone["finding"].key == keys[-1] and gone["finding"].tx_ids
        assert s.finding(keys[0])["superseded"] is not None


def test_sign_ins_are_shown_to_registrars_only(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    r = client.get("/registry")
    assert r.status_code == 200 and 'id="sign-ins-hidden"' in r.text and "G-DEMO-1" in r.text
    denied = [e for e in audit_tail(demo["ws"], 8) if e["kind"] == "decision" and not e["allowed"]]
    assert denied and "sign-ins-are-the-registrars" in denied[-1]["policies"]
    with Session.open(demo["ws"], officer="tf-registrar") as s:     # (the demo fixture's server is idle)
        assert {r["officer_id"] for r in s.logins()} >= {"tf-analyst-1", "tf-registrar"}


def test_an_uploaded_statement_is_ingested_by_a_job_with_its_row_accounting(demo, client, tmp_path):
    inputs = Path(demo["ws"]).parent / "inputs"
    lines = (inputs / "hcb_statement.csv").read_text(encoding="utf-8").splitlines()
    small = "\n".join(lines[:41] + ["HCB-101817,Broken Row,not a date,,HCBX,ZELLE RECEIVED,x,,,,,,5.00"]) + "\n"
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    page = client.get("/ingest")
    r = client.post("/ingest", data={"csrf": csrf(page.text), "format": "csv", "legal_basis": "subpoena"},
                    files={"file": ("hcb statement (Jan).csv", small.encode(), "text/csv"),
                           "mapping": ("hcb.yaml", (inputs / "hcb_statement.yaml").read_bytes(), "application/yaml")})
    assert r.status_code == 200 and "/jobs/" in str(r.url)
    assert demo["app"].state.mt.jobs.wait_idle(120)
    job = client.get(str(r.url)).text
    assert 'id="job-state">done' in job, job[-2000:]
    assert re.search(r"<dt>read</dt><dd>41</dd>", job) and re.search(r"<dt>quarantined</dt><dd>1</dd>", job)
    dash = client.get("/").text
    assert "hcb_statement__Jan_.csv" in dash                     # its name, made safe, not a temporary one
    uploads = Path(demo["ws"]).with_name(Path(demo["ws"]).stem + ".uploads")
    assert not any(uploads.iterdir())                              # the upload is gone; the evidence copy stays


def test_guessing_enrolment_codes_is_throttled_per_address(demo):
    """Enrolment codes are guessed no faster than passwords: after 30 failures from one address in
    15 minutes, that address is refused (429) even with the right code, and it is audited."""
    with Session.open(demo["ws"], officer="tf-registrar") as s:
        s.add_officer("tf-guessed", "Guessed (synthetic)", "TF-LEAD")
        code = s.issue_login("tf-guessed")["code"]
    with TestClient(demo["app"], base_url="https://testserver", client=("198.51.100.7", 5000)) as c:
        for i in range(30):
            r = c.get("/enrol")
            r = c.post("/enrol", data={"csrf": csrf(r.text), "officer": "tf-guessed", "code": f"guess-{i}",
                                       "password": PW, "password2": PW})
            assert r.status_code == 400
        r = c.get("/enrol")
        r = c.post("/enrol", data={"csrf": csrf(r.text), "officer": "tf-guessed", "code": code, "password": PW,
                                   "password2": PW})
        assert r.status_code == 429 and "too many failed attempts" in r.text
    tail = [e for e in audit_tail(demo["ws"], 5) if e["kind"] == "auth"]
    assert tail and tail[-1]["event"] == "signin_failed" and tail[-1].get("reason") == "client throttled"
    with TestClient(demo["app"], base_url="https://testserver") as c:   # another address enrols
        enrol(c, "tf-guessed", code)


def test_the_print_ready_report_is_written_by_a_job_and_downloads_under_a_safe_name(demo, client):
    from moneytrail.web.app import _download_name

    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    page = client.get("/report")
    r = client.post("/run/report-print", data={"csrf": csrf(page.text)})
    assert demo["app"].state.mt.jobs.wait_idle(180)
    assert 'id="job-state">done' in client.get(str(r.url)).text
    r = client.get("/report/view?version=print")
    assert r.status_code == 200 and 'class="print-ready"' in r.text and 'id="case-header"' in r.text
    assert "Rule 6(e) disclosure list" in r.text and "Appendix A" in r.text
    r = client.get("/report/view?version=print&download=1")
    assert r.headers["content-disposition"] == 'attachment; filename="OP-DEMO-report-print.html"'
    assert 'id="view-report-print"' in client.get("/report").text
    assert _download_name('x"; filename=evil.exe\r\nSet-Cookie: a=b', False) == \
        "x___filename_evil.exe__Set-Cookie__a_b-report.html"
    assert _download_name("../..", True) == "_..-report-print.html"


def test_the_review_queue_decides_a_pair_and_the_entity_page_shows_it(demo, client):
    sign_in(client, "tf-analyst-1", demo["secrets"]["tf-analyst-1"])
    page = client.get("/review")
    assert page.status_code == 200
    client.post("/run/resolve", data={"csrf": csrf(page.text)})   # a job (the demo's detect resolved already)
    assert demo["app"].state.mt.jobs.wait_idle(180)
    page = client.get("/review?status=review")
    assert page.status_code == 200 and 'id="pairs"' in page.text
    pairs = re.findall(r'name="left" value="(P[0-9a-f]{16})"><input type="hidden" name="right" value="(P[0-9a-f]{16})"',
                       page.text)
    if not pairs:                                        # nothing uncertain: decide a merged pair instead
        merged = client.get("/review?status=merged").text
        keys = re.findall(r'<span class="mono">(P[0-9a-f]{16})</span>', merged)[:2]
        assert len(keys) == 2
        pairs = [tuple(keys)]
    left, right = pairs[0]
    r = client.post("/review?status=review", data={"csrf": csrf(page.text), "left": left, "right": right,
                                                   "decision": "different", "reason": "different people: web test"})
    assert r.status_code == 200                           # redirected back to the queue
    client.post("/run/resolve", data={"csrf": csrf(page.text)})
    assert demo["app"].state.mt.jobs.wait_idle(180)
    rejected = client.get("/review?status=rejected").text
    assert left in rejected and right in rejected and "different people: web test" in rejected
    # a decision without a reason is refused
    r = client.post("/review", data={"csrf": csrf(page.text), "left": left, "right": right, "decision": "same",
                                     "reason": ""})
    assert r.status_code >= 400 and "reason" in r.text
    # the entity page of an account, reached from the account page
    acct = client.get("/accounts/" + re.search(r'href="/accounts/([^"]+)"', rejected).group(1)).text
    ent = re.search(r'href="/entities/(E[0-9a-f]{12})"', acct)
    assert ent, "the account page names the holder's entity"
    e = client.get(f"/entities/{ent.group(1)}")
    assert e.status_code == 200 and 'id="records"' in e.text
