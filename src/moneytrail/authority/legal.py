"""The legal vocabulary as data: deputization functions, legal-basis tags, what counts as filled in.

Functions a grant may record (issue 6). Only the financial-investigation ones authorize anything
in moneytrail; the others may be recorded (a grant says what it says) but unlock nothing, and
no case can be opened under them.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Iterable

FINANCIAL_FUNCTIONS = (
    "task-force-support",
    "illegal-hiring-finance",
    "human-trafficking-finance",
    "asset-seizure",
    "contract-oversight",
)
NON_FINANCIAL_FUNCTIONS = (
    "apprehension-support",
    "monitoring",
    "detention-support",
    "removal-support",
)
FUNCTIONS = FINANCIAL_FUNCTIONS + NON_FINANCIAL_FUNCTIONS

ROLES = ("registrar", "auditor")
AGENCY_KINDS = ("federal", "state", "local", "tribal", "other")

# at most this many named subjects in one 26 U.S.C. 6103(i) authority: more is a bulk list
MAX_FTI_SUBJECTS = 10

FTI_KINDS = ("6103(i)(1)", "6103(i)(2)")

_PLACEHOLDERS = {
    "unknown", "unk", "n/a", "na", "n.a.", "none", "null", "nil", "tbd", "tba", "todo", "pending",
    "not applicable", "not available", "unspecified", "various", "any", "all", "everyone", "anyone",
    "all taxpayers", "all subjects", "test", "placeholder", "redacted", "same", "see above", "?",
}


def function_id(value: str) -> str:
    """'Human-trafficking finance' -> 'human-trafficking-finance'."""
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def is_placeholder(value) -> bool:
    """Empty, 'unknown', 'n/a', zeros, a run of one filler character, a wildcard: not a value."""
    if value is None:
        return True
    s = str(value).strip()
    if not s:
        return True
    low = s.lower()
    if low in _PLACEHOLDERS:
        return True
    if re.fullmatch(r"[0\W_]+", low):          # 0, 000, 0000-00-00, 00/00/0000, ---, ***, ...
        return True
    if re.fullmatch(r"(.)\1*", low) and len(low) > 1 and not low.isalpha():
        return True
    if re.fullmatch(r"x+", low):
        return True
    if "*" in s or "%" in s:                    # wildcards name nobody in particular
        return True
    return False


def norm_key(value: str) -> str:
    """How jurisdictions and subjects are compared: case- and spacing-insensitive."""
    return " ".join(str(value).split()).casefold()


def parse_date(value, what: str) -> _dt.date:
    """An ISO date (YYYY-MM-DD), or a ValueError naming ``what``."""
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    s = "" if value is None else str(value).strip()
    if is_placeholder(s):
        raise ValueError(f"{what}: {s!r} is not a date")
    try:
        d = _dt.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{what}: {s!r} is not a date (YYYY-MM-DD)") from None
    if d.year < 1900:
        raise ValueError(f"{what}: {s!r} is not a plausible date")
    return d


# -- legal-basis tags on sources ---------------------------------------------------------------

FTI_RE = re.compile(r"(^|[^a-z0-9])fti([^a-z0-9]|$)|6103", re.I)
GRAND_JURY_RE = re.compile(r"grand[\s_-]*jury|6\s*\(\s*e\s*\)|(^|[^a-z0-9])(rule[\s_-]*)?6e([^a-z0-9]|$)", re.I)


def classify_tags(tags: Iterable[str]) -> dict:
    """What a source's legal-basis tags say about protected data.

    - federal tax information: any tag naming FTI or 6103 (``fti``, ``26 U.S.C. 6103``, ...);
      its subjects are the ``fti:NAME`` tags (one per taxpayer the information is about);
    - grand-jury material: any tag naming a grand jury or Rule 6(e) (``grand-jury-6e``, ...).

    Recognition is deliberately broad: a tag that might mean FTI is treated as FTI.
    """
    fti, gj, subjects = False, False, []
    for t in tags or ():
        t = str(t)
        if FTI_RE.search(t):
            fti = True
            m = re.match(r"\s*fti\s*:(.*)$", t, re.I)
            if m and not is_placeholder(m.group(1)):
                subjects.append(norm_key(m.group(1)))
        if GRAND_JURY_RE.search(t):
            gj = True
    return {"fti": fti, "fti_subjects": sorted(set(subjects)), "grand_jury": gj}
