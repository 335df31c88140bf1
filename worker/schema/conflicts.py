"""Conflicts between the schema documents of all registered plugins.

* ``namespace``: a plugin registered twice, or a table, enum or join table of plugin P whose
  name lies under a *longer* registered prefix than P's (plugin ``ab`` declaring ``ab_c_x``
  while plugin ``ab-c`` owns ``ab_c_``): the longest matching prefix owns a name.
* ``table`` / ``enum``: two plugins produce the same database-wide name (tables, enum types,
  ManyToMany join tables, indexes and constraints share namespaces in PostgreSQL and MySQL).
* ``field``: a relationship into another plugin's table names a column that table does not
  have, that is not unique, or whose type differs from the foreign key's; a relationship into
  another plugin's namespace names a table that plugin does not declare.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from worker.schema import names
from worker.schema.model import ExtensionDatabaseSchema, ExtensionRelationship, ExtensionTable

ConflictKind = Literal["table", "enum", "field", "namespace"]


@dataclass(frozen=True)
class Conflict:
    """One conflict: its kind, the plugins involved, the object and what to do."""

    kind: ConflictKind
    plugins: tuple[str, ...]
    object: str
    message: str


def detect_conflicts(schemas: Iterable[ExtensionDatabaseSchema]) -> list[Conflict]:
    """Every conflict between the given (individually valid) documents."""
    docs: list[ExtensionDatabaseSchema] = []
    found: list[Conflict] = []
    for doc in schemas:
        if any(d.plugin_id == doc.plugin_id for d in docs):
            message = f"plugin {doc.plugin_id!r} has more than one schema; register one version"
            found.append(Conflict("namespace", (doc.plugin_id,), doc.plugin_id, message))
        else:
            docs.append(doc)
    found.extend(_namespace(docs))
    found.extend(_shared_names(docs))
    found.extend(_cross_references(docs))
    return found


def _declared(doc: ExtensionDatabaseSchema) -> Iterator[tuple[str, str]]:
    yield from ((t.name, "table") for t in doc.tables)
    yield from ((e.name, "enum") for e in doc.enums)
    for rel in doc.relationships:
        if rel.type == "ManyToMany":
            yield names.join_table(doc, rel), "join table"


def _namespace(docs: list[ExtensionDatabaseSchema]) -> Iterator[Conflict]:
    ids = [d.plugin_id for d in docs]
    for doc in docs:
        for name, what in _declared(doc):
            owner = names.owner(name, ids)
            if owner == doc.plugin_id:
                continue
            mine = names.prefix(doc.plugin_id)
            if owner is None:
                message = f"{what} {name!r} must start with {mine!r}"
                yield Conflict("namespace", (doc.plugin_id,), name, message)
                continue
            message = (
                f"{what} {name!r} of plugin {doc.plugin_id!r} lies in the namespace of plugin "
                f"{owner!r} (prefix {names.prefix(owner)!r}); rename it"
            )
            yield Conflict("namespace", (doc.plugin_id, owner), name, message)


def _shared_names(docs: list[ExtensionDatabaseSchema]) -> Iterator[Conflict]:
    users: dict[str, list[tuple[str, str]]] = {}
    for doc in docs:
        for name, what in names.global_names(doc):
            users.setdefault(name, []).append((doc.plugin_id, what))
    for name, uses in users.items():
        plugins = tuple(dict.fromkeys(p for p, _ in uses))
        if len(plugins) < 2:
            continue
        kind: ConflictKind = "enum" if all(w.startswith("enums[") for _, w in uses) else "table"
        described = ", ".join(f"{p} ({w})" for p, w in uses)
        message = f"{name!r} is used by several plugins: {described}; one of them must rename it"
        yield Conflict(kind, plugins, name, message)


def _cross_references(docs: list[ExtensionDatabaseSchema]) -> Iterator[Conflict]:
    ids = [d.plugin_id for d in docs]
    tables = {t.name: (d.plugin_id, t) for d in docs for t in d.tables}
    for doc in docs:
        own = {t.name: t for t in doc.tables}
        for rel in doc.relationships:
            if rel.target in own:
                continue
            where = f"{rel.source}.{rel.source_field} -> {rel.target}.{rel.target_field}"
            if rel.target in tables:
                other, target = tables[rel.target]
                reason = _target_reason(own.get(rel.source), target, rel)
                if reason:
                    yield Conflict("field", (doc.plugin_id, other), where, reason)
                continue
            owner = names.owner(rel.target, ids)
            if owner is not None and owner != doc.plugin_id:
                message = f"plugin {owner!r} declares no table {rel.target!r}"
                yield Conflict("table", (doc.plugin_id, owner), where, message)


def _target_reason(
    source: ExtensionTable | None, target: ExtensionTable, rel: ExtensionRelationship
) -> str:
    types = {names.ID_COLUMN: "String"} | {f.name: f.type for f in target.fields}
    wanted = rel.target_field
    if wanted not in types:
        return f"{target.name!r} has no field {wanted!r}"
    if not names.is_unique(target, wanted):
        return f"{target.name}.{wanted} is not unique; reference id or a unique field"
    column = {f.name: f.type for f in source.fields} if source else {}
    have = column.get(rel.source_field)
    if rel.type != "ManyToMany" and have is not None and have != types[wanted]:
        return f"{rel.source_field} is {have} but {target.name}.{wanted} is {types[wanted]}"
    return ""
