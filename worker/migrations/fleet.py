"""Fleet migrate: one migrate per plugin, dependencies first, at most N in flight.

A plugin is submitted once every dependency inside the fleet has succeeded; a dependency
that failed (or was skipped) skips its dependents. Submitting and polling are injected, so
the scheduler is tested without a broker and the CLI plugs in Celery and the tracking tables.

Before that, :func:`survey` sorts the ready plugins: the ones whose files still match the
checksum their last migrate stored are up to date (nothing to enqueue), the ones whose
manifest or files cannot be read are refused. It reads each plugin's folder and no storage,
without the ORM; a large fleet is surveyed by one process per CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import RequestRejected
from worker.manifest import find_manifest
from worker.migrations.deps import direct
from worker.migrations.files import checksum_in, folder_checksum, load_dir, set_checksum
from worker.naming import check_plugin_id
from worker.port import migrations_dir

SUCCEEDED = "succeeded"
TERMINAL = frozenset({"succeeded", "failed", "rejected", "skipped", "timed-out"})


@dataclass
class Item:
    """One plugin of the fleet run."""

    plugin_id: str
    state: str = "waiting"
    request_id: str | None = None
    operation_id: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "plugin_id": self.plugin_id,
            "state": self.state,
            "request_id": self.request_id,
            "operation_id": self.operation_id,
            "error": self.error,
        }


SURVEY_PROCESSES_FROM = 2000
"""Survey in one process per idle CPU from this many plugins on (below, forking costs more)."""


@dataclass(frozen=True)
class Surveyed:
    """One ready plugin as :func:`survey` found it."""

    plugin_id: str
    deps: list[str]
    refused: str | None = None
    current: bool = False


def files_checksum(root: Path, manifest: Any) -> str:
    """The set checksum of a plugin's files under ``root`` (read, not parsed, when it can);
    ``worker.migrations.gate.files_checksum``, without the ORM it imports."""
    folder = root / manifest.id
    where = migrations_dir(folder, manifest)
    quick = folder_checksum(where, folder)
    return quick if quick is not None else set_checksum(load_dir(where, folder))


def survey_one(root: Path, plugin_id: str, descriptor: Any, stored: Any) -> Surveyed:
    """A plugin's dependencies, and whether it is up to date (or why it is refused)."""
    try:
        manifest = find_manifest(root / check_plugin_id(plugin_id), stored)
        remembered = checksum_in(descriptor)
        current = bool(manifest and remembered and remembered == files_checksum(root, manifest))
    except RequestRejected as exc:
        return Surveyed(plugin_id, [], str(exc))
    found = manifest.database.dependencies if manifest is not None else []
    return Surveyed(plugin_id, direct(found), None, current)


Row = tuple[str, Any, Any]
"""(plugin_id, descriptor, stored manifest) of a ready datasource."""


def _survey_chunk(root: Path, rows: list[Row]) -> list[Surveyed]:
    return [survey_one(root, *row) for row in rows]


def idle_cpus() -> int:
    """CPUs this process may use that the last minute's load leaves idle (at least one)."""
    cpus = len(os.sched_getaffinity(0))
    return max(1, min(cpus, cpus - int(os.getloadavg()[0])))


def survey(root: Path, rows: list[Row], processes: int | None = None) -> list[Surveyed]:
    """:func:`survey_one` of every row, in order; a large fleet is forked over the idle CPUs
    (on a busy machine more processes only wait for each other)."""
    count = processes or idle_cpus()
    if count < 2 or len(rows) < SURVEY_PROCESSES_FROM:
        return _survey_chunk(root, rows)
    size = -(-len(rows) // count)
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    with multiprocessing.get_context("fork").Pool(len(chunks)) as pool:
        parts = pool.starmap(_survey_chunk, [(root, chunk) for chunk in chunks])
    return [found for part in parts for found in part]


Outcome = tuple[str, int | None, str | None]
"""(terminal operation state, operation id, error) of a finished request."""


@dataclass
class Fleet:
    """The scheduler's inputs; :meth:`run` drives it to the end."""

    order: Sequence[str]
    deps: Mapping[str, Sequence[str]]
    parallel: int
    submit: Callable[[str], str]
    poll: Callable[[list[str]], Mapping[str, Outcome]]
    on_change: Callable[[Item], None] = lambda _item: None
    interval: float = 0.1
    timeout: float = 3600.0

    def run(self, *, wait: bool) -> list[Item]:
        """Submit everything in order; with ``wait``, also wait for the last ones to finish."""
        items = {p: Item(p) for p in self.order}
        queue, flying = list(self.order), dict[str, str]()
        deadline = time.monotonic() + self.timeout
        while queue or (flying and wait):
            self._start(items, queue, flying)
            if not queue and not wait:
                break
            if time.monotonic() > deadline:
                for plugin in [*flying.values(), *queue]:
                    self._set(items[plugin], "timed-out", error="no outcome before the deadline")
                break
            for request_id, (state, op_id, error) in self.poll(list(flying)).items():
                plugin = flying.pop(request_id)
                items[plugin].operation_id = op_id
                self._set(items[plugin], state, error=error)
            if queue or flying:
                time.sleep(self.interval)
        return [items[p] for p in self.order]

    def _start(self, items: dict[str, Item], queue: list[str], flying: dict[str, str]) -> None:
        """Start what may start, in order; the scan stops once ``parallel`` are in flight (the
        plugins after that point are looked at again at the next poll, every one of them
        before the run ends)."""
        at = 0
        while at < len(queue) and len(flying) < self.parallel:
            plugin = queue[at]
            deps = [d for d in self.deps.get(plugin, ()) if d in items]
            bad = [d for d in deps if items[d].state in TERMINAL - {SUCCEEDED}]
            if bad:
                queue.pop(at)
                why = f"dependency {bad[0]} {items[bad[0]].state}"
                self._set(items[plugin], "skipped", error=why)
            elif all(items[d].state == SUCCEEDED for d in deps):
                queue.pop(at)
                request_id = self.submit(plugin)
                flying[request_id] = plugin
                items[plugin].request_id = request_id
                self._set(items[plugin], "enqueued")
            else:
                at += 1  # waits for its dependencies

    def _set(self, item: Item, state: str, error: str | None = None) -> None:
        item.state, item.error = state, error
        self.on_change(item)
