"""Entity resolution of parties: which party records are the same person or company (Splink).

:func:`resolve_parties` takes a DuckDB table of party records in the standard vocabulary
(:data:`STANDARD_COLUMNS`: ``record_id`` and any of the others), normalises them with the
``mt_*`` macros of :mod:`moneytrail.resolve.normalize` in that connection, and hands the
normalised rows (as Arrow) to Splink on a private in-memory DuckDB connection, so Splink's
working tables never reach the workspace. Nothing is looked up outside the records given.

**The model is chosen by the columns present** (a column counts when it has at least one value),
never by a data set's size, ids or values; :func:`plan` is that choice and is recorded in
:attr:`Resolution.settings`:

- names: ``first_name`` and ``surname`` -> a comparison on each: exact (term-frequency
  adjusted: a common name counts for less), Jaro-Winkler >= 0.92; for the first name, a
  nickname or diminutive of the other (their ``first_name_variants`` share a formal name, from
  the vendored list, :func:`moneytrail.resolve.normalize.nickname_groups`: bill/william,
  tom/thomas); the name written in the other name's place
  (first name and surname swapped, or a lone name in the other field while that field is empty
  or swapped back: one shared word alone, ``isaac james`` / ``james dixon``, is not a swap);
  when the evidence has middle names (``full_name`` beside the two, ``middle_names`` = its words
  that are neither), the name being the other's middle name; then Jaro-Winkler >= 0.88 / 0.7;
  with only ``full_name`` (or ``name_key``) -> a name comparison on the normalised
  name: exact on the sorted-token key, Jaro-Winkler on the key >= 0.92 / 0.8, token Jaccard
  >= 0.5; legal suffixes are dropped and the company form compared apart (``legal_form``);
- ``dob`` -> exact (term-frequency adjusted: a date many records share, such as a year written as
  1 January, counts for less), day and month transposed, one edit, <= 1 month, <= 1 year,
  <= 10 years;
- ``email`` -> ``EmailComparison``; ``postcode`` -> ``PostcodeComparison`` (full, sector,
  district, area); ``phone`` -> exact on the national number; ``identifiers`` -> at least one
  shared identifier (``ArrayIntersectAtSizes``); ``city`` -> exact (term-frequency adjusted) or
  Jaro-Winkler >= 0.88; ``address`` -> Jaro-Winkler >= 0.9 / 0.8; ``gender`` and ``occupation``
  -> exact (occupation term-frequency adjusted);
- blocking (pairs considered: the union of the rules whose columns are present): the names
  together, the first three letters of the first name with the first four of the surname, each
  name with the date of birth, with the postcode and with the city, the date of birth with the
  city and with the postcode, and alone each of email, phone, identifier (one shared value) and
  the name key; a record of kind ``individual`` is never paired with a ``business``.

**Training is unsupervised and seeded** (same input, same output): ``u`` by random sampling of
pairs (:data:`U_MAX_PAIRS`, seed :data:`DEFAULT_SEED`), then ``m`` and the prior (λ, the
probability that two random records match) by expectation maximisation over several blocking
passes (names; date of birth; one more identifying field), then λ by expectation maximisation
over every compared pair with m and u fixed (λ = Σ P(match | pair, λ) / all pairs, iterated to
its fixed point; pairs no blocking rule produced count as non-matches). No labels. A training
pass that finds no pair (a small input) is skipped; ``settings["training"]`` lists the passes run.

**Which pairs are compared**: every pair when there are at most :data:`EXHAUSTIVE_PAIRS`;
otherwise the blocking rules below, plus single-column rules (:data:`BROAD_BLOCKING`, in order)
while the pairs they add fit in half the pair budget ``max(EXHAUSTIVE_PAIRS, PAIRS_PER_RECORD *
records)``. The same rule for every input; the rules chosen are in ``settings["blocking"]``.

**Thresholds** are match probabilities: a pair at or above ``upper`` (default
:data:`DEFAULT_UPPER` = 0.96, a match weight of about +4.6) merges; a pair at or above ``lower``
(default :data:`DEFAULT_LOWER` = 0.50, weight 0) and below ``upper`` is for review; below
``lower`` nothing is kept.

**Clusters** are built by average-linkage agglomeration over the scored pairs (as dedupe does),
not as connected components: from single records, the two clusters with the highest average
match probability over all their record pairs (a pair not compared, or below
:data:`CLUSTER_FLOOR`, counts as 0) join, while that average is at least
:data:`CLUSTER_MIN_AVERAGE` (0.2) and at least one pair between them reaches ``upper``. A
single strong pair no longer chains two groups that otherwise disagree. A pair's ``decision``
is ``merge`` when it reaches ``upper`` and its records ended in one cluster; a pair at or above
``upper`` whose clusters the average kept apart is for ``review``. (:func:`cluster_pairs`;
ties go to the smaller record ids, so the same input gives the same clusters.)

Each kept pair carries its match weight and probability and, per comparison, the level reached,
its gamma and its weight; :func:`explain_pair` turns that into words: "first name agreed
(jaro-winkler ≥ 0.92, +4.1), date of birth exact (+7.9), city differed (−1.2)".
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from moneytrail.resolve import normalize
from moneytrail.sqlkit import harden, ident, lit

STANDARD_COLUMNS: tuple[str, ...] = (
    "record_id", "full_name", "first_name", "surname", "name_key", "kind", "dob", "city",
    "postcode", "address", "email", "phone", "identifiers", "gender", "occupation",
)
DEFAULT_UPPER = 0.96
DEFAULT_LOWER = 0.50
DEFAULT_SEED = 42
U_MAX_PAIRS = 5e6
EM_MAX_ITERATIONS = 25
# all pairs are compared when there are at most EXHAUSTIVE_PAIRS; otherwise the precise rules
# plus single-column rules (BROAD_BLOCKING, in order) while their pairs fit in half the budget,
# max(EXHAUSTIVE_PAIRS, PAIRS_PER_RECORD * n) (the other half is the precise rules')
EXHAUSTIVE_PAIRS = 1_000_000
PAIRS_PER_RECORD = 40
# clusters: two clusters join when a pair between them reaches the upper threshold and the
# average match probability over all their record pairs is at least CLUSTER_MIN_AVERAGE
# (pairs below CLUSTER_FLOOR, or not compared, count as 0); see cluster_pairs
CLUSTER_MIN_AVERAGE = 0.2
CLUSTER_FLOOR = 0.01
BROAD_BLOCKING = ("surname", "dob", "email", "phone", "first_name", "postcode", "name_key")
EXPLODED = ("identifiers", "name_tokens")   # list columns: a blocking rule on one pairs records sharing a value
VARIANTS = "first_name_variants"   # a first name's nickname groups as numbers (normalize.nickname_groups); NULL: not listed
KIND_GUARD = "(l.kind = r.kind OR l.kind = 'unknown' OR r.kind = 'unknown')"   # an individual is never paired with a business

# what each comparison is called in explanations
LABELS: dict[str, str] = {
    "first_name": "first name", "surname": "surname", "name": "name", "name_key": "name", "legal_form": "company form",
    "dob": "date of birth", "email": "email", "postcode": "postcode", "phone": "phone",
    "identifiers": "identifier", "city": "city", "address": "address", "gender": "gender",
    "occupation": "occupation",
}


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve_parties` found.

    - ``pairs``: pyarrow Table, one row per pair with ``match_probability >= lower``, sorted by
      (``record_id_l``, ``record_id_r``), ``record_id_l < record_id_r``: ``record_id_l``,
      ``record_id_r``, ``match_weight`` (log2 Bayes factor, prior included), ``match_probability``,
      ``decision`` (``merge`` at or above ``upper``, else ``review``), ``prior_weight``, and
      ``comparisons``: a list of structs ``{comparison, label, level, gamma, weight, value_l,
      value_r}`` in the model's order (``gamma`` -1 means a value was missing; its weight is 0).
    - ``clusters``: pyarrow Table ``record_id``, ``entity_id`` (the smallest record id of its
      cluster), ``cluster_size``; every input record, sorted by ``record_id``.
    - ``model_json``: the trained Splink model (``save_model_to_json``'s content), reloadable
      through ``resolve_parties(..., model_json=...)``.
    - ``settings``: the choices made (columns used, comparisons with their levels, blocking and
      training rules, thresholds, seed, λ).
    - ``seconds``: ``prepare``, ``train``, ``predict``, ``cluster``, ``total``.
    """

    pairs: Any
    clusters: Any
    model_json: str
    settings: dict
    seconds: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# preparation: standard columns -> normalised columns (in the caller's connection)

