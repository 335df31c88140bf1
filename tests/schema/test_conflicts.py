"""Conflicts across the schemas of all registered plugins."""

from __future__ import annotations

from typing import Any

from tests.schema import examples as ex
from worker.schema.conflicts import Conflict, detect_conflicts
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.validate import CORE_TABLES, referenceable, validate_document


def parsed(doc: dict[str, Any], *others: ExtensionDatabaseSchema) -> ExtensionDatabaseSchema:
    """A validated document; tables of ``others`` may be referenced."""
    return validate_document(doc, core_tables={**CORE_TABLES, **referenceable(list(others))})


def simple(plugin: str, *tables: str, enums: tuple[str, ...] = ()) -> ExtensionDatabaseSchema:
    """A document with one Int field per table."""
    ns = plugin.replace("-", "_")
    docs = [ex.table(ns, t, [ex.field("n", "Int")]) for t in tables]
    enum_list = [{"name": e, "values": ["a", "b"]} for e in enums]
    return parsed(ex.document(plugin, docs, enums=enum_list))


def kinds(conflicts: list[Conflict]) -> list[tuple[str, str]]:
    """(kind, object) of each conflict."""
    return [(c.kind, c.object) for c in conflicts]


def test_the_examples_do_not_conflict() -> None:
    catalog = parsed(ex.catalog())
    docs = [parsed(d) for d in ex.all_examples()[:3]] + [catalog, parsed(ex.pricing(), catalog)]
    assert detect_conflicts(docs) == []


def test_prefix_overlap_longest_prefix_owns_the_name() -> None:
    ab = simple("ab", "ab_c_x", "ab_items")
    abc = simple("ab-c", "ab_c_y")
    conflicts = detect_conflicts([ab, abc])
    assert kinds(conflicts) == [("namespace", "ab_c_x")]
    assert conflicts[0].plugins == ("ab", "ab-c")
    assert "namespace of plugin 'ab-c'" in conflicts[0].message
    assert detect_conflicts([ab]) == []  # alone, 'ab' owns every 'ab_' name


def test_enum_in_a_longer_prefix_is_a_namespace_violation() -> None:
    ab = simple("ab", "ab_items", enums=("ab_c_state",))
    abc = simple("ab-c", "ab_c_y")
    assert kinds(detect_conflicts([ab, abc])) == [("namespace", "ab_c_state")]


def test_table_and_enum_name_collisions() -> None:
    ab = simple("ab", "ab_c_t", enums=("ab_c_kind",))
    abc = simple("ab-c", "ab_c_t", enums=("ab_c_kind",))
    found = kinds(detect_conflicts([ab, abc]))
    assert ("table", "ab_c_t") in found
    assert ("enum", "ab_c_kind") in found
    assert ("namespace", "ab_c_t") in found


def test_enum_type_colliding_with_a_table() -> None:
    ab = simple("ab", "ab_items", enums=("ab_c_t",))
    abc = simple("ab-c", "ab_c_t")
    conflicts = [c for c in detect_conflicts([ab, abc]) if c.kind == "table"]
    assert [c.object for c in conflicts] == ["ab_c_t"]
    assert "ab (enums[0])" in conflicts[0].message and "ab-c (tables[0])" in conflicts[0].message


def test_many_to_many_join_table_collision() -> None:
    ns = "shop"
    doc = ex.document(
        "shop",
        [ex.table(ns, "shop_order", []), ex.table(ns, "shop_tag", [])],
        relationships=[
            {
                "source": "shop_order",
                "sourceField": "id",
                "target": "shop_tag",
                "targetField": "id",
                "type": "ManyToMany",
            }
        ],
    )
    shop = parsed(doc)
    shop_order = simple("shop-order", "shop_order_tag")
    found = kinds(detect_conflicts([shop, shop_order]))
    assert ("table", "shop_order_tag") in found  # the join table of shop vs a table of shop-order
    assert ("namespace", "shop_order_tag") in found


def test_cross_plugin_reference_to_a_missing_field() -> None:
    catalog = parsed(ex.catalog())
    pricing = parsed(ex.pricing(), catalog)
    changed = ex.catalog()
    changed["tables"][0]["fields"] = [
        f for f in changed["tables"][0]["fields"] if f["name"] != "sku"
    ]
    changed["tables"][0]["uniqueConstraints"] = []
    conflicts = detect_conflicts([parsed(changed), pricing])
    assert [(c.kind, c.plugins) for c in conflicts] == [("field", ("pricing", "catalog"))]
    assert "'catalog_product' has no field 'sku'" in conflicts[0].message


def test_cross_plugin_reference_with_another_type() -> None:
    catalog = parsed(ex.catalog())
    pricing_doc = ex.pricing()
    pricing_doc["tables"][0]["fields"][1]["validation"] = {"maxLength": 64}
    pricing = parsed(pricing_doc, catalog)
    changed = ex.catalog()
    changed["tables"][0]["fields"][0] = ex.field("sku", "Int", True)
    conflicts = detect_conflicts([parsed(changed), pricing])
    assert [c.kind for c in conflicts] == ["field"]
    assert "product_sku is String but catalog_product.sku is Int" in conflicts[0].message


def test_reference_into_a_plugin_that_lacks_the_table() -> None:
    catalog = parsed(ex.catalog())
    pricing = parsed(ex.pricing(), catalog)
    empty = simple("catalog", "catalog_other")
    conflicts = detect_conflicts([empty, pricing])
    assert {(c.kind, c.plugins) for c in conflicts} == {("table", ("pricing", "catalog"))}


def test_same_plugin_registered_twice() -> None:
    one = simple("ab", "ab_x")
    conflicts = detect_conflicts([one, one])
    assert kinds(conflicts) == [("namespace", "ab")]
