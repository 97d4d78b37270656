"""LIFO: last in, first out.

Definition implemented
    The money in an account is a stack of pieces in the order it came in. A payment out takes
    the newest money first; the tainted part of the payment is the tainted money among the
    pieces taken. A receipt goes on top (a mixed receipt from another account traced by LIFO
    keeps the relative age of its pieces, its newest piece on top). Money the ledger does not
    show (a payment larger than the balance) is treated as the newest clean money, deposited
    just before the payment, so it is the first to go.

    Worked example (tests/golden/trace/clayton_fifo.yaml): 1,000 clean, 500 tainted, 800 out
    (the 500 tainted and 300 clean: the newest), 300 clean in, 900 out (clean).

Sources
    LIFO is the mirror of Clayton's case (Devaynes v Noble (1816) 1 Mer 572); it is named as
    one of the tracing conventions in the forensic-accounting and crypto-tracing literature
    (e.g. Anderson et al., "Bitcoin Redux", WEIS 2018, which discusses FIFO and its
    alternatives). It has no direct authority as a legal tracing rule of its own in English
    law; in the cases above the result it gives often coincides with LIBR under clean-first
    for the account that received the taint last. Shown for comparison.

Choice made where sources differ
    None beyond the conventions stated above (opening balance is the oldest money).
"""

from __future__ import annotations

from moneytrail.trace.rules import lots

NAME = "lifo"
TITLE = "LIFO (last in, first out)"
DEFINITION = ("Money leaves newest first: each payment takes the most recently received pieces of the "
              "balance first; its tainted part is the tainted money among them.")
SOURCES = "Mirror of Clayton's Case (1816) 1 Mer 572; Anderson et al., 'Bitcoin Redux' (WEIS 2018)"
CONSERVING = True
DROPS_AT_ZERO = True   # the engine drops the state when T = 0 (it can only return with tainted money)
PRESUMPTIONS = ()
IN_ALL = True

new = lots.new
withdraw = lots.withdraw_back
deposit = lots.deposit
inject = lots.inject
inert = lots.inert


def ops(presumption: str | None = None):
    from moneytrail.trace.rules import Ops
    return Ops(new, withdraw, deposit, inject, inert)
