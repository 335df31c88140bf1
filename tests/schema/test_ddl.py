"""The 003 examples turned into DDL and applied on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.schema import examples as ex
from tests.schema.dbs import Backend
from tests.schema.examples import example_docs
from worker.schema.ddl import EXTERNAL, creatable, metadata_for, to_metadata
from worker.schema.validate import validate_document


def connect(backend: Backend) -> sa.Connection:
    """A connection with foreign keys enforced (SQLite needs the pragma)."""
    conn = backend.engine.connect()
    if backend.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return conn


def table(backend: Backend, name: str, *columns: str) -> sa.TableClause:
    """A lightweight table for inserts and selects."""
    return sa.table(name, *(sa.column(c) for c in columns), schema=backend.schema)


def test_core_targets_are_stubs_that_are_never_created() -> None:
    md = to_metadata(validate_document(ex.work_order_comments()), "postgresql")
    stubs = {t.name for t in md.tables.values() if t.info.get(EXTERNAL)}
    assert stubs == {"work_orders", "users"}
    assert [t.name for t in creatable(md)] == ["wo_comments_comment"]


def test_examples_apply_and_enforce_their_rules(backend: Backend) -> None:
    backend.core_tables("work_orders", "users")
    md = metadata_for(example_docs(), backend.name, backend.schema)
    with connect(backend) as conn:
        md.create_all(conn, tables=creatable(md))
        conn.commit()
        names = set(sa.inspect(conn).get_table_names(schema=backend.schema))
    expected = {t.name for t in creatable(md)} | {"work_orders", "users"}
    assert names == expected
    _defaults_fill_in(backend)
    _checks_and_enums_hold(backend)
    _foreign_keys_hold(backend)


def _defaults_fill_in(backend: Backend) -> None:
    report = table(backend, "custom_reports_report", "id", "title", "status", "views", "public")
    with connect(backend) as conn:
        conn.execute(sa.insert(report).values(id="r1", title="Monthly"))
        conn.commit()
        row = conn.execute(sa.select(report).where(report.c.id == "r1")).one()
    assert (row.status, row.views, bool(row.public)) == ("draft", 0, False)


@pytest.mark.parametrize("bad", [{"views": -1}, {"status": "bogus"}, {"title": ""}])
def test_rules_reject_bad_rows(backend: Backend, bad: dict[str, object]) -> None:
    md = to_metadata(validate_document(ex.custom_report()), backend.name, backend.schema)
    with connect(backend) as conn:
        md.create_all(conn, tables=creatable(md))
        conn.commit()
        report = table(backend, "custom_reports_report", "id", "title", *bad)
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.insert(report).values(id="x", **{"title": "ok", **bad}))


def _checks_and_enums_hold(backend: Backend) -> None:
    inspection = table(backend, "asset_status_inspection", "id", "condition")
    with connect(backend) as conn:
        conn.execute(sa.insert(inspection).values(id="i1", condition="WORN"))
        conn.commit()
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.insert(inspection).values(id="i2", condition="worn-out"))
        conn.rollback()


def _foreign_keys_hold(backend: Backend) -> None:
    comment = table(backend, "wo_comments_comment", "id", "work_order_id", "body")
    work_orders = table(backend, "work_orders", "id")
    product = table(backend, "catalog_product", "id", "sku", "name")
    rule = table(backend, "pricing_rule", "id", "product_id", "product_sku")
    with connect(backend) as conn:
        conn.execute(sa.insert(work_orders).values(id="wo-1"))
        conn.execute(sa.insert(comment).values(id="c1", work_order_id="wo-1", body="first"))
        conn.execute(sa.insert(product).values(id="p1", sku="SKU-1", name="Pen"))
        conn.execute(sa.insert(rule).values(id="r1", product_id="p1", product_sku="SKU-1"))
        conn.commit()
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.insert(comment).values(id="c2", work_order_id="missing", body="x"))
        conn.rollback()
        with pytest.raises(sa.exc.DBAPIError):  # OneToOne: the sku is taken
            conn.execute(sa.insert(rule).values(id="r2", product_id="p1", product_sku="SKU-1"))
        conn.rollback()
        conn.execute(sa.delete(work_orders).where(work_orders.c.id == "wo-1"))
        conn.commit()
        left = conn.execute(sa.select(sa.func.count()).select_from(comment)).scalar_one()
    assert left == 0  # a required foreign key cascades


def test_many_to_many_join_tables(backend: Backend) -> None:
    md = metadata_for(example_docs()[3:], backend.name, backend.schema)
    with connect(backend) as conn:
        md.create_all(conn, tables=creatable(md))
        conn.commit()
        inspector = sa.inspect(conn)
        join = "pricing_campaign_catalog_product"
        columns = [c["name"] for c in inspector.get_columns(join, schema=backend.schema)]
        pk = inspector.get_pk_constraint(join, schema=backend.schema)["constrained_columns"]
        fks = inspector.get_foreign_keys(join, schema=backend.schema)
    assert columns == pk == ["campaign_id", "catalog_product_id"]
    assert sorted(fk["referred_table"] for fk in fks) == ["catalog_product", "pricing_campaign"]
