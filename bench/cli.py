"""9. Command-line reads: ``plugin-db info/ops/op/audit/doctor`` against ``python -c pass``.

Each command is a fresh process of the installed ``plugin-db`` console script, as an operator
runs it: ``plugin-db info ID --json``, ``ops --plugin ID --json``, ``op OP_ID --json``,
``audit ID --json`` and ``doctor --plugin ID --json`` on a SQLite tracking database holding
one plugin (a real SQLite plugin database), one operation and its audit trail. Baselines in the
same run, interleaved: ``python -c pass`` (the interpreter alone) and ``celery --version``
(what a command costs that imports Celery). Each read's output is checked (the plugin id, the
operation).

Also shown, with no goal: one enqueueing command, ``plugin-db teardown ID --json`` (validated,
recorded as a pending operation and sent to the embedded file-system broker; no worker runs, so
each repeat records one more), and its output checked for the operation it recorded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchError
from bench.report import Config, Result, Row, fmt
from providers.sqlite import SQLiteProvider
from worker.manifest import parse_manifest
from worker.port import spec_for
from worker.tracking import db
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource

NAME = "cli"
GOAL = 10.0
ENQUEUE = "teardown (enqueue)"
BASELINES = ("python -c pass", "celery --version")
PLUGIN = "bench-cli"
MANIFEST = {
    "id": PLUGIN,
    "name": "Bench Cli",
    "version": "1.0.0",
    "sovereign": {"schemaVersion": 2, "database": {"mode": "exclusive-sqlite"}},
}


def seed(url: str, data_dir: Path | None = None) -> int:
    """One ready plugin with one succeeded operation and two audit events; the operation id.

    With ``data_dir``, the plugin's SQLite database is created there (what ``doctor`` checks).
    """
    descriptor: dict[str, Any] = {"provider": "sqlite", "url": "sqlite:////x.db", "limits": {}}
    if data_dir is not None:
        spec = spec_for(parse_manifest(MANIFEST))
        descriptor = SQLiteProvider(data_dir).provision(spec, None).to_json()
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with db.make_sessionmaker(engine)() as session:
            session.add(
                PluginDatasource(
                    plugin_id=PLUGIN,
                    mode="exclusive-sqlite",
                    provider="sqlite",
                    status="ready",
                    descriptor=descriptor,
                    manifest=MANIFEST,
                )
            )
            op = LifecycleOperation(
                plugin_id=PLUGIN, kind="provision", state="succeeded", request_id="bench-cli-1"
            )
            session.add(op)
            session.flush()
            for event in ("operation_accepted", "operation_succeeded"):
                session.add(
                    AuditEvent(plugin_id=PLUGIN, operation_id=op.id, event=event, actor="bench")
                )
            session.commit()
            return int(op.id)
    finally:
        engine.dispose()


def timed(argv: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in codes:
        raise BenchError(f"{argv[1:]} exited {done.returncode}: {done.stderr[-1500:]}")
    return seconds, done.stdout


def run(cfg: Config) -> Result:
    repeats = cfg.n(1, 7, 15)
    python = sys.executable
    celery = str(Path(python).with_name("celery"))
    with tempfile.TemporaryDirectory(prefix="plugin-db-bench-cli-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'tracking.db'}"
        op_id = seed(url, Path(tmp) / "data")
        env = {
            **os.environ,
            "PLUGIN_DB_DATABASE_URL": url,
            "PLUGIN_DB_DATA_DIR": str(Path(tmp) / "data"),
            "PLUGIN_DB_PLUGINS_ROOT": str(Path(tmp) / "plugins"),
            "PLUGIN_DB_BROKER_URL": "filesystem://",
        }
        cli = [str(Path(python).with_name("plugin-db"))]
        commands = {
            "python -c pass": ([python, "-c", "pass"], None),
            "celery --version": ([celery, "--version"], None),
            "info": ([*cli, "info", PLUGIN, "--json"], PLUGIN),
            "ops --plugin": ([*cli, "ops", "--plugin", PLUGIN, "--json"], PLUGIN),
            "op": ([*cli, "op", str(op_id), "--json"], PLUGIN),
            "audit": ([*cli, "audit", PLUGIN, "--json"], "operation_succeeded"),
            "doctor --plugin": ([*cli, "doctor", "--plugin", PLUGIN, "--json"], PLUGIN),
            ENQUEUE: ([*cli, "teardown", PLUGIN, "--json"], "operation_id"),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):  # interleaved, so load changes hit every command alike
            for name, (argv, expect) in commands.items():
                seconds, stdout = timed(argv, env, (0, 1) if name.startswith("doctor") else (0,))
                if expect is not None and expect not in stdout:
                    raise BenchError(f"{name}: {expect!r} not in its output: {stdout[:300]}")
                if expect is not None:
                    json.loads(stdout)
                samples[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    rows = []
    for name, median in medians.items():
        read = name not in (*BASELINES, ENQUEUE)
        rows.append(
            Row(
                name if name in BASELINES else f"plugin-db {name} --json, median of {repeats}",
                fmt(median * 1000, " ms", 0),
                fmt(base * 1000, " ms", 0),
                f"{median / base:.1f}x",
                f"< {GOAL:g}x python -c pass" if read else "",
                median / base < GOAL if read else None,
            )
        )
    notes = ["fresh processes, interleaved; outputs checked for the plugin and its operation"]
    metrics = {"repeats": repeats, "median_s": medians, "samples_s": samples}
    return Result(NAME, {"repeats": repeats}, metrics, rows, notes)
