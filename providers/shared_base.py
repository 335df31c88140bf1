"""Shared mode's plumbing: connection, catalog and prefix ownership (see providers.shared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

from sqlalchemy.engine import URL

from providers.base import PluginSpec, Provider
from providers.errormap import ErrorMap
from providers.shared_catalog import (
    _DDL,
    _KIND_SQL,
    ARCHIVE_MAP,
    DB_ERRORS,
    ERRORS,
    INTEGRITY_ERRORS,
    PLATFORM_TABLES,
    REGISTRY,
    longest_owner,
)
from worker.errors import ProviderError


class SharedBase(Provider):
    """What every shared backend builds on: its connection, catalog and object ownership."""

    name: ClassVar[str] = "shared"
    holds_other_plugins: ClassVar[bool] = True
    modes: ClassVar[frozenset[str]] = frozenset({"shared"})
    issues_credentials: ClassVar[bool] = False
    unsupported: ClassVar[dict[str, str]] = {"rotate": "shared mode has no per-plugin credentials"}
    quote: ClassVar[str] = '"'
    ident_limit: ClassVar[int] = 63
    renamable: ClassVar[frozenset[str]] = frozenset(_KIND_SQL)
    rename_sql: ClassVar[str] = "ALTER {kind} {old} RENAME TO {new}"
    catalog_sql: ClassVar[str]  # rows of (name, kind code) of every relation
    kinds: ClassVar[dict[str, str]]  # kind code -> table/view/matview/sequence
    size_sql: ClassVar[str | None] = None  # {names} is replaced with placeholders
    errors: ClassVar[ErrorMap] = ERRORS

    def __init__(self, url: URL) -> None:
        self.url = url

    def _open(self) -> Any:
        """A new autocommit DB-API connection to the shared database."""
        raise NotImplementedError

    def _q(self, name: str) -> str:
        return self.quote + name.replace(self.quote, self.quote * 2) + self.quote

    def _translated(self) -> AbstractContextManager[None]:
        return self.errors.translated(self.url.get_backend_name(), self.url.password)

    @contextmanager
    def _session(self) -> Iterator[Any]:
        """A cursor on a fresh connection; driver errors translated."""
        with self._translated():
            conn = self._open()
            try:
                yield conn.cursor()
            finally:
                conn.close()

    def _run(self, cur: Any, sql: str, *params: object) -> list[Any]:
        """Execute ``sql`` written with ``?`` placeholders; the rows, if any."""
        cur.execute(sql if self.paramstyle == "qmark" else sql.replace("?", "%s"), params)
        return list(cur.fetchall()) if cur.description else []

    def _objects(self, cur: Any) -> dict[str, str]:
        """Name → kind of every relation in the shared database (or schema)."""
        rows = self._run(cur, self.catalog_sql)
        return {n: self.kinds.get(k, "table") for n, k in rows if not n.startswith("sqlite_")}

    def _registered(self, cur: Any, objects: dict[str, str]) -> dict[str, str]:
        """Prefix → plugin id of every registered plugin."""
        if REGISTRY not in objects:
            return {}
        return {p: pid for pid, p in self._run(cur, f"SELECT plugin_id, prefix FROM {REGISTRY}")}

    def _owned(self, cur: Any, spec: PluginSpec, objects: dict[str, str]) -> list[str]:
        """Live object names whose longest matching prefix is this plugin's."""
        prefixes = {**self._registered(cur, objects), f"{spec.namespace}_": spec.plugin_id}
        return sorted(
            name
            for name in objects
            if name not in PLATFORM_TABLES and longest_owner(name, prefixes) == spec.plugin_id
        )

    def _mapping(self, cur: Any, spec: PluginSpec, objects: dict[str, str]) -> list[Any]:
        """(archived name, kind, original name) rows recorded for this plugin."""
        if ARCHIVE_MAP not in objects:
            return []
        sql = f"SELECT archived_name, kind, name FROM {ARCHIVE_MAP} WHERE plugin_id = ?"
        return self._run(cur, sql, spec.plugin_id)

    def _insert(self, cur: Any, table: str, row: dict[str, object]) -> bool:
        """INSERT ``row`` unless its key exists (race-safe, portable); whether it inserted."""
        marks = ", ".join("?" * len(row))
        try:
            self._run(
                cur, f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", *row.values()
            )
        except INTEGRITY_ERRORS:
            return False
        return True

    def _create(self, cur: Any, table: str) -> None:
        """CREATE TABLE IF NOT EXISTS, tolerating a concurrent creator."""
        try:
            self._run(cur, f"CREATE TABLE IF NOT EXISTS {table} {_DDL[table]}")
        except DB_ERRORS:
            if table not in self._objects(cur):
                raise

    def _drop_all(self, cur: Any, doomed: dict[str, str]) -> None:
        """Drop views first, then the rest, retrying until dependencies among them resolve."""
        pending = sorted(doomed, key=lambda n: (doomed[n] not in {"view", "matview"}, n))
        while pending:
            failed = []
            for name in pending:
                try:
                    self._run(cur, f"DROP {_KIND_SQL[doomed[name]]} IF EXISTS {self._q(name)}")
                except DB_ERRORS:
                    failed.append(name)
            if len(failed) == len(pending):
                raise ProviderError(f"cannot drop {failed}: objects of other owners depend on them")
            pending = failed
