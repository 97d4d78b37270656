"""From scored pairs of party records to entities, with the officers' decisions winning.

The model (:mod:`moneytrail.resolve.entities`) scores candidate pairs of party records. Each
pair then gets a **status**:

``accepted`` / ``rejected``
    an officer decided (``moneytrail review``): the same party, or not. The latest decision on a
    pair always wins over the model, and holds across re-runs (decisions are records of the
    case, keyed by the records' stable keys);
``merged``
    the model's match probability is at least the upper threshold;
``review``
    between the two thresholds, or above the upper one but *held* (the names disagree: people of
    one household share an address and a phone): the pair waits in the review queue, unmerged;
(below the lower threshold a pair is not kept at all.)

Entities are the connected components of the merged and accepted pairs (a record no pair
links is an entity on its own). An entity's id is ``E`` + 12 hex digits of the SHA-256 of its
smallest record key, so it stays while that record stays in it. A rejected pair only stops
that one link: two records an officer called different can still meet through a third record
the model (or an officer) links to both; the entity's page shows the path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

STATUSES = ("merged", "review", "accepted", "rejected")


def pair_key(a: str, b: str) -> tuple[str, str, str]:
    """``(pair_key, left, right)``: the pair named by its two record keys, smaller first."""
    left, right = (a, b) if a <= b else (b, a)
    return f"{left} ~ {right}", left, right


def entity_id(smallest_record_key: str) -> str:
    return "E" + hashlib.sha256(smallest_record_key.encode()).hexdigest()[:12]


@dataclass
class Outcome:
    pairs: list[dict[str, Any]]          # every kept pair with its status
    members: dict[str, tuple[str, str]]  # record_key -> (entity_id, how it joined, in words)


class _Union:
    def __init__(self, keys: Iterable[str]):
        self.parent = {k: k for k in keys}

    def find(self, k: str) -> str:
        root = k
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[k] != root:          # path compression
            self.parent[k], k = root, self.parent[k]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra               # the smaller key is the root


def settle(record_keys: Iterable[str], scored: list[dict[str, Any]], decisions: dict[str, dict[str, Any]],
           upper: float, lower: float) -> Outcome:
    """``scored``: pairs with ``left_key``, ``right_key``, ``match_probability``, ``explanation``;
    ``decisions``: the latest decision per pair key (``decision``: same | different, ``reason``,
    ``decided_by``). Returns each kept pair with its status and each record's entity."""
    keys = sorted(set(record_keys))
    uf = _Union(keys)
    by_pair: dict[str, dict[str, Any]] = {}
    for p in scored:
        k, left, right = pair_key(p["left_key"], p["right_key"])
        if left == right:
            continue
        prob = float(p["match_probability"])
        if k in by_pair and by_pair[k]["match_probability"] >= prob:
            continue
        by_pair[k] = {**p, "pair_key": k, "left_key": left, "right_key": right, "match_probability": prob}
    # an officer's decision on a pair the model did not keep still counts
    for k, d in decisions.items():
        if k not in by_pair and d["left_key"] in uf.parent and d["right_key"] in uf.parent:
            by_pair[k] = {"pair_key": k, "left_key": d["left_key"], "right_key": d["right_key"],
                          "match_probability": None, "match_weight": None,
                          "explanation": "not scored as a candidate by the model"}
    why: dict[str, str] = {}
    kept = []
    for k in sorted(by_pair):
        p = by_pair[k]
        d = decisions.get(k)
        prob = p["match_probability"]
        if d is not None:
            status = "accepted" if d["decision"] == "same" else "rejected"
            p = {**p, "decided_by": d["decided_by"], "decision_reason": d["reason"]}
        elif prob is not None and prob >= upper and not p.get("hold"):
            status = "merged"
        elif prob is not None and prob >= lower:
            status = "review"
        else:
            continue
        if status == "review" and p.get("hold") and prob is not None and prob >= upper:
            p = {**p, "explanation": f"{p.get('explanation') or ''} ({p['hold']})"}
        p["status"] = status
        kept.append(p)
        if status in ("merged", "accepted"):
            uf.union(p["left_key"], p["right_key"])
            link = (f"linked to {{other}} by {d['decided_by']} ({d['reason']})" if status == "accepted" else
                    f"linked to {{other}} by the model (probability {prob:.3f}: {p.get('explanation') or ''})")
            why.setdefault(p["right_key"], link.format(other=p["left_key"]))
            why.setdefault(p["left_key"], link.format(other=p["right_key"]))
    members = {}
    for k in keys:
        root = uf.find(k)
        members[k] = (entity_id(root), why.get(k, "no other record linked to it: an entity of its own"))
    return Outcome(kept, members)
