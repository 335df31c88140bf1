"""Shared mode on MySQL/MariaDB: snapshots of only the plugin's tables, restore, quotas.

* Snapshot: ``mariadb-dump --single-transaction DB table…`` of exactly the plugin's tables,
  rows counted just before in a consistent-snapshot transaction.
* Restore: the dump is replayed into a side database ``<db>__<ns>_side``; the swap is one
  ``RENAME TABLE`` (atomic) moving the plugin's tables to ``<db>__<ns>_replaced`` (kept) and
  the side tables in.
* Quotas: ``BEFORE INSERT`` and ``BEFORE UPDATE`` triggers on each of the plugin's tables
  SIGNAL "permission denied" (SQLSTATE 42000); SELECT and DELETE work. Tables created later
  are covered at the next enforcement.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from providers import tools
from providers.base import PluginSpec, Sink
from providers.shared_catalog import DB_ERRORS
from providers.shared_data import SharedData
from worker.naming import bounded

QUOTA_MESSAGE = (
    "permission denied: storage quota exceeded, the plugin is read-only until it is back "
    "under its limit"
)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SharedMySQLData(SharedData):
    """Data hooks of shared mode on MySQL/MariaDB."""

    snapshot_format: ClassVar[str | None] = "shared_mysql_sql"

    def _db(self) -> str:
        return str(self.url.database or "")

    def _names(self, spec: PluginSpec) -> tuple[str, str]:
        """(side, replaced) databases of the plugin."""
        return tuple(  # type: ignore[return-value]
            bounded(f"{self._db()}__{spec.namespace}_{what}", 64) for what in ("side", "replaced")
        )

    def _options(self) -> dict[str, object]:
        url = self.url
        options: dict[str, object] = {"host": url.host or "127.0.0.1", "port": url.port or 3306}
        options["user"] = url.username or ""
        options["password"] = _quoted(str(url.password or ""))
        return options

    def size_bytes(self, spec: PluginSpec) -> int:
        """InnoDB tablespace files of the plugin's tables (they grow at once, where table
        statistics lag), plus data and index lengths of its tables of other engines."""
        with self._session() as cur:
            tables = self._tables(cur, spec)
            if not tables:
                return 0
            marks = ", ".join("?" * len(tables))
            names = [f"{self._db()}/{t}" for t in tables]
            files = 0
            for view in ("INNODB_SYS_TABLESPACES", "INNODB_TABLESPACES"):
                sql = f"SELECT COALESCE(SUM(FILE_SIZE), 0) FROM information_schema.{view}"
                try:
                    files = int(self._run(cur, f"{sql} WHERE NAME IN ({marks})", *names)[0][0])
                    break
                except DB_ERRORS:
                    continue
            other = (
                "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema."
                f"TABLES WHERE TABLE_SCHEMA = ? AND ENGINE <> 'InnoDB' AND TABLE_NAME IN ({marks})"
            )
            return files + int(self._run(cur, other, self._db(), *tables)[0][0])

    def _tables(self, cur: Any, spec: PluginSpec) -> list[str]:
        objects = self._objects(cur)
        return [n for n in self._owned(cur, spec, objects) if objects[n] == "table"]

    def _count(self, cur: Any, database: str, tables: Sequence[str]) -> dict[str, int]:
        self._run(cur, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        counts = {
            t: int(self._run(cur, f"SELECT COUNT(*) FROM {self._q(database)}.{self._q(t)}")[0][0])
            for t in tables
        }
        self._run(cur, "COMMIT")
        return counts

    def _in(self, cur: Any, database: str) -> list[str]:
        sql = "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?"
        return sorted(str(r[0]) for r in self._run(cur, sql, database))

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """``mariadb-dump --single-transaction`` of the plugin's tables."""
        with self._session() as cur:
            tables = self._tables(cur, spec)
            counts = self._count(cur, self._db(), tables)
        if not tables:
            sink.write(b"-- no tables\n")
            return counts
        with tools.options_file("client", self._options()) as options:
            argv = [tools.find("mariadb-dump", "mysqldump"), f"--defaults-extra-file={options}"]
            argv += ["--single-transaction", "--skip-lock-tables", "--triggers"]
            argv += ["--hex-blob", "--no-tablespaces", self._db(), *tables]
            tools.stream_out(argv, {}, sink)
        return counts

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Replay the dump into a fresh side database with the ``mariadb`` client."""
        side = self._names(spec)[0]
        with self._session() as cur:
            self._run(cur, f"DROP DATABASE IF EXISTS {self._q(side)}")
            self._run(cur, f"CREATE DATABASE {self._q(side)} CHARACTER SET utf8mb4")
        with tools.options_file("client", self._options()) as options:
            client = tools.find("mariadb", "mysql")
            tools.stream_in([client, f"--defaults-extra-file={options}", side], {}, chunks)

    def _exists(self, cur: Any, database: str) -> bool:
        sql = "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
        return bool(self._run(cur, sql, database))

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side database (None without one)."""
        side = self._names(spec)[0]
        with self._session() as cur:
            if not self._exists(cur, side):
                return None
            return self._count(cur, side, self._in(cur, side))

    def swap_side(self, spec: PluginSpec) -> str | None:
        """One RENAME TABLE: the plugin's tables out to the replaced database, the side's in;
        their triggers are parked around it (providers.mysql_triggers)."""
        from providers.mysql_triggers import KEPT, park, unpark

        side, replaced = self._names(spec)
        q = self._q
        with self._session() as cur:
            if not self._exists(cur, side):
                return None
            incoming = [t for t in self._in(cur, side) if t != KEPT]
            if incoming:  # else: swapped already, only the side's parked triggers are left
                live, owned = self._db(), self._tables(cur, spec)
                if KEPT not in self._in(cur, side):  # first attempt: an empty replaced database
                    self._run(cur, f"DROP DATABASE IF EXISTS {q(replaced)}")
                    self._run(cur, f"CREATE DATABASE {q(replaced)} CHARACTER SET utf8mb4")
                park(cur, side)
                park(cur, live, into=replaced, tables=owned)
                moves = [f"{q(live)}.{q(t)} TO {q(replaced)}.{q(t)}" for t in owned]
                moves += [f"{q(side)}.{q(t)} TO {q(live)}.{q(t)}" for t in incoming]
                self._run(cur, "RENAME TABLE " + ", ".join(moves))
            unpark(cur, side, self._db())
            self._run(cur, f"DROP DATABASE {q(side)}")
        return replaced

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side database, if any."""
        with self._session() as cur:
            self._run(cur, f"DROP DATABASE IF EXISTS {self._q(self._names(spec)[0])}")

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop the side and replaced databases (purge)."""
        with self._session() as cur:
            for name in self._names(spec):
                self._run(cur, f"DROP DATABASE IF EXISTS {self._q(name)}")

    def _triggers(self, table: str) -> dict[str, str]:
        return {e: bounded(f"pdbq_{e.lower()}_{table}", 64) for e in ("INSERT", "UPDATE")}

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Quota triggers on (or off) each of the plugin's tables."""
        with self._session() as cur:
            self._quota_triggers(cur, spec, read_only)

    def _quota_triggers(self, cur: Any, spec: PluginSpec, read_only: bool) -> None:
        for table in self._tables(cur, spec):
            for event, name in self._triggers(table).items():
                self._run(cur, f"DROP TRIGGER IF EXISTS {self._q(name)}")
                if read_only:
                    self._run(
                        cur,
                        f"CREATE TRIGGER {self._q(name)} BEFORE {event} ON {self._q(table)} "
                        f"FOR EACH ROW SIGNAL SQLSTATE '42000' "
                        f"SET MESSAGE_TEXT = '{QUOTA_MESSAGE}'",
                    )

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether every table of the plugin carries the quota triggers."""
        with self._session() as cur:
            expected = {n for t in self._tables(cur, spec) for n in self._triggers(t).values()}
            sql = "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?"
            found = {str(r[0]) for r in self._run(cur, sql, self._db())}
        return bool(expected) and expected <= found
