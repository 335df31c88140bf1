"""Versions applied together in one transaction keep per-version outcomes (in process).

Where DDL is transactional, consecutive versions commit in one transaction; when it fails,
they run again one by one, so the versions before the failing one are applied and recorded,
the failing one is named with its statement, and later ones do not run. Each part is parsed
once: its analysis is stored in ``migration_analyses`` (with the lint record of the migrate
that first parses it or runs it) and read back afterwards.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.migrations.support import (
    MODES,
    attempts,
    in_process,
    ledger,
    new_plugin,
    rows,
    run_in_process,
    tables,
    write_file,
)
from tests.support.stack import Stack
from worker.lifecycle import submit
from worker.migrations import analysis
from worker.migrations.files import load_dir
from worker.states import Kind
from worker.tracking.models import MigrationAnalysis


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_a_failing_version_in_a_group_keeps_the_ones_before_it(light: Stack, dialect: str) -> None:
    pid, ns = new_plugin(light, f"gr{dialect[:2]}", MODES[dialect])
    service = in_process(light)
    assert run_in_process(service, Kind.PROVISION, {"plugin_id": pid}).state == "succeeded"
    for version in ("001", "002", "004"):
        write_file(light, pid, f"{version}-t.sql", f"CREATE TABLE {ns}_t{version} (id INTEGER);")
    write_file(
        light,
        pid,
        "003-bad.sql",
        f"CREATE TABLE {ns}_t003 (id INTEGER);\nINSERT INTO {ns}_missing VALUES (1);",
    )
    op = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "failed" and f"{ns}_missing" in (op.error or "")
    assert rows(light, pid) == [("001", "completed"), ("002", "completed"), ("003", "failed")]
    assert set(ledger(light, pid)) == {"001", "002"}
    found = tables(light, pid)
    assert {f"{ns}_t001", f"{ns}_t002"} <= found and not {f"{ns}_t003", f"{ns}_t004"} & found
    (failed,) = [a for a in attempts(light, pid) if a.migration_version == "003"]
    assert f"{ns}_missing" in (failed.failing_statement or "")
    with light.engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(MigrationAnalysis))
    assert stored and stored >= 4  # parsed at intake, stored with the lint record
    analysis._memory.clear()  # a fresh process reads them back instead of parsing again
    write_file(light, pid, "003-bad.sql", f"CREATE TABLE {ns}_t003 (id INTEGER);")
    op = run_in_process(service, Kind.MIGRATE, {"plugin_id": pid})
    assert op.state == "succeeded", op.error
    assert set(ledger(light, pid)) == {"001", "002", "003", "004"}
    teardown = {"plugin_id": pid, "purge": True}
    assert run_in_process(service, Kind.TEARDOWN, teardown).state == "succeeded"


def test_a_recorded_migrate_stores_what_its_validation_parsed(light: Stack) -> None:
    """A producer (API, command line) records a migrate with the analyses its validation
    parsed, in the row's transaction: the worker that runs it finds them stored."""
    pid, ns = new_plugin(light, "grrec", MODES["sqlite"])
    service = in_process(light)
    assert run_in_process(service, Kind.PROVISION, {"plugin_id": pid}).state == "succeeded"
    write_file(light, pid, "001-rec.sql", f"CREATE TABLE {ns}_rec (id INTEGER);")
    folder = light.plugins_root / pid
    (file,) = load_dir(folder / "migrations", folder)
    keys = [analysis.key_of(part, "sqlite", True) for part in (file.up_sql, file.down_sql)]
    analysis.forget_memory()
    op, created = submit.record(service, Kind.MIGRATE, {"plugin_id": pid, "request_id": pid})
    assert created and op.state == "pending"
    query = select(MigrationAnalysis.key).where(MigrationAnalysis.key.in_(keys))
    with light.engine.connect() as conn:
        assert set(conn.scalars(query)) == set(keys)
