"""The three backends of shared mode: a SQLite file, a PostgreSQL or a MySQL/MariaDB database."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from sqlalchemy.engine import URL

from providers import locks
from providers.base import PluginSpec
from providers.families import MySQLFamily, PostgresFamily, SQLiteFamily
from providers.mysql_sql import connect
from providers.shared import SharedProvider
from providers.shared_catalog import CONNECT_TIMEOUT
from providers.shared_mysql_data import SharedMySQLData
from providers.shared_pg_data import SharedPostgresData
from providers.shared_sqlite_data import SharedSQLiteData
from worker.errors import ProviderError


class SharedSQLite(SQLiteFamily, SharedSQLiteData, SharedProvider):
    """The shared database is a SQLite file (views are left in place when archiving)."""

    dialect: ClassVar[str] = "sqlite"
    transactional_ddl: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "qmark"
    ident_limit: ClassVar[int] = 128
    renamable: ClassVar[frozenset[str]] = frozenset({"table"})  # SQLite cannot rename views
    rename_sql: ClassVar[str] = "ALTER TABLE {old} RENAME TO {new}"
    catalog_sql: ClassVar[str] = (
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
    )
    kinds: ClassVar[dict[str, str]] = {"table": "table", "view": "view"}

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """A lease row next to the plugin's ledger."""
        table = f"{self.history_table_name(spec)}_lock"
        return locks.lease_lock(conn, spec.plugin_id, table, wait)

    def _open(self) -> sqlite3.Connection:
        if not self.url.database or self.url.database == ":memory:":
            raise ProviderError("the shared SQLite database must be a file")
        path = Path(self.url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=CONNECT_TIMEOUT)
        conn.execute("PRAGMA foreign_keys=ON")
        return conn


class SharedPostgres(PostgresFamily, SharedPostgresData, SharedProvider):
    """The shared database is PostgreSQL; plugin objects live in its ``current_schema()``."""

    dialect: ClassVar[str] = "postgres"
    transactional_ddl: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "format"
    _where: ClassVar[str] = (
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND "
    )
    catalog_sql: ClassVar[str] = (
        f"SELECT c.relname, c.relkind::text{_where}c.relkind IN ('r', 'p', 'v', 'm', 'S')"
    )
    kinds: ClassVar[dict[str, str]] = {"v": "view", "m": "matview", "S": "sequence"}
    size_sql: ClassVar[str | None] = (
        f"SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0){_where}c.relname IN ({{names}})"
    )

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """A session-level advisory lock keyed by the plugin id."""
        return locks.advisory_lock(conn, spec.plugin_id, wait)

    def admin_url(self) -> URL:
        """The shared database's URL (scratch schemas for verify are made there)."""
        return self.url

    def _open(self) -> psycopg.Connection[Any]:
        args = self.url.translate_connect_args(username="user", database="dbname")
        return psycopg.connect(**args, autocommit=True, connect_timeout=CONNECT_TIMEOUT)


class SharedMySQL(MySQLFamily, SharedMySQLData, SharedProvider):
    """The shared database is MySQL/MariaDB (the URL's database)."""

    dialect: ClassVar[str] = "mysql"
    transactional_ddl: ClassVar[bool] = False
    paramstyle: ClassVar[str] = "format"
    quote: ClassVar[str] = "`"
    ident_limit: ClassVar[int] = 64
    rename_sql: ClassVar[str] = "RENAME TABLE {old} TO {new}"  # tables, views and sequences
    _where: ClassVar[str] = " FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    catalog_sql: ClassVar[str] = f"SELECT TABLE_NAME, TABLE_TYPE{_where}"
    kinds: ClassVar[dict[str, str]] = {"VIEW": "view", "SEQUENCE": "sequence"}
    size_sql: ClassVar[str | None] = (
        f"SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0){_where} AND TABLE_NAME IN ({{names}})"
    )

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """``GET_LOCK`` named after the plugin."""
        return locks.named_lock(conn, spec.plugin_id, wait)

    def admin_url(self) -> URL:
        """The shared database's URL (scratch databases for verify are made there)."""
        return self.url

    def _open(self) -> Any:
        args = self.url.translate_connect_args(username="user")
        return connect(**args, autocommit=True, connect_timeout=CONNECT_TIMEOUT, charset="utf8mb4")
