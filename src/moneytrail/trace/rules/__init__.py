"""The tracing rules, one module each, and their registry.

Every rule works on one account at a time and on whole amounts in units of 0.0001 (Python
ints: exact; only pro rata divides, and it rounds as its module says). A rule module exposes:

``NAME``, ``TITLE``                      the id used by ``--rule`` and a human title
``DEFINITION``                           the exact definition implemented (one paragraph)
``SOURCES``                              the legal (and technical) sources, as text
``CONSERVING``                           True if tainted money is never created: the tainted
                                         amounts held plus those that left the ledger never
                                         exceed the sources (poison and replenish are False)
``PRESUMPTIONS``                         the withdrawal presumptions it accepts (first = default)
``IN_ALL``                               whether ``--rule all`` runs it (False for ``haircut``:
                                         the proportional rule's crypto name, the same figures
                                         as ``prorata``, accepted by name)
``ops(presumption) -> Ops``              the five functions the engine calls (below)

The engine keeps each account's balance ``b`` itself and hands it to the rule; the rule keeps
a small per-account state list ``st`` whose item 0 is always the tainted amount ``T``
(0 <= T <= b). Accounts without taint have no state at all (the engine's fast path).

``new(b) -> st``                         state for an account whose whole balance b is clean
``withdraw(st, b, a, short) -> (wt, carry)``
                                         a payment of a out of balance b; ``short`` = max(0, a - b)
                                         is money the ledger does not show (an overdraft or an
                                         unrecorded deposit), treated as a clean deposit made just
                                         before the payment. Returns the tainted part wt of the
                                         payment and ``carry`` (the lots it consists of, for the
                                         FIFO/LIFO receiver; None otherwise)
``deposit(st, b, a, wt, carry)``         a receipt of a, wt of it tainted, into balance b
``inject(st, b, x) -> applied``          declare x of the balance b tainted (``--account/--amount/--at``)
``inert(st) -> bool``                    the account holds no taint and can only regain it through
                                         a tainted receipt (the engine then drops its state)

The withdrawal presumptions: ``clean-first`` (the wrongdoer is presumed to spend his own money
first: In re Hallett's Estate (1880) 13 Ch D 696, as stated in Roscoe v Winder [1915] 1 Ch 62)
and ``tainted-first`` (tainted money is presumed to leave first, so the claimant or the
Government can follow it into what was bought; Banco Cafetero's "drugs-in, first-out").
Only LIBR and replenish take one; FIFO, LIFO, pro rata (haircut) and poison fix the order
themselves.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

SCALE = 10_000  # amounts are DECIMAL(18, 4): one unit is 0.0001


class Ops(NamedTuple):
    new: Callable
    withdraw: Callable
    deposit: Callable
    inject: Callable
    inert: Callable


PRESUMPTIONS = ("clean-first", "tainted-first")


def get(name: str):
    from moneytrail.errors import ConfigError
    try:
        return BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown tracing rule {name!r}: choose one of {', '.join(BY_NAME)} or all") from None


def presumption_for(rule, presumption: str | None) -> str | None:
    """The presumption a rule will use: the one asked for if the rule takes one, else its default."""
    if not rule.PRESUMPTIONS:
        return None
    if presumption is None:
        return rule.PRESUMPTIONS[0]
    if presumption not in PRESUMPTIONS:
        from moneytrail.errors import ConfigError
        raise ConfigError(f"--presumption {presumption!r}: choose clean-first or tainted-first")
    return presumption


def round_div(n: int, d: int) -> int:
    """n / d rounded to the nearest integer, ties to even (banker's rounding); d > 0."""
    q, r = divmod(n, d)
    r2 = 2 * r
    if r2 > d or (r2 == d and q & 1):
        q += 1
    return q


# the rule modules use the helpers above, so they are imported after them
from moneytrail.trace.rules import fifo, haircut, libr, lifo, poison, prorata, replenish  # noqa: E402

#: every rule, by name (what ``--rule NAME`` and :func:`get` accept)
BY_NAME = {r.NAME: r for r in (libr, fifo, lifo, prorata, poison, replenish, haircut)}
#: the rules ``--rule all`` runs, in the order it shows them (those with ``IN_ALL``)
RULES = tuple(r for r in BY_NAME.values() if r.IN_ALL)


__all__ = ["RULES", "BY_NAME", "Ops", "SCALE", "PRESUMPTIONS", "get", "presumption_for", "round_div"]
