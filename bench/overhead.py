"""2. Orchestration overhead per operation, two ways, on a warm idle worker.

M provisions per provider are sent one at a time (each waits for the previous to finish).
For every operation:

* ``steps``: (``finished_at`` - ``created_at``) minus the recorded ``ms`` of its
  provider-calling steps (``create_storage``; ``apply_migrations`` when it ran). ``created_at``
  is stamped when the worker inserts the operation, i.e. after the message was received and
  the request parsed and validated, so this is the engine's bookkeeping inside the operation:
  claim, step records, tracking and audit transactions, manifest loading, secret encryption.
* ``e2e``: (``finished_at`` - the producer's clock just before ``send_task``) minus the median
  time of the same ``Provider.provision`` call made directly in this process (M calls). This
  adds the broker hop, message decoding, request validation and the accept transaction.

Then the in-process figures per tracking backend (``bench.trips``) and, unless
``--no-pg-tracking``, both Celery figures again for SQLite-mode plugins with the worker's
tracking database on PostgreSQL.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.common import (
    PROVIDERS,
    add_plugin,
    bench_stack,
    pg_database,
    provider,
    provider_ms,
    purge,
    send,
    spec,
    token,
    wait_all,
    wall_ms,
    warm_up,
)
from bench.report import Config, Result, Row, epoch, fmt, summary
from bench.trips import run_backends
from tests.support.stack import Stack
from worker import secrets

NAME = "overhead"
GOAL_MS = 3.0


def direct_ms(stack: Stack, name: str, m: int, made: list[tuple[str, str]]) -> list[float]:
    """Per-call ms of ``m`` direct provision calls (after one untimed call)."""
    driver = provider(stack, name)
    tag, times = token(), []
    for i in range(m + 1):
        plugin_id = f"ob-{tag}-{name[:2]}-{i:04d}"
        made.append((name, plugin_id))
        one, password = spec(plugin_id, name), secrets.generate_password()
        started = time.perf_counter()
        driver.provision(one, password)
        if i:
            times.append((time.perf_counter() - started) * 1000)
    driver.close()
    return times


def sequential(
    stack: Stack, name: str, m: int, made: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Send ``m`` provisions one after another; per-op timings in ms."""
    tag, samples = token(), []
    for i in range(m):
        plugin_id = f"ow-{tag}-{name[:2]}-{i:04d}"
        add_plugin(stack, plugin_id, name)
        made.append((name, plugin_id))
        sent = time.time()
        (op,) = wait_all(stack, [send(stack, "plugin_db.provision", plugin_id)], timeout=60)
        assert op.finished_at is not None
        samples.append(
            {
                "wall_ms": wall_ms(op),
                "provider_ms": provider_ms(op),
                "e2e_ms": (epoch(op.finished_at) - sent) * 1000,
                "accept_ms": (epoch(op.created_at) - sent) * 1000,
                "steps": {s["name"]: s.get("ms") for s in op.steps},
            }
        )
    return samples


def measure(
    stack: Stack, name: str, m: int, made: list[tuple[str, str]], label: str
) -> tuple[dict[str, Any], list[Row]]:
    """Direct calls, then ``m`` sequential provisions of ``name``: metrics and report rows."""
    direct = direct_ms(stack, name, m, made)
    samples = sequential(stack, name, m, made)
    base = statistics.median(direct)
    by_steps = summary([s["wall_ms"] - s["provider_ms"] for s in samples])
    by_e2e = summary([s["e2e_ms"] - base for s in samples])
    metrics = {
        "m": m,
        "overhead_steps_ms": by_steps,
        "overhead_e2e_ms": by_e2e,
        "wall_ms": summary([s["wall_ms"] for s in samples]),
        "provider_step_ms": summary([s["provider_ms"] for s in samples]),
        "e2e_ms": summary([s["e2e_ms"] for s in samples]),
        "enqueue_to_created_ms": summary([s["accept_ms"] for s in samples]),
        "direct_provision_ms": summary(direct),
        "step_ms_median": {
            step: round(statistics.median(float(s["steps"].get(step) or 0) for s in samples), 3)
            for step in samples[0]["steps"]
        },
    }
    rows = [
        Row(
            f"{label}: op minus provider steps, median / p99",
            f"{fmt(by_steps['median'])} / {fmt(by_steps['p99'])} ms",
            goal=f"median < {GOAL_MS:g} ms",
            met=by_steps["median"] < GOAL_MS,
        ),
        Row(
            f"{label}: e2e minus direct, median / p99",
            f"{fmt(by_e2e['median'])} / {fmt(by_e2e['p99'])} ms",
            fmt(base, " ms"),
            goal=f"median < {GOAL_MS:g} ms",
            met=by_e2e["median"] < GOAL_MS,
        ),
    ]
    return metrics, rows


def pg_tracked(cfg: Config, m: int) -> tuple[dict[str, Any], list[Row], list[str]]:
    """SQLite-mode provisions through a worker whose tracking database is PostgreSQL."""
    made: list[tuple[str, str]] = []
    with pg_database("bench_overhead") as url, bench_stack(cfg, NAME, url) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            made.extend(warm_up(stack, ["sqlite"]))
            found, rows = measure(stack, "sqlite", m, made, "sqlite, PostgreSQL tracking")
        finally:
            errors = purge(stack, made)
    return found, rows, errors


def run(cfg: Config) -> Result:
    m = cfg.n(2, 10, 50)
    metrics: dict[str, Any] = {}
    rows: list[Row] = []
    made: list[tuple[str, str]] = []
    errors: list[str] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            made.extend(warm_up(stack, PROVIDERS))
            for name in PROVIDERS:
                metrics[name], more = measure(stack, name, m, made, name)
                rows.extend(more)
            found, more = run_backends(cfg, stack, made)
            metrics["in_process"] = found
            rows.extend(more)
        finally:
            errors = purge(stack, made)
    if cfg.pg_tracking and cfg.mode != "smoke":  # the smoke run only exercises the harness
        metrics["sqlite_pg_tracking"], more, pg_errors = pg_tracked(cfg, m)
        rows.extend(more)
        errors += pg_errors
    notes = [
        "steps: created_at->finished_at minus provider-step ms; e2e: enqueue->finished_at "
        "minus median direct Provider.provision time (baseline column)",
        "in process: the lifecycle service driven without the broker on SQLite-mode plugins; "
        "round trips = statements + commits + pool checkouts on the tracking engine, per op",
        "sqlite, PostgreSQL tracking: the same Celery measurement with the worker's tracking "
        "database on PostgreSQL",
    ]
    return Result(
        NAME,
        {"m": m, "providers": list(PROVIDERS)},
        {**metrics, "cleanup_errors": errors},
        rows,
        notes,
    )