def _prepare_sql(table: str, cols: set[str]) -> str:
    def c(name: str) -> str:
        return ident(name) if name in cols else "NULL"

    if "full_name" in cols:
        name_src = ident("full_name")
    elif {"first_name", "surname"} & cols:
        name_src = f"NULLIF(concat_ws(' ', {c('first_name')}, {c('surname')}), '')"
    else:
        name_src = c("name_key")
    ids = ("NULL::VARCHAR[]" if "identifiers" not in cols else
           f"list_sort(list_distinct(list_filter(list_transform(CAST({ident('identifiers')} AS VARCHAR[]), "
           f"lambda x: mt_identifier(x)), lambda x: x IS NOT NULL)))")
    return f"""
WITH t AS (
  SELECT {ident('record_id')} AS unique_id, mt_text({name_src}) AS t_name, {c('kind')} AS kind_in,
         mt_text({c('first_name')}) AS t_first, mt_text({c('surname')}) AS t_surname,
         {c('dob')} AS dob, {c('city')} AS city, {c('postcode')} AS postcode, {c('address')} AS address,
         {c('email')} AS email, {c('phone')} AS phone, {ids} AS identifiers, {c('gender')} AS gender,
         {c('occupation')} AS occupation
  FROM {ident(table)}
), k AS (SELECT *, mt_kind_t(t_name, kind_in) AS kind FROM t),
n AS (
  SELECT unique_id, kind,
         mt_name_t(t_first, 'individual') AS first_name,
         mt_name_t(t_surname, 'individual') AS surname,
         mt_name_t(t_name, kind) AS name,
         mt_legal_form_t(t_name, kind) AS legal_form,
         mt_date(dob) AS dob,
         mt_text(city) AS city,
         mt_postcode(postcode) AS postcode,
         mt_text(address) AS address,
         mt_email(email) AS email,
         mt_phone_key(phone) AS phone,
         NULLIF(identifiers, []) AS identifiers,
         mt_gender(gender) AS gender,
         mt_text(occupation) AS occupation
  FROM k
)
SELECT *, mt_name_key(name) AS name_key,
       NULLIF(list_distinct(list_filter(string_split(name, ' '), lambda x: length(x) > 1)), []) AS name_tokens,
       substr(dob, 1, 4) AS dob_year,
       CASE WHEN first_name IS NOT NULL OR surname IS NOT NULL THEN
         NULLIF(list_sort(list_distinct(list_filter(string_split(name, ' '), lambda x: length(x) > 1
           AND NOT list_contains(string_split(concat_ws(' ', first_name, surname), ' '), x)))), [])
       END AS middle_names
FROM n
ORDER BY unique_id
"""


