"""The embedded DuckDB backend (default): runs query trees on the workspace's own connection.

Engine failures come out as :class:`~moneytrail.errors.EngineError`: the error class in the
message, the engine's own message (which can quote data) only in ``detail``, the SQL that failed
in ``sql``; the stage or typology that called adds where it happened (see
:func:`moneytrail.pipeline.run_pipeline`).
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
from sqlglot import exp

from moneytrail.backends.base import Backend
from moneytrail.backends.dialect import DUCKDB
from moneytrail.errors import EngineError

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class DuckDBBackend(Backend):
    name = "duckdb"
    dialect = "duckdb"
    sql_dialect = DUCKDB

    def __init__(self, con):
        self.con = con

    def execute(self, query: exp.Expression | str, params: list | None = None) -> pa.Table:
        sql = self.sql(query)
        try:
            rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
            return rel.to_arrow_table()
        except duckdb.Error as e:
            raise EngineError.wrap(e, sql=sql) from None

    def materialize(self, name: str, query: exp.Expression | str, *, temp: bool = False) -> int:
        # table names are the code's own (edges, _fan_in_p1, ...), never a value from outside
        if not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a table name this backend creates")
        kind = "TEMP TABLE" if temp else "TABLE"
        sql = f"CREATE OR REPLACE {kind} {name} AS {self.sql(query)}"
        try:
            self.con.execute(sql)
            return self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        except duckdb.Error as e:
            raise EngineError.wrap(e, sql=sql) from None

    def run(self, statement: exp.Expression | str, params: list | None = None) -> None:
        sql = self.sql(statement)
        try:
            self.con.execute(sql, params or []).fetchall()
        except duckdb.Error as e:
            raise EngineError.wrap(e, sql=sql) from None
