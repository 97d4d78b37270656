"""``moneytrail export --format ftm``: the case's findings and the money behind them as
FollowTheMoney entities (JSON lines), the data model of Aleph/OpenAleph, so that a case can be
loaded there (``ftm store write`` / ``alephclient write-entities``).

What is written (``entities.ftm.json``, one entity per line), for the findings the filters select:

- a **Document** per evidence source the transactions come from (file name, SHA-256 in
  ``description``, legal basis, row accounting): every other entity's ``proof``;
- a **BankAccount** per real account (``accountNumber``, ``iban`` where it is one, bank, currency)
  and, for each account's holder, a **Person** (individual), **Company** (business) or
  **LegalEntity** (unknown kind), with an **Ownership** linking holder to account;
- a **Payment** per transaction: payer and beneficiary (the holders), their accounts, amount,
  currency, date, purpose (remittance text), the bank's reference (``transactionNumber``), the
  internal id (``recordId``) and where it was read (``summary``: source, row, position);
  counterparties without an account (cash, a name only) are LegalEntities of their own;
- a **Note** per finding on each account it names: the typology and version, score, stable key,
  explanation, red-flag source and the evidence transactions (their record ids), so the finding
  travels with its evidence.

Ids are deterministic (``make_id`` over the workspace id and the record's key), so a second
export of the same case gives the same ids and Aleph merges rather than duplicates. Every entity
is checked with the package's own validation (``Schema.validate``) and its required properties
before it is written; a value the model cannot hold (an IBAN that is not one) is left out of
that property, never forced. The followthemoney package is the optional extra ``ftm``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from moneytrail.errors import ConfigError

FILE = "entities.ftm.json"


def _model():
    import csv

    from moneytrail.limits import READER_FIELD_CHARS

    try:
        from followthemoney import model
        csv.field_size_limit(READER_FIELD_CHARS)   # its import sets a process-wide CSV limit: ours back
    except ImportError:  # pragma: no cover - the extra is in dev; a user without it gets one line
        raise ConfigError("--format ftm needs the followthemoney package: pip install 'moneytrail[ftm]'") from None
    return model


class _Writer:
    """Makes entities, validates them and writes each id once."""

    def __init__(self, model, fh, ns: str):
        self.model, self.fh, self.ns = model, fh, ns
        self.seen: set[str] = set()
        self.counts: dict[str, int] = {}

    def make(self, schema: str, *key: Any):
        e = self.model.make_entity(schema)
        e.make_id(self.ns, schema, *[str(k) for k in key])
        return e

    def emit(self, e) -> str:
        if e.id in self.seen:
            return e.id
        data = e.to_dict()
        problem = e.schema.validate(data)
        missing = [p for p in e.schema.required if not data["properties"].get(p)]
        if problem or missing:
            raise ValueError(f"FollowTheMoney refuses a {e.schema.name}: {problem or 'missing ' + ', '.join(missing)}")
        self.fh.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
        self.seen.add(e.id)
        self.counts[e.schema.name] = self.counts.get(e.schema.name, 0) + 1
        return e.id


def _is_iban(v: str) -> bool:
    s = v.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit() and s.isalnum()):
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def _pseudo(account: str) -> tuple[str, str] | None:
    """A counterparty that is not an account: (kind, name) for its LegalEntity."""
    if account == "cash":
        return "cash", "Cash (no account)"
    if account.startswith("cash@"):
        return "cash", f"Cash at {account[5:]}"
    if account.startswith("name:"):
        return "name", account[5:]
    if account.startswith("unidentified:"):
        return "unidentified", f"Unidentified counterparty of {account[13:]}"
    return None


def write(ws, out: Path, *, tx_query: str) -> dict[str, Any]:
    """Write ``entities.ftm.json`` into ``out`` from the export's temporary tables
    (``_export_findings``, ``_export_finding_transactions``, ``_export_sources``, filled by
    :func:`moneytrail.export.write`) and the transactions ``tx_query`` returns, each once;
    returns the entity counts and the file's size."""
    model = _model()
    from moneytrail.audit.log import workspace_id

    try:
        ns = f"moneytrail:{workspace_id(ws)}"
    except Exception:   # a workspace without a registry has no id yet: its file name stands in
        ns = f"moneytrail:{ws.path.name}"
    path = out / FILE
    tmp = path.with_name(path.name + ".partial")
    holders: dict[str, str] = {}
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            w = _Writer(model, fh, ns)
            docs = {}
            for s in ws.records("SELECT * FROM _export_sources ORDER BY source_id"):
                d = w.make("Document", "source", s["sha256"])
                d.add("fileName", s["file_name"])
                d.add("title", f"Evidence source {s['source_id']}: {s['file_name']}")
                d.add("description", f"SHA-256 {s['sha256']}; format {s['format']}; legal basis "
                                     f"{s['legal_basis'] or 'none recorded'}; rows read {s['rows_read']}, "
                                     f"stored {s['rows_stored']}, quarantined {s['rows_quarantined']}")
                d.add("mimeType", {"csv": "text/csv", "camt": "application/xml", "xlsx":
                                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}.get(s["format"]))
                docs[s["source_id"]] = w.emit(d)

            # what the accounts view says of every account the export names, read before the
            # transactions stream (one query; nothing else runs on the connection meanwhile)
            facts = {r["account_id"]: r for r in ws.records("""
                SELECT a.account_id, a.owner_name, a.kind, a.bank, a.currency FROM accounts a
                WHERE a.account_id IN (SELECT orig_account FROM _export_finding_transactions
                                       UNION SELECT bene_account FROM _export_finding_transactions)""")}

            def holder(account: str, proof: str | None) -> str:
                if account in holders:
                    return holders[account]
                p = _pseudo(account)
                if p is not None:
                    e = w.make("LegalEntity", "pseudo", account)
                    e.add("name", p[1])
                    e.add("description", {"cash": "cash: money paid in or out over the counter or at an ATM",
                                          "name": "a counterparty named in an entry without an account number",
                                          "unidentified": "an entry's counterparty that the evidence does not name"}[p[0]])
                else:
                    a = facts.get(account, {})
                    kind = (a.get("kind") or "").lower()
                    schema = "Person" if kind == "individual" else "Company" if kind in ("business", "company") \
                        else "LegalEntity"
                    e = w.make(schema, "holder", account)
                    e.add("name", a.get("owner_name") or f"Holder of account {account}")
                    acc = w.make("BankAccount", "account", account)
                    acc.add("accountNumber", account)
                    if _is_iban(account):
                        acc.add("iban", account)
                    acc.add("bankName", a.get("bank"))
                    acc.add("currency", a.get("currency"))
                    if proof:
                        acc.add("proof", proof)
                    own = w.make("Ownership", "owns", account)
                    own.add("owner", e.id)
                    own.add("asset", acc.id)
                    own.add("role", "account holder")
                    if proof:
                        e.add("proof", proof)
                        own.add("proof", proof)
                    w.emit(e)
                    w.emit(acc)
                    w.emit(own)
                    holders[account] = e.id
                    return e.id
                if proof:
                    e.add("proof", proof)
                holders[account] = w.emit(e)
                return holders[account]

            for batch in ws.con.sql(tx_query).to_arrow_reader(65_536):
                for t in batch.to_pylist():
                    proof = docs.get(t["source_id"])
                    pay = w.make("Payment", "tx", t["tx_id"])
                    pay.add("payer", holder(t["orig_account"], proof))
                    pay.add("beneficiary", holder(t["bene_account"], proof))
                    for side, acct in (("payerAccount", t["orig_account"]), ("beneficiaryAccount", t["bene_account"])):
                        if _pseudo(acct) is None:
                            pay.add(side, w.make("BankAccount", "account", acct).id)
                    pay.add("amount", str(t["amount"]))
                    pay.add("currency", t["currency"])
                    pay.add("date", t["ts"].isoformat() if t["ts"] else None)
                    pay.add("purpose", t["description"])
                    pay.add("transactionNumber", t["external_id"])
                    pay.add("recordId", str(t["tx_id"]))
                    where = f"source {t['source_id']} ({t['source_file']}, SHA-256 {t['source_sha256']}) row {t['source_row']}"
                    if t.get("source_position"):
                        where += f", {t['source_position']}"
                    pay.add("summary", where)
                    if proof:
                        pay.add("proof", proof)
                    w.emit(pay)

            for f in ws.records("SELECT * FROM _export_findings ORDER BY priority DESC NULLS LAST, score DESC, finding_id"):
                accounts = [a.split(":", 1)[0] for a in (f["accounts"] or "").split(";") if a]
                txs = [str(r[0]) for r in ws.query("SELECT DISTINCT tx_id FROM _export_finding_transactions "
                                                   "WHERE finding_id = ? ORDER BY tx_id", [f["finding_id"]])]
                for acct in accounts:
                    if _pseudo(acct) is not None:
                        continue
                    holder(acct, None)
                    n = w.make("Note", "finding", f.get("finding_key") or f["finding_id"], acct)
                    n.add("name", f"moneytrail finding {f.get('finding_key') or f['finding_id']}: {f['typology']}")
                    n.add("entity", w.make("BankAccount", "account", acct).id)
                    n.add("description", f"{f['explanation']}\n\nTypology {f['typology']} v{f['typology_version']}, "
                                         f"score {f['score']}; red-flag source: {f['red_flag_source']}. Evidence: "
                                         f"{len(txs)} transactions (recordId {', '.join(txs[:200])}"
                                         f"{' …' if len(txs) > 200 else ''}).")
                    n.add("summary", f"{f['typology']} finding, {f['first_ts']} to {f['last_ts']}, total "
                                     f"{f['total_amount']}")
                    w.emit(n)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"entities": w.counts, "file": FILE, "bytes": path.stat().st_size}


def entities(path: Path) -> Iterator[dict[str, Any]]:
    """The entities of a written file, one dict each."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


__all__ = ["FILE", "entities", "write"]
