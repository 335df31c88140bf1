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

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
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
from providers.errormap import PSYCOPG_RULES, ErrorMap, first_line
from providers.families import PostgresFamily
from providers.pg_data import PostgresData
from providers.targets import Target
from worker.errors import ProviderError, ProviderUnavailable
from worker.naming import POSTGRES_IDENT_BYTES, bounded
from worker.settings import Settings

log = logging.getLogger(__name__)

DDL_LOCK = 0x706C_7567_696E_4462  # "pluginDb"
CONNECT_TIMEOUT = 10
TERMINATE_WAIT_MS = 5000

Conn = psycopg.Connection[tuple[Any, ...]]
Cur = psycopg.Cursor[tuple[Any, ...]]
Query = sql.SQL | sql.Composed


@dataclass(frozen=True)
class PgServer:
    """What the server supports, read once from ``server_version_num``."""

    version_num: int

    @property
    def membership_options(self) -> bool:
        """16+: memberships carry INHERIT/SET/ADMIN; a CREATEROLE admin holds ADMIN only.

        There, the admin grants itself ``WITH INHERIT TRUE, SET TRUE`` on each plugin role
        (it may: its creator's ADMIN OPTION), and logins get ``WITH INHERIT FALSE, SET TRUE``.
        """
        return self.version_num >= 160000


@dataclass(frozen=True)
class PgNames:
    """Every object name of one plugin, each bounded to 63 bytes."""

    schema: str
    archived: str
    owner: str
    login_a: str
    login_b: str

    @classmethod
    def of(cls, spec: PluginSpec) -> PgNames:
        """Names derived from the plugin's schema (or namespace)."""
        ns = spec.schema or spec.namespace
        # '-' never occurs in a namespace, so no plugin's schema can take an archive name
        names = (ns, f"{ns}-archived", f"{ns}_owner", f"{ns}_a", f"{ns}_b")
        return cls(*(bounded(name, POSTGRES_IDENT_BYTES) for name in names))

    def login(self, slot: str) -> str:
        """The login role of ``slot``."""
        if slot not in SLOTS:
            raise ProviderError(f"unknown login slot {slot!r}; expected one of {SLOTS}")
        return self.login_a if slot == SLOTS[0] else self.login_b

    @property
    def logins(self) -> tuple[str, str]:
        """Both login roles."""
        return self.login_a, self.login_b

    @property
    def roles(self) -> tuple[str, str, str]:
        """The owner role and both logins."""
        return self.owner, self.login_a, self.login_b


def _reason(exc: BaseException, *secrets: str | None) -> str:
    """First line of a driver error with secrets masked (libpq omits them anyway)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    return text


ERRORS = ErrorMap(PSYCOPG_RULES, lambda exc, action: f"postgres: {action}: {first_line(exc)}")
"""psycopg errors → ProviderUnavailable (unreachable, busy) or ProviderError."""


def _translated(action: str, *secrets: str | None) -> AbstractContextManager[None]:
    """The driver's error boundary (:data:`ERRORS`)."""
    return ERRORS.translated(action, *secrets)


def _run(cur: Cur, stmt: Query, params: Sequence[object] = (), shown: str = "") -> None:
    """Execute ``stmt`` and log it (``shown`` stands in for a statement carrying a secret)."""
    log.debug("postgres admin: %s%s", shown or stmt.as_string(cur), f" {params}" if params else "")
    cur.execute(stmt, params or None)


def _one(cur: Cur, query: str, *params: object) -> Any:
    """First column of the first row of a catalog query, or None."""
    _run(cur, sql.SQL(query), params)
    row = cur.fetchone()
    return None if row is None else row[0]


def _row(cur: Cur, query: str, *params: object) -> Any:
    """The first row of a catalog query, or None."""
    _run(cur, sql.SQL(query), params)
    return cur.fetchone()


def _ids(names: Sequence[str]) -> sql.Composed:
    """A comma-separated list of quoted identifiers."""
    return sql.SQL(", ").join(map(sql.Identifier, names))


class PostgresProvider(PostgresFamily, PostgresData, Provider):
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

    # -- admin helpers -------------------------------------------------------------------

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


_SCHEMAS = (
    "SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
    "WHERE n.nspname = ANY(%s) ORDER BY n.nspname"
)
_ROLES = "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND {} ORDER BY rolname"
_ROLE_STATE = (
    "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication, "
    "rolcanlogin, rolinherit, rolconnlimit FROM pg_roles WHERE rolname = %s"
)
_HAS_ROLE = "SELECT pg_has_role(coalesce(%s::name, current_user), %s::name, %s)"
_CONFIG = "SELECT rolconfig FROM pg_roles WHERE rolname = %s"
_DB_ACCESS = (
    "SELECT pg_has_role(current_user, d.datdba, 'USAGE'), EXISTS (SELECT FROM "
    "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a WHERE a.grantee = 0), "
    "has_database_privilege(d.oid, 'CONNECT WITH GRANT OPTION') "
    "FROM pg_database d WHERE d.datname = current_database()"
)
_CAN_CONNECT = "SELECT has_database_privilege(%s::name, current_database()::text, 'CONNECT')"
_PUBLIC_SCHEMA = (
    "SELECT has_schema_privilege(%s::name, n.oid, 'CREATE'), "
    "pg_has_role(current_user, n.nspowner, 'USAGE') FROM pg_namespace n WHERE nspname = 'public'"
)
_GRANTED_ON_PUBLIC = (
    "oid IN (SELECT a.grantee FROM pg_namespace n, aclexplode(n.nspacl) a "
    "WHERE n.nspname = 'public')"
)
_TERMINATE = (
    "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity "
    "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()"
)
_PURGE_ROLES = (
    "REASSIGN OWNED BY {} TO CURRENT_USER",
    "DROP OWNED BY {}",
    "DROP ROLE IF EXISTS {}",
)
_HEALTH = (
    "SELECT (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "WHERE c.relnamespace = to_regnamespace(%s)::oid AND c.relkind IN ('r', 'm')), "
    "(SELECT rolconnlimit FROM pg_roles WHERE rolname = session_user), "
    "current_user, to_regnamespace(%s) IS NOT NULL"
)
