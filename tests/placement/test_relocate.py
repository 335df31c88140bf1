"""Relocation through the real worker, for each pair of the matrix, with 10,000 related rows.

For every pair: the copy's checksums are equal (the verify step compares them), the plugin's
new login reads and writes, the old storage is archived and the connection generation is up.
Between two servers of one engine the copy is the engine's own dump and restore (``native``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from providers.base import StorageState
from providers.targets import Targets
from tests.placement import data
from tests.support.stack import Stack, migration, write_plugin
from worker.connection import read_connection
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.states import OpState
from worker.tracking.models import OutboxEvent, PluginDatasource

NOTES = migration(
    "CREATE TABLE {p}notes (id INTEGER PRIMARY KEY, body VARCHAR(100));",
    "DROP TABLE {p}notes;",
    version="001",
)


def engine_of(fleet: Stack, plugin_id: str) -> tuple[sa.Engine, str | None]:
    """An engine as the plugin itself (its connection document), and its table prefix."""
    settings = Settings.from_env(fleet.env)
    with fleet.sessions() as session:
        doc = read_connection(session, SecretBox.from_settings(settings), plugin_id)
        ds = session.get(PluginDatasource, plugin_id)
        assert ds is not None
        shared = ds.mode == "shared"
    url = doc["url"]
    if shared:  # shared mode: the platform's database, tables carry the plugin's prefix
        targets = Targets.from_settings(settings)
        raw = str(targets.get(str(ds.target)).admin_url)
        return sa.create_engine(raw), plugin_id.replace("-", "_") + "_"
    if url.startswith("file:"):
        return sa.create_engine(f"sqlite:///{url[5:]}"), None
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg", query={})
    else:
        parsed = parsed.set(drivername="mysql+pymysql", query={"charset": "utf8mb4"})
    return sa.create_engine(parsed), None


def _provision(fleet: Stack, pid: str, mode: str, target: str) -> None:
    prefix = pid.replace("-", "_") + "_" if mode == "shared" else ""
    write_plugin(fleet.plugins_root, pid, mode, {"001_notes.sql": NOTES.format(p=prefix)})
    op = fleet.run("plugin_db.provision", {"plugin_id": pid, "target": target}, timeout=120)
    assert op.state == OpState.SUCCEEDED.value, op.error
    engine, prefix_ = engine_of(fleet, pid)
    try:
        data.fill(engine, prefix=prefix_ or "")
    finally:
        engine.dispose()


def _count_and_write(fleet: Stack, pid: str, prefix: str) -> int:
    engine, _ = engine_of(fleet, pid)
    meta = sa.MetaData()
    users, _, comments = data.tables(meta, prefix)
    try:
        with engine.begin() as conn:
            conn.execute(
                users.insert(),
                {"id": 10_001, "name": "après", "email": None, "active": True, "profile": {}},
            )
            return int(conn.execute(sa.select(sa.func.count()).select_from(comments)).scalar_one())
    finally:
        engine.dispose()


PAIRS = [
    ("exclusive-sqlite", "files-b", "exclusive-postgres", "pg-a"),
    ("exclusive-postgres", "pg-a", "exclusive-postgres", "pg-b"),
    ("exclusive-postgres", "pg-b", "exclusive-mysql", "my-a"),
    ("exclusive-mysql", "my-a", "exclusive-postgres", "pg-a"),
    ("shared", "shared-pg", "exclusive-postgres", "pg-b"),
    ("exclusive-postgres", "pg-a", "shared", "shared-pg"),
    ("exclusive-mysql", "my-a", "exclusive-mysql", "my-b"),
    ("exclusive-postgres", "pg-b", "exclusive-sqlite", "files-b"),
]


@pytest.mark.parametrize(
    ("mode", "source", "dest_mode", "dest"), PAIRS, ids=[f"{p[1]}->{p[3]}" for p in PAIRS]
)
def test_relocation_moves_every_row(  # noqa: PLR0917 - fixtures and parameters
    fleet: Stack,
    plugin_ids: Iterator[str],
    mode: str,
    source: str,
    dest_mode: str,
    dest: str,
) -> None:
    pid = next(plugin_ids)
    _provision(fleet, pid, mode, source)
    before = fleet.datasource(pid)
    assert before is not None and before.target == source
    request = {"plugin_id": pid, "target": dest}
    if dest_mode != mode:
        request["mode"] = dest_mode
    op = fleet.run("plugin_db.relocate", request, timeout=180)
    assert op.state == OpState.SUCCEEDED.value, op.error
    steps = {s["name"]: s["detail"] for s in op.steps}
    ns = pid.replace("-", "_") + "_"
    rows = {k.removeprefix(ns): v for k, v in steps["copy_data"]["rows"].items()}
    assert {k: rows[k] for k in ("users", "posts", "comments", "notes")} == {
        "users": data.USERS,
        "posts": data.POSTS,
        "comments": data.COMMENTS,
        "notes": 0,
    }
    assert set(steps["verify_copy"]["checksums"]) == set(steps["copy_data"]["rows"])
    assert steps["copy_data"]["method"] == ("native" if mode == dest_mode != "shared" else "rows")
    after = fleet.datasource(pid)
    assert after is not None
    assert (after.target, after.mode) == (dest, dest_mode)
    assert after.generation == before.generation + 1
    # tables keep the shared mode's prefix when they leave it, and get it when they enter it
    prefix = pid.replace("-", "_") + "_" if "shared" in (mode, dest_mode) else ""
    assert _count_and_write(fleet, pid, prefix) == data.COMMENTS  # the new login writes
    targets = Targets.from_settings(Settings.from_env(fleet.env))
    spec = spec_for(parse_manifest(before.manifest))
    assert targets.provider(source).state(spec) is StorageState.ARCHIVED
    assert [m.migration_version for m in fleet.migrations(pid)] == ["001"]
    with fleet.sessions() as session:
        events = session.execute(
            sa.select(OutboxEvent.type, OutboxEvent.generation).where(OutboxEvent.plugin_id == pid)
        ).all()
    assert ("datasource.relocated", after.generation) in [tuple(e) for e in events]
