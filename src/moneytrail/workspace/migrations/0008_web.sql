-- moneytrail workspace schema, version 8: the web app (moneytrail serve) and stable findings.
--
-- Local sign-in accounts, one per registry officer who has been issued one
-- (moneytrail authority officer login OFFICER). The enrolment code is kept only as its SHA-256;
-- the password as an argon2id hash; the TOTP secret sealed (AES-256-GCM, a key derived from the
-- secret beside the audit log's signing key, so the database file alone does not reveal it).
CREATE TABLE web_logins (
    officer_id       VARCHAR PRIMARY KEY,
    issued_at        TIMESTAMPTZ NOT NULL,
    issued_by        VARCHAR NOT NULL,
    enrol_code_sha256 VARCHAR,            -- until the officer enrols (then NULL)
    enrol_expires_at TIMESTAMPTZ,
    password_hash    VARCHAR,             -- argon2id, set at enrolment
    totp_sealed      VARCHAR,             -- hex nonce || ciphertext
    totp_last_step   BIGINT,              -- the last TOTP time step accepted (no replay)
    enrolled_at      TIMESTAMPTZ,
    failed_signins   INTEGER NOT NULL DEFAULT 0,
    lockouts         INTEGER NOT NULL DEFAULT 0,
    locked_until     TIMESTAMPTZ,
    last_signin_at   TIMESTAMPTZ,
    removed_at       TIMESTAMPTZ,
    removed_by       VARCHAR,
    removal_reason   VARCHAR
);

-- A finding's stable key: derived from its content (typology, version, evidence), so that a
-- re-run keeps it, and with it the triage recorded against it.
ALTER TABLE findings ADD COLUMN finding_key VARCHAR;

-- Triage of findings, by key: the current disposition (one row per finding key) ...
CREATE TABLE finding_triage (
    finding_key  VARCHAR NOT NULL,
    typology     VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,        -- open | under_review | confirmed | dismissed
    assignee     VARCHAR,
    reason       VARCHAR,                 -- why confirmed or dismissed
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   VARCHAR NOT NULL
);

-- ... and every change and note, in order (never updated or deleted).
CREATE TABLE finding_events (
    finding_key  VARCHAR NOT NULL,
    event_at     TIMESTAMPTZ NOT NULL,
    officer_id   VARCHAR NOT NULL,
    status       VARCHAR,                 -- the status set (NULL: a note only)
    assignee     VARCHAR,
    reason       VARCHAR,
    note         VARCHAR,
    audit_seq    BIGINT                   -- the audit entry that decided it
);

-- Findings a re-run no longer finds: kept, marked superseded, never deleted.
CREATE TABLE findings_superseded (
    finding_key      VARCHAR NOT NULL,
    finding_id       INTEGER NOT NULL,
    run_id           INTEGER NOT NULL,
    typology         VARCHAR NOT NULL,
    typology_version VARCHAR NOT NULL,
    score            DOUBLE NOT NULL,
    first_ts         TIMESTAMP,
    last_ts          TIMESTAMP,
    total_amount     DECIMAL(38, 4),
    explanation      VARCHAR NOT NULL,
    accounts         JSON,
    tx_ids           BIGINT[],
    superseded_at    TIMESTAMPTZ NOT NULL,
    superseded_by_run INTEGER NOT NULL
);
