"""Seeded synthetic employer and contracting records with planted schemes and clean look-alikes
(issue 17): the ground truth behind the demo's payroll and contracting side and behind
``moneytrail bench detect --records``.

:func:`generate_records` writes, for a contracting agency with ``n_offices`` offices and
``n_vendors`` vendors and for ``n_employers`` employers:

* contract records as their owners publish them, read without a mapping (docs/records.md):
  ``usaspending.csv`` (USAspending's current contract-transaction columns), ``sam.csv``
  (SAM.gov entity columns), ``vendors.csv`` (the agency's vendor master), ``payments.csv``
  (its payment ledger), ``officials.csv`` (its staff list);
* employer records: ``payroll.csv`` (the employers' payroll registers), ``form941.csv`` (Form
  941 quarters) and ``uiwage.csv`` (state UI wage records), worker SSNs synthetic (area numbers
  the SSA issues, never a real person's: the group and serial are drawn at random);
* ``bankd.csv`` with ``bankd.yaml`` (the transfers of the employers', brokers', workers' and
  vendors' accounts at one subpoenaed bank, ``--format csv``) and ``bankd_accounts.csv`` with
  ``bankd_accounts.yaml`` (that bank's account register, ``--format accounts``);
* ``records_truth.json``: what was planted, by typology, naming the exact records (payment ids,
  award keys, employer EINs, vendor UEIs) and the look-alikes that must not be found.

Planted (each ``n_plants`` times, with as many look-alikes):

* contracts: ``split_purchase`` (2-4 payments to one vendor from one office within days, each
  just under the micro-purchase threshold in force on its date, together above it);
  ``duplicate_payment`` (one invoice paid twice, the second time with its number written
  another way); ``vendor_employee_link`` (a vendor sharing an address, phone or bank account
  with an official of the office that pays it, who approves its payments); ``shell_vendor``
  (registered weeks before its first award, no payroll, each payment moved on within days to an
  individual's and an offshore account); ``benford`` (a vendor whose invoice amounts are made
  up: first digits far from Benford's); ``sole_offer`` (an office whose competed awards draw one
  offer);
* employers: ``wage_gap`` (941 wages a fraction of the payroll leaving the bank);
  ``cash_payroll`` (workers paid in cash, cash withdrawn on paydays); ``labor_broker`` (an
  account paid payroll-like sums by employers, no payroll of its own, paying out in cash);
  ``pooled_wages`` (many workers' pay deposited into one account); ``below_minimum_wage``
  (gross / hours under the federal minimum); ``wage_deductions`` (housing, transport and debt
  deductions taking most of the wage).

Look-alikes: recurring fixed monthly payments with distinct invoices, purchases under the
threshold spread over months, officials sharing an address with each other (not a vendor), a
new vendor with a payroll whose money stays, an employer whose 941 matches its bank payroll, a
worker paid exactly the minimum, a small uniform deduction, a retailer's cash withdrawals on
other days. The same seed gives byte-identical files; only ``random`` is used.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from moneytrail.synth import names as N

#: FAR 2.101 micro-purchase threshold in force from each date (FAR case 2018-004; FAC 2025-06)
MICRO_PURCHASE = ((date(2015, 10, 1), 3500), (date(2020, 8, 31), 10000), (date(2025, 10, 1), 15000))
FEDERAL_MINIMUM = 7.25          # FLSA, 29 U.S.C. 206(a)(1), since 2009-07-24
BENFORD_PAYMENTS = 1200         # payments of the Benford scheme's vendor and of its look-alike
OFFSHORE = "Banco Insular (Cayman) Ltd"


def micro_threshold(d: date) -> int:
    t = 3000
    for since, v in MICRO_PURCHASE:
        if d >= since:
            t = v
    return t


@dataclass
class RecordsScenario:
    files: list[tuple[Path, str, Path | None]]        # (file, format, mapping) in ingest order
    truth: dict
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)


class _Gen:
    def __init__(self, seed: int, start: date, months: int):
        self.r = random.Random(seed * 7919 + 17)
        self.start = start
        self.days = months * 30
        self.tx: list[list] = []         # date, payer, payee, amount, channel, description
        self.acct: dict[str, list] = {}  # account -> register row
        self.n = 0
        self.used_names: set[str] = set()

    def day(self, k: int) -> date:
        return self.start + timedelta(days=k)

    def new(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n:06d}"

    def name(self, business: bool = False) -> str:
        r = self.r
        for _ in range(100):
            if business:
                n = f"{r.choice(N.LAST_NAMES).title()} {r.choice(N.TRADES)} {r.choice(N.BIZ_SUFFIX)}"
            else:
                n = f"{r.choice(N.FIRST_NAMES).title()} {r.choice(N.LAST_NAMES).title()}"
            if n not in self.used_names:
                self.used_names.add(n)
                return n
        return n + f" {self.n}"

    def address(self) -> str:
        r = self.r
        return f"{r.randint(10, 9899)} {r.choice(N.STREETS)}, Houston, TX 77{r.randint(0, 99):03d}"

    def phone(self) -> str:
        return f"713-555-{self.r.randint(1000, 9999)}"

    def open(self, acct: str, name: str, kind: str, *, address: str | None = None, phone: str | None = None,
             category: str = "", naics: str = "", country: str = "US", bank: str = "Bank D") -> str:
        self.acct[acct] = [acct, name, kind, address or "", phone or "", category, naics, country, bank]
        return acct

    def pay(self, d: date, payer: str, payee: str, amount: float, channel: str, desc: str = "") -> int:
        self.tx.append([d.isoformat() + f" {self.r.randint(8, 17):02d}:{self.r.randint(0, 59):02d}:00",
                        payer, payee, f"{amount:.2f}", channel, desc])
        return len(self.tx)

    def ssn(self) -> str:
        r = self.r
        area = r.choice([a for a in range(1, 900) if a != 666][r.randint(0, 50):r.randint(600, 897)])
        return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"

    def uei(self) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
        return "".join(self.r.choice(alphabet) for _ in range(12))

    def ein(self) -> str:
        return f"{self.r.randint(10, 99)}-{self.r.randint(1000000, 9999999)}"


def _lognormal_amount(r: random.Random, median: float, sigma: float, lo: float, hi: float) -> float:
    """A lognormal amount within [lo, hi], drawn again until it falls there (clamping would pile
    amounts on the bounds: a spike of equal amounts no real ledger has)."""
    import math
    for _ in range(1000):
        x = median * math.exp(r.gauss(0, sigma))
        if lo <= x <= hi:
            return round(x, 2)
    return round(median, 2)


# -- contracts --------------------------------------------------------------------------------------

def _contracts(g: _Gen, n_offices: int, n_vendors: int, n_plants: int) -> dict:
    r = g.r
    offices = [(f"SDA{100 + i}", f"Region {i + 1} Acquisition Office") for i in range(n_offices)]
    officials, vendors, awards, payments = [], [], [], []
    truth: dict = {"split_purchase": [], "duplicate_payment": [], "vendor_employee_link": [], "shell_vendor": [],
                   "benford": [], "sole_offer": [], "look_alikes": {}}
    look = truth["look_alikes"]

    def official(office, role="contracting officer", address=None, phone=None, bank=None):
        pid = f"E{len(officials) + 1:05d}"
        officials.append({"employee_id": pid, "name": g.name(), "title": role.title(), "role": role,
                          "office_id": office[0], "office_name": office[1], "home_address": address or g.address(),
                          "phone_number": phone or g.phone(), "direct_deposit_account": bank or g.new("DP"),
                          "start_date": (g.start - timedelta(days=r.randint(400, 4000))).isoformat()})
        return officials[-1]

    for o in offices:
        for role in ("contracting officer", "contracting officer's representative", "approving official",
                     "program analyst", "program analyst"):
            official(o, role)

    def vendor(*, registered: date | None = None, address=None, phone=None, bank=None, name=None, naics="561720"):
        v = {"uei": g.uei(), "name": name or g.name(True), "address": address or g.address(),
             "phone": phone or g.phone(), "bank": bank or g.new("DV"), "ein": g.ein(),
             "registered": registered or (g.start - timedelta(days=r.randint(500, 5000))),
             "vendor_id": f"V{len(vendors) + 1:05d}", "naics": naics}
        vendors.append(v)
        g.open(v["bank"], v["name"], "business", address=v["address"], phone=v["phone"], naics=naics)
        return v

    def award(o, v, d: date, amount: float, offers: int = 3, competed: str = "A"):
        k = f"CONT_TX_{len(awards) + 1:06d}"
        awards.append({"contract_transaction_unique_key": k, "contract_award_unique_key": f"CONT_AWD_{len(awards) + 1:06d}",
                       "award_id_piid": f"SDA{d:%y}P{len(awards) + 1:05d}", "modification_number": "0",
                       "federal_action_obligation": f"{amount:.2f}", "action_date": d.isoformat(),
                       "awarding_agency_name": "Department of Synthetic Affairs", "awarding_office_code": o[0],
                       "awarding_office_name": o[1], "recipient_uei": v["uei"], "recipient_name": v["name"].upper(),
                       "recipient_address_line_1": v["address"].split(",")[0], "recipient_city_name": "Houston",
                       "recipient_state_code": "TX", "recipient_phone_number": v["phone"], "naics_code": v["naics"],
                       "product_or_service_code": "S201", "extent_competed_code": competed,
                       "number_of_offers_received": str(offers), "type_of_set_aside_code": "NONE"})
        return k

    def payment(o, v, d: date, amount: float, invoice: str, approver: str | None = None, piid: str = "",
                bank_side: bool = True):
        pid = f"PMT{len(payments) + 1:07d}"
        appr = approver or next(x["employee_id"] for x in officials if x["office_id"] == o[0]
                                and x["role"] == "approving official")
        payments.append({"payment_id": pid, "vendor_number": v["vendor_id"], "uei": v["uei"], "payee": v["name"],
                         "invoice_number": invoice, "invoice_date": (d - timedelta(days=r.randint(5, 25))).isoformat(),
                         "payment_date": d.isoformat(), "payment_amount": f"{amount:.2f}", "office_id": o[0],
                         "office_name": o[1], "contract_number": piid, "bank_account": v["bank"], "payment_method": "ACH",
                         "approved_by": appr})
        if bank_side:
            g.pay(d, "name:US TREASURY FMS", v["bank"], amount, "ach", f"TREAS 310 VENDOR PAY {pid}")
        return pid

    # ordinary business: each office buys from some vendors; invoices monthly on awards, and
    # open-market purchases of every size (lognormal: roughly Benford)
    base = [vendor() for _ in range(n_vendors)]
    for o in offices:
        mine = r.sample(base, min(len(base), max(6, n_vendors // max(1, n_offices) + 4)))
        for v in mine:
            for _ in range(r.randint(1, 3)):
                d = g.day(r.randint(0, g.days - 60))
                amt = _lognormal_amount(r, 180_000, 1.0, 20_000, 5_000_000)
                award(o, v, d, amt, offers=r.choice((2, 3, 3, 4, 5, 6)))
                piid = awards[-1]["award_id_piid"]
                for m in range(r.randint(2, 6)):       # the contract's invoices, citing it
                    pd = d + timedelta(days=30 * (m + 1))
                    if (pd - g.start).days < g.days:
                        payment(o, v, pd, round(amt / 6 * r.uniform(0.6, 1.4), 2), f"INV-{r.randint(10000, 99999)}",
                                piid=piid)
            for _ in range(r.randint(3, 12)):      # open-market buying: a few hundred dollars a time
                d = g.day(r.randint(0, g.days - 1))
                payment(o, v, d, _lognormal_amount(r, 400, 1.2, 25, 9_000), f"{r.randint(100000, 999999)}")

    for i in range(n_plants):
        o = offices[i % len(offices)]
        # split purchase: 2-4 payments within days, each just under the threshold in force
        v = r.choice(base)
        d0 = g.day(r.randint(0, g.days - 20))
        while micro_threshold(d0) != micro_threshold(d0 + timedelta(days=12)):   # not across a change
            d0 += timedelta(days=13)
        t = micro_threshold(d0)
        parts = r.randint(2, 4)
        ids = [payment(o, v, d0 + timedelta(days=k * r.randint(0, 3)), round(t * r.uniform(0.82, 0.995), 2),
                       f"SP{i}-{k}-{r.randint(100, 999)}") for k in range(parts)]
        truth["split_purchase"].append({"office": o[0], "vendor": v["uei"], "payments": ids, "threshold": t})
        # look-alike: the same number of purchases under the threshold, months apart
        v2 = r.choice(base)
        ids2 = [payment(o, v2, g.day(min(g.days - 1, k * 55 + r.randint(0, 10))), round(t * r.uniform(0.5, 0.9), 2),
                        f"LA{i}-{k}") for k in range(parts)]
        look.setdefault("split_purchase", []).append({"office": o[0], "vendor": v2["uei"], "payments": ids2})
        # duplicate payment: one invoice paid twice, its number written another way the second time
        v = r.choice(base)
        d = g.day(r.randint(0, g.days - 40))
        amt = _lognormal_amount(r, 6_000, 0.8, 500, 90_000)
        inv = f"INV-{r.randint(1000, 9999):05d}"
        first = payment(o, v, d, amt, inv)
        second = payment(o, v, d + timedelta(days=r.randint(3, 30)), amt, inv.replace("-", "").lower().lstrip("inv0")
                         if r.random() < 0.5 else inv)
        truth["duplicate_payment"].append({"vendor": v["uei"], "payments": [first, second]})
        # look-alike: a lease paid monthly, the same amount, a new invoice each month
        v = r.choice(base)
        amt = float(r.choice((2_400, 4_250, 7_800)))
        lease = [payment(o, v, g.day(min(g.days - 1, 30 * m + 1)), amt, f"LEASE-{i}-{m + 1:02d}") for m in range(g.days // 30)]
        look.setdefault("duplicate_payment", []).append({"vendor": v["uei"], "payments": lease})
        # vendor run by an employee: shares the approving official's address (written another way),
        # phone or bank account; the official approves its payments
        appr = next(x for x in officials if x["office_id"] == o[0] and x["role"] == "approving official")
        how = ("address", "phone", "bank")[i % 3]
        v = vendor(address=appr["home_address"].replace(" St,", " Street,").replace(" Ave,", " Avenue,").upper()
                   if how == "address" else None,
                   phone=appr["phone_number"] if how == "phone" else None,
                   bank=appr["direct_deposit_account"] if how == "bank" else None)
        ids = [payment(o, v, g.day(r.randint(0, g.days - 1)), _lognormal_amount(r, 4_000, 0.6, 300, 14_000),
                       f"{r.randint(100000, 999999)}", approver=appr["employee_id"]) for _ in range(r.randint(3, 6))]
        truth["vendor_employee_link"].append({"vendor": v["uei"], "official": appr["employee_id"], "shared": how,
                                              "payments": ids})
        # look-alike: two officials of one office living at one address (a married couple), no vendor there
        a, b = [x for x in officials if x["office_id"] == o[0] and x["role"] == "program analyst"][:2]
        b["home_address"] = a["home_address"]
        look.setdefault("vendor_employee_link", []).append({"officials": [a["employee_id"], b["employee_id"]]})
        # shell vendor: registered weeks before its first award; each payment moved on within days
        d0 = g.day(r.randint(20, g.days - 90))
        v = vendor(registered=d0 - timedelta(days=r.randint(10, 40)))
        person = g.open(g.new("DI"), g.name(), "individual", address=g.address())
        off = g.open(g.new("KY"), g.name(True), "business", country="KY", bank=OFFSHORE)
        k = award(o, v, d0, _lognormal_amount(r, 400_000, 0.4, 150_000, 2_000_000), offers=1)
        ids = []
        for m in range(r.randint(3, 5)):
            pd = d0 + timedelta(days=20 + 25 * m)
            if (pd - g.start).days >= g.days:
                break
            amt = _lognormal_amount(r, 60_000, 0.3, 20_000, 200_000)
            ids.append(payment(o, v, pd, amt, f"{v['vendor_id']}-{m + 1}"))
            g.pay(pd + timedelta(days=r.randint(1, 3)), v["bank"], person, round(amt * r.uniform(0.3, 0.5), 2), "wire",
                  "CONSULTING FEE")
            g.pay(pd + timedelta(days=r.randint(1, 4)), v["bank"], off, round(amt * r.uniform(0.4, 0.55), 2), "wire",
                  "INTL WIRE SERVICES")
        truth["shell_vendor"].append({"vendor": v["uei"], "award": k, "payments": ids, "moved_to": [person, off]})
        # look-alike: a new vendor with a payroll, whose money stays (it pays its workers over weeks)
        v = vendor(registered=d0 - timedelta(days=r.randint(10, 40)))
        k = award(o, v, d0, _lognormal_amount(r, 300_000, 0.4, 150_000, 2_000_000), offers=3)
        ids = [payment(o, v, d0 + timedelta(days=20 + 30 * m), 40_000.0 + 1000 * m, f"NV{i}-{m}")
               for m in range(3) if (d0 - g.start).days + 20 + 30 * m < g.days]
        look.setdefault("shell_vendor", []).append({"vendor": v["uei"], "award": k, "payments": ids,
                                                   "has_payroll": v["name"], "ein": v["ein"]})
        v["employs"] = True
        # Benford: a vendor billing made-up amounts (first digits 4-9, mostly 7-9, round tens), often
        # enough for the test to mean something (Nigrini's bands assume a thousand amounts or more)
        v = r.choice(base)
        ids = [payment(o, v, g.day(r.randint(0, g.days - 1)),
                       float(r.choice((7, 8, 8, 9, 9, 9, 4, 5, 6)) * 10 ** r.randint(2, 3) + r.randint(0, 99) * 10),
                       f"B{i}-{k2}", bank_side=False) for k2 in range(BENFORD_PAYMENTS)]
        truth["benford"].append({"vendor": v["uei"], "payments": ids})
        # look-alike: a vendor with as many amounts spread over three decades (log-uniform: the first
        # digits of such amounts follow Benford's law; with a few hundred amounts, chance alone
        # puts the mean absolute deviation near Nigrini's bands, so fewer would not be "clean")
        # (a supplier every office buys from: its payments come from all of them)
        v = r.choice(base)
        ids = [payment(offices[k2 % len(offices)], v, g.day(r.randint(0, g.days - 1)), round(10 ** r.uniform(1.5, 4.5), 2),
                       f"R{i}-{k2}", bank_side=False) for k2 in range(BENFORD_PAYMENTS)]
        look.setdefault("benford", []).append({"vendor": v["uei"], "payments": ids})
        # sole offer: a field office whose competed awards mostly draw one offer, won by three
        # vendors in turn (A, B, C, A, ...); its look-alike: a field office whose competitions
        # draw several offers, won by the same few vendors in no order
        so = (f"SDA{900 + i}", f"Field Office {i + 1}")
        official(so, "contracting officer")
        official(so, "approving official")
        few = r.sample(base, 3)
        days = sorted(r.sample(range(0, g.days - 1), 12))
        ks = [award(so, few[m % 3], g.day(days[m]), _lognormal_amount(r, 250_000, 0.5, 50_000, 900_000),
                    offers=1 if m % 4 else 2) for m in range(12)]
        truth["sole_offer"].append({"offices": [so[0]], "awards": ks, "vendors": [x["uei"] for x in few]})
        lo = (f"SDA{950 + i}", f"Field Office {i + 51}")
        official(lo, "contracting officer")
        official(lo, "approving official")
        days = sorted(r.sample(range(0, g.days - 1), 12))
        ks = [award(lo, r.choice(few), g.day(days[m]), _lognormal_amount(r, 250_000, 0.5, 50_000, 900_000),
                    offers=r.randint(3, 7)) for m in range(12)]
        look.setdefault("sole_offer", []).append({"office": lo[0], "awards": ks})
    return {"offices": offices, "officials": officials, "vendors": vendors, "awards": awards, "payments": payments,
            "truth": truth}


# -- employers --------------------------------------------------------------------------------------

def _employers(g: _Gen, n_employers: int, n_plants: int, employing_vendors: list[dict]) -> dict:
    r = g.r
    payroll, f941, ui = [], [], []
    truth: dict = {k: [] for k in ("wage_gap", "cash_payroll", "labor_broker", "pooled_wages", "below_minimum_wage",
                                   "wage_deductions")}
    truth["look_alikes"] = {}
    look = truth["look_alikes"]
    paydays = [d for d in range(4, g.days, 14)]

    def employer(name=None, ein=None, bank=None):
        e = {"name": name or g.name(True), "ein": ein or g.ein(), "bank": bank or g.new("DE")}
        g.open(e["bank"], e["name"], "business", address=g.address(), phone=g.phone(), naics="111998")
        return e

    def workers(n, pool: str | None = None):
        out = []
        for _ in range(n):
            acct = pool or g.open(g.new("DW"), g.name(), "individual", address=g.address())
            out.append({"ssn": g.ssn(), "acct": acct})
        return out

    def run_payroll(e, ws, *, rate=(12.0, 22.0), hours=(60, 84), method="direct_deposit", deductions=None,
                    cash_from_bank=False, bank_pays=True, report_share=1.0, via: str | None = None) -> dict:
        """Pay ``ws`` biweekly; write the register, 941 quarters (wages times ``report_share``) and UI
        records; the bank side: deposits to each worker (or a cash withdrawal, or one payment to a
        broker ``via``). Returns the record keys."""
        rates = {w["ssn"]: round(r.uniform(*rate), 2) for w in ws}
        wages_q: dict[int, float] = {}
        per_worker_q: dict[tuple[str, int], float] = {}
        lines = []
        for pdn in paydays:
            d = g.day(pdn)
            total_net = 0.0
            for w in ws:
                h = round(r.uniform(*hours), 2)
                gross = round(rates[w["ssn"]] * h, 2)
                ded = dict(deductions(gross) if deductions else {})
                tax = round(gross * 0.12, 2)
                net = round(gross - tax - sum(ded.values()), 2)
                lines.append(len(payroll) + 1)
                payroll.append({"company": e["name"], "ein": e["ein"], "pay_period_start": (d - timedelta(days=13)).isoformat(),
                                "pay_period_end": (d - timedelta(days=1)).isoformat(), "check_date": d.isoformat(),
                                "ssn": w["ssn"], "hours": f"{h:.2f}", "pay_rate": f"{rates[w['ssn']]:.2f}",
                                "gross_pay": f"{gross:.2f}", "net_pay": f"{net:.2f}", "taxes": f"{tax:.2f}",
                                "housing": f"{ded.get('housing', 0):.2f}", "transport": f"{ded.get('transport', 0):.2f}",
                                "debt": f"{ded.get('debt', 0):.2f}", "uniform": f"{ded.get('tools', 0):.2f}",
                                "payment_method": method, "deposit_account": w["acct"] if method == "direct_deposit" else "",
                                "state": "TX"})
                q = (d.month - 1) // 3 + 1 + 4 * (d.year - g.start.year)
                wages_q[q] = wages_q.get(q, 0) + gross
                per_worker_q[(w["ssn"], q)] = per_worker_q.get((w["ssn"], q), 0) + gross
                total_net += net
                if bank_pays and via is None and method == "direct_deposit":
                    g.pay(d, e["bank"], w["acct"], net, "payroll", f"PAYROLL {e['name'][:20].upper()}")
            if via is not None:
                g.pay(d - timedelta(days=1), e["bank"], via, round(total_net * r.uniform(1.05, 1.15), 2), "ach",
                      "LABOR SERVICES INVOICE")
            elif cash_from_bank:
                g.pay(d - timedelta(days=r.randint(0, 1)), e["bank"], "cash", round(total_net, -1), "cash", "CASH WITHDRAWAL")
        for q, wages in sorted(wages_q.items()):
            year = g.start.year + (q - 1) // 4
            f941.append({"ein": e["ein"], "name": e["name"], "year": str(year), "quarter": str((q - 1) % 4 + 1),
                         "line1": str(max(1, round(len(ws) * report_share))),
                         "line2": f"{wages * report_share:.2f}", "line3": f"{wages * report_share * 0.1:.2f}"})
        for (ssn, q), wages in sorted(per_worker_q.items()):
            if report_share >= 1.0 or r.random() < report_share:
                year = g.start.year + (q - 1) // 4
                ui.append({"ein": e["ein"], "ssn": ssn, "year": str(year), "qtr": str((q - 1) % 4 + 1),
                           "gross_wages": f"{wages:.2f}"})
        return {"ein": e["ein"], "lines": lines}

    # ordinary employers (and the look-alike new vendors that employ people)
    for _ in range(n_employers):
        e = employer()
        run_payroll(e, workers(r.randint(3, 12)))
    for v in employing_vendors:
        e = employer(name=v["name"], ein=v["ein"], bank=v["bank"])
        run_payroll(e, workers(r.randint(4, 8)))
    for i in range(n_plants):
        # wage gap: 941 wages a third of the payroll leaving the bank
        e = employer()
        run_payroll(e, workers(r.randint(6, 14)), report_share=r.uniform(0.2, 0.45))
        truth["wage_gap"].append({"employer": e["ein"].replace("-", ""), "bank": e["bank"]})
        e2 = employer()
        run_payroll(e2, workers(r.randint(6, 14)))
        look.setdefault("wage_gap", []).append({"employer": e2["ein"].replace("-", "")})
        # cash payroll: workers paid in cash withdrawn on paydays; a business reporting few employees
        e = employer()
        run_payroll(e, workers(r.randint(8, 20)), method="cash", cash_from_bank=True, report_share=0.2)
        truth["cash_payroll"].append({"employer": e["ein"].replace("-", ""), "bank": e["bank"]})
        # (it reports a fifth of its wages: a wage gap too)
        truth["wage_gap"].append({"employer": e["ein"].replace("-", ""), "bank": e["bank"], "also": "cash_payroll"})
        # look-alike: a retailer withdrawing change cash weekly on other days, paying by deposit
        e2 = employer()
        run_payroll(e2, workers(r.randint(4, 8)))
        for k in range(9, g.days, 7):
            g.pay(g.day(k), e2["bank"], "cash", float(r.choice((300, 400, 500))), "cash", "CHANGE ORDER")
        look.setdefault("cash_payroll", []).append({"employer": e2["ein"].replace("-", "")})
        # labor broker: paid payroll-like sums by two employers, no payroll of its own, pays out cash
        broker = g.open(g.new("DB"), g.name(True), "business", address=g.address(), naics="561320")
        n_in = len(g.tx)
        for _ in range(2):
            e = employer()
            run_payroll(e, workers(r.randint(6, 12)), via=broker, report_share=0.0)
        # it keeps its cut (10-15 %) and pays the crews the rest in cash, the day each payment comes in
        for t in g.tx[n_in:]:
            if t[2] == broker:
                day = date.fromisoformat(t[0][:10])
                g.pay(day + timedelta(days=1), broker, "cash", round(float(t[3]) * r.uniform(0.85, 0.9), -1), "cash",
                      "CASH WITHDRAWAL")
        truth["labor_broker"].append({"account": broker})
        # pooled wages: 8-15 workers' pay deposited into one account (a crew boss's)
        boss = g.open(g.new("DW"), g.name(), "individual", address=g.address())
        e = employer()
        run_payroll(e, workers(r.randint(8, 15), pool=boss))
        truth["pooled_wages"].append({"employer": e["ein"].replace("-", ""), "account": boss})
        # below minimum wage: 70-80 hours for pay that comes to $4-6 an hour
        e = employer()
        run_payroll(e, workers(r.randint(4, 8)), rate=(4.0, 6.0), hours=(70, 80))
        truth["below_minimum_wage"].append({"employer": e["ein"].replace("-", "")})
        # look-alike: workers paid exactly the federal minimum
        e2 = employer()
        run_payroll(e2, workers(r.randint(4, 8)), rate=(FEDERAL_MINIMUM, FEDERAL_MINIMUM))
        look.setdefault("below_minimum_wage", []).append({"employer": e2["ein"].replace("-", "")})
        # wage deductions: housing, transport and debt taking 55-80 % of the wage
        e = employer()

        def heavy(gross):
            share = r.uniform(0.55, 0.8)
            return {"housing": round(gross * share * 0.5, 2), "transport": round(gross * share * 0.2, 2),
                    "debt": round(gross * share * 0.3, 2)}
        run_payroll(e, workers(r.randint(5, 10)), deductions=heavy)
        truth["wage_deductions"].append({"employer": e["ein"].replace("-", "")})
        # look-alike: a small uniform deduction
        e2 = employer()
        run_payroll(e2, workers(r.randint(5, 10)), deductions=lambda gross: {"tools": 15.0})
        look.setdefault("wage_deductions", []).append({"employer": e2["ein"].replace("-", "")})
    return {"payroll": payroll, "f941": f941, "ui": ui, "truth": truth}


# -- writing ----------------------------------------------------------------------------------------

def _write(path: Path, rows: list[dict], header: list[str] | None = None) -> int:
    header = header or (list(rows[0]) if rows else [])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


BANK_MAPPING = """# Bank D's subpoena return: the transfers of the employers', brokers', workers' and vendors' accounts
currency: USD
date: {column: date, format: "%Y-%m-%d %H:%M:%S"}
amount: {column: amount}
payer: {account: payer}
payee: {account: payee}
channel: channel
description: description
"""
BANK_ACCOUNTS_MAPPING = """# Bank D's account register (KYC)
account: account
owner_name: name
kind: kind
address: address
phone: phone
category: category
naics: naics
bank: bank
keep: [country]
"""


def generate_records(out_dir: Path, *, seed: int = 7, start: date = date(2026, 1, 1), months: int = 6,
                     n_offices: int = 3, n_vendors: int = 40, n_employers: int = 12, n_plants: int = 1) -> RecordsScenario:
    """Write the records and bank D's files to ``out_dir`` (see the module docstring)."""
    if not 4 <= months <= 60:
        raise ValueError("months must be between 4 and 60")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    g = _Gen(seed, start, months)
    c = _contracts(g, n_offices, n_vendors, n_plants)
    employing = [v for v in c["vendors"] if v.get("employs")]
    e = _employers(g, n_employers, n_plants, employing)
    counts = {}
    files: list[tuple[Path, str, Path | None]] = []

    def out(name: str, fmt: str, rows: list[dict], mapping: Path | None = None, header=None):
        p = out_dir / name
        counts[name] = _write(p, rows, header)
        files.append((p, fmt, mapping))

    # the bank first (the records' typologies compare with it), its register, then the records
    g.tx.sort(key=lambda t: (t[0], t[1], t[2]))
    (out_dir / "bankd.yaml").write_text(BANK_MAPPING, encoding="utf-8")
    (out_dir / "bankd_accounts.yaml").write_text(BANK_ACCOUNTS_MAPPING, encoding="utf-8")
    out("bankd.csv", "csv", [dict(zip(("date", "payer", "payee", "amount", "channel", "description"), t)) for t in g.tx],
        out_dir / "bankd.yaml")
    out("bankd_accounts.csv", "accounts",
        [dict(zip(("account", "name", "kind", "address", "phone", "category", "naics", "country", "bank"), a))
         for a in g.acct.values()], out_dir / "bankd_accounts.yaml")
    sam_rows = [{"Unique Entity ID": v["uei"], "Legal Business Name": v["name"].upper(),
                 "Physical Address Line 1": v["address"].split(",")[0], "Physical Address City": "Houston",
                 "Physical Address Province or State": "TX", "Physical Address ZIP/Postal Code": v["address"][-5:],
                 "Initial Registration Date": v["registered"].isoformat(), "Primary NAICS": v["naics"]}
                for v in c["vendors"]]
    out("sam.csv", "sam", sam_rows)
    out("vendors.csv", "vendors", [{"vendor_number": v["vendor_id"], "vendor_name": v["name"], "uei": v["uei"],
                                     "address": v["address"], "phone": v["phone"], "bank_account": v["bank"],
                                     "vendor_ein": v["ein"]} for v in c["vendors"]])
    out("officials.csv", "officials", c["officials"])
    out("usaspending.csv", "usaspending", sorted(c["awards"], key=lambda a: (a["action_date"],
                                                                             a["contract_transaction_unique_key"])))
    out("payments.csv", "payments", sorted(c["payments"], key=lambda p: (p["payment_date"], p["payment_id"])))
    out("payroll.csv", "payroll", e["payroll"])
    out("form941.csv", "form941", e["f941"])
    out("uiwage.csv", "uiwage", e["ui"])
    truth = {"seed": seed, "start": start.isoformat(), "months": months, "contracts": c["truth"],
             "employers": e["truth"], "files": {p.name: {"format": f, "rows": counts[p.name]} for p, f, _ in files}}
    (out_dir / "records_truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return RecordsScenario(files, truth, out_dir, counts)


__all__ = ["MICRO_PURCHASE", "RecordsScenario", "generate_records", "micro_threshold"]
