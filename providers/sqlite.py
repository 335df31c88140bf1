"""``exclusive-sqlite``: one SQLite file per plugin under ``<data dir>/plugins``."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from providers import locks, orphans
from providers.base import (
    Descriptor,
    Health,
    Login,
    Namespace,
    Orphan,
    PluginSpec,
    Provider,
    RuntimeConnection,
    StorageState,
    file_connection,
)
from providers.errormap import SQLITE_RULES, ErrorMap
from providers.families import SQLiteFamily
from providers.sqlite_data import SQLiteData
from providers.targets import Target
from worker.errors import ProviderError, ProviderUnavailable
from worker.naming import resolved_child
from worker.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa

BUSY_TIMEOUT_MS = 5000
_SIDECARS = ("-wal", "-shm")


class SQLiteProvider(SQLiteData, SQLiteFamily, Provider):
    """A private database file per plugin: mode 0600, WAL, size capped by ``max_page_count``."""

    name: ClassVar[str] = "sqlite"
    modes: ClassVar[frozenset[str]] = frozenset({"exclusive-sqlite"})
    errors: ClassVar[ErrorMap] = ErrorMap(SQLITE_RULES)
    dialect: ClassVar[str] = "sqlite"
    transactional_ddl: ClassVar[bool] = True  # SQLite rolls back DDL with the transaction
    issues_credentials: ClassVar[bool] = False  # file permissions are the only access control
    unsupported: ClassVar[dict[str, str]] = {
        "rotate": "a SQLite file has no credentials to rotate",
    }

    def __init__(self, data_dir: Path) -> None:
        self.root = (data_dir / "plugins").resolve()
        self.archive_root = self.root / "archive"

    @classmethod
    def from_settings(cls, settings: Settings) -> SQLiteProvider:
        """Files live under ``PLUGIN_DB_DATA_DIR``."""
        return cls(settings.data_dir)

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> SQLiteProvider:
        """Files live under the target's ``admin_url`` (a folder), else the data folder."""
        return cls(Path(target.admin_url) if target.admin_url else settings.data_dir)

    def path(self, spec: PluginSpec) -> Path:
        """The plugin's database file, confined to the plugins folder."""
        return self._confined(self.root, spec)

    def archive_path(self, spec: PluginSpec) -> Path:
        """Where teardown keeps the file until it is restored or purged."""
        return self._confined(self.archive_root, spec)

    @staticmethod
    def _confined(folder: Path, spec: PluginSpec) -> Path:
        path = resolved_child(folder, f"{spec.plugin_id}.db")
        if path.parent != folder:
            raise ProviderError(f"plugin file for {spec.plugin_id!r} would leave {folder}")
        return path

    def describe(self, spec: PluginSpec, slot: str = "a") -> Descriptor:
        """``sqlite:///`` URL of the plugin's file."""
        path = self.path(spec)
        return Descriptor(
            provider=self.name,
            url=f"sqlite:///{path}",
            objects={"file": str(path), "archive": str(self.archive_path(spec))},
            limits={"storage_mb": spec.storage_mb},
        )

    @classmethod
    def runtime_connection(
        cls, descriptor: Mapping[str, Any], password: str | None
    ) -> RuntimeConnection:
        """``file:/abs/path.db`` of the plugin's file (no login)."""
        return file_connection(descriptor["objects"]["file"])

    def state(self, spec: PluginSpec) -> StorageState:
        """Active if the file exists, archived if only its archive copy does."""
        if self.path(spec).exists():
            return StorageState.ACTIVE
        if self.archive_path(spec).exists():
            return StorageState.ARCHIVED
        return StorageState.ABSENT

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Create the file (0600) in WAL mode; no effect if it exists."""
        path = self.path(spec)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            with closing(self._open(path, spec)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        except OSError as exc:
            raise ProviderUnavailable(f"cannot create {path}: {exc.strerror}") from exc
        return self.describe(spec)

    def archive(self, spec: PluginSpec) -> None:
        """Checkpoint the WAL and move the file into the archive folder; no effect if moved."""
        path = self.path(spec)
        if not path.exists():
            return
        with closing(self._open(path, spec)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.archive_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(path, self.archive_path(spec))
        for suffix in _SIDECARS:
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def restore(self, spec: PluginSpec) -> None:
        """Move the archived file back; no effect if it is already in place."""
        archived = self.archive_path(spec)
        if self.path(spec).exists() or not archived.exists():
            return
        os.replace(archived, self.path(spec))

    def purge(self, spec: PluginSpec) -> None:
        """Delete the file, its WAL sidecars and any archive copy."""
        for path in (self.path(spec), self.archive_path(spec)):
            for suffix in ("", *_SIDECARS):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def plugin_engine(self, spec: PluginSpec, login: Login | None) -> sa.Engine:
        """The base engine, whose transactions are SQLite's own: BEGIN is issued (the
        connections are autocommit, so a bulk load would else commit row by row)."""
        from sqlalchemy import event

        engine = super().plugin_engine(spec, login)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine

    def connect(self, spec: PluginSpec, login: Login | None) -> sqlite3.Connection:
        """Autocommit connection (the caller issues BEGIN) with the size cap applied."""
        path = self.path(spec)
        if not path.exists():
            raise ProviderError(f"{path} does not exist; provision the plugin first")
        return self._open(path, spec)

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """A lease row next to the ledger (see providers.locks)."""
        return locks.lease_lock(conn, spec.plugin_id, f"{self.history_table_name(spec)}_lock", wait)

    def find_orphans(self, tracked: Iterable[PluginSpec]) -> list[Orphan]:
        """Plugin files no tracked plugin has."""
        return orphans.sqlite_files(self.root, {spec.plugin_id for spec in tracked})

    def namespace(self, spec: PluginSpec) -> Namespace:
        """The whole file belongs to the plugin."""
        return Namespace(containers=frozenset({"main"}))

    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """File size and ``PRAGMA quick_check``."""
        path = self.path(spec)
        if not path.exists():
            return Health(ok=False, details={"error": f"{path} is missing"})
        with closing(self._open(path, spec)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        size = sum(
            Path(f"{path}{s}").stat().st_size
            for s in ("", *_SIDECARS)
            if Path(f"{path}{s}").exists()
        )
        mode = path.stat().st_mode & 0o777
        return Health(
            ok=verdict == "ok" and mode == 0o600,
            size_bytes=size,
            details={"quick_check": verdict, "mode": oct(mode)},
        )

    @staticmethod
    def _open(path: Path, spec: PluginSpec) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise ProviderUnavailable(f"cannot open {path}: {exc}") from exc
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        if spec.storage_mb:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={spec.storage_mb * 1024 * 1024 // page_size}")
        return conn
