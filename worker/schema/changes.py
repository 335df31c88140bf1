"""Classify Alembic operations as additive or destructive, counting the data they put at risk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.sql.functions import FunctionElement

from worker.schema import names
from worker.schema.ddl import creatable


@dataclass
class Change:
    """One planned change: its description, UP and DOWN items, and whether it loses data."""

    text: str
    up: list[Any]
    down: list[Any]
    destructive: bool = False


class Survey:
    """Row counts of the live database, remembered as data at risk when asked for."""

    def __init__(self, connection: sa.Connection, schema: str | None) -> None:
        self.connection, self.schema = connection, schema
        self.inspector = sa.inspect(connection)
        self.risk: dict[str, int] = {}

    def rows(self, table: str, column: str | None = None, *, null: bool = False) -> int:
        """Rows of ``table`` (with ``column`` NOT NULL, or NULL when ``null``)."""
        target = sa.table(table, *([sa.column(column)] if column else []), schema=self.schema)
        query = sa.select(sa.func.count()).select_from(target)
        if column is not None:
            col = target.c[column]
            query = query.where(col.is_(None) if null else col.is_not(None))
        return int(self.connection.execute(query).scalar_one())

    def at_risk(self, key: str, count: int) -> int:
        """Record ``count`` values at risk under ``key`` and return it."""
        self.risk[key] = count
        return count


def describe(op: Any, survey: Survey, problems: list[str]) -> Change:
    """The change an Alembic operation makes, with its reverse as DOWN."""
    up, down = [op], [op.reverse()]
    if isinstance(op, ops.CreateTableOp):
        return Change(f"create table {op.table_name}", up, down)
    if isinstance(op, ops.DropTableOp):
        count = survey.at_risk(op.table_name, survey.rows(op.table_name))
        return Change(f"drop table {op.table_name} ({count} rows)", up, down, True)
    if isinstance(op, ops.AddColumnOp):
        _check_addable(op, survey, problems)
        return Change(f"add column {op.table_name}.{op.column.name}", up, down)
    if isinstance(op, ops.DropColumnOp):
        key = f"{op.table_name}.{op.column_name}"
        count = survey.at_risk(key, survey.rows(op.table_name, op.column_name))
        return Change(f"drop column {key} ({count} values)", up, down, True)
    if isinstance(op, ops.AlterColumnOp):
        return _alter(op, survey, problems)
    return Change(_object_text(op), up, down)


def _check_addable(op: ops.AddColumnOp, survey: Survey, problems: list[str]) -> None:
    column = op.column
    if not column.nullable and column.server_default is None and survey.rows(op.table_name):
        problems.append(
            f"{op.table_name}.{column.name}: a required field without a default cannot be added "
            "to a table that has rows; give it a default or make it optional"
        )


def _alter(op: ops.AlterColumnOp, survey: Survey, problems: list[str]) -> Change:
    key = f"{op.table_name}.{op.column_name}"
    texts: list[str] = []
    destructive = False
    if op.modify_type is not None:
        old, new = op.existing_type, op.modify_type
        texts.append(f"change type of {key} from {_type_text(old)} to {_type_text(new)}")
        if not _widens(old, new):
            destructive = True
            count = survey.at_risk(key, survey.rows(op.table_name, op.column_name))
            texts[-1] += f" ({count} values)"
    if op.modify_nullable is True:
        texts.append(f"make {key} optional")
    elif op.modify_nullable is False:
        nulls = survey.rows(op.table_name, op.column_name, null=True)
        texts.append(f"make {key} required")
        if nulls:
            problems.append(f"{key}: {nulls} rows hold NULL; fill them before making it required")
    return Change("; ".join(texts) or f"alter column {key}", [op], [op.reverse()], destructive)


def _type_text(kind: Any) -> str:
    if isinstance(kind, sa.Enum):
        return f"ENUM({', '.join(kind.enums)})"
    return str(kind)


def _widens(old: Any, new: Any) -> bool:
    if isinstance(old, sa.Enum) and isinstance(new, sa.Enum):
        return set(old.enums) <= set(new.enums)
    if isinstance(old, sa.String) and isinstance(new, sa.String):
        if isinstance(new, sa.Text) or new.length is None:
            return True
        return old.length is not None and not isinstance(old, sa.Text) and new.length >= old.length
    return False


def _object_text(op: Any) -> str:
    verb = type(op).__name__.removesuffix("Op")
    name = getattr(op, "index_name", None) or getattr(op, "constraint_name", None) or ""
    table = getattr(op, "table_name", None) or ""
    return f"{verb} {name} on {table}".strip()


def in_place_on_sqlite(op: Any, table: sa.Table) -> bool:
    """Whether SQLite can apply ``op`` without rebuilding ``table``."""
    if isinstance(op, ops.CreateIndexOp | ops.DropIndexOp):
        return True
    if not isinstance(op, ops.AddColumnOp):
        return False
    column = op.column
    default = column.server_default
    constant = default is None or not isinstance(getattr(default, "arg", None), FunctionElement)
    checked = names.check_name(table.name, column.name) in {c.name for c in table.constraints}
    required_bare = not column.nullable and default is None
    return constant and not checked and not required_bare and not isinstance(column.type, sa.Enum)


def check_changes(
    md: sa.MetaData, inspector: sa.Inspector, schema: str | None
) -> tuple[list[Change], list[Change]]:
    """CHECK constraints to drop (before other changes) and to add (after), matched by name."""
    existing = set(inspector.get_table_names(schema=schema))
    drops: list[Change] = []
    adds: list[Change] = []
    for table in creatable(md):
        if table.name not in existing:
            continue
        expected = {
            c.name: c
            for c in table.constraints
            if isinstance(c, sa.CheckConstraint) and isinstance(c.name, str)
        }
        columns = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        ours = {names.check_name(table.name, c) for c in columns | set(table.c.keys())}
        present = {
            c["name"]: c["sqltext"]
            for c in inspector.get_check_constraints(table.name, schema=schema)
            if c["name"] in ours
        }
        for name in sorted(set(present) - set(expected)):
            drop = ops.DropConstraintOp(name, table.name, type_="check", schema=schema)
            restore = ops.CreateCheckConstraintOp(
                name, table.name, sa.text(present[name]), schema=schema
            )
            drops.append(Change(f"drop check {name}", [drop], [restore]))
        for name in sorted(set(expected) - set(present)):
            add = ops.CreateCheckConstraintOp.from_constraint(expected[name])
            remove = ops.DropConstraintOp(name, table.name, type_="check", schema=schema)
            adds.append(Change(f"add check {name}", [add], [remove]))
    return drops, adds
