"""Lots for the order-based rules (FIFO, LIFO): an account's balance as a deque of
``[amount, tainted]`` pieces, oldest on the left, newest on the right. Adjacent pieces of the
same kind are merged, so an account holds at most one piece per change between tainted and
clean money still in it (memory bounded by what is in the account, not by its history).

A payment returns the pieces it took as its ``carry``, oldest first; the receiving account
appends them in that order (so money keeps its relative age across a transfer: a receipt that
is partly tainted is queued oldest piece first). A whole-receipt source or a clean receipt is
one piece.
"""

from __future__ import annotations

from collections import deque


def new(b):
    return [0, deque([[b, False]]) if b > 0 else deque()]


def _push(lots, amount, tainted):
    if amount <= 0:
        return
    if lots and lots[-1][1] == tainted:
        lots[-1][0] += amount
    else:
        lots.append([amount, tainted])


def deposit(st, b, a, wt, carry):
    lots = st[1]
    if carry is not None:
        for amt, tainted in carry:
            _push(lots, amt, tainted)
    elif wt == a:
        _push(lots, a, True)
    elif wt == 0:
        _push(lots, a, False)
    else:                                   # a partly tainted receipt from a non-lot source
        _push(lots, wt, True)
        _push(lots, a - wt, False)
    st[0] += wt


def _withdraw(st, a, short, front: bool):
    """Take ``a`` from the oldest lots (``front``) or the newest; unseen money (short) is the
    newest. Returns (tainted taken, the pieces taken oldest first, as the receiver queues them)."""
    lots = st[1]
    if short:
        _push(lots, short, False)
    end, pop = (0, lots.popleft) if front else (-1, lots.pop)
    need = a
    taken = []
    wt = 0
    while need and lots:
        lot = lots[end]
        amt, tainted = lot
        if amt <= need:
            pop()
        else:
            lot[0] = amt - need
            amt = need
        need -= amt
        if tainted:
            wt += amt
        if taken and taken[-1][1] == tainted:
            taken[-1][0] += amt
        else:
            taken.append([amt, tainted])
    if not front:
        taken.reverse()
    st[0] -= wt
    return wt, taken


def withdraw_front(st, b, a, short):
    """FIFO: the oldest money leaves first. Unseen money (short) is the newest."""
    return _withdraw(st, a, short, True)


def withdraw_back(st, b, a, short):
    """LIFO: the newest money leaves first. Unseen money (short) is the newest, so it goes first."""
    return _withdraw(st, a, short, False)


def inject(st, b, x):
    """Declare x of the clean money tainted: the newest x of the clean balance is relabelled
    and becomes the newest piece (the holding is treated as having entered at that time)."""
    lots = st[1]
    room = b - st[0]
    if x > room:
        x = room
    if x <= 0:
        return 0
    need = x
    kept = []
    while need and lots:
        amt, tainted = lots.pop()
        if tainted:
            kept.append([amt, tainted])
            continue
        if amt <= need:
            need -= amt
        else:
            kept.append([amt - need, False])
            need = 0
    for amt, tainted in reversed(kept):
        _push(lots, amt, tainted)
    _push(lots, x, True)
    st[0] += x
    return x


def inert(st):
    return st[0] == 0
