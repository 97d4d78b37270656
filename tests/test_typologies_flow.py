"""Flow and human-trafficking typologies: golden ledgers (positives and negatives), skip reasons,
invariance under shuffling and renaming, the category classifier, and the account-register
(``--format accounts``) ingest."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moneytrail.workspace import Workspace
from moneytrail.ingest import ingest_file
from moneytrail.detect import BY_ID, FLOW, TRAFFICKING
from moneytrail.backends.dialect import DUCKDB, SPARK
from moneytrail.detect.categories import classify, load
from moneytrail.errors import ConfigError, InputError, MappingError
from moneytrail.ingest.accounts import load_accounts_mapping, parse_accounts_mapping
from moneytrail.pipeline import run_pipeline

GOLDEN = Path(__file__).parent / "golden" / "flow"
MINE = sorted(t.id for t in FLOW + TRAFFICKING)
CASES = sorted(p.name[: -len(".csv")] for p in GOLDEN.glob("*.csv") if not p.name.endswith(".accounts.csv"))
ACCOUNTS_MAP = load_accounts_mapping(GOLDEN / "accounts.yaml")


def _ws(tmp: Path, csv_path: Path, accounts_path: Path | None = None, *, mapping=GOLDEN / "mapping.yaml",
        params: dict | None = None, typologies: list[str] | None = None):
    tmp.mkdir(parents=True, exist_ok=True)
    ws = Workspace.open(tmp / "w.duckdb")
    if accounts_path is not None:
        r = ingest_file(ws, accounts_path, "accounts", mapping=ACCOUNTS_MAP)
        assert r.quarantined == 0, ws.query("SELECT * FROM quarantine")
    r = ingest_file(ws, csv_path, "csv", mapping=mapping)
    assert r.quarantined == 0, ws.query("SELECT * FROM quarantine")
    detect = {"parameters": params or {}}
    if typologies:
        detect["typologies"] = typologies
    res = run_pipeline(ws, stages=["resolve", "graph", "detect"], params={"detect": detect})
    return ws, res["stages"]["detect"]


def _findings(ws, typologies=MINE) -> list[dict]:
    return ws.records(f"""
        SELECT f.typology,
               (SELECT list([a.account_id, a.role] ORDER BY a.account_id, a.role) FROM finding_accounts a
                 WHERE a.finding_id = f.finding_id) AS accounts,
               (SELECT list(t.source_row ORDER BY t.source_row) FROM finding_transactions ft
                  JOIN transactions t USING (tx_id) WHERE ft.finding_id = f.finding_id) AS rows,
               f.explanation, f.red_flag_source, f.parameters, f.typology_version, f.score,
               f.first_ts, f.last_ts, f.total_amount
        FROM findings f WHERE f.typology IN ({', '.join(repr(t) for t in typologies)})
        ORDER BY f.typology, accounts""")


# -- the registry -------------------------------------------------------------------------------

def test_registered_with_families_sources_and_typed_parameters():
    assert [t.id for t in FLOW] == ["rapid_pass_through", "structuring", "funnel_account"]
    assert [t.id for t in TRAFFICKING] == ["shared_identifiers", "ht_expenses", "cash_without_payroll",
                                           "odd_hours_deposits", "business_without_payroll"]
    for t in FLOW + TRAFFICKING:
        assert BY_ID[t.id] is t
        assert t.family == ("flow" if t in FLOW else "trafficking")
        assert t.title and t.red_flag and t.version
        p = t.Params()
        assert is_dataclass(p) and p.__dataclass_params__.frozen
        for f in fields(p):
            assert f.default is not None, (t.id, f.name)
        for d in (DUCKDB, SPARK):
            sql = t.sql(p, d)
            assert sql.count("SELECT") >= 1 and ";" not in sql
            t.query(p, d)  # parses as one canonical (DuckDB-syntax) query for either engine
    src = {t.id: t.source for t in FLOW + TRAFFICKING}
    assert "31 U.S.C. 5324" in src["structuring"] and "31 CFR 1010.311" in src["structuring"]
    assert "31 CFR 1010.410" in src["structuring"]
    assert "FIN-2014-A005" in src["funnel_account"]
    assert "FFIEC BSA/AML Examination Manual, Appendix F" in src["rapid_pass_through"]
    for t in TRAFFICKING:
        assert "FIN-2020-A008" in t.source and "Supplemental Advisory on Identifying and Reporting Human " \
            "Trafficking and Related Activity" in t.source
        assert "FIN-2014-A008" in t.source and "Human Smuggling and Human Trafficking" in t.source


# -- golden ledgers -----------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_golden_ledger(tmp_path, case):
    acc = GOLDEN / f"{case}.accounts.csv"
    ws, summary = _ws(tmp_path, GOLDEN / f"{case}.csv", acc if acc.exists() else None)
    expected = json.loads((GOLDEN / f"{case}.expected.json").read_text())["expected"]
    got = _findings(ws)
    assert [(f["typology"], sorted(map(list, f["accounts"])), f["rows"]) for f in got] == \
        sorted([(e["typology"], sorted(e["accounts"]), e["rows"]) for e in expected])
    for f in got:
        assert "Red flag:" in f["explanation"] and f["red_flag_source"] in f["explanation"]
        assert set(json.loads(f["parameters"])) == set(BY_ID[f["typology"]].Params().to_dict())
        assert f["typology_version"] and f["score"] >= 1.0
        assert f["first_ts"] <= f["last_ts"] and f["total_amount"] > 0
    # every typology of these families ran or said why not
    assert set(summary["findings"]) | set(summary["skipped"]) >= set(MINE)
    ws.close()


def test_explanations_quote_the_evidence(tmp_path):
    ws, _ = _ws(tmp_path, GOLDEN / "structuring_cash.csv")
    f = {tuple(x["accounts"][0]): x["explanation"] for x in _findings(ws)}
    assert "3 cash deposits of $9,000.00 to $9,800.00" in f[("F", "depositor")]
    assert "$28,300.00" in f[("F", "depositor")]
    assert "31 U.S.C. 5324" in f[("F", "depositor")]
    assert "up to 3 on one day" in f[("W", "withdrawer")]
    ws.close()
    ws, _ = _ws(tmp_path / "b", GOLDEN / "funnel_basic.csv")
    (e,) = [x["explanation"] for x in _findings(ws)]
    assert "3 different places in 3 area(s)" in e and "withdrawn in HOUSTON TX 3.0 hours later" in e
    assert "FIN-2014-A005" in e
    ws.close()
    ws, _ = _ws(tmp_path / "c", GOLDEN / "shared_ids_basic.csv", GOLDEN / "shared_ids_basic.accounts.csv")
    (e,) = [x["explanation"] for x in _findings(ws)]
    assert "address 123 MAIN ST #4 HOUSTON TX 77002 (2 senders, 2 family names)" in e
    assert "phone 7135550101 (2 senders, 2 family names)" in e
    ws.close()


def test_parameters_change_the_findings(tmp_path):
    ws, _ = _ws(tmp_path / "a", GOLDEN / "funnel_basic.csv", params={"funnel_account": {"max_hours": 2}})
    assert not _findings(ws)
    ws.close()
    ws, _ = _ws(tmp_path / "b", GOLDEN / "structuring_wire.csv",
                params={"structuring": {"wire_channels": "wire,transfer"}})
    assert {tuple(x["accounts"][-1]) for x in _findings(ws)} == {("O", "originator"), ("Q", "originator")}
    ws.close()
    ws, _ = _ws(tmp_path / "c", GOLDEN / "pass_through_negative.csv",
                params={"rapid_pass_through": {"min_account_share": 0.1}})
    assert [x["accounts"][1] for x in _findings(ws)] == [["E", "pass-through account"]]
    ws.close()
    with pytest.raises(ConfigError):
        _ws(tmp_path / "d", GOLDEN / "funnel_basic.csv", params={"funnel_account": {"nope": 1}})
    with pytest.raises(ConfigError):
        _ws(tmp_path / "e", GOLDEN / "pass_through_basic.csv",
            params={"rapid_pass_through": {"min_ratio": 0.9, "max_ratio": 0.5}})
    with pytest.raises(ConfigError):
        _ws(tmp_path / "f", GOLDEN / "odd_hours.csv", params={"odd_hours_deposits": {"end_hour": 22}})
    ws, _ = _ws(tmp_path / "g", GOLDEN / "odd_hours.csv",
                params={"odd_hours_deposits": {"start_hour": 0, "end_hour": 5, "min_odd": 5}})
    assert [x["rows"] for x in _findings(ws)] == [[2, 3, 5, 7, 8]]
    ws.close()


# -- skip reasons -------------------------------------------------------------------------------

def _skipped(tmp: Path, text: str, mapping=GOLDEN / "mapping.yaml") -> dict[str, str]:
    tmp.mkdir(parents=True, exist_ok=True)
    p = tmp / "ledger.csv"
    p.write_text(text)
    ws = Workspace.open(tmp / "w.duckdb")
    ingest_file(ws, p, "csv", mapping=mapping)
    out = run_pipeline(ws, stages=["resolve", "graph", "detect"])["stages"]["detect"]
    ws.close()
    return out["skipped"], out["findings"]


def test_skip_reasons_without_cash_times_or_metadata(tmp_path):
    text = ("date,payer,payer_name,payee,payee_name,amount,channel,location,description\n"
            "2025-01-01 00:00:00,A,,B,,100,transfer,,\n2025-01-02 00:00:00,B,,C,,90,transfer,,\n")
    skipped, ran = _skipped(tmp_path / "a", text)
    assert skipped["structuring"] == "no cash transactions and no wire transfers in the workspace"
    assert skipped["funnel_account"] == "no cash transactions in the workspace"
    assert skipped["cash_without_payroll"] == "no cash deposits in the workspace"
    assert skipped["odd_hours_deposits"] == "timestamps carry no time of day (all at midnight)"
    assert skipped["shared_identifiers"] == ("no account has an address or phone number (ingest account "
                                             "records with --format accounts)")
    assert skipped["ht_expenses"].startswith("no merchant categories:")
    assert skipped["business_without_payroll"].startswith("no business accounts:")
    assert "rapid_pass_through" in ran and ran["rapid_pass_through"] == 0
    assert not set(skipped) & set(ran)


def test_skip_reasons_with_a_date_only_statement(tmp_path):
    mapping = tmp_path / "dates.yaml"
    mapping.write_text("currency: USD\ndate: {column: date, format: '%Y-%m-%d'}\namount: {column: amount}\n"
                       "payer: {account: payer}\npayee: {account: payee}\nchannel: channel\n"
                       "location: location\n")
    text = "date,payer,payee,amount,channel,location\n" + "".join(
        f"2025-01-{d:02d},cash,N,300,cash,ATM {d} Main St\n" for d in range(1, 12))
    skipped, ran = _skipped(tmp_path / "a", text, mapping)
    assert skipped["odd_hours_deposits"] == "timestamps carry no time of day (all at midnight)"
    assert "funnel_account" in ran and "cash_without_payroll" in ran and "structuring" in ran
    # the funnel's cash is found by cash_without_payroll (an unnamed account is an individual)
    assert ran["cash_without_payroll"] == 1


def test_business_without_payroll_skips_when_no_payroll_is_visible(tmp_path):
    text = ("date,payer,payer_name,payee,payee_name,amount,channel,location,description\n"
            "2025-01-01 10:00:00,A,Alpha Trading LLC,B,Beta Holdings Inc,60000,wire,,\n")
    skipped, _ = _skipped(tmp_path, text)
    assert skipped["business_without_payroll"].startswith("no payroll payments and no payments to a "
                                                          "payroll provider or tax authority")


# -- invariance ---------------------------------------------------------------------------------

def _planted() -> tuple[list[tuple], list[tuple]]:
    """Rows (minute, payer, payer_name, payee, payee_name, amount, channel, location, description)
    and account records (account, name, kind, address, phone) planting each typology once."""
    day = 24 * 60
    rows, acc = [], []
    t = 100 * day
    rows += [(t, "PS", "", "PM", "", 6000, "wire", "", ""), (t + day, "PM", "", "PD", "", 5600, "wire", "", "")]
    t += 3 * day
    rows += [(t, "cash", "", "SF", "", 9500, "cash", "BRANCH 1 Houston TX", ""),
             (t + day, "cash", "", "SF", "", 9600, "cash", "BRANCH 2 Houston TX", "")]
    t += 3 * day + 600
    rows += [(t, "cash", "", "FU", "", 300, "cash", "BRANCH 1 Dallas TX", ""),
             (t + 180, "FU", "", "cash", "", 280, "cash", "ATM 1 Main St, Houston TX", ""),
             (t + day, "cash", "", "FU", "", 300, "cash", "BRANCH 2 Austin TX", ""),
             (t + day + 180, "FU", "", "cash", "", 280, "cash", "ATM 1 Main St, Houston TX", ""),
             (t + 2 * day, "cash", "", "FU", "", 300, "cash", "BRANCH 3 Laredo TX", "")]
    t += 5 * day + 23 * 60 - 600
    rows += [(t + i * day + i, f"NS{i}", "", "NN", "", 100 + i, "transfer", "", "") for i in range(8)]
    t += 10 * day
    rows += [(t + i * 60, f"Q{i}", "", "QR", "", 200 + i, "transfer", "", "") for i in range(4)]
    acc += [("Q0", "Ana M. Lopez", "individual", "1 Main St Apt 2, Houston, TX 77002", ""),
            ("Q1", "John K. Smith", "individual", "1 MAIN STREET #2, HOUSTON, TX 77002", ""),
            ("Q2", "Mei L. Chen", "individual", "", "713-555-0101"),
            ("Q3", "Omar A. Haddad", "individual", "", "(713) 555-0101")]
    t += day
    rows += [(t + i * 60, "HP", "", f"HL{i}", "", 900, "ach", "", f"RENT {i} OAK ST UNIT {i}") for i in range(3)]
    rows += [(t + 300 + i, "HP", "", f"HM{i}", f"Budget Inn {i}", 100, "card", "", "") for i in range(2)]
    rows += [(t + 400 + i, "HP", "", f"HB{i}", "Lone Star Coach Lines", 50, "card", "", "") for i in range(2)]
    rows += [(t + 500, "HP", "", "HF", "Taqueria El Sol", 20, "card", "", "")]
    t += 2 * day
    rows += [(t + i * day, "cash", "", "CV", "", 700, "cash", "BRANCH 9 Houston TX", "") for i in range(5)]
    t += 6 * day
    rows += [(t + i * 20 * day, f"BC{i}", "", "BZ", "", 20000, "ach", "", "") for i in range(3)]
    rows += [(t + 1 + i * 5 * day, "BZ", "", f"BW{i}", "", 4000, "transfer", "", "") for i in range(10)]
    rows += [(t + 2, "BE", "", "BX", "", 1000, "payroll", "", "")]
    acc += [("BZ", "Zeta Cleaning LLC", "business", "", "")]
    return rows, acc


@st.composite
def noisy_ledgers(draw):
    rows, acc = _planted()
    used = {r[0] for r in rows}
    n_acc = draw(st.integers(3, 10))
    for _ in range(draw(st.integers(0, 40))):
        a = draw(st.integers(0, n_acc - 1))
        b = draw(st.integers(0, n_acc - 2))
        b = b if b < a else b + 1
        minute = draw(st.integers(0, 60 * 24 * 200).filter(lambda m: m not in used))
        used.add(minute)
        amt = draw(st.sampled_from([20, 95, 480, 1000, 2900, 6000]))
        ch = draw(st.sampled_from(["transfer", "ach", "card", "wire"]))
        rows.append((minute, f"A{a}", "", f"A{b}", "", amt, ch, "", ""))
    return rows, acc


def _ledger_csv(rows, rename) -> str:
    t0 = dt.datetime(2025, 1, 1)
    out = ["date,payer,payer_name,payee,payee_name,amount,channel,location,description"]
    for m, a, an, b, bn, amt, ch, loc, desc in rows:
        ts = (t0 + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M:%S")
        loc = f'"{loc}"' if "," in loc else loc
        out.append(f"{ts},{rename.get(a, a)},{an},{rename.get(b, b)},{bn},{amt},{ch},{loc},{desc}")
    return "\n".join(out) + "\n"


def _accounts_csv(acc, rename) -> str:
    out = ["account,name,kind,address,phone,category,naics"]
    for a, name, kind, addr, phone in acc:
        addr = f'"{addr}"' if "," in addr else addr
        out.append(f"{rename.get(a, a)},{name},{kind},{addr},{phone},,")
    return "\n".join(out) + "\n"


def _canon(ws, back: dict[str, str] | None = None) -> set:
    back = back or {}
    out = set()
    for f in ws.records(f"""
        SELECT f.typology, (SELECT list(a.account_id || '/' || a.role) FROM finding_accounts a
                             WHERE a.finding_id = f.finding_id) AS acc,
               (SELECT list(t.ts::VARCHAR || '|' || t.orig_account || '|' || t.bene_account || '|' || t.amount::VARCHAR)
                  FROM finding_transactions ft JOIN transactions t USING (tx_id)
                 WHERE ft.finding_id = f.finding_id) AS txs
        FROM findings f WHERE f.typology IN ({', '.join(repr(t) for t in MINE)})"""):
        acc = frozenset(back.get(a.split("/")[0], a.split("/")[0]) + "/" + a.split("/", 1)[1] for a in f["acc"])
        txs = frozenset("|".join([p[0], back.get(p[1], p[1]), back.get(p[2], p[2]), p[3]])
                        for p in (x.split("|") for x in f["txs"]))
        out.add((f["typology"], acc, txs))
    return out


def _run(tmp: Path, rows, acc, rename) -> set:
    tmp.mkdir(parents=True)
    (tmp / "l.csv").write_text(_ledger_csv(rows, rename))
    (tmp / "a.csv").write_text(_accounts_csv(acc, rename))
    ws, _ = _ws(tmp, tmp / "l.csv", tmp / "a.csv", typologies=MINE)
    back = {v: k for k, v in rename.items()}
    c = _canon(ws, back)
    ws.close()
    return c


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=noisy_ledgers(), seed=st.integers(0, 10_000))
def test_shuffling_rows_and_renaming_accounts_change_no_finding(tmp_path_factory, data, seed):
    rows, acc = data
    rng = random.Random(seed)
    ids = sorted({x for r in rows for x in (r[1], r[3])} - {"cash"})
    new = [f"Z{rng.randrange(10**6):06d}{i}" for i in range(len(ids))]
    rng.shuffle(new)
    rename = dict(zip(ids, new))
    rows2, acc2 = rows[:], acc[:]
    rng.shuffle(rows2)
    rng.shuffle(acc2)
    d = tmp_path_factory.mktemp("prop")
    c1 = _run(d / "a", rows, acc, {})
    c2 = _run(d / "b", rows2, acc2, rename)
    assert c1 == c2
    assert {t for t, _, _ in c1} == set(MINE)  # every typology planted, so the property is not vacuous


# -- categories ---------------------------------------------------------------------------------

@pytest.mark.parametrize("desc,kw,want", [
    ("RENT 12 OAK ST UNIT 1", {}, "rent"),
    ("CHECK #1042 RENT 5 LAKE DR", {}, "rent"),
    ("ZELLE ANA TO BOB rent share", {}, None),
    ("OFFICE LEASE BAYOU APARTMENTS LLC", {"name": "Bayou Apartments LLC"}, "commercial_rent"),
    ("", {"name": "Bayou Apartments LLC"}, "rent"),
    ("WEEKLY RENT ROOM 12", {"name": "Budget Inn Dallas"}, "lodging"),
    ("POS PURCHASE LUCKY DRAGON #12", {"naics": "722511"}, "food"),
    ("POS PURCHASE LUCKY DRAGON #12", {"kyc": "Restaurant"}, "food"),
    ("POS PURCHASE LUCKY DRAGON #12", {}, None),
    ("IRS USATAXPYMT EFTPS 941 12-345", {}, "tax"),
    ("CHECK #941 RENT", {}, "rent"),
    ("", {"name": "IRS - EFTPS (US Treasury)"}, "tax"),
    ("ADP WAGE PAY", {}, "payroll_provider"),
    ("", {"name": "Davis Labor Services LLC"}, "staffing"),
    ("POS PURCHASE LONE STAR COACH LINES", {}, "bus"),
    ("POS PURCHASE SKYJET AIRLINES", {}, "airline"),
    ("POS PURCHASE RIDENOW", {}, "rideshare"),
    ("ZELLE ANA TO BOB uber", {}, None),
    ("SSA TREAS 310 XXSOC SEC", {}, "benefits"),
    ("", {"kyc": "Hotel / motel"}, "lodging"),
    ("", {"naics": "531311"}, "rent"),
])
def test_classifier(desc, kw, want):
    assert classify(desc, **kw) == want


def test_sql_classifier_agrees_with_python(ws):
    from moneytrail.detect.categories import account_category_sql, description_category_sql
    samples = ["RENT 12 OAK ST UNIT 1", "ZELLE A TO B rent share", "OFFICE LEASE X", "POS PURCHASE BUDGET INN",
               "IRS USATAXPYMT EFTPS", "ADP WAGE PAY", "POS PURCHASE CLASSIPOST ONLINE", None, "x"]
    for s in samples:
        got = ws.scalar(f"SELECT {description_category_sql('d')} FROM (SELECT ?::VARCHAR AS d)", [s])
        assert got == classify(s), s
    for naics, kyc, name in [("721110", None, None), (None, "Grocery store", None), (None, None, "SkyJet Airlines"),
                             (None, None, "Maria R. Diaz"), ("5613", None, "Budget Inn")]:
        got = ws.scalar(f"SELECT {account_category_sql('n', 'k', 'm')} "
                        f"FROM (SELECT ?::VARCHAR AS n, ?::VARCHAR AS k, ?::VARCHAR AS m)", [naics, kyc, name])
        assert got == classify(None, naics=naics, kyc=kyc, name=name)
    assert [c.name for c in load().categories][:2] == ["tax", "payroll_provider"]


# -- the accounts format ------------------------------------------------------------------------

REGISTER = (
    "Account,Name,Type,Street,City,State,Zip,Phone,Business Type,NAICS,Opened\n"
    "A1,Maria G. Lopez,P,\"123 Main Street, Apt. 4\",Houston,TX,77002-1234,(713) 555-0101,,,01/02/2020\n"
    "A2,Jose K. Smith,P,123 MAIN ST #4,Houston,TX,77002,+1 713 555 0101,,,2021-13-01\n"
    "\n"
    "A3,Budget Inn Dallas,B,1 Elm St,Dallas,TX,75201,214-555-9999,Hotel/Motel,721110,03/04/2019\n"
    "A1,Maria Lopez again,P,,,,,,,,\n"
    "A4,X Co,Q,,,,,12,,ab,\n"
    "cash,X,P,,,,,,,,\n"
    ",Nobody,P,,,,,,,,\n"
    "A5,\"Short row\"\n"
    "A6,Lee Chan,P,,,,,555-01,,,\n"
    "A7,Acme LLC,B,,,,,,,12345678,\n"
    "A8,Ok Person,,9 Oak Ave,Katy,TX,77494,,,,\n"
)
REGISTER_MAP = {
    "account": "Account", "owner_name": "Name", "kind": "Type", "kind_map": {"P": "individual", "B": "business"},
    "address": ["Street", "City", "State", "Zip"], "phone": "Phone", "category": "Business Type",
    "naics": "NAICS", "bank": {"value": "Harbor Community Bank"},
    "opened": {"column": "Opened", "format": "%m/%d/%Y"},
}


def _register(tmp_path, text=REGISTER, name="register.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _conserved(ws, sid: int) -> dict:
    read, stored, quarantined = ws.query("SELECT rows_read, rows_stored, rows_quarantined FROM sources "
                                         "WHERE source_id = ?", [sid])[0]
    assert read == stored + quarantined
    q = {r: (c, why) for r, c, why in ws.query("SELECT source_row, column_name, reason FROM quarantine "
                                               "WHERE source_id = ?", [sid])}
    ok = {r for (r,) in ws.query("SELECT CAST(json_extract(attributes, '$.kyc_source_row') AS BIGINT) FROM accounts "
                                 "WHERE CAST(json_extract(attributes, '$.kyc_source_id') AS INTEGER) = ?", [sid])}
    assert len(q) == quarantined and len(ok) == stored
    assert q.keys() | ok == set(range(1, read + 1)) and not q.keys() & ok
    return {"read": read, "stored": stored, "quarantined": quarantined, "q": q}


def test_accounts_ingest_stores_or_quarantines_every_row(ws, tmp_path):
    r = ingest_file(ws, _register(tmp_path), "accounts", mapping=parse_accounts_mapping(REGISTER_MAP))
    c = _conserved(ws, r.source_id)
    assert (r.read, r.stored, r.quarantined) == (12, 3, 9) == (c["read"], c["stored"], c["quarantined"])
    q = c["q"]
    assert q[2] == ("Opened", "opened date 2021-13-01 does not match format %m/%d/%Y")
    assert q[3] == (None, "blank line")
    assert q[5] == ("Account", "account A1 already given at row 1 of this file")
    assert q[6] == ("Type", "kind Q is not individual or business (map it with kind_map)")
    assert q[7][0] == "Account" and "reserved" in q[7][1]
    assert q[8] == ("Account", "account is empty")
    assert q[9][0] == "Type" and "row has 2 fields" in q[9][1]
    assert q[10] == ("Phone", "phone 555-01 has fewer than 7 digits")
    assert q[11] == ("NAICS", "naics 12345678 is not a NAICS code (2 to 6 digits)")
    a1 = ws.records("SELECT * FROM accounts WHERE account_id = 'A1'")[0]
    attrs = json.loads(a1["attributes"])
    assert (a1["owner_name"], a1["kind"], a1["bank"], str(a1["opened"])) == \
        ("Maria G. Lopez", "individual", "Harbor Community Bank", "2020-01-02")
    assert attrs["address_norm"] == "123 MAIN ST #4 HOUSTON TX 77002"
    assert attrs["phone_norm"] == "7135550101" and attrs["kyc_source_row"] == 1
    a3 = json.loads(ws.scalar("SELECT attributes FROM accounts WHERE account_id = 'A3'"))
    assert (a3["category"], a3["naics"]) == ("Hotel/Motel", "721110")
    assert ws.scalar("SELECT kind FROM accounts WHERE account_id = 'A8'") is None  # kind not given: unknown
    # the file is evidence like any other
    src = ws.records("SELECT * FROM sources WHERE source_id = ?", [r.source_id])[0]
    assert src["format"] == "accounts" and src["role"] == "accounts"
    assert ws.evidence_file(src["evidence_path"]).read_bytes() == (tmp_path / "register.csv").read_bytes()


def test_accounts_reingest_is_a_noop_and_force_replaces(ws, tmp_path):
    p = _register(tmp_path)
    r1 = ingest_file(ws, p, "accounts", mapping=parse_accounts_mapping(REGISTER_MAP))
    before = ws.query("SELECT * FROM accounts ORDER BY account_id")
    r2 = ingest_file(ws, p, "accounts", mapping=parse_accounts_mapping(REGISTER_MAP))
    assert r2.skipped and (r2.source_id, r2.read, r2.stored, r2.quarantined) == \
        (r1.source_id, r1.read, r1.stored, r1.quarantined)
    assert ws.query("SELECT * FROM accounts ORDER BY account_id") == before
    r3 = ingest_file(ws, p, "accounts", mapping=parse_accounts_mapping(REGISTER_MAP), force=True)
    assert not r3.skipped and r3.source_id == r1.source_id
    _conserved(ws, r1.source_id)
    assert ws.query("SELECT * FROM accounts ORDER BY account_id") == before
    assert ws.scalar("SELECT count(*) FROM sources") == 1


def test_accounts_upsert_merges_with_statement_accounts(ws, tmp_path):
    stmt = tmp_path / "s.csv"
    stmt.write_text("date,payer,payer_name,payee,payee_name,amount,channel,location,description\n"
                    "2025-01-01 10:00:00,A1,MARIA LOPEZ,A3,BUDGET INN,100,card,,\n")
    ingest_file(ws, stmt, "csv", mapping=GOLDEN / "mapping.yaml")
    assert ws.scalar("SELECT owner_name FROM accounts WHERE account_id = 'A1'") == "MARIA LOPEZ"
    ingest_file(ws, _register(tmp_path), "accounts", mapping=parse_accounts_mapping(REGISTER_MAP))
    row = ws.records("SELECT owner_name, kind, source_id FROM accounts WHERE account_id = 'A1'")[0]
    assert row == {"owner_name": "Maria G. Lopez", "kind": "individual", "source_id": 1}  # first source kept
    # a second register adds facts without erasing the first one's
    ingest_file(ws, _register(tmp_path, "Account,Phone\nA1,281-555-0000\n", "r2.csv"), "accounts",
                mapping=parse_accounts_mapping({"account": "Account", "phone": "Phone"}))
    attrs = json.loads(ws.scalar("SELECT attributes FROM accounts WHERE account_id = 'A1'"))
    assert attrs["phone_norm"] == "2815550000" and attrs["address_norm"] == "123 MAIN ST #4 HOUSTON TX 77002"
    assert ws.scalar("SELECT owner_name FROM accounts WHERE account_id = 'A1'") == "Maria G. Lopez"


def test_accounts_whole_file_refusals(ws, tmp_path):
    with pytest.raises(InputError, match="column 'Nope'"):
        ingest_file(ws, _register(tmp_path), "accounts", mapping=parse_accounts_mapping(dict(REGISTER_MAP, phone="Nope")))
    with pytest.raises(InputError, match="needs --mapping"):
        ingest_file(ws, _register(tmp_path), "accounts")
    with pytest.raises(MappingError, match="invalid accounts mapping"):
        parse_accounts_mapping({"owner_name": "Name"})
    with pytest.raises(MappingError, match="invalid accounts mapping"):
        parse_accounts_mapping({"account": "A", "colour": "B"})
    with pytest.raises(InputError, match="empty"):
        ingest_file(ws, _register(tmp_path, "", "empty.csv"), "accounts", mapping=parse_accounts_mapping(REGISTER_MAP))
    assert ws.scalar("SELECT count(*) FROM sources") == 0 and ws.scalar("SELECT count(*) FROM accounts") == 0


# -- the demo and AMLSim ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    from moneytrail.synth import generate
    out = tmp_path_factory.mktemp("demo_flow")
    sc = generate(out / "inputs", seed=11, n_accounts=600)
    ws = Workspace.open(out / "case.duckdb")
    for c, m in sc.account_files:
        r = ingest_file(ws, c, "accounts", mapping=load_accounts_mapping(m))
        assert r.quarantined == 0
    for c, fmt, m in sc.transaction_files():
        ingest_file(ws, c, fmt, mapping=m)
    res = run_pipeline(ws, stages=["resolve", "graph", "detect"], params={"detect": {"typologies": MINE}})
    yield sc, ws, res["stages"]["detect"]
    ws.close()


def test_demo_finds_the_planted_schemes_and_little_else(demo_ws):
    sc, ws, summary = demo_ws
    assert not summary["skipped"]
    planted: dict[str, set[str]] = {}
    for s in sc.schemes:
        for t in s.typology_hint:
            if t in MINE:
                planted.setdefault(t, set()).update(s.accounts.values())
    focal = {t: {a for (a,) in ws.query(
        "SELECT DISTINCT fa.account_id FROM findings f JOIN finding_accounts fa USING (finding_id) "
        "WHERE f.typology = ? AND fa.role IN ('pass-through account', 'depositor', 'withdrawer', 'originator', "
        "'funnel account', 'receiver', 'payer', 'account holder', 'business')", [t])} for t in MINE}
    assert set(planted) == set(MINE)
    for t in MINE:
        assert focal[t] & planted[t], t                      # the planted scheme is found
        assert len(focal[t] - planted[t]) <= 1, (t, focal[t] - planted[t])  # and next to nothing else
    funnel = sc.scheme("trafficking_funnel")
    for t in ("funnel_account", "shared_identifiers", "ht_expenses", "odd_hours_deposits"):
        assert funnel.accounts["funnel"] in focal[t], t
    assert set(funnel.role("victim")) <= focal["cash_without_payroll"]
    front = sc.scheme("front_company")
    assert front.accounts["front"] in focal["structuring"] and front.accounts["front"] in \
        focal["business_without_payroll"]
    assert front.accounts["broker"] in focal["rapid_pass_through"]


AMLSIM = Path(__file__).resolve().parents[2] / "shared" / "data" / "amlsim_small"


@pytest.mark.slow
@pytest.mark.skipif(not AMLSIM.is_dir(), reason="AMLSim sample data not present")
def test_amlsim_runs_fast_and_skips_what_it_lacks(tmp_path):
    ws = Workspace.open(tmp_path / "aml.duckdb")
    ingest_file(ws, AMLSIM, "amlsim")
    run_pipeline(ws, stages=["resolve", "graph"])
    t0 = time.perf_counter()
    out = run_pipeline(ws, stages=["detect"], params={"detect": {"typologies": MINE}})["stages"]["detect"]
    assert time.perf_counter() - t0 < 10
    assert set(out["skipped"]) == set(MINE) - {"rapid_pass_through"}
    assert out["skipped"]["odd_hours_deposits"] == "timestamps carry no time of day (all at midnight)"
    assert "rapid_pass_through" in out["findings"]
    ws.close()


def test_rows_left_out_are_reported_as_notes(tmp_path):
    """Part of the data unusable for an indicator (a date-only statement, cash without a place) is
    said, not silently dropped."""
    (tmp_path / "dates.yaml").write_text("currency: USD\ndate: {column: date, format: '%Y-%m-%d'}\namount: {column: amount}\n"
                                         "payer: {account: payer}\npayee: {account: payee}\nchannel: channel\n"
                                         "location: location\n")
    (tmp_path / "a.csv").write_text("date,payer,payee,amount,channel,location\n2025-01-01,cash,N,300,cash,\n"
                                    "2025-01-02,N,X,300,transfer,\n")
    ws = Workspace.open(tmp_path / "w.duckdb")
    ingest_file(ws, tmp_path / "a.csv", "csv", mapping=tmp_path / "dates.yaml")
    ingest_file(ws, GOLDEN / "odd_hours.csv", "csv", mapping=GOLDEN / "mapping.yaml")
    out = run_pipeline(ws, stages=["resolve", "graph", "detect"],
                       params={"detect": {"typologies": MINE}})["stages"]["detect"]
    assert out["notes"]["odd_hours_deposits"] == ["2 transactions of source(s) 1 carry no time of day and "
                                                  "were left out"]
    assert out["notes"]["funnel_account"] == ["1 cash transactions have no location (branch or ATM) and "
                                              "were left out"]
    assert out["findings"]["odd_hours_deposits"] == 1
    ws.close()
