"""The resolve stage in the case report: entities of several accounts (each name as its source
spells it, the accounts, the pairs that joined them) and the transfers seen at two banks (both
legs with the banks' references, the score and the reasons). Every value goes to the template
as data; the template's autoescape renders it."""

from __future__ import annotations

from typing import Any

MAX_ENTITIES = 25       # entities shown, most accounts first; the rest counted
MAX_NAMES = 8           # spellings per entity
MAX_PAIRS = 3           # joining pairs explained per entity
MAX_TRANSFERS = 25      # matched movements shown, largest first; the rest counted


def _have(ws, *tables: str) -> bool:
    return all(ws.table_exists(t) for t in tables)


def entities_context(ws, limit: int = MAX_ENTITIES) -> dict[str, Any] | None:
    """Entities holding two or more accounts (``None`` when the case has not been resolved)."""
    if not _have(ws, "entities", "entity_members", "party_records", "account_entities", "match_pairs"):
        return None
    total = ws.scalar("SELECT count(*) FROM entities WHERE accounts > 1") or 0
    rows = ws.records("""
        SELECT e.entity_id, e.name, e.kind, e.records, e.sources,
               (SELECT count(*) FROM account_entities a WHERE a.entity_id = e.entity_id) AS accounts
        FROM entities e WHERE e.accounts > 1
        ORDER BY accounts DESC, e.records DESC, e.entity_id LIMIT ?""", [int(limit)])
    for e in rows:
        e["names"] = ws.records("""
            SELECT r.full_name, string_agg(DISTINCT s.file_name, ', ' ORDER BY s.file_name) AS sources,
                   bool_or(r.register) AS register
            FROM entity_members m JOIN party_records r USING (record_key) LEFT JOIN sources s USING (source_id)
            WHERE m.entity_id = ? GROUP BY r.full_name ORDER BY register DESC, r.full_name LIMIT ?""",
                                [e["entity_id"], MAX_NAMES])
        e["account_ids"] = [r["account_id"] for r in ws.records(
            "SELECT account_id FROM account_entities WHERE entity_id = ? ORDER BY account_id", [e["entity_id"]])]
        e["pairs"] = ws.records("""
            SELECT p.status, p.match_probability, p.explanation, p.decision_reason, p.decided_by,
                   l.full_name AS left_name, l.account_id AS left_account,
                   r.full_name AS right_name, r.account_id AS right_account
            FROM match_pairs p JOIN party_records l ON l.record_key = p.left_key
                 JOIN party_records r ON r.record_key = p.right_key
                 JOIN entity_members ml ON ml.record_key = p.left_key
                 JOIN entity_members mr ON mr.record_key = p.right_key
            WHERE ml.entity_id = ? AND mr.entity_id = ? AND p.status IN ('merged', 'accepted')
              AND coalesce(l.account_id, '') <> coalesce(r.account_id, '')
            ORDER BY (p.status = 'accepted') DESC, l.register AND r.register DESC, p.match_probability DESC
            LIMIT ?""", [e["entity_id"], e["entity_id"], MAX_PAIRS])
    review = ws.scalar("SELECT count(*) FROM match_pairs WHERE status = 'review'") or 0
    return {"rows": rows, "total": total, "more": max(0, total - len(rows)), "review": review}


def transfers_context(ws, limit: int = MAX_TRANSFERS) -> dict[str, Any] | None:
    """Movements matched from a debit at one bank and a credit at another (``None`` before resolve)."""
    if not _have(ws, "transfer_matches", "transactions", "sources"):
        return None
    total = ws.scalar("SELECT count(*) FROM transfer_matches") or 0
    rows = ws.records("""
        SELECT m.score, m.match_probability, m.business_days, m.reasons,
               d.tx_id AS debit_tx, d.external_id AS debit_ref, d.ts AS debit_ts, d.amount, d.currency,
               d.orig_account AS debit_payer, d.bene_account AS debit_payee, d.description AS debit_memo,
               sd.file_name AS debit_file,
               c.tx_id AS credit_tx, c.external_id AS credit_ref, c.ts AS credit_ts,
               c.orig_account AS credit_payer, c.bene_account AS credit_payee, c.description AS credit_memo,
               sc.file_name AS credit_file
        FROM transfer_matches m JOIN transactions d ON d.tx_id = m.debit_tx JOIN transactions c ON c.tx_id = m.credit_tx
             LEFT JOIN sources sd ON sd.source_id = d.source_id LEFT JOIN sources sc ON sc.source_id = c.source_id
        ORDER BY d.amount DESC, m.debit_tx LIMIT ?""", [int(limit)])
    by_source = ws.records("""
        SELECT sd.file_name AS debit_file, sc.file_name AS credit_file, count(*) AS n
        FROM transfer_matches m JOIN transactions d ON d.tx_id = m.debit_tx JOIN transactions c ON c.tx_id = m.credit_tx
             LEFT JOIN sources sd ON sd.source_id = d.source_id LEFT JOIN sources sc ON sc.source_id = c.source_id
        GROUP BY 1, 2 ORDER BY n DESC, 1, 2""")
    return {"rows": rows, "total": total, "more": max(0, total - len(rows)), "by_source": by_source}
