"""``plugin-db migrate --all`` over a fleet of 20 plugins, through the CLI and real workers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from tests.migrations.support import cli, step, write_file
from tests.support.stack import Stack, write_plugin
from worker.tracking.models import LifecycleOperation

FLEET = 20


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ops_of(stack: Stack, items: list[dict[str, object]]) -> dict[str, LifecycleOperation]:
    ids = [i["operation_id"] for i in items]
    with stack.sessions() as session:
        found = session.scalars(select(LifecycleOperation).where(LifecycleOperation.id.in_(ids)))
        return {op.plugin_id: op for op in found}


def set_deps(stack: Stack, plugin_id: str, deps: list[str]) -> None:
    path = stack.plugins_root / plugin_id / "plugin.json"
    manifest = json.loads(path.read_text())
    manifest["sovereign"]["database"]["dependencies"] = ["core", *deps]
    path.write_text(json.dumps(manifest))


def test_fleet_migrate_in_dependency_order_with_bounded_parallelism(stack: Stack) -> None:
    batch = uuid.uuid4().hex[:6]
    ids = [f"fl{i:02d}-{batch}" for i in range(FLEET)]
    deps = {pid: [] if i % 4 == 0 else [ids[i - 1]] for i, pid in enumerate(ids)}  # chains of 4
    for pid in ids:  # no files yet: provision order does not matter
        write_plugin(stack.plugins_root, pid, "exclusive-sqlite")
        set_deps(stack, pid, deps[pid])
    sent = [stack.send("plugin_db.provision", {"plugin_id": pid}) for pid in ids]
    assert {stack.wait(r).state for r in sent} == {"succeeded"}
    for i, pid in enumerate(ids):
        write_file(stack, pid, "001-a.sql", "CREATE TABLE a (id INTEGER);")
        if i % 2 == 0:
            write_file(stack, pid, "002-b.sql", "CREATE TABLE b (id INTEGER);")

    result = cli(stack, "migrate", "--all", "--parallel", "3", "--wait", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["refused"] == {} and report["counts"] == {"succeeded": FLEET}
    for pid, dep_ids in deps.items():
        for dep in dep_ids:
            assert report["order"].index(dep) < report["order"].index(pid)
    ops = ops_of(stack, report["plugins"])
    for pid, dep_ids in deps.items():
        applied = step(ops[pid], "apply_migrations")["detail"]["applied"]
        assert applied == (["001", "002"] if ids.index(pid) % 2 == 0 else ["001"])
        for dep in dep_ids:  # a dependent is enqueued only after its dependency finished
            assert _utc(ops[dep].finished_at) <= _utc(ops[pid].created_at)
    spans = [(_utc(o.created_at), _utc(o.finished_at)) for o in ops.values()]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= 3

    with stack.sessions() as session:
        before = session.scalar(select(func.count()).select_from(LifecycleOperation))
    again = cli(stack, "migrate", "--all", "--wait")  # human output, progress bar
    assert again.exit_code == 0, again.output
    assert f"{FLEET} up-to-date" in again.stdout  # checked by the CLI: nothing enqueued
    with stack.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LifecycleOperation)) == before
    forced = cli(stack, "migrate", ids[5], "--wait", "--json")  # one plugin: the worker's path
    assert forced.exit_code == 0
    assert (
        step(stack.op(json.loads(forced.stdout)["request_id"]), "apply_migrations")["detail"][
            "reason"
        ]
        == "up to date"
    )

    set_deps(stack, ids[0], [ids[3]])  # 0 -> 3 -> 2 -> 1 -> 0: the first chain is a cycle
    cyclic = cli(stack, "migrate", "--all", "--wait", "--json")
    assert cyclic.exit_code == 1
    report = json.loads(cyclic.stdout)
    assert set(report["refused"]) == set(ids[:4])
    assert (
        f"dependency cycle: {ids[0]} -> {ids[3]} -> {ids[2]} -> {ids[1]} -> {ids[0]}"
        in (report["refused"][ids[0]])
    )
    assert report["counts"] == {"up-to-date": FLEET - 4}  # the rest: nothing changed
