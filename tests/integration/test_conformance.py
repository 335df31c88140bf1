"""One conformance suite, through a real worker, for every provider and tracking database.

Each case runs the whole lifecycle (provision with migrations, plugin writes through its own
login, rollback and re-apply, rotation or its explicit "not applicable", archive, restore,
purge), duplicate requests, hostile input and a worker SIGKILLed mid-operation; and then
searches every place a password could leak for every password the case issued.

The server matrix: the fault-free path (lifecycle, duplicates, hostile input) runs in every
cell: PostgreSQL 15 and 18, each with a superuser and a managed-like admin (CREATEROLE
CREATEDB, not owner of ``public``), MariaDB tuned for tests and as a default install leaves
it. The fault test (a worker SIGKILLed mid-provision) runs on the primary cells only.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from providers.base import StorageState
from tests.support.env import fresh_pg_database, private_broker, provider_urls
from tests.support.plugin_access import login_for, provider_for, query, secret_payload
from tests.support.services import service_url
from tests.support.stack import Stack, base_env, migration, write_plugin
from worker.manifest import Mode
from worker.naming import namespace
from worker.tracking.models import PluginSecret


@dataclass(frozen=True)
class Case:
    """A provider (mode) on a given shared/tracking backend."""

    name: str
    mode: Mode
    shared: str = "sqlite"
    tracking: str = "sqlite"
    postgres: str = "PG_ADMIN_URL"
    """The PostgreSQL provider's admin (a key of the test server settings)."""
    mysql: str = "MYSQL_ADMIN_URL"
    """The MySQL provider's admin."""


CASES = [
    Case("sqlite", Mode.EXCLUSIVE_SQLITE),
    Case("postgresql", Mode.EXCLUSIVE_POSTGRES),
    Case("mysql", Mode.EXCLUSIVE_MYSQL),
    Case("shared-sqlite", Mode.SHARED, shared="sqlite"),
    Case("shared-postgresql", Mode.SHARED, shared="postgresql"),
    Case("shared-mysql", Mode.SHARED, shared="mysql"),
    Case("sqlite-on-postgres-tracking", Mode.EXCLUSIVE_SQLITE, tracking="postgresql"),
]
"""The primary cells: every provider and tracking backend (fault test too)."""
MATRIX = [
    Case("pg15-managed", Mode.EXCLUSIVE_POSTGRES, postgres="PG_NONSUPER_ADMIN_URL"),
    Case("pg18", Mode.EXCLUSIVE_POSTGRES, postgres="PG18_ADMIN_URL"),
    Case("pg18-managed", Mode.EXCLUSIVE_POSTGRES, postgres="PG18_NONSUPER_ADMIN_URL"),
    Case("shared-postgresql18", Mode.SHARED, shared="postgresql18"),
    Case("mysql-default-install", Mode.EXCLUSIVE_MYSQL, mysql="MYSQL_DEFAULT_ADMIN_URL"),
]
"""The other cells of the server matrix (fault-free path)."""
ALL = CASES + MATRIX
PROBES = {
    "postgresql": ("CREATE TABLE public.cf_probe (v int)", "SELECT * FROM pg_authid"),
    "mysql": ("CREATE DATABASE cf_probe", "SELECT * FROM mysql.user"),
}
"""Statements a plugin's own login must be refused (isolation), per provider."""


def _env(case: Case, workdir: Path, pg_tracking_url: str) -> dict[str, str]:
    shared = {
        "sqlite": f"sqlite:///{workdir / 'shared.db'}",
        "postgresql": service_url("PG_SHARED_URL"),
        "postgresql18": service_url("PG18_SHARED_URL"),
        "mysql": service_url("MYSQL_SHARED_URL"),
    }[case.shared]
    tracking = (
        pg_tracking_url if case.tracking == "postgresql" else f"sqlite:///{workdir / 'tracking.db'}"
    )
    urls = {
        **provider_urls(),
        "postgres_admin_url": service_url(case.postgres),
        "mysql_admin_url": service_url(case.mysql),
    }
    return base_env(workdir, private_broker(), tracking, shared_url=shared, **urls)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory, pg_tracking_url: str) -> Iterator[Any]:
    """Stacks by case name, started on first use and stopped at the end of the module."""
    started: dict[str, Stack] = {}

    def get(case: Case) -> Stack:
        key = f"{case.shared}/{case.tracking}/{case.postgres}/{case.mysql}"
        if key not in started:
            workdir = tmp_path_factory.mktemp(key.replace("/", "-").lower())
            started[key] = Stack(_env(case, workdir, pg_tracking_url), workdir)
            started[key].start_worker()
        return started[key]

    yield get
    for stack in started.values():
        stack.stop()
        stack.engine.dispose()


