"""Table digests computed on the database server: how relocation proves a copy without
reading its rows into Python (:meth:`providers.bulk.BulkLoad.table_digest`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from providers.sqlnames import columns, qualified

if TYPE_CHECKING:
    import sqlalchemy as sa

DIGEST_MAX_BYTES = 256 << 20
"""Tables larger than this are hashed in Python: a server digest holds every row's hash in
one string (64 bytes a row) and PostgreSQL's text stops at 1 GB."""
DIGEST_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
)
"""PostgreSQL session settings that shape a value's text, fixed for :func:`postgres_digest`."""


def postgres_digest(conn: sa.Connection, table: sa.Table) -> str | None:
    """SHA-256 over the sorted SHA-256 of each row's text, in one query: the rows never
    leave the server. The text of a value depends on session settings, so the query fixes
    the ones that shape it (time zone, date, interval, float and bytea output). None for a
    table over :data:`DIGEST_MAX_BYTES`."""
    import sqlalchemy as sa

    size = conn.execute(
        sa.text("SELECT pg_relation_size(CAST(:t AS regclass))"), {"t": qualified(conn, table)}
    ).scalar()
    if size is None or size > DIGEST_MAX_BYTES:
        return None
    for setting, value in DIGEST_SETTINGS:  # for this connection (relocation's: not pooled)
        conn.execute(sa.text("SELECT set_config(:s, :v, false)"), {"s": setting, "v": value})
    row = conn.execute(
        sa.text(
            "SELECT count(*), encode(sha256(convert_to(coalesce(string_agg(h, '' "
            "ORDER BY h COLLATE \"C\"), ''), 'UTF8')), 'hex') FROM (SELECT encode(sha256("
            f"convert_to(ROW({columns(conn, table)})::text, 'UTF8')), 'hex') AS h "
            f"FROM {qualified(conn, table)}) AS rows"
        )
    ).one()
    return f"{row[0]}:{row[1]}"


def mysql_digest(conn: sa.Connection, table: sa.Table) -> str | None:
    """SHA-256 over the sorted SHA-256 of each row (its values' bytes in hex, NULL as
    ``N``), in one query; None (hash in Python) for a table over :data:`DIGEST_MAX_BYTES`
    or if the server could not hold every row's hash at once. Times print with six
    fractional digits (a copy widens ``DATETIME`` to ``DATETIME(6)``), ``TIMESTAMP``
    values in UTC."""
    import sqlalchemy as sa

    size = conn.execute(
        sa.text(
            "SELECT DATA_LENGTH FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = COALESCE(:s, DATABASE()) AND TABLE_NAME = :t"
        ),
        {"s": table.schema, "t": table.name},
    ).scalar()
    if size is None or size > DIGEST_MAX_BYTES:
        return None
    conn.execute(sa.text("SET SESSION time_zone = '+00:00'"))
    conn.execute(sa.text("SET SESSION group_concat_max_len = 4294967295"))
    quote = conn.dialect.identifier_preparer.quote
    values = ", ".join(_mysql_value(quote(c.name), c) for c in table.columns)
    where = qualified(conn, table)
    count, digest, length = conn.execute(
        sa.text(
            "SELECT n, SHA2(COALESCE(g, ''), 256), COALESCE(LENGTH(g), 0) FROM (SELECT "
            "COUNT(*) AS n, GROUP_CONCAT(h ORDER BY h SEPARATOR '') AS g FROM (SELECT "
            f"SHA2(CONCAT_WS(',', {values}), 256) AS h FROM {where}) AS r) AS a"
        )
    ).one()
    if length != 64 * count:  # cut short or refused: never compare a partial digest
        return None
    return f"{count}:{digest}"


def _mysql_value(value: str, column: sa.Column[Any]) -> str:
    """A column's value (``value``: its quoted name) as :func:`mysql_digest`
    hashes it."""
    import sqlalchemy as sa

    if isinstance(column.type, sa.DateTime):
        value = f"CAST({value} AS DATETIME(6))"
    elif isinstance(column.type, sa.Time):
        value = f"CAST({value} AS TIME(6))"
    return f"COALESCE(HEX(CAST({value} AS BINARY)), 'N')"
