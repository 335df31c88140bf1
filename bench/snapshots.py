"""10. Snapshot and restore throughput (MB/s) against each engine's own tool in the same run.

Per engine a plugin is provisioned through its driver and filled (random text rows), then:

* snapshot: ``Snapshots.take`` (driver dump -> zstd -> AES-GCM frames -> store, SHA-256)
  against ``pg_dump -Fc -Z0 --schema=S | zstd -3``, ``mariadb-dump --single-transaction DB |
  zstd -3`` and SQLite's backup API to a file;
* restore: loading the snapshot into the driver's side object (checksum and tags checked,
  decrypted, decompressed) against ``zstd -dc FILE | pg_restore -d SCRATCH``,
  ``zstd -dc FILE | mariadb SCRATCH`` and the backup API from the file.

MB/s are over the plugin's measured size, from the best of several interleaved rounds (tool,
then ours) so that load from other processes weighs on both alike. The work is checked: the
snapshot's recorded row counts and the restored side object's equal the rows inserted, and the
baselines' outputs are not empty. Goal: at least 0.8x the bare tool.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import BenchError, service
from bench.report import Config, Result, Row
from providers.base import PluginSpec, Provider
from providers.registry import get_provider_class
from worker.settings import Settings
from worker.snapshots.service import Snapshots, Target
from worker.tracking import db

NAME = "snapshots"
GOAL = 0.8
MIB = 1024 * 1024


def _settings(work: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{work / 'tracking.db'}",
        data_dir=work / "data",
        plugins_root=work / "plugins",
        postgres_admin_url=service("PG_ADMIN_URL"),
        mysql_admin_url=service("MYSQL_ADMIN_URL"),
        secret_keys=(__import__("cryptography.fernet").fernet.Fernet.generate_key().decode(),),
        snapshot_dir=work / "snapshots",
    )


def _fill(provider: Provider, spec: PluginSpec, password: str | None, rows: int) -> None:
    from providers.base import Login

    login = Login(provider.describe(spec).username or "", password or "") if password else None
    with closing(provider.connect(spec, login)) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE bench_rows (id INT PRIMARY KEY, body TEXT)")
        batch = 500
        mark = "?" if provider.paramstyle == "qmark" else "%s"
        for start in range(0, rows, batch):
            values = [(i, os.urandom(384).hex()) for i in range(start, min(rows, start + batch))]
            cur.executemany(f"INSERT INTO bench_rows VALUES ({mark}, {mark})", values)


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def _shell(command: str, env: dict[str, str]) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, env={**os.environ, **env})


def _sqlite_tool(provider: Provider, spec: PluginSpec, out: Path) -> tuple[float, float]:
    copy, again = Path(f"{out}.db"), Path(f"{out}.r.db")
    path = provider.path(spec)  # type: ignore[attr-defined]

    def backup(source: Path, target: Path) -> None:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)

    return _timed(lambda: backup(path, copy))[0], _timed(lambda: backup(copy, again))[0]


def _pg_tool(provider: Provider, spec: PluginSpec, out: Path) -> tuple[float, float]:
    env = provider._tool_env()  # type: ignore[attr-defined]
    schema = provider.describe(spec).objects["schema"]
    scratch = f"bench_restore_{uuid.uuid4().hex[:8]}"
    dump = f"pg_dump -Fc -Z0 --schema='{schema}' | zstd -q -3 > {out}.zst"
    load = f"zstd -q -dc {out}.zst | pg_restore -d {scratch}"
    with provider._admin() as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        return _timed(lambda: _shell(dump, env))[0], _timed(lambda: _shell(load, env))[0]
    finally:
        with provider._admin() as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def _mysql_tool(provider: Provider, spec: PluginSpec, out: Path) -> tuple[float, float]:
    from providers import tools

    database = provider.database(spec)  # type: ignore[attr-defined]
    scratch = f"bench_restore_{uuid.uuid4().hex[:8]}"
    options = provider._client_options()  # type: ignore[attr-defined]
    with tools.options_file("client", options) as path:
        base = f"--defaults-extra-file={path}"
        flags = "--single-transaction --skip-lock-tables"
        dump = f"mariadb-dump {base} {flags} {database} | zstd -q -3 > {out}.zst"
        load = f"zstd -q -dc {out}.zst | mariadb {base} {scratch}"
        dump_s = _timed(lambda: _shell(dump, {}))[0]
        _shell(f"mariadb {base} -e 'CREATE DATABASE {scratch}'", {})
        try:
            return dump_s, _timed(lambda: _shell(load, {}))[0]
        finally:
            _shell(f"mariadb {base} -e 'DROP DATABASE IF EXISTS {scratch}'", {})


TOOLS = {"sqlite": _sqlite_tool, "postgresql": _pg_tool, "mysql": _mysql_tool}


def _engine(name: str, settings: Settings, work: Path, rows: int, rounds: int) -> dict[str, Any]:
    provider = get_provider_class(name).from_settings(settings)
    spec = PluginSpec(plugin_id=f"bench-snap-{uuid.uuid4().hex[:6]}")
    password = "bench-" + uuid.uuid4().hex if provider.issues_credentials else None
    provider.provision(spec, password)
    try:
        _fill(provider, spec, password, rows)
        size = provider.size_bytes(spec)
        snaps = Snapshots(settings, db.make_sessionmaker(db.make_engine(settings.database_url)))
        best = [float("inf")] * 4  # tool dump, tool load, our dump, our load: best of rounds
        for _ in range(rounds):  # interleaved, so load from elsewhere hits both sides alike
            tool = TOOLS[name](provider, spec, work / f"baseline-{name}")
            ours_dump, row = _timed(
                lambda: snaps.take(Target(spec.plugin_id, provider, spec), "manual")
            )
            if row.row_counts.get("bench_rows") != rows:
                raise BenchError(f"{name}: the snapshot counted {row.row_counts}, not {rows} rows")
            ours_load = _timed(partial(provider.load_side, spec, snaps.read(row)))[0]
            restored = provider.side_row_counts(spec) or {}
            provider.drop_side(spec)
            if restored.get("bench_rows") != rows:
                raise BenchError(f"{name}: the restore holds {restored}, expected {rows} rows")
            best = [min(a, b) for a, b in zip(best, (*tool, ours_dump, ours_load), strict=True)]
        base_dump, base_load, ours_dump, ours_load = best
    finally:
        provider.discard_restore_objects(spec)
        provider.purge(spec)
    mb = size / MIB
    return {
        "size_mb": round(mb, 2),
        "snapshot_mb_s": mb / ours_dump,
        "tool_snapshot_mb_s": mb / base_dump,
        "restore_mb_s": mb / ours_load,
        "tool_restore_mb_s": mb / base_load,
        "stored_bytes": row.size_bytes,
    }


def run(cfg: Config) -> Result:
    rows = cfg.n(smoke=500, quick=20_000, full=100_000)
    rounds = cfg.n(smoke=1, quick=3, full=5)
    metrics: dict[str, Any] = {}
    table: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-snap-") as folder:
        work = Path(folder)
        settings = _settings(work)
        db.upgrade(settings.database_url)
        for name in ("sqlite", "postgresql", "mysql"):
            found = metrics[name] = _engine(name, settings, work, rows, rounds)
            for what in ("snapshot", "restore"):
                ours, tool = found[f"{what}_mb_s"], found[f"tool_{what}_mb_s"]
                ratio = ours / tool
                table.append(
                    Row(
                        metric=f"{name} {what} MB/s ({found['size_mb']} MB)",
                        value=f"{ours:.1f}",
                        baseline=f"{tool:.1f}",
                        ratio=f"{ratio:.2f}x",
                        goal=f">= {GOAL}x",
                        met=ratio >= GOAL,
                    )
                )
    return Result(NAME, {"rows": rows, "rounds": rounds}, metrics, table)
