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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from providers import locks
from providers.bulk import BulkLoad
from providers.errormap import ErrorMap
from providers.types import (
    Descriptor,
    Health,
    Login,
    Namespace,
    Orphan,
    PluginSpec,
    RuntimeConnection,
    StorageState,
    file_connection,
)
from worker.credentials import SLOTS, Credentials, other_slot
from worker.errors import ProviderError
from worker.settings import Settings

if TYPE_CHECKING:
    from providers.targets import Target

__all__ = [
    "SLOTS",
    "Credentials",
    "Descriptor",
    "Health",
    "Login",
    "Namespace",
    "Orphan",
    "PluginSpec",
    "Provider",
    "RuntimeConnection",
    "Scratch",
    "StorageState",
    "file_connection",
    "other_slot",
]

Scratch = tuple[sa.Engine, str | None, str]
"""A scratch database: (engine, schema to reflect or None, container name for the guard)."""


class Sink(Protocol):
    """Where a driver streams a snapshot (compressed and sealed on the way to its store)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Take the next bytes of the dump."""
        ...


class Provider(ABC, BulkLoad):
    """Base class of storage drivers. Per-dialect facts are class attributes."""

    name: ClassVar[str]
    """Registry name (``sqlite``, ``postgresql``, ``mysql``, ``shared``)."""
    modes: ClassVar[frozenset[str]] = frozenset()
    """Manifest modes this driver serves (``shared``, ``exclusive-postgres``, ...)."""
    errors: ClassVar[ErrorMap] = ErrorMap(())
    """The driver's error table, applied at its one boundary (:meth:`ErrorMap.translated`)."""
    dialect: ClassVar[str]
    """sqlglot dialect used to parse the plugin's migrations."""
    transactional_ddl: ClassVar[bool]
    """Whether DDL can be rolled back, so one migration file is one transaction."""
    issues_credentials: ClassVar[bool]
    """Whether the plugin gets logins of its own (rotation applies only then)."""
    runs_scripts: ClassVar[bool] = False
    """Whether one ``execute`` without parameters on :meth:`connect`'s connections runs
    several statements as one implicit transaction (PostgreSQL's simple query protocol)."""
    paramstyle: ClassVar[str] = "qmark"
    """DB-API parameter style of :meth:`connect`'s connections."""
    unsupported: ClassVar[Mapping[str, str]] = {}
    """Operation kind → reason, for steps that do not apply to this provider."""
    history_table: ClassVar[str] = "plugin_db_history"
    """Ledger inside the plugin's storage, written in the same transaction as a migration."""
    sqlalchemy_scheme: ClassVar[str] = "sqlite://"
    """SQLAlchemy URL prefix of :meth:`plugin_engine` (its connections come from connect)."""
    holds_other_plugins: ClassVar[bool] = False
    """Whether one database holds several plugins' objects (shared mode)."""

    @property
    def supports_rotation(self) -> bool:
        """Whether credentials can be rotated (only drivers that issue them)."""
        return self.issues_credentials and "rotate" not in self.unsupported

    def history_table_name(self, spec: PluginSpec) -> str:
        """The ledger table's name for ``spec`` (shared mode prefixes it)."""
        return self.history_table

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> Provider:
        """Build the driver for ``target`` (its ``admin_url`` and ``options``)."""
        raise ProviderError(f"driver {cls.name!r} cannot be built from a target")

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        """The driver of the default target named after this driver (see providers.targets)."""
        from providers.targets import Target, default_targets

        return cls.from_target(
            default_targets(settings).get(cls.name, Target(cls.name, cls.name)), settings
        )

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

    def login_for(self, spec: PluginSpec, credentials: Credentials | None) -> Login | None:
        """The login of the slot in use (None for drivers that issue no credentials)."""
        if credentials is None or not self.issues_credentials:
            return None
        slot = credentials.in_use
        return Login(self.describe(spec, slot).username or "", credentials.passwords[slot])

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """Hold the plugin's migration lock on ``conn`` (its own connection) for a block.

        Waits at most ``wait`` seconds, then raises LockTimeout. The default takes no lock:
        a driver whose backend serializes writers itself needs none.
        """
        return nullcontext(locks.Lease(conn))

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

    # -- hooks with defaults: override where the backend differs ------------------------

    def plugin_engine(self, spec: PluginSpec, login: Login | None) -> sa.Engine:
        """A SQLAlchemy engine whose connections are :meth:`connect`'s (as the plugin)."""

        def creator() -> Any:
            return self.connect(spec, login)

        return sa.create_engine(self.sqlalchemy_scheme, creator=creator, poolclass=sa.NullPool)

    def admin_engine(self) -> sa.Engine:
        """A SQLAlchemy engine on the target's admin connection (autocommit, not pooled)."""
        raise ProviderError(f"the {self.name} driver has no admin connection")

    def reflection_schema(self, spec: PluginSpec) -> str | None:
        """The schema to reflect the plugin's tables in (None: the connection's default)."""
        return None

    def schema_change(self, cursor: Any) -> AbstractContextManager[None]:
        """Wrap running a planned schema change on the plugin's cursor (default: nothing)."""
        return nullcontext()

    def integrity_problem(self, cursor: Any) -> tuple[str, str] | None:
        """(check, problem) if the schema change broke integrity the database did not check."""
        return None

    @contextmanager
    def scratch_database(self) -> Iterator[Scratch]:
        """A throwaway database of this backend for ``migrations verify``, removed afterwards."""
        raise ProviderError(f"the {self.name} driver offers no scratch database for verify")
        yield  # pragma: no cover

    def find_orphans(self, tracked: Iterable[PluginSpec]) -> list[Orphan]:
        """Storage named like a plugin's that none of ``tracked`` owns (default: none seen)."""
        return []

    def close(self) -> None:
        """Release pooled admin connections (optional)."""

    # -- data hooks: sizes, snapshots, quotas (NotImplementedError: the driver lacks it) ------

    snapshot_format: ClassVar[str | None] = None
    """Format :meth:`dump` writes (``sqlite``, ``pg_custom``, ``sql``); None: no snapshots."""
    snapshots_archived: ClassVar[bool] = True
    """Whether :meth:`dump` can copy archived storage (a purge snapshots it first)."""

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

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop side and replaced objects and quota leftovers (before a purge)."""

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Make every login of the plugin read-only (writes refused, reads work), or writable.

        Airtight: open sessions are ended or cannot write either. Idempotent; archived too.
        """
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether :meth:`set_read_only` is in force for the plugin."""
        raise NotImplementedError(f"{self.name} cannot make a plugin read-only")

    def set_timeouts(self, spec: PluginSpec) -> None:
        """Apply ``spec``'s statement and idle-in-transaction timeouts to the plugin's logins."""
        raise NotImplementedError(f"{self.name} has no per-login timeouts")
