"""The plugin manifest (``plugin.json`` → ``sovereign.database``), validated with pydantic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from worker.errors import ManifestError
from worker.jsontext import UNSTORABLE, depth, unstorable_text
from worker.naming import check_plugin_id, namespace

MAX_MANIFEST_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32


class Mode(StrEnum):
    """Storage modes a plugin may ask for."""

    SHARED = "shared"
    EXCLUSIVE_SQLITE = "exclusive-sqlite"
    EXCLUSIVE_POSTGRES = "exclusive-postgres"
    EXCLUSIVE_MYSQL = "exclusive-mysql"


# provider names accepted for each mode, the first being the canonical one
MODE_PROVIDERS: dict[Mode, tuple[str, ...]] = {
    Mode.SHARED: ("shared", "sqlite", "postgresql", "postgres", "mysql", "mariadb"),
    Mode.EXCLUSIVE_SQLITE: ("sqlite",),
    Mode.EXCLUSIVE_POSTGRES: ("postgresql", "postgres"),
    Mode.EXCLUSIVE_MYSQL: ("mysql", "mariadb"),
}


def _relative_path(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value or "\x00" in value:
        raise ValueError("must be a relative path inside the plugin folder (no '..', no leading /)")
    return value


RelativePath = Annotated[str, Field(max_length=255), AfterValidator(_relative_path)]


def _plugin_id(value: str) -> str:
    try:
        return check_plugin_id(value, "id")
    except ManifestError as exc:
        raise ValueError(exc.problems[0].split(": ", 1)[1]) from None


PluginId = Annotated[str, AfterValidator(_plugin_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Migrations(_Strict):
    """Where the plugin's SQL migration files are."""

    directory: RelativePath = "migrations"
    entry_point: RelativePath | None = Field(default=None, alias="entryPoint")


class Limits(_Strict):
    """Resource limits the provider enforces (JSON integers: "1", true and 1.0 are refused)."""

    storage_mb: int | None = Field(default=None, alias="storageMb", ge=1, le=1_048_576, strict=True)
    connections: int | None = Field(default=None, ge=1, le=1000, strict=True)
    statement_timeout_ms: int | None = Field(
        default=None, alias="statementTimeoutMs", ge=1, le=86_400_000, strict=True
    )
    idle_in_transaction_timeout_ms: int | None = Field(
        default=None, alias="idleInTransactionTimeoutMs", ge=1, le=86_400_000, strict=True
    )


class SnapshotPolicy(StrEnum):
    """When a migration batch is preceded by a snapshot."""

    ALWAYS = "always"
    DESTRUCTIVE = "destructive"
    NEVER = "never"


class Snapshots(_Strict):
    """``sovereign.database.snapshots``: when to snapshot and how many to keep."""

    before_migrate: SnapshotPolicy = Field(
        default=SnapshotPolicy.DESTRUCTIVE, alias="beforeMigrate"
    )
    keep: int = Field(default=10, ge=1, le=1000, strict=True)
    keep_days: int = Field(default=30, alias="keepDays", ge=1, le=3650, strict=True)


class Rotation(_Strict):
    """How often credentials rotate on schedule."""

    interval_days: int = Field(alias="intervalDays", ge=1, le=3650, strict=True)
    grace_minutes: float = Field(default=60.0, alias="graceMinutes", gt=0, le=10080)
    """How long a rotated-out login stays valid at most (fractions of a minute allowed)."""


_LABEL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Placement(_Strict):
    """``sovereign.database.placement``: labels the plugin's target must carry."""

    labels: dict[Annotated[str, Field(pattern=_LABEL)], Annotated[str, Field(max_length=128)]] = (
        Field(default_factory=dict, max_length=16)
    )


def _dependency(value: str) -> str:
    return value if value == "core" else _plugin_id(value)