# ---------------------------------------------------------------------------------------------
# the plan: comparisons and rules for the columns present

def plan(present: Iterable[str], n: int = 0, pair_count=None) -> dict:
    """The model for the normalised columns that hold values: a JSON-able description
    (``comparisons``: name and kind; ``blocking``: lists of column expressions, ``[]`` meaning
    every pair; ``training``: EM blocking passes). ``n`` is the number of records and
    ``pair_count(column)`` the number of pairs sharing a value of ``column`` (for the pair
    budget, see the module docstring). :func:`_splink_settings` turns it into Splink objects."""
    p = set(present)
    comps: list[dict] = []
    people_names = {"first_name", "surname"} <= p
    if people_names:
        middle = "middle_names" if "middle_names" in p else None
        comps += [{"column": "first_name", "kind": "first_name", "other": "surname", "middle": middle},
                  {"column": "surname", "kind": "surname", "other": "first_name", "middle": middle}]
    elif "first_name" in p or "surname" in p:
        comps += [{"column": c, "kind": "name"} for c in ("first_name", "surname") if c in p]
    if not people_names and "name_key" in p:
        comps.append({"column": "name_key", "kind": "full_name"})
    if "legal_form" in p:
        comps.append({"column": "legal_form", "kind": "exact"})
    if "dob" in p:
        comps.append({"column": "dob", "kind": "dob"})
    if "email" in p:
        comps.append({"column": "email", "kind": "email"})
    if "phone" in p:
        comps.append({"column": "phone", "kind": "exact"})
    if "identifiers" in p:
        comps.append({"column": "identifiers", "kind": "array_intersect"})
    if "postcode" in p:
        comps.append({"column": "postcode", "kind": "postcode"})
    if "city" in p:
        comps.append({"column": "city", "kind": "city"})
    if "address" in p:
        comps.append({"column": "address", "kind": "address"})
    if "gender" in p:
        comps.append({"column": "gender", "kind": "exact"})
    if "occupation" in p:
        comps.append({"column": "occupation", "kind": "exact_tf"})

    blocking: list[list[str]] = []

    def rule(*cols: str) -> None:
        base = [c.split("(")[-1].split(",")[0] for c in cols]
        if all(b in p for b in base) and list(cols) not in blocking:
            blocking.append(list(cols))

    rule("first_name", "surname")
    rule("substr(first_name, 1, 3)", "substr(surname, 1, 4)")
    for nm in ("first_name", "surname"):
        rule(nm, "dob")
        rule(nm, "postcode")
        rule(nm, "city")
    if not people_names:
        rule("name_key")
    rule("surname", "substr(first_name, 1, 1)")
    rule("name_tokens", "dob_year")
    rule("dob", "city")
    rule("dob", "postcode")
    rule("email")
    rule("phone")
    rule("identifiers")

    # every pair when they fit in the budget; otherwise the rules above, then single columns
    # (broader) while the budget lasts
    total = n * (n - 1) // 2
    budget = max(EXHAUSTIVE_PAIRS, PAIRS_PER_RECORD * n)
    broad: list[str] = []
    if n and total <= EXHAUSTIVE_PAIRS:
        blocking = [[]]
    elif pair_count is not None:
        used = 0
        for c in BROAD_BLOCKING:
            if c in p:
                k = pair_count(c)
                if used + k <= budget // 2:
                    used += k
                    broad.append(c)
        blocking += [[c] for c in broad if [c] not in blocking]

    training: list[list[str]] = []
    if people_names:
        training.append(["first_name", "surname"])
    elif "name_key" in p:
        training.append(["name_key"])
    if "dob" in p:
        training.append(["dob"])
    for c in ("email", "phone", "postcode"):
        if c in p and len(training) < 3:
            training.append([c])
    return {"comparisons": comps, "blocking": blocking, "training": training,
            "kind_guard": "kind" in p, "pair_budget": budget, "records": n}


