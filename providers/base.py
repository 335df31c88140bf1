"""The provider contract every storage driver implements.

Every method that changes something is idempotent: calling it again after it succeeded, or
after a crash part-way through, converges on the same end state and never fails with
"already exists" or "does not exist". The lifecycle engine relies on this to resume a step
that a killed worker may or may not have finished.

Drivers translate their database errors at this boundary: an unreachable server becomes
:class:`~worker.errors.ProviderUnavailable` (retried), anything retrying cannot fix becomes
:class:`~worker.errors.ProviderError`. Messages never carry a password.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

from sqlalchemy.engine import make_url

from worker.naming import namespace
from worker.settings import Settings

SLOTS = ("a", "b")
"""Login slots: two logins per plugin, used alternately so rotation never cuts anyone off."""


def other_slot(slot: str) -> str:
    """The slot rotation writes next."""
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


class Sink(Protocol):
    """Where a driver streams a snapshot (compressed and sealed on the way to its store)."""

    def write(self, data: bytes, /) -> int:
        """Take the next bytes of the dump."""
        ...


class StorageState(StrEnum):
    """What a provider finds in its backend for one plugin."""

    ABSENT = "absent"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class PluginSpec:
    """What a provider needs to know about a plugin; built from its manifest."""

    plugin_id: str
    storage_mb: int | None = None
    connections: int | None = None
    schema: str | None = None
    feature_flag: str | None = None
    statement_timeout_ms: int | None = None
    idle_in_transaction_timeout_ms: int | None = None

    @property
    def namespace(self) -> str:
        """SQL-safe namespace (the id with '-' as '_')."""
        return namespace(self.plugin_id)


@dataclass(frozen=True)
class Login:
    """A credential issued to a plugin. Never logged: its repr hides the password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Descriptor:
    """How a plugin reaches its storage; safe to store and show (no password, ever)."""

    provider: str
    url: str
    username: str | None = None
    objects: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in ``plugin_datasources.descriptor``."""
        return {
            "provider": self.provider,
            "url": self.url,
            "username": self.username,
            "objects": dict(self.objects),
            "limits": dict(self.limits),
        }


@dataclass(frozen=True)
class RuntimeConnection:
    """How a plugin's runtime connects: a URL Prisma and the drivers accept, with password."""

    url: str = field(repr=False)
    schema: str | None = None
    database: str | None = None
    username: str | None = None


def file_connection(path: str) -> RuntimeConnection:
    """``file:/abs/path.db``: the SQLite URL form Prisma and its adapters accept."""
    return RuntimeConnection(url="file:" + quote(path))


@dataclass(frozen=True)
class Namespace:
    """Where a plugin's migrations may create, alter or drop objects.

    ``containers`` are the schema/database qualifiers a statement may use (an unqualified
    name is always resolved inside the plugin's own container); ``table_prefix``, when
    set, is a prefix every object name must carry (shared mode).
    """

    containers: frozenset[str] = frozenset()
    table_prefix: str | None = None


