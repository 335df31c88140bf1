"""4. Migration apply on PostgreSQL: the worker against psycopg directly and against Alembic.

K migration files, each ``CREATE TABLE`` + ``CREATE INDEX``, are applied to a fresh schema:

* worker: a plugin is provisioned without files (untimed); the K files are written into its
  folder, then ``plugin_db.migrate`` is enqueued; the time runs from just before the enqueue to
  the operation's ``finished_at`` (request validation with sqlglot, the ownership guard,
  plugin ledger, ``plugin_migrations`` / ``migration_attempts`` / audit rows included);
* direct: one psycopg connection (connect included), one transaction per file, the
  statements executed one by one (already split; reading files not timed);
* alembic: K revision files with ``op.execute(sql)`` per statement in a temp dir, applied by
  ``alembic.command.upgrade(config, "head")`` with ``transaction_per_migration=True``.

Each way runs ``repeats`` times on fresh schemas, interleaved; the medians are compared.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig
from psycopg import sql

from bench.common import add_plugin, bench_stack, purge, send, service, token, wait_all, warm_up
from bench.report import Config, Result, Row, epoch, fmt, ratio
from tests.support.stack import Stack, migration

NAME = "migrations"
PROVIDER = "postgresql"

ENV_PY = """
from alembic import context
from sqlalchemy import create_engine, text

