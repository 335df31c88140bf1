"""Placement decision time at 10,000 plugins over 50 targets (goal: under 5 ms at the median).

A fresh PostgreSQL tracking database gets 50 PostgreSQL targets of varied capacity and
10,000 plugins already placed (reservations and usage sums, as placement leaves them). Each
measured decision is one real :func:`worker.placement.place` of a new plugin: read and lock
the candidates' usage, choose the most headroom, the conditional UPDATE and the reservation,
committed. The pure choice (no database) is measured too. Outcome check: every target stays
within capacity and the spread follows capacity (largest deviation from the ideal share).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import insert, select

from bench.common import BenchError, service
from bench.report import Config, Result, Row, fmt, summary
from providers.targets import Target
from worker.placement import Need, choose, place, usage_of
from worker.tracking import db
from worker.tracking.models import TargetReservation, TargetUsage

NAME = "placement"
GOAL_MS = 5.0
TARGETS = 50


def _targets() -> list[Target]:
    return [
        Target(f"pg-{i:02d}", "postgresql", capacity={"plugins": 300 + 20 * (i % 10)})
        for i in range(TARGETS)
    ]


def _seed(url: str, pool: list[Target], plugins: int) -> None:
    """``plugins`` placed in proportion to capacity (as placement itself would leave them)."""
    total = sum(t.capacity["plugins"] for t in pool)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        rows, usage = [], []
        left = plugins
        for i, target in enumerate(pool):
            share = round(plugins * target.capacity["plugins"] / total)
            share = left if i == len(pool) - 1 else min(share, left)
            left -= share
            usage.append(
                {"target": target.name, "plugins": share, "storage_mb": 0, "connections": 0}
            )
            rows += [
                {
                    "plugin_id": f"seed-{target.name}-{n}",
                    "target": target.name,
                    "storage_mb": 0,
                    "connections": 0,
                }
                for n in range(share)
            ]
        conn.execute(insert(TargetUsage), usage)
        conn.execute(insert(TargetReservation), rows)
    engine.dispose()


def run(cfg: Config) -> Result:
    plugins = cfg.n(500, 10_000, 10_000)
    decisions = cfg.n(20, 300, 1000)
    pool = _targets()
    admin = service("PG_URL")
    name = f"bench_place_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = service("PG_TRACKING_URL").rsplit("/", 1)[0] + f"/{name}"
        db.upgrade(url)
        _seed(url, pool, plugins)
        sessions = db.make_sessionmaker(db.make_engine(url))
        with sessions() as session:
            usage = usage_of(session, [t.name for t in pool])
        pure = []
        for _ in range(decisions):
            started = time.perf_counter()
            choose(pool, usage, Need())
            pure.append((time.perf_counter() - started) * 1000)
        placed = []
        for n in range(decisions):
            started = time.perf_counter()
            place(sessions, pool, f"new-{n}", Need())
            placed.append((time.perf_counter() - started) * 1000)
        with sessions() as session:
            final = usage_of(session, [t.name for t in pool])
            count = len(session.scalars(select(TargetReservation.plugin_id)).all())
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    over = [t.name for t in pool if final[t.name]["plugins"] > t.capacity["plugins"]]
    total = sum(t.capacity["plugins"] for t in pool)
    deviation = max(
        abs(final[t.name]["plugins"] - count * t.capacity["plugins"] / total) for t in pool
    )
    if over or count != plugins + decisions:
        raise BenchError(f"placement outcome wrong: over capacity {over}, {count} reservations")
    s_place, s_pure = summary(placed), summary(pure)
    met = s_place["median"] < GOAL_MS
    return Result(
        NAME,
        {"plugins": plugins, "targets": TARGETS, "decisions": decisions},
        {"place_ms": s_place, "choose_ms": s_pure, "max_deviation_plugins": deviation},
        [
            Row(
                f"placement decision with reservation ({plugins:,} plugins, {TARGETS} targets), "
                "median / p99",
                f"{fmt(s_place['median'], ' ms')} / {fmt(s_place['p99'], ' ms')}",
                goal=f"< {GOAL_MS:g} ms",
                met=met,
            ),
            Row(
                "pure choice among the targets (no database), median",
                fmt(s_pure["median"] * 1000, " µs"),
            ),
            Row(
                "largest deviation from the capacity-proportional split", fmt(deviation, " plugins")
            ),
        ],
        [f"outcome checked: no target over capacity, {count:,} reservations"],
    )


if __name__ == "__main__":
    print(run(Config(mode="quick", out_dir=Path("/tmp"))))
