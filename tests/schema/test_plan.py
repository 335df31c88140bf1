"""Planning DDL against live databases: fresh creation, additive and destructive versions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.schema import examples as ex
from tests.schema.dbs import Backend, run
from worker.errors import SchemaDocumentError
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.plan import DestructiveChangeRefused, Plan, plan_changes
from worker.schema.validate import CORE_TABLES, referenceable, validate_document

REPORT = "custom_reports_report"


def plan(backend: Backend, doc: ExtensionDatabaseSchema, **kw: Any) -> Plan:
    """Plan ``doc`` against the backend."""
    with backend.engine.connect() as conn:
        return plan_changes(doc, conn, schema=backend.schema, force=kw.pop("force", False), **kw)


def apply(backend: Backend, doc: ExtensionDatabaseSchema, **kw: Any) -> Plan:
    """Plan ``doc`` and run its UP statements."""
    found = plan(backend, doc, **kw)
    with backend.engine.begin() as conn:
        run(conn, found.up_sql)
    return found


def revert(backend: Backend, found: Plan) -> None:
    """Run a plan's DOWN statements."""
    with backend.engine.begin() as conn:
        run(conn, found.down_sql)


def tables(backend: Backend) -> set[str]:
    """Table names in the scratch area."""
    with backend.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names(schema=backend.schema))


def columns(backend: Backend, table: str) -> list[str]:
    """Column names of ``table``."""
    with backend.engine.connect() as conn:
        return [c["name"] for c in sa.inspect(conn).get_columns(table, schema=backend.schema)]


def insert(backend: Backend, table: str, **values: Any) -> None:
    """Insert one row."""
    target = sa.table(table, *(sa.column(c) for c in values), schema=backend.schema)
    with backend.engine.begin() as conn:
        conn.execute(sa.insert(target).values(**values))


def report_v2(change: Any) -> ExtensionDatabaseSchema:
    """The CustomReport document changed by ``change(doc)``, as version 2."""
    doc = ex.custom_report()
    doc["version"] = "2.0.0"
    change(doc)
    return validate_document(doc)


def test_examples_plan_create_then_nothing_then_down(backend: Backend) -> None:
    backend.core_tables("work_orders", "users")
    docs = [validate_document(d) for d in ex.all_examples()[:4]]
    docs.append(validate_document(ex.pricing(), core_tables={**CORE_TABLES, **referenceable(docs)}))
    plans = [apply(backend, doc) for doc in docs]
    assert all(not p.destructive and p.up_sql for p in plans)
    assert any(s.startswith("CREATE TABLE") for s in plans[0].up_sql)
    assert all(plan(backend, doc).empty for doc in docs)
    for found in reversed(plans):
        revert(backend, found)
    assert tables(backend) == {"work_orders", "users"}


def test_additive_version_only_adds_columns(backend: Backend) -> None:
    apply(backend, validate_document(ex.custom_report()))
    insert(backend, REPORT, id="r1", title="kept")

    def add_fields(doc: dict[str, Any]) -> None:
        fields = doc["tables"][0]["fields"]
        fields.append(ex.field("summary", "String"))
        fields.append(ex.field("priority", "Int", True, default=3))

    v2 = report_v2(add_fields)
    found = apply(backend, v2)
    assert found.destructive == [] and found.data_at_risk == {}
    assert found.additive == [f"add column {REPORT}.summary", f"add column {REPORT}.priority"]
    assert len(found.up_sql) == 2
    assert all(s.startswith("ALTER TABLE") and "ADD COLUMN" in s for s in found.up_sql)
    assert columns(backend, REPORT)[-2:] == ["summary", "priority"]
    assert plan(backend, v2).empty
    revert(backend, found)
    assert "summary" not in columns(backend, REPORT)
    with backend.engine.connect() as conn:
        titles = conn.exec_driver_sql(f"SELECT title FROM {_qualified(backend, REPORT)}").all()
    assert titles == [("kept",)]


def _qualified(backend: Backend, table: str) -> str:
    return f"{backend.schema}.{table}" if backend.schema else table


def _narrow_and_drop(doc: dict[str, Any]) -> None:
    fields = doc["tables"][0]["fields"]
    fields[0]["validation"]["maxLength"] = 100
    del fields[1]  # body


def test_destructive_version_is_refused_with_data_at_risk(backend: Backend) -> None:
    apply(backend, validate_document(ex.custom_report()))
    insert(backend, REPORT, id="r1", title="one", body="text")
    insert(backend, REPORT, id="r2", title="two")
    with pytest.raises(DestructiveChangeRefused) as refused:
        plan(backend, report_v2(_narrow_and_drop))
    risk = {f"{REPORT}.body": 1, f"{REPORT}.title": 2}
    assert refused.value.plan.data_at_risk == risk
    assert any(
        "drop column custom_reports_report.body (1 values)" in p for p in refused.value.problems
    )
    assert "body" in columns(backend, REPORT)  # nothing ran

    forced = apply(backend, report_v2(_narrow_and_drop), force=True)
    assert forced.data_at_risk == risk and forced.destructive
    assert "body" not in columns(backend, REPORT)
    assert plan(backend, report_v2(_narrow_and_drop)).empty
    revert(backend, forced)
    assert "body" in columns(backend, REPORT)
    assert plan(backend, validate_document(ex.custom_report())).empty


