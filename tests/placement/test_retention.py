"""The source a relocation left archived is purged once its retention has passed (beat's
``plugin_db.purge_archives`` calls :func:`worker.relocation.purge.purge_relocated`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa

from providers.base import StorageState
from providers.targets import Targets
from tests.support.stack import Stack, migration, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.relocation.purge import purge_relocated
from worker.settings import Settings
from worker.states import OpState
from worker.tracking.models import AuditEvent, PluginRelocation, utcnow

ITEMS = migration(
    "CREATE TABLE items (id INTEGER PRIMARY KEY); INSERT INTO items (id) VALUES (1);",
    "DROP TABLE items;",
    version="001",
)


def _relocated(fleet: Stack, pid: str) -> None:
    write_plugin(fleet.plugins_root, pid, "exclusive-sqlite", {"001_items.sql": ITEMS})
    op = fleet.run("plugin_db.provision", {"plugin_id": pid, "target": "files-b"}, timeout=120)
    assert op.state == OpState.SUCCEEDED.value, op.error
    request = {"plugin_id": pid, "target": "pg-old", "mode": "exclusive-postgres"}
    op = fleet.run("plugin_db.relocate", request, timeout=120)
    assert op.state == OpState.SUCCEEDED.value, op.error


def test_relocated_sources_are_purged_after_their_retention(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    due, kept = next(plugin_ids), next(plugin_ids)
    for pid in (due, kept):
        _relocated(fleet, pid)
    with fleet.sessions() as session, session.begin():
        row = session.scalars(sa.select(PluginRelocation).where(PluginRelocation.plugin_id == due))
        row.one().purge_after = utcnow() - timedelta(minutes=1)
    targets = Targets.from_settings(Settings.from_env(fleet.env))
    done = purge_relocated(fleet.sessions, targets)
    assert done["purged"] == [f"{due}@files-b"] and not done["failed"], done
    states = {}
    for pid in (due, kept):
        ds = fleet.datasource(pid)
        assert ds is not None and ds.target == "pg-old"
        spec = spec_for(parse_manifest(ds.manifest))
        states[pid] = targets.provider("files-b").state(spec)
        assert targets.provider("pg-old").state(spec) is StorageState.ACTIVE
    assert states == {due: StorageState.ABSENT, kept: StorageState.ARCHIVED}
    with fleet.sessions() as session:
        rows = session.scalars(sa.select(PluginRelocation).where(PluginRelocation.plugin_id == due))
        assert rows.one().state == "purged"
        events = session.scalars(sa.select(AuditEvent.event).where(AuditEvent.plugin_id == due))
        assert "relocation_source_purged" in list(events)
    assert purge_relocated(fleet.sessions, targets)["purged"] == []  # once
