"""Causal graph features per transaction, computed in bulk by the backend.

Every feature of a transaction e = (s -> d, time t) uses only transactions at or before t:
windows are ``RANGE BETWEEN INTERVAL W DAY PRECEDING AND CURRENT ROW`` over the timestamp
(so transactions of the same timestamp are visible to each other, as in GFP's per-day
batches), and pair counters use the documented order (timestamp, then tx_id).

Feature groups (names are what the model and the explanations use; ``FEATURES`` describes
each in words):

* raw: amount, day of week;
* pair history: how many times s has paid d so far, days since their first transfer, whether
  d has paid s before (reverse relationship);
* windowed activity of s and d in 7 and 28 days, in and out: transfers, counterparties not
  dealt with in the W days before ("fresh"), amounts, and how many relationships were brand new;
* recency: days since s's and d's previous activity, how long each has been active, how many
  transfers each has made so far;
* pass-through: what s received in the window against what it paid out;
* structure on *new relationships* (pairs at their first transfer or younger than 30 days):
  2-cycles and 3-cycles closed by e, and scatter-gather legs (s and another account both fed
  by the same source and both paying d), all within 28 days.
"""

from __future__ import annotations

import re
import time

import pyarrow as pa

from moneytrail.sqlkit import lit

WINDOWS = (7, 28)

#: feature -> plain-English description (used in explanations)
FEATURES: dict[str, str] = {
    "amount": "the transfer amount",
    "dow": "the day of the week",
    "pair_n": "how many times the sender had paid this receiver so far",
    "pair_age_days": "days since the sender first paid this receiver",
    "rev_pair_n": "how many times the receiver had paid the sender before",
    "s_gap_days": "days since the sender's previous activity",
    "d_gap_days": "days since the receiver's previous activity",
    "s_age_days": "how long the sender had been active",
    "d_age_days": "how long the receiver had been active",
    "s_n_so_far": "the sender's number of transfers so far",
    "d_n_so_far": "the receiver's number of transfers so far",
    "amount_vs_s_mean28": "the amount against the sender's average payment over 28 days",
    "s_pass_ratio28": "what the sender received against what it paid out over 28 days",
    "cyc2": "2-account loops of new relationships closed by this transfer (28 days)",
    "cyc3": "3-account loops of new relationships closed by this transfer (28 days)",
    "sg_legs": "scatter-gather legs: other accounts fed by the same source that also paid the receiver (28 days)",
    # issue 15: ratios, amount similarity, relationship history (all causal, windows in days)
    "s_newfrac_all": "the share of the sender's transfers so far that opened a new relationship",
    "d_newfrac_all": "the share of the receiver's transfers so far that opened a new relationship",
    "s_newfrac28": "the share of the sender's transfers in 28 days that opened a new relationship",
    "d_newfrac28": "the share of the receiver's transfers in 28 days that opened a new relationship",
    "s_out_cv28": "how much the sender's payments of the last 28 days vary in amount (coefficient of variation)",
    "d_in_cv28": "how much the receiver's incoming amounts of the last 28 days vary (coefficient of variation)",
    "amount_z_s28": "the amount against the sender's payments of 28 days (standard scores)",
    "amount_z_d28": "the amount against what the receiver received in 28 days (standard scores)",
    "amount_vs_d_mean28": "the amount against the receiver's average incoming transfer over 28 days",
    "s_in7_vs_amount": "what the sender received in 7 days against this amount (money passing on)",
    "s_pass_ratio7": "what the sender received against what it paid out over 7 days",
    "d_pass_ratio28": "what the receiver paid out against what it received over 28 days",
}
for _w in WINDOWS:
    for _who, _name in (("s", "sender"), ("d", "receiver")):
        for _dir, _dname in (("in", "received"), ("out", "paid")):
            FEATURES[f"{_who}_{_dir}_n{_w}"] = f"transfers the {_name} {_dname} in {_w} days"
            FEATURES[f"{_who}_{_dir}_fresh{_w}"] = (f"counterparties the {_name} {_dname} {'from' if _dir == 'in' else 'to'} "
                                                    f"in {_w} days that it had not dealt with in the {_w} days before")
            FEATURES[f"{_who}_{_dir}_amt{_w}"] = f"total the {_name} {_dname} in {_w} days"
            FEATURES[f"{_who}_{_dir}_new{_w}"] = f"brand-new relationships among what the {_name} {_dname} in {_w} days"

