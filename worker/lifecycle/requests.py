"""Lifecycle requests (contract section 2), validated before anything happens."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from worker.errors import RequestRejected
from worker.jsontext import UNSTORABLE, unstorable_text
from worker.manifest import Mode, Placement
from worker.naming import check_plugin_id
from worker.states import Kind

_TEXT = r"^[\x20-\x7e]+$"  # printable ASCII: request ids and actors end up in logs and tables


def _plugin_id(value: str) -> str:
    try:
        return check_plugin_id(value)
    except RequestRejected as exc:
        raise ValueError(exc.problems[0].split(": ", 1)[1]) from None


class Request(BaseModel):
    """Fields every request carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    plugin_id: Annotated[str, Field(max_length=64), AfterValidator(_plugin_id)]
    request_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    requested_by: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)


class ProvisionRequest(Request):
    """``plugin_db.provision``."""

    manifest: dict[str, Any] | None = None
    target: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """The target (server) to place the plugin on; default: chosen by placement."""
    placement: Placement | None = None
    """Placement hints (labels a target must carry); the manifest's when absent."""


class RelocateRequest(Request):
    """``plugin_db.relocate``: move the plugin, with its data, to another target or mode."""

    mode: Mode | None = Field(default=None, strict=False)
    """The mode to move to (default: the current one)."""
    target: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """The target to move to (default: chosen by placement among the others)."""


class MigrateRequest(Request):
    """``plugin_db.migrate``; ``target`` "0" rolls every migration back."""

    target: str | None = Field(default=None, max_length=50, pattern=r"^\d+(_\d+)?$")
    dry_run: bool = False
    force: bool = False


class TeardownRequest(Request):
    """``plugin_db.teardown``; archive unless ``purge``."""

    purge: bool = False
    snapshot: bool = True


class RestoreSnapshotRequest(Request):
    """``plugin_db.restore_snapshot``: bring the storage back to snapshot ``snapshot_id``."""

    snapshot_id: int = Field(ge=1)


class RegisterSchemaRequest(Request):
    """``plugin_db.register_schema``."""

    schema_document: dict[str, Any] = Field(alias="schema")
    force: bool = False


class RetireRequest(Request):
    """Internal ``plugin_db.retire_credentials``: retire a rotated-out login."""

    retirement_id: int = Field(ge=1)
    trigger: Literal["ack", "sessions", "grace"] = "grace"


class ResumeRequest(BaseModel):
    """Internal ``plugin_db.resume``: run an accepted operation again."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    operation_id: int = Field(ge=1)


REQUEST_MODELS: dict[Kind, type[Request]] = {
    Kind.PROVISION: ProvisionRequest,
    Kind.MIGRATE: MigrateRequest,
    Kind.ROTATE: Request,
    Kind.TEARDOWN: TeardownRequest,
    Kind.RESTORE: Request,
    Kind.REGISTER_SCHEMA: RegisterSchemaRequest,
    Kind.UNREGISTER_SCHEMA: Request,
    Kind.RELOCATE: RelocateRequest,
    Kind.RETIRE: RetireRequest,
    Kind.RESTORE_SNAPSHOT: RestoreSnapshotRequest,
    Kind.SNAPSHOT: Request,
}


def _describe(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"]) or "request"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{loc}: unknown field; remove it (see the contract's request fields)"
    if kind == "missing":
        return f"{loc}: is required"
    return f"{loc}: {str(error['msg']).removeprefix('Value error, ')}"


def parse_request(kind: Kind, payload: object, extra: tuple[Any, ...] = ()) -> Request:
    """Validate a task's payload; RequestRejected names every bad field."""
    if extra:
        raise RequestRejected(
            "malformed request",
            ["args: the task takes exactly one positional argument, a JSON object"],
        )
    if not isinstance(payload, dict):
        raise RequestRejected("malformed request", ["request: must be a JSON object"])
    try:
        request = REQUEST_MODELS[kind].model_validate(payload)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        raise RequestRejected("invalid request", problems) from None
    bad = unstorable_text(payload, "request")
    if bad is not None:  # e.g. free-form JSON inside manifest or schema
        raise RequestRejected("invalid request", [f"{bad}: {UNSTORABLE}"])
    return request


def request_id_of(payload: object, fallback: str) -> str:
    """The idempotency key: the request's ``request_id`` if usable, else the task id."""
    if isinstance(payload, dict):
        value = payload.get("request_id")
        if isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable():
            return value
    return fallback
