"""The Celery application: queue ``plugin-db``, JSON only, late acks, events on for Flower.

Messages that are not the contract's shape are refused before a task sees them, and recorded
as ``message_rejected`` audit events: :class:`AuditingConsumer` checks each task message
(JSON content, a ``[args, kwargs, embed]`` body, bounded nesting) and
:class:`GuardedRedisTransport` drops what is not even a message envelope, which kombu would
otherwise raise into the worker's event loop and end the worker.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery
from celery.exceptions import InvalidTaskError
from celery.worker.consumer.consumer import Consumer
from kombu.exceptions import ContentDisallowed
from kombu.transport import redis as redis_transport
from kombu.transport import virtual

from worker.settings import Settings

QUEUE = "plugin-db"
MAX_MESSAGE_DEPTH = 64  # a request nests a manifest or schema document (<= 32 levels each)
_SHOWN = 200


def broker_options(settings: Settings) -> dict[str, Any]:
    """Transport options: a visibility timeout above the longest backoff, or embedded folders."""
    if settings.uses_filesystem_broker:
        folder = settings.data_dir / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    return {"visibility_timeout": settings.visibility_timeout}


def result_backend(settings: Settings) -> str:
    """Results go next to the broker: Redis, or files for the embedded default."""
    if settings.result_backend:
        return settings.result_backend
    if settings.uses_filesystem_broker:
        folder = settings.data_dir / "results"
        folder.mkdir(parents=True, exist_ok=True)
        return f"file://{folder}"
    return settings.broker_url


def create_app(settings: Settings) -> Celery:
    """A configured Celery app whose tasks are the public contract's."""
    app = Celery("plugin_db", include=["tasks.lifecycle", "tasks.maintenance"])
    options = broker_options(settings)
    app.conf.update(
        broker_url=settings.broker_url,
        result_backend=result_backend(settings),
        broker_transport_options=options,
        result_backend_transport_options=options if not settings.uses_filesystem_broker else {},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_default_exchange=QUEUE,
        task_default_routing_key=QUEUE,
        task_routes={"plugin_db.*": {"queue": QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        result_expires=7 * 24 * 3600,
        result_extended=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule=beat_schedule(settings),
        timezone="UTC",
        worker_consumer="worker.celery_app:AuditingConsumer",
    )
    if settings.broker_url.split("://", 1)[0] in ("redis", "rediss"):
        app.conf.broker_transport = "worker.celery_app:GuardedRedisTransport"
    app.conf.plugin_db_settings = settings
    return app


def beat_schedule(settings: Settings) -> dict[str, Any]:
    """Periodic work: reconcile, rotate due credentials, the doctor, purge expired archives."""
    reconcile_every = max(5.0, settings.lease_seconds / 2)
    return {
        "reconcile": {"task": "plugin_db.reconcile", "schedule": reconcile_every},
        "rotate-due": {"task": "plugin_db.rotate_due", "schedule": 3600.0},
        "doctor": {"task": "plugin_db.doctor", "schedule": settings.doctor_interval_seconds},
        "purge-archives": {"task": "plugin_db.purge_archives", "schedule": 3600.0},
    }


app = create_app(Settings.from_env())


# -- messages that are not the contract's shape -------------------------------------------


def _text(value: object, limit: int = _SHOWN) -> str | None:
    """``value`` as storable text: lone surrogates and NUL escaped, cut to ``limit``."""
    if value is None:
        return None
    from worker.logging import storable

    return storable(value if isinstance(value, str) else repr(value))[:limit]


def _depth(value: object) -> int:
    """Nesting depth of a decoded JSON value, without recursion."""
    stack, deepest = [(value, 1)], 0
    while stack and deepest <= MAX_MESSAGE_DEPTH:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def audit_rejected_message(
    reason: str, headers: object = None, content_type: object = None
) -> None:
    """Record a refused message as a ``message_rejected`` audit event (best effort).

    Runs in the worker's main process, which must not keep a pooled connection that the pool
    processes it forks later would inherit: a short-lived engine per event.
    """
    from worker import audit
    from worker.logging import configure, get_logger
    from worker.tracking.db import make_engine, make_sessionmaker, tracking_errors

    settings: Settings = app.conf.plugin_db_settings
    configure(json=settings.log_json)
    fields = headers if isinstance(headers, dict) else {}
    details: dict[str, Any] = {
        "reason": _text(reason, 500),
        "task": _text(fields.get("task")),
        "task_id": _text(fields.get("id")),
        "content_type": _text(content_type),
    }
    engine = make_engine(settings.database_url)
    try:
        with tracking_errors(), make_sessionmaker(engine).begin() as session:
            audit.record(session, "message_rejected", plugin_id=None, **details)
    except Exception:
        get_logger("consumer").exception("message_rejected_not_audited", **details)
    finally:
        engine.dispose()


def contract_problem(message: Any) -> Exception | None:
    """Why ``message`` cannot be a task of the contract, or None; decodes it (cached)."""
    try:
        body = message.decode()
    except Exception as exc:  # a disallowed content type or any decoding failure
        return exc
    headers = message.headers
    problem: Exception
    if _depth(body) > MAX_MESSAGE_DEPTH or _depth(headers) > MAX_MESSAGE_DEPTH:
        problem = InvalidTaskError(f"message nested deeper than {MAX_MESSAGE_DEPTH} levels")
        return problem
    if not isinstance(headers, dict) or "task" not in headers:
        return None  # not protocol 2: Celery's own checks refuse (and we audit) what is wrong
    shaped = (
        isinstance(body, list | tuple)
        and len(body) == 3
        and isinstance(body[0], list | tuple)
        and isinstance(body[1], dict)
        and (body[2] is None or isinstance(body[2], dict))
    )
    if not shaped:
        problem = InvalidTaskError("body is not a protocol 2 [args, kwargs, embed] JSON array")
        return problem
    return None


class AuditingConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer; every message it refuses is acknowledged and audited.

    Celery decodes a protocol 2 body only in the pool process, where a pickle payload or a
    body that is not JSON fails the task with no trace in the tracking tables, and a deeply
    nested body ends the whole worker while it is pickled for the pool. Each message is
    checked here first.
    """

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handler = super().create_task_handler(*args, **kwargs)

        def on_task_received(message: Any) -> Any:
            problem = contract_problem(message)
            if isinstance(problem, ContentDisallowed | InvalidTaskError):
                return self.on_invalid_task(None, message, problem)
            if problem is not None:
                return self.on_decode_error(message, problem)
            return handler(message)

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        super().on_decode_error(message, exc)
        audit_rejected_message(f"undecodable body: {exc}", message.headers, message.content_type)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        super().on_invalid_task(body, message, exc)
        audit_rejected_message(
            f"invalid task message: {exc}", message.headers, message.content_type
        )

    def on_unknown_message(self, body: Any, message: Any) -> None:
        super().on_unknown_message(body, message)
        audit_rejected_message("not a task message", message.headers, message.content_type)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        super().on_unknown_task(body, message, exc)
        audit_rejected_message(f"unknown task: {exc}", message.headers, message.content_type)


class MalformedEnvelope(ValueError):
    """What was pushed onto the queue is not a kombu message envelope."""


class GuardedMessage(virtual.Message):
    """A kombu message whose envelope is checked before kombu relies on its shape."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        props = payload.get("properties") if isinstance(payload, dict) else None
        info = props.get("delivery_info") if isinstance(props, dict) else None
        if not (
            isinstance(props, dict)
            and isinstance(props.get("delivery_tag"), str | int)
            and isinstance(info, dict)
            and isinstance(info.get("exchange"), str)
            and isinstance(info.get("routing_key"), str)
            and isinstance(payload.get("headers", {}), dict | None)
            and isinstance(payload.get("body", ""), str | None)
        ):
            raise MalformedEnvelope("not a kombu message envelope")
        try:
            super().__init__(payload, channel=channel, **kwargs)  # type: ignore[no-untyped-call]
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedEnvelope(f"not a kombu message envelope: {exc}") from exc


class GuardedRedisChannel(redis_transport.Channel):
    """Redis channel that drops (and audits) list items that are not message envelopes."""

    Message = GuardedMessage

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            # Redis went away: Celery collects the connection, then closes a channel whose
            # unacknowledged messages kombu tries to restore through it. The AttributeError
            # that kombu raises then ends the worker ("Unrecoverable error"); a connection
            # error is what Celery expects here, and it reconnects.
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)  # type: ignore[no-untyped-call]
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, MalformedEnvelope) as exc:
            audit_rejected_message(f"not a message envelope: {type(exc).__name__}: {exc}")
            return True


class GuardedRedisTransport(redis_transport.Transport):
    """kombu's Redis transport with :class:`GuardedRedisChannel`."""

    Channel = GuardedRedisChannel
