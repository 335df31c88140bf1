"""The working examples of ``seeds/003`` as ExtensionDatabaseSchema documents (JSON form)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from worker.errors import SchemaDocumentError
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.validate import CORE_TABLES, referenceable, validate_document

Doc = dict[str, Any]


def field(name: str, type_: str, required: bool = False, **extra: Any) -> dict[str, Any]:
    """A field entry."""
    return {"name": name, "type": type_, "required": required, **extra}


def table(plugin_ns: str, name: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A table entry in namespace ``plugin_ns``."""
    return {"name": name, "namespace": plugin_ns, "fields": fields, **extra}


def document(plugin_id: str, tables: list[Any], **extra: Any) -> Doc:
    """A whole document with the plugin's namespace filled in."""
    ns = plugin_id.replace("-", "_")
    doc: Doc = {
        "pluginId": plugin_id,
        "version": "1.0.0",
        "tables": tables,
        "enums": [],
        "relationships": [],
        "metadata": {"namespace": ns, "description": f"{plugin_id} tables", "author": "tests"},
    }
    doc.update(extra)
    return doc


def custom_report() -> Doc:
    """A simple custom entity: CustomReport."""
    ns = "custom_reports"
    fields = [
        field("title", "String", True, validation={"minLength": 1, "maxLength": 200}),
        field("body", "String", validation={"maxLength": 20000}),
        field("status", "custom_reports_status", True, default="draft"),
        field("views", "Int", True, default=0, validation={"min": 0}),
        field("score", "Float", validation={"min": 0, "max": 5}),
        field("budget", "Decimal", default="1250.50"),
        field("public", "Boolean", True, default=False),
        field("created_at", "DateTime", True, default="now"),
        field("options", "Json", default={"columns": ["a", "b"]}),
    ]
    report = table(
        ns,
        "custom_reports_report",
        fields,
        indexes=[{"fields": ["status", "created_at"]}],
        uniqueConstraints=[{"fields": ["title"]}],
    )
    enums = [{"name": "custom_reports_status", "values": ["draft", "published", "archived"]}]
    return document("custom-reports", [report], enums=enums)


def work_order_comments() -> Doc:
    """Comments related to the core ``work_orders`` table (and to ``users``)."""
    ns = "wo_comments"
    comment = table(
        ns,
        "wo_comments_comment",
        [
            field("work_order_id", "String", True),
            field("author_id", "String"),
            field("body", "String", True, validation={"maxLength": 2000}),
            field("created_at", "DateTime", True, default="now"),
        ],
    )
    rels = [
        _rel("wo_comments_comment", "work_order_id", "work_orders", "id", "OneToMany"),
        _rel("wo_comments_comment", "author_id", "users", "id", "OneToMany"),
    ]
    return document("wo-comments", [comment], relationships=rels)


def enum_extension() -> Doc:
    """An enum extension: asset conditions with localized labels, used by a table."""
    ns = "asset_status"
    enum = {
        "name": "asset_status_condition",
        "values": ["NEW", "GOOD", "WORN", "BROKEN"],
        "localization": {"en": {"NEW": "New", "BROKEN": "Broken"}, "de": {"NEW": "Neu"}},
    }
    inspection = table(
        ns,
        "asset_status_inspection",
        [
            field("condition", "asset_status_condition", True, default="GOOD"),
            field("previous", "asset_status_condition"),
            field("note", "String"),
        ],
        indexes=[{"name": "asset_status_by_condition", "fields": ["condition"]}],
    )
    return document("asset-status", [inspection], enums=[enum])


def catalog() -> Doc:
    """Plugin A of the coordination example: products."""
    ns = "catalog"
    product = table(
        ns,
        "catalog_product",
        [
            field("sku", "String", True, validation={"maxLength": 64}),
            field("name", "String", True),
            field("price", "Decimal"),
        ],
        uniqueConstraints=[{"fields": ["sku"]}],
    )
    return document("catalog", [product])


def pricing() -> Doc:
    """Plugin B: price rules and campaigns linked to plugin A's products."""
    ns = "pricing"
    rule = table(
        ns,
        "pricing_rule",
        [
            field("product_id", "String", True),
            field("product_sku", "String", validation={"maxLength": 64}),
            field("discount", "Float", True, default=0.0, validation={"min": 0, "max": 1}),
        ],
    )
    campaign = table(ns, "pricing_campaign", [field("title", "String", True)])
    rels = [
        _rel("pricing_rule", "product_id", "catalog_product", "id", "OneToMany"),
        _rel("pricing_rule", "product_sku", "catalog_product", "sku", "OneToOne"),
        _rel("pricing_campaign", "id", "catalog_product", "id", "ManyToMany"),
        _rel("pricing_campaign", "id", "pricing_campaign", "id", "ManyToMany"),
    ]
    return document("pricing", [rule, campaign], relationships=rels)


def all_examples() -> list[Doc]:
    """Every example, plugin A before plugin B."""
    return [custom_report(), work_order_comments(), enum_extension(), catalog(), pricing()]


def clone(doc: Doc) -> Doc:
    """A deep copy to mutate in a test."""
    return copy.deepcopy(doc)


def _rel(source: str, source_field: str, target: str, target_field: str, kind: str) -> Doc:
    return {
        "source": source,
        "sourceField": source_field,
        "target": target,
        "targetField": target_field,
        "type": kind,
    }


def example_docs() -> list[ExtensionDatabaseSchema]:
    """All examples, validated; plugin B may reference plugin A's tables."""
    docs = [validate_document(d) for d in all_examples()[:4]]
    known = {**CORE_TABLES, **referenceable([docs[3]])}
    return [*docs, validate_document(pricing(), "pricing", known)]


def problems_of(doc: object, plugin_id: str | None = None, **kw: Any) -> list[str]:
    """The problems validation reports (failing the test when there are none)."""
    with pytest.raises(SchemaDocumentError) as caught:
        validate_document(doc, plugin_id, **kw)
    return caught.value.problems
