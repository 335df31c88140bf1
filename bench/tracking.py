"""5. Tracking at scale: lookups on a tracking database holding many plugins and events.

A fresh tracking database (Alembic head) gets D datasources, D*2.5 operations and A audit
events by SQLAlchemy core ``executemany`` in chunks. Operations and events are spread over
plugins with a skew (plugin index = D * u², u uniform) so a few plugins are busy, as on a real
platform; the sampled plugins follow the same skew. Then ``ANALYZE``, and each query runs in a
fresh ORM session (pool checkout included), as the worker and CLI run them:

* status: ``session.get(PluginDatasource, plugin_id).status``;
* ops: the plugin's latest 50 operations (``plugin-db ops --plugin``);
* audit: the plugin's audit trail, latest 200 events (``plugin-db audit``, its default limit).

SQLite always; PostgreSQL too (a throwaway database on the test server) unless disabled.
The busiest plugin (``hot``) is also measured alone, and the query plans are recorded (they
show revision 0002's ``(plugin_id, id)`` indexes serving ``ORDER BY id DESC``). There is no
baseline here: the goal is an absolute one (a lookup under 5 ms at the median).
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import BenchError, pg_database
from bench.report import Config, Result, Row, fmt, summary
from worker.tracking import db
from worker.tracking.models import AuditEvent, LifecycleOperation, PluginDatasource

NAME = "tracking"
GOAL_MS = 5.0
CHUNK = 20_000
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
EVENTS = ("operation_accepted", "step_done", "step_done", "step_done", "operation_succeeded")


def skewed(rng: random.Random, d: int) -> int:
    return int(d * rng.random() ** 2)


def pid(i: int) -> str:
    return f"plugin-{i:07d}"


def datasources(d: int) -> Iterator[dict[str, Any]]:
    for i in range(d):
        at = EPOCH + timedelta(seconds=i)
        yield {
            "plugin_id": pid(i),
            "mode": "exclusive-postgres",
            "provider": "postgresql",
            "status": "ready" if i % 10 else "archived",
            "created_at": at,
            "updated_at": at,
            "descriptor": {
                "provider": "postgresql",
                "url": f"postgresql://{pid(i)}_a@db/p",
                "objects": {"schema": pid(i)},
                "limits": {"connections": 5},
            },
            "manifest": {"id": pid(i), "version": "1.0.0"},
        }


def operations(o: int, d: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    steps = [{"name": n, "status": "done", "ms": 1.0} for n in ("begin", "create", "activate")]
    for i in range(o):
        at = EPOCH + timedelta(seconds=i)
        yield {
            "plugin_id": pid(skewed(rng, d)),
            "kind": "migrate",
            "state": "succeeded",
            "current_step": "activate",
            "steps": steps,
            "request": {"plugin_id": "x"},
            "request_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "requested_by": "bench",
            "attempts": 1,
            "crashes": 0,
            "version": 6,
            "result": {},
            "created_at": at,
            "updated_at": at,
            "finished_at": at,
        }


def audit_events(a: int, d: int, o: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(a):
        yield {
            "timestamp": EPOCH + timedelta(milliseconds=i),
            "plugin_id": pid(skewed(rng, d)),
            "operation_id": rng.randrange(1, o + 1),
            "event": EVENTS[i % len(EVENTS)],
            "actor": "bench",
            "details": {"step": "create_storage", "ms": 1.5},
        }


def load(engine: Engine, table: Any, rows: Iterator[dict[str, Any]]) -> float:
    """Insert ``rows`` in chunks with executemany; rows per second."""
    started, count, chunk = time.perf_counter(), 0, []
    with engine.begin() as conn:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                conn.execute(insert(table), chunk)
                count, chunk = count + len(chunk), []
        if chunk:
            conn.execute(insert(table), chunk)
            count += len(chunk)
    return count / (time.perf_counter() - started)


QUERIES: dict[str, Callable[[Session, str], int]] = {
    "status": lambda s, p: int(s.get(PluginDatasource, p) is not None),
    "ops": lambda s, p: len(
        list(
            s.scalars(
                select(LifecycleOperation)
                .where(LifecycleOperation.plugin_id == p)
                .order_by(LifecycleOperation.id.desc())
                .limit(50)
            )
        )
    ),
    "audit": lambda s, p: len(
        list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.plugin_id == p)
                .order_by(AuditEvent.id.desc())
                .limit(200)
            )
        )
    ),
}


def timed(engine: Engine, sample: list[str]) -> dict[str, Any]:
    """Each query over ``sample``: ms and rows returned."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    out: dict[str, Any] = {}
    for name, query in QUERIES.items():
        for plugin_id in sample[:20]:  # warm the pool and the caches, untimed
            with sessions() as session:
                query(session, plugin_id)
        times, found = [], []
        for plugin_id in sample:
            started = time.perf_counter()
            with sessions() as session:
                found.append(query(session, plugin_id))
            times.append((time.perf_counter() - started) * 1000)
        out[name] = {"ms": summary(times), "rows": summary([float(f) for f in found])}
    return out


