"""A manifest-only request (teardown, rotate, restore, ...) recorded through the database driver
(``worker/cli/record.py``) is refused or accepted as the intake decides, and writes the rows
the operation store and the audit trail write, on SQLite and PostgreSQL tracking databases."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.cli import MANIFEST
from tests.support.env import unique_id
from worker.cli import output, producer
from worker.cli.reads import reader
from worker.cli.record import DriverService
from worker.errors import Conflict, RequestRejected
from worker.lifecycle import submit
from worker.lifecycle.manifests import MANIFEST_ONLY
from worker.states import Kind
from worker.tracking.db import make_engine, make_sessionmaker
from worker.tracking.models import LifecycleOperation, PluginDatasource

Record = Callable[[Kind, dict[str, Any]], tuple[Any, bool]]
VOLATILE = {"id", "request_id", "task_id", "created_at", "updated_at", "timestamp"}


@pytest.fixture
def tracking_url(
    tracking_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """An up-to-date tracking database the command line's settings point at."""
    url = tracking_url
    monkeypatch.setenv("PLUGIN_DB_DATABASE_URL", url)
    monkeypatch.setenv("PLUGIN_DB_PLUGINS_ROOT", str(tmp_path / "plugins"))
    output.settings.cache_clear()
    output.sessions.cache_clear()
    yield url
    output.sessions().kw["bind"].dispose()
    output.settings.cache_clear()
    output.sessions.cache_clear()


def _seed(url: str, plugin_id: str, status: str, pending: bool = False) -> None:
    """A plugin's datasource in ``status`` (and a provision not finished yet)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            manifest = {**MANIFEST, "id": plugin_id}
            session.add(
                PluginDatasource(
                    plugin_id=plugin_id,
                    mode="exclusive-sqlite",
                    provider="sqlite",
                    status=status,
                    descriptor={},
                    manifest=manifest if status != "deleted" else None,
                )
            )
            if pending:
                request = {"plugin_id": plugin_id, "manifest": manifest}
                session.add(
                    LifecycleOperation(
                        plugin_id=plugin_id,
                        kind="provision",
                        state="pending",
                        request=request,
                        request_id=str(uuid.uuid4()),
                    )
                )
    finally:
        engine.dispose()


def _through_the_intake(kind: Kind, payload: dict[str, Any]) -> tuple[Any, bool]:
    service = producer.service()
    try:
        return submit.record(service, kind, payload)
    except RequestRejected as exc:
        submit._audit_rejection(service, kind, payload, exc)
        raise


def _through_the_driver(kind: Kind, payload: dict[str, Any]) -> tuple[Any, bool]:
    return producer.record(kind, payload)


def _written(url: str, plugin_id: str, request_id: str) -> list[dict[str, Any]]:
    """The operation and the audit events a request left, without ids and clocks (the
    clocks' stored form is kept: SQLite compares timestamps as text)."""
    with reader(url) as found:
        rows = found.rows("SELECT * FROM lifecycle_operations WHERE request_id = ?", [request_id])
        rows += found.rows("SELECT * FROM audit_events WHERE plugin_id = ?", [plugin_id])
        if found.backend == "sqlite":
            stamps = found.conn.execute(
                "SELECT created_at || updated_at FROM lifecycle_operations WHERE request_id = ? "
                "UNION ALL SELECT timestamp FROM audit_events WHERE plugin_id = ?",
                [request_id, plugin_id],
            ).fetchall()
            rows.append({"stamps": [re.sub(r"\d", "9", stamp) for (stamp,) in stamps]})
    for row in rows:
        for key in VOLATILE & set(row):
            row[key] = None
        if isinstance(row.get("request"), dict):
            row["request"].pop("request_id", None)
        if isinstance(row.get("details"), dict):
            row["details"].pop("request_id", None)
        row.pop("operation_id", None)
    return rows


def _outcome(record: Record, kind: Kind, payload: dict[str, Any]) -> str:
    try:
        _op, created = record(kind, payload)
    except RequestRejected as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"created={created}"


EXTRA: dict[Kind, dict[str, Any]] = {
    Kind.RESTORE_SNAPSHOT: {"snapshot_id": 7},
    Kind.RETIRE: {"retirement_id": 3, "trigger": "ack"},
}
"""What a kind's request carries besides its plugin."""
CASES = [("ready", False), ("deleted", False), ("deleted", True), (None, False)]


@pytest.mark.parametrize(("status", "pending"), CASES)
def test_the_driver_records_what_the_intake_records(
    tracking_url: str, status: str | None, pending: bool
) -> None:
    """Given a ready plugin, a deleted one (with and without a provision pending) and an
    unknown one, each manifest-only kind is refused or recorded alike by both paths."""
    for kind in sorted(MANIFEST_ONLY):
        seen = []
        for record in (_through_the_intake, _through_the_driver):
            plugin_id = unique_id("parity")
            if status is not None:
                _seed(tracking_url, plugin_id, status, pending)
            request_id = f"cli-{uuid.uuid4()}"
            payload = {"plugin_id": plugin_id, "request_id": request_id, "requested_by": "cli"}
            payload |= EXTRA.get(kind, {})
            outcome = _outcome(record, kind, payload).replace(plugin_id, "P")
            written = _written(tracking_url, plugin_id, request_id)
            seen.append((outcome, repr(written).replace(plugin_id, "P")))
        assert seen[0] == seen[1], (kind, status, pending)


def test_a_request_id_used_already_finds_its_operation(tracking_url: str) -> None:
    """Given a request recorded through the driver, the same request_id returns that
    operation (created False), and names a conflict for another kind."""
    plugin_id = unique_id("parity")
    _seed(tracking_url, plugin_id, "ready")
    payload = {"plugin_id": plugin_id, "request_id": f"cli-{uuid.uuid4()}", "requested_by": "cli"}
    op, created = producer.record(Kind.ROTATE, payload)
    again, created_again = producer.record(Kind.ROTATE, payload)
    assert created and not created_again and again.id == op.id
    with pytest.raises(Conflict):
        producer.record(Kind.TEARDOWN, payload)
    with reader(tracking_url) as found:
        service = DriverService(output.settings(), found)
        taken, inserted = service.store.insert(
            kind=Kind.ROTATE,
            plugin_id=plugin_id,
            request_id=payload["request_id"],
            request={},
            actor="cli",
            task_id=None,
        )
    assert not inserted and taken.id == op.id  # the unique request_id, raced
