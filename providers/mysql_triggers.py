"""Triggers across a ``RENAME TABLE`` between databases, which MySQL refuses for a table with
triggers ("Trigger in wrong schema"): they are parked first, as their CREATE statements in a
table of their database, and created again where the tables went.

Parking and creating again are idempotent, so a swap killed between them resumes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from providers.mysql_sql import quote_ident as q

KEPT = "pdb_parked_triggers"


def park(
    cur: Any, database: str, into: str | None = None, tables: Collection[str] | None = None
) -> None:
    """Keep the CREATE statement of every trigger of ``database`` (on ``tables``, default all)
    in table ``KEPT`` of ``into`` (default: the same database), then drop the triggers."""
    kept = f"{q(into or database)}.{q(KEPT)}"
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {kept} (name VARCHAR(64) PRIMARY KEY, body LONGTEXT NOT NULL)"
    )
    cur.execute(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = %s",
        (database,),
    )
    for name, table in cur.fetchall():
        if tables is not None and table not in tables:
            continue
        cur.execute(f"SHOW CREATE TRIGGER {q(database)}.{q(name)}")
        body = cur.fetchone()[2]
        cur.execute(f"REPLACE INTO {kept} VALUES (%s, %s)", (name, body))
        cur.execute(f"DROP TRIGGER IF EXISTS {q(database)}.{q(name)}")


def unpark(cur: Any, source: str, target: str) -> None:
    """Create in ``target`` the triggers parked in ``source`` (none if nothing was parked)."""
    cur.execute(
        "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (source, KEPT),
    )
    if cur.fetchone() is None:
        return
    cur.execute(f"SELECT name, body FROM {q(source)}.{q(KEPT)} ORDER BY name")
    parked = cur.fetchall()
    cur.execute(f"USE {q(target)}")
    for name, body in parked:
        cur.execute(f"DROP TRIGGER IF EXISTS {q(name)}")
        cur.execute(body)
