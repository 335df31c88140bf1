"""Delivery of one lane, (endpoint, plugin): the oldest pending delivery first, one at a time.

Only the lane's head may be sent, and only by the worker holding its lease, so a plugin's
events reach an endpoint in the order they happened. A failed attempt is recorded and the
head waits out its backoff (the lane with it); a worker killed mid-POST leaves the lease to
expire and the same ``webhook-id`` is sent again: delivery is at least once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker import audit, failpoints
from worker.events.outbox import body
from worker.lifecycle.lease import new_owner
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.tracking.db import tracking_errors
from worker.tracking.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from worker.webhooks.endpoints import secret_of
from worker.webhooks.sender import Sent, send

LEASE_SLACK = 10.0


@dataclass(frozen=True)
class Job:
    """A claimed head of a lane."""

    delivery_id: int
    message_id: str
    url: str
    secret: str
    body: str


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from the base, capped."""
    cfg = settings.events
    return float(min(cfg.webhook_backoff_max, cfg.webhook_backoff_base * 2 ** max(0, attempts - 1)))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Lane:
    """Delivers one (endpoint, plugin) lane."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        box: SecretBox,
        endpoint_id: str,
        plugin_id: str,
    ) -> None:
        self.sessions, self.settings, self.box = sessions, settings, box
        self.endpoint_id, self.plugin_id = endpoint_id, plugin_id
        self.owner = new_owner()

    def run(self, limit: int = 1000) -> float | None:
        """Deliver due heads in order; returns seconds to wait before trying again, or None."""
        for _ in range(limit):
            job = self._claim()
            if not isinstance(job, Job):
                return job
            failpoints.hit(self.settings.failpoints, "webhook:before_post")
            sent = send(job.url, job.secret, job.message_id, job.body, self.settings)
            failpoints.hit(self.settings.failpoints, "webhook:after_post")
            wait = self._record(job, sent)
            if wait is not None:
                return wait
        return 0.0

    def _claim(self) -> Job | float | None:
        now = utcnow()
        lease = timedelta(seconds=self.settings.events.webhook_timeout_seconds + LEASE_SLACK)
        with tracking_errors(), self.sessions.begin() as session:
            endpoint = session.get(WebhookEndpoint, self.endpoint_id)
            if endpoint is None or endpoint.disabled_at is not None:
                return None
            head = session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.endpoint_id == self.endpoint_id,
                    WebhookDelivery.plugin_id == self.plugin_id,
                    WebhookDelivery.state == "pending",
                )
                .order_by(WebhookDelivery.seq)
                .limit(1)
            ).first()
            if head is None:
                return None
            due = _aware(head.next_attempt_at)
            if due > now:
                return (due - now).total_seconds()
            if head.lease_expires_at is not None and _aware(head.lease_expires_at) > now:
                return (_aware(head.lease_expires_at) - now).total_seconds()
            taken = session.execute(
                update(WebhookDelivery)
                .execution_options(synchronize_session=False)
                .where(
                    WebhookDelivery.id == head.id,
                    WebhookDelivery.state == "pending",
                    (WebhookDelivery.lease_owner.is_(None))
                    | (WebhookDelivery.lease_expires_at < now),
                )
                .values(lease_owner=self.owner, lease_expires_at=now + lease)
            )
            if cast("CursorResult[Any]", taken).rowcount != 1:
                return 1.0
            event = session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_id == head.event_id)
            ).one()
            return Job(
                head.id, head.event_id, endpoint.url, secret_of(self.box, endpoint), body(event)
            )

    def _record(self, job: Job, sent: Sent) -> float | None:
        """Record the attempt; on failure schedule the retry (and maybe disable the endpoint)."""
        now = utcnow()
        with tracking_errors(), self.sessions.begin() as session:
            session.add(
                WebhookAttempt(
                    delivery_id=job.delivery_id,
                    attempted_at=now,
                    status_code=sent.status_code,
                    error=sent.error,
                    ms=sent.ms,
                )
            )
            row = session.get(WebhookDelivery, job.delivery_id)
            endpoint = session.get(WebhookEndpoint, self.endpoint_id)
            if row is None or endpoint is None:
                return None
            row.attempts += 1
            row.last_status, row.last_error = sent.status_code, sent.error
            row.lease_owner, row.lease_expires_at = None, None
            if sent.ok:
                row.state, row.delivered_at = "delivered", now
                endpoint.consecutive_failures = 0
                return None
            wait = backoff(self.settings, row.attempts)
            row.next_attempt_at = now + timedelta(seconds=wait)
            endpoint.consecutive_failures += 1
            if endpoint.consecutive_failures >= self.settings.events.webhook_disable_after:
                self._disable(session, endpoint, sent)
                return None
            return wait

    def _disable(self, session: Session, endpoint: WebhookEndpoint, sent: Sent) -> None:
        reason = f"{endpoint.consecutive_failures} failed attempts in a row, last: {sent.error}"
        endpoint.disabled_at, endpoint.disabled_reason = utcnow(), reason
        audit.record(
            session,
            "webhook_endpoint_disabled",
            plugin_id=None,
            actor="webhooks",
            endpoint_id=endpoint.id,
            url=endpoint.url,
            reason=reason,
        )


def due_lanes(sessions: sessionmaker[Session], limit: int = 1000) -> list[tuple[str, str]]:
    """Lanes of enabled endpoints whose head is due and not leased (the safety net's work)."""
    now = utcnow()
    with tracking_errors(), sessions() as session:
        rows = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.plugin_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookEndpoint.disabled_at.is_(None),
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                (WebhookDelivery.lease_expires_at.is_(None))
                | (WebhookDelivery.lease_expires_at < now),
            )
            .distinct()
            .limit(limit)
        ).all()
    return [(str(e), str(p)) for e, p in rows]
