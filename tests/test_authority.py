"""The registry, the Cedar decisions and the legal-basis guards, through the Python API.

Each workspace starts with the demo task force (registrar ``tf-registrar``; analyst
``tf-analyst-1`` deputized under grant G-DEMO-1 for four financial functions in "Demo District";
case OP-DEMO opened by the analyst). Decisions run as in production (requests not validated
against the schema); one test runs a scenario of every kind with schema validation on.
"""

from __future__ import annotations

import datetime as dt

import pytest

from moneytrail.audit import AuditError, AuditLog
from moneytrail.authority import (CASE_ACTIONS, FINANCIAL_FUNCTIONS, NON_FINANCIAL_FUNCTIONS, AccessDenied, engine,
                                  guard)
from moneytrail.authority.decide import decide
from moneytrail.authority.registry import (RegistryError, activate_grant, add_agency, add_disclosure, add_grant,
                                           add_member, add_officer, close_case, import_taskforce, init_registry,
                                           open_case, record_fti_order, record_fti_request, remove_member,
                                           revoke_grant)
from moneytrail.cli.identity import GlobalOptions, extract_global_options
from moneytrail.identity import IdentityError, resolve, resolve_case, resolve_officer
from moneytrail.demo import DEMO_CASE as CASE
from moneytrail.demo import DEMO_JURISDICTION as JUR
from moneytrail.demo import DEMO_OFFICER as AN
from moneytrail.demo import DEMO_REGISTRAR as REG
from moneytrail.demo import demo_taskforce, setup_demo_authority
from moneytrail.ingest import ingest_file
from moneytrail.workspace import Workspace

from moneytrail.demo import DEMO_COUNSEL as COUNSEL

from authority_helpers import DAY, TODAY, deputize, grant_fields

PREDICATE = "Structured cash deposits into a funnel account"


@pytest.fixture
def ws(tmp_path):
    w = Workspace.open(tmp_path / "case.duckdb")
    setup_demo_authority(w)
    yield w
    w.close()


def officer(ws, oid, grant=None, **over):
    """Register officer ``oid`` at STATE-FCU, with an active grant unless ``grant`` is False."""
    add_officer(ws, REG, oid, f"Officer {oid}", "STATE-FCU")
    if grant is not False:
        deputize(ws, grant or f"G-{oid}", oid, **over)
    return oid


def denied(ws, action, who, *, case=None, now=None, **resource) -> str:
    with pytest.raises(AccessDenied) as e:
        guard(ws, action, officer=who, case=case, resource=resource or None, now=now)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("access denied:")
    return msg


def last_entry(ws) -> dict:
    return list(AuditLog.of(ws).entries())[-1]


def epoch(d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())


# -- decisions ---------------------------------------------------------------------------------------

def test_policies_validate_against_the_schema():
    e = engine()
    assert {"financial-investigation", "grant-revoked", "grant-expired", "training-expired",
            "non-financial-function", "fti-needs-6103i-authority", "grand-jury-disclosure-list",
            "registry-bootstrap"} <= set(e.policy_ids)
    import cedarpy
    assert cedarpy.validate_policies(e.policy_text, e.schema_text).validation_passed


def test_decisions_of_every_kind_conform_to_the_schema(ws, tmp_path):
    e = engine()
    e.strict = True
    try:
        officer(ws, "an-2")
        _source(ws, tmp_path, "w2.csv", ["fti:Acme Staffing LLC"])
        _source(ws, tmp_path, "gj.csv", ["grand-jury-6e"])
        assert "fti-needs-6103i-authority" in denied(ws, "findings", AN, case=CASE)
        record_fti_order(ws, COUNSEL, CASE, subjects=["Acme Staffing LLC"], **ORDER)
        add_disclosure(ws, COUNSEL, CASE, AN, attorney="AUSA K. Lee")
        assert guard(ws, "findings", officer=AN, case=CASE).allowed
        assert "not-a-case-member" in denied(ws, "detect", "an-2", case=CASE)
        assert "unregistered-officer" in denied(ws, "detect", "nobody", case=CASE)
        assert "non-financial-function" in denied(ws, "case_open", AN, case="X", function="monitoring",
                                                  jurisdiction=JUR)
        assert guard(ws, "audit_read", officer=REG).allowed
        assert "deny by default" in denied(ws, "audit_read", AN)
        assert guard(ws, "registry_read", officer=AN).allowed
        for d in (decide(ws, a, officer=AN, case=CASE) for a in CASE_ACTIONS if a != "case_open"):
            assert d.allowed
    finally:
        e.strict = False


