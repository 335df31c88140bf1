"""Validation of ExtensionDatabaseSchema documents: every problem at its JSON path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.schema import examples as ex
from tests.schema.examples import problems_of
from worker.schema.model import SCALAR_TYPES, json_schema
from worker.schema.validate import CORE_TABLES, referenceable, validate_document

Doc = dict[str, Any]


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


def test_prisma_reserved_model_name_is_refused() -> None:
    doc = ex.document("prisma", [ex.table("prisma", "prisma_client", [])])
    (problem,) = problems_of(doc)
    assert problem.endswith("becomes the Prisma name PrismaClient, which Prisma reserves")


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
