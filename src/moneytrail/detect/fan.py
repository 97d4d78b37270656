"""Fan-in and fan-out: one account receiving from, or paying to, many counterparties in a window.

Definition (fan-in; fan-out is the mirror image). For a focal account F, a *counterparty key*
is the other account, or ``cash@<location>`` for a cash deposit (so cash brought in at many
different branches counts as many sources). Card sales (``exclude_channels``) are never
counted. A window ``[t - W, t]`` *qualifies* when at least K distinct keys pay F inside it;
overlapping qualifying windows merge into one episode, and the finding is the episode with
every counted transaction inside it. Score = distinct keys / K. Two tiers, each its own
(W, K, which edges count):

* **burst** — ``window_days`` (14), ``min_counterparties`` (8); every edge except those of
  standing relationships (``edges.established``: the pair transacts in >= 3 distinct months —
  rent, bills, payroll);
* **long** — ``long_window_days`` (365), ``long_min_counterparties`` (4); only one-off
  relationships (the pair's single transfer in the whole ledger): a slow funnel fed by a new,
  never-repeated source every few weeks. ``long_min_counterparties: 0`` switches it off.
  Transfers already in a burst episode are not counted again by the long tier.

Pseudo accounts (``cash``, name-only, unidentified) never act as F.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.backends.dialect import Dialect
from moneytrail.detect.base import Params, Typology, channels, count, day, days, flag, money, names
from moneytrail.sqlkit import in_list, lit


@dataclass(frozen=True)
class FanParams(Params):
    window_days: int = days(14)
    min_counterparties: int = count(8)
    exclude_channels: tuple[str, ...] = names(("card",), channels, "channel")
    count_established: bool = flag(False)
    long_window_days: int = days(365)
    long_min_counterparties: int = count(4, lo=0)   # 0 switches the long tier off


_CTES = """
c_{tier} AS (
    SELECT {focal} AS focal, {cp} AS cp, ts, tx_id, amount
    FROM edges
    WHERE NOT {focal_pseudo}
      AND {cp_col} NOT LIKE 'unidentified:%'
      AND {excluded}
      AND {edge_filter}
), w_{tier} AS (
    SELECT focal, ts,
           {n_cp} AS n_cp
    FROM c_{tier}
), q_{tier} AS (
    SELECT DISTINCT focal, ts - INTERVAL {window} DAY AS w_start, ts AS w_end
    FROM w_{tier} WHERE n_cp >= {min_cp}
), islands_{tier} AS (
    SELECT focal, w_start, w_end,
           sum(CASE WHEN w_start <= prev_end THEN 0 ELSE 1 END)
               OVER (PARTITION BY focal ORDER BY w_start, w_end) AS island
    FROM (SELECT *, max(w_end) OVER (PARTITION BY focal ORDER BY w_start, w_end
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM q_{tier})
), ep_{tier} AS (
    SELECT focal, island, min(w_start) AS ep_start, max(w_end) AS ep_end
    FROM islands_{tier} GROUP BY focal, island
), ev_{tier} AS (
    SELECT ep.focal, ep.island, c.cp, c.ts, c.tx_id, c.amount
    FROM ep_{tier} ep JOIN c_{tier} c ON c.focal = ep.focal AND c.ts >= ep.ep_start AND c.ts <= ep.ep_end
)"""

_FINAL = """
SELECT focal || '@' || strftime(min(ts), '%Y-%m-%d') || '/' || {tier_lit} AS key,
       count(DISTINCT cp) / {min_cp}::DOUBLE AS score,
       min(ts) AS first_ts, max(ts) AS last_ts, sum(amount) AS total_amount,
       {tx_ids} AS tx_ids,
       list_prepend({{'account_id': focal, 'role': {focal_role}}},
                    list(DISTINCT {{'account_id': cp, 'role': {cp_role}}})) AS accounts,
       {{'focal': focal, 'tier': {tier_lit}, 'counterparties': count(DISTINCT cp), 'transactions': count(*),
         'cash_places': count(DISTINCT cp) FILTER (WHERE cp LIKE 'cash@%'),
         'median_amount': {median}, 'days': date_diff('day', min(ts), max(ts)) + 1,
         'window_days': {window}, 'min_counterparties': {min_cp}}} AS stats
FROM ev_{tier}
GROUP BY focal, island
"""


def _tier_rule(s, who: str) -> str:
    if s["tier"] == "burst":
        return (f"At least {s['min_counterparties']} {who} within {s['window_days']} days meets the "
                f"threshold (standing relationships such as rent or payroll not counted)")
    return (f"At least {s['min_counterparties']} one-time {who} (each dealt with this account exactly "
            f"once) within {s['window_days']} days meets the threshold")


class _Fan(Typology):
    Params = FanParams
    direction: str

    needs = frozenset({"distinct_window_count", "ordered_list"})

    def sql(self, p: FanParams, d: Dialect) -> str:
        if self.direction == "in":
            focal, cp_col, focal_pseudo = "dst", "src", "dst_pseudo"
            cp = "CASE WHEN src = 'cash' THEN 'cash@' || coalesce(location, '?') ELSE src END"
            roles = ("receiver", "sender")
        else:
            focal, cp_col, focal_pseudo = "src", "dst", "src_pseudo"
            cp = "CASE WHEN dst = 'cash' THEN 'cash@' || coalesce(location, '?') ELSE dst END"
            roles = ("sender", "receiver")
        excluded = in_list("coalesce(channel, '')", p.exclude_channels, negate=True)
        tiers = [("burst", lit(p.window_days), lit(p.min_counterparties),
                  "TRUE" if p.count_established else "NOT established")]
        if p.long_min_counterparties > 0:
            # one-off relationships (a single transfer between the pair in the whole ledger)
            # transfers already in a burst episode are not counted again
            tiers.append(("long", lit(p.long_window_days), lit(p.long_min_counterparties),
                          "pair_tx = 1 AND tx_id NOT IN (SELECT tx_id FROM ev_burst)"))
        kw = dict(focal=focal, cp=cp, cp_col=cp_col, focal_pseudo=focal_pseudo, excluded=excluded,
                  focal_role=lit(roles[0]), cp_role=lit(roles[1]))
        # the tier names are the CTE suffixes (ours: burst, long) and, as literals, the stats' tier
        n_cp = lambda w: d.count_distinct_over(   # noqa: E731
            "cp", f"PARTITION BY focal ORDER BY ts RANGE BETWEEN INTERVAL {w} DAY PRECEDING AND CURRENT ROW")
        ctes = [_CTES.format(tier=t, window=w, min_cp=k, edge_filter=f, n_cp=n_cp(w), **kw) for t, w, k, f in tiers]
        finals = [_FINAL.format(tier=t, tier_lit=lit(t), window=w, min_cp=k, tx_ids=d.ordered_list("tx_id", ["ts", "tx_id"]), median=d.median("amount"),
                                **kw) for t, w, k, f in tiers]
        return "WITH " + ",".join(ctes) + "\n" + "\nUNION ALL\n".join(finals)


class FanIn(_Fan):
    id = "fan_in"
    version = "2"
    direction = "in"
    title = "Fan-in: many sources paying one account"
    red_flag = ("funds from many unrelated sources gathered into one account (a funnel or "
                "collection account)")
    source = ("FinCEN FIN-2014-A005 (funnel accounts); FinCEN FIN-2020-A008 (human-trafficking "
              "finance red flags); FFIEC BSA/AML Examination Manual, Appendix F")

    def explain(self, row, p):
        s = row["stats"]
        cash = (f", including cash deposited at {s['cash_places']} different places"
                if s["cash_places"] else "")
        return (f"Account {s['focal']} received {s['transactions']} payments totalling "
                f"{money(row['total_amount'])} from {s['counterparties']} distinct sources{cash} "
                f"between {day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days; "
                f"median {money(s['median_amount'])}). {_tier_rule(s, 'sources')}. Red flag: {self.red_flag} — {self.source}.")


class FanOut(_Fan):
    id = "fan_out"
    version = "2"
    direction = "out"
    title = "Fan-out: one account paying many recipients"
    red_flag = ("funds from one account dispersed to many recipients within a short period "
                "(layering, or paying a workforce off the books)")
    source = "FFIEC BSA/AML Examination Manual, Appendix F; FinCEN FIN-2014-A008"

    def explain(self, row, p):
        s = row["stats"]
        cash = (f", including cash taken out at {s['cash_places']} different places"
                if s["cash_places"] else "")
        return (f"Account {s['focal']} made {s['transactions']} payments totalling "
                f"{money(row['total_amount'])} to {s['counterparties']} distinct recipients{cash} "
                f"between {day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days; "
                f"median {money(s['median_amount'])}). {_tier_rule(s, 'recipients')}. Red flag: {self.red_flag} — {self.source}.")
