"""Findings at entity level (``detect --level entity``): which accounts of a party the money used.

At entity level every account a resolved entity holds is that entity's node (``E...``), so a
pattern can pass through several accounts of one party: a cycle that leaves from one of its
accounts and closes at another, a fan-in whose payees are three banks' accounts of one person.
Each finding then says so: for every entity it names that holds more than one account, the
accounts the money came in through and went out through (read from the edges' resolved
``src_account`` / ``dst_account``), and how many accounts the party holds. The graph's level is
read from the edges themselves: at account level a node is its resolved account.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def at_entity_level(ws) -> bool:
    """True when the workspace's ``edges`` were built at entity level."""
    return bool(ws.scalar("SELECT count(*) FROM (SELECT 1 FROM edges WHERE src <> src_account "
                          "OR dst <> dst_account LIMIT 1)"))


def multi_account_entities(ws) -> dict[str, tuple[str | None, list[str]]]:
    """``{entity_id: (name, accounts)}`` for every entity holding more than one account (read
    once per detect run, shared by every typology's :class:`Pools`)."""
    return {e: (name, accts) for e, name, accts in ws.query(
        "SELECT a.entity_id, any_value(n.name), list(a.account_id ORDER BY a.account_id) "
        "FROM account_entities a LEFT JOIN entities n USING (entity_id) "
        "GROUP BY a.entity_id HAVING count(*) > 1")}


class Pools:
    """What the findings' evidence shows of each multi-account entity it touches."""

    def __init__(self, ws, rows: list[dict[str, Any]], multi: dict[str, tuple[str | None, list[str]]]):
        self.legs: dict[int, tuple[str, str, str, str]] = {}
        self.entities = multi
        ids = sorted({int(t) for r in rows for t in r["tx_ids"]})
        if not ids or not multi:
            return
        ws.con.register("_lvl_ids", pa.table({"tx_id": pa.array(ids, pa.int64())}))
        try:
            for tx, src, dst, sa, da in ws.query(
                    "SELECT e.tx_id, e.src, e.dst, e.src_account, e.dst_account FROM edges e "
                    "JOIN _lvl_ids USING (tx_id)"):
                if src in multi or dst in multi:
                    self.legs[tx] = (src, dst, sa, da)
        finally:
            ws.con.unregister("_lvl_ids")

    def note(self, row: dict[str, Any]) -> str:
        into: dict[str, set[str]] = {}
        out_of: dict[str, set[str]] = {}
        for t in row["tx_ids"]:
            leg = self.legs.get(int(t))
            if leg is None:
                continue
            src, dst, sa, da = leg
            if src in self.entities:
                out_of.setdefault(src, set()).add(sa)
            if dst in self.entities:
                into.setdefault(dst, set()).add(da)
        parts = []
        for e in sorted(set(into) | set(out_of)):
            name, accts = self.entities[e]
            who = f"{e} ({name})" if name else e
            ins, outs = sorted(into.get(e, ())), sorted(out_of.get(e, ()))
            used = sorted(set(ins) | set(outs))
            if ins and outs and set(ins) != set(outs):
                how = f"the money came in through its account{_s(ins)} {', '.join(ins)} and went out through " \
                      f"{', '.join(outs)}"
            else:
                how = f"the money passed through its account{_s(used)} {', '.join(used)}"
            parts.append(f"{who} is one party holding {len(accts)} accounts ({', '.join(accts)}): {how}")
        if not parts:
            return ""
        return " At entity level (each resolved party one node): " + "; ".join(parts) + "."


def _s(xs) -> str:
    return "s" if len(xs) > 1 else ""


class AtEntities:
    """A typology (or a wrapper of one) whose explanations end with :meth:`Pools.note`."""

    def __init__(self, inner, pools: Pools):
        self.inner, self.pools = inner, pools
        self.id, self.version, self.source = inner.id, inner.version, inner.source

    def explain(self, row: dict[str, Any], p) -> str:
        return self.inner.explain(row, p) + self.pools.note(row)


__all__ = ["AtEntities", "Pools", "at_entity_level", "multi_account_entities"]
