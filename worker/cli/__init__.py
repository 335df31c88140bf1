"""The ``plugin-db`` command line.

Commands load lazily: ``plugin-db info`` imports the read commands' module and nothing else
(no Celery, no SQL parser, no driver), so operators' reads answer at once. Each command name
maps to the modules that define it; a ``module`` entry calls its ``register(app)``, a
``module:attr`` entry adds the Typer group ``attr`` under the command's name. A new command
module adds its names here (tests/unit/test_cli_imports.py checks the map against the modules).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping

import typer
from typer._click.core import Command, Context  # Typer's own click (typer.core's types)
from typer.core import TyperGroup

_READS = ("info", "ops", "op", "audit")
_LIFECYCLE = ("provision", "migrate", "rollback", "rotate", "teardown", "restore", "relocate")
COMMANDS: Mapping[str, tuple[str, ...]] = {
    **dict.fromkeys(_READS, ("inspect",)),
    **dict.fromkeys(_LIFECYCLE, ("lifecycle",)),
    **dict.fromkeys(("db", "worker", "secret-key", "demo"), ("admin",)),
    **dict.fromkeys(("doctor", "retry"), ("ops",)),
    **dict.fromkeys(("connection", "credentials", "api", "tokens"), ("api",)),
    "migrations": ("migrations", "safety"),
    "schema": ("schema:schema_app",),
    "targets": ("targets",),
    **dict.fromkeys(("webhooks", "events"), ("events",)),
    **dict.fromkeys(("snapshot", "snapshots", "quotas"), ("safety",)),
}
"""Command name -> the modules (under ``worker.cli``) that define it."""


def attach(app: typer.Typer, name: str, entry: str) -> None:
    """Attach one module's commands (or its Typer group, as ``name``) to ``app``."""
    module_name, _, attr = entry.partition(":")
    module = importlib.import_module(f"worker.cli.{module_name}")
    if attr:
        app.add_typer(getattr(module, attr), name=name)
    else:
        module.register(app)


class LazyGroup(TyperGroup):
    """A Typer group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        sub = typer.Typer()
        for entry in COMMANDS[cmd_name]:
            attach(sub, cmd_name, entry)
        command = typer.main.get_group(sub).get_command(ctx, cmd_name)
        if command is not None:
            self.add_command(command, cmd_name)
        return command


app = typer.Typer(
    name="plugin-db",
    cls=LazyGroup,
    help="Provision, migrate, rotate and tear down per-plugin databases through the worker.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Provision, migrate, rotate and tear down per-plugin databases through the worker."""


def main() -> None:
    """Console-script entry point: logs go to stderr, results to stdout.

    The reads log nothing, so they skip configuring logging (and its imports).
    """
    if not set(sys.argv[1:2]) & set(_READS):
        import logging

        from worker.logging import configure

        configure(json=False, level=logging.WARNING)
    try:
        app()
    except Exception as exc:
        message = out_of_date(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


def out_of_date(exc: Exception) -> str | None:
    """What to do when a command failed on a tracking database behind the code, else None."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return None
    from worker.cli.common import settings
    from worker.cli.reads import upgrade_hint
    from worker.tracking.db import current_revision, head_revision, make_engine

    engine = make_engine(settings().database_url)
    try:
        current = current_revision(engine)
    except DBAPIError:
        return None
    finally:
        engine.dispose()
    head = head_revision()
    return None if current == head else upgrade_hint(current, head)
