"""The relay: outbox rows get their stream position and one delivery per subscribed endpoint.

One transaction per batch, opened by an UPDATE of the single ``outbox_cursor`` row: concurrent
relays queue behind it, so positions are handed out in the order batches commit and a reader
that saw position k has already seen every position below k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from worker.events import sink
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.tracking.db import tracking_errors
from worker.tracking.models import (
    OutboxCursor,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)

BATCH = 500


@dataclass
class Relayed:
    """What one relay pass did."""

    events: int = 0
    lanes: set[tuple[str, str]] = field(default_factory=set)
    """(endpoint id, plugin id) pairs that got new deliveries."""


def subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether ``endpoint`` wants ``event_type`` (no list: every type)."""
    return not endpoint.event_types or event_type in endpoint.event_types


def _lock(session: Session) -> int:
    """Take the relay lock; returns the last position handed out."""
    bump = update(OutboxCursor).where(OutboxCursor.id == 1).values(last_seq=OutboxCursor.last_seq)
    if cast("CursorResult[Any]", session.execute(bump)).rowcount != 1:
        session.add(OutboxCursor(id=1, last_seq=0))
        session.flush()
    return int(session.scalar(select(OutboxCursor.last_seq).where(OutboxCursor.id == 1)) or 0)


def relay_once(sessions: sessionmaker[Session], settings: Settings, box: SecretBox) -> Relayed:
    """Relay up to one batch of unrelayed events; the connection sink runs before commit."""
    done = Relayed()
    with tracking_errors(), sessions.begin() as session:
        last = _lock(session)
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.relayed_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return done
        endpoints = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
        now = utcnow()
        for row in rows:
            last += 1
            row.seq, row.relayed_at = last, now
            for endpoint in endpoints:
                if subscribed(endpoint, row.type):
                    session.add(_delivery(endpoint, row))
                    done.lanes.add((endpoint.id, row.plugin_id))
        session.execute(update(OutboxCursor).where(OutboxCursor.id == 1).values(last_seq=last))
        folder = settings.events.connection_dir
        if folder is not None:
            for plugin_id in dict.fromkeys(row.plugin_id for row in rows):
                sink.sync(session, box, folder, plugin_id)
        done.events = len(rows)
    return done


def relay(sessions: sessionmaker[Session], settings: Settings, box: SecretBox) -> Relayed:
    """Relay until the outbox is empty."""
    total = Relayed()
    while True:
        batch = relay_once(sessions, settings, box)
        total.events += batch.events
        total.lanes |= batch.lanes
        if batch.events < BATCH:
            return total


def _delivery(endpoint: WebhookEndpoint, row: OutboxEvent) -> WebhookDelivery:
    assert row.seq is not None
    return WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=row.event_id,
        plugin_id=row.plugin_id,
        seq=row.seq,
        state="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
