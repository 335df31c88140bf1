"""A worker's hold on an operation (its lease), as the operation store hands it out."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.logging import get_logger
from worker.states import OpState
from worker.tracking.models import LifecycleOperation

log = get_logger("lease")


@dataclass
class Claim:
    """A worker's hold on an operation: its lease owner token and the version it last wrote."""

    op_id: int
    owner: str
    version: int
    op: LifecycleOperation | None = None
    """The row as claimed (state running, attempts counted), so the caller need not reread it."""
    state: OpState = OpState.RUNNING
    """The state this worker last wrote; every move from it is checked (OP_TRANSITIONS)."""


def new_owner() -> str:
    """A lease owner token unique to this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Heartbeats:
    """One thread per process extends the leases of the steps running in it.

    ``beating(claim)`` registers a claim for as long as its step's provider call runs; the
    thread (started once, on first use) calls ``beat(claim)`` for every registered claim every
    ``interval`` seconds. A claim whose beat fails stays registered until its step ends: the
    next fenced write is what says the lease was lost.
    """

    def __init__(self, beat: Callable[[Claim], bool], interval: float) -> None:
        self.beat, self.interval = beat, interval
        self.claims: dict[int, Claim] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pid = 0

    @contextmanager
    def beating(self, claim: Claim) -> Iterator[None]:
        """Keep ``claim``'s lease alive while the block runs."""
        with self.lock:
            self.claims[id(claim)] = claim
            self._ensure_thread()
        try:
            yield
        finally:
            with self.lock:
                self.claims.pop(id(claim), None)

    def _ensure_thread(self) -> None:
        # a forked child inherits the object but not the thread: start one per process
        if self.thread is None or self.pid != os.getpid() or not self.thread.is_alive():
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._run, name="lease-heartbeats", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        wake = threading.Event()
        while True:
            wake.wait(self.interval)
            with self.lock:
                due = list(self.claims.values())
            for claim in due:
                try:
                    self.beat(claim)
                except Exception as exc:  # one failed beat must not end the others
                    log.warning("lease_heartbeat_failed", operation_id=claim.op_id, error=str(exc))
