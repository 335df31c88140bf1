"""SQLite table rebuilds: SQLite cannot ALTER a column's type, nullability or constraints.

A rebuild follows SQLite's documented procedure: create the new table under a temporary name,
copy the common columns, drop the old table, rename the new one and create its indexes. It
must run with ``PRAGMA foreign_keys=OFF`` (SQLite's default): with foreign keys on, dropping the
old table would cascade into the tables referencing it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from worker.naming import bounded
from worker.schema.names import MAX_NAME_BYTES

TEMP_PREFIX = "_rebuild_"


def rebuild_steps(old: sa.Table, new: sa.Table) -> list[Any]:
    """Statements (DDL constructs and Alembic ops) turning table ``old`` into ``new``."""
    scratch = sa.MetaData(schema=new.schema)
    for table in (*old.metadata.tables.values(), *new.metadata.tables.values()):
        if table.key not in scratch.tables:
            table.to_metadata(scratch)
    temp = new.to_metadata(scratch, name=bounded(TEMP_PREFIX + new.name, MAX_NAME_BYTES))
    for index in list(temp.indexes):
        temp.indexes.discard(index)
    common = [c.name for c in new.columns if c.name in old.columns]
    copy = sa.insert(temp).from_select(common, sa.select(*(old.c[name] for name in common)))
    return [
        CreateTable(temp),
        copy,
        DropTable(old),
        ops.RenameTableOp(temp.name, new.name, schema=new.schema),
        *(CreateIndex(index) for index in sorted(new.indexes, key=lambda i: i.name or "")),
    ]


def check_texts(table: sa.Table, dialect: sa.Dialect) -> dict[str, str]:
    """Named CHECK constraints of ``table`` as SQL text, whitespace-normalized."""
    texts: dict[str, str] = {}
    for constraint in table.constraints:
        if isinstance(constraint, sa.CheckConstraint) and isinstance(constraint.name, str):
            compiled = constraint.sqltext.compile(
                dialect=dialect, compile_kwargs={"literal_binds": True, "include_table": False}
            )
            texts[constraint.name] = _normal(str(compiled))
    return texts


def reflected_checks(inspector: sa.Inspector, table: str, schema: str | None) -> dict[str, str]:
    """The table's named CHECK constraints as the database reports them."""
    found = inspector.get_check_constraints(table, schema=schema)
    return {str(c["name"]): _normal(c["sqltext"]) for c in found if c.get("name")}


def _normal(text: str) -> str:
    return " ".join(text.split())
