"""A real plugin-db stack for integration tests: Redis broker, tracking DB, worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from worker.celery_app import worker_command
from worker.states import TERMINAL
from worker.tracking import db
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource, PluginMigration

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    """Settings, a producer that knows only task names, and worker processes to start and kill."""

    env: dict[str, str]
    workdir: Path
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    reads: sessionmaker[Session] = field(init=False)
    """Read-only sessions for polling: on SQLite they never take the write lock the workers
    under test wait for."""
    producer: Celery = field(init=False)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def __post_init__(self) -> None:
        upgrade(self.env["PLUGIN_DB_DATABASE_URL"])
        self.engine = db.make_engine(self.env["PLUGIN_DB_DATABASE_URL"])
        self.sessions = db.make_sessionmaker(self.engine)
        self.reads = db.read_sessions(self.sessions)
        broker = self.env["PLUGIN_DB_BROKER_URL"]
        # a foreign producer: no import of the project's tasks, only names and JSON
        self.producer = Celery("producer", broker=broker, backend=broker)
        self.producer.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_transport_options={"visibility_timeout": 30},
        )

    @property
    def plugins_root(self) -> Path:
        return Path(self.env["PLUGIN_DB_PLUGINS_ROOT"])

    def send(
        self, task: str, request: dict[str, Any] | None = None, *, args: list[Any] | None = None
    ) -> str:
        """Enqueue ``task`` on queue plugin-db as a foreign producer; returns the request_id."""
        if args is None:
            request = {"request_id": f"t-{uuid.uuid4()}", **(request or {})}
            args = [request]
        result = self.producer.send_task(task, args=args, queue="plugin-db")
        return str(request["request_id"]) if request else result.id

    def start_worker(
        self,
        *,
        concurrency: int = 2,
        beat: bool = True,
        extra_env: dict[str, str] | None = None,
        pool: str = "prefork",
    ) -> subprocess.Popen[bytes]:
        """Start a real ``celery worker`` process (in its own process group)."""
        self.started += 1  # a restarted stack never overwrites an earlier worker's log
        log = (self.workdir / f"worker-{self.started - 1}.log").open("wb")
        n = self.started - 1
        argv = worker_command(
            concurrency=concurrency,
            pool=pool,
            beat_schedule_file=str(self.workdir / f"beat-{n}") if beat else None,
            extra=[f"--hostname=w{n}-{uuid.uuid4().hex[:6]}@%h"],
        )
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **self.env, **(extra_env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until a worker answers a broadcast ping (its pool is up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.producer.control.ping(timeout=0.5):
                return
        raise AssertionError(f"no worker answered a ping in {timeout}s\n{self.logs()[-3000:]}")

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the worker's whole process group and reap it."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        """Kill every worker this stack started."""
        for proc in self.workers:
            if proc.poll() is None:
                self.kill(proc)
        self.workers.clear()

    def logs(self) -> str:
        """Everything the workers printed."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("worker-*.log"))
        )

    def op(self, request_id: str) -> LifecycleOperation | None:
        """The operation accepted for ``request_id``."""
        with self.reads() as session:
            return session.scalars(
                select(LifecycleOperation).where(LifecycleOperation.request_id == request_id)
            ).first()

    def wait(self, request_id: str, timeout: float = 60.0) -> LifecycleOperation:
        """Block until the operation for ``request_id`` is terminal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            op = self.op(request_id)
            if op is not None and op.state in TERMINAL:
                return op
            time.sleep(0.05)
        last = self.op(request_id)
        raise AssertionError(
            f"operation for {request_id} not terminal after {timeout}s: "
            f"{last.state if last else 'never accepted'}\n{self.logs()[-3000:]}"
        )

    def wait_until(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
        """Poll ``predicate()`` until it is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"{what} not reached after {timeout}s\n{self.logs()[-3000:]}")

    def run(self, task: str, request: dict[str, Any], timeout: float = 60.0) -> LifecycleOperation:
        """Send and wait."""
        return self.wait(self.send(task, request), timeout)

    def datasource(self, plugin_id: str) -> PluginDatasource | None:
        with self.reads() as session:
            return session.get(PluginDatasource, plugin_id)

    def audit(
        self, plugin_id: str | None = None, operation_id: int | None = None
    ) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if plugin_id is not None:
            query = query.where(AuditEvent.plugin_id == plugin_id)
        if operation_id is not None:
            query = query.where(AuditEvent.operation_id == operation_id)
        with self.reads() as session:
            return list(session.scalars(query))

    def migrations(self, plugin_id: str) -> list[PluginMigration]:
        with self.reads() as session:
            return list(
                session.scalars(
                    select(PluginMigration)
                    .where(PluginMigration.plugin_id == plugin_id)
                    .order_by(PluginMigration.migration_version)
                )
            )

    def ops(self, plugin_id: str) -> list[LifecycleOperation]:
        with self.reads() as session:
            return list(
                session.scalars(
                    select(LifecycleOperation)
                    .where(LifecycleOperation.plugin_id == plugin_id)
                    .order_by(LifecycleOperation.id)
                )
            )


