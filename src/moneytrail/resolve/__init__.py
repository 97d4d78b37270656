"""Stage 2, resolve: which records are the same party, account and transfer (issue 14).

Products (all rebuilt together when the evidence, the parameters or an officer's match decision
changes; see :mod:`moneytrail.freshness`):

``party_records``
    every party the evidence names, with what it says (:mod:`moneytrail.resolve.parties`);
``transfer_matches``
    one transfer seen at two banks: the paying bank's debit and the receiving bank's credit
    matched into one movement (:mod:`moneytrail.resolve.movements` over the matcher of
    :mod:`moneytrail.resolve.transfers`); the graph keeps the debit
    as the movement and both legs stay its provenance;
``account_map``
    ``raw_account -> account_id`` with the rule and why (:mod:`moneytrail.resolve.accounts`:
    ``identity``, ``same-number``, ``matched-transfer``);
``match_pairs``, ``entity_members``, ``entities``, ``account_entities``
    entity resolution of the party records with Splink (:mod:`moneytrail.resolve.scoring` over
    :mod:`moneytrail.resolve.entities`):
    pairs scored by a model trained on the case's own records (stored in ``er_models``), merged
    at or above ``upper``, queued for an officer between ``lower`` and ``upper``, officers'
    decisions (``match_decisions``) always winning (:mod:`moneytrail.resolve.review`); each
    account linked to the entity its holder records belong to.

Scope: resolution links parties within the case's own evidence to follow money. Nothing is
looked up or matched outside it: no outside list of persons, no taxpayer or immigration data.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

NAME = "resolve"
NEEDS = ("transactions", "accounts", "account_records", "sources", "match_decisions")
MAKES = ("account_map", "party_records", "transfer_matches", "match_pairs", "entity_members", "entities",
         "account_entities")
UPPER = 0.96        # merge at or above this match probability (the engine's default: weight about +4.6)
LOWER = 0.50        # review from this probability up to UPPER (weight 0: as likely a match as not)
PARAMS = {"upper": UPPER, "lower": LOWER}      # what changes what it makes, defaults
MIN_RECORDS = 2     # fewer named records: nothing to resolve


def check_params(given: dict[str, Any]) -> dict[str, float]:
    """The thresholds given (None: the default), checked: 0 < lower <= upper <= 1."""
    from moneytrail.errors import ConfigError

    out = {}
    for k in ("upper", "lower"):
        v = given.get(k)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1:
            raise ConfigError(f"resolve: {k} {str(v)[:40]!r}: a match probability above 0, at most 1")
        out[k] = float(v)
    lo, up = out.get("lower", LOWER), out.get("upper", UPPER)
    if lo > up:
        raise ConfigError(f"resolve: lower ({lo}) must be at most upper ({up})")
    return out


def run(ctx) -> dict:
    from moneytrail.resolve.accounts import build_account_map, same_number_map
    from moneytrail.resolve.parties import PARTY_RECORDS_SQL

    ws, be, con = ctx.ws, ctx.backend, ctx.ws.con
    p = {**PARAMS, **check_params(ctx.params)}
    out: dict[str, Any] = {}
    out["records"] = be.materialize("party_records", PARTY_RECORDS_SQL)

    # one transfer seen at two banks
    tm = _match_transfers(ctx)
    out.update(tm["summary"])

    # accounts: the same number written another way; the account a matched transfer landed in
    rules = {r["raw_account"]: r for r in same_number_map(con)}
    for r in tm["account_rules"]:
        rules.setdefault(r["raw_account"], r)
    out["account_rules"] = build_account_map(be, con, _compose(rules))

    # parties: entity resolution, the officers' decisions winning
    er = _entities(ctx, p)
    out.update(er)
    out["lines"] = _lines(out, p)
    return out


def _compose(rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Follow chains (a -> b by one rule, b -> c by another) to the end; a cycle stays as it is."""
    out = []
    for raw, r in rules.items():
        target, reasons, seen = r["account_id"], [r["reason"]], {raw}
        while target in rules and target not in seen:
            seen.add(target)
            reasons.append(rules[target]["reason"])
            target = rules[target]["account_id"]
        if target != raw:
            out.append({**r, "account_id": target, "reason": "; then ".join(reasons)})
    return out


