"""The ``plugin-db`` command line.

Commands load lazily: ``plugin-db info`` imports the read commands' module and nothing else
(no Celery, no SQL parser, no driver), so operators' reads answer at once; the reads and the
enqueueing commands in their plain forms (``info ID``, ``ops --plugin ID``,
``teardown ID --json``, ...) even run before Typer is imported (:mod:`worker.cli.fast`).
Each command name maps to the modules that define it; a ``module`` entry calls its
``register(app)``, a ``module:attr`` entry adds the Typer group ``attr`` under the command's
name. A new command module adds its names here (tests/unit/test_cli_imports.py checks the
map against the modules).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

_READS = ("info", "ops", "op", "audit")
_LIFECYCLE = ("provision", "migrate", "rollback", "rotate", "teardown", "restore", "relocate")
_EARLY = (*_READS, "doctor", *(name for name in _LIFECYCLE if name != "rollback"))
"""Commands whose plain forms run before Typer is imported (:mod:`worker.cli.fast`)."""
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


def __getattr__(name: str) -> Any:
    """``app``, ``attach`` and ``LazyGroup`` live in :mod:`worker.cli.root` (Typer loads with
    it: the early reads never import it)."""
    if name not in ("app", "attach", "LazyGroup"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from worker.cli import root

    return getattr(root, name)


def main() -> None:
    """Console-script entry point: logs go to stderr, results to stdout.

    The reads log nothing, so they skip configuring logging; other commands configure it
    lazily (structlog loads only if something is logged at warning or above).
    """
    command = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        if command not in (*_READS, "doctor"):
            configure_logging()
        if command in _EARLY:
            from worker.cli.fast import dispatch

            try:
                dispatch(sys.argv[1:])  # returns only if the arguments need Typer
            except BrokenPipeError:  # as click does: a closed pipe (`| head`) is no traceback
                _quiet_stdout()
                sys.exit(1)
        from worker.cli.root import app

        app()
    except Exception as exc:
        message = out_of_date(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


def configure_logging() -> None:
    """The command line's logging: warnings and errors, readable, on stderr (once; structlog
    is imported by the first line logged)."""
    import logging

    from worker.logging import configure

    configure(json=False, level=logging.WARNING, lazy=True)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises nothing more."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


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
