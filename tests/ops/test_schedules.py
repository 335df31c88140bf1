"""The beat schedule and its tasks, called in-process (``task.run()``) against the ops stack."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select, update

from tasks.maintenance import doctor, purge_analyses, purge_archives, rotate_due
from tests.ops.helpers import login_for, provision, settings_of
from tests.support.stack import Stack
from worker.celery_app import beat_schedule
from worker.migrations.analysis import RULES
from worker.settings import Settings
from worker.tracking.models import MigrationAnalysis, PluginDatasource, utcnow

NOTHING: dict[str, list[str]] = {"purged": [], "superseded": [], "failed": []}


def _set(stack: Stack, plugin_id: str, **values: object) -> None:
    with stack.sessions.begin() as session:
        session.execute(
            update(PluginDatasource).where(PluginDatasource.plugin_id == plugin_id).values(values)
        )


def test_beat_schedules_doctor_and_archive_retention() -> None:
    """Doctor every ``doctor_interval_seconds`` (1 h by default); retention hourly."""
    schedule = beat_schedule(Settings(doctor_interval_seconds=120.0))
    assert schedule["doctor"] == {"task": "plugin_db.doctor", "schedule": 120.0}
    assert schedule["purge-archives"]["task"] == "plugin_db.purge_archives"
    assert schedule["purge-analyses"] == {"task": "plugin_db.purge_analyses", "schedule": 86400.0}
    assert {"reconcile", "rotate-due"} <= set(schedule)
    assert beat_schedule(Settings())["doctor"]["schedule"] == 3600.0
    assert (
        Settings.from_env({"PLUGIN_DB_DOCTOR_INTERVAL_SECONDS": "90"}).doctor_interval_seconds == 90
    )


def test_purge_archives_purges_only_past_retention(ops_stack: Stack, task_env: None) -> None:
    """Archived longer than archive_retention_days: purged (request id per archive date)."""
    old, recent = provision(ops_stack, "sq", "sq")
    for plugin_id in (old, recent):
        assert ops_stack.run("plugin_db.teardown", {"plugin_id": plugin_id}).state == "succeeded"
    days = settings_of(ops_stack).archive_retention_days
    archived_old = utcnow() - timedelta(days=days, hours=1)
    _set(ops_stack, old, archived_at=archived_old)
    _set(ops_stack, recent, archived_at=utcnow() - timedelta(days=days) + timedelta(minutes=5))

    assert purge_archives.run()["enqueued"] == [old]
    request_id = f"archive-retention:{old}:{archived_old:%Y-%m-%d}"
    op = ops_stack.wait(request_id, timeout=30)
    assert op.state == "succeeded" and op.kind == "teardown" and op.requested_by == "schedule"
    assert op.request["purge"] is True
    assert ops_stack.datasource(old).status == "deleted"  # type: ignore[union-attr]
    assert ops_stack.datasource(recent).status == "archived"  # type: ignore[union-attr]
    assert purge_archives.run() == {"enqueued": [], "relocation_sources": NOTHING}


def test_doctor_task_summarises(ops_stack: Stack, task_env: None) -> None:
    """The periodic doctor returns counts (and logs), never raising on findings."""
    provision(ops_stack, "sh")
    result = doctor.run()
    assert set(result) == {"plugins_checked", "warnings", "errors", "over_limit"}
    assert result["plugins_checked"] >= 1 and result["over_limit"] == []


def test_scheduled_rotation_happens_through_the_worker(ops_stack: Stack, task_env: None) -> None:
    """A due next_rotation_at: rotate_due enqueues, the worker rotates to the other login."""
    (plugin_id,) = provision(ops_stack, "pg", rotation={"intervalDays": 30})
    before = login_for(ops_stack, plugin_id)
    _set(ops_stack, plugin_id, next_rotation_at=utcnow() - timedelta(minutes=1))

    assert plugin_id in rotate_due.run()["enqueued"]

    def rotated() -> bool:
        return any(
            o.kind == "rotate_credentials" and o.state == "succeeded"
            for o in ops_stack.ops(plugin_id)
        )

    ops_stack.wait_until(rotated, timeout=30, what="scheduled rotation")
    op = next(o for o in ops_stack.ops(plugin_id) if o.kind == "rotate_credentials")
    assert op.request_id.startswith(f"scheduled-rotation:{plugin_id}:")
    assert op.requested_by == "schedule"
    ds = ops_stack.datasource(plugin_id)
    assert ds is not None and ds.rotated_at is not None
    assert ds.next_rotation_at is not None and ds.next_rotation_at > utcnow().replace(tzinfo=None)
    after = login_for(ops_stack, plugin_id)
    assert before is not None and after is not None and after.username != before.username


def test_purge_analyses_drops_only_old_analyses_of_other_rules(
    ops_stack: Stack, task_env: None
) -> None:
    """Analyses of other rules (or of none recorded) a week old go; this version's stay, and
    so do another version's recent ones (a rolling upgrade runs both)."""
    week_ago = utcnow() - timedelta(days=7, minutes=1)
    rows = {
        "old-other": ("0" * 16, week_ago),
        "old-unknown": (None, week_ago),
        "old-current": (RULES, week_ago),
        "recent-other": ("0" * 16, utcnow()),
    }
    with ops_stack.sessions.begin() as session:
        session.execute(
            insert(MigrationAnalysis),
            [
                {"key": k, "dialect": "sqlite", "body": {}, "rules": r, "created_at": at}
                for k, (r, at) in rows.items()
            ],
        )
    assert purge_analyses.run() == {"purged": 2}
    with ops_stack.sessions() as session:
        left = set(
            session.scalars(select(MigrationAnalysis.key).where(MigrationAnalysis.key.in_(rows)))
        )
    assert left == {"old-current", "recent-other"}
    assert purge_analyses.run() == {"purged": 0}
