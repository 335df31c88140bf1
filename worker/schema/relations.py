"""Checks of a document's relationships (see ``validate.py`` for the rules)."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import Any

from worker.schema import names
from worker.schema.model import ExtensionDatabaseSchema, ExtensionRelationship, ExtensionTable

CORE_KEY_TYPE = "String"
"""Core tables' keys are UUID strings, like the ``id`` every plugin table gets."""


def relationship_problems(doc: ExtensionDatabaseSchema, core: Mapping[str, Any]) -> Iterator[str]:
    """Every problem of ``doc.relationships``."""
    tables = {t.name: t for t in doc.tables}
    carriers: dict[tuple[str, str], int] = {}
    for i, rel in enumerate(doc.relationships):
        where = f"relationships[{i}]"
        source = tables.get(rel.source)
        if source is None:
            yield f"{where}.source: {rel.source!r} is not a table of this document"
        else:
            yield from _source_problems(source, rel, where)
        target_type = yield from _target_problems(tables, core, rel, where)
        if source is None or rel.type == "ManyToMany":
            continue
        key = (rel.source, rel.source_field)
        if key in carriers:
            yield f"{where}.sourceField: already carries relationships[{carriers[key]}]"
        carriers.setdefault(key, i)
        field = next((f for f in source.fields if f.name == rel.source_field), None)
        if field is not None and target_type is not None and field.type != target_type:
            yield (
                f"{where}.sourceField: {rel.source_field!r} is {field.type} but "
                f"{rel.target}.{rel.target_field} is {target_type}; make the types equal"
            )


def _source_problems(
    source: ExtensionTable, rel: ExtensionRelationship, where: str
) -> Iterator[str]:
    declared = {f.name for f in source.fields}
    if rel.type == "ManyToMany":
        if rel.source_field not in declared | {names.ID_COLUMN}:
            yield f"{where}.sourceField: {rel.source_field!r} is not a field of {rel.source!r}"
        elif not names.is_unique(source, rel.source_field):
            yield f"{where}.sourceField: must be 'id' or a unique field for a ManyToMany link"
    elif rel.source_field == names.ID_COLUMN:
        yield f"{where}.sourceField: the foreign key cannot be 'id'; declare a field for it"
    elif rel.source_field not in declared:
        yield f"{where}.sourceField: {rel.source_field!r} is not a field of {rel.source!r}"


def _target_problems(
    tables: Mapping[str, ExtensionTable],
    core: Mapping[str, Any],
    rel: ExtensionRelationship,
    where: str,
) -> Generator[str, None, str | None]:
    """Yield problems; return the referenced column's type when it is known."""
    target = tables.get(rel.target)
    if target is not None:
        fields = {f.name: f.type for f in target.fields}
        fields = {names.ID_COLUMN: CORE_KEY_TYPE} | fields
        if rel.target_field not in fields:
            yield f"{where}.targetField: {rel.target_field!r} is not a field of {rel.target!r}"
            return None
        if not names.is_unique(target, rel.target_field):
            yield (
                f"{where}.targetField: {rel.target_field!r} is not unique; reference 'id' or a "
                "field with a single-field unique constraint"
            )
        return fields[rel.target_field]
    if rel.target not in core:
        known = ", ".join(sorted(core)[:10])
        yield (
            f"{where}.target: {rel.target!r} is neither a table of this document nor a known "
            f"core table ({known})"
        )
        return None
    if rel.target_field not in core[rel.target]:
        columns = ", ".join(sorted(core[rel.target]))
        yield f"{where}.targetField: {rel.target_field!r} cannot be referenced; use {columns}"
        return None
    return CORE_KEY_TYPE
