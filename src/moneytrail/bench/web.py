"""``moneytrail bench web``: the web app under load, on loopback.

``users`` officers (each registered, deputized by a grant approved and activated as usual, a
member of the case, with a local sign-in enrolled with password and TOTP) sign in over HTTP and
then browse for ``seconds``: each request picks, at random (seeded), one of

- the findings queue (a random page, sort and direction, sometimes a typology filter),
- a finding's page,
- an account's page (an account named by a finding),
- a graph's data (a finding's network or an account's neighbourhood, ``/api/graph``),
- the transactions of an account (htmx partial).

Between two pages an officer reads for ``think`` seconds on average (uniform from half to one
and a half times it; 0: no pause at all, the server's saturation). Latency is measured at the
client from request to full body; the server reports in its
``Server-Timing`` header how long the request's decisions (Cedar + their audit entries) and read
records took, and how many of each it made. At the end the audit log must hold exactly the
decisions and reads the server reported (nothing lost) and verify.

Workspaces: ``demo`` (the synthetic case of ``moneytrail demo``) or a folder in AMLSim's layout
(``--data``: ingested with ``--format amlsim`` and detected first). The load runs in this process
as an asyncio client against uvicorn in a thread: the two share the machine's cores, as a browser
and a server on one laptop would.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

PW = "bench password 0123456789"


def _workspace(kind: str, data: Path | None, root: Path, log) -> tuple[Path, str]:
    from moneytrail import Session
    from moneytrail.demo import DEMO_OFFICER, run_demo, setup_demo_authority
    from moneytrail.workspace import Workspace

    if data is None:
        r = run_demo(root / "demo")
        return Path(r["workspace"]), r["case"]
    ws_path = root / "amlsim.duckdb"
    ws = Workspace.open(ws_path)
    try:
        case = setup_demo_authority(ws, case="OP-LOAD")
    finally:
        ws.close()
    with Session.open(ws_path, officer=DEMO_OFFICER, case=case) as s:
        t0 = time.perf_counter()
        s.ingest(data, "amlsim")
        s.detect()
        log(f"ingested and detected {data} in {time.perf_counter() - t0:.1f} s")
    return ws_path, case


def _officers(ws_path: Path, case: str, n: int) -> list[tuple[str, str]]:
    """``n`` bench officers with active grants, case membership and enrolled sign-ins:
    ``[(officer, totp secret)]``."""
    import pyotp

    from moneytrail import Session
    from moneytrail.demo import DEMO_JURISDICTION, DEMO_OFFICER, DEMO_REGISTRAR, DEMO_SAC
    from moneytrail.web import logins

    today = _dt.datetime.now(_dt.timezone.utc).date()
    day = _dt.timedelta(days=1)
    ids = [f"bench-officer-{i:02d}" for i in range(n)]
    tf = {"officers": [{"id": o, "name": f"Load-test officer {o} (synthetic)", "agency": "STATE-FCU"} for o in ids],
          "grants": [{"id": f"G-{o}", "officer": o, "deputizing_official": DEMO_SAC, "deputizing_agency": "TF-LEAD",
                      "home_agency_consent": {"official": "Chief (synthetic)", "date": str(today - day)},
                      "statute": "8 U.S.C. 1103(a)(6)",
                      "functions": ["task-force-support", "human-trafficking-finance", "asset-seizure"],
                      "jurisdictions": [DEMO_JURISDICTION], "valid_from": str(today - day),
                      "valid_until": str(today + 30 * day),
                      "training": {"course": "Synthetic", "date": str(today - day), "expires": str(today + 30 * day)}}
                     for o in ids]}
    out = []
    with Session.open(ws_path, officer=DEMO_REGISTRAR) as reg, Session.open(ws_path, officer=DEMO_SAC) as sac, \
            Session.open(ws_path, officer=DEMO_OFFICER, case=case) as lead:
        reg.import_taskforce(tf)
        for o in ids:
            sac.approve_grant(f"G-{o}")
            reg.activate_grant(f"G-{o}")
            lead.add_member(case, o)
            code = reg.issue_login(o)["code"]
            p = logins.start_enrolment(reg._ws, o, code, PW)
            logins.finish_enrolment(reg._ws, o, code, p["password_hash"], p["totp_secret"],
                                    pyotp.TOTP(p["totp_secret"]).at(time.time() - 30))
            out.append((o, p["totp_secret"]))
    return out


_TIMING = re.compile(r'(\w+);dur=([\d.]+)(?:;desc="(\d+)[^"]*")?')


def _server_timing(h: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, dur, n in _TIMING.findall(h or ""):
        out[name] = float(dur) / 1000
        if n:
            out[name + "_n"] = int(n)
    return out


async def _user(base: str, officer: str, secret: str, targets: dict[str, list[str]], until: float,
                rng: random.Random, samples: list[dict[str, Any]], think: float = 0.0) -> None:
    import httpx
    import pyotp

    # the session cookie is Secure: browsers send it to http://127.0.0.1, httpx's jar does not, so
    # the client carries it by hand, as a browser would
    jar: dict[str, str] = {}

    def keep(r) -> None:
        for v in r.headers.get_list("set-cookie"):
            m = re.match(r"mt_session=([^;]*)", v)
            if m:
                jar["Cookie"] = f"mt_session={m.group(1)}"

    async with httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False) as c:
        r = await c.get("/signin")
        keep(r)
        token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        r = await c.post("/signin", headers=jar, data={"csrf": token, "officer": officer, "password": PW,
                                                       "code": pyotp.TOTP(secret).now()})
        keep(r)
        if r.status_code != 303:
            raise RuntimeError(f"{officer} could not sign in ({r.status_code})")
        sorts = ["score", "amount", "first", "last", "typology", "status"]
        while time.time() < until:
            if think:
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))     # reading the page
                if time.time() >= until:
                    break
            k = rng.random()
            if k < 0.30 or not targets["findings"]:
                kind = "findings_queue"
                url = f"/findings?sort={rng.choice(sorts)}&dir={rng.choice(['asc', 'desc'])}&page={rng.randint(1, 4)}"
                if rng.random() < 0.3 and targets["typologies"]:
                    url += f"&typology={rng.choice(targets['typologies'])}"
            elif k < 0.50:
                kind, url = "finding", f"/findings/{rng.choice(targets['findings'])}"
            elif k < 0.70:
                kind, url = "account", "/accounts/" + rng.choice(targets["accounts"])
            elif k < 0.90:
                kind = "graph"
                url = (f"/api/graph?finding={rng.choice(targets['findings'])}" if rng.random() < 0.5 else
                       "/api/graph?account=" + rng.choice(targets["accounts"]))
            else:
                kind = "transactions"
                url = "/transactions?account=" + rng.choice(targets["accounts"])
            headers = {**jar, "HX-Request": "true"} if kind == "transactions" else dict(jar)
            t0 = time.perf_counter()
            r = await c.get(url, headers=headers)
            _ = r.content
            dt = time.perf_counter() - t0
            samples.append({"kind": kind, "s": dt, "status": r.status_code, "url": url if r.status_code != 200 else None,
                            **_server_timing(r.headers.get("server-timing"))})


def _client(base: str, officers: list[tuple[str, str]], targets: dict[str, list[str]], seconds: float,
            seed: int, think: float, out) -> None:
    """The load: every officer's browsing, in a process of its own (so that the client's work
    does not share the server's interpreter); the samples are sent back through ``out``."""
    rng = random.Random(seed)
    samples: list[dict[str, Any]] = []

    async def main():
        until = time.time() + seconds
        await asyncio.gather(*[_user(base, o, sec, targets, until, random.Random(rng.random()), samples, think)
                               for o, sec in officers])

    try:
        asyncio.run(main())
        out.send({"samples": samples})
    except Exception as e:                       # noqa: BLE001 — said to the parent, which raises it
        out.send({"error": f"{type(e).__name__}: {e}"})
    finally:
        out.close()


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[i]


