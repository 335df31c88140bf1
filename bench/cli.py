"""9. Command-line reads: ``plugin-db info/ops/op/audit`` against ``python -c pass``.

Each command is a fresh process, as an operator runs it: ``plugin-db info ID --json``,
``ops --plugin ID --json``, ``op OP_ID --json`` and ``audit ID --json`` on a SQLite tracking
database holding one plugin, one operation and its audit trail. Baselines in the same run,
interleaved: ``python -c pass`` (the interpreter alone) and ``celery --version`` (what a command
costs that imports Celery). Each read's output is checked (the plugin id, the operation).
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

from bench.common import BenchError
from bench.report import Config, Result, Row, fmt
from worker.tracking import db
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource

NAME = "cli"
GOAL = 10.0
PLUGIN = "bench-cli"


def seed(url: str) -> int:
    """One ready plugin with one succeeded operation and two audit events; the operation id."""
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
                    descriptor={"provider": "sqlite", "url": "sqlite:////x.db", "limits": {}},
                    manifest={},
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


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{argv[1:]} exited {done.returncode}: {done.stderr[-1500:]}")
    return seconds, done.stdout


def run(cfg: Config) -> Result:
    repeats = cfg.n(1, 7, 15)
    python = sys.executable
    celery = str(Path(python).with_name("celery"))
    with tempfile.TemporaryDirectory(prefix="plugin-db-bench-cli-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'tracking.db'}"
        op_id = seed(url)
        env = {**os.environ, "PLUGIN_DB_DATABASE_URL": url}
        cli = [python, "-m", "worker.cli"]
        commands = {
            "python -c pass": ([python, "-c", "pass"], None),
            "celery --version": ([celery, "--version"], None),
            "info": ([*cli, "info", PLUGIN, "--json"], PLUGIN),
            "ops --plugin": ([*cli, "ops", "--plugin", PLUGIN, "--json"], PLUGIN),
            "op": ([*cli, "op", str(op_id), "--json"], PLUGIN),
            "audit": ([*cli, "audit", PLUGIN, "--json"], "operation_succeeded"),
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):  # interleaved, so load changes hit every command alike
            for name, (argv, expect) in commands.items():
                seconds, stdout = timed(argv, env)
                if expect is not None and expect not in stdout:
                    raise BenchError(f"{name}: {expect!r} not in its output: {stdout[:300]}")
                if expect is not None:
                    json.loads(stdout)
                samples[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    rows = []
    for name, median in medians.items():
        read = name not in ("python -c pass", "celery --version")
        rows.append(
            Row(
                f"plugin-db {name} --json, median of {repeats}" if read else name,
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
