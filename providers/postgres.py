"""``exclusive-postgres``: per plugin a schema, a NOLOGIN owner role and two login roles.

Admin connections are opened per call and closed at once. Each catalog-changing transaction
first takes ``pg_advisory_xact_lock(DDL_LOCK)``; advisory locks are per database, so this
serializes every worker sharing the admin URL's database. CONNECT/TEMPORARY on that database
are revoked from PUBLIC and CONNECT is granted to each plugin login. Passwords are hashed
client-side (SCRAM-SHA-256): no plain password reaches SQL text or the server log. Purge
cleans the admin URL's database only; other databases of the cluster are not scanned.

The admin may be a superuser or, as on managed services, a ``CREATEROLE CREATEDB`` role that
owns the plugins database but not schema ``public``. What differs between server versions is
decided once per provider in :class:`PgServer`, from ``server_version_num``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url

from providers import locks, orphans, postgres_checks
from providers.base import (
    SLOTS,
    Descriptor,
    Health,
    Login,
    Namespace,
    Orphan,
    PluginSpec,
    Provider,
    RuntimeConnection,
    StorageState,
)
from providers.checks import ServerIssue
from providers.errormap import ErrorMap
from providers.families import PostgresFamily
from providers.pg_admin import PgAdmin
from providers.pg_copy import PostgresCopy
from providers.pg_data import PostgresData
from providers.pg_sql import (
    _HEALTH,
    _PURGE_ROLES,
    _TERMINATE,
    ERRORS,
    TERMINATE_WAIT_MS,
    Conn,
    PgNames,
    PgServer,
    _ids,
    _one,
    _reason,
    _run,
    _translated,
)
from providers.targets import Target
from worker.errors import ProviderError, ProviderUnavailable
from worker.settings import Settings

__all__ = ["PgNames", "PgServer", "PostgresProvider"]


class PostgresProvider(PostgresFamily, PgAdmin, PostgresData, PostgresCopy, Provider):
    """One schema per plugin in a shared database; logins act as the schema's owner role."""

    name: ClassVar[str] = "postgresql"
    modes: ClassVar[frozenset[str]] = frozenset({"exclusive-postgres"})
    dialect: ClassVar[str] = "postgres"
    transactional_ddl: ClassVar[bool] = True
    issues_credentials: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "format"
    errors: ClassVar[ErrorMap] = ERRORS

    def __init__(self, admin_url: str) -> None:
        scheme, sep, rest = admin_url.partition("://")
        if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ProviderError("postgres_admin_url must be a postgresql:// URL")
        try:
            self._params = conninfo_to_dict(f"postgresql://{rest}")
        except psycopg.Error as exc:
            raise ProviderError("postgres_admin_url is not a valid PostgreSQL URL") from exc
        if not self._params.get("dbname"):
            raise ProviderError("postgres_admin_url must name the plugins database")
        self.host = str(self._params.get("host") or "localhost")
        self.port = str(self._params.get("port") or 5432)
        self.dbname = str(self._params["dbname"])
        self._secret = str(self._params.get("password") or "")
        self._server: PgServer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresProvider:
        """Administer the database named by ``PLUGIN_DB_POSTGRES_ADMIN_URL``."""
        if not settings.postgres_admin_url:
            raise ProviderError("set PLUGIN_DB_POSTGRES_ADMIN_URL to use the postgresql provider")
        return cls(settings.postgres_admin_url)

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> PostgresProvider:
        """Administer the database named by the target's ``admin_url``."""
        if not target.admin_url:
            raise ProviderError(
                f"target {target.name!r} needs an admin_url (PLUGIN_DB_POSTGRES_ADMIN_URL "
                "for the default target) to use the postgresql provider"
            )
        return cls(target.admin_url)

    def describe(self, spec: PluginSpec, slot: str = SLOTS[0]) -> Descriptor:
        """URL and object names with login ``slot`` active; never a password."""
        n, host = PgNames.of(spec), f"[{self.host}]" if ":" in self.host else self.host
        login = n.login(slot)
        objects = {"schema": n.schema, "owner_role": n.owner, "login_a": n.login_a}
        return Descriptor(
            provider=self.name,
            url=f"postgresql://{quote(login)}@{host}:{self.port}/{quote(self.dbname)}",
            username=login,
            objects={**objects, "login_b": n.login_b, "database": self.dbname},
            limits={"connections": spec.connections, "storage_mb": spec.storage_mb},
        )

    @classmethod
    def runtime_connection(
        cls, descriptor: Mapping[str, Any], password: str | None
    ) -> RuntimeConnection:
        """``postgresql://login:pass@host:port/db?schema=S`` (Prisma queries ``public`` else)."""
        base = super().runtime_connection(descriptor, password)
        schema = descriptor.get("objects", {}).get("schema")
        url = make_url(base.url).update_query_dict({"schema": schema} if schema else {})
        return replace(base, url=url.render_as_string(hide_password=False), schema=schema)

    def state(self, spec: PluginSpec) -> StorageState:
        """Active if the schema exists, archived if only its archive name does."""
        n = PgNames.of(spec)
        with _translated("state", self._secret), self._admin() as conn, conn.cursor() as cur:
            found = self._schemas(cur, n)
        if n.schema in found:
            return StorageState.ACTIVE
        return StorageState.ARCHIVED if n.archived in found else StorageState.ABSENT

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Create roles, schema and grants as needed and set slot ``a``'s password."""
        if not password:
            raise ProviderError("the postgresql provider needs a password for login slot 'a'")
        n = PgNames.of(spec)
        with _translated("provision", self._secret, password), self._ddl() as cur:
            found = self._schemas(cur, n)
            if n.archived in found and n.schema not in found:
                raise ProviderError(f"{spec.plugin_id!r} is archived; restore it instead")
            self._role(cur, n.owner, login=False, limit=-1)
            for login in n.logins:
                self._role(cur, login, login=True, limit=spec.connections or -1)
            self._adopt(cur, n)
            for login in n.logins:
                self._grant(cur, n.owner, login)
                self._settings(cur, login, n)
            if n.schema not in found:
                create = sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}")
                _run(cur, create.format(sql.Identifier(n.schema), sql.Identifier(n.owner)))
            self._access(cur, n)
            self._set_password(cur, n.login_a, password)
        return self.describe(spec, SLOTS[0])

    def rotate(self, spec: PluginSpec, slot: str, password: str) -> Descriptor:
        """Set the slot's password, then prove it with a fresh login as that role."""
        n = PgNames.of(spec)
        login = n.login(slot)
        with _translated(f"rotate {login}", self._secret, password), self._ddl() as cur:
            if _one(cur, "SELECT 1 FROM pg_roles WHERE rolname = %s", login) is None:
                raise ProviderError(f"{login!r} does not exist; provision the plugin first")
            self._set_password(cur, login, password)
            active = n.schema in self._schemas(cur, n)  # an archived plugin's logins stay off
            if active and self._existing(cur, [login], "NOT rolcanlogin"):  # retired earlier
                _run(cur, sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(login)))
        proof = self.connect(spec, Login(login, password))
        with _translated(f"prove {login}", password), proof:
            row = proof.execute("SELECT session_user").fetchone()
        if row is None or row[0] != login:
            raise ProviderError(f"logged in as {row!r}, expected {login!r}")
        return self.describe(spec, slot)

    def retire_login(self, spec: PluginSpec, slot: str) -> None:
        """NOLOGIN (committed first), then terminate the login's sessions."""
        login = PgNames.of(spec).login(slot)
        with _translated(f"retire {login}", self._secret):
            with self._ddl() as cur:
                for role in self._existing(cur, [login], "rolcanlogin"):
                    _run(cur, sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
            with self._admin() as conn, conn.cursor() as cur:
                _run(cur, sql.SQL(_TERMINATE), [TERMINATE_WAIT_MS, [login]])

    def login_sessions(self, spec: PluginSpec, slot: str) -> int:
        """Open sessions of the slot's login (``pg_stat_activity``)."""
        login = PgNames.of(spec).login(slot)
        with _translated("sessions", self._secret), self._admin() as conn, conn.cursor() as cur:
            count = _one(cur, "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", login)
        return int(count or 0)

    def archive(self, spec: PluginSpec) -> None:
        """Disable both logins, end their sessions and rename the schema to its archive name."""
        n = PgNames.of(spec)
        with _translated("archive", self._secret):
            self._disable_logins(n)
            with self._ddl() as cur:
                if n.schema in self._schemas(cur, n):
                    self._rename(cur, n.schema, n.archived)

    def restore(self, spec: PluginSpec) -> None:
        """Rename the archived schema back and allow both logins again."""
        n = PgNames.of(spec)
        with _translated("restore", self._secret), self._ddl() as cur:
            found = self._schemas(cur, n)
            if n.archived in found and n.schema not in found:
                self._rename(cur, n.archived, n.schema)
            for login in self._existing(cur, n.logins, "NOT rolcanlogin"):
                _run(cur, sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(login)))

    def purge(self, spec: PluginSpec) -> None:
        """Drop both schemas, what the roles own or were granted here, then the roles."""
        n = PgNames.of(spec)
        with _translated("purge", self._secret):
            self._disable_logins(n)
            with self._ddl() as cur:
                for schema in self._schemas(cur, n):
                    _run(cur, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                roles = self._existing(cur, n.roles)
                for stmt in _PURGE_ROLES if roles else ():
                    _run(cur, sql.SQL(stmt).format(_ids(roles)))

    def connect(self, spec: PluginSpec, login: Login | None) -> Conn:
        """Autocommit connection as one of the plugin's own logins (never as admin)."""
        if login is None or login.username not in PgNames.of(spec).logins:
            raise ProviderError(f"connect needs a login of plugin {spec.plugin_id!r}")
        with _translated(f"connect as {login.username}", login.password):
            return self._open(user=login.username, password=login.password)

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """A session-level advisory lock keyed by the plugin id."""
        return locks.advisory_lock(conn, spec.plugin_id, wait)

    def admin_url(self) -> URL:
        """The admin connection as a SQLAlchemy URL (scratch databases for verify)."""
        p = self._params
        user, password = p.get("user"), p.get("password")
        user, password = (str(v) if v is not None else None for v in (user, password))
        return URL.create(
            "postgresql+psycopg", user, password, self.host, int(self.port), self.dbname
        )

    def reflection_schema(self, spec: PluginSpec) -> str | None:
        """The plugin's schema."""
        return PgNames.of(spec).schema

    def find_orphans(self, tracked: Iterable[PluginSpec]) -> list[Orphan]:
        """Schemas named like a plugin's (with their roles) that no tracked plugin uses."""
        names: set[str] = set()
        for spec in tracked:
            n = PgNames.of(spec)
            names |= {n.schema, n.archived}
        with _translated("orphans", self._secret), self._admin() as conn, conn.cursor() as cur:
            return orphans.postgres_schemas(cur, names)

    def namespace(self, spec: PluginSpec) -> Namespace:
        """Migrations stay inside the plugin's schema."""
        return Namespace(containers=frozenset({PgNames.of(spec).schema}))

    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """Schema size and connection limit seen by the plugin; ok if it acts as its owner."""
        n = PgNames.of(spec)
        try:
            with self.connect(spec, login) as conn, conn.cursor() as cur:
                _run(cur, sql.SQL(_HEALTH), [n.schema, n.schema])
                size, limit, acting, exists = cur.fetchone() or (0, None, None, False)
        except (ProviderError, ProviderUnavailable, psycopg.Error) as exc:
            refused = isinstance(exc, ProviderError)  # authentication, not reachability
            return Health(ok=False, details={"error": _reason(exc), "login_refused": refused})
        quota = spec.storage_mb * 1024 * 1024 if spec.storage_mb else None
        within = quota is None or int(size) <= quota
        ok = bool(exists) and acting == n.owner and within
        details = {"schema": n.schema, "role": acting, "within_quota": within}
        return Health(ok=ok, size_bytes=int(size), connection_limit=limit, details=details)

    def server_issues(self) -> list[ServerIssue]:
        """Hardening of the cluster and the plugins database (see :mod:`postgres_checks`)."""
        with (
            _translated("server checks", self._secret),
            self._admin() as conn,
            conn.cursor() as cur,
        ):
            return postgres_checks.cluster_issues(cur, self.dbname)
