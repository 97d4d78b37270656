"""Attacks on the control layer, performed (issue 10): each must be impossible or fail closed.

Tried as an attacker would: a user with the CLI, a parameter value, or write access to the
workspace folder (not to the key folder). Every test here does the attack, then checks that it
failed with one clear line and that ``moneytrail audit verify`` names what was done.
"""

from __future__ import annotations

import json
import shutil
import uuid

import duckdb
import pytest

from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_COUNSEL as COUNSEL
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import DEMO_REGISTRAR as REG
from moneytrail.demo import DEMO_SAC as SAC
from moneytrail.demo import setup_demo_authority
from moneytrail.workspace import Workspace

from authority_helpers import TODAY, DAY, grant_fields
from cli_helpers import mt, ok, one_line_error


@pytest.fixture
def case(tmp_path):
    """The demo task force and case in a workspace, with one ingested source; (folder, -w args)."""
    with Workspace.open(tmp_path / "case.duckdb") as ws:
        setup_demo_authority(ws)
    w = ["-w", str(tmp_path / "case.duckdb")]
    (tmp_path / "bank.csv").write_text("d,amt,from,to\n" + "".join(f"2024-03-0{1 + i},{100 + i},A{i},B\n"
                                                                   for i in range(5)))
    (tmp_path / "map.yaml").write_text("currency: USD\ndate: d\namount: {column: amt}\npayer: {account: from}\npayee: {account: to}\n")
    ok(mt("ingest", "bank.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "subpoena", *w, cwd=tmp_path,
          officer=AN))
    return tmp_path, w


def raw(path, *statements):
    """Write to the workspace file directly, as someone with write access to the folder could."""
    con = duckdb.connect(str(path))
    try:
        for s in statements:
            con.execute(s)
    finally:
        con.close()


def keys_of(tmp_path, key_dir) -> set[str]:
    return {p.name for p in key_dir.iterdir()}


# -- 1. the demo over an existing case -----------------------------------------------------------------

def test_the_demo_never_writes_over_a_folder_that_holds_anything(case):
    d, w = case
    import hashlib

    def snapshot():
        return {p.relative_to(d): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(d.rglob("*")) if p.is_file()}

    before = snapshot()
    line = one_line_error(mt("demo", "--out", str(d), cwd=d), "not an empty folder", "never overwrites")
    assert str(d) in line
    assert snapshot() == before                              # nothing deleted, nothing written
    assert ok(mt("audit", "verify", *w, cwd=d, officer=AN)).startswith("audit log verified")
    # a folder holding only an unrelated file is not empty either
    (d / "other").mkdir()
    (d / "other" / "notes.txt").write_text("mine")
    one_line_error(mt("demo", "--out", str(d / "other"), cwd=d), "not an empty folder")
    assert (d / "other" / "notes.txt").read_text() == "mine"


# -- 2. restarting the audit log ----------------------------------------------------------------------

def test_a_reset_workspace_id_and_a_moved_log_never_start_a_new_log(case, tmp_path_factory):
    d, w = case
    import os
    from pathlib import Path
    key_dir = Path(os.environ["MONEYTRAIL_KEY_DIR"])
    before = keys_of(d, key_dir)
    new_id = str(uuid.uuid4())
    raw(d / "case.duckdb", f"UPDATE authority_state SET workspace_id = '{new_id}', audit_started_at = NULL")
    shutil.move(d / "case.audit", d / "moved-away.audit")
    # the next command: refused, nothing appended anywhere, no key made for the new id
    one_line_error(mt("findings", *w, cwd=d, officer=AN), "no audit log vouches for them")
    one_line_error(mt("authority", "list", *w, cwd=d, officer=REG), "no audit log vouches for them")
    assert keys_of(d, key_dir) == before and not (d / "case.audit").exists()
    # verify does not pass either
    one_line_error(mt("audit", "verify", *w, cwd=d, officer=REG), "no audit log vouches for them")
    # and the registry cannot be set up again to start a fresh log, even with everything wiped
    raw(d / "case.duckdb", *[f"DELETE FROM {t}" for t in (
        "grant_approvals", "case_members", "cases", "grants", "officers", "agencies", "transactions",
        "account_records", "source_cases", "sources", "runs")])
    line = one_line_error(mt("authority", "init", "--agency", "AG-M", "--agency-name", "M Agency", "--name", "M. Allory",
                             *w, cwd=d, officer="mallory"), "cannot start an audit log")
    assert "under id" in line and "was changed or the workspace replaced" in line
    assert not (d / "case.audit").exists()


