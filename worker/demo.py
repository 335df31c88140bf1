"""``plugin-db demo``: the whole lifecycle of the example plugins, on the embedded default.

No server is needed: the broker is kombu's filesystem transport, the tracking database and
the plugins' databases are SQLite files under ``./var/demo``, and a real Celery worker
process consumes the requests, exactly as it would from Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from worker.celery_app import create_producer, worker_command
from worker.settings import Settings
from worker.states import TERMINAL, Kind
from worker.tracking import db
from worker.tracking.models import LifecycleOperation

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
console = Console(width=None if sys.stdout.isatty() else 110)


@dataclass(frozen=True)
class Scenario:
    """One request of the demo and the outcome it must have."""

    title: str
    kind: Kind
    request: dict[str, Any]
    expect: str


SCENARIOS = [
    Scenario(
        "provision notes (applies 2 migrations)",
        Kind.PROVISION,
        {"plugin_id": "notes"},
        "succeeded",
    ),
    Scenario(
        "provision kanban",
        Kind.PROVISION,
        {"plugin_id": "kanban", "request_id": "demo-provision-kanban"},
        "succeeded",
    ),
    Scenario(
        "provision guestbook (shared mode, prefixed tables)",
        Kind.PROVISION,
        {"plugin_id": "guestbook"},
        "succeeded",
    ),
    Scenario(
        "same request again: same operation",
        Kind.PROVISION,
        {"plugin_id": "kanban", "request_id": "demo-provision-kanban"},
        "succeeded",
    ),
    Scenario(
        "dry run: roll notes back to 001",
        Kind.MIGRATE,
        {"plugin_id": "notes", "target": "001", "dry_run": True},
        "succeeded",
    ),
    Scenario(
        "roll notes back to 001", Kind.MIGRATE, {"plugin_id": "notes", "target": "001"}, "succeeded"
    ),
    Scenario("migrate notes to latest again", Kind.MIGRATE, {"plugin_id": "notes"}, "succeeded"),
    Scenario(
        "rotate kanban credentials (n/a on SQLite)",
        Kind.ROTATE,
        {"plugin_id": "kanban"},
        "succeeded",
    ),
    Scenario("teardown kanban (archive)", Kind.TEARDOWN, {"plugin_id": "kanban"}, "succeeded"),
    Scenario("restore kanban", Kind.RESTORE, {"plugin_id": "kanban"}, "succeeded"),
    Scenario(
        "teardown notes --purge", Kind.TEARDOWN, {"plugin_id": "notes", "purge": True}, "succeeded"
    ),
    Scenario(
        "hostile id is rejected",
        Kind.PROVISION,
        {"plugin_id": 'x"; DROP ROLE postgres;--'},
        "rejected",
    ),
    Scenario("path traversal is rejected", Kind.PROVISION, {"plugin_id": "../../etc"}, "rejected"),
]


def demo_env(root: Path) -> dict[str, str]:
    """Environment of the embedded default, rooted at ``root``."""
    return {
        "PLUGIN_DB_DATA_DIR": str(root),
        "PLUGIN_DB_BROKER_URL": "filesystem://",
        "PLUGIN_DB_DATABASE_URL": f"sqlite:///{root / 'tracking.db'}",
        "PLUGIN_DB_PLUGINS_ROOT": str(EXAMPLES),
        "PLUGIN_DB_SHARED_URL": f"sqlite:///{root / 'shared.db'}",
        "PLUGIN_DB_LEASE_SECONDS": "15",
    }


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A real Celery worker process on the demo's broker."""
    argv = worker_command(loglevel="WARNING")
    log = log_path.open("wb")
    return subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Warm shutdown, then SIGKILL for anything still running after ``grace`` seconds."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def wait_op(sessions: Any, request_id: str, timeout: float = 60.0) -> LifecycleOperation | None:
    """The operation for ``request_id`` once it is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            op: LifecycleOperation | None = session.scalars(
                select(LifecycleOperation).where(LifecycleOperation.request_id == request_id)
            ).first()
        if op is not None and op.state in TERMINAL:
            return op
        time.sleep(0.05)
    return None


def run_demo(keep: bool = False) -> int:
    """Run every scenario; 0 if each ended as expected."""
    root = Path("var/demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = demo_env(root)
    os.environ.update(env)
    settings = Settings.from_env()
    db.upgrade(settings.database_url)
    console.print(f"[bold]plugin-db demo[/bold]: tracking db, broker and plugin files under {root}")
    signal.signal(signal.SIGTERM, _exit_on_term)  # so the finally below stops the worker
    worker = start_worker(env, root / "worker.log")
    sessions = db.make_sessionmaker(db.make_engine(settings.database_url))
    try:
        return _play(create_producer(settings), sessions, root)
    finally:
        stop_worker(worker)
        if not keep:
            console.print(
                f"(worker log: {root / 'worker.log'}; run with --keep to keep ./var/demo)"
            )


def _exit_on_term(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _play(app: Any, sessions: Any, root: Path) -> int:
    table = Table(title="lifecycle through a real worker")
    for column in ("#", "request", "op", "state", "steps", "ms"):
        table.add_column(column)
    failures = 0
    for number, scenario in enumerate(SCENARIOS, 1):
        request = {"request_id": f"demo-{uuid.uuid4()}", "requested_by": "demo", **scenario.request}
        app.send_task(scenario.kind.task_name, args=[request])
        op = wait_op(sessions, request["request_id"])
        state = op.state if op else "timeout"
        ok = state == scenario.expect
        failures += not ok
        steps = (
            ", ".join(
                f"{s['name']}{'' if s['status'] == 'done' else ' (skipped)'}" for s in op.steps
            )
            if op
            else ""
        )
        ms = sum(s["ms"] for s in op.steps) if op else 0
        shown = (
            f"[green]{state}[/green]" if ok else f"[red]{state} (expected {scenario.expect})[/red]"
        )
        table.add_row(
            str(number),
            scenario.title,
            str(op.id if op else "-"),
            shown,
            steps or (op.error or "")[:70] if op else "",
            f"{ms:.1f}",
        )
    console.print(table)
    _show_files(root)
    console.print(
        "[green]demo finished: every request ended as expected[/green]"
        if not failures
        else f"[red]{failures} request(s) did not end as expected[/red]"
    )
    return 1 if failures else 0


def _show_files(root: Path) -> None:
    plugins = root / "plugins"
    for path in sorted(plugins.rglob("*.db")):
        console.print(
            f"  {path.relative_to(root)}  {path.stat().st_size} bytes, "
            f"mode {oct(path.stat().st_mode & 0o777)}"
        )
