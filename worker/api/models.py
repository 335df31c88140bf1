"""Request bodies and answers of the HTTP API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Path
from pydantic import BaseModel, ConfigDict, Field

from worker.naming import PLUGIN_ID_RE

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
    created_at: datetime | None = None
    finished_at: datetime | None = None


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
