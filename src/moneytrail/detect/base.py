"""What a typology is: an id, a version, typed parameters, one backend-neutral query, an explainer.

A typology's ``query(params)`` returns a sqlglot expression over the ``edges``/``nodes``
tables (see :mod:`moneytrail.graph`) producing one row per finding with these columns:

==============  ===========================================================================
key             stable text key of the finding (e.g. focal account and episode start)
score           float; how far past its threshold the pattern is (1.0 = just at it)
first_ts        first transaction time
last_ts         last transaction time
total_amount    sum of the evidence transactions' amounts
tx_ids          list of the exact transaction ids forming the pattern
accounts        list of {account_id, role}
stats           a struct of figures the explanation quotes
==============  ===========================================================================

``explain(row, params)`` turns a row into plain English citing the red flag and its source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from sqlglot import exp

from moneytrail.backends.base import parse
from moneytrail.errors import ConfigError


@dataclass(frozen=True)
class Params:
    """Base for typology parameters. Subclasses are frozen dataclasses with defaults."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_overrides(cls, typology: str, overrides: dict[str, Any]) -> "Params":
        known = {f.name: f for f in fields(cls)}
        values = {}
        for k, v in overrides.items():
            if k not in known:
                raise ConfigError(f"{typology}: unknown parameter {k!r}; known: {', '.join(known)}")
            default = getattr(cls(), k)
            try:
                if isinstance(default, bool):
                    v = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
                elif isinstance(default, int):
                    v = int(v)
                elif isinstance(default, float):
                    v = float(v)
                elif isinstance(default, tuple):
                    v = tuple(x.strip() for x in v.split(",") if x.strip()) if isinstance(v, str) else tuple(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{typology}: parameter {k} must be a {type(default).__name__}, got {v!r}") from None
            values[k] = v
        p = cls(**values)
        p.validate(typology)
        return p

    def validate(self, typology: str) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise ConfigError(f"{typology}: parameter {f.name} must be >= 0, got {v}")


class Typology:
    id: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    red_flag: ClassVar[str]          # the indicator, in words
    source: ClassVar[str]            # where the indicator is published
    Params: ClassVar[type[Params]]
    family: ClassVar[str] = "graph"  # graph | flow | trafficking
    notes: list[str] = []            # set by run(): limits hit during the last run, reported by detect

    def skip_reason(self, ws) -> str | None:
        """Why this typology can't run on this workspace (the data it needs is absent), or None.

        The detect stage reports every skipped typology with this reason; nothing is skipped
        silently.
        """
        return None

    def sql(self, p: Params) -> str:
        raise NotImplementedError

    def query(self, p: Params) -> exp.Expression:
        return parse(self.sql(p))

    def run(self, backend, p: Params) -> list[dict[str, Any]]:
        """Finding rows. Default: one query; iterative typologies override this and still
        express every step as a query handed to the backend."""
        return backend.execute(self.query(p)).to_pylist()

    def explain(self, row: dict[str, Any], p: Params) -> str:
        raise NotImplementedError


#: Candidate edges for graph patterns: transfers between two real accounts. Card purchases
#: settle through acquirers (a payment to a merchant, not a relationship between parties) and
#: pseudo accounts (cash, name-only) stand for no real account.
TRANSFERS = "NOT src_pseudo AND NOT dst_pseudo AND src <> dst AND coalesce(channel, '') <> 'card'"


def money(x) -> str:
    return f"${float(x):,.2f}"


def day(ts) -> str:
    return ts.strftime("%Y-%m-%d") if ts is not None else "?"
