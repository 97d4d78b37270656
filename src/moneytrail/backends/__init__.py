"""Execution backends. ``get_backend(ws)`` returns the default (embedded DuckDB) for a workspace;
``get_backend(ws, "spark", master=...)`` runs the same queries on Apache Spark
(:mod:`moneytrail.backends.spark`, imported only when asked for)."""

from moneytrail.backends.base import Backend, parse
from moneytrail.backends.duckdb import DuckDBBackend

BACKENDS = ("duckdb", "spark")


def get_backend(ws, name: str = "duckdb", **options) -> Backend:
    """The backend ``name`` over workspace ``ws``. Options: for ``spark``, ``master`` (a Spark
    master or Spark Connect URL), ``staging`` (a folder the executors can read) and ``conf``."""
    from moneytrail.errors import ConfigError

    if name == "duckdb":
        if options:
            raise ConfigError(f"the duckdb backend takes no options (given: {', '.join(sorted(options))})")
        return DuckDBBackend(ws.con)
    if name == "spark":
        from moneytrail.backends.spark import SparkBackend

        unknown = set(options) - {"master", "staging", "conf"}
        if unknown:
            raise ConfigError(f"the spark backend takes master, staging and conf (given: {', '.join(sorted(unknown))})")
        return SparkBackend(ws, **options)
    raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


__all__ = ["Backend", "DuckDBBackend", "get_backend", "parse"]
