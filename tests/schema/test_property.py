"""Property: any valid document yields DDL the database accepts and that reflects back."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings

from tests.schema.dbs import run, scratch_name
from tests.schema.strategies import documents
from tests.support.services import service_url
from worker.errors import SchemaDocumentError
from worker.schema.ddl import creatable, to_metadata
from worker.schema.model import ExtensionDatabaseSchema
from worker.schema.plan import plan_changes
from worker.schema.validate import validate_document


def validated(data: dict[str, Any]) -> ExtensionDatabaseSchema:
    """The generated document, validated; only derived-name clashes may be refused."""
    try:
        return validate_document(data)
    except SchemaDocumentError as exc:
        assume(not all("is already used by" in p for p in exc.problems))
        raise


def round_trip(engine: sa.Engine, doc: ExtensionDatabaseSchema, schema: str | None) -> None:
    """Plan, apply, reflect and compare; planning again must find nothing to do."""
    with engine.begin() as conn:
        plan = plan_changes(doc, conn, force=False, schema=schema)
        run(conn, plan.up_sql)
    expected = to_metadata(doc, engine.dialect.name, schema)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_table_names(schema=schema)) == {
            t.name for t in creatable(expected)
        }
        for table in creatable(expected):
            found = inspector.get_columns(table.name, schema=schema)
            assert [(c["name"], c["nullable"]) for c in found] == [
                (c.name, c.nullable) for c in table.columns
            ]
        assert plan_changes(doc, conn, force=False, schema=schema).empty


@settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=documents())
def test_random_documents_on_sqlite(
    data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    doc = validated(data)
    engine = sa.create_engine(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'plugin.db'}")
    try:
        round_trip(engine, doc, None)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def pg_engine() -> Any:
    """An engine on the shared PostgreSQL test database."""
    engine = sa.create_engine(service_url("PG_SHARED_URL"))
    yield engine
    engine.dispose()


@settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=documents())
def test_random_documents_on_postgresql(data: dict[str, Any], pg_engine: sa.Engine) -> None:
    doc = validated(data)
    schema = scratch_name()
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        round_trip(pg_engine, doc, schema)
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
