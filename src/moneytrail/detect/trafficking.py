"""Human-trafficking finance red flags computable from transactions and account metadata.

From FinCEN FIN-2014-A008 ("Guidance on Recognizing Activity that May be Associated with Human
Smuggling and Human Trafficking") and FIN-2020-A008 ("Supplemental Advisory on Identifying and
Reporting Human Trafficking and Related Activity"). Each is one query over ``edges``,
``transactions`` and ``accounts`` (account facts and categories from
:mod:`moneytrail.detect.categories`); definitions and parameters are in docs/typologies.md.

A red flag is a reason to look, not proof: the explanations say what was seen and where the
indicator is published.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import DUCKDB, Dialect
from moneytrail.detect.base import (Params, Typology, amount, categories, channels, count, day, days, flag,
                                    identifiers, money, names, num, ratio, whole)
from moneytrail.detect.categories import account_cte, classified_edges_cte, description_category_sql
from moneytrail.detect.flow import islands
from moneytrail.errors import ConfigError
from moneytrail.sqlkit import in_list, lit

FIN_2014 = ('FinCEN FIN-2014-A008, "Guidance on Recognizing Activity that May be Associated with '
            'Human Smuggling and Human Trafficking"')
FIN_2020 = ('FinCEN FIN-2020-A008, "Supplemental Advisory on Identifying and Reporting Human '
            'Trafficking and Related Activity"')


def _categorised(ws) -> bool:
    """Whether anything in the workspace can be given a category (KYC, names or descriptions)."""
    acct = f"WITH {account_cte()} SELECT count(*) FROM acct WHERE category IS NOT NULL"
    if ws.scalar(acct):
        return True
    return bool(ws.scalar(f"SELECT count(*) FROM (SELECT DISTINCT description FROM transactions "
                          f"WHERE description IS NOT NULL) WHERE {description_category_sql('description')} "
                          f"IS NOT NULL"))


def _few(items, n: int = 4) -> str:
    items = [str(x) for x in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# ==============================================================================================
# 4. shared identifiers
# ==============================================================================================

@dataclass(frozen=True)
class SharedIdParams(Params):
    min_senders: int = count(3)           # distinct senders into one account that share identifiers
    min_per_identifier: int = count(2)    # senders sharing one address or phone
    min_families: int = count(2)          # distinct family names among them (unrelated people)
    identifiers: tuple[str, ...] = names(("address", "phone"), identifiers, "identifier")
    exclude_channels: tuple[str, ...] = names(("card",), channels, "channel")
    # standing bills that housemates pay to the same payee are not counted
    exclude_categories: tuple[str, ...] = names(("rent", "utility", "lender", "tax"), categories, "category")
    include_business_senders: bool = flag(False)


class SharedIdentifiers(Typology):
    """For a receiver R (not a pseudo account): the accounts that paid R (channels and payment
    categories not excluded; individuals unless ``include_business_senders``). An identifier
    (normalised address or phone from the account records) *qualifies* when at least
    ``min_per_identifier`` of them have it and they carry at least ``min_families`` distinct family
    names. R is flagged when the senders holding qualifying identifiers number at least
    ``min_senders``; the evidence is every counted payment from them to R.
    Score = those senders / ``min_senders``."""

    id = "shared_identifiers"
    version = "1"
    family = "trafficking"
    title = "Unrelated senders sharing an address or phone, paying one account"
    red_flag = ("several apparently unrelated people who share an address or phone number send money "
                "to the same account (victims housed together, or accounts opened and controlled by "
                "one person)")
    source = f"{FIN_2020}; {FIN_2014}"
    Params = SharedIdParams

    def skip_reason(self, ws):
        n = ws.scalar("SELECT count(*) FROM accounts WHERE "
                      "nullif(json_extract_string(attributes, '$.address_norm'), '') IS NOT NULL OR "
                      "nullif(json_extract_string(attributes, '$.phone_norm'), '') IS NOT NULL")
        if not n:
            return ("no account has an address or phone number (ingest account records with "
                    "--format accounts)")
        return None

    needs = frozenset({"ordered_list", "regex", "json", "list_functions"})

    def sql(self, p: SharedIdParams, d: Dialect) -> str:
        biz = "" if p.include_business_senders else "AND NOT coalesce(i.is_business, false)"
        return f"""
        WITH {account_cte()}, {classified_edges_cte(d)},
        pay AS (
            SELECT dst AS receiver, src AS sender, tx_id, ts, amount FROM ce
            WHERE NOT src_pseudo AND NOT dst_pseudo AND src <> dst
              AND {in_list("coalesce(channel, '')", p.exclude_channels, negate=True)}
              AND {in_list("coalesce(cat_out, '')", p.exclude_categories, negate=True)}
        ), rs AS (SELECT DISTINCT receiver, sender FROM pay
        ), ids AS (
            SELECT account_id, 'address' AS id_type, address_norm AS id_value, is_business,
                   coalesce(CASE WHEN is_business THEN upper(owner_name) ELSE surname END, account_id) AS family
            FROM acct WHERE address_norm IS NOT NULL
            UNION ALL
            SELECT account_id, 'phone', phone_norm, is_business,
                   coalesce(CASE WHEN is_business THEN upper(owner_name) ELSE surname END, account_id)
            FROM acct WHERE phone_norm IS NOT NULL
        ), shared AS (
            SELECT rs.receiver, i.id_type, i.id_value,
                   {d.sorted_distinct_list("rs.sender")} AS senders,
                   count(DISTINCT rs.sender) AS n_senders, count(DISTINCT i.family) AS n_families
            FROM rs JOIN ids i ON i.account_id = rs.sender
            WHERE {in_list('i.id_type', p.identifiers)} {biz}
            GROUP BY rs.receiver, i.id_type, i.id_value
            HAVING count(DISTINCT rs.sender) >= {lit(p.min_per_identifier)}
               AND count(DISTINCT i.family) >= {lit(p.min_families)}
        ), fs AS (
            SELECT DISTINCT receiver, sender FROM (SELECT receiver, unnest(senders) AS sender FROM shared)
        ), per AS (
            SELECT receiver, count(*) AS n FROM fs GROUP BY receiver HAVING count(*) >= {lit(p.min_senders)}
        ), idl AS (
            SELECT s.receiver,
                   {d.ordered_list("{'type': s.id_type, 'value': s.id_value, 'senders': s.n_senders, "
                                   "'families': s.n_families}", ["s.n_senders DESC", "s.id_type", "s.id_value"])}
                       AS identifiers,
                   bool_or(r.account_id IS NOT NULL) AS receiver_shares
            FROM shared s LEFT JOIN ids r ON r.account_id = s.receiver AND r.id_type = s.id_type
                                         AND r.id_value = s.id_value
            GROUP BY s.receiver
        ), ev AS (
            SELECT pay.* FROM pay JOIN fs USING (receiver, sender) JOIN per USING (receiver)
        )
        SELECT ev.receiver || '@shared-identifiers' AS key,
               count(DISTINCT ev.sender) / {lit(p.min_senders)}::DOUBLE AS score,
               min(ts) AS first_ts, max(ts) AS last_ts, sum(amount) AS total_amount,
               {d.ordered_list("tx_id", ["ts", "tx_id"])} AS tx_ids,
               list_concat([{{'account_id': ev.receiver, 'role': 'receiver'}}],
                           list(DISTINCT {{'account_id': sender, 'role': 'sender sharing an address or phone'}})) AS accounts,
               {{'focal': ev.receiver, 'senders': count(DISTINCT ev.sender), 'payments': count(*),
                 'identifiers': any_value(idl.identifiers), 'receiver_shares': any_value(idl.receiver_shares),
                 'days': date_diff('day', CAST(min(ts) AS DATE), CAST(max(ts) AS DATE)) + 1}} AS stats
        FROM ev JOIN idl ON idl.receiver = ev.receiver
        GROUP BY ev.receiver
        """

    def explain(self, row, p):
        s = row["stats"]
        ids = [f"{'address' if i['type'] == 'address' else 'phone'} {i['value']} "
               f"({i['senders']} senders, {i['families']} family names)" for i in s["identifiers"]]
        own = (" The receiving account's own record carries one of these identifiers too."
               if s["receiver_shares"] else "")
        return (f"Account {s['focal']} received {s['payments']} payments totalling "
                f"{money(row['total_amount'])} between {day(row['first_ts'])} and {day(row['last_ts'])} "
                f"from {s['senders']} senders with different family names who share identifiers in "
                f"their account records: {_few(ids, 3)}.{own} At least {p.min_senders} senders sharing "
                f"an address or phone ({p.min_per_identifier}+ per identifier, {p.min_families}+ family "
                f"names) meets the threshold; rent, utility and loan payments and card sales are not "
                f"counted. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 5. trafficking-related expenses
# ==============================================================================================

@dataclass(frozen=True)
class HtExpensesParams(Params):
    window_days: int = days(35)        # rent to min_landlords distinct payees within this window
    min_landlords: int = count(3)
    min_lodging: int = count(2, lo=0)  # hotel/motel payments in the period (0: not required)
    min_transport: int = count(2, lo=0)  # bus, airline, rideshare payments in the period
    min_food: int = count(1, lo=0)
    rent_categories: tuple[str, ...] = names(("rent",), categories, "category")
    lodging_categories: tuple[str, ...] = names(("lodging",), categories, "category")
    transport_categories: tuple[str, ...] = names(("bus", "airline", "rideshare"), categories, "category")
    food_categories: tuple[str, ...] = names(("food",), categories, "category")
    context_categories: tuple[str, ...] = names(("advertising", "prepaid_phone"), categories, "category")  # listed, not required


class HtExpenses(Typology):
    """For a payer P (not a pseudo account), payments are put in groups by their category (see
    :mod:`moneytrail.detect.categories`): rent, lodging, transport, food, and context (online ads,
    prepaid phones). A rent window of ``window_days`` ending at a rent payment qualifies when P
    paid rent to at least ``min_landlords`` distinct payees within it; overlapping windows merge,
    and the *period* runs from the first window's start to ``window_days`` after its last rent
    payment. P is flagged when in the period it also paid lodging ``min_lodging``+ times,
    transport ``min_transport``+ times and food ``min_food``+ times (a minimum of 0 drops that
    requirement). The evidence is every payment of those groups in the period.
    Score = distinct landlords / ``min_landlords``."""

    id = "ht_expenses"
    version = "1"
    family = "trafficking"
    title = "One party paying rent for several residences, hotels, travel and food"
    red_flag = ("one person or business paying rent for several residences at once together with "
                "hotel or motel stays, bus, air or rideshare travel and food (paying the living and "
                "travel costs of others)")
    source = f"{FIN_2020}; {FIN_2014}"
    Params = HtExpensesParams

    def skip_reason(self, ws):
        if not _categorised(ws):
            return ("no merchant categories: no account has a KYC category or NAICS code (ingest "
                    "account records with --format accounts) or a name matching categories.yaml, and "
                    "no transaction description matches one")
        return None

    needs = frozenset({"distinct_window_count", "ordered_list", "regex", "json", "list_functions"})

    def sql(self, p: HtExpensesParams, d: Dialect) -> str:
        w = lit(p.window_days)
        groups = (("rent", p.rent_categories), ("lodging", p.lodging_categories),
                  ("transport", p.transport_categories), ("food", p.food_categories),
                  ("context", p.context_categories))
        grp = "CASE " + " ".join(f"WHEN {in_list('cat_out', c)} THEN {lit(g)}" for g, c in groups) + " END"
        allc = in_list("cat_out", [x for _, c in groups for x in c])
        return f"""
        WITH {account_cte()}, {classified_edges_cte(d)},
        sp AS (
            SELECT src AS payer, dst AS payee, dst_pseudo AS payee_pseudo, tx_id, ts, amount,
                   cat_out AS category, {grp} AS grp
            FROM ce WHERE NOT src_pseudo AND src <> dst AND {allc}
              AND dst <> 'cash' AND dst NOT LIKE 'unidentified:%'
        ), r AS (
            SELECT payer, ts,
                   {d.count_distinct_over("payee", f"PARTITION BY payer ORDER BY ts RANGE BETWEEN INTERVAL {w} DAY PRECEDING AND CURRENT ROW")} AS n_ll
            FROM sp WHERE grp = 'rent'
        ), q AS (
            SELECT DISTINCT payer, ts - INTERVAL {w} DAY AS w_start, ts AS w_end
            FROM r WHERE n_ll >= {lit(p.min_landlords)}
        ), ep AS ({islands('q', 'payer')}
        ), ev AS (
            SELECT ep.payer, ep.island, sp.* EXCLUDE (payer)
            FROM ep JOIN sp ON sp.payer = ep.payer AND sp.ts >= ep.ep_start
             AND sp.ts <= ep.ep_end + INTERVAL {w} DAY
        ), agg AS (
            SELECT payer, island,
                   count(DISTINCT payee) FILTER (WHERE grp = 'rent') AS landlords,
                   count(*) FILTER (WHERE grp = 'rent') AS rent_n,
                   coalesce(sum(amount) FILTER (WHERE grp = 'rent'), 0) AS rent_amt,
                   count(*) FILTER (WHERE grp = 'lodging') AS lodging_n,
                   coalesce(sum(amount) FILTER (WHERE grp = 'lodging'), 0) AS lodging_amt,
                   count(DISTINCT payee) FILTER (WHERE grp = 'lodging') AS lodging_places,
                   count(*) FILTER (WHERE grp = 'transport') AS transport_n,
                   coalesce(sum(amount) FILTER (WHERE grp = 'transport'), 0) AS transport_amt,
                   {d.sorted_distinct_list("category", "grp = 'transport'")} AS transport_kinds,
                   count(*) FILTER (WHERE grp = 'food') AS food_n,
                   coalesce(sum(amount) FILTER (WHERE grp = 'food'), 0) AS food_amt,
                   count(*) FILTER (WHERE grp = 'context') AS context_n,
                   {d.sorted_distinct_list("category", "grp = 'context'")} AS context_kinds,
                   min(ts) AS first_ts, max(ts) AS last_ts, sum(amount) AS total_amount,
                   {d.ordered_list("tx_id", ["ts", "tx_id"])} AS tx_ids,
                   list(DISTINCT {{'account_id': payee,
                                   'role': CASE grp WHEN 'rent' THEN 'landlord' WHEN 'lodging' THEN 'hotel/motel'
                                           WHEN 'transport' THEN 'transport' WHEN 'food' THEN 'food'
                                           ELSE category END}}) FILTER (WHERE NOT payee_pseudo) AS payees
            FROM ev GROUP BY payer, island
        )
        SELECT payer || '@' || strftime(first_ts, '%Y-%m-%d') AS key,
               landlords / {lit(p.min_landlords)}::DOUBLE AS score,
               first_ts, last_ts, total_amount, tx_ids,
               list_concat([{{'account_id': payer, 'role': 'payer'}}], coalesce(payees, [])) AS accounts,
               {{'focal': payer, 'landlords': landlords, 'rent_n': rent_n, 'rent_amt': rent_amt,
                 'lodging_n': lodging_n, 'lodging_amt': lodging_amt, 'lodging_places': lodging_places,
                 'transport_n': transport_n, 'transport_amt': transport_amt,
                 'transport_kinds': coalesce(transport_kinds, []),
                 'food_n': food_n, 'food_amt': food_amt, 'context_n': context_n,
                 'context_kinds': coalesce(context_kinds, []),
                 'days': date_diff('day', CAST(first_ts AS DATE), CAST(last_ts AS DATE)) + 1}} AS stats
        FROM agg
        WHERE lodging_n >= {lit(p.min_lodging)} AND transport_n >= {lit(p.min_transport)}
          AND food_n >= {lit(p.min_food)}
        """

    def explain(self, row, p):
        s = row["stats"]
        parts = [f"rent to {s['landlords']} different landlords ({s['rent_n']} payments, {money(s['rent_amt'])})"]
        if s["lodging_n"]:
            parts.append(f"{s['lodging_n']} hotel/motel payments at {s['lodging_places']} places "
                         f"({money(s['lodging_amt'])})")
        if s["transport_n"]:
            parts.append(f"{s['transport_n']} {'/'.join(s['transport_kinds'])} payments "
                         f"({money(s['transport_amt'])})")
        if s["food_n"]:
            parts.append(f"{s['food_n']} food payments ({money(s['food_amt'])})")
        if s["context_n"]:
            parts.append(f"{s['context_n']} {'/'.join(k.replace('_', ' ') for k in s['context_kinds'])} "
                         f"payments")
        return (f"Account {s['focal']} paid " + "; ".join(parts) + f" between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])} ({s['days']} days). Rent to {p.min_landlords} or more landlords "
                f"within {p.window_days} days with hotels ({p.min_lodging}+), travel ({p.min_transport}+) "
                f"and food ({p.min_food}+) meets the threshold. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 6. cash-funded individual without payroll
# ==============================================================================================

@dataclass(frozen=True)
class CashNoPayrollParams(Params):
    min_deposits: int = count(5)
    min_cash: float = amount(3000.0, lo_open=True)
    min_cash_share: float = ratio(0.3, lo_open=False)  # cash deposits as a share of everything the account received
    income_channels: tuple[str, ...] = names(("payroll", "ach", "check"), channels, "channel")
    income_categories: tuple[str, ...] = names(("payroll_provider", "benefits", "staffing"), categories, "category")


class CashWithoutPayroll(Typology):
    """For an individual's account F (KYC kind individual, or no business-like name): over the
    whole workspace, F received ``min_deposits``+ cash deposits totalling ``min_cash``+ and at least
    ``min_cash_share`` of all it received, and no income: no inflow by ``income_channels`` from a
    real account, and none from a payer or purpose in ``income_categories`` (payroll providers,
    government benefits, staffing companies). The evidence is the cash deposits.
    Score = cash total / ``min_cash``."""

    id = "cash_without_payroll"
    version = "1"
    family = "trafficking"
    title = "Individual's account funded by cash deposits, with no payroll or other income"
    red_flag = ("an individual's account funded mainly by cash deposits, with no payroll, benefits or "
                "other ACH income (earnings handed over in cash, or an account run for someone else)")
    source = f"{FIN_2020}; {FIN_2014}"
    Params = CashNoPayrollParams

    def skip_reason(self, ws):
        if not ws.scalar("SELECT count(*) FROM edges WHERE src = 'cash' AND channel = 'cash'"):
            return "no cash deposits in the workspace"
        return None

    needs = frozenset({"ordered_list", "regex", "json", "list_functions"})

    def sql(self, p: CashNoPayrollParams, d: Dialect) -> str:
        return f"""
        WITH {account_cte()}, {classified_edges_cte(d)},
        inflow AS (
            SELECT ce.dst AS focal, ce.tx_id, ce.ts, ce.amount, ce.location,
                   ce.src = 'cash' AND ce.channel = 'cash' AS is_cash,
                   ({in_list("coalesce(ce.channel, '')", p.income_channels)} AND NOT ce.src_pseudo)
                   OR {in_list("coalesce(ce.cat_in, '')", p.income_categories)} AS is_income,
                   ce.channel
            FROM ce LEFT JOIN acct a ON a.account_id = ce.dst
            WHERE NOT ce.dst_pseudo AND ce.src <> ce.dst AND NOT coalesce(a.is_business, false)
        ), per AS (
            SELECT focal, sum(amount) AS total_in, count(*) AS n_in,
                   count(*) FILTER (WHERE is_cash) AS n_cash,
                   coalesce(sum(amount) FILTER (WHERE is_cash), 0) AS cash_total,
                   count(*) FILTER (WHERE is_income) AS n_income,
                   count(DISTINCT location) FILTER (WHERE is_cash) AS places,
                   {d.sorted_distinct_list("coalesce(channel, '?')", "NOT is_cash")} AS other_channels
            FROM inflow GROUP BY focal
            HAVING count(*) FILTER (WHERE is_income) = 0
               AND count(*) FILTER (WHERE is_cash) >= {lit(p.min_deposits)}
               AND coalesce(sum(amount) FILTER (WHERE is_cash), 0) >= {num(p.min_cash)}
               AND coalesce(sum(amount) FILTER (WHERE is_cash), 0) >= {num(p.min_cash_share)} * sum(amount)
        )
        SELECT i.focal || '@cash-without-payroll' AS key,
               any_value(per.cash_total) / {num(p.min_cash)} AS score,
               min(i.ts) AS first_ts, max(i.ts) AS last_ts, sum(i.amount) AS total_amount,
               {d.ordered_list("i.tx_id", ["i.ts", "i.tx_id"])} AS tx_ids,
               [{{'account_id': i.focal, 'role': 'account holder'}}] AS accounts,
               {{'focal': i.focal, 'deposits': any_value(per.n_cash), 'cash_total': any_value(per.cash_total),
                 'total_in': any_value(per.total_in), 'inflows': any_value(per.n_in),
                 'places': any_value(per.places),
                 'other_channels': coalesce(any_value(per.other_channels), []),
                 'share': any_value(per.cash_total) / any_value(per.total_in),
                 'days': date_diff('day', CAST(min(i.ts) AS DATE), CAST(max(i.ts) AS DATE)) + 1}} AS stats
        FROM inflow i JOIN per ON per.focal = i.focal
        WHERE i.is_cash
        GROUP BY i.focal
        """

    def explain(self, row, p):
        s = row["stats"]
        other = (f"; its other receipts came by {', '.join(s['other_channels'])}" if s["other_channels"]
                 else "; it received nothing else")
        return (f"Account {s['focal']} (an individual's) took {s['deposits']} cash deposits totalling "
                f"{money(s['cash_total'])} at {s['places']} place(s) between {day(row['first_ts'])} and "
                f"{day(row['last_ts'])}, {float(s['share']):.0%} of the {money(s['total_in'])} it received"
                f"{other}, and no payroll, benefits, ACH or check income at all. {p.min_deposits}+ cash "
                f"deposits of {money(p.min_cash)}+ in total, at least {p.min_cash_share:.0%} of its "
                f"receipts, with no income meets the threshold. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 7. deposits at odd hours
# ==============================================================================================

# a timestamp that carries a time of day (not midnight); portable (sqlglot turns CAST(ts AS TIME)
# into a TIMESTAMP for Spark, which changes the meaning)
TIMED = "CAST(CAST(ts AS DATE) AS TIMESTAMP) <> ts"


@dataclass(frozen=True)
class OddHoursParams(Params):
    start_hour: int = whole(22, 0, 24, "hour of the day")  # odd hours: from start_hour ...
    end_hour: int = whole(5, 0, 24, "hour of the day")     # ... to end_hour (exclusive), across midnight
    window_days: int = days(30)
    min_odd: int = count(8)            # odd-hour deposits in a window
    min_share: float = ratio(0.5, lo_open=False)  # of all deposits (in these channels) in the window
    channels: tuple[str, ...] = names(("cash", "transfer"), channels, "channel")  # customer-initiated; ACH batches post at night

    def check(self, typology):
        if self.start_hour % 24 == self.end_hour % 24:
            raise ConfigError(f"{typology}: start_hour and end_hour must be different hours of the day "
                              f"(0-24), got {self.start_hour} and {self.end_hour}")


class OddHoursDeposits(Typology):
    """For an account F (not a pseudo account): money received by ``channels`` (cash deposits and
    person-to-person transfers by default; ACH and payroll batches post at night and are not
    counted), only from sources whose rows carry times of day. A window of ``window_days``
    qualifies when at least ``min_odd`` of its deposits are at odd hours (``start_hour`` to
    ``end_hour``) and they are at least ``min_share`` of its deposits. Overlapping windows merge;
    the evidence is the episode's odd-hour deposits. Score = best window's odd count / ``min_odd``."""

    id = "odd_hours_deposits"
    version = "1"
    family = "trafficking"
    title = "Deposits concentrated at odd hours (late night, early morning)"
    red_flag = ("deposits and transfers received mostly late at night or in the early morning, "
                "inconsistent with the customer's stated occupation or business")
    source = f"{FIN_2020}; {FIN_2014}; FFIEC BSA/AML Examination Manual, Appendix F"
    Params = OddHoursParams

    def skip_reason(self, ws):
        if not ws.scalar(f"SELECT count(*) FROM transactions WHERE {TIMED}"):
            return "timestamps carry no time of day (all at midnight)"
        return None

    def run(self, backend, p: OddHoursParams):
        rows = super().run(backend, p)
        dated = backend.rows(f"SELECT source_id, count(*) AS n FROM transactions GROUP BY source_id "
                             f"HAVING NOT bool_or({TIMED}) ORDER BY source_id")
        if dated:
            self.notes.append(f"{sum(r['n'] for r in dated)} transactions of source(s) "
                              f"{', '.join(str(r['source_id']) for r in dated)} carry no time of day and "
                              f"were left out")
        return rows

    def _odd(self, p: OddHoursParams, col: str) -> str:
        a, b = lit(p.start_hour % 24), lit(p.end_hour % 24)
        if p.start_hour % 24 > p.end_hour % 24:
            return f"(hour({col}) >= {a} OR hour({col}) < {b})"
        return f"(hour({col}) >= {a} AND hour({col}) < {b})"

    needs = frozenset({"ordered_list"})

    def sql(self, p: OddHoursParams, d: Dialect) -> str:
        w = lit(p.window_days)
        return f"""
        WITH timed AS (
            SELECT source_id FROM transactions GROUP BY source_id
            HAVING bool_or({TIMED})
        ), dep AS (
            SELECT e.dst AS focal, e.src, e.src_pseudo, e.tx_id, e.ts, e.amount, e.channel,
                   {self._odd(p, 'e.ts')} AS odd
            FROM edges e JOIN transactions t ON t.tx_id = e.tx_id
            WHERE t.source_id IN (SELECT source_id FROM timed) AND NOT e.dst_pseudo AND e.src <> e.dst
              AND {in_list('e.channel', p.channels)}
        ), w AS (
            SELECT focal, ts,
                   sum(CASE WHEN odd THEN 1 ELSE 0 END) OVER win AS n_odd, count(*) OVER win AS n
            FROM dep
            WINDOW win AS (PARTITION BY focal ORDER BY ts RANGE BETWEEN INTERVAL {w} DAY PRECEDING AND CURRENT ROW)
        ), q AS (
            SELECT focal, ts - INTERVAL {w} DAY AS w_start, ts AS w_end, n_odd, n
            FROM w WHERE n_odd >= {lit(p.min_odd)} AND n_odd >= {num(p.min_share)} * n
        ), ep AS ({islands('q', 'focal')}
        ), sc AS (
            SELECT ep.focal, ep.island, max(q.n_odd) AS best FROM ep JOIN q ON q.focal = ep.focal
               AND q.w_end >= ep.ep_start AND q.w_end <= ep.ep_end GROUP BY ep.focal, ep.island
        ), ev AS (
            SELECT ep.focal, ep.island, d.* EXCLUDE (focal)
            FROM ep JOIN dep d ON d.focal = ep.focal AND d.ts >= ep.ep_start AND d.ts <= ep.ep_end
        )
        SELECT ev.focal || '@' || strftime(min(ts) FILTER (WHERE odd), '%Y-%m-%d') AS key,
               any_value(sc.best) / {lit(p.min_odd)}::DOUBLE AS score,
               min(ts) FILTER (WHERE odd) AS first_ts, max(ts) FILTER (WHERE odd) AS last_ts,
               sum(amount) FILTER (WHERE odd) AS total_amount,
               {d.ordered_list("tx_id", ["ts", "tx_id"], where="odd")} AS tx_ids,
               list_concat([{{'account_id': ev.focal, 'role': 'receiver'}}],
                   coalesce(list(DISTINCT {{'account_id': src, 'role': 'sender'}}) FILTER (WHERE odd AND NOT src_pseudo), [])) AS accounts,
               {{'focal': ev.focal, 'odd': count(*) FILTER (WHERE odd), 'deposits': count(*),
                 'cash_odd': count(*) FILTER (WHERE odd AND channel = 'cash'),
                 'transfer_odd': count(*) FILTER (WHERE odd AND channel <> 'cash'),
                 'senders': count(DISTINCT src) FILTER (WHERE odd AND NOT src_pseudo),
                 'after_midnight': count(*) FILTER (WHERE odd AND hour(ts) < 12),
                 'days': date_diff('day', CAST(min(ts) FILTER (WHERE odd) AS DATE),
                                   CAST(max(ts) FILTER (WHERE odd) AS DATE)) + 1}} AS stats
        FROM ev JOIN sc ON sc.focal = ev.focal AND sc.island = ev.island
        GROUP BY ev.focal, ev.island
        """

    def explain(self, row, p):
        s = row["stats"]
        share = s["odd"] / s["deposits"] if s["deposits"] else 0
        kinds = []
        if s["cash_odd"]:
            kinds.append(f"{s['cash_odd']} cash deposits")
        if s["transfer_odd"]:
            kinds.append(f"{s['transfer_odd']} transfers from {s['senders']} sender(s)")
        return (f"Account {s['focal']} received {s['odd']} of its {s['deposits']} deposits and transfers "
                f"in the period ({share:.0%}) between {p.start_hour:02d}:00 and {p.end_hour:02d}:00 "
                f"({', '.join(kinds)}; {s['after_midnight']} after midnight), totalling "
                f"{money(row['total_amount'])} between {day(row['first_ts'])} and {day(row['last_ts'])}. "
                f"{p.min_odd} or more at odd hours within {p.window_days} days, at least "
                f"{p.min_share:.0%} of the deposits, meets the threshold (ACH and payroll, posted in "
                f"overnight batches, not counted). Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 8. business with revenue but no payroll
# ==============================================================================================

@dataclass(frozen=True)
class BizNoPayrollParams(Params):
    min_revenue: float = amount(50000.0, lo_open=True)  # received over the workspace's period (materiality)
    min_outflows: int = count(10, lo=0)  # its spending must be visible ...
    min_out_share: float = ratio(0.5, lo_open=False)  # ... and account for this share of its revenue
    min_days: int = days(45)           # first to last transaction: a monthly payroll cycle and more
    payroll_channels: tuple[str, ...] = names(("payroll",), channels, "channel")
    payroll_categories: tuple[str, ...] = names(("payroll_provider",), categories, "category")
    tax_categories: tuple[str, ...] = names(("tax",), categories, "category")
    # these are never judged themselves (government, utilities, lenders, payroll providers)
    exclude_categories: tuple[str, ...] = names(("tax", "benefits", "payroll_provider", "utility", "lender"),
                                                categories, "category")


class BusinessWithoutPayroll(Typology):
    """For a business B (KYC kind business, or a business-like owner name; not in
    ``exclude_categories``): over the workspace, B received ``min_revenue``+ and made
    ``min_outflows``+ payments totalling at least ``min_out_share`` of that (so its spending is in
    view), over at least ``min_days`` days, and none of its payments is payroll (``payroll_channels``,
    or to a ``payroll_categories`` payee such as ADP) or to a tax authority (``tax_categories``, e.g.
    EFTPS). The evidence is B's receipts and payments. Score = revenue / ``min_revenue``."""

    id = "business_without_payroll"
    version = "1"
    family = "trafficking"
    title = "Business with revenue but no payroll or payroll taxes"
    red_flag = ("a business with substantial revenue and visible spending that pays no payroll and no "
                "payroll taxes (workers paid off the books in cash or through intermediaries, or a "
                "shell with no staff)")
    source = f"{FIN_2020}; {FIN_2014}; FFIEC BSA/AML Examination Manual, Appendix F"
    Params = BizNoPayrollParams

    def skip_reason(self, ws):
        p = self.Params()
        n_biz = ws.scalar(f"WITH {account_cte()} SELECT count(*) FROM acct WHERE is_business")
        if not n_biz:
            return ("no business accounts: no account record says 'business' (ingest account records "
                    "with --format accounts) and no owner name looks like a business")
        seen = ws.scalar(f"""WITH {account_cte()}, {classified_edges_cte(DUCKDB)}
            SELECT count(*) FROM ce WHERE {in_list('channel', p.payroll_channels)}
               OR {in_list('cat_out', p.payroll_categories + p.tax_categories)}""")
        if not seen:
            return ("no payroll payments and no payments to a payroll provider or tax authority anywhere "
                    "in the workspace, so a missing payroll can't be told from missing data")
        return None

    needs = frozenset({"ordered_list", "regex", "json", "list_functions"})

    def sql(self, p: BizNoPayrollParams, d: Dialect) -> str:
        return f"""
        WITH {account_cte()}, {classified_edges_cte(d)},
        biz AS (
            SELECT account_id FROM acct
            WHERE is_business AND {in_list("coalesce(category, '')", p.exclude_categories, negate=True)}
        ), io AS (
            SELECT dst AS focal, tx_id, ts, amount, 'in' AS dir, src AS cp, src_pseudo AS cp_pseudo,
                   channel, cat_in AS cat, NULL::BOOLEAN AS cp_is_business
            FROM ce WHERE dst IN (SELECT account_id FROM biz) AND src <> dst
            UNION ALL
            SELECT ce.src, ce.tx_id, ce.ts, ce.amount, 'out', ce.dst, ce.dst_pseudo, ce.channel, ce.cat_out,
                   a.is_business
            FROM ce LEFT JOIN acct a ON a.account_id = ce.dst
            WHERE ce.src IN (SELECT account_id FROM biz) AND ce.src <> ce.dst
        ), per AS (
            SELECT focal,
                   coalesce(sum(amount) FILTER (WHERE dir = 'in'), 0) AS revenue,
                   count(*) FILTER (WHERE dir = 'in') AS n_in,
                   count(DISTINCT cp) FILTER (WHERE dir = 'in') AS payers,
                   coalesce(sum(amount) FILTER (WHERE dir = 'out'), 0) AS spent,
                   count(*) FILTER (WHERE dir = 'out') AS n_out,
                   count(*) FILTER (WHERE dir = 'out' AND ({in_list("coalesce(channel, '')", p.payroll_channels)}
                                    OR {in_list("coalesce(cat, '')", p.payroll_categories + p.tax_categories)})) AS n_payroll,
                   coalesce(sum(amount) FILTER (WHERE dir = 'out' AND cp = 'cash'), 0) AS cash_out,
                   coalesce(sum(amount) FILTER (WHERE dir = 'out' AND cat = 'staffing'), 0) AS staffing_out,
                   coalesce(sum(amount) FILTER (WHERE dir = 'out' AND NOT cp_pseudo
                                                AND NOT coalesce(cp_is_business, true)), 0) AS to_people,
                   count(DISTINCT cp) FILTER (WHERE dir = 'out' AND NOT cp_pseudo
                                              AND NOT coalesce(cp_is_business, true)) AS people,
                   min(ts) AS first_ts, max(ts) AS last_ts
            FROM io GROUP BY focal
            HAVING n_payroll = 0 AND revenue >= {num(p.min_revenue)} AND n_out >= {lit(p.min_outflows)}
               AND spent >= {num(p.min_out_share)} * revenue
               AND date_diff('day', CAST(min(ts) AS DATE), CAST(max(ts) AS DATE)) + 1 >= {lit(p.min_days)}
        )
        SELECT per.focal || '@business-without-payroll' AS key,
               any_value(per.revenue) / {num(p.min_revenue)} AS score,
               min(io.ts) AS first_ts, max(io.ts) AS last_ts, sum(io.amount) AS total_amount,
               {d.ordered_list("io.tx_id", ["io.ts", "io.tx_id"])} AS tx_ids,
               [{{'account_id': per.focal, 'role': 'business'}}] AS accounts,
               {{'focal': per.focal, 'revenue': any_value(per.revenue), 'n_in': any_value(per.n_in),
                 'payers': any_value(per.payers), 'spent': any_value(per.spent), 'n_out': any_value(per.n_out),
                 'cash_out': any_value(per.cash_out), 'staffing_out': any_value(per.staffing_out),
                 'to_people': any_value(per.to_people), 'people': any_value(per.people),
                 'days': date_diff('day', CAST(min(io.ts) AS DATE), CAST(max(io.ts) AS DATE)) + 1}} AS stats
        FROM per JOIN io ON io.focal = per.focal
        GROUP BY per.focal
        """

    def explain(self, row, p):
        s = row["stats"]
        spent = []
        if float(s["cash_out"]):
            spent.append(f"{money(s['cash_out'])} withdrawn in cash")
        if float(s["staffing_out"]):
            spent.append(f"{money(s['staffing_out'])} paid to staffing or contract-labor companies")
        if float(s["to_people"]):
            spent.append(f"{money(s['to_people'])} paid by transfer to {s['people']} individual(s)")
        spent_txt = f", including {'; '.join(spent)}" if spent else ""
        return (f"Business account {s['focal']} received {money(s['revenue'])} from {s['payers']} payer(s) "
                f"in {s['n_in']} payments and made {s['n_out']} payments totalling {money(s['spent'])}"
                f"{spent_txt} between {day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days), "
                f"but no payroll payment and no payment to a payroll provider or tax authority. Revenue "
                f"of {money(p.min_revenue)}+ with its spending in view and no payroll or payroll tax "
                f"meets the threshold. Red flag: {self.red_flag} — {self.source}.")


TRAFFICKING: tuple[Typology, ...] = (SharedIdentifiers(), HtExpenses(), CashWithoutPayroll(),
                                     OddHoursDeposits(), BusinessWithoutPayroll())
