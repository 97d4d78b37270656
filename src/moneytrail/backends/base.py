"""The backend seam: stages build queries once, a backend executes them.

A query is written once as SQL in moneytrail's canonical dialect (DuckDB's), parsed by sqlglot
into an expression tree, and handed to a backend, which transpiles it to its own dialect and
runs it. Stages and detectors never open connections; they call the methods below.

Capabilities a backend lacks are data (``Backend.unsupported``), so a caller can choose a
fallback or a test can mark a known gap, instead of finding out from a stack trace.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from moneytrail.backends.dialect import DUCKDB, Dialect

CANONICAL_DIALECT = "duckdb"


def parse(sql: str) -> exp.Expression:
    """Parse canonical SQL into a sqlglot expression tree (the one form stages hand to backends)."""
    return sqlglot.parse_one(sql, read=CANONICAL_DIALECT)


class Backend(ABC):
    """Executes query trees. Subclasses: ``DuckDBBackend`` (embedded, default)."""

    name: str = "abstract"
    dialect: str = CANONICAL_DIALECT          # sqlglot's name for the engine's SQL
    #: how the constructs engines write differently are built for this engine
    #: (:mod:`moneytrail.backends.dialect`); its ``capabilities`` say what queries may use
    sql_dialect: Dialect = DUCKDB

    @property
    def unsupported(self) -> frozenset[str]:
        """The capabilities this backend's engine lacks (a typology needing one is skipped)."""
        from moneytrail.backends.dialect import CAPABILITIES

        return frozenset(CAPABILITIES) - self.sql_dialect.capabilities

    #: tables read under another name (:meth:`tables_as`)
    _renames: dict[str, str] = {}

    @contextlib.contextmanager
    def tables_as(self, renames: dict[str, str]):
        """Inside, every query that names one of ``renames``' tables (unqualified) reads the table
        it maps to instead: the detect stage runs a typology written over ``edges`` on the
        transfers converted to US dollars (``{"edges": "edges_usd"}``) without the typology
        knowing. Table names are the code's own, never a value from outside."""
        old = self._renames
        self._renames = {**old, **renames}
        try:
            yield
        finally:
            self._renames = old

    def tree(self, query: exp.Expression | str) -> exp.Expression:
        """The query's expression tree, with :meth:`tables_as`' renames applied (on a copy)."""
        tree = parse(query) if isinstance(query, str) else query
        if not self._renames:
            return tree
        tree = tree.copy()
        ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for t in tree.find_all(exp.Table):
            if not t.args.get("db") and t.name in self._renames and t.name not in ctes:
                t.set("this", exp.to_identifier(self._renames[t.name]))
        return tree

    def sql(self, query: exp.Expression | str) -> str:
        return self.tree(query).sql(dialect=self.dialect)

    def supports(self, capability: str) -> bool:
        return capability not in self.unsupported

    @abstractmethod
    def execute(self, query: exp.Expression | str, params: list | None = None) -> pa.Table:
        """Run a query, return its rows as an Arrow table."""

    @abstractmethod
    def materialize(self, name: str, query: exp.Expression | str, *, temp: bool = False) -> int:
        """Create or replace table ``name`` from a query; return its row count."""

    @abstractmethod
    def run(self, statement: exp.Expression | str, params: list | None = None) -> None:
        """Run a statement (INSERT/DELETE/...) for its effect."""

    @contextlib.contextmanager
    def phase(self, label: str):
        """Attribute the queries run inside to ``label`` (a typology) in :meth:`stats`."""
        yield

    def stats(self) -> dict[str, Any]:
        """What the engine did, per phase (Spark: queries, shuffles, broadcasts, windows in the
        physical plans); empty for DuckDB."""
        return {}

    def describe(self) -> dict[str, Any]:
        """What ran a stage, for the run log (``runs.parameters.engine``)."""
        return {"backend": self.name}

    def close(self) -> None:
        """Release what the backend holds beside the workspace (nothing for DuckDB; Spark's views
        and staged files). The workspace stays open."""

    def rows(self, query: exp.Expression | str, params: list | None = None) -> list[dict[str, Any]]:
        return self.execute(query, params).to_pylist()

    def scalar(self, query: exp.Expression | str, params: list | None = None) -> Any:
        t = self.execute(query, params)
        return t.column(0)[0].as_py() if t.num_rows else None
