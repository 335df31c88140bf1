"""``plugin-db`` commands run in this process (CliRunner) with a stack's environment."""

from __future__ import annotations

import logging

from click.testing import Result
from typer.testing import CliRunner

from tests.support.stack import Stack
from worker.cli import app, common
from worker.logging import configure


def invoke(stack: Stack, *args: str, env: dict[str, str] | None = None) -> Result:
    """``plugin-db ARGS`` as ``main`` runs it, with the stack's settings (read afresh)."""
    configure(json=False, level=logging.WARNING)
    common.settings.cache_clear()
    common.sessions.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={**stack.env, **(env or {})})
    finally:
        common.settings.cache_clear()
        common.sessions.cache_clear()
