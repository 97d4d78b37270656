"""moneytrail: a financial-investigation engine for multi-agency task forces.

The public Python API is small; everything the CLI does goes through these names::

    from moneytrail import Workspace, ingest_file, run_pipeline, render_report
"""

__version__ = "0.1.0"

from moneytrail.workspace import Workspace  # noqa: E402
from moneytrail.ingest import ingest_file  # noqa: E402
from moneytrail.pipeline import run_pipeline  # noqa: E402
from moneytrail.report import render_report  # noqa: E402

__all__ = ["Workspace", "ingest_file", "run_pipeline", "render_report", "__version__"]
