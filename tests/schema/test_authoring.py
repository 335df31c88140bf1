"""Schemas as people write them: Prisma naming, no prefixes, a declared ``id``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.schema.examples import problems_of
from tests.support.seed import seed_doc
from worker.schema import (
    detect_conflicts,
    export_prisma,
    export_sqlalchemy,
    to_metadata,
    validate_document,
)
from worker.schema.authoring import normalize, snake


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("CustomReport", "custom_report"),
        ("customReport", "custom_report"),
        ("custom_report", "custom_report"),
        ("createdAt", "created_at"),
        ("URLPath", "url_path"),
        ("reportID", "report_id"),
        ("page2Count", "page2_count"),
    ],
)
def test_names_map_to_snake_case(written: str, stored: str) -> None:
    assert snake(written) == stored
    assert snake(stored) == stored


def test_the_seed_document_registers_as_written() -> None:
    doc = validate_document(seed_doc(), "custom-reports")
    assert [t.name for t in doc.tables] == [
        "custom_reports_custom_report",
        "custom_reports_report_comment",
    ]
    assert [e.name for e in doc.enums] == ["custom_reports_report_status"]
    report = doc.tables[0]
    assert [f.name for f in report.fields] == ["id", "title", "status", "page_count", "created_at"]
    assert report.fields[2].type == "custom_reports_report_status"
    assert report.indexes[0].fields == ["status", "created_at"]
    rel = doc.relationships[0]
    assert (rel.source, rel.source_field, rel.target) == (
        "custom_reports_report_comment",
        "report_id",
        "custom_reports_custom_report",
    )


def test_mapping_is_idempotent() -> None:
    stored = validate_document(seed_doc(), "custom-reports").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert normalize(stored) == stored
    assert (
        validate_document(stored, "custom-reports").model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        == stored
    )


def test_declared_id_is_the_primary_key_with_its_type() -> None:
    md = to_metadata(validate_document(seed_doc(), "custom-reports"), "postgresql")
    report = md.tables["custom_reports_custom_report"]
    comment = md.tables["custom_reports_report_comment"]
    assert [c.name for c in report.primary_key.columns] == ["id"]
    assert isinstance(report.c.id.type, sa.String) and report.c.id.type.length == 36
    assert isinstance(comment.c.id.type, sa.Integer) and comment.c.id.autoincrement is True
    assert [c.name for c in comment.columns].count("id") == 1
    source = export_sqlalchemy([validate_document(seed_doc(), "custom-reports")])
    assert "id: Mapped[int] = mapped_column('id', sa.Integer(), autoincrement=True)" in source


def test_collisions_after_mapping_name_the_mapped_form() -> None:
    doc = seed_doc()
    doc["tables"][1]["name"] = "custom_report"
    problems = problems_of(doc, "custom-reports")
    assert any("'custom_reports_custom_report' is declared more than once" in p for p in problems)
    doc = seed_doc()
    doc["tables"][0]["fields"][1]["name"] = "pageCount"
    problems = problems_of(doc, "custom-reports")
    assert "tables[0].fields[3].name: 'page_count' is declared twice in this table" in problems


def test_unmappable_names_suggest_the_mapped_form() -> None:
    doc = seed_doc()
    doc["tables"][0]["name"] = "Custom-Report"
    doc["tables"][0]["fields"][1]["name"] = "page count"
    problems = problems_of(doc, "custom-reports")
    assert any(p.startswith("tables[0].name:") and "e.g. 'custom_report'" in p for p in problems)
    assert any("fields[1].name" in p and "e.g. 'page_count'" in p for p in problems)


def test_relationship_targets_outside_the_document_are_kept() -> None:
    doc = seed_doc()
    doc["tables"][1]["fields"].append({"name": "workOrderId", "type": "String", "required": False})
    doc["relationships"].append(
        {
            "source": "ReportComment",
            "sourceField": "workOrderId",
            "target": "work_orders",
            "targetField": "id",
            "type": "OneToMany",
        }
    )
    rel = validate_document(doc, "custom-reports").relationships[1]
    assert (rel.source_field, rel.target) == ("work_order_id", "work_orders")


def test_the_ownership_guard_still_holds() -> None:
    """Composed names stay in the plugin's namespace; a longer registered prefix owns its own."""
    nested = seed_doc()
    nested["pluginId"] = "custom-reports-x"
    nested["metadata"]["namespace"] = "custom_reports_x"
    for table in nested["tables"]:
        table["namespace"] = "custom_reports_x"
    inner = validate_document(nested, "custom-reports-x")
    assert all(t.name.startswith("custom_reports_x_") for t in inner.tables)
    outer = seed_doc()
    outer["tables"][0]["name"] = "XItems"  # custom_reports_x_items: inside custom-reports-x
    outer["relationships"][0]["target"] = "XItems"
    found = detect_conflicts([inner, validate_document(outer, "custom-reports")])
    assert any(c.kind == "namespace" and c.object == "custom_reports_x_items" for c in found)
    assert problems_of(seed_doc(), "another-plugin")[0].startswith("pluginId:")


@pytest.mark.parametrize("provider", ["postgresql", "mysql", "sqlite"])
def test_one_plugin_export_reads_naturally(provider: str) -> None:
    text = export_prisma([validate_document(seed_doc(), "custom-reports")], provider=provider)
    assert "model CustomReport {" in text and '@@map("custom_reports_custom_report")' in text
    assert "enum ReportStatus {" in text and '@@map("custom_reports_report_status")' in text
    assert 'pageCount Int @default(0) @map("page_count")' in text
    assert "id Int @id" in text and "@default(autoincrement())" in text
    assert f'provider = "{provider}"' in text
    assert ("@db." in text) is (provider != "sqlite")
