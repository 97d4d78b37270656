"""The records moneytrail hands out at its boundaries: :class:`Finding` (with
:class:`FindingAccount`), returned by :meth:`moneytrail.Session.findings`."""

from moneytrail.model.finding import Finding, FindingAccount, FindingRecord

__all__ = ["Finding", "FindingAccount", "FindingRecord"]