def test_only_the_id_reset_with_the_log_in_place_is_refused_too(case):
    d, w = case
    raw(d / "case.duckdb", f"UPDATE authority_state SET workspace_id = '{uuid.uuid4()}'")
    one_line_error(mt("findings", *w, cwd=d, officer=AN), "restore the key folder")
    p = mt("audit", "verify", *w, cwd=d, officer=REG)
    assert p.returncode == 2


def test_a_deleted_log_is_never_replaced_by_a_new_one(case):
    d, w = case
    shutil.rmtree(d / "case.audit")
    one_line_error(mt("findings", *w, cwd=d, officer=AN), "gone")
    one_line_error(mt("authority", "officer", "add", "x-1", "--name", "X Ray", "--agency", "TF-LEAD", *w, cwd=d,
                      officer=REG), "gone")
    assert not (d / "case.audit").exists()


def test_a_log_is_started_once_by_the_registrar_and_it_is_logged(tmp_path):
    w = ["-w", str(tmp_path / "new.duckdb")]
    # nothing can be done in a workspace without a log; a refusal says why, unrecorded
    one_line_error(mt("findings", *w, cwd=tmp_path, officer=AN), "no workspace at")
    ok(mt("authority", "init", "--agency", "TF", "--agency-name", "Task Force", "--name", "R. Egistrar", *w,
          cwd=tmp_path, officer="reg-1"))
    entries = json.loads(ok(mt("audit", "log", "--json", "--limit", "0", *w, cwd=tmp_path, officer="reg-1")))
    assert entries[0]["kind"] == "genesis" and entries[0]["officer"] == "reg-1"
    assert entries[0]["path"] == str((tmp_path / "new.duckdb").resolve())
    assert sum(e["kind"] == "genesis" for e in entries) == 1


# -- 4. registry edits outside moneytrail ---------------------------------------------------------------

@pytest.mark.parametrize("attack,table", [
    # a forged officer with a grant, a member of the case, who then reads its data
    (["INSERT INTO officers VALUES ('forger', 'F. Orger', 'STATE-FCU', [], now(), 'tf-registrar')",
      "INSERT INTO grants SELECT * REPLACE ('G-F' AS grant_id, 'forger' AS officer_id) FROM grants "
      "WHERE grant_id = 'G-DEMO-1'",
      "INSERT INTO case_members VALUES ('OP-DEMO', 'forger', 'member', now(), 'tf-analyst-1', NULL, NULL)"],
     "officers"),
    # the analyst made a registrar
    (["UPDATE officers SET roles = ['registrar'] WHERE officer_id = 'tf-analyst-1'"], "officers"),
    # a revoked grant brought back
    (["UPDATE grants SET status = 'revoked', revoked_at = now(), revocation_reason = 'x'"], "grants"),
    # a case member dropped from the record
    (["DELETE FROM case_members"], "case_members"),
])
def test_registry_edits_outside_moneytrail_are_refused_and_named(case, attack, table):
    d, w = case
    raw(d / "case.duckdb", *attack)
    for who, args in ((AN, ["findings"]), ("forger", ["findings"]), (REG, ["authority", "list"]),
                      (REG, ["authority", "officer", "add", "x-2", "--name", "X Ray", "--agency", "TF-LEAD"])):
        one_line_error(mt(*args, *w, cwd=d, officer=who), "changed outside moneytrail", "audit verify")
    # verify runs (decided on the registry the log builds) and names the table
    p = mt("audit", "verify", "--json", *w, cwd=d, officer=REG)
    rep = json.loads(p.stdout)
    assert p.returncode == 2 and any(f"{table} table" in x for x in rep["problems"]), rep["problems"]


