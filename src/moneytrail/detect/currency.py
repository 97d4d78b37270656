"""Currency is never assumed (issue 13, item 5): which amounts a typology compares, and in what.

Every amount parameter of the catalogue (declared with :func:`moneytrail.detect.base.amount`) is
written in US dollars: the $10,000 currency-transaction-report threshold, the $3,000
funds-transfer recordkeeping threshold, materiality floors. The graph stage gives every transfer
its amount in its own currency and, where it can, in US dollars (``edges.amount_usd``: the
amount itself for USD, converted with the case's own rates, ``ingest --format rates``, for
another currency; NULL where the case has no rate for that currency and date).

The rule, per typology and run (:func:`plan`):

* every transfer in USD (or none at all): the typology runs as it always did;
* the transfers are in one other currency and the typology compares nothing with a dollar
  amount (its amount parameters are all 0, or it has none: fan-in, bipartite, cycles, ...): it
  runs on the amounts as they are, and its explanations write them in that currency
  (``1,234.50 SEK``, never ``$``);
* otherwise (a dollar threshold to apply, or several currencies to add up): it runs on the
  transfers in US dollars only (``edges_usd``: ``amount`` replaced by ``amount_usd``, transfers
  without a rate left out, with a note naming how many, in which currencies, and how to give
  rates); each finding's explanation names the rates it used (the currency, units per dollar,
  the rate's first day and its row in the rates source), and the finding's currency is USD;
* and when no transfer can be put in dollars, the typology is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moneytrail.detect.base import Params, usd

USD = "USD"
EDGES_USD = "edges_usd"
RATES_HINT = ("give the case its exchange rates: moneytrail ingest RATES.csv --format rates "
              "(columns currency, units_per_usd, effective_date; docs/formats.md)")


@dataclass
class Profile:
    """The transfers' currencies: ``{currency: (transfers, of them with a USD amount)}``."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, backend) -> "Profile":
        rows = backend.rows("SELECT currency, count(*) AS n, count(amount_usd) AS n_usd FROM edges "
                            "GROUP BY currency ORDER BY currency")
        return cls({r["currency"]: (int(r["n"]), int(r["n_usd"])) for r in rows})

    @property
    def all_usd(self) -> bool:
        return set(self.counts) <= {USD}

    def without_rate(self) -> dict[str, int]:
        return {c: n - k for c, (n, k) in self.counts.items() if n > k}


@dataclass
class Plan:
    mode: str                        # "as-is" | "usd"
    currency: str                    # the currency of the findings' amounts
    thresholds: dict[str, float]     # the typology's dollar parameters in force (above 0)
    left_out: dict[str, int] = field(default_factory=dict)   # transfers without a rate, by currency
    skip: str | None = None


def thresholds(p: Params) -> dict[str, float]:
    """The typology's amount parameters that compare with something: those above 0 (in USD)."""
    return {name: getattr(p, name) for name, spec in p.specs().items()
            if spec.unit == "an amount" and getattr(p, name) > 0}


def _list(d: dict[str, int]) -> str:
    return ", ".join(f"{n:,} in {c}" for c, n in sorted(d.items()))


def plan(p: Params, prof: Profile) -> Plan:
    th = thresholds(p)
    if prof.all_usd:
        return Plan("as-is", USD, th)
    if not th and len(prof.counts) == 1:
        return Plan("as-is", next(iter(prof.counts)), th)
    left = prof.without_rate()
    usable = sum(k for _, k in prof.counts.values())
    why = (f"its thresholds are in US dollars ({', '.join(f'{k} {usd(v)}' for k, v in th.items())})" if th else
           f"the transfers are in several currencies ({', '.join(sorted(prof.counts))}), added up in US dollars")
    if not usable:
        return Plan("usd", USD, th, left, skip=f"{why} and no transfer has a rate to US dollars "
                                               f"({_list(left)}): {RATES_HINT}")
    return Plan("usd", USD, th, left)


def note(pl: Plan) -> str | None:
    """What a run in US dollars left out, in words (None when nothing)."""
    if pl.mode != "usd" or not pl.left_out:
        return None
    return (f"compared in US dollars: {sum(pl.left_out.values()):,} transfers left out for want of a rate "
            f"({_list(pl.left_out)}): {RATES_HINT}")


def make_edges_usd(backend) -> int:
    """``edges_usd``: the transfers with a US-dollar amount, ``amount`` being that amount (a
    temporary table of the run, dropped by :func:`drop_edges_usd`)."""
    cols = backend.execute("SELECT * FROM edges LIMIT 0").column_names
    sel = ", ".join("amount_usd AS amount" if c == "amount" else c for c in cols)
    return backend.materialize(EDGES_USD, f"SELECT {sel} FROM edges WHERE amount_usd IS NOT NULL", temp=True)


def drop_edges_usd(backend) -> None:
    backend.run(f"DROP TABLE IF EXISTS {EDGES_USD}")


def rates_used(ws, rows: list[dict[str, Any]]) -> dict[int, tuple]:
    """For the findings' evidence in another currency: ``{tx_id: (currency, units per USD,
    rate's source id, its row)}`` (read from the workspace's ``edges``, which every backend's
    run reads)."""
    import pyarrow as pa

    ids = sorted({int(t) for r in rows for t in r["tx_ids"]})
    if not ids:
        return {}
    ws.con.register("_fx_ids", pa.table({"tx_id": pa.array(ids, pa.int64())}))
    try:
        found = ws.con.execute("SELECT e.tx_id, e.currency, e.fx_rate, e.fx_source_id, e.fx_source_row "
                               "FROM edges e JOIN _fx_ids USING (tx_id) "
                               "WHERE e.currency <> 'USD' AND e.fx_rate IS NOT NULL").fetchall()
    finally:
        ws.con.unregister("_fx_ids")
    return {int(t): (c, u, s, n) for t, c, u, s, n in found}


def conversion_text(row: dict[str, Any], used: dict[int, tuple], th: dict[str, float]) -> str:
    """The sentence a finding compared in US dollars ends with: the rates its evidence was
    converted with and the thresholds (in dollars) it was held against."""
    rates = sorted({used[t] for t in row["tx_ids"] if int(t) in used}, key=lambda x: (x[0], x[2], x[3]))
    parts = []
    if rates:
        shown = [f"{c} at {_rate(u)} per US dollar (rates source {s}, row {n})" for c, u, s, n in rates[:3]]
        more = f" and {len(rates) - 3} more rates" if len(rates) > 3 else ""
        parts.append("Amounts in US dollars: " + "; ".join(shown) + more + ".")
    else:
        parts.append("Amounts in US dollars (every evidence transfer was in USD).")
    if th:
        parts.append("Thresholds in US dollars: " + ", ".join(f"{k} {usd(v)}" for k, v in th.items()) + ".")
    return " " + " ".join(parts)


def _rate(u) -> str:
    text = f"{u:f}".rstrip("0").rstrip(".") if "." in f"{u:f}" else f"{u:f}"
    return text
