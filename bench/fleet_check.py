"""The up-to-date check of ``migrate --all`` at any size, without provisioning the fleet.

``python -m bench.fleet_check -n 10000 -r 3``: N ready datasources written with the tracking
models, each with its plugin folder (``plugin.json`` and one migration file, as ``bench fleet``
writes them) and the files checksum a successful migrate stores in its descriptor; no plugin
storage is created, since the up-to-date check never opens it (``bench fleet`` provisions real
plugins and takes minutes per thousand). Then ``plugin-db migrate --all --wait --json`` runs
``-r`` times as a fresh process (interpreter start included); each run must report all N up to
date and enqueue nothing. Prints each run's wall and CPU time and the median wall.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import BenchError
from bench.fleet import files
from tests.support.stack import write_plugin
from worker.migrations.files import FILES_CHECKSUM, load_dir, set_checksum
from worker.tracking import db
from worker.tracking.models import PluginDatasource


def write_fleet(root: Path, n: int) -> str:
    """N up-to-date ready plugins under ``root``; the tracking database URL."""
    url = f"sqlite:///{root / 'tracking.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with db.make_sessionmaker(engine).begin() as session:
            for i in range(n):
                plugin_id = f"fc-{i:05d}"
                tag = plugin_id.replace("-", "_")
                folder = write_plugin(
                    root / "plugins", plugin_id, "exclusive-sqlite", files(tag, 1, 1)
                )
                descriptor = {
                    "provider": "sqlite",
                    "url": f"sqlite:///{root / 'data' / f'{plugin_id}.db'}",
                    FILES_CHECKSUM: set_checksum(load_dir(folder / "migrations", folder)),
                }
                session.add(
                    PluginDatasource(
                        plugin_id=plugin_id,
                        mode="exclusive-sqlite",
                        provider="sqlite",
                        target="sqlite",
                        status="ready",
                        manifest=json.loads((folder / "plugin.json").read_text()),
                        descriptor=descriptor,
                    )
                )
    finally:
        engine.dispose()
    return url


def check_once(env: dict[str, str], n: int) -> tuple[float, float]:
    """One ``migrate --all --wait --json`` process: (wall, CPU) seconds, its outcome checked."""
    argv = [sys.executable, "-m", "worker.cli", "migrate", "--all", "--wait", "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise BenchError(f"migrate --all exited {done.returncode}: {done.stderr[-2000:]}")
    found = json.loads(done.stdout)
    if found["counts"] != {"up-to-date": n} or found["plugins"]:
        raise BenchError(f"expected {n} up to date and nothing enqueued: {found['counts']}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="plugins")
    parser.add_argument("-r", type=int, default=3, help="runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plugin-db-bench-fleet-check-") as tmp:
        root = Path(tmp)
        url = write_fleet(root, args.n)
        env = {
            **os.environ,
            "PLUGIN_DB_DATABASE_URL": url,
            "PLUGIN_DB_DATA_DIR": str(root / "data"),
            "PLUGIN_DB_PLUGINS_ROOT": str(root / "plugins"),
            "PLUGIN_DB_BROKER_URL": "filesystem://",
        }
        walls = []
        for run in range(args.r):
            wall, cpu = check_once(env, args.n)
            walls.append(wall)
            load = os.getloadavg()[0]
            print(f"run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, load {load:.1f}")
        print(f"{args.n} plugins up to date: median {statistics.median(walls):.2f} s wall")


if __name__ == "__main__":
    main()