def test_a_forged_officer_cannot_even_verify_on_the_forged_registry(case):
    d, w = case
    raw(d / "case.duckdb", "INSERT INTO officers VALUES ('forger', 'F', 'TF-LEAD', ['auditor'], now(), 'x')")
    one_line_error(mt("audit", "log", *w, cwd=d, officer="forger"), "access denied", "unregistered-officer")


# -- 6. separation of duties ----------------------------------------------------------------------------

def test_a_registrar_cannot_deputize_themselves(case):
    d, w = case
    g = grant_fields()
    args = ["--deputizing-official", SAC, "--deputizing-agency", "TF-LEAD", "--consent-official", "Chief",
            "--consent-date", str(g["consent_date"]), "--statute", g["statute"], "--function", "asset-seizure",
            "--jurisdiction", "Demo District", "--valid-from", str(g["valid_from"]), "--valid-until",
            str(g["valid_until"]), "--training-course", "T", "--training-date", str(g["training_date"]),
            "--training-expires", str(g["training_expires"])]
    one_line_error(mt("authority", "grant", "add", "G-SELF", "--officer", REG, *args, *w, cwd=d, officer=REG),
                   "access denied", "own-grant")
    # recorded by someone else, it is still not theirs to approve or activate
    ok(mt("authority", "officer", "add", "reg-2", "--name", "R. Two", "--agency", "TF-LEAD", "--role", "registrar",
          *w, cwd=d, officer=REG))
    ok(mt("authority", "grant", "add", "G-R1", "--officer", REG, *args, *w, cwd=d, officer="reg-2"))
    one_line_error(mt("authority", "grant", "approve", "G-R1", *w, cwd=d, officer=REG), "access denied",
                   "self-approval")
    one_line_error(mt("authority", "grant", "approve", "G-R1", *w, cwd=d, officer="reg-2"), "access denied",
                   "not-the-deputizing-official")
    ok(mt("authority", "grant", "approve", "G-R1", *w, cwd=d, officer=SAC))
    one_line_error(mt("authority", "grant", "activate", "G-R1", *w, cwd=d, officer=REG), "access denied", "own-grant")
    ok(mt("authority", "grant", "activate", "G-R1", *w, cwd=d, officer="reg-2"))
    # a grantee cannot be named their own deputizing official
    ok(mt("authority", "grant", "add", "G-R2", "--officer", SAC, *args, *w, cwd=d, officer="reg-2"))
    one_line_error(mt("authority", "grant", "approve", "G-R2", *w, cwd=d, officer=SAC), "self-approval")


def test_a_case_member_cannot_record_their_own_legal_process(case):
    d, w = case
    order = ["--judge", "Hon. A. Judge", "--court", "U.S. District Court", "--date", str(TODAY - DAY),
             "--scope", "Tax years 2022-2024", "--subject", "Acme Staffing LLC"]
    one_line_error(mt("case", "fti-order", CASE, *order, *w, cwd=d, officer=AN), "access denied",
                   "legal-process-by-case-member")
    one_line_error(mt("case", "disclose", CASE, AN, "--attorney", "AUSA K. Lee", *w, cwd=d, officer=AN),
                   "access denied", "legal-process-by-case-member")
    # an officer without the counsel (or registrar) role cannot either
    one_line_error(mt("case", "disclose", CASE, AN, "--attorney", "AUSA K. Lee", *w, cwd=d, officer=SAC),
                   "access denied", "legal-process-needs-counsel")
    # counsel, not a member, can; and it is logged without naming the taxpayer or the scope
    ok(mt("case", "fti-order", CASE, *order, *w, cwd=d, officer=COUNSEL))
    ok(mt("case", "disclose", CASE, AN, "--attorney", "AUSA K. Lee", *w, cwd=d, officer=COUNSEL))
    log = (d / "case.audit" / "log.jsonl").read_text()
    assert "Acme" not in log and "Tax years" not in log
    # the case's members see the order in full
    v = json.loads(ok(mt("case", "show", "--json", *w, cwd=d, officer=AN)))
    assert v["fti_authorities"][0]["subjects"] == ["Acme Staffing LLC"]


