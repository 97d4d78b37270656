"""Load a CSV file described by a :class:`Mapping` into the workspace.

Two readers split and number the records, with the same result row for row: the bulk reader
(:mod:`moneytrail.ingest.csvfast`: DuckDB's ``read_csv`` splits the records, Python numbers
them from an index of the file's lines and reads the lines DuckDB cannot vouch for itself),
tried first; and the record reader (``textfile.read_records``, Python's ``csv``), which reads
the file where the bulk reader cannot give the same guarantees (the counts' ``reader`` says
which, and why). Either way DuckDB parses and validates the records in bulk, one batch at a
time. Every record ends in exactly one of two tables:
``transactions`` (parsed) or ``quarantine`` (the raw row, the column at fault and why).
Only the columns the mapping reads are staged for DuckDB, and a record's raw text is written
back only for the records quarantined (``Batch.raw``), so the cost is linear in the number
of columns (at most :data:`moneytrail.limits.MAX_COLUMNS`).

Every value from the mapping goes into SQL through :func:`moneytrail.sqlkit.lit`; every value
from the file goes in as data (an Arrow table; the path a bound parameter of ``read_csv``),
never as SQL text.

Validation rules, in the order they are checked (the first failing one is the reason):

1. record-level problems found while reading: blank line, wrong field count, bytes invalid in
   the file's encoding;
2. date (and time) missing or not in the mapping's format (an ``iso`` date starts with
   ``YYYY-MM-DD``: ``infinity``, ``epoch`` and the like are refused), or outside 1900-2100
   (:data:`moneytrail.limits.MIN_YEAR` .. ``MAX_YEAR``);
3. amount missing, not a number (``NaN``, ``inf``, text), not in the mapping's decimal and
   thousands convention (``1.234,56`` under ``decimal: '.'`` is refused, never misread), more
   than 4 decimal places, or with an absolute value not below
   :data:`moneytrail.limits.MAX_AMOUNT` (10**12); in debit/credit layouts: both or neither
   filled, or a negative value; in transfer layouts: a negative amount (direction is payer ->
   payee);
4. an account (holder / payer / payee) that is empty, or payer equal to payee;
5. a running balance (``balance``) given but not a number under the mapping, or not below
   MAX_AMOUNT.

A statement row whose counterparty has no account number is kept: its counterparty becomes
``cash`` (channel cash), ``name:<NAME>`` (a name only) or ``unidentified:<holder>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pyarrow as pa

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest.mapping import CHANNELS, Field_, Mapping
from moneytrail.ingest import csvfast
from moneytrail.ingest.textfile import Batch, check_text, read_records
from moneytrail.limits import (MAX_AMOUNT, MAX_YEAR, MIN_YEAR, amount_limit_text, year_limit_text,
                               year_range_text)
from moneytrail.sqlkit import in_list, lit
from moneytrail.workspace import TX_ID_STRIDE, Workspace


def q(value) -> str:
    """The SQL literal for a value from a mapping (``moneytrail.sqlkit.lit``); a value that has
    none (a NUL character) is a MappingError naming it."""
    try:
        return lit(value)
    except ValueError as e:
        raise MappingError(f"mapping value {str(value)[:40]!r}: {e}") from None


# words DuckDB reads as timestamps (infinite, or relative to today): never a date of a record
SPECIAL_TIMES = ("infinity", "-infinity", "+infinity", "inf", "-inf", "+inf", "epoch", "now", "today",
                 "tomorrow", "yesterday", "allballs")


def special_time(expr: str) -> str:
    """SQL: TRUE where the text ``expr`` is one of :data:`SPECIAL_TIMES`."""
    return in_list(f"lower(trim({expr}))", SPECIAL_TIMES)


# the time range every stage holds, as SQL (a comparison also refuses +-infinity, whose year is NULL)
TS_OUT_OF_RANGE = (f"NOT ({{ts}} >= TIMESTAMP '{MIN_YEAR:04d}-01-01' "
                   f"AND {{ts}} < TIMESTAMP '{MAX_YEAR + 1:04d}-01-01')")
DATE_OUT_OF_RANGE = (f"NOT ({{d}} >= DATE '{MIN_YEAR:04d}-01-01' AND {{d}} < DATE '{MAX_YEAR + 1:04d}-01-01')")


class Columns:
    """The header's columns by name; remembers which ones the SQL refers to (``used``): only
    those are staged."""

    def __init__(self, header: list[str], path: Path):
        self.index: dict[str, int] = {}
        dup = set()
        for i, h in enumerate(header):
            if h in self.index:
                dup.add(h)
            else:
                self.index[h] = i
        self.dup = dup
        self.header = header
        self.path = path
        self.used: set[int] = set()

    def _shown(self) -> str:
        names = ", ".join(h[:60] for h in self.header[:30])
        more = len(self.header) - 30
        return names + (f", ... ({len(self.header):,} columns)" if more > 0 else "")

    def ref(self, name: str) -> str:
        if name in self.dup:
            raise InputError(f"column {name!r} appears more than once in the header", path=str(self.path))
        if name not in self.index:
            raise InputError(f"column {name!r} named in the mapping is not in the header "
                             f"(header: {self._shown()})", path=str(self.path))
        self.used.add(self.index[name])
        return f"c{self.index[name]}"

    def field(self, f: Field_ | None) -> str:
        if f is None:
            return "NULL"
        if f.value is not None:
            return q(f.value)
        return f"nullif(trim({self.ref(f.column)}), '')"


def _amount_pattern(decimal: str, thousands: str) -> str:
    d = re.escape(decimal)
    frac = f"({d}[0-9]{{1,4}})?"
    alts = [f"[0-9]+{frac}", f"{d}[0-9]{{1,4}}"]
    if thousands:
        t = re.escape(thousands)
        alts.insert(0, f"[0-9]{{1,3}}({t}[0-9]{{3}})+{frac}")
    return "^(" + "|".join(alts) + ")$"


_NOT_NUMBERS = ("nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity", "null", "none")


def _amount_exprs(col: str, m: Mapping, name: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(layer-2 expressions, checks) for one amount column ``col`` (a c-ref) whose normalised
    string ``{name}_s`` layer 1 computes: ``{name}_ok`` (it has the mapping's number shape) and
    ``{name}_v`` (its value, ``DECIMAL(38, 4)``; NULL where it has not, or has more digits
    than that holds). The checks refuse an empty value, a word, a number of another shape, and
    a value whose absolute value is not below MAX_AMOUNT."""
    s = f"{name}_s"
    pat = _amount_pattern(m.decimal, m.thousands)
    # (the regex only where the first or last character is a sign or a bracket: most are neither)
    body = (f"CASE WHEN left({s}, 1) IN ('-', '+', '(') OR right({s}, 1) IN (')', '-') "
            f"THEN regexp_replace({s}, '^[-+(]|[)-]$', '', 'g') ELSE {s} END")
    neg = f"({s} LIKE '-%' OR ({s} LIKE '(%' AND {s} LIKE '%)') OR {s} LIKE '%-')"
    num = f"replace({body}, {q(m.thousands)}, '')" if m.thousands else body
    if m.decimal != ".":
        num = f"replace({num}, {q(m.decimal)}, '.')"
    # the body (sign and brackets dropped) once per row, in a layer of its own ({name}_b)
    num = num.replace(body, f"{name}_b")
    exprs = [f"{body} AS {name}_b",
             f"regexp_full_match({name}_b, {q(pat)}) AS {name}_ok",
             f"CASE WHEN regexp_full_match({name}_b, {q(pat)}) THEN TRY_CAST({num} AS DECIMAL(38,4)) * CASE WHEN {neg} THEN -1 ELSE 1 END END AS {name}_v"]
    sep = f"decimal {m.decimal!r}" + (f", thousands {m.thousands!r}" if m.thousands else ", no thousands separator")
    checks = [
        (f"{s} IS NULL", name, f"{q(name + ' is empty')}"),
        # (a word is never of the number shape: only values that are not are compared with the words)
        (f"NOT {name}_ok AND {in_list(f'lower({s})', _NOT_NUMBERS)}", name,
         f"{q(name + ' ')} || {s} || ' is not a number'"),
        (f"NOT {name}_ok", name,
         f"{q(name + ' ')} || {s} || {q(' is not a number in this mapping (' + sep + ', at most 4 decimals)')}"),
        (f"{name}_v IS NULL OR abs({name}_v) >= {MAX_AMOUNT}", name,
         f"{q(name + ' ')} || {s} || {q(' is out of range: ' + amount_limit_text())}"),
    ]
    return exprs, checks