def _comparison(spec: dict):
    import splink.comparison_library as cl
    import splink.comparison_level_library as cll

    col, kind = spec["column"], spec["kind"]
    if kind in ("first_name", "surname"):
        return _person_name_comparison(col, kind, spec.get("other"), spec.get("middle"))
    if kind == "name":
        return cl.NameComparison(col).configure(term_frequency_adjustments=True)
    if kind == "full_name":
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
                cll.JaroWinklerLevel(col, 0.92),
                cll.JaccardLevel(col, 0.5) if False else cll.JaroWinklerLevel(col, 0.8),
                cll.ElseLevel(),
            ],
            comparison_description="name (sorted tokens)",
        )
    if kind == "dob":
        return _dob_comparison(col)
    if kind == "email":
        return cl.EmailComparison(col)
    if kind == "postcode":
        return cl.PostcodeComparison(col)
    if kind == "array_intersect":
        return cl.ArrayIntersectAtSizes(col, [1])
    if kind == "city":
        return cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
                cll.JaroWinklerLevel(col, 0.88),
                cll.ElseLevel(),
            ],
            comparison_description=col,
        )
    if kind == "address":
        return cl.JaroWinklerAtThresholds(col, [0.9, 0.8])
    if kind == "exact_tf":
        return cl.ExactMatch(col).configure(term_frequency_adjustments=True)
    return cl.ExactMatch(col)


def _person_name_comparison(col: str, kind: str, other: Optional[str], middle: Optional[str] = None):
    """A person's first name or surname: exact (term-frequency adjusted), Jaro-Winkler >= 0.92,
    then for a first name a nickname or diminutive of the other (``first_name_variants`` share a
    formal name); the name written in the other name's place (``other``: first name and surname
    swapped, or a lone name in the other field); the other's middle name (``middle``, when the
    evidence has middle names); Jaro-Winkler >= 0.88 / 0.7; anything else."""
    import splink.comparison_library as cl
    import splink.comparison_level_library as cll

    c_l, c_r = ident(col + "_l"), ident(col + "_r")
    levels = [
        cll.NullLevel(col),
        cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
        cll.JaroWinklerLevel(col, 0.92),
    ]
    if kind == "first_name":
        v_l, v_r = ident(VARIANTS + "_l"), ident(VARIANTS + "_r")
        levels.append(cll.CustomLevel(f"list_has_any({v_l}, {v_r})",
                                      label_for_charts=f"nickname or diminutive of {col}"))
    if other:
        o_l, o_r = ident(other + "_l"), ident(other + "_r")
        # written in the other field, and the other field swapped back or empty (one fact is
        # counted once: "isaac james" / "james dixon" share a word, not a swap)
        levels.append(cll.CustomLevel(
            f"({c_l} = {o_r} AND ({o_l} IS NULL OR {o_l} = {c_r})) OR ({c_r} = {o_l} AND ({o_r} IS NULL OR {o_r} = {c_l}))",
            label_for_charts=f"{col} in the other name's place (swapped)"))
    if middle:
        m_l, m_r = ident(middle + "_l"), ident(middle + "_r")
        levels.append(cll.CustomLevel(f"list_contains({m_r}, {c_l}) OR list_contains({m_l}, {c_r})",
                                      label_for_charts=f"{col} is the other's middle name"))
    levels += [cll.JaroWinklerLevel(col, 0.88), cll.JaroWinklerLevel(col, 0.7), cll.ElseLevel()]
    return cl.CustomComparison(output_column_name=col, comparison_levels=levels, comparison_description=col)


