"""The synthetic world: an ordinary population plus three planted schemes.

Everything is drawn from one ``random.Random(seed)``; no set or hash order is ever iterated, so
the same seed gives the same transactions (and the same bytes once written).

A transaction is the tuple ``(t, seq, payer, payee, cents, kind, description, location)``:
``t`` seconds since the first day 00:00, ``seq`` its creation number (a stable tie-break),
``cents`` the amount in cents, ``kind`` one of :data:`KINDS`. ``CASH`` stands for the cash
side of a deposit or withdrawal.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

from moneytrail.synth import names as N
from moneytrail.synth.model import PlantedScheme

CASH = "cash"
KINDS = ("payroll", "ach", "billpay", "check", "card", "p2p", "wire",
         "atm_wd", "teller_wd", "cash_dep", "atm_dep")
CASH_KINDS = ("atm_wd", "teller_wd", "cash_dep", "atm_dep")

# The three subpoenaed banks (A writes a transfers ledger + a cash journal, B and C statements)
BANKS = {"A": ("FNB", "First National Bank"),
         "B": ("HCB", "Harbor Community Bank"),
         "C": ("ACB", "Alpine Continental Bank")}
# Banks outside the subpoena: their accounts only appear as counterparties.
EXTERNAL_BANKS = (("STB", "Summit Trust Bank"), ("PCU", "Pelican Federal Credit Union"),
                  ("CNB", "Coastal National Bank"), ("MSB", "Midsouth Bank"))
OFFSHORE_BANK = ("CIB", "Caribe International Bank (Belize)")
DAY = 86400


@dataclass(slots=True)
class Account:
    id: str
    name: str
    bank: str          # 'A' | 'B' | 'C' | 'X' (external)
    bank_name: str
    role: str
    city: tuple[str, str] | None = None
    extra: dict = field(default_factory=dict)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    last = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][m - 1]
    return date(y, m, min(d.day, last))


class World:
    def __init__(self, seed: int, start: date, months: int):
        self.rng = random.Random(seed)
        self.start = start
        self.end = add_months(start, months) - timedelta(days=1)
        self.ndays = (self.end - start).days + 1
        self.wd0 = start.weekday()
        self.accounts: dict[str, Account] = {}
        self.txs: list[tuple] = []
        self._used_nums: dict[str, set[int]] = {}
        self._used_names: set[str] = set()
        # month boundaries: (first day index, number of days) for each calendar month in range
        self.months: list[tuple[int, int]] = []
        d = start.replace(day=1)
        while True:
            nxt = add_months(d, 1)
            a = max(0, (d - start).days)
            b = min(self.ndays, (nxt - start).days)
            if a >= self.ndays:
                break
            if b > a:
                self.months.append((a, b - a))
            d = nxt

    # ---- accounts -------------------------------------------------------------------------

    def new_id(self, prefix: str, digits: int = 6) -> str:
        used = self._used_nums.setdefault(prefix, set())
        lo, hi = 10 ** (digits - 1), 10 ** digits
        while True:
            n = self.rng.randrange(lo, hi)
            if n not in used:
                used.add(n)
                return f"{prefix}-{n}"

    def account(self, name: str, bank: str, role: str, city=None, *, prefix: str | None = None,
                bank_name: str | None = None, acct_id: str | None = None) -> Account:
        if bank in BANKS:
            prefix, bank_name = BANKS[bank]
        elif prefix is None:
            prefix, bank_name = self.rng.choice(EXTERNAL_BANKS)
        aid = acct_id or self.new_id(prefix)
        a = Account(aid, name, bank, bank_name or "", role, city)
        self.accounts[aid] = a
        return a

    def person_name(self) -> str:
        r = self.rng
        while True:
            n = f"{r.choice(N.FIRST_NAMES)} {r.choice(N.INITIALS)}. {r.choice(N.LAST_NAMES)}"
            if n not in self._used_names:
                self._used_names.add(n)
                return n

    def unique(self, make) -> str:
        for _ in range(1000):
            n = make()
            if n not in self._used_names:
                self._used_names.add(n)
                return n
        raise RuntimeError("ran out of names")

    def biz_name(self, trades=N.TRADES) -> str:
        r = self.rng

        def make():
            head = r.choice(N.LAST_NAMES) if r.random() < 0.55 else r.choice(N.BIZ_ADJ)
            return f"{head} {r.choice(trades)} {r.choice(N.BIZ_SUFFIX)}"
        return self.unique(make)

    def pick_bank(self, wa=0.5, wb=0.3) -> str:
        x = self.rng.random()
        return "A" if x < wa else ("B" if x < wa + wb else "C")

    # ---- time ---------------------------------------------------------------------------

    def weekday(self, day: int) -> int:
        return (self.wd0 + day) % 7

    def business_day(self, day: int, back: bool = False) -> int:
        """Move ``day`` off a weekend (forward, or backward with ``back``); stays in range."""
        step = -1 if back else 1
        while 0 <= day < self.ndays and self.weekday(day) >= 5:
            day += step
        return min(max(day, 0), self.ndays - 1)

    def secs(self, h0: float, h1: float) -> int:
        return int(self.rng.uniform(h0 * 3600, h1 * 3600 - 1))

    def odd_secs(self) -> int:
        """A time at night (21:00-05:00), most often after midnight."""
        h = self.rng.choice((21, 22, 23, 23, 0, 0, 1, 1, 2, 2, 3, 4))
        return h * 3600 + self.rng.randrange(3600)

    # ---- transactions -------------------------------------------------------------------

    def add(self, day: int, sec: int, payer: str, payee: str, amount: float, kind: str,
            desc: str, loc: str | None = None) -> None:
        if not (0 <= day < self.ndays):
            return
        cents = int(round(amount * 100))
        if cents <= 0 or payer == payee:
            return
        self.txs.append((day * DAY + sec, len(self.txs), payer, payee, cents, kind, desc, loc))


def _lognorm(r: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, r.lognormvariate(math.log(median), sigma)))


def _zipf_weights(r: random.Random, n: int, s: float = 0.9) -> list[float]:
    w = [1.0 / (i + 1) ** s for i in range(n)]
    r.shuffle(w)
    return w


def _loc(city: tuple[str, str]) -> str:
    return f"{city[0]}, {city[1]}"


# Card purchase categories: weight, median, sigma, min, max, hours
CARD = {
    "grocery": (0.30, 52, 0.70, 4, 380, (8, 21.5)),
    "restaurant": (0.27, 23, 0.60, 4, 180, None),
    "fuel": (0.15, 42, 0.35, 10, 110, (6, 21)),
    "online": (0.10, 30, 0.90, 2, 600, (7, 24)),
    "pharmacy": (0.05, 18, 0.70, 3, 200, (9, 20)),
    "retail": (0.09, 45, 0.80, 3, 900, (9, 21)),
    "rideshare": (0.02, 17, 0.50, 6, 90, (7, 24)),
    "prepaid": (0.006, 40, 0.30, 15, 80, (9, 21)),
    "lodging": (0.003, 120, 0.40, 55, 450, (14, 23)),
    "airline": (0.003, 260, 0.40, 90, 900, (8, 23)),
    "bus": (0.002, 55, 0.40, 20, 160, (6, 22)),
    "ads": (0.002, 25, 0.50, 10, 90, (8, 23)),
    "remittance": (0.004, 220, 0.50, 40, 1200, (9, 22)),
}
CARD_CATS = tuple(CARD)
CARD_W = tuple(CARD[c][0] for c in CARD_CATS)
P2P_MEMOS = ("dinner", "rent share", "concert tix", "thanks!", "groceries", "gas money",
             "birthday", "bills", "", "", "lunch", "uber", "game tickets", "babysitting",
             "loan", "pay back", "trip", "drinks")


@dataclass
class Population:
    individuals: list[Account]
    employers: list[Account]
    landlords: list[Account]
    merchants: dict[str, list[Account]]       # category -> merchants
    utilities: dict[str, Account]
    lodging: list[Account]
    irs: Account
    ssa: Account
    lenders: list[Account]
    suppliers: list[Account]
    clients: list[Account]
    home_w: list[int]
    gig_platform: Account | None = None   # pays gig workers weekly by ACH
    payroll_provider: Account | None = None  # runs payroll (and its taxes) for property managers


# ==========================================================================================
# Ordinary population
# ==========================================================================================

def build_population(w: World, n_accounts: int) -> Population:
    r = w.rng
    scale = min(1.0, n_accounts / 3000)
    homes = [(c, s) for c, s, _ in N.HOME_CITIES]
    home_w = [wt for _, _, wt in N.HOME_CITIES]

    utilities = {}
    for key, name, bank, _share, _rng, _fixed in N.UTILITIES:
        utilities[key] = w.account(name, bank, "utility", ("Houston", "TX"))

    irs = w.account("IRS - EFTPS (US Treasury)", "X", "government", acct_id="IRS-EFTPS",
                    bank_name="US Treasury")
    ssa = w.account("Social Security Administration", "X", "government", acct_id="SSA-TREAS-310",
                    bank_name="US Treasury")
    lenders = [w.account("Summit Home Loans", "X", "lender", prefix="STB", bank_name="Summit Trust Bank"),
               w.account("Coastal Mortgage Servicing", "X", "lender", prefix="CNB",
                         bank_name="Coastal National Bank")]
    gig = w.account("QuickDash Delivery Inc", "X", "gig_platform", prefix="STB", bank_name="Summit Trust Bank")
    adp = w.account("ADP Payroll Services", "X", "payroll_provider", prefix="CNB",
                    bank_name="Coastal National Bank")

    # merchants: per-city brands in a subset of home cities, single online/travel accounts
    merchants: dict[str, list[Account]] = {}
    n_cities = max(1, round(len(homes) * scale))
    for cat, brand, per_city in N.MERCHANTS:
        if per_city:
            k = max(1, min(len(homes), n_cities + r.randint(-1, 1)))
            cities = [homes[0]] + r.sample(homes[1:], k - 1) if r.random() < 0.8 else r.sample(homes, k)
            for c in cities:
                store = r.randint(100, 9899)
                a = w.account(f"{brand} #{store:04d}", w.pick_bank(0.55, 0.25), "merchant", c)
                a.extra["desc"] = f"{brand.upper()} #{store:04d} {c[0].upper()} {c[1]}"
                a.extra["cat"] = cat
                merchants.setdefault(cat, []).append(a)
        else:
            a = w.account(brand, w.pick_bank(0.6, 0.2), "merchant", None)
            a.extra["desc"] = brand.upper() + (" ONLINE" if cat in ("online", "ads", "remittance") else "")
            a.extra["cat"] = cat
            merchants.setdefault(cat, []).append(a)
    lodging = []
    for c in list(N.TRAVEL_CITIES) + homes[:3]:
        for brand in r.sample(N.LODGING, r.randint(1, 2)):
            a = w.account(f"{brand} {c[0]}", w.pick_bank(0.4, 0.3), "merchant", c)
            a.extra["desc"] = f"{brand.upper()} {c[0].upper()} {c[1]}"
            a.extra["cat"] = "lodging"
            lodging.append(a)
    merchants["lodging"] = lodging

    # businesses
    n_land = max(6, n_accounts // 60)
    landlords = []
    for i in range(n_land):
        city = r.choices(homes, home_w)[0]
        if i < n_land // 2:
            nm = w.unique(lambda: f"{r.choice(N.BIZ_ADJ + N.LAST_NAMES)} {r.choice(N.LANDLORD_BIZ)} "
                                  f"{r.choice(('LLC', 'LLC', 'Inc', 'LP'))}")
        else:
            nm = w.person_name()
        a = w.account(nm, w.pick_bank(), "landlord", city)
        a.extra["street"] = r.choice(N.STREETS)
        a.extra["num"] = r.randint(100, 12999)
        a.extra["company"] = i < n_land // 2
        landlords.append(a)
    # property managers hold most rentals (largest first); individual landlords a few units each
    n_co = n_land // 2
    land_w = [1.0 / (i + 1) ** 0.8 for i in range(n_co)] + [r.uniform(0.01, 0.04) for _ in range(n_land - n_co)]

    n_emp = max(10, n_accounts // 28)
    employers = []
    for _ in range(n_emp):
        a = w.account(w.biz_name(), w.pick_bank(), "employer", r.choices(homes, home_w)[0])
        a.extra["ein"] = f"{r.randint(10, 99)}-{r.randint(1000000, 9999999)}"
        a.extra["sched"] = "biweekly" if r.random() < 0.65 else "monthly"
        a.extra["phase"] = r.randint(0, 1)
        a.extra["staff"] = []
        employers.append(a)
    emp_w = _zipf_weights(r, n_emp, 0.9)

    clients = [w.account(w.biz_name(), "X", "client") for _ in range(max(30, n_accounts // 12))]
    suppliers = [w.account(w.biz_name(), "X", "supplier") for _ in range(max(8, n_accounts // 100))]

    n_biz = sum(1 for a in w.accounts.values() if a.bank in BANKS)  # outside accounts don't count
    n_ind = max(150, n_accounts - n_biz)
    individuals = []
    for _ in range(n_ind):
        a = w.account(w.person_name(), w.pick_bank(), "person", r.choices(homes, home_w)[0])
        individuals.append(a)

    pop = Population(individuals, employers, landlords, merchants, utilities, lodging, irs, ssa,
                     lenders, suppliers, clients, home_w, gig, adp)

    # ---- the individuals' lives --------------------------------------------------------
    by_city: dict[tuple, dict[str, list[Account]]] = {}
    for cat, lst in merchants.items():
        for m in lst:
            if m.city is not None:
                by_city.setdefault(m.city, {}).setdefault(cat, []).append(m)

    for p in individuals:
        x = r.random()
        if x < 0.82:
            e = r.choices(employers, emp_w)[0]
            gross = _lognorm(r, 48000, 0.45, 21000, 240000)
            e.extra["staff"].append((p, gross, r.random() < 0.5))
        elif x < 0.92:
            p.extra["ssa"] = (round(_lognorm(r, 1600, 0.3, 700, 3800), 2), r.choice((1, 2, 3)))
        else:
            p.extra["gig"] = round(_lognorm(r, 420, 0.45, 120, 1400), 2)  # typical weekly payout
        _person_life(w, pop, p, landlords, land_w, by_city)

    _friend_p2p(w, individuals)
    for e in employers:
        _employer_life(w, pop, e)
    _landlord_life(w, pop)
    _sole_proprietors(w, pop, max(4, n_accounts // 150))
    return pop


SOLE_TRADES = ("Handyman Services", "Lawn Care", "House Cleaning", "Mobile Detailing", "Tutoring",
               "Photography", "Pet Grooming", "Bookkeeping")


def _sole_proprietors(w: World, pop: Population, n: int) -> None:
    """One-person businesses: modest revenue from customers, supplies and fuel, the owner's draw;
    no payroll (there are no employees) — and revenue well under business_without_payroll's floor."""
    r = w.rng
    for _ in range(n):
        while True:
            owner, trade = r.choice(pop.individuals), r.choice(SOLE_TRADES)
            nm = f"{owner.name.split()[-1]} {trade} LLC"
            if nm not in w._used_names:
                w._used_names.add(nm)
                break
        b = w.account(nm, w.pick_bank(), "sole_prop", owner.city)
        b.extra["trade"] = trade
        monthly = r.uniform(1500, 6500)
        custs = r.sample(pop.clients, min(len(pop.clients), r.randint(3, 8)))
        for m0, mlen in w.months:
            k = r.randint(2, 6)
            for _ in range(k):
                c = r.choice(custs)
                kind = r.choice(("ach", "check", "check"))
                w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(8, 18), c.id, b.id,
                      round(monthly / k * r.uniform(0.6, 1.4), 2), kind,
                      f"{c.name.upper()} INV {r.randint(100, 999)}" if kind == "ach"
                      else f"CHECK DEPOSIT {c.name.upper()} #{r.randint(1000, 9999)}")
            for _ in range(r.randint(2, 5)):
                cat = r.choice(("retail", "fuel"))
                card_purchase(w, b, r.choice(pop.merchants[cat]), cat, m0 + r.randrange(mlen))
            w.add(m0 + min(mlen - 1, 27), w.secs(9, 20), b.id, owner.id, round(monthly * r.uniform(0.4, 0.6), 2),
                  "p2p", f"OWNER DRAW {owner.name.upper()}")


