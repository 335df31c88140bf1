"""``plugin-db migrate --all``: one migrate per ready plugin, dependencies first.

An up-to-date fleet is the common case, and it enqueues nothing: the ready datasources are
read with the database driver alone and surveyed (:func:`worker.migrations.fleet.survey`)
without loading the ORM, Celery or the intake; those load with the first plugin to submit.
Waiting polls the tracking table through the same driver-only connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from worker.cli import output
from worker.cli.output import EXIT_BAD_INPUT, EXIT_FAILED, emit, fail, settings
from worker.cli.reads import Reader
from worker.cli.show import reading
from worker.migrations import deps, fleet
from worker.states import TERMINAL, DsStatus, Kind

if TYPE_CHECKING:
    from celery import Celery

    from worker.lifecycle.service import LifecycleService

POLL_SECONDS = 0.02
"""Between two polls of the operations in flight (one indexed SELECT each)."""
RECORD_AFTER = 10.0
"""Seconds after which the command records a request no worker has recorded yet."""


def fleet_graph(reader: Reader) -> tuple[dict[str, list[str]], dict[str, str], set[str]]:
    """Dependencies of every ready plugin, the plugins whose manifest cannot be read, and the
    plugins already up to date (their files match the checksum of their last migrate)."""
    rows = reader.rows(
        "SELECT plugin_id, descriptor, manifest FROM plugin_datasources WHERE status = ? "
        "ORDER BY plugin_id",
        [DsStatus.READY.value],
    )
    found = fleet.survey(
        settings().plugins_root, [(r["plugin_id"], r["descriptor"], r["manifest"]) for r in rows]
    )
    graph = {s.plugin_id: s.deps for s in found if s.refused is None}
    broken = {s.plugin_id: s.refused for s in found if s.refused is not None}
    return graph, broken, {s.plugin_id for s in found if s.current}


class Requests:
    """The scheduler's submit and poll: each plugin's migrate goes to the worker's public task,
    which validates and records it (a bad one as a ``rejected`` operation, audited), so the
    worker's processes do that work in parallel and the command only sends and polls.

    Nothing is lost with the broker: a request that has no operation row after
    :data:`RECORD_AFTER` seconds, whose send failed, or that is still in flight when the
    command stops waiting, is recorded by the command itself as the API records a request
    (then re-sent by the reconciler if its message is lost); the request id makes a request
    recorded once, whoever is first.
    """

    def __init__(self, reader: Reader, dry_run: bool, force: bool) -> None:
        self.reader, self.dry_run, self.force = reader, dry_run, force
        self.batch = uuid.uuid4().hex[:8]
        self.sent: dict[str, tuple[dict[str, Any], float]] = {}
        self.recorded: set[str] = set()

    @cached_property
    def celery(self) -> Celery:
        """The sender (made with the first plugin to submit)."""
        from worker.cli import producer

        return producer.celery()

    @cached_property
    def service(self) -> LifecycleService:
        """The intake and store (made with the first request the command records itself)."""
        from worker.cli import configure_logging, producer

        configure_logging()  # a send the broker refuses is logged
        return producer.service()

    def submit(self, plugin_id: str) -> str:
        """Send one plugin's migrate; its request id."""
        request: dict[str, Any] = {
            "plugin_id": plugin_id,
            "request_id": f"cli-all-{self.batch}-{plugin_id}",
            "requested_by": "cli",
            "dry_run": self.dry_run,
            "force": self.force,
        }
        request_id = str(request["request_id"])
        self.sent[request_id] = (request, time.monotonic())
        try:
            self.celery.send_task(Kind.MIGRATE.task_name, args=[request])
        except Exception:  # the broker's client raises many types: record it, to be re-sent
            self.record(request_id)
        return request_id

    def record(self, request_id: str) -> None:
        """Record (and send) a request as the API does, unless a worker already has."""
        from worker.lifecycle.submit import accept_and_send

        request, _ = self.sent[request_id]
        accept_and_send(self.service, self.celery, Kind.MIGRATE, dict(request))
        self.recorded.add(request_id)

    def poll(self, request_ids: list[str]) -> Mapping[str, fleet.Outcome]:
        """Terminal outcomes of the given requests; the overdue unrecorded ones recorded."""
        if not request_ids:
            return {}
        marks = ", ".join("?" * len(request_ids))
        rows = self.reader.rows(
            "SELECT request_id, state, id, error FROM lifecycle_operations "
            f"WHERE request_id IN ({marks})",
            request_ids,
        )
        self.recorded.update(r["request_id"] for r in rows)
        overdue = time.monotonic() - RECORD_AFTER
        for request_id in request_ids:
            if request_id not in self.recorded and self.sent[request_id][1] < overdue:
                self.record(request_id)
        return {
            r["request_id"]: (r["state"], r["id"], r["error"])
            for r in rows
            if r["state"] in TERMINAL
        }

    def settle(self, items: list[fleet.Item]) -> None:
        """Record every request still in flight that no worker has recorded yet."""
        flying = [i.request_id for i in items if i.state == "enqueued" and i.request_id]
        self.poll(flying)
        for request_id in flying:
            if request_id not in self.recorded:
                self.record(request_id)


