"""One transfer seen at two banks: the paying bank's debit matched with the receiving bank's credit.

``match_transfers(con, debits, credits, params=...)`` reads two DuckDB tables (or views) of
*legs* and returns one row per matched movement, both legs as its provenance, with a score and
the reasons in words; :func:`unmatched` lists the legs left over and why.

Leg vocabulary (columns; only the first three are required, a missing optional column is NULL):

``leg_id`` (any type, unique per table), ``amount`` (DECIMAL, positive), ``date`` (DATE or
TIMESTAMP; compared by calendar day), ``currency``, ``memo``, ``payer_account``,
``payee_account``, ``end_to_end_id``, ``bank_reference``, ``source_id``. ``counterparty_name``
is accepted but not compared: on a debit it names the payee, on a credit the payer.

The rules (every value is bound; only the identifiers of the two tables enter the SQL text,
quoted by :func:`moneytrail.sqlkit.ident`):

1. **Candidates** (blocking). A credit is a candidate for a debit when the amounts agree (equal,
   or within ``amount_tolerance`` of the debit's amount, relative: fees taken on the way,
   exchange-rate effects), the currencies are equal where both legs have one, the two legs come
   from different sources where both have ``source_id``, and the credit is booked on the debit's
   day or up to ``window_business_days`` business days later (Monday to Friday, less the
   ``holidays`` given; a weekend day counts with the next business day). An equal end-to-end id
   makes a candidate pair within the window whatever the amounts.
2. **Comparisons** (Fellegi-Sunter, as Splink and every probabilistic linker does). Each pair is
   compared field by field into levels: the amount (equal; within 0.5, 1, 2, 3, 5, 8 % ; further),
   the delay in business days (0, 1, 2, 3, 4, 5, 6-10, more), the memo (equal after case and
   space folding; one is the start of the other, as a receiving bank truncates; else the
   Jaro-Winkler similarity of the folded texts in bands, with or without the same first word,
   the token a bank keeps when it rewrites or reorders the rest), the payer and payee accounts
   and the bank reference (equal / different). A level's weight is log2(m/u): m the share of
   true pairs at that level, u the share of other candidate pairs. m, u and the share of true
   pairs are estimated from the two ledgers themselves by expectation maximisation over the
   candidate pairs (no labels), pulled toward documented default tables with ``prior_strength``
   pseudo-pairs, so a ledger of ten legs is scored by the defaults and one of ten thousand by
   what it shows. An equal end-to-end id is decisive (+``E2E_WEIGHT``), two different ones rule
   the pair out; ``NOTPROVIDED`` and blanks count as absent.
3. **Score** = the sum of the weights: the evidence, in bits, that the two legs are one transfer
   rather than two that happen to fall in one block (Splink's match weight less the prior). Pairs
   scoring below ``threshold`` (default 0: the evidence at least even) are never matched. The
   ``match_probability`` adds the prior odds estimated for a candidate pair; it is low where a
   debit has many candidates, which is why the threshold is on the evidence: the one-to-one step
   already chooses among a leg's candidates.
4. **One to one.** Pairs are taken greedily, best score first (ties: debit leg id, then credit
   leg id), each leg in at most one movement: the same result as repeatedly matching the pairs
   that are each other's best. Legs left over are :func:`unmatched`, with why.

Why not Splink itself: Splink (link_only) scores the same way but has no one-to-one assignment
inside a link (its ``cluster_using_single_best_links`` does it afterwards), needs its own
settings for business days, tolerance blocking and a decisive end-to-end id, and estimates u by
random sampling (nondeterministic unless seeded). This matcher is a few hundred lines of SQL and
NumPy, deterministic, explains each pair in words, and is measured against Splink's own
published approach on the same data (``bench_transfers``, BENCHMARKS.md: F1 0.990 against
0.688, but 4.6 times slower there, because its wider blocking compares 22 million pairs).
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from moneytrail.sqlkit import ident

E2E_WEIGHT = 40.0          # an equal end-to-end id: decisive
ABSENT_E2E = ("", "notprovided", "not provided", "none", "n/a")


@dataclass(frozen=True)
class TransferParams:
    """The matcher's parameters (all general; none depends on a data set).

    ``window_business_days``: the latest a credit may be booked after its debit (default 10:
    two weeks of correspondent banking); ``amount_tolerance``: relative difference allowed
    between the amounts (default 0: equal amounts; fees and exchange effects need more);
    ``threshold``: the lowest evidence (score, bits) matched (default 0);
    ``holidays``: dates that are not business days; ``em_iterations``, ``prior_strength``: the
    estimation (see the module docstring); ``accounts_must_agree`` (default true): two legs whose
    payer accounts (or payee accounts) are both given and differ are never one transfer (bills
    of one amount paid to one payee by two customers on nearby days are two payments, whatever
    their memos say)."""

    window_business_days: int = 10
    amount_tolerance: float = 0.0
    threshold: float = 0.0
    holidays: tuple[_dt.date, ...] = ()
    em_iterations: int = 30
    prior_strength: float = 200.0
    accounts_must_agree: bool = True

    def __post_init__(self):
        if not (isinstance(self.window_business_days, int) and 0 <= self.window_business_days <= 366):
            raise ValueError("window_business_days must be an integer from 0 to 366")
        if not (isinstance(self.amount_tolerance, (int, float)) and 0 <= self.amount_tolerance < 1):
            raise ValueError("amount_tolerance must be a fraction from 0 to below 1")
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ValueError("threshold must be a finite number")
        if not all(isinstance(h, _dt.date) for h in self.holidays):
            raise ValueError("holidays must be dates")
        if not (isinstance(self.em_iterations, int) and 0 <= self.em_iterations <= 1000):
            raise ValueError("em_iterations must be an integer from 0 to 1000")
        if not (isinstance(self.prior_strength, (int, float)) and 0 < self.prior_strength < 1e9):
            raise ValueError("prior_strength must be positive")
        if not isinstance(self.accounts_must_agree, bool):
            raise ValueError("accounts_must_agree must be true or false")


# -- comparisons: levels, their words and the default m/u tables -----------------------------------
# level 0 of every comparison is "absent" (a NULL on either side): it weighs nothing

AMOUNT_BANDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08)
COMPARISONS: dict[str, dict[str, Any]] = {
    "amount": {
        "sql": ("CASE WHEN rel = 0 THEN 1 " + " ".join(
            f"WHEN rel <= {b!r} THEN {i + 2}" for i, b in enumerate(AMOUNT_BANDS)) + " ELSE 8 END"),
        "m": [0, .45, .12, .1, .1, .08, .08, .05, .02],
        "u": [0, .03, .03, .04, .08, .08, .16, .24, .34],
    },
    "delay": {
        "sql": "CASE WHEN bd <= 5 THEN bd + 1 WHEN bd <= 10 THEN 7 ELSE 8 END",
        "m": [0, .2, .35, .2, .07, .05, .04, .06, .03],
        "u": [0, .08, .08, .08, .08, .08, .08, .3, .22],
    },
    "memo": {
        "sql": """CASE WHEN ma IS NULL OR mb IS NULL THEN 0 WHEN ma = mb THEN 1
                  WHEN least(length(ma), length(mb)) >= 3 AND (starts_with(ma, mb) OR starts_with(mb, ma)) THEN 2
                  WHEN fa = fb AND jw >= 0.9 THEN 3 WHEN fa = fb AND jw >= 0.8 THEN 4 WHEN fa = fb THEN 5
                  WHEN jw >= 0.9 THEN 6 WHEN jw >= 0.8 THEN 7 WHEN jw >= 0.7 THEN 8 ELSE 9 END""",
        "m": [0, .4, .25, .12, .08, .05, .04, .03, .02, .01],
        "u": [0, .002, .004, .01, .02, .06, .01, .05, .15, .694],
    },
    "payer_account": {"sql": "CASE WHEN pa IS NULL OR pb IS NULL THEN 0 WHEN pa = pb THEN 1 ELSE 2 END",
                      "m": [0, .95, .05], "u": [0, .01, .99]},
    "payee_account": {"sql": "CASE WHEN qa IS NULL OR qb IS NULL THEN 0 WHEN qa = qb THEN 1 ELSE 2 END",
                      "m": [0, .95, .05], "u": [0, .01, .99]},
    "bank_reference": {"sql": "CASE WHEN ra IS NULL OR rb IS NULL THEN 0 WHEN ra = rb THEN 1 ELSE 2 END",
                       "m": [0, .5, .5], "u": [0, .001, .999]},
}
NAMES = tuple(COMPARISONS)

OUT_SCHEMA = pa.schema([
    ("debit_leg_id", pa.string()), ("credit_leg_id", pa.string()), ("score", pa.float64()),
    ("match_probability", pa.float64()), ("debit_amount", pa.decimal128(38, 4)),
    ("credit_amount", pa.decimal128(38, 4)), ("currency", pa.string()), ("debit_date", pa.date32()),
    ("credit_date", pa.date32()), ("business_days", pa.int32()), ("memo_similarity", pa.float64()),
    ("end_to_end_equal", pa.bool_()), ("reasons", pa.string()),
])


def _cols(con, table: str) -> set[str]:
    return {r[0].lower() for r in con.execute(f"DESCRIBE SELECT * FROM {_name(table)}").fetchall()}


def _name(table: str) -> str:
    """A table name, possibly ``schema.table``, quoted part by part."""
    if not isinstance(table, str) or not table:
        raise ValueError("a table name is required")
    return ".".join(ident(p) for p in table.split("."))


def _legs_sql(con, table: str) -> str:
    have = _cols(con, table)
    missing = {"leg_id", "amount", "date"} - have
    if missing:
        raise ValueError(f"{table} lacks the column(s) {', '.join(sorted(missing))}")

    def opt(c, expr=None):
        return (expr or ident(c)) if c in have else "NULL"

    e2e = f"CASE WHEN lower(trim(CAST({ident('end_to_end_id')} AS VARCHAR))) IN (SELECT unnest(?::VARCHAR[])) " \
          f"THEN NULL ELSE trim(CAST({ident('end_to_end_id')} AS VARCHAR)) END"
    return f"""
      SELECT CAST({ident('leg_id')} AS VARCHAR) AS leg_id, CAST({ident('amount')} AS DECIMAL(38,4)) AS amount,
             CAST({ident('date')} AS DATE) AS day,
             nullif(upper(trim(CAST({opt('currency')} AS VARCHAR))), '') AS currency,
             CAST({opt('memo')} AS VARCHAR) AS memo,
             nullif(lower(trim(regexp_replace(CAST({opt('memo')} AS VARCHAR), '\\s+', ' ', 'g'))), '') AS m,
             nullif(upper(regexp_replace(CAST({opt('payer_account')} AS VARCHAR), '[\\s-]', '', 'g')), '') AS payer,
             nullif(upper(regexp_replace(CAST({opt('payee_account')} AS VARCHAR), '[\\s-]', '', 'g')), '') AS payee,
             {opt('end_to_end_id', e2e) if 'end_to_end_id' in have else 'NULL'} AS e2e,
             nullif(trim(CAST({opt('bank_reference')} AS VARCHAR)), '') AS ref,
             CAST({opt('source_id')} AS VARCHAR) AS src
      FROM {_name(table)}
      WHERE {ident('amount')} IS NOT NULL AND {ident('date')} IS NOT NULL AND {ident('leg_id')} IS NOT NULL"""


# business days: Monday to Friday counted from 0001-01-01 (a Monday), less the holidays before
_BDAY = ("(5 * (date_diff('day', DATE '0001-01-01', {d}) // 7) + least(date_diff('day', DATE '0001-01-01', {d}) % 7, 5)"
         " - (SELECT count(*) FROM (SELECT unnest(?::DATE[]) h) WHERE h < {d} AND isodow(h) < 6))")


def _prepare(con, debits: str, credits: str, p: TransferParams, tag: str) -> None:
    hol = sorted(set(p.holidays))
    for side, table in (("d", debits), ("c", credits)):
        sql = _legs_sql(con, table)
        args = [list(ABSENT_E2E)] if "end_to_end_id" in _cols(con, table) else []
        con.execute(f"CREATE OR REPLACE TEMP TABLE {tag}_{side} AS SELECT *, {_BDAY.format(d='day + 1')} AS w, "
                    f"split_part(m, ' ', 1) AS f, CAST(amount AS DOUBLE) AS x, "
                    f"row_number() OVER (ORDER BY leg_id) AS i FROM ({sql})",
                    [hol] + args)
    # the calendar days the window can span: N business days, the weekends between and the holidays
    span = p.window_business_days + 2 * (p.window_business_days // 5 + 1) + len(hol)
    tol = float(p.amount_tolerance)
    args = [span]
    if tol > 0:
        amount_rule = "c.x BETWEEN d.x * (1 - CAST(? AS DOUBLE)) AND d.x * (1 + CAST(? AS DOUBLE))"
        args += [tol, tol]
    else:
        amount_rule = "c.amount = d.amount"
    feats = """c.w - d.w AS bd, CASE WHEN c.amount = d.amount THEN 0.0 ELSE abs(c.x - d.x) / d.x END AS rel,
               d.m AS ma, c.m AS mb, d.f AS fa, c.f AS fb,
               CASE WHEN d.m IS NULL OR c.m IS NULL THEN NULL ELSE jaro_winkler_similarity(d.m, c.m) END AS jw,
               d.payer AS pa, c.payer AS pb, d.payee AS qa, c.payee AS qb, d.ref AS ra, c.ref AS rb,
               coalesce(d.e2e = c.e2e, FALSE) AS e2e_eq"""
    rules = """c.w - d.w <= CAST(? AS INTEGER) AND d.amount > 0
          AND (d.currency IS NULL OR c.currency IS NULL OR d.currency = c.currency)
          AND (d.src IS NULL OR c.src IS NULL OR d.src <> c.src)
          AND (d.e2e IS NULL OR c.e2e IS NULL OR d.e2e = c.e2e)"""
    if p.accounts_must_agree:
        rules += """
          AND (d.payer IS NULL OR c.payer IS NULL OR d.payer = c.payer)
          AND (d.payee IS NULL OR c.payee IS NULL OR d.payee = c.payee)"""
    sql = (f"SELECT d.i AS di, c.i AS ci, {feats} FROM temp.main.{tag}_d d JOIN temp.main.{tag}_c c "
           f"ON c.day BETWEEN d.day AND d.day + CAST(? AS INTEGER) AND {amount_rule} WHERE {rules}")
    args = args + [p.window_business_days]
    if "end_to_end_id" in _cols(con, debits) and "end_to_end_id" in _cols(con, credits):
        # an equal end-to-end id makes a candidate whatever the amounts (those the amount rule missed)
        sql += (f" UNION ALL SELECT d.i, c.i, {feats} FROM temp.main.{tag}_d d JOIN temp.main.{tag}_c c "
                f"ON c.e2e = d.e2e AND c.day BETWEEN d.day AND d.day + CAST(? AS INTEGER) "
                f"WHERE NOT ({amount_rule}) AND {rules}")
        args = args + [span] + args[1:-1] + [p.window_business_days]
    levels = ", ".join(f"CAST({c['sql']} AS UTINYINT) AS {ident('l_' + n)}" for n, c in COMPARISONS.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {tag}_p AS SELECT di, ci, bd, rel, jw, e2e_eq, {levels} "
                f"FROM ({sql})", args)


def _estimate(con, tag: str, p: TransferParams, n_debits: int, n_credits: int):
    """EM over the comparison patterns: (weights per comparison and level, log2 prior odds)."""
    cols = ", ".join(ident("l_" + n) for n in NAMES)
    pat = con.execute(f"SELECT {cols}, count(*) FROM temp.main.{tag}_p WHERE NOT e2e_eq "
                      f"GROUP BY ALL ORDER BY ALL").fetchnumpy()
    levels = np.stack([pat["l_" + n].astype(np.int64) for n in NAMES], axis=1) if len(pat["count_star()"]) else \
        np.zeros((0, len(NAMES)), np.int64)
    cnt = pat["count_star()"].astype(np.float64)
    m0 = [np.asarray(COMPARISONS[n]["m"], float) for n in NAMES]
    u0 = [np.asarray(COMPARISONS[n]["u"], float) for n in NAMES]
    m, u = [a.copy() for a in m0], [a.copy() for a in u0]
    total = cnt.sum()
    a = float(p.prior_strength)
    lam0 = min(1.0, min(n_debits, n_credits) / total) if total else 0.5
    lam0 = min(max(lam0, 1e-9), 0.5)
    lam = lam0
    for _ in range(p.em_iterations if total else 0):
        lm = np.full(len(cnt), math.log(lam))
        lu = np.full(len(cnt), math.log(1 - lam))
        for k in range(len(NAMES)):
            lv = levels[:, k]
            present = lv > 0
            lm = lm + np.where(present, np.log(np.maximum(m[k][lv], 1e-12)), 0)
            lu = lu + np.where(present, np.log(np.maximum(u[k][lv], 1e-12)), 0)
        r = 1 / (1 + np.exp(np.clip(lu - lm, -700, 700)))
        wm, wu = cnt * r, cnt * (1 - r)
        for k in range(len(NAMES)):
            lv = levels[:, k]
            mk = np.bincount(lv, weights=wm, minlength=len(m0[k]))[:len(m0[k])]
            uk = np.bincount(lv, weights=wu, minlength=len(u0[k]))[:len(u0[k])]
            mk[0] = uk[0] = 0
            # pulled toward the defaults by `a` pseudo-pairs (scaled for m by the prior share)
            am = a * max(lam0, 1e-3)
            m[k] = (mk + am * m0[k]) / (mk.sum() + am)
            u[k] = (uk + a * u0[k]) / (uk.sum() + a)
        lam = float((wm.sum() + a * lam0) / (total + a))
        lam = min(max(lam, 1e-9), 1 - 1e-9)
    weights = [np.where(np.arange(len(m[k])) > 0, np.log2(np.maximum(m[k], 1e-12) / np.maximum(u[k], 1e-12)), 0.0)
               for k in range(len(NAMES))]
    return weights, math.log2(lam / (1 - lam))



def _scored(con, tag: str, p: TransferParams):
    """Estimate, then register ``{tag}_w`` (each comparison pattern with its evidence weight) and
    return (weights, log2 prior odds, the SQL of the scored pairs: di, ci, score and the columns of _p)."""
    n_d = con.execute(f"SELECT count(*) FROM temp.main.{tag}_d").fetchall()[0][0]
    n_c = con.execute(f"SELECT count(*) FROM temp.main.{tag}_c").fetchall()[0][0]
    weights, prior = _estimate(con, tag, p, n_d, n_c)
    cols = [ident("l_" + n) for n in NAMES]
    pat = con.execute(f"SELECT DISTINCT {', '.join(cols)} FROM temp.main.{tag}_p ORDER BY ALL").fetchnumpy()
    score = np.zeros(len(pat["l_" + NAMES[0]]) if NAMES else 0)
    for k, n in enumerate(NAMES):
        score = score + weights[k][pat["l_" + n].astype(np.int64)]
    wt = pa.table({**{"l_" + n: pa.array(pat["l_" + n], pa.uint8()) for n in NAMES},
                   "w": pa.array(score, pa.float64())})
    con.register(f"{tag}_w", wt)
    sql = (f"SELECT p.*, w.w + CASE WHEN p.e2e_eq THEN {float(E2E_WEIGHT)!r} ELSE 0 END AS score "
           f"FROM temp.main.{tag}_p p JOIN {tag}_w w USING ({', '.join(cols)})")
    return weights, prior, sql

def _words(name: str, level: int, row: dict) -> str | None:
    if name == "amount":
        if level == 1:
            return "amount equal"
        return f"amounts differ by {row['rel'] * 100:.2f} %"
    if name == "delay":
        bd = row["bd"]
        return "credited the same business day" if bd == 0 else \
            f"credited {bd} business day{'s' if bd != 1 else ''} later"
    if name == "memo":
        jw = row["jw"]
        return {1: "memo equal", 2: "one memo is the start of the other (truncated)",
                3: f"memo similarity {jw:.2f}, same first word", 4: f"memo similarity {jw:.2f}, same first word",
                5: f"memo similarity {jw:.2f}, same first word"}.get(level, f"memo similarity {jw:.2f}")
    label = name.replace("_", " ")
    return f"{label} equal" if level == 1 else f"{label} different"


def match_transfers(con, debits: str, credits: str, *, params: TransferParams | dict | None = None) -> pa.Table:
    """The movements: each debit of ``debits`` matched with at most one credit of ``credits``.

    Columns: ``debit_leg_id``, ``credit_leg_id`` (the legs' ids as text), ``score`` (the
    evidence: sum of the comparisons' weights, bits), ``match_probability`` (with the prior), ``debit_amount``, ``credit_amount``, ``currency``
    (the debit's, else the credit's), ``debit_date``, ``credit_date``, ``business_days``,
    ``memo_similarity`` (Jaro-Winkler of the folded memos, NULL without both), ``end_to_end_equal``,
    ``reasons`` (the comparisons in words, each with its weight). Sorted by ``debit_leg_id``,
    ``credit_leg_id``. Same input, same output.
    """
    p = _params(params)
    tag = "_mt_tm"
    _prepare(con, debits, credits, p, tag)
    try:
        weights, prior, scored = _scored(con, tag, p)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {tag}_s AS {scored} WHERE score >= CAST(? AS DOUBLE)",
                    [float(p.threshold)])
        # ties: the debit's leg id, then the credit's (i numbers the legs in leg id order)
        cand = con.execute(f"SELECT di, ci FROM temp.main.{tag}_s ORDER BY score DESC, di, ci").fetchnumpy()
        keep = _greedy(cand["di"], cand["ci"])
        chosen = pa.table({"di": pa.array(cand["di"][keep], pa.int64()), "ci": pa.array(cand["ci"][keep], pa.int64())})
        con.register(f"{tag}_chosen", chosen)
        try:
            cur = con.execute(f"""
              SELECT s.*, d.leg_id AS dl, c.leg_id AS cl, d.amount AS da, c.amount AS ca,
                     coalesce(d.currency, c.currency) AS cur, d.day AS dday, c.day AS cday
              FROM {tag}_chosen k JOIN temp.main.{tag}_s s ON s.di = k.di AND s.ci = k.ci
              JOIN temp.main.{tag}_d d ON d.i = s.di JOIN temp.main.{tag}_c c ON c.i = s.ci
              ORDER BY s.di, s.ci""")
            names = [c[0] for c in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            con.unregister(f"{tag}_chosen")
        out = {f.name: [] for f in OUT_SCHEMA}
        for r in rows:
            reasons = []
            for k, n in enumerate(NAMES):
                lv = r["l_" + n]
                if lv:
                    reasons.append(f"{_words(n, lv, r)} ({weights[k][lv]:+.1f})")
            if r["e2e_eq"]:
                reasons.append("end-to-end id equal (decisive)")
            s = float(r["score"])
            for k, v in (("debit_leg_id", r["dl"]), ("credit_leg_id", r["cl"]), ("score", round(s, 6)),
                         ("match_probability", 1 / (1 + 2 ** -(s + prior)) if s + prior > -1000 else 0.0),
                         ("debit_amount", r["da"]), ("credit_amount", r["ca"]), ("currency", r["cur"]),
                         ("debit_date", r["dday"]), ("credit_date", r["cday"]), ("business_days", r["bd"]),
                         ("memo_similarity", r["jw"]), ("end_to_end_equal", r["e2e_eq"]),
                         ("reasons", ", ".join(reasons))):
                out[k].append(v)
        return pa.table(out, schema=OUT_SCHEMA)
    finally:
        _drop(con, tag)


def _drop(con, tag: str) -> None:
    for s in ("d", "c", "p", "s"):
        con.execute(f"DROP TABLE IF EXISTS temp.main.{tag}_{s}")
    try:
        con.unregister(f"{tag}_w")
    except Exception:  # never registered (a failure before the estimate)
        pass


def _greedy(dl: np.ndarray, cl: np.ndarray) -> np.ndarray:
    """Indexes of the pairs taken, in the order given (best first), each leg at most once."""
    used_d: set = set()
    used_c: set = set()
    out = []
    for i, (a, b) in enumerate(zip(dl.tolist(), cl.tolist())):
        if a in used_d or b in used_c:
            continue
        used_d.add(a)
        used_c.add(b)
        out.append(i)
    return np.asarray(out, dtype=np.int64)


def _params(params) -> TransferParams:
    if params is None:
        return TransferParams()
    if isinstance(params, TransferParams):
        return params
    if isinstance(params, dict):
        d = dict(params)
        if "holidays" in d:
            d["holidays"] = tuple(d["holidays"])
        return TransferParams(**d)
    raise TypeError("params must be TransferParams, a dict or None")


def unmatched(con, debits: str, credits: str, matches: pa.Table, *,
              params: TransferParams | dict | None = None) -> pa.Table:
    """The legs of ``debits`` and ``credits`` in no movement of ``matches``, with why.

    Columns: ``side`` ('debit' or 'credit'), ``leg_id`` (text), ``candidates`` (how many legs of
    the other side pass the candidate rules), ``best_score`` (NULL without a candidate),
    ``reason``: no candidate within the window and amount rules; the best candidate scored below
    the threshold; or every candidate above it went to another leg. Sorted by side, leg id.
    """
    p = _params(params)
    tag = "_mt_tu"
    _prepare(con, debits, credits, p, tag)
    try:
        weights, prior, scored = _scored(con, tag, p)
        m = pa.table({"dl": matches.column("debit_leg_id").cast(pa.string()),
                      "cl": matches.column("credit_leg_id").cast(pa.string())})
        con.register(f"{tag}_m", m)
        try:
            rows = con.execute(f"""
              WITH s AS (SELECT d.leg_id AS dl, c.leg_id AS cl, x.score
                         FROM ({scored}) x JOIN temp.main.{tag}_d d ON d.i = x.di
                         JOIN temp.main.{tag}_c c ON c.i = x.ci),
              legs AS (SELECT 'debit' AS side, leg_id FROM temp.main.{tag}_d WHERE leg_id NOT IN (SELECT dl FROM {tag}_m)
                       UNION ALL
                       SELECT 'credit', leg_id FROM temp.main.{tag}_c WHERE leg_id NOT IN (SELECT cl FROM {tag}_m))
              SELECT * FROM (
                SELECT l.side, l.leg_id, count(s.score) AS candidates, max(s.score) AS best_score
                FROM legs l LEFT JOIN s ON s.dl = l.leg_id WHERE l.side = 'debit' GROUP BY ALL
                UNION ALL
                SELECT l.side, l.leg_id, count(s.score), max(s.score)
                FROM legs l LEFT JOIN s ON s.cl = l.leg_id WHERE l.side = 'credit' GROUP BY ALL)
              ORDER BY side DESC, leg_id""").fetchall()
        finally:
            con.unregister(f"{tag}_m")
    finally:
        _drop(con, tag)
    out = {"side": [], "leg_id": [], "candidates": [], "best_score": [], "reason": []}
    for side, leg, n, best in rows:
        if not n:
            why = "no leg on the other side within the window and amount rules"
        elif best < p.threshold:
            why = f"best candidate scored {best:.1f}, below the threshold {p.threshold:g}"
        else:
            why = "every candidate above the threshold was matched to a leg that scored higher"
        for k, v in (("side", side), ("leg_id", leg), ("candidates", n),
                     ("best_score", None if best is None else round(float(best), 6)), ("reason", why)):
            out[k].append(v)
    return pa.table(out, schema=pa.schema([("side", pa.string()), ("leg_id", pa.string()),
                                           ("candidates", pa.int64()), ("best_score", pa.float64()),
                                           ("reason", pa.string())]))


# -- benchmark ------------------------------------------------------------------------------------

#: the settings the benchmark runs with, and why (none is tuned to the data's ids, dates or sizes)
BENCH_PARAMS = {
    # the receiving bank books up to three weeks later in these files (their README: "a few days";
    # measured: up to 15 business days): the window is three weeks of business days
    "window_business_days": 15,
    # "hidden fees and foreign exchange effects" (Splink's description of the data): amounts are
    # allowed to differ by 15 % (Splink's own tutorial blocks within 30 %)
    "amount_tolerance": 0.15,
    "threshold": 0.0,
}


def _legs_from(con, path: Path, name: str) -> None:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["unique_id", "transaction_date", "amount", "memo", "ground_truth"])
    con.register(f"{name}_raw", t)
    con.execute(f"""CREATE OR REPLACE TABLE {name} AS
        SELECT unique_id AS leg_id, CAST(round(amount, 4) AS DECIMAL(18,4)) AS amount,
               transaction_date AS date, memo, ground_truth FROM {name}_raw""")
    con.unregister(f"{name}_raw")


def _pairwise(con, pairs: str) -> dict[str, Any]:
    """Precision, recall and F1 of ``pairs`` (dl, cl as text) against the ground truth."""
    tp, n = con.execute(f"""SELECT count(*) FILTER (WHERE o.ground_truth = d.ground_truth), count(*)
        FROM {pairs} p JOIN origin o ON CAST(o.leg_id AS VARCHAR) = p.dl
        JOIN destination d ON CAST(d.leg_id AS VARCHAR) = p.cl""").fetchall()[0]
    truth = con.execute("SELECT count(*) FROM origin o JOIN destination d USING (ground_truth)").fetchall()[0][0]
    prec = tp / n if n else 0.0
    rec = tp / truth if truth else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"pairs": n, "true_pairs": truth, "true_positives": tp, "precision": round(prec, 4),
            "recall": round(rec, 4), "f1": round(f1, 4)}


def _peer_splink(origin: Path, destination: Path) -> dict[str, Any]:
    """Splink's published transactions example (link_only), written here from its documentation:
    the same blocking rules (less the one that blocks on the answer's id), the amount, memo and
    one-sided date comparisons, u by random sampling (1e6 pairs, seeded), EM on memo then on
    amount, predictions from probability 0.001; scored as pairs at probability >= 0.5, and one to
    one with Splink's ``cluster_using_single_best_links`` at the same threshold."""
    import pyarrow.parquet as pq
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    import logging

    logging.getLogger("splink").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    o = pq.read_table(origin)
    d = pq.read_table(destination)
    same_month = """strftime(l.transaction_date, '%Y%m') = strftime(r.transaction_date, '%Y%m')
        and substr(l.memo, 1, 3) = substr(r.memo, 1, 3) and l.amount/r.amount > 0.7 and l.amount/r.amount < 1.3"""
    half_month = """strftime(l.transaction_date + 15, '%Y%m') = strftime(r.transaction_date, '%Y%m')
        and substr(l.memo, 1, 3) = substr(r.memo, 1, 3) and l.amount/r.amount > 0.7 and l.amount/r.amount < 1.3"""
    amount_week = ("round(l.amount/2, 0)*2 = round(r.amount/2, 0)*2 "
                   "and yearweek(r.transaction_date) = yearweek(l.transaction_date)")
    amount_week_2 = ("round(l.amount/2, 0)*2 = round((r.amount+1)/2, 0)*2 "
                     "and yearweek(r.transaction_date) = yearweek(l.transaction_date + 4)")
    within = "transaction_date_r - transaction_date_l <= {n} and transaction_date_r >= transaction_date_l"
    amount = {"output_column_name": "amount", "comparison_description": "amount percentage difference",
              "comparison_levels": [cll.NullLevel("amount"), cll.ExactMatchLevel("amount")]
              + [cll.PercentageDifferenceLevel("amount", x) for x in (0.01, 0.03, 0.1, 0.3)] + [cll.ElseLevel()]}
    date = {"output_column_name": "transaction_date", "comparison_description": "days apart, one-sided",
            "comparison_levels": [cll.NullLevel("transaction_date")]
            + [{"sql_condition": within.format(n=n), "label_for_charts": f"<= {n} days"} for n in (1, 4, 10, 30)]
            + [cll.ElseLevel()]}
    settings = SettingsCreator(
        link_type="link_only", probability_two_random_records_match=1 / o.num_rows,
        blocking_rules_to_generate_predictions=[same_month, half_month, block_on("substr(memo, 1, 9)"),
                                                amount_week, amount_week_2],
        comparisons=[amount, cl.LevenshteinAtThresholds("memo", [2, 6, 10]), date])
    db = DuckDBAPI()
    linker = Linker([db.register(o, dataset_display_name="origin"), db.register(d, dataset_display_name="destination")],
                    settings)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("memo"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("amount"))
    pred = linker.inference.predict(threshold_match_probability=0.001)
    seconds_predict = time.perf_counter() - t0
    one = linker.clustering.cluster_using_single_best_links(pred, duplicate_free_datasets=["origin", "destination"],
                                                            threshold_match_probability=0.5)
    seconds = time.perf_counter() - t0
    pp = pred.as_pyarrow_table()
    cc = one.as_pyarrow_table()
    import duckdb

    c2 = duckdb.connect()
    c2.register("pp", pp)
    c2.register("cc", cc)
    # the source dataset order in a pair is Splink's (origin before destination by name)
    pairs = c2.sql("""SELECT CAST(CASE WHEN source_dataset_l = 'origin' THEN unique_id_l ELSE unique_id_r END AS VARCHAR) AS dl,
                             CAST(CASE WHEN source_dataset_l = 'origin' THEN unique_id_r ELSE unique_id_l END AS VARCHAR) AS cl
                      FROM pp WHERE match_probability >= 0.5""").to_arrow_table()
    oto = c2.sql("""SELECT CAST(a.unique_id AS VARCHAR) AS dl, CAST(b.unique_id AS VARCHAR) AS cl
                    FROM cc a JOIN cc b ON a.cluster_id = b.cluster_id
                    WHERE a.source_dataset = 'origin' AND b.source_dataset = 'destination'""").to_arrow_table()
    c2.close()
    return {"pairs": pairs, "one_to_one": oto, "seconds_to_predictions": round(seconds_predict, 2),
            "seconds": round(seconds, 2)}


def bench_transfers(data_dir: Path, *, peer: bool = True, params: dict | None = None) -> dict[str, Any]:
    """Transfer matching measured on Splink's transactions data (``data_dir``: the folder holding
    ``transactions_origin.parquet`` and ``transactions_destination.parquet``, whose
    ``ground_truth`` marks the same transfer): pairwise precision, recall, F1, matched and
    unmatched counts and seconds; with ``peer``, Splink's published approach timed in the same
    run. Returns a JSON-able dict (printed by ``moneytrail bench resolve``)."""
    import duckdb

    data_dir = Path(data_dir)
    origin = data_dir / "transactions_origin.parquet"
    destination = data_dir / "transactions_destination.parquet"
    settings = dict(BENCH_PARAMS, **(params or {}))
    con = duckdb.connect()
    try:
        _legs_from(con, origin, "origin")
        _legs_from(con, destination, "destination")
        t0 = time.perf_counter()
        res = match_transfers(con, "origin", "destination", params=settings)
        seconds = time.perf_counter() - t0
        con.register("_bench_m", res.select(["debit_leg_id", "credit_leg_id"]).rename_columns(["dl", "cl"]))
        ours = _pairwise(con, "_bench_m")
        n_o = con.execute("SELECT count(*) FROM origin").fetchall()[0][0]
        n_d = con.execute("SELECT count(*) FROM destination").fetchall()[0][0]
        out: dict[str, Any] = {
            "data": {"debits": n_o, "credits": n_d},
            "settings": settings,
            "moneytrail": dict(ours, matched=res.num_rows, unmatched_debits=n_o - res.num_rows,
                               unmatched_credits=n_d - res.num_rows, seconds=round(seconds, 2)),
        }
        if peer:
            pr = _peer_splink(origin, destination)
            con.register("_bench_pp", pr["pairs"])
            con.register("_bench_po", pr["one_to_one"])
            out["peer"] = {
                "tool": "splink " + _splink_version() + ", transactions example (link_only)",
                "pairs_at_0.5": _pairwise(con, "_bench_pp"),
                "one_to_one_at_0.5": _pairwise(con, "_bench_po"),
                "seconds_to_predictions": pr["seconds_to_predictions"],
                "seconds": pr["seconds"],
            }
            out["time_ratio_moneytrail_to_peer"] = round(seconds / pr["seconds"], 3) if pr["seconds"] else None
        return out
    finally:
        con.close()


def _splink_version() -> str:
    from importlib.metadata import version

    return version("splink")


if __name__ == "__main__":       # python -m moneytrail.resolve.transfers DATA_DIR [--no-peer]
    import json
    import sys

    print(json.dumps(bench_transfers(Path(sys.argv[1]), peer="--no-peer" not in sys.argv[2:]), indent=2,
                     default=str))
