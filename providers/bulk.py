"""Moving a plugin's rows in bulk: portable column types, fast loads, fix-ups after a load.

Relocation (worker.relocation) reflects the source tables with SQLAlchemy, asks the
destination driver for each column's type (:meth:`BulkLoad.portable_type`), creates the tables
and loads the rows in batches (:meth:`BulkLoad.bulk_load`), then lets the driver fix what a
load with explicit keys leaves behind (:meth:`BulkLoad.after_load`: sequences).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from providers.sqlnames import columns, into, qualified
from providers.types import PluginSpec

if TYPE_CHECKING:  # SQLAlchemy loads when rows move, not when a driver is imported
    import sqlalchemy as sa
    from sqlalchemy.types import TypeEngine

STREAM_CHUNK = 1 << 20
"""Bytes of COPY data gathered before each write to the destination."""
KEY_TEXT_LENGTH = 255
"""Length of a text column used in a key where the backend cannot index unbounded text."""


class BulkLoad:
    """Defaults: types as reflected, multi-row INSERTs, nothing after the load."""

    stream_format: ClassVar[str | None] = None
    """A wire format both ends may stream rows in untouched (:meth:`stream_out`/``in``)."""

    def stream_out(self, conn: sa.Connection, table: sa.Table) -> Iterator[bytes]:
        """The table's rows in :attr:`stream_format` (drivers that declare one)."""
        raise NotImplementedError(f"{type(self).__name__} streams no rows")

    def stream_in(self, conn: sa.Connection, table: sa.Table, chunks: Iterable[bytes]) -> int:
        """Load rows streamed by a driver of the same :attr:`stream_format`; how many."""
        raise NotImplementedError(f"{type(self).__name__} streams no rows")

    digest_format: ClassVar[str | None] = None
    """What :meth:`table_digest` computes: two ends compare their servers' digests only when
    they name the same format."""

    def table_digest(self, conn: sa.Connection, table: sa.Table) -> str | None:
        """``rows:checksum`` of the table computed by the server in :attr:`digest_format`
        (None: the relocation hashes the rows in Python, which compares across engines)."""
        return None

    def copy_native(self, spec: PluginSpec, source: object) -> dict[str, int] | None:
        """Copy the plugin's storage from ``source``'s (another target's driver) with the
        engine's own dump and restore, replacing what this end holds; rows per table.

        None: no native copy between these two drivers (the generic copy runs instead).
        """
        return None

    def portable_type(self, type_: TypeEngine[Any], *, key: bool) -> TypeEngine[Any]:
        """The column type to create at this backend for a generic ``type_``."""
        return type_

    def reflected_type(self, table: sa.Table, column: sa.Column[Any]) -> TypeEngine[Any] | None:
        """What a reflected column of this backend really holds, where reflection hides it."""
        return None

    def bulk_load(
        self, conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert ``rows`` (column name → value) into ``table`` within ``conn``'s transaction.

        JSON columns hold :class:`JsonText` or decoded values, ``None`` being a JSON null and
        ``sa.null()`` SQL NULL (as SQLAlchemy's JSON type binds them).
        """
        import sqlalchemy as sa

        json_cols = [c.name for c in table.columns if isinstance(c.type, sa.JSON)]
        if json_cols:
            rows = [{**row, **{n: _decoded(row[n]) for n in json_cols}} for row in rows]
        if rows:
            conn.execute(table.insert(), list(rows))

    def after_load(self, conn: sa.Connection, table: sa.Table) -> None:
        """Fix-ups after ``table`` was loaded with explicit key values (default: none)."""


class JsonText(str):
    """A JSON value as its source's JSON text: loaded as is where the destination takes JSON
    text (``COPY``), decoded for the others (:meth:`BulkLoad.bulk_load`)."""


def _json(value: Any) -> str | None:
    """JSON text of a value; None (SQL NULL) for ``sa.null()``."""
    from sqlalchemy.sql.elements import Null

    if isinstance(value, Null):
        return None
    return str(value) if isinstance(value, JsonText) else json.dumps(value, ensure_ascii=False)


def _decoded(value: Any) -> Any:
    """A decoded :class:`JsonText` (text that is no JSON stays a string), else ``value``."""
    if not isinstance(value, JsonText):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return str(value)


class PostgresBulk(BulkLoad):
    """PostgreSQL: ``COPY ... FROM STDIN`` in, identity/serial sequences moved past the rows.

    Between two PostgreSQL servers rows stream as ``COPY`` text, untouched by Python.
    """

    stream_format: ClassVar[str | None] = "postgresql-copy-text"
    digest_format: ClassVar[str | None] = "postgresql-row-text-sha256"

    def stream_out(self, conn: sa.Connection, table: sa.Table) -> Iterator[bytes]:
        """``COPY (SELECT ...) TO STDOUT``, in the table's column order, in ~1 MB chunks."""
        raw: Any = conn.connection.dbapi_connection
        query = f"COPY (SELECT {columns(conn, table)} FROM {qualified(conn, table)}) TO STDOUT"
        with raw.cursor() as cur, cur.copy(query) as copy:
            buffer, size = [], 0
            for row in copy:  # libpq hands COPY data over one row at a time
                buffer.append(row)
                size += len(row)
                if size >= STREAM_CHUNK:
                    yield b"".join(buffer)
                    buffer, size = [], 0
            if buffer:
                yield b"".join(buffer)

    def stream_in(self, conn: sa.Connection, table: sa.Table, chunks: Iterable[bytes]) -> int:
        """``COPY ... FROM STDIN`` of the streamed text."""
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY {into(conn, table)} FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write(chunk)
            return int(cur.rowcount)

    def table_digest(self, conn: sa.Connection, table: sa.Table) -> str | None:
        """See :func:`providers.bulk_digest.postgres_digest`."""
        from providers.bulk_digest import postgres_digest

        return postgres_digest(conn, table)

    def bulk_load(
        self, conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """``COPY`` the rows in (JSON as JSON text, :class:`JsonText` untouched, ``sa.null()``
        as SQL NULL)."""
        if not rows:
            return
        import sqlalchemy as sa

        names = [c.name for c in table.columns]
        json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {into(conn, table)} FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_json(row[n]) if n in json_cols else row[n] for n in names])

    def after_load(self, conn: sa.Connection, table: sa.Table) -> None:
        """Every serial/identity sequence of the table continues after its largest value."""
        import sqlalchemy as sa

        name = qualified(conn, table)
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            seq = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": name, "c": column.name},
            ).scalar()
            if seq:
                conn.execute(
                    sa.text(
                        "SELECT setval(:s, COALESCE((SELECT max("
                        f"{conn.dialect.identifier_preparer.quote(column.name)}) "
                        f"FROM {name}), 0) + 1, false)"
                    ),
                    {"s": seq},
                )


