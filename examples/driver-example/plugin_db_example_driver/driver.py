"""``example-sqlite``: plugin-db's SQLite driver under another name, with a marker table.

A thin subclass is enough for a driver that changes one behaviour: here every provisioned
file carries a ``example_driver_marker`` row, so a test can tell which driver made it. A
driver written from scratch overrides the abstract methods of ``providers.base.Provider``
(see ``providers/memory.py`` for a complete small one).
"""

from __future__ import annotations

from contextlib import closing
from typing import ClassVar

from providers.base import Descriptor, PluginSpec
from providers.sqlite import SQLiteProvider

MARKER = "example_driver_marker"


class ExampleSQLiteProvider(SQLiteProvider):
    """SQLite files under the target's ``admin_url`` folder, each marked as this driver's."""

    name: ClassVar[str] = "example-sqlite"
    modes: ClassVar[frozenset[str]] = frozenset({"exclusive-sqlite"})

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """The SQLite driver's provision, then the marker row (idempotent)."""
        descriptor = super().provision(spec, password)
        with closing(self.connect(spec, None)) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (driver TEXT PRIMARY KEY)")
            conn.execute(f"INSERT OR IGNORE INTO {MARKER} VALUES (?)", (self.name,))
        return descriptor
