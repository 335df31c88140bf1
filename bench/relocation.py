"""Relocation throughput (MB/s, rows/s) against the engines' own tools, in the same run.

* postgres → postgres: what relocation's ``copy_data`` step runs between two PostgreSQL
  targets (the driver's ``copy_native``: the destination schema emptied, ``pg_dump -Fc
  --schema | pg_restore`` as the plugin's owner role, rows counted) for a provisioned
  plugin, against a bare ``pg_dump -Fc -n S | pg_restore`` piped between the same servers
  (medians of three runs each). Goal: at least 0.8x. The write freeze a relocation would
  hold is measured around it: the source's logins made read-only, the copy, the checksum
  verification (the switch that ends it is one tracking commit). The verification is timed
  both ways on that copy: each server digesting its own rows (what relocation does) against
  every row read and hashed in this process (its baseline); both must find the copy equal.
  The generic row copy between the same servers is shown too.
* sqlite → postgres: the copy engine from a SQLite file, against a bare ``COPY`` of the same
  rows (read with sqlite3, written with psycopg's ``COPY FROM STDIN`` into the same tables).
  Goal: at least 0.7x.

The data: three tables with foreign keys, a JSON column, NULLs and non-ASCII text. MB is the
destination's relation size after the load. Each copy is verified (the engine's checksums of
both sides must match; the tools' row counts must match).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.common import BenchError, service
from bench.report import Config, Result, Row, fmt, ratio, speed
from providers.base import PluginSpec
from providers.targets import Target, Targets
from worker.relocation.copy import copy_tables, verify
from worker.relocation.schema import Side
from worker.settings import Settings

NAME = "relocation"
REPEATS = 3
"""Runs of the native copy and of its baseline; each side's median is compared."""
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _tables(meta: sa.MetaData) -> list[sa.Table]:
    users = sa.Table(
        "users",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("profile", sa.JSON),
    )
    posts = sa.Table(
        "posts",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text),
    )
    comments = sa.Table(
        "comments",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("meta", sa.JSON),
    )
    return [users, posts, comments]