def _dob_comparison(col: str):
    """Date of birth: exact (term-frequency adjusted: a date many records share, such as a
    year written as 1 January, counts for less), day and month transposed, one character
    apart, within a month, a year, ten years; anything else."""
    import splink.comparison_library as cl
    import splink.comparison_level_library as cll

    c_l, c_r = ident(col + "_l"), ident(col + "_r")
    levels = [
        cll.NullLevel(col),
        cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
        cll.CustomLevel(f"substr({c_l}, 1, 4) = substr({c_r}, 1, 4) AND substr({c_l}, 6, 2) = substr({c_r}, 9, 2) "
                        f"AND substr({c_l}, 9, 2) = substr({c_r}, 6, 2)",
                        label_for_charts="day and month transposed"),
        cll.LevenshteinLevel(col, 1).configure(label_for_charts="one character apart"),
    ]
    for n, unit in ((1, "month"), (1, "year"), (10, "year")):
        levels.append(cll.AbsoluteDateDifferenceLevel(col, input_is_string=True, threshold=n, metric=unit)
                      .configure(label_for_charts=f"within {n} {unit}{'s' if n > 1 else ''}"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name=col, comparison_levels=levels, comparison_description="date of birth")


def _block(cols: list[str], kind_guard: bool):
    from splink import block_on

    if not cols:
        from splink.blocking_rule_library import CustomRule

        return CustomRule(KIND_GUARD if kind_guard else "1 = 1")
    explode = [c for c in cols if c in EXPLODED]
    br = block_on(*cols, arrays_to_explode=explode) if explode else block_on(*cols)
    if not kind_guard or not cols:
        return br
    from splink.internals.blocking_rule_creator import BlockingRuleCreator  # noqa: F401
    from splink.blocking_rule_library import And, CustomRule

    return And(br, CustomRule(KIND_GUARD))


def _splink_settings(p: dict, seed: int):
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[_comparison(c) for c in p["comparisons"]],
        blocking_rules_to_generate_predictions=[_block(b, p["kind_guard"]) for b in p["blocking"]],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        max_iterations=EM_MAX_ITERATIONS,
        linker_uid=f"moneytrail{seed}",    # Splink draws a random one otherwise: same input, same model text
    )


# ---------------------------------------------------------------------------------------------

def _em_floor() -> None:
    """Splink's expectation maximisation can drive the m probability of a comparison level that no
    pair of a pass reaches to a value below 1e-300 (1e-317 was seen: a case's records of four banks),
    which Splink then refuses to set (ValueError), failing the whole training, although the value
    is zero for every purpose. Such a value is set to Splink's own floor (``M_U_CLAMP_MIN``,
    1e-300) as Splink reads the pass's new parameters: the level keeps a weight no matched pair
    reaches, and the pass completes. Installed once per process (idempotent, and the same for
    every caller: it changes nothing a pass could otherwise produce)."""
    from splink.internals import expectation_maximisation as em
    from splink.internals.comparison_level import M_U_CLAMP_MIN

    if getattr(em.populate_m_u_from_lookup, "_moneytrail_floor", False):
        return
    original = em.populate_m_u_from_lookup

    def populate(fixed, level, column, lookup):
        for rec in lookup.get(column, {}).values():
            for k in ("m_probability", "u_probability"):
                v = rec.get(k)
                if isinstance(v, float) and 0.0 <= v < M_U_CLAMP_MIN:
                    rec[k] = M_U_CLAMP_MIN
        return original(fixed, level, column, lookup)

    populate._moneytrail_floor = True
    em.populate_m_u_from_lookup = populate


def resolve_parties(con, table: str, *, settings: Optional[Mapping] = None, model_json: Optional[str] = None,
                    upper: float = DEFAULT_UPPER, lower: float = DEFAULT_LOWER, seed: int = DEFAULT_SEED,
                    u_max_pairs: float = U_MAX_PAIRS, threads: Optional[int] = None) -> Resolution:
    """Resolve the party records of ``table`` (on DuckDB connection ``con``) into entities.

    ``settings``: a :func:`plan`-shaped dict to use instead of the one chosen from the columns;
    ``model_json``: a trained model (``Resolution.model_json``) to predict with, no training.
    Returns a :class:`Resolution`."""
    import logging

    log = logging.getLogger("splink")
    level = log.level
    log.setLevel(logging.ERROR)     # Splink's progress and training notes are not ours to print
    try:
        return _resolve(con, table, settings=settings, model_json=model_json, upper=upper, lower=lower,
                        seed=seed, u_max_pairs=u_max_pairs, threads=threads)
    finally:
        log.setLevel(level)