# -- 7. legal-basis tags from a closed vocabulary ------------------------------------------------------

@pytest.mark.parametrize("tag", ["Federal Tax Information: John Doe", "federal-tax-information:John Doe",
                                 "IRS return information", "F.T.I.", "ＦＴＩ", "GJ material", "fti",
                                 "grand jury 6(e)", "subpoena\nfti:x"])
def test_a_tag_outside_the_vocabulary_is_refused_with_the_list(case, tag):
    d, w = case
    (d / "other.csv").write_text("d,amt,from,to\n2024-04-01,5,C,D\n")
    for args in (["ingest", "other.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", tag],
                 ["tag", "1", "--legal-basis", tag]):
        line = one_line_error(mt(*args, *w, cwd=d, officer=AN), "legal-basis tag")
        assert "fti:NAME" in line or "name its taxpayer" in line
    assert ok(mt("sources", "--json", *w, cwd=d, officer=AN)).count('"source_id"') == 1


def test_canonical_tags_are_taken_and_full_width_folds(case):
    d, w = case
    (d / "w2.csv").write_text("d,amt,from,to\n2024-04-01,5,C,D\n")
    out = ok(mt("tag", "1", "--legal-basis", "ＦＴＩ:Acme Staffing LLC", "--legal-basis", "Subpoena: GJ-17", *w,
                cwd=d, officer=AN))
    assert "fti:Acme Staffing LLC" in out and "subpoena:GJ-17" in out
    one_line_error(mt("findings", *w, cwd=d, officer=AN), "fti-needs-6103i-authority")


# -- 5. one case's evidence closed to another ----------------------------------------------------------

def _other_jurisdiction_officer(d, w):
    """A registrar-recorded, approved, activated officer deputized for another jurisdiction only,
    with a case of their own there; returns the case id."""
    g = grant_fields()
    ok(mt("authority", "officer", "add", "far-1", "--name", "F. Aranda", "--agency", "STATE-FCU", *w, cwd=d,
          officer=REG))
    ok(mt("authority", "grant", "add", "G-FAR", "--officer", "far-1", "--deputizing-official", SAC,
          "--deputizing-agency", "TF-LEAD", "--consent-official", "Chief S. Poe", "--consent-date",
          str(g["consent_date"]), "--statute", g["statute"], "--function", "asset-seizure", "--jurisdiction",
          "Another District", "--valid-from", str(g["valid_from"]), "--valid-until", str(g["valid_until"]),
          "--training-course", "T", "--training-date", str(g["training_date"]), "--training-expires",
          str(g["training_expires"]), *w, cwd=d, officer=REG))
    ok(mt("authority", "grant", "approve", "G-FAR", *w, cwd=d, officer=SAC))
    ok(mt("authority", "grant", "activate", "G-FAR", *w, cwd=d, officer=REG))
    ok(mt("case", "open", "OP-FAR", "--function", "asset-seizure", "--jurisdiction", "Another District",
          "--predicate", "Structured deposits at a car dealer in another district", *w, cwd=d, officer="far-1"))
    return "OP-FAR"