def _favorites(r: random.Random, p: Account, merchants, by_city) -> dict[str, list[Account]]:
    local = by_city.get(p.city, {})
    fav = {}
    for cat in CARD_CATS:
        pool = local.get(cat) or merchants.get(cat) or []
        if not pool:
            continue
        if cat == "lodging":
            fav[cat] = pool
        else:
            fav[cat] = r.sample(pool, min(len(pool), r.randint(1, 3)))
    return fav


def card_purchase(w: World, p: Account, m: Account, cat: str, day: int, amount: float | None = None,
                  sec: int | None = None) -> None:
    r = w.rng
    _, med, sig, lo, hi, hours = CARD[cat]
    if amount is None:
        amount = _lognorm(r, med, sig, lo, hi)
    if sec is None:
        if hours is None:  # restaurants: lunch or dinner
            sec = w.secs(11, 14) if r.random() < 0.45 else w.secs(17, 22)
        else:
            sec = w.secs(*hours)
    loc = _loc(m.city) if m.city else None
    w.add(day, sec, p.id, m.id, amount, "card", f"POS PURCHASE {m.extra['desc']}", loc)


def atm_location(w: World, bank: str, city: tuple[str, str]) -> str:
    r = w.rng
    short = BANKS[bank][0] if bank in BANKS else "NETWORK"
    return f"ATM {short} {r.randint(100, 9999)} {r.choice(N.STREETS)}, {city[0]} {city[1]}"


