"""Haircut: proportional taint, under its cryptocurrency and academic name.

Definition implemented
    Every payment out of an account carries taint in proportion to the account's tainted share
    just before it: with balance B and tainted balance T, a payment of a carries wt = a * T / B
    tainted (rounded to 0.0001, ties to even), and T becomes T - wt; receipts add their tainted
    part to T. This is the pro-rata rule: the same functions (prorata.py), so the same figures,
    to the last 0.0001.

    In the cryptocurrency literature the unit that mixes money is a transaction: its inputs are
    pooled and every output gets the pool's tainted share. On an account ledger the unit that
    mixes is the account's balance, and a payment out of it gets the balance's tainted share at
    that moment: that is the rolling charge, so at account level the haircut equals ``prorata``.

    Worked example (tests/golden/trace/libr_classic.yaml): 100 tainted, 50 clean, 120 out: the
    payment is 100/150 tainted, so it carries 80 tainted and the account keeps 20 (as prorata).

Sources
    Möser, Böhme & Breuker, "Towards risk scoring of Bitcoin transactions" (Financial
    Cryptography 2014 workshops), which names the proportional rule "haircut" next to
    "poison"; Anderson, Shumailov, Ahmed & Rietmann, "Bitcoin Redux" (WEIS 2018) compare both
    with FIFO. The legal name of the same rule on an account is the rolling charge (prorata.py:
    Barlow Clowes International Ltd v Vaughan [1992] 4 All ER 22).

Choice made where sources differ
    Before schema version 13 moneytrail used the name "haircut" for a forfeiture reading (the
    balance tainted up to the tainted deposits, with replenishment); that rule is now
    ``replenish`` (replenish.py) and saved traces were renamed by migration 0013. ``haircut``
    is accepted by name but ``--rule all`` leaves it out (``IN_ALL``): it would repeat
    ``prorata``'s figures.
"""

from __future__ import annotations

from moneytrail.trace.rules.prorata import deposit, inert, inject, new, ops, withdraw  # noqa: F401

NAME = "haircut"
TITLE = "Haircut (proportional taint; at account level the rolling charge)"
DEFINITION = ("Each payment carries taint in proportion to the account's tainted share just before it "
              "(wt = a*T/B, rounded to 0.0001, ties to even); receipts add their tainted part. The "
              "cryptocurrency name of the proportional rule: at account level the same figures as prorata.")
SOURCES = ("Möser, Böhme & Breuker, 'Towards risk scoring of Bitcoin transactions' (FC 2014 workshops); "
           "at account level it equals prorata, the rolling charge (Barlow Clowes International Ltd v "
           "Vaughan [1992] 4 All ER 22)")
CONSERVING = True
DROPS_AT_ZERO = True   # as prorata: the state goes when T = 0 (it can only return with tainted money)
PRESUMPTIONS = ()
IN_ALL = False         # --rule all shows prorata, which gives the same figures
