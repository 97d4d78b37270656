"""``moneytrail bench ingest``: ingest time against the number of rows and columns, with a peer.

Protocol:

1. Generate, in a temporary folder, a transfers CSV of ``rows`` data rows and ``columns``
   columns: the five mapped ones (``date`` first, ``amount`` in the middle, ``payer`` and
   ``payee`` near the end, ``memo`` last, so a reader must go through every column) and
   filler columns in between. One row in ``bad_every`` has an amount that is not a number,
   so the quarantine path (which keeps the raw row as read) is measured too.
2. ``runs`` times, alternating, each in a fresh interpreter (so peak RSS is that run's own):
   * moneytrail: ``ingest_file`` of that file into a fresh workspace (the time of
     ``ingest_file`` only: the open of the empty workspace is not counted);
   * the peer, DuckDB's own CSV reader on the same file, plain:
     ``CREATE TABLE t AS SELECT * FROM read_csv(FILE, header = true, all_varchar = true)``
     into a fresh DuckDB file with the same memory limit (it parses and stores every column as
     text; it checks nothing and keeps no provenance);
   * with ``mapped_peer``, also the same read keeping only the five mapped columns
     (``SELECT date, amount, payer, payee, memo FROM read_csv(...)``), which is what
     moneytrail keeps;
   * with ``typed_peer``, the floor: DuckDB alone storing the same rows typed, with their
     record numbers, into a table of the ``transactions`` shape in one statement, checking
     nothing (:func:`_typed_store`): what any ingest that stores typed rows in DuckDB pays.
3. Report per side the median, min and max seconds, rows/s at the median, the median peak
   RSS, and the ratio of the medians (moneytrail / DuckDB).
3a. With ``xlsx`` (the default, when there is a peer): the same rows written as a workbook
   (``write_xlsx_from_csv``: date cells, number cells, the bad amounts as text), then ``runs``
   times, alternating, each in a fresh interpreter: moneytrail's ``ingest_file(..., "xlsx")``
   under the same mapping, and the peer, python-calamine reading the sheet's cells into Python
   alone (``get_sheet_by_index(0).to_python()``); reported under ``xlsx`` as above, with the
   ratio of the medians (moneytrail / calamine).
4. After each moneytrail run, in the same interpreter: the cost of opening the workspace it
   wrote (``Workspace.open`` + ``close``, which migrates and runs
   ``recover_interrupted``) against a plain ``duckdb.connect`` + ``close`` of the same file,
   each the median of ``OPENS`` alternating opens, and what ``recover_interrupted`` alone
   costs when there is nothing to recover (median of ``10 * OPENS`` calls); reported as the
   median over the runs. A run that goes past
   ``timeout_s`` is reported as not finished; a file moneytrail refuses as a whole (a header
   wider than :data:`moneytrail.limits.MAX_COLUMNS`) is reported with the refusal line and
   the time to it.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAPPED = ("date", "amount", "payer", "payee", "memo")
MAPPING = {"currency": "USD", "date": "date", "amount": {"column": "amount"}, "thousands": "",
           "payer": {"account": "payer"}, "payee": {"account": "payee"}, "description": "memo"}


def write_wide_csv(path: Path, rows: int, columns: int, *, seed: int = 1, bad_every: int = 100) -> dict[str, Any]:
    """Write the benchmark file; returns its shape (rows, columns, bytes, rows meant to be quarantined)."""
    if columns < len(MAPPED):
        raise ValueError(f"--columns must be at least {len(MAPPED)} (the mapped columns)")
    n_fill = columns - len(MAPPED)
    # positions: date first, amount in the middle, payer and payee near the end, memo last
    mid = 1 + n_fill // 2
    names = ["date"] + [f"f{i}" for i in range(n_fill // 2)] + ["amount"] + \
            [f"f{i}" for i in range(n_fill // 2, n_fill)] + ["payer", "payee", "memo"]
    assert len(names) == columns and names[mid] == "amount"
    rng = random.Random(seed)
    # a few filler rows, reused in turn (the values differ between rows, the cost is the same)
    left_n, right_n = n_fill // 2, n_fill - n_fill // 2

    def filler(n: int) -> list[str]:
        return [",".join(f"v{rng.randrange(100000)}" for _ in range(n)) for _ in range(7)]

    lefts, rights = filler(left_n), filler(right_n)
    bad = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(names) + "\n")
        buf = []
        for i in range(1, rows + 1):
            amount = f"x{i}" if bad_every and i % bad_every == 0 else f"{rng.randrange(1, 10**6)}.{i % 100:02d}"
            bad += amount.startswith("x")
            parts = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"]
            if left_n:
                parts.append(lefts[i % 7])
            parts.append(amount)
            if right_n:
                parts.append(rights[i % 7])
            parts += [f"A{rng.randrange(5000)}", f"B{rng.randrange(5000)}", f"memo {i}"]
            buf.append(",".join(parts))
            if len(buf) >= 1000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")
    return {"rows": rows, "columns": columns, "bytes": path.stat().st_size, "bad_rows": bad}


_XLSX_EPOCH = 693594   # date(1899, 12, 30).toordinal(): Excel's day 0


def write_xlsx_from_csv(csv_path: Path, path: Path) -> dict[str, Any]:
    """The benchmark file as a workbook (one sheet, written by hand as the tests' helper does):
    ``date`` as a date cell (Excel's day number, a date style), ``amount`` as a number cell
    where it is one (the rows meant for quarantine keep their text), every other cell a string."""
    import csv as _csv
    import datetime as dt
    import zipfile
    from xml.sax.saxutils import escape

    def col(i: int) -> str:
        s, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(65 + r) + s
        return s

    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    ns_r = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    with open(csv_path, newline="", encoding="utf-8") as f, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        rows = _csv.reader(f)
        header = next(rows)
        refs = [col(j) for j in range(len(header))]
        di, ai = header.index("date"), header.index("amount")
        with z.open("xl/worksheets/sheet1.xml", "w") as w:
            w.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{ns}"><sheetData>'
                    .encode())
            w.write(('<row r="1">' + "".join(f'<c r="{refs[j]}1" t="inlineStr"><is><t>{escape(h)}</t></is></c>'
                                             for j, h in enumerate(header)) + "</row>").encode())
            buf = []
            for r, row in enumerate(rows, 2):
                cells = []
                for j, v in enumerate(row):
                    ref = f"{refs[j]}{r}"
                    if j == di:
                        cells.append(f'<c r="{ref}" s="1"><v>{dt.date.fromisoformat(v).toordinal() - _XLSX_EPOCH}</v></c>')
                    elif j == ai and not v.startswith("x"):
                        cells.append(f'<c r="{ref}"><v>{v}</v></c>')
                    else:
                        cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
                buf.append(f'<row r="{r}">{"".join(cells)}</row>')
                if len(buf) >= 5000:
                    w.write("".join(buf).encode())
                    buf = []
            w.write(("".join(buf) + "</sheetData></worksheet>").encode())
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
                   f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>'
                   f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ns_r}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml",
                   f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{ns}" xmlns:r="{ns_r}">'
                   '<sheets><sheet name="Ledger" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{ns_r}/worksheet" Target="worksheets/sheet1.xml"/>'
                   f'<Relationship Id="rId2" Type="{ns_r}/styles" Target="styles.xml"/></Relationships>')
        z.writestr("xl/styles.xml",
                   f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="{ns}">'
                   '<fonts count="1"><font/></fonts><fills count="1"><fill/></fills><borders count="1"><border/></borders>'
                   '<cellStyleXfs count="1"><xf/></cellStyleXfs>'
                   '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>')
    return {"bytes": path.stat().st_size, "sheet": "Ledger"}


OPENS = 50


def _open_cost(path: Path, n: int = OPENS) -> dict[str, float]:
    """Median ms of ``Workspace.open(path).close()`` and of ``duckdb.connect(path).close()``."""
    import duckdb

    from moneytrail.workspace import Workspace

    ours, peer, recover = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        Workspace.open(path).close()
        t1 = time.perf_counter()
        duckdb.connect(str(path)).close()
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        peer.append(t2 - t1)
    out = {"workspace_open_ms": statistics.median(ours) * 1e3, "duckdb_connect_ms": statistics.median(peer) * 1e3}
    try:   # what the recovery check adds to every writable open (nothing to recover here)
        from moneytrail.workspace import recover_interrupted
    except ImportError:   # an older moneytrail, measured for comparison
        return out
    with Workspace.open(path) as ws:
        for _ in range(n * 10):
            t0 = time.perf_counter()
            recover_interrupted(ws)
            recover.append(time.perf_counter() - t0)
    out["recover_interrupted_ms"] = statistics.median(recover) * 1e3
    return out


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child(kind: str, csv_path: str, workdir: str) -> dict[str, Any]:
    """One timed run, in its own interpreter (see :func:`_run_child`)."""
    work = Path(workdir)
    if kind == "moneytrail":
        from moneytrail.errors import MoneytrailError
        from moneytrail.ingest import ingest_file
        from moneytrail.workspace import Workspace

        # the modules the CSV path imports on first use, imported before the clock starts (the
        # peer's ``import duckdb`` is outside its time too)
        import moneytrail.ingest.csvfast  # noqa: F401
        import moneytrail.ingest.csvfile  # noqa: F401

        with Workspace.open(work / "bench.duckdb") as ws:
            t0 = time.perf_counter()
            try:
                res = ingest_file(ws, csv_path, "csv", mapping=MAPPING)
            except MoneytrailError as e:
                return {"seconds": time.perf_counter() - t0, "refused": str(e), "peak_rss_mb": _peak_rss_mb()}
            seconds = time.perf_counter() - t0
        rss = _peak_rss_mb()
        return {"seconds": seconds, "read": res.read, "stored": res.stored, "quarantined": res.quarantined,
                "peak_rss_mb": rss, "open": _open_cost(work / "bench.duckdb")}
    if kind == "xlsx":
        from moneytrail.ingest import ingest_file
        from moneytrail.workspace import Workspace

        with Workspace.open(work / "bench.duckdb") as ws:
            t0 = time.perf_counter()
            res = ingest_file(ws, csv_path, "xlsx", mapping=MAPPING)
            seconds = time.perf_counter() - t0
        return {"seconds": seconds, "read": res.read, "stored": res.stored, "quarantined": res.quarantined,
                "peak_rss_mb": _peak_rss_mb()}
    if kind == "calamine":
        import python_calamine as pc

        t0 = time.perf_counter()
        cells = pc.CalamineWorkbook.from_path(csv_path).get_sheet_by_index(0).to_python()
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "read": len(cells) - 1, "peak_rss_mb": _peak_rss_mb()}
    if kind == "duckdb_typed":
        return _typed_store(csv_path, work)
    if kind in ("duckdb", "duckdb_mapped"):
        import duckdb

        from moneytrail.sqlkit import ident
        from moneytrail.workspace import memory_limit

        con = duckdb.connect(str(work / "peer.duckdb"))
        con.execute("SET enable_progress_bar = false")
        con.execute("SET memory_limit = ?", [memory_limit()])
        what = "*" if kind == "duckdb" else ", ".join(ident(c) for c in MAPPED)
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT {what} FROM read_csv(?, header = true, all_varchar = true)",
                    [csv_path])
        seconds = time.perf_counter() - t0
        n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
        con.close()
        return {"seconds": seconds, "read": n, "peak_rss_mb": _peak_rss_mb()}
    raise ValueError(f"unknown kind {kind!r}")


def _typed_store(csv_path: str, work: Path) -> dict[str, Any]:
    """The floor: DuckDB alone storing the same rows as moneytrail, typed, into a table of the
    workspace's ``transactions`` shape (its columns and types read from a fresh workspace, not
    timed), each with its record number, and nothing else: no check beyond ``TRY_CAST``, no
    quarantine, no raw text, no provenance record, no accounts. One statement:
    ``INSERT INTO t SELECT ... FROM (SELECT row_number() OVER (), ... FROM read_csv(...))``."""
    import duckdb

    from moneytrail.sqlkit import ident
    from moneytrail.workspace import Workspace, memory_limit

    with Workspace.open(work / "shape.duckdb") as ws:
        cols = ws.con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                              "WHERE schema_name = 'main' AND table_name = 'transactions' "
                              "ORDER BY column_index").fetchall()
    con = duckdb.connect(str(work / "typed.duckdb"))
    con.execute("SET enable_progress_bar = false")
    con.execute("SET memory_limit = ?", [memory_limit()])
    con.execute("CREATE TABLE t (" + ", ".join(f"{ident(n)} {ty}" for n, ty in cols) + ")")
    value = {"tx_id": "10000000000 + _n", "source_id": "1", "source_row": "_n", "ts": "_ts",
             "orig_account": "payer", "bene_account": "payee", "amount": "_amount", "currency": "'USD'",
             "channel": "'transfer'", "description": "memo"}
    sel = ", ".join(value.get(n, "NULL") for n, _ in cols)
    t0 = time.perf_counter()
    con.execute(f"INSERT INTO t SELECT {sel} FROM (SELECT row_number() OVER () AS _n, "
                "CAST(TRY_CAST(date AS DATE) AS TIMESTAMP) AS _ts, TRY_CAST(amount AS DECIMAL(18, 4)) AS _amount, "
                "payer, payee, memo FROM read_csv(?, header = true, all_varchar = true)) "
                "WHERE _ts IS NOT NULL AND _amount IS NOT NULL", [csv_path])
    seconds = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "read": n, "peak_rss_mb": _peak_rss_mb()}


_CHILD = ("import json, sys\nfrom moneytrail.bench.ingest import child\n"
          "print(json.dumps(child(*sys.argv[1:])))\n")


def _run_child(kind: str, csv_path: Path, workdir: Path, timeout_s: float) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    try:
        p = subprocess.run([sys.executable, "-c", _CHILD, kind, str(csv_path), str(workdir)],
                           capture_output=True, text=True, timeout=timeout_s, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return {"timed_out": True, "seconds": None}
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"benchmark run ({kind}) failed: {tail}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _summary(samples: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    done = [s["seconds"] for s in samples if s.get("seconds") is not None and not s.get("timed_out")]
    out: dict[str, Any] = {"runs": len(samples), "samples_s": [None if s.get("timed_out") else round(s["seconds"], 4)
                                                               for s in samples]}
    if any(s.get("timed_out") for s in samples):
        out["timed_out_runs"] = sum(1 for s in samples if s.get("timed_out"))
    if done:
        med = statistics.median(done)
        out.update(median_s=round(med, 4), min_s=round(min(done), 4), max_s=round(max(done), 4),
                   rows_per_s=round(rows / med, 1) if med and not any(s.get("refused") for s in samples) else None,
                   peak_rss_mb=statistics.median(s["peak_rss_mb"] for s in samples if "peak_rss_mb" in s))
    refused = [s["refused"] for s in samples if s.get("refused")]
    if refused:
        out["refused"] = refused[0]
    for k in ("read", "stored", "quarantined"):
        if samples and k in samples[-1]:
            out[k] = samples[-1][k]
    opens = [s["open"] for s in samples if s.get("open")]
    if opens:
        a = statistics.median(o["workspace_open_ms"] for o in opens)
        b = statistics.median(o["duckdb_connect_ms"] for o in opens)
        out["open_workspace"] = {"workspace_open_ms": round(a, 3), "duckdb_connect_ms": round(b, 3),
                                 "ratio": round(a / b, 2) if b else None, "opens_per_run": OPENS}
        if all("recover_interrupted_ms" in o for o in opens):
            out["open_workspace"]["recover_interrupted_ms"] = round(
                statistics.median(o["recover_interrupted_ms"] for o in opens), 3)
    return out


def bench_ingest(rows: int = 100_000, columns: int = 5, *, runs: int = 3, seed: int = 1, peer: bool = True,
                 mapped_peer: bool = True, timeout_s: float = 1800, workdir: str | Path | None = None,
                 bad_every: int = 100, xlsx: bool = True, typed_peer: bool = True) -> dict[str, Any]:
    """Generate the file, time moneytrail's ingest and the DuckDB peer ``runs`` times each; with
    ``xlsx`` (and ``peer``) also the same rows as a workbook: moneytrail's XLSX ingest against
    python-calamine reading the sheet's cells alone."""
    xlsx = xlsx and peer
    if rows < 1 or runs < 1:
        raise ValueError("--rows and --runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="moneytrail-bench-ingest-", dir=workdir) as tmp:
        t = Path(tmp)
        csv_path = t / "wide.csv"
        t0 = time.perf_counter()
        shape = write_wide_csv(csv_path, rows, columns, seed=seed, bad_every=bad_every)
        gen_s = time.perf_counter() - t0
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        mapped: list[dict[str, Any]] = []
        typed: list[dict[str, Any]] = []
        for i in range(runs):
            ours.append(_run_child("moneytrail", csv_path, t / f"m{i}", timeout_s))
            if peer:
                theirs.append(_run_child("duckdb", csv_path, t / f"d{i}", timeout_s))
                if mapped_peer:
                    mapped.append(_run_child("duckdb_mapped", csv_path, t / f"p{i}", timeout_s))
                if typed_peer:
                    typed.append(_run_child("duckdb_typed", csv_path, t / f"s{i}", timeout_s))
        xl_ours: list[dict[str, Any]] = []
        xl_peer: list[dict[str, Any]] = []
        if xlsx:
            xlsx_path = t / "wide.xlsx"
            t0 = time.perf_counter()
            xshape = write_xlsx_from_csv(csv_path, xlsx_path)
            xgen_s = time.perf_counter() - t0
            for i in range(runs):
                xl_ours.append(_run_child("xlsx", xlsx_path, t / f"x{i}", timeout_s))
                xl_peer.append(_run_child("calamine", xlsx_path, t / f"c{i}", timeout_s))
    out: dict[str, Any] = {"file": shape, "generate_seconds": round(gen_s, 3), "mapping": MAPPING,
                           "moneytrail": _summary(ours, rows)}
    if peer:
        out["duckdb_read_csv"] = _summary(theirs, rows)
        a, b = out["moneytrail"].get("median_s"), out["duckdb_read_csv"].get("median_s")
        out["ratio_moneytrail_to_duckdb"] = round(a / b, 2) if a and b else None
        if mapped_peer:
            out["duckdb_read_csv_mapped_columns"] = _summary(mapped, rows)
            c = out["duckdb_read_csv_mapped_columns"].get("median_s")
            out["ratio_moneytrail_to_duckdb_mapped_columns"] = round(a / c, 2) if a and c else None
        if typed_peer:
            out["duckdb_typed_store"] = _summary(typed, rows)
            c = out["duckdb_typed_store"].get("median_s")
            out["ratio_moneytrail_to_duckdb_typed_store"] = round(a / c, 2) if a and c else None
            out["ratio_duckdb_typed_store_to_read_csv"] = round(c / b, 2) if b and c else None
    if xlsx:
        out["xlsx"] = {"file": {**xshape, "generate_seconds": round(xgen_s, 3)},
                       "moneytrail": _summary(xl_ours, rows), "calamine_cells": _summary(xl_peer, rows)}
        a, b = out["xlsx"]["moneytrail"].get("median_s"), out["xlsx"]["calamine_cells"].get("median_s")
        out["xlsx"]["ratio_moneytrail_to_calamine"] = round(a / b, 2) if a and b else None
    out["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        import duckdb
        out["machine"]["duckdb"] = duckdb.__version__
    except ImportError:  # pragma: no cover - duckdb is a dependency
        pass
    return out
