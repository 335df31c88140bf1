"""Operator commands: the tracking database, the worker process, the demo."""

from __future__ import annotations

import os
import sys

import typer

from worker.celery_app import worker_command
from worker.cli.common import EXIT_FAILED, JsonOpt, emit, fail, sessions, settings
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
    argv = worker_command(concurrency=concurrency, pool=pool, loglevel=loglevel, beat=beat)
    os.execv(sys.executable, argv)  # noqa: S606 - become the celery worker process


def secret_key(
    rotate: bool = typer.Option(
        False,
        "--rotate",
        help="Re-encrypt every stored secret under the first key of PLUGIN_DB_SECRET_KEY "
        "(set it to NEW,OLD on the workers first; afterwards OLD can be dropped).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Print a new key for PLUGIN_DB_SECRET_KEY, or re-encrypt stored secrets (--rotate)."""
    from cryptography.fernet import Fernet

    if not rotate:
        print(Fernet.generate_key().decode())
        return
    from worker import audit, secrets
    from worker.errors import PluginDbError

    try:
        box = secrets.SecretBox.from_settings(settings())
        with sessions().begin() as session:
            count = secrets.rotate_all(session, box)
            audit.record(session, "secret_key_rotated", plugin_id=None, actor="cli", count=count)
    except PluginDbError as exc:
        fail(str(exc), EXIT_FAILED, as_json)
    emit({"rotated": count}, as_json, f"re-encrypted {count} stored secrets under the newest key")


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
