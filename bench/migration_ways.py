"""The baselines of ``bench migrations`` on each engine: direct DB-API and Alembic.

Each way gets a fresh place (a PostgreSQL schema, a MariaDB database, a SQLite file), applies
K generated files of two statements (a table and an index) and is checked afterwards: K
tables in the place, K rows in the direct way's ledger, and Alembic's revision table at the
last revision.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import make_url

from bench.common import BenchError, service
from providers.mysql_sql import connect as mysql_connect

ENGINES = ("postgresql", "mysql", "sqlite")
TRANSACTIONAL = {"postgresql": True, "mysql": False, "sqlite": True}
COLUMNS = {
    "postgresql": "id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, "
    "created_at TIMESTAMPTZ NOT NULL DEFAULT now()",
    "mysql": "id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
    "created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
    "sqlite": "id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP",
}
COUNT_TABLES = {
    "postgresql": "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
    "AND tablename LIKE 'bench%'",
    "mysql": "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
    "AND table_name LIKE 'bench%'",
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'bench%'",
}

ENV_PY = """
from alembic import context
from sqlalchemy import create_engine, text

config = context.config
schema = config.get_main_option("bench_schema") or None
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as conn:
    if schema:
        conn.execute(text(f'SET search_path TO "{schema}"'))
        conn.commit()
    context.configure(connection=conn, version_table_schema=schema,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

REVISION = """from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    op.execute({drop!r})
"""


def statements(engine: str, tag: str, i: int) -> list[str]:
    """The UP statements of migration ``i``: one table and one index."""
    table = f"bench_{tag}_t{i:04d}"
    return [
        f"CREATE TABLE {table} ({COLUMNS[engine]})",
        f"CREATE INDEX {table}_name_idx ON {table} (name)",
    ]


@dataclass
class Place:
    """Where one way applies its files: a schema, a database or a file."""

    engine: str
    name: str
    path: Path | None = None

    def connect(self) -> Any:
        """An autocommit DB-API connection into the place."""
        if self.engine == "postgresql":
            options = f"-c search_path={self.name}"
            return psycopg.connect(service("PG_ADMIN_URL"), autocommit=True, options=options)
        if self.engine == "mysql":  # TLS context built once, as the worker's driver does
            url = make_url(service("MYSQL_ADMIN_URL"))
            return mysql_connect(
                host=url.host,
                port=url.port or 3306,
                user=url.username,
                password=url.password or "",
                database=self.name,
                autocommit=True,
            )
        assert self.path is not None
        return sqlite3.connect(self.path, isolation_level=None)

    def alembic_url(self) -> str:
        """The SQLAlchemy URL Alembic connects with."""
        if self.engine == "postgresql":
            return service("PG_ADMIN_URL").replace("postgresql://", "postgresql+psycopg://", 1)
        if self.engine == "mysql":
            url = make_url(service("MYSQL_ADMIN_URL")).set(database=self.name)
            return url.render_as_string(hide_password=False)
        return f"sqlite:///{self.path}"

    def scalar(self, sql: str) -> Any:
        """One value read in the place."""
        with closing(self.connect()) as conn:
            cursor = conn.cursor()
            cursor.execute(sql)
            return cursor.fetchone()[0]


@contextmanager
def place(engine: str, name: str) -> Iterator[Place]:
    """A fresh place, dropped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="plugin-db-bench-mig-"))
    where = Place(engine, name, folder / f"{name}.db")
    admin = {"postgresql": "SCHEMA", "mysql": "DATABASE"}.get(engine)
    try:
        if admin:
            _admin(engine, f"CREATE {admin} {name}")
        yield where
    finally:
        if admin:
            _admin(
                engine, f"DROP {admin} IF EXISTS {name}" + (" CASCADE" if admin == "SCHEMA" else "")
            )
        shutil.rmtree(folder, ignore_errors=True)


def _admin(engine: str, sql: str) -> None:
    if engine == "postgresql":
        with psycopg.connect(service("PG_ADMIN_URL"), autocommit=True) as conn:
            conn.execute(sql.encode())
        return
    url = make_url(service("MYSQL_ADMIN_URL"))
    conn = pymysql.connect(
        host=url.host, port=url.port or 3306, user=url.username, password=url.password or ""
    )
    with closing(conn):
        conn.cursor().execute(sql)


LEDGER = (
    "CREATE TABLE IF NOT EXISTS direct_ledger (version VARCHAR(50) PRIMARY KEY, "
    "checksum VARCHAR(64) NOT NULL, applied_at VARCHAR(40) NOT NULL)"
)
PLACEHOLDER = {"postgresql": "%s", "mysql": "%s", "sqlite": "?"}


def direct(where: Place, tag: str, k: int, *, ledger: bool = True) -> float:
    """Seconds to apply K files by DB-API: connect, then per file its statements, in one
    transaction per file where DDL is transactional (PostgreSQL, SQLite). ``ledger``: a
    ledger table is created if missing and each file's transaction also INSERTs its row
    (version, checksum, time), as any runner that remembers what it applied must."""
    todo = [statements(where.engine, tag, i) for i in range(1, k + 1)]
    transactional = TRANSACTIONAL[where.engine]
    mark = PLACEHOLDER[where.engine]
    insert = f"INSERT INTO direct_ledger VALUES ({mark}, {mark}, {mark})"
    started = time.perf_counter()
    with closing(where.connect()) as conn:
        cursor = conn.cursor()
        if ledger:
            cursor.execute(LEDGER)
        for i, stmts in enumerate(todo, start=1):
            if transactional:
                cursor.execute("BEGIN")
            for stmt in stmts:
                cursor.execute(stmt)  # generated, trusted text
            if ledger:
                checksum = hashlib.sha256(";".join(stmts).encode()).hexdigest()
                cursor.execute(insert, (f"{i:04d}", checksum, datetime.now(UTC).isoformat()))
            if transactional:
                cursor.execute("COMMIT")
    seconds = time.perf_counter() - started
    check_tables(where, k, "direct")
    if ledger and where.scalar("SELECT count(*) FROM direct_ledger") != k:
        raise BenchError(f"direct on {where.engine}: the ledger does not hold {k} rows")
    return seconds


def direct_sql(where: Place, tag: str, k: int) -> float:
    """:func:`direct` without a ledger: the files' statements alone (the goal's baseline)."""
    return direct(where, tag, k, ledger=False)


def alembic(where: Place, tag: str, k: int) -> float:
    """Seconds for ``alembic upgrade head`` over K generated revision files (script loading
    timed, ``transaction_per_migration=True``)."""
    folder = Path(tempfile.mkdtemp(prefix="plugin-db-bench-alembic-"))
    try:
        (folder / "versions").mkdir()
        (folder / "env.py").write_text(ENV_PY)
        for i in range(1, k + 1):
            body = "\n".join(f"    op.execute({s!r})" for s in statements(where.engine, tag, i))
            rev, down = f"r{i:04d}", f"r{i - 1:04d}" if i > 1 else None
            drop = f"DROP TABLE bench_{tag}_t{i:04d}"
            (folder / "versions" / f"{rev}.py").write_text(
                REVISION.format(rev=rev, down=down, body=body, drop=drop)
            )
        config = AlembicConfig()
        config.set_main_option("script_location", str(folder))
        config.set_main_option("sqlalchemy.url", where.alembic_url())
        if where.engine == "postgresql":
            config.set_main_option("bench_schema", where.name)
        started = time.perf_counter()
        command.upgrade(config, "head")
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    check_tables(where, k, "alembic")
    head = where.scalar("SELECT version_num FROM alembic_version")
    if head != f"r{k:04d}":
        raise BenchError(f"alembic on {where.engine}: revision table at {head}, not r{k:04d}")
    return seconds


def check_tables(where: Place, k: int, way: str) -> None:
    """Fail loudly unless the place holds the K tables."""
    found = where.scalar(COUNT_TABLES[where.engine])
    if found != k:
        raise BenchError(f"{way} on {where.engine}: {found} tables, expected {k}")
