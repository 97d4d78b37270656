"""Fan-in and fan-out: one account receiving from, or paying to, many counterparties in a window.

Definition (fan-in; fan-out is the mirror image). For a focal account F, a *counterparty key*
is the other account, or ``cash@<location>`` for a cash deposit (so cash brought in at many
different branches counts as many sources). Edges of standing relationships
(``edges.established``: the pair transacts in >= 3 distinct months — rent, bills, payroll) and
edges in ``exclude_channels`` (card sales by default) are not counted. A window
``[t - window_days, t]`` *qualifies* when at least ``min_counterparties`` distinct keys pay F
inside it. Overlapping qualifying windows merge into one episode; the finding is the episode
with every counted transaction inside it. Score = distinct keys / ``min_counterparties``.

Pseudo accounts (``cash``, name-only, unidentified) never act as F.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneytrail.detect.base import Params, Typology, day, money


@dataclass(frozen=True)
class FanParams(Params):
    window_days: int = 14
    min_counterparties: int = 8
    exclude_channels: tuple[str, ...] = ("card",)
    count_established: bool = False


_SQL = """
WITH c AS (
    SELECT {focal} AS focal, {cp} AS cp, ts, tx_id, amount
    FROM edges
    WHERE NOT {focal_pseudo}
      AND {cp_col} NOT LIKE 'unidentified:%'
      AND coalesce(channel, '') NOT IN ({excluded})
      {established}
), w AS (
    SELECT focal, ts,
           count(DISTINCT cp) OVER (PARTITION BY focal ORDER BY ts
                RANGE BETWEEN INTERVAL {window} DAY PRECEDING AND CURRENT ROW) AS n_cp
    FROM c
), q AS (
    SELECT DISTINCT focal, ts - INTERVAL {window} DAY AS w_start, ts AS w_end
    FROM w WHERE n_cp >= {min_cp}
), islands AS (
    SELECT focal, w_start, w_end,
           sum(CASE WHEN w_start <= prev_end THEN 0 ELSE 1 END)
               OVER (PARTITION BY focal ORDER BY w_start, w_end) AS island
    FROM (SELECT *, max(w_end) OVER (PARTITION BY focal ORDER BY w_start, w_end
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end FROM q)
), ep AS (
    SELECT focal, island, min(w_start) AS ep_start, max(w_end) AS ep_end FROM islands GROUP BY focal, island
), ev AS (
    SELECT ep.focal, ep.island, c.cp, c.ts, c.tx_id, c.amount
    FROM ep JOIN c ON c.focal = ep.focal AND c.ts >= ep.ep_start AND c.ts <= ep.ep_end
)
SELECT focal || '@' || strftime(min(ts), '%Y-%m-%d') AS key,
       count(DISTINCT cp) / {min_cp}::DOUBLE AS score,
       min(ts) AS first_ts, max(ts) AS last_ts, sum(amount) AS total_amount,
       list(tx_id ORDER BY ts, tx_id) AS tx_ids,
       list_prepend({{'account_id': focal, 'role': '{focal_role}'}},
                    list(DISTINCT {{'account_id': cp, 'role': '{cp_role}'}})) AS accounts,
       {{'focal': focal, 'counterparties': count(DISTINCT cp), 'transactions': count(*),
         'cash_places': count(DISTINCT cp) FILTER (WHERE cp LIKE 'cash@%'),
         'median_amount': median(amount), 'days': date_diff('day', min(ts), max(ts)) + 1}} AS stats
FROM ev
GROUP BY focal, island
"""


class _Fan(Typology):
    Params = FanParams
    direction: str

    def sql(self, p: FanParams) -> str:
        if self.direction == "in":
            focal, cp_col, focal_pseudo = "dst", "src", "dst_pseudo"
            cp = "CASE WHEN src = 'cash' THEN 'cash@' || coalesce(location, '?') ELSE src END"
            roles = ("receiver", "sender")
        else:
            focal, cp_col, focal_pseudo = "src", "dst", "src_pseudo"
            cp = "CASE WHEN dst = 'cash' THEN 'cash@' || coalesce(location, '?') ELSE dst END"
            roles = ("sender", "receiver")
        excluded = ", ".join(f"'{c}'" for c in p.exclude_channels) or "''"
        return _SQL.format(focal=focal, cp=cp, cp_col=cp_col, focal_pseudo=focal_pseudo,
                           excluded=excluded, window=int(p.window_days), min_cp=int(p.min_counterparties),
                           established="" if p.count_established else "AND NOT established",
                           focal_role=roles[0], cp_role=roles[1])


class FanIn(_Fan):
    id = "fan_in"
    version = "1"
    direction = "in"
    title = "Fan-in: many sources paying one account"
    red_flag = ("funds from many unrelated sources gathered into one account within a short period "
                "(a funnel or collection account)")
    source = ("FinCEN FIN-2014-A005 (funnel accounts); FinCEN FIN-2020-A008 (human-trafficking "
              "finance red flags); FFIEC BSA/AML Examination Manual, Appendix F")

    def explain(self, row, p):
        s = row["stats"]
        cash = (f", including cash deposited at {s['cash_places']} different places"
                if s["cash_places"] else "")
        return (f"Account {s['focal']} received {s['transactions']} payments totalling "
                f"{money(row['total_amount'])} from {s['counterparties']} distinct sources{cash} "
                f"between {day(row['first_ts'])} and {day(row['last_ts'])} ({s['days']} days; "
                f"median {money(s['median_amount'])}). At least {p.min_counterparties} new sources "
                f"within {p.window_days} days meets the fan-in threshold (standing relationships such "
                f"as rent or payroll not counted). Red flag: {self.red_flag} — {self.source}.")


class FanOut(_Fan):
    id = "fan_out"
    version = "1"
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
                f"median {money(s['median_amount'])}). At least {p.min_counterparties} new recipients "
                f"within {p.window_days} days meets the fan-out threshold (standing relationships "
                f"such as payroll not counted). Red flag: {self.red_flag} — {self.source}.")
