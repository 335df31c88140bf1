"""A worker SIGKILLed at relocation boundaries: a restarted worker converges.

At each boundary below a worker parks the relocation (a ``sleep`` failpoint) and its process
group is SIGKILLed; once the lease has expired the next worker's start-up reconcile resumes
it. In the end the relocation has succeeded with every step recorded once, the checksums of
both sides were equal, and exactly one storage is live: the destination (the source archived).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from providers.base import StorageState
from providers.targets import Targets
from tests.support.stack import Stack, migration, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.settings import Settings
from worker.tracking.models import utcnow

STEPS = [
    "reserve_destination",
    "provision_destination",
    "freeze_source",
    "copy_data",
    "verify_copy",
    "switch_datasource",
    "archive_source",
]
POINTS = ["after:provision_destination", "after:copy_data", "before:switch_datasource",
          "after:switch_datasource"]  # fmt: skip
ITEMS = migration(
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(100));"
    "INSERT INTO items (id, name) VALUES (1, 'ünï'), (2, NULL), (3, '東京');",
    "DROP TABLE items;",
    version="001",
)


def _parked(stack: Stack, index: int, op_id: int) -> str | None:
    path = Path(stack.workdir) / f"worker-{index}.log"
    for line in path.read_text(errors="replace").splitlines():
        if '"failpoint_hit"' in line and line.startswith("{"):
            event = json.loads(line)
            if event.get("operation_id") == op_id:
                return str(event.get("failpoint"))
    return None


def _lease_expired(stack: Stack, request_id: str) -> bool:
    op = stack.op(request_id)
    expires = op.lease_expires_at if op is not None else None
    if expires is None:
        return True
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) < utcnow()


def test_relocation_converges_after_sigkills(fleet: Stack, plugin_ids: Iterator[str]) -> None:
    pid = next(plugin_ids)
    write_plugin(fleet.plugins_root, pid, "exclusive-postgres", {"001_items.sql": ITEMS})
    op = fleet.run("plugin_db.provision", {"plugin_id": pid, "target": "pg-a"}, timeout=120)
    assert op.state == "succeeded", op.error
    fleet.stop()
    request_id = f"t-{uuid.uuid4()}"
    try:
        for index, point in enumerate(POINTS):
            points = ",".join(f"{p}=sleep:600" for p in POINTS[index:])
            proc = fleet.start_worker(
                beat=False, concurrency=2, extra_env={"PLUGIN_DB_FAILPOINTS": points}
            )
            if index == 0:
                fleet.send("plugin_db.relocate", {"plugin_id": pid, "target": "pg-b",
                                                  "request_id": request_id})  # fmt: skip
            fleet.wait_until(lambda: fleet.op(request_id) is not None, what="accepted")
            op_id = fleet.op(request_id).id  # type: ignore[union-attr]
            worker = fleet.started - 1  # its log file's number
            fleet.wait_until(
                lambda w=worker, o=op_id, p=point: _parked(fleet, w, o) == p,
                timeout=90,
                what=f"parked {point}",
            )
            fleet.kill(proc, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while not _lease_expired(fleet, request_id) and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        fleet.stop()
        fleet.start_worker(concurrency=4, beat=False)
    done = fleet.wait(request_id, timeout=120)
    assert done.state == "succeeded", done.error
    assert [s["name"] for s in done.steps] == STEPS
    ds = fleet.datasource(pid)
    assert ds is not None and ds.target == "pg-b"
    targets = Targets.from_settings(Settings.from_env(fleet.env))
    spec = spec_for(parse_manifest(ds.manifest))
    assert targets.provider("pg-a").state(spec) is StorageState.ARCHIVED
    assert targets.provider("pg-b").state(spec) is StorageState.ACTIVE
    verified = next(s["detail"] for s in done.steps if s["name"] == "verify_copy")
    assert verified["checksums"]["items"].startswith("3:")
