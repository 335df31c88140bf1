"""Shared CLI plumbing for Typer commands: options, settings, output (human or --json),
enqueue and wait (re-exported from the Typer-free :mod:`worker.cli.output` and
:mod:`worker.cli.enqueue`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from worker.cli import output
from worker.cli.enqueue import enqueue, wait_for
from worker.cli.output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    emit,
    exit_code,
    fail,
    human_outcome,
    op_json,
    print_json,
    sessions,
    settings,
)

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    out: Console

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "JsonOpt", "WaitOpt", "emit", "enqueue"]
__all__ += ["exit_code", "fail", "human_outcome", "op_json", "print_json", "sessions"]
__all__ += ["settings", "wait_for"]


def __getattr__(name: str) -> Any:
    """``console`` (stderr) and ``out`` (stdout): :mod:`worker.cli.output`'s, made on first use."""
    return getattr(output, name)


JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
WaitOpt = typer.Option(False, "--wait", help="Wait for the outcome; exit status follows it.")
