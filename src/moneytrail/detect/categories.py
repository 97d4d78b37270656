"""Counterparty and purpose categories, and the account facts the flow/trafficking typologies share.

The categories are data (``categories.yaml`` beside this module): for each category, NAICS code
prefixes and words matched on an account's KYC record, patterns matched on its owner name, and
patterns matched on a transaction's description. This module turns them into SQL expressions
(DuckDB dialect, RE2 patterns) that the typologies embed in their one query, so classification
runs inside the backend, never as a Python loop over transactions.

* :func:`account_cte` — ``acct``: one row per account in ``accounts`` with its KYC kind, whether it
  is a business, its surname (for individuals), normalised address and phone, and category.
* :func:`classified_edges_cte` — ``ce``: ``edges`` joined to the transaction description with
  ``cat_out`` (what the payer paid for: the purpose, else the payee's category) and ``cat_in``
  (what the payee was paid for: the purpose, else the payer's category).

Precedence: when the description and the counterparty give different categories, the one listed
first in the YAML wins (e.g. ``commercial_rent`` before ``rent``, ``lodging`` before ``rent``).
:func:`classify` does the same in Python, for tests and for the catalogue documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from moneytrail.backends.dialect import Dialect
from moneytrail.sqlkit import lit


@dataclass(frozen=True)
class Category:
    name: str
    title: str
    naics: tuple[str, ...] = ()
    kyc: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    description: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    categories: tuple[Category, ...]
    business_names: tuple[str, ...]

    @property
    def order(self) -> list[str]:
        return [c.name for c in self.categories]

    def get(self, name: str) -> Category:
        for c in self.categories:
            if c.name == name:
                return c
        raise KeyError(name)


@lru_cache(maxsize=1)
def load() -> Catalogue:
    data = yaml.safe_load(resources.files("moneytrail.detect").joinpath("categories.yaml")
                          .read_text(encoding="utf-8"))
    cats = []
    for name, spec in data["categories"].items():
        cats.append(Category(name=name, title=spec.get("title", name),
                             naics=tuple(str(x) for x in spec.get("naics", ())),
                             kyc=tuple(spec.get("kyc", ())), names=tuple(spec.get("name", ())),
                             description=tuple(spec.get("description", ())),
                             exclude=tuple(spec.get("exclude", ()))))
    for c in cats:  # fail at load, not in the middle of a detect run
        for p in (*c.kyc, *c.names, *c.description, *c.exclude):
            re.compile(p)
    return Catalogue(tuple(cats), tuple(data.get("business_names", ())))


# -- SQL building blocks ----------------------------------------------------------------------

def _rx(patterns: tuple[str, ...]) -> str | None:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _match(expr: str, patterns: tuple[str, ...]) -> str | None:
    rx = _rx(patterns)
    return f"regexp_matches({expr}, {lit(rx)})" if rx else None


def _case(whens: list[tuple[str, str]]) -> str:
    if not whens:
        return "CAST(NULL AS VARCHAR)"
    return "CASE " + " ".join(f"WHEN {c} THEN {lit(v)}" for c, v in whens) + " END"


def description_category_sql(desc: str) -> str:
    """Category of a payment's purpose from its description (``desc`` is any text expression)."""
    d = f"upper(coalesce({desc}, ''))"
    whens = []
    for c in load().categories:
        m = _match(d, c.description)
        if m is None:
            continue
        x = _match(d, c.exclude)
        whens.append((f"{m} AND NOT {x}" if x else m, c.name))
    return _case(whens)


def account_category_sql(naics: str, kyc: str, name: str) -> str:
    """Category of an account: its KYC NAICS code, else its KYC category text, else its name."""
    parts = []
    n = f"regexp_replace(coalesce({naics}, ''), '[^0-9]', '', 'g')"
    parts.append(_case([(" OR ".join(f"starts_with({n}, {lit(p)})" for p in c.naics), c.name)
                        for c in load().categories if c.naics]))
    k = f"upper(coalesce({kyc}, ''))"
    parts.append(_case([(_match(k, c.kyc), c.name) for c in load().categories if c.kyc]))
    nm = f"upper(coalesce({name}, ''))"
    parts.append(_case([(_match(nm, c.names), c.name) for c in load().categories if c.names]))
    return f"coalesce({', '.join(parts)})"


def order_sql() -> str:
    return lit(load().order)


def first_of_sql(a: str, b: str, d: Dialect) -> str:
    """Whichever of two category expressions comes first in the catalogue (NULL = none)."""
    o = order_sql()
    return (f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL THEN {a} "
            f"WHEN {d.list_position(o, a)} <= {d.list_position(o, b)} THEN {a} ELSE {b} END")


