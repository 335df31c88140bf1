"""PostgreSQL driver hooks on a plugin's data: table sizes, storage size, snapshots, quotas.

A mixin of :class:`providers.postgres.PostgresProvider`; it uses the provider's admin
connection and names.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from providers.base import PluginSpec

if TYPE_CHECKING:
    from providers.postgres import Conn

_TABLE_SIZES = (
    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
    "WHERE c.relnamespace = to_regnamespace(%s)::oid AND c.relkind IN ('r', 'm', 'p') "
    "AND c.relname = ANY(%s)"
)
_SCHEMA_SIZE = (
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "WHERE c.relnamespace = to_regnamespace(%s)::oid AND c.relkind IN ('r', 'm')"
)


class PostgresData:
    """Data hooks of the PostgreSQL driver."""

    if TYPE_CHECKING:
        dbname: str

        def _admin(self) -> AbstractContextManager[Conn]: ...

    def table_sizes(self, spec: PluginSpec, tables: Sequence[str]) -> dict[str, int]:
        """Total relation size (heap, indexes, TOAST) of each table of the plugin's schema."""
        from providers.postgres import PgNames, _translated

        with _translated("measure tables"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_TABLE_SIZES, [PgNames.of(spec).schema, list(tables)])
            return {str(name): int(size) for name, size in cur.fetchall()}

    def size_bytes(self, spec: PluginSpec) -> int:
        """Total relation size over the plugin's schema."""
        from providers.postgres import PgNames, _translated

        with _translated("measure schema"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_SCHEMA_SIZE, [PgNames.of(spec).schema])
            row = cur.fetchone()
        return int(row[0]) if row else 0
