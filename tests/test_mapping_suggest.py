"""`moneytrail mapping suggest` proposes a mapping from the file's content, says why, and leaves
what it cannot know (the statement's own account, a currency the file never names) to the
person; `ingest --dry-run` shows the result and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import yaml

from moneytrail.ingest import ingest_file, parse_mapping
from moneytrail.ingest.suggest import suggest
from moneytrail.workspace import Workspace

EUROPEAN = ("Umsatzanzeige Girokonto;;;;;\n"
            "Zeitraum: 01.02.2024 - 29.02.2024;;;;;\n"
            "\n"
            "Buchungstag;Valuta;Empfänger/Auftraggeber;IBAN;Verwendungszweck;Betrag;Währung\n"
            "01.02.2024;01.02.2024;Stadtwerke;DE02120300000000202051;Abschlag Strom € 80;-80,00;EUR\n"
            "13.02.2024;13.02.2024;Arbeitgeber GmbH;DE02500105170137075030;Gehalt Februar;3.210,55;EUR\n"
            "20.02.2024;20.02.2024;Vermieter;DE89370400440532013000;Miete;-1.150,00;EUR\n")
US_DEBIT_CREDIT = ("Date,Description,Withdrawals,Deposits,Balance,Check Number\n"
                   "03/14/2024,ATM WITHDRAWAL,200.00,,1800.00,\n"
                   "03/15/2024,PAYROLL ACME,,2500.00,4300.00,\n"
                   "03/28/2024,CHECK 1042,1200.00,,3100.00,1042\n")
TRANSFERS = ("txn_id|value_date|from_acct|to_acct|amt|ccy|memo\n"
             "T1|2024-05-01|A-1|B-2|1500.00|USD|invoice 1\n"
             "T2|2024-05-02|B-2|C-3|1499.00|USD|onward\n")


def test_a_european_statement_with_a_preamble(tmp_path):
    p = tmp_path / "umsaetze.csv"
    p.write_bytes(EUROPEAN.encode("cp1252"))
    s = suggest(p)
    m = s.mapping
    assert m["encoding"] == "cp1252" and m["delimiter"] == ";" and m["skip_rows"] == 3
    assert m["date"] == {"column": "Buchungstag", "format": "%d.%m.%Y"}
    assert m["amount"] == {"column": "Betrag"} and (m["decimal"], m["thousands"]) == (",", ".")
    assert m["currency"] == {"column": "Währung"}
    assert m["counterparty"] == {"account": "IBAN"} and m["description"] == "Verwendungszweck"
    assert m["holder"] == {"account": {"value": "THE-STATEMENT-ACCOUNT"}}
    assert any("THE-STATEMENT-ACCOUNT" in w for w in s.warnings)          # the person decides it
    text = s.yaml(p.name)
    assert "# date: column 'Buchungstag', every sampled value reads as %d.%m.%Y" in text
    # filled in, the proposal ingests every row
    m["holder"] = {"account": {"value": "DE44500105175407324931"}}
    with Workspace.open(tmp_path / "w.duckdb") as ws:
        res = ingest_file(ws, p, "csv", mapping=parse_mapping(yaml.safe_load(yaml.safe_dump(m))))
        assert (res.read, res.stored, res.quarantined) == (3, 3, 0)
        amounts = [a for (a,) in ws.query("SELECT amount FROM transactions ORDER BY source_row")]
        assert amounts == [Decimal("80.00"), Decimal("3210.55"), Decimal("1150.00")]


def test_debit_and_credit_columns_and_a_currency_the_file_never_names(tmp_path):
    p = tmp_path / "checking.csv"
    p.write_text(US_DEBIT_CREDIT)
    s = suggest(p)
    m = s.mapping
    assert m["amount"] == {"debit": "Withdrawals", "credit": "Deposits"}
    assert m["date"]["format"] == "%m/%d/%Y" and m["balance"] == "Balance"
    assert "currency" not in m
    assert any("never assumes" in w for w in s.warnings)


def test_a_transfers_ledger_and_an_ambiguous_date(tmp_path):
    p = tmp_path / "ledger.txt"
    p.write_text(TRANSFERS)
    m = suggest(p).mapping
    assert m["delimiter"] == "|" and m["payer"] == {"account": "from_acct"} and m["payee"] == {"account": "to_acct"}
    assert m["currency"] == {"column": "ccy"} and m["id"] == "txn_id" and m["date"]["format"] == "%Y-%m-%d"
    amb = tmp_path / "amb.csv"
    amb.write_text("Date,Amount,Payee\n03/04/2024,-5.00,X\n05/06/2024,-7.00,Y\n")
    s = suggest(amb)
    assert any("AMBIGUOUS" in w for w in s.warnings)


def test_cli_suggest_then_dry_run_changes_nothing(tmp_path):
    p = tmp_path / "ledger.txt"
    p.write_text(TRANSFERS + "T3|2024-05-03|C-3|D-4|lots|USD|bad amount\n")
    out = tmp_path / "ledger.yaml"
    cli = [sys.executable, "-m", "moneytrail.cli.main"]
    r = subprocess.run(cli + ["mapping", "suggest", str(p), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ws = tmp_path / "case.duckdb"
    r = subprocess.run(cli + ["ingest", str(p), "--mapping", str(out), "--dry-run", "--json", "-w", str(ws)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["read"], d["stored"], d["quarantined"]) == (3, 2, 1) and d["format"] == "csv"
    assert d["first_rows"][0]["orig_account"] == "A-1" and "lots" in d["quarantine"][0]["example"]
    assert not ws.exists()                                   # no workspace was created or opened
    r = subprocess.run(cli + ["mapping", "suggest", str(p), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "never overwritten" in r.stderr