def test_allowed_decision_names_policy_and_grant_and_is_logged(ws):
    before = AuditLog.of(ws).size()
    d = guard(ws, "findings", officer=AN)                   # no case given: the analyst's only case
    assert d.allowed and d.case == CASE and d.grant == "G-DEMO-1"
    assert d.policies == ("financial-investigation",)
    assert d.audit_seq == before and AuditLog.of(ws).size() == before + 1
    e = last_entry(ws)
    assert (e["kind"], e["action"], e["officer"], e["case"], e["allowed"], e["grant"]) == \
           ("decision", "findings", AN, CASE, True, "G-DEMO-1")
    assert e["policies"] == ["financial-investigation"]


def test_every_case_action_is_permitted_to_a_deputized_member(ws):
    for action in CASE_ACTIONS:
        if action != "case_open":
            assert guard(ws, action, officer=AN, case=CASE).allowed, action


def test_denial_is_logged_before_it_is_raised(ws):
    before = AuditLog.of(ws).size()
    msg = denied(ws, "detect", "stranger", case=CASE)
    assert "unregistered-officer" in msg and f"[audit entry {before}]" in msg
    e = last_entry(ws)
    assert e["seq"] == before and e["allowed"] is False and e["officer"] == "stranger"
    assert "unregistered-officer" in e["policies"]


def test_revocation_takes_effect_on_the_next_command(ws, tmp_path):
    assert guard(ws, "detect", officer=AN).allowed
    revoke_grant(ws, REG, "G-DEMO-1", "reassigned to another unit")
    msg = denied(ws, "detect", AN, case=CASE)
    assert "grant 'G-DEMO-1'" in msg and "grant-revoked" in msg and "reassigned to another unit" in msg
    ws.close()
    with Workspace.open(tmp_path / "case.duckdb") as again:     # a new command
        assert "grant-revoked" in denied(again, "findings", AN, case=CASE)
        with pytest.raises(RegistryError, match="revoked"):
            activate_grant(again, REG, "G-DEMO-1")


def test_expiry_training_and_start_dates_are_checked_against_the_clock(ws):
    officer(ws, "an-2", valid_from=TODAY - DAY, valid_until=TODAY + 30 * DAY, training_expires=TODAY + 10 * DAY)
    add_member(ws, AN, CASE, "an-2")
    assert guard(ws, "detect", officer="an-2", case=CASE).allowed
    # the grant's last day is valid_until; the day after it is not
    assert guard(ws, "detect", officer="an-2", case=CASE, now=epoch(TODAY + 10 * DAY) + 3600).allowed
    msg = denied(ws, "detect", "an-2", case=CASE, now=epoch(TODAY + 11 * DAY) + 60)
    assert "training-expired" in msg and "grant-expired" not in msg
    msg = denied(ws, "detect", "an-2", case=CASE, now=epoch(TODAY + 31 * DAY) + 60)
    assert "grant-expired" in msg and "training-expired" in msg
    assert "grant-not-yet-valid" in denied(ws, "detect", "an-2", case=CASE, now=epoch(TODAY - 2 * DAY))


def test_function_and_jurisdiction_must_match_the_case(ws):
    msg = denied(ws, "case_open", AN, case="OP-2", function="contract-oversight", jurisdiction=JUR)
    assert "function-not-granted" in msg
    msg = denied(ws, "case_open", AN, case="OP-3", function="asset-seizure", jurisdiction="Elsewhere")
    assert "jurisdiction-not-granted" in msg
    # the registry function says the same, and records nothing
    with pytest.raises(AccessDenied, match="jurisdiction-not-granted"):
        open_case(ws, AN, "OP-3", function="asset-seizure", jurisdiction="Elsewhere", predicate=PREDICATE)
    assert ws.scalar("SELECT count(*) FROM cases") == 1
    # jurisdictions compare case- and space-insensitively
    open_case(ws, AN, "OP-4", function="asset-seizure", jurisdiction="  demo   DISTRICT ", predicate=PREDICATE)