def build_parse_sql(m: Mapping, cols: Columns, source_id: int, holder_default: str | None = None) -> str:
    """SQL that turns the staged batch ``_batch`` into parsed rows with a quarantine reason."""
    date_c = cols.ref(m.date.column)
    fmts = m.date.format if isinstance(m.date.format, list) else [m.date.format]
    if fmts == ["iso"]:
        # digits first: DuckDB also reads 'infinity', 'epoch' and the like as timestamps
        # (a plain YYYY-MM-DD is cast as a DATE: the same value, without time-zone arithmetic)
        date_expr = ("CASE WHEN regexp_matches(date_s, '^[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN CASE WHEN length(date_s) = 10 "
                     "THEN CAST(TRY_CAST(date_s AS DATE) AS TIMESTAMP) "
                     "ELSE TRY_CAST(TRY_CAST(date_s AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) END END")
    else:
        # digits first: strptime also reads 'infinity' and 'epoch' whatever the format
        date_expr = ("CASE WHEN regexp_matches(date_s, '[0-9]') THEN try_strptime(date_s, ["
                     + ", ".join(q(f) for f in fmts) + "]) END")
    time_sel, ts_expr = "", "date_v"
    if m.time is not None:
        time_sel = f", nullif(trim({cols.ref(m.time.column)}), '') AS time_s"
        ts_expr = "CAST(date_v AS DATE) + CAST(time_v AS TIME)"

    layer1 = [
        "_row", "_pre_col", "_pre_reason",
        f"nullif(trim({date_c}), '') AS date_s{time_sel}",
    ]
    layer2 = [f"{date_expr} AS date_v"]
    if m.time is not None:
        layer2.append(f"CASE WHEN regexp_matches(time_s, '[0-9]') THEN try_strptime(time_s, {q(m.time.format)}) "
                      f"END AS time_v")
    checks: list[tuple[str, str, str]] = [
        ("date_s IS NULL", m.date.column, q("date is empty")),
        (f"date_v IS NULL AND {special_time('date_s')}", m.date.column,
         "'date ' || date_s || " + q(" is not a date: dates must be finite, within " + year_range_text())),
        ("date_v IS NULL", m.date.column,
         "'date ' || date_s || " + q(f" does not match format {' or '.join(fmts)}")),
        (TS_OUT_OF_RANGE.format(ts="date_v"), m.date.column,
         "'date ' || date_s || " + q(" is " + year_limit_text())),
    ]
    if m.time is not None:
        checks += [(f"time_s IS NOT NULL AND {special_time('time_s')}", m.time.column,
                    "'time ' || time_s || ' is not a time of day'"),
                   ("time_s IS NOT NULL AND (time_v IS NULL OR NOT isfinite(time_v))", m.time.column,
                    "'time ' || time_s || " + q(f" does not match format {m.time.format}"))]

    # drop currency marks and the blanks around the number and its sign; a blank *inside* the
    # digits stays (so '1 5' is refused, not read as 15) unless 'thousands' is a blank
    # (a value of digits, separators and signs only is left as it is: the regexes would not change it)
    strip = ("CASE WHEN NOT regexp_matches({c}, '[^0-9.,()+-]') THEN {c} ELSE "
             "regexp_replace(trim(regexp_replace(replace(replace({c}, chr(160), ' '), chr(8239), ' '), "
             "'[$€£¥]|USD|EUR|GBP', '', 'g')), '^([-+(]) +| +([)-])$', '\\1\\2', 'g') END")
    if m.amount.column is not None:
        c = cols.ref(m.amount.column)
        layer1.append(f"nullif({strip.format(c=c)}, '') AS amount_s")
        v, ch = _amount_exprs(c, m, "amount")
        layer2 += v
        checks += [(a, m.amount.column, r) for a, _, r in ch]
        if m.layout == "transfers":
            checks.append(("amount_v < 0", m.amount.column,
                           "'amount ' || amount_s || ' is negative: a transfer row must be non-negative (direction is payer -> payee)'"))
            signed = "amount_v"
        else:
            signed = "amount_v" if m.amount.sign == "positive_is_debit" else "-amount_v"
            # signed > 0 means debit (money leaves the holder)
    else:
        dc, cc = cols.ref(m.amount.debit), cols.ref(m.amount.credit)
        layer1.append(f"nullif({strip.format(c=dc)}, '') AS debit_s")
        layer1.append(f"nullif({strip.format(c=cc)}, '') AS credit_s")
        dv, dch = _amount_exprs(dc, m, "debit")
        cv, cch = _amount_exprs(cc, m, "credit")
        layer2 += dv + cv
        checks += [
            ("debit_s IS NULL AND credit_s IS NULL", m.amount.debit,
             q(f"both {m.amount.debit!r} and {m.amount.credit!r} are empty")),
        ]
        for a, _, r in dch[1:]:
            checks.append((f"debit_s IS NOT NULL AND ({a})", m.amount.debit, r))
        for a, _, r in cch[1:]:
            checks.append((f"credit_s IS NOT NULL AND ({a})", m.amount.credit, r))
        checks += [
            ("debit_v < 0", m.amount.debit, "'debit ' || debit_s || ' is negative'"),
            ("credit_v < 0", m.amount.credit, "'credit ' || credit_s || ' is negative'"),
            ("coalesce(debit_v, 0) <> 0 AND coalesce(credit_v, 0) <> 0", m.amount.debit,
             q(f"both {m.amount.debit!r} and {m.amount.credit!r} hold an amount")),
        ]
        signed = "CASE WHEN coalesce(debit_v, 0) <> 0 THEN debit_v ELSE -coalesce(credit_v, 0) END"

    # channel
    if m.channel is None:
        channel = "'transfer'" if m.layout == "transfers" else "NULL"
    else:
        ch_raw = cols.field(m.channel)
        cases = " ".join(f"WHEN lower({ch_raw}) = {q(k.lower())} THEN {q(v)}" for k, v in m.channel_map.items())
        channel = (f"CASE {cases} WHEN {in_list(f'lower({ch_raw})', CHANNELS)} THEN lower({ch_raw}) "
                   f"WHEN {ch_raw} IS NULL THEN NULL ELSE 'other' END")
    layer1.append(f"{channel} AS channel")

    opt = {
        "external_id": f"nullif(trim({cols.ref(m.id)}), '')" if m.id else "NULL",
        "description": f"nullif(trim({cols.ref(m.description)}), '')" if m.description else "NULL",
        "tx_type": f"nullif(trim({cols.ref(m.tx_type)}), '')" if m.tx_type else "NULL",
        "location": f"nullif(trim({cols.ref(m.location)}), '')" if m.location else "NULL",
        "currency": f"upper({cols.field(m.currency)})",
    }
    for k, e in opt.items():
        layer1.append(f"{e} AS {k}")
    if m.balance:
        bc = cols.ref(m.balance)
        layer1.append(f"nullif({strip.format(c=bc)}, '') AS balance_s")
        bv, bch = _amount_exprs(bc, m, "balance")
        layer2 += bv
        balance_checks = [(f"balance_s IS NOT NULL AND ({a})", m.balance, r) for a, _, r in bch[1:]]
    else:
        balance_checks = []
        layer2.append("CAST(NULL AS DECIMAL(18,4)) AS balance_v")

    if m.layout == "transfers":
        layer1 += [f"{cols.field(m.payer.account)} AS payer", f"{cols.field(m.payee.account)} AS payee",
                   f"{cols.field(m.payer.name)} AS payer_name", f"{cols.field(m.payee.name)} AS payee_name",
                   f"{cols.field(m.payer.bank)} AS payer_bank", f"{cols.field(m.payee.bank)} AS payee_bank",
                   "NULL AS holder"]
        checks += [("payer IS NULL", _colname(m.payer.account), q("payer account is empty")),
                   ("payee IS NULL", _colname(m.payee.account), q("payee account is empty")),
                   ("payer = payee", _colname(m.payee.account), "'payer and payee are the same account ' || payer")]
        orig, bene = "payer", "payee"
        orig_name, bene_name, orig_bank, bene_bank = "payer_name", "payee_name", "payer_bank", "payee_bank"
        stmt = "NULL"
        amount_out = "amount_v"
    else:
        cp_acct = cols.field(m.counterparty.account)
        cp_name = cols.field(m.counterparty.name)
        holder = cols.field(m.holder.account)
        layer1 += [f"{holder} AS holder", f"{cols.field(m.holder.name)} AS holder_name",
                   f"{cols.field(m.holder.bank)} AS holder_bank",
                   f"{cp_name} AS cp_name", f"{cols.field(m.counterparty.bank)} AS cp_bank",
                   f"{cp_acct} AS cp_raw"]
        checks.append(("holder IS NULL", _colname(m.holder.account), q("statement holder account is empty")))
        layer2.append(
            "coalesce(cp_raw, CASE WHEN channel = 'cash' THEN 'cash' END, "
            "'name:' || upper(regexp_replace(cp_name, '\\s+', ' ', 'g')), 'unidentified:' || holder) AS cp")
        layer2.append(f"{signed} AS signed_v")
        checks.append(("cp = holder", _colname(m.counterparty.account),
                       "'counterparty is the statement holder ' || holder"))
        orig = "CASE WHEN signed_v > 0 THEN holder ELSE cp END"
        bene = "CASE WHEN signed_v > 0 THEN cp ELSE holder END"
        orig_name = "CASE WHEN signed_v > 0 THEN holder_name ELSE cp_name END"
        bene_name = "CASE WHEN signed_v > 0 THEN cp_name ELSE holder_name END"
        orig_bank = "CASE WHEN signed_v > 0 THEN holder_bank ELSE cp_bank END"
        bene_bank = "CASE WHEN signed_v > 0 THEN cp_bank ELSE holder_bank END"
        stmt = "holder"
        amount_out = "abs(signed_v)"
    checks += balance_checks

    # the checks run once per row: the number of the first that fails (0: a reading problem),
    # then its reason and column
    first_failed = "CASE WHEN _pre_reason IS NOT NULL THEN 0 " + " ".join(
        f"WHEN {a} THEN {i}" for i, (a, _, _) in enumerate(checks, 1)) + " END"
    reason = "CASE _k WHEN 0 THEN _pre_reason " + " ".join(
        f"WHEN {i} THEN {r}" for i, (_, _, r) in enumerate(checks, 1)) + " END"
    reason_col = "CASE _k WHEN 0 THEN _pre_col " + " ".join(
        f"WHEN {i} THEN {q(c) if c else 'NULL'}" for i, (_, c, _) in enumerate(checks, 1)) + " END"
    body = [e for e in layer2 if e.endswith("_b")]
    layer2 = [e for e in layer2 if not e.endswith("_b")]
    return f"""
        WITH l1 AS (SELECT {', '.join(layer1)} FROM _batch),
             l1b AS (SELECT *{''.join(', ' + e for e in body)} FROM l1),
             l2 AS (SELECT *, {', '.join(layer2)} FROM l1b),
             l2k AS (SELECT *, {first_failed} AS _k FROM l2),
             l3 AS (SELECT *, {reason} AS _reason, {reason_col} AS _col FROM l2k)
        SELECT _row, _reason, _col,
               {int(source_id)} * {TX_ID_STRIDE} + _row AS tx_id,
               external_id,
               CASE WHEN _reason IS NULL THEN {ts_expr} END AS ts,
               {orig} AS orig_account, {bene} AS bene_account,
               {orig_name} AS orig_name, {bene_name} AS bene_name,
               {orig_bank} AS orig_bank, {bene_bank} AS bene_bank,
               CASE WHEN _reason IS NULL THEN CAST({amount_out} AS DECIMAL(18,4)) END AS amount,
               coalesce(currency, 'USD') AS currency, channel, tx_type, description, location,
               CASE WHEN _reason IS NULL THEN CAST(balance_v AS DECIMAL(18,4)) END AS balance_after,
               {stmt} AS statement_account
        FROM l3
    """