_templates: dict[str, Path] = {}


def upgrade(url: str) -> None:
    """Bring the tracking database at ``url`` to head. A new SQLite file is a copy (backup API)
    of one template upgraded once per process: the same schema, without Alembic each time."""
    path = url.removeprefix("sqlite:///")
    if path == url or path in ("", ":memory:") or Path(path).exists():
        db.upgrade(url)
        return
    if "sqlite" not in _templates:
        template = Path(tempfile.mkdtemp(prefix="plugin-db-tracking-")) / "tracking.db"
        db.upgrade(f"sqlite:///{template}")
        _templates["sqlite"] = template
    with (
        closing(sqlite3.connect(_templates["sqlite"])) as source,
        closing(sqlite3.connect(path)) as copy,
    ):
        source.backup(copy)


def base_env(workdir: Path, broker_url: str, tracking_url: str, **urls: str) -> dict[str, str]:
    """Worker environment for a stack rooted at ``workdir``."""
    plugins = workdir / "plugins-root"
    plugins.mkdir(parents=True, exist_ok=True)
    env = {
        "PLUGIN_DB_BROKER_URL": broker_url,
        "PLUGIN_DB_DATABASE_URL": tracking_url,
        "PLUGIN_DB_DATA_DIR": str(workdir / "data"),
        "PLUGIN_DB_PLUGINS_ROOT": str(plugins),
        "PLUGIN_DB_SECRET_KEY": Fernet.generate_key().decode(),
        "PLUGIN_DB_LEASE_SECONDS": "3",
        "PLUGIN_DB_RECONCILE_SECONDS": "2",
        "PLUGIN_DB_BACKOFF_BASE": "0.2",
        "PLUGIN_DB_BACKOFF_MAX": "2",
        "PLUGIN_DB_MAX_RETRIES": "3",
        "PLUGIN_DB_VISIBILITY_TIMEOUT": "30",
        "PLUGIN_DB_LOCK_WAIT_SECONDS": "5",
    }
    env.update({f"PLUGIN_DB_{k.upper()}": v for k, v in urls.items()})
    return env


def flush_redis(url: str) -> None:
    """Empty the test broker's database."""
    redis.Redis.from_url(url).flushdb()


def write_plugin(
    root: Path, plugin_id: str, mode: str, migrations: dict[str, str] | None = None, **database: Any
) -> Path:
    """Create ``<root>/<plugin_id>/plugin.json`` and its migration files."""
    import json

    folder = root / plugin_id
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "migrations").mkdir(parents=True)
    manifest = {
        "id": plugin_id,
        "name": plugin_id.title(),
        "version": "1.0.0",
        "sovereign": {"schemaVersion": 2, "database": {"mode": mode, **database}},
    }
    (folder / "plugin.json").write_text(json.dumps(manifest))
    for name, text in (migrations or {}).items():
        (folder / "migrations" / name).write_text(text)
    return folder


def migration(up: str, down: str, version: str = "", name: str = "") -> str:
    """A migration file in the seeds/002 format."""
    return (
        f"-- MIGRATION: {name or 'test'}\n-- Version: {version}\n-- Description: test\n\n"
        f"-- UP Migration\n{up}\n\n-- =====\n-- DOWN Migration (Rollback)\n-- =====\n{down}\n"
    )
