"""``exclusive-mysql``: one MySQL/MariaDB database per plugin, reached through two logins.

Slot ``a`` gets the provisioning password; slot ``b`` is created ``ACCOUNT LOCK`` with no
password and stays locked until its first rotation sets one, so it can never be used before
the engine has issued a credential for it. ``MAX_USER_CONNECTIONS`` applies per login.

Host rule: every login is created as ``'user'@'%'`` and, for each anonymous account
``''@'H'`` on the server (a default install has ``''@'localhost'``), also as ``'user'@'H'``
with the same password, limits and grants. MySQL matches the most specific host first, so
without the mirror a client arriving from H would be taken for the anonymous user and refused.
Provisioning and rotation end with a login proof; ``doctor`` reports anonymous accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

import pymysql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from providers import locks, orphans
from providers.base import (
    SLOTS,
    Descriptor,
    Health,
    Login,
    Namespace,
    Orphan,
    PluginSpec,
    Provider,
    StorageState,
)
from providers.checks import ANONYMOUS_ACCOUNTS, ServerIssue
from providers.errormap import PYMYSQL_RULES, ErrorMap, mysql_code
from providers.families import MySQLFamily
from providers.mysql_data import MySQLData
from providers.targets import Target
from worker.errors import ProviderError, ProviderUnavailable
from worker.naming import MYSQL_IDENT_CHARS, MYSQL_USER_CHARS, bounded
from worker.settings import Settings

CONNECT_TIMEOUT = 5
_IDENT = re.compile(r"^[a-z0-9_]+$")
_SCHEMES = frozenset({"mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"})
_NO_SUCH_TABLE = 1146
_UNKNOWN_THREAD = 1094
_MARIADB_ACCOUNTS = (
    "SELECT User, Host, COALESCE(JSON_VALUE(Priv, '$.account_locked'), '0') IN ('1', 'true'),"
    " COALESCE(JSON_VALUE(Priv, '$.authentication_string'), '') <> ''"
    " FROM mysql.global_priv WHERE User IN (%s, %s)"
)
_MYSQL_ACCOUNTS = (
    "SELECT User, Host, account_locked = 'Y', authentication_string <> ''"
    " FROM mysql.user WHERE User IN (%s, %s)"
)
ANONYMOUS_HOSTS = "SELECT Host FROM mysql.user WHERE User = '' ORDER BY Host"


def quote_ident(name: str) -> str:
    """Backtick-quote ``name``, refusing anything but ``[a-z0-9_]`` (a second line of defence)."""
    if not _IDENT.fullmatch(name):
        raise ProviderError(f"refusing unsafe MySQL identifier {name!r}")
    return f"`{name}`"


def _account(user: str, host: str = "%") -> str:
    """``'user'@'host'`` for statements run through :func:`_exec` (which always %-formats)."""
    quoted = pymysql.converters.escape_string(host).replace("%", "%%")
    return f"{quote_ident(user)}@'{quoted}'"


def _exec(cur: Any, sql: str, *params: object) -> None:
    """Execute with parameters always bound, so every literal ``%`` in ``sql`` is ``%%``."""
    cur.execute(sql, params)


def _describe(exc: BaseException, action: str) -> str:
    message = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
    return f"MySQL error {mysql_code(exc)}: {message}"


ERRORS = ErrorMap(PYMYSQL_RULES, _describe)
"""PyMySQL errors → ProviderUnavailable (server unreachable) or ProviderError."""


def _translated(*secrets: str | None) -> AbstractContextManager[None]:
    """The driver's error boundary (:data:`ERRORS`), masking ``secrets``."""
    return ERRORS.translated("", *secrets)


