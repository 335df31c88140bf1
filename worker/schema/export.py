"""Exports of the registered schemas: SQL for a fresh database, Prisma, SQLAlchemy models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from worker.schema.ddl import creatable, dialect_of, metadata_for
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.prisma import export_prisma
from worker.schema.sqlagen import export_sqlalchemy

__all__ = ["export_prisma", "export_sql", "export_sqlalchemy", "sql_statements"]


def sql_statements(
    docs: Iterable[ExtensionDatabaseSchema], dialect: str, schema: str | None = None
) -> list[str]:
    """CREATE statements (types, tables, indexes) for a fresh database, in order."""
    md = metadata_for(list(docs), dialect, schema)
    statements: list[str] = []

    def collect(element: Any, *args: Any, **kwargs: Any) -> None:
        statements.append(str(element.compile(dialect=engine.dialect)).strip())

    engine = sa.create_mock_engine(sa.engine.URL.create(dialect_of(dialect)), collect)
    md.create_all(engine, tables=creatable(md), checkfirst=False)
    return statements


def export_sql(
    docs: Iterable[ExtensionDatabaseSchema], dialect: str, schema: str | None = None
) -> str:
    """A SQL script creating every registered table on a fresh ``dialect`` database."""
    return "".join(f"{statement};\n\n" for statement in sql_statements(docs, dialect, schema))
