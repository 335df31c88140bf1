"""5. Fleet migrate: ``plugin-db migrate --all --wait`` over N provisioned SQLite plugins.

Two runs on the same fleet: every plugin already up to date (the fast path: one indexed read
per plugin, no connection to the plugin's database), then the first 1,000 plugins (all of them
in smaller modes) with 5 new migration files each (a table and an index each) and the rest
still up to date. Full mode: 10,000 plugins. Wall time is the operator's: the real CLI process, from
start to exit, enqueueing at most ``--parallel`` operations at a time to a worker with
concurrency 2.

Baselines, measured in the same run over the same fleet:

* **per-tenant check** — what a per-tenant tool (django-tenants' ``migrate_schemas``, a loop
  of ``prisma migrate status``) does for an up-to-date fleet: for each plugin, read its
  migration folder, connect to its own storage, read the versions its ledger records, and
  compare. In-process, no interpreter start per tenant, so it is a lower bound for such tools.
* **Alembic current loop** — one revision table per plugin (``alembic_version`` in a file of
  its own, stamped at head beforehand, untimed); for each plugin, connect and compare
  ``MigrationContext.get_current_heads()`` with the script directory's heads.

The fleet is built (untimed) in this process's children with the worker's lifecycle service
(:func:`build_fleet`); the worker process serves the pending run.

Every run checks its outcome: all N plugins found up to date (by each method), and after the
pending run 5 more ``completed`` rows in ``plugin_migrations`` for every plugin.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr
from pathlib import Path
from resource import RUSAGE_CHILDREN
from typing import Any

from sqlalchemy import create_engine, func, select

from bench.common import (
    BenchError,
    add_plugin,
    bench_stack,
    purge,
    token,
    wait_ready,
)
from bench.report import Config, Result, Row, fmt, speed
from bench.scaleout import node_cpu_seconds
from tests.support.stack import Stack, migration
from worker.lifecycle.service import LifecycleService
from worker.logging import configure
from worker.migrations.files import FILES_CHECKSUM, load_dir, set_checksum
from worker.settings import Settings
from worker.states import Kind
from worker.tracking.models import PluginDatasource, PluginMigration

NAME = "fleet"
PROVIDER = "sqlite"
PARALLEL = 8
PENDING_FILES = 5
PENDING_PLUGINS = 1000
GOAL_UP_TO_DATE_S = 5.0
LEDGER = "plugin_db_history"


def files(tag: str, first: int, count: int) -> dict[str, str]:
    """``count`` migration files from version ``first``: a table and an index each."""
    out = {}
    for v in range(first, first + count):
        table = f"t_{tag}_{v:03d}"
        out[f"{v:03d}-{table}.sql"] = migration(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(50));\n"
            f"CREATE INDEX idx_{table} ON {table} (name);",
            f"DROP TABLE {table};",
            f"{v:03d}",
        )
    return out


SETUP_PROCESSES = 3


def build_fleet(stack: Stack, ids: list[str]) -> None:
    """Provision every plugin (untimed) with the worker's lifecycle service in
    SETUP_PROCESSES processes (accept then run, what a task does; no broker hop), then store
    each plugin's files checksum as a successful migrate does (gate.remember), so that a
    fleet of 10,000 is ready in minutes."""
    chunks = [ids[i::SETUP_PROCESSES] for i in range(SETUP_PROCESSES)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(SETUP_PROCESSES) as pool:
        failed = [
            e
            for errors in pool.starmap(_provision, [(stack.env, c) for c in chunks])
            for e in errors
        ]
    if failed:
        raise BenchError(f"{len(failed)} setup provisions failed, e.g. {failed[0]}")
    with stack.sessions.begin() as session:
        for plugin_id in ids:
            folder = stack.plugins_root / plugin_id
            ds = session.get(PluginDatasource, plugin_id)
            if ds is None:
                raise BenchError(f"{plugin_id} has no datasource after provisioning")
            checksum = set_checksum(load_dir(folder / "migrations", folder))
            ds.descriptor = {**ds.descriptor, FILES_CHECKSUM: checksum}


def _provision(env: dict[str, str], ids: list[str]) -> list[str]:
    log_path = Path(env["PLUGIN_DB_DATA_DIR"]).parent / f"setup-{os.getpid()}.log"
    with log_path.open("w") as log, redirect_stderr(log):
        configure(json=True)
        service = LifecycleService(Settings.from_env(env))
        errors = []
        for plugin_id in ids:
            request = {"plugin_id": plugin_id, "request_id": f"setup-{plugin_id}"}
            summary = service.run(service.accept(Kind.PROVISION, request, (), f"t-{plugin_id}"))
            if summary["state"] != "succeeded":
                errors.append(f"{plugin_id}: {summary}")
        return errors


def migrate_all(stack: Stack) -> tuple[float, dict[str, Any]]:
    """Run the real ``plugin-db migrate --all --wait --json``; seconds and its JSON, with the
    CPU seconds of the command and of the worker's processes while it ran (``cpu``)."""
    argv = [sys.executable, "-m", "worker.cli", "migrate", "--all", "--wait", "--json"]
    argv += ["--parallel", str(PARALLEL)]
    worker_before, command_before = node_cpu_seconds(stack), resource.getrusage(RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"migrate --all exited {done.returncode}: {done.stderr[-2000:]}")
    command = sum(getattr(after, f) - getattr(command_before, f) for f in ("ru_utime", "ru_stime"))
    cpu = {"worker_s": node_cpu_seconds(stack) - worker_before, "command_s": command}
    return seconds, {**json.loads(done.stdout), "cpu": cpu}


