"""Execution backends. ``get_backend(ws)`` returns the default (embedded DuckDB) for a workspace."""

from moneytrail.backends.base import Backend, parse
from moneytrail.backends.duckdb import DuckDBBackend

BACKENDS = {"duckdb": DuckDBBackend}


def get_backend(ws, name: str = "duckdb") -> Backend:
    if name not in BACKENDS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name](ws.con)


__all__ = ["Backend", "DuckDBBackend", "get_backend", "parse"]
