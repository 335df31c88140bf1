"""Every object name a schema document produces, derived deterministically from the document.

A plugin's *namespace* is its id with '-' as '_' (``worker.naming.namespace``); its *prefix*
is the namespace plus '_'. Tables and enums are stored under their full name, which starts
with the prefix (``authoring.py`` composes it when the author leaves it out). Names the worker
derives (indexes, constraints, join tables) start with a table name and are bounded to 63 bytes
with a stable hash suffix (``worker.naming.bounded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from worker.naming import bounded, namespace
from worker.schema.model import (
    ExtensionDatabaseSchema,
    ExtensionField,
    ExtensionIndex,
    ExtensionRelationship,
    ExtensionTable,
    ExtensionUniqueConstraint,
)

MAX_NAME_BYTES = 63
ID_COLUMN = "id"
ID_LENGTH = 36


def prefix(plugin_id: str) -> str:
    """The prefix of every table and enum of ``plugin_id`` (``my-plugin`` → ``my_plugin_``)."""
    return namespace(plugin_id) + "_"


def owner(name: str, plugin_ids: Iterable[str]) -> str | None:
    """The plugin whose prefix is the longest one ``name`` starts with, if any."""
    matches = [p for p in plugin_ids if name.startswith(prefix(p))]
    return max(matches, key=lambda p: len(prefix(p)), default=None)


def pascal(name: str) -> str:
    """Injective snake_case → PascalCase; a part that is empty or starts with a digit keeps '_'."""
    parts = name.split("_")
    out = [parts[0][:1].upper() + parts[0][1:]]
    for part in parts[1:]:
        out.append("_" + part if not part or part[0].isdigit() else part[0].upper() + part[1:])
    return "".join(out)


def camel(name: str) -> str:
    """Injective snake_case → camelCase (``work_order_id`` → ``workOrderId``)."""
    result = pascal(name)
    return result[0].lower() + result[1:]


def id_field(table: ExtensionTable) -> ExtensionField | None:
    """The declared ``id`` field, if any (else the platform adds a UUID string ``id``)."""
    return next((f for f in table.fields if f.name == ID_COLUMN), None)


def id_type(table: ExtensionTable) -> str:
    """The type of the table's primary key: the declared ``id``'s, else ``String``."""
    declared = id_field(table)
    return declared.type if declared is not None else "String"


def _derived(*parts: str) -> str:
    return bounded("_".join(parts), MAX_NAME_BYTES)


def pk_name(table: str) -> str:
    """Primary key constraint name."""
    return _derived(table, "pkey")


def index_name(table: str, index: ExtensionIndex) -> str:
    """Declared name, else ``<table>_<fields>_idx`` (``_key`` when unique)."""
    return index.name or _derived(table, *index.fields, "key" if index.unique else "idx")


def unique_name(table: str, constraint: ExtensionUniqueConstraint) -> str:
    """Declared name, else ``<table>_<fields>_key``."""
    return constraint.name or _derived(table, *constraint.fields, "key")


def check_name(table: str, column: str) -> str:
    """Name of the CHECK constraint holding a column's validation rules."""
    return _derived(table, column, "check")


def fk_name(table: str, column: str) -> str:
    """Foreign key constraint name."""
    return _derived(table, column, "fkey")


def fk_index_name(table: str, column: str) -> str:
    """Index created on a foreign key column."""
    return _derived(table, column, "idx")


def one_to_one_name(table: str, column: str) -> str:
    """Unique constraint enforcing a OneToOne relationship."""
    return _derived(table, column, "key")


def _local(name: str, plugin_id: str) -> str:
    return name.removeprefix(prefix(plugin_id))


def join_table(doc: ExtensionDatabaseSchema, rel: ExtensionRelationship) -> str:
    """ManyToMany join table: ``<source>_<target without the plugin prefix>``, bounded."""
    return _derived(rel.source, _local(rel.target, doc.plugin_id))