# -- transfers ---------------------------------------------------------------------------------------

LEGS_SQL = """
SELECT t.tx_id AS leg_id,
       -- what reported the leg: a statement (one account's, in its file), or a ledger row, which is
       -- both sides of its transfer at once (it never matches itself)
       CASE WHEN t.statement_account IS NULL THEN CAST(t.source_id AS VARCHAR)
            ELSE CAST(t.source_id AS VARCHAR) || ':' || t.statement_account END AS source_id,
       t.amount, t.currency, t.ts AS date, t.description AS memo,
       {num_o} AS payer_account, {num_b} AS payee_account, t.end_to_end_id,
       t.orig_account AS written_payer, t.bene_account AS written_payee
FROM transactions t
WHERE NOT ({pseudo_o}) AND NOT ({pseudo_b}) AND {side}
"""

MATCHES_SQL = """
SELECT CAST(m.debit_leg_id AS BIGINT) AS debit_tx, CAST(m.credit_leg_id AS BIGINT) AS credit_tx,
       m.score, m.match_probability, m.business_days, m.reasons,
       CAST(split_part(d.source_id, ':', 1) AS INTEGER) AS debit_source,
       CAST(split_part(c.source_id, ':', 1) AS INTEGER) AS credit_source,
       d.written_payer AS debit_payer, d.written_payee AS debit_payee,
       c.written_payer AS credit_payer, c.written_payee AS credit_payee
FROM _tm m JOIN _legs_d d ON d.leg_id = CAST(m.debit_leg_id AS BIGINT)
           JOIN _legs_c c ON c.leg_id = CAST(m.credit_leg_id AS BIGINT)
"""

EMPTY_MATCHES_SQL = """
SELECT CAST(NULL AS BIGINT) AS debit_tx, CAST(NULL AS BIGINT) AS credit_tx, CAST(NULL AS DOUBLE) AS score,
       CAST(NULL AS DOUBLE) AS match_probability, CAST(NULL AS INTEGER) AS business_days,
       CAST(NULL AS VARCHAR) AS reasons, CAST(NULL AS INTEGER) AS debit_source, CAST(NULL AS INTEGER) AS credit_source,
       CAST(NULL AS VARCHAR) AS debit_payer, CAST(NULL AS VARCHAR) AS debit_payee,
       CAST(NULL AS VARCHAR) AS credit_payer, CAST(NULL AS VARCHAR) AS credit_payee
WHERE false
"""


def _match_transfers(ctx) -> dict[str, Any]:
    """``transfer_matches``: debits one source booked matched with credits another booked
    (:func:`moneytrail.resolve.transfers.match_transfers`: each leg in at most one movement)."""
    from moneytrail.graph import PSEUDO
    from moneytrail.resolve import transfers
    from moneytrail.resolve.parties import account_number

    be, con = ctx.backend, ctx.ws.con
    parts = {"pseudo_o": PSEUDO.format(col="t.orig_account"), "pseudo_b": PSEUDO.format(col="t.bene_account"),
             "num_o": account_number("t.orig_account"), "num_b": account_number("t.bene_account")}
    # a statement row is its holder's side of the movement; a ledger row (no statement account)
    # may be either side
    debits = LEGS_SQL.format(side="(t.statement_account IS NULL OR t.statement_account = t.orig_account)", **parts)
    credits = LEGS_SQL.format(side="(t.statement_account IS NULL OR t.statement_account = t.bene_account)", **parts)
    n_sources = con.execute("SELECT count(DISTINCT source_id) + count(DISTINCT statement_account) "
                            "FROM transactions").fetchall()[0][0]
    if n_sources < 2:
        be.materialize("transfer_matches", EMPTY_MATCHES_SQL)
        return {"summary": {"transfers_matched": 0}, "account_rules": []}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _legs_d AS {debits}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _legs_c AS {credits}")
    try:
        tm = transfers.match_transfers(con, "_legs_d", "_legs_c")
        con.register("_tm", tm)
        try:
            n = be.materialize("transfer_matches", MATCHES_SQL)
        finally:
            con.unregister("_tm")
    finally:
        con.execute("DROP TABLE IF EXISTS _legs_d")
        con.execute("DROP TABLE IF EXISTS _legs_c")
    # the account each bank wrote for the other side is the account the other bank booked the
    # same movement on, when every matched movement from that written id agrees
    rules = []
    for written, acct, k, side in con.execute("""
            SELECT written, any_value(acct), count(*), any_value(side) FROM (
                SELECT debit_payee AS written, credit_payee AS acct, 'payee' AS side FROM transfer_matches
                UNION ALL SELECT credit_payer, debit_payer, 'payer' FROM transfer_matches)
            WHERE written <> acct GROUP BY written HAVING count(DISTINCT acct) = 1 ORDER BY written""").fetchall():
        rules.append({"raw_account": written, "account_id": acct, "rule": "matched-transfer",
                      "reason": f"{written} is {acct}: {k} transfer(s) naming {written} as the {side} were booked "
                                f"by the other bank on {acct}"})
    return {"summary": {"transfers_matched": n}, "account_rules": rules}