def test_non_financial_functions_unlock_nothing(ws):
    officer(ws, "dep-1", functions=list(NON_FINANCIAL_FUNCTIONS))
    for f in NON_FINANCIAL_FUNCTIONS:      # recorded in the grant, but no case can be opened under them
        msg = denied(ws, "case_open", "dep-1", case=f"X-{f}", function=f, jurisdiction=JUR)
        assert "non-financial-function" in msg
        assert "non-financial-function" in denied(ws, "case_open", AN, case=f"Y-{f}", function=f,
                                                  jurisdiction=JUR)
    for f in FINANCIAL_FUNCTIONS:
        assert "function-not-granted" in denied(ws, "case_open", "dep-1", case=f"Z-{f}", function=f,
                                                jurisdiction=JUR)
    add_member(ws, AN, CASE, "dep-1")      # a member, but its grant covers no financial function
    for action in ("ingest", "detect", "findings", "report", "trace", "score", "export"):
        assert "function-not-granted" in denied(ws, action, "dep-1", case=CASE)
    with pytest.raises(RegistryError, match="not one a grant can record"):
        add_grant(ws, REG, "G-bad", "dep-1", functions=["surveillance"])


def test_membership_case_state_and_draft_grants(ws):
    officer(ws, "an-2")
    assert "not-a-case-member" in denied(ws, "findings", "an-2", case=CASE)
    add_member(ws, AN, CASE, "an-2")
    assert guard(ws, "findings", officer="an-2", case=CASE).allowed
    remove_member(ws, AN, CASE, "an-2")
    assert "not-a-case-member" in denied(ws, "findings", "an-2", case=CASE)
    officer(ws, "an-3", grant=False)
    add_grant(ws, REG, "G-draft", "an-3", **grant_fields())          # a draft: never activated
    add_member(ws, AN, CASE, "an-3")
    assert "grant-not-activated" in denied(ws, "findings", "an-3", case=CASE)
    assert "no-such-case" in denied(ws, "findings", AN, case="NOPE")
    close_case(ws, AN, CASE, "referred for prosecution")
    assert "case-closed" in denied(ws, "findings", AN, case=CASE)


def test_which_case_when_none_is_named(ws):
    assert guard(ws, "detect", officer=AN).case == CASE
    open_case(ws, AN, "OP-2", function="asset-seizure", jurisdiction=JUR, predicate=PREDICATE)
    msg = denied(ws, "detect", AN)
    assert "no case given" in msg and "2 open cases (OP-2, OP-DEMO)" in msg
    assert guard(ws, "detect", officer=AN, case="OP-2").case == "OP-2"


def test_a_grant_needs_every_required_field_to_be_activated(ws):
    officer(ws, "an-4", grant=False)
    add_grant(ws, REG, "G-4", "an-4", functions=["asset-seizure"])
    with pytest.raises(RegistryError) as e:
        activate_grant(ws, REG, "G-4")
    msg = str(e.value)
    for f in ("deputizing official", "deputizing agency", "home-agency consent (official)", "home-agency consent date",
              "statute", "valid from", "valid until", "training course", "training date", "training expiry",
              "jurisdictions"):
        assert f in msg, f
    assert ws.scalar("SELECT status FROM grants WHERE grant_id = 'G-4'") == "draft"
    with pytest.raises(RegistryError, match="placeholder"):
        add_grant(ws, REG, "G-5", "an-4", **grant_fields(statute="unknown"))
    with pytest.raises(RegistryError, match="placeholder"):
        add_grant(ws, REG, "G-5", "an-4", **grant_fields(deputizing_official="N/A"))
    with pytest.raises(RegistryError, match="not a date"):
        add_grant(ws, REG, "G-5", "an-4", **grant_fields(consent_date="0000-00-00"))
    with pytest.raises(RegistryError, match="home agency STATE-FCU"):
        deputize(ws, "G-5", "an-4", consent_agency="TF-LEAD")
    with pytest.raises(RegistryError, match="has passed"):
        deputize(ws, "G-6", "an-4", valid_from=TODAY - 40 * DAY, valid_until=TODAY - 10 * DAY)
    assert ws.query("SELECT grant_id, status FROM grants WHERE grant_id IN ('G-5', 'G-6') ORDER BY 1") == \
        [("G-5", "draft"), ("G-6", "draft")]                      # recorded and approved, never activated
    deputize(ws, "G-7", "an-4")
    with pytest.raises(RegistryError, match="already exists"):
        add_grant(ws, REG, "G-7", "an-4", **grant_fields())


