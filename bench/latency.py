"""3. Latency: enqueue → ready for one SQLite plugin on an idle, warm worker.

For each sample a plugin folder (no migration files) is written, the producer's clock is read
just before ``send_task``, and the previous operation has already finished. ``ready`` is the
datasource's ``updated_at`` when it became ``ready`` (the ``activate`` step's commit, the
moment other programs can see it); ``finished`` is the operation's ``finished_at``. The first
operation after the worker started is reported apart as ``cold``.
Baseline: the same ``SQLiteProvider.provision`` call made directly in this process.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    BenchError,
    add_plugin,
    bench_stack,
    provider,
    purge,
    send,
    spec,
    token,
    wait_all,
    wait_ready,
)
from bench.report import Config, Result, Row, epoch, fmt, ratio, summary
from tests.support.stack import Stack

NAME = "latency"
GOAL_MS = 30.0
PROVIDER = "sqlite"


def sample(stack: Stack, plugin_id: str) -> dict[str, float]:
    """One provision; ms from enqueue to ready and to finished."""
    add_plugin(stack, plugin_id, PROVIDER)
    sent = time.time()
    (op,) = wait_all(stack, [send(stack, "plugin_db.provision", plugin_id)], timeout=60)
    ds = stack.datasource(plugin_id)
    if ds is None or ds.status != "ready" or op.finished_at is None:
        raise BenchError(f"{plugin_id} is not ready after its provision: {op.state} {op.error}")
    return {
        "ready_ms": (epoch(ds.updated_at) - sent) * 1000,
        "finished_ms": (epoch(op.finished_at) - sent) * 1000,
        "created_ms": (epoch(op.created_at) - sent) * 1000,
    }


def direct(stack: Stack, n: int, made: list[tuple[str, str]]) -> list[float]:
    driver, tag, times = provider(stack, PROVIDER), token(), []
    for i in range(n + 1):
        plugin_id = f"lb-{tag}-{i:04d}"
        made.append((PROVIDER, plugin_id))
        started = time.perf_counter()
        driver.provision(spec(plugin_id, PROVIDER), None)
        if i:
            times.append((time.perf_counter() - started) * 1000)
    return times


def run(cfg: Config) -> Result:
    n = cfg.n(3, 20, 200)
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            wait_ready(stack)
            tag = token()
            cold = sample(stack, f"lc-{tag}")
            made.append((PROVIDER, f"lc-{tag}"))
            samples = []
            for i in range(n):
                plugin_id = f"lw-{tag}-{i:04d}"
                made.append((PROVIDER, plugin_id))
                samples.append(sample(stack, plugin_id))
                time.sleep(0.02)  # let the worker go idle again
            base = summary(direct(stack, n, made))
        finally:
            errors = purge(stack, made)
    ready = summary([s["ready_ms"] for s in samples])
    finished = summary([s["finished_ms"] for s in samples])
    created = summary([s["created_ms"] for s in samples])
    metrics: dict[str, Any] = {
        "samples": n,
        "ready_ms": ready,
        "finished_ms": finished,
        "enqueue_to_created_ms": created,
        "cold": cold,
        "direct_provision_ms": base,
        "cleanup_errors": errors,
    }
    rows = [
        Row(
            "enqueue→ready, median / p99",
            f"{fmt(ready['median'])} / {fmt(ready['p99'])} ms",
            fmt(base["median"], " ms"),
            f"{ratio(ready['median'], base['median']):.1f}x",
            f"median < {GOAL_MS:g} ms",
            ready["median"] < GOAL_MS,
        ),
        Row(
            "enqueue→finished, median / p99",
            f"{fmt(finished['median'])} / {fmt(finished['p99'])} ms",
        ),
        Row("cold (first op of a fresh worker): ready", fmt(cold["ready_ms"], " ms")),
    ]
    notes = [
        f"{n} sequential samples, SQLite plugin without migrations; baseline = direct "
        "SQLiteProvider.provision in-process"
    ]
    return Result(NAME, {"samples": n, "provider": PROVIDER}, metrics, rows, notes)
