"""Reader for customer / account registers (KYC records): ``--format accounts``.

A bank's account register (signature cards, CIP/KYC extract, business account profiles) is a
delimited text file described by a YAML mapping (:class:`AccountsMapping`; every field in
docs/mapping.md, "Account registers"). Each data row is one account, recorded as what this
register says about it (``account_records``, one row per account per source). The ``accounts``
view combines every source's records (``moneytrail.workspace.cases``): an account named by a
statement or an earlier register gets this register's owner name, kind, bank, branch and dates
where it gives them, and its ``attributes`` JSON merged with the register's facts:

``address`` / ``address_norm``, ``phone`` / ``phone_norm``, ``category``, ``naics``, any column
listed in ``keep``, and ``kyc_source_id`` / ``kyc_source_row`` (where the facts came from).

``address_norm``: upper case, punctuation dropped, street words abbreviated (STREET -> ST,
AVENUE -> AVE, ...), unit designators (APT, APARTMENT, UNIT, SUITE, STE, #) written ``#``,
ZIP+4 cut to the ZIP, blanks collapsed — so "123 Main Street, Apt. 4" and "123 MAIN ST #4"
are the same address. ``phone_norm``: the digits, a leading country code 1 dropped from an
11-digit number.

Same guarantees as CSV ingest: the file is copied into the evidence folder; every row is stored
or quarantined with its row number, column and reason (``rows_read = rows_stored +
rows_quarantined``); re-ingesting the same file is a no-op unless ``force``. A row is
quarantined when its account is empty or a reserved pseudo-account id, the account already
appeared earlier in the file, its kind is not individual/business (after ``kind_map``), its
phone has fewer than 7 digits, its NAICS code is not 2-6 digits, a date does not match the
mapping's format or falls outside 1900-2100, or a ``keep`` column that holds an opening
balance (one named in ``moneytrail.limits.MONEY_ATTRIBUTES``, which the tracing stage reads
as money) is a number that is not finite or not below MAX_AMOUNT — besides the reading
problems every CSV row can have (blank line, wrong number of fields, bytes invalid in the
encoding, a field over MAX_FIELD_BYTES).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest.sources import IngestResult, finish_source, register_source, require_file, skipped
from moneytrail.ingest.csvfile import (DATE_OUT_OF_RANGE, Columns, insert_quarantine, money_out_of_range, q,
                                       special_time, stage_batch)
from moneytrail.ingest.mapping import Field_, coerce_field, read_mapping_file, validate_mapping
from moneytrail.ingest.textfile import check_text, read_records
from moneytrail.limits import MONEY_ATTRIBUTES, amount_limit_text, year_limit_text, year_range_text
from moneytrail.workspace import Workspace

KINDS = {
    "individual": "individual", "person": "individual", "personal": "individual",
    "consumer": "individual", "retail": "individual", "natural person": "individual",
    "business": "business", "commercial": "business", "corporate": "business",
    "company": "business", "organization": "business", "organisation": "business",
    "entity": "business", "non-personal": "business",
}
RESERVED = "account id {!r} is reserved for a pseudo-account (cash, name:..., unidentified:...)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DateField(_Strict):
    column: str
    format: str | list[str] = "iso"


class AccountsMapping(_Strict):
    """One account-register layout."""

    name: str | None = None
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    skip_rows: int = Field(0, ge=0)
    account: Field_
    owner_name: Field_ | None = None
    kind: Field_ | None = None
    kind_map: dict[str, Literal["individual", "business"]] = Field(default_factory=dict)
    address: list[Field_] | None = None          # one field, or several joined with ", "
    phone: Field_ | None = None
    category: Field_ | None = None
    naics: Field_ | None = None
    bank: Field_ | None = None
    branch: Field_ | None = None
    currency: Field_ | None = None
    opened: DateField | None = None
    closed: DateField | None = None
    keep: list[str] = Field(default_factory=list)  # further columns copied into attributes

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for k in ("account", "owner_name", "kind", "phone", "category", "naics", "bank", "branch",
                  "currency"):
            if k in data:
                data[k] = coerce_field(data[k])
        if "address" in data and data["address"] is not None:
            a = data["address"]
            data["address"] = [coerce_field(x) for x in (a if isinstance(a, list) else [a])]
        for k in ("opened", "closed"):
            if isinstance(data.get(k), str):
                data[k] = {"column": data[k]}
        return data

    @model_validator(mode="after")
    def _check(self):
        if len(self.delimiter) != 1 or len(self.quote) != 1:
            raise ValueError("'delimiter' and 'quote' must be one character each")
        if self.account.column is None:
            raise ValueError("'account' must name a column (each row is one account)")
        return self


def parse_accounts_mapping(data: dict, origin: str = "<mapping>") -> AccountsMapping:
    return validate_mapping(AccountsMapping, data, origin, "accounts mapping")


def load_accounts_mapping(path: str | Path) -> AccountsMapping:
    return parse_accounts_mapping(read_mapping_file(path), str(path))


# -- normalisation (SQL) -----------------------------------------------------------------------

_STREET_WORDS = (
    ("STREET", "ST"), ("AVENUE", "AVE"), ("ROAD", "RD"), ("DRIVE", "DR"), ("BOULEVARD", "BLVD"),
    ("LANE", "LN"), ("PARKWAY", "PKWY"), ("HIGHWAY", "HWY"), ("FREEWAY", "FWY"), ("COURT", "CT"),
    ("PLACE", "PL"), ("CIRCLE", "CIR"), ("TERRACE", "TER"), ("TRAIL", "TRL"), ("SQUARE", "SQ"),
    ("NORTH", "N"), ("SOUTH", "S"), ("EAST", "E"), ("WEST", "W"),
)


def address_norm_sql(expr: str) -> str:
    """SQL normalising an address text expression (see the module docstring)."""
    x = f"upper({expr})"
    x = f"regexp_replace({x}, '[.,;]', ' ', 'g')"
    x = f"regexp_replace({x}, '#', ' # ', 'g')"
    for long, short in _STREET_WORDS:
        x = f"regexp_replace({x}, '\\b{long}\\b', '{short}', 'g')"
    x = f"regexp_replace({x}, '\\b(APARTMENT|APT|UNIT|SUITE|STE|NO)\\b', ' # ', 'g')"
    x = f"regexp_replace({x}, '(#\\s*)+', '#', 'g')"
    x = f"regexp_replace({x}, '\\b([0-9]{{5}})-[0-9]{{4}}\\b', '\\1', 'g')"
    x = f"regexp_replace(trim({x}), '\\s+', ' ', 'g')"
    return f"nullif({x}, '')"


def phone_digits_sql(expr: str) -> str:
    d = f"regexp_replace({expr}, '[^0-9]', '', 'g')"
    return f"CASE WHEN length({d}) = 11 AND starts_with({d}, '1') THEN substr({d}, 2) ELSE {d} END"


# -- the reader --------------------------------------------------------------------------------

class AccountsReader:
    """Account registers (KYC records) described by an accounts mapping."""

    name = "accounts"
    reads_folders = False
    needs_mapping = True

    # the mapping parsers of this format (ingest_file / the CLI use them when present)
    load_mapping = staticmethod(load_accounts_mapping)
    parse_mapping = staticmethod(parse_accounts_mapping)

    def ingest(self, ws: Workspace, path: Path, *, mapping, legal_basis, force, on_read,
               actor: str | None = None) -> IngestResult:
        require_file(path)
        if mapping is None:
            raise InputError("format accounts needs --mapping MAP.yaml describing the columns "
                             "(see docs/mapping.md, 'Account registers')", path=str(path))
        if isinstance(mapping, dict):
            mapping = parse_accounts_mapping(mapping)
        elif isinstance(mapping, (str, Path)):
            mapping = load_accounts_mapping(mapping)
        if not isinstance(mapping, AccountsMapping):
            raise MappingError("format accounts needs an accounts mapping (account, owner_name, "
                               "kind, address, phone, ...; see docs/mapping.md), not a statement "
                               "mapping")
        reg = register_source(ws, path, "accounts", "accounts", mapping.model_dump(exclude_none=True),
                              legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, "accounts")
        counts = load_accounts(ws, reg.source_id, path, mapping, on_read=on_read)
        return finish_source(ws, reg, path, "accounts", counts)


def _build_sql(m: AccountsMapping, cols: Columns, sid: int) -> str:
    f = cols.field

    def opt(fld):
        return f"nullif(regexp_replace(trim({f(fld)}), '\\s+', ' ', 'g'), '')" if fld is not None else "NULL"

    layer1 = ["b._row", "b._pre_col", "b._pre_reason",
              f"{opt(m.account)} AS account_id", f"{opt(m.owner_name)} AS owner_name",
              f"{opt(m.kind)} AS kind_s", f"{opt(m.phone)} AS phone", f"{opt(m.category)} AS category",
              f"{opt(m.naics)} AS naics_s", f"{opt(m.bank)} AS bank", f"{opt(m.branch)} AS branch",
              f"upper({opt(m.currency)}) AS currency"]
    if m.address:
        parts = ", ".join(opt(a) for a in m.address)
        layer1.append(f"nullif(concat_ws(', ', {parts}), '') AS address")
    else:
        layer1.append("NULL AS address")
    for k in ("opened", "closed"):
        d = getattr(m, k)
        layer1.append(f"nullif(trim(b.{cols.ref(d.column)}), '') AS {k}_s" if d else f"NULL AS {k}_s")
    keep = [(c, f"nullif(trim(b.{cols.ref(c)}), '')") for c in m.keep]

    kinds = dict(KINDS)
    kinds.update({k.lower(): v for k, v in m.kind_map.items()})
    kind_case = ("CASE lower(kind_s) " + " ".join(f"WHEN {q(k)} THEN {q(v)}" for k, v in kinds.items())
                 + " END")

    def date_expr(k: str) -> str:
        d = getattr(m, k)
        if d is None:
            return "CAST(NULL AS DATE)"
        fmts = d.format if isinstance(d.format, list) else [d.format]
        if fmts == ["iso"]:   # digits first: DuckDB also reads 'infinity' and 'epoch' as dates
            return (f"CASE WHEN regexp_matches({k}_s, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
                    f"THEN TRY_CAST({k}_s AS DATE) END")
        return (f"CASE WHEN regexp_matches({k}_s, '[0-9]') "   # strptime also reads 'infinity', 'epoch'
                f"THEN CAST(try_strptime({k}_s, [{', '.join(q(x) for x in fmts)}]) AS DATE) END")

    layer2 = [f"{kind_case} AS kind", f"{phone_digits_sql('phone')} AS phone_norm",
              f"{address_norm_sql('address')} AS address_norm",
              "regexp_replace(naics_s, '[^0-9]', '', 'g') AS naics",
              f"{date_expr('opened')} AS opened", f"{date_expr('closed')} AS closed",
              "min(_row) OVER (PARTITION BY account_id) AS first_row"]

    def colname(fld) -> str:
        return q(fld.column) if fld is not None and fld.column else "NULL"

    checks = [
        ("account_id IS NULL", colname(m.account), q("account is empty")),
        ("account_id = 'cash' OR account_id LIKE 'name:%' OR account_id LIKE 'unidentified:%'",
         colname(m.account), f"format({q(RESERVED.replace('{!r}', '{}'))}, account_id)"),
        ("EXISTS (SELECT 1 FROM _acc_seen s WHERE s.account_id = l2.account_id)", colname(m.account),
         "'account ' || account_id || ' already given at row ' || "
         "(SELECT min(s._row) FROM _acc_seen s WHERE s.account_id = l2.account_id) || ' of this file'"),
        ("first_row < _row", colname(m.account),
         "'account ' || account_id || ' already given at row ' || first_row || ' of this file'"),
        ("kind_s IS NOT NULL AND kind IS NULL", colname(m.kind),
         "'kind ' || kind_s || ' is not individual or business (map it with kind_map)'"),
        ("phone IS NOT NULL AND length(phone_norm) < 7", colname(m.phone),
         "'phone ' || phone || ' has fewer than 7 digits'"),
        ("naics_s IS NOT NULL AND NOT regexp_full_match(naics_s, '[0-9]{2,6}')", colname(m.naics),
         "'naics ' || naics_s || ' is not a NAICS code (2 to 6 digits)'"),
    ]
    for k in ("opened", "closed"):
        d = getattr(m, k)
        if d is not None:
            fmts = " or ".join(d.format if isinstance(d.format, list) else [d.format])
            not_a_date = q(" is not a date: dates must be finite, within " + year_range_text())
            checks.append((f"{k}_s IS NOT NULL AND {special_time(k + '_s')}", q(d.column),
                           f"'{k} date ' || {k}_s || {not_a_date}"))
            checks.append((f"{k}_s IS NOT NULL AND {k} IS NULL", q(d.column),
                           f"'{k} date ' || {k}_s || {q(' does not match format ' + fmts)}"))
            checks.append((f"{k} IS NOT NULL AND {DATE_OUT_OF_RANGE.format(d=k)}", q(d.column),
                           f"'{k} date ' || {k}_s || {q(' is ' + year_limit_text())}"))
    for i, (c, _) in enumerate(keep):
        if c in MONEY_ATTRIBUTES:   # an opening balance the tracing stage reads as money
            checks.append((money_out_of_range(f"keep_{i}"), q(c),
                           f"{q(c + ' ')} || keep_{i} || {q(' is out of range: ' + amount_limit_text())}"))
    reason = ("CASE WHEN _pre_reason IS NOT NULL THEN _pre_reason "
              + " ".join(f"WHEN {a} THEN {r}" for a, _, r in checks) + " END")
    rcol = ("CASE WHEN _pre_reason IS NOT NULL THEN _pre_col "
            + " ".join(f"WHEN {a} THEN {c}" for a, c, _ in checks) + " END")
    attrs = [("address", "address"), ("address_norm", "address_norm"), ("phone", "phone"),
             ("phone_norm", "nullif(phone_norm, '')"), ("category", "category"), ("naics", "nullif(naics, '')")]
    attrs += [(c, f"keep_{i}") for i, (c, _) in enumerate(keep)]
    obj = ", ".join(f"{q(k)}, {e}" for k, e in attrs)
    keep_sel = "".join(f", {e} AS keep_{i}" for i, (_, e) in enumerate(keep))
    return f"""
        WITH l1 AS (SELECT {', '.join(layer1)}{keep_sel} FROM _batch b),
             l2 AS (SELECT *, {', '.join(layer2)} FROM l1),
             l3 AS (SELECT *, {reason} AS reason, {rcol} AS col FROM l2)
        SELECT _row, reason, col, account_id, owner_name, kind, bank, branch, currency, opened, closed,
               json_merge_patch('{{}}', json_object({obj}, 'kyc_source_id', {int(sid)}, 'kyc_source_row', _row))
                   AS attributes
        FROM l3
    """


def load_accounts(ws: Workspace, sid: int, path: Path, m: AccountsMapping, *,
                  on_read=None, batch_size: int = 200_000) -> dict[str, int]:
    check = check_text(path, m.encoding)
    header, batches = read_records(path, encoding=m.encoding, delimiter=m.delimiter, quote=m.quote,
                                   skip_rows=m.skip_rows, batch_size=batch_size,
                                   strict_text=check.valid, on_read=on_read)
    cols = Columns(header, path)
    sql = _build_sql(m, cols, sid)  # raises InputError on a missing mapped column
    con = ws.con
    con.execute("CREATE OR REPLACE TEMP TABLE _acc_seen (account_id VARCHAR, _row BIGINT)")
    read = stored = 0
    try:
        for batch in batches:
            con.register("_batch", stage_batch(batch, cols.used))
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _acc AS {sql}")
            finally:
                con.unregister("_batch")
            n_bad = insert_quarantine(con, sid, batch, "SELECT _row, col, reason FROM _acc "
                                                       "WHERE reason IS NOT NULL ORDER BY _row")
            # a register's facts about each account it lists; the accounts view puts registers
            # before statements and later registers before earlier ones (moneytrail.workspace.cases)
            con.execute("""
                INSERT INTO main.account_records (account_id, source_id, source_row, register, owner_name, bank,
                                                  branch, kind, currency, opened, closed, attributes)
                SELECT account_id, ?, _row, true, owner_name, bank, branch, kind, currency, opened, closed,
                       attributes
                FROM _acc WHERE reason IS NULL""", [sid])
            # an account may appear once per file: later rows (in any batch) naming it are refused
            con.execute("INSERT INTO _acc_seen SELECT account_id, min(_row) FROM _acc "
                        "WHERE account_id IS NOT NULL GROUP BY account_id")
            read += len(batch)
            stored += len(batch) - n_bad
    finally:
        con.execute("DROP TABLE IF EXISTS _acc")
        con.execute("DROP TABLE IF EXISTS _acc_seen")
    return {"read": read, "stored": stored, "quarantined": read - stored}


__all__ = ["AccountsMapping", "AccountsReader", "load_accounts_mapping", "parse_accounts_mapping",
           "address_norm_sql", "phone_digits_sql"]
