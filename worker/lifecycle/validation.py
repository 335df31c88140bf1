"""Checks of a request's migration files, run before the operation is accepted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import Provider
from worker.lifecycle.requests import MigrateRequest, Request
from worker.manifest import Manifest
from worker.migrations.files import load_dir
from worker.port import migrations_dir, spec_for
from worker.sqlguard import check_statements, split_statements
from worker.tracking.models import PluginMigration


def validate_migrations(
    sessions: sessionmaker[Session],
    plugin_dir: Path,
    request: Request,
    manifest: Manifest,
    provider: Provider,
) -> None:
    """Parse every migration file and guard the statements that have not run yet."""
    files = load_dir(migrations_dir(plugin_dir, manifest), plugin_dir)
    force = isinstance(request, MigrateRequest) and request.force
    with sessions() as session:
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
    for file in files:
        up = split_statements(file.up_sql, provider.dialect)
        check_statements(
            up,
            provider.dialect,
            namespace,
            force=force or snapshotted or file.version in completed,
            owner_of=owner_of,
        )
        down = split_statements(file.down_sql, provider.dialect) if file.down_sql else []
        check_statements(down, provider.dialect, namespace, force=True, owner_of=owner_of)