def _person_life(w: World, pop: Population, p: Account, landlords, land_w, by_city) -> None:
    r = w.rng
    fav = _favorites(r, p, pop.merchants, by_city)
    cats = [c for c in CARD_CATS if c in fav]
    cum = list(accumulate(CARD[c][0] for c in cats))
    card_rate = r.choice((1, 1, 1.5, 2, 2.5, 3, 3.5, 4.5))
    atm_rate = r.choice((0, 0.25, 0.5, 0.5, 1, 1, 1.5, 2))
    atms = [atm_location(w, p.bank, p.city) for _ in range(r.randint(1, 3))]

    # housing
    x = r.random()
    housing = None
    if x < 0.62:
        ll = r.choices(landlords, land_w)[0]
        rent = round(r.uniform(850, 2400) / 5) * 5
        unit = f"{ll.extra['num']} {ll.extra['street']} Apt {r.randint(1, 40)}{r.choice('ABCD')}"
        kind = r.choices(("ach", "billpay", "check"), (0.55, 0.15, 0.30))[0]
        housing = ("rent", ll, rent, unit, kind, r.randint(1, 4))
        p.extra["home"] = (unit, ll.city)
        p.extra["landlord"] = ll.id
    elif x < 0.90:
        lender = r.choice(pop.lenders)
        housing = ("mortgage", lender, round(r.uniform(1100, 3600), 2), f"LOAN {r.randint(10**8, 10**9 - 1)}",
                   "ach", r.randint(1, 12))
    utils = []
    for key, _name, _bank, share, (lo, hi), fixed in N.UTILITIES:
        if r.random() < share:
            utils.append((pop.utilities[key], r.uniform(lo, hi), fixed, r.randint(3, 27),
                          r.randint(1000, 9999), key))

    ssa = p.extra.get("ssa")
    for mi, (m0, mlen) in enumerate(w.months):
        mon = (w.start.month - 1 + mi) % 12 + 1
        # rent / mortgage
        if housing:
            what, to, amt, ref, kind, dday = housing
            day = m0 + min(dday, mlen) - 1
            if kind == "check":
                day += r.randint(1, 4)
                no = r.randint(1001, 4999)
                w.add(day, w.secs(9, 17), p.id, to.id, amt, "check", f"CHECK #{no} RENT {ref}")
            elif what == "rent":
                w.add(day, w.secs(0, 24), p.id, to.id, amt, kind, f"RENT {ref} {to.name.upper()}")
            else:
                w.add(day, w.secs(1, 7), p.id, to.id, amt, "ach", f"{to.name.upper()} MORTGAGE PMT {ref}")
        # utilities
        for u, base, fixed, due, acct, key in utils:
            summer = 1.45 if key == "electric" and mon in (6, 7, 8, 9) else 1.0
            amt = base if fixed else base * r.uniform(0.8, 1.2) * summer
            day = m0 + min(due, mlen) - 1
            w.add(day, w.secs(0, 8), p.id, u.id, round(amt, 2), "billpay",
                  f"{u.name.upper()} AUTOPAY ACCT ****{acct}")
        # card purchases
        n = max(0, int(r.gauss(card_rate, card_rate * 0.35) + 0.5))
        for _ in range(n):
            cat = r.choices(cats, cum_weights=cum)[0]
            card_purchase(w, p, r.choice(fav[cat]), cat, m0 + r.randrange(mlen))
        # ATM
        na = int(atm_rate) + (1 if r.random() < atm_rate - int(atm_rate) else 0)
        for _ in range(na):
            amt = r.choice((20, 40, 60, 60, 80, 100, 100, 120, 140, 160, 200, 200, 300, 400))
            w.add(m0 + r.randrange(mlen), w.secs(6, 23.5), p.id, CASH, amt, "atm_wd",
                  "ATM WITHDRAWAL", r.choice(atms))
        if ssa:
            amt, wk = ssa
            # 2nd/3rd/4th Wednesday of the month
            first_wed = (2 - w.weekday(m0)) % 7
            day = m0 + first_wed + 7 * wk
            if day < m0 + mlen:
                w.add(day, w.secs(1, 5), pop.ssa.id, p.id, amt, "ach", "SSA TREAS 310 XXSOC SEC")
        if p.extra.get("gig"):
            # weekly platform payouts by ACH (Tuesdays), plus cash tips now and then
            first_tue = m0 + (1 - w.weekday(m0)) % 7
            for day in range(first_tue, m0 + mlen, 7):
                if r.random() < 0.85:
                    w.add(day, w.secs(1, 5), pop.gig_platform.id, p.id,
                          round(p.extra["gig"] * r.uniform(0.6, 1.4), 2), "ach",
                          "QUICKDASH DELIVERY INC DRIVER PAYOUT PPD")
            for _ in range(r.randint(1, 3)):
                amt = round(r.uniform(80, 700) / 10) * 10
                w.add(m0 + r.randrange(mlen), w.secs(9, 18), CASH, p.id, amt, "cash_dep",
                      "CASH DEPOSIT", f"BRANCH {r.randint(1, 60):03d} {p.city[0]} {p.city[1]}")


