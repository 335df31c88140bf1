"""``memory``: an in-memory stub driver for fast engine tests, and a template to copy.

Each plugin gets a shared-cache in-memory SQLite database that lives as long as the driver
(one keeper connection holds it open). Nothing touches the disk and nothing needs a server,
so the migration engine and the lifecycle steps can be exercised in milliseconds. A
third-party author can start from this file: it overrides exactly the abstract methods of
:class:`~providers.base.Provider` and declares the class attributes every driver declares.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from typing import ClassVar

from providers.base import (
    Descriptor,
    Health,
    Login,
    Namespace,
    PluginSpec,
    Provider,
    StorageState,
)
from providers.errormap import SQLITE_RULES, ErrorMap
from providers.families import SQLiteFamily
from providers.targets import Target
from worker.errors import ProviderError
from worker.settings import Settings


class MemoryProvider(SQLiteFamily, Provider):
    """Plugins live in memory; archive hides them, purge forgets them."""

    name: ClassVar[str] = "memory"
    modes: ClassVar[frozenset[str]] = frozenset({"exclusive-sqlite"})
    dialect: ClassVar[str] = "sqlite"
    transactional_ddl: ClassVar[bool] = True
    issues_credentials: ClassVar[bool] = False
    errors: ClassVar[ErrorMap] = ErrorMap(SQLITE_RULES)
    unsupported: ClassVar[dict[str, str]] = {"rotate": "an in-memory database has no logins"}

    def __init__(self) -> None:
        self._tag = uuid.uuid4().hex[:8]  # two drivers never share a database
        self._keepers: dict[str, sqlite3.Connection] = {}
        self._archived: set[str] = set()

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> MemoryProvider:
        """Needs nothing from the target."""
        return cls()

    def _uri(self, spec: PluginSpec) -> str:
        return f"file:plugin-db-{self._tag}-{spec.plugin_id}?mode=memory&cache=shared"

    def describe(self, spec: PluginSpec, slot: str = "a") -> Descriptor:
        """A ``memory:`` URL naming the plugin."""
        return Descriptor(provider=self.name, url=f"memory:{spec.plugin_id}")

    def state(self, spec: PluginSpec) -> StorageState:
        """Absent, active or archived, from the driver's own bookkeeping."""
        if spec.plugin_id not in self._keepers:
            return StorageState.ABSENT
        archived = spec.plugin_id in self._archived
        return StorageState.ARCHIVED if archived else StorageState.ACTIVE

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Open (and keep open) the plugin's in-memory database."""
        if spec.plugin_id not in self._keepers:
            with self.errors.translated("provision"):
                self._keepers[spec.plugin_id] = sqlite3.connect(self._uri(spec), uri=True)
        return self.describe(spec)

    def archive(self, spec: PluginSpec) -> None:
        """Hide the database from :meth:`connect`; the data stays."""
        if spec.plugin_id in self._keepers:
            self._archived.add(spec.plugin_id)

    def restore(self, spec: PluginSpec) -> None:
        """Make an archived database reachable again."""
        self._archived.discard(spec.plugin_id)

    def purge(self, spec: PluginSpec) -> None:
        """Close the keeper: the in-memory database disappears with it."""
        self._archived.discard(spec.plugin_id)
        keeper = self._keepers.pop(spec.plugin_id, None)
        if keeper is not None:
            keeper.close()

    def connect(self, spec: PluginSpec, login: Login | None) -> sqlite3.Connection:
        """An autocommit connection to the plugin's database."""
        if self.state(spec) is not StorageState.ACTIVE:
            raise ProviderError(f"{spec.plugin_id} is not provisioned (or is archived)")
        with self.errors.translated("connect"):
            return sqlite3.connect(self._uri(spec), uri=True, isolation_level=None)

    def namespace(self, spec: PluginSpec) -> Namespace:
        """The whole database belongs to the plugin."""
        return Namespace(containers=frozenset({"main"}))

    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """Reachable while active."""
        if self.state(spec) is not StorageState.ACTIVE:
            return Health(ok=False, details={"state": self.state(spec).value})
        with closing(self.connect(spec, login)) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return Health(ok=True, size_bytes=int(pages) * int(size))

    def close(self) -> None:
        """Forget every database."""
        for keeper in self._keepers.values():
            keeper.close()
        self._keepers.clear()
