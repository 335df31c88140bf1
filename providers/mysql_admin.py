"""MySQL/MariaDB driver internals: the admin connection, accounts and sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql

from providers.base import (
    PluginSpec,
)
from providers.mysql_sql import (
    _MARIADB_ACCOUNTS,
    _MYSQL_ACCOUNTS,
    _NO_SUCH_TABLE,
    _UNKNOWN_THREAD,
    ANONYMOUS_HOSTS,
    CONNECT_TIMEOUT,
    _account,
    _exec,
    _translated,
    connect,
)
from worker.errors import ProviderError


class MySQLAdmin:
    """Admin-side helpers of :class:`~providers.mysql.MySQLProvider`."""

    host: str
    port: int
    _admin_user: str
    _admin_password: str

    def _users(self, spec: PluginSpec) -> tuple[str, str]:
        raise NotImplementedError

    def user(self, spec: PluginSpec, slot: str) -> str:
        raise NotImplementedError

    def database(self, spec: PluginSpec) -> str:
        raise NotImplementedError

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
        return connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            charset="utf8mb4",
        )

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
