"""Employer-finance typologies (issue 17): payroll registers and wage reports beside the bank.

Each typology is one query over ``payroll_lines`` and ``wage_reports`` (migration 0014) and the
bank's ``edges``, ``transactions`` and ``accounts``; definitions, parameters and defaults are in
docs/typologies.md ("Employer typologies"). A finding cites the exact payroll lines and wage
reports behind it (``records``: ``{kind, record_id}``, written to ``finding_records``) beside
the transactions (``tx_ids``).

**Whom a finding names.** The targets are employers and intermediaries, never workers. An
employer is ``employer:<EIN>`` (nine digits) or, when no record gives its EIN,
``employer:<its name, upper case, punctuation dropped>``; a register that names the employer
without an EIN takes the EIN the other records file that same name under (when exactly one).
Workers appear only as counts, and as the accounts their wages were paid into; their keys (keyed
hashes of an SSN or ITIN) are never shown and never leave the query.

**Which bank accounts are an employer's** (``eacct`` below), decided from the records:

1. *The account that paid its payroll*: a payroll line paid into an account (``pay_account``,
   resolved through ``account_map``) with its net pay matched to a bank transfer into that
   account of exactly that amount, within ``match_days`` of the pay date; the paying account is
   the employer's unless it paid the lines of more than one employer of the case, or is a
   payroll provider (``categories.yaml``): then it is a payroll processor, not the employer.
2. *Its name*: an account whose owner name, upper case with punctuation dropped, is the name
   of the employer on a payroll line or a wage report.

Officers' accounts are not known to the records and are not inferred.

**Periods.** Form 941 and state UI wage records are quarterly: a quarter's wages are compared
with the money that left in that calendar quarter (941 line 2 counts wages *paid* in the
quarter). A W-2 is yearly and is used only for a year with no 941 or UI record of the employer.

**Money.** Payroll amounts are compared with transfers of the same currency. ``total_amount``
is the money of the cited transactions; a finding citing none gives the money of its records
(the shortfall below the minimum wage, the deductions), as each typology's section says.

**Check cashers and money services businesses** are recognised here (:data:`MSB_NAMES`,
:data:`MSB_NAICS`) from an account's NAICS code, KYC category or owner name, a name-only
payee, or the transaction's description: ``categories.yaml`` has no such category yet.

A red flag is a reason to look, not proof; the explanations say what was seen and where the
indicator or the rule is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import (Params, Staged, Typology, amount, categories, channels, count, day, days,
                                    money, names, num, order_check, ratio, usd)
from moneytrail.detect.categories import account_cte, classified_edges_cte
from moneytrail.detect.trafficking import FIN_2014, FIN_2020
from moneytrail.errors import ConfigError
from moneytrail.sqlkit import in_list, lit

# ==============================================================================================
# sources, rates and vocabularies
# ==============================================================================================

FLSA_206 = "Fair Labor Standards Act, 29 U.S.C. 206(a)(1) (the federal minimum wage)"
DOL_HISTORY = ("U.S. Department of Labor, Wage and Hour Division, \"History of Federal Minimum Wage "
               "Rates Under the Fair Labor Standards Act\"")
CFR_531_35 = '29 CFR 531.35 ("free and clear" payment; "kickbacks")'
CFR_531_3 = '29 CFR 531.3 ("reasonable cost" of board, lodging or other facilities)'
CFR_531_27 = "29 CFR 531.27 (wages are due in cash or a negotiable instrument payable at par)"

#: The federal minimum hourly wage by the date it took effect (29 U.S.C. 206(a)(1); the Fair
#: Minimum Wage Act of 2007 set the three steps from 2007 to 2009; DOL WHD's history table).
#: Pay dates before the first entry are judged only against a ``local_minimum`` a user sets.
FEDERAL_MINIMUM: tuple[tuple[date, Decimal], ...] = (
    (date(1997, 9, 1), Decimal("5.15")),
    (date(2007, 7, 24), Decimal("5.85")),
    (date(2008, 7, 24), Decimal("6.55")),
    (date(2009, 7, 24), Decimal("7.25")),
)

#: States, the District of Columbia and the territories (two-letter USPS codes), for ``local_states``
US_STATES = ("AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA", "ID",
             "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT", "NC", "ND",
             "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX",
             "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY")

#: payroll_lines.pay_method values (migration 0014)
PAY_METHODS = ("direct_deposit", "check", "cash", "card", "money_order", "other")

#: deduction kinds a register gives, and their payroll_lines columns (taxes and benefits are not
#: among them: they are the worker's own obligations, not charges by the employer)
DEDUCTIONS = {"housing": "deduction_housing", "transport": "deduction_transport", "debt": "deduction_debt",
              "food": "deduction_food", "tools": "deduction_tools", "other": "deduction_other"}

#: Check cashers and money services businesses. NAICS 522390 (other activities related to credit
#: intermediation) holds check cashing, money orders and money transmission.
MSB_NAICS = ("522390",)
MSB_NAMES = (r"CHECK ?CASH", r"CHECKS? CASHED", r"CASHED AT", r"CASH EXPRESS", r"\bACE CASH", r"CASH AMERICA",
             r"MONEY ?MART", r"MONEY SERVICES?\b", r"\bMSB\b", r"MONEY TRANSFER", r"MONEY TRANSMI",
             r"WESTERN UNION", r"MONEYGRAM", r"\bCAMBIO\b", r"\bENVIOS\b", r"\bREMESAS\b", r"MONEY ORDERS?\b")


def states() -> tuple[str, ...]:
    return US_STATES


def pay_methods() -> tuple[str, ...]:
    return PAY_METHODS


def deduction_kinds() -> tuple[str, ...]:
    return tuple(DEDUCTIONS)


# ==============================================================================================
# SQL building blocks (canonical dialect)
# ==============================================================================================

EMPTY_TX = "CAST([] AS BIGINT[])"
EMPTY_RECORDS = "CAST([] AS STRUCT(kind VARCHAR, record_id BIGINT)[])"


def _norm(x: str) -> str:
    """A name for matching: upper case, periods, commas and apostrophes dropped ("L.L.C." is
    "LLC"), every other run of characters that are not letters or digits one blank, trimmed."""
    punct = lit("[.,']")
    dropped = f"regexp_replace(upper(coalesce({x}, '')), {punct}, '', 'g')"
    return f"nullif(trim(regexp_replace({dropped}, '[^A-Z0-9]+', ' ', 'g')), '')"


def _ein(x: str) -> str:
    return f"nullif(regexp_replace(coalesce({x}, ''), '[^0-9]', '', 'g'), '')"


def _msb(*texts: str) -> str:
    """True when any of the text expressions names a check casher or money services business."""
    rx = lit("|".join(f"(?:{p})" for p in MSB_NAMES))
    return "(" + " OR ".join(f"coalesce(regexp_matches(upper({t}), {rx}), false)" for t in texts) + ")"


def _msb_account_sql() -> str:
    """True for an ``accounts`` row of a check casher or money services business."""
    naics = "regexp_replace(coalesce(json_extract_string(a.attributes, '$.naics'), ''), '[^0-9]', '', 'g')"
    by_naics = " OR ".join(f"starts_with({naics}, {lit(c)})" for c in MSB_NAICS)
    by_name = _msb("a.owner_name", "json_extract_string(a.attributes, '$.category')")
    return f"({by_naics} OR {by_name})"


def _ename() -> str:
    """Names an employer is filed under with one EIN (a register without EINs borrows it)."""
    return f"""
        SELECT nm, min(ein) AS ein FROM (
            SELECT {_norm('employer_name')} AS nm, {_ein('employer_ein')} AS ein FROM payroll_lines
            UNION ALL SELECT {_norm('employer')}, {_ein('employer_ein')} FROM payroll_lines
            UNION ALL SELECT {_norm('employer_name')}, {_ein('employer_ein')} FROM wage_reports
        ) n WHERE nm IS NOT NULL AND ein IS NOT NULL
        GROUP BY nm HAVING count(DISTINCT ein) = 1"""


#: the relations every bank-side employer typology reads, in the order they are built
BASE = ("acct", "ename", "pl", "wr", "emp_name", "dep", "eacct")


def _base_stages(prefix: str, match_days: int) -> list[tuple[str, str]]:
    """The records with their employer, and the employer's accounts, as ``(name, query)`` in
    order (each name ``prefix`` + one of :data:`BASE`; a query reads the earlier ones by name).

    ``acct``: account facts (:func:`moneytrail.detect.categories.account_cte`) and ``is_msb``;
    ``pl``: payroll lines with ``emp`` (the employer's key), ``nm0`` (its name for matching) and
    ``pay_acct`` (the pay account resolved); ``wr``: wage reports with ``emp``; ``emp_name``: a
    display name per employer; ``dep``: payroll lines matched to the transfer that paid them;
    ``eacct``: (emp, account_id) the employer's bank accounts (see the module docstring)."""
    n = {k: prefix + k for k in BASE}
    m = lit(match_days)
    return [
        (n["acct"], f"""WITH {account_cte()}
            SELECT acct.*, {_msb_account_sql()} AS is_msb
            FROM acct JOIN accounts a ON a.account_id = acct.account_id"""),
        (n["ename"], _ename()),
        (n["pl"], f"""
            SELECT p0.*, 'employer:' || coalesce(p0.ein0, en.ein, p0.nm0) AS emp,
                   coalesce(am.account_id, nullif(trim(p0.pay_account), '')) AS pay_acct
            FROM (SELECT *, {_ein('employer_ein')} AS ein0,
                         coalesce({_norm('employer_name')}, {_norm('employer')}) AS nm0
                  FROM payroll_lines) p0
            LEFT JOIN {n["ename"]} en ON en.nm = p0.nm0
            LEFT JOIN account_map am ON am.raw_account = p0.pay_account
            WHERE coalesce(p0.ein0, p0.nm0) IS NOT NULL"""),
        (n["wr"], f"""
            SELECT w0.*, 'employer:' || coalesce(w0.ein0, en.ein, w0.nm0) AS emp
            FROM (SELECT *, {_ein('employer_ein')} AS ein0, {_norm('employer_name')} AS nm0
                  FROM wage_reports) w0
            LEFT JOIN {n["ename"]} en ON en.nm = w0.nm0
            WHERE coalesce(w0.ein0, w0.nm0) IS NOT NULL"""),
        (n["emp_name"], f"""
            SELECT emp, min(name) AS name FROM (
                SELECT emp, CASE WHEN employer_name IS NOT NULL THEN employer_name
                                 WHEN employer_ein IS NULL THEN employer END AS name FROM {n["pl"]}
                UNION ALL SELECT emp, employer_name FROM {n["wr"]}
            ) x GROUP BY emp"""),
        (n["dep"], f"""
            SELECT pl.record_id, pl.emp, pl.pay_acct, pl.pay_date, e.tx_id, e.src_account AS payer, e.ts,
                   e.amount
            FROM {n["pl"]} pl JOIN edges e ON e.dst_account = pl.pay_acct AND e.amount = pl.net
                 AND e.currency = pl.currency
            WHERE pl.net > 0 AND NOT e.src_pseudo AND e.src_account <> e.dst_account
              AND abs(date_diff('day', pl.pay_date, CAST(e.ts AS DATE))) <= {m}"""),
        (n["eacct"], f"""
            WITH dep_payer AS (
                SELECT payer, count(DISTINCT emp) AS n_emp FROM {n["dep"]} GROUP BY payer
            ), enm AS (
                SELECT DISTINCT emp, nm0 AS nm FROM {n["pl"]} WHERE nm0 IS NOT NULL
                UNION SELECT DISTINCT emp, nm0 FROM {n["wr"]} WHERE nm0 IS NOT NULL
            )
            SELECT DISTINCT emp, account_id FROM (
                SELECT d.emp, d.payer AS account_id
                FROM {n["dep"]} d JOIN dep_payer dp ON dp.payer = d.payer
                LEFT JOIN {n["acct"]} a ON a.account_id = d.payer
                WHERE dp.n_emp = 1 AND coalesce(a.category, '') <> 'payroll_provider'
                UNION ALL
                SELECT enm.emp, a.account_id FROM {n["acct"]} a JOIN enm ON enm.nm = {_norm('a.owner_name')}
            ) x"""),
    ]


class _Staged(Staged):
    """A bank-side employer typology: its query reads the relations of :func:`_base_stages`
    (named ``acct``, ``pl``, ``wr``, ``emp_name``, ``dep``, ``eacct`` in :meth:`tail`) many times,
    each handed to the engine once (:class:`~moneytrail.detect.base.Staged`) under a name of this
    typology's own."""

    def tail(self, p, d: Dialect) -> tuple[str, str]:
        """The CTEs after the base relations, and the final SELECT."""
        raise NotImplementedError

    def _prefix(self) -> str:
        return f"_emp_{self.id}_"

    def stages(self, p, d: Dialect) -> list[tuple[str, str]]:
        return _base_stages(self._prefix(), p.match_days)

    def body(self, p, d: Dialect) -> tuple[str, str]:
        aliases = ", ".join(f"{k} AS (SELECT * FROM {self._prefix()}{k})" for k in BASE if k != "ename")
        ctes, select = self.tail(p, d)
        return f"{aliases}, {ctes}", select


def _floor(p, date_col: str, state_col: str) -> str:
    """The minimum hourly wage in force for a line: the federal rate on its date, or the user's
    ``local_minimum`` where it applies and is higher; NULL where neither applies."""
    fed = "CASE " + " ".join(f"WHEN {date_col} >= {lit(d)} THEN {lit(r)}"
                             for d, r in reversed(FEDERAL_MINIMUM)) + " END"
    if not p.local_minimum:
        return f"({fed})"
    where = (f"upper(trim(coalesce({state_col}, ''))) IN ({', '.join(lit(s) for s in p.local_states)})"
             if p.local_states else "TRUE")
    local = f"CASE WHEN {where} THEN {lit(Decimal(repr(p.local_minimum)))} END"
    return f"greatest({fed}, {local})"


def _finish(d: Dialect) -> str:
    """The finding rows, from the CTEs ``f`` (fkey, score, rec_first, rec_last, rec_amount, stats),
    ``fr`` (fkey, kind, record_id), ``ft`` (fkey, tx_id, ts, amount) and ``fa`` (fkey,
    account_id, role): :func:`_finish_ctes` and :data:`FINISH`."""
    return f"{_finish_ctes(d)} {FINISH}"


def _finish_ctes(d: Dialect) -> str:
    """The CTEs ``ftx``, ``frc`` and ``fac`` :data:`FINISH` reads (see :func:`_finish`)."""
    rec = "{'kind': kind, 'record_id': record_id}"
    acc = "{'account_id': account_id, 'role': role}"
    return f"""
    ftx AS (
        SELECT fkey, {d.ordered_list('tx_id', ['tx_id'])} AS tx_ids, min(ts) AS t0, max(ts) AS t1,
               sum(amount) AS amt
        FROM (SELECT DISTINCT fkey, tx_id, ts, amount FROM ft) x GROUP BY fkey
    ), frc AS (
        SELECT fkey, {d.ordered_list(rec, ['kind', 'record_id'])} AS records
        FROM (SELECT DISTINCT fkey, kind, record_id FROM fr) x GROUP BY fkey
    ), fac AS (
        SELECT fkey, {d.ordered_list(acc, ['role', 'account_id'])} AS accounts
        FROM (SELECT DISTINCT fkey, account_id, role FROM fa WHERE account_id IS NOT NULL) x GROUP BY fkey
    )"""


#: the finding rows' SELECT, after :func:`_finish_ctes`
FINISH = f"""
    SELECT f.fkey AS key, f.score, least(ftx.t0, f.rec_first) AS first_ts, greatest(ftx.t1, f.rec_last) AS last_ts,
           CAST(coalesce(ftx.amt, f.rec_amount, 0) AS DECIMAL(38, 4)) AS total_amount,
           coalesce(ftx.tx_ids, {EMPTY_TX}) AS tx_ids,
           coalesce(frc.records, {EMPTY_RECORDS}) AS records,
           fac.accounts, f.stats
    FROM f LEFT JOIN ftx ON ftx.fkey = f.fkey LEFT JOIN frc ON frc.fkey = f.fkey LEFT JOIN fac ON fac.fkey = f.fkey
    """


#: what a payroll line says the employer kept from the pay besides tax (it is not paid out as pay)
KEPT = " + ".join(f"coalesce(pl.{c}, 0)" for c in ("deduction_benefits", *DEDUCTIONS.values()))

NO_TS = "CAST(NULL AS TIMESTAMP)"
NO_MONEY = "CAST(NULL AS DECIMAL(18, 4))"


# -- skip reasons and explanation helpers -------------------------------------------------------

def _n(ws, sql: str) -> int:
    return int(ws.scalar(sql) or 0)


def _ein_text(emp: str) -> str | None:
    k = emp.split(":", 1)[1] if ":" in emp else emp
    return f"{k[:2]}-{k[2:]}" if len(k) == 9 and k.isdigit() else None


def _who(s) -> str:
    """The employer in words: its name and EIN where known."""
    ein = _ein_text(s["employer"])
    name = s.get("name")
    if name and ein:
        return f"{name} (EIN {ein})"
    if ein:
        return f"the employer with EIN {ein}"
    return name or s["employer"].split(":", 1)[-1]


def _rate(x) -> str:
    return f"${Decimal(repr(float(x))).quantize(Decimal('0.01'), rounding='ROUND_HALF_UP')}"


def _period(s) -> str:
    return f"{s['year']}" if not s["quarter"] else f"Q{s['quarter']} {s['year']}"


def _check_local(typology: str, p) -> None:
    if p.local_states and not p.local_minimum:
        raise ConfigError(f"{typology}: parameter local_states ({', '.join(p.local_states)}) must be "
                          f"given with a local_minimum above 0")


# ==============================================================================================
# 1. reported wages against the bank
# ==============================================================================================

@dataclass(frozen=True)
class WageGapParams(Params):
    low_ratio: float = ratio(0.8)                              # reported below this share of the bank's payroll
    high_ratio: float = ratio(2.0, lo=1.0, hi=100.0, lo_open=False)  # ... or above this multiple of it
    min_amount: float = amount(5000.0, lo_open=True)           # the larger side, per period (materiality)
    coverage_days: int = days(15, lo=0)                        # statements must reach this close to both ends
    match_days: int = days(2, lo=0)                            # pay date to bank transfer (employer accounts)
    payroll_channels: tuple[str, ...] = names(("payroll",), channels, "channel")
    payroll_categories: tuple[str, ...] = names(("payroll_provider",), categories, "category")

    def check(self, typology):
        order_check(typology, self, "low_ratio", "high_ratio", strict=True)


class WageGap(_Staged):
    """Per employer and period (a quarter with a Form 941, else with state UI wage records; a
    year with only W-2s): the wages reported (941 line 2, the latest 941 of the quarter; the sum
    of the UI records or of the W-2s) against the money the bank shows leaving the employer's
    accounts for payroll in that period: transfers by ``payroll_channels``, payments to payroll
    providers (``payroll_categories``), transfers into the pay accounts of its workers (from the
    register), and cash withdrawn on or up to ``match_days`` before a day the register shows a
    cash payroll. Flagged when reported < ``low_ratio`` x bank payroll, or reported >
    ``high_ratio`` x (bank payroll + what its register shows kept from the pay besides tax:
    benefits, housing, debts, ... are not paid out), the larger side at least ``min_amount``, when the
    employer's statements cover the period (their first and last transactions within
    ``coverage_days`` of its ends) and show some payroll. Evidence: the wage reports used and the
    payroll transfers. Score: low_ratio x bank / reported (low), reported / (high_ratio x (bank +
    kept)) (high)."""

    id = "wage_gap"
    version = "1"
    family = "employer"
    title = "Wages reported far below (or above) the payroll the bank shows"
    red_flag = ("wages reported on Form 941, W-2 or state unemployment-insurance records far below what "
                "the bank shows the employer paying its workers (wages paid off the books, workers hidden "
                "from the tax and labor authorities), or far above it (a payroll inflated on paper)")
    source = (f"{FIN_2020}; {FIN_2014}; IRS Form 941 line 2 (wages paid in the quarter), Form W-2 box 1, "
              f"state UI wage records")
    Params = WageGapParams
    needs = frozenset({"ordered_list", "regex", "json"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM wage_reports WHERE wages IS NOT NULL"):
            return ("no wage reports with wages (ingest Form 941 summaries, W-2 files or state UI wage "
                    "records)")
        if not _n(ws, "SELECT count(*) FROM transactions"):
            return "no bank transactions to compare the reported wages with"
        return None

    def tail(self, p: WageGapParams, d: Dialect) -> tuple[str, str]:
        m = lit(p.match_days)
        low, high, cov = num(p.low_ratio), num(p.high_ratio), lit(p.coverage_days)
        return f"""
        bp0 AS (
            SELECT ea.emp, e.tx_id, e.ts, e.amount, e.src_account AS acct_id,
                   {in_list("coalesce(e.channel, '')", p.payroll_channels)} AND NOT e.dst_pseudo AS by_channel,
                   {in_list("coalesce(a.category, '')", p.payroll_categories)} AS by_processor,
                   wa.pay_acct IS NOT NULL AS by_worker,
                   cp.pay_date IS NOT NULL AS by_cash
            FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
            LEFT JOIN acct a ON a.account_id = e.dst_account
            LEFT JOIN (SELECT DISTINCT emp, pay_acct FROM pl WHERE pay_acct IS NOT NULL) wa
                   ON wa.emp = ea.emp AND wa.pay_acct = e.dst_account
            LEFT JOIN (SELECT DISTINCT emp, pay_date FROM pl WHERE lower(pay_method) = 'cash') cp
                   ON cp.emp = ea.emp AND e.dst = 'cash'
                  AND date_diff('day', CAST(e.ts AS DATE), cp.pay_date) BETWEEN 0 AND {m}
            WHERE e.src_account <> e.dst_account
        ), bp AS (
            SELECT emp, tx_id, min(ts) AS ts, min(amount) AS amount, min(acct_id) AS acct_id,
                   bool_or(by_channel) AS ch, bool_or(by_processor) AS pr, bool_or(by_worker) AS wk,
                   bool_or(by_cash) AS cs
            FROM bp0 GROUP BY emp, tx_id
            HAVING bool_or(by_channel OR by_processor OR by_worker OR by_cash)
        ), r941 AS (
            SELECT emp, tax_year AS yr, quarter AS q, wages, employees, record_id, period_start, period_end,
                   row_number() OVER (PARTITION BY emp, tax_year, quarter ORDER BY record_id DESC) AS rn
            FROM wr WHERE form = '941' AND quarter BETWEEN 1 AND 4 AND wages IS NOT NULL
        ), rui AS (
            SELECT emp, tax_year AS yr, quarter AS q, sum(wages) AS wages, count(DISTINCT worker_key) AS employees,
                   min(period_start) AS period_start, max(period_end) AS period_end
            FROM wr WHERE form = 'ui' AND quarter BETWEEN 1 AND 4 AND wages IS NOT NULL
            GROUP BY emp, tax_year, quarter
        ), rw2 AS (
            SELECT emp, tax_year AS yr, sum(wages) AS wages, count(DISTINCT worker_key) AS employees,
                   min(period_start) AS period_start, max(period_end) AS period_end
            FROM wr WHERE form = 'w2' AND wages IS NOT NULL GROUP BY emp, tax_year
        ), qyr AS (
            SELECT DISTINCT emp, yr FROM (SELECT emp, yr FROM r941 UNION ALL SELECT emp, yr FROM rui) x
        ), per AS (
            SELECT emp, yr, q, '941' AS form, wages, employees, period_start AS p_start, period_end AS p_end
            FROM r941 WHERE rn = 1
            UNION ALL
            SELECT u.emp, u.yr, u.q, 'ui', u.wages, u.employees, u.period_start, u.period_end
            FROM rui u LEFT JOIN (SELECT DISTINCT emp, yr, q FROM r941) n
                   ON n.emp = u.emp AND n.yr = u.yr AND n.q = u.q
            WHERE n.emp IS NULL
            UNION ALL
            SELECT w.emp, w.yr, 0, 'w2', w.wages, w.employees, w.period_start, w.period_end
            FROM rw2 w LEFT JOIN qyr n ON n.emp = w.emp AND n.yr = w.yr
            WHERE n.emp IS NULL
        ), span AS (
            SELECT emp, min(ts) AS t0, max(ts) AS t1 FROM (
                SELECT ea.emp, e.ts FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
                UNION ALL
                SELECT ea.emp, e.ts FROM edges e JOIN eacct ea ON ea.account_id = e.dst_account
            ) x GROUP BY emp
        ), bank AS (
            SELECT per.emp, per.yr, per.q, sum(bp.amount) AS paid, count(*) AS n_paid,
                   coalesce(sum(bp.amount) FILTER (WHERE bp.wk), 0) AS to_workers,
                   coalesce(sum(bp.amount) FILTER (WHERE bp.ch AND NOT bp.wk), 0) AS by_channel,
                   coalesce(sum(bp.amount) FILTER (WHERE bp.pr AND NOT bp.wk AND NOT bp.ch), 0) AS to_processors,
                   coalesce(sum(bp.amount) FILTER (WHERE bp.cs AND NOT bp.wk AND NOT bp.ch AND NOT bp.pr), 0) AS cash
            FROM per JOIN bp ON bp.emp = per.emp AND year(bp.ts) = per.yr AND (per.q = 0 OR quarter(bp.ts) = per.q)
            GROUP BY per.emp, per.yr, per.q
        ), kept AS (
            SELECT per.emp, per.yr, per.q, sum({KEPT}) AS kept
            FROM per JOIN pl ON pl.emp = per.emp AND year(pl.pay_date) = per.yr
                 AND (per.q = 0 OR quarter(pl.pay_date) = per.q)
            GROUP BY per.emp, per.yr, per.q
        ), j AS (
            SELECT per.emp, per.yr, per.q, per.form, per.wages, per.employees, per.p_start, per.p_end,
                   b.paid, b.n_paid, b.to_workers, b.by_channel, b.to_processors, b.cash,
                   coalesce(k.kept, 0) AS kept,
                   CASE WHEN per.wages < {low} * b.paid THEN 'low'
                        WHEN per.wages > {high} * (b.paid + coalesce(k.kept, 0)) THEN 'high' END AS dir
            FROM per JOIN bank b ON b.emp = per.emp AND b.yr = per.yr AND b.q = per.q
            JOIN span s ON s.emp = per.emp
            LEFT JOIN kept k ON k.emp = per.emp AND k.yr = per.yr AND k.q = per.q
            WHERE b.paid > 0 AND greatest(per.wages, b.paid) >= {num(p.min_amount)}
              AND date_diff('day', per.p_start, CAST(s.t0 AS DATE)) <= {cov}
              AND date_diff('day', CAST(s.t1 AS DATE), per.p_end) <= {cov}
        ), reg AS (
            SELECT j.emp, j.yr, j.q, count(DISTINCT pl.worker_key) AS workers
            FROM j JOIN pl ON pl.emp = j.emp AND year(pl.pay_date) = j.yr AND (j.q = 0 OR quarter(pl.pay_date) = j.q)
            WHERE j.dir IS NOT NULL GROUP BY j.emp, j.yr, j.q
        ), f AS (
            SELECT j.emp || '@wage-gap@' || CAST(j.yr AS VARCHAR)
                   || CASE WHEN j.q = 0 THEN '' ELSE 'Q' || CAST(j.q AS VARCHAR) END AS fkey,
                   j.emp, j.yr, j.q, j.form,
                   CASE WHEN j.dir = 'low' THEN {low} * j.paid / greatest(j.wages, 1)
                        ELSE j.wages / ({high} * (j.paid + j.kept)) END AS score,
                   {NO_TS} AS rec_first, {NO_TS} AS rec_last, {NO_MONEY} AS rec_amount,
                   {{'employer': j.emp, 'name': n.name, 'direction': j.dir, 'form': j.form, 'year': j.yr,
                     'quarter': j.q, 'reported': j.wages, 'paid': j.paid, 'payments': j.n_paid,
                     'to_workers': j.to_workers, 'by_channel': j.by_channel, 'to_processors': j.to_processors,
                     'cash': j.cash, 'kept': j.kept, 'employees': j.employees, 'workers': coalesce(r.workers, 0),
                     'ratio': j.wages / j.paid, 'ratio_kept': j.wages / (j.paid + j.kept)}} AS stats
            FROM j LEFT JOIN reg r ON r.emp = j.emp AND r.yr = j.yr AND r.q = j.q
            LEFT JOIN emp_name n ON n.emp = j.emp
            WHERE j.dir IS NOT NULL
        ), fr AS (
            SELECT f.fkey, 'wage_reports' AS kind, w.record_id
            FROM f JOIN r941 w ON w.emp = f.emp AND w.yr = f.yr AND w.q = f.q AND w.rn = 1 WHERE f.form = '941'
            UNION ALL
            SELECT f.fkey, 'wage_reports', w.record_id FROM f JOIN wr w ON w.emp = f.emp AND w.form = 'ui'
               AND w.tax_year = f.yr AND w.quarter = f.q AND w.wages IS NOT NULL WHERE f.form = 'ui'
            UNION ALL
            SELECT f.fkey, 'wage_reports', w.record_id FROM f JOIN wr w ON w.emp = f.emp AND w.form = 'w2'
               AND w.tax_year = f.yr AND w.wages IS NOT NULL WHERE f.form = 'w2'
        ), ft AS (
            SELECT f.fkey, bp.tx_id, bp.ts, bp.amount
            FROM f JOIN bp ON bp.emp = f.emp AND year(bp.ts) = f.yr AND (f.q = 0 OR quarter(bp.ts) = f.q)
        ), fa AS (
            SELECT fkey, emp AS account_id, 'employer' AS role FROM f
            UNION ALL
            SELECT f.fkey, bp.acct_id, 'employer account'
            FROM f JOIN bp ON bp.emp = f.emp AND year(bp.ts) = f.yr AND (f.q = 0 OR quarter(bp.ts) = f.q)
        ), {_finish_ctes(d)}
        """, FINISH

    def explain(self, row, p):
        s = row["stats"]
        form = {"941": "Form 941 (line 2)", "ui": "state unemployment-insurance wage records",
                "w2": "Forms W-2 (box 1)"}[s["form"]]
        parts = []
        for k, words in (("to_workers", "into its workers' pay accounts"), ("by_channel", "as payroll transfers"),
                         ("to_processors", "to payroll providers"), ("cash", "in cash withdrawn for cash paydays")):
            if float(s[k]):
                parts.append(f"{money(s[k])} {words}")
        staff = []
        if s["employees"] is not None:
            staff.append(f"{s['employees']} employee(s) reported")
        if s["workers"]:
            staff.append(f"{s['workers']} worker(s) on its payroll register in the period")
        staff_txt = f" ({'; '.join(staff)})" if staff else ""
        if s["direction"] == "low":
            verdict = (f"The reported wages are {float(s['ratio']):.0%} of what the bank shows paid out as "
                       f"pay, which is net of withholding (a true report of gross wages is above it): below "
                       f"{p.low_ratio:.0%} meets the threshold")
        else:
            kept = (f" and the {money(s['kept'])} its register shows deducted from pay (benefits, housing, "
                    f"debts, ...)" if float(s["kept"]) else "")
            verdict = (f"The reported wages are {float(s['ratio_kept']):.1f} times what the bank shows paid out "
                       f"as pay{kept}: above {p.high_ratio:g} times meets the threshold (the gross wages "
                       f"reported include the tax withheld, which stays with the employer until deposited)")
        return (f"{_who(s)} reported {money(s['reported'])} in wages for {_period(s)} on {form}{staff_txt}, "
                f"while its bank accounts show {money(s['paid'])} leaving for payroll in {s['payments']} "
                f"payment(s) between {day(row['first_ts'])} and {day(row['last_ts'])}: "
                f"{'; '.join(parts)}. {verdict}. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 2. cash payroll, check cashers
# ==============================================================================================

@dataclass(frozen=True)
class CashPayrollParams(Params):
    methods: tuple[str, ...] = names(("cash", "money_order"), pay_methods, "pay method")
    min_share: float = ratio(0.5, lo_open=False)   # of the register's gross wages paid that way
    min_workers: int = count(2)                    # workers paid that way
    min_checks: int = count(4)                     # payroll checks cashed at check cashers (bank side)
    window_days: int = days(2, lo=0)               # cash withdrawn up to this many days before a cash payday
    match_days: int = days(2, lo=0)


class CashPayroll(_Staged):
    """Per employer over the workspace. From its payroll register: the lines paid by one of
    ``methods`` (cash, money order) or into the account of a check casher or money services
    business; flagged when they carry at least ``min_share`` of its gross wages and
    ``min_workers`` workers. From its bank accounts: ``min_checks``+ checks paid to a check casher
    or money services business (by payee, or the description: "CASHED AT ..."). The cash
    withdrawn from its accounts on or up to ``window_days`` before a day the register shows cash
    pay is cited too. Evidence: those payroll lines, the checks and the withdrawals. Score: the
    share / ``min_share`` or checks / ``min_checks``, whichever is higher."""

    id = "cash_payroll"
    version = "1"
    family = "employer"
    title = "Payroll paid in cash or through check cashers"
    red_flag = ("a payroll paid largely in cash, by money order or through check cashers and money services "
                "businesses, leaving no bank record of who was paid what (the usual form of an off-the-books "
                "payroll, and a way to withhold or skim wages)")
    source = (f"{FIN_2020}; {FIN_2014}; {CFR_531_27}: cash is lawful pay, so this is a reason to look, "
              f"not a violation")
    Params = CashPayrollParams
    needs = frozenset({"ordered_list", "regex", "json"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM payroll_lines") and not _n(ws, "SELECT count(*) FROM wage_reports"):
            return ("no payroll registers and no wage reports: neither how an employer pays nor which "
                    "accounts are an employer's can be known (ingest payroll registers)")
        return None

    def tail(self, p: CashPayrollParams, d: Dialect) -> tuple[str, str]:
        w = lit(p.window_days)
        cashlike = f"({in_list('lower(pl.pay_method)', p.methods)} OR ms.account_id IS NOT NULL)"
        return f"""
        pm AS (
            SELECT pl.record_id, pl.emp, pl.worker_key, pl.pay_date, pl.gross, pl.pay_acct,
                   lower(pl.pay_method) AS method, {cashlike} AS cashlike, ms.account_id IS NOT NULL AS to_msb
            FROM pl LEFT JOIN acct ms ON ms.account_id = pl.pay_acct AND ms.is_msb
            WHERE pl.gross > 0
        ), per AS (
            SELECT emp, count(*) AS lines, sum(gross) AS gross, count(DISTINCT worker_key) AS workers,
                   count(*) FILTER (WHERE cashlike) AS c_lines,
                   coalesce(sum(gross) FILTER (WHERE cashlike), 0) AS c_gross,
                   count(DISTINCT worker_key) FILTER (WHERE cashlike) AS c_workers,
                   count(*) FILTER (WHERE cashlike AND method = 'cash') AS n_cash,
                   count(*) FILTER (WHERE cashlike AND method = 'money_order') AS n_mo,
                   count(*) FILTER (WHERE to_msb) AS n_msb
            FROM pm GROUP BY emp
        ), ck AS (
            SELECT ea.emp, e.tx_id, e.ts, e.amount, e.src_account AS acct_id,
                   CASE WHEN e.dst_pseudo THEN NULL ELSE e.dst_account END AS casher
            FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
            JOIN transactions t ON t.tx_id = e.tx_id
            LEFT JOIN acct ms ON ms.account_id = e.dst_account AND ms.is_msb
            WHERE e.channel = 'check' AND e.src_account <> e.dst_account
              AND (ms.account_id IS NOT NULL
                   OR {_msb("CASE WHEN e.dst LIKE 'name:%' THEN e.dst END", 't.description')})
        ), ckn AS (
            SELECT emp, count(DISTINCT tx_id) AS n, sum(amount) AS amt FROM (SELECT DISTINCT * FROM ck) x GROUP BY emp
        ), wd AS (
            SELECT DISTINCT ea.emp, e.tx_id, e.ts, e.amount, e.src_account AS acct_id
            FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
            JOIN (SELECT DISTINCT emp, pay_date FROM pm WHERE cashlike AND method = 'cash') cp
              ON cp.emp = ea.emp AND date_diff('day', CAST(e.ts AS DATE), cp.pay_date) BETWEEN 0 AND {w}
            WHERE e.dst = 'cash'
        ), emps AS (
            SELECT emp FROM per UNION SELECT emp FROM ckn
        ), j AS (
            SELECT emps.emp, per.lines, per.gross, per.workers, per.c_lines, per.c_gross, per.c_workers,
                   per.n_cash, per.n_mo, per.n_msb, coalesce(ckn.n, 0) AS checks, coalesce(ckn.amt, 0) AS check_amt,
                   coalesce(per.c_lines > 0 AND per.c_gross >= {num(p.min_share)} * per.gross
                            AND per.c_workers >= {lit(p.min_workers)}, false) AS reg_hit,
                   coalesce(ckn.n, 0) >= {lit(p.min_checks)} AS ck_hit
            FROM emps LEFT JOIN per ON per.emp = emps.emp LEFT JOIN ckn ON ckn.emp = emps.emp
        ), wdn AS (
            SELECT emp, count(*) AS n, sum(amount) AS amt FROM wd GROUP BY emp
        ), f AS (
            SELECT j.emp || '@cash-payroll' AS fkey, j.emp, j.reg_hit, j.ck_hit,
                   greatest(CASE WHEN j.reg_hit THEN j.c_gross / j.gross / {num(p.min_share) if p.min_share else 1} END,
                            CASE WHEN j.ck_hit THEN j.checks / {lit(p.min_checks)}::DOUBLE END) AS score,
                   rd.d0 AS rec_first, rd.d1 AS rec_last, CASE WHEN j.reg_hit THEN j.c_gross END AS rec_amount,
                   {{'employer': j.emp, 'name': n.name, 'register': j.reg_hit, 'lines': j.lines, 'gross': j.gross,
                     'workers': j.workers, 'cash_lines': j.c_lines, 'cash_gross': j.c_gross,
                     'cash_workers': j.c_workers, 'n_cash': j.n_cash, 'n_money_order': j.n_mo,
                     'n_msb': j.n_msb, 'checks': j.checks, 'check_amount': j.check_amt,
                     'withdrawals': coalesce(wdn.n, 0), 'withdrawn': coalesce(wdn.amt, 0)}} AS stats
            FROM j LEFT JOIN emp_name n ON n.emp = j.emp LEFT JOIN wdn ON wdn.emp = j.emp
            LEFT JOIN (SELECT emp, CAST(min(pay_date) AS TIMESTAMP) AS d0, CAST(max(pay_date) AS TIMESTAMP) AS d1
                       FROM pm WHERE cashlike GROUP BY emp) rd ON rd.emp = j.emp AND j.reg_hit
            WHERE j.reg_hit OR j.ck_hit
        ), fr AS (
            SELECT f.fkey, 'payroll_lines' AS kind, pm.record_id FROM f JOIN pm ON pm.emp = f.emp AND pm.cashlike
            WHERE f.reg_hit
        ), ft AS (
            SELECT f.fkey, ck.tx_id, ck.ts, ck.amount FROM f JOIN ck ON ck.emp = f.emp WHERE f.ck_hit
            UNION ALL
            SELECT f.fkey, wd.tx_id, wd.ts, wd.amount FROM f JOIN wd ON wd.emp = f.emp WHERE f.reg_hit
        ), fa AS (
            SELECT fkey, emp AS account_id, 'employer' AS role FROM f
            UNION ALL SELECT f.fkey, ck.acct_id, 'employer account' FROM f JOIN ck ON ck.emp = f.emp WHERE f.ck_hit
            UNION ALL SELECT f.fkey, ck.casher, 'check casher or money services business'
                      FROM f JOIN ck ON ck.emp = f.emp WHERE f.ck_hit
            UNION ALL SELECT f.fkey, wd.acct_id, 'employer account' FROM f JOIN wd ON wd.emp = f.emp WHERE f.reg_hit
            UNION ALL SELECT f.fkey, pm.pay_acct, 'check casher or money services business'
                      FROM f JOIN pm ON pm.emp = f.emp AND pm.to_msb WHERE f.reg_hit
        ), {_finish_ctes(d)}
        """, FINISH

    def explain(self, row, p):
        s = row["stats"]
        parts = []
        if s["register"]:
            how = []
            if s["n_cash"]:
                how.append(f"{s['n_cash']} in cash")
            if s["n_money_order"]:
                how.append(f"{s['n_money_order']} by money order")
            if s["n_msb"]:
                how.append(f"{s['n_msb']} into accounts of check cashers or money services businesses")
            share = float(s["cash_gross"]) / float(s["gross"]) if float(s["gross"]) else 0
            parts.append(f"its payroll register shows {s['cash_lines']} of {s['lines']} pay lines "
                         f"({', '.join(how)}) paid to {s['cash_workers']} of its {s['workers']} workers, "
                         f"{money(s['cash_gross'])} or {share:.0%} of {money(s['gross'])} gross wages")
            if s["withdrawals"]:
                parts.append(f"its accounts withdrew {money(s['withdrawn'])} in cash in {s['withdrawals']} "
                             f"withdrawal(s) on or up to {p.window_days} day(s) before cash paydays")
        if s["checks"]:
            parts.append(f"{s['checks']} of its checks totalling {money(s['check_amount'])} went to check "
                         f"cashers or money services businesses")
        th = []
        if s["register"]:
            th.append(f"at least {p.min_share:.0%} of the gross wages and {p.min_workers}+ workers paid by "
                      f"{'/'.join(m.replace('_', ' ') for m in p.methods) or 'no method'} or through check "
                      f"cashers")
        if s["checks"] >= p.min_checks:
            th.append(f"{p.min_checks}+ checks cashed at check cashers")
        return (f"{_who(s)}: " + "; ".join(parts) + f" (between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])}). " + " and ".join(th).capitalize() + " meets the threshold. "
                f"Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 3. cash withdrawn around paydays by a business reporting few employees
# ==============================================================================================

@dataclass(frozen=True)
class PaydayCashParams(Params):
    window_days: int = days(2, lo=0)              # withdrawal within this many days of a payday
    max_employees: int = count(10, lo=0)          # "few employees": at most this many reported
    min_withdrawals: int = count(3)               # per quarter
    min_cash: float = amount(5000.0, lo_open=True)  # per quarter
    quarter_wage: float = amount(3770.0, lo_open=True)  # 13 weeks x 40 hours x $7.25
    min_worker_ratio: float = ratio(3.0, hi=100.0)  # cash / quarter_wage vs employees reported
    payroll_channels: tuple[str, ...] = names(("payroll",), channels, "channel")
    match_days: int = days(2, lo=0)


class PaydayCash(_Staged):
    """Per employer and quarter with a Form 941 (employees, line 1; else the workers on its UI
    wage records) reporting at most ``max_employees``: the cash withdrawn from its accounts within
    ``window_days`` of a payday (a pay date on its register, or a day it paid payroll by
    ``payroll_channels``). Flagged when there are ``min_withdrawals``+ such withdrawals totalling
    ``min_cash``+ and at least ``min_worker_ratio`` x max(employees, 1) x ``quarter_wage``: the
    cash alone would pay that many times its reported workforce at the federal minimum for a full
    quarter. Evidence: the withdrawals, the wage report(s) and the register's lines of those
    paydays. Score: cash / (``min_worker_ratio`` x max(employees, 1) x ``quarter_wage``)."""

    id = "payday_cash"
    version = "1"
    family = "employer"
    title = "Cash withdrawn around paydays by a business reporting few employees"
    red_flag = ("a business that reports few employees withdrawing, around its paydays, far more cash than "
                "its reported workforce could account for (workers paid off the books in cash)")
    source = f"{FIN_2020}; {FIN_2014}; IRS Form 941 line 1 (employees who received pay)"
    Params = PaydayCashParams
    needs = frozenset({"ordered_list", "regex", "json"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM wage_reports WHERE (form = '941' AND employees IS NOT NULL) "
                      "OR form = 'ui'"):
            return "no Form 941 employee counts or UI wage records (ingest Form 941 summaries or UI records)"
        if not _n(ws, "SELECT count(*) FROM edges WHERE dst = 'cash'"):
            return "no cash withdrawals in the workspace"
        return None

    def tail(self, p: PaydayCashParams, d: Dialect) -> tuple[str, str]:
        w = lit(p.window_days)
        need = f"{num(p.min_worker_ratio)} * {num(p.quarter_wage)}"
        return f"""
        pday AS (
            SELECT DISTINCT emp, pay_date AS d FROM pl
            UNION
            SELECT DISTINCT ea.emp, CAST(e.ts AS DATE) FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
            WHERE {in_list("coalesce(e.channel, '')", p.payroll_channels)} AND NOT e.dst_pseudo
        ), wd0 AS (
            SELECT ea.emp, e.tx_id, e.ts, e.amount, e.src_account AS acct_id, pd.d
            FROM edges e JOIN eacct ea ON ea.account_id = e.src_account
            JOIN pday pd ON pd.emp = ea.emp AND abs(date_diff('day', CAST(e.ts AS DATE), pd.d)) <= {w}
            WHERE e.dst = 'cash'
        ), wd AS (
            SELECT DISTINCT emp, tx_id, ts, amount, acct_id FROM wd0
        ), r941 AS (
            SELECT emp, tax_year AS yr, quarter AS q, employees, record_id,
                   row_number() OVER (PARTITION BY emp, tax_year, quarter ORDER BY record_id DESC) AS rn
            FROM wr WHERE form = '941' AND quarter BETWEEN 1 AND 4 AND employees IS NOT NULL
        ), rui AS (
            SELECT emp, tax_year AS yr, quarter AS q, count(DISTINCT worker_key) AS employees
            FROM wr WHERE form = 'ui' AND quarter BETWEEN 1 AND 4 GROUP BY emp, tax_year, quarter
        ), staff AS (
            SELECT emp, yr, q, employees, '941' AS form FROM r941 WHERE rn = 1
            UNION ALL
            SELECT u.emp, u.yr, u.q, u.employees, 'ui' FROM rui u
            LEFT JOIN (SELECT DISTINCT emp, yr, q FROM r941) n ON n.emp = u.emp AND n.yr = u.yr AND n.q = u.q
            WHERE n.emp IS NULL
        ), wq AS (
            SELECT emp, year(ts) AS yr, quarter(ts) AS q, count(*) AS n, sum(amount) AS cash
            FROM wd GROUP BY emp, year(ts), quarter(ts)
        ), j AS (
            SELECT wq.emp, wq.yr, wq.q, wq.n, wq.cash, s.employees, s.form
            FROM wq JOIN staff s ON s.emp = wq.emp AND s.yr = wq.yr AND s.q = wq.q
            WHERE s.employees <= {lit(p.max_employees)} AND wq.n >= {lit(p.min_withdrawals)}
              AND wq.cash >= {num(p.min_cash)} AND wq.cash >= {need} * greatest(s.employees, 1)
        ), f AS (
            SELECT j.emp || '@payday-cash@' || CAST(j.yr AS VARCHAR) || 'Q' || CAST(j.q AS VARCHAR) AS fkey,
                   j.emp, j.yr, j.q, j.form,
                   j.cash / ({need} * greatest(j.employees, 1)) AS score,
                   {NO_TS} AS rec_first, {NO_TS} AS rec_last, {NO_MONEY} AS rec_amount,
                   {{'employer': j.emp, 'name': n.name, 'year': j.yr, 'quarter': j.q, 'form': j.form,
                     'employees': j.employees, 'withdrawals': j.n, 'cash': j.cash,
                     'paydays': (SELECT count(DISTINCT wd0.d) FROM wd0 WHERE wd0.emp = j.emp
                                 AND year(wd0.ts) = j.yr AND quarter(wd0.ts) = j.q),
                     'implied': j.cash / {num(p.quarter_wage)}}} AS stats
            FROM j LEFT JOIN emp_name n ON n.emp = j.emp
        ), ft AS (
            SELECT f.fkey, wd.tx_id, wd.ts, wd.amount FROM f
            JOIN wd ON wd.emp = f.emp AND year(wd.ts) = f.yr AND quarter(wd.ts) = f.q
        ), fr AS (
            SELECT f.fkey, 'wage_reports' AS kind, r.record_id FROM f
            JOIN r941 r ON r.emp = f.emp AND r.yr = f.yr AND r.q = f.q AND r.rn = 1 WHERE f.form = '941'
            UNION ALL
            SELECT f.fkey, 'wage_reports', w.record_id FROM f JOIN wr w ON w.emp = f.emp AND w.form = 'ui'
               AND w.tax_year = f.yr AND w.quarter = f.q WHERE f.form = 'ui'
            UNION ALL
            SELECT f.fkey, 'payroll_lines', pl.record_id FROM f
            JOIN wd0 ON wd0.emp = f.emp AND year(wd0.ts) = f.yr AND quarter(wd0.ts) = f.q
            JOIN pl ON pl.emp = f.emp AND pl.pay_date = wd0.d
        ), fa AS (
            SELECT fkey, emp AS account_id, 'employer' AS role FROM f
            UNION ALL
            SELECT f.fkey, wd.acct_id, 'employer account' FROM f
            JOIN wd ON wd.emp = f.emp AND year(wd.ts) = f.yr AND quarter(wd.ts) = f.q
        ), {_finish_ctes(d)}
        """, FINISH

    def explain(self, row, p):
        s = row["stats"]
        staff = (f"Form 941 reports {s['employees']} employee(s)" if s["form"] == "941"
                 else f"its UI wage records list {s['employees']} worker(s)")
        return (f"{_who(s)} withdrew {money(s['cash'])} in cash in {s['withdrawals']} withdrawal(s) within "
                f"{p.window_days} day(s) of {s['paydays']} payday(s) in Q{s['quarter']} {s['year']} "
                f"(between {day(row['first_ts'])} and {day(row['last_ts'])}), while {staff} for the quarter. "
                f"That cash alone would pay {float(s['implied']):.1f} full-time workers at the federal minimum "
                f"wage for the quarter ({usd(p.quarter_wage)} each); at least {p.min_worker_ratio:g} times the "
                f"reported workforce, {p.min_withdrawals}+ withdrawals and {usd(p.min_cash)}+, by a business "
                f"reporting at most {p.max_employees} employees, meets the threshold. "
                f"Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 4. labor brokers: payroll-like money in, no payroll out
# ==============================================================================================

@dataclass(frozen=True)
class LaborBrokerParams(Params):
    min_payments: int = count(6)                  # payments received from businesses
    min_weeks: int = count(4)                     # in this many different weeks (regular)
    min_amount: float = amount(20000.0, lo_open=True)
    max_recipients: int = count(3, lo=0)          # accounts it pays (cash, bills and payroll aside)
    min_out_share: float = ratio(0.5, lo_open=False)  # of what it received, passed on in cash or to them
    payroll_channels: tuple[str, ...] = names(("payroll",), channels, "channel")
    payroll_categories: tuple[str, ...] = names(("payroll_provider",), categories, "category")
    tax_categories: tuple[str, ...] = names(("tax",), categories, "category")
    bill_categories: tuple[str, ...] = names(("utility", "lender", "rent", "commercial_rent"), categories, "category")
    exclude_categories: tuple[str, ...] = names(("tax", "benefits", "payroll_provider", "utility", "lender"),
                                                categories, "category")
    match_days: int = days(2, lo=0)


class LaborBroker(_Staged):
    """For an account B (not a pseudo account; not in ``exclude_categories``; not an account of an
    employer that files wage reports in the workspace): payments received from businesses (not
    by card or cash), ``min_payments``+ of them in ``min_weeks``+ different weeks totalling
    ``min_amount``+ (regular, payroll-like sums). B has no payroll of its own: none of its
    payments goes by ``payroll_channels`` or to a payroll provider or tax authority, and it pays at
    most ``max_recipients`` accounts (its bills, ``bill_categories``, and card purchases aside);
    and it passes the money on: cash withdrawals and payments to those recipients make at least
    ``min_out_share`` of what it received. Evidence: the payments in, the withdrawals and the
    payments passed on. Score: received / ``min_amount``."""

    id = "labor_broker"
    version = "1"
    family = "employer"
    title = "Labor broker: payroll-like sums in, no payroll of its own, money out in cash or to a few"
    red_flag = ("an account that receives regular payroll-like payments from businesses but has no payroll "
                "of its own (no wage reports, no payroll to many workers) and passes the money on in cash "
                "or to a few accounts (a labor broker or crew leader supplying workers off the books)")
    source = f"{FIN_2020}; {FIN_2014}"
    Params = LaborBrokerParams
    needs = frozenset({"ordered_list", "regex", "json"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM wage_reports") and not _n(ws, "SELECT count(*) FROM payroll_lines"):
            return ("no wage reports and no payroll registers in the workspace, so an account's missing "
                    "payroll can't be told from missing records (ingest Form 941, W-2 or UI records)")
        n_biz = ws.scalar(f"WITH {account_cte()} SELECT count(*) FROM acct WHERE is_business")
        if not n_biz:
            return ("no business accounts: no account record says 'business' and no owner name looks like "
                    "a business, so no payment can be told to come from one")
        return None

    def tail(self, p: LaborBrokerParams, d: Dialect) -> tuple[str, str]:
        by_channel = in_list("coalesce(channel, '')", p.payroll_channels)
        by_payee = in_list("coalesce(cat_out, '')", p.payroll_categories + p.tax_categories)
        own_payroll = f"({by_channel} OR {by_payee})"
        return f"""
        {classified_edges_cte(d)},
        filers AS (
            SELECT DISTINCT ea.account_id FROM eacct ea JOIN (SELECT DISTINCT emp FROM wr) w ON w.emp = ea.emp
        ), cand AS (
            SELECT a.account_id FROM acct a
            WHERE {in_list("coalesce(a.category, '')", p.exclude_categories, negate=True)}
              AND a.account_id NOT IN (SELECT account_id FROM filers)
        ), inf AS (
            SELECT e.dst_account AS b, e.tx_id, e.ts, e.amount, e.src_account AS payer
            FROM edges e JOIN acct s ON s.account_id = e.src_account
            WHERE s.is_business AND NOT e.src_pseudo AND e.src_account <> e.dst_account
              AND coalesce(e.channel, '') NOT IN ('card', 'cash')
              AND e.dst_account IN (SELECT account_id FROM cand)
        ), pin AS (
            SELECT b, count(*) AS n_in, count(DISTINCT payer) AS payers,
                   count(DISTINCT date_trunc('week', ts)) AS weeks, sum(amount) AS total_in
            FROM inf GROUP BY b
            HAVING count(*) >= {lit(p.min_payments)} AND count(DISTINCT date_trunc('week', ts)) >= {lit(p.min_weeks)}
               AND sum(amount) >= {num(p.min_amount)}
        ), outs AS (
            SELECT ce.src_account AS b, ce.tx_id, ce.ts, ce.amount, ce.dst_account AS payee, ce.dst_pseudo,
                   ce.dst = 'cash' AS is_cash, {own_payroll} AS is_payroll,
                   ({in_list("coalesce(cat_out, '')", p.bill_categories)} OR coalesce(channel, '') = 'card') AS is_bill
            FROM ce WHERE ce.src_account IN (SELECT b FROM pin) AND ce.src_account <> ce.dst_account
        ), pout AS (
            SELECT b, count(*) FILTER (WHERE is_payroll) AS n_payroll,
                   count(DISTINCT payee) FILTER (WHERE NOT is_cash AND NOT is_bill AND NOT is_payroll) AS recipients,
                   coalesce(sum(amount) FILTER (WHERE is_cash), 0) AS cash_out,
                   count(*) FILTER (WHERE is_cash) AS n_cash,
                   coalesce(sum(amount) FILTER (WHERE NOT is_cash AND NOT is_bill AND NOT is_payroll), 0) AS passed
            FROM outs GROUP BY b
        ), j AS (
            SELECT pin.*, po.recipients, po.cash_out, po.n_cash, po.passed
            FROM pin JOIN pout po ON po.b = pin.b
            WHERE po.n_payroll = 0 AND po.recipients <= {lit(p.max_recipients)}
              AND po.cash_out + po.passed >= {num(p.min_out_share)} * pin.total_in
        ), f AS (
            SELECT j.b || '@labor-broker' AS fkey, j.b,
                   j.total_in / {num(p.min_amount)} AS score,
                   {NO_TS} AS rec_first, {NO_TS} AS rec_last, {NO_MONEY} AS rec_amount,
                   {{'focal': j.b, 'n_in': j.n_in, 'payers': j.payers, 'weeks': j.weeks, 'total_in': j.total_in,
                     'recipients': j.recipients, 'cash_out': j.cash_out, 'n_cash': j.n_cash, 'passed': j.passed,
                     'client_employers': (SELECT count(DISTINCT ea.emp) FROM inf JOIN eacct ea
                                          ON ea.account_id = inf.payer WHERE inf.b = j.b)}} AS stats
            FROM j
        ), ft AS (
            SELECT f.fkey, inf.tx_id, inf.ts, inf.amount FROM f JOIN inf ON inf.b = f.b
            UNION ALL
            SELECT f.fkey, o.tx_id, o.ts, o.amount FROM f JOIN outs o ON o.b = f.b
            WHERE o.is_cash OR (NOT o.is_bill AND NOT o.is_payroll)
        ), fr AS (
            SELECT fkey, 'payroll_lines' AS kind, CAST(NULL AS BIGINT) AS record_id FROM f WHERE FALSE
        ), fa AS (
            SELECT fkey, b AS account_id, 'labor broker' AS role FROM f
            UNION ALL SELECT f.fkey, inf.payer, 'paying business' FROM f JOIN inf ON inf.b = f.b
            UNION ALL SELECT f.fkey, o.payee, 'recipient' FROM f JOIN outs o ON o.b = f.b
                      WHERE NOT o.is_cash AND NOT o.is_bill AND NOT o.is_payroll AND NOT o.dst_pseudo
        ), {_finish_ctes(d)}
        """, FINISH

    def explain(self, row, p):
        s = row["stats"]
        out = []
        if float(s["cash_out"]):
            out.append(f"withdrew {money(s['cash_out'])} in cash ({s['n_cash']} withdrawal(s))")
        if float(s["passed"]):
            out.append(f"paid {money(s['passed'])} to {s['recipients']} account(s)")
        share = (float(s["cash_out"]) + float(s["passed"])) / float(s["total_in"])
        clients = (f", {s['client_employers']} of them employer(s) in the case's payroll records"
                   if s["client_employers"] else "")
        return (f"Account {s['focal']} received {s['n_in']} payments totalling {money(s['total_in'])} from "
                f"{s['payers']} business(es){clients}, in {s['weeks']} different weeks between "
                f"{day(row['first_ts'])} and {day(row['last_ts'])}, and has no payroll of its own (no wage "
                f"reports, no payroll payments, no payroll taxes); it {' and '.join(out)}: {share:.0%} of what "
                f"it received. {p.min_payments}+ payments from businesses in {p.min_weeks}+ weeks totalling "
                f"{usd(p.min_amount)}+, passed on in cash or to at most {p.max_recipients} accounts "
                f"({p.min_out_share:.0%}+), meets the threshold. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 5. pooled wages, wages routed back to the employer
# ==============================================================================================

@dataclass(frozen=True)
class PooledWagesParams(Params):
    min_workers: int = count(3)                   # workers whose pay went into one account
    min_returns: int = count(2)                   # pay lines routed back to the employer
    return_days: int = days(3, lo=0)              # transfer back within this many days of the pay date
    min_return_share: float = ratio(0.5)          # of the net pay
    exclude_categories: tuple[str, ...] = names(("payroll_provider",), categories, "category")
    match_days: int = days(2, lo=0)


class PooledWages(_Staged):
    """Two findings from the payroll register and the bank. *Pooled*: an account (not the
    employer's, not in ``exclude_categories`` such as a payroll-card program) into which the
    wages of ``min_workers``+ different workers were paid; evidence: those pay lines and the
    matched deposits; the account is the subject, its employers listed. *Routed back*: per
    employer, ``min_returns``+ pay lines either paid into an account of the employer itself, or
    followed within ``return_days`` of the pay date by a transfer of at least
    ``min_return_share`` of the net pay from the pay account to an account of the employer;
    evidence: the pay lines, their deposits and the transfers back. Score: workers /
    ``min_workers`` or lines / ``min_returns``."""

    id = "pooled_wages"
    version = "1"
    family = "employer"
    title = "Many workers' wages paid into one account, or wages routed back to the employer"
    red_flag = ("the wages of several workers paid into one account, or wages routed back to accounts the "
                "employer controls (wages withheld or taken back: control over workers' earnings)")
    source = f"{FIN_2020}; {FIN_2014}; {CFR_531_35}"
    Params = PooledWagesParams
    needs = frozenset({"ordered_list", "regex", "json"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM payroll_lines WHERE nullif(trim(pay_account), '') IS NOT NULL"):
            return "no payroll lines name the account the pay went to (ingest payroll registers with pay accounts)"
        return None

    def tail(self, p: PooledWagesParams, d: Dialect) -> tuple[str, str]:
        return f"""
        pa AS (
            SELECT pl.* FROM pl LEFT JOIN acct a ON a.account_id = pl.pay_acct
            WHERE pl.pay_acct IS NOT NULL AND pl.pay_acct <> 'cash' AND coalesce(lower(pl.pay_method), '') <> 'cash'
              AND {in_list("coalesce(a.category, '')", p.exclude_categories, negate=True)}
        ), own AS (
            SELECT pa.emp, pa.record_id, pa.pay_acct, pa.pay_date, coalesce(pa.net, pa.gross) AS pay
            FROM pa JOIN eacct ea ON ea.emp = pa.emp AND ea.account_id = pa.pay_acct
        ), pool AS (
            SELECT pay_acct, count(DISTINCT worker_key) AS workers, count(*) AS lines, count(DISTINCT emp) AS emps,
                   sum(coalesce(net, gross)) AS pay, CAST(min(pay_date) AS TIMESTAMP) AS d0,
                   CAST(max(pay_date) AS TIMESTAMP) AS d1
            FROM pa WHERE record_id NOT IN (SELECT record_id FROM own)
            GROUP BY pay_acct HAVING count(DISTINCT worker_key) >= {lit(p.min_workers)}
        ), back AS (
            SELECT pl.emp, pl.record_id, pl.pay_acct, e.tx_id, e.ts, e.amount, e.dst_account AS emp_acct
            FROM pa pl JOIN edges e ON e.src_account = pl.pay_acct
            JOIN eacct ea ON ea.emp = pl.emp AND ea.account_id = e.dst_account
            WHERE e.src_account <> e.dst_account AND coalesce(pl.net, pl.gross) > 0
              AND e.amount >= {num(p.min_return_share)} * coalesce(pl.net, pl.gross)
              AND date_diff('day', pl.pay_date, CAST(e.ts AS DATE)) BETWEEN 0 AND {lit(p.return_days)}
              AND pl.record_id NOT IN (SELECT record_id FROM own)
        ), rl AS (
            SELECT emp, record_id FROM own UNION SELECT emp, record_id FROM back
        ), ret AS (
            SELECT rl.emp, count(*) AS lines, count(DISTINCT pl.worker_key) AS workers,
                   count(*) FILTER (WHERE rl.record_id IN (SELECT record_id FROM own)) AS n_own,
                   CAST(min(pl.pay_date) AS TIMESTAMP) AS d0, CAST(max(pl.pay_date) AS TIMESTAMP) AS d1,
                   sum(coalesce(pl.net, pl.gross)) AS pay
            FROM rl JOIN pl ON pl.record_id = rl.record_id
            GROUP BY rl.emp HAVING count(*) >= {lit(p.min_returns)}
        ), f AS (
            SELECT pool.pay_acct || '@pooled-wages' AS fkey, 'pooled' AS kind, pool.pay_acct AS subject,
                   pool.workers / {lit(p.min_workers)}::DOUBLE AS score,
                   pool.d0 AS rec_first, pool.d1 AS rec_last, pool.pay AS rec_amount,
                   {{'kind': 'pooled', 'focal': pool.pay_acct, 'employer': CAST(NULL AS VARCHAR),
                     'name': CAST(NULL AS VARCHAR), 'workers': pool.workers, 'lines': pool.lines,
                     'employers': pool.emps, 'pay': pool.pay, 'own_lines': 0, 'returns': 0,
                     'returned': CAST(0 AS DECIMAL(18, 2))}} AS stats
            FROM pool
            UNION ALL
            SELECT ret.emp || '@wages-returned', 'returned', ret.emp,
                   ret.lines / {lit(p.min_returns)}::DOUBLE, ret.d0, ret.d1, ret.pay,
                   {{'kind': 'returned', 'focal': CAST(NULL AS VARCHAR), 'employer': ret.emp, 'name': n.name,
                     'workers': ret.workers, 'lines': ret.lines, 'employers': 1, 'pay': ret.pay,
                     'own_lines': ret.n_own,
                     'returns': (SELECT count(DISTINCT b.tx_id) FROM back b WHERE b.emp = ret.emp),
                     'returned': coalesce((SELECT sum(x.amount) FROM (SELECT DISTINCT b.tx_id, b.amount FROM back b
                                           WHERE b.emp = ret.emp) x), 0)}}
            FROM ret LEFT JOIN emp_name n ON n.emp = ret.emp
        ), flines AS (
            SELECT f.fkey, pa.record_id, pa.emp, pa.pay_acct FROM f
            JOIN pa ON pa.pay_acct = f.subject AND pa.record_id NOT IN (SELECT record_id FROM own)
            WHERE f.kind = 'pooled'
            UNION ALL
            SELECT f.fkey, rl.record_id, rl.emp, pl.pay_acct FROM f JOIN rl ON rl.emp = f.subject
            JOIN pl ON pl.record_id = rl.record_id WHERE f.kind = 'returned'
        ), fr AS (
            SELECT fkey, 'payroll_lines' AS kind, record_id FROM flines
        ), ft AS (
            SELECT fl.fkey, dep.tx_id, dep.ts, dep.amount FROM flines fl JOIN dep ON dep.record_id = fl.record_id
            UNION ALL
            SELECT f.fkey, b.tx_id, b.ts, b.amount FROM f JOIN back b ON b.emp = f.subject WHERE f.kind = 'returned'
        ), fa AS (
            SELECT fkey, subject AS account_id,
                   CASE kind WHEN 'pooled' THEN 'account receiving several workers'' wages' ELSE 'employer' END AS role
            FROM f
            UNION ALL
            SELECT fl.fkey, fl.emp, 'employer' FROM flines fl JOIN f ON f.fkey = fl.fkey WHERE f.kind = 'pooled'
            UNION ALL
            SELECT fl.fkey, fl.pay_acct, 'employer account the wages were paid into'
            FROM flines fl JOIN own o ON o.record_id = fl.record_id
            UNION ALL
            SELECT f.fkey, b.pay_acct, 'pay account the wages went back from' FROM f JOIN back b ON b.emp = f.subject
            WHERE f.kind = 'returned'
            UNION ALL
            SELECT f.fkey, b.emp_acct, 'employer account the wages went back to' FROM f JOIN back b ON b.emp = f.subject
            WHERE f.kind = 'returned'
        ), {_finish_ctes(d)}
        """, FINISH

    def explain(self, row, p):
        s = row["stats"]
        if s["kind"] == "pooled":
            emps = "one employer" if s["employers"] == 1 else f"{s['employers']} employers"
            return (f"The wages of {s['workers']} different workers were paid into account {s['focal']}: "
                    f"{s['lines']} pay line(s) of {emps}, {money(s['pay'])} between {day(row['first_ts'])} "
                    f"and {day(row['last_ts'])}. Wages of {p.min_workers}+ workers paid into one account "
                    f"meets the threshold (payroll cards and payroll providers aside). "
                    f"Red flag: {self.red_flag} — {self.source}.")
        how = []
        if s["own_lines"]:
            how.append(f"{s['own_lines']} pay line(s) paid into the employer's own account(s)")
        if s["returns"]:
            how.append(f"{s['returns']} transfer(s) totalling {money(s['returned'])} from workers' pay accounts "
                       f"back to the employer's accounts within {p.return_days} day(s) of payday")
        return (f"{_who(s)}: {s['lines']} pay line(s) of {s['workers']} worker(s) ({money(s['pay'])} net pay) "
                f"were routed back to it between {day(row['first_ts'])} and {day(row['last_ts'])}: "
                f"{'; '.join(how)}. {p.min_returns}+ pay lines routed back (a transfer back being at least "
                f"{p.min_return_share:.0%} of the net pay) meets the threshold. "
                f"Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 6. pay below the minimum wage
# ==============================================================================================

@dataclass(frozen=True)
class BelowMinimumParams(Params):
    min_shortfall: float = amount(1.0)            # per pay line: cents lost to rounding are not counted
    min_lines: int = count(2)                     # lines of one employer below the minimum
    local_minimum: float = amount(0.0)            # a higher state or local minimum (0: the federal only)
    local_states: tuple[str, ...] = names((), states, "state")  # where it applies (none: everywhere)

    def check(self, typology):
        _check_local(typology, self)


def _payroll_evidence(hits: str) -> str:
    """The evidence of a finding made of payroll lines alone: its records (``hits``, a relation of
    ``emp`` and ``record_id``), no transactions, the employer its one party (the ``fr``, ``ft`` and
    ``fa`` relations :func:`_finish` reads)."""
    return f"""fr AS (
            SELECT f.fkey, 'payroll_lines' AS kind, {hits}.record_id FROM f JOIN {hits} ON {hits}.emp = f.emp
        ), ft AS (
            SELECT fkey, CAST(NULL AS BIGINT) AS tx_id, {NO_TS} AS ts, {NO_MONEY} AS amount FROM f WHERE FALSE
        ), fa AS (
            SELECT fkey, emp AS account_id, 'employer' AS role FROM f
        )"""


class BelowMinimumWage(Typology):
    """Per employer: payroll lines with hours worked where gross pay is below the minimum wage
    in force for the hours: the federal rate on the pay date (:data:`FEDERAL_MINIMUM`), or
    ``local_minimum`` where it applies (lines worked in ``local_states``, or every line) and is
    higher. A line counts when the shortfall (minimum x hours - gross) is above 0 and at least
    ``min_shortfall``; the employer is flagged with ``min_lines``+ such lines. Pay exactly at the
    minimum is not below it. Evidence: those lines. ``total_amount``: the shortfall. Score:
    lines / ``min_lines``."""

    id = "below_minimum_wage"
    version = "1"
    family = "employer"
    title = "Pay below the minimum wage for the hours worked"
    red_flag = ("pay below the minimum wage for the hours the employer's own register records (wage theft; "
                "with other signs, labor exploitation)")
    source = (f"{FLSA_206}: $7.25 an hour since 2009-07-24 ($5.85 from 2007-07-24, $6.55 from 2008-07-24); "
              f"{DOL_HISTORY}; {FIN_2020}")
    Params = BelowMinimumParams
    needs = frozenset({"ordered_list", "regex"})

    def skip_reason(self, ws):
        if not _n(ws, "SELECT count(*) FROM payroll_lines WHERE hours > 0"):
            return "no payroll lines with hours worked (ingest payroll registers that give hours)"
        return None

    def sql(self, p: BelowMinimumParams, d: Dialect) -> str:
        return f"""
        WITH {_records_only()},
        bl AS (
            SELECT pl.*, {_floor(p, 'pl.pay_date', 'pl.work_state')} AS floor_rate FROM pl
            WHERE pl.hours > 0 AND pl.gross IS NOT NULL
        ), bad AS (
            SELECT bl.*, floor_rate * hours - gross AS shortfall FROM bl
            WHERE floor_rate IS NOT NULL AND floor_rate * hours - gross > 0
              AND floor_rate * hours - gross >= {num(p.min_shortfall)}
        ), per AS (
            SELECT emp, count(*) AS lines, count(DISTINCT worker_key) AS workers, sum(shortfall) AS owed,
                   sum(hours) AS hours, sum(gross) AS gross, min(gross / hours) AS lowest,
                   {d.sorted_distinct_list('floor_rate')} AS floors,
                   CAST(min(pay_date) AS TIMESTAMP) AS d0, CAST(max(pay_date) AS TIMESTAMP) AS d1
            FROM bad GROUP BY emp HAVING count(*) >= {lit(p.min_lines)}
        ), f AS (
            SELECT per.emp || '@below-minimum-wage' AS fkey, per.emp,
                   per.lines / {lit(p.min_lines)}::DOUBLE AS score,
                   per.d0 AS rec_first, per.d1 AS rec_last, per.owed AS rec_amount,
                   {{'employer': per.emp, 'name': n.name, 'lines': per.lines, 'workers': per.workers,
                     'owed': per.owed, 'hours': per.hours, 'gross': per.gross, 'lowest': per.lowest,
                     'floors': per.floors}} AS stats
            FROM per LEFT JOIN emp_name n ON n.emp = per.emp
        ), {_payroll_evidence('bad')}, {_finish(d)}
        """

    def explain(self, row, p):
        s = row["stats"]
        floors = ", ".join(f"${Decimal(x):.2f}" for x in (s["floors"] or []))
        local = (f"; {usd(p.local_minimum)} where a higher local minimum was set"
                 f"{' (' + ', '.join(p.local_states) + ')' if p.local_states else ''}" if p.local_minimum else "")
        avg = float(s["gross"]) / float(s["hours"]) if float(s["hours"]) else 0
        return (f"{_who(s)} paid {s['workers']} worker(s) below the minimum wage on {s['lines']} pay line(s) "
                f"between {day(row['first_ts'])} and {day(row['last_ts'])}: {money(s['gross'])} gross for "
                f"{Decimal(s['hours']):,.2f} hours recorded ({_rate(avg)} an hour on average, the lowest "
                f"{_rate(s['lowest'])}), against a minimum of {floors} an hour; {money(s['owed'])} short in "
                f"all. The minimum in force: the federal rate on the pay date{local}. {p.min_lines}+ lines "
                f"each {usd(p.min_shortfall)}+ short meets the threshold (tipped employees, whose tips are "
                f"not in the register, can read as underpaid). Red flag: {self.red_flag} — {self.source}.")


def _records_only() -> str:
    """``pl`` and ``emp_name`` without the bank (typologies over the register alone)."""
    return f"""
    ename AS (
        SELECT nm, min(ein) AS ein FROM (
            SELECT {_norm('employer_name')} AS nm, {_ein('employer_ein')} AS ein FROM payroll_lines
            UNION ALL SELECT {_norm('employer')}, {_ein('employer_ein')} FROM payroll_lines
            UNION ALL SELECT {_norm('employer_name')}, {_ein('employer_ein')} FROM wage_reports
        ) n WHERE nm IS NOT NULL AND ein IS NOT NULL
        GROUP BY nm HAVING count(DISTINCT ein) = 1
    ), pl AS (
        SELECT p0.*, 'employer:' || coalesce(p0.ein0, en.ein, p0.nm0) AS emp
        FROM (SELECT *, {_ein('employer_ein')} AS ein0,
                     coalesce({_norm('employer_name')}, {_norm('employer')}) AS nm0
              FROM payroll_lines) p0
        LEFT JOIN ename en ON en.nm = p0.nm0
        WHERE coalesce(p0.ein0, p0.nm0) IS NOT NULL
    ), emp_name AS (
        SELECT emp, min(name) AS name FROM (
            SELECT emp, CASE WHEN employer_name IS NOT NULL THEN employer_name
                             WHEN employer_ein IS NULL THEN employer END AS name FROM pl
        ) x GROUP BY emp
    )"""


# ==============================================================================================
# 7. deductions
# ==============================================================================================

@dataclass(frozen=True)
class WageDeductionsParams(Params):
    kinds: tuple[str, ...] = names(("housing", "transport", "debt", "food", "tools"), deduction_kinds,
                                   "deduction kind")
    max_share: float = ratio(0.5)                 # of the gross pay: "most of the wage"
    min_lines: int = count(2)
    min_shortfall: float = amount(1.0)            # below the minimum after the deductions, per line
    local_minimum: float = amount(0.0)
    local_states: tuple[str, ...] = names((), states, "state")

    def check(self, typology):
        _check_local(typology, self)


class WageDeductions(Typology):
    """Per employer: payroll lines whose deductions of ``kinds`` (housing, transport, debts,
    food, tools) either take at least ``max_share`` of the gross pay, or, where hours are known,
    leave less than the minimum wage for them (minimum x hours - (gross - deductions) above 0 and
    at least ``min_shortfall``; the minimum as for ``below_minimum_wage``). The employer is
    flagged with ``min_lines``+ such lines. Evidence: those lines. ``total_amount``: their
    deductions. Score: the larger of the highest share / ``max_share`` and lines / ``min_lines``."""

    id = "wage_deductions"
    version = "1"
    family = "employer"
    title = "Deductions for housing, transport, debts, food or tools taking most of the pay"
    red_flag = ("deductions for housing, transport, debts, food or tools that take most of a worker's pay or "
                "leave less than the minimum wage for the hours worked (wage retention, debt bondage)")
    source = (f"{FIN_2020} (exploitative employment practices: wage retention, \"recruitment\" fees); "
              f"{FIN_2014}; {CFR_531_35}; {CFR_531_3}")
    Params = WageDeductionsParams
    needs = frozenset({"ordered_list", "regex"})

    def skip_reason(self, ws):
        cols = " OR ".join(f"coalesce({c}, 0) > 0" for c in DEDUCTIONS.values())
        if not _n(ws, f"SELECT count(*) FROM payroll_lines WHERE {cols}"):
            return ("no payroll line carries a deduction for housing, transport, debt, food, tools or other "
                    "(ingest payroll registers with deductions by kind)")
        return None

    def sql(self, p: WageDeductionsParams, d: Dialect) -> str:
        ded = " + ".join(f"coalesce({DEDUCTIONS[k]}, 0)" for k in p.kinds) if p.kinds else "0"
        sums = ", ".join(f"'{k}': sum(coalesce({c}, 0))" for k, c in DEDUCTIONS.items())
        short = "floor_rate * hours - (gross - ded)"
        return f"""
        WITH {_records_only()},
        dd AS (
            SELECT pl.*, CAST({ded} AS DECIMAL(18, 2)) AS ded,
                   {_floor(p, 'pl.pay_date', 'pl.work_state')} AS floor_rate
            FROM pl WHERE pl.gross > 0
        ), bad AS (
            SELECT dd.*, ded >= {num(p.max_share)} * gross AS too_much,
                   coalesce(hours > 0 AND floor_rate IS NOT NULL AND {short} > 0
                            AND {short} >= {num(p.min_shortfall)}, false) AS below,
                   CASE WHEN hours > 0 AND floor_rate IS NOT NULL AND {short} > 0 THEN {short} ELSE 0 END AS shortfall
            FROM dd WHERE ded > 0
        ), hit AS (
            SELECT * FROM bad WHERE too_much OR below
        ), per AS (
            SELECT emp, count(*) AS lines, count(DISTINCT worker_key) AS workers, sum(gross) AS gross,
                   sum(ded) AS ded, sum(gross - ded) AS kept, max(ded / gross) AS top_share,
                   count(*) FILTER (WHERE too_much) AS n_share, count(*) FILTER (WHERE below) AS n_below,
                   sum(shortfall) FILTER (WHERE below) AS owed, {{{sums}}} AS by_kind,
                   CAST(min(pay_date) AS TIMESTAMP) AS d0, CAST(max(pay_date) AS TIMESTAMP) AS d1
            FROM hit GROUP BY emp HAVING count(*) >= {lit(p.min_lines)}
        ), f AS (
            SELECT per.emp || '@wage-deductions' AS fkey, per.emp,
                   greatest(per.top_share / {num(p.max_share)}, per.lines / {lit(p.min_lines)}::DOUBLE) AS score,
                   per.d0 AS rec_first, per.d1 AS rec_last, per.ded AS rec_amount,
                   {{'employer': per.emp, 'name': n.name, 'lines': per.lines, 'workers': per.workers,
                     'gross': per.gross, 'deducted': per.ded, 'kept': per.kept, 'top_share': per.top_share,
                     'n_share': per.n_share, 'n_below': per.n_below, 'owed': coalesce(per.owed, 0),
                     'by_kind': per.by_kind}} AS stats
            FROM per LEFT JOIN emp_name n ON n.emp = per.emp
        ), {_payroll_evidence('hit')}, {_finish(d)}
        """

    def explain(self, row, p):
        s = row["stats"]
        kinds = [f"{k} {money(v)}" for k, v in s["by_kind"].items() if k in p.kinds and float(v)]
        found = []
        if s["n_share"]:
            found.append(f"on {s['n_share']} line(s) the deductions took {p.max_share:.0%} or more of the gross "
                         f"pay (up to {float(s['top_share']):.0%})")
        if s["n_below"]:
            found.append(f"on {s['n_below']} line(s) they left less than the minimum wage for the hours worked "
                         f"({money(s['owed'])} short in all)")
        return (f"{_who(s)} deducted {money(s['deducted'])} ({', '.join(kinds)}) from {money(s['gross'])} gross "
                f"pay of {s['workers']} worker(s) on {s['lines']} pay line(s) between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])}, leaving them {money(s['kept'])}: {'; '.join(found)}. "
                f"{p.min_lines}+ such lines meets the threshold. Under the FLSA, wages must be paid \"free and "
                f"clear\": charges for the employer's benefit (tools, recruitment debts) may not cut into the "
                f"minimum wage, and board and lodging count toward it only at their reasonable cost, without "
                f"profit. Red flag: {self.red_flag} — {self.source}.")


EMPLOYER: tuple[Typology, ...] = (WageGap(), CashPayroll(), PaydayCash(), LaborBroker(), PooledWages(),
                                  BelowMinimumWage(), WageDeductions())
