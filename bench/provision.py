"""1. Provision throughput per provider: the worker (2 processes) against direct provider calls.

Worker: N plugin folders are written, then N ``plugin_db.provision`` tasks are enqueued at
once by a foreign producer; the time runs from just before the first enqueue to the latest
``finished_at`` of the N operations (worker concurrency 2, already warm).
Baseline: the same ``Provider.provision(spec, password)`` calls in a loop in this process (no
queue, no tracking, no audit, no secret storage), passwords generated beforehand.
Full mode repeats both ways 3 times, interleaved, and reports the medians (the machine's
disk and CPUs are shared, so single runs vary by 2x).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import (
    PROVIDERS,
    add_plugin,
    bench_stack,
    provider,
    purge,
    send,
    spec,
    token,
    wait_all,
    warm_up,
)
from bench.report import Config, Result, Row, epoch, fmt, ratio
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
    n, repeats = cfg.n(2, 10, 100), cfg.n(1, 1, 3)
    metrics: dict[str, Any] = {}
    rows: list[Row] = []
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=CONCURRENCY, beat=False)
            made.extend(warm_up(stack, PROVIDERS))
            for name in PROVIDERS:
                runs = []
                for _ in range(repeats):  # interleaved; the medians are reported
                    direct = baseline(stack, name, n, made)
                    runs.append((through_worker(stack, name, n, made), direct))
                worker = {
                    "seconds": statistics.median(w["seconds"] for w, _ in runs),
                    "enqueue_seconds": statistics.median(w["enqueue_seconds"] for w, _ in runs),
                }
                direct = statistics.median(d for _, d in runs)
                r = ratio(worker["seconds"], direct)
                metrics[name] = {
                    "n": n,
                    "repeats": repeats,
                    "worker_seconds": round(worker["seconds"], 4),
                    "worker_plugins_per_s": round(n / worker["seconds"], 2),
                    "enqueue_seconds": round(worker["enqueue_seconds"], 4),
                    "baseline_seconds": round(direct, 4),
                    "baseline_plugins_per_s": round(n / direct, 2),
                    "ratio_worker_to_baseline_time": round(r, 3),
                    "runs": [
                        {"worker_seconds": round(w["seconds"], 4), "baseline_seconds": round(d, 4)}
                        for w, d in runs
                    ],
                }
                rows.append(
                    Row(
                        f"{name}: plugins/s (N={n})",
                        fmt(n / worker["seconds"]),
                        fmt(n / direct),
                        f"{r:.2f}x time",
                        "<= 1.0x time",
                        r <= 1.0,
                    )
                )
        finally:
            errors = purge(stack, made)
    notes = [
        f"worker concurrency {CONCURRENCY} (prefork), warm; baseline: one process, "
        f"direct Provider.provision calls; median of {repeats} interleaved run(s)"
    ]
    return Result(
        NAME,
        {"n": n, "repeats": repeats, "concurrency": CONCURRENCY, "providers": list(PROVIDERS)},
        {**metrics, "cleanup_errors": errors},
        rows,
        notes,
    )
