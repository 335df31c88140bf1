"""The one exception tree of plugin-db.

::

    PluginDbError
    ├── RequestRejected          bad input: nothing was changed (exit status 2)
    │   ├── ManifestError        plugin.json does not follow the contract
    │   ├── MigrationFileError   a migration file cannot be parsed or is outside its namespace
    │   ├── SchemaDocumentError  an ExtensionDatabaseSchema document is invalid
    │   │   └── DestructiveChangeRefused  a schema plan drops or narrows without force
    │   ├── UnknownTarget        a request names a target that is not configured
    │   ├── PlacementRefused     no open target serving the mode has room (or the labels)
    │   ├── UnknownPlugin        a command names a plugin with no datasource (also LookupError)
    │   ├── RetryRefused         ``plugin-db retry`` cannot reset that operation
    │   ├── MalformedEnvelope    a broker message is not a kombu envelope (also ValueError)
    │   ├── NotFound             the plugin, operation or token named does not exist
    │   │   └── UnknownEndpoint  no webhook endpoint has this id
    │   ├── UnknownGeneration    a connection ack names a generation the plugin never had
    │   ├── Conflict             the resource's state does not allow the request now
    │   ├── AddressRefused       a webhook URL points where webhooks may not go
    │   ├── Unauthenticated      no bearer token, or an unknown or revoked one (HTTP 401)
    │   └── Forbidden            the token lacks the scope the request needs (HTTP 403)
    ├── PermanentError           the operation fails at once, retrying cannot help
    │   ├── InvalidTransition    a state machine was asked for a move it does not allow
    │   ├── MigrationFailed      a migration statement failed
    │   ├── MigrationBlocked     an earlier failed version blocks the plan
    │   ├── DependencyError      a plugin dependency is missing, cyclic or not migrated
    │   ├── EntryPointFailed     a plugin's own migration runner failed
    │   ├── ProofStopped         a reversibility proof could not run one part
    │   ├── DriftDetected        an applied migration file changed since it ran
    │   ├── MigrationRefused     the linter's findings stop a migration (without force)
    │   ├── SnapshotError        a snapshot cannot be taken, read or trusted
    │   └── ProviderError        a provider refused the work for good
    │       └── TargetError      the targets file is invalid
    ├── TransientError           retried with backoff, then the operation fails
    │   ├── ProviderUnavailable  the target database cannot be reached
    │   ├── TrackingUnavailable  the tracking database cannot be reached
    │   ├── PluginBusy           another operation on the same plugin runs first
    │   │   └── DependencyBusy   a dependency is being migrated right now
    │   ├── LockTimeout          a migration lock could not be taken in time
    │   └── NotReady             the API's tracking database or broker is unreachable (HTTP 503)
    ├── LeaseLost                another worker owns the operation now; stop quietly
    └── TrackingOutOfDate        the tracking database needs ``plugin-db db upgrade``

The HTTP API answers each of these with an RFC 9457 problem document (worker/api/problems.py
maps the classes to statuses: RequestRejected 422 unless noted, TransientError 503).

Driver errors are translated at the provider boundary with ``raise ... from exc``; messages
never carry a password (the logging redactor masks any that slip through).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


class DestructiveChangeRefused(SchemaDocumentError):
    """The plan drops or narrows something and ``force`` was not given; ``plan`` shows it."""

    def __init__(self, plan: Any) -> None:
        self.plan = plan
        super().__init__(
            "destructive schema change refused",
            [f"{text}; pass force to apply it" for text in plan.destructive],
        )


class UnknownTarget(RequestRejected):
    """A request names a target that is not configured or cannot serve its mode."""


class PlacementRefused(RequestRejected):
    """No open target that serves the mode matches the labels and has room for the plugin."""


class UnknownPlugin(RequestRejected, LookupError):
    """A command names a plugin that has no datasource."""

    def __init__(self, plugin_id: str) -> None:
        super().__init__(plugin_id)


class RetryRefused(RequestRejected):
    """The operation cannot be reset for a retry (unknown, running or not failed)."""


class MalformedEnvelope(RequestRejected, ValueError):
    """A broker message body is not a kombu envelope."""


class NotFound(RequestRejected):
    """What the request names does not exist (HTTP 404)."""


class Conflict(RequestRejected):
    """The resource exists but its state does not allow the request now (HTTP 409)."""


class UnknownGeneration(RequestRejected):
    """An ack names a generation the plugin never had."""


class AddressRefused(RequestRejected):
    """A webhook URL points where webhooks may not go."""


class Unauthenticated(RequestRejected):
    """No bearer token, or one that is unknown or revoked (HTTP 401)."""


class Forbidden(RequestRejected):
    """The token is valid but lacks the scope the request needs (HTTP 403)."""


class UnknownEndpoint(NotFound):
    """No webhook endpoint has this id."""


class PermanentError(PluginDbError):
    """The operation cannot succeed by retrying; it fails at once."""


class InvalidTransition(PermanentError):
    """A state machine was asked for a move its transition table does not allow."""


class MigrationFailed(PermanentError):
    """A migration statement failed; ``statement`` names it."""

    def __init__(self, version: str, statement: str, reason: str) -> None:
        self.version, self.statement, self.reason = version, statement, reason
        super().__init__(f"migration {version} failed at statement {statement!r}: {reason}")


class MigrationBlocked(PermanentError):
    """A failed version blocks every later one until it is repaired."""


class DependencyError(PermanentError):
    """A declared plugin dependency is missing, cyclic or not migrated yet."""


class EntryPointFailed(PermanentError):
    """The plugin's own migration runner failed or could not be started."""


class ProofStopped(PermanentError):
    """A part of a reversibility proof could not run; the proof ends with this message."""


class DriftDetected(PermanentError):
    """An applied migration file has changed since it ran."""


class MigrationRefused(PermanentError):
    """Destructive SQL with no snapshot, or locking SQL on a large table, without force."""


class SnapshotError(PermanentError):
    """A snapshot cannot be taken, found, decrypted or verified; the message says why."""


class ProviderError(PermanentError):
    """A provider refused the work for a reason retrying cannot fix."""


class TargetError(ProviderError):
    """The targets file (``PLUGIN_DB_TARGETS``) is invalid or names an unknown driver."""


class TransientError(PluginDbError):
    """A temporary failure: retried with exponential backoff up to a limit."""


class ProviderUnavailable(TransientError):
    """The plugin's database server cannot be reached right now."""


class TrackingUnavailable(TransientError):
    """The tracking database cannot be reached right now."""


class PluginBusy(TransientError):
    """An earlier operation on the same plugin has not finished yet."""


class DependencyBusy(PluginBusy):
    """A dependency with pending migrations is being migrated right now: retry later."""


class LockTimeout(TransientError):
    """A per-plugin lock could not be acquired within the bounded wait."""


class NotReady(TransientError):
    """A service the API needs (tracking database, broker) is unreachable; the message names
    which (HTTP 503 on ``/readyz``)."""


class LeaseLost(PluginDbError):
    """Another worker claimed the operation; this one must stop without writing."""


class TrackingOutOfDate(PluginDbError):
    """The tracking database is behind the code's Alembic head."""
