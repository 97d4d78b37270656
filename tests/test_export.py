"""moneytrail export: findings, their exact transactions with provenance, their sources, and a
manifest whose hashes match the files; decided and recorded before anything is written."""

from __future__ import annotations

import csv
import hashlib
import json

import pyarrow.parquet as pq
import pytest

from moneytrail import Session
from moneytrail.audit import AuditLog
from moneytrail.authority import AccessDenied
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import setup_demo_authority
from moneytrail.ingest import parse_mapping
from moneytrail.workspace import Workspace

MAPPING = parse_mapping({"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"},
                         "payee": {"account": "to"}})


@pytest.fixture
def session(tmp_path):
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    rows = ["d,amt,from,to"]
    rows += [f"2024-03-{1 + i % 5:02d},{4000 + 37 * i},S{i},HUB" for i in range(14)]      # many senders, a few days
    rows += [f"2024-03-{6 + i % 3:02d},{9000 + 11 * i},HUB,R{i}" for i in range(6)]       # then onwards
    rows += [f"2024-0{1 + i % 6}-{1 + i % 27:02d},{50 + i},A{i % 7},B{i % 5}" for i in range(60)]
    (tmp_path / "bank.csv").write_text("\n".join(rows) + "\n")
    s = Session.open(p, officer=AN, case=CASE)
    s.ingest(tmp_path / "bank.csv", "csv", mapping=MAPPING, legal_basis=["subpoena"])
    s.detect()
    yield s
    s.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_holds_every_finding_with_its_transactions_and_provenance(session, tmp_path, fmt):
    findings = session.findings()
    assert findings, "the planted fan-in is found"
    man = session.export(tmp_path / "out", format=fmt)
    out = tmp_path / "out"
    for name, f in man["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    assert json.loads((out / "manifest.json").read_text())["files"] == man["files"]
    assert man["officer"] == AN and man["case"] == CASE

    def read(name):
        if fmt == "csv":
            with open(out / f"{name}.csv", newline="") as fh:
                return list(csv.DictReader(fh))
        return pq.read_table(out / f"{name}.parquet").to_pylist()

    fx, tx, src = read("findings"), read("finding_transactions"), read("sources")
    assert [int(r["finding_id"]) for r in fx] == [f.finding_id for f in findings]
    want = {(f.finding_id, t) for f in findings for t in f.tx_ids}
    assert {(int(r["finding_id"]), int(r["tx_id"])) for r in tx} == want
    raw = (tmp_path / "bank.csv").read_text().splitlines()[1:]
    for r in tx:     # provenance: the row of the file it names, with the file's hash
        line = raw[int(r["source_row"]) - 1].split(",")
        assert (line[2], line[3]) == (r["orig_account"], r["bene_account"])
        assert r["source_file"] == "bank.csv"
    assert [int(s["source_id"]) for s in src] == sorted({int(r["source_id"]) for r in tx})
    assert src[0]["sha256"] == hashlib.sha256((tmp_path / "bank.csv").read_bytes()).hexdigest()
    # the read was recorded, with the row counts, before the files were written
    entries = list(AuditLog.of(session._ws).entries())
    d, r = entries[-2], entries[-1]
    assert (d["kind"], d["action"], d["allowed"]) == ("decision", "export", True) and man["decision_audit_entry"] == d["seq"]
    assert r["kind"] == "read" and r["what"]["rows"] == {k.split(".")[0]: v["rows"] for k, v in man["files"].items()}


def test_export_filters_and_refusals(session, tmp_path):
    top = session.findings(limit=1)[0]
    man = session.export(tmp_path / "one", typologies=[top.typology], min_score=top.score)
    assert 1 <= man["files"]["findings.csv"]["rows"] <= len(session.findings(typologies=[top.typology]))
    session._ws.close()
    with Session.open(tmp_path / "case.duckdb", officer="stranger") as other, \
            pytest.raises(AccessDenied, match="unregistered-officer"):
        other.export(tmp_path / "denied")
    assert not (tmp_path / "denied").exists()


def test_ftm_export_is_valid_followthemoney_with_findings_and_their_evidence(session, tmp_path):
    """--format ftm: every line is an entity the followthemoney package accepts (its own
    validation and required properties), every reference points to an entity in the file, each
    payment is a finding's transaction with its provenance, and each finding is a note on its
    accounts naming its evidence."""
    from followthemoney import model

    from moneytrail.ftm import entities

    man = session.export(tmp_path / "ftm", format="ftm")
    path = tmp_path / "ftm" / "entities.ftm.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == man["files"]["entities.ftm.json"]["sha256"]
    ents = list(entities(path))
    ids = {e["id"] for e in ents}
    assert len(ids) == len(ents), "each entity once"
    for e in ents:
        proxy = model.get_proxy(e)                     # the package parses it ...
        assert proxy.schema.validate(e) is None        # ... and its validation passes
        for prop in proxy.schema.required:
            assert e["properties"].get(prop), (e["schema"], prop)
        for prop, values in e["properties"].items():   # references resolve inside the file
            if proxy.schema.properties[prop].type.name == "entity":
                assert set(values) <= ids, (e["schema"], prop)
    by = {}
    for e in ents:
        by.setdefault(e["schema"], []).append(e)
    txs = {int(r[0]) for r in session._ws.for_case(CASE).query("SELECT DISTINCT tx_id FROM finding_transactions")}
    pays = by["Payment"]
    assert {int(p["properties"]["recordId"][0]) for p in pays} == txs
    p = pays[0]
    assert p["properties"]["currency"] == ["USD"] and "bank.csv" in p["properties"]["summary"][0]
    assert p["properties"]["proof"][0] in {d["id"] for d in by["Document"]}
    assert by["Document"][0]["properties"]["fileName"] == ["bank.csv"]
    hub_notes = [n for n in by["Note"] if "fan_in" in n["properties"]["name"][0]]
    assert hub_notes and "recordId" in hub_notes[0]["properties"]["description"][0]
    assert {o["schema"] for o in ents} >= {"Ownership", "BankAccount", "LegalEntity", "Payment", "Note", "Document"}
    again = tmp_path / "ftm2"
    session.export(again, format="ftm")
    assert {e["id"] for e in entities(again / "entities.ftm.json")} == ids      # stable ids: Aleph merges