def per_tenant_check(stack: Stack, ids: list[str]) -> tuple[float, int]:
    """The per-tenant baseline: seconds, and how many plugins it found up to date."""
    data = Path(stack.env["PLUGIN_DB_DATA_DIR"]) / "plugins"
    started = time.perf_counter()
    current = 0
    for plugin_id in ids:
        folder = stack.plugins_root / plugin_id
        wanted = {f.version: f.checksum for f in load_dir(folder / "migrations", folder)}
        conn = sqlite3.connect(data / f"{plugin_id}.db")
        try:
            rows = conn.execute(f"SELECT version, checksum FROM {LEDGER} WHERE complete = 1")
            applied = dict(rows.fetchall())
        finally:
            conn.close()
        current += applied == wanted
    return time.perf_counter() - started, current


def alembic_current_loop(n: int) -> tuple[float, int]:
    """The Alembic baseline over ``n`` stamped revision tables: seconds, and plugins at head."""
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with tempfile.TemporaryDirectory(prefix="plugin-db-bench-alembic-") as tmp:
        root = Path(tmp)
        versions = root / "scripts" / "versions"
        versions.mkdir(parents=True)
        (root / "scripts" / "script.py.mako").write_text("")
        (versions / "r1_first.py").write_text('revision = "r1"\ndown_revision = None\n')
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(root / "scripts"))
        script = ScriptDirectory.from_config(cfg)
        urls = [f"sqlite:///{root / f'p{i:05d}.db'}" for i in range(n)]
        for url in urls:  # untimed: every plugin's revision table stamped at head
            engine = create_engine(url)
            with engine.begin() as conn:
                MigrationContext.configure(conn).stamp(script, "heads")
            engine.dispose()
        started = time.perf_counter()
        heads = set(script.get_heads())
        current = 0
        for url in urls:
            engine = create_engine(url)
            with engine.connect() as conn:
                current += set(MigrationContext.configure(conn).get_current_heads()) == heads
            engine.dispose()
        return time.perf_counter() - started, current


def completed_rows(stack: Stack) -> int:
    """``completed`` plugin_migrations rows in the tracking database."""
    with stack.engine.connect() as conn:
        query = select(func.count()).where(PluginMigration.status == "completed")
        return int(conn.scalar(query) or 0)


