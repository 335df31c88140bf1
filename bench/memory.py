"""6. Memory: the worker's RSS (psutil, whole process tree) while it runs N operations.

A worker (prefork, concurrency 2, no beat) runs N operations in cycles of B SQLite plugins
with two migration files each: B provisions enqueued at once, then B ``teardown --purge``.
RSS and USS of the main process and each pool child are sampled when the worker is ready
(idle) and after every 10% of the operations. Growth is the last sample minus the sample at
10% (the first tenth warms imports, caches and connection pools).
Baseline: the worker's own idle footprint before the first operation.
"""

from __future__ import annotations

import time
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.common import add_plugin, bench_stack, purge, send, token, wait_all, wait_ready
from bench.report import Config, Result, Row, fmt
from tests.support.stack import migration

NAME = "memory"
PROVIDER = "sqlite"
MB = 1024 * 1024
GOAL_RSS_MB, GOAL_GROWTH_MB = 150.0, 10.0
FILES = {
    "001-create-items.sql": migration(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        "DROP TABLE items;",
        "001",
    ),
    "002-add-note.sql": migration(
        "ALTER TABLE items ADD COLUMN note TEXT;\nCREATE INDEX idx_items_name ON items(name);",
        "DROP INDEX idx_items_name;\nALTER TABLE items DROP COLUMN note;",
        "002",
    ),
}


def snapshot(pid: int, ops: int) -> dict[str, Any]:
    """RSS/USS in MB of the worker's main process and every descendant."""
    main = psutil.Process(pid)
    procs = {"main": main} | {f"child-{p.pid}": p for p in main.children(recursive=True)}
    per: dict[str, dict[str, float]] = {}
    for name, proc in procs.items():
        try:
            info = proc.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        per[name] = {"rss_mb": round(info.rss / MB, 2), "uss_mb": round(info.uss / MB, 2)}
    return {
        "ops": ops,
        "processes": per,
        "total_rss_mb": round(sum(p["rss_mb"] for p in per.values()), 2),
        "total_uss_mb": round(sum(p["uss_mb"] for p in per.values()), 2),
    }


def growth(first: dict[str, Any], last: dict[str, Any], key: str) -> dict[str, float]:
    """Per-process growth between two snapshots (processes present in both)."""
    a, b = first["processes"], last["processes"]
    return {name: round(b[name][key] - a[name][key], 2) for name in a if name in b}


def run(cfg: Config) -> Result:
    n = cfg.n(20, 200, 10_000)
    batch = max(1, min(10, n // 20))
    cycles = max(1, n // (2 * batch))
    every = max(1, cycles // 10)
    samples: list[dict[str, Any]] = []
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    tag, done = token(), 0
    with bench_stack(cfg, NAME) as stack:
        try:
            proc = stack.start_worker(concurrency=2, beat=False)
            wait_ready(stack)
            idle = snapshot(proc.pid, 0)
            started = time.monotonic()
            for cycle in range(cycles):
                ids = [f"mm-{tag}-{cycle:05d}-{i}" for i in range(batch)]
                for plugin_id in ids:
                    add_plugin(stack, plugin_id, PROVIDER, FILES)
                made.extend((PROVIDER, plugin_id) for plugin_id in ids)
                wait_all(stack, [send(stack, "plugin_db.provision", p) for p in ids], timeout=120)
                wait_all(
                    stack,
                    [send(stack, "plugin_db.teardown", p, purge=True) for p in ids],
                    timeout=120,
                )
                done += 2 * batch
                if (cycle + 1) % every == 0 or cycle == cycles - 1:
                    samples.append(snapshot(proc.pid, done))
            seconds = time.monotonic() - started
        finally:
            errors = purge(stack, made)
    first, last = samples[0], samples[-1]
    rss_growth, uss_growth = growth(first, last, "rss_mb"), growth(first, last, "uss_mb")
    max_rss = max(p["rss_mb"] for p in last["processes"].values())
    max_growth = max(rss_growth.values())
    total_growth = round(last["total_rss_mb"] - first["total_rss_mb"], 2)
    metrics = {
        "operations": done,
        "batch": batch,
        "seconds": round(seconds, 2),
        "ops_per_s": round(done / seconds, 2),
        "idle": idle,
        "samples": samples,
        "max_process_rss_mb": max_rss,
        "rss_growth_mb": rss_growth,
        "uss_growth_mb": uss_growth,
        "total_rss_growth_mb": total_growth,
        "cleanup_errors": errors,
    }
    idle_max = max(p["rss_mb"] for p in idle["processes"].values())
    rows = [
        Row(
            f"largest process RSS after {done} ops",
            fmt(max_rss, " MB", 1),
            fmt(idle_max, " MB idle", 1),
            goal=f"< {GOAL_RSS_MB:g} MB/process",
            met=max_rss < GOAL_RSS_MB,
        ),
        Row(
            f"RSS growth {first['ops']} → {done} ops (max per process)",
            fmt(max_growth, " MB", 2),
            goal=f"< {GOAL_GROWTH_MB:g} MB",
            met=max_growth < GOAL_GROWTH_MB,
        ),
        Row(
            "whole tree RSS / growth",
            f"{fmt(last['total_rss_mb'], ' MB', 1)} / {fmt(total_growth, ' MB', 2)}",
            fmt(idle["total_rss_mb"], " MB idle", 1),
        ),
        Row("USS growth (max per process)", fmt(max(uss_growth.values()), " MB", 2)),
        Row("operations per second (provision+purge)", fmt(done / seconds, "/s", 1)),
    ]
    notes = [
        f"{done} operations = {cycles} cycles of {batch} provisions (2 migrations each) "
        f"and {batch} purges; processes: main + {len(last['processes']) - 1} pool children"
    ]
    return Result(NAME, {"operations": n, "batch": batch, "concurrency": 2}, metrics, rows, notes)