@dataclass(frozen=True)
class Health:
    """Result of a provider health check, from the plugin's own point of view."""

    ok: bool
    size_bytes: int | None = None
    connection_limit: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """Base class of storage drivers. Per-dialect facts are class attributes."""

    name: ClassVar[str]
    """Registry name (``sqlite``, ``postgresql``, ``mysql``, ``shared``)."""
    dialect: ClassVar[str]
    """sqlglot dialect used to parse the plugin's migrations."""
    transactional_ddl: ClassVar[bool]
    """Whether DDL can be rolled back, so one migration file is one transaction."""
    issues_credentials: ClassVar[bool]
    """Whether the plugin gets logins of its own (rotation applies only then)."""
    paramstyle: ClassVar[str] = "qmark"
    """DB-API parameter style of :meth:`connect`'s connections."""
    unsupported: ClassVar[Mapping[str, str]] = {}
    """Operation kind → reason, for steps that do not apply to this provider."""
    history_table: ClassVar[str] = "plugin_db_history"
    """Ledger inside the plugin's storage, written in the same transaction as a migration."""

    def history_table_name(self, spec: PluginSpec) -> str:
        """The ledger table's name for ``spec`` (shared mode prefixes it)."""
        return self.history_table

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """Build the driver from settings (drivers never read the environment)."""

    @abstractmethod
    def describe(self, spec: PluginSpec, slot: str = SLOTS[0]) -> Descriptor:
        """The descriptor for ``spec`` with login ``slot`` active; pure, no I/O."""

    @classmethod
    def runtime_connection(
        cls, descriptor: Mapping[str, Any], password: str | None
    ) -> RuntimeConnection:
        """The runtime's connection for a stored descriptor (pure; drivers add what they need).

        The URL is rebuilt with a URL library: the password is percent-encoded and the
        SQLAlchemy driver suffix (``+psycopg``) is dropped, as Prisma expects.
        """
        url = make_url(descriptor["url"])
        url = url.set(drivername=url.get_backend_name(), password=password)
        return RuntimeConnection(
            url=url.render_as_string(hide_password=False),
            database=url.database,
            username=url.username,
        )

    @abstractmethod
    def state(self, spec: PluginSpec) -> StorageState:
        """Whether the plugin's storage is absent, active or archived."""

    @abstractmethod
    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Create the storage and login slot ``a`` with ``password``.

        Objects that already exist are left alone; the slot-``a`` password is set again, so
        a retry after a crash converges on the password the engine stores.
        """

    def rotate(self, spec: PluginSpec, slot: str, password: str) -> Descriptor:
        """Set ``password`` on login ``slot`` and prove it by logging in.

        If the proof fails the active credential is untouched and an error is raised.
        """
        raise NotImplementedError(self.unsupported.get("rotate", "rotation not supported"))

    @abstractmethod
    def archive(self, spec: PluginSpec) -> None:
        """Make the storage unreachable for the plugin, keeping its data; no effect if archived."""

    @abstractmethod
    def restore(self, spec: PluginSpec) -> None:
        """Bring archived storage back; no effect if already active."""

    @abstractmethod
    def purge(self, spec: PluginSpec) -> None:
        """Delete the storage, archived or not, and every login; no effect if already gone."""

    @abstractmethod
    def connect(self, spec: PluginSpec, login: Login | None) -> Any:
        """An autocommit DB-API connection to the plugin's storage, as the plugin itself.

        It logs in with ``login`` (not as admin), so the database enforces the plugin's
        privileges; callers issue BEGIN/COMMIT/ROLLBACK themselves. Raises ProviderUnavailable
        when the server cannot be reached.
        """

    @abstractmethod
    def namespace(self, spec: PluginSpec) -> Namespace:
        """Where the plugin's migrations may touch objects."""

    @abstractmethod
    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """Connect as the plugin and report size, limits and reachability."""

    # -- login retirement (providers that issue credentials) ----------------------------

    def retire_login(self, spec: PluginSpec, slot: str) -> None:
        """Refuse new logins as ``slot`` and end its sessions; no effect if already retired.

        The next rotation onto ``slot`` (:meth:`rotate`) makes it valid again.
        """
        raise NotImplementedError(self.unsupported.get("rotate", "rotation not supported"))

    def login_sessions(self, spec: PluginSpec, slot: str) -> int:
        """How many sessions of login ``slot`` are open right now."""
        raise NotImplementedError(self.unsupported.get("rotate", "rotation not supported"))

    def ownership(self) -> Callable[[str], str | None] | None:
        """Which plugin owns an object name, where names decide it (shared mode); else None."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pooled admin connections (optional)."""

    # -- data hooks: sizes, snapshots, quotas (NotImplementedError: the driver lacks it) ------

    snapshot_format: ClassVar[str | None] = None
    """Format :meth:`dump` writes (``sqlite``, ``pg_custom``, ``sql``); None: no snapshots."""

    def table_sizes(self, spec: PluginSpec, tables: Sequence[str]) -> dict[str, int]:
        """Bytes (data and indexes) of each of ``tables`` that exists, by name."""
        raise NotImplementedError(f"{self.name} does not measure tables")

    def size_bytes(self, spec: PluginSpec) -> int:
        """Bytes the plugin's storage takes (what ``limits.storageMb`` caps)."""
        raise NotImplementedError(f"{self.name} does not measure storage")

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """Stream a consistent copy of the plugin's storage (only its objects) into ``sink``.

        Returns the rows per table of that copy (what a restore is verified against).
        """
        raise NotImplementedError(f"{self.name} cannot take snapshots")

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Load a snapshot (as :meth:`dump` wrote it) into a fresh side object of the plugin
        (a schema, database or file), dropping any earlier one."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side object; None when there is none."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def swap_side(self, spec: PluginSpec) -> str | None:
        """Put the side object in place atomically, keeping the replaced storage archived;
        returns where it is kept. No effect (None) without a side object."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side object, if any."""
        raise NotImplementedError(f"{self.name} cannot restore snapshots")

    def discard_restore_objects(self, spec: PluginSpec) -> None:  # noqa: B027 - optional hook
        """Drop side and replaced objects and quota leftovers (before a purge)."""

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Make every login of the plugin read-only (writes refused, reads work), or writable.

        Airtight: open sessions are ended or cannot write either. Idempotent.
        """
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether :meth:`set_read_only` is in force for the plugin."""
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def set_timeouts(self, spec: PluginSpec) -> None:
        """Apply ``spec``'s statement and idle-in-transaction timeouts to the plugin's logins."""
        raise NotImplementedError(f"{self.name} has no per-login timeouts")