def migrate_all(parallel: int, wait: bool, as_json: bool, dry_run: bool, force: bool) -> None:
    """Enqueue one migrate per ready plugin in dependency order, at most ``parallel`` at once.

    The command schedules: a plugin is enqueued when its dependencies have succeeded. With
    ``--wait`` it also waits for the last operations and exits 1 if any failed or was refused.
    """
    if parallel < 1:
        fail("--parallel must be at least 1", EXIT_BAD_INPUT, as_json)
    with reading(as_json) as reader:
        reader.require_current()  # before anything is recorded
        graph, refused, current = fleet_graph(reader)
        order, cyclic = deps.fleet_order(graph, "is not a ready plugin")
        refused |= cyclic
        current -= set(refused)
        if not (dry_run or force):  # up to date: nothing to enqueue
            order = [p for p in order if p not in current]
            graph = {p: [d for d in needs if d not in current] for p, needs in graph.items()}
        requests = Requests(reader, dry_run, force)
        runner = fleet.Fleet(order, graph, parallel, requests.submit, requests.poll)
        runner.interval = POLL_SECONDS
        items = _run(runner, len(order), wait, as_json)
        requests.settle(items)
    _report(items, refused, current if not (dry_run or force) else set(), order, as_json)


def _run(runner: fleet.Fleet, total: int, wait: bool, as_json: bool) -> list[fleet.Item]:
    """Run the scheduler, with a progress bar on the console (never with --json)."""
    if as_json or not total:
        return runner.run(wait=wait)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    progress = Progress(*columns, TimeElapsedColumn(), console=output.stream("console"))
    with progress:
        bar = progress.add_task("migrate --all", total=total)

        def on_change(item: fleet.Item) -> None:
            if item.state in fleet.TERMINAL:
                progress.advance(bar)
            progress.update(bar, description=f"{item.plugin_id}: {item.state}")

        runner.on_change = on_change
        return runner.run(wait=wait)


def _report(
    items: list[fleet.Item],
    refused: dict[str, str],
    current: set[str],
    order: list[str],
    as_json: bool,
) -> None:
    """The summary (every refused, failed or skipped plugin named); exit 1 if there is one."""
    if not as_json:
        for plugin_id, why in sorted(refused.items()):
            output.stream("console").print(f"[red]refused[/red] {plugin_id}: {why}")
    bad = [i for i in items if i.state not in ("succeeded", "enqueued")]
    counts: dict[str, int] = {"up-to-date": len(current)} if current else {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    lines = [f"  {i.plugin_id:<40} {i.state:<10} {i.error or ''}" for i in bad]
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no ready plugin"
    emit(
        {
            "order": order,
            "refused": refused,
            "counts": counts,
            "plugins": [i.to_json() for i in items],
        },
        as_json,
        "\n".join([*lines, f"migrate --all: {summary}; {len(refused)} refused"]),
    )
    if refused or bad:
        raise SystemExit(EXIT_FAILED)
