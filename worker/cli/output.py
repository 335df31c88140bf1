"""The command line's output and settings, without Typer: what a read needs to answer.

``plugin-db info/ops/op/audit/doctor`` run from here before Typer is imported (see
:mod:`worker.cli.fast`), so nothing in this module may import Typer, rich (except on first
use of a console) or the ORM. A failure exits through ``SystemExit`` with its status, which
Typer passes through unchanged.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn

from worker.settings import Settings
from worker.states import OpState

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy.orm import Session, sessionmaker

    console: Console
    out: Console

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_CONSOLES = {"console": True, "out": False}
"""Module attribute -> whether that Console writes to stderr."""


def __getattr__(name: str) -> Any:
    """``console`` (stderr) and ``out`` (stdout): rich Consoles made on first use, so a
    ``--json`` read never imports rich."""
    if name not in _CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    made = Console(stderr=_CONSOLES[name])
    globals()[name] = made
    return made


def stream(name: str) -> Console:
    """The ``console`` or ``out`` Console."""
    found: Console = globals().get(name) or __getattr__(name)
    return found


@cache
def settings() -> Settings:
    """Settings from the environment."""
    return Settings.from_env()


@cache
def sessions() -> sessionmaker[Session]:
    """Sessions on the tracking database (SQLAlchemy is imported on the first call)."""
    from worker.tracking.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings().database_url))


def print_json(data: Any) -> None:
    """``data`` as indented JSON: highlighted by rich on a terminal, plain text otherwise."""
    if sys.stdout.isatty():
        stream("out").print_json(json.dumps(data, default=str))
    else:
        print(json.dumps(data, default=str, indent=2, ensure_ascii=False))


def emit(data: Any, as_json: bool, human: Any = None) -> None:
    """Print ``data`` as JSON, or ``human`` (text with rich markup, or a rich renderable)."""
    if as_json:
        print_json(data)
    elif human is not None:
        stream("out").print(human)


def fail(message: str, code: int = EXIT_BAD_INPUT, as_json: bool = False) -> NoReturn:
    """Print an error and exit with ``code``."""
    if as_json:
        print_json({"error": message})
    else:
        stream("console").print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True)
    raise SystemExit(code)


def exit_code(op: Any) -> int:
    """Exit status of an operation's outcome (contract section 4)."""
    return {OpState.SUCCEEDED: EXIT_OK, OpState.REJECTED: EXIT_BAD_INPUT}.get(
        OpState(op.state), EXIT_FAILED
    )


def op_json(op: Any) -> dict[str, Any]:
    """An operation as JSON (no secret is ever stored in one)."""
    return {
        "operation_id": op.id,
        "plugin_id": op.plugin_id,
        "kind": op.kind,
        "state": op.state,
        "current_step": op.current_step,
        "steps": op.steps,
        "request_id": op.request_id,
        "requested_by": op.requested_by,
        "attempts": op.attempts,
        "crashes": op.crashes,
        "error": op.error,
        "result": op.result,
        "created_at": op.created_at,
        "finished_at": op.finished_at,
    }


def human_outcome(op: Any) -> str:
    """One line per step, then the outcome."""
    lines = [f"  {s['name']:<20} {s['status']:<8} {s['ms']:>8.1f} ms" for s in op.steps]
    if op.result and op.result.get("dry_run"):
        from worker.cli.lintview import dry_run_lines

        lines += dry_run_lines(op.result)
    colour = {"succeeded": "green", "rejected": "yellow"}.get(op.state, "red")
    lines.append(
        f"[{colour}]operation {op.id} {op.kind} {op.plugin_id}: {op.state}[/{colour}]"
        + (f" - {op.error}" if op.error else "")
    )
    return "\n".join(lines)
