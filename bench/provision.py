"""1. Provision throughput per provider: the worker (2 processes) against direct provider calls.

Worker: N plugin folders are written, then N ``plugin_db.provision`` tasks are enqueued at
once by a foreign producer; the time runs from just before the first enqueue to the latest
``finished_at`` of the N operations (worker concurrency 2, already warm).
Baseline: the same ``Provider.provision(spec, password)`` calls in a loop in this process (no
queue, no tracking, no audit, no secret storage), passwords generated beforehand.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    PROVIDERS,
    Config,
    Result,
    Row,
    add_plugin,
    epoch,
    fmt,
    provider,
    purge,
    ratio,
    send,
    spec,
    token,
    wait_all,
    warm_up,
)
from bench.common import bench_stack as make_stack
from tests.support.stack import Stack
from worker import secrets

NAME = "provision"
CONCURRENCY = 2


def baseline(stack: Stack, name: str, n: int, made: list[tuple[str, str]]) -> float:
    """Seconds for ``n`` direct provider.provision calls in one process."""
    driver = provider(stack, name)
    tag = token()
    ids = [f"bb-{tag}-{name[:2]}-{i:04d}" for i in range(n)]
    specs = [spec(plugin_id, name) for plugin_id in ids]
    passwords = [secrets.generate_password() if driver.issues_credentials else None for _ in ids]
    made.extend((name, plugin_id) for plugin_id in ids)
    # one untimed call so imports and the first connection are not counted
    warm = f"bw-{tag}-{name[:2]}"
    made.append((name, warm))
    driver.provision(spec(warm, name), secrets.generate_password())
    started = time.perf_counter()
    for one, password in zip(specs, passwords, strict=True):
        driver.provision(one, password)
    elapsed = time.perf_counter() - started
    driver.close()
    return elapsed


def through_worker(stack: Stack, name: str, n: int, made: list[tuple[str, str]]) -> dict[str, Any]:
    """Enqueue ``n`` provisions at once; seconds from enqueue to the last finish."""
    tag = token()
    ids = [f"bw-{tag}-{name[:2]}-{i:04d}" for i in range(n)]
    for plugin_id in ids:
        add_plugin(stack, plugin_id, name)
    made.extend((name, plugin_id) for plugin_id in ids)
    started = time.time()
    rids = [send(stack, "plugin_db.provision", plugin_id) for plugin_id in ids]
    enqueued = time.time() - started
    ops = wait_all(stack, rids, timeout=max(120.0, n * 5.0))
    last = max(epoch(op.finished_at) for op in ops if op.finished_at is not None)
    return {"seconds": last - started, "enqueue_seconds": enqueued, "ops": len(ops)}


def run(cfg: Config) -> Result:
    n = cfg.n(2, 10, 100)
    metrics: dict[str, Any] = {}
    rows: list[Row] = []
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    with make_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=CONCURRENCY, beat=False)
            made.extend(warm_up(stack, PROVIDERS))
            for name in PROVIDERS:
                direct = baseline(stack, name, n, made)
                worker = through_worker(stack, name, n, made)
                r = ratio(worker["seconds"], direct)
                metrics[name] = {
                    "n": n,
                    "worker_seconds": round(worker["seconds"], 4),
                    "worker_plugins_per_s": round(n / worker["seconds"], 2),
                    "enqueue_seconds": round(worker["enqueue_seconds"], 4),
                    "baseline_seconds": round(direct, 4),
                    "baseline_plugins_per_s": round(n / direct, 2),
                    "ratio_worker_to_baseline_time": round(r, 3),
                }
                rows.append(Row(f"{name}: plugins/s (N={n})", fmt(n / worker["seconds"]),
                                fmt(n / direct), f"{r:.2f}x time", "<= 1.0x time", r <= 1.0))
        finally:
            errors = purge(stack, made)
    notes = [f"worker concurrency {CONCURRENCY} (prefork), warm; baseline: one process, "
             "direct Provider.provision calls"]
    return Result(NAME, {"n": n, "concurrency": CONCURRENCY, "providers": list(PROVIDERS)},
                  {**metrics, "cleanup_errors": errors}, rows, notes)
