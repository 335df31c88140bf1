"""The one boundary where database driver errors become plugin-db errors.

Each driver declares a table of :class:`ErrorRule` rows (first match wins) and wraps its
backend calls in :meth:`ErrorMap.translated`, as httpx's ``map_exceptions`` does. The rows
for each client library are defined once here, so a code list never appears twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker.errors import PluginDbError, ProviderError, ProviderUnavailable

MYSQL_UNREACHABLE = frozenset({1040, 2002, 2003, 2006, 2013})
"""Too many connections, cannot connect, server gone, lost connection."""
PG_AUTH_FAILURES = ("authentication failed", "not permitted to log in", "does not exist")


def _always(exc: BaseException) -> bool:
    return True


@dataclass(frozen=True)
class ErrorRule:
    """``source`` errors for which ``when`` holds become ``target``."""

    source: type[BaseException] | tuple[type[BaseException], ...]
    target: type[PluginDbError]
    when: Callable[[BaseException], bool] = _always


def mysql_code(exc: BaseException) -> int | None:
    """The numeric MySQL error code of a PyMySQL error, if it has one."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _pg_auth(exc: BaseException) -> bool:
    text = str(exc)
    return getattr(exc, "sqlstate", None) is None and any(m in text for m in PG_AUTH_FAILURES)


def _pg_unreachable(exc: BaseException) -> bool:
    state = getattr(exc, "sqlstate", None)
    return state is None or str(state).startswith(("08", "57P"))


def _sqlite_unreachable(exc: BaseException) -> bool:
    return "unable to open" in str(exc) or "locked" in str(exc)


def _psycopg_rules() -> tuple[ErrorRule, ...]:
    import psycopg

    return (
        ErrorRule(psycopg.OperationalError, ProviderError, _pg_auth),
        ErrorRule(psycopg.OperationalError, ProviderUnavailable, _pg_unreachable),
        ErrorRule(psycopg.Error, ProviderError),
    )


def _pymysql_rules() -> tuple[ErrorRule, ...]:
    import pymysql

    return (
        ErrorRule(
            pymysql.err.MySQLError,
            ProviderUnavailable,
            lambda e: mysql_code(e) in MYSQL_UNREACHABLE,
        ),
        ErrorRule(pymysql.err.MySQLError, ProviderError),
    )


if TYPE_CHECKING:
    PSYCOPG_RULES: tuple[ErrorRule, ...]
    PYMYSQL_RULES: tuple[ErrorRule, ...]
_LAZY = {"PSYCOPG_RULES": _psycopg_rules, "PYMYSQL_RULES": _pymysql_rules}


def __getattr__(name: str) -> Any:
    """PSYCOPG_RULES / PYMYSQL_RULES, built (and their client library imported) on first use:
    a process that never talks to that server never imports its client."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    rules = _LAZY[name]()
    globals()[name] = rules
    return rules


SQLITE_RULES = (
    ErrorRule(sqlite3.OperationalError, ProviderUnavailable, _sqlite_unreachable),
    ErrorRule(sqlite3.Error, ProviderError),
)


def first_line(exc: BaseException) -> str:
    """First line of a driver error (its class name when it has no text)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dataclass(frozen=True)
class ErrorMap:
    """A driver's error table and how it words a translated error."""

    rules: tuple[ErrorRule, ...]
    describe: Callable[[BaseException, str], str] = lambda exc, action: (
        f"{action}: {first_line(exc)}"
    )

    @property
    def sources(self) -> tuple[type[BaseException], ...]:
        """Every error class the table translates."""
        found: list[type[BaseException]] = []
        for rule in self.rules:
            found += rule.source if isinstance(rule.source, tuple) else [rule.source]
        return tuple(found)

    def translate(self, exc: BaseException, action: str, *secrets: str | None) -> PluginDbError:
        """The plugin-db error for ``exc`` (message with ``secrets`` masked)."""
        message = self.describe(exc, action)
        for secret in secrets:
            message = message.replace(secret, "***") if secret else message
        for rule in self.rules:
            if isinstance(exc, rule.source) and rule.when(exc):
                return rule.target(message)
        return ProviderError(message)

    @contextmanager
    def translated(self, action: str = "", *secrets: str | None) -> Iterator[None]:
        """Re-raise the table's errors as plugin-db errors (``raise ... from exc``)."""
        try:
            yield
        except self.sources as exc:
            raise self.translate(exc, action, *secrets) from exc
