"""Verifying a copy between two ends of one engine: each server digests its own rows.

For PostgreSQL the source and destination are two schemas of a fresh database, for MariaDB
two fresh databases, on the test servers, filled with the relocation test data and copied by
the copy engine. Equal copies are proved without reading a row into Python; a changed row is
caught; a column whose type the copy changed (its text differs, its value does not) is
compared again by its normalised rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from providers.base import Provider
from providers.bulk import MySQLBulk, PostgresBulk
from tests.placement import data
from tests.support.env import fresh_pg_database
from tests.support.services import service_url
from worker.relocation import copy
from worker.relocation.schema import Side

DRIVERS = {
    "postgresql": cast("tuple[Provider, Provider]", (PostgresBulk(), PostgresBulk())),
    "mysql": cast("tuple[Provider, Provider]", (MySQLBulk(), MySQLBulk())),
}
WIDEN = {
    "postgresql": "ALTER TABLE {dst}.posts ALTER COLUMN score TYPE numeric(14, 4)",
    "mysql": "ALTER TABLE {dst}.posts MODIFY score DECIMAL(14, 4)",
}


@contextmanager
def _places(name: str) -> Iterator[tuple[sa.Engine, str, str]]:
    """An engine and two empty places in it (schemas of a fresh database, or databases)."""
    tag = uuid.uuid4().hex[:8]
    src, dst = f"vd_{tag}_src", f"vd_{tag}_dst"
    if name == "postgresql":
        with fresh_pg_database() as url:
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
            with engine.begin() as conn:
                for place in (src, dst):
                    conn.execute(sa.text(f"CREATE SCHEMA {place}"))
            yield engine, src, dst
            engine.dispose()
        return
    admin = make_url(service_url("MYSQL_ADMIN_URL")).set(drivername="mysql+pymysql")
    engine = sa.create_engine(admin)
    with engine.begin() as conn:
        for place in (src, dst):
            conn.execute(sa.text(f"CREATE DATABASE {place} CHARACTER SET utf8mb4"))
    try:
        yield engine, src, dst
    finally:
        with engine.begin() as conn:
            for place in (src, dst):
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {place}"))
        engine.dispose()


@pytest.fixture(params=["postgresql", "mysql"])
def ends(request: pytest.FixtureRequest) -> Iterator[tuple[Side, Side, str]]:
    with _places(request.param) as (engine, src, dst):
        with engine.begin() as conn:
            meta = sa.MetaData(schema=src)
            users, posts, comments = data.tables(meta)
            meta.create_all(conn)
            for table, found in zip((users, posts, comments), data.rows(), strict=True):
                conn.execute(table.insert(), found)
        source, dest = Side(engine, src), Side(engine, dst)
        copy.copy_tables(source, dest, DRIVERS[request.param], {})
        yield source, dest, request.param


def _python_hashing_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = copy.table_checksum

    def counted(conn: sa.Connection, table: sa.Table, json_cols: set[str]) -> Any:
        seen.append(table.name)
        return real(conn, table, json_cols)

    monkeypatch.setattr(copy, "table_checksum", counted)
    return seen


def test_an_equal_copy_is_proved_by_the_servers(
    ends: tuple[Side, Side, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an exact copy, the checksums match and no table is hashed in Python."""
    source, dest, engine = ends
    hashed = _python_hashing_counted(monkeypatch)
    report = copy.verify(source, dest, DRIVERS[engine], {})
    assert report.equal, (report.source, report.dest)
    assert hashed == []
    assert report.source["comments"].startswith(f"{data.COMMENTS}:")


def test_a_changed_row_is_caught(ends: tuple[Side, Side, str]) -> None:
    """Given one destination row edited, that table's checksums differ, the others match."""
    source, dest, engine = ends
    with dest.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {dest.schema}.posts SET title = 'changed' WHERE id = 17"))
    report = copy.verify(source, dest, DRIVERS[engine], {})
    differ = sorted(k for k in report.source if report.source[k] != report.dest[k])
    assert differ == ["posts"]


def test_a_type_printed_differently_is_compared_by_value(
    ends: tuple[Side, Side, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a destination column widened (2.50 prints as 2.5000), the servers' digests of
    that table differ, its normalised rows are equal, and only it is hashed in Python."""
    source, dest, engine = ends
    with dest.engine.begin() as conn:
        conn.execute(sa.text(WIDEN[engine].format(dst=dest.schema)))
    hashed = _python_hashing_counted(monkeypatch)
    report = copy.verify(source, dest, DRIVERS[engine], {})
    assert report.equal, (report.source, report.dest)
    assert sorted(hashed) == ["posts", "posts"]
