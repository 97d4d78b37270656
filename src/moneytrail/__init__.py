"""moneytrail: a financial-investigation engine for multi-agency task forces.

The Python API is :class:`Session`, and only it: an officer working on a workspace, every method
decided by the Cedar policies and recorded in the audit log, as the CLI's commands are, and
confined to the case it is decided in::

    from moneytrail import Session

    with Session.open("case.duckdb", officer="tf-analyst-1") as s:
        rows = s.findings(limit=10)

Everything else under ``moneytrail`` (``moneytrail.workspace``, ``moneytrail.ingest``,
``moneytrail.pipeline``, ...) is the engine's inside: it checks no authority and records nothing,
like opening the DuckDB file directly, which anyone who can read the workspace's files can do.
Where the trust boundary lies, and what guards it: docs/security.md.
"""

__version__ = "0.1.0"

from moneytrail.session import Session  # noqa: E402

__all__ = ["Session", "__version__"]
