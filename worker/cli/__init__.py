"""The ``plugin-db`` command line."""

from __future__ import annotations

import typer

from worker.cli import admin, inspect, lifecycle
from worker.cli.schema import schema_app

app = typer.Typer(
    name="plugin-db",
    help="Provision, migrate, rotate and tear down per-plugin databases through the worker.",
    no_args_is_help=True,
    add_completion=False,
)
lifecycle.register(app)
inspect.register(app)
admin.register(app)
app.add_typer(schema_app, name="schema")


def main() -> None:
    """Console-script entry point."""
    app()
