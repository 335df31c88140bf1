"""The ``plugin-db`` command line."""

from __future__ import annotations

import logging

import typer

from worker.cli import admin, api, inspect, lifecycle, ops, safety
from worker.cli.schema import schema_app
from worker.logging import configure

app = typer.Typer(
    name="plugin-db",
    help="Provision, migrate, rotate and tear down per-plugin databases through the worker.",
    no_args_is_help=True,
    add_completion=False,
)
lifecycle.register(app)
inspect.register(app)
admin.register(app)
ops.register(app)
api.register(app)
safety.register(app)
app.add_typer(schema_app, name="schema")


def main() -> None:
    """Console-script entry point: logs go to stderr, results to stdout."""
    configure(json=False, level=logging.WARNING)
    app()
