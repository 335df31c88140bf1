"""Tracking tables of snapshots and quotas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from worker.tracking.base import Base, utcnow


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
