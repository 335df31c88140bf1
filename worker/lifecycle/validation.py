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
from worker.port import migrations_dir, spec_for
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
    from worker.snapshots.policy import covers_destructive

    snapshotted = covers_destructive(manifest.database.snapshots, provider.snapshot_format)
    force = (isinstance(request, MigrateRequest) and request.force) or snapshotted
    namespace = provider.namespace(spec_for(manifest))
    owner_of = provider.ownership()
    parts = [p for f in files for p in (f.up_sql, f.down_sql) if p]
    # parsed here, stored with the migrate's lint record (no transaction of their own)
    found = analyses(sessions, None, parts, provider.dialect, provider.transactional_ddl)
    completed: set[str] | None = None  # read only when a refusal may depend on it
    for file in files:
        try:
            checked(found[file.up_sql], namespace, force=force, owner_of=owner_of)
        except MigrationFileError:
            if force:
                raise
            completed = _completed(sessions, request.plugin_id) if completed is None else completed
            if file.version not in completed:
                raise
            # an applied version may hold what only force allows (it already ran)
            checked(found[file.up_sql], namespace, force=True, owner_of=owner_of)
        if file.down_sql:
            checked(found[file.down_sql], namespace, force=True, owner_of=owner_of)
    return files


def _completed(sessions: sessionmaker[Session], plugin_id: str) -> set[str]:
    """Versions of the plugin whose tracking row says completed."""
    query = select(PluginMigration.migration_version).where(
        PluginMigration.plugin_id == plugin_id, PluginMigration.status == "completed"
    )
    with reading(sessions)() as session:
        return set(session.scalars(query))


def refuse_unstorable(files: list[MigrationFile]) -> None:
    """Migration text is recorded in plugin_migrations: refuse NUL before anything runs."""
    for file in files:
        texts = [file.up_sql, file.down_sql, file.name, file.description or ""]
        if unstorable_text(texts, file.filename) is not None:
            raise MigrationFileError("invalid migration file", [f"{file.filename}: {UNSTORABLE}"])