def plugin(stack: Stack, case: Case) -> tuple[str, str]:
    """A plugin folder for ``case`` with two portable migrations; returns (id, namespace)."""
    plugin_id = f"cf-{case.name[:6].rstrip('-')}-{uuid.uuid4().hex[:6]}"
    ns = namespace(plugin_id)
    files = {
        "001-items.sql": migration(
            f"CREATE TABLE {ns}_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL);\n"
            f"CREATE INDEX idx_{ns}_items_name ON {ns}_items (name);",
            f"DROP TABLE {ns}_items;",
            "001",
        ),
        "002-note.sql": migration(
            f"ALTER TABLE {ns}_items ADD COLUMN note VARCHAR(200);",
            f"ALTER TABLE {ns}_items DROP COLUMN note;",
            "002",
        ),
    }
    write_plugin(stack.plugins_root, plugin_id, case.mode.value, files, limits={"connections": 5})
    return plugin_id, ns


def assert_no_leak(stack: Stack, passwords: set[str]) -> None:
    """No issued password in worker logs, audit/tracking rows (outside secrets) or Redis."""
    assert passwords, "the case issued no password to look for"
    haystacks = {"worker logs": stack.logs()}
    with stack.engine.connect() as conn:
        for table in (
            "lifecycle_operations",
            "audit_events",
            "plugin_datasources",
            "plugin_migrations",
        ):
            rows = conn.exec_driver_sql(f"SELECT * FROM {table}").fetchall()
            haystacks[table] = json.dumps([list(map(str, r)) for r in rows])
    client = redis.Redis.from_url(stack.env["PLUGIN_DB_BROKER_URL"])
    dump = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            dump.append(client.get(key) or b"")
        elif kind == b"list":
            dump.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            dump.extend(client.hvals(key))
    haystacks["redis"] = b"\n".join(dump).decode(errors="replace")
    for where, text in haystacks.items():
        for password in passwords:
            assert password not in text, f"a password leaked into {where}"