def check(what: str, found: int, wanted: int) -> None:
    """Fail loudly when a run did not do its work."""
    if found != wanted:
        raise BenchError(f"{what}: {found}, expected {wanted}")


def run(cfg: Config) -> Result:
    n = cfg.fleet_plugins or cfg.n(5, 100, 10_000)
    pending_n = min(n, PENDING_PLUGINS)
    made: list[tuple[str, str]] = []
    tag = token()
    load_before = os.getloadavg()
    with bench_stack(cfg, NAME) as stack:
        try:
            ids = [f"fl-{tag}-{i:04d}" for i in range(n)]
            for plugin_id in ids:
                add_plugin(stack, plugin_id, PROVIDER, files(plugin_id.replace("-", "_"), 1, 1))
                made.append((PROVIDER, plugin_id))
            build_fleet(stack, ids)
            check("completed rows after the first migrate", completed_rows(stack), n)
            stack.start_worker(concurrency=2, beat=False)
            wait_ready(stack)
            fresh_s, fresh = migrate_all(stack)
            counts = fresh["counts"]
            check("plugins migrate --all found up to date", counts.get("up-to-date", 0), n)
            check("operations enqueued for an up-to-date fleet", len(fresh["plugins"]), 0)
            tenant_s, tenant_current = per_tenant_check(stack, ids)
            check("plugins the per-tenant check found up to date", tenant_current, n)
            alembic_s, alembic_current = alembic_current_loop(n)
            check("revision tables Alembic found at head", alembic_current, n)
            for plugin_id in ids[:pending_n]:
                for name, text in files(plugin_id.replace("-", "_"), 2, PENDING_FILES).items():
                    (stack.plugins_root / plugin_id / "migrations" / name).write_text(text)
            pending_s, pending = migrate_all(stack)
            check("plugins migrated", pending["counts"].get("succeeded", 0), pending_n)
            check("plugins still up to date", pending["counts"].get("up-to-date", 0), n - pending_n)
            applied = n + pending_n * PENDING_FILES
            check("completed rows after the pending run", completed_rows(stack), applied)
        finally:
            errors = purge(stack, made)
    per_plugin = {k: v * 1000 / pending_n for k, v in pending["cpu"].items()}
    metrics = {
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "pending_cpu_ms_per_plugin": per_plugin,
        "plugins": n,
        "pending_plugins": pending_n,
        "parallel": PARALLEL,
        "up_to_date_s": fresh_s,
        "per_tenant_check_s": tenant_s,
        "alembic_current_loop_s": alembic_s,
        "pending_s": pending_s,
        "cleanup_errors": errors,
        "up_to_date_counts": fresh["counts"],
        "pending_counts": pending["counts"],
    }
    rows = [
        Row(
            f"{n} plugins up to date vs per-tenant check: wall",
            fmt(fresh_s, " s"),
            fmt(tenant_s, " s"),
            speed(tenant_s, fresh_s),
            f"< {GOAL_UP_TO_DATE_S:g} s",
            fresh_s < GOAL_UP_TO_DATE_S,
        ),
        Row(
            f"{n} plugins up to date vs Alembic current loop: wall",
            fmt(fresh_s, " s"),
            fmt(alembic_s, " s"),
            speed(alembic_s, fresh_s),
        ),
        Row(
            f"{pending_n} of {n} plugins x {PENDING_FILES} pending files: wall / migrated per s",
            f"{fmt(pending_s, ' s')} / {pending_n / pending_s:.1f}",
        ),
        Row(
            "pending run: CPU per migrated plugin, worker processes / command",
            f"{per_plugin['worker_s']:.1f} ms / {per_plugin['command_s']:.1f} ms",
        ),
    ]
    notes = [
        "the real `plugin-db migrate --all --wait` process (interpreter start included); "
        "baselines in this process: per plugin read its folder, connect to its file and read "
        "its ledger / connect and read Alembic's revision table",
        f"1-minute load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
    ]
    return Result(NAME, {"plugins": n, "parallel": PARALLEL}, metrics, rows, notes)
