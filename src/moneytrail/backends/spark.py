"""The Spark backend: the same queries, run by Apache Spark (PySpark 4), locally or on a cluster.

What runs where. The workspace stays the one store of record: ingest, resolve and the graph are
built in it (embedded DuckDB), and findings and scores come back into it with the same provenance
(run, typology, parameters, evidence transactions). What Spark runs is the heavy part in between,
the detection catalogue and the score features: every query a typology or the feature builder
hands to this backend is transpiled from the canonical dialect by sqlglot (with the constructs
sqlglot cannot carry built by :class:`moneytrail.backends.dialect.SparkDialect`) and run by
``spark.sql``.

How the data gets there. A query names workspace tables (``edges``, ``transactions``, ...); the
first time one is named, its rows are read from the workspace (the case's own view of it, so a
case sees only its sources), written as Parquet into a staging folder and registered as a Spark
temporary view over that file. Tables a query creates (``materialize``) are Spark temporary views
whose rows are checkpointed, so an iterative search (cycles, paths) does not grow an ever longer
plan. Nothing is written into the workspace by Spark itself.

Where Spark runs: ``master`` is a Spark master URL (``local[2]``, the default ``local[*]``,
``spark://host:7077``, ``yarn``, ...) or a Spark Connect URL (``sc://host:15002``). For a
cluster the staging folder must be one the executors can read (``staging=``, a shared path); with
Spark Connect the rows travel to the server over the connection instead of as files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from moneytrail.backends.base import Backend
from moneytrail.backends.dialect import SPARK
from moneytrail.errors import ConfigError, EngineError

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MASTER = re.compile(r"(local(\[(\*|[1-9][0-9]{0,3})(,[0-9]{1,3})?\])?|(spark|mesos|k8s)://[A-Za-z0-9_.:/\[\]-]{1,200}|yarn"
                     r"|sc://[A-Za-z0-9_.:/;=\[\]-]{1,200})")
DEFAULT_MASTER = "local[*]"
JAVA_MIN = 17
_LOG4J = Path(__file__).with_name("log4j2.properties")

_lock = threading.Lock()
_sessions: dict[str, Any] = {}
_jvm_pids: dict[str, int | None] = {}


class SparkUnavailable(ConfigError):
    """Spark cannot start here: no Java, a Java too old, PySpark not installed, a bad master URL."""


def java_version(java: str | None = None) -> tuple[str, int]:
    """The java executable Spark will use and its major version; :class:`SparkUnavailable` (one
    line saying what is missing) when there is none or it is older than Java 17."""
    home = os.environ.get("JAVA_HOME")
    exe = java or (str(Path(home) / "bin" / "java") if home else None) or shutil.which("java")
    if not exe or not Path(exe).exists():
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH and JAVA_HOME is not set"
        raise SparkUnavailable(f"the spark backend needs Java {JAVA_MIN} or later: {where} "
                               f"(install a JDK or JRE {JAVA_MIN}, e.g. Debian's openjdk-{JAVA_MIN}-jre-headless)")
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SparkUnavailable(f"the spark backend needs Java {JAVA_MIN} or later: {exe} did not run "
                               f"({type(e).__name__})") from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        raise SparkUnavailable(f"the spark backend needs Java {JAVA_MIN} or later: cannot tell the version of {exe}")
    major = int(m.group(1))
    if major == 1 and m.group(2):       # "1.8.0_..." is Java 8
        major = int(m.group(2))
    if major < JAVA_MIN:
        raise SparkUnavailable(f"the spark backend needs Java {JAVA_MIN} or later: {exe} is Java {major} "
                               f"(set JAVA_HOME to a Java {JAVA_MIN}+ installation)")
    return exe, major


def check_master(master: str) -> str:
    if not isinstance(master, str) or not _MASTER.fullmatch(master):
        raise SparkUnavailable(f"--spark-master {master!r} is not a Spark master URL: use local[N], local[*], "
                               "spark://host:port, yarn, k8s://..., or a Spark Connect URL sc://host:port")
    return master


def session(master: str = DEFAULT_MASTER, conf: dict[str, str] | None = None):
    """The process's Spark session for ``master`` (started on first use, then shared: starting
    Spark costs seconds). UTC session time zone, timestamps without time zone by default (the
    workspace's), Spark's own UI and logs off."""
    check_master(master)
    with _lock:
        s = _sessions.get(master)
        if s is not None:
            return s
        other = [m for m in _sessions if not m.startswith("sc://")]
        if other and not master.startswith("sc://"):
            raise SparkUnavailable(f"this process already runs Spark on {other[0]}: one local Spark per process "
                                   f"(use the same --spark-master, or a new process for {master})")
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise SparkUnavailable("the spark backend needs PySpark: pip install 'moneytrail[spark]'") from None
        settings = {
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.sql.ansi.enabled": "false",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": os.environ.get("MONEYTRAIL_SPARK_SHUFFLE_PARTITIONS", "8"),
            "spark.sql.adaptive.enabled": "true",
            "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile={_LOG4J.as_uri()}",
            "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        }
        settings.update(conf or {})
        if master.startswith("sc://"):
            try:
                b = SparkSession.builder.remote(master)
                for k, v in settings.items():
                    if k.startswith("spark.sql."):
                        b = b.config(k, v)
                s = b.getOrCreate()
            except ImportError as e:   # pyspark without the Connect client's packages
                raise SparkUnavailable(f"Spark Connect needs PySpark's connect client ({e.name or 'a package'} "
                                       "is missing): pip install 'pyspark[connect]'") from None
            except Exception as e:
                raise SparkUnavailable(f"Spark Connect at {master} did not answer ({type(e).__name__})") from None
        else:
            java_version()
            s = _start_local_jvm(master, settings)
        # PySpark logs a failed query's whole plan at ERROR before raising it; the caller gets
        # the error (EngineError), the run log its message
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        _sessions[master] = s
        return s


def jvm_log() -> Path:
    """Where the JVM's own console output goes (Spark's notices, the JVM's warnings)."""
    d = Path(tempfile.gettempdir()) / f"moneytrail-spark-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    d.mkdir(mode=0o700, exist_ok=True)
    return d / f"jvm-{os.getpid()}.log"


def _start_local_jvm(master: str, settings: dict[str, str]):
    """Start the driver JVM with its console output in :func:`jvm_log` (not the user's terminal)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    conf = SparkConf().setMaster(master).setAppName("moneytrail")
    if master.startswith("local"):
        conf.set("spark.driver.memory", os.environ.get("MONEYTRAIL_SPARK_DRIVER_MEMORY", "4g"))
    for k, v in settings.items():
        conf.set(k, v)
    log = jvm_log()
    try:
        with open(log, "ab") as out:
            gateway = launch_gateway(conf=conf, popen_kwargs={"stdout": out, "stderr": out})
        sc = SparkContext(gateway=gateway, conf=conf)
        _jvm_pids[master] = getattr(getattr(gateway, "proc", None), "pid", None)
    except Exception as e:
        first = str(e).splitlines()[0][:200] if str(e) else ""
        raise SparkUnavailable(f"Spark did not start on {master} ({type(e).__name__}: {first}; "
                               f"the JVM's output is in {log})") from None
    sc.setLogLevel("OFF")
    return SparkSession(sc)


def jvm_peak_rss_mb() -> float | None:
    """The peak resident memory of the local driver JVM this process started (Linux), in MB."""
    for pid in _jvm_pids.values():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except (OSError, ValueError):
            continue
    return None


def stop_all() -> None:
    """Stop the sessions this process started (tests call it once at the end)."""
    with _lock:
        for s in _sessions.values():
            try:
                s.stop()
            except Exception:
                pass
        _sessions.clear()
        _jvm_pids.clear()


def _engine_error(e: BaseException, sql: str | None = None) -> EngineError:
    # PySpark's errors carry an error class (e.g. UNRESOLVED_COLUMN.WITH_SUGGESTION); the message
    # (which can quote data) goes to ``detail`` only, with the Spark SQL that failed (``sql``)
    kind = type(e).__name__
    get = getattr(e, "getCondition", None) or getattr(e, "getErrorClass", None)
    try:
        cls = get() if get else None
    except Exception:
        cls = None
    return EngineError(f"{kind}: {cls}" if cls else kind, str(e), sql=sql)


class SparkBackend(Backend):
    name = "spark"
    dialect = "spark"
    sql_dialect = SPARK

    def __init__(self, ws, *, master: str | None = None, staging: str | os.PathLike | None = None,
                 conf: dict[str, str] | None = None):
        self.ws = ws
        self.master = check_master(master or os.environ.get("MONEYTRAIL_SPARK_MASTER") or DEFAULT_MASTER)
        self.connect = self.master.startswith("sc://")
        self._conf = conf
        self._spark = None
        self._given_staging = Path(staging) if staging else None
        self._staging: Path | None = None
        self._loaded: dict[str, int] = {}        # workspace table -> rows handed to Spark
        self._made: dict[str, Any] = {}          # views this backend created -> their DataFrame
        self._n = 0
        self._label = "other"
        self._stats: dict[str, dict[str, int]] = {}
        # where time goes besides the queries: starting (or joining) Spark, handing tables over
        self._session_figures = {"start_seconds": 0.0, "handover_seconds": 0.0, "handover_rows": 0}

    # -- the session and the tables it sees ------------------------------------------------------

    @property
    def spark(self):
        """This backend's own Spark session: its temporary views are its own (two cases, or two
        workspaces, can run at once on one Spark), the Spark context under it shared."""
        if self._spark is None:
            t0 = time.perf_counter()
            shared = session(self.master, self._conf)
            self._spark = shared if self.connect else shared.newSession()
            self._session_figures["start_seconds"] += round(time.perf_counter() - t0, 3)
        return self._spark

    def _stage_dir(self) -> Path:
        if self._staging is None:
            root = self._given_staging
            if root is not None:
                root.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix="moneytrail-spark-", dir=root))
        return self._staging

    def _hand_over(self, name: str) -> None:
        """Make workspace table ``name`` a Spark view (once per backend): its rows as Parquet."""
        from moneytrail.sqlkit import ident

        import duckdb

        spark = self.spark   # started first: its start is not counted as hand-over
        t0 = time.perf_counter()
        read = f"SELECT * FROM {ident(name)}"
        try:
            tbl = self.ws.con.sql(read).to_arrow_table()
        except duckdb.CatalogException:   # not a workspace table: Spark says what is missing
            return
        except duckdb.Error as e:
            raise EngineError.wrap(e, sql=read, where=f"handing {name} to Spark") from None
        if self.connect:
            df = spark.createDataFrame(tbl)
        else:
            self._n += 1
            path = self._stage_dir() / f"{name}-{self._n}.parquet"
            pq.write_table(tbl, path)
            df = spark.read.parquet(str(path))
        df.createOrReplaceTempView(name)
        self._loaded[name] = tbl.num_rows
        f = self._session_figures
        f["handover_seconds"] = round(f["handover_seconds"] + time.perf_counter() - t0, 3)
        f["handover_rows"] += tbl.num_rows

    def _tables(self, tree: exp.Expression) -> None:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for t in tree.find_all(exp.Table):
            name = t.name
            if not name or t.args.get("db") or name.lower() in ctes:
                continue
            if name not in self._made and name not in self._loaded and _TABLE_NAME.fullmatch(name):
                self._hand_over(name)

    def refresh(self) -> None:
        """Forget what was handed over (the workspace changed): tables are read again when next named."""
        for name in list(self._loaded):
            try:
                self.spark.catalog.dropTempView(name)
            except Exception:
                pass
        self._loaded.clear()

    def close(self) -> None:
        """Drop this backend's views and staging files (the shared session stays up)."""
        if self._spark is not None:
            for name, df in list(self._made.items()):
                self._drop(name)
            self.refresh()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __del__(self):
        try:
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
        except Exception:
            pass

    @contextlib.contextmanager
    def phase(self, label: str):
        prev, self._label = self._label, label
        try:
            yield
        finally:
            self._label = prev

    def stats(self) -> dict[str, Any]:
        """Per phase (typology), the plans' figures; under ``"_session"``, the seconds spent
        starting or joining Spark and handing the workspace's tables over (and their rows)."""
        out: dict[str, Any] = {k: dict(v) for k, v in self._stats.items()}
        if out:
            out["_session"] = dict(self._session_figures)
        return out

    def _count(self, df) -> None:
        """Queries, shuffles (Exchange), broadcasts and window operators in a query's physical
        plan, under the current phase: where the work would spread over a cluster."""
        st = self._stats.setdefault(self._label, {"queries": 0, "shuffles": 0, "broadcasts": 0, "windows": 0})
        st["queries"] += 1
        if self.connect:
            return
        try:
            plan = df._jdf.queryExecution().executedPlan().toString()
        except Exception:
            return
        st["broadcasts"] += plan.count("BroadcastExchange")
        st["shuffles"] += len(re.findall(r"(?<!Broadcast)Exchange (hashpartitioning|rangepartitioning|SinglePartition|RoundRobinPartitioning)", plan))
        st["windows"] += len(re.findall(r"\bWindow \[", plan))

    def describe(self) -> dict[str, Any]:
        # a Spark Connect URL's parameters (";token=...") can hold a secret: not logged
        out = {"backend": self.name, "master": self.master.split(";", 1)[0]}
        if self._spark is not None:
            try:
                out["spark_version"] = self._spark.version
            except Exception:
                pass
        return out

    # -- the Backend interface -------------------------------------------------------------------

    def _prepare(self, query: exp.Expression | str) -> str:
        tree = self.tree(query)
        self._tables(tree)
        return self.sql_dialect.rewrite(tree).sql(dialect=self.dialect)

    def _df(self, query, params: list | None):
        """The query as a Spark data frame, and the Spark SQL it was made from (for errors)."""
        sql = self._prepare(query)
        try:
            df = self.spark.sql(sql, args=list(params)) if params else self.spark.sql(sql)
        except SparkUnavailable:
            raise
        except Exception as e:
            raise _engine_error(e, sql) from None
        self._count(df)
        return df, sql

    def execute(self, query: exp.Expression | str, params: list | None = None) -> pa.Table:
        df, sql = self._df(query, params)
        try:
            return _plain(df.toArrow())
        except Exception as e:
            raise _engine_error(e, sql) from None

    def materialize(self, name: str, query: exp.Expression | str, *, temp: bool = False) -> int:
        # table names are the code's own (edges, _fan_in_p1, ...), never a value from outside
        if not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a table name this backend creates")
        df, sql = self._df(query, None)
        try:
            df = df.localCheckpoint(eager=True) if not self.connect else df.cache()
            n = df.count()
        except Exception as e:
            raise _engine_error(e, sql) from None
        self._drop(name)
        df.createOrReplaceTempView(name)
        self._made[name] = df
        self._loaded.pop(name, None)
        return n

    def _drop(self, name: str) -> None:
        old = self._made.pop(name, None)
        try:
            self.spark.catalog.dropTempView(name)
        except Exception:
            pass
        if old is not None:
            try:
                old.unpersist()
            except Exception:
                pass

    def run(self, statement: exp.Expression | str, params: list | None = None) -> None:
        tree = self.tree(statement)
        if isinstance(tree, exp.Drop) and (tree.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
            # a table this backend made is a temporary view: dropping it is the backend's own step
            self._drop(tree.this.name if isinstance(tree.this, exp.Table) else tree.find(exp.Table).name)
            return
        df, sql = self._df(tree, params)
        try:
            df.collect()
        except Exception as e:
            raise _engine_error(e, sql) from None


def _plain(t: pa.Table) -> pa.Table:
    """Spark's Arrow as the workspace would give it: timestamps with a time zone (Spark's
    session-local ones) as UTC, large strings and lists as plain ones."""
    fields = []
    changed = False
    for f in t.schema:
        typ = _plain_type(f.type)
        changed |= typ != f.type
        fields.append(pa.field(f.name, typ, f.nullable))
    return t.cast(pa.schema(fields)) if changed else t


def _plain_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_list(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_list(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain_type(f.type), f.nullable) for f in t])
    return t


def transpile(sql: str) -> str:
    """Canonical SQL as Spark SQL (what the backend runs), for docs and debugging."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]
