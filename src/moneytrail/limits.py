"""What every stage of moneytrail can hold, checked once, at ingest.

A row that ingest stores must be usable by every later stage (resolve, graph, detect, score,
trace, report) for good: a value that one of them cannot hold would break that stage on
every later run of the case, long after the file came in. So the readers (``moneytrail.ingest``)
quarantine any row that breaks one of these limits, naming the column, the value and the
limit, and store nothing of it; the stages may rely on them.

Money
    :data:`MAX_AMOUNT`: every amount a reader stores — a transaction's amount, a statement's
    running balance, an opening balance an account record gives (the attributes listed in
    :data:`MONEY_ATTRIBUTES`) — is finite and its absolute value is below one trillion
    (10**12) units of the row's currency. Transactions keep amounts as ``DECIMAL(18, 4)``
    (14 integer digits); the stages that add amounts up (detect, score, trace) hold their sums
    in ``DECIMAL(38, 4)``, so with every amount below 10**12 a sum of up to 10**22 of them
    cannot overflow, while the largest real payments (a few billion) are far below the cap.
    Found by an attacker: $10bn amounts overflowed tracing's ``DECIMAL(18)`` sums, and about
    $12.5tn broke detection.

Time
    :data:`MIN_YEAR` .. :data:`MAX_YEAR`: every timestamp and date a reader stores is finite
    and falls in these years. DuckDB reads ``infinity`` / ``-infinity`` as timestamps (whose
    year is NULL, so a year check alone let them through) and ``epoch`` as 1970-01-01; a
    date is read only from digits (``YYYY-MM-DD...`` or the mapping's strptime format).

Shape of a file
    :data:`MAX_COLUMNS`: a header with more columns is refused as a whole (one error line
    naming the file, the count and the limit), before any row is read. Ingest time grows
    linearly with the number of columns below it.

    :data:`MAX_FIELD_BYTES`: a row holding a larger field (measured in the file's encoding)
    is quarantined, naming the row, the column, the size and the limit. Its quarantine entry
    keeps the row as read cut to :data:`QUARANTINE_RAW_CHARS` characters, with a note saying
    so; the whole row stays in the evidence copy of the file.

    :data:`READER_FIELD_CHARS`: the most characters Python's ``csv`` reader takes in one field
    (``csv.field_size_limit``). It is far above :data:`MAX_FIELD_BYTES`, so a field over the
    cap reaches moneytrail and is quarantined with its row; only a field beyond it (256 Mi
    characters: in practice a quote that is never closed in a file of hundreds of megabytes)
    makes the whole file refused, with one line naming the row.
"""

from __future__ import annotations

from decimal import Decimal

#: every stored amount: finite, ``abs(amount) < MAX_AMOUNT`` (units of the row's currency)
MAX_AMOUNT = 10**12
#: the same, as a Decimal (for checks in Python)
MAX_AMOUNT_DECIMAL = Decimal(MAX_AMOUNT)

#: every stored timestamp or date: finite, in years MIN_YEAR..MAX_YEAR (inclusive)
MIN_YEAR = 1900
MAX_YEAR = 2100

#: a header with more columns than this is refused as a whole
MAX_COLUMNS = 4096
#: a row with a field larger than this (bytes, in the file's encoding) is quarantined
MAX_FIELD_BYTES = 1 << 20
#: a quarantined row keeps at most this many characters of its raw text (then a note)
QUARANTINE_RAW_CHARS = 1 << 16
#: Python's csv reader: the largest field it reads (csv.field_size_limit); see above
READER_FIELD_CHARS = 1 << 28

#: account attributes that hold an opening balance (the tracing stage reads them as money)
MONEY_ATTRIBUTES = ("opening_balance", "initial_balance", "initial_deposit", "opening")


def amount_limit_text() -> str:
    """The money limit as a reason names it."""
    return f"its absolute value must be below {MAX_AMOUNT:,} (MAX_AMOUNT, docs/mapping.md)"


def year_range_text() -> str:
    """The years every stored timestamp falls in, as a reason names them."""
    return f"{MIN_YEAR}-{MAX_YEAR} (the years moneytrail holds)"


def year_limit_text() -> str:
    """The time limit broken, as a reason names it."""
    return f"outside {year_range_text()}"


__all__ = ["MAX_AMOUNT", "MAX_AMOUNT_DECIMAL", "MIN_YEAR", "MAX_YEAR", "MAX_COLUMNS", "MAX_FIELD_BYTES",
           "QUARANTINE_RAW_CHARS", "READER_FIELD_CHARS", "MONEY_ATTRIBUTES", "amount_limit_text",
           "year_limit_text", "year_range_text"]
