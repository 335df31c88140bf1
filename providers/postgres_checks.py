"""PostgreSQL hardening checks, run as the admin: what PUBLIC may do, how passwords are hashed.

Plugin logins are roles of the cluster, so whatever PUBLIC may do, every plugin may do.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from providers.checks import PASSWORD_ENCRYPTION, PUBLIC_PRIVILEGES, ServerIssue

CONNECT_TIMEOUT = 10
_PUBLIC_CREATE = (
    "SELECT has_schema_privilege('public', n.oid, 'CREATE'), r.rolname "
    "FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'public'"
)
_PUBLIC_CONNECT = "SELECT has_database_privilege('public', current_database(), 'CONNECT')"


def cluster_issues(cur: psycopg.Cursor[Any], dbname: str) -> list[ServerIssue]:
    """Password hashing of the cluster and PUBLIC's CREATE on ``public`` of the plugins database."""
    issues = []
    cur.execute("SELECT current_setting('password_encryption')")
    (method,) = cur.fetchone() or ("?",)
    if method != "scram-sha-256":
        issues.append(
            ServerIssue(
                PASSWORD_ENCRYPTION,
                "warning",
                f"password_encryption is {method!r}, not 'scram-sha-256': passwords set by "
                "clients (not plugin-db, which hashes with SCRAM itself) are stored as MD5, "
                "which PostgreSQL deprecates",
                "as a superuser: ALTER SYSTEM SET password_encryption = 'scram-sha-256'; "
                "SELECT pg_reload_conf(); (and RESET it where a role or database sets it), "
                "then set MD5-hashed passwords again",
            )
        )
    cur.execute(_PUBLIC_CREATE)
    row = cur.fetchone()
    if row is not None and row[0]:
        issues.append(
            ServerIssue(
                PUBLIC_PRIVILEGES,
                "error",
                f"PUBLIC can create in schema public of database {dbname!r}: every plugin "
                "login can put objects there, outside its own schema",
                f"as {row[1]!r} (the owner of public) in {dbname}: "
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            )
        )
    return issues


def tracking_issues(database_url: str) -> list[ServerIssue]:
    """PUBLIC's CONNECT on the tracking database (plugin logins could then log in to it)."""
    url = make_url(database_url)
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT,
    ) as conn:
        (public,) = conn.execute(_PUBLIC_CONNECT).fetchone() or (False,)
    if not public:
        return []
    return [
        ServerIssue(
            PUBLIC_PRIVILEGES,
            "warning",
            f"PUBLIC can connect to the tracking database {url.database!r}: every plugin "
            "login of this cluster can log in to it",
            f"as its owner: REVOKE CONNECT, TEMPORARY ON DATABASE {url.database} FROM PUBLIC; "
            f"GRANT CONNECT ON DATABASE {url.database} TO {url.username}",
        )
    ]