def money_out_of_range(expr: str) -> str:
    """SQL: TRUE where the text ``expr`` reads as a number (as the later stages would read it)
    that is not finite or not below MAX_AMOUNT; for money kept as text (an account's opening
    balance in ``attributes``, see ``moneytrail.limits.MONEY_ATTRIBUTES``)."""
    v = f"TRY_CAST(trim({expr}) AS DOUBLE)"
    return f"coalesce(NOT isfinite({v}) OR abs({v}) >= {MAX_AMOUNT}, FALSE)"


def _colname(f: Field_) -> str | None:
    return f.column


def stage_batch(batch: Batch, used: set[int] | list[int]) -> pa.Table:
    """Arrow table ``_batch``: the columns ``c{j}`` for ``j`` in ``used`` (the ones the SQL reads,
    see ``Columns.used``), ``_row``, and ``_pre_col`` / ``_pre_reason`` (set only for records with a
    reading problem)."""
    n = len(batch.rows)
    arrays = {f"c{j}": pa.array(batch.column(j), type=pa.string()) for j in sorted(used)}
    arrays["_row"] = pa.array(range(batch.first_row, batch.first_row + n), type=pa.int64())
    if batch.problems:
        pcols, preasons = [None] * n, [None] * n
        for i, (c, r) in batch.problems.items():
            pcols[i], preasons[i] = c, r
        arrays["_pre_col"] = pa.array(pcols, type=pa.string())
        arrays["_pre_reason"] = pa.array(preasons, type=pa.string())
    else:
        for k in ("_pre_col", "_pre_reason"):
            arrays[k] = pa.nulls(n, type=pa.string())
    return pa.table(arrays)


