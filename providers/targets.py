"""Targets: named database servers (or the SQLite data folder), each served by a driver.

A targets file (``PLUGIN_DB_TARGETS``) lists them in TOML::

    [targets.pg-main]
    driver = "postgresql"                 # a registered driver (built-in or entry point)
    admin_url = "postgresql://admin:pw@db1:5432/plugins"
    labels = { region = "eu", tier = "gold" }   # placement hints must match these
    capacity = { plugins = 500, storage_mb = 200000, connections = 2000 }
    state = "open"                        # "open" | "draining" | "closed"

``capacity`` bounds what placement puts there (``capacity = 500`` is short for
``{ plugins = 500 }``; a dimension left out is not bounded). Only ``open`` targets receive
new plugins; ``draining`` ones are being emptied (``plugin-db targets drain``).

Without the file, the historical variables define one default target per built-in driver,
named after it: ``sqlite`` (``PLUGIN_DB_DATA_DIR``), ``shared`` (``PLUGIN_DB_SHARED_URL``),
``postgresql`` (``PLUGIN_DB_POSTGRES_ADMIN_URL``) and ``mysql`` (``PLUGIN_DB_MYSQL_ADMIN_URL``).
A mode is served by the targets whose driver declares it in :attr:`Provider.modes`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.base import Provider
from providers.registry import get_provider_class
from worker.errors import ProviderError, TargetError, UnknownTarget
from worker.settings import Settings

_KEYS = frozenset({"driver", "admin_url", "labels", "capacity", "options", "state"})
DIMENSIONS = ("plugins", "storage_mb", "connections")
"""Capacity dimensions: plugins held, ``limits.storageMb`` and ``limits.connections`` summed."""
STATES = ("open", "draining", "closed")


@dataclass(frozen=True)
class Target:
    """One named server a driver administers; ``admin_url`` never leaves the worker."""

    name: str
    driver: str
    admin_url: str | None = field(default=None, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    """Dimension (:data:`DIMENSIONS`) → most the target holds; absent: unbounded."""
    options: Mapping[str, Any] = field(default_factory=dict)
    state: str = "open"


def default_targets(settings: Settings) -> dict[str, Target]:
    """One target per built-in driver, from the historical ``PLUGIN_DB_*`` variables."""
    shared = settings.shared_url or f"sqlite:///{settings.data_dir / 'shared.db'}"
    found = {
        "shared": Target("shared", "shared", shared),
        "sqlite": Target("sqlite", "sqlite", str(settings.data_dir)),
    }
    for name, url in (
        ("postgresql", settings.postgres_admin_url),
        ("mysql", settings.mysql_admin_url),
    ):
        if url:  # without its admin URL a server driver has no default target
            found[name] = Target(name, name, url)
    return found


def _target(name: str, body: object) -> Target:
    if not isinstance(body, dict):
        raise TargetError(f"targets.{name}: must be a table")
    if unknown := sorted(set(body) - _KEYS):
        raise TargetError(f"targets.{name}: unknown keys {unknown}")
    driver, url = body.get("driver"), body.get("admin_url")
    labels = body.get("labels", {})
    if not isinstance(driver, str) or not driver:
        raise TargetError(f"targets.{name}.driver: is required (a registered driver name)")
    if url is not None and not isinstance(url, str):
        raise TargetError(f"targets.{name}.admin_url: must be a string")
    state = body.get("state", "open")
    if state not in STATES:
        raise TargetError(f"targets.{name}.state: must be one of {', '.join(STATES)}")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise TargetError(f"targets.{name}.labels: must map names to strings")
    capacity = _capacity(name, body.get("capacity", {}))
    return Target(name, driver, url, labels, capacity, dict(body.get("options", {})), state)


def _capacity(name: str, raw: object) -> dict[str, int]:
    """``capacity``: a table of positive integers per dimension, or an int (plugins)."""
    table = {"plugins": raw} if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(table, dict):
        raise TargetError(f"targets.{name}.capacity: must be a table of {', '.join(DIMENSIONS)}")
    for key, value in table.items():
        if key not in DIMENSIONS:
            raise TargetError(f"targets.{name}.capacity.{key}: not one of {', '.join(DIMENSIONS)}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TargetError(f"targets.{name}.capacity.{key}: must be a positive integer")
    return dict(table)


def load_targets(path: Path) -> dict[str, Target]:
    """The targets of a TOML file, in file order; TargetError names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"cannot read targets file {path}: {exc}") from exc
    table = data.get("targets")
    if not isinstance(table, dict) or not table:
        raise TargetError(f"{path}: needs at least one [targets.<name>] table")
    return {name: _target(name, body) for name, body in table.items()}


class Targets:
    """The configured targets, their driver classes and (built once) their drivers."""

    def __init__(self, targets: Mapping[str, Target], settings: Settings) -> None:
        self.targets, self.settings = dict(targets), settings
        self._drivers: dict[str, Provider] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Targets:
        """The targets file's targets, else the default targets."""
        path = settings.targets_file
        return cls(load_targets(path) if path else default_targets(settings), settings)

    def get(self, name: str) -> Target:
        """The target called ``name``; UnknownTarget when none is."""
        if name not in self.targets:
            known = ", ".join(self.targets)
            raise UnknownTarget("unknown target", [f"target: {name!r} is not one of: {known}"])
        return self.targets[name]

    def driver_class(self, target: Target) -> type[Provider]:
        """The class registered under the target's driver name."""
        try:
            return get_provider_class(target.driver)
        except ProviderError as exc:
            raise TargetError(f"target {target.name!r}: {exc}") from exc

    def serving(self, mode: str) -> list[Target]:
        """Targets whose driver serves ``mode``, in configuration order."""
        return [t for t in self.targets.values() if mode in self.driver_class(t).modes]

    def choose(self, mode: str, requested: str | None = None) -> Target:
        """The requested target (checked against ``mode``), else the first serving ``mode``."""
        if requested is not None:
            target = self.get(requested)
            if mode not in self.driver_class(target).modes:
                raise UnknownTarget(
                    "target cannot serve the mode",
                    [f"target: {requested!r} ({target.driver}) does not serve mode {mode!r}"],
                )
            return target
        serving = self.serving(mode)
        if not serving:
            raise UnknownTarget(
                "no target",
                [
                    f"sovereign.database.mode: no target serves {mode}; configure one in "
                    "PLUGIN_DB_TARGETS (or the driver's admin URL variable)"
                ],
            )
        return serving[0]

    def provider_for(self, target: str | None, mode: str) -> Provider:
        """The driver of a plugin's recorded target, else of the first serving its mode."""
        return self.provider(target or self.choose(mode).name)

    def provider(self, name: str) -> Provider:
        """The driver of target ``name``, built once per process."""
        if name not in self._drivers:
            target = self.get(name)
            self._drivers[name] = self.driver_class(target).from_target(target, self.settings)
        return self._drivers[name]

    def close(self) -> None:
        """Release what the built drivers hold."""
        for driver in self._drivers.values():
            driver.close()
