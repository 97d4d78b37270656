"""``moneytrail authority``, ``case`` and ``audit`` as a user runs them (subprocesses).

One task force is built from nothing through the commands, works a case, loses its grant, and
has its audit log checked, proved and tampered with. Error paths: one line, ``error:``, exit 2.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from moneytrail.audit.merkle import verify_consistency, verify_inclusion

from cli_helpers import mt, ok, one_line_error

TODAY = dt.datetime.now(dt.timezone.utc).date()
D = dt.timedelta(days=1)


GRANT = ["--deputizing-official", "sac-1", "--deputizing-agency", "TF", "--consent-official", "Chief S. Poe",
         "--consent-date", str(TODAY - D), "--statute", "8 U.S.C. 1103(a)(6)", "--function", "illegal-hiring-finance",
         "--function", "removal-support", "--jurisdiction", "D. Ariz.", "--valid-from", str(TODAY - D),
         "--valid-until", str(TODAY + 90 * D), "--training-course", "Deputization: financial investigations",
         "--training-date", str(TODAY - 3 * D), "--training-expires", str(TODAY + 300 * D)]


@pytest.fixture(scope="module")
def tf(tmp_path_factory):
    """A workspace set up through the commands: registrar, agencies, an analyst with a grant, a case, data."""
    d = tmp_path_factory.mktemp("tf")
    w = ["-w", str(d / "tf.duckdb")]
    ok(mt("--as", "reg-1", "authority", "init", "--agency", "TF", "--agency-name", "Task Force", "--name",
          "R. Egistrar", *w, cwd=d))
    ok(mt("authority", "agency", "add", "STATE", "--name", "State Police Financial Unit", "--kind", "state", *w,
          "--as", "reg-1", cwd=d))                                    # --as after the command works too
    ok(mt("authority", "officer", "add", "an-1", "--name", "A. Nalyst", "--agency", "STATE", *w, cwd=d,
          officer="reg-1"))
    ok(mt("authority", "officer", "add", "sac-1", "--name", "S. A. Charge", "--agency", "TF", *w, cwd=d,
          officer="reg-1"))
    ok(mt("authority", "grant", "add", "G-1", "--officer", "an-1", *GRANT, *w, cwd=d, officer="reg-1"))
    # separation of duties: the deputizing official approves, then the registrar activates
    one_line_error(mt("authority", "grant", "activate", "G-1", *w, cwd=d, officer="reg-1"),
                   "not yet approved by its deputizing official sac-1")
    one_line_error(mt("authority", "grant", "approve", "G-1", *w, cwd=d, officer="an-1"), "self-approval")
    ok(mt("authority", "grant", "approve", "G-1", *w, cwd=d, officer="sac-1"))
    ok(mt("authority", "grant", "activate", "G-1", *w, cwd=d, officer="reg-1"))
    ok(mt("case", "open", "OP-1", "--function", "illegal-hiring-finance", "--jurisdiction", "d. ariz.",
          "--predicate", "Front company paying workers in cash through a labor broker", *w, cwd=d, officer="an-1"))
    (d / "ledger.csv").write_text("d,amt,from,to\n" + "".join(f"2024-03-0{1 + i % 9},{900 + i},S{i},Z\n"
                                                              for i in range(10)))
    (d / "map.yaml").write_text("currency: USD\ndate: d\namount: {column: amt}\npayer: {account: from}\npayee: {account: to}\n")
    ok(mt("ingest", "ledger.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "subpoena", *w, cwd=d,
          officer="an-1"))
    return d, w


def test_no_identity_is_refused_before_anything_happens(tf):
    d, w = tf
    size = (d / "tf.audit" / "log.jsonl").stat().st_size
    for args in (["findings", *w], ["case", "show", *w], ["audit", "verify", *w], ["authority", "list", *w]):
        one_line_error(mt(*args, cwd=d), "no acting officer", "--as OFFICER")
    assert (d / "tf.audit" / "log.jsonl").stat().st_size == size        # nothing read, nothing logged


def test_grant_activation_names_every_missing_field(tf):
    d, w = tf
    ok(mt("authority", "officer", "add", "an-2", "--name", "B. Nalyst", "--agency", "STATE", *w, cwd=d,
          officer="reg-1"))
    ok(mt("authority", "grant", "add", "G-2", "--officer", "an-2", "--function", "asset-seizure", *w, cwd=d,
          officer="reg-1"))
    one_line_error(mt("authority", "grant", "activate", "G-2", *w, cwd=d, officer="reg-1"),
                   "G-2 cannot be activated", "deputizing official", "statute", "training expiry", "jurisdictions")
    one_line_error(mt("authority", "grant", "add", "G-3", "--officer", "an-2", *GRANT[:-2], "--training-expires",
                      "n/a", *w, cwd=d, officer="reg-1"), "training expiry", "not a date")
    one_line_error(mt("authority", "grant", "add", "G-3", "--officer", "an-2", "--function", "surveillance", *w,
                      cwd=d, officer="reg-1"), "surveillance", "illegal-hiring-finance")
    out = ok(mt("authority", "list", *w, cwd=d, officer="an-2"))
    assert "grant   G-2: an-2, draft" in out and "cannot activate" in out and "grant   G-1: an-1, active" in out


def test_case_work_then_revocation_on_the_next_command(tf, tmp_path):
    d, w = tf
    out = ok(mt("findings", "--format", "json", *w, cwd=d, officer="an-1"))
    assert json.loads(out) == []
    out = ok(mt("case", "show", "--json", *w, cwd=d, officer="an-1"))
    v = json.loads(out)
    assert v["case_id"] == "OP-1" and v["function"] == "illegal-hiring-finance" and v["members"][0]["role"] == "lead"
    assert [g["grant_id"] for g in v["grants"]] == ["G-1"]
    out = ok(mt("case", "show", *w, cwd=d, officer="an-1"))     # the authorities, as the README says
    assert "  authorities:\n    grant G-1 (an-1): " in out and "6(e) disclosure list: nobody" in out
    assert "26 U.S.C. 6103(i): none" in out
    # the grant also records removal support: recorded, unlocks nothing
    one_line_error(mt("case", "open", "OP-X", "--function", "removal-support", "--jurisdiction", "D. Ariz.",
                      "--predicate", "Locate people for removal proceedings", *w, cwd=d, officer="an-1"),
                   "access denied", "non-financial-function")
    # the registrar is not deputized: no case work
    one_line_error(mt("findings", "--case", "OP-1", *w, cwd=d, officer="reg-1"), "not-a-case-member", "no-grant")
    ok(mt("authority", "grant", "revoke", "G-1", "--reason", "transferred out of the task force", *w, cwd=d,
          officer="reg-1"))
    line = one_line_error(mt("findings", *w, cwd=d, officer="an-1"), "access denied", "grant 'G-1'",
                          "grant-revoked", "transferred out of the task force", "audit entry")
    assert "an-1" in line
    out = ok(mt("authority", "whoami", *w, cwd=d, officer="an-1"))
    assert "G-1: revoked" in out


def test_identity_from_the_configuration_file(tf, tmp_path):
    d, w = tf
    cfg = tmp_path / "config.toml"
    cfg.write_text('officer = "reg-1"\n')
    out = ok(mt("authority", "whoami", *w, cwd=d, env={"MONEYTRAIL_CONFIG": str(cfg)}))
    assert out.startswith("officer reg-1")


def test_audit_verify_prove_consistency_and_tamper(tf):
    d, w = tf
    out = ok(mt("audit", "verify", *w, cwd=d, officer="an-1"))       # any registered officer may verify
    assert out.startswith("audit log verified:") and "signed tree heads" in out
    one_line_error(mt("audit", "log", *w, cwd=d, officer="an-1"), "access denied", "auditor or registrar")
    log = ok(mt("audit", "log", "--json", "--limit", "0", *w, cwd=d, officer="reg-1"))
    entries = json.loads(log)
    assert entries[0]["kind"] == "genesis" and entries[0]["officer"] == "reg-1"
    assert entries[1]["policies"] == ["registry-bootstrap"] and entries[1]["officer"] == "reg-1"
    denied = [e for e in entries if e["kind"] == "decision" and not e["allowed"]]
    assert denied and all(e["reasons"] for e in denied)                 # denials are logged, with reasons
    assert any(e["kind"] == "read" and e["what"].get("table") == "findings" for e in entries)

    p = json.loads(ok(mt("audit", "prove", "3", *w, cwd=d, officer="reg-1")))
    assert p["verified"] and p["index"] == 3 and p["signed_head"]["size"] == p["tree_size"]
    assert verify_inclusion(3, p["tree_size"], bytes.fromhex(p["leaf_hash"]),
                            [bytes.fromhex(x) for x in p["inclusion_path"]], bytes.fromhex(p["root"]))
    c = json.loads(ok(mt("audit", "consistency", "2", "7", *w, cwd=d, officer="reg-1")))
    assert c["verified"] and c["old_head"]["size"] == 2
    assert verify_consistency(2, 7, [bytes.fromhex(x) for x in c["consistency_path"]],
                              bytes.fromhex(c["old_root"]), bytes.fromhex(c["new_root"]))
    one_line_error(mt("audit", "consistency", "0", "7", *w, cwd=d, officer="reg-1"), "size 0 proves nothing")
    one_line_error(mt("audit", "prove", "100000", *w, cwd=d, officer="reg-1"), "no entry 100000")

    # tamper with entry 3 (a decision): verify names it, and no command can proceed on the log
    path = d / "tf.audit" / "log.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    assert b'"allowed":true' in lines[3]
    lines[3] = lines[3].replace(b'"allowed":true', b'"allowed":false')
    path.write_bytes(b"".join(lines))
    one_line_error(mt("audit", "verify", *w, cwd=d, officer="an-1"), "audit log does not verify",
                   "first bad entry 3")
    p = mt("audit", "verify", "--json", *w, cwd=d, officer="an-1")
    assert p.returncode == 2 and json.loads(p.stdout)["first_bad"] == 3


def test_audit_repair_after_a_crash_mid_append(tmp_path):
    w = ["-w", str(tmp_path / "r.duckdb")]
    ok(mt("--as", "reg-1", "authority", "init", "--agency", "TF", "--agency-name", "Task Force", "--name",
          "R. Egistrar", *w, cwd=tmp_path))
    ok(mt("authority", "officer", "add", "an-1", "--name", "A. Nalyst", "--agency", "TF", *w, cwd=tmp_path,
          officer="reg-1"))
    log = tmp_path / "r.audit" / "log.jsonl"
    n = len(log.read_bytes().splitlines())
    with open(log, "ab") as f:          # an append that died after its entries, before its signed head
        f.write(b'{"seq":%d,"ts":"2026-01-01T00:00:00.000000Z","kind":"read","officer":"an-1"}\n' % n)
    one_line_error(mt("authority", "list", *w, cwd=tmp_path, officer="reg-1"), "audit repair")
    one_line_error(mt("audit", "repair", *w, cwd=tmp_path, officer="an-1"), "access denied", "auditor or registrar")
    out = ok(mt("audit", "repair", *w, cwd=tmp_path, officer="reg-1"))
    assert out.startswith("audit log repaired: removed 1 entries never covered by a signed tree head")
    assert list((tmp_path / "r.audit" / "repaired").iterdir())
    assert ok(mt("audit", "verify", *w, cwd=tmp_path, officer="an-1")).startswith("audit log verified:")
    entries = json.loads(ok(mt("audit", "log", "--json", "--limit", "0", *w, cwd=tmp_path, officer="reg-1")))
    rep = next(e for e in entries if e.get("action") == "audit_repair")
    assert rep["seq"] == n and rep["officer"] == "reg-1" and rep["resource"]["repair"]["entries_removed"] == 1
    assert ok(mt("audit", "repair", *w, cwd=tmp_path, officer="reg-1")).startswith("nothing to repair")


def test_tag_marks_an_ingested_source_as_protected(tmp_path):
    from moneytrail.demo import setup_demo_authority
    from moneytrail.workspace import Workspace

    with Workspace.open(tmp_path / "t.duckdb") as ws:
        setup_demo_authority(ws)
    w = ["-w", str(tmp_path / "t.duckdb")]
    (tmp_path / "w2.csv").write_text("d,amt,from,to\n2024-03-01,5,A,B\n")
    (tmp_path / "map.yaml").write_text("currency: USD\ndate: d\namount: {column: amt}\npayer: {account: from}\npayee: {account: to}\n")
    ok(mt("ingest", "w2.csv", "-f", "csv", "-m", "map.yaml", *w, cwd=tmp_path, officer="tf-analyst-1"))
    assert ok(mt("tag", "1", "--legal-basis", "fti:Acme Staffing LLC", *w, cwd=tmp_path,
                 officer="tf-analyst-1")).strip() == "source 1: tags added: fti:Acme Staffing LLC"
    one_line_error(mt("findings", *w, cwd=tmp_path, officer="tf-analyst-1"), "source 1: fti-needs-6103i-authority")
    one_line_error(mt("tag", "9", "--legal-basis", "grand-jury-6e", *w, cwd=tmp_path, officer="tf-analyst-1"),
                   "no source 9")
    one_line_error(mt("tag", "1", "--legal-basis", "subpoena", *w, cwd=tmp_path, officer="stranger"),
                   "access denied")
    one_line_error(mt("tag", "1", "--legal-basis", "IRS return information", *w, cwd=tmp_path,
                      officer="tf-analyst-1"), "not one moneytrail knows", "fti:NAME")
    out = ok(mt("ingest", "w2.csv", "-f", "csv", "-m", "map.yaml", "--legal-basis", "subpoena", *w, cwd=tmp_path,
                officer="tf-analyst-1"))
    assert "not re-read" in out and "legal-basis tags added: subpoena" in out
