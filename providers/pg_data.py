"""PostgreSQL driver hooks on a plugin's data: table sizes, storage size, snapshots, quotas.

A mixin of :class:`providers.postgres.PostgresProvider`; it uses the provider's admin
connection and names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql

from providers import tools
from providers.base import PluginSpec, Sink
from worker.naming import POSTGRES_IDENT_BYTES, bounded

if TYPE_CHECKING:
    from providers.pg_sql import Conn, Cur

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
        _params: dict[str, Any]

        def _admin(self) -> AbstractContextManager[Conn]: ...

        def _ddl(self) -> AbstractContextManager[Cur]: ...

        def _open(self, **overrides: Any) -> Conn: ...

    def table_sizes(self, spec: PluginSpec, tables: Sequence[str]) -> dict[str, int]:
        """Total relation size (heap, indexes, TOAST) of each table of the plugin's schema."""
        from providers.pg_sql import PgNames, _translated

        with _translated("measure tables"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_TABLE_SIZES, [PgNames.of(spec).schema, list(tables)])
            return {str(name): int(size) for name, size in cur.fetchall()}

    def size_bytes(self, spec: PluginSpec) -> int:
        """Total relation size over the plugin's schema."""
        from providers.pg_sql import PgNames, _translated

        with _translated("measure schema"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_SCHEMA_SIZE, [PgNames.of(spec).schema])
            row = cur.fetchone()
        return int(row[0]) if row else 0

    # -- snapshots ---------------------------------------------------------------------------

    snapshot_format: ClassVar[str | None] = "pg_custom"

    def _tool_env(self) -> dict[str, str]:
        """libpq environment for the client programs (the password never reaches argv)."""
        names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD"}
        names |= {"dbname": "PGDATABASE", "sslmode": "PGSSLMODE", "options": "PGOPTIONS"}
        return {env: str(self._params[k]) for k, env in names.items() if self._params.get(k)}

    def dump(self, spec: PluginSpec, sink: Sink) -> dict[str, int]:
        """``pg_dump -Fc`` of the plugin's schema, uncompressed (the store compresses), run on
        a snapshot exported by a REPEATABLE READ transaction that also counts the rows."""
        from providers.pg_sql import PgNames, _translated

        n = PgNames.of(spec)
        with (
            _translated("dump schema"),
            self._admin() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute(_LIVE, [n.schema])
            schema = n.schema if cur.fetchone() else n.archived  # purge of archived storage
            cur.execute("SELECT pg_export_snapshot(), current_setting('server_version_num')")
            exported, version = cur.fetchone() or ("", "0")
            counts = _counts(cur, schema)
            program = tools.find_pg("pg_dump", int(version) // 10000)
            argv = [program, "-Fc", "-Z0", f"--schema={schema}", f"--snapshot={exported}"]
            tools.stream_out(argv, self._tool_env(), sink)
        return counts

    # -- quotas ------------------------------------------------------------------------------

    def _reader(self, spec: PluginSpec) -> str:
        from providers.pg_sql import PgNames

        return bounded(f"{PgNames.of(spec).schema}_readonly", POSTGRES_IDENT_BYTES)

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Logins switch from the owner role to a SELECT-only role; their sessions end."""
        from providers.pg_sql import PgNames, _translated

        n, reader = PgNames.of(spec), self._reader(spec)
        ident = sql.Identifier
        with _translated("set read-only"), self._ddl() as cur:
            if read_only:
                if not _role_exists(cur, reader):
                    cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident(reader)))
                for stmt in _READER_GRANTS:
                    cur.execute(sql.SQL(stmt).format(ident(n.schema), ident(reader)))
            acting, other = (reader, n.owner) if read_only else (n.owner, reader)
            for login in n.logins:
                cur.execute(sql.SQL("GRANT {} TO {}").format(ident(acting), ident(login)))
                alter = sql.SQL("ALTER ROLE {} SET role = {}")
                cur.execute(alter.format(ident(login), ident(acting)))
                # writes fail first with "cannot execute ... in a read-only transaction"
                tail = "SET {} = on" if read_only else "RESET {}"
                flag = ident("default_transaction_read_only")
                cur.execute(sql.SQL("ALTER ROLE {} " + tail).format(ident(login), flag))
                if _role_exists(cur, other):
                    cur.execute(sql.SQL("REVOKE {} FROM {}").format(ident(other), ident(login)))
            if not read_only and _role_exists(cur, reader):
                cur.execute(sql.SQL("DROP OWNED BY {}").format(ident(reader)))
                cur.execute(sql.SQL("DROP ROLE {}").format(ident(reader)))
        with _translated("end sessions"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_TERMINATE, [list(n.logins)])

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether the read-only role exists (the logins act as it)."""
        from providers.pg_sql import _translated

        with _translated("read-only state"), self._admin() as conn, conn.cursor() as cur:
            return _role_exists(cur, self._reader(spec))

    def set_timeouts(self, spec: PluginSpec) -> None:
        """``statement_timeout`` and ``idle_in_transaction_session_timeout`` role settings."""
        from providers.pg_sql import PgNames, _translated

        values = {
            "statement_timeout": spec.statement_timeout_ms,
            "idle_in_transaction_session_timeout": spec.idle_in_transaction_timeout_ms,
        }
        with _translated("set timeouts"), self._admin() as conn, conn.cursor() as cur:
            for login in PgNames.of(spec).logins:
                for name, value in values.items():
                    target = (sql.Identifier(login), sql.Identifier(name))
                    if value is None:
                        cur.execute(sql.SQL("ALTER ROLE {} RESET {}").format(*target))
                    else:
                        stmt = sql.SQL("ALTER ROLE {} SET {} = {}")
                        cur.execute(stmt.format(*target, sql.Literal(f"{int(value)}ms")))

    # -- restore to a snapshot ---------------------------------------------------------------

    def _restore_names(self, spec: PluginSpec) -> tuple[str, str, str]:
        """(side schema, replaced schema, hold schema) of the plugin."""
        from providers.pg_sql import PgNames

        schema = PgNames.of(spec).schema
        names = (f"{schema}-restore", f"{schema}-replaced", f"{schema}-hold")
        side, replaced, hold = (bounded(x, POSTGRES_IDENT_BYTES) for x in names)
        return side, replaced, hold

    def load_side(self, spec: PluginSpec, chunks: Iterator[bytes]) -> None:
        """One pass, one transaction, no scratch database (no CREATEDB needed):
        ``pg_restore -f - | psql -1``, where psql first renames the live schema aside, lets the
        script recreate it, renames the result to the side schema and the live one back. Others
        see only the commit: the live schema unchanged and a new side schema."""
        from providers.pg_sql import PgNames, _translated

        n, (side, _, hold) = PgNames.of(spec), self._restore_names(spec)
        self.drop_side(spec)
        with _translated("restore"), self._admin() as conn:
            major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]
        holds = _holds(n, hold)
        before = _renames(holds)
        after = _renames([(name, side) for name, _ in holds]) + _renames(
            [(held, name) for name, held in holds]
        )
        restore = [tools.find_pg("pg_restore", major), "--exit-on-error", "-f", "-"]
        psql = [tools.find_pg("psql", major), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1"]
        psql += ["-d", self.dbname, "-c", before, "-f", "-", "-c", after]
        tools.pipe_in(restore, psql, self._tool_env(), chunks)

    def side_row_counts(self, spec: PluginSpec) -> dict[str, int] | None:
        """Rows per table of the side schema (None without one)."""
        from providers.pg_sql import _translated

        side = self._restore_names(spec)[0]
        with _translated("count"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_LIVE, [side])
            return _counts(cur, side) if cur.fetchone() else None

    def swap_side(self, spec: PluginSpec) -> str | None:
        """In one transaction: the live schema becomes the replaced one, the side schema the
        live one; the logins' sessions end so none keeps a plan on the old tables."""
        from providers.pg_sql import PgNames, _translated

        n, (side, replaced, _) = PgNames.of(spec), self._restore_names(spec)
        ident, rename = sql.Identifier, sql.SQL("ALTER SCHEMA {} RENAME TO {}")
        with _translated("swap"), self._ddl() as cur:
            cur.execute(_LIVE, [side])
            if cur.fetchone() is None:
                return None
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident(replaced)))
            cur.execute(_LIVE, [n.schema])
            if cur.fetchone():
                cur.execute(rename.format(ident(n.schema), ident(replaced)))
            cur.execute(rename.format(ident(side), ident(n.schema)))
        with _translated("end sessions"), self._admin() as conn:
            conn.execute(_TERMINATE, [list(n.logins)])
        return replaced

    def drop_side(self, spec: PluginSpec) -> None:
        """Drop the side schema, if any."""
        from providers.pg_sql import _translated

        side = self._restore_names(spec)[0]
        with _translated("drop side"), self._admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(side)))

    def discard_restore_objects(self, spec: PluginSpec) -> None:
        """Drop side, replaced and read-only objects (purge)."""
        from providers.pg_sql import _translated

        self.drop_side(spec)
        replaced, reader = self._restore_names(spec)[1], self._reader(spec)
        with _translated("discard"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(replaced))
            )
            if _role_exists(cur, reader):
                cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(reader)))
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))


