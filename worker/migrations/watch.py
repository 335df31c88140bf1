"""Marks a long-running version ``running`` from one helper thread per migrate.

Where DDL is not transactional a file can stop half-way; a version that has run for
:data:`AFTER` seconds is marked ``running`` in tracking while it still runs, so a long file
shows as running. Quick files cost no tracking write and no thread start: one thread per
migrate waits for the deadline of the version in progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
AFTER = 0.5
"""Seconds a version runs before it is marked."""


class Watch(Generic[T]):
    """Calls ``mark(item)`` from a helper thread once an item has been running ``after`` s."""

    def __init__(self, mark: Callable[[T], None], after: float = AFTER) -> None:
        self.mark, self.after = mark, after
        self.cond = threading.Condition()
        self.current: T | None = None
        self.since = 0.0
        self.busy = self.closed = False
        self.failed: list[BaseException] = []
        self.thread: threading.Thread | None = None

    @contextmanager
    def running(self, item: T) -> Iterator[None]:
        """While the block runs, ``item`` is marked once it has run ``after`` seconds. The mark
        has finished (or never started) when the block ends; its error is raised here."""
        with self.cond:
            self.current, self.since = item, time.monotonic()
            self.cond.notify_all()
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="migration-watch", daemon=True)
            self.thread.start()
        try:
            yield
        finally:
            with self.cond:
                self.current = None
                while self.busy:
                    self.cond.wait()
        if self.failed:
            raise self.failed.pop()

    def close(self) -> None:
        """Stop the helper thread."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join()

    def _run(self) -> None:
        with self.cond:
            while not self.closed:
                if self.current is None:
                    self.cond.wait()
                    continue
                left = self.since + self.after - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                item, self.current, self.busy = self.current, None, True
                self.cond.release()
                try:
                    self.mark(item)
                except BaseException as exc:  # raised in the migrating thread
                    self.failed.append(exc)
                finally:
                    self.cond.acquire()
                    self.busy = False
                    self.cond.notify_all()
