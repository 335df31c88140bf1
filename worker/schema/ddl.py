"""SQLAlchemy Core metadata for schema documents; DDL is compiled from it, never hand-written.

* Every table's primary key is ``id``: ``VARCHAR(36)`` (or the declared String ``id``'s
  maxLength), a UUID the application (Prisma's ``@default(uuid())`` or the generated
  SQLAlchemy model) fills in, with no server default, so the same DDL works on SQLite,
  PostgreSQL and MySQL; a declared Int ``id`` is an auto-incremented INTEGER.
* Types: String → VARCHAR(maxLength or 255) (TEXT above 4000; a String foreign key to an ``id``
  without maxLength is VARCHAR(36)), Int → INTEGER, Float → DOUBLE, Boolean → BOOLEAN,
  DateTime → TIMESTAMP WITH TIME ZONE (DATETIME(6) on MySQL), Decimal → NUMERIC(38, 10),
  Json → JSONB on PostgreSQL, JSON elsewhere; an enum-typed field → a named ENUM type on
  PostgreSQL, an inline ENUM on MySQL, VARCHAR with a CHECK constraint on SQLite (named like
  the min/max checks, ``<table>_<field>_check``).
* ``required`` → NOT NULL; ``default`` → a server default; min/max and minLength/maxLength →
  one CHECK constraint per column (none on foreign key columns: MySQL forbids them there).
* OneToOne/OneToMany → a foreign key on ``sourceField`` (ON DELETE CASCADE when the field is
  required, SET NULL otherwise), indexed; OneToOne also makes it unique. ManyToMany → a join
  table with a composite primary key and two cascading foreign keys.
* Tables a foreign key targets outside the documents (core tables, other plugins) are added as
  stubs marked ``info={"external": True}``; ``creatable()`` leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

from worker.schema import names
from worker.schema.dialects import DIALECTS, traits
from worker.schema.model import (
    ExtensionDatabaseSchema,
    ExtensionField,
    ExtensionRelationship,
    ExtensionTable,
)
from worker.schema.rules import (
    DECIMAL_PRECISION,
    DECIMAL_SCALE,
    NOW,
    TEXT_THRESHOLD,
    string_length,
)

EXTERNAL = "external"


def to_metadata(
    doc: ExtensionDatabaseSchema, dialect_name: str, schema: str | None = None
) -> sa.MetaData:
    """Tables, enums, indexes and constraints of one validated document."""
    return metadata_for([doc], dialect_name, schema)


def metadata_for(
    docs: Iterable[ExtensionDatabaseSchema],
    dialect_name: str,
    schema: str | None = None,
    *,
    create_types: bool = True,
) -> sa.MetaData:
    """One MetaData holding every document's objects (foreign keys between them resolve).

    With ``create_types=False`` PostgreSQL enum types are left to the caller (``plan.py``).
    """
    dialect = dialect_of(dialect_name)
    md = sa.MetaData(schema=schema)
    docs = list(docs)
    for doc in docs:
        enums = {e.name: _enum_type(md, e.name, e.values, dialect, create_types) for e in doc.enums}
        for table in doc.tables:
            _add_table(md, doc, table, enums, dialect)
    for doc in docs:
        for rel in doc.relationships:
            _add_relationship(md, doc, rel)
    _add_stubs(md)
    return md


def creatable(md: sa.MetaData) -> list[sa.Table]:
    """The tables to create, in dependency order, without external stubs."""
    return [t for t in md.sorted_tables if not t.info.get(EXTERNAL)]


def dialect_of(name: str) -> str:
    """The canonical dialect name (``postgres`` → ``postgresql``, ``mariadb`` → ``mysql``)."""
    name = {"postgres": "postgresql", "mariadb": "mysql"}.get(name, name)
    if name not in DIALECTS:
        raise ValueError(f"unsupported dialect {name!r}; use one of {', '.join(DIALECTS)}")
    return name


def _enum_type(
    md: sa.MetaData, name: str, values: list[str], dialect: str, create_types: bool
) -> sa.Enum:
    if traits(dialect).enum_checks:  # the CHECK is added per column, named like the others
        return sa.Enum(*values, name=name, native_enum=False, create_constraint=False)
    if traits(dialect).native_enums and not create_types:
        return postgresql.ENUM(*values, name=name, schema=md.schema, create_type=False)
    return sa.Enum(*values, name=name, metadata=md, schema=md.schema)


def column_type(
    field: ExtensionField, enums: dict[str, sa.Enum], dialect: str, fk_to_id: bool = False
) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type of a field on ``dialect``."""
    if field.type in enums:
        return enums[field.type]
    if field.type == "String":
        declared = field.validation is not None and field.validation.max_length is not None
        length = names.ID_LENGTH if fk_to_id and not declared else string_length(field)
        return sa.Text() if length > TEXT_THRESHOLD else sa.String(length)
    if field.type == "DateTime":
        return traits(dialect).datetime()
    if field.type == "Json":
        return traits(dialect).json()
    simple: dict[str, sa.types.TypeEngine[Any]] = {
        "Int": sa.Integer(),
        "Float": sa.Double(),
        "Boolean": sa.Boolean(),
        "Decimal": sa.Numeric(DECIMAL_PRECISION, DECIMAL_SCALE),
    }
    return simple[field.type]


def id_column(table: ExtensionTable) -> sa.Column[Any]:
    """The primary key column: the declared ``id`` (Int auto-increments), else VARCHAR(36)."""
    declared = names.id_field(table)
    if declared is not None and declared.type == "Int":
        return sa.Column(names.ID_COLUMN, sa.Integer(), nullable=False, autoincrement=True)
    length = names.ID_LENGTH
    if declared is not None and declared.validation and declared.validation.max_length:
        length = declared.validation.max_length
    return sa.Column(names.ID_COLUMN, sa.String(length), nullable=False, autoincrement=False)


