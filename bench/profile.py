"""Where orchestration time goes: ``python -m bench.profile provision|migrate [-n N]``.

Drives the lifecycle service in this process (no Celery, no broker: ``accept`` then ``run``,
what a task does) under pyinstrument, on a SQLite tracking database in a temp dir, and writes
the call tree to ``bench/results/profile-<scenario>.txt``.

* provision: N SQLite plugins (no migration files) provisioned one after another;
* migrate: one plugin provisioned (PostgreSQL, or ``--engine mysql|sqlite``), then N
  migration files applied by one migrate (``--seen``: analysed first by an untimed dry run,
  then dropped from this process's memory, as when another worker process ran the dry run);
* pending: N SQLite plugins provisioned with one migration file, then 5 more files each
  (the fleet benchmark's pending case) applied by one migrate per plugin.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import uuid
from contextlib import redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

from pyinstrument import Profiler

from bench.common import purge, service
from bench.fleet import files as fleet_files
from bench.migration_ways import ENGINES
from bench.migrations import files
from bench.report import RESULTS
from tests.support.stack import Stack, base_env, write_plugin
from worker.lifecycle.service import LifecycleService
from worker.logging import configure
from worker.migrations import analysis
from worker.settings import Settings
from worker.states import Kind

MODES = {
    "postgresql": "exclusive-postgres",
    "mysql": "exclusive-mysql",
    "sqlite": "exclusive-sqlite",
}


def pending(plugin_id: str, first: int, count: int) -> dict[str, str]:
    """The fleet benchmark's files of a plugin: versions first..first+count-1."""
    return fleet_files(plugin_id.replace("-", "_"), first, count)


def run_op(svc: LifecycleService, kind: Kind, plugin_id: str, **fields: object) -> None:
    request = {"plugin_id": plugin_id, "request_id": f"p-{uuid.uuid4()}", **fields}
    op_id = svc.accept(kind, request, (), f"task-{uuid.uuid4()}", run_here=True)
    summary = svc.run(op_id)
    if summary["state"] != "succeeded":
        raise RuntimeError(f"{kind.value} {plugin_id}: {summary}")


def environment(workdir: Path) -> dict[str, str]:
    """The worker settings: SQLite tracking in ``workdir``, the test servers' admins."""
    env = base_env(
        workdir,
        "redis://unused",
        f"sqlite:///{workdir / 'tracking.db'}",
        postgres_admin_url=service("PG_ADMIN_URL"),
        mysql_admin_url=service("MYSQL_ADMIN_URL"),
    )
    env["PLUGIN_DB_LEASE_SECONDS"] = "60"
    return env


def scenario(
    args: argparse.Namespace, svc: LifecycleService, stack: Stack, profiler: Profiler, ids: Ids
) -> None:
    """Prepare (untimed), then profile the scenario's operations."""
    provider, mode, warm = ids.provider, MODES[ids.provider], ids.warm
    plugins = [f"pp-{ids.tag}-{i:05d}" for i in range(args.n)]
    if args.scenario == "migrate":
        write_plugin(stack.plugins_root, warm, mode, files(args.n, provider))
        if args.seen:  # stored by a dry run (in another worker process: not in memory)
            run_op(svc, Kind.MIGRATE, warm, dry_run=True)
            analysis.forget_memory()
        profiler.start()
        run_op(svc, Kind.MIGRATE, warm)
        return
    ids.made.extend((provider, plugin_id) for plugin_id in plugins)
    kind = Kind.MIGRATE if args.scenario == "pending" else Kind.PROVISION
    for plugin_id in plugins:
        if args.scenario == "pending":
            write_plugin(stack.plugins_root, plugin_id, mode, pending(plugin_id, 1, 1))
            run_op(svc, Kind.PROVISION, plugin_id)
            write_plugin(stack.plugins_root, plugin_id, mode, pending(plugin_id, 1, 6))
        else:
            write_plugin(stack.plugins_root, plugin_id, mode)
    profiler.start()
    for plugin_id in plugins:
        run_op(svc, kind, plugin_id)


@dataclass
class Ids:
    """The run's driver, tag, warm-up plugin and every plugin made (purged afterwards)."""

    provider: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    made: list[tuple[str, str]] = field(default_factory=list)

    @property
    def warm(self) -> str:
        return f"pw-{self.tag}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("scenario", choices=("provision", "migrate", "pending"))
    parser.add_argument("-n", type=int, default=200, help="plugins (provision) or files (migrate)")
    parser.add_argument("--engine", choices=ENGINES, default="postgresql", help="migrate only")
    parser.add_argument(
        "--seen", action="store_true", help="migrate: files analysed by an untimed dry run first"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="plugin-db-bench-profile-"))
    env = environment(workdir)
    stack = Stack(env, workdir)  # upgrades the tracking database; no worker is started
    ids = Ids(args.engine if args.scenario == "migrate" else "sqlite")
    profiler = Profiler(interval=0.0005)
    try:
        with (workdir / "worker.log").open("w") as log, redirect_stderr(log):
            configure(json=True)
            svc = LifecycleService(Settings.from_env(env))
            write_plugin(stack.plugins_root, ids.warm, MODES[ids.provider])
            ids.made.append((ids.provider, ids.warm))
            run_op(svc, Kind.PROVISION, ids.warm)  # imports, engine, provider: not profiled
            scenario(args, svc, stack, profiler, ids)
            profiler.stop()
    finally:
        errors = purge(stack, ids.made)
        stack.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{args.scenario}.txt"
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    out.write_text(text)
    flat = out.with_name(f"profile-{args.scenario}-flat.txt")  # self time per function
    flat.write_text(profiler.output_text(flat=True, time="percent_of_total"))
    print(text)
    print(f"written to {out} and {flat.name}; cleanup errors: {errors or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