#: relationship history: a pair is "one-shot" when its first transfer had no sequel within H days;
#: that is known H days after the first transfer, and only from then on is it counted
ONESHOT_DAYS = (7, 28)
for _h in ONESHOT_DAYS:
    for _who, _name in (("s", "sender"), ("d", "receiver")):
        FEATURES[f"{_who}_matured{_h}"] = (f"the {_name}'s relationships (either direction) whose first transfer is "
                                           f"at least {_h} days old")
        FEATURES[f"{_who}_oneshot{_h}_frac"] = (f"the share of those relationships of the {_name} that had no second "
                                                f"transfer within {_h} days of their first")
FEATURES["d_payers_fanout7"] = ("the receiver's new payers of the last 7 days: how many new payees each of them "
                                "had taken on in 7 days (mean)")
FEATURES["s_payees_fanin7"] = ("the sender's new payees of the last 7 days: how many new payers each of them had "
                               "taken on in 7 days (mean)")
FEATURES["d_payers_inflow7"] = ("the receiver's new payers of the last 7 days: how many of them had themselves "
                                "received from a new counterparty within 7 days before paying (money passing on)")

FEATURE_NAMES = list(FEATURES)

#: features that measure how busy an account is (counts, volumes, totals so far): left out in
#: the ablation that checks a model does not only find busy accounts (AMLGentex picks its
#: laundering accounts among busy ones)
VOLUME_FEATURES = [n for n in FEATURE_NAMES
                   if re.fullmatch(r"[sd]_(in|out)_(n|fresh|amt|new)\d+|[sd]_n_so_far|[sd]_matured\d+", n)]


_METRICS = ("is_in", "is_out", "amt_in", "amt_out", "new_in", "new_out", "sq_in", "sq_out")


def _metric_names(w: int) -> list[str]:
    return list(_METRICS) + [f"fresh{w}_in", f"fresh{w}_out"]


def _all_metrics() -> list[str]:
    return list(dict.fromkeys(m for w in WINDOWS for m in _metric_names(w)))


def _window_cols() -> str:
    cols = []
    for w in WINDOWS:
        for d in ("in", "out"):
            cols += [f"w{w}.is_{d} AS {d}_n{w}", f"w{w}.fresh{w}_{d} AS {d}_fresh{w}",
                     f"w{w}.amt_{d} AS {d}_amt{w}", f"w{w}.new_{d} AS {d}_new{w}", f"w{w}.sq_{d} AS {d}_sq{w}"]
    return ",\n       ".join(cols)


def _fresh_cols() -> str:
    # a counterparty is fresh for window W when this account had not dealt with it (in this
    # direction) in the W days before: summed over the window it counts the distinct
    # counterparties of the window exactly when none recurs within W days, and is a plain
    # segment-tree SUM (a windowed COUNT(DISTINCT) costs several times more)
    cols = []
    for w in WINDOWS:
        for d in ("in", "out"):
            cols.append(f"CASE WHEN dir = {lit(d)} AND (prev_same IS NULL OR ts > prev_same + INTERVAL {lit(w)} DAY) "
                        f"THEN 1 ELSE 0 END AS fresh{w}_{d}")
    return ", ".join(cols)


BASE_SQL = """
SELECT tx_id, src, dst, ts, amount::DOUBLE AS amount,
       count(*) OVER (PARTITION BY src, dst ORDER BY ts, tx_id ROWS UNBOUNDED PRECEDING) AS pair_n,
       min(ts) OVER (PARTITION BY src, dst ORDER BY ts, tx_id ROWS UNBOUNDED PRECEDING) AS pair_first
FROM ({source})
"""

EV0_SQL = """
WITH ev0 AS (
    SELECT src AS acct, dst AS cp, 'out' AS dir, ts, tx_id, amount, (pair_n = 1) AS is_new FROM _f_base
    UNION ALL
    SELECT dst, src, 'in', ts, tx_id, amount, (pair_n = 1) FROM _f_base
)
SELECT *,
       CASE WHEN dir = 'in' THEN 1 ELSE 0 END AS is_in, CASE WHEN dir = 'out' THEN 1 ELSE 0 END AS is_out,
       CASE WHEN dir = 'in' THEN amount ELSE 0 END AS amt_in, CASE WHEN dir = 'out' THEN amount ELSE 0 END AS amt_out,
       CASE WHEN dir = 'in' AND is_new THEN 1 ELSE 0 END AS new_in,
       CASE WHEN dir = 'out' AND is_new THEN 1 ELSE 0 END AS new_out,
       CASE WHEN dir = 'in' THEN amount * amount ELSE 0 END AS sq_in,
       CASE WHEN dir = 'out' THEN amount * amount ELSE 0 END AS sq_out,
       {fresh_cols}
FROM (SELECT *, lag(ts) OVER (PARTITION BY acct, dir, cp ORDER BY ts, tx_id) AS prev_same FROM ev0)
"""

