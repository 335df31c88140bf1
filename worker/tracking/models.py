"""SQLAlchemy models of the tracking tables (contract section 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the tracking tables use."""
    return datetime.now(UTC)


def new_uuid() -> str:
    """Random UUID as text (portable across tracking databases)."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    """Declarative base of the tracking models."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JsonType, list[Any]: JsonType}


class Timestamps:
    """created_at / updated_at columns."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


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


class PluginMigration(Timestamps, Base):
    """One row per (plugin, version): the columns of ``plugin_migrations`` in seeds/002."""

    __tablename__ = "plugin_migrations"
    __table_args__ = (
        UniqueConstraint("plugin_id", "migration_version", name="unique_plugin_migration"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    plugin_id: Mapped[str] = mapped_column(String(40))
    plugin_name: Mapped[str] = mapped_column(String(255))
    migration_name: Mapped[str] = mapped_column(String(255))
    migration_version: Mapped[str] = mapped_column(String(50))
    migration_description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50), default="pending")
    executed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    checksum: Mapped[str | None] = mapped_column(String(64))
    up_sql: Mapped[str | None] = mapped_column(Text)
    down_sql: Mapped[str | None] = mapped_column(Text)


class MigrationAttempt(Base):
    """Append-only record of every migration attempt: who, when, how long, outcome."""

    __tablename__ = "migration_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin_id: Mapped[str] = mapped_column(String(40), index=True)
    migration_version: Mapped[str] = mapped_column(String(50))
    direction: Mapped[str] = mapped_column(String(8))
    operation_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    execution_time_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    error_message: Mapped[str | None] = mapped_column(Text)
    failing_statement: Mapped[str | None] = mapped_column(Text)


class ExtensionSchema(Timestamps, Base):
    """A plugin's registered declarative schema: the columns of seeds/003."""

    __tablename__ = "extension_schemas"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    plugin_id: Mapped[str] = mapped_column(String(40), unique=True)
    version: Mapped[str] = mapped_column(String(50))
    schema_definition: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    validation_errors: Mapped[list[Any] | None] = mapped_column()
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(255))
    updated_by: Mapped[str | None] = mapped_column(String(255))


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


class TargetUsage(Base):
    """What placement has put on a target, per capacity dimension (the reservations summed)."""

    __tablename__ = "target_usage"
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    plugins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    storage_mb: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    connections: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    state: Mapped[str | None] = mapped_column(String(16))
    """Overrides the targets file's ``state`` (``plugin-db targets drain`` sets draining)."""


class TargetReservation(Base):
    """The capacity one plugin holds on its target, taken when it is placed."""

    __tablename__ = "target_reservations"
    plugin_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    storage_mb: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    connections: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PluginRelocation(Timestamps, Base):
    """One move of a plugin's storage (and data) to another target or mode."""

    __tablename__ = "plugin_relocations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin_id: Mapped[str] = mapped_column(String(64), index=True)
    operation_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    source_target: Mapped[str] = mapped_column(String(64))
    source_mode: Mapped[str] = mapped_column(String(32))
    dest_target: Mapped[str] = mapped_column(String(64))
    dest_mode: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="running", index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    purge_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class PluginSnapshot(Base):
    """A consistent copy of one plugin's storage: compressed, encrypted, checksummed."""

    __tablename__ = "plugin_snapshots"
    __table_args__ = (Index("ix_plugin_snapshots_plugin_id_id", "plugin_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plugin_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="taking")
    provider: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(32))
    operation_id: Mapped[int | None] = mapped_column(Integer)
    ledger: Mapped[list[Any]] = mapped_column(default=list)
    row_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    raw_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(512))
    key_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PluginQuota(Base):
    """Storage measured against ``limits.storageMb`` and whether the plugin is read-only."""

    __tablename__ = "plugin_quotas"
    plugin_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MigrationAnalysis(Base):
    """Guard facts and lint findings of one migration part, by checksum (parsed once)."""

    __tablename__ = "migration_analyses"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dialect: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
