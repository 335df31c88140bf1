"""Fleet migrate: one migrate per plugin, dependencies first, at most N in flight.

A plugin is submitted once every dependency inside the fleet has succeeded; a dependency
that failed (or was skipped) skips its dependents. Submitting and polling are injected, so
the scheduler is tested without a broker and the CLI plugs in Celery and the tracking tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
        for plugin in list(queue):
            deps = [d for d in self.deps.get(plugin, ()) if d in items]
            bad = [d for d in deps if items[d].state in TERMINAL - {SUCCEEDED}]
            if bad:
                queue.remove(plugin)
                why = f"dependency {bad[0]} {items[bad[0]].state}"
                self._set(items[plugin], "skipped", error=why)
            elif len(flying) < self.parallel and all(items[d].state == SUCCEEDED for d in deps):
                queue.remove(plugin)
                request_id = self.submit(plugin)
                flying[request_id] = plugin
                items[plugin].request_id = request_id
                self._set(items[plugin], "enqueued")

    def _set(self, item: Item, state: str, error: str | None = None) -> None:
        item.state, item.error = state, error
        self.on_change(item)
