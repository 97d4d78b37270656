"""Employer and contract records (issue 17): payroll registers, wage reports (W-2, Form 941, state
UI wage records), USAspending contract transactions, SAM.gov entity registrations, an agency's
vendor master, payment ledger and staff list. One reader for all of them.

Each format is a :class:`Kind`: the table it fills (migration 0014) and its fields, each with a
type (an amount, a date, an EIN, a UEI, a worker identifier, ...) and the column names it is
published under (USAspending's current and legacy downloads, SAM.gov's extract, the IRS's and
SSA's form line names). A file is read without a mapping when its header names the required
fields under any of those names (``--format usaspending`` reads a download as it comes); a
mapping (:class:`RecordsMapping`) names other columns, constants, date formats and the words a
file uses for a field's values::

    columns:  {employer_name: Company, worker_ssn: SSN, gross: "Gross Pay", pay_date: "Check Date"}
    defaults: {currency: USD, work_state: TX}
    values:   {pay_method: {"DD": direct_deposit, "CSH": cash}}
    date_format: "%m/%d/%Y"          # or a list; default: ISO, m/d/Y, YYYYMMDD

The same promises as every reader: the file is copied into the evidence folder; every data row
is stored, or quarantined with its row, column and reason (an amount that is not one, a date
outside 1900-2100, an EIN that is not nine digits, a required field empty, a value outside a
field's vocabulary, and the reading problems of any CSV row); ``rows_read = rows_stored +
rows_quarantined``; re-ingesting the same file is a no-op unless ``force``.

Worker and taxpayer identifiers (``worker_ssn``, ``tin``) are never stored, not even in the
quarantine: a keyed hash and the last four digits (:mod:`moneytrail.ingest.workerid`). A
quarantined row's raw text has every nine-digit identifier masked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest.accounts import address_norm_sql, phone_digits_sql
from moneytrail.ingest.csvfile import DATE_OUT_OF_RANGE, Columns, insert_quarantine, q, special_time, stage_batch
from moneytrail.ingest.mapping import read_mapping_file, validate_mapping
from moneytrail.ingest.sources import IngestResult, finish_source, register_source, require_file, skipped
from moneytrail.ingest.textfile import Batch, check_text, read_records
from moneytrail.limits import MAX_AMOUNT, amount_limit_text, year_range_text
from moneytrail.workspace import TX_ID_STRIDE, Workspace

# -- what a record kind is -----------------------------------------------------------------------


@dataclass(frozen=True)
class F:
    """A field of a record kind: its name (the table's column unless the type derives several),
    its type, whether a row needs it, and the column names it is published under."""

    name: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    vocab: tuple[tuple[str, str], ...] = ()      # enum: (word, canonical value)


@dataclass(frozen=True)
class Kind:
    format: str
    table: str
    title: str
    fields: tuple[F, ...]
    fixed: tuple[tuple[str, str], ...] = ()      # table columns with a constant (form, origin)
    one_of: tuple[tuple[str, ...], ...] = ()     # at least one of these fields in each row
    empty_words: tuple[str, ...] = ()            # words a file writes for an empty value (SAM's API: null)
    docs: str = ""

    def by_name(self) -> dict[str, F]:
        return {f.name: f for f in self.fields}


TYPES = ("text", "code", "money", "hours", "rate", "int", "date", "year", "quarter", "ein", "uei", "duns",
         "state", "enum", "currency", "phone", "address", "secret", "employee")

PAY_METHODS = (
    ("direct_deposit", "direct_deposit"), ("direct deposit", "direct_deposit"), ("dd", "direct_deposit"),
    ("ach", "direct_deposit"), ("deposit", "direct_deposit"), ("eft", "direct_deposit"),
    ("check", "check"), ("cheque", "check"), ("chk", "check"), ("paper check", "check"),
    ("cash", "cash"), ("csh", "cash"), ("currency", "cash"),
    ("card", "card"), ("pay card", "card"), ("paycard", "card"), ("payroll card", "card"),
    ("debit card", "card"), ("money_order", "money_order"), ("money order", "money_order"),
    ("other", "other"),
)
PAYMENT_METHODS = (("ach", "ach"), ("eft", "ach"), ("direct deposit", "ach"), ("check", "check"),
                   ("cheque", "check"), ("treasury check", "check"), ("card", "card"), ("purchase card", "card"),
                   ("p-card", "card"), ("pcard", "card"), ("wire", "wire"), ("fedwire", "wire"), ("other", "other"))


def _m(name: str, *aliases: str, required: bool = False) -> F:
    return F(name, "money", required, aliases)


_DEDUCTIONS = tuple(_m(f"deduction_{k}", *a) for k, a in (
    ("tax", ("tax", "taxes", "tax_withheld", "taxes_withheld")), ("benefits", ("benefits", "benefit")),
    ("housing", ("housing", "rent", "lodging", "housing_deduction")),
    ("transport", ("transport", "transportation", "travel")),
    ("debt", ("debt", "loan", "advance", "loan_repayment", "recruitment_fee", "fee")),
    ("food", ("food", "meals", "board")), ("tools", ("tools", "uniform", "uniforms", "equipment")),
    ("other", ("other_deductions",))))

PAYROLL = Kind(
    "payroll", "payroll_lines", "payroll register",
    (F("employer_name", "text", aliases=("employer", "company", "company_name", "business_name")),
     F("employer_ein", "ein", aliases=("ein", "fein", "employer_id_number", "employer_identification_number")),
     F("period_start", "date", aliases=("pay_period_start", "period_begin", "period_from")),
     F("period_end", "date", aliases=("pay_period_end", "period_to", "period_ending")),
     F("pay_date", "date", True, ("check_date", "payment_date", "paid_date", "date_paid", "date")),
     F("worker_ssn", "secret", aliases=("ssn", "itin", "tin", "social_security_number", "employee_ssn")),
     F("worker_id", "employee", aliases=("employee_id", "employee_number", "employee_no", "emp_id", "worker")),
     F("hours", "hours", aliases=("hours_worked", "total_hours", "hrs")),
     F("rate", "rate", aliases=("pay_rate", "hourly_rate")),
     _m("gross", "gross_pay", "gross_wages", "gross_amount", "wages", required=True),
     _m("net", "net_pay", "net_amount", "take_home"),
     *_DEDUCTIONS,
     F("pay_method", "enum", aliases=("payment_method", "method", "paid_by"), vocab=PAY_METHODS),
     F("pay_account", "text", aliases=("deposit_account", "account", "destination_account", "bank_account")),
     F("check_number", "text", aliases=("check_no", "cheque_number")),
     F("work_state", "state", aliases=("state", "work_location_state")),
     F("currency", "currency")),
    one_of=(("employer_name", "employer_ein"), ("worker_ssn", "worker_id")),
    docs="one row per worker per pay")

_WAGE_COMMON = (
    F("employer_ein", "ein", aliases=("ein", "fein", "employer_identification_number")),
    F("employer_name", "text", aliases=("employer", "company", "business_name", "name")),
    F("tax_year", "year", True, ("year", "tax_yr", "calendar_year")),
)

W2 = Kind(
    "w2", "wage_reports", "W-2 listing",
    (*_WAGE_COMMON,
     F("worker_ssn", "secret", True, ("ssn", "employee_ssn", "social_security_number")),
     _m("wages", "box1", "box_1", "wages_tips_other_compensation", "wages_tips_other_comp"),
     _m("withholding", "box2", "box_2", "federal_income_tax_withheld"),
     _m("ss_wages", "box3", "box_3", "social_security_wages"),
     _m("medicare_wages", "box5", "box_5", "medicare_wages_and_tips"),
     F("state", "state", aliases=("state_code",))),
    fixed=(("form", "w2"),), one_of=(("employer_ein", "employer_name"),),
    docs="one row per worker per year (SSA EFW2 files: --format efw2)")

F941 = Kind(
    "form941", "wage_reports", "Form 941 quarters",
    (*_WAGE_COMMON,
     F("quarter", "quarter", True, ("qtr", "tax_quarter")),
     F("employees", "int", aliases=("line1", "line_1", "number_of_employees", "employee_count")),
     _m("wages", "line2", "line_2", "wages_tips_and_other_compensation", "total_wages"),
     _m("withholding", "line3", "line_3", "federal_income_tax_withheld"),
     _m("ss_wages", "line5a", "line_5a", "taxable_social_security_wages"),
     _m("medicare_wages", "line5c", "line_5c", "taxable_medicare_wages_and_tips")),
    fixed=(("form", "941"),), one_of=(("employer_ein", "employer_name"),),
    docs="one row per employer per quarter")

UI = Kind(
    "uiwage", "wage_reports", "state unemployment-insurance wage records",
    (*_WAGE_COMMON,
     F("quarter", "quarter", True, ("qtr",)),
     F("worker_ssn", "secret", True, ("ssn", "employee_ssn", "social_security_number")),
     _m("wages", "gross_wages", "quarterly_wages", "total_wages", "ui_wages"),
     F("hours", "hours", aliases=("hours_worked",)),
     F("state", "state", aliases=("state_code",))),
    fixed=(("form", "ui"),), one_of=(("employer_ein", "employer_name"),),
    docs="one row per worker per employer per quarter")

# USAspending.gov contract transactions: the current download's names first, then the legacy
# data feeds' (usaspending.gov before 2017: "dollarsobligated", "signeddate", "vendorname", ...)
USASPENDING = Kind(
    "usaspending", "awards", "USAspending contract transactions",
    (F("transaction_key", "text", aliases=("contract_transaction_unique_key", "unique_transaction_id")),
     F("award_key", "text", aliases=("contract_award_unique_key",)),
     F("piid", "text", aliases=("award_id_piid",)),
     F("parent_piid", "text", aliases=("parent_award_id_piid", "idvpiid")),
     F("modification", "text", aliases=("modification_number", "modnumber")),
     F("solicitation", "text", aliases=("solicitation_identifier", "solicitationid")),
     F("action_date", "date", True, ("signeddate", "effectivedate")),
     _m("obligation", "federal_action_obligation", "dollarsobligated", "obligatedamount", required=True),
     _m("current_value", "base_and_exercised_options_value", "baseandexercisedoptionsvalue"),
     _m("potential_value", "base_and_all_options_value", "baseandalloptionsvalue"),
     F("agency", "text", aliases=("awarding_agency_name", "maj_agency_cat")),
     F("subagency", "text", aliases=("awarding_sub_agency_name", "contractingofficeagencyid", "mod_agency")),
     F("office_code", "code", aliases=("awarding_office_code", "contractingofficeid")),
     F("office", "text", aliases=("awarding_office_name",)),
     F("recipient_uei", "uei", aliases=("recipient_uei",)),
     F("recipient_duns", "duns", aliases=("recipient_duns", "dunsnumber")),
     F("recipient_name", "text", aliases=("recipient_name", "vendorname")),
     F("parent_uei", "uei", aliases=("recipient_parent_uei",)),
     F("parent_name", "text", aliases=("recipient_parent_name", "mod_parent")),
     F("recipient_address", "address", aliases=("recipient_address_line_1", "streetaddress")),
     F("recipient_address_2", "address", aliases=("recipient_address_line_2", "streetaddress2")),
     F("recipient_city", "address", aliases=("recipient_city_name", "city")),
     F("recipient_state", "address", aliases=("recipient_state_code", "state")),
     F("recipient_zip", "address", aliases=("recipient_zip_4_code", "recipient_zip_code", "zipcode")),
     F("recipient_phone", "phone", aliases=("recipient_phone_number", "phoneno")),
     F("naics", "code", aliases=("naics_code", "principalnaicscode")),
     F("psc", "code", aliases=("product_or_service_code", "productorservicecode")),
     F("extent_competed", "code", aliases=("extent_competed_code", "extentcompeted", "extent_competed")),
     F("offers", "int", aliases=("number_of_offers_received", "numberofoffersreceived")),
     F("set_aside", "code", aliases=("type_of_set_aside_code", "typeofsetaside")),
     F("award_type", "code", aliases=("award_type_code", "contractactiontype", "award_type")),
     F("description", "text", aliases=("transaction_description", "descriptionofcontractrequirement"))),
    docs="one row per contract action (transaction)")

# SAM.gov: the public extract's names (SAM Master Extract Mapping, public and FOUO V2 layouts) and
# the Entity Management API's CSV export's (ueiSAM, physicalAddress.addressLine1, ...)
_VENDOR_COMMON = (
    F("uei", "uei", aliases=("unique_entity_id", "ueiSAM", "sam_uei", "uei_sam")),
    F("cage", "code", aliases=("cage_code", "cageCode")),
    F("duns", "duns", aliases=("duns_number", "ueiDUNS")),
    F("dba", "text", aliases=("dba_name", "dbaName", "doing_business_as")),
    F("address", "address", aliases=("physical_address_line_1", "physicalAddress.addressLine1", "address_line_1",
                                     "street", "street_address")),
    F("address_2", "address", aliases=("physical_address_line_2", "physicalAddress.addressLine2", "address_line_2")),
    F("city", "address", aliases=("physical_address_city", "physicalAddress.city", "city")),
    F("state", "state", aliases=("physical_address_province_or_state", "physicalAddress.stateOrProvinceCode",
                                 "state_code")),
    F("zip", "address", aliases=("physical_address_zip_postal_code", "physicalAddress.zipCode", "zip_code",
                                 "postal_code")),
    F("country", "code", aliases=("physical_address_country_code", "physicalAddress.countryCode", "country_code")),
    F("phone", "phone", aliases=("GOVT BUS POC U.S. PHONE", "governmentBusinessPOC.usPhone", "telephone",
                                 "phone_number")),
    F("email", "text", aliases=("GOVT BUS POC EMAIL", "governmentBusinessPOC.email", "email_address")),
    F("registered", "date", aliases=("initial_registration_date", "registrationDate", "registration_date")),
    F("activated", "date", aliases=("activation_date", "activationDate")),
    F("expires", "date", aliases=("registration_expiration_date", "registrationExpirationDate", "expiration_date")),
    F("started", "date", aliases=("entity_start_date", "entityStartDate", "business_start_date",
                                  "incorporation_date")),
    F("poc_name", "text", aliases=("point_of_contact", "contact_name")),
    F("naics", "code", aliases=("primary_naics", "assertions.primaryNaics", "naics_code")),
)

SAM = Kind(
    "sam", "vendors", "SAM.gov entity registrations",
    (F("name", "text", True, ("legal_business_name", "legalBusinessName", "entity_name", "legal_name")),
     *_VENDOR_COMMON),
    fixed=(("origin", "sam"),), empty_words=("null",), docs="one row per registered entity")

VENDORS = Kind(
    "vendors", "vendors", "vendor master",
    (F("vendor_id", "text", aliases=("vendor_number", "vendor_no", "supplier_id", "supplier_number")),
     F("name", "text", True, ("vendor_name", "supplier_name", "payee_name", "legal_business_name")),
     *_VENDOR_COMMON,
     F("bank_account", "text", aliases=("remit_account", "bank_account_number", "account_number", "account")),
     F("ein", "ein", aliases=("vendor_ein", "fein")),
     F("tin", "secret", aliases=("tin", "taxpayer_id", "vendor_tin", "ssn"))),
    fixed=(("origin", "vendor_master"),), docs="one row per vendor")

PAYMENTS = Kind(
    "payments", "payments", "payment ledger",
    (F("payment_id", "text", aliases=("payment_number", "payment_no", "voucher", "voucher_number", "disbursement_id")),
     F("vendor_id", "text", aliases=("vendor_number", "vendor_no", "supplier_id")),
     F("vendor_uei", "uei", aliases=("uei", "recipient_uei")),
     F("vendor_name", "text", aliases=("vendor", "payee", "payee_name", "supplier_name")),
     F("invoice", "text", aliases=("invoice_number", "invoice_no", "invoice_id")),
     F("invoice_date", "date"),
     F("paid_date", "date", True, ("payment_date", "date_paid", "disbursement_date", "date")),
     _m("amount", "payment_amount", "amount_paid", "paid_amount", required=True),
     F("currency", "currency"),
     F("office_code", "code", aliases=("office_id",)),
     F("office", "text", aliases=("office_name", "department")),
     F("piid", "text", aliases=("contract_number", "award_id", "po_number", "purchase_order")),
     F("pay_account", "text", aliases=("bank_account", "deposit_account", "account")),
     F("method", "enum", aliases=("payment_method", "payment_type"), vocab=PAYMENT_METHODS),
     F("approver", "text", aliases=("approved_by", "certifying_officer", "approving_official")),
     F("description", "text", aliases=("memo", "purpose"))),
    one_of=(("vendor_id", "vendor_uei", "vendor_name"),), docs="one row per payment")

OFFICIALS = Kind(
    "officials", "officials", "agency staff list",
    (F("person_id", "text", True, ("employee_id", "employee_number", "id")),
     F("name", "text", aliases=("employee_name", "full_name")),
     F("title", "text", aliases=("position", "job_title")),
     F("role", "text", aliases=("contracting_role", "warrant")),
     F("office_code", "code", aliases=("office_id",)),
     F("office", "text", aliases=("office_name", "department")),
     F("address", "address", aliases=("home_address", "street", "address_line_1")),
     F("address_2", "address", aliases=("address_line_2",)),
     F("city", "address"), F("state", "address"), F("zip", "address", aliases=("zip_code", "postal_code")),
     F("phone", "phone", aliases=("home_phone", "phone_number")),
     F("email", "text", aliases=("email_address",)),
     F("bank_account", "text", aliases=("direct_deposit_account", "account")),
     F("tin", "secret", aliases=("ssn",)),
     F("started", "date", aliases=("start_date", "hire_date")),
     F("ended", "date", aliases=("end_date", "separation_date"))),
    docs="one row per employee or official")

KINDS: dict[str, Kind] = {k.format: k for k in (PAYROLL, W2, F941, UI, USASPENDING, SAM, VENDORS, PAYMENTS,
                                                OFFICIALS)}

# -- the mapping ---------------------------------------------------------------------------------

DEFAULT_DATES = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%Y%m%d")


class RecordsMapping(BaseModel):
    """How a file of one record kind names its fields (all optional: see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    skip_rows: int = Field(0, ge=0)
    sheet: str | int | None = None                # an XLSX workbook's sheet (name or 0-based index)
    decimal: Literal[".", ","] = "."               # the decimal mark of amounts (the other mark groups thousands)
    date_format: str | list[str] | None = None
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self):
        if len(self.delimiter) != 1 or len(self.quote) != 1:
            raise ValueError("'delimiter' and 'quote' must be one character each")
        return self

    def check_fields(self, kind: Kind, origin: str) -> None:
        known = kind.by_name()
        for part in ("columns", "defaults", "values"):
            for name in getattr(self, part):
                if name not in known:
                    raise MappingError(f"{origin}: {part}: {name!r} is not a field of {kind.title} "
                                       f"(fields: {', '.join(known)})")
        for name in self.defaults:
            if known[name].type in ("secret", "employee"):
                raise MappingError(f"{origin}: defaults: {name} identifies a person: it can only come from a column")
        for name, words in self.values.items():
            f = known[name]
            if f.type != "enum":
                raise MappingError(f"{origin}: values: {name} takes any value; 'values' is for "
                                   f"{', '.join(x.name for x in kind.fields if x.type == 'enum') or 'none'}")
            allowed = {c for _, c in f.vocab}
            for w, c in words.items():
                if c not in allowed:
                    raise MappingError(f"{origin}: values: {name}: {c!r} is not one of {', '.join(sorted(allowed))}")


def parse_records_mapping(data, origin: str = "<mapping>") -> RecordsMapping:
    return validate_mapping(RecordsMapping, data, origin, "records mapping")


def load_records_mapping(path) -> RecordsMapping:
    return parse_records_mapping(read_mapping_file(path), str(path))


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def bind_columns(kind: Kind, header: list[str], m: RecordsMapping, path: Path) -> dict[str, list[str]]:
    """Each field's header columns: the mapping's, else a column published under the field's name
    or one of its aliases (case, blanks and punctuation ignored). A required field bound to no
    column and given no default is an InputError naming what is missing."""
    by_norm: dict[str, str] = {}
    for h in header:
        by_norm.setdefault(_norm(h.lstrip("\ufeff")), h)
    bound: dict[str, list[str]] = {}
    for f in kind.fields:
        given = m.columns.get(f.name)
        if given is not None:
            bound[f.name] = [given] if isinstance(given, str) else list(given)
            continue
        # its own name first, unless its aliases list it (then they say where it comes: a code
        # column before a description column of the same name, extent_competed_code before extent_competed)
        for cand in (f.aliases if f.name in f.aliases else (f.name, *f.aliases)):
            h = by_norm.get(_norm(cand))
            if h is not None and h not in {c for cs in bound.values() for c in cs}:
                bound[f.name] = [h]
                break
    missing = [f.name for f in kind.fields if f.required and f.name not in bound and f.name not in m.defaults]
    if missing:
        shown = ", ".join(h[:40] for h in header[:20]) + (" ..." if len(header) > 20 else "")
        raise InputError(f"{kind.title}: no column for {', '.join(missing)} (header: {shown}); name it with "
                         f"--mapping (columns: {{{missing[0]}: COLUMN}}; docs/records.md)", path=str(path))
    for group in kind.one_of:
        if not any(g in bound or g in m.defaults for g in group):
            raise InputError(f"{kind.title}: no column for any of {', '.join(group)}; name one with --mapping "
                             f"(docs/records.md)", path=str(path))
    return bound


# -- parsing, as SQL over the staged text --------------------------------------------------------

def _clean(v: str) -> str:
    return f"nullif(regexp_replace(trim({v}), '\\s+', ' ', 'g'), '')"


def _number_text(v: str, decimal: str) -> str:
    """An amount's text as SQL reads a number: currency signs and blanks dropped, a parenthesised
    amount negative, the thousands separators taken out only where they group three digits
    (``1,500.00``; with ``decimal: ","``, ``1.500,00``), the decimal mark made a point. Text
    that is not a number written this way fails the number check (``1.500,00`` is not an amount
    under ``decimal: "."``: never read as 1.5)."""
    t = f"regexp_replace(trim({v}), '[\\s$]', '', 'g')"
    t = f"CASE WHEN regexp_full_match({t}, '\\(.*\\)') THEN '-' || trim({t}, '()') ELSE {t} END"
    sep, dec = (",", ".") if decimal == "." else (".", ",")
    grouped = f"[+-]?[0-9]{{1,3}}(\\{sep}[0-9]{{3}})+(\\{dec}[0-9]*)?"
    plain = f"[+-]?([0-9]+(\\{dec}[0-9]*)?|\\{dec}[0-9]+)"
    body = f"CASE WHEN regexp_full_match({t}, {q(grouped)}) THEN replace({t}, {q(sep)}, '') " \
           f"WHEN regexp_full_match({t}, {q(plain)}) THEN {t} END"
    return f"CASE WHEN ({body}) IS NULL THEN 'not a number' ELSE replace({body}, {q(dec)}, '.') END"


_NUM = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"


@dataclass
class _Expr:
    value: str                       # the parsed value (NULL when empty or bad)
    checks: list[tuple[str, str]] = field(default_factory=list)   # (condition for a bad value, reason)


def _unless(value: str, raw: str, name: str, what: str) -> _Expr:
    """A value read by a pattern: a text given that the pattern does not read is refused, the
    reason naming the field, the text and ``what`` the field takes."""
    return _Expr(value, [(f"{raw} IS NOT NULL AND {value} IS NULL", f"{name} || {raw} || {q(' is not ' + what)}")])


def _field_expr(f: F, raw: str, m: RecordsMapping) -> _Expr:
    """SQL parsing the cleaned text ``raw`` of field ``f``, and the checks refusing a bad value."""
    name = q(f.name + " ")
    if f.type in ("text", "address", "phone", "employee"):
        return _Expr(raw)
    if f.type == "code":   # a legacy FPDS value "A: FULL AND OPEN COMPETITION" is its code, "A"
        return _Expr(f"upper(CASE WHEN contains({raw}, ': ') THEN nullif(trim(split_part({raw}, ': ', 1)), '') "
                     f"ELSE {raw} END)")
    if f.type in ("money", "hours", "rate"):
        t = _number_text(raw, m.decimal)
        typ = {"money": "DECIMAL(18,2)", "hours": "DECIMAL(10,2)", "rate": "DECIMAL(18,4)"}[f.type]
        scale = {"money": 2, "hours": 2, "rate": 4}[f.type]
        ok = f"regexp_full_match({t}, {q(_NUM)})"
        exact = f"TRY_CAST({t} AS DECIMAL(38,10))"
        value = f"CASE WHEN {ok} AND abs({exact}) < {MAX_AMOUNT} THEN CAST({exact} AS {typ}) END"
        what = "an amount" if f.type == "money" else "a number"
        checks = [(f"{raw} IS NOT NULL AND NOT {ok}", f"{name} || {raw} || {q(' is not ' + what)}"),
                  (f"{ok} AND abs({exact}) >= {MAX_AMOUNT}",
                   f"{name} || {raw} || {q(' is out of range: ' + amount_limit_text())}"),
                  (f"{ok} AND {exact} <> round({exact}, {scale})",
                   f"{name} || {raw} || {q(f' has more than {scale} decimals')}")]
        if f.type != "money":
            checks.append((f"{ok} AND {exact} < 0", f"{name} || {raw} || ' is negative'"))
        return _Expr(value, checks)
    if f.type == "int":
        value = f"CASE WHEN regexp_full_match({raw}, '[0-9]{{1,9}}([.]0*)?') THEN CAST(CAST({raw} AS DECIMAL(12,2)) AS INTEGER) END"
        return _unless(value, raw, name, "a whole number")
    if f.type == "date":
        fmts = m.date_format if m.date_format is not None else list(DEFAULT_DATES)
        fmts = [fmts] if isinstance(fmts, str) else fmts
        fmts = ["%Y-%m-%d" if x == "iso" else x for x in fmts]
        parsed = (f"CASE WHEN regexp_matches({raw}, '[0-9]') AND NOT {special_time(raw)} "
                  f"THEN CAST(try_strptime({raw}, [{', '.join(q(x) for x in fmts)}]) AS DATE) END")
        value = f"CASE WHEN NOT {DATE_OUT_OF_RANGE.format(d=parsed)} THEN {parsed} END"
        return _Expr(value, [
            (f"{raw} IS NOT NULL AND {parsed} IS NULL",
             f"{name} || {raw} || {q(' is not a date in the form ' + ' or '.join(fmts))}"),
            (f"{parsed} IS NOT NULL AND {DATE_OUT_OF_RANGE.format(d=parsed)}",
             f"{name} || {raw} || {q(' is not a date within ' + year_range_text())}")])
    if f.type == "year":
        value = (f"CASE WHEN regexp_full_match({raw}, '[0-9]{{4}}') AND CAST({raw} AS INTEGER) BETWEEN 1900 AND 2100 "
                 f"THEN CAST({raw} AS INTEGER) END")
        return _unless(value, raw, name, "a year within " + year_range_text())
    if f.type == "quarter":
        value = f"CASE WHEN regexp_full_match(upper({raw}), 'Q?[1-4]') THEN CAST(right({raw}, 1) AS INTEGER) END"
        return _unless(value, raw, name, "a quarter (1-4)")
    if f.type == "ein":
        d = f"regexp_replace({raw}, '[- ]', '', 'g')"
        value = f"CASE WHEN regexp_full_match({d}, '[0-9]{{9}}') THEN {d} END"
        return _unless(value, raw, name, "an EIN (nine digits)")
    if f.type == "uei":
        value = f"CASE WHEN regexp_full_match(upper({raw}), '[A-Z0-9]{{12}}') THEN upper({raw}) END"
        return _unless(value, raw, name, "a UEI (12 letters and digits)")
    if f.type == "duns":      # nine digits; DUNS+4 (13) keeps the nine
        d = f"regexp_replace({raw}, '[- ]', '', 'g')"
        value = f"CASE WHEN regexp_full_match({d}, '[0-9]{{9}}([0-9]{{4}})?') THEN left({d}, 9) END"
        return _unless(value, raw, name, "a DUNS number (nine digits)")
    if f.type == "state":
        value = f"CASE WHEN regexp_full_match(upper({raw}), '[A-Z]{{2}}') THEN upper({raw}) END"
        return _unless(value, raw, name, "a two-letter state code")
    if f.type == "currency":
        value = f"CASE WHEN regexp_full_match(upper({raw}), '[A-Z]{{3}}') THEN upper({raw}) END"
        return _Expr(f"coalesce({value}, 'USD')", [(f"{raw} IS NOT NULL AND {value} IS NULL",
                                                     f"{name} || {raw} || ' is not a currency code'")])
    if f.type == "enum":
        words = {w.lower(): c for w, c in f.vocab}
        words.update({w.strip().lower(): c for w, c in m.values.get(f.name, {}).items()})
        case = "CASE lower(" + raw + ") " + " ".join(f"WHEN {q(w)} THEN {q(c)}" for w, c in words.items()) + " END"
        allowed = ", ".join(sorted(set(words.values())))
        return _Expr(case, [(f"{raw} IS NOT NULL AND {case} IS NULL",
                             f"{name} || {raw} || {q(' is not one of ' + allowed + ' (map it under values:)')}")])
    raise AssertionError(f.type)


def _secret_columns(f: F) -> tuple[str, str, str]:
    return f"s_{f.name}_key", f"s_{f.name}_last4", f"s_{f.name}_kind"


@dataclass
class _Plan:
    kind: Kind
    sql: str
    secrets: list[tuple[F, int | None]]     # secret/employee fields and their column index
    used: set[int]


def _build(kind: Kind, bound: dict[str, list[str]], cols: Columns, m: RecordsMapping, sid: int) -> _Plan:
    fields = kind.by_name()
    raw: dict[str, str] = {}
    secrets: list[tuple[F, int | None]] = []
    for f in kind.fields:
        names = bound.get(f.name)
        if f.type in ("secret", "employee"):
            if names:
                cols.ref(names[0])
                secrets.append((f, cols.index[names[0]]))
            continue
        if names:
            parts = [_clean(f"b.{cols.ref(n)}") for n in names]
            if kind.empty_words:
                words = ", ".join(q(w) for w in kind.empty_words)
                parts = [f"CASE WHEN lower({p}) IN ({words}) THEN NULL ELSE {p} END" for p in parts]
            raw[f.name] = parts[0] if len(parts) == 1 else f"nullif(concat_ws(' ', {', '.join(parts)}), '')"
        elif f.name in m.defaults:
            raw[f.name] = _clean(q(m.defaults[f.name]))
    layer1 = ["b._row", "b._pre_col", "b._pre_reason"]
    layer1 += [f"{e} AS r_{n}" for n, e in raw.items()]
    for f, _ in secrets:
        layer1 += [f"b.{c}" for c in _secret_columns(f)] + [f"b.s_{f.name}_reason"]
    exprs = {n: _field_expr(fields[n], f"r_{n}", m) for n in raw}
    layer2 = [f"{e.value} AS v_{n}" for n, e in exprs.items()]
    checks: list[tuple[str, str, str]] = []
    for f, j in secrets:
        checks.append((f"s_{f.name}_reason IS NOT NULL", q(cols.header[j]), f"s_{f.name}_reason"))
    for f in kind.fields:
        if f.name in exprs:
            col = q(bound[f.name][0]) if f.name in bound else "NULL"
            for cond, why in exprs[f.name].checks:
                checks.append((cond, col, why))
            if f.required:
                checks.append((f"r_{f.name} IS NULL", col, q(f"{f.name} is empty")))
        elif f.required and f.type in ("secret", "employee"):
            j = next((j for g, j in secrets if g is f), None)
            if j is not None:
                checks.append((f"s_{f.name}_key IS NULL AND s_{f.name}_reason IS NULL", q(cols.header[j]),
                               q(f"{f.name} is empty")))
        elif f.required:
            checks.append(("TRUE", "NULL", q(f"{f.name} is empty")))
    for group in kind.one_of:
        present = []
        for g in group:
            if fields[g].type in ("secret", "employee"):
                if any(x is fields[g] for x, _ in secrets):
                    present.append(f"s_{g}_key IS NOT NULL")
            elif g in raw:
                present.append(f"r_{g} IS NOT NULL")
        cond = "NOT (" + " OR ".join(present) + ")" if present else "TRUE"
        checks.append((cond, "NULL", q(f"none of {', '.join(group)} is given")))
    for p in _extra_checks(kind):
        checks.append(p)
    reason = ("CASE WHEN _pre_reason IS NOT NULL THEN _pre_reason "
              + " ".join(f"WHEN {a} THEN {r}" for a, _, r in checks) + " END")
    rcol = ("CASE WHEN _pre_reason IS NOT NULL THEN _pre_col "
            + " ".join(f"WHEN {a} THEN {c}" for a, c, _ in checks) + " END")
    out = _outputs(kind, exprs, secrets)
    select = ", ".join(f"{e} AS {c}" for c, e in out.items())
    sql = f"""
        WITH l1 AS (SELECT {', '.join(layer1)} FROM _batch b),
             l2 AS (SELECT *{''.join(', ' + x for x in layer2)} FROM l1),
             l3 AS (SELECT *, {reason} AS _reason, {rcol} AS _col FROM l2)
        SELECT _row, _reason, _col, {int(sid)} * {TX_ID_STRIDE} + _row AS record_id, {int(sid)} AS source_id,
               _row AS source_row, {select}
        FROM l3"""
    return _Plan(kind, sql, secrets, set(cols.used))


def _v(exprs: dict[str, _Expr], name: str, cast: str | None = None) -> str:
    if name in exprs:
        return f"v_{name}"
    return f"CAST(NULL AS {cast})" if cast else "NULL"


def _address(exprs, names: tuple[str, ...]) -> str:
    parts = [f"v_{n}" for n in names if n in exprs]
    return f"nullif(concat_ws(', ', {', '.join(parts)}), '')" if parts else "CAST(NULL AS VARCHAR)"


def _extra_checks(kind: Kind) -> list[tuple[str, str, str]]:
    return []


def _outputs(kind: Kind, exprs: dict[str, _Expr], secrets: list[tuple[F, int | None]]) -> dict[str, str]:
    """The table's columns as SQL over the parsed fields (``v_<field>``) and the identifiers' keys."""
    v = lambda n, cast=None: _v(exprs, n, cast)      # noqa: E731
    out: dict[str, str] = {c: q(val) for c, val in kind.fixed}
    sec = {f.name: _secret_columns(f) for f, _ in secrets}
    if kind.table == "payroll_lines":
        worker = [n for n in ("worker_ssn", "worker_id") if n in sec]
        key = f"coalesce({', '.join(sec[n][0] for n in worker)})" if worker else "NULL"
        last4 = f"coalesce({', '.join(sec[n][1] for n in worker)})" if worker else "NULL"
        wkind = f"coalesce({', '.join(sec[n][2] for n in worker)})" if worker else "NULL"
        out.update({
            "employer": f"coalesce({v('employer_ein')}, upper({v('employer_name')}))",
            "employer_name": v("employer_name"), "employer_ein": v("employer_ein"),
            "period_start": v("period_start", "DATE"), "period_end": v("period_end", "DATE"),
            "pay_date": v("pay_date", "DATE"), "worker_key": key, "worker_last4": last4, "worker_id_kind": wkind,
            "hours": v("hours", "DECIMAL(10,2)"), "rate": v("rate", "DECIMAL(18,4)"),
            "gross": v("gross", "DECIMAL(18,2)"), "net": v("net", "DECIMAL(18,2)"),
            **{f.name: v(f.name, "DECIMAL(18,2)") for f in _DEDUCTIONS},
            "pay_method": v("pay_method"), "pay_account": v("pay_account"), "check_number": v("check_number"),
            "work_state": v("work_state"), "currency": "coalesce(" + v("currency") + ", 'USD')"})
    elif kind.table == "wage_reports":
        quarter = v("quarter", "INTEGER")
        start = (f"CASE WHEN {quarter} IS NULL THEN make_date(v_tax_year, 1, 1) "
                 f"ELSE make_date(v_tax_year, 3 * {quarter} - 2, 1) END")
        end = (f"CASE WHEN {quarter} IS NULL THEN make_date(v_tax_year, 12, 31) "
               f"ELSE CAST(make_date(v_tax_year, 3 * {quarter} - 2, 1) + INTERVAL 3 MONTH - INTERVAL 1 DAY AS DATE) END")
        out.update({
            "employer_ein": v("employer_ein"), "employer_name": v("employer_name"), "tax_year": "v_tax_year",
            "quarter": quarter, "period_start": start, "period_end": end,
            "worker_key": sec["worker_ssn"][0] if "worker_ssn" in sec else "NULL",
            "worker_last4": sec["worker_ssn"][1] if "worker_ssn" in sec else "NULL",
            "employees": v("employees", "INTEGER"),
            **{c: v(c, "DECIMAL(18,2)") for c in ("wages", "withholding", "ss_wages", "medicare_wages")},
            "hours": v("hours", "DECIMAL(10,2)"), "state": v("state")})
    elif kind.table == "awards":
        addr = _address(exprs, ("recipient_address", "recipient_address_2", "recipient_city", "recipient_state",
                                "recipient_zip"))
        out.update({c: v(c) for c in ("transaction_key", "award_key", "piid", "parent_piid", "modification",
                                      "solicitation")})
        out.update({"action_date": "v_action_date", "obligation": "v_obligation",
                    "current_value": v("current_value", "DECIMAL(18,2)"),
                    "potential_value": v("potential_value", "DECIMAL(18,2)")})
        out.update({c: v(c) for c in ("agency", "subagency", "office_code", "office", "recipient_uei",
                                      "recipient_duns", "recipient_name", "parent_uei", "parent_name")})
        out.update({"recipient_address": addr, "address_norm": address_norm_sql(addr),
                    "phone_norm": f"nullif({phone_digits_sql(v('recipient_phone'))}, '')"
                    if "recipient_phone" in exprs else "NULL"})
        out.update({c: v(c) for c in ("naics", "psc", "extent_competed")})
        out.update({"offers": v("offers", "INTEGER"), "set_aside": v("set_aside"), "award_type": v("award_type"),
                    "description": v("description")})
    elif kind.table == "vendors":
        addr = _address(exprs, ("address", "address_2", "city", "state", "zip"))
        out.update({c: v(c) for c in ("vendor_id", "uei", "cage", "duns", "name", "dba")})
        out.update({"address": addr, "address_norm": address_norm_sql(addr), "phone": v("phone"),
                    "phone_norm": f"nullif({phone_digits_sql(v('phone'))}, '')" if "phone" in exprs else "NULL",
                    "email": f"lower({v('email')})", "bank_account": v("bank_account"), "ein": v("ein"),
                    "tin_key": sec["tin"][0] if "tin" in sec else "NULL",
                    "tin_last4": sec["tin"][1] if "tin" in sec else "NULL"})
        out.update({c: v(c, "DATE") for c in ("registered", "activated", "expires", "started")})
        out.update({c: v(c) for c in ("poc_name", "naics", "state", "country")})
    elif kind.table == "payments":
        out.update({c: v(c) for c in ("payment_id", "vendor_id", "vendor_uei", "vendor_name", "invoice")})
        out.update({"invoice_date": v("invoice_date", "DATE"), "paid_date": "v_paid_date", "amount": "v_amount",
                    "currency": "coalesce(" + v("currency") + ", 'USD')"})
        out.update({c: v(c) for c in ("office_code", "office", "piid", "pay_account", "method", "approver",
                                      "description")})
    elif kind.table == "officials":
        addr = _address(exprs, ("address", "address_2", "city", "state", "zip"))
        out.update({c: v(c) for c in ("person_id", "name", "title", "role", "office_code", "office")})
        out.update({"address": addr, "address_norm": address_norm_sql(addr), "phone": v("phone"),
                    "phone_norm": f"nullif({phone_digits_sql(v('phone'))}, '')" if "phone" in exprs else "NULL",
                    "email": f"lower({v('email')})", "bank_account": v("bank_account"),
                    "tin_key": sec["tin"][0] if "tin" in sec else "NULL",
                    "tin_last4": sec["tin"][1] if "tin" in sec else "NULL",
                    "started": v("started", "DATE"), "ended": v("ended", "DATE")})
    else:   # pragma: no cover - every kind's table is above
        raise AssertionError(kind.table)
    return out


# -- identifiers, in Python before the SQL -------------------------------------------------------

def _identifiers(batch: Batch, secrets: list[tuple[F, int | None]], h, employer_col: int | None) -> dict[str, pa.Array]:
    """The keyed hashes, last four digits, kinds and refusals of the batch's identifier fields; the
    batch's values and raw texts are masked in place (nothing below keeps a number in clear)."""
    from moneytrail.ingest import workerid

    out: dict[str, pa.Array] = {}
    n = len(batch.rows)
    for f, j in secrets:
        keys, last4, kinds, reasons = [None] * n, [None] * n, [None] * n, [None] * n
        for i, row in enumerate(batch.rows):
            if j is None or j >= len(row) or row[j] is None or not row[j].strip():
                continue
            text = row[j]
            if f.type == "employee":
                emp = (row[employer_col] or "") if employer_col is not None and employer_col < len(row) else ""
                emp = workerid.digits(emp) or " ".join(emp.split()).upper()   # an EIN as its digits
                value = " ".join(text.split())
                keys[i] = h(f"employee:{emp}", value)
                last4[i] = value[-4:] if len(value) >= 4 else None
                kinds[i] = "employee"
                continue
            d = workerid.digits(text)
            if d is None:
                reasons[i] = f"{f.name} is not nine digits (an SSN, ITIN or TIN)"
                row[j] = "*" * min(len(text), 11)
                continue
            keys[i], last4[i], kinds[i] = h("tin", d), d[-4:], workerid.classify(d)
            row[j] = workerid.mask(d)
        c_key, c_last4, c_kind = _secret_columns(f)
        out[c_key] = pa.array(keys, pa.string())
        out[c_last4] = pa.array(last4, pa.string())
        out[c_kind] = pa.array(kinds, pa.string())
        out[f"s_{f.name}_reason"] = pa.array(reasons, pa.string())
    if any(f.type == "secret" for f, _ in secrets):
        for i in list(batch.raws):
            batch.raws[i] = workerid.mask_text(batch.raws[i])
    return out


# -- loading -------------------------------------------------------------------------------------

def _columns_of(ws: Workspace, table: str) -> list[str]:
    return [r[0] for r in ws.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "ORDER BY column_index", [table]).fetchall()]


