"""PostgreSQL driver internals: the admin connection and the role/grant helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from providers import postgres_checks
from providers.checks import ServerIssue
from providers.pg_sql import (
    _CAN_CONNECT,
    _CONFIG,
    _DB_ACCESS,
    _GRANTED_ON_PUBLIC,
    _HAS_ROLE,
    _PUBLIC_SCHEMA,
    _ROLE_STATE,
    _ROLES,
    _SCHEMAS,
    _TERMINATE,
    CONNECT_TIMEOUT,
    DDL_LOCK,
    TERMINATE_WAIT_MS,
    Conn,
    Cur,
    PgNames,
    PgServer,
    _ids,
    _one,
    _row,
    _run,
)
from worker.errors import ProviderError


class PgAdmin:
    """Admin-side helpers of :class:`~providers.postgres.PostgresProvider`."""

    _params: dict[str, Any]
    dbname: str
    _server: PgServer | None

    @classmethod
    def tracking_issues(cls, database_url: str) -> list[ServerIssue]:
        """The :class:`~providers.checks.TrackingChecks` hook: PUBLIC on a PostgreSQL
        tracking database (none for a tracking database elsewhere)."""
        backend = database_url.split(":", 1)[0].split("+", 1)[0]
        if backend not in ("postgresql", "postgres"):
            return []
        return postgres_checks.tracking_issues(database_url)

    def _open(self, **overrides: Any) -> Conn:
        """A new autocommit connection with the admin URL's parameters and ``overrides``."""
        params = {"connect_timeout": CONNECT_TIMEOUT, **self._params, **overrides}
        return psycopg.connect(autocommit=True, **params)

    @contextmanager
    def _admin(self) -> Iterator[Conn]:
        """A short-lived admin connection; never pooled."""
        options = f"{self._params.get('options', '')} -c lock_timeout=30s".strip()
        with self._open(options=options) as conn:
            yield conn

    @contextmanager
    def _ddl(self) -> Iterator[Cur]:
        """An admin transaction holding the DDL lock."""
        with self._admin() as conn, conn.transaction(), conn.cursor() as cur:
            _run(cur, sql.SQL("SELECT pg_advisory_xact_lock({})").format(DDL_LOCK))
            yield cur

    def _schemas(self, cur: Cur, n: PgNames) -> list[str]:
        """The plugin's active/archived schemas; refuses one that another role owns."""
        _run(cur, sql.SQL(_SCHEMAS), [[n.schema, n.archived]])
        rows = cur.fetchall()
        for schema, owner in rows:
            if owner != n.owner:
                raise ProviderError(f"schema {schema!r} is owned by {owner!r}, not {n.owner!r}")
        return [schema for schema, _ in rows]

    def _existing(self, cur: Cur, roles: Sequence[str], where: str = "true") -> list[str]:
        """Those of ``roles`` that exist and match ``where`` (literal SQL from this module)."""
        _run(cur, sql.SQL(_ROLES).format(sql.SQL(where)), [list(roles)])
        return [row[0] for row in cur.fetchall()]

    def _role(self, cur: Cur, role: str, *, login: bool, limit: int) -> None:
        """Create ``role`` or correct its login/inherit/limit; refuse a privileged one."""
        _run(cur, sql.SQL(_ROLE_STATE), [role])
        found = cur.fetchone()
        if found is not None and found[0]:
            raise ProviderError(f"role {role!r} exists with superuser or admin rights")
        attrs = sql.SQL("LOGIN NOINHERIT" if login else "NOLOGIN INHERIT")
        args = (sql.Identifier(role), attrs, sql.Literal(limit))
        if found is None:
            tail = " PASSWORD NULL" if login else ""
            _run(cur, sql.SQL("CREATE ROLE {} {} CONNECTION LIMIT {}" + tail).format(*args))
        elif tuple(found[1:]) != (login, not login, limit):
            _run(cur, sql.SQL("ALTER ROLE {} {} CONNECTION LIMIT {}").format(*args))

    def server(self, cur: Cur) -> PgServer:
        """The server's capabilities, read on first use."""
        if self._server is None:
            self._server = PgServer(int(_one(cur, "SELECT current_setting('server_version_num')")))
        return self._server

    def _grant(self, cur: Cur, role: str, member: str | None) -> None:
        """``GRANT role TO member`` (the admin itself when None) unless already granted.

        The admin needs the role's privileges (own, signal, reassign) and SET ROLE to it
        (``CREATE SCHEMA ... AUTHORIZATION``); a login needs SET ROLE only (it is NOINHERIT).
        """
        who = sql.Identifier(member) if member else sql.SQL("CURRENT_USER")
        grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), who)
        if not self.server(cur).membership_options:
            if not _one(cur, _HAS_ROLE, member, role, "MEMBER"):
                _run(cur, grant)
            return
        needed = ("SET",) if member else ("SET", "USAGE")
        if not all(_one(cur, _HAS_ROLE, member, role, kind) for kind in needed):
            inherit = sql.SQL(
                " WITH INHERIT FALSE, SET TRUE" if member else " WITH INHERIT TRUE, SET TRUE"
            )
            _run(cur, grant + inherit)

    def _adopt(self, cur: Cur, n: PgNames) -> None:
        """Admin joins the plugin roles: CREATEROLE admins need it to own, signal and drop."""
        for role in self._existing(cur, n.roles):
            self._grant(cur, role, None)

    def _settings(self, cur: Cur, login: str, n: PgNames) -> None:
        """Each session of ``login`` acts as the owner with the schema as search path."""
        have = set(_one(cur, _CONFIG, login) or ())
        for name, value in (("role", n.owner), ("search_path", n.schema)):
            if not have & {f"{name}={value}", f'{name}="{value}"'}:
                alter = sql.SQL("ALTER ROLE {} SET {} = {}")
                _run(cur, alter.format(*map(sql.Identifier, (login, name, value))))

    def _access(self, cur: Cur, n: PgNames) -> None:
        """Only granted logins connect; plugins never create in ``public``: checked, not assumed.

        PUBLIC's CONNECT/TEMPORARY on the database are revoked when the admin owns it (else
        ``doctor`` reports them). PUBLIC's CREATE on ``public`` is revoked when the admin owns
        the schema, and provisioning is refused when it cannot be.
        """
        db = sql.Identifier(self.dbname)
        owns_db, public_db, can_grant = _row(cur, _DB_ACCESS)
        if public_db and owns_db:
            _run(cur, sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db))
        for login in n.logins:
            if _one(cur, _CAN_CONNECT, login):
                continue
            if not can_grant:
                raise ProviderError(
                    f"the admin cannot grant CONNECT on database {self.dbname!r} to {login!r}: "
                    f"make the admin own the database, or GRANT CONNECT ON DATABASE "
                    f"{self.dbname} TO <admin> WITH GRANT OPTION"
                )
            _run(
                cur, sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(login))
            )
        public = _row(cur, _PUBLIC_SCHEMA, n.owner)
        if public is not None and public[0]:
            if not public[1]:
                raise ProviderError(
                    f"PUBLIC can create in schema public of database {self.dbname!r}, so plugins "
                    "would not be isolated, and the admin does not own it: run "
                    "`REVOKE CREATE ON SCHEMA public FROM PUBLIC` as its owner"
                )
            _run(cur, sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        direct = self._existing(cur, n.roles, _GRANTED_ON_PUBLIC)
        if direct:
            _run(cur, sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(_ids(direct)))

    def _set_password(self, cur: Cur, login: str, password: str) -> None:
        """Store a SCRAM verifier computed client-side; the log shows '***'."""
        pgconn = cur.connection.pgconn
        verifier = pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
        alter = sql.SQL("ALTER ROLE {} PASSWORD {}")
        shown = alter.format(sql.Identifier(login), "***").as_string(cur)
        _run(cur, alter.format(sql.Identifier(login), verifier.decode()), shown=shown)

    def _rename(self, cur: Cur, old: str, new: str) -> None:
        """Rename schema ``old`` to ``new``."""
        rename = sql.SQL("ALTER SCHEMA {} RENAME TO {}")
        _run(cur, rename.format(sql.Identifier(old), sql.Identifier(new)))

    def _disable_logins(self, n: PgNames) -> None:
        """NOLOGIN both logins (committed first), then terminate their sessions."""
        with self._ddl() as cur:
            self._adopt(cur, n)
            for login in self._existing(cur, n.logins, "rolcanlogin"):
                _run(cur, sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(login)))
        with self._admin() as conn, conn.cursor() as cur:
            _run(cur, sql.SQL(_TERMINATE), [TERMINATE_WAIT_MS, list(n.logins)])
