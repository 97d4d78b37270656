"""Government-contract oversight typologies (issue 17): what an inspector general's auditor looks
for in an agency's contract actions and payments.

They read the records of migration 0014 rather than transfers: ``awards`` (USAspending contract
transactions), ``payments`` (the agency's payment ledger), ``vendors`` (SAM.gov registrations and
the vendor master) and ``officials`` (the agency's staff); ``shell_vendor`` also follows the
vendor's bank account through ``edges``. Each finding cites the exact records behind it (a
``records`` column of ``{kind, record_id}``, written to ``finding_records``) besides any bank
transactions (``tx_ids``). Definitions, parameters and sources are in docs/typologies.md,
"Government-contract typologies".

Parties that are not bank accounts are named with a prefix: ``vendor:<key>``, ``office:<key>``,
``official:<person id>``. A vendor's key is its UEI; else, for a payment or vendor-master row, the
UEI a vendor record gives its agency vendor number, else that vendor number; else its name (upper
case). An office's key is its office code, else its name (upper case).

A red flag is a reason to look, not proof: the explanations say what was seen and where the
indicator is published.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import Params, Staged, Typology, amount, count, days, flag, names, num, ratio, usd, whole
from moneytrail.detect.categories import account_cte
from moneytrail.detect.flow import islands
from moneytrail.errors import ConfigError
from moneytrail.sqlkit import in_list, lit

# ==============================================================================================
# what the typologies share
# ==============================================================================================

FAR_13_003 = ("FAR 13.003(c)(2): \"Do not break down requirements aggregating more than the simplified "
              "acquisition threshold (or for commercial products and commercial services, the threshold in "
              "subpart 13.5) or the micro-purchase threshold into several purchases that are less than the "
              "applicable threshold merely to (i) permit use of simplified acquisition procedures; or "
              "(ii) avoid any requirement that applies to purchases exceeding the micro-purchase threshold.\"")

USASPENDING_HINT = "ingest USAspending downloads with --format usaspending"
PAYMENTS_HINT = "a payment ledger with --format payments"
VENDORS_HINT = "SAM.gov extracts with --format sam or a vendor master with --format vendors"
OFFICIALS_HINT = "an agency staff list with --format officials"


def record_kinds() -> tuple[str, ...]:
    return ("awards", "payments")


def scopes() -> tuple[str, ...]:
    return ("vendor", "office")


def link_identifiers() -> tuple[str, ...]:
    return ("address", "phone", "bank_account", "tin")


#: FPDS "extent competed" codes (USAspending ``extent_competed_code``): A full and open
#: competition; B not available for competition; C not competed; D full and open after exclusion
#: of sources; E follow-on to a competed action; F competed under simplified acquisition
#: procedures; G not competed under SAP; CDO / NDO competitive / non-competitive delivery order
EXTENT_COMPETED = {"A": "full and open competition", "B": "not available for competition", "C": "not competed",
                   "D": "full and open competition after exclusion of sources",
                   "E": "follow-on to a competed action", "F": "competed under simplified acquisition procedures",
                   "G": "not competed under simplified acquisition procedures",
                   "CDO": "competitive delivery order", "NDO": "non-competitive delivery order"}


def extent_codes() -> tuple[str, ...]:
    return tuple(EXTENT_COMPETED)


def _c(x: str) -> str:
    """A text column as a key: trimmed, upper case, NULL when empty."""
    return f"nullif(upper(trim({x})), '')"


def _t(x: str) -> str:
    """A text column trimmed, NULL when empty."""
    return f"nullif(trim({x}), '')"


#: an agency vendor number -> the one UEI the vendor records give it
VMAP = f"""vmap AS (
        SELECT {_t('vendor_id')} AS vendor_id, min({_c('uei')}) AS uei
        FROM vendors WHERE {_t('vendor_id')} IS NOT NULL AND {_c('uei')} IS NOT NULL
        GROUP BY {_t('vendor_id')} HAVING count(DISTINCT {_c('uei')}) = 1
    )"""

#: ``_ct_acts``: awards and payments as one list of money actions: kind (the table), record,
#: date, amount, currency, vendor key and name, office key and name, the record's own reference,
#: approver (payments) and the account paid into (payments)
ACTS = ("_ct_acts", f"""WITH {VMAP}
        SELECT 'awards' AS kind, a.record_id, a.action_date AS dt, a.obligation AS amount, 'USD' AS currency,
               coalesce({_c('a.recipient_uei')}, {_c('a.recipient_name')}) AS vkey, {_t('a.recipient_name')} AS vname,
               coalesce({_c('a.office_code')}, {_c('a.office')}) AS okey, {_t('a.office')} AS oname,
               coalesce({_t('a.piid')}, {_t('a.award_key')}, {_t('a.transaction_key')},
                        'record ' || CAST(a.record_id AS VARCHAR)) AS ref,
               CAST(NULL AS VARCHAR) AS approver, CAST(NULL AS VARCHAR) AS pay_account,
               CAST(NULL AS VARCHAR) AS contract
        FROM awards a
        UNION ALL
        SELECT 'payments', p.record_id, p.paid_date, p.amount, upper(p.currency),
               coalesce({_c('p.vendor_uei')}, vm.uei, {_t('p.vendor_id')}, {_c('p.vendor_name')}), {_t('p.vendor_name')},
               coalesce({_c('p.office_code')}, {_c('p.office')}), {_t('p.office')},
               coalesce({_t('p.payment_id')}, {_t('p.invoice')}, 'record ' || CAST(p.record_id AS VARCHAR)),
               {_c('p.approver')}, {_t('p.pay_account')}, {_t('p.piid')}
        FROM payments p LEFT JOIN vmap vm ON vm.vendor_id = {_t('p.vendor_id')}""")

#: ``_ct_vend``: vendor records with their vendor key
VEND = ("_ct_vend", f"""WITH {VMAP}
        SELECT v.*, coalesce({_c('v.uei')}, vm.uei, {_t('v.vendor_id')}, {_c('v.name')}) AS vkey
        FROM vendors v LEFT JOIN vmap vm ON vm.vendor_id = {_t('v.vendor_id')}""")


EMPTY_TX = "CAST([] AS BIGINT[])"


def _who(key, name) -> str:
    """A party as an explanation names it: the name and the key, or the key alone."""
    if key is None:
        return "?"
    if name and str(name).strip() and str(name).strip().upper() != str(key):
        return f"{str(name).strip()} ({key})"
    return str(key)


def _few(items, n: int = 4) -> str:
    items = [str(x) for x in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _day(d) -> str:
    return d.strftime("%Y-%m-%d") if d is not None else "?"


def _amt(x, currency: str = "USD") -> str:
    d = x if isinstance(x, Decimal) else Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
    text = f"{d.quantize(Decimal('0.01'), rounding='ROUND_HALF_UP'):,}"
    return f"${text}" if (currency or "USD") == "USD" else f"{text} {currency}"


def _count(ws, sql: str) -> int:
    return int(ws.scalar(sql) or 0)


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# ==============================================================================================
# 1. split purchases
# ==============================================================================================

@dataclass(frozen=True)
class FarThresholds:
    """The micro-purchase and simplified acquisition thresholds of FAR 2.101 from a date."""

    effective: date
    micro_purchase: Decimal
    simplified_acquisition: Decimal
    source: str


#: FAR 2.101's thresholds by the date they took effect (the FAR Council's "table of effective
#: dates for MPT and SAT" on acquisition.gov, and each rule in the Federal Register). An action is
#: judged by the row in force on its date; actions before the first row are not judged.
FAR_THRESHOLDS: tuple[FarThresholds, ...] = (
    FarThresholds(date(2006, 9, 28), Decimal("3000"), Decimal("100000"),
                  "FAR case 2004-033, FAC 2005-13, 71 FR 57363 (Sept. 28, 2006)"),
    FarThresholds(date(2010, 10, 1), Decimal("3000"), Decimal("150000"),
                  "FAR case 2008-024, FAC 2005-45, 75 FR 53129 (Aug. 30, 2010)"),
    FarThresholds(date(2015, 10, 1), Decimal("3500"), Decimal("150000"),
                  "FAR case 2014-022, FAC 2005-83, 80 FR 38293 (July 2, 2015)"),
    FarThresholds(date(2020, 8, 31), Decimal("10000"), Decimal("250000"),
                  "FAR case 2018-004, FAC 2020-07, 85 FR 40064 (July 2, 2020)"),
    FarThresholds(date(2025, 10, 1), Decimal("15000"), Decimal("350000"),
                  "FAR case 2024-001, FAC 2025-06, 90 FR 41872 (Aug. 27, 2025)"),
)

#: the start of time for a threshold a run sets itself (both thresholds given)
EPOCH = date(1900, 1, 1)


def far_thresholds_on(d: date) -> FarThresholds | None:
    """The FAR 2.101 thresholds in force on ``d`` (None before the schedule begins)."""
    found = None
    for row in FAR_THRESHOLDS:
        if row.effective <= d:
            found = row
    return found


@dataclass(frozen=True)
class SplitParams(Params):
    window_days: int = days(7, lo=0)        # pieces this many days apart at most (0: the same day)
    min_count: int = count(2)               # pieces in a window
    min_piece_share: float = ratio(0.2, lo_open=False)  # each piece at least this share of its threshold
    # a window holds at least this many times the actions the vendor's usual pace from the office
    # would put in it (1: off): a supplier the office pays every few days is routine, not a split
    burst_ratio: float = ratio(3.0, lo=1.0, hi=1000.0, lo_open=False)
    micro_purchase_threshold: float = amount(0.0)   # 0: FAR 2.101's, as in force on each date
    simplified_acquisition_threshold: float = amount(0.0)   # 0: FAR 2.101's, as in force on each date
    record_kinds: tuple[str, ...] = names(("awards", "payments"), record_kinds, "record kind")

    def check(self, typology):
        mpt, sat = self.micro_purchase_threshold, self.simplified_acquisition_threshold
        if mpt > 0 and sat > 0 and mpt >= sat:
            raise ConfigError(f"{typology}: parameter micro_purchase_threshold ({mpt}) must be below "
                              f"simplified_acquisition_threshold ({sat})")
        low_sat = min(r.simplified_acquisition for r in FAR_THRESHOLDS)
        if mpt > 0 and sat == 0 and Decimal(repr(mpt)) >= low_sat:
            raise ConfigError(f"{typology}: parameter micro_purchase_threshold ({mpt}) must be below every "
                              f"simplified acquisition threshold of FAR 2.101 ({usd(low_sat)}), or give "
                              f"simplified_acquisition_threshold too")
        high_mpt = max(r.micro_purchase for r in FAR_THRESHOLDS)
        if sat > 0 and mpt == 0 and Decimal(repr(sat)) <= high_mpt:
            raise ConfigError(f"{typology}: parameter simplified_acquisition_threshold ({sat}) must be above "
                              f"every micro-purchase threshold of FAR 2.101 ({usd(high_mpt)}), or give "
                              f"micro_purchase_threshold too")


def _schedule(p: SplitParams) -> list[tuple[date, date | None, Decimal, Decimal]]:
    """The thresholds this run applies: ``(valid_from, valid_to, mpt, sat)`` rows, FAR 2.101's
    with a run's own values in their place."""
    mpt = Decimal(repr(p.micro_purchase_threshold)) if p.micro_purchase_threshold > 0 else None
    sat = Decimal(repr(p.simplified_acquisition_threshold)) if p.simplified_acquisition_threshold > 0 else None
    if mpt is not None and sat is not None:
        return [(EPOCH, None, mpt, sat)]
    out = []
    for i, row in enumerate(FAR_THRESHOLDS):
        end = FAR_THRESHOLDS[i + 1].effective if i + 1 < len(FAR_THRESHOLDS) else None
        out.append((row.effective, end, mpt if mpt is not None else row.micro_purchase,
                    sat if sat is not None else row.simplified_acquisition))
    return out


