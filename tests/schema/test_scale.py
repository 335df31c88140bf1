"""Large documents: a table with 1,000 columns and a schema with 200 tables (timings printed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from tests.schema import examples as ex
from tests.schema.dbs import Backend, run
from worker.schema.ddl import creatable, to_metadata
from worker.schema.plan import plan_changes
from worker.schema.validate import validate_document

TYPES = ["Int", "String", "Float", "Boolean", "DateTime", "Decimal", "Json"]


def wide_table() -> dict[str, Any]:
    """One table with 1,000 fields of every type."""
    fields = []
    for i in range(1000):
        kind = TYPES[i % len(TYPES)]
        extra = {"validation": {"maxLength": 32}} if kind == "String" else {}
        fields.append(ex.field(f"c{i:04d}", kind, i % 3 == 0, **extra))
    return ex.document("wide", [ex.table("wide", "wide_row", fields)])


def many_tables() -> dict[str, Any]:
    """200 tables, each with 10 fields, an index and a foreign key to the previous table."""
    tables, rels = [], []
    for i in range(200):
        fields = [ex.field(f"f{j}", TYPES[j % len(TYPES)], j == 0) for j in range(9)]
        fields.append(ex.field("parent_id", "String"))
        tables.append(
            ex.table("many", f"many_t{i:03d}", fields, indexes=[{"fields": ["f0", "f1"]}])
        )
        if i:
            rels.append(
                {
                    "source": f"many_t{i:03d}",
                    "sourceField": "parent_id",
                    "target": f"many_t{i - 1:03d}",
                    "targetField": "id",
                    "type": "OneToMany",
                }
            )
    return ex.document("many", tables, relationships=rels)


@contextmanager
def timed(report: dict[str, float], step: str) -> Iterator[None]:
    """Record the seconds ``step`` took."""
    start = time.perf_counter()
    yield
    report[step] = time.perf_counter() - start


def measure(make: Callable[[], dict[str, Any]], backend: Backend) -> dict[str, float]:
    """Validate, compile, plan and apply one large document."""
    report: dict[str, float] = {}
    data = make()
    with timed(report, "validate"):
        doc = validate_document(data)
    with timed(report, "ddl"):
        md = to_metadata(doc, backend.name, backend.schema)
        statements = [str(CreateTable(t).compile(backend.engine)) for t in creatable(md)]
    assert statements
    with backend.engine.begin() as conn, timed(report, "plan"):
        plan = plan_changes(doc, conn, force=False, schema=backend.schema)
    with backend.engine.begin() as conn, timed(report, "apply"):
        run(conn, plan.up_sql)
    with backend.engine.connect() as conn, timed(report, "replan"):
        assert plan_changes(doc, conn, force=False, schema=backend.schema).empty
        tables = sa.inspect(conn).get_table_names(schema=backend.schema)
    assert len(tables) == len(creatable(md))
    return report


@pytest.mark.parametrize("make", [wide_table, many_tables], ids=["1000-columns", "200-tables"])
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_large_documents(
    make: Callable[[], dict[str, Any]],
    db: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend: Backend = request.getfixturevalue("sqlite_backend" if db == "sqlite" else "pg_backend")
    backend.reset()
    report = measure(make, backend)
    backend.reset()
    shown = ", ".join(f"{step} {seconds * 1000:.0f} ms" for step, seconds in report.items())
    with capsys.disabled():
        print(f"\n[timing] {make.__name__} on {db}: {shown}")
