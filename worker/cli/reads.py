"""The command line's tracking reads, on the database driver alone.

``plugin-db info/ops/op/audit`` answer in a fresh process, so what they import is most of what
they cost: these reads use the standard library's ``sqlite3`` (or ``psycopg`` for a PostgreSQL
tracking database) with a handful of fixed SELECTs, no SQLAlchemy, no models. Values come back
as the ORM would give them (JSON decoded, timestamps as datetimes). A query the database
cannot answer because it is behind the code raises :class:`TrackingOutOfDate`, which says to
run ``plugin-db db upgrade``; a command that writes checks the revision first
(:meth:`Reader.require_current`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from worker.errors import TrackingOutOfDate, TrackingUnavailable
from worker.ops.rows import JSON_COLUMNS, TIME_COLUMNS, decoded, prepared
from worker.tracking_head import HEAD

__all__ = ["JSON_COLUMNS", "TIME_COLUMNS", "Reader", "reader", "upgrade_hint"]

DS_COLUMNS = (
    "plugin_id, mode, provider, target, status, descriptor, rotated_at, archived_at, "
    "next_rotation_at, updated_at"
)
OP_COLUMNS = (
    "id, plugin_id, kind, state, current_step, steps, request_id, requested_by, attempts, "
    "crashes, error, result, created_at, finished_at"
)
AUDIT_COLUMNS = "id, timestamp, operation_id, event, actor, details"


class Reader:
    """One connection to the tracking database for one command's reads."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme, _, rest = url.partition("://")
        self.backend = scheme.split("+", 1)[0]
        if self.backend == "sqlite":
            import sqlite3

            path = unquote(rest[1:] if rest.startswith("/") else rest).split("?", 1)[0]
            self.conn: Any = sqlite3.connect(path or ":memory:", timeout=10)
            self.errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        elif self.backend in ("postgresql", "postgres"):
            import psycopg

            self.errors = (psycopg.Error,)
            try:
                self.conn = psycopg.connect(f"postgresql://{rest}", autocommit=True)
            except psycopg.Error as exc:
                raise TrackingUnavailable(f"tracking database unavailable: {_line(exc)}") from exc
        else:
            raise TrackingUnavailable(
                f"tracking database {scheme}:// is not supported (SQLite or PostgreSQL)"
            )

    def close(self) -> None:
        self.conn.close()

    def rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows of one SELECT (``?`` placeholders) as dicts of ORM-like values."""
        sql, args = prepared(sql, params, self.backend == "sqlite")
        try:
            cursor = self.conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            found = cursor.fetchall()
        except self.errors as exc:
            raise self.failure(exc) from exc
        return [{n: decoded(n, v) for n, v in zip(names, row, strict=True)} for row in found]

    def failure(self, exc: Exception) -> Exception:
        """Out of date (the usual reason a fixed SELECT fails), else unavailable."""
        current = self._revision()
        if current != HEAD:
            return TrackingOutOfDate(upgrade_hint(current, HEAD))
        return TrackingUnavailable(f"cannot read the tracking database: {_line(exc)}")

    def require_current(self) -> None:
        """Refuse, before any write, a tracking database that is behind (or ahead of) the code:
        its tables may still answer the reads while the rows written would not be the ones
        a worker of this version reads."""
        current = self._revision()
        if current != HEAD:
            raise TrackingOutOfDate(upgrade_hint(current, HEAD))

    def _revision(self) -> str | None:
        if self.backend != "sqlite":
            self.conn.rollback()
        try:
            row = self.conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except self.errors:
            return None
        return str(row[0]) if row else None

    def datasource(self, plugin_id: str) -> dict[str, Any] | None:
        """The plugin's ``plugin_datasources`` row."""
        found = self.rows(
            f"SELECT {DS_COLUMNS} FROM plugin_datasources WHERE plugin_id = ?", [plugin_id]
        )
        return found[0] if found else None

    def operations(self, plugin: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
        """Operations, newest first."""
        where, params = [], []
        if plugin:
            where.append("plugin_id = ?")
            params.append(plugin)
        if state:
            where.append("state = ?")
            params.append(state)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.rows(
            f"SELECT {OP_COLUMNS} FROM lifecycle_operations{clause} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )

    def operation(self, op_id: int) -> dict[str, Any] | None:
        """One operation."""
        found = self.rows(f"SELECT {OP_COLUMNS} FROM lifecycle_operations WHERE id = ?", [op_id])
        return found[0] if found else None

    def audit(self, plugin_id: str, limit: int) -> list[dict[str, Any]]:
        """The plugin's latest ``limit`` audit events, oldest first."""
        found = self.rows(
            f"SELECT {AUDIT_COLUMNS} FROM audit_events WHERE plugin_id = ? "
            "ORDER BY id DESC LIMIT ?",
            [plugin_id, limit],
        )
        return found[::-1]


def upgrade_hint(current: str | None, head: str | None) -> str:
    """The one line a command prints on a tracking database behind the code."""
    return (
        f"the tracking database is at revision {current or 'none'}, the code needs {head}; "
        "run `plugin-db db upgrade` (same PLUGIN_DB_DATABASE_URL) first"
    )


def _line(exc: Exception) -> str:
    """A driver's message on one line."""
    return " ".join(str(exc).split())


@contextmanager
def reader(url: str) -> Iterator[Reader]:
    """A :class:`Reader` on ``url``, closed afterwards."""
    found = Reader(url)
    try:
        yield found
    finally:
        found.close()