def _dec(x: Decimal) -> str:
    return f"CAST({lit(x)} AS DECIMAL(18, 2))"


class SplitPurchase(Staged):
    """Per vendor, office and record kind (awards and payments are separate series: a payment
    pays an award, and a payment citing a contract number is left out of the payments series for
    that reason), the actions of a *tier*: micro-purchase pieces (at most the micro-purchase
    threshold in force on their date) or simplified-acquisition pieces (above it and at most the
    simplified acquisition threshold), each at least ``min_piece_share`` of its threshold. A
    window of ``window_days`` days qualifies when it holds ``min_count`` or more pieces whose
    total exceeds the highest threshold in force in it, and at least ``burst_ratio`` times the
    actions the vendor's usual pace from the office would put in ``window_days + 1`` days (its
    other actions, of any size, over the rest of the span of the case's records of that kind): an
    office that pays a supplier every few days pays it twice in a week as a matter of routine. Thresholds: FAR 2.101 as in force on each
    action's date (:data:`FAR_THRESHOLDS`), unless the run sets ``micro_purchase_threshold`` /
    ``simplified_acquisition_threshold``. Overlapping windows merge into an episode whose
    evidence is its pieces. Score = the best window's total / its threshold."""

    id = "split_purchase"
    version = "2"
    family = "contracts"
    title = "Split purchases: several actions under a purchase threshold that together exceed it"
    red_flag = ("several purchases from one vendor by one office within days, each at or under the "
                "micro-purchase or simplified acquisition threshold, that together exceed it (a requirement "
                "broken down to stay under the threshold)")
    source = ("FAR 13.003(c)(2); FAR 2.101 (thresholds in force on each date); GAO-08-333, Governmentwide "
              "Purchase Cards (2008), which data-mined split purchases as several purchases from one vendor "
              "on the same day")
    Params = SplitParams
    needs = frozenset({"ordered_list"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT (SELECT count(*) FROM awards) + (SELECT count(*) FROM payments)"):
            return f"no award or payment records in this case ({USASPENDING_HINT}, {PAYMENTS_HINT})"
        return None

    def run(self, backend, p: SplitParams):
        rows = super().run(backend, p)
        start = _schedule(p)[0][0]
        kinds = p.record_kinds
        early = backend.scalar(f"""SELECT count(*) FROM (
            SELECT action_date AS dt FROM awards WHERE obligation > 0 AND {in_list("'awards'", kinds)}
            UNION ALL SELECT paid_date FROM payments WHERE amount > 0 AND {in_list("'payments'", kinds)})
            WHERE dt < {lit(start)}""")
        if early:
            self.notes.append(f"{early} award or payment record(s) dated before {start.isoformat()}, the first "
                              f"date of the FAR 2.101 threshold schedule this typology holds, were not judged")
        pay = in_list("'payments'", kinds)
        other = backend.scalar(f"SELECT count(*) FROM payments WHERE upper(currency) <> 'USD' AND {pay}")
        if other:
            self.notes.append(f"{other} payment(s) in a currency other than US dollars were left out "
                              f"(the FAR thresholds are in dollars)")
        return rows

    def stages(self, p: SplitParams, d: Dialect):
        thr = " UNION ALL ".join(
            f"SELECT {lit(a)} AS valid_from, {lit(b) if b else 'CAST(NULL AS DATE)'} AS valid_to, "
            f"{_dec(m)} AS mpt, {_dec(s)} AS sat"
            for a, b, m, s in _schedule(p))
        share = lit(Decimal(repr(p.min_piece_share)))
        # the pieces: each action with the thresholds in force on its date, in its tier, and the
        # vendor's usual pace from the office (its actions of any size per day of the case's span)
        pieces = f"""WITH span AS (
            SELECT kind, date_diff('day', min(dt), max(dt)) + 1 AS days FROM _ct_acts WHERE amount > 0 GROUP BY kind
        ), pace AS (
            SELECT x.kind, x.vkey, x.okey, count(*) AS n_all, max(span.days) AS span_days
            FROM _ct_acts x JOIN span ON span.kind = x.kind
            WHERE x.amount > 0 AND x.vkey IS NOT NULL AND x.okey IS NOT NULL GROUP BY x.kind, x.vkey, x.okey
        ), t AS (
            SELECT x.*, thr.valid_from AS eff, thr.mpt, thr.sat, CAST(x.dt AS TIMESTAMP) AS ts, pace.n_all,
                   pace.span_days
            FROM _ct_acts x JOIN ({thr}) thr ON x.dt >= thr.valid_from AND (thr.valid_to IS NULL OR x.dt < thr.valid_to)
            JOIN pace ON pace.kind = x.kind AND pace.vkey = x.vkey AND pace.okey = x.okey
            WHERE x.amount > 0 AND x.currency = 'USD' AND x.vkey IS NOT NULL AND x.okey IS NOT NULL
              AND {in_list('x.kind', p.record_kinds)}
              AND x.contract IS NULL      -- a payment citing a contract pays that award: not a purchase of its own
        ), s AS (
            SELECT t.*, 'micro-purchase' AS tier, t.mpt AS lim FROM t
            WHERE t.amount <= t.mpt AND t.amount >= {share} * t.mpt
            UNION ALL
            SELECT t.*, 'simplified acquisition' AS tier, t.sat AS lim FROM t
            WHERE t.amount > t.mpt AND t.amount <= t.sat AND t.amount >= {share} * t.sat
        )
        SELECT s.*, s.kind || '|' || s.tier || '|' || s.vkey || '|' || s.okey AS fk FROM s"""
        return [ACTS, ("_ct_pieces", pieces)]

    def body(self, p: SplitParams, d: Dialect):
        w = lit(p.window_days)
        ctes = f"""w AS (
            SELECT fk, ts, count(*) OVER win AS n, sum(amount) OVER win AS total, max(lim) OVER win AS wlim,
                   n_all, span_days
            FROM _ct_pieces
            WINDOW win AS (PARTITION BY fk ORDER BY ts RANGE BETWEEN INTERVAL {w} DAY PRECEDING AND CURRENT ROW)
        ), q AS (
            SELECT fk, ts - INTERVAL {w} DAY AS w_start, ts AS w_end, total / wlim AS w_score
            FROM w WHERE n >= {lit(p.min_count)} AND total > wlim
              -- the vendor's pace from the office outside this window: its other actions over the rest of the span
              AND n >= {num(p.burst_ratio)} * (n_all - n) * {lit(p.window_days + 1)}
                       / greatest(span_days - {lit(p.window_days + 1)}, {lit(p.window_days + 1)})
        ), ep AS ({islands('q', 'fk')}
        ), sc AS (
            SELECT ep.fk, ep.island, max(q.w_score) AS score FROM ep JOIN q ON q.fk = ep.fk
               AND q.w_end >= ep.ep_start AND q.w_end <= ep.ep_end GROUP BY ep.fk, ep.island
        ), evid AS (
            SELECT ep.island, s2.* FROM ep JOIN _ct_pieces s2 ON s2.fk = ep.fk AND s2.ts >= ep.ep_start
               AND s2.ts <= ep.ep_end
        )"""
        return ctes, f"""
        SELECT evid.fk || '@' || strftime(min(evid.ts), '%Y-%m-%d') AS key,
               any_value(sc.score) AS score,
               min(evid.ts) AS first_ts, max(evid.ts) AS last_ts, sum(evid.amount) AS total_amount,
               {EMPTY_TX} AS tx_ids,
               [{{'account_id': 'vendor:' || min(evid.vkey), 'role': 'vendor'}},
                {{'account_id': 'office:' || min(evid.okey),
                  'role': CASE WHEN min(evid.kind) = 'awards' THEN 'awarding office' ELSE 'paying office' END}}] AS accounts,
               {d.ordered_list("{'kind': evid.kind, 'record_id': evid.record_id}", ["evid.ts", "evid.record_id"])} AS records,
               {{'vendor': min(evid.vkey), 'vendor_name': min(evid.vname), 'office': min(evid.okey),
                 'office_name': min(evid.oname), 'kind': min(evid.kind), 'tier': min(evid.tier),
                 'n': count(*), 'min_amount': min(evid.amount), 'max_amount': max(evid.amount),
                 'n_all': max(evid.n_all), 'span_days': max(evid.span_days), 'lim_low': min(evid.lim), 'lim_high': max(evid.lim), 'eff_low': min(evid.eff), 'eff_high': max(evid.eff),
                 'items': {d.ordered_list("{'ref': coalesce(evid.ref, '?'), 'day': strftime(evid.ts, '%Y-%m-%d'), 'amount': evid.amount}",
                                          ["evid.ts", "evid.record_id"])},
                 'days': date_diff('day', CAST(min(evid.ts) AS DATE), CAST(max(evid.ts) AS DATE)) + 1}} AS stats
        FROM evid JOIN sc ON sc.fk = evid.fk AND sc.island = evid.island
        GROUP BY evid.fk, evid.island
        """

    def _threshold_text(self, s, p: SplitParams) -> str:
        micro = s["tier"] == "micro-purchase"
        own = p.micro_purchase_threshold if micro else p.simplified_acquisition_threshold
        what = "micro-purchase threshold" if micro else "simplified acquisition threshold"
        if own > 0:
            return f"the {what} set for this run, {usd(s['lim_high'])}"
        hi = far_thresholds_on(s["eff_high"])
        src = f"FAR 2.101 as amended by {hi.source}, in force from {_day(hi.effective)}" if hi else "FAR 2.101"
        if s["lim_low"] == s["lim_high"]:
            return f"the {what} in force on its date, {usd(s['lim_high'])} ({src})"
        return (f"the {what} in force on each date ({usd(s['lim_low'])} before {_day(s['eff_high'])}, "
                f"{usd(s['lim_high'])} from then: {src})")

    def explain(self, row, p):
        s = row["stats"]
        what = "awards" if s["kind"] == "awards" else "payments"
        items = [f"{i['ref']} on {i['day']} for {usd(i['amount'])}" for i in (s["items"] or [])]
        return (f"Office {_who(s['office'], s['office_name'])} made {s['n']} {what} to vendor "
                f"{_who(s['vendor'], s['vendor_name'])} within {s['days']} day(s), between {_day(row['first_ts'])} "
                f"and {_day(row['last_ts'])}: {_few(items, 5)}; together {usd(row['total_amount'])}. Each is at "
                f"or below {self._threshold_text(s, p)} and at least {p.min_piece_share:.0%} of it, and together "
                f"they exceed it ({row['score']:.2f} times the threshold). {p.min_count} or more such pieces within "
                f"{p.window_days} day(s) meet the test, when they are at least {p.burst_ratio:g} times what the "
                f"office's usual pace with this vendor ({self._pace(s)}) would put in that many days. {FAR_13_003} "
                f"Red flag: {self.red_flag} — {self.source}.")

    @staticmethod
    def _pace(s) -> str:
        what = "award(s)" if s["kind"] == "awards" else "payment(s)"
        return f"{s['n_all']} {what} in all over the {s['span_days']} day(s) the case's {s['kind']} span"


# ==============================================================================================
# 2. duplicate payments
# ==============================================================================================

@dataclass(frozen=True)
class DuplicateParams(Params):
    window_days: int = days(365)           # one invoice paid again within this many days
    match_amount: bool = flag(False)       # the same invoice only when paid with the same amount
    no_invoice_days: int = days(3, lo=0)   # without invoice numbers: same vendor and amount this close
    include_without_invoice: bool = flag(True)


#: an invoice number as compared: upper case, letters and digits only, the zeros leading the part
#: after a letter prefix dropped ("inv-0012", "INV 12" and "INV0012" are one invoice)
def _invoice_norm(x: str) -> str:
    """An invoice number as compared: upper case, punctuation and blanks dropped; a number behind a
    letter prefix is the number alone, without leading zeros (``INV-07424``, ``inv 7424`` and
    ``7424`` are one invoice: a clerk keys the number without its prefix as often as with it);
    anything else keeps its letters, with the leading zeros of its number part dropped."""
    alnum = f"regexp_replace(upper(coalesce({x}, '')), '[^A-Z0-9]', '', 'g')"
    prefix = f"regexp_extract({alnum}, '^([A-Z]*)', 1)"
    rest = f"regexp_replace(substr({alnum}, length({prefix}) + 1), '^0+', '')"
    number_only = f"regexp_matches({alnum}, '^[A-Z]*[0-9]+$')"
    return f"nullif(CASE WHEN {number_only} THEN {rest} ELSE {prefix} || {rest} END, '')"


class DuplicatePayment(Staged):
    """Payments to one vendor (vendor key) that share an invoice number once normalised (upper
    case, punctuation and blanks dropped, leading zeros of the number dropped, a letter prefix in
    front of a number dropped: :func:`_invoice_norm`), two or more within
    ``window_days`` days, whatever their amounts unless ``match_amount``; and, for payments
    carrying no invoice number (``include_without_invoice``), two or more of the same amount and
    currency to one vendor within ``no_invoice_days`` days. Chains of such payments merge into
    one set; the evidence is the set. Score = payments in the set / 2."""

    id = "duplicate_payment"
    version = "2"
    family = "contracts"
    title = "Duplicate payments: one invoice paid twice, or the same amount paid twice within days"
    red_flag = ("the same invoice paid more than once to a vendor, or the same amount paid twice to a vendor "
                "within days without an invoice number to tell the payments apart")
    source = ("Payment Integrity Information Act of 2019, 31 U.S.C. 3351 (an improper payment includes any "
              "duplicate payment); OMB Circular A-123, Appendix C")
    Params = DuplicateParams
    needs = frozenset({"ordered_list", "regex"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT count(*) FROM payments"):
            return f"no payment records in this case (ingest {PAYMENTS_HINT})"
        return None

    def stages(self, p: DuplicateParams, d: Dialect):
        amt_key = " || '|' || p2.currency || '|' || CAST(p2.amount AS VARCHAR)" if p.match_amount else ""
        noinv = "" if p.include_without_invoice else "AND FALSE"
        groups = f"""WITH {VMAP}, pay AS (
            SELECT p.record_id, CAST(p.paid_date AS TIMESTAMP) AS ts, p.amount, upper(p.currency) AS currency,
                   coalesce({_c('p.vendor_uei')}, vm.uei, {_t('p.vendor_id')}, {_c('p.vendor_name')}) AS vkey,
                   {_t('p.vendor_name')} AS vname, coalesce({_c('p.office_code')}, {_c('p.office')}) AS okey,
                   {_t('p.invoice')} AS invoice, {_invoice_norm('p.invoice')} AS inv,
                   {_t('p.pay_account')} AS pay_account,
                   coalesce({_t('p.payment_id')}, 'record ' || CAST(p.record_id AS VARCHAR)) AS ref
            FROM payments p LEFT JOIN vmap vm ON vm.vendor_id = {_t('p.vendor_id')}
            WHERE p.amount > 0
        )
        SELECT p2.*, 'invoice' AS rule, 'inv|' || p2.vkey || '|' || p2.inv{amt_key} AS gk
        FROM pay p2 WHERE p2.vkey IS NOT NULL AND p2.inv IS NOT NULL
        UNION ALL
        SELECT p2.*, 'amount' AS rule, 'amt|' || p2.vkey || '|' || p2.currency || '|' || CAST(p2.amount AS VARCHAR) AS gk
        FROM pay p2 WHERE p2.vkey IS NOT NULL AND p2.inv IS NULL {noinv}"""
        return [("_ct_dup", groups)]

    def body(self, p: DuplicateParams, d: Dialect):
        ctes = f"""a AS (SELECT * FROM _ct_dup WHERE rule = 'invoice'
        ), b AS (SELECT * FROM _ct_dup WHERE rule = 'amount'
        ), g AS (SELECT * FROM _ct_dup
        ), q AS (
            SELECT gk, ts - INTERVAL {lit(p.window_days)} DAY AS w_start, ts AS w_end
            FROM (SELECT gk, ts, count(*) OVER (PARTITION BY gk ORDER BY ts
                         RANGE BETWEEN INTERVAL {lit(p.window_days)} DAY PRECEDING AND CURRENT ROW) AS n FROM a)
            WHERE n >= 2
            UNION ALL
            SELECT gk, ts - INTERVAL {lit(p.no_invoice_days)} DAY, ts
            FROM (SELECT gk, ts, count(*) OVER (PARTITION BY gk ORDER BY ts
                         RANGE BETWEEN INTERVAL {lit(p.no_invoice_days)} DAY PRECEDING AND CURRENT ROW) AS n FROM b)
            WHERE n >= 2
        ), ep AS ({islands('q', 'gk')}
        ), evid AS (
            SELECT ep.island, g.* FROM ep JOIN g ON g.gk = ep.gk AND g.ts >= ep.ep_start AND g.ts <= ep.ep_end
        )"""
        return ctes, f"""
        SELECT evid.gk || '@' || strftime(min(evid.ts), '%Y-%m-%d') AS key,
               count(*) / 2.0 AS score,
               min(evid.ts) AS first_ts, max(evid.ts) AS last_ts, sum(evid.amount) AS total_amount,
               {EMPTY_TX} AS tx_ids,
               list_concat([{{'account_id': 'vendor:' || min(evid.vkey), 'role': 'vendor'}}],
                   coalesce(list(DISTINCT {{'account_id': 'office:' || evid.okey, 'role': 'paying office'}})
                            FILTER (WHERE evid.okey IS NOT NULL), []),
                   coalesce(list(DISTINCT {{'account_id': evid.pay_account, 'role': 'account paid into'}})
                            FILTER (WHERE evid.pay_account IS NOT NULL), [])) AS accounts,
               {d.ordered_list("{'kind': 'payments', 'record_id': evid.record_id}", ["evid.ts", "evid.record_id"])} AS records,
               {{'rule': min(evid.rule), 'vendor': min(evid.vkey), 'vendor_name': min(evid.vname),
                 'invoice': min(evid.inv), 'n': count(*), 'currency': min(evid.currency),
                 'currencies': count(DISTINCT evid.currency), 'amounts': count(DISTINCT evid.amount),
                 'max_amount': max(evid.amount),
                 'items': {d.ordered_list("{'ref': evid.ref, 'day': strftime(evid.ts, '%Y-%m-%d'), 'amount': evid.amount, "
                                          "'invoice': coalesce(evid.invoice, '')}", ["evid.ts", "evid.record_id"])},
                 'days': date_diff('day', CAST(min(evid.ts) AS DATE), CAST(max(evid.ts) AS DATE)) + 1}} AS stats
        FROM evid
        GROUP BY evid.gk, evid.island
        """

    def explain(self, row, p):
        s = row["stats"]
        cur = s["currency"] if s["currencies"] == 1 else "USD"
        items = [f"{i['ref']} on {i['day']} for {_amt(i['amount'], cur)}"
                 + (f" (invoice {i['invoice']})" if s["rule"] == "invoice" and i["invoice"] else "")
                 for i in (s["items"] or [])]
        vendor = _who(s["vendor"], s["vendor_name"])
        if s["rule"] == "invoice":
            what = (f"Vendor {vendor} was paid invoice {s['invoice']} (as normalised: case, punctuation, "
                    f"a letter prefix and leading zeros ignored) {s['n']} times within {s['days']} day(s)")
            amounts = (" The amounts are the same." if s["amounts"] == 1 else
                       " The amounts differ: check whether these are instalments or credits before treating "
                       "the later ones as duplicates.")
            rule = (f"One invoice paid twice within {p.window_days} days"
                    + (" with the same amount" if p.match_amount else "") + " meets the test.")
        else:
            what = (f"Vendor {vendor} was paid {_amt(s['max_amount'], cur)} {s['n']} times within {s['days']} "
                    f"day(s) with no invoice number on any of the payments")
            amounts = ""
            rule = (f"The same amount paid to one vendor within {p.no_invoice_days} day(s) with no invoice "
                    f"number to tell the payments apart meets the test.")
        extra = Decimal(row["total_amount"]) - Decimal(s["max_amount"])
        return (f"{what}: {_few(items, 5)}; {_amt(row['total_amount'], cur)} in all, of which at least "
                f"{_amt(extra, cur)} beyond a single payment.{amounts} {rule} Red flag: {self.red_flag} — "
                f"{self.source}.")


# ==============================================================================================
# 3. Benford's law
# ==============================================================================================

#: Nigrini's mean-absolute-deviation conformity ranges (Benford's Law, Wiley 2012): the upper
#: bound of close, acceptable and marginally acceptable conformity; above the last, nonconformity
NIGRINI_FIRST = (0.006, 0.012, 0.015)
NIGRINI_FIRST_TWO = (0.0012, 0.0018, 0.0022)
NIGRINI = ('Nigrini, "Benford\'s Law: Applications for Forensic Accounting, Auditing, and Fraud Detection" '
           '(Wiley, 2012), mean absolute deviation conformity ranges')


def benford_p(digits: int) -> float:
    """Benford's expected proportion of the leading digit(s) ``digits`` (1-9 or 10-99)."""
    return math.log10(1 + 1 / digits)


def mad(counts: dict[int, int], two: bool = False) -> float:
    """Mean absolute deviation of observed leading-digit proportions from Benford's (Python
    mirror of the query's figure, for tests and reports)."""
    ds = range(10, 100) if two else range(1, 10)
    n = sum(counts.get(x, 0) for x in ds)
    return sum(abs(counts.get(x, 0) / n - benford_p(x)) for x in ds) / len(ds)


def conformity(value: float, two: bool = False) -> str:
    """Nigrini's conformity range for a MAD value."""
    close, ok, marginal = NIGRINI_FIRST_TWO if two else NIGRINI_FIRST
    if value <= close:
        return "close conformity"
    if value <= ok:
        return "acceptable conformity"
    if value <= marginal:
        return "marginally acceptable conformity"
    return "nonconformity"


def _digits_sql(two: bool) -> str:
    ds = range(10, 100) if two else range(1, 10)
    return " UNION ALL ".join(f"SELECT {x} AS d, {lit(benford_p(x))} AS p" for x in ds)


@dataclass(frozen=True)
class BenfordParams(Params):
    min_records: int = count(1000)         # amounts a first-digit test needs
    min_records_two: int = count(3000)     # amounts a first-two-digits test needs
    min_dollars: int = whole(10, 1, 10**9, "dollars")   # smaller amounts (fees, adjustments) are left out
    max_mad_first: float = ratio(0.015)    # Nigrini: above this, first digits do not conform
    max_mad_first_two: float = ratio(0.0022)   # Nigrini: above this, first-two digits do not conform
    record_kinds: tuple[str, ...] = names(("awards", "payments"), record_kinds, "record kind")
    scopes: tuple[str, ...] = names(("vendor", "office"), scopes, "scope")


class Benford(Staged):
    """Per record kind (payment amounts; award obligations, deobligations left out) and per
    vendor or office (``scopes``): the amounts of at least ``min_dollars``. With ``min_records``
    or more, the first-digit test: the mean absolute deviation (MAD) of the observed proportions
    of leading digits 1-9 from Benford's, log10(1 + 1/d); with ``min_records_two`` or more, the
    first-two-digits test over 10-99 too. A group is flagged when a test's MAD exceeds its
    nonconformity bound (``max_mad_first``, ``max_mad_first_two``: Nigrini's). The evidence is
    the records whose leading digit(s) are the most over-represented in each failed test.
    Score = MAD / bound (the larger of the two failed tests)."""

    id = "benford"
    version = "1"
    family = "contracts"
    title = "Benford's law: leading digits of a vendor's or an office's amounts that do not conform"
    red_flag = ("the leading digits of a vendor's or an office's amounts depart from Benford's law beyond "
                "Nigrini's nonconformity bound (invented, steered or repeated amounts, e.g. invoices kept "
                "just under an approval limit)")
    source = NIGRINI
    Params = BenfordParams
    needs = frozenset({"ordered_list"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT (SELECT count(*) FROM awards) + (SELECT count(*) FROM payments)"):
            return f"no award or payment records in this case ({USASPENDING_HINT}, {PAYMENTS_HINT})"
        return None

    def stages(self, p: BenfordParams, d: Dialect):
        cut1, cut2 = lit(float(p.max_mad_first)), lit(float(p.max_mad_first_two))
        # each amount's leading digits, once per group it is judged in (its vendor, its office)
        digits = f"""WITH r AS (
            SELECT kind, record_id, dt, amount, vkey, vname, okey, oname,
                   CAST(substr(cs, 1, 1) AS INTEGER) AS d1, CAST(substr(cs, 1, 2) AS INTEGER) AS d2
            FROM (SELECT x.*, CAST(CAST(round(x.amount * 100) AS BIGINT) AS VARCHAR) AS cs FROM _ct_acts x
                  WHERE x.amount >= {lit(p.min_dollars)} AND {in_list('x.kind', p.record_kinds)})
        )
        SELECT kind, 'vendor' AS scope, vkey AS gkey, vname AS gname, record_id, dt, amount, d1, d2
        FROM r WHERE vkey IS NOT NULL AND {in_list("'vendor'", p.scopes)}
        UNION ALL
        SELECT kind, 'office' AS scope, okey AS gkey, oname AS gname, record_id, dt, amount, d1, d2
        FROM r WHERE okey IS NOT NULL AND {in_list("'office'", p.scopes)}"""
        # per group with enough amounts, per test and digit(s): observed count and deviation
        tests = f"""WITH gn AS (
            SELECT kind, scope, gkey, count(*) AS n FROM _ct_bdigits GROUP BY kind, scope, gkey
            HAVING count(*) >= {lit(p.min_records)}
        ), c1 AS (
            SELECT kind, scope, gkey, d1 AS d, count(*) AS c FROM _ct_bdigits GROUP BY kind, scope, gkey, d1
        ), c2 AS (
            SELECT kind, scope, gkey, d2 AS d, count(*) AS c FROM _ct_bdigits GROUP BY kind, scope, gkey, d2
        )
        SELECT gn.kind, gn.scope, gn.gkey, 1 AS test, e.d, e.p, coalesce(c1.c, 0) AS c,
               coalesce(c1.c, 0) / gn.n - e.p AS dev
        FROM gn CROSS JOIN ({_digits_sql(False)}) e
        LEFT JOIN c1 ON c1.kind = gn.kind AND c1.scope = gn.scope AND c1.gkey = gn.gkey AND c1.d = e.d
        UNION ALL
        SELECT gn.kind, gn.scope, gn.gkey, 2 AS test, e.d, e.p, coalesce(c2.c, 0) AS c,
               coalesce(c2.c, 0) / gn.n - e.p AS dev
        FROM gn CROSS JOIN ({_digits_sql(True)}) e
        LEFT JOIN c2 ON c2.kind = gn.kind AND c2.scope = gn.scope AND c2.gkey = gn.gkey AND c2.d = e.d
        WHERE gn.n >= {lit(p.min_records_two)}"""
        # per group: each test's MAD, largest excess and counts; the groups failing a test
        result = f"""SELECT * FROM (
            SELECT t.kind, t.scope, t.gkey, sum(t.c) FILTER (WHERE t.test = 1) AS n,
                   avg(abs(t.dev)) FILTER (WHERE t.test = 1) AS mad1, max(t.dev) FILTER (WHERE t.test = 1) AS top1,
                   {d.ordered_list('t.c', ['t.d'], where='t.test = 1')} AS counts1,
                   avg(abs(t.dev)) FILTER (WHERE t.test = 2) AS mad2, max(t.dev) FILTER (WHERE t.test = 2) AS top2,
                   CASE WHEN count(*) FILTER (WHERE t.test = 2) > 0
                        THEN {d.ordered_list('t.c', ['t.d'], where='t.test = 2')} END AS counts2
            FROM _ct_btests t GROUP BY t.kind, t.scope, t.gkey)
        WHERE mad1 > {cut1} OR coalesce(mad2 > {cut2}, false)"""
        return [ACTS, ("_ct_bdigits", digits), ("_ct_btests", tests), ("_ct_bres", result)]

    def body(self, p: BenfordParams, d: Dialect):
        cut1, cut2 = lit(float(p.max_mad_first)), lit(float(p.max_mad_first_two))
        ctes = f"""res AS (
            SELECT _ct_bres.*, mad1 > {cut1} AS f1, coalesce(mad2 > {cut2}, false) AS f2 FROM _ct_bres
        ), names AS (
            SELECT kind, scope, gkey, min(gname) AS gname FROM _ct_bdigits GROUP BY kind, scope, gkey
        ), topd AS (
            SELECT t.kind, t.scope, t.gkey, t.test, t.d, t.c, t.p FROM _ct_btests t JOIN res
              ON res.kind = t.kind AND res.scope = t.scope AND res.gkey = t.gkey
            WHERE t.dev > 0 AND ((t.test = 1 AND res.f1 AND t.dev = res.top1) OR (t.test = 2 AND res.f2 AND t.dev = res.top2))
        ), tops AS (
            SELECT kind, scope, gkey,
                   CASE WHEN count(*) FILTER (WHERE test = 1) > 0
                        THEN {d.ordered_list("{'d': d, 'c': c, 'p': p}", ['d'], where='test = 1')} END AS top_first,
                   CASE WHEN count(*) FILTER (WHERE test = 2) > 0
                        THEN {d.ordered_list("{'d': d, 'c': c, 'p': p}", ['d'], where='test = 2')} END AS top_two
            FROM topd GROUP BY kind, scope, gkey
        ), ev AS (
            SELECT DISTINCT g.kind, g.scope, g.gkey, g.record_id, g.dt, g.amount FROM _ct_bdigits g JOIN topd
              ON topd.kind = g.kind AND topd.scope = g.scope AND topd.gkey = g.gkey
             AND ((topd.test = 1 AND g.d1 = topd.d) OR (topd.test = 2 AND g.d2 = topd.d))
        )"""
        return ctes, f"""
        SELECT ev.kind || '|' || ev.scope || '|' || ev.gkey || '@benford' AS key,
               greatest(CASE WHEN any_value(res.f1) THEN any_value(res.mad1) / {cut1} ELSE 0 END,
                        CASE WHEN any_value(res.f2) THEN any_value(res.mad2) / {cut2} ELSE 0 END) AS score,
               CAST(min(ev.dt) AS TIMESTAMP) AS first_ts, CAST(max(ev.dt) AS TIMESTAMP) AS last_ts,
               sum(ev.amount) AS total_amount, {EMPTY_TX} AS tx_ids,
               [{{'account_id': CASE WHEN ev.scope = 'vendor' THEN 'vendor:' ELSE 'office:' END || ev.gkey,
                  'role': CASE WHEN ev.scope = 'vendor' THEN 'vendor'
                               WHEN ev.kind = 'awards' THEN 'awarding office' ELSE 'paying office' END}}] AS accounts,
               {d.ordered_list("{'kind': ev.kind, 'record_id': ev.record_id}", ["ev.dt", "ev.record_id"])} AS records,
               {{'kind': ev.kind, 'scope': ev.scope, 'key': ev.gkey, 'name': any_value(names.gname), 'n': any_value(res.n),
                 'evidence': count(*),
                 'mad_first': any_value(res.mad1), 'failed_first': any_value(res.f1), 'counts_first': any_value(res.counts1),
                 'mad_first_two': any_value(res.mad2), 'failed_first_two': any_value(res.f2),
                 'counts_first_two': any_value(res.counts2),
                 'top_first': any_value(tops.top_first), 'top_first_two': any_value(tops.top_two)}} AS stats
        FROM ev JOIN res ON res.kind = ev.kind AND res.scope = ev.scope AND res.gkey = ev.gkey
        JOIN tops ON tops.kind = ev.kind AND tops.scope = ev.scope AND tops.gkey = ev.gkey
        JOIN names ON names.kind = ev.kind AND names.scope = ev.scope AND names.gkey = ev.gkey
        GROUP BY ev.kind, ev.scope, ev.gkey
        """

    def explain(self, row, p):
        s = row["stats"]
        what = "payments to" if s["kind"] == "payments" else "award obligations to"
        if s["scope"] == "office":
            what = "payments by" if s["kind"] == "payments" else "award obligations of"
        who = f"{'vendor' if s['scope'] == 'vendor' else 'office'} {_who(s['key'], s['name'])}"
        n = s["n"]
        parts = []
        mad1 = float(s["mad_first"])
        parts.append(f"first digits: MAD {mad1:.4f}, {conformity(mad1)}"
                     + (f" (above {p.max_mad_first})" if s["failed_first"] else ""))
        if s["mad_first_two"] is not None:
            mad2 = float(s["mad_first_two"])
            parts.append(f"first two digits: MAD {mad2:.4f}, {conformity(mad2, True)}"
                         + (f" (above {p.max_mad_first_two})" if s["failed_first_two"] else ""))
        else:
            parts.append(f"first two digits not tested (fewer than {p.min_records_two:,} amounts)")
        tops = []
        for t in (s["top_first"] or []) + (s["top_first_two"] or []):
            tops.append(f"{t['d']} leads {t['c']} amounts ({t['c'] / n:.1%}; Benford expects {float(t['p']):.1%})")
        return (f"The {n:,} {what} {who} of ${p.min_dollars:,} or more do not follow Benford's law: "
                f"{'; '.join(parts)}. Most over-represented: {_few(tops, 4)}; those {s['evidence']} records "
                f"({usd(row['total_amount'])}, {_day(row['first_ts'])} to {_day(row['last_ts'])}) are the evidence. "
                f"Nigrini's MAD ranges: first digits close to {NIGRINI_FIRST[0]}, acceptable to {NIGRINI_FIRST[1]}, "
                f"marginal to {NIGRINI_FIRST[2]}; first two digits {NIGRINI_FIRST_TWO[0]}, {NIGRINI_FIRST_TWO[1]}, "
                f"{NIGRINI_FIRST_TWO[2]}. A departure says where to look (rounded prices, a recurring fee or "
                f"a price list conform poorly too), not that an amount is false. Red flag: {self.red_flag} — "
                f"{self.source}.")


# ==============================================================================================
# 4. vendor-employee links
# ==============================================================================================

ID_WORDS = {"address": "an address", "phone": "a phone number", "bank_account": "a bank account",
            "tin": "a taxpayer identification number"}


@dataclass(frozen=True)
class LinkParams(Params):
    identifier_kinds: tuple[str, ...] = names(("address", "phone", "bank_account", "tin"), link_identifiers,
                                              "identifier kind")
    max_holders: int = count(5, lo=2)      # an identifier held by more vendors and officials is ignored
    require_office_link: bool = flag(False)   # only officials of the awarding/paying office or approvers


class VendorEmployeeLink(Staged):
    """A vendor (vendor key) and an agency official (``officials.person_id``) who share an
    identifier of ``identifier_kinds``: the normalised address or phone of a vendor record or of
    an award's recipient, a bank account (a vendor's remittance account, or the account a payment
    to the vendor went into) or a TIN key (the keyed hash of the TIN), each equal to the
    official's. An identifier held by more than ``max_holders`` vendors and officials together is
    ignored (a registered agent, a mail drop). The link is stronger when the official works in an
    office that awarded or paid the vendor, or approved payments to it (``payments.approver`` =
    the official's id or name). Evidence: the records carrying the shared identifiers, the
    official's records, and the vendor's awards and payments from the official's office or
    approved by the official. Score = identifier kinds shared x 2 (approved payments), x 1.5
    (the official's office), else x 1."""

    id = "vendor_employee_link"
    version = "1"
    family = "contracts"
    title = "Vendor sharing an address, phone, bank account or TIN with an agency official"
    red_flag = ("a vendor that shares an address, phone number, bank account or taxpayer identification number "
                "with an agency employee or official, above all one in the office that awards or pays it or "
                "who approves its payments (an employee's own business, or a fictitious vendor)")
    source = ("FAR 3.601 (no award to a Government employee or a business owned or controlled by one); "
              "18 U.S.C. 208 (acts affecting a personal financial interest)")
    Params = LinkParams
    needs = frozenset({"ordered_list", "list_functions"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT count(*) FROM officials"):
            return f"no agency staff records in this case (ingest {OFFICIALS_HINT})"
        if not _count(ws, "SELECT (SELECT count(*) FROM vendors) + (SELECT count(*) FROM awards) "
                          "+ (SELECT count(*) FROM payments)"):
            return (f"no vendor, award or payment records in this case (ingest {VENDORS_HINT}, "
                    f"{USASPENDING_HINT}, {PAYMENTS_HINT})")
        return None

    def stages(self, p: LinkParams, d: Dialect):
        kinds = p.identifier_kinds
        offi = f"""SELECT o.*, {_t('o.person_id')} AS pid, coalesce({_c('o.office_code')}, {_c('o.office')}) AS okey
            FROM officials o WHERE {_t('o.person_id')} IS NOT NULL"""
        # a vendor's identifier equal to an official's, unless too many hold it
        lm = f"""WITH vid AS (
            SELECT vkey, name AS vname, 'vendors' AS rkind, record_id, 'address' AS id_type, {_c('address_norm')} AS val FROM _ct_vend
            UNION ALL SELECT vkey, name, 'vendors', record_id, 'phone', {_t('phone_norm')} FROM _ct_vend
            UNION ALL SELECT vkey, name, 'vendors', record_id, 'bank_account', {_t('bank_account')} FROM _ct_vend
            UNION ALL SELECT vkey, name, 'vendors', record_id, 'tin', {_t('tin_key')} FROM _ct_vend
            UNION ALL SELECT coalesce({_c('a.recipient_uei')}, {_c('a.recipient_name')}), {_t('a.recipient_name')},
                             'awards', a.record_id, 'address', {_c('a.address_norm')} FROM awards a
            UNION ALL SELECT coalesce({_c('a.recipient_uei')}, {_c('a.recipient_name')}), {_t('a.recipient_name')},
                             'awards', a.record_id, 'phone', {_t('a.phone_norm')} FROM awards a
            UNION ALL SELECT vkey, vname, 'payments', record_id, 'bank_account', pay_account FROM _ct_acts
                      WHERE kind = 'payments'
        ), vid2 AS (
            SELECT * FROM vid WHERE vkey IS NOT NULL AND val IS NOT NULL AND {in_list('id_type', kinds)}
        ), oid AS (
            SELECT pid, record_id, 'address' AS id_type, {_c('address_norm')} AS val FROM _ct_loffi
            UNION ALL SELECT pid, record_id, 'phone', {_t('phone_norm')} FROM _ct_loffi
            UNION ALL SELECT pid, record_id, 'bank_account', {_t('bank_account')} FROM _ct_loffi
            UNION ALL SELECT pid, record_id, 'tin', {_t('tin_key')} FROM _ct_loffi
        ), oid2 AS (SELECT * FROM oid WHERE val IS NOT NULL AND {in_list('id_type', kinds)}
        ), holders AS (
            SELECT id_type, val, count(DISTINCT h) AS n
            FROM (SELECT id_type, val, 'v|' || vkey AS h FROM vid2 UNION ALL SELECT id_type, val, 'o|' || pid FROM oid2)
            GROUP BY id_type, val
        )
            SELECT vid2.vkey, vid2.vname, oid2.pid, vid2.id_type, vid2.val, vid2.rkind, vid2.record_id AS vrec,
                   oid2.record_id AS orec
            FROM vid2 JOIN oid2 ON oid2.id_type = vid2.id_type AND oid2.val = vid2.val
            JOIN holders h ON h.id_type = vid2.id_type AND h.val = vid2.val
            WHERE h.n <= {lit(p.max_holders)}"""
        return [ACTS, VEND, ("_ct_loffi", offi), ("_ct_lm", lm)]

    def body(self, p: LinkParams, d: Dialect):
        ctes = f"""pairs AS (
            SELECT vkey, pid, count(DISTINCT id_type) AS n_types,
                   bool_or(id_type = 'address') AS s_addr, bool_or(id_type = 'phone') AS s_phone,
                   bool_or(id_type = 'bank_account') AS s_bank, bool_or(id_type = 'tin') AS s_tin
            FROM _ct_lm GROUP BY vkey, pid
        ), onames AS (
            SELECT DISTINCT pid, upper(pid) AS nm FROM _ct_loffi
            UNION SELECT DISTINCT pid, {_c('name')} FROM _ct_loffi WHERE {_c('name')} IS NOT NULL
        ), ooff AS (SELECT DISTINCT pid, okey FROM _ct_loffi WHERE okey IS NOT NULL
        ), rel0 AS (
            SELECT pairs.vkey, pairs.pid, acts.kind, acts.record_id, acts.dt, acts.amount, acts.okey,
                   true AS same_office, false AS approved
            FROM pairs JOIN _ct_acts acts ON acts.vkey = pairs.vkey
            JOIN ooff ON ooff.pid = pairs.pid AND ooff.okey = acts.okey
            UNION ALL
            SELECT pairs.vkey, pairs.pid, acts.kind, acts.record_id, acts.dt, acts.amount, acts.okey,
                   false AS same_office, true AS approved
            FROM pairs JOIN _ct_acts acts ON acts.vkey = pairs.vkey AND acts.kind = 'payments'
            JOIN onames ON onames.pid = pairs.pid AND onames.nm = acts.approver
        ), rel AS (
            SELECT vkey, pid, kind, record_id, min(dt) AS dt, min(amount) AS amount, min(okey) AS okey,
                   bool_or(same_office) AS same_office, bool_or(approved) AS approved
            FROM rel0 GROUP BY vkey, pid, kind, record_id
        ), relagg AS (
            SELECT vkey, pid, bool_or(approved) AS approved, bool_or(same_office) AS same_office,
                   count(*) FILTER (WHERE approved) AS n_approved,
                   coalesce(sum(amount) FILTER (WHERE approved), 0) AS amt_approved,
                   count(*) FILTER (WHERE same_office AND kind = 'awards') AS n_awards,
                   coalesce(sum(amount) FILTER (WHERE same_office AND kind = 'awards'), 0) AS amt_awards,
                   count(*) FILTER (WHERE same_office AND kind = 'payments') AS n_payments,
                   coalesce(sum(amount) FILTER (WHERE same_office AND kind = 'payments'), 0) AS amt_payments,
                   sum(amount) FILTER (WHERE kind = 'payments') AS pay_total,
                   sum(amount) FILTER (WHERE kind = 'awards') AS award_total,
                   min(dt) AS first_dt, max(dt) AS last_dt,
                   {d.sorted_distinct_list('okey', 'same_office')} AS offices,
                   {d.sorted_distinct_list("CASE WHEN kind = 'awards' THEN okey END", 'same_office')} AS award_offices,
                   {d.sorted_distinct_list("CASE WHEN kind = 'payments' THEN okey END", 'same_office')} AS pay_offices
            FROM rel GROUP BY vkey, pid
        ), vdates AS (
            SELECT vkey, min(dt) AS first_dt, max(dt) AS last_dt FROM _ct_acts WHERE vkey IS NOT NULL GROUP BY vkey
        ), evrec AS (
            SELECT vkey, pid, rkind AS kind, vrec AS record_id FROM _ct_lm
            UNION SELECT vkey, pid, 'officials', orec FROM _ct_lm
            UNION SELECT vkey, pid, kind, record_id FROM rel
        ), evl AS (
            SELECT vkey, pid, {d.ordered_list("{'kind': kind, 'record_id': record_id}", ['kind', 'record_id'])} AS records
            FROM evrec GROUP BY vkey, pid
        ), shared AS (
            SELECT vkey, pid,
                   {d.sorted_distinct_list("id_type || '|' || CASE WHEN id_type = 'tin' THEN '' ELSE val END")} AS shared,
                   {d.sorted_distinct_list("CASE WHEN id_type = 'bank_account' THEN val END")} AS banks
            FROM _ct_lm GROUP BY vkey, pid
        ), who AS (
            SELECT pid, min(name) AS oname, min(title) AS title, min(role) AS orole,
                   {d.sorted_distinct_list('okey')} AS ooffices
            FROM _ct_loffi GROUP BY pid
        ), vn AS (
            SELECT vkey, min(vname) AS vname FROM _ct_lm GROUP BY vkey
        ), f AS (
            SELECT pairs.*, coalesce(relagg.approved, false) AS approved, coalesce(relagg.same_office, false) AS same_office,
                   relagg.n_approved, relagg.amt_approved, relagg.n_awards, relagg.amt_awards, relagg.n_payments,
                   relagg.amt_payments, relagg.pay_total, relagg.award_total, relagg.award_offices, relagg.pay_offices,
                   coalesce(relagg.first_dt, vdates.first_dt) AS first_dt, coalesce(relagg.last_dt, vdates.last_dt) AS last_dt,
                   evl.records, shared.shared, shared.banks, who.oname, who.title, who.orole, who.ooffices, vn.vname
            FROM pairs LEFT JOIN relagg ON relagg.vkey = pairs.vkey AND relagg.pid = pairs.pid
            LEFT JOIN vdates ON vdates.vkey = pairs.vkey
            JOIN evl ON evl.vkey = pairs.vkey AND evl.pid = pairs.pid
            JOIN shared ON shared.vkey = pairs.vkey AND shared.pid = pairs.pid
            JOIN who ON who.pid = pairs.pid
            LEFT JOIN vn ON vn.vkey = pairs.vkey
            {'WHERE coalesce(relagg.approved, false) OR coalesce(relagg.same_office, false)' if p.require_office_link else ''}
        )"""
        return ctes, f"""
        SELECT 'vendor:' || vkey || '|official:' || pid AS key,
               n_types * CASE WHEN approved THEN 2.0 WHEN same_office THEN 1.5 ELSE 1.0 END AS score,
               CAST(first_dt AS TIMESTAMP) AS first_ts, CAST(last_dt AS TIMESTAMP) AS last_ts,
               coalesce(pay_total, award_total, CAST(0 AS DECIMAL(18, 2))) AS total_amount,
               {EMPTY_TX} AS tx_ids,
               list_concat(
                   [{{'account_id': 'vendor:' || vkey, 'role': 'vendor'}},
                    {{'account_id': 'official:' || pid,
                      'role': 'official sharing ' || concat_ws(', ', CASE WHEN s_addr THEN 'an address' END,
                                                              CASE WHEN s_phone THEN 'a phone number' END,
                                                              CASE WHEN s_bank THEN 'a bank account' END,
                                                              CASE WHEN s_tin THEN 'a TIN' END)}}],
                   list_transform(coalesce(award_offices, []), x -> {{'account_id': 'office:' || x, 'role': 'awarding office'}}),
                   list_transform(coalesce(pay_offices, []), x -> {{'account_id': 'office:' || x, 'role': 'paying office'}}),
                   list_transform(coalesce(banks, []), x -> {{'account_id': x, 'role': 'shared bank account'}})) AS accounts,
               records,
               {{'vendor': vkey, 'vendor_name': vname, 'official': pid, 'official_name': oname, 'title': title,
                 'role': orole, 'official_offices': coalesce(ooffices, []), 'shared': shared,
                 'approved': approved, 'same_office': same_office,
                 'n_approved': coalesce(n_approved, 0), 'amt_approved': coalesce(amt_approved, 0),
                 'n_awards': coalesce(n_awards, 0), 'amt_awards': coalesce(amt_awards, 0),
                 'n_payments': coalesce(n_payments, 0), 'amt_payments': coalesce(amt_payments, 0)}} AS stats
        FROM f
        """

    def explain(self, row, p):
        s = row["stats"]
        official = _who(s["official"], s["official_name"])
        desc = ", ".join(x for x in (s["title"], s["role"]) if x)
        offices = s["official_offices"] or []
        where = f"{', ' + desc if desc else ''}{', office ' + ', '.join(offices) if offices else ''}"
        shared = []
        for x in s["shared"] or []:
            kind, _, value = x.partition("|")
            shared.append(f"the same taxpayer identification number (keyed hash)" if kind == "tin" else
                          f"the {ID_WORDS.get(kind, 'x ' + kind).split(' ', 1)[1]} {value}")
        parts = []
        if s["n_approved"]:
            parts.append(f"approved {_plural(s['n_approved'], 'payment')} to the vendor totalling "
                         f"{usd(s['amt_approved'])}")
        if s["n_awards"]:
            parts.append(f"works in the office that made {_plural(s['n_awards'], 'award')} to it "
                         f"({usd(s['amt_awards'])})")
        if s["n_payments"]:
            parts.append(f"works in the office that made {_plural(s['n_payments'], 'payment')} to it "
                         f"({usd(s['amt_payments'])})")
        role = ("The official " + "; ".join(parts) + "." if parts else
                "No award or payment to the vendor came from the official's office or was approved by the "
                "official in these records.")
        return (f"Vendor {_who(s['vendor'], s['vendor_name'])} and agency official {official}{where} share "
                f"{_few(shared, 4)}. {role} "
                f"Identifiers held by more than {p.max_holders} vendors and officials are not counted. "
                f"FAR 3.601(a): a contracting officer shall not knowingly award a contract to a Government "
                f"employee or to a business concern owned or substantially owned or controlled by Government "
                f"employees. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 5. shell vendors
# ==============================================================================================

#: an account id shaped like an IBAN of a country other than the US (the US issues none)
IBAN_RX = "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"


@dataclass(frozen=True)
class ShellParams(Params):
    recent_days: int = days(180)            # formed or registered this close before its first award/payment
    window_days: int = days(7, lo=0)        # contract money moving on within this many days of a payment
    min_onward_share: float = ratio(0.5)    # ... this share of what the agency paid in
    min_signs: int = whole(2, 1, 4, "signs")
    match_days: int = days(5, lo=0)         # a payment's credit in the bank: the same amount this close to its date


class ShellVendor(Staged):
    """A vendor (vendor key) that received awards or payments, judged on four signs:
    *recent* — its entity start date (else its SAM registration date) less than ``recent_days``
    before its first award or payment (or after it); *no payroll* — the case holds payroll or
    wage records (``payroll_lines``, ``wage_reports``) but none under the vendor's EIN or name
    (not judged when the case has none); *pass-through* — of the payments made into its bank
    account (``payments.pay_account``, else its registered remittance account, resolved through
    ``account_map``), at least ``min_onward_share`` left that account within ``window_days``
    days of a payment to an individual's account (KYC kind individual, or a person's name), an
    account abroad (``attributes.country`` not US, or an IBAN of another country) or in cash;
    *shared address* — another vendor has its address. Flagged with ``min_signs`` or more.
    Evidence: its vendor records, the first award/payment (recent), the payments and onward
    transfers (pass-through), the other vendors' records (shared address).
    Score = signs / ``min_signs``."""

    id = "shell_vendor"
    version = "2"
    family = "contracts"
    title = "Shell vendor: newly formed, no payroll, contract money passed on, address shared with other vendors"
    red_flag = ("a vendor formed or registered shortly before its first award, with no payroll of its own, "
                "whose contract payments leave its account within days for personal or offshore accounts, or "
                "that shares its address with other vendors (a shell or front company)")
    source = ("GAO-20-106, Defense Procurement: Ongoing DOD Fraud Risk Assessment Efforts Should Include "
              "Contractor Ownership (2019); FinCEN FIN-2006-G014, Potential Money Laundering Risks Related to "
              "Shell Companies")
    Params = ShellParams
    needs = frozenset({"ordered_list", "regex", "json", "list_functions"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT count(*) FROM vendors"):
            return f"no vendor registrations in this case (ingest {VENDORS_HINT})"
        if not _count(ws, "SELECT (SELECT count(*) FROM awards) + (SELECT count(*) FROM payments)"):
            return f"no award or payment records in this case ({USASPENDING_HINT}, {PAYMENTS_HINT})"
        return None

    def run(self, backend, p: ShellParams):
        rows = super().run(backend, p)
        if not backend.scalar("SELECT (SELECT count(*) FROM payroll_lines) + (SELECT count(*) FROM wage_reports)"):
            self.notes.append("no payroll or wage records in this case: the no-payroll sign was not judged "
                              "(ingest payroll registers, W-2, Form 941 or state wage records to judge it)")
        return rows

    def stages(self, p: ShellParams, d: Dialect):
        iban = f"regexp_matches(upper(x.acct), {lit(IBAN_RX)}) AND NOT starts_with(upper(x.acct), 'US')"
        # each vendor that received money: its dates, totals and registration
        base = f"""WITH firsts AS (
            SELECT vkey, min(dt) AS first_dt, max(dt) AS last_dt,
                   coalesce(sum(amount) FILTER (WHERE kind = 'payments'), 0) AS paid,
                   coalesce(sum(amount) FILTER (WHERE kind = 'awards'), 0) AS awarded,
                   count(*) FILTER (WHERE kind = 'payments') AS n_paid, count(*) FILTER (WHERE kind = 'awards') AS n_awarded
            FROM _ct_acts WHERE amount > 0 AND vkey IS NOT NULL GROUP BY vkey
        ), vinfo AS (
            SELECT vkey, min(name) AS vname, min(started) AS started, min(registered) AS registered,
                   min({_t('bank_account')}) AS bank
            FROM _ct_vend WHERE vkey IS NOT NULL GROUP BY vkey
        )
        SELECT vinfo.*, firsts.first_dt, firsts.last_dt, firsts.paid, firsts.awarded, firsts.n_paid, firsts.n_awarded,
               coalesce(vinfo.started, vinfo.registered) AS born,
               CASE WHEN vinfo.started IS NOT NULL THEN 'started' ELSE 'registered' END AS born_what
        FROM vinfo JOIN firsts ON firsts.vkey = vinfo.vkey"""
        # the payments into its account (the payment's account, else its remittance account)
        pin = f"""SELECT m.vkey, m.record_id, m.dt, m.amount, m.currency, coalesce(am.account_id, m.raw) AS acct
        FROM (SELECT x.*, coalesce(x.pay_account, b.bank) AS raw
              FROM _ct_acts x JOIN _ct_sbase b ON b.vkey = x.vkey
              WHERE x.kind = 'payments' AND x.amount > 0) m
        LEFT JOIN account_map am ON am.raw_account = m.raw
        WHERE m.raw IS NOT NULL"""
        # every destination account of the graph: personal, offshore or cash (else NULL)
        dclass = f"""WITH {account_cte()}
        SELECT x.acct, CASE
                   WHEN x.acct = 'cash' THEN 'cash'
                   WHEN upper(coalesce(json_extract_string(a.attributes, '$.country'), 'US'))
                        NOT IN ('US', 'USA', 'UNITED STATES', '') THEN 'offshore'
                   WHEN {iban} THEN 'offshore'
                   WHEN c.kyc_kind = 'individual' THEN 'personal'
                   WHEN c.kyc_kind IS NULL AND c.owner_name IS NOT NULL AND NOT c.is_business THEN 'personal'
               END AS cls
        FROM (SELECT DISTINCT dst_account AS acct FROM edges) x
        LEFT JOIN accounts a ON a.account_id = x.acct
        LEFT JOIN acct c ON c.account_id = x.acct"""
        # transfers out of that account within window_days days of a payment, to such a destination
        # (in US dollars, like the payments: a transfer with no rate to the dollar is left out)
        onward = f"""SELECT DISTINCT pin.vkey, e.tx_id, e.ts, e.amount_usd AS amount, e.src_account, e.dst_account, dc.cls
        FROM _ct_spin pin JOIN edges e ON e.src_account = pin.acct AND e.amount_usd IS NOT NULL
         AND e.ts >= CAST(pin.dt AS TIMESTAMP)
         AND e.ts < CAST(pin.dt AS TIMESTAMP) + INTERVAL {lit(p.window_days + 1)} DAY
        JOIN _ct_sclass dc ON dc.acct = e.dst_account
        WHERE dc.cls IS NOT NULL AND e.src_account <> e.dst_account"""
        # each payment's credit in the bank: a transfer of its amount into its account within
        # match_days days of its date (the trace sources of the finding: the contract money as it arrived)
        dep = f"""SELECT DISTINCT pin.vkey, pin.record_id, e.tx_id, e.ts, e.src_account
        FROM _ct_spin pin JOIN edges e ON e.dst_account = pin.acct AND e.amount = pin.amount
         AND upper(e.currency) = pin.currency
         AND abs(date_diff('day', pin.dt, CAST(e.ts AS DATE))) <= {lit(p.match_days)}
        WHERE e.src_account <> e.dst_account"""
        return [ACTS, VEND, ("_ct_sbase", base), ("_ct_spin", pin), ("_ct_sclass", dclass),
                ("_ct_sonward", onward), ("_ct_sdep", dep)]

    def body(self, p: ShellParams, d: Dialect):
        w1 = lit(p.window_days + 1)
        ctes = f"""recent AS (
            SELECT vkey, born, born_what, first_dt, date_diff('day', born, first_dt) AS age_days
            FROM _ct_sbase WHERE born IS NOT NULL AND date_diff('day', born, first_dt) < {lit(p.recent_days)}
        ), recent_rec AS (
            SELECT x.vkey, x.kind, x.record_id FROM _ct_acts x JOIN recent
              ON recent.vkey = x.vkey AND x.dt = recent.first_dt WHERE x.amount > 0
        ), emp AS (
            SELECT {_t('employer_ein')} AS ein, coalesce({_c('employer_name')}, {_c('employer')}) AS nm FROM payroll_lines
            UNION ALL SELECT {_t('employer_ein')}, {_c('employer_name')} FROM wage_reports
        ), wage AS (SELECT count(*) AS n_wage FROM emp
        ), paid_staff AS (
            SELECT DISTINCT v.vkey FROM _ct_vend v JOIN emp ON emp.ein = {_t('v.ein')}
            UNION SELECT DISTINCT v.vkey FROM _ct_vend v JOIN emp ON emp.nm = {_c('v.name')}
        ), nopay AS (
            SELECT b.vkey FROM _ct_sbase b CROSS JOIN wage
            WHERE wage.n_wage > 0 AND b.vkey NOT IN (SELECT vkey FROM paid_staff WHERE vkey IS NOT NULL)
        ), flow AS (
            SELECT o.vkey, o.onward, i.paid_in, o.n_onward, o.n_personal, o.n_offshore, o.n_cash
            FROM (SELECT vkey, sum(amount) AS onward, count(*) AS n_onward,
                         count(*) FILTER (WHERE cls = 'personal') AS n_personal,
                         count(*) FILTER (WHERE cls = 'offshore') AS n_offshore,
                         count(*) FILTER (WHERE cls = 'cash') AS n_cash
                  FROM _ct_sonward GROUP BY vkey) o
            JOIN (SELECT vkey, sum(amount) AS paid_in FROM _ct_spin GROUP BY vkey) i ON i.vkey = o.vkey
            WHERE o.onward >= {lit(Decimal(repr(p.min_onward_share)))} * i.paid_in
        ), flow_rec AS (
            SELECT DISTINCT pin.vkey, pin.record_id FROM _ct_spin pin JOIN flow ON flow.vkey = pin.vkey
            JOIN _ct_sonward o ON o.vkey = pin.vkey AND o.src_account = pin.acct
             AND o.ts >= CAST(pin.dt AS TIMESTAMP) AND o.ts < CAST(pin.dt AS TIMESTAMP) + INTERVAL {w1} DAY
        ), vaddr AS (
            SELECT DISTINCT vkey, {_c('address_norm')} AS addr, 'vendors' AS kind, record_id FROM _ct_vend
            WHERE vkey IS NOT NULL AND {_c('address_norm')} IS NOT NULL
            UNION SELECT DISTINCT coalesce({_c('recipient_uei')}, {_c('recipient_name')}), {_c('address_norm')},
                         'awards', record_id FROM awards
            WHERE coalesce({_c('recipient_uei')}, {_c('recipient_name')}) IS NOT NULL AND {_c('address_norm')} IS NOT NULL
        ), shared AS (
            SELECT DISTINCT a.vkey, b.vkey AS other, b.kind, b.record_id, a.addr
            FROM vaddr a JOIN vaddr b ON b.addr = a.addr AND b.vkey <> a.vkey
            WHERE a.vkey IN (SELECT vkey FROM _ct_sbase)
        ), shared_agg AS (
            SELECT vkey, count(DISTINCT other) AS n_others, {d.sorted_distinct_list('other')} AS others,
                   {d.sorted_distinct_list('addr')} AS addrs
            FROM shared GROUP BY vkey
        ), signs AS (
            SELECT base.*, recent.age_days, wage.n_wage > 0 AS payroll_judged,
                   recent.vkey IS NOT NULL AS s_recent, nopay.vkey IS NOT NULL AS s_nopay,
                   flow.vkey IS NOT NULL AS s_flow, shared_agg.vkey IS NOT NULL AS s_shared,
                   flow.onward, flow.paid_in, flow.n_onward, flow.n_personal, flow.n_offshore, flow.n_cash,
                   shared_agg.n_others, shared_agg.others, shared_agg.addrs,
                   CASE WHEN recent.vkey IS NOT NULL THEN 1 ELSE 0 END + CASE WHEN nopay.vkey IS NOT NULL THEN 1 ELSE 0 END
                   + CASE WHEN flow.vkey IS NOT NULL THEN 1 ELSE 0 END
                   + CASE WHEN shared_agg.vkey IS NOT NULL THEN 1 ELSE 0 END AS n_signs
            FROM _ct_sbase base CROSS JOIN wage
            LEFT JOIN recent ON recent.vkey = base.vkey LEFT JOIN nopay ON nopay.vkey = base.vkey
            LEFT JOIN flow ON flow.vkey = base.vkey LEFT JOIN shared_agg ON shared_agg.vkey = base.vkey
        ), hit AS (SELECT * FROM signs WHERE n_signs >= {lit(p.min_signs)}
        ), evrec AS (
            SELECT vkey, 'vendors' AS kind, record_id FROM _ct_vend WHERE vkey IN (SELECT vkey FROM hit)
            UNION SELECT vkey, kind, record_id FROM recent_rec WHERE vkey IN (SELECT vkey FROM hit)
            UNION SELECT vkey, 'payments', record_id FROM flow_rec WHERE vkey IN (SELECT vkey FROM hit)
            UNION SELECT vkey, kind, record_id FROM shared WHERE vkey IN (SELECT vkey FROM hit)
        ), evl AS (
            SELECT vkey, {d.ordered_list("{'kind': kind, 'record_id': record_id}", ['kind', 'record_id'])} AS records
            FROM evrec GROUP BY vkey
        ), evdep AS (
            SELECT DISTINCT dp.vkey, dp.tx_id, dp.ts, dp.src_account FROM _ct_sdep dp
            JOIN flow_rec fr ON fr.vkey = dp.vkey AND fr.record_id = dp.record_id
        ), evt AS (
            SELECT o.vkey, o.tx_id, o.ts FROM _ct_sonward o JOIN flow ON flow.vkey = o.vkey
            UNION SELECT vkey, tx_id, ts FROM evdep
        ), evtl AS (
            SELECT vkey, {d.ordered_list('tx_id', ['ts', 'tx_id'])} AS tx_ids, min(ts) AS first_tx, max(ts) AS last_tx
            FROM evt GROUP BY vkey
        ), evdl AS (
            SELECT vkey, count(DISTINCT tx_id) AS n_dep, {d.sorted_distinct_list('src_account')} AS payers
            FROM evdep GROUP BY vkey
        ), evtx AS (
            SELECT o.vkey,
                   {d.sorted_distinct_list('o.src_account')} AS own_accts,
                   {d.sorted_distinct_list("CASE WHEN o.cls = 'personal' THEN o.dst_account END")} AS personal,
                   {d.sorted_distinct_list("CASE WHEN o.cls = 'offshore' THEN o.dst_account END")} AS offshore
            FROM _ct_sonward o JOIN flow ON flow.vkey = o.vkey GROUP BY o.vkey
        )"""
        return ctes, f"""
        SELECT 'vendor:' || hit.vkey || '@shell-vendor' AS key,
               hit.n_signs / {lit(p.min_signs)}::DOUBLE AS score,
               least(CAST(hit.first_dt AS TIMESTAMP), coalesce(evtl.first_tx, CAST(hit.first_dt AS TIMESTAMP))) AS first_ts,
               greatest(CAST(hit.last_dt AS TIMESTAMP), coalesce(evtl.last_tx, CAST(hit.last_dt AS TIMESTAMP))) AS last_ts,
               CASE WHEN hit.n_paid > 0 THEN hit.paid ELSE hit.awarded END AS total_amount,
               coalesce(evtl.tx_ids, {EMPTY_TX}) AS tx_ids,
               list_concat([{{'account_id': 'vendor:' || hit.vkey, 'role': 'vendor'}}],
                   list_transform(coalesce(evdl.payers, []), x -> {{'account_id': x, 'role': 'paying account'}}),
                   list_transform(coalesce(evtx.own_accts, []), x -> {{'account_id': x, 'role': 'vendor bank account'}}),
                   list_transform(coalesce(evtx.personal, []), x -> {{'account_id': x, 'role': 'personal recipient'}}),
                   list_transform(coalesce(evtx.offshore, []), x -> {{'account_id': x, 'role': 'offshore recipient'}}),
                   list_transform(coalesce(hit.others, []), x -> {{'account_id': 'vendor:' || x, 'role': 'vendor sharing an address'}})) AS accounts,
               evl.records,
               {{'vendor': hit.vkey, 'vendor_name': hit.vname, 'signs': hit.n_signs,
                 'recent': hit.s_recent, 'born': hit.born, 'born_what': hit.born_what, 'age_days': hit.age_days,
                 'first_dt': hit.first_dt,
                 'payroll_judged': hit.payroll_judged, 'no_payroll': hit.s_nopay,
                 'pass_through': hit.s_flow, 'onward': hit.onward, 'paid_in': hit.paid_in, 'n_onward': hit.n_onward,
                 'n_deposits': coalesce(evdl.n_dep, 0),
                 'n_personal': hit.n_personal, 'n_offshore': hit.n_offshore, 'n_cash': hit.n_cash,
                 'shared_address': hit.s_shared, 'n_others': hit.n_others, 'addresses': hit.addrs,
                 'paid': hit.paid, 'n_paid': hit.n_paid, 'awarded': hit.awarded, 'n_awarded': hit.n_awarded}} AS stats
        FROM hit JOIN evl ON evl.vkey = hit.vkey LEFT JOIN evtx ON evtx.vkey = hit.vkey
        LEFT JOIN evtl ON evtl.vkey = hit.vkey LEFT JOIN evdl ON evdl.vkey = hit.vkey
        """

    def explain(self, row, p):
        s = row["stats"]
        money = []
        if s["n_awarded"]:
            money.append(f"{_plural(s['n_awarded'], 'award')} ({usd(s['awarded'])})")
        if s["n_paid"]:
            money.append(f"{_plural(s['n_paid'], 'payment')} ({usd(s['paid'])})")
        signs = []
        if s["recent"]:
            what = "formed" if s["born_what"] == "started" else "registered in SAM"
            age = int(s["age_days"])
            when = (f"{age} days before its first award or payment" if age >= 0 else
                    f"{-age} days after its first award or payment")
            signs.append(f"it was {what} on {_day(s['born'])}, {when} ({_day(s['first_dt'])})")
        if s["no_payroll"]:
            signs.append("the case's payroll and wage records show no payroll under its EIN or name")
        if s["pass_through"]:
            where = []
            if s["n_personal"]:
                where.append(f"{s['n_personal']} to individuals")
            if s["n_offshore"]:
                where.append(f"{s['n_offshore']} to accounts abroad")
            if s["n_cash"]:
                where.append(f"{s['n_cash']} in cash")
            share = Decimal(s["onward"]) / Decimal(s["paid_in"]) if s["paid_in"] else Decimal(0)
            signs.append(f"{usd(s['onward'])} ({float(share):.0%} of the {usd(s['paid_in'])} the agency paid into its "
                         f"account) left within {p.window_days} day(s) of a payment in {s['n_onward']} transfer(s): "
                         f"{', '.join(where)}")
            if s.get("n_deposits"):
                signs[-1] += (f" (the bank shows those payments arriving in {s['n_deposits']} deposit(s), the "
                              f"sources of a trace of this finding under the tracing rules)")
        if s["shared_address"]:
            signs.append(f"its address ({_few(s['addresses'] or [], 2)}) is also that of {_plural(s['n_others'], 'other vendor')}")
        judged = "" if s["payroll_judged"] else (" (No payroll or wage records in this case: the no-payroll sign "
                                                 "was not judged.)")
        return (f"Vendor {_who(s['vendor'], s['vendor_name'])} received {' and '.join(money)} between "
                f"{_day(row['first_ts'])} and {_day(row['last_ts'])}, and shows {s['signs']} of the shell-vendor "
                f"signs: " + "; ".join(signs) + f".{judged} {p.min_signs} or more signs meet the test. Red flag: "
                f"{self.red_flag} — {self.source}.")


# ==============================================================================================
# 6. single-offer competitions and bid rotation
# ==============================================================================================

#: one row per award (its first transaction: USAspending repeats an award's offers on each
#: modification), competed per the given codes, with the number of offers (needs ``vmap``, ``acts``
#: is not used: awards only)
def _base_awards(codes: tuple[str, ...]) -> str:
    return f"""ba0 AS (
            SELECT a.record_id, a.action_date AS dt, a.obligation AS amount, a.offers,
                   coalesce({_c('a.recipient_uei')}, {_c('a.recipient_name')}) AS vkey, {_t('a.recipient_name')} AS vname,
                   coalesce({_c('a.office_code')}, {_c('a.office')}) AS okey, {_t('a.office')} AS oname,
                   {_t('a.naics')} AS naics, coalesce({_t('a.piid')}, {_t('a.award_key')}) AS ref,
                   row_number() OVER (PARTITION BY coalesce({_t('a.award_key')}, {_t('a.piid')},
                                                            'record ' || CAST(a.record_id AS VARCHAR))
                                      ORDER BY a.action_date, a.record_id) AS nth,
                   {_c('a.extent_competed')} AS extent
            FROM awards a
        ), ba AS (
            SELECT * FROM ba0 WHERE nth = 1 AND {in_list('extent', codes)}
        )"""


@dataclass(frozen=True)
class SingleOfferParams(Params):
    min_awards: int = count(10)              # competed awards with the number of offers known
    min_share: float = ratio(0.5)            # of them receiving only one offer
    competed_codes: tuple[str, ...] = names(("A", "D", "F", "CDO"), extent_codes, "extent-competed code")
    scopes: tuple[str, ...] = names(("office", "vendor"), scopes, "scope")


class SingleOffer(Typology):
    """Per office (and per vendor, ``scopes``): its awards (first transaction of each award)
    coded as competed (``competed_codes``, FPDS "extent competed") with the number of offers
    known. Flagged when they number ``min_awards`` or more and at least ``min_share`` of them
    received only one offer. Evidence: the one-offer awards. Score = that share / ``min_share``."""

    id = "single_offer"
    version = "1"
    family = "contracts"
    title = "Competitions that draw a single offer, concentrated in one office or one vendor"
    red_flag = ("an office whose competed awards mostly receive only one offer, or a vendor that mostly wins "
                "competitions nobody else entered (requirements written for one bidder, short solicitation "
                "periods, or competitors steered away)")
    source = ("GAO-10-833, Federal Contracting: Opportunities Exist to Increase Competition and Assess Reasons "
              "When Only One Offer Is Received (2010)")
    Params = SingleOfferParams
    needs = frozenset({"ordered_list"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT count(*) FROM awards WHERE offers IS NOT NULL AND extent_competed IS NOT NULL"):
            return (f"no award records with the number of offers and the extent competed in this case "
                    f"({USASPENDING_HINT})")
        return None

    def sql(self, p: SingleOfferParams, d: Dialect) -> str:
        return f"""
        WITH {_base_awards(p.competed_codes)}, known AS (SELECT * FROM ba WHERE offers IS NOT NULL AND offers >= 1
        ), g AS (
            SELECT 'office' AS scope, okey AS gkey, oname AS gname, known.* FROM known
            WHERE okey IS NOT NULL AND {in_list("'office'", p.scopes)}
            UNION ALL
            SELECT 'vendor' AS scope, vkey AS gkey, vname AS gname, known.* FROM known
            WHERE vkey IS NOT NULL AND {in_list("'vendor'", p.scopes)}
        ), per AS (
            SELECT scope, gkey, count(*) AS n, count(*) FILTER (WHERE offers = 1) AS n1, min(gname) AS gname,
                   count(DISTINCT CASE WHEN scope = 'office' THEN vkey ELSE okey END) AS n_other
            FROM g GROUP BY scope, gkey
            HAVING count(*) >= {lit(p.min_awards)}
               AND count(*) FILTER (WHERE offers = 1) >= {lit(Decimal(repr(p.min_share)))} * count(*)
        ), ev AS (
            SELECT g.* FROM g JOIN per ON per.scope = g.scope AND per.gkey = g.gkey WHERE g.offers = 1
        )
        SELECT ev.scope || ':' || ev.gkey || '@single-offer' AS key,
               any_value(per.n1) / any_value(per.n) / {lit(Decimal(repr(p.min_share)))} AS score,
               CAST(min(ev.dt) AS TIMESTAMP) AS first_ts, CAST(max(ev.dt) AS TIMESTAMP) AS last_ts,
               sum(ev.amount) AS total_amount, {EMPTY_TX} AS tx_ids,
               list_concat([{{'account_id': ev.scope || ':' || ev.gkey,
                              'role': CASE WHEN ev.scope = 'office' THEN 'awarding office' ELSE 'vendor' END}}],
                   coalesce(list(DISTINCT CASE WHEN ev.scope = 'office' THEN {{'account_id': 'vendor:' || ev.vkey, 'role': 'vendor'}}
                                      ELSE {{'account_id': 'office:' || ev.okey, 'role': 'awarding office'}} END)
                       FILTER (WHERE (ev.scope = 'office' AND ev.vkey IS NOT NULL) OR (ev.scope = 'vendor' AND ev.okey IS NOT NULL)), [])) AS accounts,
               {d.ordered_list("{'kind': 'awards', 'record_id': ev.record_id}", ["ev.dt", "ev.record_id"])} AS records,
               {{'scope': ev.scope, 'key': ev.gkey, 'name': any_value(per.gname), 'n': any_value(per.n),
                 'n1': any_value(per.n1), 'others': count(DISTINCT CASE WHEN ev.scope = 'office' THEN ev.vkey ELSE ev.okey END),
                 'refs': {d.ordered_list("coalesce(ev.ref, '?')", ["ev.dt", "ev.record_id"])}}} AS stats
        FROM ev JOIN per ON per.scope = ev.scope AND per.gkey = ev.gkey
        GROUP BY ev.scope, ev.gkey
        """

    def explain(self, row, p):
        s = row["stats"]
        share = s["n1"] / s["n"]
        if s["scope"] == "office":
            what = (f"Of the {s['n']} competed awards office {_who(s['key'], s['name'])} made with the number of "
                    f"offers recorded, {s['n1']} ({share:.0%}) received only one offer, won by "
                    f"{_plural(s['others'], 'vendor')}")
        else:
            what = (f"Of the {s['n']} competed awards vendor {_who(s['key'], s['name'])} won with the number of "
                    f"offers recorded, {s['n1']} ({share:.0%}) drew no other offer, from "
                    f"{_plural(s['others'], 'office')}")
        return (f"{what}: {_few(s['refs'] or [], 5)}, {usd(row['total_amount'])} obligated between "
                f"{_day(row['first_ts'])} and {_day(row['last_ts'])}. {p.min_awards} or more competed awards "
                f"(extent competed {', '.join(p.competed_codes)}) with at least {p.min_share:.0%} receiving one offer "
                f"meet the test. Red flag: {self.red_flag} — {self.source}.")


@dataclass(frozen=True)
class RotationParams(Params):
    min_awards: int = count(10)              # competed awards of one office and NAICS code
    max_vendors: int = whole(4, 2, 10, "vendors")   # won by 2 to this many vendors
    min_turn_share: float = ratio(0.8)       # awards won by a vendor that won none of the previous k-1
    competed_codes: tuple[str, ...] = names(("A", "D", "F", "CDO"), extent_codes, "extent-competed code")


class BidRotation(Typology):
    """Per office and NAICS code: its competed awards (first transaction of each award, coded as
    in ``competed_codes``) in date order, ``min_awards`` or more, won by k vendors, 2 <= k <=
    ``max_vendors``. An award *takes its turn* when its winner won none of the k-1 awards before
    it. Flagged when at least ``min_turn_share`` of the awards from the k-th on take their turn
    (winners in rotation: by chance, about half do with two vendors, fewer with more). Evidence:
    the group's awards. Score = that share / ``min_turn_share``."""

    id = "bid_rotation"
    version = "1"
    family = "contracts"
    title = "Bid rotation: a few vendors taking turns winning one office's competitions"
    red_flag = ("a small set of vendors winning an office's competitions for one kind of work in turn "
                "(bid rotation: competitors taking turns as the winning bidder)")
    source = ('U.S. Department of Justice, Antitrust Division, "Price Fixing, Bid Rigging, and Market '
              'Allocation Schemes: What They Are and What to Look For" (bid rotation)')
    Params = RotationParams
    needs = frozenset({"ordered_list"})

    def skip_reason(self, ws):
        if not _count(ws, "SELECT count(*) FROM awards WHERE extent_competed IS NOT NULL AND naics IS NOT NULL"):
            return (f"no award records with the extent competed and a NAICS code in this case "
                    f"({USASPENDING_HINT})")
        return None

    def sql(self, p: RotationParams, d: Dialect) -> str:
        lags = ", ".join(f"lag(vkey, {j}) OVER w AS l{j}" for j in range(1, p.max_vendors))
        differs = " AND ".join(f"({j} >= k OR l{j} <> vkey)" for j in range(1, p.max_vendors))
        return f"""
        WITH {_base_awards(p.competed_codes)}, b AS (
            SELECT ba.*, okey || '|' || naics AS gk FROM ba WHERE okey IS NOT NULL AND naics IS NOT NULL AND vkey IS NOT NULL
        ), grp AS (
            SELECT gk, count(*) AS n, count(DISTINCT vkey) AS k FROM b GROUP BY gk
            HAVING count(*) >= {lit(p.min_awards)} AND count(DISTINCT vkey) BETWEEN 2 AND {lit(p.max_vendors)}
        ), seq AS (
            SELECT b.*, grp.n, grp.k, row_number() OVER w AS pos, {lags}
            FROM b JOIN grp ON grp.gk = b.gk
            WINDOW w AS (PARTITION BY b.gk ORDER BY b.dt, b.record_id)
        ), t AS (
            SELECT seq.*, CASE WHEN pos >= k AND {differs} THEN 1 ELSE 0 END AS turn FROM seq
        ), per AS (
            SELECT gk, sum(turn) AS turns, any_value(n) AS n, any_value(k) AS k FROM t GROUP BY gk
            HAVING sum(turn) >= {lit(Decimal(repr(p.min_turn_share)))} * (any_value(n) - any_value(k) + 1)
        )
        SELECT 'office:' || min(t.okey) || '|naics:' || min(t.naics) || '@bid-rotation' AS key,
               any_value(per.turns) / (any_value(per.n) - any_value(per.k) + 1) / {lit(Decimal(repr(p.min_turn_share)))} AS score,
               CAST(min(t.dt) AS TIMESTAMP) AS first_ts, CAST(max(t.dt) AS TIMESTAMP) AS last_ts,
               sum(t.amount) AS total_amount, {EMPTY_TX} AS tx_ids,
               list_concat([{{'account_id': 'office:' || min(t.okey), 'role': 'awarding office'}}],
                           list(DISTINCT {{'account_id': 'vendor:' || t.vkey, 'role': 'vendor in rotation'}})) AS accounts,
               {d.ordered_list("{'kind': 'awards', 'record_id': t.record_id}", ["t.dt", "t.record_id"])} AS records,
               {{'office': min(t.okey), 'office_name': min(t.oname), 'naics': min(t.naics), 'n': any_value(per.n),
                 'k': any_value(per.k), 'turns': any_value(per.turns),
                 'sequence': {d.ordered_list("coalesce(t.vname, t.vkey)", ["t.dt", "t.record_id"])},
                 'winners': {d.sorted_distinct_list('t.vkey')}}} AS stats
        FROM t JOIN per ON per.gk = t.gk
        GROUP BY t.gk
        """

    def explain(self, row, p):
        s = row["stats"]
        judged = s["n"] - s["k"] + 1
        seq = s["sequence"] or []
        shown = " -> ".join(seq[:12]) + (" -> ..." if len(seq) > 12 else "")
        return (f"Office {_who(s['office'], s['office_name'])} made {s['n']} competed awards under NAICS {s['naics']} "
                f"between {_day(row['first_ts'])} and {_day(row['last_ts'])} ({usd(row['total_amount'])}), all won "
                f"by the same {s['k']} vendors ({', '.join(s['winners'] or [])}), and {s['turns']} of the "
                f"{judged} awards from the {_ordinal(s['k'])} on went to a vendor that had won none of the {s['k'] - 1} "
                f"before it: winners in turn ({shown}). At least {p.min_turn_share:.0%} in turn among "
                f"{p.min_awards} or more awards shared by 2 to {p.max_vendors} vendors meets the test; by chance "
                f"about half would be with two vendors. Red flag: {self.red_flag} — {self.source}.")


CONTRACTS: tuple[Typology, ...] = (SplitPurchase(), DuplicatePayment(), Benford(), VendorEmployeeLink(),
                                   ShellVendor(), SingleOffer(), BidRotation())
