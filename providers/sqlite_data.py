"""SQLite driver hooks on a plugin's data: size, snapshots (online backup API), quotas.

A mixin of :class:`providers.sqlite.SQLiteProvider`.

Read-only over quota, for every connection to the file (the plugin's own included): each
table gets ``BEFORE INSERT`` and ``BEFORE UPDATE`` triggers that ``RAISE(ABORT, ...)``, so
writes fail with a clear message while reads work; DELETE stays allowed so the plugin can get
back under its limit. Triggers live in the file, so they hold for connections the worker
never sees; tables created later are covered at the next enforcement.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from providers.base import PluginSpec, Sink
from worker.errors import ProviderError

CHUNK = 1024 * 1024
IN_MEMORY_MAX = 256 * 1024 * 1024  # a snapshot copy up to this size is made in memory
TRIGGER_PREFIX = "plugin_db_quota_"
QUOTA_MESSAGE = "storage quota exceeded: the plugin is read-only until it is back under its limit"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table of a database."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {
        name: int(conn.execute(f"SELECT COUNT(*) FROM {_ident(name)}").fetchone()[0])
        for (name,) in rows.fetchall()
    }


def write_private_file(path: Path, chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` to a fresh file readable by its owner only (0600), synced to disk."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())


def checked_row_counts(path: Path) -> dict[str, int] | None:
    """Rows per table of the database file at ``path`` (None without one), after a quick check."""
    if not path.exists():
        return None
    with closing(sqlite3.connect(path)) as conn:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise ProviderError("the restored database file fails PRAGMA quick_check")
        return row_counts(conn)


def tables_of(conn: sqlite3.Connection) -> list[str]:
    """The tables of a database (not SQLite's own)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return [r[0] for r in rows]


def _triggers(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
        (len(TRIGGER_PREFIX), TRIGGER_PREFIX),
    )
    return {r[0] for r in rows}


def _trigger_names(table: str) -> dict[str, str]:
    return {event: f"{TRIGGER_PREFIX}{event.lower()}_{table}" for event in ("INSERT", "UPDATE")}


def set_quota_triggers(conn: sqlite3.Connection, tables: list[str], read_only: bool) -> None:
    """In one transaction: quota triggers on ``tables`` (read-only), or none of them."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in tables:
            for name in _trigger_names(table).values():
                conn.execute(f"DROP TRIGGER IF EXISTS {_ident(name)}")
        for table in tables if read_only else []:
            for event, name in _trigger_names(table).items():
                conn.execute(
                    f"CREATE TRIGGER {_ident(name)} BEFORE {event} ON {_ident(table)} "
                    f"BEGIN SELECT RAISE(ABORT, '{QUOTA_MESSAGE}'); END"
                )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise ProviderError(f"cannot change the quota triggers: {exc}") from exc


def has_quota_triggers(conn: sqlite3.Connection, tables: list[str]) -> bool:
    """Whether every one of ``tables`` carries the quota triggers."""
    expected = {n for t in tables for n in _trigger_names(t).values()}
    return bool(expected) and expected <= _triggers(conn)


class SQLiteData:
    """Data hooks of the SQLite driver."""

    if TYPE_CHECKING:
        root: Path
        archive_root: Path

        def path(self, spec: PluginSpec) -> Path: ...

        def archive_path(self, spec: PluginSpec) -> Path: ...

        def history_table_name(self, spec: PluginSpec) -> str: ...

        @staticmethod
        def _open(path: Path, spec: PluginSpec) -> sqlite3.Connection: ...

    snapshot_format: ClassVar[str | None] = "sqlite"

    def _live(self, spec: PluginSpec) -> sqlite3.Connection:
        path = self.path(spec)
        if not path.exists():
            raise ProviderError(f"{path} does not exist")
        return self._open(path, spec)

    def _current(self, spec: PluginSpec) -> sqlite3.Connection:
        """The live file, else the archived one (a purge snapshots archived storage)."""
        archived = self.archive_path(spec)
        if not self.path(spec).exists() and archived.exists():
            return self._open(archived, spec)
        return self._live(spec)

    def size_bytes(self, spec: PluginSpec) -> int:
        """Pages in use (free pages left by DELETE do not count) times the page size."""
        with closing(self._live(spec)) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """The online backup API into memory (a private temporary file above
        ``IN_MEMORY_MAX`` bytes), streamed into ``sink``."""
        try:
            with closing(self._current(spec)) as src:
                size = src.execute("PRAGMA page_count").fetchone()[0]
                size *= src.execute("PRAGMA page_size").fetchone()[0]
                if size <= IN_MEMORY_MAX:
                    with closing(sqlite3.connect(":memory:")) as dst:
                        src.backup(dst)  # one step: no sleep between page batches
                        counts, image = row_counts(dst), memoryview(dst.serialize())
                    for start in range(0, len(image), CHUNK):
                        sink.write(image[start : start + CHUNK])
                    return counts
                return self._dump_via_file(src, sink)
        except sqlite3.Error as exc:
            raise ProviderError(f"cannot copy {self.path(spec).name}: {exc}") from exc

    def _dump_via_file(self, src: sqlite3.Connection, sink: Sink) -> dict[str, int]:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".snapshot-") as folder:
            copy = Path(folder) / "copy.db"
            with closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)
                counts = row_counts(dst)
            with copy.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    sink.write(chunk)
        return counts

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Add (or drop) the quota triggers on every table, in one transaction (of the
        archived file where the plugin is archived)."""
        with closing(self._current(spec)) as conn:
            set_quota_triggers(conn, tables_of(conn), read_only)

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether every table carries the quota triggers."""
        with closing(self._live(spec)) as conn:
            return has_quota_triggers(conn, tables_of(conn))

    # -- restore to a snapshot ---------------------------------------------------------------

    def _side(self, spec: PluginSpec) -> Path:
        return self.root / f".{spec.plugin_id}.restore.db"

    def _swapping(self, spec: PluginSpec) -> Path:
        return self.root / f".{spec.plugin_id}.swapping.db"

    def replaced_path(self, spec: PluginSpec) -> Path:
        """Where the storage a restore replaced is kept."""
        return self.archive_root / f"{spec.plugin_id}.replaced.db"

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Write the snapshot's database file as the side file (0600)."""
        write_private_file(self._side(spec), chunks)

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side file (None without one)."""
        return checked_row_counts(self._side(spec))

    def swap_side(self, spec: PluginSpec) -> str | None:
        """Keep the live file as the replaced copy, then copy the side file into the live one
        with the backup API (one write transaction: every connection sees old or new)."""
        side, swapping = self._side(spec), self._swapping(spec)
        if side.exists():
            self.archive_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            replaced = self.replaced_path(spec)
            draft = replaced.with_name(f".{replaced.name}.part")
            with closing(self._live(spec)) as live, closing(sqlite3.connect(draft)) as copy:
                live.backup(copy)
            os.chmod(draft, 0o600)
            os.replace(draft, replaced)
            os.replace(side, swapping)  # from here on the replaced copy is never rewritten
        if not swapping.exists():
            return None
        with closing(sqlite3.connect(swapping)) as src, closing(self._live(spec)) as live:
            src.backup(live)
            # the copy holds the migration lease of the run that was going on when it was taken
            lock = f"{self.history_table_name(spec)}_lock"
            if live.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (lock,)).fetchone():
                live.execute(f"DELETE FROM {_ident(lock)}")
        swapping.unlink()
        return str(self.replaced_path(spec))

    def drop_side(self, spec: PluginSpec) -> None:
        """Remove the side file."""
        self._side(spec).unlink(missing_ok=True)

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Remove side, swapping and replaced files (purge)."""
        for path in (self._side(spec), self._swapping(spec), self.replaced_path(spec)):
            path.unlink(missing_ok=True)
