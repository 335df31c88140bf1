"""Databases that go away: the plugin's PostgreSQL server and the tracking database.

Each test puts a loopback TCP proxy (``TcpProxy``) between the worker and the real server and
takes it down and up again: connections are refused while it is down and open ones are cut.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.faults.conftest import MakeStack
from tests.faults.support import (
    pg_expected,
    pg_objects,
    proxy_to,
    request_id,
    step_events,
    via_proxy,
)
from tests.faults.walk import new_plugin
from tests.support.services import service_url
from tests.support.stack import Stack

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROVISION = ["begin_provision", "create_storage", "apply_migrations", "activate"]


def events(stack: Stack, op_id: int, name: str) -> int:
    return sum(1 for e in stack.audit(operation_id=op_id) if e.event == name)


def assert_clean_provision(stack: Stack, plugin_id: str, rid: str) -> None:
    op = stack.op(rid)
    assert op is not None and op.state == "succeeded", op and op.error
    assert Counter(e.split(":", 1)[1] for e in step_events(stack, op.id)) == dict.fromkeys(
        PROVISION, 1
    )
    assert pg_objects(plugin_id) == pg_expected(plugin_id)
    assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
        ("001", "completed"),
        ("002", "completed"),
    ]
    assert stack.datasource(plugin_id).status == "ready"


def test_target_database_back_within_the_retry_budget(make_stack: MakeStack) -> None:
    """PostgreSQL unreachable: the provision retries with backoff and succeeds once it is back."""
    with proxy_to("PG_ADMIN_URL") as proxy:
        stack = make_stack(
            PLUGIN_DB_POSTGRES_ADMIN_URL=via_proxy(service_url("PG_ADMIN_URL"), proxy),
            PLUGIN_DB_MAX_RETRIES="12",
            PLUGIN_DB_BACKOFF_BASE="0.3",
        )
        stack.start_worker()
        plugin_id = new_plugin(stack, "postgresql", prefix="u")
        proxy.stop()
        rid = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
        stack.wait_until(
            lambda: (
                (op := stack.op(rid)) is not None and events(stack, op.id, "retry_scheduled") >= 3
            ),
            timeout=60,
            what="three retries while the server is unreachable",
        )
        op = stack.op(rid)
        assert op is not None and op.state in ("pending", "running")
        assert "postgres" in (op.error or "") and "provision" in (op.error or "")
        assert pg_objects(plugin_id) == {"roles": [], "schemas": []}
        proxy.start()
        done = stack.wait(rid, timeout=60)
        assert done.state == "succeeded", done.error
        assert done.error is None and done.attempts >= 4
        assert_clean_provision(stack, plugin_id, rid)


def test_target_database_never_back_fails_and_a_later_provision_repairs(
    make_stack: MakeStack,
) -> None:
    """Server lost after the storage was made: failed after the budget; re-provision converges."""
    with proxy_to("PG_ADMIN_URL") as proxy:
        stack = make_stack(
            PLUGIN_DB_POSTGRES_ADMIN_URL=via_proxy(service_url("PG_ADMIN_URL"), proxy),
        )  # PLUGIN_DB_MAX_RETRIES=3
        stack.start_worker(extra_env={"PLUGIN_DB_FAILPOINTS": "after:create_storage=sleep:1"})
        plugin_id = new_plugin(stack, "postgresql", prefix="u")
        rid = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
        stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="storage created")
        proxy.stop()
        failed = stack.wait(rid, timeout=90)
        assert failed.state == "failed"
        assert "retries exhausted" in (failed.error or "")
        assert "postgres" in (failed.error or "")
        assert events(stack, failed.id, "retry_scheduled") == 3
        assert [s["name"] for s in failed.steps] == ["begin_provision", "create_storage"]
        assert stack.datasource(plugin_id).status == "failed"
        # what exists is exactly what create_storage makes: one schema, three roles
        assert pg_objects(plugin_id) == pg_expected(plugin_id)
        assert stack.migrations(plugin_id) == []

        proxy.start()
        again = request_id()
        stack.send("plugin_db.provision", {"plugin_id": plugin_id, "request_id": again})
        assert stack.wait(again, timeout=60).state == "succeeded"
        assert_clean_provision(stack, plugin_id, again)


def test_target_database_never_back_before_anything_was_made(make_stack: MakeStack) -> None:
    """Unreachable from the start: failed after the retry budget, nothing created anywhere."""
    with proxy_to("PG_ADMIN_URL") as proxy:
        stack = make_stack(
            PLUGIN_DB_POSTGRES_ADMIN_URL=via_proxy(service_url("PG_ADMIN_URL"), proxy),
        )
        stack.start_worker()
        plugin_id = new_plugin(stack, "postgresql", prefix="u")
        proxy.stop()
        failed = stack.run("plugin_db.provision", {"plugin_id": plugin_id}, timeout=60)
        assert failed.state == "failed" and "retries exhausted" in (failed.error or "")
        assert pg_objects(plugin_id) == {"roles": [], "schemas": []}
        ds = stack.datasource(plugin_id)
        assert ds is not None and ds.status == "failed" and ds.secrets_ref is None
        proxy.start()
        again = request_id()
        stack.send("plugin_db.provision", {"plugin_id": plugin_id, "request_id": again})
        assert stack.wait(again, timeout=60).state == "succeeded"
        assert_clean_provision(stack, plugin_id, again)


def _task_state(stack: Stack, task_id: str) -> str:
    return str(stack.producer.AsyncResult(task_id).state)


def test_tracking_database_down_when_the_request_arrives(make_stack: MakeStack) -> None:
    """No tracking DB at acceptance: retried, never reported succeeded; accepted once it is back."""
    with proxy_to("PG_URL") as proxy:
        stack = make_stack(tracking="postgresql")
        worker_url = via_proxy(stack.env["PLUGIN_DB_DATABASE_URL"], proxy)
        stack.start_worker(extra_env={"PLUGIN_DB_DATABASE_URL": worker_url})
        stack.wait_until(lambda: "ready." in stack.logs(), what="worker ready")
        plugin_id = new_plugin(stack, "sqlite", prefix="t")
        proxy.stop()
        rid = request_id()
        result = stack.producer.send_task(
            "plugin_db.provision",
            args=[{"plugin_id": plugin_id, "request_id": rid}],
            queue="plugin-db",
        )
        deadline = time.monotonic() + 6
        seen = set()
        while time.monotonic() < deadline:
            seen.add(_task_state(stack, result.id))
            time.sleep(0.1)
        assert "SUCCESS" not in seen and "FAILURE" not in seen, seen
        assert stack.op(rid) is None
        proxy.start()
        assert result.get(timeout=60)["state"] == "succeeded"
        op = stack.wait(rid)
        assert op.state == "succeeded" and len(stack.ops(plugin_id)) == 1
        assert [s["name"] for s in op.steps] == PROVISION


def test_tracking_database_lost_mid_operation(make_stack: MakeStack) -> None:
    """The tracking DB goes away between two steps: retried, not succeeded until it is back."""
    with proxy_to("PG_URL") as proxy:
        stack = make_stack(tracking="postgresql")
        worker_url = via_proxy(stack.env["PLUGIN_DB_DATABASE_URL"], proxy)
        stack.start_worker(
            extra_env={
                "PLUGIN_DB_DATABASE_URL": worker_url,
                "PLUGIN_DB_FAILPOINTS": "after:create_storage=sleep:1",
            }
        )
        plugin_id = new_plugin(stack, "postgresql", prefix="t")
        rid = request_id()
        result = stack.producer.send_task(
            "plugin_db.provision",
            args=[{"plugin_id": plugin_id, "request_id": rid}],
            queue="plugin-db",
        )
        stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="storage created")
        proxy.stop()
        deadline = time.monotonic() + 8
        seen = set()
        while time.monotonic() < deadline:
            seen.add(_task_state(stack, result.id))
            op = stack.op(rid)
            assert op is not None and op.state != "succeeded"
            time.sleep(0.1)
        assert "SUCCESS" not in seen and "FAILURE" not in seen, seen
        proxy.start()
        assert result.get(timeout=60)["state"] == "succeeded"
        assert_clean_provision(stack, plugin_id, rid)
