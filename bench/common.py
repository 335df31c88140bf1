"""What every benchmark shares: services, a worker stack, plugins, polling, cleanup."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

from bench.report import Config, epoch
from providers.base import PluginSpec, Provider
from providers.registry import get_provider_class
from tests.support.stack import Stack, base_env, flush_redis, write_plugin
from worker.lifecycle.context import spec_for
from worker.manifest import parse_manifest
from worker.settings import Settings
from worker.states import TERMINAL
from worker.tracking.db import READ_ONLY
from worker.tracking.models import LifecycleOperation

SERVICES_ENV = Path(os.environ.get("PLUGIN_DB_SERVICES_DIR", "/tmp/plugin-db-services")) / "env"
MODE_OF = {
    "sqlite": "exclusive-sqlite",
    "postgresql": "exclusive-postgres",
    "mysql": "exclusive-mysql",
}
PROVIDERS = tuple(MODE_OF)
PROVIDER_STEPS = frozenset(
    {
        "create_storage",
        "apply_migrations",
        "rotate_credentials",
        "archive_storage",
        "purge_storage",
        "restore_storage",
    }
)
"""Steps whose time is (mostly) spent in provider calls; the rest is orchestration."""


class BenchError(RuntimeError):
    """A benchmark could not produce a valid figure (an operation failed, a server is missing)."""


# -- services and stacks -------------------------------------------------------------------


def services() -> dict[str, str]:
    """Test server URLs (``scripts/services.sh start``), overridable by PLUGIN_DB_TEST_* vars."""
    values: dict[str, str] = {}
    if SERVICES_ENV.exists():
        for line in SERVICES_ENV.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if k.startswith("PLUGIN_DB_TEST_")})
    return values


def service(name: str) -> str:
    value = services().get(f"PLUGIN_DB_TEST_{name}")
    if not value:
        raise BenchError(f"PLUGIN_DB_TEST_{name} is not set: run `bash scripts/services.sh start`")
    return value


@contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A throwaway database on the test PostgreSQL server (SQLAlchemy URL), dropped afterwards."""
    name, admin = f"{prefix}_{uuid.uuid4().hex[:8]}", service("PG_URL")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield service("PG_TRACKING_URL").rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def bench_stack(cfg: Config, tag: str, tracking_url: str | None = None) -> Iterator[Stack]:
    """A stack in a temp dir: SQLite tracking (or ``tracking_url``), Redis database
    ``cfg.redis_db`` (flushed)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"plugin-db-bench-{tag}-"))
    broker = f"{service('REDIS_URL')}/{cfg.redis_db}"
    flush_redis(broker)
    env = base_env(
        workdir,
        broker,
        tracking_url or f"sqlite:///{workdir / 'tracking.db'}",
        shared_url=f"sqlite:///{workdir / 'shared.db'}",
        postgres_admin_url=service("PG_ADMIN_URL"),
        mysql_admin_url=service("MYSQL_ADMIN_URL"),
    )
    env["PLUGIN_DB_LEASE_SECONDS"] = "60"  # the production default; tests use 3
    stack = Stack(env, workdir)
    try:
        others = stack.producer.control.ping(timeout=0.3)
        if others:
            names = ", ".join(name for reply in others for name in reply)
            raise BenchError(
                f"workers already consume {broker}: {names}; pick another "
                "database with --redis-db (or stop them)"
            )
        yield stack
    finally:
        stack.stop()
        stack.engine.dispose()
        flush_redis(broker)
        shutil.rmtree(workdir, ignore_errors=True)


def provider(stack: Stack, name: str) -> Provider:
    """The driver ``name`` built in this process from the stack's settings."""
    return get_provider_class(name).from_settings(Settings.from_env(stack.env))


def token() -> str:
    """A short random tag for plugin ids of one run."""
    return uuid.uuid4().hex[:6]


def manifest(plugin_id: str, provider_name: str) -> dict[str, Any]:
    """The manifest ``write_plugin`` writes for a plugin of ``provider_name``."""
    return {
        "id": plugin_id,
        "name": plugin_id.title(),
        "version": "1.0.0",
        "sovereign": {"schemaVersion": 2, "database": {"mode": MODE_OF[provider_name]}},
    }


