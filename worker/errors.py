"""The one exception tree of plugin-db.

::

    PluginDbError
    ├── RequestRejected          bad input: nothing was changed (exit status 2)
    │   ├── ManifestError        plugin.json does not follow the contract
    │   ├── MigrationFileError   a migration file cannot be parsed or is outside its namespace
    │   ├── SchemaDocumentError  an ExtensionDatabaseSchema document is invalid
    │   ├── NotFound             the plugin, operation or token named does not exist
    │   └── Conflict             the resource's state does not allow the request now
    ├── PermanentError           the operation fails at once, retrying cannot help
    │   ├── InvalidTransition    a state machine was asked for a move it does not allow
    │   ├── MigrationFailed      a migration statement failed
    │   ├── DriftDetected        an applied migration file changed since it ran
    │   ├── MigrationRefused     the linter's findings stop a migration (without force)
    │   ├── SnapshotError        a snapshot cannot be taken, read or trusted
    │   └── ProviderError        a provider refused the work for good
    ├── TransientError           retried with backoff, then the operation fails
    │   ├── ProviderUnavailable  the target database cannot be reached
    │   ├── TrackingUnavailable  the tracking database cannot be reached
    │   ├── PluginBusy           another operation on the same plugin runs first
    │   └── LockTimeout          a migration lock could not be taken in time
    ├── LeaseLost                another worker owns the operation now; stop quietly
    └── TrackingOutOfDate        the tracking database needs ``plugin-db db upgrade``

Driver errors are translated at the provider boundary with ``raise ... from exc``; messages
never carry a password (the logging redactor masks any that slip through).
"""

from __future__ import annotations

from collections.abc import Sequence


class PluginDbError(Exception):
    """Base of every error plugin-db raises on purpose."""


class RequestRejected(PluginDbError):
    """The request is invalid; ``problems`` lists each field and what to fix."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems) or [message]
        super().__init__(message if not problems else f"{message}: " + "; ".join(problems))


class ManifestError(RequestRejected):
    """plugin.json (or the request carrying it) does not follow the contract."""


class MigrationFileError(RequestRejected):
    """A migration file is malformed or touches objects outside the plugin's namespace."""


class SchemaDocumentError(RequestRejected):
    """An ExtensionDatabaseSchema document is invalid or conflicts with another one."""


class NotFound(RequestRejected):
    """What the request names does not exist (HTTP 404)."""


class Conflict(RequestRejected):
    """The resource exists but its state does not allow the request now (HTTP 409)."""


class PermanentError(PluginDbError):
    """The operation cannot succeed by retrying; it fails at once."""


class InvalidTransition(PermanentError):
    """A state machine was asked for a move its transition table does not allow."""


class MigrationFailed(PermanentError):
    """A migration statement failed; ``statement`` names it."""

    def __init__(self, version: str, statement: str, reason: str) -> None:
        self.version, self.statement, self.reason = version, statement, reason
        super().__init__(f"migration {version} failed at statement {statement!r}: {reason}")


class DriftDetected(PermanentError):
    """An applied migration file has changed since it ran."""


class MigrationRefused(PermanentError):
    """Destructive SQL with no snapshot, or locking SQL on a large table, without force."""


class SnapshotError(PermanentError):
    """A snapshot cannot be taken, found, decrypted or verified; the message says why."""


class ProviderError(PermanentError):
    """A provider refused the work for a reason retrying cannot fix."""


class TransientError(PluginDbError):
    """A temporary failure: retried with exponential backoff up to a limit."""


class ProviderUnavailable(TransientError):
    """The plugin's database server cannot be reached right now."""


class TrackingUnavailable(TransientError):
    """The tracking database cannot be reached right now."""


class PluginBusy(TransientError):
    """An earlier operation on the same plugin has not finished yet."""


class LockTimeout(TransientError):
    """A per-plugin lock could not be acquired within the bounded wait."""


class LeaseLost(PluginDbError):
    """Another worker claimed the operation; this one must stop without writing."""


class TrackingOutOfDate(PluginDbError):
    """The tracking database is behind the code's Alembic head."""
