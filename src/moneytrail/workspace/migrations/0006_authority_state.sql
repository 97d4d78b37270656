-- moneytrail workspace schema, version 6: the authority state under the signed audit log, with
-- separation of duties, and sources that belong to cases (docs/authority.md, "The authority state").
--
-- The registry document that decisions used to read from authority_state is gone: decisions
-- read the tables themselves (moneytrail.authority.state) and check them against the state hash
-- signed in the audit log, so an edit made outside moneytrail is refused instead of adopted.
ALTER TABLE authority_state DROP COLUMN registry;
ALTER TABLE authority_state DROP COLUMN registry_version;

-- A grant is approved by the deputizing official it names (a registered officer, not the
-- grantee) before a registrar may activate it.
CREATE TABLE grant_approvals (
    grant_id    VARCHAR NOT NULL,
    officer_id  VARCHAR NOT NULL,        -- the deputizing official who approved it
    approved_at TIMESTAMPTZ NOT NULL
);

-- A source can be withdrawn (a file that cannot be used, ingested by mistake): it stays, with its
-- evidence copy and its record, but no case reads it any more.
ALTER TABLE sources ADD COLUMN withdrawn_at TIMESTAMPTZ;
ALTER TABLE sources ADD COLUMN withdrawn_by VARCHAR;
ALTER TABLE sources ADD COLUMN withdrawal_reason VARCHAR;

-- Which case a source belongs to: the case it was ingested in, and any case it was shared with
-- by a decision (how: ingest | share).
CREATE TABLE source_cases (
    source_id  INTEGER NOT NULL,
    case_id    VARCHAR NOT NULL,
    how        VARCHAR NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL,
    added_by   VARCHAR
);