# Window sums without windowed aggregates: per (account, timestamp) totals, their running sums,
# and for a window W the running sum at t minus the running sum at the last timestamp < t - W
# (an ASOF join). Same result as SUM() OVER (RANGE BETWEEN W PRECEDING AND CURRENT ROW) — the
# window is [t - W, t] and includes every transfer of timestamp t — at a fraction of the cost.
CUM_SQL = """
WITH g AS (SELECT acct, ts, {sums} FROM _f_ev0 GROUP BY acct, ts)
SELECT acct, ts, {cums} FROM g
"""

WIN_SQL = """
SELECT c.acct, c.ts, {diffs}
FROM (SELECT *, ts - INTERVAL {w} DAY AS ts_back FROM _f_cum) c
ASOF LEFT JOIN _f_cum p ON p.acct = c.acct AND c.ts_back > p.ts
"""

# Without an ASOF join (Spark): the same match found by one sort. Each row is a probe at t - W
# beside the account's own rows; ordered by time, a probe before the rows of its own instant
# (the match must be strictly earlier), the largest earlier row time is the ASOF match.
WIN_FALLBACK_SQL = """
WITH k AS (
    SELECT acct, ts AS probe_ts, ts - INTERVAL {w} DAY AS t, 0 AS kind, CAST(NULL AS TIMESTAMP) AS row_ts FROM _f_cum
    UNION ALL
    SELECT acct, NULL, ts, 1, ts FROM _f_cum
), m AS (
    SELECT acct, probe_ts, max(row_ts) OVER (PARTITION BY acct ORDER BY t, kind ROWS UNBOUNDED PRECEDING) AS p_ts
    FROM k
)
SELECT c.acct, c.ts, {diffs}
FROM m JOIN _f_cum c ON c.acct = m.acct AND c.ts = m.probe_ts
LEFT JOIN _f_cum p ON p.acct = m.acct AND p.ts = m.p_ts
WHERE m.probe_ts IS NOT NULL
"""

EV_SQL = """
SELECT e.acct, e.dir, e.tx_id,
       date_diff('second', lag(e.ts) OVER (PARTITION BY e.acct ORDER BY e.ts, e.tx_id, e.dir), e.ts) / 86400.0 AS gap_days,
       date_diff('second', min(e.ts) OVER (PARTITION BY e.acct ORDER BY e.ts, e.tx_id, e.dir ROWS UNBOUNDED PRECEDING), e.ts) / 86400.0 AS age_days,
       row_number() OVER (PARTITION BY e.acct ORDER BY e.ts, e.tx_id, e.dir) AS n_so_far,
       (c.new_in + c.new_out) / (c.is_in + c.is_out) AS newfrac_all,
       {window_cols}
FROM _f_ev0 e JOIN _f_cum c ON c.acct = e.acct AND c.ts = e.ts {joins}
"""

# new relationships: a pair at its first transfer, or younger than 30 days
STRUCT_SQL = """
WITH n AS (SELECT tx_id, src, dst, ts FROM _f_base
           WHERE pair_n = 1 OR ts <= pair_first + INTERVAL 30 DAY),
c2 AS (SELECT e.tx_id, count(*) AS cyc2 FROM n e JOIN n r
         ON r.src = e.dst AND r.dst = e.src AND r.ts <= e.ts AND r.ts >= e.ts - INTERVAL 28 DAY
       GROUP BY e.tx_id),
c3 AS (SELECT e.tx_id, count(*) AS cyc3 FROM n e
         JOIN n a ON a.src = e.dst AND a.ts <= e.ts AND a.ts >= e.ts - INTERVAL 28 DAY AND a.dst <> e.src
         JOIN n b ON b.src = a.dst AND b.dst = e.src AND b.ts <= e.ts AND b.ts >= e.ts - INTERVAL 28 DAY
       GROUP BY e.tx_id),
sg AS (SELECT e.tx_id, count(DISTINCT m.src) AS sg_legs FROM n e
         JOIN n f ON f.dst = e.src AND f.ts <= e.ts AND f.ts >= e.ts - INTERVAL 28 DAY
         JOIN n g ON g.src = f.src AND g.dst <> e.src AND g.ts <= e.ts AND g.ts >= e.ts - INTERVAL 28 DAY
         JOIN n m ON m.src = g.dst AND m.dst = e.dst AND m.ts <= e.ts AND m.ts >= e.ts - INTERVAL 28 DAY
       GROUP BY e.tx_id)
SELECT b.tx_id, coalesce(c2.cyc2, 0) AS cyc2, coalesce(c3.cyc3, 0) AS cyc3, coalesce(sg.sg_legs, 0) AS sg_legs
FROM _f_base b LEFT JOIN c2 USING (tx_id) LEFT JOIN c3 USING (tx_id) LEFT JOIN sg USING (tx_id)
"""


