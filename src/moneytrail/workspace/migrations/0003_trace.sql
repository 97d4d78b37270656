-- Fund tracing (issue 5): saved traces, so the case report can show them.
-- A trace is one `moneytrail trace` run: its parameters and summary (traces), and per rule the
-- accounts it reached, the flows of tainted money, the tracing schedule and, for a backward
-- trace, the funding of the target. Rows are only ever added; `moneytrail trace --no-save`
-- writes nothing.

CREATE SEQUENCE IF NOT EXISTS seq_trace START 1;

CREATE TABLE traces (
    trace_id    INTEGER PRIMARY KEY,
    run_id      INTEGER,                 -- the run-log row of the command that made it
    created_at  TIMESTAMPTZ NOT NULL,
    direction   VARCHAR NOT NULL,        -- forward | backward
    rules       VARCHAR[] NOT NULL,
    parameters  JSON NOT NULL,           -- sources / target, presumption, openings, as_of, ...
    summary     JSON NOT NULL            -- per rule: totals (and for backward: tainted, target)
);

CREATE TABLE trace_accounts (
    trace_id          INTEGER NOT NULL,
    rule              VARCHAR NOT NULL,
    account_id        VARCHAR NOT NULL,
    tainted_received  DECIMAL(38, 4) NOT NULL,
    tainted_sent      DECIMAL(38, 4) NOT NULL,
    tainted_held      DECIMAL(38, 4) NOT NULL,
    balance_end       DECIMAL(38, 4),
    first_tainted     TIMESTAMP,
    tainted_received_984 DECIMAL(38, 4),
    s984_forfeitable  DECIMAL(38, 4),
    unrecorded_funds  DECIMAL(38, 4)
);

-- tainted money between two accounts (kind 'transfer'), to where it left the ledger ('exit'),
-- or, for a backward trace, from an origin to its entry account and on to the target ('funding')
CREATE TABLE trace_flows (
    trace_id      INTEGER NOT NULL,
    rule          VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,
    from_account  VARCHAR NOT NULL,
    to_account    VARCHAR NOT NULL,
    amount        DECIMAL(38, 4) NOT NULL,
    transactions  BIGINT
);

CREATE TABLE trace_schedule (
    trace_id      INTEGER NOT NULL,
    rule          VARCHAR NOT NULL,
    account_id    VARCHAR NOT NULL,
    seq           INTEGER NOT NULL,
    ts            TIMESTAMP,
    tx_id         BIGINT,
    event         VARCHAR NOT NULL,      -- b/f | source | in | out | declared
    counterparty  VARCHAR,
    amount        DECIMAL(38, 4),
    tainted       DECIMAL(38, 4),
    balance_after DECIMAL(38, 4),
    tainted_after DECIMAL(38, 4),
    clean_after   DECIMAL(38, 4),
    unrecorded    DECIMAL(38, 4),
    in_984_window BOOLEAN,
    note          VARCHAR
);

CREATE TABLE trace_funding (
    trace_id      INTEGER NOT NULL,
    rule          VARCHAR NOT NULL,
    origin        VARCHAR NOT NULL,      -- taint source | outside the ledger | beyond the hop limit | opening balance | unrecorded money
    tx_id         BIGINT,
    from_account  VARCHAR,
    entry_account VARCHAR,
    hops          INTEGER,
    amount        DECIMAL(38, 4) NOT NULL,
    share         DOUBLE,
    tainted       BOOLEAN NOT NULL,
    deposits      BIGINT,
    first_ts      TIMESTAMP,
    last_ts       TIMESTAMP
);
