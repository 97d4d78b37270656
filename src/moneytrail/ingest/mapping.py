"""Declarative column mappings for CSV bank statements and transfer ledgers.

A mapping is YAML (see docs/mapping.md for every field with examples). Two layouts:

* **statement** — rows of one account's statement: ``holder`` names the statement holder's
  account (a constant), ``counterparty`` the other side (columns). The direction comes from
  ``amount.sign`` (``negative_is_debit`` or ``positive_is_debit``) or from separate
  ``amount.debit`` / ``amount.credit`` columns. A debit is money leaving the holder.
* **transfers** — rows that name both sides: ``payer`` and ``payee`` (columns); amounts must
  be non-negative.

Values are either a column name (``column: X``), a constant (``value: X``), or, as shorthand,
a plain string, which means a column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from moneytrail.errors import MappingError

CHANNELS = ("cash", "ach", "wire", "card", "check", "transfer", "payroll", "fee", "interest", "other")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Field_(_Strict):
    """A value taken from a column, or a constant."""

    column: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of 'column' or 'value'")
        return self


def coerce_field(v):
    if v is None or isinstance(v, Field_):
        return v
    if isinstance(v, str):
        return {"column": v}
    if isinstance(v, (int, float)):
        return {"value": str(v)}
    return v


class Party(_Strict):
    account: Field_
    name: Field_ | None = None
    bank: Field_ | None = None

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data):
        if isinstance(data, dict):
            return {k: coerce_field(v) for k, v in data.items()}
        return data


class DateSpec(_Strict):
    column: str
    format: str | list[str] = "iso"  # strptime format(s), or 'iso'


class TimeSpec(_Strict):
    column: str
    format: str = "%H:%M:%S"


class Amount(_Strict):
    column: str | None = None
    sign: Literal["negative_is_debit", "positive_is_debit"] = "negative_is_debit"
    debit: str | None = None
    credit: str | None = None

    @model_validator(mode="after")
    def _layout(self):
        if self.column is None and (self.debit is None or self.credit is None):
            raise ValueError("give 'column' (signed amounts) or both 'debit' and 'credit' columns")
        if self.column is not None and (self.debit is not None or self.credit is not None):
            raise ValueError("give either 'column' or 'debit'/'credit', not both")
        return self


class Mapping(_Strict):
    """One CSV layout."""

    name: str | None = None
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    skip_rows: int = Field(0, ge=0, description="lines to skip before the header")
    sheet: str | int | None = Field(None, description="xlsx: the sheet (name, or 0-based index); the first by default")
    date: DateSpec
    time: TimeSpec | None = None
    amount: Amount
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ",", ".", " ", "'"] = ","
    currency: Field_ | None = None
    holder: Party | None = None
    counterparty: Party | None = None
    payer: Party | None = None
    payee: Party | None = None
    id: str | None = None
    description: str | None = None
    channel: Field_ | None = None
    channel_map: dict[str, str] = Field(default_factory=dict)
    tx_type: str | None = None
    location: str | None = None
    balance: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            if isinstance(data.get("currency"), str):
                data["currency"] = {"value": data["currency"]}   # `currency: USD` is the documented constant form
            if "channel" in data:
                data["channel"] = coerce_field(data["channel"])
            if isinstance(data.get("date"), str):
                data["date"] = {"column": data["date"]}
        return data

    @model_validator(mode="after")
    def _layout(self):
        statement = self.holder is not None or self.counterparty is not None
        transfers = self.payer is not None or self.payee is not None
        if statement and transfers:
            raise ValueError("use either holder/counterparty (a statement) or payer/payee (transfers)")
        if statement and (self.holder is None or self.counterparty is None):
            raise ValueError("a statement mapping needs both 'holder' and 'counterparty'")
        if transfers and (self.payer is None or self.payee is None):
            raise ValueError("a transfers mapping needs both 'payer' and 'payee'")
        if not statement and not transfers:
            raise ValueError("name the accounts: 'holder' + 'counterparty', or 'payer' + 'payee'")
        if transfers and self.amount.column is None:
            raise ValueError("a transfers mapping takes one non-negative 'amount.column'")
        if self.currency is None:
            raise ValueError("say which currency the amounts are in: a constant (currency: USD) or a column "
                             "(currency: {column: Ccy}); moneytrail never assumes one")
        if self.currency.value is not None and not (len(self.currency.value) == 3 and self.currency.value.isalpha()
                                                    and self.currency.value.isupper()):
            raise ValueError(f"currency {self.currency.value[:20]!r}: a three-letter ISO 4217 code such as USD or EUR")
        if self.decimal == self.thousands:
            raise ValueError("'decimal' and 'thousands' separators must differ")
        if len(self.delimiter) != 1 or len(self.quote) != 1:
            raise ValueError("'delimiter' and 'quote' must be one character each")
        bad = sorted(set(self.channel_map.values()) - set(CHANNELS))
        if bad:
            raise ValueError(f"channel_map values must be among {', '.join(CHANNELS)}; got {bad}")
        if self.holder is not None and self.holder.account.column is not None:
            pass  # a holder column is allowed (a multi-account statement export)
        return self

    @property
    def layout(self) -> str:
        return "statement" if self.holder is not None else "transfers"

    def columns(self) -> list[str]:
        """Every source column the mapping reads, in a stable order."""
        cols: list[str] = [self.date.column]
        if self.time:
            cols.append(self.time.column)
        for c in (self.amount.column, self.amount.debit, self.amount.credit):
            if c:
                cols.append(c)
        for p in (self.holder, self.counterparty, self.payer, self.payee):
            if p is None:
                continue
            for f in (p.account, p.name, p.bank):
                if f is not None and f.column:
                    cols.append(f.column)
        for f in (self.currency, self.channel):
            if f is not None and f.column:
                cols.append(f.column)
        for c in (self.id, self.description, self.tx_type, self.location, self.balance):
            if c:
                cols.append(c)
        seen, out = set(), []
        for c in cols:
            if c not in seen:
                seen.add(c)
                out.append(c)
        return out


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
    msg = err["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def validate_mapping(model: type[BaseModel], data, origin: str, what: str = "mapping"):
    """Validate YAML data against a mapping model; one clear MappingError naming the field."""
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: a mapping must be a YAML mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise MappingError(f"{origin}: invalid {what}: {_first_error(e)}") from None


def read_mapping_file(path: str | Path):
    """The YAML data of a mapping file, or one clear MappingError (missing, not UTF-8, bad YAML)."""
    p = Path(path)
    if not p.exists():
        raise MappingError(f"{p}: mapping file not found")
    if p.is_dir():
        raise MappingError(f"{p}: is a directory, not a mapping file")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise MappingError(f"{p}: mapping is not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MappingError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None


def parse_mapping(data: dict, origin: str = "<mapping>") -> Mapping:
    return validate_mapping(Mapping, data, origin)


def load_mapping(path: str | Path) -> Mapping:
    return parse_mapping(read_mapping_file(path), str(path))
