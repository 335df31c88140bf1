"""PostgreSQL to PostgreSQL copies of a plugin's schema with the engine's own tools.

A mixin of :class:`providers.postgres.PostgresProvider` (relocation between two PostgreSQL
targets: :meth:`providers.bulk.BulkLoad.copy_native`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from psycopg import sql

from providers import tools
from providers.base import PluginSpec

if TYPE_CHECKING:
    from providers.pg_sql import Conn, Cur, PgServer


class PostgresCopy:
    """``pg_dump | pg_restore`` between two PostgreSQL servers."""

    if TYPE_CHECKING:
        dbname: str
        _server: PgServer | None

        def server(self, cur: Cur) -> PgServer: ...

        def _admin(self) -> AbstractContextManager[Conn]: ...

        def _ddl(self) -> AbstractContextManager[Cur]: ...

        def _tool_env(self) -> dict[str, str]: ...

    def copy_native(self, spec: PluginSpec, source: object) -> dict[str, int] | None:
        """From another PostgreSQL server: ``pg_dump -Fc --schema`` piped into ``pg_restore``
        (objects owned by the plugin's owner role, no ACLs) into a freshly emptied schema."""
        from providers.pg_data import _counts
        from providers.pg_sql import PgNames, _translated

        if not isinstance(source, PostgresCopy) or type(source) is not type(self):
            return None
        n, ident = PgNames.of(spec), sql.Identifier
        major = max(source.server_major(), self.server_major())
        with _translated("empty the destination"), self._ddl() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(ident(n.schema)))
            create = sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}")
            cur.execute(create.format(ident(n.schema), ident(n.owner)))
        dump = [tools.find_pg("pg_dump", major), "-Fc", "-Z0", f"--schema={n.schema}"]
        restore = [tools.find_pg("pg_restore", major), "--exit-on-error", "--no-owner"]
        restore += ["--no-acl", f"--role={n.owner}", f"--schema={n.schema}"]  # a re-run starts over
        tools.pipe(dump, [*restore, "-d", self.dbname], source._tool_env(), self._tool_env())
        with _translated("count rows"), self._admin() as conn, conn.cursor() as cur:
            return _counts(cur, n.schema)

    def server_major(self) -> int:
        """The server's major version (15, 18), read once per driver."""
        if self._server is None:
            with self._admin() as conn, conn.cursor() as cur:
                self.server(cur)
        assert self._server is not None
        return self._server.version_num // 10000
