"""Statements run on the driver's cursor (``worker.tracking.direct``) write what
``Connection.execute`` writes, on SQLite and PostgreSQL tracking databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, Table, bindparam, event, select
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.support.stack import upgrade
from worker.errors import TrackingUnavailable
from worker.tracking.db import make_engine, tracking_errors
from worker.tracking.direct import Direct
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource

OPS = cast(Table, LifecycleOperation.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
DS = cast(Table, PluginDatasource.__table__)
WHEN = datetime(2026, 11, 30, 12, 34, 56, 789012, tzinfo=UTC)
FENCE = (
    OPS.update()
    .where(OPS.c.id == bindparam("f_id"), OPS.c.version == bindparam("f_version"))
    .values(
        steps=bindparam("v_steps"),
        lease_expires_at=bindparam("v_lease"),
        error=bindparam("v_error"),
        updated_at=bindparam("v_lease"),
        version=OPS.c.version + 1,
    )
)


@pytest.fixture
def engine(tracking_url: str) -> Iterator[Engine]:
    """An up-to-date tracking database's engine."""
    made = make_engine(tracking_url)
    yield made
    with made.begin() as conn:
        conn.execute(AUDIT.delete().where(AUDIT.c.event.like("direct_%")))
        conn.execute(OPS.delete().where(OPS.c.request_id.like("direct-%")))
    made.dispose()


def _new_op(engine: Engine, tag: str) -> int:
    now = datetime.now(UTC)
    values = {
        "plugin_id": "direct-p",
        "kind": "provision",
        "state": "running",
        "steps": [],
        "request": {},
        "request_id": f"direct-{tag}",
        "attempts": 1,
        "crashes": 0,
        "version": 1,
        "result": {},
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as conn:
        return int(conn.execute(OPS.insert(), values).inserted_primary_key[0])


def _row(engine: Engine, table: Table, where: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(where)).mappings().one())


def test_update_writes_what_core_writes(engine: Engine) -> None:
    """A fenced UPDATE with JSON, a time and an expression leaves the row Core leaves."""
    core, direct = _new_op(engine, "core"), _new_op(engine, "direct")
    steps = [{"name": "create_storage", "status": "done", "ms": 1.5, "detail": {"é": None}}]
    values = {"f_version": 1, "v_steps": steps, "v_lease": WHEN, "v_error": None}
    with engine.begin() as conn:
        assert conn.execute(FENCE, {"f_id": core, **values}).rowcount == 1
        assert Direct(FENCE).run(conn, {"f_id": direct, **values}) == 1
    mine, theirs = (_row(engine, OPS, OPS.c.id == op) for op in (direct, core))
    for key in ("steps", "lease_expires_at", "updated_at", "error", "version"):
        assert mine[key] == theirs[key], key
    assert mine["version"] == 2 and mine["steps"] == steps


def test_fence_that_matches_nothing_counts_zero(engine: Engine) -> None:
    """The driver's row count says when the fence's conditions matched no row."""
    op = _new_op(engine, "stale")
    values = {"f_id": op, "f_version": 7, "v_steps": [], "v_lease": WHEN, "v_error": "x"}
    with engine.begin() as conn:
        assert Direct(FENCE).run(conn, values) == 0
    assert _row(engine, OPS, OPS.c.id == op)["version"] == 1


def test_insert_of_several_rows_matches_core(engine: Engine) -> None:
    """Several audit rows in one call are the rows Core's executemany writes."""
    rows = [
        {
            "plugin_id": "direct-p",
            "operation_id": None,
            "event": f"direct_{way}",
            "actor": "t",
            "details": {"n": n, "at": "x"},
            "timestamp": WHEN + timedelta(seconds=n),
        }
        for way in ("core", "mine")
        for n in range(3)
    ]
    with engine.begin() as conn:
        conn.execute(AUDIT.insert(), rows[:3])
        assert Direct(AUDIT.insert()).run(conn, rows[3:]) in (3, -1)  # -1: count unknown
    with engine.connect() as conn:
        found = conn.execute(select(AUDIT).where(AUDIT.c.event.like("direct_%"))).mappings()
        by_way: dict[str, list[tuple[Any, ...]]] = {"direct_core": [], "direct_mine": []}
        for row in found:
            by_way[row["event"]].append((row["details"], row["timestamp"], row["actor"]))
    assert sorted(by_way["direct_core"], key=str) == sorted(by_way["direct_mine"], key=str)
    assert len(by_way["direct_mine"]) == 3


def test_listeners_see_each_statement(engine: Engine) -> None:
    """``before_cursor_execute`` listeners see a statement sent on the driver."""
    seen: list[str] = []

    def listen(*args: Any) -> None:
        seen.append(args[2])

    op = _new_op(engine, "listen")
    event.listen(engine, "before_cursor_execute", listen)
    try:
        with engine.begin() as conn:
            values = {"f_id": op, "f_version": 1, "v_steps": [], "v_lease": WHEN, "v_error": None}
            Direct(FENCE).run(conn, values)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(seen) == 1 and seen[0].startswith("UPDATE lifecycle_operations")


def test_refuses_what_it_cannot_run_exactly(engine: Engine) -> None:
    """A missing value with a Python default, or an expanding IN, is refused before a write."""
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="every value given"):
            Direct(DS.insert()).run(conn, {"plugin_id": "direct-x", "status": "ready"})
        statement = DS.delete().where(DS.c.status.in_(bindparam("s", expanding=True)))
        with pytest.raises(ValueError, match="expanding"):
            Direct(statement).run(conn, {"s": ["ready"]})


def test_a_duplicate_key_is_an_integrity_error(engine: Engine) -> None:
    """A unique violation raises SQLAlchemy's IntegrityError, as ``Connection.execute`` does,
    with the parameters left out of its message."""
    op = _new_op(engine, "dup")
    row = {k: v for k, v in _row(engine, OPS, OPS.c.id == op).items() if k != "id"}
    with engine.begin() as conn, pytest.raises(IntegrityError) as raised:
        Direct(OPS.insert()).run(conn, {**row, "task_id": "a-parameter-value"})
    assert "a-parameter-value" not in str(raised.value)
    assert "[parameters:" not in str(raised.value)


def test_a_lost_connection_is_an_invalidated_operational_error(pg_tracking_url: str) -> None:
    """A connection the server dropped raises an invalidated OperationalError, which the
    tracking boundary turns into TrackingUnavailable (retried)."""
    upgrade(pg_tracking_url)
    engine = make_engine(pg_tracking_url)
    try:
        op = _new_op(engine, "lost")
        values = {"f_id": op, "f_version": 1, "v_steps": [], "v_lease": WHEN, "v_error": None}
        with engine.connect() as conn:
            pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
            with engine.connect() as other:
                other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
                other.commit()
            with pytest.raises(OperationalError) as raised:
                Direct(FENCE).run(conn, values)
        assert raised.value.connection_invalidated
        with pytest.raises(TrackingUnavailable), tracking_errors():
            raise raised.value
        with engine.begin() as conn:
            conn.execute(OPS.delete().where(OPS.c.id == op))
    finally:
        engine.dispose()
