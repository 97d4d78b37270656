"""The embedded DuckDB backend (default): runs query trees on the workspace's own connection."""

from __future__ import annotations

import pyarrow as pa
from sqlglot import exp

from moneytrail.backends.base import Backend


class DuckDBBackend(Backend):
    name = "duckdb"
    dialect = "duckdb"
    unsupported = frozenset()

    def __init__(self, con):
        self.con = con

    def execute(self, query: exp.Expression | str, params: list | None = None) -> pa.Table:
        rel = self.con.sql(self.sql(query), params=params) if params else self.con.sql(self.sql(query))
        return rel.to_arrow_table()

    def materialize(self, name: str, query: exp.Expression | str, *, temp: bool = False) -> int:
        kind = "TEMP TABLE" if temp else "TABLE"
        self.con.execute(f"CREATE OR REPLACE {kind} {name} AS {self.sql(query)}")
        return self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]

    def run(self, statement: exp.Expression | str, params: list | None = None) -> None:
        self.con.execute(self.sql(statement), params or []).fetchall()
