"""Flow typologies: rapid pass-through, structuring, funnel accounts (cash).

Each typology is one query over ``edges`` (and, where it needs them, ``transactions`` and
``accounts``); the definitions, parameters and sources are in docs/typologies.md. Pseudo
accounts (``cash``, name-only, unidentified) never act as the focal account, and are not listed
among a finding's accounts (their transactions are in the evidence).

Windows count calendar days, so that statements with and without times of day agree:
"within 3 days" of a payment on the 1st means up to the end of the 4th.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import (MAX_DAYS, Params, Typology, amount, categories, channels, count, day, days, flag,
                                    money, names, num, order_check, ratio, whole)
from moneytrail.detect.categories import account_cte, classified_edges_cte
from moneytrail.sqlkit import in_list, lit


def islands(q: str, key: str) -> str:
    """SQL merging the overlapping windows ``[w_start, w_end]`` of relation ``q`` (columns
    ``{key}, w_start, w_end``) into episodes ``(key, island, ep_start, ep_end)``."""
    return f"""
        SELECT {key}, island, min(w_start) AS ep_start, max(w_end) AS ep_end
        FROM (
            SELECT {key}, w_start, w_end,
                   sum(CASE WHEN w_start <= prev_end THEN 0 ELSE 1 END)
                       OVER (PARTITION BY {key} ORDER BY w_start, w_end) AS island
            FROM (SELECT *, max(w_end) OVER (PARTITION BY {key} ORDER BY w_start, w_end
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
                  FROM {q})
        )
        GROUP BY {key}, island"""


def _has_cash(ws) -> bool:
    return bool(ws.scalar("SELECT count(*) FROM edges WHERE channel = 'cash' "
                          "AND (src = 'cash' OR dst = 'cash')"))


# ==============================================================================================
# 1. rapid pass-through
# ==============================================================================================

@dataclass(frozen=True)
class PassThroughParams(Params):
    window_days: int = days(3, lo=0)  # outflows counted up to the end of the Nth calendar day after the inflow
    min_ratio: float = ratio(0.8)     # share of the window's inflows that left within it
    max_ratio: float = ratio(1.2, hi=100.0)  # outflows above this multiple of the inflows are spending from reserves
    min_amount: float = amount(5000.0)  # inflows in the window must reach this (materiality)
    min_account_share: float = ratio(0.5, lo_open=False)  # share of all the account's counted inflows (whole
                                    # workspace) that arrived in qualifying windows: a transit account,
                                    # not a business whose receipts and bills sometimes coincide
    exclude_channels: tuple[str, ...] = names(("card",), channels, "channel")  # inflows (merchant sales) not counted
    # outflows that are the ordinary cost of running a business, not funds moving on
    exclude_out_channels: tuple[str, ...] = names(("payroll",), channels, "channel")
    exclude_out_categories: tuple[str, ...] = names(("tax", "payroll_provider"), categories, "category")

    def check(self, typology):
        order_check(typology, self, "min_ratio", "max_ratio")


class RapidPassThrough(Typology):
    """For each inflow into a focal account F, a window runs from that inflow to the end of the
    ``window_days``-th calendar day after it. W_in = inflows in the window (the anchor included),
    W_out = outflows after the anchor in the window. The window qualifies when W_in >=
    ``min_amount`` and ``min_ratio`` <= W_out / W_in <= ``max_ratio`` (money came in and about as
    much went out again; much larger outflows are spending from reserves, e.g. a payroll run).
    Overlapping qualifying windows merge into one episode; the evidence is the inflows and the
    outflows of its windows. Score = (min(out, in) / in) / min_ratio over the episode."""

    id = "rapid_pass_through"
    version = "1"
    family = "flow"
    title = "Rapid pass-through: funds in and out again within days"
    red_flag = ("funds received and moved on again within days, most of them leaving the account "
                "(a pass-through or transit account with no apparent business purpose)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F"
    Params = PassThroughParams
    needs = frozenset({"ordered_list", "regex", "json", "list_functions"})

    def sql(self, p: PassThroughParams, d: Dialect) -> str:
        w, w_end = lit(p.window_days), lit(p.window_days + 1)
        if "asof_join" in d.capabilities:   # each event falls in at most one episode: the latest begun by then
            evid = """
            SELECT ep.focal, ep.island, ev.tx_id, ev.ts, ev.a_in, ev.a_out, ev.cp, ev.cp_pseudo
            FROM ev ASOF JOIN ep ON ev.focal = ep.focal AND ev.ts >= ep.ep_start
            WHERE CAST(ev.ts AS DATE) <= ep.d_end
              AND (ev.ts > ep.ep_start OR ev.tx_id >= ep.first_anchor)"""
        else:   # the documented fallback: a range join keeping that latest episode per event
            evid = """
            SELECT focal, island, tx_id, ts, a_in, a_out, cp, cp_pseudo FROM (
                SELECT ep.focal, ep.island, ep.ep_start, ep.d_end, ep.first_anchor, ev.tx_id, ev.ts, ev.a_in,
                       ev.a_out, ev.cp, ev.cp_pseudo,
                       row_number() OVER (PARTITION BY ev.focal, ev.tx_id ORDER BY ep.ep_start DESC) AS rn
                FROM ev JOIN ep ON ev.focal = ep.focal AND ev.ts >= ep.ep_start)
            WHERE rn = 1 AND CAST(ts AS DATE) <= d_end AND (ts > ep_start OR tx_id >= first_anchor)"""
        return f"""
        WITH {account_cte()}, {classified_edges_cte(d)}, ev AS (
            SELECT dst AS focal, tx_id, ts, amount AS a_in, 0 AS a_out, src AS cp, src_pseudo AS cp_pseudo
            FROM edges WHERE NOT dst_pseudo AND src <> dst AND {in_list("coalesce(channel, '')", p.exclude_channels, negate=True)}
            UNION ALL
            SELECT src, tx_id, ts, 0, amount, dst, dst_pseudo
            FROM ce WHERE NOT src_pseudo AND src <> dst
              AND {in_list("coalesce(channel, '')", p.exclude_out_channels, negate=True)}
              AND {in_list("coalesce(cat_out, '')", p.exclude_out_categories, negate=True)}
        ), cand AS (  -- accounts that ever receive min_amount within a window: the only ones worth the exact pass
            SELECT DISTINCT focal FROM (
                SELECT focal, sum(din) OVER (PARTITION BY focal ORDER BY d
                           RANGE BETWEEN CURRENT ROW AND INTERVAL {w} DAY FOLLOWING) AS s
                FROM (SELECT focal, CAST(ts AS DATE) AS d, sum(a_in) AS din FROM ev GROUP BY focal, d))
            WHERE s >= {num(p.min_amount)}
        ), c AS (
            SELECT *, CAST(ts AS DATE) AS d,
                   coalesce(sum(a_in) OVER (PARTITION BY focal ORDER BY ts, tx_id
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS in_before,
                   sum(a_out) OVER (PARTITION BY focal ORDER BY ts, tx_id
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS out_through,
                   sum(a_in) OVER (PARTITION BY focal ORDER BY CAST(ts AS DATE)
                            RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL {w} DAY FOLLOWING) AS in_end,
                   sum(a_out) OVER (PARTITION BY focal ORDER BY CAST(ts AS DATE)
                            RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL {w} DAY FOLLOWING) AS out_end
            FROM ev WHERE focal IN (SELECT focal FROM cand)
        ), q AS (
            SELECT focal, tx_id AS anchor, ts AS w_start, d + INTERVAL {w} DAY AS d_end,
                   CAST(d + INTERVAL {w_end} DAY AS TIMESTAMP) AS w_end,
                   in_end - in_before AS w_in, out_end - out_through AS w_out
            FROM c
            WHERE a_in > 0 AND in_end - in_before >= {num(p.min_amount)}
              AND out_end - out_through >= {num(p.min_ratio)} * (in_end - in_before)
              AND out_end - out_through <= {num(p.max_ratio)} * (in_end - in_before)
        ), isl AS (
            SELECT focal, w_start, w_end, d_end, anchor,
                   sum(CASE WHEN w_start <= prev_end THEN 0 ELSE 1 END)
                       OVER (PARTITION BY focal ORDER BY w_start, w_end, anchor) AS island
            FROM (SELECT *, max(w_end) OVER (PARTITION BY focal ORDER BY w_start, w_end, anchor
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM q)
        ), ep AS (  -- merged windows: contiguous from the first anchor to the last window's end
            SELECT focal, island, min(w_start) AS ep_start, max(d_end) AS d_end,
                   min(first_anchor) AS first_anchor
            FROM (SELECT *, first_value(anchor) OVER (PARTITION BY focal, island ORDER BY w_start, anchor)
                            AS first_anchor FROM isl)
            GROUP BY focal, island
        ), evid AS ({evid}
        ), share AS (
            SELECT p.focal, p.passed_in / t.all_in AS share
            FROM (SELECT focal, sum(a_in) AS passed_in
                  FROM (SELECT DISTINCT focal, tx_id, a_in FROM evid WHERE a_in > 0) GROUP BY focal) p
            JOIN (SELECT focal, sum(a_in) AS all_in FROM ev GROUP BY focal) t ON t.focal = p.focal
            WHERE p.passed_in >= {num(p.min_account_share)} * t.all_in
        )
        SELECT focal || '@' || strftime(min(ts), '%Y-%m-%d') AS key,
               least(sum(a_out), sum(a_in)) / sum(a_in) / {num(p.min_ratio)} AS score,
               min(ts) AS first_ts, max(ts) AS last_ts, sum(a_in) + sum(a_out) AS total_amount,
               {d.ordered_list("tx_id", ["ts", "tx_id"])} AS tx_ids,
               list_concat([{{'account_id': focal, 'role': 'pass-through account'}}],
                   coalesce(list(DISTINCT {{'account_id': cp, 'role': 'source'}}) FILTER (WHERE a_in > 0 AND NOT cp_pseudo), []),
                   coalesce(list(DISTINCT {{'account_id': cp, 'role': 'destination'}}) FILTER (WHERE a_out > 0 AND NOT cp_pseudo), [])) AS accounts,
               {{'focal': focal, 'amount_in': sum(a_in), 'amount_out': sum(a_out),
                 'ratio': sum(a_out) / sum(a_in), 'inflows': count(*) FILTER (WHERE a_in > 0),
                 'outflows': count(*) FILTER (WHERE a_out > 0),
                 'sources': count(DISTINCT cp) FILTER (WHERE a_in > 0),
                 'destinations': count(DISTINCT cp) FILTER (WHERE a_out > 0),
                 'cash_in': coalesce(sum(a_in) FILTER (WHERE cp = 'cash'), 0),
                 'cash_out': coalesce(sum(a_out) FILTER (WHERE cp = 'cash'), 0),
                 'days': date_diff('day', CAST(min(ts) AS DATE), CAST(max(ts) AS DATE)) + 1,
                 'account_share': any_value(share.share)}} AS stats
        FROM evid JOIN share USING (focal)
        GROUP BY focal, island
        """

    def explain(self, row, p):
        s = row["stats"]
        cash = []
        if float(s["cash_in"]):
            cash.append(f"{money(s['cash_in'])} of it deposited in cash")
        if float(s["cash_out"]):
            cash.append(f"{money(s['cash_out'])} taken out in cash")
        cash_txt = f" ({'; '.join(cash)})" if cash else ""
        return (f"Account {s['focal']} received {money(s['amount_in'])} in {s['inflows']} payment(s) from "
                f"{s['sources']} source(s) and paid out {money(s['amount_out'])} "
                f"({float(s['ratio']):.0%} of it) in {s['outflows']} payment(s) to {s['destinations']} "
                f"recipient(s){cash_txt} between {day(row['first_ts'])} and {day(row['last_ts'])} "
                f"({s['days']} days). {float(s['account_share']):.0%} of all the money this account "
                f"received in the workspace went through it this way. At least {p.min_ratio:.0%} of at "
                f"least {money(p.min_amount)} received leaving within {p.window_days} days, for at "
                f"least {p.min_account_share:.0%} of the account's receipts, meets the rapid "
                f"pass-through threshold. Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 2. structuring
# ==============================================================================================

@dataclass(frozen=True)
class StructuringParams(Params):
    window_days: int = days(7)
    cash_threshold: float = amount(10000.0, lo_open=True)  # currency transaction report (31 CFR 1010.311)
    near_low: float = amount(8000.0)      # "just under": [near_low, cash_threshold)
    min_near: int = count(2)              # this many just-under cash transactions in a window ...
    min_each: float = amount(3000.0)      # ... or min_count of at least min_each each, all under the
    min_count: int = count(3)             #     threshold, that together reach it
    include_withdrawals: bool = flag(True)  # cash withdrawals split the same way (the CTR covers both)
    wire_threshold: float = amount(3000.0, lo_open=True)  # funds-transfer recordkeeping (31 CFR 1010.410)
    wire_near_low: float = amount(2500.0)
    wire_min_count: int = count(3)
    wire_channels: tuple[str, ...] = names(("wire",), channels, "channel")

    def check(self, typology):
        order_check(typology, self, "near_low", "cash_threshold", strict=True)
        order_check(typology, self, "min_each", "cash_threshold", strict=True)
        order_check(typology, self, "wire_near_low", "wire_threshold", strict=True)


class Structuring(Typology):
    """Cash: per account and direction (deposits; withdrawals when ``include_withdrawals``), cash
    transactions under ``cash_threshold`` and at least ``min(min_each, near_low)``. A window of
    ``window_days`` days qualifies when it holds ``min_near`` or more in ``[near_low,
    cash_threshold)``, or ``min_count`` or more of at least ``min_each`` that together reach
    ``cash_threshold``. Wires: per originator, ``wire_min_count`` or more transfers in
    ``[wire_near_low, wire_threshold)`` in a window. Overlapping qualifying windows merge into an
    episode whose evidence is its in-band transactions. Score = the best window's count over its
    minimum (or its total over the threshold)."""

    id = "structuring"
    version = "1"
    family = "flow"
    title = "Structuring: repeated amounts just under a reporting threshold"
    red_flag = ("cash deposits or withdrawals (or wire transfers) repeatedly kept just under the "
                "$10,000 currency-reporting (or $3,000 funds-transfer recordkeeping) threshold within "
                "days, or split so that each stays under it while together they exceed it")
    source = ("31 U.S.C. 5324; 31 CFR 1010.311 (currency transaction reports over $10,000); "
              "31 CFR 1010.410 (funds-transfer records at $3,000); FFIEC BSA/AML Examination Manual, "
              "Appendix F")
    Params = StructuringParams

    def skip_reason(self, ws):
        n = ws.scalar(f"SELECT count(*) FROM edges WHERE (channel = 'cash' AND (src = 'cash' OR dst = 'cash')) "
                      f"OR {in_list('channel', self.Params().wire_channels)}")
        if not n:
            return "no cash transactions and no wire transfers in the workspace"
        return None

    needs = frozenset({"ordered_list"})

    def sql(self, p: StructuringParams, d: Dialect) -> str:
        w = lit(p.window_days)
        lo = min(p.min_each, p.near_low)
        kinds = ["cash deposit", "wire"] + (["cash withdrawal"] if p.include_withdrawals else [])
        return f"""
        WITH s AS (
            SELECT CASE WHEN src = 'cash' THEN dst ELSE src END AS focal,
                   CASE WHEN src = 'cash' THEN 'cash deposit' ELSE 'cash withdrawal' END AS kind,
                   tx_id, ts, amount, location, CAST(NULL AS VARCHAR) AS cp, false AS cp_pseudo
            FROM edges
            WHERE channel = 'cash' AND ((src = 'cash' AND NOT dst_pseudo) OR (dst = 'cash' AND NOT src_pseudo))
              AND amount >= {num(lo)} AND amount < {num(p.cash_threshold)}
            UNION ALL
            SELECT src, 'wire', tx_id, ts, amount, location, dst, dst_pseudo
            FROM edges
            WHERE {in_list('channel', p.wire_channels)} AND NOT src_pseudo
              AND amount >= {num(p.wire_near_low)} AND amount < {num(p.wire_threshold)}
        ), s2 AS (SELECT * FROM s WHERE {in_list('kind', kinds)}
        ), w AS (
            SELECT focal, kind, ts,
                   count(*) OVER win AS n, sum(amount) OVER win AS total,
                   sum(CASE WHEN amount >= {num(p.near_low)} THEN 1 ELSE 0 END) OVER win AS n_near,
                   sum(CASE WHEN amount >= {num(p.min_each)} THEN 1 ELSE 0 END) OVER win AS n_each,
                   sum(CASE WHEN amount >= {num(p.min_each)} THEN amount ELSE 0 END) OVER win AS total_each
            FROM s2
            WINDOW win AS (PARTITION BY focal, kind ORDER BY ts
                           RANGE BETWEEN INTERVAL {w} DAY PRECEDING AND CURRENT ROW)
        ), q AS (
            SELECT focal || '|' || kind AS fk, focal, kind, ts - INTERVAL {w} DAY AS w_start, ts AS w_end,
                   CASE WHEN kind = 'wire' THEN n / {lit(p.wire_min_count)}::DOUBLE
                        ELSE greatest(n_near / {lit(p.min_near)}::DOUBLE,
                                      CASE WHEN n_each >= {lit(p.min_count)} THEN total_each / {num(p.cash_threshold)}
                                           ELSE 0 END) END AS w_score
            FROM w
            WHERE (kind = 'wire' AND n >= {lit(p.wire_min_count)})
               OR (kind <> 'wire' AND (n_near >= {lit(p.min_near)}
                                       OR (n_each >= {lit(p.min_count)} AND total_each >= {num(p.cash_threshold)})))
        ), ep AS ({islands('q', 'fk')}
        ), sc AS (
            SELECT ep.fk, ep.island, max(q.w_score) AS score FROM ep JOIN q ON q.fk = ep.fk
               AND q.w_end >= ep.ep_start AND q.w_end <= ep.ep_end GROUP BY ep.fk, ep.island
        ), evid AS (
            SELECT ep.fk, ep.island, s2.* FROM ep JOIN s2 ON s2.focal || '|' || s2.kind = ep.fk
               AND s2.ts >= ep.ep_start AND s2.ts <= ep.ep_end
        ), mpd AS (
            SELECT fk, island, max(c) AS max_per_day
            FROM (SELECT fk, island, CAST(ts AS DATE) AS d, count(*) AS c FROM evid GROUP BY fk, island, d)
            GROUP BY fk, island
        )
        SELECT any_value(evid.focal) || '|' || any_value(kind) || '@' || strftime(min(ts), '%Y-%m-%d') AS key,
               any_value(sc.score) AS score,
               min(ts) AS first_ts, max(ts) AS last_ts, sum(amount) AS total_amount,
               {d.ordered_list("tx_id", ["ts", "tx_id"])} AS tx_ids,
               list_concat([{{'account_id': any_value(evid.focal),
                              'role': CASE any_value(kind) WHEN 'cash deposit' THEN 'depositor'
                                      WHEN 'cash withdrawal' THEN 'withdrawer' ELSE 'originator' END}}],
                   coalesce(list(DISTINCT {{'account_id': cp, 'role': 'beneficiary'}})
                            FILTER (WHERE cp IS NOT NULL AND NOT cp_pseudo), [])) AS accounts,
               {{'focal': any_value(evid.focal), 'kind': any_value(kind), 'transactions': count(*),
                 'min_amount': min(amount), 'max_amount': max(amount),
                 'near': count(*) FILTER (WHERE (kind = 'wire' AND amount >= {num(p.wire_near_low)})
                                         OR (kind <> 'wire' AND amount >= {num(p.near_low)})),
                 'places': count(DISTINCT location), 'beneficiaries': count(DISTINCT cp),
                 'days': date_diff('day', CAST(min(ts) AS DATE), CAST(max(ts) AS DATE)) + 1,
                 'max_per_day': any_value(mpd.max_per_day)}} AS stats
        FROM evid JOIN sc ON sc.fk = evid.fk AND sc.island = evid.island
        JOIN mpd ON mpd.fk = evid.fk AND mpd.island = evid.island
        GROUP BY evid.fk, evid.island
        """

    def explain(self, row, p):
        s = row["stats"]
        kind = s["kind"]
        if kind == "wire":
            what = (f"sent {s['transactions']} wire transfers of {money(s['min_amount'])} to "
                    f"{money(s['max_amount'])} to {s['beneficiaries']} beneficiary(ies)")
            rule = (f"each under the {money(p.wire_threshold)} funds-transfer recordkeeping threshold "
                    f"(at least {p.wire_min_count} of {money(p.wire_near_low)} or more within "
                    f"{p.window_days} days)")
        else:
            where = f" at {s['places']} different place(s)" if s["places"] else ""
            what = (f"made {s['transactions']} {kind}s of {money(s['min_amount'])} to "
                    f"{money(s['max_amount'])}{where}, {s['near']} of them between "
                    f"{money(p.near_low)} and {money(p.cash_threshold)}, up to {s['max_per_day']} on "
                    f"one day")
            rule = (f"each under the {money(p.cash_threshold)} currency-transaction-report threshold "
                    f"({p.min_near} or more just under it, or {p.min_count} or more that together "
                    f"reach it, within {p.window_days} days)")
        return (f"Account {s['focal']} {what}, totalling {money(row['total_amount'])} between "
                f"{day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days), {rule}. "
                f"Red flag: {self.red_flag} — {self.source}.")


# ==============================================================================================
# 3. funnel account (cash in at many places, out elsewhere within hours)
# ==============================================================================================

# The area of a place: "City ST" at the end of the location text (after its last digit or comma,
# e.g. "ATM NETWORK 1234 Main St, Dallas TX" -> "DALLAS TX"); else the whole location.
AREA_RX = r"[0-9,]\s*([A-Za-z][A-Za-z .'-]*?,?\s+[A-Za-z]{2})\s*$"
AREA_SQL = ("coalesce(nullif(upper(trim(regexp_extract({loc}, " + lit(AREA_RX).replace("{", "{{").replace("}", "}}")
            + ", 1))), ''), upper(trim({loc})))")


@dataclass(frozen=True)
class FunnelParams(Params):
    window_days: int = days(30)     # the deposits counted together
    min_places: int = count(3)      # distinct places (branches, ATMs) cash was deposited at in a window
    min_funneled: int = count(2)    # deposits followed by a withdrawal in another city ...
    max_hours: int = whole(24, 1, 24 * MAX_DAYS, "hours")  # ... within this many hours


class FunnelAccount(Typology):
    """For a focal account F: cash deposits (``edges.location`` of channel cash into F) and cash
    withdrawals out of F. A deposit is *funneled* when a cash withdrawal from F follows within
    ``max_hours`` in a different area (the "City ST" a location ends with; else the location).
    A window of ``window_days`` qualifies when it holds deposits at ``min_places`` or more distinct
    places and ``min_funneled`` or more funneled deposits. Overlapping windows merge into an
    episode; the evidence is its deposits and the withdrawals that followed funneled ones.
    Score = distinct places / ``min_places``."""

    id = "funnel_account"
    version = "2"   # 2: the example is the quickest pair, ties to the earlier transactions
    family = "flow"
    title = "Funnel account: cash in at many places, withdrawn elsewhere within hours"
    red_flag = ("cash deposited into one account at many different branches or places and withdrawn "
                "in another city shortly after (an interstate funnel account)")
    source = "FinCEN FIN-2014-A005 (funnel accounts)"
    Params = FunnelParams

    def skip_reason(self, ws):
        if not _has_cash(ws):
            return "no cash transactions in the workspace"
        if not ws.scalar("SELECT count(*) FROM edges WHERE channel = 'cash' AND location IS NOT NULL"):
            return "no cash transaction has a location (branch or ATM): map the statement's location column"
        return None

    def run(self, backend, p: FunnelParams):
        rows = super().run(backend, p)
        n = backend.scalar("SELECT count(*) FROM edges WHERE channel = 'cash' AND location IS NULL "
                           "AND (src = 'cash' OR dst = 'cash')")
        if n:
            self.notes.append(f"{n} cash transactions have no location (branch or ATM) and were left out")
        return rows

    needs = frozenset({"distinct_window_count", "ordered_list", "regex"})

    def sql(self, p: FunnelParams, d: Dialect) -> str:
        area = AREA_SQL.format(loc="location")
        return f"""
        WITH dep AS (
            SELECT dst AS focal, tx_id, ts, amount, upper(trim(location)) AS place, {area} AS area
            FROM edges WHERE channel = 'cash' AND src = 'cash' AND NOT dst_pseudo AND location IS NOT NULL
        ), wd AS (
            SELECT src AS focal, tx_id, ts, amount, upper(trim(location)) AS place, {area} AS area
            FROM edges WHERE channel = 'cash' AND dst = 'cash' AND NOT src_pseudo AND location IS NOT NULL
        ), pair AS (
            SELECT d.focal, d.tx_id AS dep_tx, w.tx_id AS wd_tx, w.ts AS wd_ts, w.amount AS wd_amount,
                   d.area AS dep_area, w.area AS wd_area, date_diff('minute', d.ts, w.ts) AS minutes
            FROM dep d JOIN wd w ON w.focal = d.focal AND w.ts >= d.ts
             AND w.ts <= d.ts + INTERVAL {lit(p.max_hours)} HOUR AND w.area <> d.area
        ), dep2 AS (
            SELECT d.*, EXISTS (SELECT 1 FROM pair WHERE pair.dep_tx = d.tx_id) AS funneled FROM dep d
        ), w AS (
            SELECT focal, ts,
                   {d.count_distinct_over("place", "win")} AS n_places,
                   sum(CASE WHEN funneled THEN 1 ELSE 0 END) OVER win AS n_funneled
            FROM dep2
            WINDOW win AS (PARTITION BY focal ORDER BY ts
                           RANGE BETWEEN INTERVAL {lit(p.window_days)} DAY PRECEDING AND CURRENT ROW)
        ), q AS (
            SELECT DISTINCT focal, ts - INTERVAL {lit(p.window_days)} DAY AS w_start, ts AS w_end
            FROM w WHERE n_places >= {lit(p.min_places)} AND n_funneled >= {lit(p.min_funneled)}
        ), ep AS ({islands('q', 'focal')}
        ), edep AS (
            SELECT ep.focal, ep.island, d.* EXCLUDE (focal) FROM ep JOIN dep2 d ON d.focal = ep.focal
               AND d.ts >= ep.ep_start AND d.ts <= ep.ep_end
        ), ewd AS (
            SELECT DISTINCT e.focal, e.island, w.tx_id, w.ts, w.amount
            FROM edep e JOIN pair pr ON pr.dep_tx = e.tx_id JOIN wd w ON w.tx_id = pr.wd_tx
        ), agg AS (
            SELECT e.focal, e.island, min(e.ts) AS first_dep, max(e.ts) AS last_dep,
                   count(*) AS deposits, sum(e.amount) AS deposited,
                   count(DISTINCT e.place) AS places, count(DISTINCT e.area) AS areas,
                   count(*) FILTER (WHERE e.funneled) AS funneled,
                   list(e.tx_id) AS dep_txs, list(e.ts) AS dep_ts,
                   {d.sorted_distinct_list("e.area")} AS dep_areas
            FROM edep e GROUP BY e.focal, e.island
        ), wagg AS (
            SELECT focal, island, count(*) AS withdrawals, sum(amount) AS withdrawn,
                   list(tx_id) AS wd_txs, list(ts) AS wd_ts, max(ts) AS last_wd
            FROM ewd GROUP BY focal, island
        ), exr AS (
            -- the example: the quickest deposit-to-withdrawal, ties to the earlier transactions
            -- (a total order: the same example on every engine and every run)
            SELECT e.focal, e.island, pr.dep_area, pr.wd_area, pr.minutes,
                   row_number() OVER (PARTITION BY e.focal, e.island
                                      ORDER BY pr.minutes, pr.dep_tx, pr.wd_tx) AS rn
            FROM edep e JOIN pair pr ON pr.dep_tx = e.tx_id
        ), ex AS (
            SELECT e.focal, e.island,
                   {d.sorted_distinct_list("pr.wd_area")} AS wd_areas
            FROM edep e JOIN pair pr ON pr.dep_tx = e.tx_id GROUP BY e.focal, e.island
        )
        SELECT a.focal || '@' || strftime(a.first_dep, '%Y-%m-%d') AS key,
               a.places / {lit(p.min_places)}::DOUBLE AS score,
               a.first_dep AS first_ts, greatest(a.last_dep, wg.last_wd) AS last_ts,
               a.deposited + wg.withdrawn AS total_amount,
               list_concat(a.dep_txs, wg.wd_txs) AS tx_ids,
               [{{'account_id': a.focal, 'role': 'funnel account'}}] AS accounts,
               {{'focal': a.focal, 'deposits': a.deposits, 'deposited': a.deposited, 'places': a.places,
                 'areas': a.areas, 'funneled': a.funneled, 'withdrawals': wg.withdrawals,
                 'withdrawn': wg.withdrawn, 'dep_areas': a.dep_areas, 'wd_areas': ex.wd_areas,
                 'example': {{'dep_area': x.dep_area, 'wd_area': x.wd_area, 'minutes': x.minutes}},
                 'days': date_diff('day', CAST(a.first_dep AS DATE), CAST(a.last_dep AS DATE)) + 1}} AS stats
        FROM agg a JOIN wagg wg USING (focal, island) JOIN ex USING (focal, island)
        JOIN exr x ON x.focal = a.focal AND x.island = a.island AND x.rn = 1
        """

    def explain(self, row, p):
        s = row["stats"]
        ex = s["example"]
        hrs = ex["minutes"] / 60
        areas = ", ".join(list(s["dep_areas"])[:6]) + ("..." if len(s["dep_areas"]) > 6 else "")
        return (f"Account {s['focal']} took {s['deposits']} cash deposits totalling {money(s['deposited'])} "
                f"at {s['places']} different places in {s['areas']} area(s) ({areas}) between "
                f"{day(row['first_ts'])} and {day(row['last_ts'])}; {s['funneled']} of them were followed "
                f"within {p.max_hours} hours by cash withdrawals elsewhere ({s['withdrawals']} withdrawals, "
                f"{money(s['withdrawn'])}, in {', '.join(s['wd_areas'])}; e.g. deposited in "
                f"{ex['dep_area']} and withdrawn in {ex['wd_area']} {hrs:.1f} hours later). "
                f"Deposits at {p.min_places} or more places within {p.window_days} days with at least "
                f"{p.min_funneled} withdrawn in another city within {p.max_hours} hours meets the "
                f"funnel-account threshold. Red flag: {self.red_flag} — {self.source}.")


FLOW: tuple[Typology, ...] = (RapidPassThrough(), Structuring(), FunnelAccount())
