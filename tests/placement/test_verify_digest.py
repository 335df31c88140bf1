"""Verifying a copy between two PostgreSQL ends: each server digests its own rows.

The source and destination are two schemas of a fresh database on the test server, filled
with the relocation test data and copied by the copy engine. Equal copies are proved without
reading a row into Python; a changed row is caught; a column whose type the copy changed
(its text differs, its value does not) is compared again by its normalised rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
import sqlalchemy as sa

from providers.base import Provider
from providers.bulk import PostgresBulk
from tests.placement import data
from tests.support.env import fresh_pg_database
from worker.relocation import copy
from worker.relocation.schema import Side

DRIVERS = cast("tuple[Provider, Provider]", (PostgresBulk(), PostgresBulk()))


@pytest.fixture
def ends() -> Iterator[tuple[Side, Side]]:
    with fresh_pg_database() as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE SCHEMA src"))
            conn.execute(sa.text("CREATE SCHEMA dst"))
            meta = sa.MetaData(schema="src")
            users, posts, comments = data.tables(meta)
            meta.create_all(conn)
            for table, found in zip((users, posts, comments), data.rows(), strict=True):
                conn.execute(table.insert(), found)
        source, dest = Side(engine, "src"), Side(engine, "dst")
        copy.copy_tables(source, dest, DRIVERS, {})
        yield source, dest
        engine.dispose()


def _python_hashing_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = copy.table_checksum

    def counted(conn: sa.Connection, table: sa.Table, json_cols: set[str]) -> Any:
        seen.append(table.name)
        return real(conn, table, json_cols)

    monkeypatch.setattr(copy, "table_checksum", counted)
    return seen


def test_an_equal_copy_is_proved_by_the_servers(
    ends: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an exact copy, the checksums match and no table is hashed in Python."""
    hashed = _python_hashing_counted(monkeypatch)
    report = copy.verify(*ends, DRIVERS, {})
    assert report.equal, (report.source, report.dest)
    assert hashed == []
    assert report.source["comments"].startswith(f"{data.COMMENTS}:")


def test_a_changed_row_is_caught(ends: tuple[Side, Side]) -> None:
    """Given one destination row edited, that table's checksums differ, the others match."""
    source, dest = ends
    with dest.engine.begin() as conn:
        conn.execute(sa.text("UPDATE dst.posts SET title = title || '!' WHERE id = 17"))
    report = copy.verify(source, dest, DRIVERS, {})
    differ = sorted(k for k in report.source if report.source[k] != report.dest[k])
    assert differ == ["posts"]


def test_a_type_printed_differently_is_compared_by_value(
    ends: tuple[Side, Side], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a destination column widened (2.50 prints as 2.5000), the servers' digests of
    that table differ, its normalised rows are equal, and only it is hashed in Python."""
    source, dest = ends
    with dest.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE dst.posts ALTER COLUMN score TYPE numeric(14, 4)"))
    hashed = _python_hashing_counted(monkeypatch)
    report = copy.verify(source, dest, DRIVERS, {})
    assert report.equal, (report.source, report.dest)
    assert sorted(hashed) == ["posts", "posts"]