def _resolve(con, table, *, settings, model_json, upper, lower, seed, u_max_pairs, threads) -> Resolution:
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    if not (0 < lower <= upper < 1):
        raise ValueError("thresholds must satisfy 0 < lower <= upper < 1")
    t0 = time.perf_counter()
    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {ident(table)}").fetchall()}
    if "record_id" not in cols:
        raise ValueError(f"{table}: no record_id column")
    cols &= set(STANDARD_COLUMNS)
    normalize.install(con)
    prepared = con.sql(_prepare_sql(table, cols)).to_arrow_table()

    pcon = duckdb.connect()
    harden(pcon)
    if threads:
        pcon.execute(f"SET threads = {int(threads)}")
    pcon.register("__mt_parties_in", prepared)
    _nicknames_table(pcon)
    pcon.execute(f"CREATE TABLE mt_parties AS SELECT p.*, n.groups AS {VARIANTS} FROM __mt_parties_in p "
                 f"LEFT JOIN __mt_nicknames n ON n.name = p.first_name ORDER BY p.unique_id")
    pcon.unregister("__mt_parties_in")
    pcon.execute("DROP TABLE __mt_nicknames")
    if prepared.num_rows:
        counts = pcon.execute("SELECT " + ", ".join(f"count({ident(c)})" for c in prepared.column_names)
                              + " FROM mt_parties").fetchall()[0]
        present = {c for c, n in zip(prepared.column_names, counts) if n and c != "unique_id"}
    else:
        present = set()
    kinds = {r[0] for r in pcon.execute("SELECT DISTINCT kind FROM mt_parties").fetchall()}
    present.discard("kind")
    if kinds & {"individual", "business"}:
        present.add("kind")
    n = prepared.num_rows

    def pair_count(col: str) -> int:
        return int(pcon.execute(f"SELECT coalesce(sum(c * (c - 1) // 2), 0) FROM (SELECT count(*) AS c FROM mt_parties "
                                f"WHERE {ident(col)} IS NOT NULL GROUP BY {ident(col)})").fetchall()[0][0])

    p = dict(settings) if settings is not None else plan(present, n, pair_count)
    seconds = {"prepare": round(time.perf_counter() - t0, 3)}

    db_api = DuckDBAPI(connection=pcon)
    sdf = db_api.register("mt_parties")
    t1 = time.perf_counter()
    if model_json is not None:
        linker = Linker(sdf, json.loads(model_json), log_level=None)
        em_rules: list = []
    else:
        linker = Linker(sdf, _splink_settings(p, seed), log_level=None)
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        em_rules = []
        from splink.internals.exceptions import EMTrainingException

        _em_floor()

        for cols_ in p["training"]:
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*cols_), estimate_without_term_frequencies=True,
                    populate_probability_two_random_records_match_from_trained_values=True)
            except EMTrainingException:
                continue        # no pair agrees on these columns (a small input): the pass teaches nothing
            em_rules.append(cols_)
    seconds["train"] = round(time.perf_counter() - t1, 3)
    model = linker.misc.save_model_to_json()
    prior0 = model["probability_two_random_records_match"]

    t2 = time.perf_counter()
    pred = linker.inference.predict()
    seconds["predict"] = round(time.perf_counter() - t2, 3)
    if model_json is None:
        # λ: expectation maximisation over the compared pairs with m and u fixed (pairs not
        # compared count as non-matches): λ = Σ P(match | pair, λ) / all pairs, to a fixed point
        t4 = time.perf_counter()
        lam = _estimate_lambda(pcon, pred.physical_name, prior0, n * (n - 1) / 2)
        seconds["train"] = round(seconds["train"] + time.perf_counter() - t4, 3)
        model["probability_two_random_records_match"] = lam
    shift = _logit2(model["probability_two_random_records_match"]) - _logit2(prior0)
    mjson = json.dumps(model, sort_keys=True)
    t3 = time.perf_counter()
    # the scored pairs (probability with λ) from CLUSTER_FLOOR up, for the clusters' averages
    w = f"(match_weight + {lit(float(shift))})"
    edges = pcon.execute(f"SELECT unique_id_l, unique_id_r, 1.0 / (1.0 + pow(2.0, -{w})) AS p FROM {pred.physical_name} "
                         f"WHERE {w} >= {lit(_logit2(CLUSTER_FLOOR))} ORDER BY unique_id_l, unique_id_r").fetchall()
    ids = [r[0] for r in pcon.execute("SELECT unique_id FROM mt_parties ORDER BY unique_id").fetchall()]
    entity = cluster_pairs(ids, edges, upper, CLUSTER_MIN_AVERAGE)
    sizes: dict = {}
    for e in entity.values():
        sizes[e] = sizes.get(e, 0) + 1
    import pyarrow as pa

    id_type = prepared.schema.field("unique_id").type
    clusters = pa.table({"record_id": pa.array(ids, id_type), "entity_id": pa.array([entity[i] for i in ids], id_type),
                         "cluster_size": pa.array([sizes[entity[i]] for i in ids], pa.int64())})
    seconds["cluster"] = round(time.perf_counter() - t3, 3)

    pcon.register("__mt_clusters", clusters)
    pairs = _pairs_table(pcon, pred.physical_name, model, upper, lower, shift)
    pcon.unregister("__mt_clusters")
    seconds["total"] = round(time.perf_counter() - t0, 3)
    desc = {
        "columns": sorted(present),
        "comparisons": [{"column": c["output_column_name"], "description": c.get("comparison_description"),
                         "levels": [lv.get("label_for_charts") for lv in c["comparison_levels"]]}
                        for c in model["comparisons"]],
        "blocking": [b["blocking_rule"] for b in model["blocking_rules_to_generate_predictions"]],
        "training": em_rules, "u_max_pairs": u_max_pairs, "seed": seed,
        "thresholds": {"upper": upper, "lower": lower},
        "clustering": {"method": "average linkage, a pair at upper between the clusters",
                       "min_average_probability": CLUSTER_MIN_AVERAGE, "pair_floor": CLUSTER_FLOOR},
        "probability_two_random_records_match": model.get("probability_two_random_records_match"),
        "plan": p,
    }
    pcon.close()
    return Resolution(pairs=pairs, clusters=clusters, model_json=mjson, settings=desc, seconds=seconds)


