"""Normalisation of party attributes, written once as DuckDB SQL (with a Python twin).

Entity resolution compares what two records say about a party; before comparing, each value is
brought to one spelling. The rules live here, in one place, as SQL expressions built from this
module's own constants (through :func:`moneytrail.sqlkit.lit`); a value never becomes SQL text.
:func:`install` defines them as temporary macros ``mt_*`` on a DuckDB connection (the workspace's
or a private one), so the same rules run wherever the party records are. Each macro has a Python
twin of the same name without the prefix (``mt_name`` -> :func:`name`) for tests and for
normalising a single value (a search box); ``tests/test_resolve_entities.py`` checks both agree.

Rules (``NULL`` in, ``NULL`` out; a value that normalises to nothing is ``NULL``):

- ``mt_text(s)`` — lower case; letters without a decomposition written out (æ->ae, ø->o,
  ß->ss, ł->l, đ/ð->d, þ->th, œ->oe, ı->i); accents stripped; apostrophes removed
  (O'Brien -> obrien); every run of characters that are neither letters nor digits (any script)
  becomes one space; trimmed.
- ``mt_legal_form(s, kind)`` — the company legal form a name ends with, canonical
  (``Acme Holdings Co., Ltd.`` -> ``co ltd``; ``S.A.`` -> ``sa``; ``Limited`` -> ``ltd``);
  NULL for an individual or when there is none. Unambiguous forms (:data:`STRONG_FORMS`: llc,
  inc, ltd, gmbh, corp, plc, ...) are recognised whatever the kind; forms that are also common
  name words (:data:`WEAK_FORMS`: sa, co, ag, ab, as, bv, nv, oy, ...) only for a business.
- ``mt_name(s, kind)`` — ``mt_text`` without the legal form (the form is kept apart by
  ``mt_legal_form``) and, unless a business, without leading honorifics (mr, mrs, dr, sir, ...).
  A name that is nothing but a form or a title is kept as it is.
- ``mt_name_t``, ``mt_legal_form_t``, ``mt_kind_t`` — the same over text already through
  ``mt_text`` (normalise a column once, derive the rest from it).
- ``mt_name_key(n)`` — the distinct tokens of a normalised name, sorted, joined by a space: word
  order no longer matters (``smith john`` = ``john smith``).
- ``mt_kind(s, kind)`` — ``individual`` or ``business`` when the evidence says so; otherwise
  ``business`` when the name carries an unambiguous legal form; otherwise ``unknown``.
- ``mt_phone(s)`` — digits only; an international number (``+`` or ``00`` prefix) is written
  ``+<digits>``; fewer than 6 digits is NULL.
- ``mt_phone_country(s)`` — the ITU country calling code of an international number (codes are
  prefix-free: 1 and 7, the two-digit codes of :data:`TWO_DIGIT_CODES`, otherwise three digits);
  NULL for a national number.
- ``mt_phone_key(s)`` — the national significant number: an international number without its
  country code, a national one without its trunk ``0``; the same for ``+44 20 7946 0958`` and
  ``020 7946 0958``.
- ``mt_email(s)`` — trimmed, lower case; NULL unless it looks like ``local@domain``.
- ``mt_postcode(s)`` — upper case, punctuation to spaces, one space; a UK postcode written
  without its space gets it (``TQ138DF`` -> ``TQ13 8DF``).
- ``mt_date(s)`` — a date (a DATE, a TIMESTAMP or text in ISO ``YYYY-MM-DD``, ``YYYYMMDD``,
  ``DD.MM.YYYY``, ``DD/MM/YYYY`` (day first) or ``YYYY/MM/DD``) as ISO text ``YYYY-MM-DD``;
  NULL when none applies.
- ``mt_identifier(s)`` — an identifier (tax or registration number, account number, IBAN):
  upper case, letters and digits only (``DE89 3704-0044`` -> ``DE8937040044``).
- ``mt_gender(s)`` — ``m`` or ``f`` for the usual spellings (m, male, man, ...), otherwise
  ``mt_text``.

First names have one more rule, kept as data rather than a macro: :func:`nickname_groups` reads
the vendored list of English given names and their nicknames or diminutives
(``data/nicknames.csv``, carltonnorthern/nicknames, Apache-2.0; ``data/SOURCES.md``) and gives
each listed name its *groups*: itself and every name it is a nickname of (``bill`` -> bill,
robert, will, william, willis). Two first names are variants of one another when their groups
share a name (``bill``/``will``, ``tom``/``thomas``; not ``rob``/``will``).
:func:`first_name_variants` is the Python side; the engine joins the same table
(:func:`nickname_rows`) to the prepared records (``first_name_variants``, NULL for a name the
list does not know).
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import re
import unicodedata
from importlib import resources
from typing import Optional

from moneytrail.sqlkit import lit

# Letters NFKD does not decompose, written out (lower case; applied after lower()).
TRANSLIT: tuple[tuple[str, str], ...] = (
    ("æ", "ae"), ("ø", "o"), ("ß", "ss"), ("ł", "l"), ("đ", "d"), ("ð", "d"), ("þ", "th"),
    ("œ", "oe"), ("ı", "i"),
)
APOSTROPHES = "'’‘`´ʼ"

# canonical legal form -> its spellings, as normalised text (tokens separated by one space)
STRONG_FORMS: dict[str, tuple[str, ...]] = {
    "llc": ("llc", "l l c"),
    "llp": ("llp", "l l p"),
    "lllp": ("lllp",),
    "inc": ("inc", "incorporated"),
    "ltd": ("ltd", "limited"),
    "corp": ("corp", "corporation"),
    "plc": ("plc", "p l c"),
    "gmbh": ("gmbh", "g m b h", "ggmbh"),
    "mbh": ("mbh",),
    "kgaa": ("kgaa",),
    "sarl": ("sarl", "s a r l", "s a r l u", "sarlu"),
    "sas": ("sas", "s a s", "sasu"),
    "srl": ("srl", "s r l"),
    "spa": ("spa", "s p a"),
    "sl": ("s l",),
    "pty": ("pty", "proprietary"),
    "bhd": ("bhd", "sdn bhd", "berhad"),
    "pte": ("pte",),
    "lda": ("lda",),
    "ltda": ("ltda",),
    "sro": ("sro", "s r o"),
    "zrt": ("zrt",), "kft": ("kft",),
    "ooo": ("ooo",), "zao": ("zao",), "pjsc": ("pjsc",), "ojsc": ("ojsc",), "jsc": ("jsc",),
    "ag": ("aktiengesellschaft",),
    "kg": ("kommanditgesellschaft",),
}
WEAK_FORMS: dict[str, tuple[str, ...]] = {
    "co": ("co", "company"),
    "sa": ("sa", "s a"),
    "ag": ("ag",),
    "kg": ("kg",),
    "ab": ("ab",),
    "as": ("as", "a s", "asa"),
    "bv": ("bv", "b v"),
    "nv": ("nv", "n v"),
    "oy": ("oy", "oyj"),
    "lp": ("lp", "l p"),
    "se": ("se",),
    "spa": ("sp a",),
    "sp": ("sp", "sp z o o", "spzoo"),
    "aps": ("aps",),
    "ks": ("ks",),
    "cv": ("cv",),
    "de cv": ("de cv", "s de rl", "s de rl de cv", "sa de cv"),
}
HONORIFICS: tuple[str, ...] = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "rev",
    "herr", "frau", "mme", "mlle", "sr", "sra", "srta", "sig", "sigra",
)
# ITU-T E.164 country calling codes of two digits (1 and 7 are one digit; all others three)
TWO_DIGIT_CODES: tuple[str, ...] = (
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
)
GENDERS: dict[str, tuple[str, ...]] = {
    "m": ("m", "male", "man", "masculine", "mann", "homme", "h", "hombre"),
    "f": ("f", "female", "woman", "feminine", "frau", "femme", "mujer", "w"),
}
DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d")
MIN_PHONE_DIGITS = 6


def _alternation(spellings) -> str:
    """A regex alternation of normalised spellings, longest first (so ``s a r l`` wins over
    ``s a``); each spelling's spaces match one space."""
    return "|".join(re.escape(s).replace("\\ ", " ") for s in sorted(set(spellings), key=(lambda s: (-len(s), s))))


