"""The source's tables, reflected with SQLAlchemy and translated for the destination.

Types become their generic SQLAlchemy form and then whatever the destination driver makes of
them (:meth:`providers.bulk.BulkLoad.portable_type`). Primary keys, unique constraints,
indexes and foreign keys come across; portable defaults (literals, the current time) too;
engine-specific defaults (sequences, functions) do not: integer keys keep autoincrement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from providers.base import Provider

_LITERAL = re.compile(r"^\(?('([^']|'')*'|-?\d+(\.\d+)?)\)?(::[a-z ]+)?$", re.IGNORECASE)
_NOW = re.compile(r"^\(?(now\(\)|current_timestamp(\(\d*\))?)\)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Side:
    """One end of a copy: an engine as the plugin, where its tables are and which are its."""

    engine: sa.Engine
    schema: str | None
    prefix: str | None = None
    """Only tables whose names start with it (shared mode); None: every table."""


def reflect(side: Side) -> sa.MetaData:
    """The side's tables (only the plugin's own where the database is shared)."""
    meta = sa.MetaData(schema=side.schema)

    def own(name: str, _: Any) -> bool:
        return side.prefix is None or name.startswith(side.prefix)

    meta.reflect(bind=side.engine, schema=side.schema, only=own)
    return meta


_KEPT: tuple[tuple[type, Any], ...] = (
    (sa.JSON, lambda t: sa.JSON()),
    (sa.Boolean, lambda t: sa.Boolean()),
    (sa.DateTime, lambda t: sa.DateTime(timezone=bool(t.timezone))),
)


def generic(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type's generic SQLAlchemy form (JSON, Boolean and DateTime kept exactly)."""
    for kind, make in _KEPT:
        if isinstance(type_, kind):
            return make(type_)  # type: ignore[no-any-return]
    try:
        found = type_.as_generic()
    except NotImplementedError:
        return sa.Text()
    if isinstance(found, sa.Enum):
        return sa.String(max((len(v) for v in found.enums), default=1))
    if isinstance(found, sa.String):  # collations are the engine's own
        return type(found)(length=found.length) if found.length else sa.Text()
    return found


def _default(column: sa.Column[Any]) -> Any:
    text = getattr(column.server_default, "arg", None)
    raw = str(getattr(text, "text", text) or "").strip()
    if _NOW.match(raw):
        return sa.func.current_timestamp()
    if _LITERAL.match(raw):
        return sa.text(raw.split("::", 1)[0])
    return None


def translate(
    source: sa.MetaData,
    drivers: tuple[Provider, Provider],
    schema: str | None,
    rename: Mapping[str, str],
) -> sa.MetaData:
    """The source tables as the destination creates them (``rename``: old → new names).

    ``drivers``: (source, destination) drivers; the source's refines reflected types.
    """
    origin, dest = drivers
    meta = sa.MetaData(schema=schema)
    names = {t.name: rename.get(t.name, t.name) for t in source.sorted_tables}
    used: set[str] = set()
    for table in source.sorted_tables:
        keyed = _keyed(table)
        columns = []
        for col in table.columns:
            kind = generic(origin.reflected_type(table, col) or col.type)
            single_int = (
                col.primary_key
                and len(table.primary_key.columns) == 1
                and isinstance(kind, sa.Integer)
            )
            default = _default(col)
            columns.append(
                sa.Column(
                    col.name,
                    dest.portable_type(kind, key=col.name in keyed),
                    primary_key=col.primary_key,
                    nullable=col.nullable,
                    autoincrement=bool(single_int),
                    server_default=default if isinstance(default, sa.TextClause) else None,
                    default=None,
                )
            )
            if default is not None and not isinstance(default, sa.TextClause):
                columns[-1].server_default = sa.DefaultClause(default)
        new = sa.Table(names[table.name], meta, *columns)
        for fk in table.foreign_key_constraints:
            ref = fk.referred_table.name
            new.append_constraint(
                sa.ForeignKeyConstraint(
                    [c.name for c in fk.columns],
                    [f"{names.get(ref, ref)}.{e.column.name}" for e in fk.elements]
                    if schema is None
                    else [f"{schema}.{names.get(ref, ref)}.{e.column.name}" for e in fk.elements],
                    name=fk.name,
                    ondelete=fk.ondelete,
                    onupdate=fk.onupdate,
                )
            )
        for uq in table.constraints:
            if isinstance(uq, sa.UniqueConstraint) and not isinstance(uq, sa.PrimaryKeyConstraint):
                new.append_constraint(
                    sa.UniqueConstraint(*[c.name for c in uq.columns], name=uq.name)
                )
        for index in table.indexes:
            if all(isinstance(e, sa.Column) for e in index.expressions):
                name = _index_name(str(index.name), new.name, used)
                sa.Index(name, *[new.c[c.name] for c in index.columns], unique=index.unique)
    return meta


def _index_name(name: str, table: str, used: set[str]) -> str:
    """The index's name, prefixed by its table where another table's index has it already.

    MySQL names indexes per table (``user_id`` on several); PostgreSQL per schema.
    """
    if name in used:
        name = f"{table}_{name}"[:63]
    used.add(name)
    return name


def _keyed(table: sa.Table) -> set[str]:
    """Columns in a primary key, unique constraint, index or foreign key."""
    found = {c.name for c in table.primary_key.columns}
    for fk in table.foreign_key_constraints:
        found |= {c.name for c in fk.columns}
        found |= {e.column.name for e in fk.elements}
    for index in table.indexes:
        found |= {c.name for c in index.columns}
    for uq in table.constraints:
        if isinstance(uq, sa.UniqueConstraint):
            found |= {c.name for c in uq.columns}
    return found
