"""What a bank statement file says, as every statement reader yields it (issue 13).

The readers for the formats banks send (``camt`` ISO 20022 camt.053/052, ``mt940`` SWIFT
MT940/942, ``bai2``, ``ofx`` OFX/QFX 1.x and 2.x) each turn a file into one stream of three
kinds of record, in file order:

:class:`Statement`
    one account's statement (or report, or BAI2 account group, or OFX statement response): the
    account, its holder and bank, and the balances the bank states. Every :class:`Entry` and
    :class:`Bad` that follows belongs to the last Statement yielded.
:class:`Entry`
    one movement of money on that account, as the bank wrote it: the values are the file's own
    text (amounts and dates unparsed, trimmed), so the loader (:mod:`moneytrail.ingest.statements`)
    validates every format the same way and quarantines what it cannot use with the reason.
:class:`Bad`
    a record the reader itself could not make sense of (a malformed line, a group whose control
    totals do not add up, an element missing its amount): kept, with its place in the file and
    why, so that ``read = stored + quarantined`` holds.

A reader never drops a record silently and never stops at a bad one; a file that cannot be used
at all (not this format, truncated before the first statement, an XML bomb) raises
:class:`moneytrail.errors.InputError` with one line naming the file and the problem.

Positions (``position``) are what an investigator needs to find the record in the original file:
``line 12`` (or ``lines 12-14`` for a record spread over lines) for line-oriented formats, an
XML path with 1-based indexes such as ``/Document/BkToCstmrStmt/Stmt[2]/Ntry[17]/NtryDtls[1]/TxDtls[3]``
for XML. Together with the source's SHA-256 they name the record exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union

# directions, from the statement holder's side
CREDIT = "credit"    # money into the statement's account
DEBIT = "debit"      # money out of it


@dataclass
class Balance:
    """A balance the bank states: ``amount`` as the file writes it, signed by ``negative``
    (camt's ``CdtDbtInd`` DBIT, MT940's ``D`` mark, a minus in BAI2/OFX)."""

    amount: str
    date: str | None = None        # the file's date text (ISO, YYMMDD, ...), parsed by the loader
    negative: bool = False
    date_format: str | None = None  # strptime format of ``date`` when not ISO 8601


@dataclass
class Statement:
    position: str                          # where the statement starts in the file
    kind: str                              # camt.053 | camt.052 | mt940 | mt942 | bai2 | ofx
    account: str | None                    # IBAN or account number, as written (spaces removed)
    currency: str | None = None            # the account's currency (ISO 4217), if stated
    holder_name: str | None = None
    holder_address: str | None = None
    bank_id: str | None = None             # BIC, ABA routing number, bank code
    bank_name: str | None = None
    statement_id: str | None = None        # camt Stmt/Id, MT940 :20:/:28C:, OFX/BAI2 file or group id
    sequence: str | None = None            # electronic sequence / page number
    created: str | None = None             # when the bank created it (file text)
    period_from: str | None = None
    period_to: str | None = None
    opening_booked: Balance | None = None
    closing_booked: Balance | None = None
    opening_available: Balance | None = None
    closing_available: Balance | None = None
    date_format: str | None = None         # strptime format for this statement's dates if not ISO
    extra: dict[str, str] = field(default_factory=dict)   # anything else worth keeping (small)


@dataclass
class Entry:
    position: str
    amount: str                            # the file's amount text, unsigned (see ``direction``)
    direction: str | None                  # CREDIT | DEBIT | None when the file does not say (quarantined)
    booking_date: str | None               # the file's date text; the loader parses it
    value_date: str | None = None
    time: str | None = None                # a time of day when the file gives one (HH:MM[:SS])
    currency: str | None = None            # the entry's currency (else the statement's)
    counterparty_name: str | None = None
    counterparty_account: str | None = None   # IBAN / account number of the other side
    counterparty_bank: str | None = None      # its BIC / routing number / bank name
    end_to_end_id: str | None = None
    bank_reference: str | None = None      # the bank's own reference for the entry (AcctSvcrRef, :61: ref, FITID)
    customer_reference: str | None = None  # the account owner's reference (MT940 :61: first ref, camt InstrId)
    remittance: str | None = None          # remittance information / narrative / memo
    tx_code: str | None = None             # the bank's transaction code (camt BkTxCd, SWIFT code, BAI2 type code, OFX TRNTYPE)
    channel: str | None = None             # one of moneytrail.ingest.mapping.CHANNELS, if the reader can tell
    location: str | None = None            # where a card or cash transaction took place (camt CardTx/POI/SysNm)
    batch: str | None = None               # the batch this entry was split from (camt Ntry with several TxDtls)
    status: str | None = None              # BOOK | PDNG | INFO (camt), else None (booked)
    date_format: str | None = None         # strptime format of the dates when not ISO 8601
    raw: str = ""                          # the record's text (capped by the reader), for quarantine


@dataclass
class Bad:
    position: str
    raw: str
    reason: str
    column: str | None = None              # the field at fault (e.g. ``amount``, ``Amt``, ``:61:``)
    counts_entries: int = 1                # how many records this stands for (a rejected BAI2 group: its entries)


Record = Union[Statement, Entry, Bad]
RecordStream = Iterator[Record]

# the most characters of a record's text kept for the quarantine table
RAW_CHARS = 2000


def clip(text: str | None, n: int = RAW_CHARS) -> str:
    """A record's text for ``raw``: at most ``n`` characters, the rest counted."""
    if text is None:
        return ""
    return text if len(text) <= n else text[:n] + f"… [{len(text) - n} more characters]"


__all__ = ["Balance", "Bad", "CREDIT", "DEBIT", "Entry", "RAW_CHARS", "Record", "RecordStream", "Statement", "clip"]
