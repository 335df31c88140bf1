"""Provider registry: built-in drivers by name, lazily imported, extended via entry points.

Third parties register a driver in their package metadata::

    [project.entry-points."plugin_db.providers"]
    mydriver = "my_package.driver:MyProvider"
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from providers.base import Provider
from worker.errors import ProviderError

ENTRY_POINT_GROUP = "plugin_db.providers"

_BUILTIN = {
    "sqlite": "providers.sqlite:SQLiteProvider",
    "postgresql": "providers.postgres:PostgresProvider",
    "mysql": "providers.mysql:MySQLProvider",
    "shared": "providers.shared:SharedProvider",
    "memory": "providers.memory:MemoryProvider",
}


def _load(target: str) -> type[Provider]:
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ProviderError(f"{target} is not a plugin_db Provider subclass")
    return cls


def _discovered() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available() -> list[str]:
    """Names of every registered driver, built-in and third-party."""
    return sorted({**_discovered(), **_BUILTIN})


@cache
def get_provider_class(name: str) -> type[Provider]:
    """The driver class registered as ``name`` (imported on first use)."""
    target = _BUILTIN.get(name) or _discovered().get(name)
    if target is None:
        raise ProviderError(f"no provider named {name!r}; registered: {', '.join(available())}")
    return _load(target)
