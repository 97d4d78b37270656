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
    ├── EngineError                 the query engine (DuckDB, Spark) failed while a stage, a typology
    │                               or a query ran; carries ``stage``, ``typology``, ``kind`` (the
    │                               engine's error class) and ``sql``; says where and the class,
    │                               never the engine's message (it can quote data: "Could not
    │                               convert string '<value>'") nor the SQL, which go only to the
    │                               run log (``runs.error``)
    │   (defined next to the layer that raises them:)
    ├── AccessDenied                authority/decide.py: Cedar denied the action; names the
    │                               policies, the grant and the audit entry of the decision
    ├── PolicyError                 authority/decide.py: policies or schema cannot be loaded
    ├── RegistryError               authority/registry.py: a registry change is invalid (a grant
    │                               missing a required field, a placeholder 6103 authority, ...)
    ├── StateError                  authority/state.py: the registry or the sources' authority data
    │                               are not the state the signed audit log vouches for (changed
    │                               outside moneytrail, or no log): every command is refused
    ├── IdentityError               identity.py: no acting officer (--as, MONEYTRAIL_OFFICER,
    │                               config file), or one that is not an id
    ├── KeyFolderError              audit/keys.py: the key folder is open to other users
    └── AuditError                  audit/log.py: the audit log cannot be appended to or fails
                                    verification, or was never started; the command fails with it

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


class EngineError(MoneytrailError):
    """The query engine failed. ``str()`` is the one line a user sees: where (the ``stage`` and
    the ``typology``, e.g. ``detect: typology fan_in``), the engine's error class (``kind``) and
    the run whose log holds the rest. The engine's own message (``detail``), which can quote
    data, and the SQL that failed (``sql``, as the engine ran it) are never in that line: they
    go to the run log (``runs.error``, :meth:`log_text`)."""

    def __init__(self, kind: str, detail: str, *, stage: str | None = None, typology: str | None = None,
                 sql: str | None = None, where: str | None = None, run_id: int | None = None):
        self.kind, self.detail = kind, detail
        self.stage, self.typology, self.sql, self.run_id = stage, typology, sql, run_id
        self._place = where        # a place no stage names (handing a table to Spark, ...)
        msg = f"{self.where or 'a query'} failed in the query engine ({kind})"
        if run_id is not None:
            msg += f"; the full message is in the run log (run {run_id})"
        super().__init__(msg)

    @property
    def where(self) -> str | None:
        """``stage: typology T: place`` (those of them that are known)."""
        parts = [p for p in (self.stage, f"typology {self.typology}" if self.typology else None, self._place) if p]
        return ": ".join(parts) or None

    @classmethod
    def wrap(cls, e: BaseException, *, stage: str | None = None, typology: str | None = None,
             sql: str | None = None, where: str | None = None, run_id: int | None = None) -> "EngineError":
        """An EngineError for an engine exception (or a copy of an EngineError), keeping what the
        innermost caller already knew (the SQL from the backend, the typology from detect, the
        stage from the pipeline) and adding what this caller knows. Raise it ``from None``: the
        original's message must not travel with it."""
        if isinstance(e, EngineError):
            return cls(e.kind, e.detail, stage=e.stage or stage, typology=e.typology or typology,
                       sql=e.sql or sql, where=e._place or where,
                       run_id=e.run_id if e.run_id is not None else run_id)
        return cls(type(e).__name__, str(e), stage=stage, typology=typology, sql=sql, where=where, run_id=run_id)

    #: the most of a query kept in the run log
    MAX_SQL = 100_000

    def log_text(self) -> str:
        """The full text for the run log: where, the error class, the engine's message and the SQL."""
        text = f"{self.where or 'query'}: {self.kind}: {self.detail}"
        if self.sql:
            sql = self.sql if len(self.sql) <= self.MAX_SQL else self.sql[:self.MAX_SQL] + " ..."
            text += f"\nSQL: {sql}"
        return text
