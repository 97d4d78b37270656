"""What the reading commands return, as one query each. Private: :class:`moneytrail.Session` calls
these with the workspace of the case it decided on, after the decision, and records the read
before the rows leave; nothing else should."""

from __future__ import annotations

import json
from typing import Any, Sequence

import duckdb

from moneytrail.errors import ConfigError, WorkspaceError
from moneytrail.model import Finding
from moneytrail.priority import ORDER as QUEUE_ORDER

MAX_ROWS = 2**62      # a count or an id bound into a query: a BIGINT holds it


def _limit(v: Any, opt: str) -> int:
    """A count or id from outside, bound as a parameter: a whole number from 0 to MAX_ROWS."""
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_ROWS:
        raise ConfigError(f"{opt} {str(v)[:40]!r}: a whole number from 0 to {MAX_ROWS}")
    return v


def findings(ws, typologies: Sequence[str] = (), limit: int = 0, *, account: str | None = None,
             min_score: Any = None, status: str | None = None, tx: Any = None) -> list[Finding]:
    """Findings in queue order, each with its accounts (and roles) and evidence tx ids; only those
    naming ``account``, scoring at least ``min_score``, in triage ``status``, or citing the
    transaction ``tx`` names (:func:`find_tx`: the bank's reference, SOURCE:ROW or the id) when given."""
    conds, args = [], []
    if tx not in (None, ""):
        ids = find_tx(ws, tx)
        if not ids:
            raise WorkspaceError(f"--tx {str(tx)[:60]!r}: no such transaction in this case (give its internal id, "
                                 f"the bank's reference or SOURCE:ROW)")
        conds.append("EXISTS (SELECT 1 FROM finding_transactions x WHERE x.finding_id = f.finding_id "
                     "AND list_contains(?, x.tx_id))")
        args.append(ids)
    more, more_args = _finding_filters(typologies, account, ((min_score, "--min-score", "f.score >= ?"),),
                                       status, "--status")
    conds += more
    args += more_args
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    limit = _limit(limit, "--limit")
    if limit:
        args.append(limit)
    return [Finding.from_record(r) for r in ws.records(f"""
        SELECT f.finding_id, f.finding_key, f.typology, f.typology_version, f.score, f.first_ts, f.last_ts,
               f.total_amount, f.currency, f.explanation, f.red_flag_source, f.parameters, f.priority,
               f.priority_basis,
               (SELECT list({{'account_id': a.account_id, 'role': a.role}} ORDER BY a.role, a.account_id)
                  FROM finding_accounts a WHERE a.finding_id = f.finding_id) AS accounts,
               (SELECT list(t.tx_id ORDER BY t.tx_id) FROM finding_transactions t
                  WHERE t.finding_id = f.finding_id) AS tx_ids,
               (SELECT list({{'kind': r.kind, 'record_id': r.record_id}} ORDER BY r.kind, r.record_id)
                  FROM finding_records r WHERE r.finding_id = f.finding_id) AS records
        FROM findings f {where} ORDER BY {QUEUE_ORDER}
        {'LIMIT ?' if limit else ''}""", args)]


def sources(ws) -> list[dict[str, Any]]:
    return ws.records("SELECT source_id, file_name, format, role, sha256, size_bytes, legal_basis, "
                      "received_at, rows_read, rows_stored, rows_quarantined, evidence_path, withdrawn_at, "
                      "withdrawn_by, withdrawal_reason FROM sources ORDER BY source_id")