def _nicknames_table(pcon) -> None:
    import pyarrow as pa

    rows = normalize.nickname_rows()
    # the formal names as numbers (sorted order): comparing integer lists is twice as fast
    number = {g: k for k, g in enumerate(sorted({g for _, gs in rows for g in gs}))}
    pcon.register("__mt_nick_in", pa.table({"name": [r[0] for r in rows],
                                            "groups": [sorted(number[g] for g in r[1]) for r in rows]}))
    pcon.execute("CREATE TABLE __mt_nicknames AS SELECT * FROM __mt_nick_in")
    pcon.unregister("__mt_nick_in")


def cluster_pairs(ids: list, edges: Iterable[tuple], upper: float, min_average: float) -> dict:
    """Records -> entity (the smallest record id of its cluster), by average-linkage
    agglomeration over the scored pairs (as dedupe clusters): start from single records and
    repeatedly join the two clusters whose average match probability over all their record
    pairs (a pair not scored counts as 0) is highest, while it is at least ``min_average`` and
    at least one pair between them reaches ``upper``. A chain of strong pairs alone no longer
    joins two groups that otherwise disagree (connected components would). ``edges``: ``(id_l,
    id_r, probability)``. Ties go to the smaller ids: the same input gives the same clusters."""
    import heapq

    ids = sorted(ids)
    index = {v: k for k, v in enumerate(ids)}     # work on positions: the order of the ids
    edges = [(index[a], index[b], float(p)) for a, b, p in edges if a != b]
    ids_in = ids
    ids = range(len(ids_in))
    parent = list(ids)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, p in edges:                      # clusters never cross the components at upper
        if p >= upper:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    comp = [find(i) for i in ids]
    parent = list(ids)
    size = [1] * len(ids_in)
    total: dict = {}                           # cluster -> {cluster: sum of pair probabilities}
    strong: dict = {}                          # cluster -> {cluster: max pair probability}
    for a, b, p in edges:
        if comp[a] != comp[b]:
            continue
        for x, y in ((a, b), (b, a)):
            total.setdefault(x, {})[y] = total.get(x, {}).get(y, 0.0) + p
            strong.setdefault(x, {})[y] = max(strong.get(x, {}).get(y, 0.0), p)
    heap = [(-p, min(a, b), max(a, b)) for a, b, p in edges
            if comp[a] == comp[b] and p >= upper and p >= min_average]
    heapq.heapify(heap)
    while heap:
        neg, a, b = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b or b not in total.get(a, {}):
            continue
        avg = total[a][b] / (size[a] * size[b])
        if avg != -neg or avg < min_average or strong[a][b] < upper:
            continue                           # stale entry (the clusters grew since)
        keep, gone = (a, b) if a < b else (b, a)
        parent[gone] = keep
        size[keep] += size[gone]
        t_keep, s_keep = total[keep], strong[keep]
        for k, v in total.pop(gone).items():
            if k == keep:
                continue
            t_keep[k] = t_keep.get(k, 0.0) + v
            total[k][keep] = t_keep[k]
            del total[k][gone]
        for k, v in strong.pop(gone).items():
            if k == keep:
                continue
            s_keep[k] = max(s_keep.get(k, 0.0), v)
            strong[k][keep] = s_keep[k]
            del strong[k][gone]
        t_keep.pop(gone, None)
        s_keep.pop(gone, None)
        for k, v in t_keep.items():
            avg = v / (size[keep] * size[k])
            if avg >= min_average and s_keep[k] >= upper:
                heapq.heappush(heap, (-avg, min(keep, k), max(keep, k)))
    return {ids_in[i]: ids_in[find(i)] for i in ids}


def _levels(model: dict) -> list[tuple[str, dict[int, str]]]:
    out = []
    for c in model["comparisons"]:
        n = len([lv for lv in c["comparison_levels"] if not lv.get("is_null_level")])
        gmap: dict[int, str] = {}
        g = n - 1
        for lv in c["comparison_levels"]:
            if lv.get("is_null_level"):
                gmap[-1] = lv.get("label_for_charts") or "null"
            else:
                gmap[g] = lv.get("label_for_charts") or ""
                g -= 1
        out.append((c["output_column_name"], gmap))
    return out


def _logit2(p: float) -> float:
    return math.log2(p / (1 - p))


def _estimate_lambda(pcon, pred: str, prior: float, total_pairs: float, *, iterations: int = 200) -> float:
    """The fixed point of λ = Σ_pairs σ(logit2 λ + s) / total_pairs, s = a pair's match weight
    without the prior (Splink's m and u, fixed)."""
    if total_pairs <= 0:
        return prior
    base = _logit2(prior)
    lam = prior
    for _ in range(iterations):
        shift = _logit2(lam) - base
        got = pcon.execute(f"SELECT coalesce(sum(1.0 / (1.0 + pow(2.0, -(match_weight + {lit(float(shift))})))), 0) "
                           f"FROM {pred}").fetchall()[0][0]
        new = min(max(float(got) / total_pairs, 1e-12), 0.5)
        if abs(new - lam) <= 1e-9 * lam:
            lam = new
            break
        lam = new
    return float(f"{lam:.12g}")