def _rows(n: int) -> list[list[dict[str, Any]]]:
    users = [
        {
            "id": i,
            "name": f"Zoë {i}",
            "active": i % 2 == 0,
            "profile": None if i % 4 == 0 else {"lang": "fr", "tags": ["ä", i]},
        }
        for i in range(1, n // 10 + 1)
    ]
    posts = [
        {
            "id": i,
            "user_id": 1 + i % len(users),
            "title": f"Titre n°{i} — ü",
            "body": None if i % 3 == 0 else "x" * (i % 200),
        }
        for i in range(1, 3 * n // 10 + 1)
    ]
    comments = [
        {
            "id": i,
            "post_id": 1 + i % len(posts),
            "text": f"комментарий {i}",
            "meta": None if i % 2 else [i, "🙂", None],
        }
        for i in range(1, 6 * n // 10 + 1)
    ]
    return [users, posts, comments]


def _fill(engine: sa.Engine, schema: str | None, n: int) -> None:
    meta = sa.MetaData(schema=schema)
    tables = _tables(meta)
    with engine.begin() as conn:
        meta.create_all(conn)
        for table, rows in zip(tables, _rows(n), strict=True):
            conn.execute(table.insert(), rows)


def _schema(url: str, name: str, create: bool = True) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        if create:
            conn.execute(f'CREATE SCHEMA "{name}"')


def _size_mb(url: str, schema: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            [schema],
        ).fetchone()
    return float(row[0] if row else 0) / 1e6


def _engine_copy(src: Side, dst: Side, drivers: Any) -> tuple[float, int]:
    started = time.perf_counter()
    report = copy_tables(src, dst, drivers, {})
    seconds = time.perf_counter() - started
    if not verify(src, dst, drivers, {}).equal:
        raise BenchError("relocation copy differs from its source")
    return seconds, sum(report.rows.values())


def _native(
    targets: Targets, a: str, spec: PluginSpec, n: int
) -> tuple[list[float], float, int, str, dict[bool, float]]:
    """(copy seconds of each of :data:`REPEATS` runs, freeze seconds, rows, schema, verify
    seconds with and without the servers' digests) of a plugin moved server A → B by the
    drivers' native copy (each run starts over, as a resumed step does), checksums verified
    both ways; the plugin's schema is left on B."""
    pa, pb = targets.provider("a"), targets.provider("b")
    password = uuid.uuid4().hex
    for driver in (pa, pb):
        driver.provision(spec, password)
    schema = str(pa.reflection_schema(spec))
    ea = sa.create_engine(a.replace("postgresql://", "postgresql+psycopg://"))
    eb = pb.admin_engine()
    try:
        _fill(ea, schema, n)
        started = time.perf_counter()
        pa.set_read_only(spec, True)
        freeze = time.perf_counter() - started
        runs, rows = [], None
        for _ in range(REPEATS):
            started = time.perf_counter()
            rows = pb.copy_native(spec, pa)
            runs.append(time.perf_counter() - started)
        ends = (Side(ea, schema), Side(eb, schema))
        checks = {digests: _verify_s(*ends, (pa, pb), digests) for digests in (True, False)}
        if rows is None:
            raise BenchError("the native copy reported no rows")
        freeze += runs[0] + checks[True]  # read-only, one copy, verify
    finally:
        ea.dispose()
        eb.dispose()
        pa.purge(spec)
    return runs, freeze, sum(rows.values()), schema, checks


def _verify_s(src: Side, dst: Side, drivers: Any, digests: bool) -> float:
    """Seconds of the verify step over a finished copy (``digests``: the servers digest
    their rows; else every row is hashed here), which must find it equal."""
    started = time.perf_counter()
    if not verify(src, dst, drivers, {}, digests=digests).equal:
        raise BenchError("the native copy differs from its source")
    return time.perf_counter() - started


def _pg_tools(a: str, b: str, schema: str, n_rows: int) -> float:
    started = time.perf_counter()
    dump = subprocess.Popen(
        [str(PG_BIN / "pg_dump"), "-Fc", "-Z0", "-n", schema, "-d", a], stdout=subprocess.PIPE
    )
    restore = subprocess.run(
        [str(PG_BIN / "pg_restore"), "--no-owner", "-d", b], stdin=dump.stdout, check=True
    )
    if dump.wait() != 0 or restore.returncode != 0:
        raise BenchError("pg_dump | pg_restore failed")
    seconds = time.perf_counter() - started
    with psycopg.connect(b) as conn:
        got = sum(
            conn.execute(f'SELECT count(*) FROM "{schema}"."{t}"').fetchone()[0]  # type: ignore[index]
            for t in ("users", "posts", "comments")
        )
    if got != n_rows:
        raise BenchError(f"pg_restore left {got} rows, not {n_rows}")
    return seconds


def _bare_copy(path: Path, b: str, schema: str) -> float:
    started = time.perf_counter()
    src = sqlite3.connect(path)
    with psycopg.connect(b) as conn, conn.cursor() as cur:
        for table, json_cols in (("users", {3}), ("posts", set()), ("comments", {3})):
            with cur.copy(f'COPY "{schema}"."{table}" FROM STDIN') as copy:
                for row in src.execute(f"SELECT * FROM {table} ORDER BY id"):
                    copy.write_row(
                        [
                            json.dumps(json.loads(v)) if i in json_cols and v else v
                            for i, v in enumerate(row)
                        ]
                    )
    src.close()
    return time.perf_counter() - started


def run(cfg: Config) -> Result:
    n = cfg.n(2_000, 100_000, 500_000)
    a, b = service("PG_ADMIN_URL"), service("PG_B_ADMIN_URL")
    settings = Settings.from_env({})
    targets = Targets(
        {
            "a": Target("a", "postgresql", a),
            "b": Target("b", "postgresql", b),
            "f": Target("f", "sqlite", tempfile.gettempdir()),
        },
        settings,
    )
    pg, lite = targets.provider("a"), targets.provider("f")
    tag = f"bench_reloc_{uuid.uuid4().hex[:6]}"
    spec = PluginSpec(plugin_id=f"benchreloc-{uuid.uuid4().hex[:6]}")
    ea, eb = (
        sa.create_engine(a.replace("postgresql://", "postgresql+psycopg://")),
        sa.create_engine(b.replace("postgresql://", "postgresql+psycopg://")),
    )
    work = Path(tempfile.mkdtemp())
    try:
        native_runs, freeze_s, rows, plugin_schema, checks = _native(targets, a, spec, n)
        native_s = statistics.median(native_runs)
        mb = _size_mb(b, plugin_schema)
        targets.provider("b").purge(spec)
        _schema(a, tag)
        _fill(ea, tag, n)
        _schema(b, tag)
        eng_s, _ = _engine_copy(Side(ea, tag), Side(eb, tag), (pg, pg))
        tool_runs = []
        for _ in range(REPEATS):
            _schema(b, tag, create=False)
            tool_runs.append(_pg_tools(a, b, tag, rows))
        tool_s = statistics.median(tool_runs)
        lite_path = work / "src.db"
        le = sa.create_engine(f"sqlite:///{lite_path}")
        _fill(le, None, n)
        _schema(b, tag)
        lite_s, _ = _engine_copy(Side(le, None), Side(eb, tag), (lite, pg))
        with eb.begin() as conn:
            for t in ("comments", "posts", "users"):
                conn.execute(sa.text(f'TRUNCATE "{tag}"."{t}" CASCADE'))
        bare_s = _bare_copy(lite_path, b, tag)
    finally:
        for name in ("a", "b"):
            targets.provider(name).purge(spec)
        for url in (a, b):
            _schema(url, tag, create=False)
        ea.dispose()
        eb.dispose()
    pp, pt, pe = ratio(tool_s, native_s), ratio(bare_s, lite_s), ratio(tool_s, eng_s)
    return Result(
        NAME,
        {"rows": rows, "mb": round(mb, 1)},
        {
            "pg_native_s": native_s,
            "pg_native_runs_s": native_runs,
            "pg_tools_runs_s": tool_runs,
            "pg_freeze_s": freeze_s,
            "pg_verify_digests_s": checks[True],
            "pg_verify_rows_s": checks[False],
            "pg_engine_s": eng_s,
            "pg_tools_s": tool_s,
            "sqlite_engine_s": lite_s,
            "bare_copy_s": bare_s,
        },
        [
            Row(
                "postgres → postgres: relocation (native)",
                f"{fmt(mb / native_s, ' MB/s')}, {fmt(rows / native_s, ' rows/s', 0)}",
                f"pg_dump | pg_restore {fmt(mb / tool_s, ' MB/s')}",
                f"{pp:.2f}x",
                "≥ 0.8x",
                pp >= 0.8,
            ),
            Row(
                "postgres → postgres: write freeze",
                f"{fmt(freeze_s, ' s')}",
                "freeze, copy, verify",
                "",
                "",
                None,
            ),
            Row(
                "postgres → postgres: verify, servers' digests",
                fmt(checks[True], " s"),
                f"rows hashed here {fmt(checks[False], ' s')}",
                speed(checks[False], checks[True]),
                "",
                None,
            ),
            Row(
                "postgres → postgres: row copy engine",
                f"{fmt(mb / eng_s, ' MB/s')}, {fmt(rows / eng_s, ' rows/s', 0)}",
                f"pg_dump | pg_restore {fmt(mb / tool_s, ' MB/s')}",
                f"{pe:.2f}x",
                "",
                None,
            ),
            Row(
                "sqlite → postgres: copy engine",
                f"{fmt(mb / lite_s, ' MB/s')}, {fmt(rows / lite_s, ' rows/s', 0)}",
                f"bare COPY {fmt(mb / bare_s, ' MB/s')}",
                f"{pt:.2f}x",
                "≥ 0.7x",
                pt >= 0.7,
            ),
        ],
        [
            "checksums equal on both sides of each copy (native and row engine); "
            f"pg_restore row count {rows:,} checked; the write freeze is measured from the "
            "source's read-only switch to the end of the verification"
        ],
    )


if __name__ == "__main__":
    print(run(Config(mode="quick", out_dir=Path("/tmp"))))
