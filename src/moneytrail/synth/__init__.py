"""Seeded synthetic investigation: subpoenaed records of three banks with planted schemes.

:func:`generate` writes the three banks' subpoena returns, each bank in its own format
(:mod:`moneytrail.synth.exports`: bank A two XLSX workbooks and bank B a CSV statement, each with
the YAML mapping that ingests it, ``moneytrail ingest FILE --format xlsx|csv --mapping YAML``;
bank C ISO 20022 camt.053 statements, ``moneytrail ingest FILE``) for an ordinary population
of individuals, employers, landlords, utilities and merchants, the three banks' account
registers (KYC records: owner, kind, address, phone, business category/NAICS; in three layouts,
``Scenario.account_files``, ingested with ``--format accounts``), and plants three schemes:

* ``trafficking_funnel`` — one account fed by many small P2P payments and cash deposits in many
  cities (some withdrawn in Houston within hours), paying rent for several residences, motels,
  travel, food and online ads; and 5-7 victims' accounts (different family names, the funnel's
  residences and the funnel holder's phone in their records) fed with cash at night and
  forwarding it to the funnel (``fan_in``, ``funnel_account``, ``shared_identifiers``,
  ``ht_expenses``, ``odd_hours_deposits``, ``cash_without_payroll``);
* ``front_company`` — a staffing/cleaning front billing real businesses, taking out cash just
  under $10,000 at several branches and paying a labor broker who fans out to 15-30 workers; no
  payroll or payroll tax (``fan_out``, ``structuring``, ``business_without_payroll``,
  ``rapid_pass_through``);
* ``laundering_cycle`` — three shell companies passing offshore money round A -> B -> C -> A,
  each hop 1-3 days later and a few percent smaller (``cycle``, ``rapid_pass_through``,
  ``business_without_payroll``), plus a two-account loan and repayment loop (``round_trip``).

The same seed gives byte-identical files. Only the standard library's ``random`` is used.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from moneytrail.synth.model import PlantedScheme, Scenario


def generate(out_dir: Path, *, seed: int = 7, n_accounts: int = 3000, months: int = 6,
             start: date = date(2026, 1, 1)) -> Scenario:
    """Write a synthetic investigation to ``out_dir``; return what was written and planted.

    ``n_accounts`` is the size of the ordinary population at the three banks (businesses
    included; at least 200); the planted schemes add a few dozen accounts, and outside
    counterparties (clients, suppliers, lenders, the IRS) a few more.
    """
    from moneytrail.synth.exports import write_exports
    from moneytrail.synth.kyc import write_registers
    from moneytrail.synth.generator import (CASH, DAY, World, build_population, plant_crossbank, plant_cycle,
                                            plant_front, plant_funnel, plant_multibank)

    if n_accounts < 200:
        raise ValueError("n_accounts must be at least 200")
    if not 1 <= months <= 60:
        raise ValueError("months must be between 1 and 60")
    out_dir = Path(out_dir)
    w = World(seed, start, months)
    pop = build_population(w, n_accounts)
    schemes = [plant_funnel(w, pop), plant_front(w, pop), plant_cycle(w, pop)]
    # drawn after the three schemes: their transactions are what they were before these existed
    parties = plant_multibank(w, pop)
    layer = plant_crossbank(w, pop)
    schemes.append(layer)
    files, formats, counts, n_twice = write_exports(w, out_dir)
    account_files, account_counts = write_registers(w, out_dir, seed)
    seen: dict[str, None] = {}
    for tx in w.txs:
        seen[tx[2]] = None
        seen[tx[3]] = None
    seen.pop(CASH, None)
    label_files = [_write_sar_list(out_dir, schemes)]
    # bank A's own reference of each planted transaction its ledger holds (the trace's sources)
    refs = {seq: f"FT{w.start + timedelta(days=w.txs[seq][0] // DAY):%y%m%d}{seq:07d}"
            for s in schemes for seq in s.transactions}
    scenario = Scenario(files=files, refs=refs, schemes=schemes, n_accounts=len(seen),
                        n_transactions=len(w.txs), start=w.start, end=w.end, rows_per_file=counts,
                        account_files=account_files, rows_per_account_file=account_counts,
                        label_files=label_files, formats=formats, n_seen_twice=n_twice,
                        parties=parties + [[layer.accounts["layer_b"], layer.accounts["layer_c"]],
                                           [layer.accounts["owner_a"], layer.accounts["owner_c"]]])
    truth = {
        "seed": seed, "start": w.start.isoformat(), "end": w.end.isoformat(),
        "n_accounts": scenario.n_accounts, "n_transactions": scenario.n_transactions,
        "n_rows": sum(counts.values()), "n_seen_twice": n_twice,
        "parties_at_several_banks": scenario.parties,
        "files": [{"file": c.name, "format": formats[c.name], "mapping": m.name if m else None,
                   "rows": counts[c.name]} for c, m in files],
        "account_files": [{"csv": c.name, "mapping": m.name, "format": "accounts",
                           "rows": account_counts[c.name]} for c, m in account_files],
        "label_files": [{"csv": c.name, "mapping": m.name, "format": "labels"} for c, m in label_files],
        "schemes": [{"name": s.name, "typology_hint": s.typology_hint, "accounts": s.accounts,
                     "description": s.description,
                     **({"transactions": s.transactions} if s.transactions else {})} for s in schemes],
    }
    (out_dir / "planted_schemes.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return scenario


# the roles whose accounts a case team would have filed SARs on (not victims, workers, clients)
SAR_ROLES = ("funnel", "front", "broker", "shell")


def _write_sar_list(out_dir: Path, schemes) -> tuple[Path, Path]:
    """The case's SAR subjects as a labels file (``--format labels``): training data for the
    risk model, kept apart from the evidence."""
    rows = [(acct, s.name) for s in schemes for role, acct in s.accounts.items()
            if role.split("_")[0] in SAR_ROLES]
    csv_path, map_path = out_dir / "sar_subjects.csv", out_dir / "sar_subjects.yaml"
    csv_path.write_text("account,scheme\n" + "".join(f"{a},{n}\n" for a, n in rows), encoding="utf-8")
    map_path.write_text("# SAR subjects of the demo case: account-level labels for `moneytrail model train`\n"
                        "account: account\ntypology: scheme\n", encoding="utf-8")
    return csv_path, map_path


__all__ = ["PlantedScheme", "Scenario", "generate"]
