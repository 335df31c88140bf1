"""What every lifecycle task shares: one service per process and the retry policy."""

from __future__ import annotations

import random
from functools import cache
from typing import Any, cast

import structlog
from celery import Task

from worker.errors import LeaseLost, PluginBusy, TrackingUnavailable, TransientError
from worker.lifecycle.service import LifecycleService
from worker.logging import configure, get_logger
from worker.settings import process_settings
from worker.states import Kind

log = get_logger("tasks")
BUSY_COUNTDOWN = 1.0


@cache
def service() -> LifecycleService:
    """The process's lifecycle service (built lazily, after the pool forks)."""
    settings = process_settings()
    configure(json=settings.log_json)
    return LifecycleService(settings)


class LifecycleTask(Task):  # type: ignore[misc]
    """Base of the public tasks: late ack, requeue on worker loss, retries with jittered backoff."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # the retry budget is the service's (settings.retry.max_retries)

    def lifecycle(self, kind: Kind, payload: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
        """Accept the request (idempotently) and drive its operation."""
        with structlog.contextvars.bound_contextvars(
            task_id=self.request.id, attempt=self.request.retries, kind=kind.value
        ):
            try:
                op_id = service().accept(kind, payload, extra, self.request.id, run_here=True)
            except TrackingUnavailable as exc:
                # nothing is recorded yet: the request must be accepted later, never dropped
                raise self.retry_later(exc, None) from exc
            return self.drive(op_id)

    def drive(self, op_id: int) -> dict[str, Any]:
        """Run the operation; schedule a retry for transient errors within the budget."""
        svc = service()
        policy = svc.settings.retry
        retries = self.request.retries
        try:
            summary = svc.run(op_id, final_attempt=retries >= policy.max_retries)
        except PluginBusy as exc:
            try:
                remaining = svc.store.lease_remaining(op_id)
            except TrackingUnavailable:
                remaining = 0.0
            wait = max(BUSY_COUNTDOWN, remaining) + random.random()  # noqa: S311
            raise self.retry(exc=exc, countdown=wait, max_retries=None) from exc
        except LeaseLost as exc:
            try:
                return svc.summary(op_id)
            except TrackingUnavailable:
                # another worker owns the operation; report nothing rather than a failure
                raise self.retry_later(exc, op_id) from exc
        except TransientError as exc:
            raise self.retry_later(exc, op_id) from exc
        from tasks.events import relay_quietly  # the events module imports this one

        relay_quietly()
        return summary

    def retry_later(self, exc: Exception, op_id: int | None) -> Exception:
        """A Celery retry after the policy's jittered backoff (the service's budget applies)."""
        policy = service().settings.retry
        countdown = policy.countdown(self.request.retries, random.random())  # noqa: S311 - jitter
        log.info(
            "retry_scheduled", operation_id=op_id, countdown=round(countdown, 2), error=str(exc)
        )
        return cast("Exception", self.retry(exc=exc, countdown=countdown, max_retries=None))
