"""Reader for the output of IBM's AMLSim simulator (github.com/IBM/AMLSim).

Input: ``transactions.csv[.gz]``, or the folder holding it. From the folder it also reads,
when present, ``accounts.csv[.gz]`` (account attributes: bank, branch, type, ...) and
``alert_transactions.csv[.gz]`` (the typology of each laundering transfer). Each file is its
own source with its own evidence copy and row accounting.

``transactions.csv`` columns: tran_id, orig_acct, bene_acct, tx_type, base_amt,
tran_timestamp, is_sar, alert_id. The transfers go through the same CSV machinery as any user
file (a built-in mapping, so the same limits: ``moneytrail.limits``); ``is_sar``/``alert_id``
become ground-truth rows in ``labels``, kept apart from the evidence tables.

``accounts.csv``: a row is quarantined when its ``acct_id`` is empty or its
``initial_deposit`` (the opening balance the tracing stage reads) is a number that is not
finite or not below MAX_AMOUNT. ``alert_transactions.csv``: a row is quarantined when its
``tran_id`` is among no transaction of the transactions file.
"""

from __future__ import annotations

from pathlib import Path

from moneytrail.errors import InputError
from moneytrail.ingest.sources import IngestResult, finish_source, register_source, skipped
from moneytrail.ingest.csvfile import Columns, insert_quarantine, load_csv, money_out_of_range, q, stage_batch
from moneytrail.ingest.mapping import parse_mapping
from moneytrail.ingest.textfile import check_text, read_records
from moneytrail.limits import amount_limit_text
from moneytrail.workspace import Workspace

TRANSACTIONS_MAPPING = {
    "name": "amlsim-transactions",
    "date": {"column": "tran_timestamp", "format": "iso"},
    "amount": {"column": "base_amt"},
    "thousands": "",
    "payer": {"account": {"column": "orig_acct"}},
    "payee": {"account": {"column": "bene_acct"}},
    "id": "tran_id",
    "tx_type": "tx_type",
    "channel": {"value": "transfer"},
}

ACCOUNT_COLUMNS = ("acct_id", "dsply_nm", "type", "acct_stat", "acct_rptng_crncy", "branch_id",
                   "open_dt", "close_dt", "initial_deposit", "tx_behavior_id", "bank_id", "country")


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _currencies(accounts: Path | None, folder: Path) -> list[str]:
    """The reporting currencies AMLSim's accounts file names (``acct_rptng_crncy``), the most
    common first. AMLSim's transactions carry no currency of their own, and moneytrail never
    assumes one: without the accounts file (or a currency in it) the folder cannot be read."""
    import csv
    import io
    from collections import Counter

    from moneytrail.ingest.textfile import open_binary

    where = "no accounts.csv beside the transactions" if accounts is None else None
    seen: Counter[str] = Counter()
    if accounts is not None:
        with io.TextIOWrapper(open_binary(accounts), encoding="utf-8", errors="replace", newline="") as fh:
            rows = csv.reader(fh)
            header = next(rows, [])
            if "acct_rptng_crncy" not in header:
                where = f"{accounts.name} has no acct_rptng_crncy column"
            else:
                k = header.index("acct_rptng_crncy")
                for row in rows:
                    if len(row) > k:
                        c = row[k].strip().upper()
                        if len(c) == 3 and c.isalpha() and c.isascii():
                            seen[c] += 1
                if not seen:
                    where = f"{accounts.name} names no currency in acct_rptng_crncy"
    if where:
        raise InputError(f"AMLSim transactions carry no currency and {where}: moneytrail does not assume one",
                         path=str(folder))
    return [c for c, _ in seen.most_common()]