# -- entities ----------------------------------------------------------------------------------------

def _entities(ctx, p: dict[str, float]) -> dict[str, Any]:
    from moneytrail.resolve import review
    from moneytrail.workspace import now_utc

    ws, be, con = ctx.ws, ctx.backend, ctx.ws.con
    keys = [r[0] for r in con.execute("SELECT record_key FROM party_records ORDER BY record_key").fetchall()]
    decisions = {}
    for r in ws.records("""SELECT pair_key, left_key, right_key, decision, reason, decided_by
                           FROM match_decisions QUALIFY row_number() OVER (PARTITION BY pair_key
                               ORDER BY decided_at DESC, audit_seq DESC NULLS LAST) = 1"""):
        decisions[r["pair_key"]] = r
    scored: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    if len(keys) >= MIN_RECORDS:
        from moneytrail.resolve.scoring import TrainingFailed

        try:
            scored, info = _score(ctx, p)
        except TrainingFailed as e:
            info = {"skipped": f"the model could not be estimated from {len(keys):,} record(s) ({e}): no pair is "
                               "linked by the model; decide pairs with moneytrail review same|different"}
    else:
        info = {"skipped": f"{len(keys)} named party record(s): nothing to resolve"}
    outcome = review.settle(keys, scored, decisions, p["upper"], p["lower"])
    pairs = outcome.pairs
    cols = ("pair_key", "left_key", "right_key", "match_probability", "match_weight", "explanation", "status",
            "decided_by", "decision_reason")
    ptbl = pa.table({
        "pair_key": pa.array([x["pair_key"] for x in pairs], pa.string()),
        "left_key": pa.array([x["left_key"] for x in pairs], pa.string()),
        "right_key": pa.array([x["right_key"] for x in pairs], pa.string()),
        "match_probability": pa.array([x.get("match_probability") for x in pairs], pa.float64()),
        "match_weight": pa.array([x.get("match_weight") for x in pairs], pa.float64()),
        "explanation": pa.array([x.get("explanation") for x in pairs], pa.string()),
        "status": pa.array([x["status"] for x in pairs], pa.string()),
        "decided_by": pa.array([x.get("decided_by") for x in pairs], pa.string()),
        "decision_reason": pa.array([x.get("decision_reason") for x in pairs], pa.string()),
    })
    mtbl = pa.table({"record_key": pa.array(list(outcome.members), pa.string()),
                     "entity_id": pa.array([v[0] for v in outcome.members.values()], pa.string()),
                     "how": pa.array([v[1] for v in outcome.members.values()], pa.string())})
    con.register("_pairs", ptbl)
    con.register("_members", mtbl)
    try:
        be.materialize("match_pairs", f"SELECT {', '.join(cols)} FROM _pairs")
        be.materialize("entity_members", "SELECT record_key, entity_id, how FROM _members")
    finally:
        con.unregister("_pairs")
        con.unregister("_members")
    n_ent = be.materialize("entities", """
        SELECT m.entity_id,
               arg_max(r.full_name, (r.register::INTEGER, length(r.full_name))) AS name,
               CASE WHEN count(DISTINCT r.kind) FILTER (WHERE r.kind IS NOT NULL) = 1
                    THEN any_value(r.kind) FILTER (WHERE r.kind IS NOT NULL) END AS kind,
               count(*) AS records, count(DISTINCT coalesce(am.account_id, r.account_id)) AS accounts,
               count(DISTINCT r.source_id) AS sources
        FROM entity_members m JOIN party_records r USING (record_key)
        LEFT JOIN account_map am ON am.raw_account = r.account_id
        GROUP BY m.entity_id""")
    # an account belongs to the entity of its holder records (resolved account ids); where its
    # records fall in several entities, the one with most records, a register's first
    be.materialize("account_entities", """
        SELECT account_id, arg_max(entity_id, (n, reg, entity_id)) AS entity_id, sum(n) AS records,
               count(*) AS entities_named
        FROM (SELECT coalesce(am.account_id, r.account_id) AS account_id, m.entity_id, count(*) AS n,
                     max(r.register::INTEGER) AS reg
              FROM party_records r JOIN entity_members m USING (record_key)
              LEFT JOIN account_map am ON am.raw_account = r.account_id
              WHERE r.account_id IS NOT NULL GROUP BY 1, 2)
        GROUP BY account_id""")
    if info.get("model") is not None:
        mid = ws.scalar("SELECT coalesce(max(model_id), 0) + 1 FROM er_models")
        con.execute("INSERT INTO er_models VALUES (?, ?, ?, ?, ?, ?)",
                    [mid, now_utc(), ctx.run_id, len(keys), json.dumps(info["model"]),
                     json.dumps(info.get("training", {}), default=str)])
        info["model_id"] = mid
    counts = {s: 0 for s in review.STATUSES}
    for x in pairs:
        counts[x["status"]] += 1
    multi = con.execute("SELECT count(*) FROM entities WHERE records > 1").fetchall()[0][0]
    # the model's settings and training figures are kept with the model (er_models.summary), not
    # in the run log's summary
    return {"entities": n_ent, "entities_of_several_records": multi, **counts,
            **{k: v for k, v in info.items() if k not in ("model", "training")}}


