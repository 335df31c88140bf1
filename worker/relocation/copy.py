"""Copy a plugin's tables between engines and prove the copy: counts and checksums.

Rows are read in batches in foreign-key order and loaded by the destination driver
(``COPY`` into PostgreSQL). A table's checksum is a SHA-256 over its rows' digests in sorted
order, each row normalised so that every engine gives the same text for the same data:
NULL, booleans as 0/1, exact decimals, datetimes in UTC, JSON with sorted keys, bytes as hex.
Between two drivers of one digest format each server computes its tables' checksums itself
(:meth:`~providers.bulk.BulkLoad.table_digest`), so verifying reads no row into Python.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from providers.base import Provider
from providers.bulk import JsonText
from worker.relocation.schema import Side, reflect, translate

BATCH_ROWS = 5000


@dataclass
class CopyReport:
    """What one copy moved: rows per table and source/destination checksums."""

    rows: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    dest: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        """Whether every table arrived with the same checksum."""
        return self.source == self.dest


def _decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


_TEXT: list[tuple[type | tuple[type, ...], Callable[[Any], str]]] = [
    (bool, lambda v: "1" if v else "0"),
    (Decimal, _decimal),
    (float, repr),
    (datetime, _datetime),
    (date, lambda v: v.isoformat()),
    ((bytes, memoryview), lambda v: bytes(v).hex()),
]
_BY_TYPE: dict[type, Callable[[Any], str]] = {str: str, int: str}
"""Text functions by exact type, filled from :data:`_TEXT` as types are met."""
_JSON_TEXT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _text_of(kind: type) -> Callable[[Any], str]:
    """The text function of values of exact type ``kind`` (first match in :data:`_TEXT`)."""
    found = _BY_TYPE.get(kind)
    if found is None:
        found = next((text for base, text in _TEXT if issubclass(kind, base)), str)
        _BY_TYPE[kind] = found
    return found


def _json(value: Any) -> str:
    try:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
    except ValueError:
        return str(value)
    return _JSON_TEXT(parsed)


def normalise(value: Any, is_json: bool) -> str:
    """The engine-independent text of one value."""
    if value is None:
        return "\\N"
    if is_json:
        return _json(value)
    return _text_of(type(value))(value)


def _pages(
    conn: sa.Connection, table: sa.Table, as_text: Collection[str] = ()
) -> Iterator[tuple[list[str], Sequence[sa.Row[Any]]]]:
    """The rows (tuples, with their column names) in pages: by primary-key ranges where the
    key is one column, else at once.

    Columns named in ``as_text`` are read as the server's text of the value (JSON: a JSON
    ``null`` stays distinct from SQL NULL, whatever the driver would decode).
    Plugin connections are in autocommit, so no server-side cursor: each page is a query.
    """
    columns = [sa.cast(c, sa.Text).label(c.name) if c.name in as_text else c for c in table.c]
    names = [c.name for c in table.c]
    keys = list(table.primary_key.columns)
    if len(keys) != 1:
        yield names, conn.execute(sa.select(*columns).order_by(*(keys or table.columns))).all()
        return
    key, at, last = keys[0], names.index(keys[0].name), None
    while True:
        query = sa.select(*columns).order_by(key).limit(BATCH_ROWS)
        if last is not None:
            query = query.where(key > last)
        page = conn.execute(query).all()
        if not page:
            return
        yield names, page
        if len(page) < BATCH_ROWS:
            return
        last = page[-1][at]


def _batches(
    conn: sa.Connection, table: sa.Table, as_text: Collection[str] = ()
) -> Iterator[list[dict[str, Any]]]:
    """:func:`_pages` as column name → value dicts (what a driver's bulk load takes)."""
    for names, page in _pages(conn, table, as_text):
        yield [dict(zip(names, row, strict=True)) for row in page]


def table_checksum(conn: sa.Connection, table: sa.Table, json_cols: set[str]) -> tuple[int, str]:
    """(rows, checksum) of ``table``: each row's values in column-name order, normalised."""
    digests = []
    sha256 = hashlib.sha256
    for names, page in _pages(conn, table, json_cols):
        order = sorted(range(len(names)), key=names.__getitem__)
        texts = [(i, names[i] in json_cols) for i in order]
        for row in page:
            text = "\x1f".join(normalise(row[i], is_json) for i, is_json in texts)
            digests.append(sha256(text.encode()).digest())
    digests.sort()
    return len(digests), hashlib.sha256(b"".join(digests)).hexdigest()


def checksums(
    side: Side,
    meta: sa.MetaData,
    json_cols: Mapping[str, set[str]],
    rename: Mapping[str, str],
    server: Provider | None = None,
) -> dict[str, str]:
    """``rows:checksum`` of every table of ``meta`` by source name (``rename``: source → own
    name): computed by ``server``'s driver where it can (:meth:`~providers.bulk.BulkLoad.
    table_digest`), else from the rows read here."""
    by_own = {t.name: t for t in meta.sorted_tables}
    found = {}
    with side.engine.connect() as conn:
        for source_name, cols in json_cols.items():
            table = by_own[rename.get(source_name, source_name)]
            digest = server.table_digest(conn, table) if server is not None else None
            if digest is None:
                count, rows_digest = table_checksum(conn, table, cols)
                digest = f"{count}:{rows_digest}"
            found[source_name] = digest
    return found


def _json_columns(
    src_meta: sa.MetaData, dst_meta: sa.MetaData, schema: str | None, rename: Mapping[str, str]
) -> dict[str, set[str]]:
    """Source table → its JSON columns (as the destination declares them)."""
    found = {}
    for table in src_meta.sorted_tables:
        own = dst_meta.tables[_key(schema, rename.get(table.name, table.name))]
        found[table.name] = {c.name for c in own.columns if isinstance(c.type, sa.JSON)}
    return found


def copy_tables(
    source: Side, dest: Side, drivers: tuple[Provider, Provider], rename: Mapping[str, str]
) -> CopyReport:
    """Create the source's tables at the destination, empty them and copy every row.

    ``drivers``: the (source, destination) drivers; ``rename``: source → destination names.
    Idempotent: a resumed copy starts again from empty tables.
    """
    started = time.perf_counter()
    dest_driver = drivers[1]
    src_meta = reflect(source)
    dst_meta = translate(src_meta, drivers, dest.schema, rename)
    report = CopyReport()
    with dest.engine.begin() as out:
        dst_meta.create_all(out, checkfirst=True)
        for table in reversed(dst_meta.sorted_tables):
            out.execute(table.delete())
    json_cols = _json_columns(src_meta, dst_meta, dest.schema, rename)
    with source.engine.connect() as src, dest.engine.begin() as out:
        for table in src_meta.sorted_tables:
            target = dst_meta.tables[_key(dest.schema, rename.get(table.name, table.name))]
            pair = (table, target)
            report.rows[table.name] = _copy_table(src, out, drivers, pair, json_cols[table.name])
            dest_driver.after_load(out, target)
    report.seconds = time.perf_counter() - started
    return report


def _copy_table(
    src: sa.Connection,
    out: sa.Connection,
    drivers: tuple[Provider, Provider],
    tables: tuple[sa.Table, sa.Table],
    json_cols: set[str],
) -> int:
    """Copy one table's rows: streamed untouched where both engines share a wire format.

    JSON values are read as JSON text and handed on as :class:`~providers.bulk.JsonText`, SQL
    NULL as ``sa.null()``: a JSON ``null`` stays a JSON null (see ``BulkLoad.bulk_load``).
    """
    source, dest = drivers
    if source.stream_format is not None and source.stream_format == dest.stream_format:
        return dest.stream_in(out, tables[1], source.stream_out(src, tables[0]))
    count = 0
    for batch in _batches(src, tables[0], json_cols):
        for row in batch:
            for name in json_cols:
                row[name] = _decoded(row[name])
        dest.bulk_load(out, tables[1], batch)
        count += len(batch)
    return count


def _decoded(text: str | None) -> Any:
    """A JSON column's value for the destination: its text, ``sa.null()`` for SQL NULL."""
    return sa.null() if text is None else JsonText(text)


def verify(
    source: Side,
    dest: Side,
    drivers: tuple[Provider, Provider],
    rename: Mapping[str, str],
    *,
    digests: bool = True,
) -> CopyReport:
    """Checksums of every table on both sides (keyed by the source's table names).

    ``digests``: let two servers of one digest format digest their own rows (False: every row
    is read and hashed here, as between engines).
    """
    started = time.perf_counter()
    src_meta = reflect(source)
    dst_meta = translate(src_meta, drivers, dest.schema, rename)
    json_cols = _json_columns(src_meta, dst_meta, dest.schema, rename)
    report = CopyReport()
    ours, theirs = drivers

    def both(tables: Mapping[str, set[str]], servers: Sequence[Provider | None]) -> None:
        with ThreadPoolExecutor(max_workers=1) as pool:  # the two servers answer side by side
            found = pool.submit(checksums, dest, dst_meta, tables, rename, servers[1])
            report.source.update(checksums(source, src_meta, tables, {}, servers[0]))
            report.dest.update(found.result())

    if digests and ours.digest_format is not None and ours.digest_format == theirs.digest_format:
        # each server digests its own rows; a table whose digests differ (a type the copy
        # changed may print differently) is compared again by its normalised rows
        both(json_cols, drivers)
        json_cols = {k: v for k, v in json_cols.items() if report.source[k] != report.dest[k]}
    if json_cols:
        both(json_cols, (None, None))
    report.seconds = time.perf_counter() - started
    return report


def _key(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name
