"""MySQL/MariaDB driver hooks on a plugin's data: table sizes, storage size, snapshots, quotas.

A mixin of :class:`providers.mysql.MySQLProvider`; it uses the provider's admin connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from providers.base import PluginSpec

_SIZES = (
    "SELECT TABLE_NAME, COALESCE(DATA_LENGTH + INDEX_LENGTH, 0) FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = %s"
)


class MySQLData:
    """Data hooks of the MySQL/MariaDB driver."""

    if TYPE_CHECKING:
        host: str
        port: int

        def _admin(self, *secrets: str | None) -> AbstractContextManager[Any]: ...

        def database(self, spec: PluginSpec) -> str: ...

        def _users(self, spec: PluginSpec) -> tuple[str, str]: ...

    def _all_sizes(self, spec: PluginSpec) -> dict[str, int]:
        with self._admin() as cur:
            cur.execute(_SIZES, (self.database(spec),))
            return {str(name): int(size) for name, size in cur.fetchall()}

    def table_sizes(self, spec: PluginSpec, tables: Sequence[str]) -> dict[str, int]:
        """Data and index length of each table (information_schema)."""
        wanted = set(tables)
        return {k: v for k, v in self._all_sizes(spec).items() if k in wanted}

    def size_bytes(self, spec: PluginSpec) -> int:
        """The sum of data and index lengths over the plugin's database."""
        return sum(self._all_sizes(spec).values())