def test_registry_needs_a_registrar(tmp_path, ws):
    assert "registrar" in str(pytest.raises(AccessDenied, add_officer, ws, AN, "x-1", "X Ray", "STATE-FCU").value)
    with Workspace.open(tmp_path / "fresh.duckdb") as fresh:
        with pytest.raises(AccessDenied, match="registry is empty"):
            add_agency(fresh, "someone", "AG", "Agency")
        with pytest.raises(AccessDenied, match="registry is empty"):   # not listed as a registrar
            import_taskforce(fresh, AN, demo_taskforce())
        init_registry(fresh, "reg-9", agency="AG", agency_name="Agency", officer_name="R. Nine")
        with pytest.raises(RegistryError, match="not empty"):
            init_registry(fresh, "reg-9", agency="AG", agency_name="Agency", officer_name="R. Nine")
        res = import_taskforce(fresh, "reg-9", demo_taskforce())
        assert "G-DEMO-1" in res["added"]
        assert import_taskforce(fresh, "reg-9", demo_taskforce())["added"] == []   # again: all skipped
        with pytest.raises(RegistryError, match="already registered"):
            add_officer(fresh, "reg-9", AN, "Dup", "STATE-FCU")


# -- protected data ------------------------------------------------------------------------------------

def _source(ws, tmp_path, name, tags, case=CASE):
    p = tmp_path / name
    p.write_text(f"d,amt,from,to\n2024-01-05,5,A-{name},B\n")   # distinct files: distinct sources
    m = {"currency": "USD", "date": "d", "amount": {"column": "amt"}, "payer": {"account": "from"}, "payee": {"account": "to"}}
    from moneytrail.ingest import parse_mapping
    return ingest_file(ws.for_case(case), p, "csv", mapping=parse_mapping(m), legal_basis=tags).source_id


ORDER = dict(judge="Hon. A. Judge", court="U.S. District Court, Demo District", order_date=TODAY - DAY,
             scope="Return information of the named taxpayer, tax years 2022-2024")


def test_fti_is_read_only_under_a_6103i_order_naming_its_subject(ws, tmp_path):
    assert "fti-needs-6103i-authority" in denied(ws, "ingest", AN, case=CASE, legal_basis=["fti:Acme Staffing LLC"])
    sid = _source(ws, tmp_path, "w2.csv", ["fti:Acme Staffing LLC"])
    for action in ("detect", "findings", "report", "sources", "run", "trace", "score", "export", "quarantine"):
        msg = denied(ws, action, AN, case=CASE)
        assert f"source {sid}: fti-needs-6103i-authority" in msg and "grant 'G-DEMO-1'" in msg
    record_fti_order(ws, COUNSEL, CASE, subjects=["Other Co"], **ORDER)
    assert "fti-needs-6103i-authority" in denied(ws, "findings", AN, case=CASE)
    record_fti_order(ws, COUNSEL, CASE, subjects=["ACME  staffing llc"], **ORDER)   # same subject, other spelling
    d = guard(ws, "findings", officer=AN, case=CASE)
    assert d.allowed and "read-in-own-case" in d.policies and d.grant == "G-DEMO-1"
    # another case of the same officer neither holds the source nor inherits the order: the source
    # does not reach it unless shared, and sharing it there is decided as ingesting FTI there
    open_case(ws, AN, "OP-2", function="asset-seizure", jurisdiction=JUR, predicate=PREDICATE)
    assert guard(ws, "findings", officer=AN, case="OP-2").allowed
    from moneytrail import Session
    s = Session(ws, AN, CASE)
    with pytest.raises(AccessDenied, match="fti-needs-6103i-authority"):
        s.share(sid, "OP-2")
    assert guard(ws, "findings", officer=AN, case="OP-2").allowed
    # a command told which sources it reads is decided on those
    other = _source(ws, tmp_path, "bank.csv", ["subpoena"])
    assert guard(ws, "quarantine", officer=AN, case=CASE, resource={"sources": [other]}).allowed


