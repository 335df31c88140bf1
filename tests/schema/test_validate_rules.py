"""Semantic validation rules, each reported at its JSON path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.schema import examples as ex
from tests.schema.examples import Doc, problems_of


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
        "mapped name too long",
        _mutate(["tables", 0, "name"], "A" * 60),
        "tables[0].name: 'custom_reports_aaaaaaaa",
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
        "optional id",
        _mutate(["tables", 0, "fields", 1, "name"], "id"),
        "tables[0].fields[1].required: the primary key 'id' is always required",
    ),
    (
        "id type",
        _mutate(["tables", 0, "fields", 4, "name"], "id"),
        "tables[0].fields[4].type: the primary key 'id' is Float; declare it String",
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