_STRONG_ALT = _alternation(s for v in STRONG_FORMS.values() for s in v)
_ALL_ALT = _alternation(s for d in (STRONG_FORMS, WEAK_FORMS) for v in d.values() for s in v)
# a name, then one or more legal forms at its end (the name keeps at least one token)
_SUFFIX_RE_STRONG = rf"^(.+?)((?: (?:{_STRONG_ALT}))+)$"
_SUFFIX_RE_ALL = rf"^(.+?)((?: (?:{_ALL_ALT}))+)$"
_HONORIFIC_RE = rf"^(?:(?:{_alternation(HONORIFICS)}) )+(.+)$"
_CANONICAL: tuple[tuple[str, str], ...] = tuple(
    sorted(((s, c) for d in (STRONG_FORMS, WEAK_FORMS) for c, v in d.items() for s in v),
           key=lambda sc: (-len(sc[0]), sc[0])))
_UK_COMPACT = r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$"
_BACKREF1 = lit("\\1")
_SPACED = "\\1 \\2"
_CC_RE = rf"^(1|7|{'|'.join(TWO_DIGIT_CODES)}|[0-9]{{3}})"
_EMAIL_RE = r"^[^@\s]+@[^@\s]+$"
_NON_WORD_RE = r"[^\pL\pN]+"     # RE2: any run of what is neither a letter nor a digit


