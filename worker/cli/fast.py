"""The reads, ``migrate --all`` and the enqueueing commands, answered before Typer loads.

``plugin-db info ID``, ``ops [--plugin P] [--state S] [--limit N]``, ``op ID``,
``audit ID [--limit N]``, ``doctor [--plugin P]`` (each with ``--json``),
``migrate --all [--wait] [--parallel N] [--dry-run] [--force] [--json]`` and the enqueues
``provision PATH``, ``migrate ID``, ``rotate ID``, ``teardown ID``, ``restore ID``,
``relocate ID`` (with their options) are parsed here and run by :mod:`worker.cli.show`,
:mod:`worker.cli.migrate_all` and :mod:`worker.cli.enqueue`, the code Typer's commands call.
Anything else (help, an unknown option, a value Typer would refuse) returns, and Typer
parses the arguments and prints its own usage error, so what the user sees does not depend
on which path ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.states import OpState

Options = dict[str, Callable[[str], Any] | None]
"""Option name -> how its value is read (None: a flag)."""
JSON: Options = {"--json": None}
WAIT: Options = {"--json": None, "--wait": None}
FLEET: Options = {"--all": None, "--wait": None, "--dry-run": None, "--force": None}
SPECS: dict[str, tuple[tuple[int, ...], Options]] = {
    "info": ((1,), JSON),
    "ops": ((0,), {**JSON, "--plugin": str, "--state": OpState, "--limit": int}),
    "op": ((1,), JSON),
    "audit": ((1,), {**JSON, "--limit": int}),
    "doctor": ((0,), {**JSON, "--plugin": str}),
    "migrate": ((0, 1), {**JSON, **FLEET, "--parallel": int, "--target": str}),
    "provision": ((1,), {**WAIT, "--target": str}),
    "rotate": ((1,), WAIT),
    "teardown": ((1,), {**WAIT, "--purge": None, "--no-snapshot": None}),
    "restore": ((1,), WAIT),
    "relocate": ((1,), {**WAIT, "--mode": str, "--target": str}),
}
"""Command -> (how many arguments it takes, its options)."""
Parsed = tuple[str, list[str], dict[str, Any]]


def parse(argv: Sequence[str]) -> Parsed | None:
    """(command, arguments, options) of a plain read, ``migrate --all`` or enqueue, else None."""
    if not argv or argv[0] not in SPECS:
        return None
    counts, known = SPECS[argv[0]]
    args: list[str] = []
    options: dict[str, Any] = {}
    rest = list(argv[1:])
    while rest:
        word = rest.pop(0)
        if not word.startswith("-"):
            args.append(word)
        elif not _option(word, rest, known, options):
            return None
    if argv[0] == "migrate" and not _plain_migrate(args, options):
        return None  # Typer explains what is wrong
    return (argv[0], args, options) if len(args) in counts else None


def _plain_migrate(args: list[str], options: dict[str, Any]) -> bool:
    """``migrate --all`` without a plugin or target, or one plugin's without --parallel."""
    if "--all" in options:
        return not args and "--target" not in options
    return len(args) == 1 and "--parallel" not in options


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
    """Run a plain read, ``migrate --all`` or enqueue and exit; return, having done nothing,
    for anything else."""
    parsed = parse(argv)
    if parsed is None:
        return
    command, args, options = parsed
    as_json = bool(options.get("--json"))
    if command == "op" and not args[0].isdigit():
        return
    if command in ("info", "ops", "op", "audit", "doctor"):
        _read(command, args, options, as_json)
    elif command == "migrate" and not args:
        from worker.cli.migrate_all import migrate_all

        wait, dry_run, force = (bool(options.get(f"--{n}")) for n in ("wait", "dry-run", "force"))
        migrate_all(options.get("--parallel", 4), wait, as_json, dry_run, force)
    else:
        _enqueue(command, args[0], options, as_json)
    raise SystemExit(0)


def _read(command: str, args: list[str], options: dict[str, Any], as_json: bool) -> None:
    from worker.cli import show

    if command == "info":
        show.info(args[0], as_json)
    elif command == "ops":
        state = options.get("--state")
        limit = options.get("--limit", 50)
        show.operations(options.get("--plugin"), state.value if state else None, limit, as_json)
    elif command == "op":
        show.operation(int(args[0]), as_json)
    elif command == "audit":
        show.audit(args[0], options.get("--limit", 200), as_json)
    else:
        show.doctor(options.get("--plugin"), as_json)


def _enqueue(command: str, arg: str, options: dict[str, Any], as_json: bool) -> None:
    from worker.cli import enqueue
    from worker.states import Kind

    wait = bool(options.get("--wait"))
    target = options.get("--target")
    if command == "provision":
        enqueue.provision(Path(arg), target, wait, as_json)
    elif command == "migrate":
        flags = (bool(options.get("--dry-run")), bool(options.get("--force")))
        enqueue.migrate(arg, target, flags, wait, as_json)
    elif command == "teardown":
        purge, snapshot = bool(options.get("--purge")), not options.get("--no-snapshot")
        enqueue.teardown(arg, purge, snapshot, wait, as_json)
    elif command == "relocate":
        enqueue.relocate(arg, options.get("--mode"), target, wait, as_json)
    else:
        kind = Kind.ROTATE if command == "rotate" else Kind.RESTORE
        enqueue.enqueue(kind, {"plugin_id": arg}, wait, as_json)
