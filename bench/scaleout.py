"""8. Scale-out: throughput with 1, 2 and 4 worker nodes against one broker and one tracking DB.

Each node is its own ``celery worker`` process (concurrency 1, a hostname of its own), all on
one Redis and one PostgreSQL tracking database. The tracking database sits behind a proxy that
adds 5 ms to every round trip (``bench.netdelay``), standing in for a database across a
network, so the workload is I/O-bound as in production, not bound by this machine's 2 cores.
Workload: N provisions of SQLite-mode plugins enqueued at once (the provider's work is a local
file; the orchestration's tracking transactions are what crosses the "network").
Throughput: N / (latest finished_at - first enqueue). Checked for every run: N operations, all
succeeded, each ran its ``create_storage`` step exactly once and finished exactly once (no
duplicate, none lost).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import (
    BenchError,
    add_plugin,
    bench_stack,
    pg_database,
    purge,
    send,
    token,
    wait_all,
)
from bench.netdelay import delayed
from bench.report import Config, Result, Row, epoch, fmt
from tests.support.redis import free_port
from tests.support.stack import Stack
from worker.tracking.models import AuditEvent

NAME = "scaleout"
NODES = (1, 2, 4)
DELAY_MS = 5.0
GOAL = 3.2
PROVIDER = "sqlite"


def start_nodes(stack: Stack, nodes: int) -> None:
    """Bring the running nodes up to ``nodes`` (the ones already up stay) and wait until each
    answers a ping."""
    running = [proc for proc in stack.workers if proc.poll() is None]
    if len(running) > nodes:
        stack.stop()
        running = []
    for _ in range(nodes - len(running)):
        stack.start_worker(concurrency=1, beat=False)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if len(stack.producer.control.ping(timeout=1.0)) >= nodes:
            return
    raise BenchError(f"{nodes} worker nodes did not all answer a ping\n{stack.logs()[-2000:]}")


def exactly_once(stack: Stack, op_ids: list[int]) -> None:
    """Fail unless every operation finished once and created its storage once."""
    with stack.engine.connect() as conn:
        for event, step in (("operation_succeeded", None), ("step_done", "create_storage")):
            query = (
                select(AuditEvent.operation_id, func.count())
                .where(AuditEvent.operation_id.in_(op_ids), AuditEvent.event == event)
                .group_by(AuditEvent.operation_id)
            )
            if step is not None:
                query = query.where(AuditEvent.details["step"].as_string() == step)
            counts = dict(conn.execute(query).all())
            wrong = {op: counts.get(op, 0) for op in op_ids if counts.get(op, 0) != 1}
            if wrong:
                raise BenchError(f"{event} {step or ''}: not exactly once for {wrong}")


def one_run(stack: Stack, nodes: int, n: int, made: list[tuple[str, str]]) -> dict[str, Any]:
    """N provisions with ``nodes`` worker nodes; plugins/s and checks."""
    start_nodes(stack, nodes)
    tag = token()
    warm = [f"sw-{tag}-{i}" for i in range(2 * nodes)]
    ids = [f"so-{tag}-{i:04d}" for i in range(n)]
    for plugin_id in warm + ids:
        add_plugin(stack, plugin_id, PROVIDER)
    made.extend((PROVIDER, p) for p in warm + ids)
    wait_all(stack, [send(stack, "plugin_db.provision", p) for p in warm], timeout=300)
    started = time.time()
    ops = wait_all(stack, [send(stack, "plugin_db.provision", p) for p in ids], timeout=1800)
    if len(ops) != n or {op.plugin_id for op in ops} != set(ids):
        raise BenchError(f"{nodes} nodes: {len(ops)} operations for {n} requests")
    exactly_once(stack, [op.id for op in ops])
    seconds = max(epoch(op.finished_at) for op in ops if op.finished_at) - started
    walls = sorted((epoch(op.finished_at) - epoch(op.created_at)) for op in ops if op.finished_at)
    return {
        "nodes": nodes,
        "seconds": round(seconds, 3),
        "plugins_per_s": round(n / seconds, 2),
        "median_op_wall_ms": round(walls[len(walls) // 2] * 1000, 1),
    }


def run(cfg: Config) -> Result:
    n = cfg.n(4, 120, 400)
    made: list[tuple[str, str]] = []
    runs: list[dict[str, Any]] = []
    with pg_database("bench_scaleout") as direct_url:
        url = make_url(direct_url)
        port = free_port()
        proxied = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        target = (url.host or "127.0.0.1", url.port or 5432)
        with delayed(port, *target, DELAY_MS), bench_stack(cfg, NAME, proxied) as stack:
            try:
                runs = [one_run(stack, nodes, n, made) for nodes in NODES]
            finally:
                stack.stop()
                errors = purge(stack, made)
    base = runs[0]["plugins_per_s"]
    rows = []
    for r in runs:
        speedup = r["plugins_per_s"] / base
        last = r["nodes"] == NODES[-1]
        rows.append(
            Row(
                f"{r['nodes']} node(s): plugins/s (N={n}), median op wall",
                f"{fmt(r['plugins_per_s'])} / {fmt(r['median_op_wall_ms'], ' ms', 0)}",
                f"{fmt(base)} (1 node)",
                f"{speedup:.2f}x",
                f">= {GOAL}x" if last else "",
                speedup >= GOAL if last else None,
            )
        )
    notes = [
        f"nodes of concurrency 1 on one Redis; PostgreSQL tracking behind a {DELAY_MS:g} ms "
        "per-round-trip proxy; checked: every operation succeeded, ran create_storage once and "
        "finished once"
    ]
    metrics = {"runs": runs, "cleanup_errors": errors, "delay_ms": DELAY_MS}
    return Result(NAME, {"n": n, "nodes": list(NODES), "delay_ms": DELAY_MS}, metrics, rows, notes)