config = context.config
schema = config.get_main_option("bench_schema")
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as conn:
    conn.execute(text(f'SET search_path TO "{schema}"'))
    conn.commit()
    context.configure(connection=conn, version_table_schema=schema,
                      transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

REVISION = """from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    op.execute({drop!r})
"""


def statements(i: int) -> list[str]:
    """The UP statements of migration ``i``: one table and one index."""
    table = f"bench_t{i:04d}"
    return [
        f"CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        f"CREATE INDEX {table}_name_idx ON {table} (name)",
    ]


def files(k: int) -> dict[str, str]:
    """Migration files in the seeds/002 format."""
    return {
        f"{i:04d}-table-{i}.sql": migration(
            ";\n".join(statements(i)) + ";", f"DROP TABLE bench_t{i:04d};", f"{i:04d}", f"table {i}"
        )
        for i in range(1, k + 1)
    }


def make_schema(admin: str, schema: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def drop_schemas(admin: str, schemas: list[str]) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def direct(admin: str, schema: str, k: int) -> float:
    """Seconds to apply the K files with psycopg, one transaction per file."""
    todo = [statements(i) for i in range(1, k + 1)]
    started = time.perf_counter()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for stmts in todo:
            with conn.transaction():
                for stmt in stmts:
                    conn.execute(stmt)  # generated, trusted text
    return time.perf_counter() - started


def alembic(admin: str, schema: str, k: int) -> float:
    """Seconds for ``alembic upgrade head`` over K generated revision files."""
    folder = Path(tempfile.mkdtemp(prefix="plugin-db-bench-alembic-"))
    try:
        (folder / "versions").mkdir()
        (folder / "env.py").write_text(ENV_PY)
        for i in range(1, k + 1):
            body = "\n".join(f"    op.execute({s!r})" for s in statements(i))
            rev, down = f"r{i:04d}", f"r{i - 1:04d}" if i > 1 else None
            (folder / "versions" / f"{rev}.py").write_text(
                REVISION.format(rev=rev, down=down, body=body, drop=f"DROP TABLE bench_t{i:04d}")
            )
        config = AlembicConfig()
        config.set_main_option("script_location", str(folder))
        config.set_main_option(
            "sqlalchemy.url", admin.replace("postgresql://", "postgresql+psycopg://", 1)
        )
        config.set_main_option("bench_schema", schema)
        started = time.perf_counter()
        command.upgrade(config, "head")
        return time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def through_worker(stack: Stack, plugin_id: str, k: int) -> dict[str, float]:
    """Provision (untimed), then time a migrate of K files from enqueue to finished_at."""
    add_plugin(stack, plugin_id, PROVIDER)
    wait_all(stack, [send(stack, "plugin_db.provision", plugin_id)], timeout=60)
    add_plugin(stack, plugin_id, PROVIDER, files(k))
    sent = time.time()
    (op,) = wait_all(stack, [send(stack, "plugin_db.migrate", plugin_id)], timeout=600)
    assert op.finished_at is not None
    steps = {s["name"]: float(s.get("ms", 0)) for s in op.steps}
    applied = len(
        op.steps
        and next(
            (
                s.get("detail", {}).get("applied", [])
                for s in op.steps
                if s["name"] == "apply_migrations"
            ),
            [],
        )
    )
    if applied != k:
        raise RuntimeError(f"the worker applied {applied} of {k} migrations")
    return {
        "seconds": epoch(op.finished_at) - sent,
        "op_wall_seconds": epoch(op.finished_at) - epoch(op.created_at),
        "accept_seconds": epoch(op.created_at) - sent,
        "apply_step_seconds": steps.get("apply_migrations", 0.0) / 1000,
    }


def run(cfg: Config) -> Result:
    k, repeats = cfg.n(3, 20, 100), cfg.n(1, 1, 3)
    admin = service("PG_ADMIN_URL")
    made: list[tuple[str, str]] = []
    schemas: list[str] = []
    errors: list[str] = []
    times: dict[str, list[float]] = {"direct": [], "alembic": [], "worker": []}
    worker_detail: list[dict[str, float]] = []
    with bench_stack(cfg, NAME) as stack:
        try:
            stack.start_worker(concurrency=2, beat=False)
            made.extend(warm_up(stack, [PROVIDER]))
            for r in range(repeats):
                tag = token()
                for way in ("direct", "alembic"):
                    schemas.append(f"bench_{way}_{tag}")
                    make_schema(admin, schemas[-1])
                    apply = direct if way == "direct" else alembic
                    times[way].append(apply(admin, schemas[-1], k))
                plugin_id = f"mg-{tag}-{r}"
                made.append((PROVIDER, plugin_id))
                worker_detail.append(through_worker(stack, plugin_id, k))
                times["worker"].append(worker_detail[-1]["seconds"])
        finally:
            errors = purge(stack, made)
            drop_schemas(admin, schemas)
    med = {way: statistics.median(values) for way, values in times.items()}
    vs_direct = ratio(med["worker"], med["direct"])
    vs_alembic = ratio(med["worker"], med["alembic"])
    metrics: dict[str, Any] = {
        "files": k,
        "repeats": repeats,
        **{f"{way}_seconds": [round(v, 4) for v in values] for way, values in times.items()},
        **{f"{way}_median_seconds": round(v, 4) for way, v in med.items()},
        "worker_detail": worker_detail,
        "ratio_worker_to_direct": round(vs_direct, 3),
        "ratio_worker_to_alembic": round(vs_alembic, 3),
        "ms_per_file": {way: round(v * 1000 / k, 3) for way, v in med.items()},
        "cleanup_errors": errors,
    }
    per_file = metrics["ms_per_file"]
    rows = [
        Row(
            f"worker vs direct psycopg ({k} files)",
            fmt(med["worker"], " s", 3),
            fmt(med["direct"], " s", 3),
            f"{vs_direct:.2f}x",
            "<= 1.2x",
            vs_direct <= 1.2,
        ),
        Row(
            f"worker vs Alembic ({k} files)",
            fmt(med["worker"], " s", 3),
            fmt(med["alembic"], " s", 3),
            f"{vs_alembic:.2f}x",
            "< 1.0x",
            vs_alembic < 1.0,
        ),
        Row(
            "ms per file: worker / direct / alembic",
            f"{per_file['worker']:.2f} / {per_file['direct']:.2f} / {per_file['alembic']:.2f}",
        ),
    ]
    notes = [
        "worker time = enqueue -> finished_at of plugin_db.migrate (validation, guard, "
        "ledger and tracking writes included)"
    ]
    return Result(
        NAME, {"files": k, "repeats": repeats, "provider": PROVIDER}, metrics, rows, notes
    )