def _oneshot_sql() -> str:
    """Per transfer and end (sender, receiver): the account's relationships matured for H days and
    how many of them were one-shot. A relationship is the directed pair's first transfer at f
    (either direction counts for the account); it matures at f + H, when whether a second transfer
    came within H days is known. Matured events and the transfers (as probes) are sorted together
    per account, events of an instant before the probes of that instant ("at or before"), and
    running sums read at the probes: no ASOF join, the same query on every engine."""
    hs = ONESHOT_DAYS
    zero = ", ".join(f"0 AS m{h}, 0 AS o{h}" for h in hs)
    parts = []
    for h in hs:
        cols = ", ".join(
            (f"1 AS m{g}, CASE WHEN s2 IS NULL OR s2 > f + INTERVAL {h} DAY THEN 1 ELSE 0 END AS o{g}" if g == h
             else f"0 AS m{g}, 0 AS o{g}") for g in hs)
        parts.append(f"SELECT acct, f + INTERVAL {h} DAY AS t, 0 AS kind, {cols}, CAST(NULL AS BIGINT) AS tx_id FROM e")
    parts.append(f"SELECT src, ts, 1, {zero}, tx_id FROM _f_base")
    parts.append(f"SELECT dst, ts, 1, {zero}, tx_id FROM _f_base")
    union = "\n    UNION ALL\n    ".join(parts)
    win = "OVER (PARTITION BY acct ORDER BY t, kind ROWS UNBOUNDED PRECEDING)"
    sums = ", ".join(f"sum(m{h}) {win} AS matured{h}, sum(o{h}) {win} AS oneshot{h}" for h in hs)
    outs = ", ".join(f"matured{h}, oneshot{h}" for h in hs)
    return f"""
WITH p AS (SELECT src, dst, min(ts) AS f, min(CASE WHEN pair_n = 2 THEN ts END) AS s2 FROM _f_base GROUP BY src, dst),
e AS (SELECT src AS acct, f, s2 FROM p UNION ALL SELECT dst, f, s2 FROM p),
k AS (
    {union}
), r AS (SELECT acct, tx_id, kind, {sums} FROM k)
SELECT acct, tx_id, {outs} FROM r WHERE kind = 1
"""


# 2 hops, causally: over a receiver's new relationships of the last 7 days (transfers opening a
# pair), what their payers' own features said at the time of those transfers; and the same over
# a sender's new payees. Features of earlier transfers only use what was known then.
NB_SQL = """
WITH t AS (
    SELECT b.tx_id, b.src, b.dst, b.ts,
           CASE WHEN b.pair_n = 1 THEN 1 ELSE 0 END AS nw,
           CASE WHEN b.pair_n = 1 THEN s.out_new7 ELSE 0 END AS s_on7,
           CASE WHEN b.pair_n = 1 AND s.in_new7 > 0 THEN 1 ELSE 0 END AS s_inflow,
           CASE WHEN b.pair_n = 1 THEN d.in_new7 ELSE 0 END AS d_in7
    FROM _f_base b
    JOIN _f_ev s ON s.tx_id = b.tx_id AND s.acct = b.src AND s.dir = 'out'
    JOIN _f_ev d ON d.tx_id = b.tx_id AND d.acct = b.dst AND d.dir = 'in'
)
SELECT tx_id,
       sum(s_on7) OVER wd / nullif(sum(nw) OVER wd, 0) AS d_payers_fanout7,
       sum(s_inflow) OVER wd AS d_payers_inflow7,
       sum(d_in7) OVER ws / nullif(sum(nw) OVER ws, 0) AS s_payees_fanin7
FROM t
WINDOW wd AS (PARTITION BY dst ORDER BY ts RANGE BETWEEN INTERVAL 7 DAY PRECEDING AND CURRENT ROW),
       ws AS (PARTITION BY src ORDER BY ts RANGE BETWEEN INTERVAL 7 DAY PRECEDING AND CURRENT ROW)
"""