def test_an_officer_of_another_case_reads_nothing_of_this_one(case, tmp_path):
    d, w = case
    ok(mt("detect", *w, cwd=d, officer=AN))
    mine = json.loads(ok(mt("findings", "--format", "json", *w, cwd=d, officer=AN)))
    other = _other_jurisdiction_officer(d, w)
    far = dict(officer="far-1")
    # every reading command, in their own case, sees none of OP-DEMO's evidence or findings
    assert json.loads(ok(mt("findings", "--format", "json", *w, cwd=d, **far))) == []
    assert json.loads(ok(mt("sources", "--json", *w, cwd=d, **far))) == []
    assert json.loads(ok(mt("quarantine", "--json", *w, cwd=d, **far))) == []
    out = ok(mt("export", "--out", str(tmp_path / "far-export"), *w, cwd=d, **far))
    assert "findings.csv (0 rows)" in out and "finding_transactions.csv (0 rows)" in out
    one_line_error(mt("trace", "--source", "10000000001", *w, cwd=d, **far), "no such transaction in this case")
    one_line_error(mt("tx", "1:1", *w, cwd=d, **far), "no transaction '1:1' in this case")
    report = tmp_path / "far.html"
    ok(mt("report", "--out", str(report), *w, cwd=d, **far))
    html = report.read_text()
    assert "bank.csv" not in html and "A0" not in html and "OP-DEMO" not in html
    # and nothing of OP-DEMO under their name
    one_line_error(mt("findings", "--case", CASE, *w, cwd=d, **far), "not-a-case-member")
    # the same through Python
    from moneytrail import Session
    with Session.open(d / "case.duckdb", officer="far-1", case=other) as s:
        assert s.findings() == [] and s.sources() == []
    assert mine                                          # (OP-DEMO itself has findings)


def test_a_source_reaches_another_case_only_by_a_decision(case):
    d, w = case
    ok(mt("case", "open", "OP-2", "--function", "asset-seizure", "--jurisdiction", "Demo District", "--predicate",
          "Second line of inquiry on the same accounts", *w, cwd=d, officer=AN))
    assert json.loads(ok(mt("sources", "--json", "--case", "OP-2", *w, cwd=d, officer=AN))) == []
    # shared into a case of another jurisdiction, where the analyst holds nothing: refused there
    _other_jurisdiction_officer(d, w)
    one_line_error(mt("source", "share", "1", "--to", "OP-FAR", "--case", CASE, *w, cwd=d, officer=AN),
                   "access denied", "OP-FAR")
    # shared into the analyst's other case: recorded, then visible there
    out = ok(mt("source", "share", "1", "--to", "OP-2", "--case", CASE, *w, cwd=d, officer=AN))
    assert "shared with case OP-2" in out
    shared = json.loads(ok(mt("sources", "--json", "--case", "OP-2", *w, cwd=d, officer=AN)))
    assert [s["source_id"] for s in shared] == [1]
    log = json.loads(ok(mt("audit", "log", "--json", "--limit", "0", *w, cwd=d, officer=REG)))
    st = [e for e in log if e["kind"] == "state" and e["change"] == "source.share"]
    assert st and st[0]["ops"][0]["table"] == "source_cases" and st[0]["ops"][0]["add"][0]["case_id"] == "OP-2"
    assert ok(mt("audit", "verify", *w, cwd=d, officer=REG)).startswith("audit log verified")


# -- 8. a bad source has a way out ---------------------------------------------------------------------

