"""Replenishment: the account is tainted up to the tainted money that went into it (18 U.S.C. 984).

Definition implemented
    D is the total tainted amount ever received by the account (gross: payments out never
    reduce it). The account's tainted balance is T = min(B, D) after every event: the balance
    is tainted as far as it covers the tainted deposits, and when the balance falls below D
    and later rises again, T rises with it up to D (later deposits are treated as replacing
    the tainted money, which LIBR forbids). The tainted part of a payment a, under the
    withdrawal presumption:

    * ``clean-first`` (default, "drugs-in, last-out"): wt = T_before - min(B - a, D), i.e.
      only what the payment takes below the tainted deposits is tainted;
    * ``tainted-first`` ("drugs-in, first-out"): wt = min(a, T_before).

    Because T is recomputed from D, replenish is not conserving: tainted money that left can be
    "replaced" in the account, so the amounts held plus those that left the ledger can exceed
    the sources (the trace reports the excess as ``created``). It answers a different question
    from LIBR: how much of this account could be forfeited as identical fungible property,
    limited by what went in. The one-year limit of 984(b) is not applied by the rule itself:
    every trace applies it in its per-account 984 figures (``s984_forfeitable``).

    Worked example (tests/golden/trace/libr_classic.yaml): 100 tainted, 50 clean, 120 out,
    200 clean in: clean-first the payment carries 100 - 30 = 70 tainted, T = 30 after it, and
    T = min(230, 100) = 100 after the 200 clean deposit (LIBR: 30).

Sources
    18 U.S.C. 984(a): in a forfeiture action in rem against funds in an account, the
    Government need not identify the specific funds involved in the offense, it is no defense
    that they were removed and replaced by identical property, and identical property in the
    same account is forfeitable in their place (984(a)(1)(A), (B) and (a)(2)); 984(b): within
    one year of the offense. The rule applies that measure: identical money in the account,
    up to the amount of the tainted money that went in. United States v. Banco Cafetero
    Panama, 797 F.2d 1154 (2d Cir. 1986) for the two withdrawal presumptions ("drugs-in,
    last-out" and "drugs-in, first-out").

Choice made where sources differ
    This rule was called "haircut" in moneytrail before schema version 13 (migration
    0013_replenish.sql renames saved traces). In cryptocurrency and academic taint analysis
    "haircut" is the proportional rule (Möser, Böhme & Breuker, FC 2014), which moneytrail's
    ``haircut`` now is (see haircut.py; at account level it is the rolling charge,
    ``prorata``). We take the forfeiture reading above (gross tainted deposits, balance cap,
    replenishment) under its own name.
"""

from __future__ import annotations

NAME = "replenish"
TITLE = "Replenishment (tainted up to the tainted deposits; 18 U.S.C. 984)"
DEFINITION = ("Tainted balance T = min(balance, D) where D is all tainted money ever received (payments "
              "out do not reduce D, so later deposits restore T up to D). Payments carry T_before - "
              "min(B - a, D) tainted (clean-first, default) or min(a, T_before) (tainted-first). Not conserving.")
SOURCES = ("18 U.S.C. 984(a) (identical fungible property in the same account; the one-year limit of "
           "984(b) is applied in the per-account 984 figures, not by the rule); United States v. Banco "
           "Cafetero Panama, 797 F.2d 1154 (2d Cir. 1986) for the presumptions")
CONSERVING = False
DROPS_AT_ZERO = False  # never inert once tainted: D stays, and clean deposits restore T up to it
PRESUMPTIONS = ("clean-first", "tainted-first")
IN_ALL = True


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
