"""Shared by the authority tests: the fields of a complete, currently valid deputization grant, and
a grant taken through its whole life (recorded, approved by its deputizing official, activated)."""

from __future__ import annotations

import datetime as dt

from moneytrail.demo import DEMO_JURISDICTION as JUR
from moneytrail.demo import DEMO_REGISTRAR, DEMO_SAC

TODAY = dt.datetime.now(dt.timezone.utc).date()
DAY = dt.timedelta(days=1)


def grant_fields(**over):
    """Every required field of a grant for the demo jurisdiction, valid from yesterday for 30 days
    with training current for 20; ``over`` replaces any of them."""
    f = dict(deputizing_official=DEMO_SAC, deputizing_agency="TF-LEAD",
             consent_official="Chief S. Poe", consent_date=TODAY - DAY, statute="8 U.S.C. 1103(a)(6)",
             functions=["illegal-hiring-finance", "human-trafficking-finance"], jurisdictions=[JUR],
             valid_from=TODAY - DAY, valid_until=TODAY + 30 * DAY, training_course="Financial investigations",
             training_date=TODAY - 2 * DAY, training_expires=TODAY + 20 * DAY)
    f.update(over)
    return f


def deputize(ws, grant: str, officer: str, *, registrar: str = DEMO_REGISTRAR, **over):
    """Record grant ``grant`` for ``officer`` (fields from :func:`grant_fields`), have its deputizing
    official approve it and the registrar activate it; returns the activation's decision."""
    from moneytrail.authority.registry import activate_grant, add_grant, approve_grant

    fields = grant_fields(**over)
    add_grant(ws, registrar, grant, officer, **fields)
    approve_grant(ws, fields["deputizing_official"], grant)
    return activate_grant(ws, registrar, grant)