# ---------------------------------------------------------------------------------------------
# SQL: each function takes SQL the code wrote (a column reference or a macro parameter) and
# returns an expression; only this module's constants are added, through lit().

def text_sql(x: str) -> str:
    e = f"lower(CAST({x} AS VARCHAR))"
    for a, b in TRANSLIT:
        e = f"replace({e}, {lit(a)}, {lit(b)})"
    e = f"strip_accents({e})"
    e = f"regexp_replace({e}, {lit('[' + APOSTROPHES + ']')}, '', 'g')"
    e = f"regexp_replace({e}, {lit(_NON_WORD_RE)}, ' ', 'g')"
    return f"NULLIF(trim({e}), '')"


def _by_kind(kind: str, build) -> str:
    """``build(pattern)`` with the pattern for ``kind``: the patterns stay constants (a pattern
    chosen per row would be compiled per row)."""
    return (f"(CASE WHEN {kind} = 'business' THEN {build(lit(_SUFFIX_RE_ALL))} "
            f"ELSE {build(lit(_SUFFIX_RE_STRONG))} END)")


def legal_form_t_sql(t: str, kind: str = "NULL") -> str:
    """``legal_form_sql`` over text already normalised by ``text_sql``."""
    raw = f"NULLIF(trim({_by_kind(kind, lambda pat: f'regexp_extract({t}, {pat}, 2)')}), '')"
    # canonical spelling of each form in the suffix: whole tokens only
    e = f"(' ' || {raw} || ' ')"
    for spelling, canon in _CANONICAL:
        if spelling != canon:
            e = f"replace({e}, {lit(' ' + spelling + ' ')}, {lit(' ' + canon + ' ')})"
    return f"(CASE WHEN coalesce({kind}, '') = 'individual' THEN NULL ELSE NULLIF(trim({e}), '') END)"


def legal_form_sql(x: str, kind: str = "NULL") -> str:
    return legal_form_t_sql(text_sql(x), kind)


