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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from providers import locks
from providers.bulk import BulkLoad
from providers.data_hooks import DataHooks, Sink
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

if TYPE_CHECKING:  # SQLAlchemy loads on first use: a health check or a doctor needs none
    import sqlalchemy as sa

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
    "Sink",
    "StorageState",
    "file_connection",
    "other_slot",
]

Scratch: TypeAlias = "tuple[sa.Engine, str | None, str]"
"""A scratch database: (engine, schema to reflect or None, container name for the guard)."""


class Provider(ABC, DataHooks, BulkLoad):
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
        from sqlalchemy.engine import make_url

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

        import sqlalchemy as sa

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
