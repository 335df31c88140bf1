"""MySQL/MariaDB driver internals: identifiers, statement helpers, its error table."""

from __future__ import annotations

import re
import ssl
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pymysql
import pymysql.connections

from providers.errormap import PYMYSQL_RULES, ErrorMap, mysql_code
from worker.errors import ProviderError

if TYPE_CHECKING:
    from sqlalchemy import Engine

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


class _Connection(pymysql.connections.Connection):  # type: ignore[misc]
    """PyMySQL's connection, with TLS contexts built once per process and shared.

    Given no TLS option, PyMySQL prefers TLS (used if the server offers it, unverified) and
    builds a fresh default context for every connection, which loads the system's CA
    bundle: about 24 ms of CPU per connect on the machines measured, more than a migration
    file's DDL. Nothing changes a context once it is built, so one per option set serves
    every connection (certificate files given as options are read once per process).
    """

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        if isinstance(sslp, ssl.SSLContext):
            return sslp
        key = tuple(sorted(sslp.items()))
        if (found := _CONTEXTS.get(key)) is None:
            found = _CONTEXTS.setdefault(key, super()._create_ssl_ctx(sslp))
        return found


_CONTEXTS: dict[tuple[tuple[str, Any], ...], ssl.SSLContext] = {}
"""TLS option set → its context."""


def connect(*args: Any, **kwargs: Any) -> Any:
    """A PyMySQL connection (:func:`pymysql.connect`'s arguments), its TLS context shared."""
    return _Connection(*args, **kwargs)


def share_tls(engine: Engine) -> Engine:
    """``engine`` (``mysql+pymysql``), its connections made by :func:`connect`."""
    from sqlalchemy import event

    def make(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connect(*cargs, **cparams)

    event.listen(engine, "do_connect", make)
    return engine


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
