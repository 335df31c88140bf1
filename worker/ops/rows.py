"""The doctor's reads: fixed SELECTs on the tracking tables, through a plain DB-API connection.

A :class:`Rows` source runs one SELECT (``?`` placeholders) and hands back dicts whose values
are what the ORM would give (JSON decoded, timestamps as datetimes), so the checks work the
same on the command line's driver-only reader (``worker.cli.reads``, no SQLAlchemy) and on a
process that already holds sessions (:class:`SessionRows`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

JSON_COLUMNS = frozenset({"descriptor", "manifest", "steps", "result", "details", "request"})
TIME_COLUMNS = frozenset(
    {"rotated_at", "archived_at", "next_rotation_at", "updated_at", "created_at", "timestamp"}
    | {"finished_at", "lease_expires_at", "grace_until", "changed_at", "disabled_at"}
)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy stores a DateTime in SQLite (compared as text there)."""


class Rows(Protocol):
    """Runs one SELECT on the tracking database."""

    def rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows as dicts of ORM-like values."""


def decoded(name: str, value: Any) -> Any:
    """SQLite hands back JSON and timestamps as text; the ORM would decode both."""
    if isinstance(value, str):
        if name in JSON_COLUMNS:
            return json.loads(value)
        if name in TIME_COLUMNS:
            return datetime.fromisoformat(value)
    return value


def bound(value: Any, sqlite: bool) -> Any:
    """A parameter as the database compares it (SQLite: timestamps as SQLAlchemy's text)."""
    if sqlite and isinstance(value, datetime):
        return value.strftime(SQLITE_TIME)
    return value


def prepared(sql: str, params: Sequence[Any], sqlite: bool) -> tuple[str, tuple[Any, ...]]:
    """``sql`` in the driver's placeholder style, with its bound parameters."""
    return (sql if sqlite else sql.replace("?", "%s")), tuple(bound(p, sqlite) for p in params)


def objects(found: list[dict[str, Any]]) -> list[SimpleNamespace]:
    """Rows with attribute access, as the checks read ORM rows."""
    return [SimpleNamespace(**row) for row in found]


class SessionRows:
    """:class:`Rows` on an existing sessionmaker (the worker, the API, tests)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """One SELECT in its own session (SQLAlchemy binds each value as its dialect needs)."""
        from sqlalchemy import text

        marks = iter(range(len(params)))
        named = re.sub(r"\?", lambda _: f":p{next(marks)}", sql)
        with self.sessions() as session:
            result = session.execute(text(named), {f"p{i}": v for i, v in enumerate(params)})
            names = list(result.keys())
            return [{n: decoded(n, v) for n, v in zip(names, row, strict=True)} for row in result]
