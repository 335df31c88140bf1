"""Shared mode on a SQLite file: snapshots of only the plugin's objects, restore, quotas.

A snapshot is a SQLite database holding just the plugin's tables (with their indexes,
triggers and views), copied inside one read transaction of the shared file, so it is
consistent and holds nothing of any other plugin. Restore writes it as a side file next to
the shared file; the swap keeps the plugin's current objects as a ``.replaced.db`` file, then
in one write transaction drops them from the shared file and copies the side file's in.
Quotas are the SQLite driver's triggers, on the plugin's tables only.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import ClassVar

from providers.base import PluginSpec, Sink
from providers.shared_data import SharedData
from providers.sqlite_data import (
    CHUNK,
    TRIGGER_PREFIX,
    checked_row_counts,
    has_quota_triggers,
    row_counts,
    set_quota_triggers,
    write_private_file,
)
from worker.errors import ProviderError

Counts = dict[str, int]
_ORDER = "CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'trigger' THEN 2 ELSE 3 END"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_objects(conn: sqlite3.Connection, source: str, tables: set[str]) -> None:
    """Create ``tables`` (and their indexes, triggers, views) in ``main`` from the attached
    ``source`` schema, with their rows; the caller holds the transaction."""
    rows = conn.execute(
        f"SELECT type, name, tbl_name, sql FROM {source}.sqlite_master "
        f"WHERE sql IS NOT NULL ORDER BY {_ORDER}, rowid"
    ).fetchall()
    for kind, name, table, sql in rows:
        if table not in tables or name.startswith(TRIGGER_PREFIX):
            continue
        conn.execute(sql)
        if kind == "table":
            conn.execute(f"INSERT INTO main.{_q(name)} SELECT * FROM {source}.{_q(name)}")
    sequences = "SELECT 1 FROM {}.sqlite_master WHERE name = 'sqlite_sequence'"
    found = [conn.execute(sequences.format(schema)).fetchone() for schema in (source, "main")]
    if all(found) and tables:
        marks = ", ".join("?" * len(tables))
        conn.execute(f"DELETE FROM main.sqlite_sequence WHERE name IN ({marks})", sorted(tables))
        conn.execute(
            f"INSERT INTO main.sqlite_sequence SELECT name, seq FROM {source}.sqlite_sequence "
            f"WHERE name IN ({marks})",
            sorted(tables),
        )


class SharedSQLiteData(SharedData):
    """Data hooks of shared mode on SQLite."""

    snapshot_format: ClassVar[str | None] = "shared_sqlite"
    size_sql: ClassVar[str | None] = (
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN "
        "(SELECT name FROM sqlite_master WHERE tbl_name IN ({names}))"
    )

    def _file(self) -> Path:
        return Path(self.url.database or "shared.db").resolve()

    def _beside(self, spec: PluginSpec, what: str) -> Path:
        base = self._file()
        return base.with_name(f".{base.name}.{spec.plugin_id}.{what}.db")

    def _copy_owned(
        self, spec: PluginSpec, target: str
    ) -> tuple[sqlite3.Connection, dict[str, int]]:
        """(connection, rows per table) of a new database ``target`` (a path or ``:memory:``)
        holding the plugin's objects, copied in one read transaction of the shared file."""
        owned, objects = self.owned_now(spec)
        wanted = {n for n in owned if objects[n] in {"table", "view"}}
        conn = sqlite3.connect(target, isolation_level=None, timeout=30)
        try:
            conn.execute("ATTACH DATABASE ? AS src", (str(self._file()),))
            conn.execute("BEGIN")
            copy_objects(conn, "src", wanted)
            counts = row_counts(conn)
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE src")
        except BaseException:
            conn.close()
            raise
        return conn, counts

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """The plugin's objects copied into an in-memory database, streamed as a file."""
        try:
            with self._translated():
                conn, counts = self._copy_owned(spec, ":memory:")
                with closing(conn):
                    image = memoryview(conn.serialize())
        except sqlite3.Error as exc:
            raise ProviderError(f"cannot copy {spec.plugin_id}'s tables: {exc}") from exc
        for start in range(0, len(image), CHUNK):
            sink.write(image[start : start + CHUNK])
        return counts

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Write the snapshot as the side file (0600)."""
        write_private_file(self._beside(spec, "restore"), chunks)

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side file (None without one)."""
        return checked_row_counts(self._beside(spec, "restore"))

    def swap_side(self, spec: PluginSpec) -> str | None:
        """Keep the plugin's objects as the replaced file, then swap in one write transaction."""
        side, swapping = self._beside(spec, "restore"), self._beside(spec, "swapping")
        replaced = self._beside(spec, "replaced")
        if side.exists():
            draft = replaced.with_name(f"{replaced.name}.part")
            draft.unlink(missing_ok=True)
            with self._translated():
                self._copy_owned(spec, str(draft))[0].close()
            os.chmod(draft, 0o600)
            os.replace(draft, replaced)
            os.replace(side, swapping)  # from here on the replaced copy is never rewritten
        if not swapping.exists():
            return None
        with (
            self._translated(),
            closing(sqlite3.connect(self._file(), isolation_level=None, timeout=30)) as conn,
        ):
            conn.execute("ATTACH DATABASE ? AS src", (str(swapping),))
            incoming = {
                n for (n,) in conn.execute("SELECT name FROM src.sqlite_master WHERE type='table'")
            }
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.cursor()
            objects = self._objects(cur)
            self._drop_all(cur, {n: objects[n] for n in self._owned(cur, spec, objects)})
            copy_objects(conn, "src", incoming - {"sqlite_sequence"})
            lock = f"{self.history_table_name(spec)}_lock"
            if lock in incoming:  # the copy holds the lease of the run that was going on
                conn.execute(f"DELETE FROM main.{_q(lock)}")
            conn.execute("COMMIT")
        swapping.unlink()
        return str(replaced)

    def drop_side(self, spec: PluginSpec) -> None:
        """Remove the side file."""
        self._beside(spec, "restore").unlink(missing_ok=True)

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Remove side, swapping and replaced files (purge)."""
        for what in ("restore", "swapping", "replaced"):
            self._beside(spec, what).unlink(missing_ok=True)

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Quota triggers on (or off) the plugin's tables, in one transaction."""
        owned, objects = self.owned_now(spec)
        with self._translated(), closing(self._open()) as conn:
            set_quota_triggers(conn, [n for n in owned if objects[n] == "table"], read_only)

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether every table of the plugin carries the quota triggers."""
        owned, objects = self.owned_now(spec)
        with self._translated(), closing(self._open()) as conn:
            return has_quota_triggers(conn, [n for n in owned if objects[n] == "table"])