def quarantine(ws, source: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    where, args = ("WHERE q.source_id = ?", [_limit(source, "--source")]) if source is not None else ("", [])
    return ws.records(f"SELECT s.file_name, q.source_id, q.source_row, q.source_position, q.column_name, q.reason, q.raw "
                      f"FROM quarantine q JOIN sources s USING (source_id) {where} "
                      f"ORDER BY q.source_id, q.source_row LIMIT ?", [*args, _limit(limit, "--limit")])


def top_accounts(ws, model_id: int, top: int = 20) -> list[dict[str, Any]]:
    """The highest-scoring accounts of a scoring run, with their reasons (JSON text)."""
    return ws.records("SELECT account_id, score, flagged_transactions, reasons FROM account_scores "
                      "WHERE model_id = ? ORDER BY score DESC, account_id LIMIT ?",
                      [_limit(model_id, "--model"), _limit(top, "--top")])


def models(ws) -> list[dict[str, Any]]:
    """The stored models with their features, parameters, validation metrics and split."""
    if not ws.table_exists("models"):
        rows = []
    else:
        rows = ws.records("SELECT model_id, created_at, kind, features, training_data_hash, parameters, "
                          "threshold, validation, split FROM models ORDER BY model_id")
    if not rows:
        raise WorkspaceError("this workspace has no model: train one first (moneytrail model train)")
    for r in rows:
        for k in ("features", "parameters", "validation", "split"):
            r[k] = json.loads(r[k])
    return rows


# -- what the web app shows (moneytrail serve): filtered pages of findings, a finding with its
# -- triage, an account's profile and transactions, a neighbourhood graph ------------------------

TRIAGE_STATUSES = ("open", "under_review", "confirmed", "dismissed")
FINDING_SORTS = {"priority": "f.priority", "score": "f.score", "amount": "f.total_amount", "first": "f.first_ts", "last": "f.last_ts",
                 "typology": "f.typology", "status": "status"}


def _opt_num(v: Any, opt: str) -> float | None:
    """An optional number from outside (a filter), checked and bound as a parameter."""
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{opt} {str(v)[:40]!r}: a number") from None
    if x != x or abs(x) > 1e15:
        raise ConfigError(f"{opt} {str(v)[:40]!r}: a number below 10^15")
    return x


def _finding_filters(typologies: Sequence[str], account: str | None, numbers, status: str | None,
                     status_opt: str) -> tuple[list[str], list[Any]]:
    """The conditions (on ``findings f``) and bound arguments of the findings filters the CLI and
    the web app share: typologies, an account the finding names, numeric bounds given as
    ``(value, option name, condition)``, a triage status (checked first, named ``status_opt``)."""
    if status not in (None, "", *TRIAGE_STATUSES):
        raise ConfigError(f"{status_opt} {str(status)[:40]!r}: one of {', '.join(TRIAGE_STATUSES)}")
    conds: list[str] = []
    args: list[Any] = []
    if typologies:
        conds.append("f.typology IN (" + ", ".join("?" * len(typologies)) + ")")
        args += list(typologies)
    if account:
        conds.append("EXISTS (SELECT 1 FROM finding_accounts a WHERE a.finding_id = f.finding_id "
                     "AND a.account_id = ?)")
        args.append(str(account))
    for v, opt, cond in numbers:
        x = _opt_num(v, opt)
        if x is not None:
            conds.append(cond)
            args.append(x)
    if status:
        conds.append("coalesce((SELECT ft.status FROM finding_triage ft WHERE ft.finding_key = f.finding_key), "
                     "'open') = ?")
        args.append(status)
    return conds, args


def findings_page(ws, *, typologies: Sequence[str] = (), account: str | None = None,
                  min_score: Any = None, min_amount: Any = None, max_amount: Any = None,
                  status: str | None = None, sort: str = "priority", descending: bool = True,
                  limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of findings with their triage (status, assignee) and accounts, filtered and
    sorted; with the number of findings the filters match."""
    if sort not in FINDING_SORTS:
        raise ConfigError(f"sort {str(sort)[:40]!r}: one of {', '.join(FINDING_SORTS)}")
    conds, args = _finding_filters(typologies, account,
                                   ((min_score, "min score", "f.score >= ?"),
                                    (min_amount, "min amount", "f.total_amount >= ?"),
                                    (max_amount, "max amount", "f.total_amount <= ?")), status, "status")
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    base = f"FROM findings f LEFT JOIN finding_triage t ON t.finding_key = f.finding_key {where}"
    total = ws.scalar(f"SELECT count(*) {base}", args)
    order = f"{FINDING_SORTS[sort]} {'DESC' if descending else 'ASC'} NULLS LAST, f.score DESC, f.finding_id"
    rows = ws.records(f"""
        SELECT f.finding_id, f.finding_key, f.typology, f.score, f.priority, f.priority_basis, f.first_ts,
               f.last_ts, f.total_amount,
               f.explanation, coalesce(t.status, 'open') AS status, t.assignee,
               (SELECT list(DISTINCT a.account_id ORDER BY a.account_id) FROM finding_accounts a
                  WHERE a.finding_id = f.finding_id) AS accounts,
               (SELECT count(*) FROM finding_transactions x WHERE x.finding_id = f.finding_id) AS n_tx
        {base} ORDER BY {order} LIMIT ? OFFSET ?""", [*args, _limit(limit, "limit"), _limit(offset, "offset")])
    return rows, int(total)


def finding(ws, key: str) -> dict[str, Any]:
    """One finding by its stable key: the finding (or, if a re-run no longer finds it, its
    superseded record), its triage and every triage event."""
    rows = ws.records("""
        SELECT f.finding_id, f.finding_key, f.typology, f.typology_version, f.score, f.first_ts, f.last_ts,
               f.total_amount, f.currency, f.explanation, f.red_flag_source, f.parameters, f.priority,
               f.priority_basis,
               (SELECT list({'account_id': a.account_id, 'role': a.role} ORDER BY a.role, a.account_id)
                  FROM finding_accounts a WHERE a.finding_id = f.finding_id) AS accounts,
               (SELECT list(t.tx_id ORDER BY t.tx_id) FROM finding_transactions t
                  WHERE t.finding_id = f.finding_id) AS tx_ids,
               (SELECT list({'kind': r.kind, 'record_id': r.record_id} ORDER BY r.kind, r.record_id)
                  FROM finding_records r WHERE r.finding_id = f.finding_id) AS records
        FROM findings f WHERE f.finding_key = ? ORDER BY f.finding_id LIMIT 1""", [str(key)])
    superseded = None
    if rows:
        out: dict[str, Any] = {"finding": Finding.from_record(rows[0])}
    else:
        old = ws.records("SELECT * FROM findings_superseded WHERE finding_key = ? ORDER BY superseded_at DESC "
                         "LIMIT 1", [str(key)])
        if not old:
            raise WorkspaceError(f"no finding {str(key)[:40]!r} in this case")
        o = old[0]
        superseded = {"at": o["superseded_at"], "by_run": o["superseded_by_run"]}
        out = {"finding": Finding.from_record({**o, "red_flag_source": "", "parameters": "{}",
                                                "accounts": json.loads(o["accounts"] or "[]"),
                                                "records": json.loads(o.get("records") or "[]")})}
    t = ws.records("SELECT status, assignee, reason, updated_at, updated_by FROM finding_triage "
                   "WHERE finding_key = ?", [str(key)])
    out["triage"] = t[0] if t else {"status": "open", "assignee": None, "reason": None, "updated_at": None,
                                    "updated_by": None}
    out["events"] = ws.records("SELECT event_at, officer_id, status, assignee, reason, note, audit_seq FROM finding_events "
                               "WHERE finding_key = ? ORDER BY event_at, audit_seq", [str(key)])
    out["superseded"] = superseded
    out["transactions"] = transactions_by_id(ws, list(out["finding"].tx_ids[:200]))
    out["records"] = records_by_id(ws, [x.record_id for x in out["finding"].records[:200]])
    return out


def finding_entry_transactions(ws, key: str) -> list[int]:
    """:func:`entry_transactions` of the finding ``key`` (or of its last superseded version, as
    :func:`finding` reads it)."""
    fid = ws.scalar("SELECT min(finding_id) FROM findings WHERE finding_key = ?", [str(key)])
    if fid is not None:
        ids = [t for (t,) in ws.query("SELECT tx_id FROM finding_transactions WHERE finding_id = ?", [fid])]
    else:
        old = ws.query("SELECT tx_ids FROM findings_superseded WHERE finding_key = ? ORDER BY superseded_at DESC "
                       "LIMIT 1", [str(key)])
        if not old:
            raise WorkspaceError(f"no finding {str(key)[:40]!r} in this case")
        ids = list(old[0][0] or [])
    return entry_transactions(ws, ids)


def entry_transactions(ws, tx_ids: list[int]) -> list[int]:
    """Of a finding's transactions, those that bring money into its pattern: their payer had
    received none of the others before them (in the graph, ``edges``: accounts as resolved). The
    others carry that money on (a shell vendor's onward transfers, a cycle's later legs): a trace
    from every transaction would count the same money twice, a trace from these follows it once.
    The finding's transactions in order where the graph has none of them (not built, or gone)."""
    if not tx_ids:
        return []
    try:
        rows = ws.query("""
            WITH f AS (SELECT tx_id, src_account, dst_account, ts FROM edges
                       WHERE tx_id IN (SELECT unnest(CAST(? AS BIGINT[]))))
            SELECT a.tx_id FROM f a
            WHERE NOT EXISTS (SELECT 1 FROM f b WHERE b.dst_account = a.src_account
                                                  AND (b.ts < a.ts OR (b.ts = a.ts AND b.tx_id < a.tx_id)))
            ORDER BY a.tx_id""", [[int(t) for t in tx_ids]])
    except duckdb.CatalogException:       # no graph in this case yet
        rows = []
    return [int(t) for (t,) in rows] or sorted(int(t) for t in tx_ids)


#: every employer and contract record (docs/records.md) as one list: its kind (table), id and
#: place in its source, the date and amount that matter, the party it is about, and a line of
#: detail (worker identifiers only as their last four digits)
RECORDS_SQL = """
    SELECT 'payroll_lines' AS kind, record_id, source_id, source_row, pay_date AS on_date, gross AS amount,
           coalesce(employer_name, employer) AS party,
           concat_ws(' ', 'worker ***-**-' || worker_last4, '(' || worker_id_kind || ')', pay_method,
                     CAST(hours AS VARCHAR) || ' h', 'net ' || CAST(net AS VARCHAR)) AS detail
    FROM payroll_lines
    UNION ALL
    SELECT 'wage_reports', record_id, source_id, source_row, period_end, wages, coalesce(employer_name, employer_ein),
           concat_ws(' ', 'form ' || form, CAST(tax_year AS VARCHAR) || coalesce(' Q' || quarter, ''),
                     CAST(employees AS VARCHAR) || ' employees', 'worker ***-**-' || worker_last4)
    FROM wage_reports
    UNION ALL
    SELECT 'awards', record_id, source_id, source_row, action_date, obligation, coalesce(recipient_name, recipient_uei),
           concat_ws(' ', 'PIID ' || piid, 'mod ' || modification, 'office ' || coalesce(office_code, office),
                     CAST(offers AS VARCHAR) || ' offer(s)')
    FROM awards
    UNION ALL
    SELECT 'vendors', record_id, source_id, source_row, registered, CAST(NULL AS DECIMAL(18,2)), name,
           concat_ws(' ', origin, 'UEI ' || uei, 'vendor ' || vendor_id, address)
    FROM vendors
    UNION ALL
    SELECT 'payments', record_id, source_id, source_row, paid_date, amount, coalesce(vendor_name, vendor_uei, vendor_id),
           concat_ws(' ', 'payment ' || payment_id, 'invoice ' || invoice, 'office ' || coalesce(office_code, office),
                     'to ' || pay_account, 'approved by ' || approver)
    FROM payments
    UNION ALL
    SELECT 'officials', record_id, source_id, source_row, started, CAST(NULL AS DECIMAL(18,2)), name,
           concat_ws(' ', person_id, title, role, 'office ' || coalesce(office_code, office))
    FROM officials
"""


#: the parties findings name by a prefixed id (docs/records.md) and the records that are theirs:
#: (kind, condition on the record's table with one ``?`` for the id)
PARTY_RECORDS = {
    "vendor:": (("vendors", "uei = ? OR vendor_id = ?1 OR upper(name) = ?1"),
                ("awards", "recipient_uei = ?"),
                ("payments", "vendor_uei = ? OR vendor_id = ?1")),
    "employer:": (("payroll_lines", "employer = ?"),
                  ("wage_reports", "employer_ein = ? OR (employer_ein IS NULL AND upper(employer_name) = ?1)")),
    "official:": (("officials", "person_id = ?"),
                  ("payments", "approver = ?")),
    "office:": (("awards", "office_code = ? OR (office_code IS NULL AND office = ?1)"),
                ("payments", "office_code = ? OR (office_code IS NULL AND office = ?1)")),
}
MAX_PARTY_RECORDS = 200


def party_records(ws, party: str) -> dict[str, Any] | None:
    """For a party id a finding names (``vendor:UEI``, ``employer:EIN``, ``official:ID``,
    ``office:CODE``): its records, newest first (at most MAX_PARTY_RECORDS of each kind), and how
    many there are; None for an account id."""
    for prefix, kinds in PARTY_RECORDS.items():
        if party.startswith(prefix):
            pid = party[len(prefix):]
            break
    else:
        return None
    rows, counts = [], {}
    for kind, cond in kinds:
        where = cond.replace("?1", "$1").replace("?", "$1")
        ids = [r for (r,) in ws.query(f"SELECT record_id FROM {kind} WHERE {where}", [pid])]
        if ids:
            counts[kind] = len(ids)
            rows += ws.records(f"SELECT * FROM ({RECORDS_SQL}) WHERE kind = $1 AND list_contains($2, record_id) "
                               f"ORDER BY on_date DESC NULLS LAST, record_id LIMIT {MAX_PARTY_RECORDS}",
                               [kind, ids])
    return {"party": party, "id": pid, "counts": counts, "records": rows}


def records_by_id(ws, record_ids: list[int]) -> list[dict[str, Any]]:
    """The records with these ids (:data:`RECORDS_SQL`), with their source file."""
    if not record_ids:
        return []
    return ws.records(f"SELECT r.*, s.file_name FROM ({RECORDS_SQL}) r JOIN sources s USING (source_id) "
                      f"WHERE list_contains(?, r.record_id) ORDER BY r.kind, r.on_date, r.record_id",
                      [[int(x) for x in record_ids]])


def transactions_by_id(ws, tx_ids: list[int]) -> list[dict[str, Any]]:
    if not tx_ids:
        return []
    return ws.records("SELECT t.tx_id, t.external_id, t.ts, t.orig_account, t.bene_account, t.amount, t.currency, "
                      "t.channel, t.description, t.source_id, t.source_row, t.source_position, s.file_name FROM transactions t "
                      "JOIN sources s USING (source_id) WHERE list_contains(?, t.tx_id) ORDER BY t.ts, t.tx_id",
                      [[int(x) for x in tx_ids]])


def _sides(ws, acct: str) -> tuple[str, str, list, list]:
    """How a transaction is this account's outflow and inflow: the account id itself, or, for a
    pseudo-account the detectors name (``cash@PLACE``: cash handled at one place), cash at that
    place. ``(out_sql, in_sql, out_args, in_args)``, to be bound."""
    if acct.startswith("cash@") and not ws.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM transactions WHERE orig_account = ? OR bene_account = ? LIMIT 1)",
            [acct, acct]):
        place = acct[len("cash@"):]
        return ("(orig_account = 'cash' AND location = ?)", "(bene_account = 'cash' AND location = ?)",
                [place], [place])
    return "orig_account = ?", "bene_account = ?", [acct], [acct]


