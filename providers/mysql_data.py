"""MySQL/MariaDB driver hooks on a plugin's data: table sizes, storage size, snapshots, quotas.

A mixin of :class:`providers.mysql.MySQLProvider`; it uses the provider's admin connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

import pymysql

from providers import tools
from providers.base import PluginSpec, Sink

_SIZES = (
    "SELECT TABLE_NAME, COALESCE(DATA_LENGTH + INDEX_LENGTH, 0) FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = %s"
)

_TABLESPACES = (
    "SELECT COALESCE(SUM(FILE_SIZE), 0) FROM information_schema.INNODB_SYS_TABLESPACES"
    " WHERE SUBSTRING_INDEX(NAME, '/', 1) = %s"
)
_OTHER_ENGINES = (
    "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = %s AND ENGINE <> 'InnoDB'"
)


class MySQLData:
    """Data hooks of the MySQL/MariaDB driver."""

    if TYPE_CHECKING:
        host: str
        port: int
        _admin_user: str
        _admin_password: str

        @staticmethod
        def hosts(cur: Any) -> list[str]: ...

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
        """Disk the plugin's database takes: InnoDB tablespace files (they grow at once, where
        table statistics lag), plus data and index lengths of tables of other engines."""
        with self._admin() as cur:
            try:
                cur.execute(_TABLESPACES, (self.database(spec),))
                files = int(cur.fetchone()[0])
            except pymysql.err.MySQLError:
                cur.execute(_TABLESPACES.replace("INNODB_SYS_", "INNODB_"), (self.database(spec),))
                files = int(cur.fetchone()[0])
            cur.execute(_OTHER_ENGINES, (self.database(spec),))
            return files + int(cur.fetchone()[0])

    # -- snapshots ---------------------------------------------------------------------------

    snapshot_format: ClassVar[str | None] = "mysql_sql"

    def _client_options(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self._admin_user,
            "password": _quoted(self._admin_password),
        }

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """``mariadb-dump --single-transaction`` of the plugin's database (no CREATE DATABASE).

        Rows are counted just before, in a consistent-snapshot transaction of their own.
        """
        counts = self.row_counts_of(self.database(spec))
        with tools.options_file("client", self._client_options()) as options:
            tools.stream_out(_dump_argv(options, self.database(spec)), {}, sink)
        return counts

    def copy_native(self, spec: PluginSpec, source: object) -> dict[str, int] | None:
        """From another MySQL server: ``mariadb-dump | mariadb`` into the emptied database."""
        from providers.mysql_sql import quote_ident

        if not isinstance(source, MySQLData) or type(source) is not type(self):
            return None
        database = self.database(spec)
        with self._admin() as cur:
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in self._tables(cur, database):
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(database)}.{quote_ident(table)}")
        with (
            tools.options_file("client", source._client_options()) as theirs,
            tools.options_file("client", self._client_options()) as ours,
        ):
            client = [tools.find("mariadb", "mysql"), f"--defaults-extra-file={ours}", database]
            tools.pipe(_dump_argv(theirs, database), client, {})
        return self.row_counts_of(database)

    def row_counts_of(self, database: str) -> dict[str, int]:
        """Rows per base table of ``database``."""
        from providers.mysql_sql import quote_ident

        with self._admin() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (database,),
            )
            counts = {}
            for (table,) in cur.fetchall():
                cur.execute(f"SELECT COUNT(*) FROM {quote_ident(database)}.{quote_ident(table)}")
                counts[str(table)] = int(cur.fetchone()[0])
            cur.execute("COMMIT")
        return counts

    # -- quotas ------------------------------------------------------------------------------

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Both logins keep SELECT only (or get every privilege back); their sessions end."""
        from providers.mysql_sql import _account, _exec, quote_ident

        db = quote_ident(self.database(spec))
        with self._admin() as cur:
            for host in self.hosts(cur):
                for user in self._users(spec):
                    account = _account(user, host)
                    if read_only:
                        _exec(cur, f"REVOKE ALL PRIVILEGES ON {db}.* FROM {account}")
                        _exec(cur, f"GRANT SELECT, SHOW VIEW ON {db}.* TO {account}")
                    else:
                        _exec(cur, f"GRANT ALL PRIVILEGES ON {db}.* TO {account}")
            _end_sessions(cur, self._users(spec))

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether the logins lack INSERT on their database."""
        with self._admin() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM mysql.db WHERE Db = %s AND User IN (%s, %s)"
                " AND Insert_priv = 'N'",
                (self.database(spec), *self._users(spec)),
            )
            return bool(cur.fetchone()[0])

    def set_timeouts(self, spec: PluginSpec) -> None:
        """MariaDB: ``MAX_STATEMENT_TIME`` per account (MySQL has no per-account limit)."""
        from providers.mysql_sql import _account, _exec

        with self._admin() as cur:
            cur.execute("SELECT VERSION()")
            if "mariadb" not in str(cur.fetchone()[0]).lower():
                raise NotImplementedError("MySQL has no per-account statement time limit")
            seconds = (spec.statement_timeout_ms or 0) / 1000
            for host in self.hosts(cur):
                for user in self._users(spec):
                    account = _account(user, host)
                    _exec(cur, f"ALTER USER IF EXISTS {account} WITH MAX_STATEMENT_TIME {seconds}")

    # -- restore to a snapshot ---------------------------------------------------------------

    def restore_databases(self, spec: PluginSpec) -> tuple[str, str]:
        """(side database, replaced database) of a restore.

        They start with ``plugin_<ns>`` (an admin granted ``plugin_%`` may create them) and are
        64 characters long: longer than any plugin's database (ids have at most 40).
        """
        return tuple(  # type: ignore[return-value]
            f"plugin_{spec.namespace}__{what}_".ljust(64, "x")[:64]
            for what in ("restore", "replaced")
        )

    def _tables(self, cur: Any, database: str) -> list[str]:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " ORDER BY TABLE_NAME",
            (database,),
        )
        return [str(r[0]) for r in cur.fetchall()]

    def _exists(self, cur: Any, database: str) -> bool:
        cur.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
        return cur.fetchone() is not None

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """Replay the dump into a fresh side database with the ``mariadb`` client."""
        from providers.mysql_sql import quote_ident

        side = self.restore_databases(spec)[0]
        with self._admin() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(side)}")
            cur.execute(f"CREATE DATABASE {quote_ident(side)} CHARACTER SET utf8mb4")
        with tools.options_file("client", self._client_options()) as options:
            client = tools.find("mariadb", "mysql")
            tools.stream_in([client, f"--defaults-extra-file={options}", side], {}, chunks)

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side database (None without one)."""
        side = self.restore_databases(spec)[0]
        with self._admin() as cur:
            if not self._exists(cur, side):
                return None
        return self.row_counts_of(side)

    def swap_side(self, spec: PluginSpec) -> str | None:
        """One RENAME TABLE (atomic) moves the live tables to the replaced database and the
        side tables in (triggers parked around it, see providers.mysql_triggers); the emptied
        side database is dropped; sessions end."""
        from providers.mysql_sql import quote_ident as q
        from providers.mysql_triggers import KEPT, park, unpark

        side, replaced = self.restore_databases(spec)
        live = self.database(spec)
        with self._admin() as cur:
            if not self._exists(cur, side):
                return None
            incoming = [t for t in self._tables(cur, side) if t != KEPT]
            if incoming:  # else: swapped already, only the side's parked triggers are left
                park(cur, side)
                park(cur, live)  # the replaced tables keep theirs parked
                cur.execute(f"DROP DATABASE IF EXISTS {q(replaced)}")
                cur.execute(f"CREATE DATABASE {q(replaced)} CHARACTER SET utf8mb4")
                moves = [
                    f"{q(live)}.{q(t)} TO {q(replaced)}.{q(t)}" for t in self._tables(cur, live)
                ]
                moves += [f"{q(side)}.{q(t)} TO {q(live)}.{q(t)}" for t in incoming]
                cur.execute("RENAME TABLE " + ", ".join(moves))
            unpark(cur, side, live)
            cur.execute(f"DROP DATABASE {q(side)}")
            _end_sessions(cur, self._users(spec))
        return replaced

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side database, if any."""
        from providers.mysql_sql import quote_ident

        with self._admin() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.restore_databases(spec)[0])}")

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop the side and replaced databases (purge)."""
        from providers.mysql_sql import quote_ident

        with self._admin() as cur:
            for database in self.restore_databases(spec):
                cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)}")


def _dump_argv(options: str, database: str) -> list[str]:
    """``mariadb-dump`` of one database, consistent, without CREATE DATABASE."""
    return [
        tools.find("mariadb-dump", "mysqldump"),
        f"--defaults-extra-file={options}",
        "--single-transaction",
        "--skip-lock-tables",
        "--routines",
        "--triggers",
        "--hex-blob",
        "--no-tablespaces",
        database,
    ]


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _end_sessions(cur: Any, users: Sequence[str]) -> None:
    cur.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN (%s, %s)", tuple(users)
    )
    for (thread_id,) in cur.fetchall():
        try:
            cur.execute("KILL CONNECTION %s", (int(thread_id),))
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != 1094:  # unknown thread: it ended on its own
                raise