def name_t_sql(t: str, kind: str = "NULL") -> str:
    """``name_sql`` over text already normalised by ``text_sql``."""
    k = f"coalesce({kind}, '')"
    no_form = f"(CASE WHEN {k} = 'individual' THEN {t} ELSE {_by_kind(kind, lambda pat: f'regexp_replace({t}, {pat}, {_BACKREF1})')} END)"
    return f"(CASE WHEN {k} = 'business' THEN {no_form} ELSE regexp_replace({no_form}, {lit(_HONORIFIC_RE)}, {_BACKREF1}) END)"


def name_sql(x: str, kind: str = "NULL") -> str:
    return name_t_sql(text_sql(x), kind)


def name_key_sql(n: str) -> str:
    return f"NULLIF(array_to_string(list_sort(list_distinct(string_split({n}, ' '))), ' '), '')"


def kind_t_sql(t: str, kind: str = "NULL") -> str:
    """``kind_sql`` over text already normalised by ``text_sql``."""
    k = f"lower(trim(CAST({kind} AS VARCHAR)))"
    return (f"(CASE WHEN {k} IN ('individual', 'business') THEN {k} "
            f"WHEN regexp_matches(coalesce({t}, ''), {lit(_SUFFIX_RE_STRONG)}) THEN 'business' "
            f"ELSE 'unknown' END)")


def kind_sql(x: str, kind: str = "NULL") -> str:
    return kind_t_sql(text_sql(x), kind)


def _phone_digits_sql(x: str) -> str:
    s = f"trim(CAST({x} AS VARCHAR))"
    d = f"regexp_replace({s}, '[^0-9]', '', 'g')"
    intl = f"(starts_with({s}, '+') OR starts_with({d}, '00'))"
    dd = f"(CASE WHEN starts_with({s}, '+') THEN {d} ELSE regexp_replace({d}, '^00', '') END)"
    return intl, dd


def phone_sql(x: str) -> str:
    intl, dd = _phone_digits_sql(x)
    return (f"(CASE WHEN length({dd}) < {lit(MIN_PHONE_DIGITS)} THEN NULL "
            f"WHEN {intl} THEN '+' || {dd} ELSE {dd} END)")


def phone_country_sql(x: str) -> str:
    intl, dd = _phone_digits_sql(x)
    return (f"(CASE WHEN length({dd}) < {lit(MIN_PHONE_DIGITS)} OR NOT {intl} THEN NULL "
            f"ELSE NULLIF(regexp_extract({dd}, {lit(_CC_RE)}, 1), '') END)")


def phone_key_sql(x: str) -> str:
    intl, dd = _phone_digits_sql(x)
    return (f"(CASE WHEN length({dd}) < {lit(MIN_PHONE_DIGITS)} THEN NULL "
            f"WHEN {intl} THEN regexp_replace({dd}, {lit(_CC_RE)}, '') "
            f"ELSE regexp_replace({dd}, '^0', '') END)")


def email_sql(x: str) -> str:
    e = f"lower(trim(CAST({x} AS VARCHAR)))"
    return f"(CASE WHEN regexp_matches({e}, {lit(_EMAIL_RE)}) THEN {e} END)"


def postcode_sql(x: str) -> str:
    u = f"trim(regexp_replace(upper(CAST({x} AS VARCHAR)), '[^A-Z0-9]+', ' ', 'g'))"
    return f"NULLIF(regexp_replace({u}, {lit(_UK_COMPACT)}, {lit(_SPACED)}), '')"


def date_sql(x: str) -> str:
    s = f"trim(CAST({x} AS VARCHAR))"
    head = f"(CASE WHEN regexp_matches({s}, '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}[ T]') THEN split_part(replace({s}, 'T', ' '), ' ', 1) ELSE {s} END)"
    tries = ", ".join(f"try_strptime({head}, {lit(f)})" for f in DATE_FORMATS)
    return f"strftime(CAST(coalesce({tries}) AS DATE), '%Y-%m-%d')"


def identifier_sql(x: str) -> str:
    return f"NULLIF(regexp_replace(upper(strip_accents(CAST({x} AS VARCHAR))), '[^A-Z0-9]', '', 'g'), '')"


