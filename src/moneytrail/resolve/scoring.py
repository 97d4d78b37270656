"""The case's party records scored with the entity-resolution engine (:mod:`moneytrail.resolve.entities`).

``party_records`` (:mod:`moneytrail.resolve.parties`) are put in the engine's vocabulary: the
record key as ``record_id``, the name as ``full_name``, the kind, date of birth or registration,
address, email, phone, and as ``identifiers`` the account number and the tax or registration
number the record carries (two records naming one account number, or one tax id, share an
identifier). The engine trains on them (or predicts with the case's stored model) on a private
connection and returns the pairs above the lower threshold with their explanation in words.
"""

from __future__ import annotations

import json
from typing import Any

VOCABULARY_SQL = """
CREATE OR REPLACE TEMP TABLE _er_records AS
SELECT record_key AS record_id, full_name, coalesce(kind, 'unknown') AS kind, dob, address, email, phone,
       [account_number, tax_id] AS identifiers       -- the engine normalises them (mt_identifier), drops empties
FROM {table}
"""


#: a pair whose names are not consistent is never merged by the model alone (two people of one
#: household share a surname, an address and a phone): it waits for an officer's review
HOLD = "held for review: the names differ (a shared address, phone or account alone does not make one party)"


def _tokens(full_name: str | None) -> set[str]:
    from moneytrail.resolve import normalize

    n = normalize.name(full_name) if full_name else None
    return {t for t in (n or "").split() if len(t) > 1}        # initials say too little either way


def names_agree(a: str | None, b: str | None) -> bool:
    """Whether two names can be one party's: after normalisation (case, accents, legal forms,
    honorifics; initials set aside) every word of the shorter name is in the longer one, a first
    name counting as its nicknames (``Bill`` is ``William``). ``Lisa P. Allen`` and ``Ashley N.
    Allen`` do not agree; ``John Q. Smith`` and ``JOHN SMITH`` do."""
    from moneytrail.resolve import normalize

    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return True                                             # nothing to hold against
    small, big = (ta, tb) if len(ta) <= len(tb) else (tb, ta)
    big_groups = set()
    for t in big:
        big_groups.update(normalize.first_name_variants(t) or [t])
    return all(t in big or set(normalize.first_name_variants(t) or [t]) & big_groups for t in small)


def _from_splink(e: BaseException) -> bool:
    import traceback

    if type(e).__module__.split(".")[0] == "splink":
        return True
    return any("/splink/" in f.filename.replace("\\", "/") for f in traceback.extract_tb(e.__traceback__))


class TrainingFailed(Exception):
    """The model could not be estimated from the case's records (the message says why)."""


def score_party_records(con, table: str, *, model: dict | None, lower: float, upper: float) -> dict[str, Any]:
    """``{"pairs": [{left_key, right_key, match_probability, match_weight, explanation}], "model":
    the trained model (JSON-able) when one was trained, "training": settings and seconds}``."""
    from moneytrail.resolve import entities

    con.execute(VOCABULARY_SQL.format(table=table))     # table: the stage's own name, never a value
    try:
        res = entities.resolve_parties(con, "_er_records", model_json=json.dumps(model) if model else None,
                                       upper=upper, lower=lower)
    except Exception as e:
        # Splink's estimation has nothing to learn from (a handful of records, a level no true
        # pair reaches): the stage says so and links nothing by the model; officers' decisions
        # still apply. Only errors raised inside Splink; ours propagate.
        if not _from_splink(e):
            raise
        raise TrainingFailed(f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    finally:
        con.execute("DROP TABLE IF EXISTS _er_records")
    names_of = {k: v for k, v in con.execute(f"SELECT record_key, full_name FROM {table}").fetchall()}
    pairs = []
    for r in res.pairs.to_pylist():
        hold = None if names_agree(names_of.get(r["record_id_l"]), names_of.get(r["record_id_r"])) else HOLD
        pairs.append({"left_key": r["record_id_l"], "right_key": r["record_id_r"],
                      "match_probability": float(r["match_probability"]), "match_weight": float(r["match_weight"]),
                      "explanation": entities.explain_pair(r), "hold": hold})
    return {"pairs": pairs, "model": json.loads(res.model_json) if model is None else None,
            "training": {"settings": res.settings, "seconds": res.seconds}}
