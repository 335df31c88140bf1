"""The doctor's fixed SELECTs (``worker/ops/rows.py``) answer alike through the command line's
driver-only reader and through sessions, on SQLite and PostgreSQL tracking databases.

One plugin with something for every per-plugin check that reads the tracking tables: a failed
migrate with the snapshot taken before it, a pending operation nobody picked up, a login
waiting past its grace period, quota enforcement that made it read-only; and a disabled
webhook for the fleet-wide check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from bench.cli import MANIFEST
from tests.support.env import unique_id
from worker.cli.reads import reader
from worker.ops import events_checks
from worker.ops.doctor import Doctor
from worker.ops.rows import SessionRows
from worker.settings import Settings
from worker.tracking.db import make_engine, make_sessionmaker
from worker.tracking.models import (
    CredentialRetirement,
    LifecycleOperation,
    PluginDatasource,
    PluginQuota,
    PluginSnapshot,
    WebhookEndpoint,
)

NOW = datetime.now(UTC).replace(microsecond=123456)
CHECKS = {
    "health",
    "failed_operation",
    "restore_point",
    "stuck_operation",
    "rotation_waiting",
    "quota_read_only",
}


def _seed(session: Session, plugin_id: str) -> None:
    """Something for each check of the plugin (it is being provisioned: no storage read)."""
    session.add(
        PluginDatasource(
            plugin_id=plugin_id,
            mode="exclusive-sqlite",
            provider="sqlite",
            status="provisioning",
            descriptor={"provider": "sqlite"},
            manifest={**MANIFEST, "id": plugin_id},
        )
    )
    failed = LifecycleOperation(
        plugin_id=plugin_id,
        kind="migrate",
        state="failed",
        current_step="apply",
        request_id=f"{plugin_id}-failed",
        error="boom",
        finished_at=NOW - timedelta(minutes=5),
        updated_at=NOW - timedelta(minutes=5),
    )
    stuck = LifecycleOperation(
        plugin_id=plugin_id,
        kind="teardown",
        state="pending",
        request_id=f"{plugin_id}-stuck",
        updated_at=NOW - timedelta(hours=1),
    )
    session.add_all([failed, stuck])
    session.flush()
    session.add_all(
        [
            PluginSnapshot(
                plugin_id=plugin_id,
                reason="before_migrate",
                state="ready",
                provider="sqlite",
                format="sqlite-backup",
                operation_id=failed.id,
                location="/nowhere",
                created_at=NOW - timedelta(minutes=6),
            ),
            CredentialRetirement(
                plugin_id=plugin_id,
                slot="a",
                login="old_login",
                generation=2,
                grace_until=NOW - timedelta(hours=2),
                state="pending",
            ),
            PluginQuota(
                plugin_id=plugin_id,
                size_bytes=2 << 20,
                limit_bytes=1 << 20,
                read_only=True,
                changed_at=NOW - timedelta(minutes=1),
            ),
            WebhookEndpoint(
                id=plugin_id,
                url="https://example.invalid/hook",
                secret_ciphertext="x",
                disabled_at=NOW,
                disabled_reason="gone",
            ),
        ]
    )


def test_the_reader_and_sessions_give_the_same_report(tracking_url: str, tmp_path: Path) -> None:
    """Given one plugin with a finding for each tracking check, both row sources agree."""
    plugin_id = unique_id("docrows")
    engine = make_engine(tracking_url)
    sessions = make_sessionmaker(engine)
    settings = Settings(database_url=tracking_url, data_dir=tmp_path, plugins_root=tmp_path)
    try:
        with sessions.begin() as session:
            _seed(session, plugin_id)
        via_orm = Doctor(settings, sessions, now=NOW).run(plugin_id, record=False).to_json()
        with reader(tracking_url) as rows:
            via_driver = Doctor(settings, now=NOW, rows=rows).run(plugin_id, record=False)
            hooks = events_checks.findings(rows, NOW)
        assert via_driver.to_json() == via_orm
        assert {f["check"] for f in via_orm["findings"]} == CHECKS
        assert [f.to_json() for f in hooks] == [
            f.to_json() for f in events_checks.findings(SessionRows(sessions), NOW)
        ]
        assert any(f.message.startswith(f"webhook endpoint {plugin_id} ") for f in hooks)
    finally:
        with sessions.begin() as session:  # the PostgreSQL database is the session's
            for model in (PluginSnapshot, CredentialRetirement, PluginQuota, LifecycleOperation):
                session.query(model).filter_by(plugin_id=plugin_id).delete()
            session.query(PluginDatasource).filter_by(plugin_id=plugin_id).delete()
            session.query(WebhookEndpoint).filter_by(id=plugin_id).delete()
        engine.dispose()
