"""The Python API under authority (moneytrail.Session): every method is decided and recorded like
the command it stands for; a denial raises before anything is read or written."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from moneytrail import Session
from moneytrail.audit import AuditLog
from moneytrail.authority import AccessDenied
from moneytrail.authority.registry import record_fti_order, revoke_grant
from moneytrail.identity import IdentityError
from moneytrail.demo import DEMO_COUNSEL as COUNSEL
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import DEMO_REGISTRAR as REG
from moneytrail.demo import setup_demo_authority
from moneytrail.workspace import Workspace

MAPPING = {"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"}, "payee": {"account": "to"}}


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "case.duckdb"
    with Workspace.open(p) as ws:
        setup_demo_authority(ws)
    return p


def _csv(tmp_path, name, rows):
    p = tmp_path / name
    p.write_text("d,amt,from,to\n" + "".join(f"2024-01-{1 + i % 27:02d},{a},{f},{t}\n"
                                             for i, (a, f, t) in enumerate(rows)))
    return p


def _log(s: Session) -> list[dict]:
    return list(AuditLog.of(s._ws).entries())


def test_a_session_needs_an_officer(path, monkeypatch):
    monkeypatch.delenv("MONEYTRAIL_OFFICER", raising=False)
    with pytest.raises(IdentityError, match="no acting officer"):
        Session.open(path)
    monkeypatch.setenv("MONEYTRAIL_OFFICER", AN)
    with Session.open(path) as s:
        assert s.officer == AN
    from moneytrail.errors import WorkspaceError
    with pytest.raises(WorkspaceError, match="no workspace at"):
        Session.open(path.parent / "typo.duckdb")
    assert not (path.parent / "typo.duckdb").exists()


def test_methods_are_decided_and_their_reads_recorded(path, tmp_path):
    from moneytrail.ingest import parse_mapping

    rows = [(900, f"W{i}", "FUNNEL") for i in range(12)] + [(100, "A", "B")] * 3
    with Session.open(path, officer=AN, case=CASE) as s:
        r = s.ingest(_csv(tmp_path, "bank.csv", rows), "csv", mapping=parse_mapping(MAPPING),
                     legal_basis=["subpoena"])
        assert r.read == r.stored + r.quarantined == 15
        summary = s.detect()
        assert set(summary["findings"]) and "skipped" in summary
        found = s.findings(limit=3)
        assert s.sources()[0]["legal_basis"] == ["subpoena"]
        assert s.quarantine() == []
        log = _log(s)
    kinds = [(e["kind"], e.get("action")) for e in log if e["kind"] in ("decision", "read")]
    assert kinds[-9:] == [("decision", "ingest"), ("decision", "detect"), ("read", "detect"), ("decision", "findings"),
                          ("read", "findings"), ("decision", "sources"), ("read", "sources"),
                          ("decision", "quarantine"), ("read", "quarantine")]
    read = next(e for e in reversed(log) if e["kind"] == "read" and e["action"] == "findings")
    assert read["what"]["rows"] == len(found) and read["officer"] == AN and read["case"] == CASE


def test_a_denied_method_reads_and_writes_nothing(path, tmp_path):
    from moneytrail.ingest import parse_mapping

    with Session.open(path, officer=AN, case=CASE) as s:
        # federal tax information without a 6103(i) order: refused before the file is read
        with pytest.raises(AccessDenied, match="fti-needs-6103i-authority"):
            s.ingest(_csv(tmp_path, "w2.csv", [(5, "A", "B")]), "csv", mapping=parse_mapping(MAPPING),
                     legal_basis=["fti:Acme Staffing LLC"])
        assert s._ws.scalar("SELECT count(*) FROM sources") == 0
        record_fti_order(s._ws, COUNSEL, CASE, judge="Hon. A. Judge", court="U.S. District Court",
                         order_date=dt.date.today() - dt.timedelta(days=1), scope="tax years 2022-2024",
                         subjects=["Acme Staffing LLC"])
        s.ingest(_csv(tmp_path, "w2.csv", [(5, "A", "B")]), "csv", mapping=parse_mapping(MAPPING),
                 legal_basis=["fti:Acme Staffing LLC"])
        assert len(s.findings()) == 0
        revoke_grant(s._ws, REG, "G-DEMO-1", "reassigned")           # takes effect on the next call
        n = len(_log(s))
        with pytest.raises(AccessDenied, match="grant-revoked"):
            s.findings()
        log = _log(s)
        assert len(log) == n + 1 and log[-1]["kind"] == "decision" and log[-1]["allowed"] is False
    with Session.open(path, officer="stranger") as s, pytest.raises(AccessDenied, match="unregistered-officer"):
        s.sources()


def test_a_source_found_to_be_protected_after_ingest_can_be_tagged(path, tmp_path):
    """Tags are only ever added: by `tag` (no authority to read the data needed) or by ingesting the
    same file again with them; reads then need the authority they call for."""
    from moneytrail.ingest import parse_mapping

    with Session.open(path, officer=AN, case=CASE) as s:
        f = _csv(tmp_path, "w2.csv", [(5, "A", "B"), (7, "B", "C")])
        sid = s.ingest(f, "csv", mapping=parse_mapping(MAPPING), legal_basis=["subpoena"]).source_id
        assert len(s.sources()) == 1
        assert s.tag(sid, ["fti:Acme Staffing LLC", "subpoena"]) == ["fti:Acme Staffing LLC"]
        with pytest.raises(AccessDenied, match=f"source {sid}: fti-needs-6103i-authority"):
            s.findings()
        assert s.tag(sid, ["subpoena"]) == []                      # nothing new, nothing removed
        log = _log(s)
        tagged = [e["resource"] for e in log if e.get("action") == "source_tag"][0]
        assert tagged["source"] == sid and tagged["legal_basis"][1] == "subpoena"
        # the log names no taxpayer: a keyed hash stands for the name
        assert tagged["legal_basis"][0].startswith("fti:#") and "Acme" not in json.dumps(log)
        record_fti_order(s._ws, COUNSEL, CASE, judge="Hon. A. Judge", court="U.S. District Court",
                         order_date=dt.date.today() - dt.timedelta(days=1), scope="tax years 2022-2024",
                         subjects=["Acme Staffing LLC"])
        assert s.sources()[0]["legal_basis"] == ["subpoena", "fti:Acme Staffing LLC"]
        # the same file again with another tag: not re-read, the tag added
        r = s.ingest(f, "csv", mapping=parse_mapping(MAPPING), legal_basis=["summons:31 U.S.C. 5318"])
        assert r.skipped and r.tags_added == ["summons:31 U.S.C. 5318"] and r.source_id == sid
        # ingesting with a grand-jury tag is decided as ingesting grand-jury material: only for the
        # disclosure list (anyone on the case may still mark it with `tag`)
        with pytest.raises(AccessDenied, match="grand-jury-disclosure-list"):
            s.ingest(f, "csv", mapping=parse_mapping(MAPPING), legal_basis=["grand-jury-6e"])
        assert s.sources()[0]["legal_basis"] == ["subpoena", "fti:Acme Staffing LLC", "summons:31 U.S.C. 5318"]
        assert s.tag(sid, ["grand-jury-6e"]) == ["grand-jury-6e"]
        with pytest.raises(AccessDenied, match="grand-jury-disclosure-list"):
            s.sources()
