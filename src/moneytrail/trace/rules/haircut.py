"""Haircut: the account is forfeitable up to the tainted money that went into it.

Definition implemented
    D is the total tainted amount ever received by the account (gross: payments out never
    reduce it). The account's tainted balance is T = min(B, D) after every event: the balance
    is "cut" by the tainted deposits as long as it covers them, and when the balance falls
    below D and later rises again, T rises with it up to D (later deposits are treated as
    replacing the tainted money, which LIBR forbids). The tainted part of a payment a, under
    the withdrawal presumption:

    * ``clean-first`` (default, "drugs-in, last-out"): wt = T_before - min(B - a, D), i.e.
      only what the payment takes below the tainted deposits is tainted;
    * ``tainted-first`` ("drugs-in, first-out"): wt = min(a, T_before).

    Because T is recomputed from D, haircut is not conserving: tainted money that left can be
    "replaced" in the account. It answers a different question from LIBR: how much of this
    account could be forfeited as identical fungible property, limited by what went in.

    Worked example (tests/golden/trace/libr_classic.yaml): 100 tainted, 50 clean, 120 out,
    200 clean in: clean-first the payment carries 100 - 30 = 70 tainted, T = 30 after it, and
    T = min(230, 100) = 100 after the 200 clean deposit (LIBR: 30).

Sources
    The issue brief's definition ("an account's tainted amount is min(balance, total tainted
    deposits)"). It is the measure 18 U.S.C. 984(a) allows for fungible property within a
    year of the offense: identical property in the same account is forfeitable in place of
    the offense property, up to that property's amount, without tracing (see also
    ``moneytrail.trace.engine`` for the 984 flag). United States v. Banco Cafetero Panama,
    797 F.2d 1154 (2d Cir. 1986) for the drugs-in last-out / first-out presumptions.
    In crypto taint analysis "haircut" means the proportional rule, which moneytrail calls
    ``prorata``.

Choice made where sources differ
    We take the forfeiture reading above (gross tainted deposits, balance cap, replenishment)
    and say so in every output; the proportional reading is ``--rule prorata``.
"""

from __future__ import annotations

NAME = "haircut"
TITLE = "Haircut (tainted up to tainted deposits)"
DEFINITION = ("Tainted balance T = min(balance, D) where D is all tainted money ever received (payments "
              "out do not reduce D, so later deposits restore T up to D). Payments carry T_before - "
              "min(B - a, D) tainted (clean-first, default) or min(a, T_before) (tainted-first). Not conserving.")
SOURCES = ("Issue 5 definition; 18 U.S.C. 984(a) (identical property in the same account); "
           "United States v. Banco Cafetero Panama, 797 F.2d 1154 (2d Cir. 1986)")
CONSERVING = False
DROPS_AT_ZERO = False  # never inert once tainted
PRESUMPTIONS = ("clean-first", "tainted-first")


def new(b):
    return [0, 0]                         # [T, D]


def withdraw_clean_first(st, b, a, short):
    d = st[1]
    total = b + short
    t = total if total < d else d          # unseen money replenishes T like any clean deposit
    left = total - a
    t_after = left if left < d else d
    st[0] = t_after
    return t - t_after, None


def withdraw_tainted_first(st, b, a, short):
    d = st[1]
    total = b + short
    t = total if total < d else d
    wt = a if a < t else t
    left = total - a
    st[0] = left if left < d else d
    return wt, None


def deposit(st, b, a, wt, carry):
    d = st[1] + wt
    st[1] = d
    total = b + a
    st[0] = total if total < d else d


def inject(st, b, x):
    before = st[0]
    d = st[1] + x
    st[1] = d
    st[0] = b if b < d else d
    return st[0] - before


def inert(st):
    return st[1] == 0


def ops(presumption: str | None = None):
    from moneytrail.trace.rules import Ops
    w = withdraw_tainted_first if presumption == "tainted-first" else withdraw_clean_first
    return Ops(new, w, deposit, inject, inert)
