"""Values the provider contract passes around: specs, logins, descriptors, health, orphans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from worker.naming import namespace


class StorageState(StrEnum):
    """What a provider finds in its backend for one plugin."""

    ABSENT = "absent"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class PluginSpec:
    """What a provider needs to know about a plugin; built from its manifest."""

    plugin_id: str
    storage_mb: int | None = None
    connections: int | None = None
    schema: str | None = None
    feature_flag: str | None = None
    statement_timeout_ms: int | None = None
    idle_in_transaction_timeout_ms: int | None = None

    @property
    def namespace(self) -> str:
        """SQL-safe namespace (the id with '-' as '_')."""
        return namespace(self.plugin_id)


@dataclass(frozen=True)
class Login:
    """A credential issued to a plugin. Never logged: its repr hides the password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Descriptor:
    """How a plugin reaches its storage; safe to store and show (no password, ever)."""

    provider: str
    url: str
    username: str | None = None
    objects: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in ``plugin_datasources.descriptor``."""
        return {
            "provider": self.provider,
            "url": self.url,
            "username": self.username,
            "objects": dict(self.objects),
            "limits": dict(self.limits),
        }


@dataclass(frozen=True)
class RuntimeConnection:
    """How a plugin's runtime connects: a URL Prisma and the drivers accept, with password."""

    url: str = field(repr=False)
    schema: str | None = None
    database: str | None = None
    username: str | None = None


def file_connection(path: str) -> RuntimeConnection:
    """``file:/abs/path.db``: the SQLite URL form Prisma and its adapters accept."""
    return RuntimeConnection(url="file:" + quote(path))


@dataclass(frozen=True)
class Namespace:
    """Where a plugin's migrations may create, alter or drop objects.

    ``containers`` are the schema/database qualifiers a statement may use (an unqualified
    name is always resolved inside the plugin's own container); ``table_prefix``, when
    set, is a prefix every object name must carry (shared mode).
    """

    containers: frozenset[str] = frozenset()
    table_prefix: str | None = None


@dataclass(frozen=True)
class Health:
    """Result of a provider health check, from the plugin's own point of view."""

    ok: bool
    size_bytes: int | None = None
    connection_limit: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Orphan:
    """Storage named like a plugin's that no datasource tracks (found by ``doctor``)."""

    what: str
    """What it is, e.g. ``PostgreSQL schema 'x' (roles x_owner, x_a)``."""
    remedy: str
    """The statements or command that remove it."""
    plugin_id: str | None = None
    """The plugin it would belong to, when the name tells."""
