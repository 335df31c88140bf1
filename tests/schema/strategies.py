"""Hypothesis strategies for valid ExtensionDatabaseSchema documents."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PLUGINS = ["acme", "acme-crm", "x1", "inv-audit", "zeta"]
SQL_WORDS = ["order", "select", "group", "user", "table", "check", "default", "key", "values"]
IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
FIELD_NAME = st.one_of(IDENT, st.sampled_from(SQL_WORDS)).filter(lambda n: n != "id")
SCALARS = ["String", "Int", "Float", "Boolean", "DateTime", "Decimal", "Json"]


@st.composite
def fields(draw: st.DrawFn, enums: list[dict[str, Any]]) -> dict[str, Any]:
    """One field of a scalar type or of a declared enum, with a fitting default and rules."""
    types = SCALARS + [e["name"] for e in enums]
    kind = draw(st.sampled_from(types))
    field: dict[str, Any] = {"name": "", "type": kind, "required": draw(st.booleans())}
    enum = next((e for e in enums if e["name"] == kind), None)
    if enum is not None:
        if draw(st.booleans()):
            field["default"] = draw(st.sampled_from(enum["values"]))
        return field
    rules, default = draw(_rules_and_default(kind))
    if rules:
        field["validation"] = rules
    if default is not None:
        field["default"] = default
    return field


@st.composite
def _rules_and_default(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], Any]:
    if kind == "String":
        length = draw(st.sampled_from([None, 1, 16, 64, 255, 5000]))
        rules = {"maxLength": length} if length else {}
        text = st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=8)
        default = draw(st.none() | text.map(lambda t: t[: length or 255]))
        return rules, default
    if kind == "Int":
        low = draw(st.none() | st.integers(-100, 0))
        return ({"min": low} if low is not None else {}), draw(st.none() | st.integers(0, 99))
    if kind in ("Float", "Decimal"):
        high = draw(st.none() | st.integers(100, 1000))
        default = draw(st.none() | st.sampled_from([0, 1.5, 99]))
        return ({"max": high} if high is not None else {}), default
    if kind == "Boolean":
        return {}, draw(st.none() | st.booleans())
    if kind == "DateTime":
        return {}, draw(st.none() | st.just("now"))
    return {}, draw(st.none() | st.just({"k": [1, 2]}))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A whole valid document: tables, enums, indexes and relationships."""
    plugin = draw(st.sampled_from(PLUGINS))
    ns = plugin.replace("-", "_")
    enum_names = draw(st.lists(IDENT, max_size=2, unique=True))
    enums = [
        {
            "name": f"{ns}_e_{n}",
            "values": draw(
                st.lists(st.sampled_from(["A", "b", "C_1"]), min_size=1, max_size=3, unique=True)
            ),
        }
        for n in enum_names
    ]
    table_names = draw(st.lists(IDENT, min_size=1, max_size=4, unique=True))
    tables = [draw(_table(ns, f"{ns}_{t}", enums)) for t in table_names]
    relationships = draw(_relationships(tables))
    return {
        "pluginId": plugin,
        "version": "1.0.0",
        "tables": tables,
        "enums": enums,
        "relationships": relationships,
        "metadata": {"namespace": ns},
    }


@st.composite
def _table(draw: st.DrawFn, ns: str, name: str, enums: list[dict[str, Any]]) -> dict[str, Any]:
    names = draw(st.lists(FIELD_NAME, max_size=8, unique=True))
    table_fields = []
    for field_name in names:
        field = draw(fields(enums))
        field["name"] = field_name
        table_fields.append(field)
    indexable = [
        f["name"]
        for f in table_fields
        if f["type"] not in ("Json", "String")
        or f.get("validation", {}).get("maxLength", 999) <= 64
    ]
    indexes = []
    if indexable and draw(st.booleans()):
        columns = draw(st.lists(st.sampled_from(indexable), min_size=1, max_size=3, unique=True))
        indexes.append({"fields": columns, "unique": draw(st.booleans())})
    return {"name": name, "namespace": ns, "fields": table_fields, "indexes": indexes}


@st.composite
def _relationships(draw: st.DrawFn, tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(tables) < 2 or not draw(st.booleans()):
        return []
    source, target = draw(st.permutations(tables))[:2]
    column = "ref_" + target["name"][-8:]
    if any(f["name"] == column for f in source["fields"]):
        return []
    source["fields"].append({"name": column, "type": "String", "required": draw(st.booleans())})
    kind = draw(st.sampled_from(["OneToOne", "OneToMany", "ManyToMany"]))
    if kind == "ManyToMany":
        source["fields"].pop()
        column = "id"
    return [
        {
            "source": source["name"],
            "sourceField": column,
            "target": target["name"],
            "targetField": "id",
            "type": kind,
        }
    ]
