"""PostgreSQL enum types of a document: created, extended and dropped explicitly.

Alembic's autogenerate does not compare enum types, so ``plan.py`` asks this module. A value
appended at the end of an existing enum becomes ``ALTER TYPE … ADD VALUE`` (PostgreSQL cannot
remove one again, so DOWN leaves it in place, and values left after the declared ones are
tolerated); removing or reordering values is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, DropEnumType
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import ExecutableDDLElement
from sqlalchemy.sql.compiler import DDLCompiler

from worker.schema import names
from worker.schema.changes import Change
from worker.schema.model import ExtensionDatabaseSchema


class AddEnumValue(ExecutableDDLElement):
    """``ALTER TYPE <enum> ADD VALUE '<value>'`` (PostgreSQL only)."""

    def __init__(self, enum: postgresql.ENUM, value: str) -> None:
        self.enum, self.value = enum, value


@compiles(AddEnumValue, "postgresql")
def _add_enum_value(element: AddEnumValue, compiler: DDLCompiler, **kw: Any) -> str:
    type_name = compiler.preparer.format_type(element.enum)  # type: ignore[attr-defined]
    value = compiler.sql_compiler.render_literal_value(element.value, sa.String())
    return f"ALTER TYPE {type_name} ADD VALUE {value}"


def enum_changes(
    doc: ExtensionDatabaseSchema,
    connection: sa.Connection,
    schema: str | None,
    plugins: Iterable[str],
) -> tuple[list[Change], list[Change], list[str]]:
    """Changes to run first (create, extend), last (drop), and the refused ones."""
    plugins = list(plugins)
    inspector = sa.inspect(connection)
    existing = {
        e["name"]: list(e["labels"])
        for e in inspector.get_enums(schema=schema)  # type: ignore[attr-defined]
        if names.owner(e["name"], plugins) == doc.plugin_id
    }
    changes: list[Change] = []
    drops: list[Change] = []
    problems: list[str] = []
    for i, enum in enumerate(doc.enums):
        declared = _enum(enum.name, enum.values, schema)
        current = existing.pop(enum.name, None)
        if current is None:
            text = f"create enum type {enum.name}"
            changes.append(Change(text, [CreateEnumType(declared)], [DropEnumType(declared)]))
        elif enum.values[: len(current)] == current and len(enum.values) > len(current):
            added = enum.values[len(current) :]
            text = f"add values {', '.join(added)} to enum type {enum.name}"
            changes.append(Change(text, [AddEnumValue(declared, v) for v in added], []))
        elif current[: len(enum.values)] != enum.values:  # extra trailing values may stay
            problems.append(
                f"enums[{i}].values: PostgreSQL can only append values to the existing enum "
                f"{enum.name!r} (now {current}); add new values at the end or declare a new enum"
            )
    for name, labels in sorted(existing.items()):
        gone = _enum(name, labels, schema)
        text = f"drop enum type {name}"
        drops.append(Change(text, [DropEnumType(gone)], [CreateEnumType(gone)]))
    return changes, drops, problems


def _enum(name: str, values: list[str], schema: str | None) -> postgresql.ENUM:
    return postgresql.ENUM(*values, name=name, schema=schema, create_type=False)