def _friend_p2p(w: World, individuals: list[Account]) -> None:
    """Small friend circles; occasional small payments, sometimes paid back within days."""
    r = w.rng
    people = list(individuals)
    r.shuffle(people)
    i = 0
    while i < len(people):
        k = r.randint(3, 6)
        group = people[i:i + k]
        i += k
        if len(group) < 2:
            break
        for p in group:
            for m0, mlen in w.months:
                if r.random() < 0.35:
                    q = r.choice([g for g in group if g is not p])
                    amt = r.choice((10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 120, 150)) + (
                        r.choice((0, 0, 0.5, 0.25)) if r.random() < 0.3 else 0)
                    day = m0 + r.randrange(mlen)
                    memo = r.choice(P2P_MEMOS)
                    w.add(day, w.secs(8, 23.9), p.id, q.id, amt, "p2p",
                          f"ZELLE {p.name.upper()} TO {q.name.upper()} {memo}".strip())
                    if r.random() < 0.35:
                        back = round(amt * r.choice((1, 1, 0.5, 1.2)), 2)
                        w.add(day + r.randint(1, 4), w.secs(8, 23.9), q.id, p.id, back, "p2p",
                              f"ZELLE {q.name.upper()} TO {p.name.upper()} pay back")


def paydays(w: World, e: Account) -> list[int]:
    days = []
    if e.extra["sched"] == "biweekly":
        first_fri = (4 - w.wd0) % 7 + 7 * e.extra["phase"]
        days = list(range(first_fri, w.ndays, 14))
    else:
        for m0, mlen in w.months:
            days.append(w.business_day(m0 + mlen - 1, back=True))
    return days


def _employer_life(w: World, pop: Population, e: Account) -> None:
    r = w.rng
    staff = e.extra["staff"]
    pd = paydays(w, e)
    per_year = 26 if e.extra["sched"] == "biweekly" else 12
    ename = e.name.upper()
    for day in pd:
        total = 0.0
        sec0 = w.secs(2, 6)
        for p, gross, hourly in staff:
            net = gross * 0.76 / per_year * (r.uniform(0.88, 1.1) if hourly else 1.0)
            net = round(net, 2)
            total += net
            w.add(day, sec0 + r.randrange(600), e.id, p.id, net, "payroll",
                  f"DIRECT DEP {ename} PAYROLL PPD ID {e.extra['ein']}")
        if total:
            tax = round(total * r.uniform(0.30, 0.36), 2)
            w.add(w.business_day(day + 1), w.secs(8, 16), e.id, pop.irs.id, tax, "ach",
                  f"IRS USATAXPYMT EFTPS 941 {e.extra['ein']}")
    monthly_payroll = sum(g for _, g, _ in staff) / 12.0
    # revenue from clients (external businesses and other employers)
    target = max(6000.0, monthly_payroll * r.uniform(1.3, 1.7))
    avg_inv = _lognorm(r, 2500, 0.9, 300, 40000)
    k = int(min(25, max(2, target / avg_inv)))
    n_cl = r.randint(3, 12)
    cl = r.sample(pop.clients, min(n_cl, len(pop.clients)))
    others = [x for x in pop.employers if x is not e]
    if others and r.random() < 0.5:
        cl += r.sample(others, min(len(others), r.randint(1, 3)))
    sups = r.sample(pop.suppliers, min(len(pop.suppliers), r.randint(1, 4)))
    office = r.choice(pop.landlords) if r.random() < 0.5 else None
    office_rent = round(r.uniform(1800, 9000), 2)
    for m0, mlen in w.months:
        for _ in range(k):
            amt = round(target / k * r.uniform(0.5, 1.5), 2)
            c = r.choice(cl)
            kind = "wire" if amt > 15000 and r.random() < 0.5 else r.choices(("ach", "check"), (0.7, 0.3))[0]
            day = w.business_day(m0 + r.randrange(mlen))
            desc = (f"{c.name.upper()} VENDOR PMT INV {r.randint(1000, 99999)}" if kind != "check"
                    else f"CHECK DEPOSIT {c.name.upper()} #{r.randint(1000, 9999)}")
            w.add(day, w.secs(7, 17), c.id, e.id, amt, kind, desc)
        for s in sups:
            if r.random() < 0.8:
                amt = _lognorm(r, 1500, 0.8, 150, 25000)
                w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(8, 17), e.id, s.id, round(amt, 2),
                      r.choice(("ach", "ach", "check")), f"PAYMENT TO {s.name.upper()} INV {r.randint(100, 9999)}")
        if office is not None:
            w.add(w.business_day(m0 + r.randint(0, 4)), w.secs(8, 17), e.id, office.id, office_rent, "ach",
                  f"COMMERCIAL LEASE {office.name.upper()}")
        elec = pop.utilities["electric"].id
        w.add(m0 + r.randint(min(5, mlen - 1), min(25, mlen - 1)), w.secs(0, 6), e.id, elec,
              round(r.uniform(180, 2600), 2), "billpay", f"GULF COAST ELECTRIC CO AUTOPAY {e.extra['ein']}")


def _landlord_life(w: World, pop: Population) -> None:
    r = w.rng
    for ll in pop.landlords:
        sups = r.sample(pop.suppliers, min(len(pop.suppliers), 2))
        lender = r.choice(pop.lenders)
        note = round(r.uniform(3000, 40000), 2)
        staff_cost = round(r.uniform(4000, 15000), 2) if ll.extra.get("company") else 0.0
        for m0, mlen in w.months:
            w.add(w.business_day(m0 + r.randint(5, 12)), w.secs(8, 16), ll.id, lender.id, note, "ach",
                  f"{lender.name.upper()} COMMERCIAL LOAN PMT")
            if staff_cost:  # property managers' staff, paid (with their taxes) through ADP
                for half in (0, 1):
                    pay_day = w.business_day(m0 + min(mlen - 1, 13 + half * 14), back=True)
                    w.add(pay_day, w.secs(1, 5), ll.id, pop.payroll_provider.id,
                          round(staff_cost / 2 * r.uniform(0.97, 1.03), 2), "ach",
                          "ADP WAGE PAY" if half == 0 else "ADP WAGE PAY / ADP TAX")
            for s in sups:
                if r.random() < 0.6:
                    w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(8, 17), ll.id, s.id,
                          round(_lognorm(r, 900, 0.7, 120, 9000), 2), "ach",
                          f"MAINTENANCE {s.name.upper()}")


# ==========================================================================================
# Planted schemes
# ==========================================================================================

def _window(w: World, lo_frac: float, length: tuple[int, int]) -> tuple[int, int]:
    r = w.rng
    length_days = r.randint(*length)
    latest = max(0, w.ndays - length_days - 1)
    s = min(latest, int(w.ndays * lo_frac) + r.randint(0, max(0, int(w.ndays * 0.15))))
    return s, min(w.ndays - 1, s + length_days)


