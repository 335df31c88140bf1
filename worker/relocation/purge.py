"""Purge the sources relocations left archived once their retention has passed (beat).

A relocated plugin's old storage stays archived, restorable, until ``purge_after``
(``archive_retention_days`` after the move); then its storage and logins go, the
relocation's record becomes ``purged`` and the source's credentials are deleted. A source
the plugin lives on again (moved back) is never purged: the record becomes ``superseded``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from providers.targets import Targets
from worker import audit
from worker.errors import PluginDbError
from worker.manifest import parse_manifest
from worker.port import spec_for
from worker.tracking.models import PluginDatasource, PluginRelocation, PluginSecret, utcnow


def purge_relocated(
    sessions: Callable[[], Session], targets: Targets, now: datetime | None = None
) -> dict[str, list[str]]:
    """Purge every archived relocation source past its ``purge_after``; what was done."""
    with sessions() as session:
        due = list(
            session.scalars(
                select(PluginRelocation.id).where(
                    PluginRelocation.state == "archived",
                    PluginRelocation.purge_after < (now or utcnow()),
                )
            )
        )
    done: dict[str, list[str]] = {"purged": [], "superseded": [], "failed": []}
    for relocation_id in due:
        outcome = _purge_one(sessions, targets, relocation_id)
        done[outcome[0]].append(outcome[1])
    return done


def _purge_one(
    sessions: Callable[[], Session], targets: Targets, relocation_id: int
) -> tuple[str, str]:
    with sessions() as session:
        row = session.get(PluginRelocation, relocation_id)
        ds = session.get(PluginDatasource, row.plugin_id) if row else None
    assert row is not None
    where = f"{row.plugin_id}@{row.source_target}"
    if ds is None or not ds.manifest:
        return "failed", where
    state, error = "purged", None
    if ds.target == row.source_target and ds.status != "deleted":
        state = "superseded"  # the plugin lives there again: its storage is not the old one
    else:
        driver, spec = targets.provider(row.source_target), spec_for(parse_manifest(ds.manifest))
        try:
            driver.discard_restore_objects(spec)
            driver.purge(spec)
        except PluginDbError as exc:
            state, error = "failed", str(exc)
    with sessions() as session, session.begin():
        live = session.get(PluginRelocation, relocation_id)
        assert live is not None
        ref = live.detail.get("source_secrets_ref")
        if state != "failed":
            live.state = state
            if ref and state == "purged":
                session.execute(delete(PluginSecret).where(PluginSecret.id == ref))
        audit.record(
            session,
            f"relocation_source_{state}",
            plugin_id=row.plugin_id,
            actor="schedule",
            target=row.source_target,
            mode=row.source_mode,
            error=error,
        )
    return state, where
