"""Party records: every party the case's evidence names, with what the evidence says about it.

One record per account per source that names a holder (``account_records``: a KYC register's
row, or the first statement row naming the account), and one per name-only counterparty
(``name:...`` pseudo-accounts, a counterparty written without an account number). Nothing is
looked up outside the evidence (issue 14, items 1 and 7).

``party_records`` columns:

==================  =========================================================================
record_key          stable key: ``P`` + 16 hex digits of SHA-256 over the source's SHA-256 and
                    the account id (what the evidence says, so a re-ingest keeps it)
account_id          the account the record describes (NULL for a name-only counterparty)
account_number      the account id normalised for comparison (upper case, no blanks or
                    punctuation: ``DE89 3704-0044`` and ``de8937040044`` are one number)
source_id           the source and its row that said it
source_row
register            from an account register (KYC) rather than a statement
role                ``holder`` (the account's own records) | ``counterparty`` (a name only)
full_name           the name as written
kind                individual | business | NULL (not said)
address             the register's normalised address (``address_norm``), else as written
phone               digits (``phone_norm``)
email               lower case, where a register keeps one
dob                 date of birth or registration, where a register keeps one (ISO text)
tax_id              a tax or registration number, where a register keeps one
==================  =========================================================================

Written once in the canonical dialect; the resolve stage materializes it on the workspace.
"""

from __future__ import annotations

from moneytrail.graph import PSEUDO

# attribute keys a register may keep (accounts mapping ``keep``) that identify a party
_DOB_KEYS = ("dob", "date_of_birth", "birth_date", "registration_date", "incorporated")
_TAX_KEYS = ("tax_id", "ein", "tin", "vat", "registration_number", "company_number", "lei")
_EMAIL_KEYS = ("email", "e_mail", "email_address")


def _first(keys: tuple[str, ...]) -> str:
    parts = ", ".join(f"json_extract_string(r.attributes, '$.{k}')" for k in keys)
    return f"nullif(trim(coalesce({parts})), '')"


def account_number(expr: str) -> str:
    """SQL: an account id as compared across banks: upper case, letters and digits only."""
    return f"upper(regexp_replace({expr}, '[^A-Za-z0-9]', '', 'g'))"


PARTY_RECORDS_SQL = f"""
WITH recs AS (
    SELECT r.*, s.sha256 AS source_sha256
    FROM account_records r JOIN sources s USING (source_id)
    WHERE s.withdrawn_at IS NULL
)
SELECT 'P' || left(sha256(r.source_sha256 || '|' || r.account_id), 16) AS record_key,
       CASE WHEN r.account_id LIKE 'name:%' THEN NULL ELSE r.account_id END AS account_id,
       CASE WHEN r.account_id LIKE 'name:%' THEN NULL ELSE {account_number('r.account_id')} END AS account_number,
       r.source_id, r.source_row, r.register,
       CASE WHEN r.account_id LIKE 'name:%' THEN 'counterparty' ELSE 'holder' END AS role,
       trim(coalesce(r.owner_name, CASE WHEN r.account_id LIKE 'name:%' THEN substr(r.account_id, 6) END))
           AS full_name,
       CASE WHEN r.kind IN ('individual', 'business') THEN r.kind END AS kind,
       coalesce(json_extract_string(r.attributes, '$.address_norm'),
                nullif(trim(json_extract_string(r.attributes, '$.address')), '')) AS address,
       json_extract_string(r.attributes, '$.phone_norm') AS phone,
       lower({_first(_EMAIL_KEYS)}) AS email,
       {_first(_DOB_KEYS)} AS dob,
       {_first(_TAX_KEYS)} AS tax_id
FROM recs r
WHERE (NOT {PSEUDO.format(col='r.account_id')} OR r.account_id LIKE 'name:%')
  AND nullif(trim(coalesce(r.owner_name, CASE WHEN r.account_id LIKE 'name:%' THEN substr(r.account_id, 6) END)), '')
      IS NOT NULL
"""