def join_columns(doc: ExtensionDatabaseSchema, rel: ExtensionRelationship) -> tuple[str, str]:
    """The join table's two columns: ``<source local>_<sourceField>`` and the target's."""
    left = _derived(_local(rel.source, doc.plugin_id), rel.source_field)
    right = _derived(_local(rel.target, doc.plugin_id), rel.target_field)
    return left, right if right != left else _derived("related", right)


def references_id(doc: ExtensionDatabaseSchema, table: str, column: str) -> bool:
    """Whether ``table.column`` is the foreign key of a relationship to an ``id``."""
    return any(
        r.source == table and r.source_field == column and r.target_field == ID_COLUMN
        for r in doc.relationships
        if r.type != "ManyToMany"
    )


def is_fk(doc: ExtensionDatabaseSchema, table: str, column: str) -> bool:
    """Whether ``table.column`` carries a foreign key (such columns get no CHECK: MySQL forbids
    CHECK constraints on columns with referential actions)."""
    return any(
        r.source == table and r.source_field == column
        for r in doc.relationships
        if r.type != "ManyToMany"
    )


def leads_index(table: ExtensionTable, column: str) -> bool:
    """Whether a declared index or unique constraint starts with ``column``."""
    keys = [i.fields for i in table.indexes] + [u.fields for u in table.unique_constraints]
    return any(fields[0] == column for fields in keys)


def is_unique(table: ExtensionTable, column: str) -> bool:
    """Whether ``column`` alone is the primary key, a unique index or a unique constraint."""
    singles = [i.fields for i in table.indexes if i.unique] + [
        u.fields for u in table.unique_constraints
    ]
    return column == ID_COLUMN or [column] in singles


def fk_extra(table: ExtensionTable, rel: ExtensionRelationship) -> tuple[str, str] | None:
    """The (kind, name) of the unique constraint or index a FK column gets, if it needs one.

    OneToOne makes the column unique; otherwise the column is indexed unless a declared index
    already starts with it.
    """
    column = rel.source_field
    if rel.type == "OneToOne" and not is_unique(table, column):
        return "unique", one_to_one_name(table.name, column)
    if rel.type == "OneToMany" and not leads_index(table, column):
        return "index", fk_index_name(table.name, column)
    return None


def global_names(doc: ExtensionDatabaseSchema) -> Iterator[tuple[str, str]]:
    """(name, what) for every object whose name must be unique across a whole database.

    PostgreSQL shares one namespace for tables, types and indexes; MySQL for constraint names.
    """
    for i, table in enumerate(doc.tables):
        yield table.name, f"tables[{i}]"
        yield pk_name(table.name), f"tables[{i}] primary key"
        for j, index in enumerate(table.indexes):
            yield index_name(table.name, index), f"tables[{i}].indexes[{j}]"
        for j, uc in enumerate(table.unique_constraints):
            yield unique_name(table.name, uc), f"tables[{i}].uniqueConstraints[{j}]"
        for field in table.fields:
            if field.validation is not None and not is_fk(doc, table.name, field.name):
                yield check_name(table.name, field.name), f"tables[{i}] check on {field.name}"
    for i, enum in enumerate(doc.enums):
        yield enum.name, f"enums[{i}]"
    for i, rel in enumerate(doc.relationships):
        yield from _relationship_names(doc, rel, f"relationships[{i}]")


def _relationship_names(
    doc: ExtensionDatabaseSchema, rel: ExtensionRelationship, where: str
) -> Iterator[tuple[str, str]]:
    if rel.type != "ManyToMany":
        yield fk_name(rel.source, rel.source_field), f"{where} foreign key"
        source = doc.table(rel.source)
        extra = fk_extra(source, rel) if source is not None else None
        if extra is not None:
            yield extra[1], f"{where} {extra[0]} on {rel.source_field}"
        return
    table = join_table(doc, rel)
    yield table, f"{where} join table"
    yield pk_name(table), f"{where} join table primary key"
    for column in join_columns(doc, rel):
        yield fk_name(table, column), f"{where} join table foreign key"
    yield fk_index_name(table, join_columns(doc, rel)[1]), f"{where} join table index"
