"""moneytrail's exceptions: one root, a few branches, messages that say what failed and what to do.

The tree::

    MoneytrailError                 root; the CLI prints ``error: <message>`` and exits 2
    ├── InputError                  a file the user gave cannot be used as a whole
    │                               (missing, empty, not CSV, a mapped column absent);
    │                               carries ``path`` and, where known, ``row`` and ``column``
    ├── MappingError                a column-mapping YAML is invalid (names the file and field)
    ├── UnknownFormatError          ``--format`` names no registered reader
    ├── WorkspaceError              the workspace cannot be opened, is too new, or lacks data
    ├── ConfigError                 a run parameter (typology threshold, window, ...) is invalid
    │   (defined next to the layer that raises them:)
    ├── AccessDenied                authority/decide.py: Cedar denied the action; names the
    │                               policies, the grant and the audit entry of the decision
    ├── PolicyError                 authority/decide.py: policies or schema cannot be loaded
    ├── RegistryError               authority/registry.py: a registry change is invalid (a grant
    │                               missing a required field, a placeholder 6103 authority, ...)
    ├── IdentityError               cli/identity.py: no acting officer (--as, MONEYTRAIL_OFFICER,
    │                               config file)
    └── AuditError                  audit/log.py: the audit log cannot be appended to or fails
                                    verification; the command fails with it

A *row* that cannot be used is never an exception: it is quarantined with a reason and the
run goes on (see ``moneytrail.ingest``).  Exceptions are for what stops a whole command.
"""

from __future__ import annotations


class MoneytrailError(Exception):
    """Root of every error moneytrail raises on purpose."""

    exit_code = 2


class InputError(MoneytrailError):
    """A user-supplied file cannot be used."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.path, self.row, self.column = path, row, column
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class MappingError(MoneytrailError):
    """A column mapping is invalid."""


class UnknownFormatError(MoneytrailError):
    """No reader is registered for the requested format."""


class WorkspaceError(MoneytrailError):
    """The workspace cannot be used for the requested command."""


class ConfigError(MoneytrailError):
    """A run parameter is invalid."""