def test_a_source_can_be_withdrawn_and_the_case_goes_on(case):
    d, w = case
    (d / "wrong.csv").write_text("d,amt,from,to\n2024-03-09,77,W1,W2\n2024-03-09,88,W2,W3\n")
    ok(mt("ingest", "wrong.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "subpoena", *w, cwd=d,
          officer=AN))
    one_line_error(mt("source", "withdraw", "2", "--reason", "n/a", *w, cwd=d, officer=AN), "--reason")
    one_line_error(mt("source", "withdraw", "9", "--reason", "wrong file", *w, cwd=d, officer=AN), "no source 9")
    one_line_error(mt("source", "withdraw", "2", "--reason", "wrong file", *w, cwd=d, officer="stranger"),
                   "access denied")
    out = ok(mt("source", "withdraw", "2", "--reason", "the bank sent another customer's statement", *w, cwd=d,
                officer=AN))
    assert "source 2 withdrawn" in out
    one_line_error(mt("source", "withdraw", "2", "--reason", "again", *w, cwd=d, officer=AN), "already withdrawn")
    listing = ok(mt("sources", *w, cwd=d, officer=AN))
    assert "WITHDRAWN" in listing and "another customer's statement" in listing
    ok(mt("detect", *w, cwd=d, officer=AN))
    txs = {t for f in json.loads(ok(mt("findings", "--format", "json", *w, cwd=d, officer=AN))) for t in f["tx_ids"]}
    assert not [t for t in txs if t // 10_000_000_000 == 2]
    # the evidence copy and the record stay; the withdrawal is in the signed log
    src = json.loads(ok(mt("sources", "--json", *w, cwd=d, officer=AN)))
    gone = next(s for s in src if s["source_id"] == 2)
    assert gone["withdrawn_by"] == AN and (d / "case.evidence" / gone["evidence_path"]).is_file()
    # ingesting the same file again does not bring it back silently: it is a new source
    out = ok(mt("ingest", "wrong.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "subpoena", *w, cwd=d,
                officer=AN))
    assert "source 3" in out
    assert ok(mt("audit", "verify", *w, cwd=d, officer=REG)).startswith("audit log verified")


# -- 11. the public API hands out nothing undecided ---------------------------------------------------

def test_the_public_api_is_the_session_alone(case):
    d, _ = case
    import importlib

    import moneytrail
    from moneytrail import Session
    assert moneytrail.__all__ == ["Session", "__version__"]
    assert not hasattr(moneytrail, "Workspace")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("moneytrail.reads")
    with Session.open(d / "case.duckdb", officer=AN, case=CASE) as s:
        assert not hasattr(s, "ws") and not hasattr(s, "con")
        public = {n for n in dir(s) if not n.startswith("_")}
        assert public == {"case", "close", "command", "detect", "export", "findings", "ingest", "models", "officer",
                          "open", "quarantine", "report", "run", "score", "share", "sources", "tag", "trace", "train",
                          "withdraw",
                          # the registry, cases and the audit log: each method decided like its command
                          "init_registry", "import_taskforce", "registry", "whoami", "add_agency", "add_officer",
                          "add_grant", "approve_grant", "activate_grant", "revoke_grant", "open_case", "case_info",
                          "cases", "add_member", "remove_member", "disclose", "record_fti_order",
                          "record_fti_request", "close_case", "audit_verify", "audit_repair", "audit_prove",
                          "audit_consistency", "audit_log", "audit_head",
                          # what the web app shows (issue 12): each decided (findings, explore, triage,
                          # report/trace, registry_change/registry_read) and recorded
                          "findings_page", "finding", "triage", "account", "transactions", "graph", "viewed",
                          "issue_login", "remove_login", "logins",
                          # entity resolution (issue 14): decided as resolve, review and explore
                          "resolve", "review_queue", "review", "entities", "entity",
                          # a transaction by the bank's reference (issue 16): decided as explore
                          "transaction",
                          # where a trace of a finding starts (issue 17): decided as findings
                          "finding_trace_sources"}


# -- also: files, identities, parameters --------------------------------------------------------------

def test_key_and_audit_files_are_private(case, tmp_path, monkeypatch):
    import os
    import stat
    from pathlib import Path
    d, w = case
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)          # noqa: E731
    keys = Path(os.environ["MONEYTRAIL_KEY_DIR"])
    assert mode(keys) == 0o700
    for p in keys.iterdir():
        assert mode(p) == (0o644 if p.suffix == ".pub" else 0o600), p
    audit = d / "case.audit"
    assert mode(audit) == 0o700 and all(mode(p) == 0o600 for p in audit.iterdir() if p.is_file())
    # a key folder others can read is never written into
    loose = tmp_path / "loose-keys"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    line = one_line_error(mt("authority", "init", "--agency", "AG", "--agency-name", "An Agency", "--name", "R. One",
                             "-w", str(tmp_path / "n.duckdb"), cwd=tmp_path, officer="reg-x",
                             env={"MONEYTRAIL_KEY_DIR": str(loose)}), "open to other users")
    assert "chmod 700" in line and not list(loose.iterdir())


