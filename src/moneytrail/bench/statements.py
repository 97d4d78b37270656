"""``moneytrail bench statements``: ingest speed and memory of the bank statement formats.

Protocol:

1. Generate, in a temporary folder, one file per requested size in the format (``camt``,
   ``mt940``, ``bai2``, ``ofx``) with that format's own writer
   (:mod:`moneytrail.ingest.formats`): ``entries`` entries over statements of
   ``per_statement`` entries each, accounts, counterparties, amounts, dates, references and
   remittance texts drawn from a seeded generator (nothing in it is tuned to any dataset). Each
   statement's opening and closing balances agree with its entries.
2. ``runs`` times per size, each in a fresh interpreter (so the peak RSS is that run's own):
   * moneytrail: ``ingest_file`` of the file into a fresh workspace (the time of
     ``ingest_file`` only);
   * the parse floor (``--peer``): the same reader's records iterated and dropped, no checks,
     no storing: what reading the format costs before moneytrail does anything with it.
3. Report per size and side the median, min and max seconds, entries/s at the median, the
   median peak RSS, and the ratio of the medians (ingest / parse). Memory that does not grow
   with the file shows as the same peak RSS at every size. The ingest runs with DuckDB's memory
   cap at ``memory_limit`` (default 512MB, ``$MONEYTRAIL_MEMORY_LIMIT`` as a user would set it):
   DuckDB caches the table it writes up to its cap (40 % of RAM by default), which would
   otherwise show as RSS growing with the file though nothing in moneytrail holds it.
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

FORMATS = ("camt", "mt940", "bai2", "ofx")
WORDS = ("INVOICE", "RENT", "PAYROLL", "CONSULTING", "SUPPLIES", "TRANSFER", "REFUND", "LOAN", "FEES", "SERVICES")
NAMES = ("ACME TRADING", "NORTHWIND LTD", "CONTOSO GMBH", "FABRIKAM INC", "TAILSPIN LLC", "WOODGROVE BANK",
         "LITWARE SA", "ADVENTURE WORKS", "PROSEWARE", "BLUE YONDER")


def _iban(r: random.Random) -> str:
    """A syntactically valid German IBAN (check digits computed), random account."""
    bban = f"{r.randrange(10**7, 10**8)}{r.randrange(10**9, 10**10)}"
    num = int("".join(str(int(c, 36)) for c in bban + "DE00"))
    return f"DE{98 - num % 97:02d}{bban}"


KIND = {"camt": "camt.053", "mt940": "mt940", "bai2": "bai2", "ofx": "ofx"}


def records(entries: int, per_statement: int = 1000, *, seed: int = 1, currency: str = "EUR",
            kind: str = "camt.053") -> Iterator[Any]:
    """Statements and entries for the benchmark files (see the module's docstring)."""
    from moneytrail.ingest.statement import CREDIT, DEBIT, Balance, Entry, Statement

    r = random.Random(seed)
    n_stmt = max(1, -(-entries // per_statement))
    day0 = _dt.date(2024, 1, 1)
    left = entries
    for s in range(n_stmt):
        n = min(per_statement, left)
        left -= n
        acct = _iban(r)
        opening = r.randrange(0, 10**7)            # cents
        moves = []
        for i in range(n):
            cents = r.randrange(100, 5 * 10**6)
            credit = r.random() < 0.5
            moves.append((cents, credit))
        closing = opening + sum(c if cr else -c for c, cr in moves)
        start = day0 + _dt.timedelta(days=(s * 7) % 700)
        end = start + _dt.timedelta(days=6)
        yield Statement(position=f"statement {s + 1}", kind=kind, account=acct, currency=currency,
                        holder_name=r.choice(NAMES), bank_id="COBADEFFXXX", statement_id=f"S{s + 1:07d}",
                        sequence=str(s + 1), period_from=start.isoformat(), period_to=end.isoformat(),
                        opening_booked=Balance(f"{abs(opening) / 100:.2f}", start.isoformat(), negative=opening < 0),
                        closing_booked=Balance(f"{abs(closing) / 100:.2f}", end.isoformat(), negative=closing < 0))
        for i, (cents, credit) in enumerate(moves):
            day = start + _dt.timedelta(days=min(6, i * 7 // max(n, 1)))
            yield Entry(position="", amount=f"{cents / 100:.2f}", direction=CREDIT if credit else DEBIT,
                        booking_date=day.isoformat(), value_date=day.isoformat(), currency=currency,
                        counterparty_name=r.choice(NAMES), counterparty_account=_iban(r),
                        counterparty_bank="DEUTDEFFXXX", end_to_end_id=f"E2E{s:05d}{i:06d}",
                        bank_reference=f"B{s:05d}{i:06d}", customer_reference=f"C{i:06d}",
                        remittance=f"{r.choice(WORDS)} {r.randrange(10**5)}", tx_code=None, channel="transfer")


def write_file(fmt: str, path: Path, entries: int, per_statement: int, seed: int) -> int:
    import importlib

    mod = importlib.import_module(f"moneytrail.ingest.formats.{fmt}")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        mod.write(records(entries, per_statement, seed=seed, kind=KIND[fmt]), fh)
    return path.stat().st_size


_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
side, fmt, path, ws_path = sys.argv[1:5]
if side == "ingest":
    from moneytrail.ingest import ingest_file
    from moneytrail.workspace import Workspace
    ws = Workspace.open(Path(ws_path))
    t0 = time.perf_counter()
    res = ingest_file(ws, Path(path), fmt)
    sec = time.perf_counter() - t0
    out = {"read": res.read, "stored": res.stored, "quarantined": res.quarantined}
    ws.close()
else:
    import importlib
    mod = importlib.import_module("moneytrail.ingest.formats." + fmt)
    t0 = time.perf_counter()
    n = sum(1 for r in mod.read(Path(path)) if type(r).__name__ == "Entry")
    sec = time.perf_counter() - t0
    out = {"entries": n}
out.update(seconds=sec, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def _child(side: str, fmt: str, path: Path, ws_path: Path, timeout_s: float,
           memory_limit: str | None = None) -> dict[str, Any]:
    import os

    env = dict(os.environ)
    if memory_limit:
        env["MONEYTRAIL_MEMORY_LIMIT"] = memory_limit
    try:
        p = subprocess.run([sys.executable, "-c", _CHILD, side, fmt, str(path), str(ws_path)],
                           capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"not finished within {timeout_s:.0f} s"}
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _summary(xs: list[dict[str, Any]], entries: int) -> dict[str, Any]:
    ok = [x for x in xs if "seconds" in x]
    if not ok:
        return {"error": xs[0].get("error") if xs else "no runs"}
    secs = [x["seconds"] for x in ok]
    med = statistics.median(secs)
    return {"median_s": round(med, 3), "min_s": round(min(secs), 3), "max_s": round(max(secs), 3),
            "entries_per_s": round(entries / med) if med else None,
            "peak_rss_mib": round(statistics.median(x["peak_rss_mib"] for x in ok), 1), "runs": len(ok),
            **({"read": ok[0]["read"], "stored": ok[0]["stored"], "quarantined": ok[0]["quarantined"]}
               if "read" in ok[0] else {})}


def bench(fmt: str, sizes: list[int], *, runs: int = 3, per_statement: int = 1000, seed: int = 1,
          peer: bool = True, workdir: Path | None = None, timeout_s: float = 1800,
          memory_limit: str | None = "512MB") -> dict[str, Any]:
    if fmt not in FORMATS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out: dict[str, Any] = {"format": fmt, "per_statement": per_statement, "seed": seed, "runs": runs,
                           "duckdb_memory_limit": memory_limit, "sizes": {}}
    with tempfile.TemporaryDirectory(dir=workdir, prefix="mt-bench-stmt-") as d:
        for n in sizes:
            path = Path(d) / f"bench-{n}.{fmt}"
            t0 = time.perf_counter()
            size = write_file(fmt, path, n, per_statement, seed)
            gen = time.perf_counter() - t0
            ing, parse = [], []
            for k in range(runs):
                ws_path = Path(d) / f"ws-{n}-{k}.duckdb"
                ing.append(_child("ingest", fmt, path, ws_path, timeout_s, memory_limit))
                for suffix in ("", ".wal"):
                    Path(str(ws_path) + suffix).unlink(missing_ok=True)
                if peer:
                    parse.append(_child("parse", fmt, path, ws_path, timeout_s))
            row = {"entries": n, "bytes": size, "generate_s": round(gen, 1), "ingest": _summary(ing, n)}
            if peer:
                row["parse_only"] = _summary(parse, n)
                a, b = row["ingest"].get("median_s"), row["parse_only"].get("median_s")
                row["ratio_ingest_to_parse"] = round(a / b, 2) if a and b else None
            out["sizes"][str(n)] = row
    return out


__all__ = ["FORMATS", "bench", "records", "write_file"]
