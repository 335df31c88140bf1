"""Walk operations through every step boundary, SIGKILLing a real worker at each one.

One worker per boundary: it runs with failpoints ``sleep`` at that boundary and every later one,
so each operation stops at the first boundary of its plan it reaches; the test waits until every
operation sleeps there, SIGKILLs the worker's process group, waits for the leases to expire and
starts the next worker, whose start-up reconcile re-enqueues the operations (``plugin_db.resume``).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.support import kill_all
from tests.support.stack import Stack, migration, write_plugin
from worker.naming import namespace
from worker.tracking.models import utcnow

SLEEP = "sleep:600"


@dataclass
class Tracked:
    """An operation being walked: its plugin, request id and the plan it must end with."""

    plugin_id: str
    provider: str
    request_id: str
    plan: list[str]
    kills: list[str] = field(default_factory=list)


def plugin_files(plugin_id: str) -> dict[str, str]:
    """Two portable migrations inside the plugin's namespace."""
    ns = namespace(plugin_id)
    return {
        "001-items.sql": migration(
            f"CREATE TABLE {ns}_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);",
            f"DROP TABLE {ns}_items;",
            "001",
        ),
        "002-note.sql": migration(
            f"ALTER TABLE {ns}_items ADD COLUMN note VARCHAR(200);",
            f"ALTER TABLE {ns}_items DROP COLUMN note;",
            "002",
        ),
    }


MODES = {
    "sqlite": "exclusive-sqlite",
    "postgresql": "exclusive-postgres",
    "mysql": "exclusive-mysql",
}


def new_plugin(stack: Stack, provider: str, prefix: str = "k") -> str:
    plugin_id = f"{prefix}{provider[:2]}-{uuid.uuid4().hex[:8]}"
    write_plugin(stack.plugins_root, plugin_id, MODES[provider], plugin_files(plugin_id))
    return plugin_id


def boundaries(steps: list[str]) -> list[str]:
    """``before:S`` and ``after:S`` for every step, in execution order."""
    return [f"{edge}:{step}" for step in steps for edge in ("before", "after")]


def hits(stack: Stack, proc_index: int) -> list[dict[str, Any]]:
    """The failpoint_hit log events of one worker."""
    path = Path(stack.workdir) / f"worker-{proc_index}.log"
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if '"failpoint_hit"' in line and line.startswith("{"):
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def wait_leases_expired(stack: Stack, tracked: list[Tracked], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ops = [stack.op(t.request_id) for t in tracked]
        now = utcnow()
        if all(
            op is not None and (op.lease_expires_at is None or _aware(op.lease_expires_at) < now)
            for op in ops
        ):
            return
        time.sleep(0.1)
    raise AssertionError("leases did not expire")


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def walk(
    stack: Stack,
    tracked: list[Tracked],
    points: list[str],
    *,
    send: dict[str, dict[str, Any]],
    task: str,
) -> None:
    """Send ``task`` for every tracked op, then kill a worker at each boundary in ``points``."""
    first = True
    for index, point in enumerate(points):
        if not any(point.split(":", 1)[1] in t.plan for t in tracked):
            continue
        spec = ",".join(f"{p}={SLEEP}" for p in points[index:])
        proc = stack.start_worker(
            beat=False,
            concurrency=len(tracked) + 1,
            extra_env={"PLUGIN_DB_FAILPOINTS": spec},
        )
        proc_index = stack.workers.index(proc)
        if first:
            for t in tracked:
                stack.send(task, {**send[t.plugin_id], "request_id": t.request_id})
            first = False
        waiting = {t.request_id for t in tracked}

        def all_parked(proc_index: int = proc_index, waiting: set[str] = waiting) -> bool:
            ops = {rid: stack.op(rid) for rid in waiting}
            if any(op is None for op in ops.values()):
                return False
            parked = {(h.get("operation_id"), h.get("failpoint")) for h in hits(stack, proc_index)}
            parked_ops = {op_id for op_id, _ in parked}
            return all(op is not None and op.id in parked_ops for op in ops.values())

        stack.wait_until(all_parked, timeout=90, what=f"every operation parked at {point}")
        parked_at = {h["operation_id"]: h["failpoint"] for h in hits(stack, proc_index)}
        for t in tracked:
            op = stack.op(t.request_id)
            assert op is not None and op.state == "running", (point, op and op.state)
            at = parked_at[op.id]
            t.kills.append(at)
            # the step at the boundary is not recorded yet; every earlier one is, once
            step = at.split(":", 1)[1]
            done = [s["name"] for s in op.steps]
            assert done == t.plan[: t.plan.index(step)], (at, done)
        kill_all(stack)
        wait_leases_expired(stack, tracked)
    for t in tracked:
        expected = [p for p in points if p.split(":", 1)[1] in t.plan]
        missed = [p for p in expected if p not in t.kills]
        assert not missed, f"{t.provider}: never killed at {missed}"