def plant_funnel(w: World, pop: Population) -> PlantedScheme:
    r = w.rng
    funnel = w.account(w.person_name(), "B", "person", ("Houston", "TX"))
    d0, d1 = _window(w, 0.25, (35, 56))
    span = d1 - d0 + 1
    roles = {"funnel": funnel.id}
    fname = funnel.name.upper()

    # fan-in: P2P from many distinct ordinary individuals, mostly at night
    n_send = r.randint(40, 80)
    senders = r.sample(pop.individuals, min(n_send, len(pop.individuals)))
    memos = ("", "", "", "", "thx", "for tonight", "ok", "gift", "roses", "appt", "donation", "xo")
    for i, s in enumerate(senders, 1):
        roles[f"sender_{i:02d}"] = s.id
        for _ in range(r.choices((1, 2, 3), (0.5, 0.35, 0.15))[0]):
            amt = r.choice((50, 60, 75, 80, 100, 100, 120, 150, 150, 160, 200, 200, 250, 300, 350, 400))
            sec = w.odd_secs() if r.random() < 0.7 else w.secs(12, 21)
            w.add(d0 + r.randrange(span), sec, s.id, funnel.id, amt, "p2p",
                  f"ZELLE {s.name.upper()} TO {fname} {r.choice(memos)}".strip())
    # cash deposits at ATMs and branches in many cities
    cities = r.sample(list(N.TRAVEL_CITIES), r.randint(7, 12)) + [("Houston", "TX"), ("Pasadena", "TX")]
    places = []
    for c in cities:
        if r.random() < 0.6:
            places.append(("atm_dep", f"ATM NETWORK {r.randint(100, 9999)} {r.choice(N.STREETS)}, {c[0]} {c[1]}", c))
        else:
            places.append(("cash_dep", f"HCB SHARED BRANCH {r.randint(1, 300):03d} {c[0]} {c[1]}", c))
    home_atms = [atm_location(w, "B", ("Houston", "TX")) for _ in range(2)]
    deposits = []
    for _ in range(r.randint(25, 45)):
        kind, loc, c = r.choice(places)
        amt = r.randrange(60, 481, 10) if r.random() < 0.7 else r.randrange(60, 481, 20)
        sec = w.odd_secs() if kind == "atm_dep" else w.secs(9, 17)
        day = d0 + r.randrange(span)
        w.add(day, sec, CASH, funnel.id, amt, kind,
              "ATM CASH DEPOSIT" if kind == "atm_dep" else "CASH DEPOSIT", loc)
        deposits.append((day, sec, amt, c))
    # the funnel at work: cash put in on the road is taken out in Houston within hours
    away = [d for d in deposits if d[3] in N.TRAVEL_CITIES and d[0] + 1 < w.ndays]
    for day, sec, amt, _c in r.sample(away, min(len(away), r.randint(5, 8))):
        later = sec + r.randint(3600, 7 * 3600)
        w.add(day, later, funnel.id, CASH, max(60, round(amt * r.uniform(0.8, 1.0) / 20) * 20), "atm_wd",
              "ATM WITHDRAWAL", r.choice(home_atms))

    # rents for several residences, each monthly while the scheme runs
    lls = r.sample(pop.landlords, min(len(pop.landlords), r.randint(3, 5)))
    homes = []
    for i, ll in enumerate(lls, 1):
        roles[f"landlord_{i}"] = ll.id
        unit = f"{r.randint(100, 12999)} {r.choice(N.STREETS)} Unit {r.randint(1, 30)}"
        homes.append((unit, ll.city or ("Houston", "TX")))
        rent = round(r.uniform(750, 1500) / 5) * 5
        day = d0 + r.randint(0, 6)
        while day <= d1:
            w.add(day, w.secs(0, 24), funnel.id, ll.id, rent, r.choice(("ach", "billpay", "p2p")),
                  f"RENT {unit} {ll.name.upper()}")
            day += r.randint(28, 31)
    funnel.extra["phone_group"] = "trafficker"

    # the people made to work: accounts opened for them (their records give the residences the
    # funnel rents and the trafficker's phone), fed with cash at night and emptied into the funnel
    taken = {funnel.name.split()[-1]}
    n_vic = r.randint(5, 7)
    victims = []
    for i in range(n_vic):
        def make():
            while True:
                last = r.choice(N.LAST_NAMES)
                if last not in taken:  # unrelated people: no two share a family name
                    return f"{r.choice(N.FIRST_NAMES)} {r.choice(N.INITIALS)}. {last}"
        nm = w.unique(make)
        taken.add(nm.split()[-1])
        v = w.account(nm, r.choice(("B", "B", "A")), "person", r.choice(homes)[1])
        v.extra["home"] = homes[0] if i < 3 else homes[1] if i < 5 else homes[min(2, len(homes) - 1)]
        if i in (0, 1, 3, 5):
            v.extra["phone_group"] = "trafficker"
        v.extra["opened_days_before"] = r.randint(3, 20)
        victims.append(v)
        roles[f"victim_{i + 1}"] = v.id
        vname = v.name.upper()
        day = d0 + r.randint(0, 7)
        while day <= d1:
            c = r.choice(cities)
            loc = f"ATM NETWORK {r.randint(100, 9999)} {r.choice(N.STREETS)}, {c[0]} {c[1]}"
            amt = r.randrange(100, 501, 20)
            sec = w.odd_secs()
            w.add(day, sec, CASH, v.id, amt, "atm_dep", "ATM CASH DEPOSIT", loc)
            if r.random() < 0.85 and day + 1 < w.ndays:
                fwd = min(400, max(50, round(amt * r.uniform(0.8, 1.0) / 10) * 10))
                w.add(day, sec + r.randint(600, 3 * 3600), v.id, funnel.id, fwd, "p2p",
                      f"ZELLE {vname} TO {fname}")
            if r.random() < 0.3:
                m = r.choice(pop.merchants["grocery"])
                card_purchase(w, v, m, "grocery", day + 1, round(r.uniform(8, 40), 2))
            day += r.randint(1, 3)

    # hotels/motels, transport, food, online ads, prepaid phones, cash out
    spend = [("lodging", r.randint(12, 24), (65, 260)), ("bus", r.randint(4, 8), (35, 120)),
             ("rideshare", r.randint(12, 28), (8, 45)), ("airline", r.randint(2, 4), (140, 420)),
             ("restaurant", r.randint(12, 24), (6, 45)), ("grocery", r.randint(6, 14), (10, 90)),
             ("ads", r.randint(8, 16), (15, 95)), ("prepaid", r.randint(3, 6), (25, 60))]
    for cat, n, (lo, hi) in spend:
        pool = pop.merchants.get(cat) or []
        if cat == "lodging":
            pool = [m for m in pool if m.city in N.TRAVEL_CITIES] or pool
        for _ in range(n):
            amt = round(r.uniform(lo, hi), 2)
            if cat == "lodging" and r.random() < 0.25:
                amt = round(amt * r.randint(2, 4), 2)
            sec = w.odd_secs() if r.random() < 0.3 else None
            card_purchase(w, funnel, r.choice(pool), cat, d0 + r.randrange(span), amt, sec)
    for _ in range(r.randint(4, 8)):
        w.add(d0 + r.randrange(span), w.odd_secs(), funnel.id, CASH, r.randrange(100, 401, 20), "atm_wd",
              "ATM WITHDRAWAL", r.choice(home_atms))
    return PlantedScheme(
        name="trafficking_funnel",
        typology_hint=["fan_in", "funnel_account", "shared_identifiers", "ht_expenses",
                       "odd_hours_deposits", "cash_without_payroll"],
        accounts=roles,
        description=(f"Funnel account {funnel.id} ({funnel.name}, {funnel.bank_name}) receives "
                     f"{len(senders)} distinct people's small P2P payments ($50-$400, mostly at night) "
                     f"and cash deposits in {len(cities)} cities over {span} days "
                     f"({w.start + timedelta(days=d0)} to {w.start + timedelta(days=d1)}), some of it "
                     f"withdrawn in Houston within hours of being deposited on the road; it pays rent "
                     f"for {len(lls)} residences, motels, bus/rideshare/air travel, food, online ads and "
                     f"prepaid phones; no payroll income. {len(victims)} accounts of people with "
                     f"different family names, opened shortly before and giving the funnel's rented "
                     f"residences and the funnel holder's phone in their account records, are fed with "
                     f"cash at night and forward it to the funnel."),
    )