class Database(_Strict):
    """``sovereign.database``: the storage a plugin asks for."""

    mode: Mode = Mode.SHARED
    provider: str | None = Field(default=None, max_length=32)
    schema_name: str | None = Field(default=None, alias="schema", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    migrations: Migrations = Field(default_factory=Migrations)
    declarative_schema: RelativePath | None = Field(default=None, alias="declarativeSchema")
    limits: Limits = Field(default_factory=Limits)
    dependencies: list[Annotated[str, AfterValidator(_dependency)]] = Field(
        default_factory=list, max_length=64
    )
    feature_flag: str | None = Field(
        default=None, alias="featureFlag", pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$"
    )
    rotation: Rotation | None = None
    snapshots: Snapshots = Field(default_factory=Snapshots)
    placement: Placement = Field(default_factory=Placement)

    @model_validator(mode="after")
    def _provider_agrees(self) -> Database:
        if self.provider is not None and self.provider not in MODE_PROVIDERS[self.mode]:
            allowed = ", ".join(MODE_PROVIDERS[self.mode])
            raise ValueError(
                f"provider {self.provider!r} does not agree with mode {self.mode.value!r}; "
                f"use one of: {allowed} (or leave provider out)"
            )
        return self


class Sovereign(BaseModel):
    """The ``sovereign`` block; keys other than ``database`` belong to other subsystems."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    schema_version: int = Field(default=2, alias="schemaVersion", ge=1, le=2, strict=True)
    database: Database = Field(default_factory=Database)


class Manifest(BaseModel):
    """A validated ``plugin.json``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    id: PluginId
    name: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=64)
    sovereign: Sovereign = Field(default_factory=Sovereign)

    @property
    def database(self) -> Database:
        """Shortcut for ``sovereign.database``."""
        return self.sovereign.database

    @model_validator(mode="after")
    def _schema_in_namespace(self) -> Manifest:
        schema = self.database.schema_name
        ns = namespace(self.id)
        if schema is not None and schema != ns and not schema.startswith(ns + "_"):
            raise ValueError(
                f"sovereign.database.schema {schema!r} must be the plugin's namespace {ns!r} "
                f"or start with '{ns}_'"
            )
        return self


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "manifest"
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key; remove it or check its spelling against the manifest contract"
    elif kind == "enum":
        allowed = ", ".join(m.value for m in Mode)
        message = f"unknown value {error.get('input')!r}; use one of: {allowed}"
    elif kind == "missing":
        message = "is required"
    return f"{loc}: {message}"


def parse_manifest(data: object) -> Manifest:
    """Validate a decoded manifest; raise ManifestError naming every bad field."""
    if not isinstance(data, dict):
        raise ManifestError("invalid manifest", ["manifest: must be a JSON object"])
    if depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ManifestError("invalid manifest", [f"manifest: nested deeper than {MAX_JSON_DEPTH}"])
    bad = unstorable_text(data, "manifest")
    if bad is not None:
        raise ManifestError("invalid manifest", [f"{bad}: {UNSTORABLE}"])
    try:
        return Manifest.model_validate(data)
    except ManifestError:
        raise
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors(include_url=False)]
        raise ManifestError("invalid manifest", problems) from None


def load_manifest_bytes(raw: bytes) -> Manifest:
    """Decode and validate the bytes of a plugin.json file."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            "invalid manifest", [f"plugin.json: larger than {MAX_MANIFEST_BYTES} bytes"]
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError("invalid manifest", ["plugin.json: is not valid UTF-8"]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = getattr(exc, "msg", "nested too deeply")
        raise ManifestError(
            "invalid manifest", [f"plugin.json: not valid JSON ({reason})"]
        ) from None
    return parse_manifest(data)


def relocated_manifest(kind: object, manifest: Manifest, mode: str) -> Manifest:
    """``manifest`` in the ``mode`` its plugin was relocated to; a provision must agree."""
    if str(getattr(kind, "value", kind)) == "provision":
        raise ManifestError(
            "mode change",
            [
                f"sovereign.database.mode: {manifest.id} lives in {mode}; move it with "
                f"plugin-db relocate {manifest.id} --mode "
                f"{manifest.database.mode.value} (or tear it down with --purge first)"
            ],
        )
    data = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    database = data["sovereign"]["database"]
    database["mode"] = mode
    database.pop("provider", None)
    return parse_manifest(data)


def find_manifest(plugin_dir: Path, *stored: Mapping[str, Any] | None) -> Manifest | None:
    """The manifest lookup order, defined once: the folder's plugin.json, then each stored one."""
    path = plugin_dir / "plugin.json"
    if path.is_file():
        return load_manifest_bytes(path.read_bytes())
    for data in stored:
        if data:
            return parse_manifest(dict(data))
    return None
