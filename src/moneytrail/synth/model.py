"""Public data types of the synthetic-investigation generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass
class PlantedScheme:
    """One planted criminal scheme: ground truth for checking the detectors."""

    name: str                  # 'trafficking_funnel' | 'front_company' | 'laundering_cycle'
    typology_hint: list[str]   # detector ids expected to fire (see moneytrail typologies)
    accounts: dict[str, str]   # role -> account id
    description: str
    # creation numbers (``seq``) of the scheme's key transactions in the world (the trace's taint
    # sources for ``cross_bank_layering``); each bank file writes its rows' references from them
    transactions: list[int] = field(default_factory=list)

    def role(self, prefix: str) -> list[str]:
        """Account ids of every role named ``prefix`` or ``prefix_<n>`` (e.g. 'worker'), in order."""
        return [a for r, a in self.accounts.items() if r == prefix or r.startswith(prefix + "_")]


@dataclass
class Scenario:
    # (file, mapping yaml or None) pairs, each ingestable on its own with its format (``formats``):
    # a CSV or XLSX file with its mapping, a bank format (camt) with None
    files: list[tuple[Path, Path | None]]
    schemes: list[PlantedScheme]
    n_accounts: int                  # distinct account ids in the transactions (the 'cash' pseudo-account excluded)
    n_transactions: int              # every movement of money in the world (a transfer two banks report counts once)
    start: date                      # first day of the period
    end: date                        # last day of the period (inclusive)
    rows_per_file: dict[str, int] = field(default_factory=dict)  # file name -> transactions in it
    # (csv file, accounts mapping yaml) pairs: the banks' account registers (KYC records),
    # ingested with format 'accounts' (before or after the transactions; they upsert)
    account_files: list[tuple[Path, Path]] = field(default_factory=list)
    rows_per_account_file: dict[str, int] = field(default_factory=dict)
    # (csv file, labels mapping yaml): the case's SAR subjects, ingested with format 'labels'
    # after the transactions (ground truth for training the risk model, not evidence)
    label_files: list[tuple[Path, Path]] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # file name (of ``files``) -> ingest format
    # transfers between two subpoenaed banks: each bank reports its side (a row in each file), so
    # the files hold n_transactions + n_seen_twice rows
    n_seen_twice: int = 0
    # ground truth for entity resolution: account ids of one party at several banks (each bank's
    # register spelling the name its own way)
    parties: list[list[str]] = field(default_factory=list)
    # a planted transaction's creation number -> the reference its bank wrote for it (bank A's)
    refs: dict[int, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Rows in the bank files (``rows_per_file`` summed)."""
        return sum(self.rows_per_file.values())

    def transaction_files(self) -> list[tuple[Path, str, Path | None]]:
        """(file, ingest format, mapping or None) of each bank file, in ingest order:
        ``ingest_file(ws, path, fmt, mapping=mapping)``."""
        return [(p, self.formats.get(p.name, "csv"), m) for p, m in self.files]

    def scheme(self, name: str) -> PlantedScheme:
        for s in self.schemes:
            if s.name == name:
                return s
        raise KeyError(name)
