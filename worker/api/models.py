"""Request bodies and answers of the HTTP API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from worker.naming import PLUGIN_ID_RE


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC (RFC 3339 needs the offset)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc)]
PluginId = Annotated[
    str,
    Path(alias="pluginId", min_length=1, max_length=40, pattern=PLUGIN_ID_RE.pattern),
]
OperationId = Annotated[int, Path(alias="operationId", ge=1, le=2**31 - 1)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~][ -~]*$",
        description="Becomes the request_id: the same key returns the same operation.",
    ),
]


class Body(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ProvisionBody(Body):
    """``plugin_db.provision`` without plugin_id; the manifest defaults to the plugin folder's."""

    manifest: dict[str, Any] | None = None


class MigrateBody(Body):
    """``plugin_db.migrate``; ``target`` "0" rolls every migration back."""

    target: str | None = Field(default=None, max_length=50, pattern=r"^\d+(_\d+)?$")
    dry_run: bool = False
    force: bool = False


class TeardownBody(Body):
    """``plugin_db.teardown``: archive unless ``purge``."""

    purge: bool = False


class EmptyBody(Body):
    """Requests with no field besides the plugin id."""


class OperationSummary(BaseModel):
    """What a mutation answers (``202``)."""

    operation_id: int
    plugin_id: str
    kind: str
    state: str
    error: str | None = None


class OperationDetail(OperationSummary):
    """An operation with its steps (``GET /api/operations/{operationId}``)."""

    steps: list[dict[str, Any]] = []
    current_step: str | None = None
    request_id: str
    requested_by: str | None = None
    attempts: int = 0
    result: dict[str, Any] = {}
    created_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class ConnectionDoc(BaseModel):
    """What the plugin's runtime needs to connect (``PLUGIN_DATABASE_URL``)."""

    plugin_id: str
    url: str
    env: dict[str, str]
    provider: str
    schema_: str | None = Field(alias="schema", serialization_alias="schema")
    database: str | None
    username: str | None
    generation: int

    model_config = ConfigDict(populate_by_name=True)


class SchemaRow(BaseModel):
    """A registered schema: status, version, errors and the document."""

    plugin_id: str
    version: str
    status: str
    live: bool
    registered_at: Timestamp | None = None
    activated_at: Timestamp | None = None
    deactivated_at: Timestamp | None = None
    last_error: str | None = None
    validation_errors: list[Any] | None = None
    schema_definition: dict[str, Any]


class Validation(BaseModel):
    """A valid document's summary (invalid ones answer 422 with every problem)."""

    valid: bool
    plugin_id: str
    version: str
    tables: list[str]
    enums: list[str]


class Migration(BaseModel):
    """One row of the plugin's migration history."""

    version: str
    name: str
    status: str
    executed_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    rolled_back_at: Timestamp | None = None
    execution_time_ms: int | None = None
    error_message: str | None = None
    checksum: str | None = None


class ConflictItem(BaseModel):
    """A conflict between registered schemas."""

    kind: str
    plugins: list[str]
    object: str
    message: str


class Conflicts(BaseModel):
    """Conflicts among every registered schema."""

    schemas: int
    conflicts: list[ConflictItem]
