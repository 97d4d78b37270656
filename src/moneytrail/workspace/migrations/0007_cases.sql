-- moneytrail workspace schema, version 7: cases partition a workspace (moneytrail.workspace.cases).
--
-- What the sources say about an account is kept per source (account_records), so that a case
-- sees only what its own sources say: a KYC register of another case's subpoena return must not
-- show through an account's owner name. `accounts` becomes a view over the records of every
-- source not withdrawn; a case's schema has the same view over its own sources (accounts_of).

CREATE TABLE account_records (
    account_id  VARCHAR NOT NULL,
    source_id   INTEGER NOT NULL,
    source_row  BIGINT NOT NULL,        -- the row that first named it in that source
    register    BOOLEAN NOT NULL,       -- from an account register (KYC) rather than a statement
    party_id    VARCHAR,
    owner_name  VARCHAR,
    bank        VARCHAR,
    branch      VARCHAR,
    kind        VARCHAR,
    currency    VARCHAR,
    opened      DATE,
    closed      DATE,
    attributes  JSON
);

INSERT INTO account_records
SELECT a.account_id, a.source_id, coalesce(a.source_row, 0),
       coalesce(s.format IN ('accounts', 'amlsim-accounts'), false),
       a.party_id, a.owner_name, a.bank, a.branch, a.kind, a.currency, a.opened, a.closed, a.attributes
FROM accounts a LEFT JOIN sources s USING (source_id)
WHERE a.source_id IS NOT NULL;

DROP TABLE accounts;

-- what the given sources say about each account: registers (KYC) before statements; among
-- registers the latest source wins field by field, among statements the first row giving a value;
-- attributes merged in that order (a later register's facts win)
CREATE MACRO accounts_of(ids) AS TABLE
    SELECT account_id,
           arg_max(party_id, prio) FILTER (WHERE party_id IS NOT NULL) AS party_id,
           arg_max(owner_name, prio) FILTER (WHERE owner_name IS NOT NULL) AS owner_name,
           arg_max(bank, prio) FILTER (WHERE bank IS NOT NULL) AS bank,
           arg_max(branch, prio) FILTER (WHERE branch IS NOT NULL) AS branch,
           arg_max(kind, prio) FILTER (WHERE kind IS NOT NULL) AS kind,
           arg_max(currency, prio) FILTER (WHERE currency IS NOT NULL) AS currency,
           arg_max(opened, prio) FILTER (WHERE opened IS NOT NULL) AS opened,
           arg_max(closed, prio) FILTER (WHERE closed IS NOT NULL) AS closed,
           list_reduce(list(attributes ORDER BY prio) FILTER (WHERE attributes IS NOT NULL),
                       lambda a, b: json_merge_patch(a, b)) AS attributes,
           arg_min(source_id, first) AS source_id,
           arg_min(source_row, first) AS source_row
    FROM (SELECT *, CAST(source_id AS HUGEINT) * 10000000000 + source_row AS first,
                 CASE WHEN register
                      THEN (CAST(1 AS HUGEINT) << 100) + CAST(source_id AS HUGEINT) * 10000000000 + source_row
                      ELSE -(CAST(source_id AS HUGEINT) * 10000000000 + source_row) END AS prio
          FROM main.account_records
          WHERE list_contains(ids, source_id))
    GROUP BY account_id;

CREATE VIEW accounts AS
SELECT * FROM accounts_of((SELECT coalesce(list(source_id), []) FROM main.sources WHERE withdrawn_at IS NULL));