def _counts(cur: Cur, schema: str) -> dict[str, int]:
    cur.execute(_TABLES, [schema])
    counts = {}
    for (table,) in cur.fetchall():
        cur.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(*map(sql.Identifier, (schema, table)))
        )
        counts[str(table)] = int((cur.fetchone() or (0,))[0])
    return counts


def _role_exists(cur: Cur, role: str) -> bool:
    cur.execute("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", [role])
    row = cur.fetchone()
    return bool(row and row[0])


_READER_GRANTS = (
    "GRANT USAGE ON SCHEMA {} TO {}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}",
    "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}",
)
_RENAME_ALL = (
    "DO $$DECLARE r record; BEGIN FOR r IN SELECT v.a, v.b FROM (VALUES {pairs}) v(a, b) "
    "JOIN pg_namespace ON nspname = v.a LOOP "
    "EXECUTE format('ALTER SCHEMA %I RENAME TO %I', r.a, r.b); END LOOP; END $$;"
)
_LIVE = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
_TABLES = (
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s)::oid "
    "AND c.relkind IN ('r', 'p') ORDER BY c.relname"
)
_TERMINATE = (
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
    "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()"
)


def _lit(value: str) -> str:
    """A SQL string literal (the names are the driver's own identifiers)."""
    return "'" + value.replace("'", "''") + "'"


def _renames(pairs: Sequence[tuple[str, str]]) -> str:
    """A DO block renaming each existing schema ``a`` of ``pairs`` to ``b``."""
    return _RENAME_ALL.format(pairs=", ".join(f"({_lit(a)}, {_lit(b)})" for a, b in pairs))


def _holds(n: Any, hold: str) -> list[tuple[str, str]]:
    """(name, hold name) of the live and the archived schema (a snapshot may hold either)."""
    return [(n.schema, hold), (n.archived, bounded(f"{hold}a", POSTGRES_IDENT_BYTES))]
