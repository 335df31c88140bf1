"""Periodic snapshot retention and quota enforcement (thin: the work is in worker/)."""

from __future__ import annotations

from typing import Any

from tasks.base import service
from worker.celery_app import app
from worker.logging import get_logger
from worker.snapshots.policy import apply_retention

log = get_logger("safety")


@app.task(name="plugin_db.snapshot_retention")
def snapshot_retention() -> dict[str, Any]:
    """Delete snapshots past ``snapshots.keep``/``keepDays`` (never the way back from an
    applied migration)."""
    svc = service()
    deleted = apply_retention(svc.settings, svc.sessions)
    if deleted:
        log.info("snapshots_deleted", deleted=deleted)
    return {"deleted": deleted}
