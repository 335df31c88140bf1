"""The worker end to end on SQLite plugins: a real Redis broker and real worker processes."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from tests.support.env import unique_id
from tests.support.stack import Stack, migration, write_plugin

NOTES = {
    "001-create-items.sql": migration(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        "DROP TABLE items;",
        "001",
    ),
    "002-add-note.sql": migration(
        "ALTER TABLE items ADD COLUMN note TEXT;\nCREATE INDEX idx_items_name ON items(name);",
        "DROP INDEX idx_items_name;\nALTER TABLE items DROP COLUMN note;",
        "002",
    ),
}


def sqlite_plugin(stack: Stack, **extra: object) -> str:
    plugin_id = unique_id("sq")
    write_plugin(
        stack.plugins_root, plugin_id, "exclusive-sqlite", NOTES, limits={"storageMb": 8}, **extra
    )
    return plugin_id


def plugin_file(stack: Stack, plugin_id: str) -> Path:
    return Path(stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins" / f"{plugin_id}.db"


def test_provision_by_task_name_creates_file_descriptor_rows_and_audit(stack: Stack) -> None:
    """Given a plugin folder, a foreign producer's plugin_db.provision provisions it."""
    plugin_id = sqlite_plugin(stack)
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id, "requested_by": "platform"})
    assert op.state == "succeeded", op.error
    path = plugin_file(stack, plugin_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    assert columns == ["id", "name", "note"]
    ds = stack.datasource(plugin_id)
    assert ds is not None and ds.status == "ready" and ds.mode == "exclusive-sqlite"
    assert ds.descriptor["url"] == f"sqlite:///{path}"
    assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    events = [e.event for e in stack.audit(plugin_id)]
    assert events[0] == "operation_accepted" and events[-1] == "operation_succeeded"
    assert events.count("step_done") == 4
    assert all(e.actor == "platform" for e in stack.audit(plugin_id, op.id))


def test_task_result_is_the_summary(stack: Stack) -> None:
    """The Celery result is {operation_id, plugin_id, kind, state}."""
    plugin_id = sqlite_plugin(stack)
    result = stack.producer.send_task(
        "plugin_db.provision", args=[{"plugin_id": plugin_id}], queue="plugin-db"
    )
    summary = result.get(timeout=60)
    assert summary["plugin_id"] == plugin_id and summary["kind"] == "provision"
    assert summary["state"] == "succeeded" and isinstance(summary["operation_id"], int)


def test_same_request_id_twice_and_concurrently_is_one_operation(stack: Stack) -> None:
    """A request_id sent 10 times (sequentially and in parallel) yields one operation."""
    plugin_id = sqlite_plugin(stack)
    request = {"plugin_id": plugin_id, "request_id": f"dup-{plugin_id}"}
    threads = [
        threading.Thread(target=stack.send, args=("plugin_db.provision", request)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = stack.wait(request["request_id"])
    second = stack.run("plugin_db.provision", request)
    assert first.id == second.id and second.state == "succeeded"
    assert len(stack.ops(plugin_id)) == 1
    assert [m.migration_version for m in stack.migrations(plugin_id)] == ["001", "002"]


@pytest.mark.parametrize(
    ("request_body", "needle"),
    [
        ({"plugin_id": 'x"; DROP ROLE postgres;--'}, "is not a plugin id"),
        ({"plugin_id": "../../etc"}, "is not a plugin id"),
        ({"plugin_id": "/etc/passwd"}, "is not a plugin id"),
        ({"plugin_id": "a" * 500}, "at most 64"),
        ({"plugin_id": "postgres"}, "reserved"),
        ({"plugin_id": "ok-id", "unexpected": 1}, "unknown field"),
        ({"plugin_id": 42}, "plugin_id"),
        (
            {
                "plugin_id": "ok-id",
                "manifest": {
                    "id": "ok-id",
                    "sovereign": {"database": {"mode": "exclusive-oracle"}},
                },
            },
            "unknown value 'exclusive-oracle'",
        ),
        (
            {
                "plugin_id": "ok-id",
                "manifest": {
                    "id": "ok-id",
                    "sovereign": {
                        "database": {
                            "mode": "exclusive-sqlite",
                            "migrations": {"directory": "../../etc"},
                        }
                    },
                },
            },
            "relative path",
        ),
        ({"plugin_id": "ok-id", "manifest": {"id": "other", "sovereign": {}}}, "is not plugin_id"),
    ],
)
def test_hostile_requests_are_rejected_with_a_clear_error_and_change_nothing(
    stack: Stack, request_body: dict[str, object], needle: str
) -> None:
    """Hostile ids and manifests end `rejected`, name the problem, create nothing, are audited."""
    before = (
        set(os.listdir(stack.env["PLUGIN_DB_DATA_DIR"]))
        if Path(stack.env["PLUGIN_DB_DATA_DIR"]).exists()
        else set()
    )
    files_before = sorted(Path(stack.env["PLUGIN_DB_DATA_DIR"]).rglob("*.db"))
    op = stack.run("plugin_db.provision", request_body)
    assert op.state == "rejected"
    assert needle in (op.error or ""), op.error
    assert sorted(Path(stack.env["PLUGIN_DB_DATA_DIR"]).rglob("*.db")) == files_before
    assert before <= set(os.listdir(stack.env["PLUGIN_DB_DATA_DIR"])) if before else True
    events = stack.audit(operation_id=op.id)
    assert [e.event for e in events] == ["request_rejected"]
    assert needle in json.dumps(events[0].details)


def test_malformed_messages_are_rejected_and_the_worker_keeps_consuming(stack: Stack) -> None:
    """A non-object argument and extra positional arguments are rejected; later work still runs."""
    bad = stack.producer.send_task("plugin_db.provision", args=["just a string"], queue="plugin-db")
    assert bad.get(timeout=30)["state"] == "rejected"
    extra = stack.producer.send_task(
        "plugin_db.migrate", args=[{"plugin_id": "x-y"}, "surplus"], queue="plugin-db"
    )
    assert extra.get(timeout=30)["state"] == "rejected"
    plugin_id = sqlite_plugin(stack)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"


def test_full_lifecycle_migrate_down_up_rotate_archive_restore_purge(stack: Stack) -> None:
    """Provision, roll back, re-apply, rotate (not applicable), archive, restore, purge."""
    plugin_id = sqlite_plugin(stack)
    path = plugin_file(stack, plugin_id)
    assert stack.run("plugin_db.provision", {"plugin_id": plugin_id}).state == "succeeded"
    dry = stack.run("plugin_db.migrate", {"plugin_id": plugin_id, "target": "0", "dry_run": True})
    assert dry.state == "succeeded"
    assert [s["version"] for s in dry.result["sql"]] == ["002", "001"]
    assert dry.result["sql"][1]["statements"] == ["DROP TABLE items"]
    assert [m.status for m in stack.migrations(plugin_id)] == ["completed", "completed"]
    down = stack.run("plugin_db.migrate", {"plugin_id": plugin_id, "target": "001"})
    assert down.state == "succeeded", down.error
    assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
        ("001", "completed"),
        ("002", "rolled_back"),
    ]
    assert stack.run("plugin_db.migrate", {"plugin_id": plugin_id}).state == "succeeded"
    assert [m.status for m in stack.migrations(plugin_id)] == ["completed", "completed"]
    rotate = stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id})
    assert rotate.state == "succeeded"
    assert (
        rotate.steps[-1]["status"] == "skipped"
        and "not applicable" in rotate.steps[-1]["detail"]["reason"]
    )
    assert stack.run("plugin_db.teardown", {"plugin_id": plugin_id}).state == "succeeded"
    assert not path.exists() and stack.datasource(plugin_id).status == "archived"
    assert stack.run("plugin_db.restore", {"plugin_id": plugin_id}).state == "succeeded"
    assert path.exists() and stack.datasource(plugin_id).status == "ready"
    assert (
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
        == "succeeded"
    )
    assert not path.exists() and not list(path.parent.rglob(f"{plugin_id}.db*"))
    assert stack.datasource(plugin_id).status == "deleted"


