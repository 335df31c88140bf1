"""What the drivers of one backend family share: schema-change guards and scratch databases.

A driver mixes in its family before :class:`~providers.base.Provider`::

    class SQLiteProvider(SQLiteFamily, Provider): ...

* SQLite: table rebuilds need foreign keys off; they are checked before the commit.
* PostgreSQL: the scratch database is a schema the admin creates and drops (``CASCADE``).
* MySQL/MariaDB: the scratch database is a database the admin creates and drops.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from providers.base import Scratch
from providers.bulk import MySQLBulk, PostgresBulk
from worker.errors import ProviderError

if TYPE_CHECKING:  # SQLAlchemy loads on first use
    import sqlalchemy as sa
    from sqlalchemy.engine import URL


def scratch_name() -> str:
    """A fresh scratch schema/database name."""
    return f"plugin_db_verify_{uuid.uuid4().hex[:12]}"


class SQLiteFamily:
    """SQLite files (exclusive or shared)."""

    sqlalchemy_scheme: ClassVar[str] = "sqlite://"

    @contextmanager
    def schema_change(self, cursor: Any) -> Iterator[None]:
        """Foreign keys off while a schema change runs (table rebuilds need it)."""
        cursor.execute("PRAGMA foreign_keys=OFF")
        try:
            yield
        finally:
            cursor.execute("PRAGMA foreign_keys=ON")

    def integrity_problem(self, cursor: Any) -> tuple[str, str] | None:
        """``PRAGMA foreign_key_check`` inside the change's transaction."""
        if cursor.execute("PRAGMA foreign_key_check").fetchall():
            return "PRAGMA foreign_key_check", "foreign keys broken"
        return None

    @contextmanager
    def scratch_database(self) -> Iterator[Scratch]:
        """A temporary SQLite file (3.35+ for ALTER TABLE DROP COLUMN)."""
        if sqlite3.sqlite_version_info < (3, 35):
            raise ProviderError(
                "verify on SQLite needs SQLite 3.35 or newer (ALTER TABLE DROP COLUMN)"
            )
        import sqlalchemy as sa

        with tempfile.TemporaryDirectory(prefix="plugin-db-verify-") as folder:
            engine = sa.create_engine(f"sqlite:///{Path(folder) / 'verify.db'}")
            try:
                yield engine, None, "main"
            finally:
                engine.dispose()


Tune = Callable[["sa.Engine"], "sa.Engine"]
"""A family's finishing touch on the engines it makes (how they connect)."""


def _as_is(engine: sa.Engine) -> sa.Engine:
    return engine


def admin_engine_for(url: URL, tune: Tune = _as_is) -> sa.Engine:
    """An autocommit, unpooled engine on an admin URL."""
    import sqlalchemy as sa

    return tune(sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool))


@contextmanager
def _admin_scratch(
    admin_url: URL,
    create: str,
    drop: str,
    scratch_url: URL,
    options: dict[str, Any],
    *,
    tune: Tune = _as_is,
) -> Iterator[sa.Engine]:
    import sqlalchemy as sa

    admin = admin_engine_for(admin_url, tune)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(create)
        engine = tune(sa.create_engine(scratch_url, connect_args=options))
        try:
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(drop)
    finally:
        admin.dispose()


class PostgresFamily(PostgresBulk):
    """PostgreSQL servers (exclusive schemas or a shared database)."""

    sqlalchemy_scheme: ClassVar[str] = "postgresql+psycopg://"
    runs_scripts: ClassVar[bool] = True

    def admin_url(self) -> URL:
        """The SQLAlchemy URL of the driver's admin connection."""
        raise NotImplementedError

    def admin_engine(self) -> sa.Engine:
        """An engine on the admin connection (autocommit, not pooled)."""
        return admin_engine_for(self.admin_url().set(drivername="postgresql+psycopg"))

    @contextmanager
    def scratch_database(self) -> Iterator[Scratch]:
        """A schema the admin creates and drops afterwards (``CASCADE``)."""
        name, url = scratch_name(), self.admin_url().set(drivername="postgresql+psycopg")
        create, drop = f'CREATE SCHEMA "{name}"', f'DROP SCHEMA IF EXISTS "{name}" CASCADE'
        options = {"options": f"-c search_path={name}"}
        with _admin_scratch(url, create, drop, url, options) as engine:
            yield engine, name, name


class MySQLFamily(MySQLBulk):
    """MySQL/MariaDB servers (exclusive databases or a shared database)."""

    sqlalchemy_scheme: ClassVar[str] = "mysql+pymysql://"

    def admin_url(self) -> URL:
        """The SQLAlchemy URL of the driver's admin connection."""
        raise NotImplementedError

    def admin_engine(self) -> sa.Engine:
        """An engine on the admin connection (autocommit, not pooled)."""
        from providers.mysql_sql import share_tls

        return admin_engine_for(self.admin_url().set(drivername="mysql+pymysql"), share_tls)

    @contextmanager
    def scratch_database(self) -> Iterator[Scratch]:
        """A database the admin creates and drops afterwards."""
        from providers.mysql_sql import share_tls

        name, url = scratch_name(), self.admin_url().set(drivername="mysql+pymysql")
        create, drop = f"CREATE DATABASE `{name}`", f"DROP DATABASE IF EXISTS `{name}`"
        with _admin_scratch(
            url, create, drop, url.set(database=name), {}, tune=share_tls
        ) as engine:
            yield engine, None, name