def plant_front(w: World, pop: Population) -> PlantedScheme:
    r = w.rng
    front = w.account(w.unique(lambda: r.choice(N.FRONT_NAMES)), "C", "front", ("Houston", "TX"))
    broker_name = w.unique(lambda: f"{r.choice(N.LAST_NAMES)} {r.choice(N.BROKER_TRADES)} LLC")
    broker = w.account(broker_name, "A", "broker", ("Houston", "TX"))
    roles = {"front": front.id, "broker": broker.id}
    workers = []
    for i in range(r.randint(15, 30)):
        p = w.account(w.person_name(), w.pick_bank(0.4, 0.35), "person",
                      r.choices([(c, s) for c, s, _ in N.HOME_CITIES], pop.home_w)[0])
        workers.append(p)
        roles[f"worker_{i + 1:02d}"] = p.id
    clients = r.sample(pop.employers, min(len(pop.employers), r.randint(3, 6)))
    for i, c in enumerate(clients, 1):
        roles[f"client_{i}"] = c.id
    remit = pop.merchants["remittance"][0]  # a money transmitter that ordinary customers use too
    office = r.choice(pop.landlords)
    fuel = pop.merchants["fuel"]
    retail = pop.merchants["retail"]
    groceries = pop.merchants["grocery"]
    fname, bname = front.name.upper(), broker.name.upper()

    d0 = min(r.randint(3, 10), w.ndays - 1)
    first_fri = d0 + (4 - w.weekday(d0)) % 7
    branches = [f"ACB BRANCH {r.randint(1, 40):03d} {c} TX" for c in ("Houston", "Pasadena", "Baytown")]
    # The labor-broker arrangement runs for two calendar months mid-period (a season's contract;
    # crews come and go): no broker-worker pair lasts long enough to look like steady payroll.
    # Before and after it the front pays its crews in cash only.
    mi = max(0, (len(w.months) - 2) // 2 + r.randint(-1, 0))
    mj = min(mi + 1, len(w.months) - 1)
    b0, b1 = w.months[mi][0], w.months[mj][0] + w.months[mj][1] - 1
    weeks = [f for f in range(first_fri, w.ndays, 7) if b0 <= f - 1 and f + 2 <= b1]
    if not weeks:  # a very short period: whatever weeks there are
        weeks = list(range(first_fri, w.ndays, 7))
    nw = len(weeks)
    tenure = {}
    for p in workers:
        if r.random() < 0.6 or nw <= 3:
            tenure[p.id] = (0, nw - 1)
        else:
            length = r.randint(3, nw)
            s0 = r.randint(0, nw - length)
            tenure[p.id] = (s0, s0 + length - 1)
    n_weeks = 0
    for fri in range(first_fri, w.ndays, 7):
        n_weeks += 1
        k_week = weeks.index(fri) if fri in weeks else None
        if k_week is not None:
            active = [p for p in workers if tenure[p.id][0] <= k_week <= tenure[p.id][1] and r.random() < 0.9]
            pays = [(p, round(r.uniform(280, 750), 2)) for p in (active or workers[:1])]
            labor = sum(a for _, a in pays)
        else:
            pays = []
            labor = r.uniform(9000, 16000)
        # revenue: the clients pay invoices early in the week
        revenue = labor * r.uniform(2.0, 2.4)
        k = r.randint(2, 3)
        for _ in range(k):
            c = r.choice(clients)
            amt = round(revenue / k * r.uniform(0.8, 1.2), 2)
            w.add(max(0, fri - r.randint(2, 4)), w.secs(6, 16), c.id, front.id, amt, "ach",
                  f"{c.name.upper()} VENDOR PMT JANITORIAL/STAFFING INV {r.randint(1000, 9999)}")
        # cash for the crews at the teller, just under the $10,000 reporting threshold
        for _ in range(r.choice((1, 1, 2)) if pays else r.choice((2, 2, 3))):
            amt = r.randrange(450000, 980000, 500) / 100
            w.add(fri, w.secs(9.5, 16), front.id, CASH, amt, "teller_wd", "TELLER CASH WITHDRAWAL",
                  r.choice(branches))
        if not pays:
            continue
        # the front pays the labor broker by ACH ...
        broker_amt = round(labor * r.uniform(1.12, 1.2), 2)
        w.add(fri - 1, w.secs(9, 16), front.id, broker.id, broker_amt, "ach",
              f"{bname} CONTRACT LABOR WK {k_week + 1}")
        # ... and the broker fans the money out to the workers, up to two days later
        for p, amt in pays:
            day = fri + r.randint(0, 2)
            w.add(day, w.secs(7, 22), broker.id, p.id, amt, r.choice(("p2p", "p2p", "ach")),
                  f"{bname} PAY {p.name.upper()}")
            # the workers live on cash
            if r.random() < 0.8:
                w.add(day + r.randint(0, 2), w.secs(7, 22), p.id, CASH,
                      min(800, max(40, round(amt * r.uniform(0.5, 0.9) / 20) * 20)), "atm_wd",
                      "ATM WITHDRAWAL", atm_location(w, p.bank, p.city))
            if r.random() < 0.6:
                m = r.choice(groceries)
                card_purchase(w, p, m, "grocery", day + r.randint(1, 5))
            if k_week % 4 == 3 and r.random() < 0.7:  # money home, paid by debit card
                card_purchase(w, p, remit, "remittance", day + r.randint(1, 3), round(r.uniform(150, 600), 2))
        # the broker's own spending
        if r.random() < 0.5:
            card_purchase(w, broker, r.choice(fuel), "fuel", fri + r.randint(0, 6))
    # a business facade: office rent, supplies, fuel, electricity; never payroll or payroll tax
    for m0, mlen in w.months:
        if m0 + mlen <= d0:
            continue
        w.add(w.business_day(max(d0, m0 + r.randint(0, 3))), w.secs(8, 17), front.id, office.id,
              round(r.uniform(1800, 2600), 2), "ach", f"OFFICE LEASE {office.name.upper()}")
        w.add(max(d0, m0 + r.randint(min(8, mlen - 1), min(25, mlen - 1))), w.secs(0, 6), front.id,
              pop.utilities["electric"].id, round(r.uniform(150, 400), 2), "billpay",
              f"GULF COAST ELECTRIC CO AUTOPAY {fname}")
        for _ in range(r.randint(3, 6)):
            card_purchase(w, front, r.choice(retail), "retail", max(d0, m0 + r.randrange(mlen)),
                          round(r.uniform(40, 650), 2))
            card_purchase(w, front, r.choice(fuel), "fuel", max(d0, m0 + r.randrange(mlen)))
    return PlantedScheme(
        name="front_company",
        typology_hint=["fan_out", "structuring", "business_without_payroll", "rapid_pass_through"],
        accounts=roles,
        description=(f"Front company {front.id} ({front.name}, {front.bank_name}) bills {len(clients)} "
                     f"client businesses and takes out cash weekly at the teller (just under $10,000) "
                     f"to pay its crews. From {w.start + timedelta(days=b0)} to "
                     f"{w.start + timedelta(days=b1)} it also pays the labor broker {broker.id} "
                     f"({broker.name}) weekly by ACH, and the broker pays {len(workers)} workers "
                     f"small amounts ($280-$750) within two days. The front company makes no payroll "
                     f"and no payroll-tax (EFTPS) payments."),
    )


def plant_cycle(w: World, pop: Population) -> PlantedScheme:
    r = w.rng
    names = r.sample(N.SHELL_NAMES, 4)
    a = w.account(names[0], "A", "shell", ("Houston", "TX"))
    b = w.account(names[1], "B", "shell", ("Sugar Land", "TX"))
    c = w.account(names[2], "C", "shell", ("Houston", "TX"))
    d = w.account(names[3], "B", "shell", ("Katy", "TX"))
    off = w.account("Trans-Caribe Trading Corp", "X", "offshore", prefix=OFFSHORE_BANK[0],
                    bank_name=OFFSHORE_BANK[1])
    title = w.account("Lakeside Title & Escrow LLC", "X", "title_company", prefix="STB",
                      bank_name="Summit Trust Bank")
    agent = w.account("Lonestar Virtual Offices LLC", "X", "supplier", prefix="PCU",
                      bank_name="Pelican Federal Credit Union")
    roles = {"shell_a": a.id, "shell_b": b.id, "shell_c": c.id, "shell_d": d.id,
             "offshore": off.id, "exit": title.id}
    hops = []
    n_rounds = r.randint(4, 6)
    usable = max(1, w.ndays - 12)          # a round takes at most 9 days (3 hops of 1-3 days)
    n_rounds = max(1, min(n_rounds, usable // 9))
    gap = max(1, usable // n_rounds)
    for k in range(n_rounds):
        day = 1 + k * gap + r.randint(0, max(0, gap - 10))
        day = max(0, min(day, w.ndays - 10))
        x0 = r.randrange(8000000, 25000000, 50000) / 100
        inv = r.randint(1000, 9999)
        w.add(day, w.secs(9, 15), off.id, a.id, x0, "wire",
              f"INCOMING WIRE ORIG {off.name.upper()} REF INV-{inv}")
        amt = x0
        seq = [(a, b, "CONSULTING FEES"), (b, c, "LOGISTICS SERVICES"), (c, a, "COMMODITY PURCHASE")]
        for src, dst, memo in seq:
            day += r.randint(1, 3)
            amt = round(amt * (1 - r.uniform(0.015, 0.045)), 2)
            w.add(day, w.secs(9, 16), src.id, dst.id, amt, "wire",
                  f"WIRE TO {dst.name.upper()} {memo} INV {r.randint(100, 999)}-{inv}")
            hops.append((src.id, dst.id, day, amt))
        exit_day = day + r.randint(2, 6)
        w.add(exit_day, w.secs(9, 15), a.id, title.id, round(amt * r.uniform(0.6, 0.9), 2), "wire",
              "WIRE TO LAKESIDE TITLE & ESCROW LLC CLOSING")
    # the two-account loop: a 'loan' from A to D repaid within days at almost the same amount
    n_loans = r.randint(2, 3)
    seg = max(7, (w.ndays - 10) // n_loans)  # one loan at a time: repaid before the next one
    for k in range(n_loans):
        day = min(w.ndays - 7, 3 + k * seg + r.randint(0, max(0, seg - 7)))
        y = r.randrange(2500000, 9000000, 10000) / 100
        w.add(day, w.secs(9, 16), a.id, d.id, y, "wire", f"WIRE TO {d.name.upper()} LOAN AGREEMENT {k + 1}")
        w.add(day + r.randint(2, 5), w.secs(9, 16), d.id, a.id, round(y * r.uniform(0.975, 0.995), 2), "wire",
              f"WIRE TO {a.name.upper()} LOAN REPAYMENT {k + 1}")
    # shells look alive: virtual office fees
    for s in (a, b, c, d):
        fee = r.choice((99.0, 129.0, 149.0))
        for m0, mlen in w.months:
            w.add(m0 + r.randint(0, min(4, mlen - 1)), w.secs(0, 6), s.id, agent.id, fee, "ach",
                  "LONESTAR VIRTUAL OFFICES MONTHLY")
    return PlantedScheme(
        name="laundering_cycle",
        typology_hint=["cycle", "round_trip", "rapid_pass_through", "business_without_payroll"],
        accounts=roles,
        description=(f"Shell companies {a.id} -> {b.id} -> {c.id} -> {a.id} ({a.name}, {b.name}, {c.name}) "
                     f"pass offshore money round a three-bank loop {n_rounds} times, each hop 1-3 days "
                     f"after the previous one and 1.5-4.5% smaller; {a.id} then wires part of it to "
                     f"{title.id}. {a.id} and {d.id} ({d.name}) also run a two-account loan/repayment "
                     f"loop a few days apart at almost the same amount."),
    )


# ==========================================================================================
# Parties at several banks, spelled differently by each bank
# ==========================================================================================

MIDDLE = {"A": "Anton", "B": "Bernard", "C": "Carlos", "D": "Dean", "E": "Elena", "F": "Francis",
          "G": "Grace", "H": "Henry", "J": "James", "K": "Konstantin", "L": "Louise", "M": "Marie",
          "N": "Nicole", "P": "Paul", "R": "Ray", "S": "Sofia", "T": "Thomas", "V": "Victor", "W": "Wayne"}
ACCENTED = {"Jose": "José", "Maria": "María", "Andre": "André", "Hector": "Héctor", "Ramon": "Ramón",
            "Lucia": "Lucía", "Veronica": "Verónica", "Garcia": "García", "Rodriguez": "Rodríguez",
            "Martinez": "Martínez", "Hernandez": "Hernández", "Lopez": "López", "Gonzalez": "González",
            "Perez": "Pérez", "Sanchez": "Sánchez", "Ramirez": "Ramírez"}
LEGAL_FORM_SPELLING = {"LLC": "L.L.C.", "Inc": "Inc.", "Co": "Company", "Ltd": "Limited", "LP": "L.P.",
                       "PLLC": "P.L.L.C."}
PERSON_SPELLINGS = ("middle", "surname_first", "accent", "typo")
BUSINESS_SPELLINGS = ("legal_form", "upper_comma", "and")


def _typo(word: str, r: random.Random) -> str:
    """One slip of the keyboard: two neighbouring letters swapped, or one letter dropped."""
    if len(word) < 5:
        return word + word[-1]
    i = r.randrange(1, len(word) - 2)
    if r.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def spelling(name: str, how: str, r: random.Random, business: bool) -> str:
    """``name`` as another bank's register writes it (``how``: one of :data:`PERSON_SPELLINGS`
    or :data:`BUSINESS_SPELLINGS`); the same party, as an investigator reads it."""
    if business:
        words = name.split()
        form = words[-1] if words[-1] in LEGAL_FORM_SPELLING else None
        head = " ".join(words[:-1]) if form else name
        if how == "legal_form" and form:
            return f"{head} {LEGAL_FORM_SPELLING[form]}"
        if how == "upper_comma":
            return f"{head.upper()}, {form.upper()}" if form else name.upper()
        return f"{head.replace(' & ', ' and ')} {form}" if form and " & " in head else \
            f"The {name}" if not name.startswith("The ") else name[4:]
    first, *mid, last = name.split()
    initial = mid[0].rstrip(".") if mid else ""
    if how == "middle" and initial in MIDDLE:
        return f"{first} {MIDDLE[initial]} {last}"
    if how == "surname_first":
        return f"{last.upper()}, {first.upper()}" + (f" {initial}" if initial else "")
    if how == "accent" and (first in ACCENTED or last in ACCENTED):
        return " ".join(ACCENTED.get(x, x) for x in (first, *mid, last))
    return " ".join((first, *mid, _typo(last, r)))


def plant_multibank(w: World, pop: Population, share: float = 0.04) -> list[list[str]]:
    """Ordinary people and firms that bank at a second (a few at a third) subpoenaed bank under
    another spelling of their name, moving their own money between their accounts monthly and
    spending a little from the second one. Returns the groups of account ids (one party each);
    each extra account's ``extra['party_of']`` names the first, whose address and phone its
    register repeats."""
    r = w.rng
    groups: list[list[str]] = []
    people = [p for p in pop.individuals if p.bank in BANKS and p.extra.get("ssa") is None]
    firms = [e for e in pop.employers if e.bank in BANKS]
    chosen = r.sample(people, max(3, int(len(people) * share))) + r.sample(firms, max(2, len(firms) // 12))
    for i, p in enumerate(chosen):
        business = p.role != "person"
        others = [b for b in BANKS if b != p.bank]
        banks = r.sample(others, 2 if i % 5 == 0 else 1)
        group = [p.id]
        for k, b in enumerate(banks):
            how = (BUSINESS_SPELLINGS if business else PERSON_SPELLINGS)[(i + k) % (3 if business else 4)]
            a = w.account(spelling(p.name, how, r, business), b, p.role, p.city)
            a.extra["party_of"] = p.id
            a.extra["spelling"] = how
            group.append(a.id)
            amt = (r.uniform(8000, 40000) if business else r.uniform(150, 1500))
            memo = "OPERATING TRANSFER" if business else r.choice(("TRANSFER TO SAVINGS", "ONLINE TRANSFER",
                                                                     "OWN ACCOUNT TRANSFER"))
            kind = "wire" if business and k == 0 else "ach"
            for m0, mlen in w.months:
                day = w.business_day(m0 + r.randrange(min(mlen, 26)))
                w.add(day, w.secs(7, 20), p.id, a.id, round(amt * r.uniform(0.7, 1.3), 2), kind,
                      f"{memo} {a.name.upper()}")
                for _ in range(r.randint(1, 3)):
                    cat = r.choice(("grocery", "fuel", "retail"))
                    card_purchase(w, a, r.choice(pop.merchants[cat]), cat, m0 + r.randrange(mlen),
                                  round(amt * r.uniform(0.02, 0.1), 2))
        groups.append(group)
    return groups


def plant_crossbank(w: World, pop: Population) -> PlantedScheme:
    """Invoice fraud layered through one company's accounts at two banks: a supplier's customer at
    bank A pays fake invoices by wire to the company's account at bank B; within a day or two the
    company wires almost all of it to its own account at bank C (registered there under another
    spelling, same address and phone), which sends it offshore and to its owner's account (bank C)
    and draws cash. Every hop crosses banks: a trace from bank A reaches bank C only through the
    transfers matched across banks (and the company's two accounts resolve to one entity)."""
    r = w.rng
    victim = w.account(w.unique(lambda: f"{r.choice(N.LAST_NAMES)} Medical Supply Inc"), "A", "employer",
                       ("Houston", "TX"))
    victim.extra.update(ein=f"{r.randint(10, 99)}-{r.randint(1000000, 9999999)}", sched="biweekly", phase=0,
                        staff=[])
    co_name = w.unique(lambda: f"{r.choice(('Kestrel', 'Halcyon', 'Marlowe', 'Tideline'))} Trade Partners LLC")
    owner_name = w.unique(lambda: f"{r.choice(('Viktor', 'Dmitri', 'Andrei'))} "
                                  f"{r.choice(('K', 'A', 'V'))}. {r.choice(('Marek', 'Sorin', 'Valek'))}")
    co_b = w.account(co_name, "B", "layer", ("Houston", "TX"))
    co_c = w.account(spelling(co_name, "legal_form", r, True), "C", "layer", ("Houston", "TX"))
    co_c.extra.update(party_of=co_b.id, spelling="legal_form")
    owner_a = w.account(owner_name, "A", "person", ("Houston", "TX"))
    owner_c = w.account(spelling(owner_name, "surname_first", r, False), "C", "person", ("Houston", "TX"))
    owner_c.extra.update(party_of=owner_a.id, spelling="surname_first")
    off = w.account("Danube Star Trading FZE", "X", "offshore", prefix=OFFSHORE_BANK[0], bank_name=OFFSHORE_BANK[1])
    roles = {"source": victim.id, "layer_b": co_b.id, "layer_c": co_c.id, "owner_a": owner_a.id,
             "owner_c": owner_c.id, "offshore": off.id}
    # the victim's ordinary business: clients pay it, it pays real suppliers and its payroll
    for m0, mlen in w.months:
        w.add(w.business_day(m0 + min(mlen - 1, 25)), w.secs(6, 9), victim.id, pop.payroll_provider.id,
              round(r.uniform(30000, 38000), 2), "ach", "ADP PAYROLL FUNDING")
        for s in r.sample(pop.suppliers, 2):
            w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(9, 16), victim.id, s.id,
                  round(r.uniform(4000, 20000), 2), "ach", f"{s.name.upper()} INV {r.randint(1000, 9999)}")
        for c in r.sample(pop.clients, 3):
            w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(8, 17), c.id, victim.id,
                  round(r.uniform(15000, 60000), 2), "ach", f"{c.name.upper()} PAYMENT")
    n = r.randint(3, 4)
    gap = max(10, (w.ndays - 20) // n)
    refs: list[int] = []
    for k in range(n):
        day = w.business_day(min(w.ndays - 12, 5 + k * gap + r.randint(0, gap // 3)))
        x = r.randrange(4800000, 9500000, 1000) / 100
        refs.append(len(w.txs))
        w.add(day, w.secs(10, 15), victim.id, co_b.id, x, "wire",
              f"WIRE TO {co_name.upper()} INV KTP-{r.randint(1000, 9999)} MEDICAL GLOVES")
        day = w.business_day(day + r.randint(1, 2))
        y = round(x * r.uniform(0.93, 0.97), 2)
        w.add(day, w.secs(9, 12), co_b.id, co_c.id, y, "wire", f"WIRE TO {co_c.name.upper()} FUNDS TRANSFER")
        day = w.business_day(day + r.randint(1, 2))
        z = round(y * r.uniform(0.55, 0.7), 2)
        w.add(day, w.secs(9, 15), co_c.id, off.id, z, "wire", f"WIRE TO {off.name.upper()} PREPAYMENT PO {k + 1}")
        q = round((y - z) * r.uniform(0.5, 0.7), 2)
        w.add(day + 1, w.secs(9, 17), co_c.id, owner_c.id, q, "ach", "CONSULTING FEE")
        for _ in range(2):
            w.add(day + r.randint(1, 4), w.secs(10, 15), owner_c.id, CASH, r.randrange(200000, 480000, 1000) / 100,
                  "teller_wd", "TELLER CASH WITHDRAWAL", "ACB BRANCH 007 Houston TX")
    # the owner lives ordinarily on his bank A account and tops it up from bank C
    for m0, mlen in w.months:
        w.add(w.business_day(m0 + r.randrange(mlen)), w.secs(8, 20), owner_c.id, owner_a.id,
              round(r.uniform(1500, 3500), 2), "ach", "ONLINE TRANSFER")
        for _ in range(r.randint(3, 6)):
            cat = r.choice(("grocery", "restaurant", "fuel"))
            card_purchase(w, owner_a, r.choice(pop.merchants[cat]), cat, m0 + r.randrange(mlen))
    return PlantedScheme(
        name="cross_bank_layering",
        # the company's accounts at banks B and C pass 93-97 % of what they receive on within days
        typology_hint=["rapid_pass_through"],
        accounts=roles,
        description=(f"{victim.name} ({victim.id}, {victim.bank_name}) pays {n} fake invoices by wire to "
                     f"{co_name} at {co_b.bank_name} ({co_b.id}); within two business days the company "
                     f"wires 93-97% of each to its own account at {co_c.bank_name} ({co_c.id}, registered as "
                     f"{co_c.name}, same address and phone), which wires most of it to {off.name} and pays its "
                     f"owner ({owner_c.id}, registered at bank C as {owner_c.name}; at bank A as {owner_name}, "
                     f"{owner_a.id}), who draws cash. Each bank reports its side of every wire: a trace from "
                     f"bank A reaches bank C only through the transfers matched across the banks."),
        transactions=refs,
    )
