"""Operator commands: the tracking database, the worker process, the demo."""

from __future__ import annotations

import os
import sys

import typer

from worker.cli.common import EXIT_FAILED, JsonOpt, emit, fail, settings
from worker.tracking import db

db_app = typer.Typer(help="The tracking database.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"), as_json: bool = JsonOpt) -> None:
    """Migrate the tracking database to the latest Alembic revision."""
    url = settings().database_url
    db.upgrade(url, revision)
    engine = db.make_engine(url)
    current = db.current_revision(engine)
    engine.dispose()
    emit({"revision": current}, as_json, f"tracking database at revision {current}")


@db_app.command("current")
def db_current(as_json: bool = JsonOpt) -> None:
    """Show the tracking database's revision and the code's head."""
    engine = db.make_engine(settings().database_url)
    data = {"current": db.current_revision(engine), "head": db.head_revision()}
    engine.dispose()
    emit(data, as_json, f"current {data['current']}, head {data['head']}")


def worker(
    concurrency: int = typer.Option(2, "--concurrency", "-c"),
    pool: str = typer.Option("prefork", "--pool"),
    beat: bool = typer.Option(
        False, "--beat", help="Also run the periodic schedule in this process."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel"),
) -> None:
    """Start a Celery worker on queue plugin-db (task events on, for Flower)."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        "plugin-db",
        "-E",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
    ]
    if beat:
        argv.append("-B")
    os.execv(sys.executable, argv)  # noqa: S606 - become the celery worker process


def secret_key() -> None:
    """Print a new key for PLUGIN_DB_SECRET_KEY."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep ./var/demo for inspection."),
) -> None:
    """Run the example plugins' whole lifecycle on the embedded default, with a real worker."""
    from worker.demo import run_demo

    if run_demo(keep=keep) != 0:
        fail("the demo did not end as expected", EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Attach operator commands."""
    app.add_typer(db_app, name="db")
    app.command()(worker)
    app.command("secret-key")(secret_key)
    app.command()(demo)
