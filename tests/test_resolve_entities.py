"""Entity resolution of parties: normalisation (SQL and its Python twin), the Splink engine,
determinism, explanations, the model's JSON round trip, and the bench on fake_1000."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from moneytrail.resolve import normalize as N
from moneytrail.resolve.entities import explain_pair, plan, resolve_parties

LINKAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "linkage"


@pytest.fixture()
def con():
    c = duckdb.connect()
    N.install(c)
    yield c
    c.close()


def sql1(con, expr: str, *params):
    return con.execute(f"SELECT {expr}", list(params)).fetchall()[0][0]


@pytest.mark.parametrize("value,kind,name,form,kind_out", [
    ("Acme Holdings Co., Ltd.", None, "acme holdings co", "ltd", "business"),
    ("Acme Holdings Co., Ltd.", "business", "acme holdings", "co ltd", "business"),
    ("ACME S.A.", "business", "acme", "sa", "business"),
    ("Banco Sá", None, "banco sa", None, "unknown"),          # 'sa' is a name word unless a business
    ("Ærø Ångström GmbH", None, "aero angstrom", "gmbh", "business"),
    ("Société Générale S.A.", "business", "societe generale", "sa", "business"),
    ("Mr. John O'Brien", None, "john obrien", None, "unknown"),
    ("Ltd", None, "ltd", None, "unknown"),                    # nothing but a form: kept
    ("Widget Limited", "individual", "widget limited", None, "individual"),
    ("Foo L.L.C.", None, "foo", "llc", "business"),
])
def test_names_suffixes_accents(con, value, kind, name, form, kind_out):
    assert N.name(value, kind) == name == sql1(con, "mt_name(?, ?)", value, kind)
    assert N.legal_form(value, kind) == form == sql1(con, "mt_legal_form(?, ?)", value, kind)
    assert N.kind(value, kind) == kind_out == sql1(con, "mt_kind(?, ?)", value, kind)


def test_word_order_key(con):
    assert N.name_key(N.name("Smith, John")) == "john smith" == sql1(con, "mt_name_key(mt_name(?, NULL))", "JOHN  smith")


@pytest.mark.parametrize("value", [
    "x'; DROP TABLE t; --", "a\"b", "O''Brien", "\\x00", "' OR 1=1 --", "$$; select 1; $$", "ÇA\u0301", "",
    "   ", "%s {0} ?", "Ω≈ç√ 北京 Москва", "a\tb\nc", "\x00nul",
])
def test_hostile_strings_are_data(con, value):
    got = con.execute("SELECT mt_text(?), mt_name(?, NULL), mt_name_key(mt_name(?, NULL)), mt_email(?), mt_phone(?), "
                      "mt_postcode(?), mt_identifier(?), mt_date(?)", [value] * 8).fetchall()[0]
    want = (N.text(value), N.name(value), N.name_key(N.name(value)), N.email(value), N.phone(value),
            N.postcode(value), N.identifier(value), N.date(value))
    assert got == want
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0] == 0


@pytest.mark.parametrize("value,phone,cc,key", [
    ("+44 20 7946 0958", "+442079460958", "44", "2079460958"),
    ("020 7946 0958", "02079460958", None, "2079460958"),
    ("0044 (20) 7946-0958", "+442079460958", "44", "2079460958"),
    ("+1 (555) 123-4567", "+15551234567", "1", "5551234567"),
    ("+352 12 34 56", "+352123456", "352", "123456"),
    ("12-34", None, None, None),
])
def test_phones(con, value, phone, cc, key):
    assert (N.phone(value), N.phone_country(value), N.phone_key(value)) == (phone, cc, key)
    assert con.execute("SELECT mt_phone(?), mt_phone_country(?), mt_phone_key(?)", [value] * 3).fetchall()[0] == (phone, cc, key)


@pytest.mark.parametrize("value,want", [
    ("1971-06-24", "1971-06-24"), ("24/06/1971", "1971-06-24"), ("19710624", "1971-06-24"),
    ("24.06.1971", "1971-06-24"), ("2020-01-02T10:00:00", "2020-01-02"), ("31/02/2000", None), ("junk", None),
])
def test_dates(con, value, want):
    assert N.date(value) == want == sql1(con, "mt_date(?)", value)


def test_emails_postcodes_identifiers(con):
    assert sql1(con, "mt_email(?)", " Rob@Smith.NET ") == N.email(" Rob@Smith.NET ") == "rob@smith.net"
    assert sql1(con, "mt_email(?)", "not an email") is None
    assert sql1(con, "mt_postcode(?)", "tq138df") == N.postcode("tq138df") == "TQ13 8DF"
    assert sql1(con, "mt_identifier(?)", "DE89 3704-0044") == N.identifier("DE89 3704-0044") == "DE8937040044"
    assert sql1(con, "mt_gender(?)", "Female") == N.gender("Female") == "f"


# --- the engine -------------------------------------------------------------------------------

PEOPLE = [
    # (record_id, full_name, dob, city, email, phone, identifiers, truth)
    (1, "John Smith", "1971-06-24", "London", "john.smith@example.com", "+44 20 7946 0958", ["GB123"], "a"),
    (2, "Smith, John", "24/06/1971", "London", "JOHN.SMITH@example.com", "020 7946 0958", None, "a"),
    (3, "Jon Smith", "1971-06-24", "Londn", None, "+44 20 7946 0958", ["GB 123"], "a"),
    (4, "Maria García", "1980-02-01", "Madrid", "maria@ejemplo.es", None, ["ES-999"], "b"),
    (5, "MARIA GARCIA", "01.02.1980", "Madrid", "maria@ejemplo.es", "+34 600 111 222", None, "b"),
    (6, "Acme Holdings Ltd", None, "Leeds", "info@acme.co.uk", "+44 113 496 0000", ["REG-0042"], "c"),
    (7, "ACME HOLDINGS LIMITED", None, "Leeds", "info@acme.co.uk", None, ["REG0042"], "c"),
    (8, "Peter Novak", "1990-09-09", "Prague", "p.novak@mail.cz", "+420 777 123 456", None, "d"),
    (9, "Anna Kowalska", "1975-03-03", "Warsaw", "anna.k@poczta.pl", None, ["PL-55"], "e"),
    (10, "Li Wei", "1988-12-12", "Beijing", "li.wei@mail.cn", None, None, "f"),
    (11, "Olaf Berg", "1960-07-07", "Oslo", None, "+47 22 33 44 55", None, "g"),
    (12, "Emma Dubois", "1995-05-05", "Paris", "emma@exemple.fr", None, None, "h"),
]


def people_table(c, rows=PEOPLE):
    c.execute("CREATE OR REPLACE TABLE party_records (record_id INTEGER, full_name VARCHAR, dob VARCHAR, "
              "city VARCHAR, email VARCHAR, phone VARCHAR, identifiers VARCHAR[])")
    c.executemany("INSERT INTO party_records VALUES (?, ?, ?, ?, ?, ?, ?)", [r[:7] for r in rows])


@pytest.fixture(scope="module")
def resolved():
    c = duckdb.connect()
    people_table(c)
    res = resolve_parties(c, "party_records")
    return c, res


def test_synthetic_clusters(resolved):
    _, res = resolved
    got = {}
    for r in res.clusters.to_pylist():
        got.setdefault(r["entity_id"], set()).add(r["record_id"])
    truth = {}
    for r in PEOPLE:
        truth.setdefault(r[7], set()).add(r[0])
    assert sorted(map(sorted, got.values())) == sorted(map(sorted, truth.values()))
    assert res.clusters.column_names == ["record_id", "entity_id", "cluster_size"]
    merges = {(p["record_id_l"], p["record_id_r"]) for p in res.pairs.to_pylist() if p["decision"] == "merge"}
    assert (6, 7) in merges and (4, 5) in merges


def test_pairs_shape_and_explanation(resolved):
    _, res = resolved
    rows = res.pairs.to_pylist()
    assert rows and all(r["record_id_l"] < r["record_id_r"] for r in rows)
    assert all(0.5 <= r["match_probability"] <= 1 for r in rows)
    row = next(r for r in rows if (r["record_id_l"], r["record_id_r"]) == (1, 3))
    comps = {c["comparison"]: c for c in row["comparisons"]}
    assert comps["name_key"]["gamma"] >= 0 and comps["email"]["gamma"] == -1
    assert set(comps["dob"]) == {"comparison", "label", "level", "gamma", "weight", "value_l", "value_r"}
    text = explain_pair(row)
    assert "date of birth exact (+" in text
    assert "not compared (missing):" in text and text.split("not compared (missing): ")[1].startswith(("email", "company form, email"))
    assert "probability" in text
    # a hand-written row reads as the issue asks
    assert explain_pair({"comparisons": [
        {"comparison": "first_name", "label": "first name", "level": "Jaro-Winkler distance of first_name >= 0.92",
         "gamma": 3, "weight": 4.1},
        {"comparison": "dob", "label": "date of birth", "level": "Exact match on date of birth", "gamma": 5, "weight": 7.9},
        {"comparison": "city", "label": "city", "level": "All other comparisons", "gamma": 0, "weight": -1.2},
    ]}) == "date of birth exact (+7.9), first name agreed (jaro-winkler ≥ 0.92, +4.1), city differed (−1.2)"


def test_deterministic():
    outs = []
    for _ in range(2):
        c = duckdb.connect()
        people_table(c)
        r = resolve_parties(c, "party_records")
        outs.append((r.pairs.to_pylist(), r.clusters.to_pylist(), r.model_json))
        c.close()
    assert outs[0] == outs[1]


def test_model_json_round_trip(resolved):
    c, res = resolved
    model = json.loads(res.model_json)
    assert model["link_type"] == "dedupe_only" and model["comparisons"]
    again = resolve_parties(c, "party_records", model_json=res.model_json)
    reloaded = json.loads(again.model_json)

    def params(m):
        return (m["probability_two_random_records_match"],
                [[(lv.get("m_probability"), lv.get("u_probability")) for lv in c["comparison_levels"]]
                 for c in m["comparisons"]])

    assert params(reloaded) == params(model)
    assert again.pairs.to_pylist() == res.pairs.to_pylist()
    assert again.clusters.to_pylist() == res.clusters.to_pylist()
    assert again.settings["training"] == []


def test_plan_follows_columns_only():
    people = plan({"first_name", "surname", "dob", "city", "email"})
    assert [c["column"] for c in people["comparisons"]] == ["first_name", "surname", "dob", "email", "city"]
    firms = plan({"name", "name_key", "legal_form", "identifiers", "kind"})
    assert [c["kind"] for c in firms["comparisons"]][:2] == ["full_name", "exact"]
    assert ["identifiers"] in firms["blocking"] and firms["kind_guard"]
    assert plan({"first_name", "surname"}, n=100)["blocking"] == [[]]          # small: every pair


def test_refuses_bad_input():
    c = duckdb.connect()
    c.execute("CREATE TABLE t (name VARCHAR)")
    with pytest.raises(ValueError):
        resolve_parties(c, "t")
    people_table(c)
    with pytest.raises(ValueError):
        resolve_parties(c, "party_records", upper=0.4, lower=0.6)


@pytest.mark.skipif(not (LINKAGE / "fake_1000.csv").is_file(), reason="linkage data not present")
def test_bench_fake_1000():
    from moneytrail.bench.resolve import bench_resolve

    res = bench_resolve(LINKAGE, datasets=["fake_1000"], runs=1, peer=False, transfers=False)
    row = res["datasets"]["fake_1000"]["moneytrail"]
    # the goal is 0.95; measured 0.92 (BENCHMARKS.md); this guards against regressions
    assert row["pairwise"]["f1"] >= 0.90
    assert row["pairwise"]["precision"] >= 0.98
    assert row["seconds_total"]["median"] < 30