def test_fti_that_names_no_subject_is_never_readable(ws, tmp_path):
    # such a tag can no longer be given (fti needs its taxpayer: fti:NAME), but a source tagged
    # before the vocabulary was closed stays locked: the policy is decided on its classification
    from moneytrail.authority.decide import _decide, snapshot
    from moneytrail.authority.legal import canonical_tag

    with pytest.raises(ValueError, match="must name its taxpayer"):
        canonical_tag("fti")
    record_fti_order(ws, COUNSEL, CASE, subjects=["Acme Staffing LLC"], **ORDER)
    snap = snapshot(ws, AN, CASE)
    snap["tagged_sources"] = [{"id": 9, "tags": ["26 U.S.C. 6103"]}]
    d = _decide("findings", AN, CASE, {}, snap, int(dt.datetime.now(dt.timezone.utc).timestamp()))
    assert not d.allowed and "fti-names-no-subject" in "; ".join(d.reasons)


@pytest.mark.parametrize("field,value,why", [
    ("judge", "unknown", "placeholder"), ("court", "n/a", "placeholder"), ("order_date", "0000-00-00", "not a date"),
    ("order_date", "00/00/0000", "not a date"), ("scope", "  ", "required"), ("judge", "0", "placeholder"),
    ("order_date", str(TODAY + 5 * DAY), "in the future")])
def test_fti_order_rejects_placeholders(ws, field, value, why):
    with pytest.raises(RegistryError, match=why):
        record_fti_order(ws, COUNSEL, CASE, subjects=["Acme Staffing LLC"], **{**ORDER, field: value})


@pytest.mark.parametrize("subjects,why", [
    ([], "name the taxpayer"), (["*"], "placeholder"), (["all taxpayers"], "placeholder"),
    (["unknown"], "placeholder"), ([f"Taxpayer {i}" for i in range(11)], "never a bulk list")])
def test_an_authority_names_subjects_never_a_bulk_list(ws, subjects, why):
    with pytest.raises(RegistryError, match=why):
        record_fti_order(ws, COUNSEL, CASE, subjects=subjects, **ORDER)


REQUEST = dict(official="Inspector General J. Doe", title="Inspector General", request_date=TODAY - DAY,
               subjects=["Acme Staffing LLC"], addresses=["1 Main St, Demo City"], taxable_periods="2022-2024",
               statutory_authority="18 U.S.C. 1589", reason="Payroll records show wages below the reported amounts")


def test_fti_under_a_complete_6103i2_request(ws, tmp_path):
    _source(ws, tmp_path, "w2.csv", ["FTI:Acme Staffing LLC"])
    for bad, why in ((dict(addresses=[]), "one address per taxpayer"), (dict(reason="n/a"), "placeholder"),
                     (dict(taxable_periods="unknown"), "placeholder"), (dict(official=""), "required"),
                     (dict(request_date="0"), "not a date")):
        with pytest.raises(RegistryError, match=why):
            record_fti_request(ws, COUNSEL, CASE, **{**REQUEST, **bad})
    assert "fti-needs-6103i-authority" in denied(ws, "findings", AN, case=CASE)
    record_fti_request(ws, COUNSEL, CASE, **REQUEST)
    assert guard(ws, "findings", officer=AN, case=CASE).allowed


