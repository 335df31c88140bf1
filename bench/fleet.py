"""5. Fleet migrate: ``plugin-db migrate --all --wait`` over N provisioned SQLite plugins.

Two runs on the same fleet: every plugin already up to date (the fast path: one indexed read
per plugin, no connection to the plugin's database), then every plugin with 5 new migration
files (a table and an index each). Wall time is the operator's: the real CLI process, from
start to exit, enqueueing at most ``--parallel`` operations at a time to a worker with
concurrency 2. Baseline: the 0.8 s per up-to-date tenant that django-tenants users report
for ``migrate_schemas`` (an external figure, not measured here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.common import add_plugin, bench_stack, purge, send, token, wait_all, wait_ready
from bench.report import Config, Result, Row, fmt
from tests.support.stack import Stack, migration

NAME = "fleet"
PROVIDER = "sqlite"
PARALLEL = 8
DJANGO_TENANTS_S_PER_TENANT = 0.8
GOAL_UP_TO_DATE_S = 5.0


def files(tag: str, first: int, count: int) -> dict[str, str]:
    """``count`` migration files from version ``first``: a table and an index each."""
    out = {}
    for v in range(first, first + count):
        table = f"t_{tag}_{v:03d}"
        out[f"{v:03d}-{table}.sql"] = migration(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(50));\n"
            f"CREATE INDEX idx_{table} ON {table} (name);",
            f"DROP TABLE {table};",
            f"{v:03d}",
        )
    return out


def migrate_all(stack: Stack) -> tuple[float, dict[str, Any]]:
    """Run the real ``plugin-db migrate --all --wait --json``; seconds and its JSON."""
    argv = [
        sys.executable,
        "-m",
        "worker.cli",
        "migrate",
        "--all",
        "--wait",
        "--json",
        "--parallel",
        str(PARALLEL),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"migrate --all exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def run(cfg: Config) -> Result:
    n = cfg.n(5, 100, 1000)
    made: list[tuple[str, str]] = []
    tag = token()
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            wait_ready(stack)
            ids = [f"fl-{tag}-{i:04d}" for i in range(n)]
            for plugin_id in ids:
                add_plugin(stack, plugin_id, PROVIDER, files(plugin_id.replace("-", "_"), 1, 1))
                made.append((PROVIDER, plugin_id))
            wait_all(stack, [send(stack, "plugin_db.provision", p) for p in ids], timeout=1800)
            wait_all(stack, [send(stack, "plugin_db.migrate", p) for p in ids], timeout=1800)
            fresh_s, fresh = migrate_all(stack)
            for plugin_id in ids:
                for name, text in files(plugin_id.replace("-", "_"), 2, 5).items():
                    (stack.plugins_root / plugin_id / "migrations" / name).write_text(text)
            pending_s, pending = migrate_all(stack)
        finally:
            errors = purge(stack, made)
    metrics = {
        "plugins": n,
        "parallel": PARALLEL,
        "up_to_date_s": fresh_s,
        "pending_s": pending_s,
        "cleanup_errors": errors,
        "up_to_date_result": _states(fresh),
        "pending_result": _states(pending),
    }
    baseline_s = n * DJANGO_TENANTS_S_PER_TENANT
    rows = [
        Row(
            f"{n} plugins up to date: wall / plugins per s",
            f"{fmt(fresh_s, ' s')} / {n / fresh_s:.0f}",
            fmt(baseline_s, " s"),
            f"{baseline_s / fresh_s:.0f}x faster",
            f"< {GOAL_UP_TO_DATE_S:g} s",
            fresh_s < GOAL_UP_TO_DATE_S,
        ),
        Row(
            f"{n} plugins x 5 pending files: wall / plugins per s",
            f"{fmt(pending_s, ' s')} / {n / pending_s:.1f}",
        ),
    ]
    notes = [
        "the real `plugin-db migrate --all --wait` process; baseline 0.8 s per "
        "up-to-date tenant as reported by django-tenants users (not measured here)"
    ]
    return Result(NAME, {"plugins": n, "parallel": PARALLEL}, metrics, rows, notes)


def _states(result: Any) -> dict[str, int]:
    items = result.get("plugins", result) if isinstance(result, dict) else result
    counts: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        state = item.get("state", "?") if isinstance(item, dict) else "?"
        counts[state] = counts.get(state, 0) + 1
    return counts
