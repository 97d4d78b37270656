"""What a typology is: an id, a version, typed parameters, one backend-neutral query, an explainer.

A typology's ``query(params)`` returns a sqlglot expression over the ``edges``/``nodes``
tables (see :mod:`moneytrail.graph`) producing one row per finding with these columns:

==============  ===========================================================================
key             stable text key of the finding (e.g. focal account and episode start)
score           float; how far past its threshold the pattern is (1.0 = just at it)
first_ts        first transaction time (or record date)
last_ts         last transaction time (or record date)
total_amount    sum of the evidence transactions' amounts; a typology over employer and
                contract records sums what its section of docs/typologies.md says (the money
                in its records where it cites no transaction: a split purchase's payments)
tx_ids          list of the exact transaction ids forming the pattern
accounts        list of {account_id, role}
records         (employer and contract typologies) list of {kind, record_id}: the records cited
stats           a struct of figures the explanation quotes
==============  ===========================================================================

``explain(row, params)`` turns a row into plain English citing the red flag and its source.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import re
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, ClassVar

from sqlglot import exp

from moneytrail.backends.base import parse
from moneytrail.backends.dialect import DUCKDB, Dialect
from moneytrail.errors import ConfigError
from moneytrail.limits import MAX_AMOUNT
from moneytrail.sqlkit import lit

# -- parameter kinds and their bounds --------------------------------------------------------------
#
# Every typology parameter declares what it takes (a field helper below): a whole number in a
# range, a ratio or an amount in a range with a bounded number of decimals, a yes/no, or names
# from a vocabulary (channels, payment categories, identifier kinds). ``Params.from_overrides``
# parses a value given as text (``--param``, ``--config``) or as a Python value (``Session``)
# against that declaration and refuses anything else with one line naming the typology, the
# parameter, the value and what is allowed: nothing a user types reaches a query unchecked, and
# the query builders format the checked values with :mod:`moneytrail.sqlkit` only.

MAX_DAYS = 3660               #: a window of days: at most ten years
MAX_COUNT = 10**6             #: counts and degree caps
MAX_TEXT = 4096               #: characters of a parameter value given as text
SHOWN = 80                    #: characters of a refused value quoted in the error


def channels() -> tuple[str, ...]:
    from moneytrail.ingest.mapping import CHANNELS
    return tuple(CHANNELS)


def categories() -> tuple[str, ...]:
    from moneytrail.detect.categories import load
    return tuple(load().order)


def identifiers() -> tuple[str, ...]:
    return ("address", "phone")


@dataclass(frozen=True)
class Spec:
    """What one parameter takes. ``kind``: int | number | bool | names."""

    kind: str
    lo: Any = None
    hi: Any = None
    lo_open: bool = False          # lo itself not allowed (a divisor, a ratio above zero)
    decimals: int = 0              # number: at most this many decimal places
    unit: str = ""                 # words for the error message ("days", "an amount")
    vocab: Callable[[], tuple[str, ...]] | None = None
    vocab_name: str = ""           # "channel", "category", ...

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true, false, yes, no, 1 or 0"
        if self.kind == "names":
            plural = self.vocab_name[:-1] + "ies" if self.vocab_name.endswith("y") else self.vocab_name + "s"
            return f"a comma-separated list of {plural} from: {', '.join(self.vocab())} (or nothing)"
        lo = f"above {_num_text(self.lo)}" if self.lo_open else f"from {_num_text(self.lo)}"
        what = "a whole number" if self.kind == "int" else (
            f"a number with at most {self.decimals} decimals")
        unit = f" ({self.unit})" if self.unit else ""
        return f"{what}{unit} {lo} to {_num_text(self.hi)}"


def _num_text(v) -> str:
    return f"{v:,}" if isinstance(v, int) and abs(v) >= 10_000 else str(v)


def _param(default, spec: Spec):
    return field(default=default, metadata={"spec": spec})


def days(default: int, lo: int = 1, hi: int = MAX_DAYS):
    """A number of days (a window, or a span when ``lo`` is 0)."""
    return _param(default, Spec("int", lo, hi, unit="days"))


def count(default: int, lo: int = 1, hi: int = MAX_COUNT):
    """A count, a minimum number of something, or a degree cap."""
    return _param(default, Spec("int", lo, hi))


def whole(default: int, lo: int, hi: int, unit: str = ""):
    """Any other bounded whole number (hours, lengths)."""
    return _param(default, Spec("int", lo, hi, unit=unit))


def ratio(default: float, lo: float = 0.0, hi: float = 1.0, *, lo_open: bool = True):
    """A share or ratio; at most 6 decimals (so its SQL literal is exact and small)."""
    return _param(default, Spec("number", lo, hi, lo_open=lo_open, decimals=6, unit="a ratio"))


def amount(default: float, *, lo_open: bool = False):
    """An amount of money: 0 (or above it) up to MAX_AMOUNT, whole cents."""
    return _param(default, Spec("number", 0, MAX_AMOUNT, lo_open=lo_open, decimals=2, unit="an amount"))


def flag(default: bool):
    return _param(default, Spec("bool"))


def names(default: tuple[str, ...], vocab: Callable[[], tuple[str, ...]], vocab_name: str):
    """Names from a vocabulary (``channels``, ``categories``, ``identifiers``)."""
    return _param(default, Spec("names", vocab=vocab, vocab_name=vocab_name))


def shown(v: Any) -> str:
    """A value as an error message quotes it: repr, cut to SHOWN characters."""
    try:
        r = repr(v)
    except ValueError:      # an int too long for Python to print
        r = f"<a {v.bit_length()}-bit integer>"
    return r if len(r) <= SHOWN else r[: SHOWN - 1] + "…"


_INT_TEXT = re.compile(r"[+-]?[0-9]+")    # at most MAX_TEXT characters: below Python's 4300-digit limit
_BOOL_TEXT = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _parse(typology: str, name: str, spec: Spec, v: Any) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{typology}: parameter {name}: {shown(v)} {why}; allowed: {spec.allowed()}")

    if isinstance(v, str) and len(v) > MAX_TEXT:
        raise ConfigError(f"{typology}: parameter {name}: a value of {len(v):,} characters is too long "
                          f"(at most {MAX_TEXT:,}); allowed: {spec.allowed()}")
    if spec.kind == "bool":
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _BOOL_TEXT:
            return _BOOL_TEXT[v.strip().lower()]
        raise bad("is not a yes/no value")
    if spec.kind == "names":
        if isinstance(v, str):
            items = [x.strip() for x in v.split(",")]
            items = [x for x in items if x]
        elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            items = [x.strip() for x in v]
        else:
            raise bad("is not a list of names")
        vocab = spec.vocab()
        for x in items:
            if x not in vocab:
                raise ConfigError(f"{typology}: parameter {name}: {shown(x)} is not a {spec.vocab_name}; "
                                  f"allowed: {spec.allowed()}")
        return tuple(dict.fromkeys(items))
    # numbers
    if isinstance(v, bool):
        raise bad("is not a number")
    if spec.kind == "int":
        if isinstance(v, int):
            n = v
        elif isinstance(v, str) and _INT_TEXT.fullmatch(v.strip()):
            n = int(v.strip())
        else:
            raise bad("is not a whole number")
        if n < spec.lo or n > spec.hi or (spec.lo_open and n == spec.lo):
            raise bad("is out of range")
        return n
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            raise bad("is not a finite number")
        d = Decimal(v) if isinstance(v, int) else Decimal(repr(v))
    elif isinstance(v, str) and len(v.strip()) <= 40:
        try:
            d = Decimal(v.strip())
        except InvalidOperation:
            raise bad("is not a number") from None
        if not d.is_finite():
            raise bad("is not a finite number")
    else:
        raise bad("is not a number")
    if d < spec.lo or d > spec.hi or (spec.lo_open and d == spec.lo):
        raise bad("is out of range")
    if d != d.quantize(Decimal(1).scaleb(-spec.decimals)):
        raise bad(f"has more than {spec.decimals} decimals")
    return float(d)


def num(v: float | int) -> str:
    """The exact SQL literal of a checked numeric parameter (a DECIMAL for a ratio or an amount,
    as the user wrote it: 0.8 is 0.8, not the nearest double)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"not a number: {v!r}")
    return lit(int(v)) if isinstance(v, int) else lit(Decimal(repr(float(v))))