def _ratio_cols() -> list[str]:
    def mean(who, d):
        return f"({who}.{d}_amt28 / nullif({who}.{d}_n28, 0))"

    def sd(who, d):
        # E[x^2] - E[x]^2 cancels: for (nearly) equal amounts it leaves rounding noise, up to a few
        # 1e-9 of m^2 over long sums of large amounts, different on each engine. A variance below
        # 1e-6 of m^2 (a coefficient of variation below 0.001: amounts within 0.1 % of each other)
        # counts as none, the same on every engine.
        m = mean(who, d)
        var = f"({who}.{d}_sq28 / nullif({who}.{d}_n28, 0) - {m} * {m})"
        return f"(CASE WHEN {var} <= 1e-6 * {m} * {m} THEN 0.0 ELSE sqrt({var}) END)"

    cols = []
    for who in ("s", "d"):
        cols.append(f"{who}.newfrac_all AS {who}_newfrac_all")
        cols.append(f"({who}.in_new28 + {who}.out_new28) / nullif({who}.in_n28 + {who}.out_n28, 0) AS {who}_newfrac28")
    cols += [f"{sd('s', 'out')} / nullif({mean('s', 'out')}, 0) AS s_out_cv28",
             f"{sd('d', 'in')} / nullif({mean('d', 'in')}, 0) AS d_in_cv28",
             f"(b.amount - {mean('s', 'out')}) / nullif({sd('s', 'out')}, 0) AS amount_z_s28",
             f"(b.amount - {mean('d', 'in')}) / nullif({sd('d', 'in')}, 0) AS amount_z_d28",
             f"b.amount / nullif({mean('d', 'in')}, 0) AS amount_vs_d_mean28",
             "s.in_amt7 / nullif(b.amount, 0) AS s_in7_vs_amount",
             "s.in_amt7 / nullif(s.out_amt7, 0) AS s_pass_ratio7",
             "d.out_amt28 / nullif(d.in_amt28, 0) AS d_pass_ratio28"]
    cols += ["nb.d_payers_fanout7", "nb.s_payees_fanin7", "nb.d_payers_inflow7"]
    for h in ONESHOT_DAYS:
        for who in ("s", "d"):
            cols.append(f"coalesce(o{who}.matured{h}, 0) AS {who}_matured{h}")
            cols.append(f"o{who}.oneshot{h} / nullif(o{who}.matured{h}, 0) AS {who}_oneshot{h}_frac")
    return cols


# how many times the receiver had paid the sender by then: the reverse pair's counter at its
# latest transfer at or before this one (an ASOF join) ...
# (the pair's transfers of one instant taken together: an ASOF join picks any one of tied rows)
REV_ASOF = ("ASOF LEFT JOIN (SELECT src, dst, ts, max(pair_n) AS pair_n FROM _f_base GROUP BY src, dst, ts) r "
            "ON r.src = b.dst AND r.dst = b.src AND r.ts <= b.ts")
# ... or, without one, the running maximum of that counter over the pair's transfers and this
# transfer as a probe (the pair's transfers of the same instant first: "at or before")
REV_FALLBACK = """LEFT JOIN (
    SELECT tx_id, max(pn) OVER (PARTITION BY a, b ORDER BY ts, kind ROWS UNBOUNDED PRECEDING) AS pair_n
    FROM (SELECT src AS a, dst AS b, ts, 0 AS kind, pair_n AS pn, CAST(NULL AS BIGINT) AS tx_id FROM _f_base
          UNION ALL
          SELECT dst, src, ts, 1, NULL, tx_id FROM _f_base)
) r ON r.tx_id = b.tx_id"""