def insert_quarantine(con, source_id: int, batch: Batch, select_sql: str) -> int:
    """Quarantine the records ``select_sql`` names: it returns ``(row, column, reason)`` for each
    (``row`` a data-row number of ``batch``). Each keeps its raw text as read (``Batch.raw``).
    Returns how many."""
    found = con.execute(select_sql).fetchall()
    if not found:
        return 0
    if hasattr(batch, "load"):   # raw texts read again from the file (csvfast.RawLines)
        batch.load([r for r, _, _ in found])
    first = batch.first_row
    tbl = pa.table({
        "source_row": pa.array([r for r, _, _ in found], type=pa.int64()),
        "raw": pa.array([batch.raw(r - first) for r, _, _ in found], type=pa.string()),
        "column_name": pa.array([c for _, c, _ in found], type=pa.string()),
        "reason": pa.array([why for _, _, why in found], type=pa.string()),
    })
    con.register("_quarantined", tbl)
    try:
        con.execute("INSERT INTO main.quarantine (source_id, source_row, raw, column_name, reason) "
                    "SELECT ?, source_row, raw, column_name, reason "
                    "FROM _quarantined ORDER BY source_row", [source_id])
    finally:
        con.unregister("_quarantined")
    return len(found)


def _store_batch(con, source_id: int, sql: str, staged: pa.Table, raws) -> int:
    """Parse, check and store one staged batch (``stage_batch``'s shape, its rows in record order,
    which the insert keeps: DuckDB preserves insertion order); ``raws`` gives the raw
    text of quarantined rows (``insert_quarantine``'s ``batch``). Returns how many were quarantined."""
    con.register("_batch", staged)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _parsed AS {sql}")
    finally:
        con.unregister("_batch")
    con.execute("""
        INSERT INTO main.transactions (tx_id, source_id, source_row, external_id, ts, orig_account, bene_account,
                                       amount, currency, channel, tx_type, description, location, balance_after,
                                       statement_account)
        SELECT tx_id, ?, _row, external_id, ts, orig_account, bene_account, amount, currency,
               channel, tx_type, description, location, balance_after, statement_account
        FROM _parsed WHERE _reason IS NULL""", [source_id])   # staged in record order: no sort
    n_bad = insert_quarantine(con, source_id, raws, "SELECT _row, _col, _reason FROM _parsed "
                                                    "WHERE _reason IS NOT NULL ORDER BY _row")
    # what this statement says about each account it names (the first row naming it); the
    # accounts view combines every source's records (moneytrail.workspace.cases)
    con.execute("""
        INSERT INTO main.account_records (account_id, source_id, source_row, register, owner_name, bank, kind,
                                          currency)
        SELECT acct, ?, min(_row), false, arg_min(name, _row), arg_min(bank, _row),
               CASE WHEN acct = 'cash' THEN 'cash'
                    WHEN acct LIKE 'name:%' OR acct LIKE 'unidentified:%' THEN 'external' END,
               arg_min(currency, _row)
        FROM (SELECT orig_account AS acct, orig_name AS name, orig_bank AS bank, currency, _row
              FROM _parsed WHERE _reason IS NULL
              UNION ALL
              SELECT bene_account, bene_name, bene_bank, currency, _row
              FROM _parsed WHERE _reason IS NULL)
        WHERE acct NOT IN (SELECT account_id FROM main.account_records WHERE source_id = ?)
        GROUP BY acct""", [source_id, source_id])
    return n_bad


