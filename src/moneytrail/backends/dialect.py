"""Where engines differ: one method per SQL construct moneytrail needs that DuckDB and Spark write
differently, or that sqlglot cannot translate without changing its meaning.

Queries are written once, in DuckDB's SQL (the canonical dialect), and transpiled by sqlglot for
the engine that runs them. That is safe for most of the language and wrong for a few constructs,
found by running every typology on both engines (``tests/backends/``):

========================  ==============================  ==========================================
construct                 DuckDB                          Spark (and why not sqlglot's translation)
========================  ==============================  ==========================================
distinct count over a     ``count(DISTINCT x) OVER w``    ``size(collect_set(x) OVER w)``: Spark has
window                                                    no DISTINCT window aggregates
position in a list        ``list_position(l, x)``         ``array_position(l, x)``: not translated
length of a list          ``len(l)``                      ``size(l)``: translated to ``length``, a
                                                          string function
slice of a list           ``list_slice(l, b, e)``         ``slice(l, b, e - b + 1)``: not translated
last element              ``l[-1]``                       ``element_at(l, -1)``: an index that is
                                                          not a literal is not shifted to 0-based
ordered list aggregate    ``list(x ORDER BY k)``          ``transform(array_sort(collect_list(
                                                          struct(k, x))), s -> s.v)``: translated to
                                                          ``collect_list(x)``, losing the order
sorted distinct list      ``list(DISTINCT x ORDER BY x)`` ``array_sort(collect_set(x))``
median of decimals        ``median(x)`` (exact DECIMAL)   the two middle values of the sorted list
                                                          averaged: Spark's ``median`` is a DOUBLE
                                                          (329.425 reads as $329.42)
days between timestamps   ``date_diff('day', a, b)``:     ``datediff(DAY, date_trunc('DAY', a), ...)``:
                          day boundaries crossed          sqlglot writes ``datediff(DAY, a, b)``,
                                                          whole days elapsed (a tree rewrite)
division                  ``a / b`` is a DOUBLE           ``CAST(a AS DOUBLE) / b``: Spark divides
                                                          DECIMALs as DECIMAL, to six places (a
                                                          tree rewrite)
day of the week           ``dayofweek(t)``, Sunday = 0    ``dayofweek(t) - 1`` (Spark's Sunday is 1;
                                                          a tree rewrite)
ASOF join                 ``ASOF JOIN``                   none: a range join keeping each left row's
                                                          latest match (``asof_join`` capability)
========================  ==============================  ==========================================

Two of them are not methods but rewrites of the parsed tree (:meth:`Dialect.rewrite`), because
sqlglot parses them right and only writes them with another meaning for Spark; a backend applies
its dialect's rewrite to every query before generating its SQL.

A method returns SQL text in the canonical dialect that sqlglot carries to the target unchanged in
meaning (function names it does not know pass through). Typologies call these where they build
their query (:meth:`moneytrail.detect.base.Typology.sql`), with the dialect of the backend that will
run it; each typology also declares the capabilities it needs (``Typology.needs``), and a backend
that lacks one skips the typology with a reason (:attr:`Dialect.capabilities`).
"""

from __future__ import annotations

from typing import Sequence

from sqlglot import exp

# what a typology may need beyond plain SQL; a dialect lists the ones its engine has
CAPABILITIES = ("distinct_window_count", "ordered_list", "list_functions", "regex", "json", "asof_join")


class Dialect:
    """DuckDB: the canonical dialect, written as is."""

    name = "duckdb"
    capabilities: frozenset[str] = frozenset(CAPABILITIES)

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        """The parsed canonical query made to mean the same on this engine: the constructs
        sqlglot parses right but writes for the target with another meaning (none for DuckDB)."""
        return tree

    def count_distinct_over(self, expr: str, window: str) -> str:
        """The number of distinct non-null values of ``expr`` in a window (``window``: the text
        inside ``OVER (...)``, or the name of a window of the query's WINDOW clause)."""
        return f"count(DISTINCT {expr}) OVER {_window(window)}"

    def list_position(self, lst: str, x: str) -> str:
        """1-based position of ``x`` in ``lst``; callers pass a member (not found differs: NULL in
        DuckDB, 0 in Spark)."""
        return f"list_position({lst}, {x})"

    def list_length(self, lst: str) -> str:
        return f"len({lst})"

    def list_slice(self, lst: str, begin: str, end: str) -> str:
        """Elements ``begin``..``end`` (1-based, inclusive; empty when ``end`` < ``begin``)."""
        return f"list_slice({lst}, {begin}, {end})"

    def list_last(self, lst: str) -> str:
        """The last element of a non-empty list."""
        return f"{lst}[-1]"

    def ordered_list(self, expr: str, order: Sequence[str], where: str | None = None) -> str:
        """The values of ``expr`` in a group (those where ``where`` holds) as a list ordered by
        ``order``: keys that make the order total (a tie would be ordered differently by the
        engines); a key may end in `` DESC`` if it is a number. No value: NULL in DuckDB, an
        empty list in Spark (callers treat both as none)."""
        f = f" FILTER (WHERE {where})" if where else ""
        return f"list({expr} ORDER BY {', '.join(order)}){f}"

    def median(self, expr: str) -> str:
        """The median of a group's DECIMAL values, exact (the mean of the two middle values)."""
        return f"median({expr})"

    def sorted_distinct_list(self, expr: str, where: str | None = None) -> str:
        """The distinct non-null values of ``expr`` in a group (where ``where`` holds), sorted."""
        cond = f"{expr} IS NOT NULL" + (f" AND ({where})" if where else "")
        return f"list(DISTINCT {expr} ORDER BY {expr}) FILTER (WHERE {cond})"


