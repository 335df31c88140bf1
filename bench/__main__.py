"""``python -m bench all [--quick | --smoke]`` or ``python -m bench NAME [NAME ...]``."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.report import RESULTS, Config, Result, machine

BENCHMARKS = (
    "provision",
    "overhead",
    "latency",
    "migrations",
    "fleet",
    "tracking",
    "memory",
    "api",
    "scaleout",
    "cli",
    "snapshots",
    "placement",
    "relocation",
)
console = Console(stderr=True)


def parse(argv: list[str]) -> tuple[list[str], Config]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="+",
        choices=("all", *BENCHMARKS),
        metavar="NAME",
        help=f"all, or some of: {', '.join(BENCHMARKS)}",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the issue's quick sizes")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes that only exercise each harness (also BENCH_SMOKE=1)",
    )
    parser.add_argument(
        "--redis-db",
        type=int,
        default=int(os.environ.get("BENCH_REDIS_DB", "1")),
        help="Redis database for the broker (flushed; tests use 2..15)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where <name>.json goes")
    parser.add_argument(
        "--no-pg-tracking", action="store_true", help="tracking benchmark on SQLite only"
    )
    parser.add_argument(
        "--fleet-plugins",
        type=int,
        metavar="N",
        help="fleet benchmark: N plugins instead of the mode's size (up to 1,000 pending)",
    )
    args = parser.parse_args(argv)
    if args.fleet_plugins is not None and args.fleet_plugins < 1:
        parser.error("--fleet-plugins: give a number of plugins of at least 1")
    smoke = args.smoke or os.environ.get("BENCH_SMOKE") == "1"
    mode = "smoke" if smoke else "quick" if args.quick else "full"
    names = list(BENCHMARKS) if "all" in args.names else list(dict.fromkeys(args.names))
    return names, Config(
        mode=mode,
        redis_db=args.redis_db,
        out_dir=args.out,
        pg_tracking=not args.no_pg_tracking,
        fleet_plugins=args.fleet_plugins,
    )


def table(results: list[Result], mode: str) -> Table:
    info = machine()
    out = Table(title=f"plugin-db benchmarks ({mode}; {info['nproc']} CPU, {info['cpu']})")
    for column in ("benchmark", "metric", "value", "baseline", "ratio", "goal", "met"):
        out.add_column(column, justify="right" if column in ("value", "baseline") else "left")
    for result in results:
        for i, row in enumerate(result.rows):
            met = "" if row.met is None else "[green]yes[/]" if row.met else "[red]no[/]"
            out.add_row(
                result.name if i == 0 else "",
                row.metric,
                row.value,
                row.baseline,
                row.ratio,
                row.goal,
                met,
            )
        out.add_section()
    return out


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every stack stops its worker and purges."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    names, cfg = parse(sys.argv[1:] if argv is None else argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    failed: list[str] = []
    for name in names:
        console.print(f"[bold]bench {name}[/] ({cfg.mode}) ...")
        started = time.monotonic()
        try:
            result: Result = importlib.import_module(f"bench.{name}").run(cfg)
        except Exception as exc:
            console.print(f"[red]bench {name} failed:[/] {exc}")
            traceback.print_exc()
            failed.append(name)
            (cfg.out_dir / f"{name}.json").write_text(
                json.dumps(
                    {"name": name, "mode": cfg.mode, "error": f"{type(exc).__name__}: {exc}"},
                    indent=2,
                )
            )
            continue
        seconds = time.monotonic() - started
        payload = result.to_json(cfg, seconds)
        (cfg.out_dir / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
        console.print(f"  done in {seconds:.1f}s -> {cfg.out_dir / f'{name}.json'}")
        results.append(result)
    out = Console(width=max(140, Console().width))
    out.print(table(results, cfg.mode))
    for result in results:
        for note in result.notes:
            out.print(f"[dim]{result.name}: {note}[/]")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
