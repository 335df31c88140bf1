"""Orphan discovery of the built-in drivers: storage named by their naming rules, untracked.

SQLite: ``*.db`` files under ``<folder>/plugins`` (and its ``archive`` folder). PostgreSQL:
schemas owned by a NOLOGIN role named ``<schema>_owner`` (or ``<ns>-archived`` owned by
``<ns>_owner``). MySQL: databases ``plugin_<ns>``. Each driver's ``find_orphans`` calls one
of these with the names its tracked plugins use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from providers.types import Orphan
from worker.naming import POSTGRES_IDENT_BYTES, bounded

ADOPT = "or adopt it with `plugin-db provision <its plugin folder>` (reuses existing storage)"
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


def sqlite_files(root: Path, tracked: set[str]) -> list[Orphan]:
    """Plugin files under ``root`` (and ``root/archive``) whose stem no tracked plugin has."""
    found = []
    for folder, where in ((root, "plugin file"), (root / "archive", "archived plugin file")):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.db")):
            if path.stem not in tracked:
                found.append(
                    Orphan(
                        f"{where} {path} has no datasource (no plugin-db plugin owns it)",
                        f"rm -f {path} {path}-wal {path}-shm if nothing needs it, {ADOPT}",
                        path.stem,
                    )
                )
    return found


def postgres_schemas(cur: Any, tracked: set[str]) -> list[Orphan]:
    """Driver-named schemas (and their roles) that no tracked name is, via an admin cursor."""
    cur.execute(_PG_CANDIDATES)
    candidates = [(schema, owner) for schema, owner in cur.fetchall() if schema not in tracked]
    found = []
    for schema, owner in candidates:
        base = schema.removesuffix(ARCHIVED_SUFFIX)
        if owner != bounded(f"{base}_owner", POSTGRES_IDENT_BYTES):
            continue  # not named by the driver
        logins = [bounded(f"{base}_{slot}", POSTGRES_IDENT_BYTES) for slot in ("a", "b")]
        cur.execute(_PG_ROLES, [[owner, *logins]])
        roles = [row[0] for row in cur.fetchall()]
        quoted = ", ".join(f'"{r}"' for r in roles)
        found.append(
            Orphan(
                f"PostgreSQL schema {schema!r} (roles {', '.join(roles)}) has no datasource",
                f'as the admin: DROP SCHEMA "{schema}" CASCADE; DROP OWNED BY {quoted}; '
                f"DROP ROLE {quoted}; {ADOPT}",
            )
        )
    return found


def mysql_databases(cur: Any, tracked: set[str], user: Callable[[str, str], str]) -> list[Orphan]:
    """``plugin_*`` databases that no tracked name is; ``user(ns, slot)`` names the logins."""
    cur.execute(_MYSQL_CANDIDATES, ())
    found = []
    for (name,) in cur.fetchall():
        if name in tracked:
            continue
        ns = name.removeprefix("plugin_")
        users = ", ".join(f"`{user(ns, slot)}`@'%'" for slot in ("a", "b"))
        found.append(
            Orphan(
                f"MySQL database {name!r} has no datasource",
                f"as the admin: DROP DATABASE `{name}`; DROP USER IF EXISTS {users} (and "
                "the same logins at the hosts of anonymous accounts, if any); "
                f"{ADOPT}",
            )
        )
    return found