def _score(ctx, p: dict[str, float]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Candidate pairs scored by the case's model (trained now when there is none, or when asked)."""
    from moneytrail.resolve import scoring

    ws, con = ctx.ws, ctx.ws.con
    stored = None if ctx.params.get("retrain") else ws.records(
        "SELECT model_id, model FROM er_models ORDER BY model_id DESC LIMIT 1")
    model = json.loads(stored[0]["model"]) if stored else None
    res = scoring.score_party_records(con, "party_records", model=model, lower=p["lower"], upper=p["upper"])
    info: dict[str, Any] = {"trained": model is None}
    if model is None:
        info["model"] = res["model"]
        info["training"] = res.get("training", {})
    else:
        info["model_id"] = stored[0]["model_id"]
    return res["pairs"], info


def _lines(out: dict[str, Any], p: dict[str, float]) -> list[str]:
    """What ``moneytrail resolve`` prints: a line per part, each with what to do next."""
    rules = out.get("account_rules", {})
    lines = [f"party records: {out['records']:,}; entities: {out.get('entities', 0):,} "
             f"({out.get('entities_of_several_records', 0):,} of several records)"]
    if out.get("skipped"):
        lines.append(f"entity resolution: {out['skipped']}")
    else:
        how = "trained on the case's records now" if out.get("trained") else f"model {out.get('model_id')}"
        lines.append(f"pairs: {out.get('merged', 0):,} merged (probability >= {p['upper']}), "
                     f"{out.get('accepted', 0):,} accepted and {out.get('rejected', 0):,} rejected by officers, "
                     f"{out.get('review', 0):,} waiting for review ({how})")
        if out.get("review"):
            lines.append("  review them: moneytrail review")
    lines.append(f"accounts: {sum(rules.values()):,} ids; " +
                 ", ".join(f"{k} {v:,}" for k, v in sorted(rules.items())))
    lines.append(f"transfers seen at two banks, matched into one movement: {out.get('transfers_matched', 0):,}")
    return lines
