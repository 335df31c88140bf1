"""PostgreSQL driver hooks on a plugin's data: table sizes, storage size, snapshots, quotas.

A mixin of :class:`providers.postgres.PostgresProvider`; it uses the provider's admin
connection and names.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from psycopg import sql

from providers import tools
from providers.base import PluginSpec, Sink
from worker.naming import POSTGRES_IDENT_BYTES, bounded

if TYPE_CHECKING:
    from providers.postgres import Conn, Cur

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
        from providers.postgres import PgNames, _translated

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
        from providers.postgres import PgNames

        return bounded(f"{PgNames.of(spec).schema}_readonly", POSTGRES_IDENT_BYTES)

    def set_read_only(self, spec: PluginSpec, read_only: bool) -> None:
        """Logins switch from the owner role to a SELECT-only role; their sessions end."""
        from providers.postgres import PgNames, _translated

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
                if _role_exists(cur, other):
                    cur.execute(sql.SQL("REVOKE {} FROM {}").format(ident(other), ident(login)))
            if not read_only and _role_exists(cur, reader):
                cur.execute(sql.SQL("DROP OWNED BY {}").format(ident(reader)))
                cur.execute(sql.SQL("DROP ROLE {}").format(ident(reader)))
        with _translated("end sessions"), self._admin() as conn, conn.cursor() as cur:
            cur.execute(_TERMINATE, [list(n.logins)])

    def is_read_only(self, spec: PluginSpec) -> bool:
        """Whether the read-only role exists (the logins act as it)."""
        from providers.postgres import _translated

        with _translated("read-only state"), self._admin() as conn, conn.cursor() as cur:
            return _role_exists(cur, self._reader(spec))

    def set_timeouts(self, spec: PluginSpec) -> None:
        """``statement_timeout`` and ``idle_in_transaction_session_timeout`` role settings."""
        from providers.postgres import PgNames, _translated

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
_LIVE = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
_TABLES = (
    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = to_regnamespace(%s)::oid "
    "AND c.relkind IN ('r', 'p') ORDER BY c.relname"
)
_TERMINATE = (
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
    "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()"
)
