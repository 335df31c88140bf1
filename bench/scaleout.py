"""8. Scale-out: throughput with 1, 2, 4 (and, full size, 8 and 16) worker nodes against one
broker and one tracking DB.

Each node is its own ``celery worker`` process (concurrency 1, a hostname of its own), all on
one Redis and one PostgreSQL tracking database. The tracking database sits behind a proxy that
adds 5 ms to every round trip (``bench.netdelay``), standing in for a database across a
network, so the workload is I/O-bound as in production, not bound by this machine's 2 cores.
Workload: N provisions of SQLite-mode plugins enqueued at once (the provider's work is a local
file; the orchestration's tracking transactions are what crosses the "network").
Throughput: N / (latest finished_at - first enqueue). Checked for every run: N operations, all
succeeded, each ran its ``create_storage`` step exactly once and finished exactly once (no
duplicate, none lost). Each run also records the nodes' CPU time per operation: on a small
machine every node shares its cores, so ``cores / CPU per operation`` is the ceiling that
adding nodes runs into.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psutil  # type: ignore[import-untyped]
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
NODES = {"smoke": (1, 2, 4), "quick": (1, 2, 4), "full": (1, 2, 4, 8, 16)}
PER_NODE = 30
"""Full size: at least this many operations per node in a run, so that each run lasts long
enough for its node count."""
DELAY_MS = 5.0
GOAL, GOAL_NODES = 3.2, 4
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


def node_cpu_seconds(stack: Stack) -> float:
    """CPU seconds used so far by the worker nodes (main processes and their pool children)."""
    total = 0.0
    for proc in stack.workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            main = psutil.Process(proc.pid)
            for one in (main, *main.children(recursive=True)):
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = one.cpu_times()
                    total += times.user + times.system
    return total


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
    started, cpu = time.time(), node_cpu_seconds(stack)
    ops = wait_all(stack, [send(stack, "plugin_db.provision", p) for p in ids], timeout=1800)
    cpu = node_cpu_seconds(stack) - cpu
    if len(ops) != n or {op.plugin_id for op in ops} != set(ids):
        raise BenchError(f"{nodes} nodes: {len(ops)} operations for {n} requests")
    exactly_once(stack, [op.id for op in ops])
    seconds = max(epoch(op.finished_at) for op in ops if op.finished_at) - started
    walls = sorted((epoch(op.finished_at) - epoch(op.created_at)) for op in ops if op.finished_at)
    return {
        "nodes": nodes,
        "n": n,
        "seconds": round(seconds, 3),
        "plugins_per_s": round(n / seconds, 2),
        "median_op_wall_ms": round(walls[len(walls) // 2] * 1000, 1),
        "node_cpu_ms_per_op": round(1000 * cpu / n, 1),
    }


def run(cfg: Config) -> Result:
    n, nodes_of_run = cfg.n(4, 120, 120), NODES[cfg.mode]
    made: list[tuple[str, str]] = []
    runs: list[dict[str, Any]] = []
    with pg_database("bench_scaleout") as direct_url:
        url = make_url(direct_url)
        port = free_port()
        proxied = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
        target = (url.host or "127.0.0.1", url.port or 5432)
        with delayed(port, *target, DELAY_MS), bench_stack(cfg, NAME, proxied) as stack:
            try:
                runs = [one_run(stack, k, _size(cfg, n, k), made) for k in nodes_of_run]
            finally:
                stack.stop()
                errors = purge(stack, made)
    rows = [_row(r, runs[0]) for r in runs]
    notes = [
        f"nodes of concurrency 1 on one Redis; PostgreSQL tracking behind a {DELAY_MS:g} ms "
        "per-round-trip proxy; checked: every operation succeeded, ran create_storage once and "
        "finished once; CPU = the nodes' CPU time per operation (processes and pool children)",
        _knee(runs),
    ]
    metrics = {"runs": runs, "cleanup_errors": errors, "delay_ms": DELAY_MS}
    params = {"n": n, "nodes": list(nodes_of_run), "delay_ms": DELAY_MS}
    return Result(NAME, params, metrics, rows, notes)


def _size(cfg: Config, n: int, nodes: int) -> int:
    """Operations of a run: ``n``, and at full size at least :data:`PER_NODE` per node."""
    return max(n, PER_NODE * nodes) if cfg.mode == "full" else n


def _row(r: dict[str, Any], base: dict[str, Any]) -> Row:
    speedup, goal = r["plugins_per_s"] / base["plugins_per_s"], r["nodes"] == GOAL_NODES
    return Row(
        f"{r['nodes']} node(s): plugins/s (N={r['n']}), median op wall, CPU per op",
        f"{fmt(r['plugins_per_s'])} / {fmt(r['median_op_wall_ms'], ' ms', 0)} / "
        f"{fmt(r['node_cpu_ms_per_op'], ' ms', 1)}",
        f"{fmt(base['plugins_per_s'])} (1 node)",
        f"{speedup:.2f}x",
        f">= {GOAL}x" if goal else "",
        speedup >= GOAL if goal else None,
    )


def _knee(runs: list[dict[str, Any]]) -> str:
    """Where adding nodes stopped paying (under 75% of linear), against the CPU ceiling."""
    base, cores = runs[0]["plugins_per_s"], os.cpu_count() or 1
    for r in runs[1:]:
        efficiency = r["plugins_per_s"] / base / r["nodes"]
        ceiling = cores * 1000 / max(r["node_cpu_ms_per_op"], 0.1)
        if efficiency < 0.75:
            return (
                f"scaling stops at {r['nodes']} nodes: {efficiency:.0%} of linear, "
                f"{r['plugins_per_s']:.1f} plugins/s against a CPU ceiling of {ceiling:.0f}/s "
                f"({cores} cores / {r['node_cpu_ms_per_op']:.1f} ms of node CPU per operation), "
                f"median op wall {r['median_op_wall_ms']:.0f} ms"
            )
    return f"scaling held to {runs[-1]['nodes']} nodes (each at least 75% of linear)"
