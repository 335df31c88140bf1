"""Checks of a request's migration files, run before the operation is accepted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from worker.errors import MigrationFileError
from worker.jsontext import UNSTORABLE, unstorable_text
from worker.lifecycle.requests import MigrateRequest, Request
from worker.manifest import Manifest
from worker.migrations.analysis import analyses, checked
from worker.migrations.files import MigrationFile, load_dir
from worker.migrations.reads import reading
from worker.port import DirectJournal, migrations_dir, spec_for
from worker.tracking.models import PluginMigration


def validate_migrations(
    sessions: sessionmaker[Session],
    plugin_dir: Path,
    request: Request,
    manifest: Manifest,
    provider: Provider,
) -> list[MigrationFile]:
    """Parse every migration file and guard the statements that have not run yet.

    Returns the files (read once per request).
    """
    files = load_dir(migrations_dir(plugin_dir, manifest), plugin_dir)
    if not files:
        return files
    force = isinstance(request, MigrateRequest) and request.force
    with reading(sessions)() as session:
        completed = set(
            session.scalars(
                select(PluginMigration.migration_version).where(
                    PluginMigration.plugin_id == request.plugin_id,
                    PluginMigration.status == "completed",
                )
            )
        )
    from worker.snapshots.policy import covers_destructive

    snapshotted = covers_destructive(manifest.database.snapshots, provider.snapshot_format)
    namespace = provider.namespace(spec_for(manifest))
    owner_of = provider.ownership()
    write = DirectJournal(sessions).write
    parts = [p for f in files for p in (f.up_sql, f.down_sql) if p]
    found = analyses(sessions, write, parts, provider.dialect, provider.transactional_ddl)
    for file in files:
        up_force = force or snapshotted or file.version in completed
        checked(found[file.up_sql], namespace, force=up_force, owner_of=owner_of)
        if file.down_sql:
            checked(found[file.down_sql], namespace, force=True, owner_of=owner_of)
    return files


def refuse_unstorable(files: list[MigrationFile]) -> None:
    """Migration text is recorded in plugin_migrations: refuse NUL before anything runs."""
    for file in files:
        texts = [file.up_sql, file.down_sql, file.name, file.description or ""]
        if unstorable_text(texts, file.filename) is not None:
            raise MigrationFileError("invalid migration file", [f"{file.filename}: {UNSTORABLE}"])
