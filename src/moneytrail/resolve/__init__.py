"""Stage 2, resolve: which account records are the same account.

Writes ``account_map(raw_account, account_id, rule, reason)``: every account id seen in the
evidence maps to the resolved id the later stages use, with the rule that decided it and why.

Rules now (entity resolution with reviewed match decisions is a later capability):

* ``identity`` — an account id maps to itself. Ids are compared exactly as the evidence gives
  them; nothing is merged on a guess.
"""

from __future__ import annotations

NAME = "resolve"
NEEDS = ("transactions", "accounts")
MAKES = ("account_map",)
PARAMS: dict = {}           # no parameter changes what it makes

MAP_SQL = """
SELECT account_id AS raw_account, account_id, 'identity' AS rule,
       'no resolution rule matched: kept as its own account' AS reason
FROM (SELECT orig_account AS account_id FROM transactions
      UNION SELECT bene_account FROM transactions
      UNION SELECT account_id FROM accounts)
"""


def run(ctx) -> dict:
    n = ctx.backend.materialize("account_map", MAP_SQL)
    merged = ctx.backend.scalar("SELECT count(*) FROM account_map WHERE raw_account <> account_id")
    return {"accounts": n, "merged": merged, "rules": ["identity"]}
