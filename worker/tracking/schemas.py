"""Tracking tables of plugin migrations, their attempts and analyses, and registered schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from worker.tracking.base import Base, Timestamps, new_uuid, utcnow


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


class MigrationAnalysis(Base):
    """Guard facts and lint findings of one migration part, by checksum (parsed once)."""

    __tablename__ = "migration_analyses"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dialect: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rules: Mapped[str | None] = mapped_column(String(16))
    """The rules' version that made it (None: made before it was recorded)."""


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
