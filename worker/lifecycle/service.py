"""The lifecycle service: one intake and one runner per worker process, sharing a store.

:class:`~worker.lifecycle.intake.Intake` turns a request into an operation row;
:class:`~worker.lifecycle.runner.Runner` drives an operation to its outcome;
:class:`~worker.lifecycle.store.OperationStore` is the only writer of operation state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from providers.base import Provider
from providers.targets import Targets
from worker.lifecycle.intake import Intake
from worker.lifecycle.requests import Request
from worker.lifecycle.runner import Runner
from worker.lifecycle.store import OperationStore
from worker.manifest import Manifest
from worker.port import Change
from worker.secrets import SecretBox
from worker.settings import Settings
from worker.states import Kind
from worker.tracking.db import make_engine, make_sessionmaker


class LifecycleService:
    """Accepts lifecycle requests and runs their operations; one per worker process."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.store = OperationStore(self.sessions, settings.lease_seconds)
        self.box = SecretBox.from_settings(settings)
        self.targets = Targets.from_settings(settings)
        self.intake = Intake(settings, self.sessions, self.store, self.targets)
        self.runner = Runner(settings, self.store, self.box, self.intake)

    def accept(
        self,
        kind: Kind,
        payload: object,
        extra: tuple[Any, ...],
        task_id: str,
        *,
        run_here: bool = False,
    ) -> int:
        """Record the request as an operation (or find it by request_id); returns its id.

        ``run_here``: the caller runs it next (``run``); a new operation is then leased to
        this process as it is inserted, when it may run at once.
        """
        return self.intake.accept(kind, payload, extra, task_id, run_here=run_here)

    def validate(self, kind: Kind, request: Request) -> Change | None:
        """Everything that can be checked before a side effect, raising RequestRejected;
        what to commit with the operation's row (see ``Intake.validate``)."""
        return self.intake.validate(kind, request)

    def manifest_for(self, kind: Kind, request: Request) -> Manifest:
        """The manifest to work from (see :meth:`Intake.manifest_for`)."""
        return self.intake.manifest_for(kind, request)

    def plugin_dir(self, plugin_id: str) -> Path:
        """``<plugins root>/<plugin_id>``, confined to the root."""
        return self.intake.plugin_dir(plugin_id)

    def provider(self, target: str) -> Provider:
        """The driver of ``target``, built once per process."""
        return self.targets.provider(target)

    def run(self, op_id: int, *, final_attempt: bool = False) -> dict[str, Any]:
        """Drive an operation until it succeeds or fails; raises TransientError to be retried."""
        return self.runner.run(op_id, final_attempt=final_attempt)

    def summary(self, op_id: int) -> dict[str, Any]:
        """The task result: never a secret."""
        return self.runner.summary(op_id)
