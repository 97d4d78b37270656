"""Write the three banks' account registers (KYC records), each with its accounts mapping.

One row per account each subpoenaed bank holds that appears in the transactions: owner, kind
(individual or business), address, phone, business category and/or NAICS code, branch and the
date it was opened. Ingest with ``moneytrail ingest CSV --format accounts --mapping YAML``.

Who shares what (ground truth the detectors can be checked against):

* renters live at the unit they pay rent for; some families (same family name, same city) share
  an address and a phone; some roommates (different family names) who rent from the same
  landlord share an address — an ordinary household, paying rent, not one account;
* the planted victims give the funnel's rented residences as their addresses, and several give
  the funnel holder's phone (``extra['phone_group']``);
* the shell companies all use one virtual-office address.

Everything here draws from its own ``random.Random`` seeded from the scenario seed, so the
transactions are the same with or without the registers, and the same seed gives the same bytes.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from moneytrail.synth import names as N
from moneytrail.synth.generator import BANKS, CASH, DAY, World

# ZIP code prefixes of the cities the scenario uses (made-up addresses, real-looking ZIPs)
_ZIP = {"Houston": 770, "Pasadena": 775, "Sugar Land": 774, "Katy": 774, "Pearland": 775,
        "Baytown": 775, "The Woodlands": 773, "League City": 775, "Galveston": 775, "Conroe": 773,
        "Dallas": 752, "San Antonio": 782, "Austin": 787, "Beaumont": 777, "Corpus Christi": 784,
        "Laredo": 780, "New Orleans": 701, "Baton Rouge": 708, "Shreveport": 711, "Atlanta": 303,
        "Memphis": 381, "Oklahoma City": 731, "Little Rock": 722, "Jackson": 392, "Birmingham": 352,
        "Las Vegas": 891}
_AREA = ("713", "832", "281", "346")

# merchant category -> (category text, NAICS code)
_MERCHANT = {
    "grocery": ("Grocery store", "445110"), "restaurant": ("Restaurant", "722511"),
    "fuel": ("Gas station", "457110"), "pharmacy": ("Pharmacy", "456110"),
    "retail": ("General merchandise retail", "455219"), "online": ("Online retail", "454110"),
    "rideshare": ("Rideshare / taxi service", "485310"), "airline": ("Airline", "481111"),
    "bus": ("Interurban bus line", "485210"), "ads": ("Online classified advertising", "519130"),
    "prepaid": ("Prepaid wireless service", "517112"), "remittance": ("Money transmitter", "522390"),
    "lodging": ("Hotel / motel", "721110"),
}
_UTILITY = {"Gulf Coast Electric Co": ("Electric utility", "221122"),
            "Metro Fiber Internet": ("Internet service provider (utility)", "517111"),
            "Horizon Wireless": ("Wireless carrier (utility)", "517112"),
            "City Water Utility": ("Water utility", "221310"),
            "Lone Star Gas Co": ("Natural gas utility", "221210")}
_TRADE = {
    "Plumbing": ("Plumbing contractor", "238220"), "Electric": ("Electrical contractor", "238210"),
    "Roofing": ("Roofing contractor", "238160"), "Landscaping": ("Landscaping services", "561730"),
    "Dental Group": ("Dental office", "621210"), "Auto Repair": ("Auto repair shop", "811111"),
    "Logistics": ("Freight logistics", "488510"), "Construction": ("Building construction", "236220"),
    "HVAC Services": ("HVAC contractor", "238220"), "Accounting": ("Accounting firm", "541211"),
    "Law Office": ("Law office", "541110"), "Medical Clinic": ("Medical clinic", "621111"),
    "IT Solutions": ("IT services", "541512"), "Machine Works": ("Machine shop", "332710"),
    "Trucking": ("Trucking", "484110"), "Insurance Agency": ("Insurance agency", "524210"),
    "Printing": ("Commercial printing", "323111"), "Engineering": ("Engineering services", "541330"),
    "Pediatrics": ("Medical clinic (pediatrics)", "621111"),
    "Fabrication": ("Metal fabrication", "332312"), "Marine Services": ("Marine services", "488390"),
    "Realty": ("Real estate agency", "531210"), "Home Health": ("Home health care", "621610"),
    "Veterinary Clinic": ("Veterinary clinic", "541940"), "Pest Control": ("Pest control", "561710"),
    "Pool Service": ("Pool maintenance", "561790"), "Welding": ("Welding and repair", "811310"),
    "Signs & Graphics": ("Sign manufacturing", "339950"), "Moving Co": ("Moving and storage", "484210"),
    "Architects": ("Architectural services", "541310"), "Chiropractic": ("Chiropractor", "621310"),
    "Oilfield Services": ("Oilfield support services", "213112"), "Freight": ("Freight forwarding", "488510"),
    "Tire & Wheel": ("Tire dealer", "441340"), "Glass Co": ("Glass and glazing", "238150"),
    "Flooring": ("Flooring contractor", "238330"), "Cabinetry": ("Cabinet manufacturing", "337110"),
}
_SHELL = {"Apex Global Trading LLC": ("Wholesale trade agent", "425120"),
          "Meridian Consulting Group Inc": ("Management consulting", "541611"),
          "Northgate Holdings LLC": ("Holding company", "551112"),
          "Silverline Imports Ltd": ("Import / wholesale", "423990"),
          "Bluewater Ventures LLC": ("Investment company", "523999"),
          "Orion Capital Partners Inc": ("Investment advice", "523940"),
          "Castlegate Commodities LLC": ("Commodity trading", "523130"),
          "Harborview Export Co": ("Export trading", "425120")}
_SOLE = {"Handyman Services": "236118", "Lawn Care": "561730", "House Cleaning": "561720",
         "Mobile Detailing": "811192", "Tutoring": "611691", "Photography": "541921",
         "Pet Grooming": "812910", "Bookkeeping": "541219"}
SHELL_ADDRESS = ("800 Town and Country Blvd Suite 300", ("Houston", "TX"), "77024")

MAPPING_A = """\
# Bank A (First National Bank) - customer information file extract (CIP/KYC), one row per account.
name: fnb-customer-register
account: ACCOUNT_NO
owner_name: CUSTOMER_NAME
kind: CUST_TYPE
kind_map: {I: individual, B: business}
address: [ADDR_LINE1, CITY, STATE, ZIP]
phone: PHONE
naics: NAICS
bank: {value: First National Bank}
branch: BRANCH
opened: {column: OPEN_DT, format: iso}
"""

MAPPING_B = """\
# Bank B (Harbor Community Bank) - account register with signature-card data.
name: hcb-account-register
account: Account Number
owner_name: Account Title
kind: Customer Type
address: Mailing Address
phone: Phone Number
category: Business Category
bank: {value: Harbor Community Bank}
branch: Branch
opened: {column: Date Opened, format: "%m/%d/%Y"}
"""

MAPPING_C = """\
# Bank C (Alpine Continental Bank) - Kundenstamm (customer master), European locale, Windows-1252.
name: acb-kundenstamm
encoding: cp1252
delimiter: ";"
account: Kontonummer
owner_name: Kontoinhaber
kind: Kundenart
kind_map: {Privat: individual, Firma: business}
address: [Straße, Ort, Bundesstaat, PLZ]
phone: Telefon
category: Branche
naics: NAICS
bank: {value: Alpine Continental Bank}
branch: Filiale
opened: {column: Eröffnet, format: "%d.%m.%Y"}
keep: [Kundennummer]
"""


def _profile(a) -> tuple[str, str | None, str | None]:
    """(kind, category text, NAICS) of an account from its role in the world."""
    role = a.role
    if role == "merchant":
        return ("business", *_MERCHANT[a.extra["cat"]])
    if role == "utility":
        return ("business", *_UTILITY.get(a.name, ("Utility", "221100")))
    if role == "employer":
        for trade, v in _TRADE.items():
            if f" {trade} " in f" {a.name} ":
                return ("business", *v)
        return ("business", None, None)
    if role == "landlord":
        if a.extra.get("company"):
            return ("business", "Residential property management", "531311")
        return ("individual", None, None)
    if role == "front":
        return ("business", "Janitorial services", "561720")
    if role == "broker":
        return ("business", "Temporary help / labor contracting", "561320")
    if role == "shell":
        return ("business", *_SHELL.get(a.name, ("Holding company", "551112")))
    if role == "layer":
        return ("business", "Wholesale trade agent", "425120")
    if role == "sole_prop":
        return ("business", f"{a.extra['trade']} (sole proprietor)", _SOLE.get(a.extra["trade"], "812990"))
    return ("individual", None, None)


def _surname(name: str) -> str:
    return name.split()[-1].upper()


def write_registers(w: World, out_dir: Path, seed: int) -> tuple[list[tuple[Path, Path]], dict[str, int]]:
    r = random.Random(f"moneytrail-kyc-{seed}")
    out_dir.mkdir(parents=True, exist_ok=True)
    first_t: dict[str, int] = {}
    for t, _s, payer, payee, *_ in w.txs:
        for a in (payer, payee):
            if a != CASH and (a not in first_t or t < first_t[a]):
                first_t[a] = t
    held = sorted(aid for aid in first_t if w.accounts[aid].bank in BANKS)

    # phones: unique 555 numbers; one per phone group
    used: set[str] = set()

    def new_phone() -> str:
        while True:
            n = f"{r.choice(_AREA)}555{r.randint(0, 9999):04d}"
            if n not in used:
                used.add(n)
                return n

    def zip_for(city) -> str:
        return f"{_ZIP.get(city[0], 770)}{r.randint(1, 99):02d}"

    address: dict[str, tuple[str, tuple[str, str], str]] = {}
    phone: dict[str, str] = {}
    groups: dict[str, str] = {}
    zips: dict[tuple, str] = {}
    for aid in held:
        a = w.accounts[aid]
        if a.extra.get("party_of"):
            continue        # the same party's account at another bank: its first account's address and phone
        city = a.city or ("Houston", "TX")
        home = a.extra.get("home")
        if a.role == "shell":
            address[aid] = SHELL_ADDRESS
        elif home:
            unit, hcity = home
            hcity = hcity or city
            building = unit.split(" Apt ")[0].split(" Unit ")[0]
            z = zips.setdefault((building, hcity), zip_for(hcity))
            address[aid] = (unit, hcity, z)
        else:
            line = f"{r.randint(100, 19999)} {r.choice(N.STREETS)}"
            if a.role != "person" and r.random() < 0.4:
                line += f" Suite {r.randint(100, 900)}"
            elif a.role == "person" and r.random() < 0.3:
                line += f" Apt {r.randint(1, 40)}"
            address[aid] = (line, city, zip_for(city))
        g = a.extra.get("phone_group")
        if g:
            phone[aid] = groups.setdefault(g, new_phone())
        else:
            phone[aid] = new_phone()

    for aid in held:
        first = w.accounts[aid].extra.get("party_of")
        if first:
            address[aid], phone[aid] = address[first], phone[first]

    # ordinary households: families (same family name, same city, owners) share an address and
    # a phone; roommates (different family names, same landlord) share an address
    people = [aid for aid in held if w.accounts[aid].role == "person" and not w.accounts[aid].extra.get("phone_group")
              and not w.accounts[aid].extra.get("party_of")]
    by_family: dict[tuple, list[str]] = {}
    for aid in people:
        a = w.accounts[aid]
        if not a.extra.get("home"):
            by_family.setdefault((_surname(a.name), a.city), []).append(aid)
    for key in sorted(by_family, key=str):
        lst = by_family[key]
        if len(lst) >= 2 and r.random() < 0.5:
            x, y = lst[0], lst[1]
            address[y] = address[x]
            phone[y] = phone[x]
    by_landlord: dict[str, list[str]] = {}
    for aid in people:
        ll = w.accounts[aid].extra.get("landlord")
        if ll:
            by_landlord.setdefault(ll, []).append(aid)
    for ll in sorted(by_landlord):
        lst = by_landlord[ll]
        if len(lst) >= 2 and r.random() < 0.3:
            x, y = lst[0], lst[1]
            if _surname(w.accounts[x].name) != _surname(w.accounts[y].name):
                address[y] = address[x]

    for aid in held:   # again: a household may have moved the party's first account
        first = w.accounts[aid].extra.get("party_of")
        if first:
            address[aid], phone[aid] = address[first], phone[first]
            x = r.random()
            if x < 0.3:                 # this bank still has the number the party had before
                phone[aid] = new_phone()
            elif x < 0.5:               # ... or the address it had before
                a = w.accounts[aid]
                address[aid] = (f"{r.randint(100, 19999)} {r.choice(N.STREETS)}", a.city or ("Houston", "TX"),
                                zip_for(a.city or ("Houston", "TX")))

    def opened(aid: str) -> date:
        a = w.accounts[aid]
        first = w.start + timedelta(days=first_t[aid] // DAY)
        if "opened_days_before" in a.extra:
            return first - timedelta(days=a.extra["opened_days_before"])
        return first - timedelta(days=r.randint(90, 20 * 365))

    files: list[tuple[Path, Path]] = []
    counts: dict[str, int] = {}

    def fmt_phone(n: str, style: str) -> str:
        if style == "A":
            return f"({n[:3]}) {n[3:6]}-{n[6:]}"
        if style == "B":
            return f"{n[:3]}-{n[3:6]}-{n[6:]}"
        return f"+1 {n[:3]} {n[3:6]} {n[6:]}"

    def q(v: str, d: str) -> str:
        return '"' + v.replace('"', '""') + '"' if (d in v or '"' in v) else v

    # Bank A: comma CSV, split address, NAICS only, ISO dates
    rows = ["ACCOUNT_NO,CUSTOMER_NAME,CUST_TYPE,ADDR_LINE1,CITY,STATE,ZIP,PHONE,NAICS,BRANCH,OPEN_DT"]
    for aid in (x for x in held if w.accounts[x].bank == "A"):
        a = w.accounts[aid]
        kind, _cat, naics = _profile(w.accounts.get(a.extra.get("party_of"), a))
        line, city, z = address[aid]
        rows.append(",".join(q(v, ",") for v in (
            aid, a.name, "I" if kind == "individual" else "B", line, city[0], city[1], z,
            fmt_phone(phone[aid], "A"), naics or "", f"FNB-{r.randint(1, 40):03d}", opened(aid).isoformat())))
    files.append(_write(out_dir, "fnb_customers.csv", rows, MAPPING_A, "fnb_customers.yaml", "utf-8"))
    counts["fnb_customers.csv"] = len(rows) - 1

    # Bank B: one address line, category text only, US dates
    rows = ["Account Number,Account Title,Customer Type,Mailing Address,Phone Number,Business Category,"
            "Date Opened,Branch"]
    for aid in (x for x in held if w.accounts[x].bank == "B"):
        a = w.accounts[aid]
        kind, cat, _naics = _profile(w.accounts.get(a.extra.get("party_of"), a))
        line, city, z = address[aid]
        rows.append(",".join(q(v, ",") for v in (
            aid, a.name, "Personal" if kind == "individual" else "Business",
            f"{line}, {city[0]}, {city[1]} {z}", fmt_phone(phone[aid], "B"), cat or "",
            opened(aid).strftime("%m/%d/%Y"), f"HCB {r.randint(1, 25):02d}")))
    files.append(_write(out_dir, "hcb_account_register.csv", rows, MAPPING_B, "hcb_account_register.yaml",
                        "utf-8"))
    counts["hcb_account_register.csv"] = len(rows) - 1

    # Bank C: semicolons, Windows-1252, German headers, both category and NAICS
    rows = ["Kontonummer;Kundennummer;Kontoinhaber;Kundenart;Straße;PLZ;Ort;Bundesstaat;Telefon;Branche;"
            "NAICS;Eröffnet;Filiale"]
    for aid in (x for x in held if w.accounts[x].bank == "C"):
        a = w.accounts[aid]
        kind, cat, naics = _profile(w.accounts.get(a.extra.get("party_of"), a))
        line, city, z = address[aid]
        rows.append(";".join(q(v, ";") for v in (
            aid, f"K{r.randint(10**6, 10**7 - 1)}", a.name, "Privat" if kind == "individual" else "Firma",
            line, z, city[0], city[1], fmt_phone(phone[aid], "C"), cat or "", naics or "",
            opened(aid).strftime("%d.%m.%Y"), f"Filiale {r.randint(1, 12)}")))
    files.append(_write(out_dir, "acb_kundenstamm.csv", rows, MAPPING_C, "acb_kundenstamm.yaml", "cp1252",
                        "\r\n"))
    counts["acb_kundenstamm.csv"] = len(rows) - 1
    return files, counts


def _write(out_dir: Path, name: str, rows: list[str], mapping: str, map_name: str, encoding: str,
           newline: str = "\n") -> tuple[Path, Path]:
    p = out_dir / name
    with open(p, "w", newline="", encoding=encoding) as fh:
        fh.write(newline.join(rows))
        fh.write(newline)
    y = out_dir / map_name
    y.write_text(mapping, encoding="utf-8")
    return p, y


__all__ = ["write_registers"]
