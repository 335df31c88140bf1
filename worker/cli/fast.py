"""The reads (and ``migrate --all``), answered before Typer is imported.

``plugin-db info ID``, ``ops [--plugin P] [--state S] [--limit N]``, ``op ID``,
``audit ID [--limit N]``, ``doctor [--plugin P]`` (each with ``--json``) and
``migrate --all [--wait] [--parallel N] [--dry-run] [--force] [--json]`` are parsed here and
run by :mod:`worker.cli.show` and :mod:`worker.cli.migrate_all`, the code Typer's commands
call. Anything else (help, an unknown option, a value Typer would refuse) returns, and Typer
parses the arguments and prints its own usage error, so what the user sees does not depend
on which path ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.cli import show
from worker.states import OpState

Options = dict[str, Callable[[str], Any] | None]
"""Option name -> how its value is read (None: a flag)."""
JSON: Options = {"--json": None}
FLEET: Options = {"--all": None, "--wait": None, "--dry-run": None, "--force": None}
SPECS: dict[str, tuple[int, Options]] = {
    "info": (1, JSON),
    "ops": (0, {**JSON, "--plugin": str, "--state": OpState, "--limit": int}),
    "op": (1, JSON),
    "audit": (1, {**JSON, "--limit": int}),
    "doctor": (0, {**JSON, "--plugin": str}),
    "migrate": (0, {**JSON, **FLEET, "--parallel": int}),
}
"""Command -> (how many arguments, its options)."""
Parsed = tuple[str, list[str], dict[str, Any]]


def parse(argv: Sequence[str]) -> Parsed | None:
    """(command, arguments, options) of a plain read or ``migrate --all``, else None."""
    if not argv or argv[0] not in SPECS:
        return None
    count, known = SPECS[argv[0]]
    args: list[str] = []
    options: dict[str, Any] = {}
    rest = list(argv[1:])
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            args.append(word)
        elif not _option(word, rest, known, options):
            return None
    if argv[0] == "migrate" and "--all" not in options:
        return None  # one plugin's migrate: Typer's command
    return (argv[0], args, options) if len(args) == count else None


def _option(word: str, rest: list[str], known: Options, options: dict[str, Any]) -> bool:
    """Read one option (and its value from ``rest``) into ``options``; False if unusual."""
    name, eq, value = word.partition("=")
    if name not in known or name in options:
        return False
    read = known[name]
    if read is None:
        options[name] = True
        return not eq
    if not eq:
        if not rest or rest[0].startswith("-"):
            return False
        value = rest.pop(0)
    try:
        options[name] = read(value)
    except ValueError:
        return False
    return True


def dispatch(argv: Sequence[str]) -> None:
    """Run a plain read (or ``migrate --all``) and exit; return, having done nothing, for
    anything else."""
    parsed = parse(argv)
    if parsed is None:
        return
    command, args, options = parsed
    as_json = bool(options.get("--json"))
    if command == "info":
        show.info(args[0], as_json)
    elif command == "ops":
        state = options.get("--state")
        limit = options.get("--limit", 50)
        show.operations(options.get("--plugin"), state.value if state else None, limit, as_json)
    elif command == "op":
        if not args[0].isdigit():
            return
        show.operation(int(args[0]), as_json)
    elif command == "audit":
        show.audit(args[0], options.get("--limit", 200), as_json)
    elif command == "doctor":
        show.doctor(options.get("--plugin"), as_json)
    else:
        from worker.cli.migrate_all import migrate_all

        wait, dry_run, force = (bool(options.get(f"--{n}")) for n in ("wait", "dry-run", "force"))
        migrate_all(options.get("--parallel", 4), wait, as_json, dry_run, force)
    raise SystemExit(0)