def account(ws, account_id: str) -> dict[str, Any]:
    """An account's profile: what the case's sources say about it (owner, bank, kind, ...), its
    flows in and out, balance over time (statement balances where given, else the running net
    flow), its main counterparties and the findings that name it."""
    acct = str(account_id)
    o, i, oa, ia = _sides(ws, acct)
    mine = (f"WITH m AS (SELECT t.*, {o} AS is_out, {i} AS is_in FROM transactions t WHERE {o} OR {i}) ")
    margs = [*oa, *ia, *oa, *ia]
    prof = ws.records("SELECT * FROM accounts WHERE account_id = ?", [acct])
    flows = ws.records(mine + """
        SELECT count(*) FILTER (WHERE is_out) AS n_out, count(*) FILTER (WHERE is_in) AS n_in,
               coalesce(sum(amount) FILTER (WHERE is_out), 0) AS out_total,
               coalesce(sum(amount) FILTER (WHERE is_in), 0) AS in_total,
               min(ts) AS first_ts, max(ts) AS last_ts FROM m""", margs)[0]
    found = ws.records(f"""
        SELECT f.finding_key, f.typology, f.score, f.priority, f.total_amount, a.role,
               coalesce(t.status, 'open') AS status
        FROM finding_accounts a JOIN findings f USING (finding_id)
        LEFT JOIN finding_triage t ON t.finding_key = f.finding_key
        WHERE a.account_id = ? ORDER BY {QUEUE_ORDER} LIMIT 200""", [acct])
    party = party_records(ws, acct)
    if not prof and not (flows["n_in"] or flows["n_out"]) and not found and not (party and party["counts"]):
        raise WorkspaceError(f"no account {acct[:60]!r} in this case's evidence")
    balance = ws.records(mine + """, d AS (
            SELECT CAST(ts AS DATE) AS day, sum(CASE WHEN is_in THEN amount ELSE -amount END) AS net,
                   arg_max(balance_after, (ts, tx_id)) FILTER (WHERE statement_account = ?) AS stated
            FROM m GROUP BY 1)
        SELECT day, sum(net) OVER (ORDER BY day) AS running_net, stated FROM d ORDER BY day""", [*margs, acct])
    counterparties = ws.records(mine + """
        SELECT cp AS account_id, sum(amt_in) AS in_total, sum(amt_out) AS out_total, count(*) AS n
        FROM (SELECT CASE WHEN is_out THEN bene_account ELSE orig_account END AS cp,
                     CASE WHEN is_in THEN amount ELSE 0 END AS amt_in,
                     CASE WHEN is_out THEN amount ELSE 0 END AS amt_out FROM m)
        GROUP BY cp ORDER BY sum(amt_in) + sum(amt_out) DESC, cp LIMIT 50""", margs)
    entity = None
    have = {r[0] for r in ws.query("SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema()")}
    if {"account_entities", "entities", "account_map"} <= have:      # resolved: the holder's entity
        rows = ws.records("""SELECT e.entity_id, e.name, e.records, e.accounts FROM account_entities a
                             JOIN entities e USING (entity_id)
                             WHERE a.account_id = coalesce((SELECT account_id FROM account_map WHERE raw_account = ?), ?)""",
                          [acct, acct])
        entity = rows[0] if rows else None
    return {"account_id": acct, "records": prof, "flows": flows, "balance": balance,
            "counterparties": counterparties, "findings": found, "pseudo": o.startswith("("), "entity": entity,
            "party": party}


