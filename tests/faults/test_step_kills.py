"""A worker SIGKILLed at every step boundary of provision, migrate, rotate and teardown.

The sqlite, postgresql and mysql providers are walked side by side (one plugin each): at every
``before:STEP`` and ``after:STEP`` failpoint of the kind's plan a real worker is SIGKILLed, and
a restarted worker resumes the operation. In the end each operation has succeeded with every
step recorded once, one ``step_done``/``step_skipped`` event per step, and exactly the objects
the plugin should own (no leaked role, schema, database, user or file).
"""

from __future__ import annotations

from collections import Counter
from contextlib import closing
from typing import Any

import pytest

from providers.base import StorageState
from tests.faults.conftest import MakeStack
from tests.faults.support import (
    login_of,
    mysql_objects,
    pg_expected,
    pg_objects,
    request_id,
    secret_payload,
    sqlite_files,
    step_events,
)
from tests.faults.walk import Tracked, boundaries, new_plugin, walk
from tests.support.stack import Stack
from worker.naming import namespace

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mysql, pytest.mark.redis]

PROVIDERS = ("sqlite", "postgresql", "mysql")
PROVISION = ["begin_provision", "create_storage", "apply_migrations", "activate"]
MIGRATE = ["begin_migrate", "apply_migrations", "activate"]
ROTATE = ["retire_previous", "begin_rotate", "rotate_credentials"]


def stack_with_plugins(make_stack: MakeStack, provisioned: bool) -> tuple[Stack, dict[str, str]]:
    """A stack (no worker left running) with one plugin per provider, optionally provisioned."""
    stack = make_stack(PLUGIN_DB_MAX_ATTEMPTS="100")
    plugins = {provider: new_plugin(stack, provider) for provider in PROVIDERS}
    if provisioned:
        stack.start_worker(concurrency=3)
        for plugin_id in plugins.values():
            op = stack.run("plugin_db.provision", {"plugin_id": plugin_id}, timeout=90)
            assert op.state == "succeeded", op.error
        for proc in stack.workers:
            if proc.poll() is None:
                stack.kill(proc)
    return stack, plugins


def finish(stack: Stack, tracked: list[Tracked]) -> dict[str, Any]:
    """A worker without failpoints completes every operation; check steps and events."""
    stack.start_worker(concurrency=3)
    ops = {}
    for t in tracked:
        op = stack.wait(t.request_id, timeout=90)
        assert op.state == "succeeded", (t.provider, op.error)
        assert [s["name"] for s in op.steps] == t.plan, t.provider
        events = Counter(e.split(":", 1)[1] for e in step_events(stack, op.id))
        assert events == dict.fromkeys(t.plan, 1), (t.provider, events)
        assert op.crashes >= 1 and len(t.kills) >= len(t.plan), (t.provider, t.kills)
        ops[t.provider] = op
    return ops


def tracked_ops(
    plugins: dict[str, str], plan: list[str], skip: dict[str, list[str]] | None = None
) -> list[Tracked]:
    skip = skip or {}
    return [
        Tracked(pid, provider, request_id(), [s for s in plan if s not in skip.get(provider, [])])
        for provider, pid in plugins.items()
    ]


def assert_objects(stack: Stack, plugins: dict[str, str], state: str) -> None:
    """Exactly the plugin's objects, per provider, for ``state`` active/archived/absent."""
    pg = plugins["postgresql"]
    if state == "absent":
        assert pg_objects(pg) == {"roles": [], "schemas": []}
    else:
        assert pg_objects(pg) == pg_expected(pg, archived=state == "archived")
    my = plugins["mysql"]
    ns = namespace(my)
    found = mysql_objects(my)
    if state == "absent":
        assert found == {"users": [], "databases": []}
    else:
        # archiving locks both logins and keeps the database
        assert found == {"users": [f"{ns}_a", f"{ns}_b"], "databases": [f"plugin_{ns}"]}
    sq = plugins["sqlite"]
    files = [f for f in sqlite_files(stack, sq) if f.endswith(".db")]
    expected = {
        "active": [f"plugins/{sq}.db"],
        "archived": [f"plugins/archive/{sq}.db"],
        "absent": [],
    }[state]
    assert files == expected
    for provider, plugin_id in plugins.items():
        if state != "absent":
            prov, spec, _ = login_of(stack, plugin_id)
            want = StorageState.ACTIVE if state == "active" else StorageState.ARCHIVED
            assert prov.state(spec) is want, provider