def test_a_failing_migration_leaves_nothing_and_fails_the_operation(stack: Stack) -> None:
    """A file whose second statement fails is rolled back whole and recorded as failed."""
    plugin_id = unique_id("sqf")
    write_plugin(
        stack.plugins_root,
        plugin_id,
        "exclusive-sqlite",
        {
            "001-ok.sql": migration(
                "CREATE TABLE a (id INTEGER PRIMARY KEY);", "DROP TABLE a;", "001"
            ),
            "002-broken.sql": migration(
                "CREATE TABLE b (id INTEGER);\nINSERT INTO missing_table VALUES (1);",
                "DROP TABLE b;",
                "002",
            ),
        },
    )
    op = stack.run("plugin_db.provision", {"plugin_id": plugin_id})
    assert op.state == "failed" and "missing_table" in (op.error or "")
    rows = {m.migration_version: m for m in stack.migrations(plugin_id)}
    assert rows["001"].status == "completed" and rows["002"].status == "failed"
    import sqlite3

    with sqlite3.connect(plugin_file(stack, plugin_id)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "a" in tables and "b" not in tables
    assert stack.datasource(plugin_id).status == "failed"


def test_a_raw_protocol_2_message_pushed_to_redis_is_consumed(stack: Stack) -> None:
    """A producer with no Celery at all LPUSHes the README's JSON message; the worker runs it."""
    import base64
    import uuid

    import redis

    plugin_id = sqlite_plugin(stack)
    task_id = str(uuid.uuid4())
    body = [
        [{"plugin_id": plugin_id, "request_id": f"raw-{plugin_id}"}],
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    ]
    message = {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "js",
            "task": "plugin_db.provision",
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "argsrepr": f"({{'plugin_id': '{plugin_id}'}},)",
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "plugin-db", "routing_key": "plugin-db"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    redis.Redis.from_url(stack.env["PLUGIN_DB_BROKER_URL"]).lpush("plugin-db", json.dumps(message))
    op = stack.wait(f"raw-{plugin_id}")
    assert op.state == "succeeded" and op.task_id == task_id