@pytest.mark.parametrize("officer", ["tf-analyst-1\n     7 2026-01-01T00:00:00 tf-registrar: ALLOW findings",
                                     "x\x1b[2J", "a b", "x" * 100_000])
def test_an_officer_id_cannot_forge_audit_lines_or_flood(case, officer):
    d, w = case
    before = (d / "case.audit" / "log.jsonl").read_bytes()
    line = one_line_error(mt("findings", *w, cwd=d, env={"MONEYTRAIL_OFFICER": officer}), "is not an id")
    assert len(line) < 400
    assert (d / "case.audit" / "log.jsonl").read_bytes() == before      # nothing logged under it


def test_audit_listings_print_control_characters_escaped():
    from moneytrail.cli.authority_cmd import _printable
    assert _printable("a\nb\x1b[2Jc\u2028") == "a\\x0ab\\x1b[2Jc\\x2028"


def test_oversized_parameters_are_one_line(case):
    d, w = case
    one_line_error(mt("tag", "1", "--legal-basis", "subpoena:" + "9" * 20_000, *w, cwd=d, officer=AN),
                   "longer than")
    one_line_error(mt("detect", "-p", "fan_in.window_days=" + "9" * 5000, *w, cwd=d, officer=AN), "fan_in")


def test_force_reingest_of_fti_needs_the_authority_to_read_it(case):
    d, w = case
    ok(mt("tag", "1", "--legal-basis", "fti:Acme Staffing LLC", *w, cwd=d, officer=AN))   # marking needs none
    one_line_error(mt("ingest", "bank.csv", "-f", "csv", "-m", "map.yaml", "--force", *w, cwd=d, officer=AN),
                   "access denied", "fti-needs-6103i-authority")


def test_fti_evidence_copies_are_sealed_at_rest(case):
    d, w = case
    from moneytrail.workspace import Workspace
    from moneytrail.workspace.sealed import open_sealed

    # a source found to hold FTI after it was ingested: its copy is sealed, the plaintext removed
    src = json.loads(ok(mt("sources", "--json", *w, cwd=d, officer=AN)))[0]
    plain = d / "case.evidence" / src["evidence_path"]
    assert plain.is_file() and b"A0" in plain.read_bytes()
    ok(mt("tag", "1", "--legal-basis", "fti:Acme Staffing LLC", *w, cwd=d, officer=AN))
    ok(mt("case", "fti-order", CASE, "--judge", "Hon. A. Judge", "--court", "U.S. District Court", "--date",
          str(TODAY - DAY), "--scope", "Tax years 2022-2024", "--subject", "Acme Staffing LLC", *w, cwd=d,
          officer=COUNSEL))
    src = json.loads(ok(mt("sources", "--json", *w, cwd=d, officer=AN)))[0]
    sealed = d / "case.evidence" / src["evidence_path"]
    assert src["evidence_path"].endswith(".enc") and sealed.is_file() and not plain.exists()
    raw_bytes = sealed.read_bytes()
    assert b"A0" not in raw_bytes and b"2024-03" not in raw_bytes
    # only the key beside the signing key opens it, and it opens to the very file ingested
    with Workspace.open(d / "case.duckdb") as ws:
        key = ws.evidence_key()
    assert b"".join(open_sealed(sealed, key, src["sha256"])) == (d / "bank.csv").read_bytes()
    with pytest.raises(ValueError, match="does not decrypt"):
        list(open_sealed(sealed, b"\0" * 32, src["sha256"]))
    # a new FTI file is sealed as it is copied in
    (d / "w2.csv").write_text("d,amt,from,to\n2024-04-01,5,W2-PAYER,W2-PAYEE\n")
    ok(mt("ingest", "w2.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "fti:Acme Staffing LLC", *w, cwd=d,
          officer=AN))
    w2 = [s for s in json.loads(ok(mt("sources", "--json", *w, cwd=d, officer=AN))) if s["file_name"] == "w2.csv"][0]
    assert w2["evidence_path"].endswith(".enc")
    assert b"W2-PAYER" not in (d / "case.evidence" / w2["evidence_path"]).read_bytes()