def server_default(field: ExtensionField, dialect: str) -> Any:
    """The server default of a field, as a SQLAlchemy construct (None when it has none)."""
    value = field.default
    if value is None:
        return None
    if field.type == "DateTime" and value == NOW:
        return traits(dialect).now()
    if field.type == "Boolean":
        return sa.true() if value else sa.false()
    if field.type == "Json":
        return json.dumps(value, sort_keys=True)
    if field.type in ("Int", "Float", "Decimal"):
        number = Decimal(str(value)) if field.type == "Decimal" else value
        return sa.literal(number, column_type(field, {}, dialect))
    return str(value)


def check_clause(field: ExtensionField) -> sa.ColumnElement[bool] | None:
    """The CHECK expression enforcing a field's min/max or minLength/maxLength rules."""
    rules = field.validation
    if rules is None:
        return None
    col: sa.ColumnElement[Any] = sa.column(field.name)
    bounds: tuple[float | None, float | None] = (rules.min, rules.max)
    if field.type == "String":
        col = sa.func.char_length(col)
        bounds = (rules.min_length or None, rules.max_length)
    elif field.type == "Int":
        bounds = tuple(None if b is None else int(b) for b in bounds)  # type: ignore[assignment]
    low, high = bounds
    parts = [] if low is None else [col >= sa.literal(low)]
    parts += [] if high is None else [col <= sa.literal(high)]
    return sa.and_(*parts) if parts else None


def _add_table(
    md: sa.MetaData,
    doc: ExtensionDatabaseSchema,
    table: ExtensionTable,
    enums: dict[str, sa.Enum],
    dialect: str,
) -> sa.Table:
    items: list[SchemaItem] = [
        id_column(table),
        sa.PrimaryKeyConstraint(names.ID_COLUMN, name=names.pk_name(table.name)),
    ]
    for field in table.fields:
        if field.name == names.ID_COLUMN:
            continue
        kind = column_type(field, enums, dialect, names.references_id(doc, table.name, field.name))
        default = server_default(field, dialect)
        items.append(
            sa.Column(field.name, kind, nullable=not field.required, server_default=default)
        )
        clause = None if names.is_fk(doc, table.name, field.name) else check_clause(field)
        if traits(dialect).enum_checks and field.type in enums:
            clause = sa.column(field.name).in_(enums[field.type].enums)
        if clause is not None:
            items.append(sa.CheckConstraint(clause, name=names.check_name(table.name, field.name)))
    for uc in table.unique_constraints:
        items.append(sa.UniqueConstraint(*uc.fields, name=names.unique_name(table.name, uc)))
    result = sa.Table(table.name, md, *items)
    for index in table.indexes:
        name = names.index_name(table.name, index)
        sa.Index(name, *(result.c[f] for f in index.fields), unique=index.unique)
    return result


def _add_relationship(
    md: sa.MetaData, doc: ExtensionDatabaseSchema, rel: ExtensionRelationship
) -> None:
    if rel.type == "ManyToMany":
        _add_join_table(md, doc, rel)
        return
    source_doc = doc.table(rel.source)
    assert source_doc is not None, "validate the document first"
    table = md.tables[_key(md, rel.source)]
    column = table.c[rel.source_field]
    table.append_constraint(
        sa.ForeignKeyConstraint(
            [column],
            [_ref(md, rel.target, rel.target_field)],
            name=names.fk_name(rel.source, rel.source_field),
            ondelete="SET NULL" if column.nullable else "CASCADE",
        )
    )
    extra = names.fk_extra(source_doc, rel)
    if extra is not None and extra[0] == "unique":
        table.append_constraint(sa.UniqueConstraint(column, name=extra[1]))
    elif extra is not None:
        sa.Index(extra[1], column)


def _add_join_table(
    md: sa.MetaData, doc: ExtensionDatabaseSchema, rel: ExtensionRelationship
) -> None:
    name = names.join_table(doc, rel)
    left, right = names.join_columns(doc, rel)
    sides = ((left, rel.source, rel.source_field), (right, rel.target, rel.target_field))
    columns = [
        sa.Column(col, _key_type(md, table, field), nullable=False) for col, table, field in sides
    ]
    fks = [
        sa.ForeignKeyConstraint(
            [col], [_ref(md, table, field)], name=names.fk_name(name, col), ondelete="CASCADE"
        )
        for col, table, field in sides
    ]
    join = sa.Table(
        name, md, *columns, sa.PrimaryKeyConstraint(left, right, name=names.pk_name(name)), *fks
    )
    sa.Index(names.fk_index_name(name, right), join.c[right])


def _key_type(md: sa.MetaData, table: str, field: str) -> sa.types.TypeEngine[Any]:
    found = md.tables.get(_key(md, table))
    if found is not None and field in found.c:
        return found.c[field].type
    return sa.String(names.ID_LENGTH)


def _key(md: sa.MetaData, table: str) -> str:
    return f"{md.schema}.{table}" if md.schema else table


def _ref(md: sa.MetaData, table: str, field: str) -> str:
    return f"{_key(md, table)}.{field}"


def _add_stubs(md: sa.MetaData) -> None:
    missing: dict[str, set[str]] = {}
    for table in list(md.tables.values()):
        for fk in table.foreign_keys:
            *path, column = fk.target_fullname.split(".")
            if ".".join(path) not in md.tables:
                missing.setdefault(path[-1], set()).add(column)
    for name, columns in sorted(missing.items()):
        cols = [
            sa.Column(c, sa.String(names.ID_LENGTH), primary_key=c == "id") for c in sorted(columns)
        ]
        sa.Table(name, md, *cols, info={EXTERNAL: True})
