"""moneytrail: a financial-investigation engine for multi-agency task forces.

The Python API is :class:`Session`: an officer working on a workspace, every method decided by
the Cedar policies and recorded in the audit log, as the CLI's commands are::

    from moneytrail import Session

    with Session.open("case.duckdb", officer="tf-analyst-1") as s:
        rows = s.findings(limit=10)

The engine's building blocks (``moneytrail.ingest.ingest_file``, ``moneytrail.pipeline.run_pipeline``,
``moneytrail.report.render_report``, ...) take a :class:`Workspace` and check no authority
themselves (docs/authority.md, "Scope").
"""

__version__ = "0.1.0"

from moneytrail.workspace import Workspace  # noqa: E402
from moneytrail.session import Session  # noqa: E402

__all__ = ["Session", "Workspace", "__version__"]
