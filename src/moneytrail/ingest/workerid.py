"""Worker and taxpayer identifiers (SSN, ITIN, a TIN) are never stored: a keyed hash and the last
four digits are.

The key is derived (HKDF-SHA256, its own label) from the workspace's secret kept beside its
signing key, outside the workspace folder (:func:`moneytrail.audit.keys.secret`), as the key
sealing FTI evidence is. So the hash of a number in one workspace says nothing in another, and
someone holding only the workspace file cannot test the billion possible SSNs against it (an
unkeyed hash of a nine-digit number is reversed in seconds). Two records of one workspace naming
the same number have the same key: that is all the analytics need (how many workers, whose
wages went where), and nothing compares these keys with any outside source.

:func:`classify` says what a nine-digit number is: an SSN as the SSA issues them (area not 000,
666 or 900-999; group not 00; serial not 0000), an ITIN (area 9xx, group 50-65, 70-88, 90-92 or
94-99, IRS Publication 1915), or neither (``ssn_invalid``: kept, hashed like the others, because a
payroll full of numbers the SSA never issued is itself what an investigator looks for).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Callable

_NINE = re.compile(r"[0-9]{3}-?[0-9]{2}-?[0-9]{4}")
#: nine digits as SSNs and TINs are written (with or without dashes or blanks), anywhere in a text
IN_TEXT = re.compile(r"(?<![0-9])[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}(?![0-9])")


def digits(text: str | None) -> str | None:
    """The nine digits of an identifier written ``123-45-6789``, ``123 45 6789`` or ``123456789``;
    None for anything else."""
    if text is None:
        return None
    t = text.strip().replace(" ", "")
    if not _NINE.fullmatch(t):
        return None
    return t.replace("-", "")


def classify(d: str) -> str:
    """``ssn``, ``itin`` or ``ssn_invalid`` for nine digits ``d``."""
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    if area >= 900:
        ok = 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99
        return "itin" if ok else "ssn_invalid"
    if area == 0 or area == 666 or group == 0 or serial == 0:
        return "ssn_invalid"
    return "ssn"


def mask(d: str) -> str:
    """How an identifier is shown anywhere moneytrail writes it: ``***-**-6789``."""
    return "***-**-" + d[-4:]


def mask_text(text: str) -> str:
    """``text`` with every nine-digit identifier in it masked (a quarantined row's raw text)."""
    return IN_TEXT.sub(lambda m: mask(re.sub(r"[^0-9]", "", m.group(0))), text)


def _key(secret: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if not secret:
        raise ValueError("no workspace secret to derive the identifier key from")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"moneytrail worker id v1").derive(secret)


def hasher(ws) -> Callable[[str, str], str]:
    """``h(kind, value)``: the workspace's keyed hash (HMAC-SHA256, 32 hex digits) of an
    identifier of a kind (``tin`` for SSN/ITIN/EIN numbers, ``employee:<employer>`` for an
    employer's own worker number)."""
    from moneytrail.audit import AuditLog, keys

    main = getattr(ws, "main", ws)
    k = _key(keys.secret(AuditLog.of(main).log_id, create=True))

    def h(kind: str, value: str) -> str:
        return hmac.new(k, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return h


__all__ = ["IN_TEXT", "classify", "digits", "hasher", "mask", "mask_text"]
