"""Tracking tables of the events outbox, webhooks and credential retirements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from worker.tracking.base import Base, Timestamps, utcnow


class OutboxEvent(Base):
    """A lifecycle event, written in the transaction of the step that caused it.

    ``seq`` is given by the relay, in commit order, under the ``outbox_cursor`` lock: it is the
    stream's resumable position (``Last-Event-ID``) and never has a gap a reader could skip.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_plugin_id_seq", "plugin_id", "seq"),
        Index("ix_outbox_events_relayed_id", "relayed_at", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    plugin_id: Mapped[str] = mapped_column(String(64))
    operation_id: Mapped[int | None] = mapped_column(Integer)
    generation: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxCursor(Base):
    """One row: the last ``seq`` the relay handed out (its UPDATE is the relay's lock)."""

    __tablename__ = "outbox_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class WebhookEndpoint(Timestamps, Base):
    """A Standard Webhooks receiver; its signing secret is stored Fernet-encrypted."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookDelivery(Timestamps, Base):
    """One event for one endpoint; delivered in ``seq`` order per (endpoint, plugin)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_lane", "endpoint_id", "plugin_id", "state", "seq"),
        Index("ix_webhook_deliveries_state_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(40))
    plugin_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """Append-only: every POST of a delivery, with its answer or error."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    ms: Mapped[int | None] = mapped_column(Integer)


class CredentialRetirement(Timestamps, Base):
    """A login rotated out: valid until acknowledged, unused, or its grace period ends."""

    __tablename__ = "credential_retirements"
    __table_args__ = (Index("ix_credential_retirements_plugin_state", "plugin_id", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin_id: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(8))
    login: Mapped[str | None] = mapped_column(String(200))
    generation: Mapped[int | None] = mapped_column(Integer)
    """The generation that replaced this login (acknowledging it retires the login)."""
    rotation_operation_id: Mapped[int | None] = mapped_column(Integer)
    grace_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    trigger: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
