"""Periodic tasks run by Celery beat: the reconciler and scheduled rotation."""

from __future__ import annotations

import os
import sys
from typing import Any

from celery.signals import worker_init, worker_ready
from sqlalchemy import select

from tasks.base import service
from worker.celery_app import app
from worker.errors import TrackingOutOfDate
from worker.logging import get_logger
from worker.settings import Settings
from worker.states import DsStatus, Kind
from worker.tracking.db import make_engine, require_current
from worker.tracking.models import PluginDatasource, utcnow

log = get_logger("maintenance")


@app.task(name="plugin_db.reconcile")
def reconcile() -> dict[str, Any]:
    """Re-enqueue unfinished operations whose lease expired (lost messages, dead workers)."""
    stale = service().store.stale()
    for op_id in stale:
        app.send_task("plugin_db.resume", args=[{"operation_id": op_id}])
    if stale:
        log.info("operations_requeued", operation_ids=stale)
    return {"requeued": stale}


@app.task(name="plugin_db.rotate_due")
def rotate_due() -> dict[str, Any]:
    """Enqueue rotation for every ready plugin whose ``rotation.intervalDays`` has elapsed."""
    svc, now = service(), utcnow()
    with svc.sessions() as session:
        due = list(
            session.scalars(
                select(PluginDatasource.plugin_id).where(
                    PluginDatasource.status == DsStatus.READY.value,
                    PluginDatasource.next_rotation_at <= now,
                )
            )
        )
    for plugin_id in due:
        request_id = f"scheduled-rotation:{plugin_id}:{now:%Y%m%d%H}"
        app.send_task(
            Kind.ROTATE.task_name,
            args=[{"plugin_id": plugin_id, "request_id": request_id, "requested_by": "schedule"}],
        )
    return {"enqueued": due}


@worker_ready.connect
def _reconcile_on_start(**_: Any) -> None:
    """A restarted worker picks up what a dead one left behind."""
    app.send_task("plugin_db.reconcile")


@worker_init.connect
def _refuse_outdated_tracking(**_: Any) -> None:
    """The worker does not start on a tracking database behind the code."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except TrackingOutOfDate as exc:
        print(f"plugin-db: {exc}", file=sys.stderr)
        os._exit(3)
    finally:
        engine.dispose()
