-- moneytrail workspace schema, version 1.
-- Every fact keeps where it came from: transactions and quarantined rows carry source_id and
-- source_row; findings carry the transaction ids behind them.

CREATE SEQUENCE IF NOT EXISTS seq_source START 1;
CREATE SEQUENCE IF NOT EXISTS seq_run START 1;
CREATE SEQUENCE IF NOT EXISTS seq_finding START 1;

-- One row per evidence file received. The file itself is copied, unchanged, into the
-- content-addressed evidence folder beside the workspace (evidence_path, relative to it).
CREATE TABLE sources (
    source_id      INTEGER PRIMARY KEY,
    file_name      VARCHAR NOT NULL,      -- original base name as received
    original_path  VARCHAR NOT NULL,      -- absolute path it was read from
    evidence_path  VARCHAR NOT NULL,      -- sha256/ab/abcdef... under the evidence folder
    size_bytes     BIGINT NOT NULL,
    sha256         VARCHAR NOT NULL,
    format         VARCHAR NOT NULL,      -- csv | amlsim-transactions | amlsim-accounts | ...
    role           VARCHAR NOT NULL,      -- transactions | accounts | labels
    mapping        JSON,                  -- the mapping used, as data
    legal_basis    VARCHAR[] NOT NULL,    -- tags, e.g. ['subpoena', 'grand-jury-6e']
    received_at    TIMESTAMPTZ NOT NULL,
    ingested_at    TIMESTAMPTZ,
    ingest_count   INTEGER NOT NULL DEFAULT 1,
    rows_read      BIGINT,
    rows_stored    BIGINT,
    rows_quarantined BIGINT,
    note           VARCHAR
);

CREATE TABLE parties (
    party_id   VARCHAR PRIMARY KEY,
    name       VARCHAR,
    kind       VARCHAR,                   -- individual | business | unknown
    source_id  INTEGER,                   -- first source that named it
    source_row BIGINT
);

CREATE TABLE accounts (
    account_id  VARCHAR PRIMARY KEY,
    party_id    VARCHAR,                  -- owner
    owner_name  VARCHAR,
    bank        VARCHAR,
    branch      VARCHAR,
    kind        VARCHAR,                  -- e.g. individual, business, cash (a pseudo-account)
    currency    VARCHAR,
    opened      DATE,
    closed      DATE,
    attributes  JSON,                     -- any further metadata the source gave
    source_id   INTEGER,                  -- first source that named it
    source_row  BIGINT
);

-- tx_id = source_id * 10_000_000_000 + source_row: unique, stable across --force re-ingest,
-- and readable as provenance (tx 20000000042 is row 42 of source 2).
CREATE TABLE transactions (
    tx_id        BIGINT NOT NULL,         -- unique by construction (no index: bulk loads stay fast)
    source_id    INTEGER NOT NULL,
    source_row   BIGINT NOT NULL,          -- 1-based data row in the source (header excluded)
    external_id  VARCHAR,                  -- the id the source gave it, if any
    ts           TIMESTAMP NOT NULL,
    orig_account VARCHAR NOT NULL,         -- payer
    bene_account VARCHAR NOT NULL,         -- payee
    amount       DECIMAL(18, 4) NOT NULL,  -- >= 0; direction is orig -> bene
    currency     VARCHAR NOT NULL,
    channel      VARCHAR,                  -- cash | ach | wire | card | check | transfer | payroll | ...
    tx_type      VARCHAR,                  -- the source's own type code
    description  VARCHAR,
    location     VARCHAR,                  -- branch / ATM / place, where the source gives it
    balance_after DECIMAL(18, 4),          -- statement balance after the row, where given
    statement_account VARCHAR              -- the account whose statement this row came from
);

-- Ground-truth labels, when a dataset carries them (AMLSim). Kept apart from evidence.
CREATE TABLE labels (
    tx_id       BIGINT NOT NULL,
    is_laundering BOOLEAN NOT NULL,
    alert_id    BIGINT,
    alert_type  VARCHAR,
    source_id   INTEGER NOT NULL
);

CREATE TABLE quarantine (
    source_id   INTEGER NOT NULL,
    source_row  BIGINT NOT NULL,           -- 1-based data row (header excluded), as for transactions
    raw         VARCHAR NOT NULL,          -- the row as read (undecodable bytes shown as \xNN)
    column_name VARCHAR,                   -- the column at fault, if one
    reason      VARCHAR NOT NULL
);

CREATE TABLE runs (
    run_id      INTEGER PRIMARY KEY,
    command     VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,          -- running | ok | failed
    parameters  JSON,
    summary     JSON,
    error       VARCHAR,
    version     VARCHAR NOT NULL
);

CREATE TABLE findings (
    finding_id       INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL,
    typology         VARCHAR NOT NULL,
    typology_version VARCHAR NOT NULL,
    parameters       JSON NOT NULL,
    score            DOUBLE NOT NULL,
    first_ts         TIMESTAMP,
    last_ts          TIMESTAMP,
    total_amount     DECIMAL(38, 4),
    explanation      VARCHAR NOT NULL,
    red_flag_source  VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE finding_accounts (
    finding_id INTEGER NOT NULL,
    account_id VARCHAR NOT NULL,
    role       VARCHAR NOT NULL
);

CREATE TABLE finding_transactions (
    finding_id INTEGER NOT NULL,
    tx_id      BIGINT NOT NULL
);
