-- moneytrail workspace schema, version 9: what banks' own statement formats carry (issue 13).
--
-- Every transaction and quarantined record keeps its place in the file (source_position: a line
-- such as "line 12" / "lines 12-14", or an XML path such as
-- /Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/NtryDtls[1]/TxDtls[2]); with the source's SHA-256 it
-- names the record exactly. The other new columns are what statement formats say about an entry.
ALTER TABLE transactions ADD COLUMN source_position VARCHAR;
ALTER TABLE transactions ADD COLUMN value_date DATE;
ALTER TABLE transactions ADD COLUMN counterparty_name VARCHAR;
ALTER TABLE transactions ADD COLUMN counterparty_bank VARCHAR;
ALTER TABLE transactions ADD COLUMN end_to_end_id VARCHAR;
ALTER TABLE transactions ADD COLUMN customer_reference VARCHAR;
ALTER TABLE transactions ADD COLUMN batch_ref VARCHAR;
ALTER TABLE quarantine ADD COLUMN source_position VARCHAR;

-- One row per statement (camt Stmt/Rpt, MT940/942 message, BAI2 account, OFX statement) of a
-- source: the account, its holder and bank, and the balances the bank states. Tracing's balance
-- reconciliation reads them (opening + movements = closing; consecutive statements meet).
CREATE TABLE statements (
    source_id            INTEGER NOT NULL,
    statement_no         INTEGER NOT NULL,     -- 1-based, in file order
    source_position      VARCHAR,
    kind                 VARCHAR NOT NULL,     -- camt.053 | camt.052 | mt940 | mt942 | bai2 | ofx
    account_id           VARCHAR,
    currency             VARCHAR,
    holder_name          VARCHAR,
    holder_address       VARCHAR,
    bank_id              VARCHAR,              -- BIC, routing number, bank code
    bank_name            VARCHAR,
    statement_ref        VARCHAR,
    sequence             VARCHAR,
    created              VARCHAR,              -- as the file writes it
    period_from          DATE,
    period_to            DATE,
    opening_booked       DECIMAL(18, 4),
    opening_booked_date  DATE,
    closing_booked       DECIMAL(18, 4),
    closing_booked_date  DATE,
    opening_available    DECIMAL(18, 4),
    opening_available_date DATE,
    closing_available    DECIMAL(18, 4),
    closing_available_date DATE,
    entries_read         BIGINT NOT NULL,      -- entries of this statement read
    entries_stored       BIGINT NOT NULL,
    first_row            BIGINT,               -- the statement's entries are rows first_row..last_row
    last_row             BIGINT,
    problems             VARCHAR[],            -- what could not be used of the statement itself
    extra                JSON
);