def load_csv(ws: Workspace, source_id: int, path: Path, m: Mapping, *,
             on_read: Callable[[int], None] | None = None,
             batch_size: int | None = None, bulk: bool = True) -> dict[str, int | str]:
    """Read ``path`` under mapping ``m`` into the workspace as ``source_id``. Returns counts, and
    ``reader``: ``duckdb`` (the bulk reader, :mod:`moneytrail.ingest.csvfast`) or ``python: <why
    the bulk reader was not used>`` (``textfile.read_records``; ``bulk=False`` asks for it).
    ``batch_size``: records parsed and stored at a time (default: 200,000 for the record reader,
    :data:`moneytrail.ingest.csvfast.BULK_ROWS` for the bulk reader; both also capped by cells)."""
    rec_batch = batch_size or 200_000
    why = "asked for" if not bulk else csvfast.unsupported(path, m.encoding, m.delimiter, m.quote)
    # the whole-file refusals (binary, empty, unknown encoding) and the header, as ever
    check = check_text(path, m.encoding, full=why is not None)
    header, batches = read_records(path, encoding=m.encoding, delimiter=m.delimiter, quote=m.quote,
                                   skip_rows=m.skip_rows, batch_size=rec_batch,
                                   strict_text=check.valid if why is not None else False, on_read=on_read)
    cols = Columns(header, path)
    sql = build_parse_sql(m, cols, source_id)  # raises InputError on a missing mapped column
    width = len(header)
    if why is None:
        batches.close()
        try:
            return _load_bulk(ws, source_id, path, m, header, cols, sql, on_read, batch_size)
        except csvfast.Fallback as e:
            why = e.reason
        check = check_text(path, m.encoding)
        header, batches = read_records(path, encoding=m.encoding, delimiter=m.delimiter, quote=m.quote,
                                       skip_rows=m.skip_rows, batch_size=rec_batch,
                                       strict_text=check.valid, on_read=None)
    con = ws.con
    read = stored = quarantined = 0
    for batch in batches:
        n_bad = _store_batch(con, source_id, sql, stage_batch(batch, cols.used), batch)
        read += len(batch)
        quarantined += n_bad
        stored += len(batch) - n_bad
    con.execute("DROP TABLE IF EXISTS _parsed")
    return {"read": read, "stored": stored, "quarantined": quarantined, "columns": width,
            "reader": f"python: {why}"}


