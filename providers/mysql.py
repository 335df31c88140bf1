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

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

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
from providers.errormap import ErrorMap
from providers.families import MySQLFamily
from providers.mysql_admin import MySQLAdmin
from providers.mysql_data import MySQLData
from providers.mysql_sql import (
    _SCHEMES,
    ANONYMOUS_HOSTS,
    ERRORS,
    _account,
    _exec,
    _translated,
    quote_ident,
)
from providers.targets import Target
from worker.errors import ProviderError, ProviderUnavailable
from worker.naming import MYSQL_IDENT_CHARS, MYSQL_USER_CHARS, bounded
from worker.settings import Settings

__all__ = ["MySQLProvider", "quote_ident"]


class MySQLProvider(MySQLFamily, MySQLAdmin, MySQLData, Provider):
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
