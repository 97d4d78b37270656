"""The one way a value or a name goes into SQL text.

moneytrail builds queries as SQL text that sqlglot parses (see :mod:`moneytrail.backends`).
Anything that comes from outside — a typology parameter, a mapping's column name or constant,
a file name, an account id, a case id — goes into that text only through these functions (or as
a bound ``?`` parameter, which is preferred wherever the engine takes one). Nothing is ever
quoted by hand with ``'...'`` and ``replace("'", "''")`` at the call site.

- :func:`lit` — a literal for a Python value (str, int, float, Decimal, bool, None, date,
  datetime, list/tuple), as DuckDB reads it (the same text sqlglot's DuckDB generator writes, a
  test checks; written here so that opening a workspace does not import sqlglot); non-finite
  numbers are refused.
- :func:`in_list` — ``expr IN (v1, v2, ...)`` (or ``NOT IN``), correct for an empty list.
- :func:`ident` — a quoted identifier (table, column, schema name), any text allowed.

Tests in ``tests/test_sqlkit.py`` round-trip hostile strings through DuckDB.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any, Iterable



#: DuckDB optimizers switched off on every connection moneytrail opens (:func:`harden`)
DISABLED_OPTIMIZERS = "common_subplan"


def harden(con) -> None:
    """Switch off what is known to give wrong answers on this DuckDB. ``common_subplan`` (DuckDB
    1.5.1 to 2.0.1 at least) merges two identical subtrees of a query and can then hand one
    branch the other's columns: ``SELECT src FROM v UNION ALL SELECT dst FROM v`` over a view
    with two LEFT JOINs and a filter on the joined columns returned ``src`` values in both
    halves here (tests/test_sqlkit.py performs it; DuckDB issues 23679, 24624, 25170 and 25819
    report the same family). A silent wrong answer is worse than any plan it saves."""
    con.execute(f"SET disabled_optimizers = {lit(DISABLED_OPTIMIZERS)}")


def lit(value: Any) -> str:
    """The SQL literal for ``value``. Raises ValueError for what has no safe literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return f"CAST({float(value)!r} AS DOUBLE)"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return format(value, "f")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a text value holds a NUL character")
        # a DuckDB string literal: quotes doubled, nothing else special (no backslash escapes);
        # tests/test_sqlkit.py checks it against sqlglot's DuckDB generator and DuckDB itself
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, _dt.datetime):
        return f"TIMESTAMP {lit(value.isoformat(sep=' '))}"
    if isinstance(value, _dt.date):
        return f"DATE {lit(value.isoformat())}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    raise ValueError(f"no SQL literal for a {type(value).__name__}")


def in_list(expr: str, values: Iterable[Any], *, negate: bool = False) -> str:
    """``expr IN (...)`` over literal ``values``; an empty list is FALSE (``NOT IN``: TRUE).
    ``expr`` is SQL the caller wrote (a column), never a value."""
    vals = list(values)
    if not vals:
        return "TRUE" if negate else "FALSE"
    return f"{expr} {'NOT IN' if negate else 'IN'} ({', '.join(lit(v) for v in vals)})"


def ident(name: str) -> str:
    """A quoted SQL identifier for ``name`` (any text but NUL)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"{name!r} is not a usable identifier")
    return '"' + name.replace('"', '""') + '"'
