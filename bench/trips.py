"""Tracking round trips and orchestration time per operation, in process, per tracking backend.

The lifecycle service is driven in this process (``accept`` then ``run``, what a task does,
no broker) on SQLite-mode plugins, with SQLAlchemy event listeners on its tracking engine:

* ``statements``: every statement sent (``before_cursor_execute``, plus SQLite's ``BEGIN
  [IMMEDIATE]``, which the worker sends on the driver's connection: counted at the ``begin``
  event), ``commits``, and pool ``checkouts`` (a checkout of a PostgreSQL connection idle for
  more than a second pings it first); ``round_trips`` = their sum;
* ``overhead_ms``: the wall of ``accept`` + ``run`` minus the recorded ``ms`` of the
  provider-calling steps, i.e. the engine's bookkeeping without the broker hop;
* ``floor_ms``: the design's floor on the same engine, measured after them: five
  transactions through the worker's sessions (an insert, then one per step of a provision),
  each an UPDATE of one row and an INSERT of another, as the fence and the audit event are,
  and nothing else (no step work, no ORM objects, no log line).

Checked: every operation succeeded and recorded its steps.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event

from bench.common import PROVIDER_STEPS, BenchError, pg_database
from bench.report import Config, Row, fmt, summary
from tests.support.stack import Stack, write_plugin
from worker.lifecycle.service import LifecycleService
from worker.logging import configure
from worker.settings import Settings
from worker.states import Kind

GOAL_MS = 3.0
LOG_SINK = open(os.devnull, "w")  # noqa: SIM115 - open for the process: logging keeps it
TRACE = bool(os.environ.get("BENCH_TRACE_SQL"))


class Counter:
    """Statements, commits and pool checkouts seen on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.counts = {"statements": 0, "commits": 0, "checkouts": 0}

    def _statement(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        self.counts["statements"] += 1
        if TRACE:
            print("  SQL", " ".join(sql.split())[:150])

    def _begin(self, conn: Any) -> None:
        # SQLite's BEGIN [IMMEDIATE] goes to the driver directly (worker.tracking.db)
        if conn.dialect.name == "sqlite":
            self._statement(conn, None, "BEGIN (IMMEDIATE unless read-only)")

    def _commit(self, *_: Any) -> None:
        self.counts["commits"] += 1

    def _checkout(self, *_: Any) -> None:
        self.counts["checkouts"] += 1

    @contextmanager
    def listening(self) -> Iterator[Counter]:
        hooks = (
            (self.engine, "before_cursor_execute", self._statement),
            (self.engine, "begin", self._begin),
            (self.engine, "commit", self._commit),
            (self.engine.pool, "checkout", self._checkout),
        )
        for target, name, fn in hooks:
            event.listen(target, name, fn)
        try:
            yield self
        finally:
            for target, name, fn in hooks:
                event.remove(target, name, fn)

    def take(self) -> dict[str, int]:
        """The counts since the last take, with their sum as ``round_trips``."""
        out = dict(self.counts)
        out["round_trips"] = sum(self.counts.values())
        self.counts = dict.fromkeys(self.counts, 0)
        return out


def one_op(svc: LifecycleService, plugin_id: str) -> tuple[int, float, float]:
    """Provision ``plugin_id`` (accept then run): its operation id, wall ms and CPU ms."""
    request = {"plugin_id": plugin_id, "request_id": f"t-{uuid.uuid4()}", "requested_by": "bench"}
    started, cpu = time.perf_counter(), time.thread_time()
    op_id = svc.accept(Kind.PROVISION, request, (), f"task-{uuid.uuid4()}", run_here=True)
    result = svc.run(op_id)
    wall = (time.perf_counter() - started) * 1000
    cpu = (time.thread_time() - cpu) * 1000
    if result["state"] != "succeeded":
        raise BenchError(f"provision {plugin_id}: {result}")
    return op_id, wall, cpu


def provider_ms(svc: LifecycleService, op_id: int) -> float:
    """The recorded ms of the operation's provider-calling steps (read after counting)."""
    op = svc.store.get(op_id)
    if op is None or not any(s["name"] == "create_storage" for s in op.steps):
        raise BenchError(f"operation {op_id} recorded no create_storage step")
    return sum(
        float(s.get("ms") or 0)
        for s in op.steps
        if s["name"] in PROVIDER_STEPS and s["status"] == "done"
    )


_FLOOR = MetaData()
_FLOOR_ROWS = Table(
    "bench_floor", _FLOOR, Column("id", Integer, primary_key=True), Column("v", Integer)
)
_FLOOR_EVENTS = Table(
    "bench_floor_events",
    _FLOOR,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("detail", String(200)),
)
FLOOR_TRANSACTIONS = 5
"""A provision's committing transactions: the insert (with its claim) and one per step."""


def floor(svc: LifecycleService, n: int) -> list[float]:
    """``n`` times the floor (ms): FLOOR_TRANSACTIONS transactions of one UPDATE and one
    INSERT each, through the worker's own sessions. Checked: every row was written."""
    _FLOOR.create_all(svc.engine)
    with svc.sessions.begin() as session:
        session.connection().execute(_FLOOR_ROWS.insert(), {"id": 1, "v": 0})
    bump = _FLOOR_ROWS.update().where(_FLOOR_ROWS.c.id == 1).values(v=_FLOOR_ROWS.c.v + 1)
    out = []
    for _ in range(n):
        started = time.perf_counter()
        for _ in range(FLOOR_TRANSACTIONS):
            with svc.sessions.begin() as session:
                session.connection().execute(bump)
                session.connection().execute(_FLOOR_EVENTS.insert(), {"detail": "step_done"})
        out.append((time.perf_counter() - started) * 1000)
    with svc.sessions() as session:
        value = session.connection().scalar(_FLOOR_ROWS.select().with_only_columns(_FLOOR_ROWS.c.v))
    if value != n * FLOOR_TRANSACTIONS:
        raise BenchError(f"floor: {value} updates recorded, {n * FLOOR_TRANSACTIONS} made")
    return out


def measure(stack: Stack, n: int, made: list[tuple[str, str]]) -> dict[str, Any]:
    """``n`` SQLite provisions through an in-process service on the stack's tracking URL."""
    tag = uuid.uuid4().hex[:6]
    ids = [f"tr-{tag}-{i:04d}" for i in range(n + 2)]
    for plugin_id in ids:
        write_plugin(stack.plugins_root, plugin_id, "exclusive-sqlite")
        made.append(("sqlite", plugin_id))
    with redirect_stderr(LOG_SINK):
        configure(json=True)  # rendered as the worker renders it, then dropped
        svc = LifecycleService(Settings.from_env(stack.env))
        try:
            for plugin_id in ids[:2]:  # imports, driver, pools: not counted
                one_op(svc, plugin_id)
            walls, trips = [], []
            with Counter(svc.engine).listening() as counter:
                counter.take()
                for plugin_id in ids[2:]:
                    walls.append(one_op(svc, plugin_id))
                    trips.append(counter.take())
            provider = [provider_ms(svc, op_id) for op_id, _, _ in walls]
            floors = floor(svc, n)
        finally:
            svc.engine.dispose()
    per_op = {key: statistics.median(t[key] for t in trips) for key in trips[0]}
    return {
        "overhead_ms": [w[1] - p for w, p in zip(walls, provider, strict=True)],
        "cpu_ms": [w[2] for w in walls],
        "provider_step_ms": provider,
        "floor_ms": floors,
        "per_op": per_op,
    }


@contextmanager
def pg_stack(stack: Stack) -> Iterator[Stack]:
    """``stack``'s settings on a throwaway PostgreSQL tracking database (no worker)."""
    with pg_database("bench_trips") as url:
        env = {**stack.env, "PLUGIN_DB_DATABASE_URL": url}
        other = Stack(env, stack.workdir)
        try:
            yield other
        finally:
            other.engine.dispose()


def run_backends(
    cfg: Config, stack: Stack, made: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[Row]]:
    """In-process figures on SQLite tracking (``stack``'s) and PostgreSQL tracking."""
    n = cfg.n(3, 40, 200)
    metrics: dict[str, Any] = {"sqlite": measure(stack, n, made)}
    if cfg.pg_tracking and cfg.mode != "smoke":  # the smoke run only exercises the harness
        with pg_stack(stack) as other:
            metrics["postgresql"] = measure(other, n, made)
    rows = []
    for backend, found in metrics.items():
        for key in ("overhead_ms", "cpu_ms", "provider_step_ms", "floor_ms"):
            found[key] = summary(found[key])
        med, trips = found["overhead_ms"]["median"], found["per_op"]
        rows.append(
            Row(
                f"in process, {backend} tracking: accept + run minus provider steps, median / p99",
                f"{fmt(med)} / {fmt(found['overhead_ms']['p99'])} ms",
                goal=f"median < {GOAL_MS:g} ms",
                met=med < GOAL_MS,
            )
        )
        rows.append(
            Row(
                f"in process, {backend} tracking: the floor, {FLOOR_TRANSACTIONS} transactions "
                "of an UPDATE and an INSERT, median",
                f"{fmt(found['floor_ms']['median'])} ms",
                f"{fmt(found['floor_ms']['median'] / med * 100)}% of the overhead",
            )
        )
        rows.append(
            Row(
                f"in process, {backend} tracking: CPU of accept + run (incl. provider), median",
                f"{fmt(found['cpu_ms']['median'])} ms",
                f"{fmt(found['provider_step_ms']['median'])} ms provider steps (wall)",
            )
        )
        rows.append(
            Row(
                f"in process, {backend} tracking: round trips per provision",
                f"{trips['round_trips']:g} ({trips['statements']:g} statements, "
                f"{trips['commits']:g} commits, {trips['checkouts']:g} checkouts)",
            )
        )
    return metrics, rows
