"""FIFO: first in, first out (the rule in Clayton's case).

Definition implemented
    The money in an account is a queue of pieces in the order it came in. A payment out takes
    the oldest money first, whatever its kind; the tainted part of the payment is the tainted
    money among the pieces taken. A receipt joins the back of the queue (a receipt that is
    itself a mix, paid from another account traced by FIFO, keeps the order of its pieces).
    The opening balance is the oldest money. Money the ledger does not show (a payment larger
    than the balance) is treated as the newest clean money, deposited just before the payment.

    Worked example (tests/golden/trace/clayton_fifo.yaml): 1,000 clean, 500 tainted, 800 out
    (all clean: the oldest), 300 clean in, 900 out (200 clean, then all 500 tainted, then 200
    clean): nothing tainted is left.

Sources
    Devaynes v Noble, Clayton's Case (1816) 1 Mer 572, 35 ER 781: in a running account,
    payments out are appropriated to the earliest payments in. Applied between innocent
    claimants to a mixed fund in Re Hallett's Estate (1880) 13 Ch D 696 (not against the
    wrongdoer), and retained but criticised as a default that yields where impracticable or
    unjust in Barlow Clowes International Ltd v Vaughan [1992] 4 All ER 22 (CA).
    Anderson, Shumailov, Ahmed & Rietmann, "Bitcoin Redux" (WEIS 2018) propose it for tracing
    stolen cryptocurrency.

Choice made where sources differ
    FIFO is applied to every account in the trace, tainted against clean, as the issue asks;
    English law would apply Hallett's presumption (LIBR) against a wrongdoer's own money.
"""

from __future__ import annotations

from moneytrail.trace.rules import lots

NAME = "fifo"
TITLE = "FIFO (Clayton's case)"
DEFINITION = ("Money leaves in the order it came in: each payment takes the oldest pieces of the balance "
              "first; its tainted part is the tainted money among them.")
SOURCES = "Devaynes v Noble, Clayton's Case (1816) 1 Mer 572; Barlow Clowes International Ltd v Vaughan [1992] 4 All ER 22"
CONSERVING = True
DROPS_AT_ZERO = True   # the engine drops the state when T = 0 (it can only return with tainted money)
PRESUMPTIONS = ()
IN_ALL = True

new = lots.new
withdraw = lots.withdraw_front
deposit = lots.deposit
inject = lots.inject
inert = lots.inert


def ops(presumption: str | None = None):
    from moneytrail.trace.rules import Ops
    return Ops(new, withdraw, deposit, inject, inert)
