"""The narrow port the engines (migrations, schema registry) work through.

An engine gets the plugin (its driver, spec, manifest and folder), a way to connect as the
plugin, read access to the tracking tables, and a :class:`Journal` into which it records
tracking changes. It never commits tracking rows itself and knows nothing of operations,
leases or steps: the caller (a lifecycle step, or a CLI command) decides how each recorded
change is committed, and commits the rest with the step's completion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from providers.base import Login, PluginSpec, Provider
from worker.credentials import Credentials
from worker.manifest import Manifest

if TYPE_CHECKING:  # the ORM loads with the tracking models, not with the port
    from sqlalchemy.orm import Session, sessionmaker

Change: TypeAlias = "Callable[[Session], object]"
"""A tracking change: called with the session of the transaction that commits it."""


class Journal(Protocol):
    """Where an engine records tracking changes that must be durable before it goes on."""

    def write(self, change: Change) -> None:
        """Commit ``change`` now (fenced by the caller's hold on the operation, if any)."""


class DirectJournal:
    """A journal that commits each change in its own transaction (CLI commands)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def write(self, change: Change) -> None:
        """Commit ``change`` at once."""
        with self.sessions.begin() as session:
            change(session)


def spec_for(manifest: Manifest) -> PluginSpec:
    """The provider's view of a plugin."""
    db = manifest.database
    return PluginSpec(
        plugin_id=manifest.id,
        storage_mb=db.limits.storage_mb,
        connections=db.limits.connections,
        schema=db.schema_name,
        feature_flag=db.feature_flag,
        statement_timeout_ms=db.limits.statement_timeout_ms,
        idle_in_transaction_timeout_ms=db.limits.idle_in_transaction_timeout_ms,
    )


def migrations_dir(plugin_dir: Path, manifest: Manifest) -> Path:
    """The folder of the plugin's migration files (the one definition of that path)."""
    return plugin_dir / manifest.database.migrations.directory


@dataclass
class PluginPort:
    """One plugin as an engine sees it."""

    manifest: Manifest
    provider: Provider
    plugin_dir: Path
    sessions: sessionmaker[Session]
    """Tracking reads; writes go through :attr:`journal`."""
    journal: Journal
    credentials: Callable[[], Credentials | None] = lambda: None
    """The plugin's credentials, read when first needed."""
    lock_wait: float = 30.0
    large_table_mb: float = 64.0
    """Locking statements on tables at least this large are refused without force."""
    plugins_root: Path | None = None
    operation_id: int | None = None
    actor: str | None = None

    @property
    def plugin_id(self) -> str:
        """The plugin's id."""
        return self.manifest.id

    @property
    def spec(self) -> PluginSpec:
        """The driver's view of the plugin."""
        return spec_for(self.manifest)

    @property
    def migrations_dir(self) -> Path:
        """Where the plugin's migration files are."""
        return migrations_dir(self.plugin_dir, self.manifest)

    def login(self) -> Login | None:
        """The plugin's login in use (None where the driver issues none)."""
        return self.provider.login_for(self.spec, self.credentials())

    def connect(self) -> Any:
        """An autocommit DB-API connection as the plugin itself."""
        return self.provider.connect(self.spec, self.login())
