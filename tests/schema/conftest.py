"""Real databases for the schema tests: SQLite files, a PostgreSQL schema, a MariaDB database.

Each test module gets its own scratch PostgreSQL schema and MariaDB database, dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.schema.dbs import Backend, scratch_name
from tests.support.services import service_url


@pytest.fixture(scope="module")
def pg_backend() -> Iterator[Backend]:
    """A PostgreSQL schema of its own in the shared test database."""
    engine = sa.create_engine(service_url("PG_SHARED_URL"))
    name = scratch_name()
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield Backend("postgresql", engine, name)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="module")
def mysql_backend() -> Iterator[Backend]:
    """A MariaDB database of its own."""
    admin = sa.create_engine(service_url("MYSQL_ADMIN_URL"))
    name = scratch_name()
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    engine = sa.create_engine(sa.make_url(service_url("MYSQL_ADMIN_URL")).set(database=name))
    try:
        yield Backend("mysql", engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    """A SQLite file of its own."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'plugin.db'}")
    yield Backend("sqlite", engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each of the three databases in turn, emptied before and after the test."""
    fixture = {"sqlite": "sqlite_backend", "postgresql": "pg_backend", "mysql": "mysql_backend"}
    found: Backend = request.getfixturevalue(fixture[request.param])
    found.reset()
    yield found
    found.reset()
