"""Poison: a commingled account is tainted through and through.

Definition implemented
    From the first tainted receipt (or ``--account/--amount/--at`` declaration) on, the
    account is poisoned: its whole balance is tainted (T = B), every payment out of it is
    wholly tainted, and so is every later receipt, clean or not — also after the balance has
    fallen to zero. Poison therefore *creates* taint (it is not conserving): it is the upper
    bound, "everything this money touched", against which the other rules can be read. For
    every account at every moment, poison's tainted share is 1 wherever any other rule's
    share is above 0, so poison >= every other rule (replenish included) in taint share.

Sources
    The term and the rule come from cryptocurrency taint analysis: Möser, Böhme & Breuker,
    "Towards risk scoring of Bitcoin transactions" (Financial Cryptography 2014 workshops),
    and Anderson, Shumailov, Ahmed & Rietmann, "Bitcoin Redux" (WEIS 2018), which contrast
    poison and haircut (the proportional rule: ``haircut``, at account level ``prorata``) with
    the legal FIFO rule of Clayton's case. In US forfeiture law the
    closest doctrine is the "facilitation" theory under 18 U.S.C. 981(a)(1)(A) / 982(a)(1):
    clean money knowingly commingled with laundered money to conceal it may itself be property
    "involved in" the laundering offense, and then the whole account is forfeitable, not just
    its traceable proceeds (see e.g. United States v. Bornfield, 145 F.3d 1123 (10th Cir.
    1998), limiting when commingling alone suffices). Whether that theory applies is a legal
    question for counsel; poison shows the amounts if it does.

Choice made where sources differ
    The crypto literature taints per transaction; on an account ledger the account is the
    "transaction" that mixes, so poison is applied per account and is permanent once set.
"""

from __future__ import annotations

NAME = "poison"
TITLE = "Poison (whole account tainted)"
DEFINITION = ("Once an account receives any taint its whole balance is tainted for good: every later "
              "payment out is wholly tainted and every later receipt becomes tainted. Creates taint: an "
              "upper bound, not a conserving trace.")
SOURCES = ("Möser, Böhme & Breuker, 'Towards risk scoring of Bitcoin transactions' (FC 2014); "
           "Anderson et al., 'Bitcoin Redux' (WEIS 2018); facilitation theory under 18 U.S.C. 981/982, "
           "e.g. United States v. Bornfield, 145 F.3d 1123 (10th Cir. 1998)")
CONSERVING = False
DROPS_AT_ZERO = False  # never inert once tainted
PRESUMPTIONS = ()
IN_ALL = True


def new(b):
    return [0]


def withdraw(st, b, a, short):
    st[0] = b + short - a
    return a, None


def deposit(st, b, a, wt, carry):
    st[0] = b + a


def inject(st, b, x):
    st[0] = b
    return b


def inert(st):
    return False


def ops(presumption: str | None = None):
    from moneytrail.trace.rules import Ops
    return Ops(new, withdraw, deposit, inject, inert)
