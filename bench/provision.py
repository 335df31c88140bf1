"""1. Provision throughput per provider: the worker against direct provider calls, at equal
concurrency (1 and 2 processes).

Worker: N plugin folders are written, then N ``plugin_db.provision`` tasks are enqueued at
once by a foreign producer; the time runs from just before the first enqueue to the latest
``finished_at`` of the N operations (a worker of concurrency C, already warm).
Baseline: the same ``Provider.provision(spec, password)`` calls made directly by C processes
of a process pool (no queue, no tracking, no audit, no secret storage), each process warm (every
driver built, one untimed provision made with each), passwords generated beforehand, the N calls
split evenly. Full mode repeats both ways 3 times, interleaved, and reports the medians.
Both ways are checked: every worker operation succeeded, and every baseline plugin's storage
is ``active`` afterwards.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from bench.common import (
    PROVIDERS,
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
    warm_up,
)
from bench.report import Config, Result, Row, epoch, fmt, ratio
from providers.base import Provider, StorageState
from providers.registry import get_provider_class
from tests.support.stack import Stack
from worker import secrets
from worker.settings import Settings

NAME = "provision"
CONCURRENCIES = (1, 2)
SPAWN = multiprocessing.get_context("spawn")  # a fork would inherit the parent's locks
_driver: dict[str, Provider] = {}


def _warm(env: dict[str, str], warm_ids: dict[str, str]) -> None:
    """Pool initializer: build every driver once and make one untimed provision with each."""
    settings = Settings.from_env(env)
    for name, warm_id in warm_ids.items():
        driver = get_provider_class(name).from_settings(settings)
        driver.provision(spec(warm_id, name), secrets.generate_password())
        _driver[name] = driver


def _provision_all(name: str, ids: list[str], passwords: list[str | None]) -> None:
    driver = _driver[name]
    for plugin_id, password in zip(ids, passwords, strict=True):
        driver.provision(spec(plugin_id, name), password)


@contextmanager
def warm_pools(
    stack: Stack, procs: int, made: list[tuple[str, str]]
) -> Iterator[list[ProcessPoolExecutor]]:
    """``procs`` single-process pools, each warm with every provider's driver."""
    tag = token()
    warm = [{name: f"bw-{tag}-{name[:2]}-w{i}" for name in PROVIDERS} for i in range(procs)]
    made.extend((name, w) for ids in warm for name, w in ids.items())
    pools = [
        ProcessPoolExecutor(1, SPAWN, initializer=_warm, initargs=(stack.env, w)) for w in warm
    ]
    try:
        for pool in pools:  # start each process and wait until it is warm
            pool.submit(time.sleep, 0).result()
        yield pools
    finally:
        for pool in pools:
            pool.shutdown()


def baseline(
    stack: Stack, name: str, n: int, pools: list[ProcessPoolExecutor], made: list[tuple[str, str]]
) -> float:
    """Seconds for ``n`` direct provider.provision calls spread over the warm ``pools``."""
    tag, procs = token(), len(pools)
    ids = [f"bb-{tag}-{name[:2]}-{i:04d}" for i in range(n)]
    issues = get_provider_class(name).issues_credentials
    passwords = [secrets.generate_password() if issues else None for _ in ids]
    made.extend((name, plugin_id) for plugin_id in ids)
    chunks = [(ids[i::procs], passwords[i::procs]) for i in range(procs)]
    started = time.perf_counter()
    futures = [p.submit(_provision_all, name, *c) for p, c in zip(pools, chunks, strict=True)]
    for future in futures:
        future.result()
    elapsed = time.perf_counter() - started
    driver = provider(stack, name)
    try:
        missing = [p for p in ids if driver.state(spec(p, name)) != StorageState.ACTIVE]
    finally:
        driver.close()
    if missing:
        raise BenchError(f"baseline {name}: {len(missing)} not provisioned, e.g. {missing[0]}")
    return elapsed


def through_worker(stack: Stack, name: str, n: int, made: list[tuple[str, str]]) -> float:
    """Enqueue ``n`` provisions at once; seconds from enqueue to the last finish."""
    tag = token()
    ids = [f"bq-{tag}-{name[:2]}-{i:04d}" for i in range(n)]
    for plugin_id in ids:
        add_plugin(stack, plugin_id, name)
    made.extend((name, plugin_id) for plugin_id in ids)
    started = time.time()
    rids = [send(stack, "plugin_db.provision", plugin_id) for plugin_id in ids]
    ops = wait_all(stack, rids, timeout=max(120.0, n * 5.0))  # raises unless all succeeded
    if len(ops) != n:
        raise BenchError(f"worker {name}: {len(ops)} operations for {n} requests")
    return max(epoch(op.finished_at) for op in ops if op.finished_at is not None) - started


def measure(
    stack: Stack,
    name: str,
    n: int,
    *,
    pools: list[ProcessPoolExecutor],
    repeats: int,
    made: list[tuple[str, str]],
) -> tuple[dict[str, Any], Row]:
    """Interleaved runs of both ways at ``len(pools)`` processes; medians, and the table row."""
    procs = len(pools)
    runs = [
        (through_worker(stack, name, n, made), baseline(stack, name, n, pools, made))
        for _ in range(repeats)
    ]
    worker = statistics.median(w for w, _ in runs)
    direct = statistics.median(d for _, d in runs)
    r = ratio(worker, direct)
    metrics = {
        "n": n,
        "processes": procs,
        "worker_seconds": round(worker, 4),
        "baseline_seconds": round(direct, 4),
        "ratio_worker_to_baseline_time": round(r, 3),
        "runs": [{"worker_s": round(w, 4), "baseline_s": round(d, 4)} for w, d in runs],
    }
    row = Row(
        f"{name}, {procs} process(es): plugins/s (N={n})",
        fmt(n / worker),
        fmt(n / direct),
        f"{r:.2f}x time",
    )
    return metrics, row


def run(cfg: Config) -> Result:
    n, repeats = cfg.n(2, 10, 100), cfg.n(1, 1, 3)
    metrics: dict[str, Any] = {}
    rows: list[Row] = []
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            for procs in CONCURRENCIES:
                stack.stop()
                stack.start_worker(concurrency=procs, beat=False)
                wait_ready(stack)
                made.extend(warm_up(stack, PROVIDERS))
                with warm_pools(stack, procs, made) as pools:
                    for name in PROVIDERS:
                        m, row = measure(stack, name, n, pools=pools, repeats=repeats, made=made)
                        metrics[f"{name}_c{procs}"] = m
                        rows.append(row)
        finally:
            errors = purge(stack, made)
    notes = [
        "equal concurrency: worker of concurrency C (prefork, warm) vs C warm processes "
        f"calling Provider.provision directly; median of {repeats} interleaved run(s)"
    ]
    params = {"n": n, "repeats": repeats, "concurrency": list(CONCURRENCIES)}
    return Result(NAME, params, {**metrics, "cleanup_errors": errors}, rows, notes)