@dataclass(frozen=True)
class Params:
    """Base for typology parameters: frozen dataclasses whose fields are declared with the helpers
    above (``days``, ``count``, ``ratio``, ``amount``, ``flag``, ``names``, ``whole``), each
    with its default and what it takes. Subclasses add cross-field checks in ``check``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return {f.name: f.metadata["spec"] for f in fields(cls)}

    @classmethod
    def from_overrides(cls, typology: str, overrides: dict[str, Any]) -> "Params":
        if not isinstance(overrides, dict):
            raise ConfigError(f"{typology}: parameters must be a mapping of name: value, got {shown(overrides)}")
        specs = cls.specs()
        values = {}
        for k, v in overrides.items():
            if k not in specs:
                raise ConfigError(f"{typology}: unknown parameter {shown(k)}; known: {', '.join(specs)}")
            values[k] = _parse(typology, k, specs[k], v)
        p = cls(**values)
        p.validate(typology)
        return p

    def validate(self, typology: str) -> None:
        """Every value as its declaration allows (defaults included), then the cross-field checks."""
        for name, spec in self.specs().items():
            v = getattr(self, name)
            if _parse(typology, name, spec, v) != v:
                raise ConfigError(f"{typology}: parameter {name}: {shown(v)} is not as declared")
        self.check(typology)

    def check(self, typology: str) -> None:
        """Cross-field checks (e.g. a band's low end below its threshold); none by default."""


def order_check(typology: str, p: Params, low: str, high: str, *, strict: bool = False) -> None:
    """``low`` must not exceed ``high`` (or must be below it, ``strict``)."""
    a, b = getattr(p, low), getattr(p, high)
    if a > b or (strict and a == b):
        raise ConfigError(f"{typology}: parameter {low} ({a}) must be {'below' if strict else 'at most'} "
                          f"{high} ({b})")


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

    #: what the typology's queries need beyond plain SQL (:data:`moneytrail.backends.dialect.CAPABILITIES`);
    #: a backend whose dialect lacks one skips the typology with a reason
    needs: ClassVar[frozenset[str]] = frozenset()

    def unsupported(self, backend) -> str | None:
        """Why ``backend`` cannot run this typology (a capability its dialect lacks), or None."""
        missing = sorted(self.needs - backend.sql_dialect.capabilities)
        return (f"the {backend.name} backend lacks what this typology's query needs: {', '.join(missing)}"
                if missing else None)

    def sql(self, p: Params, d: Dialect) -> str:
        """The typology's query, in the canonical dialect, with the constructs engines write
        differently built by ``d`` (:mod:`moneytrail.backends.dialect`)."""
        raise NotImplementedError

    def query(self, p: Params, d: Dialect = DUCKDB) -> exp.Expression:
        return parse(self.sql(p, d))

    def run(self, backend, p: Params) -> list[dict[str, Any]]:
        """Finding rows. Default: one query; iterative typologies override this and still
        express every step as a query handed to the backend."""
        return backend.execute(self.query(p, backend.sql_dialect)).to_pylist()

    def explain(self, row: dict[str, Any], p: Params) -> str:
        raise NotImplementedError


class Staged(Typology):
    """A typology whose query reads a few intermediate relations many times. :meth:`stages`
    gives them in order as ``(name, query)``; :meth:`body` the rest as ``(ctes, select)``, the
    CTEs (``name AS (query), ...``, or empty) and the final SELECT, reading the stages by name.
    :meth:`sql` is one statement (the stages as its first CTEs); :meth:`run` hands the backend each
    stage once as a temporary table (``materialize``), runs the body over them and drops them:
    Spark recomputes a CTE at every reference (measured: 740 shuffles for the seven employer
    typologies as single statements)."""

    def stages(self, p: Params, d: Dialect) -> list[tuple[str, str]]:
        return []

    def body(self, p: Params, d: Dialect) -> tuple[str, str]:
        raise NotImplementedError

    def sql(self, p: Params, d: Dialect) -> str:
        ctes, final = self.body(p, d)
        parts = [f"{n} AS ({q})" for n, q in self.stages(p, d)] + ([ctes] if ctes else [])
        return (f"WITH {', '.join(parts)} " if parts else "") + final

    def run(self, backend, p: Params) -> list[dict[str, Any]]:
        d = backend.sql_dialect
        made = []
        try:
            for name, q in self.stages(p, d):
                backend.materialize(name, q, temp=True)
                made.append(name)
            ctes, final = self.body(p, d)
            return backend.execute((f"WITH {ctes} " if ctes else "") + final).to_pylist()
        finally:
            for name in made:
                backend.run(f"DROP TABLE IF EXISTS {name}")


#: Candidate edges for graph patterns: transfers between two real accounts. Card purchases
#: settle through acquirers (a payment to a merchant, not a relationship between parties) and
#: pseudo accounts (cash, name-only) stand for no real account.
TRANSFERS = "NOT src_pseudo AND NOT dst_pseudo AND src <> dst AND coalesce(channel, '') <> 'card'"


#: the currency the amounts a typology is explaining are in (set by the detect stage around each
#: typology's run and explanations: ``USD`` unless every transfer it read was in another one)
AMOUNTS_CURRENCY: contextvars.ContextVar[str] = contextvars.ContextVar("amounts_currency", default="USD")


def money(x, currency: str | None = None) -> str:
    """$1,234.50 for US dollars, ``1,234.50 SEK`` for any other currency (``currency``, else the
    one the detect stage set: :data:`AMOUNTS_CURRENCY`). Exact: a Decimal is rounded to cents
    (half up), never through a float, so sums near the amount cap read as they are."""
    d = x if isinstance(x, Decimal) else Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    text = f"{d.quantize(Decimal('0.01'), rounding='ROUND_HALF_UP'):,}"
    cur = currency or AMOUNTS_CURRENCY.get()
    return f"${text}" if cur == "USD" else f"{text} {cur}"


def usd(x) -> str:
    """An amount in US dollars (a threshold written in dollars), whatever the amounts' currency."""
    return money(x, "USD")


def day(ts) -> str:
    return ts.strftime("%Y-%m-%d") if ts is not None else "?"
