"""Periodic snapshot retention and quota enforcement (thin: the work is in worker/)."""

from __future__ import annotations

from typing import Any

from tasks.base import service
from worker.celery_app import app
from worker.logging import get_logger
from worker.quotas import Quotas
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


@app.task(name="plugin_db.quotas_enforce")
def quotas_enforce() -> dict[str, Any]:
    """``plugin-db quotas enforce``: read-only over ``limits.storageMb``, writable below 95 %."""
    svc = service()
    checks = Quotas(svc.settings, svc.sessions).enforce()
    for check in checks:
        if check.action or check.error:
            log.info("quota_checked", **check.to_json())
    return {"measured": len(checks), "changed": [c.plugin_id for c in checks if c.action]}
