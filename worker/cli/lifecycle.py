"""Commands that enqueue lifecycle requests."""

from __future__ import annotations

from pathlib import Path

import typer

from worker.cli.common import EXIT_BAD_INPUT, JsonOpt, WaitOpt, enqueue, fail, sessions, settings
from worker.errors import RequestRejected
from worker.manifest import load_manifest_bytes
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
    manifest_file = path / "plugin.json" if path.is_dir() else path
    try:
        manifest = load_manifest_bytes(manifest_file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {manifest_file}: {exc.strerror}", EXIT_BAD_INPUT, as_json)
    except RequestRejected as exc:
        fail(str(exc), EXIT_BAD_INPUT, as_json)
    expected = settings().plugins_root / manifest.id
    if manifest_file.resolve().parent != expected.resolve():
        fail(
            f"{manifest_file} is not in the plugins root: copy the folder to {expected} "
            "(or set PLUGIN_DB_PLUGINS_ROOT)",
            EXIT_BAD_INPUT,
            as_json,
        )
    request = {"plugin_id": manifest.id, **({"target": target} if target else {})}
    enqueue(Kind.PROVISION, request, wait, as_json)


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
    request: dict[str, object] = {"plugin_id": plugin_id, "dry_run": dry_run, "force": force}
    if target is not None:
        request["target"] = target
    enqueue(Kind.MIGRATE, request, wait, as_json)


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
    enqueue(
        Kind.MIGRATE,
        {"plugin_id": plugin_id, "target": before[-1] if before else ROLLBACK_ALL},
        wait,
        as_json,
    )


def rotate(plugin_id: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue credential rotation."""
    enqueue(Kind.ROTATE, {"plugin_id": plugin_id}, wait, as_json)


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
    request = {"plugin_id": plugin_id, "purge": purge, "snapshot": not no_snapshot}
    enqueue(Kind.TEARDOWN, request, wait, as_json)


def restore(plugin_id: str, wait: bool = WaitOpt, as_json: bool = JsonOpt) -> None:
    """Enqueue restore of an archived plugin."""
    enqueue(Kind.RESTORE, {"plugin_id": plugin_id}, wait, as_json)


def relocate(
    plugin_id: str,
    mode: str | None = typer.Option(None, "--mode", help="Mode to move to (default: same)."),
    target: str | None = typer.Option(None, "--target", help="Target to move to."),
    wait: bool = WaitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Move a plugin, with its data, to another target or mode (placement picks the target)."""
    request: dict[str, object] = {"plugin_id": plugin_id}
    request.update({k: v for k, v in (("mode", mode), ("target", target)) if v is not None})
    enqueue(Kind.RELOCATE, request, wait, as_json)


def register(app: typer.Typer) -> None:
    """Attach the enqueueing commands."""
    for command in (provision, migrate, rollback, rotate, teardown, restore, relocate):
        app.command()(command)
