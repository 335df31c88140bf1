"""Message intake: messages that are not the contract's shape never reach a task.

They are recorded as ``message_rejected`` audit events: :class:`AuditingConsumer` checks each
task message (JSON content, a ``[args, kwargs, embed]`` body, bounded nesting) and
:class:`GuardedRedisTransport` drops what is not even a message envelope, which kombu would
otherwise raise into the worker's event loop and end the worker.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery.exceptions import InvalidTaskError
from celery.worker.consumer.consumer import Consumer
from kombu.exceptions import ContentDisallowed
from kombu.transport import redis as redis_transport
from kombu.transport import virtual

from worker.errors import MalformedEnvelope
from worker.jsontext import depth
from worker.settings import Settings

MAX_MESSAGE_DEPTH = 64  # a request nests a manifest or schema document (<= 32 levels each)
_SHOWN = 200


def _text(value: object, limit: int = _SHOWN) -> str | None:
    """``value`` as storable text: lone surrogates and NUL escaped, cut to ``limit``."""
    if value is None:
        return None
    from worker.logging import storable

    return storable(value if isinstance(value, str) else repr(value))[:limit]


def audit_rejected_message(
    reason: str, headers: object = None, content_type: object = None
) -> None:
    """Record a refused message as a ``message_rejected`` audit event (best effort).

    Runs in the worker's main process, which must not keep a pooled connection that the pool
    processes it forks later would inherit: a short-lived engine per event.
    """
    from worker import audit
    from worker.celery_app import app
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
    if depth(body, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH or (
        depth(headers, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH
    ):
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
