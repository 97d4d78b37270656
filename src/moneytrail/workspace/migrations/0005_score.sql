-- Learned risk scoring: stored models, transaction scores and account scores.

CREATE SEQUENCE IF NOT EXISTS seq_model START 1;

CREATE TABLE models (
    model_id          INTEGER PRIMARY KEY,
    created_at        TIMESTAMPTZ NOT NULL,
    kind              VARCHAR NOT NULL,       -- lightgbm
    features          JSON NOT NULL,          -- ordered feature names
    training_data_hash VARCHAR NOT NULL,      -- sha256 of the training matrix and labels
    parameters        JSON NOT NULL,          -- LightGBM parameters, seed, best iteration
    threshold         DOUBLE NOT NULL,        -- validation-F1-optimal decision threshold
    validation        JSON NOT NULL,          -- validation (and held-out test) metrics
    split             JSON NOT NULL,          -- rows and time range of train / validation / test
    model_text        VARCHAR NOT NULL        -- the booster (LightGBM text format)
);

CREATE TABLE scores (
    tx_id     BIGINT NOT NULL,
    model_id  INTEGER NOT NULL,
    score     DOUBLE NOT NULL,
    flagged   BOOLEAN NOT NULL,
    reasons   JSON                            -- top contributing features (flagged rows)
);

CREATE TABLE account_scores (
    account_id VARCHAR NOT NULL,
    model_id   INTEGER NOT NULL,
    score      DOUBLE NOT NULL,               -- the highest score among its transactions
    flagged_transactions BIGINT NOT NULL,
    top_tx_id  BIGINT,
    reasons    JSON
);