def _final_sql(asof: bool = True) -> str:
    per = []
    for who, acct, d in (("s", "src", "out"), ("d", "dst", "in")):
        cols = [f"{who}.gap_days AS {who}_gap_days", f"{who}.age_days AS {who}_age_days",
                f"{who}.n_so_far AS {who}_n_so_far"]
        for w in WINDOWS:
            for dd in ("in", "out"):
                for k in ("n", "fresh", "amt", "new"):
                    cols.append(f"{who}.{dd}_{k}{w} AS {who}_{dd}_{k}{w}")
        per.append((who, acct, d, cols))
    sel = ",\n       ".join(c for _, _, _, cols in per for c in cols)
    extra = ",\n       ".join(_ratio_cols())
    return f"""
SELECT b.tx_id, b.ts, b.amount, dayofweek(b.ts) AS dow,
       b.pair_n, date_diff('second', b.pair_first, b.ts) / 86400.0 AS pair_age_days,
       coalesce(r.pair_n, 0) AS rev_pair_n,
       {sel},
       b.amount / nullif(s.out_amt28 / nullif(s.out_n28, 0), 0) AS amount_vs_s_mean28,
       s.in_amt28 / nullif(s.out_amt28, 0) AS s_pass_ratio28,
       st.cyc2, st.cyc3, st.sg_legs,
       {extra}
FROM _f_base b
JOIN _f_ev s ON s.tx_id = b.tx_id AND s.acct = b.src AND s.dir = 'out'
JOIN _f_ev d ON d.tx_id = b.tx_id AND d.acct = b.dst AND d.dir = 'in'
JOIN _f_struct st ON st.tx_id = b.tx_id
JOIN _f_one os ON os.tx_id = b.tx_id AND os.acct = b.src
JOIN _f_one od ON od.tx_id = b.tx_id AND od.acct = b.dst
JOIN _f_nb nb ON nb.tx_id = b.tx_id
{REV_ASOF if asof else REV_FALLBACK}
"""


def compute_features(backend, source: str = "SELECT tx_id, src, dst, ts, amount FROM edges "
                                            "WHERE src <> dst", *, table: str = "features") -> dict:
    """Materialize ``table`` (tx_id, ts, then FEATURE_NAMES) from ``source``; return timings.
    On an engine without ASOF joins (``asof_join`` not among its dialect's capabilities) the two
    ASOF matches are made by sorting instead (``WIN_FALLBACK_SQL``, ``REV_FALLBACK``): the same
    values, as the parity tests check."""
    t0 = time.perf_counter()
    asof = "asof_join" in backend.sql_dialect.capabilities
    backend.materialize("_f_base", BASE_SQL.format(source=source), temp=True)
    backend.materialize("_f_ev0", EV0_SQL.format(fresh_cols=_fresh_cols()), temp=True)
    m = _all_metrics()
    backend.materialize("_f_cum", CUM_SQL.format(
        sums=", ".join(f"sum({c}) AS {c}" for c in m),
        cums=", ".join(f"sum({c}) OVER (PARTITION BY acct ORDER BY ts ROWS UNBOUNDED PRECEDING) AS {c}" for c in m)),
        temp=True)
    for w in WINDOWS:
        backend.materialize(f"_f_w{w}", (WIN_SQL if asof else WIN_FALLBACK_SQL).format(w=w, diffs=", ".join(
            f"c.{c} - coalesce(p.{c}, 0) AS {c}" for c in _metric_names(w))), temp=True)
    joins = " ".join(f"JOIN _f_w{w} w{w} ON w{w}.acct = e.acct AND w{w}.ts = e.ts" for w in WINDOWS)
    backend.materialize("_f_ev", EV_SQL.format(window_cols=_window_cols(), joins=joins), temp=True)
    backend.materialize("_f_struct", STRUCT_SQL, temp=True)
    backend.materialize("_f_one", _oneshot_sql(), temp=True)
    backend.materialize("_f_nb", NB_SQL, temp=True)
    n = backend.materialize(table, _final_sql(asof))
    for t in ("_f_base", "_f_ev0", "_f_cum", "_f_ev", "_f_struct", "_f_one", "_f_nb") + tuple(f"_f_w{w}" for w in WINDOWS):
        backend.run(f"DROP TABLE IF EXISTS {t}")
    return {"rows": n, "seconds": time.perf_counter() - t0}


def feature_matrix(backend, table: str = "features", order: str = "ts, tx_id") -> tuple[pa.Table, list[str]]:
    """The features as an Arrow table (tx_id, ts, features...) in the given order."""
    cols = ", ".join(["tx_id", "ts"] + FEATURE_NAMES)
    return backend.execute(f"SELECT {cols} FROM {table} ORDER BY {order}"), list(FEATURE_NAMES)