def test_dropping_a_table_counts_its_rows(backend: Backend) -> None:
    catalog = ex.catalog()
    catalog["tables"].append(ex.table("catalog", "catalog_tag", [ex.field("label", "String")]))
    apply(backend, validate_document(catalog))
    insert(backend, "catalog_tag", id="t1", label="red")
    with pytest.raises(DestructiveChangeRefused) as refused:
        plan(backend, validate_document(ex.catalog()))
    assert refused.value.plan.data_at_risk == {"catalog_tag": 1}
    assert refused.value.problems == ["drop table catalog_tag (1 rows); pass force to apply it"]


def test_required_field_without_default_cannot_join_a_table_with_rows(backend: Backend) -> None:
    apply(backend, validate_document(ex.custom_report()))
    insert(backend, REPORT, id="r1", title="one")
    v2 = report_v2(lambda d: d["tables"][0]["fields"].append(ex.field("owner", "String", True)))
    with pytest.raises(SchemaDocumentError) as caught:
        plan(backend, v2, force=True)
    assert not isinstance(caught.value, DestructiveChangeRefused)
    assert caught.value.problems[0].startswith(
        f"{REPORT}.owner: a required field without a default"
    )


def test_appending_an_enum_value_is_additive(backend: Backend) -> None:
    apply(backend, validate_document(ex.custom_report()))
    insert(backend, REPORT, id="r1", title="one", status="published")
    v2 = report_v2(lambda d: d["enums"][0]["values"].append("deleted"))
    found = apply(backend, v2)
    assert not found.destructive
    if backend.name == "postgresql":
        assert found.up_sql == [
            f"ALTER TYPE {backend.schema}.custom_reports_status ADD VALUE 'deleted'"
        ]
    insert(backend, REPORT, id="r2", title="two", status="deleted")
    assert plan(backend, v2).empty


def test_other_plugins_and_core_tables_are_left_alone(backend: Backend) -> None:
    backend.core_tables("work_orders")
    abc = ex.document("ab-c", [ex.table("ab_c", "ab_c_x", [ex.field("n", "Int")])])
    apply(backend, validate_document(abc))
    ab = validate_document(ex.document("ab", [ex.table("ab", "ab_items", [ex.field("n", "Int")])]))
    found = plan(backend, ab, other_plugins=["ab-c"])
    assert found.additive == ["create table ab_items"] and not found.destructive
    with pytest.raises(DestructiveChangeRefused):  # not told about ab-c, 'ab' claims ab_c_x
        plan(backend, ab)


def test_referenced_core_table_must_exist(backend: Backend) -> None:
    with pytest.raises(SchemaDocumentError) as caught:
        plan(backend, validate_document(ex.work_order_comments()))
    assert sorted(p.split(":")[0] for p in caught.value.problems) == ["users", "work_orders"]
    backend.core_tables("work_orders", "users")
    assert plan(backend, validate_document(ex.work_order_comments())).additive


def test_sqlite_rebuild_keeps_rows_indexes_and_references(sqlite_backend: Backend) -> None:
    docs = [validate_document(ex.catalog())]
    docs.append(validate_document(ex.pricing(), core_tables={**CORE_TABLES, **referenceable(docs)}))
    for doc in docs:
        apply(sqlite_backend, doc)
    insert(sqlite_backend, "catalog_product", id="p1", sku="A-1", name="Pen")
    insert(sqlite_backend, "pricing_rule", id="r1", product_id="p1", discount=0.5)
    changed = ex.catalog()
    changed["tables"][0]["fields"][1]["validation"] = {"minLength": 2}  # a new CHECK on name
    found = apply(sqlite_backend, validate_document(changed))
    assert found.additive == ["rebuild table catalog_product: update CHECK constraints"]
    assert [s.split(" (")[0] for s in found.up_sql[:1]] == ["CREATE TABLE _rebuild_catalog_product"]
    with sqlite_backend.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        assert conn.exec_driver_sql("SELECT name FROM catalog_product").all() == [("Pen",)]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql(
                "INSERT INTO catalog_product (id, sku, name) VALUES ('p2', 'B', 'x')"
            )
        indexes = sa.inspect(conn).get_unique_constraints("catalog_product")
    assert [u["name"] for u in indexes] == ["catalog_product_sku_key"]
    assert plan(sqlite_backend, validate_document(changed)).empty