class AmlsimReader:
    name = "amlsim"
    reads_folders = True   # the folder holding transactions.csv (and accounts, alerts)
    needs_mapping = False

    def ingest(self, ws: Workspace, path: Path, *, mapping, legal_basis, force, on_read,
               actor: str | None = None) -> IngestResult:
        if not path.exists():
            raise InputError("file or folder not found", path=str(path))
        if path.is_dir():
            tx = _find(path, "transactions")
            if tx is None:
                raise InputError("no transactions.csv or transactions.csv.gz in this folder", path=str(path))
            folder = path
        else:
            tx, folder = path, path.parent
        acc = _find(folder, "accounts")
        currencies = _currencies(acc, folder)
        main_ccy = currencies[0]
        mapping_used = dict(TRANSACTIONS_MAPPING, currency={"value": main_ccy})
        m = parse_mapping(mapping_used, "amlsim built-in mapping")
        reg = register_source(ws, tx, "amlsim", "transactions", mapping_used, legal_basis, force,
                              actor=actor)
        sid, present = reg.source_id, reg.present
        if present:
            res = skipped(ws, reg, tx, "amlsim")
        else:
            counts = load_csv(ws, sid, tx, m, on_read=on_read)
            res = finish_source(ws, reg, tx, "amlsim", counts)
            self._labels(ws, sid, tx)
        related = []
        if acc is not None:
            related.append(self._accounts(ws, acc, legal_basis, force, actor))
            if len(currencies) > 1 and not present:
                # several reporting currencies: each transfer is in its payer account's
                ws.con.execute("""
                    UPDATE main.transactions t SET currency = a.currency
                    FROM (SELECT account_id, arg_max(currency, source_id) AS currency FROM main.account_records
                          WHERE currency IS NOT NULL GROUP BY account_id) a
                    WHERE t.source_id = ? AND a.account_id = t.orig_account AND a.currency <> t.currency""", [sid])
        alerts = _find(folder, "alert_transactions")
        if alerts is not None:
            related.append(self._alert_types(ws, alerts, sid, legal_basis, force or not present, actor))
        res.related = related
        return res

    # -- labels --------------------------------------------------------------------------------
    def _labels(self, ws: Workspace, sid: int, tx: Path) -> None:
        header, batches = read_records(tx, encoding="utf-8", delimiter=",", quote='"', skip_rows=0,
                                       strict_text=check_text(tx, "utf-8").valid)
        cols = Columns(header, tx)
        if "is_sar" not in cols.index:
            return
        sar = cols.ref("is_sar")
        alert = cols.ref("alert_id") if "alert_id" in cols.index else "NULL"
        for batch in batches:
            ws.con.register("_batch", stage_batch(batch, cols.used))
            try:
                ws.con.execute(f"""
                    INSERT INTO main.labels (tx_id, is_laundering, alert_id, source_id)
                    SELECT t.tx_id, lower(trim(b.{sar})) IN ('true', '1', 'yes'),
                           CASE WHEN TRY_CAST(b.{alert} AS BIGINT) >= 0 THEN TRY_CAST(b.{alert} AS BIGINT) END,
                           {int(sid)}
                    FROM _batch b JOIN transactions t ON t.source_id = {int(sid)} AND t.source_row = b._row""")
            finally:
                ws.con.unregister("_batch")

    # -- accounts --------------------------------------------------------------------------------
    def _accounts(self, ws: Workspace, path: Path, legal_basis, force, actor: str | None) -> dict:
        reg = register_source(ws, path, "amlsim", "accounts", None, legal_basis, force, actor=actor)
        sid = reg.source_id
        if reg.present:
            return skipped(ws, reg, path, "amlsim").to_dict()
        header, batches = read_records(path, encoding="utf-8", delimiter=",", quote='"', skip_rows=0,
                                       strict_text=check_text(path, "utf-8").valid)
        cols = Columns(header, path)
        acct = cols.ref("acct_id")
        get = {c: (f"nullif(trim(b.{cols.ref(c)}), '')" if c in cols.index else "NULL") for c in ACCOUNT_COLUMNS}
        attrs = ", ".join(f"{q(c)}: {get[c]}" for c in ACCOUNT_COLUMNS if c in cols.index)
        deposit = get["initial_deposit"]
        read = stored = 0
        for batch in batches:
            ws.con.register("_batch", stage_batch(batch, cols.used))
            try:
                ws.con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE _acc AS
                    SELECT b._row, nullif(trim(b.{acct}), '') AS account_id,
                           CASE WHEN b._pre_reason IS NOT NULL THEN b._pre_reason
                                WHEN nullif(trim(b.{acct}), '') IS NULL THEN 'acct_id is empty'
                                WHEN {money_out_of_range(deposit)}
                                  THEN 'initial_deposit ' || {deposit} || {q(' is out of range: ' + amount_limit_text())}
                           END AS reason,
                           CASE WHEN b._pre_reason IS NOT NULL THEN b._pre_col
                                WHEN nullif(trim(b.{acct}), '') IS NULL THEN 'acct_id'
                                ELSE 'initial_deposit' END AS col,
                           {get['dsply_nm']} AS owner_name, {get['bank_id']} AS bank, {get['branch_id']} AS branch,
                           CASE {get['type']} WHEN 'I' THEN 'individual' WHEN 'O' THEN 'business' ELSE {get['type']} END AS kind,
                           {get['acct_rptng_crncy']} AS currency,
                           to_json({{{attrs}}}) AS attributes
                    FROM _batch b""")
            finally:
                ws.con.unregister("_batch")
            n_bad = insert_quarantine(ws.con, sid, batch,
                                      "SELECT _row, col, reason FROM _acc WHERE reason IS NOT NULL ORDER BY _row")
            ws.con.execute("""
                INSERT INTO main.account_records (account_id, source_id, source_row, register, owner_name, bank,
                                                  branch, kind, currency, attributes)
                SELECT account_id, ?, _row, true, owner_name, bank, branch, kind, currency, attributes
                FROM _acc WHERE reason IS NULL""", [sid])
            read += len(batch)
            stored += len(batch) - n_bad
        ws.con.execute("DROP TABLE IF EXISTS _acc")
        counts = {"read": read, "stored": stored, "quarantined": read - stored}
        return finish_source(ws, reg, path, "amlsim", counts).to_dict()

    # -- alert typologies -----------------------------------------------------------------------
    def _alert_types(self, ws: Workspace, path: Path, tx_sid: int, legal_basis, force, actor: str | None) -> dict:
        reg = register_source(ws, path, "amlsim", "labels", None, legal_basis, force, actor=actor)
        sid = reg.source_id
        if reg.present:
            return skipped(ws, reg, path, "amlsim").to_dict()
        header, batches = read_records(path, encoding="utf-8", delimiter=",", quote='"', skip_rows=0,
                                       strict_text=check_text(path, "utf-8").valid)
        cols = Columns(header, path)
        tid, atype = cols.ref("tran_id"), cols.ref("alert_type")
        missing = f"tran_id not among the transactions of source {int(tx_sid)}"
        read = stored = 0
        for batch in batches:
            ws.con.register("_batch", stage_batch(batch, cols.used))
            try:
                ws.con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE _al AS
                    SELECT b._row, b._pre_reason, b._pre_col,
                           nullif(trim(b.{atype}), '') AS alert_type, t.tx_id
                    FROM _batch b LEFT JOIN transactions t
                      ON t.source_id = ? AND t.external_id = trim(b.{tid})""", [tx_sid])
            finally:
                ws.con.unregister("_batch")
            n_bad = insert_quarantine(ws.con, sid, batch, f"""
                SELECT _row, coalesce(_pre_col, 'tran_id'), coalesce(_pre_reason, {q(missing)})
                FROM _al WHERE _pre_reason IS NOT NULL OR tx_id IS NULL ORDER BY _row""")
            ws.con.execute("""
                UPDATE main.labels SET alert_type = a.alert_type FROM _al a
                WHERE labels.tx_id = a.tx_id AND a._pre_reason IS NULL""")
            read += len(batch)
            stored += len(batch) - n_bad
        ws.con.execute("DROP TABLE IF EXISTS _al")
        counts = {"read": read, "stored": stored, "quarantined": read - stored}
        return finish_source(ws, reg, path, "amlsim", counts).to_dict()
