"""What the command line needs of the lifecycle service to record and enqueue requests.

A request checked by its manifest alone (teardown, rotate, restore, snapshot, ...) is
recorded through the database driver (:mod:`worker.cli.record`), with no SQLAlchemy. Other
kinds go through the intake (every check a request passes before it is accepted) and the
operation store, without the runner and the engines it drives (schema, migration apply,
relocation). Either way the operation is recorded before its message is sent, and the
message is the one the HTTP API sends (:func:`worker.lifecycle.submit.send`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from worker.cli.output import EXIT_FAILED, fail, sessions, settings
from worker.errors import RequestRejected, TrackingOutOfDate, TrackingUnavailable
from worker.lifecycle.manifests import MANIFEST_ONLY
from worker.states import Kind

if TYPE_CHECKING:
    from celery import Celery

    from worker.lifecycle.service import LifecycleService
    from worker.port import Change


class Producer:
    """The parts of :class:`~worker.lifecycle.service.LifecycleService` that submitting uses."""

    def __init__(self) -> None:
        from providers.targets import Targets
        from worker.lifecycle.intake import Intake
        from worker.lifecycle.store import OperationStore

        self.settings = settings()
        self.sessions = sessions()
        self.store = OperationStore(self.sessions, self.settings.lease_seconds)
        self.targets = Targets.from_settings(self.settings)
        self.intake = Intake(self.settings, self.sessions, self.store, self.targets)

    def validate(self, kind: Kind, request: Any) -> Change | None:
        """Everything that can be checked before a side effect, raising RequestRejected;
        what to commit with the operation's row."""
        return self.intake.validate(kind, request)

    def accept(self, kind: Kind, payload: object, extra: tuple[Any, ...], task_id: str) -> int:
        """Record the request as an operation (or find it by request_id); returns its id."""
        return self.intake.accept(kind, payload, extra, task_id)


def submit(kind: Kind, payload: dict[str, Any]) -> tuple[Any, bool]:
    """Record ``payload`` (RequestRejected, audited, if it is refused), then send it if it is
    new; returns (operation row, created)."""
    from worker.lifecycle import submit as submitting

    if kind not in MANIFEST_ONLY:
        require_current()
        return submitting.submit(service(), celery(), kind, payload)
    op, created = record(kind, payload)
    if created:
        submitting.send(celery(), op)
    return op, created


def require_current() -> None:
    """TrackingOutOfDate unless the tracking database is at this code's revision (one SELECT
    on the database driver, before the intake loads)."""
    from worker.cli.reads import reader

    with reader(settings().database_url) as found:
        found.require_current()


def writable(as_json: bool) -> None:
    """For a command that writes: exit 1 with one line unless :func:`require_current`."""
    try:
        require_current()
    except (TrackingOutOfDate, TrackingUnavailable) as exc:
        fail(str(exc), EXIT_FAILED, as_json)


def record(kind: Kind, payload: dict[str, Any]) -> tuple[Any, bool]:
    """Record a request of a manifest-only kind through the driver, as
    :func:`~worker.lifecycle.submit.record` does (a refusal is audited, then raised)."""
    from worker.cli.reads import reader
    from worker.cli.record import DriverService
    from worker.lifecycle import submit as submitting

    with reader(settings().database_url) as found:
        found.require_current()
        driver = DriverService(settings(), found)
        try:
            return submitting.record(cast("LifecycleService", driver), kind, payload)
        except RequestRejected as exc:
            plugin_id, actor, details = submitting.rejection(kind, payload, exc)
            driver.store.audit("request_rejected", plugin_id, actor, **details)
            raise


def service() -> LifecycleService:
    """A producer on the current settings, typed as the service the submit functions take
    (it has what they use)."""
    return cast("LifecycleService", Producer())


def celery() -> Celery:
    """A Celery app on the current settings that sends the public tasks' messages."""
    from worker.celery_app import create_producer

    return create_producer(settings())
