"""Terminal tables that never cut an amount or an id.

Every table the CLI prints goes through :class:`Doc`. Columns marked ``whole`` (amounts, account
and transaction ids, keys) are never truncated or wrapped; the other columns wrap, and when the
terminal is too narrow for every column the lowest-priority ones (highest ``drop``) are left out
and the table says which. When the output is not a terminal (piped or redirected) the table is
plain text: one line per row, columns aligned, nothing wrapped, cut or styled, so ``grep``,
``less -S`` and a file keep every value (``--format csv`` / ``--json`` are the machine formats).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class Col:
    name: str
    right: bool = False      # numbers: right-aligned
    whole: bool = False      # never cut nor wrapped (amounts, ids); other columns wrap between words,
                             # never inside one (an id in a list or a sentence stays whole)
    drop: int = 0            # when the terminal is narrow, higher values are left out first (0: never)


@dataclass
class _Table:
    title: str
    cols: list[Col]
    rows: list[list[str]]


@dataclass
class Doc:
    """Lines (rich markup allowed: it is dropped in plain output) and tables, in order."""
    parts: list[Any] = field(default_factory=list)

    def line(self, text: str) -> None:
        self.parts.append(str(text))

    def table(self, title: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
        self.parts.append(_Table(title, list(cols), [["" if v is None else str(v) for v in r] for r in rows]))

    def render(self, *, plain: bool | None = None, width: int | None = None) -> str:
        if plain is None:
            plain = not _is_terminal()
        if width is None:
            width = terminal_width()
        out = io.StringIO()
        for p in self.parts:
            if isinstance(p, _Table):
                out.write(_plain_table(p) if plain else _rich_table(p, width))
            else:
                out.write((_strip_markup(p) if plain else _rich_line(p, width)) + "\n")
        return out.getvalue()

    def print(self, stream=None) -> None:
        stream = stream or sys.stdout
        stream.write(self.render())
        stream.flush()


def money(v: Any) -> str:
    """An amount for a table cell, exact (a Decimal, never through a float's arithmetic: amounts
    near 10**12 and their sums do not fit one), two decimals, thousands separated; "—" for none."""
    from decimal import Decimal

    if v is None:
        return "—"
    d = v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
    return f"{d:,.2f}"


def escape(s: Any) -> str:
    """A value (an account id, a note) inside a :meth:`Doc.line`: its brackets shown as they are,
    never read as markup."""
    from rich.markup import escape as _escape

    return _escape(str(s))


def _is_terminal() -> bool:
    force = os.environ.get("MONEYTRAIL_TABLES", "").lower()
    if force in ("plain", "rich"):
        return force == "rich"
    return sys.stdout.isatty()


def terminal_width() -> int:
    try:
        cols = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        cols = 0
    return max(40, cols or shutil.get_terminal_size((120, 24)).columns)


def _strip_markup(s: str) -> str:
    from rich.text import Text

    try:
        return Text.from_markup(s).plain
    except Exception:       # not markup after all (a value with brackets): as it is
        return s


def _one_line(s: str) -> str:
    """A cell on one line: its lines joined with "; " (a multi-line cell is a list)."""
    if "\n" in s or "\r" in s or "\t" in s:
        return "; ".join(" ".join(part.split()) for part in s.replace("\r", "\n").split("\n") if part.strip())
    return s


def _plain_table(t: _Table) -> str:
    rows = [[_one_line(c) for c in r] for r in t.rows]
    widths = [max([len(c.name)] + [len(r[i]) for r in rows]) for i, c in enumerate(t.cols)]
    lines = [_one_line(t.title)] if t.title else []

    def fmt(cells: list[str]) -> str:
        out = []
        for i, (c, v) in enumerate(zip(t.cols, cells)):
            last = i == len(cells) - 1
            out.append(v.rjust(widths[i]) if c.right else (v if last else v.ljust(widths[i])))
        return "  ".join(out).rstrip()

    lines.append(fmt([c.name for c in t.cols]))
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines) + "\n\n"


def _rich_line(s: str, width: int) -> str:
    from rich.console import Console

    con = Console(width=width, file=io.StringIO(), force_terminal=True, highlight=False)
    con.print(s, soft_wrap=True)
    return con.file.getvalue().rstrip("\n")


#: rich's frame: a border and a padding of one on each side of every cell
def _frame(n: int) -> int:
    return 3 * n + 1


def _rich_table(t: _Table, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    need = [max([len(c.name)] + [len(r[i]) for r in t.rows]) for i, c in enumerate(t.cols)]
    word = [max([len(w) for w in c.name.split()] + [len(w) for r in t.rows for w in r[i].split()] or [1])
            for i, c in enumerate(t.cols)]
    keep = list(range(len(t.cols)))
    # the narrowest a column may become: whole columns their widest value; the others their
    # longest word, or 12 when wrapping further would make them unreadable
    floor = {i: need[i] if t.cols[i].whole else max(word[i], min(need[i], 12)) for i in keep}
    dropped: list[str] = []

    def fits(ix: list[int]) -> bool:
        return _frame(len(ix)) + sum(floor[i] for i in ix) <= width

    while not fits(keep):
        cand = [i for i in keep if t.cols[i].drop > 0]
        if not cand:
            # the whole columns alone do not fit this terminal: plain lines (the terminal wraps
            # them) rather than a cut amount
            return _plain_table(_Table(t.title + (" (wider than the terminal)" if t.title else ""), t.cols, t.rows))
        worst = max(cand, key=lambda i: (t.cols[i].drop, i))
        keep.remove(worst)
        dropped.append(t.cols[worst].name)
    tab = Table(title=t.title or None, show_lines=False, expand=False)
    for i in keep:
        c = t.cols[i]
        if c.whole:
            tab.add_column(c.name, justify="right" if c.right else "left", no_wrap=True, min_width=need[i],
                           overflow="ignore")
        else:
            tab.add_column(c.name, justify="right" if c.right else "left", min_width=word[i], overflow="fold")
    for r in t.rows:
        tab.add_row(*(Text(r[i]) for i in keep))
    con = Console(width=width, file=io.StringIO(), force_terminal=True, highlight=False)
    con.print(tab)
    if dropped:
        con.print(Text(f"(left out for this terminal's width: {', '.join(reversed(dropped))}; "
                       f"a wider terminal or a pipe shows every column)"))
    return con.file.getvalue() + "\n"
