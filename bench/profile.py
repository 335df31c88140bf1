"""Where orchestration time goes: ``python -m bench.profile provision|migrate [-n N]``.

Drives the lifecycle service in this process (no Celery, no broker: ``accept`` then ``run``,
what a task does) under pyinstrument, on a SQLite tracking database in a temp dir, and writes
the call tree to ``bench/results/profile-<scenario>.txt``.

* provision: N SQLite plugins (no migration files) provisioned one after another;
* migrate: one PostgreSQL plugin provisioned, then N migration files applied by one migrate;
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
from pathlib import Path

from pyinstrument import Profiler

from bench.common import purge, service
from bench.fleet import files as fleet_files
from bench.migrations import files
from bench.report import RESULTS
from tests.support.stack import Stack, base_env, write_plugin
from worker.lifecycle.service import LifecycleService
from worker.logging import configure
from worker.settings import Settings
from worker.states import Kind


def pending(plugin_id: str, first: int, count: int) -> dict[str, str]:
    """The fleet benchmark's files of a plugin: versions first..first+count-1."""
    return fleet_files(plugin_id.replace("-", "_"), first, count)


def run_op(svc: LifecycleService, kind: Kind, plugin_id: str) -> None:
    request = {"plugin_id": plugin_id, "request_id": f"p-{uuid.uuid4()}"}
    op_id = svc.accept(kind, request, (), f"task-{uuid.uuid4()}", run_here=True)
    summary = svc.run(op_id)
    if summary["state"] != "succeeded":
        raise RuntimeError(f"{kind.value} {plugin_id}: {summary}")


def write(profiler: Profiler, scenario: str, errors: list[str]) -> None:
    """The call tree (printed too) and the self time per function, under bench/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{scenario}.txt"
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    out.write_text(text)
    flat = out.with_name(f"profile-{scenario}-flat.txt")
    flat.write_text(profiler.output_text(flat=True, time="percent_of_total"))
    print(text)
    print(f"written to {out} (self time per function: {flat}); cleanup errors: {errors or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("scenario", choices=("provision", "migrate", "pending"))
    parser.add_argument("-n", type=int, default=200, help="plugins (provision) or files (migrate)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="plugin-db-bench-profile-"))
    env = base_env(
        workdir,
        "redis://unused",
        f"sqlite:///{workdir / 'tracking.db'}",
        postgres_admin_url=service("PG_ADMIN_URL"),
    )
    env["PLUGIN_DB_LEASE_SECONDS"] = "60"
    stack = Stack(env, workdir)  # upgrades the tracking database; no worker is started
    provider = "postgresql" if args.scenario == "migrate" else "sqlite"
    mode = "exclusive-sqlite" if provider == "sqlite" else "exclusive-postgres"
    tag, made = uuid.uuid4().hex[:6], []
    profiler = Profiler(interval=0.0005)
    try:
        with (workdir / "worker.log").open("w") as log, redirect_stderr(log):
            configure(json=True)
            svc = LifecycleService(Settings.from_env(env))
            warm = f"pw-{tag}"
            write_plugin(stack.plugins_root, warm, mode)
            made.append((provider, warm))
            run_op(svc, Kind.PROVISION, warm)  # imports, engine, provider: not profiled
            if args.scenario == "pending":
                ids = [f"pp-{tag}-{i:05d}" for i in range(args.n)]
                made.extend((provider, plugin_id) for plugin_id in ids)
                for plugin_id in ids:
                    write_plugin(stack.plugins_root, plugin_id, mode, pending(plugin_id, 1, 1))
                    run_op(svc, Kind.PROVISION, plugin_id)
                for plugin_id in ids:
                    write_plugin(stack.plugins_root, plugin_id, mode, pending(plugin_id, 1, 6))
                profiler.start()
                for plugin_id in ids:
                    run_op(svc, Kind.MIGRATE, plugin_id)
            elif args.scenario == "provision":
                ids = [f"pp-{tag}-{i:05d}" for i in range(args.n)]
                for plugin_id in ids:
                    write_plugin(stack.plugins_root, plugin_id, mode)
                made.extend((provider, plugin_id) for plugin_id in ids)
                profiler.start()
                for plugin_id in ids:
                    run_op(svc, Kind.PROVISION, plugin_id)
            else:
                write_plugin(stack.plugins_root, warm, mode, files(args.n))
                profiler.start()
                run_op(svc, Kind.MIGRATE, warm)
            profiler.stop()
    finally:
        errors = purge(stack, made)
        stack.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    write(profiler, args.scenario, errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
