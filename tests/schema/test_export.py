"""Exports: SQL for a fresh database, Prisma (checked by ``prisma validate``), SQLAlchemy models."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.schema import examples as ex
from tests.schema.dbs import Backend, run
from tests.schema.examples import example_docs
from tests.support.node import toolchain
from tests.support.seed import seed_doc
from worker.schema.ddl import creatable, metadata_for
from worker.schema.export import export_prisma, export_sql, export_sqlalchemy, sql_statements
from worker.schema.validate import validate_document


def test_export_sql_creates_a_fresh_database(backend: Backend) -> None:
    backend.core_tables("work_orders", "users")
    docs = example_docs()
    with backend.engine.begin() as conn:
        run(conn, sql_statements(docs, backend.name, backend.schema))
    with backend.engine.connect() as conn:
        found = set(sa.inspect(conn).get_table_names(schema=backend.schema))
    expected = {t.name for t in creatable(metadata_for(docs, backend.name))}
    assert found == expected | {"work_orders", "users"}


def test_export_sql_script_form() -> None:
    script = export_sql(example_docs(), "postgresql")
    assert script.startswith("CREATE TYPE custom_reports_status AS ENUM ('draft', 'published'")
    assert "CREATE TABLE work_orders" not in script
    assert script.count(";\n\n") == len(sql_statements(example_docs(), "postgresql"))


def test_export_sqlalchemy_models_create_the_same_tables(tmp_path: Path) -> None:
    source = export_sqlalchemy(example_docs())
    module: dict[str, Any] = {"__name__": "generated_models"}
    exec(compile(source, "generated_models.py", "exec", dont_inherit=True), module)
    base = module["Base"]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'models.db'}")
    base.metadata.create_all(engine, tables=module["plugin_tables"](base.metadata))
    expected = metadata_for(example_docs(), "sqlite")
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == {t.name for t in creatable(expected)}
    for table in creatable(expected):
        columns = [c["name"] for c in inspector.get_columns(table.name)]
        assert columns == [c.name for c in table.columns], table.name
    with Session(engine) as session:
        report = module["CustomReportsReport"](title="Quarterly")
        session.add(report)
        session.commit()
        assert len(report.id) == 36 and report.status == "draft" and report.views == 0
    engine.dispose()


def test_prisma_schema_shape() -> None:
    schema = export_prisma(example_docs())
    datasource = schema.split("datasource db {", 1)[1].split("}", 1)[0]
    assert 'provider = "postgresql"' in datasource and "url" not in datasource
    assert 'generator client {\n  provider = "prisma-client-js"\n}' in schema
    assert "model CustomReportsReport {" in schema and '@@map("custom_reports_report")' in schema
    assert 'createdAt DateTime @default(now()) @map("created_at") @db.Timestamptz(6)' in schema
    assert "enum CustomReportsStatus {" in schema and '@@map("custom_reports_status")' in schema
    assert 'workOrderId String @map("work_order_id") @db.VarChar(36)' in schema
    assert "WorkOrder" not in schema  # core targets: scalar column only
    assert 'pricingRules PricingRule[] @relation("pricing_rule_product_id_fkey")' in schema


def prisma_validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Run ``prisma validate`` on ``text`` with the test suite's Prisma 7 CLI."""
    node = toolchain()
    path = tmp_path / "schema.prisma"
    path.write_text(text)
    return subprocess.run(
        [str(node.bin / "prisma"), "validate", "--schema", str(path)],
        check=False,
        cwd=node.root,
        env=node.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prisma_validate_accepts_the_export(tmp_path: Path) -> None:
    result = prisma_validate(tmp_path, export_prisma(example_docs()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_prisma_validate_catches_a_missing_back_relation(tmp_path: Path) -> None:
    schema = export_prisma(example_docs())
    broken = schema.replace(
        '  pricingRules PricingRule[] @relation("pricing_rule_product_id_fkey")\n', ""
    )
    assert broken != schema
    result = prisma_validate(tmp_path, broken)
    assert result.returncode != 0


def test_sqlalchemy_export_renames_python_keywords(tmp_path: Path) -> None:
    names = ["class", "metadata", "from", "order", "registry"]
    doc = ex.document("kw", [ex.table("kw", "kw_item", [ex.field(n, "Int") for n in names])])
    source = export_sqlalchemy([validate_document(doc)])
    module: dict[str, Any] = {"__name__": "generated_keywords"}
    exec(compile(source, "generated_keywords.py", "exec", dont_inherit=True), module)
    model = module["KwItem"]
    assert [c.name for c in model.__table__.columns] == ["id", *names]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'kw.db'}")
    model.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(model(class_=1, metadata_=2, from_=3, order=4, registry_=5))
        session.commit()
    engine.dispose()


@pytest.mark.parametrize("provider", ["postgresql", "mysql", "sqlite"])
def test_prisma_validate_accepts_every_provider(tmp_path: Path, provider: str) -> None:
    """The shared export and one plugin's export (``prisma-client`` generator) per provider."""
    seed = validate_document(seed_doc(), "custom-reports")
    for i, text in enumerate(
        [
            export_prisma(example_docs(), provider=provider),
            export_prisma([seed], provider=provider, output="./generated"),
        ]
    ):
        (tmp_path / str(i)).mkdir()
        result = prisma_validate(tmp_path / str(i), text)
        assert result.returncode == 0, result.stdout + result.stderr
