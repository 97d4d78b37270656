"""Shared by the authority tests: the fields of a complete, currently valid deputization grant."""

from __future__ import annotations

import datetime as dt

from moneytrail.demo import DEMO_JURISDICTION as JUR

TODAY = dt.datetime.now(dt.timezone.utc).date()
DAY = dt.timedelta(days=1)


def grant_fields(**over):
    """Every required field of a grant for the demo jurisdiction, valid from yesterday for 30 days
    with training current for 20; ``over`` replaces any of them."""
    f = dict(deputizing_official="Special Agent in Charge R. Roe", deputizing_agency="TF-LEAD",
             consent_official="Chief S. Poe", consent_date=TODAY - DAY, statute="8 U.S.C. 1103(a)(6)",
             functions=["illegal-hiring-finance", "human-trafficking-finance"], jurisdictions=[JUR],
             valid_from=TODAY - DAY, valid_until=TODAY + 30 * DAY, training_course="Financial investigations",
             training_date=TODAY - 2 * DAY, training_expires=TODAY + 20 * DAY)
    f.update(over)
    return f
