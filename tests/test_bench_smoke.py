"""Every benchmark harness runs end to end at tiny sizes and writes its JSON (no timing checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import service_url

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    "provision": {
        f"{p}_c{c}": ["worker_seconds", "baseline_seconds", "ratio_worker_to_baseline_time"]
        for p in ("sqlite", "postgresql", "mysql")
        for c in (1, 2)
    },
    "overhead": {
        p: ["overhead_steps_ms", "overhead_e2e_ms", "direct_provision_ms"]
        for p in ("sqlite", "postgresql", "mysql")
    },
    "latency": {"": ["ready_ms", "finished_ms", "direct_provision_ms", "cold"]},
    "migrations": {
        e: [
            "worker_median_seconds",
            "worker_seen_median_seconds",
            "direct_sql_median_seconds",
            "direct_median_seconds",
            "alembic_median_seconds",
            "ratio_worker_to_direct_sql",
            "ratio_worker_to_direct",
            "ratio_worker_to_alembic",
        ]
        for e in ("postgresql", "mysql", "sqlite")
    },
    "tracking": {
        b: ["status", "ops", "audit", "hot", "plans", "insert_rows_per_s"]
        for b in ("sqlite", "postgresql")
    },
    "memory": {"": ["idle", "samples", "max_process_rss_mb", "rss_growth_mb"]},
    "scaleout": {"": ["runs", "delay_ms"]},
    "cli": {"": ["repeats", "median_s", "samples_s"]},
    "api": {"": ["api_ms", "bare_ms", "api_per_s", "celery_per_s"]},
    "placement": {"": ["place_ms", "choose_ms", "max_deviation_plugins"]},
    "relocation": {
        "": ["pg_native_s", "pg_freeze_s", "pg_engine_s", "pg_tools_s", "sqlite_engine_s"]
    },
    "fleet": {
        "": [
            "plugins",
            "up_to_date_s",
            "per_tenant_check_s",
            "alembic_current_loop_s",
            "pending_s",
            "up_to_date_counts",
            "pending_counts",
        ]
    },
}


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.mysql
def run_bench(argv: list[str], timeout: float) -> tuple[int, str, str]:
    """Run the bench; on timeout SIGTERM it first, so it stops its workers and purges."""
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, "BENCH_SMOKE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    return proc.returncode, out, err


@pytest.mark.timeout(540)
def test_bench_all_smoke_writes_every_result(tmp_path: Path) -> None:
    """Given the test servers, `python -m bench all --smoke` exits 0 and writes each result file."""
    for name in ("REDIS_URL", "PG_ADMIN_URL", "MYSQL_ADMIN_URL"):
        service_url(name)  # fails with a hint when the servers are not started
    # Redis database 0: the other tests cycle through 2..15 and a manual `python -m bench` uses 1
    redis_db = os.environ.get("BENCH_SMOKE_REDIS_DB", "0")
    argv = [
        sys.executable,
        "-m",
        "bench",
        "all",
        "--smoke",
        "--out",
        str(tmp_path),
        "--redis-db",
        redis_db,
    ]
    code, stdout, stderr = run_bench(argv, timeout=480)
    assert code == 0, stdout[-3000:] + stderr[-3000:]
    for name, sections in EXPECTED.items():
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data["name"] == name and data["mode"] == "smoke"
        assert {"params", "metrics", "rows", "machine", "duration_s"} <= data.keys()
        assert data["rows"] and all(
            {"metric", "value", "goal", "met"} <= r.keys() for r in data["rows"]
        )
        metrics = data["metrics"]
        for section, keys in sections.items():
            values = metrics[section] if section else metrics
            missing = [k for k in keys if k not in values]
            assert not missing, f"{name}.{section}: missing {missing}"
        assert metrics.get("cleanup_errors", []) == []
    assert "plugin-db benchmarks" in stdout  # the table
