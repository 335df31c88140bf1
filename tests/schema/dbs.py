"""Helpers around the test databases of the schema tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa


@dataclass
class Backend:
    """A database to run DDL on: an engine and the schema to qualify names with."""

    name: str
    engine: sa.Engine
    schema: str | None = None

    def reset(self) -> None:
        """Drop every table (and PostgreSQL enum type) in the scratch area."""
        with self.engine.begin() as conn:
            md = sa.MetaData(schema=self.schema)
            md.reflect(conn, resolve_fks=False)  # no recursion along long FK chains
            if self.name == "mysql":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            md.drop_all(conn)
            if self.name == "mysql":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
            if self.name == "postgresql":
                for enum in sa.inspect(conn).get_enums(schema=self.schema):  # type: ignore[attr-defined]
                    conn.execute(sa.text(f'DROP TYPE "{self.schema}"."{enum["name"]}"'))

    def core_tables(self, *names: str) -> None:
        """Create stand-ins of core platform tables (``id VARCHAR(36)`` primary keys)."""
        md = sa.MetaData(schema=self.schema)
        for name in names:
            sa.Table(name, md, sa.Column("id", sa.String(36), primary_key=True))
        with self.engine.begin() as conn:
            md.create_all(conn)


def scratch_name() -> str:
    """A fresh scratch schema/database name."""
    return f"schematest_{secrets.token_hex(4)}"


def run(conn: sa.Connection, statements: list[str]) -> None:
    """Execute planned or exported statements one by one."""
    for statement in statements:
        conn.exec_driver_sql(statement)
