"""Reader for ground-truth labels: ``--format labels`` (SAR account lists, case outcomes).

Labels teach the risk model (``moneytrail model train``); they are kept in ``labels``, apart
from the evidence. A labels file is a delimited text file described by a small YAML mapping:

```yaml
account: ACCOUNT_ID        # account-level labels: the row labels every transaction the account
                           #   sent or received (a SAR subject's activity) ...
# transaction: tran_id     # ... or transaction-level: matched on transactions.external_id
label: is_sar              # optional column: true/1/yes/y = laundering; without it every row is positive
typology: alert_type       # optional column: the scheme or typology the label belongs to
delimiter: ","             # optional, as for CSV mappings
encoding: utf-8
```

Every row is stored (it names a known account / transaction; the labels it implies are
written) or quarantined with its reason (blank key, unknown account or transaction, a label
that is not a yes/no value, and the reading problems of any CSV row, a field over
``moneytrail.limits.MAX_FIELD_BYTES`` among them). A labels file holds no money and no dates,
so the other limits of ``moneytrail.limits`` have nothing to check here. Where two labels meet
on one transaction, a positive one wins. Re-ingesting the same file is a no-op unless ``force``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from moneytrail.errors import InputError, MappingError
from moneytrail.ingest.sources import IngestResult, finish_source, register_source, require_file, skipped
from moneytrail.ingest.csvfile import Columns, insert_quarantine, q, stage_batch
from moneytrail.ingest.mapping import read_mapping_file, validate_mapping
from moneytrail.ingest.textfile import check_text, read_records
from moneytrail.sqlkit import in_list
from moneytrail.workspace import Workspace

TRUE = ("true", "1", "yes", "y", "t", "sar")
FALSE = ("false", "0", "no", "n", "f")


class LabelsMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str | None = None
    transaction: str | None = None
    label: str | None = None
    typology: str | None = None
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    skip_rows: int = 0

    @model_validator(mode="after")
    def _one_key(self):
        if (self.account is None) == (self.transaction is None):
            raise ValueError("name exactly one key column: 'account' (account-level labels) or "
                             "'transaction' (matched on the transactions' external ids)")
        return self


def parse_labels_mapping(data, origin: str = "<mapping>") -> LabelsMapping:
    return validate_mapping(LabelsMapping, data, origin, "labels mapping")


def load_labels_mapping(path) -> LabelsMapping:
    return parse_labels_mapping(read_mapping_file(path), str(path))


class LabelsReader:
    name = "labels"
    reads_folders = False
    needs_mapping = True
    load_mapping = staticmethod(load_labels_mapping)
    parse_mapping = staticmethod(parse_labels_mapping)

    def ingest(self, ws: Workspace, path: Path, *, mapping, legal_basis, force, on_read,
               actor: str | None = None) -> IngestResult:
        require_file(path)
        if mapping is None:
            raise InputError("format labels needs --mapping MAP.yaml (account or transaction column, "
                             "optional label and typology columns)", path=str(path))
        if isinstance(mapping, dict):
            mapping = parse_labels_mapping(mapping)
        if not isinstance(mapping, LabelsMapping):
            raise MappingError("format labels needs a labels mapping (account or transaction, label, typology)")
        reg = register_source(ws, path, "labels", "labels", mapping.model_dump(exclude_none=True),
                              legal_basis, force, actor=actor)
        if reg.present:
            return skipped(ws, reg, path, "labels")
        counts = _load(ws, reg.source_id, path, mapping, on_read)
        return finish_source(ws, reg, path, "labels", counts)


def _load(ws: Workspace, sid: int, path: Path, m: LabelsMapping, on_read) -> dict[str, int]:
    check = check_text(path, m.encoding)
    header, batches = read_records(path, encoding=m.encoding, delimiter=m.delimiter, quote=m.quote,
                                   skip_rows=m.skip_rows, strict_text=check.valid, on_read=on_read)
    cols = Columns(header, path)
    key_col = m.account or m.transaction
    key = f"nullif(trim(b.{cols.ref(key_col)}), '')"
    lab = f"lower(trim(b.{cols.ref(m.label)}))" if m.label else "'true'"
    typ = f"nullif(trim(b.{cols.ref(m.typology)}), '')" if m.typology else "NULL"
    known = ("(SELECT account_id AS k FROM accounts UNION SELECT orig_account FROM transactions "
             "UNION SELECT bene_account FROM transactions)" if m.account else
             "(SELECT DISTINCT external_id AS k FROM transactions WHERE external_id IS NOT NULL)")
    what = "account" if m.account else "transaction"
    yes_no = in_list(lab, TRUE + FALSE, negate=True)
    read = stored = 0
    for batch in batches:
        ws.con.register("_batch", stage_batch(batch, cols.used))
        try:
            ws.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _lab AS
                SELECT b._row, {key} AS k, {lab} AS lab, {typ} AS typology,
                       CASE WHEN b._pre_reason IS NOT NULL THEN b._pre_reason
                            WHEN {key} IS NULL THEN {q(key_col + ' is empty')}
                            WHEN {yes_no} THEN 'label ' || coalesce({lab}, '') || ' is not a yes/no value'
                            WHEN {key} NOT IN (SELECT k FROM {known})
                              THEN {q(what + ' ')} || {key} || ' is in no transaction of this workspace'
                       END AS reason,
                       CASE WHEN b._pre_reason IS NOT NULL THEN b._pre_col
                            WHEN {yes_no} THEN {q(m.label or '')}
                            ELSE {q(key_col)} END AS col
                FROM _batch b""")
        finally:
            ws.con.unregister("_batch")
        n_bad = insert_quarantine(ws.con, sid, batch,
                                  "SELECT _row, col, reason FROM _lab WHERE reason IS NOT NULL ORDER BY _row")
        match = ("t.orig_account = l.k OR t.bene_account = l.k" if m.account else "t.external_id = l.k")
        ws.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _lab_tx AS
            SELECT t.tx_id, bool_or({in_list('l.lab', TRUE)}) AS pos,
                   arg_max(l.typology, ({in_list('l.lab', TRUE)})::INTEGER) AS typology
            FROM _lab l JOIN transactions t ON {match}
            WHERE l.reason IS NULL GROUP BY t.tx_id""")
        ws.con.execute("""
            UPDATE main.labels SET is_laundering = labels.is_laundering OR n.pos,
                              alert_type = CASE WHEN n.pos AND NOT labels.is_laundering THEN n.typology
                                                ELSE coalesce(labels.alert_type, n.typology) END
            FROM _lab_tx n WHERE labels.tx_id = n.tx_id""")
        ws.con.execute("""
            INSERT INTO main.labels (tx_id, is_laundering, alert_type, source_id)
            SELECT tx_id, pos, typology, ? FROM _lab_tx WHERE tx_id NOT IN (SELECT tx_id FROM labels)""", [sid])
        read += len(batch)
        stored += len(batch) - n_bad
    ws.con.execute("DROP TABLE IF EXISTS _lab")
    ws.con.execute("DROP TABLE IF EXISTS _lab_tx")
    return {"read": read, "stored": stored, "quarantined": read - stored}
