"""The public lifecycle tasks of the contract (section 2): one JSON object argument each."""

from __future__ import annotations

from typing import Any

from tasks.base import LifecycleTask, service
from worker.celery_app import app
from worker.errors import RequestRejected
from worker.lifecycle.requests import ResumeRequest
from worker.states import Kind


def _public(kind: Kind) -> Any:
    def run(self: LifecycleTask, request: Any = None, *extra: Any, **kwargs: Any) -> dict[str, Any]:
        return self.lifecycle(kind, request, extra + tuple(kwargs.items()))

    run.__name__ = kind.value
    run.__doc__ = f"``{kind.task_name}``: accept the request and run it to an outcome."
    return app.task(name=kind.task_name, bind=True, base=LifecycleTask)(run)


provision = _public(Kind.PROVISION)
migrate = _public(Kind.MIGRATE)
rotate_credentials = _public(Kind.ROTATE)
teardown = _public(Kind.TEARDOWN)
restore = _public(Kind.RESTORE)
register_schema = _public(Kind.REGISTER_SCHEMA)
unregister_schema = _public(Kind.UNREGISTER_SCHEMA)
relocate = _public(Kind.RELOCATE)
retire_credentials = _public(Kind.RETIRE)  # internal: retire a rotated-out login
restore_snapshot = _public(Kind.RESTORE_SNAPSHOT)
snapshot = _public(Kind.SNAPSHOT)


@app.task(name="plugin_db.resume", bind=True, base=LifecycleTask)
def resume(self: LifecycleTask, request: Any = None) -> dict[str, Any]:
    """Internal: run an accepted operation again (reconciler, ``plugin-db retry``)."""
    try:
        op_id = ResumeRequest.model_validate(request).operation_id
    except Exception as exc:
        raise RequestRejected(
            "invalid resume request", ["operation_id: a positive integer"]
        ) from exc
    service()
    return self.drive(op_id)