def _pairs_table(pcon, pred: str, model: dict, upper: float, lower: float, shift: float):
    from splink.internals.misc import prob_to_match_weight

    pred_cols = {r[0] for r in pcon.execute(f"DESCRIBE SELECT * FROM {pred}").fetchall()}
    structs = []
    for col, gmap in _levels(model):
        g = ident(f"gamma_{col}")
        level = "CASE " + " ".join(f"WHEN {g} = {lit(k)} THEN {lit(v)}" for k, v in gmap.items()) + " END"
        w = ident(f"mw_{col}")
        if f"mw_tf_adj_{col}" in pred_cols:
            w = f"({w} + coalesce({ident(f'mw_tf_adj_{col}')}, 0))"
        vl = f"CAST({ident(col + '_l')} AS VARCHAR)" if f"{col}_l" in pred_cols else "NULL"
        vr = f"CAST({ident(col + '_r')} AS VARCHAR)" if f"{col}_r" in pred_cols else "NULL"
        structs.append(f"{{'comparison': {lit(col)}, 'label': {lit(LABELS.get(col, col.replace('_', ' ')))}, "
                       f"'level': {level}, 'gamma': CAST({g} AS INTEGER), 'weight': round({w}, 6), "
                       f"'value_l': {vl}, 'value_r': {vr}}}")
    prior = prob_to_match_weight(model["probability_two_random_records_match"])
    w = f"(match_weight + {lit(float(shift))})"
    sql = f"""
SELECT record_id_l, record_id_r, round(mw, 6) AS match_weight, round(mp, 9) AS match_probability,
       CASE WHEN mw >= {lit(_logit2(upper))} AND same_entity THEN 'merge' ELSE 'review' END AS decision,
       round({lit(float(prior))}, 6) AS prior_weight, comparisons
FROM (
  SELECT unique_id_l AS record_id_l, unique_id_r AS record_id_r, {w} AS mw, 1.0 / (1.0 + pow(2.0, -{w})) AS mp,
         [{', '.join(structs)}] AS comparisons, cl.entity_id = cr.entity_id AS same_entity
  FROM {pred}
  JOIN __mt_clusters cl ON cl.record_id = unique_id_l
  JOIN __mt_clusters cr ON cr.record_id = unique_id_r
  WHERE {w} >= {lit(_logit2(lower))}
)
ORDER BY record_id_l, record_id_r
"""
    return pcon.sql(sql).to_arrow_table()


# ---------------------------------------------------------------------------------------------
# explanations

def _level_words(level: str, column: str) -> tuple[str, str]:
    """(verb, detail) for one of Splink's level labels."""
    lv = (level or "").strip()
    low = lv.lower()
    if low.startswith("all other") or low == "else":
        return "differed", ""
    if low.startswith("exact match") and (column in low or low in ("exact match", "exact match on date of birth")
                                         or "full postcode" in low or "concat" in low):
        return "exact", ""
    d = re.sub(rf"\b(of|on|for)\s+{re.escape(column)}\b", "", lv, flags=re.I)
    d = d.replace(column, "").replace(">=", "≥").replace("<=", "≤")
    d = re.sub(r"\s+", " ", d).strip().lower()
    d = d.replace("jaro-winkler distance", "jaro-winkler").replace("jaro_winkler_similarity", "jaro-winkler")
    return "agreed", d


def _num(w: float) -> str:
    return ("+" if w >= 0 else "−") + f"{abs(w):.1f}"


def explain_pair(row: Mapping) -> str:
    """One pair of :attr:`Resolution.pairs` in words, strongest evidence first, e.g.
    ``first name agreed (jaro-winkler ≥ 0.92, +4.1), date of birth exact (+7.9), city differed
    (−1.2)``; missing values are named at the end. ``row`` is a dict of the pair's columns (a row
    of ``pairs.to_pylist()``)."""
    parts, missing = [], []
    comps = sorted(row["comparisons"], key=lambda c: -abs(c["weight"] or 0))
    for c in comps:
        label, w = c["label"], c["weight"] or 0.0
        if c["gamma"] == -1:
            missing.append(label)
            continue
        verb, detail = _level_words(c["level"], c["comparison"])
        if verb == "agreed" and w < 0:
            verb = "partly agreed"
        inner = f"{detail}, {_num(w)}" if detail else _num(w)
        parts.append(f"{label} {verb} ({inner})")
    text = ", ".join(parts)
    if missing:
        text += ("; " if text else "") + "not compared (missing): " + ", ".join(missing)
    p = row.get("match_probability")
    if p is not None and row.get("match_weight") is not None:
        text += f" — total {_num(row['match_weight'])}, probability {p:.4f}"
    return text
