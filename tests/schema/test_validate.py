"""Validation of ExtensionDatabaseSchema documents: every problem at its JSON path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.schema import examples as ex
from worker.errors import RequestRejected, SchemaDocumentError
from worker.schema.model import SCALAR_TYPES, json_schema
from worker.schema.validate import CORE_TABLES, referenceable, validate_document

Doc = dict[str, Any]


def problems_of(doc: object, plugin_id: str | None = None, **kw: Any) -> list[str]:
    """The problems validation reports (failing the test when there are none)."""
    with pytest.raises(SchemaDocumentError) as caught:
        validate_document(doc, plugin_id, **kw)
    assert isinstance(caught.value, RequestRejected)
    return caught.value.problems


@pytest.mark.parametrize("make", [ex.custom_report, ex.work_order_comments, ex.enum_extension])
def test_examples_are_valid(make: Callable[[], Doc]) -> None:
    doc = validate_document(make())
    assert doc.tables and doc.metadata.namespace == doc.plugin_id.replace("-", "_")


def test_cross_plugin_example_needs_the_other_plugins_tables() -> None:
    catalog = validate_document(ex.catalog(), "catalog")
    problems = problems_of(ex.pricing(), "pricing")
    assert any(
        p.startswith("relationships[0].target: 'catalog_product' is neither") for p in problems
    )
    known = {**CORE_TABLES, **referenceable([catalog])}
    assert known["catalog_product"] == {"id", "sku"}
    assert validate_document(ex.pricing(), "pricing", known).plugin_id == "pricing"


def test_misspelt_type_is_reported_at_its_path() -> None:
    doc = ex.custom_report()
    doc["tables"][0]["fields"][2]["type"] = "Strng"
    (problem,) = problems_of(doc)
    assert problem.startswith("tables[0].fields[2].type: unknown type 'Strng'; use one of String")


def test_every_structural_problem_is_listed() -> None:
    doc = ex.custom_report()
    doc["tables"][0]["fields"][0]["type"] = "Text"
    doc["tables"][0]["fields"][1]["required"] = "yes"
    doc["tables"][0]["colour"] = "red"
    doc["relationships"] = [{"source": "x", "sourceField": "y", "target": "z", "type": "Many"}]
    del doc["version"]
    problems = problems_of(doc)
    assert "version: is required" in problems
    assert any(p.startswith("tables[0].fields[0].type: unknown type 'Text'") for p in problems)
    assert any(p.startswith("tables[0].fields[1].required: ") for p in problems)
    assert any(p.startswith("tables[0].colour: unknown key") for p in problems)
    assert "relationships[0].targetField: is required" in problems
    assert any(
        p.startswith("relationships[0].type: unknown value 'Many'; use one of") for p in problems
    )


def _mutate(path: list[Any], value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return apply


CASES: list[tuple[str, Callable[[Doc], None], str]] = [
    (
        "bad name",
        _mutate(["tables", 0, "name"], "Custom-Reports"),
        "tables[0].name: 'Custom-Reports' is not allowed",
    ),
    (
        "unprefixed table",
        _mutate(["tables", 0, "name"], "reports"),
        "tables[0].name: 'reports' must start with the plugin prefix 'custom_reports_'",
    ),
    (
        "bare prefix",
        _mutate(["tables", 0, "name"], "custom_reports_"),
        "tables[0].name: 'custom_reports_' must start with the plugin prefix",
    ),
    (
        "table namespace",
        _mutate(["tables", 0, "namespace"], "plugin_customreports"),
        "tables[0].namespace: must be the plugin namespace 'custom_reports'",
    ),
    (
        "metadata namespace",
        _mutate(["metadata", "namespace"], "customreports"),
        "metadata.namespace: must be the plugin namespace 'custom_reports'",
    ),
    (
        "field named id",
        _mutate(["tables", 0, "fields", 1, "name"], "id"),
        "tables[0].fields[1].name: 'id' is added as the primary key",
    ),
    (
        "duplicate field",
        _mutate(["tables", 0, "fields", 1, "name"], "title"),
        "tables[0].fields[1].name: 'title' is declared twice",
    ),
    (
        "unknown enum type",
        _mutate(["tables", 0, "fields", 2, "type"], "custom_reports_state"),
        "tables[0].fields[2].type: unknown type 'custom_reports_state'",
    ),
    (
        "int default",
        _mutate(["tables", 0, "fields", 3, "default"], "zero"),
        "tables[0].fields[3].default: 'zero' is not an Int",
    ),
    (
        "int default range",
        _mutate(["tables", 0, "fields", 3, "default"], -1),
        "tables[0].fields[3].default: is below min 0",
    ),
    (
        "bool default",
        _mutate(["tables", 0, "fields", 6, "default"], 0),
        "tables[0].fields[6].default: 0 is not a Boolean",
    ),
    (
        "enum default",
        _mutate(["tables", 0, "fields", 2, "default"], "gone"),
        "tables[0].fields[2].default: 'gone' is not a value of enum",
    ),
    (
        "datetime default",
        _mutate(["tables", 0, "fields", 7, "default"], "2024-01-01"),
        "tables[0].fields[7].default: '2024-01-01' is not allowed",
    ),
    (
        "decimal default",
        _mutate(["tables", 0, "fields", 5, "default"], "12.5e"),
        "tables[0].fields[5].default: '12.5e' is not a Decimal",
    ),
    (
        "string default length",
        _mutate(["tables", 0, "fields", 0, "default"], "x" * 201),
        "tables[0].fields[0].default: is longer than the field's maxLength 200",
    ),
    (
        "rule misfit",
        _mutate(["tables", 0, "fields", 3, "validation"], {"maxLength": 3}),
        "tables[0].fields[3].validation.maxLength: does not apply to a Int field",
    ),
    (
        "rule order",
        _mutate(["tables", 0, "fields", 4, "validation"], {"min": 5, "max": 1}),
        "tables[0].fields[4].validation.min: is greater than max 1",
    ),
    (
        "bad pattern",
        _mutate(["tables", 0, "fields", 0, "validation", "pattern"], "(["),
        "tables[0].fields[0].validation.pattern: not a valid regular expression",
    ),
    (
        "index field",
        _mutate(["tables", 0, "indexes", 0, "fields"], ["nope"]),
        "tables[0].indexes[0].fields: 'nope' is not a field",
    ),
    (
        "json index",
        _mutate(["tables", 0, "uniqueConstraints", 0, "fields"], ["options"]),
        "tables[0].uniqueConstraints[0].fields: Json field 'options' cannot be indexed",
    ),
    (
        "index name prefix",
        _mutate(["tables", 0, "indexes", 0, "name"], "by_status"),
        "tables[0].indexes[0].name: 'by_status' must start with the plugin prefix",
    ),
    (
        "enum prefix",
        _mutate(["enums", 0, "name"], "status"),
        "enums[0].name: 'status' must start with the plugin prefix",
    ),
    (
        "enum duplicate value",
        _mutate(["enums", 0, "values"], ["draft", "Draft", "published", "archived"]),
        "enums[0].values[1]: 'Draft' is duplicated",
    ),
    (
        "enum value",
        _mutate(["enums", 0, "values", 0], "1st"),
        "enums[0].values[0]: '1st' is not allowed",
    ),
    (
        "plugin id",
        _mutate(["pluginId"], "Custom_Reports"),
        "pluginId: 'Custom_Reports' is not allowed",
    ),
    ("reserved plugin id", _mutate(["pluginId"], "core"), "pluginId: 'core' is reserved"),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_semantic_problem_is_reported_at_its_path(
    mutate: Callable[[Doc], None], expected: str
) -> None:
    doc = ex.custom_report()
    mutate(doc)
    problems = problems_of(doc)
    assert any(p.startswith(expected) for p in problems), problems


def test_plugin_id_must_match_the_registering_plugin() -> None:
    problems = problems_of(ex.custom_report(), "other-plugin")
    assert problems == [
        "pluginId: 'custom-reports' does not match the registering plugin 'other-plugin'"
    ]


@pytest.mark.parametrize("name", ["plugin_registry", "plugin_datasources", "alembic_version"])
def test_core_tables_are_refused_even_with_the_prefix(name: str) -> None:
    plugin = name.split("_", maxsplit=1)[0]
    doc = ex.document(plugin, [ex.table(plugin, name, [ex.field("x", "Int")])])
    (problem,) = problems_of(doc)
    assert problem.startswith(f"tables[0].name: '{name}' is a core platform name")


def test_database_reserved_prefix_is_refused() -> None:
    doc = ex.document("sqlite", [ex.table("sqlite", "sqlite_stuff", [ex.field("x", "Int")])])
    (problem,) = problems_of(doc)
    assert "reserved by the database" in problem


def test_table_and_enum_may_not_share_a_name() -> None:
    doc = ex.enum_extension()
    doc["enums"][0]["name"] = "asset_status_inspection"
    for field in doc["tables"][0]["fields"][:2]:
        field["type"] = "asset_status_inspection"
    problems = problems_of(doc)
    assert "tables[0].name: 'asset_status_inspection' is declared more than once" in problems
    assert "enums[0].name: 'asset_status_inspection' is declared more than once" in problems


def test_derived_name_collision_is_reported() -> None:
    doc = ex.custom_report()
    doc["tables"][0]["indexes"] = [{"name": "custom_reports_report_title_key", "fields": ["views"]}]
    problems = problems_of(doc)
    assert any("'custom_reports_report_title_key' is already used by" in p for p in problems)


RELATIONSHIP_CASES = [
    (
        {"source": "wo_comments_other"},
        "relationships[0].source: 'wo_comments_other' is not a table",
    ),
    ({"sourceField": "nope"}, "relationships[0].sourceField: 'nope' is not a field"),
    ({"sourceField": "id"}, "relationships[0].sourceField: the foreign key cannot be 'id'"),
    (
        {"target": "invoices"},
        "relationships[0].target: 'invoices' is neither a table of this document",
    ),
    ({"targetField": "number"}, "relationships[0].targetField: 'number' cannot be referenced"),
    (
        {"sourceField": "created_at"},
        "relationships[0].sourceField: 'created_at' is DateTime but work_orders.id is String",
    ),
    (
        {"sourceField": "author_id"},
        "relationships[1].sourceField: already carries relationships[0]",
    ),
]


@pytest.mark.parametrize(("change", "expected"), RELATIONSHIP_CASES)
def test_relationship_problems(change: dict[str, str], expected: str) -> None:
    doc = ex.work_order_comments()
    doc["relationships"][0].update(change)
    problems = problems_of(doc)
    assert any(p.startswith(expected) for p in problems), problems


def test_relationship_to_a_non_unique_field_is_refused() -> None:
    doc = ex.catalog()
    doc["tables"].append(ex.table("catalog", "catalog_tag", [ex.field("product_name", "String")]))
    doc["relationships"] = [
        {
            "source": "catalog_tag",
            "sourceField": "product_name",
            "target": "catalog_product",
            "targetField": "name",
            "type": "OneToMany",
        }
    ]
    (problem,) = problems_of(doc)
    assert problem.startswith("relationships[0].targetField: 'name' is not unique")


def test_caps() -> None:
    doc = ex.document("big", [ex.table("big", f"big_t{i}", []) for i in range(501)])
    assert problems_of(doc) == ["tables: has 501 items; at most 500 are allowed"]
    fields = [ex.field(f"f{i}", "Int") for i in range(1501)]
    doc = ex.document("big", [ex.table("big", "big_t", fields)])
    assert problems_of(doc) == ["tables[0].fields: has 1501 items; at most 1500 are allowed"]
    doc = ex.document("big", [ex.table("big", "big_" + "x" * 60, [])])
    assert problems_of(doc)[0].startswith("tables[0].name: 'big_xxx")


def test_depth_and_non_objects_are_refused() -> None:
    nested: Any = "leaf"
    for _ in range(40):
        nested = {"a": nested}
    doc = ex.custom_report()
    doc["metadata"]["constraints"] = nested
    assert problems_of(doc) == ["schema: nested deeper than 32 levels"]
    assert problems_of([1, 2]) == ["schema: must be a JSON object"]


def test_json_schema_is_published_with_camel_case_keys() -> None:
    schema = json_schema()
    assert set(schema["required"]) == {
        "pluginId",
        "version",
        "tables",
        "enums",
        "relationships",
        "metadata",
    }
    table = schema["$defs"]["ExtensionTable"]
    assert "uniqueConstraints" in table["properties"] and table["additionalProperties"] is False
    field_type = schema["$defs"]["ExtensionField"]["properties"]["type"]["anyOf"]
    assert field_type[0]["enum"] == list(SCALAR_TYPES)
    relationship = schema["$defs"]["ExtensionRelationship"]["properties"]
    assert relationship["type"]["enum"] == ["OneToOne", "OneToMany", "ManyToMany"]