def bench_web(*, data: Path | None = None, users: int = 20, seconds: float = 60.0, seed: int = 0,
              think: float = 1.0, log=lambda m: None) -> dict[str, Any]:
    from urllib.parse import quote

    from moneytrail import Session
    from moneytrail.audit import AuditLog
    from moneytrail.web.app import WebConfig
    from moneytrail.web.server import Background

    with tempfile.TemporaryDirectory(prefix="mt-bench-web-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ws_path, case = _workspace("demo" if data is None else "amlsim", data, root, log)
        officers = _officers(ws_path, case, users)
        setup_s = time.perf_counter() - t0
        with Session.open(ws_path, officer="tf-analyst-1", case=case) as s:
            page = s.findings_page(limit=500)
            tx_total = s.transactions(limit=1)["total"]
        fkeys = [r["finding_key"] for r in page["rows"]]
        accounts = sorted({a for r in page["rows"] for a in r["accounts"]})
        targets = {"findings": fkeys, "accounts": [quote(a, safe="") for a in accounts],
                   "typologies": sorted({r["typology"] for r in page["rows"]})}
        log(f"{users} officers ready; {page['total']} findings, {len(accounts)} accounts named by them, "
            f"{tx_total} transactions; set-up {setup_s:.1f} s")
        with Background(WebConfig(ws_path, signin_backoff=False)) as bg:
            import multiprocessing as mp

            start_size = _log_size(bg)
            ctx = mp.get_context("spawn")
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_client, args=(bg.url, officers, targets, seconds, seed, think, send),
                               daemon=True)
            t1 = time.perf_counter()
            proc.start()
            send.close()
            got = recv.recv()
            proc.join(60)
            wall = time.perf_counter() - t1
            if "error" in got:
                raise RuntimeError(f"the load client failed: {got['error']}")
            samples = got["samples"]
            end_size = _log_size(bg)
            with bg.owner.lock:
                rep = AuditLog.of(bg.owner.ws).verify()
        ok = [x for x in samples if x["status"] == 200]
        errors = len(samples) - len(ok)
        reported = sum(x.get("authz_n", 0) + x.get("audit_n", 0) for x in samples)
        # each officer's sign-in adds one auth entry and one whoami decision (choosing the case)
        signin_entries = 2 * users
        per_kind = {}
        for kind in sorted({x["kind"] for x in samples}):
            xs = [x["s"] for x in ok if x["kind"] == kind]
            per_kind[kind] = {"requests": len(xs), "p50_ms": round(_pct(xs, .5) * 1000, 1),
                              "p99_ms": round(_pct(xs, .99) * 1000, 1)}
        lat = [x["s"] for x in ok]
        app = [x.get("app", 0.0) for x in ok]
        work = [x.get("app", 0.0) - x.get("wait", 0.0) for x in ok]
        authz = [x.get("authz", 0.0) + x.get("audit", 0.0) for x in ok]
        return {
            "workspace": "demo" if data is None else str(data), "users": users, "think_s": think,
            "seconds": round(wall, 1),
            "requests": len(samples), "errors": errors,
            "error_examples": sorted({f"{x['status']} {x['url']}" for x in samples if x["status"] != 200})[:10], "throughput_rps": round(len(samples) / wall, 1),
            "latency_ms": {"p50": round(_pct(lat, .5) * 1000, 1), "p90": round(_pct(lat, .9) * 1000, 1),
                           "p99": round(_pct(lat, .99) * 1000, 1), "max": round(max(lat) * 1000, 1) if lat else None},
            "per_page": per_kind,
            "server_ms": {"p50": round(_pct(app, .5) * 1000, 2), "p99": round(_pct(app, .99) * 1000, 2)},
            "server_work_ms": {"p50": round(_pct(work, .5) * 1000, 2), "p99": round(_pct(work, .99) * 1000, 2)},
            "authz_audit_ms": {"p50": round(_pct(authz, .5) * 1000, 2), "p99": round(_pct(authz, .99) * 1000, 2)},
            # of the time a page's handler worked (not counting the wait for a free page handle)
            "authz_audit_share_of_server_work": round(sum(authz) / sum(work), 3) if sum(work) else None,
            "decisions_and_reads_reported": reported, "audit_entries_added": end_size - start_size,
            "audit_entries_expected": reported + signin_entries, "audit_log_verifies": rep.ok,
            "findings": page["total"], "transactions": tx_total, "setup_s": round(setup_s, 1),
        }


def _log_size(bg) -> int:
    from moneytrail.audit import AuditLog

    with bg.owner.lock:
        h = AuditLog.of(bg.owner.ws).last_head()
    return h.size if h else 0