def load_records(ws: Workspace, sid: int, kind: Kind, header: list[str], batches: Iterator[Batch], path: Path,
                 m: RecordsMapping) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Store the records of ``batches`` (a file's data rows, read as text) as ``kind``'s rows of
    source ``sid``; returns the counts and the columns each field was read from."""
    cols = Columns(header, path)
    bound = bind_columns(kind, header, m, path)
    plan = _build(kind, bound, cols, m, sid)
    h = None
    if plan.secrets:
        from moneytrail.ingest.workerid import hasher
        h = hasher(ws)
    emp_cols = bound.get("employer_ein") or bound.get("employer_name")
    employer_col = cols.index.get(emp_cols[0]) if emp_cols else None
    table_cols = [c for c in _columns_of(ws, kind.table)]
    con = ws.con
    read = stored = 0
    for batch in batches:
        ids = _identifiers(batch, plan.secrets, h, employer_col) if plan.secrets else {}
        staged = stage_batch(batch, plan.used)
        for name, arr in ids.items():
            staged = staged.append_column(name, arr)
        con.register("_batch", staged)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _rec AS {plan.sql}")
        finally:
            con.unregister("_batch")
        n_bad = insert_quarantine(con, sid, batch, "SELECT _row, _col, _reason FROM _rec "
                                                   "WHERE _reason IS NOT NULL ORDER BY _row")
        names = ", ".join(table_cols)
        con.execute(f"INSERT INTO main.{kind.table} ({names}) SELECT {names} FROM _rec WHERE _reason IS NULL")
        read += len(batch)
        stored += len(batch) - n_bad
    con.execute("DROP TABLE IF EXISTS _rec")
    return {"read": read, "stored": stored, "quarantined": read - stored}, bound


class RecordsReader:
    """One record kind read from delimited text (CSV, TSV, pipe), with or without a mapping."""

    reads_folders = False
    needs_mapping = False
    load_mapping = staticmethod(load_records_mapping)
    parse_mapping = staticmethod(parse_records_mapping)

    def __init__(self, kind: Kind):
        self.kind = kind
        self.name = kind.format

    def ingest(self, ws: Workspace, path: Path, *, mapping, legal_basis, force, on_read,
               actor: str | None = None) -> IngestResult:
        require_file(path)
        if mapping is None:
            mapping = RecordsMapping()
        if not isinstance(mapping, RecordsMapping):
            raise MappingError(f"format {self.name} takes a records mapping (columns, defaults, values, "
                               f"date_format; docs/records.md), not a statement mapping")
        mapping.check_fields(self.kind, str(path))
        reg = register_source(ws, path, self.name, self.kind.table, mapping.model_dump(exclude_defaults=True),
                              legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, self.name)
        with open(path, "rb") as fh:
            workbook = fh.read(4) == b"PK\x03\x04"
        if workbook:
            counts, bound = self._load_xlsx(ws, reg.source_id, path, mapping)
        else:
            if mapping.sheet is not None:
                raise InputError("the mapping names a sheet, but this is not an XLSX workbook", path=str(path))
            check = check_text(path, mapping.encoding)
            header, batches = read_records(path, encoding=mapping.encoding, delimiter=mapping.delimiter,
                                           quote=mapping.quote, skip_rows=mapping.skip_rows,
                                           strict_text=check.valid, on_read=on_read)
            counts, bound = load_records(ws, reg.source_id, self.kind, header, batches, path, mapping)
        # what each field was read from: the source's mapping, as bound (a download read without one)
        import json
        ws.con.execute("UPDATE main.sources SET mapping = ? WHERE source_id = ?",
                       [json.dumps({**mapping.model_dump(exclude_defaults=True), "bound": bound}), reg.source_id])
        return finish_source(ws, reg, path, self.name, counts)


    def _load_xlsx(self, ws: Workspace, sid: int, path: Path, m: RecordsMapping):
        """A workbook's sheet, as the statement reader reads one (:mod:`moneytrail.ingest.xlsx`):
        written out as CSV text (date cells in ISO form, which the date fields then also accept),
        read like a CSV file; each quarantined row's place is its sheet row."""
        import os
        import tempfile
        from types import SimpleNamespace

        from moneytrail.ingest.xlsx import to_csv

        shim = SimpleNamespace(sheet=m.sheet, decimal=".", date=SimpleNamespace(format="%Y-%m-%d"))
        fd, tmp = tempfile.mkstemp(prefix=".xlsx-", suffix=".csv", dir=str(Path(ws.path).parent))
        os.close(fd)
        try:
            sheet_name, _ = to_csv(path, shim, Path(tmp))
            fmts = m.date_format if m.date_format is not None else list(DEFAULT_DATES)
            fmts = [fmts] if isinstance(fmts, str) else list(fmts)
            fmts += [x for x in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S") if x not in fmts]
            text_m = m.model_copy(update={"delimiter": ",", "quote": '"', "encoding": "utf-8", "sheet": None,
                                          "date_format": fmts})
            header, batches = read_records(Path(tmp), encoding="utf-8", delimiter=",", quote='"',
                                           skip_rows=m.skip_rows, strict_text=True)
            counts, bound = load_records(ws, sid, self.kind, header, batches, path, text_m)
        finally:
            Path(tmp).unlink(missing_ok=True)
        ws.con.execute("UPDATE main.quarantine SET source_position = 'sheet ' || ? || ' row ' || "
                       "CAST(source_row + ? AS VARCHAR) WHERE source_id = ?", [sheet_name, m.skip_rows + 1, sid])
        return counts, bound


def reader(fmt: str):
    return lambda: RecordsReader(KINDS[fmt])


def fields_doc(kind: Kind) -> list[dict[str, Any]]:
    """The fields of a kind as docs/records.md lists them."""
    return [{"field": f.name, "type": f.type, "required": f.required, "aliases": list(f.aliases)}
            for f in kind.fields]


__all__ = ["KINDS", "Kind", "F", "RecordsMapping", "RecordsReader", "bind_columns", "load_records",
           "load_records_mapping", "parse_records_mapping", "reader"]
