"""Orphans: storage named like a plugin's (by the providers' naming) that no datasource tracks.

SQLite: ``*.db`` files under ``<data dir>/plugins`` (and its ``archive`` folder). PostgreSQL:
schemas in the admin URL's database owned by a NOLOGIN role named ``<schema>_owner`` (or
``<ns>-archived`` owned by ``<ns>_owner``). MySQL: databases ``plugin_<ns>``. Whatever a
datasource in any status but ``deleted`` names is tracked; everything else is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from typing import Any

import psycopg
import pymysql
from sqlalchemy.engine import make_url

from providers.base import PluginSpec
from providers.mysql import MySQLProvider
from providers.postgres import PgNames
from worker.naming import POSTGRES_IDENT_BYTES, bounded
from worker.ops.findings import Check, Finding, error, warning
from worker.settings import Settings

CONNECT_TIMEOUT = 10
ARCHIVED_SUFFIX = "-archived"
_PG_CANDIDATES = (
    "SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
    "WHERE r.rolname LIKE '%\\_owner' AND r.rolname NOT LIKE 'pg\\_%' AND NOT r.rolcanlogin "
    "ORDER BY n.nspname"
)
_PG_ROLES = "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname"
_MYSQL_CANDIDATES = (
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
    "WHERE SCHEMA_NAME LIKE 'plugin\\_%%' ORDER BY SCHEMA_NAME"
)
ADOPT = "or adopt it with `plugin-db provision <its plugin folder>` (reuses existing storage)"


def sqlite_orphans(settings: Settings, tracked: set[str]) -> list[Finding]:
    """Plugin files with no datasource (``tracked``: ids of live sqlite datasources)."""
    root = settings.data_dir / "plugins"
    findings = []
    for folder, where in ((root, "plugin file"), (root / "archive", "archived plugin file")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.db")):
            if path.stem in tracked:
                continue
            findings.append(
                warning(
                    path.stem,
                    Check.ORPHAN_STORAGE,
                    f"{where} {path} has no datasource (no plugin-db plugin owns it)",
                    f"rm -f {path} {path}-wal {path}-shm if nothing needs it, {ADOPT}",
                )
            )
    return findings


def _pg_connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    rest = url.partition("://")[2]
    return psycopg.connect(f"postgresql://{rest}", autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def pg_orphans(settings: Settings, specs: Iterable[PluginSpec]) -> list[Finding]:
    """Provider-named schemas in the admin database that no live datasource names."""
    assert settings.postgres_admin_url
    tracked: set[str] = set()
    for spec in specs:
        names = PgNames.of(spec)
        tracked |= {names.schema, names.archived}
    with _pg_connect(settings.postgres_admin_url) as conn, conn.cursor() as cur:
        cur.execute(_PG_CANDIDATES)
        candidates = [(schema, owner) for schema, owner in cur.fetchall() if schema not in tracked]
        findings = []
        for schema, owner in candidates:
            base = schema.removesuffix(ARCHIVED_SUFFIX)
            if owner != bounded(f"{base}_owner", POSTGRES_IDENT_BYTES):
                continue  # not named by the provider
            logins = [bounded(f"{base}_{slot}", POSTGRES_IDENT_BYTES) for slot in ("a", "b")]
            cur.execute(_PG_ROLES, [[owner, *logins]])
            roles = [row[0] for row in cur.fetchall()]
            quoted = ", ".join(f'"{r}"' for r in roles)
            findings.append(
                warning(
                    None,
                    Check.ORPHAN_STORAGE,
                    f"PostgreSQL schema {schema!r} (roles {', '.join(roles)}) has no datasource",
                    f'as the admin: DROP SCHEMA "{schema}" CASCADE; DROP OWNED BY {quoted}; '
                    f"DROP ROLE {quoted}; {ADOPT}",
                )
            )
    return findings


def mysql_orphans(settings: Settings, specs: Iterable[PluginSpec]) -> list[Finding]:
    """``plugin_*`` databases that no live datasource names."""
    assert settings.mysql_admin_url
    provider = MySQLProvider.from_settings(settings)
    tracked = {provider.database(spec) for spec in specs}
    tracked |= {name for spec in specs for name in provider.restore_databases(spec)}
    url = make_url(settings.mysql_admin_url)
    conn = pymysql.connect(
        host=url.host or "localhost",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        connect_timeout=CONNECT_TIMEOUT,
    )
    with closing(conn), conn.cursor() as cur:
        cur.execute(_MYSQL_CANDIDATES, ())
        names = [row[0] for row in cur.fetchall()]
    findings = []
    for name in names:
        if name in tracked:
            continue
        ns = name.removeprefix("plugin_")
        users = ", ".join(f"`{ns}_{slot}`@'%'" for slot in ("a", "b"))
        findings.append(
            warning(
                None,
                Check.ORPHAN_STORAGE,
                f"MySQL database {name!r} has no datasource",
                f"as the admin: DROP DATABASE `{name}`; DROP USER IF EXISTS {users} (and "
                "the same logins at the hosts of anonymous accounts, if any); "
                f"{ADOPT}",
            )
        )
    return findings


def orphans(settings: Settings, live: dict[str, list[PluginSpec]]) -> list[Finding]:
    """Every orphan the configured providers can see; ``live`` maps provider → tracked specs."""
    scans: list[tuple[str, Callable[[], list[Finding]]]] = [
        ("sqlite", lambda: sqlite_orphans(settings, {s.plugin_id for s in live.get("sqlite", [])}))
    ]
    if settings.postgres_admin_url:
        scans.append(("postgresql", lambda: pg_orphans(settings, live.get("postgresql", []))))
    if settings.mysql_admin_url:
        scans.append(("mysql", lambda: mysql_orphans(settings, live.get("mysql", []))))
    findings: list[Finding] = []
    for name, scan in scans:
        try:
            findings += scan()
        except (OSError, psycopg.Error, pymysql.err.MySQLError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            findings.append(
                error(
                    None,
                    Check.PROVIDER,
                    f"cannot scan {name} for orphans: {reason}",
                    "check that the server is reachable with the admin URL in the settings",
                )
            )
    return findings
