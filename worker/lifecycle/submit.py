"""Producers' side: record a request as a ``pending`` operation, then enqueue it.

The row is written before the message is sent, so a message lost on the way (a broker
restarted without persistence) leaves a recorded operation that the reconciler re-sends.
The HTTP API and the command line both submit this way; the worker's ``accept`` finds the
row by ``request_id`` and runs it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from worker.errors import Conflict, RequestRejected
from worker.lifecycle.requests import parse_request
from worker.logging import get_logger
from worker.naming import PLUGIN_ID_RE
from worker.states import Kind, OpState

if TYPE_CHECKING:  # a producer (the command line) need not load the runner and its engines
    from celery import Celery

    from worker.lifecycle.service import LifecycleService
    from worker.tracking.models import LifecycleOperation

log = get_logger("submit")


def record(
    service: LifecycleService, kind: Kind, payload: dict[str, Any]
) -> tuple[LifecycleOperation, bool]:
    """Validate and record ``payload`` (which carries its request_id); returns (row, created).

    A request_id already used returns its operation (Conflict if it named another request);
    RequestRejected means nothing was recorded.
    """
    request_id = str(payload["request_id"])
    existing = service.store.by_request_id(request_id)
    if existing is None:
        request = parse_request(kind, payload)
        keep = service.validate(kind, request)  # committed with the row (parsed analyses)
        existing, created = service.store.insert(
            kind=kind,
            plugin_id=request.plugin_id,
            request_id=request_id,
            request=request.model_dump(mode="json", by_alias=True, exclude_none=True),
            actor=request.requested_by,
            task_id=str(uuid.uuid4()),
            before=keep,
        )
        if created:
            return existing, True
    if existing.kind != kind.value or existing.plugin_id != payload.get("plugin_id"):
        raise Conflict(
            "idempotency key reused",
            [
                f"Idempotency-Key: {request_id!r} already names operation {existing.id} "
                f"({existing.kind} of {existing.plugin_id}); use a new key for a new request"
            ],
        )
    return existing, False


def send(celery: Celery, op: LifecycleOperation) -> bool:
    """Enqueue a recorded operation's public task; False if the broker refused it.

    A refused send is not an error for the caller: the operation is recorded and the
    reconciler re-sends it.
    """
    try:
        celery.send_task(Kind(op.kind).task_name, args=[op.request], task_id=op.task_id)
    except Exception as exc:  # the broker's client raises many types; the row is the truth
        log.warning("enqueue_failed", operation_id=op.id, error=type(exc).__name__)
        return False
    return True


def submit(
    service: LifecycleService, celery: Celery, kind: Kind, payload: dict[str, Any]
) -> tuple[LifecycleOperation, bool]:
    """Record, then (for a new operation) enqueue; returns (row, created)."""
    try:
        op, created = record(service, kind, payload)
    except RequestRejected as exc:
        _audit_rejection(service, kind, payload, exc)
        raise
    if created:
        send(celery, op)
    return op, created


def accept_and_send(
    service: LifecycleService, celery: Celery, kind: Kind, payload: dict[str, Any]
) -> LifecycleOperation:
    """Like the worker's ``accept`` (a rejection is recorded as a ``rejected`` operation),
    then enqueue what was accepted; for producers that poll operations by request_id."""
    task_id = str(uuid.uuid4())
    op = service.store.get(service.accept(kind, payload, (), task_id))
    assert op is not None
    if op.state == OpState.PENDING and op.task_id == task_id:
        send(celery, op)
    return op


def _audit_rejection(
    service: LifecycleService, kind: Kind, payload: dict[str, Any], exc: RequestRejected
) -> None:
    """Bad input changes nothing but leaves an audit event naming what was wrong."""
    from worker import audit

    plugin_id, actor, details = rejection(kind, payload, exc)
    with service.sessions.begin() as session:
        audit.record(session, "request_rejected", plugin_id=plugin_id, actor=actor, **details)


def rejection(
    kind: Kind, payload: dict[str, Any], exc: RequestRejected
) -> tuple[str | None, str | None, dict[str, Any]]:
    """The ``request_rejected`` audit event of a refused request: (plugin id if it is one,
    actor, details)."""
    plugin_id = payload.get("plugin_id")
    shown = plugin_id if isinstance(plugin_id, str) and PLUGIN_ID_RE.fullmatch(plugin_id) else None
    actor = payload.get("requested_by")
    return (
        shown,
        actor if isinstance(actor, str) else None,
        {"kind": kind.value, "errors": exc.problems},
    )
