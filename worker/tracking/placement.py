"""Tracking tables of target usage, reservations and relocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from worker.tracking.base import Base, Timestamps, utcnow


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
