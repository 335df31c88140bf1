"""``shared``: plugin tables live in the platform's shared database under a ``<ns>_`` prefix.

``PLUGIN_DB_SHARED_URL`` names the database (``sqlite:///path``, ``postgresql+psycopg://…``,
``mysql+pymysql://…``); unset, it defaults to the SQLite file ``<data dir>/shared.db``.
A table belongs to the plugin with the longest registered prefix it starts with, so
``ab_c_data`` is plugin ``ab-c``'s, not ``ab``'s. Archiving renames each object to
``_archived_<name>`` (bounded): plugin ids start with a letter, so no live prefix can begin
with ``_``; the exact mapping is kept in ``plugin_archived_tables`` so restore is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from providers.base import (
    Descriptor,
    Login,
    Namespace,
    PluginSpec,
    RuntimeConnection,
    StorageState,
    file_connection,
)
from providers.shared_catalog import (
    _DDL,
    _KIND_SQL,
    ARCHIVE_MAP,
    ARCHIVE_PREFIX,
    FLAGS,
    PLATFORM_OWNER,
    PLATFORM_TABLES,
    REGISTRY,
    _flag_row,
    feature_flag_id,
    longest_owner,
)
from providers.shared_data import SharedData
from providers.targets import Target
from worker.errors import ProviderError
from worker.naming import bounded
from worker.settings import Settings


class SharedProvider(SharedData):
    """Base of the three backends (below); :meth:`from_settings` picks one by URL scheme."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedProvider:
        """Backend from ``PLUGIN_DB_SHARED_URL``, or the SQLite file ``<data dir>/shared.db``."""
        return cls._for_url(settings.shared_url or f"sqlite:///{settings.data_dir / 'shared.db'}")

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> SharedProvider:
        """Backend from the target's ``admin_url`` (the shared database's URL)."""
        return cls._for_url(target.admin_url or f"sqlite:///{settings.data_dir / 'shared.db'}")

    @classmethod
    def _for_url(cls, raw: str) -> SharedProvider:
        try:
            url = make_url(raw)
        except ArgumentError as exc:
            raise ProviderError("PLUGIN_DB_SHARED_URL cannot be parsed") from exc
        from providers.shared_backends import SharedMySQL, SharedPostgres, SharedSQLite

        backends: dict[str, type[SharedProvider]] = {
            "sqlite": SharedSQLite,
            "postgresql": SharedPostgres,
            "mysql": SharedMySQL,
            "mariadb": SharedMySQL,
        }
        if (backend := backends.get(url.get_backend_name())) is None:
            raise ProviderError(f"shared mode does not support {url.drivername}:// databases")
        return backend(url)

    def describe(self, spec: PluginSpec, slot: str = "a") -> Descriptor:
        """The shared database's URL (no password), the prefix and the feature flag."""
        return Descriptor(
            provider=self.name,
            url=self.url._replace(password=None).render_as_string(hide_password=False),
            objects={"table_prefix": f"{spec.namespace}_", "feature_flag": feature_flag_id(spec)},
            limits={"storage_mb": spec.storage_mb},
        )

    @classmethod
    def runtime_connection(
        cls, descriptor: Mapping[str, Any], password: str | None
    ) -> RuntimeConnection:
        """The shared database's URL (its password is the host's to add); SQLite as ``file:``."""
        url = make_url(descriptor["url"])
        if url.get_backend_name() == "sqlite" and url.database:
            return file_connection(str(Path(url.database).resolve()))
        return super().runtime_connection(descriptor, None)

    def history_table_name(self, spec: PluginSpec) -> str:
        """``<ns>_plugin_db_history``: the ledger carries the plugin's prefix too."""
        return f"{spec.namespace}_{self.history_table}"

    def namespace(self, spec: PluginSpec) -> Namespace:
        """No container of its own; every object name starts with ``<ns>_``."""
        return Namespace(containers=frozenset(), table_prefix=f"{spec.namespace}_")

    def ownership(self) -> Callable[[str], str | None]:
        """``owner_of`` for :func:`worker.sqlguard.check_statements` (longest registered prefix)."""
        with self._session() as cur:
            registered = self._registered(cur, self._objects(cur))

        def owner_of(name: str) -> str | None:
            if name in PLATFORM_TABLES or name.startswith(ARCHIVE_PREFIX):
                return PLATFORM_OWNER
            return longest_owner(name, registered)

        return owner_of

    def state(self, spec: PluginSpec) -> StorageState:
        """The plugin's state in ``plugin_namespaces`` (absent without a row)."""
        with self._session() as cur:
            if REGISTRY not in self._objects(cur):
                return StorageState.ABSENT
            sql = f"SELECT state FROM {REGISTRY} WHERE plugin_id = ?"
            rows = self._run(cur, sql, spec.plugin_id)
        return StorageState(rows[0][0]) if rows else StorageState.ABSENT

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Register the namespace (active) and the feature flag (disabled); no duplicates."""
        prefix, flag = f"{spec.namespace}_", feature_flag_id(spec)
        if clash := sorted(t for t in PLATFORM_TABLES if t.startswith(prefix)):
            raise ProviderError(f"plugin id {spec.plugin_id!r} would own platform tables {clash}")
        with self._session() as cur:
            for table in _DDL:
                self._create(cur, table)
            registered = {"plugin_id": spec.plugin_id, "prefix": prefix, "feature_flag": flag}
            now = datetime.now(UTC).isoformat(timespec="seconds")
            if not self._insert(
                cur, REGISTRY, {**registered, "state": "active", "created_at": now}
            ):
                sql = f"UPDATE {REGISTRY} SET prefix = ?, feature_flag = ? WHERE plugin_id = ?"
                self._run(cur, sql, prefix, flag, spec.plugin_id)
            self._insert(cur, FLAGS, _flag_row(spec))
        return self.describe(spec)

    def archive(self, spec: PluginSpec) -> None:
        """Rename the plugin's objects to ``_archived_…``, recording each mapping first."""
        with self._session() as cur:
            objects = self._objects(cur)
            if REGISTRY not in objects:
                return
            for name in self._owned(cur, spec, objects):
                if (kind := objects[name]) not in self.renamable:
                    continue
                archived = bounded(ARCHIVE_PREFIX + name, self.ident_limit)
                row = {"archived_name": archived, "plugin_id": spec.plugin_id, "kind": kind}
                self._insert(cur, ARCHIVE_MAP, {**row, "name": name})
                self._rename(cur, kind, name, archived)
            self._set_state(cur, spec, StorageState.ARCHIVED)

    def _rename(self, cur: Any, kind: str, old: str, new: str) -> None:
        sql = self.rename_sql.format(kind=_KIND_SQL[kind], old=self._q(old), new=self._q(new))
        self._run(cur, sql)

    def restore(self, spec: PluginSpec) -> None:
        """Rename archived objects back to exactly their recorded names."""
        with self._session() as cur:
            objects = self._objects(cur)
            for archived, kind, name in self._mapping(cur, spec, objects):
                if archived in objects and name in objects:
                    raise ProviderError(f"cannot restore {name!r}: an object of that name exists")
                if archived in objects:
                    self._rename(cur, kind, archived, name)
                self._run(cur, f"DELETE FROM {ARCHIVE_MAP} WHERE archived_name = ?", archived)
            if REGISTRY in objects:
                self._set_state(cur, spec, StorageState.ACTIVE)

    def _set_state(self, cur: Any, spec: PluginSpec, state: StorageState) -> None:
        sql = f"UPDATE {REGISTRY} SET state = ? WHERE plugin_id = ?"
        self._run(cur, sql, state.value, spec.plugin_id)

    def purge(self, spec: PluginSpec) -> None:
        """Drop exactly the plugin's objects (live or archived), its flag and its rows."""
        with self._session() as cur:
            objects = self._objects(cur)
            doomed = {name: objects[name] for name in self._owned(cur, spec, objects)}
            doomed |= {a: kind for a, kind, _ in self._mapping(cur, spec, objects) if a in objects}
            self._drop_all(cur, doomed)
            flags, key = {feature_flag_id(spec)}, spec.plugin_id
            if REGISTRY in objects:
                sql = f"SELECT feature_flag FROM {REGISTRY} WHERE plugin_id = ?"
                flags |= {flag for (flag,) in self._run(cur, sql, key) if flag}
                self._run(cur, f"DELETE FROM {REGISTRY} WHERE plugin_id = ?", key)
            for flag in sorted(flags) if FLAGS in objects else []:
                self._run(cur, f"DELETE FROM {FLAGS} WHERE id = ?", flag)
            if ARCHIVE_MAP in objects:
                self._run(cur, f"DELETE FROM {ARCHIVE_MAP} WHERE plugin_id = ?", key)

    def connect(self, spec: PluginSpec, login: Login | None) -> Any:
        """Autocommit DB-API connection to the shared database (the platform's own login)."""
        with self._translated():
            return self._open()


from providers.shared_backends import SharedMySQL, SharedPostgres, SharedSQLite  # noqa: E402

__all__ = ["SharedMySQL", "SharedPostgres", "SharedProvider", "SharedSQLite"]