def gender_sql(x: str) -> str:
    t = text_sql(x)
    cases = " ".join(f"WHEN {t} IN ({', '.join(lit(s) for s in v)}) THEN {lit(k)}" for k, v in GENDERS.items())
    return f"(CASE {cases} ELSE {t} END)"


# macro name -> (parameters, builder)
MACROS: dict[str, tuple[tuple[str, ...], object]] = {
    "mt_text": (("s",), text_sql),
    "mt_legal_form": (("s", "kind"), legal_form_sql),
    "mt_legal_form_t": (("t", "kind"), legal_form_t_sql),
    "mt_name": (("s", "kind"), name_sql),
    "mt_name_t": (("t", "kind"), name_t_sql),
    "mt_name_key": (("n",), name_key_sql),
    "mt_kind": (("s", "kind"), kind_sql),
    "mt_kind_t": (("t", "kind"), kind_t_sql),
    "mt_phone": (("s",), phone_sql),
    "mt_phone_country": (("s",), phone_country_sql),
    "mt_phone_key": (("s",), phone_key_sql),
    "mt_email": (("s",), email_sql),
    "mt_postcode": (("s",), postcode_sql),
    "mt_date": (("s",), date_sql),
    "mt_identifier": (("s",), identifier_sql),
    "mt_gender": (("s",), gender_sql),
}


def macro_sql() -> list[str]:
    """The ``CREATE OR REPLACE TEMP MACRO`` statements (constants only)."""
    out = []
    for name, (params, build) in MACROS.items():
        out.append(f"CREATE OR REPLACE TEMP MACRO {name}({', '.join(params)}) AS {build(*params)}")
    return out


def install(con) -> None:
    """Define the ``mt_*`` macros on a DuckDB connection (temporary: they live as long as it)."""
    for stmt in macro_sql():
        con.execute(stmt)


# ---------------------------------------------------------------------------------------------
# Python twins (same rules; tests check they agree with the SQL on the same values)

def _none(s: Optional[str]) -> Optional[str]:
    return s if s else None


def text(s) -> Optional[str]:
    if s is None:
        return None
    t = str(s).lower()
    for a, b in TRANSLIT:
        t = t.replace(a, b)
    t = "".join(c for c in unicodedata.normalize("NFD", t) if not unicodedata.combining(c))
    t = re.sub("[" + re.escape(APOSTROPHES) + "]", "", t)
    t = re.sub(r"[^\w]+|_+", " ", t)
    return _none(re.sub(" +", " ", t).strip())


def _kind(kind) -> str:
    return "" if kind is None else str(kind)


def legal_form(s, kind=None) -> Optional[str]:
    t = text(s)
    if t is None or _kind(kind) == "individual":
        return None
    m = re.match(_SUFFIX_RE_ALL if _kind(kind) == "business" else _SUFFIX_RE_STRONG, t)
    if not m:
        return None
    e = " " + m.group(2).strip() + " "
    for spelling, canon in _CANONICAL:
        if spelling != canon:
            e = e.replace(" " + spelling + " ", " " + canon + " ")
    return _none(e.strip())


def name(s, kind=None) -> Optional[str]:
    t = text(s)
    if t is None:
        return None
    k = _kind(kind)
    if k != "individual":
        t = re.sub(_SUFFIX_RE_ALL if k == "business" else _SUFFIX_RE_STRONG, r"\1", t)
    if k != "business":
        t = re.sub(_HONORIFIC_RE, r"\1", t)
    return t


def name_key(n) -> Optional[str]:
    if n is None:
        return None
    return _none(" ".join(sorted(set(str(n).split(" ")) - {""})))


def kind(s, kind=None) -> str:
    k = (str(kind).strip().lower()) if kind is not None else ""
    if k in ("individual", "business"):
        return k
    return "business" if re.match(_SUFFIX_RE_STRONG, text(s) or "") else "unknown"


def _phone_parts(s):
    s = str(s).strip()
    d = re.sub("[^0-9]", "", s)
    intl = s.startswith("+") or d.startswith("00")
    if not s.startswith("+"):
        d = re.sub("^00", "", d)
    return intl, d