class TestConformance:
    """The contract every provider meets, through the worker."""

    @pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
    def test_lifecycle(self, stacks: Any, case: Case) -> None:
        """Provision, write, roll back, re-apply, rotate, archive, restore, purge; no leak."""
        stack: Stack = stacks(case)
        plugin_id, ns = plugin(stack, case)
        op = stack.run("plugin_db.provision", {"plugin_id": plugin_id})
        assert op.state == "succeeded", op.error
        ds = stack.datasource(plugin_id)
        assert ds is not None and ds.status == "ready" and ds.mode == case.mode.value
        rest = ds.descriptor["url"].split("://", 1)[1]
        assert "@" not in rest or ":" not in rest.split("@", 1)[0], (
            "descriptor URL carries a password"
        )
        provider, spec = provider_for(stack, plugin_id)
        passwords: set[str] = set()
        payload = secret_payload(stack, plugin_id)
        assert (payload is not None) == provider.issues_credentials
        if payload:
            passwords |= set(payload["slots"].values())
        login = login_for(stack, provider, spec, plugin_id)
        query(
            provider,
            spec,
            login,
            f"INSERT INTO {ns}_items (id, name, note) VALUES (1, 'kept', 'n')",
        )
        assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
            ("001", "completed"),
            ("002", "completed"),
        ]
        for probe in PROBES.get(provider.name, ()):
            with pytest.raises(Exception, match="denied"):
                query(provider, spec, login, probe)

        down = stack.run("plugin_db.migrate", {"plugin_id": plugin_id, "target": "001"})
        assert down.state == "succeeded", down.error
        assert [m.status for m in stack.migrations(plugin_id)] == ["completed", "rolled_back"]
        assert stack.run("plugin_db.migrate", {"plugin_id": plugin_id}).state == "succeeded"
        assert query(provider, spec, login, f"SELECT name FROM {ns}_items") == [("kept",)]

        rotated = stack.run("plugin_db.rotate_credentials", {"plugin_id": plugin_id})
        assert rotated.state == "succeeded", rotated.error
        if provider.issues_credentials:
            new_login = login_for(stack, provider, spec, plugin_id)
            assert (
                new_login is not None and login is not None and new_login.username != login.username
            )
            passwords |= set((secret_payload(stack, plugin_id) or {})["slots"].values())
            assert query(provider, spec, new_login, f"SELECT name FROM {ns}_items") == [("kept",)]
            assert query(provider, spec, login, f"SELECT name FROM {ns}_items") == [("kept",)]
            login = new_login
        else:
            assert rotated.steps[-1]["status"] == "skipped"

        assert stack.run("plugin_db.teardown", {"plugin_id": plugin_id}).state == "succeeded"
        assert provider.state(spec) is StorageState.ARCHIVED
        assert stack.datasource(plugin_id).status == "archived"
        assert stack.run("plugin_db.restore", {"plugin_id": plugin_id}).state == "succeeded"
        assert query(provider, spec, login, f"SELECT name FROM {ns}_items") == [("kept",)]
        assert (
            stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
            == "succeeded"
        )
        assert provider.state(spec) is StorageState.ABSENT
        assert stack.datasource(plugin_id).status == "deleted"
        with stack.sessions() as session:
            assert session.query(PluginSecret).filter_by(plugin_id=plugin_id).count() == 0
        if passwords:
            assert_no_leak(stack, passwords)

    @pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
    def test_duplicates_and_hostile_input(self, stacks: Any, case: Case) -> None:
        """A repeated request_id is one operation; a migration outside the namespace is rejected."""
        stack: Stack = stacks(case)
        plugin_id, _ = plugin(stack, case)
        request = {"plugin_id": plugin_id, "request_id": f"dup-{plugin_id}"}
        ids = [stack.send("plugin_db.provision", request) for _ in range(3)]
        ops = {stack.wait(i).id for i in ids}
        assert len(ops) == 1 and len(stack.ops(plugin_id)) == 1
        (stack.plugins_root / plugin_id / "migrations" / "003-evil.sql").write_text(
            migration(
                "CREATE TABLE other_plugin_data (id INTEGER);\nDROP TABLE other_db.users;",
                "SELECT 1;",
                "003",
            )
        )
        evil = stack.run("plugin_db.migrate", {"plugin_id": plugin_id})
        assert evil.state == "rejected"
        assert "other_plugin_data" in (evil.error or "") or "users" in (evil.error or "")
        assert [m.migration_version for m in stack.migrations(plugin_id)] == ["001", "002"]
        (stack.plugins_root / plugin_id / "migrations" / "003-evil.sql").unlink()
        stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True})

    @pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
    def test_worker_killed_mid_provision(self, case: Case, tmp_path: Path) -> None:
        """A worker SIGKILLed after the provider acted: a restarted worker converges."""
        with (
            fresh_pg_database() as tracking_url
        ):  # its own tracking db: no other stack's reconciler
            self._kill_and_converge(case, Stack(_env(case, tmp_path, tracking_url), tmp_path))

    @staticmethod
    def _kill_and_converge(case: Case, stack: Stack) -> None:
        try:
            plugin_id, _ = plugin(stack, case)
            victim = stack.start_worker(
                extra_env={"PLUGIN_DB_FAILPOINTS": "after:create_storage=sleep:120"}
            )
            request_id = stack.send("plugin_db.provision", {"plugin_id": plugin_id})
            stack.wait_until(lambda: "failpoint_hit" in stack.logs(), what="failpoint")
            stack.kill(victim, signal.SIGKILL)
            stack.start_worker()
            op = stack.wait(request_id, timeout=60)
            assert op.state == "succeeded", op.error
            assert op.crashes == 1
            assert [(m.migration_version, m.status) for m in stack.migrations(plugin_id)] == [
                ("001", "completed"),
                ("002", "completed"),
            ]
            provider, spec = provider_for(stack, plugin_id)
            assert provider.state(spec) is StorageState.ACTIVE
            assert (
                stack.run("plugin_db.teardown", {"plugin_id": plugin_id, "purge": True}).state
                == "succeeded"
            )
        finally:
            stack.stop()
            stack.engine.dispose()
