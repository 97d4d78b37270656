"""Which account ids in the evidence are the same account (``account_map``).

Banks write one account number in many ways: ``DE89 3704 0044 0532 0130 00`` in one statement,
``DE89370400440532013000`` in another, ``FNB-115833`` in the bank's own register and
``FNB115833`` in a counterparty field at another bank. Rules, in order:

``identity``
    the id maps to itself (every id the evidence names starts here);
``same-number``
    ids that are the same number once blanks, dashes, dots and case are set aside
    (:func:`moneytrail.resolve.parties.account_number`) map to one id, when the number is a
    valid IBAN (ISO 13616 check digits: unique worldwide) or the banks the evidence names for
    them do not differ (a US account number is unique only within its bank: ``12345678`` at two
    banks are two accounts). The id kept is the one an account register names, else the one a
    statement is about, else the first in sort order;
``matched-transfer``
    the account a paying bank wrote as the payee of a transfer is the receiving bank's account
    that booked the same transfer (:mod:`moneytrail.resolve.transfers`), when every matched
    transfer from that written id agrees on the account.

Every row says its rule and why, in words. Pseudo-accounts (``cash``, ``name:...``,
``unidentified:...``) map only to themselves.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from moneytrail.graph import PSEUDO
from moneytrail.resolve.parties import account_number

IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def valid_iban(num: str) -> bool:
    """ISO 13616: two letters, two check digits and the BBAN, the check digits making the number
    (letters as 10..35, the first four characters moved to the end) 1 modulo 97."""
    if not IBAN.fullmatch(num):
        return False
    moved = num[4:] + num[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


IDS_SQL = f"""
WITH ids AS (SELECT orig_account AS raw FROM transactions UNION SELECT bene_account FROM transactions
             UNION SELECT account_id FROM accounts)
SELECT raw, {PSEUDO.format(col='raw')} AS pseudo, {account_number('raw')} AS num
FROM ids
"""

GROUPS_SQL = """
WITH n AS ({ids}),
multi AS (SELECT num FROM n WHERE NOT pseudo AND num <> '' GROUP BY num HAVING count(*) > 1)
SELECT n.num, n.raw,
       n.raw IN (SELECT account_id FROM account_records WHERE register) AS register,
       n.raw IN (SELECT DISTINCT statement_account FROM transactions WHERE statement_account IS NOT NULL) AS statement,
       (SELECT list(DISTINCT upper(trim(r.bank))) FILTER (WHERE r.bank IS NOT NULL AND trim(r.bank) <> '')
          FROM account_records r WHERE r.account_id = n.raw) AS banks
FROM n JOIN multi USING (num)
ORDER BY n.num, n.raw
"""


def same_number_map(con) -> list[dict[str, Any]]:
    """The ``same-number`` rows: for each group of ids that are one number, every id but the one
    kept, with the reason (or none where the rule does not apply)."""
    rows = con.execute(GROUPS_SQL.format(ids=IDS_SQL)).fetchall()
    groups: dict[str, list[tuple]] = {}
    for num, raw, register, statement, banks in rows:
        groups.setdefault(num, []).append((raw, register, statement, banks or []))
    out = []
    for num, members in groups.items():
        iban = valid_iban(num)
        banks = {b for _, _, _, bs in members for b in bs}
        if not iban and len(banks) > 1:
            continue                          # the same digits at different banks: different accounts
        keep = min(members, key=lambda m: (not m[1], not m[2], m[0]))[0]
        why = ("a valid IBAN" if iban else
               f"the same bank ({next(iter(banks))})" if banks else "no bank named to tell them apart")
        for raw, *_ in members:
            if raw != keep:
                out.append({"raw_account": raw, "account_id": keep, "rule": "same-number",
                            "reason": f"{raw} is {keep} written another way (the same number {num}; {why})"})
    return out


MAP_SQL = f"""
SELECT raw AS raw_account, raw AS account_id, 'identity' AS rule,
       'no resolution rule matched: kept as its own account' AS reason
FROM ({IDS_SQL})
"""


def build_account_map(be, con, extra: list[dict[str, Any]]) -> dict[str, int]:
    """Materialize ``account_map``: identity for every id, replaced by the rows of ``extra``
    (``same-number``, ``matched-transfer``); returns counts per rule."""
    tbl = pa.table({k: pa.array([r[k] for r in extra], pa.string())
                    for k in ("raw_account", "account_id", "rule", "reason")})
    con.register("_account_rules", tbl)
    try:
        be.materialize("account_map", f"""
            SELECT i.raw_account, coalesce(x.account_id, i.account_id) AS account_id,
                   coalesce(x.rule, i.rule) AS rule, coalesce(x.reason, i.reason) AS reason
            FROM ({MAP_SQL}) i LEFT JOIN _account_rules x USING (raw_account)""")
    finally:
        con.unregister("_account_rules")
    return {r[0]: r[1] for r in con.execute("SELECT rule, count(*) FROM account_map GROUP BY rule").fetchall()}
