"""Pro rata: the rolling charge (the "North American" method).

Definition implemented
    Every payment out of an account is charged to the money in it in proportion to the
    shares held immediately before the payment: with balance B and tainted balance T, a
    payment of a carries wt = a * T / B tainted, and T becomes T - wt. Receipts add their
    tainted part to T (a clean receipt dilutes the share). A payment of the whole balance (or
    more) carries all of T. Amounts are kept in units of 0.0001; wt is rounded to the nearest
    unit, ties to even, so rounding never moves more than half a unit per payment and wt never
    exceeds a or T.

    Worked example (tests/golden/trace/libr_classic.yaml): 100 tainted, 50 clean,
    120 out: the payment is 100/150 tainted, so it carries 80 tainted and the account keeps 20
    tainted of its 30.

Sources
    Barlow Clowes International Ltd v Vaughan [1992] 4 All ER 22 (CA): Woolf LJ describes the
    "North American" solution, treating the credits to an account as a blend so that each
    withdrawal is taken from the different interests in the proportions they then hold (the
    rolling charge), next to Clayton's case and pari passu ex post facto; the court there
    shared the remaining assets pari passu among the investors. Re Ontario Securities
    Commission and Greymac Credit Corp (1986) 55 OR (2d) 673 (Ont CA), aff'd [1988] 2 SCR 172,
    the Canadian source of the rolling charge. In cryptocurrency taint analysis the same
    proportional rule is called "haircut" (Möser, Böhme & Breuker, "Towards risk scoring of
    Bitcoin transactions", FC 2014 workshops); ``--rule haircut`` is this rule under that name
    (haircut.py: the same functions, so the same figures). The forfeiture reading with
    replenishment is ``replenish`` (replenish.py).

Choice made where sources differ
    Pari passu ex post facto (sharing only the final balance by contributions, ignoring the
    order of events) is not this rule: it needs no ordered pass and it ignores dissipation in
    between. moneytrail implements the rolling charge, event by event.
"""

from __future__ import annotations

# One tainted balance per account, kept exactly as LIBR keeps it on receipts; only what a
# payment carries differs (below).
from moneytrail.trace.rules.libr import deposit, inert, inject, new


NAME = "prorata"
TITLE = "Pro rata (rolling charge)"
DEFINITION = ("Each payment carries taint in proportion to the account's tainted share just before "
              "it (wt = a*T/B, rounded to 0.0001, ties to even); receipts add their tainted part.")
SOURCES = ("Barlow Clowes International Ltd v Vaughan [1992] 4 All ER 22 (CA) (the 'North American' "
           "rolling charge); Re Ontario Securities Commission and Greymac Credit Corp (1986) 55 OR (2d) 673")
CONSERVING = True
DROPS_AT_ZERO = True   # the engine drops the state when T = 0 (it can only return with tainted money)
PRESUMPTIONS = ()
IN_ALL = True


def withdraw(st, b, a, short):
    t = st[0]
    if not t:
        return 0, None
    total = b + short
    if a >= total:
        wt = t
    else:   # round_div(a * t, total), inlined: this is the hot path
        wt, r = divmod(a * t, total)
        r += r
        if r > total or (r == total and wt & 1):
            wt += 1
    st[0] = t - wt
    return wt, None


def ops(presumption: str | None = None):
    from moneytrail.trace.rules import Ops
    return Ops(new, withdraw, deposit, inject, inert)
