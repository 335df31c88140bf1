"""4. Migration apply on PostgreSQL, MariaDB and SQLite: the worker against direct DB-API
calls and against Alembic, in the same run.

K migration files, each ``CREATE TABLE`` + ``CREATE INDEX``, are applied on each engine:

* worker, files never seen: a plugin is provisioned without files (untimed); the K files are
  written into its folder, then ``plugin_db.migrate`` is enqueued; the time runs from just
  before the enqueue to the operation's ``finished_at`` (request validation, the one parse of
  each file by the ownership guard and the linter, plugin ledger, ``plugin_migrations`` /
  ``migration_attempts`` / audit rows included);
* worker, files seen before: the same, after a dry-run migrate of the same files (untimed)
  stored their analyses: what a release checked in staging (or re-applied) costs;
* direct SQL (the goal's baseline, as in every earlier round): one DB-API connection (connect
  timed), per file its statements one by one, in one transaction per file where DDL is
  transactional (PostgreSQL, SQLite);
* direct + ledger: the same, with a ledger table created if missing and one INSERT of each
  file's ledger row (version, checksum, time) in its transaction: the least a runner that
  remembers what it applied does;
* alembic: K revision files with ``op.execute(sql)`` per statement, ``alembic upgrade head``
  with ``transaction_per_migration=True`` (script loading timed).

Each way runs ``repeats`` times on fresh places with table names of their own (so no file is
ever seen twice by accident), interleaved; the medians are compared. Every run is checked:
K tables exist; Alembic's revision table is at the last revision; the worker's ledger has K
complete entries and ``plugin_migrations`` K ``completed`` rows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import func, select

from bench.common import BenchError, add_plugin, bench_stack, purge, send, token, wait_all, warm_up
from bench.migration_ways import (
    COUNT_TABLES,
    ENGINES,
    alembic,
    direct,
    direct_sql,
    place,
    statements,
)
from bench.report import Config, Result, Row, epoch, fmt, ratio
from tests.support.plugin_access import login_for, provider_for, query
from tests.support.stack import Stack, migration
from worker.tracking.models import PluginMigration

NAME = "migrations"
WAYS = ("direct_sql", "direct", "alembic", "worker", "worker_seen")
BASELINES = {"direct_sql": direct_sql, "direct": direct, "alembic": alembic}
LABELS = {"direct_sql": "direct SQL", "direct": "direct + ledger", "alembic": "alembic"}
GOALS = {"direct_sql": ("<= 1.2x", 1.2), "alembic": ("< 1.0x", 1.0)}
"""Goal of each baseline (direct + ledger is shown for reference)."""


def files(k: int, engine: str = "postgresql", tag: str = "x") -> dict[str, str]:
    """Migration files in the seeds/002 format."""
    return {
        f"{i:04d}-table-{i}.sql": migration(
            ";\n".join(statements(engine, tag, i)) + ";",
            f"DROP TABLE bench_{tag}_t{i:04d};",
            f"{i:04d}",
            f"table {i}",
        )
        for i in range(1, k + 1)
    }


def through_worker(stack: Stack, engine: str, plugin_id: str, k: int, seen: bool) -> float:
    """Provision (untimed), then time a migrate of K files from enqueue to finished_at."""
    add_plugin(stack, plugin_id, engine)
    wait_all(stack, [send(stack, "plugin_db.provision", plugin_id)], timeout=60)
    add_plugin(stack, plugin_id, engine, files(k, engine, plugin_id.replace("-", "_")))
    if seen:  # a dry run parses the files and stores their analyses
        wait_all(stack, [send(stack, "plugin_db.migrate", plugin_id, dry_run=True)], timeout=600)
    sent = time.time()
    (op,) = wait_all(stack, [send(stack, "plugin_db.migrate", plugin_id)], timeout=600)
    assert op.finished_at is not None
    check_worker(stack, plugin_id, k)
    return epoch(op.finished_at) - sent


def check_worker(stack: Stack, plugin_id: str, k: int) -> None:
    """Fail loudly unless K tables, K complete ledger entries and K completed rows exist."""
    provider, spec = provider_for(stack, plugin_id)
    login = login_for(stack, provider, spec, plugin_id)
    history = provider.history_table_name(spec)
    engine = {"postgres": "postgresql"}.get(provider.dialect, provider.dialect)
    ((tables,),) = query(provider, spec, login, COUNT_TABLES[engine])
    ((ledger,),) = query(
        provider, spec, login, f"SELECT count(*) FROM {history} WHERE complete = 1"
    )
    with stack.engine.connect() as conn:
        rows = conn.scalar(
            select(func.count()).where(
                PluginMigration.plugin_id == plugin_id, PluginMigration.status == "completed"
            )
        )
    if (tables, ledger, rows) != (k, k, k):
        raise BenchError(
            f"worker on {engine}: {tables} tables, {ledger} ledger entries, {rows} completed "
            f"rows; expected {k} each"
        )


def measure(stack: Stack, engine: str, k: int, repeats: int, made: list[Any]) -> dict[str, Any]:
    """Every way ``repeats`` times on ``engine``, interleaved; raw seconds per way."""
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for r in range(repeats):
        for way in WAYS:
            tag = token()
            if way.startswith("worker"):
                plugin_id = f"mg-{tag}-{r}"
                made.append((engine, plugin_id))
                seconds = through_worker(stack, engine, plugin_id, k, way == "worker_seen")
            else:
                with place(engine, f"bench_{way}_{tag}") as where:
                    seconds = BASELINES[way](where, tag, k)
            times[way].append(seconds)
    med = {way: statistics.median(values) for way, values in times.items()}
    return {
        **{f"{way}_seconds": [round(v, 4) for v in values] for way, values in times.items()},
        **{f"{way}_median_seconds": round(v, 4) for way, v in med.items()},
        **{
            f"ratio_{way}_to_{base}": round(ratio(med[way], med[base]), 3)
            for way in ("worker", "worker_seen")
            for base in BASELINES
        },
        "ms_per_file": {way: round(v * 1000 / k, 3) for way, v in med.items()},
    }


def rows_of(engine: str, k: int, m: dict[str, Any]) -> list[Row]:
    """The table rows of one engine."""
    med = {way: m[f"{way}_median_seconds"] for way in WAYS}
    per_file = m["ms_per_file"]
    out = []
    for way, label in (("worker", "files never seen"), ("worker_seen", "files seen before")):
        for base in BASELINES:
            r = m[f"ratio_{way}_to_{base}"]
            goal, limit = GOALS.get(base, ("", None))
            met = None if limit is None else r <= limit if base == "direct_sql" else r < limit
            out.append(
                Row(
                    f"{engine}: worker ({label}) vs {LABELS[base]} ({k} files)",
                    fmt(med[way], " s", 3),
                    fmt(med[base], " s", 3),
                    f"{r:.2f}x",
                    goal,
                    met,
                )
            )
    shown = " / ".join(f"{per_file[w]:.2f}" for w in ("worker", "worker_seen", *BASELINES))
    out.append(
        Row(f"{engine}: ms per file: worker / seen / direct SQL / direct + ledger / alembic", shown)
    )
    return out


def run(cfg: Config) -> Result:
    k, repeats = cfg.n(3, 20, 100), cfg.n(1, 1, 3)
    made: list[tuple[str, str]] = []
    metrics: dict[str, Any] = {"files": k, "repeats": repeats}
    rows: list[Row] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            made.extend(warm_up(stack, ENGINES))
            for engine in ENGINES:
                metrics[engine] = measure(stack, engine, k, repeats, made)
                rows += rows_of(engine, k, metrics[engine])
        finally:
            metrics["cleanup_errors"] = purge(stack, made)
    notes = [
        "worker time = enqueue -> finished_at of plugin_db.migrate (validation, guard, ledger "
        "and tracking writes included); 'seen': after an untimed dry run of the same files"
    ]
    return Result(NAME, {"files": k, "repeats": repeats, "engines": ENGINES}, metrics, rows, notes)