class SparkDialect(Dialect):
    """Spark SQL (3.4+, 4.x), reached through sqlglot's ``spark`` generator. No ASOF join: a query
    that uses one builds its documented fallback when ``asof_join`` is not in ``capabilities``."""

    name = "spark"
    capabilities = frozenset(CAPABILITIES) - {"asof_join"}

    def rewrite(self, tree: exp.Expression) -> exp.Expression:
        return tree.copy().transform(_spark_node, copy=False)

    def count_distinct_over(self, expr: str, window: str) -> str:
        return f"size(collect_set({expr}) OVER {_window(window)})"

    def list_position(self, lst: str, x: str) -> str:
        return f"array_position({lst}, {x})"

    def list_length(self, lst: str) -> str:
        return f"size({lst})"

    def list_slice(self, lst: str, begin: str, end: str) -> str:
        return f"slice({lst}, {begin}, greatest(({end}) - ({begin}) + 1, 0))"

    def list_last(self, lst: str) -> str:
        return f"element_at({lst}, -1)"

    def ordered_list(self, expr: str, order: Sequence[str], where: str | None = None) -> str:
        keys = ", ".join(f"'k{i}': {_ascending(k)}" for i, k in enumerate(order))
        f = f" FILTER (WHERE {where})" if where else ""
        return f"transform(array_sort(collect_list({{{keys}, 'v': {expr}}}){f}), s -> s.v)"

    def median(self, expr: str) -> str:
        # Spark's median is a DOUBLE percentile: 329.425 comes back as 329.42499999..., and reads
        # as $329.42 where DuckDB's exact DECIMAL median reads $329.43. The two middle values of
        # the sorted list, averaged in DECIMAL, are exact.
        srt = f"array_sort(collect_list({expr}))"
        return (f"((try_element_at({srt}, CAST((size({srt}) + 1) DIV 2 AS INT)) "
                f"+ try_element_at({srt}, CAST(size({srt}) DIV 2 + 1 AS INT))) * 0.5)")

    def sorted_distinct_list(self, expr: str, where: str | None = None) -> str:
        f = f" FILTER (WHERE {where})" if where else ""
        return f"array_sort(collect_set({expr}){f})"


def _spark_node(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary"):
        # DuckDB's date_diff counts unit boundaries crossed (23:20 to 12:00 the next day is one
        # day); Spark's counts whole units elapsed (zero days). Truncating both ends to the unit
        # makes Spark count boundaries too.
        unit = node.args.get("unit")
        name = unit.name.upper() if unit is not None else "DAY"
        for arg in ("this", "expression"):
            node.set(arg, exp.TimestampTrunc(this=node.args[arg], unit=exp.Var(this=name)))
        node.set("date_part_boundary", None)
        return node
    if isinstance(node, exp.Div) and not node.args.get("_double"):
        # DuckDB's / is a DOUBLE division; Spark divides DECIMALs as DECIMAL, rounded to six
        # places (2.1666666666666665 days comes back as 2.1666667)
        node.set("_double", True)
        node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node
    if isinstance(node, exp.DayOfWeek) and not node.args.get("_shifted"):
        # DuckDB: Sunday = 0 .. Saturday = 6; Spark's dayofweek: Sunday = 1 .. Saturday = 7
        node.set("_shifted", True)
        return exp.Paren(this=exp.Sub(this=node, expression=exp.Literal.number(1)))
    return node


def _ascending(key: str) -> str:
    """A sort key for an ascending sort: ``x DESC`` (a number) becomes ``-(x)``."""
    k = key.strip()
    return f"-({k[:-5].strip()})" if k.upper().endswith(" DESC") else k


def _window(window: str) -> str:
    return window if window.isidentifier() else f"({window})"


DUCKDB = Dialect()
SPARK = SparkDialect()