class MySQLBulk(BulkLoad):
    """MySQL/MariaDB: microsecond datetimes, bounded text in keys, JSON and BOOL reflected."""

    digest_format: ClassVar[str | None] = "mysql-row-hex-sha256"

    def table_digest(self, conn: sa.Connection, table: sa.Table) -> str | None:
        """See :func:`providers.bulk_digest.mysql_digest`."""
        from providers.bulk_digest import mysql_digest

        return mysql_digest(conn, table)

    def reflected_type(self, table: sa.Table, column: sa.Column[Any]) -> TypeEngine[Any] | None:
        """TINYINT(1) is a boolean; MariaDB's JSON is LONGTEXT in utf8mb4_bin."""
        import sqlalchemy as sa
        from sqlalchemy.dialects import mysql

        type_ = column.type
        if isinstance(type_, mysql.TINYINT) and type_.display_width == 1:
            return sa.Boolean()
        if isinstance(type_, mysql.LONGTEXT) and type_.collation == "utf8mb4_bin":
            return sa.JSON()
        return None

    def portable_type(self, type_: TypeEngine[Any], *, key: bool) -> TypeEngine[Any]:
        """DATETIME(6) (the default drops fractions); VARCHAR for text used in keys."""
        import sqlalchemy as sa
        from sqlalchemy.dialects import mysql

        if isinstance(type_, sa.DateTime):
            return mysql.DATETIME(fsp=6, timezone=type_.timezone)
        if isinstance(type_, sa.Time):
            return mysql.TIME(fsp=6)
        if key and isinstance(type_, sa.String) and not type_.length:
            return sa.String(KEY_TEXT_LENGTH)
        return type_
