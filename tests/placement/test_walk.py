"""A worker SIGKILLed at every boundary of a relocation: a restarted worker converges.

One relocation per boundary (``before:``/``after:`` each step), PostgreSQL 15 → 18 with a few
rows: a worker whose failpoints park each plugin's relocation at its own boundary
(``after:copy_data@<plugin>=sleep:600``) runs them all in threads, and once every one is parked its
process group is SIGKILLed (each failpoint leaves a marker file as it fires: a threads pool
interleaves its log lines). The next worker's start-up reconcile resumes them (leases expired).
Each ends succeeded with every step recorded once, equal checksums, and exactly one live
storage: the destination (the source archived).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from providers.base import StorageState
from providers.targets import Targets
from tests.faults.walk import SLEEP, Tracked, boundaries, wait_leases_expired
from tests.support.stack import Stack, migration, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.settings import Settings
from worker.states import OpState
from worker.tracking.models import PluginSnapshot

STEPS = [
    "reserve_destination",
    "provision_destination",
    "snapshot_source",
    "freeze_source",
    "copy_data",
    "verify_copy",
    "switch_datasource",
    "archive_source",
]
POINTS = boundaries(STEPS)
ITEMS = migration(
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100));"
    "INSERT INTO items (id, name) VALUES (1, 'ünï'), (2, NULL), (3, '東京');",
    "DROP TABLE items;",
    version="001",
)


def _walk(fleet: Stack, ids: list[str]) -> list[Tracked]:
    """Relocate every plugin on a worker parking each at its boundary, then SIGKILL it."""
    tracked = [Tracked(pid, "postgresql", f"t-{uuid.uuid4()}", STEPS) for pid in ids]
    spec = ",".join(f"{point}@{pid}={SLEEP}" for point, pid in zip(POINTS, ids, strict=True))
    marks = fleet.workdir / f"marks-{uuid.uuid4().hex[:6]}"  # a file per failpoint that fired
    marks.mkdir()
    env = {"PLUGIN_DB_FAILPOINTS": spec, "PLUGIN_DB_FAILPOINT_MARKS": str(marks)}
    env["PLUGIN_DB_LEASE_SECONDS"] = "6"  # 16 at once: slower
    proc = fleet.start_worker(beat=False, concurrency=len(ids) + 1, extra_env=env, pool="threads")
    for t in tracked:
        fleet.send("plugin_db.relocate", {"plugin_id": t.plugin_id, "target": "pg-new",
                                          "request_id": t.request_id})  # fmt: skip
    expected = {point.replace(":", "-") for point in POINTS}
    fleet.wait_until(
        lambda: {m.name for m in marks.iterdir()} == expected, timeout=120, what="all parked"
    )
    for t, point in zip(tracked, POINTS, strict=True):
        op = fleet.op(t.request_id)
        assert op is not None and op.state == "running", (point, op)
        step = point.split(":", 1)[1]  # the step at the boundary is not recorded yet
        assert [s["name"] for s in op.steps] == STEPS[: STEPS.index(step)], point
    fleet.kill(proc, signal.SIGKILL)
    wait_leases_expired(fleet, tracked)
    return tracked


def test_relocation_converges_after_a_sigkill_at_every_boundary(
    fleet: Stack, plugin_ids: Iterator[str]
) -> None:
    ids = [next(plugin_ids) for _ in POINTS]
    for pid in ids:
        write_plugin(fleet.plugins_root, pid, "exclusive-postgres", {"001_items.sql": ITEMS})
    sent = [fleet.send("plugin_db.provision", {"plugin_id": p, "target": "pg-old"}) for p in ids]
    assert {fleet.wait(rid, timeout=120).state for rid in sent} == {OpState.SUCCEEDED.value}
    fleet.stop()
    try:
        tracked = _walk(fleet, ids)
    finally:
        fleet.stop()
        fleet.start_worker(concurrency=4, beat=False)
    targets = Targets.from_settings(Settings.from_env(fleet.env))
    for t in tracked:
        done = fleet.wait(t.request_id, timeout=180)
        assert done.state == OpState.SUCCEEDED.value, (t.plugin_id, done.error)
        assert [s["name"] for s in done.steps] == STEPS
        ds = fleet.datasource(t.plugin_id)
        assert ds is not None and ds.target == "pg-new"
        spec = spec_for(parse_manifest(ds.manifest))
        assert targets.provider("pg-old").state(spec) is StorageState.ARCHIVED
        assert targets.provider("pg-new").state(spec) is StorageState.ACTIVE
        verified = next(s["detail"] for s in done.steps if s["name"] == "verify_copy")
        assert verified["checksums"]["items"].startswith("3:")
    with fleet.sessions() as session:  # one snapshot per relocation, a resumed step reused it
        taken = session.scalars(
            sa.select(PluginSnapshot.plugin_id).where(PluginSnapshot.reason == "before_relocate")
        ).all()
    assert sorted(p for p in taken if p in ids) == sorted(ids)
