"""Table and column names quoted as a connection's dialect quotes them (bulk moves, digests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlalchemy as sa


def qualified(conn: sa.Connection, table: sa.Table) -> str:
    """The table's name, schema-qualified and quoted as the connection's dialect quotes."""
    return str(conn.dialect.identifier_preparer.format_table(table))


def columns(conn: sa.Connection, table: sa.Table) -> str:
    """The table's column names in order, quoted as the connection's dialect quotes."""
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(c.name) for c in table.columns)


def into(conn: sa.Connection, table: sa.Table) -> str:
    """``table (columns)``: where a ``COPY ... FROM STDIN`` loads."""
    return f"{qualified(conn, table)} ({columns(conn, table)})"
