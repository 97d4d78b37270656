"""The seeded synthetic investigation: deterministic, ingestable, schemes planted as described."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from moneytrail.ingest import ingest_file
from moneytrail.ingest.accounts import load_accounts_mapping
from moneytrail.ingest.mapping import load_mapping
from moneytrail.synth import PlantedScheme, Scenario, generate
from moneytrail.workspace import Workspace

N = 400
NUM = "upper(regexp_replace({}, '[^A-Za-z0-9]', '', 'g'))"   # an account id as one number, however written


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    sc = generate(out / "files", seed=11, n_accounts=N)
    ws = Workspace.open(out / "w.duckdb")
    results = [ingest_file(ws, c, fmt, mapping=m) for c, fmt, m in sc.transaction_files()]
    registers = [ingest_file(ws, c, "accounts", mapping=load_accounts_mapping(m)) for c, m in sc.account_files]
    ws.registers = registers
    yield sc, ws, results
    ws.close()


def _all_bytes(sc: Scenario) -> dict[str, bytes]:
    out = {}
    for c, m in sc.files + sc.account_files:
        out[c.name] = c.read_bytes()
        if m is not None:
            out[m.name] = m.read_bytes()
    return out


def test_same_seed_same_bytes(tmp_path):
    a = generate(tmp_path / "a", seed=3, n_accounts=N, months=3)
    b = generate(tmp_path / "b", seed=3, n_accounts=N, months=3)
    c = generate(tmp_path / "c", seed=4, n_accounts=N, months=3)
    assert _all_bytes(a) == _all_bytes(b)
    assert (tmp_path / "a" / "planted_schemes.json").read_bytes() == \
        (tmp_path / "b" / "planted_schemes.json").read_bytes()
    assert [s.accounts for s in a.schemes] == [s.accounts for s in b.schemes]
    assert _all_bytes(a) != _all_bytes(c)
    assert a.start == date(2026, 1, 1) and a.end == date(2026, 3, 31)


def test_each_bank_writes_its_own_format(world):
    """Bank A: XLSX workbooks, bank B: a CSV statement (each with its mapping), bank C: ISO 20022
    camt.053 (no mapping), each file recognised by its content as what it is."""
    from moneytrail.ingest import resolve_format

    sc, _, _ = world
    by_bank: dict[str, set[str]] = {}
    for c, fmt, m in sc.transaction_files():
        by_bank.setdefault(c.name[:3], set()).add(fmt)
        assert c.exists() and c.stat().st_size > 0
        if fmt == "camt":
            assert m is None and resolve_format(c, "auto", False) == "camt"
        else:
            assert m is not None and resolve_format(c, "auto", True) == fmt
    assert by_bank == {"fnb": {"xlsx"}, "hcb": {"csv"}, "acb": {"camt"}}
    maps = [load_mapping(m) for _, m in sc.files if m is not None]
    assert {m.layout for m in maps} == {"statement", "transfers"}
    assert {m.sheet for m in maps} == {"Transfers", "Cash journal", None}
    assert any(m.amount.debit and m.thousands == "," and m.date.format == "%m/%d/%Y" for m in maps)
    # a transfer between two subpoenaed banks is a row at each: the payer's bank and the payee's
    assert sum(sc.rows_per_file.values()) == sc.n_rows == sc.n_transactions + sc.n_seen_twice
    assert sc.n_seen_twice > 1000


def test_bank_c_statements_state_balances_that_reconcile(world):
    """camt.053: one statement per account and month, opening + its entries = closing, each month
    opening at the previous one's closing; entries keep time of day, counterparty, reference and,
    for card and cash, where they happened."""
    sc, ws, results = world
    con = ws.con
    sid = next(r.source_id for r in results if r.file.endswith(".xml"))
    bad = con.execute("""
        WITH mv AS (SELECT s.statement_no, sum(CASE WHEN t.bene_account = t.statement_account THEN t.amount
                                                    ELSE -t.amount END) AS net
                    FROM statements s JOIN transactions t ON t.source_id = s.source_id
                         AND t.source_row BETWEEN s.first_row AND s.last_row
                    WHERE s.source_id = ? GROUP BY 1)
        SELECT count(*) FROM statements s LEFT JOIN mv USING (statement_no)
        WHERE s.source_id = ? AND (s.opening_booked + coalesce(mv.net, 0) <> s.closing_booked
                                   OR s.opening_booked < 0)""", [sid, sid]).fetchone()[0]
    assert bad == 0
    seams = con.execute("""SELECT count(*) FROM (SELECT account_id, opening_booked,
                               lag(closing_booked) OVER (PARTITION BY account_id ORDER BY period_from) AS prev
                           FROM statements WHERE source_id = ?) WHERE prev IS NOT NULL AND prev <> opening_booked""",
                        [sid]).fetchone()[0]
    assert seams == 0
    n_acc, n_st = con.execute("SELECT count(DISTINCT account_id), count(*) FROM statements WHERE source_id = ?",
                              [sid]).fetchone()
    assert n_st == n_acc * 6
    got = con.execute("""SELECT count(*) FILTER (WHERE channel = 'cash' AND location IS NULL),
                                count(*) FILTER (WHERE channel = 'card' AND location IS NOT NULL),
                                count(*) FILTER (WHERE external_id IS NULL OR tx_type NOT LIKE 'PMNT/%'),
                                count(DISTINCT second(ts))
                         FROM transactions WHERE source_id = ?""", [sid]).fetchone()
    assert got[0] == 0 and got[1] > 0 and got[2] == 0 and got[3] == 60


def test_every_row_ingests(world):
    sc, ws, results = world
    assert all(r.quarantined == 0 for r in results), [(r.file, r.quarantined) for r in results]
    assert sum(r.stored for r in results) == sc.n_rows
    con = ws.con
    assert con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM transactions WHERE channel IS NULL OR channel = 'other'"
                       ).fetchone()[0] == 0
    lo, hi = con.execute("SELECT min(ts), max(ts) FROM transactions").fetchone()
    assert lo >= datetime.combine(sc.start, datetime.min.time())
    assert hi < datetime.combine(sc.end + timedelta(days=1), datetime.min.time())
    # each bank writes another bank's account its own way (FNB-115833, FNB 115833, FNB115833): one number
    n = con.execute(f"SELECT count(DISTINCT {NUM.format('a')}) FROM (SELECT orig_account a FROM transactions "
                    "UNION ALL SELECT bene_account FROM transactions) WHERE a <> 'cash'").fetchone()[0]
    assert n == sc.n_accounts
    # every cash row is on the pseudo-account 'cash' with a place
    assert con.execute("SELECT count(*) FROM transactions WHERE channel = 'cash' AND "
                       "('cash' NOT IN (orig_account, bene_account) OR location IS NULL)").fetchone()[0] == 0
    # timestamps carry times of day
    assert con.execute("SELECT count(DISTINCT hour(ts)) FROM transactions").fetchone()[0] == 24


def test_scheme_metadata(world):
    sc, _, _ = world
    assert [s.name for s in sc.schemes] == ["trafficking_funnel", "front_company", "laundering_cycle",
                                            "cross_bank_layering"]
    hints = {s.name: s.typology_hint for s in sc.schemes}
    assert hints == {"trafficking_funnel": ["fan_in", "funnel_account", "shared_identifiers", "ht_expenses",
                                            "odd_hours_deposits", "cash_without_payroll"],
                     "front_company": ["fan_out", "structuring", "business_without_payroll",
                                       "rapid_pass_through"],
                     "laundering_cycle": ["cycle", "round_trip", "rapid_pass_through",
                                          "business_without_payroll"],
                     "cross_bank_layering": ["rapid_pass_through"]}
    for s in sc.schemes:
        assert isinstance(s, PlantedScheme) and s.description
    assert sc.scheme("front_company").accounts["broker"]


def test_funnel(world):
    sc, ws, _ = world
    s = sc.scheme("trafficking_funnel")
    f = s.accounts["funnel"]
    con = ws.con
    senders, lo, hi, night = con.execute(
        f"SELECT count(DISTINCT {NUM.format('orig_account')}), min(amount), max(amount), "
        "avg(CASE WHEN hour(ts) >= 21 OR hour(ts) < 5 THEN 1 ELSE 0 END) "
        "FROM transactions WHERE bene_account = ? AND orig_account <> 'cash'", [f]).fetchone()
    assert senders >= 40
    assert senders == len(s.role("sender")) + len(s.role("victim"))
    assert 50 <= lo and hi <= 400
    assert night > 0.5
    burst = con.execute(
        f"SELECT max(n) FROM (SELECT count(DISTINCT {NUM.format('b.orig_account')}) n FROM transactions a "
        "JOIN transactions b ON b.bene_account = a.bene_account AND b.ts BETWEEN a.ts AND a.ts + INTERVAL 14 DAY "
        "WHERE a.bene_account = ? AND a.channel = 'transfer' AND b.channel = 'transfer' GROUP BY a.tx_id)",
        [f]).fetchone()[0]
    assert burst >= 15
    places = con.execute("SELECT count(*), count(DISTINCT location) FROM transactions "
                         "WHERE bene_account = ? AND orig_account = 'cash'", [f]).fetchone()
    assert places[0] >= 20 and places[1] >= 5
    landlords = con.execute("SELECT count(DISTINCT bene_account) FROM transactions WHERE orig_account = ? "
                            "AND description LIKE 'RENT%'", [f]).fetchone()[0]
    assert 3 <= landlords == len(s.role("landlord"))
    assert con.execute("SELECT count(*) FROM transactions WHERE bene_account = ? AND channel = 'payroll'",
                       [f]).fetchone()[0] == 0
    lodging = con.execute("SELECT count(*) FROM transactions t JOIN accounts a ON a.account_id = t.bene_account "
                          "WHERE t.orig_account = ? AND t.channel = 'card' AND "
                          "regexp_matches(a.owner_name, 'Inn|Motel|Lodge|Suites')", [f]).fetchone()[0]
    assert lodging >= 10
    # nobody else in the population comes close to this fan-in of person-to-person payments
    others = con.execute(f"SELECT max(n) FROM (SELECT bene_account, count(DISTINCT {NUM.format('orig_account')}) n "
                         "FROM transactions WHERE channel = 'transfer' AND bene_account <> ? GROUP BY 1)",
                         [f]).fetchone()[0]
    assert others < 15


def test_front_company_and_broker(world):
    sc, ws, _ = world
    s = sc.scheme("front_company")
    front, broker = s.accounts["front"], s.accounts["broker"]
    workers = s.role("worker")
    assert 15 <= len(workers) <= 30
    con = ws.con
    paid = [r[0] for r in con.execute(
        "SELECT DISTINCT bene_account FROM transactions WHERE orig_account = ? AND channel IN ('transfer', 'ach') "
        "ORDER BY 1", [broker]).fetchall()]
    assert len(paid) >= 15 and sorted(workers) == paid
    # visible as a burst: many workers paid within two weeks, each pair lasting at most two
    # calendar months (not a standing payroll relationship)
    burst = con.execute(
        "SELECT max(n) FROM (SELECT count(DISTINCT b.bene_account) n FROM transactions a JOIN transactions b "
        "ON b.orig_account = a.orig_account AND b.ts BETWEEN a.ts AND a.ts + INTERVAL 14 DAY "
        "WHERE a.orig_account = ? AND a.channel IN ('transfer', 'ach') AND b.channel IN ('transfer', 'ach') "
        "GROUP BY a.tx_id)", [broker]).fetchone()[0]
    assert burst >= 10
    months = con.execute("SELECT max(n) FROM (SELECT count(DISTINCT date_trunc('month', ts)) n FROM transactions "
                         "WHERE orig_account = ? AND channel <> 'card' GROUP BY bene_account)", [broker]).fetchone()[0]
    assert months <= 2
    small = con.execute("SELECT max(amount) FROM transactions WHERE orig_account = ? AND channel <> 'card'",
                        [broker]).fetchone()[0]
    assert small < 1000
    assert con.execute("SELECT count(*) FROM transactions WHERE orig_account = ? AND bene_account = ? "
                       "AND channel = 'ach'", [front, broker]).fetchone()[0] >= 4
    cash = con.execute("SELECT count(*), max(amount) FROM transactions WHERE orig_account = ? "
                       "AND bene_account = 'cash'", [front]).fetchone()
    assert cash[0] >= 4 and 4000 < cash[1] < 10000
    clients = con.execute("SELECT count(DISTINCT orig_account) FROM transactions WHERE bene_account = ?",
                          [front]).fetchone()[0]
    assert clients >= 3
    # no payroll and no payroll tax, unlike ordinary employers
    assert con.execute("SELECT count(*) FROM transactions WHERE orig_account = ? AND "
                       "(bene_account = 'IRS-EFTPS' OR channel = 'payroll')", [front]).fetchone()[0] == 0
    assert con.execute("SELECT count(DISTINCT orig_account) FROM transactions WHERE bene_account = 'IRS-EFTPS'"
                       ).fetchone()[0] >= 5
    # the workers have no other income
    other = con.execute(f"SELECT count(*) FROM transactions WHERE bene_account IN ({','.join('?' * len(workers))}) "
                        f"AND {NUM.format('orig_account')} <> {NUM.format('?')}", [*workers, broker]).fetchone()[0]
    assert other == 0


def _edges(con, a, b):
    """The payer's bank's record of each transfer from ``a`` to ``b`` (a wire carries the payee's
    account as keyed, e.g. ``HCB115833``; the receiving bank's own record is left out)."""
    return con.execute(f"""SELECT t.ts, t.amount FROM transactions t JOIN sources s USING (source_id)
                           WHERE {NUM.format('t.orig_account')} = {NUM.format('?')}
                             AND {NUM.format('t.bene_account')} = {NUM.format('?')}
                             AND upper(left(s.file_name, 3)) = left(?, 3) ORDER BY t.ts""", [a, b, a]).fetchall()


def test_laundering_cycle(world):
    sc, ws, _ = world
    s = sc.scheme("laundering_cycle")
    a, b, c, d = (s.accounts[k] for k in ("shell_a", "shell_b", "shell_c", "shell_d"))
    con = ws.con
    ab, bc, ca = _edges(con, a, b), _edges(con, b, c), _edges(con, c, a)
    assert len(ab) == len(bc) == len(ca) >= 3
    for (t1, x1), (t2, x2), (t3, x3) in zip(ab, bc, ca):
        assert timedelta(days=1) <= t2.date() - t1.date() <= timedelta(days=3)
        assert timedelta(days=1) <= t3.date() - t2.date() <= timedelta(days=3)
        assert 0.95 <= x2 / x1 < 1 and 0.95 <= x3 / x2 < 1
        assert x1 > 10000
    ad, da = _edges(con, a, d), _edges(con, d, a)
    assert len(ad) == len(da) >= 2
    for (t1, x1), (t2, x2) in zip(ad, da):
        assert timedelta(0) < t2 - t1 <= timedelta(days=6)
        assert 0.97 <= x2 / x1 < 1
    # the three shells bank at three different banks
    banks = con.execute("SELECT count(DISTINCT bank) FROM accounts WHERE account_id IN (?, ?, ?)",
                        [a, b, c]).fetchone()[0]
    assert banks == 3


def test_defaults_size_and_speed(tmp_path):
    import time

    t = time.perf_counter()
    sc = generate(tmp_path / "big")
    dt = time.perf_counter() - t
    assert 80_000 <= sc.n_transactions <= 200_000
    assert sc.n_accounts >= 3000
    assert sc.start == date(2026, 1, 1) and sc.end == date(2026, 6, 30)
    assert dt < 15  # typically 2-3 s


def test_account_registers(world):
    sc, ws, _ = world
    assert len(sc.account_files) == 3
    regs = ws.registers
    assert all(r.quarantined == 0 and r.read > 0 for r in regs), [(r.file, r.quarantined) for r in regs]
    assert [r.read for r in regs] == [sc.rows_per_account_file[c.name] for c, _ in sc.account_files]
    con = ws.con
    # every account the three banks hold (that appears in the transactions) has a record, no other
    held = con.execute("""SELECT count(DISTINCT a) FROM (SELECT orig_account a FROM transactions UNION ALL
                          SELECT bene_account FROM transactions) WHERE regexp_matches(a, '^(FNB|HCB|ACB)-')""").fetchone()[0]
    assert sum(r.stored for r in regs) == held
    assert con.execute("SELECT count(*) FROM accounts WHERE json_extract_string(attributes, '$.kyc_source_id') "
                       "IS NOT NULL AND (kind NOT IN ('individual', 'business') OR "
                       "json_extract_string(attributes, '$.address_norm') IS NULL OR "
                       "json_extract_string(attributes, '$.phone_norm') IS NULL)").fetchone()[0] == 0
    # businesses carry a category or NAICS code (merchants, landlords, the front, the broker, shells)
    assert con.execute("SELECT count(*) FROM accounts WHERE kind = 'business' AND "
                       "coalesce(json_extract_string(attributes, '$.category'), "
                       "json_extract_string(attributes, '$.naics')) IS NULL").fetchone()[0] <= 5
    front = sc.scheme("front_company")
    assert con.execute("SELECT kind FROM accounts WHERE account_id = ?", [front.accounts["broker"]]).fetchone()[0] \
        == "business"
    # the victims: unrelated people whose records give the funnel's rented residences and its phone
    s = sc.scheme("trafficking_funnel")
    victims = s.role("victim")
    assert 5 <= len(victims) <= 7
    rows = con.execute(f"""SELECT account_id, owner_name, json_extract_string(attributes, '$.address_norm'),
                                  json_extract_string(attributes, '$.phone_norm')
                           FROM accounts WHERE account_id IN ({','.join('?' * len(victims))})""", victims).fetchall()
    assert len({r[1].split()[-1] for r in rows}) == len(victims)          # distinct family names
    addrs = [r[2] for r in rows]
    assert 2 <= len(set(addrs)) <= 3 and max(addrs.count(a) for a in addrs) >= 2
    funnel_phone = con.execute("SELECT json_extract_string(attributes, '$.phone_norm') FROM accounts "
                               "WHERE account_id = ?", [s.accounts["funnel"]]).fetchone()[0]
    assert sum(r[3] == funnel_phone for r in rows) >= 3
    rents = [d for (d,) in con.execute("SELECT DISTINCT description FROM transactions WHERE orig_account = ? "
                                       "AND description LIKE 'RENT %'", [s.accounts["funnel"]]).fetchall()]
    for a in set(addrs):  # each shared address is a unit the funnel pays rent for
        street = a.split(" #")[0]
        assert any(d.upper().startswith("RENT " + street) for d in rents), (a, rents)
    # victims are fed with cash at night and forward it to the funnel
    n = con.execute(f"""SELECT count(DISTINCT orig_account) FROM transactions WHERE bene_account = ?
                        AND orig_account IN ({','.join('?' * len(victims))})""",
                    [s.accounts["funnel"], *victims]).fetchone()[0]
    assert n == len(victims)
    # the funnel: cash deposited away from Houston is withdrawn in Houston within hours
    quick = con.execute("""SELECT count(*) FROM transactions d JOIN transactions w ON w.orig_account = d.bene_account
                           AND w.bene_account = 'cash' AND w.ts BETWEEN d.ts AND d.ts + INTERVAL 8 HOUR
                           WHERE d.orig_account = 'cash' AND d.bene_account = ? AND d.location NOT LIKE '%Houston%'
                           AND w.location LIKE '%Houston%'""", [s.accounts["funnel"]]).fetchone()[0]
    assert quick >= 3


def test_parties_at_several_banks_and_transfers_both_banks_report(world):
    """Some parties bank at two or three of the banks, each register spelling them its own way with
    the same address or phone; a transfer between two of the banks is a debit at the payer's bank
    and a credit at the payee's, with the payer's account written the receiving bank's way."""
    sc, ws, _ = world
    con = ws.con
    assert len(sc.parties) >= 10 and any(len(g) == 3 for g in sc.parties)
    spelled = shared = 0
    for g in sc.parties:
        rows = con.execute(f"""SELECT owner_name, json_extract_string(attributes, '$.address_norm'),
                                      json_extract_string(attributes, '$.phone_norm'), bank
                               FROM accounts WHERE account_id IN ({','.join('?' * len(g))})""", g).fetchall()
        assert len(rows) == len(g) and len({r[3] for r in rows}) == len(g)        # one account per bank
        spelled += len({r[0] for r in rows}) > 1
        shared += all(r[1] == rows[0][1] or r[2] == rows[0][2] for r in rows)  # same address or phone
    assert spelled >= len(sc.parties) - 2 and shared >= 0.8 * len(sc.parties)
    s = sc.scheme("cross_bank_layering")
    src, b, c = s.accounts["source"], s.accounts["layer_b"], s.accounts["layer_c"]
    legs = con.execute(f"""SELECT upper(left(s.file_name, 3)), t.orig_account, t.bene_account, t.amount
                           FROM transactions t JOIN sources s USING (source_id)
                           WHERE {NUM.format('t.orig_account')} = {NUM.format('?')}
                             AND {NUM.format('t.bene_account')} = {NUM.format('?')}""", [src, b]).fetchall()
    assert len(legs) == 2 * len(s.transactions)
    assert {x[0] for x in legs} == {"FNB", "HCB"} and src not in {x[1] for x in legs if x[0] == "HCB"}
    assert con.execute(f"SELECT count(*) FROM transactions WHERE bene_account = ? AND "
                       f"{NUM.format('orig_account')} = {NUM.format('?')}", [c, b]).fetchone()[0] == len(s.transactions)