def phone(s) -> Optional[str]:
    if s is None:
        return None
    intl, d = _phone_parts(s)
    if len(d) < MIN_PHONE_DIGITS:
        return None
    return "+" + d if intl else d


def phone_country(s) -> Optional[str]:
    if s is None:
        return None
    intl, d = _phone_parts(s)
    if len(d) < MIN_PHONE_DIGITS or not intl:
        return None
    m = re.match(_CC_RE, d)
    return m.group(1) if m else None


def phone_key(s) -> Optional[str]:
    if s is None:
        return None
    intl, d = _phone_parts(s)
    if len(d) < MIN_PHONE_DIGITS:
        return None
    return re.sub(_CC_RE, "", d, count=1) if intl else re.sub("^0", "", d, count=1)


def email(s) -> Optional[str]:
    if s is None:
        return None
    e = str(s).strip().lower()
    return e if re.match(_EMAIL_RE, e) else None


def postcode(s) -> Optional[str]:
    if s is None:
        return None
    u = re.sub("[^A-Z0-9]+", " ", str(s).upper()).strip()
    return _none(re.sub(_UK_COMPACT, r"\1 \2", u))


def date(s) -> Optional[str]:
    if s is None:
        return None
    if isinstance(s, _dt.datetime):
        return s.date().isoformat()
    if isinstance(s, _dt.date):
        return s.isoformat()
    t = str(s).strip()
    if re.match(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[ T]", t):
        t = t.replace("T", " ").split(" ")[0]
    for f in DATE_FORMATS:
        try:
            return _dt.datetime.strptime(t, f).date().isoformat()
        except ValueError:
            continue
    return None


def identifier(s) -> Optional[str]:
    if s is None:
        return None
    u = "".join(c for c in unicodedata.normalize("NFD", str(s).upper()) if not unicodedata.combining(c))
    return _none(re.sub("[^A-Z0-9]", "", u))


def gender(s) -> Optional[str]:
    t = text(s)
    for k, v in GENDERS.items():
        if t in v:
            return k
    return t


# ---------------------------------------------------------------------------------------------
# first names: nicknames and diminutives (a vendored public list, see data/SOURCES.md)

NICKNAMES_FILE = "nicknames.csv"


@functools.lru_cache(maxsize=1)
def nickname_groups() -> dict[str, tuple[str, ...]]:
    """Each first name of the vendored list (``data/nicknames.csv``: ``name1,has_nickname,name2``
    triples, carltonnorthern/nicknames, Apache-2.0), normalised by :func:`text`, -> the sorted
    formal names it belongs to: itself and every name it is a nickname of (``bill`` ->
    ``("bill", "robert", "william")``). Two first names are *variants* when their groups share a
    name (``bill``/``will`` share ``william``; ``rob``/``will`` share none)."""
    groups: dict[str, set[str]] = {}
    with resources.files("moneytrail.resolve").joinpath("data", NICKNAMES_FILE).open(
            "r", encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if len(row) != 3 or row[1].strip() != "has_nickname":
                continue
            formal, nick = text(row[0]), text(row[2])
            if not formal or not nick or " " in formal or " " in nick or formal == nick:
                continue
            groups.setdefault(formal, {formal}).add(formal)
            groups.setdefault(nick, {nick}).add(formal)
    return {k: tuple(sorted(v)) for k, v in sorted(groups.items())}


def first_name_variants(first) -> Optional[list[str]]:
    """The groups of a first name already normalised by :func:`name` (``[first]`` itself when
    the list does not know it); NULL in, NULL out. The SQL side joins the same table
    (:func:`nickname_rows`)."""
    if first is None:
        return None
    return list(nickname_groups().get(str(first), (str(first),)))


def nickname_rows() -> list[tuple[str, list[str]]]:
    """``(name, groups)`` rows of :func:`nickname_groups` for a table to join on."""
    return [(k, list(v)) for k, v in nickname_groups().items()]
