"""A finding as the API hands it out: a typed record instead of a dict whose shape lived in a
docstring. Written by :func:`moneytrail.detect.store.write_findings` (the typology catalogue and
the risk model's ``model_risk`` findings), read by :meth:`moneytrail.Session.findings`.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Mapping


@dataclass(frozen=True)
class FindingAccount:
    """An account a finding names, with its role in the pattern (``funnel``, ``source``, ...)."""

    account_id: str
    role: str


@dataclass(frozen=True)
class FindingRecord:
    """A record other than a transaction that a finding cites (a payroll line, a wage report, an
    award, a payment, a vendor or official record): ``kind`` is its table, ``record_id`` is
    ``source_id * 10**10 + source_row``, the evidence file and row it came from."""

    kind: str
    record_id: int


@dataclass(frozen=True)
class Finding:
    """One finding of one typology run, with its evidence.

    ``tx_ids`` are the exact transactions behind it (each id is ``source_id * 10**10 +
    source_row``: the evidence file and row it came from); ``accounts`` the accounts it names,
    ordered by role then id; ``parameters`` the typology's parameters it was found with;
    ``score`` orders findings (higher first); ``explanation`` is plain English citing the red
    flag, whose published source is ``red_flag_source``. ``first_ts``/``last_ts`` bound the
    evidence in time and ``total_amount`` sums it (DECIMAL(38,4)): the transactions' amounts, or
    for a finding citing only employer or contract records, the money in those records.
    """

    finding_id: int
    typology: str
    typology_version: str
    score: float
    first_ts: _dt.datetime | None
    last_ts: _dt.datetime | None
    total_amount: Decimal | None
    explanation: str
    red_flag_source: str
    parameters: dict[str, Any]
    accounts: tuple[FindingAccount, ...]
    tx_ids: tuple[int, ...]
    #: the stable key, derived from the finding's content (typology, version, evidence): a
    #: re-run that finds the same pattern keeps it, and the triage recorded against it
    key: str | None = None
    #: the currency of ``total_amount``: the transfers' own, or USD when the typology compared
    #: amounts converted with the case's rates (its explanation names them); None before schema 10
    currency: str | None = None
    #: the queue's order across typologies: money expected to be laundering (the risk model's
    #: probability times the amount, summed over the evidence; the money at stake before a model
    #: scored the case), with ``priority_basis`` saying which in words (priority.py)
    priority: float | None = None
    priority_basis: str | None = None
    #: the employer and contract records it cites (docs/records.md), by kind then id
    records: tuple[FindingRecord, ...] = ()

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> "Finding":
        """From a row of the findings query (``parameters`` as JSON text or a mapping; ``accounts``
        as ``{account_id, role}`` mappings)."""
        params = r["parameters"]
        return cls(
            finding_id=int(r["finding_id"]), typology=r["typology"], typology_version=r["typology_version"],
            score=float(r["score"]), first_ts=r["first_ts"], last_ts=r["last_ts"], total_amount=r["total_amount"],
            explanation=r["explanation"], red_flag_source=r["red_flag_source"],
            parameters=json.loads(params) if isinstance(params, str) else dict(params or {}),
            accounts=tuple(FindingAccount(a["account_id"], a["role"]) for a in r["accounts"] or ()),
            tx_ids=tuple(int(t) for t in r["tx_ids"] or ()), key=r.get("finding_key", r.get("key")),
            currency=r.get("currency"),
            priority=float(r["priority"]) if r.get("priority") is not None else None,
            priority_basis=r.get("priority_basis"),
            records=tuple(FindingRecord(x["kind"], int(x["record_id"])) for x in r.get("records") or ()))

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain data (``accounts`` as ``{account_id, role}`` dicts, lists for
        tuples), in field order: what ``moneytrail findings --format json`` prints."""
        d = asdict(self)
        d["accounts"] = [dict(a) for a in d["accounts"]]
        d["tx_ids"] = list(self.tx_ids)
        d["records"] = [dict(x) for x in d["records"]]
        return d
