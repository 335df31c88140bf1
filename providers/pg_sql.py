"""PostgreSQL driver internals: object names, version facts, statement helpers, catalog SQL."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from providers.base import (
    SLOTS,
    PluginSpec,
)
from providers.errormap import PSYCOPG_RULES, ErrorMap, first_line
from worker.errors import ProviderError
from worker.naming import POSTGRES_IDENT_BYTES, bounded

log = logging.getLogger("providers.postgres")

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
