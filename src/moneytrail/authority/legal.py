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

ROLES = ("registrar", "auditor", "counsel")

# ids of agencies, officers, grants and cases: 1-64 letters, digits and . _ : / - (no blanks, no
# control characters: an id is printed in audit listings and must not be able to forge a line)
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
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
#
# A source's legal-basis tags say under which legal process the evidence was obtained, and two
# kinds of them restrict who may read it. Tags come from a closed vocabulary: ``KIND`` or
# ``KIND:REFERENCE`` (the subpoena number, the order's docket, ...), KIND one of LEGAL_BASES.
# Anything else is refused with the list: a tag that means federal tax information or
# grand-jury material but is spelled another way ("IRS return information", "F.T.I.", "GJ
# material") must never pass as an ordinary tag and leave the data open.

LEGAL_BASES: dict[str, str] = {
    "subpoena": "produced under a subpoena other than a grand jury's (administrative, trial)",
    "summons": "produced under an administrative summons",
    "grand-jury-6e": "matters occurring before a grand jury (Fed. R. Crim. P. 6(e)): readable only by case "
                     "members on the case's disclosure list",
    "search-warrant": "seized under a search warrant",
    "court-order": "produced under a court order",
    "consent": "produced voluntarily, with the holder's consent",
    "mlat": "received from another country under a mutual legal assistance treaty",
    "public-record": "a public record",
    "synthetic-demo": "synthetic data (the demo and the tests)",
    "fti": "federal tax information (26 U.S.C. 6103) about the taxpayer named after the colon, one tag per "
           "taxpayer (fti:NAME): readable only in a case that records a 6103(i) order or request naming them",
}
PROTECTED_KINDS = ("fti", "grand-jury-6e")
MAX_TAG_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def vocabulary() -> str:
    """The tags moneytrail takes, for error messages and help."""
    return ", ".join(f"{k}[:REFERENCE]" if k != "fti" else "fti:NAME" for k in LEGAL_BASES)


def canonical_tag(tag: str) -> str:
    """The canonical form of a legal-basis tag, or a ValueError naming the vocabulary.

    Unicode compatibility forms are folded first (full-width ``ＦＴＩ`` is ``FTI``), the kind is
    lower-cased, blanks are collapsed; ``fti`` needs its taxpayer (``fti:NAME``)."""
    import unicodedata

    raw = "" if tag is None else str(tag)
    t = " ".join(unicodedata.normalize("NFKC", raw).split())
    if not t:
        raise ValueError("an empty legal-basis tag")
    if len(t) > MAX_TAG_LENGTH:
        raise ValueError(f"legal-basis tag {raw[:40]!r}...: longer than {MAX_TAG_LENGTH} characters")
    if _CONTROL.search(t):
        raise ValueError(f"legal-basis tag {raw[:60]!r} holds a control character")
    kind, sep, ref = t.partition(":")
    kind, ref = kind.strip().lower(), ref.strip()
    if kind not in LEGAL_BASES:
        raise ValueError(f"legal-basis tag {raw[:80]!r} is not one moneytrail knows; use one of: {vocabulary()}")
    if kind == "fti":
        if not ref or is_placeholder(ref):
            raise ValueError(f"legal-basis tag {raw[:80]!r}: federal tax information must name its taxpayer, "
                             f"fti:NAME (one tag per taxpayer)")
        return f"fti:{ref}"
    if sep and (not ref or is_placeholder(ref)):
        raise ValueError(f"legal-basis tag {raw[:80]!r}: give a reference after the colon, or none")
    return f"{kind}:{ref}" if sep else kind


def canonical_tags(tags: Iterable[str]) -> list[str]:
    """Every tag in canonical form, duplicates dropped (ValueError for the first bad one)."""
    return list(dict.fromkeys(canonical_tag(t) for t in tags or ()))


FTI_RE = re.compile(r"(^|[^a-z0-9])fti([^a-z0-9]|$)|6103", re.I)
GRAND_JURY_RE = re.compile(r"grand[\s_-]*jury|6\s*\(\s*e\s*\)|(^|[^a-z0-9])(rule[\s_-]*)?6e([^a-z0-9]|$)", re.I)


def classify_tags(tags: Iterable[str]) -> dict:
    """What a source's legal-basis tags say about protected data.

    - federal tax information: ``fti:NAME`` tags, one per taxpayer the information is about;
    - grand-jury material: ``grand-jury-6e`` (with or without a reference).

    A canonical tag is classified by its kind alone. A tag stored before the vocabulary was
    closed is read broadly, so that nothing once marked protected opens up: one naming FTI or
    6103 is federal tax information, one naming a grand jury or Rule 6(e) grand-jury material.
    """
    import unicodedata

    fti, gj, subjects = False, False, []
    for t in tags or ():
        try:
            c = canonical_tag(t)
        except ValueError:
            c = None
        if c is not None:
            kind, _, ref = c.partition(":")
            if kind == "fti":
                fti = True
                subjects.append(norm_key(ref))
            gj = gj or kind == "grand-jury-6e"
            continue
        t = unicodedata.normalize("NFKC", str(t))
        if FTI_RE.search(t):
            fti = True
            m = re.match(r"\s*fti\s*:(.*)$", t, re.I)
            if m and not is_placeholder(m.group(1)):
                subjects.append(norm_key(m.group(1)))
        if GRAND_JURY_RE.search(t):
            gj = True
    return {"fti": fti, "fti_subjects": sorted(set(subjects)), "grand_jury": gj}