def _load_bulk(ws: Workspace, source_id: int, path: Path, m: Mapping, header: list[str], cols: Columns,
               sql: str, on_read, batch_size: int | None) -> dict[str, int | str]:
    """The bulk reader (:mod:`moneytrail.ingest.csvfast`); raises Fallback before writing anything."""
    from moneytrail.workspace import memory_limit

    used = sorted(cols.used)
    plan, rc = csvfast.read(path, header=header, used=used, encoding=m.encoding, delimiter=m.delimiter,
                            quote=m.quote, skip_rows=m.skip_rows, memory_limit=memory_limit(), on_read=on_read)
    try:
        raws = csvfast.RawLines(path, plan, encoding=m.encoding, delimiter=m.delimiter, quote=m.quote)
        per_batch = max(1, min(batch_size or csvfast.BULK_ROWS, csvfast.BULK_CELLS // max(len(used), 1)))
        con = ws.con
        quarantined = 0
        for staged, _ in csvfast.batches(rc, plan, used, per_batch):
            quarantined += _store_batch(con, source_id, sql, staged, raws)
        con.execute("DROP TABLE IF EXISTS _parsed")
    finally:
        rc.close()
    return {"read": plan.rows, "stored": plan.rows - quarantined, "quarantined": quarantined,
            "columns": len(header), "reader": "duckdb"}
