"""The command line's driver-only reads (``worker/cli/reads.py``) stay in step with the ORM models.

Those reads state their SELECTs a second time, without SQLAlchemy, so that a read answers in a
fresh process at once; these tests fail when a tracking table changes and they do not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.orm import Session

from tests.support.env import unique_id
from worker.cli import reads
from worker.tracking.db import make_engine
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource

SELECTS: list[tuple[str, Table]] = [
    (reads.DS_COLUMNS, PluginDatasource.__table__),  # type: ignore[list-item]
    (reads.OP_COLUMNS, LifecycleOperation.__table__),  # type: ignore[list-item]
    (reads.AUDIT_COLUMNS, AuditEvent.__table__),  # type: ignore[list-item]
]
WHEN = datetime(2026, 11, 30, 5, 6, 7, 891011, tzinfo=UTC)


def _names(columns: str) -> list[str]:
    return [name.strip() for name in columns.split(",")]


@pytest.mark.parametrize(("columns", "table"), SELECTS, ids=lambda v: getattr(v, "name", ""))
def test_every_column_read_exists_and_is_decoded_as_its_type(columns: str, table: Table) -> None:
    """Given a fixed SELECT, each column is in the model's table and JSON/time ones are decoded."""
    for name in _names(columns):
        assert name in table.c, f"{table.name}.{name} is read but the model has no such column"
        column_type = table.c[name].type
        assert (name in reads.JSON_COLUMNS) == isinstance(column_type, JSON), name
        assert (name in reads.TIME_COLUMNS) == isinstance(column_type, DateTime), name


def _seed(session: Session, plugin_id: str) -> int:
    """One datasource, one finished operation and one audit event, every column set."""
    session.add(
        PluginDatasource(
            plugin_id=plugin_id,
            mode="exclusive-sqlite",
            provider="sqlite",
            target="sqlite",
            status="ready",
            descriptor={"kind": "sqlite", "nested": {"n": [1, 2]}},
            rotated_at=WHEN,
            archived_at=WHEN,
            next_rotation_at=WHEN + timedelta(days=30),
        )
    )
    op = LifecycleOperation(
        plugin_id=plugin_id,
        kind="provision",
        state="succeeded",
        current_step="activate",
        steps=[{"name": "create_storage", "status": "done", "ms": 1.5}],
        request_id=f"parity-{plugin_id}",
        requested_by="cli",
        attempts=1,
        crashes=0,
        error="none",
        result={"ok": True},
        finished_at=WHEN,
    )
    session.add(op)
    session.flush()
    session.add(
        AuditEvent(
            plugin_id=plugin_id,
            operation_id=op.id,
            event="operation_succeeded",
            actor="cli",
            details={"kind": "provision"},
            timestamp=WHEN,
        )
    )
    return op.id


def _orm(row: Any, columns: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _names(columns)}


def _same_instant(a: Any, b: Any) -> bool:
    """Two datetimes name the same instant (a naive one is UTC, as the tracking clock is)."""
    if not (isinstance(a, datetime) and isinstance(b, datetime)):
        return bool(a == b)
    return a.replace(tzinfo=a.tzinfo or UTC) == b.replace(tzinfo=b.tzinfo or UTC)


def _assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    assert found.keys() == expected.keys()
    for name, value in expected.items():
        assert _same_instant(found[name], value), (name, found[name], value)
        assert type(found[name]) is type(value), (name, found[name], value)


def test_reads_return_what_the_orm_returns(tracking_url: str) -> None:
    """Given rows written through the models, each read returns the values the ORM reads."""
    engine = make_engine(tracking_url)
    plugin_id = unique_id("parity")
    try:
        with Session(engine) as session, session.begin():
            op_id = _seed(session, plugin_id)
        with Session(engine) as session, reads.reader(tracking_url) as reader:
            ds = session.get(PluginDatasource, plugin_id)
            op = session.get(LifecycleOperation, op_id)
            events = session.query(AuditEvent).filter_by(plugin_id=plugin_id).all()
            found_ds = reader.datasource(plugin_id)
            assert ds is not None and op is not None and found_ds is not None
            _assert_same(found_ds, _orm(ds, reads.DS_COLUMNS))
            (found_op,) = reader.operations(plugin_id, "succeeded", 10)
            _assert_same(found_op, _orm(op, reads.OP_COLUMNS))
            found_one = reader.operation(op_id)
            assert found_one is not None
            _assert_same(found_one, _orm(op, reads.OP_COLUMNS))
            (found_event,) = reader.audit(plugin_id, 10)
            _assert_same(found_event, _orm(events[0], reads.AUDIT_COLUMNS))
    finally:
        with Session(engine) as session, session.begin():
            session.query(AuditEvent).filter_by(plugin_id=plugin_id).delete()
            session.query(LifecycleOperation).filter_by(plugin_id=plugin_id).delete()
            session.query(PluginDatasource).filter_by(plugin_id=plugin_id).delete()
        engine.dispose()
