"""Webhook endpoints: add (the ``whsec_`` secret is shown once), list, remove, enable, test."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from worker import audit
from worker.errors import RequestRejected, UnknownEndpoint
from worker.events.outbox import EVENT_TYPES
from worker.logging import register_secret
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.tracking.db import tracking_errors
from worker.tracking.models import WebhookDelivery, WebhookEndpoint
from worker.webhooks import guard
from worker.webhooks.sender import Sent, send

TEST_EVENT = "webhook.test"


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 24 random bytes."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    register_secret(secret)
    return secret


def secret_of(box: SecretBox, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, decrypted (and masked in every later log line)."""
    value = str(box.open(endpoint.secret_ciphertext)["secret"])
    register_secret(value)
    return value


def to_json(endpoint: WebhookEndpoint, pending: int = 0) -> dict[str, Any]:
    """An endpoint without its secret."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.event_types),
        "enabled": endpoint.disabled_at is None,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "pending_deliveries": pending,
        "created_at": endpoint.created_at,
    }


def add(
    sessions: sessionmaker[Session],
    settings: Settings,
    box: SecretBox,
    url: str,
    *,
    events: Sequence[str] = (),
    actor: str | None = None,
) -> dict[str, Any]:
    """Register an endpoint; the result holds its secret, which is never shown again."""
    unknown = sorted(set(events) - EVENT_TYPES)
    if unknown:
        raise RequestRejected(
            "unknown event type",
            [f"event: {t!r} is not one of {sorted(EVENT_TYPES)}" for t in unknown],
        )
    guard.check_url(url, settings.events.webhook_allowed_hosts)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=f"ep_{uuid.uuid4().hex[:20]}",
        url=url,
        event_types=sorted(set(events)),
        secret_ciphertext=box.seal({"secret": secret}),
        created_by=actor,
        consecutive_failures=0,
    )
    with tracking_errors(), sessions.begin() as session:
        session.add(endpoint)
        audit.record(
            session,
            "webhook_endpoint_added",
            plugin_id=None,
            actor=actor,
            endpoint_id=endpoint.id,
            url=url,
            events=endpoint.event_types,
        )
        session.flush()
        out = to_json(endpoint)
    return {**out, "secret": secret}


def list_all(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Every endpoint with its count of undelivered events."""
    with tracking_errors(), sessions() as session:
        pending = dict(
            session.execute(
                select(WebhookDelivery.endpoint_id, func.count())
                .where(WebhookDelivery.state == "pending")
                .group_by(WebhookDelivery.endpoint_id)
            ).all()
        )
        rows = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at))
        return [to_json(e, int(pending.get(e.id, 0))) for e in rows]


def _get(session: Session, endpoint_id: str) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise UnknownEndpoint("unknown webhook endpoint", [f"id: no endpoint {endpoint_id!r}"])
    return endpoint


def remove(sessions: sessionmaker[Session], endpoint_id: str, actor: str | None = None) -> None:
    """Delete an endpoint and its deliveries."""
    with tracking_errors(), sessions.begin() as session:
        endpoint = _get(session, endpoint_id)
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        session.delete(endpoint)
        audit.record(
            session,
            "webhook_endpoint_removed",
            plugin_id=None,
            actor=actor,
            endpoint_id=endpoint_id,
        )


def enable(sessions: sessionmaker[Session], endpoint_id: str, actor: str | None = None) -> None:
    """Re-enable a disabled endpoint; its pending deliveries resume in order."""
    with tracking_errors(), sessions.begin() as session:
        endpoint = _get(session, endpoint_id)
        endpoint.disabled_at, endpoint.disabled_reason = None, None
        endpoint.consecutive_failures = 0
        audit.record(
            session,
            "webhook_endpoint_enabled",
            plugin_id=None,
            actor=actor,
            endpoint_id=endpoint_id,
        )


def test(
    sessions: sessionmaker[Session],
    settings: Settings,
    box: SecretBox,
    endpoint_id: str,
    actor: str | None = None,
) -> Sent:
    """POST a signed ``webhook.test`` message to the endpoint now; returns the answer."""
    with tracking_errors(), sessions() as session:
        endpoint = _get(session, endpoint_id)
        url, secret = endpoint.url, secret_of(box, endpoint)
    message_id = f"msg_test_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    body = (
        f'{{"id":"{message_id}","type":"{TEST_EVENT}","timestamp":"{now.isoformat()}",'
        '"plugin_id":null,"operation_id":null,"generation":null,"data":{}}'
    )
    sent = send(url, secret, message_id, body, settings)
    with tracking_errors(), sessions.begin() as session:
        audit.record(
            session,
            "webhook_endpoint_tested",
            plugin_id=None,
            actor=actor,
            endpoint_id=endpoint_id,
            status_code=sent.status_code,
            error=sent.error,
        )
    return sent
