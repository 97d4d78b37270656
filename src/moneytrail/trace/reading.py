"""How to read a forward trace's totals: which figures add up and which do not.

One wording for the CLI's "totals per rule" table (its "adds up" column and the note under it)
and the report's Fund tracing section, so both say the same thing.

* A conserving rule never creates taint: still held + left the ledger = sources. The one
  exception is a source transaction paid out of money that is already tainted: the engine
  taints the whole payment as a source and does not count the payer's taint again, so the
  two sides then differ by that amount (held + left < sources).
* Poison and replenish create taint: ``created`` = held + left - sources, above zero only
  for them.
* ``s984_forfeitable`` is per account: each account's exposure under 18 U.S.C. 984. Money
  that passes through several accounts within the year counts in each, so the accounts'
  figures overlap: their total is not a share of the sources, nor money traced.
* ``unrecorded_funds`` is money the ledger does not show (an overdraft, an unrecorded
  deposit) that funded a payment larger than the balance; it is treated as clean money and
  is not traced money.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from moneytrail.trace import rules as _rules


def _dec(v: Any) -> Decimal:
    """An amount as an exact Decimal (a trace gives Decimals, a saved one strings or floats)."""
    if v is None:
        return Decimal(0)
    return v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v))


def gap(totals: dict[str, Any]) -> Decimal:
    """still held + left the ledger - sources, exactly."""
    return _dec(totals.get("held")) + _dec(totals.get("left_ledger")) - _dec(totals.get("sources"))


def _amount(d: Decimal) -> str:
    return f"{d:,.2f}" if d == d.quantize(Decimal("0.01")) else f"{d:,.4f}"


def adds_up(totals: dict[str, Any]) -> str:
    """The "adds up" cell of one rule's totals: ``held + left = sources``, ``creates taint: +X``
    or, where a source was paid out of tainted money, ``held + left = sources − X``."""
    d = gap(totals)
    if d > 0:
        return f"creates taint: +{_amount(d)}"
    if d < 0:
        return f"held + left = sources − {_amount(-d)}"
    return "held + left = sources"


def _names(conserving: bool, in_all_only: bool = False) -> list[str]:
    return [r.NAME for r in _rules.BY_NAME.values() if r.CONSERVING == conserving and (r.IN_ALL or not in_all_only)]


def reading() -> list[str]:
    """The note under the totals: one sentence per figure that does, or does not, add up."""
    return [
        f"conserving rules ({', '.join(_names(True))}): still held + left the ledger = sources "
        "(less only where a source transaction was paid out of money already tainted: that money "
        "counts once, as the source)",
        f"{' and '.join(_names(False))} create taint: created = still held + left the ledger − sources, "
        "which can be above zero only for them",
        "984 forfeitable is per account: each account's exposure under 18 U.S.C. 984 (the tainted money "
        "that entered it in the year before the as-of date, up to its balance then); money passing "
        "through several accounts counts in each, so the column is not a share of the sources and its "
        "total is not money traced",
        "unrecorded funds is money the ledger does not show (overdrafts, unrecorded deposits) that paid "
        "for payments larger than the balance, treated as clean: it is not traced money",
    ]


__all__ = ["adds_up", "gap", "reading"]
