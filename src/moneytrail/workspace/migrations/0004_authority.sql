-- moneytrail workspace schema, version 4: the authority registry and the audit log's anchor.
-- Agencies, officers and deputization grants; cases with their members, grand-jury disclosure
-- list and recorded 26 U.S.C. 6103(i) authorities. Changed only through moneytrail.authority,
-- every change decided by the Cedar policies and recorded in the audit log (see docs/authority.md).

-- One row: the workspace's own id (it names the audit log's signing key and external tree head,
-- kept outside the workspace), when its audit log was started (so that deleting the log folder
-- is not mistaken for a new, empty log), and the registry as one JSON document for deciding
-- (derived: rebuilt from the tables below, in the same transaction, by every registry change;
-- one small read per decision instead of a query per table).
CREATE TABLE authority_state (
    workspace_id      VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    audit_started_at  TIMESTAMPTZ,
    audit_folder      VARCHAR,
    registry_version  BIGINT NOT NULL,
    registry          VARCHAR
);
INSERT INTO authority_state SELECT CAST(uuid() AS VARCHAR), now(), NULL, NULL, 0, NULL;

CREATE TABLE agencies (
    agency_id   VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    kind        VARCHAR,                 -- federal | state | local | tribal | other
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  VARCHAR NOT NULL
);

CREATE TABLE officers (
    officer_id  VARCHAR PRIMARY KEY,
    name        VARCHAR NOT NULL,
    home_agency VARCHAR NOT NULL,        -- agencies.agency_id
    roles       VARCHAR[] NOT NULL,      -- registrar (manages the registry), auditor (reads the audit log)
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  VARCHAR NOT NULL
);

-- A deputization grant. Drafts may lack fields; activation checks every required field.
CREATE TABLE grants (
    grant_id            VARCHAR PRIMARY KEY,
    officer_id          VARCHAR NOT NULL,
    deputizing_official VARCHAR,
    deputizing_agency   VARCHAR,         -- agencies.agency_id
    consent_official    VARCHAR,         -- who consented for the officer's home agency
    consent_agency      VARCHAR,         -- must be the officer's home agency
    consent_date        DATE,
    statute             VARCHAR,         -- e.g. 8 U.S.C. 1103(a)(6)
    functions           VARCHAR[] NOT NULL,
    jurisdictions       VARCHAR[] NOT NULL,
    valid_from          DATE,
    valid_until         DATE,            -- inclusive: valid through the end of this day (UTC)
    training_course     VARCHAR,
    training_date       DATE,
    training_expires    DATE,            -- inclusive
    status              VARCHAR NOT NULL, -- draft | active | revoked
    activated_at        TIMESTAMPTZ,
    activated_by        VARCHAR,
    revoked_at          TIMESTAMPTZ,
    revoked_by          VARCHAR,
    revocation_reason   VARCHAR,
    created_at          TIMESTAMPTZ NOT NULL,
    created_by          VARCHAR NOT NULL
);

CREATE TABLE cases (
    case_id      VARCHAR PRIMARY KEY,
    title        VARCHAR,
    function     VARCHAR NOT NULL,       -- the financial-investigation function it is opened under
    jurisdiction VARCHAR NOT NULL,
    predicate    VARCHAR NOT NULL,       -- the factual predicate for opening it
    status       VARCHAR NOT NULL,       -- open | closed
    opened_by    VARCHAR NOT NULL,
    opened_at    TIMESTAMPTZ NOT NULL,
    closed_by    VARCHAR,
    closed_at    TIMESTAMPTZ,
    close_reason VARCHAR
);

CREATE TABLE case_members (
    case_id    VARCHAR NOT NULL,
    officer_id VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,         -- lead | member
    added_at   TIMESTAMPTZ NOT NULL,
    added_by   VARCHAR NOT NULL,
    removed_at TIMESTAMPTZ,
    removed_by VARCHAR
);

-- Fed. R. Crim. P. 6(e)(3)(B): the persons grand-jury material was disclosed to, as the
-- government attorney who disclosed it reports them to the court.
CREATE TABLE case_disclosures (
    case_id      VARCHAR NOT NULL,
    officer_id   VARCHAR NOT NULL,
    attorney     VARCHAR NOT NULL,       -- the attorney for the government making the disclosure
    noted_at     TIMESTAMPTZ NOT NULL,
    noted_by     VARCHAR NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    withdrawn_by VARCHAR
);

-- 26 U.S.C. 6103(i)(1) ex parte court orders and 6103(i)(2) written requests recorded on a case.
-- Each names its subjects (taxpayers); federal tax information about anyone else stays closed.
CREATE TABLE case_authorities (
    authority_id        VARCHAR PRIMARY KEY,
    case_id             VARCHAR NOT NULL,
    kind                VARCHAR NOT NULL, -- 6103(i)(1) | 6103(i)(2)
    subjects            VARCHAR[] NOT NULL,
    judge               VARCHAR,          -- (i)(1)
    court               VARCHAR,          -- (i)(1)
    order_date          DATE,             -- (i)(1)
    scope               VARCHAR,          -- (i)(1): what the order covers
    requesting_official VARCHAR,          -- (i)(2)
    official_title      VARCHAR,          -- (i)(2)
    request_date        DATE,             -- (i)(2)
    subject_addresses   VARCHAR[],        -- (i)(2)(B)(i): name and address of each taxpayer
    taxable_periods     VARCHAR,          -- (i)(2)(B)(ii)
    statutory_authority VARCHAR,          -- (i)(2)(B)(iii)
    reason              VARCHAR,          -- (i)(2)(B)(iv)
    recorded_at         TIMESTAMPTZ NOT NULL,
    recorded_by         VARCHAR NOT NULL,
    withdrawn_at        TIMESTAMPTZ,
    withdrawn_by        VARCHAR
);
