-- moneytrail workspace schema, version 11: entity resolution with a review queue (issue 14).
--
-- What an officer decided about a pair of party records: the same party or not. Decisions are
-- records of the case (each case schema has its own, made like these), kept across re-runs and
-- always winning over the model; every decision is also an audit entry (audit_seq). A pair is
-- named by its two records' stable keys (party_records.record_key: what the evidence says, not
-- a row number that a re-ingest could change), smaller key first; the latest decision counts.
CREATE TABLE match_decisions (
    pair_key     VARCHAR NOT NULL,          -- left_key || ' ~ ' || right_key
    left_key     VARCHAR NOT NULL,
    right_key    VARCHAR NOT NULL,
    decision     VARCHAR NOT NULL,          -- same | different
    reason       VARCHAR NOT NULL,
    probability  DOUBLE,                    -- the model's, when the officer decided
    decided_by   VARCHAR NOT NULL,
    decided_at   TIMESTAMPTZ NOT NULL,
    audit_seq    BIGINT
);

-- The entity-resolution model trained on the case's own records (Splink, unsupervised): its
-- settings and trained parameters as Splink's JSON, so a re-run predicts with the same model
-- until it is retrained (moneytrail resolve --retrain).
CREATE TABLE er_models (
    model_id     INTEGER NOT NULL,
    trained_at   TIMESTAMPTZ NOT NULL,
    run_id       INTEGER,
    records      BIGINT NOT NULL,           -- party records it was trained on
    model        JSON NOT NULL,
    summary      JSON
);
