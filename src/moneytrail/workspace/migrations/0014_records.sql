-- moneytrail workspace schema, version 14: employer and contract records (issue 17).
--
-- Records other than transfers, each kept like a transaction: its source and row (provenance),
-- and a record id with the transaction id's shape (source_id * 10^10 + source_row), which a
-- finding cites as evidence (finding_records). Every input row is stored in one of these tables
-- or quarantined with its reason (ingest/records.py). Worker identifiers (SSN, ITIN) are never
-- stored: a keyed hash (HMAC-SHA256 under the workspace secret, ingest/workerid.py) and the last
-- four digits only.

-- payroll registers: one row per worker per pay (an employer's register, a payroll processor's)
CREATE TABLE payroll_lines (
    record_id      BIGINT NOT NULL,
    source_id      INTEGER NOT NULL,
    source_row     BIGINT NOT NULL,
    employer       VARCHAR NOT NULL,         -- the employer as the register names it (EIN if given, else name)
    employer_name  VARCHAR,
    employer_ein   VARCHAR,                  -- 9 digits
    period_start   DATE,
    period_end     DATE,
    pay_date       DATE NOT NULL,
    worker_key     VARCHAR NOT NULL,         -- keyed hash of the worker's identifier (never the identifier)
    worker_last4   VARCHAR,
    worker_id_kind VARCHAR,                  -- ssn | itin | employee (an employer's own number)
    hours          DECIMAL(10,2),
    rate           DECIMAL(18,4),
    gross          DECIMAL(18,2) NOT NULL,
    net            DECIMAL(18,2),
    deduction_tax        DECIMAL(18,2),      -- income and payroll taxes withheld
    deduction_benefits   DECIMAL(18,2),
    deduction_housing    DECIMAL(18,2),
    deduction_transport  DECIMAL(18,2),
    deduction_debt       DECIMAL(18,2),      -- loans, advances, recruitment or placement fees
    deduction_food       DECIMAL(18,2),
    deduction_tools      DECIMAL(18,2),      -- tools, uniforms, equipment
    deduction_other      DECIMAL(18,2),
    pay_method     VARCHAR,                  -- direct_deposit | check | cash | card | money_order | other
    pay_account    VARCHAR,                  -- the account the pay went to (an account id as statements name it)
    check_number   VARCHAR,
    work_state     VARCHAR,                  -- two-letter state where the work was done (minimum wage)
    currency       VARCHAR NOT NULL
);

-- wage reports: W-2 (SSA EFW2 RW records, or a W-2 listing), Form 941 quarters, state UI wage records
CREATE TABLE wage_reports (
    record_id      BIGINT NOT NULL,
    source_id      INTEGER NOT NULL,
    source_row     BIGINT NOT NULL,
    form           VARCHAR NOT NULL,         -- w2 | 941 | ui
    employer_ein   VARCHAR,
    employer_name  VARCHAR,
    tax_year       INTEGER NOT NULL,
    quarter        INTEGER,                  -- 1-4 (941, UI); NULL for a W-2's year
    period_start   DATE NOT NULL,
    period_end     DATE NOT NULL,
    worker_key     VARCHAR,                  -- W-2, UI: the worker (keyed hash); 941: NULL
    worker_last4   VARCHAR,
    employees      INTEGER,                  -- 941 line 1
    wages          DECIMAL(18,2),            -- W-2 box 1; 941 line 2; UI gross wages
    withholding    DECIMAL(18,2),            -- federal income tax withheld (W-2 box 2; 941 line 3)
    ss_wages       DECIMAL(18,2),            -- W-2 box 3; 941 line 5a
    medicare_wages DECIMAL(18,2),            -- W-2 box 5; 941 line 5c
    hours          DECIMAL(10,2),            -- UI, where the state collects hours
    state          VARCHAR
);

-- contract actions: USAspending.gov contract transactions (current and legacy layouts), an agency's awards
CREATE TABLE awards (
    record_id        BIGINT NOT NULL,
    source_id        INTEGER NOT NULL,
    source_row       BIGINT NOT NULL,
    transaction_key  VARCHAR,                -- contract_transaction_unique_key
    award_key        VARCHAR,                -- contract_award_unique_key
    piid             VARCHAR,
    parent_piid      VARCHAR,
    modification     VARCHAR,
    solicitation     VARCHAR,
    action_date      DATE NOT NULL,
    obligation       DECIMAL(18,2) NOT NULL, -- federal_action_obligation (negative for a deobligation)
    current_value    DECIMAL(18,2),          -- base and exercised options
    potential_value  DECIMAL(18,2),          -- base and all options
    agency           VARCHAR,
    subagency        VARCHAR,
    office_code      VARCHAR,
    office           VARCHAR,
    recipient_uei    VARCHAR,
    recipient_duns   VARCHAR,
    recipient_name   VARCHAR,
    parent_uei       VARCHAR,
    parent_name      VARCHAR,
    recipient_address VARCHAR,
    address_norm     VARCHAR,
    phone_norm       VARCHAR,
    naics            VARCHAR,
    psc              VARCHAR,
    extent_competed  VARCHAR,                -- FPDS code: A full and open, B not available, C not competed, ...
    offers           INTEGER,                -- number of offers received
    set_aside        VARCHAR,
    award_type       VARCHAR,
    description      VARCHAR
);

-- vendors: SAM.gov entity registrations, an agency's vendor master
CREATE TABLE vendors (
    record_id      BIGINT NOT NULL,
    source_id      INTEGER NOT NULL,
    source_row     BIGINT NOT NULL,
    origin         VARCHAR NOT NULL,         -- sam | vendor_master
    vendor_id      VARCHAR,                  -- the agency's vendor number
    uei            VARCHAR,
    cage           VARCHAR,
    duns           VARCHAR,
    name           VARCHAR NOT NULL,
    dba            VARCHAR,
    address        VARCHAR,
    address_norm   VARCHAR,
    phone          VARCHAR,
    phone_norm     VARCHAR,
    email          VARCHAR,
    bank_account   VARCHAR,                  -- remittance account (an account id as statements name it)
    ein            VARCHAR,                  -- the vendor's EIN where its TIN is one (9 digits; a business number)
    tin_key        VARCHAR,                  -- keyed hash of the vendor's TIN (an SSN for a sole proprietor)
    tin_last4      VARCHAR,
    registered     DATE,                     -- SAM initial registration date
    activated      DATE,
    expires        DATE,
    started        DATE,                     -- entity start (incorporation) date
    poc_name       VARCHAR,
    naics          VARCHAR,
    state          VARCHAR,
    country        VARCHAR
);

-- an agency's payment ledger: what it paid, to whom, for which invoice
CREATE TABLE payments (
    record_id      BIGINT NOT NULL,
    source_id      INTEGER NOT NULL,
    source_row     BIGINT NOT NULL,
    payment_id     VARCHAR,
    vendor_id      VARCHAR,
    vendor_uei     VARCHAR,
    vendor_name    VARCHAR,
    invoice        VARCHAR,
    invoice_date   DATE,
    paid_date      DATE NOT NULL,
    amount         DECIMAL(18,2) NOT NULL,
    currency       VARCHAR NOT NULL,
    office_code    VARCHAR,
    office         VARCHAR,
    piid           VARCHAR,
    pay_account    VARCHAR,                  -- the account paid into
    method         VARCHAR,                  -- ach | check | card | wire | other
    approver       VARCHAR,                  -- the official who certified or approved it
    description    VARCHAR
);

-- the contracting agency's employees and officials (for conflict-of-interest checks)
CREATE TABLE officials (
    record_id      BIGINT NOT NULL,
    source_id      INTEGER NOT NULL,
    source_row     BIGINT NOT NULL,
    person_id      VARCHAR NOT NULL,         -- the agency's employee number
    name           VARCHAR,
    title          VARCHAR,
    role           VARCHAR,                  -- contracting officer, COR, approving official, ...
    office_code    VARCHAR,
    office         VARCHAR,
    address        VARCHAR,
    address_norm   VARCHAR,
    phone          VARCHAR,
    phone_norm     VARCHAR,
    email          VARCHAR,
    bank_account   VARCHAR,
    tin_key        VARCHAR,
    tin_last4      VARCHAR,
    started        DATE,
    ended          DATE
);

-- a finding's evidence among these records (its transactions stay in finding_transactions)
CREATE TABLE finding_records (
    finding_id INTEGER NOT NULL,
    record_id  BIGINT NOT NULL,
    kind       VARCHAR NOT NULL              -- payroll_lines | wage_reports | awards | vendors | payments | officials
);

ALTER TABLE findings_superseded ADD COLUMN records JSON;