def transactions(ws, *, account: str | None = None, ref: str | None = None, min_amount: Any = None,
                 max_amount: Any = None, date_from: Any = None, date_to: Any = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """A page of the case's transactions (newest first) filtered by account, a name for a
    transaction (:func:`find_tx`: the bank's own reference, ``SOURCE:ROW`` or the internal id),
    amount and date range; with the match count."""
    import datetime as _dt

    conds, args = [], []
    if account:
        o, i, oa, ia = _sides(ws, str(account))
        conds.append(f"({o} OR {i})")
        args += [*oa, *ia]
    if ref:
        conds.append("list_contains(?, t.tx_id)")
        args.append(find_tx(ws, ref))
    for v, opt, cond in ((min_amount, "min amount", "t.amount >= ?"), (max_amount, "max amount", "t.amount <= ?")):
        x = _opt_num(v, opt)
        if x is not None:
            conds.append(cond)
            args.append(x)
    for v, opt, cond in ((date_from, "from", "t.ts >= ?"), (date_to, "to", "t.ts < ? + INTERVAL 1 DAY")):
        if v in (None, ""):
            continue
        try:
            d = v if isinstance(v, _dt.date) else _dt.date.fromisoformat(str(v))
        except ValueError:
            raise ConfigError(f"{opt} {str(v)[:40]!r}: a date YYYY-MM-DD") from None
        conds.append(cond)
        args.append(d)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    total = ws.scalar(f"SELECT count(*) FROM transactions t {where}", args)
    rows = ws.records(f"SELECT t.tx_id, t.external_id, t.ts, t.orig_account, t.bene_account, t.amount, t.currency, "
                      f"t.channel, t.description, t.source_id, t.source_row, t.source_position FROM transactions t {where} "
                      f"ORDER BY t.ts DESC, t.tx_id DESC LIMIT ? OFFSET ?",
                      [*args, _limit(limit, "limit"), _limit(offset, "offset")])
    return rows, int(total)


# -- naming a transaction: the internal id, the bank's own reference, or SOURCE:ROW ---------------

#: the columns in which a source gives a transaction its own reference
REFERENCE_COLUMNS = ("external_id", "end_to_end_id", "customer_reference")


def find_tx(ws, ref: Any) -> list[int]:
    """The transactions a user's name for one can mean, in id order: the internal id
    (``id:N`` or a bare number), ``SOURCE:ROW`` (the source's id and its 1-based data row), or the
    bank's own reference (``ref:X`` or bare: the source's transaction id, end-to-end id or
    customer reference). A bare value is looked up every way it can be read."""
    r = str(ref).strip()
    if not r or len(r) > 200:
        raise ConfigError(f"transaction {r[:40]!r}: give its internal id, the bank's reference or SOURCE:ROW")
    kind, _, rest = r.partition(":")
    kind = kind.lower()
    conds, args = [], []
    if kind == "id" and rest:
        if not rest.isdigit() or int(rest) > MAX_ROWS:
            raise ConfigError(f"transaction {r[:40]!r}: id: takes a whole number")
        conds.append("t.tx_id = ?")
        args.append(int(rest))
    elif kind == "ref" and rest:
        conds.append("(" + " OR ".join(f"t.{c} = ?" for c in REFERENCE_COLUMNS) + ")")
        args += [rest] * len(REFERENCE_COLUMNS)
    else:
        if r.isdigit() and int(r) <= MAX_ROWS:
            conds.append("t.tx_id = ?")
            args.append(int(r))
        parts = r.split(":")
        if len(parts) == 2 and all(p.isdigit() and 0 < len(p) <= 18 for p in parts):
            conds.append("(t.source_id = ? AND t.source_row = ?)")
            args += [int(parts[0]), int(parts[1])]
        conds.append("(" + " OR ".join(f"t.{c} = ?" for c in REFERENCE_COLUMNS) + ")")
        args += [r] * len(REFERENCE_COLUMNS)
    return [int(x[0]) for x in ws.query(
        f"SELECT DISTINCT t.tx_id FROM transactions t WHERE {' OR '.join(conds)} ORDER BY 1 LIMIT 101", args)]


def resolve_tx(ws, ref: Any, opt: str = "transaction") -> int:
    """The one transaction ``ref`` names (:func:`find_tx`); an error when it names none or
    several (listing them, so the user can pick one by SOURCE:ROW or id)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = f"id:{ref}"
    ids = find_tx(ws, ref)
    shown = str(ref)[:60]
    if not ids:
        raise WorkspaceError(f"{opt} {shown!r}: no such transaction in this case (give its internal id, the "
                             f"bank's reference or SOURCE:ROW; moneytrail tx REF looks one up)")
    if len(ids) > 1:
        rows = ws.records("SELECT tx_id, source_id, source_row, external_id FROM transactions "
                          "WHERE list_contains(?, tx_id) ORDER BY tx_id LIMIT 5", [ids[:5]])
        listed = "; ".join(f"{x['source_id']}:{x['source_row']} (id {x['tx_id']})" for x in rows)
        more = f" and {len(ids) - 5}{'+' if len(ids) > 100 else ''} more" if len(ids) > 5 else ""
        raise WorkspaceError(f"{opt} {shown!r} names {'over 100' if len(ids) > 100 else len(ids)} transactions: "
                             f"{listed}{more}; name one by SOURCE:ROW or id:N")
    return ids[0]


def transaction(ws, ref: Any) -> list[dict[str, Any]]:
    """Every transaction ``ref`` names (:func:`find_tx`), each with its provenance (the source
    file, its sha256, legal basis and when it was received; the row and position in it), the
    findings that cite it, and the other leg when resolve matched it to a transfer seen at a
    second bank."""
    ids = find_tx(ws, ref)
    if not ids:
        raise WorkspaceError(f"no transaction {str(ref)[:60]!r} in this case (give its internal id, the bank's "
                             f"reference or SOURCE:ROW)")
    rows = ws.records("""
        SELECT t.*, s.file_name, s.format, s.sha256, s.legal_basis, s.received_at, s.evidence_path,
               s.withdrawn_at
        FROM transactions t JOIN sources s USING (source_id)
        WHERE list_contains(?, t.tx_id) ORDER BY t.tx_id""", [ids])
    have = {r[0] for r in ws.query("SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema()")}
    for r in rows:
        r["findings"] = ws.records(f"""
            SELECT f.finding_key, f.typology, f.score, f.priority, coalesce(t.status, 'open') AS status
            FROM finding_transactions x JOIN findings f USING (finding_id)
            LEFT JOIN finding_triage t ON t.finding_key = f.finding_key
            WHERE x.tx_id = ? ORDER BY {QUEUE_ORDER}""", [r["tx_id"]])
        r["same_transfer"] = []
        if "transfer_matches" in have:
            r["same_transfer"] = [int(x[0]) for x in ws.query(
                "SELECT credit_tx FROM transfer_matches WHERE debit_tx = ? UNION "
                "SELECT debit_tx FROM transfer_matches WHERE credit_tx = ? ORDER BY 1", [r["tx_id"], r["tx_id"]])]
    return rows


def graph(ws, *, finding_key: str | None = None, account: str | None = None, hub_degree: int = 25,
          max_edges: int = 400) -> dict[str, Any]:
    """A network to draw: a finding's accounts and the money between them, or one account and its
    counterparties. Edges are aggregated per ordered pair (amount, count, first and last date);
    a neighbour with more than ``hub_degree`` counterparties of its own is marked a hub (drawn
    collapsed: expanding it is a new request); at most ``max_edges`` edges, the largest first."""
    if finding_key:
        fid = ws.records("SELECT finding_id FROM findings WHERE finding_key = ? LIMIT 1", [str(finding_key)])
        if not fid:
            raise WorkspaceError(f"no finding {str(finding_key)[:40]!r} in this case")
        centre = [r["account_id"] for r in ws.records(
            "SELECT DISTINCT account_id FROM finding_accounts WHERE finding_id = ?", [fid[0]["finding_id"]])]
        edges = ws.records("""
            SELECT CASE WHEN t.orig_account = 'cash' AND list_contains(?, 'cash@' || t.location)
                        THEN 'cash@' || t.location ELSE t.orig_account END AS source,
                   CASE WHEN t.bene_account = 'cash' AND list_contains(?, 'cash@' || t.location)
                        THEN 'cash@' || t.location ELSE t.bene_account END AS target,
                   sum(t.amount) AS amount, count(*) AS n, min(t.ts) AS first_ts, max(t.ts) AS last_ts
            FROM finding_transactions x JOIN transactions t USING (tx_id)
            WHERE x.finding_id = ? GROUP BY 1, 2 ORDER BY amount DESC LIMIT ?""",
                           [centre, centre, fid[0]["finding_id"], _limit(max_edges, "max edges")])
    elif account:
        acct = str(account)
        centre = [acct]
        o, i, oa, ia = _sides(ws, acct)
        edges = ws.records(f"""
            SELECT CASE WHEN {o} THEN ? ELSE orig_account END AS source,
                   CASE WHEN {i} THEN ? ELSE bene_account END AS target,
                   sum(amount) AS amount, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts
            FROM transactions WHERE {o} OR {i}
            GROUP BY 1, 2 ORDER BY amount DESC LIMIT ?""", [*oa, acct, *ia, acct, *oa, *ia, _limit(max_edges, "max edges")])
    else:
        raise ConfigError("graph: name a finding or an account")
    ids = sorted({e["source"] for e in edges} | {e["target"] for e in edges} | set(centre))
    degree = {r["a"]: r["d"] for r in ws.records("""
        SELECT a, count(DISTINCT b) AS d FROM (
            SELECT orig_account AS a, bene_account AS b FROM transactions WHERE list_contains(?, orig_account)
            UNION ALL SELECT bene_account, orig_account FROM transactions WHERE list_contains(?, bene_account))
        GROUP BY a""", [ids, ids])} if ids else {}
    owners = {r["account_id"]: r["owner_name"] for r in ws.records(
        "SELECT account_id, any_value(owner_name) AS owner_name FROM accounts WHERE list_contains(?, account_id) "
        "GROUP BY 1", [ids])} if ids else {}
    nodes = [{"id": a, "owner": owners.get(a), "degree": int(degree.get(a, 0)), "centre": a in centre,
              "hub": a not in centre and int(degree.get(a, 0)) > hub_degree} for a in ids]
    return {"nodes": nodes, "edges": edges, "centre": centre}


# -- entity resolution (issue 14) -------------------------------------------------------------------

MATCH_STATUSES = ("review", "merged", "accepted", "rejected")
_RESOLVED = ("party_records", "match_pairs", "entity_members", "entities", "account_entities")


def _resolved(ws) -> None:
    have = {r[0] for r in ws.query("SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema()")}
    if not set(_RESOLVED) <= have:
        raise WorkspaceError("the case's parties are not resolved yet: run moneytrail resolve")


_RECORD_COLS = ("record_key, account_id, source_id, source_row, register, role, full_name, kind, address, phone, "
                "email, dob, tax_id")


def party_records_by_key(ws, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    _resolved(ws)
    return {r["record_key"]: r for r in ws.records(
        f"SELECT {_RECORD_COLS} FROM party_records WHERE list_contains(?, record_key)", [list(keys)])}


def pair_probability(ws, pair_key: str) -> float | None:
    rows = ws.query("SELECT match_probability FROM match_pairs WHERE pair_key = ?", [pair_key])
    return rows[0][0] if rows else None


def match_pairs(ws, *, status: str = "review", limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Pairs with a status, most probable first, each with both records and its explanation."""
    if status not in MATCH_STATUSES:
        raise ConfigError(f"status {str(status)[:40]!r}: one of {', '.join(MATCH_STATUSES)}")
    _resolved(ws)
    total = ws.scalar("SELECT count(*) FROM match_pairs WHERE status = ?", [status])
    pairs = ws.records("""
        SELECT pair_key, left_key, right_key, match_probability, match_weight, explanation, status,
               decided_by, decision_reason
        FROM match_pairs WHERE status = ?
        ORDER BY match_probability DESC NULLS LAST, pair_key LIMIT ? OFFSET ?""",
                       [status, _limit(limit, "--limit"), _limit(offset, "--offset")])
    recs = party_records_by_key(ws, [k for p in pairs for k in (p["left_key"], p["right_key"])])
    for p in pairs:
        p["left"], p["right"] = recs.get(p["left_key"]), recs.get(p["right_key"])
    counts = {r["status"]: r["n"] for r in ws.records("SELECT status, count(*) AS n FROM match_pairs GROUP BY 1")}
    return {"status": status, "total": total, "offset": offset, "pairs": pairs, "counts": counts}


def entity(ws, entity_id: str) -> dict[str, Any]:
    """An entity, its records (with source and how each joined), accounts and linking pairs."""
    _resolved(ws)
    ent = ws.records("SELECT * FROM entities WHERE entity_id = ?", [entity_id])
    if not ent:
        raise WorkspaceError(f"no entity {entity_id[:40]!r} in this case (moneytrail resolve lists them)")
    records = ws.records(f"""
        SELECT {', '.join('r.' + c.strip() for c in _RECORD_COLS.split(','))}, m.how, s.file_name AS source_file
        FROM entity_members m JOIN party_records r USING (record_key) LEFT JOIN sources s ON s.source_id = r.source_id
        WHERE m.entity_id = ? ORDER BY r.register DESC, r.source_id, r.source_row""", [entity_id])
    keys = [r["record_key"] for r in records]
    accounts = ws.records("SELECT account_id, records FROM account_entities WHERE entity_id = ? ORDER BY account_id",
                          [entity_id])
    pairs = ws.records("""
        SELECT pair_key, left_key, right_key, match_probability, explanation, status, decided_by, decision_reason
        FROM match_pairs WHERE list_contains(?, left_key) OR list_contains(?, right_key)
        ORDER BY match_probability DESC NULLS LAST, pair_key LIMIT 500""", [keys, keys])
    return {**ent[0], "records": records, "accounts": accounts, "pairs": pairs}


def entities(ws, *, name: str | None = None, account: str | None = None, min_records: int = 1,
             limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Entities, the ones of most records first: those with a record whose name contains ``name``
    (case and accents aside) or holding ``account``; each with its record keys and accounts."""
    _resolved(ws)
    conds, args = ["e.records >= ?"], [_limit(min_records, "--min-records")]
    if name:
        from moneytrail.resolve.normalize import text

        conds.append("e.entity_id IN (SELECT m.entity_id FROM entity_members m JOIN party_records r USING (record_key) "
                     "WHERE contains(lower(strip_accents(r.full_name)), ?))")
        args.append(text(str(name)[:200]) or str(name)[:200].lower())
    if account:
        conds.append("e.entity_id IN (SELECT entity_id FROM account_entities WHERE account_id = ?)")
        args.append(str(account)[:200])
    where = " AND ".join(conds)
    total = ws.scalar(f"SELECT count(*) FROM entities e WHERE {where}", args)
    rows = ws.records(f"""
        SELECT e.*, (SELECT list(m.record_key ORDER BY m.record_key) FROM entity_members m
                      WHERE m.entity_id = e.entity_id) AS record_keys,
               (SELECT list(a.account_id ORDER BY a.account_id) FROM account_entities a
                      WHERE a.entity_id = e.entity_id) AS account_ids
        FROM entities e WHERE {where}
        ORDER BY e.records DESC, e.entity_id LIMIT ? OFFSET ?""",
                      [*args, _limit(limit, "--limit"), _limit(offset, "--offset")])
    return {"total": total, "offset": offset, "entities": rows}
