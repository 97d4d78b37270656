-- moneytrail workspace schema, version 10: currency is never assumed (issue 13, item 5).
--
-- Exchange rates are evidence like any other: a rates file (ingest --format rates: currency,
-- units of it per US dollar, the date from which the rate applies and, optionally, the last
-- date) is a source of the case, each rate kept with its place in the file. A rate applies from
-- its effective date until the day before the currency's next rate (or its own end date); the
-- graph stage converts each transfer with the rate in force on its date (edges.amount_usd), and
-- detection compares amounts with thresholds written in US dollars only through that
-- conversion (or for transfers in USD).
CREATE TABLE fx_rates (
    source_id       INTEGER NOT NULL,
    source_row      BIGINT NOT NULL,          -- 1-based data row (header excluded)
    source_position VARCHAR,
    currency        VARCHAR NOT NULL,         -- ISO 4217 code, never USD
    units_per_usd   DECIMAL(18, 8) NOT NULL,  -- how many units of the currency one US dollar buys
    valid_from      DATE NOT NULL,
    valid_to        DATE                      -- inclusive; NULL: until the currency's next rate
);

-- the currency a finding's total_amount is in: the transfers' own when every one is in it, USD
-- when the typology compared converted amounts with its thresholds (its explanation names the
-- rates); NULL for findings written before this version
ALTER TABLE findings ADD COLUMN currency VARCHAR;
