"""What differs between the SQL dialects the schema generator writes, as one table of traits.

The generator (``ddl``, ``plan``) asks a dialect's traits instead of comparing its name, so a
dialect is added by adding a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql


@dataclass(frozen=True)
class Traits:
    """The schema generator's facts about one SQLAlchemy dialect."""

    native_enums: bool
    """Enums are named types (created and altered on their own)."""
    enum_checks: bool
    """Enums are plain text with a CHECK per column."""
    rebuilds_tables: bool
    """Most ALTERs need a table rebuild (copy, drop, rename)."""
    datetime: Callable[[], sa.types.TypeEngine[Any]]
    json: Callable[[], sa.types.TypeEngine[Any]]
    now: Callable[[], Any]


TRAITS: dict[str, Traits] = {
    "sqlite": Traits(
        native_enums=False,
        enum_checks=True,
        rebuilds_tables=True,
        datetime=lambda: sa.DateTime(timezone=True),
        json=sa.JSON,
        now=sa.func.now,
    ),
    "postgresql": Traits(
        native_enums=True,
        enum_checks=False,
        rebuilds_tables=False,
        datetime=lambda: sa.DateTime(timezone=True),
        json=postgresql.JSONB,
        now=sa.func.now,
    ),
    "mysql": Traits(
        native_enums=False,
        enum_checks=False,
        rebuilds_tables=False,
        datetime=lambda: mysql.DATETIME(fsp=6),
        json=sa.JSON,
        now=lambda: sa.func.now(6),
    ),
}
DIALECTS = tuple(TRAITS)


def traits(dialect: str) -> Traits:
    """The traits of a canonical dialect name (see ``ddl.dialect_of``)."""
    return TRAITS[dialect]