def test_grand_jury_material_only_for_members_on_the_disclosure_list(ws, tmp_path):
    officer(ws, "an-2")
    add_member(ws, AN, CASE, "an-2")
    assert "grand-jury-disclosure-list" in denied(ws, "ingest", AN, case=CASE, legal_basis=["grand-jury-6e"])
    _source(ws, tmp_path, "gj.csv", ["grand-jury-6e"])
    assert "grand-jury-disclosure-list" in denied(ws, "findings", AN, case=CASE)
    officer(ws, "an-5")
    with pytest.raises(RegistryError, match="not a member"):
        add_disclosure(ws, COUNSEL, CASE, "an-5", attorney="AUSA K. Lee")
    with pytest.raises(RegistryError, match="placeholder"):
        add_disclosure(ws, COUNSEL, CASE, AN, attorney="tbd")
    add_disclosure(ws, COUNSEL, CASE, AN, attorney="AUSA K. Lee")
    assert guard(ws, "findings", officer=AN, case=CASE).allowed
    assert "grand-jury-disclosure-list" in denied(ws, "findings", "an-2", case=CASE)
    add_disclosure(ws, COUNSEL, CASE, "an-2", attorney="AUSA K. Lee")
    assert guard(ws, "findings", officer="an-2", case=CASE).allowed
    remove_member(ws, AN, CASE, "an-2")                 # leaving the case leaves the list too
    add_member(ws, AN, CASE, "an-2")
    assert "grand-jury-disclosure-list" in denied(ws, "findings", "an-2", case=CASE)


# -- audit coupling -------------------------------------------------------------------------------------

def test_if_the_decision_cannot_be_logged_nothing_proceeds(ws, tmp_path, monkeypatch):
    guard(ws, "findings", officer=AN)
    path = ws.path
    ws.close()
    monkeypatch.setenv("MONEYTRAIL_KEY_DIR", str(tmp_path / "elsewhere"))   # the signing key is not there
    from moneytrail.audit import keys
    keys._private.clear()
    with Workspace.open(path) as w:
        with pytest.raises(AuditError, match="restore the key folder"):
            guard(w, "findings", officer=AN)
    # nor is a preview: without the key folder nothing vouches for the registry it would read
    with Workspace.open(path) as w:
        with pytest.raises(AuditError, match="restore the key folder"):
            decide(w, "findings", officer=AN)


# -- identity -------------------------------------------------------------------------------------------

def test_global_options_anywhere_on_the_command_line():
    # taken out of argv wherever they stand, and returned (nothing is kept in the process)
    assert extract_global_options(["findings", "--as", "a-1", "-w", "x"]) == (
        ["findings", "-w", "x"], GlobalOptions("a-1", None, ("moneytrail", "findings", "-w", "x")))
    rest, opts = extract_global_options(["--case=C-1", "case", "show", "--as=b-2"])
    assert rest == ["case", "show"] and (opts.as_officer, opts.case) == ("b-2", "C-1")
    assert opts.command == ("moneytrail", "case", "show")
    assert extract_global_options(["ingest", "f", "--", "--as", "x"])[0] == ["ingest", "f", "--", "--as", "x"]
    assert extract_global_options(["findings", "--as"])[0] == ["findings", "--as"]   # left for the parser
    assert extract_global_options(["findings"])[1] == GlobalOptions(None, None, ("moneytrail", "findings"))


def test_identity_order_and_refusal(tmp_path, monkeypatch):
    with pytest.raises(IdentityError, match="no acting officer.*--as OFFICER"):
        resolve_officer()
    cfg = tmp_path / "config.toml"
    cfg.write_text('officer = "from-config"\ncase = "C-9"\n')
    monkeypatch.setenv("MONEYTRAIL_CONFIG", str(cfg))
    assert (resolve_officer(), resolve_case()) == ("from-config", "C-9")
    monkeypatch.setenv("MONEYTRAIL_OFFICER", "from-env")
    assert resolve_officer() == "from-env"
    assert resolve_officer("from-flag", origin="--as") == "from-flag"
    ident = resolve("explicit", "C-1", command=["moneytrail", "findings"])
    assert (ident.officer, ident.case, ident.command) == ("explicit", "C-1", ("moneytrail", "findings"))
    with pytest.raises(IdentityError, match="officer 'a b' from --as is not an id"):
        resolve("a b", officer_origin="--as")
    with pytest.raises(IdentityError, match="case 'C 1' from --case is not an id"):
        resolve("x", "C 1", case_origin="--case")
    cfg.write_text("officer = [broken")
    monkeypatch.delenv("MONEYTRAIL_OFFICER")
    with pytest.raises(IdentityError, match="not a valid TOML"):
        resolve_officer()