def spec(plugin_id: str, provider_name: str) -> PluginSpec:
    """The spec the worker derives for that manifest."""
    return spec_for(parse_manifest(manifest(plugin_id, provider_name)))


def add_plugin(
    stack: Stack, plugin_id: str, provider_name: str, migrations: dict[str, str] | None = None
) -> None:
    write_plugin(stack.plugins_root, plugin_id, MODE_OF[provider_name], migrations)


def send(stack: Stack, task: str, plugin_id: str, **fields: Any) -> str:
    return stack.send(task, {"plugin_id": plugin_id, "requested_by": "bench", **fields})


def wait_all(
    stack: Stack, request_ids: Sequence[str], timeout: float = 600.0, poll: float = 0.005
) -> list[LifecycleOperation]:
    """Block until every operation is terminal; raise BenchError if one did not succeed.

    Polls through read-only connections (deferred transactions on SQLite), so the polling
    never holds the tracking database's write lock the worker's transactions wait for.
    """
    deadline = time.monotonic() + timeout
    reader = stack.engine.execution_options(**{READ_ONLY: True})
    wanted = list(request_ids)
    count = (
        select(func.count())
        .select_from(LifecycleOperation)
        .where(LifecycleOperation.request_id.in_(wanted), LifecycleOperation.state.in_(TERMINAL))
    )
    while True:
        with reader.connect() as conn:
            done = conn.scalar(count) or 0
        if done >= len(wanted):
            break
        if time.monotonic() > deadline:
            replies = stack.producer.control.ping(timeout=0.5)
            workers = [name for reply in replies for name in reply]
            raise BenchError(
                f"{len(wanted) - done} operations unfinished after {timeout}s; "
                f"workers on this broker: {workers}\n{stack.logs()[-2000:]}"
            )
        time.sleep(poll)
    with stack.sessions() as session:
        ops = list(
            session.scalars(
                select(LifecycleOperation)
                .where(LifecycleOperation.request_id.in_(wanted))
                .order_by(LifecycleOperation.id)
            )
        )
    failed = [op for op in ops if op.state != "succeeded"]
    if failed:
        raise BenchError(
            f"{len(failed)} operations did not succeed, e.g. {failed[0].kind} "
            f"{failed[0].plugin_id}: {failed[0].state} {failed[0].error}"
        )
    return ops


def provider_ms(op: LifecycleOperation) -> float:
    """Sum of the ``ms`` of the operation's provider-calling steps that ran."""
    return sum(
        float(s.get("ms", 0))
        for s in op.steps
        if s.get("name") in PROVIDER_STEPS and s.get("status") == "done"
    )


def wall_ms(op: LifecycleOperation) -> float:
    """created_at → finished_at of an operation, in ms."""
    assert op.finished_at is not None
    return (epoch(op.finished_at) - epoch(op.created_at)) * 1000


def warm_up(stack: Stack, providers: Iterable[str], rounds: int = 2) -> list[tuple[str, str]]:
    """Run ``rounds`` concurrent provisions per provider so each worker child has its drivers
    and connections ready; returns the (provider, plugin_id) pairs to purge later."""
    tag, made, rids = token(), [], []
    for name in providers:
        for i in range(rounds):
            plugin_id = f"warm-{tag}-{name[:2]}{i}"
            add_plugin(stack, plugin_id, name)
            made.append((name, plugin_id))
            rids.append(send(stack, "plugin_db.provision", plugin_id))
    wait_all(stack, rids, timeout=120)
    return made


def purge(stack: Stack, plugins: Iterable[tuple[str, str]]) -> list[str]:
    """Purge every (provider, plugin_id) directly; returns errors instead of raising."""
    errors: list[str] = []
    drivers: dict[str, Provider] = {}
    for name, plugin_id in plugins:
        try:
            driver = drivers.get(name) or drivers.setdefault(name, provider(stack, name))
            driver.purge(spec(plugin_id, name))
        except Exception as exc:  # cleanup must go on
            errors.append(f"purge {name}/{plugin_id}: {exc}")
    for driver in drivers.values():
        driver.close()
    return errors


def wait_ready(stack: Stack, timeout: float = 60.0) -> None:
    """Block until a worker answers a broadcast ping (its pool is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.producer.control.ping(timeout=0.5):
            return
    raise BenchError(f"no worker answered a ping in {timeout}s\n{stack.logs()[-2000:]}")
