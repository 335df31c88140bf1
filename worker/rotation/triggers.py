"""What starts a retirement: the platform's ack, no session left, or the grace period's end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from worker import audit
from worker.errors import NotFound, PluginDbError, UnknownGeneration
from worker.lifecycle.context import spec_for
from worker.logging import get_logger
from worker.manifest import parse_manifest
from worker.rotation.retire import PENDING, aware, request_for
from worker.states import DsStatus
from worker.tracking.db import tracking_errors
from worker.tracking.models import CredentialRetirement, PluginDatasource, utcnow

log = get_logger("rotation")


def acknowledge(
    sessions: sessionmaker[Session], plugin_id: str, generation: int, actor: str | None
) -> dict[str, Any]:
    """Record that the platform uses ``generation``; returns the retire requests to send."""
    with tracking_errors(), sessions.begin() as session:
        ds = session.get(PluginDatasource, plugin_id)
        if ds is None or ds.status == DsStatus.DELETED.value:
            raise NotFound("no such plugin", [f"pluginId: {plugin_id} is not provisioned"])
        current = getattr(ds, "generation", None)
        if isinstance(current, int) and not 1 <= generation <= current:
            raise UnknownGeneration(
                "unknown generation",
                [f"generation: {plugin_id} is at generation {current}; {generation} is not one"],
            )
        waiting = list(
            session.scalars(
                select(CredentialRetirement).where(
                    CredentialRetirement.plugin_id == plugin_id,
                    CredentialRetirement.state == PENDING,
                )
            )
        )
        now, due = utcnow(), []
        for row in waiting:
            if row.generation is None or row.generation <= generation:
                row.acknowledged_at = now
                due.append(request_for(row, "ack", actor or "platform"))
        audit.record(
            session,
            "connection_acknowledged",
            plugin_id=plugin_id,
            actor=actor,
            generation=generation,
            retiring=[r["retirement_id"] for r in due],
        )
    return {"plugin_id": plugin_id, "generation": generation, "requests": due}


def due(
    sessions: sessionmaker[Session], provider: Callable[[str], Provider], settle_seconds: float
) -> list[dict[str, Any]]:
    """Retire requests for pending logins acknowledged, past their grace period, or unused.

    "Unused" counts only once the rotation is ``settle_seconds`` old (one check period), so a
    platform gets a moment to notice the new generation before an idle old login goes.
    """
    now = utcnow()
    settled = now - timedelta(seconds=settle_seconds)
    with tracking_errors(), sessions() as session:
        rows = session.execute(
            select(CredentialRetirement, PluginDatasource)
            .join(PluginDatasource, PluginDatasource.plugin_id == CredentialRetirement.plugin_id)
            .where(
                CredentialRetirement.state == PENDING,
                PluginDatasource.status != DsStatus.DELETED.value,
            )
            .order_by(CredentialRetirement.id)
        ).all()
    requests = []
    for row, ds in rows:
        if row.acknowledged_at is not None:
            requests.append(request_for(row, "ack", "platform"))
        elif aware(row.grace_until) <= now:
            requests.append(request_for(row, "grace", "schedule"))
        elif aware(row.created_at) <= settled and _unused(row, ds, provider):
            requests.append(request_for(row, "sessions", "schedule"))
    return requests


def _unused(
    row: CredentialRetirement, ds: PluginDatasource, provider: Callable[[str], Provider]
) -> bool:
    """True when the old login has no session (an unreachable server counts as in use)."""
    try:
        spec = spec_for(parse_manifest(ds.manifest))
        return provider(ds.provider).login_sessions(spec, row.slot) == 0
    except (PluginDbError, NotImplementedError) as exc:
        log.warning("retire_check_failed", plugin_id=row.plugin_id, error=str(exc))
        return False