class MySQLProvider(MySQLFamily, MySQLData, Provider):
    """A database ``plugin_<ns>`` and logins ``<ns>_a``/``<ns>_b`` with rights on it alone."""

    name: ClassVar[str] = "mysql"
    modes: ClassVar[frozenset[str]] = frozenset({"exclusive-mysql"})
    dialect: ClassVar[str] = "mysql"
    transactional_ddl: ClassVar[bool] = False  # MySQL DDL commits implicitly
    issues_credentials: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "format"
    errors: ClassVar[ErrorMap] = ERRORS

    def __init__(self, admin_url: str) -> None:
        try:
            url = make_url(admin_url)
        except ArgumentError as exc:
            raise ProviderError("the MySQL admin URL cannot be parsed") from exc
        if url.drivername not in _SCHEMES:
            raise ProviderError(f"the MySQL admin URL must be mysql://, not {url.drivername}://")
        self.host = url.host or "localhost"
        self.port = url.port or 3306
        self._admin_user = url.username or "root"
        self._admin_password = url.password or ""

    @classmethod
    def from_settings(cls, settings: Settings) -> MySQLProvider:
        """Admin connection from ``PLUGIN_DB_MYSQL_ADMIN_URL``."""
        if not settings.mysql_admin_url:
            raise ProviderError(
                "exclusive-mysql needs PLUGIN_DB_MYSQL_ADMIN_URL "
                "(mysql://user:password@host:port/, a user with GRANT OPTION)"
            )
        return cls(settings.mysql_admin_url)

    @classmethod
    def from_target(cls, target: Target, settings: Settings) -> MySQLProvider:
        """Admin connection from the target's ``admin_url``."""
        if not target.admin_url:
            raise ProviderError(
                f"exclusive-mysql needs an admin_url for target {target.name!r} "
                "(PLUGIN_DB_MYSQL_ADMIN_URL for the default target: "
                "mysql://user:password@host:port/, a user with GRANT OPTION)"
            )
        return cls(target.admin_url)

    def database(self, spec: PluginSpec) -> str:
        """The plugin's database name."""
        return bounded(f"plugin_{spec.namespace}", MYSQL_IDENT_CHARS)

    def user(self, spec: PluginSpec, slot: str) -> str:
        """The login name of ``slot``."""
        if slot not in SLOTS:
            raise ProviderError(f"unknown login slot {slot!r}")
        return bounded(f"{spec.namespace}_{slot}", MYSQL_USER_CHARS)

    def _users(self, spec: PluginSpec) -> tuple[str, str]:
        return self.user(spec, SLOTS[0]), self.user(spec, SLOTS[1])

    def describe(self, spec: PluginSpec, slot: str = SLOTS[0]) -> Descriptor:
        """``mysql://<login>@host:port/<database>`` (no password)."""
        db, user = self.database(spec), self.user(spec, slot)
        user_a, user_b = self._users(spec)
        return Descriptor(
            provider=self.name,
            url=f"mysql://{user}@{self.host}:{self.port}/{db}",
            username=user,
            objects={"database": db, "login_a": user_a, "login_b": user_b},
            limits={"storage_mb": spec.storage_mb, "connections": spec.connections},
        )

    @contextmanager
    def _admin(self, *secrets: str | None) -> Iterator[Any]:
        """A cursor on a fresh autocommit admin connection; errors translated."""
        with _translated(self._admin_password, *secrets):
            conn = self._connect(self._admin_user, self._admin_password, None)
            try:
                with conn.cursor() as cur:
                    yield cur
            finally:
                conn.close()

    def _connect(self, user: str, password: str, database: str | None) -> Any:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            charset="utf8mb4",
        )

    def state(self, spec: PluginSpec) -> StorageState:
        """Absent without the database; archived when every existing login is locked."""
        with self._admin() as cur:
            cur.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (self.database(spec),),
            )
            if cur.fetchone() is None:
                return StorageState.ABSENT
            accounts = self._accounts(cur, spec)
        if accounts and all(locked for locked, _ in accounts.values()):
            return StorageState.ARCHIVED
        return StorageState.ACTIVE

    def _accounts(self, cur: Any, spec: PluginSpec) -> dict[tuple[str, str], tuple[bool, bool]]:
        """(login, host) → (locked, has a password) for every account of both logins."""
        try:
            cur.execute(_MARIADB_ACCOUNTS, self._users(spec))
        except pymysql.err.ProgrammingError as exc:
            if exc.args[0] != _NO_SUCH_TABLE:
                raise
            cur.execute(_MYSQL_ACCOUNTS, self._users(spec))
        return {(u, h): (bool(locked), bool(pw)) for u, h, locked, pw in cur.fetchall()}

    @staticmethod
    def hosts(cur: Any) -> list[str]:
        """Host patterns each login is created for: '%' and those of anonymous accounts."""
        cur.execute(ANONYMOUS_HOSTS)
        return ["%", *(host for (host,) in cur.fetchall() if host != "%")]

    def provision(self, spec: PluginSpec, password: str | None) -> Descriptor:
        """Create the database and both logins, set slot ``a``'s password, grant, limit, prove."""
        if not password:
            raise ProviderError("exclusive-mysql needs a password for login slot a")
        db = quote_ident(self.database(spec))
        limit = f"WITH MAX_USER_CONNECTIONS {int(spec.connections or 0)}"
        user_a, user_b = self._users(spec)
        with self._admin(password) as cur:
            _exec(cur, f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4")
            for host in self.hosts(cur):
                a, b = _account(user_a, host), _account(user_b, host)
                _exec(cur, f"CREATE USER IF NOT EXISTS {a} {limit} ACCOUNT LOCK")
                _exec(cur, f"CREATE USER IF NOT EXISTS {b} {limit} ACCOUNT LOCK")
                _exec(cur, f"ALTER USER {a} IDENTIFIED BY %s {limit} ACCOUNT UNLOCK", password)
                _exec(cur, f"ALTER USER {b} {limit}")
                _exec(cur, f"GRANT ALL PRIVILEGES ON {db}.* TO {a}, {b}")
        self._prove(spec, user_a, password, "provisioned")
        return self.describe(spec, SLOTS[0])

    def rotate(self, spec: PluginSpec, slot: str, password: str) -> Descriptor:
        """Set and unlock ``slot`` on every host, then prove it; the other slot is untouched."""
        user, db = self.user(spec, slot), quote_ident(self.database(spec))
        limit = f"WITH MAX_USER_CONNECTIONS {int(spec.connections or 0)}"
        with self._admin(password) as cur:
            for host in self.hosts(cur):
                account = _account(user, host)
                _exec(cur, f"CREATE USER IF NOT EXISTS {account} {limit} ACCOUNT LOCK")
                _exec(
                    cur, f"ALTER USER {account} IDENTIFIED BY %s {limit} ACCOUNT UNLOCK", password
                )
                _exec(cur, f"GRANT ALL PRIVILEGES ON {db}.* TO {account}")
        self._prove(spec, user, password, "rotated")
        return self.describe(spec, slot)

    def _prove(self, spec: PluginSpec, user: str, password: str, what: str) -> None:
        """Log in as ``user`` the way the plugin will; a refusal names the likely cause."""
        try:
            with _translated(password):
                conn = self._connect(user, password, self.database(spec))
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT CURRENT_USER()")
                        (current,) = cur.fetchone()
                finally:
                    conn.close()
        except ProviderError as exc:  # ProviderUnavailable propagates: retrying may work
            raise ProviderError(
                f"the {what} login {user!r} could not log in through {self.host}:{self.port} "
                f"({exc}); if an account such as ''@'localhost' shadows it, drop it "
                "(DROP USER ''@'localhost', as mariadb-secure-installation does)"
            ) from exc
        if str(current).rpartition("@")[0] != user:
            raise ProviderError(f"the {what} login proof logged in as {current!r}, not {user!r}")

    def _lock_and_kill(self, cur: Any, spec: PluginSpec) -> None:
        """Lock every account of both logins, then end their open sessions."""
        users = self._users(spec)
        for user, host in self._accounts(cur, spec):
            _exec(cur, f"ALTER USER IF EXISTS {_account(user, host)} ACCOUNT LOCK")
        self._kill(cur, users)

    def retire_login(self, spec: PluginSpec, slot: str) -> None:
        """ACCOUNT LOCK every account of the slot's login, then KILL its connections."""
        user = self.user(spec, slot)
        with self._admin() as cur:
            for login, host in self._accounts(cur, spec):
                if login == user:
                    _exec(cur, f"ALTER USER IF EXISTS {_account(login, host)} ACCOUNT LOCK")
            self._kill(cur, (user,))

    def login_sessions(self, spec: PluginSpec, slot: str) -> int:
        """Open connections of the slot's login (``information_schema.PROCESSLIST``)."""
        with self._admin() as cur:
            _exec(
                cur,
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                self.user(spec, slot),
            )
            (count,) = cur.fetchone()
        return int(count or 0)

    def _kill(self, cur: Any, users: tuple[str, ...]) -> None:
        """KILL every connection of ``users`` (one that ended meanwhile is fine)."""
        marks = ", ".join(["%s"] * len(users))
        _exec(cur, f"SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ({marks})", *users)
        for (thread_id,) in cur.fetchall():
            try:
                _exec(cur, "KILL CONNECTION %s", int(thread_id))
            except pymysql.err.OperationalError as exc:
                if exc.args[0] != _UNKNOWN_THREAD:  # it ended on its own
                    raise

    def archive(self, spec: PluginSpec) -> None:
        """Lock both logins and end their sessions; the data stays."""
        with self._admin() as cur:
            self._lock_and_kill(cur, spec)

    def restore(self, spec: PluginSpec) -> None:
        """Unlock the accounts that have a password (slot ``b`` stays locked until rotated)."""
        with self._admin() as cur:
            for (user, host), (locked, has_password) in self._accounts(cur, spec).items():
                if locked and has_password:
                    _exec(cur, f"ALTER USER {_account(user, host)} ACCOUNT UNLOCK")

    def purge(self, spec: PluginSpec) -> None:
        """End sessions, drop the database and every account of both logins."""
        with self._admin() as cur:
            self._lock_and_kill(cur, spec)
            _exec(cur, f"DROP DATABASE IF EXISTS {quote_ident(self.database(spec))}")
            accounts = [_account(user, host) for user, host in self._accounts(cur, spec)]
            if accounts:
                _exec(cur, f"DROP USER IF EXISTS {', '.join(accounts)}")

    def connect(self, spec: PluginSpec, login: Login | None) -> Any:
        """Autocommit PyMySQL connection as the plugin's login, to its database."""
        if login is None:
            raise ProviderError("exclusive-mysql connections need the plugin's login")
        with _translated(login.password):
            return self._connect(login.username, login.password, self.database(spec))

    def migration_lock(
        self, spec: PluginSpec, conn: Any, wait: float
    ) -> AbstractContextManager[locks.Lease]:
        """``GET_LOCK`` named after the plugin."""
        return locks.named_lock(conn, spec.plugin_id, wait)

    def admin_url(self) -> URL:
        """The admin connection as a SQLAlchemy URL (scratch databases for verify)."""
        user, password = self._admin_user, self._admin_password
        return URL.create("mysql+pymysql", user, password, self.host, self.port)

    def find_orphans(self, tracked: Iterable[PluginSpec]) -> list[Orphan]:
        """``plugin_*`` databases that no tracked plugin uses."""
        names = set()
        for spec in tracked:
            names |= {self.database(spec), *self.restore_databases(spec)}
        with self._admin() as cur:
            return orphans.mysql_databases(cur, names, lambda ns, slot: f"{ns}_{slot}")

    def namespace(self, spec: PluginSpec) -> Namespace:
        """Only the plugin's own database."""
        return Namespace(containers=frozenset({self.database(spec)}))

    def health(self, spec: PluginSpec, login: Login | None) -> Health:
        """Log in as the plugin; report data+index size and the per-login connection limit."""
        try:
            with self._admin() as cur:
                cur.execute(
                    "SELECT MAX(max_user_connections) FROM mysql.user"
                    " WHERE Host = '%%' AND User IN (%s, %s)",
                    self._users(spec),
                )
                (limit,) = cur.fetchone()
            try:
                conn = self.connect(spec, login)
            except ProviderError as exc:  # refused (ProviderUnavailable: unreachable)
                return Health(ok=False, details={"error": str(exc), "login_refused": True})
            try:
                with _translated(), conn.cursor() as cur:
                    cur.execute(
                        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0)"
                        " FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                    )
                    size = int(cur.fetchone()[0])
            finally:
                conn.close()
        except (ProviderError, ProviderUnavailable) as exc:
            return Health(ok=False, details={"error": str(exc)})
        over = spec.storage_mb is not None and size > spec.storage_mb * 1024 * 1024
        return Health(
            ok=not over,
            size_bytes=size,
            connection_limit=int(limit) if limit else None,
            details={"database": self.database(spec), "over_storage_quota": over},
        )

    def server_issues(self) -> list[ServerIssue]:
        """Anonymous accounts: they log anyone in and shadow named logins from their hosts."""
        with self._admin() as cur:
            cur.execute(ANONYMOUS_HOSTS)
            hosts = [host for (host,) in cur.fetchall()]
        if not hosts:
            return []
        accounts = ", ".join(f"''@'{host}'" for host in hosts)
        return [
            ServerIssue(
                ANONYMOUS_ACCOUNTS,
                "error",
                f"anonymous accounts {accounts} exist: anyone may log in through them, and a "
                "client from their hosts that logs in as 'user'@'%' is taken for them and "
                "refused (plugin-db creates its logins for those hosts too)",
                f"as the admin: DROP USER {accounts}; (as mariadb-secure-installation does)",
            )
        ]
