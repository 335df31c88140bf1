"""Commands that enqueue lifecycle requests (their work is in :mod:`worker.cli.enqueue`)."""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli import enqueue as run
from worker.cli.common import EXIT_BAD_INPUT, JsonOpt, WaitOpt, fail, sessions
from worker.states import Kind


def provision(
    path: Path = typer.Argument(..., help="A plugin folder or its plugin.json."),
    target: str | None = typer.Option(
        None, "--target", help="The target to place it on (plugin-db targets list)."
    ),
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Enqueue provision for a plugin folder inside PLUGIN_DB_PLUGINS_ROOT."""
    run.provision(path, target, wait, as_json)


def migrate(
    plugin_id: str | None = typer.Argument(None, help="The plugin (omit with --all)."),
    target: str | None = typer.Option(
        None, "--target", help="Version to reach; lower runs DOWN parts."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the SQL, change nothing."),
    force: bool = typer.Option(
        False, "--force", help="Re-run an applied version / allow destructive SQL."
    ),
    all_plugins: bool = typer.Option(
        False, "--all", help="Every ready plugin, dependencies first (see --parallel)."
    ),
    parallel: int = typer.Option(4, "--parallel", help="With --all: operations in flight."),
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Enqueue migrate (of one plugin, or of every ready plugin with --all)."""
    if all_plugins:
        if plugin_id is not None or target is not None:
            fail("--all takes no plugin id and no --target", EXIT_BAD_INPUT, as_json)
        from worker.cli.migrate_all import migrate_all

        migrate_all(parallel, wait, as_json, dry_run, force)
        return
    if plugin_id is None:
        fail("give a plugin id, or --all", EXIT_BAD_INPUT, as_json)
    run.migrate(plugin_id, target, (dry_run, force), wait, as_json)


def rollback(plugin_id: str, version: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue migrate down to just before VERSION."""
    from sqlalchemy import select

    from worker.migrations.plan import ROLLBACK_ALL
    from worker.tracking.models import PluginMigration

    with sessions()() as session:
        applied = sorted(
            session.scalars(
                select(PluginMigration.migration_version).where(
                    PluginMigration.plugin_id == plugin_id, PluginMigration.status == "completed"
                )
            )
        )
    if version not in applied:
        fail(
            f"{plugin_id} has no applied version {version} "
            f"(applied: {', '.join(applied) or 'none'})",
            EXIT_BAD_INPUT,
            as_json,
        )
    before = [v for v in applied if v < version]
    run.enqueue(
        Kind.MIGRATE,
        {"plugin_id": plugin_id, "target": before[-1] if before else ROLLBACK_ALL},
        wait,
        as_json,
    )


def rotate(plugin_id: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue credential rotation."""
    run.enqueue(Kind.ROTATE, {"plugin_id": plugin_id}, wait, as_json)


def teardown(
    plugin_id: str,
    purge: bool = typer.Option(False, "--purge", help="Delete for good instead of archiving."),
    no_snapshot: bool = typer.Option(
        False, "--no-snapshot", help="With --purge: no snapshot first (default: one is taken)."
    ),
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Enqueue teardown (archive by default)."""
    run.teardown(plugin_id, purge, not no_snapshot, wait, as_json)


def restore(plugin_id: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue restore of an archived plugin."""
    run.enqueue(Kind.RESTORE, {"plugin_id": plugin_id}, wait, as_json)


def relocate(
    plugin_id: str,
    mode: str | None = typer.Option(None, "--mode", help="Mode to move to (default: same)."),
    target: str | None = typer.Option(None, "--target", help="Target to move to."),
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Move a plugin, with its data, to another target or mode (placement picks the target)."""
    run.relocate(plugin_id, mode, target, wait, as_json)


def register(app: typer.Typer) -> None:
    """Attach the enqueueing commands."""
    for command in (provision, migrate, rollback, rotate, teardown, restore, relocate):
        app.command()(command)
