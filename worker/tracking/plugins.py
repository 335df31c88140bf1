"""Tracking tables of plugins, their secrets, operations, audit trail and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from worker.tracking.base import Base, Timestamps, new_uuid, utcnow


class PluginDatasource(Timestamps, Base):
    """One row per plugin: where its storage is and what state it is in."""

    __tablename__ = "plugin_datasources"
    plugin_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    mode: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    descriptor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_ref: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("plugin_secrets.id", ondelete="SET NULL")
    )
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_rotation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    target: Mapped[str | None] = mapped_column(String(64))
    """The target (named server, see providers.targets) the plugin's storage lives on."""

    def bump_generation(self) -> None:
        """The credentials or the location changed: hosts holding a connection must reconnect."""
        self.generation = (self.generation or 1) + 1


class PluginSecret(Timestamps, Base):
    """Encrypted credentials of one plugin (Fernet token; never decrypted outside the worker)."""

    __tablename__ = "plugin_secrets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    plugin_id: Mapped[str] = mapped_column(String(40), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)


class LifecycleOperation(Timestamps, Base):
    """One row per lifecycle request; its steps and lease live here."""

    __tablename__ = "lifecycle_operations"
    __table_args__ = (
        Index("ix_lifecycle_operations_plugin_state", "plugin_id", "state"),
        Index("ix_lifecycle_operations_plugin_id_id", "plugin_id", "id"),
        Index("ix_lifecycle_operations_state_lease", "state", "lease_expires_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    current_step: Mapped[str | None] = mapped_column(String(64))
    steps: Mapped[list[Any]] = mapped_column(default=list)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str] = mapped_column(String(200), unique=True)
    requested_by: Mapped[str | None] = mapped_column(String(200))
    task_id: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    crashes: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only audit trail; ``details`` are redacted before they are written."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_plugin_id_id", "plugin_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    plugin_id: Mapped[str | None] = mapped_column(String(64))
    operation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ApiToken(Base):
    """An HTTP API token: its name (the audit actor), scopes and a SHA-256 of the secret."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
