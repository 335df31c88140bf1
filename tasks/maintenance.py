"""Periodic tasks run by Celery beat: reconciler, scheduled rotation, doctor, archive retention."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from functools import cache
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_ready
from sqlalchemy import select

from tasks.base import service
from tasks.preload import preload
from worker import metrics
from worker.celery_app import app, broker_url, create_producer
from worker.errors import TrackingOutOfDate
from worker.logging import get_logger
from worker.migrations.analysis import purge_dead
from worker.ops.doctor import Doctor
from worker.ops.findings import Severity
from worker.relocation.purge import purge_relocated
from worker.settings import Settings, process_settings
from worker.states import DsStatus, Kind
from worker.tracking.db import make_engine, require_current
from worker.tracking.models import PluginDatasource, utcnow

log = get_logger("maintenance")


@cache
def _app_for(settings: Settings) -> Celery:
    return create_producer(settings)


def producer() -> Celery:
    """The app to enqueue with: this process's own, unless the service's settings name
    another broker (the service's settings are the source of truth)."""
    settings = service().settings
    return app if app.conf.broker_url == broker_url(settings) else _app_for(settings)


@app.task(name="plugin_db.reconcile")
def reconcile(startup: bool = False) -> dict[str, Any]:
    """Re-enqueue unfinished operations whose lease expired (lost messages, dead workers).

    Producers record an operation before they send its message, so an operation whose
    message the broker lost is still found here. At ``startup`` every unclaimed operation
    counts at once (a duplicate message is harmless: the lease lets one run).
    """
    stale = service().store.stale(5000, min_idle=0) if startup else service().store.stale()
    for op_id in stale:
        producer().send_task("plugin_db.resume", args=[{"operation_id": op_id}])
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
        producer().send_task(
            Kind.ROTATE.task_name,
            args=[{"plugin_id": plugin_id, "request_id": request_id, "requested_by": "schedule"}],
        )
    return {"enqueued": due}


@app.task(name="plugin_db.doctor")
def doctor() -> dict[str, Any]:
    """Run ``plugin-db doctor``: log a summary and every problem; audit plugins over limit."""
    svc = service()
    report = Doctor(svc.settings, svc.sessions).run()
    metrics.storage_measured(report.sizes)
    for finding in report.problems:
        emit = log.error if finding.severity is Severity.ERROR else log.warning
        emit("doctor_finding", **finding.to_json())
    log.info("doctor_summary", summary=report.summary, over_limit=report.over_limit)
    data = report.to_json()
    return {key: data[key] for key in ("plugins_checked", "warnings", "errors", "over_limit")}


@app.task(name="plugin_db.purge_analyses")
def purge_analyses() -> dict[str, Any]:
    """Delete the stored migration analyses that no worker of this version can reuse (made by
    other rules, a week ago or more)."""
    purged = purge_dead(service().sessions)
    if purged:
        log.info("analyses_purged", count=purged)
    return {"purged": purged}


@app.task(name="plugin_db.purge_archives")
def purge_archives() -> dict[str, Any]:
    """Purge (teardown purge=true) plugins archived longer than ``archive_retention_days``,
    and the storage relocations left archived once their ``purge_after`` has passed."""
    svc = service()
    cutoff = utcnow() - timedelta(days=svc.settings.archive_retention_days)
    with svc.sessions() as session:
        expired = list(
            session.execute(
                select(PluginDatasource.plugin_id, PluginDatasource.archived_at).where(
                    PluginDatasource.status == DsStatus.ARCHIVED.value,
                    PluginDatasource.archived_at.is_not(None),
                    PluginDatasource.archived_at < cutoff,
                )
            )
        )
    enqueued = []
    for plugin_id, archived_at in expired:
        request = {
            "plugin_id": plugin_id,
            "purge": True,
            "request_id": f"archive-retention:{plugin_id}:{archived_at:%Y-%m-%d}",
            "requested_by": "schedule",
        }
        producer().send_task(Kind.TEARDOWN.task_name, args=[request])
        enqueued.append(plugin_id)
    if enqueued:
        log.info("archives_purge_enqueued", plugin_ids=enqueued, cutoff=cutoff.isoformat())
    relocated = purge_relocated(svc.sessions, svc.targets)
    return {"enqueued": enqueued, "relocation_sources": relocated}


@worker_ready.connect
def _reconcile_on_start(**_: Any) -> None:
    """A restarted worker picks up what a dead one left behind."""
    app.send_task("plugin_db.reconcile", kwargs={"startup": True})


@worker_init.connect
def _refuse_outdated_tracking(**_: Any) -> None:
    """The worker does not start on a tracking database behind the code; then it starts its
    metrics exporter (``PLUGIN_DB_METRICS_PORT``) and preloads what operations import, before
    the pool forks."""
    settings = process_settings()
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)
    except TrackingOutOfDate as exc:
        print(f"plugin-db: {exc}", file=sys.stderr)
        os._exit(3)
    finally:
        engine.dispose()
    metrics.serve_worker(settings)
    preload()