def measure(engine: Engine, sample: list[str], backend: str) -> dict[str, Any]:
    """Sampled plugins, then the busiest plugin alone (``hot``), then the query plans."""
    hot = [pid(0)] * min(len(sample), 100)
    out = timed(engine, sample)
    out["hot"] = timed(engine, hot)
    out["plans"] = plans(engine, backend)
    return out


def plans(engine: Engine, backend: str) -> dict[str, list[str]]:
    """Query plans of the two listings for the busiest plugin."""
    explain = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
    queries = {
        "ops": "SELECT * FROM lifecycle_operations WHERE plugin_id = :p ORDER BY id DESC LIMIT 50",
        "audit": "SELECT * FROM audit_events WHERE plugin_id = :p ORDER BY id DESC LIMIT 200",
    }
    with engine.connect() as conn:
        return {
            name: [str(r[-1]) for r in conn.execute(text(explain + q), {"p": pid(0)})]
            for name, q in queries.items()
        }


def loaded_rows(engine: Engine, wanted: dict[str, int]) -> None:
    """Fail loudly unless every table holds the rows the scenario loaded."""
    with engine.connect() as conn:
        found = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in wanted}
    if found != wanted:
        raise BenchError(f"tracking tables hold {found}, expected {wanted}")


def scenario(url: str, backend: str, d: int, a: int, lookups: int) -> dict[str, Any]:
    rng = random.Random(42)
    o = d * 5 // 2
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        rates = {
            "datasources": load(engine, PluginDatasource.__table__, datasources(d)),
            "operations": load(engine, LifecycleOperation.__table__, operations(o, d, rng)),
            "audit_events": load(engine, AuditEvent.__table__, audit_events(a, d, o, rng)),
        }
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        loaded_rows(engine, {"plugin_datasources": d, "lifecycle_operations": o, "audit_events": a})
        sample = [pid(skewed(rng, d)) for _ in range(lookups)]
        result = measure(engine, sample, backend)
    finally:
        engine.dispose()
    return {
        "datasources": d,
        "operations": o,
        "audit_events": a,
        "insert_rows_per_s": {k: round(v) for k, v in rates.items()},
        **result,
    }


def run(cfg: Config) -> Result:
    d, a = cfg.n(500, 10_000, 100_000), cfg.n(5_000, 100_000, 1_000_000)
    lookups = cfg.n(50, 200, 1000)
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plugin-db-bench-tracking-") as folder:
        metrics["sqlite"] = scenario(
            f"sqlite:///{Path(folder) / 'tracking.db'}", "sqlite", d, a, lookups
        )
    if cfg.pg_tracking:
        with pg_database("bench_tracking") as url:
            metrics["postgresql"] = scenario(url, "postgresql", d, a, lookups)
    rows = []
    for backend, m in metrics.items():
        for query in QUERIES:
            ms = m[query]["ms"]
            rows.append(
                Row(
                    f"{backend}: {query} lookup, median / p99",
                    f"{fmt(ms['median'], digits=3)} / {fmt(ms['p99'], digits=3)} ms",
                    goal=f"median < {GOAL_MS:g} ms",
                    met=ms["median"] < GOAL_MS,
                )
            )
        for query in ("ops", "audit"):
            hot = m["hot"][query]["ms"]
            rows.append(
                Row(
                    f"{backend}: {query}, busiest plugin ({m['hot'][query]['rows']['max']:g} rows)",
                    f"{fmt(hot['median'], digits=3)} / {fmt(hot['p99'], digits=3)} ms",
                    goal=f"median < {GOAL_MS:g} ms",
                    met=hot["median"] < GOAL_MS,
                )
            )
        rate = m["insert_rows_per_s"]["audit_events"]
        rows.append(Row(f"{backend}: bulk insert audit events", f"{rate:,} rows/s"))
    notes = [
        f"{d:,} datasources, {d * 5 // 2:,} operations, {a:,} audit events; "
        f"{lookups} lookups per query, skewed towards busy plugins"
    ]
    return Result(
        NAME,
        {
            "datasources": d,
            "audit_events": a,
            "operations": d * 5 // 2,
            "lookups": lookups,
            "backends": list(metrics),
        },
        metrics,
        rows,
        notes,
    )
