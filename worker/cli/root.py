"""The Typer application of ``plugin-db``: a group that loads each command's module on use."""

from __future__ import annotations

import importlib

import typer
from typer._click.core import Command, Context  # Typer's own click (typer.core's types)
from typer.core import TyperGroup

from worker.cli import COMMANDS


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