def rows(stack: Stack, plugin_id: str, sql: str) -> list[tuple[Any, ...]]:
    provider, spec, login = login_of(stack, plugin_id)
    with closing(provider.connect(spec, login)) as conn:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def test_provision_killed_at_every_step_boundary(make_stack: MakeStack) -> None:
    stack, plugins = stack_with_plugins(make_stack, provisioned=False)
    tracked = tracked_ops(plugins, PROVISION)
    send = {pid: {"plugin_id": pid} for pid in plugins.values()}
    walk(stack, tracked, boundaries(PROVISION), send=send, task="plugin_db.provision")
    finish(stack, tracked)
    assert_objects(stack, plugins, "active")
    for plugin_id in plugins.values():
        assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
            ("001", "completed"),
            ("002", "completed"),
        ]
        assert len(stack.ops(plugin_id)) == 1
        ns = namespace(plugin_id)
        rows(stack, plugin_id, f"INSERT INTO {ns}_items (id, name, note) VALUES (1, 'x', 'y')")
        assert rows(stack, plugin_id, f"SELECT name, note FROM {ns}_items") == [("x", "y")]
    for provider in ("postgresql", "mysql"):
        payload = secret_payload(stack, plugins[provider])
        assert payload is not None and payload["active"] == "a" and set(payload["slots"]) == {"a"}


def test_migrate_killed_at_every_step_boundary(make_stack: MakeStack) -> None:
    stack, plugins = stack_with_plugins(make_stack, provisioned=True)
    for plugin_id in plugins.values():
        rows(
            stack,
            plugin_id,
            f"INSERT INTO {namespace(plugin_id)}_items (id, name) VALUES (7, 'kept')",
        )
    tracked = tracked_ops(plugins, MIGRATE)
    send = {pid: {"plugin_id": pid, "target": "001"} for pid in plugins.values()}
    walk(stack, tracked, boundaries(MIGRATE), send=send, task="plugin_db.migrate")
    finish(stack, tracked)
    assert_objects(stack, plugins, "active")
    for plugin_id in plugins.values():
        assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
            ("001", "completed"),
            ("002", "rolled_back"),
        ]
        ns = namespace(plugin_id)
        assert rows(stack, plugin_id, f"SELECT id, name FROM {ns}_items") == [(7, "kept")]
        assert stack.datasource(plugin_id).status == "ready"


def test_rotate_killed_at_every_step_boundary(make_stack: MakeStack) -> None:
    stack, plugins = stack_with_plugins(make_stack, provisioned=True)
    before = {p: secret_payload(stack, plugins[p]) for p in ("postgresql", "mysql")}
    tracked = tracked_ops(plugins, ROTATE, skip={"sqlite": ["retire_previous", "begin_rotate"]})
    send = {pid: {"plugin_id": pid} for pid in plugins.values()}
    walk(stack, tracked, boundaries(ROTATE), send=send, task="plugin_db.rotate_credentials")
    ops = finish(stack, tracked)
    assert ops["sqlite"].steps[-1]["status"] == "skipped"
    assert step_events(stack, ops["sqlite"].id) == ["skipped:rotate_credentials"]
    assert_objects(stack, plugins, "active")
    for provider in ("postgresql", "mysql"):
        plugin_id = plugins[provider]
        payload = secret_payload(stack, plugin_id)
        old = before[provider]
        assert payload is not None and old is not None
        # rotated once: slot b is active with a new password, slot a is untouched
        assert payload["active"] == "b" and payload["slots"]["a"] == old["slots"]["a"]
        ns = namespace(plugin_id)
        assert rows(stack, plugin_id, f"SELECT COUNT(*) FROM {ns}_items") == [(0,)]
        assert stack.datasource(plugin_id).status == "ready"


def test_teardown_killed_at_every_step_boundary(make_stack: MakeStack) -> None:
    stack, plugins = stack_with_plugins(make_stack, provisioned=True)
    for plugin_id in plugins.values():
        secret_payload(stack, plugin_id)  # remember the passwords before purge deletes them
    archive = tracked_ops(plugins, ["archive_storage"])
    send = {pid: {"plugin_id": pid} for pid in plugins.values()}
    walk(stack, archive, boundaries(["archive_storage"]), send=send, task="plugin_db.teardown")
    finish(stack, archive)
    assert_objects(stack, plugins, "archived")
    assert {stack.datasource(p).status for p in plugins.values()} == {"archived"}

    for plugin_id in plugins.values():
        op = stack.run("plugin_db.restore", {"plugin_id": plugin_id}, timeout=90)
        assert op.state == "succeeded", op.error
    assert_objects(stack, plugins, "active")
    for proc in stack.workers:
        if proc.poll() is None:
            stack.kill(proc)

    steps = ["snapshot_before_purge", "purge_storage"]
    purge = tracked_ops(plugins, steps)
    send = {pid: {"plugin_id": pid, "purge": True} for pid in plugins.values()}
    walk(stack, purge, boundaries(steps), send=send, task="plugin_db.teardown")
    finish(stack, purge)
    assert_objects(stack, plugins, "absent")
    assert {stack.datasource(p).status for p in plugins.values()} == {"deleted"}
