"""Event tasks: relay the outbox, deliver webhook lanes, the periodic safety net, retirements."""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.base import service
from worker import failpoints
from worker.celery_app import app
from worker.errors import PluginDbError, TrackingUnavailable
from worker.events.relay import relay as relay_outbox
from worker.logging import get_logger
from worker.webhooks.delivery import Lane, due_lanes

log = get_logger("events")
DELIVER = "plugin_db.deliver_webhooks"


def _producer() -> Any:
    from tasks.maintenance import producer

    return producer()


def kick(lanes: set[tuple[str, str]] | list[tuple[str, str]]) -> None:
    """One delivery task per lane (duplicates are harmless: the lane's lease decides)."""
    for endpoint_id, plugin_id in sorted(lanes):
        _producer().send_task(DELIVER, args=[{"endpoint_id": endpoint_id, "plugin_id": plugin_id}])


def relay_and_kick(failpoint_prefix: str | None = None) -> int:
    """Relay the outbox in this process and start the lanes that got deliveries."""
    svc = service()
    points = svc.settings.failpoints if failpoint_prefix else ""
    failpoints.hit(points, f"{failpoint_prefix}:before")
    done = relay_outbox(svc.sessions, svc.settings, svc.box)
    failpoints.hit(points, f"{failpoint_prefix}:after_commit")
    kick(done.lanes)
    return done.events


def relay_quietly() -> None:
    """After an operation ran: relay now; on failure the periodic relay catches up."""
    try:
        relay_and_kick("relay")
    except (PluginDbError, OSError) as exc:
        log.warning("relay_deferred", error=str(exc))


@app.task(name="plugin_db.relay_events")
def relay_events() -> dict[str, Any]:
    """Relay every unrelayed outbox event, then deliver."""
    return {"relayed": relay_and_kick()}


@app.task(name=DELIVER, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver_webhooks(self: Task, request: dict[str, Any]) -> dict[str, Any]:
    """Deliver one (endpoint, plugin) lane in order; re-enqueued while its head waits."""
    svc = service()
    endpoint_id, plugin_id = str(request["endpoint_id"]), str(request["plugin_id"])
    try:
        wait = Lane(svc.sessions, svc.settings, svc.box, endpoint_id, plugin_id).run()
    except TrackingUnavailable as exc:
        log.warning("delivery_deferred", endpoint_id=endpoint_id, error=str(exc))
        wait = 5.0
    if wait is not None:
        _producer().send_task(DELIVER, args=[request], countdown=max(0.05, wait))
    return {"endpoint_id": endpoint_id, "plugin_id": plugin_id, "retry_in": wait}


@app.task(name="plugin_db.dispatch_events")
def dispatch_events() -> dict[str, Any]:
    """Periodic safety net: relay what a killed worker left, restart due lanes."""
    relayed = relay_and_kick()
    lanes = due_lanes(service().sessions)
    kick(lanes)
    return {"relayed": relayed, "lanes": len(lanes)}


@app.task(name="plugin_db.retire_due")
def retire_due() -> dict[str, Any]:
    """Periodic: retire logins acknowledged, unused, or past their grace period."""
    from worker.rotation.triggers import due

    svc = service()
    requests = due(svc.sessions, svc.provider, svc.settings.events.retire_check_seconds)
    for request in requests:
        _producer().send_task("plugin_db.retire_credentials", args=[request])
    return {"enqueued": [r["request_id"] for r in requests]}