def business_name_sql(name: str) -> str:
    rx = _rx(load().business_names)
    return f"regexp_matches(upper(coalesce({name}, '')), {lit(rx)})" if rx else "false"


_SPACES = r"\s+"
_SUFFIX = r"[ ,]+(JR|SR|II|III|IV)\.?$"


def surname_sql(name: str) -> str:
    """An individual's family name: the part before a comma ('LOPEZ, MARIA'), else the last word
    (suffixes such as JR/III dropped)."""
    n = f"upper(trim(regexp_replace(coalesce({name}, ''), {lit(_SPACES)}, ' ', 'g')))"
    last = f"regexp_extract(regexp_replace({n}, {lit(_SUFFIX)}, ''), '([^ ]+)$', 1)"
    return (f"nullif(regexp_replace(CASE WHEN contains({n}, ',') THEN split_part({n}, ',', 1) "
            f"ELSE {last} END, '[^A-Z0-9-]', '', 'g'), '')")


def account_cte() -> str:
    """``acct``: per account (as in ``accounts``; resolved ids equal raw ids under the identity
    rule, as for ``nodes``): kind from KYC, is_business, surname, address_norm, phone_norm, category."""
    attr = "a.attributes"
    kind = "CASE WHEN lower(a.kind) IN ('individual', 'business') THEN lower(a.kind) END"
    cat = account_category_sql(f"json_extract_string({attr}, '$.naics')",
                               f"json_extract_string({attr}, '$.category')", "a.owner_name")
    return f"""acct AS (
        SELECT a.account_id, a.owner_name, {kind} AS kyc_kind,
               coalesce({kind} = 'business', {business_name_sql('a.owner_name')}) AS is_business,
               {surname_sql('a.owner_name')} AS surname,
               nullif(json_extract_string({attr}, '$.address_norm'), '') AS address_norm,
               nullif(json_extract_string({attr}, '$.phone_norm'), '') AS phone_norm,
               {cat} AS category
        FROM accounts a
        WHERE coalesce(a.kind, '') NOT IN ('cash', 'external')
    )"""


def classified_edges_cte(d: Dialect, acct: str = "acct") -> str:
    """``ce``: every edge with its description, ``cat_out`` (the payer's view) and ``cat_in``
    (the payee's view). Needs the ``acct`` CTE. Descriptions are classified once per distinct
    text (statements repeat them), then joined back."""
    dcat = description_category_sql("description")
    return f"""dcats AS (
        SELECT description, {dcat} AS dcat
        FROM (SELECT DISTINCT description FROM transactions WHERE description IS NOT NULL)
    ), ce0 AS (
        SELECT e.*, t.description, dc.dcat, s.category AS src_cat, d.category AS dst_cat
        FROM edges e JOIN transactions t ON t.tx_id = e.tx_id
        LEFT JOIN dcats dc ON dc.description = t.description
        LEFT JOIN {acct} s ON s.account_id = e.src
        LEFT JOIN {acct} d ON d.account_id = e.dst
    ), ce AS (
        SELECT *, {first_of_sql('dcat', 'dst_cat', d)} AS cat_out, {first_of_sql('dcat', 'src_cat', d)} AS cat_in
        FROM ce0
    )"""


# -- Python mirror (tests, documentation) ------------------------------------------------------

def _py_first(text: str, pats: tuple[str, ...]) -> bool:
    return any(re.search(p, text) for p in pats)


def account_category(naics: str | None = None, kyc: str | None = None, name: str | None = None) -> str | None:
    cats = load().categories
    digits = re.sub(r"[^0-9]", "", naics or "")
    for c in cats:
        if c.naics and any(digits.startswith(p) for p in c.naics):
            return c.name
    for c in cats:
        if c.kyc and _py_first((kyc or "").upper(), c.kyc):
            return c.name
    for c in cats:
        if c.names and _py_first((name or "").upper(), c.names):
            return c.name
    return None


def description_category(desc: str | None) -> str | None:
    d = (desc or "").upper()
    for c in load().categories:
        if c.description and _py_first(d, c.description) and not (c.exclude and _py_first(d, c.exclude)):
            return c.name
    return None


def classify(description: str | None = None, *, naics: str | None = None, kyc: str | None = None,
             name: str | None = None) -> str | None:
    """Category of a payment (description) to a counterparty (naics/kyc/name), as the SQL does."""
    a, b = description_category(description), account_category(naics, kyc, name)
    if a is None or b is None:
        return a or b
    order = load().order
    return a if order.index(a) <= order.index(b) else b
